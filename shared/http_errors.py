"""Every HTTP error in the one shape `{code, message, field}`, in Chinese, naming the field
in Chinese: validation errors (pydantic's English replaced for the common error types),
unknown routes, methods a route does not take, unreadable bodies and unexpected failures.

The Chinese name of a field comes from the API itself: a field's `title`, else the head of
its `description` ("宽限天数：到期后…" → 宽限天数), else the shared glossary below, so the
name a user reads in an error is the one the /docs page shows beside the same field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.jurisdiction import InvalidDivisionCode

log = structlog.get_logger("api")

# Names used by path and query parameters that carry no description of their own.
GLOSSARY = {
    "cadre_id": "干部编号",
    "class_id": "班次编号",
    "jurisdiction": "行政区划代码",
    "session_id": "课次编号",
    "teacher_id": "教师编号",
    "course_id": "课程编号",
    "site_id": "教学点编号",
    "person_id": "人员编号",
    "record_id": "纪实记录编号",
    "mentor_id": "导师编号",
    "scheme_id": "考核方案编号",
    "item_id": "考核项目编号",
    "month": "跟踪月份",
    "months": "跟踪月份",
    "year": "年份",
    "hours_policy": "年度学时标准",
    "format": "格式",
    "unit": "单位",
    "name": "姓名",
    "id_number": "身份证号",
    "file": "上传文件",
    "body": "请求内容",
    "page": "页码",
    "size": "每页条数",
    "q": "搜索词",
    "access_token": "访问令牌",
    "week": "评分周",
    "today": "日期",
    "on": "日期",
    "text": "内容",
    "title": "标题",
    "capacity": "计划人数",
    "quota": "名额",
    "quotas": "名额",
    "status": "状态",
    "reason": "理由",
    "role": "角色",
}
_HEAD = re.compile(r"[（(：:，,；;。 ]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class ErrorOut(BaseModel):
    """Every refusal: an English code for programs, a Chinese message for people, the field."""

    code: str = Field(description="错误代码（英文，供程序判断）")
    message: str = Field(description="错误说明（中文）")
    field: str | None = Field(None, description="出错的字段")
    errors: list[dict] | None = Field(None, description="多个字段出错时逐项说明")


def _error(text: str) -> dict:
    return {"model": ErrorOut, "description": text}


# Declared on every route, so the OpenAPI document lists every error status a route answers.
ERROR_RESPONSES = {
    400: _error("请求内容无法解析"),
    401: _error("未登录或令牌无效"),
    403: _error("无权访问（角色或辖区不符）"),
    404: _error("对象不存在"),
    409: _error("冲突：记录已被他人修改"),
    413: _error("请求内容或上传文件过大"),
    422: _error("输入有误或业务规则不允许"),
}


def _label_of(name: str, title: str | None, description: str | None) -> str | None:
    for text in (title, description):
        if text and _CJK.search(text):
            head = _HEAD.split(text.strip(), 1)[0]
            if head and _CJK.search(head) and len(head) <= 16:
                return head
    return None


def _walk_model(model: type[BaseModel], labels: dict[str, str], seen: set) -> None:
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        label = _label_of(name, info.title, info.description)
        if label:
            labels.setdefault(name, label)
        for inner in _models_in(info.annotation):
            _walk_model(inner, labels, seen)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) or () for m in _models_in(arg)]


def routes_of(routes) -> list:
    """Every route, those of included routers too (FastAPI keeps an included router whole)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += routes_of(inner.routes) if inner is not None else [route]
    return out


def field_labels(app: FastAPI) -> dict[str, str]:
    """Field name → Chinese name, from every route's parameters and body models."""
    labels: dict[str, str] = {}
    seen: set = set()

    def dependant(dep) -> None:
        for param in [*dep.path_params, *dep.query_params, *dep.header_params, *dep.body_params]:
            info = param.field_info
            label = _label_of(param.name, info.title, info.description)
            if label:
                labels.setdefault(param.alias or param.name, label)
            for model in _models_in(info.annotation if info.annotation is not None else param.type_):
                _walk_model(model, labels, seen)
        for sub in dep.dependencies:
            dependant(sub)

    for route in routes_of(app.routes):
        if isinstance(route, APIRoute):
            dependant(route.dependant)
    for name, label in GLOSSARY.items():
        labels.setdefault(name, label)
    return labels


