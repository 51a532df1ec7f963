"""Given / when / then for a session's attendance (check-in, late, early leave, leave,
absence, ratings) and a class's record (curriculum, graduation). Pure, no I/O."""

from dataclasses import replace
from datetime import date, datetime, time

import pytest

from services.teaching.classroom import (
    AttendanceDecider,
    CheckIn,
    ClassRecordDecider,
    CloseSession,
    DecideLeave,
    ExcuseAbsence,
    Graduate,
    GraduationRule,
    OpenSelfCheckIn,
    RateSession,
    RecordEarlyLeave,
    RequestLeave,
    SelfCheckIn,
    SetCurriculum,
    Trainee,
)
from services.teaching.domain import Session
from shared.commands import fold
from shared.contracts.teaching import (
    AbsenceExcused,
    AbsenceRecorded,
    AttendanceClosed,
    CurriculumSet,
    EarlyLeaveRecorded,
    LeaveDecided,
    LeaveRequested,
    SelfCheckInOpened,
    SessionAttended,
    SessionRated,
    TraineeGraduated,
    TraineeNotGraduated,
)
from shared.errors import DomainError

A = AttendanceDecider()
R = ClassRecordDecider()
TODAY = date(2026, 3, 21)
ROSTER = {c: Trainee(c, f"学员{c}", "县财政局", "110101") for c in ("a", "b", "c")}
S1 = Session(
    "s1", "c1", "k1", "理论课程", "理论课", date(2026, 3, 2), time(9), time(11, 30), 3.0, "t1", "李教授", "h"
)
S2 = Session(
    "s2", "c1", "k2", "红色家风", "党性课", date(2026, 3, 3), time(9), time(11), 2.0, "t2", "王书记", "h"
)
S3 = Session(
    "s3",
    "c1",
    "k3",
    "选修研讨",
    "能力课",
    date(2026, 3, 4),
    time(9),
    time(10),
    1.0,
    "t1",
    "李教授",
    "h",
    required=False,
)


def when(given, command, decider=A):
    return decider.decide(fold(decider, given), command)


def refused(given, command, code, decider=A):
    with pytest.raises(DomainError) as e:
        when(given, command, decider)
    assert e.value.code == code, e.value.message
    return e.value.message


def attended(s: Session, c: str, late=False):
    return SessionAttended(
        class_id="c1",
        session_id=s.session_id,
        cadre_id=c,
        hours=s.hours,
        on=s.on,
        kind=s.kind,
        late=late,
        home_jurisdiction=ROSTER[c].home_jurisdiction,
    )


def check_in(s=S1, *ids, late=(), today=TODAY):
    return CheckIn(s, tuple((i, i in late) for i in ids), ROSTER, today)


# -- check-in -----------------------------------------------------------------------------------------
def test_bulk_check_in_of_a_whole_class_is_one_decision():
    roster = {f"p{i}": Trainee(f"p{i}", f"学员{i}", "单位") for i in range(150)}
    events = when([], CheckIn(S1, tuple((c, False) for c in roster), roster, TODAY))
    assert len(events) == 150 and all(e.hours == 3.0 and e.kind == "理论课" and e.on == S1.on for e in events)


def test_attendance_names_the_trainees_home_county():
    # A province class's roster says where each trainee comes from; the attendance carries
    # it, so the county's history and dashboard count the hours.
    roster = {"a": Trainee("a", "学员a", "县委办", "430121"), "b": Trainee("b", "学员b", "县委办", "430181")}
    events = when([], CheckIn(S1, (("a", False), ("b", False)), roster, TODAY))
    assert [(e.cadre_id, e.home_jurisdiction) for e in events] == [("a", "430121"), ("b", "430181")]


def test_late_arrival_is_marked():
    assert when([], check_in(S1, "a", "b", late={"b"})) == [attended(S1, "a"), attended(S1, "b", late=True)]


def test_checking_in_twice_changes_nothing():
    assert when([attended(S1, "a")], check_in(S1, "a")) == []
    assert when([attended(S1, "a")], check_in(S1, "a", "b")) == [attended(S1, "b")]
    assert when([], check_in(S1, "a", "a")) == [attended(S1, "a")]


def test_someone_not_on_the_roster_is_refused_and_nobody_is_checked_in():
    msg = refused([], check_in(S1, "a", "zz"), "not_on_roster")
    assert "zz" in msg and "未登记任何人" in msg


def test_no_check_in_before_the_session_day_or_to_a_cancelled_session():
    refused([], check_in(S1, "a", today=date(2026, 3, 1)), "session_not_started")
    refused([], check_in(replace(S1, cancelled=True), "a"), "session_cancelled")


