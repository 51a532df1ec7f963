"""A malformed message goes to the dead-letter topic (once for each projection that follows its
topic); an unknown type is skipped; both are followed by events that are still applied."""

import pytest

from services.teaching.service import DEFINITION as TEACHING
from shared import kafka
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.events import Actor
from shared.runtime import Runtime
from shared.topics import dead_letter_topic, events_topic
from tests.support import eventually, random_county, read_topic, settings

pytestmark = pytest.mark.integration


# long: one story end to end against real servers; its steps share the state they build
async def test_malformed_to_dead_letters_unknown_skipped_rest_applied(servers):
    county = random_county()
    topic = events_topic("selection", county)
    ctx = Context(
        actor=Actor(user_id="u", name="组织部孙干事", role="org_department"),
        jurisdiction=county,
        correlation_id="dlq-test",
    )
    opened, first, second = CommandHandler.envelopes(
        "class-d1",
        0,
        [
            ClassOpened(
                class_id="d1",
                title="村(社区)党组织书记示范培训班",
                capacity=80,
                starts_on="2027-01-05",
                ends_on="2027-01-09",
                organiser="县委党校",
            ),
            TraineeNominated(class_id="d1", cadre_id="v1", name="刘洋", unit="王庄村"),
            TraineeNominated(class_id="d1", cadre_id="v2", name="陈静", unit="李庄村"),
        ],
        ctx,
    )
    unknown = opened.model_copy(update={"type": "ClassRenamedInTheFuture", "stream_version": 9})
    bad_payload = first.model_copy(update={"payload": {"class_id": "d1"}})
    key = b"class-d1"  # one key, one partition: the order below is the order consumed
    messages = [
        opened.to_json(),
        b"\x00not json at all",
        unknown.to_json(),
        first.to_json(),
        bad_payload.to_json(),
        second.to_json(),
    ]
    await kafka.ensure_topics(servers.kafka, [topic])
    producer = kafka.producer(servers.kafka)
    await producer.start()
    sent = [await producer.send_and_wait(topic, m, key=key) for m in messages]
    offsets, partition = [r.offset for r in sent], sent[0].partition
    await producer.stop()

    rt = Runtime(TEACHING, settings("teaching", servers, [county]))
    await rt.start(("projectors",))
    try:

        async def roster():
            doc = await rt.db["class_roster"].find_one({"_id": "d1"})
            return doc if doc and doc["size"] == 2 else None

        doc = await eventually(roster)
        assert [t["cadre_id"] for t in doc["trainees"]] == ["v1", "v2"]
        assert doc["title"] == "村(社区)党组织书记示范培训班"
    finally:
        await rt.stop()

    # Each of teaching's projections that follows selection's topic records what it could not
    # apply (the `consumer` header names it): the malformed message and the invalid payload,
    # never the unknown type.
    following = sorted(
        f"ganxun.teaching.{county}.{p.name}" for p in TEACHING.projections if "selection" in p.sources
    )
    expected = 2 * len(following)
    dead = await read_topic(servers.kafka, dead_letter_topic("teaching", county), expect=expected, timeout=15)
    assert len(dead) == expected, "per projection: the malformed message and the invalid payload"
    by_consumer: dict[str, list] = {}
    for d in dead:
        by_consumer.setdefault(dict(d.headers)["consumer"].decode(), []).append(d)
    assert sorted(by_consumer) == following
    for mine in by_consumer.values():
        headers = [dict(d.headers) for d in mine]
        assert {h["source_topic"].decode() for h in headers} == {topic}
        assert sorted(int(h["source_offset"]) for h in headers) == [offsets[1], offsets[4]]
        reasons = sorted(h["error"].decode() for h in headers)
        assert reasons[0].startswith("invalid TraineeNominated payload") and reasons[1].startswith(
            "invalid envelope"
        )
        assert {h["source_partition"] for h in headers} == {str(partition).encode()}
        assert sorted(d.value for d in mine) == sorted([messages[1], messages[4]])
