"""Records' handlers over the in-memory ports (shared/memory.py), no server: given the
roster selection sent and past commands, when a command goes through `Handlers`, then
the events appended and what `Reads` answers once the projections have folded them."""

import asyncio
from datetime import date

import pytest

from services.records.domain import class_stream, trainee_stream
from services.records.handlers import Handlers
from services.records.projections import PROJECTIONS
from services.records.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, NominationConfirmed, StudyGroup
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

CODE = "371428"
START = date(2026, 3, 2)  # a Monday
TODAY = date(2026, 3, 18)
DEPT = Principal(user_id="org-1", name="李干事", role="org_department", jurisdiction=CODE)
HEAD = Principal(user_id="p-ht", name="王老师", role="recorder", jurisdiction=CODE)
SECRETARY = Principal(user_id="p-bs", name="赵书记", role="recorder", jurisdiction=CODE)
MONITOR = Principal(user_id="p-cm", name="孙班长", role="recorder", jurisdiction=CODE)
ELSEWHERE = Principal(user_id="p-other", name="周老师", role="recorder", jurisdiction=CODE)
ITEMS = [
    {"item_id": "T01", "title": "课堂笔记", "group": "理论学习", "max_points": 10, "roles": ["head_teacher"]}
]


def run(coro):
    return asyncio.run(coro)


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="c-1")


def selection_events(class_id: str, trainees: dict[str, str], code: str = CODE) -> list:
    """The roster as selection's topic brings it: a class opened, its trainees confirmed."""
    opened = ClassOpened(
        class_id=class_id,
        title=f"{class_id} 中青年干部培训班",
        capacity=50,
        starts_on=START,
        ends_on=date(2026, 6, 30),
        organiser="市委党校",
        study_groups=[StudyGroup(name="一组")],
    )
    confirmed = [
        NominationConfirmed(class_id=class_id, cadre_id=c, name=n, unit="县发改局")
        for c, n in trainees.items()
    ]
    sel = Context(
        actor=Actor(user_id="sel", name="选调", role="org_department"), jurisdiction=code, correlation_id="s"
    )
    return CommandHandler.envelopes(f"selection-{class_id}", 0, [opened, *confirmed], sel)


class World:
    """The store, the read models folded from it, and the handlers on top."""

    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.given = selection_events("k1", {"a": "张三", "b": "李四"}) + selection_events(
            "k2", {"z": "钱五"}
        )
        self.clock = FixedClock(TODAY)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db), self.clock)
        self.sync()

    def sync(self) -> None:
        """The projector's work: every read model folded again from all events."""
        self.db.collections.clear()
        for p in PROJECTIONS:
            self.db.load(p, self.given + self.store.all_events())

    def staffed(self) -> "World":
        staff = (
            ("k1", HEAD, "head_teacher"),
            ("k1", SECRETARY, "branch_secretary"),
            ("k1", MONITOR, "class_monitor"),
            ("k2", ELSEWHERE, "head_teacher"),
        )
        for class_id, who, role in staff:
            run(self.h.assign_recorder(ctx(DEPT), DEPT, class_id, who.user_id, who.name, role, START))
        self.sync()
        return self


def test_assigning_the_three_core_recorders():
    w = World().staffed()
    assert [e.type for e in run(w.store.read_stream(class_stream("k1")))] == ["RecorderAssigned"] * 3
    current = run(w.h.reads.recorders(DEPT, "k1"))["current"]
    assert sorted((r["name"], r["role"]) for r in current) == [
        ("孙班长", "class_monitor"),
        ("王老师", "head_teacher"),
        ("赵书记", "branch_secretary"),
    ]
    with pytest.raises(Forbidden):  # a recorder does not appoint recorders
        run(w.h.assign_recorder(ctx(HEAD), HEAD, "k1", "p-x", "某人", "committee_member", START))


def test_a_record_and_its_correction_both_stand_in_the_file():
    w = World().staffed()
    first, _ = run(w.h.log_record(ctx(HEAD), HEAD, "k1", "a", "study", date(2026, 3, 9), "课堂发言积极。"))
    second, envs = run(
        w.h.log_record(
            ctx(HEAD),
            HEAD,
            "k1",
            "a",
            "study",
            date(2026, 3, 9),
            "课堂发言积极，联系本单位实际。",
            corrects=first,
        )
    )
    assert [e.type for e in envs] == ["RecordLogged"] and envs[0].payload["corrects"] == first
    w.sync()
    mine = run(w.h.reads.records(DEPT, "k1", "a"))
    records = mine["records"]
    assert [(r["record_id"], r["corrected_by"]) for r in records] == [(first, second), (second, None)]
    assert mine["name"] == "张三"  # the trainee's page names them without reading the whole roster
    assert run(w.h.reads.record(HEAD, "k1", "a", first))["text"] == "课堂发言积极。"
    # The day comes from the clock: tomorrow is refused.
    with pytest.raises(DomainError) as e:
        run(w.h.log_record(ctx(HEAD), HEAD, "k1", "a", "study", date(2026, 3, 19), "明天的事。"))
    assert e.value.code == "future_date"
    w.clock.day = date(2026, 3, 19)
    run(w.h.log_record(ctx(HEAD), HEAD, "k1", "a", "thinking", date(2026, 3, 19), "思想稳定。"))


