"""Helpers for integration tests: isolated jurisdictions, tokens, service processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from deploy.local.process import REPO_ROOT, free_port
from shared.auth import ensure_dev_keys, issue_token
from shared.ids import new_id
from shared.settings import Settings

_used: set[str] = set()
_own_provinces: set[str] = set()  # whole provinces a test has taken for itself
NAMED = {"37", "43", "53"}  # left to the tests that name them


def random_county(province: str | None = None) -> str:
    """A valid county code no other test in this run uses, so its topics are its own."""
    while True:
        p = province or random.choice([f"{n}" for n in range(11, 66) if f"{n}" not in NAMED | _own_provinces])
        code = f"{p}{random.randint(1, 99):02d}{random.randint(1, 99):02d}"
        if code not in _used:
            _used.add(code)
            return code


def random_province() -> str:
    """A two-digit province prefix no county drawn so far is in, kept from later draws:
    a deployment serving the whole province then sees only the test's own counties."""
    taken = NAMED | _own_provinces | {c[:2] for c in _used}
    p = random.choice([f"{n}" for n in range(11, 66) if f"{n}" not in taken])
    _own_provinces.add(p)
    return p


def token(
    role: str, jurisdiction: str, name: str = "测试用户", user_id: str | None = None, unit: str | None = None
) -> str:
    private, _ = ensure_dev_keys(Path(os.environ["GANXUN_STATE_DIR"]) / "keys")
    return issue_token(
        private,
        user_id=user_id or f"{role}-{jurisdiction}",
        name=name,
        role=role,
        jurisdiction=jurisdiction,
        unit=unit,
    )


def auth(
    role: str, jurisdiction: str, name: str = "测试用户", user_id: str | None = None, unit: str | None = None
) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, jurisdiction, name, user_id, unit)}"}


# The test run's province secret for cadre ids (services/selection/settings.py), given to
# every service process the tests start (env_of), whether it runs as a development
# deployment or, as in test_identity, as a production one.
CADRE_ID_SECRET = secrets.token_hex(32)


def cadre_id_of(id_number: str) -> str:
    """The cadre id selection gives `id_number` in this test run."""
    from services.selection.cadres import cadre_id_for

    return cadre_id_for(id_number, CADRE_ID_SECRET.encode())


def settings(service: str, servers, jurisdictions: list[str], principal: bool = True, **kw) -> Settings:
    """A deployment's settings; with `principal`, its services connect to Kafka as the
    deployment's own principal (created on first use, with its ACLs), as in production."""
    bus = deployment_principal(servers, jurisdictions, service) if principal else {}
    return Settings(
        service=service,
        kafka_bootstrap_servers=servers.kafka,
        mongodb_uri=servers.mongodb,
        jurisdictions=jurisdictions,
        database=kw.pop("database", f"t_{service}_{new_id()[-12:]}"),
        **bus,
        **kw,
    )


_principals: dict[str, dict[str, str]] = {}


def deployment_principal(servers, jurisdictions: list[str], service: str | None = None) -> dict[str, str]:
    """Settings fields that make a deployment's `service` connect as its own Kafka principal
    (shared/bus_access: a county writes only its own topics …). Empty when the test run's
    Kafka has no super-user to create principals with (an outside PLAINTEXT broker)."""
    from shared import bus_access, kafka

    admin = kafka.connection(servers.kafka)
    if not admin.security_protocol.startswith("SASL"):
        return {}
    name = bus_access.principal_name("-".join(jurisdictions), service)
    if name not in _principals:
        password = new_id()
        with ThreadPoolExecutor(1) as pool:  # callers may already run an event loop
            pool.submit(
                asyncio.run, bus_access.provision_deployment(admin, jurisdictions, service, password)
            ).result()
        _principals[name] = {
            "kafka_security_protocol": admin.security_protocol,
            "kafka_username": name,
            "kafka_password": password,
            **({"kafka_ca_file": admin.ca_file} if admin.ca_file else {}),
        }
    return dict(_principals[name])


def env_of(s: Settings) -> dict[str, str]:
    return {
        **s.bus.env(),
        "GANXUN_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "GANXUN_MONGODB_URI": s.mongodb_uri,
        "GANXUN_JURISDICTIONS": ",".join(s.jurisdictions),
        "GANXUN_DATABASE": s.database_name,
        "GANXUN_PROJECTOR_BATCH": str(s.projector_batch),
        "GANXUN_RELAY_BATCH": str(s.relay_batch),
        "GANXUN_ENV": "dev",  # verify the development tokens tests sign (shared/auth.verifier_for)
        "GANXUN_SELECTION_CADRE_ID_SECRET": CADRE_ID_SECRET,
    }


