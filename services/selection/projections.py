"""Selection's read models, each keyed by what the API reads (FerretDB uses an index
only for `_id`):

- `classes`: one document per class — its settings, the scope, and every nomination
  with its status (roster, unit quota view and confirmation queue all read it);
- `cadres`: one document per registry entry (the import reads these by `_id` to find
  unchanged rows);
- `histories`: one document per cadre, its training history from teaching's and
  follow-up's events (hours per year, classes graduated, follow-up effects). Per
  cadre, so its `_applied` guard only holds the few streams about that cadre.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from shared.contracts.followup import EvaluationSubmitted, MentorTaskCompleted, MilestoneCompleted
from shared.contracts.selection import (
    CadreErased,
    CadreRegistered,
    CadreUpdated,
    ClassOpened,
    NominationConfirmed,
    NominationRejected,
    NominationWaitlisted,
    NominationWithdrawn,
    ScopeDrawn,
    TraineeAssignedToGroup,
    TraineeNominated,
)
from shared.contracts.teaching import OnlineHoursCredited, SessionAttended, TraineeGraduated
from shared.personal import ERASED
from shared.projection import Projection

# The scope (a county's whole registry may be in it) and the nominations stored packed on FerretDB
# (shared/store.py, "Packed fields"): each write of a class cost it 25 ms of CPU, element by element.
classes = Projection("classes", sources=("selection",), packed=("scope", "nominations"))
by_class = lambda env, ev: ev.class_id  # noqa: E731


@classes.on(ClassOpened, key=by_class)
def _opened(doc, env, ev: ClassOpened) -> None:
    doc.update(
        ev.model_dump(mode="json"),
        jurisdiction=env.jurisdiction,
        opened_by=env.actor.name,
        nominations=doc.get("nominations", []),
        scope=doc.get("scope"),
    )


@classes.on(ScopeDrawn, key=by_class)
def _scope(doc, env, ev: ScopeDrawn) -> None:
    doc["scope"] = {
        "criteria": ev.criteria,
        "cadre_ids": ev.cadre_ids,
        "by": env.actor.name,
        "at": env.occurred_at.isoformat(),
    }


# A nomination's fields that most nominations keep at their first value: stored only once they
# differ from it. FerretDB 1.24 on PostgreSQL spends its CPU per field of a document it stores
# (each one typed in its JSON and parsed again as jsonb): leaving out these three, 30 % of a
# nomination's fields, cut FerretDB and PostgreSQL's CPU for inserting the bench's 600 classes of
# 99 nominations from 2.3-2.7 s to 1.5 s (docs/benchmarks.md, "rebuild4"), and every live write
# of a class is smaller too. So is a nominee's home jurisdiction where it is the class's own (a
# county's class of its own cadres): another 0.15-0.2 s. Readers see them in full
# (`nominations_in_full`: the read index, the class document read).
NOMINATION_DEFAULTS = {"reason": "", "group": None, "from_waitlist": False}


def nominations_in_full(doc: dict) -> dict:
    """The class document with each nomination's fields left out filled in, in place
    (documents stored before carry them all: unchanged)."""
    home = doc.get("jurisdiction")
    for n in doc.get("nominations", ()):
        for field, default in NOMINATION_DEFAULTS.items():
            n.setdefault(field, default)
        n.setdefault("home_jurisdiction", home)
    return doc


def _nominee(doc, cadre_id: str) -> dict:
    for n in reversed(doc.setdefault("nominations", [])):
        if n["cadre_id"] == cadre_id:
            return n
    raise KeyError(f"nomination of {cadre_id} not in class {doc['_id']}")


class _Nominees:
    """The cadre ids of the nominations lists folded last, by the list's id: whether a nominee is
    nominated again was a scan of the class's nominations per event, 0.3-0.45 of the 0.6-0.75 s a
    fold of the bench's 60,000 class events took (docs/benchmarks.md, "rebuild4"). Each list is
    kept with its ids, so its id cannot name another list meanwhile; ids taken at another length
    (the list appended to elsewhere) are taken again. The lists kept are bounded by their
    entries (`entries`, about 1 kB each), not their number: a kept list outlives its document's
    write, and a class of 600 nominations holds 600 of them."""

    def __init__(self, entries: int = 10_000) -> None:
        self.entries = entries
        self.kept: dict[int, tuple[list, int, set[str]]] = {}
        self.held = 0

    def ids(self, nominations: list) -> set[str]:
        kept = self.kept.pop(id(nominations), None)
        if kept is not None:
            self.held -= kept[1]
            if kept[0] is nominations and kept[1] == len(nominations):
                return kept[2]
        return set(map(itemgetter("cadre_id"), nominations))

    def keep(self, nominations: list, ids: set[str]) -> None:
        self.kept[id(nominations)] = (nominations, len(nominations), ids)
        self.held += len(nominations)
        while self.held > self.entries and self.kept:
            self.held -= self.kept.pop(next(iter(self.kept)))[1]  # the least recently folded


NOMINEES = _Nominees()


@classes.on(TraineeNominated, key=by_class)
def _nominated(doc, env, ev: TraineeNominated) -> None:
    # A nomination again (after a withdrawal) replaces the earlier entry.
    nominations = doc.get("nominations", [])
    ids = NOMINEES.ids(nominations)
    if ev.cadre_id in ids:
        nominations = [n for n in nominations if n["cadre_id"] != ev.cadre_id]
    doc["nominations"] = nominations
    entry = {"cadre_id": ev.cadre_id, "name": ev.name, "unit": ev.unit, "status": "nominated"}
    if ev.home_jurisdiction is None or ev.home_jurisdiction != doc.get("jurisdiction"):
        entry["home_jurisdiction"] = ev.home_jurisdiction  # else the class's (nominations_in_full)
    entry["by"], entry["at"] = env.actor.name, env.occurred_at.isoformat()
    nominations.append(entry)
    ids.add(ev.cadre_id)
    NOMINEES.keep(nominations, ids)


def _status(status: str):
    def apply(doc, env, ev) -> None:
        n = _nominee(doc, ev.cadre_id)
        n.update(status=status, decided_by=env.actor.name, decided_at=env.occurred_at.isoformat())
        if status == "waitlisted":
            n["waitlisted_at"] = env.stream_version
        if getattr(ev, "reason", ""):
            n["reason"] = ev.reason
        if getattr(ev, "from_waitlist", False):
            n["from_waitlist"] = True
        if status == "withdrawn":
            n.pop("group", None)  # None, its default (NOMINATION_DEFAULTS)

    return apply


classes.on(NominationConfirmed, key=by_class)(_status("confirmed"))
classes.on(NominationRejected, key=by_class)(_status("rejected"))
classes.on(NominationWaitlisted, key=by_class)(_status("waitlisted"))
classes.on(NominationWithdrawn, key=by_class)(_status("withdrawn"))


@classes.on(TraineeAssignedToGroup, key=by_class)
def _grouped(doc, env, ev: TraineeAssignedToGroup) -> None:
    _nominee(doc, ev.cadre_id)["group"] = ev.group


# Its erasure's fold (`_erased`) blanks every personal value a registry entry holds (name, number,
# birth date: the cadre's own), so the projector notes none of them in the guard.
cadres = Projection("cadres", sources=("selection",), erases_itself=True)
by_cadre = lambda env, ev: ev.cadre_id  # noqa: E731

# A registry entry's fields that most entries keep at the contract's default (职务 "", 类别 "",
# 任现职级时间 None, 乡镇领导经历 False, 录用方式 None, 录用年份 None): stored only once they
# differ from it, as a nomination's (NOMINATION_DEFAULTS). FerretDB 1.24 on PostgreSQL spends
# its CPU per element of each document it stores, and a 20,000-row import stores 20,000 of these
# (docs/benchmarks.md, "Registry documents without their defaults"). Taken from CadreRegistered's
# own field defaults, so the contract stays the one place that says them; readers see every
# field (`cadre_in_full`: the read index, reads.py).
CADRE_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {name: f.default for name, f in CadreRegistered.model_fields.items() if not f.is_required()}
)


def _at_default(field: str, value: Any) -> bool:
    """Whether `value` is the field's default (of its type too: 0 is no False)."""
    default = CADRE_DEFAULTS[field]
    return value is default or (type(value) is type(default) and value == default)


