"""The reminders' rules, pure: who is reminded of what, each reminder once, back-off
after a failure, and a reminder's text naming people and classes, not ids."""

from datetime import datetime, timedelta

import pytest

from services.reminders.domain import (
    InboxDecider,
    MarkRead,
    RecordFailed,
    RecordSent,
    SetContact,
    compose,
    keys_of,
    should_send,
    visible_to,
)
from shared.clock import CHINA
from shared.commands import fold
from shared.errors import DomainError

D = InboxDecider()
NOW = datetime(2025, 6, 10, 9, 0, tzinfo=CHINA)
ITEM = "eval:k1:c1:3:unit"


def when(given: list, command):
    return D.decide(fold(D, given), command)


def sent(item=ITEM, channel="email"):
    return RecordSent(
        user_id="lead", item_id=item, channel=channel, to="lead@example.gov.cn", subject="s", at=NOW
    )


def failed(at=NOW, max_attempts=3):
    return RecordFailed(
        user_id="lead",
        item_id=ITEM,
        channel="email",
        to="lead@example.gov.cn",
        error="timeout",
        at=at,
        max_attempts=max_attempts,
        backoff=timedelta(minutes=1),
    )


def test_a_reminder_is_sent_once_per_item_and_channel():
    first = when([], sent())
    assert [e.event_type for e in first] == ["ReminderSent"]
    assert when(first, sent()) == []  # a restart or a second worker: nothing
    assert [e.event_type for e in when(first, sent(channel="webhook"))] == ["ReminderSent"]
    assert [e.event_type for e in when(first, sent(item="overdue:k1:c1:3"))] == ["ReminderSent"]
    assert not should_send(fold(D, first), ITEM, "email", NOW)


def test_a_failure_is_retried_after_a_doubling_back_off_then_given_up():
    one = when([], failed())
    assert one[0].attempt == 1 and one[0].retry_at == NOW + timedelta(minutes=1)
    state = fold(D, one)
    assert not should_send(state, ITEM, "email", NOW + timedelta(seconds=59))
    assert should_send(state, ITEM, "email", NOW + timedelta(minutes=1))
    two = when(one, failed(at=NOW + timedelta(minutes=1)))
    assert two[0].attempt == 2 and two[0].retry_at == NOW + timedelta(minutes=3)
    three = when(one + two, failed(at=NOW + timedelta(minutes=3)))
    assert three[0].gave_up and three[0].retry_at is None
    assert not should_send(fold(D, one + two + three), ITEM, "email", NOW + timedelta(days=30))
    assert when(one, sent())[0].attempt == 2  # the retry that got through says so


def test_contact_details_are_checked_and_a_repeat_changes_nothing():
    c = SetContact(
        user_id="lead",
        name="领导乙",
        role="unit",
        jurisdiction="371428",
        unit="县财政局",
        email="lead@example.gov.cn",
        phone="138 0000 0000",
    )
    first = when([], c)
    assert first[0].phone == "13800000000"
    assert when(first, c) == []
    with pytest.raises(DomainError) as bad:
        when([], SetContact(**{**c.__dict__, "email": "lead.example.gov.cn"}))
    assert bad.value.field == "email" and "电子邮箱" in str(bad.value)
    with pytest.raises(DomainError) as bad:
        when([], SetContact(**{**c.__dict__, "phone": "call me"}))
    assert bad.value.field == "phone"


def test_read_marks_are_kept_once():
    first = when([], MarkRead(user_id="lead", item_id=ITEM, at=NOW))
    assert [e.event_type for e in first] == ["NotificationRead"]
    assert when(first, MarkRead(user_id="lead", item_id=ITEM, at=NOW)) == []


def test_who_answers_to_what():
    assert keys_of("trainee", "371428", None, "c1") == ["person:c1"]
    assert keys_of("unit", "371428", "县财政局", "lead") == ["unit:371428:县财政局"]
    assert keys_of("org_department", "371400", None, "org") == ["org_department:371400"]
    assert keys_of("admin", "371428", None, "adm") == []
    # The department of the city and of the province see a county's overdue items in-app.
    assert visible_to("org_department:371428") == [
        "org_department:371428",
        "org_department:371400",
        "org_department:370000",
    ]
    assert visible_to("unit:371428:县财政局") == ["unit:371428:县财政局"]


def test_a_reminder_names_the_trainee_the_class_and_the_milestone():
    item = {"kind": "unit_eval", "month": 3, "due_on": "2025-06-10", "missing_roles": ["unit_leader"]}
    m = compose(
        item,
        {"name": "张伟", "unit": "县财政局", "cadre_id": "c1", "class_id": "k1"},
        {"title": "2025年春季中青年干部培训班"},
        "https://wb.example.gov.cn/",
    )
    assert m.subject == "【干训提醒】请对张伟完成3个月跟踪评价"
    assert "“2025年春季中青年干部培训班”" in m.body and "谈表现" in m.body and "单位领导" in m.body
    assert "https://wb.example.gov.cn/" in m.body and "c1" not in m.body
