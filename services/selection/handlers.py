"""Command handlers and the reads they need: load, check who may act, decide, append.

The registry import does not load each aggregate: it reads the registry projection
once and hands the kernel's `append_many` new cadres as fresh streams (version 0,
nothing to load) and changes at the version the projection has applied; the kernel
loads a stream only when that version turns out stale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from shared import store
from shared.auth import Principal
from shared.commands import CommandHandler, Context, Loaded, Planned, within
from shared.errors import Forbidden
from shared.events import Envelope
from shared.jurisdiction import covers
from shared.projection import guard_key
from shared.runtime import Runtime
from services.selection import cadres as reg
from services.selection.domain import ClassDecider, OpenClass, stream_id
from services.selection.importing import Checked
from services.selection.listing import search, search_key, search_text, sort_by
from services.selection.read_index import index_of
from services.selection.scope import HoursPolicy, evaluate

DECIDER = ClassDecider()
CADRES = reg.CadreDecider()


async def open_class(commands: CommandHandler, ctx: Context, who: Principal, cmd: OpenClass) -> list[Envelope]:
    return await commands.execute(DECIDER, stream_id(cmd.class_id), cmd, ctx, within(who))


async def on_class(commands: CommandHandler, ctx: Context, who: Principal, class_id: str, cmd) -> list[Envelope]:
    """Any command on an existing class (scope, nominate, confirm, reject, waitlist, withdraw, groups)."""
    return await commands.execute(DECIDER, stream_id(class_id), cmd, ctx, within(who))


nominate = on_class


# Which county holds a 身份证号 is itself personal data: a refusal says "elsewhere", never where.
ELSEWHERE = "该身份证号已登记在其他辖区的名册中，不能由本辖区登记、修改或导入（请与上级组织部门核实）"


def _ours(who: Principal):
    def check(loaded) -> None:
        if loaded.jurisdiction is not None and not covers(who.jurisdiction, loaded.jurisdiction):
            raise Forbidden(ELSEWHERE + "。", code="registered_elsewhere", field="id_number")

    return check


async def on_cadre(commands: CommandHandler, ctx: Context, who: Principal, cmd) -> list[Envelope]:
    return await commands.execute(CADRES, reg.stream_id(cmd.cadre_id), cmd, ctx, _ours(who))


# -- reads ------------------------------------------------------------------------
async def registry(rt: Runtime, jurisdiction: str, unit: str | None = None, sort: str | None = None,
                   key: Callable[[dict], Any] | None = None) -> list[dict[str, Any]]:
    """The registry entries of a jurisdiction (and below), ordered by unit and name (or by
    `sort`), from the in-memory index (read_index.py says why)."""
    return (await index_of(rt)).registry(jurisdiction, unit, sort, key)


async def searched(rt: Runtime, rows: list[dict[str, Any]], q: str) -> list[dict[str, Any]]:
    """The rows whose search key contains `q`. The text searched is kept with the list it
    was made from, so paging through one search of a kept list builds it once."""
    if not q:
        return rows
    ix = await index_of(rt)
    made_from, text = ix.memo(("text", id(rows)), lambda: (rows, search_text(rows)))
    if made_from is not rows:      # another list once had this id: not the same rows
        text = search_text(rows)
    return search(rows, text, q)


async def report(rt: Runtime, make: Callable[..., dict[str, Any]], rows: str, jurisdiction: str, param: Any,
                 policy: HoursPolicy, sort: str | None = None, key: Callable[[dict], Any] | None = None
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A report over a jurisdiction's registry (`scope.coverage` or `scope.hours`): its
    whole-jurisdiction figures, and its `rows` list in order of `sort`. Both are kept until
    the registry or a history changes, so paging through it costs a slice."""
    ix = await index_of(rt)
    base = (make.__name__, jurisdiction, param, repr(policy))

    def compute() -> dict[str, Any]:
        made = make(ix.registry(jurisdiction), ix.histories, param, policy)
        for row in made[rows]:            # each row's search key, as the registry entry's
            row["_key"] = ix.cadres[row["cadre_id"]]["_key"]
        return made
    out = ix.memo(base, compute)
    listed = out[rows]
    if sort is not None:
        listed = ix.memo((*base, sort), lambda: sort_by(listed, key or (lambda r: r.get(sort))))
    figures = {k: v for k, v in out.items() if k not in (rows, "total")}
    return {**figures, "cadres": out["total"]}, listed


