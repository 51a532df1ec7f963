"""Records' read side: the only module of the service that touches its collections
(besides the projections that write them), and the figures computed from them on read
(completeness, the weekly group review, the monthly summary, the rankings).

Every read model is read by `_id` (point reads): FerretDB 1.24 uses an index only for
`_id` equality (shared/store.py), so projections.py keys each document by what is read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

from services.records.projections import fk, trainee_key, unfk, week_key
from shared import jurisdiction as jur
from shared import store
from shared.auth import Principal
from shared.contracts.records import CATEGORIES, CORE_ROLES, RECORDER_ROLES
from shared.errors import Forbidden, NotFound
from shared.listing import Paging, page_of, search_key
from shared.projection import public, related

Doc = dict[str, Any]
ROSTER = "records_roster"  # one per class: selection's roster, teaching's sessions
CLASS = "records_class"  # one per class: recorders, scheme, notes, coverage, totals
TRAINEE = "records_trainee"  # one per class and trainee: records, sheets, final comment, attendance
WEEK = "records_week"  # one per class and week: that week's score sheets
RECORDER_CLASSES = "records_recorder_classes"  # one per recorder: the classes they hold or held a role in
READERS = ("party_school", "org_department", "recorder")
MANAGERS = ("party_school", "org_department")
UNKNOWN = "班次 {} 不存在（或尚未从选调服务同步），请先确认班次编号。"


def admit_to_class(who: Principal, class_id: str, jurisdiction: str, recorders: Collection[str]) -> None:
    """Who may act on, or read, a class of `jurisdiction` whose recorders (3+N) are `recorders`.

    Staff are bound by jurisdiction (403 `wrong_jurisdiction` outside theirs). A recorder acts
    in any class that appointed them, whatever their token's jurisdiction: the class monitor
    and committee members of a province party school's class are county cadres, with their
    county's token (as teaching's `admit_to_class` admits a county's trainee). A class of
    another jurisdiction that did not appoint them answers as an unknown class (404), so they
    learn nothing of classes elsewhere; in their own jurisdiction the rule that they hold a
    post refuses them by name (`not_a_recorder`)."""
    if who.role == "recorder":
        if who.user_id in recorders:
            return
        if not jur.covers(who.jurisdiction, jurisdiction):
            raise NotFound(UNKNOWN.format(class_id), code="class_not_found")
    who.require_covers(jurisdiction)


def recorder_ids(klass: Doc | None) -> set[str]:
    """Everyone the class appointed a recorder, now or before (their own pages stay readable)."""
    return {h["person_id"] for h in (klass or {}).get("history", [])}


def file_or_blank(class_id: str, cadre_id: str, roster: Doc, doc: Doc | None) -> Doc:
    """The trainee's file as stored, or an empty one for a trainee of the roster with none yet."""
    if doc is not None:
        return doc
    if fk(cadre_id) not in roster.get("trainees", {}):
        raise NotFound(f"班次 {class_id} 没有学员 {cadre_id}。", code="trainee_not_found")
    return {
        "class_id": class_id,
        "cadre_id": cadre_id,
        "records": [],
        "sheets": [],
        "attended": {},
        "absent": {},
    }


