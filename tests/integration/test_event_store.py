"""Optimistic concurrency on the real store: exactly one writer wins each version."""

import asyncio

import pytest
from pymongo import AsyncMongoClient

from shared.commands import CommandHandler, Context
from shared.contracts.selection import NominationWaitlisted, NominationWithdrawn, TraineeNominated
from shared.errors import ConcurrencyConflict, DomainError, Forbidden
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


async def test_outbox_holds_back_a_stream_behind_an_append_in_flight_and_fences_orphans(servers):
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
    await store.outbox.insert_one(
        {"_id": "crashed", "stream_id": "gone", "version": 1, "at": utcnow() - timedelta(minutes=10)}
    )
    assert await store.count_unpublished() == 4
    batch = await store.unpublished(100)
    assert [c["stream_id"] for c in batch] == ["ready"], "held back behind v1; orphan not a commit"
    assert await store.outbox.find_one({"_id": "crashed"}) is None, "an old pointer to nothing is dropped"
    fence = await store.commits.find_one({"_id": "crashed"})
    assert fence["fence"] and fence["events"] == [] and fence["for_stream"] == "gone"
    assert await store.read_stream("gone") == []
    await store.mark_published([c["_id"] for c in batch])
    assert await store.count_unpublished() == 2
    await client.drop_database(store.db.name)
    await client.close()


async def test_an_orphan_is_resolved_in_seconds_and_its_late_commit_can_never_land(servers):
    """A writer stopped between its pointer and its commit (a crash, or a store that is
    very slow to apply the insert): after ORPHAN_AFTER the relay fences the commit's id,
    so the stream's later events go out, and the late insert fails as a conflict (the
    command handler then decides again on the stream as it is)."""
    from datetime import timedelta

    from shared.errors import ConcurrencyConflict
    from shared.events import utcnow
    from shared.eventstore import ORPHAN_AFTER

    assert ORPHAN_AFTER <= timedelta(seconds=5)
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    ev = TraineeNominated(class_id="c", cadre_id="a", name="x", unit="u")
    await store.outbox.insert_one(
        {"_id": "slow", "stream_id": "s", "version": 1, "at": utcnow() - ORPHAN_AFTER - timedelta(seconds=1)}
    )
    await store.append("s", 0, CommandHandler.envelopes("s", 0, [ev], CTX), commit_id="retry")
    assert [c["_id"] for c in await store.unpublished(100)] == ["retry"], "the stream is not held back"
    assert await store.outbox.find_one({"_id": "slow"}) is None
    with pytest.raises(ConcurrencyConflict):  # the slow writer's insert arrives at last
        await store.append("s", 0, CommandHandler.envelopes("s", 0, [ev], CTX), commit_id="slow")
    assert [e.stream_version for e in await store.read_stream("s")] == [1]
    # a retried request whose id was fenced goes on under the next id of the same request
    assert await store.applied("slow") == ("slow~1", None)
    assert (await store.applied("retry"))[1][0].stream_id == "s"
    await client.drop_database(store.db.name)
    await client.close()


class _TwoPlaces:
    """A class of two places: nominate (idempotent), withdraw; a third nominee is refused."""

    def initial(self) -> frozenset:
        return frozenset()

    def decide(self, state: frozenset, command: tuple[str, str]) -> list:
        what, cadre = command
        if what == "mark":  # only someone in the class may be marked
            if cadre not in state:
                raise Forbidden(f"{cadre} 不是本班学员")
            return [NominationWaitlisted(class_id="c", cadre_id=cadre)]
        if what == "withdraw":
            return [NominationWithdrawn(class_id="c", cadre_id=cadre)] if cadre in state else []
        if cadre in state:
            return []
        if len(state) >= 2:
            raise DomainError("名额已满")
        return [TraineeNominated(class_id="c", cadre_id=cadre, name="x", unit="u")]

    def evolve(self, state: frozenset, event) -> frozenset:
        kind = type(event).__name__
        if kind == "NominationWaitlisted":
            return state
        return state - {event.cadre_id} if kind == "NominationWithdrawn" else state | {event.cadre_id}


