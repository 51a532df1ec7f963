"""Class ids namespaced by jurisdiction (issue 14): what a client chooses, the server qualifies.

A class id a client chooses ("2026-01": clerks number their classes) is stored as
`<jurisdiction code>-<chosen>` ("371428-2026-01"), the code of the jurisdiction that opened
the class; so are the ids the server makes for classes (`<code>-<UUIDv7>`). Two counties may
both call a class "2026-01": each reaches its own. The qualified id is the class's stream id
(`class-<id>`), its Kafka key, and the id every other service receives in selection's events.

A route resolves the id in its path (`ClassId`, one dependency) before anything is read:
- an unqualified id is the caller's own: "2026-01" from 371428 is "371428-2026-01";
- a qualified id of the caller's jurisdiction, of a division under it (a city or province
  reading its counties' classes) or above it (a county's people in a province's class) goes
  on to the route, whose reads check the rest as before;
- a qualified id of any other namespace (another county, another province) is answered
  exactly as an unknown class (404 `class_not_found`), decided from the id alone, without a
  lookup: whether that county has such a class is not the caller's to learn.

docs/identity.md ("Ids chosen by clients, ids made by the server") lists every id of every
route and which of them are qualified.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path

from shared import jurisdiction as jur
from shared.api import principal
from shared.auth import Principal
from shared.errors import DomainError, NotFound

CHOSEN = r"^[A-Za-z0-9_-]{1,64}$"
_QUALIFIED = re.compile(r"^([1-9]\d{5})-(.+)$")


def namespace(class_id: str) -> str | None:
    """The jurisdiction code a qualified id names, or None for an unqualified one."""
    m = _QUALIFIED.match(class_id)
    if m is None:
        return None
    try:
        jur.validate(m.group(1))
    except jur.InvalidDivisionCode:
        return None
    return m.group(1)


def qualify(code: str, chosen: str) -> str:
    """The stored id of a class `code` opens as `chosen` (an id already qualified with `code`
    stays as it is). A chosen id that looks qualified with another code is refused: it would
    name a class of that jurisdiction."""
    ns = namespace(chosen)
    if ns is None:
        return f"{code}-{chosen}"
    if ns == code:
        return chosen
    raise DomainError(
        f"班次编号“{chosen}”以六位数字和“-”开头，这是其他辖区的班次编号写法；"
        f"请不写辖区代码（系统会自动加上本辖区代码 {code}），或改用其他编号。",
        code="bad_class_id",
        field="class_id",
    )


def unknown_class(class_id: str) -> NotFound:
    """What a route answers for a class id it cannot reach (no county named but the id's own)."""
    return NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found", field="class_id")


def resolve(who: Principal, class_id: str) -> str:
    """The stored id `class_id` names for `who` (see the module's docstring), or 404."""
    ns = namespace(class_id)
    if ns is None:
        return f"{who.jurisdiction}-{class_id}"
    if jur.covers(who.jurisdiction, ns) or jur.covers(ns, who.jurisdiction):
        return class_id
    raise unknown_class(class_id)


async def class_ref(
    class_id: str = Path(
        description="班次编号：本辖区的班次可只写自定的编号（如 2026-01），"
        "上级或下级辖区的班次写完整编号（辖区代码-编号，如 371428-2026-01）",
    ),
    who: Principal = Depends(principal),
) -> str:
    return resolve(who, class_id)


# A route's class id, resolved for the caller: `class_id: ClassId`.
ClassId = Annotated[str, Depends(class_ref)]
