"""How long does each list of the workbench take at the demo's size?

Against a running `ganxun up` with its demo loaded (default ports, the development keys in
its state folder), each list a workbench page shows is asked for as that page's role asks
for it (the workbench forwards the same request with the user's token), --queries times
one after another, and its p50/p99 printed beside the 300 ms goal. The class-level lists
use the Wucheng class with the most nominations; its first session for the roll call.
Against a build before issue 16's paging, the same lists are asked for (the old routes
answer whole lists and ignore the paging parameters; a route not there yet is printed
with its refusal, not timed).

    GANXUN_STATE_DIR=/tmp/demo deploy/ganxun up --detach
    GANXUN_STATE_DIR=/tmp/demo .venv/bin/python -m bench.workbench_lists [--queries 30]

With `up --port selection=9101 …` (a machine where the default ports are taken), pass
the same `--port SERVICE=PORT` here.

A list a role may not read in this deployment is printed with the service's refusal, not
timed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from deploy.demo.loader import Codes
from deploy.local.process import state_dir
from shared.auth import ensure_dev_keys, issue_token
from shared.settings import DEFAULT_PORTS

GOAL_MS = 300


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def first(doc: Any, key: str) -> Any:
    """The first value of `key` anywhere in a JSON document (depth first), or None."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for item in doc:
            found = first(item, key)
            if found is not None:
                return found
    return None


class Bench:
    def __init__(
        self, client: httpx.AsyncClient, key: bytes, county: str, queries: int, ports: dict[str, int]
    ) -> None:
        self.client, self.key, self.county, self.queries = client, key, county, queries
        self.ports = ports

    def who(self, role: str, unit: str | None = None) -> dict[str, str]:
        tok = issue_token(
            self.key,
            user_id=f"bench-{role}",
            name="基准测试",
            role=role,
            jurisdiction=self.county,
            unit=unit,
        )
        return {"Authorization": f"Bearer {tok}"}

    async def get(self, service: str, path: str, who: dict, params: dict | None = None) -> httpx.Response:
        url = f"http://127.0.0.1:{self.ports[service]}{path}"
        return await self.client.get(url, headers=who, params=params)

    async def measure(self, label: str, role: str, service: str, path: str, who: dict, params: dict) -> None:
        r = await self.get(service, path, who, params)
        if r.status_code != 200:
            print(f"{label:<22} {role:<15} {service} {path}: {r.status_code} {r.text[:80]}（未计时）")
            return
        times = []
        for _ in range(self.queries):
            t0 = time.perf_counter()
            r = await self.get(service, path, who, params)
            times.append((time.perf_counter() - t0) * 1000)
        p50, p99 = pct(times, 0.5), pct(times, 0.99)
        size = len(r.content) / 1024
        verdict = "达标" if p99 <= GOAL_MS else "未达标"
        print(
            f"{label:<22} {role:<15} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {size:6.1f} KB  {verdict}  {path}"
        )


# long: the workbench's lists one after another, each with the ids the previous ones found
async def run(b: Bench) -> None:
    org, school = b.who("org_department"), b.who("party_school")
    classes = (await b.get("selection", "/classes", org, {"size": 200})).json()
    items = classes.get("items", classes) if isinstance(classes, dict) else classes
    if not items:
        raise SystemExit("演示数据中没有班次：请先用 ganxun up 加载演示数据。")
    sizes = []
    for c in items:
        if "counts" in c:  # since issue 16 the list's rows count the nominations
            sizes.append((sum(c["counts"].values()), c["class_id"], c.get("title", "")))
        else:  # before: each class document carried its nominations
            doc = (await b.get("selection", f"/classes/{c['class_id']}", org)).json()
            sizes.append((len(doc.get("nominations", [])), c["class_id"], c.get("title", "")))
    n, klass, title = max(sizes)
    unit = first((await b.get("selection", "/cadres", org, {"size": 1})).json(), "unit")
    timetable = (await b.get("teaching", f"/classes/{klass}/timetable", school)).json()
    session = first(timetable, "session_id")
    total = classes.get("total", len(items)) if isinstance(classes, dict) else len(items)
    print(f"县 {b.county}：{total} 个班次；班次级列表用“{title}”（{n} 人次推荐），单位用“{unit}”。")
    print(f"每个列表连续请求 {b.queries} 次，目标 p99 ≤ {GOAL_MS} ms。\n")
    lists = [
        ("干部名册 第一页", "org_department", "selection", "/cadres", org, {"page": 1, "size": 20}),
        ("干部名册 搜索", "org_department", "selection", "/cadres", org, {"q": "王", "size": 20}),
        (
            "干部名册 按出生日期排序",
            "org_department",
            "selection",
            "/cadres",
            org,
            {"sort": "birth_date", "size": 20},
        ),
        ("班次管理", "org_department", "selection", "/classes", org, {}),
        (
            "班次管理 最新在前",
            "org_department",
            "selection",
            "/classes",
            org,
            {"sort": "starts_on", "order": "desc"},
        ),
        ("班次管理 搜索", "org_department", "selection", "/classes", org, {"q": "培训"}),
        ("班次页", "org_department", "selection", f"/classes/{klass}", org, {}),
        ("班次页 学员名单", "org_department", "selection", f"/classes/{klass}/nominations", org, {}),
        (
            "班次页 名单搜索",
            "org_department",
            "selection",
            f"/classes/{klass}/nominations",
            org,
            {"q": "王", "status": "confirmed"},
        ),
        ("班次名额", "org_department", "selection", f"/classes/{klass}/quota", org, {}),
        ("人选范围", "org_department", "selection", f"/classes/{klass}/scope", org, {}),
        ("待确定队列", "org_department", "selection", "/queue", org, {}),
        ("统计报表 覆盖率", "org_department", "selection", "/reports/coverage", org, {}),
        ("统计报表 学时", "org_department", "selection", "/reports/hours", org, {}),
        ("本单位调训任务", "unit", "selection", "/classes", b.who("unit", unit), {}),
        ("本单位名额", "unit", "selection", f"/classes/{klass}/quota", b.who("unit", unit), {}),
        ("课程与师资", "party_school", "teaching", f"/catalogue/{b.county}", school, {}),
        ("课表与排课", "party_school", "teaching", f"/classes/{klass}/timetable", school, {}),
        ("结业评定", "party_school", "teaching", f"/classes/{klass}/graduation", school, {}),
        ("跟踪待办", "org_department", "followup", "/worklist", org, {}),
        ("跟踪待办 第2页", "org_department", "followup", "/worklist", org, {"page": 2}),
        ("跟踪待办 搜索", "org_department", "followup", "/worklist", org, {"q": "王"}),
        ("纪实名册", "org_department", "records", f"/classes/{klass}/roster", org, {}),
    ]
    if session:
        path = f"/classes/{klass}/sessions/{session}/attendance"
        lists.append(("点名考勤", "party_school", "teaching", path, school, {}))
    for label, role, service, path, who, params in lists:
        await b.measure(label, role, service, path, who, params)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--county", default=Codes().wucheng)
    ap.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT")
    args = ap.parse_args()
    ports = {**DEFAULT_PORTS, **{k: int(v) for k, v in (p.split("=", 1) for p in args.port)}}
    key = ensure_dev_keys(state_dir() / "keys")[0]
    async with httpx.AsyncClient(timeout=60) as client:
        await run(Bench(client, key, args.county, args.queries, ports))


if __name__ == "__main__":
    asyncio.run(main())
