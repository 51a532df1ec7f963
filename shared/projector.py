"""The projector: a consumer-group follower that keeps a process's projections up to date.

Per batch: decode (bad messages → dead-letter topic, unknown types skipped), load the
documents the batch touches with one query, fold in memory, write each changed
document once in one bulk write, record the position in the store, then commit the
offsets to Kafka. On (re)assignment it seeks to the positions recorded in the store,
which are written after the projection and so never run ahead of it.

While a backlog is read (an import's burst on the broker, a catch-up), a batch's write lands
while the next batch is fetched, decoded and folded (`ProjectionWriter.write_behind`): its
report to the waiting reads, its observers, its positions and the offsets' commit all follow
the write; a fold touching one of its documents waits for it; a write that fails makes the
projector start again from the stored positions, which stop before its batch.

A rebuild (`rebuild`) holds the documents it folds across batches and writes each once it
goes still (`ProjectionWriter.hold`), while it folds the next batch; its positions stop before
the first event of a document still held, and are saved once what they cover is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import gc
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import bson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared import heap, store, topics
from shared.events import CATALOGUE, Catalogue, Decoded, Envelope, Event, MalformedEvent
from shared.ids import new_id
from shared.personal import ERASED, Sealer
from shared.projection import OWNER, PII, WRITE, ApplyFailed, Handler, Projection, guard_key, related

log = structlog.get_logger("projector")
POSITIONS = "projection_positions"
# Each projection's positions are one document, `{_id: <projection>, projection, offsets:
# {"<topic, '.' as ':'>|<partition>": <first offset not applied>}}`, updated once per batch.
OFFSETS = "offsets"
POSITIONS_EVERY = 10.0
# Where the process's own reads learn what its writers folded without the store (Runtime.start
# sets `ProjectionWriter.positions_after` to this where the API runs beside the projectors), a
# projection's positions are written at most this often while batches keep coming, and at once
# when the consumer finds nothing more (`Projector.run`): at 50 commands/s teaching wrote them
# 0.42 times per command, selection 0.17 (one update per projection per batch). A restart
# folds again what came after the last saved position: the guard skips what the documents hold.
POSITIONS_AFTER = 1.0
# Every projection hears erasures, whatever its sources: a person's name may have reached it
# through any service's events (Runtime.pattern_for adds the erasures topics for them, where
# the relay copies each; one found on selection's topic is honoured too, so a projection that
# follows selection, or one still reading selection's topics from before, misses none).
ERASURE = "CadreErased"
ERASURE_TYPE = ERASURE.encode()
SEALED_MARK = b'"sealed":["'
# While events keep coming (the last batch ended within BUSY_WITHIN), wait this long for
# more before folding: a stream of single events then costs one write per document and one
# position write per batch instead of per event (the store's work, not Kafka's, bounds
# the whole system).
LINGER = 0.15
MAX_LINGER = 0.6
BUSY_WITHIN = 1.0
# While writes land behind the folds (`ProjectionWriter.write_behind`), a batch's offsets are
# committed with a later batch's at most this often, and at once when nothing more comes: a restart reads
# the positions stored in the store, the committed offsets serve only when that read fails
# (`_SeekToStored`), and each commit is a round trip to the group's coordinator awaited between
# two batches (up to 0.23 s each at load 5-7 in an import's tail, docs/benchmarks.md, "Folded
# while the live writes are in flight").
COMMIT_EVERY = 1.0
# Events per rebuild batch; the batch's decoded events are in memory at once. Before a rebuild
# held its documents (ProjectionWriter.hold) each batch wrote every document it touched, so
# batches were large: on 60,000 class events (bench/projector.py, 50 classes at a time) 20,000 a
# batch wrote 693 documents against 951 at 5,000. Held, both write each of the 600 once, and
# 5,000 costs less (2026-11-29, load 10: every process's CPU 5.2 against 5.7 s, the bench's
# peak RSS 177 against 257 MiB), as the last batch's documents, written after it, are fewer.
REBUILD_BATCH = 5_000
# Batches a rebuild holds a document that every batch changes (a county's counters) before it
# writes it anyway: the positions it saves stop at the held document's first event, and a
# rebuild stopped half way is taken up from there (`ProjectionWriter.hold`).
HOLD_BATCHES = 8
# How long a catching-up projector waits for each further fetch while it fills a batch
# (Projector._fill); nothing within it: the batch is folded as it is.
FILL_WAIT_MS = 100
# Bytes (as stored, BSON) that the documents cached by one process's writers may take together
# (CacheBudget); as Python objects a document takes about 3-6 times its BSON size. Unbounded, at
# five years of a county's history each writer held every document it wrote (20,000 a
# projection): follow-up's trainee files and class reports about 100 MB in a county of 2,000
# cadres, and its process 393 MB at 5,000 (docs/benchmarks.md, "Memory per service").
CACHE_BYTES = 8 * 1024 * 1024
# Once a projector has found nothing to fold for STILL_AFTER seconds after a burst (a backlog
# folded, an import relayed), its writers' caches keep at most STILL_CACHE_BYTES and the heap is
# trimmed (shared/heap.py). The budget's 8 MiB serve the burst, whose documents are touched batch
# after batch; once it is over a live event touches a document or two, read again in a few
# milliseconds. Kept full, they were 25-40 MB of a service's RSS for nothing: selection right
# after folding a county's five years 203-213 MB (issue 16: memory per service < 200 MB).
STILL_AFTER = 10.0
STILL_CACHE_BYTES = 1024 * 1024
# Records a rebuild opens and decodes ahead (`ProjectionWriter.prepare`) between two turns of the
# event loop: a few milliseconds of decoding, so the batch being written waits little for it.
PREPARE_CHUNK = 500
# The cyclic collector is off while a rebuild runs (gc.disable; as it was, after). A rebuild keeps
# a batch of decoded events and the held documents alive and makes about twenty objects per event,
# nearly all of which live on: the collections only walked live objects. At the default
# thresholds they took 1.1 s of the 3.0 s of Python a rebuild of 60,000 class events took without
# its writes ("The rebuild ratio"); at raised thresholds (10,000 / 10 / 100) still about a fifth
# of its own CPU (0.5-0.6 s of 2.9, 2026-11-29, rebuild4). A rebuild of the bench's 60,000 events
# against the real Kafka and store left no cyclic garbage (gc.collect() after it found 0
# objects); what a rebuild may still make (a dead letter's traceback) is collected every
# REBUILD_COLLECT batches, so it cannot pile up over a long one.
REBUILD_COLLECT = 40
# The stream versions a writer keeps to report while it holds documents (`_report`): as many as
# shared.consistency.REMEMBERED, the most a process's Progress remembers of a projection.
UNREPORTED = 10_000


class DeadLetters:
    """Sends what cannot be handled to the dead-letter topic, with why and where from."""

    def __init__(self, producer, topic: str, consumer_name: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer_name = consumer_name
        self.sent = 0

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        headers = [
            ("error", reason.encode()[:4000]),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
            ("consumer", self.consumer_name.encode()),
        ]
        await self.producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=headers)
        self.sent += 1
        log.warning(
            "projector.dead_letter",
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            consumer=self.consumer_name,
        )


def provenance_error(topic: str, env: Envelope) -> str | None:
    """Why an event may not be believed, given the topic it came from (None: it may).

    Only a principal of jurisdiction X may write `ganxun.<service>.X` (Kafka ACLs), and a
    relay publishes each event on the topic of its own jurisdiction: an envelope naming
    another jurisdiction on that topic is forged or misrouted."""
    code = topics.code_of(topic)
    if code is None:
        return f"provenance: {topic!r} is not an events topic (ganxun.<service>.<code>)"
    if env.jurisdiction != code:
        return (
            f"provenance: event {env.event_id} claims jurisdiction {env.jurisdiction} "
            f"but arrived on {topic}, the topic of {code}"
        )
    return None


class Decodings:
    """One batch's records opened and decoded once for all of a projector's writers.

    Each writer opened the sealed values (json.loads, one decryption per value) and decoded
    each record it folds on its own: four times over in follow-up, up to ten in teaching, a
    third of follow-up's projector time while it built five years' history (docs/benchmarks.md,
    "The county at full size"). Events are frozen, so the writers can share them. The writers
    run at once: an open in progress is shared as a future, not started again. What is shared
    is keyed by how it was opened: a projection keeping no personal value opens without the
    vault (`Projection.personal`, its names read "unreadable"), and what it opened reaches only
    writers that open the same way, never one that shows names. What does not depend on it is
    shared by all: a value with nothing sealed in it, and the envelope of a record a writer
    passes by (its type, stream and version)."""

    def __init__(self, sealer: Sealer | None, catalogue: Catalogue) -> None:
        self.sealer = sealer
        self.catalogue = catalogue
        self.opened: dict[tuple[bool, str, int, int], asyncio.Future] = {}
        self.decoded: dict[tuple[bool | None, str, int, int], Decoded | None | MalformedEvent] = {}
        # Per record (topic, partition, offset), the envelope a writer read of it: a writer that
        # passes the record by reads only its type, stream, version and jurisdiction, which
        # opening the sealed values does not change (a province dashboard's two writers each
        # read every record: one folded it, the other read its envelope again to pass it by).
        self.envelopes: dict[tuple[str, int, int], Envelope] = {}
        # Per record, what this process sealed of it, sent and kept plain (Sealer.recall), or
        # None: taken from the sealer once, by whichever writer asks first.
        self.recalled: dict[tuple[str, int, int], tuple[Decoded, dict[str, set[str]]] | None] = {}

    def recall(self, rec: ConsumerRecord) -> tuple[Decoded, dict[str, set[str]]] | None:
        """The record as this process sealed it (its decoding and plain values per person), when
        its sealer kept it (`Sealer.recall`); None otherwise. Its envelope serves the writers
        that pass it by."""
        where = _where(rec)
        if where not in self.recalled:
            hit = None
            if self.sealer is not None and isinstance(rec.value, bytes):
                hit = self.sealer.recall(rec.value)
            self.recalled[where] = hit
            if hit is not None:
                self.envelopes.setdefault(where, hit[0].envelope)
        return self.recalled[where]

    def serves(self, writer: ProjectionWriter) -> bool:
        return writer.sealer is self.sealer and writer.catalogue is self.catalogue

    def decode(self, key: tuple[bool, str, int, int], value) -> Decoded | None:
        """A record's decoding (`key`: how it was opened, and where it is from). A value not
        opened (its bytes: nothing sealed in it) decodes the same for every writer, and is
        decoded once for all of them."""
        if isinstance(value, bytes | str):
            key = (None, *key[1:])
        if key not in self.decoded:
            try:
                self.decoded[key] = self.catalogue.decode(value)
            except MalformedEvent as exc:
                self.decoded[key] = exc
        out = self.decoded[key]
        if isinstance(out, MalformedEvent):
            raise out
        if out is not None:
            self.envelopes.setdefault(key[1:], out.envelope)
        return out

    def envelope(self, where: tuple[str, int, int], value) -> Envelope:
        """The envelope of a record a writer passes by: the one another writer read, else read
        from the record's bytes (and kept for the others)."""
        env = self.envelopes.get(where)
        if env is None:
            env = self.envelopes[where] = self.catalogue.envelope(value)
        return env


