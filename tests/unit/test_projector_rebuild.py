"""A projection rebuilt from its topics (issue 16: rebuild >= 0.3 of the raw consume limit): the
next batch is opened and decoded while the one before is written, never after a batch that may
hold an erasure; the documents are those of one fold of every event; each written document is
encoded once; the cyclic collector is off while it runs and as it was afterwards."""

from __future__ import annotations

import asyncio
import gc

import bson
import pytest
from aiokafka.structs import TopicPartition
from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne, ReplaceOne

from services.selection.projections import cadres, classes
from shared import projector
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreErased
from shared.events import CATALOGUE, Envelope
from shared.memory import MemoryDatabase
from shared.projector import ProjectionWriter, rebuild
from tests.support import meaning
from tests.unit.test_personal_data import COUNTY, DEPT, registered, run
from tests.unit.test_projector_cache import TOPIC, class_stream, records


def interleaved(*streams: list[Envelope]) -> list[Envelope]:
    out, at = [], 0
    while any(at < len(s) for s in streams):
        out += [s[at] for s in streams if at < len(s)]
        at += 1
    return out


class FakeConsumer:
    """The part of AIOKafkaConsumer that rebuild uses: one partition, fetches of `fetch` records."""

    def __init__(self, recs, fetch: int = 5) -> None:
        self.recs, self.fetch, self.at = recs, fetch, 0
        self.tp = TopicPartition(TOPIC, 0)

    def assign(self, tps) -> None:
        assert tps == [self.tp]

    async def beginning_offsets(self, tps):
        return {self.tp: 0}

    async def end_offsets(self, tps):
        return {self.tp: len(self.recs)}

    async def seek_to_beginning(self, *tps) -> None:
        self.at = 0

    async def getmany(self, *tps, timeout_ms: int = 0, max_records: int = 1):
        got = self.recs[self.at : self.at + min(self.fetch, max_records)]
        self.at += len(got)
        return {self.tp: got} if got else {}


class CountingCatalogue:
    def __init__(self) -> None:
        self.decoded = 0

    def decode(self, raw):
        self.decoded += 1
        return CATALOGUE.decode(raw)

    def __getattr__(self, name):
        return getattr(CATALOGUE, name)


def decoded_when_writing(writer: ProjectionWriter, catalogue: CountingCatalogue, wait_for: int) -> list[int]:
    """How many records had been decoded when each write began; a write first lets the loop
    run (up to 200 turns) until `wait_for` are, as a store's answer takes a while."""
    seen: list[int] = []
    write = writer.coll.bulk_write

    async def slow_write(ops, ordered=True):
        for _ in range(200):
            if catalogue.decoded >= wait_for:
                break
            await asyncio.sleep(0)
        seen.append(catalogue.decoded)
        return await write(ops, ordered=ordered)

    writer.coll.bulk_write = slow_write
    return seen


def test_a_cadre_nominated_again_after_a_withdrawal_is_listed_once():
    docs: dict = {}
    stream = class_stream("k1", 3, withdrawn=1)
    classes.fold(docs, [(e.payload["class_id"], e, *_typed(e)) for e in stream])
    nominations = docs["k1"]["nominations"]
    assert [n["cadre_id"] for n in nominations] == ["cd-1", "cd-2", "cd-0"]
    assert nominations[-1]["status"] == "nominated"


def _typed(env: Envelope):
    decoded = CATALOGUE.decode(env.model_dump(mode="json"))
    return decoded.event, classes.handlers[env.type]


def test_a_rebuild_in_batches_holds_what_one_fold_of_every_event_holds():
    recs = records(interleaved(class_stream("k1", 30, 4), class_stream("k2", 25), class_stream("k3", 12, 2)))
    once, batched = MemoryDatabase(), MemoryDatabase()
    run(ProjectionWriter(classes, once, dead_letters=None).handle(recs))
    writer = ProjectionWriter(classes, batched, dead_letters=None)
    result = run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)], batch_size=9))
    assert result.applied == len(recs)
    want = {d["_id"]: meaning(d) for d in once["classes"].docs.values()}
    assert {d["_id"]: meaning(d) for d in batched["classes"].docs.values()} == want
    assert [len(want[k]["nominations"]) for k in ("k1", "k2", "k3")] == [30, 25, 12]


def test_the_next_batch_is_decoded_while_the_batch_before_is_written():
    # Three classes one after the other, a batch each: the first is written once the second
    # batch has passed without changing it, while the third batch is decoded.
    recs = records([*class_stream("k1", 19), *class_stream("k2", 19), *class_stream("k3", 19)])
    catalogue = CountingCatalogue()
    writer = ProjectionWriter(classes, MemoryDatabase(), dead_letters=None, catalogue=catalogue)
    seen = decoded_when_writing(writer, catalogue, wait_for=60)
    run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)], batch_size=20))
    # The first two batches' 40 and, while k1 is written, the third's 20 (one by one: 40).
    assert seen[0] == 60
    assert catalogue.decoded == len(recs)  # each record decoded once, ahead or not


