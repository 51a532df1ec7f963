"""Follow-up's handlers and scheduler over the in-memory ports (shared/memory.py), no
server: given graduations teaching sent and past commands, when the scheduler ticks on a
FixedClock or a command goes through `Handlers`, then the events appended and what
`Reads` answers once the projections have folded them."""

import asyncio
from datetime import date

import pytest

from services.followup import report
from services.followup.domain import outcome_stream, questions_for, trainee_stream
from services.followup.handlers import Handlers
from services.followup.projections import PROJECTIONS
from services.followup.reads import Reads
from services.followup.scheduler import Scheduler
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.teaching import TraineeGraduated
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

CODE = "371428"
GRADUATED = date(2026, 1, 15)
DEPT = Principal(user_id="org-1", name="李干事", role="org_department", jurisdiction=CODE)
ZHANG = Principal(user_id="a", name="张三", role="trainee", jurisdiction=CODE)
UNIT = Principal(user_id="u-1", name="县发改局办公室", role="unit", jurisdiction=CODE, unit="县发改局")
MENTOR = Principal(user_id="m-1", name="王局长", role="mentor", jurisdiction=CODE)
OTHER_MENTOR = Principal(user_id="m-2", name="赵局长", role="mentor", jurisdiction=CODE)


def run(coro):
    return asyncio.run(coro)


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="c-1")


def graduations(class_id: str, trainees: dict[str, str]) -> list:
    """What teaching's topic brings: the class's trainees graduated."""
    events = [
        TraineeGraduated(
            class_id=class_id,
            cadre_id=c,
            name=n,
            unit="县发改局",
            graduated_on=GRADUATED,
            hours=48.0,
            attendance_rate=1.0,
            class_title="中青年干部培训班",
        )
        for c, n in trainees.items()
    ]
    teaching = Context(
        actor=Actor(user_id="t", name="教务", role="party_school"), jurisdiction=CODE, correlation_id="t"
    )
    return CommandHandler.envelopes(f"teaching-{class_id}", 0, events, teaching)


class World:
    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.given = graduations("k1", {"a": "张三", "b": "李四"})
        self.clock = FixedClock(GRADUATED)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db), self.clock)
        self.scheduler = Scheduler(self.h, CODE)
        self.sync()

    def sync(self) -> None:
        """The projector's work: the read models folded again from all events (the
        scheduler's own reminders and cursor stay)."""
        for p in PROJECTIONS:
            self.db.collections.pop(p.collection, None)
            self.db.load(p, self.given + self.store.all_events())

    def on(self, day: date) -> None:
        """The clock reaches `day`; the scheduler ticks; the projector catches up."""
        self.clock.day = day
        run(self.scheduler.tick())
        self.sync()

    def types(self, cadre_id: str) -> list[str]:
        return [e.type for e in run(self.store.read_stream(trainee_stream("k1", cadre_id)))]


def scores(month: int, value: float = 90) -> dict[str, float]:
    return {k: value for k in questions_for(month)}


def test_a_graduate_is_planned_by_the_class_plan():
    w = World()
    assert run(w.h.plan(DEPT, "k1"))["default"] is True
    run(w.h.set_plan(ctx(DEPT), DEPT, "k1", [3, 1], 7))
    assert run(w.h.plan(DEPT, "k1")) == {
        "class_id": "k1",
        "months": [1, 3],
        "grace_days": 7,
        "default": False,
    }
    with pytest.raises(Forbidden):
        run(w.h.set_plan(ctx(ZHANG), ZHANG, "k1", [1], 7))
    w.on(GRADUATED)
    assert w.types("a") == ["MilestoneScheduled"] * 2
    file = run(w.h.reads.trainee_file(ZHANG, "a"))
    assert [(m["month"], m["due_on"], m["status"]) for m in file["classes"][0]["milestones"].values()] == [
        (1, "2026-02-15", "scheduled"),
        (3, "2026-04-15", "scheduled"),
    ]


