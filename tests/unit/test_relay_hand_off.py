"""The relay in the appending process (issue 16, commands at 50/s): it sends what this process
stored without reading the outbox back each round, deletes the published pointers several
rounds at once, and still keeps each stream's order and the crash-safety of the pointers.

Fakes only: MemoryDatabase counts what reaches the outbox, and a producer records what it is
given. The real store and Kafka, and a relay killed at random, are exercised by
tests/integration/test_crash_safety.py and test_event_store.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreUpdated
from shared.events import utcnow
from shared.eventstore import HELD_MAX, ORPHAN_AFTER, EventStore
from shared.memory import MemoryDatabase
from shared.outbox import UNLINK_AFTER, UNLINK_NUDGED, OutboxRelay
from tests.unit.test_personal_data import COUNTY, DEPT, registered
from tests.unit.test_store_operations import Counted


def run(coro):
    return asyncio.run(coro)


def updated(cadre_id: str, version: int):
    """The cadre's stream's event at `version` (a change of post)."""
    change = CadreUpdated(cadre_id=cadre_id, changes={"post": f"岗位{version}"})
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    return CommandHandler.envelopes(f"cadre-{cadre_id}", version - 1, [change], ctx)[0]


class Producer:
    """Records (stream, version) in the order the relay hands events over."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    async def send(self, topic, value, key, headers):
        event = json.loads(value)
        self.sent.append((event["stream_id"], event["stream_version"]))
        return asyncio.sleep(0)


def _relay(db: MemoryDatabase, log: list[str]) -> tuple[EventStore, OutboxRelay, Producer]:
    store = EventStore(db)
    store.keep_landed = True  # the relay runs in this process
    store.outbox = Counted(store.outbox, log, "outbox")
    producer = Producer()
    # A poll far longer than the test: every outbox read it makes is one a round asked for.
    relay = OutboxRelay(store, producer, lambda event: "topic", poll_interval=60.0)
    return store, relay, producer


async def _until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition was not met in time")


async def _stopped_once_empty(db, relay, stop: asyncio.Event, task: asyncio.Task) -> int:
    """Stop the relay once the outbox is empty (the last pointers' delete comes after the last
    send), or after 3 s; the pointers left."""
    for _ in range(300):
        if not await db["outbox"].count_documents({}):
            break
        await asyncio.sleep(0.01)
    stop.set()
    relay.nudge()
    await task
    return await db["outbox"].count_documents({})


def test_the_relay_sends_its_own_appends_without_reading_the_outbox_and_deletes_their_pointers_together():
    log: list[str] = []
    db = MemoryDatabase()
    store, relay, producer = _relay(db, log)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await _until(lambda: "outbox.find" in log)  # the start's read: what an earlier process left
        for n in range(1, 21):
            env = registered(f"cd-{n}")
            await store.append(env.stream_id, 0, [env])
            env = updated(f"cd-{n}", 2)
            await store.append(env.stream_id, 1, [env])
            relay.nudge()
            await asyncio.sleep(0)
        await _until(lambda: len(producer.sent) == 40)
        await asyncio.sleep(UNLINK_AFTER * 2)
        left = await db["outbox"].count_documents({})
        stop.set()
        relay.nudge()
        await task
        return left

    left = run(scenario())
    assert left == 0  # every pointer deleted once its commit was sent
    for n in range(1, 21):
        stream = f"cadre-cd-{n}"
        assert [v for s, v in producer.sent if s == stream] == [1, 2]
    writes = [op for op in log if op.startswith("outbox.") and op != "outbox.insert_one"]
    assert writes.count("outbox.find") == 1  # only the start's read, not one a round
    assert 1 <= writes.count("outbox.delete_many") <= 5  # not one a round: twenty rounds or more


def test_a_stream_another_process_appended_to_goes_out_through_the_outbox_in_order():
    """This process appends version 2 of a stream whose version 1 another process stored
    (its pointer still in the outbox): the relay must not send 2 from memory before 1."""
    log: list[str] = []
    db = MemoryDatabase()
    store, relay, producer = _relay(db, log)
    other = EventStore(db)  # an API-only process: its commits reach this relay by the outbox

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await _until(lambda: "outbox.find" in log)
        first = registered("cd-1")
        await other.append(first.stream_id, 0, [first])
        second = updated("cd-1", 2)
        await store.append(second.stream_id, 1, [second])
        relay.nudge()
        await _until(lambda: len(producer.sent) == 2)
        stop.set()
        relay.nudge()
        await task

    run(scenario())
    assert producer.sent == [("cadre-cd-1", 1), ("cadre-cd-1", 2)]
    assert log.count("outbox.find") >= 2  # the landed version 2 asked for a read


def test_pointers_not_yet_deleted_when_the_relay_stops_are_sent_again_and_none_is_lost():
    """Published, not yet deleted, or not yet published when the process dies: a relay
    started afterwards finds every such pointer and sends its commit (at least once)."""
    db = MemoryDatabase()
    store, relay, producer = _relay(db, [])

    async def scenario():
        for n in (1, 2):
            env = registered(f"cd-{n}")
            await store.append(env.stream_id, 0, [env])
        sent, _, _ = await relay._round(read=False)  # published from memory; deletes still pending
        assert sent == 2 and store.unlinked() == 2
        env = registered("cd-3")
        await store.append(env.stream_id, 0, [env])  # stored, never published: the process dies
        after, relay_after, producer_after = _relay(db, [])
        stop = asyncio.Event()
        task = asyncio.create_task(relay_after.run(stop))
        await _until(lambda: len(producer_after.sent) == 3)
        await _until(lambda: after.unlinked() == 0)
        stop.set()
        relay_after.nudge()
        await task
        return producer_after.sent, await db["outbox"].count_documents({})

    again, left = run(scenario())
    assert sorted(again) == [("cadre-cd-1", 1), ("cadre-cd-2", 1), ("cadre-cd-3", 1)]
    assert left == 0


