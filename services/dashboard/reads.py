"""The dashboard's reads: the roll-up of every class and cadre bucket, one class's
document, and the viewing rules (看板权限). The only module of the dashboard besides
projections.py that touches its collections.

Who sees what:
- org_department (组织部), party_school (党校), admin: every figure and trainees' names;
- analyst (分析员): every figure, but a class's trainees without names, units or ids;
- any other role: refused (403).
A token sees its own jurisdiction's prefix: a province token (430000) the whole
province, a county token only its county; asking for another is refused (403).

The figures come from the in-memory roll-up (rollup.py says why it is in memory). It
follows the projection writers' own writes in the process that runs the `rollup`
component (`follow`); any other API process reloads it from the mirrored counters when
it is 5 s old. On FerretDB every query but `_id` equality scans the whole collection
(shared/store.py), so the only queries here are point reads by `_id` and the full scans
that load and reconcile the roll-up, with the fields cut to the counters.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.dashboard import domain
from services.dashboard import rollup as ru
from shared import jurisdiction as jur
from shared import store, visibility
from shared.auth import Principal
from shared.errors import DomainError, NotFound
from shared.projector import ProjectionWriter

CLASSES = "dash_classes"
CADRES = "dash_cadres"
COUNTERS = "dash_counters"
CLASS_FIELDS = {
    "n": 1,
    "c": 1,
    "jurisdiction": 1,
    "class_id": 1,
    "title": 1,
    "starts_on": 1,
    "ends_on": 1,
    "_rev": 1,
}
BUCKET_FIELDS = {"n": 1, "jurisdiction": 1, "_rev": 1}
# A class's page needs the document, not the kernel's guard (one entry per stream that fed the
# class: ~150 for 50 trainees, a third of the document).
CLASS_PAGE = {"_applied": 0}
# Class documents kept for their pages, by id (most recently read), while the roll-up follows
# this process's writers, which drop a class from here when they write it.
CLASS_PAGES = 64

VIEWERS = ("org_department", "party_school", "analyst", "admin")
STALE_AFTER = 5.0
LEVELS = {2: "province", 4: "city", 6: "county"}


class Reads:
    def __init__(self, db: AsyncDatabase | Any) -> None:
        self.db = db
        self.rollup = ru.Rollup()
        self._lock = asyncio.Lock()
        self._writers: dict[str, ProjectionWriter] = {}
        self._pages: OrderedDict[str, dict] = OrderedDict()
        self._class_writes = 0

    # -- the roll-up --------------------------------------------------------------------
    def follow(self, writers: Iterable[ProjectionWriter]) -> None:
        """The projection writers of this process: the roll-up then follows their writes."""
        self._writers = {w.projection.name: w for w in writers}

    async def current(self) -> ru.Rollup:
        """The deployment's roll-up, loaded on first use. Following this process's
        projection writers it is always current; without them it is reloaded when 5 s old."""
        r = self.rollup
        if r.live:
            return r
        async with self._lock:
            if r.live:
                return r
            if CLASSES in self._writers and CADRES in self._writers:
                self._writers[CLASSES].observers.append(r.observer("classes"))
                self._writers[CADRES].observers.append(r.observer("cadres"))
                self._writers[CLASSES].observers.append(self._forget_pages)
                await self.load(r)
                r.live = True
            elif r.loaded_at is None or time.monotonic() - r.loaded_at > STALE_AFTER:
                fresh = ru.Rollup()
                await self.load(fresh)
                r.replace_with(fresh)
        return r

    async def load(self, r: ru.Rollup) -> None:
        """The mirrored counters (fast); the full projection documents only if there is no mirror yet."""
        mirrored = 0
        async for d in self.db[COUNTERS].find({}):
            mirrored += 1
            ru.put_mirrored(r, d)
        if not mirrored:
            await self.reconcile(r)
        r.loaded_at = time.monotonic()

    async def reconcile(self, r: ru.Rollup | None = None) -> int:
        """Every projection document's counters (only those fields), handed to the roll-up
        to repair what the mirror got wrong (`Rollup.reconcile`)."""
        r = self.rollup if r is None else r
        classes = [ru.class_entry(d) async for d in self.db[CLASSES].find({}, CLASS_FIELDS)]
        buckets = [ru.bucket_entry(d) async for d in self.db[CADRES].find({}, BUCKET_FIELDS)]
        return r.reconcile(classes, buckets)

    async def flush(self, r: ru.Rollup | None = None) -> int:
        """Mirrors the counters that changed since the last flush into `dash_counters`."""
        r = self.rollup if r is None else r
        dirty, deleted = r.pending()
        ops = r.take_dirty()
        try:
            # One operation per command, as every bulk write here (see shared/store.py).
            await store.bulk_write(self.db[COUNTERS], ops)
        except Exception:
            r.mirror_failed(dirty, deleted)
            raise
        return len(ops)

    # -- what a viewer reads --------------------------------------------------------------
    async def class_detail(
        self, who: Principal, class_id: str, hours_policy: int, today: date | None = None
    ) -> dict:
        who.require_role(*VIEWERS)
        doc = await self._class_doc(class_id)
        if doc is None:
            raise NotFound(f"班次 {class_id} 不存在（或其事件尚未到达看板）。", code="class_not_found")
        who.require_covers(doc["jurisdiction"])
        return class_detail(doc, visibility.sees_names(who.role), hours_policy, today)  # one rule

    async def _class_doc(self, class_id: str) -> dict | None:
        """A class document without its guard; kept for the next view while the writers of this
        process are followed (they drop it when they write the class). A read of a large
        document from FerretDB was most of a class page's time (services/dashboard/README.md)."""
        doc = self._pages.get(class_id)
        if doc is not None:
            self._pages.move_to_end(class_id)
            return doc
        writes = self._class_writes
        doc = await self.db[CLASSES].find_one({"_id": class_id}, CLASS_PAGE)
        # Kept only if no class was written while it was read: it might be older than that write.
        if doc is not None and self.rollup.live and writes == self._class_writes:
            self._pages[class_id] = doc
            while len(self._pages) > CLASS_PAGES:
                self._pages.popitem(last=False)
        return doc

    def _forget_pages(self, docs: list[dict]) -> None:
        self._class_writes += 1
        for d in docs:
            self._pages.pop(d["_id"], None)