def _expected(ctx: dict) -> str:
    return str(ctx.get("expected", "")).replace("'", "").replace(" or ", "、")


# pydantic's error type → what the user reads after the field's name.
MESSAGES = {
    "missing": lambda c: "必须填写",
    "greater_than": lambda c: f"必须大于 {c['gt']}",
    "greater_than_equal": lambda c: f"不能小于 {c['ge']}",
    "less_than": lambda c: f"必须小于 {c['lt']}",
    "less_than_equal": lambda c: f"不能大于 {c['le']}",
    "string_too_short": lambda c: "不能为空" if c.get("min_length") == 1 else f"至少 {c['min_length']} 个字",
    "string_too_long": lambda c: f"最多 {c['max_length']} 个字",
    "too_short": lambda c: f"至少 {c['min_length']} 项",
    "too_long": lambda c: f"最多 {c['max_length']} 项",
    "string_pattern_mismatch": lambda c: "格式不正确（只能含字母、数字、点、横线和下划线）",
    "string_type": lambda c: "必须是文字",
    "int_type": lambda c: "必须是整数",
    "int_parsing": lambda c: "必须是整数",
    "int_from_float": lambda c: "必须是整数",
    "float_type": lambda c: "必须是数字",
    "float_parsing": lambda c: "必须是数字",
    "finite_number": lambda c: "必须是有限的数字",
    "bool_type": lambda c: "必须是 true 或 false",
    "bool_parsing": lambda c: "必须是 true 或 false",
    "date_type": lambda c: "不是有效的日期（应为 YYYY-MM-DD）",
    "date_parsing": lambda c: "不是有效的日期（应为 YYYY-MM-DD）",
    "date_from_datetime_parsing": lambda c: "不是有效的日期（应为 YYYY-MM-DD）",
    "date_from_datetime_inexact": lambda c: "不是有效的日期（应为 YYYY-MM-DD）",
    "datetime_type": lambda c: "不是有效的日期时间",
    "datetime_parsing": lambda c: "不是有效的日期时间",
    "datetime_from_date_parsing": lambda c: "不是有效的日期时间",
    "time_type": lambda c: "不是有效的时间（应为 HH:MM）",
    "time_parsing": lambda c: "不是有效的时间（应为 HH:MM）",
    "literal_error": lambda c: f"只能是 {_expected(c)} 之一",
    "enum": lambda c: f"只能是 {_expected(c)} 之一",
    "list_type": lambda c: "必须是列表",
    "tuple_type": lambda c: "必须是列表",
    "set_type": lambda c: "必须是列表",
    "dict_type": lambda c: "必须是对象（键值对）",
    "model_type": lambda c: "必须是对象（键值对）",
    "model_attributes_type": lambda c: "必须是对象（键值对）",
    "extra_forbidden": lambda c: "是不认识的字段",
    "json_invalid": lambda c: "不是有效的 JSON",
    "json_type": lambda c: "不是有效的 JSON",
    "uuid_parsing": lambda c: "不是有效的编号",
    "uuid_type": lambda c: "不是有效的编号",
    "url_parsing": lambda c: "不是有效的网址",
    "url_type": lambda c: "不是有效的网址",
    "multiple_of": lambda c: f"必须是 {c['multiple_of']} 的整数倍",
    "decimal_parsing": lambda c: "必须是数字",
    "union_tag_invalid": lambda c: f"只能是 {_expected(c)} 之一",
}


def _reason(e: dict) -> str:
    ctx = e.get("ctx") or {}
    if e["type"] == "value_error":
        # Our own validators raise ValueError with a Chinese text; pydantic prefixes it.
        text = str(ctx.get("error", e.get("msg", "")))
        return text.removeprefix("Value error, ") if _CJK.search(text) else "格式不正确"
    make = MESSAGES.get(e["type"])
    if make is not None:
        try:
            return make(ctx)
        except KeyError:
            pass
    if _CJK.search(str(e.get("msg", ""))):  # a PydanticCustomError of ours, already Chinese
        return str(e["msg"])
    return "格式不正确"


