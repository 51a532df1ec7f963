"""Selection's read models, as pure folds over its own events."""

from __future__ import annotations

from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.projection import Projection

classes = Projection("classes", sources=("selection",))


@classes.on(ClassOpened, key=lambda env, ev: ev.class_id)
def _opened(doc, env, ev: ClassOpened) -> None:
    doc.update(ev.model_dump(mode="json"), jurisdiction=env.jurisdiction, nominations=doc.get("nominations", []))


@classes.on(TraineeNominated, key=lambda env, ev: ev.class_id)
def _nominated(doc, env, ev: TraineeNominated) -> None:
    doc.setdefault("nominations", []).append(
        {"cadre_id": ev.cadre_id, "name": ev.name, "unit": ev.unit, "by": env.actor.name, "at": env.occurred_at.isoformat()}
    )


PROJECTIONS = [classes]
