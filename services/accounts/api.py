"""HTTP routes of the accounts service: thin translations into the handlers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from services.accounts.domain import CreateAccount, DisableAccount, EnableAccount, Manager, ResetPassword
from services.accounts.handlers import Handlers
from shared.access import admits
from shared.api import context, principal
from shared.auth import ROLES, Principal
from shared.commands import Context

ROLE_HELP = "角色：" + "、".join(f"{k} {v}" for k, v in ROLES.items())
USERNAME = PathParam(..., min_length=3, max_length=64, description="用户名")
PASSWORD_HELP = "初始密码（不填则生成一次性临时密码并在回复中给出一次）；须符合密码策略"


class AccountIn(BaseModel):
    username: str = Field(
        min_length=3, max_length=64, description="用户名（小写字母、数字、点、横线、下划线）"
    )
    name: str = Field(min_length=1, max_length=50, description="使用人真实姓名")
    role: str = Field(min_length=1, max_length=32, description=ROLE_HELP)
    jurisdiction: str | None = Field(
        None, min_length=6, max_length=6, description="行政区划代码（不填为管理员本人的辖区）"
    )
    unit: str | None = Field(None, min_length=1, max_length=100, description="所属单位（调训单位账号必填）")
    person_id: str | None = Field(
        None, min_length=1, max_length=64, description="人员编号：学员的干部编号、导师编号、记录员编号"
    )
    password: str | None = Field(None, min_length=1, max_length=64, description=PASSWORD_HELP)
    temporary_password: bool = Field(True, description="首次登录时须修改密码")


class TraineeIn(BaseModel):
    cadre_id: str = Field(min_length=1, max_length=64, description="干部名册中的干部编号")
    username: str | None = Field(None, min_length=3, max_length=64, description="用户名（不填为干部编号）")
    password: str | None = Field(None, min_length=1, max_length=64, description=PASSWORD_HELP)
    temporary_password: bool = Field(True, description="首次登录时须修改密码")


class DisableIn(BaseModel):
    reason: str = Field("", max_length=200, description="停用原因")


class PasswordIn(BaseModel):
    password: str | None = Field(None, min_length=1, max_length=64, description=PASSWORD_HELP)
    temporary: bool = Field(True, description="下次登录时须修改密码")


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


def manager(who: Principal) -> Manager:
    return Manager(role=who.role, jurisdiction=who.jurisdiction, unit=who.unit)


router = APIRouter(tags=["账号"])
H = Depends(handlers)


@router.post(
    "/accounts",
    status_code=201,
    summary="开通账号（管理员；本辖区及下级，不超出本人可授予的角色）",
    **admits("admin"),
)
async def create(
    body: AccountIn, who: Principal = Depends(principal), ctx: Context = Depends(context), h: Handlers = H
):
    command = CreateAccount(
        by=manager(who),
        username=body.username,
        name=body.name,
        role=body.role,
        jurisdiction=body.jurisdiction or who.jurisdiction,
        unit=body.unit,
        person_id=body.person_id,
        temporary_password=body.temporary_password,
    )
    return await h.create_account(ctx, command, body.password)


@router.post(
    "/accounts/trainees", status_code=201, summary="为干部名册中的干部一步开通学员账号", **admits("admin")
)
async def trainee(
    body: TraineeIn, who: Principal = Depends(principal), ctx: Context = Depends(context), h: Handlers = H
):
    return await h.trainee_for_cadre(
        ctx, manager(who), body.cadre_id, body.username, body.password, body.temporary_password
    )


async def _set_enabled(h: Handlers, ctx: Context, command: DisableAccount | EnableAccount) -> dict:
    """One body for both routes: the answer says the state now and whether this call changed it."""
    changed = await h.set_enabled(ctx, command)
    return {"username": command.username, "enabled": isinstance(command, EnableAccount), "changed": changed}


@router.post(
    "/accounts/{username}/disable", summary="停用账号（停用后不能再登录，已有会话结束）", **admits("admin")
)
async def disable(
    body: DisableIn,
    username: str = USERNAME,
    who: Principal = Depends(principal),
    ctx: Context = Depends(context),
    h: Handlers = H,
):
    return await _set_enabled(h, ctx, DisableAccount(manager(who), username, body.reason))


@router.post("/accounts/{username}/enable", summary="重新启用账号", **admits("admin"))
async def enable(
    username: str = USERNAME,
    who: Principal = Depends(principal),
    ctx: Context = Depends(context),
    h: Handlers = H,
):
    return await _set_enabled(h, ctx, EnableAccount(manager(who), username))


@router.post(
    "/accounts/{username}/password", summary="重置密码（不填则生成一次性临时密码）", **admits("admin")
)
async def password(
    body: PasswordIn,
    username: str = USERNAME,
    who: Principal = Depends(principal),
    ctx: Context = Depends(context),
    h: Handlers = H,
):
    return await h.reset_password(ctx, ResetPassword(manager(who), username, body.temporary), body.password)


@router.get("/accounts", summary="账号列表（按辖区、单位、角色；单位管理员只看本单位）", **admits("admin"))
async def list_accounts(
    jurisdiction: str | None = Query(None, min_length=6, max_length=6, description="行政区划代码（含下级）"),
    unit: str | None = Query(None, max_length=100, description="单位"),
    role: str | None = Query(None, max_length=32, description=ROLE_HELP),
    who: Principal = Depends(principal),
    h: Handlers = H,
):
    docs = await h.accounts(manager(who), jurisdiction, unit, role)
    return {"count": len(docs), "accounts": docs}


@router.get("/accounts/{username}", summary="一个账号", **admits("admin"))
async def one(username: str = USERNAME, who: Principal = Depends(principal), h: Handlers = H):
    return await h.account(manager(who), username)
