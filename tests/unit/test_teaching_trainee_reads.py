"""The trainee's own reads in teaching (我的班次, 我的课表): given the events of two classes,
a trainee sees only the class they are confirmed in, and on each session their own
attendance, leave request with its answer, and rating — never another trainee's."""

from __future__ import annotations

import asyncio
from datetime import date, time

import pytest

from services.teaching import projections as proj
from services.teaching.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.errors import Forbidden
from shared.events import Actor
from shared.memory import MemoryDatabase

COUNTY = "371428"
CTX = Context(
    actor=Actor(user_id="u", name="赵老师", role="party_school"), jurisdiction=COUNTY, correlation_id="c"
)
ME = Principal(user_id="cd-sun", name="孙丽", role="trainee", jurisdiction=COUNTY)


def envs(stream: str, events: list):
    return CommandHandler.envelopes(stream, 0, events, CTX)


def session(sid: str, on: date, title: str) -> tea.SessionScheduled:
    return tea.SessionScheduled(
        class_id="k1",
        session_id=sid,
        course_id="c1",
        course_title=title,
        kind="理论课",
        on=on,
        starts_at=time(9),
        ends_at=time(11, 30),
        hours=2.5,
        teacher_id="t1",
        teacher_name="刘教授",
        site_id="s1",
    )


@pytest.fixture
def reads():
    return two_classes()


# long: the given events of two classes, one per line
def two_classes() -> Reads:
    """Teaching's reads over the events of two classes, folded as teaching folds them."""
    db = MemoryDatabase()
    for k, title, people in (
        ("k1", "年轻干部培训班", [("cd-sun", "孙丽"), ("cd-qian", "钱军")]),
        ("k2", "村书记示范班", [("cd-qian", "钱军")]),
    ):
        selection = envs(
            f"class-{k}",
            [
                sel.ClassOpened(
                    class_id=k,
                    title=title,
                    capacity=30,
                    starts_on=date(2026, 3, 2),
                    ends_on=date(2026, 3, 6),
                    organiser="县委党校",
                ),
                *[sel.TraineeNominated(class_id=k, cadre_id=c, name=n, unit="县财政局") for c, n in people],
                *[
                    sel.NominationConfirmed(class_id=k, cadre_id=c, name=n, unit="县财政局")
                    for c, n in people
                ],
            ],
        )
        for p in (proj.roster, proj.trainee_classes):  # what teaching folds from selection
            db.load(p, selection)
    timetable = envs(
        "teaching-timetable-k1",
        [session("s1", date(2026, 3, 2), "理论课一"), session("s2", date(2026, 3, 3), "理论课二")],
    )
    for p in (proj.class_timetable, proj.session_sheet):
        db.load(p, timetable)
    attendance = (
        envs(
            "teaching-attendance-k1-s1",
            [
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-sun", reason="防汛值班"),
                tea.LeaveDecided(
                    class_id="k1", session_id="s1", cadre_id="cd-sun", approved=True, note="同意"
                ),
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-qian", reason="病假"),
            ],
        ),
        envs(
            "teaching-attendance-k1-s2",
            [
                tea.SessionAttended(class_id="k1", session_id="s2", cadre_id="cd-sun", hours=2.5, late=True),
                tea.SessionRated(
                    class_id="k1", session_id="s2", cadre_id="cd-sun", rating=4, comment="很实用"
                ),
            ],
        ),
    )
    for stream in attendance:  # the sheets and the trainees' own lines (我的课表)
        for p in (proj.session_sheet, proj.trainee_sessions):
            db.load(p, stream)
    return Reads(db)


def test_a_trainee_lists_only_the_classes_they_are_confirmed_in(reads):
    mine = asyncio.run(reads.my_classes(ME))
    assert [(c["title"], c["starts_on"]) for c in mine] == [("年轻干部培训班", "2026-03-02")]


def test_each_session_carries_the_trainees_own_leave_answer_attendance_and_rating(reads):
    tt = asyncio.run(reads.my_sessions(ME, "k1"))
    first, second = tt["sessions"]
    assert first["course_title"] == "理论课一"
    assert first["mine"]["leave"] == {
        "reason": "防汛值班",
        "status": "已批准",
        "note": "同意",
        "by": "赵老师",
    }
    assert first["mine"]["status"] == "未签到"
    assert second["mine"]["status"] == "出勤" and second["mine"]["late"] is True
    assert second["mine"]["rated"] == 4
    assert "cd-qian" not in str(tt)  # another trainee's leave is not shown


def test_a_class_the_trainee_is_not_in_and_another_role_are_refused(reads):
    with pytest.raises(Forbidden):
        asyncio.run(reads.my_sessions(ME, "k2"))
    school = Principal(user_id="u", name="赵老师", role="party_school", jurisdiction=COUNTY)
    with pytest.raises(Forbidden):
        asyncio.run(reads.my_classes(school))
