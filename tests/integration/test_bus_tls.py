"""The bus over TLS (SASL_SSL) against the real local broker's TLS listener: a client that
trusts the cluster's CA works, one that does not is refused before it says anything, and
a service deployment configured for SASL_SSL relays and projects end to end."""

import asyncio
import dataclasses
import json
import socket
import ssl
import time
from datetime import date, timedelta

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

from deploy.local.tls import make_ca
from shared import kafka
from shared.topics import events_topic
from tests.support import (
    ServiceProcess,
    auth,
    deployment_principal,
    random_county,
    read_topic,
    settings,
    until_ok,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tls(servers):
    if not servers.kafka_tls:
        pytest.skip("this run's Kafka has no TLS listener (an outside broker)")
    return servers


def _admin_over_tls(servers) -> kafka.Connection:
    """The test run's super-user (tests/conftest.py), through the TLS listener."""
    return dataclasses.replace(
        kafka.connection(servers.kafka),
        bootstrap=servers.kafka_tls,
        security_protocol="SASL_SSL",
        ca_file=servers.kafka_ca,
    )


def _principal_over_tls(servers, codes: list[str], ca_file: str | None) -> kafka.Connection:
    p = deployment_principal(servers, codes, "selection")
    return kafka.Connection(
        servers.kafka_tls, "SASL_SSL", p["kafka_username"], p["kafka_password"], ca_file=ca_file
    )


async def _produce(bus: kafka.Connection, topic: str, value: bytes) -> None:
    producer = kafka.producer(bus)
    try:
        await producer.start()  # inside: a refused start must still close the client
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def test_a_client_trusting_the_cluster_ca_produces_and_consumes_over_tls(tls):
    county = random_county()
    topic = events_topic("selection", county)
    bus = _principal_over_tls(tls, [county], tls.kafka_ca)
    await kafka.ensure_topics(bus, [topic])  # the county's own principal, over TLS
    await _produce(bus, topic, "经 TLS 发送".encode())

    consumer = kafka.consumer(bus, f"ganxun.selection.{county}.tls-check", topic)
    await consumer.start()
    try:
        got: list[bytes] = []
        deadline = time.monotonic() + 60  # joining the group takes a while on a loaded machine
        while not got and time.monotonic() < deadline:
            got += [r.value for rs in (await consumer.getmany(timeout_ms=500)).values() for r in rs]
    finally:
        await consumer.stop()
    assert got == ["经 TLS 发送".encode()]

    # The TLS port speaks only TLS: the same principal without it is not served there.
    plain = kafka.Connection(tls.kafka_tls, "SASL_PLAINTEXT", bus.username, bus.password)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(_produce(plain, topic, b"plaintext"), 60)
    assert [r.value for r in await read_topic(_admin_over_tls(tls), topic)] == ["经 TLS 发送".encode()]


def _handshake(address: str, context: ssl.SSLContext) -> None:
    host, port = address.split(",")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host):
            pass


async def test_a_client_without_the_cluster_ca_is_refused(tls, tmp_path):
    county = random_county()
    topic = events_topic("selection", county)
    await kafka.ensure_topics(tls.kafka, [topic])
    strangers_ca = str(make_ca(tmp_path / "other-ca", "another CA"))
    for ca_file in (None, strangers_ca):  # the system's CAs only; a CA that did not sign the broker
        bus = _principal_over_tls(tls, [county], ca_file)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(_produce(bus, topic, b"should never arrive"), 60)
        # Refused for the certificate, in the handshake, before any credential is sent.
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            _handshake(tls.kafka_tls, bus.ssl_context())
    _handshake(tls.kafka_tls, kafka.Connection("x", "SSL", ca_file=tls.kafka_ca).ssl_context())
    assert await read_topic(tls.kafka, topic) == []  # nothing was written


def _open_class(url: str, county: str) -> str:
    start = date.today() + timedelta(days=10)
    r = httpx.post(
        f"{url}/classes",
        headers=auth("org_department", county, "组织部李科长"),
        json={
            "title": "2026年经加密总线开设的培训班",
            "capacity": 30,
            "starts_on": str(start),
            "ends_on": str(start + timedelta(days=20)),
            "organiser": "县委党校",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["stream_id"].removeprefix("class-")


async def test_a_service_configured_for_sasl_ssl_relays_and_projects(tls, tmp_path):
    county = random_county()
    s = settings("selection", tls, [county])
    # Only the TLS listener, with the CA: the deployment cannot reach the bus any other way.
    s = s.model_copy(
        update={"kafka_bootstrap_servers": tls.kafka_tls, "kafka_security_protocol": "SASL_SSL"}
        | {"kafka_ca_file": tls.kafka_ca}
    )
    with ServiceProcess(s, log=tmp_path / "selection.log").start() as selection:
        class_id = await asyncio.to_thread(_open_class, selection.url, county)

        async def projected():
            return await asyncio.to_thread(
                httpx.get, f"{selection.url}/classes/{class_id}", headers=auth("org_department", county)
            )

        shown = await until_ok(projected, "the class, projected from the topic read over TLS")
        assert shown.json()["title"] == "2026年经加密总线开设的培训班"
    events = await read_topic(_admin_over_tls(tls), events_topic("selection", county), expect=1)
    assert [(e["type"], e["stream_id"]) for e in map(json.loads, (r.value for r in events))] == [
        ("ClassOpened", f"class-{class_id}")
    ]
