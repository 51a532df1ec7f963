"""The workbench's pages for the people of training and after (issue 18): trainees,
recorders, evaluators and mentors, in Debian's Chromium, logged in through the real
Keycloak page, against the real selection, teaching, records and follow-up services on
real Kafka and the store. What other services would have sent (a class opened and its
trainees confirmed, an earlier class graduated) is put on their real topics.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.keycloak_support import services_of, wait_for_keys
from tests.support import until_ok

pytestmark = pytest.mark.integration
UNIT = "县财政局"
SUN = ("孙丽", "1990-07-15", "女")


def id_number(birth: str, serial: int, male: bool, county: str) -> str:
    """A valid 18-digit 身份证号 (GB 11643 check digit)."""
    seq = serial * 2 + (1 if male else 0)
    body = f"{county}{birth.replace('-', '')}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


@dataclass
class World:
    wb: WorkbenchProcess
    county: str
    servers: object
    urls: dict[str, str]
    ids: dict[str, str]

    def user(self, key: str) -> str:
        return f"wr-{key}-{self.county}"


@pytest.fixture(scope="module")
def world(identity, servers, tmp_path_factory):
    """Selection, teaching, records and follow-up (with its scheduler) of one county
    verifying Keycloak's tokens; the workbench in front of them; one account per role."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-roles")
    procs = services_of(identity, servers, county, folder, ("selection", "teaching", "records", "followup"))
    people = {"org": ("org_department", "李娜", None), "school": ("party_school", "赵磊", None)}
    for key, (role, name, unit) in people.items():
        identity.create_user(f"wr-{key}-{county}", role, county, unit=unit, name=name)
    org = identity.auth(f"wr-org-{county}", PASSWORD)
    wait_for_keys(procs, org, county)
    name, birth, gender = SUN
    r = httpx.post(
        procs["selection"].url + "/cadres",
        headers=org,
        timeout=30,
        json={
            "name": name,
            "id_number": id_number(birth, 101, gender == "男", county),
            "unit": UNIT,
            "rank": "副科",
        },
    )
    assert r.status_code == 201, r.text
    ids = {"sun": r.json()["cadre_id"]}
    identity.create_user(f"wr-trainee-{county}", "trainee", county, person_id=ids["sun"], name=name)
    wb = WorkbenchProcess(
        identity.issuer, {k: p.url for k, p in procs.items()}, folder / "workbench.log", servers.mongodb
    ).start()
    yield World(wb, county, servers, {k: p.url for k, p in procs.items()}, ids)
    wb.stop()
    for p in procs.values():
        p.stop()


