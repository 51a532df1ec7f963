"""Processes killed with SIGKILL lose nothing and count nothing twice.

The relay and the projector run as real service processes (`python -m
services.selection --components ...`) against real Kafka and the real store.
"""

import asyncio
import os
import random
import subprocess
import sys
from collections import defaultdict
from datetime import date

import pytest
from pymongo import AsyncMongoClient

from deploy.local.process import REPO_ROOT
from services.selection.projections import classes
from shared import kafka
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.events import Actor, Envelope
from shared.eventstore import EventStore
from shared.projection import public
from shared.projector import DeadLetters, ProjectionWriter, rebuild, stored_positions
from shared.topics import events_topic, source_pattern
from tests.support import ServiceProcess, env_of, eventually, meaning, random_county, read_topic, settings

pytestmark = pytest.mark.integration
CLASSES, PER_CLASS = 100, 50  # 5,000 events for the relay test


def _ctx(county: str) -> Context:
    return Context(
        actor=Actor(user_id="org-1", name="组织部赵科长", role="org_department"),
        jurisdiction=county,
        correlation_id="crash-test",
    )


def _events(class_no: int, count: int) -> list:
    cid = f"k{class_no:03d}"
    return [
        ClassOpened(
            class_id=cid,
            title=f"第{class_no}期科级干部进修班",
            capacity=500,
            starts_on=date(2027, 3, 1),
            ends_on=date(2027, 3, 30),
            organiser="县委党校",
        )
    ] + [
        TraineeNominated(class_id=cid, cadre_id=f"{cid}-{i:03d}", name=f"学员{i}", unit="县发展和改革局")
        for i in range(1, count)
    ]


class Killer:
    """SIGKILLs a process at random points of progress (not time), then restarts it, so
    the number of kills does not depend on how fast this machine is."""

    def __init__(self, proc: ServiceProcess, low: int, high: int) -> None:
        self.proc, self.low, self.high = proc, low, high
        self.next = random.randint(low, high)
        self.kills = 0

    def progress(self, done: int) -> None:
        if done >= self.next:
            self.proc.kill()
            self.kills += 1
            self.proc.start(wait=False)
            self.next = done + random.randint(self.low, self.high)