class Reads:
    def __init__(self, db) -> None:
        self.db = db

    async def _doc(self, collection: str, doc_id: str) -> Doc | None:
        doc = await self.db[collection].find_one({"_id": doc_id})
        return public(doc) if doc else None

    async def roster(self, who: Principal, class_id: str) -> Doc:
        """The class's roster (records' own copy of selection's facts), for staff of its
        jurisdiction; a recorder is admitted by the caller (`admit_to_class`)."""
        doc = await self.stored_roster(class_id)
        who.require_covers(doc["jurisdiction"])
        return doc

    async def stored_roster(self, class_id: str) -> Doc:
        """The class's roster, no reader checked: the caller admits them (`admit_to_class`)."""
        doc = await self.db[ROSTER].find_one({"_id": class_id})
        if doc is None or "title" not in doc:
            raise NotFound(UNKNOWN.format(class_id), code="class_not_found")
        return doc

    async def klass(self, class_id: str) -> Doc | None:
        return await self._doc(CLASS, class_id)

    async def scores_exist(self, class_id: str) -> bool:
        return bool(((await self.klass(class_id)) or {}).get("weeks"))

    async def class_view(self, who: Principal, class_id: str, roles=READERS) -> tuple[Doc, Doc | None]:
        """Roster and class docs, for a reader of the right role and jurisdiction; a
        recorder reads only the classes they record for (or recorded for)."""
        who.require_role(*roles)
        # Both point reads at once: the class document names its recorders.
        stored, klass = await asyncio.gather(self.stored_roster(class_id), self.klass(class_id))
        admit_to_class(who, class_id, stored["jurisdiction"], recorder_ids(klass))
        roster = public(stored)
        if who.role == "recorder" and who.user_id not in recorder_ids(klass):
            raise Forbidden(f"您不是班次 {class_id} 的纪实人员，无权查看。", code="not_a_recorder")
        return roster, klass

    async def trainee_file(self, class_id: str, cadre_id: str, roster: Doc) -> Doc:
        return file_or_blank(
            class_id, cadre_id, roster, await self._doc(TRAINEE, trainee_key(class_id, cadre_id))
        )

    # -- what the routes answer --------------------------------------------------------
    async def recorders(self, who: Principal, class_id: str) -> Doc:
        _, klass = await self.class_view(who, class_id)
        return {
            "class_id": class_id,
            "current": list((klass or {}).get("recorders", {}).values()),
            "history": (klass or {}).get("history", []),
        }

    async def records(self, who: Principal, class_id: str, cadre_id: str) -> Doc:
        roster, _ = await self.class_view(who, class_id)
        f = await self.trainee_file(class_id, cadre_id, roster)
        # The name from the class's roster: the trainee's page needs nothing else of the roster.
        name = (roster.get("trainees") or {}).get(fk(cadre_id), {}).get("name", "")
        return {"class_id": class_id, "cadre_id": cadre_id, "name": name, "records": f["records"]}

    async def record(self, who: Principal, class_id: str, cadre_id: str, record_id: str) -> Doc:
        for rec in (await self.records(who, class_id, cadre_id))["records"]:
            if rec["record_id"] == record_id:
                return rec
        raise NotFound(f"纪实记录 {record_id} 不存在（或尚未同步）。", code="record_not_found")

    async def completeness(self, who: Principal, class_id: str, as_of: date, days: int) -> tuple[Doc, Doc]:
        """The completeness check, and the roster (whose title names the spreadsheet)."""
        roster, klass = await self.class_view(who, class_id)
        return completeness(roster, klass, as_of, days), roster

    async def scheme(self, who: Principal, class_id: str) -> Doc:
        _, klass = await self.class_view(who, class_id)
        if not (klass or {}).get("scheme"):
            raise NotFound("本班尚未设置量化考核方案。", code="no_scheme")
        return klass["scheme"]

    async def weekly_review(self, who: Principal, class_id: str, monday: date) -> Doc:
        roster, klass = await self.class_view(who, class_id)
        week_doc = await self._doc(WEEK, week_key(class_id, monday.isoformat()))
        return weekly_review(roster, klass, week_doc, monday)

    async def monthly_summary(self, who: Principal, class_id: str, month: str) -> Doc:
        roster, klass = await self.class_view(who, class_id)
        weeks = [w for w in (klass or {}).get("weeks", []) if w.startswith(month)]
        docs = [d for w in weeks if (d := await self._doc(WEEK, week_key(class_id, w)))]
        return monthly_summary(roster, klass, docs, month)

    async def ranking(self, who: Principal, class_id: str) -> tuple[Doc, Doc]:
        """The rankings, and the roster (whose title names the spreadsheet)."""
        roster, klass = await self.class_view(who, class_id)
        return ranking(roster, klass), roster

    async def supervision(self, who: Principal, class_id: str) -> Doc:
        _, klass = await self.class_view(who, class_id, MANAGERS)
        return {"class_id": class_id, "notes": (klass or {}).get("notes", [])}

    async def trainee_sheet(
        self, who: Principal, class_id: str, cadre_id: str
    ) -> tuple[Doc, Doc | None, Doc]:
        """What the record form and the portrait are made of (documents.gather); a recorder
        reads the form of their own class's trainees (class_view checks whose class)."""
        (roster, klass), stored = await asyncio.gather(
            self.class_view(who, class_id), self._doc(TRAINEE, trainee_key(class_id, cadre_id))
        )
        return roster, klass, file_or_blank(class_id, cadre_id, roster, stored)

    # -- the recorder's own pages (纪实人员本人) ----------------------------------------------
    async def my_classes(self, who: Principal) -> list[Doc]:
        """The classes the recorder records (or recorded) for, with their role: their own
        document by `_id` names the classes, which are then read by `_id` (FerretDB indexes
        only `_id`; shared/store.py), not a scan of every class."""
        who.require_role("recorder")
        mine = await self.db[RECORDER_CLASSES].find_one({"_id": who.user_id})
        ids = sorted(unfk(k) for k in (mine or {}).get("classes", {}))
        classes = await store.find_by_ids(self.db[CLASS], ids, {"_applied": 0})
        rosters = await store.find_by_ids(self.db[ROSTER], ids, {"_applied": 0})
        out = []
        for class_id in ids:
            klass, roster = classes.get(class_id), rosters.get(class_id)
            # Their own jurisdiction's classes, and those above it that appointed them (a
            # county's class monitor in a province class: `admit_to_class`).
            if (
                klass is None
                or roster is None
                or "title" not in roster
                or not related(who.jurisdiction, roster["jurisdiction"])
            ):
                continue
            row = my_recording(public(roster), klass, who.user_id)
            if row:
                out.append(row)
        return sorted(out, key=lambda c: (c["starts_on"] or "", c["class_id"]), reverse=True)

    async def recording_roster(
        self, who: Principal, class_id: str, as_of: date, days: int, p: Paging, stale_only: bool = False
    ) -> Doc:
        roster, klass = await self.class_view(who, class_id)
        return roster_page(recording_roster(roster, klass, as_of, days), p, stale_only)


