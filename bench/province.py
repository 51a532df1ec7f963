"""A province at real size through Kafka: the province dashboard's first start, memory and figures.

Synthetic province 710000: --counties counties (default 100) × --cadres registry cadres each
(default 20,000); per county --online of them (default 0.6) credited online-learning hours in
2026, and --classes classes (default 20, spread over 2022-2026) of --class-size trainees
(default 50), each trainee nominated and confirmed, attending 4 sessions (5 % absent),
graduated, one record and one weekly assessment, four follow-up milestones (80 % evaluated and
completed, else overdue) and a mentor task.

How it is built (said plainly): as the county deployments' relays would put it on the bus.
Each event is a contract event (validated), in an envelope made by the kernel
(`CommandHandler.envelopes`, one stream per aggregate as the services name them), its personal
fields sealed by `shared.personal.Sealer` under keys that stay in this process (the counties'
vaults: the province cannot open them, so it must not need the names), sent as JSON with the
relay's headers (`shared.outbox.headers_of`), keyed by stream id, on
`ganxun.<service>.<county>`. Nothing is folded here. Then a REAL province dashboard process
(`python -m services.dashboard`, GANXUN_JURISDICTIONS=710000, its projectors, roll-up and API)
starts on the full topics, and the bench measures:

  - its first start: seconds until the province's figures (classes, trainees, registered
    cadres, graduated, records, milestones completed and overdue) equal those sent, and its
    RSS (sampled every second; peak and at the end), the projectors' events per second;
  - a restart from the mirrored counters: seconds until the first figures;
  - p50/p99 over HTTP of every figure route, as a province analyst (province, a city, a
    county, a class) and as a county's organisation department (its county, a class);
  - the live stream: seconds from an event sent on a county's topic to the `update` on
    `/api/stream` of a province viewer.

    .venv/bin/python -m bench.province                       # 100 × 20,000 (hours)
    .venv/bin/python -m bench.province --counties 4 --cadres 2000 --classes 4   # minutes

Servers: KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI if set, else a private Kafka and FerretDB in
a temporary folder (bench/scale.py's `Servers`), stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx

import shared.contracts  # noqa: F401 - registers the catalogue
from bench.common import wait_ready
from bench.province_produce import produce
from bench.scale import Servers, rss_mb
from deploy.local.process import REPO_ROOT, free_port
from shared import kafka, topics
from shared.auth import ensure_dev_keys, issue_token
from shared.commands import CommandHandler, Context
from shared.contracts import followup as fu
from shared.contracts import records as rec
from shared.contracts import selection as sel
from shared.contracts import teaching as tea
from shared.events import Actor
from shared.outbox import headers_of

PROVINCE = "710000"  # outside tests.support.random_county's provinces: no test shares its topics
GOAL_P99_MS = 50.0
GOAL_RSS_MB = 200.0
SESSIONS = 4
MONTHS = (1, 3, 6, 12)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def codes(n: int) -> list[str]:
    """n county codes of province 71, twenty to a city: 710101 … 710520."""
    return [f"71{c // 20 + 1:02d}{c % 20 + 1:02d}" for c in range(n)]


class County:
    """One county's events, as (service, stream id, events) commits in stream order, and the
    figures they make (`expected`)."""

    def __init__(self, code: str, args, rnd: random.Random) -> None:
        self.code, self.args, self.rnd = code, args, rnd
        self.expected: Counter = Counter()
        self.cadres = [f"{code}c{i:05d}" for i in range(args.cadres)]

    def registry(self):
        online = []
        for i, cid in enumerate(self.cadres):
            name = SURNAMES[i % len(SURNAMES)] + "某"
            ev = sel.CadreRegistered(
                cadre_id=cid,
                name=name,
                gender="男" if i % 2 else "女",
                birth_date=date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
                id_number=f"{self.code}{1970 + i % 30}0101{i % 10000:04d}",
                unit=f"第{i % 40 + 1}局",
                rank="科员",
            )
            yield "selection", f"cadre-{cid}", [ev]
            if self.rnd.random() < self.args.online:
                hours = float(self.rnd.randint(2, 15) * 10)
                online.append(
                    tea.OnlineHoursCredited(
                        cadre_id=cid, name=name, hours=hours, on=date(2026, 3, 1), reference=f"o{i}"
                    )
                )
        self.expected["registered_cadres"] += len(self.cadres)
        for start in range(0, len(online), 500):  # an import of the platform's records, 500 a command
            yield "teaching", f"teaching-online-{self.code}-2026", online[start : start + 500]

    def classes(self):
        pool = self.rnd.sample(self.cadres, min(len(self.cadres), self.args.classes * self.args.class_size))
        size = self.args.class_size
        for k in range(self.args.classes):
            yield from self.one_class(k, pool[k * size : (k + 1) * size])

    # long: one class's whole lifecycle, service by service, in the order the services emit it
    def one_class(self, k: int, members: list[str]):
        class_id = f"{self.code}-k{k:02d}"  # qualified by its county, as selection stores it
        start = date(2022 + k % 5, 3 + k % 8, 1)
        ends = start + timedelta(days=10)
        opened = sel.ClassOpened(
            class_id=class_id,
            title=f"第{k + 1}期中青年干部培训班",
            capacity=len(members),
            starts_on=start,
            ends_on=ends,
            organiser="县委组织部",
        )
        picks = []
        for cid in members:
            name, unit = "某某", "某局"
            picks.append(sel.TraineeNominated(class_id=class_id, cadre_id=cid, name=name, unit=unit))
            picks.append(sel.NominationConfirmed(class_id=class_id, cadre_id=cid, name=name, unit=unit))
        yield "selection", f"class-{class_id}", [opened, *picks]
        self.expected["classes"] += 1
        self.expected["trainees"] += len(members)
        teaching = []
        for n in range(SESSIONS):
            sid = f"{class_id}s{n}"
            teaching.append(
                tea.SessionScheduled(
                    class_id=class_id,
                    session_id=sid,
                    course_id=f"course{n}",
                    course_title="习近平新时代中国特色社会主义思想",
                    kind="理论课",
                    on=start + timedelta(days=n),
                    starts_at=dtime(9),
                    ends_at=dtime(12),
                    hours=3.0,
                    teacher_id="t1",
                    teacher_name="某老师",
                    site_id="s1",
                )
            )
            marks = []
            for cid in members:
                if self.rnd.random() < 0.95:
                    marks.append(
                        tea.SessionAttended(
                            class_id=class_id, session_id=sid, cadre_id=cid, hours=3.0, on=start
                        )
                    )
                else:
                    marks.append(tea.AbsenceRecorded(class_id=class_id, session_id=sid, cadre_id=cid))
            yield "teaching", f"teaching-attendance-{class_id}-{sid}", marks
        for cid in members:
            teaching.append(
                tea.TraineeGraduated(
                    class_id=class_id,
                    cadre_id=cid,
                    name="某某",
                    unit="某局",
                    graduated_on=ends,
                    hours=12.0,
                    attendance_rate=1.0,
                )
            )
        yield "teaching", f"teaching-class-{class_id}", teaching
        self.expected["graduated"] += len(members)
        for cid in members:
            yield from self.after(class_id, cid, start, ends)

    # long: one trainee's two services' events, each built with every field it must carry
    def after(self, class_id: str, cid: str, start: date, ends: date):
        """One trainee's record and assessment (records) and follow-up (followup)."""
        yield (
            "records",
            f"records-trainee-{class_id}-{cid}",
            [
                rec.RecordLogged(
                    record_id=f"r-{class_id}-{cid}",
                    class_id=class_id,
                    cadre_id=cid,
                    category="study",
                    observed_on=start,
                    text="认真听讲，积极发言。",
                    author_id="h1",
                    author_name="某班主任",
                    author_role="head_teacher",
                ),
                rec.AssessmentScored(
                    class_id=class_id,
                    cadre_id=cid,
                    week=start,
                    scores=[rec.ItemScore(item_id="i1", points=float(self.rnd.randint(50, 100)))],
                    scorer_id="h1",
                    scorer_name="某班主任",
                    scorer_role="head_teacher",
                ),
            ],
        )
        self.expected["records"] += 1
        follow = []
        for month in MONTHS:
            mid = f"{class_id}-{cid}-{month}"
            due = ends + timedelta(days=30 * month)
            ids = dict(milestone_id=mid, class_id=class_id, cadre_id=cid, month=month)
            follow.append(
                fu.MilestoneScheduled(**ids, name="某某", unit="某局", due_on=due, required_roles=["self"])
            )
            follow.append(fu.MilestoneDue(**ids, due_on=due))
            if self.rnd.random() < 0.8:
                score = {"x": float(self.rnd.randint(60, 100))}
                follow.append(
                    fu.EvaluationSubmitted(
                        **ids,
                        role="self",
                        evaluator_id=cid,
                        evaluator_name="某某",
                        scores=score,
                        submitted_on=due,
                    )
                )
                follow.append(fu.MilestoneCompleted(**ids, completed_on=due, on_time=True))
                self.expected["completed"] += 1
            else:
                follow.append(fu.MilestoneOverdue(**ids, due_on=due, missing_roles=["self"]))
                self.expected["overdue"] += 1
        follow.append(
            fu.MentorTaskCompleted(
                class_id=class_id,
                cadre_id=cid,
                task="core_decision",
                evidence="参与党组会议题研究",
                comment="完成良好",
                mentor_id="m1",
                done_on=ends,
            )
        )
        yield "followup", f"followup:{class_id}:{cid}", follow


