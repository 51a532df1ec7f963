"""Selection's deciders, pure: the class (班次) and the cadre (名册 entry); decide and
evolve, no I/O.

The class's scope, its nominations and their status live on the class's own stream
(`class-<id>`), so every rule (scope, quota, capacity, no double nomination, closed
after start) is checked against one consistent state and the optimistic append makes
them hold under concurrent requests. A cadre is its own stream (`cadre-<id>`): the
registry import decides thousands of them at once (handlers.py); a record's rules are in
cadres.py.

Time is passed in (`today`); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from typing import Any

from services.selection.cadres import EDITABLE, LABELS, validate
from shared.commands import Several, decide_all
from shared.contracts.selection import (
    ERASURE_GROUNDS,
    CadreErased,
    CadreRegistered,
    CadreUpdated,
    ClassOpened,
    NominationConfirmed,
    NominationRejected,
    NominationWaitlisted,
    NominationWithdrawn,
    ScopeDrawn,
    StudyGroup,
    TraineeAssignedToGroup,
    TraineeNominated,
)
from shared.errors import DomainError, NotFound
from shared.events import Event

ACTIVE = ("nominated", "waitlisted", "confirmed")
STATUS_ZH = {
    "nominated": "待确定",
    "waitlisted": "候补",
    "confirmed": "已确定",
    "rejected": "不予确定",
    "withdrawn": "已撤回",
}


# -- class commands ---------------------------------------------------------------
@dataclass(frozen=True)
class OpenClass:
    class_id: str
    title: str
    capacity: int
    starts_on: date
    ends_on: date
    organiser: str
    theme: str = ""
    category: str = ""
    level: str = ""
    schedule: str = ""
    study_groups: tuple[StudyGroup, ...] = ()
    quotas: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DrawScope:
    """The criteria and the cadres they selected (evaluated against the registry by the caller)."""

    criteria: dict
    cadre_ids: tuple[str, ...]
    today: date


@dataclass(frozen=True)
class NominateTrainee:
    cadre_id: str
    name: str
    unit: str
    today: date
    home_jurisdiction: str | None = None
    by_unit: str | None = None  # the recommending unit's clerk; None when the department nominates


@dataclass(frozen=True)
class ConfirmNomination:
    cadre_id: str
    today: date


@dataclass(frozen=True)
class RejectNomination:
    cadre_id: str
    reason: str
    today: date


@dataclass(frozen=True)
class WaitlistNomination:
    cadre_id: str
    today: date


@dataclass(frozen=True)
class WithdrawNomination:
    cadre_id: str
    today: date
    reason: str = ""
    by_unit: str | None = None


@dataclass(frozen=True)
class AssignGroups:
    """Place every confirmed, unplaced trainee: by domain (the cadre's category naming a
    group) while that group is under its fair share, otherwise into the smallest group."""

    domains: dict[str, str]


@dataclass(frozen=True)
class AssignToGroup:
    cadre_id: str
    group: str


@dataclass(frozen=True)
class Nominee:
    cadre_id: str
    name: str
    unit: str
    home_jurisdiction: str | None = None
    status: str = "nominated"
    group: str | None = None


@dataclass(frozen=True)
class ClassState:
    class_id: str | None = None
    title: str = ""
    capacity: int = 0
    starts_on: date | None = None
    quotas: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    groups: tuple[str, ...] = ()
    scope: frozenset[str] | None = None
    nominees: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({})
    )  # cadre_id -> Nominee, in nomination order
    waitlist: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for n in self.nominees.values() if n.status == status)

    def active_of_unit(self, unit: str) -> int:
        return sum(1 for n in self.nominees.values() if n.unit == unit and n.status in ACTIVE)


def _with(state: ClassState, nominee: Nominee, **changes) -> ClassState:
    nominees = dict(state.nominees)
    nominees[nominee.cadre_id] = nominee
    return replace(state, nominees=MappingProxyType(nominees), **changes)


class ClassDecider:
    def initial(self) -> ClassState:
        return ClassState()

    def decide(self, state: ClassState, command) -> list[Event]:
        if isinstance(command, OpenClass):
            return self._open(state, command)
        if state.class_id is None:
            raise NotFound("班次不存在。请先开设班次。", code="class_not_found")
        today = getattr(command, "today", None)
        if today is not None and today >= state.starts_on:
            raise DomainError(
                f"班次“{state.title}”已于 {state.starts_on} 开班，人选已不能再变动。", code="class_closed"
            )
        match command:
            case Several():
                return decide_all(self, state, command.commands)
            case DrawScope():
                if not command.cadre_ids:
                    raise DomainError(
                        "按这些条件在干部名册中没有找到任何人选，请放宽条件后重新划定。", code="scope_empty"
                    )
                return [
                    ScopeDrawn(
                        class_id=state.class_id, criteria=command.criteria, cadre_ids=list(command.cadre_ids)
                    )
                ]
            case NominateTrainee():
                return self._nominate(state, command)
            case ConfirmNomination():
                return self._confirm(state, command)
            case RejectNomination():
                if not command.reason.strip():
                    raise DomainError("不予确定必须填写理由。", code="reason_required", field="reason")
                n = self._nominee(state, command.cadre_id, ("nominated", "waitlisted"), "不予确定")
                return [
                    NominationRejected(
                        class_id=state.class_id, cadre_id=n.cadre_id, reason=command.reason.strip()
                    )
                ]
            case WaitlistNomination():
                n = self._nominee(state, command.cadre_id, ("nominated",), "列入候补")
                return [NominationWaitlisted(class_id=state.class_id, cadre_id=n.cadre_id)]
            case WithdrawNomination():
                return self._withdraw(state, command)
            case AssignGroups():
                return self._assign(state, command)
            case AssignToGroup():
                return self._assign_one(state, command)
        raise TypeError(f"unknown command {command!r}")

    def _confirm(self, state: ClassState, c: ConfirmNomination) -> list[Event]:
        n = self._nominee(state, c.cadre_id, ("nominated", "waitlisted"), "确定")
        if state.count("confirmed") >= state.capacity:
            if n.status == "waitlisted":
                raise DomainError(
                    f"班次“{state.title}”名额已满（{state.capacity} 人），{n.name} 仍在候补名单中；"
                    "有学员退出时按候补顺序自动递补。",
                    code="class_full",
                )
            return [NominationWaitlisted(class_id=state.class_id, cadre_id=n.cadre_id)]
        return [
            NominationConfirmed(
                class_id=state.class_id,
                cadre_id=n.cadre_id,
                name=n.name,
                unit=n.unit,
                home_jurisdiction=n.home_jurisdiction,
            )
        ]

    def _assign_one(self, state: ClassState, c: AssignToGroup) -> list[Event]:
        if c.group not in state.groups:
            raise DomainError(
                f"班次“{state.title}”没有学习小组“{c.group}”（现有：{'、'.join(state.groups) or '无'}）。",
                code="unknown_group",
                field="group",
            )
        n = self._nominee(state, c.cadre_id, ("confirmed",), "分组")
        if n.group == c.group:
            return []
        return [TraineeAssignedToGroup(class_id=state.class_id, cadre_id=n.cadre_id, group=c.group)]

    @staticmethod
    def _open(state: ClassState, c: OpenClass) -> list[Event]:
        if state.class_id is not None:
            raise DomainError(f"班次 {c.class_id} 已存在。", code="class_exists")
        if c.ends_on < c.starts_on:
            raise DomainError("结束日期不能早于开始日期。", code="bad_dates", field="ends_on")
        names = [g.name for g in c.study_groups]
        if len(set(names)) != len(names):
            raise DomainError("学习小组名称不能重复。", code="duplicate_group", field="study_groups")
        bad = [u for u, q in c.quotas.items() if q < 0 or not u.strip()]
        if bad:
            raise DomainError(f"单位名额必须是非负整数：{'、'.join(bad)}。", code="bad_quota", field="quotas")
        return [
            ClassOpened(
                class_id=c.class_id,
                title=c.title,
                capacity=c.capacity,
                starts_on=c.starts_on,
                ends_on=c.ends_on,
                organiser=c.organiser,
                theme=c.theme,
                category=c.category,
                level=c.level,
                schedule=c.schedule,
                study_groups=list(c.study_groups),
                quotas=dict(c.quotas),
            )
        ]

    @staticmethod
    def _nominate(state: ClassState, c: NominateTrainee) -> list[Event]:
        if state.scope is None:
            raise DomainError(
                f"组织部门尚未为班次“{state.title}”划定人选范围，暂不能推荐。", code="out_of_scope"
            )
        if c.cadre_id not in state.scope:
            raise DomainError(
                f"{c.name} 不在班次“{state.title}”划定的人选范围内，不能推荐；"
                "请在范围名单中选择，或请组织部门调整范围。",
                code="out_of_scope",
            )
        if c.by_unit is not None and c.by_unit != c.unit:
            raise DomainError(
                f"{c.name} 属于 {c.unit}，{c.by_unit} 只能推荐本单位干部。", code="not_own_unit"
            )
        prior = state.nominees.get(c.cadre_id)
        if prior is not None and prior.status != "withdrawn":
            raise DomainError(
                f"{c.name} 已被推荐到班次“{state.title}”（当前状态：{STATUS_ZH[prior.status]}）。",
                code="already_nominated",
            )
        if state.quotas:
            quota = state.quotas.get(c.unit, 0)
            used = state.active_of_unit(c.unit)
            if used >= quota:
                raise DomainError(
                    f"{c.unit} 在班次“{state.title}”的推荐名额为 {quota} 人，已推荐 {used} 人，名额已用完；"
                    "可先撤回一名推荐人选。",
                    code="over_quota",
                )
        return [
            TraineeNominated(
                class_id=state.class_id,
                cadre_id=c.cadre_id,
                name=c.name,
                unit=c.unit,
                home_jurisdiction=c.home_jurisdiction,
            )
        ]

    @staticmethod
    def _nominee(state: ClassState, cadre_id: str, allowed: tuple[str, ...], action: str) -> Nominee:
        n = state.nominees.get(cadre_id)
        if n is None:
            raise DomainError(
                f"干部 {cadre_id} 未被推荐到班次“{state.title}”，不能{action}。", code="not_nominated"
            )
        if n.status not in allowed:
            raise DomainError(
                f"{n.name} 当前状态为“{STATUS_ZH[n.status]}”，不能{action}。",
                code="not_confirmed" if allowed == ("confirmed",) else f"already_{n.status}",
            )
        return n

    def _withdraw(self, state: ClassState, c: WithdrawNomination) -> list[Event]:
        n = self._nominee(state, c.cadre_id, ACTIVE, "撤回")
        if c.by_unit is not None and c.by_unit != n.unit:
            raise DomainError(f"{n.name} 由 {n.unit} 推荐，{c.by_unit} 不能撤回。", code="not_own_unit")
        was_confirmed = n.status == "confirmed"
        events: list[Event] = [
            NominationWithdrawn(
                class_id=state.class_id, cadre_id=n.cadre_id, reason=c.reason, was_confirmed=was_confirmed
            )
        ]
        if was_confirmed and state.waitlist:
            first = state.nominees[state.waitlist[0]]
            events.append(
                NominationConfirmed(
                    class_id=state.class_id,
                    cadre_id=first.cadre_id,
                    name=first.name,
                    unit=first.unit,
                    home_jurisdiction=first.home_jurisdiction,
                    from_waitlist=True,
                )
            )
        return events

    @staticmethod
    def _assign(state: ClassState, c: AssignGroups) -> list[Event]:
        if not state.groups:
            raise DomainError(f"班次“{state.title}”没有设置学习小组。", code="no_groups")
        confirmed = [n for n in state.nominees.values() if n.status == "confirmed"]
        sizes = {g: 0 for g in state.groups}
        for n in confirmed:
            if n.group in sizes:
                sizes[n.group] += 1
        fair = -(-len(confirmed) // len(state.groups))  # ceil: no group more than one above another
        events: list[Event] = []
        for n in confirmed:
            if n.group is not None:
                continue
            domain = c.domains.get(n.cadre_id, "")
            match = next((g for g in state.groups if domain and (g in domain or domain in g)), None)
            group = (
                match
                if match is not None and sizes[match] < fair
                else min(state.groups, key=lambda g: sizes[g])
            )
            sizes[group] += 1
            events.append(TraineeAssignedToGroup(class_id=state.class_id, cadre_id=n.cadre_id, group=group))
        return events

    def evolve(self, state: ClassState, event: Event) -> ClassState:
        match event:
            case ClassOpened():
                return ClassState(
                    event.class_id,
                    event.title,
                    event.capacity,
                    event.starts_on,
                    MappingProxyType(dict(event.quotas)),
                    tuple(g.name for g in event.study_groups),
                )
            case ScopeDrawn():
                return replace(state, scope=frozenset(event.cadre_ids))
            case TraineeNominated():
                return _with(state, Nominee(event.cadre_id, event.name, event.unit, event.home_jurisdiction))
            case NominationConfirmed():
                return _with(
                    state,
                    replace(state.nominees[event.cadre_id], status="confirmed"),
                    waitlist=tuple(c for c in state.waitlist if c != event.cadre_id),
                )
            case NominationRejected():
                return _with(
                    state,
                    replace(state.nominees[event.cadre_id], status="rejected"),
                    waitlist=tuple(c for c in state.waitlist if c != event.cadre_id),
                )
            case NominationWaitlisted():
                return _with(
                    state,
                    replace(state.nominees[event.cadre_id], status="waitlisted"),
                    waitlist=(*state.waitlist, event.cadre_id),
                )
            case NominationWithdrawn():
                return _with(
                    state,
                    replace(state.nominees[event.cadre_id], status="withdrawn", group=None),
                    waitlist=tuple(c for c in state.waitlist if c != event.cadre_id),
                )
            case TraineeAssignedToGroup():
                return _with(state, replace(state.nominees[event.cadre_id], group=event.group))
        return state


def stream_id(class_id: str) -> str:
    return f"class-{class_id}"


# -- the cadre aggregate ----------------------------------------------------------
@dataclass(frozen=True)
class RecordCadre:
    """Register a cadre, or bring the entry up to date with this record (a re-import)."""

    cadre_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class UpdateCadre:
    cadre_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class EraseCadre:
    """删除个人信息 (PIPL Art. 47): on one of the law's grounds, never a free text."""

    cadre_id: str
    ground: str


