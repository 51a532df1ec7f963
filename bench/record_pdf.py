"""The record form PDF over HTTP: p50/p99 beside the 300 ms goal (issue 16).

Builds one class through the real records service: selection's and teaching's facts on their
topics (--trainees confirmed trainees, --sessions sessions each attended), a head teacher
assigned, and --records real-name records logged through the API for each of the first
--forms trainees. Then `GET …/form.pdf` of those trainees in turn, --queries times one after
the other, and --queries times from --together clients at once (a department printing the
forms of a class while head teachers do the same). Each PDF's text is checked for the
trainee's name and their latest record, so a fast answer is also a right one. The same is
then timed against the code of --before (a commit; its records service with only its API, on
the same database: the read models did not change), in the same conditions.

    .venv/bin/python -m bench.record_pdf [--records 40] [--queries 40] [--together 4] [--before 61803aa]

Servers: KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI if set, else a private Kafka and FerretDB
(bench.scale.Servers). The service, the servers and this client share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import tempfile
import time
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

import httpx

from bench.class_lists import Service
from bench.common import wait_ready
from bench.scale import COUNTY, Servers, pct, verdict
from deploy.local.process import REPO_ROOT
from shared.auth import ensure_dev_keys, issue_token
from shared.clock import local_today
from shared.contracts.selection import ClassOpened, NominationConfirmed, StudyGroup
from shared.contracts.teaching import SessionAttended, SessionScheduled

GOAL_MS = 300
CLASS = "pdf-bench-1"
HEAD = ("bench-ht", "周明")
NAMES = "张伟 李娜 王芳 刘洋 陈静 杨帆 赵磊 黄敏 周杰 吴霞".split()
TEXT = "第{n}次记录：在小组讨论中联系本地乡村振兴实际发言，提出改进基层治理的三条意见，学习笔记完整认真。"


async def facts(kafka: str, trainees: int, sessions: int) -> list[str]:
    """The class, its confirmed trainees and their attended sessions, as selection's and
    teaching's relays would put them on Kafka."""
    from tests.support import publish

    start = local_today() - timedelta(days=sessions)
    ids = [f"t{i:03d}" for i in range(trainees)]
    opened = ClassOpened(
        class_id=CLASS,
        title="2026年中青年干部培训班（第1期）",
        capacity=trainees,
        starts_on=start,
        ends_on=local_today() + timedelta(days=30),
        organiser="县委党校",
        study_groups=[StudyGroup(name="第一组")],
    )
    confirmed = [
        NominationConfirmed(class_id=CLASS, cadre_id=c, name=NAMES[i % 10] + str(i), unit="县发改局")
        for i, c in enumerate(ids)
    ]
    await publish(kafka, "selection", COUNTY, f"class-{CLASS}", [opened, *confirmed])
    held = [
        SessionScheduled(
            class_id=CLASS,
            session_id=f"s{d}",
            course_id="k1",
            course_title="习近平新时代中国特色社会主义思想",
            kind="理论课",
            on=start + timedelta(days=d),
            starts_at=clock(9),
            ends_at=clock(12),
            hours=3,
            teacher_id="t1",
            teacher_name="黄教授",
            site_id="room1",
        )
        for d in range(sessions)
    ]
    marks = [
        SessionAttended(class_id=CLASS, session_id=f"s{d}", cadre_id=c, hours=3, on=start + timedelta(days=d))
        for d in range(sessions)
        for c in ids
    ]
    await publish(kafka, "teaching", COUNTY, f"teaching-class-{CLASS}", held + marks)
    return ids


async def build(c: httpx.AsyncClient, org: dict, head: dict, forms: list[str], records: int) -> None:
    t0 = time.monotonic()
    while True:  # the roster arrives through Kafka: until then, class_not_found
        r = await c.post(
            f"/classes/{CLASS}/recorders",
            headers=org,
            json={"person_id": HEAD[0], "name": HEAD[1], "role": "head_teacher", "since": "2026-01-01"},
        )
        if r.status_code == 201:
            break
        if r.status_code != 404 or time.monotonic() - t0 > 120:
            raise SystemExit(f"指定班主任失败：{r.status_code} {r.text}")
        await asyncio.sleep(0.5)
    for cadre in forms:
        for n in range(1, records + 1):
            r = await c.post(
                f"/classes/{CLASS}/trainees/{cadre}/records",
                headers=head,
                json={"category": "study", "observed_on": str(local_today()), "text": TEXT.format(n=n)},
            )
            assert r.status_code in (201, 202), r.text
    for cadre in forms:  # every record projected before the forms are timed
        while True:
            r = await c.get(f"/classes/{CLASS}/trainees/{cadre}/records", headers=org)
            if r.status_code == 200 and len(r.json()["records"]) >= records:
                break
            await asyncio.sleep(0.3)
    print(f"  构建：{len(forms)} 名学员各 {records} 条纪实记录（{time.monotonic() - t0:.0f} s）")


async def timed(c: httpx.AsyncClient, org: dict, forms: list[str], queries: int, records: int) -> list[float]:
    from pypdf import PdfReader

    ms = []
    for q in range(queries):
        cadre = forms[q % len(forms)]
        t0 = time.perf_counter()
        r = await c.get(f"/classes/{CLASS}/trainees/{cadre}/form.pdf", headers=org)
        ms.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        if q < len(forms):  # what a user checks: their trainee, their latest record
            text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages).split())
            name = NAMES[int(cadre[1:]) % 10] + str(int(cadre[1:]))
            assert name in text and TEXT.format(n=records) in text, f"{cadre} 的记录表内容不全"
    return ms


def line(what: str, ms: list[float]) -> str:
    p99 = pct(ms, 0.99)
    return (
        f"{what}：p50 {statistics.median(ms):.0f} ms  p99 {p99:.0f} ms（目标 < {GOAL_MS} ms）"
        f"{verdict(p99 < GOAL_MS)}"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trainees", type=int, default=50)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--forms", type=int, default=5, help="how many trainees' forms are drawn in turn")
    ap.add_argument("--records", type=int, default=40, help="records per timed trainee")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--together", type=int, default=4, help="clients at once in the second round")
    ap.add_argument("--before", default="61803aa", help="the commit to compare with (its API only)")
    args = ap.parse_args()
    with Servers() as srv:
        os.environ.update(srv.bus)  # this process publishes selection's and teaching's facts
        state = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
        private, _ = ensure_dev_keys(state / "keys")

        def who(role: str, user: str, name: str) -> dict:
            token = issue_token(private, user_id=user, name=name, role=role, jurisdiction=COUNTY)
            return {"Authorization": f"Bearer {token}"}

        org, head = who("org_department", "bench-org", "组织部刘科长"), who("recorder", *HEAD)
        env = {
            **os.environ,
            **srv.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_STATE_DIR": str(state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": srv.kafka,
            "GANXUN_MONGODB_URI": srv.uri,
            "GANXUN_JURISDICTIONS": COUNTY,
            "GANXUN_DATABASE": f"bench_pdf_records_{os.getpid()}",
        }
        service = Service("records", env, REPO_ROOT)
        old = None
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=120) as c:
                await wait_ready(c, service.proc, "records 服务未能启动")
                ids = await facts(srv.kafka, args.trainees, args.sessions)
                forms = ids[: args.forms]
                await build(c, org, head, forms, args.records)
                after = await measure(c, org, forms, args)
            before = checkout(args.before, state / "before")
            service.stop()  # one records process at a time: the same conditions for both
            old = Service("records", env, before, components="api")
            async with httpx.AsyncClient(base_url=old.url, timeout=120) as c:
                await wait_ready(c, old.proc, f"{args.before} 的 records 服务未能启动")
                was = await measure(c, org, forms, args)
            print(
                f"纪实考察记录表 PDF（{args.trainees} 名学员的班次，每份 {args.records} 条记录、"
                f"{args.sessions} 次出勤）"
            )
            for label, figures in ((f"改前 {args.before}", was), ("改后", after)):
                for what, ms in figures:
                    print(f"  {label} " + line(what, ms))
        finally:
            for p in (service, old):
                if p is not None and p.proc.poll() is None:
                    p.stop()


def checkout(commit: str, folder: Path) -> Path:
    folder.mkdir()
    tar = subprocess.run(["git", "archive", commit], cwd=REPO_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=tar.stdout, check=True)
    return folder


async def measure(c: httpx.AsyncClient, org: dict, forms: list[str], args) -> list[tuple[str, list[float]]]:
    await timed(c, org, forms, len(forms), args.records)  # the first of each: cold
    alone = await timed(c, org, forms, args.queries, args.records)
    load = os.getloadavg()[0]
    rounds = await asyncio.gather(
        *(timed(c, org, forms, args.queries, args.records) for _ in range(args.together))
    )
    return [
        (f"连续 {args.queries} 次（负载 {load:.1f}）", alone),
        (
            f"{args.together} 个客户端同时各 {args.queries} 次（负载 {os.getloadavg()[0]:.1f}）",
            [x for r in rounds for x in r],
        ),
    ]


if __name__ == "__main__":
    asyncio.run(main())
