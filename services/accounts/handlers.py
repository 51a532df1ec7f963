"""Accounts' handlers: check the rules, have the identity provider do it, record it.

`Handlers` gets the executor for the account decider (`commands`), the service's reads,
the `Directory` port (directory.py; Keycloak's adapter in keycloak.py, a fake in the
handler tests) and the settings (which jurisdictions this deployment manages).

Order: the rules are decided first on the stored account (a refusal never reaches the
provider); then the provider acts; then the event is appended (the audit trail). A
crash between the last two leaves an account without its AccountCreated: the
provider's own admin events still show it, and the next command on the account
reports the mismatch instead of hiding it (services/accounts/README.md, what is left).
"""

from __future__ import annotations

from dataclasses import replace

from services.accounts.directory import Directory, NewAccount, generated_password
from services.accounts.domain import (
    ACCOUNT,
    CreateAccount,
    DisableAccount,
    EnableAccount,
    Manager,
    ResetPassword,
    may_manage,
    stream_id,
    valid_code,
)
from services.accounts.reads import Reads
from shared import jurisdiction as jur
from shared.commands import Context
from shared.errors import Forbidden, NotFound
from shared.ports import Clock, Commands
from shared.settings import Settings


class Handlers:
    def __init__(
        self, commands: Commands, reads: Reads, clock: Clock, directory: Directory, settings: Settings
    ) -> None:
        self.commands = commands
        self.reads = reads
        self.clock = clock
        self.directory = directory
        self.settings = settings

    def _served(self, code: str) -> None:
        if not self.settings.serves(code):
            raise Forbidden(
                f"本账号服务（辖区 {self.settings.deployment}）不管理辖区 {code} 的账号。",
                code="wrong_deployment",
                field="jurisdiction",
            )

    async def _decide(self, command) -> list:
        loaded = await self.commands.load(ACCOUNT, stream_id(command.username))
        return ACCOUNT.decide(loaded.state, command)

    async def create_account(self, ctx: Context, command: CreateAccount, password: str | None = None) -> dict:
        """Returns the account, with the generated one-time password when none was given."""
        may_manage(command.by, command.role, valid_code(command.jurisdiction), command.unit)  # rules first
        self._served(command.jurisdiction)
        await self._decide(command)
        chosen = password or generated_password()
        temporary = command.temporary_password if password else True
        command = replace(command, temporary_password=temporary)
        await self.directory.create(
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
        await self.commands.execute(
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
        self,
        ctx: Context,
        by: Manager,
        cadre_id: str,
        username: str | None,
        password: str | None,
        temporary: bool,
    ) -> dict:
        """A cadre of the registry gets a trainee account in one step (name, unit, jurisdiction
        and the cadre id taken from the registry, as selection's events told this service)."""
        cadre = await self.reads.cadre(cadre_id)
        missing = NotFound(
            f"干部名册中没有编号为 {cadre_id} 的干部（或尚未同步到账号服务）。",
            code="cadre_not_found",
            field="cadre_id",
        )
        # another county's cadre answers as one nobody registered: nothing tells they exist
        if cadre is None or not jur.covers(by.jurisdiction, cadre["jurisdiction"]):
            raise missing
        self._served(cadre["jurisdiction"])
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
        return await self.create_account(ctx, command, password)

    async def set_enabled(self, ctx: Context, command: DisableAccount | EnableAccount) -> bool:
        """Disables or re-enables an account; False when it already was so (nothing recorded)."""
        events = await self._decide(command)
        if events:
            await self.directory.set_enabled(command.username, isinstance(command, EnableAccount))
            await self.commands.execute(ACCOUNT, stream_id(command.username), command, ctx)
        return bool(events)

    async def reset_password(self, ctx: Context, command: ResetPassword, password: str | None = None) -> dict:
        await self._decide(command)
        chosen = password or generated_password()
        temporary = command.temporary if password else True
        await self.directory.set_password(command.username, chosen, temporary)
        await self.commands.execute(
            ACCOUNT, stream_id(command.username), replace(command, temporary=temporary), ctx
        )
        return {
            "username": command.username,
            "temporary": temporary,
            **({} if password else {"password": chosen}),
        }

    # -- reads an administrator may make --------------------------------------------------
    async def accounts(
        self, by: Manager, jurisdiction: str | None, unit: str | None, role: str | None
    ) -> list[dict]:
        """An administrator's account list: their jurisdiction (or a part of it), a unit
        administrator's own unit only."""
        code, unit = list_scope(by, jurisdiction, unit)
        return await self.reads.accounts(code, unit, role)

    async def account(self, by: Manager, username: str) -> dict:
        doc = await self.reads.account(username)
        if doc is None:
            raise NotFound(f"没有用户名为 {username} 的账号。", code="account_not_found")
        list_scope(by, doc["jurisdiction"], doc.get("unit"))
        return doc


def list_scope(by: Manager, jurisdiction: str | None, unit: str | None) -> tuple[str, str | None]:
    """The jurisdiction and unit an administrator may list (403 beyond them)."""
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
    return code, unit
