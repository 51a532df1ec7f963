"""The province dashboard against a real dashboard process, real Kafka and store.

Events of the four services are put on their real topics with `publish` (as their
relays would); the expected figures are computed here from what was sent. One
dashboard deployment serves two random counties of one province; the province token
(<pp>0000) sees both, a county token only its own.
"""

from __future__ import annotations

import io
import os
import time
from datetime import date
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.ids import new_id
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings, token

pytestmark = pytest.mark.integration
YEAR = 2026
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def artifacts() -> Path:
    folder = Path(os.environ.get("GANXUN_ARTIFACTS") or Path(__file__).resolve().parents[2] / ".artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class World:
    """What the test sent, so the expected figures are computed from it."""

    def __init__(self, province: str, a: str, b: str) -> None:
        self.province, self.a, self.b = province, a, b
        # full ids, as selection names each county's classes (shared/scoped_ids.py)
        self.class_a, self.class_b = f"{a}-dash-a-{new_id()[-10:]}", f"{b}-dash-b-{new_id()[-10:]}"
        self.cadres_a = [f"ca-{new_id()[-10:]}-{i}" for i in range(4)]
        self.cadres_b = [f"cb-{new_id()[-10:]}-{i}" for i in range(3)]
        self.class_b_version = 0


NAMES_A = ["张伟", "王芳", "李娜", "刘洋"]
NAMES_B = ["陈静", "杨帆", "赵磊"]


# long: the events of both counties, sent in the order the page must show them
async def send(servers, w: World) -> None:
    k = servers.kafka
    a, b = w.a, w.b
    ca, cb = w.cadres_a, w.cadres_b
    # registry: 4 cadres in A, 3 in B
    for code, ids, names in ((a, ca, NAMES_A), (b, cb, NAMES_B)):
        for cid, name in zip(ids, names):
            await publish(
                k,
                "selection",
                code,
                f"cadre-{cid}",
                [
                    sel.CadreRegistered(
                        cadre_id=cid,
                        name=name,
                        gender="男",
                        birth_date=date(1988, 1, 1),
                        id_number="X",
                        unit="县发改局",
                        rank="副科",
                    )
                ],
            )
    # class A: 4 nominated, 3 confirmed, 1 rejected
    a_events = [
        sel.ClassOpened(
            class_id=w.class_a,
            title="年轻干部培训班",
            capacity=50,
            starts_on=date(YEAR, 3, 1),
            ends_on=date(YEAR, 3, 20),
            organiser="县委党校",
        )
    ]
    a_events += [
        sel.TraineeNominated(class_id=w.class_a, cadre_id=c, name=n, unit="县发改局")
        for c, n in zip(ca, NAMES_A)
    ]
    a_events += [
        sel.NominationConfirmed(class_id=w.class_a, cadre_id=c, name=n, unit="县发改局")
        for c, n in zip(ca[:3], NAMES_A)
    ]
    a_events += [sel.NominationRejected(class_id=w.class_a, cadre_id=ca[3], reason="不在范围内")]
    await publish(k, "selection", a, f"class-{w.class_a}", a_events)
    # class B: 3 nominated, 2 confirmed (one more is confirmed live during the browser test)
    b_events = [
        sel.ClassOpened(
            class_id=w.class_b,
            title="村党组织书记示范班",
            capacity=50,
            starts_on=date(YEAR, 5, 1),
            ends_on=date(YEAR, 5, 10),
            organiser="县委党校",
        )
    ]
    b_events += [
        sel.TraineeNominated(class_id=w.class_b, cadre_id=c, name=n, unit="某镇") for c, n in zip(cb, NAMES_B)
    ]
    b_events += [
        sel.NominationConfirmed(class_id=w.class_b, cadre_id=c, name=n, unit="某镇")
        for c, n in zip(cb[:2], NAMES_B)
    ]
    await publish(k, "selection", b, f"class-{w.class_b}", b_events)
    w.class_b_version = len(b_events)
    # teaching in A: two 3-hour sessions; c0, c1 attend both, c2 one and absent once
    for s in ("s1", "s2"):
        sid = f"{w.class_a}-{s}"
        events = [
            tea.SessionScheduled(
                class_id=w.class_a,
                session_id=sid,
                course_id="c",
                course_title="党的创新理论",
                kind="理论课",
                on=date(YEAR, 3, 2),
                starts_at=dtime(9),
                ends_at=dtime(12),
                hours=3,
                teacher_id="t",
                teacher_name="周老师",
                site_id="room",
            )
        ]
        events += [
            tea.SessionAttended(class_id=w.class_a, session_id=sid, cadre_id=c, hours=3, on=date(YEAR, 3, 2))
            for c in (ca[:3] if s == "s1" else ca[:2])
        ]
        if s == "s2":
            events.append(
                tea.AbsenceRecorded(class_id=w.class_a, session_id=sid, cadre_id=ca[2], on=date(YEAR, 3, 2))
            )
        await publish(k, "teaching", a, f"session-{sid}", events)
    await publish(
        k,
        "teaching",
        a,
        f"grad-{w.class_a}",
        [
            tea.TraineeGraduated(
                class_id=w.class_a,
                cadre_id=c,
                name=n,
                unit="县发改局",
                graduated_on=date(YEAR, 3, 20),
                hours=6,
                attendance_rate=1.0,
            )
            for c, n in zip(ca[:2], NAMES_A)
        ],
    )
    # online hours: c0 6+100 = 106 (< 110), c1 6+110 = 116 (>= 110)
    await publish(
        k,
        "teaching",
        a,
        f"online-{ca[0]}",
        [tea.OnlineHoursCredited(cadre_id=ca[0], hours=100, on=date(YEAR, 5, 1))],
    )
    await publish(
        k,
        "teaching",
        a,
        f"online-{ca[1]}",
        [tea.OnlineHoursCredited(cadre_id=ca[1], hours=110, on=date(YEAR, 5, 1))],
    )
    # records in A: c0 two records, c1 one; assessment c0 95 (优秀), c1 85 (良好)
    await publish(
        k,
        "records",
        a,
        f"records-{w.class_a}",
        [
            rec.RecordLogged(
                record_id=f"r{i}",
                class_id=w.class_a,
                cadre_id=c,
                category="study",
                observed_on=date(YEAR, 3, 3),
                text="课堂发言积极",
                author_id="ht",
                author_name="孙班主任",
                author_role="head_teacher",
            )
            for i, c in enumerate([ca[0], ca[0], ca[1]])
        ]
        + [
            rec.AssessmentScored(
                class_id=w.class_a,
                cadre_id=c,
                week=date(YEAR, 3, 2),
                scores=[rec.ItemScore(item_id="i1", points=p)],
                scorer_id="ht",
                scorer_name="孙班主任",
                scorer_role="head_teacher",
            )
            for c, p in ((ca[0], 95), (ca[1], 85))
        ],
    )
    # follow-up in A: month-1 milestones of c0 (completed on time) and c1 (overdue)
    m0, m1 = f"{w.class_a}-{ca[0]}-1", f"{w.class_a}-{ca[1]}-1"
    due = date(YEAR, 4, 20)
    await publish(
        k,
        "followup",
        a,
        f"milestone-{m0}",
        [
            fu.MilestoneScheduled(
                milestone_id=m0,
                class_id=w.class_a,
                cadre_id=ca[0],
                name=NAMES_A[0],
                unit="县发改局",
                month=1,
                due_on=due,
                required_roles=["self"],
            ),
            fu.MilestoneDue(milestone_id=m0, class_id=w.class_a, cadre_id=ca[0], month=1, due_on=due),
            fu.EvaluationSubmitted(
                milestone_id=m0,
                class_id=w.class_a,
                cadre_id=ca[0],
                month=1,
                role="self",
                evaluator_id="e",
                evaluator_name=NAMES_A[0],
                scores={"思想": 90, "表现": 80},
                submitted_on=due,
            ),
            fu.EvaluationSubmitted(
                milestone_id=m0,
                class_id=w.class_a,
                cadre_id=ca[0],
                month=1,
                role="unit_leader",
                evaluator_id="l",
                evaluator_name="钱局长",
                scores={"思想": 95},
                submitted_on=due,
            ),
            fu.MilestoneCompleted(
                milestone_id=m0, class_id=w.class_a, cadre_id=ca[0], month=1, completed_on=due, on_time=True
            ),
        ],
    )
    await publish(
        k,
        "followup",
        a,
        f"milestone-{m1}",
        [
            fu.MilestoneScheduled(
                milestone_id=m1,
                class_id=w.class_a,
                cadre_id=ca[1],
                name=NAMES_A[1],
                unit="县发改局",
                month=1,
                due_on=due,
                required_roles=["self"],
            ),
            fu.MilestoneDue(milestone_id=m1, class_id=w.class_a, cadre_id=ca[1], month=1, due_on=due),
            fu.MilestoneOverdue(
                milestone_id=m1,
                class_id=w.class_a,
                cadre_id=ca[1],
                month=1,
                due_on=due,
                missing_roles=["self"],
            ),
        ],
    )
    await publish(
        k,
        "followup",
        a,
        f"mentoring-{w.class_a}",
        [
            fu.MentorAssigned(class_id=w.class_a, cadre_id=ca[0], mentor_id="m", mentor_name="吴书记"),
            fu.MentorTaskCompleted(
                class_id=w.class_a,
                cadre_id=ca[0],
                task="core_decision",
                evidence="会议纪要",
                comment="好",
                mentor_id="m",
                done_on=date(YEAR, 6, 1),
            ),
            fu.MentorTaskCompleted(
                class_id=w.class_a,
                cadre_id=ca[0],
                task="urgent_matter",
                evidence="处置报告",
                comment="好",
                mentor_id="m",
                done_on=date(YEAR, 6, 2),
            ),
            fu.SharingTalkGiven(
                talk_id="talk1",
                class_id=w.class_a,
                cadre_id=ca[1],
                on=date(YEAR, 6, 5),
                audience="本单位",
                topic="学习体会",
            ),
            fu.OutcomeReported(
                outcome_id="o1", class_id=w.class_a, kind="report", title="关于乡村振兴的调研报告"
            ),
            fu.OutcomeEndorsed(
                outcome_id="o1", class_id=w.class_a, kind="approval", by="县委书记", on=date(YEAR, 7, 1)
            ),
        ],
    )


# Expected figures, from what `send` put on the topics.
EXPECT_A = {
    "classes": 1,
    "trainees": 3,
    "nominated": 4,
    "confirmation_rate": round(3 / 4, 4),
    "attendance_rate": round(5 / 6, 4),
    "hours": 15.0,
    "graduated": 2,
    "registered_cadres": 4,
    "rotation_coverage": round(2 / 4, 4),
    "hours_compliance": round(1 / 4, 4),
    "record_coverage": round(2 / 3, 4),
    "records": 3,
    "assessment": {"excellent": 1, "good": 1, "pass": 0, "below": 0},
    "milestones": {"scheduled": 2, "due": 2, "completed": 1, "on_time": 1, "overdue": 1},
    "evaluation": {"1": round((85 + 95) / 2, 2), "3": None, "6": None, "12": None},
    "mentored": 1,
    "mentor_tasks": 2,
    "talks": 1,
    "outcomes": 1,
    "outcomes_endorsed": 1,
}
EXPECT_PROVINCE = {
    "classes": 2,
    "trainees": 5,
    "nominated": 7,
    "confirmation_rate": round(5 / 7, 4),
    "registered_cadres": 7,
    "rotation_coverage": round(2 / 7, 4),
    "hours_compliance": round(1 / 7, 4),
    "record_coverage": round(2 / 5, 4),
}


@pytest.fixture(scope="module")
async def dashboard(servers, tmp_path_factory):
    province = f"{random_county()[:2]}0000"
    a, b = random_county(province[:2]), random_county(province[:2])
    w = World(province, a, b)
    await send(servers, w)
    s = settings("dashboard", servers, [a, b], projector_batch=500)
    log = tmp_path_factory.mktemp("dash") / "dashboard.log"
    with ServiceProcess(s, components="api,projectors,rollup", log=log).start() as proc:
        yield proc, w


def _subset(actual: dict, expected: dict) -> dict:
    return {k: actual.get(k) for k in expected}


async def _overview(url: str, who: tuple[str, str], **params) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        return await c.get("/api/overview", params={"year": str(YEAR), **params}, headers=auth(*who))


async def test_province_and_county_figures_equal_what_was_sent(dashboard):
    proc, w = dashboard

    async def province_ready():
        # Every county's row too: a county's partitions are read independently, so the province's
        # totals (and A's overdue milestone) can be in while another partition of A's follow-up topic,
        # holding another of its milestones, is read in the next batch.
        r = await _overview(proc.url, ("analyst", w.province, "省委组织部分析员"))
        body = r.json()
        row_a = next((r for r in body["rows"] if r["code"] == w.a), {})
        return (
            body
            if _subset(body["totals"], EXPECT_PROVINCE) == EXPECT_PROVINCE
            and body["totals"]["milestones"]["overdue"] == 1
            and body["totals"]["outcomes_endorsed"] == 1
            and _subset(row_a, EXPECT_A) == EXPECT_A
            else None
        )

    body = await eventually(province_ready, timeout=60)
    assert body["level"] == "province"
    assert [row["code"] for row in body["rows"]] == sorted([w.a, w.b])
    row_a = next(r for r in body["rows"] if r["code"] == w.a)
    assert _subset(row_a, EXPECT_A) == EXPECT_A
    county = (await _overview(proc.url, ("org_department", w.a, "县委组织部"), jurisdiction=w.a)).json()
    assert _subset(county["totals"], EXPECT_A) == EXPECT_A
    assert [(r["kind"], r["code"], r["title"]) for r in county["rows"]] == [
        ("class", w.class_a, "年轻干部培训班")
    ]
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
        status = (await c.get("/api/status", headers=auth("analyst", w.province))).json()
    assert status["live"] is True and status["classes"] == 2
    # the period filters classes by their start year
    other_year = (
        await _overview(proc.url, ("org_department", w.a), jurisdiction=w.a, year=str(YEAR - 1))
    ).json()
    assert other_year["totals"]["classes"] == 0 and other_year["totals"]["trainees"] == 0


async def test_a_county_token_sees_only_its_county(dashboard):
    proc, w = dashboard
    mine = await _overview(proc.url, ("org_department", w.a))
    assert mine.status_code == 200 and mine.json()["jurisdiction"] == w.a
    for params in ({"jurisdiction": w.b}, {"jurisdiction": w.province}):
        r = await _overview(proc.url, ("org_department", w.a), **params)
        assert r.status_code == 403 and r.json()["code"] == "wrong_jurisdiction"
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
        # another county's class: as one nobody opened (issue 14)
        r = await c.get(f"/api/classes/{w.class_b}", headers=auth("org_department", w.a))
        assert (r.status_code, r.json()["code"]) == (404, "class_not_found")
        r = await c.get("/api/overview", headers=auth("trainee", w.a))
        assert r.status_code == 403 and r.json()["code"] == "wrong_role"
        r = await c.get("/api/overview", params={"year": "去年"}, headers=auth("org_department", w.a))
        assert r.status_code == 422 and r.json()["code"] == "bad_year"
        r = await c.get(
            "/api/stream", params={"access_token": token("org_department", w.a), "jurisdiction": w.b}
        )
        assert r.status_code == 403


async def test_class_drill_down_shows_names_only_to_roles_allowed(dashboard):
    proc, w = dashboard
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:

        async def detail(role):
            r = await c.get(f"/api/classes/{w.class_a}", headers=auth(role, w.province))
            return r.json() if r.status_code == 200 and r.json()["totals"]["outcomes_endorsed"] == 1 else None

        named = await eventually(lambda: detail("party_school"), timeout=60)
        assert named["names_shown"] is True
        assert sorted(t["name"] for t in named["trainees"]) == sorted(NAMES_A)
        zhang = next(t for t in named["trainees"] if t["name"] == "张伟")
        assert (
            zhang["attended"],
            zhang["hours"],
            zhang["records"],
            zhang["assessment"],
            zhang["mentor_tasks"],
        ) == (2, 6, 2, 95, 2)
        assert zhang["milestones"] == {"1": "completed"} and zhang["evaluation"] == {"1": 90.0}
        counted = await detail("analyst")
        assert counted["names_shown"] is False
        assert all(
            t["name"].startswith("学员") and "unit" not in t and "cadre_id" not in t
            for t in counted["trainees"]
        )
        assert not {t["name"] for t in counted["trainees"]} & set(NAMES_A)


async def test_export_is_the_current_view_in_excel(dashboard):
    proc, w = dashboard
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
        r = await c.get(
            "/api/export.xlsx",
            params={"year": str(YEAR), "jurisdiction": w.province},
            headers=auth("org_department", w.province),
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "filename*=UTF-8''%E5%B9%B2%E8%AE%AD" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in ws[2]]
    assert header[:4] == ["行政区划代码", "名称", "期数", "人次（确定学员）"]
    rows = {row[0]: row for row in ws.iter_rows(min_row=3, values_only=True)}
    assert rows[w.a][2:4] == (1, 3) and rows["合计"][2] == 2
    assert rows[w.a][header.index("出勤率(%)")] == round(5 / 6 * 100, 1)
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
        r = await c.get(f"/api/classes/{w.class_a}/export.xlsx", headers=auth("analyst", w.province))
    assert r.status_code == 200 and "filename*=UTF-8''" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[2]][:3] == ["姓名", "单位", "状态"]
    trainees = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(trainees) == 4 and not {t[0] for t in trainees} & set(NAMES_A)  # the analyst gets no names
    assert sorted(t[6] for t in trainees) == [0, 3, 6, 6]  # hours


