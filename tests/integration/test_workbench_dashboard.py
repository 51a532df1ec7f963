"""The dashboard inside the workbench (issue 18), in Debian's Chromium, logged in through the
real Keycloak page: a province analyst drills down from the province to a county and a class,
and a county's organisation department sees its own county, with names. Real dashboard
process, real Kafka and store; what selection, teaching and follow-up would have sent is put
on their real topics. The deployment serves a whole province whose cities and counties are
real divisions (their names are on the page), and every city is listed, zeros included.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from shared import jurisdiction as jur
from shared.contracts import followup as fu
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.ids import new_id
from tests.integration.test_workbench_browser import CHROMIUM_ARGS, WorkbenchProcess, log_in, shots
from tests.support import ServiceProcess, eventually, publish, random_province, settings

pytestmark = pytest.mark.integration
NAMES = ["张伟", "王芳", "李娜"]
REASON = "出勤学时不足（10/16 学时）"
TODAY = date.today()


@dataclass
class World:
    wb: WorkbenchProcess
    province: str
    city: str
    county: str
    started: str
    later: str
    analyst: str
    org: str


def _real_province() -> tuple[str, str, str]:
    """A province of the division table no other test's county lies in, one of its cities
    and one of that city's counties."""
    while True:
        province = random_province() + "0000"
        for city in jur.children(province):
            counties = jur.children(city)
            if counties:
                return province, city, counties[0]


def _class(class_id: str, title: str, starts: date) -> sel.ClassOpened:
    return sel.ClassOpened(
        class_id=class_id,
        title=title,
        capacity=40,
        starts_on=starts,
        ends_on=starts + timedelta(days=9),
        organiser="县委党校",
    )


async def send(kafka: str, county: str, started: str, later: str) -> None:
    """A class that has run (two graduates, one not, with the reason; a month-1 milestone due
    for one trainee and completed for another) and a class that starts next month."""
    cadres = [f"dw-{new_id()[-10:]}-{i}" for i in range(len(NAMES))]
    events = [_class(started, "年轻干部培训班", TODAY - timedelta(days=60))]
    for cid, name in zip(cadres, NAMES):
        events.append(sel.TraineeNominated(class_id=started, cadre_id=cid, name=name, unit="县财政局"))
        events.append(sel.NominationConfirmed(class_id=started, cadre_id=cid, name=name, unit="县财政局"))
    await publish(kafka, "selection", county, f"class-{started}", events)
    newcomer = f"dw-{new_id()[-10:]}-n"
    await publish(
        kafka,
        "selection",
        county,
        f"class-{later}",
        [
            _class(later, "乡镇党委书记培训班", TODAY + timedelta(days=30)),
            sel.TraineeNominated(class_id=later, cadre_id=newcomer, name="周敏", unit="县教育局"),
            sel.NominationConfirmed(class_id=later, cadre_id=newcomer, name="周敏", unit="县教育局"),
        ],
    )
    ended = TODAY - timedelta(days=51)
    outcome = [
        tea.TraineeGraduated(
            class_id=started,
            cadre_id=cid,
            name=name,
            unit="县财政局",
            graduated_on=ended,
            hours=16,
            attendance_rate=1.0,
        )
        for cid, name in zip(cadres[:2], NAMES)
    ]
    outcome.append(tea.TraineeNotGraduated(class_id=started, cadre_id=cadres[2], reasons=[REASON]))
    await publish(kafka, "teaching", county, f"graduation-{started}", outcome)
    for i, cid in enumerate(cadres[:2]):
        ms = dict(milestone_id=f"m-{cid}", class_id=started, cadre_id=cid, month=1)
        due_on = ended + timedelta(days=30)
        events = [
            fu.MilestoneScheduled(
                **ms, name=NAMES[i], unit="县财政局", due_on=due_on, required_roles=["self"]
            ),
            fu.MilestoneDue(**ms, due_on=due_on),
        ]
        if i == 1:
            events.append(fu.MilestoneCompleted(**ms, completed_on=due_on, on_time=True))
        await publish(kafka, "followup", county, f"milestone-{cid}", events)


