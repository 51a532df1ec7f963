"""Selection's reads: the only module besides projections.py that touches its collections.

It owns the collection names and how they are read on FerretDB 1.24, which uses an index
only for `_id` equality and answers every other find with a scan of the whole collection
(shared/store.py says more):

- a document by id (a class, a cadre, a history) is a point read;
- several documents by id are concurrent point reads (`store.find_by_ids`), never `$in`;
- the lists and reports (registry, scope, queue, coverage, hours) are served from the
  in-memory read index (read_index.py says why and what it holds), which follows this
  process's projection writers, or is reloaded by one scan of each collection when it is
  older than `stale_after` in a process without them.

Methods return plain dicts (projection documents without the kernel's fields, or the
index's entries, which callers must not change). A registry document leaves out the fields
at their defaults (projections.CADRE_DEFAULTS): every read here fills them in
(`cadre_in_full`, the index's entries), so no caller sees the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from types import MappingProxyType
from typing import Any

from services.selection import read_index as ri
from services.selection import scope as sc
from services.selection.cadres import FIELDS
from services.selection.domain import cadre_stream_id
from services.selection.projections import CADRE_DEFAULTS, cadre_in_full, nominations_in_full
from services.selection.read_index import HISTORY_FIELDS, ReadIndex, cadre_entry, history_entry
from services.selection.scope import HoursPolicy, evaluate
from shared import store
from shared.auth import Principal
from shared.commands import Loaded
from shared.consistency import Applied
from shared.errors import NotFound
from shared.jurisdiction import covers
from shared.listing import search, search_key, search_text, sort_by
from shared.projection import guard_key, public
from shared.projector import ProjectionWriter

CLASSES = "classes"
CADRES = "cadres"
HISTORIES = "histories"
STALE_AFTER = 5.0
# What the index reads of each collection, by a load's scan and a refresh's reads by id alike.
CADRE_CUT = {f: 1 for f in (*FIELDS, "jurisdiction", "_rev")}
HISTORY_CUT = {f: 1 for f in (*HISTORY_FIELDS, "_rev")}
CLASS_CUT = {"_applied": 0}
# Classes a load's scan decodes at a time (the driver's batch: by default all that fit in 16 MB).
CLASS_BATCH = 32


def _text(ix: ReadIndex, rows: list[dict[str, Any]]) -> tuple[str, list[int]]:
    """The search text of a list (listing.search_text), kept with it."""
    made_from, text = ix.memo(("text", id(rows)), lambda: (rows, search_text(rows)))
    return text if made_from is rows else search_text(rows)  # another list once had this id


def class_missing(class_id: str) -> NotFound:
    return NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found")


def cadre_missing(cadre_id: str) -> NotFound:
    return NotFound(f"干部 {cadre_id} 不在名册中（或尚未同步）。", code="cadre_not_found")


class Reads:
    def __init__(
        self,
        db: Any,
        writers: Callable[[], list[ProjectionWriter]] = lambda: [],
        stale_after: float = STALE_AFTER,
        batch: int = 1000,
    ) -> None:
        self.db = db
        self.writers = writers
        self.stale_after = stale_after
        self.batch = batch  # events a projector batch holds at most (settings.projector_batch)
        self._index = ReadIndex()
        self._lock = asyncio.Lock()

    # -- the read index ---------------------------------------------------------------
    async def index(self) -> ReadIndex:
        """The deployment's index, loaded on first use: live with the projectors in this
        process, else reloaded when older than `stale_after`."""
        ix = self._index
        if ix.live:
            return ix
        async with self._lock:
            if ix.live:
                return ix
            writers = {w.projection.name: w for w in self.writers()}
            if {CADRES, HISTORIES, CLASSES} <= set(writers):
                writers[CADRES].observers.append(ix.observe_cadres)
                writers[HISTORIES].observers.append(ix.observe_histories)
                writers[CLASSES].observers.append(ix.observe_classes)
                writers[CADRES].progress.append(self._batch_done)
                await self._load(ix)
                ix.live = True
            elif ix.loaded_at is None or time.monotonic() - ix.loaded_at > self.stale_after:
                fresh = ReadIndex()
                await self._load(fresh)
                ix.cadres, ix.histories, ix.classes, ix.class_rows, ix._order, ix.loaded_at = (
                    fresh.cadres,
                    fresh.histories,
                    fresh.classes,
                    fresh.class_rows,
                    fresh._order,
                    fresh.loaded_at,
                )
                ix.forget()
        return ix

    async def refresh(self, applied: Applied) -> None:
        """A read's wait for a token was fresh (`Runtime.on_fresh`): in a process without the
        projectors, the documents the token's writes reached are read by id and put into the
        index, so the read shows them at once rather than after the next reload (`stale_after`).
        An index live with this process's writers holds them already; one not loaded yet, or
        old enough to be reloaded by the read, will hold them. Under the index's lock: a reload
        under way when the write landed may have scanned before it, so this waits for it and
        goes after. What the token did not name may still lag by up to `stale_after`."""
        ix = self._index
        if ix.live or ix.loaded_at is None:
            return
        async with self._lock:
            if ix.live or ix.loaded_at is None or time.monotonic() - ix.loaded_at > self.stale_after:
                return
            for name, cut, held, observe in (
                (CADRES, CADRE_CUT, lambda i: ix.cadres.get(i, {}).get("_rev"), ix.observe_cadres),
                (HISTORIES, HISTORY_CUT, lambda i: ix.histories.get(i, {}).get("_rev"), ix.observe_histories),
                (CLASSES, CLASS_CUT, ix.classes.rev, ix.observe_classes),
            ):
                ids = await applied.documents(name)
                found = await store.find_by_ids(self.db[name], sorted(ids), cut) if ids else {}
                # Only what the index does not hold yet: a revision held already (the index
                # reloaded since the write) would drop the lists kept for nothing.
                newer = [
                    d for d in found.values() if (rev := held(d["_id"])) is None or d.get("_rev", 0) > rev
                ]
                if newer:
                    observe(newer)

    def _batch_done(self, handled: list) -> None:
        """After each batch of this process's projectors (every writer folds the same
        batch): a full one means more are waiting (`ReadIndex.behind`)."""
        self._index.behind = len(handled) >= self.batch

    async def _load(self, ix: ReadIndex) -> None:
        """One scan of each collection, cut to the fields the index keeps. The classes are held
        as they come, CLASS_BATCH decoded at a time: read as one list, the five-year county's 500
        classes were ~40 MB of objects at once, whose freed pools (31 MB) stayed with the
        process, held by what the index kept from between them (the index of compact entries
        loaded alone in a fresh process: 69 -> 136 MB as one list, 69 -> 97 a batch at a time)."""
        cadres = [cadre_entry(d) async for d in self.db[CADRES].find({}, CADRE_CUT)]
        histories = {d["_id"]: history_entry(d) async for d in self.db[HISTORIES].find({}, HISTORY_CUT)}
        async for d in self.db[CLASSES].find({}, CLASS_CUT, batch_size=CLASS_BATCH):
            ix.hold_classes((d,))
        ix.fill(cadres, histories)

    # -- the registry -------------------------------------------------------------------
    async def registry(
        self,
        jurisdiction: str,
        unit: str | None = None,
        sort: str | None = None,
        key: Callable[[dict], Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The registry entries of a jurisdiction (and below), ordered by unit and name (or
        by `sort`)."""
        return (await self.index()).registry(jurisdiction, unit, sort, key)

    async def searched(self, rows: list[dict[str, Any]], q: str) -> list[dict[str, Any]]:
        """The rows whose search key contains `q`. The text searched is kept with the list it
        was made from, so paging through one search of a kept list builds it once."""
        if not q:
            return rows
        return search(rows, _text(await self.index(), rows), q)

    async def warm(self, jurisdictions: list[str], today: date, policy: HoursPolicy) -> None:
        """Makes what the workbench's registry and report pages open on, for each of the
        deployment's jurisdictions: the registry in its order and its search text, the
        coverage report of `today` (and its overdue list's search text), the hours report
        of this year. Each is made from all the county's cadres (20,000: tens of
        milliseconds of CPU each, hundreds under load); made here, once the index is
        quiet, the first reader after a change finds them kept (the `index` worker,
        service.py). Only where the index follows this process's writers: a process
        without them would reload it from the store for this."""
        ix = self._index
        if not ix.live:
            return
        for j in jurisdictions:
            # Each step holds the event loop for tens of milliseconds of CPU at 20,000 cadres:
            # a reader waiting meanwhile goes between them.
            _text(ix, ix.registry(j))
            await asyncio.sleep(0)
            _, overdue = await self.report(sc.coverage, "overdue", j, today, policy)
            await asyncio.sleep(0)
            _text(ix, overdue)
            await asyncio.sleep(0)
            await self.report(sc.hours, "rows", j, today.year, policy)
            await asyncio.sleep(0)

    async def entries(self, cadre_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Registry entries by id, from the index: a re-import of 20,000 unchanged rows
        reads nothing from the store (one scan of them took seconds on FerretDB)."""
        held = (await self.index()).cadres
        return {cid: held[cid] for cid in cadre_ids if cid in held}

    async def cadre_states(self, cadre_ids: list[str]) -> dict[str, Loaded]:
        """Each cadre as its aggregate stood when the registry document was last written:
        the entry (read-only) at the stream version the projection had applied. A point
        read per id: state and version come from one document (the index keeps no
        versions). The import decides on these; a stale one is decided again by the kernel."""
        found = await store.find_by_ids(self.db[CADRES], cadre_ids)
        for d in found.values():
            cadre_in_full(d)  # a field left out at its default is no change to decide
        return {
            cid: Loaded(
                MappingProxyType({k: d.get(k) for k in FIELDS}),
                d.get("_applied", {}).get(guard_key(cadre_stream_id(cid)), 0),
                d["jurisdiction"],
            )
            for cid, d in found.items()
        }

    async def cadre(self, who: Principal, cadre_id: str) -> dict[str, Any]:
        """A registry document the reader's jurisdiction covers. Another county's cadre
        answers as a missing one: no hint of where it is registered."""
        doc = await self.db[CADRES].find_one({"_id": cadre_id})
        if doc is None or not covers(who.jurisdiction, doc["jurisdiction"]):
            raise cadre_missing(cadre_id)
        return cadre_in_full(doc)

    async def nominee(self, who: Principal, cadre_id: str) -> dict[str, Any]:
        """The registry entry a nomination names (id, name, unit, jurisdiction): from the index
        where it follows this process's projection writers (it holds what they stored), else
        as `cadre` reads it. A nomination read the store for it: a third of the commands
        under bench.load (docs/benchmarks.md, "The slowest 1 %")."""
        ix = self._index
        entry = ix.cadres.get(cadre_id) if ix.live else None
        if entry is not None and covers(who.jurisdiction, entry["jurisdiction"]):
            return entry
        return await self.cadre(who, cadre_id)

    async def cadres(self, cadre_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Registry documents by id (point reads), every field filled in."""
        found = await store.find_by_ids(self.db[CADRES], cadre_ids)
        return {cid: cadre_in_full(d) for cid, d in found.items()}

    async def categories(self, cadre_ids: list[str]) -> dict[str, str]:
        """Each cadre's category (领域), for placing trainees in study groups."""
        found = await store.find_by_ids(self.db[CADRES], cadre_ids, {"category": 1})
        return {cid: d.get("category", CADRE_DEFAULTS["category"]) for cid, d in found.items()}

    async def history(self, cadre_id: str) -> dict[str, Any]:
        """A cadre's training history (empty if never trained here)."""
        return public(await self.db[HISTORIES].find_one({"_id": cadre_id}) or {})

    # -- classes ------------------------------------------------------------------------
    async def class_document(self, who: Principal, class_id: str) -> dict[str, Any]:
        """A class document as stored (a copy the caller may change), if the reader's
        jurisdiction covers it (else 403)."""
        doc = await self.db[CLASSES].find_one({"_id": class_id})
        if doc is None:
            raise class_missing(class_id)
        who.require_covers(doc["jurisdiction"])
        return nominations_in_full(public(doc))

    async def held_class(self, who: Principal, class_id: str) -> dict[str, Any]:
        """A class document from the index (the same projection, without the read)."""
        doc = (await self.index()).classes.get(class_id)
        if doc is None:
            raise class_missing(class_id)
        who.require_covers(doc["jurisdiction"])
        return doc

    async def class_list(self, jurisdiction: str) -> list[dict[str, Any]]:
        """The class list's rows (`read_index.class_row`) of a jurisdiction and below, by
        start date, from the index: no class document is read."""
        return (await self.index()).class_list(jurisdiction)

    async def class_row(self, who: Principal, class_id: str) -> dict[str, Any]:
        """One class's row (settings, scope size, counts by status), from the index, if the
        reader's jurisdiction covers it (else 403)."""
        ix = await self.index()
        row = ix.class_rows.get(class_id)
        if row is None:
            raise class_missing(class_id)
        who.require_covers(row["jurisdiction"])
        return row

    async def nomination_rows(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """A held class's nominations in the order recommended, each with a search key of
        name and unit; kept until the index changes."""
        ix = await self.index()
        return ix.memo(
            ("nominations", doc["_id"], doc.get("_rev")),
            lambda: [{**n, "_key": search_key(n["name"], n["unit"])} for n in doc.get("nominations", [])],
            frozenset({ri.CLASSES}),
        )

    async def open_nominations(self, jurisdiction: str, cadre_id: str, unit: str) -> list[dict[str, Any]]:
        """The classes of a jurisdiction where `unit` recommended the cadre and the
        recommendation is still open (nominated or waitlisted): {class_id, title, status}.
        One scan of the classes, for the rare transfer."""
        found = []
        async for d in self.db[CLASSES].find({}, {"_applied": 0}):
            if not covers(jurisdiction, d.get("jurisdiction", "")):
                continue
            for n in d.get("nominations", []):
                if (
                    n["cadre_id"] == cadre_id
                    and n["unit"] == unit
                    and n["status"] in ("nominated", "waitlisted")
                ):
                    found.append({"class_id": d["_id"], "title": d.get("title", ""), "status": n["status"]})
        return sorted(found, key=lambda f: f["class_id"])

    async def queue(self, jurisdiction: str, today: date) -> list[dict[str, Any]]:
        """The confirmation queue of a jurisdiction: the nominated and waitlisted people of
        classes not started by `today`, by start date and class; kept until a class changes."""
        ix = await self.index()

        def compute() -> list[dict[str, Any]]:
            items = []
            for row in ix.class_rows.values():  # the class's own document only for those ahead
                started = row.get("starts_on", "") <= today.isoformat()
                if started or not covers(jurisdiction, row.get("jurisdiction", "")):
                    continue
                d = ix.classes.get(row["_id"])
                confirmed = sum(1 for n in d.get("nominations", []) if n["status"] == "confirmed")
                for n in d.get("nominations", []):
                    if n["status"] in ("nominated", "waitlisted"):
                        items.append(
                            {
                                "class_id": d["_id"],
                                "title": d["title"],
                                "starts_on": d["starts_on"],
                                "free": max(d["capacity"] - confirmed, 0),
                                "cadre_id": n["cadre_id"],
                                "name": n["name"],
                                "unit": n["unit"],
                                "status": n["status"],
                                "by": n.get("by"),
                                "_key": search_key(n["name"], n["unit"]),
                            }
                        )
            items.sort(key=lambda i: (i["starts_on"], i["class_id"]))
            return items

        return ix.memo(("queue", jurisdiction, today), compute, frozenset({ri.CLASSES}))

    # -- scope and reports --------------------------------------------------------------
    async def scope_for(
        self, jurisdiction: str, criteria: dict, today: date, policy: HoursPolicy
    ) -> list[dict[str, Any]]:
        """The registry entries of a jurisdiction that meet `criteria` today, with reasons."""
        ix = await self.index()
        cadres = ix.registry(jurisdiction)
        held = ix.histories
        return evaluate(
            criteria, cadres, {c["_id"]: held[c["_id"]] for c in cadres if c["_id"] in held}, today, policy
        )

    async def scope_rows(self, doc: dict[str, Any], today: date, policy: HoursPolicy) -> list[dict[str, Any]]:
        """A class's scope as it reads now: each cadre drawn, with the reasons they match
        today (or that their entry has changed since), their recommendation status and a
        search key; priority first, then by unit and name. Kept until the class, the
        registry or a history changes."""
        ix = await self.index()

        def compute() -> list[dict[str, Any]]:
            scope = doc.get("scope") or {"criteria": {}, "cadre_ids": []}
            cadres = [ix.cadres[cid] for cid in scope["cadre_ids"] if cid in ix.cadres]
            now = {x["cadre_id"]: x for x in evaluate(scope["criteria"], cadres, ix.histories, today, policy)}
            nominated = {n["cadre_id"]: n["status"] for n in doc.get("nominations", [])}
            rows = []
            first = lambda c: (not now.get(c["_id"], {}).get("priority"), c["unit"], c["name"])  # noqa: E731
            for c in sorted(cadres, key=first):
                x = now.get(c["_id"]) or {
                    "cadre_id": c["_id"],
                    "name": c["name"],
                    "unit": c["unit"],
                    "rank": c["rank"],
                    "priority": False,
                    "reasons": ["划定时符合条件，名册信息已变化"],
                }
                rows.append({**x, "status": nominated.get(c["_id"]), "_key": c["_key"]})
            return rows

        return ix.memo(("scope", doc["_id"], doc.get("_rev"), today, repr(policy)), compute)

    async def report(
        self,
        make: Callable[..., dict[str, Any]],
        rows: str,
        jurisdiction: str,
        param: Any,
        policy: HoursPolicy,
        sort: str | None = None,
        key: Callable[[dict], Any] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A report over a jurisdiction's registry (`scope.coverage` or `scope.hours`): its
        whole-jurisdiction figures, and its `rows` list in order of `sort`. Both are kept
        until the registry or a history changes, so paging through it costs a slice."""
        ix = await self.index()
        base = (make.__name__, jurisdiction, param, repr(policy))

        def compute() -> dict[str, Any]:
            # Each row carries its registry entry's search key (`_key`), as scope.py makes it.
            return make(ix.registry(jurisdiction), ix.histories, param, policy)

        needs = frozenset({ri.CADRES, ri.HISTORIES})
        out = ix.memo(base, compute, needs)
        listed = out[rows]
        if sort is not None:
            listed = ix.memo((*base, sort), lambda: sort_by(listed, key or (lambda r: r.get(sort))), needs)
        figures = {k: v for k, v in out.items() if k not in (rows, "total")}
        return {**figures, "cadres": out["total"]}, listed