def test_a_weekly_score_sheet_saves_the_good_rows_and_names_the_refused_one():
    w = World().staffed()
    run(w.h.set_scheme(ctx(DEPT), DEPT, "k1", None, "s1", "本班方案", ITEMS))
    w.sync()
    with pytest.raises(DomainError) as dup:
        run(
            w.h.score_sheet(
                ctx(HEAD),
                HEAD,
                "k1",
                date(2026, 3, 11),
                [("a", (("T01", 8.0),), ""), ("a", (("T01", 7.0),), "")],
            )
        )
    assert dup.value.code == "duplicate_row"
    answer = run(
        w.h.score_sheet(
            ctx(HEAD),
            HEAD,
            "k1",
            date(2026, 3, 11),
            [("a", (("T01", 8.0),), "笔记工整"), ("b", (("T01", 12.0),), "")],
        )
    )
    assert answer["week"] == "2026-03-09" and answer["saved"] == 1
    assert [(r["cadre_id"], r["code"]) for r in answer["refused"]] == [("b", "points_out_of_range")]
    assert run(w.store.read_stream(trainee_stream("k1", "b"))) == []
    w.sync()
    review = run(w.h.reads.weekly_review(DEPT, "k1", date(2026, 3, 9)))
    assert review["unscored"] == ["李四"]
    ranking, _ = run(w.h.reads.ranking(DEPT, "k1"))
    assert [(r["name"], r["total"], r["rank"]) for r in ranking["class_ranking"]] == [
        ("张三", 8.0, 1),
        ("李四", 0, 2),
    ]
    with pytest.raises(DomainError) as e:  # scored: the scheme cannot change any more
        run(w.h.set_scheme(ctx(DEPT), DEPT, "k1", "huzhou", None, None, None))
    assert e.value.code == "scheme_in_use"


def test_the_final_comment_is_the_head_teachers_and_written_once():
    w = World().staffed()
    with pytest.raises(DomainError) as e:
        run(w.h.write_final_comment(ctx(SECRETARY), SECRETARY, "k1", "a", "表现优秀。"))
    assert e.value.code == "not_head_teacher"
    run(w.h.write_final_comment(ctx(HEAD), HEAD, "k1", "a", "理论功底扎实，表现优秀。"))
    with pytest.raises(DomainError) as e:
        run(w.h.write_final_comment(ctx(HEAD), HEAD, "k1", "a", "再写一次。"))
    assert e.value.code == "final_comment_exists"
    w.sync()
    _, _, file = run(w.h.reads.trainee_sheet(DEPT, "k1", "a"))
    assert file["final_comment"]["text"] == "理论功底扎实，表现优秀。"


def test_a_recorder_of_another_class_is_refused():
    w = World().staffed()
    with pytest.raises(DomainError) as e:
        run(w.h.log_record(ctx(ELSEWHERE), ELSEWHERE, "k1", "a", "study", date(2026, 3, 9), "越权记录。"))
    assert e.value.code == "not_a_recorder"
    assert run(w.store.read_stream(trainee_stream("k1", "a"))) == []
    with pytest.raises(Forbidden) as f:
        run(w.h.reads.records(ELSEWHERE, "k1", "a"))
    assert f.value.code == "not_a_recorder"
    # In their own class they record.
    record_id, _ = run(
        w.h.log_record(ctx(ELSEWHERE), ELSEWHERE, "k2", "z", "conduct", date(2026, 3, 9), "遵守纪律。")
    )
    w.sync()
    assert [r["record_id"] for r in run(w.h.reads.records(ELSEWHERE, "k2", "z"))["records"]] == [record_id]


