"""A county with five years of history at size: how long does every user-facing read take?

Builds a county of --cadres cadres and --years years of about --classes classes a year of
--trainees trainees (bench/history_world.py: the registry, classes, nominations and
confirmations, sessions, attendance, graduation, recorders and records, follow-up
milestones and evaluations), appends them through the kernel's event store into each
service's own database (`EventStore.append_many`, sealed by the deployment's vault as
the services seal: shared/personal.py; one forked appender per service), and lets the
REAL selection, teaching, records and follow-up processes (each with its relay in a
process of its own) relay them to Kafka and project them, waiting until every outbox
is empty and every projector's consumer group has read to the end. Teaching runs without
its closer and follow-up without its scheduler (WITHOUT: their decisions are in the
streams already; running them would race the bench's appends). Then every read a
workbench page makes, as the role that makes it, --queries times in a row: p50/p99 beside
the 300 ms goal, the response's size, and whether a list answered more than a page.

    .venv/bin/python -m bench.history [--cadres 20000] [--years 5] [--classes 100]
    .venv/bin/python -m bench.history --cadres 2000 --years 1 --classes 20   # about a minute
    .venv/bin/python -m bench.history --cadres 20000 --years 1 --hold /tmp/h.json   # then: touch
        /tmp/h.restart (service names) or /tmp/h.measure; rm /tmp/h.json stops (hold())

Servers: KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI if set, else a private Kafka and FerretDB
(bench.scale.Servers), stopped at the end. Everything shares the machine with the client.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

from bench import history_projectors
from bench.class_lists import Service
from bench.common import timed, wait_ready
from bench.history_world import SERVICES, World, build_world
from bench.scale import COUNTY, Servers, people, rss_mb
from deploy.local.process import REPO_ROOT
from shared import kafka
from shared.auth import ensure_dev_keys, issue_token
from shared.commands import CommandHandler, Context
from shared.events import CATALOGUE, utcnow
from shared.eventstore import MANY_CHUNK, EventStore
from shared.ids import new_id
from shared.personal import Sealer, Vault

SECRET = "bench-history-province-secret-0123456789abcd"
GOAL_MS = 300
PAGE = 20
# Streams per append_many call: one round of a big world is hundreds of thousands of
# envelopes; a slice keeps the bench's memory small and the vault round trips few.
SLICE = 4_000
# Each command's events as their own commit (--per-command) is what the services write. By
# default a stream's consecutive commands are merged into commits of at most MERGE events (a
# command is never split: teaching's attendance of a class is one command of ~51 events): the
# projectors fold the same envelopes, with about half the commit documents. Merging a stream's
# whole history into one commit (years6) made teaching's commits whole classes and a relay round
# of 2,000 of them ~100,000 events; five years then reached Kafka 69 min after the appends.
MERGE = 50
# An appender writes at most one batch pointer's worth (MANY_CHUNK commits, EVENTS_A_CALL events)
# a call, and waits while its service's outbox holds more than AHEAD pointers: the relay sees what
# live commands would give it, a bounded round, not five years appended at once (years6: the
# relays read rounds of tens of thousands of events for an hour, and reached 534 MB).
EVENTS_A_CALL = 5_000
AHEAD = 2
# Workers that would write while the history is appended (each decides on streams the bench
# writes): teaching's closer ends past sessions' attendance, follow-up's scheduler plans
# graduates and sweeps five years of reminders. Their streams already hold those decisions.
WITHOUT = {
    "teaching": "api,relay,projectors",
    "followup": "api,relay,projectors,work_index",
}


def served(service: str) -> str:
    """The components of a service's API process: all it runs here but its relay."""
    from importlib import import_module

    everything = import_module(f"services.{service}.service").DEFINITION.components
    return ",".join(c for c in WITHOUT.get(service, ",".join(everything)).split(",") if c != "relay")


def rounds(streams: dict, county: str, merge: int = 0) -> list[list[tuple[str, int, list]]]:
    """The commits of every stream as rounds: round r holds each stream's r-th commit
    (with the version it follows), so a stream's commits are appended in order. With
    `merge`, a stream's consecutive commands are one commit while it holds at most `merge`
    events (a bigger command alone): the same envelopes (each command's actor, time and
    versions), fewer commit documents for the relay (see MERGE)."""
    out: list[list[tuple[str, int, list]]] = []
    for stream, commits in streams.items():
        version, r, first = 0, -1, None
        for c in commits:
            ctx = Context(actor=c.actor, jurisdiction=county, correlation_id=new_id())
            envs = [
                e.model_copy(update={"occurred_at": c.at, "recorded_at": c.at})
                for e in CommandHandler.envelopes(stream, version, list(c.events), ctx)
            ]
            version += len(envs)
            if first is not None and len(first[2]) + len(envs) <= merge:
                first[2].extend(envs)
                continue
            r += 1
            if len(out) <= r:
                out.append([])
            first = (stream, version - len(envs), envs)
            out[r].append(first)
    return out


