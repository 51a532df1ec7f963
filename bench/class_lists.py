"""The class lists and the follow-up work list in a bigger world, before and after paging.

Builds, through the real services: a registry of --cadres (one CSV import), --classes
classes of --trainees confirmed trainees each (opened, scope drawn on one rank, a batch
recommendation and a batch confirmation per class: selection's own commands, relayed to
Kafka and projected), and --graduated of those classes' trainees graduated on teaching's
topic over the last months, so follow-up's scheduler plans their milestones and its work
list has rows due and overdue. Then each list a workbench page asks for is timed
--queries times in a row, against this branch's services (`after`) and against the same
read models served by the code of --before (a commit; its selection and follow-up run
with only their API, on the same databases: the read models' shapes did not change), with
p50/p99 beside the 300 ms goal.

    .venv/bin/python -m bench.class_lists [--classes 100] [--trainees 50] [--before 1da7fd3]

Servers: KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI if set, else a private Kafka and FerretDB
(bench.scale.Servers). Everything shares the machine with the bench client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench.common import timed, wait_ready
from bench.scale import COUNTY, Servers, people, registry_csv
from deploy.local.process import REPO_ROOT, free_port
from services.selection import cadres
from services.selection.cadres import RANKS
from shared.auth import ensure_dev_keys, issue_token
from shared.contracts.teaching import TraineeGraduated

# The province's key for cadre ids, given to selection, so the bench names the cadres it
# registered by the ids selection gives them (services/selection/README.md).
SECRET = "bench-class-lists-province-secret-0123456789"


def cadre_id_for(id_number: str) -> str:
    return cadres.cadre_id_for(id_number, SECRET.encode())


GOAL_MS = 300
TITLES = [
    "科级干部轮训班",
    "年轻干部培训班",
    "村(社区)党组织书记示范培训班",
    "乡村振兴专题培训班",
    "党纪学习教育读书班",
]


class Service:
    """One service process (this branch's code, or --before's with only its API)."""

    def __init__(
        self, name: str, env: dict, cwd: Path, components: str | None = None, log: Path | None = None
    ) -> None:
        """`log`: a file its output is appended to (else discarded)."""
        self.name, self.port = name, free_port()
        argv = [sys.executable, "-m", f"services.{name}", "--port", str(self.port)]
        if components:
            argv += ["--components", components]
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**env, "PYTHONPATH": str(cwd)},
            stdout=log.open("ab") if log else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def until(what: str, check, timeout: float = 900) -> None:
    t0 = time.monotonic()
    while not await check():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"{what}：{timeout:.0f} s 内未完成")
        await asyncio.sleep(1)
    print(f"  {what}：{time.monotonic() - t0:.0f} s")


# long: the world built step by step, each step waiting for what the previous one wrote
async def build(sel: httpx.AsyncClient, fu: httpx.AsyncClient, kafka: str, args, rows: list[dict]) -> None:
    r = await sel.post("/cadres/import", files={"file": ("名册.csv", registry_csv(rows), "text/csv")})
    assert r.status_code == 200, r.text

    async def registered() -> bool:
        return (await sel.get("/cadres", params={"size": 1})).json()["total"] >= len(rows)

    await until(f"名册 {len(rows):,} 人导入并投影", registered)
    start = date.today() + timedelta(days=30)
    by_rank: dict[str, list[str]] = {}
    for p in rows:
        by_rank.setdefault(p["rank"], []).append(cadre_id_for(p["id"]))
    classes = []
    for i in range(args.classes):
        class_id, rank = f"bl{i:03d}", RANKS[i % 12]
        title = f"{2026 + i // 40}年{TITLES[i % len(TITLES)]}（第{i % 40 + 1}期）"
        begins = start + timedelta(days=3 * i)
        r = await sel.post(
            "/classes",
            json={
                "class_id": class_id,
                "title": title,
                "category": TITLES[i % len(TITLES)][:4],
                "capacity": args.trainees,
                "starts_on": str(begins),
                "ends_on": str(begins + timedelta(days=4)),
            },
        )
        assert r.status_code == 201, r.text
        assert (await sel.post(f"/classes/{class_id}/scope", json={"ranks": [rank]})).status_code == 201
        ids = by_rank[rank][(i // 12) * 7 :][: args.trainees]
        r = await sel.post(f"/classes/{class_id}/nominations/batch", json={"cadre_ids": ids})
        assert r.status_code == 201, r.text
        r = await sel.post(f"/classes/{class_id}/confirmations", json={"cadre_ids": ids})
        assert r.status_code == 201, r.text
        classes.append((class_id, title, ids))
    print(f"  {args.classes} 个班次，各 {args.trainees} 名确定学员（{4 * args.classes} 条命令）")

    from tests.support import publish

    names = {cadre_id_for(p["id"]): p for p in rows}
    graduated = 0
    for n, (class_id, title, ids) in enumerate(classes[: args.graduated]):
        ago = 20 + 9 * n  # over the last months: month 1 due, month 1 or 3 overdue
        events = [
            TraineeGraduated(
                class_id=class_id,
                cadre_id=c,
                name=names[c]["name"],
                unit=names[c]["unit"],
                graduated_on=date.today() - timedelta(days=ago),
                hours=32,
                attendance_rate=1.0,
                class_title=title,
            )
            for c in ids
        ]
        await publish(kafka, "teaching", COUNTY, f"teaching-class-{class_id}", events, actor_name="教务")
        graduated += len(events)

    seen: list[int] = []

    async def planned() -> bool:  # the work list stops growing: the scheduler has swept them all
        r = await fu.get("/worklist", params={"size": 1})
        seen.append(r.json()["total"] if r.status_code == 200 else 0)
        await asyncio.sleep(4)
        return len(seen) > 3 and seen[-1] > 0 and seen[-1] == seen[-2] == seen[-3]

    await until(f"{graduated:,} 名结业学员排定跟踪节点", planned)
    print(f"  跟踪待办共 {seen[-1]:,} 项（本周到期与逾期）")


def lists(busiest: str) -> list[tuple[str, str, str, str, dict]]:
    """(label, service, role, path, params) of each list a page asks for."""
    return [
        ("班次管理（第一页）", "selection", "org_department", "/classes", {}),
        (
            "班次管理 最新在前",
            "selection",
            "org_department",
            "/classes",
            {"sort": "starts_on", "order": "desc"},
        ),
        ("班次管理 搜索", "selection", "org_department", "/classes", {"q": "年轻干部"}),
        ("本单位调训任务", "selection", "unit", "/classes", {"phase": "upcoming"}),
        ("班次页", "selection", "org_department", f"/classes/{busiest}", {}),
        ("班次页 学员名单", "selection", "org_department", f"/classes/{busiest}/nominations", {}),
        ("班次名单（导出用，整份）", "selection", "org_department", f"/classes/{busiest}/roster", {}),
        ("跟踪待办（第一页）", "followup", "org_department", "/worklist", {}),
        ("跟踪待办 第3页", "followup", "org_department", "/worklist", {"page": 3}),
        ("跟踪待办 搜索", "followup", "org_department", "/worklist", {"q": "王"}),
    ]


async def measure(urls: dict[str, str], who: dict[str, dict], queries: int) -> dict[str, tuple]:
    out = {}
    async with httpx.AsyncClient(timeout=120) as c:
        for label, service, role, path, params in lists("bl000"):
            t = await timed(c, urls[service] + path, params, queries, who[role])
            out[label] = (t.p50, t.p99, t.size / 1024, t.status)
    return out


# long: servers, both builds' processes and the report, in order
async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cadres", type=int, default=3000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--trainees", type=int, default=50)
    ap.add_argument("--graduated", type=int, default=20, help="how many of the classes have graduated")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--before", default="1da7fd3", help="the commit to compare with (its API only)")
    args = ap.parse_args()
    rows = people(args.cadres, random.Random(16))
    with Servers() as srv:
        os.environ.update(srv.bus)  # this process publishes teaching's graduations
        state = Path(tempfile.mkdtemp(prefix="bench-lists-"))
        private, _ = ensure_dev_keys(state / "keys")
        base = {
            **os.environ,
            **srv.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_SELECTION_CADRE_ID_SECRET": SECRET,
            "GANXUN_STATE_DIR": str(state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": srv.kafka,
            "GANXUN_MONGODB_URI": srv.uri,
            "GANXUN_JURISDICTIONS": COUNTY,
            "GANXUN_FOLLOWUP_TICK_SECONDS": "0.5",
        }
        env = {
            s: {**base, "GANXUN_DATABASE": f"bench_lists_{s}_{os.getpid()}"}
            for s in ("selection", "followup")
        }
        before = state / "before"
        before.mkdir()
        tar = subprocess.run(["git", "archive", args.before], cwd=REPO_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(before)], input=tar.stdout, check=True)
        unit = rows[0]["unit"]
        who = {
            role: {
                "Authorization": "Bearer "
                + issue_token(
                    private,
                    user_id=f"b-{role}",
                    name="基准测试",
                    role=role,
                    jurisdiction=COUNTY,
                    unit=unit if role == "unit" else None,
                )
            }
            for role in ("org_department", "unit")
        }
        procs = {s: Service(s, env[s], REPO_ROOT) for s in ("selection", "followup")}
        old: dict[str, Service] = {}
        try:
            sel = httpx.AsyncClient(
                base_url=procs["selection"].url, headers=who["org_department"], timeout=600
            )
            fu = httpx.AsyncClient(base_url=procs["followup"].url, headers=who["org_department"], timeout=600)
            for s, c in (("selection", sel), ("followup", fu)):
                await wait_ready(c, procs[s].proc, f"{s} 服务未能启动")
            print(
                f"构建：{len(rows):,} 名干部，{args.classes} 个班次 × {args.trainees} 名学员，"
                f"其中 {args.graduated} 个班次已结业（经真实服务的命令与投影）"
            )
            await build(sel, fu, srv.kafka, args, rows)
            after = await measure({s: p.url for s, p in procs.items()}, who, args.queries)
            old = {s: Service(s, env[s], before, components="api") for s in ("selection", "followup")}
            for s in old:
                async with httpx.AsyncClient(base_url=old[s].url, timeout=60) as c:
                    await wait_ready(c, old[s].proc, f"{args.before} 的 {s} 服务未能启动")
            was = await measure({s: p.url for s, p in old.items()}, who, args.queries)
            print(f"\n每项连续请求 {args.queries} 次（p50 / p99，响应大小）；目标 p99 ≤ {GOAL_MS} ms。")
            print(f"{'列表':<22}{'改前 (' + args.before + ')':<34}{'改后':<30}结论")
            for label in after:
                b, a = was[label], after[label]
                show = lambda x: (  # noqa: E731
                    f"{x[0]:6.1f} / {x[1]:6.1f} ms {x[2]:7.1f} KB"
                    if x[3] == 200
                    else f"（{x[3]}，尚无此接口）"
                )
                ok = "达标" if a[3] == 200 and a[1] <= GOAL_MS else "未达标"
                print(f"{label:<20}  {show(b):<32}  {show(a):<28}  {ok}")
            await sel.aclose()
            await fu.aclose()
        finally:
            for p in (*procs.values(), *old.values()):
                p.stop()


if __name__ == "__main__":
    asyncio.run(main())
