"""Leave for a session already begun (issue 18), in Debian's Chromium, logged in through
the real Keycloak page, against the real selection and teaching services on real Kafka
and the store: a trainee asking leave for today's session, begun half an hour ago, sees
the refusal beside that session and nothing is stored; their request for tomorrow's goes
through. The party school, after the session, closes its roll call and excuses the
absence (补假) on it.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, log_in, shots
from tests.integration.test_workbench_selfcheck import _class_opened, world  # noqa: F401 - the fixture
from tests.support import until_ok

pytestmark = pytest.mark.integration
COURSES = (("c1", "新时代党的组织路线"), ("c2", "基层治理能力提升"))


async def _two_sessions(world, identity, klass: str, now: datetime) -> None:  # noqa: F811
    """The class; a session going on now (begun half an hour ago) and one tomorrow."""
    today = now.date()
    await _class_opened(world, klass, today)
    starts = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0)).strftime("%H:%M")
    sessions = (
        ("s1", "c1", today, starts, "23:59"),
        ("s2", "c2", today + timedelta(days=1), "09:00", "11:30"),
    )
    school = identity.auth(world.user("school"), PASSWORD)
    async with httpx.AsyncClient(base_url=world.urls["teaching"], headers=school, timeout=30) as api:
        for path, body in (
            *[("/courses", {"course_id": c, "title": t, "kind": "理论课", "hours": 2}) for c, t in COURSES],
            ("/faculty", {"teacher_id": "t1", "name": "刘教授", "kind": "党校教师"}),
            ("/sites", {"site_id": "r1", "name": "党校一号教室", "capacity": 60}),
        ):
            assert (await api.post(path, json=body)).status_code == 201
        for sid, course, on, start, end in sessions:
            body = {"session_id": sid, "course_id": course, "teacher_id": "t1", "site_id": "r1"}
            body |= {"on": on.isoformat(), "starts_at": start, "ends_at": end}
            await until_ok(lambda body=body: api.post(f"/classes/{klass}/sessions", json=body), "schedule")


# long: one story end to end against real servers; its steps share the state they build
async def test_leave_for_a_session_begun_is_refused_beside_it_and_the_school_excuses_afterwards(
    world,  # noqa: F811
    identity,
):
    from playwright.async_api import async_playwright, expect

    from shared.clock import CHINA

    expect.set_options(timeout=30_000)
    wb, out = world.wb, shots()
    now = datetime.now(CHINA).replace(tzinfo=None)
    if now.strftime("%H:%M") >= "23:50":
        pytest.skip("a session going on now cannot be scheduled in the day's last minutes")
    klass = f"lv-{world.county}"
    await _two_sessions(world, identity, klass, now)
    teaching, school = world.urls["teaching"], identity.auth(world.user("school"), PASSWORD)
    today, tomorrow = now.date().isoformat(), (now.date() + timedelta(days=1)).isoformat()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            qian = await log_in(browser, wb, world.user("qian"))
            await qian.goto(f"{wb.url}/me/classes/{klass}")
            rows = qian.locator("[data-test=my-sessions] .el-table__body .el-table__row")
            begun, later = rows.filter(has_text=today), rows.filter(has_text=tomorrow)
            await begun.locator("[data-test=ask-leave]").click()
            await begun.locator("input[placeholder=请假事由]").fill("县里临时接待检查")
            await begun.locator("[data-test=send-leave]").click()
            refusal = begun.locator("[data-test=leave-refusal]")
            await expect(refusal).to_contain_text("已于")
            await expect(refusal).to_contain_text("开始，不能再申请请假")
            await expect(refusal).to_contain_text("《新时代党的组织路线》")
            await expect(refusal).to_contain_text("请联系党校在考勤表上补假")
            await expect(later.locator("[data-test=leave-refusal]")).to_have_count(0)  # beside its session
            await qian.screenshot(path=str(out / "trainee-leave-refused.png"), full_page=True)
            # tomorrow's session: asked in time, it waits for the school's answer
            await later.locator("[data-test=ask-leave]").click()
            await later.locator("input[placeholder=请假事由]").fill("参加县防汛会议")
            await later.locator("[data-test=send-leave]").click()
            await expect(later).to_contain_text("请假待审批")

            # nothing was stored for the session begun
            sheet = httpx.get(f"{teaching}/classes/{klass}/sessions/s1/attendance", headers=school).json()
            assert next(t for t in sheet["trainees"] if t["name"] == "钱军")["leave"] is None

            # the school: 孙丽 present, the roll call closed (钱军 absent), then 补假 on it
            teacher = await log_in(browser, wb, world.user("school"))
            await teacher.goto(f"{wb.url}/school/classes/{klass}/sessions/s1")
            roll = teacher.locator("[data-test=roll] .el-table__body")
            await roll.locator("[data-test='mark-孙丽']").locator("text=出勤").click()
            await teacher.click("[data-test=save]")
            await teacher.wait_for_selector("[data-test=saved]")
            await teacher.click("[data-test=close]")
            await teacher.wait_for_selector("text=考勤已结束")
            row = roll.locator(".el-table__row", has_text="钱军")
            await expect(row).to_contain_text("缺勤")
            await row.locator("[data-test='excuse-钱军']").click()
            await row.locator("input[placeholder=补假事由]").fill("县里临时接待检查，已报备")
            await row.locator("[data-test=excuse-save]").click()
            record = row.locator("td").last  # the 记录 column (the marks' labels name 缺勤 too)
            await expect(record).to_contain_text("请假")
            await expect(record).to_contain_text("已补假")
            await expect(record).not_to_contain_text("缺勤")
            await expect(row.locator("label.is-active")).to_have_text("请假")  # the mark follows
            await teacher.screenshot(path=str(out / "roll-call-excused.png"), full_page=True)
            body = await teacher.inner_text("main")
            assert f"qian-{world.county}" not in body and klass not in body  # names, never ids

            sheet = httpx.get(f"{teaching}/classes/{klass}/sessions/s1/attendance", headers=school).json()
            assert sheet["closed"] and sheet["counts"] == {"出勤": 1, "请假": 1}
            rates = httpx.get(f"{teaching}/classes/{klass}/attendance", headers=school).json()
            qian_row = next(t for t in rates["trainees"] if t["name"] == "钱军")
            assert (qian_row["absent"], qian_row["excused"]) == (1, 1)
            for page in (qian, teacher):
                assert not page.errors, page.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"leave-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()
