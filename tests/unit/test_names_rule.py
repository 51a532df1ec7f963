"""One rule for names (shared/visibility.py, issue 14): an analyst sees no trainee's name,
unit or cadre id in teaching, records, follow-up or the dashboard, while the roles that
should see them still do. Handler level, in memory: each service's own World (its handler
tests' given events) and its Reads, as the routes call them."""

from __future__ import annotations

import io
import json
from datetime import date, time

import pytest
from openpyxl import load_workbook

from services.dashboard.reads import CLASSES
from services.dashboard.reads import Reads as DashboardReads
from services.followup import report
from services.teaching import files
from services.teaching.classroom import GraduationRule
from shared import visibility
from shared.auth import Principal
from shared.errors import Forbidden
from shared.listing import Paging
from shared.memory import MemoryDatabase
from tests.unit import test_followup_handlers as fu
from tests.unit import test_records_handlers as rec
from tests.unit import test_teaching_handlers as te
from tests.unit.test_teaching_handlers import world  # noqa: F401 - the teaching World fixture


def analyst(code: str) -> Principal:
    return Principal(user_id="an-1", name="省委组织部分析员", role="analyst", jurisdiction=code)


def text(*answers) -> str:
    return json.dumps(answers, ensure_ascii=False, default=str)


def test_the_rule_itself():
    assert [r for r in ("org_department", "party_school", "admin", "unit") if visibility.sees_names(r)] == [
        "org_department",
        "party_school",
        "admin",
        "unit",
    ]
    assert all(visibility.sees_names(r) for r in ("trainee", "mentor", "recorder", "evaluator"))
    assert not visibility.sees_names("analyst") and not visibility.sees_names("someone-new")
    rows = visibility.rows(
        [{"name": "张三", "unit": "县财政局", "cadre_id": "cd-1", "mentor": "王局长"}], "analyst"
    )
    assert rows == [{"name": "学员1"}]
    outcome = {
        "title": "调研报告",
        "authors": ["张三"],
        "endorsements": [{"kind": "approval", "by": "县委书记"}],
    }
    assert visibility.unnamed(outcome, "analyst") == {
        "title": "调研报告",
        "endorsements": [{"kind": "approval"}],
    }
    assert visibility.unnamed(outcome, "party_school") == outcome


# -- teaching ---------------------------------------------------------------------------------------
def graduated(w: te.World) -> None:
    te.schedule(w, "s-0001")
    te.schedule(w, "s-0002", on=date(2026, 3, 3), ends=time(11))
    te.run(w.h.check_in(te.CTX, te.SCHOOL, te.CLASS, "s-0001", [(c, False) for c in te.PEOPLE]))
    w.clock.day = date(2026, 3, 3)
    te.run(w.h.check_in(te.CTX, te.SCHOOL, te.CLASS, "s-0002", [("cd-01", False), ("cd-02", False)]))
    w.clock.day = te.END
    te.run(w.h.graduate(te.CTX, te.SCHOOL, te.CLASS, GraduationRule(min_attendance_rate=0.9)))
    w.project()


def teaching_answers(w: te.World, who: Principal) -> list:
    r = w.h.reads
    return [
        te.run(r.roster(who, te.CLASS)),
        te.run(r.session_sheet(who, te.CLASS, "s-0001")),
        te.run(r.class_attendance(who, te.CLASS)),
        te.run(r.graduation(who, te.CLASS)),
        te.run(r.trainee_hours(who, "cd-01")),
    ]


def test_teaching_shows_an_analyst_the_class_without_names_and_the_school_with_them(world):  # noqa: F811
    graduated(world)
    roster, sheet, attendance, grad, hours = teaching_answers(world, analyst(te.COUNTY))
    seen = text(roster, sheet, attendance, grad, hours)
    for cadre_id, (name, unit) in te.PEOPLE.items():
        assert name not in seen and unit not in seen and cadre_id not in seen
    assert [t["name"] for t in roster["trainees"]] == ["学员1", "学员2", "学员3", "学员4"]
    assert sheet["counts"] == {"出勤": 4} and len(sheet["trainees"]) == 4
    assert attendance["attended"] == 6 and {t["name"] for t in attendance["trainees"]} >= {"学员1"}
    assert [x["name"] for x in grad["graduated"]] == ["学员1", "学员2"]
    assert [x["name"] for x in grad["not_graduated"]] == ["学员3", "学员4"]
    assert grad["not_graduated"][0]["reasons"], "the reasons (attendance, hours) are figures, kept"
    assert hours["name"] == "学员" and "cadre_id" not in hours and "unit" not in hours
    table = load_workbook(io.BytesIO(files.graduation_workbook(grad))).active
    assert not any(cell in ("张明", "县财政局") for row in table.iter_rows(values_only=True) for cell in row)
    load_workbook(io.BytesIO(files.attendance_workbook(attendance)))  # the export still builds

    shown = text(*teaching_answers(world, te.SCHOOL))
    assert all(name in shown and unit in shown for name, unit in te.PEOPLE.values())


