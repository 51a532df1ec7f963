"""A province dashboard catching up holds what its writers fold (shared/projector.Projector,
`catch_up_hold`): a county's cadre buckets, changed by every batch of that county, are written
when they go still instead of by every batch; what is stored is what folding batch by batch
stores; and a write the store fails while documents are held loses nothing (the held documents
are dropped, the partitions read again from the stored positions, which stop before them).

A real Projector with the dashboard's two writers over the in-memory store, fed by a stand-in
consumer that answers small fetches per partition and, when (re)started, seeks each partition
to the stored positions as the real one does (`_SeekToStored`)."""

from __future__ import annotations

import asyncio
import re
import zlib
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pymongo.errors import AutoReconnect

from bench.province import County
from bench.province_produce import build
from services.dashboard import projections as dash
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import Follower, ProjectionWriter, Projector
from tests.unit.test_dashboard_partial_writes import CopyingDatabase, fold, stored
from tests.unit.test_projector_failed_write import FailingDatabase

ARGS = SimpleNamespace(cadres=400, online=0.6, classes=2, class_size=6)
FETCH = 50  # records a fetch brings per partition (the dashboard: 32 KiB)
BATCH = 200  # the catching-up batch (the dashboard: 3,000)


def county(code: str) -> list[ConsumerRecord]:
    _, events, _ = asyncio.run(build(code, County, ARGS, seed=code))
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for topic, key, value, headers in events:
        part = zlib.crc32(key.encode() if isinstance(key, str) else key) % 2
        at = offsets[(topic, part)] = offsets.get((topic, part), -1) + 1
        out.append(ConsumerRecord(topic, part, at, 0, 0, key, value, None, 0, len(value), headers))
    return out


RECORDS = None


def records() -> list[ConsumerRecord]:
    global RECORDS
    if RECORDS is None:
        RECORDS = county("710101") + county("710102")
    return RECORDS


class Consumer:
    """Small fetches per partition; seeks to the stored positions when it starts, as the
    projector's rebalance listener makes the real consumer do; stops the projector once every
    record was read and nothing more came."""

    def __init__(
        self, recs: list[ConsumerRecord], done: asyncio.Event, committed: dict, listener_fails: bool = False
    ) -> None:
        self.parts: dict[TopicPartition, list[ConsumerRecord]] = {}
        for r in recs:
            self.parts.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        self.at = dict.fromkeys(self.parts, 0)
        self.paused: set[TopicPartition] = set()
        self.done, self.listener, self.empty = done, None, 0
        # The group's committed offsets (kept across restarts) and whether the rebalance listener's
        # read of the stored positions fails: aiokafka logs that and reads from the committed ones.
        self.committed, self.listener_fails = committed, listener_fails

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, pattern, listener) -> None:
        self.listener = listener

    async def getmany(self, timeout_ms, max_records):
        if self.listener is not None:
            listener, self.listener = self.listener, None
            if self.listener_fails:
                self.at = {tp: self.committed.get(tp, 0) for tp in self.parts}
            else:
                await listener.on_partitions_assigned(set(self.parts))
        out, room = {}, max_records
        for tp, recs in sorted(self.parts.items()):
            if tp in self.paused or room <= 0:
                continue
            got = recs[self.at[tp] : self.at[tp] + min(FETCH, room)]
            if got:
                out[tp] = got
                self.at[tp] += len(got)
                room -= len(got)
        if not out:
            self.empty += 1
            if self.empty > 1:
                self.done.set()
        return out

    async def commit(self, offsets) -> None:
        self.committed.update(offsets)

    def seek(self, tp, offset) -> None:
        self.at[tp] = offset

    async def seek_to_beginning(self, *tps) -> None:
        self.at.update(dict.fromkeys(tps, 0))

    async def end_offsets(self, tps):
        return {tp: len(self.parts[tp]) for tp in tps}

    async def beginning_offsets(self, tps):
        return dict.fromkeys(tps, 0)

    def pause(self, *tps) -> None:
        self.paused |= set(tps)

    def resume(self, *tps) -> None:
        self.paused -= set(tps)

    async def position(self, tp) -> int:
        return self.at[tp]