# long: one story end to end against real servers; its steps share the state they build
async def test_relay_killed_at_random_moments_publishes_everything_in_stream_order(servers, tmp_path):
    county = random_county()
    s = settings("selection", servers, [county], relay_batch=100)
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    store = EventStore(client[s.database_name])
    await store.ensure_indexes()
    relay = ServiceProcess(s, components="relay", log=tmp_path / "relay.log").start(wait=False)

    plans = {f"class-k{n:03d}": _events(n, PER_CLASS) for n in range(CLASSES)}
    stored: dict[str, list[Envelope]] = defaultdict(list)

    async def append(stream: str, i: int) -> None:
        envs = CommandHandler.envelopes(stream, i, [plans[stream][i]], _ctx(county))
        await store.append(stream, i, envs)
        stored[stream].extend(envs)

    killer = Killer(relay, 400, 1000)
    try:
        for i in range(PER_CLASS):
            await asyncio.gather(*(append(stream, i) for stream in plans))
            await asyncio.sleep(random.uniform(0, 0.2))  # let the relay get some of it out
            killer.progress((i + 1) * CLASSES)
        assert killer.kills >= 4, "the relay should have been killed while events were appended"

        async def drained():
            return await store.count_unpublished() == 0

        await eventually(drained, timeout=120)
    finally:
        relay.stop()

    records = await read_topic(servers.kafka, events_topic("selection", county), expect=CLASSES * PER_CLASS)
    on_kafka = [Envelope.model_validate_json(r.value) for r in records]
    all_stored = {e.event_id for envs in stored.values() for e in envs}
    assert len(all_stored) == CLASSES * PER_CLASS
    assert {e.event_id for e in on_kafka} == all_stored, "every stored event is on Kafka"
    firsts: dict[str, list[int]] = defaultdict(list)
    seen = set()
    for e in on_kafka:
        assert records[0].key is not None
        if e.event_id not in seen:
            seen.add(e.event_id)
            firsts[e.stream_id].append(e.stream_version)
    for stream, versions in firsts.items():
        assert versions == list(range(1, PER_CLASS + 1)), f"{stream} out of order: {versions[:10]}…"

    # Duplicates (if the relay died between "sent" and "marked") change no projection.
    db = client[f"{s.database_name}_proj"]
    producer = kafka.producer(servers.kafka)
    await producer.start()
    writer = ProjectionWriter(classes, db, DeadLetters(producer, "ganxun.dlq.test", "test"))
    await writer.handle(records)
    await writer.handle(records)  # and a full redelivery on top
    await producer.stop()
    docs = {d["_id"]: d async for d in db["classes"].find()}
    assert len(docs) == CLASSES
    for stream, envs in stored.items():
        cid = stream.removeprefix("class-")
        assert [n["cadre_id"] for n in docs[cid]["nominations"]] == [e.payload["cadre_id"] for e in envs[1:]]
    await client.drop_database(s.database_name)
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture(scope="module")
async def crashed_projection(servers, tmp_path_factory):
    """10,000 events on a topic, consumed by a projector that is SIGKILLed at random."""
    county = random_county()
    topic = events_topic("selection", county)
    await kafka.ensure_topics(servers.kafka, [topic])
    producer = kafka.producer(servers.kafka)
    await producer.start()
    sends = []
    for n in range(100):
        for env in CommandHandler.envelopes(f"class-k{n:03d}", 0, _events(n, 100), _ctx(county)):
            sends.append(await producer.send(topic, env.to_json(), key=env.stream_id.encode()))
    await asyncio.gather(*sends)
    await producer.stop()

    s = settings("selection", servers, [county], projector_batch=250)
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    positions = client[s.database_name]["projection_positions"]
    proc = ServiceProcess(s, components="projectors", log=tmp_path_factory.mktemp("proj") / "projector.log")
    proc.start(wait=False)

    killer = Killer(proc, 1500, 3000)
    try:

        async def caught_up():
            total = sum((await stored_positions(positions, "classes")).values())
            killer.progress(total)
            return total >= 10_000

        await eventually(caught_up, timeout=240, interval=0.2)
    finally:
        proc.stop()
    yield s, client, killer.kills
    await client.drop_database(s.database_name)
    await client.close()


async def _docs(db, name="classes") -> dict:
    return {d["_id"]: meaning(d) async for d in db[name].find()}


async def test_projector_killed_at_random_equals_one_clean_pass(servers, crashed_projection):
    s, client, kills = crashed_projection
    assert kills >= 2, "the projector should have been killed while consuming"
    crashed = await _docs(client[s.database_name])

    clean_db = client[f"{s.database_name}_clean"]
    producer = kafka.producer(servers.kafka)
    await producer.start()
    consumer = kafka.consumer(servers.kafka, None)
    await consumer.start()
    writer = ProjectionWriter(classes, clean_db, DeadLetters(producer, "ganxun.dlq.test", "test"))
    tps = await kafka.partitions(servers.kafka, source_pattern("selection", s.jurisdictions))
    result = await rebuild(writer, consumer, tps)
    await consumer.stop()
    await producer.stop()
    assert result.applied == 10_000
    clean = await _docs(clean_db)
    await client.drop_database(clean_db.name)

    assert len(crashed) == 100
    assert crashed == clean
    for doc in crashed.values():
        assert len(doc["nominations"]) == 99, "nothing counted twice, nothing missed"
        assert len({n["cadre_id"] for n in doc["nominations"]}) == 99


async def test_ganxun_rebuild_gives_identical_documents(crashed_projection):
    s, client, _ = crashed_projection
    before = await _docs(client[s.database_name])
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.cli", "rebuild", "selection", "classes"],
        cwd=REPO_ROOT,
        env={**os.environ, **env_of(s)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "classes: 应用 10000 个事件，生成 100 个文档" in out.stdout
    assert "重建 classes" in out.stderr  # the progress bar
    after = await _docs(client[s.database_name])
    assert public_all(after) == public_all(before) and after == before


def public_all(docs: dict) -> dict:
    return {k: public(v) for k, v in docs.items()}