def check_viewer(who: Principal, code: str | None) -> str:
    who.require_role(*VIEWERS)
    code = code or who.jurisdiction
    try:
        jur.validate(code)
    except jur.InvalidDivisionCode as exc:
        raise DomainError(str(exc), code="bad_jurisdiction", field="jurisdiction") from None
    who.require_covers(code)
    return code


def divisions(r: ru.Rollup, code: str, year: int | None, hours_policy: int, today: date | None) -> list:
    """The jurisdictions one level below `code` (a province's cities, a city's counties),
    every one the division table knows listed even with no class yet (a row of zeros), plus
    those only the data knows; classes run by `code` itself (a province's own school) are
    their own row."""
    groups: dict[str, list[str]] = {c: [] for c in jur.children(code)}
    for c in r.codes_under(code):
        groups.setdefault(jur.child_containing(code, c), []).append(c)
    rows = []
    for child, codes in sorted(groups.items()):
        counts: domain.Counts = {}
        cadre: domain.Counts = {}
        k = 0
        for c in codes:
            part, n = r.class_sum(c, year, today)
            domain.add(counts, part)
            domain.add(cadre, r.cadre_sum(c))
            k += n
        level = "own" if child == code else LEVELS[len(jur.prefix(child))]
        rows.append(
            {
                "code": child,
                "kind": level,
                "title": jur.name(child),
                **domain.metrics(counts, cadre, year, hours_policy, classes=k),
            }
        )
    return rows


