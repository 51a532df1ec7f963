"""`ganxun`: the one way to operate the system on a machine.

ganxun up [--detach]            servers + every service on this machine, kept running
ganxun down                     stop what `up` started (data is kept)
ganxun supervise                restart what `up` started when it dies (`up --detach` starts it)
ganxun servers up|down|status   the local Kafka, store and Keycloak only
ganxun token --role R --jurisdiction CODE --name NAME
ganxun rebuild SERVICE [PROJECTION]
ganxun docs openapi|asyncapi SERVICE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import urllib.request

from deploy import registry
from deploy.local.process import DetachedProcess, ServerError, state_dir
from deploy.local.supervisor import Supervisor, Watched
from deploy.registry import SERVICES
from shared.clock import PRODUCTION_KEYS
from shared.settings import DEFAULT_PORTS

KAFKA_PORT = 19092
STORE_PORT = 27018
KEYCLOAK_PORT = 8180


# -- servers -------------------------------------------------------------------
def _kafka(port: int | None = None, tls: bool = False):
    """The local cluster; with no port, the one saved in its folder (or the default). `tls`
    gives it a SASL_SSL listener (KAFKA_PORT + 1), kept on later starts."""
    from deploy.local.kafka import KafkaCluster

    folder = state_dir() / "kafka"
    saved = (folder / "cluster.json").exists()
    return KafkaCluster(folder, port=port if port or saved else KAFKA_PORT, tls=tls or None)


def _store(port: int | None = None):
    from deploy.local.ferretdb import FerretDBServer

    folder = state_dir() / "store"
    saved = (folder / "ferretdb.json").exists()
    return FerretDBServer(folder, port=port if port or saved else STORE_PORT)


def _keycloak(port: int | None = None, store=None):
    """The local identity provider; its data in a database of its own on the store's
    PostgreSQL cluster (its own cluster when the store runs on SQLite)."""
    from deploy.local.keycloak import KeycloakServer

    folder = state_dir() / "keycloak"
    saved = (folder / "keycloak.json").exists()
    db = None
    if store is not None and store.backend == "postgresql" and store.pg_port:
        db = f"postgres://ferretdb@127.0.0.1:{store.pg_port}/keycloak"
    return KeycloakServer(folder, port=port if port or saved else KEYCLOAK_PORT, db=db)


def servers_up(
    kafka_port: int | None = None,
    store_port: int | None = None,
    keycloak_port: int | None = None,
    kafka_tls: bool = False,
) -> tuple[str, str]:
    kafka, store = _kafka(kafka_port, kafka_tls), _store(store_port)
    print("启动 Kafka（KRaft）、FerretDB 与 Keycloak …（首次运行需下载并构建，可能需要几分钟）", flush=True)
    store.start()
    kafka.start()
    identity = _keycloak(keycloak_port, store)
    identity.start()
    how = f"SASL/SCRAM 认证，TLS 加密；CA 证书 {kafka.ca_file}" if kafka.tls else "SASL/SCRAM 认证"
    print(
        f"  Kafka   {kafka.clients.bootstrap}（{how}）\n  存储    {store.uri}\n  身份认证 {identity.issuer}",
        flush=True,
    )
    return kafka.clients.bootstrap, store.uri


def _principals_file():
    return state_dir() / "kafka" / "principals.json"


def bus_principals(jurisdictions: str) -> dict[str, dict[str, str]]:
    """The local deployment's Kafka principals (one for the four services, one for the
    dashboard), created with the cluster's super-user; passwords kept in
    .state/kafka/principals.json (owner-only) so a restart reuses them. Returns, per
    service, the environment its process connects with."""
    import secrets

    from shared import bus_access
    from shared.kafka import Connection

    codes = [c.strip() for c in jurisdictions.split(",") if c.strip()]
    cluster = _kafka()
    path = _principals_file()
    saved = json.loads(path.read_text()) if path.exists() else {}
    envs: dict[str, dict[str, str]] = {}
    made: dict[str, dict[str, str]] = {}
    for name in SERVICES:
        principal = bus_access.principal_name("-".join(codes), name)
        if principal not in made:
            saved.setdefault(principal, secrets.token_urlsafe(24))
            conn: Connection = asyncio.run(
                bus_access.provision_deployment(cluster.clients, codes, name, saved[principal])
            )
            made[principal] = conn.env()
        envs[name] = made[principal]
    path.touch(mode=0o600)
    path.write_text(json.dumps(saved, indent=1))
    return envs


def local_bus_env(service: str) -> dict[str, str]:
    """For an operator's command on this machine (rebuild): the principal `ganxun up` made
    for the service, unless the environment already names one."""
    if os.environ.get("GANXUN_KAFKA_USERNAME") or not _principals_file().exists():
        return {}
    from shared import bus_access
    from shared.settings import Settings

    codes = Settings(service=service).jurisdictions
    principal = bus_access.principal_name("-".join(codes), service)
    password = json.loads(_principals_file().read_text()).get(principal)
    if password is None:
        return {}
    return _kafka().clients.as_user(principal, password).env()


def servers_down() -> None:
    _keycloak().stop()
    _kafka().stop()
    _store().stop()
    print(f"服务器已停止（数据保留在 {state_dir()}）。")


def servers_status() -> None:
    status = {"kafka": _kafka().status(), "store": _store().status(), "identity": _keycloak().status()}
    print(json.dumps(status, ensure_ascii=False, indent=2))


# -- services ------------------------------------------------------------------
# The services that take the clerks' commands and may run several API processes (`up
# --api-processes`); the others keep in-memory views their own projectors feed.
COMMANDED = ("selection", "teaching")


def _service_proc(name: str) -> DetachedProcess:
    return DetachedProcess(name, state_dir() / "services")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except Exception:  # noqa: BLE001
        return False


def _up_file():
    return state_dir() / "services" / "up.json"


def _service_procs(name: str) -> list[tuple[DetachedProcess, list[str]]]:
    """The processes of one service as the last `up` laid it out (deploy/local/layout.py),
    each with its command line: `name` (the API, or the whole service), then `name.1` …"""
    from deploy.local import layout

    saved = json.loads(_up_file().read_text(encoding="utf-8"))
    n = saved.get("api_processes", {}).get(name, 1)
    argvs = layout.argvs(name, saved["ports"][name], n, sys.executable)
    folder = state_dir() / "services"
    return [(DetachedProcess(name if i == 0 else f"{name}.{i}", folder), a) for i, a in enumerate(argvs)]


def start_service(name: str, only: int | None = None) -> None:
    """Spawn a service's processes that are not running (or only the `only`-th) as the last
    `up` configured them (the supervisor's restart)."""
    saved = json.loads(_up_file().read_text(encoding="utf-8"))
    for i, (proc, argv) in enumerate(_service_procs(name)):
        if (only is None or i == only) and not proc.running():
            proc.spawn(argv, env={**saved["env"], **saved.get("bus", {}).get(name, {})})


def start_workbench() -> None:
    """Spawn the workbench as the last `up` configured it (the supervisor's restart)."""
    saved = json.loads(_up_file().read_text(encoding="utf-8"))["workbench"]
    argv = [sys.executable, "-m", "services.workbench", "--port", str(saved["port"])]
    _service_proc("workbench").spawn(argv, env=saved["env"])


def supervised() -> list[Watched]:
    """What `ganxun up` keeps running, in the order it is restarted. One line per server."""
    store, kafka = _store(), _kafka()
    identity = _keycloak(store=store)
    return [
        Watched("存储 FerretDB", store.proc.running, store.start),
        Watched("Kafka", lambda: kafka.status()["running"], kafka.start),
        Watched("身份认证 Keycloak", lambda: identity.status()["running"], identity.start),
        *(
            Watched(f"服务 {proc.name}", proc.running, lambda n=n, i=i: start_service(n, i))
            for n in SERVICES
            for i, (proc, _) in enumerate(_service_procs(n))
        ),
        *(
            [Watched("工作台", _service_proc("workbench").running, start_workbench)]
            if "workbench" in json.loads(_up_file().read_text(encoding="utf-8"))
            else []
        ),
    ]


def _supervisor_proc() -> DetachedProcess:
    return DetachedProcess("supervisor", state_dir())


def cmd_supervise(args) -> None:
    if not _up_file().exists():
        raise SystemExit("尚未用 `ganxun up` 启动过服务，无可看护。")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"[看护] 开始看护：{'、'.join(w.name for w in supervised())}", flush=True)
    Supervisor(supervised(), log=lambda line: print(line, flush=True)).run(stop)