@dataclass(frozen=True)
class FollowErasure:
    """Another deployment erased a person this one holds under its own key: record this
    deployment's own erasure of its copy (the same ground; `following` the jurisdiction that
    erased, `reason` saying so). The person need not be in this registry (a province holds
    the names of the county cadres it nominated, never their registration)."""

    cadre_id: str
    ground: str
    following: str
    reason: str


ERASED_CADRE = "该干部的个人信息已删除，不能再登记、修改或导入。"


# A registry entry as the aggregate holds it (JSON form, read-only); None before it is registered.
CadreState = Mapping[str, Any] | None


class CadreDecider:
    def initial(self) -> CadreState:
        return None

    def decide(self, state: CadreState, command) -> list[Event]:
        if state is not None and state.get("erased"):
            if isinstance(command, EraseCadre | FollowErasure):
                return []  # done before: the handler deletes the key again, which is harmless
            raise DomainError(ERASED_CADRE, code="cadre_erased")
        match command:
            case FollowErasure():
                if command.ground not in ERASURE_GROUNDS:
                    raise DomainError("请选择删除个人信息的法定情形。", code="invalid_ground", field="ground")
                return [
                    CadreErased(
                        cadre_id=command.cadre_id,
                        ground=command.ground,
                        following=command.following,
                        reason=command.reason,
                    )
                ]
            case EraseCadre():
                if state is None:
                    raise NotFound(f"干部 {command.cadre_id} 不在名册中。", code="cadre_not_found")
                if command.ground not in ERASURE_GROUNDS:
                    raise DomainError("请选择删除个人信息的法定情形。", code="invalid_ground", field="ground")
                return [CadreErased(cadre_id=command.cadre_id, ground=command.ground)]
            case RecordCadre():
                if state is None:
                    return [CadreRegistered(cadre_id=command.cadre_id, **command.record)]
                if state["id_number"] != command.record["id_number"]:
                    raise DomainError(
                        "身份证号与名册中该干部的不一致。", code="id_immutable", field="id_number"
                    )
                return _changed(command.cadre_id, state, command.record)
            case UpdateCadre():
                if state is None:
                    raise NotFound(f"干部 {command.cadre_id} 不在名册中。", code="cadre_not_found")
                unknown = [k for k in command.changes if k not in EDITABLE]
                if unknown:
                    raise DomainError(
                        f"不能修改这些字段：{'、'.join(LABELS.get(k, k) for k in unknown)}"
                        "（身份证号是名册的唯一标识，号码有误请重新登记）。",
                        code="field_not_editable",
                    )
                record, errors = validate({**state, **command.changes})
                if errors:
                    raise DomainError("；".join(errors) + "。", code="invalid_cadre")
                return _changed(command.cadre_id, state, record)
        raise TypeError(f"unknown command {command!r}")

    def evolve(self, state: CadreState, event: Event) -> CadreState:
        match event:
            case CadreRegistered():
                record = event.model_dump(mode="json")
                return MappingProxyType({k: v for k, v in record.items() if k != "cadre_id"})
            case CadreUpdated():
                return MappingProxyType({**(state or {}), **event.changes})
            case CadreErased():
                return MappingProxyType({"erased": True})
        return state


def _changed(cadre_id: str, state: Mapping[str, Any], record: dict[str, Any]) -> list[Event]:
    changes = {k: v for k, v in record.items() if k in EDITABLE and state.get(k) != v}
    return [CadreUpdated(cadre_id=cadre_id, changes=changes)] if changes else []


def cadre_stream_id(cadre_id: str) -> str:
    return f"cadre-{cadre_id}"
