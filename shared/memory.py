"""In-memory adapters behind the kernel's ports, for handler tests that start no server.

`MemoryEventStore` keeps commits in a dict with the same promises as `EventStore` (the
optimistic version check, one commit per command, a retried request's commit found by
its id), so `CommandHandler(MemoryEventStore())` is a real executor: the deciders, the
retry and the natural-key check run as in production. `fold_projection` runs a
service's declarative projection over events into plain documents, from which a
service's fake reads answer. `FixedClock` is a clock a test sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from shared.clock import CHINA
from shared.errors import ConcurrencyConflict
from shared.events import CATALOGUE, Catalogue, Envelope, Event
from shared.ids import new_id
from shared.projection import Projection


class MemoryEventStore:
    def __init__(self) -> None:
        self.commits: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, list[str]] = {}

    async def ensure_indexes(self) -> None:
        return None

    def _check(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> None:
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")

    def _version(self, stream_id: str) -> int:
        ids = self.streams.get(stream_id, [])
        return self.commits[ids[-1]]["last_version"] if ids else 0

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Envelope],
                     commit_id: str | None = None) -> None:
        if not events:
            return
        self._check(stream_id, expected_version, events)
        cid = commit_id or new_id()
        if cid in self.commits or self._version(stream_id) != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version)
        self.commits[cid] = {"stream_id": stream_id, "version": expected_version + 1,
                             "last_version": expected_version + len(events), "events": list(events)}
        self.streams.setdefault(stream_id, []).append(cid)

    async def append_many(self, appends: Sequence[tuple[str, int, Sequence[Envelope]]]) -> set[str]:
        conflicts: set[str] = set()
        for stream_id, expected_version, events in appends:
            try:
                await self.append(stream_id, expected_version, events)
            except ConcurrencyConflict:
                conflicts.add(stream_id)
        return conflicts

    async def applied(self, commit_id: str) -> tuple[str, list[Envelope] | None]:
        doc = self.commits.get(commit_id)
        return commit_id, (None if doc is None else list(doc["events"]))

    async def read_commits(self, stream_id: str) -> list[list[Envelope]]:
        return [list(self.commits[c]["events"]) for c in self.streams.get(stream_id, [])]

    async def read_stream(self, stream_id: str) -> list[Envelope]:
        return [e for commit in await self.read_commits(stream_id) for e in commit]

    def all_events(self) -> list[Envelope]:
        """Every stored event in append order (what the relay would publish)."""
        return [e for doc in self.commits.values() for e in doc["events"]]


def fold_projection(projection: Projection, envelopes: Iterable[Envelope],
                    docs: dict[str, dict[str, Any]] | None = None,
                    catalogue: Catalogue = CATALOGUE) -> dict[str, dict[str, Any]]:
    """The projection's documents after these events, as the projector would write them."""
    docs = {} if docs is None else docs
    items = []
    for env in envelopes:
        event: Event = catalogue.model(env.type).model_validate(catalogue.upcast(env).payload)
        routed = projection.route(env, event)
        if routed is not None:
            items.append((routed[0], env, event, routed[1]))
    projection.fold(docs, items)
    return docs


@dataclass
class FixedClock:
    """A clock a test sets: `FixedClock(date(2026, 3, 2))`, moved with `.day = …`."""

    day: date
    at: time = field(default=time(9, 0))

    async def today(self) -> date:
        return self.day

    async def now(self) -> datetime:
        return datetime.combine(self.day, self.at, tzinfo=CHINA)
