"""Selection refolded alone on a held county: its peak memory and CPU while it folds again.

Usage (a county held by `bench.history … --hold FILE`; PID is its selection process):
    .venv/bin/python -m bench.refold PID [--tree DIR] [--env NAME=VALUE ...]

Stops the selection process PID, drops its read models and projection positions, and starts
it again with the same arguments and environment (from the tree DIR, default this one, and
with the --env settings added, e.g. GANXUN_PROJECTION_CACHE_BYTES=4194304). Then prints its RSS
and CPU every 5 s until its projector has been still long enough to shrink its caches
(`projector.caches_shrunk` in its log), and 60 s more; last the fold's seconds, the peak and the
RSS once still, beside the 200 MB goal. The new process keeps running on the held county: its
pid is printed (pass it to the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from pymongo import AsyncMongoClient

from bench.province import cpu_seconds
from bench.scale import RSS_GOAL_MB, rss_mb, verdict

REPO_ROOT = Path(__file__).resolve().parent.parent
# What selection folds (its read models) and where it records how far it folded.
DROPPED = ("cadres", "histories", "classes", "projection_positions")
# After the caches shrank, this many seconds more are sampled (RSS once still).
AFTER_STILL = 60


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(240):
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.5)
    raise SystemExit(f"进程 {pid} 两分钟内未退出")


async def _drop(env: dict[str, str]) -> None:
    client = AsyncMongoClient(env["GANXUN_MONGODB_URI"])
    db = client[env["GANXUN_DATABASE"]]
    for name in DROPPED:
        await db.drop_collection(name)
    await client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pid", type=int, help="the held county's selection process")
    ap.add_argument("--tree", default=str(REPO_ROOT), help="the tree to run selection from")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE added to its environment")
    args = ap.parse_args()
    cmd = Path(f"/proc/{args.pid}/cmdline").read_text().split("\0")
    if "services.selection" not in cmd:
        raise SystemExit(f"进程 {args.pid} 不是 selection 服务")
    argv = [a for a in cmd[cmd.index("services.selection") + 1 :] if a]
    environ = Path(f"/proc/{args.pid}/environ").read_text().split("\0")
    env = dict(kv.split("=", 1) for kv in environ if "=" in kv)
    env.update(PYTHONPATH=args.tree, **dict(kv.split("=", 1) for kv in args.env))
    _stop(args.pid)
    asyncio.run(_drop(env))
    log_path = Path(tempfile.mkstemp(prefix="bench-refold-", suffix=".log")[1])
    t0 = time.monotonic()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [f"{args.tree}/.venv/bin/python", "-m", "services.selection", *argv],
            cwd=args.tree,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    print(f"selection 重新折叠：新进程 {proc.pid}，日志 {log_path}，附加设置 {args.env}", flush=True)
    peak = still = 0.0
    shrunk = None
    while shrunk is None or time.monotonic() - t0 - shrunk < AFTER_STILL:
        time.sleep(5)
        if proc.poll() is not None:
            raise SystemExit(f"selection 已退出（{proc.returncode}），见 {log_path}")
        rss, cpu = rss_mb(proc.pid), cpu_seconds(proc.pid)
        peak, still = max(peak, rss), rss
        took = time.monotonic() - t0
        print(
            f"{took:6.0f} s  RSS {rss:4.0f} MB  峰值 {peak:4.0f} MB  CPU {cpu:6.1f} s"
            f"  负载 {os.getloadavg()[0]:.1f}"
        )
        if shrunk is None and "caches_shrunk" in log_path.read_text(errors="ignore"):
            shrunk = took
    print(
        f"折叠完成（缓存收缩）于 {shrunk:.0f} s，CPU {cpu:.0f} s；"
        f"RSS 峰值 {peak:.0f} MB，静止后 {still:.0f} MB"
        f"（目标 < {RSS_GOAL_MB} MB）{verdict(peak < RSS_GOAL_MB)}；新进程 {proc.pid} 继续运行"
    )


if __name__ == "__main__":
    main()
