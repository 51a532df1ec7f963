"""The HTTP edge every service shares: app factory, auth dependencies, errors in Chinese."""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import consistency, docs, http_errors, openapi
from shared.auth import Principal
from shared.commands import Context
from shared.errors import Forbidden, GanxunError, NotFound
from shared.guards import Guard
from shared.idempotency import IdempotencyMiddleware
from shared.ids import new_id
from shared.projection import public
from shared.runtime import Runtime, ServiceDefinition
from shared.settings import Settings

log = structlog.get_logger("api")


async def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


# Declares the bearer scheme on every route that depends on `principal` (OpenAPI); the
# token itself is read and checked below, with our own Chinese errors.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    auto_error=False,
    description="Authorization: Bearer <访问令牌>（身份认证服务登录后取得；开发环境可用 ganxun token）",
)


async def principal(request: Request, _declared=Depends(BEARER)) -> Principal:
    p = await request.app.state.runtime.verifier.averify(request.headers.get("authorization"))
    structlog.contextvars.bind_contextvars(jurisdiction=p.jurisdiction, user_id=p.user_id)
    return p


async def context(request: Request, who: Principal = Depends(principal)) -> Context:
    rt: Runtime = request.app.state.runtime
    # Commands create data in the token's jurisdiction, so it must be one this
    # deployment serves; reads are checked per resource instead.
    if not rt.settings.serves(who.jurisdiction):
        raise Forbidden(
            f"本服务部署（辖区 {rt.settings.deployment}）不受理辖区 {who.jurisdiction} 的操作。",
            code="wrong_deployment",
        )
    return Context(
        actor=who.actor, jurisdiction=who.jurisdiction, correlation_id=request.state.correlation_id
    )


async def read_document(rt: Runtime, collection: str, doc_id: str, who: Principal, missing: NotFound) -> dict:
    """One projection document, if the reader's jurisdiction covers it (else 403)."""
    doc = await rt.db[collection].find_one({"_id": doc_id})
    if doc is None:
        raise missing
    who.require_covers(doc["jurisdiction"])
    return public(doc)


async def after_writes(request: Request) -> None:
    """Read-your-writes (shared/consistency.py): a read given X-Ganxun-After waits, bounded,
    until this service's projections have applied those writes; `Edge` says how it
    went. A dependency of every route behind its role gate (shared/access.py, `admits`), so
    only a caller the route admits can make a read wait: waiting first let an anonymous
    caller hold a request open for the whole bound, and a refused one gets its 401/403 at once."""
    if request.method in ("GET", "HEAD"):
        await decides_after_writes(request)


async def decides_after_writes(request: Request) -> None:
    """`after_writes` for a command that decides from what the service's reads hold (selection's
    scope, drawn from its read index): given X-Ganxun-After it waits as a read does, so the
    scope drawn right after registrations holds the cadres registered (`access.admits`,
    `decides_from_reads`). Other commands ignore the header: they decide on their streams."""
    after = request.headers.get(consistency.AFTER_HEADER)
    if after:
        written = consistency.parse(after)
        request.state.consistency = await request.app.state.runtime.wait_for(written)


class Edge:
    """The outermost middleware: the correlation id (taken from X-Correlation-Id or made, bound
    to the request's logs, echoed in the answer) and read-your-writes (shared/consistency.py):
    how a read's wait went (`after_writes`, which runs behind the route's role gate) in
    X-Ganxun-Consistency; a command's answer names what it wrote in X-Ganxun-Token. Pure ASGI:
    as two `@app.middleware("http")` functions (Starlette's BaseHTTPMiddleware, a task and a
    memory stream per request each) they took more of selection's CPU than the routes they
    wrapped (docs/benchmarks.md)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cid = headers.get("x-correlation-id") or new_id()
        scope.setdefault("state", {})["correlation_id"] = cid
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=cid, service=self.service)
        extra = {"x-correlation-id": cid}

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for k, v in extra.items():
                    out[k] = v
                if found:
                    out[consistency.TOKEN_HEADER] = ",".join(found)
                waited = scope["state"].get("consistency")
                if waited is not None:
                    out[consistency.STATE_HEADER] = waited
            await send(message)

        found = consistency.collect()
        await self.app(scope, receive, answer)


def _mount_clock(app: FastAPI, settings: Settings) -> None:
    """The development clock's routes, where the service's clock is movable (refused, so the
    service does not start, beside production keys or an identity provider)."""
    from shared import clock, clock_api

    if clock.movable_clock(settings):
        app.include_router(clock_api.router, responses=http_errors.ERROR_RESPONSES)


def _health_checks(app: FastAPI, service: str) -> None:
    """Liveness and readiness, open to the orchestrator (no token)."""

    @app.get("/healthz", tags=["运维"], summary="存活检查")
    async def healthz():
        return {"status": "alive", "service": service}

    @app.get(
        "/readyz",
        tags=["运维"],
        summary="就绪检查（Kafka 与存储可达）",
        responses={503: {"description": "尚未就绪（列出不可达的部分）"}},
    )
    async def readyz(request: Request):
        status = await request.app.state.runtime.readiness()
        ok = all(v == "ok" for v in status.values())
        return JSONResponse({"ready": ok, **status}, status_code=200 if ok else 503)


def create_app(
    definition: ServiceDefinition, settings: Settings, components: tuple[str, ...] | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = Runtime(definition, settings)
        rt.verifier  # noqa: B018 - no way to check tokens: refuse to start (shared/auth.verifier_for)
        app.state.runtime = rt
        app.state.handlers = rt.handlers
        await rt.start(components)
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title=f"ganxun · {definition.title}",
        description=definition.description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    label = http_errors.install(app)
    app.openapi = openapi.openapi(app, settings.oidc_issuer)
    # Middleware added later wraps what was added before. From the outside in: the
    # correlation id, the guard (body limits, control characters: nothing unbounded or
    # malformed reaches further), then the Idempotency-Key (shared/idempotency.py), which
    # reads the body to compare a retry with the original.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        Guard, max_json=settings.max_json_bytes, max_upload=settings.max_upload_bytes, label=label
    )

    app.add_middleware(Edge, service=definition.name)

    @app.exception_handler(GanxunError)
    async def ganxun_error(request: Request, exc: GanxunError):
        log.info("request.refused", code=exc.code, status=exc.status, message=exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    _health_checks(app, definition.name)
    docs.install(app)
    routers = definition.routes if isinstance(definition.routes, tuple) else (definition.routes,)
    for router in routers:
        app.include_router(router, responses=http_errors.ERROR_RESPONSES)
    _mount_clock(app, settings)
    return app