def test_no_check_in_after_absence_was_recorded():
    given = [AbsenceRecorded(class_id="c1", session_id="s1", cadre_id="a", on=S1.on)]
    assert "学员a" in refused(given, check_in(S1, "a"), "absence_recorded")


# -- early leave ---------------------------------------------------------------------------------------
def test_early_leave_is_recorded_once_for_someone_present():
    assert when([attended(S1, "a")], RecordEarlyLeave(S1, "a", 30)) == [
        EarlyLeaveRecorded(class_id="c1", session_id="s1", cadre_id="a", minutes=30)
    ]
    refused([], RecordEarlyLeave(S1, "a", 30), "not_attended")
    refused(
        [attended(S1, "a"), EarlyLeaveRecorded(class_id="c1", session_id="s1", cadre_id="a", minutes=5)],
        RecordEarlyLeave(S1, "a", 30),
        "early_leave_recorded",
    )
    assert "150 分钟" in refused([attended(S1, "a")], RecordEarlyLeave(S1, "a", 150), "bad_minutes")


# -- leave ---------------------------------------------------------------------------------------------
REQUESTED = LeaveRequested(class_id="c1", session_id="s1", cadre_id="a", reason="防汛值班")


def test_requesting_and_deciding_leave():
    assert when([], RequestLeave(S1, "a", " 防汛值班 ", ROSTER)) == [REQUESTED]
    assert when([REQUESTED], DecideLeave(S1, "a", True, "同意")) == [
        LeaveDecided(class_id="c1", session_id="s1", cadre_id="a", approved=True, note="同意")
    ]


def test_leave_rules():
    refused([], RequestLeave(S1, "zz", "事由", ROSTER), "not_on_roster")
    refused([attended(S1, "a")], RequestLeave(S1, "a", "事由", ROSTER), "already_attended")
    refused([REQUESTED], RequestLeave(S1, "a", "事由", ROSTER), "leave_exists")
    refused([], RequestLeave(S1, "a", "  ", ROSTER), "reason_required")
    refused([], DecideLeave(S1, "a", True), "no_pending_leave")
    decided = LeaveDecided(class_id="c1", session_id="s1", cadre_id="a", approved=False)
    refused([REQUESTED, decided], DecideLeave(S1, "a", True), "no_pending_leave")
    assert when(
        [REQUESTED, decided], RequestLeave(S1, "a", "补充说明", ROSTER)
    )  # refused leave may be asked again


def test_a_trainee_asks_leave_only_before_the_session_begins_the_school_also_after():
    before = datetime(2026, 3, 2, 8, 59)  # Beijing wall time; S1 is 2026-03-02 09:00–11:30
    assert when([], RequestLeave(S1, "a", "防汛值班", ROSTER, now=before, by_trainee=True)) == [REQUESTED]
    for now in (datetime(2026, 3, 2, 9, 0), datetime(2026, 3, 2, 10, 15), datetime(2026, 3, 5, 8, 0)):
        msg = refused(
            [], RequestLeave(S1, "a", "防汛值班", ROSTER, now=now, by_trainee=True), "session_begun"
        )
        assert "2026-03-02 09:00" in msg and "《理论课程》" in msg and "党校" in msg and "补假" in msg
    # the school registers a leave during the session (点名时登记), before the roll call is closed
    late = datetime(2026, 3, 2, 10, 15)
    assert when([], RequestLeave(S1, "a", "防汛值班", ROSTER, now=late, by_trainee=False)) == [REQUESTED]


def test_the_school_excuses_a_recorded_absence_once_and_only_an_absence():
    closed = when([attended(S1, "a")], CloseSession(S1, ROSTER, TODAY))
    given = [attended(S1, "a"), *closed]
    assert when(given, ExcuseAbsence(S1, "b", " 突发急病，有医院证明 ")) == [
        AbsenceExcused(class_id="c1", session_id="s1", cadre_id="b", reason="突发急病，有医院证明")
    ]
    excused = given + when(given, ExcuseAbsence(S1, "b", "突发急病"))
    refused(excused, ExcuseAbsence(S1, "b", "再补一次"), "already_excused")
    refused(given, ExcuseAbsence(S1, "a", "补假"), "already_attended")
    refused(given, ExcuseAbsence(S1, "c", "  "), "reason_required")
    msg = refused([attended(S1, "a")], ExcuseAbsence(S1, "b", "补假", {"b": "王刚"}), "no_absence")
    assert "王刚" in msg and "点名表" in msg
    assert when(excused, CloseSession(S1, ROSTER, TODAY)) == []  # closed once: nothing more


