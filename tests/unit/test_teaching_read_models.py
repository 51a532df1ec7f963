"""Teaching's read models shaped for one query each (issue 16): the leave inbox's per-class
document (its end date and its open requests only), a trainee's classes (per cadre id) and
a trainee's own lines of a class's sheets (我的课表, per cadre and class).
Given selection's and teaching's events, when folded as the projector folds them, then the
document holds what the query needs; the reads built on them touch the rosters only by `_id`;
an erased trainee's leave reason is blanked in the inbox."""

from __future__ import annotations

import asyncio
from datetime import date

from services.teaching import projections as proj
from services.teaching.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.events import Actor
from shared.memory import MemoryDatabase
from shared.personal import ERASED
from shared.projector import remember_pii, scrub
from tests.unit.test_teaching_trainee_reads import session

COUNTY = "371428"
CTX = Context(
    actor=Actor(user_id="u", name="赵老师", role="party_school"), jurisdiction=COUNTY, correlation_id="c"
)
SCHOOL = Principal(user_id="u", name="赵老师", role="party_school", jurisdiction=COUNTY)
SUN = Principal(user_id="cd-sun", name="孙丽", role="trainee", jurisdiction=COUNTY)


def run(coro):
    return asyncio.run(coro)


def envs(stream: str, events: list):
    return CommandHandler.envelopes(stream, 0, events, CTX)


def opened(k: str, title: str, ends_on: date) -> sel.ClassOpened:
    starts = date(ends_on.year, ends_on.month, 1)
    return sel.ClassOpened(
        class_id=k, title=title, capacity=30, starts_on=starts, ends_on=ends_on, organiser="县委党校"
    )


def nominated(k: str, cadre: str, name: str) -> list:
    p = dict(class_id=k, cadre_id=cadre, name=name, unit="县财政局")
    return [sel.TraineeNominated(**p), sel.NominationConfirmed(**p)]


def doc(db: MemoryDatabase, collection: str, doc_id: str) -> dict:
    return run(db[collection].find_one({"_id": doc_id}))


def spy_on_rosters(db: MemoryDatabase) -> list[dict]:
    """Every filter the reads put to the rosters collection."""
    coll, asked = db[Reads.ROSTER], []
    find, find_one = coll.find, coll.find_one
    coll.find = lambda flt=None, projection=None: asked.append(flt) or find(flt, projection)

    async def one(flt=None, projection=None):
        asked.append(flt)
        return await find_one(flt, projection)

    coll.find_one = one
    return asked


def test_the_leave_inbox_document_keeps_the_class_end_and_only_the_requests_still_open():
    db = MemoryDatabase()
    db.load(proj.leave_inbox, envs("class-k1", [opened("k1", "年轻干部培训班", date(2026, 3, 6))]))
    db.load(
        proj.leave_inbox,
        envs(
            "teaching-attendance-k1-s1",
            [
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-sun", reason="防汛值班"),
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-qian", reason="孩子生病"),
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-li", reason="下乡督查"),
                tea.LeaveDecided(class_id="k1", session_id="s1", cadre_id="cd-qian", approved=True),
                tea.AbsenceRecorded(class_id="k1", session_id="s1", cadre_id="cd-li"),
                tea.AbsenceExcused(class_id="k1", session_id="s1", cadre_id="cd-li", reason="下乡督查"),
            ],
        ),
    )
    inbox = doc(db, "leave_inbox", "k1")
    assert (inbox["ends_on"], inbox["jurisdiction"]) == ("2026-03-06", COUNTY)
    assert inbox["pending"] == {"s1/cd-sun": {"session_id": "s1", "cadre_id": "cd-sun", "reason": "防汛值班"}}


