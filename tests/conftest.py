"""Real servers for integration tests, started once per test run.

Chosen in this order: servers named by KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI; the
official Kafka and MongoDB images through testcontainers where a Docker engine
answers; otherwise the project's own local Kafka (KRaft) and FerretDB.

The local Kafka also listens with SASL_SSL (its own CA, `servers.kafka_tls` and
`servers.kafka_ca`) for the TLS tests (tests/integration/test_bus_tls.py); the rest of
the suite talks SASL_PLAINTEXT on loopback unless GANXUN_TEST_KAFKA_TLS=1, which runs
every client of the run over TLS (docs/bus.md, "TLS on the bus": why not by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

import shared.contracts  # noqa: F401  (every event type registered)


@dataclass(frozen=True)
class Servers:
    kafka: str
    mongodb: str
    how: str
    kafka_tls: str | None = None  # the local Kafka's SASL_SSL listeners
    kafka_ca: str | None = None  # the CA that signed their certificate


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no"
        return False


def _official_kafka_container():
    """The official apache/kafka image as one KRaft node (testcontainers' KafkaContainer
    is built for Confluent's image). The host port is fixed to the advertised one."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from deploy.local.process import free_port

    port = free_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_LOG_RETENTION_MS": "-1",
    }
    c = DockerContainer("apache/kafka:4.1.0").with_bind_ports(9092, port)
    for k, v in env.items():
        c = c.with_env(k, v)
    c.start()
    wait_for_logs(c, "Kafka Server started", timeout=120)
    return c, f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Servers:
    env_kafka, env_mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    started = []
    kafka = mongo = kafka_tls = kafka_ca = None
    how = []
    if env_kafka:
        kafka, _ = env_kafka, how.append("kafka from KAFKA_BOOTSTRAP_SERVERS")
    if env_mongo:
        mongo, _ = env_mongo, how.append("store from MONGODB_URI")
    if (kafka is None or mongo is None) and _docker_answers():
        from testcontainers.community.mongodb import MongoDbContainer

        if kafka is None:
            c, kafka = _official_kafka_container()
            started.append(c)
            how.append("kafka via testcontainers")
        if mongo is None:
            c = MongoDbContainer("mongo:8")
            c.start()
            started.append(c)
            mongo = c.get_connection_url()
            how.append("store via testcontainers")
    if kafka is None or mongo is None:
        from deploy.local.ferretdb import FerretDBServer
        from deploy.local.kafka import KafkaCluster

        root = tmp_path_factory.mktemp("servers")
        if mongo is None:
            store = FerretDBServer(root / "store")
            store.start()
            started.append(store)
            mongo = store.uri
            how.append("local FerretDB")
        if kafka is None:
            cluster = KafkaCluster(root / "kafka", tls=True)
            cluster.start()
            started.append(cluster)
            kafka_tls, kafka_ca = cluster.tls_bootstrap_servers, str(cluster.ca_file)
            everything_tls = os.environ.get("GANXUN_TEST_KAFKA_TLS") == "1"
            admin = cluster.admin_tls if everything_tls else cluster.admin
            kafka = admin.bootstrap
            # The test process itself is the super-user: helpers that only know the
            # address (kafka.producer(servers.kafka), read_topic, publish) authenticate
            # as it. Services get a principal of their own (tests/support.settings).
            os.environ.update(admin.env())
            how.append(f"local Kafka (KRaft, SASL/SCRAM + ACLs, {admin.security_protocol})")
    yield Servers(kafka, mongo, ", ".join(how), kafka_tls, kafka_ca)
    for s in reversed(started):
        s.stop()


@pytest.fixture(scope="session", autouse=True)
def _state_dir(tmp_path_factory):
    """Development keys and state of this test run, apart from a developer's `ganxun up`."""
    os.environ["GANXUN_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    # Services in and out of process verify `tests/support.token`'s development tokens.
    os.environ["GANXUN_ENV"] = "dev"
    yield


@pytest.fixture(scope="session")
def identity(tmp_path_factory):
    """A real Keycloak with the `ganxun` realm, started once per run and only if a test asks
    (about 45 s and 450 MB). GANXUN_TEST_KEYCLOAK_URL is not offered: the tests create
    users and clients through its admin API, which a shared server should not get."""
    from deploy.local.keycloak import KeycloakServer
    from tests.keycloak_support import Identity

    server = KeycloakServer(tmp_path_factory.mktemp("keycloak"))
    server.start()
    ident = Identity(server)
    try:
        ident.ensure_test_client()
        yield ident
    finally:
        server.stop()
