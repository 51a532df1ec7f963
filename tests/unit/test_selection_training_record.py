"""A trainee's own 学时档案 (selection `GET /me/training-record`): this year's hours against
the policy for their rank, and the five-year rotation cycle, from their history."""

from datetime import date

from services.selection.api_registry import training_record
from services.selection.scope import HoursPolicy

CADRE = {"name": "孙丽", "unit": "县财政局", "rank": "副科"}
HISTORY = {
    "hours": {"2022": 40.0, "2025": 30.0, "2026": 12.5},
    "class_hours": {"2026": 10.0},
    "online_hours": {"2026": 2.5},
    "last_trained_on": "2022-06-30",
    "trainings": [
        {
            "class_id": "k1",
            "title": "科级干部培训班",
            "graduated_on": "2022-06-30",
            "hours": 40,
            "attendance_rate": 1.0,
        }
    ],
}


def test_this_years_hours_are_held_against_the_rank_s_requirement():
    policy = HoursPolicy(default_hours=110, by_rank={"副科": 90})
    r = training_record(CADRE, HISTORY, date(2026, 11, 28), policy)
    assert (r["hours_this_year"], r["required_this_year"]) == (12.5, 90.0)
    assert (r["class_hours"], r["online_hours"]) == (10.0, 2.5)


def test_the_cycle_counts_the_last_five_years_and_whether_a_class_was_graduated_in_it():
    r = training_record(CADRE, HISTORY, date(2026, 11, 28), HoursPolicy())
    assert list(r["hours_by_year"]) == ["2022", "2023", "2024", "2025", "2026"]
    assert r["cycle_hours"] == 82.5
    assert r["cycle_start"] == "2021-11-28" and r["trained_in_cycle"] is True
    later = training_record(CADRE, HISTORY, date(2027, 7, 1), HoursPolicy())
    assert later["trained_in_cycle"] is False and "2022" not in later["hours_by_year"]


def test_a_cadre_with_no_history_owes_the_whole_year():
    r = training_record(CADRE, {}, date(2026, 1, 5), HoursPolicy(default_hours=110))
    assert (r["hours_this_year"], r["required_this_year"], r["trained_in_cycle"]) == (0.0, 110.0, False)
    assert r["trainings"] == []
