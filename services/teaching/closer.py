"""The closer (自动结束考勤): a worker that ends attendance of every session whose end
time has passed, so absences are recorded without anyone pressing "结束考勤".

Each pass scans the class timetables (one small document per class) and remembers,
per class, the sessions it has closed (its own marks, read by `_id`; reads.py). The
session's end is re-checked on the timetable stream itself (the projection may not yet
show a reschedule), and closing is idempotent (a second close records nothing), so a
crash between closing and marking only repeats a harmless command.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

import structlog

from services.teaching.domain import ended
from services.teaching.handlers import Handlers
from shared.auth import Principal
from shared.commands import Context
from shared.errors import GanxunError
from shared.ids import new_id
from shared.runtime import Runtime

log = structlog.get_logger("teaching.closer")
EVERY = 60.0


async def run(rt: Runtime, stop: asyncio.Event) -> None:
    """The worker as the runtime starts it: the service's handlers, every `EVERY` seconds."""
    h: Handlers = rt.handlers
    while not stop.is_set():
        closed = await close_ended(h, (await h.clock.now()).replace(tzinfo=None))
        if closed:
            log.info("closer.closed", sessions=closed)
        try:
            await asyncio.wait_for(stop.wait(), EVERY)
        except TimeoutError:
            pass


async def close_ended(h: Handlers, now: datetime) -> int:
    """Closes every session over by `now` (Beijing wall time) not closed before; returns how many."""
    count = 0
    async for tt in h.reads.timetables():
        class_id = tt["_id"]
        done = await h.reads.closed_by_closer(class_id)
        due = [
            s
            for s in tt.get("sessions", {}).values()
            if s["session_id"] not in done
            and not s["cancelled"]
            and ended(date.fromisoformat(s["on"]), time.fromisoformat(s["ends_at"]), now)
        ]
        if not due:
            continue
        system = Principal(
            user_id="teaching-closer",
            name="系统（自动结束考勤）",
            role="admin",
            jurisdiction=tt["jurisdiction"],
        )
        for s in due:
            ctx = Context(actor=system.actor, jurisdiction=tt["jurisdiction"], correlation_id=new_id())
            try:
                if not await h.close_if_ended(ctx, system, class_id, s["session_id"], now):
                    continue  # moved or cancelled since the projection was written
            except GanxunError as exc:  # e.g. roster not synced yet: try again next pass
                log.warning(
                    "closer.skipped",
                    class_id=class_id,
                    session_id=s["session_id"],
                    code=exc.code,
                    message=exc.message,
                )
                continue
            done.add(s["session_id"])
            count += 1
        await h.reads.mark_closed(class_id, done)
    return count
