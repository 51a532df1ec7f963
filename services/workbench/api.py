"""HTTP routes of the workbench: login and logout, who am I, and the forwarding of
`/api/<service>/<path>` to the services (selection, teaching, records, followup,
reminders) with the user's own token.

The workbench decides nothing: a service's answer (its status and Chinese error body)
goes back to the page unchanged.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from shared.errors import Forbidden, GanxunError, NotFound, Unauthenticated
from services.workbench import oidc
from services.workbench.sessions import Session, SessionStore
from services.workbench.settings import SERVICES, WorkbenchSettings

SESSION_COOKIE = "ganxun_session"
CSRF_HEADER = "x-csrf-token"
SAFE = ("GET", "HEAD", "OPTIONS")
SERVICE_ZH = {"selection": "训前选学", "teaching": "教学与考勤", "records": "纪实考察", "followup": "训后跟踪",
              "reminders": "提醒"}
# What goes to a service and what comes back; cookies and hop-by-hop headers never do.
FORWARD_REQUEST = ("content-type", "accept", "x-correlation-id", "idempotency-key")
FORWARD_RESPONSE = ("content-type", "content-disposition", "x-correlation-id")


class Unreachable(GanxunError):
    status = 502
    code = "service_unreachable"


class Workbench:
    """What the routes share: settings, the identity provider, the sessions, one HTTP client."""

    def __init__(self, settings: WorkbenchSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.provider = oidc.Provider(settings.issuer, settings.client_id, http)
        self.sessions = SessionStore(settings.idle_minutes * 60)


def _wb(request: Request) -> Workbench:
    return request.app.state.workbench


def _local_path(value: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def session_of(request: Request) -> Session:
    s = _wb(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if s is None:
        raise Unauthenticated("未登录或登录已过期，请重新登录。", code="login_required")
    return s


def check_csrf(request: Request, s: Session) -> None:
    """A state-changing call must carry the session's CSRF token, and come from this site."""
    if request.method in SAFE:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent, s.csrf):
        raise Forbidden("请求缺少有效的防伪令牌（CSRF），请刷新页面后重试。", code="csrf_failed")
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != _wb(request).settings.base_url:
        mine = urlsplit(_wb(request).settings.base_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc):
            raise Forbidden("请求来自其他网站，已拒绝。", code="csrf_failed")


async def fresh_token(wb: Workbench, s: Session) -> str:
    """The session's access token, refreshed server-side when it is about to expire."""
    if s.tokens.stale():
        if not s.tokens.refresh:
            wb.sessions.end(s.sid)
            raise Unauthenticated("登录已过期，请重新登录。", code="login_expired")
        try:
            s.tokens = await wb.provider.refresh(s.tokens.refresh)
        except Unauthenticated:
            wb.sessions.end(s.sid)
            raise
    return s.tokens.access


def routes() -> APIRouter:
    r = APIRouter()

    @r.get("/auth/login", include_in_schema=False)
    async def login(request: Request, next: str | None = None):
        wb = _wb(request)
        verifier, challenge = oidc.pkce_pair()
        nonce = secrets.token_urlsafe(16)
        state = wb.sessions.begin_login(verifier, nonce, _local_path(next))
        endpoint = (await wb.provider.config())["authorization_endpoint"]
        return RedirectResponse(oidc.authorize_url(endpoint, client_id=wb.settings.client_id,
                                                   redirect_uri=wb.settings.redirect_uri, state=state,
                                                   nonce=nonce, challenge=challenge), status_code=302)

    @r.get("/auth/callback", include_in_schema=False)
    async def callback(request: Request, state: str = "", code: str = "", error: str = "",
                       error_description: str = ""):
        wb = _wb(request)
        pending = wb.sessions.finish_login(state)
        if error:
            raise Unauthenticated(f"登录未完成：{error_description or error}", code="login_failed")
        if pending is None or not code:
            raise Unauthenticated("登录请求已过期或无效，请重新登录。", code="login_state_invalid")
        tokens = await wb.provider.exchange(code, pending.verifier, wb.settings.redirect_uri)
        if tokens.id_token and oidc.claims_of(tokens.id_token).get("nonce") != pending.nonce:
            raise Unauthenticated("登录校验失败（nonce 不符），请重新登录。", code="login_nonce_invalid")
        user = oidc.user_of(oidc.claims_of(tokens.access))
        s = wb.sessions.create(user, tokens)
        resp = RedirectResponse(pending.back_to, status_code=302)
        resp.set_cookie(SESSION_COOKIE, s.sid, httponly=True, samesite="lax",
                        secure=wb.settings.secure_cookie, path="/")
        return resp

    @r.post("/auth/logout", include_in_schema=False)
    async def logout(request: Request):
        wb = _wb(request)
        s = wb.sessions.get(request.cookies.get(SESSION_COOKIE))
        if s is not None:
            check_csrf(request, s)
            wb.sessions.end(s.sid)
            await wb.provider.revoke(s.tokens)
        resp = JSONResponse({"logged_out": True, "message": "已退出登录。"})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @r.get("/api/me", summary="当前用户：姓名、角色、单位、辖区（来自登录令牌）")
    async def me(request: Request):
        s = session_of(request)
        return {**s.user.as_dict(), "csrf_token": s.csrf}

    @r.api_route("/api/{service}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                 summary="转发到 selection / teaching / records / followup / reminders（带用户本人的令牌）")
    async def forward(service: str, path: str, request: Request):
        wb = _wb(request)
        base = wb.settings.service_url(service)
        if base is None:
            raise NotFound(f"没有名为“{service}”的服务；可用：{'、'.join(SERVICES)}。", code="unknown_service")
        s = session_of(request)
        check_csrf(request, s)
        token = await fresh_token(wb, s)
        headers = {k: v for k in FORWARD_REQUEST if (v := request.headers.get(k))}
        headers["authorization"] = f"Bearer {token}"
        try:
            answer = await wb.http.request(request.method, f"{base}/{path}", params=request.query_params,
                                           content=await request.body(), headers=headers,
                                           timeout=wb.settings.forward_timeout_seconds)
        except httpx.HTTPError as exc:
            raise Unreachable(f"“{SERVICE_ZH[service]}”服务暂时无法访问，请稍后再试。") from exc
        out = {k: v for k in FORWARD_RESPONSE if (v := answer.headers.get(k))}
        return Response(answer.content, status_code=answer.status_code, headers=out)

    return r
