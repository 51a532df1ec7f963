"""The dashboard's reads over the in-memory database, filled by folding the four services'
events through its real projections: given what happened, then what a viewer reads
(the province's and a county's figures, a class's trainees, who may see names), and
the mirror a restart reads. No server is started."""

from __future__ import annotations

import asyncio
from datetime import date
from types import SimpleNamespace

import pytest

from services.dashboard.projections import cadres, classes
from services.dashboard.reads import COUNTERS, Reads, check_viewer, overview
from services.dashboard.service import bootstrap
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.memory import MemoryDatabase

WUCHENG, XIAJIN = "371428", "371427"


def envelopes(stream: str, events: list, code: str = WUCHENG):
    ctx = Context(actor=Actor(user_id="u", name="测试", role="admin"), jurisdiction=code, correlation_id="c")
    return CommandHandler.envelopes(stream, 0, events, ctx)


def who(role: str, code: str = "370000") -> Principal:
    return Principal(user_id="p1", name="查看人", role=role, jurisdiction=code)


def a_class(class_id: str, code: str, trainees: dict[str, str], attended: str = "") -> list:
    envs = envelopes(
        f"class-{class_id}",
        [
            sel.ClassOpened(
                class_id=class_id,
                title=f"{class_id} 科级干部培训班",
                capacity=30,
                starts_on=date(2026, 3, 2),
                ends_on=date(2026, 3, 6),
                organiser="县委党校",
            ),
            *[
                sel.NominationConfirmed(class_id=class_id, cadre_id=c, name=n, unit="县财政局")
                for c, n in trainees.items()
            ],
        ],
        code,
    )
    envs += envelopes(
        f"att-{class_id}",
        [
            tea.SessionAttended(
                class_id=class_id, session_id="s1", cadre_id=c, hours=3.0, on=date(2026, 3, 2)
            )
            for c in attended
        ],
        code,
    )
    return envs


def registry(code: str, cadre_ids: str) -> list:
    return [
        e
        for c in cadre_ids
        for e in envelopes(
            f"cadre-{c}",
            [
                sel.CadreRegistered(
                    cadre_id=c,
                    name=f"干部{c}",
                    gender="女",
                    birth_date=date(1985, 1, 1),
                    id_number="x",
                    unit="县财政局",
                    rank="科员",
                )
            ],
            code,
        )
    ]


@pytest.fixture
def db() -> MemoryDatabase:
    db = MemoryDatabase()
    events = (
        a_class("k1", WUCHENG, {"a": "张三", "b": "李四"}, attended="a")
        + a_class("k2", XIAJIN, {"c": "王五"}, attended="c")
        + registry(WUCHENG, "abde")
        + registry(XIAJIN, "c")
    )
    db.load(classes, events)
    db.load(cadres, events)
    return db


def run(coro):
    return asyncio.run(coro)


def test_the_province_sees_its_counties_side_by_side(db):
    reads = bootstrap_reads(db)
    r = run(reads.current())
    view = overview(r, check_viewer(who("org_department"), None), 2026, 110)
    assert view["level"] == "province" and view["totals"]["trainees"] == 3
    rows = {row["code"]: row for row in view["rows"]}
    assert (rows[WUCHENG]["trainees"], rows[WUCHENG]["registered_cadres"]) == (2, 4)
    assert (rows[XIAJIN]["trainees"], rows[XIAJIN]["attendance_rate"]) == (1, 1.0)
    county = overview(r, WUCHENG, 2026, 110)
    assert [(row["code"], row["title"]) for row in county["rows"]] == [("k1", "k1 科级干部培训班")]


def test_a_class_shows_names_to_the_organisation_department_and_not_to_an_analyst(db):
    reads = bootstrap_reads(db)
    named = run(reads.class_detail(who("org_department"), "k1", 110))
    assert sorted(t["name"] for t in named["trainees"]) == ["张三", "李四"] and named["names_shown"]
    hidden = run(reads.class_detail(who("analyst"), "k1", 110))
    assert sorted(t["name"] for t in hidden["trainees"]) == ["学员1", "学员2"]
    assert "unit" not in hidden["trainees"][0] and not hidden["names_shown"]


