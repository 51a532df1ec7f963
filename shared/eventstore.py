"""The event store on MongoDB (FerretDB in development).

One document per append, a *commit*, holding the 1..n events of one command: a
multi-event command is then a single insert, atomic without multi-document
transactions (FerretDB has none). A commit's `version` is the stream version of its
first event, and the unique index on (stream_id, version) is the optimistic
concurrency check: two writers that read the stream at the same version both try to
claim version+1 and exactly one wins.

The same documents are the outbox: `published` stays false until the relay has had
every event of the commit acknowledged by Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.errors import ConcurrencyConflict
from shared.events import Envelope, utcnow
from shared.ids import new_id

COLLECTION = "events"


class EventStore:
    def __init__(self, db: AsyncDatabase, collection: str = COLLECTION) -> None:
        self.db = db
        self.commits = db[collection]

    async def ensure_indexes(self) -> None:
        await self.commits.create_index(
            [("stream_id", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )
        await self.commits.create_index([("published", ASCENDING)], name="outbox")

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
        doc = {
            "_id": new_id(),
            "stream_id": stream_id,
            "version": expected_version + 1,
            "last_version": expected_version + len(events),
            "events": [e.to_doc() for e in events],
            "published": False,
            "committed_at": utcnow(),
        }
        try:
            await self.commits.insert_one(doc)
        except DuplicateKeyError as exc:
            raise ConcurrencyConflict(stream_id, expected_version) from exc

    async def read_stream(self, stream_id: str) -> list[Envelope]:
        out: list[Envelope] = []
        async for commit in self.commits.find({"stream_id": stream_id}).sort("version", ASCENDING):
            out.extend(Envelope.model_validate(e) for e in commit["events"])
        return out

    async def unpublished(self, limit: int) -> list[dict[str, Any]]:
        """Unpublished commits, whole streams at a time, each stream in version order.

        Candidates are picked first, then *every* unpublished commit of their streams
        is read in (stream, version) order, so a later version is never sent before
        an earlier one, whatever order the commits were written in.
        """
        streams: list[str] = []
        async for c in self.commits.find({"published": False}, {"stream_id": 1}).limit(limit):
            if c["stream_id"] not in streams:
                streams.append(c["stream_id"])
        if not streams:
            return []
        cursor = self.commits.find({"published": False, "stream_id": {"$in": streams}})
        commits = [c async for c in cursor]
        commits.sort(key=lambda c: (c["stream_id"], c["version"]))
        return commits

    async def mark_published(self, commit_ids: Sequence[str]) -> None:
        if commit_ids:
            await self.commits.update_many({"_id": {"$in": list(commit_ids)}}, {"$set": {"published": True}})

    async def count_unpublished(self) -> int:
        return await self.commits.count_documents({"published": False})
