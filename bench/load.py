"""Commands at a steady rate, and what follows them: latency, read-your-writes, propagation, PDF, memory.

Against a running `ganxun up` with its demo loaded (the development keys in its state
folder), for --seconds at --rate commands per second, open loop (each command is sent at
its scheduled time whether or not the earlier ones have been answered, and its latency is
counted from that time, so a stalled service cannot hide its queue), a mix of what the
county's clerks do all day:

- 30% 登记干部 `POST /cadres` (selection), then at once `GET /cadres/{id}` with the answer's
  consistency token (`X-Ganxun-After`, shared/consistency.py): the writer's next read;
- 25% 干部信息变更 `PATCH /cadres/{id}` (selection; a registered cadre's post);
- 30% 单位推荐 `POST /classes/{id}/nominations` (selection; into one of --classes classes opened
  for the run, their scope drawn on the whole registry), every fifth then waited for in
  teaching's roster `GET /classes/{id}/roster`: propagation to another service's read model;
- 5% 开设班次 `POST /classes` (selection), then waited for in teaching's roster (404 until it is there);
- 10% 录入课程 `POST /courses` (teaching).

Then, with the load over: a record form PDF (records, `GET …/form.pdf` for a trainee of one
of the demo's classes) --queries times in turn, and each service's resident memory
(--seconds 0: only these two). Each figure is printed beside the goal of issue 16.

    GANXUN_STATE_DIR=/tmp/demo deploy/ganxun up --detach
    GANXUN_STATE_DIR=/tmp/demo .venv/bin/python -m bench.load [--rate 50] [--seconds 60]

With `up --port selection=9101 …`, pass the same `--port SERVICE=PORT` here. The bench
client shares the machine with the services, Kafka and the store; say the load (uptime)
beside its figures. It is a lean one for that reason (bench/lean_http.py, ~0.05 ms of CPU a
request; `--client httpx`, ~2.5 ms, the one before stop 24), it starts the drive once the set-up
is folded, and it prints the tail (p99.9, the worst second, its own loop's stalls, the machine's
CPU and I/O pressure); `--trace FILE` writes every command's scheduled time and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import uvloop

from bench.lean_http import LeanClient, LeanError
from bench.scale import GIVEN, SURNAMES, pct, rss_mb, verdict
from deploy.demo.loader import Codes
from deploy.local.process import state_dir
from services.selection.cadres import RANKS, id_check_digit
from shared.auth import ensure_dev_keys, issue_token
from shared.entrypoint import settle_heap
from shared.settings import DEFAULT_PORTS

COMMAND_GOAL_MS = 100
PROPAGATION_GOAL_MS = 1_000
PDF_GOAL_MS = 300
RSS_GOAL_MB = 200
POLL = 0.05  # how often a propagation probe asks (its resolution)
# ... until the goal of propagation has passed, then a quarter of the time waited so far, at most
# POLL_LATE: a probe past its goal is a miss of it already, and probes polling a backlogged
# service every 50 ms fed its backlog (a run at load 17 answered 8 of 261 writer's reads at once,
# and the 253 misses asked 20 times a second each for up to 30 s; selection's and teaching's CPU
# per command in that run were 2-3 times a run's that kept up).
POLL_LATE = 1.0


def pause(since: float) -> float:
    """How long a probe waits before asking again, `since` its command's answer."""
    waited = time.perf_counter() - since
    return POLL if waited < PROPAGATION_GOAL_MS / 1000 else min(POLL_LATE, waited / 4)


PROBE_FOR = 30.0  # a probe gives up (and counts as a miss) after this long
LABELS = {
    "register": "登记干部",
    "update": "干部信息变更",
    "nominate": "单位推荐",
    "open": "开设班次",
    "course": "录入课程",
}
WAIT_AFTER = 60.0  # how long the last commands may take to be answered
# Commands in flight at once; later ones wait their turn in the client, their latency still
# counted from their scheduled time. Without a bound, a saturated service left a thousand
# requests queued in httpx's pool, whose every step scans them all: the client itself
# then took the CPU the services needed.
IN_FLIGHT = 200
# What a request that got no answer raises, with either client (--client).
FAILED = (httpx.HTTPError, LeanError)
STATS_LAG = 11  # PostgreSQL reports an idle backend's transactions within ten seconds
WALL = time.time() - time.perf_counter()  # perf_counter's times on time.time()'s clock
LAG_EVERY = 0.005  # the client's loop is looked at this often
LAG_MS = 20  # a turn of the client's loop later than this is recorded
PRESSURE_EVERY = 1.0
SETTLE = 3.0  # seconds between the set-up's last fold and the drive (Load.settle)


