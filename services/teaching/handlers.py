"""Command handlers: resolve the facts a command needs from other aggregates, check who
may act, decide, append. At most two stream loads per request (catalogue or timetable,
and the aggregate itself), and the roster is one read by `_id`; graduation, once per
class, also closes and reads every session of the class."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date

from shared import store
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.teaching import OnlineHoursCredited
from shared.errors import NotFound
from shared.events import Envelope
from shared.jurisdiction import covers
from shared.runtime import Runtime
from services.teaching import classroom as cr
from services.teaching import domain as d

CATALOGUE = d.CatalogueDecider()
TIMETABLE = d.TimetableDecider()
CLASS = cr.ClassRecordDecider()
ATTENDANCE = cr.AttendanceDecider()
ONLINE = d.OnlineLedgerDecider()


class ClassFacts:
    """A class as teaching's roster projection knows it."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.class_id = doc["class_id"] if "class_id" in doc else doc["_id"]
        self.jurisdiction = doc["jurisdiction"]
        homes = doc.get("homes", {})
        self.roster: dict[str, cr.Trainee] = {
            t["cadre_id"]: cr.Trainee(t["cadre_id"], t["name"], t["unit"], homes.get(t["cadre_id"]))
            for t in doc.get("trainees", []) if t["status"] == "confirmed"
        }

    @property
    def opened(self) -> bool:
        return "starts_on" in self.doc

    def window(self) -> d.ClassWindow:
        if not self.opened:
            raise NotFound(f"班次 {self.class_id} 的开班信息尚未同步，请稍后再试。", code="class_not_found")
        return d.ClassWindow(self.class_id, self.doc["title"], date.fromisoformat(self.doc["starts_on"]),
                             date.fromisoformat(self.doc["ends_on"]), max(len(self.roster), 1))


async def class_facts(rt: Runtime, who: Principal, class_id: str) -> ClassFacts:
    doc = await rt.db["class_roster"].find_one({"_id": class_id})
    if doc is None:
        raise NotFound(f"班次 {class_id} 不存在（或尚未从选学服务同步）。", code="class_not_found")
    who.require_covers(doc["jurisdiction"])
    return ClassFacts(doc)


def _as_class(ctx: Context, facts: ClassFacts) -> Context:
    # A class's teaching record and timetable live in the class's own jurisdiction, so
    # their events reach that county's topic whoever (a covering city/province) acts.
    return replace(ctx, jurisdiction=facts.jurisdiction)


async def catalogue(rt: Runtime, jurisdiction: str) -> d.CatalogueState:
    return (await rt.commands.load(CATALOGUE, d.catalogue_stream(jurisdiction))).state


async def timetable(rt: Runtime, facts: ClassFacts) -> d.TimetableState:
    """The sessions of the years the class spans (one year's timetable, rarely two)."""
    window = facts.window()
    merged = d.TimetableState()
    for year in range(window.starts_on.year, window.ends_on.year + 1):
        merged.sessions.update((await rt.commands.load(TIMETABLE, d.timetable_stream(facts.jurisdiction, year)))
                               .state.sessions)
    return merged


async def session(rt: Runtime, facts: ClassFacts, session_id: str) -> d.Session:
    return (await timetable(rt, facts)).session(facts.class_id, session_id)


async def _on_timetable_of(rt: Runtime, ctx: Context, facts: ClassFacts, session_id: str, cmd) -> list[Envelope]:
    held = await session(rt, facts, session_id)     # NotFound when it is not this class's
    return await rt.commands.execute(TIMETABLE, d.timetable_stream(facts.jurisdiction, held.on.year), cmd,
                                     _as_class(ctx, facts))


# -- catalogue -------------------------------------------------------------------------------
async def add_to_catalogue(commands: CommandHandler, ctx: Context, cmd) -> list[Envelope]:
    return await commands.execute(CATALOGUE, d.catalogue_stream(ctx.jurisdiction), cmd, ctx)


# -- curriculum and timetable ------------------------------------------------------------------
async def set_curriculum(rt: Runtime, ctx: Context, who: Principal, class_id: str, course_ids: list[str],
                         required_hours: dict[str, float]) -> list[Envelope]:
    facts = await class_facts(rt, who, class_id)
    known = frozenset((await catalogue(rt, ctx.jurisdiction)).courses)
    cmd = cr.SetCurriculum(class_id, tuple(course_ids), required_hours, known)
    return await rt.commands.execute(CLASS, cr.class_stream(class_id), cmd, _as_class(ctx, facts))


async def schedule(rt: Runtime, ctx: Context, who: Principal, class_id: str, body,
                   id_given: bool = True) -> list[Envelope]:
    facts = await class_facts(rt, who, class_id)
    cat = await catalogue(rt, ctx.jurisdiction)
    cmd = d.ScheduleSession(
        session_id=body.session_id, klass=facts.window(), course=cat.course(body.course_id),
        teacher=cat.teacher(body.teacher_id), site=cat.site(body.site_id), on=body.on,
        starts_at=body.starts_at, ends_at=body.ends_at, hours=body.hours, required=body.required,
        id_given=id_given)
    return await rt.commands.execute(TIMETABLE, d.timetable_stream(facts.jurisdiction, body.on.year), cmd,
                                     _as_class(ctx, facts))


