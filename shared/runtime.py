"""The bootstrap: composes one service deployment from its definition and settings.

Every service is the same shape: a `ServiceDefinition` (its projections and its HTTP
routes) run by a `Runtime` (event store, command handler, outbox relay, projectors,
Kafka and MongoDB clients). Components can run separately (`--components relay`),
which is how the fault tests kill one of them.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from fastapi import APIRouter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared import consistency, heap, kafka, topics, upgrades
from shared.auth import Verifier, verifier_for
from shared.clock import StoreClock, movable_clock
from shared.commands import CommandHandler
from shared.events import CATALOGUE
from shared.eventstore import EventStore
from shared.outbox import UNLINK_NUDGED, OutboxRelay
from shared.personal import Sealer, Vault
from shared.ports import Clock, Commands, PersonKeys
from shared.projection import Projection
from shared.projector import (
    ERASURE,
    POSITIONS_AFTER,
    CacheBudget,
    DeadLetters,
    Follower,
    ProjectionWriter,
    Projector,
)
from shared.settings import Settings
from shared.store import database as store_database
from shared.store import profile as store_profile
from shared.store import refuse_unfit
from shared.store import use as use_store_profile

log = structlog.get_logger("runtime")
COMPONENTS = ("api", "relay", "projectors")
# A read waiting for a token that this process's own projectors fold asks the store only
# after this long: in one process they report it sooner; with several, another process's
# projector may own the stream's partition, and the store's positions then say it.
STORE_AFTER = 0.3
# ... and where this process's consumer holds the partition of every stream the token names,
# after this long and this often: its writers report every version they fold, so the store
# can only help when they cannot (a token older than what Progress remembers, or folded
# before this process started). Under load its reads were 28 % of selection's store
# commands (docs/benchmarks.md, "The event loop, the HTTP parser and the token").
HELD_STORE_AFTER = 1.0
HELD_STORE_EVERY = 0.5
# The relay's poll where the process's own commands wake it (seconds).
NUDGED_POLL = 1.0


@dataclass(frozen=True)
class Adapters:
    """The real adapters a service's `bootstrap` composes its handlers from
    (shared/ports.py): the command executor, the service's database for its `reads.py`,
    the clock, and the settings."""

    commands: Commands
    db: AsyncDatabase
    clock: Clock
    settings: Settings
    # This process's projection writers once it has started them (none without the
    # projectors component): reads that keep an in-memory copy of a projection follow
    # their writes (`ProjectionWriter.observers`) instead of reloading it.
    writers: Callable[[], list[ProjectionWriter]] = lambda: []
    # The deployment's key vault of personal data (selection erases a cadre's key).
    vault: PersonKeys | None = None
    # Registers a hook run when a read's wait for a token is fresh, before the read answers
    # (`Runtime.wait_for`): reads that keep an in-memory copy of a projection in a process
    # without its writers put the documents the token's writes reached into it.
    on_fresh: Callable[[FreshHook], None] = lambda hook: None


# Given what a fresh read waited for (`consistency.Applied`), brings what a read holds up to it.
FreshHook = Callable[[consistency.Applied], Awaitable[None]]


@dataclass
class ServiceDefinition:
    name: str
    title: str
    description: str
    projections: list[Projection]
    # The HTTP side: the service's module-level router(s) (`api.router`).
    routes: APIRouter | tuple[APIRouter, ...]
    # The service's bootstrap: its handlers (with their reads) from the real adapters,
    # reachable by routes as `request.app.state.handlers` and by workers as `runtime.handlers`.
    compose: Callable[[Adapters], Any] | None = None
    # Extra long-running components of this service (e.g. follow-up's scheduler),
    # each `run(runtime, stop)`; they run beside the standard ones, restarted on failure.
    workers: dict[str, Callable[[Runtime, asyncio.Event], Awaitable[None]]] = field(default_factory=dict)
    # Options of the projectors' Kafka consumers beyond the kernel's (shared/kafka.consumer).
    consumer_options: dict[str, Any] = field(default_factory=dict)
    # Partitions the projectors read at once while behind (shared/projector.CatchUp); None: all.
    catch_up_partitions: int | None = None
    # Records per projector batch while behind (with catch_up_partitions); None: projector_batch.
    catch_up_batch: int | None = None
    # While behind (with catch_up_partitions), the writers hold what they fold and write a document
    # once it goes still, as a rebuild does (shared/projector.Projector, `catch_up_hold`).
    catch_up_hold: bool = False
    # Bytes (as BSON) its projection writers keep of their documents, together (CacheBudget);
    # GANXUN_PROJECTION_CACHE_BYTES overrides it. Selection refolding a county's five years
    # peaked at 214 MB with 8 MiB and 201 with 4, its writers as fast (docs/benchmarks.md,
    # "Memory after a burst"); the dashboard keeps 8 (its catch-up holds documents within it).
    projection_cache_bytes: int = 4 * 1024 * 1024
    # The cyclic collector's thresholds (gc.set_threshold) of the service's processes, set at their
    # start by the entrypoint (shared/entrypoint.set_collector); None: Python's (700, 10, 10).
    gc_thresholds: tuple[int, int, int] | None = None

    @property
    def components(self) -> tuple[str, ...]:
        return (*COMPONENTS, *self.workers)

    def projection(self, name: str) -> Projection:
        for p in self.projections:
            if p.name == name:
                return p
        known = "、".join(p.name for p in self.projections)
        raise KeyError(f"服务 {self.name} 没有名为 {name} 的投影（可用：{known}）")


def cache_bytes(settings: Settings, definition: ServiceDefinition) -> int:
    """What a process's projection writers may keep: the setting where one is given, else the
    service's own (`ServiceDefinition.projection_cache_bytes`)."""
    given = settings.projection_cache_bytes
    return definition.projection_cache_bytes if given is None else given


