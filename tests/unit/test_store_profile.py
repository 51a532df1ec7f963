"""The store profile (shared/store.py): chosen by GANXUN_STORE_PROFILE, and how each profile
cuts a bulk write into commands and reads many ids (a fake collection records the calls;
tests/integration/test_store_profiles.py runs the same against the real servers)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from pymongo import InsertOne, ReplaceOne
from pymongo.errors import BulkWriteError

from shared import store
from shared.settings import Settings


class Recording:
    """A collection that records the commands it is sent."""

    def __init__(self) -> None:
        self.bulks: list[list] = []
        self.finds: list[dict] = []

    async def bulk_write(self, ops, ordered=False):
        self.bulks.append(list(ops))
        return SimpleNamespace(matched_count=sum(isinstance(o, ReplaceOne) for o in ops))

    async def find_one(self, flt, projection=None):
        self.finds.append(flt)
        return {"_id": flt["_id"]}

    def find(self, flt, projection=None):
        self.finds.append(flt)

        async def docs():
            for i in flt["_id"]["$in"]:
                yield {"_id": i}

        return docs()


@pytest.fixture
def profile():
    before = store.profile()
    yield
    store.use(before)


def test_the_profile_is_read_from_the_environment_and_an_unknown_one_is_refused(monkeypatch, profile):
    assert Settings().store_profile == "ferretdb"
    monkeypatch.setenv("GANXUN_STORE_PROFILE", "mongodb")
    assert Settings().store_profile == "mongodb"
    monkeypatch.setenv("GANXUN_STORE_PROFILE", "cassandra")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert "store_profile" in str(err.value)
    assert store.use("mongodb") is store.MONGODB and store.profile() is store.MONGODB
    with pytest.raises(ValueError) as bad:
        store.use("cassandra")
    assert "GANXUN_STORE_PROFILE" in str(bad.value) and "ferretdb" in str(bad.value)


def _ops() -> list:
    ops = [ReplaceOne({"_id": i}, {"n": i}) for i in range(1500)]
    ops[700:700] = [InsertOne({"_id": f"n{i}"}) for i in range(800)]
    return ops


def test_ferretdb_sends_one_replace_per_command_and_runs_of_inserts_in_fives_of_hundreds(profile):
    store.use("ferretdb")
    coll = Recording()
    assert asyncio.run(store.bulk_write(coll, _ops())) == 1500
    assert [len(b) for b in coll.bulks] == [1] * 700 + [500, 300] + [1] * 800


class Slow(Recording):
    """A collection whose commands take a while, counting how many run at once; the replaces
    of the documents named in `refuse` fail as a stale revision would not, with a write error."""

    def __init__(self, refuse=()) -> None:
        super().__init__()
        self.running = self.most = 0
        self.refuse = set(refuse)

    async def bulk_write(self, ops, ordered=False):
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.001)
        self.running -= 1
        if ops[0]._filter["_id"] in self.refuse:
            raise BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}], "nMatched": 0})
        return await super().bulk_write(ops, ordered)


def test_ferretdb_sends_a_process_s_single_commands_eight_at_a_time_and_reports_every_failure(profile):
    store.use("ferretdb")
    ops = [ReplaceOne({"_id": i}, {"n": i}) for i in range(100)]

    async def two_writers(coll: Slow) -> list:
        return await asyncio.gather(
            store.bulk_write(coll, ops), store.bulk_write(coll, ops), return_exceptions=True
        )

    coll = Slow()
    assert asyncio.run(two_writers(coll)) == [100, 100]
    assert coll.most == 8  # across both writers: the process's bound, not each writer's
    coll = Slow(refuse={3, 97})
    with pytest.raises(store.ChunkedBulkError) as err:
        asyncio.run(store.bulk_write(coll, ops))
    assert err.value.failed_indexes == [3, 97] and len(coll.bulks) == 98
    coll = Slow()
    assert asyncio.run(store.bulk_write(coll, ops, ordered=True)) == 100
    assert coll.most == 1  # an ordered write keeps its order


def test_mongodb_sends_bulks_of_a_thousand_whatever_their_kinds(profile):
    store.use("mongodb")
    coll = Recording()
    assert asyncio.run(store.bulk_write(coll, _ops())) == 1500
    assert [len(b) for b in coll.bulks] == [1000, 1000, 300]
    store.use(store.on_ferretdb(store.MONGODB))  # its code paths on FerretDB: updates by the hundred
    coll = Recording()
    asyncio.run(store.bulk_write(coll, _ops()))
    assert [len(b) for b in coll.bulks] == [100] * 7 + [800] + [100] * 8


def test_many_ids_are_point_reads_on_ferretdb_and_in_finds_of_a_thousand_on_mongodb(profile):
    ids = [f"d{i}" for i in range(2500)]
    for name, finds in (("ferretdb", 2500), ("mongodb", 3)):
        store.use(name)
        coll = Recording()
        assert set(asyncio.run(store.find_by_ids(coll, ids))) == set(ids)
        assert len(coll.finds) == finds
