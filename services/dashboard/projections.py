"""The dashboard's read models, folded from the four services' contract events.

Both projections key documents so that each stays bounded, whatever the province's
size (the kernel's per-document `_applied` guard grows by one entry per source
stream):

- `dash_classes`: one document per class (班次) — the class, its trainees (姓名, 单位,
  attendance, records, assessment, milestones, evaluations, mentor tasks, talks) and
  `n`, the class's counters, kept incrementally (domain.trainee_contribution). Streams
  feeding it are the class's own, its sessions', records' and milestones' — bounded by
  the class's size.
- `dash_cadres`: registry cadres in buckets, one document per (jurisdiction, hash of
  cadre id mod BUCKETS) — training years and hours per year, and `n`, per-year counts
  (domain.cadre_contribution). 20,000 cadres of a county make 64 documents of ~300.

The roll-up (rollup.py) keeps only the `n` of each document in memory and sums them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from services.dashboard import domain
from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.projection import Projection, guard_key

SOURCES = ("selection", "teaching", "records", "followup")
BUCKETS = 64

classes = Projection("dash_classes", sources=SOURCES)
# The buckets keep counters and years, no name: their writer reads no key (Projection.personal).
cadres = Projection("dash_cadres", sources=SOURCES, personal=False)


# -- classes ----------------------------------------------------------------------
def _class_doc(doc: dict, env) -> dict:
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("trainees", {})
    doc.setdefault("n", {})
    doc.setdefault("c", {})
    return doc


def _trainee(doc: dict, env, cadre_id: str, change: Callable[[dict], None]) -> None:
    """Apply `change` to one trainee and move the class counters by the difference."""
    _class_doc(doc, env)
    t = doc["trainees"].setdefault(guard_key(cadre_id), {"cadre_id": cadre_id})
    old = domain.trainee_contribution(t)
    change(t)
    domain.diff_into(doc["n"], old, domain.trainee_contribution(t))


def _refresh_class_counts(doc: dict) -> None:
    sessions = doc.get("sessions") or {}
    outcomes = doc.get("outcomes") or {}
    roles = doc.get("roles") or {}
    doc["c"] = {
        k: v
        for k, v in {
            "classes": 1 if doc.get("opened") else 0,
            "sessions": len(sessions),
            "planned_hours": sum(sessions.values()),
            "outcomes": len(outcomes),
            "outcomes_endorsed": sum(1 for o in outcomes.values() if o.get("endorsed")),
            "core_roles_complete": 1 if all(roles.get(r) for r in rec.CORE_ROLES) else 0,
            "recorders": sum(len(v) for v in roles.values()),
        }.items()
        if v
    }


def _by_class(env, ev) -> str:
    return ev.class_id


def on_class(event_cls):
    return classes.on(event_cls, key=_by_class)


def _trainee_paths(env, ev) -> tuple[str, ...]:
    return ("jurisdiction", "trainees." + guard_key(ev.cadre_id), "n", "c")


def on_trainee(event_cls):
    """A handler changing one trainee and the class's counters only (through `_trainee`): the
    writer updates those parts of the class document instead of rewriting all its trainees."""
    return classes.on(event_cls, key=_by_class, touches=_trainee_paths)


@on_class(sel.ClassOpened)
def _opened(doc, env, ev: sel.ClassOpened) -> None:
    _class_doc(doc, env)
    doc.update(
        class_id=ev.class_id,
        title=ev.title,
        capacity=ev.capacity,
        starts_on=ev.starts_on.isoformat(),
        ends_on=ev.ends_on.isoformat(),
        organiser=ev.organiser,
        category=ev.category,
        level=ev.level,
        jurisdiction=env.jurisdiction,
        opened=True,
    )
    _refresh_class_counts(doc)


@on_trainee(sel.TraineeNominated)
def _nominated(doc, env, ev: sel.TraineeNominated) -> None:
    def change(t):
        t.update(name=ev.name, unit=ev.unit, nominated=True)
        t.setdefault("status", "nominated")

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(sel.NominationConfirmed)
def _confirmed(doc, env, ev: sel.NominationConfirmed) -> None:
    def change(t):
        # A confirmation without a nomination seen (e.g. a waitlist promotion) still counts once as nominated.
        t.update(name=ev.name, unit=ev.unit, nominated=True, status="confirmed")

    _trainee(doc, env, ev.cadre_id, change)


def _status(status: str):
    def apply(doc, env, ev) -> None:
        _trainee(doc, env, ev.cadre_id, lambda t: t.update(status=status))

    return apply


on_trainee(sel.NominationRejected)(_status("rejected"))
on_trainee(sel.NominationWaitlisted)(_status("waitlisted"))
on_trainee(sel.NominationWithdrawn)(_status("withdrawn"))


@on_trainee(sel.TraineeAssignedToGroup)
def _grouped(doc, env, ev: sel.TraineeAssignedToGroup) -> None:
    _trainee(doc, env, ev.cadre_id, lambda t: t.update(group=ev.group))


@on_class(tea.SessionScheduled)
def _scheduled(doc, env, ev: tea.SessionScheduled) -> None:
    _class_doc(doc, env).setdefault("sessions", {})[guard_key(ev.session_id)] = ev.hours
    _refresh_class_counts(doc)


@on_class(tea.SessionCancelled)
def _cancelled(doc, env, ev: tea.SessionCancelled) -> None:
    _class_doc(doc, env).setdefault("sessions", {}).pop(guard_key(ev.session_id), None)
    _refresh_class_counts(doc)


@on_trainee(tea.SessionAttended)
def _attended(doc, env, ev: tea.SessionAttended) -> None:
    def change(t):
        t["attended"] = t.get("attended", 0) + 1
        t["hours"] = round(t.get("hours", 0) + ev.hours, 2)

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(tea.AbsenceRecorded)
def _absent(doc, env, ev: tea.AbsenceRecorded) -> None:
    def change(t):
        t["absent"] = t.get("absent", 0) + 1
        if ev.excused:
            t["excused"] = t.get("excused", 0) + 1

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(tea.AbsenceExcused)
def _excused(doc, env, ev: tea.AbsenceExcused) -> None:
    # 补假: an absence already counted becomes excused (services/teaching/README.md)
    def change(t):
        t["excused"] = t.get("excused", 0) + 1

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(tea.TraineeGraduated)
def _graduated(doc, env, ev: tea.TraineeGraduated) -> None:
    def change(t):
        t.update(graduated=True, not_graduated=False)
        t.pop("not_graduated_reasons", None)

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(tea.TraineeNotGraduated)
def _not_graduated(doc, env, ev: tea.TraineeNotGraduated) -> None:
    def change(t):
        t.update(not_graduated=True, graduated=False, not_graduated_reasons=list(ev.reasons))

    _trainee(doc, env, ev.cadre_id, change)


@on_class(rec.RecorderAssigned)
def _recorder(doc, env, ev: rec.RecorderAssigned) -> None:
    people = _class_doc(doc, env).setdefault("roles", {}).setdefault(ev.role, [])
    if ev.person_id not in people:
        people.append(ev.person_id)
    _refresh_class_counts(doc)


@on_class(rec.RecorderRelieved)
def _relieved(doc, env, ev: rec.RecorderRelieved) -> None:
    people = _class_doc(doc, env).setdefault("roles", {}).setdefault(ev.role, [])
    if ev.person_id in people:
        people.remove(ev.person_id)
    _refresh_class_counts(doc)


@on_trainee(rec.RecordLogged)
def _record(doc, env, ev: rec.RecordLogged) -> None:
    if ev.corrects:  # a correction replaces a record; the count of observations stays
        _class_doc(doc, env)
        return
    _trainee(doc, env, ev.cadre_id, lambda t: t.update(records=t.get("records", 0) + 1))


@on_class(rec.AssessmentSchemeSet)
def _scheme(doc, env, ev: rec.AssessmentSchemeSet) -> None:
    _class_doc(doc, env)
    doc["scheme_max"] = sum(float(i.get("max_points") or 0) for i in ev.items) or 100


@on_trainee(rec.AssessmentScored)
def _scored(doc, env, ev: rec.AssessmentScored) -> None:
    def change(t):
        t["assess_max"] = doc.get("scheme_max") or 100
        weeks = t.setdefault("assess_weeks", {})
        # Several scorers in one week: their points for that week add up.
        week = ev.week.isoformat()
        weeks[week] = round(weeks.get(week, 0) + sum(s.points for s in ev.scores), 2)

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(fu.MilestoneScheduled)
def _ms_scheduled(doc, env, ev: fu.MilestoneScheduled) -> None:
    def change(t):
        t.setdefault("name", ev.name)
        t.setdefault("unit", ev.unit)
        t.setdefault("milestones", {}).setdefault(
            str(ev.month), {"state": "scheduled", "due_on": ev.due_on.isoformat()}
        )

    _trainee(doc, env, ev.cadre_id, change)


def _milestone(update: Callable[[dict, object], None]):
    def apply(doc, env, ev) -> None:
        def change(t):
            ms = t.setdefault("milestones", {}).setdefault(str(ev.month), {"state": "scheduled"})
            update(ms, ev)

        _trainee(doc, env, ev.cadre_id, change)

    return apply


def _due(ms, ev):
    ms["due"] = True


def _done(ms, ev):
    ms.update(state="completed", due=True, on_time=ev.on_time, completed_on=ev.completed_on.isoformat())


def _overdue(ms, ev):
    ms["due"] = True
    if ms.get("state") != "completed":
        ms["state"] = "overdue"


on_trainee(fu.MilestoneDue)(_milestone(_due))
on_trainee(fu.MilestoneCompleted)(_milestone(_done))
on_trainee(fu.MilestoneOverdue)(_milestone(_overdue))


@on_trainee(fu.EvaluationSubmitted)
def _evaluated(doc, env, ev: fu.EvaluationSubmitted) -> None:
    if not ev.scores:
        _class_doc(doc, env)
        return
    score = sum(ev.scores.values()) / len(ev.scores)

    def change(t):
        total, count = t.setdefault("evaluations", {}).get(str(ev.month), (0, 0))
        t["evaluations"][str(ev.month)] = [round(total + score, 4), count + 1]

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(fu.MentorAssigned)
def _mentor(doc, env, ev: fu.MentorAssigned) -> None:
    _trainee(doc, env, ev.cadre_id, lambda t: t.update(mentor=ev.mentor_name))


@on_trainee(fu.MentorTaskCompleted)
def _task(doc, env, ev: fu.MentorTaskCompleted) -> None:
    def change(t):
        tasks = t.setdefault("tasks", [])
        if ev.task not in tasks:
            tasks.append(ev.task)

    _trainee(doc, env, ev.cadre_id, change)


@on_trainee(fu.SharingTalkGiven)
def _talk(doc, env, ev: fu.SharingTalkGiven) -> None:
    _trainee(doc, env, ev.cadre_id, lambda t: t.update(talks=t.get("talks", 0) + 1))


@on_class(fu.OutcomeReported)
def _outcome(doc, env, ev: fu.OutcomeReported) -> None:
    outcomes = _class_doc(doc, env).setdefault("outcomes", {})
    outcomes.setdefault(guard_key(ev.outcome_id), {}).update(kind=ev.kind, title=ev.title)
    _refresh_class_counts(doc)


@on_class(fu.OutcomeEndorsed)
def _endorsed(doc, env, ev: fu.OutcomeEndorsed) -> None:
    outcomes = _class_doc(doc, env).setdefault("outcomes", {})
    outcomes.setdefault(guard_key(ev.outcome_id), {})["endorsed"] = ev.kind
    _refresh_class_counts(doc)


# -- cadre buckets ------------------------------------------------------------------
def bucket_of(jurisdiction: str, cadre_id: str) -> str:
    return f"{jurisdiction}|{zlib.crc32(cadre_id.encode()) % BUCKETS:02d}"


# Per event class, whether it may carry a `home_jurisdiction` (`home_of`). Asked of every cadre
# event twice (its bucket, its county), and pydantic answers a field the class lacks by raising
# inside its __getattr__: ~2.8 µs each, 2-3 % of a province dashboard's first start (heldcpu).
_HOMED: dict[type, bool] = {}


def home_of(env, ev) -> str:
    """The cadre's own county: a province-run class's attendance and graduation carry it,
    so they count for the county that registered the cadre, not for the province."""
    kind = type(ev)
    homed = _HOMED.get(kind)
    if homed is None:
        fields = getattr(kind, "model_fields", None)
        homed = _HOMED[kind] = fields is None or "home_jurisdiction" in fields
    return (getattr(ev, "home_jurisdiction", None) if homed else None) or env.jurisdiction


def _by_bucket(env, ev) -> str:
    return bucket_of(home_of(env, ev), ev.cadre_id)


def _cadre_paths(env, ev) -> tuple[str, ...]:
    return ("jurisdiction", "cadres." + guard_key(ev.cadre_id), "n")


def on_cadre(event_cls):
    """A handler changing one cadre of a bucket and the bucket's counters (through `_cadre`): the
    writer updates those, not the bucket's ~300 cadres (shared/projector.partial_update)."""
    return cadres.on(event_cls, key=_by_bucket, touches=_cadre_paths)


