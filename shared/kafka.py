"""Kafka clients configured the one way the backbone needs them."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

# Topics are created explicitly (brokers run with auto-create off); history is kept
# forever because projections are rebuilt from the topics.
TOPIC_CONFIG = {"retention.ms": "-1", "cleanup.policy": "delete"}


def producer(bootstrap: str, **kw) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,  # no duplicates from producer retries, order kept per partition
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
        **kw,
    )


def consumer(bootstrap: str, group_id: str | None, **kw) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,  # offsets are committed only after the projection write
        auto_offset_reset="earliest",
        metadata_max_age_ms=3_000,  # pattern subscriptions notice new county topics quickly
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        # A crashed member holds its partitions until its session expires: keep that
        # short (the broker's minimum) so a restarted projector resumes quickly.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_500,
        **kw,
    )


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 3, replication: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(t, num_partitions=partitions, replication_factor=replication, topic_configs=TOPIC_CONFIG)
            for t in topics
            if t not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        # Creation is asynchronous on the brokers: wait until metadata shows them.
        for _ in range(100):
            if set(topics) <= set(await admin.list_topics()):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def partitions(bootstrap: str, pattern) -> list:
    """Every partition of the topics whose names match `pattern` (a compiled regex)."""
    from aiokafka import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if pattern.match(t))
        if not names:
            return []
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in sorted(described, key=lambda t: t["topic"])
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]