def test_milestones_fall_due_on_their_day_once():
    w = World()
    w.on(GRADUATED)
    w.on(date(2026, 2, 14))
    assert "MilestoneDue" not in w.types("a")
    w.on(date(2026, 2, 15))
    w.on(date(2026, 2, 16))  # a later tick adds nothing
    assert w.types("a").count("MilestoneDue") == 1 and w.types("b").count("MilestoneDue") == 1
    wl = run(w.h.reads.worklist(DEPT, date(2026, 2, 16)))
    assert (wl["due"], wl["overdue"]) == (2, 0)


def test_an_evaluation_is_submitted_once_and_the_last_one_completes_the_milestone():
    w = World()
    w.on(GRADUATED)
    with pytest.raises(DomainError) as early:
        run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1), "有收获。"))
    assert early.value.code == "not_due_yet"
    w.on(date(2026, 2, 16))
    first = run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1), "有收获。"))
    again = run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1), "有收获。"))
    assert [e.event_id for e in again] == [e.event_id for e in first]  # a retry: the same answer
    with pytest.raises(DomainError) as twice:
        run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1, 60), "改主意了。"))
    assert twice.value.code == "already_evaluated"
    with pytest.raises(Forbidden):  # only the trainee evaluates themself
        run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "self", None, scores(1), ""))
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "colleague", "钱同事", scores(1, 80), "踏实。"))
    done = run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "unit_leader", "孙局长", scores(1, 70), "肯干。"))
    assert [e.type for e in done] == ["EvaluationSubmitted", "MilestoneCompleted"]
    assert done[-1].payload["average_score"] == 80.0 and done[-1].payload["on_time"] is True
    w.sync()
    effect = run(w.h.reads.class_effect(DEPT, "k1"))
    assert (effect["milestones_due"], effect["milestones_completed"], effect["scores_by_month"]) == (
        2,
        1,
        {"1": 80.0},
    )


def test_the_class_report_averages_each_question_of_a_stage_and_names_the_class():
    """The effect report's chart by question (the desk): each question's mean over every evaluation."""
    w = World()
    w.on(GRADUATED)
    w.on(date(2026, 2, 16))
    q1, q2, q3 = questions_for(1)
    run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, {q1: 90, q2: 80, q3: 70}, "有收获。"))
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "colleague", "钱同事", {q1: 60, q2: 85, q3: 70}, ""))
    w.sync()
    effect = run(w.h.reads.class_effect(DEPT, "k1"))
    assert effect["scores_by_question"] == {"1": {q1: 75.0, q2: 82.5, q3: 70.0}}
    assert effect["class_title"] == "中青年干部培训班"
    assert [c["class_title"] for c in run(w.h.reads.trainee_file(DEPT, "a"))["classes"]] == [
        "中青年干部培训班"
    ]
    book = report.effect_workbook(effect)
    assert list(book["分题平均分"].iter_rows(min_row=2, values_only=True)) == [
        ("1个月", q1, 75.0),
        ("1个月", q2, 82.5),
        ("1个月", q3, 70.0),
    ]
    assert next(book["汇总"].iter_rows(min_row=2, values_only=True)) == ("班次", "中青年干部培训班")


def test_a_milestone_past_its_grace_is_overdue_once_and_names_who_is_missing():
    w = World()
    w.on(GRADUATED)
    w.on(date(2026, 2, 16))
    run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1), "有收获。"))
    w.on(date(2026, 3, 1))  # grace of 14 days: the 1st of March is the last day
    assert "MilestoneOverdue" not in w.types("a")
    w.on(date(2026, 3, 2))
    w.on(date(2026, 3, 3))
    overdue = [e for e in run(w.store.read_stream(trainee_stream("k1", "a"))) if e.type == "MilestoneOverdue"]
    assert len(overdue) == 1 and overdue[0].payload["missing_roles"] == ["colleague", "unit_leader"]
    wl = run(w.h.reads.worklist(DEPT, date(2026, 3, 3)))
    assert [(i["cadre_id"], i["status_name"]) for i in wl["items"]] == [("a", "已逾期"), ("b", "已逾期")]


