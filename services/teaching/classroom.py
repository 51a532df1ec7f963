"""Attendance and the class record, pure: the deciders of the two aggregates a class
has in teaching (domain.py holds the jurisdiction-wide ones: catalogue, timetable,
online ledger). Apart because they are a different consistency boundary — one class,
one session — and their rules (roster, leave, graduation) are a reading of their own.

* A session's attendance (课次考勤) — check-in, late, early leave, leave, absence,
  ratings — is one stream per session, so every rule of a session (no double check-in,
  leave before absence) is checked on one state. Not one stream per class: a term of
  150 trainees and 30 sessions is 4,500+ events, and reading that back from FerretDB
  took 1–2 s per check-in (bench/teaching_class_stream.py); a session's stream stays
  at a few hundred.
* The class record (班级教学档案) — curriculum and the graduation verdicts — is one
  stream per class; graduation first closes every session (absences on the session
  streams, under the optimistic append), then decides on the closed attendance.

A command carries the facts owned by other aggregates, resolved by the handler: the
session (from the timetable), the confirmed roster (from selection's events, kept in
teaching's roster projection), the courses (from the catalogue), and for graduation
who attended each session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from services.teaching.domain import FrozenMap, Session, hm, no_entries
from shared.contracts.teaching import (
    AbsenceExcused,
    AbsenceRecorded,
    AttendanceClosed,
    CurriculumSet,
    EarlyLeaveRecorded,
    LeaveDecided,
    LeaveRequested,
    SelfCheckInOpened,
    SessionAttended,
    SessionRated,
    TraineeGraduated,
    TraineeNotGraduated,
)
from shared.errors import DomainError
from shared.events import Event

KINDS = ("理论课", "党性课", "实践课", "能力课")


def class_stream(class_id: str) -> str:
    return f"teaching-class-{class_id}"


def attendance_stream(class_id: str, session_id: str) -> str:
    return f"teaching-attendance-{class_id}-{session_id}"


@dataclass(frozen=True)
class Trainee:
    cadre_id: str
    name: str
    unit: str
    home_jurisdiction: str | None = None


Roster = Mapping[str, Trainee]  # confirmed trainees only (在册学员)


@dataclass(frozen=True)
class SetCurriculum:
    class_id: str
    course_ids: tuple[str, ...]
    required_hours: Mapping[str, float]
    known_courses: frozenset[str]


Names = Mapping[str, str]  # cadre id -> name, of everyone the class knows: refusals name people


@dataclass(frozen=True)
class CheckIn:
    session: Session
    entries: tuple[tuple[str, bool], ...]  # (cadre_id, late)
    roster: Roster
    today: date
    names: Names = no_entries()


@dataclass(frozen=True)
class OpenSelfCheckIn:
    """The teacher shows the rotating QR code: trainees may check themselves in until the
    session ends (`now` is Beijing wall time, naive)."""

    session: Session
    now: datetime


@dataclass(frozen=True)
class SelfCheckIn:
    """A trainee checks themself in with the code their phone read (checked by the handler:
    checkin.py); late when after the session's start."""

    session: Session
    cadre_id: str
    roster: Roster
    now: datetime
    names: Names = no_entries()


@dataclass(frozen=True)
class RecordEarlyLeave:
    session: Session
    cadre_id: str
    minutes: int
    names: Names = no_entries()


@dataclass(frozen=True)
class RequestLeave:
    """请假: asked by the trainee before the session begins (`now`, Beijing wall time, when
    the trainee asks), or registered by the school, which may do so after the start too."""

    session: Session
    cadre_id: str
    reason: str
    roster: Roster
    names: Names = no_entries()
    now: datetime | None = None
    by_trainee: bool = False


@dataclass(frozen=True)
class ExcuseAbsence:
    """补假: the school excuses an absence already recorded (the roll call was closed)."""

    session: Session
    cadre_id: str
    reason: str
    names: Names = no_entries()


@dataclass(frozen=True)
class DecideLeave:
    session: Session
    cadre_id: str
    approved: bool
    note: str = ""
    names: Names = no_entries()


@dataclass(frozen=True)
class CloseSession:
    session: Session
    roster: Roster
    today: date


@dataclass(frozen=True)
class RateSession:
    session: Session
    cadre_id: str
    rating: int
    comment: str = ""


@dataclass(frozen=True)
class GraduationRule:
    """结业条件: minimum attendance rate, every required course attended, minimum hours
    (in total, and by kind as the curriculum requires)."""

    min_attendance_rate: float = 0.9
    require_required_courses: bool = True
    min_hours: float = 0.0