# long: one story end to end against real servers; its steps share the state they build
async def test_a_trainee_s_classes_leave_answered_by_the_teacher_rating_hours_and_self_evaluation(
    world, identity
):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from shared.contracts import teaching as tea
    from tests.support import eventually, publish, publish_class

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    me = world.ids["sun"]
    today = local_today()
    klass, old = f"tr-{county}", f"old-{county}"
    # selection's part: this week's class with 孙丽 and 钱军 confirmed; last year's, graduated 40 days ago
    for class_id, title, starts, ends in (
        (klass, "武城县年轻干部培训班", today, today + timedelta(days=2)),
        (old, "武城县科级干部进修班", today - timedelta(days=45), today - timedelta(days=40)),
    ):
        people = [(me, "孙丽"), (f"qian-{county}", "钱军")]
        await publish_class(world.servers.kafka, county, class_id, title, (starts, ends), people, UNIT)
    await publish(
        world.servers.kafka,
        "teaching",
        county,
        f"teaching-class-{old}",
        [
            tea.TraineeGraduated(
                class_id=old,
                cadre_id=me,
                name="孙丽",
                unit=UNIT,
                graduated_on=today - timedelta(days=40),
                hours=32,
                attendance_rate=1.0,
                class_title="武城县科级干部进修班",
            )
        ],
        actor_name="赵磊",
    )

    # the party school schedules two sessions through its API and checks 孙丽 in to the first
    school = identity.auth(world.user("school"), PASSWORD)
    t = world.urls["teaching"]
    async with httpx.AsyncClient(base_url=t, headers=school, timeout=30) as api:
        for path, body in (
            (
                "/courses",
                {
                    "course_id": "c1",
                    "title": "习近平新时代中国特色社会主义思想概论",
                    "kind": "理论课",
                    "hours": 2.5,
                },
            ),
            ("/faculty", {"teacher_id": "t1", "name": "刘教授", "kind": "党校教师"}),
            ("/sites", {"site_id": "r1", "name": "党校一号教室", "capacity": 60}),
        ):
            assert (await api.post(path, json=body)).status_code == 201
        # the evening session is tomorrow's: a leave is asked before a session starts, and a run
        # after 22:00 (Beijing) found today's evening session begun and the leave refused
        tomorrow = today + timedelta(days=1)
        for sid, on, start, end in (("s1", today, "08:00", "10:00"), ("s2", tomorrow, "22:00", "23:30")):
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
            lambda: api.post(f"/classes/{klass}/sessions/s1/check-ins", json={"entries": [{"cadre_id": me}]}),
            "check-in",
        )

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            sun = await log_in(browser, wb, world.user("trainee"))
            shown = [t.strip() for t in await sun.locator(".el-menu-item").all_inner_texts()]
            assert shown == ["我的待办", "我的班次", "我的学时", "训后跟踪", "上讲台与成果"]
            await sun.click("text=我的班次")
            classes = sun.locator("[data-test=my-classes] .el-table__body")
            await expect(classes).to_contain_text("武城县年轻干部培训班")
            await expect(classes).to_contain_text("武城县科级干部进修班")
            await expect(sun.locator(".el-loading-mask")).to_have_count(0)
            await sun.screenshot(path=str(out / "trainee-classes.png"))
            await sun.click("text=武城县年轻干部培训班")
            rows = sun.locator("[data-test=my-sessions] .el-table__body .el-table__row")
            await expect(rows).to_have_count(2)
            await expect(rows.nth(0)).to_contain_text("出勤")

            # the calendar file of the timetable
            ics = await sun.request.get(wb.url + await sun.get_attribute("[data-test=ics]", "href"))
            assert ics.status == 200 and "text/calendar" in ics.headers["content-type"]
            assert "习近平新时代中国特色社会主义思想概论" in await ics.text()

            # rating the session attended: no stars is refused beside it, four stars are kept
            await rows.nth(0).locator("[data-test=send-rating]").click()
            await expect(rows.nth(0).locator("[data-test=rate-refusal]")).to_contain_text("评分")
            await rows.nth(0).locator(".el-rate__item").nth(3).click()
            await rows.nth(0).locator("input[placeholder^=意见建议]").fill("案例贴近基层，很实用")
            await rows.nth(0).locator("[data-test=send-rating]").click()
            await expect(sun.locator("[data-test=rated-s1]")).to_be_visible()

            # a leave request for the evening session: an empty reason is refused beside it
            await rows.nth(1).locator("[data-test=ask-leave]").click()
            await rows.nth(1).locator("[data-test=send-leave]").click()
            await expect(rows.nth(1).locator("[data-test=leave-refusal]")).to_contain_text("事由")
            await rows.nth(1).locator("input[placeholder=请假事由]").fill("县里防汛值班")
            await rows.nth(1).locator("[data-test=send-leave]").click()
            await expect(sun.locator("[data-test=leave-s2]")).to_contain_text("待审批")
            await sun.screenshot(path=str(out / "trainee-timetable.png"), full_page=True)

            # the teacher decides it in the roll call's leave inbox
            teacher = await log_in(browser, wb, world.user("school"))
            await teacher.goto(f"{wb.url}/school/classes/{klass}/sessions/s2")
            inbox = teacher.locator("[data-test=leave-inbox]")
            await expect(inbox).to_contain_text("县里防汛值班")
            await inbox.locator("text=批准").first.click()
            await expect(inbox).to_have_count(0)

            # the trainee sees the answer
            await sun.reload()
            await expect(sun.locator("[data-test=leave-s2]")).to_contain_text("已批准")
            await expect(sun.locator("[data-test=leave-s2]")).to_contain_text("赵磊")
            await sun.screenshot(path=str(out / "trainee-leave-answered.png"), full_page=True)
            body = await sun.inner_text("main")
            assert klass not in body and me not in body  # names, never ids

            # my hours: this year's attended session, against the policy; the cycle has last year's class
            # (selection folds teaching's events a moment later: wait for them, then open the page)
            mine = identity.auth(world.user("trainee"), PASSWORD)
            async with httpx.AsyncClient(headers=mine, timeout=30) as api:

                async def credited():
                    r = await api.get(world.urls["selection"] + "/me/training-record")
                    return r.status_code == 200 and r.json()["hours_this_year"] > 0 and r.json()["trainings"]

                await eventually(credited, timeout=90)

                async def due():
                    r = await api.get(world.urls["followup"] + "/me/followup")
                    return (
                        r.status_code == 200 and r.json()["classes"][0]["milestones"]["1"]["status"] == "due"
                    )

                await eventually(due, timeout=90)
            await sun.click("text=我的学时")
            year = sun.locator("[data-test=hours-this-year]")
            await expect(year).to_contain_text("要求 110 学时")
            await expect(year).to_contain_text("2.5")
            await expect(sun.locator("[data-test=cycle]")).to_contain_text("本周期内已参加轮训")
            await expect(sun.locator("[data-test=trainings]")).to_contain_text("武城县科级干部进修班")
            await sun.screenshot(path=str(out / "trainee-hours.png"), full_page=True)

            # follow-up: the month-1 milestone of last year's class is due; my self-evaluation, once
            await sun.click("text=训后跟踪")
            form = sun.locator("[data-test=self-form-1]")
            await form.wait_for()
            inputs = form.locator(".el-input-number input")
            assert await inputs.count() == 3
            await form.locator("[data-test=submit-self]").click()
            await expect(form.locator("[data-test=self-refusal]")).to_contain_text("打分")
            for i in range(3):
                await inputs.nth(i).fill(str(85 + i))
                await inputs.nth(i).press("Tab")
            await form.locator("textarea").fill("回单位后牵头梳理了预算绩效评价流程。")
            await form.locator("[data-test=submit-self]").click()
            await expect(sun.locator("[data-test=milestones]")).to_contain_text("本人：孙丽")
            await expect(sun.locator("[data-test=self-form-1]")).to_have_count(0)
            await sun.screenshot(path=str(out / "trainee-followup.png"), full_page=True)
            for page in (sun, teacher):
                assert not page.errors, page.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"roles-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()