# -- closing a session ----------------------------------------------------------------------------------
def test_closing_records_absence_excused_when_leave_was_approved():
    given = [
        attended(S1, "a"),
        LeaveRequested(class_id="c1", session_id="s1", cadre_id="b", reason="病假"),
        LeaveDecided(class_id="c1", session_id="s1", cadre_id="b", approved=True),
    ]
    assert when(given, CloseSession(S1, ROSTER, TODAY)) == [
        AbsenceRecorded(class_id="c1", session_id="s1", cadre_id="b", excused=True, on=S1.on),
        AbsenceRecorded(class_id="c1", session_id="s1", cadre_id="c", excused=False, on=S1.on),
        AttendanceClosed(class_id="c1", session_id="s1", absent=2),
    ]


def test_closing_twice_records_nothing_more_and_not_before_the_day():
    given = [attended(S1, "a")] + when([attended(S1, "a")], CloseSession(S1, ROSTER, TODAY))
    assert when(given, CloseSession(S1, ROSTER, TODAY)) == []
    refused([], CloseSession(S1, ROSTER, date(2026, 3, 1)), "session_not_held")
    refused(given, RequestLeave(S1, "c", "补假", ROSTER), "absence_recorded")


# -- ratings -------------------------------------------------------------------------------------------
def test_only_present_trainees_rate_once():
    assert when([attended(S1, "a")], RateSession(S1, "a", 5, "很好")) == [
        SessionRated(class_id="c1", session_id="s1", cadre_id="a", rating=5, comment="很好")
    ]
    refused([], RateSession(S1, "a", 5), "not_attended")
    refused(
        [attended(S1, "a"), SessionRated(class_id="c1", session_id="s1", cadre_id="a", rating=4)],
        RateSession(S1, "a", 5),
        "already_rated",
    )


# -- curriculum ----------------------------------------------------------------------------------------
KNOWN = frozenset({"k1", "k2", "k3"})


def test_setting_the_curriculum():
    assert when([], SetCurriculum("c1", ("k2", "k1"), {"党性课": 2}, KNOWN), R) == [
        CurriculumSet(class_id="c1", course_ids=["k2", "k1"], required_hours={"党性课": 2})
    ]
    assert "k9" in refused([], SetCurriculum("c1", ("k1", "k9"), {}, KNOWN), "course_not_found", R)
    refused([], SetCurriculum("c1", ("k1", "k1"), {}, KNOWN), "duplicate_course", R)
    refused([], SetCurriculum("c1", ("k1",), {"体育课": 2}, KNOWN), "bad_required_hours", R)


# -- graduation ----------------------------------------------------------------------------------------
SESSIONS = (S1, S2, S3)
ALL = frozenset(ROSTER)


def graduate(attended, rule=GraduationRule(), today=TODAY, sessions=SESSIONS, roster=ROSTER, on=None):
    return Graduate(
        "c1",
        "中青年干部培训班",
        date(2026, 3, 20),
        today,
        sessions,
        {k: frozenset(v) for k, v in attended.items()},
        roster,
        rule,
        on,
    )


def test_graduation_by_attendance_required_courses_and_hours():
    attended = {"s1": {"a", "b", "c"}, "s2": {"a", "b"}, "s3": {"a"}}  # b misses the elective, c 红色家风
    verdicts = when([], graduate(attended, GraduationRule(min_attendance_rate=0.6)), R)
    assert verdicts[0] == TraineeGraduated(
        class_id="c1",
        cadre_id="a",
        name="学员a",
        unit="县财政局",
        graduated_on=TODAY,
        hours=6.0,
        attendance_rate=1.0,
        home_jurisdiction="110101",
        class_title="中青年干部培训班",
    )
    assert verdicts[1] == TraineeGraduated(
        class_id="c1",
        cadre_id="b",
        name="学员b",
        unit="县财政局",
        graduated_on=TODAY,
        hours=5.0,
        attendance_rate=0.6667,
        home_jurisdiction="110101",
        class_title="中青年干部培训班",
    )
    assert verdicts[2] == TraineeNotGraduated(
        class_id="c1", cadre_id="c", reasons=["出勤率 33.3% 低于结业要求 60%", "缺修必修课程：《红色家风》"]
    )


def test_hours_rules_total_and_by_kind_from_the_curriculum():
    given = [CurriculumSet(class_id="c1", course_ids=["k1", "k2"], required_hours={"党性课": 2})]
    rule = GraduationRule(min_attendance_rate=0, require_required_courses=False, min_hours=5)
    [verdict] = when(given, graduate({"s1": {"a"}, "s3": {"a"}}, rule, roster={"a": ROSTER["a"]}), R)
    assert verdict.reasons == ["总学时 4 低于要求 5", "党性课学时 0 低于教学计划要求 2"]


