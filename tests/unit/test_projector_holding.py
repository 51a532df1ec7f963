"""A rebuild holds what it folds until the document goes still (issue 16: rebuild >= 0.3 of the
raw consume limit): each document is written about once, by an insert. What it must still
guarantee, each shown here: a rebuild stopped with documents held is completed by a projector
replaying from the positions it saved, every event counted once; an erasure reaches the
documents held for the person; a fold failing on a held document leaves it as it was; held
documents beyond the writers' budget are written before they go still."""

from __future__ import annotations

import json
from dataclasses import replace

from aiokafka.structs import ConsumerRecord, TopicPartition
from pymongo import InsertOne

from services.selection.projections import classes
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreErased, TraineeNominated
from shared.events import Envelope
from shared.memory import MemoryDatabase
from shared.outbox import headers_of
from shared.personal import ERASED, Sealer, Vault
from shared.projection import Projection
from shared.projector import CacheBudget, ProjectionWriter, rebuild
from tests.support import meaning
from tests.unit.test_personal_data import COUNTY, DEPT, run
from tests.unit.test_projector_cache import TOPIC, class_stream, records
from tests.unit.test_projector_rebuild import FakeConsumer, interleaved

TP = TopicPartition(TOPIC, 0)


def sent_writes(writer: ProjectionWriter) -> list:
    """The write operations the writer sends, in order."""
    sent: list = []
    write = writer.coll.bulk_write

    async def recording(ops, ordered=True):
        sent.extend(ops)
        return await write(ops, ordered=ordered)

    writer.coll.bulk_write = recording
    return sent


def folded_once(recs: list[ConsumerRecord]) -> dict:
    db = MemoryDatabase()
    run(ProjectionWriter(classes, db, dead_letters=None).handle(recs))
    return {d["_id"]: meaning(d) for d in db["classes"].docs.values()}


def stored(db: MemoryDatabase, collection: str = "classes") -> dict:
    return {d["_id"]: meaning(d) for d in db[collection].docs.values()}


class StoppingConsumer(FakeConsumer):
    """One whose broker goes away once `stop_at` records were fetched."""

    def __init__(self, recs, stop_at: int) -> None:
        super().__init__(recs)
        self.stop_at = stop_at

    async def getmany(self, *tps, timeout_ms: int = 0, max_records: int = 1):
        if self.at >= self.stop_at:
            raise ConnectionError("Kafka gone")
        return await super().getmany(*tps, timeout_ms=timeout_ms, max_records=max_records)


def test_a_rebuild_writes_each_document_once_by_an_insert():
    recs = records(interleaved(class_stream("k1", 30, 4), class_stream("k2", 25), class_stream("k3", 12, 2)))
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    sent = sent_writes(writer)
    result = run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=12))  # 7 batches
    assert result.applied == len(recs)
    assert len(sent) == 3 and all(isinstance(op, InsertOne) for op in sent)  # not one per batch
    assert stored(db) == folded_once(recs)


def test_a_rebuild_stopped_with_documents_held_is_completed_by_a_replay_from_its_positions():
    # k2 takes nominations from the first record to past the stop; k1 goes still and is written.
    long, short = class_stream("k2", 40), class_stream("k1", 5)
    recs = records(interleaved(long, short) + class_stream("k3", 3))
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    try:
        run(rebuild(writer, StoppingConsumer(recs, stop_at=40), [TP], batch_size=10))
    except ConnectionError:
        pass
    else:
        raise AssertionError("the rebuild went on without Kafka")
    assert "k2" not in db["classes"].docs  # held when it stopped, so not in the store
    assert len(db["classes"].docs["k1"]["nominations"]) == 5  # written, with events past...
    position = run(writer.load_positions())[(TOPIC, 0)]
    assert position == 0  # ...the first event of k2, where the positions stop

    # A projector started on those positions folds the rest, and k1's events, folded again
    # onto the stored k1, count once.
    run(ProjectionWriter(classes, db, dead_letters=None).handle(recs[position:]))
    assert stored(db) == folded_once(recs)
    assert [len(stored(db)[k]["nominations"]) for k in ("k1", "k2", "k3")] == [5, 40, 3]


