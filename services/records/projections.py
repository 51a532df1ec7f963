"""Records' read models, keyed by what the API reads (FerretDB indexes only `_id`).

* `records_roster`  — one doc per class: the roster built from selection's events
  (confirmed, withdrawn, study group) and the sessions teaching scheduled.
* `records_class`   — one doc per class: recorders now and their history, the scheme,
  supervision notes, and per trainee the last observation date per role (completeness)
  and cumulative points per item (ranking, portrait). Its `_applied` guard holds one
  entry per trainee stream of the class: bounded by the class size.
* `records_trainee` — one doc per class and trainee: every record (corrections marked
  both ways), score sheets, the final comment, attendance from teaching.
* `records_week`    — one doc per class and week: the score sheets of that week, for
  the weekly group review and the monthly summary.
"""

from __future__ import annotations

from shared.contracts.records import (
    AssessmentSchemeSet,
    AssessmentScored,
    FinalCommentWritten,
    RecorderAssigned,
    RecorderRelieved,
    RecordLogged,
    SupervisionNoted,
)
from shared.contracts.selection import (
    ClassOpened,
    NominationConfirmed,
    NominationWithdrawn,
    TraineeAssignedToGroup,
)
from shared.contracts.teaching import (
    AbsenceExcused,
    AbsenceRecorded,
    SessionAttended,
    SessionCancelled,
    SessionScheduled,
    TraineeGraduated,
)
from shared.projection import Projection, guard_key


def fk(ident: str) -> str:
    """An id used as a field name: "." and a leading "$" are not allowed there."""
    return guard_key(ident)


def unfk(field: str) -> str:
    return field.replace("\uff0e", ".").replace("\uff04", "$")


def trainee_key(class_id: str, cadre_id: str) -> str:
    return f"{class_id}:{cadre_id}"


def week_key(class_id: str, week: str) -> str:
    return f"{class_id}:{week}"


def _stamp(doc, env) -> None:
    doc.setdefault("jurisdiction", env.jurisdiction)


# -- roster ------------------------------------------------------------------------
roster = Projection("records_roster", sources=("selection", "teaching"))


@roster.on(ClassOpened, key=lambda env, ev: ev.class_id)
def _opened(doc, env, ev: ClassOpened) -> None:
    doc.update(
        class_id=ev.class_id,
        title=ev.title,
        starts_on=ev.starts_on.isoformat(),
        ends_on=ev.ends_on.isoformat(),
        organiser=ev.organiser,
        jurisdiction=env.jurisdiction,
        study_groups=[g.model_dump() for g in ev.study_groups],
    )
    doc.setdefault("trainees", {})
    doc.setdefault("sessions", {})


@roster.on(NominationConfirmed, key=lambda env, ev: ev.class_id)
def _confirmed(doc, env, ev: NominationConfirmed) -> None:
    _stamp(doc, env)
    old = doc.setdefault("trainees", {}).get(fk(ev.cadre_id), {})
    doc["trainees"][fk(ev.cadre_id)] = {
        "name": ev.name,
        "unit": ev.unit,
        "group": old.get("group", ""),
        "status": "confirmed",
    }


@roster.on(NominationWithdrawn, key=lambda env, ev: ev.class_id)
def _withdrawn(doc, env, ev: NominationWithdrawn) -> None:
    t = doc.setdefault("trainees", {}).get(fk(ev.cadre_id))
    if t is not None:
        t["status"] = "withdrawn"


@roster.on(TraineeAssignedToGroup, key=lambda env, ev: ev.class_id)
def _grouped(doc, env, ev: TraineeAssignedToGroup) -> None:
    t = doc.setdefault("trainees", {}).get(fk(ev.cadre_id))
    if t is not None:
        t["group"] = ev.group


@roster.on(SessionScheduled, key=lambda env, ev: ev.class_id)
def _scheduled(doc, env, ev: SessionScheduled) -> None:
    doc.setdefault("sessions", {})[ev.session_id] = {
        "title": ev.course_title,
        "kind": ev.kind,
        "on": ev.on.isoformat(),
        "hours": ev.hours,
        "required": ev.required,
    }


