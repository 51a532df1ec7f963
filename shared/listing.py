"""Server-side lists: the page, search and sort parameters every paged list takes (selection's
lists, follow-up's work list), checked with a Chinese message that names the parameter, and the cutting of a
filtered list into one page.

The contract (the workbench's tables are built on it):

    GET /<list>?page=1&size=20&q=<text>&sort=<field>&order=asc|desc
    -> {"items": [...], "total": N, "page": 1, "size": 20}

`size` is at most 200 (default 20); `q` is a substring of a normalised search key
(`search_key`: full-width folded to half-width, case folded, spaces dropped); a page
past the end is an empty page, not an error, so a table can show "no more". A route takes
the parameters as one dependency, checked for its sort fields: `Depends(listing(SORTS))`.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Query

from shared.errors import DomainError

SIZE_DEFAULT = 20
SIZE_MAX = 200
PAGE_MAX = 1_000_000


@dataclass(frozen=True)
class Paging:
    page: int = 1
    size: int = SIZE_DEFAULT
    q: str = ""
    sort: str | None = None
    desc: bool = False


def _whole(raw: str | None, default: int, name: str, label: str, top: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= top:
        raise DomainError(f"{label}“{raw}”应为 1 到 {top} 之间的整数。", code="bad_paging", field=name)
    return value


async def paging_params(
    page: str | None = Query(None, description="页码（从 1 开始，默认 1）"),
    size: str | None = Query(None, description=f"每页条数（1–{SIZE_MAX}，默认 {SIZE_DEFAULT}）"),
    q: str | None = Query(None, max_length=50, description="搜索：姓名或单位中包含的文字"),
    sort: str | None = Query(None, max_length=30, description="排序字段（见各列表说明）"),
    order: str | None = Query(None, description="asc 升序（默认）或 desc 降序"),
) -> dict:
    """The raw parameters as a dependency; `checked` validates them against a list's sort fields."""
    return {"page": page, "size": size, "q": q, "sort": sort, "order": order}


def listing(sortable: dict[str, str]) -> Callable[[dict], Paging]:
    """A list route's page, search and sort as one dependency: the query parameters of
    `paging_params` (so every list documents them alike), checked against the list's sort
    fields (`p: Paging = Depends(listing(SORTS))`)."""

    def paging(raw: dict = Depends(paging_params)) -> Paging:
        return checked(raw, sortable)

    return paging


def sort_fields(sortable: dict[str, str]) -> str:
    """A list's sort fields in words, `name（姓名）、unit（单位）`: its description, its refusal."""
    return "、".join(f"{k}（{v}）" for k, v in sortable.items())


def checked(raw: dict, sortable: dict[str, str]) -> Paging:
    """Validate the parameters for a list whose sort fields are `sortable` (field -> 中文名)."""
    page = _whole(raw.get("page"), 1, "page", "页码", PAGE_MAX)
    size = _whole(raw.get("size"), SIZE_DEFAULT, "size", "每页条数", SIZE_MAX)
    sort = (raw.get("sort") or "").strip() or None
    if sort is not None and sort not in sortable:
        raise DomainError(
            f"不能按“{sort}”排序；可用的排序字段：{sort_fields(sortable)}。", code="bad_sort", field="sort"
        )
    order = (raw.get("order") or "asc").strip().lower()
    if order not in ("asc", "desc"):
        raise DomainError(
            f"排序方向“{raw.get('order')}”应为 asc（升序）或 desc（降序）。", code="bad_order", field="order"
        )
    return Paging(page, size, search_key(raw.get("q") or ""), sort, order == "desc")


def search_key(*texts: str | None) -> str:
    """The normalised text a search matches against (and a query is normalised the same way)."""
    joined = "\u0001".join(t or "" for t in texts)
    return "".join(unicodedata.normalize("NFKC", joined).casefold().split())


def _sort_value(value: Any) -> tuple:
    # None sorts last in ascending order; numbers and text never compare with each other.
    return (value is None, "" if value is None else value)


def search_text(rows: Sequence[dict]) -> tuple[str, list[int]]:
    """The rows' search keys as one text (one line each) and where each line starts: a
    search is then `str.find` over the text, not a Python test per row."""
    starts, at = [], 0
    for r in rows:
        starts.append(at)
        at += len(r["_key"]) + 1
    return "\n".join(r["_key"] for r in rows), starts


def search(rows: Sequence[dict], text: tuple[str, list[int]], q: str) -> list[dict]:
    """The rows whose search key contains `q` (normalised: it holds no line break), in order."""
    blob, starts = text
    out = []
    at = blob.find(q)
    while at != -1:
        row = bisect_right(starts, at) - 1
        out.append(rows[row])
        at = blob.find(q, starts[row + 1]) if row + 1 < len(starts) else -1
    return out


def sort_by(rows: Sequence[dict], key: Callable[[dict], Any]) -> list[dict]:
    """Rows in ascending order of `key` (None last), ties kept in their order."""
    return sorted(rows, key=lambda r: _sort_value(key(r)))


def page_of(
    rows: Sequence[dict],
    p: Paging,
    keys: dict[str, Callable[[dict], Any]] | None = None,
    shape: Callable[[dict], dict] | None = None,
    presorted: bool = False,
) -> dict:
    """One page of `rows` (already filtered, in their default order) sorted by `p.sort`.
    `keys` gives a field's sort value when it is not the row's own value (a rank's place
    in the rank table); `shape` turns a row of the page into what the page shows.
    `presorted`: the rows are already in ascending `p.sort` order (a kept list)."""
    if p.sort is not None and not presorted:
        rows = sort_by(rows, (keys or {}).get(p.sort) or (lambda r, f=p.sort: r.get(f)))
    start = (p.page - 1) * p.size
    if p.desc:  # the page counted from the end, without copying the list
        stop = max(len(rows) - start, 0)
        items = list(reversed(rows[max(stop - p.size, 0) : stop]))
    else:
        items = rows[start : start + p.size]
    return {
        "items": [shape(r) for r in items] if shape else list(items),
        "total": len(rows),
        "page": p.page,
        "size": p.size,
    }


def everything(p: Paging) -> Paging:
    """The same search and order without the page: an export holds every matching row."""
    return Paging(1, PAGE_MAX, p.q, p.sort, p.desc)
