"""Follow-up's work list one page at a time, with no server: graduations on teaching's
topic, the real scheduler ticking on a FixedClock, the projections folded into the
in-memory database, and the work list answered from the files held in memory
(work_index.py). Given 28 graduates of two classes in two units, when the department or a
unit's clerk asks for a page, then what the page shows and what the week's figures say."""

import asyncio
from datetime import date

import pytest

from services.followup.handlers import Handlers
from services.followup.projections import PROJECTIONS
from services.followup.reads import Reads
from services.followup.scheduler import Scheduler
from services.followup.work_index import WorkIndex, file_entry
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.teaching import TraineeGraduated
from shared.errors import DomainError
from shared.events import Actor
from shared.listing import Paging, search_key
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

CODE = "371428"
GRADUATED = date(2026, 1, 15)
DEPT = Principal(user_id="org-1", name="李干事", role="org_department", jurisdiction=CODE)
FINANCE = Principal(user_id="u-1", name="县财政局干部科", role="unit", jurisdiction=CODE, unit="县财政局")
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华"


def graduations(class_id: str, title: str, people: list[tuple[str, str, str]]) -> list:
    events = [
        TraineeGraduated(
            class_id=class_id,
            cadre_id=c,
            name=n,
            unit=u,
            graduated_on=GRADUATED,
            hours=48.0,
            attendance_rate=1.0,
            class_title=title,
        )
        for c, n, u in people
    ]
    teaching = Context(
        actor=Actor(user_id="t", name="教务", role="party_school"), jurisdiction=CODE, correlation_id="t"
    )
    return CommandHandler.envelopes(f"teaching-{class_id}", 0, events, teaching)


class World:
    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        young = [(f"y{i:02d}", f"{SURNAMES[i]}明", "县财政局" if i % 2 else "县教育局") for i in range(25)]
        village = [(f"v{i}", f"{SURNAMES[i]}芳", "县教育局") for i in range(3)]
        self.given = graduations("k1", "中青年干部培训班", young) + graduations(
            "k2", "乡村振兴专题培训班", village
        )
        self.clock = FixedClock(GRADUATED)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db, stale_after=0), self.clock)
        self.scheduler = Scheduler(self.h, CODE)

    def on(self, day: date) -> None:
        self.clock.day = day
        asyncio.run(self.scheduler.tick())
        for p in PROJECTIONS:
            self.db.collections.pop(p.collection, None)
            self.db.load(p, self.given + self.store.all_events())

    def worklist(self, who: Principal = DEPT, p: Paging = Paging(), **kw) -> dict:
        return asyncio.run(self.h.reads.worklist(who, date(2026, 2, 16), p, **kw))


@pytest.fixture(scope="module")
def world() -> World:
    w = World()
    w.on(GRADUATED)  # the scheduler plans every graduate's milestones
    w.on(date(2026, 2, 16))  # month 1 falls due for all 28
    return w


def test_the_work_list_is_one_page_with_the_week_s_figures(world):
    first = world.worklist()
    assert (first["total"], first["page"], first["size"], len(first["items"])) == (28, 1, 20, 20)
    assert (first["due"], first["overdue"]) == (28, 0)
    assert first["by_class"] == [
        {"class_id": "k1", "class_title": "中青年干部培训班", "due": 25, "overdue": 0},
        {"class_id": "k2", "class_title": "乡村振兴专题培训班", "due": 3, "overdue": 0},
    ]
    second = world.worklist(p=Paging(page=2, size=20))
    assert len(second["items"]) == 8 and second["due"] == 28  # the figures are the week's, not the page's
    shown = {(i["cadre_id"], i["month"]) for i in first["items"] + second["items"]}
    assert len(shown) == 28 and {i["class_title"] for i in second["items"]} <= {
        "中青年干部培训班",
        "乡村振兴专题培训班",
    }
    assert not any("_key" in i for i in first["items"])


def test_the_work_list_searches_filters_and_sorts_on_the_server(world):
    found = world.worklist(p=Paging(q=search_key("赵")))["items"]
    assert sorted(i["name"] for i in found) == ["赵明", "赵芳"]
    assert world.worklist(class_id="k2")["total"] == 3
    assert world.worklist(unit="县财政局")["total"] == 12
    assert world.worklist(status="overdue")["total"] == 0
    by_title = world.worklist(p=Paging(sort="class_title", size=3))["items"]
    assert [i["class_title"] for i in by_title] == ["中青年干部培训班"] * 3  # 中 U+4E2D < 乡 U+4E61
    last = world.worklist(p=Paging(sort="class_title", size=3, desc=True))["items"]
    assert [i["class_title"] for i in last] == ["乡村振兴专题培训班"] * 3
    with pytest.raises(DomainError) as e:
        world.worklist(status="late")
    assert (e.value.code, e.value.field) == (
        "bad_status",
        "status",
    ) and "overdue（已逾期）" in e.value.message


def test_a_unit_s_clerk_pages_through_its_own_people_only(world):
    mine = world.worklist(FINANCE, Paging(size=5))
    assert mine["total"] == 12 and mine["due"] == 12 and {i["unit"] for i in mine["items"]} == {"县财政局"}
    assert world.worklist(FINANCE, unit="县教育局")["total"] == 0


def test_a_file_held_in_memory_lists_its_open_milestones_when_a_reminder_falls_in_the_window():
    ms = {
        "1": {"month": 1, "focus": "听思想", "due_on": "2026-02-15", "grace_days": 14, "status": "completed"},
        "3": {"month": 3, "focus": "谈表现", "due_on": "2026-04-15", "grace_days": 14, "status": "scheduled"},
    }
    for m in ms.values():
        m.update(required_roles=["self", "unit_leader"], evaluations=[{"role": "self"}])
    doc = {"_id": "a", "_rev": 2, "name": "张三", "unit": "县财政局", "jurisdiction": CODE}
    ix = WorkIndex()
    ix.observe_files([{**doc, "classes": {"k1": {"class_id": "k1", "milestones": ms}}}])
    assert ix.rows(CODE, "2026-02-10", "2026-02-16", None) == []  # month 1 is done, month 3 not yet due
    [row] = ix.rows(CODE, "2026-04-13", "2026-04-19", None)
    assert (row["month"], row["status"], row["missing_roles"]) == (3, "due", ["unit_leader"])
    assert ix.rows("371427", "2026-04-13", "2026-04-19", None) == []
    ix.observe_files([{**doc, "_rev": 1, "name": "旧名", "classes": {}}])  # an older copy is ignored
    assert ix.files["a"]["name"] == "张三" and file_entry(doc)["milestones"] == []
