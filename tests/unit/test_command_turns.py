"""Many commands at once on one aggregate in one process: each decided once, none conflicting.

A unit's clerks nominating into one class (or a school entering courses into its
catalogue) send their requests at the same moment. Racing optimistically, each read the
class at the same version, one won and every other reloaded the stream and tried again,
up to eight times, then answered 409 (bench.load: 86 nominations refused). The command
handler lets one process's commands on an aggregate take turns (shared/commands.py).
"""

import asyncio
from datetime import date

from services.selection.domain import ClassDecider, DrawScope, NominateTrainee, OpenClass, stream_id
from shared.commands import CommandHandler, Context, Loaded
from shared.errors import ConcurrencyConflict
from shared.events import Actor
from shared.memory import MemoryEventStore

CTX = Context(Actor(user_id="dept", name="李科长", role="org_department"), "371428", "corr-turns")
TODAY = date(2026, 3, 1)
CADRES = [f"cd-{n:03d}" for n in range(20)]


class SlowStore(MemoryEventStore):
    """The memory store, answering after the event loop has run others (as a real store
    does), counting stream reads and refused appends."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.conflicts = 0

    async def read_stream(self, stream_id: str):
        self.reads += 1
        await asyncio.sleep(0.001)
        return await super().read_stream(stream_id)

    async def append(self, stream_id, expected_version, events, commit_id=None):
        await asyncio.sleep(0.001)
        try:
            return await super().append(stream_id, expected_version, events, commit_id)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


async def opened(handler: CommandHandler) -> None:
    klass = ClassDecider()
    sid = stream_id("k1")
    open_ = OpenClass("k1", "科级干部培训班", 40, date(2026, 4, 1), date(2026, 4, 10), "县委党校")
    await handler.execute(klass, sid, open_, CTX)
    await handler.execute(klass, sid, DrawScope({}, tuple(CADRES), TODAY), CTX)


async def test_nominations_racing_into_one_class_are_each_decided_once() -> None:
    store = SlowStore()
    handler = CommandHandler(store)
    await opened(handler)
    handler._cache.clear()  # as in another request's process: the class is read once
    store.reads = 0

    async def nominate(cadre_id: str):
        cmd = NominateTrainee(cadre_id, f"干部{cadre_id[-3:]}", "县财政局", TODAY)
        return await handler.execute(ClassDecider(), stream_id("k1"), cmd, CTX)

    answers = await asyncio.gather(*(nominate(c) for c in CADRES))

    assert all(len(a) == 1 for a in answers)  # twenty nominations, none refused
    assert (store.conflicts, store.reads) == (0, 1)
    stored = await store.read_stream(stream_id("k1"))
    assert sorted(e.payload["cadre_id"] for e in stored if e.type == "TraineeNominated") == CADRES


async def test_a_believed_new_aggregate_is_decided_without_a_read_and_checked_on_conflict() -> None:
    store = SlowStore()
    handler = CommandHandler(store)
    await opened(handler)
    handler._cache.clear()
    store.reads = 0
    klass = ClassDecider()
    again = OpenClass("k1", "又一个班", 40, date(2026, 4, 1), date(2026, 4, 10), "县委党校")

    # A read model that lagged says "no such class": the append conflicts, the stored
    # stream is read and the command is refused on it, as without the belief.
    try:
        await handler.execute(klass, stream_id("k1"), again, CTX, believed=Loaded(klass.initial(), 0, None))
        refused = None
    except Exception as exc:  # noqa: BLE001 - the decider's refusal, whatever its class
        refused = exc
    assert refused is not None and store.conflicts == 1 and store.reads == 1

    store.reads = 0
    fresh = OpenClass("k2", "新班", 40, date(2026, 4, 1), date(2026, 4, 10), "县委党校")
    envs = await handler.execute(
        klass, stream_id("k2"), fresh, CTX, believed=Loaded(klass.initial(), 0, None)
    )
    assert [e.type for e in envs] == ["ClassOpened"] and store.reads == 0