def projector(db, hold: bool, heard: dict | None = None) -> Projector:
    followers = []
    for projection in (dash.classes, dash.cadres):
        writer = ProjectionWriter(projection, db, dead_letters=None, sealer=Sealer(Vault(MemoryDatabase())))
        if heard is not None:
            writer.observers.append(lambda docs: heard.update({d["_id"]: d.get("n") for d in docs}))
        followers.append(Follower(writer, re.compile(r"ganxun\..*")))
    return Projector(
        followers,
        consumer_factory=None,
        batch_size=BATCH,
        linger=0,
        catch_up=4,  # two counties' four topics of two partitions: two topics at a time
        catch_up_batch=BATCH,
        catch_up_hold=hold,
    )


def positions(p: Projector) -> list[dict]:
    return [asyncio.run(f.writer.load_positions()) for f in p.followers]


def ends() -> dict:
    out: dict = {}
    for r in records():
        out[(r.topic, r.partition)] = max(out.get((r.topic, r.partition), 0), r.offset + 1)
    return out


def catch_up(p: Projector, listener_fails: bool = False) -> int:
    """Run the projector until it has read everything; a failure restarts it on a new consumer,
    as shared/runtime.py's guard does (`listener_fails`: whose read of the stored positions fails
    then). Returns how many times it failed."""
    recs, committed = records(), {}

    async def runs() -> int:
        # In one event loop, as the guard restarts it: a write another writer has in flight when
        # the projector fails is then finished, not cancelled with a loop.
        failures = 0
        while True:
            done = asyncio.Event()
            fails = listener_fails and failures > 0
            p.consumer_factory = lambda done=done, fails=fails: Consumer(recs, done, committed, fails)
            try:
                await p.run(done)
                return failures
            except AutoReconnect:
                failures += 1

    return asyncio.run(runs())


REFERENCE = None


def reference() -> CopyingDatabase:
    """The two counties folded batch by batch by plain writers."""
    global REFERENCE
    if REFERENCE is None:
        REFERENCE = CopyingDatabase()
        for projection in (dash.classes, dash.cadres):
            fold(projection, records(), REFERENCE, BATCH)
    return REFERENCE


def writes(db, projection) -> int:
    return len(db[projection.collection].kinds)


def test_a_catching_up_dashboard_writes_each_bucket_when_it_goes_still_and_stores_the_same():
    ref = reference()
    held, plain = CopyingDatabase(), CopyingDatabase()
    heard: dict = {}
    p = projector(held, hold=True, heard=heard)
    assert catch_up(p) == 0
    # Every position at its partition's end: a restart folds nothing again.
    assert positions(p) == [ends(), ends()]
    assert catch_up(projector(plain, hold=False)) == 0
    for projection in (dash.classes, dash.cadres):
        assert stored(held, projection) == stored(ref, projection)
        assert stored(plain, projection) == stored(ref, projection)
    # The roll-up heard every document as stored.
    assert heard == {
        i: d.get("n") for p in (dash.classes, dash.cadres) for i, d in held[p.collection].docs.items()
    }
    buckets = len(held[dash.cadres.collection].docs)
    assert sum(d["n"].get("registered", 0) for d in held[dash.cadres.collection].docs.values()) == 800
    # Batch by batch, a bucket is rewritten by each batch of its county; held, about once.
    assert writes(plain, dash.cadres) > 3 * buckets
    assert writes(held, dash.cadres) <= 1.5 * buckets


