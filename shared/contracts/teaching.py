"""Events published by the teaching service (教学管理).

Selection reads SessionAttended, OnlineHoursCredited and TraineeGraduated for the
training history (five-year rotation, yearly hours); records reads attendance for the
record form; follow-up starts from TraineeGraduated.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("teaching")

CourseKind = Literal["理论课", "党性课", "实践课", "能力课"]
CourseMode = Literal["必修", "研讨", "实训", "选修"]
Method = Literal["讲授", "案例式", "研讨式", "情景模拟", "体悟式", "调研式", "现场教学", "其他"]
FacultyKind = Literal["党校教师", "特邀专家", "领导干部"]


# -- catalogue ---------------------------------------------------------------------
@register
class CourseAdded(Event, type="CourseAdded", version=1):
    """课程入库."""

    course_id: str
    title: str
    kind: CourseKind
    method: Method = "讲授"
    hours: float = Field(gt=0)
    mode: CourseMode = "必修"
    materials: list[str] = Field(default_factory=list)


@register
class FacultyAdded(Event, type="FacultyAdded", version=1):
    """师资入库 — a party-school teacher, an invited expert or a leading cadre (领导干部上讲台)."""

    teacher_id: str
    name: str
    kind: FacultyKind
    post: str = ""


@register
class TeachingSiteAdded(Event, type="TeachingSiteAdded", version=1):
    """现场教学点 / 红色教育基地 / 教室."""

    site_id: str
    name: str
    address: str = ""
    site_type: str = "教室"
    capacity: int = Field(gt=0)


@register
class CurriculumSet(Event, type="CurriculumSet", version=1):
    """教学计划 — the courses of a class in order, and the required hours by kind."""

    class_id: str
    course_ids: list[str]
    required_hours: dict[str, float] = Field(default_factory=dict)


# -- sessions ----------------------------------------------------------------------
@register
class SessionScheduled(Event, type="SessionScheduled", version=1):
    """排课 — a teaching session of a class."""

    class_id: str
    session_id: str
    course_id: str
    course_title: str
    kind: CourseKind
    on: date
    starts_at: time
    ends_at: time
    hours: float = Field(gt=0)
    teacher_id: str
    teacher_name: str
    site_id: str
    required: bool = True


@register
class SessionRescheduled(Event, type="SessionRescheduled", version=1):
    """调课."""

    class_id: str
    session_id: str
    on: date
    starts_at: time
    ends_at: time
    teacher_id: str
    teacher_name: str
    site_id: str
    reason: str = ""
    # The session as it stood, so a read model kept per teacher (teaching's `teacher_load`)
    # can take the session off the teacher who had it and onto the one who has it now.
    # None in events written before these fields.
    previous_teacher_id: str | None = None
    course_id: str | None = None
    course_title: str | None = None
    kind: CourseKind | None = None
    hours: float | None = None
    required: bool | None = None


@register
class SessionCancelled(Event, type="SessionCancelled", version=1):
    """停课."""

    class_id: str
    session_id: str
    reason: str = ""
    # Whose session it was (teaching's `teacher_load`); None in events written before it.
    teacher_id: str | None = None


# -- attendance, leave, hours --------------------------------------------------------
@register
class SessionAttended(Event, type="SessionAttended", version=1):
    """出勤 — a trainee checked in to a teaching session; `hours` are the hours credited."""

    class_id: str
    session_id: str
    cadre_id: str
    hours: float
    on: date | None = None
    kind: CourseKind | None = None
    late: bool = False
    # The trainee's own county (from selection's nomination), when the class is run above
    # it (a province class): that county's history and dashboard count these hours.
    home_jurisdiction: str | None = None


@register
class EarlyLeaveRecorded(Event, type="EarlyLeaveRecorded", version=1):
    """早退."""

    class_id: str
    session_id: str
    cadre_id: str
    minutes: int = Field(ge=0)


@register
class LeaveRequested(Event, type="LeaveRequested", version=2):
    """请假申请. v2: the reason is sealed under the trainee's key."""

    personal = ("reason",)

    class_id: str
    session_id: str
    cadre_id: str
    reason: str


@register
class LeaveDecided(Event, type="LeaveDecided", version=2):
    """请假审批 — approved or refused. v2: the note is sealed under the trainee's key."""

    personal = ("note",)

    class_id: str
    session_id: str
    cadre_id: str
    approved: bool
    note: str = ""


@register
class SelfCheckInOpened(Event, type="SelfCheckInOpened", version=1):
    """扫码签到开放 — the teacher shows the rotating QR code until `until` (Beijing wall time)."""

    class_id: str
    session_id: str
    until: datetime  # Asia/Shanghai wall time (naive), the session's end


@register
class AbsenceRecorded(Event, type="AbsenceRecorded", version=1):
    """缺勤 — recorded when a session ends; `excused` when leave was approved."""

    class_id: str
    session_id: str
    cadre_id: str
    excused: bool = False
    on: date | None = None


@register
class AbsenceExcused(Event, type="AbsenceExcused", version=2):
    """补假 — the party school records, after the fact, that a recorded absence was excused
    (a trainee cannot ask leave for a session already begun; the school can excuse it).
    v2: the reason is sealed under the trainee's key."""

    personal = ("reason",)

    class_id: str
    session_id: str
    cadre_id: str
    reason: str


@register
class AttendanceClosed(Event, type="AttendanceClosed", version=1):
    """考勤已结束 — the session's roll call was closed (by the school, the closer or
    graduation), once; `absent` counts the absences recorded with it. Reminders close the
    party school's 待结束考勤 item on it (nobody may be absent, so no AbsenceRecorded)."""

    class_id: str
    session_id: str
    absent: int = 0


@register
class OnlineHoursCredited(Event, type="OnlineHoursCredited", version=1):
    """网络学习学时 — imported from the online platform's file."""

    personal = ("name",)

    cadre_id: str
    name: str = ""
    hours: float = Field(gt=0)
    on: date
    kind: CourseKind | None = None
    source: str = "网络学院"
    reference: str = ""  # the platform's own record id, so a re-import adds nothing


@register
class TraineeGraduated(Event, type="TraineeGraduated", version=1):
    """结业 — the trainee met the class's graduation rule."""

    personal = ("name",)

    class_id: str
    cadre_id: str
    name: str
    unit: str
    graduated_on: date
    hours: float
    attendance_rate: float
    home_jurisdiction: str | None = None
    class_title: str = ""


@register
class TraineeNotGraduated(Event, type="TraineeNotGraduated", version=1):
    """未结业 — the rule was not met; `reasons` say which parts."""

    class_id: str
    cadre_id: str
    reasons: list[str]


@register
class SessionRated(Event, type="SessionRated", version=2):
    """课程评价 — a trainee's short rating of a session (1–5). v2: the comment, the trainee's
    own words, is sealed under the trainee's key."""

    personal = ("comment",)

    class_id: str
    session_id: str
    cadre_id: str
    rating: int = Field(ge=1, le=5)
    comment: str = ""


# v1 of these carried their free texts in the clear; same shape, so the step up is the identity.
for _type in ("LeaveRequested", "LeaveDecided", "AbsenceExcused", "SessionRated"):
    CATALOGUE.upcaster(_type, 1)(dict)