def test_after_a_batch_that_may_hold_an_erasure_the_next_is_opened_only_once_it_is_folded():
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    erased = CommandHandler.envelopes("cadre-cd-1", 1, [CadreErased(cadre_id="cd-1", ground="ceased")], ctx)
    recs = records([registered("cd-1"), *erased, *[registered(f"cd-{i}") for i in range(2, 16)]])
    catalogue = CountingCatalogue()
    writer = ProjectionWriter(cadres, MemoryDatabase(), dead_letters=None, catalogue=catalogue)
    seen = decoded_when_writing(writer, catalogue, wait_for=len(recs))
    run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)], batch_size=6))
    assert seen[0] == 6  # the erasure's batch alone: the next one waited for its fold
    assert seen[1] == 16  # no erasure in the second batch: the third was decoded meanwhile


def test_the_collector_is_off_while_a_rebuild_runs_and_on_again_after_even_a_failed_one():
    """The cyclic collector only walked the rebuild's live objects: off while it runs (a fifth of
    its own CPU at raised thresholds, docs/benchmarks.md "rebuild4"), as it was after."""
    assert gc.isenabled()
    recs = records(class_stream("k1", 5))
    writer = ProjectionWriter(classes, MemoryDatabase(), dead_letters=None)
    during: list[bool] = []
    write = writer.coll.bulk_write

    async def watched(ops, ordered=True):
        during.append(gc.isenabled())
        return await write(ops, ordered=ordered)

    async def failing(ops, ordered=True):
        during.append(gc.isenabled())
        raise OSError("store gone")

    writer.coll.bulk_write = watched
    run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)]))
    assert during == [False] and gc.isenabled()
    writer.coll.bulk_write = failing
    with pytest.raises(OSError):
        run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)]))
    assert during == [False, False] and gc.isenabled()
    writer.coll.bulk_write = write


def test_a_long_rebuild_collects_its_cycles_every_few_batches(monkeypatch):
    """With the collector off, garbage in cycles would pile up over a long rebuild: it is
    collected every REBUILD_COLLECT batches."""
    monkeypatch.setattr(projector, "REBUILD_COLLECT", 2)
    recs = records([e for k in ("k1", "k2", "k3") for e in class_stream(k, 4)])
    writer = ProjectionWriter(classes, MemoryDatabase(), dead_letters=None)
    collected: list[int] = []
    monkeypatch.setattr(projector.gc, "collect", lambda *a: collected.append(1) or 0)
    run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)], batch_size=3))
    assert len(collected) == len(recs) // 3 // 2


class RecordingCollection:
    """A collection that keeps the write operations as sent (and a driver's codec options)."""

    def __init__(self, inner) -> None:
        self.inner, self.sent = inner, []
        self.codec_options = bson.CodecOptions(tz_aware=True)

    async def bulk_write(self, ops, ordered=True):
        self.sent.extend(ops)
        return await self.inner.bulk_write([_plain(op) for op in ops], ordered=ordered)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _plain(op):
    """The operation with its document as the store would read it back."""
    doc = bson.decode(op._doc.raw, codec_options=bson.CodecOptions(tz_aware=True))
    return InsertOne(doc) if isinstance(op, InsertOne) else ReplaceOne(op._filter, doc)


def test_a_written_document_is_encoded_once_and_its_size_is_that_encoding_s():
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    writer.coll = RecordingCollection(writer.coll)
    run(writer.handle(records(class_stream("k1", 10))))
    (op,) = writer.coll.sent
    assert isinstance(op._doc, RawBSONDocument)
    stored = db["classes"].docs["k1"]
    assert len(stored["nominations"]) == 10 and stored["title"] == "科级干部轮训班"
    assert writer._cache.bytes == len(op._doc.raw) == len(bson.encode(stored))


class SlowConsumer(FakeConsumer):
    """Every other fetch answers with nothing, as one that times out while the loop is busy."""

    def __init__(self, recs, fetch: int = 5) -> None:
        super().__init__(recs, fetch)
        self.calls = 0

    async def getmany(self, *tps, timeout_ms: int = 0, max_records: int = 1):
        self.calls += 1
        if self.calls % 2:
            return {}
        return await super().getmany(*tps, timeout_ms=timeout_ms, max_records=max_records)


def test_a_fetch_that_times_out_does_not_cut_a_batch_short():
    recs = records(interleaved(class_stream("k1", 30), class_stream("k2", 30)))
    writer = ProjectionWriter(classes, MemoryDatabase(), dead_letters=None)
    done: list[int] = []
    run(rebuild(writer, SlowConsumer(recs), [TopicPartition(TOPIC, 0)], lambda d, _: done.append(d), 20))
    assert done == [20, 40, 60, 62]