def test_a_viewer_outside_the_rules_is_refused(db):
    reads = bootstrap_reads(db)
    with pytest.raises(Forbidden):
        run(reads.class_detail(who("org_department", XIAJIN), "k1", 110))  # another county's class
    with pytest.raises(Forbidden):
        check_viewer(who("unit", WUCHENG), None)  # a unit clerk
    with pytest.raises(Forbidden):
        check_viewer(who("org_department", XIAJIN), WUCHENG)
    with pytest.raises(DomainError) as e:
        check_viewer(who("org_department"), "37")
    assert e.value.field == "jurisdiction"
    with pytest.raises(NotFound, match="班次 k404 不存在"):
        run(reads.class_detail(who("org_department"), "k404", 110))


def test_the_mirror_lets_a_restart_start_from_the_counters_alone(db):
    documents = len(db["dash_classes"].docs) + len(db["dash_cadres"].docs)  # 2 classes, buckets of 5 cadres
    first = bootstrap_reads(db)
    assert run(first.reconcile()) == documents  # what the rollup worker does at start
    assert run(first.flush()) == documents
    assert {d["kind"] for d in db[COUNTERS].docs.values()} == {"class", "bucket"}
    db["dash_classes"].docs.clear()  # a restart that reads only the mirror
    db["dash_cadres"].docs.clear()
    again = Reads(db)
    r = run(again.current())
    assert overview(r, "370000", 2026, 110)["totals"]["trainees"] == 3
    # the documents are the truth: gone from the store, gone from the figures
    assert run(again.reconcile()) == documents and run(again.current()).classes == {}


def test_following_the_writers_the_figures_change_with_each_write(db):
    reads = bootstrap_reads(db)
    writers = [SimpleNamespace(projection=p, observers=[]) for p in (classes, cadres)]
    reads.follow(writers)
    r = run(reads.current())
    assert r.live and overview(r, WUCHENG, 2026, 110)["totals"]["trainees"] == 2
    more = a_class("k1", WUCHENG, {"a": "张三", "b": "李四", "f": "赵六"})
    db.load(classes, more)
    writers[0].observers[0]([db["dash_classes"].docs["k1"]])  # the writer reports its write
    assert overview(r, WUCHENG, 2026, 110)["totals"]["trainees"] == 3


def test_a_class_page_is_read_from_the_store_once_until_the_writer_writes_the_class(db):
    reads = bootstrap_reads(db)
    writers = [SimpleNamespace(projection=p, observers=[]) for p in (classes, cadres)]
    reads.follow(writers)
    run(reads.current())
    analyst = who("analyst")
    assert len(run(reads.class_detail(analyst, "k1", 110))["trainees"]) == 2
    stored = db["dash_classes"].docs.pop("k1")  # read again without the store: kept from the last view
    assert len(run(reads.class_detail(analyst, "k1", 110))["trainees"]) == 2
    db["dash_classes"].docs["k1"] = stored
    db.load(classes, a_class("k1", WUCHENG, {"a": "张三", "b": "李四", "f": "赵六"}))
    writers[0].observers[-1]([db["dash_classes"].docs["k1"]])  # the writer reports its write
    page = run(reads.class_detail(analyst, "k1", 110))
    assert len(page["trainees"]) == 3 and page["totals"]["trainees"] == 3


def bootstrap_reads(db: MemoryDatabase) -> Reads:
    """The reads as the service composes them (service.bootstrap)."""
    from shared.memory import FixedClock
    from shared.runtime import Adapters
    from shared.settings import Settings

    return bootstrap(
        Adapters(
            commands=None, db=db, clock=FixedClock(date(2026, 3, 2)), settings=Settings(service="dashboard")
        )
    ).reads
