"""Teaching's read side: the one module (beside projections.py) that touches collections.

`Reads(db)` owns the collection names and how each is read: projection documents by
`_id`, the few scans of one small document per class (feedback, the closer's
timetables, the leave inbox's running classes, the rosters a foreign-cadre check looks
through) — FerretDB uses an index only for `_id` equality, so nothing else is filtered
on the server (shared/store.py) — and the closer's own marks. Reports are shaped here
for the reader, with the reader's jurisdiction checked on the document read; handlers
get `ClassFacts` from here.
Spreadsheets and calendars are made from these dicts in files.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.teaching import classroom as cr
from services.teaching import domain as d
from services.teaching import projections as pj
from shared import jurisdiction as jur
from shared import listing, store, visibility
from shared.auth import Principal
from shared.errors import Forbidden, NotFound
from shared.projection import public
from shared.scoped_ids import require_reaches

READERS = ("party_school", "org_department", "analyst", "admin")
NO_ATTENDANCE = {
    "attended": 0,
    "absent": 0,
    "excused": 0,
    "late": 0,
    "early_leave": 0,
    "hours": 0.0,
    "hours_by_kind": {},
}
UNSYNCED = "该班次不存在（或尚未从选学服务同步），请从班次列表中选择。"


def admit_to_class(who: Principal, jurisdiction: str, confirmed: Collection[str]) -> None:
    """Who may act on, or read, a class of `jurisdiction` whose confirmed trainees are `confirmed`.

    Staff (the school, the organisation department, ...) are bound by jurisdiction: 403
    `wrong_jurisdiction` outside theirs. A trainee acts for themself in any class whose
    roster holds them, whatever their token's jurisdiction: a county's cadre attends the
    province party school's class. A class of another jurisdiction that does not hold them
    answers as an unknown class (404), so a trainee learns nothing of classes elsewhere; in
    their own jurisdiction the command's own rule refuses them by name (`not_on_roster`).
    Routes only let a trainee act for themself (their own leave, check-in, rating, reads)."""
    if who.role == "trainee":
        if who.user_id in confirmed:
            return
        if not jur.covers(who.jurisdiction, jurisdiction):
            raise NotFound(UNSYNCED, code="class_not_found")
    who.require_covers(jurisdiction)


@dataclass(frozen=True)
class ClassFacts:
    """A class as teaching's roster projection knows it: what commands need from it."""

    class_id: str
    title: str
    jurisdiction: str
    roster: cr.Roster  # the confirmed trainees (在册学员)
    names: dict[str, str]  # everyone the class knows, any status: for messages
    starts_on: date | None = None
    ends_on: date | None = None

    @classmethod
    def of(cls, doc: dict) -> ClassFacts:
        homes = doc.get("homes", {})
        roster = {
            t["cadre_id"]: cr.Trainee(t["cadre_id"], t["name"], t["unit"], homes.get(t["cadre_id"]))
            for t in doc.get("trainees", [])
            if t["status"] == "confirmed"
        }
        opened = "starts_on" in doc
        return cls(
            doc["class_id"] if "class_id" in doc else doc["_id"],
            doc.get("title", ""),
            doc["jurisdiction"],
            roster,
            {t["cadre_id"]: t["name"] for t in doc.get("trainees", []) if t.get("name")},
            date.fromisoformat(doc["starts_on"]) if opened else None,
            date.fromisoformat(doc["ends_on"]) if opened else None,
        )

    def admit(self, who: Principal) -> None:
        admit_to_class(who, self.jurisdiction, self.roster)

    def window(self) -> d.ClassWindow:
        if self.starts_on is None or self.ends_on is None:
            raise NotFound(
                f"班次“{self.title or '（未命名）'}”的开班信息尚未同步，请稍后再试。", code="class_not_found"
            )
        size = max(len(self.roster), 1)
        return d.ClassWindow(self.class_id, self.title, self.starts_on, self.ends_on, size)


def _confirmed(roster: dict) -> list[dict]:
    return [t for t in roster.get("trainees", []) if t["status"] == "confirmed"]


def _rollup(docs: list[dict], key: str, name: str) -> list[dict]:
    acc: dict[str, dict] = {}
    for doc in docs:
        for s in doc.get("sessions", {}).values():
            if not s.get("count") or key not in s:
                continue
            a = acc.setdefault(s[key], {key: s[key], name: s[name], "ratings": 0, "sum": 0})
            a["ratings"] += s["count"]
            a["sum"] += s["sum"]
    return sorted(
        (
            {k: v for k, v in a.items() if k != "sum"} | {"average": round(a["sum"] / a["ratings"], 2)}
            for a in acc.values()
        ),
        key=lambda a: (-a["average"], a[key]),
    )


