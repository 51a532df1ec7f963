"""Keycloak (the embedded identity provider) on 127.0.0.1, without Docker.

Provisioning: Maven resolves the pinned `org.keycloak:keycloak-quarkus-dist` zip from
Maven Central into the cache, it is unpacked there, and `kc.sh build` runs once (under a
file lock) with the build-time options every local server shares: PostgreSQL as the
database and a local cache (no JGroups cluster ports). Every start is then
`kc.sh start --optimized`, which skips Quarkus' 30-40 s re-augmentation.

Keycloak needs Java 21 or newer; Kafka runs on the machine's default Java 17, so the
JDK is looked up apart (JAVA_HOME, then /usr/lib/jvm/*).

A server lives in one folder:

    folder/keycloak.json        port, database URL, admin credentials (so a later process
                                can stop()/status()/start() knowing only the folder)
    folder/keycloak.{pid,log}   the Keycloak process
    folder/tmp/, folder/tx/     its temporary files and transaction log (kept out of the
                                shared installation, so two servers never share them)
    folder/postgres/            its own PostgreSQL cluster, when no database was given

The data lives in PostgreSQL: by default a private cluster in the folder (the test
fixture: it needs no store), or, with `db=` the store's cluster (`ganxun up`), where a
database of its own (`keycloak`) is created on first start.

At first start the realm in keycloak/ganxun-realm.json is imported through the admin
API (Keycloak's --import-realm reads only from its installation folder, which is shared
by every server on the machine). Ready means: the realm's OIDC discovery document and
its JWKS answer, with at least one signing key.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from deploy.local.process import (
    DetachedProcess,
    LocalServer,
    MissingToolError,
    ServerError,
    cache_dir,
    free_port,
    port_open,
    provision_once,
)

KEYCLOAK_VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
MIN_JAVA = 21
JAVA_HINT = "Debian: apt-get install openjdk-21-jre-headless（或 Temurin 21+，设置 JAVA_HOME）"
MVN_HINT = "apt-get install maven"
REALM = "ganxun"
REALM_FILE = Path(__file__).resolve().parent / "keycloak" / "ganxun-realm.json"
HOST = "127.0.0.1"
CONFIG_NAME = "keycloak.json"
# Options baked into the optimized build; start must not contradict them.
BUILD_OPTIONS = ["--db=postgres", "--cache=local", "--features-disabled=kerberos"]
_MARKER = ".provisioned"


# --------------------------------------------------------------------------- Java 21+


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_java_home() -> Path:
    """A JDK/JRE home with Java >= 21: JAVA_HOME, then the newest under /usr/lib/jvm."""
    candidates: list[Path] = []
    if os.environ.get("GANXUN_KEYCLOAK_JAVA_HOME"):
        candidates.append(Path(os.environ["GANXUN_KEYCLOAK_JAVA_HOME"]))
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    candidates.append(Path("/usr/lib/jvm/temurin-25-jdk-amd64"))
    found = [Path(p) for p in glob.glob("/usr/lib/jvm/*") if not Path(p).is_symlink()]
    candidates += sorted(
        found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)] or [0], reverse=True
    )
    for home in candidates:
        java = home / "bin" / "java"
        if java.is_file() and _java_major(str(java)) >= MIN_JAVA:
            return home
    raise MissingToolError(f"java >= {MIN_JAVA}", "运行 Keycloak (running Keycloak)", JAVA_HINT)


# --------------------------------------------------------------------------- provisioning


# long: most of it is `build`, the one-off provisioning it runs under the cache's lock
def provision(cache: Path | None = None) -> Path:
    """Resolve, unpack and build Keycloak once into `<cache>/keycloak-<version>`; return its home."""
    root = Path(cache or cache_dir()) / f"keycloak-{KEYCLOAK_VERSION}"
    home = root / f"keycloak-{KEYCLOAK_VERSION}"
    marker = root / _MARKER
    java_home = find_java_home()
    wanted = " ".join(BUILD_OPTIONS)

    def fresh() -> bool:
        return marker.is_file() and json.loads(marker.read_text()).get("build") == wanted and home.is_dir()

    # long: the provisioning steps in order (resolve, unpack, build), under the cache's lock
    def build() -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MissingToolError(
                "mvn", "从 Maven Central 下载 Keycloak (resolving Keycloak from Maven Central)", MVN_HINT
            )
        print(
            f"正在准备 Keycloak {KEYCLOAK_VERSION}（下载约 177 MB 并构建一次，约需一两分钟）… "
            f"(provisioning Keycloak {KEYCLOAK_VERSION}: download and one-off build)",
            file=sys.stderr,
            flush=True,
        )
        started = time.monotonic()
        download = root / "download"
        shutil.rmtree(download, ignore_errors=True)
        argv = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "dependency:copy",
            f"-Dartifact={ARTIFACT}",
            f"-DoutputDirectory={download}",
            "-Dmdep.stripVersion=false",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        zips = list(download.glob("*.zip")) if download.is_dir() else []
        if proc.returncode != 0 or not zips:
            out = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise ServerError(
                f"无法通过 Maven 下载 Keycloak {KEYCLOAK_VERSION}（退出码 {proc.returncode}）"
                f" (mvn could not resolve {ARTIFACT}):\n{' '.join(argv)}\n{out}"
            )
        partial = root / "unpacked.partial"
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(zips[0]) as z:
            z.extractall(partial)
        unpacked = partial / f"keycloak-{KEYCLOAK_VERSION}"
        for script in (unpacked / "bin").glob("*.sh"):
            script.chmod(0o755)
        shutil.rmtree(home, ignore_errors=True)
        unpacked.rename(home)
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(download, ignore_errors=True)
        build = subprocess.run(
            [str(home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "JAVA_HOME": str(java_home)},
        )
        if build.returncode != 0:
            raise ServerError(
                f"kc.sh build 失败 (kc.sh build failed):\n{(build.stdout + build.stderr)[-3000:]}"
            )
        marker.write_text(
            json.dumps(
                {
                    "version": KEYCLOAK_VERSION,
                    "build": wanted,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            + "\n"
        )
        print(
            f"Keycloak 已就绪，用时 {time.monotonic() - started:.0f} 秒 (provisioned)",
            file=sys.stderr,
            flush=True,
        )

    provision_once(root, fresh, build)
    return home


# --------------------------------------------------------------------------- the server


def _jdbc(db: str) -> tuple[str, str, str, str]:
    """postgres://user[:password]@host:port/dbname -> (jdbc url, user, password, dbname)."""
    u = urlsplit(db)
    if u.scheme not in ("postgres", "postgresql") or not u.hostname or not u.port:
        raise ServerError(
            f"数据库地址须形如 postgres://用户@主机:端口/库名 (db must be postgres://user@host:port/db): {db}"
        )
    name = (u.path or "/keycloak").lstrip("/") or "keycloak"
    return f"jdbc:postgresql://{u.hostname}:{u.port}/{name}", u.username or "postgres", u.password or "", name


