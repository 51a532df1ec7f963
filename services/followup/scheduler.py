"""The scheduler worker: a process manager from graduation to milestones, and the
clock that makes milestones fall due and overdue.

Each tick:
1. graduates without milestones (the `graduates` projection, one small document per
   class) are scheduled with their class's plan through the trainee's decider, which
   emits nothing when they already are — so a retry, a restart or a second instance
   adds nothing;
2. the reminder documents of the days since the last sweep (collection `reminders`,
   one per day, read by `_id`) name the trainee streams with a milestone due or past
   its grace period that day; each gets a `Tick(today)` through its decider.

Exactly once: MilestoneDue is decided on the trainee's stream from its own history and
appended with the version read; two instances racing both decide it, one append wins
(unique stream/version), the other re-decides on the fresh stream and emits nothing. A
process killed after the append and before marking the reminder done only repeats the
Tick, which then emits nothing.

Reminders are written *before* the MilestoneScheduled append (they are derived from the
command, not from the projection), so no projection lag can make a sweep miss a day;
a reminder of an append that never happened yields an empty Tick.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import structlog

from shared import store
from shared.commands import Context
from shared.errors import NotFound
from shared.events import Actor
from shared.ids import new_id
from shared.projection import guard_key
from shared.runtime import Runtime
from services.followup import clock
from services.followup.domain import FollowUpDecider, ScheduleFollowUp, Tick, add_months, trainee_stream
from services.followup.handlers import load_plan

log = structlog.get_logger("followup.scheduler")
REMINDERS = "reminders"
STATE = "scheduler"
# Days swept again behind the cursor: covers a clock moved back a little.
LOOKBACK_DAYS = 2
# Trainee streams decided at once (each is its own aggregate).
CONCURRENT = 16
ACTOR = Actor(user_id="followup-scheduler", name="跟踪问效调度程序", role="admin")
FOLLOWUP = FollowUpDecider()


class Scheduler:
    def __init__(self, rt: Runtime, settings: clock.FollowUpSettings) -> None:
        self.rt = rt
        self.settings = settings
        self.db = rt.db
        self._scheduled: set[str] = set()   # streams this process already scheduled

    def _ctx(self, jurisdiction: str) -> Context:
        return Context(actor=ACTOR, jurisdiction=jurisdiction, correlation_id=new_id())

    async def tick(self) -> None:
        today = await clock.today(self.db, self.settings.movable_clock)
        await self.schedule_graduates(today)
        await self.sweep(today)

    async def schedule_graduates(self, today: date) -> None:
        async for doc in self.db["graduates"].find({"pending": {"$gt": 0}}):
            done = doc.get("scheduled", {})
            todo = [(trainee_stream(doc["class_id"], g["cadre_id"]), g) for key, g in doc.get("graduates", {}).items()
                    if key not in done]
            todo = [(stream, g) for stream, g in todo if stream not in self._scheduled]
            if not todo:
                continue
            # The class's own jurisdiction's plan: one another county set under the same
            # class id lives in that county's namespace and is never read here.
            owner = doc.get("class_jurisdiction") or doc["jurisdiction"]
            plan = (await load_plan(self.rt.commands, owner, doc["class_id"])).state
            cmds = [(stream, g, ScheduleFollowUp(
                class_id=doc["class_id"], cadre_id=g["cadre_id"], name=g["name"], unit=g["unit"],
                graduated_on=date.fromisoformat(g["graduated_on"]), months=plan.months, grace_days=plan.grace_days,
                today=today, home_jurisdiction=g["jurisdiction"])) for stream, g in todo]
            await self._remind([(stream, cmd, {"stream_id": stream, "class_id": doc["class_id"],
                                               "cadre_id": g["cadre_id"], "jurisdiction": g["jurisdiction"]})
                                for stream, g, cmd in cmds])
            # Different trainees' streams: independent, so a few at once.
            results = await store.gather_chunked([
                lambda stream=stream, g=g, cmd=cmd: self.rt.commands.execute(
                    FOLLOWUP, stream, cmd, self._ctx(g["jurisdiction"])) for stream, g, cmd in cmds], size=CONCURRENT)
            for (stream, _g, _cmd), envs in zip(cmds, results):
                self._scheduled.add(stream)
                if envs:
                    log.info("followup.scheduled", stream=stream, events=[e.type for e in envs])

    async def _remind(self, items: list[tuple[str, ScheduleFollowUp, dict]]) -> None:
        """One write per day for a whole class's graduates (a day's document holds every
        trainee reminded that day: writing it once per trainee rewrote it hundreds of times)."""
        by_day: dict[date, dict] = {}
        for stream, cmd, entry in items:
            for m in cmd.months:
                due = add_months(cmd.graduated_on, m)
                for day in (due, due + timedelta(days=cmd.grace_days + 1)):
                    by_day.setdefault(day, {})[f"streams.{guard_key(stream)}"] = entry
        for day in sorted(by_day):
            await self.db[REMINDERS].update_one({"_id": day.isoformat()}, {"$set": by_day[day]}, upsert=True)
        # Another instance, its clock read later, may have swept past these days already:
        # pull the cursor back so the next sweep covers them.
        first = min(by_day).isoformat()
        await self.db[STATE].update_one({"_id": "cursor", "swept_to": {"$gt": first}}, {"$set": {"swept_to": first}})

    async def sweep(self, today: date) -> None:
        state = await self.db[STATE].find_one({"_id": "cursor"})
        start = min(date.fromisoformat(state["swept_to"]) if state else today, today) - timedelta(days=LOOKBACK_DAYS)
        day = start
        while day <= today:
            doc = await self.db[REMINDERS].find_one({"_id": day.isoformat()})
            if doc:
                done = doc.get("done", {})
                todo = [(key, entry["stream_id"]) for key, entry in doc.get("streams", {}).items() if key not in done]
                ticked = await store.gather_chunked([lambda stream=stream: self._tick(stream, today)
                                                     for _key, stream in todo], size=CONCURRENT)
                marks = {f"done.{key}": today.isoformat() for (key, _s), ok in zip(todo, ticked) if ok}
                if marks:   # after the ticks: a crash in between only repeats them (they emit nothing)
                    await self.db[REMINDERS].update_one({"_id": doc["_id"]}, {"$set": marks})
            day += timedelta(days=1)
        # Compare-and-set: if a scheduling pulled the cursor back meanwhile, keep its value.
        if not state:
            await self.db[STATE].update_one({"_id": "cursor"}, {"$setOnInsert": {"swept_to": today.isoformat()}},
                                            upsert=True)
        elif state["swept_to"] < today.isoformat():
            await self.db[STATE].update_one({"_id": "cursor", "swept_to": state["swept_to"]},
                                            {"$set": {"swept_to": today.isoformat()}})

    async def _tick(self, stream: str, today: date) -> bool:
        try:
            envs = await self.rt.commands.execute(FOLLOWUP, stream, Tick(today), self._ctx_for(stream))
        except NotFound:
            return False      # reminded before its scheduling was appended: left for the next sweep
        if envs:
            log.info("followup.ticked", stream=stream, events=[e.type for e in envs])
        return True

    def _ctx_for(self, stream: str) -> Context:
        # The stream keeps the jurisdiction it was created under (CommandHandler); this
        # one is only used if the stream were empty, when the decider refuses anyway.
        return self._ctx(self.rt.settings.jurisdictions[0])


async def run(rt: Runtime, stop: asyncio.Event) -> None:
    settings = clock.FollowUpSettings.load()
    scheduler = Scheduler(rt, settings)
    while not stop.is_set():
        await scheduler.tick()
        try:
            await asyncio.wait_for(stop.wait(), settings.tick_seconds)
        except TimeoutError:
            pass
