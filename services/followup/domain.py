"""Follow-up (跟踪问效) aggregates, pure: decide and evolve, no I/O, time passed in.

Three kinds of stream:

- the class's follow-up plan (跟踪计划): the months after graduation and the grace period;
- one stream per trainee and class (学员跟踪档案): the milestones, their evaluations,
  the 1+1 mentor and the mentor's tasks, sharing talks. Every rule about a milestone
  (due once, overdue once, complete once, who may evaluate) is checked on this one
  stream, so the unique (stream, version) append makes it hold across instances;
- one stream per outcome (成果): a research report or proposal and its endorsements.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from types import MappingProxyType

from shared.class_texts import NOT_NAMES, refuse_named
from shared.contracts.followup import (
    EVALUATOR_ROLES,
    MENTOR_TASKS,
    MILESTONE_FOCUS,
    AttachmentRef,
    Author,
    EvaluationSubmitted,
    FollowUpPlanSet,
    MentorAssigned,
    MentorTaskCompleted,
    MilestoneCompleted,
    MilestoneDue,
    MilestoneOverdue,
    MilestoneScheduled,
    OutcomeDocumentAttached,
    OutcomeEndorsed,
    OutcomeReported,
    SharingTalkGiven,
)
from shared.errors import AlreadyApplied, DomainError, Forbidden, NotFound
from shared.events import Event

DEFAULT_MONTHS = (1, 3, 6, 12)
DEFAULT_GRACE_DAYS = 14
REQUIRED_ROLES = ("self", "colleague", "unit_leader")
SCORE_MIN, SCORE_MAX = 0.0, 100.0

# The questions of each stage (一个月听思想、三个月谈表现、六个月考素质、一年内看实绩).
QUESTIONS: dict[str, dict[str, str]] = {
    "thinking": {
        "ideals": "理想信念与党性认识",
        "learning": "学习收获与思想转变",
        "attitude": "工作态度与担当意识",
    },
    "performance": {
        "application": "学用结合、运用所学情况",
        "diligence": "履职尽责与工作作风",
        "teamwork": "团结协作与群众评价",
    },
    "competence": {
        "professional": "专业能力",
        "problem_solving": "解决复杂问题能力",
        "innovation": "改革创新能力",
    },
    "results": {
        "achievements": "工作实绩",
        "contribution": "对单位发展的贡献",
        "growth": "成长进步与发展潜力",
    },
}
ENDORSEMENT_NAMES = {"approval": "批示", "adoption": "采纳", "conversion": "转化"}
STAGE_NAMES = {"thinking": "听思想", "performance": "谈表现", "competence": "考素质", "results": "看实绩"}


def stage_of(month: int) -> str:
    """The stage a milestone month belongs to; months between the four defaults take the earlier one."""
    if month >= 12:
        return "results"
    if month >= 6:
        return "competence"
    if month >= 3:
        return "performance"
    return "thinking"


def questions_for(month: int) -> dict[str, str]:
    return QUESTIONS[stage_of(month)]


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def milestone_id(class_id: str, cadre_id: str, month: int) -> str:
    return f"{class_id}:{cadre_id}:{month}"


def trainee_stream(class_id: str, cadre_id: str) -> str:
    return f"followup:{class_id}:{cadre_id}"


def plan_stream(jurisdiction: str, class_id: str) -> str:
    """A class's plan, in the namespace of the jurisdiction that set it: another county
    naming the same class id writes its own stream, which no class of ours reads."""
    return f"followup-plan:{jurisdiction}:{class_id}"


def old_plan_stream(class_id: str) -> str:
    """Plans stored before namespacing; read when the namespaced stream is empty and the
    old one belongs to the same jurisdiction (handlers.load_plan)."""
    return f"followup-plan:{class_id}"


def outcome_stream(outcome_id: str) -> str:
    return f"outcome:{outcome_id}"


# -- the class's plan ----------------------------------------------------------------
@dataclass(frozen=True)
class SetPlan:
    class_id: str
    months: list[int]
    grace_days: int


@dataclass(frozen=True)
class PlanState:
    class_id: str | None = None
    months: tuple[int, ...] = DEFAULT_MONTHS
    grace_days: int = DEFAULT_GRACE_DAYS


class PlanDecider:
    def initial(self) -> PlanState:
        return PlanState()

    def decide(self, state: PlanState, command) -> list[Event]:
        match command:
            case SetPlan():
                months = sorted(command.months)
                if not months:
                    raise DomainError("跟踪计划至少要有一个节点月份。", code="empty_plan", field="months")
                if len(set(months)) != len(months):
                    raise DomainError("节点月份不能重复。", code="duplicate_month", field="months")
                if months[0] < 1 or months[-1] > 24:
                    raise DomainError(
                        "节点月份须在结业后 1 至 24 个月之间。", code="month_out_of_range", field="months"
                    )
                if not 0 <= command.grace_days <= 90:
                    raise DomainError("宽限期须在 0 至 90 天之间。", code="bad_grace", field="grace_days")
                if (
                    state.class_id
                    and tuple(months) == state.months
                    and command.grace_days == state.grace_days
                ):
                    return []
                return [
                    FollowUpPlanSet(class_id=command.class_id, months=months, grace_days=command.grace_days)
                ]
        raise TypeError(f"unknown command {command!r}")

    def evolve(self, state: PlanState, event: Event) -> PlanState:
        if isinstance(event, FollowUpPlanSet):
            return PlanState(event.class_id, tuple(event.months), event.grace_days)
        return state


# -- the trainee's follow-up -----------------------------------------------------------
@dataclass(frozen=True)
class ScheduleFollowUp:
    class_id: str
    cadre_id: str
    name: str
    unit: str
    graduated_on: date
    months: tuple[int, ...]
    grace_days: int
    today: date
    home_jurisdiction: str | None = None


@dataclass(frozen=True)
class Tick:
    """The clock says `today`: milestones whose date has come fall due, late ones become overdue."""

    today: date


@dataclass(frozen=True)
class SubmitEvaluation:
    month: int
    role: str  # self / colleague / unit_leader / mentor
    evaluator_id: str
    evaluator_name: str
    actor_role: str  # the token's role
    actor_unit: str | None
    scores: dict[str, float]
    text: str
    today: date


@dataclass(frozen=True)
class AssignMentor:
    mentor_id: str
    mentor_name: str
    mentor_post: str
    actor_role: str
    actor_unit: str | None


@dataclass(frozen=True)
class CompleteMentorTask:
    task: str
    evidence: str
    comment: str
    actor_role: str
    actor_id: str
    today: date
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class GiveTalk:
    talk_id: str
    on: date
    audience: str
    topic: str
    attendees: int
    actor_role: str
    actor_id: str
    actor_unit: str | None
    today: date
    # The full names of the class's graduates, read before deciding: the audience is the
    # talk's, readable for ever, so it may name none of them (shared/class_texts.py).
    trainee_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Milestone:
    month: int
    due_on: date
    grace_days: int
    required: tuple[str, ...]
    due: bool = False
    completed: bool = False
    overdue: bool = False
    evaluations: tuple[tuple[str, str, float], ...] = ()  # role, evaluator, mean score

    @property
    def late_after(self) -> date:
        return self.due_on + timedelta(days=self.grace_days)

    def missing(self) -> list[str]:
        have = {r for r, _, _ in self.evaluations}
        return [r for r in self.required if r not in have]


@dataclass(frozen=True)
class FollowUpState:
    class_id: str | None = None
    cadre_id: str = ""
    name: str = ""
    unit: str = ""
    milestones: Mapping[int, Milestone] = field(default_factory=lambda: MappingProxyType({}))
    mentor_id: str | None = None
    tasks_done: frozenset[str] = frozenset()
    talks: frozenset[str] = frozenset()
    graduated_on: date | None = None  # None for streams scheduled before the event carried it

    def with_milestone(self, month: int, **changes) -> FollowUpState:
        milestones = dict(self.milestones)
        milestones[month] = replace(milestones[month], **changes)
        return replace(self, milestones=MappingProxyType(milestones))


def _mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 2)


def _refuse_repeat(m: Milestone, c: SubmitEvaluation) -> None:
    """The natural key (milestone, role; a colleague's own): a retry of the same evaluation
    is answered as the original was (AlreadyApplied); another one is refused."""
    if any(r == c.role and (c.role != "colleague" or e == c.evaluator_id) for r, e, _ in m.evaluations):
        key = {"month": c.month, "role": c.role}
        if c.role == "colleague":
            key["evaluator_id"] = c.evaluator_id
        raise AlreadyApplied(
            f"{EVALUATOR_ROLES[c.role]}对该节点的评价已提交过，不能重复提交。",
            code="already_evaluated",
            event_type="EvaluationSubmitted",
            key=key,
            content={"evaluator_id": c.evaluator_id, "scores": dict(c.scores), "text": c.text},
        )


def _check_scores(c: SubmitEvaluation) -> None:
    """Scores for exactly the stage's questions, each within the range."""
    expected = questions_for(c.month)
    if set(c.scores) != set(expected):
        need = "、".join(f"{k}（{v}）" for k, v in expected.items())
        focus = MILESTONE_FOCUS.get(c.month, STAGE_NAMES[stage_of(c.month)])
        raise DomainError(
            f"{c.month} 个月节点（{focus}）须对以下各项打分：{need}。", code="wrong_questions", field="scores"
        )
    bad = [k for k, v in c.scores.items() if not SCORE_MIN <= v <= SCORE_MAX]
    if bad:
        raise DomainError(
            f"分数须在 {SCORE_MIN:g} 至 {SCORE_MAX:g} 之间：{'、'.join(bad)}。",
            code="score_out_of_range",
            field="scores",
        )


class FollowUpDecider:
    def initial(self) -> FollowUpState:
        return FollowUpState()

    def decide(self, s: FollowUpState, command) -> list[Event]:
        if isinstance(command, ScheduleFollowUp):
            return self._schedule(s, command)
        if s.class_id is None:
            raise NotFound("该学员尚无跟踪档案：结业后才会排定跟踪节点。", code="followup_not_found")
        match command:
            case Tick():
                return self._tick(s, command.today)
            case SubmitEvaluation():
                return self._evaluate(s, command)
            case AssignMentor():
                return self._assign(s, command)
            case CompleteMentorTask():
                return self._task(s, command)
            case GiveTalk():
                return self._talk(s, command)
        raise TypeError(f"unknown command {command!r}")

    # Scheduling twice emits nothing: the process manager may retry freely.
    def _schedule(self, s: FollowUpState, c: ScheduleFollowUp) -> list[Event]:
        if s.class_id is not None:
            return []
        events: list[Event] = [
            MilestoneScheduled(
                milestone_id=milestone_id(c.class_id, c.cadre_id, m),
                class_id=c.class_id,
                cadre_id=c.cadre_id,
                name=c.name,
                unit=c.unit,
                month=m,
                due_on=add_months(c.graduated_on, m),
                required_roles=list(REQUIRED_ROLES),
                home_jurisdiction=c.home_jurisdiction,
                grace_days=c.grace_days,
                graduated_on=c.graduated_on,
            )
            for m in sorted(set(c.months))
        ]
        # A graduate scheduled late (back-filled) gets what has already come due at once.
        after = FollowUpState()
        for e in events:
            after = self.evolve(after, e)
        return events + self._tick(after, c.today)

    def _tick(self, s: FollowUpState, today: date) -> list[Event]:
        out: list[Event] = []
        for m in sorted(s.milestones.values(), key=lambda m: m.month):
            if not m.due and today >= m.due_on:
                out.append(self._due(s, m))
            if not m.completed and not m.overdue and today > m.late_after:
                out.append(
                    MilestoneOverdue(
                        milestone_id=milestone_id(s.class_id, s.cadre_id, m.month),
                        class_id=s.class_id,
                        cadre_id=s.cadre_id,
                        month=m.month,
                        due_on=m.due_on,
                        missing_roles=m.missing(),
                    )
                )
        return out

    @staticmethod
    def _due(s: FollowUpState, m: Milestone) -> MilestoneDue:
        return MilestoneDue(
            milestone_id=milestone_id(s.class_id, s.cadre_id, m.month),
            class_id=s.class_id,
            cadre_id=s.cadre_id,
            month=m.month,
            due_on=m.due_on,
        )

    def _evaluate(self, s: FollowUpState, c: SubmitEvaluation) -> list[Event]:
        m = s.milestones.get(c.month)
        if m is None:
            have = "、".join(f"{k} 个月" for k in sorted(s.milestones))
            raise NotFound(
                f"{s.name} 没有结业后 {c.month} 个月的跟踪节点（已排定：{have}）。",
                code="milestone_not_found",
            )
        self._check_evaluator(s, c)
        _refuse_repeat(m, c)
        if m.completed:
            raise DomainError(
                f"{s.name} 的 {c.month} 个月节点已完成，不再接受评价。", code="milestone_completed"
            )
        if c.today < m.due_on:
            raise DomainError(f"{c.month} 个月节点 {m.due_on} 才到期，到期后再评价。", code="not_due_yet")
        _check_scores(c)
        mid = milestone_id(s.class_id, s.cadre_id, c.month)
        out: list[Event] = []
        if not m.due:
            out.append(self._due(s, m))
        out.append(
            EvaluationSubmitted(
                milestone_id=mid,
                class_id=s.class_id,
                cadre_id=s.cadre_id,
                month=c.month,
                role=c.role,
                evaluator_id=c.evaluator_id,
                evaluator_name=c.evaluator_name,
                scores=c.scores,
                text=c.text,
                submitted_on=c.today,
            )
        )
        evaluations = [*m.evaluations, (c.role, c.evaluator_id, _mean(c.scores.values()))]
        if all(any(r == need for r, _, _ in evaluations) for need in m.required):
            out.append(
                MilestoneCompleted(
                    milestone_id=mid,
                    class_id=s.class_id,
                    cadre_id=s.cadre_id,
                    month=c.month,
                    completed_on=c.today,
                    on_time=c.today <= m.late_after,
                    average_score=_mean(x for _, _, x in evaluations),
                )
            )
        return out

    @staticmethod
    def _check_evaluator(s: FollowUpState, c: SubmitEvaluation) -> None:
        if c.role not in EVALUATOR_ROLES:
            raise DomainError(
                f"未知的评价角色 {c.role}；可用：{'、'.join(EVALUATOR_ROLES)}。",
                code="bad_role",
                field="role",
            )
        if c.role == "self":
            if c.actor_role != "trainee" or c.evaluator_id != s.cadre_id:
                raise Forbidden("本人自评须由学员本人登录提交。", code="not_the_trainee")
        elif c.role in ("colleague", "unit_leader"):
            # the unit's clerk on their behalf, or the unit leader / colleague in person (evaluator)
            if c.actor_role not in ("unit", "evaluator"):
                raise Forbidden(
                    f"{EVALUATOR_ROLES[c.role]}评价须由所在单位账号或单位评价人提交。", code="wrong_role"
                )
            if c.actor_unit != s.unit:
                raise Forbidden(
                    f"只有{s.name}所在单位“{s.unit}”可以提交{EVALUATOR_ROLES[c.role]}评价"
                    f"（您的单位：{c.actor_unit or '未标明'}）。",
                    code="wrong_unit",
                )
        elif c.role == "mentor":
            if c.actor_role != "mentor" or s.mentor_id is None or c.evaluator_id != s.mentor_id:
                raise Forbidden(f"导师评价须由{s.name}当前的帮带导师提交。", code="not_the_mentor")

    @staticmethod
    def _assign(s: FollowUpState, c: AssignMentor) -> list[Event]:
        if c.actor_role == "unit" and c.actor_unit != s.unit:
            raise Forbidden(f"只有{s.name}所在单位“{s.unit}”或组织部可以为其指定导师。", code="wrong_unit")
        if c.mentor_id == s.mentor_id:
            raise DomainError(
                f"{c.mentor_name} 已是 {s.name} 的导师。", code="same_mentor", field="mentor_id"
            )
        if c.mentor_id == s.cadre_id:
            raise DomainError("学员不能担任自己的导师。", code="self_mentor", field="mentor_id")
        return [
            MentorAssigned(
                class_id=s.class_id,
                cadre_id=s.cadre_id,
                mentor_id=c.mentor_id,
                mentor_name=c.mentor_name,
                mentor_post=c.mentor_post,
                replaces=s.mentor_id,
            )
        ]

    @staticmethod
    def _task(s: FollowUpState, c: CompleteMentorTask) -> list[Event]:
        if c.actor_role != "mentor" or s.mentor_id is None or c.actor_id != s.mentor_id:
            raise Forbidden(f"帮带任务须由{s.name}当前的导师记录。", code="not_the_mentor")
        if c.task not in MENTOR_TASKS:
            raise DomainError(
                f"未知的帮带任务 {c.task}；可用：{'、'.join(MENTOR_TASKS)}。", code="bad_task", field="task"
            )
        if c.task in s.tasks_done:
            raise DomainError(f"帮带任务“{MENTOR_TASKS[c.task]}”已记录完成。", code="task_done", field="task")
        if not c.evidence.strip() or not c.comment.strip():
            raise DomainError("须写明佐证材料和导师评语。", code="evidence_required", field="evidence")
        return [
            MentorTaskCompleted(
                class_id=s.class_id,
                cadre_id=s.cadre_id,
                task=c.task,
                evidence=c.evidence,
                comment=c.comment,
                mentor_id=c.actor_id,
                done_on=c.today,
                attachments=list(c.attachments),
            )
        ]

    @staticmethod
    def _talk(s: FollowUpState, c: GiveTalk) -> list[Event]:
        if c.actor_role == "trainee" and c.actor_id != s.cadre_id:
            raise Forbidden("学员只能登记本人的上讲台。", code="not_the_trainee")
        if c.actor_role == "unit" and c.actor_unit != s.unit:
            raise Forbidden(f"只有{s.name}所在单位“{s.unit}”可以登记其上讲台。", code="wrong_unit")
        if c.on > c.today:
            raise DomainError("上讲台日期不能晚于今天：讲过之后再登记。", code="talk_in_future", field="on")
        if s.graduated_on is not None and c.on < s.graduated_on:
            raise DomainError(
                f"上讲台日期 {c.on.isoformat()} 早于{s.name}的结业日期 {s.graduated_on.isoformat()}："
                "上讲台是结业后向本单位分享所学，请核对日期。",
                code="talk_before_graduation",
                field="on",
            )
        if c.talk_id in s.talks:
            return []
        refuse_named(
            c.audience,
            c.trainee_names,
            field="audience",
            what="上讲台的听众",
            belongs="听众请写单位或范围（如“本单位全体干部”），不写学员姓名。",
        )
        return [
            SharingTalkGiven(
                talk_id=c.talk_id,
                class_id=s.class_id,
                cadre_id=s.cadre_id,
                on=c.on,
                audience=c.audience,
                topic=c.topic,
                attendees=c.attendees,
            )
        ]

    def evolve(self, s: FollowUpState, event: Event) -> FollowUpState:
        match event:
            case MilestoneScheduled():
                m = Milestone(event.month, event.due_on, event.grace_days, tuple(event.required_roles))
                return replace(
                    s,
                    class_id=event.class_id,
                    cadre_id=event.cadre_id,
                    name=event.name,
                    unit=event.unit,
                    milestones=MappingProxyType({**s.milestones, event.month: m}),
                    graduated_on=event.graduated_on or s.graduated_on,
                )
            case MilestoneDue():
                return s.with_milestone(event.month, due=True)
            case MilestoneOverdue():
                return s.with_milestone(event.month, overdue=True)
            case EvaluationSubmitted():
                given = (event.role, event.evaluator_id, _mean(event.scores.values()))
                return s.with_milestone(
                    event.month, evaluations=(*s.milestones[event.month].evaluations, given)
                )
            case MilestoneCompleted():
                return s.with_milestone(event.month, completed=True)
            case MentorAssigned():
                return replace(s, mentor_id=event.mentor_id)
            case MentorTaskCompleted():
                return replace(s, tasks_done=s.tasks_done | {event.task})
            case SharingTalkGiven():
                return replace(s, talks=s.talks | {event.talk_id})
        return s


# -- outcomes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportOutcome:
    outcome_id: str
    class_id: str
    kind: str
    title: str
    authors: list[str]  # as typed: each a graduate's name or cadre id
    on: date
    today: date
    # The class's graduates (cadre id, name), read before deciding: the authors are resolved
    # to them, and the title, readable for ever, may name none of them.
    graduates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EndorseOutcome:
    kind: str
    by: str
    on: date
    note: str
    today: date
    trainee_names: frozenset[str] = frozenset()  # the class's graduates: the note names none


def resolve_authors(typed: list[str], graduates: tuple[tuple[str, str], ...]) -> list[Author]:
    """Each author typed (a cadre id or a full name) as the graduate of the class it names,
    once each, in the order given. A name nobody of the class bears is refused: an author who
    is no cadre of ours has no key of their own, so their name could not be sealed and erased
    (docs/personal-data.md); a name two graduates share asks for the cadre id."""
    by_id = dict(graduates)
    out: dict[str, Author] = {}
    for entry in (t.strip() for t in typed):
        if not entry:
            continue
        if entry in by_id:
            out.setdefault(entry, Author(cadre_id=entry, name=by_id[entry]))
            continue
        same = [cid for cid, name in graduates if name == entry and name not in NOT_NAMES]
        if not same:
            raise DomainError(
                f"作者“{entry}”不是本班结业学员：成果作者须为本班结业学员，请填写其姓名或干部编号。",
                code="author_not_a_graduate",
                field="authors",
            )
        if len(same) > 1:
            raise DomainError(
                f"本班有 {len(same)} 位结业学员名为“{entry}”：请填写作者的干部编号以区分。",
                code="author_ambiguous",
                field="authors",
            )
        out.setdefault(same[0], Author(cadre_id=same[0], name=entry))
    return list(out.values())


@dataclass(frozen=True)
class AttachOutcomeDocument:
    document: AttachmentRef


@dataclass(frozen=True)
class OutcomeState:
    outcome_id: str | None = None
    class_id: str = ""
    title: str = ""
    endorsements: frozenset[tuple[str, str]] = frozenset()
    on: date | None = None  # None for outcomes reported before the event carried the date
    authors: tuple[str, ...] = ()  # what names each author: their cadre id and their name
    document_id: str | None = None  # the outcome's own document (its attachment id)


class OutcomeDecider:
    def initial(self) -> OutcomeState:
        return OutcomeState()

    def decide(self, s: OutcomeState, command) -> list[Event]:
        match command:
            case ReportOutcome():
                if s.outcome_id is not None:
                    raise DomainError(f"成果 {command.outcome_id} 已登记。", code="outcome_exists")
                if not command.title.strip():
                    raise DomainError("成果须有标题。", code="title_required", field="title")
                if command.on > command.today:
                    raise DomainError(
                        f"成果日期 {command.on.isoformat()} 晚于今天：成果形成之后再登记。",
                        code="outcome_in_future",
                        field="on",
                    )
                refuse_named(
                    command.title,
                    (name for _, name in command.graduates),
                    field="title",
                    what="成果标题",
                    belongs="作者请填在“作者”栏，标题只写成果本身。",
                )
                return [
                    OutcomeReported(
                        outcome_id=command.outcome_id,
                        class_id=command.class_id,
                        kind=command.kind,
                        title=command.title,
                        authors=resolve_authors(command.authors, command.graduates),
                        on=command.on,
                    )
                ]
            case EndorseOutcome():
                return self._endorse(s, command)
            case AttachOutcomeDocument():
                if s.outcome_id is None:
                    raise NotFound("成果不存在，请先登记成果再上传文档。", code="outcome_not_found")
                if s.document_id == command.document.attachment_id:
                    return []  # the same upload referred to again: nothing new
                return [
                    OutcomeDocumentAttached(
                        outcome_id=s.outcome_id,
                        class_id=s.class_id,
                        document=command.document,
                        replaces=s.document_id,
                    )
                ]
        raise TypeError(f"unknown command {command!r}")

    def _endorse(self, s: OutcomeState, command: EndorseOutcome) -> list[Event]:
        """An approval, adoption or conversion: dated between the outcome and today, once per
        (kind, by)."""
        if s.outcome_id is None:
            raise NotFound("成果不存在。", code="outcome_not_found")
        if command.on > command.today:
            raise DomainError("批示、采纳或转化的日期不能晚于今天。", code="endorsed_in_future", field="on")
        if s.on is not None and command.on < s.on:
            raise DomainError(
                f"批示、采纳或转化的日期 {command.on.isoformat()} 早于成果“{s.title}”的形成日期 "
                f"{s.on.isoformat()}：先有成果，后有批示、采纳或转化，请核对日期。",
                code="endorsed_before_outcome",
                field="on",
            )
        refuse_named(
            command.note,
            command.trainee_names,
            field="note",
            what="批示、采纳或转化的说明",
            belongs="关于学员个人的评价请记入该学员的跟踪评价。",
        )
        if (command.kind, command.by) in s.endorsements:
            raise DomainError(
                f"{command.by} 对“{s.title}”的{ENDORSEMENT_NAMES[command.kind]}已登记过。",
                code="already_endorsed",
            )
        return [
            OutcomeEndorsed(
                outcome_id=s.outcome_id,
                class_id=s.class_id,
                kind=command.kind,
                by=command.by,
                on=command.on,
                note=command.note,
            )
        ]

    def evolve(self, s: OutcomeState, event: Event) -> OutcomeState:
        match event:
            case OutcomeReported():
                # Each author by cadre id and by name (an outcome reported before v2 has names only).
                named = tuple(x for a in event.authors for x in (a.cadre_id, a.name) if x)
                return OutcomeState(event.outcome_id, event.class_id, event.title, on=event.on, authors=named)
            case OutcomeEndorsed():
                return replace(s, endorsements=s.endorsements | {(event.kind, event.by)})
            case OutcomeDocumentAttached():
                return replace(s, document_id=event.document.attachment_id)
        return s