def test_a_countys_class_monitor_records_in_the_province_class_that_appointed_them():
    """A province party school's class holds counties' cadres; its class monitor is one of them,
    with their county's token. Admitted as teaching admits a county's trainee (`admit_to_class`):
    by the class's appointment, not by the token's jurisdiction."""
    province, home, other = "430000", "431102", "431121"
    w = World()
    w.given += selection_events("430000-p1", {"a": "张三", "m": "孙班长"}, code=province)
    w.sync()
    school = Principal(user_id="ps-1", name="省委党校教务处", role="party_school", jurisdiction=province)
    monitor = Principal(user_id="m", name="孙班长", role="recorder", jurisdiction=home)
    stranger = Principal(user_id="q", name="周委员", role="recorder", jurisdiction=other)
    run(w.h.assign_recorder(ctx(school), school, "430000-p1", "m", "孙班长", "class_monitor", START))
    w.sync()
    record_id, envs = run(
        w.h.log_record(
            ctx(monitor), monitor, "430000-p1", "a", "study", date(2026, 3, 9), "小组讨论发言积极。"
        )
    )
    # In the class's jurisdiction: on the province's topic, as the school's own records are.
    assert [(e.type, e.jurisdiction) for e in envs] == [("RecordLogged", province)]
    sheet = run(w.h.score_sheet(ctx(monitor), monitor, "430000-p1", date(2026, 3, 9), []))
    assert sheet["refused"] == []
    w.sync()
    assert [r["record_id"] for r in run(w.h.reads.records(monitor, "430000-p1", "a"))["records"]] == [
        record_id
    ]
    assert [c["class_id"] for c in run(w.h.reads.my_classes(monitor))] == ["430000-p1"]
    # A county's recorder the class did not appoint learns nothing of it; nothing is stored.
    for attempt in (
        lambda: w.h.log_record(
            ctx(stranger), stranger, "430000-p1", "a", "study", date(2026, 3, 9), "越权。"
        ),
        lambda: w.h.reads.records(stranger, "430000-p1", "a"),
    ):
        with pytest.raises(NotFound) as e:
            run(attempt())
        assert e.value.code == "class_not_found"
    assert len(run(w.store.read_stream(trainee_stream("430000-p1", "a")))) == 1
    # County staff stay bound by jurisdiction: the province's class is not theirs to manage.
    dept = Principal(user_id="org-2", name="县委组织部", role="org_department", jurisdiction=home)
    with pytest.raises(Forbidden) as f:
        run(w.h.assign_recorder(ctx(dept), dept, "430000-p1", "x", "某人", "committee_member", START))
    assert f.value.code == "wrong_jurisdiction"


def test_a_recorders_classes_are_read_by_id_not_by_a_scan_of_every_class():
    """Issue 16: 我记录的班次 reads the recorder's own document, then only their classes by `_id`
    (five years hold 500 classes; FerretDB serves only `_id` equality from an index)."""
    w = World().staffed()
    run(w.h.assign_recorder(ctx(DEPT), DEPT, "k2", HEAD.user_id, HEAD.name, "committee_member", START))
    w.sync()
    asked: list[dict] = []
    for name in list(w.db.collections):
        coll = w.db[name]
        find, find_one = coll.find, coll.find_one

        def find_logged(flt=None, projection=None, find=find):
            asked.append(flt or {})
            return find(flt, projection)

        async def find_one_logged(flt=None, projection=None, find_one=find_one):
            asked.append(flt or {})
            return await find_one(flt, projection)

        coll.find, coll.find_one = find_logged, find_one_logged
    mine = run(w.h.reads.my_classes(HEAD))
    assert sorted((c["class_id"], c["role"]) for c in mine) == [
        ("k1", "head_teacher"),
        ("k2", "committee_member"),
    ]
    assert asked and all("_id" in flt for flt in asked)
    assert run(w.h.reads.my_classes(MONITOR))[0]["class_id"] == "k1"


def test_a_supervision_note_naming_a_trainee_of_the_class_is_refused_and_nothing_is_stored():
    # The note is the class's, readable on the topics for ever: a trainee named in it could not
    # be erased (shared/class_texts.py). What is about one trainee goes into their own record.
    w = World()
    with pytest.raises(DomainError) as e:
        run(w.h.note_supervision(ctx(DEPT), DEPT, "k1", TODAY, "随班听课，李四同志多次迟到。"))
    assert (e.value.status, e.value.code, e.value.field) == (422, "trainee_named", "text")
    assert e.value.message == "督导记录中出现了学员姓名“李四”：关于学员个人的内容请记入该学员的纪实记录。"
    assert run(w.store.read_stream(class_stream("k1"))) == []
    # a trainee of another class (钱五 is in k2) is no trainee of this one
    [env] = run(w.h.note_supervision(ctx(DEPT), DEPT, "k1", TODAY, "随班听课，学风良好，钱五局长到班讲话。"))
    assert env.type == "SupervisionNoted"
