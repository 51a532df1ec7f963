"""The local Keycloak (deploy/local/keycloak.py) with the committed `ganxun` realm."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import httpx
import jwt

from deploy.local.keycloak import REALM_FILE, KeycloakServer
from shared.auth import ROLES


def test_a_user_logs_in_and_the_token_carries_what_the_services_read(identity):
    identity.create_user(
        "kc-trainee-1", "trainee", "371428", unit="武城县教育局", person_id="cadre-kc-1", name="李四"
    )
    token = identity.token("kc-trainee-1")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == identity.issuer
    assert "ganxun" in claims["aud"]
    assert (claims["jurisdiction"], claims["unit"], claims["person_id"]) == (
        "371428",
        "武城县教育局",
        "cadre-kc-1",
    )
    assert "trainee" in claims["roles"] and claims["name"] == "李四"
    assert claims["exp"] - claims["iat"] == 300  # short-lived access tokens

    wrong = identity.login("kc-trainee-1", "Wrong-Passw0rd")
    assert wrong.status_code in (400, 401) and wrong.json()["error"] == "invalid_grant"


def test_the_login_page_is_chinese_and_the_workbench_client_needs_pkce(identity):
    auth = f"{identity.issuer}/protocol/openid-connect/auth"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": "ganxun-workbench",
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": "http://127.0.0.1:5173/auth/callback",
    }
    page = httpx.get(auth, params={**params, "code_challenge": challenge, "code_challenge_method": "S256"})
    assert page.status_code == 200 and "登录" in page.text and 'lang="zh-CN"' in page.text

    # Without a PKCE challenge, or to a redirect off this machine, no login page.
    no_pkce = httpx.get(auth, params=params)
    assert no_pkce.status_code in (302, 400)
    assert no_pkce.status_code == 400 or "error=" in no_pkce.headers["location"]
    elsewhere = httpx.get(
        auth,
        params={
            **params,
            "redirect_uri": "http://example.org/auth/callback",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert elsewhere.status_code == 400


def test_a_later_process_knows_the_server_by_its_folder(identity):
    again = KeycloakServer(identity.server.folder)
    assert again.port == identity.port and again.admin_password == identity.admin_password
    assert again.status()["running"] and again.realm_ready()


def test_the_realm_file_declares_the_roles_policy_and_clients():
    realm = json.loads(REALM_FILE.read_text())
    # every role the services know (shared/auth.ROLES), and no other
    assert (
        {r["name"] for r in realm["roles"]["realm"]}
        == set(ROLES)
        >= {
            "org_department",
            "unit",
            "party_school",
            "recorder",
            "mentor",
            "trainee",
            "evaluator",
            "analyst",
            "admin",
        }
    )
    assert realm["bruteForceProtected"] and "length(10)" in realm["passwordPolicy"]
    assert realm["defaultLocale"] == "zh-CN" and realm["internationalizationEnabled"]
    workbench = next(c for c in realm["clients"] if c["clientId"] == "ganxun-workbench")
    assert workbench["publicClient"] and workbench["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not workbench["directAccessGrantsEnabled"]


# long: one story end to end against real servers; its steps share the state they build
def test_the_workbench_logs_a_person_in_with_the_code_flow_and_pkce(identity):
    """What the workbench does in the browser, step by step over HTTP: the login page, the
    form post, the code on the callback, the code exchanged with the PKCE verifier."""
    import html
    import re
    from urllib.parse import parse_qs, urlsplit

    identity.create_user("kc-codeflow", "org_department", "371428", name="组织部李科长")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    callback = "http://127.0.0.1:5173/auth/callback"
    with httpx.Client(timeout=30) as browser:
        page = browser.get(
            f"{identity.issuer}/protocol/openid-connect/auth",
            params={
                "client_id": "ganxun-workbench",
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": callback,
                "state": "s1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        action = html.unescape(
            re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1)
        )
        # Keycloak marks its cookies Secure; a browser sends them to http://127.0.0.1 (a secure
        # context), httpx does not: hand them over as a browser would.
        jar = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
        sent = browser.post(
            action, data={"username": "kc-codeflow", "password": "Test-Passw0rd"}, headers={"Cookie": jar}
        )
        assert sent.status_code == 302, sent.text[:500]
        back = urlsplit(sent.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == callback
        query = parse_qs(back.query)
        assert query["state"] == ["s1"]
        token_url = identity.token_url
        form = {
            "grant_type": "authorization_code",
            "client_id": "ganxun-workbench",
            "code": query["code"][0],
            "redirect_uri": callback,
        }
        assert browser.post(token_url, data={**form, "code_verifier": "wrong" * 10}).status_code == 400
        # A code is single-use: a fresh login for the right verifier.
        page = browser.get(
            f"{identity.issuer}/protocol/openid-connect/auth",
            params={
                "client_id": "ganxun-workbench",
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": callback,
                "state": "s2",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        code = parse_qs(urlsplit(page.headers.get("location", "") or page.url.query.decode()).query).get(
            "code"
        )
        if code is None:  # no single sign-on cookie sent: log in again
            action = html.unescape(
                re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1)
            )
            jar = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
            again = browser.post(
                action, data={"username": "kc-codeflow", "password": "Test-Passw0rd"}, headers={"Cookie": jar}
            )
            code = parse_qs(urlsplit(again.headers["location"]).query)["code"]
        tokens = browser.post(token_url, data={**form, "code": code[0], "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert (claims["azp"], claims["jurisdiction"], "org_department" in claims["roles"]) == (
        "ganxun-workbench",
        "371428",
        True,
    )
    assert "ganxun" in claims["aud"]
