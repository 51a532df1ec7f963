"""The dashboard's folds and figures, pure: given events, then the figures a user reads."""

from __future__ import annotations

import asyncio
from datetime import date

from services.dashboard import domain
from services.dashboard.projections import bucket_of, cadres, classes
from services.dashboard.reads import overview
from services.dashboard.rollup import Rollup
from shared.commands import CommandHandler, Context
from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.events import CATALOGUE, Actor

COUNTY = "371402"
CTX = Context(actor=Actor(user_id="u", name="测试", role="admin"), jurisdiction=COUNTY, correlation_id="c")


def envelopes(stream: str, events: list, first: int = 1, code: str = COUNTY):
    ctx = Context(actor=CTX.actor, jurisdiction=code, correlation_id="c")
    return CommandHandler.envelopes(stream, first - 1, events, ctx)


def fold(projection, docs: dict, envs) -> dict:
    items = []
    for env in envs:
        ev = CATALOGUE.decode(env.to_json()).event
        doc_id, handler = projection.route(env, ev)
        items.append((doc_id, env, ev, handler))
    projection.fold(docs, items)
    return docs


def opened(class_id="k1", year=2026):
    return sel.ClassOpened(
        class_id=class_id,
        title="科级干部培训班",
        capacity=30,
        starts_on=date(year, 3, 1),
        ends_on=date(year, 3, 10),
        organiser="县委党校",
    )


def nominate(cid, class_id="k1"):
    return sel.TraineeNominated(class_id=class_id, cadre_id=cid, name=f"干部{cid}", unit="县财政局")


def confirm(cid, class_id="k1"):
    return sel.NominationConfirmed(class_id=class_id, cadre_id=cid, name=f"干部{cid}", unit="县财政局")


def class_metrics(docs, class_id="k1", year=2026):
    d = docs[class_id]
    return domain.metrics(domain.add(dict(d["n"]), d["c"]), {}, year)


def test_a_withdrawn_trainee_no_longer_counts_but_stays_nominated():
    docs = fold(
        classes,
        {},
        envelopes(
            "class-k1",
            [
                opened(),
                nominate("a"),
                nominate("b"),
                confirm("a"),
                confirm("b"),
                sel.NominationWithdrawn(class_id="k1", cadre_id="b", was_confirmed=True),
            ],
        ),
    )
    m = class_metrics(docs)
    assert (m["classes"], m["nominated"], m["trainees"], m["withdrawn"], m["confirmation_rate"]) == (
        1,
        2,
        1,
        1,
        0.5,
    )


def test_a_redelivered_event_changes_nothing():
    envs = envelopes("class-k1", [opened(), nominate("a"), confirm("a")])
    docs = fold(classes, {}, envs)
    before = class_metrics(docs)
    fold(classes, docs, envs[1:])  # replayed
    assert class_metrics(docs) == before and before["nominated"] == 1


def test_attendance_rate_and_hours_over_sessions():
    envs = envelopes("class-k1", [opened(), confirm("a"), confirm("b")])
    envs += envelopes(
        "att-1",
        [tea.SessionAttended(class_id="k1", session_id="s1", cadre_id=c, hours=2.5) for c in "ab"]
        + [tea.AbsenceRecorded(class_id="k1", session_id="s2", cadre_id="a", excused=True)],
    )
    m = class_metrics(fold(classes, {}, envs))
    assert (m["attendance_rate"], m["hours"]) == (round(2 / 3, 4), 5.0)


def test_a_late_completion_moves_a_milestone_from_overdue_to_completed_not_on_time():
    ms = dict(milestone_id="m1", class_id="k1", cadre_id="a", month=3)
    envs = envelopes("class-k1", [opened(), confirm("a")]) + envelopes(
        "ms-m1",
        [
            fu.MilestoneScheduled(
                **ms, name="干部a", unit="县财政局", due_on=date(2026, 7, 1), required_roles=["self"]
            ),
            fu.MilestoneDue(**ms, due_on=date(2026, 7, 1)),
            fu.MilestoneOverdue(**ms, due_on=date(2026, 7, 1), missing_roles=["self"]),
        ],
    )
    docs = fold(classes, {}, envs)
    assert class_metrics(docs)["milestones"] == {
        "scheduled": 1,
        "due": 1,
        "completed": 0,
        "on_time": 0,
        "overdue": 1,
    }
    fold(
        classes,
        docs,
        envelopes(
            "ms-m1", [fu.MilestoneCompleted(**ms, completed_on=date(2026, 7, 30), on_time=False)], first=4
        ),
    )
    assert class_metrics(docs)["milestones"] == {
        "scheduled": 1,
        "due": 1,
        "completed": 1,
        "on_time": 0,
        "overdue": 0,
    }


