"""The registry, each cadre's training summary and the classes, in memory, for the lists
and reports.

Why in memory: on FerretDB 1.24 every find but an equality on an indexed field reads
the whole collection into FerretDB and sorts, skips and matches substrings there
(measured at 20,000 cadres: `find().sort("name").skip(10000).limit(20)` took seconds,
services/selection/README.md, "At real size"); a page, a search or a count cannot be served by the store in
300 ms at a county's size. The registry is small: 20,000 entries of a dozen short
fields, ~30 MB here. So the service keeps:

- `cadres`: every registry entry (the `cadres` projection document without the kernel's
  fields, the fields it leaves out at their defaults filled in) with a normalised search key
  of name and unit (`listing.search_key`);
- `histories`: per cadre only what lists and reports read (last graduation, hours per year);
- `classes`: each class document (its scope and nominations), for the scope view, the
  confirmation queue, the class page and its nominations (a class with its scope of 1,600
  ids and 600 nominations is a few hundred kB: reading it from FerretDB per page took most
  of a second under load). Held as BSON compressed (`HeldClasses`), the last DECODED_MAX read
  decoded: as dicts the 500 classes of five years (50 nominations each) were 40.5 MB of the
  process, as BSON 7.3 MB (issue 16, memory per service < 200 MB), compressed 1.0 MB (the
  held five-year county: 6.70 -> 0.98 MiB, 0.06 ms of CPU to compress a class, 0.02 to
  decompress);
- `class_rows`: per class, the row the class list shows (`class_row`: its settings, the
  scope's size, counts by status and each unit's places used), made once per write of the
  class, so listing 500 classes touches no nomination (the list read every class document
  from FerretDB: 886 ms at the demo's size).

What the lists and reports computed from them are kept until one of the parts they were
made from changes (`memo(..., needs=)`): a graduation does not unmake the registry's
order, nor a registry change the class list. The registry's order by unit and name is
kept as entries change (`_order`, the entries' ids in that order), so a list made again after a
change filters it instead of sorting 20,000 entries (34 ms of CPU; a loaded machine makes
that hundreds of milliseconds: docs/benchmarks.md, "Every read at 20,000 cadres").

They are kept current from the projection writers' own successful writes
(`ProjectionWriter.observers`), so they never run ahead of the store and a clerk's
next read shows what the projector has written. A process without the projectors (run
with `--components api`) reloads them when older than `reads.STALE_AFTER`. A load is one scan
of each collection at start (the `index` worker), seconds at 20,000 cadres. reads.py
owns the index: it loads it, follows the writers, and is its only user.
"""

from __future__ import annotations

import sys
import time
import zlib
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import bson
from bson import CodecOptions

from services.selection.cadres import FIELDS
from services.selection.domain import STATUS_ZH
from services.selection.projections import CADRE_DEFAULTS, nominations_in_full
from shared import jurisdiction as jur
from shared.listing import search_key, sort_by

MEMO_MAX = 64
# Rows the kept lists may hold together (each list's length; a report its rows): ten lists
# the size of a 20,000-cadre registry. A report is ~500 bytes a row as Python objects, so
# a kept hours report of 20,000 cadres is ~10 MB; reports asked for many years, dates and
# sorts were kept up to MEMO_MAX of them (issue 16, memory per service). Past it the list
# used least recently is forgotten first.
MEMO_ROWS = 200_000
# Class documents kept decoded (`HeldClasses`): the classes being read now (a page reads its
# class on each request); the others are decoded again when read (~0.1 ms for 16 kB).
DECODED_MAX = 32
# As the service's client decodes what it reads (shared/runtime.py: tz_aware).
CODEC: CodecOptions = CodecOptions(tz_aware=True)
SHARED = ("gender", "unit", "rank", "category", "position", "recruited_as", "jurisdiction")
HISTORY_FIELDS = ("last_trained_on", "hours")
# Each registry field with what an entry holds where the document leaves it out: a field at its
# default is not stored (projections.CADRE_DEFAULTS); documents stored before carry them all.
_FIELD_DEFAULTS = tuple((f, CADRE_DEFAULTS.get(f)) for f in FIELDS)
# The parts of the index a kept list may be made from (`ReadIndex.memo`'s `needs`).
CADRES, HISTORIES, CLASSES = "cadres", "histories", "classes"
EVERYTHING = frozenset({CADRES, HISTORIES, CLASSES})
# A nomination holding one of the unit's places (as the quota rule counts them).
HOLDS_PLACE = ("nominated", "waitlisted", "confirmed")