def describe(loc: tuple, labels: dict[str, str]) -> tuple[str, str]:
    """(machine field path, the field's name in Chinese) for a pydantic error location."""
    parts = [x for x in loc if x not in ("body", "query", "path", "header", "cookie")]
    field = ".".join(str(x) for x in parts)
    names = [x for x in parts if isinstance(x, str)]
    if not names:
        return field, "请求内容"
    label = labels.get(names[-1], names[-1])
    items = [x for x in parts if isinstance(x, int)]
    if items:
        label += "（" + "、".join(f"第 {i + 1} 项" for i in items) + "）"
    if len(names) > 1 and names[-1] not in labels and names[-2] in labels:
        label = f"{labels[names[-2]]}中的“{names[-1]}”"  # a key of a mapping, e.g. a quota's division
    return field, label


def invalid_response(errors: list[dict], labels: dict[str, str]) -> JSONResponse:
    out = []
    for e in errors:
        if e["type"] in ("json_invalid", "json_type"):
            return unreadable()
        field, label = describe(tuple(e.get("loc", ())), labels)
        out.append({"field": field or None, "label": label, "message": f"{label}{_reason(e)}"})
    text = "；".join(x["message"] for x in out)
    return JSONResponse(
        {
            "code": "invalid_input",
            "message": f"输入有误：{text}。",
            "field": out[0]["field"] if out else None,
            "errors": out,
        },
        422,
    )


def unreadable() -> JSONResponse:
    return JSONResponse(
        {
            "code": "unreadable_body",
            "message": "请求内容无法解析：应为有效的 JSON（上传文件时为表单）。",
            "field": "body",
        },
        400,
    )


def _allowed(request: Request) -> str:
    methods: set[str] = set()
    for route in routes_of(request.app.routes):
        if getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route.methods)
    return "、".join(sorted(methods - {"HEAD"})) or "无"


def install(app: FastAPI) -> Callable[[str], str]:
    """The exception handlers; returns the field name → Chinese name lookup. Labels are
    read from the routes on first use (routes are added after the app is made)."""
    cache: dict[str, dict[str, str]] = {}

    def labels() -> dict[str, str]:
        if "labels" not in cache:
            cache["labels"] = field_labels(app)
        return cache["labels"]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return invalid_response(list(exc.errors()), labels())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        path, method = request.url.path, request.method
        if exc.status_code == 404:
            body = {
                "code": "no_such_route",
                "message": f"没有这个地址：{method} {path}。可用的接口见本服务的 /docs 页面。",
                "field": "path",
            }
        elif exc.status_code == 405:
            body = {
                "code": "method_not_allowed",
                "message": f"地址 {path} 不接受 {method} 请求（可用：{_allowed(request)}）。",
                "field": None,
            }
        elif exc.status_code == 400:
            return unreadable()
        elif exc.status_code == 413:
            body = {"code": "body_too_large", "message": "请求内容过大。", "field": "body"}
        else:
            body = {
                "code": f"http_{exc.status_code}",
                "message": f"请求未能处理（HTTP {exc.status_code}）。",
                "field": None,
            }
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(InvalidDivisionCode)
    async def bad_code(request: Request, exc: InvalidDivisionCode):
        return JSONResponse({"code": "bad_jurisdiction", "message": str(exc), "field": "jurisdiction"}, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        cid = getattr(request.state, "correlation_id", "")
        log.error("request.failed", error=type(exc).__name__, exc_info=exc)
        return JSONResponse(
            {
                "code": "internal_error",
                "field": None,
                "message": f"服务器内部错误，请稍后重试；如仍出现，请把关联编号 {cid} 告诉管理员。",
            },
            500,
            headers={"x-correlation-id": cid},
        )

    return lambda field: labels().get(field, field)