def _lean(doc: dict) -> None:
    """Leaves the fields at their defaults out of a registry document. A document stored before
    (with them all) is made lean by its next write: a field set back to its default is left
    out, as one never set."""
    for field in CADRE_DEFAULTS:
        if field in doc and _at_default(field, doc[field]):
            del doc[field]


def cadre_in_full(doc: dict) -> dict:
    """The registry document with the fields left out filled in, in place (documents stored
    before, with every field, are unchanged): what the registry showed before they were left
    out."""
    for field, default in CADRE_DEFAULTS.items():
        doc.setdefault(field, default)
    return doc


@cadres.on(CadreRegistered, key=by_cadre)
def _registered(doc, env, ev: CadreRegistered) -> None:
    doc.update(ev.model_dump(mode="json"), jurisdiction=env.jurisdiction)
    _lean(doc)


@cadres.on(CadreUpdated, key=by_cadre)
def _updated(doc, env, ev: CadreUpdated) -> None:
    doc.update(ev.changes)
    _lean(doc)


@cadres.on(CadreErased, key=by_cadre)
def _erased(doc, env, ev: CadreErased) -> None:
    # What the registry showed of the person; unit, rank and the like stay (not personal on
    # their own), so the county's figures keep counting the post.
    doc.update(name=ERASED, id_number=ERASED, birth_date=None, erased=True)
    _lean(doc)