@pytest.mark.parametrize("listener_fails", [False, True], ids=["seek-to-stored", "from-committed"])
@pytest.mark.parametrize("applied", [False, True], ids=["nothing-written", "written-answer-lost"])
@pytest.mark.parametrize("fail_at", [2, 4])
def test_a_write_failing_while_documents_are_held_loses_nothing(fail_at, applied, listener_fails):
    """Also when the restarted consumer cannot read the stored positions and starts from the
    offsets committed to Kafka: none is committed past what a writer holds."""
    ref = reference()
    db = FailingDatabase()
    coll = db[dash.cadres.collection]
    coll.fail_at, coll.applied = fail_at, applied
    p = projector(db, hold=True)
    assert catch_up(p, listener_fails) == 1
    assert positions(p) == [ends(), ends()]
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(ref, projection)
    assert sum(d["n"].get("registered", 0) for d in coll.docs.values()) == 800


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_new_class_stored_by_a_write_whose_answer_was_lost_is_read_back_not_inserted_again(fail_at):
    """A class's document is folded from nothing when its first event opens the class's stream
    (`_born`: not read from the store). If the write holding it was stored but its answer lost,
    the replay must read it back: inserted again, it failed as "written by another writer" at
    every restart, and the dashboard never caught up (CI, 2026-11-29)."""
    ref = reference()
    db = FailingDatabase()
    coll = db[dash.classes.collection]
    coll.fail_at, coll.applied = fail_at, True
    p = projector(db, hold=True)
    assert catch_up(p) == 1
    assert positions(p) == [ends(), ends()]
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(ref, projection)


class Rejoining(Consumer):
    """The group's committed offsets are at the partitions' ends (an earlier deployment on another
    database committed them), and at its `rejoin_at`-th fetch the member is kicked out and joins
    again (a missed heartbeat under load): as aiokafka does, the new assignment starts at the
    committed offsets, unpaused, and a failure of the listener is logged and passed over."""

    def __init__(self, recs, done, committed, rejoin_at: int) -> None:
        super().__init__(recs, done, committed)
        self.rejoin_at, self.fetches, self.kept = rejoin_at, 0, None

    def subscribe(self, pattern, listener) -> None:
        self.listener = self.kept = listener

    async def getmany(self, timeout_ms, max_records):
        self.fetches += 1
        if self.fetches == self.rejoin_at:
            self.at = {tp: self.committed.get(tp, 0) for tp in self.parts}
            self.paused = set()
            try:
                await self.kept.on_partitions_assigned(set(self.parts))
            except AutoReconnect:
                pass
        return await super().getmany(timeout_ms, max_records)


def test_a_rejoin_whose_listener_fails_does_not_read_on_from_the_groups_committed_offsets():
    """Under load (bench/province.py at load 16-24 on given servers), the dashboard's consumer
    was kicked out of its group and joined again, and the listener's read of the stored positions
    failed: aiokafka logged it and went on from the offsets the group had committed, those of an
    earlier run's dashboard at the partitions' ends. The rest of the partitions was never folded,
    no crash was logged, and the first start never completed (records 1,908 of 2,003)."""
    ref = reference()
    db = CopyingDatabase()
    p = projector(db, hold=True)
    cadres = p.followers[1].writer
    reads = {"n": 0}
    load = cadres.load_positions

    async def failing_second_read():
        reads["n"] += 1
        if reads["n"] == 2:
            raise AutoReconnect("the store did not answer in time")
        return await load()

    cadres.load_positions = failing_second_read
    committed = {TopicPartition(t, part): off for (t, part), off in ends().items()}
    restarts = 0
    for _ in range(5):
        done = asyncio.Event()
        p.consumer_factory = lambda done=done: Rejoining(records(), done, committed, rejoin_at=6)
        try:
            asyncio.run(p.run(done))
            break
        except RuntimeError:
            restarts += 1  # shared/runtime.py's guard starts the projector again
    assert sum(d["n"].get("registered", 0) for d in db[dash.cadres.collection].docs.values()) == 800
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(ref, projection)
    assert positions(p) == [ends(), ends()]
    assert restarts == 1


