"""The notification bell in Debian's Chromium: a unit clerk logs in through the real
Keycloak, sees the badge for a month-3 evaluation of one of the unit's trainees (the
reminders service followed follow-up's real topic on real Kafka and the store), opens it,
finds it on 我的待办 with the mail that was sent, and sets where their reminders go (a
wrong e-mail refused in Chinese, a right one kept). Screenshots in tests/artifacts/workbench/."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from shared.contracts.followup import MilestoneDue, MilestoneScheduled
from shared.contracts.teaching import TraineeGraduated
from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.keycloak_support import wait_for_keys
from tests.support import ServiceProcess, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
UNIT = "县财政局"
TITLE = "2025年春季中青年干部培训班"


@pytest.fixture(scope="module")
def bell_world(identity, servers, tmp_path_factory):
    county = random_county()
    folder = tmp_path_factory.mktemp("reminders-browser")
    proc = ServiceProcess(
        settings("reminders", servers, [county]),
        log=folder / "reminders.log",
        env={"GANXUN_OIDC_ISSUER": identity.issuer, "GANXUN_REMINDERS_TICK_SECONDS": "0.5"},
    )
    proc.start()
    username = f"rb-clerk-{county}"
    identity.create_user(username, "unit", county, unit=UNIT, name="财政局 王芳", password=PASSWORD)
    bearer = identity.auth(username, PASSWORD)
    wait_for_keys({"reminders": proc}, bearer, county)
    wb = WorkbenchProcess(
        identity.issuer, {"reminders": proc.url}, folder / "workbench.log", servers.mongodb
    ).start()
    yield wb, county, username, proc, bearer
    wb.stop()
    proc.stop()


# One scenario read top to bottom (each step stands on the one before), hence its length.
# long: one story end to end against real servers; its steps share the state they build
async def test_a_unit_clerk_sees_the_month_3_evaluation_in_the_bell(bell_world, servers):
    from playwright.async_api import async_playwright

    wb, county, username, proc, bearer = bell_world
    class_id = f"rb-{county}"
    await publish(
        servers.kafka,
        "teaching",
        county,
        f"class-{class_id}",
        [
            TraineeGraduated(
                class_id=class_id,
                cadre_id="A",
                name="张伟",
                unit=UNIT,
                graduated_on=date(2025, 3, 10),
                hours=40,
                attendance_rate=1.0,
                home_jurisdiction=county,
                class_title=TITLE,
            )
        ],
    )
    mid = f"{class_id}:A:3"
    await publish(
        servers.kafka,
        "followup",
        county,
        f"followup:{class_id}:A",
        [
            MilestoneScheduled(
                milestone_id=mid,
                class_id=class_id,
                cadre_id="A",
                name="张伟",
                unit=UNIT,
                month=3,
                due_on=date(2025, 6, 10),
                required_roles=["self", "colleague", "unit_leader"],
                home_jurisdiction=county,
            ),
            MilestoneDue(
                milestone_id=mid, class_id=class_id, cadre_id="A", month=3, due_on=date(2025, 6, 10)
            ),
        ],
    )

    async def projected():
        r = httpx.get(proc.url + "/notifications", headers=bearer, timeout=30)
        return r.status_code == 200 and r.json()["unread"] == 1

    await eventually(projected, timeout=60)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, username)
            badge = page.locator("[data-test=bell] .el-badge__content")
            await badge.wait_for()
            assert (await badge.inner_text()).strip() == "1"
            await page.click("[data-test=bell] button")
            item = page.locator("[data-test=notification]").first
            await item.wait_for()
            assert "请对张伟完成3个月跟踪评价" in await item.inner_text()
            await page.screenshot(path=str(shots() / "reminders-bell.png"))

            # Opened: read, and on 我的待办 with its text naming the class and the stage.
            await page.locator("main .el-tag", has_text="1 条未读").wait_for()
            await page.locator("[data-test=notifications] .el-button", has_text="标为已读").wait_for()
            await item.click()
            rows = page.locator("[data-test=notifications] .el-table__row")
            await rows.first.wait_for()
            text = await rows.first.inner_text()
            assert "谈表现" in text and TITLE in text and "待办" in text
            await page.locator("[data-test=notifications] .el-button", has_text="标为已读").wait_for(
                state="detached"
            )
            # (the tag's leave transition takes a moment)
            await page.locator("main .el-tag", has_text="条未读").wait_for(state="detached")
            await page.wait_for_function(
                "() => !document.querySelector('[data-test=bell] .el-badge__content')"
                " || getComputedStyle(document.querySelector('[data-test=bell] .el-badge__content')).display"
                " === 'none'"
            )
            await page.screenshot(path=str(shots() / "reminders-my-tasks.png"))

            # Where the reminders go: a wrong address is refused in Chinese beside the field.
            await page.click("[data-test=bell] button")
            await page.click("[data-test=contact]")
            dialog = page.locator(".el-dialog")
            await dialog.locator("input").first.fill("wangfang-at-czj")
            await dialog.locator("button.el-button--primary").click()
            error = dialog.locator(".el-form-item__error")
            await error.wait_for()
            assert "电子邮箱" in await error.inner_text()
            await dialog.locator("input").first.fill("wangfang@czj.example.gov.cn")
            await dialog.locator("button.el-button--primary").click()
            await page.wait_for_selector(".el-message--success")
            r = httpx.get(proc.url + "/contacts/me", headers=bearer, timeout=30)
            assert r.json()["email"] == "wangfang@czj.example.gov.cn"
            assert not page.errors, page.errors
            await page.context.close()
        finally:
            await browser.close()