class _Cadre:
    """A registry entry's holder: only its `__dict__` is kept (`cadre_entry`)."""


class _History:
    """A cadre's summary's holder: only its `__dict__` is kept (`history_entry`)."""


def _shared(holder: type, pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A dict of `pairs` that shares its key table with every other dict made here for the same
    `holder` (an instance's `__dict__`: PEP 412's key-sharing dictionaries): a plain dict, read
    as any other, without a table of keys of its own. Given the keys in the same order each
    time; a key added later gives the dict a table of its own again, as a copy has (the index
    never changes an entry: it puts a new one)."""
    d = holder().__dict__
    d.update(pairs)
    return d


def cadre_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A registry entry: 16 fields, the dict shares its keys with every other entry (232 bytes,
    a dict of its own was 472; at 20,000 cadres 4.8 MB less)."""
    return _shared(_Cadre, _cadre_pairs(doc))


def _cadre_pairs(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "_id", doc["_id"]
    yield "_rev", doc.get("_rev", 0)
    yield "jurisdiction", sys.intern(doc.get("jurisdiction") or "")
    for f, default in _FIELD_DEFAULTS:
        v = doc.get(f, default)
        yield f, sys.intern(v) if f in SHARED and isinstance(v, str) else v
    yield "_key", search_key(doc.get("name"), doc.get("unit"))


def history_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A cadre's summary as lists and reports read it (its keys shared as a registry entry's).
    Its hours' year keys ("2026") are interned: decoded, each of 20,000 cadres' five years held
    a string of its own, a third of the 16.9 MB the five years' summaries took (11.8 MB
    interned, tracemalloc)."""
    hours = doc.get("hours")
    if isinstance(hours, dict):
        hours = {sys.intern(k) if isinstance(k, str) else k: v for k, v in hours.items()}
    return _shared(
        _History,
        (("_rev", doc.get("_rev", 0)), ("last_trained_on", doc.get("last_trained_on")), ("hours", hours)),
    )


def class_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A class as the class list shows it: its settings without the nominations, the scope
    without its ids but with their number, the nominations counted by status, each unit's
    places used (`_used`, for a unit clerk's row) and the search key (title, theme,
    category, organiser)."""
    counts = dict.fromkeys(STATUS_ZH, 0)
    by_unit: dict[str, dict[str, int]] = {}
    for n in doc.get("nominations", []):
        counts[n["status"]] = counts.get(n["status"], 0) + 1
        unit = by_unit.setdefault(n.get("unit", ""), dict.fromkeys(STATUS_ZH, 0))
        unit[n["status"]] = unit.get(n["status"], 0) + 1
    scope = doc.get("scope")
    row = {k: v for k, v in doc.items() if k not in ("nominations", "scope", "_applied")}
    row["class_id"] = doc.get("class_id") or doc["_id"]
    row["scope"] = (
        None
        if scope is None
        else {
            **{k: v for k, v in scope.items() if k != "cadre_ids"},
            "count": len(scope.get("cadre_ids", [])),
        }
    )
    row["counts"] = counts
    row["_by_unit"] = by_unit
    row["_key"] = search_key(doc.get("title"), doc.get("theme"), doc.get("category"), doc.get("organiser"))
    return row


