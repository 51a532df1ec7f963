"""Concurrent bulk writes through shared.store on a private FerretDB (PostgreSQL backend).

FerretDB 1.24 holds one pooled connection per operation of a bulk command until the
command ends, and the pool (50) is shared by all clients: twelve concurrent 40-op bulk
writes (what a burst of check-ins gives the projectors of four services) wedged the
server for good. store.bulk_write sends one operation per command, so this completes.
The server is this test's own: a regression wedges only it, not the shared one.
"""

from __future__ import annotations

import asyncio

import pytest
from pymongo import AsyncMongoClient, UpdateOne

from deploy.local import ferretdb
from shared import store

pytestmark = pytest.mark.integration


async def test_twelve_concurrent_bulk_writes_of_forty_complete(tmp_path) -> None:
    srv = ferretdb.FerretDBServer(tmp_path / "ferretdb", backend="postgresql")
    srv.start()
    client = AsyncMongoClient(
        srv.uri, serverSelectionTimeoutMS=5000, socketTimeoutMS=60000, directConnection=True
    )
    try:
        db = client["t_bulk"]
        for c in range(6):
            for j in range(40):
                await db[f"c{c}"].insert_one({"_id": f"d{j}", "v": 0})

        async def writer(i: int) -> int:
            ops = [UpdateOne({"_id": f"d{j}"}, {"$set": {"v": i + 1}}) for j in range(40)]
            return sum([await store.bulk_write(db[f"c{i % 6}"], ops) for _ in range(3)])

        matched = await asyncio.gather(*(writer(i) for i in range(12)))
        assert matched == [120] * 12
        for c in range(6):  # written by writers c and c + 6 (concurrent writes: either wins)
            assert {d["v"] async for d in db[f"c{c}"].find({})} <= {c + 1, c + 7}
    finally:
        await client.close()
        srv.stop()
