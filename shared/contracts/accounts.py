"""Events published by the accounts service (账号管理): the audit trail of who created,
disabled, enabled or reset which login account.

The identity provider (Keycloak, or a province's own) holds the accounts themselves and
their passwords; these events never carry a password. The envelope's jurisdiction is
the account's, its actor the administrator who acted.
"""

from __future__ import annotations

from pydantic import Field

from shared.events import CATALOGUE, Event

register = CATALOGUE.register("accounts")


@register
class AccountCreated(Event, type="AccountCreated", version=1):
    """账号开通 — a login account with one ganxun role, in a jurisdiction (and a unit)."""

    personal = ("name",)
    person_field = "person_id"

    username: str
    name: str
    role: str
    jurisdiction: str  # the envelope's too; here so the account's fold knows it
    unit: str | None = None
    # The person the account is for: a trainee's cadre id, a mentor's or recorder's id.
    person_id: str | None = None
    temporary_password: bool = True


@register
class AccountDisabled(Event, type="AccountDisabled", version=1):
    """账号停用 — no new login; its sessions are ended."""

    username: str
    reason: str = Field("", max_length=200)


@register
class AccountEnabled(Event, type="AccountEnabled", version=1):
    """账号启用 — a disabled account may log in again."""

    username: str


@register
class PasswordReset(Event, type="PasswordReset", version=1):
    """密码重置 — by an administrator; a temporary one must be changed at the next login."""

    username: str
    temporary: bool = True
