"""The roll-up holds a province's counters small (services/dashboard/rollup.py, `Counters`):
entries decoded one by one from the store, as the mirror's load and the writers' reports bring
them, keep their ~30 counters in far less than the decoded dicts took, and every figure a viewer
reads (a county's, the province's as the sum of its counties, a class's row) and every counter
the mirror writes back is what the plain dicts give."""

from __future__ import annotations

import gc
import random
import tracemalloc

import bson

from services.dashboard import domain
from services.dashboard.reads import overview
from services.dashboard.rollup import Rollup, bucket_entry, class_entry, put_mirrored

PROVINCE = "710000"
COUNTIES = [f"7101{i:02d}" for i in range(1, 11)]


def bucket_counts(rnd: random.Random) -> dict:
    """A bucket of ~300 cadres: registered, covered years, hours steps per year."""
    counts: dict = {"registered": rnd.randint(280, 330)}
    for y in range(2022, 2031):
        counts[f"cov:{y}"] = rnd.randint(1, 20)
    for step in range(0, 160, 10):
        counts[f"h:2026:{step}"] = rnd.randint(1, 20)
    for y in (2022, 2023, 2024, 2025):
        counts[f"h:{y}:{rnd.choice((0, 10))}"] = rnd.randint(1, 4)
    return counts


def class_counts(rnd: random.Random) -> dict:
    n = 50
    counts: dict = {"classes": 1, "nominated": n, "confirmed": n, "graduated": n, "records": n}
    counts.update(recorded=n, assessed=n, mentor_tasks=n, sessions=4, planned_hours=12.0)
    counts.update(attended=191, absent=9, hours=573.0 + rnd.randint(0, 30))
    for m in (1, 3, 6, 12):
        counts[f"ms_scheduled:{m}"] = n
        counts[f"eval_sum:{m}"] = float(rnd.randint(3000, 3700))
        counts[f"eval_n:{m}"] = rnd.randint(35, 45)
    counts.update(ms_scheduled=4 * n, ms_due=4 * n, ms_completed=160, ms_on_time=160, ms_overdue=40)
    for band in ("excellent", "good", "pass", "below"):
        counts[f"band:{band}"] = rnd.randint(5, 20)
    return counts


def mirrored() -> list[dict]:
    """The mirror's documents of 10 counties (64 buckets, 20 classes each), as stored."""
    rnd = random.Random(16)
    docs = []
    for code in COUNTIES:
        for b in range(64):
            bucket_id = f"{code}|{b:02d}"
            docs.append(
                {"kind": "bucket", "bucket_id": bucket_id, "jurisdiction": code, "rev": 3}
                | {"counts": bucket_counts(rnd)}
            )
        for k in range(20):
            docs.append(
                {"kind": "class", "class_id": f"{code}-k{k:02d}", "jurisdiction": code, "rev": 2}
                | {
                    "title": f"第{k + 1}期培训班",
                    "starts_on": f"{2022 + k % 5}-03-02",
                    "ends_on": "2026-03-06",
                }
                | {"counts": class_counts(rnd)}
            )
    return docs


def load(r: Rollup, raw: list[bytes]) -> None:
    """As `Reads.load` puts what a cursor decodes: every document decoded on its own."""
    for data in raw:
        put_mirrored(r, bson.decode(data))


# long: one province loaded once, its memory, then every figure and the mirror checked against it
def test_the_rollup_holds_a_provinces_counters_small_and_its_figures_unchanged():
    docs = mirrored()
    raw = [bson.encode(d) for d in docs]
    r = Rollup()
    gc.collect()
    tracemalloc.start()
    try:
        load(r, raw)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_entry = held / len(docs)
    # The decoded dicts, each with its own key strings: ~2,900 bytes an entry (10 counties here,
    # 24.5 MB at 100 counties' 8,400 entries); shared shapes and counts: ~640.
    assert per_entry < 1000, f"{per_entry:.0f} bytes an entry"

    # Every figure is what the plain counters give: each county's, the province's as their sum.
    for year in (2026, 2024, None):
        province = overview(r, PROVINCE, year, 110)
        cadre_total: dict = {}
        class_total: dict = {}
        n_classes = 0
        for code, row in zip(COUNTIES, province["rows"], strict=True):
            buckets = [d["counts"] for d in docs if d["kind"] == "bucket" and d["jurisdiction"] == code]
            chosen = [
                d["counts"]
                for d in docs
                if d["kind"] == "class"
                and d["jurisdiction"] == code
                and domain.class_in_period(d["starts_on"], year)
            ]
            cadre = domain.sum_counts(buckets)
            counts = domain.sum_counts(chosen)
            expected = domain.metrics(counts, cadre, year, 110, classes=len(chosen))
            assert row == {"code": code, "kind": "county", "title": row["title"], **expected}
            domain.add(cadre_total, cadre)
            domain.add(class_total, counts)
            n_classes += len(chosen)
        assert province["totals"] == domain.metrics(class_total, cadre_total, year, 110, classes=n_classes)
        assert province["totals"]["registered_cadres"] == sum(
            d["counts"]["registered"] for d in docs if d["kind"] == "bucket"
        )
    county = overview(r, COUNTIES[3], 2026, 110)
    assert [row["code"] for row in county["rows"]] == [f"{COUNTIES[3]}-k{k:02d}" for k in (4, 9, 14, 19)]
    by_id = {d.get("class_id") or d["bucket_id"]: d for d in docs}
    assert county["rows"][0]["hours"] == by_id[f"{COUNTIES[3]}-k04"]["counts"]["hours"]

    # The mirror writes back the counters as read, with their types (an int stays an int).
    r.take_dirty()
    docs = docs[:84]  # one county, as the writers report them: the documents' `n`
    r = Rollup()
    for d in docs:  # as the writers report them: the projection documents' `n` (and a class's `c`)
        if d["kind"] == "class":
            doc = {"_id": d["class_id"], "n": d["counts"], "_rev": d["rev"]}
            r.put_class(
                class_entry(doc | {k: d[k] for k in ("jurisdiction", "title", "starts_on", "ends_on")})
            )
        else:
            r.put_bucket(
                bucket_entry({"_id": d["bucket_id"], "jurisdiction": d["jurisdiction"], "n": d["counts"]})
            )
    written = {op._doc["_id"]: bson.decode(bson.encode(op._doc))["counts"] for op in r.take_dirty()}
    assert len(written) == len(docs)
    for d in docs:
        got = written[f"{d['kind']}|{d.get('class_id') or d['bucket_id']}"]
        assert got == d["counts"]
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in d["counts"].items()}
    entry = r.classes[f"{COUNTIES[0]}-k00"]
    assert entry.counts.get("hours") == docs[64]["counts"]["hours"] and entry.counts.get("nope") is None
    assert "confirmed" in entry.counts and dict(entry.counts) == docs[64]["counts"]