def _type_header(rec: ConsumerRecord) -> bytes | None:
    """The record's event_type header (None without one); a loop, not a generator, as it is
    asked for every record a projection reads."""
    for k, v in rec.headers or ():
        if k == "event_type":
            return v
    return None


def _where(rec: ConsumerRecord) -> tuple[str, int, int]:
    return (rec.topic, rec.partition, rec.offset)


@dataclass
class BatchResult:
    applied: int = 0
    skipped_unknown: int = 0
    dead_lettered: int = 0


class CacheBudget:
    """The bytes that the document caches of one process's writers may hold together
    (CACHE_BYTES). When they hold more, the cache holding the most forgets its least
    recently written documents first: a writer whose documents are hot keeps them, one that
    writes many documents once (a trainee's file per graduate) gives its bytes back."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.caches: list[DocumentCache] = []

    @property
    def used(self) -> int:
        """The bytes cached, and those a rebuilding writer holds unwritten (`Held`)."""
        return sum(c.bytes + c.held for c in self.caches)

    def settle(self) -> None:
        """Forget cached documents while over the budget. Held ones are not the cache's to
        forget: their writer writes them out when the budget is still exceeded (`_write_still`)."""
        self.shrink(self.max_bytes)

    def shrink(self, to: int) -> int:
        """Forget cached documents, the largest cache's least recently written first, until
        the caches and held documents take at most `to` bytes; the bytes forgotten."""
        used = before = self.used
        while used > to and any(c.bytes for c in self.caches):
            used -= max(self.caches, key=lambda c: c.bytes).forget_oldest()
        return before - used


class DocumentCache:
    """A writer's documents by id, least recently written first, with their sizes as stored."""

    def __init__(self, budget: CacheBudget) -> None:
        self._docs: OrderedDict[str, tuple[dict, int]] = OrderedDict()
        self.bytes = 0
        # The bytes (as last measured) of the documents its writer holds folded and unwritten.
        self.held = 0
        self.budget = budget
        budget.caches.append(self)
        # True from the writer's reset() until the cache first forgets something: then the
        # cache is the whole collection and a miss means "new", with no read. Even if another
        # writer inserted meanwhile, our insert would fail on the _id and be re-folded.
        self.complete = False

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._docs

    def get_many(self, ids: list[str]) -> dict[str, dict]:
        return {i: self._docs[i][0] for i in ids if i in self._docs}

    def sizes(self, ids: list[str]) -> dict[str, int]:
        """The stored sizes of those of `ids` it holds."""
        return {i: self._docs[i][1] for i in ids if i in self._docs}

    def put(self, doc_id: str, doc: dict, size: int | None = None) -> None:
        """Remember a document as written (`size`: as stored, when known), then forget what the
        budget cannot hold."""
        self.pop(doc_id)
        size = _stored_size(doc) if size is None else size
        self._docs[doc_id] = (doc, size)
        self.bytes += size
        self.budget.settle()

    def pop(self, doc_id: str) -> None:
        held = self._docs.pop(doc_id, None)
        if held is not None:
            self.bytes -= held[1]

    def keep(self, count: int) -> None:
        """Forget the oldest documents beyond `count`."""
        while len(self._docs) > count:
            self.forget_oldest()

    def forget_oldest(self) -> int:
        """Forget the least recently written document; returns its size (0 when empty)."""
        if not self._docs:
            return 0
        _, (_, size) = self._docs.popitem(last=False)
        self.bytes -= size
        self.complete = False
        return size

    def clear(self) -> None:
        self._docs.clear()
        self.bytes = 0
        self.complete = False


def _encoded(doc: dict, codec: CodecOptions | None) -> tuple[dict, int]:
    """The document as written, encoded once, and its size as stored. A write of a dict is
    encoded by the driver, and the cache measured it by encoding it again (a third of a
    rebuild's writing CPU in this process). `codec`: the collection's (None: a store of another
    kind, as the tests' in-memory one, takes the dict)."""
    if codec is None:
        return doc, _stored_size(doc)
    try:
        raw = bson.encode(doc, codec_options=codec)
    except (bson.errors.InvalidDocument, TypeError, ValueError, OverflowError):
        return doc, _stored_size(doc)  # the driver raises it where the write is sent
    return RawBSONDocument(raw), len(raw)


def _stored_size(doc: dict) -> int:
    """A document's size as the store keeps it (BSON). A value BSON cannot hold (only a
    store of another kind, as the tests' in-memory one, accepts it) counts by its text."""
    try:
        return len(bson.encode(doc))
    except (bson.errors.InvalidDocument, TypeError, ValueError, OverflowError):
        return len(repr(doc).encode())


@dataclass
class Held:
    """A document a rebuild has folded and not written yet (`ProjectionWriter.hold`)."""

    doc: dict
    # Its revision in the store (None: not stored yet, so written by an insert).
    rev: int | None
    # The paths changed since it was stored (touched_paths; None: rewritten whole).
    touched: set[str] | None
    # Per (topic, partition), the first offset of an event folded into it since it was stored:
    # no position may be saved past it while the document is held.
    since: dict[tuple[str, int], int]
    # Its size as stored, as last measured (0 until then): the budget's estimate.
    size: int
    # The batch that last changed it: one that a later batch did not change has gone still.
    batch: int
    # The batch it began to be held in (HOLD_BATCHES).
    first: int = 0


@dataclass
class _Unwritten:
    """A live batch's fold, not written yet (`ProjectionWriter._store`): the documents folded,
    their stored sizes and revisions as read, the ids it changed, and the items and personal
    values it folded (a write conflict folds them again)."""

    docs: dict[str, dict]
    known: dict[str, int]
    revs: dict[str, int | None]
    changed: set[str]
    items: list
    pii: dict[str, dict[str, set[str]]]


