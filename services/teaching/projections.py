"""Teaching's read models, each keyed by what the API reads (FerretDB indexes only `_id`).

* class_roster (班级名册), per class, from selection's events;
* catalogue, per jurisdiction; class_timetable, per class; teacher_load (教师授课量) and
  teacher_moves, per teacher and year (keyed `<timetable stream>/<teacher>`); session_sheet
  (考勤表), per session; trainee_sessions (我的课表), per trainee and class: their own lines
  of the class's sheets;
* class_attendance, per class: per-trainee counts and hours, and the graduation verdicts;
* trainee_hours (学时台账), per cadre: class and online hours by kind;
* feedback, per class: ratings with the course and teacher of each session;
* leave_inbox (请假审批), per class: its end date and its open leave requests only;
* trainee_classes (我的班次), per cadre: the classes naming them, with their status there.

Every document gets events from a bounded number of streams (a class's record and its
sessions, one timetable, the online ledgers of a jurisdiction), which keeps its
`_applied` guard small; a trainee's ledger grows by one entry per session attended.
"""

from __future__ import annotations

from shared.contracts.selection import (
    ClassOpened,
    NominationConfirmed,
    NominationRejected,
    NominationWaitlisted,
    NominationWithdrawn,
    TraineeNominated,
)
from shared.contracts.teaching import (
    AbsenceExcused,
    AbsenceRecorded,
    AttendanceClosed,
    CourseAdded,
    CurriculumSet,
    EarlyLeaveRecorded,
    FacultyAdded,
    LeaveDecided,
    LeaveRequested,
    OnlineHoursCredited,
    SessionAttended,
    SessionCancelled,
    SessionRated,
    SessionRescheduled,
    SessionScheduled,
    TeachingSiteAdded,
    TraineeGraduated,
    TraineeNotGraduated,
)
from shared.projection import Projection

by_class = lambda env, ev: ev.class_id  # noqa: E731
by_session = lambda env, ev: ev.session_id  # noqa: E731
by_jurisdiction = lambda env, ev: env.jurisdiction  # noqa: E731

# -- roster ------------------------------------------------------------------------------
# The trainees and their home counties stored packed on FerretDB (shared/store.py, "Packed fields").
roster = Projection("class_roster", sources=("selection",), packed=("trainees", "homes"))


def _trainee(doc, cadre_id: str, name: str = "", unit: str = "") -> dict:
    trainees = doc.setdefault("trainees", [])
    for t in trainees:
        if t["cadre_id"] == cadre_id:
            t["name"], t["unit"] = name or t["name"], unit or t["unit"]
            return t
    t = {"cadre_id": cadre_id, "name": name, "unit": unit, "status": "nominated"}
    trainees.append(t)
    doc["size"] = len(trainees)
    return t


def _count(doc) -> None:
    doc["confirmed"] = sum(1 for t in doc.get("trainees", []) if t["status"] == "confirmed")


@roster.on(ClassOpened, key=by_class)
def _opened(doc, env, ev: ClassOpened) -> None:
    doc.update(
        class_id=ev.class_id,
        title=ev.title,
        capacity=ev.capacity,
        starts_on=ev.starts_on.isoformat(),
        ends_on=ev.ends_on.isoformat(),
        jurisdiction=env.jurisdiction,
    )
    doc.setdefault("trainees", [])
    doc.setdefault("size", 0)
    doc.setdefault("confirmed", 0)


@roster.on(TraineeNominated, key=by_class)
def _nominated(doc, env, ev: TraineeNominated) -> None:
    _trainee(doc, ev.cadre_id, ev.name, ev.unit)
    if ev.home_jurisdiction:
        doc.setdefault("homes", {})[ev.cadre_id] = ev.home_jurisdiction
    doc.setdefault("jurisdiction", env.jurisdiction)


