"""A class's scope and nominations are stored packed on FerretDB, one value each, and every
reader gets them back whole: FerretDB's CPU for a write or read of a document goes with its
number of elements, and a class of a 2,000-cadre scope cost it 25 ms per write
(shared/store.py, "Packed fields"). Against the real FerretDB."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from bson.binary import Binary
from pymongo import AsyncMongoClient

from services.selection import service
from services.selection.domain import stream_id
from services.selection.projections import classes
from shared import store, topics
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, ScopeDrawn, TraineeNominated
from shared.events import Actor
from shared.ids import new_id
from shared.outbox import headers_of
from shared.projector import ProjectionWriter
from shared.runtime import Runtime
from shared.settings import Settings

pytestmark = pytest.mark.integration
COUNTY = "371428"
CTX = Context(Actor(user_id="u", name="县委组织部", role="org_department"), COUNTY, "c")
TOPIC = topics.events_topic("selection", COUNTY)
SCOPE = [f"cd-{i:05d}" for i in range(2_000)]


def events(class_id: str, first: int, nominees: range) -> list:
    evs = []
    if first == 0:
        evs = [
            ClassOpened(
                class_id=class_id,
                title="年轻干部培训班",
                capacity=2_000,
                starts_on="2027-03-01",
                ends_on="2027-03-05",
                organiser="县委组织部",
            ),
            ScopeDrawn(class_id=class_id, criteria={"ranks": ["科员"]}, cadre_ids=SCOPE),
        ]
    evs += [
        TraineeNominated(class_id=class_id, cadre_id=SCOPE[i], name=f"干部{i}", unit="县财政局")
        for i in nominees
    ]
    envs = CommandHandler.envelopes(stream_id(class_id), first, evs, CTX)
    return [_record(e, first + n) for n, e in enumerate(envs)]


def _record(env, offset: int) -> ConsumerRecord:
    value = env.to_json()
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), headers_of(env.to_doc()))


async def test_a_class_is_stored_packed_and_every_reader_gets_it_whole(servers):
    name = f"t_packed_{new_id()[-12:]}"
    rt = Runtime(
        service.DEFINITION,
        Settings(service="selection", jurisdictions=[COUNTY], mongodb_uri=servers.mongodb, database=name),
    )
    plain = AsyncMongoClient(servers.mongodb, tz_aware=True)
    try:
        writer = rt.writer(classes)
        assert writer.packed == ("scope", "nominations")
        await writer.handle(events("k1", 0, range(3)))

        raw = await plain[name]["classes"].find_one({"_id": "k1"})
        assert isinstance(raw["scope"], Binary) and raw["scope"].subtype == store.PACKED_ZLIB, (
            "one value, compressed"
        )
        assert len(raw["scope"]) < 20_000, "2,000 ids in fewer bytes than the 37 kB of their BSON"
        assert isinstance(raw["nominations"], Binary) and raw["nominations"].subtype == store.PACKED, (
            "one value"
        )
        assert raw["title"] == "年轻干部培训班" and raw["_rev"] == 1, "the rest as it always was"

        doc = await rt.db["classes"].find_one({"_id": "k1"})
        assert doc["scope"]["cadre_ids"] == SCOPE
        assert [n["name"] for n in doc["nominations"]] == ["干部0", "干部1", "干部2"]
        assert store.unpack(raw) == doc, "read through any handle, the same document"

        # Another process, nothing cached, its handle not unpacking: it reads the packed class,
        # folds two more nominations into it and stores it packed again.
        other = ProjectionWriter(classes, plain[name], dead_letters=None, packed=classes.packed)
        await other.handle(events("k1", 5, range(3, 5)))
        doc = await rt.db["classes"].find_one({"_id": "k1"})
        assert [n["cadre_id"] for n in doc["nominations"]] == SCOPE[:5] and doc["_rev"] == 2
        assert len(doc["scope"]["cadre_ids"]) == 2_000

        # A writer that does not pack (the mongodb profile's) stores the fields as they are,
        # and the runtime's handle reads that form too.
        unpacked = ProjectionWriter(classes, plain[name], dead_letters=None)
        await unpacked.handle(events("k2", 0, range(2)))
        raw = await plain[name]["classes"].find_one({"_id": "k2"})
        assert isinstance(raw["nominations"], list) and len(raw["scope"]["cadre_ids"]) == 2_000
        assert (await rt.db["classes"].find_one({"_id": "k2"}))["nominations"] == raw["nominations"]
    finally:
        await plain.drop_database(name)
        await plain.close()
        await rt.producer.stop()
        await rt.mongo.close()