class ServiceProcess:
    """A real service process (`python -m services.NAME`), killable with SIGKILL."""

    def __init__(
        self,
        s: Settings,
        components: str = "api,relay,projectors",
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = s
        self.env = env or {}  # beyond the settings: e.g. GANXUN_OIDC_ISSUER, GANXUN_ACCOUNTS_*
        self.components = components
        self.port = free_port() if "api" in components else None
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> ServiceProcess:
        argv = [sys.executable, "-m", f"services.{self.settings.service}", "--components", self.components]
        if self.port:
            argv += ["--port", str(self.port)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        env = {**os.environ, **env_of(self.settings), **self.env}
        self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if wait and self.port:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service {self.settings.service} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"service {self.settings.service} not ready in {timeout}s")

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def read_topic(bootstrap: str, topic: str, expect: int | None = None, timeout: float = 30.0) -> list:
    """Every record on a topic from the start (until `expect` records or the end)."""
    from shared import kafka

    consumer = AIOKafkaConsumer(
        topic,
        **kafka.connection(bootstrap).client_kwargs(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [tp for tp in consumer.assignment()] or None
        deadline = time.monotonic() + timeout
        out: list = []
        while time.monotonic() < deadline:
            if tps is None:
                tps = list(consumer.assignment())
            end = await consumer.end_offsets(tps) if tps else {}
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for recs in batch.values():
                out.extend(recs)
            positions = {tp: await consumer.position(tp) for tp in tps} if tps else {}
            if expect is not None and len(out) >= expect and all(positions[tp] >= end[tp] for tp in tps):
                break
            if expect is None and tps and all(positions[tp] >= end[tp] for tp in tps) and not batch:
                break
        return out
    finally:
        await consumer.stop()


def decode_all(records) -> list[dict]:
    return [json.loads(r.value) for r in records]


async def eventually(check, timeout: float = 30.0, interval: float = 0.2):
    """Polls an async `check` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def until_ok(call, what: str, timeout: float = 90):
    """A read or command (`call` answers an httpx response) as soon as the service has what it
    needs (its projections lag a little); fails with the last answer, named by `what`."""

    async def ok():
        r = await call()
        return r if r.status_code < 300 else None

    try:
        return await eventually(ok, timeout=timeout, interval=0.5)
    except AssertionError:
        r = await call()
        raise AssertionError(f"{what}: {r.status_code} {r.text}") from None


async def publish(
    bootstrap: str,
    service: str,
    jurisdiction: str,
    stream_id: str,
    events: list,
    first_version: int = 1,
    actor_name: str = "测试用户",
    role: str = "admin",
) -> list:
    """Puts events of another service on its real Kafka topic, as its relay would.

    For a service's integration test of what it consumes from another service,
    without running that service: the envelopes are the kernel's own. A class id is
    qualified with `jurisdiction` as selection qualifies the ids clerks choose
    (shared/scoped_ids.py): a test names its class "k1" and reaches it as "k1" with a token
    of that jurisdiction, as a clerk does."""
    from shared import kafka as k
    from shared import topics
    from shared.commands import CommandHandler, Context
    from shared.events import Actor
    from shared.outbox import headers_of
    from shared.scoped_ids import namespace, qualify

    def qualified(e):
        cid = getattr(e, "class_id", None)
        if not isinstance(cid, str) or namespace(cid) is not None:
            return e
        return e.model_copy(update={"class_id": qualify(jurisdiction, cid)})

    events = [qualified(e) for e in events]

    ctx = Context(
        actor=Actor(user_id=f"{role}-{jurisdiction}", name=actor_name, role=role),
        jurisdiction=jurisdiction,
        correlation_id=new_id(),
    )
    envelopes = CommandHandler.envelopes(stream_id, first_version - 1, events, ctx)
    topic = topics.events_topic(service, jurisdiction)
    await k.ensure_topics(bootstrap, [topic])
    producer = k.producer(bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            doc = env.to_doc()
            await producer.send_and_wait(
                topic, env.to_json(), key=stream_id.encode(), headers=headers_of(doc)
            )
    finally:
        await producer.stop()
    return envelopes


async def publish_class(
    bootstrap: str,
    county: str,
    class_id: str,
    title: str,
    dates: tuple[date, date],
    people: list[tuple[str, str]],
    unit: str,
) -> list:
    """Selection's part of a class, on its topic as its relay would put it (`publish`): the
    class opened by 县委党校 with 30 places from `dates[0]` to `dates[1]`, and each of `people`
    (cadre id, name) of `unit` nominated and confirmed."""
    from shared.contracts import selection as sel

    starts_on, ends_on = dates
    return await publish(
        bootstrap,
        "selection",
        county,
        f"class-{class_id}",
        [
            sel.ClassOpened(
                class_id=class_id,
                title=title,
                capacity=30,
                starts_on=starts_on,
                ends_on=ends_on,
                organiser="县委党校",
            ),
            *[sel.TraineeNominated(class_id=class_id, cadre_id=c, name=n, unit=unit) for c, n in people],
            *[sel.NominationConfirmed(class_id=class_id, cadre_id=c, name=n, unit=unit) for c, n in people],
        ],
    )


async def open_sealed(mongodb: str, s: Settings, docs: list[dict]) -> list[dict]:
    """Raw events as the deployment's projectors read them: personal values sealed on the
    bus (shared/personal.py) opened with the deployment's key vault, in place."""
    from pymongo import AsyncMongoClient

    from shared.personal import Sealer, Vault

    client = AsyncMongoClient(mongodb, tz_aware=True)
    try:
        await Sealer(Vault(client[s.vault_database_name])).open(docs)
    finally:
        await client.close()
    return docs


def meaning(doc: dict) -> dict:
    """A projection document without what only says how it was written (its revision, the
    token of the write that stored it, its long fields packed or not: shared/store.py): two
    folds of the same events mean the same."""
    from shared.projection import WRITE
    from shared.store import unpack

    out = {k: v for k, v in unpack(dict(doc)).items() if k != "_rev"}
    if WRITE in out.get("_applied", {}):
        out["_applied"] = {k: v for k, v in out["_applied"].items() if k != WRITE}
    return out


@contextlib.asynccontextmanager
async def served(app, **config):
    """An ASGI app served by a real uvicorn in this event loop on a free port, for as long as
    the block runs; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