def test_evaluation_averages_are_over_evaluations_not_averages_of_trainees():
    def ev(cid, score, n):
        return fu.EvaluationSubmitted(
            milestone_id=f"m{cid}{n}",
            class_id="k1",
            cadre_id=cid,
            month=6,
            role="self",
            evaluator_id="e",
            evaluator_name="某",
            scores={"x": score},
            submitted_on=date(2026, 9, 1),
        )

    envs = envelopes("class-k1", [opened()]) + envelopes(
        "ev", [ev("a", 90, 1), ev("a", 80, 2), ev("b", 60, 1)]
    )
    assert class_metrics(fold(classes, {}, envs))["evaluation"] == {
        "1": None,
        "3": None,
        "6": round(230 / 3, 2),
        "12": None,
    }


def test_assessment_band_follows_the_average_of_weeks():
    def scored(week, points):
        return rec.AssessmentScored(
            class_id="k1",
            cadre_id="a",
            week=week,
            scores=[rec.ItemScore(item_id="i", points=points)],
            scorer_id="s",
            scorer_name="班主任",
            scorer_role="head_teacher",
        )

    docs = fold(
        classes,
        {},
        envelopes("class-k1", [opened(), confirm("a")]) + envelopes("sc", [scored(date(2026, 3, 2), 92)]),
    )
    assert class_metrics(docs)["assessment"] == {"excellent": 1, "good": 0, "pass": 0, "below": 0}
    fold(classes, docs, envelopes("sc", [scored(date(2026, 3, 9), 70)], first=2))
    assert class_metrics(docs)["assessment"] == {"excellent": 0, "good": 1, "pass": 0, "below": 0}


def test_rotation_coverage_lasts_five_years_and_hours_compliance_is_per_policy():
    reg = [
        sel.CadreRegistered(
            cadre_id=c, name=c, gender="女", birth_date=date(1990, 1, 1), id_number="x", unit="u", rank="科员"
        )
        for c in ("a", "b")
    ]
    envs = envelopes(
        "hours-a",
        [
            tea.SessionAttended(class_id="k", session_id="s", cadre_id="a", hours=60, on=date(2022, 5, 1)),
            tea.TraineeGraduated(
                class_id="k",
                cadre_id="a",
                name="a",
                unit="u",
                graduated_on=date(2022, 5, 2),
                hours=60,
                attendance_rate=1,
            ),
        ],
    )
    envs += envelopes("reg", reg)  # the registration arrives after the attendance: still counted
    docs = fold(cadres, {}, envs)
    total = domain.sum_counts(d["n"] for d in docs.values())
    assert {d["_id"] for d in docs.values()} == {bucket_of(COUNTY, "a"), bucket_of(COUNTY, "b")}
    at = {y: domain.metrics({}, total, y, hours_policy=50) for y in (2022, 2026, 2027)}
    assert [at[y]["rotation_coverage"] for y in (2022, 2026, 2027)] == [0.5, 0.5, 0.0]
    assert at[2022]["hours_compliance"] == 0.5
    assert domain.metrics({}, total, 2022, hours_policy=110)["hours_compliance"] == 0.0


