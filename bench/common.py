"""What the benchmarks share: waiting for a service process they started to be ready, and
timing a read asked many times in a row."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass

import httpx


async def wait_ready(c: httpx.AsyncClient, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    """Until the service behind `c` answers /readyz with 200; exits saying `what` failed if
    its process ends or `timeout` passes first."""
    t0 = time.monotonic()
    while True:
        try:
            if (await c.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            raise SystemExit(what)
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Timing:
    """One read asked `queries` times in a row: p50/p99 in ms and the last answer."""

    status: int
    p50: float = float("nan")
    p99: float = float("nan")
    size: int = 0
    body: httpx.Response | None = None


async def timed(
    c: httpx.AsyncClient, url: str, params: dict, queries: int, headers: dict | None = None
) -> Timing:
    """A read asked once to warm up (its status returned if not 200), then `queries` times
    in a row; p50/p99 of those (the benchmarks' one timing loop)."""
    r = await c.get(url, params=params, headers=headers)
    if r.status_code != 200:
        return Timing(r.status_code, body=r)
    ms = []
    for _ in range(queries):
        t0 = time.perf_counter()
        r = await c.get(url, params=params, headers=headers)
        ms.append((time.perf_counter() - t0) * 1000)
    return Timing(200, pct(ms, 0.5), pct(ms, 0.99), len(r.content), r)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
