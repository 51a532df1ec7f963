"""The supervisor of `ganxun up` (deploy/local/supervisor.py) and pid files that never
make a dead process look alive (deploy/local/process.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from deploy.local.process import DetachedProcess, _pid_alive, process_started
from deploy.local.supervisor import Supervisor, Watched


class Fake:
    def __init__(self, fail_starts: int = 0) -> None:
        self.up, self.starts, self.fail_starts = True, 0, fail_starts

    def start(self) -> None:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("端口被占用")
        self.up = True


def test_a_dead_process_is_restarted_after_a_growing_back_off_with_a_log_line():
    now = [0.0]
    lines: list[str] = []
    svc = Fake()
    sup = Supervisor(
        [Watched("服务 records", lambda: svc.up, svc.start)], log=lines.append, clock=lambda: now[0]
    )
    sup.tick()
    assert svc.starts == 0 and lines == []
    delays = []
    for _ in range(4):  # it keeps dying right after each restart
        svc.up = False
        sup.tick()
        assert "服务 records 已停止运行" in lines[-1]
        started = svc.starts
        while svc.starts == started:
            now[0] += 0.25
            sup.tick()
        delays.append(float(lines[-2].split("，")[1].split(" ")[0]))
        assert lines[-1].endswith("服务 records 已重启")
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert sup.restarts["服务 records"] == 4
    now[0] += 61  # up for a minute: the back-off starts again from 0.5 s
    sup.tick()
    svc.up = False
    sup.tick()
    assert "0.5 秒后重启（第 1 次）" in lines[-1]


def test_a_failed_start_is_logged_and_tried_again_later():
    now = [0.0]
    lines: list[str] = []
    svc = Fake(fail_starts=1)
    svc.up = False
    sup = Supervisor(
        [Watched("Kafka", lambda: svc.up, svc.start)], log=lines.append, clock=lambda: now[0], max_delay=3
    )
    for _ in range(40):
        now[0] += 0.25
        sup.tick()
    assert svc.up and svc.starts == 2
    assert any("Kafka 重启失败：端口被占用" in line for line in lines) and lines[-1].endswith("Kafka 已重启")


def test_a_zombie_or_a_reused_pid_never_looks_alive(tmp_path):
    proc = DetachedProcess("svc", tmp_path)
    proc.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    pid = proc.pid()
    assert pid is not None and proc.running()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc.running() and time.monotonic() < deadline:  # a zombie until reaped: dead all the same
        time.sleep(0.05)
    assert not proc.running() and proc.pid() is None

    # A zombie of another process (its parent never waits): dead to every reader.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time\n"
                "c = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
                "print(c.pid, flush=True)\n"
                "time.sleep(30)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while _pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open(f"/proc/{child}/stat").read().split(") ")[1][0] == "Z"
        assert not _pid_alive(child)
    finally:
        parent.kill()
        parent.wait()

    # A pid file whose number now belongs to another process (after a reboot, say).
    mine = os.getpid()
    (tmp_path / "old.pid").write_text(f"{mine} 1")
    assert DetachedProcess("old", tmp_path).pid() is None
    (tmp_path / "old.pid").write_text(f"{mine} {process_started(mine)}")
    assert DetachedProcess("old", tmp_path).pid() == mine