@roster.on(NominationConfirmed, key=by_class)
def _confirmed(doc, env, ev: NominationConfirmed) -> None:
    _trainee(doc, ev.cadre_id, ev.name, ev.unit)["status"] = "confirmed"
    if ev.home_jurisdiction:
        doc.setdefault("homes", {})[ev.cadre_id] = ev.home_jurisdiction
    doc.setdefault("jurisdiction", env.jurisdiction)
    _count(doc)


def _status(status: str):
    def apply(doc, env, ev) -> None:
        _trainee(doc, ev.cadre_id)["status"] = status
        doc.setdefault("jurisdiction", env.jurisdiction)
        _count(doc)

    return apply


roster.on(NominationRejected, key=by_class)(_status("rejected"))
roster.on(NominationWaitlisted, key=by_class)(_status("waitlisted"))
roster.on(NominationWithdrawn, key=by_class)(_status("withdrawn"))

# -- catalogue ---------------------------------------------------------------------------
# One document per county: its courses, faculty and sites stored packed on FerretDB (above).
catalogue = Projection("catalogue", sources=("teaching",), packed=("courses", "faculty", "sites"))


def _into(section: str, id_field: str):
    def apply(doc, env, ev) -> None:
        doc.setdefault("jurisdiction", env.jurisdiction)
        doc.setdefault(section, {})[getattr(ev, id_field)] = ev.model_dump(mode="json")

    return apply


catalogue.on(CourseAdded, key=by_jurisdiction)(_into("courses", "course_id"))
catalogue.on(FacultyAdded, key=by_jurisdiction)(_into("faculty", "teacher_id"))
catalogue.on(TeachingSiteAdded, key=by_jurisdiction)(_into("sites", "site_id"))

# -- sessions: per class (timetable) -------------------------------------------------------
class_timetable = Projection("class_timetable", sources=("teaching",))
# What a reschedule says of the session as it stood (for `teacher_load`), not a change of it.
AS_IT_STOOD = {"reason", "previous_teacher_id", "course_id", "course_title", "kind", "hours", "required"}


def _scheduled(doc, env, ev: SessionScheduled) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("sessions", {})[ev.session_id] = {**ev.model_dump(mode="json"), "cancelled": False}


def _rescheduled(doc, env, ev: SessionRescheduled) -> None:
    s = doc["sessions"][ev.session_id]
    s.update(ev.model_dump(mode="json", exclude=AS_IT_STOOD))
    s.setdefault("history", []).append(
        {"reason": ev.reason, "by": env.actor.name, "at": env.occurred_at.isoformat()}
    )


def _cancelled(doc, env, ev: SessionCancelled) -> None:
    doc["sessions"][ev.session_id].update(cancelled=True, cancel_reason=ev.reason)


class_timetable.on(SessionScheduled, key=by_class)(_scheduled)
class_timetable.on(SessionRescheduled, key=by_class)(_rescheduled)
class_timetable.on(SessionCancelled, key=by_class)(_cancelled)


@class_timetable.on(CurriculumSet, key=by_class)
def _curriculum(doc, env, ev: CurriculumSet) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("sessions", {})
    doc["curriculum"] = {"course_ids": ev.course_ids, "required_hours": ev.required_hours}


# -- a teacher's load in a year (教师授课量) -------------------------------------------------
# One document per teacher and timetable stream (teaching-timetable-<code>-<year>), keyed
# `<stream>/<teacher>`: the teacher's sessions not cancelled, with the totals the page shows,
# so the read is one document the size of one teacher's year, not the county's schedule.
# A reschedule to another teacher reaches only the new teacher's document (a key names one
# document); the old teacher's loses the session through `teacher_moves`, keyed the same
# way by `previous_teacher_id`, and the read leaves out what moved away after it was given.
teacher_load = Projection("teacher_load", sources=("teaching",))
teacher_moves = Projection("teacher_moves", sources=("teaching",))
SESSION_FIELDS = (
    "class_id",
    "session_id",
    "course_id",
    "course_title",
    "kind",
    "hours",
    "required",
    "teacher_name",
    "site_id",
)


def teacher_key(stream: str, teacher_id: str) -> str:
    return f"{stream}/{teacher_id}"


