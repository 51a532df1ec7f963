"""The dashboard's figures against the services' own answers (issue 18): for a class, the
milestones due, completed and overdue equal follow-up's class effect report, and the graduates
equal teaching's graduation list. Real follow-up (with its scheduler, its clock moved through
the months), teaching and dashboard processes on real Kafka and the store; what selection
sent and teaching's graduation are put on their real topics, as their relays would.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
GRADUATED = date(2025, 3, 10)
GRACE = 10
UNIT = "县财政局"
TRAINEES = {"A": "张伟", "B": "王芳", "C": "李娜", "D": "刘洋"}
QUESTIONS = {1: ["ideals", "learning", "attitude"]}


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    county = random_county()
    folder = tmp_path_factory.mktemp("figures")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    mp.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.3")
    procs = {}
    try:
        procs["followup"] = ServiceProcess(
            settings("followup", servers, [county]),
            log=folder / "followup.log",
            components="api,relay,projectors,scheduler",
        ).start()
        procs["teaching"] = ServiceProcess(
            settings("teaching", servers, [county]), log=folder / "teaching.log"
        ).start()
        procs["dashboard"] = ServiceProcess(
            settings("dashboard", servers, [county], projector_batch=500),
            components="api,projectors,rollup",
            log=folder / "dashboard.log",
        ).start()
        yield county, {k: p.url for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()
        mp.undo()


def _move_clock(url: str, county: str, day: date) -> None:
    r = httpx.put(f"{url}/admin/clock", headers=auth("admin", county), json={"today": str(day)})
    assert r.status_code == 200, r.text


def _evaluate(url: str, county: str, class_id: str, cadre: str, role: str) -> None:
    token = {
        "self": auth("trainee", county, TRAINEES[cadre], user_id=cadre),
        "colleague": auth("unit", county, "同事甲", user_id=f"col-{cadre}", unit=UNIT),
        "unit_leader": auth("unit", county, "领导乙", user_id=f"lead-{cadre}", unit=UNIT),
    }[role]
    r = httpx.post(
        f"{url}/classes/{class_id}/trainees/{cadre}/milestones/1/evaluations",
        headers=token,
        json={"role": role, "scores": {q: 85 for q in QUESTIONS[1]}, "text": "情况良好"},
    )
    assert r.status_code == 201, r.text


# long: one class followed through its first months; each step's figures are compared as they stand
async def test_the_dashboard_s_class_figures_equal_follow_up_s_and_teaching_s(deployment, servers):
    county, url = deployment
    class_id = f"fig-{random_county()}"
    org = auth("org_department", county, "组织部李科长")
    _move_clock(url["followup"], county, GRADUATED)
    r = httpx.put(
        f"{url['followup']}/classes/{class_id}/plan",
        headers=org,
        json={"months": [1, 3, 6, 12], "grace_days": GRACE},
    )
    assert r.status_code == 200, r.text
    opened = sel.ClassOpened(
        class_id=class_id,
        title="中青年干部培训班",
        capacity=30,
        starts_on=GRADUATED - timedelta(days=10),
        ends_on=GRADUATED,
        organiser="县委党校",
    )
    people = [e for c, n in TRAINEES.items() for e in _nominated(class_id, c, n)]
    await publish(servers.kafka, "selection", county, f"class-{class_id}", [opened, *people])
    graduation = [
        tea.TraineeGraduated(
            class_id=class_id,
            cadre_id=c,
            name=n,
            unit=UNIT,
            graduated_on=GRADUATED,
            hours=40,
            attendance_rate=1.0,
            class_title=opened.title,
        )
        for c, n in list(TRAINEES.items())[:3]
    ]
    graduation.append(tea.TraineeNotGraduated(class_id=class_id, cadre_id="D", reasons=["出勤学时不足"]))
    await publish(servers.kafka, "teaching", county, f"class-{class_id}", graduation)

    async def same(expect_due: int):
        """Both answers, once follow-up has the figures the step implies and the dashboard agrees."""
        effect = httpx.get(f"{url['followup']}/classes/{class_id}/effect", headers=org)
        dash = httpx.get(f"{url['dashboard']}/api/classes/{class_id}", headers=org)
        if effect.status_code != 200 or dash.status_code != 200:
            return None
        e, d = effect.json(), dash.json()["totals"]
        theirs = (e["milestones_due"], e["milestones_completed"], e["milestones_overdue_open"])
        ours = (d["milestones"]["due"], d["milestones"]["completed"], d["milestones"]["overdue"])
        return (theirs, ours) if theirs == ours and theirs[0] == expect_due else None

    # graduated: 3 trainees × 4 milestones scheduled, none due
    theirs, ours = await eventually(lambda: same(0), timeout=90)

    async def file_of_a():
        # the trainee's file is another projection than the class's figures: it may come later
        r = httpx.get(f"{url['followup']}/trainees/A/followup", headers=org)
        return r.json() if r.status_code == 200 and r.json().get("classes") else None

    file_a = await eventually(file_of_a, timeout=60)
    due_on = {
        m["month"]: date.fromisoformat(m["due_on"]) for m in file_a["classes"][0]["milestones"].values()
    }

    # month 1 due for all three; A completes it (self, colleague, unit leader) on time
    _move_clock(url["followup"], county, due_on[1])
    theirs, ours = await eventually(lambda: same(3), timeout=60)
    for role in ("self", "colleague", "unit_leader"):
        _evaluate(url["followup"], county, class_id, "A", role)
    # past the grace days: B's and C's month 1 overdue; then month 3 comes due for all three
    _move_clock(url["followup"], county, due_on[1] + timedelta(days=GRACE + 1))
    _move_clock(url["followup"], county, due_on[3])
    theirs, ours = await eventually(lambda: same(6), timeout=60)
    assert theirs == ours == (6, 1, 2)

    # the class page: A's month 1 completed, B's overdue, month 3 due (not "scheduled") for all
    dash = httpx.get(f"{url['dashboard']}/api/classes/{class_id}", headers=org).json()
    states = {
        t["name"]: (t["milestones"]["1"], t["milestones"]["3"]) for t in dash["trainees"] if t["graduated"]
    }
    assert states == {"张伟": ("completed", "due"), "王芳": ("overdue", "due"), "李娜": ("overdue", "due")}

    # graduates: teaching's own list
    async def graduation_answer():
        r = httpx.get(f"{url['teaching']}/classes/{class_id}/graduation", headers=org)
        return r.json() if r.status_code == 200 and len(r.json()["graduated"]) == 3 else None

    teaching = await eventually(graduation_answer, timeout=60)
    assert dash["totals"]["graduated"] == len(teaching["graduated"]) == 3
    (missing,) = [t for t in dash["trainees"] if t["not_graduated"]]
    assert [r["reasons"] for r in teaching["not_graduated"]] == [missing["not_graduated_reasons"]]


def _nominated(class_id: str, cadre: str, name: str) -> list:
    return [
        sel.TraineeNominated(class_id=class_id, cadre_id=cadre, name=name, unit=UNIT),
        sel.NominationConfirmed(class_id=class_id, cadre_id=cadre, name=name, unit=UNIT),
    ]
