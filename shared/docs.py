"""The /docs page of every service, with Swagger UI's script and style served by the
service itself (vendored by deploy/vendor-swagger-ui.sh, hash-checked), so the page works
on an intranet without internet access. FastAPI's own /docs loads them from a CDN."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).parent / "static"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
ASSETS = {
    "swagger-ui-bundle.js": (STATIC / "swagger-ui" / "swagger-ui-bundle.js", JS),
    "swagger-ui.css": (STATIC / "swagger-ui" / "swagger-ui.css", CSS),
    "docs-init.js": (STATIC / "docs-init.js", JS),
}


def page(title: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · 接口说明</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>'
        '<body><div id="swagger-ui"></div>'
        '<script src="/docs/assets/swagger-ui-bundle.js"></script>'
        '<script src="/docs/assets/docs-init.js"></script></body></html>'
    )


def install(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page(app.title))

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return Response("未找到", status_code=404, media_type="text/plain; charset=utf-8")
        path, media_type = ASSETS[name]
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
