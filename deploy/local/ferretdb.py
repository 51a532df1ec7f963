"""FerretDB 1.x (MongoDB wire protocol) on 127.0.0.1, without Docker.

`go install github.com/FerretDB/FerretDB/cmd/ferretdb` builds a binary that panics
at start (it wants a generated build/version/version.txt), so we build our own
tiny program in deploy/local/ferretdb/ that embeds the `ferretdb` package, and
cache the binary per FerretDB version.

Everything a server needs lives in its folder:

    folder/ferretdb.json        port, backend (and PostgreSQL port) — lets a later
                                process stop()/status()/start() knowing only the folder
    folder/ferretdb.{pid,log}   the FerretDB process
    folder/sqlite/              data, SQLite backend (one .sqlite file per database)
    folder/postgres/data/       data, PostgreSQL backend (its own private cluster)
    folder/postgres.{pid,log}   that cluster's postmaster
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from deploy.local.process import (
    DetachedProcess,
    LocalServer,
    MissingToolError,
    ServerError,
    cache_dir,
    free_port,
    port_open,
    provision_once,
    require_tool,
)

FERRETDB_VERSION = "v1.24.2"  # must match deploy/local/ferretdb/go.mod

SOURCE_DIR = Path(__file__).resolve().parent / "ferretdb"
_SOURCE_FILES = ("main.go", "go.mod", "go.sum")
BINARY_NAME = "ferretdb"

BACKENDS = ("sqlite", "postgresql")
# PostgreSQL: with SQLite, concurrent appends fail with SQLITE_BUSY ("database is
# locked") and conditional replaces are 3-4x slower; see docs/store.md.
DEFAULT_BACKEND = "postgresql"
CONFIG_NAME = "ferretdb.json"

HOST = "127.0.0.1"
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_PG_USER = "ferretdb"  # superuser name inside our private cluster (trust auth, loopback only)


# ---------------------------------------------------------------------------
# provisioning: go build of our embedding program, cached per version
# ---------------------------------------------------------------------------


def _source_hash() -> str:
    h = hashlib.sha256(FERRETDB_VERSION.encode())
    for name in _SOURCE_FILES:
        h.update(b"\0" + name.encode() + b"\0")
        h.update((SOURCE_DIR / name).read_bytes())
    return h.hexdigest()


def provision(cache: Path | None = None) -> Path:
    """Build (once) the FerretDB binary into the cache and return its path.

    Rebuilds only when the Go sources (main.go, go.mod, go.sum) changed.
    """
    go = require_tool(
        "go", "构建 FerretDB (building FerretDB)", "Debian: apt-get install golang（或 https://go.dev/dl/）"
    )
    gomod = (SOURCE_DIR / "go.mod").read_text()
    if f"github.com/FerretDB/FerretDB {FERRETDB_VERSION}" not in gomod:
        raise ServerError(
            f"{SOURCE_DIR / 'go.mod'} 未固定 FerretDB {FERRETDB_VERSION} "
            f"(go.mod does not pin FerretDB {FERRETDB_VERSION}; keep FERRETDB_VERSION and go.mod in step)"
        )

    target_dir = Path(cache or cache_dir()) / f"ferretdb-{FERRETDB_VERSION}"
    target_dir.mkdir(parents=True, exist_ok=True)
    binary = target_dir / BINARY_NAME
    marker = target_dir / "source.sha256"
    wanted = _source_hash()

    def fresh() -> bool:
        return binary.is_file() and marker.is_file() and marker.read_text().strip() == wanted

    def build() -> None:
        print(
            f"正在构建 FerretDB {FERRETDB_VERSION}，首次约需一两分钟… "
            f"(building FerretDB {FERRETDB_VERSION}, the first build takes a minute or two)",
            file=sys.stderr,
            flush=True,
        )
        tmp = target_dir / f".{BINARY_NAME}.{os.getpid()}.tmp"
        started = time.monotonic()
        result = subprocess.run(
            [go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", str(tmp), "."],
            cwd=SOURCE_DIR,
            env={**os.environ, "CGO_ENABLED": "0"},  # pure Go (modernc sqlite, pgx): static binary
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            out = (result.stdout + result.stderr).strip()[-4000:]
            raise ServerError(f"FerretDB 构建失败 (go build of FerretDB failed):\n{out}")
        os.replace(tmp, binary)
        marker.write_text(wanted + "\n")
        print(
            f"FerretDB 构建完成，用时 {time.monotonic() - started:.0f} 秒 "
            f"(built in {time.monotonic() - started:.0f}s): {binary}",
            file=sys.stderr,
            flush=True,
        )

    provision_once(target_dir, fresh, build)
    return binary


# ---------------------------------------------------------------------------
# PostgreSQL backend: a private cluster inside the server folder
# ---------------------------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_pg_bin() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    candidates = []
    on_path = require_tool_or_none("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += [Path(p) for p in sorted(glob.glob(_PG_BIN_GLOB), key=_version_key, reverse=True)]
    for d in candidates:
        if all((d / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    raise MissingToolError(
        "postgres",
        "FerretDB 的 PostgreSQL 后端 (FerretDB's PostgreSQL backend)",
        "Debian: apt-get install postgresql",
    )


def require_tool_or_none(tool: str) -> str | None:
    try:
        return require_tool(tool, "", "")
    except MissingToolError:
        return None


def _as_pg_user() -> list[str]:
    """argv prefix so initdb/postgres/pg_ctl do not run as root (they refuse to).

    As root we drop to the `postgres` (or `nobody`) user, keeping only the ability to
    traverse directories, so the cluster can live under a root-only folder such as
    pytest's tmp_path.
    """
    if os.geteuid() != 0:
        return []
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        setpriv = require_tool(
            "setpriv",
            "以非 root 身份运行 PostgreSQL (running PostgreSQL as non-root)",
            "apt-get install util-linux",
        )
        return [
            setpriv,
            f"--reuid={name}",
            f"--regid={pwd.getpwnam(name).pw_gid}",
            "--init-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
        ]
    raise ServerError(
        "以 root 运行时需要 postgres 或 nobody 用户 (running as root needs a `postgres` or `nobody` user)"
    )


def _chown_to_pg_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        for root, _dirs, files in os.walk(path):
            os.chown(root, pw.pw_uid, pw.pw_gid)
            for f in files:
                os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)
        return


POOL_MAX_CONNS = 200
GIN_TWINS_SQL = Path(__file__).resolve().parent / "postgres" / "gin_for_ferretdb.sql"


class _PostgresCluster:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.data = folder / "postgres" / "data"
        self.proc = DetachedProcess("postgres", folder)

    @property
    def url(self) -> str:
        # FerretDB's pool defaults to 50 connections for all of its clients, and a
        # command may hold one while it waits for another: with the four services and
        # the dashboard writing at once, 50 was exhausted and the server wedged for good
        # (docs/store.md). A larger pool, and a server that allows it, keep the
        # margin wide; one-operation write commands (shared/store.py) keep each small.
        return f"postgres://{_PG_USER}@{HOST}:{self.port}/postgres?pool_max_conns={POOL_MAX_CONNS}"

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(
            _as_pg_user() + argv, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            out = (result.stdout + result.stderr).strip()[-3000:]
            raise ServerError(f"PostgreSQL {what} 失败 ({what} failed):\n{out}")

    def ensure_initialised(self, pg_bin: Path) -> None:
        if (self.data / "PG_VERSION").is_file():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        _chown_to_pg_user(self.data.parent)
        self._run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                _PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            "initdb",
        )

    def ready(self, pg_bin: Path) -> bool:
        if not port_open(HOST, self.port):
            return False
        isready = pg_bin / "pg_isready"
        if not isready.is_file():
            return True
        return (
            subprocess.run(
                [str(isready), "-q", "-h", HOST, "-p", str(self.port), "-U", _PG_USER, "-d", "postgres"],
                capture_output=True,
            ).returncode
            == 0
        )

    def start(self, timeout: float) -> None:
        pg_bin = find_pg_bin()
        if self.proc.running():
            self.proc.wait_ready(lambda: self.ready(pg_bin), timeout, "PostgreSQL")
            self.install_gin_twins(pg_bin)
            return
        self.ensure_initialised(pg_bin)
        self.proc.spawn(
            _as_pg_user()
            + [
                str(pg_bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={HOST}",
                "-c",
                "unix_socket_directories=",
                "-c",
                f"max_connections={POOL_MAX_CONNS + 20}",
                # FerretDB prepares `_jsonb->$1 @> $2` with the field name as a parameter: a
                # generic plan cannot match an index on (_jsonb -> 'field'), a custom one can.
                "-c",
                "plan_cache_mode=force_custom_plan",
            ]
        )
        try:
            self.proc.wait_ready(lambda: self.ready(pg_bin), timeout, "PostgreSQL")
            self.install_gin_twins(pg_bin)
        except ServerError:
            self.proc.stop(timeout=5)
            raise

    def install_gin_twins(self, pg_bin: Path) -> None:
        """FerretDB's finds filter with @>, which its btree indexes cannot serve: add a GIN
        twin to each of them (see postgres/gin_for_ferretdb.sql; docs/store.md)."""
        self.psql(GIN_TWINS_SQL.read_text(), pg_bin, what="GIN twins")

    def psql(self, sql: str, pg_bin: Path | None = None, what: str = "psql") -> str:
        """Runs SQL on the cluster (as its superuser) and returns the unaligned output."""
        pg_bin = pg_bin or find_pg_bin()
        psql = (
            pg_bin / "psql"
            if (pg_bin / "psql").is_file()
            else require_tool(
                "psql",
                "为 FerretDB 的索引补充 GIN 索引 (GIN twins for FerretDB's indexes)",
                "Debian: apt-get install postgresql-client",
            )
        )
        result = subprocess.run(
            [
                str(psql),
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                _PG_USER,
                "-d",
                "postgres",
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ServerError(
                f"PostgreSQL {what} 失败 ({what} failed):\n{(result.stdout + result.stderr)[-2000:]}"
            )
        return result.stdout

    def stop(self) -> None:
        if not self.proc.running():
            self.proc.stop()  # clears a stale pid file
            return
        try:
            pg_ctl = find_pg_bin() / "pg_ctl"
            subprocess.run(
                _as_pg_user() + [str(pg_ctl), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30"],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=40,
            )
        except (MissingToolError, subprocess.TimeoutExpired):
            pass
        self.proc.stop()  # reaps it and removes the pid file; SIGTERM/SIGKILL if pg_ctl did not


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------


def _ping(uri: str) -> bool:
    from pymongo import MongoClient

    client = MongoClient(uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, directConnection=True)
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


class FerretDBServer(LocalServer):
    """One FerretDB on 127.0.0.1 whose data, logs, pid and config live in `folder`.

    `backend` and `port` default to what the folder's config recorded (so
    `FerretDBServer(folder)` in a later process reaches the same server), else to
    SQLite and a free port.
    """

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        backend: str | None = None,
        log_level: str = "info",
    ) -> None:
        self.folder = Path(folder).resolve()
        self.log_level = log_level
        saved = self._load_config()
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"未知后端 (unknown backend) {backend!r}; 可选 (choose from) {BACKENDS}")
        if saved and backend is not None and backend != saved["backend"]:
            raise ServerError(
                f"{self.folder} 已用 {saved['backend']} 后端存放数据，不能改为 {backend} "
                f"(folder already holds {saved['backend']} data; cannot switch to {backend})"
            )
        self.backend: str = backend or (saved or {}).get("backend") or DEFAULT_BACKEND
        self.port: int = port or (saved or {}).get("port") or free_port()
        self.pg_port: int | None = (saved or {}).get("pg_port")
        self.proc = DetachedProcess("ferretdb", self.folder)
        if saved and port and port != saved.get("port") and self.proc.running():
            raise ServerError(
                f"FerretDB 已在端口 {saved['port']} 运行，不能改用 {port} "
                f"(already running on port {saved['port']}; stop it before changing the port)"
            )

    CONFIG_NAME = CONFIG_NAME

    def _save_config(self) -> None:
        cfg = {"version": FERRETDB_VERSION, "backend": self.backend, "port": self.port}
        if self.pg_port is not None:
            cfg["pg_port"] = self.pg_port
        self._write_config(cfg)

    # -- public API ---------------------------------------------------------

    @property
    def uri(self) -> str:
        return f"mongodb://{HOST}:{self.port}/"

    @property
    def data_dir(self) -> Path:
        return self.folder / ("sqlite" if self.backend == "sqlite" else "postgres")

    def _postgres(self) -> _PostgresCluster:
        if self.pg_port is None:
            self.pg_port = free_port()
        return _PostgresCluster(self.folder, self.pg_port)

    def start(self, timeout: float = 60.0) -> None:
        if self.proc.running():
            self.proc.wait_ready(lambda: _ping(self.uri), timeout, "FerretDB")
            return
        self.proc.stop()  # stale pid file from a crash
        binary = provision()
        deadline = time.monotonic() + timeout
        if port_open(HOST, self.port):
            raise ServerError(
                f"端口 {self.port} 已被其他进程占用 (port {self.port} is already in use by another process)"
            )

        argv = [
            str(binary),
            f"-listen-addr={HOST}:{self.port}",
            f"-backend={self.backend}",
            f"-log-level={self.log_level}",
        ]
        if self.backend == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            argv.append(f"-sqlite-dir={self.data_dir}")
        else:
            pg = self._postgres()
            self._save_config()
            pg.start(timeout=max(5.0, deadline - time.monotonic()))
            argv.append(f"-postgresql-url={pg.url}")
        self._save_config()

        self.proc.spawn(argv, cwd=self.folder)
        try:
            self.proc.wait_ready(
                lambda: port_open(HOST, self.port) and _ping(self.uri),
                max(5.0, deadline - time.monotonic()),
                "FerretDB",
            )
        except ServerError:
            self.stop()
            raise

    def stop(self) -> None:
        self.proc.stop()
        if self.backend == "postgresql" and self.pg_port is not None:
            _PostgresCluster(self.folder, self.pg_port).stop()

    def status(self) -> dict:
        return {
            "running": self.proc.running(),
            "uri": self.uri,
            "pid": self.proc.pid(),
            "backend": self.backend,
            "folder": str(self.folder),
        }
