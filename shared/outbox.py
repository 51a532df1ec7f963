"""The outbox relay: every stored event reaches Kafka, in stream order.

A commit is marked published only after Kafka acknowledged all its events (acks=all,
idempotent producer). A crash between the two re-sends the commit after restart:
delivery is at-least-once and projections make the effect exactly-once.

Where the relay runs in the appending process, the process hands it what it stored
(`EventStore.landed_ready`): a round woken by an append sends those commits without reading the
outbox, and the outbox (each pointer written before its commit, the crash-safety net) is read
at the start, once per poll and whenever a landed commit's stream needs it; published pointers
are deleted several rounds at once (`OutboxRelay.run`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaProducer

from shared.eventstore import EventStore

log = structlog.get_logger("outbox")
# Published pointers wait at most this long (seconds) for their delete, one for several rounds:
# a read waiting in another process counts a commit as on Kafka once its pointer is gone
# (shared/consistency.py, StoreCheck), so this is added to such a wait at worst.
UNLINK_AFTER = 0.25
# The same where the process's API runs beside its relay (Runtime.start sets `unlink_after`):
# its own reads learn what its projectors folded from them, not from the outbox, and no other
# process of the service waits on these pointers. Deleted at most once a second, they were
# 0.19 store commands per command in selection at 50 commands/s at 0.25 s, each a PostgreSQL
# transaction.
UNLINK_NUDGED = 1.0


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
        unlink_after: float = UNLINK_AFTER,
    ) -> None:
        self.store = store
        self.producer = producer
        self.topic_for = topic_for
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ensure_topics = ensure_topics
        # Further topics an event is copied to (an erasure: shared/topics.py), after its own.
        self.copies_to = copies_to
        # Published pointers wait at most this long for their delete (UNLINK_AFTER).
        self.unlink_after = unlink_after
        self._wake = asyncio.Event()
        # Told of each event sent, with the bytes it went as (Runtime.start: the sealer keeps
        # what this process's projectors will then find plain, shared/personal.Sealer.recall).
        self.on_sent: Callable[[dict, bytes], None] | None = None
        # An append_many chunk kept for this relay wakes it (`EventStore._land_chunk`): an import
        # is sent while its later chunks are still being written, not after its answer.
        store.on_landed = self.nudge

    def nudge(self) -> None:
        """Called after an append so the event goes out without waiting for the poll."""
        self._wake.set()

    async def publish_once(self) -> int:
        """One round reading the outbox; the pointers of what it sent are deleted at once."""
        commits = await self.store.unpublished(self.batch_size)
        if not commits:
            return 0
        await self._send(commits)
        await self.store.mark_published([c["_id"] for c in commits])
        return sum(len(c["events"]) for c in commits)

    async def _send(self, commits: list[dict]) -> None:
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
                value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
                if self.on_sent is not None:
                    self.on_sent(event, value)
                for topic in (self.topic_for(event), *self.copies_to(event)):
                    pending.append(
                        await self.producer.send(
                            topic, value=value, key=event["stream_id"].encode(), headers=headers_of(event)
                        )
                    )
        await asyncio.gather(*pending)

    async def _round(self, read: bool) -> tuple[int, bool, bool]:
        """One round of `run`: (events sent, whether it read the outbox, whether the next
        round must read it).

        Without `read` it sends the commits this process stored that need no outbox read
        (`EventStore.landed_ready`), and reads the outbox only if another landed commit
        waits on one; with it, it reads the outbox as `publish_once` does. Either way the
        pointers are deleted later, several rounds' at once (`run`)."""
        ready: list[dict] = []
        if not read:
            ready, read = self.store.landed_ready(self.batch_size)
            if ready:
                await self._send(ready)
                self.store.published(ready)
        commits: list[dict] = []
        if read:
            await self.store.flush_published()  # the read must not meet pointers already sent
            commits = await self.store.unpublished(self.batch_size)
            if commits:
                await self._send(commits)
                self.store.published(commits)
        # Read again at once only when the read was cut at the batch size: what landed since
        # is the next woken round's, and under load a read after every read that found
        # something made a chain of them (2.6 outbox reads a second at 50 commands/s).
        sent = sum(len(c["events"]) for c in (*ready, *commits))
        return sent, read, len(commits) >= self.batch_size

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until stopped. Woken by this process's appends, a round sends what they
        stored without reading the outbox; the outbox is read at the start (what an earlier
        process left), every `poll_interval` (another process's pointers, orphans to fence),
        while a read is cut at the batch size, and when a landed commit's stream needs it. Published
        pointers are deleted at most `unlink_after` later, in one command for all of them: per
        command, the relay's outbox read and delete were 1.7 of selection's 4.9 store
        commands (docs/benchmarks.md, "The outbox read once a second")."""
        read, read_at, flushed_at = True, 0.0, 0.0
        while not stop.is_set():
            # Cleared before the round, so an append that lands while it runs wakes the next
            # at once (cleared after, its nudge was lost until the poll).
            self._wake.clear()
            now = time.monotonic()
            read = read or now - read_at >= self.poll_interval
            try:
                sent, did_read, read = await self._round(read)
                if did_read:
                    read_at = flushed_at = now
                if self.store.unlinked() and time.monotonic() - flushed_at >= self.unlink_after:
                    await self.store.flush_published()
                    flushed_at = time.monotonic()
            except Exception:  # noqa: BLE001 - keep relaying; Kafka or the store may come back
                log.exception("outbox.publish_failed")
                sent, read = 0, True
                await asyncio.sleep(1.0)
            if sent:
                continue
            now = time.monotonic()
            wait = read_at + self.poll_interval - now
            if self.store.unlinked():
                wait = min(wait, flushed_at + self.unlink_after - now)
            try:
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.001))
            except TimeoutError:
                pass
