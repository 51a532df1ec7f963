"""The workbench's own pieces, without servers: PKCE, reading the user from a token,
sessions and login states (over shared.memory's database), and the routes' CSRF,
redirect and forwarding rules (the identity provider and a service stand in as httpx
transports: handler-layer fakes).
The real login through Keycloak and the real services is in
tests/integration/test_workbench_browser.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from services.workbench import handlers, oidc
from services.workbench.reads import LOGINS, SESSIONS, SWEEP_EVERY, SessionStore
from services.workbench.service import create_app
from services.workbench.settings import WorkbenchSettings
from shared.errors import Unauthenticated
from shared.memory import MemoryDatabase


def test_pkce_challenge_is_the_s256_of_the_verifier():
    verifier, challenge = oidc.pkce_pair()
    assert 43 <= len(verifier) <= 128
    want = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == want


def test_authorize_url_asks_for_code_with_s256_in_chinese():
    url = oidc.authorize_url(
        "http://idp/auth",
        client_id="ganxun-workbench",
        redirect_uri="http://127.0.0.1:8110/auth/callback",
        state="s1",
        nonce="n1",
        challenge="c1",
    )
    q = httpx.URL(url).params
    assert (q["response_type"], q["code_challenge_method"]) == ("code", "S256")
    assert (q["code_challenge"], q["state"]) == ("c1", "s1")
    assert q["ui_locales"] == "zh-CN" and q["client_id"] == "ganxun-workbench"


def test_user_from_claims_or_from_keycloak_realm_roles():
    u = oidc.user_of(
        {"sub": "u1", "name": "王芳", "role": "unit", "jurisdiction": "371428", "unit": "武城县财政局"}
    )
    assert (u.name, u.role_zh, u.unit) == ("王芳", "调训单位", "武城县财政局")
    assert u.as_dict()["jurisdiction_name"] == "山东省德州市武城县"
    assert oidc.jurisdiction_name("479526") == ""  # a code the table does not know
    k = oidc.user_of(
        {
            "sub": "u2",
            "preferred_username": "dx",
            "jurisdiction": "371428",
            "realm_access": {"roles": ["offline_access", "party_school"]},
        }
    )
    assert (k.name, k.role) == ("dx", "party_school")
    listed = oidc.user_of({"sub": "u4", "name": "乙", "jurisdiction": "371428", "roles": ["unit"]})
    assert listed.role == "unit"
    with pytest.raises(Unauthenticated, match="没有干训系统的角色"):
        oidc.user_of({"sub": "u3", "jurisdiction": "371428", "realm_access": {"roles": ["offline_access"]}})


def run(coro):
    return asyncio.run(coro)


def test_a_login_state_is_used_once_and_expires():
    store = SessionStore(MemoryDatabase(), idle_seconds=60)
    state = run(store.begin_login("v", "n", "/queue", now=1000))
    assert run(store.finish_login(state, now=1001)).back_to == "/queue"
    assert run(store.finish_login(state, now=1002)) is None  # replayed
    late = run(store.begin_login("v", "n", "/", now=1000))
    assert run(store.finish_login(late, now=1000 + 601)) is None  # older than ten minutes


def test_an_idle_session_ends():
    store = SessionStore(MemoryDatabase(), idle_seconds=300)
    s = run(
        store.create(
            oidc.user_of({"sub": "u", "name": "甲", "role": "unit", "jurisdiction": "371428"}),
            oidc.Tokens("a", "r", None, time.time() + 300, None),
        )
    )
    seen = run(store.get(s.sid, now=s.last_seen + 120))
    assert (seen.user, seen.csrf, seen.tokens) == (s.user, s.csrf, s.tokens)
    later = run(store.get(s.sid, now=s.last_seen + 400))  # idle counts from the last use, not the login
    assert later is not None
    assert run(store.get(s.sid, now=later.last_seen + 301)) is None
    assert run(store.get(s.sid)) is None


def test_a_session_is_in_the_store_under_a_hash_of_its_id_and_outlives_the_process():
    db = MemoryDatabase()
    s = run(
        SessionStore(db, idle_seconds=300).create(
            oidc.user_of({"sub": "u", "name": "甲", "role": "unit", "jurisdiction": "371428"}),
            oidc.Tokens("a", "r", None, time.time() + 300, None),
        )
    )
    (key,) = db[SESSIONS].docs
    assert s.sid not in key and s.sid not in json.dumps(db[SESSIONS].docs[key])  # no cookie in the store
    again = SessionStore(db, idle_seconds=300)  # a new process on the same store
    assert run(again.get(s.sid)).user.name == "甲"
    run(again.end(s.sid))
    assert run(SessionStore(db, idle_seconds=300).get(s.sid)) is None


def test_idle_sessions_and_stale_logins_are_swept_from_the_store_at_a_later_login():
    db = MemoryDatabase()
    store = SessionStore(db, idle_seconds=300)
    user = oidc.user_of({"sub": "u", "name": "甲", "role": "unit", "jurisdiction": "371428"})
    tokens = oidc.Tokens("a", "r", None, time.time() + 300, None)
    old = run(store.create(user, tokens, now=1000))
    run(store.begin_login("v", "n", "/", now=1000))
    later = 1000 + SWEEP_EVERY + 1
    kept = run(store.create(user, tokens, now=later))
    run(store.begin_login("v", "n", "/", now=later))
    assert len(db[SESSIONS].docs) == 1 and run(store.get(kept.sid, now=later)) is not None
    assert run(store.get(old.sid, now=later)) is None
    assert [d["started"] for d in db[LOGINS].docs.values()] == [later]


@pytest.mark.parametrize(
    "value, want",
    [
        ("/queue?x=1", "/queue?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        (None, "/"),
    ],
)
def test_after_login_only_a_local_path(value, want):
    assert handlers.local_path(value) == want


# -- the routes, with the identity provider and a service as in-process transports ----------------
def _token(**claims) -> str:
    return jwt.encode(
        {
            "sub": "u1",
            "name": "李娜",
            "role": "org_department",
            "jurisdiction": "371428",
            "exp": int(time.time()) + 300,
            **claims,
        },
        "k" * 32,
        algorithm="HS256",
    )


class World:
    """What the fake identity provider and the fake selection service saw."""

    def __init__(self) -> None:
        self.forwarded: list[httpx.Request] = []
        self.refreshed = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "authorization_endpoint": "http://idp/auth",
                    "token_endpoint": "http://idp/token",
                    "end_session_endpoint": "http://idp/logout",
                },
            )
        if url == "http://idp/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            if form["grant_type"] == "refresh_token":
                self.refreshed += 1
            return httpx.Response(
                200, json={"access_token": _token(), "refresh_token": "r", "expires_in": 300}
            )
        if url == "http://idp/logout":
            return httpx.Response(204)
        if url.startswith("http://selection/"):
            self.forwarded.append(request)
            if request.url.path == "/cadres" and request.method == "POST":
                token = "selection.371428:cadre-cd-1@1"
                return httpx.Response(201, json={"token": token}, headers={"x-ganxun-token": token})
            if request.url.path == "/cadres/cd-1":
                fresh = {"x-ganxun-consistency": "fresh"} if "x-ganxun-after" in request.headers else {}
                return httpx.Response(200, json={"name": "王明"}, headers=fresh)
            if request.url.path == "/classes/c1/confirmations":
                return httpx.Response(
                    422,
                    json={
                        "code": "rule_violated",
                        "message": "整批未生效：张伟 不在人选范围内。",
                        "field": None,
                    },
                )
            return httpx.Response(200, json={"count": 0, "cadres": []})
        if url.startswith("http://dashboard/"):
            self.forwarded.append(request)
            return httpx.Response(200, json={"level": "county", "rows": []})
        return httpx.Response(404)


@pytest.fixture
def client(monkeypatch):
    world = World()
    settings = WorkbenchSettings(
        issuer="http://idp",
        selection_url="http://selection",
        dashboard_url="http://dashboard",
        public_url="http://testserver",
    )
    real = httpx.AsyncClient

    def fake_client(*a, **kw):
        return real(transport=httpx.MockTransport(world.handler))

    monkeypatch.setattr("services.workbench.service.httpx.AsyncClient", fake_client)
    db = MemoryDatabase()
    with TestClient(create_app(settings, db=db), follow_redirects=False) as c:
        c.world, c.db = world, db
        yield c


def _login(c: TestClient) -> str:
    r = c.get("/auth/login", params={"next": "/queue"})
    assert r.status_code == 302
    q = httpx.URL(r.headers["location"]).params
    r = c.get("/auth/callback", params={"state": q["state"], "code": "abc"})
    assert r.status_code == 302 and r.headers["location"] == "/queue"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    return c.get("/api/me").json()["csrf_token"]


def test_without_a_session_the_api_asks_to_log_in(client):
    r = client.get("/api/selection/cadres")
    assert r.status_code == 401 and r.json()["code"] == "login_required" and "登录" in r.json()["message"]


def test_login_then_me_shows_name_role_and_jurisdiction(client):
    _login(client)
    me = client.get("/api/me").json()
    assert (me["name"], me["role_zh"], me["jurisdiction"]) == ("李娜", "组织部", "371428")


def test_forwarding_sends_the_users_token_and_passes_a_refusal_through_unchanged(client):
    csrf = _login(client)
    r = client.get("/api/selection/cadres", params={"page": 2, "q": "张"})
    assert r.status_code == 200 and r.json() == {"count": 0, "cadres": []}
    sent = client.world.forwarded[-1]
    assert sent.headers["authorization"].startswith("Bearer ") and "cookie" not in sent.headers
    assert sent.url.params["q"] == "张" and sent.url.params["page"] == "2"
    r = client.post(
        "/api/selection/classes/c1/confirmations", json={"cadre_ids": ["x"]}, headers={"x-csrf-token": csrf}
    )
    assert r.status_code == 422
    assert r.json() == {
        "code": "rule_violated",
        "message": "整批未生效：张伟 不在人选范围内。",
        "field": None,
    }
    assert json.loads(client.world.forwarded[-1].content) == {"cadre_ids": ["x"]}


def test_the_consistency_headers_are_forwarded_both_ways(client):
    """A command's token reaches the page, and the page's next read takes it to the service
    and the service's answer on how fresh the read is back (shared/consistency.py)."""
    csrf = _login(client)
    r = client.post("/api/selection/cadres", json={"name": "王明"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 201 and r.headers["x-ganxun-token"] == "selection.371428:cadre-cd-1@1"
    r = client.get("/api/selection/cadres/cd-1", headers={"x-ganxun-after": r.headers["x-ganxun-token"]})
    assert client.world.forwarded[-1].headers["x-ganxun-after"] == "selection.371428:cadre-cd-1@1"
    assert r.headers["x-ganxun-consistency"] == "fresh"


def test_a_write_without_the_csrf_token_or_from_another_site_is_refused(client):
    csrf = _login(client)
    before = len(client.world.forwarded)
    r = client.post("/api/selection/classes/c1/confirmations", json={"cadre_ids": ["x"]})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.post(
        "/api/selection/classes/c1/confirmations",
        json={"cadre_ids": ["x"]},
        headers={"x-csrf-token": csrf, "origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert len(client.world.forwarded) == before  # nothing reached the service


def test_an_expiring_token_is_refreshed_on_the_server(client):
    _login(client)
    (s,) = client.db[SESSIONS].docs.values()
    s["tokens"]["expires_at"] = time.time() + 5
    client.get("/api/selection/cadres")
    assert client.world.refreshed == 1
    assert s["tokens"]["expires_at"] > time.time() + 200  # the refreshed tokens are kept
    client.get("/api/selection/cadres")
    assert client.world.refreshed == 1


def test_the_dashboard_is_forwarded_like_every_service(client):
    _login(client)
    r = client.get("/api/dashboard/api/overview", params={"jurisdiction": "371428", "year": "all"})
    assert r.status_code == 200 and r.json() == {"level": "county", "rows": []}
    sent = client.world.forwarded[-1]
    assert (sent.url.host, sent.url.path, sent.url.params["year"]) == ("dashboard", "/api/overview", "all")
    assert sent.headers["authorization"].startswith("Bearer ")


def test_unknown_service_and_logout(client):
    csrf = _login(client)
    r = client.get("/api/accounting/x")
    assert r.status_code == 404 and "没有名为" in r.json()["message"]
    assert client.post("/auth/logout", headers={"x-csrf-token": csrf}).status_code == 200
    assert client.get("/api/me").status_code == 401


def test_a_store_that_does_not_answer_is_a_chinese_503_not_a_500(client):
    from pymongo.errors import ServerSelectionTimeoutError

    _login(client)

    async def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("127.0.0.1:27018: connection refused")

    client.db[SESSIONS].find_one = down
    r = client.get("/api/me")
    assert (
        r.status_code == 503 and r.json()["code"] == "store_unavailable" and "会话存储" in r.json()["message"]
    )
    client.db["logins"].insert_one = down
    r = client.get("/auth/login")
    assert r.status_code == 503 and "会话存储" in r.text and "重新登录" in r.text


def test_a_replayed_callback_shows_a_chinese_page(client):
    r = client.get("/auth/callback", params={"state": "nope", "code": "abc"})
    assert r.status_code == 401 and "登录请求已过期或无效" in r.text and "重新登录" in r.text
