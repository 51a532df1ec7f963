"""The workbench in Debian's Chromium, logged in through the real Keycloak login page.

Real Keycloak (the `identity` fixture), a real workbench process, and the real
selection and teaching services on real Kafka and the store. Users are created in
Keycloak for each role; each logs in through the Keycloak page (authorization code +
PKCE through the workbench), and works through the pages. Screenshots go to
tests/artifacts/workbench/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.local.process import REPO_ROOT, free_port
from tests.keycloak_support import services_of, wait_for_keys

pytestmark = pytest.mark.integration
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
PASSWORD = "Test-Passw0rd"


def shots() -> Path:
    folder = Path(os.environ.get("GANXUN_ARTIFACTS") or REPO_ROOT / "tests" / "artifacts") / "workbench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class WorkbenchProcess:
    """`python -m services.workbench` on a free port, pointed at Keycloak and the services,
    keeping its sessions in a database of its own in the test's store."""

    def __init__(self, issuer: str, services: dict[str, str], log: Path, store: str) -> None:
        from shared.ids import new_id

        self.port = free_port()
        self.database = f"t_workbench_{new_id()[-10:]}"
        self.env = {
            "GANXUN_WORKBENCH_ISSUER": issuer,
            "GANXUN_WORKBENCH_HTTP_PORT": str(self.port),
            "GANXUN_WORKBENCH_MONGODB_URI": store,
            "GANXUN_WORKBENCH_DATABASE": self.database,
            **{f"GANXUN_WORKBENCH_{k.upper()}_URL": v for k, v in services.items()},
        }
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkbenchProcess:
        subprocess.run(["bash", "deploy/build-workbench.sh"], cwd=REPO_ROOT, check=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.workbench"],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("workbench not ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


FIRST_LOAD = """() => {
  const nav = performance.getEntriesByType('navigation')[0]
  const res = performance.getEntriesByType('resource')
  return {load_ms: Math.round(nav.loadEventEnd), dom_ready_ms: Math.round(nav.domContentLoadedEventEnd),
          files: res.length + 1, bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
          offsite: res.map((r) => r.name).filter((u) => !u.startsWith(location.origin))}
}"""


async def log_in(browser, wb: WorkbenchProcess, username: str, shot: str | None = None):
    """A fresh browser context (its own cookies) logged in through Keycloak's page."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(wb.url + "/")
    await page.click("[data-test=login]")
    await page.wait_for_selector("#username")
    if shot:
        await page.screenshot(path=str(shots() / shot))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#kc-login")
    await page.wait_for_selector("[data-test=who]")
    return page


@pytest.fixture(scope="module")
def roles_world(identity, servers, tmp_path_factory):
    from tests.support import random_county

    county = random_county()
    people = {
        "org": ("org_department", "县委组织部 李娜", None),
        "clerk": ("unit", "财政局 王芳", "县财政局"),
        "school": ("party_school", "县委党校 赵磊", None),
    }
    names = {}
    for key, (role, name, unit) in people.items():
        username = f"wb-{key}-{county}"
        identity.create_user(username, role, county, unit=unit, name=name)
        names[key] = (username, name, role, unit)
    log = tmp_path_factory.mktemp("workbench") / "workbench.log"
    # no services behind it here: each page then says, in Chinese, that the service cannot be reached
    closed = {
        name: f"http://127.0.0.1:{free_port()}" for name in ("selection", "teaching", "records", "followup")
    }
    wb = WorkbenchProcess(identity.issuer, closed, log, servers.mongodb).start()
    yield wb, county, names
    wb.stop()


async def test_each_role_logs_in_through_keycloak_and_sees_its_own_menu(roles_world):
    from playwright.async_api import async_playwright

    wb, county, names = roles_world
    menus = {
        "org": [
            "我的待办",
            "干部名册",
            "名册导入",
            "班次管理",
            "开设班次",
            "待确定队列",
            "统计报表",
            "跟踪问效",
            "上讲台与成果",
            "干训看板",
        ],
        "clerk": ["我的待办", "本单位调训任务", "本单位跟踪待办", "上讲台与成果"],
        "school": ["我的待办", "课程与师资", "班次教学", "请假审批", "上讲台与成果"],
    }
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            # the first page with an empty cache: its load time and everything the browser downloads
            first = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
            await first.goto(wb.url + "/")
            await first.wait_for_selector("[data-test=login]")
            figures = await first.evaluate(FIRST_LOAD)
            (shots() / "first-load.json").write_text(json.dumps(figures, indent=2))
            print(f"\nfirst page: {figures}")
            assert figures["offsite"] == [], figures["offsite"]  # nothing from a CDN
            assert figures["bytes"] < 1_000_000  # gzip keeps it under 1 MB
            await first.context.close()
            for key, (username, name, role, unit) in names.items():
                shot = "keycloak-login.png" if key == "org" else None
                page = await log_in(browser, wb, username, shot=shot)
                who = await page.inner_text("[data-test=who]")
                assert name in who and county in who
                if unit:
                    assert f"单位：{unit}" in who
                shown = [t.strip() for t in await page.locator(".el-menu-item").all_inner_texts()]
                assert shown == menus[key]
                # the session cookie is httpOnly: the page's script cannot read it
                assert "ganxun_session" not in await page.evaluate("document.cookie")
                await page.screenshot(path=str(shots() / f"home-{role}.png"))
                await page.click("[data-test=logout]")
                await page.wait_for_selector("[data-test=login]")
                r = await page.request.get(wb.url + "/api/me")
                assert r.status == 401
                assert not page.errors, page.errors
                await page.context.close()
        finally:
            await browser.close()


async def test_a_restarted_workbench_keeps_everyone_logged_in(roles_world):
    """Issue 17: the sessions are in the store, so restarting the workbench process logs
    nobody out; logging out afterwards still ends the session."""
    from playwright.async_api import async_playwright

    wb, county, names = roles_world
    username, name, _role, _unit = names["school"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, username)
            before = await (await page.request.get(wb.url + "/api/me")).json()
            wb.stop()
            wb.start()  # a new process on the same port and store
            r = await page.request.get(wb.url + "/api/me")
            assert r.status == 200, await r.text()
            after = await r.json()
            assert (after["name"], after["jurisdiction"], after["csrf_token"]) == (
                name,
                county,
                before["csrf_token"],
            )
            await page.reload()
            await page.wait_for_selector("[data-test=who]")  # the page opens logged in, no login page
            assert name in await page.inner_text("[data-test=who]")
            await page.click("[data-test=logout]")
            await page.wait_for_selector("[data-test=login]")
            assert (await page.request.get(wb.url + "/api/me")).status == 401
            assert not page.errors, page.errors
        finally:
            await browser.close()


# -- the Wucheng three steps and a day of teaching, through the pages --------------------------------
UNIT_A, UNIT_B = "县财政局", "县教育局"
ROSTER = [
    ("张伟", UNIT_A, "副科", "1988-03-02", "男"),
    ("王芳", UNIT_A, "副科", "1990-07-15", "女"),
    ("刘洋", UNIT_A, "一级科员", "1993-01-20", "男"),
    ("陈静", UNIT_B, "副科", "1989-11-05", "女"),
    ("杨帆", UNIT_B, "二级主任科员", "1991-04-09", "男"),
    ("周敏", UNIT_B, "一级科员", "1994-09-30", "女"),
]
TRAINEES_TODAY = [("day-a", "孙丽", UNIT_A), ("day-b", "钱军", UNIT_A), ("day-c", "吴霞", UNIT_B)]


def id_number(birth: str, serial: int, male: bool) -> str:
    """A valid 18-digit 身份证号 (GB 11643 check digit)."""
    seq = serial * 2 + (1 if male else 0)
    body = f"371428{birth.replace('-', '')}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def roster_file(folder: Path) -> Path:
    """The template's columns, six cadres of two units, and one row a clerk must fix."""
    from openpyxl import Workbook

    from services.selection.importing import TEMPLATE

    wb = Workbook()
    ws = wb.active
    ws.append(TEMPLATE)
    for i, (name, unit, rank, birth, gender) in enumerate(ROSTER, start=1):
        ws.append(
            [
                name,
                gender,
                birth,
                id_number(birth, 100 + i, gender == "男"),
                unit,
                "科员",
                rank,
                "经济发展",
                "",
                "是" if i == 1 else "否",
                "",
                "",
            ]
        )
    ws.append(["赵刚", "男", "1990-01-01", "37142819900101", UNIT_B, "科员", "副科", "", "", "否", "", ""])
    path = folder / "武城县干部名册.xlsx"
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def county_world(identity, servers, tmp_path_factory):
    """Selection and teaching of one county verifying Keycloak's tokens, the workbench in
    front of them, and a 组织部, two unit clerks and a 党校 account in Keycloak."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-flow")
    procs = services_of(identity, servers, county, folder, ("selection", "teaching"))
    users = {
        "org": ("org_department", "李娜", None),
        "fin": ("unit", "王会计", UNIT_A),
        "edu": ("unit", "陈老师", UNIT_B),
        "school": ("party_school", "赵磊", None),
    }
    for key, (role, name, unit) in users.items():
        identity.create_user(f"wf-{key}-{county}", role, county, unit=unit, name=name)
    wait_for_keys(procs, identity.auth(f"wf-org-{county}", PASSWORD), county)
    wb = WorkbenchProcess(
        identity.issuer,
        {k: p.url for k, p in procs.items()},
        folder / "workbench.log",
        servers.mongodb,
    ).start()
    yield wb, county, folder, servers
    wb.stop()
    for p in procs.values():
        p.stop()


async def _ok(response) -> bool:
    return (await response).status == 200


async def pick(page, select, option: str) -> None:
    """Chooses `option` in an Element Plus select."""
    for _ in range(3):
        await select.click()
        item = page.locator(".el-select-dropdown__item:visible", has_text=option).first
        await item.wait_for()
        await page.wait_for_timeout(300)  # the dropdown's opening animation, which never "settles" under load
        await item.click(force=True)
        await item.wait_for(state="hidden")
        if option in await select.inner_text():
            return
    raise AssertionError(f"could not choose {option!r}")


# long: one story end to end against real servers; its steps share the state they build
async def test_wucheng_three_steps_and_a_day_of_teaching_through_the_pages(county_world):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from shared.contracts import selection as sel
    from tests.support import eventually, publish

    wb, county, folder, servers = county_world
    expect.set_options(timeout=30_000)  # a page's reads on a busy shared machine, not a sleep
    user = lambda key: f"wf-{key}-{county}"  # noqa: E731
    today = local_today()
    starts = (today + __import__("datetime").timedelta(days=10)).isoformat()
    ends = (today + __import__("datetime").timedelta(days=12)).isoformat()
    out = shots()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            # 1. 组织部: import the roster file; the bad row is reported in the page
            org = await log_in(browser, wb, user("org"))
            await org.click("text=名册导入")
            await org.set_input_files("[data-test=upload] input[type=file]", str(roster_file(folder)))
            report = org.locator("[data-test=import-report]")
            await report.wait_for()
            text = await report.inner_text()
            assert "新登记 6 人" in text and "未导入 1 行" in text
            assert "赵刚" in text and "身份证号" in text
            await org.screenshot(path=str(out / "import-report.png"), full_page=True)

            # the registry: paged, searchable, names not ids
            await org.click("text=干部名册")
            await org.locator("[data-test=cadres] .el-table__row").first.wait_for()
            assert await org.locator("[data-test=cadres] .el-table__row").count() == 6
            await org.screenshot(path=str(out / "cadre-registry.png"))
            await org.fill("[data-test=search]", "王芳")
            await org.keyboard.press("Enter")
            await expect(org.locator("[data-test=cadres] .el-table__row")).to_have_count(1)

            # one cadre registered by hand: a mistyped 身份证号 is refused with the service's words
            await org.click("[data-test=add-cadre]")
            form = org.locator("[data-test=cadre-form]")
            good = id_number("1992-06-18", 300, True)
            bad = good[:-1] + ("0" if good[-1] != "0" else "1")
            await form.locator("input[placeholder=姓名]").fill("孙建国")
            await form.locator("input[placeholder='18 位身份证号']").fill(bad)
            await form.locator("input[placeholder=工作单位]").fill("县农业农村局")
            await org.click("[data-test=register]")
            await expect(org.locator("[data-test=register-problem]")).to_contain_text("校验位")
            await org.screenshot(path=str(out / "register-refused.png"))
            await form.locator("input[placeholder='18 位身份证号']").fill(good)
            await org.click("[data-test=register]")
            await expect(org.locator("[data-test=cadres] .el-table__body")).to_contain_text("孙建国")

            # 2. open a class with quotas for two units picked from the registry's units
            await org.click("text=开设班次")
            await org.fill("input[placeholder^='如：2026']", "武城县年轻干部培训班")
            await org.fill("input[placeholder=开班日期]", starts)
            await org.keyboard.press("Enter")
            await org.fill("input[placeholder=结业日期]", ends)
            await org.keyboard.press("Enter")
            await org.locator(".el-input-number input").first.fill("4")
            for unit in (UNIT_A, UNIT_B):
                await org.click("[data-test=add-quota]")
                await pick(org, org.locator("[data-test=open-class] .el-select").last, unit)
                await org.locator(".el-input-number input").last.fill("2")
                await org.keyboard.press("Tab")
            await org.screenshot(path=str(out / "open-class.png"), full_page=True)
            await org.click("[data-test=submit]")
            await org.wait_for_selector("[data-test=roster]")
            class_id = org.url.rsplit("/", 1)[1]
            assert "武城县年轻干部培训班" in await org.inner_text("h2")

            # 3. draw the scope: everyone with the reasons, township experience first
            await org.goto(f"{wb.url}/classes/{class_id}/scope")
            await org.click("text=有乡镇领导经历者优先")
            await org.click("[data-test=draw]")
            result = org.locator("[data-test=scope-result]")
            await result.wait_for()
            assert "共 7 人" in await result.inner_text()
            await org.screenshot(path=str(out / "scope.png"), full_page=True)

            # 4. the finance bureau's clerk: three ticked for a quota of two is refused as a whole
            fin = await log_in(browser, wb, user("fin"))
            tasks = fin.locator("[data-test=tasks] .el-table__body")
            await expect(tasks).to_contain_text("武城县年轻干部培训班：名额 2，已推荐 0，还可推荐 2 人")
            await fin.screenshot(path=str(out / "home-unit-quota.png"))
            await fin.goto(f"{wb.url}/unit/classes/{class_id}")
            table = fin.locator("[data-test=unit-scope] .el-table__body .el-table__row")
            await table.first.wait_for()
            assert await table.count() == 3  # only this unit's people
            for i in range(3):
                await table.nth(i).locator(".el-checkbox").click()
            await fin.click("[data-test=recommend]")
            refusal = fin.locator("[data-test=problem]")
            await refusal.wait_for()
            assert "整批未生效" in await refusal.inner_text()
            await fin.screenshot(path=str(out / "unit-refused.png"), full_page=True)
            await table.nth(2).locator(".el-checkbox").click()
            await fin.click("[data-test=recommend]")
            await expect(fin.locator("[data-test=nominees] .el-table__row")).to_have_count(2)
            await expect(fin.locator("[data-test=left]")).to_have_text("0")
            await fin.screenshot(path=str(out / "unit-recommended.png"), full_page=True)

            edu = await log_in(browser, wb, user("edu"))
            await edu.goto(f"{wb.url}/unit/classes/{class_id}")
            table = edu.locator("[data-test=unit-scope] .el-table__body .el-table__row")
            await table.first.wait_for()
            for i in range(2):
                await table.nth(i).locator(".el-checkbox").click()
            await edu.click("[data-test=recommend]")
            await expect(edu.locator("[data-test=nominees] .el-table__row")).to_have_count(2)

            # 5. 组织部 confirms: its home lists what waits, then one rejected with a reason,
            #    the others together
            await org.click("text=我的待办")
            await expect(org.locator("[data-test=tasks] .el-table__body")).to_contain_text(
                "武城县年轻干部培训班：4 名待确定"
            )
            await org.screenshot(path=str(out / "home-org-queue.png"))
            await org.click("text=待确定队列")
            card = org.locator("[data-test='queue-武城县年轻干部培训班']")
            await card.wait_for()
            rows = card.locator(".el-table__body .el-table__row")
            assert await rows.count() == 4
            await org.screenshot(path=str(out / "confirmation-queue.png"), full_page=True)
            await rows.nth(3).locator("text=不予确定").click()
            await org.fill(".el-message-box input", "本年度已参加同类培训")
            await org.click(".el-message-box .el-button--primary")
            await expect(rows).to_have_count(3)
            await card.locator(".el-table__header .el-checkbox").click()
            await card.locator("[data-test=confirm]").click()
            await org.wait_for_selector("text=没有待确定的人选")
            await org.goto(f"{wb.url}/classes/{class_id}")
            roster = await org.inner_text("[data-test=roster]")
            assert roster.count("已确定") == 3 and "未确定" in roster and "本年度已参加同类培训" in roster
            await org.screenshot(path=str(out / "class-page.png"), full_page=True)
            assert class_id not in await org.inner_text("body")  # names, never ids
            await org.click("text=统计报表")
            await org.locator("[data-test=coverage-chart] canvas").wait_for()
            await org.locator("[data-test=hours-chart] canvas").wait_for()
            assert "0 / 7 人" in await org.inner_text("main")  # nobody trained in five years yet
            await org.screenshot(path=str(out / "reports.png"), full_page=True)

            # a day of teaching: a class that started today, its roster as selection sent it
            day_class = f"day-{county}"
            await publish(
                servers.kafka,
                "selection",
                county,
                f"class-{day_class}",
                [
                    sel.ClassOpened(
                        class_id=day_class,
                        title="武城县村党组织书记示范班",
                        capacity=30,
                        starts_on=today,
                        ends_on=today,
                        organiser="县委党校",
                    ),
                    *[
                        sel.TraineeNominated(class_id=day_class, cadre_id=c, name=n, unit=u)
                        for c, n, u in TRAINEES_TODAY
                    ],
                    *[
                        sel.NominationConfirmed(class_id=day_class, cadre_id=c, name=n, unit=u)
                        for c, n, u in TRAINEES_TODAY
                    ],
                ],
            )

            # 6. 党校: catalogue, a session scheduled (a clash shown), roll call, graduation
            school = await log_in(browser, wb, user("school"))
            timetable = f"{wb.url}/api/teaching/classes/{day_class}/timetable"
            await eventually(lambda: _ok(school.request.get(timetable)))  # teaching has read the roster
            await school.click("text=课程与师资")
            form = school.locator("[data-test=course-form]")
            await form.locator("input").first.fill("习近平新时代中国特色社会主义思想概论")
            await form.locator("text=录入课程").click()
            await school.wait_for_selector("td:has-text('习近平新时代中国特色社会主义思想概论')")
            await school.click("text=师资（")
            await school.locator(".el-tab-pane:visible input").first.fill("刘教授")
            await school.click("text=录入师资")
            await school.wait_for_selector("td:has-text('刘教授')")
            await school.click("text=教学点（")
            await school.locator(".el-tab-pane:visible input").first.fill("党校一号教室")
            await school.click("text=录入教学点")
            await school.wait_for_selector("td:has-text('党校一号教室')")
            await school.locator(".el-tab-pane:visible input").first.fill("党校二号教室")
            await school.click("text=录入教学点")
            await school.wait_for_selector("td:has-text('党校二号教室')")
            await school.screenshot(path=str(out / "catalogue.png"), full_page=True)

            await school.goto(f"{wb.url}/school/classes/{day_class}")
            sf = school.locator("[data-test=schedule-form]")
            await sf.wait_for()
            selects = sf.locator(".el-select")
            await pick(school, selects.nth(0), "习近平新时代")
            await pick(school, selects.nth(1), "刘教授")
            await pick(school, selects.nth(2), "党校一号教室")
            await sf.locator("input[placeholder=上课日期]").fill(today.isoformat())
            await school.keyboard.press("Enter")
            await school.click("[data-test=schedule]")
            await school.wait_for_selector("[data-test=sessions] .el-table__row")
            # The same teacher at the same hour in the other room: a clash. (The very same
            # session sent again would be answered as the first was: a retry, not a clash.)
            await pick(school, selects.nth(2), "党校二号教室")
            await school.click("[data-test=schedule]")
            clash = school.locator("[data-test=clash]")
            await clash.wait_for()
            assert "排课冲突" in await clash.inner_text()
            await school.screenshot(path=str(out / "timetable-clash.png"), full_page=True)
            # 调课: the session moves to the afternoon, with the reason
            await school.click("[data-test=sessions] .el-table__body >> text=调课")
            move = school.locator("[data-test=reschedule-form]")
            await move.wait_for()
            await pick(school, move.locator(".el-select").nth(0), "14:00")
            await pick(school, move.locator(".el-select").nth(1), "16:30")
            await move.locator("input[placeholder=调课原因]").fill("授课教师上午参加县委常委会")
            await school.click("[data-test=reschedule]")
            # (a long time list may scroll under the click: the start is checked as "afternoon")
            moved = school.locator("[data-test=sessions] .el-table__body")
            await expect(moved).to_contain_text("–16:30")
            await expect(moved).not_to_contain_text("09:00–11:30")

            await school.click("text=我的待办")
            await expect(school.locator("[data-test=tasks] .el-table__body")).to_contain_text(
                "考勤未结束（3 人未签到）"
            )
            await school.screenshot(path=str(out / "home-school.png"))
            await school.click("[data-test=tasks] .el-table__body >> text=去办理")
            await school.wait_for_selector("[data-test=roll]")
            for name, mark in (("孙丽", "出勤"), ("钱军", "迟到"), ("吴霞", "请假")):
                await (
                    school.locator(f"[data-test=roll] .el-table__body [data-test='mark-{name}']")
                    .locator(f"text={mark}")
                    .click()
                )
            await school.locator("input[placeholder=请假事由]").fill("县里防汛值班")
            await school.screenshot(path=str(out / "roll-call.png"), full_page=True)
            await school.click("[data-test=save]")
            await school.wait_for_selector("[data-test=saved]")
            await school.click("[data-test=close]")
            await school.wait_for_selector("text=考勤已结束")
            sheet = await school.inner_text("[data-test=roll]")
            assert "出勤（迟到）" in sheet and "请假" in sheet
            await school.screenshot(path=str(out / "roll-call-closed.png"), full_page=True)

            await school.goto(f"{wb.url}/school/classes/{day_class}/graduation")
            await school.click("[data-test=graduate]")
            await school.wait_for_selector("[data-test=graduated] .el-table__row")
            graduated = await school.inner_text("[data-test=graduated]")
            assert "孙丽" in graduated and "钱军" in graduated
            assert "吴霞" in await school.inner_text("[data-test=not-graduated]")
            await school.screenshot(path=str(out / "graduation.png"), full_page=True)
            for page in (org, fin, edu, school):
                assert not page.errors, page.errors
        except BaseException:
            # what each open page showed when the test stopped, for the one reading the failure
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()
