"""How reminders leave the system: the `Channel` port, its adapters, and the service's
settings (one object, from GANXUN_REMINDERS_*).

- `EmailChannel`: SMTP (smtplib, run in a thread so the event loop never waits on a mail
  server), with STARTTLS or implicit TLS and a login when configured;
- `WebhookChannel`: posts the reminder as JSON to a province's SMS or messaging gateway
  (短信平台 / 政务消息平台), the person's mobile number as the address;
- `LogChannel`: writes the mail it would send to the log, for `ganxun up` and the demo.

A channel raises on failure; the handler records ReminderFailed and tries again after
the back-off (services/reminders/domain.py). Each message carries a Message-ID (and
the webhook an `idempotency_key`) made from the reminder's natural key, so a receiving
system can drop a copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from typing import Literal, Protocol

import httpx
import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reminders.domain import Message

log = structlog.get_logger("reminders.channels")


class ReminderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_REMINDERS_", extra="ignore")

    # "smtp" sends mail; "log" writes it to the service's log (the demo); "off" sends none.
    email: Literal["smtp", "log", "off"] = "log"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_from: str = "noreply@ganxun.local"
    smtp_from_name: str = "干部教育培训提醒"
    smtp_starttls: bool = False  # upgrade a plain connection (port 587)
    smtp_ssl: bool = False  # TLS from the first byte (port 465)
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    smtp_timeout: float = Field(15.0, gt=0)
    # The SMS / messaging gateway: reminders are POSTed here as JSON when set.
    webhook_url: str | None = None
    webhook_token: str | None = Field(None, repr=False)
    # Where the links in a reminder point (the workbench's address as users reach it).
    workbench_url: str = "http://127.0.0.1:8110"
    tick_seconds: float = Field(30.0, gt=0)
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_seconds: float = Field(60.0, gt=0)  # doubled after each failure
    # 每日汇总: the hour (China's time, 0-23) a person who chose a digest gets it
    digest_hour: int = Field(8, ge=0, le=23)
    # 结束考勤: a session's roll call is reminded this long after its end (the closer
    # ends sessions by itself within a minute; the reminder is for one it could not close)
    roll_call_grace_minutes: int = Field(30, ge=0, le=24 * 60)


class Channel(Protocol):
    """A way to reach a person. `address` is None when the person gave none for it."""

    name: str

    def address(self, person: dict) -> str | None: ...

    async def send(self, to: str, message: Message, message_id: str) -> None: ...


def message_id(user_id: str, item_id: str, channel: str) -> str:
    digest = hashlib.sha256(f"{user_id}|{item_id}|{channel}".encode()).hexdigest()[:32]
    return f"<{digest}@ganxun.reminders>"


class EmailChannel:
    name = "email"

    def __init__(self, s: ReminderSettings) -> None:
        self.s = s

    def address(self, person: dict) -> str | None:
        return person.get("email")

    def _mail(self, to: str, message: Message, mid: str) -> EmailMessage:
        m = EmailMessage()
        m["Subject"] = message.subject
        m["From"] = formataddr((self.s.smtp_from_name, self.s.smtp_from))
        m["To"] = to
        m["Message-ID"] = mid
        m.set_content(message.body)
        return m

    def _send(self, to: str, message: Message, mid: str) -> None:
        s = self.s
        context = ssl.create_default_context()
        smtp = (
            smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context)
            if s.smtp_ssl
            else smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        )
        with smtp:
            if s.smtp_starttls and not s.smtp_ssl:
                smtp.starttls(context=context)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(self._mail(to, message, mid))

    async def send(self, to: str, message: Message, message_id: str) -> None:
        await asyncio.to_thread(self._send, to, message, message_id)


class LogChannel:
    """Stands in for the mail server where there is none (`ganxun up`): the log shows
    each mail once, as it would have been sent."""

    name = "log"  # recorded as such: switching to SMTP later mails what was only logged

    def address(self, person: dict) -> str | None:
        return person.get("email")

    async def send(self, to: str, message: Message, message_id: str) -> None:
        log.info("reminder.mail", to=to, subject=message.subject, body=message.body, message_id=message_id)


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout: float = 15.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def address(self, person: dict) -> str | None:
        return person.get("phone")

    async def send(self, to: str, message: Message, message_id: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            r = await client.post(
                self.url,
                headers=headers,
                json={
                    "to": to,
                    "subject": message.subject,
                    "text": message.body,
                    "link": message.link,
                    "idempotency_key": message_id,
                },
            )
        if r.status_code >= 300:
            raise RuntimeError(f"短信/消息网关回复 {r.status_code}：{r.text[:200]}")


def channels_from(s: ReminderSettings) -> list[Channel]:
    out: list[Channel] = []
    if s.email == "smtp":
        out.append(EmailChannel(s))
    elif s.email == "log":
        out.append(LogChannel())
    if s.webhook_url:
        out.append(WebhookChannel(s.webhook_url, s.webhook_token))
    return out