def services_up(
    bootstrap: str, uri: str, jurisdictions: str, ports: dict[str, int], api_processes: int = 1
) -> None:
    env = {
        "GANXUN_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GANXUN_MONGODB_URI": uri,
        "GANXUN_JURISDICTIONS": jurisdictions,
    }
    bus = bus_principals(jurisdictions)
    if not any(os.environ.get(k) for k in PRODUCTION_KEYS):
        # Development keys, said so explicitly (shared/auth.verifier_for); the demo moves
        # selection's and follow-up's "today" (dev only).
        env |= {
            "GANXUN_ENV": "dev",
            "GANXUN_SELECTION_MOVABLE_CLOCK": "1",
            "GANXUN_FOLLOWUP_MOVABLE_CLOCK": "1",
        }
        from shared.auth import ensure_dev_keys

        ensure_dev_keys(state_dir() / "keys")  # one pair, made before the services read it
    if not os.environ.get("GANXUN_SELECTION_CADRE_ID_SECRET"):
        from services.selection.settings import KEPT
        from shared.keys import kept_secret

        # The cadre ids' key (services/selection/settings.py), made once and kept with the others.
        kept_secret(state_dir() / "keys" / KEPT)
    identity = _keycloak()
    if identity.status()["running"] and not os.environ.get("GANXUN_OIDC_ISSUER"):
        # The local Keycloak's logins, beside the development tokens (shared/auth.EitherVerifier).
        env |= {
            "GANXUN_OIDC_ISSUER": identity.issuer,
            "GANXUN_ACCOUNTS_KEYCLOAK_URL": identity.url,
            "GANXUN_ACCOUNTS_CLIENT_SECRET": identity.client_secret("ganxun-accounts"),
        }
    _up_file().parent.mkdir(parents=True, exist_ok=True)
    _up_file().write_text(
        json.dumps(
            {"env": env, "bus": bus, "ports": ports, "api_processes": {n: api_processes for n in COMMANDED}},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    _up_file().chmod(0o600)  # the bus principals' passwords
    for name in SERVICES:
        start_service(name)
    for name in SERVICES:
        port = ports[name]
        _service_proc(name).wait_ready(lambda p=port: _ready(p), 90, f"服务 {name}")
        print(f"  {name:<10} http://127.0.0.1:{port}/docs", flush=True)
    if "dashboard" in ports:
        print(
            f"  省级看板   http://127.0.0.1:{ports['dashboard']}/#token=<令牌>（ganxun token 签发）",
            flush=True,
        )


def services_down() -> None:
    _supervisor_proc().stop(timeout=15)  # first, or it would restart what is stopped below
    _service_proc("workbench").stop(timeout=15)
    for name in SERVICES:
        procs = [p for p, _ in _service_procs(name)] if _up_file().exists() else [_service_proc(name)]
        for proc in procs:
            proc.stop(timeout=15)


WORKBENCH_PORT = 8110


def workbench_up(ports: dict[str, int], uri: str, port: int = WORKBENCH_PORT) -> None:
    """The web workbench (services/workbench): its pages built when missing or stale, then
    started in front of the four services, logging in at the identity provider
    (GANXUN_WORKBENCH_ISSUER, by default the local Keycloak's realm), its login sessions
    kept in the store at `uri`."""
    import subprocess

    from deploy.local.process import REPO_ROOT

    built = subprocess.run(["bash", str(REPO_ROOT / "deploy" / "build-workbench.sh")], check=False)
    if built.returncode != 0:
        print("  工作台网页构建失败，工作台未启动（见上方输出）。", flush=True)
        return
    proc = _service_proc("workbench")
    env = {
        f"GANXUN_WORKBENCH_{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}"
        for n in ("selection", "teaching", "records", "followup", "reminders")
    }
    env["GANXUN_WORKBENCH_MONGODB_URI"] = uri
    if not os.environ.get("GANXUN_WORKBENCH_ISSUER"):  # the issuer the services trust
        env["GANXUN_WORKBENCH_ISSUER"] = os.environ.get("GANXUN_OIDC_ISSUER") or _keycloak().issuer
    saved = json.loads(_up_file().read_text(encoding="utf-8"))
    saved["workbench"] = {"env": env, "port": port}  # how the supervisor restarts it
    _up_file().write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    if not proc.running():
        start_workbench()
    proc.wait_ready(lambda: _ready(port), 60, "工作台")
    print(f"  工作台     http://127.0.0.1:{port}/（组织部、调训单位、党校用各自账号登录）", flush=True)


def cmd_up(args) -> None:
    ports = dict(DEFAULT_PORTS) | {"workbench": WORKBENCH_PORT}
    for item in args.port or []:
        name, _, value = item.partition("=")
        if name not in ports or not value.isdigit():
            raise SystemExit(f"--port 应写作 服务=端口，服务为 {'、'.join(ports)} 之一（收到：{item}）")
        ports[name] = int(value)
    try:
        bootstrap, uri = servers_up(args.kafka_port, args.store_port, args.keycloak_port, args.kafka_tls)
        services_up(bootstrap, uri, args.jurisdictions, ports, args.api_processes)
        workbench_up(ports, uri, ports["workbench"])
    except ServerError as exc:
        raise SystemExit(f"启动失败：{exc}") from None
    from shared.auth import ensure_dev_keys, issue_token

    token = issue_token(
        ensure_dev_keys(state_dir() / "keys")[0],
        user_id="dev-org",
        name="开发者（组织部）",
        role="org_department",
        jurisdiction=args.jurisdictions.split(",")[0],
    )
    print(f"\n全部就绪。组织部开发令牌（{args.jurisdictions.split(',')[0]}）：\n{token}\n")
    if not args.no_demo:
        from deploy.demo import accounts as demo_accounts
        from deploy.demo.up import load_if_empty

        served = args.jurisdictions.split(",")
        codes = [c for c in demo_accounts.DEMO_JURISDICTIONS if c in served]
        made, kept = demo_accounts.create(
            f"http://127.0.0.1:{ports['accounts']}", demo_accounts.dev_admin(state_dir() / "keys"), codes
        )
        demo_accounts.print_login(_keycloak().url, made, kept)
        demo_accounts.set_contacts(f"http://127.0.0.1:{ports['reminders']}", state_dir() / "keys", codes)
        print(
            f"演示账号的提醒邮件不真正发出，写在提醒服务的日志里：{_service_proc('reminders').log_file}",
            flush=True,
        )

        load_if_empty(state_dir(), ports, args.jurisdictions, uri)
    if args.detach:
        if not _supervisor_proc().running():
            _supervisor_proc().spawn([sys.executable, "-m", "deploy.cli", "supervise"])
        print(
            f"已在后台运行，退出的进程会被自动重启（看护日志：{_supervisor_proc().log_file}）；"
            "用 `ganxun down` 停止。"
        )
        return
    print("按 Ctrl-C 停止全部。退出的进程会被自动重启。", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Supervisor(supervised(), log=lambda line: print(line, flush=True)).run(stop)
    print("\n正在停止 …", flush=True)
    cmd_down(args)


def cmd_down(args) -> None:
    services_down()
    servers_down()


# -- token, rebuild, docs -------------------------------------------------------
def cmd_token(args) -> None:
    from shared.auth import ensure_dev_keys, issue_token

    private, _ = ensure_dev_keys(state_dir() / "keys")
    try:
        print(
            issue_token(
                private,
                user_id=args.user_id or f"dev-{args.role}",
                name=args.name,
                role=args.role,
                jurisdiction=args.jurisdiction,
                ttl_seconds=args.hours * 3600,
                unit=args.unit,
            )
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def cmd_rebuild(args) -> None:
    from tqdm import tqdm

    from shared import kafka
    from shared.entrypoint import settings_for
    from shared.logging import configure
    from shared.projector import rebuild
    from shared.runtime import Runtime
    from shared.store import UnfitStore, refuse_unfit

    configure("WARNING")
    os.environ.update(local_bus_env(args.service))
    defn = registry.definition(args.service)
    try:
        chosen = [defn.projection(args.projection)] if args.projection else defn.projections
    except KeyError as exc:
        raise SystemExit(exc.args[0]) from None
    if not chosen:
        raise SystemExit(f"服务 {args.service} 目前没有投影可重建。")

    async def run() -> None:
        rt = Runtime(defn, settings_for(args.service))
        try:
            await refuse_unfit(rt.db)  # a rebuild's bulk writes, as a service's (shared/store.py)
        except UnfitStore as exc:
            raise SystemExit(str(exc)) from None
        await rt.producer.start()
        try:
            for p in chosen:
                consumer = kafka.consumer(rt.settings.bus, None)
                await consumer.start()
                bar = tqdm(desc=f"重建 {p.name}", unit="事件", file=sys.stderr)
                try:

                    def progress(done: int, total: int, bar=bar) -> None:
                        bar.total = total
                        bar.n = done
                        bar.refresh()

                    tps = await kafka.partitions(rt.settings.bus, rt.pattern_for(p))
                    result = await rebuild(rt.writer(p), consumer, tps, progress)
                finally:
                    bar.close()
                    await consumer.stop()
                docs = await rt.db[p.collection].count_documents({})
                print(
                    f"{p.name}: 应用 {result.applied} 个事件，生成 {docs} 个文档；"
                    f"跳过未知类型 {result.skipped_unknown} 个，转入死信 {result.dead_lettered} 个。"
                )
        finally:
            await rt.producer.stop()
            await rt.mongo.close()

    asyncio.run(run())


def cmd_docs(args) -> None:
    import shared.contracts  # noqa: F401
    from shared.entrypoint import settings_for

    defn = registry.definition(args.service)
    settings = settings_for(args.service)
    if args.kind == "openapi":
        from shared.api import create_app

        doc = create_app(defn, settings).openapi()
    else:
        from shared.asyncapi import document

        doc = document(defn, settings)
    print(json.dumps(doc, ensure_ascii=False, indent=2))


# long: the whole command line in one argparse tree, a few lines per option
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganxun", description="干训数据底座 — 本机运行与运维")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="启动本机全部：Kafka、存储、四个服务与省级看板")
    up.add_argument("--detach", action="store_true", help="启动后返回，不在前台等待")
    up.add_argument("--no-demo", action="store_true", help="不加载演示数据（默认：存储为空时自动加载）")
    up.add_argument(
        "--jurisdictions",
        default=os.environ.get("GANXUN_JURISDICTIONS", "371428,330500,530129,430000"),
        help="本部署服务的行政区划代码，逗号分隔",
    )
    up.add_argument("--kafka-port", type=int, help=f"Kafka 端口（默认 {KAFKA_PORT}，或上次所用）")
    up.add_argument(
        "--kafka-tls",
        action="store_true",
        help="Kafka 另开 TLS 监听（SASL_SSL，默认端口 19093，本机自建 CA），服务经 TLS 连接；此后一直保留",
    )
    up.add_argument("--store-port", type=int, help=f"存储端口（默认 {STORE_PORT}，或上次所用）")
    up.add_argument("--keycloak-port", type=int, help=f"Keycloak 端口（默认 {KEYCLOAK_PORT}，或上次所用）")
    up.add_argument(
        "--port",
        action="append",
        metavar="SERVICE=PORT",
        help="服务端口，如 --port selection=9101（默认 8101–8106，看板 8100，工作台 8110）",
    )
    up.add_argument(
        "--api-processes",
        type=int,
        default=int(os.environ.get("GANXUN_API_PROCESSES", "1")),
        help=f"{'、'.join(COMMANDED)} 各用几个接口进程共用一个端口（默认 1：一个进程包办一切；"
        "大于 1 时另有一个进程负责转发、投影与后台任务）",
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="停止 `ganxun up` 启动的一切（数据保留）").set_defaults(func=cmd_down)
    sub.add_parser(
        "supervise", help="看护 `ganxun up` 启动的进程，退出即重启（up --detach 自动启动）"
    ).set_defaults(func=cmd_supervise)

    srv = sub.add_parser("servers", help="本机 Kafka、存储与身份认证（Keycloak）")
    srv.add_argument("action", choices=["up", "down", "status"])
    srv.add_argument("--kafka-tls", action="store_true", help="同 ganxun up --kafka-tls")
    srv.set_defaults(
        func=lambda a: (
            servers_up(kafka_tls=a.kafka_tls)
            if a.action == "up"
            else {"down": servers_down, "status": servers_status}[a.action]()
        )
    )

    tok = sub.add_parser("token", help="签发开发令牌")
    tok.add_argument("--role", required=True)
    tok.add_argument("--jurisdiction", required=True)
    tok.add_argument("--name", required=True)
    tok.add_argument("--user-id")
    tok.add_argument("--unit", help="所在单位（调训单位令牌）")
    tok.add_argument("--hours", type=int, default=12)
    tok.set_defaults(func=cmd_token)

    reb = sub.add_parser("rebuild", help="从 Kafka 主题重建投影")
    reb.add_argument("service", choices=SERVICES)
    reb.add_argument("projection", nargs="?")
    reb.set_defaults(func=cmd_rebuild)

    docs = sub.add_parser("docs", help="打印接口文档（无需服务器）")
    docs.add_argument("kind", choices=["openapi", "asyncapi"])
    docs.add_argument("service", choices=SERVICES)
    docs.set_defaults(func=cmd_docs)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except ServerError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
