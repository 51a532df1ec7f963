"""Deciders and the one way a command changes an aggregate.

An aggregate is three pure things (see design/style.md):

    initial() -> state
    decide(state, command) -> list[Event]     (or raise DomainError saying why)
    evolve(state, event) -> state

`CommandHandler.execute` loads the stream, folds it, decides, and appends with the
version it read. On a conflict it decides again on the fresh state (the rules are
re-checked, so a capacity can never be exceeded), after a short random pause that
grows with each try so that many requests racing for one aggregate (a department
confirming a whole list at once) spread out; after a few tries it gives up with
ConcurrencyConflict (HTTP 409).

Retries (see shared/idempotency.py): a command sent with an Idempotency-Key appends its
commit under an id derived from the key, so a retry first looks that commit up and,
if the first attempt stored it, answers with its events instead of deciding again (a
crash between the append and the remembered answer then costs nothing). A decider that
knows a natural key raises AlreadyApplied: a retry of the same content is answered
with the commit that applied it, a different content is refused.

`CommandHandler.append_many` is the same for a long list of commands on different
aggregates (an import): each is decided on a state the caller already holds (a new
aggregate, or what a read model shows), all are appended with `EventStore.append_many`
in few inserts, and only a command whose stream turned out to have moved on is decided
again on the stored stream, through `execute`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, OrderedDict
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shared.errors import AlreadyApplied, ConcurrencyConflict, GanxunError
from shared.events import CATALOGUE, Actor, Catalogue, Envelope, Event, utcnow
from shared.eventstore import EventStore
from shared.ids import fresh_id, next_commit_id

if TYPE_CHECKING:
    from shared.auth import Principal

S = TypeVar("S")
# append_many decides and appends this many commands at a time, this many slices at once.
MANY_SLICE = 1_000
MANY_SLICES_IN_FLIGHT = 2


class Decider(Protocol[S]):
    def initial(self) -> S: ...
    def decide(self, state: S, command: Any) -> list[Event]: ...
    def evolve(self, state: S, event: Event) -> S: ...


def fold(decider: Decider[S], events: list[Event]) -> S:
    state = decider.initial()
    for e in events:
        state = decider.evolve(state, e)
    return state


def decide_all(decider: Decider[S], state: S, commands: Any) -> list[Event]:
    """Several commands on one aggregate as one decision (a clerk's list): each is decided
    on the state the ones before it left; one refusal refuses the whole list, and the
    events of an accepted list are appended as one commit."""
    out: list[Event] = []
    for command in commands:
        events = decider.decide(state, command)
        for e in events:
            state = decider.evolve(state, e)
        out.extend(events)
    return out


@dataclass(frozen=True)
class Several:
    """A list of commands for `decide_all` (a decider matches it and calls decide_all)."""

    commands: tuple


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


@dataclass(frozen=True)
class Context:
    """Who asks, for which jurisdiction, as part of which conversation."""

    actor: Actor
    jurisdiction: str
    correlation_id: str
    causation_id: str | None = None


@dataclass
class Loaded(Generic[S]):
    state: S
    version: int
    jurisdiction: str | None


@dataclass(frozen=True)
class Planned:
    """One command of an `append_many`: its stream, and the aggregate as the caller believes
    it stands (`None`: a new aggregate, version 0)."""

    stream_id: str
    command: Any
    believed: Loaded | None = None


def within(who: Principal) -> Callable[[Loaded], None]:
    """The usual `authorize` for `execute`: the principal's jurisdiction must cover the
    aggregate's (a new aggregate is created in the token's own jurisdiction)."""

    def check(loaded: Loaded) -> None:
        if loaded.jurisdiction is not None:
            who.require_covers(loaded.jurisdiction)

    return check


class CommandHandler:
    def __init__(
        self,
        store: EventStore,
        catalogue: Catalogue = CATALOGUE,
        on_appended: Callable[[], None] | None = None,
        retries: int = 8,
        cache_size: int = 5_000,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.on_appended = on_appended or (lambda: None)
        self.retries = retries
        # The aggregates this process last appended to, as they stood after its append.
        # Safe to trust without reading: an append is conditional on the version, so a
        # copy made stale by another process fails with a conflict and is reloaded; a
        # refusal (or an empty decision) made on a copy is checked again on the stored
        # stream before it is given. Saves the stream read, a growing one (a class's
        # nominations, a county's timetable), on each command of a clerk working
        # through a list.
        self._cache: OrderedDict[tuple[type, str], Loaded] = OrderedDict()
        self.cache_size = cache_size
        # Commands of this process on one aggregate, one at a time (see `_one_at_a_time`).
        self._turns: dict[tuple[type, str], _Turn] = {}

    async def load(self, decider: Decider[S], stream_id: str) -> Loaded[S]:
        envelopes = await self.store.read_stream(stream_id)
        events = [
            self.catalogue.model(e.type).model_validate(self.catalogue.upcast(e).payload) for e in envelopes
        ]
        return Loaded(
            state=fold(decider, events),
            version=envelopes[-1].stream_version if envelopes else 0,
            jurisdiction=envelopes[0].jurisdiction if envelopes else None,
        )

    async def execute(
        self,
        decider: Decider[S],
        stream_id: str,
        command: Any,
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None = None,
        believed: Loaded[S] | None = None,
    ) -> list[Envelope]:
        """Decide and append. `authorize` sees the loaded aggregate before deciding.

        `believed`: the aggregate as the caller's read model shows it (a registry without
        this person: a new aggregate), decided on instead of reading the stream when this
        process holds no copy. Trusted like the copy (below): an append on a stale belief
        conflicts and is decided again on the stored stream, and a refusal is only given
        on the stored stream."""
        key = (type(decider), stream_id)  # deciders are stateless: the class names the fold
        async with self._one_at_a_time(key):
            return await self._execute(key, decider, stream_id, command, ctx, authorize, believed)

    @asynccontextmanager
    async def _one_at_a_time(self, key: tuple[type, str]):
        """This process's commands on one aggregate take turns. Optimistic appends alone are
        correct, but many requests racing for one aggregate in one process (a unit's
        nominations into a class, a school's courses into its catalogue) all read the same
        version, one wins, and every other reloads the stream and tries again: at 15
        nominations a second into four classes, most of the service's time went into
        reloading and re-deciding. Taking turns, each decides on the copy the one before
        left (the cache below), with no read and no conflict; other processes still race
        optimistically, and lose nothing by it."""
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.waiting += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.waiting -= 1
            if not turn.waiting:
                del self._turns[key]

    # long: the optimistic append's one loop: replay, load, authorise, decide, append, retry
    async def _execute(
        self,
        key: tuple[type, str],
        decider: Decider[S],
        stream_id: str,
        command: Any,
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None,
        believed: Loaded[S] | None = None,
    ) -> list[Envelope]:
        request_commit = next_commit_id()  # None unless the request carries an Idempotency-Key
        commit_id = None
        for attempt in range(self.retries):
            if request_commit is not None:
                commit_id, stored = await self.store.applied(request_commit)
                if stored is not None:
                    if stored and stored[0].stream_id == stream_id:
                        return stored  # the first attempt's commit: its answer again
                    commit_id = None  # the route took another path this time
            loaded = (self._cache.pop(key, None) or believed) if attempt == 0 else None
            remembered = loaded is not None
            if loaded is None:
                loaded = await self.load(decider, stream_id)
            if authorize:
                authorize(loaded)
            try:
                events = decider.decide(loaded.state, command)
            except AlreadyApplied as repeat:
                return await self.original(stream_id, repeat)
            except GanxunError:  # a rule, a missing thing, or "not yours" (403)
                if not remembered:
                    raise
                events = None
            if remembered and not events:
                # A refusal, or "nothing to do", is only given on the stored stream: another
                # process may have changed it since this copy was made.
                loaded = await self.load(decider, stream_id)
                if authorize:
                    authorize(loaded)
                try:
                    events = decider.decide(loaded.state, command)
                except AlreadyApplied as repeat:
                    return await self.original(stream_id, repeat)
            envelopes = self.envelopes(stream_id, loaded.version, events, ctx, loaded.jurisdiction)
            try:
                await self.store.append(stream_id, loaded.version, envelopes, commit_id)
            except ConcurrencyConflict:
                if attempt == self.retries - 1:
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.02 * 2 ** min(attempt, 4)))
                continue
            state = loaded.state
            for e in events:
                state = decider.evolve(state, e)
            self._remember(
                key,
                Loaded(
                    state,
                    loaded.version + len(events),
                    loaded.jurisdiction or (envelopes[0].jurisdiction if envelopes else None),
                ),
            )
            if envelopes:
                self.on_appended()
            return envelopes
        raise AssertionError("unreachable")

    async def original(self, stream_id: str, repeat: AlreadyApplied) -> list[Envelope]:
        """The commit that applied a command the decider recognised by its natural key,
        if the retry repeats its content; else the decider's refusal."""
        for commit in await self.store.read_commits(stream_id):
            for env in commit:
                if env.type == repeat.event_type and all(
                    env.payload.get(k) == v for k, v in repeat.key.items()
                ):
                    if all(env.payload.get(k) == v for k, v in repeat.content.items()):
                        return commit
                    raise repeat  # the same key, another content: refused
        raise repeat

    async def append_many(
        self,
        decider: Decider[S],
        planned: list[Planned],
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None = None,
    ) -> list[list[Envelope] | GanxunError]:
        """Decide each planned command on the state it names and append all of them in few
        inserts. Returns, per command and in order, its envelopes or the error that refused
        it (one refusal refuses only its own command). A stream that conflicts (it existed,
        or moved past the believed version) is decided again on its stored events.

        Decided and appended MANY_SLICE commands at a time, MANY_SLICES_IN_FLIGHT slices at
        once: the next slice is decided while the store writes the one before."""
        twice = [s for s, n in Counter(p.stream_id for p in planned).items() if n > 1]
        if twice:
            raise ValueError(f"stream {twice[0]} planned twice")
        gate = asyncio.Semaphore(MANY_SLICES_IN_FLIGHT)

        async def one(part: list[Planned]) -> list[list[Envelope] | GanxunError]:
            async with gate:
                return await self._append_slice(decider, part, ctx, authorize)

        slices = await asyncio.gather(
            *(one(planned[i : i + MANY_SLICE]) for i in range(0, len(planned), MANY_SLICE))
        )
        results = [r for part in slices for r in part]
        if any(isinstance(r, list) and r for r in results):
            self.on_appended()
        return results

    async def _append_slice(
        self,
        decider: Decider[S],
        planned: list[Planned],
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None,
    ) -> list[list[Envelope] | GanxunError]:
        results: list[list[Envelope] | GanxunError] = [[] for _ in planned]
        appends: dict[str, tuple[int, Loaded, list[Envelope]]] = {}
        for i, p in enumerate(planned):
            loaded = p.believed or Loaded(decider.initial(), 0, None)
            try:
                if authorize:
                    authorize(loaded)
                events = decider.decide(loaded.state, p.command)
            except GanxunError as exc:
                results[i] = exc
                continue
            envelopes = self.envelopes(p.stream_id, loaded.version, events, ctx, loaded.jurisdiction)
            appends[p.stream_id] = (i, loaded, envelopes)
        conflicts = await self.store.append_many(
            [(sid, loaded.version, envs) for sid, (_, loaded, envs) in appends.items()]
        )
        for sid, (i, _, envelopes) in appends.items():
            if sid in conflicts:
                try:
                    results[i] = await self.execute(decider, sid, planned[i].command, ctx, authorize)
                except GanxunError as exc:
                    results[i] = exc
                continue
            results[i] = envelopes
            # Not remembered (`_cache`), and an older copy forgotten: a bulk append's aggregates
            # are seldom the next commands', and 5,000 of an import's cadres were each evolved
            # again into a copy of their record, kept after the import (3.6 MB of selection at
            # its peak; docs/benchmarks.md, "The import's memory and rate"). A later command
            # reads its stream, as in any other process.
            self._cache.pop((type(decider), sid), None)
        return results

    def _remember(self, key: tuple[type, str], loaded: Loaded) -> None:
        held = self._cache.get(key)
        if held is not None and held.version > loaded.version:
            return  # a concurrent command already left a newer copy
        self._cache[key] = loaded
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    @staticmethod
    def envelopes(
        stream_id: str, version: int, events: list[Event], ctx: Context, jurisdiction: str | None = None
    ) -> list[Envelope]:
        now = utcnow()
        return [
            Envelope(
                event_id=fresh_id(),
                type=e.event_type,
                schema_version=e.schema_version,
                stream_id=stream_id,
                stream_version=version + i,
                occurred_at=now,
                recorded_at=now,
                # An aggregate keeps the jurisdiction it was created under.
                jurisdiction=jurisdiction or ctx.jurisdiction,
                actor=ctx.actor,
                correlation_id=ctx.correlation_id,
                causation_id=ctx.causation_id,
                payload=e.model_dump(mode="json"),
            )
            for i, e in enumerate(events, start=1)
        ]
