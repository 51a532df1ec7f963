"""Accounts (账号): who may open, disable, enable or reset which login account. Pure.

The rules, as the provincial training platforms keep them (design/domain.md, "Accounts
in a hierarchy"): the province creates city and county administrators, a county creates
its units and each unit's administrator, every cadre has an account of their own.

* Only an administrator (`admin`) manages accounts, and only within the jurisdiction
  their token covers: their own division and the divisions below it, never one above
  or beside it.
* A unit administrator (an `admin` whose token names a unit) manages only their own
  unit's people, and only as unit clerks, trainees or unit administrators.
* Nobody gives a role they could not give themselves: province-level roles (the
  province's analysts) exist only at a province or city, so a county administrator
  cannot make one.
* A trainee's account names the cadre (person id) it is for, a mentor's the mentor, a
  unit clerk's the unit.

One aggregate per account (stream `account:<username>`), decided as
decide(state, command) -> events; the manager is part of each command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from shared import jurisdiction as jur
from shared.auth import ROLES
from shared.contracts.accounts import AccountCreated, AccountDisabled, AccountEnabled, PasswordReset
from shared.errors import DomainError, Forbidden, NotFound

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# Roles that exist only at a province (or city): the province dashboard's analysts.
UPPER_LEVEL_ROLES = {"analyst": (2, 4)}
UNIT_ADMIN_ROLES = ("unit", "evaluator", "trainee", "admin")
NEEDS_UNIT = ("unit", "evaluator")
NEEDS_PERSON = ("trainee", "mentor")


def stream_id(username: str) -> str:
    return f"account:{username}"


@dataclass(frozen=True)
class Manager:
    """The administrator acting, as their token says."""

    role: str
    jurisdiction: str
    unit: str | None = None


@dataclass(frozen=True)
class CreateAccount:
    by: Manager
    username: str
    name: str
    role: str
    jurisdiction: str
    unit: str | None = None
    person_id: str | None = None
    temporary_password: bool = True


@dataclass(frozen=True)
class DisableAccount:
    by: Manager
    username: str
    reason: str = ""


@dataclass(frozen=True)
class EnableAccount:
    by: Manager
    username: str


@dataclass(frozen=True)
class ResetPassword:
    by: Manager
    username: str
    temporary: bool = True


@dataclass(frozen=True)
class Account:
    username: str = ""
    role: str = ""
    jurisdiction: str = ""
    unit: str | None = None
    enabled: bool = False

    @property
    def exists(self) -> bool:
        return bool(self.username)


def valid_code(code: str) -> str:
    try:
        return jur.validate(code)
    except ValueError as exc:
        raise DomainError(str(exc), code="bad_jurisdiction", field="jurisdiction") from exc


def may_manage(by: Manager, role: str, jurisdiction: str, unit: str | None) -> None:
    """Raises Forbidden (403) saying why `by` may not manage such an account."""
    if by.role != "admin":
        raise Forbidden(
            f"只有系统管理员可以管理账号（当前角色：{ROLES.get(by.role, by.role)}）。", code="wrong_role"
        )
    if not jur.covers(by.jurisdiction, jurisdiction):
        raise Forbidden(
            f"您的辖区 {by.jurisdiction} 无权管理辖区 {jurisdiction} 的账号（只能管理本辖区及下级）。",
            code="wrong_jurisdiction",
            field="jurisdiction",
        )
    if by.unit is not None:
        if jurisdiction != by.jurisdiction or unit != by.unit:
            raise Forbidden(f"单位管理员只能管理本单位（{by.unit}）的账号。", code="wrong_unit", field="unit")
        if role not in UNIT_ADMIN_ROLES:
            allowed = "、".join(ROLES[r] for r in UNIT_ADMIN_ROLES)
            raise Forbidden(
                f"单位管理员不能授予角色“{ROLES.get(role, role)}”（可授予：{allowed}）。",
                code="role_not_grantable",
                field="role",
            )
    levels = UPPER_LEVEL_ROLES.get(role)
    if levels and len(jur.prefix(jurisdiction)) not in levels:
        raise Forbidden(
            f"角色“{ROLES[role]}”只设在省、市两级，不能在辖区 {jurisdiction} 开通。",
            code="role_not_grantable",
            field="role",
        )


def _validate_new(c: CreateAccount) -> None:
    if not USERNAME.match(c.username):
        raise DomainError(
            "用户名须为 3-64 位小写字母、数字、点、横线或下划线，并以字母或数字开头。",
            code="bad_username",
            field="username",
        )
    if c.role not in ROLES:
        raise DomainError(
            f"未知角色“{c.role}”；可用：{'、'.join(ROLES)}。", code="unknown_role", field="role"
        )
    if not c.name.strip():
        raise DomainError("请填写账号使用人的姓名。", code="missing_name", field="name")
    if c.role in NEEDS_UNIT and not c.unit:
        raise DomainError(f"角色“{ROLES[c.role]}”的账号须填写所属单位。", code="missing_unit", field="unit")
    if c.role in NEEDS_PERSON and not c.person_id:
        what = "干部编号" if c.role == "trainee" else "导师编号"
        raise DomainError(
            f"角色“{ROLES[c.role]}”的账号须填写{what}（person_id）。",
            code="missing_person",
            field="person_id",
        )


class AccountDecider:
    def initial(self) -> Account:
        return Account()

    def decide(self, state: Account, command) -> list:
        if isinstance(command, CreateAccount):
            valid_code(command.jurisdiction)
            may_manage(command.by, command.role, command.jurisdiction, command.unit)
            _validate_new(command)
            if state.exists:
                raise DomainError(
                    f"用户名 {command.username} 已被使用。", code="username_taken", field="username"
                )
            return [
                AccountCreated(
                    username=command.username,
                    name=command.name.strip(),
                    role=command.role,
                    jurisdiction=command.jurisdiction,
                    unit=command.unit,
                    person_id=command.person_id,
                    temporary_password=command.temporary_password,
                )
            ]
        if not state.exists:
            raise NotFound(
                f"没有用户名为 {command.username} 的账号。", code="account_not_found", field="username"
            )
        may_manage(command.by, state.role, state.jurisdiction, state.unit)
        if isinstance(command, DisableAccount):
            return [AccountDisabled(username=state.username, reason=command.reason)] if state.enabled else []
        if isinstance(command, EnableAccount):
            return [] if state.enabled else [AccountEnabled(username=state.username)]
        if isinstance(command, ResetPassword):
            return [PasswordReset(username=state.username, temporary=command.temporary)]
        raise TypeError(f"unknown command {type(command).__name__}")

    def evolve(self, state: Account, event) -> Account:
        if isinstance(event, AccountCreated):
            return Account(
                username=event.username,
                role=event.role,
                jurisdiction=event.jurisdiction,
                unit=event.unit,
                enabled=True,
            )
        if isinstance(event, AccountDisabled):
            return replace(state, enabled=False)
        if isinstance(event, AccountEnabled):
            return replace(state, enabled=True)
        return state


ACCOUNT = AccountDecider()
