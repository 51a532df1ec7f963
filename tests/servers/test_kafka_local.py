"""The local Kafka (deploy/local/kafka.py): real KRaft brokers from Maven Central jars.

The integration tests also pin down that aiokafka works against the pinned Kafka:
admin create_topics, idempotent acks=all producer, consumer group with manual commit,
pattern subscription, and a 3-node cluster surviving a SIGKILLed broker.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.local import kafka as kafka_mod
from deploy.local.kafka import KAFKA_VERSION, POM, KafkaCluster, provision
from deploy.local.process import MissingToolError, _proc_stat, port_open
from shared.kafka import Connection

KEYS = [f"cadre-{i}" for i in range(10)]


# --------------------------------------------------------------------------- unit (no servers)


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH that holds only the named real tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    return str(bin_dir)


def test_missing_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "mvn"))
    with pytest.raises(MissingToolError) as exc:
        provision(tmp_path / "cache")
    assert exc.value.tool == "java"
    assert "apt-get install openjdk-17-jre-headless" in str(exc.value)


def test_missing_mvn_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    with pytest.raises(MissingToolError) as exc:
        provision(tmp_path / "cache")
    assert exc.value.tool == "mvn"
    assert "apt-get install maven" in str(exc.value)
    assert not (tmp_path / "cache" / f"kafka-{KAFKA_VERSION}" / ".provisioned").exists()


def test_provisioned_cache_needs_no_mvn(tmp_path, monkeypatch):
    root = tmp_path / "cache" / f"kafka-{KAFKA_VERSION}"
    (root / "libs").mkdir(parents=True)
    (root / ".provisioned").write_text("{}")
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    assert provision(tmp_path / "cache") == root / "libs"


def test_pom_default_version_matches_pin():
    m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    assert m and m.group(1) == KAFKA_VERSION


def test_config_survives_in_folder(tmp_path):
    c = KafkaCluster(tmp_path / "k", brokers=3, port=41000)
    assert c.bootstrap_servers == "127.0.0.1:41000,127.0.0.1:41001,127.0.0.1:41002"
    c._save_config()
    again = KafkaCluster(tmp_path / "k")
    assert (again.brokers, again.ports, again.cluster_id) == (3, c.ports, c.cluster_id)
    assert again.controller_ports == c.controller_ports
    assert len(set(c.ports + c.controller_ports)) == 6
    props = c._server_properties(1)
    for line in (
        "node.id=1",
        "auto.create.topics.enable=false",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "log.retention.ms=-1",
        "listeners=BROKER://127.0.0.1:41001,",
        "listener.security.protocol.map=BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
    ):
        assert line in props, line
    with pytest.raises(kafka_mod.ServerError):
        KafkaCluster(tmp_path / "k", brokers=1)


def test_a_cluster_made_before_sasl_is_named_not_started(tmp_path):
    c = KafkaCluster(tmp_path / "k")
    c._save_config()
    mode = (tmp_path / "k" / "cluster.json").stat().st_mode
    assert mode & 0o077 == 0, "the admin password is the owner's only"
    saved = json.loads((tmp_path / "k" / "cluster.json").read_text())
    del saved["admin_password"]
    (tmp_path / "k" / "cluster.json").write_text(json.dumps(saved))
    with pytest.raises(kafka_mod.ServerError, match="启用 SASL 认证之前"):
        KafkaCluster(tmp_path / "k")


# --------------------------------------------------------------------------- helpers


async def _create_topic(bus: Connection, name: str, rf: int) -> None:
    admin = AIOKafkaAdminClient(**bus.client_kwargs())
    await admin.start()
    try:
        resp = await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=rf)])
        errors = [t[1] for t in resp.topic_errors]
        assert errors == [0], resp
        # Creation is asynchronous: the partitions show in metadata a moment later.
        for _ in range(150):
            (meta,) = await admin.describe_topics([name])
            if len(meta["partitions"]) == 3:
                break
            await asyncio.sleep(0.2)
        assert len(meta["partitions"]) == 3
        assert all(len(p["replicas"]) == rf for p in meta["partitions"])
    finally:
        await admin.close()


async def _produce(producer: AIOKafkaProducer, topic: str, rounds: range) -> None:
    # Fire all sends before awaiting any: batching + retries is where an
    # idempotent producer could reorder if it were broken.
    futures = [
        await producer.send(topic, key=key.encode(), value=f"{key}:{n}".encode())
        for n in rounds
        for key in KEYS
    ]
    for fut in futures:
        await fut


async def _consume(
    bus: Connection, group: str, count: int, *, pattern: str | None = None, topic: str | None = None
):
    consumer = AIOKafkaConsumer(
        **bus.client_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    if pattern:
        consumer.subscribe(pattern=pattern)
    else:
        consumer.subscribe([topic])
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for recs in batch.values():
                    records.extend(recs)
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()
    return records, committed


def _per_key(records) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for r in records:
        key, n = r.value.decode().split(":")
        assert r.key.decode() == key
        by_key[key].append(int(n))
    return by_key


# --------------------------------------------------------------------------- integration


@pytest.mark.integration
async def test_single_broker_roundtrip_and_restart(tmp_path):
    folder = tmp_path / "kafka"
    cluster = KafkaCluster(folder)
    topic = "ganxun-test.enrolments"
    try:
        await asyncio.to_thread(cluster.start)
        bootstrap = cluster.bootstrap_servers
        bus = cluster.admin
        st = cluster.status()
        assert st["running"] and st["brokers"][0]["pid"] and st["folder"] == str(folder.resolve())

        await _create_topic(bus, topic, rf=1)
        producer = AIOKafkaProducer(**bus.client_kwargs(), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await _produce(producer, topic, range(10))
        finally:
            await producer.stop()

        records, committed = await _consume(bus, "g-single", 100, pattern=r"^ganxun-test\..*")
        assert len(records) == 100
        assert _per_key(records) == {k: list(range(10)) for k in KEYS}
        assert sum(committed.values()) == 100
        assert {tp.topic for tp in committed} == {topic}
    finally:
        await asyncio.to_thread(cluster.stop)
    assert not cluster.status()["running"]
    assert not port_open("127.0.0.1", cluster.ports[0])

    # A later process knows only the folder.
    again = KafkaCluster(folder)
    assert again.bootstrap_servers == bootstrap
    try:
        await asyncio.to_thread(again.start)
        assert again.status()["brokers"][0]["port"] == cluster.ports[0]
        # Committed offsets survived: the group has nothing left to read...
        admin = AIOKafkaAdminClient(**again.admin.client_kwargs())
        await admin.start()
        try:
            # After a restart the group coordinator reloads __consumer_offsets before it
            # answers with the group's offsets: ask until it has (bounded).
            for _ in range(150):
                offsets = await admin.list_consumer_group_offsets("g-single")
                if sum(meta.offset for meta in offsets.values()) == 100:
                    break
                await asyncio.sleep(0.2)
        finally:
            await admin.close()
        assert sum(meta.offset for meta in offsets.values()) == 100
        # ...and the messages themselves are all still there, in order.
        records, _ = await _consume(again.admin, "g-after-restart", 100, topic=topic)
        assert len(records) == 100
        assert _per_key(records) == {k: list(range(10)) for k in KEYS}
    finally:
        await asyncio.to_thread(again.stop)
    assert not again.status()["running"]


@pytest.mark.integration
async def test_three_brokers_survive_sigkill(tmp_path):
    cluster = KafkaCluster(tmp_path / "kafka3", brokers=3, heap="256m")
    topic = "ganxun-test.attendance"
    try:
        await asyncio.to_thread(cluster.start)
        bootstrap = cluster.bootstrap_servers
        bus = cluster.admin
        assert bootstrap.count(",") == 2
        await _create_topic(bus, topic, rf=3)

        producer = AIOKafkaProducer(
            **bus.client_kwargs(), acks="all", enable_idempotence=True, request_timeout_ms=30000
        )
        await producer.start()
        try:
            await _produce(producer, topic, range(5))
            killed_pid = cluster.status()["brokers"][1]["pid"]
            await asyncio.to_thread(cluster.kill_broker, 1)
            st = cluster.status()
            assert st["brokers"][1]["pid"] is None and not st["running"]
            # Dead: gone, or a zombie until whoever spawned it (init, here) collects it.
            stat = _proc_stat(killed_pid)
            assert stat is None or stat[0] in ("Z", "X"), f"broker {killed_pid} still running: {stat}"
            # min ISR 2 of RF 3: acks=all keeps working with one node down.
            await _produce(producer, topic, range(5, 10))
        finally:
            await producer.stop()

        records, committed = await _consume(bus, "g-three", 100, topic=topic)
        assert len(records) == 100
        assert _per_key(records) == {k: list(range(10)) for k in KEYS}
        assert sum(committed.values()) == 100

        await asyncio.to_thread(cluster.start_broker, 1)
        st = cluster.status()
        assert st["running"] and all(b["pid"] for b in st["brokers"])
    finally:
        await asyncio.to_thread(cluster.stop)
    assert not cluster.status()["running"]


@pytest.mark.integration
async def test_tls_is_added_to_a_stopped_cluster_kept_and_handed_to_the_services(tmp_path, monkeypatch):
    """`ganxun up --kafka-tls` on a cluster made without TLS: refused while it runs, then
    its TLS listener comes up with owner-only certificates, the deployment's principals are
    given SASL_SSL and the CA, and a later process that knows only the folder keeps TLS."""
    from deploy import cli
    from deploy.local.process import free_port
    from shared import kafka

    monkeypatch.setenv("GANXUN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GANXUN_JURISDICTIONS", "371428")
    monkeypatch.delenv("GANXUN_KAFKA_USERNAME", raising=False)  # the test run's super-user
    plain = cli._kafka(free_port())
    try:
        await asyncio.to_thread(plain.start)
        with pytest.raises(kafka_mod.ServerError, match="正在运行且未启用 TLS"):
            await asyncio.to_thread(cli._kafka(tls=True).start)
    finally:
        await asyncio.to_thread(plain.stop)
    cluster = cli._kafka(tls=True)
    try:
        await asyncio.to_thread(cluster.start)
        # Beside the broker port (19092 → 19093) when that one can be bound, else a free one
        # (test_tls_port_beside_the_broker_or_a_free_one); never one the cluster already uses.
        assert len(cluster.tls_ports) == 1
        assert cluster.tls_ports[0] not in {*plain.ports, *plain.controller_ports}
        tls_dir = tmp_path / "state" / "kafka" / "tls"
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in tls_dir.iterdir()} == {
            name: "0o600" for name in ("ca.pem", "ca.key", "broker.pem", "broker.key", "broker.p12")
        }
        env = await asyncio.to_thread(cli.bus_principals, "371428")
        assert env["selection"]["GANXUN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["selection"]["GANXUN_KAFKA_BOOTSTRAP_SERVERS"] == cluster.tls_bootstrap_servers
        assert env["selection"]["GANXUN_KAFKA_CA_FILE"] == str(tls_dir / "ca.pem")
        assert await asyncio.to_thread(cli.local_bus_env, "selection") == env["selection"]
        principal = kafka.Connection(
            env["selection"]["GANXUN_KAFKA_BOOTSTRAP_SERVERS"],
            "SASL_SSL",
            env["selection"]["GANXUN_KAFKA_USERNAME"],
            env["selection"]["GANXUN_KAFKA_PASSWORD"],
            ca_file=env["selection"]["GANXUN_KAFKA_CA_FILE"],
        )
        await kafka.ensure_topics(principal, ["ganxun.selection.371428"])  # its own topic, over TLS
        assert cli._kafka().tls_bootstrap_servers == cluster.tls_bootstrap_servers  # kept
        assert cli._kafka().clients.security_protocol == "SASL_SSL"
    finally:
        await asyncio.to_thread(cluster.stop)


def test_tls_port_beside_the_broker_or_a_free_one(monkeypatch):
    """The TLS listener goes beside the broker port when that port can be bound; a port
    taken (by a listener, or as the local end of someone's connection) gives a free one."""
    import types

    from deploy.local import kafka as local_kafka

    cluster = types.SimpleNamespace(ports=[19092], controller_ports=[19094], brokers=1)
    monkeypatch.setattr(local_kafka, "bindable", lambda host, port: True)
    assert local_kafka.KafkaCluster._new_tls_ports(cluster) == [19093]
    monkeypatch.setattr(local_kafka, "bindable", lambda host, port: port != 19093)
    other = local_kafka.KafkaCluster._new_tls_ports(cluster)
    assert len(other) == 1 and other[0] not in (19092, 19093, 19094)
    cluster.controller_ports = [19093]
    monkeypatch.setattr(local_kafka, "bindable", lambda host, port: True)
    assert local_kafka.KafkaCluster._new_tls_ports(cluster) != [19093], "the controller's port"