# A county's cadres also attend province-run classes (events on the province's topic).
histories = Projection(
    "histories",
    sources=("teaching", "followup"),
    include_ancestors=True,
    scope=lambda env, ev: getattr(ev, "home_jurisdiction", None) or env.jurisdiction,
)


def _hours(doc, year: int, hours: float, kind: str) -> None:
    per_year = doc.setdefault("hours", {})
    per_year[str(year)] = round(per_year.get(str(year), 0.0) + hours, 2)
    split = doc.setdefault(kind, {})
    split[str(year)] = round(split.get(str(year), 0.0) + hours, 2)


@histories.on(SessionAttended, key=by_cadre)
def _attended(doc, env, ev: SessionAttended) -> None:
    _hours(doc, (ev.on or env.occurred_at.date()).year, ev.hours, "class_hours")
    doc["sessions"] = doc.get("sessions", 0) + 1


@histories.on(OnlineHoursCredited, key=by_cadre)
def _online(doc, env, ev: OnlineHoursCredited) -> None:
    _hours(doc, ev.on.year, ev.hours, "online_hours")


@histories.on(TraineeGraduated, key=by_cadre)
def _graduated(doc, env, ev: TraineeGraduated) -> None:
    doc.setdefault("trainings", []).append(
        {
            "class_id": ev.class_id,
            "title": ev.class_title,
            "graduated_on": ev.graduated_on.isoformat(),
            "hours": ev.hours,
            "attendance_rate": ev.attendance_rate,
        }
    )
    doc["last_trained_on"] = max(doc.get("last_trained_on") or "", ev.graduated_on.isoformat())


@histories.on(MilestoneCompleted, key=by_cadre)
def _milestone(doc, env, ev: MilestoneCompleted) -> None:
    doc.setdefault("milestones", []).append(
        {
            "class_id": ev.class_id,
            "month": ev.month,
            "completed_on": ev.completed_on.isoformat(),
            "on_time": ev.on_time,
            "average_score": ev.average_score,
        }
    )


@histories.on(EvaluationSubmitted, key=by_cadre)
def _evaluated(doc, env, ev: EvaluationSubmitted) -> None:
    doc["evaluations"] = doc.get("evaluations", 0) + 1


@histories.on(MentorTaskCompleted, key=by_cadre)
def _mentor_task(doc, env, ev: MentorTaskCompleted) -> None:
    doc.setdefault("mentor_tasks", []).append(
        {"class_id": ev.class_id, "task": ev.task, "done_on": ev.done_on.isoformat()}
    )


PROJECTIONS = [classes, cadres, histories]