class HeldClasses:
    """The class documents by id, each as BSON compressed with zlib (level 1, as the store packs
    a class's scope and nominations: shared/store.py) with its `_rev`; the DECODED_MAX read
    last are kept decoded. A document read is the index's: the caller must not change it."""

    def __init__(self) -> None:
        self._raw: dict[str, tuple[int, bytes]] = {}
        self._decoded: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, class_id: object) -> bool:
        return class_id in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def put(self, doc: dict[str, Any]) -> bool:
        """Holds `doc` (without `_applied`) unless a newer `_rev` of it is held. The BSON is the
        index's own copy: the writer folds its next batch into its dict in place."""
        rev = doc.get("_rev", 0)
        held = self._raw.get(doc["_id"])
        if held is not None and held[0] > rev:
            return False  # a load that read the document before the writer's newer copy
        raw = bson.encode({k: v for k, v in doc.items() if k != "_applied"})
        self._raw[doc["_id"]] = (rev, zlib.compress(raw, 1))
        self._decoded.pop(doc["_id"], None)
        return True

    def rev(self, class_id: str) -> int | None:
        """The `_rev` held of a class, None if none is."""
        held = self._raw.get(class_id)
        return None if held is None else held[0]

    def get(self, class_id: str) -> dict[str, Any] | None:
        doc = self._decoded.get(class_id)
        if doc is not None:
            self._decoded.move_to_end(class_id)
            return doc
        doc = self.decoded(class_id)
        if doc is None:
            return None
        self._decoded[class_id] = doc
        if len(self._decoded) > DECODED_MAX:
            self._decoded.popitem(last=False)
        return doc

    def decoded(self, class_id: str) -> dict[str, Any] | None:
        """A class decoded anew and not kept (a new copy the caller may change): the row made
        after each write of a class (`ReadIndex.observe_classes`). Kept, the DECODED_MAX
        classes a fold wrote last were held decoded until a read came (as dicts ~80 kB a class
        of 50 nominations at five years)."""
        held = self._raw.get(class_id)
        if held is None:
            return None
        # Stored without the nominations' default fields: filled in as read.
        return nominations_in_full(bson.decode(zlib.decompress(held[1]), codec_options=CODEC))

    def __getitem__(self, class_id: str) -> dict[str, Any]:
        doc = self.get(class_id)
        if doc is None:
            raise KeyError(class_id)
        return doc

    def values(self) -> Iterator[dict[str, Any]]:
        """Every class, decoded one at a time."""
        for class_id in list(self._raw):
            doc = self.get(class_id)
            if doc is not None:
                yield doc


