"""What every request passes before a route sees it, and what every response carries.

- A body limit: a request whose body is larger than the service accepts is answered 413
  before the route reads it (a JSON body 1 MiB, an upload 20 MiB by default; settings
  `GANXUN_MAX_JSON_BYTES` / `GANXUN_MAX_UPLOAD_BYTES`). The body is read here, up to the
  limit, and handed on, so no route and no form parser ever holds more than that.
- Control characters (NUL, ESC …; tab, line feed and carriage return excepted in texts)
  in the path, in query values or in any text of a JSON body are refused with 422 naming
  the field: the store cannot keep a NUL, and no id or name of ours holds one.
- Every HTML response gets a Content-Security-Policy that allows scripts, styles and
  connections only from the service itself; every response `X-Content-Type-Options: nosniff`.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware) so the body is read once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_IN_ID = re.compile(r"[\x00-\x1f\x7f]")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
MiB = 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / MiB:g} MB"


def _json_error(status: int, body: dict) -> tuple[int, bytes]:
    return status, json.dumps(body, ensure_ascii=False).encode()


def control_in(value, path: str = "") -> str | None:
    """The dotted path of the first text (key or value) holding a control character, if any."""
    if isinstance(value, str):
        return path or "body" if CONTROL.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and CONTROL.search(k):
                return here
            found = control_in(v, here)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = control_in(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class Guard:
    def __init__(
        self, app: ASGIApp, *, max_json: int, max_upload: int, label: Callable[[str], str] = lambda f: f
    ) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload
        self.label = label

    def _control(self, field: str) -> tuple[int, bytes]:
        name = (
            self.label(field.split(".")[-1])
            if field not in ("path", "body")
            else {"path": "地址中的编号", "body": "请求内容"}[field]
        )
        return _json_error(
            422,
            {
                "code": "control_character",
                "field": field,
                "message": f"{name}含有不可见的控制字符（如 NUL），请删除后重试。",
            },
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_target(scope)
        body = b""
        if refusal is None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            refusal, body = await self._read_body(scope, receive)
        if refusal is not None:
            status, payload = refusal
            await self._send_plain(send, status, payload)
            return
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            receive = self._replay(body, receive)
        await self.app(scope, receive, self._headers(send))

    def _check_target(self, scope: Scope) -> tuple[int, bytes] | None:
        raw = scope.get("raw_path") or scope["path"].encode()
        if CONTROL_IN_ID.search(unquote(raw.decode("latin-1"))) or CONTROL_IN_ID.search(scope["path"]):
            return self._control("path")
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            if CONTROL_IN_ID.search(unquote(key)) or CONTROL.search(value):
                return self._control(key)
        return None

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[tuple[int, bytes] | None, bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        upload = kind.startswith("multipart/")
        limit = self.max_upload + 64 * 1024 if upload else self.max_json
        too_large = _json_error(
            413,
            {
                "code": "body_too_large",
                "field": "file" if upload else "body",
                "message": (
                    f"上传的文件超过 {_mib(self.max_upload)}，请拆分后分批导入。"
                    if upload
                    else f"请求内容超过 {_mib(self.max_json)}，请减少一次提交的数据。"
                ),
            },
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large, b""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large, b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and (kind in ("application/json", "") or kind.endswith("+json")):
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return None, body  # the route's own parsing answers it (400, unreadable body)
            field = control_in(data)
            if field:
                return self._control(field), b""
        return None, body

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def again() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return again

    @staticmethod
    async def _send_plain(send: Send, status: int, payload: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    def _headers(send: Send) -> Send:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        return with_headers
