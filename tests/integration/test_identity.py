"""Logins from the real Keycloak accepted by real services; accounts managed through ganxun.

One Keycloak for the run (the `identity` fixture), the services started as processes
that trust its issuer and nothing else (no development keys)."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import jwt
import pytest

from services.selection.cadres import id_check_digit
from tests.support import ServiceProcess, eventually, random_county, settings

pytestmark = pytest.mark.integration
UNIT = "武城县教育局"


def id_number(area: str, birth: date, seq: int) -> str:
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


@pytest.fixture(scope="module")
def counties():
    return random_county(), random_county()


@pytest.fixture(scope="module")
def trusted(identity):
    """What a production deployment sets: the issuer, and no development flag."""
    return {"GANXUN_OIDC_ISSUER": identity.issuer, "GANXUN_ENV": ""}


@pytest.fixture(scope="module")
def selection(servers, identity, counties, trusted, tmp_path_factory):
    proc = ServiceProcess(
        settings("selection", servers, list(counties)),
        env=trusted,
        log=tmp_path_factory.mktemp("selection") / "selection.log",
    )
    with proc.start():
        yield proc


@pytest.fixture(scope="module")
def accounts(servers, identity, counties, trusted, selection, tmp_path_factory):
    env = {
        **trusted,
        "GANXUN_ACCOUNTS_KEYCLOAK_URL": identity.url,
        "GANXUN_ACCOUNTS_CLIENT_SECRET": identity.accounts_client_secret(),
    }
    proc = ServiceProcess(
        settings("accounts", servers, list(counties)),
        env=env,
        log=tmp_path_factory.mktemp("accounts") / "accounts.log",
    )
    with proc.start():
        yield proc


# long: one story end to end against real servers; its steps share the state they build
def test_a_keycloak_login_is_accepted_with_its_jurisdiction_and_unit(identity, selection, counties):
    county, other = counties
    identity.create_user(f"org-{county}", "org_department", county, name="组织部李科长")
    identity.create_user(f"clerk-{county}", "unit", county, unit=UNIT, name="教育局王干事")
    org = identity.auth(f"org-{county}")
    mine = httpx.post(
        f"{selection.url}/cadres",
        headers=org,
        json={
            "name": "张三",
            "id_number": id_number("110105", date(1985, 3, 1), 11),
            "unit": UNIT,
            "rank": "正科",
        },
    )
    assert mine.status_code == 201, mine.text
    theirs = httpx.post(
        f"{selection.url}/cadres",
        headers=org,
        json={
            "name": "李四",
            "id_number": id_number("110105", date(1986, 4, 2), 12),
            "unit": "武城县财政局",
            "rank": "副科",
        },
    )
    assert theirs.status_code == 201, theirs.text

    # The unit clerk sees their own unit's cadres only: the token's unit claim is read.
    clerk = identity.auth(f"clerk-{county}")

    async def both_registered():
        org_view = httpx.get(f"{selection.url}/cadres", headers=org).json()
        return org_view.get("total") == 2

    asyncio.run(eventually(both_registered))
    listed = httpx.get(f"{selection.url}/cadres", headers=clerk).json()
    assert [c["name"] for c in listed["items"]] == ["张三"]

    # A login from another county gets no data: our cadre answers there as a missing one
    # (404, not even a hint that it is registered elsewhere)…
    identity.create_user(f"org-{other}", "org_department", other, name="外县组织部")
    refused = httpx.get(
        f"{selection.url}/cadres/{mine.json()['cadre_id']}", headers=identity.auth(f"org-{other}")
    )
    assert refused.status_code == 404 and refused.json()["code"] == "cadre_not_found", refused.text
    assert "张三" not in refused.text
    # A county this deployment does not serve cannot write into it: 403, nothing stored.
    third = random_county()
    identity.create_user(f"org-{third}", "org_department", third, name="第三县组织部")
    foreign = httpx.post(
        f"{selection.url}/cadres",
        headers=identity.auth(f"org-{third}"),
        json={
            "name": "王五",
            "id_number": id_number("110105", date(1987, 5, 3), 13),
            "unit": UNIT,
            "rank": "科员",
        },
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "wrong_deployment", foreign.text
    assert httpx.get(f"{selection.url}/cadres", headers=org).json()["total"] == 2

    # Development tokens mean nothing to a deployment that trusts the issuer.
    from tests.support import auth as dev_auth

    assert httpx.get(f"{selection.url}/cadres", headers=dev_auth("org_department", county)).status_code == 401


# long: one story end to end against real servers; its steps share the state they build
def test_a_county_admin_manages_accounts_only_within_the_county(identity, accounts, selection, counties):
    county, other = counties
    identity.create_user(f"admin-{county}", "admin", county, name="县账号管理员")
    admin = identity.auth(f"admin-{county}")
    clerk = f"finance-{county}"
    made = httpx.post(
        f"{accounts.url}/accounts",
        headers=admin,
        json={
            "username": clerk,
            "name": "财政局赵干事",
            "role": "unit",
            "unit": "武城县财政局",
            "password": "Finance-Passw0rd",
            "temporary_password": False,
        },
    )
    assert made.status_code == 201, made.text
    claims_of = httpx.get(f"{selection.url}/cadres", headers=identity.auth(clerk, "Finance-Passw0rd")).json()
    assert [c["name"] for c in claims_of["items"]] == ["李四"]  # the new account's unit, from Keycloak

    # Another county, a province role, a password off the policy: refused, named, nothing made.
    for body, code, field in [
        (
            {"username": f"x1-{county}", "name": "某", "role": "unit", "unit": "某局", "jurisdiction": other},
            "wrong_jurisdiction",
            "jurisdiction",
        ),
        ({"username": f"x2-{county}", "name": "某", "role": "analyst"}, "role_not_grantable", "role"),
        (
            {"username": f"x3-{county}", "name": "某", "role": "org_department", "jurisdiction": "370000"},
            "wrong_jurisdiction",
            "jurisdiction",
        ),
        (
            {
                "username": f"x4-{county}",
                "name": "某",
                "role": "org_department",
                "password": "short",
                "temporary_password": False,
            },
            "password_rejected",
            "password",
        ),
    ]:
        r = httpx.post(f"{accounts.url}/accounts", headers=admin, json=body)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422 if code == "password_rejected" else 403,
            code,
            field,
        ), r.text
    with identity.admin() as kc:
        assert kc.get("/users", params={"search": f"x4-{county}"}).json() == []

    # The unit's list shows the account; disabling it refuses its next login.
    async def listed():
        r = httpx.get(f"{accounts.url}/accounts", headers=admin, params={"unit": "武城县财政局"}).json()
        return r["accounts"] if r.get("count") else None

    [row] = asyncio.run(eventually(listed))
    assert (row["username"], row["role"], row["enabled"]) == (clerk, "unit", True)
    off = httpx.post(f"{accounts.url}/accounts/{clerk}/disable", headers=admin, json={"reason": "调离"})
    assert off.status_code == 200, off.text
    assert identity.login(clerk, "Finance-Passw0rd").json()["error"] == "invalid_grant"


def test_a_registry_cadre_gets_a_trainee_account_in_one_step(identity, accounts, selection, counties):
    county, _ = counties
    org = identity.auth(f"org-{county}")
    admin = identity.auth(f"admin-{county}")
    cadre = httpx.post(
        f"{selection.url}/cadres",
        headers=org,
        json={
            "name": "王五",
            "id_number": id_number("110105", date(1990, 5, 5), 13),
            "unit": UNIT,
            "rank": "科员",
        },
    )
    cadre_id = cadre.json()["cadre_id"]

    async def given():
        r = httpx.post(
            f"{accounts.url}/accounts/trainees",
            headers=admin,
            json={"cadre_id": cadre_id, "password": "Trainee-Passw0rd", "temporary_password": False},
        )
        return r if r.status_code == 201 else None  # the registry reaches accounts through Kafka

    made = asyncio.run(eventually(given, timeout=60, interval=1)).json()
    assert (made["role"], made["person_id"], made["unit"], made["name"]) == (
        "trainee",
        cadre_id,
        UNIT,
        "王五",
    )
    claims = jwt.decode(
        identity.token(made["username"], "Trainee-Passw0rd"), options={"verify_signature": False}
    )
    assert (claims["person_id"], claims["jurisdiction"]) == (cadre_id, county)


def test_the_demo_accounts_are_made_once_and_log_in(identity, accounts, counties):
    from deploy.demo import accounts as demo

    _, other = counties
    identity.create_user(f"kc-admin-{other}", "admin", other, name="外县账号管理员")
    admin = identity.auth(f"kc-admin-{other}")
    expected = demo.demo_accounts((other,))
    assert {a.role for a in expected} == {
        "org_department",
        "unit",
        "evaluator",
        "party_school",
        "recorder",
        "mentor",
        "trainee",
        "admin",
    }  # no analyst in a county
    assert demo.create(accounts.url, lambda code: admin, (other,)) == (len(expected), 0)
    assert demo.create(accounts.url, lambda code: admin, (other,)) == (0, len(expected))  # a second `up`
    clerk = next(a for a in expected if a.role == "unit")
    claims = jwt.decode(
        identity.token(clerk.username, demo.DEMO_PASSWORD), options={"verify_signature": False}
    )
    assert (claims["jurisdiction"], claims["unit"], claims["roles"].count("unit")) == (other, "县教育局", 1)
    evaluator = next(a for a in expected if a.role == "evaluator")  # a unit's leader or colleague
    claims = jwt.decode(
        identity.token(evaluator.username, demo.DEMO_PASSWORD), options={"verify_signature": False}
    )
    assert (claims["unit"], claims["roles"].count("evaluator")) == ("县教育局", 1)
