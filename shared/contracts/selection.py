"""Events published by the selection service (精准施训)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("selection")


@register
class ClassOpened(Event, type="ClassOpened", version=1):
    """班次开设 — a class was opened for selection."""

    class_id: str
    title: str = Field(min_length=1, max_length=200)
    capacity: int = Field(gt=0, le=5000)
    starts_on: date
    ends_on: date
    organiser: str = Field(min_length=1, max_length=100)


@register
class TraineeNominated(Event, type="TraineeNominated", version=1):
    """学员推荐 — a unit recommended a cadre for a class."""

    class_id: str
    cadre_id: str
    name: str
    unit: str
    home_jurisdiction: str | None = None
