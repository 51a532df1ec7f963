"""Teaching's main flows through `Handlers`, with no server: given past events (a class's
roster folded from selection's events through teaching's own projection; the catalogue
and timetable appended through the real CommandHandler on the in-memory store), when a
command, then the events appended and what `Reads` answers (projections folded from the
stored events, as the projector would write them)."""

import asyncio
import io
from datetime import date, datetime, time

import pytest
from openpyxl import load_workbook

from services.teaching import files
from services.teaching.checkin import CheckinCodes
from services.teaching.classroom import GraduationRule
from services.teaching.closer import close_ended
from services.teaching.handlers import Handlers
from services.teaching.projections import PROJECTIONS, roster
from services.teaching.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, NominationConfirmed, NominationWithdrawn, TraineeNominated
from shared.contracts.teaching import CourseAdded, FacultyAdded, OnlineHoursCredited, TeachingSiteAdded
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.listing import Paging, search_key
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

COUNTY = "371428"
SCHOOL = Principal("u-school", "党校教务处赵老师", "party_school", COUNTY)
CTX = Context(actor=SCHOOL.actor, jurisdiction=COUNTY, correlation_id="c-1")
CLASS, TITLE = "k-7f3a", "2026年春季中青年干部培训班"
START, END = date(2026, 3, 2), date(2026, 3, 13)
PEOPLE = {
    "cd-01": ("张明", "县财政局"),
    "cd-02": ("李红", "县教育局"),
    "cd-03": ("王刚", "城关镇"),
    "cd-04": ("赵丽", "县委办"),
}


def run(coro):
    return asyncio.run(coro)


class World:
    """One county's teaching service over the in-memory adapters."""

    def __init__(self, today: date = START, jurisdiction: str = COUNTY) -> None:
        self.jurisdiction = jurisdiction  # the class's: whose selection opened it
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.clock = FixedClock(today)
        self.codes = CheckinCodes(b"test-deployment-secret")
        self.h = Handlers(CommandHandler(self.store), Reads(self.db), self.clock, self.codes)

    def selection(self, *events) -> None:
        """Selection's events of the class, folded through teaching's projections that follow
        selection (the roster, the leave inbox's class dates, the trainees' classes)."""
        ctx = Context(
            actor=Actor(user_id="u-org", name="组织部李干事", role="org_department"),
            jurisdiction=self.jurisdiction,
            correlation_id="c-sel",
        )
        version = len(run(self.store.read_stream(f"class-{CLASS}")))
        envs = CommandHandler.envelopes(f"class-{CLASS}", version, list(events), ctx, self.jurisdiction)
        run(self.store.append(f"class-{CLASS}", version, envs))
        for p in PROJECTIONS:
            if "selection" in p.sources:
                self.db.load(p, envs)

    def project(self) -> None:
        """Teaching's projections as the projector would have written them by now."""
        for p in PROJECTIONS[1:]:
            self.db.load(p, [e for e in self.store.all_events() if e.stream_id.startswith("teaching-")])


def confirmed(cadre_id: str) -> tuple:
    name, unit = PEOPLE[cadre_id]
    p = dict(class_id=CLASS, cadre_id=cadre_id, name=name, unit=unit, home_jurisdiction=COUNTY)
    return TraineeNominated(**p), NominationConfirmed(**p)


def furnished(jurisdiction: str = COUNTY, ctx: Context = CTX) -> World:
    """The class of `jurisdiction` with every one of PEOPLE confirmed, and the catalogue of
    the school acting in `ctx` (a course of each kind, two teachers, two sites)."""
    w = World(jurisdiction=jurisdiction)
    w.selection(
        ClassOpened(
            class_id=CLASS, title=TITLE, capacity=40, starts_on=START, ends_on=END, organiser="县委组织部"
        ),
        *(e for c in PEOPLE for e in confirmed(c)),
    )
    h = w.h
    run(
        h.add_course(
            ctx,
            CourseAdded(
                course_id="theory", title="习近平新时代中国特色社会主义思想概论", kind="理论课", hours=3
            ),
        )
    )
    run(h.add_course(ctx, CourseAdded(course_id="party", title="红色家风", kind="党性课", hours=2)))
    run(h.add_faculty(ctx, FacultyAdded(teacher_id="zhang", name="张教授", kind="党校教师")))
    run(
        h.add_faculty(ctx, FacultyAdded(teacher_id="wang", name="王书记", kind="领导干部", post="县委副书记"))
    )
    run(h.add_site(ctx, TeachingSiteAdded(site_id="hall", name="党校大礼堂", capacity=200)))
    run(
        h.add_site(
            ctx,
            TeachingSiteAdded(site_id="base", name="县红色教育基地", site_type="红色教育基地", capacity=60),
        )
    )
    return w


