"""HTTP routes of the workbench: login and logout, who am I, and the forwarding of
`/api/<service>/<path>` to the services with the user's own token. Each route
translates HTTP into a call of handlers.py and back; the session cookie and the CSRF
check are HTTP's, so they are here.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.workbench.handlers import Call, Handlers
from services.workbench.reads import Session
from shared.errors import Forbidden

SESSION_COOKIE = "ganxun_session"
CSRF_HEADER = "x-csrf-token"
SAFE = ("GET", "HEAD", "OPTIONS")
# What goes to a service and what comes back; cookies and hop-by-hop headers never do. The
# consistency headers carry read-your-writes both ways (shared/consistency.py, web/src/api.js).
FORWARD_REQUEST = ("content-type", "accept", "x-correlation-id", "idempotency-key", "x-ganxun-after")
FORWARD_RESPONSE = (
    "content-type",
    "content-disposition",
    "x-correlation-id",
    "x-ganxun-token",
    "x-ganxun-consistency",
)

router = APIRouter()


def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


async def session_of(request: Request) -> Session:
    return await handlers(request).session(request.cookies.get(SESSION_COOKIE))


def check_csrf(request: Request, s: Session) -> None:
    """A state-changing call must carry the session's CSRF token, and come from this site."""
    if request.method in SAFE:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent, s.csrf):
        raise Forbidden("请求缺少有效的防伪令牌（CSRF），请刷新页面后重试。", code="csrf_failed")
    base_url = handlers(request).settings.base_url
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != base_url:
        mine = urlsplit(base_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc):
            raise Forbidden("请求来自其他网站，已拒绝。", code="csrf_failed")


@router.get("/auth/login", include_in_schema=False)
async def login(request: Request, next: str | None = None):
    return RedirectResponse(await handlers(request).login(next), status_code=302)


@router.get("/auth/callback", include_in_schema=False)
async def callback(
    request: Request, state: str = "", code: str = "", error: str = "", error_description: str = ""
):
    h = handlers(request)
    s, back_to = await h.callback(state, code, error, error_description)
    resp = RedirectResponse(back_to, status_code=302)
    resp.set_cookie(
        SESSION_COOKIE, s.sid, httponly=True, samesite="lax", secure=h.settings.secure_cookie, path="/"
    )
    return resp


@router.post("/auth/logout", include_in_schema=False)
async def logout(request: Request):
    h = handlers(request)
    s = await h.sessions.get(request.cookies.get(SESSION_COOKIE))
    if s is not None:
        check_csrf(request, s)
        await h.logout(s)
    resp = JSONResponse({"logged_out": True, "message": "已退出登录。"})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/api/me", summary="当前用户：姓名、角色、单位、辖区（来自登录令牌）")
async def me(request: Request):
    s = await session_of(request)
    return {**s.user.as_dict(), "csrf_token": s.csrf}


@router.api_route(
    "/api/{service}/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    summary="转发到 selection / teaching / records / followup / reminders / dashboard（带用户本人的令牌）",
)
async def forward(service: str, path: str, request: Request):
    h = handlers(request)
    h.service_url(service)  # an unknown service is 404 before anything else
    s = await session_of(request)
    check_csrf(request, s)
    call = Call(
        method=request.method,
        path=path,
        params=list(request.query_params.multi_items()),
        body=await request.body(),
        headers={k: v for k in FORWARD_REQUEST if (v := request.headers.get(k))},
    )
    answer = await h.forward(service, s, call)
    out = {k: v for k in FORWARD_RESPONSE if (v := answer.headers.get(k))}
    return Response(answer.content, status_code=answer.status_code, headers=out)