class ProjectionWriter:
    """Folds decoded batches into the projection's collection and records positions."""

    def __init__(
        self,
        projection: Projection,
        db: AsyncDatabase,
        dead_letters: DeadLetters,
        catalogue: Catalogue = CATALOGUE,
        serves: Callable[[str], bool] | None = None,
        cache_size: int = 20_000,
        sealer: Sealer | None = None,
        budget: CacheBudget | None = None,
        packed: tuple[str, ...] = (),
    ) -> None:
        # long: the writer's state, one field at a time, each with what it is for
        self.projection = projection
        # The fields its documents are stored with packed (shared/store.py, "Packed fields"):
        # the runtime gives the projection's own where the store profile packs.
        self.packed = packed
        # Opens sealed personal values before the fold (shared/personal.py); None: read as is.
        self.sealer = sealer
        self.serves = serves
        self.coll = db[projection.collection]
        self.positions = db[POSITIONS]
        self.dead_letters = dead_letters
        self.catalogue = catalogue
        # Documents as last written by this writer. Safe to trust: every replace is
        # conditional on `_rev`, so a copy made stale by another writer is detected
        # and reloaded. Saves the load query, which FerretDB answers with a full scan
        # for `_id: {$in: …}`. At most `cache_size` documents, and within the bytes of
        # `budget` (shared by the writers of a process; one of its own when not given).
        self._cache = DocumentCache(budget or CacheBudget())
        self.cache_size = cache_size
        # Called with the documents of each successful write, as written (the dashboard
        # keeps its in-memory roll-up and live updates from them). Must not block.
        self.observers: list[Callable[[list[dict]], None]] = []
        # Called after each batch with the (stream id, version) of every event it folded or
        # passed over, so reads waiting for their writer's token wake (shared/consistency.py).
        self.progress: list[Callable[[list[tuple[str, int]]], None]] = []
        self._positions_saved_at = 0.0
        # Seconds a batch's positions may wait for a later batch's write (POSITIONS_AFTER); 0:
        # each batch writes its own (a process whose positions another process's reads wait on).
        self.positions_after = 0.0
        # Positions folded but not yet written (`_save_positions`, `flush_positions`).
        self._pending: dict[tuple[str, int], int] = {}
        # While a rebuild runs (`hold`): the documents folded and not yet written, least
        # recently changed first; None otherwise.
        self._held: OrderedDict[str, Held] | None = None
        self._batch = 0
        # The held documents a batch is folding into, as they were before it (`_restore`).
        self._before: dict[str, object] = {}
        # What the batches folded while documents were held: reported once none is.
        self._unreported: list[tuple[str, int]] = []
        # Documents of a write that failed: the store may hold them as before it or as written
        # (a lost answer). Read back, they are told to the observers as stored (`_load`).
        self._unsure: set[str] = set()
        # After a held write failed (`let_go`): documents are read even when new (`_load`).
        self._doubt_born = False
        # While a rebuild runs: the held documents a batch let go, being written with that
        # batch's positions (`_flush`) while the next batch is folded, and that write.
        self._inflight: dict[str, Held] = {}
        self._flushing: asyncio.Future | None = None
        # The held documents the last batch let go (`_write_still`), written by `handle`.
        self._going: list[str] = []
        # Partitions a catch-up has read to the end it was behind (Projector, `CatchUp.done`):
        # a held document whose events came only from these has gone still, though no batch reads
        # them any more (`_write_still`).
        self.read_to_end: set[tuple[str, int]] = set()
        # A rebuild's: called once the batch being handled is written, its positions saved.
        self.on_written: Callable[[], None] | None = None
        # The live path's write behind (`_after_fold`): set by the projector for a batch of a
        # backlog, whose write then lands while the next batch is fetched, decoded and folded.
        self.write_behind = False
        # That write in flight (with its batch's report and positions: `landed`), and the ids of
        # the documents it writes: a fold touching one of them waits for it (`_documents`).
        self._landing: asyncio.Future | None = None
        self._landing_ids: frozenset[str] = frozenset()
        # A batch's fold waiting to be written (`_write` leaves it for `_after_fold`).
        self._unwritten: _Unwritten | None = None
        # Set when a write behind failed: the projector reads this writer's partitions again
        # from its stored positions, not from what it had folded (Projector._settle).
        self.failed_behind = False
        # Per topic, whether this projection follows it whole (`_follows`); per event_type
        # header, whether it folds the record (`_folds`).
        self._topics: dict[str, bool] = {}
        self._kinds: dict[bytes | None, bool] = {}

    async def handle(self, records: list[ConsumerRecord], shared: Decodings | None = None) -> BatchResult:
        """Fold a batch. `shared`: the batch's records as opened and decoded by the other
        writers of the same projector (Projector.handle), used when it has this writer's
        sealer and catalogue."""
        shared = shared if shared is not None and shared.serves(self) else None
        if self._held is not None:
            await self.landed()  # holding began while a backlog's live write was landing
        result = BatchResult()
        items: list[tuple[str, Envelope, Event, Handler]] = []
        sources: list[ConsumerRecord] = []
        # Per event id, the plain personal values opened for it, per person: recorded on the
        # documents it changes, so an erasure can find and blank them (_scrub).
        pii: dict[str, dict[str, set[str]]] = {}
        erased: list[tuple[str, str]] = []
        handled: list[tuple[str, int]] = []
        async for rec, seen, decoded in self._decoded(records, shared):
            if isinstance(decoded, MalformedEvent):
                await self.dead_letters.send(rec, str(decoded))
                result.dead_lettered += 1
                continue
            if decoded is None:
                result.skipped_unknown += 1
                continue
            handled.append((decoded.envelope.stream_id, decoded.envelope.stream_version))
            if decoded.envelope.type == ERASURE and not provenance_error(rec.topic, decoded.envelope):
                erased.append((decoded.event.cadre_id, decoded.envelope.jurisdiction))
            routed = self.projection.route(decoded.envelope, decoded.event, self.serves)
            if routed is None:
                continue
            # Checked for the events this projection would apply, so one forged event is
            # dead-lettered once per projection it was aimed at, not by every follower.
            refused = provenance_error(rec.topic, decoded.envelope)
            if refused:
                await self.dead_letters.send(rec, f"projection {self.projection.name}: {refused}")
                result.dead_lettered += 1
            else:
                items.append((routed[0], decoded.envelope, decoded.event, routed[1]))
                sources.append(rec)
                if seen:
                    pii[decoded.envelope.event_id] = seen
        await self._apply(items, sources, pii, result, {(r.topic, r.partition) for r in records})
        await self._after_fold(records, bool(items), erased, handled, result)
        return result

    async def _after_fold(
        self,
        records: list[ConsumerRecord],
        folded: bool,
        erased: list[tuple[str, str]],
        handled: list[tuple[str, int]],
        result: BatchResult,
    ) -> None:
        """After a batch's fold: its erasures, its report, its positions."""
        # A batch that changed nothing here (the events were for other projections) needs no
        # position of its own: replaying it after a restart changes nothing either. Saved anyway
        # every POSITIONS_EVERY seconds, so a restart replays little.
        since = time.monotonic() - self._positions_saved_at
        save = folded or bool(erased) or bool(result.dead_lettered) or since >= POSITIONS_EVERY
        if self._held is not None and not erased:
            # Held (a rebuild): what the batch let go is written, and then its positions saved,
            # while the next batch is folded (`_flush_behind`).
            self._report(handled)
            await self._flush_behind(records if save else None)
            return
        if erased and self._held is not None:
            # The erased person's values may stand in held documents, or in those being written
            # behind: written first, they are blanked in the store with the rest, before this
            # batch's position is saved.
            await self._drain()
            await self._write_out(list(self._held))
            self._going = []
        # Where the API answers its own reads beside the projector (`positions_after`), a
        # batch's positions wait up to that long to be written with later ones; an erasure's
        # or a dead letter's batch is recorded at once.
        defer = not (erased or result.dead_lettered) and since < self.positions_after
        fold, self._unwritten = self._unwritten, None
        try:
            await self.landed()  # one write at a time: the batch before's lands first
        except BaseException:
            if fold is not None:
                self._forget([i[0] for i in fold.items])  # folded, never written: read back when needed
            raise
        landing = self._fly(fold, erased, handled, records if save else None, defer)
        if not self.write_behind or erased:
            await landing
            return
        # A backlog's batch (the projector says so): its write lands while the next batch is
        # fetched, decoded and folded (`Projector.run`); a fold touching one of its documents
        # waits for it (`_documents`), and the batch's report and positions follow it.
        self._landing_ids = frozenset(fold.changed) if fold is not None else frozenset()
        self._landing = asyncio.ensure_future(self._behind(landing))

    async def _fly(
        self,
        fold: _Unwritten | None,
        erased: list[tuple[str, str]],
        handled: list[tuple[str, int]],
        records: list[ConsumerRecord] | None,
        defer: bool,
    ) -> None:
        """A live batch's write, then its erasures, its report and its positions (`records`;
        None: none to save), in that order: what is reported and recorded is stored, and an
        erased person's values are blanked once everything folded before is written."""
        if fold is not None:
            try:
                await self._store(fold)
            except BaseException:
                # The fold changed the cached documents in place, guard entries included, and
                # the store may not hold them: the batch, handled again after the restart, would
                # skip every event as applied and write nothing, its positions saved (the likely
                # cause of the registrations a 30-county first start lost). Read them back.
                self._forget([i[0] for i in fold.items])
                raise
        for person, jurisdiction in erased:
            await self._scrub(person, jurisdiction)
        self._report(handled)
        if records is not None:
            await self._save_positions(records, defer=defer)
        self._written()

    async def _behind(self, landing) -> None:
        try:
            await landing
        except BaseException:
            self.failed_behind = True
            raise

    @property
    def landing(self) -> asyncio.Future | None:
        """The write behind still in flight (`_after_fold`), if any."""
        landing = self._landing
        return None if landing is None or landing.done() else landing

    async def landed(self) -> None:
        """Once the write behind (`_after_fold`) has landed; its failure is raised here. Shielded:
        a batch cancelled while it waits leaves that write to finish."""
        landing = self._landing
        if landing is None:
            return
        try:
            await asyncio.shield(landing)
        finally:
            if landing.done() and self._landing is landing:
                self._landing, self._landing_ids = None, frozenset()

    async def prepare(self, records: list[ConsumerRecord], shared: Decodings) -> None:
        """Open and decode a batch into `shared` ahead of `handle(records, shared)` (a rebuild,
        while the batch before is written). In chunks, yielding between them, so the writes
        in flight are answered and the next ones sent meanwhile. A record that does not decode
        is left for `handle` to dead-letter."""
        if shared.serves(self):
            async for _ in self._decoded(records, shared, chunk=PREPARE_CHUNK):
                pass

    async def _decoded(self, records: list[ConsumerRecord], shared: Decodings | None, chunk: int = 0):
        """Each record this projection follows, with the personal values opened for it and its
        decoding: a MalformedEvent in its place when it does not decode, None for an unknown
        type. With `chunk` (`prepare`): only the records it folds (what `shared` keeps; the
        envelope of one passed by is read again by `handle`), that many opened at a time with
        a turn of the event loop after each."""
        followed = [r for r in records if self._follows(r)]
        if chunk:
            followed = [r for r in followed if self._folds(r)]
        step = chunk or len(followed) or 1
        for start in range(0, len(followed), step):
            part = followed[start : start + step]
            values, opened = await self._open(part, shared)
            for rec, value, seen in zip(part, values, opened):
                try:
                    recalled = self._recalled(rec, shared)
                    if not self._folds(rec):
                        decoded = self._passed(value, shared, rec)
                    elif recalled is not None:
                        decoded, seen = recalled
                    elif shared is not None:
                        decoded = shared.decode(self._shared_key(rec), value)
                    else:
                        decoded = self.catalogue.decode(value)
                except MalformedEvent as exc:
                    decoded = exc
                yield rec, seen, decoded
            if chunk:
                await asyncio.sleep(0)

    def _recalled(
        self, rec: ConsumerRecord, shared: Decodings | None
    ) -> tuple[Decoded, dict[str, set[str]]] | None:
        """What this process sealed of the record and kept plain (`Decodings.recall`), for a
        projection that shows names (one that keeps none opens without the vault: its names read
        "unreadable"); a record it passes by takes only the envelope from it (`_passed`)."""
        hit = None if shared is None else shared.recall(rec)
        return hit if self.projection.personal else None

    def _report(self, handled: list[tuple[str, int]]) -> None:
        """Tell the reads waiting for their writes what was folded: while documents are held,
        once none is, as a read would not find a held document's change in the store yet. Only
        the latest UNREPORTED are kept meanwhile (a catch-up holds for its whole backlog, and
        shared.consistency.Progress keeps no more of them either)."""
        if self._held or self._inflight:
            self._unreported.extend(handled)
            if len(self._unreported) > UNREPORTED:
                del self._unreported[:-UNREPORTED]
            return
        handled, self._unreported = self._unreported + handled, []
        for report in self.progress:
            report(handled)

    async def _apply(
        self,
        items: list,
        sources: list[ConsumerRecord],
        pii: dict,
        result: BatchResult,
        read: set[tuple[str, int]] = frozenset(),
    ) -> None:
        """Fold and write the items; an item whose fold fails is dead-lettered and the rest
        folded again from the stored documents."""
        self._batch += 1
        while items:
            try:
                result.applied += await self._write(items, pii, sources)
                break
            except ApplyFailed as failed:
                self._cache.clear()  # the fold may have half-changed cached documents
                if self._held is not None:
                    self._restore()
                env = items[failed.index][1]
                with structlog.contextvars.bound_contextvars(
                    event_id=env.event_id, correlation_id=env.correlation_id, jurisdiction=env.jurisdiction
                ):
                    await self.dead_letters.send(
                        sources[failed.index], f"projection {self.projection.name}: {failed}"
                    )
                result.dead_lettered += 1
                del items[failed.index], sources[failed.index]
            except BaseException:
                # The fold changed the cached documents in place, guard entries included, and
                # the store may not hold them: the batch, handled again after the restart, would
                # skip every event as applied and write nothing, its positions saved (the likely
                # cause of the registrations a 30-county first start lost). Read them back.
                self._forget([i[0] for i in items])
                raise
        if self._held is not None:
            await self._write_still(read | self.read_to_end if self.read_to_end else read)

    def _follows(self, rec: ConsumerRecord) -> bool:
        """Whether a record is for this projection: from a service it follows, or an erasure
        (from the erasures topics every projection reads, or from selection's; by the type
        header, without decoding the rest)."""
        whole = self._topics.get(rec.topic)
        if whole is None:
            topic = rec.topic
            whole = self._topics[topic] = (
                topics.code_of(topic) is None or topic.split(".")[1] in self.projection.sources
            )
        return whole or _type_header(rec) == ERASURE_TYPE

    def _folds(self, rec: ConsumerRecord) -> bool:
        """Whether this projection may fold the record or must hear it (an erasure), by its type
        header; one without the header counts as folded. Only those are opened and decoded
        whole: a projection that folds no registration (selection's `classes`) opened each of an
        import's 20,000, a vault key read per person. Remembered per header: asked of every
        record two or three times (a tenth of a rebuild's own CPU)."""
        kind = _type_header(rec)
        folds = self._kinds.get(kind)
        if folds is None:
            folds = self._kinds[kind] = self._folds_kind(kind)
        return folds

    def _folds_kind(self, kind: bytes | None) -> bool:
        if kind is None:
            return True
        kind = kind.decode(errors="replace")
        return kind in self.projection.handlers or kind == ERASURE

    def _passed(
        self, value: bytes, shared: Decodings | None = None, rec: ConsumerRecord | None = None
    ) -> Decoded | None:
        """An event this projection passes by: its envelope only (read-your-writes counts its
        stream version as handled), the one another writer read when `shared` has it; None for
        a type the catalogue does not know."""
        env = self.catalogue.envelope(value) if shared is None else shared.envelope(_where(rec), value)
        if env.type in self.projection.handlers or env.type == ERASURE:
            raise MalformedEvent(f"the event_type header does not name the event's type {env.type}")
        return Decoded(env, None) if self.catalogue.known(env.type) else None

    def _shared_key(self, rec: ConsumerRecord) -> tuple[bool, str, int, int]:
        """A record's entry in the batch's Decodings: opened with the vault or without."""
        return (self.projection.personal, *_where(rec))

    async def _open(
        self, records: list[ConsumerRecord], shared: Decodings | None = None
    ) -> tuple[list, list[dict[str, set[str]]]]:
        """Each record's value, opened when it carries sealed values (then as a dict) and this
        projection folds it, and the personal values opened per person. With `shared`, what
        another writer opened (or is opening) is taken from it, and what this one opens is
        left there."""
        values: list = [r.value for r in records]
        opened: list[dict[str, set[str]]] = [{} for _ in records]
        if self.sealer is None:
            return values, opened
        at = [
            i
            for i, v in enumerate(values)
            if v
            and SEALED_MARK in v
            and self._folds(records[i])
            and self._recalled(records[i], shared) is None
        ]
        theirs = {i for i in at if shared is not None and self._shared_key(records[i]) in shared.opened}
        mine = [i for i in at if i not in theirs]
        futures = {}
        if shared is not None:  # before the first await: the other writers run meanwhile
            loop = asyncio.get_running_loop()
            futures = {
                i: shared.opened.setdefault(self._shared_key(records[i]), loop.create_future()) for i in mine
            }
        try:
            for i, (value, seen) in zip(mine, await self._open_values([values[i] for i in mine])):
                values[i], opened[i] = value, seen
                if i in futures and not futures[i].done():
                    futures[i].set_result((value, seen))
        except BaseException as exc:
            for f in futures.values():
                if not f.done():
                    f.set_exception(exc)
                    f.exception()  # retrieved: the writer that waits on it raises it too
            raise
        for i in theirs:
            values[i], opened[i] = await shared.opened[self._shared_key(records[i])]
        return values, opened

    async def _open_values(self, raw: list[bytes]) -> list[tuple]:
        """(value, personal values opened per person) of each sealed record value."""
        out: list[tuple] = [(v, {}) for v in raw]
        docs = []
        for v in raw:
            try:
                docs.append(json.loads(v))
            except ValueError:
                docs.append(None)  # decoded as bytes below, and dead-lettered there
        ok = [(i, d) for i, d in enumerate(docs) if isinstance(d, dict)]
        seen = await self.sealer.open([d for _, d in ok], look_up=self.projection.personal)
        for (i, d), s in zip(ok, seen):
            out[i] = (d, s)
        return out

    async def _write(
        self,
        items: list[tuple[str, Envelope, Event, Handler]],
        pii: dict[str, dict[str, set[str]]],
        sources: list[ConsumerRecord],
    ) -> int:
        if self._held is not None:
            return await self._hold(items, pii, sources)
        docs, known = await self._documents(items)
        revs = {i: d.get("_rev") for i, d in docs.items()}
        changed = self.projection.fold(docs, items)
        if not changed:
            return 0
        _note_pii(self.projection, docs, changed, items, pii)
        # Written by `_after_fold` (`_store`): at once, or behind the next batch's fold.
        self._unwritten = _Unwritten(docs, known, revs, changed, items, pii)
        return len(items)

    async def _store(self, fold: _Unwritten) -> None:
        """Write a fold's changed documents in one bulk write, tell the observers what was
        stored, and fold again onto what another instance wrote first (reloaded: the guard skips
        what it applied) until all are written."""
        docs, known, revs, changed, items, pii = (
            fold.docs,
            fold.known,
            fold.revs,
            fold.changed,
            fold.items,
            fold.pii,
        )
        for _attempt in range(10):
            touched = touched_paths(items, pii)
            ops, order, sizes, token = self._ops(
                {i: (docs[i], revs.get(i), touched.get(i), known.get(i)) for i in changed}
            )
            lost = await self._bulk(ops, order, revs, token)
            written = {i: docs[i] for i in order if i not in lost}
            self._remember(written, sizes)
            for observe in self.observers:
                observe(list(written.values()))
            if not lost:
                return
            # Another instance wrote these documents first: reload and fold again. The
            # guard skips what the other writer already applied.
            self._cache.complete = False
            for doc_id in lost:
                self._cache.pop(doc_id)
            docs = await self._load(list(lost))
            known = {}
            items = [i for i in items if i[0] in lost]
            revs = {i: d.get("_rev") for i, d in docs.items()}
            changed = self.projection.fold(docs, items)
            if not changed:
                return
            _note_pii(self.projection, docs, changed, items, pii)
        raise RuntimeError(f"projection {self.projection.name}: too many write conflicts")

    def _ops(self, docs: dict[str, tuple[dict, int | None, set[str] | None, int | None]]) -> tuple:
        """The write of each document (doc, its stored revision, the paths changed since (None:
        all), its stored size if known): an insert, a partial update or a conditional replace,
        each leaving the next revision and this write's token. Returns (ops, their ids, the
        documents' sizes as stored, the token). A partial update sends only its paths: the
        document is not encoded for it, and its size is taken as the one it had (the cache's
        estimate; encoded only when unknown)."""
        ops, order, sizes = [], [], {}
        token = new_id()
        codec = getattr(self.coll, "codec_options", None)
        for doc_id, (doc, rev, touched, size) in docs.items():
            doc["_rev"] = (rev or 0) + 1
            doc.setdefault("_applied", {})[WRITE] = token
            order.append(doc_id)
            if rev is not None and touched is not None and not self._packs(touched):
                ops.append(UpdateOne({"_id": doc_id, "_rev": rev}, partial_update(doc, touched)))
                sizes[doc_id] = _stored_size(doc) if size is None else size
                continue
            stored, saved = store.pack_measured(doc, self.packed) if self.packed else (doc, 0)
            body, size = _encoded(stored, codec)
            # The cache's measure is the document's BSON size, not what compression saved of it.
            sizes[doc_id] = size + saved
            ops.append(InsertOne(body) if rev is None else ReplaceOne({"_id": doc_id, "_rev": rev}, body))
        return ops, order, sizes, token

    def _packs(self, paths: set[str]) -> bool:
        """Whether a partial update of these paths would reach into a packed field (the
        document is then rewritten whole, the field packed again)."""
        return bool(self.packed) and any(p.split(".", 1)[0] in self.packed for p in paths)

    def hold(self) -> None:
        """Hold what the batches fold instead of writing it at once, until the document goes
        still (a batch reads its partitions without changing it), the budget is exceeded or
        `release`: a rebuild then writes most documents once, by an insert (`rebuild` says
        why). Positions are saved no further than the first event of a held document
        (`_save_positions`), and an erasure writes every held document before it blanks the
        person's values."""
        self._held = OrderedDict()
        self._batch = 0

    @property
    def cache_budget(self) -> CacheBudget:
        """The budget its cache shares with the process's other writers."""
        return self._cache.budget

    @property
    def holding(self) -> bool:
        return self._held is not None

    async def release(self) -> None:
        """Write every held document and stop holding."""
        await self._drain()
        if self._held is not None:
            await self._write_out(list(self._held))
        self._held = None
        self._doubt_born = False
        self._report([])

    async def let_go(self) -> None:
        """Stop holding and forget what was held, unwritten (a rebuild that failed: the positions
        saved stop before the first of its events, so a projector started on them folds them).
        A write behind (`_flush`) is let finish first, its failure passed over: the rebuild has
        failed already, and none is left writing behind it."""
        if self._flushing is not None:
            await asyncio.gather(asyncio.shield(self._flushing), return_exceptions=True)
        self._flushing, self._inflight = None, {}
        self._held, self._before, self._unreported, self._going = None, {}, [], []
        self._cache.clear()
        self._cache.held = 0
        # The replay from the stored positions meets again the first events of documents
        # already stored (written before the failure, or by a write whose answer was lost):
        # until holding ends, those are read, not taken as new (`_born`), as a held write
        # cannot fold again what conflicts.
        self._doubt_born = True

    async def _flush_behind(self, records: list[ConsumerRecord] | None) -> None:
        """After a held batch: start writing the documents it let go (`_write_still`), then its
        positions (`records`; None: none to save), and return while that write is in flight, so
        the next batch is folded meanwhile (the store works on the other core: a rebuild that
        waited for each write spent about half its time waiting). One such write at a time: the
        one before is waited for first. The positions are computed now, stopping at the first
        event of every document still held, and saved only once the documents let go are
        written: they never pass an unwritten change."""
        await self._drain()
        going = {i: self._held.pop(i) for i in self._going if i in self._held}
        self._going = []
        self._cache.held = sum(h.size for h in self._held.values())
        positions = self._positions(records) if records is not None else None
        if not going and not positions:
            self._written()
            return
        then, self.on_written = self.on_written, None
        self._inflight = going
        self._flushing = asyncio.ensure_future(self._flush(going, positions, then))

    async def _flush(
        self,
        going: dict[str, Held],
        positions: dict[tuple[str, int], int] | None,
        then: Callable[[], None] | None,
    ) -> None:
        if going:
            await self._write_held(going)
        if positions:
            await self.save_positions(positions)
        if then is not None:
            then()

    def _written(self) -> None:
        then, self.on_written = self.on_written, None
        if then is not None:
            then()

    async def _drain(self) -> None:
        """Wait for the write behind (`_flush_behind`). Its failure is raised here (its documents
        are read back when next needed: `_write_held`). Shielded: a batch cancelled while it
        waits leaves that write to finish (`let_go` waits for it)."""
        flushing = self._flushing
        if flushing is None:
            return
        try:
            await asyncio.shield(flushing)
        finally:
            if flushing.done():
                self._flushing, self._inflight = None, {}

    async def _documents(
        self, items: list[tuple[str, Envelope, Event, Handler]], held: dict[str, Held] | None = None
    ) -> tuple[dict[str, dict], dict[str, int]]:
        """The documents the items fold into (those `held` from it, the rest from the cache or
        the store: `_load`), and the stored sizes the cache knows of the rest. A document being
        written behind (`_flush`) is waited for first: folded before, it would be taken for new
        (the cache of a rebuild is the whole collection) or changed under its write."""
        ids = list(dict.fromkeys(i[0] for i in items))
        if self._inflight and not self._inflight.keys().isdisjoint(ids):
            await self._drain()
        if self._landing_ids and not self._landing_ids.isdisjoint(ids):
            await self.landed()  # the live path's write behind (`_after_fold`)
        docs = {i: held[i].doc for i in ids if i in held} if held else {}
        rest = [i for i in ids if i not in docs]
        known = self._cache.sizes(rest)
        # A document fed by several services' topics, read in no order among them, may have been
        # stored by another's events before its own stream begins (a class's sessions before its
        # ClassOpened): only a projection of one service's events takes it for new unread.
        born = _born(items) if len(self.projection.sources) == 1 else frozenset()
        docs.update(await self._load(rest, born))
        return docs, known

    async def _hold(
        self,
        items: list[tuple[str, Envelope, Event, Handler]],
        pii: dict[str, dict[str, set[str]]],
        sources: list[ConsumerRecord],
    ) -> int:
        """Fold the items into the held documents (and those they start holding); nothing is
        written here (`_write_still`)."""
        held = self._held
        docs, known = await self._documents(items, held)
        codec = getattr(self.coll, "codec_options", None)
        # As they are before this fold: a failed one restores them (`_restore`), and measures them.
        self._before = {}
        for doc_id in [i for i in docs if i in held]:
            before, held[doc_id].size = _encoded(docs[doc_id], codec)
            self._before[doc_id] = copy.deepcopy(docs[doc_id]) if before is docs[doc_id] else before
        changed = self.projection.fold(docs, items)
        _note_pii(self.projection, docs, changed, items, pii)
        touched = touched_paths(items, pii)
        for (doc_id, *_), rec in zip(items, sources):
            if doc_id not in changed:
                continue
            h = held.get(doc_id)
            if h is None:
                self._cache.pop(doc_id)  # the cache keeps documents as written
                doc = docs[doc_id]
                size = known.get(doc_id, 0)
                h = held[doc_id] = Held(doc, doc.get("_rev"), touched.get(doc_id), {}, size, 0, self._batch)
            elif h.batch != self._batch:
                new = touched.get(doc_id)
                if h.touched is not None and new is not None:
                    h.touched |= new  # its own set (touched_paths makes one per document and batch)
                else:
                    h.touched = None
            h.since.setdefault((rec.topic, rec.partition), rec.offset)
            if h.batch != self._batch:
                h.batch = self._batch
                held.move_to_end(doc_id)
        self._keep_cache()
        return len(items) if changed else 0

    def _restore(self) -> None:
        """Put back the held documents a failed fold may have half changed, as they were."""
        codec = getattr(self.coll, "codec_options", None)
        for doc_id, before in self._before.items():
            if isinstance(before, RawBSONDocument):
                self._held[doc_id].doc = bson.decode(before.raw, codec_options=codec)
            else:
                self._held[doc_id].doc = before
        self._before = {}

    async def _write_still(self, read: set[tuple[str, int]]) -> None:
        """After a batch: write the held documents that went still (the batch read records of
        every partition their events came from, and changed none of them) or were held for
        HOLD_BATCHES, and more, least recently changed first, while the process's documents
        exceed the budget. A batch may
        hold records of some partitions only (a fetch answers with what it has): a document of
        another one has not gone still for it, and written then, was written again by a replace
        (743 writes of 600 classes at batches of 5,000 in bench/projector.py)."""
        held = self._held
        self._before = {}
        self._cache.held = sum(h.size for h in held.values())
        budget = self._cache.budget
        budget.settle()
        out = [
            i
            for i, h in held.items()
            if (h.batch != self._batch and read.issuperset(h.since)) or self._batch - h.first >= HOLD_BATCHES
        ]
        over = budget.used - budget.max_bytes - sum(held[i].size for i in out)
        chosen = set(out)
        for doc_id, h in held.items():
            if over <= 0:
                break
            if doc_id not in chosen:
                out.append(doc_id)
                over -= h.size
        self._going = out

    async def _write_out(self, ids: list[str]) -> None:
        """Write held documents now and let them go."""
        if not ids:
            return
        held = self._held
        going = {i: held[i] for i in ids}
        await self._write_held(going)
        for doc_id in going:
            held.pop(doc_id)
        self._cache.held = sum(h.size for h in held.values())

    async def _write_held(self, going: dict[str, Held]) -> None:
        """Write documents a rebuild held. Another writer cannot have written one of them (a
        rebuild is the collection's only writer): if one did, the rebuild stops, as its held
        changes could not be folded again."""
        ops, order, sizes, token = self._ops(
            {i: (h.doc, h.rev, h.touched, h.size or None) for i, h in going.items()}
        )
        try:
            lost = await self._bulk(ops, order, {i: h.rev for i, h in going.items()}, token)
        except BaseException:
            self._forget(list(going))  # stored or not: read back when next needed
            raise
        if lost:
            raise RuntimeError(
                f"投影 {self.projection.name}：重建期间有 {len(lost)} 个文档被其他写入者写入，"
                "重建已停止。请先停止该服务的投影进程，再重新重建。"
            )
        written = {i: going[i].doc for i in order}
        self._remember(written, sizes)
        for observe in self.observers:
            observe(list(written.values()))

    async def _scrub(self, person: str, jurisdiction: str) -> None:
        """Blank an erased person's values in every document that recorded them (live
        erasure; a rebuild afterwards folds "已删除" from the start, as the key is gone).
        As for any event, a document another county owns is out of reach (provenance)."""
        if self.sealer is not None:
            self.sealer.vault.forget(person)
        path = f"_applied.{PII}.{guard_key(person)}"
        for _attempt in range(10):
            docs = {
                d["_id"]: store.unpack(d)
                async for d in self.coll.find({path: {"$exists": True}})
                if related(d.get("_applied", {}).get(OWNER) or jurisdiction, jurisdiction)
            }
            if not docs:
                return
            revs = {i: d.get("_rev") for i, d in docs.items()}
            token = new_id()
            for doc in docs.values():
                scrub(doc, person)
                doc["_rev"] = (doc.get("_rev") or 0) + 1
                doc.setdefault("_applied", {})[WRITE] = token
            order = list(docs)
            ops = [ReplaceOne({"_id": i, "_rev": revs[i]}, store.pack(docs[i], self.packed)) for i in order]
            lost = await self._bulk(ops, order, revs, token)
            written = {i: docs[i] for i in order if i not in lost}
            for doc_id in lost:
                self._cache.pop(doc_id)
            self._cache.complete = self._cache.complete and not lost
            self._remember(written)
            for observe in self.observers:
                observe(list(written.values()))
            log.info(
                "projector.erased", projection=self.projection.name, person=person, documents=len(written)
            )
            if not lost:
                return
        raise RuntimeError(f"projection {self.projection.name}: too many write conflicts while erasing")

    async def _load(self, ids: list[str], born: frozenset[str] = frozenset()) -> dict[str, dict]:
        """The documents by id, from the cache or the store; `born` ids (see `_born`) are
        not read: folded from nothing, their insert fails if one existed after all, and
        they are read and folded again like any other write conflict."""
        docs = self._cache.get_many(ids)
        if not self._cache.complete:
            # A document whose write failed is read even when its events say it is new: the
            # write may have stored it (an answer lost), and inserted again it would conflict.
            born = frozenset() if self._doubt_born else born - self._unsure
            found = await store.find_by_ids(self.coll, [i for i in ids if i not in docs and i not in born])
            for doc in found.values() if self.packed else ():
                store.unpack(doc)  # read through a handle that does not unpack them
            heard = [d for i, d in found.items() if i in self._unsure]
            self._unsure.difference_update(found)
            for observe in self.observers if heard else ():
                observe(heard)  # a write whose answer was lost may have stored them
            docs.update(found)
        return docs

    def _forget(self, ids: list[str]) -> None:
        """After a write that failed: the documents are read from the store when next needed."""
        for doc_id in ids:
            self._cache.pop(doc_id)
        self._cache.complete = False
        self._unsure.update(ids)

    def _remember(self, docs: dict[str, dict], sizes: dict[str, int] | None = None) -> None:
        for doc_id, doc in docs.items():
            self._cache.put(doc_id, doc, (sizes or {}).get(doc_id))
        self._keep_cache()

    def _keep_cache(self) -> None:
        """Forget the oldest cached documents beyond `cache_size`, which the held ones count
        against too: a province dashboard's catch-up holds a county's 64 cadre buckets, and its
        cache kept the county before's 64 beside them, written and never read again (~13 MB;
        services/dashboard/README.md, "The first start under 200 MB")."""
        held = len(self._held) if self._held else 0
        if held and self._cache:
            held -= sum(1 for i in self._held if i in self._cache)  # being written (`_write_out`)
        self._cache.keep(max(0, self.cache_size - held))

    async def _bulk(self, ops: list, order: list[str], revs: dict, token: str) -> set[str]:
        failed: set[str] = set()
        try:
            matched = await store.bulk_write(self.coll, ops)
            if matched == sum(1 for i in order if revs.get(i) is not None):
                return failed
        except store.ChunkedBulkError as exc:
            failed = {order[i] for i in exc.failed_indexes}
        # Some replace matched nothing (stale _rev): find which by reading back. The revision
        # alone cannot tell: after ONE write by another instance it is the one this write
        # expected, so each write also leaves its own token, and only a document holding
        # this write's token was written by it.
        expect = {i: (revs.get(i) or 0) + 1 for i in order}
        current = await store.find_by_ids(self.coll, order, {"_rev": 1, "_applied": 1})
        for doc_id in order:
            doc = current.get(doc_id, {})
            if doc.get("_rev") != expect[doc_id] or doc.get("_applied", {}).get(WRITE) != token:
                failed.add(doc_id)
        return failed

    async def _save_positions(self, records: list[ConsumerRecord], defer: bool = False) -> None:
        """Save the batch's positions (`_positions`). With `defer`, kept with the earlier batches'
        unwritten ones for a later batch or `flush_positions` to write."""
        for tp, off in self._positions(records).items():
            self._pending[tp] = max(self._pending.get(tp, 0), off)
        if not defer:
            await self.flush_positions()

    def _positions(self, records: list[ConsumerRecord]) -> dict[tuple[str, int], int]:
        """The batch's positions, each no further than the first event folded into a document
        still held (a projector started on them after a crash folds it again; the guard skips
        what the stored documents already hold)."""
        latest: dict[tuple[str, int], int] = {}
        for rec in records:
            latest[(rec.topic, rec.partition)] = max(latest.get((rec.topic, rec.partition), -1), rec.offset)
        for h in (self._held or {}).values():
            for key, offset in h.since.items():
                if key in latest:
                    latest[key] = min(latest[key], offset - 1)
        return {tp: off + 1 for tp, off in latest.items()}

    async def flush_positions(self) -> None:
        """Write the positions batches left unwritten (`positions_after`), if any."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self.save_positions(pending)
        except BaseException:
            for tp, off in pending.items():  # written with the next batch or flush
                self._pending[tp] = max(self._pending.get(tp, 0), off)
            raise

    async def save_positions(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """One update of the projection's position document, whatever the partitions: one
        store operation per batch instead of one per partition. Each partition is its own
        field (`$set`), so processes sharing the group, each assigned other partitions, do
        not overwrite each other's."""
        if not next_offsets:
            return
        for tp, off in next_offsets.items():  # an unwritten older position must not follow it
            if self._pending.get(tp, off + 1) <= off:
                del self._pending[tp]
        name = self.projection.name
        fields = {
            f"{OFFSETS}.{_field(topic, partition)}": off for (topic, partition), off in next_offsets.items()
        }
        await self.positions.update_one({"_id": name}, {"$set": {"projection": name, **fields}}, upsert=True)
        self._positions_saved_at = time.monotonic()

    async def load_positions(self) -> dict[tuple[str, int], int]:
        return await stored_positions(self.positions, self.projection.name)

    async def reset(self) -> None:
        self._cache.clear()
        self._pending.clear()
        await self.coll.drop()
        self._cache.complete = True
        await self.positions.delete_many({"projection": self.projection.name})


