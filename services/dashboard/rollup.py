"""The in-memory roll-up: the counters of every class document and cadre bucket.

Why in memory: on FerretDB every query but `_id` equality scans a whole collection, so
summing a province's classes and buckets in the store per request cannot meet the
50 ms goal. The counters of each document are small (a few dozen numbers); a province
of 100 counties holds ~2,000 classes and 6,400 buckets. They are kept current from the
projection writer's own successful writes (`observer`, fed by
`ProjectionWriter.observers`), so they never run ahead of the store. Sums per
(county, year) are cached and dropped when one of their documents changes. Listeners
(the live stream) are woken with the jurisdictions that changed.

Starting fast: reading the full projection documents of a province (their trainees,
cadres and `_applied` maps, some 300 MB) takes minutes on FerretDB. So the counters
are also mirrored, each with the `_rev` of its document, into `dash_counters` (tiny
documents, written in the background every half second). A start reads that, then
reconciles in the background against the projection documents: any document whose
`_rev` differs from its mirrored counters (a crash between a projection write and
the mirror's flush, or a rebuilt projection) replaces them.

Held small: an entry's counters are a `Counters`, not the decoded dict (see there).

The store's side (reading the mirror and the projection documents, writing the mirror)
is in reads.py; this module only counts.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from pymongo import DeleteOne, ReplaceOne

from services.dashboard import domain
from shared import jurisdiction as jur

# Shapes and counts shared by the entries' counters, bounded: a long-running process sees new
# values as counts change (a float's, an hours total's, are rarely seen twice: not shared), and
# odd data must not grow them for ever. Past the bound an entry keeps its own.
_SHARED_MAX = 10_000
_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}
_INTS: dict[int, int] = {}


def _shared(v: float) -> float:
    """One object per distinct integer count (only ints: 1 == 1.0 would swap a float's type)."""
    if type(v) is not int:
        return v
    hit = _INTS.get(v)
    if hit is None:
        if len(_INTS) >= _SHARED_MAX:
            return v
        hit = _INTS[v] = v
    return hit


class Counters(Mapping):
    """One roll-up entry's counters, read-only and small. Decoded from BSON, the ~31 counters of
    an entry were a dict of 31 key strings of their own ('cov:2026', 'h:2026:30', ...) and as
    many numbers: 2.9 KB an entry, 24.5 MB for a province of 100 counties' 2,000 classes and
    6,400 buckets, 5.2 MB held so (docs/benchmarks.md, "Dashboard memory at 100 counties
    (dashmem)"). The sorted keys are one tuple shared by every entry of the same shape (a few
    hundred shapes in a province: a bucket's years and hours steps, a class's counters), the
    numbers a tuple, equal integer counts one shared object. Read as a mapping (`domain.add`,
    `started`, `.get`); a change makes a new one (`put_class`, `put_bucket` replace whole
    entries)."""

    __slots__ = ("_keys", "_values")

    def __init__(self, counts: Mapping[str, float]) -> None:
        keys = tuple(sorted(counts))
        shape = _SHAPES.get(keys)
        if shape is None:
            shape = tuple(sys.intern(k) for k in keys)
            if len(_SHAPES) < _SHARED_MAX:
                _SHAPES[shape] = shape
        self._keys = shape
        self._values = tuple(_shared(counts[k]) for k in shape)

    def __getitem__(self, key: str) -> float:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def items(self):  # what `domain.add` walks: pairs, without a lookup per key
        return zip(self._keys, self._values)

    def __repr__(self) -> str:
        return f"Counters({dict(self.items())!r})"


def counters(counts: Mapping[str, float]) -> Counters:
    return counts if isinstance(counts, Counters) else Counters(counts)


@dataclass(slots=True)
class ClassEntry:
    class_id: str
    jurisdiction: str
    title: str
    starts_on: str
    ends_on: str
    counts: Mapping[str, float]
    rev: int = 0

    def __post_init__(self) -> None:
        self.counts = counters(self.counts)
        self.jurisdiction = sys.intern(self.jurisdiction)


@dataclass(slots=True)
class BucketEntry:
    bucket_id: str
    jurisdiction: str
    counts: Mapping[str, float]
    rev: int = 0

    def __post_init__(self) -> None:
        self.counts = counters(self.counts)
        self.jurisdiction = sys.intern(self.jurisdiction)


def class_entry(doc: dict) -> ClassEntry:
    return ClassEntry(
        doc.get("class_id") or doc["_id"],
        doc.get("jurisdiction", ""),
        doc.get("title", ""),
        doc.get("starts_on", ""),
        doc.get("ends_on", ""),
        domain.add(dict(doc.get("n") or {}), doc.get("c") or {}),
        doc.get("_rev") or 0,
    )


def bucket_entry(doc: dict) -> BucketEntry:
    return BucketEntry(
        doc["_id"], doc.get("jurisdiction", ""), dict(doc.get("n") or {}), doc.get("_rev") or 0
    )


def put_mirrored(r: Rollup, d: dict) -> None:
    """Put one mirrored counters document (`dash_counters`, as `Reads.flush` writes it) into `r`."""
    if d["kind"] == "class":
        entry = ClassEntry(
            d["class_id"], d["jurisdiction"], d["title"], d["starts_on"], d["ends_on"], d["counts"], d["rev"]
        )
        r.put_class(entry, mirror=False)
    else:
        r.put_bucket(BucketEntry(d["bucket_id"], d["jurisdiction"], d["counts"], d["rev"]), mirror=False)


class Rollup:
    def __init__(self) -> None:
        self.classes: dict[str, ClassEntry] = {}
        self.buckets: dict[str, BucketEntry] = {}
        self._class_sums: dict[tuple[str, int | None, date | None], tuple[domain.Counts, int]] = {}
        self._cadre_sums: dict[str, domain.Counts] = {}
        self._by_county_classes: dict[str, set[str]] = defaultdict(set)
        self._by_county_buckets: dict[str, set[str]] = defaultdict(set)
        self._listeners: set[asyncio.Queue] = set()
        self._dirty: set[tuple[str, str]] = set()
        self._deleted: set[tuple[str, str]] = set()
        # What the writer reported in this process: newer than anything read from the store.
        self._observed: set[tuple[str, str]] = set()
        self.loaded_at: float | None = None
        self.live = False
        self.reconciled = False
        # Bumped on every change: views computed at an older version are stale.
        self.version = 0
        self._views: dict[tuple, tuple[int, bytes]] = {}

    # -- keeping current ----------------------------------------------------------
    def put_class(self, entry: ClassEntry, mirror: bool = True, force: bool = False) -> str | None:
        old = self.classes.get(entry.class_id)
        if old is not None and old.rev > entry.rev and not force:
            return None
        if old is not None and old.jurisdiction != entry.jurisdiction:
            self._by_county_classes[old.jurisdiction].discard(entry.class_id)
            self._drop(old.jurisdiction)
        self.classes[entry.class_id] = entry
        self._by_county_classes[entry.jurisdiction].add(entry.class_id)
        self._drop(entry.jurisdiction)
        if mirror:
            self._dirty.add(("class", entry.class_id))
        return entry.jurisdiction

    def put_bucket(self, entry: BucketEntry, mirror: bool = True, force: bool = False) -> str | None:
        old = self.buckets.get(entry.bucket_id)
        if old is not None and old.rev > entry.rev and not force:
            return None
        self.buckets[entry.bucket_id] = entry
        self._by_county_buckets[entry.jurisdiction].add(entry.bucket_id)
        self._cadre_sums.pop(entry.jurisdiction, None)
        self.version += 1
        if mirror:
            self._dirty.add(("bucket", entry.bucket_id))
        return entry.jurisdiction

    def remove(self, kind: str, doc_id: str) -> str:
        if kind == "class":
            e = self.classes.pop(doc_id)
            self._by_county_classes[e.jurisdiction].discard(doc_id)
            self._drop(e.jurisdiction)
        else:
            e = self.buckets.pop(doc_id)
            self._by_county_buckets[e.jurisdiction].discard(doc_id)
            self._cadre_sums.pop(e.jurisdiction, None)
            self.version += 1
        self._dirty.discard((kind, doc_id))
        self._deleted.add((kind, doc_id))
        return e.jurisdiction

    def view(self, key: tuple, compute) -> bytes:
        """A rendered view, recomputed only when something changed since it was made."""
        hit = self._views.get(key)
        if hit is None or hit[0] != self.version:
            if len(self._views) > 1000:
                self._views.clear()
            hit = self._views[key] = (self.version, compute())
        return hit[1]

    def _drop(self, code: str) -> None:
        self.version += 1
        for key in [k for k in self._class_sums if k[0] == code]:
            del self._class_sums[key]

    def observer(self, kind: str):
        def observe(docs: list[dict]) -> None:
            if kind == "classes":
                self._observed.update(("class", d.get("class_id") or d["_id"]) for d in docs)
                changed = {self.put_class(class_entry(d)) for d in docs}
            else:
                self._observed.update(("bucket", d["_id"]) for d in docs)
                changed = {self.put_bucket(bucket_entry(d)) for d in docs}
            self.notify({c for c in changed if c})

        return observe

    # -- live listeners ---------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=100)
        self._listeners.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._listeners.discard(q)

    def notify(self, codes: set[str]) -> None:
        if not codes:
            return
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

    def class_sum(self, code: str, year: int | None, today: date | None = None) -> tuple[domain.Counts, int]:
        key = (code, year, today)
        hit = self._class_sums.get(key)
        if hit is None:
            chosen = [
                self.classes[i]
                for i in self._by_county_classes.get(code, ())
                if domain.class_in_period(self.classes[i].starts_on, year)
            ]
            counts = domain.sum_counts(domain.started(e.counts, e.starts_on, today) for e in chosen)
            hit = self._class_sums[key] = (counts, sum(1 for e in chosen if e.counts.get("classes")))
        return hit

    def cadre_sum(self, code: str) -> domain.Counts:
        hit = self._cadre_sums.get(code)
        if hit is None:
            hit = self._cadre_sums[code] = domain.sum_counts(
                self.buckets[b].counts for b in self._by_county_buckets.get(code, ())
            )
        return hit

    def classes_of(self, code: str, year: int | None) -> list[ClassEntry]:
        entries = [self.classes[i] for i in self._by_county_classes.get(code, ())]
        return sorted(
            (e for e in entries if domain.class_in_period(e.starts_on, year)),
            key=lambda e: (e.starts_on, e.class_id),
        )

    # -- the mirror ---------------------------------------------------------------------
    def take_dirty(self) -> list:
        ops: list = [DeleteOne({"_id": f"{kind}|{doc_id}"}) for kind, doc_id in self._deleted]
        self._deleted.clear()
        for kind, doc_id in self._dirty:
            if kind == "class":
                e = self.classes[doc_id]
                doc = {
                    "kind": "class",
                    "class_id": e.class_id,
                    "jurisdiction": e.jurisdiction,
                    "title": e.title,
                    "starts_on": e.starts_on,
                    "ends_on": e.ends_on,
                    "counts": dict(e.counts.items()),
                    "rev": e.rev,
                }
            else:
                b = self.buckets[doc_id]
                doc = {
                    "kind": "bucket",
                    "bucket_id": b.bucket_id,
                    "jurisdiction": b.jurisdiction,
                    "counts": dict(b.counts.items()),
                    "rev": b.rev,
                }
            ops.append(
                ReplaceOne({"_id": f"{kind}|{doc_id}"}, {"_id": f"{kind}|{doc_id}", **doc}, upsert=True)
            )
        self._dirty.clear()
        return ops

    def pending(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """What the next `take_dirty` will write: copies, kept by the caller in case the write fails."""
        return set(self._dirty), set(self._deleted)

    def mirror_failed(self, dirty: set[tuple[str, str]], deleted: set[tuple[str, str]]) -> None:
        """Written again on the next flush (a replace is idempotent); what changed since stays dirty too."""
        self._dirty |= {
            k
            for k in dirty
            if k[0] == "class" and k[1] in self.classes or k[0] == "bucket" and k[1] in self.buckets
        }
        self._deleted |= deleted

    # -- reconciling with the projection documents ------------------------------------
    def reconcile(self, classes: Iterable[ClassEntry], buckets: Iterable[BucketEntry]) -> int:
        """The projection documents' counters, as read now. The documents are the truth:
        where one's `_rev` differs from what the roll-up holds (a crash before the
        mirror's flush, or a rebuilt projection) it replaces it, and counters whose
        document is gone are dropped — except what the writer reported since this process
        started, which is newer than anything read here. Returns how many entries changed."""
        changed: set[str] = set()
        seen: set[tuple[str, str]] = set()
        count = 0
        scans = (
            ("class", classes, self.classes, self.put_class, lambda e: e.class_id),
            ("bucket", buckets, self.buckets, self.put_bucket, lambda e: e.bucket_id),
        )
        for kind, entries, held, put, key in scans:
            for entry in entries:
                seen.add((kind, key(entry)))
                if (kind, key(entry)) in self._observed:
                    continue
                current = held.get(key(entry))
                if current is None or current.rev != entry.rev:
                    changed.add(put(entry, force=True) or "")
                    count += 1
        for kind, held in (("class", self.classes), ("bucket", self.buckets)):
            for doc_id in [i for i in held if (kind, i) not in seen and (kind, i) not in self._observed]:
                changed.add(self.remove(kind, doc_id))
                count += 1
        changed.discard("")
        self.reconciled = True
        self.notify(changed)
        return count

    def replace_with(self, fresh: Rollup) -> None:
        """Take a freshly loaded copy's counters (an API process without the projectors),
        keeping this one's listeners, and tell them everything may have changed."""
        for name in (
            "classes",
            "buckets",
            "_class_sums",
            "_cadre_sums",
            "_by_county_classes",
            "_by_county_buckets",
            "loaded_at",
        ):
            setattr(self, name, getattr(fresh, name))
        self.version += 1
        self.notify(set(self._by_county_classes) | set(self._by_county_buckets))
