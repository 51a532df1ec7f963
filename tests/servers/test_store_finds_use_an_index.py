"""Finds on a private FerretDB (PostgreSQL backend) use an index, not a table scan.

FerretDB 1.24 filters every find with `_jsonb -> 'field' @> value`, even by _id, and its
own indexes are btree, which @> cannot use: every point read and every stream load
scanned the whole table. deploy/local adds a GIN twin to each FerretDB index (an event
trigger in PostgreSQL); this checks PostgreSQL's own counters after real finds.
"""

from __future__ import annotations

import time

import pytest
from pymongo import ASCENDING, AsyncMongoClient

from deploy.local import ferretdb

pytestmark = pytest.mark.integration
# A PostgreSQL backend that stays busy reports its counters within a second; one that
# goes idle, within ten (PGSTAT_IDLE_INTERVAL). FerretDB's pooled connections go idle.
STATS_LAG = 11


def _scans(srv: ferretdb.FerretDBServer, table_like: str) -> tuple[int, int]:
    out = srv._postgres().psql(
        "select coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0) from pg_stat_user_tables "
        f"where schemaname = 't_finds' and relname like '{table_like}%'"
    )
    seq, idx = out.strip().split("|")
    return int(seq), int(idx)


async def test_point_reads_and_stream_loads_are_index_scans(tmp_path) -> None:
    srv = ferretdb.FerretDBServer(tmp_path / "ferretdb", backend="postgresql")
    srv.start()
    client = AsyncMongoClient(srv.uri, serverSelectionTimeoutMS=5000, directConnection=True)
    try:
        events = client["t_finds"]["events"]
        await events.create_index([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True)
        await events.insert_many(
            [
                {
                    "_id": f"c{i:05d}",
                    "stream_id": f"s{i % 500}",
                    "version": i // 500 + 1,
                    "payload": "x" * 200,
                }
                for i in range(5000)
            ]
        )
        srv._postgres().psql("analyze")
        time.sleep(STATS_LAG)
        seq0, idx0 = _scans(srv, "events")

        for i in range(0, 5000, 250):
            assert (await events.find_one({"_id": f"c{i:05d}"}))["stream_id"] == f"s{i % 500}"
        for s in range(0, 500, 50):
            got = await events.find({"stream_id": f"s{s}"}).sort("version", ASCENDING).to_list()
            assert [d["version"] for d in got] == list(range(1, 11))

        time.sleep(STATS_LAG)
        seq, idx = _scans(srv, "events")
        assert (seq - seq0, idx - idx0) == (0, 30)  # 20 point reads + 10 stream loads
    finally:
        await client.close()
        srv.stop()


async def test_the_relay_reads_an_imports_commits_by_their_batch_with_an_index(tmp_path) -> None:
    """EventStore.ensure_indexes indexes the commits' `batch` (an append_many chunk's pointer
    id): reading a chunk's 500 commits is one index scan, not 500 point reads or a scan."""
    from shared.eventstore import EventStore

    srv = ferretdb.FerretDBServer(tmp_path / "ferretdb", backend="postgresql")
    srv.start()
    client = AsyncMongoClient(srv.uri, serverSelectionTimeoutMS=5000, directConnection=True)
    try:
        store = EventStore(client["t_finds"])
        await store.ensure_indexes()
        await store.commits.insert_many(
            [
                {"_id": f"c{i:05d}", "stream_id": f"s{i}", "version": 1, "payload": "x" * 200}
                | ({"batch": f"b{i // 500}"} if i < 2500 else {})  # the rest: single appends
                for i in range(5000)
            ]
        )
        srv._postgres().psql("analyze")
        time.sleep(STATS_LAG)
        seq0, idx0 = _scans(srv, "events")
        for b in range(5):
            got = await store.commits.find({"batch": f"b{b}"}).to_list()
            assert len(got) == 500
        time.sleep(STATS_LAG)
        seq, idx = _scans(srv, "events")
        assert (seq - seq0, idx - idx0) == (0, 5)
    finally:
        await client.close()
        srv.stop()
