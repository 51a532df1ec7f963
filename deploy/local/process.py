"""Process plumbing shared by the local Kafka and store servers.

Servers run detached (so `ganxun servers up` can return) with a pid file and a log
file in their data folder; `stop` works from another process that only knows the
folder. Readiness is always a real protocol check supplied by the caller, never a
sleep.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A local server could not be provisioned, started or stopped."""


class MissingToolError(ServerError):
    """A tool the provisioning needs (java, mvn, go, initdb…) is not on PATH."""

    def __init__(self, tool: str, needed_for: str, install_hint: str) -> None:
        super().__init__(
            f"缺少工具 `{tool}`：{needed_for}需要它。安装方法：{install_hint}"
            f" (missing tool `{tool}`, needed for {needed_for}; install: {install_hint})"
        )
        self.tool = tool


def require_tool(tool: str, needed_for: str, install_hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise MissingToolError(tool, needed_for, install_hint)
    return path


def cache_dir() -> Path:
    """Where provisioned artefacts (jars, binaries) are cached across runs."""
    # Outside the clone on purpose: a clean clone on the same machine reuses the
    # jars and binaries, a fresh machine provisions them once.
    root = os.environ.get("GANXUN_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "ganxun"


def state_dir() -> Path:
    """Where `ganxun up` keeps server data, logs and pid files."""
    root = os.environ.get("GANXUN_STATE_DIR")
    return Path(root) if root else REPO_ROOT / ".state"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bindable(host: str, port: int) -> bool:
    """Whether a listener could bind this port now."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], fields[19]


def process_started(pid: int) -> str | None:
    """When a process started (clock ticks since boot), to tell it from a later one with its pid."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether `pid` is a live process (and, given `started`, the same one that wrote a
    pid file, not a later process that got its number). A zombie is dead: it is reaped
    if it is ours; if not (its parent never waits for it), it is dead all the same."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done != 0:
            return False  # our child had exited: now reaped
    except ChildProcessError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self").exists()  # no /proc: kill(0) is all there is
    state, start = stat
    if state in ("Z", "X"):
        return False
    return started is None or start == started


def reap_children() -> list[tuple[int, int]]:
    """Collect every child that has exited (no zombies left behind): [(pid, status)]."""
    out = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return out
        if pid == 0:
            return out
        out.append((pid, status))


@dataclass
class DetachedProcess:
    """One server process known by its pid file."""

    name: str
    folder: Path

    @property
    def pid_file(self) -> Path:
        return self.folder / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.folder / f"{self.name}.log"

    def pid(self) -> int | None:
        """The live process of the pid file. The file holds the pid and the process's
        start time, so neither a zombie nor a later process with the same pid counts."""
        try:
            parts = self.pid_file.read_text().split()
            pid = int(parts[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid, parts[1] if len(parts) > 1 else None) else None

    def running(self) -> bool:
        return self.pid() is not None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        if self.running():
            raise ServerError(f"{self.name} 已在运行 (pid {self.pid()})，先停止它。")
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # survives the CLI that started it; no terminal signals
        )
        log.close()
        self.pid_file.write_text(f"{proc.pid} {process_started(proc.pid) or ''}".strip())
        return proc.pid

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServerError(f"{what} 启动失败，进程已退出。日志：{self.log_file}\n{self.tail()}")
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                pass
            time.sleep(0.2)
        raise ServerError(f"{what} 在 {timeout:.0f} 秒内未就绪。日志：{self.log_file}\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`. Returns whether something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while _pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def provision_once(folder: Path, fresh: Callable[[], bool], build: Callable[[], None]) -> None:
    """Run `build` unless `fresh()` says the cached artefact in `folder` is there. Two
    processes provisioning at once (two test sessions, the CLI and a test) serialise on a
    lock file: one builds, the other waits and finds it fresh."""
    if fresh():
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not fresh():
            build()


class LocalServer:
    """What the local servers share (ferretdb.py, kafka.py, keycloak.py): a folder holding
    their data, logs and pid files, and a JSON config saved there, so that a later process
    (`ganxun down`, a test) reaches the same server; usable as a context (start, stop)."""

    CONFIG_NAME = "server.json"
    PRIVATE = False  # the config holds a password: owner-only

    folder: Path

    @property
    def config_file(self) -> Path:
        return self.folder / self.CONFIG_NAME

    def _load_config(self) -> dict | None:
        try:
            return json.loads(self.config_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise ServerError(f"配置文件损坏 (corrupt config) {self.config_file}: {e}") from e

    def _write_config(self, cfg: dict) -> None:
        """Atomically: a crash leaves the old config or the new one, never half of one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_name(self.config_file.name + ".tmp")
        if self.PRIVATE:
            tmp.touch(mode=0o600)
            tmp.chmod(0o600)
        tmp.write_text(json.dumps(cfg, indent=2) + "\n")
        os.replace(tmp, self.config_file)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
