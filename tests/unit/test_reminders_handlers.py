"""The reminders service's handlers over the in-memory store and database: given
follow-up's and teaching's events as the projector would have folded them, when the
sender sweeps (through a fake channel) or a person reads their notifications, then
what was sent, what was recorded, and what the reads answer."""

import asyncio
from datetime import date, datetime, time

import pytest

from services.reminders.channels import ReminderSettings
from services.reminders.handlers import Handlers
from services.reminders.projections import PROJECTIONS, people
from services.reminders.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.accounts import AccountCreated, AccountDisabled, AccountEnabled
from shared.contracts.followup import (
    EvaluationSubmitted,
    MilestoneCompleted,
    MilestoneDue,
    MilestoneOverdue,
    MilestoneScheduled,
)
from shared.contracts.selection import ClassOpened, NominationRejected, TraineeNominated
from shared.contracts.teaching import (
    AttendanceClosed,
    LeaveDecided,
    LeaveRequested,
    SessionCancelled,
    SessionScheduled,
    TraineeGraduated,
)
from shared.errors import Forbidden, NotFound
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

COUNTY = "371428"
UNIT = "县财政局"
LEAD = Principal(user_id="lead", name="领导乙", role="unit", jurisdiction=COUNTY, unit=UNIT)
TRAINEE = Principal(user_id="c1", name="张伟", role="trainee", jurisdiction=COUNTY)
ORG = Principal(user_id="org", name="组织部李干事", role="org_department", jurisdiction="371400")
SCHOOL = Principal(user_id="ps", name="党校王老师", role="party_school", jurisdiction=COUNTY)


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="c")


class FakeChannel:
    name = "email"

    def __init__(self) -> None:
        self.outbox: list[tuple[str, str, str]] = []
        self.fail = False

    def address(self, person: dict) -> str | None:
        return person.get("email")

    async def send(self, to, message, message_id) -> None:
        if self.fail:
            raise ConnectionRefusedError("邮件服务器拒绝连接")
        self.outbox.append((to, message.subject, message.body))


class World:
    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.commands = CommandHandler(self.store)
        self.db = MemoryDatabase()
        self.clock = FixedClock(date(2025, 6, 10))
        self.channel = FakeChannel()
        self.h = Handlers(
            self.commands, Reads(self.db), self.clock, ReminderSettings(backoff_seconds=60), [self.channel]
        )
        self._v: dict[str, int] = {}

    def given(self, stream: str, *events, jurisdiction=COUNTY) -> None:
        """Events of another service, folded as the projector would."""
        c = Context(
            actor=Actor(user_id="x", name="x", role="admin"), jurisdiction=jurisdiction, correlation_id="c"
        )
        envs = CommandHandler.envelopes(stream, self._v.get(stream, 0), list(events), c)
        self._v[stream] = self._v.get(stream, 0) + len(envs)
        for p in PROJECTIONS:
            self.db.load(p, envs)

    def project_own(self) -> None:
        """Our own inbox events, folded (the projector follows our topic too)."""
        self.db.load(people, self.store.all_events())

    async def contact(self, who: Principal, email: str) -> None:
        await self.h.set_contact(who, ctx(who), email, None)
        self.project_own()

    async def sweep(self):
        result = await self.h.send_due()
        self.project_own()
        return result


def milestone(month=3, due=date(2025, 6, 10)):
    mid = f"k1:c1:{month}"
    return (
        MilestoneScheduled(
            milestone_id=mid,
            class_id="k1",
            cadre_id="c1",
            name="张伟",
            unit=UNIT,
            month=month,
            due_on=due,
            required_roles=["self", "colleague", "unit_leader"],
            home_jurisdiction=COUNTY,
        ),
        MilestoneDue(milestone_id=mid, class_id="k1", cadre_id="c1", month=month, due_on=due),
    )


