"""The dashboard's fixes of issue 18, given/when/then over the real folds, no I/O: a due
milestone reads as due, a class not started yet leaves the coverage rates alone, the
reasons a trainee did not graduate are shown, and every city or county is listed."""

from __future__ import annotations

from datetime import date

from services.dashboard import export
from services.dashboard.projections import classes
from services.dashboard.reads import class_detail, overview
from services.dashboard.rollup import Rollup
from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import teaching as tea
from tests.unit.test_dashboard_domain import COUNTY, confirm, envelopes, fold, opened

TODAY = date(2026, 6, 1)


def rollup_of(docs: dict) -> Rollup:
    r = Rollup()
    r.observer("classes")(list(docs.values()))
    return r


def test_a_milestone_that_is_due_shows_as_due_on_the_class_page():
    ms = dict(milestone_id="m1", class_id="k1", cadre_id="a", month=1)
    envs = envelopes("class-k1", [opened(), confirm("a"), confirm("b")]) + envelopes(
        "ms-m1",
        [
            fu.MilestoneScheduled(
                **ms, name="干部a", unit="县财政局", due_on=date(2026, 4, 10), required_roles=["self"]
            ),
            fu.MilestoneDue(**ms, due_on=date(2026, 4, 10)),
        ],
    )
    envs += envelopes(
        "ms-m2",
        [
            fu.MilestoneScheduled(
                milestone_id="m2",
                class_id="k1",
                cadre_id="b",
                month=1,
                name="干部b",
                unit="县财政局",
                due_on=date(2026, 4, 10),
                required_roles=["self"],
            )
        ],
    )
    page = class_detail(fold(classes, {}, envs)["k1"], True, 110, TODAY)
    states = {t["name"]: t["milestones"] for t in page["trainees"]}
    assert states == {"干部a": {"1": "due"}, "干部b": {"1": "scheduled"}}
    assert page["totals"]["milestones"]["due"] == 1


def test_a_class_that_has_not_started_does_not_lower_record_coverage():
    started = envelopes(
        "class-k1",
        [opened("k1"), confirm("a", "k1"), rec.RecordLogged(**record("a", "k1"))],
    )
    later = envelopes("class-k2", [later_class(), confirm("b", "k2"), confirm("c", "k2")])
    docs = fold(classes, {}, started + later)
    r = rollup_of(docs)

    county = overview(r, COUNTY, 2026, 110, TODAY)
    assert (county["totals"]["trainees"], county["totals"]["record_coverage"]) == (3, 1.0)
    assert county["totals"]["unstarted_trainees"] == 2
    rows = {row["code"]: row for row in county["rows"]}
    assert (rows["k1"]["record_coverage"], rows["k2"]["record_coverage"]) == (1.0, None)
    assert overview(r, "370000", 2026, 110, TODAY)["totals"]["record_coverage"] == 1.0
    # Once it has started, its trainees without records count again.
    assert overview(r, COUNTY, 2026, 110, date(2026, 9, 2))["totals"]["record_coverage"] == round(1 / 3, 4)
    assert class_detail(docs["k2"], True, 110, TODAY)["totals"]["record_coverage"] is None


def record(cid: str, class_id: str) -> dict:
    return dict(
        record_id=f"r-{cid}",
        class_id=class_id,
        cadre_id=cid,
        category="study",
        observed_on=date(2026, 3, 2),
        text="课堂发言积极",
        author_id="t1",
        author_name="王老师",
        author_role="head_teacher",
    )


def later_class():
    ev = opened("k2")
    return ev.model_copy(update={"starts_on": date(2026, 9, 1), "ends_on": date(2026, 9, 10)})


def test_the_reasons_a_trainee_did_not_graduate_are_shown_until_a_graduation():
    reasons = ["出勤学时不足（12/16 学时）", "结业考试未通过"]
    envs = envelopes(
        "class-k1",
        [
            opened(),
            confirm("a"),
            tea.TraineeNotGraduated(class_id="k1", cadre_id="a", reasons=reasons),
        ],
    )
    docs = fold(classes, {}, envs)
    for with_names in (True, False):
        (row,) = class_detail(docs["k1"], with_names, 110, TODAY)["trainees"]
        assert (row["graduated"], row["not_graduated"], row["not_graduated_reasons"]) == (
            False,
            True,
            reasons,
        )
    # the class's spreadsheet says it too
    sheet = export.class_workbook(class_detail(docs["k1"], True, 110, TODAY))["学员"]
    cells = [c.value for row in sheet.iter_rows() for c in row]
    assert "否：出勤学时不足（12/16 学时）；结业考试未通过" in cells
    graduated = tea.TraineeGraduated(
        class_id="k1",
        cadre_id="a",
        name="干部a",
        unit="县财政局",
        graduated_on=date(2026, 3, 20),
        hours=16,
        attendance_rate=1.0,
    )
    fold(classes, docs, envelopes("class-k1", [graduated], first=4))
    (row,) = class_detail(docs["k1"], True, 110, TODAY)["trainees"]
    assert (row["graduated"], row["not_graduated"], row["not_graduated_reasons"]) == (True, False, [])


def test_every_city_of_the_province_and_county_of_the_city_is_listed_even_without_classes():
    # 371402 lies in 德州市 (371400) of 山东省; a province-run class is the province's own row.
    docs = fold(classes, {}, envelopes("class-k1", [opened("k1"), confirm("a", "k1")]))
    fold(classes, docs, envelopes("class-p1", [opened("p1"), confirm("b", "p1")], code="370000"))
    r = rollup_of(docs)

    province = overview(r, "370000", 2026, 110, TODAY)
    rows = {row["code"]: row for row in province["divisions"]}
    assert rows["370000"]["kind"] == "own" and rows["370000"]["trainees"] == 1
    cities = [c for c, row in rows.items() if row["kind"] == "city"]
    assert len(cities) == 16 and "370100" in cities
    assert (rows["371400"]["title"], rows["371400"]["trainees"], rows["371400"]["classes"]) == (
        "德州市",
        1,
        1,
    )
    assert (rows["370100"]["title"], rows["370100"]["trainees"], rows["370100"]["classes"]) == (
        "济南市",
        0,
        0,
    )
    assert sum(row["trainees"] for row in province["divisions"]) == province["totals"]["trainees"] == 2

    city = overview(r, "371400", 2026, 110, TODAY)
    counties = {row["code"]: row for row in city["divisions"]}
    assert COUNTY in counties and counties[COUNTY]["trainees"] == 1 and len(counties) > 5
    assert all(row["kind"] == "county" for row in counties.values())
    assert {row["trainees"] for c, row in counties.items() if c != COUNTY} == {0}
    assert overview(r, COUNTY, 2026, 110, TODAY)["divisions"] == []