@roster.on(SessionCancelled, key=lambda env, ev: ev.class_id)
def _cancelled(doc, env, ev: SessionCancelled) -> None:
    doc.setdefault("sessions", {}).pop(ev.session_id, None)


# -- class --------------------------------------------------------------------------
klass = Projection("records_class", sources=("records",))


def _class_doc(doc, env, class_id: str) -> None:
    _stamp(doc, env)
    doc.setdefault("class_id", class_id)
    for k in ("recorders", "coverage", "categories", "totals"):
        doc.setdefault(k, {})
    for k in ("history", "notes", "weeks"):
        doc.setdefault(k, [])


@klass.on(RecorderAssigned, key=lambda env, ev: ev.class_id)
def _assigned(doc, env, ev: RecorderAssigned) -> None:
    _class_doc(doc, env, ev.class_id)
    doc["recorders"][fk(ev.person_id)] = {
        "person_id": ev.person_id,
        "name": ev.name,
        "role": ev.role,
        "since": ev.since.isoformat(),
    }
    doc["history"].append(
        {
            "person_id": ev.person_id,
            "name": ev.name,
            "role": ev.role,
            "since": ev.since.isoformat(),
            "until": None,
            "assigned_by": env.actor.name,
        }
    )


@klass.on(RecorderRelieved, key=lambda env, ev: ev.class_id)
def _relieved(doc, env, ev: RecorderRelieved) -> None:
    _class_doc(doc, env, ev.class_id)
    doc["recorders"].pop(fk(ev.person_id), None)
    for h in reversed(doc["history"]):
        if h["person_id"] == ev.person_id and h["role"] == ev.role and h["until"] is None:
            h["until"] = ev.until.isoformat()
            break


@klass.on(AssessmentSchemeSet, key=lambda env, ev: ev.class_id)
def _scheme(doc, env, ev: AssessmentSchemeSet) -> None:
    _class_doc(doc, env, ev.class_id)
    doc["scheme"] = {
        "scheme_id": ev.scheme_id,
        "title": ev.title,
        "items": ev.items,
        "set_by": env.actor.name,
    }


@klass.on(SupervisionNoted, key=lambda env, ev: ev.class_id)
def _noted(doc, env, ev: SupervisionNoted) -> None:
    _class_doc(doc, env, ev.class_id)
    doc["notes"].append(
        {
            "note_id": ev.note_id,
            "on": ev.on.isoformat(),
            "text": ev.text,
            "author_name": ev.author_name,
            "logged_at": env.occurred_at.isoformat(),
        }
    )


@klass.on(RecordLogged, key=lambda env, ev: ev.class_id)
def _covered(doc, env, ev: RecordLogged) -> None:
    _class_doc(doc, env, ev.class_id)
    by_role = doc["coverage"].setdefault(fk(ev.cadre_id), {})
    on = ev.observed_on.isoformat()
    if on > by_role.get(ev.author_role, ""):
        by_role[ev.author_role] = on
    cats = doc["categories"].setdefault(fk(ev.cadre_id), {})
    cats[ev.category] = cats.get(ev.category, 0) + 1


@klass.on(AssessmentScored, key=lambda env, ev: ev.class_id)
def _totalled(doc, env, ev: AssessmentScored) -> None:
    _class_doc(doc, env, ev.class_id)
    items = doc["totals"].setdefault(fk(ev.cadre_id), {})
    for s in ev.scores:
        items[s.item_id] = items.get(s.item_id, 0.0) + s.points
    week = ev.week.isoformat()
    if week not in doc["weeks"]:
        doc["weeks"].append(week)
        doc["weeks"].sort()


# -- trainee file --------------------------------------------------------------------
trainee = Projection("records_trainee", sources=("records", "teaching"))


def _file(doc, env, class_id: str, cadre_id: str) -> None:
    doc.setdefault("class_id", class_id)
    doc.setdefault("cadre_id", cadre_id)
    for k in ("records", "sheets"):
        doc.setdefault(k, [])
    doc.setdefault("attended", {})
    doc.setdefault("absent", {})