def _field(topic: str, partition: int) -> str:
    """A partition's field in the position document: a topic's dots would read as a path, and
    Kafka allows no ':' in a topic's name, so each '.' becomes ':'."""
    return f"{topic.replace('.', ':')}|{partition}"


def _unfield(field: str) -> tuple[str, int]:
    topic, partition = field.rsplit("|", 1)
    return topic.replace(":", "."), int(partition)


async def stored_positions(positions, projection: str) -> dict[tuple[str, int], int]:
    """The first offset not yet applied, per (topic, partition), that `projection` recorded.
    Also reads the documents of one partition each (`<projection>|<topic>|<partition>`) that
    positions were stored as before: a deployment upgraded in place resumes where it stopped
    instead of replaying every topic; the single document wins where both name a partition."""
    old: dict[tuple[str, int], int] = {}
    new: dict[tuple[str, int], int] = {}
    async for p in positions.find({"projection": projection}):
        if p["_id"] == projection:
            new.update({_unfield(f): off for f, off in p.get(OFFSETS, {}).items()})
        elif "topic" in p:
            old[(p["topic"], p["partition"])] = p["offset"]
    return old | new


async def stored_position(positions, projection: str, topic: str, partition: int) -> int | None:
    """One partition's stored position (see stored_positions), or None when none is recorded."""
    doc = await positions.find_one({"_id": projection})
    at = (doc or {}).get(OFFSETS, {}).get(_field(topic, partition))
    if at is not None:
        return at
    doc = await positions.find_one({"_id": f"{projection}|{topic}|{partition}"})
    return None if doc is None else doc.get("offset")


