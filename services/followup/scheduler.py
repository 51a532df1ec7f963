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

The worker gets the service's handlers from the runtime (`runtime.handlers`, composed by
service.bootstrap): their commands, reads and clock are all it touches.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.followup.domain import PlanState, ScheduleFollowUp, add_months, trainee_stream
from services.followup.handlers import Handlers
from shared import store
from shared.commands import Context
from shared.errors import NotFound
from shared.events import Actor
from shared.ids import new_id
from shared.projection import guard_key
from shared.runtime import Runtime

log = structlog.get_logger("followup.scheduler")
# Days swept again behind the cursor: covers a clock moved back a little.
LOOKBACK_DAYS = 2
# Trainee streams decided at once (each is its own aggregate).
CONCURRENT = 16
ACTOR = Actor(user_id="followup-scheduler", name="跟踪问效调度程序", role="admin")


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_FOLLOWUP_", extra="ignore")

    # How often the scheduler looks for new graduates and milestones that fell due.
    tick_seconds: float = Field(1.0, gt=0)


def _schedule(class_id: str, graduate: dict, plan: PlanState, today: date) -> ScheduleFollowUp:
    """A graduate (an entry of the `graduates` read model) scheduled with the class's plan."""
    g = graduate
    return ScheduleFollowUp(
        class_id=class_id,
        cadre_id=g["cadre_id"],
        name=g["name"],
        unit=g["unit"],
        graduated_on=date.fromisoformat(g["graduated_on"]),
        months=plan.months,
        grace_days=plan.grace_days,
        today=today,
        home_jurisdiction=g["jurisdiction"],
    )


class Scheduler:
    def __init__(self, handlers: Handlers, home: str) -> None:
        self.h = handlers
        self.reads = handlers.reads
        self.home = home  # the deployment's first jurisdiction
        self._scheduled: set[str] = set()  # streams this process already scheduled

    def _ctx(self, jurisdiction: str) -> Context:
        return Context(actor=ACTOR, jurisdiction=jurisdiction, correlation_id=new_id())

    async def tick(self) -> None:
        today = await self.h.clock.today()
        await self.schedule_graduates(today)
        await self.sweep(today)

    async def schedule_graduates(self, today: date) -> None:
        async for doc in self.reads.classes_with_pending_graduates():
            done = doc.get("scheduled", {})
            todo = [
                (trainee_stream(doc["class_id"], g["cadre_id"]), g)
                for key, g in doc.get("graduates", {}).items()
                if key not in done
            ]
            todo = [(stream, g) for stream, g in todo if stream not in self._scheduled]
            if not todo:
                continue
            # The class's own jurisdiction's plan: one another county set under the same
            # class id lives in that county's namespace and is never read here.
            owner = doc.get("class_jurisdiction") or doc["jurisdiction"]
            plan = (await self.h.load_plan(owner, doc["class_id"])).state
            cmds = [(stream, g, _schedule(doc["class_id"], g, plan, today)) for stream, g in todo]
            await self._remind(
                [
                    (
                        stream,
                        cmd,
                        {
                            "stream_id": stream,
                            "class_id": doc["class_id"],
                            "cadre_id": g["cadre_id"],
                            "jurisdiction": g["jurisdiction"],
                        },
                    )
                    for stream, g, cmd in cmds
                ]
            )
            # Different trainees' streams: independent, so a few at once.
            results = await store.gather_chunked(
                [
                    lambda stream=stream, g=g, cmd=cmd: self.h.schedule(
                        stream, cmd, self._ctx(g["jurisdiction"])
                    )
                    for stream, g, cmd in cmds
                ],
                size=CONCURRENT,
            )
            for (stream, _g, _cmd), envs in zip(cmds, results):
                self._scheduled.add(stream)
                if envs:
                    log.info("followup.scheduled", stream=stream, events=[e.type for e in envs])

    async def _remind(self, items: list[tuple[str, ScheduleFollowUp, dict]]) -> None:
        """Each milestone's due day and first overdue day remind the trainee's stream."""
        by_day: dict[date, dict] = {}
        for stream, cmd, entry in items:
            for m in cmd.months:
                due = add_months(cmd.graduated_on, m)
                for day in (due, due + timedelta(days=cmd.grace_days + 1)):
                    by_day.setdefault(day, {})[f"streams.{guard_key(stream)}"] = entry
        await self.reads.remind(by_day)

    async def sweep(self, today: date) -> None:
        swept_to = await self.reads.swept_to()
        day = min(date.fromisoformat(swept_to) if swept_to else today, today) - timedelta(days=LOOKBACK_DAYS)
        while day <= today:
            doc = await self.reads.reminders_of(day)
            if doc:
                done = doc.get("done", {})
                todo = [
                    (key, entry["stream_id"])
                    for key, entry in doc.get("streams", {}).items()
                    if key not in done
                ]
                ticked = await store.gather_chunked(
                    [lambda stream=stream: self._tick(stream, today) for _key, stream in todo],
                    size=CONCURRENT,
                )
                marks = {f"done.{key}": today.isoformat() for (key, _s), ok in zip(todo, ticked) if ok}
                if marks:  # after the ticks: a crash in between only repeats them (they emit nothing)
                    await self.reads.mark_reminded(doc["_id"], marks)
            day += timedelta(days=1)
        await self.reads.advance_cursor(swept_to, today)

    async def _tick(self, stream: str, today: date) -> bool:
        # The stream keeps the jurisdiction it was created under (CommandHandler); this
        # context's is only used if the stream were empty, when the decider refuses anyway.
        try:
            envs = await self.h.tick(stream, today, self._ctx(self.home))
        except NotFound:
            return False  # reminded before its scheduling was appended: left for the next sweep
        if envs:
            log.info("followup.ticked", stream=stream, events=[e.type for e in envs])
        return True


async def run(rt: Runtime, stop: asyncio.Event) -> None:
    settings = SchedulerSettings()
    scheduler = Scheduler(rt.handlers, rt.settings.jurisdictions[0])
    while not stop.is_set():
        await scheduler.tick()
        try:
            await asyncio.wait_for(stop.wait(), settings.tick_seconds)
        except TimeoutError:
            pass