def _cadre(doc: dict, env, ev, change: Callable[[dict], None]) -> None:
    if "jurisdiction" not in doc:
        doc["jurisdiction"] = home_of(env, ev)
    n = doc.setdefault("n", {})
    c = doc.setdefault("cadres", {}).setdefault(guard_key(ev.cadre_id), {})
    old = domain.cadre_contribution(c)
    change(c)
    domain.diff_into(n, old, domain.cadre_contribution(c))


@on_cadre(sel.CadreRegistered)
def _registered(doc, env, ev: sel.CadreRegistered) -> None:
    _cadre(doc, env, ev, lambda c: c.update(registered=True))


def _add_hours(c: dict, year: int, hours: float) -> None:
    by_year = c.setdefault("hours", {})
    by_year[str(year)] = round(by_year.get(str(year), 0) + hours, 2)


@on_cadre(tea.SessionAttended)
def _hours(doc, env, ev: tea.SessionAttended) -> None:
    year = (ev.on or env.occurred_at.date()).year
    _cadre(doc, env, ev, lambda c: _add_hours(c, year, ev.hours))


@on_cadre(tea.OnlineHoursCredited)
def _online(doc, env, ev: tea.OnlineHoursCredited) -> None:
    _cadre(doc, env, ev, lambda c: _add_hours(c, ev.on.year, ev.hours))


@on_cadre(tea.TraineeGraduated)
def _trained(doc, env, ev: tea.TraineeGraduated) -> None:
    def change(c):
        years = c.setdefault("trained", [])
        if ev.graduated_on.year not in years:
            years.append(ev.graduated_on.year)

    _cadre(doc, env, ev, change)


PROJECTIONS = [classes, cadres]