def _born(items: list[tuple[str, Envelope, Event, Handler]]) -> frozenset[str]:
    """Documents a batch creates: the first event for the document is the first of the
    document's own stream (`<kind>-<doc id>`, version 1), as each CadreRegistered of an
    import is for its registry entry. Reading 20,000 such documents one point read each
    (FerretDB serves `$in` by a scan) only to find them missing took most of a projector's
    time after an import."""
    first: dict[str, Envelope] = {}
    for doc_id, env, _, _ in items:
        first.setdefault(doc_id, env)
    return frozenset(
        i for i, env in first.items() if env.stream_version == 1 and env.stream_id.endswith(f"-{i}")
    )


def touched_paths(
    items: list[tuple[str, Envelope, Event, Handler]], pii: dict[str, dict[str, set[str]]]
) -> dict[str, set[str] | None]:
    """Per document of a batch, the paths its events may have changed, guard entries included;
    None for a document to rewrite whole: an event whose handler does not say what it touches,
    or one whose personal values the guard records (remember_pii)."""
    out: dict[str, set[str] | None] = {}
    for doc_id, env, event, handler in items:
        paths = out.setdefault(doc_id, set())
        if paths is None:
            continue
        if handler.touches is None or env.event_id in pii:
            out[doc_id] = None
            continue
        more = [*handler.touches(env, event), f"_applied.{guard_key(env.stream_id)}"]
        if any(not part for path in more for part in path.split(".")):
            out[doc_id] = None  # an empty key (an id "") names no path an update can reach
            continue
        paths.update(more)
    return out