def test_the_mentor_and_only_the_mentor_records_the_mentoring_tasks():
    w = World()
    w.on(GRADUATED)
    run(w.h.assign_mentor(ctx(DEPT), DEPT, "k1", "a", MENTOR.user_id, MENTOR.name, "县发改局局长"))
    with pytest.raises(Forbidden) as other:
        run(
            w.h.complete_mentor_task(
                ctx(OTHER_MENTOR), OTHER_MENTOR, "k1", "a", "core_decision", "会议纪要", "表现好"
            )
        )
    assert other.value.code == "not_the_mentor"
    envs = run(
        w.h.complete_mentor_task(
            ctx(MENTOR), MENTOR, "k1", "a", "core_decision", "党组会议纪要", "能提出有见地的意见。"
        )
    )
    assert [e.type for e in envs] == ["MentorTaskCompleted"]
    with pytest.raises(DomainError) as again:
        run(w.h.complete_mentor_task(ctx(MENTOR), MENTOR, "k1", "a", "core_decision", "再来一次", "同上"))
    assert again.value.code == "task_done"
    w.sync()
    file = run(w.h.reads.trainee_file(MENTOR, "a"))
    assert list(file["classes"][0]["tasks"]) == ["core_decision"]
    with pytest.raises(Forbidden):  # not their mentee's file
        run(w.h.reads.trainee_file(MENTOR, "b"))


def test_outcomes_of_a_class_with_graduates_and_their_endorsements():
    w = World()
    with pytest.raises(NotFound):
        run(w.h.report_outcome(ctx(DEPT), DEPT, "k9", None, "report", "乡村振兴调研报告", ["a"]))
    envs = run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-1", "report", "乡村振兴调研报告", ["a", "b"]))
    assert [e.type for e in envs] == ["OutcomeReported"]
    w.clock.day = date(2026, 5, 10)
    with pytest.raises(DomainError) as future:
        run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-1", "approval", "县委书记", date(2026, 5, 11), "可推广"))
    assert future.value.code == "endorsed_in_future"
    run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-1", "approval", "县委书记", date(2026, 5, 9), "可推广"))
    w.sync()
    outcomes = run(w.h.reads.class_effect(DEPT, "k1"))["outcomes"]
    assert (outcomes["reports"], outcomes["approvals"], outcomes["endorsed"]) == (1, 1, 1)


def test_an_outcome_is_dated_today_unless_told_and_no_endorsement_comes_before_it():
    w = World()
    w.clock.day = date(2026, 4, 1)
    envs = run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-2", "proposal", "优化审批流程的金点子", ["a"]))
    assert envs[0].payload["on"] in (date(2026, 4, 1), "2026-04-01")
    w.clock.day = date(2026, 5, 10)
    with pytest.raises(DomainError) as early:
        run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-2", "adoption", "县政务服务局", date(2026, 3, 31), ""))
    assert early.value.code == "endorsed_before_outcome"
    assert len(run(w.store.read_stream(outcome_stream("o-2")))) == 1  # nothing stored by the refusal


def test_a_talk_before_the_trainees_graduation_is_refused_and_nothing_is_stored():
    w = World()
    w.on(GRADUATED)
    before = w.types("a")
    w.clock.day = date(2026, 3, 1)
    with pytest.raises(DomainError) as e:
        run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 1, 14), "本局干部", "学习体会", 30))
    assert e.value.code == "talk_before_graduation"
    assert w.types("a") == before
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 1, 15), "本局干部", "学习体会", 30))
    assert w.types("a")[-1] == "SharingTalkGiven"


