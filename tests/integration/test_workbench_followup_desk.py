"""The organisation department's follow-up desk (跟踪问效工作台, issue 18) in Debian's Chromium,
logged in through the real Keycloak page, against the real selection, follow-up (with its
scheduler) and reminders (with its sender, mailing a real local SMTP server) services on real
Kafka and the store. Graduations are put on teaching's real topic, dated so that today one
class's month-1 milestones are due and another's is overdue (the movable clock is refused
where an identity provider is configured, so the dates move instead of the clock).

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy.local.process import free_port
from tests.integration.test_reminders_mail import Mailbox
from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.integration.test_workbench_roles import id_number
from tests.keycloak_support import services_of, wait_for_keys

pytestmark = pytest.mark.integration
FINANCE, EDUCATION = "县财政局", "县教育局"
YOUNG, SENIOR = "武城县年轻干部培训班", "武城县科级干部进修班"
LEAD_MAIL = "lingdao@czj.example.gov.cn"


@dataclass
class Desk:
    wb: WorkbenchProcess
    county: str
    servers: object
    procs: dict
    ids: dict[str, str]
    box: Mailbox


PEOPLE = {"sun": ("孙丽", FINANCE), "zhou": ("周强", EDUCATION), "qian": ("钱军", FINANCE)}


def _services(identity, servers, county: str, folder, smtp_port: int) -> dict:
    """The three services; follow-up plans every half second, reminders mail to the local SMTP."""
    env = {
        "followup": {"GANXUN_FOLLOWUP_TICK_SECONDS": "0.5"},
        "reminders": {
            "GANXUN_REMINDERS_EMAIL": "smtp",
            "GANXUN_REMINDERS_SMTP_HOST": "127.0.0.1",
            "GANXUN_REMINDERS_SMTP_PORT": str(smtp_port),
            "GANXUN_REMINDERS_TICK_SECONDS": "0.5",
        },
    }
    more = {"followup": "scheduler", "reminders": "sender"}
    return services_of(identity, servers, county, folder, ("selection", "followup", "reminders"), env, more)


@pytest.fixture(scope="module")
def desk(identity, servers, tmp_path_factory):
    """Selection, follow-up and reminders of one county verifying Keycloak's tokens, a local SMTP
    server, the workbench in front of them; the accounts the story needs."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("followup-desk")
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    procs = _services(identity, servers, county, folder, smtp.port)
    users = {
        "org": ("org_department", "李娜", None, None),
        "czj": ("unit", "财政局王科长", FINANCE, None),
        "jyj": ("unit", "教育局刘科长", EDUCATION, None),
    }
    for key, (role, name, unit, person) in users.items():
        identity.create_user(f"fd-{key}-{county}", role, county, unit=unit, name=name, person_id=person)
    org = identity.auth(f"fd-org-{county}", PASSWORD)
    wait_for_keys(procs, org, county)
    ids = {}
    for n, (key, (name, unit)) in enumerate(PEOPLE.items()):
        r = httpx.post(
            procs["selection"].url + "/cadres",
            headers=org,
            timeout=30,
            json={
                "name": name,
                "id_number": id_number("1988-03-0" + str(n + 1), 200 + n, n % 2 == 0, county),
                "unit": unit,
                "rank": "副科",
            },
        )
        assert r.status_code == 201, r.text
        ids[key] = r.json()["cadre_id"]
    identity.create_user(f"fd-zhou-{county}", "trainee", county, person_id=ids["zhou"], name="周强")
    wb = WorkbenchProcess(
        identity.issuer, {k: p.url for k, p in procs.items()}, folder / "workbench.log", servers.mongodb
    ).start()
    yield Desk(wb, county, servers, procs, ids, box)
    wb.stop()
    for p in procs.values():
        p.stop()
    smtp.stop()


async def _answer(call, done, what: str, timeout: float = 90):
    """A read as soon as it shows what the story did (projections and sweeps lag a little)."""
    from tests.support import eventually

    async def ok():
        r = await call()
        return r if r.status_code < 300 and done(r.json()) else None

    try:
        return await eventually(ok, timeout=timeout, interval=0.5)
    except AssertionError:
        r = await call()
        raise AssertionError(f"{what}: {r.status_code} {r.text[:800]}") from None


