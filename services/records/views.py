"""Pure read-side computations over projection documents: completeness, the weekly
group review, the monthly summary, rankings and the portrait's figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from shared.contracts.records import CATEGORIES, CORE_ROLES, RECORDER_ROLES
from services.records.projections import fk, unfk

Doc = dict[str, Any]


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
            rows.append({"cadre_id": cid, "name": t["name"], "group": t.get("group", ""),
                         "missing_roles": missing, "missing_role_names": [RECORDER_ROLES[r] for r in missing],
                         "last_recorded": {r: last.get(r) for r in CORE_ROLES}})
    return {"class_id": roster.get("class_id"), "as_of": as_of.isoformat(), "days": days, "since": since.isoformat(),
            "trainees": len(active_trainees(roster)), "uncovered": rows}


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
        rows.append({"cadre_id": cid, "name": t["name"], "group": t.get("group", ""),
                     "by_group": group_points(pts, scheme), "total": round(sum(pts.values()), 2)})
    return rows


def by_study_group(rows: list[Doc]) -> list[Doc]:
    groups: dict[str, list[Doc]] = defaultdict(list)
    for r in rows:
        groups[r["group"] or "未分组"].append(dict(r))
    return [{"group": g, "trainees": rank(members),
             "average": round(sum(m["total"] for m in members) / len(members), 2)}
            for g, members in sorted(groups.items())]


def ranking(roster: Doc, klass: Doc | None) -> Doc:
    scheme = (klass or {}).get("scheme")
    rows = _rows(roster, (klass or {}).get("totals", {}), scheme)
    return {"class_id": roster.get("class_id"), "weeks": (klass or {}).get("weeks", []),
            "class_ranking": rank([dict(r) for r in rows]), "study_groups": by_study_group(rows)}


def weekly_review(roster: Doc, klass: Doc | None, week_doc: Doc | None, week: date) -> Doc:
    scheme = (klass or {}).get("scheme")
    rows = _rows(roster, (week_doc or {}).get("points", {}), scheme)
    scorers = (week_doc or {}).get("scorers", {})
    notes = (week_doc or {}).get("notes", {})
    for r in rows:
        r["scored_by"] = scorers.get(fk(r["cadre_id"]), [])
        r["notes"] = notes.get(fk(r["cadre_id"]), [])
    return {"class_id": roster.get("class_id"), "week": week.isoformat(),
            "unscored": sorted(r["name"] for r in rows if not r["scored_by"]),
            "study_groups": by_study_group(rows)}


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
    return {"class_id": roster.get("class_id"), "month": month, "weeks": sorted(weeks),
            "class_ranking": rank([dict(r) for r in rows]), "study_groups": by_study_group(rows)}


def attendance(roster: Doc, file: Doc) -> Doc:
    sessions = roster.get("sessions", {})
    attended = file.get("attended", {})
    absent = file.get("absent", {})
    scheduled_hours = round(sum(s["hours"] for s in sessions.values() if s.get("required", True)), 2)
    hours = round(sum(a["hours"] for a in attended.values()), 2)
    considered = len(attended) + len(absent)
    return {"sessions": len(sessions), "attended": len(attended), "late": sum(1 for a in attended.values() if a["late"]),
            "absent": sum(1 for a in absent.values() if not a["excused"]),
            "excused": sum(1 for a in absent.values() if a["excused"]),
            "hours": hours, "scheduled_hours": scheduled_hours,
            "rate": round(len(attended) / considered, 4) if considered else None,
            "graduated": file.get("graduated")}


def portrait(roster: Doc, klass: Doc | None, file: Doc) -> Doc:
    """Strengths and concerns by category, score profile against the class, coverage."""
    cid = file["cadre_id"]
    scheme = (klass or {}).get("scheme")
    totals = (klass or {}).get("totals", {})
    mine = group_points(totals.get(fk(cid), {}), scheme)
    members = [c for c in active_trainees(roster)] or [cid]
    profile = []
    for g, items in scheme_groups(scheme).items():
        avg = sum(group_points(totals.get(fk(c), {}), scheme).get(g, 0.0) for c in members) / len(members)
        weeks = max(len((klass or {}).get("weeks", [])), 1)
        profile.append({"group": g, "mine": mine.get(g, 0.0), "class_average": round(avg, 2),
                        "max_per_week": sum(float(i["max_points"]) for i in items), "weeks": weeks})
    by_cat: dict[str, list[Doc]] = {c: [] for c in CATEGORIES}
    for r in current_records(file):
        by_cat.setdefault(r["category"], []).append(r)
    coverage = (klass or {}).get("coverage", {}).get(fk(cid), {})
    authors = sorted({(r["author_name"], r["author_role"]) for r in file.get("records", [])})
    strengths = [x["group"] for x in profile if x["mine"] > x["class_average"]]
    concerns = [f"{x['group']}低于全班平均" for x in profile if x["mine"] < x["class_average"]]
    concerns += [f"{CATEGORIES[c]}暂无记录" for c, rs in by_cat.items() if not rs and c != "other"]
    return {"categories": [{"category": c, "name": CATEGORIES.get(c, c), "records": rs} for c, rs in by_cat.items()],
            "strengths": strengths, "concerns": concerns,
            "profile": profile, "coverage": {r: coverage.get(r) for r in RECORDER_ROLES},
            "authors": [{"name": n, "role": RECORDER_ROLES.get(r, r)} for n, r in authors],
            "records": len(file.get("records", [])), "corrections": sum(1 for r in file.get("records", []) if r["corrects"])}


def current_records(file: Doc) -> list[Doc]:
    """The records that stand: those no later record corrects."""
    return [r for r in file.get("records", []) if not r.get("corrected_by")]


def scores_by_week(file: Doc, scheme: Doc | None) -> list[Doc]:
    weeks: dict[str, dict[str, float]] = defaultdict(dict)
    for s in file.get("sheets", []):
        for it in s["scores"]:
            weeks[s["week"]][it["item_id"]] = it["points"]
    return [{"week": w, "by_group": group_points(p, scheme), "total": round(sum(p.values()), 2)}
            for w, p in sorted(weeks.items())]


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
        rows.append({"cadre_id": cid, "name": t["name"], "unit": t.get("unit", ""),
                     "group": t.get("group", ""), "last_recorded": {r: last.get(r) for r in CORE_ROLES},
                     "latest": latest, "records": sum(cats.values()),
                     "by_category": {CATEGORIES[c]: n for c, n in cats.items()},
                     "stale": latest is None or latest < since})
    return {"class_id": roster.get("class_id"), "title": roster.get("title", ""), "as_of": as_of.isoformat(),
            "days": days, "since": since, "starts_on": roster.get("starts_on"),
            "ends_on": roster.get("ends_on"), "trainees": rows, "stale": sum(r["stale"] for r in rows)}


def my_recording(roster: Doc, klass: Doc, person_id: str) -> Doc | None:
    """A class as a recorder's list shows it: their current role (or the last one they held)."""
    mine = [h for h in klass.get("history", []) if h["person_id"] == person_id]
    if not mine:
        return None
    current = (klass.get("recorders") or {}).get(fk(person_id))
    held = current or mine[-1]
    return {"class_id": roster.get("class_id"), "title": roster.get("title", ""),
            "starts_on": roster.get("starts_on"), "ends_on": roster.get("ends_on"), "role": held["role"],
            "role_name": RECORDER_ROLES[held["role"]],
            "current": current is not None, "trainees": len(active_trainees(roster)),
            "has_scheme": bool(klass.get("scheme"))}