# long: one story end to end against real servers; its steps share the state they build
async def test_a_recorder_s_week_records_a_correction_the_score_sheet_the_final_comment_and_the_pdf(
    world, identity
):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from tests.support import publish_class

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    today = local_today()
    klass = f"rec-{county}"
    people = [(f"r1-{county}", "张伟"), (f"r2-{county}", "王芳"), (f"r3-{county}", "陈静")]
    dates = (today - timedelta(days=7), today + timedelta(days=30))
    await publish_class(world.servers.kafka, county, klass, "武城县中青年干部培训班", dates, people, UNIT)
    person = f"rec-wang-{county}"
    identity.create_user(world.user("recorder"), "recorder", county, person_id=person, name="王老师")
    org = identity.auth(world.user("org"), PASSWORD)
    async with httpx.AsyncClient(base_url=world.urls["records"], headers=org, timeout=30) as api:
        await until_ok(
            lambda: api.post(
                f"/classes/{klass}/recorders",
                json={
                    "person_id": person,
                    "name": "王老师",
                    "role": "head_teacher",
                    "since": (today - timedelta(days=7)).isoformat(),
                },
            ),
            "assign the head teacher",
        )
        await until_ok(
            lambda: api.post(f"/classes/{klass}/scheme", json={"template": "huzhou"}), "set the scheme"
        )

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            rec = await log_in(browser, wb, world.user("recorder"))
            menu = [t.strip() for t in await rec.locator(".el-menu-item").all_inner_texts()]
            assert menu == ["我的待办", "我记录的班次"]
            await rec.click("text=我记录的班次")
            mine = rec.locator("[data-test=recorder-classes] .el-table__body")
            await expect(mine).to_contain_text("武城县中青年干部培训班")
            await expect(mine).to_contain_text("班主任")
            await expect(rec.locator(".el-loading-mask")).to_have_count(0)
            await rec.screenshot(path=str(out / "recorder-classes.png"))
            await mine.locator("text=武城县中青年干部培训班").click()
            await expect(rec.locator("[data-test=stale-count]")).to_contain_text("3 名学员近 7 天未被记录")
            await rec.screenshot(path=str(out / "recorder-roster.png"), full_page=True)
            # the roster is searched by the records service, one page at a time (issue 16)
            await rec.fill("[data-test=recording-roster-search]", "张伟")
            await rec.keyboard.press("Enter")
            await expect(rec.locator("[data-test=recording-roster-pages]")).to_contain_text("共 1 条")
            await expect(rec.locator("[data-test=recording-roster] .el-table__body tr")).to_have_count(1)

            # a record for 张伟: a date in the future is refused beside the date, then logged
            await rec.click("[data-test=recording-roster] >> text=张伟")
            form = rec.locator("[data-test=record-form]")
            await form.locator("text=思想动态").click()
            await form.locator("input[placeholder=观察日期]").fill((today + timedelta(days=1)).isoformat())
            await rec.keyboard.press("Enter")
            await form.locator("textarea").fill("小组讨论中主动发言，对基层治理有独到见解。")
            await rec.click("[data-test=save-record]")
            await expect(form.locator(".el-form-item__error")).to_contain_text("晚于今天")
            yesterday = (today - timedelta(days=1)).isoformat()
            await form.locator("input[placeholder=观察日期]").fill(yesterday)
            await rec.keyboard.press("Enter")
            await rec.click("[data-test=save-record]")
            records = rec.locator("[data-test=records]")
            await expect(records).to_contain_text("对基层治理有独到见解")

            # a correction: a new record linked to the first, which stays, marked corrected
            await records.locator("[data-test=correct]").first.click()
            await form.locator("textarea").fill("小组讨论中主动发言，对乡村振兴有独到见解。")
            await rec.click("[data-test=save-record]")
            await expect(records.locator("[data-test=record-corrected]")).to_contain_text(
                "对基层治理有独到见解"
            )
            await expect(records.locator("[data-test=record-current]")).to_contain_text("更正了")
            await expect(records.locator("[data-test=record-current]")).to_contain_text(
                "对乡村振兴有独到见解"
            )

            # the head teacher's final comment, seen at once in the record form's preview
            await rec.locator("[data-test=final-comment] textarea").fill(
                "该同志学习刻苦，党性坚强，结业鉴定为优秀。"
            )
            await rec.click("[data-test=save-comment]")
            frame = rec.frame_locator("[data-test=preview]")
            await expect(frame.locator("body")).to_contain_text("结业鉴定为优秀")
            await expect(frame.locator("body")).to_contain_text("对乡村振兴有独到见解")
            await rec.screenshot(path=str(out / "recorder-trainee.png"), full_page=True)
            pdf = await rec.request.get(wb.url + await rec.get_attribute("[data-test=form-pdf]", "href"))
            assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
            assert (await pdf.body()).startswith(b"%PDF")
            body = await rec.inner_text("main")
            assert klass not in body and people[0][0] not in body  # names, never ids

            # back on the roster: 张伟 has been recorded this week
            await rec.click("text=返回纪实名册")
            await expect(rec.locator("[data-test=stale-count]")).to_contain_text("2 名学员近 7 天未被记录")

            # the weekly score sheet: the head teacher's items, two trainees scored in one submit
            await rec.click("text=周评分表")
            sheet = rec.locator("[data-test=score-sheet] .el-table__body-wrapper .el-table__row")
            await expect(sheet).to_have_count(3)
            for i, pts in ((0, "10"), (1, "8.5")):
                cell = sheet.nth(i).locator(".el-input-number input").first
                await cell.fill(pts)
                await cell.press("Tab")
            await rec.screenshot(path=str(out / "recorder-score-sheet.png"), full_page=True)
            await rec.click("[data-test=submit-scores]")
            await expect(rec.locator("[data-test=scores-saved]")).to_contain_text("已保存 2 人")
            review = rec.locator("[data-test=week-review]")
            await expect(review).to_contain_text("本周尚未评分")
            await expect(review).to_contain_text("王老师")
            await rec.screenshot(path=str(out / "recorder-week-review.png"), full_page=True)
            # the same sheet again: nothing is changed, each row says why beside it
            await rec.click("[data-test=submit-scores]")
            await expect(rec.locator("[data-test=scores-saved]")).to_contain_text("已保存 0 人")
            await expect(sheet.nth(0).locator("[data-test=row-refused]")).to_contain_text("已评过分")
            await expect(sheet.nth(1).locator("[data-test=row-refused]")).to_contain_text("已评过分")
            assert not rec.errors, rec.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"roles-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()


