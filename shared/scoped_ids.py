"""Class (and outcome) ids namespaced by jurisdiction (issue 14): what a client chooses, the
server qualifies.

A class id a client chooses ("2026-01": clerks number their classes) is stored as
`<jurisdiction code>-<chosen>` ("371428-2026-01"), the code of the jurisdiction that opened
the class; so are the ids the server makes for classes (`<code>-<UUIDv7>`). Two counties may
both call a class "2026-01": each reaches its own. Follow-up's outcomes (成果, `outcome:<id>`
streams, ids chosen by clients too) are qualified and resolved the same way. The qualified
id is the class's stream id (`class-<id>`), its Kafka key, and the id every other service
receives in selection's events.

A route resolves the id in its path (`ClassId`, one dependency) before anything is read:
- an unqualified id is the caller's own: "2026-01" from 371428 is "371428-2026-01";
- a qualified id of the caller's jurisdiction, of a division under it (a city or province
  reading its counties' classes) or above it (a county's people in a province's class) goes
  on to the route, whose reads check the rest as before;
- a qualified id of any other namespace (another county, another province) is answered
  as an unknown class (404 `class_not_found`, no county named), decided from the id alone, without a
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


def qualify(code: str, chosen: str, what: str = "班次", field: str = "class_id") -> str:
    """The stored id of a class (or outcome: `what`, `field`) `code` makes as `chosen` (an id
    already qualified with `code` stays as it is). A chosen id that looks qualified with
    another code is refused: it would name a document of that jurisdiction."""
    ns = namespace(chosen)
    if ns is None:
        return f"{code}-{chosen}"
    if ns == code:
        return chosen
    raise DomainError(
        f"{what}编号“{chosen}”以六位数字和“-”开头，这是其他辖区的{what}编号写法；"
        f"请不写辖区代码（系统会自动加上本辖区代码 {code}），或改用其他编号。",
        code=f"bad_{field}",
        field=field,
    )


def unknown_class(class_id: str) -> NotFound:
    """What a route answers for a class id it cannot reach: nothing named, not even the code
    in the id (the caller typed it; the answer repeats no county)."""
    return NotFound("该班次不存在（或尚未同步），请核对班次编号。", code="class_not_found", field="class_id")


def unknown_outcome(outcome_id: str) -> NotFound:
    """What follow-up answers for an outcome id it cannot reach (as its decider does)."""
    return NotFound("成果不存在。", code="outcome_not_found", field="outcome_id")


def resolve(who: Principal, scoped_id: str, missing=unknown_class) -> str:
    """The stored id `scoped_id` names for `who` (see the module's docstring), or `missing`."""
    ns = namespace(scoped_id)
    if ns is None:
        return f"{who.jurisdiction}-{scoped_id}"
    if jur.covers(who.jurisdiction, ns) or jur.covers(ns, who.jurisdiction):
        return scoped_id
    raise missing(scoped_id)


def as_filter(who: Principal, class_id: str | None) -> str | None:
    """A list's `class_id` filter: a short id is the caller's own class, a full one is taken
    as it is (another county's matches nothing in the caller's list, as an unknown one)."""
    if not class_id or namespace(class_id) is not None:
        return class_id
    return f"{who.jurisdiction}-{class_id}"


def require_reaches(who: Principal, code: str, missing: NotFound) -> None:
    """For a document found by an id that is not namespaced (a cadre's file, hours, registry
    entry): one of another county (or province) answers `missing`, what the route answers for
    an id nobody has; one of an ancestor (a province's, seen from a county) stays 403
    `wrong_jurisdiction` as before (the county knows its province exists)."""
    if jur.covers(who.jurisdiction, code):
        return
    if jur.covers(code, who.jurisdiction):
        who.require_covers(code)
    raise missing


async def class_ref(
    class_id: str = Path(
        description="班次编号：本辖区的班次可只写自定的编号（如 2026-01），"
        "上级或下级辖区的班次写完整编号（辖区代码-编号，如 371428-2026-01）",
    ),
    who: Principal = Depends(principal),
) -> str:
    return resolve(who, class_id)


async def outcome_ref(
    outcome_id: str = Path(
        description="成果编号：本辖区的成果可只写自定的编号，其他写完整编号（辖区代码-编号）"
    ),
    who: Principal = Depends(principal),
) -> str:
    return resolve(who, outcome_id, unknown_outcome)


# A route's class (outcome) id, resolved for the caller: `class_id: ClassId`.
ClassId = Annotated[str, Depends(class_ref)]
OutcomeId = Annotated[str, Depends(outcome_ref)]