async def test_a_remembered_aggregate_never_decides_on_stale_state(servers):
    """Two service processes (two handlers) on one stream. Each remembers the aggregate
    after its own appends; what the other appended meanwhile is never missed."""
    client = AsyncMongoClient(servers.mongodb)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    reads = {"n": 0}
    read_stream = store.read_stream

    async def counted(stream_id):
        reads["n"] += 1
        return await read_stream(stream_id)

    store.read_stream = counted
    a, b, places = CommandHandler(store), CommandHandler(store), _TwoPlaces()

    await a.execute(places, "cls", ("nominate", "p1"), CTX)
    await a.execute(places, "cls", ("withdraw", "p1"), CTX)
    await a.execute(places, "cls", ("nominate", "p2"), CTX)
    assert reads["n"] == 1, "one clerk working through a list: the stream is read once"

    await b.execute(places, "cls", ("nominate", "p3"), CTX)  # the other process fills the class
    with pytest.raises(Exception, match="名额已满"):  # a's copy had a free place
        await a.execute(places, "cls", ("nominate", "p4"), CTX)
    await a.execute(places, "cls", ("withdraw", "p2"), CTX)
    await a.execute(places, "cls", ("nominate", "p5"), CTX)  # a's copy: full
    await b.execute(places, "cls", ("withdraw", "p5"), CTX)
    assert await a.execute(places, "cls", ("nominate", "p6"), CTX), "a refusal on a copy is re-checked"
    await b.execute(places, "cls", ("withdraw", "p6"), CTX)
    assert await a.execute(places, "cls", ("nominate", "p6"), CTX), (
        "an empty decision on a copy is re-checked"
    )
    await b.execute(places, "cls", ("withdraw", "p6"), CTX)
    await a.execute(places, "cls", ("withdraw", "p3"), CTX)  # a's copy: nobody
    await b.execute(places, "cls", ("nominate", "p8"), CTX)
    assert await a.execute(places, "cls", ("mark", "p8"), CTX), "a 403 on a copy is re-checked"

    stored = [(e.type[0], e.payload["cadre_id"]) for e in await read_stream("cls")]
    assert stored == [
        ("T", "p1"),
        ("N", "p1"),
        ("T", "p2"),
        ("T", "p3"),
        ("N", "p2"),
        ("T", "p5"),
        ("N", "p5"),
        ("T", "p6"),
        ("N", "p6"),
        ("T", "p6"),
        ("N", "p6"),
        ("N", "p3"),
        ("T", "p8"),
        ("N", "p8"),
    ]
    await client.drop_database(store.db.name)
    await client.close()


async def test_append_many_appends_every_new_stream_and_reports_only_the_conflicting_ones(servers):
    """1,201 streams (three insert commands): one already had its first commit, and only it
    conflicts; every other stream is stored and has its outbox pointer, the conflict has none."""
    from shared import eventstore

    client = AsyncMongoClient(servers.mongodb)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()

    def nominated(stream: str, version: int = 0):
        ev = TraineeNominated(class_id="c", cadre_id=stream, name="x", unit="u")
        return CommandHandler.envelopes(stream, version, [ev], CTX)

    await store.append("s0600", 0, nominated("s0600"))
    streams = [f"s{i:04d}" for i in range(eventstore.MANY_CHUNK * 2 + 201)]
    conflicts = await store.append_many([(s, 0, nominated(s)) for s in streams])
    assert conflicts == {"s0600"}
    assert await store.commits.count_documents({}) == len(streams)
    for s in ("s0000", "s0499", "s0500", "s1000", streams[-1]):
        assert [e.payload["cadre_id"] for e in await store.read_stream(s)] == [s]
    assert len(await store.read_stream("s0600")) == 1
    # The earlier single append's pointer, and one per stream appended by append_many.
    assert await store.count_unpublished() == len(streams)
    assert await store.outbox.count_documents({"stream_id": "s0600"}) == 1
    with pytest.raises(ValueError, match="does not follow"):
        await store.append_many([("x", 3, nominated("x"))])
    await client.drop_database(store.db.name)
    await client.close()