async def _graduate(d: Desk, classes: dict[str, str]) -> None:
    """Teaching's graduations, on its real topic."""
    from shared.clock import local_today
    from shared.contracts import teaching as tea
    from tests.support import publish

    today = local_today()
    for key, title, ago, who in (("young", YOUNG, 40, ("sun", "zhou")), ("senior", SENIOR, 60, ("qian",))):
        await publish(
            d.servers.kafka,
            "teaching",
            d.county,
            f"teaching-class-{classes[key]}",
            [
                tea.TraineeGraduated(
                    class_id=classes[key],
                    cadre_id=d.ids[c],
                    name=PEOPLE[c][0],
                    unit=PEOPLE[c][1],
                    graduated_on=today - timedelta(days=ago),
                    hours=32,
                    attendance_rate=1.0,
                    class_title=title,
                )
                for c in who
            ],
            actor_name="赵磊",
        )


async def _given_graduates_evaluations_and_a_reminder(identity, d: Desk) -> dict[str, str]:
    """孙丽 and 周强 graduated from the young cadres' class 40 days ago (month 1 due, within its
    grace of 14 days), 钱军 from the senior class 60 days ago (month 1 overdue); 周强's month 1 is
    completed by himself and his unit; 县财政局's clerk gives a reminder address and is mailed."""
    from tests.support import eventually

    # full ids, as selection names a county's classes (shared/scoped_ids.py): the lists show them
    classes = {"young": f"{d.county}-fy", "senior": f"{d.county}-fs"}
    await _graduate(d, classes)
    clerk = identity.auth(f"fd-czj-{d.county}", PASSWORD)
    r = httpx.put(
        f"{d.procs['reminders'].url}/contacts/me", headers=clerk, json={"email": LEAD_MAIL}, timeout=30
    )
    assert r.status_code == 200, r.text
    fu = d.procs["followup"].url
    org = identity.auth(f"fd-org-{d.county}", PASSWORD)
    async with httpx.AsyncClient(base_url=fu, timeout=30) as api:
        await _answer(
            lambda: api.get("/worklist", headers=org),
            lambda w: (
                {(i["name"], i["status"]) for i in w["items"]}
                >= {("孙丽", "due"), ("周强", "due"), ("钱军", "overdue")}
            ),
            "the work list names the three graduates",
        )
        path = f"/classes/{classes['young']}/trainees/{d.ids['zhou']}/milestones/1/evaluations"
        zhou = identity.auth(f"fd-zhou-{d.county}", PASSWORD)
        unit = identity.auth(f"fd-jyj-{d.county}", PASSWORD)
        scores = {"ideals": 90, "learning": 80, "attitude": 85}
        for who, role, name in (
            (zhou, "self", None),
            (unit, "colleague", "何同事"),
            (unit, "unit_leader", "吴局长"),
        ):
            body = {"role": role, "scores": scores, "text": "学以致用，成效明显。"}
            r = await api.post(path, headers=who, json={**body, **({"evaluator_name": name} if name else {})})
            assert r.status_code == 201, r.text
        await _answer(
            lambda: api.get(f"/classes/{classes['young']}/effect", headers=org),
            lambda e: e["milestones_completed"] == 1,
            "周强's month 1 completed",
        )

    async def mailed():
        return [m for m in d.box.to(LEAD_MAIL) if "孙丽" in m["Subject"]]

    await eventually(mailed, timeout=90)
    return classes