@pytest.fixture
def world() -> World:
    return furnished()


def scheduling(
    w: World,
    session_id: str,
    course="theory",
    teacher="zhang",
    site="hall",
    on=START,
    starts=time(9),
    ends=time(12),
):
    return w.h.schedule(CTX, SCHOOL, CLASS, session_id, course, teacher, site, on, starts, ends)


def schedule(w: World, session_id: str, **kw):
    return run(scheduling(w, session_id, **kw))


def refused(call, code: str) -> str:
    with pytest.raises((DomainError, NotFound)) as e:
        run(call)
    assert e.value.code == code, e.value.message
    return e.value.message


def test_a_course_added_is_in_the_catalogue_and_a_second_with_the_same_title_is_refused(world):
    envs = run(
        world.h.add_course(CTX, CourseAdded(course_id="skill", title="调查研究能力", kind="能力课", hours=2))
    )
    assert [e.type for e in envs] == ["CourseAdded"] and envs[0].stream_id == f"teaching-catalogue-{COUNTY}"
    msg = refused(
        world.h.add_course(CTX, CourseAdded(course_id="s2", title="调查研究能力", kind="能力课", hours=2)),
        "course_title_exists",
    )
    assert "调查研究能力" in msg
    world.project()
    catalogue = run(world.h.reads.catalogue(SCHOOL, COUNTY))
    assert catalogue["courses"]["skill"]["title"] == "调查研究能力" and len(catalogue["courses"]) == 3


def test_a_session_is_scheduled_and_a_clash_names_the_other_session_not_its_id(world):
    [e] = schedule(world, "s-0001")
    assert e.type == "SessionScheduled" and e.payload["teacher_name"] == "张教授" and e.jurisdiction == COUNTY
    msg = refused(
        scheduling(world, "s-0002", course="party", site="base", starts=time(11), ends=time(12)),
        "teacher_clash",
    )
    assert "张教授" in msg and "2026-03-02 09:00–12:00《习近平新时代中国特色社会主义思想概论》" in msg
    assert "s-0001" not in msg
    world.project()
    tt = run(world.h.reads.timetable(SCHOOL, CLASS))
    assert tt["title"] == TITLE and tt["hours"] == 3
    assert [s["session_id"] for s in tt["sessions"]] == ["s-0001"]


def test_a_session_rescheduled_frees_its_old_slot(world):
    schedule(world, "s-0001")
    [e] = run(
        world.h.reschedule(
            CTX, SCHOOL, CLASS, "s-0001", date(2026, 3, 3), time(14), time(17), "zhang", "hall", "教师出差"
        )
    )
    assert e.type == "SessionRescheduled" and e.payload["on"] == "2026-03-03"
    assert [x.type for x in schedule(world, "s-0002", starts=time(9), ends=time(12))] == ["SessionScheduled"]
    world.project()
    moved = {s["session_id"]: s for s in run(world.h.reads.timetable(SCHOOL, CLASS))["sessions"]}["s-0001"]
    assert (moved["on"], moved["starts_at"]) == ("2026-03-03", "14:00:00")


def load(w: World, teacher: str, p: Paging = Paging(), who: Principal = SCHOOL) -> dict:
    w.project()
    return run(w.h.reads.teacher_load(who, COUNTY, 2026, teacher, p))


def brief(page: dict) -> list[tuple]:
    return [(s["session_id"], s["on"], s["course_title"]) for s in page["items"]]


