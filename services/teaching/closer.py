"""The closer (自动结束考勤): a worker that ends attendance of every session whose end
time has passed, so absences are recorded without anyone pressing "结束考勤".

Each pass scans `class_timetable` (one small document per class; a scan of a few
hundred documents is fine on FerretDB) and remembers, per class, the sessions it has
closed in its own `closer_marks` collection, read by `_id`. The session's end is
re-checked on the timetable stream itself (the projection may not yet show a
reschedule), and closing is idempotent (a second close records nothing), so a crash
between closing and marking only repeats a harmless command.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from shared.auth import Principal
from shared.clock import local_now
from shared.commands import Context
from shared.errors import GanxunError
from shared.ids import new_id
from shared.runtime import Runtime
from services.teaching import classroom as cr
from services.teaching import handlers

log = structlog.get_logger("teaching.closer")
EVERY = 60.0
MARKS = "closer_marks"


def ended(on: str, ends_at: str, now: datetime) -> bool:
    return datetime.fromisoformat(f"{on}T{ends_at}") <= now


async def run(rt: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        closed = await close_ended(rt, local_now())
        if closed:
            log.info("closer.closed", sessions=closed)
        try:
            await asyncio.wait_for(stop.wait(), EVERY)
        except TimeoutError:
            pass


async def close_ended(rt: Runtime, now: datetime) -> int:
    count = 0
    async for tt in rt.db["class_timetable"].find({}, {"sessions": 1, "jurisdiction": 1}):
        class_id = tt["_id"]
        mark = await rt.db[MARKS].find_one({"_id": class_id}) or {}
        done = set(mark.get("sessions", []))
        due = [s for s in tt.get("sessions", {}).values()
               if s["session_id"] not in done and not s["cancelled"] and ended(s["on"], s["ends_at"], now)]
        if not due:
            continue
        system = Principal(user_id="teaching-closer", name="系统（自动结束考勤）", role="admin",
                           jurisdiction=tt["jurisdiction"])
        for s in due:
            ctx = Context(actor=system.actor, jurisdiction=tt["jurisdiction"], correlation_id=new_id())
            try:
                facts = await handlers.class_facts(rt, system, class_id)
                session = await handlers.session(rt, facts, s["session_id"])
                if session.cancelled or not ended(session.on.isoformat(), session.ends_at.isoformat(), now):
                    continue   # moved or cancelled since the projection was written
                await rt.commands.execute(handlers.ATTENDANCE, cr.attendance_stream(class_id, s["session_id"]),
                                          cr.CloseSession(session, facts.roster, now.date()), ctx)
            except GanxunError as exc:   # e.g. roster not synced yet: try again next pass
                log.warning("closer.skipped", class_id=class_id, session_id=s["session_id"], code=exc.code,
                            message=exc.message)
                continue
            done.add(s["session_id"])
            count += 1
        await rt.db[MARKS].update_one({"_id": class_id}, {"$set": {"sessions": sorted(done)}}, upsert=True)
    return count
