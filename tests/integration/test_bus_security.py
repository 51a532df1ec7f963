"""The bus against a real broker (SASL/SCRAM + StandardAuthorizer): a county's
credentials reach its own topics only, and a forged event is dead-lettered and
counted nowhere."""

from datetime import date

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from services.selection.service import DEFINITION as SELECTION
from shared import kafka
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreRegistered, CadreUpdated
from shared.events import Actor
from shared.runtime import Runtime
from shared.topics import dead_letter_topic, events_topic
from tests.support import (
    deployment_principal,
    eventually,
    publish,
    random_county,
    random_province,
    read_topic,
    settings,
)

pytestmark = pytest.mark.integration


def bus_of(servers, codes: list[str], service: str | None = None) -> kafka.Connection:
    p = deployment_principal(servers, codes, service)
    if not p:
        pytest.skip("this run's Kafka has no SASL super-user (an outside PLAINTEXT broker)")
    return kafka.Connection(
        servers.kafka,
        p["kafka_security_protocol"],
        p["kafka_username"],
        p["kafka_password"],
        ca_file=p.get("kafka_ca_file"),
    )


async def _write(bus, topic: str) -> None:
    producer = kafka.producer(bus)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


async def _read_one(bus, topic: str):
    consumer = kafka.consumer(bus, None)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        await consumer.seek_to_beginning()
        for _ in range(25):
            got = await consumer.getmany(timeout_ms=200)
            if got:
                return got
        return {}
    finally:
        await consumer.stop()


async def _visible(bus) -> set[str]:
    admin = kafka.admin(bus)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_county_principal_reaches_only_what_the_readme_promises(servers):
    province = random_province()
    mine, theirs = random_county(province), random_county(province)
    far = random_county()
    above = f"{province}0000"
    own, other, upper, distant = (events_topic("selection", c) for c in (mine, theirs, above, far))
    await kafka.ensure_topics(servers.kafka, [own, other, upper, distant])  # as the super-user
    for t in (other, upper, distant):
        await _write(servers.kafka, t)
    county = bus_of(servers, [mine])

    # Its own topic: write and read.
    await _write(county, own)
    assert await _read_one(county, own)
    # Another county's topic: neither written, nor read, nor even listed.
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(county, other)
    # (aiokafka does not raise here: the broker denies the topic's metadata, so nothing is
    # fetched; the same read as the super-user shows there is something to read.)
    assert await _read_one(servers.kafka, other)
    assert not await _read_one(county, other)
    listed = await _visible(county)
    assert own in listed and other not in listed and distant not in listed
    # Its province's topic (province-run classes): read, never written.
    assert await _read_one(county, upper)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(county, upper)
    # No topic outside its own: creating another county's is refused and nothing is made.
    stranger = events_topic("teaching", random_county(province))
    with pytest.raises(kafka.TopicsRefused):
        await kafka.ensure_topics(county, [stranger])
    assert stranger not in await _visible(servers.kafka)
    # Another deployment's consumer group cannot be joined, even on its own topic.
    consumer = kafka.consumer(county, f"ganxun.selection.{theirs}.cadres", own)
    with pytest.raises(GroupAuthorizationFailedError):
        await consumer.start()
        await consumer.getmany(timeout_ms=5000)
    await consumer.stop()

    # The province's principal reads every county under its prefix, and nothing else.
    prov = bus_of(servers, [above])
    assert await _read_one(prov, other)
    assert not await _read_one(prov, distant)
    # The dashboard's principal reads, and may not write, even its own county's topic.
    dash = bus_of(servers, [mine], "dashboard")
    assert await _read_one(dash, own)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(dash, own)


def _registered(cadre_id: str, name: str, n: int) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=cadre_id,
        name=name,
        gender="男",
        birth_date=date(1988, 5, n),
        id_number=f"3714281988050{n}001X",
        unit="县财政局",
        rank="副科",
    )


async def test_a_forged_event_is_dead_lettered_and_counted_nowhere(servers):
    a, b = random_county(), random_county()
    # County b's own cadre, published on b's topic as b's relay would.
    await publish(servers.kafka, "selection", b, "cadre-b1", [_registered("b1", "陈静", 1)])

    # County a's principal may write a's topic. It sends, as an attacker would:
    # 1. a cadre "of county b" (b's jurisdiction in the envelope) on a's topic;
    # 2. with a's own jurisdiction, a change aimed at b's cadre b1 (an id it chose);
    # then a genuine cadre of its own, to know when the consumer is past them.
    def envelopes(code: str, stream: str, event):
        ctx = Context(
            actor=Actor(user_id="x", name="某人", role="org_department"),
            jurisdiction=code,
            correlation_id="forge",
        )
        return CommandHandler.envelopes(stream, 0, [event], ctx)[0]

    forged = [
        envelopes(b, "cadre-f1", _registered("f1", "冒名者", 2)),
        envelopes(a, "cadre-x-b1", CadreUpdated(cadre_id="b1", changes={"name": "被改名"})),
        envelopes(a, "cadre-a1", _registered("a1", "刘洋", 3)),
    ]
    topic = events_topic("selection", a)
    attacker = bus_of(servers, [a])

    # One deployment serving both counties (a small city) follows both topics.
    rt = Runtime(SELECTION, settings("selection", servers, [a, b]))
    await rt.start(("projectors",))
    try:
        await eventually(lambda: rt.db["cadres"].find_one({"_id": "b1"}), timeout=60)
        await kafka.ensure_topics(attacker, [topic])
        producer = kafka.producer(attacker)
        await producer.start()
        for env in forged:
            await producer.send_and_wait(topic, env.to_json(), key=env.stream_id.encode())
        await producer.stop()

        async def registry():
            docs = {d["_id"]: d async for d in rt.db["cadres"].find()}
            return docs if {"a1", "b1"} <= set(docs) else None

        docs = await eventually(registry, timeout=60)
        assert set(docs) == {"a1", "b1"}, "the forged cadre is in nobody's registry"
        assert docs["b1"]["name"] == "陈静" and docs["b1"]["jurisdiction"] == b
        assert docs["a1"]["jurisdiction"] == a
    finally:
        await rt.stop()

    dead = await read_topic(servers.kafka, dead_letter_topic("selection", f"{a}-{b}"), expect=2, timeout=20)
    reasons = sorted(dict(d.headers)["error"].decode() for d in dead)
    assert len(dead) == 2, reasons
    assert reasons[0].startswith("projection cadres: ForeignJurisdiction: provenance: document 'b1'")
    assert reasons[1].startswith(
        f"projection cadres: provenance: event {forged[0].event_id} claims "
        f"jurisdiction {b} but arrived on {topic}"
    )
    assert {d.value for d in dead} == {forged[0].to_json(), forged[1].to_json()}