def overview(
    r: ru.Rollup,
    code: str,
    year: int | None,
    hours_policy: int,
    today: date | None = None,
    own: bool = False,
) -> dict:
    """Totals of `code` and its rows: the counties under a province or city side by side,
    or the classes of a county; and `divisions`, the level below (see `divisions`).
    `today` leaves classes not started yet out of the coverage rates. `own`: only the
    classes `code` runs itself (a province's or city's own row, opened as a county is),
    their totals and their rows."""
    level = LEVELS[len(jur.prefix(code))]
    codes = [c for c in r.codes_under(code) if not own or jur.child_containing(code, c) == code]
    class_total: domain.Counts = {}
    cadre_total: domain.Counts = {}
    n_classes = 0
    rows = []
    for c in codes:
        counts, k = r.class_sum(c, year, today)
        cadre = r.cadre_sum(c)
        domain.add(class_total, counts)
        domain.add(cadre_total, cadre)
        n_classes += k
        if level != "county" and not own:
            rows.append(
                {
                    "code": c,
                    "kind": "own" if c == code else "county",
                    "title": jur.name(c),
                    **domain.metrics(counts, cadre, year, hours_policy, classes=k),
                }
            )
    if level == "county" or own:
        for e in sorted(
            (e for c in codes for e in r.classes_of(c, year)), key=lambda e: (e.starts_on, e.class_id)
        ):
            rows.append(
                {
                    "code": e.class_id,
                    "kind": "class",
                    "title": e.title,
                    "starts_on": e.starts_on,
                    "ends_on": e.ends_on,
                    **domain.metrics(domain.started(e.counts, e.starts_on, today), {}, year, hours_policy),
                }
            )
    return {
        "jurisdiction": code,
        "name": jur.name(code),
        "crumbs": jur.chain(code),
        "level": level,
        "own": own,
        "year": year,
        "hours_policy": hours_policy,
        "totals": domain.metrics(class_total, cadre_total, year, hours_policy, classes=n_classes),
        "rows": rows,
        "divisions": [] if level == "county" or own else divisions(r, code, year, hours_policy, today),
    }


def _trainee_row(t: dict, index: int, with_names: bool) -> dict:
    ms = t.get("milestones") or {}
    avg = domain.assessment_percent(t)
    evals = {m: round(s / n, 2) for m, (s, n) in (t.get("evaluations") or {}).items() if n}
    row = {
        "name": t.get("name", "") if with_names else f"学员{index}",
        "status": t.get("status", ""),
        "group": t.get("group", ""),
        "attended": t.get("attended", 0),
        "absent": t.get("absent", 0),
        "hours": t.get("hours", 0),
        "graduated": bool(t.get("graduated")),
        "not_graduated": bool(t.get("not_graduated")),
        # TraineeNotGraduated says which parts of the rule were not met.
        "not_graduated_reasons": list(t.get("not_graduated_reasons") or []),
        "records": t.get("records", 0),
        "assessment": avg,
        "band": domain.band_of(avg) if avg is not None else None,
        "milestones": {m: domain.milestone_state(v) for m, v in ms.items()},
        "evaluation": evals,
        "mentor_tasks": len(t.get("tasks") or []),
        "talks": t.get("talks", 0),
    }
    if with_names:
        row.update(cadre_id=t.get("cadre_id"), unit=t.get("unit", ""), mentor=t.get("mentor", ""))
    return row


def class_detail(doc: dict, with_names: bool, hours_policy: int, today: date | None = None) -> dict:
    """One class document as the drill-down shows it (`today`: see `overview`)."""
    trainees = sorted(doc.get("trainees", {}).values(), key=lambda t: (t.get("unit", ""), t.get("name", "")))
    entry = ru.class_entry(doc)
    return {
        "class_id": entry.class_id,
        "title": entry.title,
        "jurisdiction": entry.jurisdiction,
        "crumbs": jur.chain(entry.jurisdiction),
        "starts_on": entry.starts_on,
        "ends_on": entry.ends_on,
        "names_shown": with_names,
        "totals": domain.metrics(
            domain.started(entry.counts, entry.starts_on, today), {}, None, hours_policy
        ),
        "trainees": [_trainee_row(t, i + 1, with_names) for i, t in enumerate(trainees)],
    }