def sealed_records(vault: Vault, envelopes: list[Envelope], topic: str = TOPIC) -> list[ConsumerRecord]:
    """The envelopes as the relay puts them on Kafka: sealed, with their type header."""
    docs = run(Sealer(vault).seal(envelopes))
    return [
        ConsumerRecord(
            topic,
            0,
            i,
            0,
            0,
            d["stream_id"].encode(),
            json.dumps(d, separators=(",", ":")).encode(),
            None,
            0,
            0,
            headers_of(d),
        )
        for i, d in enumerate(docs)
    ]


def test_an_erasure_during_a_rebuild_reaches_the_documents_held_for_the_person():
    vault = Vault(MemoryDatabase())
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    erasure = CommandHandler.envelopes("cadre-cd-1", 1, [CadreErased(cadre_id="cd-1", ground="ceased")], ctx)
    k1 = class_stream("k1", 9)
    recs = sealed_records(vault, [*k1[:8], *erasure, *k1[8:]])
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None, sealer=Sealer(vault))
    after: list[str] = []

    def look(done: int, _total: int) -> None:
        after.append(json.dumps(db["classes"].docs.get("k1"), ensure_ascii=False, default=str))

    run(rebuild(writer, FakeConsumer(recs), [TP], progress=look, batch_size=4))
    # k1 is changed by every batch, so held throughout but for the erasure: the batch of the
    # erasure (the erasure at 8, then the last two nominations) leaves it in the store, blanked.
    assert after[:2] == ["null", "null"]
    assert "学员1" not in after[2] and ERASED in after[2]
    names = {n["cadre_id"]: n["name"] for n in db["classes"].docs["k1"]["nominations"]}
    assert names["cd-1"] == ERASED and names["cd-2"] == "学员2" and len(names) == 9


def tally() -> Projection:
    """A projection whose fold of the nominee "坏" fails half way, after changing the document."""
    proj = Projection("tally", sources=("selection",))

    @proj.on(TraineeNominated, key=lambda env, ev: ev.class_id)
    def _(doc, env, ev) -> None:
        doc.setdefault("names", []).append(ev.name)
        if ev.name == "坏":
            raise ValueError("a bad nominee")

    return proj


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send(self, rec, reason: str) -> None:
        self.sent.append((rec.offset, reason))


def test_a_fold_failing_on_a_held_document_leaves_it_as_it_was_and_dead_letters_the_event():
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    names = [f"学员{i}" for i in range(6)] + ["坏"] + [f"学员{i}" for i in range(6, 12)]
    nominated = [
        TraineeNominated(class_id="k1", cadre_id=f"cd-{i}", name=n, unit="县委办公室")
        for i, n in enumerate(names)
    ]
    recs = records(CommandHandler.envelopes("class-k1", 0, nominated, ctx))
    db, dead = MemoryDatabase(), DeadLetters()
    writer = ProjectionWriter(tally(), db, dead_letters=dead)
    result = run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=4))
    assert [offset for offset, _ in dead.sent] == [6] and result.dead_lettered == 1
    assert db["tally"].docs["k1"]["names"] == [n for n in names if n != "坏"]


def test_held_documents_beyond_the_budget_are_written_before_they_go_still():
    recs = records(interleaved(class_stream("k1", 30), class_stream("k2", 25), class_stream("k3", 12)))
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None, budget=CacheBudget(max_bytes=1))
    sent = sent_writes(writer)
    run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=9))
    assert len(sent) > 3  # each class written before its last nomination (3 when unbounded)
    assert stored(db) == folded_once(recs)


class AlternatingConsumer:
    """Two partitions, each fetch answering from one of them in turn (as a fetch answers with
    what has arrived)."""

    def __init__(self, by_partition: list[list[ConsumerRecord]], fetch: int = 5) -> None:
        self.parts, self.fetch = by_partition, fetch
        self.tps = [TopicPartition(TOPIC, p) for p in range(len(by_partition))]
        self.at, self.turn = [0] * len(by_partition), 0

    def assign(self, tps) -> None:
        assert tps == self.tps

    async def beginning_offsets(self, tps):
        return {tp: 0 for tp in tps}

    async def end_offsets(self, tps):
        return {tp: len(self.parts[tp.partition]) for tp in tps}

    async def seek_to_beginning(self, *tps) -> None:
        self.at = [0] * len(self.parts)

    async def getmany(self, *tps, timeout_ms: int = 0, max_records: int = 1):
        for _ in self.parts:
            p, self.turn = self.turn, (self.turn + 1) % len(self.parts)
            got = self.parts[p][self.at[p] : self.at[p] + min(self.fetch, max_records)]
            if got:
                self.at[p] += len(got)
                return {self.tps[p]: got}
        return {}


