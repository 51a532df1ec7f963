"""The live projector folds a backlog's next batch while the writes of the one before are in flight
(issue 16: a 20,000-row import shown in the registry at >= 2,000 rows/s end to end; after the
import's answer the store wrote on one core while the projector's process waited for it, and the
other way round). What that must not cost, each shown here through `Projector.run` on a broker
holding the whole backlog and a store whose writes take a while: positions saved and offsets
committed pass no write still in flight; a write that fails behind the next fold leaves the
stored positions before its batch, and the projector, started again, folds it; a document the next
batch touches while it is being written is waited for; the reads waiting for a write
(`progress`) and the read index (`observers`) hear of a document only once it is stored."""

from __future__ import annotations

import asyncio
import re

from aiokafka import TopicPartition

from services.selection.projections import classes
from shared.memory import MemoryDatabase
from shared.projector import Follower, ProjectionWriter, Projector
from tests.unit.test_projector_cache import TOPIC, class_stream, records
from tests.unit.test_projector_holding import folded_once, stored
from tests.unit.test_projector_overlap import Timeline, one_after_another

TP = TopicPartition(TOPIC, 0)


class Broker:
    """The consumer's side of one partition whose records are all on the broker already (an
    import's burst: its high watermark past every fetch), fetched `fetch` at a time. The group's
    assignment seeks it to the stored positions (the projector's rebalance listener); once it is
    read to its end the projector is stopped."""

    def __init__(self, recs, fetch: int, done: asyncio.Event, timeline: Timeline | None = None) -> None:
        self.recs, self.fetch, self.done, self.timeline = recs, fetch, done, timeline
        self.at = 0
        self.listener = None
        self.committed: list[int] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, pattern, listener) -> None:
        self.listener = listener

    def pause(self, *tps) -> None: ...

    def resume(self, *tps) -> None: ...

    def seek(self, tp, offset: int) -> None:
        self.at = offset

    async def seek_to_beginning(self, *tps) -> None:
        self.at = 0

    def highwater(self, tp) -> int:
        return len(self.recs)

    async def getmany(self, timeout_ms: int = 0, max_records: int = 1):
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.on_partitions_assigned([TP])
        got = self.recs[self.at : self.at + min(self.fetch, max_records)]
        self.at += len(got)
        if not got:
            self.done.set()
        return {TP: got} if got else {}

    async def commit(self, offsets) -> None:
        if self.timeline is not None:
            self.timeline.check(self.timeline.coll, offsets[TP])
        self.committed.append(offsets[TP])


def follow(writer: ProjectionWriter, recs, timeline: Timeline | None = None) -> Broker:
    """Run a projector of the one writer over the records, in batches of 10, until read to the end."""
    done = asyncio.Event()
    broker = Broker(recs, 10, done, timeline)
    projector = writer.projector = getattr(writer, "projector", None) or Projector(
        [Follower(writer, re.compile(re.escape(TOPIC)))], consumer_factory=lambda: broker, batch_size=10
    )
    projector.consumer_factory = lambda: broker
    asyncio.run(projector.run(done))
    return broker


def timed(writer: ProjectionWriter, recs, **kw) -> Timeline:
    timeline = Timeline(writer, recs, **kw)
    timeline.coll = writer.coll
    return timeline


def test_a_backlog_s_next_batch_is_folded_while_the_write_before_it_is_in_flight():
    recs = records(one_after_another(9, 9, 9, 9, 9, 9))  # 60 events, a class per batch of 10
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    timeline = timed(writer, recs)
    broker = follow(writer, recs, timeline)
    assert timeline.folds_during_writes() >= 3  # one after the other (main), none would be
    assert timeline.behind == []  # no position saved or offset committed passed an unwritten event
    assert broker.committed and broker.committed[-1] == len(recs)
    assert stored(db) == folded_once(recs)
    assert run_positions(writer) == {(TOPIC, 0): len(recs)}


def run_positions(writer: ProjectionWriter) -> dict:
    return asyncio.run(writer.load_positions())


def test_a_write_failing_behind_the_next_fold_leaves_positions_before_its_batch_and_a_restart_folds_it():
    recs = records(one_after_another(9, 9, 9, 9, 9, 9))
    for lost_answer in (False, True):  # nothing stored, or stored with its answer lost
        db = MemoryDatabase()
        writer = ProjectionWriter(classes, db, dead_letters=None)
        timeline = timed(writer, recs, fail_write=2, lost_answer=lost_answer)
        try:
            follow(writer, recs, timeline)
        except ConnectionError:
            pass
        else:
            raise AssertionError("the projector went on past a failed write")
        failed_at = timeline.log.index(("failed", 2))
        began_at = timeline.log.index(("write", 2))
        assert any(what == "fold" for what, _ in timeline.log[began_at:failed_at])  # behind a fold
        assert timeline.behind == []
        assert run_positions(writer).get((TOPIC, 0), 0) <= 10, "positions passed the failed batch"
        # The runtime's guard starts the same projector again: the assignment seeks to the
        # stored positions, and the failed batch is folded again, not skipped as applied.
        follow(writer, recs, timeline)
        assert stored(db) == folded_once(recs), f"lost answer: {lost_answer}"
        assert timeline.behind == []


def test_a_document_the_next_batch_touches_while_it_is_written_is_waited_for():
    # k1 opens in batch 1 (a new document, inserted) and is nominated again in batch 2, which
    # also opens k2: batch 2 folds k1 only once its insert has landed. Batch 3 (k3) is folded
    # while batch 2 is written.
    k1, k2, k3 = class_stream("k1", 13), class_stream("k2", 5), class_stream("k3", 9)
    recs = records([*k1[:10], *k1[10:], *k2, *k3])
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    timeline = timed(writer, recs)
    follow(writer, recs, timeline)
    folds = [i for i, (what, ids) in enumerate(timeline.log) if what == "fold" and "k1" in ids]
    assert len(folds) == 2
    assert timeline.log.index(("written", 1)) < folds[1], "k1 folded again before its write landed"
    assert timeline.folds_during_writes() >= 1
    assert len(db["classes"].docs["k1"]["nominations"]) == 13
    assert stored(db) == folded_once(recs)


def test_the_reads_and_the_read_index_hear_of_a_document_only_once_it_is_stored():
    recs = records(one_after_another(9, 9, 9, 9, 9, 9))
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    timeline = timed(writer, recs)
    early: list[str] = []

    def reported(streams: list[tuple[str, int]]) -> None:
        for stream_id, version in streams:
            doc = db["classes"].docs.get(stream_id.removeprefix("class-"))
            if doc is None or len(doc.get("nominations", [])) < version - 1:
                early.append(f"{stream_id}@{version} reported")

    def observed(docs: list[dict]) -> None:
        for d in docs:
            held = db["classes"].docs.get(d["_id"])
            if held is None or held["_rev"] < d["_rev"]:
                early.append(f"{d['_id']} rev {d['_rev']} observed")

    writer.progress.append(reported)
    writer.observers.append(observed)
    follow(writer, recs, timeline)
    assert timeline.folds_during_writes() >= 3
    assert early == []
    assert stored(db) == folded_once(recs)