def _months_before(day: date, months: int, days: int) -> date:
    from services.followup.domain import add_months

    return add_months(day, -months) - timedelta(days=days)


# long: one story end to end against real servers; its steps share the state they build
async def test_a_unit_leader_submits_a_month_3_evaluation_once_and_the_clerk_sees_what_is_due(
    world, identity
):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from shared.contracts import teaching as tea
    from tests.support import eventually, publish

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    today = local_today()
    klass, zhou = f"ev-{county}", f"zhou-{county}"
    graduated = _months_before(today, 3, 5)  # month 3 fell due five days ago
    await publish(
        world.servers.kafka,
        "teaching",
        county,
        f"teaching-class-{klass}",
        [
            tea.TraineeGraduated(
                class_id=klass,
                cadre_id=c,
                name=n,
                unit=u,
                graduated_on=graduated,
                hours=40,
                attendance_rate=1.0,
                class_title="武城县乡镇党委书记培训班",
            )
            for c, n, u in ((zhou, "周敏", UNIT), (f"other-{county}", "杨帆", "县教育局"))
        ],
        actor_name="赵磊",
    )
    identity.create_user(world.user("leader"), "evaluator", county, unit=UNIT, name="刘局长")
    identity.create_user(world.user("clerk"), "unit", county, unit=UNIT, name="王会计")
    org = identity.auth(world.user("org"), PASSWORD)
    async with httpx.AsyncClient(headers=org, timeout=30) as api:

        async def due():
            r = await api.get(world.urls["followup"] + "/worklist")
            items = r.json()["items"] if r.status_code == 200 else []
            return any(i["month"] == 3 and i["name"] == "周敏" for i in items)

        await eventually(due, timeout=90)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            leader = await log_in(browser, wb, world.user("leader"))
            menu = [t.strip() for t in await leader.locator(".el-menu-item").all_inner_texts()]
            assert menu == ["我的待办", "待我评价"]
            await leader.click("text=待我评价")
            rows = leader.locator("[data-test=due-list] .el-table__body")
            await expect(rows).to_contain_text("周敏")
            await expect(rows).to_contain_text("武城县乡镇党委书记培训班")
            assert "杨帆" not in await rows.inner_text()  # another unit's cadre is not listed
            await leader.screenshot(path=str(out / "evaluator-due.png"), full_page=True)

            await leader.click("[data-test=evaluate-周敏-3]")
            form = leader.locator("[data-test=evaluation-form]")
            await expect(form).to_contain_text("谈表现")
            await expect(form).to_contain_text("学用结合、运用所学情况")
            await form.locator("text=单位领导评价").click()
            inputs = form.locator(".el-input-number input")
            assert await inputs.count() == 3
            await inputs.nth(0).fill("90")
            await inputs.nth(0).press("Tab")
            # two questions unanswered: refused beside the button
            await leader.click("[data-test=submit-evaluation]")
            await expect(form.locator("[data-test=evaluation-refusal]")).to_contain_text("打分")
            for i, v in ((1, "88"), (2, "92")):
                await inputs.nth(i).fill(v)
                await inputs.nth(i).press("Tab")
            await form.locator("textarea").fill("回单位后牵头完成预算绩效改革，工作作风扎实。")
            await leader.screenshot(path=str(out / "evaluator-form.png"), full_page=True)
            await leader.click("[data-test=submit-evaluation]")
            await expect(leader.locator("[data-test=evaluation-done]")).to_contain_text(
                "周敏 第 3 个月的单位领导评价"
            )
            month3 = rows.locator(".el-table__row", has_text="第 3 个月")
            await expect(month3).not_to_contain_text("单位领导")  # no longer missing
            # a colleague's evaluation is still due
            await expect(month3.locator("[data-test=evaluate-周敏-3]")).to_have_count(1)

            # submitted once: the same role again is refused by the service
            r = await leader.request.post(
                f"{wb.url}/api/followup/classes/{klass}/trainees/{zhou}/milestones/3/evaluations",
                headers={
                    "x-csrf-token": await leader.evaluate(
                        "fetch('/api/me').then(r => r.json()).then(m => m.csrf_token)"
                    )
                },
                data={"role": "unit_leader", "scores": {"application": 80, "diligence": 80, "teamwork": 80}},
            )
            assert r.status == 422 and "不能重复提交" in (await r.json())["message"]

            # the unit's clerk sees which of its people are due, and what each still lacks
            clerk = await log_in(browser, wb, world.user("clerk"))
            await clerk.click("text=本单位跟踪待办")
            listed = clerk.locator("[data-test=due-list] .el-table__body")
            await expect(listed).to_contain_text("周敏")
            assert "杨帆" not in await listed.inner_text()
            await clerk.screenshot(path=str(out / "unit-followup-due.png"), full_page=True)
            body = await leader.inner_text("main")
            assert klass not in body and zhou not in body
            for page in (leader, clerk):
                assert not page.errors, page.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    await page.screenshot(path=str(out / f"roles-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()


# long: one story end to end against real servers; its steps share the state they build
async def test_a_mentor_records_one_of_the_three_tasks_of_their_mentee(world, identity):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from shared.contracts import teaching as tea
    from tests.support import publish

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    klass, wu = f"mt-{county}", f"wu-{county}"
    await publish(
        world.servers.kafka,
        "teaching",
        county,
        f"teaching-class-{klass}",
        [
            tea.TraineeGraduated(
                class_id=klass,
                cadre_id=wu,
                name="吴霞",
                unit=UNIT,
                graduated_on=local_today() - timedelta(days=20),
                hours=40,
                attendance_rate=1.0,
                class_title="武城县年轻干部实践锻炼班",
            )
        ],
        actor_name="赵磊",
    )
    mentor = f"mentor-liu-{county}"
    identity.create_user(world.user("mentor"), "mentor", county, person_id=mentor, name="刘副局长")
    org = identity.auth(world.user("org"), PASSWORD)
    async with httpx.AsyncClient(base_url=world.urls["followup"], headers=org, timeout=30) as api:
        await until_ok(
            lambda: api.put(
                f"/classes/{klass}/trainees/{wu}/mentor",
                json={"mentor_id": mentor, "mentor_name": "刘副局长", "mentor_post": "县财政局副局长"},
            ),
            "assign the mentor",
        )

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, world.user("mentor"))
            assert [t.strip() for t in await page.locator(".el-menu-item").all_inner_texts()] == [
                "我的待办",
                "我的帮带对象",
            ]
            await page.click("text=我的帮带对象")
            card = page.locator("[data-test=mentee-吴霞]")
            await expect(card).to_contain_text("武城县年轻干部实践锻炼班")
            await expect(card).to_contain_text("参与一件核心事务决策")
            await card.locator("[data-test=record-core_decision]").click()
            await card.locator("[data-test=save-task]").click()  # nothing written: refused beside it
            await expect(card.locator("[data-test=task-refusal]")).to_contain_text("不能为空")
            task = card.locator("[data-test=task-form-core_decision]")
            await task.locator("textarea").nth(0).fill("列席局党组会，参与年度预算安排决策（会议纪要第12期）")
            await task.locator("textarea").nth(1).fill("准备充分，发言有见地，决策参与到位。")
            await page.screenshot(path=str(out / "mentor-task-form.png"), full_page=True)
            await card.locator("[data-test=save-task]").click()
            done = card.locator("[data-test=task-done-core_decision]")
            await expect(done).to_contain_text("会议纪要第12期")
            await expect(done).to_contain_text("发言有见地")
            await expect(card.locator("[data-test=record-urgent_matter]")).to_be_visible()
            await page.screenshot(path=str(out / "mentor-mentees.png"), full_page=True)
            body = await page.inner_text("main")
            assert klass not in body and wu not in body
            assert not page.errors, page.errors
        except BaseException:
            for i, context in enumerate(browser.contexts):
                for j, p_ in enumerate(context.pages):
                    await p_.screenshot(path=str(out / f"roles-failed-{i}-{j}.png"), full_page=True)
            raise
        finally:
            await browser.close()
