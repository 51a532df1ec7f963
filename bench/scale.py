"""A county at real size: how fast are the import and the lists a clerk pages through?

Builds a county of --cadres registry cadres (default 20,000) through the real selection
service: one CSV import over HTTP (`POST /cadres/import`, the kernel's append_many), the
events relayed to Kafka and projected by the service's own projectors. Then a class, its
scope drawn on one rank (a command over the whole registry), and --nominees of them
recommended in lists of 200, so the confirmation queue is not empty. Then, each
--queries times, p50/p99 of every paginated list: its first page, a search, a later page
and a sort, each printed beside the goal of issue 16; the import's rate; and the
selection process's resident memory.

    .venv/bin/python -m bench.scale [--cadres 20000] [--queries 40] [--import-only]

Servers: KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI if set, else a private Kafka (KRaft)
and FerretDB (PostgreSQL backend) in a temporary folder, stopped at the end. The bench
client runs on the same machine as everything else. Not measured here yet (issue 16):
five years of history, commands at 50/s, propagation, the rebuild ratio, a province of
100 counties.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench.common import pct, wait_ready
from deploy.local.process import REPO_ROOT, free_port
from services.selection.cadres import RANKS, id_check_digit
from services.selection.importing import TEMPLATE
from shared.auth import ensure_dev_keys, issue_token

COUNTY = "719901"  # outside tests.support.random_county's provinces: no test shares its topics
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文海波斌宇浩凯鹏飞晨欣怡雪梅琳"
UNIT_KINDS = [
    "县委办",
    "县政府办",
    "县财政局",
    "县发改局",
    "县教育局",
    "县卫健局",
    "县公安局",
    "县自然资源局",
    "县住建局",
    "县交通局",
    "县农业农村局",
    "县水利局",
    "县商务局",
    "县文旅局",
    "县应急局",
    "县市场监管局",
    "县审计局",
    "县统计局",
    "县医保局",
    "县信访局",
]
TOWNS = [f"{a}{b}镇" for a in "东西南北中" for b in "安平河山林"] + [
    f"{a}{b}乡" for a in "甲乙丙丁戊" for b in "马营桥湖"
]
UNITS = UNIT_KINDS + TOWNS
CATEGORIES = ["经济发展", "基层治理", "社会民生", "党建组织", "政法", "宣传文化"]
READ_GOAL_MS = 300
IMPORT_GOAL = 2_000
RSS_GOAL_MB = 200


def people(n: int, rnd: random.Random) -> list[dict]:
    out = []
    for i in range(n):
        born = date(1966, 1, 1) + timedelta(days=rnd.randrange(365 * 36))
        first17 = f"{COUNTY}{born:%Y%m%d}{i % 1000:03d}"
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
        out.append(
            {
                "name": name,
                "id": first17 + id_check_digit(first17),
                "unit": UNITS[i % len(UNITS)],
                "rank": RANKS[rnd.randrange(12)],
                "category": rnd.choice(CATEGORIES),
                "recruited": rnd.random() < 0.05,
            }
        )
    # The same 17 leading characters twice would be one id number: keep the first.
    seen: set[str] = set()
    return [p for p in out if not (p["id"] in seen or seen.add(p["id"]))]


def registry_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(TEMPLATE)
    for p in rows:
        recruited = ("是", "选调生", 2019) if p["recruited"] else ("否", "", "")
        w.writerow(
            [
                p["name"],
                "",
                "",
                p["id"],
                p["unit"],
                "科长",
                p["rank"],
                p["category"],
                "2020-03-01",
                *recruited,
            ]
        )
    return buf.getvalue().encode()


def verdict(ok: bool) -> str:
    return "达标" if ok else "未达标"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) so far of this bench's descendants, by program: the
    selection service, FerretDB, PostgreSQL, Kafka. A figure the machine's load inflates
    less than a duration: waiting for a core costs no CPU."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, str, float]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        procs[int(d.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / tick)
    mine, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, (ppid, _, _) in procs.items() if ppid in mine} - mine
        grew = bool(more)
        mine |= more
    out: dict[str, float] = {}
    for pid in mine - {os.getpid()}:
        _, cmd, cpu = procs[pid]
        program = cmd.split(" ", 1)[0]
        name = (
            "selection"
            if "services.selection" in cmd
            else "PostgreSQL"
            if program.startswith("postgres") or program.endswith("/postgres")
            else "FerretDB"
            if program.endswith("/ferretdb")
            else "Kafka"
            if program.endswith("/java")
            else "其他"
        )
        out[name] = out.get(name, 0.0) + cpu
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> str:
    return "，".join(f"{k} {after[k] - before.get(k, 0.0):.1f} s" for k in sorted(after))


class Servers:
    def __init__(self) -> None:
        self.kafka, self.uri = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
        self.started: list = []
        # The private brokers take SASL only (deploy/local/kafka.py): the service connects
        # as the cluster's admin. Given servers are used as the environment says.
        self.bus: dict[str, str] = {}

    def __enter__(self) -> Servers:
        folder = self.folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        if not self.uri:
            from deploy.local.ferretdb import FerretDBServer

            store = FerretDBServer(folder / "ferretdb", log_level="warn")
            store.start()
            self.started.append(store)
            self.uri = store.uri
        if not self.kafka:
            from deploy.local.kafka import KafkaCluster

            cluster = KafkaCluster(folder / "kafka")
            cluster.start()
            self.started.append(cluster)
            self.kafka = cluster.bootstrap_servers
            self.bus = {
                "GANXUN_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "GANXUN_KAFKA_USERNAME": cluster.ADMIN,
                "GANXUN_KAFKA_PASSWORD": cluster.admin_password,
            }
        return self

    def __exit__(self, *exc) -> None:
        for s in reversed(self.started):
            s.stop()
        # The servers' data (a county's store is a quarter of a gigabyte): a bench run a minute
        # for an evening left 22 GB of them in /tmp. Their logs go with them; a run's own
        # service logs are in the bench's state folder.
        shutil.rmtree(self.folder, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--nominees", type=int, default=600)
    ap.add_argument("--import-only", action="store_true", help="只测导入与名册显示，不测读取")
    args = ap.parse_args()
    rnd = random.Random(16)
    rows = people(args.cadres, rnd)
    with Servers() as srv:
        state = Path(tempfile.mkdtemp(prefix="bench-scale-state-"))
        private, _ = ensure_dev_keys(state / "keys")
        port = free_port()
        # GANXUN_ENV=dev: the service checks tokens with the development keys made above.
        env = {
            **os.environ,
            **srv.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_STATE_DIR": str(state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": srv.kafka,
            "GANXUN_MONGODB_URI": srv.uri,
            "GANXUN_JURISDICTIONS": COUNTY,
            "GANXUN_DATABASE": f"bench_scale_{os.getpid()}",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.selection", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        tok = issue_token(
            private, user_id="bench", name="县委组织部", role="org_department", jurisdiction=COUNTY
        )
        c = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {tok}"}, timeout=1200
        )
        try:
            await run(c, proc, rows, args)
        finally:
            await c.aclose()
            proc.terminate()
            proc.wait(30)
            shutil.rmtree(state, ignore_errors=True)


async def _sample_rss(pid: int, peak: list[float]) -> None:
    """The process's highest resident memory into peak[0], sampled every 0.1 s until cancelled."""
    while True:
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.1)


