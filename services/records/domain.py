"""The records aggregates (纪实考察), pure: decide and evolve, no I/O.

Two kinds of stream:

* the class's records stream (`records-class-<class>`): who holds which 3+N role and
  since when, the assessment scheme, supervision notes (跟班记录);
* one stream per trainee of a class (`records-trainee-<class>-<cadre>`): the trainee's
  records, assessment score sheets and final comment. Recorders of one class log
  concurrently for different trainees without conflicting on one stream.

A trainee command carries `ClassFacts`: a snapshot of the class (current recorders,
scheme, roster, start date) that the handler reads before deciding. Records are never
deleted or edited: there is no command for it; a correction is a new record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from shared.class_texts import refuse_named
from shared.contracts.records import (
    CATEGORIES,
    CORE_ROLES,
    RECORDER_ROLES,
    AssessmentSchemeSet,
    AssessmentScored,
    FinalCommentWritten,
    ItemScore,
    RecorderAssigned,
    RecorderRelieved,
    RecordLogged,
    SupervisionNoted,
)
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Event

EMPTY: Mapping = MappingProxyType({})


def role_name(role: str) -> str:
    return RECORDER_ROLES.get(role, role)


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


# -- the class stream ----------------------------------------------------------------
@dataclass(frozen=True)
class AssignRecorder:
    class_id: str
    person_id: str
    name: str
    role: str
    since: date
    class_known: bool = True


@dataclass(frozen=True)
class RelieveRecorder:
    class_id: str
    person_id: str
    until: date


@dataclass(frozen=True)
class SetScheme:
    class_id: str
    scheme_id: str
    title: str
    items: tuple[Mapping[str, Any], ...]
    class_known: bool = True
    scores_exist: bool = False  # read from the class's read model before deciding


@dataclass(frozen=True)
class NoteSupervision:
    class_id: str
    note_id: str
    on: date
    text: str
    author_name: str
    today: date
    class_known: bool = True
    # The full names of the class's trainees (the roster read before deciding): the note is the
    # class's, readable for ever, so it may name none of them (shared/class_texts.py).
    trainee_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Holder:
    name: str
    role: str
    since: date


@dataclass(frozen=True)
class ClassState:
    class_id: str | None = None
    recorders: Mapping[str, Holder] = field(default_factory=dict)  # person_id -> current role
    scheme: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # item_id -> item
    scheme_id: str | None = None


def _need_class(known: bool, class_id: str) -> None:
    if not known:
        raise NotFound(
            f"班次 {class_id} 不存在（或尚未从选调服务同步），请先确认班次编号。", code="class_not_found"
        )


def validate_items(items: tuple[Mapping[str, Any], ...]) -> None:
    """A scheme's items: unique ids, a group, a positive maximum, the scoring roles."""
    if not items:
        raise DomainError("考核方案至少需要一个考核项目。", code="empty_scheme", field="items")
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):
        item_id = str(item.get("item_id") or "")
        where = f"第 {i} 个项目（{item_id or '无编号'}）"
        if not item_id or item_id in seen:
            raise DomainError(
                f"{where}：项目编号缺失或重复，每个项目需有唯一编号。", code="bad_item", field="items"
            )
        seen.add(item_id)
        if not item.get("title") or not item.get("group"):
            raise DomainError(
                f"{where}：需填写项目名称与所属类别（如理论学习、党性修养和学风、能力素质）。",
                code="bad_item",
                field="items",
            )
        try:
            top = float(item.get("max_points", 0))
        except (TypeError, ValueError):
            top = 0
        if top <= 0:
            raise DomainError(f"{where}：满分须为正数。", code="bad_item", field="items")
        roles = item.get("roles") or []
        unknown = [r for r in roles if r not in RECORDER_ROLES]
        if not roles or unknown:
            allowed = "、".join(f"{k}（{v}）" for k, v in RECORDER_ROLES.items())
            raise DomainError(
                f"{where}：评分角色须从 {allowed} 中选择，至少一个。", code="bad_item", field="items"
            )