async def send_province_class(kafka: str, province: str, class_id: str) -> None:
    """A class the province runs itself (on the province's topic): its row 本级班次."""
    cadre = f"dw-{new_id()[-10:]}-p"
    await publish(
        kafka,
        "selection",
        province,
        f"class-{class_id}",
        [
            _class(class_id, "省直机关处级干部培训班", TODAY - timedelta(days=20)),
            sel.TraineeNominated(class_id=class_id, cadre_id=cadre, name="吴强", unit="省发展改革委"),
            sel.NominationConfirmed(class_id=class_id, cadre_id=cadre, name="吴强", unit="省发展改革委"),
        ],
    )


@pytest.fixture(scope="module")
async def world(identity, servers, tmp_path_factory):
    province, city, county = _real_province()
    started, later = f"dw-a-{new_id()[-10:]}", f"dw-b-{new_id()[-10:]}"
    await send(servers.kafka, county, started, later)
    await send_province_class(servers.kafka, province, f"dw-p-{new_id()[-10:]}")
    folder = tmp_path_factory.mktemp("workbench-dashboard")
    analyst, org = f"wd-analyst-{province}", f"wd-org-{county}"
    identity.create_user(analyst, "analyst", province, name="省委组织部 分析员")
    identity.create_user(org, "org_department", county, name="县委组织部 李娜")
    s = settings("dashboard", servers, [province], projector_batch=500)
    env = {"GANXUN_OIDC_ISSUER": identity.issuer}
    with ServiceProcess(
        s, components="api,projectors,rollup", log=folder / "dashboard.log", env=env
    ).start() as dash:
        headers = identity.auth(analyst)

        async def arrived():
            async with httpx.AsyncClient(base_url=dash.url, timeout=10) as c:
                r = await c.get(
                    "/api/overview", params={"jurisdiction": county, "year": "all"}, headers=headers
                )
                own = await c.get(
                    "/api/overview",
                    params={"jurisdiction": province, "year": "all", "own": "true"},
                    headers=headers,
                )
            t = r.json()["totals"] if r.status_code == 200 else {}
            mine = own.json()["totals"]["trainees"] if own.status_code == 200 else 0
            return (
                t.get("graduated") == 2
                and t.get("trainees") == 4
                and t["milestones"]["completed"] == 1
                and mine == 1
            )

        await eventually(arrived, timeout=90)
        wb = WorkbenchProcess(
            identity.issuer, {"dashboard": dash.url}, folder / "workbench.log", servers.mongodb
        )
        wb.start()
        try:
            yield World(wb, province, city, county, started, later, analyst, org)
        finally:
            wb.stop()


def shot(name: str) -> str:
    return str(shots() / name)


async def _rows(page) -> list[str]:
    return [
        t.strip()
        for t in await page.locator("[data-test=rows] .el-table__body tr td:first-child").all_inner_texts()
    ]


