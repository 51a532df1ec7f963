"""Optimistic concurrency on the real store: exactly one writer wins each version."""

import asyncio

import pytest
from pymongo import AsyncMongoClient

from shared.commands import CommandHandler, Context
from shared.contracts.selection import TraineeNominated
from shared.errors import ConcurrencyConflict
from shared.events import Actor
from shared.eventstore import EventStore
from shared.ids import new_id

pytestmark = pytest.mark.integration
CTX = Context(actor=Actor(user_id="u", name="测试", role="unit"), jurisdiction="371428", correlation_id="c")


async def test_fifty_concurrent_appends_one_winner_per_version_no_gaps(servers):
    client = AsyncMongoClient(servers.mongodb)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    stream = "class-concurrency"
    winners = []
    for version in range(5):
        async def attempt(i: int):
            ev = TraineeNominated(class_id="c", cadre_id=f"v{version}-w{i}", name="x", unit="u")
            envs = CommandHandler.envelopes(stream, version, [ev], CTX)
            try:
                await store.append(stream, version, envs)
                return envs[0]
            except ConcurrencyConflict as exc:
                assert exc.status == 409 and "刷新后重试" in exc.message
                return None

        results = await asyncio.gather(*(attempt(i) for i in range(50)))
        won = [r for r in results if r is not None]
        assert len(won) == 1, f"version {version + 1}: {len(won)} winners"
        winners.append(won[0])

    stored = await store.read_stream(stream)
    assert [e.stream_version for e in stored] == [1, 2, 3, 4, 5]
    assert [e.event_id for e in stored] == [w.event_id for w in winners]
    await client.drop_database(store.db.name)
    await client.close()


async def test_a_multi_event_commit_is_all_or_nothing(servers):
    client = AsyncMongoClient(servers.mongodb)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    evs = [TraineeNominated(class_id="c", cadre_id=f"a{i}", name="x", unit="u") for i in range(3)]
    await store.append("s", 0, CommandHandler.envelopes("s", 0, evs[:1], CTX))
    # A stale writer that thinks the stream is empty tries to append two events.
    with pytest.raises(ConcurrencyConflict):
        await store.append("s", 0, CommandHandler.envelopes("s", 0, evs[1:], CTX))
    assert [e.payload["cadre_id"] for e in await store.read_stream("s")] == ["a0"]
    await client.drop_database(store.db.name)
    await client.close()


async def test_outbox_holds_back_a_stream_behind_an_append_in_flight_and_drops_orphans(servers):
    from datetime import timedelta

    from shared.events import utcnow

    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    ev = TraineeNominated(class_id="c", cadre_id="a", name="x", unit="u")
    await store.append("ready", 0, CommandHandler.envelopes("ready", 0, [ev], CTX))
    await store.append("held", 1, CommandHandler.envelopes("held", 1, [ev], CTX))
    # "held" v1 is still being appended: its pointer exists, its commit not yet.
    await store.outbox.insert_one({"_id": "in-flight", "stream_id": "held", "version": 1, "at": utcnow()})
    await store.outbox.insert_one({"_id": "crashed", "stream_id": "gone", "version": 1,
                                   "at": utcnow() - timedelta(minutes=10)})
    assert await store.count_unpublished() == 4
    batch = await store.unpublished(100)
    assert [c["stream_id"] for c in batch] == ["ready"], "held back behind v1; orphan not a commit"
    assert await store.outbox.find_one({"_id": "crashed"}) is None, "an old pointer to nothing is dropped"
    await store.mark_published([c["_id"] for c in batch])
    assert await store.count_unpublished() == 2
    await client.drop_database(store.db.name)
    await client.close()
