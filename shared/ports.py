"""The narrow ports a service's handlers and reads stand on.

A handler receives what it needs and nothing else (design/style.md, after cosmicpython's
`bootstrap`): the command executor for its deciders (`Commands`), its own service's
reads (each service's `reads.py`), and a `Clock` when a rule needs "today". The service's
bootstrap composes the real adapters (`shared.commands.CommandHandler` on the MongoDB
event store, reads over the service's collections, the store-backed clock); handler
tests compose the fakes of `shared.memory` the same way, and start no server.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from shared.commands import Context, Decider, Loaded, Planned
from shared.errors import GanxunError
from shared.events import Envelope

S = TypeVar("S")


class Commands(Protocol):
    """Decide on a stream's state and append, with the optimistic retry
    (`shared.commands.CommandHandler` is the one implementation, over any event store)."""

    async def load(self, decider: Decider[S], stream_id: str) -> Loaded[S]: ...

    async def execute(
        self,
        decider: Decider[S],
        stream_id: str,
        command: Any,
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None = None,
        believed: Loaded[S] | None = None,
    ) -> list[Envelope]: ...

    async def append_many(
        self,
        decider: Decider[S],
        planned: list[Planned],
        ctx: Context,
        authorize: Callable[[Loaded[S]], None] | None = None,
    ) -> list[list[Envelope] | GanxunError]: ...


class Clock(Protocol):
    """Today and now in the deployment's time (China Standard Time), moved by the
    development offset where one is allowed (shared/clock.py)."""

    async def today(self) -> date: ...

    async def now(self) -> datetime: ...


class PersonKeys(Protocol):
    """The deployment's per-person keys (shared/personal.py `Vault`): erasing a person
    deletes theirs, so every value sealed under it is unreadable from then on."""

    async def erase(self, person: str) -> None: ...

    # Each person's key, `personal.Gone` once erased, absent when this deployment holds none;
    # `new`: persons most likely without one yet (their own aggregate is being created).
    async def keys(
        self, persons: Iterable[str], create: bool = False, new: Collection[str] = ()
    ) -> dict[str, Any]: ...