async def test_the_province_drills_down_to_a_county_and_a_class(world: World):
    from playwright.async_api import async_playwright

    w = world
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, w.wb, w.analyst)
            assert [t.strip() for t in await page.locator(".el-menu-item").all_inner_texts()] == ["干训看板"]
            await page.click(".el-menu-item:has-text('干训看板')")
            await page.wait_for_selector("[data-test=rows] .el-table__body tr")
            # all years, as a user picks 全部年份 (the classes' dates are relative to today)
            await page.goto(f"{w.wb.url}/dashboard?year=all")
            await page.wait_for_selector("[data-test=rows] .el-table__body tr")
            # every city of the province, the one with classes and those without any, after the
            # province's own classes
            cities = jur.children(w.province)
            own_row = f"{jur.name(w.province)}（本级班次）"
            assert await _rows(page) == [own_row, *(jur.name(c) for c in cities)]
            assert jur.name(w.province) in await page.inner_text("[data-test=crumbs]")
            await page.screenshot(path=shot("dashboard-province.png"))
            # the own row opens the province's own classes, as a county's row opens the county's
            await page.click("[data-test=rows] tr:has-text('本级班次')")
            await page.wait_for_selector("[data-test=rows] tr:has-text('省直机关处级干部培训班')")
            assert await _rows(page) == ["省直机关处级干部培训班"]
            assert "本级班次" in await page.inner_text("[data-test=crumbs]")
            assert await page.inner_text("[data-test=kpi-trainees]") == "1"
            await page.screenshot(path=shot("dashboard-province-own.png"))
            await page.click(f"[data-test=crumbs] a:has-text('{jur.name(w.province)}')")
            await page.wait_for_selector(f"[data-test=rows] tr:has-text('{jur.name(w.city)}')")

            await page.click(f"[data-test=rows] tr:has-text('{jur.name(w.city)}')")
            await page.wait_for_function(
                "n => (document.querySelector('[data-test=crumbs]')?.innerText || '').includes(n)",
                arg=jur.name(w.city),
            )
            await page.wait_for_selector(f"[data-test=rows] tr:has-text('{jur.name(w.county)}')")
            assert await _rows(page) == [jur.name(c) for c in jur.children(w.city)]

            await page.click(f"[data-test=rows] tr:has-text('{jur.name(w.county)}')")
            await page.wait_for_selector("[data-test=rows] tr:has-text('乡镇党委书记培训班')")
            assert await _rows(page) == ["年轻干部培训班", "乡镇党委书记培训班"]
            assert await page.inner_text("[data-test=kpi-trainees]") == "4"
            assert await page.inner_text("[data-test=kpi-graduated]") == "2"
            # due / completed / overdue, and the class that has not started is said to be left out
            assert await page.inner_text("[data-test=kpi-milestones]") == "2 / 1 / 0"
            assert "1 名学员所在班次尚未开班" in await page.inner_text("body")
            await page.screenshot(path=shot("dashboard-county.png"))

            await page.click("[data-test=rows] tr:has-text('年轻干部培训班')")
            await page.wait_for_selector("[data-test=trainees] .el-table__body tr")
            table = await page.inner_text("[data-test=trainees]")
            assert "学员1" in table and not any(n in table for n in NAMES)  # an analyst sees no names
            assert "到期待评" in table and "已完成" in table
            assert f"未结业：{REASON}" in table
            await page.screenshot(path=shot("dashboard-class-analyst.png"))
            assert not page.errors, page.errors
        finally:
            await browser.close()


async def test_a_county_organisation_department_sees_its_own_county_with_names(world: World):
    from playwright.async_api import async_playwright

    w = world
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, w.wb, w.org)
            await page.click(".el-menu-item:has-text('干训看板')")
            await page.wait_for_selector("[data-test=rows]")
            await page.goto(f"{w.wb.url}/dashboard?year=all")
            await page.wait_for_selector("[data-test=rows] tr:has-text('年轻干部培训班')")
            assert jur.name(w.county) in await page.inner_text("[data-test=crumbs]")
            await page.click("[data-test=rows] tr:has-text('年轻干部培训班')")
            await page.wait_for_selector("[data-test=trainees] .el-table__body tr")
            table = await page.inner_text("[data-test=trainees]")
            assert all(n in table for n in NAMES) and "县财政局" in table
            assert f"未结业：{REASON}" in table
            await page.screenshot(path=shot("dashboard-class-county.png"))
            # the province is not its to see: the dashboard's refusal, in Chinese, and no figures
            await page.goto(f"{w.wb.url}/dashboard?code={w.province}")
            await page.wait_for_selector("[data-test=problem]")
            assert "辖区" in await page.inner_text("[data-test=problem]")
            assert await page.locator("[data-test=kpis]").count() == 0
            assert not page.errors, page.errors
        finally:
            await browser.close()
