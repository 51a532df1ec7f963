"""Scope criteria, rotation coverage and yearly hours, pure: registry entries and
training histories in, lists with reasons out.

A registry entry is the `cadres` projection document (JSON form) with every field, the ones
the document leaves out at their defaults filled in (the read index's entries); a history is the
`histories` projection document of the same cadre (absent = never trained here). The
reports' rows carry their entry's search key (`_key`, as the read index holds it), for the
lists' search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.selection.cadres import mask_id

Doc = dict[str, Any]


@dataclass(frozen=True)
class HoursPolicy:
    """Yearly training hours a cadre owes (by rank, else the default) and the rotation cycle."""

    default_hours: float = 110.0
    by_rank: dict[str, float] = field(default_factory=dict)
    cycle_years: int = 5

    def required(self, rank: str) -> float:
        return float(self.by_rank.get(rank, self.default_hours))


class _Overdue:
    """A row of the overdue list (`coverage`). Only its `__dict__` is kept: the rows' dicts
    share one table of keys (PEP 412), as the read index's entries do (read_index.py), where
    a dict of its own took twice the bytes: a county's reports are kept as made, 20,000 rows
    each (reads.py). `_key` is the registry entry's search key (None without one)."""

    def __init__(
        self, cadre_id: str, name: str, unit: str, rank: str, last: str | None, key: str | None
    ) -> None:
        self.cadre_id, self.name, self.unit, self.rank = cadre_id, name, unit, rank
        self.last_trained_on, self.covered, self._key = last, False, key


class _Hours:
    """A row of the hours report (`hours`); only its `__dict__` is kept, as `_Overdue`'s."""

    def __init__(
        self,
        cadre_id: str,
        name: str,
        unit: str,
        rank: str,
        done: float,
        want: float,
        short: float,
        key: str | None,
    ) -> None:
        self.cadre_id, self.name, self.unit, self.rank = cadre_id, name, unit, rank
        self.hours, self.required, self.short, self._key = done, want, short, key


def years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def last_trained(history: Doc | None) -> str | None:
    return (history or {}).get("last_trained_on")


def hours_in(history: Doc | None, year: int) -> float:
    return round(float(((history or {}).get("hours") or {}).get(str(year), 0.0)), 2)


def _reasons(c: Doc, crit: Doc, history: Doc | None, today: date, policy: HoursPolicy) -> list[str] | None:
    """Why the cadre is in scope (one reason per criterion), or None when a criterion excludes them."""
    reasons: list[str] = []
    if crit.get("ranks"):
        if c.get("rank") not in crit["ranks"]:
            return None
        reasons.append(f"职级为{c['rank']}")
    if crit.get("units"):
        if c.get("unit") not in crit["units"]:
            return None
        reasons.append(f"属于{c['unit']}")
    if crit.get("categories"):
        if c.get("category") not in crit["categories"]:
            return None
        reasons.append(f"类别为{c['category']}")
    if crit.get("born_on_or_after"):
        if not c.get("birth_date") or c["birth_date"] < str(crit["born_on_or_after"]):
            return None
        reasons.append(f"{c['birth_date'][:7]} 出生（{crit['born_on_or_after']} 及以后）")
    if crit.get("recruited_within_years"):
        kinds = crit.get("recruited_as") or ["选调生", "选聘生"]
        since = today.year - int(crit["recruited_within_years"])
        if c.get("recruited_as") not in kinds or not c.get("recruited_year") or c["recruited_year"] < since:
            return None
        reasons.append(
            f"{c['recruited_year']} 年录用的{c['recruited_as']}（近 {crit['recruited_within_years']} 年）"
        )
    if crit.get("not_trained_years"):
        n = int(crit["not_trained_years"])
        last = last_trained(history)
        if last is not None and last >= years_before(today, n).isoformat():
            return None
        reasons.append(f"近 {n} 年未参加培训（上次结业：{last or '无记录'}）")
    if crit.get("hours_short"):
        done, want = hours_in(history, today.year), policy.required(c.get("rank", ""))
        if done >= want:
            return None
        reasons.append(f"本年度学时 {done:g}/{want:g}，尚差 {want - done:g}")
    if crit.get("township_priority") and c.get("township_leadership"):
        reasons.append("有乡镇领导经历（优先）")
    return reasons


def evaluate(
    crit: Doc, cadres: list[Doc], histories: dict[str, Doc], today: date, policy: HoursPolicy
) -> list[Doc]:
    """The cadres the criteria select, each with the reasons; with `township_priority`,
    those with township leadership experience come first (an ordering, not a filter)."""
    out = []
    for c in cadres:
        reasons = _reasons(c, crit, histories.get(c["_id"]), today, policy)
        if reasons is None:
            continue
        if not reasons:
            reasons = ["名册内干部（未设条件）"]
        out.append(
            {
                "cadre_id": c["_id"],
                "name": c["name"],
                "unit": c["unit"],
                "rank": c["rank"],
                "id_number": mask_id(c["id_number"]),
                "priority": bool(crit.get("township_priority") and c.get("township_leadership")),
                "reasons": reasons,
            }
        )
    out.sort(key=lambda r: (not r["priority"], r["unit"], r["name"]))
    return out


def coverage(cadres: list[Doc], histories: dict[str, Doc], today: date, policy: HoursPolicy) -> Doc:
    """Five-year (policy cycle) rotation coverage: who has and has not been trained.

    One pass that makes a row only for the overdue: the report is made again after every
    registry or history change, over the whole county (docs/benchmarks.md, "Every read at
    20,000 cadres")."""
    since = years_before(today, policy.cycle_years).isoformat()
    units: dict[str, dict[str, Any]] = {}
    overdue = []
    for c in cadres:
        history = histories.get(c["_id"])
        last = history.get("last_trained_on") if history else None
        covered = last is not None and last >= since
        unit = c["unit"]
        u = units.get(unit)
        if u is None:
            u = units[unit] = {"unit": unit, "total": 0, "trained": 0}
        u["total"] += 1
        if covered:
            u["trained"] += 1
        else:
            overdue.append(_Overdue(c["_id"], c["name"], unit, c["rank"], last, c.get("_key")).__dict__)
    total = len(cadres)
    trained = total - len(overdue)
    for u in units.values():
        u["rate"] = round(u["trained"] / u["total"], 4)
    return {
        "cycle_years": policy.cycle_years,
        "since": since,
        "total": total,
        "trained": trained,
        "rate": round(trained / total, 4) if total else 0.0,
        "by_unit": sorted(units.values(), key=lambda u: u["unit"]),
        "overdue": overdue,
    }


def hours(cadres: list[Doc], histories: dict[str, Doc], year: int, policy: HoursPolicy) -> Doc:
    """Each cadre's hours in `year` against what the policy asks of their rank (as
    `hours_in` and `HoursPolicy.required` count them, inline: one pass over the county)."""
    rows = []
    met = 0
    key = str(year)
    wanted: dict[str, float] = {}
    for c in cadres:
        history = histories.get(c["_id"])
        done = round(float((history.get("hours") or {}).get(key, 0.0)), 2) if history else 0.0
        rank = c.get("rank", "")
        want = wanted.get(rank)
        if want is None:
            want = wanted[rank] = policy.required(rank)
        short = round(want - done, 2) if want > done else 0.0
        met += short == 0
        rows.append(
            _Hours(c["_id"], c["name"], c["unit"], c["rank"], done, want, short, c.get("_key")).__dict__
        )
    return {"year": year, "total": len(rows), "met": met, "rows": rows}