# -- figures computed on read (pure) ---------------------------------------------------------
def active_trainees(roster: Doc) -> dict[str, Doc]:
    """Confirmed, not withdrawn trainees by cadre id (field names are stored escaped)."""
    return {unfk(k): t for k, t in (roster.get("trainees") or {}).items() if t.get("status") == "confirmed"}


def completeness(roster: Doc, klass: Doc | None, as_of: date, days: int) -> Doc:
    """Per trainee, which of the three core roles recorded nothing in (as_of - days, as_of]."""
    since = as_of - timedelta(days=days - 1)
    coverage = (klass or {}).get("coverage", {})
    rows = []
    for cid, t in sorted(active_trainees(roster).items()):
        last = coverage.get(fk(cid), {})
        missing = [r for r in CORE_ROLES if not (since.isoformat() <= last.get(r, "") <= as_of.isoformat())]
        if missing:
            rows.append(
                {
                    "cadre_id": cid,
                    "name": t["name"],
                    "group": t.get("group", ""),
                    "missing_roles": missing,
                    "missing_role_names": [RECORDER_ROLES[r] for r in missing],
                    "last_recorded": {r: last.get(r) for r in CORE_ROLES},
                }
            )
    return {
        "class_id": roster.get("class_id"),
        "as_of": as_of.isoformat(),
        "days": days,
        "since": since.isoformat(),
        "trainees": len(active_trainees(roster)),
        "uncovered": rows,
    }


def scheme_groups(scheme: Doc | None) -> dict[str, list[Doc]]:
    groups: dict[str, list[Doc]] = defaultdict(list)
    for item in (scheme or {}).get("items", []):
        groups[item["group"]].append(item)
    return dict(groups)


def group_points(points: dict[str, float], scheme: Doc | None) -> dict[str, float]:
    """Points per scheme group (理论学习 / 党性修养和学风 / 能力素质 ...)."""
    out = {g: 0.0 for g in scheme_groups(scheme)}
    item_group = {i["item_id"]: i["group"] for i in (scheme or {}).get("items", [])}
    for item_id, p in points.items():
        g = item_group.get(item_id, "其他")
        out[g] = round(out.get(g, 0.0) + p, 2)
    return out


def rank(rows: list[Doc], field: str = "total") -> list[Doc]:
    """Competition ranking (1, 1, 3): equal totals share a place."""
    ordered = sorted(rows, key=lambda r: (-r[field], r["cadre_id"]))
    place, last = 0, None
    for i, r in enumerate(ordered, start=1):
        if r[field] != last:
            place, last = i, r[field]
        r["rank"] = place
    return ordered


def _rows(roster: Doc, points_by_cadre: dict[str, dict[str, float]], scheme: Doc | None) -> list[Doc]:
    rows = []
    for cid, t in active_trainees(roster).items():
        pts = points_by_cadre.get(fk(cid), {})
        rows.append(
            {
                "cadre_id": cid,
                "name": t["name"],
                "group": t.get("group", ""),
                "by_group": group_points(pts, scheme),
                "total": round(sum(pts.values()), 2),
            }
        )
    return rows


def by_study_group(rows: list[Doc]) -> list[Doc]:
    groups: dict[str, list[Doc]] = defaultdict(list)
    for r in rows:
        groups[r["group"] or "未分组"].append(dict(r))
    return [
        {
            "group": g,
            "trainees": rank(members),
            "average": round(sum(m["total"] for m in members) / len(members), 2),
        }
        for g, members in sorted(groups.items())
    ]


def ranking(roster: Doc, klass: Doc | None) -> Doc:
    scheme = (klass or {}).get("scheme")
    rows = _rows(roster, (klass or {}).get("totals", {}), scheme)
    return {
        "class_id": roster.get("class_id"),
        "weeks": (klass or {}).get("weeks", []),
        "class_ranking": rank([dict(r) for r in rows]),
        "study_groups": by_study_group(rows),
    }