@dataclass
class Figures:
    latency: dict[str, list[float]] = field(default_factory=dict)  # ms, from the scheduled time
    failures: dict[str, list[str]] = field(default_factory=dict)
    own_read_at_once: list[bool] = field(default_factory=list)
    own_read_after: list[float] = field(default_factory=list)  # ms until the writer's read showed it
    own_read_ms: list[float] = field(default_factory=list)  # the token's read, its wait included
    propagation: dict[str, list[float]] = field(default_factory=dict)  # ms after the command's answer
    missed: int = 0
    raised: int = 0  # commands that ended in a connection error or timeout, not an answer
    unanswered: int = 0  # commands with no answer WAIT_AFTER seconds after the last was sent
    late_start: list[float] = field(default_factory=list)  # ms the client itself sent late
    # Every answered command: (what, its scheduled time on time.time()'s clock, latency ms), to
    # line the slow ones up with what the processes did at that moment (--trace).
    trace: list[tuple[str, float, float]] = field(default_factory=list)
    # The client's own event loop: (when, ms) of each turn it came late by more than LAG_MS.
    # A command answered while the client's loop stood still is counted late by the client.
    client_lag: list[tuple[float, float]] = field(default_factory=list)
    # The machine's pressure (/proc/pressure, PSI) each PRESSURE_EVERY: (when, the µs so far in
    # which some task waited for a CPU, for I/O). The load average lags by a minute; this says
    # how much the others' work stood in the way in the very seconds of the run.
    pressure: list[tuple[float, int, int]] = field(default_factory=list)

    def add(self, what: str, ms: float, at: float | None = None) -> None:
        self.latency.setdefault(what, []).append(ms)
        if at is not None:
            self.trace.append((what, at + WALL, ms))

    def fail(self, what: str, why: str) -> None:
        self.failures.setdefault(what, []).append(why)


