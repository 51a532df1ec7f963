"""The two store profiles (shared/store.py, GANXUN_STORE_PROFILE) against real servers.

Each test runs three times: the `ferretdb` profile and the `mongodb` profile against the run's
store (the local FerretDB speaks MongoDB's protocol, so the mongodb profile's bulk writes and
`$in` finds run there too, in bulk commands of at most 100 operations, which it survives:
store.on_ferretdb), and the `mongodb` profile against a real MongoDB, named by
GANXUN_TEST_MONGODB_URI or started by testcontainers where a Docker engine answers, and skipped
with the reason where neither. The same documents must come out of every run; the commands the
driver sent (counted by its command monitor) show which profile wrote them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import date

import pytest
from aiokafka.structs import ConsumerRecord
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne, monitoring

from services.selection.projections import classes
from shared import store
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.events import Actor
from shared.eventstore import EventStore
from shared.ids import new_id
from shared.outbox import headers_of
from shared.projector import DeadLetters, ProjectionWriter
from shared.topics import events_topic
from tests.support import random_county

pytestmark = pytest.mark.integration

NO_MONGODB = (
    "没有可用的 MongoDB：未设置 GANXUN_TEST_MONGODB_URI，也没有可用的 Docker 引擎来启动 mongo 镜像 / "
    "no MongoDB server: GANXUN_TEST_MONGODB_URI is not set and no Docker engine answers for testcontainers"
)


class Commands(monitoring.CommandListener):
    """Counts the commands the driver sends, by name."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    def started(self, event) -> None:
        self.sent[event.command_name] = self.sent.get(event.command_name, 0) + 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@dataclass
class Target:
    profile: store.Profile
    client: AsyncMongoClient
    commands: Commands

    def db(self):
        return self.client[f"t_profile_{new_id()[-12:]}"]


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no"
        return False


@pytest.fixture(scope="module")
def real_mongodb():
    """A real MongoDB's address, or the test is skipped saying why."""
    uri = os.environ.get("GANXUN_TEST_MONGODB_URI")
    if uri:
        yield uri
        return
    if not _docker_answers():
        pytest.skip(NO_MONGODB)
    from testcontainers.community.mongodb import MongoDbContainer

    container = MongoDbContainer("mongo:8")
    container.start()
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@pytest.fixture(params=["ferretdb", "mongodb", "mongodb-server"])
async def target(request, servers):
    if request.param == "mongodb-server":
        uri, chosen = request.getfixturevalue("real_mongodb"), store.MONGODB
    else:  # the run's store, FerretDB here: bulk commands of a size it survives (store.on_ferretdb)
        uri, chosen = servers.mongodb, store.on_ferretdb(store.PROFILES[request.param])
    before = store.profile()
    store.use(chosen)
    commands = Commands()
    client = AsyncMongoClient(uri, tz_aware=True, event_listeners=[commands])
    try:
        yield Target(chosen, client, commands)
    finally:
        store.use(before)
        for name in await client.list_database_names():
            if name.startswith("t_profile_"):
                await client.drop_database(name)
        await client.close()


async def test_documents_by_many_ids_are_one_find_per_thousand_or_point_reads(target: Target):
    coll = target.db()["docs"]
    await coll.insert_many([{"_id": f"d{i:04d}", "n": i, "big": "x" * 200} for i in range(1500)])
    wanted = [f"d{i:04d}" for i in range(300, 1500)] + [f"none{i}" for i in range(200)]
    target.commands.sent.clear()
    found = await store.find_by_ids(coll, wanted, {"n": 1})
    assert found == {f"d{i:04d}": {"_id": f"d{i:04d}", "n": i} for i in range(300, 1500)}
    finds = target.commands.sent.get("find", 0)
    assert finds == (2 if target.profile.finds_by_in else 1400)  # 1,400 ids: two $in finds, or one each


