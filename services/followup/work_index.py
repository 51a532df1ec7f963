"""The work list's rows in memory: every trainee file cut to what the work list reads.

Why in memory: the work list (本周跟踪待办) used to read the reminder documents of 190
days by id, then every file they named, then the classes' titles: some 300 point reads
per request, 1.5 s at the demo's size (docs/benchmarks.md). FerretDB 1.24 cannot serve a
filter on the due date, the jurisdiction's prefix or a unit with an index (only equality
finds use one, docs/store.md), so a query per request would scan the files. A file cut to
its milestones, as tuples of shared texts, is about 1.6 kB for one class's four (measured by
tracemalloc: tests/unit/test_followup_work_index_memory.py; 3 kB as dicts of their own
strings), so a county's five years of graduates (~25,000 graduations) are some 40 MB.

It follows this process's `files` projection writer (`ProjectionWriter.observers`), so it
never runs ahead of the store and shows what the projector has written; a process without
the projectors reloads it by one scan of `files` when older than `reads.STALE_AFTER`.
reads.py owns it: it loads it, follows the writer, and is its only user.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, NamedTuple

from shared import jurisdiction as jur
from shared.listing import search_key

MEMO_MAX = 32


class Milestone(NamedTuple):
    """A milestone as the work list reads it: its due day and the days its reminders fall on
    (its due day and its first overdue day, as the scheduler writes them: scheduler.py)."""

    class_id: str
    month: int
    focus: str
    due_on: str
    status: str
    reminded: tuple[str, ...]
    missing_roles: tuple[str, ...]
    mentor: str | None


class Seat(NamedTuple):
    """Who the trainee was in one class (their unit then) and the talks they gave after it."""

    name: str
    unit: str
    talks: tuple[dict[str, Any], ...]


def _shared(text: str | None) -> str | None:
    """One copy of a text many files repeat (a class's id, a due day, a focus, a unit)."""
    return None if text is None else sys.intern(text)


def file_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A trainee file as the work list reads it: who, where, and each milestone. Tuples of
    shared texts, not dicts of copies: at five years a county holds ~25,000 graduates' files
    here, and a milestone as a dict of its own strings took ~700 bytes (docs/benchmarks.md,
    "Memory per service")."""
    milestones = []
    for c in doc.get("classes", {}).values():
        mentor = _shared((c.get("mentor") or {}).get("name"))
        class_id = _shared(c["class_id"])
        for m in c.get("milestones", {}).values():
            due = date.fromisoformat(m["due_on"])
            reminded = [m["due_on"]]
            if "grace_days" in m:
                reminded.append((due + timedelta(days=m["grace_days"] + 1)).isoformat())
            have = {e["role"] for e in m.get("evaluations", [])}
            milestones.append(
                Milestone(
                    class_id,
                    m["month"],
                    _shared(m["focus"]),
                    _shared(m["due_on"]),
                    _shared(m["status"]),
                    tuple(map(_shared, reminded)),
                    tuple(_shared(r) for r in m.get("required_roles", []) if r not in have),
                    mentor,
                )
            )
    name, unit = doc.get("name", ""), _shared(doc.get("unit", ""))
    cadre_id = doc.get("cadre_id") or doc["_id"]
    # Who the trainee was in each class (its unit then) and the talks given after it: a
    # unit clerk's 上讲台与成果 (reads.unit_sharing) reads these instead of every class.
    classes = {
        _shared(c["class_id"]): Seat(
            c.get("name") or name,
            _shared(c.get("unit")) or unit,
            tuple({**t, "cadre_id": cadre_id} for t in c.get("talks", [])),
        )
        for c in doc.get("classes", {}).values()
    }
    return {
        "_rev": doc.get("_rev", 0),
        "cadre_id": cadre_id,
        "name": name,
        "unit": unit,
        "jurisdiction": _shared(doc.get("jurisdiction", "")),
        "milestones": milestones,
        "classes": classes,
        "_key": search_key(name, unit),
    }


def open_rows(entry: dict[str, Any], first: str, end: str) -> list[dict[str, Any]]:
    """A file's work-list rows for the week ending `end`: if one of its reminders falls
    between `first` and `end`, each of its milestones due by `end` and not completed."""
    if not any(first <= day <= end for m in entry["milestones"] for day in m.reminded):
        return []
    rows = []
    for m in entry["milestones"]:
        if m.status == "completed" or m.due_on > end:
            continue
        overdue = m.status == "overdue"
        rows.append(
            {
                "cadre_id": entry["cadre_id"],
                "name": entry["name"],
                "unit": entry["unit"],
                "class_id": m.class_id,
                "month": m.month,
                "focus": m.focus,
                "due_on": m.due_on,
                "status": "overdue" if overdue else "due",
                "status_name": "已逾期" if overdue else "待完成",
                "missing_roles": list(m.missing_roles),
                "mentor": m.mentor,
                "_key": entry["_key"],
            }
        )
    return rows


class WorkIndex:
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        # Class titles by id (names on every row, never ids): a class's title does not
        # change once its trainees graduated, so a title found is kept.
        self.titles: dict[str, str] = {}
        self.live = False
        self.loaded_at: float | None = None
        self._memo: dict[tuple, Any] = {}

    def observe_files(self, docs: list[dict]) -> None:
        for d in docs:
            held = self.files.get(d["_id"])
            if held is not None and held["_rev"] > d.get("_rev", 0):
                continue  # a load that read the document before the writer's newer copy
            self.files[d["_id"]] = file_entry(d)
            self._memo = {}

    def fill(self, docs: list[dict]) -> None:
        """The last files of a load, which is then done (reads.py folds the collection's scan
        in chunks: `observe_files`, then this)."""
        self.observe_files(docs)
        self.loaded_at = time.monotonic()

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, kept until a file next changes. The caller must not change it."""
        if key not in self._memo:
            if len(self._memo) >= MEMO_MAX:  # many weeks asked for: start again
                self._memo = {}
            self._memo[key] = compute()
        return self._memo[key]

    def rows(self, jurisdiction: str, first: str, end: str, unit: str | None) -> list[dict[str, Any]]:
        """The work-list rows of a jurisdiction and below (and of one unit) for the week
        ending `end`, looking back to `first`: overdue first, then by due date, unit, name."""
        p = jur.prefix(jurisdiction)

        def compute() -> list[dict[str, Any]]:
            rows = [
                r
                for e in self.files.values()
                if e["jurisdiction"].startswith(p) and (unit is None or e["unit"] == unit)
                for r in open_rows(e, first, end)
            ]
            rows.sort(key=lambda i: (i["status"] != "overdue", i["due_on"], i["unit"], i["name"]))
            return rows

        return self.memo((p, first, end, unit), compute)

    def unit_people(self, jurisdiction: str, unit: str) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
        """The talks given by the people of `unit` (the unit they were in at the class),
        in a jurisdiction and below, each with who gave it and after which class; and per
        class the ids and names of the unit's people (the authors an outcome may name)."""
        p = jur.prefix(jurisdiction)

        def compute() -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
            talks: list[dict[str, Any]] = []
            people: dict[str, set[str]] = {}
            for e in self.files.values():
                if not e["jurisdiction"].startswith(p):
                    continue
                for class_id, c in e["classes"].items():
                    if c.unit != unit:
                        continue
                    people.setdefault(class_id, set()).update((e["cadre_id"], c.name))
                    talks += [{**t, "name": c.name, "unit": unit, "class_id": class_id} for t in c.talks]
            return talks, people

        return self.memo(("sharing", p, unit), compute)