class Load:
    def __init__(
        self, client: LeanClient | httpx.AsyncClient, key: bytes, county: str, ports: dict[str, int]
    ) -> None:
        self.c, self.key, self.county, self.ports = client, key, county, ports
        self.rnd = random.Random(16)
        self.fig = Figures()
        self.org = self.who("org_department")
        self.school = self.who("party_school")
        self.classes: list[str] = []
        self.candidates: dict[str, list[str]] = {}  # class → cadres not yet nominated there
        self.registered: list[str] = []
        self.serial = itertools.count()
        self.probes: list[asyncio.Task] = []
        self.tag = f"{int(time.time()) % 100000:05d}"
        self.gate = asyncio.Semaphore(IN_FLIGHT)

    def who(self, role: str) -> dict[str, str]:
        tok = issue_token(
            self.key, user_id=f"bench-{role}", name="基准测试", role=role, jurisdiction=self.county
        )
        return {"Authorization": f"Bearer {tok}"}

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def setup(self, classes: int) -> None:
        reg = (
            await self.c.get(self.url("selection", "/cadres"), headers=self.org, params={"size": 1})
        ).json()
        if not reg["total"]:
            raise SystemExit("名册为空：请先用 ganxun up 加载演示数据。")
        for n in range(classes):
            class_id = await self.open_class(f"基准班次-{self.tag}-{n}")
            r = await self.c.post(
                self.url("selection", f"/classes/{class_id}/scope"), headers=self.org, json={"ranks": RANKS}
            )
            r.raise_for_status()
            ids = [x["cadre_id"] for x in r.json()["cadres"]]
            self.rnd.shuffle(ids)
            self.classes.append(class_id)
            self.candidates[class_id] = ids
        print(
            f"县 {self.county}：名册 {reg['total']:,} 人；开设 {classes} 个基准班次，"
            f"可推荐 {sum(len(v) for v in self.candidates.values()):,} 人次。"
        )
        await self.settle()

    async def settle(self) -> None:
        """Until the set-up's classes are in teaching's rosters, then SETTLE seconds more: the
        drive measures the deployment at a steady 50/s, not while it still folds the set-up's
        burst (four scopes of the whole registry). Without this, in a run at 30/s under load 17,
        the first three seconds were its slowest (p50 0.7-1.5 s; most of the others 15-300 ms)."""
        t0 = time.perf_counter()
        for class_id in self.classes:
            url = self.url("teaching", f"/classes/{class_id}/roster")
            while time.perf_counter() - t0 < PROBE_FOR:
                if (await self.c.get(url, headers=self.school)).status_code == 200:
                    break
                await asyncio.sleep(POLL)
        await asyncio.sleep(SETTLE)
        print(f"等部署消化设置（班次进入教学名册后再等 {SETTLE:.0f} 秒）：{time.perf_counter() - t0:.1f} 秒")

    async def open_class(self, title: str) -> str:
        starts = date.today() + timedelta(days=90)
        class_id = f"bench-{self.tag}-{next(self.serial)}"
        body = {
            "class_id": class_id,
            "title": title,
            "capacity": 2000,
            "starts_on": str(starts),
            "ends_on": str(starts + timedelta(days=5)),
        }
        r = await self.c.post(self.url("selection", "/classes"), headers=self.org, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"开设班次失败：{r.status_code} {r.text[:200]}")
        return class_id

    def person(self) -> dict:
        n = next(self.serial)
        born = date(1970, 1, 1) + timedelta(days=self.rnd.randrange(365 * 30))
        first17 = f"{self.county}{born:%Y%m%d}{n % 1000:03d}"
        name = self.rnd.choice(SURNAMES) + "".join(self.rnd.choice(GIVEN) for _ in range(2))
        return {
            "name": name,
            "id_number": first17 + id_check_digit(first17),
            "unit": "县委组织部",
            "rank": self.rnd.choice(RANKS[:6]),
            "position": "科员",
        }

    # -- the commands of the mix ---------------------------------------------------------
    async def register(self, at: float) -> None:
        r = await self.c.post(self.url("selection", "/cadres"), headers=self.org, json=self.person())
        if not self.record("登记干部", r, at):
            return
        cadre_id = r.json()["cadre_id"]
        answered = time.perf_counter()
        after = {**self.org, "X-Ganxun-After": r.json().get("token") or ""}
        try:
            shown = await self.c.get(self.url("selection", f"/cadres/{cadre_id}"), headers=after)
        except FAILED:
            # The command was answered: a failed read is a miss of the read, not a command
            # that raised (counted so, a run showed "-1 commands unanswered").
            shown = None
        self.fig.own_read_ms.append((time.perf_counter() - answered) * 1000)
        self.fig.own_read_at_once.append(shown is not None and shown.status_code == 200)
        if shown is None or shown.status_code != 200:
            self.probes.append(asyncio.create_task(self.own_read(cadre_id, answered)))
        self.registered.append(cadre_id)

    async def own_read(self, cadre_id: str, answered: float) -> None:
        while time.perf_counter() - answered < PROBE_FOR:
            try:
                r = await self.c.get(self.url("selection", f"/cadres/{cadre_id}"), headers=self.org)
            except FAILED:  # the service went away (the bench is ending): a miss
                break
            if r.status_code == 200:
                self.fig.own_read_after.append((time.perf_counter() - answered) * 1000)
                return
            await asyncio.sleep(pause(answered))
        self.fig.missed += 1

    async def update(self, at: float) -> None:
        if not self.registered:
            return await self.register(at)
        cadre_id = self.rnd.choice(self.registered)
        body = {"position": self.rnd.choice(["科员", "副科长", "科长", "副主任", "主任"])}
        r = await self.c.patch(self.url("selection", f"/cadres/{cadre_id}"), headers=self.org, json=body)
        self.record("干部信息变更", r, at)

    async def nominate(self, at: float) -> None:
        class_id = self.rnd.choice([c for c in self.classes if self.candidates[c]] or [None])
        if class_id is None:
            return await self.register(at)
        cadre_id = self.candidates[class_id].pop()
        r = await self.c.post(
            self.url("selection", f"/classes/{class_id}/nominations"),
            headers=self.org,
            json={"cadre_id": cadre_id},
        )
        if self.record("单位推荐", r, at) and self.rnd.random() < 0.2:
            self.probes.append(asyncio.create_task(self.propagated("推荐 → 教学名册", class_id, cadre_id)))

    async def open(self, at: float) -> None:
        class_id = f"bench-{self.tag}-{next(self.serial)}"
        starts = date.today() + timedelta(days=120)
        body = {
            "class_id": class_id,
            "title": f"基准班次-{class_id}",
            "capacity": 60,
            "starts_on": str(starts),
            "ends_on": str(starts + timedelta(days=3)),
        }
        r = await self.c.post(self.url("selection", "/classes"), headers=self.org, json=body)
        if self.record("开设班次", r, at):
            self.probes.append(asyncio.create_task(self.propagated("开班 → 教学名册", class_id, None)))

    async def course(self, at: float) -> None:
        body = {"title": f"基准课程 {self.tag}-{next(self.serial)}", "kind": "理论课", "hours": 3}
        r = await self.c.post(self.url("teaching", "/courses"), headers=self.school, json=body)
        self.record("录入课程", r, at)

    def record(self, what: str, r, at: float) -> bool:
        self.fig.add(what, (time.perf_counter() - at) * 1000, at)
        if r.status_code >= 300:
            self.fig.fail(what, f"{r.status_code} {r.text[:120]}")
            return False
        return True

    async def propagated(self, what: str, class_id: str, cadre_id: str | None) -> None:
        """Until teaching's roster of the class shows the class (or the cadre in it)."""
        answered = time.perf_counter()
        url = self.url("teaching", f"/classes/{class_id}/roster")
        while time.perf_counter() - answered < PROBE_FOR:
            try:
                r = await self.c.get(url, headers=self.school)
            except FAILED:
                break
            if r.status_code == 200 and (
                cadre_id is None or any(t["cadre_id"] == cadre_id for t in r.json().get("trainees", []))
            ):
                self.fig.propagation.setdefault(what, []).append((time.perf_counter() - answered) * 1000)
                return
            await asyncio.sleep(pause(answered))
        self.fig.missed += 1

    async def drive(self, rate: float, seconds: float) -> None:
        """Open loop: command i is sent at start + i/rate, whatever became of the others."""
        mix = [self.register] * 30 + [self.update] * 25 + [self.nominate] * 30 + [self.open] * 5
        mix += [self.course] * 10
        sent: list[asyncio.Task] = []
        watch = asyncio.create_task(self.watch_loop())
        start = time.perf_counter() + 0.5
        for i in range(int(rate * seconds)):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.fig.late_start.append(max(0.0, -delay) * 1000)
            sent.append(asyncio.create_task(self.safely(self.rnd.choice(mix), at)))
            if i and i % int(rate * 10) == 0:
                answered = sum(len(v) for v in self.fig.latency.values())
                print(f"  已发出 {i:,} 条命令，已答复 {answered:,} 条", flush=True)
        # A saturated service answers long after the last command was sent: wait a bounded
        # time, then count what is still unanswered instead of waiting for ever.
        _, late = await asyncio.wait(sent, timeout=WAIT_AFTER)
        for task in late:
            task.cancel()
        watch.cancel()
        # A task may still run after its command was answered (a registration's own read).
        answered = sum(len(v) for v in self.fig.latency.values())
        self.fig.unanswered = len(sent) - answered - self.fig.raised
        _, late = await asyncio.wait(self.probes, timeout=PROBE_FOR) if self.probes else ((), ())
        for task in late:
            task.cancel()
        self.fig.missed += len(late)

    async def watch_loop(self) -> None:
        """How late the client's own loop turns (it shares the two cores with the services),
        and the machine's pressure each second."""
        sampled = 0.0
        while True:
            t0 = time.perf_counter()
            if t0 - sampled >= PRESSURE_EVERY and (now := pressure()) is not None:
                self.fig.pressure.append((t0 + WALL, *now))
                sampled = t0
            await asyncio.sleep(LAG_EVERY)
            lag = (time.perf_counter() - t0 - LAG_EVERY) * 1000
            if lag > LAG_MS:
                self.fig.client_lag.append((t0 + WALL, lag))

    async def safely(self, command, at: float) -> None:
        try:
            async with self.gate:
                await command(at)
        except FAILED as exc:
            self.fig.fail(LABELS[command.__name__], repr(exc))
            self.fig.raised += 1


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port, from /proc (no psutil in the lock)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inode = cols[9]
    if inode is None:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(f"socket:[{inode}]" == str(fd.readlink()) for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


async def record_form(load: Load, queries: int) -> None:
    """A record form PDF of a trainee of the demo's classes, `queries` times in turn."""
    records = load.who("org_department")
    listing = (await load.c.get(load.url("selection", "/classes"), headers=records)).json()
    for klass in listing.get("items", listing) if isinstance(listing, dict) else listing:
        r = await load.c.get(load.url("records", f"/classes/{klass['class_id']}/roster"), headers=records)
        if r.status_code != 200:
            continue
        trainees = r.json().get("trainees") or {}
        ids = list(trainees) if isinstance(trainees, dict) else [t["cadre_id"] for t in trainees]
        if not ids:
            continue
        path = f"/classes/{klass['class_id']}/trainees/{ids[0]}/form.pdf"
        if (await load.c.get(load.url("records", path), headers=records)).status_code != 200:
            continue
        ms = []
        for _ in range(queries):
            t0 = time.perf_counter()
            r = await load.c.get(load.url("records", path), headers=records)
            ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        p99 = pct(ms, 0.99)
        print(
            f"纪实考察记录表 PDF（{klass.get('title', '')}，{len(r.content) / 1024:.0f} KB，"
            f"连续 {queries} 次）："
            f"p50 {statistics.median(ms):.0f} ms  p99 {p99:.0f} ms（目标 < {PDF_GOAL_MS} ms）"
            f"{verdict(p99 < PDF_GOAL_MS)}"
        )
        return
    print("纪实考察记录表 PDF：演示数据中没有可生成记录表的学员（未计时）")


def tail(fig: Figures) -> None:
    """The slow 1 %: p99.9, the worst second, and how many of the slow commands were in flight
    while the client's own loop stood still (then the client, not only the service, was late)."""
    if not fig.trace:
        return
    ms = [m for _, _, m in fig.trace]
    print(f"  全部命令 p99.9 {pct(ms, 0.999):.0f} ms  最慢 {max(ms):.0f} ms")
    first = min(at for _, at, _ in fig.trace)
    seconds: dict[int, list[float]] = {}
    for _, at, m in fig.trace:
        seconds.setdefault(int(at - first), []).append(m)
    worst = max(seconds, key=lambda k: (max(seconds[k]), k))
    slow = sum(m > COMMAND_GOAL_MS for m in seconds[worst])
    bad = sum(any(m > COMMAND_GOAL_MS for m in v) for v in seconds.values())
    whole = pressed(fig.pressure, first, first + len(seconds))
    print(
        f"  机器压力（PSI，有任务在等的时间占比）：全程 {whole}；"
        f"最慢的一秒前后 {pressed(fig.pressure, first + worst, first + worst + 1)}"
    )
    print(
        f"  最慢的一秒：第 {worst} 秒（按计划发出时刻），{len(seconds[worst])} 条，"
        f"最慢 {max(seconds[worst]):.0f} ms，超过 {COMMAND_GOAL_MS} ms 的 {slow} 条；"
        f"有超过 {COMMAND_GOAL_MS} ms 命令的秒数 {bad} / {len(seconds)}"
    )
    over = [(at, m) for _, at, m in fig.trace if m > COMMAND_GOAL_MS]
    stalled = sum(
        any(at <= when + lag / 1000 and when <= at + m / 1000 for when, lag in fig.client_lag)
        for at, m in over
    )
    lags = [lag for _, lag in fig.client_lag]
    print(
        f"  客户端自身事件循环停顿（> {LAG_MS} ms）{len(lags)} 次，最长 {max(lags, default=0):.0f} ms；"
        f"超过 {COMMAND_GOAL_MS} ms 的 {len(over)} 条命令中 {stalled} 条在途时客户端停顿过"
    )


def pressure() -> tuple[int, int] | None:
    """The µs so far in which some task waited for a CPU, and for I/O (Linux PSI); None
    where the kernel has no /proc/pressure."""
    try:
        return tuple(
            int(Path(f"/proc/pressure/{what}").read_text().split("total=", 1)[1].split()[0])
            for what in ("cpu", "io")
        )
    except (OSError, IndexError, ValueError):
        return None


def pressed(samples: list[tuple[float, int, int]], start: float, end: float) -> str:
    """The share of [start, end] in which some task waited for a CPU / for I/O."""
    inside = [s for s in samples if start - PRESSURE_EVERY <= s[0] <= end + PRESSURE_EVERY]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return "（无 /proc/pressure）"
    span = (inside[-1][0] - inside[0][0]) * 1e6
    cpu, io = ((inside[-1][i] - inside[0][i]) / span * 100 for i in (1, 2))
    return f"等 CPU {cpu:.0f}%  等 I/O {io:.0f}%"


def write_trace(fig: Figures, path: Path) -> None:
    """One line a command (`cmd`, what, scheduled time, ms) and a client stall (`lag`, when, ms)."""
    with path.open("w") as f:
        for what, at, ms in sorted(fig.trace, key=lambda t: t[1]):
            f.write(f"cmd\t{what}\t{at:.3f}\t{ms:.1f}\n")
        for when, ms in fig.client_lag:
            f.write(f"lag\t客户端\t{when:.3f}\t{ms:.1f}\n")
        for when, cpu, io in fig.pressure:
            f.write(f"psi\t{cpu}\t{when:.3f}\t{io}\n")


def report(fig: Figures, rate: float, seconds: float) -> None:
    everything = [ms for v in fig.latency.values() for ms in v]
    if not everything:
        print(f"命令：{rate:g} 条/秒发出 {seconds:g} 秒，一条也未答复：服务已饱和 未达标")
        return
    print(f"命令：{len(everything):,} 条，{rate:g} 条/秒，{seconds:g} 秒，开环（延迟自计划发出时刻起算）")
    for what, ms in sorted(fig.latency.items(), key=lambda kv: -len(kv[1])):
        print(
            f"  {what:<8} {len(ms):5,} 条  p50 {statistics.median(ms):6.0f} ms  p99 {pct(ms, 0.99):6.0f} ms"
        )
    p99 = pct(everything, 0.99)
    print(
        f"  全部命令 p50 {statistics.median(everything):.0f} ms  p99 {p99:.0f} ms"
        f"（目标 p99 ≤ {COMMAND_GOAL_MS} ms）{verdict(p99 <= COMMAND_GOAL_MS and not fig.unanswered)}"
    )
    print(f"  客户端自身晚发 p99 {pct(fig.late_start, 0.99):.0f} ms（客户端与服务同机）")
    tail(fig)
    if fig.unanswered:
        print(
            f"  {fig.unanswered:,} 条命令在最后一条发出 {WAIT_AFTER:.0f} 秒后仍未答复"
            "（未计入分位数，判为未达标）：服务已饱和"
        )
    for what, why in fig.failures.items():
        print(f"  失败 {what}：{len(why)} 条，如 {why[0]}")
    at_once = sum(fig.own_read_at_once)
    n = len(fig.own_read_at_once)
    after = f"；其余 {pct(fig.own_read_after, 0.99):.0f} ms 内可见（p99）" if fig.own_read_after else ""
    if fig.own_read_ms:
        after += (
            f"；这次读（含等待投影）p50 {statistics.median(fig.own_read_ms):.0f} ms"
            f"  p99 {pct(fig.own_read_ms, 0.99):.0f} ms"
        )
    print(
        f"写后即读（登记后立即带一致性令牌 GET /cadres/{{id}}）：{at_once}/{n} 次立即可见{after}"
        f"（目标：全部立即可见）{verdict(n > 0 and at_once == n)}"
    )
    for what, ms in fig.propagation.items():
        p99 = pct(ms, 0.99)
        print(
            f"传播 {what}：{len(ms)} 次  p50 {statistics.median(ms):.0f} ms  p99 {p99:.0f} ms"
            f"（目标 p99 ≤ {PROPAGATION_GOAL_MS} ms，分辨率 {POLL * 1000:.0f} ms，"
            f"过了目标渐疏，至多 {POLL_LATE * 1000:.0f} ms）"
            f"{verdict(p99 <= PROPAGATION_GOAL_MS)}"
        )
    if fig.missed:
        print(f"  {fig.missed} 次探测 {PROBE_FOR:.0f} 秒内未见结果（未计入上面的分位数）")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--county", default=Codes().wucheng)
    ap.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT")
    ap.add_argument(
        "--private",
        action="store_true",
        help="start a private deployment (bench/private.py), not ganxun up's",
    )
    ap.add_argument("--api-processes", type=int, default=1, help="with --private: API processes per service")
    ap.add_argument("--cadres", type=int, default=2_000, help="with --private: the registry's size")
    ap.add_argument("--logs", type=Path, help="with --private: the services' logs go into this folder")
    ap.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="the bench client: lean (bench/lean_http.py, ~0.05 ms CPU a request) or httpx (~2.5 ms)",
    )
    ap.add_argument("--trace", type=Path, help="every command's scheduled time and latency into this file")
    args = ap.parse_args()
    if not args.private:
        ports = {**DEFAULT_PORTS, **{k: int(v) for k, v in (p.split("=", 1) for p in args.port)}}
        await run(args, ports, ensure_dev_keys(state_dir() / "keys")[0], args.county)
        return
    from bench.private import PrivateDeployment

    with PrivateDeployment(args.api_processes, args.cadres, args.logs) as dep:
        await dep.ready()
        before, t0, xacts = dep.cpu(), time.process_time(), dep.store_transactions()
        load = await run(args, dep.ports, dep.key, dep.county)
        cpu = dep.cpu() - before
        await asyncio.sleep(STATS_LAG)
        xacts = None if xacts is None else dep.store_transactions() - xacts
        cpu["bench client"] = time.process_time() - t0
        answered = sum(len(v) for v in load.fig.latency.values())
        print(f"CPU 时间（负载期间及其后的排空，共答复 {answered:,} 条命令；与机器负载无关的成本）：")
        for what, seconds in cpu.most_common():
            print(f"  {what:<12} {seconds:6.1f} s  每条命令 {seconds / max(answered, 1) * 1000:5.1f} ms")
        if xacts is not None:
            print(
                f"存储事务（PostgreSQL）：{xacts:,} 个，"
                f"每条命令 {xacts / max(answered, 1):.1f} 个（含投影与转发）"
            )
        for service, pids in dep.pids().items():
            mem = ", ".join(f"{rss_mb(pid):.0f}" for pid in pids)
            print(f"{service:<10} 各进程常驻内存 {mem} MB（目标 < {RSS_GOAL_MB} MB）")