class SlowListener(Rejoining):
    """At the rejoin the listener runs beside the fetches, as aiokafka's coordinator runs it, and
    its read of the stored positions is slow: meanwhile the fetcher reads from the committed
    offsets."""

    async def getmany(self, timeout_ms, max_records):
        self.fetches += 1
        if self.fetches == self.rejoin_at:
            self.at = {tp: self.committed.get(tp, 0) for tp in self.parts}
            self.paused = set()
            self.seeking = asyncio.ensure_future(self.kept.on_partitions_assigned(set(self.parts)))
            await asyncio.sleep(0)
        out = await Consumer.getmany(self, timeout_ms, max_records)
        if getattr(self, "seeking", None) is not None and not self.seeking.done():
            self.empty = 0  # not done: the listener has not sought the partitions yet
            await asyncio.sleep(0.01)
        return out


def test_nothing_is_read_from_the_groups_committed_offsets_while_the_listener_seeks():
    """Records fetched from the committed offsets (an earlier run's, half way) while the listener
    still read the stored positions were folded, and the projector took everything before them as
    applied: the seek back to the stored positions then skipped it."""
    ref = reference()
    db = CopyingDatabase()
    p = projector(db, hold=True)
    for f in p.followers:
        load = f.writer.load_positions

        async def slow(load=load):
            await asyncio.sleep(0.05)
            return await load()

        f.writer.load_positions = slow
    committed = {TopicPartition(t, part): off // 2 for (t, part), off in ends().items()}
    done = asyncio.Event()
    p.consumer_factory = lambda: SlowListener(records(), done, committed, rejoin_at=3)
    asyncio.run(p.run(done))
    assert sum(d["n"].get("registered", 0) for d in db[dash.cadres.collection].docs.values()) == 800
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(ref, projection)
    assert positions(p) == [ends(), ends()]


def test_a_county_s_documents_are_written_once_its_partitions_are_read_to_their_end():
    """A county read to its end is done with: its held buckets and classes are written by the
    next batch, not held on beside the next county's until HOLD_BATCHES (two counties' 64
    buckets in memory at once, ~25 MB at a province; dashmem2, stop 24)."""
    db = CopyingDatabase()
    p = projector(db, hold=True)
    first = {(r.topic, r.partition) for r in records() if r.topic.endswith("710101")}
    # Per batch: whether the first county was read to its end before it, its documents held after.
    held_after: list[tuple[bool, int]] = []
    handle = p.handle

    async def recording(recs):
        done_before = first <= p.catch_up.done
        await handle(recs)
        held = sum(1 for f in p.followers for i in (f.writer._held or {}) if "710101" in i)
        held_after.append((done_before, held))

    p.handle = recording
    assert catch_up(p) == 0
    # A batch handled once the county was read to its end may hold its last records: the batch
    # after it writes the documents they changed.
    assert any(held for _, held in held_after)  # the county was held while it was read
    after_done = [held for (done, _), (_, held) in zip(held_after, held_after[1:]) if done]
    assert after_done and after_done == [0] * len(after_done)
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(reference(), projection)


def test_a_catching_up_writer_keeps_no_more_documents_than_its_cache_size_held_or_cached():
    """The buckets' writer keeps one county's 64 (service.WRITER_CACHE): the county before's,
    written and never read again by the catch-up, are forgotten as the next county's are held,
    not kept beside them."""
    db = CopyingDatabase()
    p = projector(db, hold=True)
    buckets = next(f.writer for f in p.followers if f.writer.projection is dash.cadres)
    buckets.cache_size = 10
    kept: list[tuple[int, int]] = []  # per batch: documents cached, held
    handle = p.handle

    async def recording(recs):
        await handle(recs)
        kept.append((len(buckets._cache), len(buckets._held or {})))

    p.handle = recording
    assert catch_up(p) == 0
    assert max(held for _, held in kept) > 10  # a county's buckets held at once
    assert all(cached <= max(0, 10 - held) for cached, held in kept)
    for projection in (dash.classes, dash.cadres):
        assert stored(db, projection) == stored(reference(), projection)
