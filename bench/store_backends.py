"""Measure FerretDB's SQLite and PostgreSQL backends on what the event-sourcing kernel does.

Each backend gets a fresh FerretDBServer (deploy/local/ferretdb.py) in a temporary
folder; the workload runs with pymongo's async driver and a table of docs/s is printed.

    .venv/bin/python bench/store_backends.py [--backends sqlite,postgresql] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import bson
from pymongo import ASCENDING, AsyncMongoClient, ReplaceOne
from pymongo.errors import DuplicateKeyError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.local.ferretdb import FerretDBServer, provision  # noqa: E402

N_EVENTS = 20_000
BATCH = 500
N_SINGLE = 2_000
IN_IDS = 1_000
IN_ROUNDS = 20
N_RACE = 50
STREAMS = 200  # 20,000 events = 200 streams x 100 versions
# FerretDB 1.24 keeps every update op's cursor open until the whole update command ends:
# on PostgreSQL each holds a pooled connection, so a command with more update ops than
# pool_max_conns (50) deadlocks. Bulk updates are therefore sent in commands of this size.
UPDATE_OPS_PER_COMMAND = 40
STAGE_BUDGET = 20.0  # seconds; a slower stage stops early and reports a partial rate

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


def event(i: int, *, stream_prefix: str = "course") -> dict:
    """An event-like document of about 600 BSON bytes."""
    stream = i % STREAMS
    at = T0 + dt.timedelta(seconds=i)
    return {
        "_id": uuid.UUID(int=i).hex,
        "type": "trainee.enrolment_confirmed",
        "stream_id": f"{stream_prefix}-{stream:05d}",
        "version": i // STREAMS + 1,
        "occurred_at": at,
        "recorded_at": at + dt.timedelta(milliseconds=37),
        "correlation_id": uuid.UUID(int=i + 1_000_000).hex,
        "causation_id": uuid.UUID(int=i + 2_000_000).hex,
        "actor": f"u{i % 977:04d}",
        "published": False,
        "payload": {
            "trainee": {
                "id": f"t{i:07d}",
                "name": "李晓明",
                "unit": "某某市委组织部干部教育科",
                "rank": "副处级",
            },
            "course": {
                "id": f"c{stream:05d}",
                "title": "新时代领导干部能力提升专题培训班（第三期）",
                "hours": 40,
            },
            "remark": "报名资料审核通过",
            "score": 95.5,
            "tags": ["集中培训", "线下", "2025年度"],
        },
    }


def fmt_rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "∞"


# long: one measured run: its phases are timed in sequence and share their figures
async def run_backend(backend: str, keep: bool) -> dict[str, str]:
    folder = Path(tempfile.mkdtemp(prefix=f"ganxun-bench-{backend}-"))
    server = FerretDBServer(folder, backend=backend, log_level="warn")
    res: dict[str, str] = {}
    t = time.perf_counter()
    server.start()
    res["start → ready (s)"] = f"{time.perf_counter() - t:.2f}"
    client = AsyncMongoClient(server.uri, directConnection=True, serverSelectionTimeoutMS=5000)
    try:
        db = client.bench
        events = db.events
        await events.create_index([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True)
        docs = [event(i) for i in range(N_EVENTS)]

        # (a) batched append: insert_many of 500
        t = time.perf_counter()
        for k in range(0, N_EVENTS, BATCH):
            await events.insert_many(docs[k : k + BATCH], ordered=True)
        secs = time.perf_counter() - t
        res["a) insert_many ×500 (docs/s)"] = fmt_rate(N_EVENTS, secs)
        print(f"  [{backend}] a) {secs:.1f}s", flush=True)

        # (b) append path: one insert_one at a time
        lat = []
        t = time.perf_counter()
        for i in range(N_SINGLE):
            d = event(N_EVENTS + i, stream_prefix="single")
            s = time.perf_counter()
            await events.insert_one(d)
            lat.append(time.perf_counter() - s)
        secs = time.perf_counter() - t
        lat.sort()
        res["b) insert_one serial (docs/s)"] = fmt_rate(N_SINGLE, secs)
        res["b) insert_one p50 / p99 (ms)"] = (
            f"{statistics.median(lat) * 1e3:.1f} / {lat[int(len(lat) * 0.99)] * 1e3:.1f}"
        )
        print(f"  [{backend}] b) {secs:.1f}s", flush=True)

        # (c) projector write: bulk ReplaceOne(upsert) by _id, first into an empty
        #     collection (all upserts insert), then again over the same ids (all replace)
        views = db.views
        view_docs = [{**d, "projected_at": T0, "n": 1} for d in docs]
        #     Batches of 500 documents, each sent as commands of UPDATE_OPS_PER_COMMAND ops.
        done = {}
        for label, bump in (("new", 0), ("existing", 1)):
            t = time.perf_counter()
            n = 0
            for k in range(0, N_EVENTS, BATCH):
                if time.perf_counter() - t > STAGE_BUDGET:
                    break
                ops = [
                    ReplaceOne({"_id": d["_id"]}, {**d, "n": d["n"] + bump}, upsert=True)
                    for d in view_docs[k : k + BATCH]
                ]
                for j in range(0, len(ops), UPDATE_OPS_PER_COMMAND):
                    await views.bulk_write(ops[j : j + UPDATE_OPS_PER_COMMAND], ordered=False)
                n += len(ops)
            secs = time.perf_counter() - t
            done[label] = n
            note = "" if n == N_EVENTS else f" (only {n:,} in {secs:.0f}s)"
            res[f"c) bulk ReplaceOne upsert, {label} (docs/s)"] = fmt_rate(n, secs) + note
            print(f"  [{backend}] c/{label}) {n} docs {secs:.1f}s", flush=True)
        assert await views.count_documents({}) == done["new"]
        assert await views.count_documents({"n": 2}) == done["existing"]

        # (d) find by $in of 1000 ids
        ids = [d["_id"] for d in docs]
        t = time.perf_counter()
        got = 0
        rounds = 0
        for r in range(IN_ROUNDS):
            if time.perf_counter() - t > STAGE_BUDGET:
                break
            rounds += 1
            chunk = ids[(r * IN_IDS * 7) % (N_EVENTS - IN_IDS) :][:IN_IDS]
            got += len(await events.find({"_id": {"$in": chunk}}).to_list(None))
        secs = time.perf_counter() - t
        assert got == rounds * IN_IDS, got
        note = "" if rounds == IN_ROUNDS else f" ({rounds} rounds in {secs:.0f}s)"
        res["d) find $in 1000 ids (docs/s)"] = fmt_rate(got, secs) + note
        res["d) … per round trip (ms)"] = f"{secs / rounds * 1e3:.0f}"
        print(f"  [{backend}] d) {secs:.1f}s", flush=True)

        # (e) outbox relay: oldest 500 unpublished, then mark them published
        outbox = db.outbox
        await outbox.insert_many(docs, ordered=False)
        await outbox.create_index([("published", ASCENDING), ("_id", ASCENDING)])
        relayed = 0
        rounds = 0
        t = time.perf_counter()
        while time.perf_counter() - t < STAGE_BUDGET:
            batch = (
                await outbox.find({"published": False}, {"_id": 1})
                .sort([("_id", ASCENDING)])
                .limit(BATCH)
                .to_list(None)
            )
            if not batch:
                break
            r = await outbox.update_many(
                {"_id": {"$in": [d["_id"] for d in batch]}}, {"$set": {"published": True}}
            )
            relayed += r.modified_count
            rounds += 1
        secs = time.perf_counter() - t
        assert relayed == N_EVENTS or secs >= STAGE_BUDGET, relayed
        note = "" if relayed == N_EVENTS else f" (only {relayed:,} in {secs:.0f}s)"
        res["e) outbox find+update_many (docs/s)"] = fmt_rate(relayed, secs) + note
        res["e) … per 500-doc round (ms)"] = f"{secs / rounds * 1e3:.0f}"
        print(f"  [{backend}] e) {secs:.1f}s", flush=True)

        # (f) optimistic concurrency: 50 writers race for the same (stream_id, version)
        race = db.race
        await race.create_index([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True)

        async def writer(i: int) -> str:
            try:
                await race.insert_one({"_id": f"w{i}", "stream_id": "hot", "version": 1, "payload": {"w": i}})
                return "ok"
            except DuplicateKeyError:
                return "dup"

        t = time.perf_counter()
        outcomes = await asyncio.gather(*(writer(i) for i in range(N_RACE)))
        secs = time.perf_counter() - t
        ok, dup = outcomes.count("ok"), outcomes.count("dup")
        stored = await race.count_documents({"stream_id": "hot", "version": 1})
        verdict = "PASS" if ok == 1 and dup == N_RACE - 1 and stored == 1 else "FAIL"
        res["f) 50 racing insert_one"] = f"{verdict} {ok} ok/{dup} dup, {secs * 1e3:.0f} ms"
    finally:
        await client.close()
        server.stop()
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        res["folder size after (MB)"] = f"{size / 1e6:.0f}"
        if keep:
            print(f"  [{backend}] data kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return res


def print_table(results: dict[str, dict[str, str]]) -> None:
    backends = list(results)
    rows = list(dict.fromkeys(k for r in results.values() for k in r))
    w0 = max(len(r) for r in rows) + 2
    ws = [max(len(b), *(len(results[b].get(r, "")) for r in rows)) + 2 for b in backends]
    print()
    print("".ljust(w0) + "".join(b.rjust(w) for b, w in zip(backends, ws)))
    for r in rows:
        print(r.ljust(w0) + "".join(results[b].get(r, "-").rjust(w) for b, w in zip(backends, ws)))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--keep", action="store_true", help="keep the data folders")
    args = ap.parse_args()

    size = len(bson.encode(event(12345)))
    print(f"FerretDB binary: {provision()}; event document ≈ {size} BSON bytes", flush=True)
    results = {}
    started = time.perf_counter()
    for backend in args.backends.split(","):
        print(f"== {backend}", flush=True)
        results[backend] = await run_backend(backend, args.keep)
    print_table(results)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    asyncio.run(main())
