"""Given / when / then for teaching's catalogue, timetable and online ledger: pure, no I/O."""

from dataclasses import replace
from datetime import date, time

import pytest

from services.teaching.domain import (
    AddCourse,
    AddCourses,
    AddFaculty,
    AddSite,
    CancelSession,
    CatalogueDecider,
    ClassWindow,
    CreditOnlineHours,
    FrozenMap,
    OnlineLedgerDecider,
    RescheduleSession,
    ScheduleSession,
    TimetableDecider,
)
from shared.commands import fold
from shared.contracts.teaching import (
    CourseAdded,
    FacultyAdded,
    OnlineHoursCredited,
    SessionCancelled,
    SessionRescheduled,
    SessionScheduled,
    TeachingSiteAdded,
)
from shared.errors import DomainError, NotFound

COURSE = CourseAdded(course_id="k1", title="习近平新时代中国特色社会主义思想概论", kind="理论课", hours=3)
PARTY = CourseAdded(course_id="k2", title="红色家风", kind="党性课", method="现场教学", hours=2, mode="研讨")
LI = FacultyAdded(teacher_id="t1", name="李教授", kind="党校教师")
WANG = FacultyAdded(teacher_id="t2", name="王书记", kind="领导干部", post="县委副书记")
HALL = TeachingSiteAdded(site_id="s1", name="第一教室", capacity=200)
BASE = TeachingSiteAdded(site_id="s2", name="红色教育基地", site_type="红色教育基地", capacity=60)
KLASS = ClassWindow("c1", "中青年干部培训班", date(2026, 3, 1), date(2026, 3, 20), 150)
OTHER = ClassWindow("c2", "乡镇党委书记班", date(2026, 3, 1), date(2026, 3, 20), 40)


def when(decider, given, command):
    return decider.decide(fold(decider, given), command)


def refused(decider, given, command, code):
    with pytest.raises(DomainError) as e:
        when(decider, given, command)
    assert e.value.code == code, e.value.message
    return e.value.message


# -- catalogue ------------------------------------------------------------------------------------
C = CatalogueDecider()


def test_adding_courses_faculty_and_sites():
    assert when(C, [], AddCourse(COURSE)) == [COURSE]
    assert when(C, [COURSE], AddFaculty(WANG)) == [WANG]
    assert when(C, [COURSE, WANG], AddSite(BASE)) == [BASE]


def test_a_catalogue_holds_155_theory_courses():
    courses = [
        CourseAdded(course_id=f"hn{i}", title=f"理论课程{i}", kind="理论课", hours=2) for i in range(155)
    ]
    state = fold(C, courses)
    assert len(state.courses) == 155
    assert when(C, courses, AddCourse(PARTY)) == [PARTY]


def test_a_list_of_courses_is_added_whole_or_not_at_all():
    batch = tuple(
        CourseAdded(course_id=f"hn{i}", title=f"理论课程{i}", kind="理论课", hours=2) for i in range(155)
    )
    assert when(C, [COURSE], AddCourses(batch)) == list(batch)
    twice = batch[:3] + (batch[1],) + (COURSE.model_copy(update={"course_id": "new"}),)
    msg = refused(C, [COURSE], AddCourses(twice), "bad_courses")
    assert "第 4 门" in msg and "第 5 门" in msg and "整批未录入" in msg
    refused(C, [], AddCourses(()), "no_courses")


def test_course_id_and_title_are_unique():
    assert "已被《" in refused(
        C, [COURSE], AddCourse(COURSE.model_copy(update={"title": "别的"})), "course_exists"
    )
    msg = refused(
        C, [COURSE], AddCourse(COURSE.model_copy(update={"course_id": "k9"})), "course_title_exists"
    )
    assert "k1" in msg


def test_a_leading_cadre_lecturer_needs_a_post():
    assert "职务" in refused(C, [], AddFaculty(WANG.model_copy(update={"post": " "})), "post_required")


def test_teacher_and_site_ids_are_unique():
    refused(C, [LI], AddFaculty(LI.model_copy(update={"name": "另一位"})), "teacher_exists")
    refused(C, [HALL], AddSite(HALL), "site_exists")


def test_unknown_catalogue_entries_are_not_found():
    state = fold(C, [COURSE])
    for lookup, code in (
        (lambda: state.course("x"), "course_not_found"),
        (lambda: state.teacher("x"), "teacher_not_found"),
        (lambda: state.site("x"), "site_not_found"),
    ):
        with pytest.raises(NotFound) as e:
            lookup()
        assert e.value.code == code