async def test_a_bulk_write_reports_the_failed_writes_and_is_sent_as_the_profile_says(target: Target):
    coll = target.db()["docs"]
    await coll.insert_many([{"_id": f"d{i:04d}", "_rev": 1} for i in range(300)])
    ops = [ReplaceOne({"_id": f"d{i:04d}", "_rev": 1}, {"_rev": 2, "n": i}) for i in range(300)]
    ops[10] = ReplaceOne({"_id": "d0010", "_rev": 7}, {"_rev": 8})  # a stale revision: matches nothing
    ops += [InsertOne({"_id": f"n{i:04d}", "_rev": 1}) for i in range(400)]
    ops.append(InsertOne({"_id": "d0005"}))  # exists: reported at its index, index 700
    target.commands.sent.clear()
    with pytest.raises(store.ChunkedBulkError) as err:
        await store.bulk_write(coll, ops)
    assert err.value.failed_indexes == [700]
    assert await coll.count_documents({"_rev": 2}) == 299 and await coll.count_documents({}) == 700
    updates, inserts = target.commands.sent.get("update", 0), target.commands.sent.get("insert", 0)
    if target.profile.bulk_chunk == 1:  # FerretDB: one replace per command, a run of inserts in one
        assert (updates, inserts) == (300, 1)
    else:  # MongoDB: bulks of up to bulk_chunk, which the driver sends as a command per kind of write
        chunks = -(-len(ops) // target.profile.bulk_chunk)
        assert updates <= chunks and inserts <= chunks and updates < 300


def _records(county: str, classes_n: int, per_class: int) -> list[ConsumerRecord]:
    ctx = Context(Actor(user_id="org-1", name="组织部赵科长", role="org_department"), county, "profile")
    out: list[ConsumerRecord] = []
    topic = events_topic("selection", county)
    for c in range(classes_n):
        cid = f"k{c:03d}"
        events = [
            ClassOpened(
                class_id=cid,
                title=f"第{c}期科级干部进修班",
                capacity=500,
                starts_on=date(2027, 3, 1),
                ends_on=date(2027, 3, 30),
                organiser="县委党校",
            ),
            *(
                TraineeNominated(class_id=cid, cadre_id=f"{cid}-{i:03d}", name=f"学员{i}", unit="县发改局")
                for i in range(1, per_class)
            ),
        ]
        for env in CommandHandler.envelopes(f"class-{cid}", 0, events, ctx):
            value = env.to_json()
            headers = headers_of(env.to_doc())
            out.append(
                ConsumerRecord(topic, 0, len(out), 0, 0, cid.encode(), value, None, 0, len(value), headers)
            )
    # Classes interleaved, as on a busy topic: each batch below touches every class again.
    return sorted(out, key=lambda r: (r.offset % per_class, r.offset))


async def test_a_projection_is_folded_alike_and_a_lost_race_is_folded_again(target: Target):
    county = random_county()
    db = target.db()
    records = _records(county, classes_n=20, per_class=30)
    writer = ProjectionWriter(classes, db, DeadLetters(None, "ganxun.dlq.test", "test"))
    for start in range(0, len(records), 150):
        await writer.handle(records[start : start + 150])
    # Another instance wrote k000 once meanwhile: this writer's copy is stale, its replace
    # matches nothing, and the document is read back and folded again. (Once: the revision
    # read back is then the one this writer expected; only the write's token tells.)
    await db["classes"].update_one({"_id": "k000"}, {"$inc": {"_rev": 1}, "$set": {"seen_by": "other"}})
    late = _records(county, classes_n=1, per_class=32)[-2:]  # two more nominations to k000
    for i, r in enumerate(late):
        late[i] = dataclasses.replace(r, offset=10_000 + i)
    await writer.handle(late)
    await ProjectionWriter(classes, db, DeadLetters(None, "x", "t")).handle(records[:300])  # replayed
    docs = {d["_id"]: d async for d in db["classes"].find()}
    assert len(docs) == 20
    for cid, doc in docs.items():
        want = 31 if cid == "k000" else 29
        assert [n["cadre_id"] for n in doc["nominations"]] == [f"{cid}-{i:03d}" for i in range(1, want + 1)]
    assert docs["k000"]["seen_by"] == "other"  # folded onto the other writer's document


async def test_the_outbox_is_emptied_by_the_profile_s_deletes(target: Target):
    db = target.db()
    events = EventStore(db)
    await events.ensure_indexes()
    ctx = Context(Actor(user_id="org-1", name="组织部赵科长", role="org_department"), "110101", "p")
    batch = {
        f"class-p{i:03d}": CommandHandler.envelopes(
            f"class-p{i:03d}",
            0,
            [
                ClassOpened(
                    class_id=f"p{i:03d}",
                    title="进修班",
                    capacity=5,
                    starts_on=date(2027, 3, 1),
                    ends_on=date(2027, 3, 5),
                    organiser="县委党校",
                )
            ],
            ctx,
        )
        for i in range(120)
    }
    assert await events.append_many([(s, 0, envs) for s, envs in batch.items()]) == set()
    waiting = await events.unpublished(500)
    assert len(waiting) == 120
    target.commands.sent.clear()
    await events.mark_published([c["_id"] for c in waiting])
    assert await events.count_unpublished() == 0
    # One delete command on either profile: the outbox holds only unpublished pointers, so
    # even FerretDB's scan for `$in` reads a few rows (shared/eventstore.py, mark_published).
    assert target.commands.sent.get("delete", 0) == 1