def test_a_province_class_counts_for_the_county_that_registered_the_cadre():
    # Given a cadre registered by the county, when the province's party school records
    # their attendance and graduation (events on the province's topic, carrying the home
    # county), then the county's coverage and hours count them and the province has no bucket.
    province = "370000"
    envs = envelopes(
        "reg",
        [
            sel.CadreRegistered(
                cadre_id="a",
                name="a",
                gender="女",
                birth_date=date(1990, 1, 1),
                id_number="x",
                unit="u",
                rank="科员",
            )
        ],
    )
    envs += envelopes(
        "hours-a",
        [
            tea.SessionAttended(
                class_id="p",
                session_id="s",
                cadre_id="a",
                hours=120,
                on=date(2026, 5, 1),
                home_jurisdiction=COUNTY,
            ),
            tea.TraineeGraduated(
                class_id="p",
                cadre_id="a",
                name="a",
                unit="u",
                graduated_on=date(2026, 5, 2),
                hours=120,
                attendance_rate=1,
                home_jurisdiction=COUNTY,
            ),
        ],
        code=province,
    )
    docs = fold(cadres, {}, envs)
    assert {(d["_id"], d["jurisdiction"]) for d in docs.values()} == {(bucket_of(COUNTY, "a"), COUNTY)}
    m = domain.metrics({}, domain.sum_counts(d["n"] for d in docs.values()), 2026)
    assert (m["rotation_coverage"], m["hours_compliance"]) == (1.0, 1.0)


def test_rates_are_empty_not_zero_when_nothing_to_divide():
    m = domain.metrics({}, {}, 2026)
    assert (m["confirmation_rate"], m["attendance_rate"], m["rotation_coverage"], m["record_coverage"]) == (
        None,
    ) * 4


def test_the_rollup_sums_counties_and_filters_classes_by_year():
    other = "371403"
    docs = fold(classes, {}, envelopes("class-k1", [opened("k1", 2026), confirm("a", "k1")]))
    fold(classes, docs, envelopes("class-k2", [opened("k2", 2025), confirm("b", "k2")]))
    fold(
        classes,
        docs,
        envelopes("class-k3", [opened("k3", 2026), confirm("c", "k3"), confirm("d", "k3")], code=other),
    )
    r = Rollup()
    seen = []

    async def run():
        q = r.subscribe()
        r.observer("classes")(list(docs.values()))
        seen.append(await q.get())

    asyncio.run(run())
    assert seen == [{COUNTY, other}]
    province = overview(r, "370000", 2026, 110)
    assert (province["level"], province["totals"]["classes"], province["totals"]["trainees"]) == (
        "province",
        2,
        3,
    )
    assert [(row["code"], row["trainees"]) for row in province["rows"]] == [(COUNTY, 1), (other, 2)]
    county = overview(r, COUNTY, None, 110)
    assert [row["code"] for row in county["rows"]] == ["k2", "k1"] and county["totals"]["trainees"] == 2
    assert overview(r, "530000", 2026, 110)["rows"] == []


def test_the_rollup_keeps_the_newest_revision_and_mirrors_what_changed():
    from services.dashboard.rollup import class_entry

    docs = fold(classes, {}, envelopes("class-k1", [opened("k1"), confirm("a", "k1")]))
    newer = dict(docs["k1"], _rev=2)
    older = dict(docs["k1"], _rev=1, n={})
    r = Rollup()
    r.put_class(class_entry(newer))
    r.put_class(class_entry(older))  # e.g. read by the reconciliation after the writer reported rev 2
    assert r.classes["k1"].rev == 2 and r.classes["k1"].counts["confirmed"] == 1
    ops = r.take_dirty()
    assert [op._doc["_id"] for op in ops] == ["class|k1"] and ops[0]._doc["rev"] == 2
    assert r.take_dirty() == []


def test_assessment_band_is_a_share_of_the_schemes_maximum():
    # Huzhou's "三百分": 255 of 300 points a week is 85%, 良好 (not 优秀 for being over 90 points).
    scheme = rec.AssessmentSchemeSet(
        class_id="k1",
        scheme_id="huzhou",
        title="三百分",
        items=[{"item_id": "i", "max_points": 200}, {"item_id": "j", "max_points": 100}],
    )
    scored = rec.AssessmentScored(
        class_id="k1",
        cadre_id="a",
        week=date(2026, 3, 2),
        scores=[rec.ItemScore(item_id="i", points=170), rec.ItemScore(item_id="j", points=85)],
        scorer_id="s",
        scorer_name="班主任",
        scorer_role="head_teacher",
    )
    docs = fold(
        classes,
        {},
        envelopes("class-k1", [opened(), confirm("a")])
        + envelopes("rk1", [scheme])
        + envelopes("sc", [scored]),
    )
    assert class_metrics(docs)["assessment"] == {"excellent": 0, "good": 1, "pass": 0, "below": 0}
