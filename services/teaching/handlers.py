"""Teaching's commands: resolve the facts a command needs from other aggregates (the
class from the roster read model, the catalogue, the timetable), check who may act,
decide, append. At most two stream loads per request (catalogue or timetable, and the
aggregate itself), and the roster is one read by `_id`; graduation, once per class,
also closes and reads every session of the class.

`Handlers` stands on three ports (shared/ports.py): `Commands` for the deciders,
teaching's `Reads`, and a `Clock` for "today"; service.py composes the real ones, the
handler tests (tests/unit/test_teaching_handlers.py) the in-memory ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date, time

from services.teaching import classroom as cr
from services.teaching import domain as d
from services.teaching.checkin import CheckinCodes
from services.teaching.reads import ClassFacts, Reads
from shared import store
from shared.auth import Principal
from shared.clock import CHINA
from shared.commands import Context
from shared.contracts.teaching import CourseAdded, FacultyAdded, OnlineHoursCredited, TeachingSiteAdded
from shared.errors import DomainError, Forbidden
from shared.events import Envelope
from shared.jurisdiction import covers
from shared.ports import Clock, Commands

CATALOGUE = d.CatalogueDecider()
TIMETABLE = d.TimetableDecider()
CLASS = cr.ClassRecordDecider()
ATTENDANCE = cr.AttendanceDecider()
ONLINE = d.OnlineLedgerDecider()

# An attendance command made from the session and the class, once the handler has loaded them.
SessionCommand = Callable[[d.Session, ClassFacts], object]


def _as_class(ctx: Context, facts: ClassFacts) -> Context:
    # A class's teaching record and timetable live in the class's own jurisdiction, so
    # their events reach that county's topic whoever (a covering city/province) acts.
    return replace(ctx, jurisdiction=facts.jurisdiction)


def _names(facts: ClassFacts) -> frozenset[str]:
    """The full names of the class's trainees (a session's reason may name none of them)."""
    return frozenset(t.name for t in facts.roster.values())


class Handlers:
    def __init__(self, commands: Commands, reads: Reads, clock: Clock, codes: CheckinCodes) -> None:
        self.commands = commands
        self.reads = reads
        self.clock = clock
        self.codes = codes

    # -- the facts commands stand on -------------------------------------------------------------
    async def class_facts(self, who: Principal, class_id: str) -> ClassFacts:
        facts = await self.reads.class_facts(class_id)
        facts.admit(who)  # staff by jurisdiction; a trainee on the roster whatever theirs
        return facts

    async def catalogue(self, jurisdiction: str) -> d.CatalogueState:
        return (await self.commands.load(CATALOGUE, d.catalogue_stream(jurisdiction))).state

    async def timetable(self, facts: ClassFacts) -> d.TimetableState:
        """The sessions of the years the class spans (one year's timetable, rarely two)."""
        window = facts.window()
        return d.TimetableState.merged(
            [
                (await self.commands.load(TIMETABLE, d.timetable_stream(facts.jurisdiction, year))).state
                for year in range(window.starts_on.year, window.ends_on.year + 1)
            ]
        )

    async def session(self, facts: ClassFacts, session_id: str) -> d.Session:
        return (await self.timetable(facts)).session(facts.class_id, session_id, facts.title)

    async def _on_timetable_of(self, ctx: Context, facts: ClassFacts, session_id: str, cmd) -> list[Envelope]:
        held = await self.session(facts, session_id)  # NotFound when it is not this class's
        stream = d.timetable_stream(facts.jurisdiction, held.on.year)
        return await self.commands.execute(TIMETABLE, stream, cmd, _as_class(ctx, facts))

    # -- catalogue ---------------------------------------------------------------------------------
    async def add_to_catalogue(self, ctx: Context, cmd) -> list[Envelope]:
        return await self.commands.execute(CATALOGUE, d.catalogue_stream(ctx.jurisdiction), cmd, ctx)

    async def add_course(self, ctx: Context, course: CourseAdded) -> list[Envelope]:
        return await self.add_to_catalogue(ctx, d.AddCourse(course))

    async def add_courses(self, ctx: Context, courses: list[CourseAdded]) -> list[Envelope]:
        return await self.add_to_catalogue(ctx, d.AddCourses(tuple(courses)))

    async def add_faculty(self, ctx: Context, teacher: FacultyAdded) -> list[Envelope]:
        return await self.add_to_catalogue(ctx, d.AddFaculty(teacher))

    async def add_site(self, ctx: Context, site: TeachingSiteAdded) -> list[Envelope]:
        return await self.add_to_catalogue(ctx, d.AddSite(site))

    # -- curriculum and timetable ------------------------------------------------------------------
    async def set_curriculum(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        course_ids: list[str],
        required_hours: dict[str, float],
    ) -> list[Envelope]:
        facts = await self.class_facts(who, class_id)
        known = frozenset((await self.catalogue(ctx.jurisdiction)).courses)
        cmd = cr.SetCurriculum(class_id, tuple(course_ids), required_hours, known)
        return await self.commands.execute(CLASS, cr.class_stream(class_id), cmd, _as_class(ctx, facts))

    async def schedule(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        session_id: str,
        course_id: str,
        teacher_id: str,
        site_id: str,
        on: date,
        starts_at: time,
        ends_at: time,
        hours: float | None = None,
        required: bool | None = None,
        id_given: bool = True,
    ) -> list[Envelope]:
        facts = await self.class_facts(who, class_id)
        cat = await self.catalogue(ctx.jurisdiction)
        cmd = d.ScheduleSession(
            session_id=session_id,
            klass=facts.window(),
            course=cat.course(course_id),
            teacher=cat.teacher(teacher_id),
            site=cat.site(site_id),
            on=on,
            starts_at=starts_at,
            ends_at=ends_at,
            hours=hours,
            required=required,
            id_given=id_given,
        )
        return await self.commands.execute(
            TIMETABLE, d.timetable_stream(facts.jurisdiction, on.year), cmd, _as_class(ctx, facts)
        )

    async def reschedule(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        session_id: str,
        on: date,
        starts_at: time,
        ends_at: time,
        teacher_id: str,
        site_id: str,
        reason: str = "",
    ) -> list[Envelope]:
        facts = await self.class_facts(who, class_id)
        cat = await self.catalogue(ctx.jurisdiction)
        cmd = d.RescheduleSession(
            session_id,
            facts.window(),
            on,
            starts_at,
            ends_at,
            cat.teacher(teacher_id),
            cat.site(site_id),
            reason,
            trainee_names=_names(facts),
        )
        return await self._on_timetable_of(ctx, facts, session_id, cmd)

    async def cancel(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, reason: str
    ) -> list[Envelope]:
        facts = await self.class_facts(who, class_id)
        cmd = d.CancelSession(session_id, class_id, reason, trainee_names=_names(facts))
        return await self._on_timetable_of(ctx, facts, session_id, cmd)

    # -- attendance, leave, ratings -----------------------------------------------------------------
    async def on_session(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, make: SessionCommand
    ) -> list[Envelope]:
        """Runs `make(session, facts)` → an attendance command, on the session's stream."""
        facts = await self.class_facts(who, class_id)
        s = await self.session(facts, session_id)
        return await self.commands.execute(
            ATTENDANCE, cr.attendance_stream(class_id, session_id), make(s, facts), _as_class(ctx, facts)
        )

    async def check_in(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, entries: list[tuple[str, bool]]
    ) -> list[Envelope]:
        today = await self.clock.today()
        return await self.on_session(
            ctx,
            who,
            class_id,
            session_id,
            lambda s, f: cr.CheckIn(s, tuple(entries), f.roster, today, f.names),
        )

    # -- self check-in (扫码签到) -------------------------------------------------------------------
    async def _wall_now(self):
        """Now as Beijing wall time without a zone, as sessions' dates and times are kept."""
        return (await self.clock.now()).astimezone(CHINA).replace(tzinfo=None)

    async def open_self_check_in(self, ctx: Context, who: Principal, class_id: str, session_id: str) -> dict:
        """Opens the session for self check-in (until it ends) and gives the first code."""
        now = await self._wall_now()
        await self.on_session(ctx, who, class_id, session_id, lambda s, f: cr.OpenSelfCheckIn(s, now))
        return await self.check_in_code(who, class_id, session_id)

    async def check_in_code(self, who: Principal, class_id: str, session_id: str) -> dict:
        """The code the teacher's screen shows now, while the session is open for it."""
        facts = await self.class_facts(who, class_id)
        s = await self.session(facts, session_id)
        state = (await self.commands.load(ATTENDANCE, cr.attendance_stream(class_id, session_id))).state
        now = await self.clock.now()
        wall = now.astimezone(CHINA).replace(tzinfo=None)
        if state.open_until is None or wall >= state.open_until or state.absent:
            raise DomainError(
                f"课次 {s.describe()} 现在没有开放扫码签到，请先点“开放扫码签到”。", code="check_in_not_open"
            )
        return {
            **self.codes.issue(class_id, session_id, now),
            "open_until": state.open_until.isoformat(),
            "attended": len(state.attended),
            "roster": len(facts.roster),
        }

    async def self_check_in(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, code: str
    ) -> list[Envelope]:
        """A trainee checks themself in with the code read from the screen."""
        if who.role != "trainee":
            raise Forbidden("扫码签到须由学员本人用自己的账号完成。", code="not_yourself")
        now = await self.clock.now()
        self.codes.verify(class_id, session_id, code, now)
        wall = now.astimezone(CHINA).replace(tzinfo=None)
        return await self.on_session(
            ctx,
            who,
            class_id,
            session_id,
            lambda s, f: cr.SelfCheckIn(s, who.user_id, f.roster, wall, f.names),
        )

    async def record_early_leave(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, cadre_id: str, minutes: int
    ) -> list[Envelope]:
        return await self.on_session(
            ctx, who, class_id, session_id, lambda s, f: cr.RecordEarlyLeave(s, cadre_id, minutes, f.names)
        )

    async def request_leave(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, cadre_id: str | None, reason: str
    ) -> list[Envelope]:
        """A trainee asks for themself (no `cadre_id`, or their own); the school names the trainee."""
        if who.role == "trainee":
            if cadre_id not in (None, who.user_id):
                raise Forbidden("学员只能为本人请假或评价。", code="not_yourself")
            cadre_id = who.user_id
        elif not cadre_id:
            raise DomainError("请指明为哪位学员登记（cadre_id）。", code="cadre_required", field="cadre_id")
        now, by_trainee = await self._wall_now(), who.role == "trainee"
        return await self.on_session(
            ctx,
            who,
            class_id,
            session_id,
            lambda s, f: cr.RequestLeave(s, cadre_id, reason, f.roster, f.names, now, by_trainee),
        )

    async def excuse_absence(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, cadre_id: str, reason: str
    ) -> list[Envelope]:
        """补假: the school turns a recorded absence into leave, after the fact."""
        return await self.on_session(
            ctx, who, class_id, session_id, lambda s, f: cr.ExcuseAbsence(s, cadre_id, reason, f.names)
        )

    async def decide_leave(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        session_id: str,
        cadre_id: str,
        approved: bool,
        note: str = "",
    ) -> list[Envelope]:
        return await self.on_session(
            ctx, who, class_id, session_id, lambda s, f: cr.DecideLeave(s, cadre_id, approved, note, f.names)
        )

    async def close_session(
        self, ctx: Context, who: Principal, class_id: str, session_id: str
    ) -> list[Envelope]:
        today = await self.clock.today()
        return await self.on_session(
            ctx, who, class_id, session_id, lambda s, f: cr.CloseSession(s, f.roster, today)
        )

    async def rate(
        self, ctx: Context, who: Principal, class_id: str, session_id: str, rating: int, comment: str = ""
    ) -> list[Envelope]:
        return await self.on_session(
            ctx, who, class_id, session_id, lambda s, f: cr.RateSession(s, who.user_id, rating, comment)
        )

    # -- graduation ---------------------------------------------------------------------------------
    async def graduate(
        self, ctx: Context, who: Principal, class_id: str, rule: cr.GraduationRule, on: date | None = None
    ) -> list[Envelope]:
        """Closes every held session (its absences are part of the verdict), then decides.

        Once a session is closed everyone on the roster has either attended or an absence,
        and a later check-in of an absentee is refused, so the attendance read after
        closing is the one the verdict is about even if check-ins race with graduation."""
        today = await self.clock.today()
        facts = await self.class_facts(who, class_id)
        window = facts.window()
        cr.graduation_date(window.title, window.ends_on, today, on)  # a wrong date closes nothing
        cls_ctx = _as_class(ctx, facts)
        record = await self.commands.load(CLASS, cr.class_stream(class_id))
        pending = {c: t for c, t in facts.roster.items() if c not in record.state.concluded}
        sessions = tuple((await self.timetable(facts)).of_class(class_id))
        held = [s for s in sessions if not s.cancelled]
        closed: list[Envelope] = []
        if pending:

            async def close(s: d.Session) -> frozenset[str]:
                stream = cr.attendance_stream(class_id, s.session_id)
                close = cr.CloseSession(s, pending, today)
                closed.extend(await self.commands.execute(ATTENDANCE, stream, close, cls_ctx))
                return frozenset((await self.commands.load(ATTENDANCE, stream)).state.attended)

            attended = dict(
                zip(
                    [s.session_id for s in held],
                    await store.gather_chunked([lambda s=s: close(s) for s in held], size=8),
                )
            )
        else:
            attended = {}  # the decider refuses: everyone is judged already
        cmd = cr.Graduate(
            class_id, window.title, window.ends_on, today, sessions, attended, facts.roster, rule, on
        )
        return closed + await self.commands.execute(CLASS, cr.class_stream(class_id), cmd, cls_ctx)

    # -- the closer (自动结束考勤) ------------------------------------------------------------------
    async def close_if_ended(self, ctx: Context, who: Principal, class_id: str, session_id: str, now) -> bool:
        """Ends a session's attendance if it is (still) over by `now`: the session is
        re-checked on the timetable stream, since the projection may not yet show a
        reschedule. False when it was moved or cancelled meanwhile."""
        facts = await self.class_facts(who, class_id)
        s = await self.session(facts, session_id)
        if s.cancelled or not d.ended(s.on, s.ends_at, now):
            return False
        await self.commands.execute(
            ATTENDANCE,
            cr.attendance_stream(class_id, session_id),
            cr.CloseSession(s, facts.roster, now.date()),
            ctx,
        )
        return True

    # -- online hours -------------------------------------------------------------------------------
    async def credit_online(
        self, ctx: Context, who: Principal, records: list[OnlineHoursCredited]
    ) -> list[Envelope]:
        """Refuses the whole file if a cadre is known only elsewhere: on a class roster
        (by home jurisdiction) or in an hours ledger, and nowhere under `who`'s
        jurisdiction. Crediting one would add to another county's figures and open that
        cadre's hours to the importer."""
        homes = await self.reads.homes({r.cadre_id for r in records})
        foreign = sorted(c for c, hs in homes.items() if not any(covers(who.jurisdiction, h) for h in hs))
        if foreign:
            # by the name the file gives, else by the number it gives (that row's 干部编号)
            names = {r.cadre_id: r.name for r in records}
            shown = [names.get(c) or c for c in foreign[:10]]
            raise DomainError(
                f"以下干部不是本辖区的干部，整个文件未导入：{'、'.join(shown)}"
                f"{' 等' if len(foreign) > 10 else ''}。",
                code="foreign_cadre",
                field="file",
            )
        by_year: dict[int, list[OnlineHoursCredited]] = defaultdict(list)
        for r in records:
            by_year[r.on.year].append(r)
        out: list[Envelope] = []
        for year, recs in sorted(by_year.items()):
            out += await self.commands.execute(
                ONLINE, d.online_stream(ctx.jurisdiction, year), d.CreditOnlineHours(tuple(recs)), ctx
            )
        return out