# -- records ---------------------------------------------------------------------------------------
def test_records_refuse_an_analyst_and_show_the_department_the_names():
    w = rec.World()
    reads = w.h.reads
    for call in (
        lambda who: reads.recorders(who, "k1"),
        lambda who: reads.completeness(who, "k1", rec.TODAY, 7),
        lambda who: reads.ranking(who, "k1"),
        lambda who: reads.records(who, "k1", "a"),
        lambda who: reads.recording_roster(who, "k1", rec.TODAY, 7, Paging()),
    ):
        with pytest.raises(Forbidden) as e:
            rec.run(call(analyst(rec.CODE)))
        assert e.value.code == "wrong_role"
    ranked, _ = rec.run(reads.ranking(rec.DEPT, "k1"))
    assert "张三" in text(ranked) and "李四" in text(ranked)


# -- follow-up -------------------------------------------------------------------------------------
def followup_world() -> fu.World:
    w = fu.World()
    w.on(fu.GRADUATED)
    fu.run(
        w.h.assign_mentor(
            fu.ctx(fu.DEPT), fu.DEPT, "k1", "a", fu.MENTOR.user_id, fu.MENTOR.name, "县发改局局长"
        )
    )
    w.clock.day = date(2026, 3, 1)
    fu.run(
        w.h.report_outcome(fu.ctx(fu.ZHANG), fu.ZHANG, "k1", "o-3", "report", "基层减负调研报告", ["李四"])
    )
    fu.run(
        w.h.give_talk(
            fu.ctx(fu.ZHANG), fu.ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局干部", "学习体会", 30
        )
    )
    fu.run(
        w.h.endorse_outcome(fu.ctx(fu.DEPT), fu.DEPT, "o-3", "approval", "县委书记", date(2026, 3, 1), "推广")
    )
    w.sync()
    return w


def test_followup_shows_an_analyst_figures_without_names_and_refuses_a_person_s_file():
    w = followup_world()
    who = analyst(fu.CODE)
    effect = fu.run(w.h.reads.class_effect(who, "k1"))
    sharing = fu.run(w.h.reads.sharing(who, "k1"))
    seen = text(effect, sharing)
    for person in ("张三", "李四", "王局长", "县发改局", "县委书记", '"a"', '"b"'):
        assert person not in seen, person
    assert [t["name"] for t in effect["by_trainee"]] == ["学员1", "学员2"]
    assert effect["mentors_assigned"] == 1 and effect["talks"] == 1 and effect["outcomes"]["approvals"] == 1
    assert [(t["name"], t["topic"]) for t in sharing["talks"]] == [("学员1", "学习体会")]
    assert sharing["outcomes"][0]["title"] == "基层减负调研报告"
    report.effect_workbook(effect)  # the export still builds
    with pytest.raises(Forbidden) as e:
        fu.run(w.h.reads.trainee_file(who, "a"))
    assert e.value.code == "wrong_role" and "分析员" in e.value.message

    shown = text(fu.run(w.h.reads.class_effect(fu.DEPT, "k1")), fu.run(w.h.reads.sharing(fu.DEPT, "k1")))
    assert all(p in shown for p in ("张三", "李四", "王局长", "县委书记"))
    assert fu.run(w.h.reads.trainee_file(fu.MENTOR, "a"))["name"] == "张三"


# -- the dashboard ---------------------------------------------------------------------------------
def test_the_dashboard_follows_the_same_rule():
    db = MemoryDatabase()
    doc = {
        "_id": "k1",
        "class_id": "k1",
        "title": "中青年干部培训班",
        "jurisdiction": "371428",
        "trainees": {"a": {"cadre_id": "a", "name": "张三", "unit": "县发改局", "mentor": "王局长"}},
    }
    fu.run(db[CLASSES].insert_one(doc))
    reads = DashboardReads(db)
    hidden = fu.run(reads.class_detail(analyst("371428"), "k1", 110))
    assert (
        hidden["trainees"][0]["name"] == "学员1"
        and "张三" not in text(hidden)
        and "县发改局" not in text(hidden)
    )
    dept = Principal(user_id="o", name="组织部", role="org_department", jurisdiction="371428")
    shown = fu.run(reads.class_detail(dept, "k1", 110))
    assert shown["trainees"][0]["name"] == "张三" and shown["trainees"][0]["unit"] == "县发改局"