# -- timetable ------------------------------------------------------------------------------------
T = TimetableDecider()


def schedule(
    sid="x1",
    klass=KLASS,
    course=COURSE,
    teacher=LI,
    site=HALL,
    on=date(2026, 3, 2),
    start=time(9),
    end=time(11, 30),
    **kw,
):
    return ScheduleSession(sid, klass, course, teacher, site, on, start, end, **kw)


FIRST = SessionScheduled(
    class_id="c1",
    session_id="x1",
    course_id="k1",
    course_title=COURSE.title,
    kind="理论课",
    on=date(2026, 3, 2),
    starts_at=time(9),
    ends_at=time(11, 30),
    hours=3,
    teacher_id="t1",
    teacher_name="李教授",
    site_id="s1",
    required=True,
)


def test_scheduling_a_session_takes_hours_and_required_from_the_course():
    assert when(T, [], schedule()) == [FIRST]
    [e] = when(T, [], schedule(course=PARTY, site=HALL, hours=1.5))
    assert e.hours == 1.5 and e.required is False and e.kind == "党性课"


def test_same_teacher_overlapping_is_refused_naming_the_other_session():
    msg = refused(
        T, [FIRST], schedule("x2", klass=OTHER, site=BASE, start=time(11), end=time(12)), "teacher_clash"
    )
    # named by its day, times and course, never by its internal id (issue 17)
    assert "李教授" in msg and "2026-03-02 09:00–11:30" in msg and COURSE.title in msg and "x1" not in msg


def test_same_site_overlapping_is_refused():
    msg = refused(
        T, [FIRST], schedule("x2", klass=OTHER, teacher=WANG, start=time(8), end=time(9, 30)), "site_clash"
    )
    assert "第一教室" in msg and f"2026-03-02 09:00–11:30《{COURSE.title}》" in msg and "x1" not in msg


def test_the_same_class_cannot_be_in_two_sessions_at_once():
    refused(
        T,
        [FIRST],
        schedule("x2", teacher=WANG, site=BASE.model_copy(update={"capacity": 200})),
        "class_clash",
    )


def test_back_to_back_and_other_days_do_not_clash():
    assert when(T, [FIRST], schedule("x2", klass=OTHER, start=time(11, 30), end=time(12)))
    assert when(T, [FIRST], schedule("x3", klass=OTHER, on=date(2026, 3, 3)))


def test_a_cancelled_session_frees_its_slot():
    cancelled = SessionCancelled(class_id="c1", session_id="x1")
    assert when(T, [FIRST, cancelled], schedule("x2", klass=OTHER))


def test_times_dates_and_capacity_are_checked():
    refused(T, [], schedule(start=time(11), end=time(9)), "bad_times")
    assert "办班期间" in refused(T, [], schedule(on=date(2026, 4, 1)), "outside_class_dates")
    assert "60 人" in refused(T, [], schedule(site=BASE), "site_too_small")
    refused(T, [FIRST], schedule("x1", on=date(2026, 3, 9)), "session_exists")


def test_rescheduling_moves_the_session_and_checks_clashes_without_itself():
    cmd = RescheduleSession("x1", KLASS, date(2026, 3, 2), time(10), time(12), LI, HALL, "教师出差")
    assert when(T, [FIRST], cmd) == [
        SessionRescheduled(
            class_id="c1",
            session_id="x1",
            on=date(2026, 3, 2),
            starts_at=time(10),
            ends_at=time(12),
            teacher_id="t1",
            teacher_name="李教授",
            site_id="s1",
            reason="教师出差",
            # the session as it stood, for the load kept per teacher
            previous_teacher_id="t1",
            course_id="k1",
            course_title=COURSE.title,
            kind="理论课",
            hours=3,
            required=True,
        )
    ]
    other = FIRST.model_copy(
        update={
            "session_id": "y1",
            "class_id": "c2",
            "on": date(2026, 3, 5),
            "teacher_id": "t2",
            "teacher_name": "王书记",
        }
    )
    cmd = RescheduleSession("x1", KLASS, date(2026, 3, 5), time(10), time(12), LI, HALL)
    msg = refused(T, [FIRST, other], cmd, "site_clash")
    assert "2026-03-05 09:00–11:30" in msg and "y1" not in msg