class Runtime:
    def __init__(self, definition: ServiceDefinition, settings: Settings) -> None:
        self.definition = definition
        self.settings = settings
        use_store_profile(settings.store_profile)  # before anything reads or writes the store
        # An append's reply arrives within 30 s or the append is reported failed; the
        # outbox fences a pointer whose commit is still missing after eventstore.ORPHAN_AFTER.
        self.mongo = AsyncMongoClient(
            settings.mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=5000, socketTimeoutMS=30_000
        )
        self.db = store_database(self.mongo, settings.database_name)  # packed fields read unpacked
        # The deployment's key vault (shared/personal.py): one database every service of the
        # deployment opens, so each can read the people its events name; no other deployment's.
        self.vault = Vault(self.mongo[settings.vault_database_name])
        self.sealer = Sealer(self.vault, CATALOGUE)
        self.store = EventStore(self.db, sealer=self.sealer)
        self.producer = kafka.producer(settings.bus)
        self.relay = OutboxRelay(
            self.store,
            self.producer,
            self.topic_for,
            batch_size=settings.relay_batch,
            ensure_topics=self.ensure_topics,
            copies_to=self.copies_to,
        )
        self.commands = CommandHandler(self.store, CATALOGUE, on_appended=self.relay.nudge)
        # What this process's projection writers keep of their documents, all together.
        self.cache_budget = CacheBudget(cache_bytes(settings, definition))
        # Read-your-writes (shared/consistency.py): what this process's projectors folded, and
        # the store's view for what another process folded.
        self.progress = consistency.Progress()
        self.store_check = consistency.StoreCheck(
            self.db,
            {p.name: set(p.handlers) for p in definition.projections},
            self._partition_of,
            self._end_offset,
        )
        self._offsets = None
        self._patterns: dict[str, re.Pattern[str]] = {}
        self.clock = StoreClock(self.db, movable_clock(settings))
        # Run on a read's fresh wait (`wait_for`): what reads hold in memory takes the write.
        self.fresh_hooks: list[FreshHook] = []
        self.handlers = self._compose()
        self._verifier: Verifier | None = None
        # This process's projection writers (none without the projectors component).
        self.writers: list[ProjectionWriter] = []
        self.projector: Projector | None = None  # with the "projectors" component
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._known_topics: set[str] = set()

    def _compose(self) -> Any:
        """The service's handlers over the real adapters (`ServiceDefinition.compose`), if any."""
        if self.definition.compose is None:
            return None
        return self.definition.compose(
            Adapters(
                commands=self.commands,
                db=self.db,
                clock=self.clock,
                settings=self.settings,
                writers=lambda: self.writers,
                vault=self.vault,
                on_fresh=self.fresh_hooks.append,
            )
        )

    @property
    def verifier(self) -> Verifier:
        """Built at first use (the API's start), so headless components and operator
        commands need no token configuration."""
        if self._verifier is None:
            self._verifier = verifier_for(self.settings)
        return self._verifier

    # -- topics ---------------------------------------------------------------
    def topic_for(self, event: dict) -> str:
        return topics.events_topic(self.definition.name, event["jurisdiction"])

    def copies_to(self, event: dict) -> tuple[str, ...]:
        """An erasure also goes on the jurisdiction's erasures topic, for the projections that
        do not follow selection (its original stays in its stream's order on selection's)."""
        return (topics.erasures_topic(event["jurisdiction"]),) if event["type"] == ERASURE else ()

    def pattern_for(self, projection: Projection) -> re.Pattern[str]:
        parts = [
            topics.source_pattern(src, self.settings.jurisdictions, projection.include_ancestors).pattern
            for src in projection.sources
        ]
        if "selection" not in projection.sources:
            # Any projection may hold a person's name, learned from any service's events: it
            # hears erasures on their own topics instead of reading all of selection's.
            parts.append(topics.source_pattern(topics.ERASURES, self.settings.jurisdictions).pattern)
        return re.compile("|".join(f"(?:{p})" for p in parts))

    def group_for(self, projection: Projection) -> str:
        """A projection's name as a consumer (in its dead letters' headers)."""
        return f"ganxun.{self.definition.name}.{self.settings.deployment}.{projection.name}"

    @property
    def projectors_group(self) -> str:
        """The one consumer group of the service's projectors (shared/projector.Projector),
        under the prefix its deployment's principal may use (shared/bus_access.py)."""
        return f"ganxun.{self.definition.name}.{self.settings.deployment}.projectors"

    @property
    def dead_letter_topic(self) -> str:
        return topics.dead_letter_topic(self.definition.name, self.settings.deployment)

    async def ensure_topics(self, extra: list[str] = ()) -> None:
        wanted = [topics.events_topic(self.definition.name, c) for c in self.settings.jurisdictions]
        if self.definition.name == "selection":  # the one publisher of erasures
            wanted += [topics.erasures_topic(c) for c in self.settings.jurisdictions]
        wanted = [t for t in (*wanted, self.dead_letter_topic, *extra) if t not in self._known_topics]
        if not wanted:
            return
        retention = str(self.settings.dead_letter_retention_days * 24 * 3600 * 1000)
        await kafka.ensure_topics(
            self.settings.bus,
            wanted,
            self.settings.topic_partitions,
            self.settings.topic_replication,
            configs={self.dead_letter_topic: {"retention.ms": retention}},
        )
        self._known_topics.update(wanted)

    def writer(self, projection: Projection) -> ProjectionWriter:
        dl = DeadLetters(self.producer, self.dead_letter_topic, self.group_for(projection))
        return ProjectionWriter(
            projection,
            self.db,
            dl,
            CATALOGUE,
            serves=self.settings.serves,
            sealer=self.sealer,
            budget=self.cache_budget,
            packed=projection.packed if store_profile().packs else (),
        )

    # -- read-your-writes -----------------------------------------------------
    def needs(self, written: list[consistency.Written]) -> list[tuple[str, consistency.Written]]:
        """The projections of this service that fold what was written (by topic)."""
        out = []
        for p in self.definition.projections:
            pattern = self._patterns.get(p.name) or self._patterns.setdefault(p.name, self.pattern_for(p))
            out.extend((p.name, w) for w in written if w.service in p.sources and pattern.match(w.topic))
        return out

    async def wait_for(self, written: list[consistency.Written]) -> str:
        """Until this service's projections have applied `written`, at most read_wait_seconds:
        fresh, stale or unrelated. Reported by this process's writers at once; asked of the
        store at once where this process runs no writer for one of them, else after
        STORE_AFTER (another process may own the stream's partition). Once fresh, the hooks
        of reads holding a projection in memory take what was written (`fresh_hooks`); one
        failing makes the answer stale."""
        needs = self.needs(written)
        if not needs:
            return consistency.UNRELATED
        local = {w.projection.name for w in self.writers}
        after, every = 0.0, consistency.STORE_EVERY
        if all(name in local for name, _ in needs):
            held = await self._holds(needs)
            after, every = (HELD_STORE_AFTER, HELD_STORE_EVERY) if held else (STORE_AFTER, every)
        probe = self.store_check.probe()
        reached = await consistency.wait(
            needs,
            self.progress,
            self.settings.read_wait_seconds,
            probe,
            store_after=after,
            store_every=every,
        )
        if not reached:
            return consistency.STALE
        applied = consistency.Applied(needs, probe.commit, self._router)
        for hook in self.fresh_hooks:
            try:
                await hook(applied)
            except Exception:  # noqa: BLE001 - the store away: what the read holds may lack the write
                log.warning("consistency.refresh_failed", tokens=[str(w) for w in written], exc_info=True)
                return consistency.STALE
        return consistency.FRESH

    @functools.cached_property
    def _router(self) -> consistency.Router:
        return consistency.router(self.definition.projections, self.settings.serves)

    async def _holds(self, needs: list[tuple[str, consistency.Written]]) -> bool:
        """Whether this process's projector is assigned the partition of every stream named."""
        if self.projector is None:
            return False
        for w in {w for _, w in needs}:
            if not self.projector.holds(w.topic, await self._partition_of(w.topic, w.stream_id)):
                return False
        return True

    async def _partition_of(self, topic: str, stream_id: str) -> int:
        partitions = sorted(await self.producer.partitions_for(topic))
        return DefaultPartitioner()(stream_id.encode(), partitions, partitions)

    async def _end_offset(self, topic: str, partition: int) -> int:
        if self._offsets is None:
            offsets = kafka.consumer(self.settings.bus, None)
            await offsets.start()
            self._offsets = offsets
        tp = TopicPartition(topic, partition)
        return (await self._offsets.end_offsets([tp]))[tp]

    # -- lifecycle ------------------------------------------------------------
    async def start(self, components: tuple[str, ...] | None = None) -> None:
        components = self.definition.components if components is None else components
        await refuse_unfit(self.db)  # before any write: the mongodb profile wedges FerretDB
        await self.store.ensure_indexes()
        await self.ensure_topics()
        await self.producer.start()
        self._tasks.append(asyncio.create_task(heap.keep_trimmed(self._stop)))
        if "relay" in components:
            self.store.keep_landed = True  # the relay publishes this process's commits unread
            if "api" in components:
                # This process's appends wake the relay (CommandHandler.on_appended): its poll
                # only finds another process's pointers (an operator's command, a fence). Five
                # outbox reads a second per idle service were a fifth of the store's idle work.
                self.relay.poll_interval = NUDGED_POLL
                self.relay.unlink_after = UNLINK_NUDGED  # no other process waits on its pointers
            self._tasks.append(asyncio.create_task(self._guard("relay", self._relay)))
        if "projectors" in components and self.definition.projections:
            followers = []
            for p in self.definition.projections:
                writer = self.writer(p)
                if "api" in components:
                    # This process's reads learn what its writers folded from `progress`, not
                    # from the stored positions: those may wait for a later batch's write.
                    writer.positions_after = POSITIONS_AFTER
                writer.progress.append(lambda streams, name=p.name: self.progress.note(name, streams))
                followers.append(Follower(writer, self.pattern_for(p)))
            self.writers = [f.writer for f in followers]
            if "relay" in components:  # what it seals, sends and folds: taken plain (Sealer.recall)
                self.sealer.recalls, self.relay.on_sent = True, self.sealer.sent
            projector = self.projector = Projector(
                followers,
                lambda: kafka.consumer(
                    self.settings.bus,
                    self.projectors_group,
                    fetch_min_bytes=self.settings.projector_fetch_min_bytes,
                    fetch_max_wait_ms=self.settings.projector_fetch_wait_ms,
                    **self.definition.consumer_options,
                ),
                batch_size=self.settings.projector_batch,
                catch_up=self.definition.catch_up_partitions,
                catch_up_batch=self.definition.catch_up_batch,
                catch_up_hold=self.definition.catch_up_hold,
            )
            self._tasks.append(
                asyncio.create_task(self._guard("projectors", lambda: projector.run(self._stop)))
            )
        for name, work in self.definition.workers.items():
            if name in components:
                self._tasks.append(
                    asyncio.create_task(self._guard(name, lambda work=work: work(self, self._stop)))
                )
        log.info(
            "service.started",
            service=self.definition.name,
            deployment=self.settings.deployment,
            components=list(components),
            database=self.settings.database_name,
        )

    async def _relay(self) -> None:
        if self.definition.name == "selection":  # the one publisher of erasures
            # Once per deployment, before the loop (shared/upgrades.py); a failure restarts
            # the relay through the guard, which runs it again.
            await upgrades.copy_earlier_erasures(self.db, self.producer, self.copies_to, self.ensure_topics)
        await self.relay.run(self._stop)

    async def _guard(self, name: str, run) -> None:
        """Run a component until stop; if it fails (Kafka or the store gone, a commit
        refused after a rebalance), log it and start it again, backing off."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - restarted below; the log says why
                log.exception("component.crashed", component=name, restart_in=delay)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 10)
            except (TimeoutError, asyncio.CancelledError, SystemExit):
                t.cancel()
        if self._offsets is not None:
            await self._offsets.stop()
        await self.producer.stop()
        await self.mongo.close()

    async def readiness(self) -> dict[str, str]:
        status = {}
        try:
            await self.db.command("ping")
            status["store"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["store"] = f"不可达: {exc}"
        try:
            await self.producer.client.fetch_all_metadata()
            status["kafka"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["kafka"] = f"不可达: {exc}"
        return status
