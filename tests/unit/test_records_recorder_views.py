"""The recorder's pages in records, pure: the roster with who has not been recorded lately,
and a class as the recorder's own list shows it (their role, current or last held)."""

from datetime import date

from services.records import reads as views
from shared.listing import Paging

ROSTER = {
    "class_id": "k1",
    "title": "年轻干部培训班",
    "starts_on": "2026-03-02",
    "ends_on": "2026-06-30",
    "trainees": {
        "c1": {"name": "孙丽", "unit": "县财政局", "group": "一组", "status": "confirmed"},
        "c2": {"name": "钱军", "unit": "县财政局", "group": "一组", "status": "confirmed"},
        "c3": {"name": "吴霞", "unit": "县教育局", "group": "二组", "status": "withdrawn"},
    },
}
KLASS = {
    "class_id": "k1",
    "coverage": {"c1": {"head_teacher": "2026-03-20", "class_monitor": "2026-03-10"}},
    "categories": {"c1": {"study": 2, "thinking": 1}},
    "recorders": {"p1": {"person_id": "p1", "name": "王老师", "role": "head_teacher", "since": "2026-03-02"}},
    "history": [
        {
            "person_id": "p2",
            "name": "李班长",
            "role": "class_monitor",
            "since": "2026-03-02",
            "until": "2026-03-15",
        },
        {"person_id": "p1", "name": "王老师", "role": "head_teacher", "since": "2026-03-02", "until": None},
    ],
}


def test_the_roster_lists_every_active_trainee_and_marks_who_went_unrecorded():
    r = views.recording_roster(ROSTER, KLASS, date(2026, 3, 22), 7)
    rows = {t["name"]: t for t in r["trainees"]}
    assert list(rows) == ["孙丽", "钱军"]  # the withdrawn trainee is not on it
    assert rows["孙丽"]["latest"] == "2026-03-20" and rows["孙丽"]["stale"] is False
    assert rows["孙丽"]["by_category"] == {"学习情况": 2, "思想动态": 1} and rows["孙丽"]["records"] == 3
    assert rows["钱军"]["latest"] is None and rows["钱军"]["stale"] is True
    assert r["stale"] == 1
    later = views.recording_roster(ROSTER, KLASS, date(2026, 3, 27), 7)
    assert later["stale"] == 2  # seven days on, 孙丽 is due again


def big_class(n: int) -> tuple[dict, dict]:
    """A class of `n` trainees in two study groups, the first ten recorded on 2026-03-20."""
    trainees = {
        f"c{i:03d}": {
            "name": f"学员{i:03d}",
            "unit": "县财政局" if i % 2 else "东安镇",
            "group": "一组" if i < n // 2 else "二组",
            "status": "confirmed",
        }
        for i in range(n)
    }
    coverage = {f"c{i:03d}": {"head_teacher": "2026-03-20"} for i in range(10)}
    return {**ROSTER, "trainees": trainees}, {**KLASS, "coverage": coverage, "categories": {}}


def test_the_roster_answers_one_page_of_a_big_class_with_the_whole_class_counted():
    roster, klass = big_class(300)
    whole = views.recording_roster(roster, klass, date(2026, 3, 22), 7)
    page = views.roster_page(whole, Paging(page=2, size=20))
    assert len(page["items"]) == 20 and page["total"] == 300 and page["enrolled"] == 300
    assert page["items"][0]["name"] == "学员020"  # the default order: group, then name
    assert page["stale"] == 290  # of the whole class, not of the page
    assert page["title"] == "年轻干部培训班" and "trainees" not in page


def test_the_roster_is_searched_filtered_and_sorted_on_the_server():
    roster, klass = big_class(300)
    whole = views.recording_roster(roster, klass, date(2026, 3, 22), 7)
    town = views.roster_page(whole, Paging(q="东安镇", size=200))
    assert town["total"] == 150 and {r["unit"] for r in town["items"]} == {"东安镇"}
    recorded = views.roster_page(whole, Paging(sort="latest", desc=False))
    assert [r["latest"] for r in recorded["items"][:10]] == ["2026-03-20"] * 10
    assert recorded["items"][10]["latest"] is None  # never recorded: last
    stale = views.roster_page(whole, Paging(), stale_only=True)
    assert stale["total"] == 290 and all(r["stale"] for r in stale["items"])


def test_a_recorder_sees_their_current_role_or_the_last_one_they_held():
    mine = views.my_recording(ROSTER, KLASS, "p1")
    shown = (mine["title"], mine["role_name"], mine["current"], mine["trainees"])
    assert shown == ("年轻干部培训班", "班主任", True, 2)
    former = views.my_recording(ROSTER, KLASS, "p2")
    assert (former["role_name"], former["current"]) == ("班长", False)
    assert views.my_recording(ROSTER, KLASS, "p9") is None