def test_cancelling_and_what_a_cancelled_session_refuses():
    assert when(T, [FIRST], CancelSession("x1", "c1", "天气")) == [
        SessionCancelled(class_id="c1", session_id="x1", reason="天气", teacher_id="t1")
    ]
    given = [FIRST, SessionCancelled(class_id="c1", session_id="x1")]
    refused(T, given, CancelSession("x1", "c1"), "session_cancelled")
    refused(
        T,
        given,
        RescheduleSession("x1", KLASS, date(2026, 3, 3), time(9), time(10), LI, HALL),
        "session_cancelled",
    )


def test_a_session_reason_naming_a_trainee_is_refused_by_the_decider():
    names = frozenset({"张明", "李红"})
    msg = refused(T, [FIRST], CancelSession("x1", "c1", "李红家中有事", trainee_names=names), "trainee_named")
    assert "“李红”" in msg and "请假申请" in msg
    move = RescheduleSession(
        "x1", KLASS, date(2026, 3, 3), time(9), time(10), LI, HALL, "张明请假", trainee_names=names
    )
    assert "“张明”" in refused(T, [FIRST], move, "trainee_named")
    assert when(T, [FIRST], CancelSession("x1", "c1", "天气", trainee_names=names)) == [
        SessionCancelled(class_id="c1", session_id="x1", reason="天气", teacher_id="t1")
    ]


def test_a_session_of_another_class_is_not_found():
    with pytest.raises(NotFound):
        when(T, [FIRST], CancelSession("x1", "c2"))


# -- online hours ---------------------------------------------------------------------------------
O = OnlineLedgerDecider()


def online(ref, cadre="a", hours=2.0):
    return OnlineHoursCredited(cadre_id=cadre, hours=hours, on=date(2026, 5, 1), reference=ref)


def test_online_hours_are_credited_once_per_platform_record():
    assert when(O, [], CreditOnlineHours((online("r1"), online("r2")))) == [online("r1"), online("r2")]
    assert when(O, [online("r1")], CreditOnlineHours((online("r1"), online("r3")))) == [online("r3")]
    assert when(O, [online("r1")], CreditOnlineHours((online("r1"),))) == []


def test_duplicates_within_one_file_count_once():
    assert when(O, [], CreditOnlineHours((online("r1"), online("r1")))) == [online("r1")]


def test_a_record_without_reference_is_refused():
    refused(O, [], CreditOnlineHours((online(""),)), "reference_required")


def test_rescheduling_into_another_year_is_refused():
    cmd = RescheduleSession(
        "x1", replace(KLASS, ends_on=date(2027, 1, 10)), date(2027, 1, 4), time(9), time(10), LI, HALL
    )
    assert "停课后" in refused(T, [FIRST], cmd, "cross_year")


def test_a_session_sent_again_without_its_id_is_recognised_not_a_clash_with_itself():
    from shared.errors import AlreadyApplied

    with pytest.raises(AlreadyApplied) as e:
        when(T, [FIRST], schedule("x9", id_given=False))
    assert e.value.code == "teacher_clash" and e.value.key == {"session_id": "x1"}
    assert e.value.content["hours"] == 3 and e.value.content["starts_at"] == "09:00:00"
    assert {k: v for k, v in e.value.content.items()} == {
        k: v for k, v in FIRST.model_dump(mode="json").items() if k in e.value.content
    }
    with pytest.raises(AlreadyApplied) as e:  # the same id sent again: found by its id
        when(T, [FIRST], schedule("x1"))
    assert e.value.code == "session_exists" and e.value.key == {"session_id": "x1"}
    # with the client's own id, or another slot, it is a clash or a new session as before
    refused(T, [FIRST], schedule("x9"), "teacher_clash")
    [new] = when(T, [FIRST], schedule("x9", id_given=False, start=time(14), end=time(16)))
    assert new.session_id == "x9"


def test_evolve_leaves_the_state_it_was_given_as_it_was():
    # The command handler keeps the state it last appended to: a later evolve must not change it.
    before = fold(T, [FIRST])
    after = T.evolve(before, SessionCancelled(class_id="c1", session_id="x1", reason="雨"))
    assert not before.sessions["x1"].cancelled and after.sessions["x1"].cancelled


def test_a_frozen_map_keeps_thousands_of_entries_without_copying_them_all():
    refs = FrozenMap()
    for i in range(5000):
        refs = refs.set(f"r{i}", i)
    older = refs
    refs = refs.set("r7", -7)  # the latest value of a key wins, the older map keeps its own
    assert len(refs) == 5000 and refs["r0"] == 0 and refs["r7"] == -7 and older["r7"] == 7
    assert "r4999" in refs and "r5000" not in refs and len(refs.layers) <= 14
    assert list(refs)[:3] == ["r0", "r1", "r2"]  # in the order keys were first set
