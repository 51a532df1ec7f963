"""The in-memory event store keeps the real store's promises, so handler tests built on
it exercise the real CommandHandler: the version check, retries answered as the first
time, and projections folded into documents as the projector would."""

import asyncio
from datetime import date

import pytest

from services.records import domain
from services.records.projections import PROJECTIONS
from shared.commands import CommandHandler, Context
from shared.errors import ConcurrencyConflict
from shared.events import Actor
from shared.memory import MemoryEventStore, fold_projection

CTX = Context(
    actor=Actor(user_id="u-1", name="李干事", role="org_department"),
    jurisdiction="371428",
    correlation_id="c-1",
)


def run(coro):
    return asyncio.run(coro)


def test_a_command_is_decided_appended_and_folded_into_the_read_model():
    store = MemoryEventStore()
    commands = CommandHandler(store)
    cmd = domain.AssignRecorder(
        class_id="k-1", person_id="p-1", name="王老师", role="head_teacher", since=date(2026, 3, 2)
    )
    envs = run(commands.execute(domain.ClassDecider(), domain.class_stream("k-1"), cmd, CTX))
    assert [e.type for e in envs] == ["RecorderAssigned"]
    assert run(store.read_stream(domain.class_stream("k-1")))[0].stream_version == 1
    docs = {}
    for p in PROJECTIONS:
        docs.update(fold_projection(p, store.all_events()))
    assert any("王老师" in str(d) for d in docs.values())


def test_a_stale_version_is_refused_like_the_real_store():
    store = MemoryEventStore()
    commands = CommandHandler(store)
    cmd = domain.AssignRecorder(
        class_id="k-1", person_id="p-1", name="王老师", role="head_teacher", since=date(2026, 3, 2)
    )
    envs = run(commands.execute(domain.ClassDecider(), "s-1", cmd, CTX))
    with pytest.raises(ConcurrencyConflict):
        run(store.append("s-1", 0, envs))


def test_the_memory_database_answers_the_filters_reads_use():
    from shared.memory import MemoryDatabase

    db = MemoryDatabase()
    coll = db["cadres"]

    async def go():
        for i, (name, rank) in enumerate([("张三", "正科"), ("李四", "副科"), ("王五", "正科")]):
            await coll.insert_one(
                {
                    "_id": f"c{i}",
                    "name": name,
                    "rank": rank,
                    "tags": ["x"] if i else [],
                    "hours": {"2026": i * 10},
                }
            )
        assert [d["name"] async for d in coll.find({"rank": "正科"}).sort("name", 1)] == ["张三", "王五"]
        assert await coll.count_documents({"hours.2026": {"$gt": 5}}) == 2
        assert await coll.count_documents({"tags": "x"}) == 2
        assert (await coll.find_one({"_id": {"$in": ["c2"]}}, {"name": 1})) == {"_id": "c2", "name": "王五"}
        await coll.update_one({"_id": "c9"}, {"$set": {"name": "赵六"}}, upsert=True)
        assert (await coll.find_one({"_id": "c9"}))["name"] == "赵六"
        assert len(await coll.find({}).skip(1).limit(2).to_list()) == 2

    run(go())
