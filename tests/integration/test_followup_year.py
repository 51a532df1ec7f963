"""A year of follow-up for one class, against the real servers: graduation published on
teaching's topic, the clock moved through the year, evaluations, mentors, talks and
outcomes submitted over HTTP; the effect report must equal what this test computes
from its own inputs."""

from __future__ import annotations

import io
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from shared.contracts.teaching import TraineeGraduated
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration

GRADUATED = date(2025, 3, 10)
DUE = {1: date(2025, 4, 10), 3: date(2025, 6, 10), 6: date(2025, 9, 10), 12: date(2026, 3, 10)}
GRACE = 10
FINANCE, EDUCATION = "县财政局", "县教育局"
TRAINEES = {
    "A": ("张伟", FINANCE),
    "B": ("李娜", FINANCE),
    "C": ("王强", EDUCATION),
    "D": ("赵敏", EDUCATION),
}
QUESTIONS = {
    1: ["ideals", "learning", "attitude"],
    3: ["application", "diligence", "teamwork"],
    6: ["professional", "problem_solving", "innovation"],
    12: ["achievements", "contribution", "growth"],
}


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def service(servers, county, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    mp.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.3")
    proc = ServiceProcess(
        settings("followup", servers, [county]),
        log=tmp_path_factory.mktemp("fu") / "followup.log",
        components="api,relay,projectors,scheduler",
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
        mp.undo()


class Year:
    """The test's own book of what it submitted, and the figures that follow from it."""

    def __init__(self, url: str, county: str, class_id: str) -> None:
        self.url, self.county, self.class_id = url, county, class_id
        self.evaluations: dict[tuple[str, int], list[tuple[str, float, date]]] = {}
        self.tasks: dict[str, int] = {}
        self.talks: dict[str, int] = {}
        self.today = GRADUATED

    def move_clock(self, day: date) -> None:
        r = httpx.put(f"{self.url}/admin/clock", headers=auth("admin", self.county), json={"today": str(day)})
        assert r.status_code == 200, r.text
        self.today = day

    def evaluate(
        self, cadre: str, month: int, role: str, value: float, expect: int = 201, **who
    ) -> httpx.Response:
        name, unit = TRAINEES[cadre]
        token = {
            "self": lambda: auth("trainee", self.county, name, user_id=cadre),
            "colleague": lambda: auth("unit", self.county, "同事甲", user_id=f"col-{unit}", unit=unit),
            "unit_leader": lambda: auth("unit", self.county, "领导乙", user_id=f"lead-{unit}", unit=unit),
            "mentor": lambda: auth("mentor", self.county, "导师", user_id=f"M-{cadre}"),
        }[role]()
        headers = who.get("headers") or token
        scores = {
            q: value + i for i, q in enumerate(QUESTIONS[month])
        }  # item scores differ; mean = value + 1
        r = httpx.post(
            f"{self.url}/classes/{self.class_id}/trainees/{cadre}/milestones/{month}/evaluations",
            headers=headers,
            json={"role": role, "scores": scores, "text": "情况良好"},
        )
        assert r.status_code == expect, r.text
        if expect == 201:
            self.evaluations.setdefault((cadre, month), []).append((role, value + 1, self.today))
        return r

    def status(self, cadre: str, month: int) -> dict:
        evs = self.evaluations.get((cadre, month), [])
        roles = {r for r, _, _ in evs}
        if {"self", "colleague", "unit_leader"} <= roles:
            done = max(d for r, _, d in evs if r in ("self", "colleague", "unit_leader"))
            return {"status": "completed", "on_time": done <= DUE[month] + timedelta(days=GRACE)}
        if self.today > DUE[month] + timedelta(days=GRACE):
            return {"status": "overdue"}
        return {"status": "due" if self.today >= DUE[month] else "scheduled"}

    def expected_effect(self) -> dict:
        due = [(c, m) for c in TRAINEES for m in DUE if self.today >= DUE[m]]
        completed = [k for k in due if self.status(*k)["status"] == "completed"]
        on_time = [k for k in completed if self.status(*k)["on_time"]]
        by_month = {}
        for m in DUE:
            means = [v for c in TRAINEES for _, v, _ in self.evaluations.get((c, m), [])]
            if means:
                by_month[str(m)] = round(sum(means) / len(means), 2)
        return {
            "trainees": len(TRAINEES),
            "milestones_scheduled": 4 * len(TRAINEES),
            "milestones_due": len(due),
            "milestones_completed": len(completed),
            "milestones_on_time": len(on_time),
            "milestones_overdue_open": sum(1 for k in due if self.status(*k)["status"] == "overdue"),
            "completion_rate": round(len(completed) / len(due), 4),
            "on_time_rate": round(len(on_time) / len(completed), 4),
            "scores_by_month": by_month,
            "mentor_tasks_done": sum(self.tasks.values()),
            "trainees_all_mentor_tasks": sum(1 for n in self.tasks.values() if n == 3),
            "talks": sum(self.talks.values()),
            "trainees_with_talks": sum(1 for n in self.talks.values() if n),
        }

    async def settled(self, cadres=TRAINEES) -> None:
        """Waits until every milestone's status in the files is the one this book implies."""

        async def check():
            for c in cadres:
                r = httpx.get(
                    f"{self.url}/trainees/{c}/followup", headers=auth("org_department", self.county)
                )
                if r.status_code != 200:
                    return None
                ms = r.json()["classes"][0]["milestones"]
                for m in DUE:
                    want = self.status(c, m)
                    got = ms[str(m)]
                    if got["status"] != want["status"] or (
                        "on_time" in want and got["on_time"] != want["on_time"]
                    ):
                        return None
            return True

        await eventually(check, timeout=60)


# long: one story end to end against real servers; its steps share the state they build
async def test_a_year_of_follow_up(service, servers, county):
    url, class_id = service.url, f"fu-{random_county()}"
    year = Year(url, county, class_id)
    year.move_clock(GRADUATED)
    org = auth("org_department", county, "组织部李科长")
    r = httpx.put(
        f"{url}/classes/{class_id}/plan", headers=org, json={"months": [1, 3, 6, 12], "grace_days": GRACE}
    )
    assert r.status_code == 200 and r.json()["events"] == ["FollowUpPlanSet"], r.text

    await publish(
        servers.kafka,
        "teaching",
        county,
        f"class-{class_id}",
        [
            TraineeGraduated(
                class_id=class_id,
                cadre_id=c,
                name=n,
                unit=u,
                graduated_on=GRADUATED,
                hours=40,
                attendance_rate=1.0,
                class_title="2025年春季中青年干部培训班",
            )
            for c, (n, u) in TRAINEES.items()
        ],
    )

    # A graduated class gets its milestones.
    async def scheduled():
        r = httpx.get(f"{url}/trainees/D/followup", headers=org)
        return r.json() if r.status_code == 200 else None

    file_d = await eventually(scheduled, timeout=60)
    assert {m["month"]: (m["due_on"], m["status"]) for m in file_d["classes"][0]["milestones"].values()} == {
        m: (str(d), "scheduled") for m, d in DUE.items()
    }
    await year.settled()

    # Mentors: A and B from their unit, C by the department, then C's mentor replaced.
    for cadre, token in [
        ("A", auth("unit", county, "财政局王主任", unit=FINANCE)),
        ("B", auth("unit", county, "财政局王主任", unit=FINANCE)),
        ("C", org),
    ]:
        r = httpx.put(
            f"{url}/classes/{class_id}/trainees/{cadre}/mentor",
            headers=token,
            json={
                "mentor_id": "M-old" if cadre == "C" else f"M-{cadre}",
                "mentor_name": "导师",
                "mentor_post": "副局长",
            },
        )
        assert r.status_code == 201, r.text
    r = httpx.put(
        f"{url}/classes/{class_id}/trainees/A/mentor",
        headers=auth("unit", county, "教育局", unit=EDUCATION),
        json={"mentor_id": "M-x", "mentor_name": "外单位"},
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_unit"
    r = httpx.put(
        f"{url}/classes/{class_id}/trainees/C/mentor",
        headers=org,
        json={"mentor_id": "M-C", "mentor_name": "新导师"},
    )
    assert r.status_code == 201
    r = httpx.post(
        f"{url}/classes/{class_id}/trainees/C/mentor-tasks",
        headers=auth("mentor", county, user_id="M-old"),
        json={"task": "core_decision", "evidence": "x", "comment": "y"},
    )
    assert r.status_code == 403 and r.json()["code"] == "not_the_mentor"

    # Month 1 comes due: evaluations before it are refused.
    assert year.evaluate("A", 1, "self", 80, expect=422).json()["code"] == "not_due_yet"
    year.move_clock(DUE[1])
    await year.settled()
    wl = httpx.get(f"{url}/worklist", headers=org).json()
    assert (wl["due"], wl["overdue"]) == (4, 0) and {i["cadre_id"] for i in wl["items"]} == set(TRAINEES)

    for cadre in "AB":
        for role, v in [("self", 90), ("colleague", 80), ("unit_leader", 85)]:
            year.evaluate(cadre, 1, role, v)
    year.evaluate("C", 1, "self", 70)
    # The wrong role or the wrong unit is refused, and nothing is stored.
    r = year.evaluate(
        "C", 1, "colleague", 50, expect=403, headers=auth("unit", county, "财政局", unit=FINANCE)
    )
    assert r.json()["code"] == "wrong_unit" and EDUCATION in r.json()["message"]
    r = year.evaluate("C", 1, "self", 50, expect=403, headers=auth("trainee", county, "李娜", user_id="B"))
    assert r.json()["code"] == "not_the_trainee"
    r = year.evaluate("D", 1, "mentor", 50, expect=403)
    assert r.json()["code"] == "not_the_mentor"
    r = year.evaluate("C", 1, "unit_leader", 50, expect=403, headers=auth("org_department", county))
    assert r.json()["code"] == "wrong_role"
    other = random_county()
    r = year.evaluate("C", 1, "colleague", 50, expect=403, headers=auth("unit", other, unit=EDUCATION))
    assert r.json()["code"] == "wrong_deployment"
    r = httpx.get(f"{url}/trainees/C/followup", headers=auth("trainee", county, user_id="A"))
    assert r.status_code == 403
    bad = httpx.post(
        f"{url}/classes/{class_id}/trainees/C/milestones/1/evaluations",
        headers=auth("unit", county, unit=EDUCATION),
        json={"role": "colleague", "scores": {"ideals": 200}},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "wrong_questions"
    await year.settled()

    # After the grace period: C and D become overdue; C then completes late.
    year.move_clock(DUE[1] + timedelta(days=GRACE + 1))
    await year.settled()
    wl = httpx.get(f"{url}/worklist", headers=org).json()
    assert {(i["cadre_id"], i["month"]) for i in wl["items"] if i["status"] == "overdue"} == {
        ("C", 1),
        ("D", 1),
    }
    year.evaluate("C", 1, "colleague", 60)
    year.evaluate("C", 1, "unit_leader", 65)
    late = year.evaluate("C", 1, "mentor", 75, expect=422)  # after completion: refused
    assert late.json()["code"] == "milestone_completed"
    await year.settled()

    # Months 3, 6 and 12, with mentor tasks and talks along the way.
    plan = {3: {"A": 86, "B": 72, "C": 64}, 6: {"A": 88, "B": 70}, 12: {"A": 92}}
    for month, people in plan.items():
        year.move_clock(DUE[month] + timedelta(days=2))
        for cadre, v in people.items():
            for role in ("self", "colleague", "unit_leader"):
                year.evaluate(cadre, month, role, v)
        if month == 3:
            year.evaluate("A", 3, "mentor", 95, expect=422)  # completed: refused (422)
        await year.settled()
    # Mentor tasks (A all three, C one) and talks (A twice, C once).
    for cadre, tasks in {
        "A": ["core_decision", "urgent_matter", "important_process"],
        "C": ["urgent_matter"],
    }.items():
        for t in tasks:
            r = httpx.post(
                f"{url}/classes/{class_id}/trainees/{cadre}/mentor-tasks",
                headers=auth("mentor", county, "导师", user_id=f"M-{cadre}"),
                json={"task": t, "evidence": "会议纪要", "comment": "表现突出"},
            )
            assert r.status_code == 201, r.text
            year.tasks[cadre] = year.tasks.get(cadre, 0) + 1
    for cadre, n in {"A": 2, "C": 1}.items():
        name, unit = TRAINEES[cadre]
        for i in range(n):
            r = httpx.post(
                f"{url}/classes/{class_id}/trainees/{cadre}/talks",
                headers=auth("trainee", county, name, user_id=cadre),
                json={
                    "on": str(year.today - timedelta(days=i)),
                    "audience": "本单位干部",
                    "topic": "学习体会",
                    "attendees": 30,
                },
            )
            assert r.status_code == 201, r.text
            year.talks[cadre] = year.talks.get(cadre, 0) + 1
    # Outcomes: a report with an approval, a proposal adopted, a proposal without endorsement.
    ids = []
    for kind, title in [
        ("report", "关于基层治理的调研报告"),
        ("proposal", "优化审批流程的金点子"),
        ("proposal", "数字乡村建议"),
    ]:
        r = httpx.post(
            f"{url}/classes/{class_id}/outcomes",
            headers=org,
            json={"kind": kind, "title": title, "authors": ["A"]},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["stream_id"].removeprefix("outcome:"))
    for oid, kind in [(ids[0], "approval"), (ids[1], "adoption")]:
        r = httpx.post(
            f"{url}/outcomes/{oid}/endorsements",
            headers=org,
            json={"kind": kind, "by": "县委书记", "on": str(year.today)},
        )
        assert r.status_code == 201, r.text

    # A year and the grace period later: everything left open is overdue.
    year.move_clock(DUE[12] + timedelta(days=GRACE + 1))
    await year.settled()
    expected = year.expected_effect()

    async def report():
        r = httpx.get(f"{url}/classes/{class_id}/effect", headers=org)
        if r.status_code != 200:
            return None
        got = r.json()
        # The class's effect is another projection than the trainees' files `settled` read:
        # under load it can still be behind on the last overdue marks.
        synced = (
            got["outcomes"]["endorsed"],
            got["talks"],
            got["mentor_tasks_done"],
            got["milestones_overdue_open"],
        )
        return (
            got
            if synced
            == (2, expected["talks"], expected["mentor_tasks_done"], expected["milestones_overdue_open"])
            else None
        )

    got = await eventually(report, timeout=60)
    assert {k: got[k] for k in expected} == expected
    assert {
        k: got["outcomes"][k] for k in ("reports", "proposals", "approvals", "adoptions", "endorsed")
    } == {"reports": 1, "proposals": 2, "approvals": 1, "adoptions": 1, "endorsed": 2}
    a = next(t for t in got["by_trainee"] if t["cadre_id"] == "A")
    assert (a["completion_rate"], a["on_time_rate"], a["mentor_tasks_done"], a["talks"]) == (1.0, 1.0, 3, 2)

    # The Excel export carries the same figures under Chinese headers.
    x = httpx.get(f"{url}/classes/{class_id}/effect.xlsx", headers=org)
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in x.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(x.content))
    summary = {row[0]: row[1] for row in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["已完成节点数"] == expected["milestones_completed"]
    assert summary["节点完成率"] == f"{expected['completion_rate'] * 100:.1f}%"
    assert [c.value for c in wb["学员明细"][1]][:3] == ["姓名", "干部编号", "单位"]
    assert wb["学员明细"].max_row == 1 + len(TRAINEES)
    w = httpx.get(f"{url}/worklist.xlsx", headers=org)
    assert w.status_code == 200
    rows = list(load_workbook(io.BytesIO(w.content)).active.iter_rows(min_row=2, values_only=True))
    assert len(rows) == httpx.get(f"{url}/worklist", headers=org).json()["overdue"] > 0

    # The trainee reads and exports their own file: every evaluation this test made, tasks and talks.
    a_token = auth("trainee", county, "张伟", user_id="A")
    own = httpx.get(f"{url}/trainees/A/followup", headers=a_token)
    assert own.status_code == 200 and own.json()["classes"][0]["effect"]["milestones_completed"] == 4
    fx = load_workbook(io.BytesIO(httpx.get(f"{url}/trainees/A/followup.xlsx", headers=a_token).content))
    a_evaluations = sum(len(v) for (c, _), v in year.evaluations.items() if c == "A")
    assert (fx["评价"].max_row - 1, fx["导师帮带"].max_row - 1, fx["上讲台"].max_row - 1) == (
        a_evaluations,
        3,
        2,
    )

    # Another county sees nothing of it.
    r = httpx.get(
        f"{url}/classes/{county}-{class_id}/effect", headers=auth("org_department", random_county())
    )
    assert (r.status_code, r.json()["code"]) == (404, "class_not_found")