_ABSENT = object()


def partial_update(doc: dict, paths: set[str]) -> dict:
    """The update that turns the stored document into `doc` when only `paths` (and the kernel's
    revision, owner and write token) may differ: a cadre bucket of ~300 cadres was rewritten
    whole, 25-40 KB, for each batch that touched one of them (services/dashboard/README.md).
    The same `_rev` condition and the guard's entries, set in the same update, keep a replayed
    event from counting twice, as a rewrite does."""
    paths = {*paths, "_rev", f"_applied.{OWNER}", f"_applied.{WRITE}"}
    sets: dict = {}
    unsets: dict = {}
    for path in paths:
        parts = path.split(".")
        if any(".".join(parts[:i]) in paths for i in range(1, len(parts))):
            continue  # set with the part above it (MongoDB refuses both in one update)
        value: object = doc
        for part in parts:
            value = value.get(part, _ABSENT) if isinstance(value, dict) else _ABSENT
        if value is _ABSENT:
            unsets[path] = ""
        else:
            sets[path] = value
    return {"$set": sets, "$unset": unsets} if unsets else {"$set": sets}


def _note_pii(
    projection: Projection,
    docs: dict[str, dict],
    changed: set[str],
    items: list[tuple[str, Envelope, Event, Handler]],
    pii: dict[str, dict[str, set[str]]],
) -> None:
    """Note in each changed document's guard the plain values its events were opened with, for an
    erasure's scrub; none where the projection blanks them itself (`Projection.erases_itself`)."""
    if projection.erases_itself:
        return
    for doc_id, env, _, _ in items:
        if doc_id in changed and env.event_id in pii:
            remember_pii(docs[doc_id], pii[env.event_id])


def remember_pii(doc: dict, seen: dict[str, set[str]]) -> None:
    """Note in the document's guard which plain personal values it may now hold, per person."""
    book = doc.setdefault("_applied", {}).setdefault(PII, {})
    for person, texts in seen.items():
        key = guard_key(person)
        book[key] = sorted(set(book.get(key, ())) | texts)


def scrub(doc: dict, person: str) -> None:
    """Put ERASED where the person's recorded values stand in the document: within the parts
    that name the person (an entry carrying their id, a map entry keyed by it), so a namesake
    elsewhere in the same document keeps their name; the whole document when nothing names them."""
    texts = doc.get("_applied", {}).get(PII, {}).pop(guard_key(person), [])
    texts = sorted((t for t in texts if t and t != ERASED), key=len, reverse=True)
    body = {k: v for k, v in doc.items() if k not in ("_id", "_applied", "_rev")}
    parts = _naming(body, person) or [body]
    for part in parts:
        _blank(part, texts)
    doc.update({k: v for k, v in body.items()})


def _naming(obj, person: str) -> list:
    """The dicts (or lists) within `obj` that belong to `person`."""
    found: list = []
    keys = {person, guard_key(person)}
    if isinstance(obj, dict):
        if any(isinstance(v, str) and v == person for v in obj.values()):
            return [obj]
        for k, v in obj.items():
            if k in keys and isinstance(v, dict | list):
                found.append(v)
            else:
                found.extend(_naming(v, person))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(_naming(v, person))
    return found


def _blank(obj, texts: list[str]) -> None:
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in list(items):
        if isinstance(v, str):
            new = ERASED if v in texts else v
            for t in texts:
                if len(t) >= 2 and t in new:
                    new = new.replace(t, ERASED)
            obj[k] = new
        else:
            _blank(v, texts)


class CatchUp:
    """Which partitions a projector reads while it catches up on a backlog: at most `width`
    of those behind at once, a county's partitions together, and every partition with
    nothing to catch up.

    A province dashboard follows ~1,200 partitions (100 counties × 4 services × 3) and keeps
    its registry cadres in documents per county (services/dashboard/projections.py). Read all
    at once, as aiokafka does, each batch of 1,000 events held ~50 from each of ~20 counties
    and touched nearly as many documents as events, one read and one write each: the first
    start at 100 counties folded ~21 registrations a second. Read a county at a time, a batch
    touches that county's documents only, which the writers' caches keep. Reading paused
    partitions later is safe: the folds do not depend on the order of different streams.
    Live events of a partition still behind wait until its turn (a first start only)."""

    def __init__(self, width: int, batch: int = 1000, hold: bool = False) -> None:
        self.width = width
        # Records folded per batch while behind (Projector._fill).
        self.batch = batch
        # Whether the writers hold what they fold while behind (Projector._hold_while_behind).
        self.hold = hold
        # Partitions still behind: the end offset seen at the assignment.
        self.behind: dict[TopicPartition, int] = {}
        self.paused: list[TopicPartition] = []
        # Partitions read to the end they were behind since the assignment (their documents,
        # held, have gone still: `ProjectionWriter.read_to_end`).
        self.done: set[tuple[str, int]] = set()

    @staticmethod
    def order(tp: TopicPartition) -> tuple[str, str, int]:
        return (topics.code_of(tp.topic) or "", tp.topic, tp.partition)

    async def assigned(self, consumer, starts: dict[TopicPartition, int | None]) -> None:
        """Partitions just assigned and the offset each is read from (None: its beginning):
        pause all but `width` of those behind their end."""
        self.behind, self.paused, self.done = {}, [], set()
        if not starts:
            return
        ends = await consumer.end_offsets(list(starts))
        unknown = [tp for tp, at in starts.items() if at is None]
        begins = await consumer.beginning_offsets(unknown) if unknown else {}
        for tp, at in starts.items():
            if ends[tp] > (begins[tp] if at is None else at):
                self.behind[tp] = ends[tp]
        waiting = sorted(self.behind, key=self.order)[self.width :]
        if waiting:
            consumer.pause(*waiting)
        self.paused = waiting
        log.info("projector.catch_up", behind=len(self.behind), paused=len(waiting), width=self.width)

    def advance(self, consumer, reached: dict[TopicPartition, int]) -> None:
        """After a batch: `reached` is each partition's next offset; a partition at its end is
        caught up, and the next waiting ones are resumed in its place."""
        for tp, offset in reached.items():
            if tp in self.behind and offset >= self.behind[tp]:
                del self.behind[tp]
                self.done.add((tp.topic, tp.partition))
        active = len(self.behind) - len(self.paused)
        take = self.paused[: max(0, self.width - active)]
        if take:
            del self.paused[: len(take)]
            consumer.resume(*take)

    async def idle(self, consumer) -> None:
        """Nothing came: a partition read to its end without a record at it (e.g. its last
        offsets were compaction's or a transaction's markers) is caught up too."""
        waiting = set(self.paused)
        reading = [tp for tp in self.behind if tp not in waiting]
        self.advance(consumer, {tp: await consumer.position(tp) for tp in reading})


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, consumer: AIOKafkaConsumer, projector: Projector) -> None:
        self.consumer = consumer
        self.projector = projector

    async def on_partitions_revoked(self, revoked) -> None:  # noqa: D401 - offsets already committed
        # Positions left unwritten (POSITIONS_AFTER) are not written here: a store write would
        # hold up the group's rebalance, and the member taking a partition over folds again at
        # most a second of it, skipped by the guard.
        return None

    async def on_partitions_assigned(self, assigned) -> None:
        """Each partition from the earliest position any of its projections recorded; from
        the beginning if one of them recorded none (a projection new to the service reads
        its whole history, as a group of its own did). Each projection then skips what it
        had already applied (`Projector._starts`).

        Until then the partitions are paused: aiokafka starts them at the group's committed
        offsets, which may lie past what this store holds (a group committed to by an earlier
        deployment or database, a rebuilt store; nothing is committed while a writer holds).
        If this listener fails (the store's read of the positions, a rebalance meanwhile),
        aiokafka only logs it and the consumer read on from there: a dashboard whose store
        read failed at a rejoin under load skipped the rest of those partitions, no crash
        logged, its figures short for good (services/dashboard/README.md, "Lost at a rejoin").
        Now they stay paused and the projector starts again (`Projector.run`)."""
        self.projector.unsought = None
        self.consumer.pause(*assigned)
        try:
            await self._seek(assigned)
        except BaseException as exc:
            self.projector.unsought = exc
            raise

    async def _seek(self, assigned) -> None:
        stored = [await f.writer.load_positions() for f in self.projector.followers]
        reading_from: dict[TopicPartition, int | None] = {}
        beginning: list[TopicPartition] = []
        for tp in assigned:
            key = (tp.topic, tp.partition)
            mine = [(f, s) for f, s in zip(self.projector.followers, stored) if f.pattern.match(tp.topic)]
            for f, s in mine:
                starts = self.projector._starts[f.writer.projection.name]
                # What this process applied since it last saved a position counts too: a
                # rebalance while a batch was being written (or before a position was saved)
                # seeks back behind it, and those records must not be folded (or
                # dead-lettered) a second time.
                starts[key] = max(s.get(key, 0), starts.get(key, 0))
            if any(key not in s for _, s in mine):
                beginning.append(tp)
                reading_from[tp] = None
            elif mine:
                reading_from[tp] = min(s[key] for _, s in mine)
                self.consumer.seek(tp, reading_from[tp])
        if beginning:
            # One offset request for them all. aiokafka sends no heartbeat while this listener
            # runs (it starts the heartbeat after the listener returns), so the listener must end
            # within the session timeout (6 s): a province dashboard's first start seeking its
            # 1,200 partitions one at a time took ~64 ms each under load (77 s), the broker
            # dropped the member, it rejoined, and sought again, for as long as it was let run
            # (docs/benchmarks.md, "A province at size, and five years again").
            await self.consumer.seek_to_beginning(*beginning)
        if self.projector.catch_up is not None:
            await self.projector.catch_up.assigned(self.consumer, reading_from)
        waiting = set(self.projector.catch_up.paused) if self.projector.catch_up is not None else set()
        self.consumer.resume(*(tp for tp in assigned if tp not in waiting))


