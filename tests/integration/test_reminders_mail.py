"""Reminders by e-mail, against the real servers: a trainee graduates (on teaching's
topic), the real follow-up service schedules the milestones, the clock moves to month 3,
and the reminders service mails the unit leader and the trainee through a real local
SMTP server (aiosmtpd), whose mailbox this test reads. The reminders service is then
restarted: no second mail goes out, and the notifications show what was sent."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import date

import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy.local.process import free_port
from shared.contracts.teaching import TraineeGraduated
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration

GRADUATED = date(2025, 3, 10)
MONTH_3 = date(2025, 6, 10)
FINANCE = "县财政局"
TITLE = "2025年春季中青年干部培训班"
LEAD_MAIL, TRAINEE_MAIL = "lingdao@czj.example.gov.cn", "zhangwei@czj.example.gov.cn"


class Mailbox:
    """What the local SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


@pytest.fixture(scope="module")
def mailbox():
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        yield box, smtp.port
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def followup(servers, county, tmp_path_factory):
    proc = ServiceProcess(
        settings("followup", servers, [county]),
        components="api,relay,projectors,scheduler",
        log=tmp_path_factory.mktemp("fu") / "followup.log",
        env={"GANXUN_FOLLOWUP_MOVABLE_CLOCK": "1", "GANXUN_FOLLOWUP_TICK_SECONDS": "0.3"},
    )
    with proc.start():
        yield proc


def reminders_process(servers, county, smtp_port: int, log, database: str | None = None) -> ServiceProcess:
    s = settings("reminders", servers, [county], **({"database": database} if database else {}))
    return ServiceProcess(
        s,
        components="api,relay,projectors,sender",
        log=log,
        env={
            "GANXUN_REMINDERS_EMAIL": "smtp",
            "GANXUN_REMINDERS_SMTP_HOST": "127.0.0.1",
            "GANXUN_REMINDERS_SMTP_PORT": str(smtp_port),
            "GANXUN_REMINDERS_TICK_SECONDS": "0.3",
            "GANXUN_REMINDERS_WORKBENCH_URL": "https://ganxun.example.gov.cn",
        },
    )


# One scenario read top to bottom (each step stands on the one before), hence its length.
# long: one story end to end against real servers; its steps share the state they build
async def test_month_3_reminders_arrive_by_mail_once(servers, county, followup, mailbox, tmp_path):
    box, smtp_port = mailbox
    class_id = f"rm-{random_county()}"
    log = tmp_path / "reminders.log"
    reminders = reminders_process(servers, county, smtp_port, log).start()
    try:
        lead = auth("unit", county, "财政局领导乙", user_id="lead-czj", unit=FINANCE)
        trainee = auth("trainee", county, "张伟", user_id="A")
        for who, address in [(lead, LEAD_MAIL), (trainee, TRAINEE_MAIL)]:
            r = httpx.put(f"{reminders.url}/contacts/me", headers=who, json={"email": address})
            assert r.status_code == 200 and r.json()["email"] == address, r.text
        bad = httpx.put(f"{reminders.url}/contacts/me", headers=lead, json={"email": "不是邮箱"})
        assert (
            bad.status_code == 422 and bad.json()["field"] == "email" and "电子邮箱" in bad.json()["message"]
        )

        admin = auth("admin", county)
        r = httpx.put(f"{followup.url}/admin/clock", headers=admin, json={"today": str(GRADUATED)})
        assert r.status_code == 200, r.text
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
                    unit=FINANCE,
                    graduated_on=GRADUATED,
                    hours=40,
                    attendance_rate=1.0,
                    class_title=TITLE,
                )
            ],
        )
        org = auth("org_department", county)

        async def scheduled():
            r = httpx.get(f"{followup.url}/trainees/A/followup", headers=org)
            return r.status_code == 200

        await eventually(scheduled, timeout=60)
        assert box.messages == []  # nothing is due yet

        moved = time.monotonic()
        r = httpx.put(f"{followup.url}/admin/clock", headers=admin, json={"today": str(MONTH_3)})
        assert r.status_code == 200, r.text

        async def arrived():
            return len(box.to(LEAD_MAIL)) >= 2 and len(box.to(TRAINEE_MAIL)) >= 2

        await eventually(arrived, timeout=90)
        print(f"\nfour mails arrived {time.monotonic() - moved:.1f} s after the clock moved to month 3")
        month_3 = [m for m in box.to(LEAD_MAIL) if "3个月" in m["Subject"]]
        assert [m["Subject"] for m in month_3] == ["【干训提醒】请对张伟完成3个月跟踪评价"]
        body = month_3[0].get_content()
        assert TITLE in body and "谈表现" in body and "2025-06-10" in body and FINANCE in body
        assert "https://ganxun.example.gov.cn/" in body
        assert "干部教育培训提醒" in str(month_3[0]["From"])
        assert {m["Subject"] for m in box.to(TRAINEE_MAIL)} == {
            f"【干训提醒】请完成{n}个月跟踪自评：{TITLE}" for n in (1, 3)
        }

        # What was sent is on record, in the leader's notifications.
        async def recorded():
            r = httpx.get(f"{reminders.url}/notifications", headers=lead, params={"status": "open"})
            items = r.json()["items"] if r.status_code == 200 else []
            return items if len(items) == 2 and all(i["reminders"] for i in items) else None

        items = await eventually(recorded, timeout=30)
        assert {i["month"] for i in items} == {1, 3} and items[0]["reminders"][0]["to"] == LEAD_MAIL
        assert all(i["trainee"]["name"] == "张伟" and i["class_title"] == TITLE for i in items)
        count = len(box.messages)
        database = reminders.settings.database_name
    finally:
        reminders.stop()

    # Restarted (same database): it sweeps again, and nothing goes out twice.
    again = reminders_process(servers, county, smtp_port, log, database=database).start()
    try:
        before = httpx.get(f"{again.url}/sender", headers=auth("admin", county)).json()["sweeps"]

        async def swept_twice():
            r = httpx.get(f"{again.url}/sender", headers=auth("admin", county))
            return r.json()["sweeps"] >= before + 3

        await eventually(swept_twice, timeout=30)
        assert len(box.messages) == count
        sent = [(m["X-Envelope-To"], m["Subject"]) for m in box.messages]
        assert len(sent) == len(set(sent)) == 4
        # Read one: the unread count drops; one that is not the caller's is refused in Chinese.
        page = httpx.get(f"{again.url}/notifications", headers=lead).json()
        assert page["unread"] == 2
        r = httpx.post(f"{again.url}/notifications/{page['items'][0]['id']}/read", headers=lead)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{again.url}/notifications/{page['items'][0]['id']}/read", headers=trainee)
        assert r.status_code == 404 and r.json()["code"] == "notification_not_found"

        async def read():
            return httpx.get(f"{again.url}/notifications", headers=lead).json()["unread"] == 1

        await eventually(read, timeout=30)
    finally:
        again.stop()
