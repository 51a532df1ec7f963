"""Sharing talks, outcomes and a mentor's evidence files in the workbench (issue 18), in
Debian's Chromium, logged in through the real Keycloak page, against the real selection,
teaching and follow-up services on real Kafka and the store. The graduation teaching would
have sent is put on its real topic.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.keycloak_support import services_of, wait_for_keys

pytestmark = pytest.mark.integration
UNIT = "县农业农村局"
# A small valid PNG (1×1, red): what a phone's photo is to the service, judged by its bytes.
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc000000301010018dd8db00000000049454e44ae426082"
)


@dataclass
class World:
    wb: WorkbenchProcess
    county: str
    servers: object
    urls: dict[str, str]

    def user(self, key: str) -> str:
        return f"ws-{key}-{self.county}"


@pytest.fixture(scope="module")
def world(identity, servers, tmp_path_factory):
    """Selection, teaching and follow-up (with its scheduler) of one county verifying
    Keycloak's tokens; the workbench in front of them; the department's account."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-sharing")
    procs = services_of(identity, servers, county, folder, ("selection", "teaching", "followup"))
    identity.create_user(f"ws-org-{county}", "org_department", county, name="李娜")
    wait_for_keys(procs, identity.auth(f"ws-org-{county}", PASSWORD), county)
    urls = {k: p.url for k, p in procs.items()}
    wb = WorkbenchProcess(identity.issuer, urls, folder / "workbench.log", servers.mongodb).start()
    yield World(wb, county, servers, urls)
    wb.stop()
    for p in procs.values():
        p.stop()


async def graduated(world: World, org: dict, klass: str, cadre: str, name: str, title: str, days_ago: int):
    """Teaching's part: the trainee graduated `days_ago`; waits until follow-up filed it."""
    from shared.clock import local_today
    from shared.contracts import teaching as tea
    from tests.support import eventually, publish

    await publish(
        world.servers.kafka,
        "teaching",
        world.county,
        f"teaching-class-{klass}",
        [
            tea.TraineeGraduated(
                class_id=klass,
                cadre_id=cadre,
                name=name,
                unit=UNIT,
                graduated_on=local_today() - timedelta(days=days_ago),
                hours=40,
                attendance_rate=1.0,
                class_title=title,
            )
        ],
        actor_name="赵磊",
    )

    async def filed():
        r = httpx.get(f"{world.urls['followup']}/trainees/{cadre}/followup", headers=org, timeout=30)
        return r.status_code == 200

    await eventually(filed, timeout=90)


PLACEHOLDERS = {
    "talk-on": "上讲台日期",
    "talk-audience": "听众（如：本局全体干部）",
    "talk-topic": "题目",
    "outcome-title": "成果标题",
    "endorse-by": "批示领导或采纳单位",
    "endorse-on": "日期",
    "endorse-note": "批示内容或采纳情况",
}


def field(page, name: str):
    """A text box of the page by the hint the user reads in it."""
    return page.get_by_placeholder(PLACEHOLDERS[name], exact=True)


async def failed_shots(browser, out) -> None:
    for i, context in enumerate(browser.contexts):
        for j, p_ in enumerate(context.pages):
            await p_.screenshot(path=str(out / f"sharing-failed-{i}-{j}.png"), full_page=True)


# long: one story end to end against real servers; its steps share the state they build
async def test_a_mentor_attaches_a_photo_to_a_task_and_downloads_it_back(world, identity):
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    klass, zhou = f"ma-{county}", f"zhou-{county}"
    org = identity.auth(world.user("org"), PASSWORD)
    await graduated(world, org, klass, zhou, "周敏", "武城县乡村振兴专题培训班", 30)
    mentor = f"mentor-he-{county}"
    identity.create_user(world.user("mentor"), "mentor", county, person_id=mentor, name="何局长")
    r = httpx.put(
        f"{world.urls['followup']}/classes/{klass}/trainees/{zhou}/mentor",
        headers=org,
        json={"mentor_id": mentor, "mentor_name": "何局长", "mentor_post": "县农业农村局局长"},
        timeout=30,
    )
    assert r.status_code == 201, r.text

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, world.user("mentor"))
            await page.click("text=我的帮带对象")
            card = page.locator("[data-test=mentee-周敏]")
            await card.locator("[data-test=record-urgent_matter]").click()
            task = card.locator("[data-test=task-form-urgent_matter]")
            files = task.locator("[data-test=task-files]")
            # a page renamed to a photo is refused, naming the file
            await files.set_input_files(
                [{"name": "防汛现场.jpg", "mimeType": "image/jpeg", "buffer": b"<html>not a photo</html>"}]
            )
            await expect(card.locator("[data-test=task-refusal]")).to_contain_text("防汛现场.jpg")
            await expect(card.locator("[data-test=task-refusal]")).to_contain_text("只能上传")
            await files.set_input_files(
                [{"name": "防汛会商现场.png", "mimeType": "image/png", "buffer": PHOTO}]
            )
            await expect(task.locator("[data-test=task-uploaded]")).to_contain_text("防汛会商现场.png")
            await task.locator("textarea").nth(0).fill("牵头处置村道塌方险情（处置记录及现场照片）")
            await task.locator("textarea").nth(1).fill("反应迅速，组织有序，群众满意。")
            await page.screenshot(path=str(out / "mentor-task-attachment-form.png"), full_page=True)
            await card.locator("[data-test=save-task]").click()
            done = card.locator("[data-test=task-done-urgent_matter]")
            await expect(done).to_contain_text("村道塌方")
            link = done.locator("[data-test=task-attachment] a")
            await expect(link).to_have_text("防汛会商现场.png")
            await page.screenshot(path=str(out / "mentor-task-attachment.png"), full_page=True)
            async with page.expect_download() as got:
                await link.click()
            download = await got.value
            assert download.suggested_filename == "防汛会商现场.png"
            assert open(await download.path(), "rb").read() == PHOTO
            assert not page.errors, page.errors
        except BaseException:
            await failed_shots(browser, out)
            raise
        finally:
            await browser.close()


