"""Read-your-writes: a command answers with a token naming what it wrote, and a read given
that token waits, bounded, until this service's projections have applied it.

A token is `<service>.<jurisdiction>:<stream id>@<version>` (the topic the events go out on,
less its prefix, the stream and the version of its last event), several joined by ",". A
command answer carries it in its body (`token`) and in the `X-Ganxun-Token` header; a read
sends it back in `X-Ganxun-After`. The read then waits until every projection of this
service that follows that topic has folded the stream up to that version, and answers with
`X-Ganxun-Consistency`: `fresh` (reached), `stale` (the bound passed first: the answer is
what there is) or `unrelated` (no projection here follows those events).

How a wait learns that a projection has reached a stream version (docs/backbone.md,
"Read-your-writes"):
- In the process whose projector folded the event: the writer reports every stream version
  it handled (`Progress.note`), which wakes the waiters; no read of the store.
- Anywhere else (several processes of one service, where another process's projector owns
  the stream's partition; an API-only process): `StoreCheck` looks at what the store says.
  The commit is on Kafka once its outbox pointer is gone; the partition's end offset at
  that moment is past the event; the projection has applied the event once the position
  it records in the store (`projection_positions`, written after the fold) reaches that
  offset. Both checks run while a read waits, so the wait is right either way.

Once a wait is fresh, what it waited for is handed to the reads that hold a projection in
memory (`Applied`, `Runtime.wait_for`): in a process without the projectors they reload it
only every few seconds, and take the documents the token's commit reached at once instead.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote, unquote

import structlog

from shared import topics
from shared.errors import DomainError
from shared.events import CATALOGUE
from shared.eventstore import COLLECTION as COMMITS
from shared.eventstore import OUTBOX
from shared.projection import Projection
from shared.projector import POSITIONS, stored_position

log = structlog.get_logger("consistency")

AFTER_HEADER = "x-ganxun-after"
TOKEN_HEADER = "x-ganxun-token"
STATE_HEADER = "x-ganxun-consistency"
FRESH, STALE, UNRELATED = "fresh", "stale", "unrelated"
# Streams per projection whose last folded version a process remembers: a token is used
# within seconds of its command, and an older one is answered by the store's check. Each
# projection notes every stream of every batch it reads, so at 50,000 a process folding a
# county's years held them all: selection's three projections over the ~37,000 streams of
# three years at 20,000 cadres are 7.7 MiB (tracemalloc), teaching has eleven projections
# (issue 16, memory per service). 10,000 is a minute of a batch's streams at 50 commands/s.
REMEMBERED = 10_000
# Tokens in one header: a page sends what its user wrote since its last read.
MAX_TOKENS = 20
# How often a waiting read asks the store, when this process's projectors have not
# reported the version (another process owns the partition).
STORE_EVERY = 0.1
STREAM_SAFE = "-_.~:"
_TOKEN = re.compile(r"^([a-z]+)\.([1-9]\d{5}):(.{1,200})@([1-9]\d{0,9})$")


@dataclass(frozen=True)
class Written:
    """One stream version a command wrote."""

    service: str
    jurisdiction: str
    stream_id: str
    version: int

    @property
    def topic(self) -> str:
        return topics.events_topic(self.service, self.jurisdiction)

    def __str__(self) -> str:
        # Percent-encoded: a token travels in a header (latin-1 only, and `,` separates
        # tokens), while a stream id may carry any character a client chose.
        return f"{self.service}.{self.jurisdiction}:{quote(self.stream_id, safe=STREAM_SAFE)}@{self.version}"


def parse(header: str) -> list[Written]:
    """The tokens of an `X-Ganxun-After` header; a malformed one is refused by name."""
    parts = [p.strip() for p in header.split(",") if p.strip()]
    if len(parts) > MAX_TOKENS:
        raise DomainError(
            f"X-Ganxun-After 最多可带 {MAX_TOKENS} 个一致性令牌，收到 {len(parts)} 个。",
            code="bad_consistency_token",
            field="X-Ganxun-After",
        )
    out = []
    for part in parts:
        m = _TOKEN.match(part)
        if m is None or m.group(1) not in topics.SERVICES:
            raise DomainError(
                f"X-Ganxun-After 中的“{part[:60]}”不是有效的一致性令牌"
                "（应为写入操作应答中的 token，形如 selection.371428:cd-…@1）。",
                code="bad_consistency_token",
                field="X-Ganxun-After",
            )
        out.append(Written(m.group(1), m.group(2), unquote(m.group(3)), int(m.group(4))))
    return out


# The tokens of what the current request wrote: the API's middleware puts a list here, the
# route's answer (`token_of`) adds to it, and the middleware sends them in X-Ganxun-Token.
_written: ContextVar[list[str] | None] = ContextVar("ganxun_written", default=None)


def collect() -> list[str]:
    """Start collecting the tokens of the current request (the middleware's side)."""
    found: list[str] = []
    _written.set(found)
    return found


def token_of(service: str, envelopes: Sequence) -> str | None:
    """The token of a command's events (one commit: one stream), noted for the response header."""
    if not envelopes:
        return None
    last = envelopes[-1]
    token = str(Written(service, last.jurisdiction, last.stream_id, last.stream_version))
    found = _written.get()
    if found is not None:
        found.append(token)
    return token


class Progress:
    """What this process's projection writers have folded: per projection, the last version
    of each stream it handled (applied, skipped as not its own, or dead-lettered: in any case
    done with). Waiters sleep on an event the writers set after each batch."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._seen: dict[str, OrderedDict[str, int]] = {}
        self._changed = asyncio.Event()

    def note(self, projection: str, streams: Iterable[tuple[str, int]]) -> None:
        seen = self._seen.setdefault(projection, OrderedDict())
        for stream_id, version in streams:
            if seen.get(stream_id, 0) < version:
                seen[stream_id] = version
            seen.move_to_end(stream_id)
        while len(seen) > self.remembered:
            seen.popitem(last=False)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def reached(self, projection: str, stream_id: str, version: int) -> bool:
        return self._seen.get(projection, {}).get(stream_id, 0) >= version

    async def changed(self, within: float) -> None:
        """Until a writer reports a batch, or `within` seconds."""
        try:
            await asyncio.wait_for(self._changed.wait(), within)
        except TimeoutError:
            pass


# (projection name, what was written) -> whether the store shows it applied.
StoreProbe = Callable[[str, Written], Awaitable[bool]]


async def wait(
    needs: list[tuple[str, Written]],
    progress: Progress,
    timeout: float,
    in_store: StoreProbe | None = None,
    store_after: float = 0.0,
    store_every: float = STORE_EVERY,
) -> bool:
    """Until every (projection, written) pair is applied, by this process's writers or as the
    store shows (`in_store`, asked from `store_after` seconds on, every `store_every` seconds);
    False when `timeout` passes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_store = loop.time() + store_after
    pending = list(needs)
    while True:
        pending = [(p, w) for p, w in pending if not progress.reached(p, w.stream_id, w.version)]
        now = loop.time()
        if pending and in_store is not None and now >= next_store:
            pending = [(p, w) for p, w in pending if not await in_store(p, w)]
            next_store = loop.time() + store_every
            now = loop.time()
        if not pending:
            return True
        if now >= deadline:
            return False
        until = deadline - now if in_store is None else min(deadline, next_store) - now
        await progress.changed(max(until, 0.001))


class StoreCheck:
    """Whether the store shows a projection has applied a stream version (see the module's
    docstring): the commit's outbox pointer is gone, and the projection's recorded position
    on the stream's partition has reached the partition's end offset seen after that. A
    projection with no handler for the commit's event types has nothing to apply: it records
    no position for batches without its events, so asking its position would wait in vain."""

    def __init__(
        self,
        db,
        handles: dict[str, set[str]],
        partition_of: Callable[[str, str], Awaitable[int]],
        end_offset: Callable[[str, int], Awaitable[int]],
    ) -> None:
        self.commits = db[COMMITS]
        self.outbox = db[OUTBOX]
        self.positions = db[POSITIONS]
        self.handles = handles
        self.partition_of = partition_of
        self.end_offset = end_offset

    def probe(self) -> Probe:
        """One waiting read's probe: it finds each token's commit, partition and end offset once."""
        return Probe(self)


class Probe:
    """A `StoreProbe` for one waiting read (`StoreCheck.probe`), which keeps the commits it read:
    once the read is fresh they say which documents the writes reached (`Applied`)."""

    def __init__(self, check: StoreCheck) -> None:
        self.check = check
        self.commits: dict[Written, dict] = {}
        self.types: dict[Written, set[str]] = {}
        self.ends: dict[Written, tuple[int, int]] = {}

    async def commit(self, w: Written) -> dict | None:
        """The stored commit holding the token's version (read once per probe)."""
        if w not in self.commits:
            commit = await self.check.commits.find_one(
                {
                    "stream_id": w.stream_id,
                    "version": {"$lte": w.version},
                    "last_version": {"$gte": w.version},
                }
            )
            if commit is None:  # no such write (a valid token's commit is stored before its answer)
                return None
            self.commits[w] = commit
        return self.commits[w]

    async def __call__(self, projection: str, w: Written) -> bool:
        check = self.check
        try:
            if w not in self.types:
                commit = await self.commit(w)
                if commit is None:
                    return False
                self.types[w] = {e["type"] for e in commit["events"]}
            if not self.types[w] & check.handles.get(projection, set()):
                return True
            if w not in self.ends:
                unpublished = {"stream_id": w.stream_id, "version": {"$lte": w.version}}
                if await check.outbox.find_one(unpublished, {"_id": 1}) is not None:
                    return False
                partition = await check.partition_of(w.topic, w.stream_id)
                self.ends[w] = (partition, await check.end_offset(w.topic, partition))
            partition, end = self.ends[w]
            at = await stored_position(check.positions, projection, w.topic, partition)
        except Exception:  # noqa: BLE001 - the store or Kafka away: the read waits out its bound
            log.warning("consistency.store_check_failed", projection=projection, token=str(w))
            return False
        return at is not None and at >= end


# (projection name, one stored event of a commit) -> the id of the document the projection
# folds it into, or None (not one of its events, or not about this deployment).
Router = Callable[[str, dict], str | None]


def router(projections: Iterable[Projection], serves: Callable[[str], bool]) -> Router:
    """The `Router` of a service's projections: each handler's key over the event's payload as
    stored (its fields by name: a sealed personal value is no key, and no payload is validated)."""
    by_name = {p.name: p for p in projections}

    def route(projection: str, event: dict) -> str | None:
        p = by_name.get(projection)
        if p is None or event.get("type") not in p.handlers:
            return None
        try:
            env = CATALOGUE.upcast(CATALOGUE.envelope(event))
            routed = p.route(env, SimpleNamespace(**env.payload), serves)
        except Exception:  # noqa: BLE001 - an event the projector would dead-letter reaches no document
            log.warning("consistency.route_failed", projection=projection, event_type=event.get("type"))
            return None
        return None if routed is None else routed[0]

    return route


class Applied:
    """What a fresh read waited for, as the documents of this service's projections those writes
    reached: a read model held in memory by a process without the projectors (selection's read
    index, follow-up's work list) puts those documents, read from the
    store, into what it holds before the read answers (`Runtime.on_fresh`). Asked only by such a
    process; the commits are those the wait's store probe read (the commit a token names, so
    only what it wrote up to the token's version: not the stream's earlier commits)."""

    def __init__(
        self,
        needs: list[tuple[str, Written]],
        commit: Callable[[Written], Awaitable[dict | None]],
        route: Router,
    ) -> None:
        self.needs = needs
        self.commit = commit
        self.route = route

    async def documents(self, projection: str) -> set[str]:
        """The ids of the projection's documents the named writes were folded into."""
        out: set[str] = set()
        for name, w in self.needs:
            if name != projection:
                continue
            commit = await self.commit(w)
            for event in commit["events"] if commit is not None else ():
                if event.get("stream_version", 0) <= w.version:
                    doc_id = self.route(projection, event)
                    if doc_id is not None:
                        out.add(doc_id)
        return out
