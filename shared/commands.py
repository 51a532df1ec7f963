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
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shared.errors import ConcurrencyConflict
from shared.events import CATALOGUE, Actor, Catalogue, Envelope, Event, utcnow
from shared.eventstore import EventStore
from shared.ids import new_id

if TYPE_CHECKING:
    from shared.auth import Principal

S = TypeVar("S")


class Decider(Protocol[S]):
    def initial(self) -> S: ...
    def decide(self, state: S, command: Any) -> list[Event]: ...
    def evolve(self, state: S, event: Event) -> S: ...


def fold(decider: Decider[S], events: list[Event]) -> S:
    state = decider.initial()
    for e in events:
        state = decider.evolve(state, e)
    return state


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


def within(who: Principal) -> Callable[[Loaded], None]:
    """The usual `authorize` for `execute`: the principal's jurisdiction must cover the
    aggregate's (a new aggregate is created in the token's own jurisdiction)."""

    def check(loaded: Loaded) -> None:
        if loaded.jurisdiction is not None:
            who.require_covers(loaded.jurisdiction)

    return check


class CommandHandler:
    def __init__(self, store: EventStore, catalogue: Catalogue = CATALOGUE,
                 on_appended: Callable[[], None] | None = None, retries: int = 8) -> None:
        self.store = store
        self.catalogue = catalogue
        self.on_appended = on_appended or (lambda: None)
        self.retries = retries

    async def load(self, decider: Decider[S], stream_id: str) -> Loaded[S]:
        envelopes = await self.store.read_stream(stream_id)
        events = [self.catalogue.model(e.type).model_validate(self.catalogue.upcast(e).payload) for e in envelopes]
        return Loaded(
            state=fold(decider, events),
            version=envelopes[-1].stream_version if envelopes else 0,
            jurisdiction=envelopes[0].jurisdiction if envelopes else None,
        )

    async def execute(self, decider: Decider[S], stream_id: str, command: Any, ctx: Context,
                      authorize: Callable[[Loaded[S]], None] | None = None) -> list[Envelope]:
        """Decide and append. `authorize` sees the loaded aggregate before deciding."""
        for attempt in range(self.retries):
            loaded = await self.load(decider, stream_id)
            if authorize:
                authorize(loaded)
            events = decider.decide(loaded.state, command)
            envelopes = self.envelopes(stream_id, loaded.version, events, ctx, loaded.jurisdiction)
            try:
                await self.store.append(stream_id, loaded.version, envelopes)
            except ConcurrencyConflict:
                if attempt == self.retries - 1:
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.02 * 2 ** min(attempt, 4)))
                continue
            if envelopes:
                self.on_appended()
            return envelopes
        raise AssertionError("unreachable")

    @staticmethod
    def envelopes(stream_id: str, version: int, events: list[Event], ctx: Context,
                  jurisdiction: str | None = None) -> list[Envelope]:
        now = utcnow()
        return [
            Envelope(
                event_id=new_id(),
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