class KeycloakServer(LocalServer):
    """One Keycloak on 127.0.0.1 with the `ganxun` realm; data, log and pid in `folder`.

    `db` is a postgres:// URL of the database to use (created if missing, on a cluster
    whose user may create databases); without it the server runs its own cluster in
    the folder. Port, database and admin credentials default to what the folder's
    config recorded.
    """

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        db: str | None = None,
        admin_user: str = "ganxun-admin",
        admin_password: str | None = None,
    ) -> None:
        self.folder = Path(folder).resolve()
        saved = self._load_config() or {}
        self.port: int = port or saved.get("port") or free_port()
        self.db: str | None = db or saved.get("db")
        self.own_pg_port: int | None = saved.get("own_pg_port")
        self.admin_user: str = saved.get("admin_user") or admin_user
        self.admin_password: str = saved.get("admin_password") or admin_password or secrets.token_urlsafe(18)
        self.proc = DetachedProcess("keycloak", self.folder)

    # -- config ---------------------------------------------------------------

    CONFIG_NAME = CONFIG_NAME
    PRIVATE = True  # the admin password

    def _save_config(self) -> None:
        self._write_config(
            {
                "version": KEYCLOAK_VERSION,
                "port": self.port,
                "db": self.db,
                "own_pg_port": self.own_pg_port,
                "admin_user": self.admin_user,
                "admin_password": self.admin_password,
            }
        )

    # -- addresses --------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    # -- readiness ----------------------------------------------------------------

    def realm_ready(self) -> bool:
        """The realm's OIDC discovery document names our issuer, and its JWKS has a signing key."""
        with httpx.Client(timeout=3) as c:
            d = c.get(f"{self.issuer}/.well-known/openid-configuration")
            if d.status_code != 200 or d.json().get("issuer") != self.issuer:
                return False
            keys = c.get(d.json()["jwks_uri"]).json().get("keys", [])
            return any(k.get("use") == "sig" for k in keys)

    def _master_ready(self) -> bool:
        r = httpx.get(f"{self.url}/realms/master/.well-known/openid-configuration", timeout=3)
        return r.status_code == 200

    def admin_token(self) -> str:
        r = httpx.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            timeout=30,
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.admin_user,
                "password": self.admin_password,
            },
        )
        if r.status_code != 200:
            raise ServerError(f"Keycloak 管理员登录失败 (admin login failed): {r.status_code} {r.text[:300]}")
        return r.json()["access_token"]

    def _import_realm(self) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        with httpx.Client(timeout=120, headers=headers) as c:
            if c.get(f"{self.url}/admin/realms/{REALM}").status_code == 200:
                return
            r = c.post(f"{self.url}/admin/realms", json=json.loads(REALM_FILE.read_text()))
            if r.status_code not in (201, 409):
                raise ServerError(
                    f"导入 ganxun 领域失败 (realm import failed): {r.status_code} {r.text[:1000]}"
                )

    def client_secret(self, client_id: str) -> str:
        """A confidential client's secret (Keycloak generates it at the realm's import)."""
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        with httpx.Client(base_url=f"{self.url}/admin/realms/{REALM}", timeout=30, headers=headers) as c:
            found = c.get("/clients", params={"clientId": client_id}).json()
            if not found:
                raise ServerError(f"领域中没有客户端 {client_id} (no client {client_id} in the realm)")
            return c.get(f"/clients/{found[0]['id']}/client-secret").json()["value"]

    # -- database -------------------------------------------------------------------

    def _ensure_database(self, timeout: float) -> str:
        from deploy.local.ferretdb import _PostgresCluster

        if self.db is None:
            if self.own_pg_port is None:
                self.own_pg_port = free_port()
            self._save_config()
            pg = _PostgresCluster(self.folder, self.own_pg_port)
            pg.start(timeout=timeout)
            self._own_pg = pg
            url = f"postgres://ferretdb@{HOST}:{self.own_pg_port}/keycloak"
        else:
            url = self.db
        _, user, _, name = _jdbc(url)
        u = urlsplit(url)

        def psql(*args: str) -> subprocess.CompletedProcess:
            argv = [
                shutil.which("psql") or "psql",
                *args,
                "-h",
                u.hostname,
                "-p",
                str(u.port),
                "-U",
                user,
                "-d",
                "postgres",
            ]
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PGPASSWORD": u.password or ""},
            )

        exists = psql("-qAt", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.returncode != 0:
            raise ServerError(
                f"无法连接 Keycloak 的数据库 (cannot reach Keycloak's database): {exists.stderr[-500:]}"
            )
        if exists.stdout.strip() != "1":
            made = psql("-q", "-c", f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'")
            if made.returncode != 0 and "already exists" not in made.stderr:
                raise ServerError(f"创建 Keycloak 数据库失败 (CREATE DATABASE failed): {made.stderr[-500:]}")
        return url

    # -- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        if self.proc.running():
            self.proc.wait_ready(self.realm_ready, timeout, "Keycloak")
            return
        self.proc.stop()  # a stale pid file from a crash
        home = provision()
        java_home = find_java_home()
        if port_open(HOST, self.port):
            raise ServerError(f"端口 {self.port} 已被其他进程占用 (port {self.port} is already in use)")
        db = self._ensure_database(max(10.0, deadline - time.monotonic()))
        jdbc, user, password, _ = _jdbc(db)
        self._save_config()
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        env = {
            "JAVA_HOME": str(java_home),
            # Heap bounded: the default (a share of the machine's memory) is far more than
            # one realm with a few hundred accounts needs, on a machine shared by every server.
            "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m",
            "JAVA_OPTS_APPEND": (
                f"-Djava.io.tmpdir={self.folder / 'tmp'} "
                f"-Dquarkus.transaction-manager.object-store.directory={self.folder / 'tx'}"
            ),
            "KC_BOOTSTRAP_ADMIN_USERNAME": self.admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        argv = [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--http-enabled=true",
            f"--http-host={HOST}",
            f"--http-port={self.port}",
            f"--hostname={self.url}",
            "--hostname-strict=false",
            f"--db-url={jdbc}",
            f"--db-username={user}",
            f"--db-password={password or 'trust'}",
            "--log=console",
            "--log-level=WARN,org.keycloak.services:INFO",
        ]
        self.proc.spawn(argv, env=env, cwd=self.folder)
        try:
            self.proc.wait_ready(self._master_ready, max(10.0, deadline - time.monotonic()), "Keycloak")
            self._import_realm()
            self.proc.wait_ready(self.realm_ready, max(10.0, deadline - time.monotonic()), "Keycloak realm")
        except ServerError:
            self.stop()
            raise

    def stop(self) -> None:
        self.proc.stop(timeout=30)
        if self.db is None and self.own_pg_port is not None:
            from deploy.local.ferretdb import _PostgresCluster

            _PostgresCluster(self.folder, self.own_pg_port).stop()

    def status(self) -> dict:
        return {
            "running": self.proc.running(),
            "url": self.url,
            "issuer": self.issuer,
            "pid": self.proc.pid(),
            "folder": str(self.folder),
        }
