"""Self check-in by QR, the leave inbox across sessions and the week grid (issue 17), in
Debian's Chromium, logged in through the real Keycloak page, against the real selection
and teaching services on real Kafka and the store: the teacher opens check-in on the roll
call, a trainee's phone-sized page (375×667) checks in with the code on the screen, an
old code is refused; a leave request is refused with a note in the inbox; the week grid
shows the sessions and opens one.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.keycloak_support import services_of, wait_for_keys
from tests.support import until_ok

pytestmark = pytest.mark.integration
UNIT = "县财政局"
SECRET = "selfcheck-test-secret"  # the deployment's check-in secret: the test makes an old code with it
PHONE = {"width": 375, "height": 667}


@dataclass
class World:
    wb: WorkbenchProcess
    county: str
    servers: object
    urls: dict[str, str]

    def user(self, key: str) -> str:
        return f"sc-{key}-{self.county}"


@pytest.fixture(scope="module")
def world(identity, servers, tmp_path_factory):
    """Selection and teaching of one county verifying Keycloak's tokens, the workbench in
    front of them, the party school's teacher and two trainees."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-selfcheck")
    procs = services_of(
        identity,
        servers,
        county,
        folder,
        ("selection", "teaching"),
        env={"teaching": {"GANXUN_TEACHING_CHECKIN_SECRET": SECRET}},
    )
    identity.create_user(f"sc-school-{county}", "party_school", county, name="赵磊")
    for key, name in (("sun", "孙丽"), ("qian", "钱军")):
        identity.create_user(f"sc-{key}-{county}", "trainee", county, person_id=f"{key}-{county}", name=name)
    wait_for_keys(procs, identity.auth(f"sc-school-{county}", PASSWORD), county)
    urls = {k: p.url for k, p in procs.items()}
    wb = WorkbenchProcess(identity.issuer, urls, folder / "workbench.log", servers.mongodb).start()
    yield World(wb, county, servers, urls)
    wb.stop()
    for p in procs.values():
        p.stop()


async def _class_opened(world, klass: str, today) -> None:
    """Selection's part: the class (from yesterday to the day after tomorrow) and its two
    confirmed trainees, on selection's topic."""
    from tests.support import publish_class

    county = world.county
    people = [(f"sun-{county}", "孙丽"), (f"qian-{county}", "钱军")]
    dates = (today - timedelta(days=1), today + timedelta(days=2))
    await publish_class(world.servers.kafka, county, klass, "武城县年轻干部培训班", dates, people, UNIT)


async def _class_with_two_sessions(world, identity, klass: str, now: datetime) -> None:
    """The class opened; the school's catalogue, a session going on now and one on another
    day, and 钱军's leave request for that one."""
    today = now.date()
    await _class_opened(world, klass, today)
    # going on now (begun half an hour ago, so a check-in is late), and another day of this
    # week (the week grid shows both): tomorrow, or yesterday on a Sunday
    starts = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0)).strftime("%H:%M")
    other = today + timedelta(days=1 if today.weekday() < 6 else -1)
    sessions = (("s1", today, starts, "23:59"), ("s2", other, "09:00", "11:30"))
    school = identity.auth(world.user("school"), PASSWORD)
    async with httpx.AsyncClient(base_url=world.urls["teaching"], headers=school, timeout=30) as api:
        for path, body in (
            ("/courses", {"course_id": "c1", "title": "新时代党的组织路线", "kind": "理论课", "hours": 2}),
            ("/faculty", {"teacher_id": "t1", "name": "刘教授", "kind": "党校教师"}),
            ("/sites", {"site_id": "r1", "name": "党校一号教室", "capacity": 60}),
        ):
            assert (await api.post(path, json=body)).status_code == 201
        for sid, on, start, end in sessions:
            await until_ok(
                lambda sid=sid, on=on, start=start, end=end: api.post(
                    f"/classes/{klass}/sessions",
                    json={
                        "session_id": sid,
                        "course_id": "c1",
                        "teacher_id": "t1",
                        "site_id": "r1",
                        "on": on.isoformat(),
                        "starts_at": start,
                        "ends_at": end,
                    },
                ),
                "schedule",
            )
        await until_ok(
            lambda: api.post(
                f"/classes/{klass}/sessions/s2/leave-requests",
                json={"cadre_id": f"qian-{world.county}", "reason": "县里防汛值班"},
            ),
            "leave request",
        )


async def _phone_check_in(browser, wb, username: str, path: str):
    """A phone-sized page opened from the QR's address, logged in through Keycloak, back on it."""
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(wb.url + path)
    await page.click("[data-test=login]")
    await page.wait_for_selector("#username")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#kc-login")
    await page.wait_for_selector("[data-test=self-check-in-page]")
    return page


