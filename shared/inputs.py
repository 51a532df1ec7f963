"""The base of every request model: what the schema forbids is refused.

pydantic's lax mode turns `false` into 0 for an integer field and `0` into 1970-01-01
for a date field, so a quota of `false` or a date of `0` was accepted although the
OpenAPI schema says integer and date string. Strict mode would also refuse the ISO date
strings JSON carries (FastAPI validates the decoded Python values), so only these lax
conversions are refused here: a bool where a number is expected, a number where a date
or time is expected, inside lists and mappings too.
"""

from __future__ import annotations

import types
from datetime import date, datetime, time
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

NUMBERS = (int, float)
MOMENTS = (date, datetime, time)


def _kinds(annotation: Any) -> set:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return {k for arg in get_args(annotation) for k in _kinds(arg)}
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[X, ...]
        return _kinds(get_args(annotation)[0])
    return {origin or annotation}


def _inner(annotation: Any, container: type) -> Any | None:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _inner(arg, container)
            if found is not None:
                return found
        return None
    if getattr(annotation, "__metadata__", None) is not None:
        return _inner(get_args(annotation)[0], container)
    if origin is container:
        args = get_args(annotation)
        return args[-1] if args else None
    return None


def refuse_lax(annotation: Any, value: Any) -> None:
    kinds = _kinds(annotation)
    if isinstance(value, bool):
        if bool not in kinds and Any not in kinds:
            if kinds & {int}:
                raise PydanticCustomError("int_type", "必须是整数")
            if kinds & {float}:
                raise PydanticCustomError("float_type", "必须是数字")
        return
    if isinstance(value, NUMBERS) and kinds & set(MOMENTS) and not kinds & {int, float, str, Any}:
        if kinds & {time} and not kinds & {date, datetime}:
            raise PydanticCustomError("time_type", "不是有效的时间（应为 HH:MM）")
        raise PydanticCustomError("date_type", "不是有效的日期（应为 YYYY-MM-DD）")
    if isinstance(value, list):
        item = _inner(annotation, list) or _inner(annotation, tuple)
        if item is not None:
            for v in value:
                refuse_lax(item, v)
    if isinstance(value, dict):
        item = _inner(annotation, dict)
        if item is not None:
            for v in value.values():
                refuse_lax(item, v)


class Input(BaseModel):
    """A request body: as strict as its schema says (see the module's docstring)."""

    @field_validator("*", mode="before")
    @classmethod
    def _as_documented(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            refuse_lax(field.annotation, value)
        return value