class Reads:
    ROSTER = "class_roster"
    CATALOGUE = "catalogue"
    TIMETABLE = "class_timetable"
    LOAD = "teacher_load"  # per teacher and year: their sessions and totals
    MOVES = "teacher_moves"  # per teacher and year: their sessions moved to another teacher
    SHEET = "session_sheet"
    ATTENDANCE = "class_attendance"
    HOURS = "trainee_hours"
    FEEDBACK = "feedback"
    LEAVES = "leave_inbox"  # per class: its end date and its open leave requests
    MY_CLASSES = "trainee_classes"  # per cadre: the classes naming them
    MY_SESSIONS = "trainee_sessions"  # per cadre and class: their own lines of the class's sheets
    MARKS = "closer_marks"  # the closer's own record of the sessions it closed, per class

    def __init__(self, db: Any) -> None:
        self.db = db

    async def _doc(self, collection: str, doc_id: str) -> dict:
        return public(await self.db[collection].find_one({"_id": doc_id}) or {})

    async def _covered(self, collection: str, doc_id: str, who: Principal, missing: NotFound) -> dict:
        """One projection document, if the reader's jurisdiction covers it (else 403)."""
        doc = await self.db[collection].find_one({"_id": doc_id})
        if doc is None:
            raise missing
        who.require_covers(doc["jurisdiction"])
        return public(doc)

    async def _roster(self, who: Principal, class_id: str) -> dict:
        return await self._covered(self.ROSTER, class_id, who, NotFound(UNSYNCED, code="class_not_found"))

    async def _class_for(self, who: Principal, class_id: str) -> dict:
        """The class's roster, if `who` may see the class (`admit_to_class`: a trainee on it too)."""
        doc = await self._doc(self.ROSTER, class_id)
        if not doc:
            raise NotFound(UNSYNCED, code="class_not_found")
        admit_to_class(who, doc["jurisdiction"], {t["cadre_id"] for t in _confirmed(doc)})
        return doc

    # -- what handlers need ----------------------------------------------------------------------
    async def class_facts(self, class_id: str) -> ClassFacts:
        doc = await self.db[self.ROSTER].find_one({"_id": class_id})
        if doc is None:
            raise NotFound(UNSYNCED, code="class_not_found")
        return ClassFacts.of(doc)

    async def homes(self, cadre_ids: set[str]) -> dict[str, set[str]]:
        """Where this service knows each of these cadres to belong: the home jurisdiction
        on any class roster (a scan of one document per class), and their hours ledger."""
        homes: dict[str, set[str]] = {}
        async for doc in self.db[self.ROSTER].find({}, {"trainees": 1, "homes": 1, "jurisdiction": 1}):
            for t in doc.get("trainees", []):
                if t["cadre_id"] in cadre_ids:
                    home = (doc.get("homes") or {}).get(t["cadre_id"]) or doc.get("jurisdiction")
                    if home:
                        homes.setdefault(t["cadre_id"], set()).add(home)
        async for doc in self.db[self.HOURS].find({"_id": {"$in": sorted(cadre_ids)}}, {"jurisdictions": 1}):
            homes.setdefault(doc["_id"], set()).update(doc.get("jurisdictions", []))
        return homes

    # -- what the closer needs -------------------------------------------------------------------
    async def timetables(self) -> AsyncIterator[dict]:
        """Every class's timetable (a scan of a few hundred small documents is fine on FerretDB)."""
        async for tt in self.db[self.TIMETABLE].find({}, {"sessions": 1, "jurisdiction": 1}):
            yield tt

    async def closed_by_closer(self, class_id: str) -> set[str]:
        mark = await self.db[self.MARKS].find_one({"_id": class_id}) or {}
        return set(mark.get("sessions", []))

    async def mark_closed(self, class_id: str, sessions: set[str]) -> None:
        await self.db[self.MARKS].update_one(
            {"_id": class_id}, {"$set": {"sessions": sorted(sessions)}}, upsert=True
        )

    # -- reports ---------------------------------------------------------------------------------
    async def catalogue(self, who: Principal, jurisdiction: str) -> dict:
        # Another jurisdiction's code is refused before the lookup: whether it has a catalogue
        # answers nothing (403 for any code the reader does not cover, as for an unknown one).
        who.require_covers(jurisdiction)
        return await self._covered(
            self.CATALOGUE,
            jurisdiction,
            who,
            NotFound(f"辖区 {jurisdiction} 尚无课程库。", code="catalogue_not_found"),
        )

    async def sites(self, jurisdiction: str) -> dict[str, dict]:
        return (await self._doc(self.CATALOGUE, jurisdiction)).get("sites", {})

    async def roster(self, who: Principal, class_id: str) -> dict:
        doc = await self._covered(
            self.ROSTER,
            class_id,
            who,
            NotFound("该班次的名册不存在（或尚未从选学服务同步）。", code="roster_not_found"),
        )
        doc.pop("homes", None)
        doc["trainees"] = visibility.rows(doc.get("trainees", []), who.role)
        return doc

    async def timetable(self, who: Principal, class_id: str) -> dict:
        roster = await self._class_for(who, class_id)
        if who.role == "trainee" and who.user_id not in {t["cadre_id"] for t in _confirmed(roster)}:
            raise Forbidden("学员只能查看本人在册班次的课表。", code="not_the_trainee")
        doc = await self._doc(self.TIMETABLE, class_id)
        sessions = sorted(doc.get("sessions", {}).values(), key=lambda s: (s["on"], s["starts_at"]))
        return {
            "class_id": class_id,
            "title": roster.get("title", ""),
            "jurisdiction": roster["jurisdiction"],
            "starts_on": roster.get("starts_on"),
            "ends_on": roster.get("ends_on"),
            "curriculum": doc.get("curriculum"),
            "sessions": sessions,
            "hours": round(sum(s["hours"] for s in sessions if not s["cancelled"]), 2),
        }

    async def session_sheet(self, who: Principal, class_id: str, session_id: str) -> dict:
        roster = await self._roster(who, class_id)
        doc = await self._doc(self.SHEET, session_id)
        if not doc.get("session") or doc["session"]["class_id"] != class_id:
            raise NotFound(
                f"班次“{roster.get('title', '')}”没有这个课次（或尚未同步）。", code="session_not_found"
            )
        entries = doc.get("entries", {})
        rows = []
        for t in _confirmed(roster):
            e = entries.get(t["cadre_id"], {"status": "未签到"})
            rows.append(
                {
                    "cadre_id": t["cadre_id"],
                    "name": t["name"],
                    "unit": t["unit"],
                    "status": e["status"],
                    "late": e.get("late", False),
                    "early_leave_minutes": e.get("early_leave_minutes"),
                    "leave": e.get("leave"),
                }
            )
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {
            "class_id": class_id,
            "session": doc["session"],
            "closed": doc.get("closed", False),
            "counts": counts,
            "trainees": visibility.rows(rows, who.role),
        }

    async def class_attendance(self, who: Principal, class_id: str) -> dict:
        roster = await self._roster(who, class_id)
        doc = await self._doc(self.ATTENDANCE, class_id)
        rows_by_id = doc.get("trainees", {})
        people = {t["cadre_id"]: t for t in roster.get("trainees", [])}
        confirmed = [t["cadre_id"] for t in _confirmed(roster)]
        ids = confirmed + [c for c in rows_by_id if c not in set(confirmed)]
        rows, attended, recorded = [], 0, 0
        for cadre_id in ids:
            r = rows_by_id.get(cadre_id, NO_ATTENDANCE)
            p = people.get(cadre_id, {})
            rows.append(
                {
                    "cadre_id": cadre_id,
                    "name": p.get("name", ""),
                    "unit": p.get("unit", ""),
                    "status": p.get("status", ""),
                    **r,
                    "attendance_rate": cr.attendance_rate(r["attended"], r["attended"] + r["absent"]),
                }
            )
            attended += r["attended"]
            recorded += r["attended"] + r["absent"]
        return {
            "class_id": class_id,
            "title": roster.get("title", ""),
            "jurisdiction": roster["jurisdiction"],
            "attended": attended,
            "attendance_rate": cr.attendance_rate(attended, recorded),
            "absent": recorded - attended,
            "trainees": visibility.rows(rows, who.role),
        }

    async def graduation(self, who: Principal, class_id: str) -> dict:
        roster = await self._roster(who, class_id)
        doc = await self._doc(self.ATTENDANCE, class_id)
        people = {t["cadre_id"]: t for t in roster.get("trainees", [])}
        graduated = sorted(doc.get("graduated", {}).values(), key=lambda g: g["cadre_id"])
        not_graduated = [
            {
                "cadre_id": c,
                "name": people.get(c, {}).get("name", ""),
                "unit": people.get(c, {}).get("unit", ""),
                "reasons": reasons,
            }
            for c, reasons in sorted(doc.get("not_graduated", {}).items())
        ]
        return {
            "class_id": class_id,
            "title": roster.get("title", ""),
            "graduated": visibility.rows(graduated, who.role),
            "not_graduated": visibility.rows(not_graduated, who.role, start=len(graduated) + 1),
        }

    async def trainee_hours(self, who: Principal, cadre_id: str) -> dict:
        doc = await self.db[self.HOURS].find_one({"_id": cadre_id})
        if who.role == "trainee" and who.user_id != cadre_id:
            raise Forbidden("学员只能查看本人的学时。", code="not_the_trainee")
        who.require_role(*READERS, "trainee")
        missing = NotFound("该学员尚无学时记录。", code="hours_not_found")
        if doc is None:
            raise missing
        homes = doc.get("jurisdictions", [])
        if who.role != "trainee" and not any(jur.covers(who.jurisdiction, j) for j in homes):
            require_reaches(who, homes[0], missing)  # another county's trainee: as if no hours
        return visibility.one(public(doc), who.role)

    async def teacher_load(
        self, who: Principal, jurisdiction: str, year: int, teacher_id: str, p: listing.Paging
    ) -> dict:
        """教师授课量: the teacher's own document of the year (its totals kept by the projection)
        and the sessions moved away from them, both by `_id`, whatever the county's schedule;
        one page of the sessions by date (or `p.sort`), `q` matching the course's title."""
        key = pj.teacher_key(d.timetable_stream(jurisdiction, year), teacher_id)
        missing = NotFound(f"该教师在辖区 {jurisdiction} {year} 年没有授课安排。", code="teacher_not_found")
        doc = await self._covered(self.LOAD, key, who, missing)
        moved = (await self._doc(self.MOVES, key)).get("moved", {})
        sessions = [s for sid, s in doc.get("sessions", {}).items() if moved.get(sid, 0) <= s["given"]]
        if not sessions:
            raise missing
        # Sessions moved to another teacher are in the kept totals until the read leaves them out.
        totals = doc["totals"] if len(sessions) == len(doc["sessions"]) else pj.load_totals(sessions)
        rows = sorted(sessions, key=lambda s: (s["on"], s["starts_at"]))
        if p.q:
            rows = [s for s in rows if p.q in listing.search_key(s["course_title"])]
        keys = {"on": lambda s: (s["on"], s["starts_at"])}
        shape = lambda s: {k: v for k, v in s.items() if k != "given"}  # noqa: E731
        return {
            "teacher_id": teacher_id,
            "teacher_name": doc["teacher_name"],
            "jurisdiction": jurisdiction,
            "year": year,
            **totals,
        } | listing.page_of(rows, p, keys, shape, presorted=p.sort == "on")

    async def feedback(self, who: Principal, jurisdiction: str) -> dict:
        """Ratings of every class of a jurisdiction: a scan of one small document per class."""
        who.require_covers(jurisdiction)
        docs = [
            doc
            async for doc in self.db[self.FEEDBACK].find({}, {"_applied": 0})
            if doc.get("jurisdiction") and jur.covers(jurisdiction, doc["jurisdiction"])
        ]
        return {
            "jurisdiction": jurisdiction,
            "classes": len(docs),
            "by_course": _rollup(docs, "course_id", "course_title"),
            "by_teacher": _rollup(docs, "teacher_id", "teacher_name"),
        }

    async def class_feedback(self, who: Principal, class_id: str) -> dict:
        await self._roster(who, class_id)
        doc = await self._doc(self.FEEDBACK, class_id)
        comments = [
            {
                "course_title": s.get("course_title", ""),
                "teacher_name": s.get("teacher_name", ""),
                "comment": c,
            }
            for s in doc.get("sessions", {}).values()
            for c in s.get("comments", [])
        ]
        return {
            "class_id": class_id,
            "by_course": _rollup([doc], "course_id", "course_title"),
            "by_teacher": _rollup([doc], "teacher_id", "teacher_name"),
            "comments": comments,
        }

    # -- the trainee's own pages (学员本人): my classes, my sessions ---------------------------------
    async def my_classes(self, who: Principal) -> list[dict]:
        """The classes the trainee is confirmed in (keyed by the token's person id, the cadre
        id): their own `trainee_classes` document by `_id` names the classes, whose rosters
        are then read by `_id` (a trainee's few of five years of rosters), whatever their
        jurisdiction (a province class holds counties' cadres: `admit_to_class`)."""
        who.require_role("trainee")
        mine = await self.db[self.MY_CLASSES].find_one({"_id": who.user_id}) or {}
        ids = sorted(c for c, status in mine.get("classes", {}).items() if status == "confirmed")
        rosters = await store.find_by_ids(self.db[self.ROSTER], ids, {"_applied": 0, "homes": 0})
        out = []
        for doc in rosters.values():
            if not doc.get("jurisdiction"):
                continue
            me = next((t for t in _confirmed(doc) if t["cadre_id"] == who.user_id), None)
            if me:
                out.append(
                    {
                        "class_id": doc["_id"],
                        "title": doc.get("title", ""),
                        "starts_on": doc.get("starts_on"),
                        "ends_on": doc.get("ends_on"),
                        "unit": me["unit"],
                        "size": doc.get("confirmed", 0),
                    }
                )
        return sorted(out, key=lambda c: (c["starts_on"] or "", c["class_id"]), reverse=True)

    async def my_sessions(self, who: Principal, class_id: str) -> dict:
        """The class's timetable with the trainee's own line of each session's sheet:
        attendance, leave request and its answer, the rating given. The lines come from the
        trainee's own document of the class (`trainee_sessions`), read beside the timetable,
        not from every session's sheet of the class."""
        who.require_role("trainee")
        tt, mine = await asyncio.gather(
            self.timetable(who, class_id),  # refuses a class the trainee is not confirmed in
            self._doc(self.MY_SESSIONS, pj.trainee_sessions_key(who.user_id, class_id)),
        )
        lines = mine.get("sessions", {})
        for s in tt["sessions"]:
            line = lines.get(s["session_id"], {"status": "未签到"})
            s["mine"] = {k: line.get(k) for k in ("status", "late", "early_leave_minutes", "leave", "rated")}
        return tt

    # -- the party school's leave inbox (请假审批), across sessions and classes ---------------------
    async def leave_inbox(self, who: Principal, class_id: str | None, today: date) -> dict:
        """Every pending leave request of one class, or of every class the reader covers
        that has not ended. Which classes have not ended, and which of them have requests
        open, comes from `leave_inbox` (one small document per class: its end date and its
        open requests, projections.py), never from the rosters with their trainees; only
        the classes with something open have their roster (names), timetable (sessions)
        and the requested sessions' sheets (attendance) read, by `_id`."""
        if class_id:
            await self._roster(who, class_id)  # 404 unknown, 403 another jurisdiction's
            inbox = {class_id: await self._doc(self.LEAVES, class_id)}
        else:
            inbox = {
                doc["_id"]: doc
                async for doc in self.db[self.LEAVES].find(
                    {}, {"jurisdiction": 1, "ends_on": 1, "pending": 1}
                )
                if doc.get("jurisdiction")
                and jur.covers(who.jurisdiction, doc["jurisdiction"])
                and (doc.get("ends_on") or "9999") >= today.isoformat()
            }
        asked = sorted(i for i, doc in inbox.items() if doc.get("pending"))
        rosters = await store.find_by_ids(self.db[self.ROSTER], asked, {"title": 1, "trainees": 1})
        timetables = await store.find_by_ids(self.db[self.TIMETABLE], asked, {"sessions": 1})
        session_ids = sorted({r["session_id"] for i in asked for r in inbox[i]["pending"].values()})
        sheets = await store.find_by_ids(self.db[self.SHEET], session_ids, {"entries": 1})
        requests = []
        for cid in asked:
            roster = rosters.get(cid) or {}
            people = {t["cadre_id"]: t for t in roster.get("trainees", [])}
            sessions = (timetables.get(cid) or {}).get("sessions", {})
            for r in inbox[cid]["pending"].values():
                s = sessions.get(r["session_id"])
                if s is None or s.get("cancelled"):
                    continue
                entry = (sheets.get(r["session_id"]) or {}).get("entries", {}).get(r["cadre_id"], {})
                person = people.get(r["cadre_id"], {})
                requests.append(
                    {
                        "class_id": cid,
                        "class_title": roster.get("title", ""),
                        "session_id": r["session_id"],
                        "on": s["on"],
                        "starts_at": s["starts_at"],
                        "ends_at": s["ends_at"],
                        "course_title": s.get("course_title", ""),
                        "teacher_name": s.get("teacher_name", ""),
                        "cadre_id": r["cadre_id"],
                        "name": person.get("name", ""),
                        "unit": person.get("unit", ""),
                        "reason": r.get("reason", ""),
                        "attendance": entry.get("status", "未签到"),
                    }
                )
        requests.sort(key=lambda r: (r["on"], r["starts_at"], r["class_title"], r["name"]))
        return {"count": len(requests), "classes": len(inbox), "requests": requests}