def test_a_document_is_not_still_for_a_batch_that_read_none_of_its_partitions():
    k1 = records(class_stream("k1", 19))
    k2 = [replace(r, partition=1) for r in records(class_stream("k2", 19))]
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    sent = sent_writes(writer)
    consumer = AlternatingConsumer([k1, k2])
    run(rebuild(writer, consumer, consumer.tps, batch_size=5))  # a batch of one partition each
    assert len(sent) == 2 and all(isinstance(op, InsertOne) for op in sent)
    assert {k: len(d["nominations"]) for k, d in stored(db).items()} == {"k1": 19, "k2": 19}


def test_a_rebuild_stops_when_another_writer_wrote_a_document_it_holds():
    recs = records(class_stream("k1", 12))
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)

    def another_writer(done: int, _total: int) -> None:
        if done == 5:  # k1 held: a service's projector, left running, writes it meanwhile
            db["classes"].docs["k1"] = {"_id": "k1", "_applied": {}, "_rev": 1, "title": "别处写入"}

    try:
        run(rebuild(writer, FakeConsumer(recs), [TP], progress=another_writer, batch_size=5))
    except RuntimeError as exc:
        assert "重建期间有 1 个文档被其他写入者写入" in str(exc) and "停止该服务的投影进程" in str(exc)
    else:
        raise AssertionError("the rebuild overwrote what another writer wrote")
    assert db["classes"].docs["k1"]["title"] == "别处写入"


class StoppingAlternatingConsumer(AlternatingConsumer):
    def __init__(self, by_partition, stop_at: int) -> None:
        super().__init__(by_partition)
        self.stop_at = stop_at

    async def getmany(self, *tps, timeout_ms: int = 0, max_records: int = 1):
        if sum(self.at) >= self.stop_at:
            raise ConnectionError("Kafka gone")
        return await super().getmany(*tps, timeout_ms=timeout_ms, max_records=max_records)


def test_each_partition_s_position_stops_only_at_its_own_held_documents():
    # Partition 0: k1 takes nominations past the stop. Partition 1: k2, then k3, both short.
    p0 = records(class_stream("k1", 30))
    p1 = [
        replace(r, partition=1, offset=i)
        for i, r in enumerate(records([*class_stream("k2", 4), *class_stream("k3", 4)]))
    ]
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    consumer = StoppingAlternatingConsumer([p0, p1], stop_at=30)
    try:
        run(rebuild(writer, consumer, consumer.tps, batch_size=5))
    except ConnectionError:
        pass
    positions = run(writer.load_positions())
    assert positions[(TOPIC, 0)] == 0  # k1, held, has its first event there
    # k2 went still (the batch of k3 read partition 1 without changing it) and was written; k3,
    # its partition read to the end but no batch after it, is held from offset 5.
    assert positions[(TOPIC, 1)] == 5
    assert set(db["classes"].docs) == {"k2"}

    again = ProjectionWriter(classes, db, dead_letters=None)
    run(again.handle(p0[positions[(TOPIC, 0)] :] + p1[positions[(TOPIC, 1)] :]))
    assert {k: len(d["nominations"]) for k, d in stored(db).items()} == {"k1": 30, "k2": 4, "k3": 4}
    assert stored(db) == {**folded_once(p0), **folded_once(p1)}


def test_a_document_every_batch_changes_is_written_every_few_batches_so_the_positions_move_on():
    recs = records(class_stream("k1", 39))  # 40 events, batches of 2: k1 changed by all 20
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    sent = sent_writes(writer)
    saved: list[int] = []

    def position(done: int, _total: int) -> None:
        saved.append(next(iter(db["projection_positions"].docs["classes"]["offsets"].values())))

    run(rebuild(writer, FakeConsumer(recs), [TP], progress=position, batch_size=2))
    assert [type(op).__name__ for op in sent] == ["InsertOne", "ReplaceOne", "ReplaceOne"]
    # Held from offset 0 until written after batch 9 (HOLD_BATCHES later), then from offset 18
    # until batch 18, then from 36 until the end.
    assert saved == [0] * 8 + [18] * 9 + [36] * 3
    assert stored(db) == folded_once(recs)
