"""The party school's reminders against the real servers (Kafka, the store, a real local
SMTP server, aiosmtpd): sessions that ended without their roll call closed and a leave
request, published on teaching's and selection's topics. One of the school's staff chose
a daily digest and gets one mail listing all three; a colleague who did not gets one mail
per item. Restarted on the same database, the service sends no digest twice.

The digest hour is set to this hour (China time), so the digest is due while the test
runs; that it waits for its hour is the handler test's
(tests/unit/test_reminders_handlers.py::test_a_daily_digest_lists_every_reminder_due_since_the_last_once_a_day).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from shared.clock import CHINA
from shared.contracts.selection import ClassOpened
from shared.contracts.teaching import AttendanceClosed, LeaveRequested, SessionScheduled
from tests.integration.test_reminders_mail import mailbox  # noqa: F401 - the SMTP server fixture
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
TITLE = "2026年秋季年轻干部培训班"
DIGEST_MAIL, EACH_MAIL = "jiaowu@dangxiao.example.gov.cn", "banzhuren@dangxiao.example.gov.cn"


def reminders_process(servers, county, smtp_port, hour, log, database=None) -> ServiceProcess:
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
            "GANXUN_REMINDERS_DIGEST_HOUR": str(hour),
        },
    )


def session(class_id: str, sid: str, on: date, title: str) -> SessionScheduled:
    return SessionScheduled(
        class_id=class_id,
        session_id=sid,
        course_id=f"c-{sid}",
        course_title=title,
        kind="理论课",
        on=on,
        starts_at=time(9),
        ends_at=time(11, 30),
        hours=2.5,
        teacher_id="t1",
        teacher_name="刘教授",
        site_id="room-1",
    )


async def _within_one_hour() -> int:
    """This hour (China time), waiting out an hour's last minutes so the test stays in it."""
    now = datetime.now(CHINA)
    if now.minute >= 54:  # the story takes about a minute idle, two or three under load
        await asyncio.sleep((60 - now.minute) * 60 - now.second + 2)
    return datetime.now(CHINA).hour


# long: one story end to end against real servers; its steps share the state they build
async def test_a_daily_digest_and_single_reminders_of_sessions_to_close(servers, mailbox, tmp_path):  # noqa: F811
    box, smtp_port = mailbox
    county, class_id = random_county(), f"dg-{random_county()}"
    hour = await _within_one_hour()
    yesterday = datetime.now(CHINA).date() - timedelta(days=1)
    log = tmp_path / "reminders.log"
    reminders = reminders_process(servers, county, smtp_port, hour, log).start()
    try:
        digest = auth("party_school", county, "教务处孙老师", user_id="ps-sun")
        each = auth("party_school", county, "班主任周老师", user_id="ps-zhou")
        r = httpx.put(f"{reminders.url}/contacts/me", headers=each, json={"email": EACH_MAIL})
        assert r.status_code == 200 and r.json()["digest"] is False, r.text

        await publish(
            servers.kafka,
            "selection",
            county,
            f"class-{class_id}",
            [
                ClassOpened(
                    class_id=class_id,
                    title=TITLE,
                    capacity=40,
                    starts_on=yesterday - timedelta(days=2),
                    ends_on=yesterday + timedelta(days=5),
                    organiser="县委党校",
                )
            ],
        )
        # One stream here, so the events are folded in this order (teaching keeps attendance
        # on a stream per session; the other order is the handler tests').
        await publish(
            servers.kafka,
            "teaching",
            county,
            f"teaching-timetable-{county}",
            [
                session(class_id, "s1", yesterday - timedelta(days=1), "新时代党的组织路线"),
                session(class_id, "s2", yesterday, "基层治理能力提升"),
                session(class_id, "s3", yesterday, "红色家风专题"),
                AttendanceClosed(class_id=class_id, session_id="s3", absent=0),  # closed: no reminder
                LeaveRequested(class_id=class_id, session_id="s3", cadre_id="A", reason="参加防汛值班"),
            ],
        )

        # 周老师 wants each reminder as it falls due: three mails (two roll calls, the leave)
        async def each_arrived():
            return len(box.to(EACH_MAIL)) >= 3

        await eventually(each_arrived, timeout=90)
        # 孙老师 then chooses the daily digest (its hour is this one): one mail, all three
        r = httpx.put(
            f"{reminders.url}/contacts/me", headers=digest, json={"email": DIGEST_MAIL, "digest": True}
        )
        assert r.status_code == 200 and r.json()["digest"] is True and r.json()["digest_hour"] == hour, r.text

        async def digest_arrived():
            return len(box.to(DIGEST_MAIL)) >= 1

        await eventually(digest_arrived, timeout=60)
        [mail] = box.to(DIGEST_MAIL)
        assert mail["Subject"] == f"【干训提醒】每日汇总：3 项待办（{datetime.now(CHINA).date()}）"
        body = mail.get_content()
        assert (
            body.count(f"“{TITLE}”") >= 3
            and "《新时代党的组织路线》" in body
            and "《基层治理能力提升》" in body
        )
        assert "参加防汛值班" in body and "《红色家风专题》考勤未结束" not in body, body
        subjects = sorted(m["Subject"] for m in box.to(EACH_MAIL))
        assert len(subjects) == 3 and sum("考勤未结束" in s for s in subjects) == 2, subjects

        # What the digest listed shows as reminded, on each item of the in-app list.
        async def recorded():
            r = httpx.get(f"{reminders.url}/notifications", headers=digest, params={"status": "open"})
            items = r.json()["items"] if r.status_code == 200 else []
            return items if len(items) == 3 and all(i["reminders"] for i in items) else None

        items = await eventually(recorded, timeout=30)
        assert {i["kind_name"] for i in items} == {"结束考勤", "请假审批"}
        assert all(i["reminders"][0]["to"] == DIGEST_MAIL for i in items)
        count, database = len(box.messages), reminders.settings.database_name
    finally:
        reminders.stop()

    again = reminders_process(servers, county, smtp_port, hour, log, database=database).start()
    try:
        admin = auth("admin", county)
        before = httpx.get(f"{again.url}/sender", headers=admin).json()["sweeps"]

        async def swept():
            return httpx.get(f"{again.url}/sender", headers=admin).json()["sweeps"] >= before + 3

        await eventually(swept, timeout=30)
        assert len(box.messages) == count  # no digest twice, no single reminder twice
    finally:
        again.stop()