def test_a_teacher_s_load_follows_moves_and_cancellations_and_is_paged(world):
    schedule(world, "s-0001")  # 张教授: 理论课 3 h on each of three days, 红色家风 2 h
    schedule(world, "s-0002", course="party", on=date(2026, 3, 3), ends=time(11))
    schedule(world, "s-0003", on=date(2026, 3, 4))
    schedule(world, "s-0004", course="party", teacher="wang", on=date(2026, 3, 5), ends=time(11))
    zhang = load(world, "zhang")
    assert (zhang["teacher_name"], zhang["sessions"], zhang["hours"], zhang["classes"]) == ("张教授", 3, 8, 1)
    assert zhang["hours_by_kind"] == {"理论课": 6, "党性课": 2} and zhang["total"] == 3
    assert [s[0] for s in brief(zhang)] == ["s-0001", "s-0002", "s-0003"]

    move = ("s-0003", date(2026, 3, 6), time(9), time(12), "wang", "hall", "张教授出差")
    [moved] = run(world.h.reschedule(CTX, SCHOOL, CLASS, *move))
    assert moved.payload["previous_teacher_id"] == "zhang" and moved.payload["hours"] == 3
    [cancelled] = run(world.h.cancel(CTX, SCHOOL, CLASS, "s-0002", "场地检修"))
    assert cancelled.payload["teacher_id"] == "zhang"
    zhang, wang = load(world, "zhang"), load(world, "wang")
    assert (zhang["sessions"], zhang["hours"], zhang["hours_by_kind"]) == (1, 3, {"理论课": 3})
    assert brief(zhang) == [("s-0001", "2026-03-02", "习近平新时代中国特色社会主义思想概论")]
    assert (wang["sessions"], wang["hours"], wang["hours_by_kind"]) == (2, 5, {"党性课": 2, "理论课": 3})
    assert [s[:2] for s in brief(wang)] == [("s-0004", "2026-03-05"), ("s-0003", "2026-03-06")]

    back = ("s-0003", date(2026, 3, 9), time(14), time(17), "zhang", "hall", "张教授返回")
    run(world.h.reschedule(CTX, SCHOOL, CLASS, *back))
    zhang, wang = load(world, "zhang"), load(world, "wang")
    assert [s[:2] for s in brief(zhang)] == [("s-0001", "2026-03-02"), ("s-0003", "2026-03-09")]
    assert (zhang["sessions"], zhang["hours"], wang["sessions"], wang["hours"]) == (2, 6, 1, 2)

    # one page of the sessions: the totals are the year's, the items the page's
    second = load(world, "zhang", Paging(page=2, size=1))
    assert (second["total"], second["page"], second["size"], second["sessions"]) == (2, 2, 1, 2)
    assert [s[0] for s in brief(second)] == ["s-0003"] and "given" not in second["items"][0]
    assert [s[0] for s in brief(load(world, "wang", Paging(q=search_key("红色"))))] == ["s-0004"]
    assert load(world, "zhang", Paging(q="家风"))["items"] == []

    nobody = world.h.reads.teacher_load(SCHOOL, COUNTY, 2026, "liu", Paging())
    assert "没有授课安排" in refused(nobody, "teacher_not_found")
    city = Principal("u-city", "市委组织部", "org_department", "371400")
    assert load(world, "wang", who=city)["sessions"] == 1  # a city covers its county
    other = Principal("u-other", "别县组织部", "org_department", "371427")
    with pytest.raises(Forbidden):
        load(world, "wang", who=other)