class ClassDecider:
    def initial(self) -> ClassState:
        return ClassState()

    def decide(self, state: ClassState, command) -> list[Event]:
        match command:
            case AssignRecorder():
                return self._assign(state, command)
            case RelieveRecorder():
                return self._relieve(state, command)
            case SetScheme():
                return self._set_scheme(state, command)
            case NoteSupervision():
                return self._note(state, command)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _assign(state: ClassState, command: AssignRecorder) -> list[Event]:
        _need_class(command.class_known, command.class_id)
        if command.role not in RECORDER_ROLES:
            raise DomainError(f"未知的纪实角色 {command.role}。", code="bad_role", field="role")
        held = state.recorders.get(command.person_id)
        if held and held.role == command.role:
            raise DomainError(
                f"{command.name} 已担任{role_name(command.role)}，无需重复任命。", code="already_assigned"
            )
        if command.role in CORE_ROLES:
            for pid, h in state.recorders.items():
                if h.role == command.role and pid != command.person_id:
                    raise DomainError(
                        f"{role_name(command.role)}现由 {h.name} 担任；同一时间只能有一名"
                        f"{role_name(command.role)}，请先办理其卸任再任命。",
                        code="role_taken",
                    )
        events: list[Event] = []
        if held:  # a change of role: the old one ends the day the new one starts
            if command.since < held.since:
                raise DomainError(
                    f"新任职日期不能早于其现任{role_name(held.role)}的起始日期 {held.since}。",
                    code="bad_dates",
                    field="since",
                )
            events.append(
                RecorderRelieved(
                    class_id=command.class_id,
                    person_id=command.person_id,
                    role=held.role,
                    until=command.since,
                )
            )
        events.append(
            RecorderAssigned(
                class_id=command.class_id,
                person_id=command.person_id,
                name=command.name,
                role=command.role,
                since=command.since,
            )
        )
        return events

    @staticmethod
    def _relieve(state: ClassState, command: RelieveRecorder) -> list[Event]:
        held = state.recorders.get(command.person_id)
        if held is None:
            raise DomainError(f"{command.person_id} 目前不是本班纪实人员，无需卸任。", code="not_a_recorder")
        if command.until < held.since:
            raise DomainError(f"卸任日期不能早于任职日期 {held.since}。", code="bad_dates", field="until")
        return [
            RecorderRelieved(
                class_id=command.class_id, person_id=command.person_id, role=held.role, until=command.until
            )
        ]

    @staticmethod
    def _set_scheme(state: ClassState, command: SetScheme) -> list[Event]:
        _need_class(command.class_known, command.class_id)
        if state.scheme and command.scores_exist:
            raise DomainError(
                "本班已按现行方案评分，方案不能再更换（否则已评分数失去依据）；"
                "如确需调整，请新开班次或在下一期培训使用新方案。",
                code="scheme_in_use",
            )
        validate_items(command.items)
        items = [
            {**item, "max_points": float(item["max_points"]), "roles": list(item["roles"])}
            for item in command.items
        ]
        return [
            AssessmentSchemeSet(
                class_id=command.class_id, scheme_id=command.scheme_id, title=command.title, items=items
            )
        ]

    @staticmethod
    def _note(state: ClassState, command: NoteSupervision) -> list[Event]:
        _need_class(command.class_known, command.class_id)
        if command.on > command.today:
            raise DomainError(
                f"跟班记录日期 {command.on} 晚于今天，只能记录已发生的情况。", code="future_date", field="on"
            )
        if not command.text.strip():
            raise DomainError("跟班记录内容不能为空。", code="empty_text", field="text")
        refuse_named(
            command.text,
            command.trainee_names,
            field="text",
            what="督导记录",
            belongs="关于学员个人的内容请记入该学员的纪实记录。",
        )
        return [
            SupervisionNoted(
                class_id=command.class_id,
                note_id=command.note_id,
                on=command.on,
                text=command.text,
                author_name=command.author_name,
            )
        ]

    def evolve(self, state: ClassState, event: Event) -> ClassState:
        match event:
            case RecorderAssigned():
                return replace(
                    state,
                    class_id=event.class_id,
                    recorders=MappingProxyType(
                        {**state.recorders, event.person_id: Holder(event.name, event.role, event.since)}
                    ),
                )
            case RecorderRelieved():
                rest = {k: v for k, v in state.recorders.items() if k != event.person_id}
                return replace(state, recorders=MappingProxyType(rest))
            case AssessmentSchemeSet():
                return replace(
                    state,
                    class_id=event.class_id,
                    scheme_id=event.scheme_id,
                    scheme=MappingProxyType({str(i["item_id"]): i for i in event.items}),
                )
        return state


