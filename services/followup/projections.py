"""Follow-up read models, each keyed by what the API reads (FerretDB uses an index only
for `_id` equality):

- `graduates`, one document per class: who graduated (from teaching's topic) and who
  already has milestones (from our own). The scheduler's to-do list: it scans this
  small collection (one document per class) for `pending > 0`.
- `files`, one document per cadre: the trainee's follow-up file (跟踪档案) over classes.
- `class_effect`, one document per class: every trainee's milestones, evaluations,
  mentor tasks and talks, and the class's outcomes — the effect report is computed from
  it on read. Fed by at most one stream per trainee of the class plus one per outcome,
  so its `_applied` guard stays as small as the class.
- `class_figures`, one document per class: the same trainees cut to what the effect
  report counts, and the class's outcomes; the report reads it (a tenth of the bytes).
- `class_outcomes`, one document per class with an outcome: the unit's sharing page.
"""

from __future__ import annotations

from services.followup.domain import STAGE_NAMES, stage_of
from shared.contracts.followup import (
    EVALUATOR_ROLES,
    MENTOR_TASKS,
    EvaluationSubmitted,
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
from shared.contracts.teaching import TraineeGraduated
from shared.projection import Projection, guard_key
from shared.scoped_ids import namespace


def _about(env, ev) -> str | None:
    """The jurisdiction an event is about: the trainee's home county when given."""
    return getattr(ev, "home_jurisdiction", None) or env.jurisdiction


def _class_owner(env, ev) -> str | None:
    """A class's documents belong to the class's jurisdiction, the one its qualified id names
    (shared/scoped_ids.py), not to the first graduate's county: a province-run class's report
    is written by the graduates of every county under it. None for an unqualified id (a class
    from before namespacing): the first writer's, as before."""
    return namespace(ev.class_id)


graduates = Projection(
    "graduates", sources=("teaching", "followup"), include_ancestors=True, scope=_about, owner=_class_owner
)


@graduates.on(TraineeGraduated, key=lambda env, ev: ev.class_id)
def _graduated(doc, env, ev: TraineeGraduated) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", _about(env, ev))
    doc.setdefault("class_jurisdiction", env.jurisdiction)  # whose plan applies
    if ev.class_title:
        doc["class_title"] = ev.class_title
    doc.setdefault("graduates", {})[guard_key(ev.cadre_id)] = {
        "cadre_id": ev.cadre_id,
        "name": ev.name,
        "unit": ev.unit,
        "graduated_on": ev.graduated_on.isoformat(),
        "jurisdiction": _about(env, ev),
    }
    _count_pending(doc)


@graduates.on(MilestoneScheduled, key=lambda env, ev: ev.class_id)
def _scheduled_graduate(doc, env, ev: MilestoneScheduled) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", _about(env, ev))
    doc.setdefault("scheduled", {})[guard_key(ev.cadre_id)] = True
    _count_pending(doc)


def _count_pending(doc) -> None:
    done = doc.get("scheduled", {})
    doc["pending"] = sum(1 for k in doc.get("graduates", {}) if k not in done)


def _move_status(m: dict, ev) -> None:
    """A milestone falls due once scheduled, and overdue unless completed: in the trainee's file
    and in the class's figures alike."""
    if isinstance(ev, MilestoneDue) and m["status"] == "scheduled":
        m["status"] = "due"
    elif isinstance(ev, MilestoneOverdue) and m["status"] != "completed":
        m["status"] = "overdue"


# -- one trainee in one class: shared by the file and the class report -------------------------
def _section(env, ev, detailed: bool) -> dict:
    return {
        "class_id": ev.class_id,
        "cadre_id": ev.cadre_id,
        "jurisdiction": _about(env, ev),  # the trainee's home: a county reads its own (reads.py)
        "milestones": {},
        "mentor": None,
        "mentor_history": [],
        "tasks": {},
        "talks": [],
        "detailed": detailed,
    }


# long: one case per event of a trainee's follow-up, each as the file and the report show it
def _apply_trainee(sec: dict, env, ev) -> None:
    match ev:
        case MilestoneScheduled():
            sec.update(name=ev.name, unit=ev.unit)
            sec["milestones"][str(ev.month)] = {
                "milestone_id": ev.milestone_id,
                "month": ev.month,
                "focus": STAGE_NAMES[stage_of(ev.month)],
                "due_on": ev.due_on.isoformat(),
                "grace_days": ev.grace_days,
                "required_roles": list(ev.required_roles),
                "status": "scheduled",
                "overdue": False,
                "completed_on": None,
                "on_time": None,
                "average_score": None,
                "evaluations": [],
            }
        case MilestoneDue():
            _move_status(sec["milestones"][str(ev.month)], ev)
        case MilestoneOverdue():
            m = sec["milestones"][str(ev.month)]
            m.update(overdue=True, missing_roles=list(ev.missing_roles))
            _move_status(m, ev)
        case EvaluationSubmitted():
            m = sec["milestones"][str(ev.month)]
            mean = round(sum(ev.scores.values()) / len(ev.scores), 2) if ev.scores else None
            item = {
                "role": ev.role,
                "role_name": EVALUATOR_ROLES[ev.role],
                "evaluator_name": ev.evaluator_name,
                "submitted_on": ev.submitted_on.isoformat(),
                "mean": mean,
                # the scores by question also in the class report: its averages by question
                "scores": dict(ev.scores),
            }
            if sec.get("detailed"):
                item.update(text=ev.text)
            m["evaluations"].append(item)
        case MilestoneCompleted():
            m = sec["milestones"][str(ev.month)]
            m.update(
                status="completed",
                completed_on=ev.completed_on.isoformat(),
                on_time=ev.on_time,
                average_score=ev.average_score,
            )
        case MentorAssigned():
            mentor = {
                "mentor_id": ev.mentor_id,
                "name": ev.mentor_name,
                "post": ev.mentor_post,
                "assigned_by": env.actor.name,
                "assigned_at": env.occurred_at.isoformat(),
            }
            sec["mentor_history"].append(mentor)
            sec["mentor"] = mentor
        case MentorTaskCompleted():
            sec["tasks"][ev.task] = {
                "task": ev.task,
                "task_name": MENTOR_TASKS[ev.task],
                "evidence": ev.evidence,
                "comment": ev.comment,
                "mentor_id": ev.mentor_id,
                "done_on": ev.done_on.isoformat(),
                "attachments": [a.model_dump() for a in ev.attachments],
            }
        case SharingTalkGiven():
            sec["talks"].append(
                {
                    "talk_id": ev.talk_id,
                    "on": ev.on.isoformat(),
                    "audience": ev.audience,
                    "topic": ev.topic,
                    "attendees": ev.attendees,
                }
            )


TRAINEE_EVENTS = (
    MilestoneScheduled,
    MilestoneDue,
    MilestoneOverdue,
    EvaluationSubmitted,
    MilestoneCompleted,
    MentorAssigned,
    MentorTaskCompleted,
    SharingTalkGiven,
)

files = Projection("files", sources=("followup",))
class_effect = Projection("class_effect", sources=("followup",), owner=_class_owner)


def _file(doc, env, ev) -> None:
    doc.setdefault("cadre_id", ev.cadre_id)
    doc.setdefault("jurisdiction", _about(env, ev))
    if isinstance(ev, MilestoneScheduled):
        doc.update(name=ev.name, unit=ev.unit)
    classes = doc.setdefault("classes", {})
    sec = classes.setdefault(guard_key(ev.class_id), _section(env, ev, detailed=True))
    _apply_trainee(sec, env, ev)


def _class(doc, env, ev) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", _class_owner(env, ev) or env.jurisdiction)
    doc.setdefault("outcomes", {})
    sec = doc.setdefault("trainees", {}).setdefault(guard_key(ev.cadre_id), _section(env, ev, detailed=False))
    _apply_trainee(sec, env, ev)


for _cls in TRAINEE_EVENTS:
    files.on(_cls, key=lambda env, ev: ev.cadre_id)(_file)
    class_effect.on(_cls, key=lambda env, ev: ev.class_id)(_class)


@class_effect.on(OutcomeReported, key=lambda env, ev: ev.class_id)
def _outcome(doc, env, ev: OutcomeReported) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", _class_owner(env, ev) or env.jurisdiction)
    doc.setdefault("trainees", {})
    doc.setdefault("outcomes", {})[guard_key(ev.outcome_id)] = {
        "outcome_id": ev.outcome_id,
        "kind": ev.kind,
        "title": ev.title,
        # Each author as {cadre_id, name}: erasing one blanks that entry alone (shared/projector.py
        # `scrub` keeps to the parts naming the person); report.outcome_view gives readers the names.
        "authors": [a.model_dump() for a in ev.authors],
        "reported_by": env.actor.name,
        "reported_by_id": env.actor.user_id,
        "on": ev.on.isoformat() if ev.on else None,
        "endorsements": [],
    }


@class_effect.on(OutcomeEndorsed, key=lambda env, ev: ev.class_id)
def _endorsed(doc, env, ev: OutcomeEndorsed) -> None:
    doc["outcomes"][guard_key(ev.outcome_id)]["endorsements"].append(
        {"kind": ev.kind, "by": ev.by, "on": ev.on.isoformat(), "note": ev.note}
    )


@class_effect.on(OutcomeDocumentAttached, key=lambda env, ev: ev.class_id)
def _document(doc, env, ev: OutcomeDocumentAttached) -> None:
    doc["outcomes"][guard_key(ev.outcome_id)]["document"] = {
        **ev.document.model_dump(),
        "by": env.actor.name,
        "at": env.occurred_at.isoformat(),
    }


# -- the effect report's figures: one document per class, each trainee cut to what it counts ----------
# The class report (reads.class_effect, report.class_effect) read the whole `class_effect`
# document: every evaluation with its evaluator, role and date, each mentor's history, every
# task's evidence and attachments, every talk's topic. At 50 trainees a year into the class
# that took 318-747 ms a request (docs/benchmarks.md, "The county at full size"), nearly all
# of it the store handing over the document. This one keeps, per trainee, only what
# report.trainee_effect and report.class_effect count: a milestone's month, status and
# on-time flag, its evaluations' means and each question's scores as lists in the order
# submitted (so the class's averages are the same floats: report.py reads either shape), the
# current mentor, the tasks done and the talks given; and the class's outcomes as
# `class_effect` keeps them (the report lists them). Lists of numbers, not a document per
# evaluation: FerretDB hands a document over field by field, and at 50 trainees this one's
# 600 small evaluation documents cost more than its bytes (docs/benchmarks.md).
def _figures_section(env, ev) -> dict:
    sec = _section(env, ev, detailed=False)
    del sec["mentor_history"], sec["detailed"]
    return sec


def _apply_figures(sec: dict, ev) -> None:
    match ev:
        case MilestoneScheduled():
            sec.update(name=ev.name, unit=ev.unit)
            sec["milestones"][str(ev.month)] = {
                "month": ev.month,
                "status": "scheduled",
                "on_time": None,
                "means": [],
                "scores": {},
            }
        case MilestoneDue() | MilestoneOverdue():
            _move_status(sec["milestones"][str(ev.month)], ev)
        case EvaluationSubmitted():
            m = sec["milestones"][str(ev.month)]
            if ev.scores:
                m["means"].append(round(sum(ev.scores.values()) / len(ev.scores), 2))
            for question, score in ev.scores.items():
                m["scores"].setdefault(question, []).append(score)
        case MilestoneCompleted():
            sec["milestones"][str(ev.month)].update(status="completed", on_time=ev.on_time)
        case MentorAssigned():
            # the id too: erasing the mentor blanks this entry, not a namesake's (shared/projector.py)
            sec["mentor"] = {"mentor_id": ev.mentor_id, "name": ev.mentor_name}
        case MentorTaskCompleted():
            sec["tasks"][ev.task] = ev.done_on.isoformat()
        case SharingTalkGiven():
            sec["talks"].append(ev.talk_id)


def _class_figures(doc, env, ev) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", _class_owner(env, ev) or env.jurisdiction)
    doc.setdefault("outcomes", {})
    sec = doc.setdefault("trainees", {}).setdefault(guard_key(ev.cadre_id), _figures_section(env, ev))
    _apply_figures(sec, ev)


class_figures = Projection("class_figures", sources=("followup",), owner=_class_owner)
for _cls in TRAINEE_EVENTS:
    class_figures.on(_cls, key=lambda env, ev: ev.class_id)(_class_figures)


# -- 成果 by class: only the classes that have some ---------------------------------------------
# A unit clerk's 上讲台与成果 looks over every class of the county; the effect documents hold
# every trainee's milestones and evaluations (tens of kB each, 500 classes in five years), so
# the page reads the outcomes from these: one small document per class with an outcome, kept
# exactly as the effect document keeps them. The talks it shows come from the trainee files
# (reads.unit_sharing): a talk is one of a trainee's, given about one class.
outcomes = Projection("class_outcomes", sources=("followup",), owner=_class_owner)
for _kept in (outcomes, class_figures):
    _kept.on(OutcomeReported, key=lambda env, ev: ev.class_id)(_outcome)
    _kept.on(OutcomeEndorsed, key=lambda env, ev: ev.class_id)(_endorsed)
    _kept.on(OutcomeDocumentAttached, key=lambda env, ev: ev.class_id)(_document)

PROJECTIONS = [graduates, files, class_effect, outcomes, class_figures]
