"""Selection's class list, class page and nominations list with no server: the real
CommandHandler over the in-memory event store, the real Reads over the in-memory database
filled by folding selection's projections, a fixed clock, and the routes' own functions
called as FastAPI would call them. Given classes and nominations, when a page is asked
for, then what a clerk sees on it."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from services.selection import api
from services.selection import cadres as reg
from services.selection.domain import OpenClass
from services.selection.handlers import Handlers
from services.selection.projections import PROJECTIONS
from services.selection.read_index import ReadIndex, class_row
from services.selection.reads import Reads
from shared import listing as lst
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.errors import DomainError, Forbidden
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

COUNTY = "371428"
TODAY = date(2026, 3, 2)
DEPT = Principal(user_id="dept", name="县委组织部", role="org_department", jurisdiction=COUNTY)
ANALYST = Principal(user_id="an", name="分析员", role="analyst", jurisdiction=COUNTY)
OTHER = Principal(user_id="dept2", name="邻县组织部", role="org_department", jurisdiction="371427")


def clerk(unit: str) -> Principal:
    return Principal(user_id=f"c-{unit}", name=f"{unit}干部科", role="unit", jurisdiction=COUNTY, unit=unit)


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="test")


def person(seq: int, name: str, unit: str) -> dict:
    first17 = f"{COUNTY}19900501{seq:03d}"
    return {"name": name, "id_number": first17 + reg.id_check_digit(first17), "unit": unit, "rank": "副科"}


def paging(sortable: dict[str, str], **kw) -> lst.Paging:
    """The query parameters (text, as in a URL) through the list's paging dependency."""
    raw = {
        "page": None,
        "size": None,
        "q": None,
        "sort": None,
        "order": None,
        **{k: str(v) for k, v in kw.items()},
    }
    return lst.listing(sortable)(raw)


class World:
    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.h = Handlers(CommandHandler(self.store), Reads(self.db, stale_after=0), FixedClock(TODAY))

    def run(self, coro):
        return asyncio.run(coro)

    def project(self) -> None:
        for p in PROJECTIONS:
            self.db.load(p, self.store.all_events())

    def open(self, class_id: str, title: str, starts: date, days: int = 5, **kw) -> None:
        cmd = OpenClass(class_id, title, 3, starts, starts + timedelta(days=days), "县委党校", **kw)
        self.run(self.h.open_class(ctx(DEPT), DEPT, cmd))

    def classes(self, who: Principal = DEPT, phase: str | None = None, category: str | None = None, **kw):
        return self.run(api.list_classes(phase, category, paging(api.CLASS_SORTS, **kw), who, self.h))

    def nominations(self, class_id: str, who: Principal = DEPT, status=None, unit=None, group=None, **kw):
        return self.run(
            api.list_nominations(
                class_id, status, unit, group, paging(api.NOMINATION_SORTS, **kw), who, self.h
            )
        )


@pytest.fixture
def world() -> World:
    """Five classes of 2025–2026 (one running today, one ended); k-spring drawn and with
    four recommendations of two units: one confirmed, one rejected, two waiting."""
    w = World()
    w.open("k-old", "2025年春季科级干部培训班", date(2025, 3, 1), category="科级干部")
    w.open("k-now", "年轻干部培训班（第一期）", date(2026, 2, 28), category="年轻干部")
    w.open(
        "k-spring",
        "2026年春季科级干部培训班",
        date(2026, 4, 1),
        category="科级干部",
        quotas={"县财政局": 3, "县委办": 2},
    )
    w.open("k-may", "村(社区)党组织书记示范培训班", date(2026, 5, 10), category="村(社区)党组织书记")
    w.open("k-june", "年轻干部培训班（第二期）", date(2026, 6, 1), category="年轻干部", theme="乡村振兴")
    people = [("张伟", "县财政局"), ("李明", "县财政局"), ("王芳", "县委办"), ("赵强", "县委办")]
    ids = [w.run(w.h.register(ctx(DEPT), DEPT, person(i, n, u)))[0] for i, (n, u) in enumerate(people, 1)]
    w.project()
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k-spring", {"ranks": ["副科"]}))
    w.run(w.h.nominate_many(ctx(DEPT), DEPT, "k-spring", ids))
    w.run(w.h.confirm(ctx(DEPT), DEPT, "k-spring", ids[0]))
    w.run(w.h.reject(ctx(DEPT), DEPT, "k-spring", ids[2], "近期承担防汛任务"))
    w.project()
    return w


def test_the_class_list_is_paged_by_start_date_with_counts_and_no_nominations(world):
    page = world.classes(size=2)
    assert (page["total"], page["page"], page["size"]) == (5, 1, 2)
    assert [c["class_id"] for c in page["items"]] == ["k-old", "k-now"]
    assert [c["class_id"] for c in world.classes(size=2, page=3)["items"]] == ["k-june"]
    spring = next(c for c in world.classes(size=20)["items"] if c["class_id"] == "k-spring")
    assert spring["counts"] == {
        "nominated": 2,
        "waitlisted": 0,
        "confirmed": 1,
        "rejected": 1,
        "withdrawn": 0,
    }
    assert spring["scope"]["count"] == 4 and "cadre_ids" not in spring["scope"]
    assert "nominations" not in spring and not any(k.startswith("_") for k in spring)
    assert world.classes(OTHER)["total"] == 0


