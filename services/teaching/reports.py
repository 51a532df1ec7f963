"""Queries: projection documents read by `_id` and shaped for the reader (no scans)."""

from __future__ import annotations

from shared import jurisdiction as jur
from shared import store
from shared.api import read_document
from shared.auth import Principal
from shared.errors import NotFound
from shared.projection import public
from shared.runtime import Runtime
from services.teaching.classroom import attendance_rate
from services.teaching.domain import timetable_stream

READERS = ("party_school", "org_department", "analyst", "admin")


async def _roster(rt: Runtime, who: Principal, class_id: str) -> dict:
    return await read_document(rt, "class_roster", class_id, who,
                               NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found"))


async def _doc(rt: Runtime, collection: str, doc_id: str) -> dict:
    return public(await rt.db[collection].find_one({"_id": doc_id}) or {})


def _confirmed(roster: dict) -> list[dict]:
    return [t for t in roster.get("trainees", []) if t["status"] == "confirmed"]


async def timetable(rt: Runtime, who: Principal, class_id: str) -> dict:
    roster = await _roster(rt, who, class_id)
    if who.role == "trainee" and who.user_id not in {t["cadre_id"] for t in _confirmed(roster)}:
        who.require_role(*READERS)
    doc = await _doc(rt, "class_timetable", class_id)
    sessions = sorted(doc.get("sessions", {}).values(), key=lambda s: (s["on"], s["starts_at"]))
    return {"class_id": class_id, "title": roster.get("title", ""), "jurisdiction": roster["jurisdiction"],
            "starts_on": roster.get("starts_on"), "ends_on": roster.get("ends_on"),
            "curriculum": doc.get("curriculum"), "sessions": sessions,
            "hours": round(sum(s["hours"] for s in sessions if not s["cancelled"]), 2)}


async def session_sheet(rt: Runtime, who: Principal, class_id: str, session_id: str) -> dict:
    roster = await _roster(rt, who, class_id)
    doc = await _doc(rt, "session_sheet", session_id)
    if not doc.get("session") or doc["session"]["class_id"] != class_id:
        raise NotFound(f"班次 {class_id} 没有课次 {session_id}（或尚未同步）。", code="session_not_found")
    entries = doc.get("entries", {})
    rows = []
    for t in _confirmed(roster):
        e = entries.get(t["cadre_id"], {"status": "未签到"})
        rows.append({"cadre_id": t["cadre_id"], "name": t["name"], "unit": t["unit"], "status": e["status"],
                     "late": e.get("late", False), "early_leave_minutes": e.get("early_leave_minutes"),
                     "leave": e.get("leave")})
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return {"class_id": class_id, "session": doc["session"], "counts": counts, "trainees": rows}


async def class_attendance(rt: Runtime, who: Principal, class_id: str) -> dict:
    roster = await _roster(rt, who, class_id)
    doc = await _doc(rt, "class_attendance", class_id)
    rows_by_id = doc.get("trainees", {})
    people = {t["cadre_id"]: t for t in roster.get("trainees", [])}
    ids = [t["cadre_id"] for t in _confirmed(roster)] + [c for c in rows_by_id if c not in
                                                         {t["cadre_id"] for t in _confirmed(roster)}]
    rows, attended, recorded = [], 0, 0
    for cadre_id in ids:
        r = rows_by_id.get(cadre_id, {"attended": 0, "absent": 0, "excused": 0, "late": 0, "early_leave": 0,
                                      "hours": 0.0, "hours_by_kind": {}})
        p = people.get(cadre_id, {})
        rows.append({"cadre_id": cadre_id, "name": p.get("name", ""), "unit": p.get("unit", ""),
                     "status": p.get("status", ""), **r,
                     "attendance_rate": attendance_rate(r["attended"], r["attended"] + r["absent"])})
        attended += r["attended"]
        recorded += r["attended"] + r["absent"]
    return {"class_id": class_id, "title": roster.get("title", ""), "jurisdiction": roster["jurisdiction"],
            "attendance_rate": attendance_rate(attended, recorded), "attended": attended,
            "absent": recorded - attended, "trainees": rows}


ATTENDANCE_HEADERS = ["干部编号", "姓名", "单位", "出勤次数", "缺勤次数", "其中请假", "迟到", "早退",
                      "学时", "理论课", "党性课", "实践课", "能力课", "出勤率"]


def attendance_rows(report: dict) -> list[list]:
    return [[t["cadre_id"], t["name"], t["unit"], t["attended"], t["absent"], t["excused"], t["late"],
             t["early_leave"], t["hours"], *(t["hours_by_kind"].get(k, 0) for k in ATTENDANCE_HEADERS[9:13]),
             f"{t['attendance_rate']:.1%}"] for t in report["trainees"]]


async def graduation(rt: Runtime, who: Principal, class_id: str) -> dict:
    roster = await _roster(rt, who, class_id)
    doc = await _doc(rt, "class_attendance", class_id)
    people = {t["cadre_id"]: t for t in roster.get("trainees", [])}
    graduated = sorted(doc.get("graduated", {}).values(), key=lambda g: g["cadre_id"])
    not_graduated = [{"cadre_id": c, "name": people.get(c, {}).get("name", ""),
                      "unit": people.get(c, {}).get("unit", ""), "reasons": reasons}
                     for c, reasons in sorted(doc.get("not_graduated", {}).items())]
    return {"class_id": class_id, "title": roster.get("title", ""), "graduated": graduated,
            "not_graduated": not_graduated}


GRADUATION_HEADERS = ["干部编号", "姓名", "单位", "结果", "学时", "出勤率", "未结业原因"]


def graduation_rows(g: dict) -> list[list]:
    return ([[x["cadre_id"], x["name"], x["unit"], "结业", x["hours"], f"{x['attendance_rate']:.1%}", ""]
             for x in g["graduated"]]
            + [[x["cadre_id"], x["name"], x["unit"], "未结业", "", "", "；".join(x["reasons"])]
               for x in g["not_graduated"]])


async def trainee_hours(rt: Runtime, who: Principal, cadre_id: str) -> dict:
    doc = await rt.db["trainee_hours"].find_one({"_id": cadre_id})
    if who.role == "trainee":
        if who.user_id != cadre_id:
            who.require_role(*READERS)     # a trainee reads only their own hours
    else:
        who.require_role(*READERS)
    if doc is None:
        raise NotFound(f"学员 {cadre_id} 尚无学时记录。", code="hours_not_found")
    if who.role != "trainee":
        if not any(jur.covers(who.jurisdiction, j) for j in doc.get("jurisdictions", [])):
            who.require_covers(doc["jurisdictions"][0])
    return public(doc)


async def teacher_load(rt: Runtime, who: Principal, jurisdiction: str, year: int, teacher_id: str) -> dict:
    doc = await read_document(rt, "schedule", timetable_stream(jurisdiction, year), who,
                              NotFound(f"辖区 {jurisdiction} {year} 年尚无课表。", code="schedule_not_found"))
    mine = sorted((s for s in doc.get("sessions", {}).values() if s["teacher_id"] == teacher_id and not s["cancelled"]),
                  key=lambda s: (s["on"], s["starts_at"]))
    if not mine:
        raise NotFound(f"教师 {teacher_id} 在辖区 {jurisdiction} {year} 年没有授课安排。", code="teacher_not_found")
    by_kind: dict[str, float] = {}
    for s in mine:
        by_kind[s["kind"]] = round(by_kind.get(s["kind"], 0) + s["hours"], 2)
    return {"teacher_id": teacher_id, "teacher_name": mine[-1]["teacher_name"], "jurisdiction": jurisdiction,
            "year": year,
            "sessions": len(mine), "hours": round(sum(s["hours"] for s in mine), 2), "hours_by_kind": by_kind,
            "classes": sorted({s["class_id"] for s in mine}), "schedule": mine}


def _rollup(docs: list[dict], key: str, name: str) -> list[dict]:
    acc: dict[str, dict] = {}
    for doc in docs:
        for s in doc.get("sessions", {}).values():
            if not s.get("count") or key not in s:
                continue
            a = acc.setdefault(s[key], {key: s[key], name: s[name], "ratings": 0, "sum": 0})
            a["ratings"] += s["count"]
            a["sum"] += s["sum"]
    return sorted(({k: v for k, v in a.items() if k != "sum"} | {"average": round(a["sum"] / a["ratings"], 2)}
                   for a in acc.values()), key=lambda a: (-a["average"], a[key]))


async def feedback(rt: Runtime, who: Principal, jurisdiction: str) -> dict:
    """Ratings of every class of a jurisdiction: a scan of one small document per class."""
    who.require_covers(jurisdiction)
    docs = [d async for d in rt.db["feedback"].find({}, {"_applied": 0})
            if d.get("jurisdiction") and jur.covers(jurisdiction, d["jurisdiction"])]
    return {"jurisdiction": jurisdiction, "classes": len(docs), "by_course": _rollup(docs, "course_id", "course_title"),
            "by_teacher": _rollup(docs, "teacher_id", "teacher_name")}


async def class_feedback(rt: Runtime, who: Principal, class_id: str) -> dict:
    await _roster(rt, who, class_id)
    doc = await _doc(rt, "feedback", class_id)
    comments = [{"course_title": s.get("course_title", ""), "teacher_name": s.get("teacher_name", ""), "comment": c}
                for s in doc.get("sessions", {}).values() for c in s.get("comments", [])]
    return {"class_id": class_id, "by_course": _rollup([doc], "course_id", "course_title"),
            "by_teacher": _rollup([doc], "teacher_id", "teacher_name"), "comments": comments}


# -- the trainee's own pages (学员本人): my classes, my sessions ----------------------------------
def _trainee_only(who: Principal) -> None:
    """These read the caller's own rows, keyed by the token's person id (the cadre id)."""
    who.require_role("trainee")


async def my_classes(rt: Runtime, who: Principal) -> list[dict]:
    """The classes the trainee is confirmed in: a scan of the rosters of their jurisdiction
    (one small document per class, as the feedback rollup scans)."""
    _trainee_only(who)
    out = []
    async for doc in rt.db["class_roster"].find({}, {"_applied": 0, "homes": 0}):
        if not doc.get("jurisdiction") or not jur.covers(who.jurisdiction, doc["jurisdiction"]):
            continue
        me = next((t for t in _confirmed(doc) if t["cadre_id"] == who.user_id), None)
        if me:
            out.append({"class_id": doc["_id"], "title": doc.get("title", ""),
                        "starts_on": doc.get("starts_on"), "ends_on": doc.get("ends_on"), "unit": me["unit"],
                        "size": doc.get("confirmed", 0)})
    return sorted(out, key=lambda c: (c["starts_on"] or "", c["class_id"]), reverse=True)


async def my_sessions(rt: Runtime, who: Principal, class_id: str) -> dict:
    """The class's timetable with the trainee's own line of each session's sheet: attendance,
    leave request and its answer, the rating given."""
    _trainee_only(who)
    tt = await timetable(rt, who, class_id)      # refuses a class the trainee is not confirmed in
    # point reads by id (shared/store.py: FerretDB indexes only `_id` equality)
    sheets = await store.find_by_ids(rt.db["session_sheet"], [s["session_id"] for s in tt["sessions"]],
                                     {"_applied": 0})
    for s in tt["sessions"]:
        mine = sheets.get(s["session_id"], {}).get("entries", {}).get(who.user_id, {"status": "未签到"})
        s["mine"] = {k: mine.get(k) for k in ("status", "late", "early_leave_minutes", "leave", "rated")}
    return tt