def test_cancelled_sessions_do_not_count():
    cmd = graduate(
        {"s1": {"a"}, "s2": {"a"}}, sessions=(S1, S2, replace(S3, cancelled=True)), roster={"a": ROSTER["a"]}
    )
    [e] = when([], cmd, R)
    assert isinstance(e, TraineeGraduated) and e.attendance_rate == 1.0 and e.hours == 5.0


def test_graduation_rules_when_and_once():
    refused([], graduate({}, today=date(2026, 3, 19)), "class_not_ended", R)
    refused([], graduate({}, sessions=(replace(S1, cancelled=True),)), "no_sessions", R)
    done = when([], graduate({"s1": ALL, "s2": ALL, "s3": ALL}), R)
    assert all(isinstance(e, TraineeGraduated) for e in done) and len(done) == 3
    refused(done, graduate({}), "already_concluded", R)
    refused(done, SetCurriculum("c1", ("k1",), {}, KNOWN), "class_concluded", R)


def test_a_past_class_is_back_filled_with_its_own_graduation_date():
    # Given a class that ended on 20 March, when the school records its graduation on
    # 21 March dated the 20th, then the graduates carry the 20th; a date before the last
    # day or after today is refused and nothing is decided.
    done = when([], graduate({"s1": ALL, "s2": ALL, "s3": ALL}, on=date(2026, 3, 20)), R)
    assert {e.graduated_on for e in done} == {date(2026, 3, 20)} and len(done) == 3
    message = refused([], graduate({}, on=date(2026, 3, 19)), "graduation_before_end", R)
    assert "2026-03-19" in message and "2026-03-20" in message
    assert "2026-03-22" in refused([], graduate({}, on=date(2026, 3, 22)), "graduation_in_future", R)


def test_a_trainee_confirmed_late_is_judged_after_the_others():
    done = when([], graduate({"s1": ALL, "s2": ALL, "s3": ALL}), R)
    late = Trainee("d", "学员d", "县委办")
    [e] = when(
        done,
        graduate({"s1": {"d"}}, GraduationRule(min_attendance_rate=0.3), roster={**ROSTER, "d": late}),
        R,
    )
    assert e.cadre_id == "d" and isinstance(e, TraineeNotGraduated)


# -- self check-in (扫码签到) -------------------------------------------------------------
OPEN = SelfCheckInOpened(class_id="c1", session_id="s1", until=datetime(2026, 3, 2, 11, 30))


def at(hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 3, 2, hh, mm, ss)


def test_opening_self_check_in_runs_until_the_session_ends_and_again_changes_nothing():
    assert when([], OpenSelfCheckIn(S1, at(8, 40))) == [OPEN]
    assert when([OPEN], OpenSelfCheckIn(S1, at(9, 5))) == []
    assert "上课当天" in refused([], OpenSelfCheckIn(S1, datetime(2026, 3, 1, 9)), "not_session_day")
    refused([], OpenSelfCheckIn(S1, at(11, 30)), "session_closed")
    absent = AbsenceRecorded(class_id="c1", session_id="s1", cadre_id="a", excused=False, on=S1.on)
    refused([absent], OpenSelfCheckIn(S1, at(10)), "session_closed")
    refused([], OpenSelfCheckIn(replace(S1, cancelled=True), at(9)), "session_cancelled")


def test_a_trainee_checks_in_once_on_time_to_the_minute_and_late_after_it():
    [e] = when([OPEN], SelfCheckIn(S1, "a", ROSTER, at(9, 0, 59)))
    assert e == attended(S1, "a")
    [late] = when([OPEN, e], SelfCheckIn(S1, "b", ROSTER, at(9, 1)))
    assert late.late is True and late.home_jurisdiction == "110101"
    msg = refused([OPEN, e], SelfCheckIn(S1, "a", ROSTER, at(9, 5)), "already_checked_in")
    assert "学员a" in msg and "无需重复签到" in msg


def test_a_self_check_in_is_refused_when_not_open_or_off_the_roster():
    refused([], SelfCheckIn(S1, "a", ROSTER, at(9)), "check_in_not_open")
    refused([OPEN], SelfCheckIn(S1, "a", ROSTER, at(11, 30)), "check_in_not_open")
    absent = AbsenceRecorded(class_id="c1", session_id="s1", cadre_id="b", excused=False, on=S1.on)
    refused([OPEN, absent], SelfCheckIn(S1, "a", ROSTER, at(10)), "check_in_not_open")
    msg = refused([OPEN], SelfCheckIn(S1, "x", ROSTER, at(9), {"x": "孙强"}), "not_on_roster")
    assert "孙强" in msg and "x" not in msg.replace("孙强", "")