def _load_doc(doc, env, teacher_id: str, teacher_name: str) -> dict:
    doc.update(jurisdiction=env.jurisdiction, teacher_id=teacher_id, teacher_name=teacher_name)
    return doc.setdefault("sessions", {})


def _given(env, ev, **fields) -> dict:
    """A session as the load shows it; `given` is the timetable stream's version that gave it."""
    return {
        **{f: getattr(ev, f) for f in SESSION_FIELDS},
        "on": ev.on.isoformat(),
        "starts_at": ev.starts_at.isoformat(),
        "ends_at": ev.ends_at.isoformat(),
        "given": env.stream_version,
        **fields,
    }


def load_totals(sessions) -> dict:
    """A teacher's totals over their sessions: how many, hours, hours by kind, classes."""
    by_kind: dict[str, float] = {}
    for s in sessions:
        by_kind[s["kind"]] = round(by_kind.get(s["kind"], 0) + s["hours"], 2)
    return {
        "sessions": len(sessions),
        "hours": round(sum(s["hours"] for s in sessions), 2),
        "hours_by_kind": by_kind,
        "classes": len({s["class_id"] for s in sessions}),
    }


def _totals(doc) -> None:
    # Kept with the sessions, so a read need not add a year up (reads.py's `teacher_load`).
    doc["totals"] = load_totals(list(doc["sessions"].values()))


@teacher_load.on(SessionScheduled, key=lambda env, ev: teacher_key(env.stream_id, ev.teacher_id))
def _load_scheduled(doc, env, ev: SessionScheduled) -> None:
    _load_doc(doc, env, ev.teacher_id, ev.teacher_name)[ev.session_id] = _given(env, ev)
    _totals(doc)


@teacher_load.on(SessionRescheduled, key=lambda env, ev: teacher_key(env.stream_id, ev.teacher_id))
def _load_rescheduled(doc, env, ev: SessionRescheduled) -> None:
    sessions = _load_doc(doc, env, ev.teacher_id, ev.teacher_name)
    times = {
        "on": ev.on.isoformat(),
        "starts_at": ev.starts_at.isoformat(),
        "ends_at": ev.ends_at.isoformat(),
    }
    if ev.session_id in sessions and ev.previous_teacher_id in (None, ev.teacher_id):
        sessions[ev.session_id].update(times, teacher_name=ev.teacher_name, site_id=ev.site_id)
    elif ev.hours is not None:  # moved in from another teacher: the event carries the course
        sessions[ev.session_id] = _given(env, ev)
    _totals(doc)


def _cancel_key(env, ev: SessionCancelled) -> str | None:
    # A cancellation written before `teacher_id` was added names no teacher: not folded here.
    return teacher_key(env.stream_id, ev.teacher_id) if ev.teacher_id else None


@teacher_load.on(SessionCancelled, key=_cancel_key)
def _load_cancelled(doc, env, ev: SessionCancelled) -> None:
    doc.setdefault("sessions", {}).pop(ev.session_id, None)
    doc.setdefault("jurisdiction", env.jurisdiction)
    _totals(doc)


def _moved_key(env, ev: SessionRescheduled) -> str | None:
    moved = ev.previous_teacher_id and ev.previous_teacher_id != ev.teacher_id
    return teacher_key(env.stream_id, ev.previous_teacher_id) if moved else None


@teacher_moves.on(SessionRescheduled, key=_moved_key)
def _moved_away(doc, env, ev: SessionRescheduled) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("moved", {})[ev.session_id] = env.stream_version


# -- a session's attendance sheet ---------------------------------------------------------
session_sheet = Projection("session_sheet", sources=("teaching",))


@session_sheet.on(SessionScheduled, key=by_session)
def _sheet_scheduled(doc, env, ev: SessionScheduled) -> None:
    doc.update(session={**ev.model_dump(mode="json"), "cancelled": False}, jurisdiction=env.jurisdiction)
    doc.setdefault("entries", {})


