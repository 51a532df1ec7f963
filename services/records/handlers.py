"""Command handlers: read what the rules need (roster, the class's recorders and scheme),
check who may act, decide, append. Two stream loads at most per request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from shared import store
from shared.auth import Principal
from shared.commands import Context, within
from shared.errors import DomainError, NotFound
from shared.events import Envelope
from shared.runtime import Runtime
from services.records import domain
from services.records.domain import ClassDecider, ClassFacts, TraineeDecider
from services.records.views import active_trainees

CLASS = ClassDecider()
TRAINEE = TraineeDecider()
AT_ONCE = 16          # trainee streams decided at once for a sheet (each its own aggregate)


async def roster_of(rt: Runtime, class_id: str, who: Principal, required: bool = True) -> dict | None:
    """The class's roster doc (records' own copy of selection's facts), jurisdiction checked."""
    doc = await rt.db["records_roster"].find_one({"_id": class_id})
    if doc is None or "title" not in doc:
        if required:
            raise NotFound(f"班次 {class_id} 不存在（或尚未从选调服务同步），请先确认班次编号。",
                           code="class_not_found")
        return None
    who.require_covers(doc["jurisdiction"])
    return doc


async def on_class(rt: Runtime, ctx: Context, who: Principal, class_id: str, cmd) -> list[Envelope]:
    """Assign / relieve recorders, set the scheme, note supervision."""
    await roster_of(rt, class_id, who)
    return await rt.commands.execute(CLASS, domain.class_stream(class_id), cmd, ctx, within(who))


async def facts(rt: Runtime, who: Principal, class_id: str) -> ClassFacts:
    roster = await roster_of(rt, class_id, who)
    loaded = await rt.commands.load(CLASS, domain.class_stream(class_id))
    within(who)(loaded)
    return ClassFacts(class_id=class_id, roster=frozenset(active_trainees(roster)),
                      recorders=loaded.state.recorders, scheme=loaded.state.scheme,
                      starts_on=date.fromisoformat(roster["starts_on"]))


async def on_trainee(rt: Runtime, ctx: Context, who: Principal, class_id: str, cadre_id: str,
                     build) -> list[Envelope]:
    """Log a record, score a week, write the final comment: `build(facts)` makes the command.

    The class facts are read once before deciding; a recorder relieved in the same
    instant may still log once — the record keeps their role, nothing is lost."""
    f = await facts(rt, who, class_id)
    return await rt.commands.execute(TRAINEE, domain.trainee_stream(class_id, cadre_id), build(f), ctx, within(who))


async def on_trainees(rt: Runtime, ctx: Context, who: Principal, class_id: str,
                      builds: dict[str, Callable[[ClassFacts], Any]]) -> list[dict]:
    """A recorder's sheet for the whole class: the class facts read once, each trainee's
    command decided on its own stream (a few at once). Returns the rows refused, each
    with its reason; the others are saved."""
    f = await facts(rt, who, class_id)

    async def one(cadre_id: str, build) -> dict | None:
        try:
            await rt.commands.execute(TRAINEE, domain.trainee_stream(class_id, cadre_id), build(f), ctx, within(who))
        except (DomainError, NotFound) as exc:
            return {"cadre_id": cadre_id, "code": exc.code, "message": exc.message}
        return None
    results = await store.gather_chunked([lambda c=c, b=b: one(c, b) for c, b in builds.items()], size=AT_ONCE)
    return [r for r in results if r is not None]