async def histories_of(rt: Runtime, cadre_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the lists and reports read of each cadre's training history (last graduation,
    hours per year); a cadre never trained here has none."""
    held = (await index_of(rt)).histories
    return {cid: held[cid] for cid in cadre_ids if cid in held}


async def classes(rt: Runtime) -> dict[str, dict[str, Any]]:
    """The class documents by id, from the in-memory index (read them, never change them)."""
    return (await index_of(rt)).classes


async def queue(rt: Runtime, jurisdiction: str, today: date) -> list[dict[str, Any]]:
    """The confirmation queue of a jurisdiction: the nominated and waitlisted people of
    classes not started by `today`, by start date and class; kept until a class changes."""
    ix = await index_of(rt)

    def compute() -> list[dict[str, Any]]:
        items = []
        for d in ix.classes.values():
            started = d.get("starts_on", "") <= today.isoformat()
            if started or not covers(jurisdiction, d.get("jurisdiction", "")):
                continue
            confirmed = sum(1 for n in d.get("nominations", []) if n["status"] == "confirmed")
            for n in d.get("nominations", []):
                if n["status"] in ("nominated", "waitlisted"):
                    items.append({"class_id": d["_id"], "title": d["title"], "starts_on": d["starts_on"],
                                  "free": max(d["capacity"] - confirmed, 0), "cadre_id": n["cadre_id"],
                                  "name": n["name"], "unit": n["unit"], "status": n["status"],
                                  "by": n.get("by"), "_key": search_key(n["name"], n["unit"])})
        items.sort(key=lambda i: (i["starts_on"], i["class_id"]))
        return items
    return ix.memo(("queue", jurisdiction, today), compute)


async def scope_rows(rt: Runtime, doc: dict[str, Any], today: date, policy: HoursPolicy
                     ) -> list[dict[str, Any]]:
    """A class's scope as it reads now: each cadre drawn, with the reasons they match today
    (or that their entry has changed since), their recommendation status and a search key;
    priority first, then by unit and name. Kept until the class, the registry or a history
    changes."""
    ix = await index_of(rt)

    def compute() -> list[dict[str, Any]]:
        scope = doc.get("scope") or {"criteria": {}, "cadre_ids": []}
        cadres = [ix.cadres[cid] for cid in scope["cadre_ids"] if cid in ix.cadres]
        now = {x["cadre_id"]: x for x in evaluate(scope["criteria"], cadres, ix.histories, today, policy)}
        nominated = {n["cadre_id"]: n["status"] for n in doc.get("nominations", [])}
        rows = []
        first = lambda c: (not now.get(c["_id"], {}).get("priority"), c["unit"], c["name"])  # noqa: E731
        for c in sorted(cadres, key=first):
            x = now.get(c["_id"]) or {"cadre_id": c["_id"], "name": c["name"], "unit": c["unit"],
                                      "rank": c["rank"], "priority": False,
                                      "reasons": ["划定时符合条件，名册信息已变化"]}
            rows.append({**x, "status": nominated.get(c["_id"]), "_key": c["_key"]})
        return rows
    return ix.memo(("scope", doc["_id"], doc.get("_rev"), today, repr(policy)), compute)


async def cadres_by_id(rt: Runtime, cadre_ids: list[str]) -> list[dict[str, Any]]:
    """Registry entries (with their search key) of these ids, from the in-memory index."""
    held = (await index_of(rt)).cadres
    return [held[cid] for cid in cadre_ids if cid in held]


async def scope_for(rt: Runtime, jurisdiction: str, criteria: dict, today: date, policy: HoursPolicy
                    ) -> list[dict[str, Any]]:
    cadres = await registry(rt, jurisdiction)
    return evaluate(criteria, cadres, await histories_of(rt, [c["_id"] for c in cadres]), today, policy)


# -- the registry import ------------------------------------------------------------
async def registry_docs(rt: Runtime, cadre_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Registry entries by id, from the in-memory index: a re-import of 20,000 unchanged
    rows reads nothing from the store (one scan of them took seconds on FerretDB)."""
    held = (await index_of(rt)).cadres
    return {cid: held[cid] for cid in cadre_ids if cid in held}


async def import_cadres(rt: Runtime, ctx: Context, who: Principal, checked: Checked) -> dict[str, Any]:
    docs = await registry_docs(rt, [cid for _, cid, _ in checked.good])
    bad = list(checked.bad)
    new, changed, unchanged = [], [], 0
    for row, cid, record in checked.good:
        doc = docs.get(cid)
        if doc is None:
            new.append((row, cid, record))
        elif not covers(who.jurisdiction, doc["jurisdiction"]):
            bad.append({"row": row, "name": record["name"], "id_number": reg.mask_id(record["id_number"]),
                        "errors": [ELSEWHERE]})
        elif reg.differs(doc, record):
            changed.append((row, cid, record, doc))
        else:
            unchanged += 1

    # Each changed entry as stored, with the stream version the projection applied (a point
    # read per changed row: state and version from one document; the index keeps no versions).
    stored = await store.find_by_ids(rt.db["cadres"], [cid for _, cid, _, _ in changed])
    changed = [(row, cid, record, stored.get(cid, doc)) for row, cid, record, doc in changed]
    # New cadres are decided on an empty aggregate, changed ones on the registry's copy at
    # the version it has applied; the kernel appends them all in few inserts and decides
    # again, on the stored stream, any whose stream had moved on.
    planned = [Planned(reg.stream_id(cid), reg.RecordCadre(cid, record)) for _, cid, record in new]
    planned += [Planned(reg.stream_id(cid), reg.RecordCadre(cid, record),
                        Loaded({k: doc.get(k) for k in reg.FIELDS},
                               doc.get("_applied", {}).get(guard_key(reg.stream_id(cid)), 0),
                               doc["jurisdiction"]))
                for _, cid, record, doc in changed]
    try:
        results = await rt.commands.append_many(CADRES, planned, ctx, within(who))
    finally:
        rt.relay.nudge()
    rows = [(row, record) for row, _, record in new] + [(row, record) for row, _, record, _ in changed]
    registered = updated = 0
    for i, ((row, record), result) in enumerate(zip(rows, results)):
        if isinstance(result, Exception):
            bad.append({"row": row, "name": record["name"], "id_number": reg.mask_id(record["id_number"]),
                        "errors": [result.message]})
        elif not result:
            unchanged += 1
        elif i < len(new):
            registered += 1
        else:
            updated += 1
    bad.sort(key=lambda b: b["row"])
    return {"rows": len(checked.good) + len(checked.bad), "registered": registered, "updated": updated,
            "unchanged": unchanged, "rejected": len(bad), "errors": bad}