@dataclass(frozen=True)
class Graduate:
    class_id: str
    class_title: str
    ends_on: date
    today: date
    sessions: tuple[Session, ...]  # every session of the class, cancelled ones too
    attended: Mapping[str, frozenset[str]]  # session id -> who attended (after closing)
    roster: Roster
    rule: GraduationRule = GraduationRule()
    # The graduation date on record: the day of the assessment (today) unless given, as
    # when a school back-fills a past class; never before the class ended nor after today.
    on: date | None = None


def graduation_date(title: str, ends_on: date, today: date, on: date | None) -> date:
    """The date a graduation is recorded on, or the reason it cannot be (checked before
    the sessions are closed, so a refused graduation changes nothing)."""
    if today < ends_on:
        raise DomainError(
            f"班次“{title}”{ends_on} 结业，尚未结束，不能进行结业评定。", code="class_not_ended"
        )
    on = on or today
    if on < ends_on:
        raise DomainError(
            f"结业日期 {on} 早于班次最后一天 {ends_on}。", code="graduation_before_end", field="graduated_on"
        )
    if on > today:
        raise DomainError(
            f"结业日期 {on} 晚于今天 {today}：结业评定只能记在已经过去的日子。",
            code="graduation_in_future",
            field="graduated_on",
        )
    return on


@dataclass(frozen=True)
class AttendanceState:
    """One session's attendance, by cadre id (frozen: `evolve` returns a new state)."""

    attended: Mapping[str, SessionAttended] = no_entries()
    early: frozenset[str] = frozenset()
    leave: Mapping[str, str] = no_entries()  # pending / approved / refused
    absent: Mapping[str, bool] = no_entries()  # -> excused
    rated: frozenset[str] = frozenset()
    open_until: datetime | None = None  # self check-in (扫码签到) is open until then
    closed: bool = False  # the roll call was closed (AttendanceClosed)


@dataclass(frozen=True)
class ClassRecordState:
    class_id: str | None = None
    course_ids: tuple[str, ...] = ()
    required_hours: Mapping[str, float] = no_entries()
    concluded: frozenset[str] = frozenset()


def _name(cadre_id: str, names: Names, roster: Roster | None = None) -> str:
    """A person by name; by the number the request gave only when the class has never known them."""
    if roster and cadre_id in roster:
        return roster[cadre_id].name
    return names.get(cadre_id) or f"编号为 {cadre_id} 的人员"


def _names(ids: list[str], names: Names, roster: Roster | None = None, limit: int = 5) -> str:
    shown = [_name(i, names, roster) for i in ids[:limit]]
    more = f" 等 {len(ids)} 人" if len(ids) > limit else ""
    return "、".join(shown) + more


def _usable(s: Session) -> None:
    if s.cancelled:
        raise DomainError(f"课次 {s.describe()} 已停课，不能考勤、请假或评价。", code="session_cancelled")


def _on_roster(roster: Roster, cadre_id: str, names: Names) -> Trainee:
    if cadre_id not in roster:
        raise DomainError(
            f"{_name(cadre_id, names)} 不在本班在册名单中（只有组织确定的学员在册），请核对名册。",
            code="not_on_roster",
            field="cadre_id",
        )
    return roster[cadre_id]


def _not_begun(s: Session, now: datetime) -> None:
    """A trainee asks leave before the session begins (China's wall time, the service's
    clock); afterwards only the school can excuse them, on the roll call."""
    if now >= datetime.combine(s.on, s.starts_at):
        raise DomainError(
            f"课次 {s.describe()} 已于 {s.on} {hm(s.starts_at)} 开始，不能再申请请假；"
            "如确因特殊情况未能到课，请联系党校在考勤表上补假。",
            code="session_begun",
            field="session_id",
        )


def attendance_rate(attended: int, held: int) -> float:
    return round(attended / held, 4) if held else 0.0