def calls(batch: list[tuple[str, int, list]]) -> list[list[tuple[str, int, list]]]:
    """A round's commits as append_many calls of at most MANY_CHUNK commits (one batch pointer)
    and about EVENTS_A_CALL events (a commit is never split)."""
    out: list[list[tuple[str, int, list]]] = [[]]
    events = 0
    for commit in batch:
        if out[-1] and (len(out[-1]) >= MANY_CHUNK or events + len(commit[2]) > EVENTS_A_CALL):
            out.append([])
            events = 0
        out[-1].append(commit)
        events += len(commit[2])
    return [c for c in out if c]


async def append_world(
    world: World, uri: str, databases: dict[str, str], vault_db: str, merge: int
) -> dict[str, int]:
    """Each service's streams into its own event store, each service by a process of its
    own (forked: it has the world already). Making the envelopes and sealing them is the
    bench's own work, a core's worth of Python; in one process that work and the store's
    writes took turns. Every cadre's key is made first, in one pass: four appenders
    sealing for the same new people at once would each try to insert their keys, and the
    vault's refused inserts cost more than the appends. Returns commits per service."""
    mongo = AsyncMongoClient(uri, tz_aware=True)
    try:
        await Vault(mongo[vault_db]).keys(world.people, create=True)
    finally:
        await mongo.close()
    fork = multiprocessing.get_context("fork")
    done = fork.Queue()
    procs = [
        fork.Process(target=_appender, args=(world, s, uri, databases[s], vault_db, merge, done))
        for s in SERVICES
    ]
    for p in procs:
        p.start()
    for p in procs:
        await asyncio.to_thread(p.join)
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit("写入事件库失败（见上）")
    commits = dict(done.get() for _ in procs)
    return {s: commits[s] for s in SERVICES}


def _appender(world: World, service: str, uri: str, database: str, vault_db: str, merge: int, done) -> None:
    """A forked appender: its own event loop and client (asyncio knows a forked child has
    no running loop), the vault's keys read once and held for the build (the bench alone
    writes them)."""

    async def run() -> int:
        mongo = AsyncMongoClient(uri, tz_aware=True)
        try:
            vault = Vault(mongo[vault_db], ttl=24 * 3600)
            await vault.keys(world.people)
            store = EventStore(mongo[database], sealer=Sealer(vault, CATALOGUE))
            return await append_service(world, service, store, merge)
        finally:
            await mongo.close()

    done.put((service, asyncio.run(run())))


async def append_service(world: World, service: str, store: EventStore, merge: int) -> int:
    t0 = time.perf_counter()
    commits = waited = 0
    items = list(world.streams[service].items())
    for i in range(0, len(items), SLICE):
        for batch in rounds(dict(items[i : i + SLICE]), world.county, merge):
            for call in calls(batch):
                waited += await ahead(store)
                conflicts = await store.append_many(call)
                if conflicts:
                    await landed(store, [b for b in call if b[0] in conflicts])
                commits += len(call)
    print(
        f"  {service}：{commits:,} 次提交写入，{time.perf_counter() - t0:.0f} s（等待转发 {waited:.0f} s）",
        flush=True,
    )
    return commits


async def ahead(store: EventStore) -> float:
    """Seconds waited until the service's outbox holds at most AHEAD pointers (AHEAD)."""
    t0 = time.perf_counter()
    while await store.outbox.count_documents({}) > AHEAD:
        await asyncio.sleep(0.1)
    return time.perf_counter() - t0