async def run(args, ports: dict[str, int], key: bytes, county: str) -> Load:
    async with http_client(args.client) as client:
        load = Load(client, key, county, ports)
        if args.seconds > 0:  # --seconds 0: only the PDF and the memory
            print(f"开始前负载：{uptime()}")
            await load.setup(args.classes)
            # The client's own full collections held its loop (and so the latencies it measures)
            # for 100-700 ms each under load: what its imports and set-up left alive (~50,000
            # objects) is moved out of their reach, as a service process does at its start.
            settle_heap()
            await load.drive(args.rate, args.seconds)
            report(load.fig, args.rate, args.seconds)
            if args.trace:
                write_trace(load.fig, args.trace)
            print(f"结束时负载：{uptime()}")
        if not args.private:
            await record_form(load, args.queries)
    if args.private:
        return load
    for service, port in sorted(ports.items()):
        pid = listening_pid(port)
        if pid is not None:
            mem = rss_mb(pid)
            print(
                f"{service:<10} 常驻内存 {mem:5.0f} MB（目标 < {RSS_GOAL_MB} MB）{verdict(mem < RSS_GOAL_MB)}"
            )
    return load


@contextlib.asynccontextmanager
async def http_client(which: str):
    """The bench's HTTP client: the lean one (bench/lean_http.py), or httpx as before, to
    compare what the client's own CPU does to the figures."""
    if which == "httpx":
        limits = httpx.Limits(max_connections=IN_FLIGHT + 50, max_keepalive_connections=IN_FLIGHT + 50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            yield client
        return
    client = LeanClient(timeout=60)
    try:
        yield client
    finally:
        await client.aclose()


def uptime() -> str:
    """The machine's load averages (1, 5, 15 min), printed beside the figures they qualify."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    # The client on uvloop too: it shares the two cores with the deployment, and every
    # millisecond of its CPU per command is one the services queue behind.
    uvloop.run(main())
