"""The reminders service's definition: its handlers composed from the real adapters,
and the sender, a worker that sweeps the open items every `tick_seconds`."""

from __future__ import annotations

import asyncio

import structlog

from services.reminders import api
from services.reminders.channels import ReminderSettings, channels_from
from services.reminders.handlers import Handlers
from services.reminders.projections import PROJECTIONS
from services.reminders.reads import Reads
from shared.runtime import Adapters, Runtime, ServiceDefinition

log = structlog.get_logger("reminders.sender")


def bootstrap(a: Adapters) -> Handlers:
    settings = ReminderSettings()
    return Handlers(a.commands, Reads(a.db), a.clock, settings, channels_from(settings))


async def sender(rt: Runtime, stop: asyncio.Event) -> None:
    h: Handlers = rt.handlers
    while not stop.is_set():
        sweep = await h.send_due()
        if sweep.sent or sweep.failed:
            log.info("reminders.swept", sent=sweep.sent, failed=sweep.failed)
        try:
            await asyncio.wait_for(stop.wait(), h.settings.tick_seconds)
        except TimeoutError:
            pass


DEFINITION = ServiceDefinition(
    name="reminders",
    title="提醒（我的待办、站内通知、邮件与短信/消息提醒）",
    description="按跟踪问效、教学、选学的事件汇总每人待办：到期节点的本人自评与单位评价、逾期节点、请假审批、"
    "待确定人选；站内通知与未读数；到期事项经邮件（SMTP）和可插拔的短信/消息网关各提醒一次，"
    "发送结果作为事件记录在 ganxun.reminders.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
    workers={"sender": sender},
)
