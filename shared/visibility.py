"""Who sees which personal data: one rule for every service and the dashboard.

| role                          | names, units, cadre ids | 身份证号 | birth date, gender |
|-------------------------------|-------------------------|----------|--------------------|
| org_department (组织部)       | yes                     | full     | yes                |
| party_school, admin           | yes                     | masked   | no                 |
| unit (调训单位)               | own unit's only         | masked   | no                 |
| analyst (分析员)              | no (学员1, 学员2 …)     | no       | no                 |

A masked number keeps its first six and last four digits; the eight hidden digits are
the birth date, so a birth date (or a gender, the parity of the 17th digit) shown beside
a masked number would give the number back: whoever may not see the number sees neither.
"""

from __future__ import annotations

from typing import Any

NAME_READERS = ("org_department", "party_school", "admin", "unit")
NUMBER_READERS = ("org_department",)
PERSONAL = ("birth_date", "gender")
IDENTIFYING = ("name", "unit", "cadre_id")


def sees_names(role: str) -> bool:
    return role in NAME_READERS


def sees_number(role: str) -> bool:
    return role in NUMBER_READERS


def mask_id(id_number: str) -> str:
    """身份证号 as lists show it: first six and last four."""
    return id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else "*" * len(id_number)


def person(entry: dict[str, Any], role: str, index: int | None = None) -> dict[str, Any]:
    """A registry entry (with the full `id_number`) as `role` may see it."""
    out = dict(entry)
    if "id_number" in out and not sees_number(role):
        out["id_number"] = mask_id(str(out["id_number"]))
    if not sees_number(role):
        for key in PERSONAL:
            out.pop(key, None)
    if not sees_names(role):
        for key in IDENTIFYING:
            out.pop(key, None)
        out.pop("id_number", None)
        if index is not None:
            out["name"] = f"学员{index}"
    return out


def nomination(entry: dict[str, Any], role: str, index: int) -> dict[str, Any]:
    """A nomination (name, unit, cadre id, reason, who nominated) as `role` may see it."""
    if sees_names(role):
        return entry
    out = {k: v for k, v in entry.items() if k not in (*IDENTIFYING, "reason", "by")}
    out["name"] = f"学员{index}"
    return out


def rows(entries: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """Report rows naming people (name, unit, cadre id), as `role` may see them."""
    return [nomination(e, role, i) for i, e in enumerate(entries, start=1)]
