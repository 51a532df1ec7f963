"""Who sees which personal data: one rule for every service and the dashboard.

| role                                   | names, units, cadre ids      | 身份证号 | birth date, gender |
|----------------------------------------|------------------------------|----------|--------------------|
| org_department (组织部)                | yes                          | full     | yes                |
| party_school (党校), admin (系统管理员) | yes                          | masked   | no                 |
| unit (调训单位)                        | own unit's only              | masked   | no                 |
| trainee, mentor, recorder, evaluator   | their own people only        | no       | no                 |
| analyst (分析员)                       | no (学员1, 学员2 …)          | no       | no                 |

"Their own people": a trainee themself, a mentor their mentees, a recorder their class, a
unit's evaluator their unit's trainees; the route filters to those, and shows them by name.
Every other role, the analyst first, sees a person as 学员N: no name, unit or cadre id, and
none of the people around them either (mentor, who acted, authors, a rejection's reason).

A masked number keeps its first six and last four digits; the eight hidden digits are
the birth date, so a birth date (or a gender, the parity of the 17th digit) shown beside
a masked number would give the number back: whoever may not see the number sees neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NAME_READERS = ("org_department", "party_school", "admin", "unit")
OWN_PEOPLE_READERS = ("trainee", "mentor", "recorder", "evaluator")
NUMBER_READERS = ("org_department",)
PERSONAL = ("birth_date", "gender")
IDENTIFYING = ("name", "unit", "cadre_id")
# Fields naming someone beside the person (or what only they could have written).
AROUND = (
    "reason",
    "by",
    "mentor",
    "mentor_id",
    "mentor_name",
    "authors",
    "author_ids",
    "reported_by",
    "reported_by_id",
    "evaluator_name",
    "assigned_by",
)


def sees_names(role: str) -> bool:
    """Whether `role` sees people by name (within what its routes let it read)."""
    return role in NAME_READERS or role in OWN_PEOPLE_READERS


def sees_number(role: str) -> bool:
    return role in NUMBER_READERS


def mask_id(id_number: str) -> str:
    """身份证号 as lists show it: first six and last four."""
    return id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else "*" * len(id_number)


def anonymous(entry: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """An entry naming a person, as a role that sees no names sees it: 学员N (学员 alone for
    a single person's document) and nothing that identifies them or the people around them."""
    out = {k: v for k, v in entry.items() if k not in (*IDENTIFYING, *AROUND, "id_number")}
    out["name"] = "学员" if index is None else f"学员{index}"
    return out


def unnamed(entry: dict[str, Any], role: str) -> dict[str, Any]:
    """A row that is not a person but names people (an outcome: its authors, who reported
    and who endorsed it), as `role` may see it: for a role that sees no names, without them
    (in the lists it holds too)."""
    if sees_names(role):
        return entry
    return {
        k: [unnamed(x, role) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v
        for k, v in entry.items()
        if k not in AROUND
    }


def person(entry: dict[str, Any], role: str, index: int | None = None) -> dict[str, Any]:
    """A registry entry (with the full `id_number`) as `role` may see it."""
    out = dict(entry)
    if "id_number" in out and not sees_number(role):
        out["id_number"] = mask_id(str(out["id_number"]))
    if not sees_number(role):
        for key in PERSONAL:
            out.pop(key, None)
    if not sees_names(role):
        out = {k: v for k, v in out.items() if k not in (*IDENTIFYING, "id_number")}
        if index is not None:
            out["name"] = f"学员{index}"
    return out


def nomination(entry: dict[str, Any], role: str, index: int) -> dict[str, Any]:
    """A row naming a person (name, unit, cadre id, who acted, a reason) as `role` may see it."""
    return entry if sees_names(role) else anonymous(entry, index)


def rows(entries: Iterable[dict[str, Any]], role: str, start: int = 1) -> list[dict[str, Any]]:
    """Rows naming people (a roster, a report, a sheet), as `role` may see them: numbered
    学员N from `start` (a page's first row's place in the whole list) where it sees no names."""
    return [nomination(e, role, i) for i, e in enumerate(entries, start=start)]


def one(entry: dict[str, Any], role: str) -> dict[str, Any]:
    """A single person's document (a trainee's file, hours) as `role` may see it."""
    return entry if sees_names(role) else anonymous(entry)