# long: one story end to end against real servers; its steps share the state they build
async def test_the_desk_shows_due_work_missing_evaluations_reminders_the_effect_charts_and_a_file(
    desk, identity
):
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=30_000)
    d, out = desk, shots()
    classes = await _given_graduates_evaluations_and_a_reminder(identity, d)
    org = identity.auth(f"fd-org-{d.county}", PASSWORD)
    fu = d.procs["followup"].url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = await log_in(browser, d.wb, f"fd-org-{d.county}")
        await page.click("text=跟踪问效")
        finance = page.locator(f"[data-test='group-{FINANCE}']")
        sun = finance.locator("tr", has_text="孙丽")
        await expect(sun.locator("[data-test=missing]")).to_have_text(
            "本人（孙丽）、同事（县财政局）、单位领导（县财政局）"
        )
        # the reminder the clerk was mailed, by name, channel, address (the sweep may land after the page)
        for _ in range(40):
            if LEAD_MAIL in (await sun.locator("[data-test=reminders]").inner_text()):
                break
            await page.reload()
            sun = page.locator(f"[data-test='group-{FINANCE}']").locator("tr", has_text="孙丽")
            await sun.locator("[data-test=reminders]").wait_for()
        reminders = await sun.locator("[data-test=reminders]").inner_text()
        assert (
            "跟踪评价 → 财政局王科长（县财政局）" in reminders
            and "邮件" in reminders
            and LEAD_MAIL in reminders
        )
        qian = finance.locator("tr", has_text="钱军")
        await expect(qian).to_contain_text("已逾期")
        await expect(qian).to_contain_text(SENIOR)
        await page.screenshot(path=str(out / "followup-desk.png"), full_page=True)

        # the desk's counts per class are follow-up's own answers
        worklist = httpx.get(f"{fu}/worklist", headers=org, timeout=30).json()
        shown = {}
        for row in await page.locator("[data-test=class-counts] .el-table__body tr").all():
            cells = [c.strip() for c in await row.locator("td").all_inner_texts()]
            shown[cells[0]] = tuple(cells[1:4])
        expected = {}
        for key, title in ((k, YOUNG if k == "young" else SENIOR) for k in classes):
            items = [i for i in worklist["items"] if i["class_id"] == classes[key]]
            effect = httpx.get(f"{fu}/classes/{classes[key]}/effect", headers=org, timeout=30).json()
            expected[title] = tuple(
                str(n)
                for n in (
                    sum(i["status"] == "due" for i in items),
                    sum(i["status"] == "overdue" for i in items),
                    effect["milestones_completed"],
                )
            )
        assert shown == expected == {YOUNG: ("1", "0", "1"), SENIOR: ("0", "1", "0")}

        # the effect report of the young cadres' class: its charts render, its Excel downloads
        await page.locator("[data-test=class-counts] tr", has_text=YOUNG).locator("text=图表与导出").click()
        await expect(page.locator("[data-test=effect-charts]")).to_have_attribute("data-drawn", "true")
        for chart in ("month-chart", "question-chart", "completion-chart"):
            await expect(page.locator(f"[data-test={chart}] canvas").first).to_be_visible()
        await expect(page.locator("h2.page-title")).to_contain_text(YOUNG)
        await expect(page.locator("[data-test=effect-trainees]")).to_contain_text("周强")
        href = await page.locator("[data-test=effect-xlsx]").get_attribute("href")
        xlsx = await page.request.get(d.wb.url + href)
        assert xlsx.status == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxml")
        await page.wait_for_timeout(500)  # the charts' entry animation, for the screenshot only
        await page.screenshot(path=str(out / "followup-effect.png"), full_page=True)

        # the trainee's file, from the cadre's page: every evaluation by name with its scores
        await page.goto(f"{d.wb.url}/cadres/{d.ids['zhou']}")
        await page.click("[data-test=followup-file-link]")
        milestones = page.locator(f"[data-test='file-class-{YOUNG}'] [data-test=file-milestones]")
        await expect(milestones).to_contain_text("单位领导：吴局长")
        await expect(milestones).to_contain_text("同事：何同事")
        await expect(milestones).to_contain_text("理想信念与党性认识 90")
        await expect(milestones).to_contain_text("已完成")
        await page.screenshot(path=str(out / "followup-file.png"), full_page=True)
        # and from the desk: 孙丽's file, her month 1 due with no evaluation yet
        await page.goto(f"{d.wb.url}/followup/desk")
        await page.locator(f"[data-test='group-{FINANCE}']").locator("a", has_text="孙丽").click()
        await expect(page.locator("h2.page-title")).to_contain_text("孙丽")
        await expect(page.locator(f"[data-test='file-class-{YOUNG}']")).to_contain_text("尚无评价")
        assert page.errors == []
        await browser.close()