@dataclass(frozen=True)
class Follower:
    """One projection of a process's projector: its writer and the topics it follows."""

    writer: ProjectionWriter
    pattern: re.Pattern[str]


class Projector:
    """Keeps every projection of one process up to date from ONE consumer (one group per
    service and deployment): each batch goes to the writers whose topics it came from, at
    once, and the offsets are committed once all of them have written (a backlog's writes land
    while the next batch is folded: its offsets are committed once they have, `_commit`). A consumer per
    projection (eleven in selection and teaching) made the broker answer eleven fetches,
    heartbeats and metadata requests where one does: an idle deployment cost Kafka about
    0.2 s of CPU a second (docs/benchmarks.md, "One consumer per process")."""

    def __init__(
        self,
        followers: list[Follower],
        consumer_factory: Callable[[], AIOKafkaConsumer],
        batch_size: int = 1000,
        linger: float = LINGER,
        catch_up: int | None = None,
        catch_up_batch: int | None = None,
        catch_up_hold: bool = False,
        still_after: float = STILL_AFTER,
    ) -> None:
        self.linger = linger
        self.still_after = still_after
        # Whether a batch was folded since the caches last shrank (`_when_still`).
        self._folded = False
        # With a width: a backlog is read that many partitions at a time, in batches of
        # `catch_up_batch` records (default `batch_size`) (CatchUp says why); with
        # `catch_up_hold`, its writers hold their documents meanwhile (`_hold_while_behind`).
        self.catch_up = CatchUp(catch_up, catch_up_batch or batch_size, catch_up_hold) if catch_up else None
        self.followers = followers
        self.consumer_factory = consumer_factory
        self.pattern = re.compile("|".join(f"(?:{f.pattern.pattern})" for f in followers))
        self.batch_size = batch_size
        # Per projection, per partition, the first offset it has not applied (set at each
        # assignment from the positions it recorded in the store).
        self._starts: dict[str, dict[tuple[str, int], int]] = {
            f.writer.projection.name: {} for f in followers
        }
        self.consumer: AIOKafkaConsumer | None = None  # while run() runs
        # Why the rebalance listener could not seek the partitions to the stored positions (they
        # are left paused): the consumer is started again (`_check_sought`).
        self.unsought: BaseException | None = None
        # Batches folded and not committed yet: the writes behind in flight when each was
        # folded, and the offsets it reached (`_commit`).
        self._uncommitted: list[tuple[list[asyncio.Future], dict[TopicPartition, int]]] = []
        # Whether the batch `run` hands to `handle` is a backlog's (`ProjectionWriter.write_behind`).
        self._behind = False
        self._committed_at = 0.0

    def holds(self, topic: str, partition: int) -> bool:
        """Whether this process's consumer is assigned the partition now: its writers then
        report each stream version of it they fold (shared/consistency.py, Progress)."""
        return self.consumer is not None and TopicPartition(topic, partition) in self.consumer.assignment()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self.consumer = self.consumer_factory()
        await consumer.start()
        consumer.subscribe(pattern=self.pattern.pattern, listener=_SeekToStored(consumer, self))
        self._uncommitted = []
        try:
            await self._follow(consumer, stop)
            # Stopped: what was folded is recorded (after a failure it is folded again instead).
            await self._settle()
            await self.flush_positions()
        except Exception:
            # None of its writes is left landing behind the consumer that starts next, and a
            # writer whose write behind failed reads again from its stored positions.
            with contextlib.suppress(Exception):
                await self._settle()
            raise
        finally:
            self.consumer = None
            await consumer.stop()

    # long: the loop of fetch, fill, fold and commit, each branch with why it waits or not
    async def _follow(self, consumer, stop: asyncio.Event) -> None:
        last_write = last_end = 0.0
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=self.batch_size)
            self._check_sought()
            got = sum(len(recs) for recs in batches.values())
            if not got:
                # Nothing more came: the writes behind land, and what was folded is recorded.
                await self._settle()
                await self._commit(consumer)
                await self.flush_positions()
                self._when_still(last_end)
                if self.catch_up is not None and self.catch_up.behind:
                    await self.catch_up.idle(consumer)
                    await self._release_when_caught_up()
                continue
            # A backlog (an import's burst, a catch-up): each batch's writes land while the next
            # batch is fetched, decoded and folded (`ProjectionWriter.write_behind`).
            behind = bool(self.catch_up is not None and self.catch_up.behind) or _backlog(consumer, batches)
            if self.catch_up is not None and self.catch_up.behind:
                await self._fill(consumer, batches, got)
            elif got < self.batch_size and _backlog(consumer, batches):
                # More is on the broker already (an import's burst): the batch is filled from
                # the fetches as they come, never lingered for. Lingering 0.6 s before each
                # batch of ~1,000 made the registry show a 20,000-row import ~12 s late on
                # its own (docs/benchmarks.md, "The registry after an import").
                await self._top_up(consumer, batches, got)
            elif got < self.batch_size and self.linger and time.monotonic() - last_end < BUSY_WITHIN:
                # Busy (a batch ended moments ago): wait for more. A projection whose writes
                # are slow (large documents) waits longer, up to MAX_LINGER, so its
                # documents are rewritten less often under load. After a quiet spell an
                # event is folded at once: a clerk reading back what they just did waits
                # for nothing.
                await asyncio.sleep(min(MAX_LINGER, max(self.linger, last_write)))
                more = await consumer.getmany(timeout_ms=0, max_records=self.batch_size - got)
                _merge(batches, more)
            self._check_sought()
            records = [r for recs in batches.values() for r in recs]
            began = time.monotonic()
            self._hold_while_behind()
            self._behind = behind
            await self.handle(records)
            last_end = time.monotonic()
            last_write = last_end - began
            self._folded = True
            reached = {tp: recs[-1].offset + 1 for tp, recs in batches.items() if recs}
            if not any(getattr(f.writer, "holding", False) for f in self.followers):
                # Not past what a writer holds unwritten: when the store fails the rebalance
                # listener's read of the positions (aiokafka logs it and goes on), the
                # consumer starts from the committed offsets, and held events would be skipped.
                # Nor past a write behind still landing: committed once it has (`_commit`).
                self._uncommitted.append((self._landings(), reached))
            if not self._landings() or time.monotonic() - self._committed_at >= COMMIT_EVERY:
                await self._commit(consumer)
            if self.catch_up is not None:
                self.catch_up.advance(consumer, reached)
                await self._release_when_caught_up()

    def _landings(self) -> list[asyncio.Future]:
        """The writers' writes behind still in flight (`ProjectionWriter.landing`)."""
        return [w for f in self.followers if (w := getattr(f.writer, "landing", None)) is not None]

    async def _commit(self, consumer) -> None:
        """Commit the offsets the batches reached whose writes have all landed, in order (a batch's
        offsets wait for the writes in flight when it was folded, the earlier batches' among
        them). A write behind that failed is raised by `_settle` (the projector starts again)."""
        reached: dict[TopicPartition, int] = {}
        while self._uncommitted and all(
            w.done() and not w.cancelled() and w.exception() is None for w in self._uncommitted[0][0]
        ):
            for tp, offset in self._uncommitted.pop(0)[1].items():
                reached[tp] = max(reached.get(tp, 0), offset)
        if self._uncommitted and any(
            w.done() and (w.cancelled() or w.exception() is not None) for w in self._uncommitted[0][0]
        ):
            await self._settle()  # one failed: raised here
        if reached:
            await consumer.commit(reached)
            self._committed_at = time.monotonic()

    async def _settle(self) -> None:
        """Wait for every writer's write behind to land. One that failed is raised once all have
        landed, and its writer's partitions are read again from its stored positions (which stop
        before that write's batch), not from what this process had folded."""
        failed: BaseException | None = None
        for f in self.followers:
            landed = getattr(f.writer, "landed", None)
            if landed is None:
                continue
            try:
                await landed()
            except Exception as exc:  # noqa: BLE001 - raised below, once every write has landed
                failed = failed or exc
            if getattr(f.writer, "failed_behind", False):
                f.writer.failed_behind = False
                self._starts[f.writer.projection.name] = {}
        if failed is not None:
            self._uncommitted = []
            raise failed

    def _when_still(self, last_end: float) -> None:
        """Still for `still_after` seconds since the last batch: the writers' caches shrink to
        STILL_CACHE_BYTES and, if that forgot anything, the heap is trimmed at its next look.
        What the writers' sealer kept for its projectors past its age is given back at each look
        (`Sealer.expire_recalls`)."""
        for sealer in {id(s): s for f in self.followers if (s := getattr(f.writer, "sealer", None))}.values():
            sealer.expire_recalls()
        if not self._folded or time.monotonic() - last_end < self.still_after:
            return
        self._folded = False
        budgets = {id(b): b for f in self.followers if (b := getattr(f.writer, "cache_budget", None))}
        forgot = sum(b.shrink(STILL_CACHE_BYTES) for b in budgets.values())
        if forgot:
            log.info("projector.caches_shrunk", bytes=forgot)
            heap.ask_trim()

    def _check_sought(self) -> None:
        """Raise when the rebalance listener failed to seek the partitions (`_SeekToStored`):
        the runtime's guard starts the projector again on a new consumer, whose listener seeks
        them; what a writer holds stays held, its positions stop before it."""
        failed, self.unsought = self.unsought, None
        if failed is not None:
            raise RuntimeError(f"分区未能定位到已存的投影位置，投影器重新启动：{failed!r}") from failed

    async def flush_positions(self) -> None:
        """Write every writer's positions left unwritten (ProjectionWriter.positions_after)."""
        await asyncio.gather(
            *(f.writer.flush_positions() for f in self.followers if getattr(f.writer, "positions_after", 0))
        )

    def _hold_while_behind(self) -> None:
        """While a backlog is read (`catch_up_hold`), each writer holds what it folds and writes
        a document once it goes still, after HOLD_BATCHES batches, or past the cache budget, as a
        rebuild does (`ProjectionWriter.hold`): a county's 64 cadre buckets, changed by every
        batch of that county, were rewritten by each (services/dashboard/README.md). Positions
        stop before a held document's first event, so a crash folds them again."""
        if self.catch_up is None or not self.catch_up.hold or not self.catch_up.behind:
            return
        for f in self.followers:
            if not f.writer.holding:
                f.writer.hold()
            f.writer.read_to_end = self.catch_up.done

    async def _release_when_caught_up(self) -> None:
        """Once nothing is behind, the held documents are written and each batch writes again;
        the positions, which stopped before the held documents' first events, move to what
        this process folded (else a restart would fold the end of the backlog again)."""
        if not self.catch_up.hold or self.catch_up.behind:
            return
        await self._settle()  # the positions saved below pass no write behind still landing
        for f in self.followers:
            if f.writer.holding:
                try:
                    await f.writer.release()
                except BaseException:
                    await self._let_go(f)
                    raise
                await f.writer.save_positions(self._starts[f.writer.projection.name])

    async def _let_go(self, f: Follower) -> None:
        """A holding writer failed: what it held is dropped unwritten, and its partitions are read
        again from its stored positions (which stop before the first event it held), not from
        what this process had folded: the documents are read back from the store."""
        await f.writer.let_go()
        self._starts[f.writer.projection.name] = {}

    async def _fill(self, consumer, batches: dict[TopicPartition, list[ConsumerRecord]], got: int) -> None:
        """While catching up, fetch more into `batches`, up to `catch_up.batch` records or until
        nothing more comes: each batch writes every document it touches once, and a fetch
        brings at most a few hundred records (small per-partition fetches, CatchUp's width).
        Partitions read to their end make way for the next ones as the batch fills."""
        catch_up = self.catch_up
        while got < catch_up.batch:
            catch_up.advance(consumer, {tp: recs[-1].offset + 1 for tp, recs in batches.items() if recs})
            more = await consumer.getmany(timeout_ms=FILL_WAIT_MS, max_records=catch_up.batch - got)
            added = _merge(batches, more)
            if not added:
                return
            got += added

    async def _top_up(self, consumer, batches: dict[TopicPartition, list[ConsumerRecord]], got: int) -> None:
        """Fetch into `batches` up to `batch_size` records while the broker holds more of them
        (`_backlog`): full batches, so the read index knows the projectors are catching up
        (`ReadIndex.behind`) and leaves its lists until they are done."""
        while got < self.batch_size and _backlog(consumer, batches):
            more = await consumer.getmany(timeout_ms=FILL_WAIT_MS, max_records=self.batch_size - got)
            added = _merge(batches, more)
            if not added:
                return
            got += added

    async def handle(self, records: list[ConsumerRecord]) -> None:
        """Each projection folds the records of its topics it has not applied yet; all at once.
        A backlog's batch (`run` says so) lets its writes land while the next batch is folded
        (`ProjectionWriter.write_behind`)."""
        behind = self._behind
        work = []
        first = self.followers[0].writer if self.followers else None
        shared = Decodings(getattr(first, "sealer", None), getattr(first, "catalogue", CATALOGUE))
        for f in self.followers:
            if hasattr(f.writer, "write_behind"):
                f.writer.write_behind = behind
            starts = self._starts[f.writer.projection.name]
            mine = [
                r
                for r in records
                if f.pattern.match(r.topic) and r.offset >= starts.get((r.topic, r.partition), 0)
            ]
            if mine:
                work.append((f, mine, f.writer.handle(mine, shared=shared)))
        # Every writer finishes its batch before a failure is raised (the projector then
        # starts again from the stored positions): none is left writing behind a new consumer.
        outcomes = await asyncio.gather(*(w for _, _, w in work), return_exceptions=True)
        for (f, mine, _), outcome in zip(work, outcomes):
            if isinstance(outcome, BaseException):
                if getattr(f.writer, "holding", False):
                    await self._let_go(f)
                if getattr(f.writer, "failed_behind", False):
                    # The write behind of a batch before failed (raised at this one): those
                    # batches count as applied no more; read again from the stored positions.
                    f.writer.failed_behind = False
                    self._starts[f.writer.projection.name] = {}
                continue
            # Applied: never again by this process, whatever a rebalance seeks back to.
            starts = self._starts[f.writer.projection.name]
            for r in mine:
                key = (r.topic, r.partition)
                starts[key] = max(starts.get(key, 0), r.offset + 1)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


