"""FerretDB 1.24 provisioned by deploy/local/ferretdb.py, exercised with the async driver
on the operations the event store and projectors rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, UpdateOne
from pymongo.errors import DuplicateKeyError

from deploy.local import ferretdb
from deploy.local.process import MissingToolError


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ferretdb.FerretDBServer(tmp_path_factory.mktemp("ferretdb"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
    assert not srv.status()["running"]


async def _db(uri: str, name: str):
    client = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000, directConnection=True)
    await client.drop_database(name)
    return client, client[name]


@pytest.mark.integration
async def test_unique_compound_index_rejects_duplicate(server: ferretdb.FerretDBServer) -> None:
    client, db = await _db(server.uri, "t_unique")
    try:
        events = db.events
        await events.create_index([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True)
        await events.insert_one({"_id": "e1", "stream_id": "s1", "version": 1, "type": "创建"})
        await events.insert_one({"_id": "e2", "stream_id": "s1", "version": 2, "type": "修改"})
        await events.insert_one({"_id": "e3", "stream_id": "s2", "version": 1, "type": "创建"})
        with pytest.raises(DuplicateKeyError):
            await events.insert_one({"_id": "e4", "stream_id": "s1", "version": 2, "type": "冲突"})
        assert await events.count_documents({}) == 3
        assert await events.find_one({"_id": "e4"}) is None
        assert (await events.find_one({"stream_id": "s1", "version": 2}))["_id"] == "e2"
    finally:
        await client.close()


@pytest.mark.integration
async def test_not_gte_matches_missing_and_smaller(server: ferretdb.FerretDBServer) -> None:
    client, db = await _db(server.uri, "t_not")
    try:
        coll = db.views
        await coll.insert_many(
            [
                {"_id": "missing"},
                {"_id": "other-stream", "_applied": {"s2": 9}},
                {"_id": "smaller", "_applied": {"s1": 2}},
                {"_id": "equal", "_applied": {"s1": 3}},
                {"_id": "larger", "_applied": {"s1": 7}},
            ]
        )
        ids = sorted([d["_id"] async for d in coll.find({"_applied.s1": {"$not": {"$gte": 3}}})])
        assert ids == ["missing", "other-stream", "smaller"]
    finally:
        await client.close()


@pytest.mark.integration
async def test_ordered_bulk_upsert_set_on_insert_then_set(server: ferretdb.FerretDBServer) -> None:
    client, db = await _db(server.uri, "t_bulk")
    try:
        coll = db.proj
        result = await coll.bulk_write(
            [
                UpdateOne({"_id": "a"}, {"$setOnInsert": {"created": 1, "name": "张三"}}, upsert=True),
                UpdateOne({"_id": "a"}, {"$set": {"name": "李四", "n": 2}}),
            ],
            ordered=True,
        )
        assert result.upserted_count == 1
        assert result.modified_count == 1
        assert await coll.find_one({"_id": "a"}) == {"_id": "a", "created": 1, "name": "李四", "n": 2}

        # Second time the upsert matches, so $setOnInsert must not overwrite anything.
        result = await coll.bulk_write(
            [
                UpdateOne({"_id": "a"}, {"$setOnInsert": {"created": 99, "name": "王五"}}, upsert=True),
                UpdateOne({"_id": "a"}, {"$set": {"n": 3}}),
            ],
            ordered=True,
        )
        assert result.upserted_count == 0
        assert await coll.find_one({"_id": "a"}) == {"_id": "a", "created": 1, "name": "李四", "n": 3}
    finally:
        await client.close()


@pytest.mark.integration
async def test_sort_on_two_fields_with_limit(server: ferretdb.FerretDBServer) -> None:
    client, db = await _db(server.uri, "t_sort")
    try:
        coll = db.events
        docs = [{"_id": i, "stream_id": f"s{i % 3}", "version": i // 3, "at": 100 - i} for i in range(12)]
        await coll.insert_many(docs)
        got = [
            (d["stream_id"], d["version"])
            async for d in coll.find({}, {"_id": 0, "stream_id": 1, "version": 1})
            .sort([("stream_id", ASCENDING), ("version", DESCENDING)])
            .limit(5)
        ]
        assert got == [("s0", 3), ("s0", 2), ("s0", 1), ("s0", 0), ("s1", 3)]
    finally:
        await client.close()


@pytest.mark.integration
async def test_restart_from_folder_keeps_data(tmp_path: Path) -> None:
    folder = tmp_path / "fdb"
    first = ferretdb.FerretDBServer(folder)
    first.start()
    try:
        client, db = await _db(first.uri, "t_restart")
        await db.events.create_index([("stream_id", 1), ("version", 1)], unique=True)
        await db.events.insert_many(
            [{"_id": i, "stream_id": "s", "version": i, "note": "持久"} for i in range(50)]
        )
        await client.close()
    finally:
        first.stop()
    assert first.status()["running"] is False
    assert first.status()["pid"] is None

    # A later process only knows the folder.
    second = ferretdb.FerretDBServer(folder)
    assert second.uri == first.uri
    assert second.backend == first.backend
    second.start()
    try:
        st = second.status()
        assert st["running"] is True and st["pid"] and st["uri"] == first.uri
        assert st["folder"] == str(folder.resolve())
        client = AsyncMongoClient(second.uri, serverSelectionTimeoutMS=5000, directConnection=True)
        try:
            events = client.t_restart.events
            assert await events.count_documents({}) == 50
            assert (await events.find_one({"_id": 49}))["note"] == "持久"
            with pytest.raises(DuplicateKeyError):  # the unique index survived too
                await events.insert_one({"_id": 1000, "stream_id": "s", "version": 7})
        finally:
            await client.close()
        # status/stop from yet another handle on the same folder
        third = ferretdb.FerretDBServer(folder)
        assert third.status()["pid"] == st["pid"]
        third.stop()
        assert second.status()["running"] is False
    finally:
        second.stop()


def test_missing_go_raises_missing_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(MissingToolError) as info:
        ferretdb.provision(cache=tmp_path / "cache")
    assert info.value.tool == "go"
    assert "apt-get install golang" in str(info.value)
    assert not (tmp_path / "cache" / f"ferretdb-{ferretdb.FERRETDB_VERSION}" / "ferretdb").exists()
