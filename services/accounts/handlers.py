"""Accounts' handlers: check the rules, have the identity provider do it, record it.

Each takes the executor for the account decider (`load` / `execute`, the kernel's
CommandHandler or a fake) and the `Directory` port, and nothing else.

Order: the rules are decided first on the stored account (a refusal never reaches the
provider); then the provider acts; then the event is appended (the audit trail). A
crash between the last two leaves an account without its AccountCreated: the
provider's own admin events still show it, and the next command on the account
reports the mismatch instead of hiding it (see README, "Identity", what is left).
"""

from __future__ import annotations

from dataclasses import replace

from services.accounts.directory import Directory, NewAccount, generated_password
from services.accounts.domain import (
    ACCOUNT,
    CreateAccount,
    DisableAccount,
    EnableAccount,
    ResetPassword,
    stream_id,
)
from shared.commands import Context
from shared.errors import Forbidden, NotFound


async def _decide(commands, command) -> list:
    loaded = await commands.load(ACCOUNT, stream_id(command.username))
    return ACCOUNT.decide(loaded.state, command)


async def create_account(
    commands, directory: Directory, ctx: Context, command: CreateAccount, password: str | None = None
) -> dict:
    """Returns the account, with the generated one-time password when none was given."""
    await _decide(commands, command)
    chosen = password or generated_password()
    temporary = command.temporary_password if password else True
    command = replace(command, temporary_password=temporary)
    await directory.create(
        NewAccount(
            username=command.username,
            name=command.name,
            role=command.role,
            jurisdiction=command.jurisdiction,
            unit=command.unit,
            person_id=command.person_id,
        ),
        chosen,
        temporary,
    )
    await commands.execute(
        ACCOUNT, stream_id(command.username), command, replace(ctx, jurisdiction=command.jurisdiction)
    )
    out = {
        "username": command.username,
        "name": command.name,
        "role": command.role,
        "jurisdiction": command.jurisdiction,
        "unit": command.unit,
        "person_id": command.person_id,
        "enabled": True,
        "temporary_password": temporary,
    }
    if not password:
        out["password"] = chosen
    return out


async def trainee_for_cadre(
    commands,
    directory: Directory,
    ctx: Context,
    by,
    cadre: dict | None,
    cadre_id: str,
    username: str | None,
    password: str | None,
    temporary: bool,
) -> dict:
    """A cadre of the registry gets a trainee account in one step (name, unit, jurisdiction
    and the cadre id taken from the registry)."""
    if cadre is None:
        raise NotFound(
            f"干部名册中没有编号为 {cadre_id} 的干部（或尚未同步到账号服务）。",
            code="cadre_not_found",
            field="cadre_id",
        )
    command = CreateAccount(
        by=by,
        username=username or cadre_id.lower(),
        name=cadre["name"],
        role="trainee",
        jurisdiction=cadre["jurisdiction"],
        unit=cadre.get("unit"),
        person_id=cadre_id,
        temporary_password=temporary,
    )
    return await create_account(commands, directory, ctx, command, password)


async def disable_account(commands, directory: Directory, ctx: Context, command: DisableAccount) -> bool:
    events = await _decide(commands, command)
    if events:
        await directory.set_enabled(command.username, False)
        await commands.execute(ACCOUNT, stream_id(command.username), command, ctx)
    return bool(events)


async def enable_account(commands, directory: Directory, ctx: Context, command: EnableAccount) -> bool:
    events = await _decide(commands, command)
    if events:
        await directory.set_enabled(command.username, True)
        await commands.execute(ACCOUNT, stream_id(command.username), command, ctx)
    return bool(events)


async def reset_password(
    commands, directory: Directory, ctx: Context, command: ResetPassword, password: str | None = None
) -> dict:
    await _decide(commands, command)
    chosen = password or generated_password()
    temporary = command.temporary if password else True
    await directory.set_password(command.username, chosen, temporary)
    await commands.execute(ACCOUNT, stream_id(command.username), replace(command, temporary=temporary), ctx)
    return {
        "username": command.username,
        "temporary": temporary,
        **({} if password else {"password": chosen}),
    }


def list_filter(by, jurisdiction: str | None, unit: str | None, role: str | None) -> dict:
    """The query for an administrator's account list: their jurisdiction (or a part of
    it), a unit administrator's own unit only."""
    from shared import jurisdiction as jur

    if by.role != "admin":
        raise Forbidden("只有系统管理员可以查看账号列表。", code="wrong_role")
    code = jurisdiction or by.jurisdiction
    if not jur.covers(by.jurisdiction, code):
        raise Forbidden(
            f"您的辖区 {by.jurisdiction} 无权查看辖区 {code} 的账号。",
            code="wrong_jurisdiction",
            field="jurisdiction",
        )
    if by.unit is not None:
        if unit not in (None, by.unit):
            raise Forbidden(f"单位管理员只能查看本单位（{by.unit}）的账号。", code="wrong_unit", field="unit")
        unit = by.unit
    query: dict = {"jurisdiction": {"$regex": f"^{jur.prefix(code)}"}}
    if unit:
        query["unit"] = unit
    if role:
        query["role"] = role
    return query
