"""Against the real FerretDB: the dashboard's cadre buckets and class documents updated at the
paths a batch touched (shared/projector.partial_update) hold what documents written whole hold,
and a batch folded again, by the same writer or by another process with nothing cached, counts
once. The same with the in-memory fake: tests/unit/test_dashboard_partial_writes.py."""

from __future__ import annotations

import json

import pytest
from pymongo import AsyncMongoClient

from services.dashboard import projections as dash
from shared.ids import new_id
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import ProjectionWriter
from tests.support import meaning
from tests.unit.test_dashboard_partial_writes import ARGS, CopyingDatabase, records_of, stored

pytestmark = pytest.mark.integration


class CountedWrites:
    """The writer's collection, recording the kinds of writes it is sent."""

    def __init__(self, coll) -> None:
        self.coll, self.kinds = coll, []

    def __getattr__(self, name):
        return getattr(self.coll, name)

    async def bulk_write(self, ops, **kw):
        self.kinds.extend(type(op).__name__ for op in ops)
        return await self.coll.bulk_write(ops, **kw)


def writer(projection, db) -> ProjectionWriter:
    # The province's vault holds none of the county's keys, as in a province dashboard.
    return ProjectionWriter(projection, db, dead_letters=None, sealer=Sealer(Vault(MemoryDatabase())))


async def fold(w: ProjectionWriter, records, size: int) -> None:
    for start in range(0, len(records), size):
        await w.handle(records[start : start + size])


async def in_store(db, projection) -> dict:
    return {d["_id"]: json.loads(json.dumps(meaning(d))) async for d in db[projection.collection].find({})}


async def test_partial_updates_on_ferretdb_store_what_whole_rewrites_store_and_count_once(servers):
    records = await records_of("710102")
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    db = client[f"t_partial_{new_id()[-12:]}"]
    try:
        for projection in (dash.cadres, dash.classes):
            whole = CopyingDatabase()
            await fold(writer(projection, whole), records, len(records))
            want = stored(whole, projection)

            w = writer(projection, db)
            counted = w.coll = CountedWrites(w.coll)
            await fold(w, records, 41)
            assert counted.kinds.count("UpdateOne") > counted.kinds.count("InsertOne") > 0
            assert await in_store(db, projection) == want, projection.name

            await w.handle(records[:41])  # the same batch again, by the same writer
            await fold(writer(projection, db), records, 97)  # another process, nothing cached
            assert await in_store(db, projection) == want, projection.name
        buckets = [d async for d in db[dash.cadres.collection].find({})]
        assert sum(d["n"].get("registered", 0) for d in buckets) == ARGS.cadres
    finally:
        await client.drop_database(db.name)
        await client.close()