def test_a_trainee_reports_an_outcome_of_their_class_and_sees_the_department_endorse_it():
    w = World()
    w.on(GRADUATED)
    w.clock.day = date(2026, 3, 1)
    with pytest.raises(Forbidden):  # not a graduate of this class
        run(
            w.h.report_outcome(
                ctx(ZHANG),
                Principal(user_id="z", name="外人", role="trainee", jurisdiction=CODE),
                "k1",
                None,
                "report",
                "x",
                [],
            )
        )
    envs = run(w.h.report_outcome(ctx(ZHANG), ZHANG, "k1", "o-3", "report", "基层减负调研报告", ["李四"]))
    # The trainee is its first author; each author a graduate, by cadre id and name.
    assert [(a["cadre_id"], a["name"]) for a in envs[0].payload["authors"]] == [("a", "张三"), ("b", "李四")]
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局干部", "学习体会", 30))
    run(w.h.give_talk(ctx(UNIT), UNIT, "k1", "b", "t-2", date(2026, 2, 21), "本局干部", "心得", 20))
    run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-3", "approval", "县委书记", date(2026, 3, 1), "请推广"))
    w.sync()
    mine = run(w.h.reads.sharing(ZHANG, "k1"))
    assert [t["talk_id"] for t in mine["talks"]] == ["t-1"]  # only their own talks
    (outcome,) = mine["outcomes"]
    assert (outcome["title"], outcome["on"], outcome["endorsements"][0]["by"]) == (
        "基层减负调研报告",
        "2026-03-01",
        "县委书记",
    )
    assert (outcome["authors"], outcome["author_ids"]) == (["张三", "李四"], ["a", "b"])
    everyone = run(w.h.reads.sharing(DEPT, "k1"))
    assert [(t["name"], t["topic"]) for t in everyone["talks"]] == [("张三", "学习体会"), ("李四", "心得")]
    other_unit = Principal(user_id="u-9", name="教育局", role="unit", jurisdiction=CODE, unit="县教育局")
    with pytest.raises(Forbidden):
        run(w.h.reads.sharing(other_unit, "k1"))


def _outcome_events(w: World) -> list:
    return [e for e in w.store.all_events() if e.stream_id.startswith("outcome")]


def test_an_outcomes_authors_are_graduates_of_the_class_named_or_by_cadre_id():
    # An author is sealed under their own key (OutcomeReported v2), so each must be a cadre of
    # ours: a name nobody of the class bears is refused, a shared name asks for the cadre id.
    w = World()
    w.on(GRADUATED)
    w.clock.day = date(2026, 3, 1)
    report = w.h.report_outcome
    with pytest.raises(DomainError) as e:
        run(report(ctx(DEPT), DEPT, "k1", "o-1", "report", "基层减负调研报告", ["张三", "王五"]))
    assert (e.value.status, e.value.code, e.value.field) == (422, "author_not_a_graduate", "authors")
    assert "“王五”" in e.value.message
    assert _outcome_events(w) == []  # nothing stored by the refusal
    envs = run(report(ctx(DEPT), DEPT, "k1", "o-1", "report", "基层减负调研报告", ["b", "张三", "李四"]))
    assert envs[0].payload["authors"] == [
        {"cadre_id": "b", "name": "李四"},
        {"cadre_id": "a", "name": "张三"},
    ]
    w = World()
    w.given = graduations("k1", {"a": "张三", "b": "李四", "c": "张三"})  # namesakes in one class
    w.sync()
    report = w.h.report_outcome
    with pytest.raises(DomainError) as e:
        run(report(ctx(DEPT), DEPT, "k1", "o-2", "report", "乡村振兴调研", ["张三"]))
    assert e.value.code == "author_ambiguous" and "干部编号" in e.value.message
    [env] = run(report(ctx(DEPT), DEPT, "k1", "o-2", "report", "乡村振兴调研", ["c"]))
    assert env.payload["authors"] == [{"cadre_id": "c", "name": "张三"}]


def test_class_level_texts_of_follow_up_naming_a_graduate_are_refused_and_nothing_is_stored():
    # A title, an endorsement's note and a talk's audience are readable for ever: naming a
    # graduate of the class in them is refused with where such content belongs.
    w = World()
    w.on(GRADUATED)
    w.clock.day = date(2026, 3, 1)
    with pytest.raises(DomainError) as e:
        run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-1", "report", "李四关于基层减负的调研", ["b"]))
    assert (e.value.code, e.value.field) == ("trainee_named", "title")
    assert e.value.message == "成果标题中出现了学员姓名“李四”：作者请填在“作者”栏，标题只写成果本身。"
    assert _outcome_events(w) == []
    run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-1", "report", "基层减负调研报告", ["b"]))
    with pytest.raises(DomainError) as e:
        run(
            w.h.endorse_outcome(
                ctx(DEPT), DEPT, "o-1", "approval", "县委书记", date(2026, 3, 1), "张三很能干"
            )
        )
    assert (e.value.code, e.value.field) == ("trainee_named", "note") and "“张三”" in e.value.message
    assert "跟踪评价" in e.value.message
    assert [x.type for x in _outcome_events(w)] == ["OutcomeReported"]
    before = w.types("a")
    with pytest.raises(DomainError) as e:
        run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "李四等同事", "体会", 5))
    assert (e.value.code, e.value.field) == ("trainee_named", "audience") and "“李四”" in e.value.message
    assert w.types("a") == before
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局干部", "体会", 5))
    assert w.types("a")[-1] == "SharingTalkGiven"