class ReadIndex:
    def __init__(self) -> None:
        self.cadres: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, dict[str, Any]] = {}
        self.classes = HeldClasses()
        self.class_rows: dict[str, dict[str, Any]] = {}
        self.live = False
        self.loaded_at: float | None = None
        # Every registry entry's id (the entry's own string) in the order of its place (unit,
        # name, id): a tuple of the three kept for each was 1.3 MB at 20,000 cadres.
        self._order: list[str] = []
        # Lists and reports computed from the index, by what they were asked for, and the
        # parts each was made from; dropped when one of those changes, so a repeated page,
        # search or sort costs a slice.
        self._memo: dict[tuple, Any] = {}  # in the order used, the least recent first
        self._needs: dict[tuple, frozenset[str]] = {}
        self._rows: dict[tuple, int] = {}
        self.rows_kept = 0
        # Counts the changes (the `index` worker makes the common lists again once this has
        # stopped moving: service.py; while the projectors catch up it moves every batch).
        self.changes = 0
        # Whether the writers' last batch was full (`Reads` follows their batches): more
        # events are waiting, the projectors are catching up.
        self.behind = False

    def _put(self, into: dict, doc_id: str, entry: dict) -> bool:
        held = into.get(doc_id)
        if held is not None and held["_rev"] > entry["_rev"]:
            return False  # a load that read the document before the writer's newer copy
        into[doc_id] = entry
        return True

    def _changed(self, part: str) -> None:
        for key in [k for k, needs in self._needs.items() if part in needs]:
            self._drop(key)
        self.changes += 1

    def _drop(self, key: tuple) -> None:
        del self._memo[key], self._needs[key]
        self.rows_kept -= self._rows.pop(key)

    def observe_cadres(self, docs: list[dict]) -> None:
        for d in docs:
            held = self.cadres.get(d["_id"])
            entry = cadre_entry(d)
            if held is not None and held["_rev"] > entry["_rev"]:
                continue  # a load that read the document before the writer's newer copy
            if held is not None:  # found by its place while the held entry is still there
                del self._order[bisect_left(self._order, _place(held), key=self._place_of)]
            self.cadres[d["_id"]] = entry
            insort(self._order, entry["_id"], key=self._place_of)
            self._changed(CADRES)

    def _place_of(self, cadre_id: str) -> tuple[str, str, str]:
        return _place(self.cadres[cadre_id])

    def observe_histories(self, docs: list[dict]) -> None:
        for d in docs:
            if self._put(self.histories, self._cadre_id(d["_id"]), history_entry(d)):
                self._changed(HISTORIES)

    def _cadre_id(self, cadre_id: str) -> str:
        """The registry entry's own id string where the cadre is held, so that a summary's key
        is not a second copy of it (~70 bytes a cadre)."""
        held = self.cadres.get(cadre_id)
        return cadre_id if held is None else held["_id"]

    def observe_classes(self, docs: list[dict]) -> None:
        for d in docs:
            if self.classes.put(d):
                # From the index's own copy: the writer changes its dict in place.
                self.class_rows[d["_id"]] = class_row(self.classes.decoded(d["_id"]))
                self._changed(CLASSES)

    def hold_classes(self, docs: Iterable[dict]) -> None:
        """Class documents a load read, each held (with its row) as it comes."""
        for d in docs:
            if self.classes.put(d):
                self.class_rows[d["_id"]] = class_row(self.classes.decoded(d["_id"]))

    def fill(self, cadres: list[dict], histories: dict[str, dict]) -> None:
        """Every entry, from one scan of each collection (reads.py scans them): registry
        entries (`cadre_entry`) and history entries by cadre (`history_entry`); the classes are
        held as the scan brings them (`hold_classes`)."""
        for c in cadres:
            self._put(self.cadres, c["_id"], c)
        self._order = sorted((c["_id"] for c in self.cadres.values()), key=self._place_of)
        for cid, h in histories.items():
            self._put(self.histories, self._cadre_id(cid), h)
        self.forget()
        self.loaded_at = time.monotonic()

    def forget(self) -> None:
        """Drops every kept list."""
        self._memo, self._needs, self._rows, self.rows_kept = {}, {}, {}, 0
        self.changes += 1

    def memo(self, key: tuple, compute: Callable[[], Any], needs: frozenset[str] = EVERYTHING) -> Any:
        """`compute()`, kept until one of the parts it `needs` next changes, or until it is
        the least recently used of more than MEMO_MAX kept values or MEMO_ROWS rows. The
        caller must not change it."""
        if key in self._memo:
            made = self._memo[key] = self._memo.pop(key)  # now the most recently used
            return made
        made = compute()
        rows = _rows(made)
        while self._memo and (len(self._memo) >= MEMO_MAX or self.rows_kept + rows > MEMO_ROWS):
            self._drop(next(iter(self._memo)))
        self._memo[key], self._needs[key], self._rows[key] = made, needs, rows
        self.rows_kept += rows
        return made

    def registry(
        self,
        jurisdiction: str,
        unit: str | None = None,
        sort: str | None = None,
        key: Callable[[dict], Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Entries of a jurisdiction and below (and of one unit), ordered by unit and name,
        or by `sort` (ascending, ties in that order) with its sort value `key`."""
        p = jur.prefix(jurisdiction)

        def ordered() -> list[dict[str, Any]]:
            held = self.cadres
            return [d for cid in self._order if (d := held[cid])["jurisdiction"].startswith(p)]

        only = frozenset({CADRES})
        rows = self.memo(("registry", p), ordered, only)
        if sort is not None:
            by = key or (lambda d: d.get(sort))
            rows = self.memo(("registry", p, sort), lambda: sort_by(rows, by), only)
        return rows if unit is None else [d for d in rows if d["unit"] == unit]

    def class_list(self, jurisdiction: str) -> list[dict[str, Any]]:
        """The rows of the classes of a jurisdiction and below, by start date (then id)."""
        p = jur.prefix(jurisdiction)

        def ordered() -> list[dict[str, Any]]:
            rows = [r for r in self.class_rows.values() if r.get("jurisdiction", "").startswith(p)]
            return sorted(rows, key=lambda r: (r.get("starts_on", ""), r["_id"]))

        return self.memo(("class_list", p), ordered, frozenset({CLASSES}))


def _rows(value: Any) -> int:
    """The rows a kept value holds: a list's length, a report's lists', a pair's both."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v) for v in value.values() if isinstance(v, list))
    if isinstance(value, tuple):
        return sum(_rows(v) for v in value)
    return 0


def _place(entry: dict[str, Any]) -> tuple[str, str, str]:
    """A registry entry's place in the registry's order."""
    return (entry["unit"], entry["name"], entry["_id"])
