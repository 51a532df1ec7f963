"""Events published by the reminders service (提醒): what was sent to whom, and what a
person has read.

One stream per person who is reminded (`inbox:<user id>`, the user id their token
carries: a trainee's cadre id, a mentor's id, else the account's username). The
natural key of a reminder is (item, channel): an item is one piece of due work
(`eval:<milestone id>:unit`, `overdue:<milestone id>`, `leave:…`), so each person gets
each item's reminder at most once per channel, whatever restarts or redeliveries.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("reminders")


@register
class ContactSet(Event, type="ContactSet", version=1):
    """提醒方式 — where a person wants reminders: an e-mail address and a mobile number
    (for the SMS / messaging gateway), with who they are as their token says."""

    personal = ("name", "email", "phone")
    person_field = "user_id"

    user_id: str
    name: str
    role: str
    jurisdiction: str
    unit: str | None = None
    email: str | None = None
    phone: str | None = None
    # 每日汇总: one message a day (at the deployment's digest hour) instead of one per item
    digest: bool = False


@register
class ReminderSent(Event, type="ReminderSent", version=1):
    """提醒已发送 — one item's reminder went out through one channel. The address and the
    subject (which names the trainee) are sealed under the recipient's key."""

    personal = ("to", "subject")
    person_field = "user_id"

    user_id: str
    item_id: str
    channel: str
    to: str
    subject: str
    sent_at: datetime
    attempt: int = Field(1, ge=1)


@register
class DigestSent(Event, type="DigestSent", version=1):
    """每日汇总已发送 — one message through one channel listing the person's reminders due
    since the last digest (`item_ids`); at most one per person, day (China's) and channel.
    Each item listed counts as reminded through that channel, as a ReminderSent would. The
    address and the subject are sealed under the recipient's key, as a ReminderSent's are."""

    personal = ("to", "subject")
    person_field = "user_id"

    user_id: str
    channel: str
    day: date
    item_ids: list[str]
    to: str
    subject: str
    sent_at: datetime


@register
class ReminderFailed(Event, type="ReminderFailed", version=2):
    """提醒发送失败 — tried again after `retry_at`; after the last attempt `gave_up`. The
    address is sealed under the recipient's key; v2: so is the error (a mail server's answer
    quotes the address)."""

    personal = ("to", "error")
    person_field = "user_id"

    user_id: str
    item_id: str
    channel: str
    to: str
    error: str = Field(max_length=500)
    failed_at: datetime
    attempt: int = Field(ge=1)
    retry_at: datetime | None = None
    gave_up: bool = False


@register
class NotificationRead(Event, type="NotificationRead", version=1):
    """已读 — the person opened an in-app notification."""

    user_id: str
    item_id: str
    read_at: datetime


# v1 carried the error in the clear; same shape, so the step up is the identity.
CATALOGUE.upcaster("ReminderFailed", 1)(dict)
