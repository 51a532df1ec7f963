"""A real Apache Kafka (KRaft, no ZooKeeper, no Docker) on 127.0.0.1.

The broker comes from Kafka's own jars on Maven Central: `kafka/pom.xml` resolves
the pinned `org.apache.kafka:kafka_2.13` and its dependency tree into
`cache_dir()/kafka-<version>/libs`, and each node runs as
`java -cp 'libs/*' kafka.Kafka server.properties`.

A cluster lives in one folder:

    cluster.json             ports, cluster id, node count (so a later process can
                             stop / restart it on the same ports with the same data)
    log4j2.properties        broker logging: INFO to node-<i>/logs/server.log,
                             WARN and above also to broker-<i>.log
    broker-<i>.pid / .log    DetachedProcess pid file and stdout/stderr of node i
    node-<i>/server.properties
    node-<i>/data/           KRaft metadata log and topic partitions of node i

Every node is a combined broker+controller. With 3 nodes they form a static
3-voter controller quorum and topics default to RF 3 / min ISR 2.

Security: clients and brokers authenticate with SASL/SCRAM-SHA-512 on the broker
listener and every request is checked by KRaft's StandardAuthorizer (no ACL, no
access). The cluster's super-user `admin` gets its SCRAM credential when the storage
is formatted (`--add-scram`, before the first start: KRaft keeps credentials in its
metadata log, so there is no other way to have the first one); its password is made
at random and kept in cluster.json and server.properties, both readable by the owner
only. Deployment principals are created with it (shared/bus_access.py). The
controller listener authenticates with SASL/PLAIN against the same admin password,
because a controller cannot verify SCRAM (the credentials live in the log it serves).
Everything listens on 127.0.0.1.

TLS (`tls=True`; `ganxun up --kafka-tls`): each node also listens for clients with
SASL_SSL on a port of its own (`tls_ports`), with a certificate signed by a CA the
cluster makes once in `tls/` (deploy/local/tls.py); a client trusts `tls/ca.pem`
(GANXUN_KAFKA_CA_FILE). The brokers and the controllers keep talking to each other on
the loopback SASL_PLAINTEXT listeners (one machine); production gives those TLS too
(docs/bus.md, "Production").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from deploy.local import tls as tls_material
from deploy.local.process import (
    DetachedProcess,
    LocalServer,
    ServerError,
    _pid_alive,
    bindable,
    cache_dir,
    free_port,
    port_open,
    provision_once,
    require_tool,
)
from shared.kafka import Connection

# Newest Kafka on Maven Central at the time of pinning; verified against
# aiokafka 0.14.0 (idempotent acks=all producer, consumer group with manual
# commit, admin create_topics, pattern subscription) by tests/servers/test_kafka_local.py.
KAFKA_VERSION = "4.4.0"

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
JAVA_HINT = "apt-get install openjdk-17-jre-headless"
MVN_HINT = "apt-get install maven"
MIN_JAVA = 17  # Kafka 4.x brokers need Java 17+

_MARKER = ".provisioned"
_CONFIG = "cluster.json"
# The most heap a broker may take (it starts at 64 MB and grows only as needed). At 512 MB a
# broker serving a province's ~1,200 county partitions (5.7 M events) to a dashboard's first
# start under load ran out of heap after 63 minutes ("java.lang.OutOfMemoryError: Java heap
# space", its controller's events taking 2-3.5 s for the minutes before): docs/benchmarks.md,
# "A province at size, and five years again (lead, stop 21)".
HEAP = "1g"


# --------------------------------------------------------------------------- provisioning


def _require_java() -> str:
    return require_tool("java", "运行 Kafka 节点 (running the Kafka brokers)", JAVA_HINT)


def provision(cache: Path | None = None) -> Path:
    """Resolve the pinned Kafka jars into `<cache>/kafka-<version>/libs`; return that folder.

    Idempotent: once the marker file exists the call returns at once. Concurrent
    callers (two test sessions, CLI and tests) serialise on a lock file.
    """
    root = Path(cache or cache_dir()) / f"kafka-{KAFKA_VERSION}"
    libs = root / "libs"
    marker = root / _MARKER
    _require_java()

    def fresh() -> bool:
        return marker.is_file() and libs.is_dir()

    def build() -> None:
        mvn = require_tool(
            "mvn", "下载 Kafka 的 jar 包 (resolving the Kafka jars from Maven Central)", MVN_HINT
        )
        partial = root / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        argv = [
            mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
            "dependency:copy-dependencies",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-DoutputDirectory={partial}",
        ]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
        if proc.returncode != 0 or f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
            out = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise ServerError(
                f"无法通过 Maven 下载 Kafka {KAFKA_VERSION} 的 jar 包（退出码 {proc.returncode}）"
                f" (mvn could not resolve Kafka {KAFKA_VERSION} jars, exit {proc.returncode}):\n"
                f"{' '.join(argv)}\n{out}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text(
            json.dumps(
                {
                    "kafka_version": KAFKA_VERSION,
                    "seconds": round(time.monotonic() - started, 1),
                    "jars": jars,
                },
                indent=1,
            )
        )

    provision_once(root, fresh, build)
    return libs


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


# --------------------------------------------------------------------------- helpers


def _new_cluster_id() -> str:
    # Same shape as Kafka's Uuid.randomUuid().toString(): URL-safe base64, no padding,
    # never starting with '-' (it would look like a command-line flag).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _distinct_free_ports(n: int, avoid: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in avoid and p not in ports:
            ports.append(p)
    return ports


def _run_coro(coro_fn) -> Any:
    """asyncio.run the coroutine, in a helper thread if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn())
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=runner, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