async def test_an_imports_batch_pointers_are_published_in_stream_order_and_then_dropped(servers):
    """append_many leaves one outbox pointer per chunk, not one per commit. The relay
    publishes every commit they name, a stream's earlier commit (a single append's own
    pointer) before the batch's, holds back only the stream whose earlier commit is still
    in flight, fences a named commit that never lands, and drops each batch pointer once
    all its commits went."""
    from datetime import timedelta

    from shared import eventstore
    from shared.events import utcnow

    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()

    def nominated(stream: str, version: int = 0):
        ev = TraineeNominated(class_id="c", cadre_id=stream, name="x", unit="u")
        return CommandHandler.envelopes(stream, version, [ev], CTX)

    await store.append("s0007", 0, nominated("s0007"))  # its v1, unpublished: v2 comes in the batch
    await store.append("s0900", 0, nominated("s0900"))  # v1 stored; v2's append is in flight
    # (dated ahead, so a slow run does not make it an orphan before the test says so)
    soon = utcnow() + timedelta(minutes=1)
    await store.outbox.insert_one({"_id": "in-flight", "stream_id": "s0900", "version": 2, "at": soon})
    streams = [f"s{i:04d}" for i in range(eventstore.MANY_CHUNK * 2 + 10)]
    after = {"s0007": 1, "s0900": 2}
    conflicts = await store.append_many(
        [(s, after.get(s, 0), nominated(s, after.get(s, 0))) for s in streams]
    )
    assert conflicts == set()
    batches = [p async for p in store.outbox.find({"stream_id": {"$regex": "^many:"}})]
    assert sorted(len(p["commits"]) for p in batches) == [10, 500, 500]
    assert await store.count_unpublished() == len(streams) + 3  # two single appends and the one in flight
    sent: list[tuple[str, int]] = []
    for _ in range(3):
        commits = await store.unpublished(500)
        sent += [(c["stream_id"], c["version"]) for c in commits]
        await store.mark_published([c["_id"] for c in commits])
    # Every commit at least once; s0007's v1 before the batch's v2; s0900 only up to v1,
    # held behind its v2 in flight.
    assert {s for s, _ in sent} == set(streams)
    # ... and once: the batch held back for s0900 is not sent again whole every round.
    assert len(sent) == len(set(sent))
    assert [v for s, v in sent if s == "s0007"] == [1, 2]
    assert [v for s, v in sent if s == "s0900"] == [1]
    left = [p async for p in store.outbox.find({})]
    assert sorted(p["_id"] for p in left if "commits" not in p) == ["in-flight"]
    held = [p for p in left if "commits" in p]
    assert len(held) == 1 and "s0900" in held[0]["streams"], "only the batch naming s0900 stays"
    # The in-flight append never lands: fenced after ORPHAN_AFTER, and s0900's v3 goes out.
    await store.outbox.update_one({"_id": "in-flight"}, {"$set": {"at": utcnow() - timedelta(minutes=1)}})
    commits = await store.unpublished(500)
    assert [c["version"] for c in commits if c["stream_id"] == "s0900"] == [3]
    await store.mark_published([c["_id"] for c in commits])
    assert await store.count_unpublished() == 0
    await client.drop_database(store.db.name)
    await client.close()