async def reschedule(rt: Runtime, ctx: Context, who: Principal, class_id: str, session_id: str,
                     body) -> list[Envelope]:
    facts = await class_facts(rt, who, class_id)
    cat = await catalogue(rt, ctx.jurisdiction)
    cmd = d.RescheduleSession(session_id, facts.window(), body.on, body.starts_at, body.ends_at,
                              cat.teacher(body.teacher_id), cat.site(body.site_id), body.reason)
    return await _on_timetable_of(rt, ctx, facts, session_id, cmd)


async def cancel(rt: Runtime, ctx: Context, who: Principal, class_id: str, session_id: str,
                 reason: str) -> list[Envelope]:
    facts = await class_facts(rt, who, class_id)
    return await _on_timetable_of(rt, ctx, facts, session_id, d.CancelSession(session_id, class_id, reason))


# -- attendance, leave, ratings -----------------------------------------------------------------
async def on_session(rt: Runtime, ctx: Context, who: Principal, class_id: str, session_id: str,
                     make) -> list[Envelope]:
    """Runs `make(session, facts)` → an attendance command, on the session's stream."""
    facts = await class_facts(rt, who, class_id)
    s = await session(rt, facts, session_id)
    return await rt.commands.execute(ATTENDANCE, cr.attendance_stream(class_id, session_id), make(s, facts),
                                     _as_class(ctx, facts))


async def graduate(rt: Runtime, ctx: Context, who: Principal, class_id: str, today: date,
                   rule: cr.GraduationRule, on: date | None = None) -> list[Envelope]:
    """Closes every held session (its absences are part of the verdict), then decides.

    Once a session is closed everyone on the roster has either attended or an absence,
    and a later check-in of an absentee is refused, so the attendance read after
    closing is the one the verdict is about even if check-ins race with graduation."""
    facts = await class_facts(rt, who, class_id)
    window = facts.window()
    cr.graduation_date(window.title, window.ends_on, today, on)      # a wrong date closes nothing
    cls_ctx = _as_class(ctx, facts)
    record = await rt.commands.load(CLASS, cr.class_stream(class_id))
    pending = {c: t for c, t in facts.roster.items() if c not in record.state.concluded}
    sessions = tuple((await timetable(rt, facts)).of_class(class_id))
    held = [s for s in sessions if not s.cancelled]
    closed: list[Envelope] = []
    if pending:
        async def close(s: d.Session) -> frozenset[str]:
            stream = cr.attendance_stream(class_id, s.session_id)
            closed.extend(await rt.commands.execute(ATTENDANCE, stream, cr.CloseSession(s, pending, today), cls_ctx))
            return frozenset((await rt.commands.load(ATTENDANCE, stream)).state.attended)
        attended = dict(zip([s.session_id for s in held],
                            await store.gather_chunked([lambda s=s: close(s) for s in held], size=8)))
    else:
        attended = {}     # the decider refuses: everyone is judged already
    cmd = cr.Graduate(class_id, window.title, window.ends_on, today, sessions, attended, facts.roster, rule, on)
    return closed + await rt.commands.execute(CLASS, cr.class_stream(class_id), cmd, cls_ctx)


# -- online hours -------------------------------------------------------------------------------
async def foreign_cadres(rt: Runtime, who: Principal, cadre_ids: set[str]) -> list[str]:
    """The cadre ids this service knows to belong elsewhere: on a class roster (by home
    jurisdiction) or in an hours ledger, and nowhere under `who`'s jurisdiction. Crediting
    one would add to another county's figures and open that cadre's hours to the importer."""
    homes: dict[str, set[str]] = {}
    async for doc in rt.db["class_roster"].find({}, {"trainees": 1, "homes": 1, "jurisdiction": 1}):
        for t in doc.get("trainees", []):
            if t["cadre_id"] in cadre_ids:
                home = (doc.get("homes") or {}).get(t["cadre_id"]) or doc.get("jurisdiction")
                if home:
                    homes.setdefault(t["cadre_id"], set()).add(home)
    async for doc in rt.db["trainee_hours"].find({"_id": {"$in": sorted(cadre_ids)}}, {"jurisdictions": 1}):
        homes.setdefault(doc["_id"], set()).update(doc.get("jurisdictions", []))
    return sorted(c for c, hs in homes.items() if not any(covers(who.jurisdiction, h) for h in hs))


async def credit_online(commands: CommandHandler, ctx: Context,
                        records: list[OnlineHoursCredited]) -> list[Envelope]:
    by_year: dict[int, list[OnlineHoursCredited]] = defaultdict(list)
    for r in records:
        by_year[r.on.year].append(r)
    out: list[Envelope] = []
    for year, recs in sorted(by_year.items()):
        out += await commands.execute(ONLINE, d.online_stream(ctx.jurisdiction, year),
                                      d.CreditOnlineHours(tuple(recs)), ctx)
    return out
