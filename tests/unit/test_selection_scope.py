"""Scope criteria with reasons, five-year coverage, yearly hours, and the training
history projection folded from teaching's and follow-up's events. Pure, no I/O."""

from datetime import date

from services.selection.projections import histories
from services.selection.scope import HoursPolicy, coverage, evaluate, hours
from shared.commands import CommandHandler, Context
from shared.contracts.followup import MentorTaskCompleted, MilestoneCompleted
from shared.contracts.teaching import OnlineHoursCredited, SessionAttended, TraineeGraduated
from shared.events import Actor

TODAY = date(2026, 11, 22)
POLICY = HoursPolicy(default_hours=110, by_rank={"科员": 90}, cycle_years=5)


def cadre(cid: str, **kw) -> dict:
    base = {
        "_id": cid,
        "name": f"干部{cid}",
        "unit": "县委办",
        "rank": "副科",
        "category": "",
        "birth_date": "1985-03-01",
        "id_number": "371428198503011234",
        "township_leadership": False,
        "recruited_as": None,
        "recruited_year": None,
    }
    return {**base, **kw}


CADRES = [
    cadre("a", rank="正科", birth_date="1982-01-01"),
    cadre("b", township_leadership=True, unit="甲马营乡"),
    cadre("c", rank="科员", birth_date="1993-07-01", recruited_as="选调生", recruited_year=2022),
    cadre("d", rank="科员", birth_date="1995-02-01", recruited_as="选聘生", recruited_year=2015),
]
HIST = {
    "a": {"last_trained_on": "2024-06-30", "hours": {"2026": 120}},
    "b": {"last_trained_on": "2019-05-01", "hours": {"2026": 30}},
    "c": {"hours": {"2026": 95}},
}


def ids(found):
    return [f["cadre_id"] for f in found]


def test_rank_and_birth_cohort_filter_with_reasons():
    found = evaluate(
        {"ranks": ["副科", "科员"], "born_on_or_after": "1990-01-01"}, CADRES, HIST, TODAY, POLICY
    )
    assert ids(found) == ["c", "d"]
    assert found[0]["reasons"] == ["职级为科员", "1993-07 出生（1990-01-01 及以后）"]
    assert found[0]["id_number"] == "371428********1234"


def test_recent_recruits_within_n_years():
    found = evaluate({"recruited_within_years": 5}, CADRES, HIST, TODAY, POLICY)
    assert ids(found) == ["c"] and "2022 年录用的选调生" in found[0]["reasons"][0]


def test_township_leadership_orders_but_does_not_filter():
    found = evaluate({"ranks": ["副科", "正科"], "township_priority": True}, CADRES, HIST, TODAY, POLICY)
    assert ids(found) == ["b", "a"]
    assert found[0]["priority"] and "有乡镇领导经历（优先）" in found[0]["reasons"]


def test_not_trained_in_n_years_comes_from_the_history():
    found = evaluate({"not_trained_years": 5}, CADRES, HIST, TODAY, POLICY)
    assert ids(found) == ["c", "d", "b"]  # by unit, then name
    assert "无记录" in found[0]["reasons"][0] and "上次结业：2019-05-01" in found[2]["reasons"][0]


def test_hours_short_this_year_uses_the_policy_by_rank():
    found = evaluate({"hours_short": True}, CADRES, HIST, TODAY, POLICY)
    assert ids(found) == ["d", "b"]  # c has 95 of 90 as 科员; a has 120 of 110
    assert found[1]["reasons"] == ["本年度学时 30/110，尚差 80"]


def test_five_year_coverage_and_the_overdue_list():
    report = coverage(CADRES, HIST, TODAY, POLICY)
    assert (report["total"], report["trained"], report["rate"]) == (4, 1, 0.25)
    assert [o["cadre_id"] for o in report["overdue"]] == ["b", "c", "d"]
    assert {u["unit"]: (u["total"], u["trained"]) for u in report["by_unit"]} == {
        "县委办": (3, 1),
        "甲马营乡": (1, 0),
    }