# long: one measured run: its phases are timed in sequence and share their figures
async def run(c: httpx.AsyncClient, proc: subprocess.Popen, rows: list[dict], args) -> None:
    await wait_ready(c, proc, "selection 服务未能启动")
    content = registry_csv(rows)
    print(
        f"一个县：{len(rows):,} 名在册干部（CSV {len(content) / 1e6:.1f} MB），{len(UNITS)} 个单位，"
        f"经真实的 selection 服务导入（HTTP → append_many → Kafka → 投影）。"
    )
    cpu0 = cpu_by_process()
    before = rss_mb(proc.pid)
    peak = [before]
    sampling = asyncio.create_task(_sample_rss(proc.pid, peak))
    t0 = time.perf_counter()
    r = await c.post("/cadres/import", files={"file": ("名册.csv", content, "text/csv")})
    took = time.perf_counter() - t0
    cpu1 = cpu_by_process()
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["registered"] == len(rows), {k: v for k, v in report.items() if k != "errors"}
    rate = len(rows) / took
    print(
        f"导入 {len(rows):,} 行：{took:.1f} s，{rate:,.0f} 行/秒（目标 ≥ {IMPORT_GOAL:,}）"
        f"{verdict(rate >= IMPORT_GOAL)}"
    )
    at_answer = (await c.get("/cadres", params={"size": 1})).json()["total"]
    while (await c.get("/cadres", params={"size": 1})).json()["total"] < len(rows):
        await asyncio.sleep(0.5)
    shown = time.perf_counter() - t0
    cpu2 = cpu_by_process()
    whole = len(rows) / shown
    print(
        f"  导入 → 名册 GET /cadres 显示全部 {len(rows):,} 人：请求返回后 {shown - took:.1f} s"
        f"（返回时名册已显示 {at_answer:,} 人）"
    )
    print(
        f"  端到端（自提交起到名册显示全部）：{shown:.1f} s，{whole:,.0f} 行/秒"
        f"（目标 ≥ {IMPORT_GOAL:,}）{verdict(whole >= IMPORT_GOAL)}"
    )
    print(f"  CPU（秒）：导入请求中 {cpu_spent(cpu0, cpu1)}；之后到名册显示 {cpu_spent(cpu1, cpu2)}")
    spent = sum(cpu2.values()) - sum(cpu0.values())
    print(f"  CPU 合计（自提交起到名册显示全部）：{cpu_spent(cpu0, cpu2)}，共 {spent:.1f} s")
    sampling.cancel()
    print(
        f"  selection 常驻内存：导入前 {before:.0f} MB，导入中峰值 {peak[0]:.0f} MB，"
        f"名册显示全部时 {rss_mb(proc.pid):.0f} MB（目标 < {RSS_GOAL_MB} MB）{verdict(peak[0] < RSS_GOAL_MB)}"
    )
    if args.import_only:
        return

    start = date.today() + timedelta(days=60)
    r = await c.post(
        "/classes",
        json={
            "title": "科级干部轮训班",
            "capacity": 300,
            "starts_on": str(start),
            "ends_on": str(start + timedelta(days=5)),
            "class_id": "bench-k1",
        },
    )
    assert r.status_code == 201, r.text
    rank = RANKS[3]
    t0 = time.perf_counter()
    r = await c.post("/classes/bench-k1/scope", json={"ranks": [rank]})
    assert r.status_code == 201, r.text
    in_scope = r.json()["count"]
    ms = (time.perf_counter() - t0) * 1000
    print(f"划定范围（职级 {rank}，{in_scope:,} 人，命令扫描整个名册）：{ms:.0f} ms")
    numbers = [p["id"] for p in rows if p["rank"] == rank][: args.nominees]
    ids = []  # keyed with the deployment's secret: selection looks them up (POST /cadres/lookup)
    for i in range(0, len(numbers), 5000):
        r = await c.post("/cadres/lookup", json={"id_numbers": numbers[i : i + 5000]})
        assert r.status_code == 200 and not r.json()["missing"], r.text
        ids += [r.json()["found"][n] for n in numbers[i : i + 5000]]
    for i in range(0, len(ids), 200):
        r = await c.post("/classes/bench-k1/nominations/batch", json={"cadre_ids": ids[i : i + 200]})
        assert r.status_code == 201, r.text
    while (await c.get("/queue", params={"size": 1})).json()["total"] < len(ids):
        await asyncio.sleep(0.5)
    sample = next(p for p in rows[len(rows) // 2 :] if p["rank"] == rank)
    lists = {
        "名册 GET /cadres": ("/cadres", {"q": sample["name"][:2]}, "name"),
        "人选范围 GET /classes/{id}/scope": ("/classes/bench-k1/scope", {"q": sample["unit"]}, "name"),
        "待确定队列 GET /queue": ("/queue", {"q": UNITS[3]}, "name"),
        "轮训覆盖 GET /reports/coverage": ("/reports/coverage", {"q": sample["name"][:2]}, "last_trained_on"),
        "年度学时 GET /reports/hours": ("/reports/hours", {"q": sample["name"][:2]}, "hours"),
    }
    print(f"读取（每项 {args.queries} 次，顺序发出；每页 20 条；目标 p99 ≤ {READ_GOAL_MS} ms）：")
    worst = 0.0
    for label, (path, search, field) in lists.items():
        total = (await c.get(path, params={"size": 1})).json()["total"]
        later = max(1, min(total // 20, 50))
        for what, params in (
            ("第一页", {}),
            ("搜索", search),
            (f"第 {later} 页", {"page": later}),
            ("排序", {"sort": field, "order": "desc"}),
        ):
            ms = []
            for _ in range(args.queries):
                s = time.perf_counter()
                r = await c.get(path, params=params)
                ms.append((time.perf_counter() - s) * 1000)
                assert r.status_code == 200, r.text
                assert len(r.json()["items"]) <= 20
            p99 = pct(ms, 0.99)
            worst = max(worst, p99)
            print(
                f"  {label:<34} {what:<8} p50 {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms  "
                f"共 {r.json()['total']:>6,} 条  {verdict(p99 <= READ_GOAL_MS)}"
            )
    mem = rss_mb(proc.pid)
    print(f"最慢的 p99：{worst:.0f} ms（目标 ≤ {READ_GOAL_MS} ms）{verdict(worst <= READ_GOAL_MS)}")
    print(f"selection 服务常驻内存：{mem:.0f} MB（目标 < {RSS_GOAL_MB} MB）{verdict(mem < RSS_GOAL_MB)}")


if __name__ == "__main__":
    asyncio.run(main())