async def landed(store: EventStore, refused: list[tuple[str, int, list]]) -> None:
    """Streams append_many reported as conflicts. Nothing else writes them while the bench
    appends (WITHOUT), so each holds either exactly this commit's events (an insert retried
    by the driver meeting its own first attempt: its outbox pointer, dropped by append_many,
    is put back) or nothing (appended again); anything else stops the bench."""
    again = []
    for stream, version, envs in refused:
        stored = [e.event_id for e in (await store.read_stream(stream))[version:]]
        if not stored:
            again.append((stream, version, envs))
            continue
        if stored != [e.event_id for e in envs]:
            raise SystemExit(f"{stream}：事件库中已有别的事件（版本 {version} 之后），基准数据无法写入")
        commit = await store.commits.find_one({"stream_id": stream, "version": version + 1})
        pointer = {"_id": commit["_id"], "stream_id": stream, "version": version + 1, "at": utcnow()}
        await store.outbox.update_one({"_id": commit["_id"]}, {"$setOnInsert": pointer}, upsert=True)
    print(
        f"  （{len(refused)} 个流被报告为冲突：{len(refused) - len(again)} 个已写入，{len(again)} 个重写）",
        flush=True,
    )
    if again:
        conflicts = await store.append_many(again)
        if conflicts:
            await landed(store, [a for a in again if a[0] in conflicts])


async def lag(bus: kafka.Connection) -> dict[str, int]:
    """Per projectors' consumer group (one per service), the events on the deployment's
    topics it has not read yet."""
    admin = kafka.admin(bus)
    consumer = kafka.consumer(bus, None)
    await admin.start()
    await consumer.start()
    try:
        behind = {}
        for group, _ in await admin.list_consumer_groups():
            if not group.startswith("ganxun."):
                continue
            offsets = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(offsets))
            # ganxun.<service>.<deployment>.<consumer>: the projectors' as the service's name
            parts = group.split(".")
            name = parts[1] if parts[-1] == "projectors" else f"{parts[1]}/{parts[-1]}"
            behind[name] = sum(max(0, ends[tp] - meta.offset) for tp, meta in offsets.items())
        return behind
    finally:
        await consumer.stop()
        await admin.close()