# long: one story end to end against real servers; its steps share the state they build
async def test_a_trainee_records_a_talk_and_an_outcome_and_the_department_endorses_it(world, identity):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    klass, zheng = f"so-{county}", f"zheng-{county}"
    org = identity.auth(world.user("org"), PASSWORD)
    await graduated(world, org, klass, zheng, "郑凯", "武城县中青年干部培训班", 10)
    identity.create_user(world.user("trainee"), "trainee", county, person_id=zheng, name="郑凯")
    today = local_today()
    title = "关于农村集体经济发展的调研报告"

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, world.user("trainee"))
            await page.goto(f"{wb.url}/sharing?class={klass}")
            await expect(page.locator("[data-test=sharing-class]")).to_contain_text("武城县中青年干部培训班")
            form = page.locator("[data-test=talk-form]")
            # a talk dated before the graduation it follows is refused, saying so
            await field(page, "talk-on").fill(str(today - timedelta(days=11)))
            await field(page, "talk-on").press("Enter")
            await field(page, "talk-audience").fill("局机关全体干部")
            await field(page, "talk-topic").fill("学习贯彻党的二十届三中全会精神体会")
            await form.locator("[data-test=save-talk]").click()
            await expect(form.locator("[data-test=talk-refusal]")).to_contain_text("早于郑凯的结业日期")
            await field(page, "talk-on").fill(str(today - timedelta(days=2)))
            await field(page, "talk-on").press("Enter")
            await form.locator("[data-test=save-talk]").click()
            await expect(page.locator("[data-test=talks]")).to_contain_text(
                "学习贯彻党的二十届三中全会精神体会"
            )
            outcome = page.locator("[data-test=outcome-form]")
            await field(page, "outcome-title").fill(title)
            await outcome.locator("[data-test=save-outcome]").click()
            await expect(page.locator("[data-test=outcomes]")).to_contain_text(title)
            await expect(page.locator("[data-test=outcomes]")).to_contain_text("郑凯")
            await page.screenshot(path=str(out / "sharing-trainee.png"), full_page=True)
            assert not page.errors, page.errors

            page = await log_in(browser, wb, world.user("org"))
            await page.click("text=上讲台与成果")
            await page.goto(f"{wb.url}/sharing?class={klass}")
            await expect(page.locator("[data-test=talks]")).to_contain_text("郑凯")
            await page.locator(f"[data-test='endorse-{title}']").click()
            form = page.locator("[data-test=endorse-form]")
            await field(page, "endorse-by").fill("县委书记")
            # an endorsement dated before the outcome is refused
            await field(page, "endorse-on").fill(str(today - timedelta(days=1)))
            await field(page, "endorse-on").press("Enter")
            await field(page, "endorse-note").fill("请县农业农村局研究吸收")
            await form.locator("[data-test=save-endorsement]").click()
            await expect(form.locator("[data-test=endorse-refusal]")).to_contain_text("早于成果")
            await field(page, "endorse-on").fill(str(today))
            await field(page, "endorse-on").press("Enter")
            await form.locator("[data-test=save-endorsement]").click()
            endorsed = page.locator(f"[data-test='endorsement-{title}']")
            await expect(endorsed).to_contain_text("领导批示")
            await expect(endorsed).to_contain_text("县委书记")
            await page.screenshot(path=str(out / "sharing-endorsed.png"), full_page=True)
            body = await page.inner_text("main")
            assert klass not in body and zheng not in body
            assert not page.errors, page.errors
        except BaseException:
            await failed_shots(browser, out)
            raise
        finally:
            await browser.close()