@session_sheet.on(SessionRescheduled, key=by_session)
def _sheet_rescheduled(doc, env, ev: SessionRescheduled) -> None:
    doc["session"].update(ev.model_dump(mode="json", exclude=AS_IT_STOOD))


@session_sheet.on(SessionCancelled, key=by_session)
def _sheet_cancelled(doc, env, ev: SessionCancelled) -> None:
    doc["session"]["cancelled"] = True


def _entry(doc, env, cadre_id: str) -> dict:
    doc.setdefault("jurisdiction", env.jurisdiction)
    return doc.setdefault("entries", {}).setdefault(cadre_id, {"status": "未签到"})


# 我的课表: a trainee's own lines of a class's sheets, one document per trainee and class
# (`<cadre id>@<class id>`), so the page reads one document instead of every session's sheet
# of the class (eight sheets of 50 entries: the slowest read at 20,000 cadres, docs/benchmarks.md,
# "Every read at 20,000 cadres"). Each line is folded by the same function as the sheet's.
trainee_sessions = Projection("trainee_sessions", sources=("teaching",))


def trainee_sessions_key(cadre_id: str, class_id: str) -> str:
    return f"{cadre_id}@{class_id}"


def _own_line(doc, env, ev) -> dict:
    doc.update(cadre_id=ev.cadre_id, class_id=ev.class_id)
    doc.setdefault("jurisdiction", env.jurisdiction)
    return doc.setdefault("sessions", {}).setdefault(ev.session_id, {"status": "未签到"})


def _line(event_cls):
    """Folds `update(entry, env, ev)` into the trainee's line of the session's sheet and into
    the same line of their own sheets of the class (`trainee_sessions`)."""

    def register(update):
        session_sheet.on(event_cls, key=by_session)(
            lambda doc, env, ev: update(_entry(doc, env, ev.cadre_id), env, ev)
        )
        trainee_sessions.on(event_cls, key=lambda env, ev: trainee_sessions_key(ev.cadre_id, ev.class_id))(
            lambda doc, env, ev: update(_own_line(doc, env, ev), env, ev)
        )
        return update

    return register


@_line(SessionAttended)
def _line_attended(entry, env, ev: SessionAttended) -> None:
    entry.update(status="出勤", late=ev.late, hours=ev.hours, checked_in_at=env.occurred_at.isoformat())


@_line(EarlyLeaveRecorded)
def _line_early(entry, env, ev: EarlyLeaveRecorded) -> None:
    entry["early_leave_minutes"] = ev.minutes


@_line(LeaveRequested)
def _line_leave(entry, env, ev: LeaveRequested) -> None:
    entry["leave"] = {"reason": ev.reason, "status": "待审批"}


@_line(LeaveDecided)
def _line_decided(entry, env, ev: LeaveDecided) -> None:
    entry.setdefault("leave", {}).update(
        status="已批准" if ev.approved else "未批准", note=ev.note, by=env.actor.name
    )


@_line(SessionRated)
def _line_rated(entry, env, ev: SessionRated) -> None:
    # The trainee's own page shows a session as rated (each is rated once; classroom.py).
    entry["rated"] = ev.rating


@_line(AbsenceRecorded)
def _line_absent(entry, env, ev: AbsenceRecorded) -> None:
    entry["status"] = "请假" if ev.excused else "缺勤"


@_line(AbsenceExcused)
def _line_excused(entry, env, ev: AbsenceExcused) -> None:
    entry["status"] = "请假"
    entry["leave"] = {"reason": ev.reason, "status": "已补假", "note": "", "by": env.actor.name}


@session_sheet.on(AttendanceClosed, key=by_session)
def _sheet_closed(doc, env, ev: AttendanceClosed) -> None:
    # the roll call shows 补假 (not 请假) once the session is closed
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc["closed"] = True


# -- per class: attendance per trainee, graduation -----------------------------------------
class_attendance = Projection("class_attendance", sources=("teaching",))
EMPTY = {
    "attended": 0,
    "absent": 0,
    "excused": 0,
    "late": 0,
    "early_leave": 0,
    "hours": 0.0,
    "hours_by_kind": {},
}


