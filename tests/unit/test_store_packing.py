"""Packed fields (shared/store.py): a projection's long fields as one BSON binary each on
FerretDB, compressed when large, read back as they were through the runtime's codec or
`unpack`; everything else in the document untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import bson
from bson.binary import Binary
from bson.codec_options import CodecOptions

from shared import store


def test_a_packed_document_reads_back_as_it_was_through_the_codec_and_through_unpack():
    at = datetime(2026, 11, 29, 12, tzinfo=UTC)
    doc = {
        "_id": "k1",
        "title": "年轻干部培训班",
        "scope": {"cadre_ids": [f"cd-{i:05d}" for i in range(3_000)], "at": at},
        "nominations": [{"cadre_id": "cd-1", "name": "张伟", "group": None}],
        "_applied": {"class-k1": 4},
    }
    stored = store.pack(doc, ("scope", "nominations", "absent"))
    assert (
        "absent" not in stored and stored["title"] == doc["title"] and stored["_applied"] == doc["_applied"]
    )
    assert stored["scope"].subtype == store.PACKED_ZLIB, "a long value is compressed"
    assert stored["nominations"].subtype == store.PACKED, "a short one is not"
    assert len(stored["scope"]) < len(bson.encode({"v": doc["scope"]})) / 3
    assert isinstance(doc["scope"], dict), "the folded document is not changed"

    raw = bson.encode(stored)
    assert bson.decode(raw, codec_options=store.unpacking(CodecOptions(tz_aware=True))) == doc
    assert store.unpack(bson.decode(raw, codec_options=CodecOptions(tz_aware=True))) == doc


def test_other_binary_values_are_left_alone():
    options = store.unpacking(CodecOptions(tz_aware=True))
    doc = {"_id": 1, "blob": Binary(b"\x00\x01", 5), "file": b"abc"}
    assert bson.decode(bson.encode(doc), codec_options=options) == doc
    assert store.unpack(dict(doc)) == doc


def test_a_writer_that_packs_holds_what_one_plain_fold_holds_rebuilt_or_folded_live():
    from aiokafka.structs import TopicPartition

    from services.selection.projections import classes
    from shared.memory import MemoryDatabase
    from shared.projector import ProjectionWriter, rebuild
    from tests.support import meaning
    from tests.unit.test_personal_data import run
    from tests.unit.test_projector_cache import TOPIC, class_stream, records
    from tests.unit.test_projector_rebuild import FakeConsumer, interleaved

    recs = records(interleaved(class_stream("k1", 30, 4), class_stream("k2", 25), class_stream("k3", 12, 2)))
    plain, rebuilt, live = MemoryDatabase(), MemoryDatabase(), MemoryDatabase()
    run(ProjectionWriter(classes, plain, dead_letters=None).handle(recs))
    want = {d["_id"]: meaning(d) for d in plain["classes"].docs.values()}

    writer = ProjectionWriter(classes, rebuilt, dead_letters=None, packed=classes.packed)
    run(rebuild(writer, FakeConsumer(recs), [TopicPartition(TOPIC, 0)], batch_size=9))
    assert all(isinstance(d["nominations"], Binary) for d in rebuilt["classes"].docs.values()), (
        "stored packed"
    )
    assert {d["_id"]: meaning(d) for d in rebuilt["classes"].docs.values()} == want

    # Folded live in two halves, the second by a writer with nothing cached: it reads the
    # packed documents back, folds into them and packs them again.
    half = len(recs) // 2
    run(ProjectionWriter(classes, live, dead_letters=None, packed=classes.packed).handle(recs[:half]))
    run(ProjectionWriter(classes, live, dead_letters=None, packed=classes.packed).handle(recs[half:]))
    assert all(isinstance(d["nominations"], Binary) for d in live["classes"].docs.values())
    assert {d["_id"]: meaning(d) for d in live["classes"].docs.values()} == want


def test_a_partial_update_that_would_reach_into_a_packed_field_rewrites_the_document():
    from pymongo import ReplaceOne, UpdateOne

    from shared.contracts.selection import ClassOpened, TraineeNominated
    from shared.memory import MemoryDatabase
    from shared.projection import Projection
    from shared.projector import ProjectionWriter
    from tests.support import meaning
    from tests.unit.test_personal_data import run
    from tests.unit.test_projector_cache import class_stream, records

    # A class's nominations as a projection that says what each event touches.
    roster = Projection("touched_roster", sources=("selection",), packed=("nominees",))

    @roster.on(ClassOpened, key=lambda env, ev: ev.class_id, touches=lambda env, ev: ["title"])
    def _opened(doc, env, ev) -> None:
        doc["title"] = ev.title

    @roster.on(TraineeNominated, key=lambda env, ev: ev.class_id, touches=lambda env, ev: ["nominees"])
    def _nominated(doc, env, ev) -> None:
        doc.setdefault("nominees", []).append(ev.cadre_id)

    sent: list = []

    class Counted(MemoryDatabase):
        def __getitem__(self, name):
            coll = super().__getitem__(name)
            if name == roster.collection and not getattr(coll, "counted", False):
                write, coll.counted = coll.bulk_write, True

                async def bulk_write(ops, **kw):
                    sent.extend(type(op) for op in ops)
                    return await write(ops, **kw)

                coll.bulk_write = bulk_write
            return coll

    db = Counted()
    recs = records(class_stream("k1", 4))
    writer = ProjectionWriter(roster, db, dead_letters=None, packed=roster.packed)
    for rec in recs:
        run(writer.handle([rec]))
    assert UpdateOne not in sent and sent.count(ReplaceOne) == 4, "each nomination rewrote the document"
    stored = db[roster.collection].docs["k1"]
    assert isinstance(stored["nominees"], Binary)
    assert meaning(stored)["nominees"] == ["cd-0", "cd-1", "cd-2", "cd-3"]


def test_a_writers_cache_holds_no_more_than_its_budget_of_packed_documents_unpacked():
    """The cache's budget bounds the memory of the documents a writer keeps by their BSON size.
    Packed, a class's nominations are stored compressed to a fraction of that, and counted at
    their stored size the budget let a writer keep several times what it allows (selection
    passed 200 MB folding five years of classes)."""
    import bson

    from services.selection.projections import classes
    from shared.memory import MemoryDatabase
    from shared.projector import CacheBudget, ProjectionWriter
    from tests.unit.test_personal_data import run
    from tests.unit.test_projector_cache import class_stream, records

    db = MemoryDatabase()
    budget = CacheBudget(max_bytes=300_000)
    writer = ProjectionWriter(classes, db, dead_letters=None, packed=classes.packed, budget=budget)
    envelopes = [e for k in range(8) for e in class_stream(f"k{k}", 600)]
    run(writer.handle(records(envelopes)))

    stored = db[classes.collection].docs
    assert len(stored) == 8
    in_full = {i: len(bson.encode(store.unpack(dict(d)))) for i, d in stored.items()}
    assert all(len(bson.encode(d)) < in_full[i] / 3 for i, d in stored.items()), "stored compressed"
    kept = [i for i in stored if i in writer._cache]
    assert kept, "the cache keeps what the budget holds"
    assert sum(in_full[i] for i in kept) <= budget.max_bytes
