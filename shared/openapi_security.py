"""The OpenAPI documents say how to authenticate, and that every protected route may
answer 401 (no valid token) and 403 (a token that may not do this).

Routes that depend on `shared.api.principal` carry the bearer scheme already (its
HTTPBearer dependency); here they also get the issuer's OpenID Connect scheme and their
401 / 403 answers. The dashboard's live stream takes the token as an `access_token`
query parameter (an EventSource cannot send headers) and is declared so. Health checks
and static pages take no token and answer neither.
"""

from __future__ import annotations

from fastapi import FastAPI

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


def install(app: FastAPI, issuer: str | None) -> None:
    plain = app.openapi

    def openapi() -> dict:
        fresh = app.openapi_schema is None
        doc = plain()
        return secure(doc, issuer) if fresh else doc

    app.openapi = openapi