def test_an_erased_trainee_s_open_leave_reason_is_blanked_and_another_s_kept():
    db = MemoryDatabase()
    db.load(
        proj.leave_inbox,
        envs(
            "teaching-attendance-k1-s1",
            [
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-sun", reason="防汛值班"),
                tea.LeaveRequested(class_id="k1", session_id="s1", cadre_id="cd-qian", reason="孩子生病"),
            ],
        ),
    )
    inbox = doc(db, "leave_inbox", "k1")
    remember_pii(
        inbox, {"cd-sun": {"防汛值班"}, "cd-qian": {"孩子生病"}}
    )  # as the projector notes on opening
    scrub(inbox, "cd-sun")  # the kernel's erasure (shared/projector.py)
    assert inbox["pending"]["s1/cd-sun"]["reason"] == ERASED
    assert inbox["pending"]["s1/cd-qian"]["reason"] == "孩子生病"


def test_the_inbox_scans_no_roster_and_leaves_out_ended_classes_and_cancelled_sessions():
    db = MemoryDatabase()
    for k, title, ends in (("k1", "年轻干部培训班", date(2026, 3, 6)), ("k0", "去年的班", date(2025, 6, 6))):
        selection = envs(f"class-{k}", [opened(k, title, ends), *nominated(k, "cd-sun", "孙丽")])
        for p in (proj.roster, proj.leave_inbox):
            db.load(p, selection)
    db.load(
        proj.class_timetable,
        envs(
            "teaching-timetable-371428-2026",
            [
                session("s1", date(2026, 3, 2), "党史专题"),
                session("s2", date(2026, 3, 3), "党史专题"),
                tea.SessionCancelled(class_id="k1", session_id="s2", reason="场地检修"),
            ],
        ),
    )
    for sid in ("s1", "s2"):
        asked = tea.LeaveRequested(class_id="k1", session_id=sid, cadre_id="cd-sun", reason="防汛值班")
        for p in (proj.leave_inbox, proj.session_sheet):
            db.load(p, envs(f"teaching-attendance-k1-{sid}", [asked]))
    filters = spy_on_rosters(db)
    inbox = run(Reads(db).leave_inbox(SCHOOL, None, date(2026, 3, 2)))
    assert inbox["classes"] == 1 and inbox["count"] == 1  # k0 ended; s2 was cancelled
    (r,) = inbox["requests"]
    assert (r["name"], r["class_title"], r["on"], r["attendance"]) == (
        "孙丽",
        "年轻干部培训班",
        "2026-03-02",
        "未签到",
    )
    assert filters and all(set(f) == {"_id"} for f in filters)  # rosters by `_id` only


def test_a_trainee_s_classes_are_keyed_by_their_id_with_the_status_in_each():
    db = MemoryDatabase()
    db.load(
        proj.trainee_classes,
        envs(
            "class-k1",
            [
                *nominated("k1", "cd-sun", "孙丽"),
                sel.NominationWithdrawn(class_id="k1", cadre_id="cd-sun"),
                sel.TraineeNominated(class_id="k1", cadre_id="cd-sun", name="孙丽", unit="县财政局"),
            ],
        ),
    )
    db.load(proj.trainee_classes, envs("class-k2", nominated("k2", "cd-sun", "孙丽")))
    db.load(proj.trainee_classes, envs("class-k3", nominated("k3", "cd-qian", "钱军")[:1]))
    assert doc(db, "trainee_classes", "cd-sun")["classes"] == {"k1": "withdrawn", "k2": "confirmed"}
    assert doc(db, "trainee_classes", "cd-qian")["classes"] == {"k3": "nominated"}
    assert "孙丽" not in str(doc(db, "trainee_classes", "cd-sun"))  # no name: nothing to erase here