def _tkey(env, ev) -> str:
    return trainee_key(ev.class_id, ev.cadre_id)


@trainee.on(RecordLogged, key=_tkey)
def _logged(doc, env, ev: RecordLogged) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["records"].append(
        {**ev.model_dump(mode="json"), "logged_at": env.occurred_at.isoformat(), "corrected_by": None}
    )
    if ev.corrects:
        for r in doc["records"]:
            if r["record_id"] == ev.corrects:
                r["corrected_by"] = ev.record_id


@trainee.on(AssessmentScored, key=_tkey)
def _sheet(doc, env, ev: AssessmentScored) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["sheets"].append({**ev.model_dump(mode="json"), "logged_at": env.occurred_at.isoformat()})


@trainee.on(FinalCommentWritten, key=_tkey)
def _final(doc, env, ev: FinalCommentWritten) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["final_comment"] = {
        "text": ev.text,
        "author_name": ev.author_name,
        "author_role": ev.author_role,
        "written_at": env.occurred_at.isoformat(),
    }


@trainee.on(SessionAttended, key=_tkey)
def _attended(doc, env, ev: SessionAttended) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["attended"][ev.session_id] = {
        "hours": ev.hours,
        "on": ev.on.isoformat() if ev.on else None,
        "late": ev.late,
    }
    doc["absent"].pop(ev.session_id, None)


@trainee.on(AbsenceRecorded, key=_tkey)
def _absent(doc, env, ev: AbsenceRecorded) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["absent"][ev.session_id] = {"excused": ev.excused, "on": ev.on.isoformat() if ev.on else None}


@trainee.on(AbsenceExcused, key=_tkey)
def _excused(doc, env, ev: AbsenceExcused) -> None:
    # 补假: the school excused the absence afterwards (services/teaching/README.md)
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["absent"].setdefault(ev.session_id, {"on": None})["excused"] = True


@trainee.on(TraineeGraduated, key=_tkey)
def _graduated(doc, env, ev: TraineeGraduated) -> None:
    _file(doc, env, ev.class_id, ev.cadre_id)
    _stamp(doc, env)
    doc["graduated"] = {
        "on": ev.graduated_on.isoformat(),
        "hours": ev.hours,
        "attendance_rate": ev.attendance_rate,
    }


# -- week ----------------------------------------------------------------------------
week = Projection("records_week", sources=("records",))


@week.on(AssessmentScored, key=lambda env, ev: week_key(ev.class_id, ev.week.isoformat()))
def _week_sheet(doc, env, ev: AssessmentScored) -> None:
    _stamp(doc, env)
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("week", ev.week.isoformat())
    points = doc.setdefault("points", {}).setdefault(fk(ev.cadre_id), {})
    for s in ev.scores:
        points[s.item_id] = s.points
    scorers = doc.setdefault("scorers", {}).setdefault(fk(ev.cadre_id), [])
    if ev.scorer_name not in scorers:
        scorers.append(ev.scorer_name)
    if ev.note:
        doc.setdefault("notes", {}).setdefault(fk(ev.cadre_id), []).append(
            {"scorer_name": ev.scorer_name, "scorer_role": ev.scorer_role, "note": ev.note}
        )


# -- the classes a recorder holds or held a role in ------------------------------------------------
# One document per person (the recorder token's user_id), so 我记录的班次 reads it by `_id` and then
# only those classes, instead of scanning every class of five years (FerretDB indexes only `_id`).
recorder_classes = Projection("records_recorder_classes", sources=("records",))


@recorder_classes.on(RecorderAssigned, key=lambda env, ev: ev.person_id)
def _recorder_class(doc, env, ev: RecorderAssigned) -> None:
    doc.setdefault("person_id", ev.person_id)
    doc.setdefault("classes", {})[fk(ev.class_id)] = ev.since.isoformat()


PROJECTIONS = [roster, klass, trainee, week, recorder_classes]