def test_yearly_hours_against_the_policy():
    report = hours(CADRES, HIST, 2026, POLICY)
    assert report["met"] == 2
    assert {r["cadre_id"]: (r["hours"], r["required"], r["short"]) for r in report["rows"]} == {
        "a": (120, 110, 0),
        "b": (30, 110, 80),
        "c": (95, 90, 0),
        "d": (0, 90, 90),
    }


def test_the_history_folds_attendance_online_hours_graduation_and_follow_up_once():
    ctx = Context(
        actor=Actor(user_id="u", name="党校刘老师", role="party_school"),
        jurisdiction="371428",
        correlation_id="h",
    )
    events = [
        SessionAttended(class_id="k", session_id="s1", cadre_id="a", hours=3, on=date(2026, 3, 1)),
        SessionAttended(class_id="k", session_id="s2", cadre_id="a", hours=4.5, on=date(2026, 3, 8)),
        TraineeGraduated(
            class_id="k",
            cadre_id="a",
            name="甲",
            unit="县委办",
            graduated_on=date(2026, 3, 9),
            hours=7.5,
            attendance_rate=1.0,
            class_title="中青班",
        ),
    ]
    online = [OnlineHoursCredited(cadre_id="a", hours=2, on=date(2025, 12, 30), reference="x1")]
    follow = [
        MilestoneCompleted(
            milestone_id="m1",
            class_id="k",
            cadre_id="a",
            month=1,
            completed_on=date(2026, 4, 9),
            on_time=True,
            average_score=88.0,
        ),
        MentorTaskCompleted(
            class_id="k",
            cadre_id="a",
            task="core_decision",
            evidence="会议纪要",
            comment="好",
            mentor_id="m",
            done_on=date(2026, 5, 1),
        ),
    ]
    envs = (
        list(zip(CommandHandler.envelopes("class-k", 0, events, ctx), events))
        + list(zip(CommandHandler.envelopes("online-a", 0, online, ctx), online))
        + list(zip(CommandHandler.envelopes("fu-a", 0, follow, ctx), follow))
    )
    items = [(did, env, ev, h) for env, ev in envs for did, h in [histories.route(env, ev)]]
    docs: dict = {}
    histories.fold(docs, items)
    histories.fold(docs, items)  # redelivered: nothing counted twice
    doc = docs["a"]
    assert doc["hours"] == {"2026": 7.5, "2025": 2.0} and doc["online_hours"] == {"2025": 2.0}
    assert doc["last_trained_on"] == "2026-03-09" and doc["trainings"][0]["title"] == "中青班"
    assert doc["milestones"][0]["month"] == 1 and doc["mentor_tasks"][0]["task"] == "core_decision"


def test_a_county_s_reports_are_kept_small_each_row_with_its_search_key():
    """The coverage and hours reports are kept as made, a row for each of a county's 20,000
    cadres (reads.py): the hours report's rows were ~330 bytes each as dicts of their own, ~6 MB
    of selection's process (issue 16, memory per service). A row carries its entry's search key
    for the lists' search. 2,000 cadres here."""
    import tracemalloc

    from services.selection.read_index import cadre_entry

    entries = [
        cadre_entry({**cadre(f"c{i}", name=f"王芳{i}"), "jurisdiction": "371428"}) for i in range(2000)
    ]
    histories = {
        f"c{i}": {"last_trained_on": "2020-06-30", "hours": {"2026": 12.5 + i}} for i in range(0, 2000, 2)
    }
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = hours(entries, histories, 2026, POLICY), coverage(entries, histories, TODAY, POLICY)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 2000 < 450, held / 2000  # dicts of their own: ~585 bytes a cadre; now ~340
    (rows, overdue) = kept[0]["rows"], kept[1]["overdue"]
    assert rows[7] == {
        "cadre_id": "c7",
        "name": "王芳7",
        "unit": "县委办",
        "rank": "副科",
        "hours": 0.0,
        "required": 110.0,
        "short": 110.0,
        "_key": "王芳7\x01县委办",
    }
    assert overdue[7] == {
        "cadre_id": "c7",
        "name": "王芳7",
        "unit": "县委办",
        "rank": "副科",
        "last_trained_on": None,
        "covered": False,
        "_key": "王芳7\x01县委办",
    }