# -- the trainee stream ----------------------------------------------------------------
@dataclass(frozen=True)
class ClassFacts:
    """What a trainee command needs to know about the class, read before deciding."""

    class_id: str
    roster: frozenset[str] = frozenset()
    recorders: Mapping[str, Holder] = field(default_factory=dict)
    scheme: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    starts_on: date | None = None


@dataclass(frozen=True)
class LogRecord:
    facts: ClassFacts
    record_id: str
    cadre_id: str
    category: str
    observed_on: date
    text: str
    author_id: str
    author_name: str
    today: date
    corrects: str | None = None


@dataclass(frozen=True)
class ScoreWeek:
    facts: ClassFacts
    cadre_id: str
    week: date
    scores: tuple[tuple[str, float], ...]
    scorer_id: str
    scorer_name: str
    today: date
    note: str = ""


@dataclass(frozen=True)
class WriteFinalComment:
    facts: ClassFacts
    cadre_id: str
    text: str
    author_id: str
    author_name: str


@dataclass(frozen=True)
class TraineeState:
    records: Mapping[str, str | None] = field(default_factory=dict)  # record_id -> the record it corrects
    corrected_by: Mapping[str, str] = field(default_factory=dict)  # record_id -> the record correcting it
    scored: frozenset[tuple[date, str]] = frozenset()  # (week, item_id) already scored
    final_comment: bool = False


def current_recorder(facts: ClassFacts, person_id: str, name: str) -> Holder:
    """The person's current post in the class; 403 for anyone who holds none."""
    held = facts.recorders.get(person_id)
    if held is None:
        raise Forbidden(
            f"{name} 不是本班当前在任的纪实人员（3+N），不能记录或评分；请联系党校或组织部先任命。",
            code="not_a_recorder",
        )
    return held


def _recorder(facts: ClassFacts, person_id: str, name: str) -> Holder:
    held = facts.recorders.get(person_id)
    if held is None:
        raise DomainError(
            f"{name} 不是本班当前在任的纪实人员（3+N），不能记录或评分；请联系党校或组织部先任命。",
            code="not_a_recorder",
        )
    return held


def _on_roster(facts: ClassFacts, cadre_id: str) -> None:
    if cadre_id not in facts.roster:
        raise DomainError(
            f"学员 {cadre_id} 不在本班花名册上（未经组织确定或已退训），不能为其纪实或评分。",
            code="not_on_roster",
            field="cadre_id",
        )


