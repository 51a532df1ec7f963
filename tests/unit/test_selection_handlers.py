"""Selection's handlers with no server: the real CommandHandler over the in-memory event
store, the real Reads over the in-memory database filled by folding selection's
projections, and a fixed clock. Given past events, when a command through `Handlers`,
then the events appended and what `Reads` answers."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date

import pytest

from services.selection import cadres as reg
from services.selection.domain import OpenClass, cadre_stream_id, stream_id
from services.selection.handlers import Handlers
from services.selection.importing import TEMPLATE
from services.selection.projections import PROJECTIONS
from services.selection.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.errors import DomainError, Forbidden, NotFound
from shared.listing import Paging, page_of, search_key
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

COUNTY = "371428"
TODAY = date(2026, 3, 2)
DEPT = Principal(user_id="dept", name="县委组织部", role="org_department", jurisdiction=COUNTY)
OTHER = Principal(user_id="dept2", name="邻县组织部", role="org_department", jurisdiction="371427")


def clerk(unit: str) -> Principal:
    return Principal(
        user_id=f"clerk-{unit}", name=f"{unit}干部科", role="unit", jurisdiction=COUNTY, unit=unit
    )


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="test")


def idn(seq: int, birth: str = "19900501") -> str:
    first17 = f"{COUNTY}{birth}{seq:03d}"
    return first17 + reg.id_check_digit(first17)


def person(seq: int, name: str, unit: str = "县财政局", rank: str = "副科", **kw) -> dict:
    return {"name": name, "id_number": idn(seq), "unit": unit, "rank": rank, **kw}


class World:
    """One deployment in memory. `project()` is the projectors catching up."""

    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.clock = FixedClock(TODAY)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db, stale_after=0), self.clock)

    def project(self) -> None:
        events = self.store.all_events()
        for p in PROJECTIONS:
            self.db.load(p, events)

    def run(self, coro):
        return asyncio.run(coro)

    def register(self, *people: dict) -> list[str]:
        ids = [self.run(self.h.register(ctx(DEPT), DEPT, p))[0] for p in people]
        self.project()
        return ids

    def open(
        self,
        class_id: str = "k1",
        capacity: int = 2,
        starts_on: date = date(2026, 4, 1),
        quotas: dict | None = None,
    ) -> None:
        self.run(
            self.h.open_class(
                ctx(DEPT),
                DEPT,
                OpenClass(
                    class_id,
                    "科级干部培训班",
                    capacity,
                    starts_on,
                    date(2026, 4, 10),
                    "县委党校",
                    quotas=quotas or {},
                ),
            )
        )

    def types(self, stream: str) -> list[str]:
        return [e.type for e in self.run(self.store.read_stream(stream))]


def test_registering_and_updating_a_cadre_shows_in_the_registry():
    w = World()
    [cid] = w.register(person(1, "张伟"))
    assert w.types(cadre_stream_id(cid)) == ["CadreRegistered"]
    envs = w.run(w.h.update(ctx(DEPT), DEPT, cid, {"rank": "正科", "position": "科长"}))
    assert [e.type for e in envs] == ["CadreUpdated"] and envs[0].payload["changes"] == {
        "rank": "正科",
        "position": "科长",
    }
    w.project()
    entry = w.run(w.h.reads.cadre(DEPT, cid))
    assert (entry["name"], entry["rank"], entry["position"]) == ("张伟", "正科", "科长")
    assert [d["name"] for d in w.run(w.h.reads.registry(COUNTY))] == ["张伟"]


def test_a_registered_number_is_refused_to_another_county_and_a_unit_may_not_register():
    w = World()
    w.register(person(1, "张伟"))
    with pytest.raises(Forbidden) as e:
        w.run(w.h.register(ctx(OTHER), OTHER, person(1, "张伟")))
    assert e.value.code == "registered_elsewhere" and COUNTY not in e.value.message
    with pytest.raises(Forbidden):
        w.run(w.h.register(ctx(clerk("县财政局")), clerk("县财政局"), person(2, "李明")))
    # named by its id, another county's cadre answers as one nobody registered (issue 14)
    theirs = w.h.cadre_id_for(person(1, "张伟")["id_number"])
    nobody = w.h.cadre_id_for(person(4, "赵六")["id_number"])
    answers = []
    for cid in (theirs, nobody):
        with pytest.raises(NotFound) as missing:
            w.run(w.h.update(ctx(OTHER), OTHER, cid, {"rank": "正科"}))
        answers.append((missing.value.status, missing.value.code))
    assert answers == [(404, "cadre_not_found")] * 2
    with pytest.raises(DomainError) as e:
        w.run(w.h.register(ctx(DEPT), DEPT, person(3, "王芳", rank="大科长")))
    assert e.value.code == "invalid_cadre" and "大科长" in e.value.message


def test_drawing_a_scope_selects_the_registry_entries_that_meet_the_criteria_today():
    w = World()
    a, b, _ = w.register(person(1, "张伟"), person(2, "李明", unit="县委办"), person(3, "王芳", rank="正科"))
    w.open()
    envs, found = w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    assert [e.type for e in envs] == ["ScopeDrawn"]
    assert sorted(envs[0].payload["cadre_ids"]) == sorted([a, b])
    assert sorted(x["name"] for x in found) == ["张伟", "李明"]
    with pytest.raises(DomainError) as e:
        w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["正处"]}))
    assert e.value.code == "scope_empty"


def test_a_new_class_is_opened_without_reading_its_stream_and_a_taken_id_is_still_refused():
    w = World()
    reads: list[str] = []
    read_stream = w.store.read_stream

    async def counted(stream: str):
        reads.append(stream)
        return await read_stream(stream)

    w.store.read_stream = counted
    w.open("k1")
    assert reads == [] and w.types(stream_id("k1")) == ["ClassOpened"]
    with pytest.raises(DomainError) as taken:
        w.open("k1")
    assert taken.value.code == "class_exists" and w.types(stream_id("k1")) == ["ClassOpened"]


def test_a_unit_recommends_within_its_quota_and_is_refused_over_it():
    w = World()
    a, b, c = w.register(person(1, "张伟"), person(2, "李明"), person(3, "王芳", unit="县委办"))
    w.open(quotas={"县财政局": 1, "县委办": 1})
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    finance = clerk("县财政局")
    envs = w.run(w.h.nominate(ctx(finance), finance, "k1", a))
    assert [(e.type, e.payload["name"], e.payload["unit"]) for e in envs] == [
        ("TraineeNominated", "张伟", "县财政局")
    ]
    with pytest.raises(DomainError) as e:
        w.run(w.h.nominate(ctx(finance), finance, "k1", b))
    assert e.value.code == "over_quota" and "名额为 1 人" in e.value.message
    with pytest.raises(DomainError) as e:  # another unit's cadre
        w.run(w.h.nominate(ctx(finance), finance, "k1", c))
    assert e.value.code == "not_own_unit"
    assert w.types(stream_id("k1")) == ["ClassOpened", "ScopeDrawn", "TraineeNominated"]


def test_a_nomination_takes_the_cadre_from_an_index_that_follows_the_writers_without_a_store_read():
    w = World()
    a, b = w.register(person(1, "张伟"), person(2, "李明"))
    w.open()
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    w.run(w.h.reads.index()).live = True  # as where this process runs the projectors
    w.run(w.db["cadres"].delete_many({}))  # a store read would find no one now
    envs = w.run(w.h.nominate(ctx(DEPT), DEPT, "k1", a))
    assert [(e.payload["name"], e.payload["unit"]) for e in envs] == [("张伟", "县财政局")]
    with pytest.raises(NotFound):  # another county's clerk: as missing, index or not
        w.run(w.h.nominate(ctx(OTHER), OTHER, "k1", b))


def test_confirming_past_capacity_waitlists_and_a_withdrawal_moves_the_waitlist_up():
    w = World()
    a, b, c = w.register(person(1, "张伟"), person(2, "李明"), person(3, "王芳"))
    w.open(capacity=1)
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    w.run(w.h.nominate_many(ctx(DEPT), DEPT, "k1", [a, b, c]))
    envs = w.run(w.h.confirm_many(ctx(DEPT), DEPT, "k1", [a, b]))
    assert [e.type for e in envs] == ["NominationConfirmed", "NominationWaitlisted"]
    with pytest.raises(DomainError) as e:
        w.run(w.h.reject(ctx(DEPT), DEPT, "k1", c, " "))
    assert e.value.code == "reason_required"
    assert [e.type for e in w.run(w.h.reject(ctx(DEPT), DEPT, "k1", c, "任职不满一年"))] == [
        "NominationRejected"
    ]
    envs = w.run(w.h.withdraw(ctx(DEPT), DEPT, "k1", a, "工作需要"))
    assert [(e.type, e.payload["cadre_id"]) for e in envs] == [
        ("NominationWithdrawn", a),
        ("NominationConfirmed", b),
    ]
    assert envs[1].payload["from_waitlist"] is True
    w.project()
    roster = {n["name"]: n["status"] for n in w.run(w.h.reads.class_document(DEPT, "k1"))["nominations"]}
    assert roster == {"张伟": "withdrawn", "李明": "confirmed", "王芳": "rejected"}
    assert w.run(w.h.reads.queue(COUNTY, TODAY)) == []


def test_the_waitlist_and_the_queue_read_as_the_department_sees_them():
    w = World()
    a, b = w.register(person(1, "张伟"), person(2, "李明"))
    w.open(capacity=5)
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    w.run(w.h.nominate_many(ctx(DEPT), DEPT, "k1", [a, b]))
    assert [e.type for e in w.run(w.h.waitlist(ctx(DEPT), DEPT, "k1", b))] == ["NominationWaitlisted"]
    w.project()
    queue = w.run(w.h.reads.queue(COUNTY, TODAY))
    assert [(i["name"], i["status"], i["free"]) for i in queue] == [
        ("张伟", "nominated", 5),
        ("李明", "waitlisted", 5),
    ]
    assert w.run(w.h.reads.queue(COUNTY, date(2026, 4, 1))) == []  # the class has started


def test_nothing_changes_once_the_class_has_started_by_the_clock():
    w = World()
    [a] = w.register(person(1, "张伟"))
    w.open(starts_on=date(2026, 3, 10))
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    w.clock.day = date(2026, 3, 10)
    with pytest.raises(DomainError) as e:
        w.run(w.h.nominate(ctx(DEPT), DEPT, "k1", a))
    assert e.value.code == "class_closed"


def test_a_batch_naming_an_unknown_cadre_is_refused_whole():
    w = World()
    [a] = w.register(person(1, "张伟"))
    w.open()
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    with pytest.raises(NotFound) as e:
        w.run(w.h.nominate_many(ctx(DEPT), DEPT, "k1", [a, "cd-nobody"]))
    assert e.value.code == "cadre_not_found" and "整批推荐未生效" in e.value.message
    assert w.types(stream_id("k1")) == ["ClassOpened", "ScopeDrawn"]


def csv_file(*people: dict) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(TEMPLATE)
    for p in people:
        out.writerow([p["name"], "", "", p["id_number"], p["unit"], "", p["rank"], "", "", "否", "", ""])
    return buf.getvalue().encode()


def test_an_import_registers_the_good_rows_reports_the_bad_one_and_a_reimport_changes_nothing():
    w = World()
    bad = {**person(2, "李明"), "id_number": idn(2)[:17] + ("0" if idn(2)[17] != "0" else "1")}
    content = csv_file(person(1, "张伟"), bad, person(3, "王芳", unit="县委办"))
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", content))
    assert {k: report[k] for k in ("rows", "registered", "updated", "unchanged", "rejected")} == {
        "rows": 3,
        "registered": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    [error] = report["errors"]
    assert error["row"] == 3 and error["name"] == "李明" and "校验位" in error["errors"][0]
    assert "*" in error["id_number"]
    w.project()
    again = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", content))
    assert (again["registered"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert len(w.store.all_events()) == 2
    assert sorted(d["name"] for d in w.run(w.h.reads.registry(COUNTY))) == ["张伟", "王芳"]


def test_a_changed_row_is_decided_on_the_registry_state_and_a_stale_one_falls_back_to_the_stream():
    w = World()
    zhang = person(1, "张伟")
    [cid] = w.register(zhang)
    moved = {**zhang, "unit": "县委办"}
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", csv_file(moved)))
    assert report["updated"] == 1
    assert [(e.type, e.stream_version) for e in w.run(w.store.read_stream(cadre_stream_id(cid)))] == [
        ("CadreRegistered", 1),
        ("CadreUpdated", 2),
    ]
    # The projection has not caught up: the registry still shows version 1 and the old
    # unit. The import plans on it, the append conflicts, and the kernel decides again on
    # the stored stream: only what differs from the stream is recorded.
    promoted = {**moved, "rank": "正科"}
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", csv_file(promoted)))
    assert report["updated"] == 1 and report["rejected"] == 0
    last = w.run(w.store.read_stream(cadre_stream_id(cid)))[-1]
    assert (last.stream_version, last.payload["changes"]) == (3, {"rank": "正科"})


def test_an_import_is_decided_a_part_at_a_time_and_reports_as_one(monkeypatch):
    """A 20,000-row import held every row's command and envelopes at once (selection at 240 MB,
    bench.scale): the rows are decided and appended IMPORT_PART at a time, and the report is
    the whole file's, its bad rows in the file's order."""
    from services.selection import handlers

    monkeypatch.setattr(handlers, "IMPORT_PART", 2, raising=False)
    w = World()
    w.register(person(1, "张伟"), person(2, "李明"))
    w.project()
    parts: list[int] = []
    append_many = w.h.commands.append_many

    async def counted(decider, planned, *args, **kw):
        parts.append(len(planned))
        return await append_many(decider, planned, *args, **kw)

    monkeypatch.setattr(w.h.commands, "append_many", counted)
    bad = {**person(4, "赵强"), "id_number": idn(4)[:17] + ("0" if idn(4)[17] != "0" else "1")}
    rows = [
        person(1, "张伟"),  # unchanged
        {**person(2, "李明"), "unit": "县委办"},  # changed
        person(3, "王芳"),
        bad,
        person(5, "刘洋"),
        person(6, "陈静"),
    ]
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", csv_file(*rows)))
    assert {k: report[k] for k in ("rows", "registered", "updated", "unchanged", "rejected")} == {
        "rows": 6,
        "registered": 3,
        "updated": 1,
        "unchanged": 1,
        "rejected": 1,
    }
    assert [e["row"] for e in report["errors"]] == [5]  # the file's row (its header is row 1)
    assert parts and max(parts) <= 2, parts
    w.project()
    names = sorted(d["name"] for d in w.run(w.h.reads.registry(COUNTY)))
    assert names == sorted(["张伟", "李明", "王芳", "刘洋", "陈静"])


def test_an_import_lets_each_part_s_rows_go_before_the_next_part_is_decided(monkeypatch):
    """The file's checked rows were all held until the import's answer (20,000 records, ~17 MB
    of selection at its peak, bench.scale): a part's rows are let go once decided, so while a
    part is appended only the rows not yet decided are held, and the report is the file's."""
    from services.selection import handlers, importing

    monkeypatch.setattr(handlers, "IMPORT_PART", 2, raising=False)
    w = World()
    seen: list[importing.Checked] = []
    check = importing.check

    def kept(*args, **kw):
        seen.append(check(*args, **kw))
        return seen[-1]

    monkeypatch.setattr(importing, "check", kept)
    held: list[int] = []
    append_many = w.h.commands.append_many

    async def counted(decider, planned, *args, **kw):
        held.append(len(seen[0].good))
        return await append_many(decider, planned, *args, **kw)

    monkeypatch.setattr(w.h.commands, "append_many", counted)
    rows = [person(i, n) for i, n in enumerate(("张伟", "李明", "王芳", "刘洋", "陈静"), start=1)]
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", csv_file(*rows)))
    assert (report["rows"], report["registered"], report["rejected"]) == (5, 5, 0)
    assert held == [3, 1, 0]  # the rows after the part being appended, not the whole file
    w.project()
    assert len(w.run(w.h.reads.registry(COUNTY))) == 5


