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


class AlreadyApplied(DomainError):
    """A command whose natural key the aggregate already holds (an evaluation per
    milestone and role). The command handler answers a retry of the same content with
    the commit that applied it, as the original answer was; anything else is refused
    with this error's own code and message.

    `event_type` and `key` find the original event (its payload holds every `key`
    field); `content` is what the retry must repeat exactly to be the same command."""

    def __init__(
        self, message: str, *, code: str, event_type: str, key: dict, content: dict, field: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.event_type = event_type
        self.key = key
        self.content = content
