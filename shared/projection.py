"""Projections (读模型) as pure folds, and the idempotency guard.

A projection says, per event type, which document an event belongs to (`key`) and
how it changes that document (`apply`, which mutates the dict it is given). The
kernel loads the documents a batch touches, folds the batch in memory and writes
each changed document once.

Idempotency: every document remembers, per source stream, the last stream version it
has applied (`_applied`). An event at or below that version is skipped, so a
redelivered or replayed event changes nothing. Per-stream order is guaranteed by
Kafka (message key = stream id), which is what makes "last version" sufficient.

Provenance: a document belongs to the jurisdiction whose event created it (kept in
`_applied` under OWNER, invisible to readers). An event of a jurisdiction that neither
covers it nor is covered by it (another county) cannot change it: the fold raises
ApplyFailed and the kernel dead-letters the event. So a county that chooses a class,
session or cadre id already used by another county reaches none of that county's
documents, whatever id it picks. Documents written before this rule get their owner
from the first event applied after it. A projection whose documents belong to the
jurisdiction their key names rather than to whoever writes first (`owner`: a province-run
class's report, written by each county's graduates) says so; a document stored with a
narrower owner than that is given the wider one by the next event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared import jurisdiction as jur
from shared.events import Envelope, Event

Doc = dict[str, Any]
KeyFn = Callable[[Envelope, Any], str | None]
ApplyFn = Callable[[Doc, Envelope, Any], None]
TouchFn = Callable[[Envelope, Any], Iterable[str]]
META = ("_id", "_applied", "_rev")
# The owner's entry in `_applied`: no stream id starts with "$" (guard_key turns "$" into
# this fullwidth sign), so it cannot be a stream's entry.
OWNER = "\uff04owner"
# The plain personal values a document may hold, per person (shared/projector.py, `scrub`).
PII = "\uff04pii"
# The token of the write that stored the document (shared/projector.py, `_bulk`): tells a
# writer whether its own replace landed or another instance's did.
WRITE = "\uff04write"


class ForeignJurisdiction(Exception):
    """An event of one jurisdiction aimed at a document another one owns."""

    def __init__(self, doc_id: str, owner: str, jurisdiction: str) -> None:
        super().__init__(
            f"provenance: document {doc_id!r} belongs to jurisdiction {owner}; "
            f"an event of jurisdiction {jurisdiction} may not change it"
        )


# Cached: asked for every event a projection folds, of the few jurisdictions a deployment meets.
@functools.lru_cache(maxsize=4096)
def related(a: str, b: str) -> bool:
    """Whether one of two jurisdictions lies within the other (a county and its city or province)."""
    return jur.covers(a, b) or jur.covers(b, a)


def guard_key(stream_id: str) -> str:
    # Field names may not contain "." or start with "$".
    return stream_id.replace(".", "\uff0e").replace("$", "\uff04")


@dataclass
class Handler:
    key: KeyFn
    apply: ApplyFn
    # The paths of the document (dotted; keys as guard_key makes them) that `apply` may change,
    # the guard aside. Given, a stored document is updated at those paths only ($set/$unset)
    # instead of rewritten whole (shared/projector.py, `partial_update`). None: rewritten.
    touches: TouchFn | None = None


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
    # The jurisdiction owning the document an event reaches, when not the first writer's
    # (None from it: the first writer's, as for every other projection).
    owner: Callable[[Envelope, Any], str | None] | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)
    # False: the read model keeps no personal value (counters only), so the projector opens
    # nothing with the vault's keys and every sealed value folds as unreadable: a province
    # dashboard met two million registrations of its counties' people, each looked up in its
    # own vault in vain (shared/personal.Sealer.open).
    personal: bool = True
    # Top-level fields of its documents that can grow long and that nobody filters on in the
    # store (a class's nominations): stored packed where the store profile packs
    # (shared/store.py, "Packed fields"), read back as they were.
    packed: tuple[str, ...] = ()
    # True: its own handlers put "已删除" wherever a person's values stand in its documents when
    # they fold the person's erasure (selection's registry entry: name, number, birth date), so
    # the projector notes no plain values in their guard for its scrub (`_applied.＄pii`,
    # shared/projector.py `remember_pii`). A registry entry's note was 5 of its ~22 elements,
    # stored for each of an import's 20,000 rows: FerretDB and PostgreSQL spend their CPU per
    # element (docs/benchmarks.md, "Registry documents without their defaults"). Documents
    # noted before are still found and blanked by the scrub.
    erases_itself: bool = False

    def __post_init__(self) -> None:
        self.collection = self.collection or self.name

    def on(
        self, event_cls: type[Event], key: KeyFn | None = None, touches: TouchFn | None = None
    ) -> Callable[[ApplyFn], ApplyFn]:
        def add(fn: ApplyFn) -> ApplyFn:
            self.handlers[event_cls.event_type] = Handler(key or (lambda env, ev: env.stream_id), fn, touches)
            return fn

        return add

    def route(
        self, env: Envelope, event: Event, serves: Callable[[str], bool] | None = None
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
            owner = applied.get(OWNER)
            claimed = self.owner(env, event) if self.owner is not None else None
            if claimed and (owner is None or (owner != claimed and jur.covers(claimed, owner))):
                owner = claimed
            if owner is not None and not related(owner, env.jurisdiction):
                raise ApplyFailed(index, ForeignJurisdiction(doc_id, owner, env.jurisdiction))
            try:
                handler.apply(doc, env, event)
            except Exception as exc:  # noqa: BLE001 - reported with the event that caused it
                raise ApplyFailed(index, exc) from exc
            applied[gk] = env.stream_version
            applied[OWNER] = owner or env.jurisdiction
            changed.add(doc_id)
        return changed


def public(doc: Doc) -> Doc:
    """A projection document without the kernel's bookkeeping fields."""
    return {k: v for k, v in doc.items() if k not in META}
