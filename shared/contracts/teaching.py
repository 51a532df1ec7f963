"""Events published by the teaching service. Its own issue adds the rest."""

from __future__ import annotations

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("teaching")


@register
class SessionAttended(Event, type="SessionAttended", version=1):
    """出勤 — a trainee checked in to a teaching session."""

    class_id: str
    session_id: str
    cadre_id: str
    hours: float
