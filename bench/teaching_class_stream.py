"""Why attendance is one stream per session, not one per class.

A class of 150 with 30 sessions is 4,500 SessionAttended plus absences. This writes a
term both ways — every session's commits on its own stream, and the same commits on
one class-wide stream — and times loading each (read from the store, validate, fold),
which is what every check-in pays. Run against a MongoDB-protocol server:

    MONGODB_URI=mongodb://127.0.0.1:27028/ .venv/bin/python -m bench.teaching_class_stream
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, timedelta
from datetime import time as clock

from pymongo import AsyncMongoClient

import shared.contracts  # noqa: F401
from services.teaching import classroom as cr
from services.teaching.domain import Session
from shared.commands import CommandHandler, Context
from shared.events import CATALOGUE, Actor
from shared.eventstore import EventStore
from shared.ids import new_id


async def timed(commands: CommandHandler, decider, stream: str, runs: int = 5) -> tuple[int, float]:
    timings = []
    for _ in range(runs):
        t0 = time.perf_counter()
        loaded = await commands.load(decider, stream)
        timings.append(time.perf_counter() - t0)
    return loaded.version, sorted(timings)[runs // 2] * 1000


async def main(trainees: int = 150, sessions: int = 30) -> None:
    client = AsyncMongoClient(os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27018/"), tz_aware=True)
    db = client[f"bench_teaching_{new_id()[-12:]}"]
    try:
        store = EventStore(db)
        await store.ensure_indexes()
        commands = CommandHandler(store)
        ctx = Context(Actor(user_id="b", name="基准", role="party_school"), "110101", new_id())
        roster = {f"p{i}": cr.Trainee(f"p{i}", f"学员{i}", "单位") for i in range(trainees)}
        decider = cr.AttendanceDecider()
        whole, whole_version = "bench-whole-term", 0
        start, today = date(2026, 3, 1), date(2026, 12, 31)
        for n in range(sessions):
            s = Session(
                f"s{n}",
                "bench",
                "k",
                "课程",
                "理论课",
                start + timedelta(days=n),
                clock(9),
                clock(11),
                2.0,
                "t",
                "教师",
                "h",
            )
            entries = tuple((c, False) for i, c in enumerate(roster) if (i + n) % 10)
            for cmd in (cr.CheckIn(s, entries, roster, today), cr.CloseSession(s, roster, today)):
                envs = await commands.execute(decider, f"bench-session-{n}", cmd, ctx)
                copies = CommandHandler.envelopes(
                    whole,
                    whole_version,
                    [CATALOGUE.model(e.type).model_validate(e.payload) for e in envs],
                    ctx,
                )
                await store.append(whole, whole_version, copies)
                whole_version += len(copies)
        one = await timed(commands, decider, f"bench-session-{sessions - 1}")
        term = await timed(commands, decider, whole)
        print(
            f"one session's stream ({one[0]} events): {one[1]:.0f} ms per load; "
            f"one class-wide stream ({term[0]} events): {term[1]:.0f} ms per load (median of 5)"
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
