"""Projections (读模型) as pure folds, and the idempotency guard.

A projection says, per event type, which document an event belongs to (`key`) and
how it changes that document (`apply`, which mutates the dict it is given). The
kernel loads the documents a batch touches, folds the batch in memory and writes
each changed document once.

Idempotency: every document remembers, per source stream, the last stream version it
has applied (`_applied`). An event at or below that version is skipped, so a
redelivered or replayed event changes nothing. Per-stream order is guaranteed by
Kafka (message key = stream id), which is what makes "last version" sufficient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.events import Envelope, Event

Doc = dict[str, Any]
KeyFn = Callable[[Envelope, Any], str | None]
ApplyFn = Callable[[Doc, Envelope, Any], None]
META = ("_id", "_applied", "_rev")


def guard_key(stream_id: str) -> str:
    # Field names may not contain "." or start with "$".
    return stream_id.replace(".", "\uff0e").replace("$", "\uff04")


@dataclass
class Handler:
    key: KeyFn
    apply: ApplyFn


class ApplyFailed(Exception):
    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.index = index
        self.cause = cause


@dataclass
class Projection:
    """A read model. `sources` are the services whose topics it follows.

    `include_ancestors` also follows the city and province topics above the
    deployment (province-run classes); `scope` then names the jurisdiction an event
    is *about* (e.g. a trainee's home county), and events about jurisdictions the
    deployment does not serve are left out.
    """

    name: str
    sources: tuple[str, ...]
    collection: str = ""
    include_ancestors: bool = False
    scope: Callable[[Envelope, Any], str | None] | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.collection = self.collection or self.name

    def on(self, event_cls: type[Event], key: KeyFn | None = None) -> Callable[[ApplyFn], ApplyFn]:
        def add(fn: ApplyFn) -> ApplyFn:
            self.handlers[event_cls.event_type] = Handler(key or (lambda env, ev: env.stream_id), fn)
            return fn

        return add

    def route(self, env: Envelope, event: Event, serves: Callable[[str], bool] | None = None
              ) -> tuple[str, Handler] | None:
        handler = self.handlers.get(env.type)
        if handler is None:
            return None
        if self.scope is not None and serves is not None:
            about = self.scope(env, event)
            if about is None or not serves(about):
                return None
        doc_id = handler.key(env, event)
        return None if doc_id is None else (doc_id, handler)

    def fold(self, docs: dict[str, Doc], items: Iterable[tuple[str, Envelope, Event, Handler]]) -> set[str]:
        """Apply items in order to `docs` (missing ids start empty). Returns changed ids.

        Raises ApplyFailed(index) when an apply function fails; the caller decides
        what to do with the item (dead-letter it) and folds again from stored docs.
        """
        changed: set[str] = set()
        for index, (doc_id, env, event, handler) in enumerate(items):
            doc = docs.get(doc_id)
            if doc is None:
                doc = docs[doc_id] = {"_id": doc_id, "_applied": {}}
            applied = doc.setdefault("_applied", {})
            gk = guard_key(env.stream_id)
            if applied.get(gk, 0) >= env.stream_version:
                continue
            try:
                handler.apply(doc, env, event)
            except Exception as exc:  # noqa: BLE001 - reported with the event that caused it
                raise ApplyFailed(index, exc) from exc
            applied[gk] = env.stream_version
            changed.add(doc_id)
        return changed


def public(doc: Doc) -> Doc:
    """A projection document without the kernel's bookkeeping fields."""
    return {k: v for k, v in doc.items() if k not in META}