def test_my_classes_reads_the_trainee_s_document_and_their_rosters_by_id_only():
    db = MemoryDatabase()
    for k, title in (("k1", "年轻干部培训班"), ("k2", "村书记示范班"), ("k3", "科级干部任职班")):
        events = [opened(k, title, date(2026, int(k[1]) + 2, 20)), *nominated(k, "cd-sun", "孙丽")]
        if k == "k3":
            events.append(sel.NominationWithdrawn(class_id="k3", cadre_id="cd-sun"))
        for p in (proj.roster, proj.trainee_classes):
            db.load(p, envs(f"class-{k}", events))
    filters = spy_on_rosters(db)
    mine = run(Reads(db).my_classes(SUN))
    assert [(c["title"], c["starts_on"], c["unit"], c["size"]) for c in mine] == [
        ("村书记示范班", "2026-04-01", "县财政局", 1),
        ("年轻干部培训班", "2026-03-01", "县财政局", 1),
    ]
    assert filters and all(set(f) == {"_id"} for f in filters)
    nobody = Principal(user_id="cd-none", name="周强", role="trainee", jurisdiction=COUNTY)
    assert run(Reads(db).my_classes(nobody)) == []


def test_a_trainee_s_own_lines_of_a_class_are_their_entries_of_every_session_s_sheet():
    """我的课表's document (per trainee and class) holds, for each session, what the session's
    sheet holds for that trainee, after every kind of event a sheet folds; another trainee's
    lines are in their own document."""
    db = MemoryDatabase()
    s1, s2, s3 = (
        {"class_id": "k1", "session_id": s, "cadre_id": c}
        for s, c in (("s1", "cd-sun"), ("s2", "cd-sun"), ("s2", "cd-qian"))
    )
    streams = [
        envs(
            "teaching-timetable-k1",
            [session("s1", date(2026, 3, 2), "一"), session("s2", date(2026, 3, 3), "二")],
        ),
        envs(
            "teaching-attendance-k1-s1",
            [
                tea.LeaveRequested(**s1, reason="防汛值班"),
                tea.LeaveDecided(**s1, approved=False, note="请安排他人"),
                tea.AbsenceRecorded(**s1, excused=False),
                tea.AbsenceExcused(**s1, reason="防汛值班"),
            ],
        ),
        envs(
            "teaching-attendance-k1-s2",
            [
                tea.SessionAttended(**s2, hours=2.5, late=True),
                tea.EarlyLeaveRecorded(**s2, minutes=20),
                tea.SessionRated(**s2, rating=5, comment="很实用"),
                tea.SessionAttended(**s3, hours=2.5, late=False),
            ],
        ),
    ]
    for stream in streams:
        for p in (proj.session_sheet, proj.trainee_sessions):
            db.load(p, stream)
    sheets = {s: doc(db, Reads.SHEET, s)["entries"] for s in ("s1", "s2")}
    sun = doc(db, Reads.MY_SESSIONS, proj.trainee_sessions_key("cd-sun", "k1"))
    qian = doc(db, Reads.MY_SESSIONS, proj.trainee_sessions_key("cd-qian", "k1"))
    assert sun["sessions"] == {"s1": sheets["s1"]["cd-sun"], "s2": sheets["s2"]["cd-sun"]}
    assert sun["sessions"]["s1"]["leave"]["status"] == "已补假" and sun["sessions"]["s2"]["rated"] == 5
    assert qian["sessions"] == {"s2": sheets["s2"]["cd-qian"]}
    assert (sun["cadre_id"], sun["class_id"], sun["jurisdiction"]) == ("cd-sun", "k1", COUNTY)


def test_my_timetable_reads_the_trainee_s_own_document_not_the_session_sheets():
    """我的课表 reads one document for the trainee's lines: with every sheet gone from the
    store it answers the same (it read eight sheets of 50 entries each at 20,000 cadres)."""
    from tests.unit.test_teaching_trainee_reads import ME, two_classes

    reads = two_classes()
    before = run(reads.my_sessions(ME, "k1"))
    reads.db[Reads.SHEET].docs.clear()
    assert run(reads.my_sessions(ME, "k1")) == before
    assert before["sessions"][1]["mine"]["status"] == "出勤"
