"""The first registry and report read after a change, at a county's size: CPU, in process.

`bench.history` reads every page once before timing it, so it never times a list that
selection's read index makes anew; a clerk right after a change does. This fills a
`ReadIndex` with --cadres registry entries (bench.scale.people) and a training history for
one in four, then --changes times changes one history (a graduation) and one registry
entry, and after each takes the CPU (`time.process_time`, so the other processes on the
machine count less) of making the registry list, then the coverage report of today and the
hours report of this year as selection's reads make them. Median of the changes.

    .venv/bin/python -m bench.selection_after_change [--cadres 20000] [--changes 15]
    PYTHONPATH=<another tree> .venv/bin/python -m bench.selection_after_change   # that tree's code
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date

from bench.scale import COUNTY, people
from services.selection import scope as sc
from services.selection.read_index import ReadIndex


def cpu_ms(fn) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--changes", type=int, default=15)
    args = ap.parse_args()
    docs = [
        {**row, "_id": f"c{i}", "_rev": 1, "jurisdiction": COUNTY}
        for i, row in enumerate(people(args.cadres, random.Random(16)))
    ]
    ix = ReadIndex()
    ix.observe_cadres(docs)
    ix.observe_histories(
        [
            {"_id": d["_id"], "_rev": 1, "last_trained_on": "2026-05-01", "hours": {"2026": 30.0}}
            for d in docs[::4]
        ]
    )
    policy, today = sc.HoursPolicy(), date(2026, 11, 29)

    def reports() -> None:
        # The keys selection's reads keep them under (reads.py, Reads.report).
        registry = ix.registry(COUNTY)
        ix.memo(
            ("coverage", COUNTY, today, repr(policy)),
            lambda: sc.coverage(registry, ix.histories, today, policy),
        )
        ix.memo(
            ("hours", COUNTY, today.year, repr(policy)),
            lambda: sc.hours(registry, ix.histories, 2026, policy),
        )

    reports()
    took: dict[str, list[tuple[float, float]]] = {"一条培训档案（结业）": [], "一条名册信息": []}
    for n in range(args.changes):
        d = docs[n * 7]
        ix.observe_histories(
            [{"_id": d["_id"], "_rev": 10 + n, "last_trained_on": "2026-11-01", "hours": {"2026": 40.0}}]
        )
        took["一条培训档案（结业）"].append((cpu_ms(lambda: ix.registry(COUNTY)), cpu_ms(reports)))
        ix.observe_cadres([{**d, "_rev": 10 + n, "name": f"改名{n}"}])
        took["一条名册信息"].append((cpu_ms(lambda: ix.registry(COUNTY)), cpu_ms(reports)))
    print(f"{args.cadres:,} 名干部，每种变化 {args.changes} 次，CPU 时间中位数：")
    for what, ms in took.items():
        registry = statistics.median(r for r, _ in ms)
        rest = statistics.median(r for _, r in ms)
        print(f"  {what}变化后：名册 {registry:.1f} ms；随后覆盖率与学时报表 {rest:.1f} ms")


if __name__ == "__main__":
    main()