class TraineeDecider:
    def initial(self) -> TraineeState:
        return TraineeState()

    def decide(self, state: TraineeState, command) -> list[Event]:
        match command:
            case LogRecord():
                return self._log(state, command)
            case ScoreWeek():
                return self._score(state, command)
            case WriteFinalComment():
                return self._final_comment(state, command)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _log(state: TraineeState, command: LogRecord) -> list[Event]:
        f = command.facts
        held = _recorder(f, command.author_id, command.author_name)
        _on_roster(f, command.cadre_id)
        if command.category not in CATEGORIES:
            raise DomainError(f"未知的纪实类别 {command.category}。", code="bad_category", field="category")
        if not command.text.strip():
            raise DomainError("纪实内容不能为空。", code="empty_text", field="text")
        if command.observed_on > command.today:
            raise DomainError(
                f"观察日期 {command.observed_on} 晚于今天，只能记录已发生的情况。",
                code="future_date",
                field="observed_on",
            )
        if f.starts_on and command.observed_on < f.starts_on:
            raise DomainError(
                f"观察日期 {command.observed_on} 早于开班日期 {f.starts_on}。",
                code="before_class",
                field="observed_on",
            )
        if command.corrects is not None:
            if command.corrects not in state.records:
                raise DomainError(
                    f"要更正的记录 {command.corrects} 不是该学员的纪实记录。",
                    code="unknown_record",
                    field="corrects",
                )
            later = state.corrected_by.get(command.corrects)
            if later:
                raise DomainError(
                    f"记录 {command.corrects} 已被记录 {later} 更正；请更正最新的那条，使更正链保持清晰。",
                    code="already_corrected",
                    field="corrects",
                )
        return [
            RecordLogged(
                record_id=command.record_id,
                class_id=f.class_id,
                cadre_id=command.cadre_id,
                category=command.category,
                observed_on=command.observed_on,
                text=command.text,
                author_id=command.author_id,
                author_name=command.author_name,
                author_role=held.role,
                corrects=command.corrects,
            )
        ]

    @staticmethod
    def _score(state: TraineeState, command: ScoreWeek) -> list[Event]:
        f = command.facts
        held = _recorder(f, command.scorer_id, command.scorer_name)
        _on_roster(f, command.cadre_id)
        if not f.scheme:
            raise DomainError("本班尚未设置量化考核方案，请先由党校或组织部设置。", code="no_scheme")
        if not command.scores:
            raise DomainError("评分表至少需要一个项目。", code="no_scores", field="scores")
        week = monday(command.week)
        if week > command.today:
            raise DomainError(f"不能为未来的周（{week} 起）评分。", code="future_date", field="week")
        if f.starts_on and week < monday(f.starts_on):
            raise DomainError(
                f"评分周（{week} 起）早于开班日期 {f.starts_on} 所在的周。", code="before_class", field="week"
            )
        seen: set[str] = set()
        for item_id, points in command.scores:
            item = f.scheme.get(item_id)
            if item is None:
                raise DomainError(f"考核方案中没有项目 {item_id}。", code="unknown_item", field="scores")
            if item_id in seen:
                raise DomainError(
                    f"项目“{item['title']}”在同一评分表中出现两次。", code="duplicate_item", field="scores"
                )
            seen.add(item_id)
            if held.role not in item["roles"]:
                who = "、".join(role_name(r) for r in item["roles"])
                raise DomainError(
                    f"项目“{item['title']}”由{who}评分，{role_name(held.role)}不能评。",
                    code="role_may_not_score",
                    field="scores",
                )
            if points < 0 or points > float(item["max_points"]):
                top = float(item["max_points"])
                raise DomainError(
                    f"项目“{item['title']}”的得分 {points:g} 超出范围（0～{top:g} 分）。",
                    code="points_out_of_range",
                    field="scores",
                )
            if (week, item_id) in state.scored:
                raise DomainError(
                    f"项目“{item['title']}”在 {week} 这一周已评过分，评分不可更改。",
                    code="already_scored",
                    field="scores",
                )
        return [
            AssessmentScored(
                class_id=f.class_id,
                cadre_id=command.cadre_id,
                week=week,
                scores=[ItemScore(item_id=i, points=float(p)) for i, p in command.scores],
                scorer_id=command.scorer_id,
                scorer_name=command.scorer_name,
                scorer_role=held.role,
                note=command.note,
            )
        ]

    @staticmethod
    def _final_comment(state: TraineeState, command: WriteFinalComment) -> list[Event]:
        f = command.facts
        held = _recorder(f, command.author_id, command.author_name)
        if held.role != "head_teacher":
            raise DomainError("结业鉴定评语由班主任撰写。", code="not_head_teacher")
        _on_roster(f, command.cadre_id)
        if not command.text.strip():
            raise DomainError("评语内容不能为空。", code="empty_text", field="text")
        if state.final_comment:
            raise DomainError("该学员的结业鉴定评语已写，评语不可修改。", code="final_comment_exists")
        return [
            FinalCommentWritten(
                class_id=f.class_id,
                cadre_id=command.cadre_id,
                text=command.text,
                author_name=command.author_name,
                author_role="head_teacher",
            )
        ]

    def evolve(self, state: TraineeState, event: Event) -> TraineeState:
        match event:
            case RecordLogged():
                corrected = dict(state.corrected_by)
                if event.corrects:
                    corrected[event.corrects] = event.record_id
                records = {**state.records, event.record_id: event.corrects}
                return replace(
                    state, records=MappingProxyType(records), corrected_by=MappingProxyType(corrected)
                )
            case AssessmentScored():
                return replace(state, scored=state.scored | {(event.week, s.item_id) for s in event.scores})
            case FinalCommentWritten():
                return replace(state, final_comment=True)
        return state


def class_stream(class_id: str) -> str:
    return f"records-class-{class_id}"


def trainee_stream(class_id: str, cadre_id: str) -> str:
    return f"records-trainee-{class_id}-{cadre_id}"
