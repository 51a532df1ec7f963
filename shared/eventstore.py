"""The event store on MongoDB (FerretDB in development).

One document per append, a *commit*, holding the 1..n events of one command: a
multi-event command is then a single insert, atomic without multi-document
transactions (FerretDB has none). A commit's `version` is the stream version of its
first event, and the unique index on (stream_id, version) is the optimistic
concurrency check: two writers that read the stream at the same version both try to
claim version+1 and exactly one wins.

The outbox is a separate, small collection of pointers to commits not yet on Kafka.
A pointer is written *before* its commit and removed once Kafka acknowledged every
event of the commit, so a crash anywhere leaves either a pointer to a commit (it will
be published) or a pointer to nothing. A pointer whose commit is still missing
`ORPHAN_AFTER` (seconds) after it was written is resolved at once: the relay inserts a
*fence*, an empty commit document under the pointer's `_id`, then drops the pointer.
Either the fence goes in (the append never happened, or its insert still in flight now
fails on the `_id` and the writer retries as after any conflict), or the insert fails
because the commit has just landed, and it is published. So no stream waits for a
crashed writer longer than a few seconds, and no late commit is ever left unpublished.
A relay in the appending process sends that process's own commits from memory without
reading the outbox (`landed_ready`, shared/outbox.py); the pointers stay the net for a crash
and for every other process's commits. The relay never has to query the events collection by
anything but `_id`: FerretDB 1.24 uses an index only for `_id` equality, and a
`{published: false}` query on a growing events collection is a full scan.

`append_many` is the same append for many streams at once (an import of a registry):
per `MANY_CHUNK` streams, one *batch pointer* naming their commits (ids, streams and
versions), then their commits in one unordered insert command; each chunk sealed and
written by its own task, `MANY_IN_FLIGHT` at a time. An insert command of many documents
is one operation for FerretDB (one pooled connection, unlike an update command of many
operations; see shared/store.py), and on MongoDB it is the ordinary bulk insert. A commit
refused by the unique index (or on its `_id` by a fence, if a chunk's insert waited past
ORPHAN_AFTER) is taken out of the batch pointer and reported back as a conflict for that
stream alone, which is decided again; the others stand. The relay reads a batch pointer
as one pointer per commit it names (in flight, orphan and order rules alike) and drops it
once all of them are published: an import of 20,000 rows leaves 40 pointers, not 20,000,
to scan, and 40 deletes, not 20,000. Where the relay runs in the appending process, each chunk
once stored is handed to it as a single append's commit is (`_land_chunk`): the import goes to
Kafka while its later chunks are written, and no commit of it is read back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared import store
from shared.errors import ConcurrencyConflict
from shared.events import Envelope, utcnow
from shared.ids import new_id
from shared.personal import Sealer

log = structlog.get_logger("eventstore")

COLLECTION = "events"
OUTBOX = "outbox"
# A relay round reads the outbox to its end when it holds at most this many more pointers than
# the round takes, and then finds a stream's other pointers among them instead of asking the
# store: FerretDB answers that `$or`/`$in` by decoding every pointer in Go, and after an
# import its 40 batch pointers (500 commits each) cost it ~0.9 s of CPU per round, 40 rounds
# (most of FerretDB's 26.6 s until the registry showed a 20,000-row import, docs/benchmarks.md).
OUTBOX_READ_WHOLE = 1_000
# How long a pointer may wait for its commit before the relay fences it: well above an
# append's usual pointer-to-commit time (milliseconds; under a loaded store, a second),
# so a live append is seldom made to retry. Fencing is safe at any age (see above).
ORPHAN_AFTER = timedelta(seconds=3)
# A fence's stream: never a real stream's id, so reads of a stream never meet it.
FENCE_STREAM = "fence:"
# The `stream_id` of an append_many chunk's one outbox pointer (never a real stream's).
BATCH_STREAM = "many:"
# Commits per insert command in append_many: 500 commits of one registry event are about
# 0.5 MB, well under the 16 MB message limit, and hold one connection briefly. Four such
# commands at once measured 9.6 s for 20,000 commits, against 23.2 s one at a time.
MANY_CHUNK = 500
MANY_IN_FLIGHT = 4
DUPLICATE_KEY = 11000
# Commits kept in memory for this process's relay (EventStore._land): a few seconds' worth
# of appends at hundreds a second; an older one is read back from the store as before.
LANDED_MAX = 5_000
# Streams whose last published version this process's relay remembers (`landed_ready`): a
# stream it forgot is published through the outbox read, as before.
SENT_MAX = 20_000
# append_many chunks whose commits this process's relay keeps track of (`_land_chunk`): 100 of
# MANY_CHUNK commits, more than LANDED_MAX keeps in memory; a chunk forgotten is published by the
# outbox read (at least once), as before.
LANDED_BATCHES = 100
# A landed commit `landed_ready` holds back (each woken round then reads the outbox) for longer
# than this is forgotten there: another relay on the same store (a second replica) published it
# and deleted its pointer first, or its stream waits on an orphan. Forgetting loses nothing: its
# pointer, while there, has the outbox read publish it, its commit read back by `_id`.
HELD_MAX = timedelta(seconds=10)


class EventStore:
    """With a `sealer` (shared/personal.py), personal values are sealed on append and
    opened on read: the store and the bus hold them sealed, the domain reads them plain."""

    def __init__(self, db: AsyncDatabase, collection: str = COLLECTION, sealer: Sealer | None = None) -> None:
        self.db = db
        self.commits = db[collection]
        self.outbox = db[OUTBOX]
        self.sealer = sealer
        # Commits this process stored and its relay has not yet published (see `_land`);
        # kept only where the relay runs in the same process (Runtime.start says so).
        self.keep_landed = False
        self._landed: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # The same commits by stream, each stream's in the order they landed, the streams in the
        # order of their oldest landed commit: `landed_ready` reads it instead of regrouping up
        # to LANDED_MAX commits on every woken round (`_land` and `_drop_landed` keep it).
        self._landed_by_stream: dict[str, list[dict[str, Any]]] = {}
        # Commits this process is appending (pointer written, commit not yet stored): the
        # relay holds their streams back without reading them (see `_commits_of`).
        self._writing: set[str] = set()
        # From the relay's last `unpublished`: per batch pointer, its commits not yet
        # published, and each such commit's batch (see mark_published).
        self._batches: dict[str, set[str]] = {}
        self._batch_of: dict[str, str] = {}
        # Per stream, the last version this process's relay published (see `landed_ready`).
        self._sent: OrderedDict[str, int] = OrderedDict()
        # Pointers of published commits not deleted yet (`published`, `flush_published`).
        self._unlinked: list[str] = []
        # The append_many chunks this process stored and kept for its relay (`_land_chunk`):
        # per batch pointer, its commits not yet published, and each such commit's batch. Unlike
        # `_batches` (what the last outbox read found) they outlive the reads: the pointer goes
        # once the last of them is published, whichever way it went out.
        self._landed_batches: OrderedDict[str, set[str]] = OrderedDict()
        self._landed_batch: dict[str, str] = {}
        # Called once commits are kept for the relay (Runtime.start: the relay's nudge), so an
        # import's chunks go out while the rest are still being written.
        self.on_landed: Callable[[], None] | None = None

    async def _docs(self, events: Sequence[Envelope]) -> list[dict[str, Any]]:
        if self.sealer is None:
            return [e.to_doc() for e in events]
        return await self.sealer.seal(events)

    async def _envelopes(self, docs: list[dict[str, Any]]) -> list[Envelope]:
        if self.sealer is None or not any(d.get("sealed") for d in docs):
            return [Envelope.model_validate(d) for d in docs]
        return await self.sealer.open_envelopes(docs)

    async def ensure_indexes(self) -> None:
        await self.commits.create_index(
            [("stream_id", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )
        # The relay reads an append_many chunk's commits by their batch pointer's id.
        await self.commits.create_index([("batch", ASCENDING)], name="batch")

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[Envelope], commit_id: str | None = None
    ) -> None:
        """Append events whose stream versions follow `expected_version`.

        `expected_version` must be a version read from this stream (0 for a new one).
        Raises ConcurrencyConflict when someone appended first, or when a commit with
        `commit_id` (a retried request's, see `applied`) is already stored or fenced.
        """
        if not events:
            return
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")
        now = utcnow()
        commit_id = commit_id or new_id()
        pointer = {"_id": commit_id, "stream_id": stream_id, "version": expected_version + 1, "at": now}
        # The pointer goes in while the events are sealed (a new person's key is a store
        # write too): one round trip less per command, and the pointer still lands before
        # the commit, which is all the relay needs.
        self._writing.add(commit_id)
        try:
            await self._append(pointer, events)
        finally:
            self._writing.discard(commit_id)

    async def _append(self, pointer: dict[str, Any], events: Sequence[Envelope]) -> None:
        commit_id, stream_id, now = pointer["_id"], pointer["stream_id"], pointer["at"]
        expected_version = pointer["version"] - 1
        sealed, pointed = await asyncio.gather(
            self._docs(events), self.outbox.insert_one(pointer), return_exceptions=True
        )
        if isinstance(sealed, BaseException):
            if not isinstance(pointed, BaseException):
                await self.outbox.delete_one({"_id": commit_id})
            raise sealed
        if isinstance(pointed, DuplicateKeyError):  # the same request's commit, by a concurrent attempt
            raise ConcurrencyConflict(stream_id, expected_version) from pointed
        if isinstance(pointed, BaseException):
            raise pointed
        doc = {
            "_id": commit_id,
            "stream_id": stream_id,
            "version": expected_version + 1,
            "last_version": expected_version + len(events),
            "events": sealed,
            "committed_at": now,
        }
        try:
            await self.commits.insert_one(doc)
        except DuplicateKeyError as exc:
            await self.outbox.delete_one({"_id": doc["_id"]})
            raise ConcurrencyConflict(stream_id, expected_version) from exc
        self._land(doc)

    def _land(self, doc: dict[str, Any]) -> None:
        """Keep a commit this process has just stored for its relay: a relay in the same
        process (the one-process layout) then publishes it without reading it back, one
        point read less per command. Only commits whose insert succeeded are kept, so the
        relay never publishes what was not stored; a relay elsewhere reads them as before."""
        if not self.keep_landed:
            return
        self._landed[doc["_id"]] = doc
        self._landed_by_stream.setdefault(doc["stream_id"], []).append(doc)
        while len(self._landed) > LANDED_MAX:
            self._drop_landed(next(iter(self._landed)))

    def _drop_landed(self, commit_id: str) -> None:
        """Forget a landed commit (published, evicted or held too long), in both indexes."""
        doc = self._landed.pop(commit_id, None)
        if doc is None:
            return
        docs = self._landed_by_stream.get(doc["stream_id"])
        if docs is None:
            return
        docs.remove(doc)
        if not docs:
            del self._landed_by_stream[doc["stream_id"]]

    def landed_ready(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The commits this process stored that its relay may publish without reading the
        outbox: (those, in stream order; whether any other landed commit waits for a read).

        A landed commit may go when it opens its stream (version 1) or follows the last
        version this relay published of it, or another commit of this answer: then no
        earlier commit of the stream can still be unpublished, since this relay publishes
        each stream in order (`unpublished`). Any other (its stream last appended by another
        process, or published before this process started) waits for the outbox read, which
        orders it among the other pointers as before. Reads nothing."""
        ready: list[dict[str, Any]] = []
        held = False
        stale = utcnow() - HELD_MAX
        for stream_id, docs in list(self._landed_by_stream.items()):
            last = self._sent.get(stream_id, 0)
            for doc in sorted(docs, key=lambda d: d["version"]):
                if doc["version"] != last + 1:
                    if doc["committed_at"] < stale:
                        self._drop_landed(doc["_id"])
                        continue
                    held = True
                    break
                if len(ready) >= limit:
                    break
                ready.append(doc)
                last = doc["last_version"]
        return ready, held

    async def applied(self, commit_id: str) -> tuple[str, list[Envelope] | None]:
        """Whether a retried request's commit is stored: (the id to append under, the
        stored commit's events or None). A fenced id (an attempt that crashed between
        pointer and commit) is skipped for the next one of the same request."""
        for n in range(100):
            cid = commit_id if n == 0 else f"{commit_id}~{n}"
            doc = await self.commits.find_one({"_id": cid})
            if doc is None:
                return cid, None
            if not doc.get("fence"):
                return cid, await self._envelopes(doc["events"])
        raise RuntimeError(f"commit {commit_id} fenced 100 times")

    async def read_commits(self, stream_id: str) -> list[list[Envelope]]:
        """A stream's events, one list per commit (per command), in order."""
        out: list[list[Envelope]] = []
        async for commit in self.commits.find({"stream_id": stream_id}).sort("version", ASCENDING):
            out.append(await self._envelopes(commit["events"]))
        return out

    async def fence(self, pointer: dict[str, Any]) -> bool:
        """Claim an orphan pointer's commit id with an empty commit. True: fenced (the
        append will never land, the pointer can go); False: the commit landed first."""
        try:
            await self.commits.insert_one(
                {
                    "_id": pointer["_id"],
                    "stream_id": FENCE_STREAM + str(pointer["_id"]),
                    "version": 0,
                    "last_version": 0,
                    "events": [],
                    "fence": True,
                    "for_stream": pointer["stream_id"],
                    "for_version": pointer["version"],
                    "committed_at": utcnow(),
                }
            )
            return True
        except DuplicateKeyError:
            return False

    async def append_many(self, appends: Sequence[tuple[str, int, Sequence[Envelope]]]) -> set[str]:
        """Append to many streams (each `(stream_id, expected_version, events)`, one stream
        at most once) in few insert commands. Returns the streams that conflicted: nothing
        was appended to those, everything else was. Any other store error is raised; what
        was appended by then stands and is published."""
        seen: set[str] = set()
        todo: list[tuple[str, str, int, Sequence[Envelope]]] = []
        for stream_id, expected_version, events in appends:
            if not events:
                continue
            if stream_id in seen:
                raise ValueError(f"stream {stream_id} given twice to append_many")
            seen.add(stream_id)
            for offset, env in enumerate(events, start=1):
                if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                    raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")
            todo.append((new_id(), stream_id, expected_version, events))  # ids in order, before any await
        conflicts: set[str] = set()
        # Each chunk is sealed (one vault insert for its people) and written by its own
        # task, MANY_IN_FLIGHT at a time: the service seals one chunk while the store
        # writes others, instead of sealing all before writing any.
        await _in_flight(
            [
                (lambda b=new_id(), c=todo[i : i + MANY_CHUNK]: self._append_chunk(b, c, conflicts))
                for i in range(0, len(todo), MANY_CHUNK)
            ],
            MANY_IN_FLIGHT,
        )
        return conflicts

    async def _append_chunk(
        self, batch: str, chunk: Sequence[tuple[str, str, int, Sequence[Envelope]]], conflicts: set[str]
    ) -> None:
        """One batch pointer (`_batch_pointer`), then the commits in one insert command; a
        commit refused by the unique index (or a fence) is taken out of the pointer and
        reported in `conflicts`."""
        sealed = iter(await self._docs([e for _, _, _, events in chunk for e in events]))
        now = utcnow()
        docs = [
            {
                "_id": commit_id,
                "stream_id": stream_id,
                "version": expected_version + 1,
                "last_version": expected_version + len(events),
                "events": [next(sealed) for _ in events],
                "committed_at": now,
                "batch": batch,
            }
            for commit_id, stream_id, expected_version, events in chunk
        ]
        pointer = _batch_pointer(batch, docs, now)
        ids = [d["_id"] for d in docs]
        # Held back from an outbox read meanwhile, as `append`'s: once stored they are handed to
        # this process's relay (`_land_chunk`), and a read that found them in the store too would
        # send them twice.
        self._writing.update(ids)
        try:
            await self._write_chunk(pointer, docs, conflicts, now)
        finally:
            self._writing.difference_update(ids)

    async def _write_chunk(
        self, pointer: dict[str, Any], docs: list[dict[str, Any]], conflicts: set[str], now: Any
    ) -> None:
        await self.outbox.insert_one(pointer)
        try:
            await self.commits.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            lost = {docs[e["index"]]["_id"] for e in errors if e.get("code") == DUPLICATE_KEY}
            kept = [d for d in docs if d["_id"] not in lost]
            if lost:
                if kept:
                    await self.outbox.replace_one(
                        {"_id": pointer["_id"]}, _batch_pointer(pointer["_id"], kept, now)
                    )
                else:
                    await self.outbox.delete_one({"_id": pointer["_id"]})
                conflicts.update(d["stream_id"] for d in docs if d["_id"] in lost)
            if others:
                raise  # what was stored is not known here: the outbox read publishes it
            self._land_chunk(pointer["_id"], kept)
            return
        self._land_chunk(pointer["_id"], docs)

    def _land_chunk(self, batch: str, docs: list[dict[str, Any]]) -> None:
        """Keep an append_many chunk's stored commits for this process's relay (`_land`): an
        import's commits go out from memory, and its batch pointer is deleted once the last
        of them is published. Read back from the store instead, 2,000 commits a relay round,
        the relay took ~3 s a round on FerretDB after a 20,000-row import's answer
        (docs/benchmarks.md, "The registry after an import")."""
        if not self.keep_landed or not docs:
            return
        self._landed_batches[batch] = {d["_id"] for d in docs}
        for doc in docs:
            self._landed_batch[doc["_id"]] = batch
            self._land(doc)
        while len(self._landed_batches) > LANDED_BATCHES:
            # Another relay published them (a replica): forgotten here, they go by the outbox.
            for commit_id in self._landed_batches.popitem(last=False)[1]:
                self._landed_batch.pop(commit_id, None)
        if self.on_landed is not None:
            self.on_landed()

    async def read_stream(self, stream_id: str) -> list[Envelope]:
        commits = [c async for c in self.commits.find({"stream_id": stream_id}).sort("version", ASCENDING)]
        return await self._envelopes([e for c in commits for e in c["events"]])

    async def _pointers(self, limit: int) -> list[dict[str, Any]]:
        """The outbox's pointers to publish next, each commit as a pointer of its own
        (`_each_commit`): about `limit` commits' worth, and every other pointer of the
        streams these touch (the outbox is small, and a stream's earlier commits must go
        first), until no pointer names a stream not yet looked at."""
        picked: dict[str, dict[str, Any]] = {}
        rest: dict[str, dict[str, Any]] = {}
        count = 0
        whole = True
        cursor = self.outbox.find({})
        async for p in cursor:
            if count < limit:
                picked[p["_id"]] = p
                count += len(self._unsent(p))
            elif len(rest) < OUTBOX_READ_WHOLE:
                rest[p["_id"]] = p
            else:
                whole = False
                break
        await cursor.close()
        streams: set[str] = set()
        new = list(picked.values())
        while new:
            wanted = {s for p in new for s in _streams_of(p)} - streams
            if not wanted:
                break
            streams |= wanted
            if whole:  # every pointer is in hand: their streams are matched here
                new = [
                    p
                    for p in rest.values()
                    if p["_id"] not in picked
                    and (p["stream_id"] in wanted or not wanted.isdisjoint(_streams_of(p)))
                ]
            else:
                found = self.outbox.find(
                    {"$or": [{"stream_id": {"$in": sorted(wanted)}}, {"streams": {"$in": sorted(wanted)}}]}
                )
                new = [p async for p in found if p["_id"] not in picked]
            picked.update((p["_id"], p) for p in new)
        pointers = [q for p in picked.values() for q in self._unsent(p)]
        pointers.sort(key=lambda p: (p["stream_id"], p["version"]))
        return pointers

    def _unsent(self, pointer: dict[str, Any]) -> list[dict[str, Any]]:
        """A pointer as one pointer per commit, without the commits of a batch this relay
        already published (a batch held back for one stream would otherwise be sent again
        whole every round, and fill every round's limit so later pointers wait). After a
        restart nothing is known: the batch goes again whole, at least once."""
        each = _each_commit(pointer)
        if "commits" not in pointer:
            return each
        # This process's own chunk: it knows which of its commits went out from memory.
        left = self._landed_batches.get(pointer["_id"]) or self._batches.get(pointer["_id"])
        return [c for c in each if c["_id"] in left] if left else each

    # long: the relay's one ordering decision per pointer (in flight, orphan, fence, publish)
    async def unpublished(self, limit: int) -> list[dict[str, Any]]:
        """Commits not yet on Kafka, whole streams at a time, each stream in version order.

        A stream whose earliest pointer has no commit yet (an append in flight) is
        held back entirely, so a later version is never sent before an earlier one.
        """
        pointers = await self._pointers(limit)
        if not pointers:
            return []
        writing = {p["_id"] for p in pointers if p["_id"] in self._writing}
        by_id = await self._commits_of(pointers, writing)
        found = [by_id.get(p["_id"]) for p in pointers]
        now = utcnow()
        out: list[dict[str, Any]] = []
        blocked: set[str] = set()
        # Per batch pointer, its commits still to publish; it goes once they all went.
        self._batches = {}
        self._batch_of = {}
        for pointer in pointers:
            if "batch" in pointer:
                self._batches.setdefault(pointer["batch"], set()).add(pointer["_id"])
                self._batch_of[pointer["_id"]] = pointer["batch"]
        for pointer, commit in zip(pointers, found):
            if pointer["stream_id"] in blocked:
                continue
            if commit is None:
                at = pointer["at"] if pointer["at"].tzinfo else pointer["at"].replace(tzinfo=now.tzinfo)
                # An import's chunk this process is still writing is in flight whatever its age,
                # never fenced: its writer is alive, and under load a chunk took seconds (a read
                # slower than ORPHAN_AFTER fenced a hundred landed commits one at a time).
                if now - at <= ORPHAN_AFTER or ("batch" in pointer and pointer["_id"] in writing):
                    blocked.add(pointer["stream_id"])  # an append in flight: wait for it
                elif await self.fence(pointer):
                    log.warning(
                        "outbox.orphan_fenced",
                        stream_id=pointer["stream_id"],
                        version=pointer["version"],
                        waited_s=round((now - at).total_seconds(), 1),
                    )
                    await self._done(pointer)
                else:  # it landed just now: publish it in order
                    commit = await self.commits.find_one({"_id": pointer["_id"]})
                if commit is None:
                    continue
            if commit.get("fence"):  # a fenced pointer not yet deleted
                await self._done(pointer)
                continue
            out.append(commit)
        return out

    async def _commits_of(
        self, pointers: list[dict[str, Any]], writing: set[str] = frozenset()
    ) -> dict[str, dict[str, Any]]:
        """The stored commits of the pointers by id: a batch's in one query on the commits'
        `batch` field (indexed), the others by point reads."""
        # Commits this process stored and its relay has not published yet are not read back;
        # nor are those it is still appending (their pointer went in first): the read finds
        # nothing, and the stream waits for the next round as it would then. Under load it was
        # a quarter of a store read per command (docs/benchmarks.md, "The slowest 1 %").
        by_id = {p["_id"]: self._landed[p["_id"]] for p in pointers if p["_id"] in self._landed}
        # An import's chunk still being written, or kept in memory, is not read back either (a
        # batch's 500 commits took FerretDB ~1 s to send back under load).
        have = by_id.keys() | writing
        batches = sorted({p["batch"] for p in pointers if "batch" in p and p["_id"] not in have})
        for batch in batches:
            by_id.update(
                [(c["_id"], c) async for c in self.commits.find({"batch": batch}) if c["_id"] not in writing]
            )
        alone = [p["_id"] for p in pointers if "batch" not in p and p["_id"] not in have]
        by_id.update(await store.find_by_ids(self.commits, alone))
        return by_id

    async def _done(self, pointer: dict[str, Any]) -> None:
        """A pointer whose commit will never be published (fenced) goes; so does a batch
        pointer whose commits are all published or fenced."""
        await self.mark_published([pointer["_id"]])

    async def mark_published(self, commit_ids: Sequence[str]) -> None:
        """Drop the pointers of published commits: a commit's own, or a batch pointer once
        every commit it names went (a batch held back in part is published again whole
        in a later round: at least once, as after any crash). One delete command for the
        lot: the outbox holds only unpublished pointers, so even a store that scans it for
        `$in` reads a few rows."""
        gone = self._unlink(commit_ids)
        if gone:
            await self.outbox.delete_many({"_id": {"$in": gone}})

    def published(self, commits: Sequence[dict[str, Any]]) -> None:
        """Note commits the relay has published: each stream's last version (`landed_ready`),
        and their pointers to drop with the next `flush_published`, one delete for several
        rounds. A crash before it sends them again: at least once, as after any crash."""
        for commit in commits:
            self._sent[commit["stream_id"]] = commit["last_version"]
            self._sent.move_to_end(commit["stream_id"])
        while len(self._sent) > SENT_MAX:
            self._sent.popitem(last=False)
        self._unlinked.extend(self._unlink([c["_id"] for c in commits]))

    def unlinked(self) -> int:
        """Pointers of published commits not deleted yet."""
        return len(self._unlinked)

    async def flush_published(self) -> None:
        """Delete the pointers `published` noted, in one command."""
        gone = list(self._unlinked)
        if gone:
            await self.outbox.delete_many({"_id": {"$in": gone}})
            del self._unlinked[: len(gone)]

    def _unlink(self, commit_ids: Sequence[str]) -> list[str]:
        """The pointers published commits free (a batch's once all its commits went)."""
        gone = []
        for commit_id in commit_ids:
            self._drop_landed(commit_id)
            batch = self._landed_batch.pop(commit_id, None) or self._batch_of.get(commit_id)
            if batch is None:
                gone.append(commit_id)
                continue
            empty = False
            for batches in (self._batches, self._landed_batches):
                left = batches.get(batch)
                if left is not None:
                    left.discard(commit_id)
                    empty = empty or not left
            if empty:
                gone.append(batch)
                self._batches.pop(batch, None)
                for rest in self._landed_batches.pop(batch, ()):
                    self._landed_batch.pop(rest, None)
        return gone

    async def count_unpublished(self) -> int:
        """Commits not yet on Kafka (a batch pointer counts each commit it names)."""
        return sum([len(p.get("commits") or (None,)) async for p in self.outbox.find({}, {"commits": 1})])


def _batch_pointer(pointer_id: str, commits: list[dict[str, Any]], at: Any) -> dict[str, Any]:
    """One outbox pointer for the commits of an append_many chunk: their ids, streams and
    versions side by side (`streams` lets the relay find it by any of them). Its own
    `stream_id` is never a real stream's."""
    return {
        "_id": pointer_id,
        "stream_id": BATCH_STREAM + pointer_id,
        "version": 0,
        "at": at,
        "commits": [c["_id"] for c in commits],
        "streams": [c["stream_id"] for c in commits],
        "versions": [c["version"] for c in commits],
    }


def _streams_of(pointer: dict[str, Any]) -> list[str]:
    return pointer["streams"] if "commits" in pointer else [pointer["stream_id"]]


def _each_commit(pointer: dict[str, Any]) -> list[dict[str, Any]]:
    """A pointer as one pointer per commit (a batch pointer's commits each with `batch`)."""
    if "commits" not in pointer:
        return [pointer]
    return [
        {"_id": c, "stream_id": s, "version": v, "at": pointer["at"], "batch": pointer["_id"]}
        for c, s, v in zip(pointer["commits"], pointer["streams"], pointer["versions"])
    ]


async def _in_flight(calls: list[Callable[[], Awaitable[None]]], size: int) -> None:
    """Run the calls, at most `size` at once, each starting as soon as an earlier one ends
    (a sliding window: store.gather_chunked waits for a whole group before the next)."""
    gate = asyncio.Semaphore(size)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))
