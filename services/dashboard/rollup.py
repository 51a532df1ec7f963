"""The in-memory roll-up: the counters of every class document and cadre bucket.

Why in memory: on FerretDB every query but `_id` equality scans a whole collection, so
summing a province's classes and buckets in the store per request cannot meet the
50 ms goal. The counters of each document are small (a few dozen numbers); a province
of 100 counties holds ~2,000 classes and 6,400 buckets. They are loaded once from the
store (`load`) and then kept current from the projection writer's own writes
(`observe`, fed by `ProjectionWriter.observers`), so they never run ahead of the
store. Sums per (county, year) are cached and dropped when one of their documents
changes. Listeners (the live stream) are woken with the jurisdictions that changed.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from shared import jurisdiction as jur
from services.dashboard import domain


@dataclass
class ClassEntry:
    class_id: str
    jurisdiction: str
    title: str
    starts_on: str
    ends_on: str
    counts: domain.Counts


def class_entry(doc: dict) -> ClassEntry:
    return ClassEntry(doc.get("class_id") or doc["_id"], doc.get("jurisdiction", ""), doc.get("title", ""),
                      doc.get("starts_on", ""), doc.get("ends_on", ""),
                      domain.add(dict(doc.get("n") or {}), doc.get("c") or {}))


class Rollup:
    def __init__(self) -> None:
        self.classes: dict[str, ClassEntry] = {}
        self.buckets: dict[str, tuple[str, domain.Counts]] = {}
        self._class_sums: dict[tuple[str, int | None], tuple[domain.Counts, int]] = {}
        self._cadre_sums: dict[str, domain.Counts] = {}
        self._by_county_classes: dict[str, set[str]] = defaultdict(set)
        self._by_county_buckets: dict[str, set[str]] = defaultdict(set)
        self._listeners: set[asyncio.Queue] = set()
        self.loaded_at: float | None = None
        self.live = False

    # -- keeping current ----------------------------------------------------------
    def put_class(self, doc: dict, only_new: bool = False) -> str:
        entry = class_entry(doc)
        old = self.classes.get(entry.class_id)
        if only_new and old is not None:  # what the writer reported is at least as new
            return entry.jurisdiction
        if old is not None and old.jurisdiction != entry.jurisdiction:
            self._by_county_classes[old.jurisdiction].discard(entry.class_id)
            self._drop(old.jurisdiction)
        self.classes[entry.class_id] = entry
        self._by_county_classes[entry.jurisdiction].add(entry.class_id)
        self._drop(entry.jurisdiction)
        return entry.jurisdiction

    def put_bucket(self, doc: dict, only_new: bool = False) -> str:
        code = doc.get("jurisdiction", "")
        if only_new and doc["_id"] in self.buckets:
            return code
        self.buckets[doc["_id"]] = (code, dict(doc.get("n") or {}))
        self._by_county_buckets[code].add(doc["_id"])
        self._cadre_sums.pop(code, None)
        return code

    def _drop(self, code: str) -> None:
        for key in [k for k in self._class_sums if k[0] == code]:
            del self._class_sums[key]

    def observer(self, kind: str):
        put = self.put_class if kind == "classes" else self.put_bucket

        def observe(docs: list[dict]) -> None:
            changed = {put(d) for d in docs}
            self.notify(changed)

        return observe

    # -- live listeners ---------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=100)
        self._listeners.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._listeners.discard(q)

    def notify(self, codes: set[str]) -> None:
        for q in list(self._listeners):
            try:
                q.put_nowait(codes)
            except asyncio.QueueFull:  # a slow browser: it will refetch anyway
                pass

    # -- sums ---------------------------------------------------------------------------
    def codes_under(self, code: str) -> list[str]:
        p = jur.prefix(code)
        found = {c for c, ids in self._by_county_classes.items() if ids and c.startswith(p)}
        found |= {c for c, ids in self._by_county_buckets.items() if ids and c.startswith(p)}
        return sorted(found)

    def class_sum(self, code: str, year: int | None) -> tuple[domain.Counts, int]:
        key = (code, year)
        hit = self._class_sums.get(key)
        if hit is None:
            chosen = [self.classes[i] for i in self._by_county_classes.get(code, ())
                      if domain.class_in_period(self.classes[i].starts_on, year)]
            counts = domain.sum_counts(e.counts for e in chosen)
            hit = self._class_sums[key] = (counts, sum(1 for e in chosen if e.counts.get("classes")))
        return hit

    def cadre_sum(self, code: str) -> domain.Counts:
        hit = self._cadre_sums.get(code)
        if hit is None:
            hit = self._cadre_sums[code] = domain.sum_counts(self.buckets[b][1] for b in self._by_county_buckets.get(code, ()))
        return hit

    def classes_of(self, code: str, year: int | None) -> list[ClassEntry]:
        entries = [self.classes[i] for i in self._by_county_classes.get(code, ())]
        return sorted((e for e in entries if domain.class_in_period(e.starts_on, year)),
                      key=lambda e: (e.starts_on, e.class_id))


async def load(rollup: Rollup, db) -> None:
    """Reads every class document's and bucket's counters (a scan of each collection)."""
    fields = {"n": 1, "c": 1, "jurisdiction": 1, "class_id": 1, "title": 1, "starts_on": 1, "ends_on": 1}
    async for doc in db["dash_classes"].find({}, fields):
        rollup.put_class(doc, only_new=True)
    async for doc in db["dash_cadres"].find({}, {"n": 1, "jurisdiction": 1}):
        rollup.put_bucket(doc, only_new=True)
    rollup.loaded_at = time.monotonic()


async def reload(rollup: Rollup, db) -> None:
    """A fresh copy from the store, for an API process that runs without the projectors."""
    fresh = Rollup()
    await load(fresh, db)
    for name in ("classes", "buckets", "_class_sums", "_cadre_sums", "_by_county_classes", "_by_county_buckets",
                 "loaded_at"):
        setattr(rollup, name, getattr(fresh, name))
    rollup.notify(set(rollup._by_county_classes) | set(rollup._by_county_buckets))