def _row(doc, env, cadre_id: str) -> dict:
    doc.setdefault("jurisdiction", env.jurisdiction)
    return doc.setdefault("trainees", {}).setdefault(cadre_id, {**EMPTY, "hours_by_kind": {}})


@class_attendance.on(SessionAttended, key=by_class)
def _att(doc, env, ev: SessionAttended) -> None:
    row = _row(doc, env, ev.cadre_id)
    row["attended"] += 1
    row["late"] += int(ev.late)
    row["hours"] = round(row["hours"] + ev.hours, 2)
    kind = ev.kind or "其他"
    row["hours_by_kind"][kind] = round(row["hours_by_kind"].get(kind, 0) + ev.hours, 2)


@class_attendance.on(EarlyLeaveRecorded, key=by_class)
def _att_early(doc, env, ev: EarlyLeaveRecorded) -> None:
    _row(doc, env, ev.cadre_id)["early_leave"] += 1


@class_attendance.on(AbsenceRecorded, key=by_class)
def _att_absent(doc, env, ev: AbsenceRecorded) -> None:
    row = _row(doc, env, ev.cadre_id)
    row["absent"] += 1
    row["excused"] += int(ev.excused)


@class_attendance.on(AbsenceExcused, key=by_class)
def _att_excused(doc, env, ev: AbsenceExcused) -> None:
    _row(doc, env, ev.cadre_id)["excused"] += 1


@class_attendance.on(TraineeGraduated, key=by_class)
def _graduated(doc, env, ev: TraineeGraduated) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("graduated", {})[ev.cadre_id] = ev.model_dump(mode="json")


@class_attendance.on(TraineeNotGraduated, key=by_class)
def _not_graduated(doc, env, ev: TraineeNotGraduated) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("not_graduated", {})[ev.cadre_id] = ev.reasons


# -- per trainee: the hours ledger ---------------------------------------------------------
trainee_hours = Projection("trainee_hours", sources=("teaching",))
by_cadre = lambda env, ev: ev.cadre_id  # noqa: E731


def _credit(doc, env, hours: float, kind: str, bucket: str) -> None:
    if env.jurisdiction not in doc.setdefault("jurisdictions", []):
        doc["jurisdictions"].append(env.jurisdiction)
    by_kind = doc.setdefault("by_kind", {})
    by_kind[kind] = round(by_kind.get(kind, 0) + hours, 2)
    doc[bucket] = round(doc.get(bucket, 0) + hours, 2)
    doc["total"] = round(doc.get("total", 0) + hours, 2)


@trainee_hours.on(SessionAttended, key=by_cadre)
def _hours_class(doc, env, ev: SessionAttended) -> None:
    doc["cadre_id"] = ev.cadre_id
    _credit(doc, env, ev.hours, ev.kind or "其他", "class_hours")
    classes = doc.setdefault("classes", {})
    classes[ev.class_id] = round(classes.get(ev.class_id, 0) + ev.hours, 2)


@trainee_hours.on(OnlineHoursCredited, key=by_cadre)
def _hours_online(doc, env, ev: OnlineHoursCredited) -> None:
    doc["cadre_id"] = ev.cadre_id
    if ev.name:
        doc["name"] = ev.name
    _credit(doc, env, ev.hours, ev.kind or "网络学习", "online_hours")


@trainee_hours.on(TraineeGraduated, key=by_cadre)
def _hours_name(doc, env, ev: TraineeGraduated) -> None:
    doc.update(cadre_id=ev.cadre_id, name=ev.name, unit=ev.unit)
    doc.setdefault("jurisdictions", [env.jurisdiction])


# -- feedback per course and teacher --------------------------------------------------------
# Per class, not per jurisdiction: ratings come from every session's stream, and one
# document per jurisdiction would grow its guard by a stream per session taught there.
feedback = Projection("feedback", sources=("teaching",))


