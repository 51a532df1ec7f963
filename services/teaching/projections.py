"""Teaching's read models. The class roster (班级名册) is built from selection's events."""

from __future__ import annotations

from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.projection import Projection

roster = Projection("class_roster", sources=("selection",))


@roster.on(ClassOpened, key=lambda env, ev: ev.class_id)
def _opened(doc, env, ev: ClassOpened) -> None:
    doc.update(
        class_id=ev.class_id, title=ev.title, capacity=ev.capacity, starts_on=ev.starts_on.isoformat(),
        ends_on=ev.ends_on.isoformat(), jurisdiction=env.jurisdiction,
    )
    doc.setdefault("trainees", [])
    doc.setdefault("size", 0)


@roster.on(TraineeNominated, key=lambda env, ev: ev.class_id)
def _nominated(doc, env, ev: TraineeNominated) -> None:
    trainees = doc.setdefault("trainees", [])
    if any(t["cadre_id"] == ev.cadre_id for t in trainees):
        return
    trainees.append({"cadre_id": ev.cadre_id, "name": ev.name, "unit": ev.unit, "status": "nominated"})
    doc["size"] = len(trainees)
    doc.setdefault("jurisdiction", env.jurisdiction)


PROJECTIONS = [roster]
