"""MilestoneDue exactly once: the scheduler SIGKILLed right as it emits, restarted as two
instances racing over the same milestones, the clock moved through the year.

"Not doubled" means: one MilestoneDue (and one MilestoneOverdue) per milestone in the
event store, and one distinct event_id per milestone on the Kafka topic (the outbox is
at-least-once, so a record may repeat on the topic, but always with the same event_id).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import date, timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared.contracts.teaching import TraineeGraduated
from shared.topics import events_topic
from tests.support import ServiceProcess, auth, eventually, publish, random_county, read_topic, settings

pytestmark = pytest.mark.integration

GRADUATED = date(2025, 5, 20)
DUE = [date(2025, 6, 20), date(2025, 8, 20), date(2025, 11, 20), date(2026, 5, 20)]
TRAINEES = 12


async def _count(db, event_type: str) -> Counter:
    out: Counter = Counter()
    async for commit in db["events"].find({}, {"events": 1}):
        for e in commit["events"]:
            if e["type"] == event_type:
                out[e["payload"]["milestone_id"]] += 1
    return out


async def _kill_at_emission(proc: ServiceProcess, db, before: int) -> int:
    """SIGKILL `proc` as soon as the store holds a MilestoneDue beyond `before`."""
    for _ in range(3000):
        n = sum((await _count(db, "MilestoneDue")).values())
        if n > before:
            proc.kill()
            return n
        await asyncio.sleep(0.01)
    raise AssertionError("the scheduler emitted nothing")


# long: one story end to end against real servers; its steps share the state they build
async def test_milestone_due_is_never_doubled(servers, tmp_path_factory, monkeypatch):
    county = random_county()
    monkeypatch.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    monkeypatch.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.2")
    s = settings("followup", servers, [county])
    logs = tmp_path_factory.mktemp("fu-once")
    api = ServiceProcess(s, components="api,relay,projectors", log=logs / "api.log")
    schedulers = [ServiceProcess(s, components="scheduler", log=logs / f"scheduler{i}.log") for i in range(3)]
    mongo = AsyncMongoClient(servers.mongodb, tz_aware=True)
    db = mongo[s.database_name]
    admin = auth("admin", county)

    def move_clock(day: date) -> None:
        assert httpx.put(f"{api.url}/admin/clock", headers=admin, json={"today": str(day)}).status_code == 200

    try:
        api.start()
        move_clock(GRADUATED)
        schedulers[0].start()
        class_id = f"once-{county}"
        await publish(
            servers.kafka,
            "teaching",
            county,
            f"class-{class_id}",
            [
                TraineeGraduated(
                    class_id=class_id,
                    cadre_id=f"K{i:03d}",
                    name=f"学员{i}",
                    unit="县商务局",
                    graduated_on=GRADUATED,
                    hours=40,
                    attendance_rate=1.0,
                )
                for i in range(TRAINEES)
            ],
        )

        async def all_scheduled():
            n = 0
            async for commit in db["events"].find({}, {"events.type": 1}):
                n += sum(1 for e in commit["events"] if e["type"] == "MilestoneScheduled")
            return n == 4 * TRAINEES

        await eventually(all_scheduled, timeout=60)

        # Month 1 falls due; the scheduler is killed the moment it emits the first one.
        move_clock(DUE[0])
        await _kill_at_emission(schedulers[0], db, 0)
        # Two instances take over and race over what is left, then the rest of the year.
        schedulers[1].start()
        schedulers[2].start()
        for i, day in enumerate([*DUE[1:], DUE[-1] + timedelta(days=15)]):

            async def reached(n=(i + 1) * TRAINEES):
                return sum((await _count(db, "MilestoneDue")).values()) >= n

            await eventually(reached, timeout=90)
            move_clock(day)
            if i == 1:
                # Killed again at emission, and started again beside the other instance.
                await _kill_at_emission(schedulers[1], db, sum((await _count(db, "MilestoneDue")).values()))
                schedulers[1].start()

        async def everything_overdue():
            return len(await _count(db, "MilestoneOverdue")) == 4 * TRAINEES

        await eventually(everything_overdue, timeout=90)
        await asyncio.sleep(1.5)  # let the racing instances finish any last tick
        due, overdue = await _count(db, "MilestoneDue"), await _count(db, "MilestoneOverdue")
        assert len(due) == 4 * TRAINEES and set(due.values()) == {1}
        assert len(overdue) == 4 * TRAINEES and set(overdue.values()) == {1}

        # On the topic: every milestone's MilestoneDue is there, under one event_id. A kill
        # between the outbox pointer and its commit leaves an orphan pointer that holds its
        # stream back until the relay fences it (eventstore.ORPHAN_AFTER, 3 seconds).
        async def relayed():
            return await db["outbox"].count_documents({}) == 0

        await eventually(relayed, timeout=200, interval=1)
        stored = 0
        async for commit in db["events"].find({}, {"events.type": 1}):
            stored += len(commit["events"])
        records = await read_topic(servers.kafka, events_topic("followup", county), expect=stored, timeout=60)
        ids: dict[str, set[str]] = defaultdict(set)
        for r in records:
            env = json.loads(r.value)
            if env["type"] == "MilestoneDue":
                ids[env["payload"]["milestone_id"]].add(env["event_id"])
        assert len(ids) == 4 * TRAINEES and all(len(v) == 1 for v in ids.values())

        # The files agree: every milestone overdue, none completed.
        r = httpx.get(f"{api.url}/trainees/K000/followup", headers=auth("org_department", county))
        assert {m["status"] for m in r.json()["classes"][0]["milestones"].values()} == {"overdue"}
    finally:
        for p in [*schedulers, api]:
            p.stop()
        await mongo.close()
