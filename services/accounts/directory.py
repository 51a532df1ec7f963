"""The narrow port to the identity provider's accounts (目录).

The accounts service decides who may do what (domain.py); the provider only stores the
accounts and their passwords. The adapter for Keycloak is keycloak.py; handler tests
use an in-memory fake of `Directory` (tests/unit/test_accounts_handlers.py).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Protocol

from shared.errors import DomainError, GanxunError

POLICY_TEXT = "至少 10 位，含大写字母、小写字母和数字，不得与用户名相同，不得与最近 3 次用过的相同"


@dataclass(frozen=True)
class NewAccount:
    username: str
    name: str
    role: str
    jurisdiction: str
    unit: str | None = None
    person_id: str | None = None


class DirectoryUnavailable(GanxunError):
    status = 503
    code = "identity_provider_unavailable"


class Directory(Protocol):
    async def create(self, account: NewAccount, password: str, temporary: bool) -> None:
        """Raises DomainError(username_taken / password_rejected)."""

    async def set_enabled(self, username: str, enabled: bool) -> None:
        """Disabling also ends the account's sessions."""

    async def set_password(self, username: str, password: str, temporary: bool) -> None:
        """Raises DomainError(password_rejected)."""


def generated_password() -> str:
    """A one-time password that meets the realm's policy (shown once to the administrator)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        p = "".join(secrets.choice(alphabet) for _ in range(14))
        if any(c.isupper() for c in p) and any(c.islower() for c in p) and any(c.isdigit() for c in p):
            return p


def password_rejected(detail: str = "") -> DomainError:
    extra = f"（身份认证服务：{detail}）" if detail else ""
    return DomainError(
        f"密码不符合密码策略：{POLICY_TEXT}。{extra}", code="password_rejected", field="password"
    )
