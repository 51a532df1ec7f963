"""Given / when / then for who may manage which account: pure, no I/O."""

import pytest

from services.accounts.domain import (
    ACCOUNT,
    CreateAccount,
    DisableAccount,
    EnableAccount,
    Manager,
    ResetPassword,
)
from shared.commands import fold
from shared.contracts.accounts import AccountCreated, AccountDisabled, AccountEnabled, PasswordReset
from shared.errors import DomainError, Forbidden, NotFound

PROVINCE_ADMIN = Manager("admin", "430000")
COUNTY_ADMIN = Manager("admin", "371428")
UNIT_ADMIN = Manager("admin", "371428", unit="武城县教育局")
CLERK = AccountCreated(
    username="wc-clerk", name="王五", role="unit", jurisdiction="371428", unit="武城县教育局"
)


def when(given: list, command):
    return ACCOUNT.decide(fold(ACCOUNT, given), command)


def forbidden(given: list, command, code: str) -> str:
    with pytest.raises(Forbidden) as e:
        when(given, command)
    assert e.value.code == code, e.value.message
    return e.value.message


def new(by=COUNTY_ADMIN, role="unit", jurisdiction="371428", unit="武城县教育局", **kw) -> CreateAccount:
    return CreateAccount(
        by=by,
        username=kw.pop("username", "wc-clerk"),
        name=kw.pop("name", "王五"),
        role=role,
        jurisdiction=jurisdiction,
        unit=unit,
        **kw,
    )


def test_a_county_admin_opens_an_account_in_the_county():
    assert when([], new()) == [CLERK]


def test_the_province_creates_a_county_administrator():
    [e] = when(
        [], new(by=PROVINCE_ADMIN, role="admin", jurisdiction="431121", unit=None, username="qiyang-admin")
    )
    assert (e.role, e.jurisdiction, e.unit) == ("admin", "431121", None)


def test_a_county_admin_cannot_open_an_account_in_another_county():
    msg = forbidden([], new(jurisdiction="530129"), "wrong_jurisdiction")
    assert "371428" in msg and "530129" in msg


def test_nobody_opens_an_account_above_their_jurisdiction():
    forbidden([], new(role="org_department", jurisdiction="370000", unit=None), "wrong_jurisdiction")


def test_a_county_admin_cannot_give_a_province_role():
    msg = forbidden([], new(role="analyst", unit=None), "role_not_grantable")
    assert "分析员" in msg and "省、市" in msg
    assert when([], new(by=PROVINCE_ADMIN, role="analyst", jurisdiction="430000", unit=None))


def test_a_unit_admin_manages_only_their_units_clerks_trainees_and_admins():
    assert when([], new(by=UNIT_ADMIN))
    forbidden([], new(by=UNIT_ADMIN, unit="武城县财政局"), "wrong_unit")
    forbidden([], new(by=UNIT_ADMIN, role="org_department"), "role_not_grantable")
    forbidden([], new(by=UNIT_ADMIN, role="admin", unit=None), "wrong_unit")  # no county admin from a unit


def test_only_an_admin_manages_accounts():
    forbidden([], new(by=Manager("org_department", "371428")), "wrong_role")


def test_bad_usernames_roles_and_missing_facts_are_named():
    cases = [
        (new(username="Zhang San"), "bad_username", "username"),
        (new(role="boss"), "unknown_role", "role"),
        (new(unit=None), "missing_unit", "unit"),
        (new(role="trainee"), "missing_person", "person_id"),
        (new(name="  "), "missing_name", "name"),
    ]
    for command, code, field in cases:
        with pytest.raises(DomainError) as e:
            when([], command)
        assert (e.value.code, e.value.field) == (code, field)


def test_a_username_is_taken_once():
    with pytest.raises(DomainError) as e:
        when([CLERK], new())
    assert e.value.code == "username_taken"


def test_disable_enable_and_reset_follow_the_same_rules():
    assert when([CLERK], DisableAccount(COUNTY_ADMIN, "wc-clerk", "调离")) == [
        AccountDisabled(username="wc-clerk", reason="调离")
    ]
    assert when([CLERK, AccountDisabled(username="wc-clerk")], DisableAccount(COUNTY_ADMIN, "wc-clerk")) == []
    assert when([CLERK, AccountDisabled(username="wc-clerk")], EnableAccount(COUNTY_ADMIN, "wc-clerk")) == [
        AccountEnabled(username="wc-clerk")
    ]
    assert when([CLERK], ResetPassword(UNIT_ADMIN, "wc-clerk")) == [PasswordReset(username="wc-clerk")]
    forbidden([CLERK], DisableAccount(Manager("admin", "530129"), "wc-clerk"), "wrong_jurisdiction")
    forbidden(
        [CLERK], ResetPassword(Manager("admin", "371428", unit="武城县财政局"), "wc-clerk"), "wrong_unit"
    )
    with pytest.raises(NotFound):
        when([], DisableAccount(COUNTY_ADMIN, "nobody"))