@feedback.on(SessionScheduled, key=by_class)
def _fb_session(doc, env, ev: SessionScheduled) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    # A rating may be folded before its session (different streams): keep its counts.
    s = doc.setdefault("sessions", {}).setdefault(ev.session_id, {"count": 0, "sum": 0})
    s.update(
        course_id=ev.course_id,
        course_title=ev.course_title,
        teacher_id=ev.teacher_id,
        teacher_name=ev.teacher_name,
    )


@feedback.on(SessionRescheduled, key=by_class)
def _fb_teacher(doc, env, ev: SessionRescheduled) -> None:
    doc["sessions"][ev.session_id].update(teacher_id=ev.teacher_id, teacher_name=ev.teacher_name)


@feedback.on(SessionRated, key=by_class)
def _fb_rated(doc, env, ev: SessionRated) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)
    s = doc.setdefault("sessions", {}).setdefault(ev.session_id, {"count": 0, "sum": 0})
    s["count"] += 1
    s["sum"] += ev.rating
    if ev.comment:
        s.setdefault("comments", []).append(ev.comment)


# -- the party school's leave inbox, per class ----------------------------------------------
# The inbox asks "which covered classes have not ended, and what is still open in them":
# one small document per class (its dates from ClassOpened, its open requests only) so the
# inbox scans these instead of every roster with its trainees, and reads rosters, timetables
# and sheets by `_id` only for the classes with something open. A decided or excused
# request is removed, so the document stays as small as what is waiting.
leave_inbox = Projection("leave_inbox", sources=("selection", "teaching"))


@leave_inbox.on(ClassOpened, key=by_class)
def _inbox_class(doc, env, ev: ClassOpened) -> None:
    doc.update(class_id=ev.class_id, ends_on=ev.ends_on.isoformat(), jurisdiction=env.jurisdiction)
    doc.setdefault("pending", {})


def _request_key(ev) -> str:
    return f"{ev.session_id}/{ev.cadre_id}"


@leave_inbox.on(LeaveRequested, key=by_class)
def _inbox_requested(doc, env, ev: LeaveRequested) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("pending", {})[_request_key(ev)] = {
        "session_id": ev.session_id,
        "cadre_id": ev.cadre_id,
        "reason": ev.reason,
    }


def _inbox_answered(doc, env, ev) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("pending", {}).pop(_request_key(ev), None)


# A decision answers the request; 补假 after the roll call closed turns it into 已补假.
leave_inbox.on(LeaveDecided, key=by_class)(_inbox_answered)
leave_inbox.on(AbsenceExcused, key=by_class)(_inbox_answered)

# -- per trainee: the classes naming them (学员 我的班次) --------------------------------------
# Keyed by the cadre id (the trainee token's person id): 我的班次 reads one document by
# `_id` and then the few rosters it names, instead of asking the store for every roster
# holding the trainee (FerretDB has no index on `trainees.cadre_id`: it reads them all).
trainee_classes = Projection("trainee_classes", sources=("selection",))


def _class_status(status: str):
    def apply(doc, env, ev) -> None:
        doc["cadre_id"] = ev.cadre_id
        classes = doc.setdefault("classes", {})
        # A nomination of someone the class already names keeps their status, as the roster does.
        if status != "nominated" or ev.class_id not in classes:
            classes[ev.class_id] = status

    return apply


for _event, _status_name in (
    (TraineeNominated, "nominated"),
    (NominationConfirmed, "confirmed"),
    (NominationRejected, "rejected"),
    (NominationWaitlisted, "waitlisted"),
    (NominationWithdrawn, "withdrawn"),
):
    trainee_classes.on(_event, key=by_cadre)(_class_status(_status_name))


PROJECTIONS = [
    roster,
    catalogue,
    class_timetable,
    teacher_load,
    teacher_moves,
    session_sheet,
    trainee_sessions,
    class_attendance,
    trainee_hours,
    feedback,
    leave_inbox,
    trainee_classes,
]