def evaluation(role, month=3):
    return EvaluationSubmitted(
        milestone_id=f"k1:c1:{month}",
        class_id="k1",
        cadre_id="c1",
        month=month,
        role=role,
        evaluator_id=role,
        evaluator_name=role,
        scores={"a": 80.0},
        submitted_on=date(2025, 6, 11),
    )


def graduated():
    return TraineeGraduated(
        class_id="k1",
        cadre_id="c1",
        name="张伟",
        unit=UNIT,
        graduated_on=date(2025, 3, 10),
        hours=40,
        attendance_rate=1.0,
        home_jurisdiction=COUNTY,
        class_title="2025年春季中青年干部培训班",
    )


@pytest.fixture
def w():
    world = World()
    world.given("teaching:k1", graduated())
    return world


def test_a_due_milestone_reminds_the_unit_and_the_trainee_once(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        await w.contact(TRAINEE, "zhangwei@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        assert (await w.sweep()).sent == 2
        to = {t: (s, b) for t, s, b in w.channel.outbox}
        assert to["lead@czj.gov.cn"][0] == "【干训提醒】请对张伟完成3个月跟踪评价"
        assert "2025年春季中青年干部培训班" in to["lead@czj.gov.cn"][1]
        assert "本人自评" in to["zhangwei@czj.gov.cn"][1]
        assert (await w.sweep()).sent == 0  # swept again: nothing twice
        assert len(w.channel.outbox) == 2
        events = [e.type for e in w.store.all_events()]
        assert events.count("ReminderSent") == 2

    asyncio.run(go())


def test_the_record_not_the_read_model_decides_once(w):
    """A sender whose `people` document lags (projector behind) still sends nothing twice."""

    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        await w.h.send_due()  # no project_own(): the read model lags
        await w.h.send_due()
        assert len(w.channel.outbox) == 1

    asyncio.run(go())


def test_work_done_before_the_sweep_is_not_reminded(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone(), evaluation("colleague"), evaluation("unit_leader"))
        await w.sweep()
        assert w.channel.outbox == []
        page = await w.h.notifications(LEAD, 1, 20, only_open=False)
        assert [(n["status"], n["kind"]) for n in page["items"]] == [("closed", "unit_eval")]
        assert page["unread"] == 0

    asyncio.run(go())


def test_a_failed_send_is_recorded_and_retried_after_the_back_off(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        w.channel.fail = True
        assert (await w.sweep()).failed == 1
        w.channel.fail = False
        assert (await w.sweep()).sent == 0  # within the back-off
        w.clock.at = datetime(2025, 6, 10, 9, 2).time()
        assert (await w.sweep()).sent == 1
        assert [e.type for e in w.store.all_events() if e.type.startswith("Reminder")] == [
            "ReminderFailed",
            "ReminderSent",
        ]
        assert (await w.h.status())["failed"] == 1

    asyncio.run(go())


def test_notifications_list_the_callers_own_work_with_what_was_sent(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone(1, date(2025, 4, 10)), *milestone())
        w.given(
            "followup:k1:c1",
            MilestoneOverdue(
                milestone_id="k1:c1:1",
                class_id="k1",
                cadre_id="c1",
                month=1,
                due_on=date(2025, 4, 10),
                missing_roles=["self", "colleague"],
            ),
        )
        await w.sweep()
        lead = await w.h.notifications(LEAD, 1, 20, only_open=True)
        assert lead["total"] == 2 and lead["unread"] == 2
        assert {n["month"] for n in lead["items"]} == {1, 3}
        assert all(n["reminders"][0]["to"] == "lead@czj.gov.cn" for n in lead["items"])
        # The city's department sees the county's overdue milestone; the trainee sees only their own.
        org = await w.h.notifications(ORG, 1, 20, only_open=True)
        assert [n["kind"] for n in org["items"]] == ["overdue"] and "张伟" in org["items"][0]["title"]
        mine = await w.h.notifications(TRAINEE, 1, 20, only_open=True)
        assert {n["kind"] for n in mine["items"]} == {"self_eval"}
        # Read one: the unread count drops; reading another's is refused.
        await w.h.mark_read(LEAD, ctx(LEAD), lead["items"][0]["id"])
        w.project_own()
        assert (await w.h.notifications(LEAD, 1, 20, only_open=True))["unread"] == 1
        with pytest.raises(NotFound):
            await w.h.mark_read(TRAINEE, ctx(TRAINEE), lead["items"][0]["id"])
        # Paging.
        assert len((await w.h.notifications(LEAD, 2, 1, only_open=True))["items"]) == 1

    asyncio.run(go())


def test_completion_closes_the_overdue_item_and_a_leave_request_goes_to_the_school(w):
    async def go():
        w.given(
            "followup:k1:c1",
            *milestone(),
            MilestoneCompleted(
                milestone_id="k1:c1:3",
                class_id="k1",
                cadre_id="c1",
                month=3,
                completed_on=date(2025, 6, 12),
                on_time=True,
            ),
        )
        assert (await w.h.notifications(LEAD, 1, 20, only_open=True))["total"] == 0
        await w.contact(SCHOOL, "school@dx.gov.cn")
        w.given(
            "teaching:timetable:k1",
            SessionScheduled(
                class_id="k1",
                session_id="s1",
                course_id="c-1",
                course_title="习近平新时代中国特色社会主义思想概论",
                kind="理论课",
                on=date(2025, 3, 3),
                starts_at=time(9, 0),
                ends_at=time(11, 30),
                hours=2.5,
                teacher_id="t1",
                teacher_name="刘教授",
                site_id="room-1",
            ),
        )
        w.given(
            "teaching:k1:s1", LeaveRequested(class_id="k1", session_id="s1", cadre_id="c1", reason="出差")
        )
        await w.sweep()
        to, subject, body = w.channel.outbox[0]
        assert (to, subject) == ("school@dx.gov.cn", "【干训提醒】张伟提交了请假申请，待审批")
        assert "2025-03-03 09:00《习近平新时代中国特色社会主义思想概论》" in body and "出差" in body
        w.given("teaching:k1:s1", LeaveDecided(class_id="k1", session_id="s1", cadre_id="c1", approved=True))
        # the session is long over: its roll call, once closed, is no longer to do either
        w.given("teaching:k1:s1", AttendanceClosed(class_id="k1", session_id="s1", absent=0))
        assert (await w.h.notifications(SCHOOL, 1, 20, only_open=True))["total"] == 0

    asyncio.run(go())


def test_every_projection_is_registered():
    assert {p.name for p in PROJECTIONS} == {
        "work",
        "classes",
        "people",
        "unit_quotas",
        "roll_calls",
        "logins",
    }


def test_a_disabled_account_gets_no_mail_until_enabled_again(w):
    async def go():
        w.given(
            "account:lead",
            AccountCreated(username="lead", name="领导乙", role="unit", jurisdiction=COUNTY, unit=UNIT),
            AccountDisabled(username="lead", reason="调离"),
        )
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        await w.sweep()
        assert w.channel.outbox == []
        w.given("account:lead", AccountEnabled(username="lead"))
        await w.sweep()
        assert [to for to, _, _ in w.channel.outbox] == ["lead@czj.gov.cn"]

    asyncio.run(go())


def test_a_unit_is_reminded_of_places_to_fill_until_they_are_filled_or_the_class_starts(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.clock.day = date(2025, 6, 1)
        w.given(
            "class:k2",
            ClassOpened(
                class_id="k2",
                title="乡镇党委书记培训班",
                capacity=30,
                starts_on=date(2025, 7, 1),
                ends_on=date(2025, 7, 5),
                organiser="县委组织部",
                quotas={UNIT: 2, "县教育局": 1},
            ),
        )
        await w.sweep()
        assert [s for _, s, _ in w.channel.outbox] == [
            "【干训提醒】请为“乡镇党委书记培训班”推荐学员（还可推荐 2 人）"
        ]
        assert "2025-07-01 开班前" in w.channel.outbox[0][2]

        def nominated(cadre):
            return TraineeNominated(class_id="k2", cadre_id=cadre, name=cadre, unit=UNIT)

        w.given("class:k2", nominated("n1"), nominated("n2"))
        assert (await w.h.notifications(LEAD, 1, 20, only_open=True))["total"] == 0
        w.given("class:k2", NominationRejected(class_id="k2", cadre_id="n1", reason="不符合条件"))
        mine = await w.h.notifications(LEAD, 1, 20, only_open=True)
        assert [n["title"] for n in mine["items"]] == ["请为“乡镇党委书记培训班”推荐学员（还可推荐 1 人）"]
        await w.sweep()
        assert len(w.channel.outbox) == 1  # the same item: reminded once
        w.clock.day = date(2025, 7, 1)  # the class starts: no more nominees
        assert (await w.h.notifications(LEAD, 1, 20, only_open=True))["total"] == 0
        assert (await w.h.notifications(LEAD, 1, 20, only_open=False))["items"][0]["status"] == "expired"

    asyncio.run(go())


def test_a_person_reads_back_the_contact_they_just_set(w):
    async def go():
        await w.h.set_contact(LEAD, ctx(LEAD), "lead@czj.gov.cn", "138-0000-0000")
        mine = await w.h.contact(LEAD)  # no projection folded: read from the person's own stream
        assert (mine["email"], mine["phone"]) == ("lead@czj.gov.cn", "13800000000")
        assert mine["reminded_as"] == [f"unit:{COUNTY}:{UNIT}"]

    asyncio.run(go())


def test_the_org_department_sees_what_was_sent_for_its_jurisdiction_s_milestones(w):
    """The follow-up desk: each reminder of a milestone with to whom, the channel, when, and failures."""

    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        await w.contact(TRAINEE, "zhangwei@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        w.channel.fail = True
        await w.sweep()
        w.channel.fail = False
        w.clock.at = datetime(2025, 6, 10, 9, 2).time()
        await w.sweep()
        rows = (await w.h.milestone_reminders(ORG))["items"]
        got = {(r["person"], r["kind_name"], r["channel"], r["to"], r["outcome"], r["month"]) for r in rows}
        assert ("领导乙", "跟踪评价", "email", "lead@czj.gov.cn", "sent", 3) in got
        assert ("张伟", "跟踪自评", "email", "zhangwei@czj.gov.cn", "sent", 3) in got
        assert all(r["trainee"] == "张伟" and r["class_id"] == "k1" for r in rows)
        other = Principal(user_id="o2", name="外县", role="org_department", jurisdiction="371402")
        assert (await w.h.milestone_reminders(other))["items"] == []
        with pytest.raises(Forbidden):
            await w.h.milestone_reminders(LEAD)

    asyncio.run(go())


def test_a_failed_reminder_shows_on_the_desk_with_its_error(w):
    async def go():
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        w.channel.fail = True
        await w.sweep()
        [row] = (await w.h.milestone_reminders(ORG, "k1"))["items"]
        assert (row["outcome"], row["person"], row["to"]) == ("failed", "领导乙", "lead@czj.gov.cn")
        assert "拒绝连接" in row["error"] and row["retry_at"]
        assert (await w.h.milestone_reminders(ORG, "other-class"))["items"] == []

    asyncio.run(go())


def session(session_id="s1", on=date(2025, 6, 10), starts=time(9, 0), ends=time(11, 30)):
    return SessionScheduled(
        class_id="k1",
        session_id=session_id,
        course_id="c-1",
        course_title="习近平新时代中国特色社会主义思想概论",
        kind="理论课",
        on=on,
        starts_at=starts,
        ends_at=ends,
        hours=2.5,
        teacher_id="t1",
        teacher_name="刘教授",
        site_id="room-1",
    )


def test_a_session_ended_without_its_roll_call_closed_reminds_the_school_once(w):
    async def go():
        w.given(
            "class-k1",
            ClassOpened(
                class_id="k1",
                title="2025年春季中青年干部培训班",
                capacity=30,
                starts_on=date(2025, 6, 9),
                ends_on=date(2025, 6, 13),
                organiser="县委党校",
            ),
        )
        await w.contact(SCHOOL, "school@dx.gov.cn")
        w.given("teaching:timetable:k1", session("s1"), session("s2", starts=time(14), ends=time(16)))
        w.clock.at = time(11, 50)  # s1 ended 20 minutes ago: the closer's grace (30 min) not over
        assert (await w.sweep()).sent == 0
        assert (await w.h.notifications(SCHOOL, 1, 20, only_open=True))["total"] == 0
        w.clock.at = time(12, 0)
        assert (await w.sweep()).sent == 1
        [(to, subject, body)] = w.channel.outbox
        assert to == "school@dx.gov.cn"
        title = "“2025年春季中青年干部培训班”2025-06-10《习近平新时代中国特色社会主义思想概论》"
        assert subject == f"【干训提醒】{title}考勤未结束"
        assert "2025-06-10 09:00–11:30" in body and "点名页" in body and "s1" not in body
        [note] = (await w.h.notifications(SCHOOL, 1, 20, only_open=True))["items"]
        assert note["kind_name"] == "结束考勤" and note["reminders"][0]["to"] == "school@dx.gov.cn"
        assert (await w.sweep()).sent == 0  # once
        # the school closes it: the item is done; s2, cancelled, is never reminded
        w.given("teaching:k1:s1", AttendanceClosed(class_id="k1", session_id="s1", absent=2))
        w.given("teaching:timetable:k1", SessionCancelled(class_id="k1", session_id="s2"))
        w.clock.at = time(20, 0)
        assert (await w.sweep()).sent == 0
        assert (await w.h.notifications(SCHOOL, 1, 20, only_open=True))["total"] == 0
        # the school's, nobody else's
        assert (await w.h.notifications(TRAINEE, 1, 20, only_open=False))["total"] == 0

    asyncio.run(go())


def test_a_roll_call_closed_before_its_session_is_folded_is_not_reminded(w):
    async def go():
        await w.contact(SCHOOL, "school@dx.gov.cn")
        # the attendance stream's event folded first (another partition), then the timetable's
        w.given("teaching:k1:s1", AttendanceClosed(class_id="k1", session_id="s1", absent=0))
        w.given("teaching:timetable:k1", session("s1", on=date(2025, 6, 9)))
        assert (await w.sweep()).sent == 0
        [item] = (await w.h.notifications(SCHOOL, 1, 20, only_open=False))["items"]
        assert (
            item["status"] == "closed"
            and "2025-06-09《习近平新时代中国特色社会主义思想概论》" in item["title"]
        )

    asyncio.run(go())


def test_a_daily_digest_lists_every_reminder_due_since_the_last_once_a_day(w):
    async def go():
        await w.h.set_contact(SCHOOL, ctx(SCHOOL), "school@dx.gov.cn", None, digest=True)
        w.project_own()
        assert (await w.h.contact(SCHOOL))["digest"] is True
        w.given(
            "teaching:timetable:k1", session("s1", on=date(2025, 6, 9)), session("s2", on=date(2025, 6, 10))
        )
        w.given(
            "teaching:k1:s2", LeaveRequested(class_id="k1", session_id="s2", cadre_id="c1", reason="出差")
        )
        w.clock.at = time(7, 59)  # before the digest hour (8): nothing, not even one by one
        assert (await w.sweep()).sent == 0 and w.channel.outbox == []
        w.clock.at = time(8, 0)
        assert (await w.sweep()).sent == 1
        [(to, subject, body)] = w.channel.outbox
        assert to == "school@dx.gov.cn" and subject == "【干训提醒】每日汇总：2 项待办（2025-06-10）"
        assert "1. 【" in body and "2. 【" in body and "张伟提交了请假申请" in body and "2025-06-09" in body
        w.clock.at = time(8, 40)
        assert (await w.sweep()).sent == 0  # once a day
        notes = (await w.h.notifications(SCHOOL, 1, 20, only_open=True))["items"]
        assert all(n["reminders"][0]["to"] == "school@dx.gov.cn" for n in notes) and len(notes) == 2
        # the next morning: only what fell due since (s2's roll call), the rest not again
        w.clock.day, w.clock.at = date(2025, 6, 11), time(8, 5)
        assert (await w.sweep()).sent == 1
        subject, body = w.channel.outbox[1][1:]
        assert subject == "【干训提醒】每日汇总：1 项待办（2025-06-11）"
        assert "2025-06-10 09:00–11:30" in body and "请假" not in body.split("1. 【")[1].split("】")[0]
        digests = [e for e in w.store.all_events() if e.type == "DigestSent"]
        assert [(e.payload["day"], len(e.payload["item_ids"])) for e in digests] == [
            ("2025-06-10", 2),
            ("2025-06-11", 1),
        ]

    asyncio.run(go())


def test_a_reminder_waits_for_its_class_s_title_and_then_names_it():
    """The title comes by teaching's or selection's topic, the work by follow-up's: a mail
    is not sent naming the class by its number while the title may still arrive (at most
    ten minutes)."""
    from datetime import time as clock_time

    from services.reminders.handlers import UNNAMED_WAIT

    async def go():
        w = World()  # no graduation folded: the class has no title here yet
        await w.contact(LEAD, "lead@czj.gov.cn")
        w.given("followup:k1:c1", *milestone())
        assert (await w.sweep()).sent == 0
        w.given("teaching:k1", graduated())
        assert (await w.sweep()).sent == 1
        assert "2025年春季中青年干部培训班" in w.channel.outbox[0][2]

        late = World()  # a title that never comes: the reminder goes out after the wait
        await late.contact(LEAD, "lead@czj.gov.cn")
        late.given("followup:k1:c1", *milestone())
        assert (await late.sweep()).sent == 0
        late.clock.at = clock_time(9, int(UNNAMED_WAIT.total_seconds() // 60))
        assert (await late.sweep()).sent == 1
        assert "班次 k1" in late.channel.outbox[0][2]

    asyncio.run(go())


def test_classes_waiting_for_their_title_are_remembered_within_a_bound(monkeypatch):
    """`_named` remembers each class still without a title: a class no longer asked about is
    forgotten after UNNAMED_FORGET, and no more than UNNAMED_MAX are kept, while a class still
    asked about keeps the time its wait began."""
    from datetime import UTC, timedelta

    from services.reminders import handlers

    monkeypatch.setattr(handlers, "UNNAMED_MAX", 3)
    h = World().h
    start = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)
    for i in range(10):
        assert not h._named(f"k{i}", {}, start + timedelta(seconds=i))
    assert list(h._unnamed) == ["k7", "k8", "k9"]

    # k9 keeps being asked about: its wait is counted from its first ask, and it goes out.
    assert h._named("k9", {}, start + handlers.UNNAMED_WAIT + timedelta(seconds=9))
    # A day later nobody asked about k7 and k8 any more: asking about another class forgets them.
    later = start + handlers.UNNAMED_FORGET + timedelta(minutes=1)
    assert not h._named("k10", {}, later)
    assert list(h._unnamed) == ["k9", "k10"]
    # A title that arrives ends the wait at once and frees its place.
    assert h._named("k10", {"title": "2025年春季中青年干部培训班"}, later)
    assert "k10" not in h._unnamed
