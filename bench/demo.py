"""How long does the demo take to load, step by step, and who spends the CPU?

Loads the full demo (deploy/demo/loader.py, the code `ganxun up` runs) into services that
are already running with an empty store, and prints each step's seconds, when the pages
`ganxun up` prints are full, the number of API calls, and the CPU-seconds each server
and service process used meanwhile (read from /proc, so Linux only).

    GANXUN_STATE_DIR=/tmp/demo deploy/ganxun up --detach --no-demo
    GANXUN_STATE_DIR=/tmp/demo .venv/bin/python -m bench.demo [--scale 1] [--concurrency 8]
    GANXUN_STATE_DIR=/tmp/demo deploy/ganxun down

Use a fresh state folder: the loader refuses nothing twice, but a second load into the
same store is not a fresh measurement. Ports are `ganxun up`'s defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections import Counter
from pathlib import Path

from deploy.demo.loader import Codes, load
from deploy.local.process import state_dir
from shared.auth import ensure_dev_keys

PORTS = {"selection": 8101, "teaching": 8102, "records": 8103, "followup": 8104}
WHO = re.compile(r"ferretdb|postgres|java|services\.[a-z]+")


def cpu_seconds() -> Counter:
    """CPU-seconds so far of the store, Kafka and each service, by name."""
    out: Counter = Counter()
    ticks = 100.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        m = WHO.search(cmdline)
        if m and "bench.demo" not in cmdline:
            out[m.group(0)] += (int(fields[11]) + int(fields[12])) / ticks
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    key = ensure_dev_keys(state_dir() / "keys")[0]
    urls = {n: f"http://127.0.0.1:{p}" for n, p in PORTS.items()}
    before, t0 = cpu_seconds(), time.monotonic()

    def step(name: str) -> None:
        print(f"{time.monotonic() - t0:7.1f} s  {name}", flush=True)

    s = asyncio.run(load(urls, key, Codes(), scale=args.scale, progress=step, concurrency=args.concurrency))
    used = cpu_seconds() - before
    print(
        f"\nloaded in {s.seconds:.1f} s; the printed pages full at {s.panels_full:.1f} s; "
        f"{s.requests} calls; "
        f"{s.classes} classes, {s.trainees} trainees, {s.sessions} sessions, {s.graduates} graduates, "
        f"{s.records} records, {s.evaluations} evaluations; tolerated refusals: {len(s.refused)}"
    )
    print("CPU-seconds meanwhile: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(used.items())))
    total = sum(used.values())
    print(f"total {total:.1f} CPU-s over {s.seconds:.1f} s = {total / s.seconds:.2f} cores")


if __name__ == "__main__":
    main()
