"""The workbench service (工作台): the built web app, the login, and the forwarding.

Unlike the four services it keeps no events and reads no topics, so it is composed
here rather than by shared.runtime: `bootstrap` makes its handlers from one HTTP client,
the identity provider and the session store (in the workbench's own database); the app
adds the routes of api.py and the web app's files, with a fallback to its index page
for the app's own paths.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from services.workbench import api, oidc
from services.workbench.handlers import Handlers
from services.workbench.reads import SessionStore
from services.workbench.settings import WorkbenchSettings
from shared.errors import GanxunError
from shared.http_client import pooled_client
from shared.ids import new_id

log = structlog.get_logger("workbench")

# Everything the page loads comes from this origin (no CDN: many government networks
# have no internet). Element Plus positions popups with inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)

NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>干训工作台</title>
<body style="font-family:sans-serif;margin:3em"><h1>工作台网页尚未构建</h1>
<p>请运行 <code>bash deploy/build-workbench.sh</code>（<code>ganxun up</code> 与 <code>deploy/test</code>
会自动构建）。</p></body></html>"""


def bootstrap(settings: WorkbenchSettings, http: httpx.AsyncClient, db: Any) -> Handlers:
    return Handlers(
        settings,
        http,
        oidc.Provider(settings.issuer, settings.client_id, http),
        SessionStore(db, settings.idle_minutes * 60),
    )


# long: the app factory: the lifespan, the headers middleware and the pages share its settings
def create_app(settings: WorkbenchSettings | None = None, db: Any = None) -> FastAPI:
    """The app; `db` is the sessions' database (by default the settings' store; the unit
    tests give shared.memory's)."""
    settings = settings or WorkbenchSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        mongo = None
        if db is None:
            mongo = AsyncMongoClient(settings.mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        try:
            async with pooled_client(15.0) as http:
                store = db if mongo is None else mongo[settings.database]
                app.state.handlers = bootstrap(settings, http, store)
                yield
        finally:
            if mongo is not None:
                await mongo.close()

    app = FastAPI(
        title="ganxun · 工作台",
        description="组织部、调训单位、党校、学员、纪实记录员、单位评价人、导师的网页工作台：登录、待办、转发到各服务。",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(GZipMiddleware, minimum_size=1024)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        cid = request.headers.get("x-correlation-id") or new_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=cid, service="workbench")
        response = await call_next(request)
        response.headers.setdefault("x-correlation-id", cid)
        response.headers["content-security-policy"] = CSP
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "same-origin"
        if request.url.path.startswith(("/api/", "/auth/")):
            response.headers["cache-control"] = "no-store"
        return response

    _errors(app)
    _health(app, settings)
    app.include_router(api.router)
    if (settings.dist / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=settings.dist / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def page(path: str):
        """The app's own paths (/, /cadres, /classes/…) all open its one page."""
        if path.startswith(("api/", "auth/")):
            return JSONResponse({"code": "not_found", "message": "没有这个地址。", "field": None}, 404)
        file = (settings.dist / path).resolve()
        if path and file.is_file() and settings.dist.resolve() in file.parents:
            return FileResponse(file)
        index = settings.dist / "index.html"
        if not index.exists():
            return HTMLResponse(NOT_BUILT, status_code=503)
        return Response(
            index.read_bytes(), media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"}
        )

    return app


def _errors(app: FastAPI) -> None:
    """Refusals in Chinese: the service's own, malformed requests, the session store down."""

    @app.exception_handler(GanxunError)
    async def refused(request: Request, exc: GanxunError):
        log.info("request.refused", code=exc.code, status=exc.status, message=exc.message)
        if request.url.path.startswith("/auth/") and request.method == "GET":
            return HTMLResponse(_login_problem(exc.message), status_code=exc.status)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"code": "invalid_input", "message": "请求格式有误。", "field": None}, 422)

    @app.exception_handler(PyMongoError)
    async def store_down(request: Request, exc: PyMongoError):
        """The session store cannot be reached: say so in Chinese (503), never a bare 500."""
        log.warning("sessions.store_unavailable", error=repr(exc))
        message = "登录会话存储暂时无法访问，请稍后再试。"
        if request.url.path.startswith("/auth/") and request.method == "GET":
            return HTMLResponse(_login_problem(message), status_code=503)
        return JSONResponse({"code": "store_unavailable", "message": message, "field": None}, 503)


def _health(app: FastAPI, settings: WorkbenchSettings) -> None:
    """Liveness and readiness (the pages are built, the session store answers)."""

    @app.get("/healthz", tags=["运维"], summary="存活检查")
    async def healthz():
        return {"status": "alive", "service": "workbench"}

    @app.get("/readyz", tags=["运维"], summary="就绪检查（网页已构建，会话存储可达）")
    async def readyz(request: Request):
        built = (settings.dist / "index.html").exists()
        store = await request.app.state.handlers.sessions.reachable()
        ready = built and store == "ok"
        return JSONResponse(
            {"ready": ready, "web": "ok" if built else "not built", "store": store},
            status_code=200 if ready else 503,
        )


def _login_problem(message: str) -> str:
    return (
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>登录未完成</title>"
        "<body style=\"font-family:sans-serif;margin:3em\"><h1>登录未完成</h1>"
        f"<p>{_escape(message)}</p><p><a href=\"/auth/login\">重新登录</a></p></body></html>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