def test_a_name_of_one_character_is_too_short_to_match_and_an_erased_one_is_no_name():
    from shared.class_texts import trainee_named

    assert trainee_named("王道与霸道", {"王"}) is None  # one character is ordinary text
    assert trainee_named("已删除的课次", {"已删除"}) is None  # what stands in for an erased person
    assert trainee_named("欧阳明珠与明珠", {"明珠", "欧阳明珠"}) == "欧阳明珠"  # the longest found


def test_a_province_class_report_holds_every_countys_graduates_and_each_may_report_its_outcome():
    """A province party school's class graduates cadres of two counties. The scheduler follows
    each up in their home county's jurisdiction; the class's report belongs to the class's
    jurisdiction (the province), so the second county's graduates are admitted too (they were
    refused as another county's when the first graduate's county owned the report)."""
    province, home_a, home_b, klass = "430000", "431102", "431121", "430000-p1"
    school = Context(
        actor=Actor(user_id="t", name="省委党校教务处", role="party_school"),
        jurisdiction=province,
        correlation_id="t",
    )
    w = World()
    w.given += CommandHandler.envelopes(
        f"teaching-{klass}",
        0,
        [
            TraineeGraduated(
                class_id=klass,
                cadre_id=c,
                name=n,
                unit="县财政局",  # both counties have one
                graduated_on=GRADUATED,
                hours=48.0,
                attendance_rate=1.0,
                class_title="全省中青年干部培训班",
                home_jurisdiction=home,
            )
            for c, n, home in (("pa", "王五", home_a), ("pb", "赵六", home_b))
        ],
        school,
    )
    w.sync()
    w.on(GRADUATED)
    scheduled = {e.stream_id: e.jurisdiction for e in w.store.all_events() if klass in e.stream_id}
    assert set(scheduled.values()) == {home_a, home_b}  # each in their own county
    prov = Principal(user_id="p-1", name="省委组织部", role="org_department", jurisdiction=province)
    effect = run(w.h.reads.class_effect(prov, klass))
    assert sorted(t["cadre_id"] for t in effect["by_trainee"]) == ["pa", "pb"]
    # The second county's graduate reports the class's outcome, with the first's as co-author.
    zhao = Principal(user_id="pb", name="赵六", role="trainee", jurisdiction=home_b)
    run(w.h.report_outcome(ctx(zhao), zhao, klass, "o-p", "report", "全省基层治理调研报告", ["王五"]))
    w.sync()
    (outcome,) = run(w.h.reads.sharing(zhao, klass))["outcomes"]
    assert (outcome["title"], outcome["authors"]) == ("全省基层治理调研报告", ["赵六", "王五"])
    assert [o["title"] for o in run(w.h.reads.class_effect(prov, klass))["outcomes"]["items"]] == [
        "全省基层治理调研报告"
    ]
    # Each county's department reads its own graduates of the class, not the other county's.
    for home, cadre in ((home_a, "pa"), (home_b, "pb")):
        dept = Principal(user_id=f"o-{home}", name="县委组织部", role="org_department", jurisdiction=home)
        assert [t["cadre_id"] for t in run(w.h.reads.class_effect(dept, klass))["by_trainee"]] == [cadre]
    # A unit of the same name in the other county is not the graduate's unit.
    unit_a = Principal(user_id="u-a", name="财政局", role="unit", jurisdiction=home_a, unit="县财政局")
    assert [t["name"] for t in run(w.h.reads.sharing(unit_a, klass))["talks"]] == []
    with pytest.raises(Forbidden):
        run(w.h.endorse_outcome(ctx(unit_a), unit_a, "o-p", "adoption", None, GRADUATED, ""))
