"""How fast are the province roll-up and a county drill-down at province scale?

Synthetic province: --counties counties (default 100) × --cadres registry cadres each
(default 20,000), and per county --classes classes (default 20) of --class-size
trainees (default 50) with attendance, graduation, records, assessment, milestones,
evaluations, mentor tasks and talks.

How it is loaded (said plainly): every event is a contract event model in an
Envelope, folded by the dashboard projections' own `Projection.fold` and apply
functions (the code the projector runs per batch) — in memory, county by county, with
`model_construct` (no pydantic validation) to keep the load within minutes. Kafka and
the projector's per-batch writes are skipped: the folded documents are written to the
store once, in chunks of 40. The queries are then measured against that store:

  (1) HTTP, a real `python -m services.dashboard --components api,rollup` process:
      GET /api/overview for the province (roll-up of all counties), for a county
      (drill-down to its classes), and GET /api/classes/{id} (a class's trainees);
  (2) in process, `reads.overview` with the roll-up's per-county sums dropped
      before every call (the worst case: every county changed since the last view).

    .venv/bin/python -m bench.dashboard [--counties 100] [--cadres 20000] [--queries 300]

Servers: KAFKA_BOOTSTRAP_SERVERS (required; the process needs Kafka only to start) and
MONGODB_URI, or without it a private FerretDB on PostgreSQL in a temporary folder (so a
shared store is not loaded with some 400 MB). The bench database is dropped at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient, InsertOne

import shared.contracts  # noqa: F401
from bench.common import wait_ready
from deploy.local.process import REPO_ROOT, free_port
from services.dashboard import projections, reads
from shared import store
from shared.auth import ensure_dev_keys, issue_token
from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.events import Actor, Envelope

PROVINCE = "710000"  # outside tests.support.random_county's provinces: no test shares its topics
ACTOR = Actor(user_id="bench", name="基准", role="admin")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class Streams:
    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def env(self, stream: str, code: str, event) -> Envelope:
        v = self.versions[stream] = self.versions.get(stream, 0) + 1
        return Envelope.model_construct(
            event_id=uuid.uuid4().hex,
            type=event.event_type,
            schema_version=1,
            stream_id=stream,
            stream_version=v,
            occurred_at=NOW,
            recorded_at=NOW,
            jurisdiction=code,
            actor=ACTOR,
            correlation_id="bench",
            causation_id=None,
            payload={},
        )


# long: one measured run: its phases are timed in sequence and share their figures
def county_events(code: str, cadres: int, n_classes: int, size: int, rnd: random.Random):
    """(projection, envelope, event) of one county, in stream order."""
    s = Streams()
    C = lambda cls, **kw: cls.model_construct(**kw)  # noqa: E731
    ids = [f"{code}-c{i}" for i in range(cadres)]
    for cid in ids:
        ev = C(
            sel.CadreRegistered,
            cadre_id=cid,
            name="某",
            gender="男",
            birth_date=date(1985, 1, 1),
            id_number="x",
            unit="某局",
            rank="科员",
        )
        yield projections.cadres, s.env(f"cadre-{cid}", code, ev), ev
        if rnd.random() < 0.8:
            ev = C(
                tea.OnlineHoursCredited,
                cadre_id=cid,
                hours=float(rnd.randint(20, 150)),
                on=date(2026, 3, 1),
                kind=None,
            )
            yield projections.cadres, s.env(f"online-{cid}", code, ev), ev
    trainees = iter(rnd.sample(ids, min(cadres, n_classes * size)))
    for k in range(n_classes):
        class_id = f"{code}-k{k}"
        cs = f"class-{class_id}"
        year = 2022 + k % 5
        start = date(year, 3, 1)
        events = [
            C(
                sel.ClassOpened,
                class_id=class_id,
                title=f"第{k + 1}期培训班",
                capacity=size,
                starts_on=start,
                ends_on=start + timedelta(days=10),
                organiser="县委党校",
                category="",
                level="",
            )
        ]
        members = [next(trainees) for _ in range(size)]
        for cid in members:
            events.append(C(sel.TraineeNominated, class_id=class_id, cadre_id=cid, name="某", unit="某局"))
            events.append(
                C(
                    sel.NominationConfirmed,
                    class_id=class_id,
                    cadre_id=cid,
                    name="某",
                    unit="某局",
                    from_waitlist=False,
                )
            )
        for ev in events:
            yield projections.classes, s.env(cs, code, ev), ev
        for n in range(4):
            sid = f"{class_id}-s{n}"
            ev = C(tea.SessionScheduled, class_id=class_id, session_id=sid, hours=3.0)
            yield projections.classes, s.env(f"session-{sid}", code, ev), ev
            for cid in members:
                if rnd.random() < 0.95:
                    ev = C(
                        tea.SessionAttended,
                        class_id=class_id,
                        session_id=sid,
                        cadre_id=cid,
                        hours=3.0,
                        on=start,
                    )
                    for p in (projections.classes, projections.cadres):
                        yield p, s.env(f"session-{sid}", code, ev), ev
                else:
                    ev = C(
                        tea.AbsenceRecorded, class_id=class_id, session_id=sid, cadre_id=cid, excused=False
                    )
                    yield projections.classes, s.env(f"session-{sid}", code, ev), ev
        for cid in members:
            grad = C(
                tea.TraineeGraduated,
                class_id=class_id,
                cadre_id=cid,
                name="某",
                unit="某局",
                graduated_on=start + timedelta(days=10),
                hours=12.0,
                attendance_rate=1.0,
            )
            for p in (projections.classes, projections.cadres):
                yield p, s.env(f"grad-{class_id}", code, grad), grad
            ev = C(
                rec.RecordLogged, class_id=class_id, cadre_id=cid, record_id=uuid.uuid4().hex, corrects=None
            )
            yield projections.classes, s.env(f"records-{class_id}", code, ev), ev
            ev = C(
                rec.AssessmentScored,
                class_id=class_id,
                cadre_id=cid,
                week=start,
                scores=[rec.ItemScore.model_construct(item_id="i", points=float(rnd.randint(50, 100)))],
            )
            yield projections.classes, s.env(f"records-{class_id}", code, ev), ev
            for month in (1, 3, 6, 12):
                mid = f"{class_id}-{cid}-{month}"
                due = start + timedelta(days=30 * month)
                ms = [
                    C(
                        fu.MilestoneScheduled,
                        milestone_id=mid,
                        class_id=class_id,
                        cadre_id=cid,
                        name="某",
                        unit="某局",
                        month=month,
                        due_on=due,
                    ),
                    C(
                        fu.MilestoneDue,
                        milestone_id=mid,
                        class_id=class_id,
                        cadre_id=cid,
                        month=month,
                        due_on=due,
                    ),
                ]
                if rnd.random() < 0.8:
                    ms.append(
                        C(
                            fu.EvaluationSubmitted,
                            milestone_id=mid,
                            class_id=class_id,
                            cadre_id=cid,
                            month=month,
                            scores={"x": float(rnd.randint(60, 100))},
                        )
                    )
                    ms.append(
                        C(
                            fu.MilestoneCompleted,
                            milestone_id=mid,
                            class_id=class_id,
                            cadre_id=cid,
                            month=month,
                            completed_on=due,
                            on_time=rnd.random() < 0.9,
                        )
                    )
                else:
                    ms.append(
                        C(
                            fu.MilestoneOverdue,
                            milestone_id=mid,
                            class_id=class_id,
                            cadre_id=cid,
                            month=month,
                            due_on=due,
                        )
                    )
                for ev in ms:
                    yield projections.classes, s.env(f"milestone-{mid}", code, ev), ev
            ev = C(fu.MentorTaskCompleted, class_id=class_id, cadre_id=cid, task="core_decision")
            yield projections.classes, s.env(f"mentor-{class_id}", code, ev), ev


async def load(db, counties: list[str], args) -> tuple[int, int]:
    events = docs_written = 0
    for i, code in enumerate(counties):
        rnd = random.Random(code)
        folded: dict[str, dict[str, dict]] = {"dash_classes": {}, "dash_cadres": {}}
        batch: dict[str, list] = {"dash_classes": [], "dash_cadres": []}
        for projection, env, ev in county_events(code, args.cadres, args.classes, args.class_size, rnd):
            doc_id, handler = projection.route(env, ev)
            batch[projection.name].append((doc_id, env, ev, handler))
            events += 1
        for p in projections.PROJECTIONS:
            p.fold(folded[p.name], batch[p.name])
            for d in folded[p.name].values():
                d["_rev"] = 1
            await store.bulk_write(db[p.collection], [InsertOne(d) for d in folded[p.name].values()])
            docs_written += len(folded[p.name])
        print(
            f"\r  载入 {i + 1}/{len(counties)} 县，{events:,} 个事件，{docs_written:,} 个文档",
            end="",
            flush=True,
        )
    print()
    return events, docs_written


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def report(name: str, ms: list[float]) -> None:
    print(f"  {name:<44} p50 {statistics.median(ms):7.2f} ms   p99 {pct(ms, 0.99):7.2f} ms   (n={len(ms)})")


# long: one measured run: its phases are timed in sequence and share their figures
async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counties", type=int, default=100)
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--class-size", type=int, default=50)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    kafka, uri = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ.get("MONGODB_URI")
    ferret = None
    if not uri:  # a private FerretDB (PostgreSQL backend) in a temporary folder, stopped at the end
        import tempfile

        from deploy.local.ferretdb import FerretDBServer

        ferret = FerretDBServer(
            Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "ferretdb", log_level="warn"
        )
        ferret.start()
        uri = ferret.uri
        print(f"私有 FerretDB：{uri}")
    db_name = f"bench_dashboard_{uuid.uuid4().hex[:8]}"
    mongo = AsyncMongoClient(uri, tz_aware=True)
    db = mongo[db_name]
    counties = sorted({f"71{c // 20 + 1:02d}{c % 20 + 1:02d}" for c in range(args.counties)})
    print(
        f"合成数据：{len(counties)} 个县 × {args.cadres:,} 名在册干部，"
        f"每县 {args.classes} 个班 × {args.class_size} 人；"
        f"事件经看板投影自身的 fold/apply 折叠（内存中，model_construct 不校验），"
        f"文档一次写入存储 {db_name}。"
    )
    t0 = time.monotonic()
    events, docs = await load(db, counties, args)
    print(f"  载入用时 {time.monotonic() - t0:.0f} s")
    state = os.path.join(REPO_ROOT, ".state", "bench-dashboard")
    os.makedirs(state, exist_ok=True)
    private, _ = ensure_dev_keys(Path(state) / "keys")
    env = {
        **os.environ,
        "GANXUN_STATE_DIR": state,
        "GANXUN_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GANXUN_MONGODB_URI": uri,
        "GANXUN_JURISDICTIONS": PROVINCE,
        "GANXUN_DATABASE": db_name,
        "GANXUN_ENV": "dev",
    }
    tok = issue_token(
        private, user_id="bench", name="省委组织部", role="org_department", jurisdiction=PROVINCE
    )
    headers = {"Authorization": f"Bearer {tok}"}

    async def start() -> tuple[subprocess.Popen, httpx.AsyncClient, float]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.dashboard", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        c = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=1200)
        await wait_ready(c, proc, "dashboard process did not start")
        first = await c.get("/api/overview", params={"year": "2026"})
        assert first.status_code == 200, first.text
        return proc, c, time.monotonic() - t0

    proc, c, took = await start()
    print(f"  首次启动（尚无计数镜像，全量读取投影文档）：就绪后首个省级查询共 {took:.1f} s")
    t0 = time.monotonic()
    while await db[reads.COUNTERS].count_documents({}) < docs:
        await asyncio.sleep(1)
    print(f"  计数镜像 dash_counters 写满 {docs:,} 条，又用 {time.monotonic() - t0:.1f} s")
    await c.aclose()
    proc.terminate()
    proc.wait(30)
    proc, c, took = await start()
    print(f"  再次启动（读计数镜像）：就绪后首个省级查询共 {took:.1f} s")
    t0 = time.monotonic()
    while not (await c.get("/api/status")).json()["reconciled"]:
        await asyncio.sleep(1)
    print(f"  后台与投影文档核对完成，又用 {time.monotonic() - t0:.1f} s（以下在核对完成后测量）")
    try:
        totals = (await c.get("/api/overview", params={"year": "2026"})).json()["totals"]
        print(
            f"  省合计（2026 年）：{totals['classes']:,} 期，{totals['trainees']:,} 人次，"
            f"{totals['registered_cadres']:,} 名在册干部"
        )

        async def timed(path: str, params: dict) -> list[float]:
            out = []
            for _ in range(args.queries):
                s = time.perf_counter()
                r = await c.get(path, params=params)
                out.append((time.perf_counter() - s) * 1000)
                assert r.status_code == 200, r.text
            return out

        print(f"HTTP（真实进程，{args.queries} 次/项）：")
        report(
            "省级汇总 GET /api/overview?jurisdiction=710000", await timed("/api/overview", {"year": "2026"})
        )
        county = counties[len(counties) // 2]
        report(
            f"县钻取 GET /api/overview?jurisdiction={county}",
            await timed("/api/overview", {"year": "all", "jurisdiction": county}),
        )
        report("班次钻取 GET /api/classes/{id}（50 名学员）", await timed(f"/api/classes/{county}-k3", {}))
        loaded = reads.Reads(db)
        r = await loaded.current()
        cold = []
        for _ in range(args.queries):
            r._class_sums.clear()
            r._cadre_sums.clear()
            s = time.perf_counter()
            reads.overview(r, PROVINCE, 2026, 110)
            cold.append((time.perf_counter() - s) * 1000)
        print("进程内，每次先清空各县汇总缓存（最坏情况）：")
        report("省级汇总 reads.overview（冷）", cold)
        print(f"共 {events:,} 个事件，{docs:,} 个文档。")
    finally:
        await c.aclose()
        proc.terminate()
        proc.wait(30)
        if not args.keep and ferret is None:
            await mongo.drop_database(db_name)
        await mongo.close()
        if ferret is not None:
            ferret.stop()


if __name__ == "__main__":
    asyncio.run(main())
