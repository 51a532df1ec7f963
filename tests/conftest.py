"""Real servers for integration tests, started once per test run.

Chosen in this order: servers named by KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI; the
official Kafka and MongoDB images through testcontainers where a Docker engine
answers; otherwise the project's own local Kafka (KRaft) and FerretDB.
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


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no"
        return False


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Servers:
    env_kafka, env_mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    started = []
    kafka = mongo = None
    how = []
    if env_kafka:
        kafka, _ = env_kafka, how.append("kafka from KAFKA_BOOTSTRAP_SERVERS")
    if env_mongo:
        mongo, _ = env_mongo, how.append("store from MONGODB_URI")
    if (kafka is None or mongo is None) and _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

        if kafka is None:
            c = KafkaContainer("apache/kafka:4.1.0").with_kraft()
            c.start()
            started.append(c)
            kafka = c.get_bootstrap_server()
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
            cluster = KafkaCluster(root / "kafka")
            cluster.start()
            started.append(cluster)
            kafka = cluster.bootstrap_servers
            how.append("local Kafka (KRaft)")
    yield Servers(kafka, mongo, ", ".join(how))
    for s in reversed(started):
        s.stop()


@pytest.fixture(scope="session", autouse=True)
def _state_dir(tmp_path_factory):
    """Development keys and state of this test run, apart from a developer's `ganxun up`."""
    os.environ["GANXUN_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    yield
