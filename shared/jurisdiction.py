"""Jurisdictions (辖区) as GB/T 2260 six-digit division codes.

A code's *prefix* is the code with its trailing "00" pairs removed: 430000 (湖南省)
→ "43", 431100 → "4311", 371428 (武城县) → "371428". A jurisdiction covers every
code that starts with its prefix.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

_CODE = re.compile(r"^[1-9]\d{5}$")


class InvalidDivisionCode(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"行政区划代码“{code}”无效：应为六位数字（GB/T 2260），如 371428。")
        self.code = code


def validate(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidDivisionCode(str(code))
    return code


def prefix(code: str) -> str:
    validate(code)
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def covers(holder: str, target: str) -> bool:
    """Whether a holder of `holder` may see or act on data of `target`."""
    return validate(target).startswith(prefix(holder))


def ancestors(code: str) -> list[str]:
    """The city and province codes above `code` (not itself), nearest first."""
    p = prefix(code)
    out = []
    if len(p) == 6:
        out.append(code[:4] + "00")
    if len(p) >= 4:
        out.append(code[:2] + "0000")
    return out


LEVEL_NAMES = {2: "省", 4: "市", 6: "县"}


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    # deploy/vendor-divisions.sh writes it (统计用区划代码 → GB/T 2260 names, MIT-licensed source).
    return json.loads((Path(__file__).parent / "data" / "divisions.json").read_text(encoding="utf-8"))


def name(code: str) -> str:
    """The division's name (湖南省, 长沙市, 长沙县), or the code when the table does not know it."""
    return _names().get(code, code)


def municipal_district(code: str) -> bool:
    """Whether `code` is one of the city-level codes of a municipality (直辖市: 北京、天津、上海、
    重庆), such as 110100 or 500200: the table names it as the municipality itself, so it is no
    level a person sees (the municipality's districts and counties lie right under it)."""
    p = prefix(code)
    return len(p) == 4 and name(code) == name(p[:2] + "0000") != p[:2] + "0000"


def chain(code: str) -> list[dict[str, str]]:
    """The province, city and county a code lies in, down to the code itself, with names
    (a municipality once: 北京市 › 东城区, not 北京市 › 北京市 › 东城区)."""
    p = prefix(code)
    codes = [p[:n].ljust(6, "0") for n in (2, 4, 6) if n <= len(p)]
    codes = [c for c in codes if c == code or not municipal_district(c)]
    return [{"code": c, "name": name(c), "level": LEVEL_NAMES[len(prefix(c))]} for c in codes]


def children(code: str) -> list[str]:
    """The divisions the table knows one level below `code`: a province's cities, a city's
    counties (none below a county); a municipality's districts and counties, since its
    city-level codes name the municipality again (`municipal_district`). The dashboard
    lists each even when it has no data."""
    p = prefix(code)
    if len(p) == 6:
        return []
    width = len(p) + 2
    below = sorted(c for c in _names() if c.startswith(p) and len(prefix(c)) == width and c != code)
    if len(p) == 2 and below and all(municipal_district(c) for c in below):
        return sorted(c for c in _names() if c.startswith(p) and len(prefix(c)) == 6)
    return below


def child_containing(code: str, target: str) -> str:
    """The division of `children(code)` that `target` (a code under `code`) lies in; `code`
    itself for a target at `code`'s own level (or a municipality's city-level code)."""
    p, tp = prefix(code), prefix(target)
    if len(tp) <= len(p):
        return code
    child = tp[: len(p) + 2].ljust(6, "0")
    if len(p) == 2 and municipal_district(child):
        return target if len(tp) == 6 else code
    return child
