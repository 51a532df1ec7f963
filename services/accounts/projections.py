"""The accounts service's read models.

* `accounts`         — one doc per account (by username), from its own events: the list
  per unit and jurisdiction an administrator reads. No password is ever here.
* `accounts_cadres`  — one doc per cadre, from selection's registry events: what "give
  this cadre a trainee account" needs (name, unit, jurisdiction). Learned from events,
  never from selection's database.
"""

from __future__ import annotations

from shared.contracts.accounts import AccountCreated, AccountDisabled, AccountEnabled, PasswordReset
from shared.contracts.selection import CadreRegistered, CadreUpdated
from shared.projection import Projection

accounts = Projection("accounts", sources=("accounts",))


def _by_username(env, ev) -> str:
    return ev.username


@accounts.on(AccountCreated, key=_by_username)
def _created(doc, env, ev: AccountCreated) -> None:
    doc.update(
        username=ev.username,
        name=ev.name,
        role=ev.role,
        jurisdiction=ev.jurisdiction,
        unit=ev.unit,
        person_id=ev.person_id,
        enabled=True,
        created_at=env.occurred_at.isoformat(),
        created_by=env.actor.name,
        changed_at=env.occurred_at.isoformat(),
    )


@accounts.on(AccountDisabled, key=_by_username)
def _disabled(doc, env, ev: AccountDisabled) -> None:
    doc.update(
        enabled=False,
        disabled_reason=ev.reason,
        changed_at=env.occurred_at.isoformat(),
        changed_by=env.actor.name,
    )


@accounts.on(AccountEnabled, key=_by_username)
def _enabled(doc, env, ev: AccountEnabled) -> None:
    doc.update(
        enabled=True, disabled_reason=None, changed_at=env.occurred_at.isoformat(), changed_by=env.actor.name
    )


@accounts.on(PasswordReset, key=_by_username)
def _reset(doc, env, ev: PasswordReset) -> None:
    doc.update(password_reset_at=env.occurred_at.isoformat(), changed_by=env.actor.name)


cadres = Projection("accounts_cadres", sources=("selection",))


@cadres.on(CadreRegistered, key=lambda env, ev: ev.cadre_id)
def _cadre(doc, env, ev: CadreRegistered) -> None:
    doc.update(cadre_id=ev.cadre_id, name=ev.name, unit=ev.unit, jurisdiction=env.jurisdiction)


@cadres.on(CadreUpdated, key=lambda env, ev: ev.cadre_id)
def _cadre_changed(doc, env, ev: CadreUpdated) -> None:
    doc.update({k: v for k, v in ev.changes.items() if k in ("name", "unit")})


PROJECTIONS = [accounts, cadres]