def _shown(m: dict) -> dict:
    """A metrics dict as the page formats it (see static/dashboard.js)."""
    pct = lambda v: "—" if v is None else f"{v * 100:.1f}%"  # noqa: E731
    return {
        "classes": str(m["classes"]),
        "trainees": str(m["trainees"]),
        "nominated": str(m["nominated"]),
        "confirmation_rate": pct(m["confirmation_rate"]),
        "rotation_coverage": pct(m["rotation_coverage"]),
        "hours_compliance": pct(m["hours_compliance"]),
        "record_coverage": pct(m["record_coverage"]),
    }


# long: one story end to end against real servers; its steps share the state they build
async def test_page_shows_the_figures_and_updates_live(dashboard):
    from playwright.async_api import async_playwright

    proc, w = dashboard
    # make sure everything sent is projected before the page is compared with it
    await test_province_and_county_figures_equal_what_was_sent(dashboard)
    expected_province = {**_shown({**EXPECT_A, **EXPECT_PROVINCE}), "classes": "2", "trainees": "5"}
    folder = artifacts()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            province_token = token("org_department", w.province, "省委组织部")
            await page.goto(f"{proc.url}/?year={YEAR}#token={province_token}")
            await page.wait_for_selector("[data-kpi=trainees]")
            await page.wait_for_selector("#live.on", timeout=10_000)

            async def kpis() -> dict:
                return await page.eval_on_selector_all(
                    "[data-kpi]", "els => Object.fromEntries(els.map(e => [e.dataset.kpi, e.textContent]))"
                )

            shown = await kpis()
            assert {k: shown[k] for k in expected_province} == expected_province
            assert (
                shown["ms_overdue"] == "1"
                and shown["mentor_tasks"] == "2"
                and shown["outcomes_endorsed"] == "1"
            )
            rows = await page.eval_on_selector_all("#rows tbody tr", "trs => trs.map(t => t.dataset.code)")
            assert rows == sorted([w.a, w.b])
            await page.screenshot(path=str(folder / "dashboard-province.png"), full_page=True)

            # live: one more confirmation in county B shows within 2 s, without reload
            cid, name = w.cadres_b[2], NAMES_B[2]
            await page.evaluate("window.__noReload = true")
            await publish(
                proc.settings.kafka_bootstrap_servers,
                "selection",
                w.b,
                f"class-{w.class_b}",
                [sel.NominationConfirmed(class_id=w.class_b, cadre_id=cid, name=name, unit="某镇")],
                first_version=w.class_b_version + 1,
            )
            sent = time.monotonic()
            await page.wait_for_function(
                "() => document.querySelector('[data-kpi=trainees]').textContent === '6'", timeout=2_000
            )
            latency = time.monotonic() - sent  # wait_for_function's own timeout is the 2 s limit
            (folder / "dashboard-live-latency.txt").write_text(f"{latency:.3f} s\n")
            print(f"live update shown {latency:.3f} s after the event was on Kafka")
            assert await page.evaluate("window.__noReload === true")

            # drill down: click county A, then its class
            await page.click(f"#rows tr[data-code='{w.a}']")
            # a function, not an expression: the page's CSP forbids eval, which Playwright
            # uses for expressions
            await page.wait_for_function(
                f"() => document.querySelector('#rows tbody tr') && document.querySelector("
                f"'#rows tbody tr').dataset.code === '{w.class_a}'"
            )
            shown = await kpis()
            assert {k: shown[k] for k in ("trainees", "confirmation_rate", "attendance_rate")} == {
                "trainees": "3",
                "confirmation_rate": "75.0%",
                "attendance_rate": "83.3%",
            }
            await page.screenshot(path=str(folder / "dashboard-county.png"), full_page=True)
            await page.click(f"#rows tr[data-code='{w.class_a}']")
            await page.wait_for_selector("text=张伟")
            await page.screenshot(path=str(folder / "dashboard-class.png"), full_page=True)
            assert errors == []

            # a county token cannot see the other county
            county_page = await browser.new_page()
            county_token = token("org_department", w.a, "县委组织部")
            await county_page.goto(f"{proc.url}/?year={YEAR}&jurisdiction={w.b}#token={county_token}")
            await county_page.wait_for_selector("#error:not([hidden])")
            # the refusal names the reader's own county (never where other data lives)
            assert w.a in await county_page.text_content(
                "#error"
            ) and "无权" in await county_page.text_content("#error")
            assert await county_page.eval_on_selector_all("[data-kpi]", "els => els.length") == 0
        finally:
            await browser.close()


async def test_an_api_only_replica_serves_the_same_figures_from_the_mirrored_counters(dashboard):
    proc, w = dashboard
    with ServiceProcess(proc.settings, components="api").start() as replica:

        async def same():
            r = await _overview(replica.url, ("analyst", w.province))
            if r.status_code != 200:
                return None
            rows = {row["code"]: row for row in r.json()["rows"]}
            return rows if w.a in rows and _subset(rows[w.a], EXPECT_A) == EXPECT_A else None

        rows = await eventually(same, timeout=30)
        assert set(rows) == {w.a, w.b}