def _backlog(consumer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
    """Whether the broker holds more of a fetched partition than was fetched (its high
    watermark, as the last fetch answered it, past the batch's last record): a backlog to fold,
    not single events trickling in."""
    for tp, recs in batches.items():
        high = consumer.highwater(tp) if recs else None
        if high is not None and high > recs[-1].offset + 1:
            return True
    return False


def _merge(batches: dict[TopicPartition, list[ConsumerRecord]], more: dict) -> int:
    """Add a further fetch to a batch; returns the records added. A rebalance inside the fetch
    (a new topic matching the pattern) seeks each partition back to its stored position
    (_SeekToStored): what it fetched again is in the batch already, and would be folded (or
    dead-lettered) twice."""
    added = 0
    for tp, recs in more.items():
        have = batches.setdefault(tp, [])
        after = have[-1].offset if have else -1
        new = [r for r in recs if r.offset > after]
        have.extend(new)
        added += len(new)
    return added


async def rebuild(
    writer: ProjectionWriter,
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = REBUILD_BATCH,
) -> BatchResult:
    """Drop the projection and fold every event of the partitions `tps` again.

    Reads up to the end offsets seen at the start, in batches of `batch_size` events.
    `progress(done, total)` is called after each batch. The consumer: started, no group.

    While a batch is folded, the next one is fetched, opened and decoded (`prepare`), and the
    documents the batch before let go are written, then its positions saved (`_flush_behind`):
    the writes wait on the store, which runs on the other core, and a rebuild that did one after
    the other left this process idle for half its time (docs/benchmarks.md, "The rebuild ratio",
    "Folded while the writes are in flight"). The folds stay in order; a fold touching a
    document still being written waits for that write; positions are saved only once the
    documents they cover are written. `progress` is called once a batch's writes are done.

    The writer holds what it folds (`ProjectionWriter.hold`) and writes a document once a
    batch passes without changing it, when the writers' budget is exceeded, or at the end:
    FerretDB rewrites a whole document for any write, and a class of 99 nominations (about
    15 kB) was written once per batch it spanned, by a conditional replace; held, it is
    written about once, by an insert (docs/benchmarks.md, "Held until still"). A rebuild
    that stops leaves positions no further than the first event of a held document, so the
    projector started on them folds what was lost; the documents already written skip the
    events they hold (the guard).
    """
    await writer.reset()
    total = BatchResult()
    if not tps:
        return total
    consumer.assign(tps)
    begin = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    await consumer.seek_to_beginning(*tps)
    todo = sum(end[tp] - begin[tp] for tp in tps)
    remaining = {tp for tp in tps if end[tp] > begin[tp]}
    collecting = gc.isenabled()
    gc.disable()
    writer.hold()
    try:
        await _fold_all(
            writer,
            consumer,
            remaining,
            end,
            batch_size,
            total,
            lambda done: progress(done, todo) if progress else None,
        )
    except BaseException:
        await writer.let_go()
        raise
    finally:
        if collecting:
            gc.enable()
    await writer.save_positions({(tp.topic, tp.partition): end[tp] for tp in tps})
    return total


async def _fold_all(
    writer: ProjectionWriter,
    consumer: AIOKafkaConsumer,
    remaining: set[TopicPartition],
    end: dict[TopicPartition, int],
    batch_size: int,
    total: BatchResult,
    progress: Callable[[int], None],
) -> None:
    """rebuild's batches, each fetched, opened and decoded while the one before is folded and
    its writes are in flight. `progress` is told of a batch once its writes and positions are
    done (`ProjectionWriter.on_written`)."""
    done = batches = 0
    records = await _next_batch(consumer, remaining, end, batch_size)
    shared = Decodings(writer.sealer, writer.catalogue)
    while records:
        done += len(records)
        batches += 1
        if batches % REBUILD_COLLECT == 0:
            gc.collect()  # the collector is off (`rebuild`): what cycles were made, now
        writer.on_written = functools.partial(progress, done)
        handling = asyncio.ensure_future(writer.handle(records, shared=shared))
        following, shared = [], Decodings(writer.sealer, writer.catalogue)
        try:
            following = await _next_batch(consumer, remaining, end, batch_size)
            if following and not _may_erase(records):
                await writer.prepare(following, shared)
        except BaseException:
            handling.cancel()
            await asyncio.gather(handling, return_exceptions=True)
            raise
        r = await handling
        total.applied += r.applied
        total.skipped_unknown += r.skipped_unknown
        total.dead_lettered += r.dead_lettered
        records = following
    await writer.release()


def _may_erase(records: list[ConsumerRecord]) -> bool:
    """Whether a batch may hold an erasure (its type header says so, or it has none): the
    batch after it is then opened only once it is folded, when the erased person's key is
    gone from the vault (`ProjectionWriter._scrub`)."""
    for rec in records:
        kind = _type_header(rec)
        if kind is None or kind == ERASURE_TYPE:
            return True
    return False


async def _next_batch(
    consumer: AIOKafkaConsumer, remaining: set[TopicPartition], end: dict[TopicPartition, int], size: int
) -> list[ConsumerRecord]:
    """The next batch: `size` records, fewer only at the end of the partitions. Each fetch may
    time out while this process decodes and writes (the fetcher waits for the event loop): a
    batch cut short there would rewrite its documents once more."""
    records: list[ConsumerRecord] = []
    while remaining and len(records) < size:
        records += await _fill(consumer, remaining, end, size - len(records))
    return records


async def _fill(
    consumer: AIOKafkaConsumer, remaining: set[TopicPartition], end: dict[TopicPartition, int], size: int
) -> list[ConsumerRecord]:
    """Up to `size` records below the end offsets, from as many fetches as it takes (one
    answers with what has arrived, often less). Each batch rewrites every document it
    touches once, so a full batch rewrites a large document less often. Drops from
    `remaining` the partitions read to their end."""
    records: list[ConsumerRecord] = []
    while remaining and len(records) < size:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=size - len(records))
        if not batches:
            break
        for tp, recs in batches.items():
            recs = [r for r in recs if r.offset < end[tp]]
            records.extend(recs)
            if recs and recs[-1].offset + 1 >= end[tp]:
                remaining.discard(tp)
    return records