def test_an_import_leaves_another_county_s_cadre_alone():
    w = World()
    w.register(person(1, "张伟"))
    report = w.run(
        w.h.import_file(ctx(OTHER), OTHER, "名册.csv", csv_file({**person(1, "张伟"), "unit": "县委办"}))
    )
    assert report["rejected"] == 1 and "其他辖区" in report["errors"][0]["errors"][0]
    assert len(w.store.all_events()) == 1


def test_the_registry_pages_searches_and_sorts():
    w = World()
    names = ["张伟", "李明", "王芳", "张敏", "赵强"]
    w.register(*[person(i, n, unit="县财政局" if i % 2 else "县委办") for i, n in enumerate(names, start=1)])
    rows = w.run(w.h.reads.registry(COUNTY))
    assert [r["unit"] for r in rows] == ["县委办", "县委办", "县财政局", "县财政局", "县财政局"]
    found = w.run(w.h.reads.searched(rows, search_key("张")))
    assert sorted(r["name"] for r in found) == ["张伟", "张敏"]
    page = page_of(rows, Paging(page=2, size=2))
    assert (page["total"], [r["name"] for r in page["items"]]) == (5, [rows[2]["name"], rows[3]["name"]])
    by_name = w.run(w.h.reads.registry(COUNTY, sort="name"))
    assert [r["name"] for r in by_name] == sorted(names)
    assert w.run(w.h.reads.registry("371427")) == []