async def caught_up(uri: str, databases: dict[str, str], bus: kafka.Connection, expect_groups: int) -> None:
    """Until every outbox is empty and every projector group has read to the end."""
    mongo = AsyncMongoClient(uri, tz_aware=True)
    t0 = time.monotonic()
    try:
        while True:
            waiting = {s: await mongo[d]["outbox"].count_documents({}) for s, d in databases.items()}
            admin = kafka.admin(bus)
            await admin.start()
            groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith("ganxun.")]
            await admin.close()
            # Asked while the relays still publish too: which service's projectors fall behind.
            behind = await lag(bus)
            each = "，".join(f"{s} {n:,}" for s, n in sorted(behind.items()))
            print(
                f"  {time.monotonic() - t0:5.0f} s 发件箱待发 {sum(waiting.values()):,}，"
                f"投影组 {len(groups)}/{expect_groups}，未读事件 {sum(behind.values()):,}（{each}）"
                f"，负载 {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if not any(waiting.values()) and not any(behind.values()) and len(groups) >= expect_groups:
                return
            await asyncio.sleep(5)
    finally:
        await mongo.close()


# long: the table of every read the workbench makes, one line each
def reads(world: World, unit: str) -> list[tuple[str, str, str, str, dict]]:
    """(label, role, service, path, params) of every read a workbench page makes."""
    done = [k for k in world.classes if k.graduated]
    ahead = [k for k in world.classes if not k.graduated] or done
    last, first, upcoming = done[-1], done[0], ahead[0]
    taken = Counter(c for k in done for c in k.trainees)
    busy = taken.most_common(1)[0][0]
    trainee = graduate_of(world, last)
    session = f"{last.class_id}-1"
    year = world.today.year
    sel = [
        ("干部名册 第一页", "org_department", "selection", "/cadres", {}),
        ("干部名册 搜索", "org_department", "selection", "/cadres", {"q": "王"}),
        ("干部名册 第50页", "org_department", "selection", "/cadres", {"page": 50}),
        ("干部名册 按出生日期", "org_department", "selection", "/cadres", {"sort": "birth_date"}),
        ("干部页", "org_department", "selection", f"/cadres/{busy}", {}),
        ("干部页 培训档案", "org_department", "selection", f"/cadres/{busy}/history", {}),
        ("班次管理", "org_department", "selection", "/classes", {}),
        (
            "班次管理 最新在前",
            "org_department",
            "selection",
            "/classes",
            {"sort": "starts_on", "order": "desc"},
        ),
        ("班次管理 搜索", "org_department", "selection", "/classes", {"q": "年轻干部"}),
        ("班次页", "org_department", "selection", f"/classes/{last.class_id}", {}),
        ("班次页 推荐名单", "org_department", "selection", f"/classes/{last.class_id}/nominations", {}),
        ("班次页 名额", "org_department", "selection", f"/classes/{last.class_id}/quota", {}),
        ("最早班次页 推荐名单", "org_department", "selection", f"/classes/{first.class_id}/nominations", {}),
        ("人选范围", "org_department", "selection", f"/classes/{upcoming.class_id}/scope", {}),
        ("待确定队列", "org_department", "selection", "/queue", {}),
        ("覆盖率报表", "org_department", "selection", "/reports/coverage", {}),
        ("覆盖率报表 搜索", "org_department", "selection", "/reports/coverage", {"q": "王"}),
        ("学时报表", "org_department", "selection", "/reports/hours", {}),
        (f"学时报表 {year - 1}年", "org_department", "selection", "/reports/hours", {"year": year - 1}),
        ("本单位调训任务", "unit", "selection", "/classes", {"phase": "upcoming"}),
        ("本单位 班次名额", "unit", "selection", f"/classes/{upcoming.class_id}/quota", {}),
        ("本单位 名册", "unit", "selection", "/cadres", {}),
        ("学员 我的学时档案", "trainee", "selection", "/me/training-record", {}),
    ]
    teach = [
        ("课程与师资", "party_school", "teaching", f"/catalogue/{world.county}", {}),
        ("班级名册", "party_school", "teaching", f"/classes/{last.class_id}/roster", {}),
        ("课表", "party_school", "teaching", f"/classes/{last.class_id}/timetable", {}),
        (
            "点名考勤",
            "party_school",
            "teaching",
            f"/classes/{last.class_id}/sessions/{session}/attendance",
            {},
        ),
        ("班级出勤与学时", "party_school", "teaching", f"/classes/{last.class_id}/attendance", {}),
        ("结业评定", "party_school", "teaching", f"/classes/{last.class_id}/graduation", {}),
        ("待审批请假", "party_school", "teaching", "/leave-requests", {}),
        ("教师授课量", "party_school", "teaching", "/teachers/t0/load", {"jurisdiction": world.county}),
        ("学员学时", "org_department", "teaching", f"/trainees/{busy}/hours", {}),
        ("学员 我的班次", "trainee", "teaching", "/me/classes", {}),
        ("学员 我的课表", "trainee", "teaching", f"/me/classes/{last.class_id}/sessions", {}),
    ]
    rec = [
        ("纪实名册", "recorder", "records", f"/classes/{last.class_id}/roster", {"days": 7}),
        ("纪实人员 我记录的班次", "recorder", "records", "/me/classes", {}),
        ("学员纪实记录", "recorder", "records", f"/classes/{last.class_id}/trainees/{trainee}/records", {}),
        ("无遗漏检查", "org_department", "records", f"/classes/{last.class_id}/completeness", {}),
        ("累计得分排名", "org_department", "records", f"/classes/{last.class_id}/assessment/ranking", {}),
    ]
    fol = [
        ("跟踪待办", "org_department", "followup", "/worklist", {}),
        ("跟踪待办 第3页", "org_department", "followup", "/worklist", {"page": 3}),
        ("跟踪待办 搜索", "org_department", "followup", "/worklist", {"q": "王"}),
        ("学员跟踪档案", "org_department", "followup", f"/trainees/{busy}/followup", {}),
        ("班次成效报告", "org_department", "followup", f"/classes/{last.class_id}/effect", {}),
        ("最早班次成效报告", "org_department", "followup", f"/classes/{first.class_id}/effect", {}),
        ("本单位 跟踪待办", "unit", "followup", "/worklist", {}),
        ("本单位 上讲台与成果", "unit", "followup", "/unit/sharing", {}),
        ("学员 我的跟踪档案", "trainee", "followup", "/me/followup", {}),
    ]
    return sel + teach + rec + fol


def graduate_of(world: World, k) -> str:
    """A trainee of class `k` who graduated (has a follow-up file): the trainee's pages."""
    prefix = f"followup:{k.class_id}:"
    return next(s[len(prefix) :] for s in world.streams["followup"] if s.startswith(prefix))


def tokens(key: bytes, world: World, unit: str) -> dict[str, dict[str, str]]:
    last = [k for k in world.classes if k.graduated][-1]
    trainee = graduate_of(world, last)
    who = {
        "org_department": ("hist-org", "县委组织部", None),
        "unit": (f"unit-{unit}", f"{unit}干部", unit),
        "party_school": ("hist-school", "县委党校", None),
        "recorder": (f"rec-{last.class_id}", "周文华", None),
        "trainee": (trainee, world.people[trainee]["name"], None),
    }
    return {
        role: {
            "Authorization": "Bearer "
            + issue_token(key, user_id=uid, name=name, role=role, jurisdiction=world.county, unit=u)
        }
        for role, (uid, name, u) in who.items()
    }


def rows_of(doc) -> list | None:
    """A list's rows, if the answer is a page (`items`) or a bare list."""
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return doc["items"]
    return doc if isinstance(doc, list) else None


async def measure(urls: dict[str, str], who: dict, world: World, unit: str, queries: int) -> list[tuple]:
    out = []
    async with httpx.AsyncClient(timeout=120) as c:
        for label, role, service, path, params in reads(world, unit):
            t = await timed(c, urls[service] + path, params, queries, who[role])
            if t.status != 200:
                note = f"{t.status} {t.body.text[:60]}"
                out.append((label, role, service, path, None, None, 0, note))
                continue
            rows = rows_of(t.body.json())
            note = "" if rows is None or len(rows) <= PAGE else f"一次返回 {len(rows)} 行"
            out.append((label, role, service, path, t.p50, t.p99, t.size, note))
    return out


def report(results: list[tuple]) -> None:
    print(f"\n{'读取（页面）':<20}{'角色':<16}{'p50':>9}{'p99':>10}{'大小':>10}  结论")
    worst = 0.0
    for label, role, _service, path, p50, p99, size, note in results:
        if p50 is None:
            print(f"{label:<20}{role:<16}  未计时：{note}  {path}")
            continue
        worst = max(worst, p99)
        ok = "达标" if p99 <= GOAL_MS and not note else "未达标"
        print(f"{label:<20}{role:<16}{p50:7.1f}ms{p99:8.1f}ms{size / 1024:8.1f}KB  {ok} {note}  {path}")
    met = sum(1 for r in results if r[5] is not None and r[5] <= GOAL_MS and not r[7])
    print(f"\n{met} / {len(results)} 项 p99 ≤ {GOAL_MS} ms；最慢的 p99 {worst:.0f} ms")
    print(f"最大的响应 {max(r[6] for r in results) / 1024:.1f} KB")


# long: servers, the four services, the build and the report, in order
async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--classes", type=int, default=100, help="classes a year")
    ap.add_argument("--trainees", type=int, default=50)
    ap.add_argument("--sessions", type=int, default=8, help="sessions of a class (4 hours each)")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--per-command", action="store_true", help="one commit per command (--merge 0)")
    ap.add_argument(
        "--merge", type=int, default=MERGE, help="a stream's commands merged up to this many events"
    )
    ap.add_argument(
        "--projectors",
        action="store_true",
        help="then rebuild each projection alone and time its steps (bench/history_projectors.py)",
    )
    ap.add_argument("--rebuild-batch", type=int, default=None, help="events a rebuild batch (live size)")
    ap.add_argument(
        "--hold",
        type=Path,
        default=None,
        help="then keep the county up while this file exists (see hold())",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = people(args.cadres, random.Random(16))
    world = build_world(
        rows, COUNTY, SECRET.encode(), args.years, args.classes, args.trainees, args.sessions, date.today()
    )
    counts = world.counts()
    print(
        f"一个县五年的历史：{len(world.people):,} 名干部，{len(world.classes)} 个班次 "
        f"（{sum(k.graduated for k in world.classes)} 个已结业），每班 {args.trainees} 人；"
        f"生成事件 {time.perf_counter() - t0:.0f} s"
    )
    for service, c in counts.items():
        detail = "，".join(f"{t} {n:,}" for t, n in c.most_common())
        print(f"  {service}：{sum(c.values()):,} 个事件（{detail}）")
    with Servers() as srv:
        os.environ.update(srv.bus)
        state = Path(tempfile.mkdtemp(prefix="bench-history-"))
        print(f"服务日志：{state}", flush=True)
        private, _ = ensure_dev_keys(state / "keys")
        tag = os.getpid()
        databases = {s: f"bench_hist_{s}_{tag}" for s in SERVICES}
        base = {
            **os.environ,
            **srv.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_SELECTION_CADRE_ID_SECRET": SECRET,
            "GANXUN_STATE_DIR": str(state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": srv.kafka,
            "GANXUN_MONGODB_URI": srv.uri,
            "GANXUN_JURISDICTIONS": COUNTY,
            "GANXUN_VAULT_DATABASE": f"bench_hist_vault_{tag}",
        }
        procs = {
            s: Service(s, {**base, "GANXUN_DATABASE": databases[s]}, REPO_ROOT, served(s), state / f"{s}.log")
            for s in SERVICES
        }
        # Each service's relay in a process of its own (the kernel allows any number of a
        # service's processes): relaying five years is a core's worth of Python beside the
        # projectors, which it took turns with in one process.
        relays = {
            s: Service(
                s, {**base, "GANXUN_DATABASE": databases[s]}, REPO_ROOT, "relay", state / f"{s}-relay.log"
            )
            for s in SERVICES
        }
        try:
            for s, p in procs.items():
                async with httpx.AsyncClient(base_url=p.url, timeout=60) as c:
                    await wait_ready(c, p.proc, f"{s} 服务未能启动")
            await build(
                world, srv, databases, f"bench_hist_vault_{tag}", procs, 0 if args.per_command else args.merge
            )
            unit = world.people[world.classes[-1].trainees[0]]["unit"]
            who = tokens(private, world, unit)
            results = await measure({s: p.url for s, p in procs.items()}, who, world, unit, args.queries)
            report(results)
            mem = "，".join(
                f"{s} {rss_mb(p.proc.pid):.0f} MB（转发进程 {rss_mb(relays[s].proc.pid):.0f} MB）"
                for s, p in procs.items()
            )
            print(f"各服务常驻内存：{mem}（目标 < 200 MB）")
            if args.projectors:
                history_projectors.print_header(args.rebuild_batch)
                await history_projectors.measure(
                    {**base, "GANXUN_DATABASE": f"bench_hist_{tag}"}, SERVICES, args.rebuild_batch
                )
            if args.hold:
                await hold(args, srv, procs, base, databases, world, unit, who)
        finally:
            for p in (*procs.values(), *relays.values()):
                p.stop()


async def hold(args, srv: Servers, procs: dict, base: dict, databases: dict, world, unit, who) -> None:
    """Keeps the built county up while the file `args.hold` exists, so a change to a read can
    be measured on the same county (a build at 20,000 cadres takes half an hour). The file
    holds the store's URI, the FerretDB folder (its PostgreSQL's counters) and the services'
    URLs. Requests, as files beside it: `<hold>.restart` names services (one a line) to
    restart with the tree's code, on the same databases (their projectors go on from their
    committed offsets); `<hold>.measure` measures every read again."""
    import json

    def save() -> None:
        state = {
            "uri": srv.uri,
            "ferretdb": str(srv.folder / "ferretdb"),
            "databases": databases,
            "urls": {s: p.url for s, p in procs.items()},
            "headers": who,
        }
        args.hold.write_text(json.dumps(state, ensure_ascii=False, indent=1))

    save()
    restart, again = args.hold.with_suffix(".restart"), args.hold.with_suffix(".measure")
    print(f"保持运行：删除 {args.hold} 即停止", flush=True)
    while args.hold.exists():
        if restart.exists():
            for s in restart.read_text().split():
                procs[s].stop()
                procs[s] = Service(s, {**base, "GANXUN_DATABASE": databases[s]}, REPO_ROOT, served(s))
                async with httpx.AsyncClient(base_url=procs[s].url, timeout=60) as c:
                    await wait_ready(c, procs[s].proc, f"{s} 服务未能启动")
                print(f"  已重启 {s}：{procs[s].url}", flush=True)
            restart.unlink()
            save()
        if again.exists():
            again.unlink()
            print(f"再次测量，负载 {os.getloadavg()[0]:.1f}", flush=True)
            report(await measure({s: p.url for s, p in procs.items()}, who, world, unit, args.queries))
        await asyncio.sleep(2)


async def build(world: World, srv: Servers, databases: dict, vault_db: str, procs: dict, merge: int) -> None:
    t0 = time.perf_counter()
    commits = await append_world(world, srv.uri, databases, vault_db, merge)
    took = time.perf_counter() - t0
    print(f"写入事件库（append_many，加密个人信息）：{sum(commits.values()):,} 次提交，{took:.0f} s")
    # One consumer group per service with projections (shared/runtime.py projectors_group).
    from importlib import import_module

    groups = sum(1 for s in procs if import_module(f"services.{s}.service").DEFINITION.projections)
    bus = kafka.Connection.from_env(srv.kafka)
    await caught_up(srv.uri, databases, bus, groups)
    print(
        f"转发与投影完成：写入后 {time.perf_counter() - t0 - took:.0f} s；共 {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