async def test_command_append_many_redecides_a_conflict_on_the_stored_stream_and_refuses_per_command(servers):
    """The kernel entry an import uses: each command decided on the state the caller holds;
    a stream that moved on is decided again on its stored events; a refusal is that
    command's alone."""
    from shared.commands import Loaded, Planned

    client = AsyncMongoClient(servers.mongodb)
    store = EventStore(client[f"t_store_{new_id()[-12:]}"])
    await store.ensure_indexes()
    handler, places = CommandHandler(store), _TwoPlaces()
    await handler.execute(places, "full", ("nominate", "a"), CTX)
    await handler.execute(places, "full", ("nominate", "b"), CTX)
    handler._cache.clear()  # as another process: it knows nothing of these streams
    results = await handler.append_many(
        places,
        [
            Planned("new-1", ("nominate", "p1")),
            Planned("full", ("nominate", "c")),  # believed new, holds two
            Planned("new-2", ("mark", "nobody")),  # refused on its own
            Planned("known", ("withdraw", "p9"), Loaded(frozenset({"p9"}), 0, "371428")),
        ],
        CTX,
    )
    assert [e.payload["cadre_id"] for e in results[0]] == ["p1"]
    assert isinstance(results[1], DomainError) and "名额已满" in results[1].message
    assert isinstance(results[2], Forbidden)
    assert [e.type for e in results[3]] == ["NominationWithdrawn"]
    assert [e.payload["cadre_id"] for e in await store.read_stream("full")] == ["a", "b"]
    assert await store.read_stream("new-2") == []
    assert [e.payload["cadre_id"] for e in await store.read_stream("new-1")] == ["p1"]
    # What it appended is not kept (an import's cadres were 3.6 MB of copies): the next command
    # on new-1 reads its stream, once, and decides on it.
    reads = {"n": 0}
    read_stream = store.read_stream

    async def counted(stream_id):
        reads["n"] += 1
        return await read_stream(stream_id)

    store.read_stream = counted
    await handler.execute(places, "new-1", ("withdraw", "p1"), CTX)
    assert reads["n"] == 1
    assert [e.type for e in await read_stream("new-1")] == ["TraineeNominated", "NominationWithdrawn"]
    await client.drop_database(store.db.name)
    await client.close()


async def test_bulk_write_sends_a_run_of_inserts_as_one_command_and_reports_failed_indexes(servers):
    """A projector creating many documents: consecutive inserts go as one insert command per
    500 (counted by the driver's command monitor); a duplicate is reported at its index in
    the whole list, and the other writes stand. The chunks go several at a time
    (`writes_in_flight`), so which of two inserts of one id lands first is the store's race:
    the one reported failed is the one not stored (a clean-clone CI run under load reported the
    first, index 1, where the test had expected the second)."""
    from pymongo import InsertOne, ReplaceOne, monitoring

    from shared import store as st

    class Inserts(monitoring.CommandListener):
        count = 0

        def started(self, event):
            if event.command_name == "insert":
                Inserts.count += 1

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    client = AsyncMongoClient(servers.mongodb, event_listeners=[Inserts()])
    coll = client[f"t_store_{new_id()[-12:]}"]["docs"]
    await coll.insert_one({"_id": "d0700", "n": -1})
    ops = [InsertOne({"_id": f"d{i:04d}", "n": i}) for i in range(1200)]
    ops[3] = ReplaceOne({"_id": "d0700"}, {"n": 700})  # splits the run: 3 inserts, then 1196
    ops[1100] = InsertOne({"_id": "d0001", "n": 0})  # a duplicate of ops[1]
    Inserts.count = 0
    with pytest.raises(st.ChunkedBulkError) as err:
        await st.bulk_write(coll, ops)
    failed = sorted(err.value.failed_indexes)
    assert failed in ([1, 700], [700, 1100])  # d0700 existed; d0001 came twice, one of them lost
    assert Inserts.count == 1 + 3  # [0:3], then [4:504], [504:1004], [1004:1200]
    assert await coll.count_documents({}) == 1198
    stored = (await coll.find_one({"_id": "d0001"}))["n"]
    assert stored == (0 if 1 in failed else 1)  # the insert reported failed is not the one stored
    assert (await coll.find_one({"_id": "d0700"}))["n"] == 700
    await client.drop_database(coll.database.name)
    await client.close()
