"""Errors a person reads. Each has an English code for programs and a Chinese message."""

from __future__ import annotations


class GanxunError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}


class DomainError(GanxunError):
    """A command refused by a business rule (业务规则不允许)."""

    status = 422
    code = "rule_violated"


class NotFound(GanxunError):
    status = 404
    code = "not_found"


class ConcurrencyConflict(GanxunError):
    """Someone else changed the same record first (expected version is stale)."""

    status = 409
    code = "conflict"

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            "该记录刚被他人修改，您看到的不是最新内容。请刷新后重试。"
            f"（对象 {stream_id}，预期版本 {expected_version}）"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class Unauthenticated(GanxunError):
    status = 401
    code = "unauthenticated"


class Forbidden(GanxunError):
    status = 403
    code = "forbidden"
