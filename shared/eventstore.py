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
be published) or a pointer to nothing (the append never happened; the relay drops it
after `ORPHAN_AFTER`). The relay never has to query the events collection by
anything but `_id`: FerretDB 1.24 uses an index only for `_id` equality, and a
`{published: false}` query on a growing events collection is a full scan.

`append_many` is the same append for many streams at once (an import of a registry):
per `MANY_CHUNK` streams, their pointers in one insert command, then their commits in
one unordered insert command; `MANY_IN_FLIGHT` chunks at a time. An insert command of many documents is one operation for
FerretDB (one pooled connection, unlike an update command of many operations; see
shared/store.py), and on MongoDB it is the ordinary bulk insert. A commit refused by the
unique index is reported back as a conflict for that stream alone; the others stand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared import store
from shared.errors import ConcurrencyConflict
from shared.events import Envelope, utcnow
from shared.ids import new_id

COLLECTION = "events"
OUTBOX = "outbox"
# Four times the service client's socket timeout (30 s). A pointer older than this
# whose commit is missing belongs to an append that failed or crashed. The residual
# risk, accepted: a store that applies an insert more than two minutes after receiving
# it would leave that commit unpublished.
ORPHAN_AFTER = timedelta(seconds=120)
# Commits per insert command in append_many: 500 commits of one registry event are about
# 0.5 MB, well under the 16 MB message limit, and hold one connection briefly. Four such
# commands at once measured 9.6 s for 20,000 commits, against 23.2 s one at a time.
MANY_CHUNK = 500
MANY_IN_FLIGHT = 4
DUPLICATE_KEY = 11000


class EventStore:
    def __init__(self, db: AsyncDatabase, collection: str = COLLECTION) -> None:
        self.db = db
        self.commits = db[collection]
        self.outbox = db[OUTBOX]

    async def ensure_indexes(self) -> None:
        await self.commits.create_index(
            [("stream_id", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> None:
        """Append events whose stream versions follow `expected_version`.

        `expected_version` must be a version read from this stream (0 for a new one).
        Raises ConcurrencyConflict when someone appended first.
        """
        if not events:
            return
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")
        now = utcnow()
        doc = {
            "_id": new_id(),
            "stream_id": stream_id,
            "version": expected_version + 1,
            "last_version": expected_version + len(events),
            "events": [e.to_doc() for e in events],
            "committed_at": now,
        }
        await self.outbox.insert_one(
            {"_id": doc["_id"], "stream_id": stream_id, "version": doc["version"], "at": now}
        )
        try:
            await self.commits.insert_one(doc)
        except DuplicateKeyError as exc:
            await self.outbox.delete_one({"_id": doc["_id"]})
            raise ConcurrencyConflict(stream_id, expected_version) from exc

    async def append_many(self, appends: Sequence[tuple[str, int, Sequence[Envelope]]]) -> set[str]:
        """Append to many streams (each `(stream_id, expected_version, events)`, one stream
        at most once) in few insert commands. Returns the streams that conflicted: nothing
        was appended to those, everything else was. Any other store error is raised; what
        was appended by then stands and is published."""
        seen: set[str] = set()
        docs: list[dict[str, Any]] = []
        now = utcnow()
        for stream_id, expected_version, events in appends:
            if not events:
                continue
            if stream_id in seen:
                raise ValueError(f"stream {stream_id} given twice to append_many")
            seen.add(stream_id)
            for offset, env in enumerate(events, start=1):
                if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                    raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")
            docs.append({"_id": new_id(), "stream_id": stream_id, "version": expected_version + 1,
                         "last_version": expected_version + len(events),
                         "events": [e.to_doc() for e in events], "committed_at": now})
        conflicts: set[str] = set()

        async def insert(chunk: list[dict[str, Any]]) -> None:
            await self.outbox.insert_many(
                [{"_id": d["_id"], "stream_id": d["stream_id"], "version": d["version"], "at": now}
                 for d in chunk], ordered=False)
            try:
                await self.commits.insert_many(chunk, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
                lost = [chunk[e["index"]] for e in errors if e.get("code") == DUPLICATE_KEY]
                if lost:
                    await self.outbox.delete_many({"_id": {"$in": [d["_id"] for d in lost]}})
                    conflicts.update(d["stream_id"] for d in lost)
                if others:
                    raise

        # MANY_IN_FLIGHT chunks at a time: the service prepares one while the store writes another.
        await store.gather_chunked((lambda c=docs[i:i + MANY_CHUNK]: insert(c)
                                    for i in range(0, len(docs), MANY_CHUNK)), MANY_IN_FLIGHT)
        return conflicts

    async def read_stream(self, stream_id: str) -> list[Envelope]:
        out: list[Envelope] = []
        async for commit in self.commits.find({"stream_id": stream_id}).sort("version", ASCENDING):
            out.extend(Envelope.model_validate(e) for e in commit["events"])
        return out

    async def unpublished(self, limit: int) -> list[dict[str, Any]]:
        """Commits not yet on Kafka, whole streams at a time, each stream in version order.

        A stream whose earliest pointer has no commit yet (an append in flight) is
        held back entirely, so a later version is never sent before an earlier one.
        """
        picked = [p["stream_id"] async for p in self.outbox.find({}, {"stream_id": 1}).limit(limit)]
        if not picked:
            return []
        # Every pointer of the picked streams, not only those under the limit: the
        # outbox is small, and a stream's earlier commits must go first.
        pointers = [p async for p in self.outbox.find({"stream_id": {"$in": list(set(picked))}})]
        pointers.sort(key=lambda p: (p["stream_id"], p["version"]))
        by_id = await store.find_by_ids(self.commits, [p["_id"] for p in pointers])
        found = [by_id.get(p["_id"]) for p in pointers]
        now = utcnow()
        out: list[dict[str, Any]] = []
        blocked: set[str] = set()
        orphans: list[str] = []
        for pointer, commit in zip(pointers, found):
            if pointer["stream_id"] in blocked:
                continue
            if commit is None:
                at = pointer["at"] if pointer["at"].tzinfo else pointer["at"].replace(tzinfo=now.tzinfo)
                if now - at > ORPHAN_AFTER:
                    orphans.append(pointer["_id"])
                else:
                    blocked.add(pointer["stream_id"])
                continue
            out.append(commit)
        for orphan in orphans:
            await self.outbox.delete_one({"_id": orphan})
        return out

    async def mark_published(self, commit_ids: Sequence[str]) -> None:
        await store.gather_chunked(lambda i=i: self.outbox.delete_one({"_id": i}) for i in commit_ids)

    async def count_unpublished(self) -> int:
        return await self.outbox.count_documents({})