def test_attendance_of_the_class_with_a_late_and_a_leave(world):
    schedule(world, "s-0001")
    asked = run(world.h.request_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-04", "参加县委常委会"))
    assert [e.type for e in asked] == ["LeaveRequested"]
    [decided] = run(world.h.decide_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-04", True, "同意"))
    assert decided.type == "LeaveDecided" and decided.payload["approved"] is True
    entries = [("cd-01", False), ("cd-02", True), ("cd-03", False)]
    envs = run(world.h.check_in(CTX, SCHOOL, CLASS, "s-0001", entries))
    assert [(e.payload["cadre_id"], e.payload["late"]) for e in envs] == [
        ("cd-01", False),
        ("cd-02", True),
        ("cd-03", False),
    ]
    again = refused(world.h.decide_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-04", True), "no_pending_leave")
    assert "赵丽" in again and "cd-04" not in again
    [absent, closed] = run(world.h.close_session(CTX, SCHOOL, CLASS, "s-0001"))
    assert closed.type == "AttendanceClosed" and closed.payload["absent"] == 1
    assert absent.type == "AbsenceRecorded" and absent.payload == {
        **absent.payload,
        "cadre_id": "cd-04",
        "excused": True,
    }
    world.project()
    sheet = run(world.h.reads.session_sheet(SCHOOL, CLASS, "s-0001"))
    assert sheet["counts"] == {"出勤": 3, "请假": 1}
    rows = {t["name"]: t for t in sheet["trainees"]}
    assert rows["李红"]["late"] is True and rows["赵丽"]["status"] == "请假"


def test_a_check_in_of_someone_withdrawn_names_them_and_records_nobody(world):
    schedule(world, "s-0001")
    world.selection(
        NominationWithdrawn(class_id=CLASS, cadre_id="cd-03", reason="工作调动", was_confirmed=True)
    )
    msg = refused(
        world.h.check_in(CTX, SCHOOL, CLASS, "s-0001", [("cd-01", False), ("cd-03", False)]), "not_on_roster"
    )
    assert "王刚" in msg and "cd-03" not in msg
    assert not [e for e in world.store.all_events() if e.type == "SessionAttended"]


def test_an_unknown_class_is_refused_without_its_id(world):
    msg = refused(world.h.check_in(CTX, SCHOOL, "k-unknown", "s-0001", [("cd-01", False)]), "class_not_found")
    assert "k-unknown" not in msg and "班次" in msg


def test_the_closer_ends_sessions_that_are_over_and_only_those(world):
    schedule(world, "s-0001")
    schedule(world, "s-0002", on=date(2026, 3, 3))
    world.project()
    run(world.h.check_in(CTX, SCHOOL, CLASS, "s-0001", [("cd-01", False)]))
    assert run(close_ended(world.h, datetime(2026, 3, 2, 12, 30))) == 1
    absences = [e.payload["cadre_id"] for e in world.store.all_events() if e.type == "AbsenceRecorded"]
    assert sorted(absences) == ["cd-02", "cd-03", "cd-04"]
    assert run(close_ended(world.h, datetime(2026, 3, 2, 23, 0))) == 0  # closed once; tomorrow's waits


def test_graduation_closes_the_sessions_and_judges_each_trainee(world):
    schedule(world, "s-0001")
    schedule(world, "s-0002", course="party", teacher="wang", site="base", on=date(2026, 3, 3), ends=time(11))
    run(world.h.check_in(CTX, SCHOOL, CLASS, "s-0001", [(c, False) for c in PEOPLE]))
    world.clock.day = date(2026, 3, 3)
    run(world.h.check_in(CTX, SCHOOL, CLASS, "s-0002", [(c, False) for c in ("cd-01", "cd-02", "cd-03")]))
    early = refused(world.h.graduate(CTX, SCHOOL, CLASS, GraduationRule()), "class_not_ended")
    assert TITLE in early
    world.clock.day = END
    envs = run(world.h.graduate(CTX, SCHOOL, CLASS, GraduationRule(min_attendance_rate=0.9)))
    assert sorted(e.payload["session_id"] for e in envs if e.type == "AttendanceClosed") == [
        "s-0001",
        "s-0002",
    ]
    assert [e.type for e in envs if e.type != "AttendanceClosed"] == [
        "AbsenceRecorded",
        "TraineeGraduated",
        "TraineeGraduated",
        "TraineeGraduated",
        "TraineeNotGraduated",
    ]
    world.project()
    g = run(world.h.reads.graduation(SCHOOL, CLASS))
    assert sorted(x["name"] for x in g["graduated"]) == ["张明", "李红", "王刚"]
    [failed] = g["not_graduated"]
    assert failed["name"] == "赵丽" and "出勤率 50.0%" in failed["reasons"][0]
    table = list(load_workbook(io.BytesIO(files.graduation_workbook(g))).active.iter_rows(values_only=True))
    assert table[1][:4] == (1, "张明", "县财政局", "结业") and table[4][1:4] == ("赵丽", "县委办", "未结业")
    assert not any(str(cell).startswith(("cd-", "k-")) for row in table for cell in row)


def test_a_trainee_asks_leave_for_themself_only(world):
    schedule(world, "s-0001")
    me = Principal("cd-02", "李红", "trainee", COUNTY)
    mine = Context(actor=me.actor, jurisdiction=COUNTY, correlation_id="c-2")
    world.clock.at = time(8, 30)  # before the session's 09:00
    [asked] = run(world.h.request_leave(mine, me, CLASS, "s-0001", None, "孩子生病"))
    assert asked.payload["cadre_id"] == "cd-02" and asked.actor.name == "李红"
    with pytest.raises(Forbidden) as e:
        run(world.h.request_leave(mine, me, CLASS, "s-0001", "cd-03", "代同事请假"))
    assert e.value.code == "not_yourself"
    refused(world.h.request_leave(CTX, SCHOOL, CLASS, "s-0001", None, "事由"), "cadre_required")


def test_online_hours_of_a_cadre_known_only_in_another_county_are_refused_by_name(world):
    other = Context(
        actor=Actor(user_id="u-org2", name="外县干事", role="org_department"),
        jurisdiction="371429",
        correlation_id="c-other",
    )
    p = dict(class_id="k-other", cadre_id="cd-09", name="孙强", unit="外县财政局", home_jurisdiction="371429")
    events = [
        ClassOpened(
            class_id="k-other",
            title="外县班",
            capacity=10,
            starts_on=START,
            ends_on=END,
            organiser="外县组织部",
        ),
        TraineeNominated(**p),
        NominationConfirmed(**p),
    ]
    world.db.load(roster, CommandHandler.envelopes("class-k-other", 0, events, other))
    records = [
        OnlineHoursCredited(reference="wx-1", cadre_id="cd-01", name="张明", hours=2, on=START),
        OnlineHoursCredited(reference="wx-2", cadre_id="cd-09", name="孙强", hours=3, on=START),
    ]
    msg = refused(world.h.credit_online(CTX, SCHOOL, records), "foreign_cadre")
    assert "孙强" in msg and "cd-09" not in msg and "整个文件未导入" in msg
    assert not [e for e in world.store.all_events() if e.type == "OnlineHoursCredited"]
    [credited] = run(world.h.credit_online(CTX, SCHOOL, records[:1]))
    assert credited.stream_id == f"teaching-online-{COUNTY}-2026" and credited.payload["hours"] == 2


# -- self check-in (扫码签到) ---------------------------------------------------------------
def trainee(cadre_id: str) -> tuple[Context, Principal]:
    name = PEOPLE.get(cadre_id, ("外人",))[0]
    me = Principal(cadre_id, name, "trainee", COUNTY)
    return Context(actor=me.actor, jurisdiction=COUNTY, correlation_id=f"c-{cadre_id}"), me


def self_check_in(w: World, cadre_id: str, code: str, session_id: str = "s-0001"):
    ctx, me = trainee(cadre_id)
    return w.h.self_check_in(ctx, me, CLASS, session_id, code)


def attended(w: World) -> list[tuple[str, bool]]:
    return [
        (e.payload["cadre_id"], e.payload["late"])
        for e in w.store.all_events()
        if e.type == "SessionAttended"
    ]


def test_trainees_check_themselves_in_with_the_code_on_the_screen_late_after_the_start(world):
    schedule(world, "s-0001")
    world.clock.at = time(8, 50)
    shown = run(world.h.open_self_check_in(CTX, SCHOOL, CLASS, "s-0001"))
    assert shown["open_until"] == "2026-03-02T12:00:00" and shown["roster"] == 4 and shown["attended"] == 0
    [e] = run(self_check_in(world, "cd-01", shown["code"]))
    assert e.type == "SessionAttended" and e.payload["late"] is False and e.actor.name == "张明"
    world.clock.at = time(9, 10)
    later = run(world.h.check_in_code(SCHOOL, CLASS, "s-0001"))
    assert later["code"] != shown["code"] and later["attended"] == 1
    run(self_check_in(world, "cd-02", later["code"]))
    assert attended(world) == [("cd-01", False), ("cd-02", True)]
    world.project()
    rows = {t["name"]: t for t in run(world.h.reads.session_sheet(SCHOOL, CLASS, "s-0001"))["trainees"]}
    assert (
        rows["李红"]["status"] == "出勤"
        and rows["李红"]["late"] is True
        and rows["王刚"]["status"] == "未签到"
    )


def test_a_code_shown_over_a_minute_ago_or_for_another_session_is_refused(world):
    schedule(world, "s-0001")
    schedule(world, "s-0002", course="party", teacher="wang", site="base", starts=time(14), ends=time(16))
    world.clock.at = time(9, 0)
    old = run(world.h.open_self_check_in(CTX, SCHOOL, CLASS, "s-0001"))["code"]
    world.clock.at = time(9, 0, 59)  # still within the minute: a phone's login takes a while
    run(self_check_in(world, "cd-01", old))
    world.clock.at = time(9, 1, 5)
    msg = refused(self_check_in(world, "cd-02", old), "code_expired")
    assert "已过期" in msg and "09:00:00" in msg
    other = world.codes.issue(CLASS, "s-0002", run(world.clock.now()))["code"]
    assert "不是本课次" in refused(self_check_in(world, "cd-02", other), "bad_code")
    forged = old.split(".")[0] + ".0123456789abcdef0123"
    refused(self_check_in(world, "cd-02", forged), "bad_code")
    assert attended(world) == [("cd-01", False)]


def test_a_self_check_in_is_refused_off_the_roster_twice_or_when_the_session_is_not_open(world):
    schedule(world, "s-0001")
    code = world.codes.issue(CLASS, "s-0001", run(world.clock.now()))["code"]
    assert "没有开放扫码签到" in refused(self_check_in(world, "cd-01", code), "check_in_not_open")
    refused(world.h.check_in_code(SCHOOL, CLASS, "s-0001"), "check_in_not_open")
    code = run(world.h.open_self_check_in(CTX, SCHOOL, CLASS, "s-0001"))["code"]
    world.selection(
        NominationWithdrawn(class_id=CLASS, cadre_id="cd-03", reason="工作调动", was_confirmed=True)
    )
    assert "王刚 不在班次在册名单中" in refused(self_check_in(world, "cd-03", code), "not_on_roster")
    refused(self_check_in(world, "cd-77", code), "not_on_roster")
    run(self_check_in(world, "cd-01", code))
    assert "无需重复签到" in refused(self_check_in(world, "cd-01", code), "already_checked_in")
    with pytest.raises(Forbidden):
        run(world.h.self_check_in(CTX, SCHOOL, CLASS, "s-0001", code))
    world.clock.at = time(12, 0)  # the session is over: the code stops working with it
    fresh = world.codes.issue(CLASS, "s-0001", run(world.clock.now()))["code"]
    refused(self_check_in(world, "cd-02", fresh), "check_in_not_open")
    assert attended(world) == [("cd-01", False)]


def test_check_in_is_opened_only_on_the_session_day_and_before_it_is_closed(world):
    schedule(world, "s-0001", on=date(2026, 3, 3))
    assert "上课当天" in refused(world.h.open_self_check_in(CTX, SCHOOL, CLASS, "s-0001"), "not_session_day")
    world.clock.day, world.clock.at = date(2026, 3, 3), time(12, 30)
    refused(world.h.open_self_check_in(CTX, SCHOOL, CLASS, "s-0001"), "session_closed")


def test_the_leave_inbox_lists_pending_requests_across_sessions_and_drops_decided_ones(world):
    schedule(world, "s-0001")
    schedule(world, "s-0002", course="party", teacher="wang", site="base", on=date(2026, 3, 3), ends=time(11))
    run(world.h.request_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-04", "参加县委常委会"))
    run(world.h.request_leave(CTX, SCHOOL, CLASS, "s-0002", "cd-02", "孩子生病"))
    run(world.h.request_leave(CTX, SCHOOL, CLASS, "s-0002", "cd-03", "下乡督查"))
    run(world.h.decide_leave(CTX, SCHOOL, CLASS, "s-0002", "cd-03", False, "督查可改期"))
    world.project()
    inbox = run(world.h.reads.leave_inbox(SCHOOL, None, START))
    assert inbox["classes"] == 1 and [(r["name"], r["on"], r["course_title"]) for r in inbox["requests"]] == [
        ("赵丽", "2026-03-02", "习近平新时代中国特色社会主义思想概论"),
        ("李红", "2026-03-03", "红色家风"),
    ]
    assert inbox["requests"][1]["reason"] == "孩子生病" and inbox["requests"][1]["class_title"] == TITLE
    run(world.h.decide_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-04", True, "同意"))
    world.project()
    assert [r["name"] for r in run(world.h.reads.leave_inbox(SCHOOL, CLASS, START))["requests"]] == ["李红"]
    assert run(world.h.reads.leave_inbox(SCHOOL, None, date(2026, 3, 14)))["classes"] == 0  # the class ended
    other = Principal("u-other", "外县党校", "party_school", "371429")
    with pytest.raises(Forbidden):
        run(world.h.reads.leave_inbox(other, CLASS, START))
    assert run(world.h.reads.leave_inbox(other, None, START))["count"] == 0


def test_the_deployment_secret_is_the_configured_one_else_one_kept_in_the_keys_folder(tmp_path, monkeypatch):
    from services.teaching.checkin import deployment_secret

    monkeypatch.delenv("GANXUN_TEACHING_CHECKIN_SECRET", raising=False)
    made = deployment_secret(tmp_path / "keys")
    assert len(made) == 64 and deployment_secret(tmp_path / "keys") == made  # kept, not remade
    assert oct((tmp_path / "keys" / "teaching-checkin.key").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("GANXUN_TEACHING_CHECKIN_SECRET", "given")
    assert deployment_secret(tmp_path / "keys") == b"given"


def test_a_trainee_s_leave_for_a_session_begun_is_refused_and_the_school_excuses_afterwards(world):
    schedule(world, "s-0001")  # 2026-03-02 09:00–12:00; the clock says 09:00 that day (Beijing)
    me = Principal("cd-03", "王刚", "trainee", COUNTY)
    mine = Context(actor=me.actor, jurisdiction=COUNTY, correlation_id="c-3")
    msg = refused(world.h.request_leave(mine, me, CLASS, "s-0001", None, "临时接待检查"), "session_begun")
    assert "2026-03-02 09:00" in msg and "习近平新时代中国特色社会主义思想概论" in msg and "补假" in msg
    world.clock.day = date(2026, 3, 1)  # the day before, a trainee may still ask
    world.clock.at = time(20, 0)
    schedule(world, "s-0002", on=date(2026, 3, 3))
    [asked] = run(world.h.request_leave(mine, me, CLASS, "s-0002", None, "临时接待检查"))
    assert asked.payload["session_id"] == "s-0002"
    assert not [
        e
        for e in world.store.all_events()
        if e.type == "LeaveRequested"
        and e.payload["cadre_id"] == "cd-03"
        and e.payload["session_id"] == "s-0001"
    ]
    # The school, after the session: its roll call is closed, 王刚 absent; then 补假
    world.clock.day, world.clock.at = date(2026, 3, 2), time(15, 0)
    run(
        world.h.check_in(CTX, SCHOOL, CLASS, "s-0001", [("cd-01", False), ("cd-02", False), ("cd-04", False)])
    )
    run(world.h.close_session(CTX, SCHOOL, CLASS, "s-0001"))
    [excused] = run(world.h.excuse_absence(CTX, SCHOOL, CLASS, "s-0001", "cd-03", "县里临时接待检查，已报备"))
    assert excused.type == "AbsenceExcused" and excused.actor.name == "党校教务处赵老师"
    again = refused(world.h.excuse_absence(CTX, SCHOOL, CLASS, "s-0001", "cd-03", "再补"), "already_excused")
    assert "王刚" in again
    refused(world.h.excuse_absence(CTX, SCHOOL, CLASS, "s-0001", "cd-01", "补假"), "already_attended")
    world.project()
    sheet = run(world.h.reads.session_sheet(SCHOOL, CLASS, "s-0001"))
    assert sheet["closed"] is True and sheet["counts"] == {"出勤": 3, "请假": 1}
    wang = next(t for t in sheet["trainees"] if t["name"] == "王刚")
    assert wang["leave"] == {**wang["leave"], "status": "已补假", "reason": "县里临时接待检查，已报备"}
    rows = {r["cadre_id"]: r for r in run(world.h.reads.class_attendance(SCHOOL, CLASS))["trainees"]}
    assert (rows["cd-03"]["absent"], rows["cd-03"]["excused"]) == (1, 1)


def test_a_session_reason_naming_a_trainee_of_the_class_is_refused_and_nothing_is_stored(world):
    # A session's reason is the class's, readable for ever (shared/class_texts.py): a trainee's
    # own absence is a leave request, sealed under their key.
    schedule(world, "s-0001")
    before = len(world.store.all_events())
    move = world.h.reschedule(
        CTX, SCHOOL, CLASS, "s-0001", date(2026, 3, 3), time(14), time(17), "zhang", "hall", "张明生病"
    )
    message = refused(move, "trainee_named")
    assert message == (
        "调课原因中出现了学员姓名“张明”：学员个人的情况请由学员在请假申请中说明，课次的原因请勿写学员姓名。"
    )
    with pytest.raises(DomainError) as e:
        run(world.h.cancel(CTX, SCHOOL, CLASS, "s-0001", "王刚外出调研"))
    assert (e.value.code, e.value.field) == ("trainee_named", "reason") and "“王刚”" in e.value.message
    assert len(world.store.all_events()) == before
    [e] = run(world.h.cancel(CTX, SCHOOL, CLASS, "s-0001", "教师出差"))
    assert e.type == "SessionCancelled"


# -- a county's trainee in the province party school's class (省委党校的班次) --------------------------
PROVINCE = "370000"
PROVINCE_SCHOOL = Principal("u-pschool", "省委党校教务处钱老师", "party_school", PROVINCE)
PROVINCE_CTX = Context(actor=PROVINCE_SCHOOL.actor, jurisdiction=PROVINCE, correlation_id="c-p")


@pytest.fixture
def province_class() -> World:
    """The province school's class, every trainee a cadre of COUNTY (their tokens say so), one
    session on its first day at 09:00."""
    w = furnished(PROVINCE, PROVINCE_CTX)
    run(
        w.h.schedule(
            PROVINCE_CTX,
            PROVINCE_SCHOOL,
            CLASS,
            "s-0001",
            "theory",
            "zhang",
            "hall",
            START,
            time(9),
            time(12),
        )
    )
    return w


def test_a_county_trainee_on_the_province_class_roster_asks_leave_checks_in_rates_and_reads_it(
    province_class,
):
    w = province_class
    w.clock.at = time(8, 30)
    ctx, li = trainee("cd-02")
    assert li.jurisdiction == COUNTY
    [asked] = run(w.h.request_leave(ctx, li, CLASS, "s-0001", None, "孩子生病"))
    assert asked.type == "LeaveRequested" and asked.jurisdiction == PROVINCE  # the class's topic
    w.project()
    inbox = run(w.h.reads.leave_inbox(PROVINCE_SCHOOL, CLASS, START))["requests"]
    assert [(r["name"], r["reason"]) for r in inbox] == [("李红", "孩子生病")]

    w.clock.at = time(8, 55)
    code = run(w.h.open_self_check_in(PROVINCE_CTX, PROVINCE_SCHOOL, CLASS, "s-0001"))["code"]
    [attended] = run(self_check_in(w, "cd-01", code))
    assert attended.type == "SessionAttended" and attended.payload["cadre_id"] == "cd-01"
    ctx, zhang = trainee("cd-01")
    [rated] = run(w.h.rate(ctx, zhang, CLASS, "s-0001", 5, "讲得透彻"))
    assert rated.type == "SessionRated" and rated.payload["rating"] == 5

    w.project()
    assert [c["title"] for c in run(w.h.reads.my_classes(zhang))] == [TITLE]
    [mine] = run(w.h.reads.my_sessions(zhang, CLASS))["sessions"]
    assert (mine["mine"]["status"], mine["mine"]["rated"]) == ("出勤", 5)
    assert run(w.h.reads.my_sessions(li, CLASS))["sessions"][0]["mine"]["leave"]["reason"] == "孩子生病"


def test_a_county_trainee_off_the_province_class_roster_is_answered_as_for_an_unknown_class(province_class):
    w = province_class
    w.clock.at = time(8, 30)
    ctx, stranger = trainee("cd-77")  # a cadre of COUNTY the class does not hold
    code = run(w.h.open_self_check_in(PROVINCE_CTX, PROVINCE_SCHOOL, CLASS, "s-0001"))["code"]
    before = len(w.store.all_events())
    unknown = refused(
        w.h.request_leave(ctx, stranger, "k-unknown", "s-0001", None, "事由"), "class_not_found"
    )
    assert (
        refused(w.h.request_leave(ctx, stranger, CLASS, "s-0001", None, "事由"), "class_not_found") == unknown
    )
    refused(self_check_in(w, "cd-77", code), "class_not_found")
    refused(w.h.rate(ctx, stranger, CLASS, "s-0001", 5), "class_not_found")
    assert len(w.store.all_events()) == before  # nothing stored
    w.project()
    refused(w.h.reads.my_sessions(stranger, CLASS), "class_not_found")
    assert run(w.h.reads.my_classes(stranger)) == []


def test_the_county_s_staff_are_still_refused_the_province_class(province_class):
    w = province_class
    with pytest.raises(Forbidden) as e:
        run(w.h.request_leave(CTX, SCHOOL, CLASS, "s-0001", "cd-02", "县里代为请假"))
    assert e.value.code == "wrong_jurisdiction" and PROVINCE not in e.value.message
    w.project()
    org = Principal("u-org", "县委组织部李干事", "org_department", COUNTY)
    with pytest.raises(Forbidden) as e:
        run(w.h.reads.timetable(org, CLASS))
    assert e.value.code == "wrong_jurisdiction"
