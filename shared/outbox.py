"""The outbox relay: every stored event reaches Kafka, in stream order.

A commit is marked published only after Kafka acknowledged all its events (acks=all,
idempotent producer). A crash between the two re-sends the commit after restart:
delivery is at-least-once and projections make the effect exactly-once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaProducer

from shared.eventstore import EventStore

log = structlog.get_logger("outbox")


def headers_of(event: dict) -> list[tuple[str, bytes]]:
    return [
        ("event_type", event["type"].encode()),
        ("schema_version", str(event["schema_version"]).encode()),
        ("jurisdiction", event["jurisdiction"].encode()),
        ("correlation_id", event["correlation_id"].encode()),
    ]


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        producer: AIOKafkaProducer,
        topic_for: Callable[[dict], str],
        batch_size: int = 500,
        poll_interval: float = 0.2,
        ensure_topics: Callable[[list[str]], Awaitable[None]] | None = None,
        copies_to: Callable[[dict], tuple[str, ...]] = lambda event: (),
    ) -> None:
        self.store = store
        self.producer = producer
        self.topic_for = topic_for
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ensure_topics = ensure_topics
        # Further topics an event is copied to (an erasure: shared/topics.py), after its own.
        self.copies_to = copies_to
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Called after an append so the event goes out without waiting for the poll."""
        self._wake.set()

    async def publish_once(self) -> int:
        commits = await self.store.unpublished(self.batch_size)
        if not commits:
            return 0
        if self.ensure_topics is not None:
            # An aggregate's jurisdiction may be any code under the deployment's (a
            # province deployment acting for a county): its topic may not exist yet.
            wanted = {
                t for c in commits for e in c["events"] for t in (self.topic_for(e), *self.copies_to(e))
            }
            await self.ensure_topics(sorted(wanted))
        pending = []
        for commit in commits:
            for event in commit["events"]:
                for topic in (self.topic_for(event), *self.copies_to(event)):
                    pending.append(
                        await self.producer.send(
                            topic,
                            value=json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(),
                            key=event["stream_id"].encode(),
                            headers=headers_of(event),
                        )
                    )
        await asyncio.gather(*pending)
        await self.store.mark_published([c["_id"] for c in commits])
        return sum(len(c["events"]) for c in commits)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the round, so an append that lands while it runs wakes the next
            # at once (cleared after, its nudge was lost until the poll: 0.2 s, now up to a
            # second where the process's own appends wake it, Runtime.start).
            self._wake.clear()
            try:
                sent = await self.publish_once()
            except Exception:  # noqa: BLE001 - keep relaying; Kafka or the store may come back
                log.exception("outbox.publish_failed")
                sent = 0
                await asyncio.sleep(1.0)
            if sent:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass
