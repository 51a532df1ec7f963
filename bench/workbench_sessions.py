"""The workbench's session store on a real FerretDB: `python -m bench.workbench_sessions`.

Starts a private FerretDB (deploy/local/ferretdb.py) in a temporary folder, makes 200
sessions with tokens of Keycloak's size (~3 KB), then times, one after another, reading
each session, reading it when its `last_seen` is due to be written, and making a new one
(services/workbench/reads.py). Prints p50 and p99 in milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pymongo import AsyncMongoClient

from deploy.local.ferretdb import FerretDBServer
from services.workbench import oidc
from services.workbench.reads import TOUCH_EVERY, SessionStore

SESSIONS = 200


def _figures(ms: list[float]) -> str:
    ms = sorted(ms)
    return f"p50 {statistics.median(ms):.1f} ms, p99 {ms[max(0, int(len(ms) * 0.99) - 1)]:.1f} ms"


async def measure(uri: str) -> None:
    client = AsyncMongoClient(uri, tz_aware=True)
    try:
        store = SessionStore(client["bench_workbench"], idle_seconds=7200)
        user = oidc.user_of({"sub": "u", "name": "测试", "role": "unit", "jurisdiction": "371428"})
        tokens = oidc.Tokens("a" * 1200, "r" * 800, "i" * 1000, time.time() + 300, None)
        sids = [(await store.create(user, tokens)).sid for _ in range(SESSIONS)]
        cases = (
            ("读取会话 read a session", lambda sid: store.get(sid)),
            (
                "读取并更新 last_seen read and touch",
                lambda sid: store.get(sid, now=time.time() + TOUCH_EVERY),
            ),
            ("新建会话 a new session", lambda sid: store.create(user, tokens)),
        )
        for label, call in cases:
            ms = []
            for sid in sids:
                started = time.perf_counter()
                await call(sid)
                ms.append((time.perf_counter() - started) * 1000)
            print(f"{label}: {_figures(ms)}", flush=True)
    finally:
        await client.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as folder:
        server = FerretDBServer(Path(folder) / "store")
        server.start()
        try:
            asyncio.run(measure(server.uri))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