def test_the_class_list_searches_filters_and_sorts_on_the_server(world):
    assert [c["title"] for c in world.classes(q="年轻")["items"]] == [
        "年轻干部培训班（第一期）",
        "年轻干部培训班（第二期）",
    ]
    assert [c["class_id"] for c in world.classes(q=" 乡村振兴 ")["items"]] == ["k-june"]  # the theme
    assert [c["class_id"] for c in world.classes(phase="running")["items"]] == ["k-now"]
    assert [c["class_id"] for c in world.classes(phase="ended")["items"]] == ["k-old"]
    assert world.classes(phase="upcoming")["total"] == 3
    assert [c["class_id"] for c in world.classes(category="科级干部")["items"]] == ["k-old", "k-spring"]
    newest = world.classes(sort="starts_on", order="desc", size=2)["items"]
    assert [c["class_id"] for c in newest] == ["k-june", "k-may"]
    with pytest.raises(DomainError) as e:
        world.classes(phase="soon")
    assert (e.value.code, e.value.field) == ("bad_phase", "phase") and "upcoming（未开班）" in e.value.message
    with pytest.raises(DomainError) as e:
        world.classes(sort="nominations")
    assert e.value.field == "sort"


def test_a_unit_clerk_s_class_row_says_how_many_of_its_own_places_are_used(world):
    rows = {c["class_id"]: c for c in world.classes(clerk("县财政局"))["items"]}
    assert rows["k-spring"]["mine"] == {"unit": "县财政局", "quota": 3, "used": 2, "left": 1}
    assert rows["k-may"]["mine"] == {"unit": "县财政局", "quota": None, "used": 0, "left": None}
    assert rows["k-spring"]["scope"] == {"count": 4}  # the size, not the criteria or anyone in it
    assert rows["k-spring"]["counts"]["nominated"] == 1  # its own people: 李明 (张伟 is confirmed)
    office = world.run(api.get_class("k-spring", clerk("县委办"), world.h))
    assert office["counts"]["rejected"] == 1 and office["counts"]["confirmed"] == 0  # its own people


def test_the_class_page_is_the_class_without_its_nominations(world):
    doc = world.run(api.get_class("k-spring", DEPT, world.h))
    assert (doc["title"], doc["capacity"], doc["counts"]["confirmed"]) == ("2026年春季科级干部培训班", 3, 1)
    assert doc["scope"]["by"] == "县委组织部" and doc["scope"]["criteria"] == {"ranks": ["副科"]}
    assert "nominations" not in doc
    with pytest.raises(Forbidden):
        world.run(api.get_class("k-spring", OTHER, world.h))


def test_the_nominations_are_paged_searched_filtered_and_sorted(world):
    page = world.nominations("k-spring", size=3)
    assert page["total"] == 4 and [n["name"] for n in page["items"]] == ["张伟", "李明", "王芳"]
    assert [n["name"] for n in world.nominations("k-spring", size=3, page=2)["items"]] == ["赵强"]
    assert [n["name"] for n in world.nominations("k-spring", q="县委办")["items"]] == ["王芳", "赵强"]
    assert [n["name"] for n in world.nominations("k-spring", status="nominated")["items"]] == ["李明", "赵强"]
    rejected = world.nominations("k-spring", status="rejected")["items"]
    assert [(n["name"], n["reason"]) for n in rejected] == [("王芳", "近期承担防汛任务")]
    by_status = world.nominations("k-spring", sort="status", order="desc")["items"]
    assert [n["status"] for n in by_status] == ["rejected", "nominated", "nominated", "confirmed"]
    assert [n["name"] for n in world.nominations("k-spring", clerk("县财政局"))["items"]] == ["张伟", "李明"]
    assert world.nominations("k-spring", group="none")["total"] == 4
    assert not any("_key" in n for n in page["items"])


def test_an_analyst_sees_numbered_rows_and_may_not_search_by_name(world):
    items = world.nominations("k-spring", ANALYST, size=2, page=2)["items"]
    assert [n["name"] for n in items] == ["学员3", "学员4"] and not any("unit" in n for n in items)
    with pytest.raises(DomainError) as e:
        world.nominations("k-spring", ANALYST, q="张")
    assert e.value.field == "q"
    with pytest.raises(DomainError) as e:
        world.nominations("k-spring", status="hired")
    assert e.value.field == "status"


def test_a_class_row_is_made_again_when_its_class_is_written():
    ix = ReadIndex()
    doc = {
        "_id": "k1",
        "_rev": 1,
        "class_id": "k1",
        "title": "班",
        "jurisdiction": COUNTY,
        "starts_on": "2026-04-01",
    }
    ix.observe_classes(
        [{**doc, "nominations": [{"cadre_id": "c1", "unit": "县委办", "status": "nominated"}]}]
    )
    assert ix.class_rows["k1"]["counts"]["nominated"] == 1
    ix.observe_classes(
        [{**doc, "_rev": 2, "nominations": [{"cadre_id": "c1", "unit": "县委办", "status": "confirmed"}]}]
    )
    assert ix.class_rows["k1"]["counts"] == class_row(ix.classes["k1"])["counts"]
    assert ix.class_rows["k1"]["counts"]["confirmed"] == 1
    assert ix.class_rows["k1"]["_by_unit"]["县委办"]["confirmed"] == 1
    assert [r["class_id"] for r in ix.class_list(COUNTY)] == ["k1"] and ix.class_list("330500") == []