@contextlib.contextmanager
def _quiet_aiokafka():
    """Connection errors are expected while a broker boots; keep them off the terminal."""
    logger = logging.getLogger("aiokafka")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


async def _broker_ids(conn: Connection) -> set[int]:
    from shared import kafka

    admin = kafka.admin(conn, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        meta = await asyncio.wait_for(admin.describe_cluster(), 5)
        return {b["node_id"] for b in meta["brokers"]}
    finally:
        await admin.close()


_LOG4J2 = """\
# Written by deploy/local/kafka.py. kafka.logs.dir is set per node on the java command line.
status = warn
name = ganxun-kafka

appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3

# Warnings and errors also go to stdout, which DetachedProcess writes to broker-<i>.log,
# so a failed start shows the reason in the exception.
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
appender.out.filter.threshold.type = ThresholdFilter
appender.out.filter.threshold.level = warn

rootLogger.level = info
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.out.ref = out

logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = warn
"""


# --------------------------------------------------------------------------- cluster


class KafkaCluster(LocalServer):
    """One or three combined broker+controller nodes whose state lives in `folder`.

    `brokers=None` / `port=None` mean: whatever `folder/cluster.json` says, else 1
    node on free random ports. An explicit value that contradicts the saved cluster
    is an error (the KRaft quorum and the data belong to the saved layout).
    """

    def __init__(
        self,
        folder: Path,
        *,
        brokers: int | None = None,
        port: int | None = None,
        heap: str = HEAP,
        cache: Path | None = None,
        tls: bool | None = None,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.heap = heap
        self.cache = cache
        saved = self._load_config()
        if saved is not None:
            if brokers is not None and brokers != saved["brokers"]:
                raise ServerError(
                    f"{self.folder} 中的 Kafka 集群有 {saved['brokers']} 个节点，不能改为 {brokers} 个；"
                    f"请换一个目录或删除它 (the cluster in {self.folder} has {saved['brokers']} nodes, "
                    f"not {brokers}; use another folder or delete it)"
                )
            if port is not None and port != saved["ports"][0]:
                raise ServerError(
                    f"{self.folder} 中的 Kafka 集群使用端口 {saved['ports'][0]}，不是 {port} "
                    f"(the cluster in {self.folder} listens on {saved['ports'][0]}, not {port})"
                )
            self.brokers = int(saved["brokers"])
            self.ports = [int(p) for p in saved["ports"]]
            self.controller_ports = [int(p) for p in saved["controller_ports"]]
            self.cluster_id = str(saved["cluster_id"])
            if "admin_password" not in saved:
                raise ServerError(
                    f"{self.folder} 中的 Kafka 集群是在启用 SASL 认证之前创建的（没有管理员口令）。"
                    f"请停止它并删除该目录后重新启动（本机数据可由演示数据重新生成）"
                    f" (the cluster in {self.folder} predates SASL; stop it and delete the folder)"
                )
            self.admin_password = str(saved["admin_password"])
            self.tls_ports = [int(p) for p in saved.get("tls_ports", [])]
            self.keystore_password = str(saved.get("keystore_password") or secrets.token_urlsafe(24))
        else:
            n = 1 if brokers is None else int(brokers)
            if n not in (1, 3):
                raise ServerError(
                    f"只支持 1 或 3 个节点，而不是 {n} (only 1 or 3 brokers are supported, not {n})"
                )
            self.brokers = n
            if port is None:
                self.ports = _distinct_free_ports(n, set())
            else:
                self.ports = [port + i for i in range(n)]
            self.controller_ports = _distinct_free_ports(n, set(self.ports))
            self.cluster_id = _new_cluster_id()
            self.admin_password = secrets.token_urlsafe(24)
            self.tls_ports = []
            self.keystore_password = secrets.token_urlsafe(24)
        self._tls_added = bool(tls and not self.tls_ports)  # a saved cluster may get TLS later
        if self._tls_added:
            self.tls_ports = self._new_tls_ports()
        self._procs = [DetachedProcess(f"broker-{i}", self.folder) for i in range(self.brokers)]

    def _new_tls_ports(self) -> list[int]:
        """Next to the broker ports (19092 → 19093) when those are free, else free ones."""
        taken = set(self.ports) | set(self.controller_ports)
        beside = [self.ports[-1] + 1 + i for i in range(self.brokers)]
        # Bindable, not merely closed: a port can be nobody's listener yet be taken as the
        # local end of an outgoing connection (FerretDB's to PostgreSQL, say), and then the
        # broker's bind fails ("Address already in use") where a connect test saw it free.
        if not taken & set(beside) and all(bindable("127.0.0.1", p) for p in beside):
            return beside
        return _distinct_free_ports(self.brokers, taken)

    # ---- layout

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    ADMIN = "admin"

    @property
    def admin(self) -> Connection:
        """The super-user's connection (provisioning, tests, operators' tools)."""
        return Connection(self.bootstrap_servers, "SASL_PLAINTEXT", self.ADMIN, self.admin_password)

    @property
    def tls(self) -> bool:
        return bool(self.tls_ports)

    @property
    def tls_bootstrap_servers(self) -> str | None:
        return ",".join(f"127.0.0.1:{p}" for p in self.tls_ports) or None

    @property
    def ca_file(self) -> Path | None:
        """The CA a client trusts to reach the TLS listeners (made on the first start)."""
        return tls_material.BrokerTLS(self.folder / "tls").ca_file if self.tls else None

    @property
    def admin_tls(self) -> Connection:
        """The super-user over TLS (a cluster started with `tls=True`)."""
        if not self.tls:
            raise ServerError(f"{self.folder} 中的 Kafka 集群未启用 TLS (the cluster has no TLS listener)")
        return Connection(
            self.tls_bootstrap_servers, "SASL_SSL", self.ADMIN, self.admin_password, ca_file=str(self.ca_file)
        )

    @property
    def clients(self) -> Connection:
        """How the cluster's clients connect: over TLS when it has TLS listeners."""
        return self.admin_tls if self.tls else self.admin

    def node_dir(self, index: int) -> Path:
        return self.folder / f"node-{index}"

    CONFIG_NAME = _CONFIG
    PRIVATE = True  # the super-user's password

    def _save_config(self) -> None:
        self._write_config(
            {
                "kafka_version": KAFKA_VERSION,
                "brokers": self.brokers,
                "ports": self.ports,
                "controller_ports": self.controller_ports,
                "cluster_id": self.cluster_id,
                "admin_password": self.admin_password,
                "tls_ports": self.tls_ports,
                "keystore_password": self.keystore_password,
            }
        )

    def _server_properties(self, i: int) -> str:
        multi = self.brokers > 1
        rf, isr = (3, 2) if multi else (1, 1)
        voters = ",".join(f"{j}@127.0.0.1:{cp}" for j, cp in enumerate(self.controller_ports))
        scram_jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{self.ADMIN}" password="{self.admin_password}";'
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": i,
            "controller.quorum.voters": voters,
            "listeners": f"BROKER://127.0.0.1:{self.ports[i]},"
            f"CONTROLLER://127.0.0.1:{self.controller_ports[i]}",
            "advertised.listeners": f"BROKER://127.0.0.1:{self.ports[i]}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "BROKER",
            "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            # Clients and brokers: SCRAM; the controller quorum: PLAIN (see the module docstring).
            "listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.broker.scram-sha-512.sasl.jaas.config": scram_jaas,
            "listener.name.controller.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain."
            "PlainLoginModule required"
            f' username="{self.ADMIN}" password="{self.admin_password}"'
            f' user_{self.ADMIN}="{self.admin_password}";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{self.ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
            "log.dirs": self.node_dir(i) / "data",
            "auto.create.topics.enable": "false",
            "num.partitions": 3,
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": 0,
            # Projections are rebuilt from the topics: keep the whole history.
            "log.retention.ms": -1,
            "log.retention.bytes": -1,
            # Small machine, tests alongside: fewer threads than the defaults.
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "background.threads": 4,
        }
        if self.tls:
            props |= self._tls_properties(i, scram_jaas)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _tls_properties(self, i: int, scram_jaas: str) -> dict[str, Any]:
        """A third listener, TLS, for clients only: SASL/SCRAM inside TLS, the same ACLs."""
        keystore = tls_material.BrokerTLS(self.folder / "tls").keystore
        return {
            "listeners": f"BROKER://127.0.0.1:{self.ports[i]},TLS://127.0.0.1:{self.tls_ports[i]},"
            f"CONTROLLER://127.0.0.1:{self.controller_ports[i]}",
            "advertised.listeners": f"BROKER://127.0.0.1:{self.ports[i]},TLS://127.0.0.1:{self.tls_ports[i]}",
            "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,TLS:SASL_SSL",
            "listener.name.tls.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            # Every SASL listener needs a login section, even one no broker connects to.
            "listener.name.tls.scram-sha-512.sasl.jaas.config": scram_jaas,
            "listener.name.tls.ssl.keystore.type": "PKCS12",
            "listener.name.tls.ssl.keystore.location": keystore,
            "listener.name.tls.ssl.keystore.password": self.keystore_password,
            "listener.name.tls.ssl.key.password": self.keystore_password,
            "listener.name.tls.ssl.client.auth": "none",  # clients prove who they are with SCRAM
            "listener.name.tls.ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        }

    def _write_node_files(self) -> None:
        if self.tls:
            tls_material.ensure_broker_tls(self.folder / "tls", self.keystore_password)
        (self.folder / "log4j2.properties").write_text(_LOG4J2)
        for i in range(self.brokers):
            nd = self.node_dir(i)
            (nd / "logs").mkdir(parents=True, exist_ok=True)
            props = nd / "server.properties"
            props.touch(mode=0o600)  # holds the admin password
            props.chmod(0o600)
            props.write_text(self._server_properties(i))

    def _java_argv(self, libs: Path, i: int, main: list[str], heap: str, tool: bool = False) -> list[str]:
        return [
            _require_java(),
            f"-Xmx{heap}",
            # A one-shot tool starts faster without the optimising JIT.
            *(["-XX:TieredStopAtLevel=1"] if tool else []),
            "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:ReservedCodeCacheSize=64m",
            "-XX:MaxMetaspaceSize=192m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.node_dir(i) / 'logs'}",
            "-cp",
            f"{libs}/*",
            *main,
        ]

    def _format(self, libs: Path, i: int) -> None:
        if (self.node_dir(i) / "data" / "meta.properties").is_file():
            return
        argv = self._java_argv(
            libs,
            i,
            [
                "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "--cluster-id", self.cluster_id,
                "--config", str(self.node_dir(i) / "server.properties"),
                "--add-scram", f"SCRAM-SHA-512=[name={self.ADMIN},password={self.admin_password}]",
            ],
            "256m",
            tool=True,
        )  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=self.folder)
        if proc.returncode != 0:
            raise ServerError(
                f"Kafka 节点 {i} 的存储格式化失败 (formatting the storage of Kafka node {i} failed):\n"
                + (proc.stdout + proc.stderr)[-3000:]
            )

    # ---- lifecycle

    def start(self, timeout: float = 120.0) -> None:
        """Start every node that is not running and wait until all brokers serve metadata.

        Blocking; from async code call it through `asyncio.to_thread`.
        """
        self._start([i for i in range(self.brokers)], timeout)

    def start_broker(self, index: int, timeout: float = 120.0) -> None:
        """(Re)start node `index`, e.g. after kill_broker, and wait until the cluster sees it."""
        self._check_index(index)
        self._start([index], timeout, via=index)

    def _start(self, indexes: list[int], timeout: float, via: int | None = None) -> None:
        libs = provision(self.cache)
        java = _require_java()
        major = _java_major(java)
        if major < MIN_JAVA:
            raise ServerError(
                f"Kafka {KAFKA_VERSION} 需要 Java {MIN_JAVA} 或更高版本，当前 `{java}` 是 Java {major}。"
                f"安装方法：{JAVA_HINT} "
                f"(Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+, `{java}` is Java {major};"
                f" install: {JAVA_HINT})"
            )
        if self._tls_added and any(p.running() for p in self._procs):
            raise ServerError(
                "Kafka 正在运行且未启用 TLS；请先停止（ganxun down）再以 TLS 启动"
                " (Kafka is running without TLS: stop it before starting it with TLS)"
            )
        self._save_config()
        self._write_node_files()
        # One short-lived JVM per node; format them side by side (only on first start).
        with ThreadPoolExecutor(max_workers=self.brokers) as pool:
            list(pool.map(lambda i: self._format(libs, i), range(self.brokers)))
        for i in indexes:
            if self._procs[i].running():
                continue
            for p in (self.ports[i], self.controller_ports[i], *self.tls_ports[i : i + 1]):
                if port_open("127.0.0.1", p):
                    raise ServerError(
                        f"端口 {p} 已被其他进程占用，Kafka 节点 {i} 无法启动 "
                        f"(port {p} is already in use, Kafka node {i} cannot start)"
                    )
            self._procs[i].spawn(
                self._java_argv(
                    libs, i, ["kafka.Kafka", str(self.node_dir(i) / "server.properties")], self.heap
                ),
                cwd=self.folder,
            )
        self._wait_ready(timeout, via)

    def _wait_ready(self, timeout: float, via: int | None) -> None:
        expected = set(range(self.brokers))
        # Ask the (re)started node itself when there is one, so "ready" means it serves.
        # With TLS, through the TLS listener: ready means clients can reach it that way too.
        conn = self.clients
        if via is not None:
            ports = self.tls_ports if self.tls else self.ports
            conn = dataclasses.replace(conn, bootstrap=f"127.0.0.1:{ports[via]}")
        dead: list[int] = []

        def check() -> bool:
            dead[:] = [i for i, p in enumerate(self._procs) if not p.running()]
            if dead:
                return True  # stop waiting; reported below with that node's log
            with _quiet_aiokafka():
                return _run_coro(lambda: _broker_ids(conn)) >= expected

        first = self._procs[0 if via is None else via]
        first.wait_ready(check, timeout, f"Kafka ({self.bootstrap_servers})")
        if dead:
            p = self._procs[dead[0]]
            raise ServerError(
                f"Kafka 节点 {dead[0]} 启动失败，进程已退出。日志：{p.log_file}"
                f" (Kafka node {dead[0]} exited during start; log: {p.log_file})\n{p.tail()}"
            )

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM every node at once (controlled shutdown), SIGKILL what is left after `timeout`."""
        with ThreadPoolExecutor(max_workers=max(1, self.brokers)) as pool:
            list(pool.map(lambda p: p.stop(timeout), self._procs))

    def kill_broker(self, index: int) -> None:
        """SIGKILL node `index` (no shutdown hooks, no controlled shutdown), for fault tests."""
        self._check_index(index)
        proc = self._procs[index]
        pid = proc.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        proc.pid_file.unlink(missing_ok=True)

    def status(self) -> dict:
        pids = [p.pid() for p in self._procs]
        return {
            "running": all(pid is not None for pid in pids),
            "bootstrap_servers": self.bootstrap_servers,
            "brokers": [{"index": i, "port": self.ports[i], "pid": pids[i]} for i in range(self.brokers)],
            "tls_bootstrap_servers": self.tls_bootstrap_servers,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "folder": str(self.folder),
            "kafka_version": KAFKA_VERSION,
            "cluster_id": self.cluster_id,
        }

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.brokers:
            raise ServerError(
                f"没有编号为 {index} 的 Kafka 节点（共 {self.brokers} 个）"
                f" (no Kafka node {index}; the cluster has {self.brokers})"
            )
