"""HTTP routes of the reminders service: a person's notifications and contact details,
and the sender's status. Thin: each route is one handler or read call."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.reminders.handlers import Handlers
from shared.access import EVERYONE, admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context

router = APIRouter(tags=["提醒"])


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


class ContactIn(BaseModel):
    email: str | None = Field(None, max_length=254, description="接收提醒的电子邮箱（不填则不发邮件）")
    phone: str | None = Field(None, max_length=24, description="接收短信/消息提醒的手机号码（不填则不发）")
    digest: bool = Field(
        False, description="每日汇总：每天在设定时刻（北京时间）汇总发送一次，而不是逐条提醒"
    )


@router.get(
    "/notifications", summary="我的通知：本人待办事项与已发送的提醒、未读数（分页）", **admits(*EVERYONE)
)
async def notifications(
    page: int = Query(1, ge=1, le=10_000, description="页码"),
    size: int = Query(20, ge=1, le=200, description="每页条数"),
    status: Literal["open", "all"] = Query("all", description="open 只看待办；all 含已办结"),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await h.notifications(who, page, size, only_open=status == "open")


@router.post("/notifications/{item_id:path}/read", summary="标记一条通知为已读", **admits(*EVERYONE))
async def mark_read(
    item_id: str,
    who: Principal = Depends(principal),
    ctx: Context = Depends(context),
    h: Handlers = Depends(handlers),
):
    return await h.mark_read(who, ctx, item_id)


@router.get("/contacts/me", summary="我的提醒方式（电子邮箱、手机号码、是否每日汇总）", **admits(*EVERYONE))
async def my_contact(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.contact(who)


@router.put("/contacts/me", summary="设置我的提醒方式：邮件与短信/消息提醒发往这里", **admits(*EVERYONE))
async def set_my_contact(
    body: ContactIn,
    who: Principal = Depends(principal),
    ctx: Context = Depends(context),
    h: Handlers = Depends(handlers),
):
    return await h.set_contact(who, ctx, body.email, body.phone, body.digest)


@router.get(
    "/sender",
    summary="提醒发送情况：扫描次数、已发送、失败、渠道（组织部、管理员）",
    **admits("org_department", "admin"),
)
async def sender(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.status()


@router.get(
    "/milestone-reminders",
    summary="跟踪节点的提醒发送记录：发给谁、哪个渠道、何时、失败情况（组织部、管理员，本辖区）",
    **admits("org_department", "admin"),
)
async def milestone_reminders(
    class_id: str | None = Query(None, max_length=120, description="只看这个班次"),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await h.milestone_reminders(who, class_id)