def weekly_review(roster: Doc, klass: Doc | None, week_doc: Doc | None, week: date) -> Doc:
    scheme = (klass or {}).get("scheme")
    rows = _rows(roster, (week_doc or {}).get("points", {}), scheme)
    scorers = (week_doc or {}).get("scorers", {})
    notes = (week_doc or {}).get("notes", {})
    for r in rows:
        r["scored_by"] = scorers.get(fk(r["cadre_id"]), [])
        r["notes"] = notes.get(fk(r["cadre_id"]), [])
    return {
        "class_id": roster.get("class_id"),
        "week": week.isoformat(),
        "unscored": sorted(r["name"] for r in rows if not r["scored_by"]),
        "study_groups": by_study_group(rows),
    }


def monthly_summary(roster: Doc, klass: Doc | None, week_docs: list[Doc], month: str) -> Doc:
    scheme = (klass or {}).get("scheme")
    summed: dict[str, dict[str, float]] = defaultdict(dict)
    weeks = []
    for wd in week_docs:
        weeks.append(wd["week"])
        for cid, pts in wd.get("points", {}).items():
            for item, p in pts.items():
                summed[cid][item] = summed[cid].get(item, 0.0) + p
    rows = _rows(roster, summed, scheme)
    return {
        "class_id": roster.get("class_id"),
        "month": month,
        "weeks": sorted(weeks),
        "class_ranking": rank([dict(r) for r in rows]),
        "study_groups": by_study_group(rows),
    }


# -- the recorder's pages (纪实人员) -----------------------------------------------------------
def recording_roster(roster: Doc, klass: Doc | None, as_of: date, days: int) -> Doc:
    """Every trainee of the class with the last day each core role recorded them, the records
    by category, and whether they have gone unrecorded (by any role) for `days` days."""
    since = (as_of - timedelta(days=days - 1)).isoformat()
    coverage = (klass or {}).get("coverage", {})
    categories = (klass or {}).get("categories", {})
    rows = []
    by_group = sorted(active_trainees(roster).items(), key=lambda kv: (kv[1].get("group", ""), kv[1]["name"]))
    for cid, t in by_group:
        last = coverage.get(fk(cid), {})
        latest = max(last.values(), default=None)
        cats = categories.get(fk(cid), {})
        rows.append(
            {
                "cadre_id": cid,
                "name": t["name"],
                "unit": t.get("unit", ""),
                "group": t.get("group", ""),
                "last_recorded": {r: last.get(r) for r in CORE_ROLES},
                "latest": latest,
                "records": sum(cats.values()),
                "by_category": {CATEGORIES[c]: n for c, n in cats.items()},
                "stale": latest is None or latest < since,
            }
        )
    return {
        "class_id": roster.get("class_id"),
        "title": roster.get("title", ""),
        "as_of": as_of.isoformat(),
        "days": days,
        "since": since,
        "starts_on": roster.get("starts_on"),
        "ends_on": roster.get("ends_on"),
        "trainees": rows,
        "stale": sum(r["stale"] for r in rows),
    }


# The recording roster's sort fields (its default order: study group, then name).
ROSTER_SORTS = {
    "name": "姓名",
    "unit": "单位",
    "group": "学习小组",
    "latest": "最近记录",
    "records": "记录数",
}


def roster_page(whole: Doc, p: Paging, stale_only: bool = False) -> Doc:
    """One page of the recording roster (`recording_roster`'s rows), searched by name, unit or
    study group and sorted; the header (the class, the stale count of the whole class) kept.
    A class may have up to 5,000 places (ClassOpened), so the page is cut here, not in the browser."""
    rows = [dict(r, _key=search_key(r["name"], r["unit"], r["group"])) for r in whole["trainees"]]
    if stale_only:
        rows = [r for r in rows if r["stale"]]
    if p.q:
        rows = [r for r in rows if p.q in r["_key"]]
    header = {k: v for k, v in whole.items() if k != "trainees"}
    shown = page_of(rows, p, shape=lambda r: {k: v for k, v in r.items() if k != "_key"})
    return {**header, "enrolled": len(whole["trainees"]), **shown}


def my_recording(roster: Doc, klass: Doc, person_id: str) -> Doc | None:
    """A class as a recorder's list shows it: their current role (or the last one they held)."""
    mine = [h for h in klass.get("history", []) if h["person_id"] == person_id]
    if not mine:
        return None
    current = (klass.get("recorders") or {}).get(fk(person_id))
    held = current or mine[-1]
    return {
        "class_id": roster.get("class_id"),
        "title": roster.get("title", ""),
        "starts_on": roster.get("starts_on"),
        "ends_on": roster.get("ends_on"),
        "role": held["role"],
        "role_name": RECORDER_ROLES[held["role"]],
        "current": current is not None,
        "trainees": len(active_trainees(roster)),
        "has_scheme": bool(klass.get("scheme")),
    }