async def _fits_the_phone(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a 375px phone"


# long: one story end to end against real servers; its steps share the state they build
async def test_qr_self_check_in_an_old_code_refused_the_leave_inbox_and_the_week_grid(world, identity):
    from playwright.async_api import async_playwright, expect

    from services.teaching.checkin import CheckinCodes
    from shared.clock import CHINA

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    now = datetime.now(CHINA).replace(tzinfo=None)
    if now.strftime("%H:%M") >= "23:50":
        pytest.skip("a session going on now cannot be scheduled in the day's last minutes")
    klass = f"sc-{county}"
    await _class_with_two_sessions(world, identity, klass, now)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            teacher = await log_in(browser, wb, world.user("school"))
            # the week grid: this week's two sessions as blocks; a click opens today's
            await teacher.goto(f"{wb.url}/school/classes/{klass}")
            await teacher.click("[data-test=view-grid]")
            grid = teacher.locator("[data-test=week-grid]")
            blocks = grid.locator("[data-test=block-新时代党的组织路线]")
            await expect(blocks).to_have_count(2)
            await expect(blocks.first).to_contain_text("刘教授")
            await expect(blocks.first).to_contain_text("党校一号教室")
            await teacher.screenshot(path=str(out / "school-week-grid.png"), full_page=True)
            await grid.locator("[data-session=s1]").click()
            await teacher.wait_for_url(f"**/school/classes/{klass}/sessions/s1")

            # the teacher opens self check-in: a QR with the current code
            await teacher.click("[data-test=open-check-in]")
            qr = teacher.locator("[data-test=qr]")
            await expect(qr.locator("svg")).to_be_visible()
            code = await qr.get_attribute("data-code")
            await expect(teacher.locator("[data-test=qr-attended]")).to_have_text("0")
            await teacher.screenshot(path=str(out / "school-check-in-qr.png"), full_page=True)

            # 孙丽 scans it: her phone logs in and checks her in, late (the session began before)
            sun = await _phone_check_in(browser, wb, world.user("sun"), f"/checkin/{klass}/s1?code={code}")
            done = sun.locator("[data-test=checked-in]")
            await expect(done).to_contain_text("签到成功（迟到）")
            await expect(sun.locator("[data-test=self-check-in-page]")).to_contain_text("新时代党的组织路线")
            await _fits_the_phone(sun)
            await sun.screenshot(path=str(out / "trainee-phone-checked-in.png"))
            # the same code again: already checked in
            await sun.goto(f"{wb.url}/checkin/{klass}/s1?code={code}")
            await expect(sun.locator("[data-test=check-in-refused]")).to_contain_text("无需重复签到")

            # 钱军 with a code shown two minutes ago: refused as old, nothing recorded
            # (signed for the class's stored id: the county's code before the id it was opened with)
            stored = f"{world.county}-{klass}"
            old = CheckinCodes(SECRET.encode()).issue(
                stored, "s1", datetime.now(CHINA) - timedelta(minutes=2)
            )
            qian = await _phone_check_in(
                browser, wb, world.user("qian"), f"/checkin/{klass}/s1?code={old['code']}"
            )
            refused = qian.locator("[data-test=check-in-refused]")
            await expect(refused).to_contain_text("签到码已过期")
            await _fits_the_phone(qian)
            await qian.screenshot(path=str(out / "trainee-phone-old-code.png"))

            # the roll call shows 孙丽 checked in (late) and 钱军 not
            roll = teacher.locator("[data-test=roll] .el-table__body")
            await expect(roll.locator(".el-table__row", has_text="孙丽")).to_contain_text(
                "出勤（迟到）", timeout=45_000
            )
            await expect(roll.locator(".el-table__row", has_text="钱军")).to_contain_text("未签到")
            await expect(teacher.locator("[data-test=qr-attended]")).to_have_text("1")

            # the leave inbox: 钱军's request for the other session, refused with a note
            await teacher.click(".el-menu-item >> text=请假审批")
            inbox = teacher.locator("[data-test=leave-inbox] .el-table__body")
            row = inbox.locator(".el-table__row", has_text="钱军")
            await expect(row).to_contain_text("县里防汛值班")
            await expect(row).to_contain_text("武城县年轻干部培训班")
            await expect(row).to_contain_text("《新时代党的组织路线》")
            await teacher.screenshot(path=str(out / "school-leave-inbox.png"), full_page=True)
            body = await teacher.inner_text("main")
            assert klass not in body and f"qian-{county}" not in body  # names, never ids
            await row.locator("[data-test=refuse-钱军]").click()
            await teacher.locator(".el-message-box input").fill("该课为必修课，请调整值班")
            await teacher.click(".el-message-box__btns .el-button--primary")
            await expect(inbox.locator(".el-table__row", has_text="钱军")).to_have_count(0)

            # the decision is on the session's sheet with its note
            school = identity.auth(world.user("school"), PASSWORD)
            r = httpx.get(f"{world.urls['teaching']}/classes/{klass}/sessions/s2/attendance", headers=school)
            leave = next(t for t in r.json()["trainees"] if t["name"] == "钱军")["leave"]
            assert leave["status"] == "未批准" and leave["note"] == "该课为必修课，请调整值班"
            for page in (teacher, sun, qian):
                assert not page.errors, page.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"selfcheck-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()
