"""Queries of the dashboard: thin reads of the roll-up and of one class document.

Who sees what (看板权限):
- org_department (组织部), party_school (党校), admin: every figure and trainees' names;
- analyst (分析员): every figure, but a class's trainees without names, units or ids;
- any other role: refused (403).
A token sees its own jurisdiction's prefix: a province token (430000) the whole
province, a county token only its county; asking for another is refused (403).
"""

from __future__ import annotations

import asyncio
import time
import weakref

from shared import jurisdiction as jur
from shared import visibility
from shared.auth import Principal
from shared.errors import DomainError, NotFound
from shared.runtime import Runtime
from services.dashboard import domain
from services.dashboard import rollup as ru

VIEWERS = ("org_department", "party_school", "analyst", "admin")
NAME_READERS = visibility.NAME_READERS   # one rule with every service (shared/visibility.py)
STALE_AFTER = 5.0
LEVELS = {2: "province", 4: "city", 6: "county"}

_rollups: weakref.WeakKeyDictionary[Runtime, ru.Rollup] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[Runtime, asyncio.Lock] = weakref.WeakKeyDictionary()


async def rollup_of(rt: Runtime) -> ru.Rollup:
    """The deployment's roll-up, loaded on first use. With the projectors in this
    process it follows their writes; without them it is reloaded when 5 s old."""
    r = _rollups.setdefault(rt, ru.Rollup())
    if r.live:
        return r
    lock = _locks.setdefault(rt, asyncio.Lock())
    async with lock:
        if r.live:
            return r
        writers = {p.writer.projection.name: p.writer for p in rt.projectors}
        if "dash_classes" in writers and "dash_cadres" in writers:
            writers["dash_classes"].observers.append(r.observer("classes"))
            writers["dash_cadres"].observers.append(r.observer("cadres"))
            await ru.load(r, rt.db)
            r.live = True
        elif r.loaded_at is None or time.monotonic() - r.loaded_at > STALE_AFTER:
            await ru.reload(r, rt.db)
    return r


def check_viewer(who: Principal, code: str | None) -> str:
    who.require_role(*VIEWERS)
    code = code or who.jurisdiction
    try:
        jur.validate(code)
    except jur.InvalidDivisionCode as exc:
        raise DomainError(str(exc), code="bad_jurisdiction", field="jurisdiction") from None
    who.require_covers(code)
    return code


def overview(r: ru.Rollup, code: str, year: int | None, hours_policy: int) -> dict:
    """Totals of `code` and its rows: the counties under a province or city side by side,
    or the classes of a county."""
    level = LEVELS[len(jur.prefix(code))]
    codes = r.codes_under(code)
    class_total: domain.Counts = {}
    cadre_total: domain.Counts = {}
    n_classes = 0
    rows = []
    for c in codes:
        counts, k = r.class_sum(c, year)
        cadre = r.cadre_sum(c)
        domain.add(class_total, counts)
        domain.add(cadre_total, cadre)
        n_classes += k
        if level != "county":
            rows.append({"code": c, "kind": "county", "title": jur.name(c),
                         **domain.metrics(counts, cadre, year, hours_policy, classes=k)})
    if level == "county":
        for e in r.classes_of(code, year):
            rows.append({"code": e.class_id, "kind": "class", "title": e.title, "starts_on": e.starts_on,
                         "ends_on": e.ends_on, **domain.metrics(e.counts, {}, year, hours_policy)})
    return {"jurisdiction": code, "name": jur.name(code), "crumbs": jur.chain(code), "level": level, "year": year,
            "hours_policy": hours_policy,
            "totals": domain.metrics(class_total, cadre_total, year, hours_policy, classes=n_classes),
            "rows": rows}


def _trainee_row(t: dict, index: int, with_names: bool) -> dict:
    ms = t.get("milestones") or {}
    avg = domain.assessment_percent(t)
    evals = {m: round(s / n, 2) for m, (s, n) in (t.get("evaluations") or {}).items() if n}
    row = {
        "name": t.get("name", "") if with_names else f"学员{index}",
        "status": t.get("status", ""),
        "group": t.get("group", ""),
        "attended": t.get("attended", 0), "absent": t.get("absent", 0), "hours": t.get("hours", 0),
        "graduated": bool(t.get("graduated")), "records": t.get("records", 0),
        "assessment": avg, "band": domain.band_of(avg) if avg is not None else None,
        "milestones": {m: v.get("state") for m, v in ms.items()}, "evaluation": evals,
        "mentor_tasks": len(t.get("tasks") or []), "talks": t.get("talks", 0),
    }
    if with_names:
        row.update(cadre_id=t.get("cadre_id"), unit=t.get("unit", ""), mentor=t.get("mentor", ""))
    return row


async def class_detail(rt: Runtime, who: Principal, class_id: str, hours_policy: int) -> dict:
    who.require_role(*VIEWERS)
    doc = await rt.db["dash_classes"].find_one({"_id": class_id})
    if doc is None:
        raise NotFound(f"班次 {class_id} 不存在（或其事件尚未到达看板）。", code="class_not_found")
    who.require_covers(doc["jurisdiction"])
    with_names = who.role in NAME_READERS
    trainees = sorted(doc.get("trainees", {}).values(), key=lambda t: (t.get("unit", ""), t.get("name", "")))
    entry = ru.class_entry(doc)
    return {
        "class_id": entry.class_id, "title": entry.title, "jurisdiction": entry.jurisdiction,
        "crumbs": jur.chain(entry.jurisdiction),
        "starts_on": entry.starts_on, "ends_on": entry.ends_on, "names_shown": with_names,
        "totals": domain.metrics(entry.counts, {}, None, hours_policy),
        "trainees": [_trainee_row(t, i + 1, with_names) for i, t in enumerate(trainees)],
    }
