"""A projector creating the registry entries of an import does not read each entry first
(a point read each, 20,000 after an import), and a guess that an entry is new when it
exists after all (a redelivered registration, another process's empty cache) costs a
failed insert and a read, never a wrong document. Against the real FerretDB."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from pymongo import AsyncMongoClient

from services.selection.domain import cadre_stream_id
from services.selection.projections import cadres
from shared import topics
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreRegistered, CadreUpdated
from shared.events import Actor
from shared.ids import new_id
from shared.outbox import headers_of
from shared.projector import ProjectionWriter

pytestmark = pytest.mark.integration
COUNTY = "371428"
CTX = Context(Actor(user_id="u", name="县委组织部", role="org_department"), COUNTY, "c")
TOPIC = topics.events_topic("selection", COUNTY)


def registered(cadre_id: str, name: str):
    ev = CadreRegistered(
        cadre_id=cadre_id,
        name=name,
        gender="男",
        birth_date=None,
        id_number="x",
        unit="县财政局",
        rank="科员",
    )
    return CommandHandler.envelopes(cadre_stream_id(cadre_id), 0, [ev], CTX)[0]


def record(env, offset: int) -> ConsumerRecord:
    doc = env.to_doc()
    value = env.to_json()
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), headers_of(doc))


class CountedReads:
    """The writer's collection, counting its point reads."""

    def __init__(self, coll) -> None:
        self.coll, self.reads = coll, 0

    def __getattr__(self, name):
        return getattr(self.coll, name)

    async def find_one(self, *a, **k):
        self.reads += 1
        return await self.coll.find_one(*a, **k)


async def test_new_entries_are_inserted_unread_and_an_existing_one_is_folded_from_the_store(servers):
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    db = client[f"t_born_{new_id()[-12:]}"]
    first = ProjectionWriter(cadres, db, dead_letters=None)
    counted = first.coll = CountedReads(first.coll)
    batch = [registered(f"cd-{i}", f"干部{i}") for i in range(3)]
    result = await first.handle([record(e, i) for i, e in enumerate(batch)])
    assert result.applied == 3 and counted.reads == 0, "three new entries, not one read"
    assert {d["name"] async for d in db["cadres"].find({})} == {"干部0", "干部1", "干部2"}

    # Another process (nothing cached) gets cd-1's registration again, then an update of it,
    # and a new cd-9: cd-1 is guessed new, its insert fails, it is read and folded again.
    again = ProjectionWriter(cadres, db, dead_letters=None)
    change = CommandHandler.envelopes(
        cadre_stream_id("cd-1"), 1, [CadreUpdated(cadre_id="cd-1", changes={"unit": "县审计局"})], CTX
    )[0]
    later = [batch[1], change, registered("cd-9", "干部9")]
    await again.handle([record(e, 3 + i) for i, e in enumerate(later)])
    doc = await db["cadres"].find_one({"_id": "cd-1"})
    assert (doc["name"], doc["unit"], doc["_rev"]) == ("干部1", "县审计局", 2)
    assert (await db["cadres"].find_one({"_id": "cd-9"}))["name"] == "干部9"
    assert await db["cadres"].count_documents({}) == 4
    await client.drop_database(db.name)
    await client.close()
