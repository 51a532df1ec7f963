"""What the benchmarks share: waiting for a service process they started to be ready."""

from __future__ import annotations

import asyncio
import subprocess
import time

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
