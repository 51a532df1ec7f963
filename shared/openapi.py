"""The services' OpenAPI documents, post-processed once: what FastAPI generates, plus how
to authenticate, every protected route's 401 and 403, and the media type of each file a
route answers.

Routes that depend on `shared.api.principal` carry the bearer scheme already (its
HTTPBearer dependency); here they also get the issuer's OpenID Connect scheme and their
401 / 403 answers. The dashboard's live stream takes the token as an `access_token`
query parameter (an EventSource cannot send headers) and is declared so. Health checks
and static pages take no token and answer neither.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

OPEN_ROUTES = {"/healthz", "/readyz"}


FILES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".ics": "text/calendar",
}


def _files(path: str, op: dict) -> None:
    """A route that answers a file (its path ends in .xlsx, .pdf, .html or .ics, or its
    `format` parameter offers xlsx) declares that file's media type for 200."""
    kinds = [media for suffix, media in FILES.items() if path.endswith(suffix)]
    for param in op.get("parameters", []):
        if param.get("name") == "format" and "xlsx" in str(param.get("schema", {})):
            kinds.append(FILES[".xlsx"])
    for code, answer in op.get("responses", {}).items():
        content = answer.get("content") or {}
        if code[0] in "45" and content and "application/json" not in content:
            # errors are JSON on every route, also where the route's own answer is a file
            answer["content"] = {"application/json": next(iter(content.values()))}
    ok = op.get("responses", {}).get("200")
    if kinds and ok is not None:
        content = ok.setdefault("content", {})
        if path.endswith(tuple(FILES)):
            content.pop("application/json", None)
        for media in kinds:
            content.setdefault(media, {"schema": {"type": "string", "format": "binary"}})


def _roles(doc: dict) -> None:
    """The roles a route admits (shared/access.py), also in words where people read it."""
    for ops in doc["paths"].values():
        for op in ops.values():
            names = op.get("x-ganxun-roles-zh") if isinstance(op, dict) else None
            if names:
                op["description"] = (op.get("description", "") + f"\n\n可用角色：{names}。").strip()
            if isinstance(op, dict) and op.get("x-ganxun-ids") == "per-jurisdiction":
                op["description"] += "\n\n编号按辖区区分：其他辖区使用相同编号，得到的是其本辖区自己的数据。"


def openapi(app: FastAPI, issuer: str | None = None):
    """`app.openapi`: the generated document, built once, with the bearer-token scheme every
    route except the health checks requires, the files routes answer, and `secure`."""

    def build() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            doc.setdefault("components", {})["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "ganxun 令牌（开发环境用 ganxun token 签发）",
                }
            }
            doc["security"] = [{"bearer": []}]
            for path, ops in doc["paths"].items():
                for op in ops.values():
                    _files(path, op)
            for path in OPEN_ROUTES:
                for op in doc["paths"].get(path, {}).values():
                    op["security"] = []
            _roles(doc)
            app.openapi_schema = secure(doc, issuer)
        return app.openapi_schema

    return build


ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "给程序读的英文代码"},
        "message": {"type": "string", "description": "给人读的中文说明"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "出错的字段（若有）"},
    },
}
RESPONSES = {
    "401": {
        "description": "未登录，或令牌无效、过期（须重新登录）",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "403": {
        "description": "已登录，但角色、辖区或单位无权执行此操作",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def secure(doc: dict, issuer: str | None) -> dict:
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).setdefault("Error", ERROR)
    schemes = components.setdefault("securitySchemes", {})
    schemes["accessTokenQuery"] = {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": "访问令牌作为查询参数（仅实时推送接口）",
    }
    if issuer:
        schemes["oidc"] = {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        }
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            if op.get("security"):
                if issuer and {"oidc": []} not in op["security"]:
                    op["security"].append({"oidc": []})
            elif any(
                p.get("in") == "query" and p.get("name") == "access_token" for p in op.get("parameters", [])
            ):
                op["security"] = [{"accessTokenQuery": []}]
            else:
                continue
            for status, response in RESPONSES.items():
                op.setdefault("responses", {}).setdefault(status, response)
    return doc