def test_a_transfer_moves_the_cadre_and_frees_the_old_unit_s_open_recommendation():
    w = World()
    a, b = w.register(person(1, "张伟"), person(2, "李明"))
    w.open(capacity=5, quotas={"县财政局": 1, "县委办": 1})
    w.open("k2", capacity=5)
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k2", {"ranks": ["副科"]}))
    finance = clerk("县财政局")
    w.run(w.h.nominate(ctx(finance), finance, "k1", a))
    w.run(w.h.nominate(ctx(finance), finance, "k2", a))
    w.run(w.h.confirm(ctx(DEPT), DEPT, "k2", a))  # a place already confirmed stays
    w.project()

    moved = w.run(w.h.transfer(ctx(DEPT), DEPT, a, " 县委办 ", "交流任职"))

    assert (moved["name"], moved["from_unit"], moved["to_unit"]) == ("张伟", "县财政局", "县委办")
    assert [n["class_id"] for n in moved["withdrawn"]] == ["k1"] and moved["kept"] == []
    assert w.types(cadre_stream_id(a))[-1] == "CadreUpdated"
    withdrawal = w.run(w.store.read_stream(stream_id("k1")))[-1]
    assert (withdrawal.type, withdrawal.payload["reason"]) == (
        "NominationWithdrawn",
        "调动至县委办（交流任职）",
    )
    assert w.types(stream_id("k2"))[-1] == "NominationConfirmed"
    w.project()
    assert w.run(w.h.reads.cadre(DEPT, a))["unit"] == "县委办"
    # the old unit's place is free again, and the new unit recommends the person in its own quota
    w.run(w.h.nominate(ctx(finance), finance, "k1", b))
    office = clerk("县委办")
    envs = w.run(w.h.nominate(ctx(office), office, "k1", a))
    assert [(e.payload["name"], e.payload["unit"]) for e in envs] == [("张伟", "县委办")]
    w.project()
    with pytest.raises(DomainError) as e:  # the old unit no longer speaks for the person
        w.run(w.h.withdraw(ctx(finance), finance, "k1", a, "不去了"))
    assert e.value.code == "not_own_unit"
    with pytest.raises(DomainError) as e:
        w.run(w.h.transfer(ctx(DEPT), DEPT, a, "县委办"))
    assert (e.value.code, e.value.field) == ("same_unit", "unit") and "张伟 现已在 县委办" in e.value.message
    with pytest.raises(DomainError) as e:
        w.run(w.h.transfer(ctx(DEPT), DEPT, a, "  "))
    assert e.value.field == "unit"
    with pytest.raises(Forbidden):
        w.run(w.h.transfer(ctx(finance), finance, a, "县委办"))


def test_a_transfer_after_a_class_began_keeps_that_recommendation_and_says_why():
    w = World()
    [a] = w.register(person(1, "张伟"))
    w.open(capacity=5, starts_on=date(2026, 3, 5))
    w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"ranks": ["副科"]}))
    finance = clerk("县财政局")
    w.run(w.h.nominate(ctx(finance), finance, "k1", a))
    w.project()
    w.clock.day = date(2026, 3, 6)  # the class has begun; the recommendation is still open

    moved = w.run(w.h.transfer(ctx(DEPT), DEPT, a, "县委办"))

    assert moved["withdrawn"] == []
    [kept] = moved["kept"]
    assert (kept["class_id"], kept["title"], kept["status"]) == ("k1", "科级干部培训班", "nominated")
    assert "已于 2026-03-05 开班" in kept["reason"]  # the class's own refusal
    assert w.types(stream_id("k1"))[-1] == "TraineeNominated"
    assert w.types(cadre_stream_id(a))[-1] == "CadreUpdated"