class AttendanceDecider:
    """A session's attendance: one stream per session."""

    def initial(self) -> AttendanceState:
        return AttendanceState()

    def decide(self, st: AttendanceState, command) -> list[Event]:
        match command:
            case CheckIn():
                return self._check_in(st, command)
            case OpenSelfCheckIn():
                return self._open_self(st, command)
            case SelfCheckIn():
                return self._self_check_in(st, command)
            case RecordEarlyLeave():
                return self._early_leave(st, command)
            case RequestLeave():
                return self._request_leave(st, command)
            case DecideLeave():
                return self._decide_leave(st, command)
            case ExcuseAbsence():
                return self._excuse(st, command)
            case CloseSession():
                return self._close(st, command)
            case RateSession():
                return self._rate(st, command)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _early_leave(st: AttendanceState, command: RecordEarlyLeave) -> list[Event]:
        s, c = command.session, command.cadre_id
        _usable(s)
        if c not in st.attended:
            raise DomainError(
                f"{_name(c, command.names)} 未签到课次 {s.describe()}，不能记录早退；请先签到。",
                code="not_attended",
                field="cadre_id",
            )
        if c in st.early:
            raise DomainError(
                f"{_name(c, command.names)} 在课次 {s.describe()} 的早退已记录。", code="early_leave_recorded"
            )
        length = (s.ends_at.hour * 60 + s.ends_at.minute) - (s.starts_at.hour * 60 + s.starts_at.minute)
        if not 0 < command.minutes < length:
            raise DomainError(
                f"早退分钟数须大于 0 且小于课次时长 {length} 分钟。", code="bad_minutes", field="minutes"
            )
        return [
            EarlyLeaveRecorded(
                class_id=s.class_id, session_id=s.session_id, cadre_id=c, minutes=command.minutes
            )
        ]

    @staticmethod
    def _request_leave(st: AttendanceState, command: RequestLeave) -> list[Event]:
        s, c = command.session, command.cadre_id
        _usable(s)
        who = _on_roster(command.roster, c, command.names)
        if c in st.attended:
            raise DomainError(f"{who.name} 已签到课次 {s.describe()}，无需请假。", code="already_attended")
        if c in st.absent:
            raise DomainError(f"课次 {s.describe()} 已结束并记录缺勤，不能再请假。", code="absence_recorded")
        if st.leave.get(c) in ("pending", "approved"):
            state = "待审批" if st.leave[c] == "pending" else "已批准"
            raise DomainError(
                f"{who.name} 对课次 {s.describe()} 的请假{state}，无需重复申请。", code="leave_exists"
            )
        if command.by_trainee and command.now is not None:
            _not_begun(s, command.now)
        if not command.reason.strip():
            raise DomainError("请填写请假事由。", code="reason_required", field="reason")
        return [
            LeaveRequested(
                class_id=s.class_id, session_id=s.session_id, cadre_id=c, reason=command.reason.strip()
            )
        ]

    @staticmethod
    def _decide_leave(st: AttendanceState, command: DecideLeave) -> list[Event]:
        s, c = command.session, command.cadre_id
        if st.leave.get(c) != "pending":
            raise DomainError(
                f"{_name(c, command.names)} 在课次 {s.describe()} 没有待审批的请假申请。",
                code="no_pending_leave",
            )
        return [
            LeaveDecided(
                class_id=s.class_id,
                session_id=s.session_id,
                cadre_id=c,
                approved=command.approved,
                note=command.note,
            )
        ]

    @staticmethod
    def _excuse(st: AttendanceState, command: ExcuseAbsence) -> list[Event]:
        s, c = command.session, command.cadre_id
        who = _name(c, command.names)
        if c in st.attended:
            raise DomainError(f"{who} 已签到课次 {s.describe()}，无需补假。", code="already_attended")
        if c not in st.absent:
            raise DomainError(
                f"课次 {s.describe()} 尚未给 {who} 记缺勤，不能补假；考勤结束前请在点名表上登记请假。",
                code="no_absence",
                field="cadre_id",
            )
        if st.absent[c]:
            raise DomainError(f"{who} 在课次 {s.describe()} 已记为请假，无需补假。", code="already_excused")
        if not command.reason.strip():
            raise DomainError("请填写补假事由。", code="reason_required", field="reason")
        return [
            AbsenceExcused(
                class_id=s.class_id, session_id=s.session_id, cadre_id=c, reason=command.reason.strip()
            )
        ]

    @staticmethod
    def _close(st: AttendanceState, command: CloseSession) -> list[Event]:
        s = command.session
        _usable(s)
        if command.today < s.on:
            raise DomainError(f"课次 {s.describe()} 尚未开始，不能结束考勤。", code="session_not_held")
        # Closing again records nothing new: only those with neither attendance nor absence.
        out: list[Event] = [
            AbsenceRecorded(
                class_id=s.class_id,
                session_id=s.session_id,
                cadre_id=c,
                excused=st.leave.get(c) == "approved",
                on=s.on,
            )
            for c in command.roster
            if c not in st.attended and c not in st.absent
        ]
        if not st.closed:
            out.append(AttendanceClosed(class_id=s.class_id, session_id=s.session_id, absent=len(out)))
        return out

    @staticmethod
    def _rate(st: AttendanceState, command: RateSession) -> list[Event]:
        s, c = command.session, command.cadre_id
        _usable(s)
        if c not in st.attended:
            raise DomainError(f"只有签到参加了课次 {s.describe()} 的学员才能评价。", code="not_attended")
        if c in st.rated:
            raise DomainError(f"您已评价过课次 {s.describe()}，每个课次只评价一次。", code="already_rated")
        return [
            SessionRated(
                class_id=s.class_id,
                session_id=s.session_id,
                cadre_id=c,
                rating=command.rating,
                comment=command.comment,
            )
        ]

    @staticmethod
    def _check_in(st: AttendanceState, c: CheckIn) -> list[Event]:
        s = c.session
        _usable(s)
        if c.today < s.on:
            raise DomainError(f"课次 {s.describe()} 尚未开始，不能签到。", code="session_not_started")
        outsiders = list(dict.fromkeys(i for i, _ in c.entries if i not in c.roster))
        if outsiders:
            raise DomainError(
                f"{_names(outsiders, c.names)} 不在本班在册名单中（只有组织确定的学员在册），"
                "本次签到未登记任何人，请核对名单后重试。",
                code="not_on_roster",
                field="entries",
            )
        absent = [i for i, _ in c.entries if i in st.absent]
        if absent:
            raise DomainError(
                f"课次 {s.describe()} 已结束并记录 {_names(absent, c.names, c.roster)} 缺勤，不能再签到。",
                code="absence_recorded",
                field="entries",
            )
        out, seen = [], set()
        for cadre_id, late in c.entries:
            if cadre_id in seen or cadre_id in st.attended:
                continue  # checking in twice changes nothing
            seen.add(cadre_id)
            out.append(
                SessionAttended(
                    class_id=s.class_id,
                    session_id=s.session_id,
                    cadre_id=cadre_id,
                    hours=s.hours,
                    on=s.on,
                    kind=s.kind,
                    late=late,
                    home_jurisdiction=c.roster[cadre_id].home_jurisdiction,
                )
            )
        return out

    @staticmethod
    def _open_self(st: AttendanceState, c: OpenSelfCheckIn) -> list[Event]:
        s = c.session
        _usable(s)
        if c.now.date() != s.on:
            raise DomainError(
                f"课次 {s.describe()} 不在今天，只能在上课当天开放扫码签到。", code="not_session_day"
            )
        until = datetime.combine(s.on, s.ends_at)
        if st.absent or c.now >= until:
            raise DomainError(f"课次 {s.describe()} 已结束考勤，不能再开放扫码签到。", code="session_closed")
        if st.open_until == until:
            return []  # open already: the teacher's screen just shows the code again
        return [SelfCheckInOpened(class_id=s.class_id, session_id=s.session_id, until=until)]

    @staticmethod
    def _self_check_in(st: AttendanceState, c: SelfCheckIn) -> list[Event]:
        s = c.session
        _usable(s)
        if st.open_until is None or c.now >= st.open_until or st.absent:
            raise DomainError(
                f"课次 {s.describe()} 现在没有开放扫码签到，请向任课教师确认。", code="check_in_not_open"
            )
        if c.cadre_id not in c.roster:
            raise DomainError(
                f"{_name(c.cadre_id, c.names)} 不在班次在册名单中，不能用这个二维码签到；"
                "请用本人的账号登录后扫码。",
                code="not_on_roster",
            )
        if c.cadre_id in st.attended:
            raise DomainError(
                f"{c.roster[c.cadre_id].name}，您已签到课次 {s.describe()}，无需重复签到。",
                code="already_checked_in",
            )
        return [
            SessionAttended(
                class_id=s.class_id,
                session_id=s.session_id,
                cadre_id=c.cadre_id,
                hours=s.hours,
                on=s.on,
                kind=s.kind,
                # times are kept to the minute: 09:00:59 is still on time for 09:00
                late=c.now.time().replace(second=0, microsecond=0) > s.starts_at,
                home_jurisdiction=c.roster[c.cadre_id].home_jurisdiction,
            )
        ]

    def evolve(self, st: AttendanceState, e: Event) -> AttendanceState:
        match e:
            case SelfCheckInOpened():
                return replace(st, open_until=e.until)
            case SessionAttended():
                return replace(st, attended=st.attended.set(e.cadre_id, e))
            case EarlyLeaveRecorded():
                return replace(st, early=st.early | {e.cadre_id})
            case LeaveRequested():
                return replace(st, leave=st.leave.set(e.cadre_id, "pending"))
            case LeaveDecided():
                return replace(st, leave=st.leave.set(e.cadre_id, "approved" if e.approved else "refused"))
            case AbsenceRecorded():
                return replace(st, absent=st.absent.set(e.cadre_id, e.excused))
            case AbsenceExcused():
                return replace(st, absent=st.absent.set(e.cadre_id, True))
            case AttendanceClosed():
                return replace(st, closed=True)
            case SessionRated():
                return replace(st, rated=st.rated | {e.cadre_id})
        return st


