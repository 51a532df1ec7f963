"""The dashboard's cadre buckets and class documents are written as partial updates of what a
batch touched (shared/projector.partial_update), not rewritten whole: what is stored is what a
rewrite would store, and a batch applied twice counts once. The store is the in-memory fake,
keeping its own copy of what it is given as a real store does; the same against FerretDB:
tests/integration/test_dashboard_partial_writes_ferretdb.py."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace

from aiokafka.structs import ConsumerRecord

from bench.province import County
from bench.province_produce import build
from services.dashboard import projections as dash
from shared.memory import MemoryCollection, MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projection import Handler
from shared.projector import ProjectionWriter, touched_paths
from tests.support import meaning

ARGS = SimpleNamespace(cadres=60, online=0.6, classes=2, class_size=6)


def county_records(code: str = "710101") -> list[ConsumerRecord]:
    return asyncio.run(records_of(code))


async def records_of(code: str) -> list[ConsumerRecord]:
    """A county's events as its relay puts them on its topics (bench.province, small)."""
    _, events, _ = await build(code, County, ARGS, seed=code)
    offsets: dict[str, int] = {}
    out = []
    for topic, key, value, headers in events:
        at = offsets[topic] = offsets.get(topic, -1) + 1
        out.append(ConsumerRecord(topic, 0, at, 0, 0, key, value, None, 0, len(value), headers))
    return out


class Copying(MemoryCollection):
    """Keeps copies of what it is sent and records the kinds of writes."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.kinds: list[str] = []

    async def bulk_write(self, ops: list, ordered: bool = True):
        self.kinds.extend(type(op).__name__ for op in ops)
        return await super().bulk_write(copy.deepcopy(ops), ordered)


class CopyingDatabase(MemoryDatabase):
    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self.collections:
            self.collections[name] = Copying(name)
        return self.collections[name]


def fold(projection, records, db, size: int) -> ProjectionWriter:
    # The province's vault holds none of the county's keys, as in a province dashboard.
    writer = ProjectionWriter(projection, db, dead_letters=None, sealer=Sealer(Vault(MemoryDatabase())))
    for start in range(0, len(records), size):
        asyncio.run(writer.handle(records[start : start + size]))
    return writer


def stored(db, projection) -> dict:
    return {i: json.loads(json.dumps(meaning(d))) for i, d in db[projection.collection].docs.items()}


def test_partial_updates_store_what_whole_rewrites_store_and_a_replay_counts_once():
    records = county_records()
    for projection in (dash.cadres, dash.classes):
        whole = CopyingDatabase()
        fold(projection, records, whole, len(records))  # each document written once, whole
        db = CopyingDatabase()
        fold(projection, records, db, 23)  # ~40 batches: most writes change stored documents
        kinds = db[projection.collection].kinds
        assert kinds.count("UpdateOne") > kinds.count("InsertOne") > 0, projection.name
        assert stored(db, projection) == stored(whole, projection), projection.name

        # Replayed (a restart from an older position, an empty cache): nothing counts twice.
        fold(projection, records, db, 23)
        fold(projection, records[:50], db, 50)
        assert stored(db, projection) == stored(whole, projection), projection.name


def test_the_registered_cadres_count_once_when_a_batch_comes_twice():
    records = [r for r in county_records() if r.topic.startswith("ganxun.selection.")]
    db = CopyingDatabase()
    writer = fold(dash.cadres, records, db, 17)
    asyncio.run(writer.handle(records[:17]))
    registered = sum(d["n"].get("registered", 0) for d in db[dash.cadres.collection].docs.values())
    assert registered == ARGS.cadres


def test_a_class_level_event_still_rewrites_the_class_and_a_new_document_is_inserted():
    records = county_records()
    db = CopyingDatabase()
    fold(dash.classes, records, db, len(records) // 3)
    assert {"InsertOne", "ReplaceOne", "UpdateOne"} <= set(db[dash.classes.collection].kinds)


def test_an_event_whose_path_cannot_be_named_rewrites_its_document():
    """A cadre id "" makes the path `cadres.`, which no update can reach: such a bucket is
    rewritten whole, as before."""
    env = SimpleNamespace(stream_id="cadre-", event_id="e1")
    handler = Handler(key=None, apply=None, touches=dash._cadre_paths)
    assert touched_paths([("b", env, SimpleNamespace(cadre_id=""), handler)], {}) == {"b": None}
    env2 = SimpleNamespace(stream_id="cadre-x", event_id="e2")
    assert touched_paths([("b", env2, SimpleNamespace(cadre_id="x"), handler)], {})["b"] == {
        "jurisdiction",
        "cadres.x",
        "n",
        "_applied.cadre-x",
    }