def test_a_landed_commit_another_relay_published_first_stops_making_rounds_read_the_outbox():
    """Two replicas, each with its relay: the other's relay published this process's commit and
    deleted its pointer before this relay could. Held back here (its stream's version 1 came
    from the other process), it would make every woken round read the outbox; after HELD_MAX it
    is forgotten, and a commit whose pointer is still there is published by the read as ever."""
    db = MemoryDatabase()
    store, _, _ = _relay(db, [])
    other = EventStore(db)

    async def scenario():
        first = registered("cd-1")
        await other.append(first.stream_id, 0, [first])
        second = updated("cd-1", 2)
        await store.append(second.stream_id, 1, [second])
        theirs = await other.unpublished(10)  # the other relay sends both and drops the pointers
        await other.mark_published([c["_id"] for c in theirs])
        return [c["version"] for c in theirs]

    assert run(scenario()) == [1, 2]
    assert store.landed_ready(10) == ([], True)  # held: version 1 was not published here
    (doc,) = store._landed.values()
    doc["committed_at"] -= HELD_MAX + timedelta(seconds=1)
    assert store.landed_ready(10) == ([], False) and not store._landed


def test_a_relay_beside_its_api_deletes_the_pointers_of_a_second_of_appends_together():
    """Where the API runs beside the relay (Runtime.start), no other process waits on the
    pointers: appends spread over a second leave their pointers to one or two deletes (UNLINK_NUDGED),
    not one every UNLINK_AFTER; every pointer still goes."""
    log: list[str] = []
    db = MemoryDatabase()
    store = EventStore(db)
    store.keep_landed = True
    store.outbox = Counted(store.outbox, log, "outbox")
    producer = Producer()
    relay = OutboxRelay(
        store, producer, lambda event: "topic", poll_interval=60.0, unlink_after=UNLINK_NUDGED
    )

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await _until(lambda: "outbox.find" in log)
        for n in range(1, 11):
            env = registered(f"cd-{n}")
            await store.append(env.stream_id, 0, [env])
            relay.nudge()
            await asyncio.sleep(0.1)
        await _until(lambda: len(producer.sent) == 10)
        return await _stopped_once_empty(db, relay, stop, task)

    assert run(scenario()) == 0
    assert 1 <= log.count("outbox.delete_many") <= 2


def test_an_import_goes_out_from_memory_as_it_is_stored_and_its_batch_pointers_go():
    """An import (append_many: 1,200 new cadres, three chunks) in the relay's process: each
    chunk stored wakes the relay, which sends it from memory, never reading the commits back
    (on FerretDB, 2,000 commits read back took a relay round ~3 s after a 20,000-row import's
    answer); every cadre's registration goes out once, and the batch pointers are deleted."""
    log: list[str] = []
    db = MemoryDatabase()
    store, relay, producer = _relay(db, log)
    relay.poll_interval = 0.2  # the outbox is read too, as a relay's poll does
    store.commits = Counted(store.commits, log, "events")

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await _until(lambda: "outbox.find" in log)  # the start's read
        envs = [registered(f"cd-{n}") for n in range(1, 1201)]
        conflicts = await store.append_many([(e.stream_id, 0, [e]) for e in envs])
        await _until(lambda: len(producer.sent) >= 1200)
        return conflicts, await _stopped_once_empty(db, relay, stop, task)

    conflicts, left = run(scenario())
    assert conflicts == set()
    assert sorted(producer.sent) == sorted((f"cadre-cd-{n}", 1) for n in range(1, 1201))  # each once
    assert left == 0, "the import's batch pointers are deleted once their commits went"
    assert "events.find" not in log and "events.find_one" not in log, "no commit read back"


def test_an_outbox_read_never_fences_an_import_chunk_this_process_is_still_writing():
    """A relay's outbox read meets the batch pointer of a chunk whose insert is still on its way
    (under load a chunk took seconds, and a read slower than ORPHAN_AFTER fenced landed commits one
    by one): the writer is alive, so its streams wait, unfenced, and the chunk goes out once stored."""
    db = MemoryDatabase()
    store, relay, producer = _relay(db, [])
    inner = store.commits
    stored = asyncio.Event()

    class Slow:
        def __getattr__(self, attr):
            return getattr(inner, attr)

        async def insert_many(self, docs, ordered=True):
            await stored.wait()
            return await inner.insert_many(docs, ordered=ordered)

    store.commits = Slow()

    async def scenario():
        envs = [registered(f"cd-{n}") for n in range(1, 11)]
        writing = asyncio.create_task(store.append_many([(e.stream_id, 0, [e]) for e in envs]))
        while not await db["outbox"].count_documents({}):  # its batch pointer, then its insert
            await asyncio.sleep(0.01)
        (pointer,) = [p async for p in db["outbox"].find({})]
        old = utcnow() - ORPHAN_AFTER - timedelta(seconds=1)
        await db["outbox"].update_one({"_id": pointer["_id"]}, {"$set": {"at": old}})
        held = await store.unpublished(100)
        fenced = await inner.count_documents({"fence": True})
        stored.set()
        conflicts = await writing
        sent, _, _ = await relay._round(read=False)
        return held, fenced, conflicts, sent

    held, fenced, conflicts, sent = run(scenario())
    assert held == [] and fenced == 0, "the chunk in flight is waited for, not fenced"
    assert conflicts == set(), "no registration of the import was made to conflict"
    assert sent == 10 and sorted(producer.sent) == sorted((f"cadre-cd-{n}", 1) for n in range(1, 11))