class ClassRecordDecider:
    """A class's curriculum and graduation: one stream per class."""

    def initial(self) -> ClassRecordState:
        return ClassRecordState()

    def decide(self, st: ClassRecordState, command) -> list[Event]:
        match command:
            case SetCurriculum():
                return self._curriculum(st, command)
            case Graduate():
                return self._graduate(st, command)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _curriculum(st: ClassRecordState, c: SetCurriculum) -> list[Event]:
        if st.concluded:
            raise DomainError("本班已结业评定，不能再修改教学计划。", code="class_concluded")
        unknown = [i for i in c.course_ids if i not in c.known_courses]
        if unknown:
            raise DomainError(
                f"课程库中没有这些课程：{'、'.join(unknown)}，请先录入课程。",
                code="course_not_found",
                field="course_ids",
            )
        if len(set(c.course_ids)) != len(c.course_ids):
            raise DomainError(
                "教学计划中有重复的课程，请每门课程只列一次。", code="duplicate_course", field="course_ids"
            )
        bad = [k for k, v in c.required_hours.items() if k not in KINDS or v < 0]
        if bad:
            raise DomainError(
                f"学时要求的课程类别须为 {'、'.join(KINDS)} 之一且学时不为负：{'、'.join(bad)}。",
                code="bad_required_hours",
                field="required_hours",
            )
        return [
            CurriculumSet(
                class_id=c.class_id, course_ids=list(c.course_ids), required_hours=dict(c.required_hours)
            )
        ]

    @staticmethod
    def _graduate(st: ClassRecordState, c: Graduate) -> list[Event]:
        on = graduation_date(c.class_title, c.ends_on, c.today, c.on)
        held = [s for s in c.sessions if not s.cancelled]
        if not held:
            raise DomainError("本班没有开出任何课次，无法进行结业评定。", code="no_sessions")
        pending = [t for t in c.roster if t not in st.concluded]
        if not pending:
            raise DomainError("本班在册学员均已完成结业评定。", code="already_concluded")
        rule, out = c.rule, []
        required = {s.course_id: s.course_title for s in held if s.required}
        for cadre_id in pending:
            t = c.roster[cadre_id]
            mine = [s for s in held if cadre_id in c.attended.get(s.session_id, ())]
            hours = round(sum(s.hours for s in mine), 2)
            rate = attendance_rate(len(mine), len(held))
            reasons = []
            if rate < rule.min_attendance_rate:
                reasons.append(f"出勤率 {rate:.1%} 低于结业要求 {rule.min_attendance_rate:.0%}")
            if rule.require_required_courses:
                had = {s.course_id for s in mine}
                missed = [title for cid, title in required.items() if cid not in had]
                if missed:
                    reasons.append("缺修必修课程：" + "、".join(f"《{m}》" for m in missed))
            if hours < rule.min_hours:
                reasons.append(f"总学时 {hours:g} 低于要求 {rule.min_hours:g}")
            for kind, need in st.required_hours.items():
                got = round(sum(s.hours for s in mine if s.kind == kind), 2)
                if got < need:
                    reasons.append(f"{kind}学时 {got:g} 低于教学计划要求 {need:g}")
            if reasons:
                out.append(TraineeNotGraduated(class_id=c.class_id, cadre_id=cadre_id, reasons=reasons))
            else:
                out.append(
                    TraineeGraduated(
                        class_id=c.class_id,
                        cadre_id=cadre_id,
                        name=t.name,
                        unit=t.unit,
                        graduated_on=on,
                        hours=hours,
                        attendance_rate=rate,
                        home_jurisdiction=t.home_jurisdiction,
                        class_title=c.class_title,
                    )
                )
        return out

    def evolve(self, st: ClassRecordState, e: Event) -> ClassRecordState:
        match e:
            case CurriculumSet():
                return replace(
                    st,
                    class_id=e.class_id,
                    course_ids=tuple(e.course_ids),
                    required_hours=FrozenMap.of(e.required_hours),
                )
            case TraineeGraduated() | TraineeNotGraduated():
                return replace(st, concluded=st.concluded | {e.cadre_id})
        return st