SOURCES = ("selection", "teaching", "records", "followup")


def complete(totals: dict, expected: Counter) -> bool:
    got = {
        "classes": totals["classes"],
        "trainees": totals["trainees"],
        "registered_cadres": totals["registered_cadres"],
        "graduated": totals["graduated"],
        "records": totals["records"],
        "completed": totals["milestones"]["completed"],
        "overdue": totals["milestones"]["overdue"],
    }
    return all(got[k] == expected[k] for k in got)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def report(name: str, ms: list[float], goal: float = GOAL_P99_MS) -> None:
    p99 = pct(ms, 0.99)
    mark = "达标" if p99 <= goal else "未达标"
    print(
        f"  {name:<52} p50 {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms"
        f"  目标 p99 ≤ {goal:.0f} ms：{mark}（n={len(ms)}）"
    )


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far: on a shared machine the wall time
    of a first start is the load's as much as the dashboard's, its CPU much less so."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """The process's RSS, every second, while it catches up."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.last = pid, 0.0, 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.last = rss_mb(self.pid)
            except OSError:
                return
            self.peak = max(self.peak, self.last)
            await asyncio.sleep(1)

    def stop(self) -> None:
        self._task.cancel()


class Dashboard:
    """A real province dashboard process on the bench's servers."""

    def __init__(self, srv: Servers, state: Path, db_name: str, token: str, log: str | None = None) -> None:
        self.env = {
            **os.environ,
            **srv.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_STATE_DIR": str(state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": srv.kafka,
            "GANXUN_MONGODB_URI": srv.uri,
            "GANXUN_JURISDICTIONS": PROVINCE,
            "GANXUN_DATABASE": db_name,
        }
        self.token = token
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.python = [sys.executable]

    async def start(self) -> httpx.AsyncClient:
        port = free_port()
        self.proc = subprocess.Popen(
            [*self.python, "-m", "services.dashboard", "--port", str(port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=open(self.log, "ab") if self.log else subprocess.DEVNULL,  # noqa: SIM115 - the child's
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        c = httpx.AsyncClient(base_url=self.url, headers=self.auth(self.token), timeout=600)
        await wait_ready(c, self.proc, "看板进程未能启动", timeout=600)
        return c

    @staticmethod
    def auth(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    async def until_complete(
        self, c: httpx.AsyncClient, expected: Counter, t0: float, limit: float
    ) -> tuple[float, dict | None]:
        """Seconds from `t0` until the province's figures equal those sent (progress printed),
        and None; or, at `limit`, the seconds and the totals reached by then."""
        totals = None
        while True:
            try:
                r = await c.get("/api/overview", params={"year": "all"})
            except httpx.TransportError as exc:  # the process is checked below; one refusal ended a run
                print(f"\n  {time.monotonic() - t0:6.0f} s：看板未应答（{exc!r}），继续等待", flush=True)
                r = None
            if r is not None and r.status_code == 200:
                totals = r.json()["totals"]
                if complete(totals, expected):
                    return time.monotonic() - t0, None
                print(
                    f"\r  {time.monotonic() - t0:6.0f} s：在册 {totals['registered_cadres']:,}/"
                    f"{expected['registered_cadres']:,}，"
                    f"人次 {totals['trainees']:,}/{expected['trainees']:,}，"
                    f"完成节点 {totals['milestones']['completed']:,}/{expected['completed']:,}",
                    end="",
                    flush=True,
                )
            if self.proc.poll() is not None:
                raise SystemExit("\n看板进程退出")
            if time.monotonic() - t0 > limit and totals is not None:
                return time.monotonic() - t0, totals
            await asyncio.sleep(2)

    async def until_reached(self, c: httpx.AsyncClient, cadres: int, t0: float) -> float:
        """Seconds from `t0` until the province counts at least `cadres` registered cadres."""
        while True:
            r = await c.get("/api/overview", params={"year": "all"})
            if r.status_code == 200 and r.json()["totals"]["registered_cadres"] >= cadres:
                return time.monotonic() - t0
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT under cProfile: the process returns from main, so the statistics are written.
            self.proc.send_signal(signal.SIGINT if "cProfile" in self.python else signal.SIGTERM)
            self.proc.wait(60)


async def timed(c: httpx.AsyncClient, path: str, params: dict, headers: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        s = time.perf_counter()
        r = await c.get(path, params=params, headers=headers)
        out.append((time.perf_counter() - s) * 1000)
        assert r.status_code == 200, r.text
    return out


async def routes(c: httpx.AsyncClient, tokens: dict, counties: list[str], args) -> None:
    county, n = counties[len(counties) // 2], args.queries
    class_id = f"{county}-k{min(3, args.classes - 1):02d}"
    city = county[:4] + "00"
    analyst, clerk = Dashboard.auth(tokens["analyst"]), Dashboard.auth(tokens[county])
    print(f"HTTP（真实进程，每项 {n} 次，顺序发出）：")
    for name, path, params, who in [
        (f"分析员 省级汇总 2026 年（{len(counties)} 县）", "/api/overview", {"year": "2026"}, analyst),
        ("分析员 省级汇总 全部年份", "/api/overview", {"year": "all"}, analyst),
        (f"分析员 市级 {city}", "/api/overview", {"jurisdiction": city, "year": "2026"}, analyst),
        (
            f"分析员 县钻取 {county}（班次）",
            "/api/overview",
            {"jurisdiction": county, "year": "all"},
            analyst,
        ),
        ("分析员 班次钻取（学员无姓名）", f"/api/classes/{class_id}", {}, analyst),
        ("县组织部 本县 2026 年", "/api/overview", {"year": "2026"}, clerk),
        ("县组织部 班次钻取（学员）", f"/api/classes/{class_id}", {}, clerk),
    ]:
        if path.startswith("/api/classes/") and (await c.get(path, headers=who)).status_code == 404:
            print(f"  {name}：班次 {class_id} 尚未到达看板（首次启动未完成），不测")
            continue
        report(name, await timed(c, path, params, who, n))


async def live(c: httpx.AsyncClient, bus, token: str, probe: dict, n: int) -> None:
    """Seconds from an event on a county's topic to the province viewer's `update`."""
    code, class_id = probe["county"], probe["class"]
    producer = kafka.producer(bus)
    await producer.start()
    seen: list[float] = []
    run = uuid.uuid4().hex[:8]
    ctx = Context(
        actor=Actor(user_id="hd", name="某班主任", role="head_teacher"),
        jurisdiction=code,
        correlation_id="bench-live",
    )
    try:
        async with c.stream(
            "GET",
            "/api/stream",
            params={"access_token": token, "jurisdiction": PROVINCE},
            headers={},
            timeout=None,
        ) as r:
            lines = r.aiter_lines()
            async for line in lines:
                if line.startswith("event: ready"):
                    break
            for k in range(n):
                # A stream of this run: a run on `--produced` topics finds the earlier runs' probes
                # folded, and the same stream's versions again would be skipped (no update came).
                stream = f"records-class-{class_id}-probe-{run}"
                ev = rec.RecordLogged(
                    record_id=uuid.uuid4().hex,
                    class_id=class_id,
                    cadre_id=f"{code}c{k:05d}",
                    category="study",
                    observed_on=date(2026, 3, 1),
                    text="补记",
                    author_id="hd",
                    author_name="某班主任",
                    author_role="head_teacher",
                )
                env = CommandHandler.envelopes(stream, k, [ev], ctx)[0]
                doc = env.to_doc()
                sent = time.perf_counter()
                await producer.send_and_wait(
                    topics.events_topic("records", code),
                    env.to_json(),
                    key=stream.encode(),
                    headers=headers_of(doc),
                )
                async for line in lines:
                    if line.startswith("event: update"):
                        seen.append((time.perf_counter() - sent) * 1000)
                        break
                await asyncio.sleep(0.5)
    finally:
        await producer.stop()
    report("实时推送：县的事件上总线 → 省级页面收到 update", seen, goal=2000)


def crashes(log: str) -> int:
    """Components of the dashboard that failed and were started again (shared/runtime.py's guard),
    as its log says so far: each a batch folded again from the stored positions."""
    return sum(
        1 for line in Path(log).read_text(errors="replace").splitlines() if "component.crashed" in line
    )


def read_produced(path: str, srv: Servers) -> tuple[Counter, dict, int]:
    """What an earlier run produced on the same servers (`--produced`)."""
    if srv.started:
        sys.exit(
            "--produced 须与给定的服务器一起用（KAFKA_BOOTSTRAP_SERVERS、MONGODB_URI）："
            "私有服务器是新的，主题为空"
        )
    saved = json.loads(Path(path).read_text())
    return Counter(saved["expected"]), saved["probe"], saved["sent"]


def write_produced(path: str | None, expected: Counter, probe: dict, sent: int) -> None:
    if path:
        Path(path).write_text(json.dumps({"expected": expected, "probe": probe, "sent": sent}))


# long: one measured run: its phases are timed in sequence and share their figures
async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counties", type=int, default=100)
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--online", type=float, default=0.6, help="share of cadres with online hours in 2026")
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--class-size", type=int, default=50)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--templates", type=int, default=2, help="counties built the real way, the rest joined")
    ap.add_argument("--workers", type=int, default=2, help="producing processes")
    ap.add_argument("--live", type=int, default=20, help="live-stream probes")
    ap.add_argument("--limit", type=float, default=4 * 3600, help="seconds allowed for the first start")
    ap.add_argument("--profile", help="run the first start under cProfile, its statistics to this file")
    ap.add_argument("--log", help="append the dashboard process's output (its JSON log) to this file")
    ap.add_argument(
        "--produced",
        help="JSON file of what a run on the same given servers produced: when it exists, the topics are "
        "read as they are (no producing); else it is written after producing",
    )
    ap.add_argument(
        "--database",
        help="the dashboard's database of an earlier run on the same given servers, to go on from "
        "(its first start cut short, e.g. by a broker that failed): the first start's seconds are "
        "then those of the rest",
    )
    ap.add_argument(
        "--produce-only",
        action="store_true",
        help="with --produced on given servers: produce, write the file and stop (no first start)",
    )
    args = ap.parse_args()
    counties = codes(args.counties)
    print(f"uptime：{load()}（1/5/15 分钟负载）")
    print(
        f"合成省份 {PROVINCE}：{len(counties)} 个县 × {args.cadres:,} 名在册干部"
        f"（{args.online:.0%} 有网络学时），每县 {args.classes} 个班 × {args.class_size} 人；"
        "事件经内核信封、个人字段按县密钥封存，发到各县主题。"
    )
    with Servers() as srv:
        # Given servers: as the environment's settings say (GANXUN_KAFKA_USERNAME … when SASL).
        bus = kafka.Connection.from_env(srv.kafka)
        if srv.bus:
            bus = bus.as_user(srv.bus["GANXUN_KAFKA_USERNAME"], srv.bus["GANXUN_KAFKA_PASSWORD"])
        state = Path(tempfile.mkdtemp(prefix="bench-province-"))
        if args.produced and Path(args.produced).exists():
            expected, probe, sent = read_produced(args.produced, srv)
            print(f"  主题沿用 {args.produced} 所记的一次发送：{sent:,} 个事件；应得：{dict(expected)}")
        else:
            t0 = time.monotonic()
            expected, probe, sent = await produce(bus, counties, County, args, args.workers, str(state))
            took = time.monotonic() - t0
            print(
                f"  发送用时 {took:.0f} s（{sent / took:,.0f} 个事件/秒，目标 100 县 ≤ 900 s）；"
                f"uptime {load()}；应得：{dict(expected)}"
            )
            write_produced(args.produced, expected, probe, sent)
            if args.produce_only:
                shutil.rmtree(state, ignore_errors=True)
                shutil.rmtree(srv.folder, ignore_errors=True)
                return
        private, _ = ensure_dev_keys(state / "keys")
        county = counties[len(counties) // 2]
        tokens = {
            "analyst": issue_token(
                private, user_id="a", name="省分析员", role="analyst", jurisdiction=PROVINCE
            ),
            county: issue_token(
                private, user_id="o", name="县委组织部", role="org_department", jurisdiction=county
            ),
        }
        db_name = args.database or f"bench_province_{uuid.uuid4().hex[:8]}"
        if args.database:
            print(
                f"接着一次未完成的首次启动：看板数据库 {db_name}（已存的投影与位置），"
                "以下首次启动的秒数是余下部分的"
            )
        dash = Dashboard(srv, state, db_name, tokens["analyst"], args.log)
        if args.profile:
            dash.python = [sys.executable, "-m", "cProfile", "-o", args.profile]
        try:
            t0 = time.monotonic()
            c = await dash.start()
            sampler = Sampler(dash.proc.pid)
            ready = time.monotonic() - t0
            took, partial = await dash.until_complete(c, expected, t0, args.limit)
            verdict = f"目标 ≤ {GOAL_RSS_MB:.0f} MB：{'达标' if sampler.peak <= GOAL_RSS_MB else '未达标'}"
            if partial is None:
                cpu = cpu_seconds(dash.proc.pid)
                # Gone on from an earlier run: its rest only, so no rate per event.
                rate = "" if args.database else f"（{sent / took:,.0f} 个事件/秒）"
                per = "" if args.database else f"（每个事件 {cpu / sent * 1e6:.0f} µs）"
                print(
                    f"\n首次启动（{'接着上次' if args.database else '无镜像'}，{sent:,} 个事件在主题上）："
                    f"就绪 {ready:.1f} s，省级数字完整 {took:.0f} s{rate}；看板进程 CPU {cpu:.0f} s{per}；"
                    f"RSS 峰值 {sampler.peak:.0f} MB，完整时 {sampler.last:.0f} MB  {verdict}；"
                    f"uptime {load()}"
                )
            else:
                share = partial["registered_cadres"] / expected["registered_cadres"]
                print(
                    f"\n首次启动未在 --limit {args.limit:.0f} s 内完成（{sent:,} 个事件在主题上）："
                    f"就绪 {ready:.1f} s，{took:.0f} s 时在册干部汇总 {share:.1%}，"
                    f"人次 {partial['trainees']:,}/{expected['trainees']:,}；"
                    f"RSS 峰值 {sampler.peak:.0f} MB，当时 {sampler.last:.0f} MB  {verdict}；"
                    f"uptime {load()}。"
                    "以下数字在这部分数据上测量（看板继续消费）"
                )
            t1 = time.monotonic()
            while partial is None and not (await c.get("/api/status")).json()["reconciled"]:
                await asyncio.sleep(1)
            print(
                f"  启动后的后台核对（读全部投影文档的计数）又用 {time.monotonic() - t1:.1f} s；"
                "以下在其后测量"
            )
            if args.log:
                print(
                    f"  首次启动中组件崩溃后重启 {crashes(args.log)} 次"
                    "（日志中的 component.crashed，如存储写入失败）"
                )
            await routes(c, tokens, counties, args)
            if args.live:
                await live(c, bus, tokens["analyst"], probe, args.live)
            print(
                f"  测量后 RSS {rss_mb(dash.proc.pid):.0f} MB（峰值 {sampler.peak:.0f} MB）；uptime {load()}"
            )
            reached = (await c.get("/api/overview", params={"year": "all"})).json()["totals"]
            sampler.stop()
            await c.aclose()
            dash.stop()
            dash.python = [sys.executable]
            expected["records"] += args.live
            write_produced(args.produced, expected, probe, sent)  # the probes' records are on the topics
            t0 = time.monotonic()
            c = await dash.start()
            if partial is None:
                took, _ = await dash.until_complete(c, expected, t0, args.limit)
                what = "省级数字完整"
            else:
                took = await dash.until_reached(c, reached["registered_cadres"], t0)
                what = f"在册干部回到停止前的 {reached['registered_cadres']:,}"
            print(
                f"\n再次启动（读计数镜像）：{what} {took:.1f} s，RSS {rss_mb(dash.proc.pid):.0f} MB；"
                f"uptime {load()}"
            )
            await c.aclose()
        finally:
            dash.stop()
            shutil.rmtree(state, ignore_errors=True)
    # The topics of 100 counties are GBs: the private servers' folder goes with them.
    shutil.rmtree(srv.folder, ignore_errors=True)
    print(f"uptime：{load()}")


if __name__ == "__main__":
    asyncio.run(main())
