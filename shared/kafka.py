"""Kafka clients configured the one way the backbone needs them.

Every client (producer, consumer, admin) is made here from a `Connection`: the
bootstrap servers plus how to authenticate (SASL/SCRAM-SHA-512 over plaintext on one
machine, over TLS in production). A bare bootstrap string takes its credentials from
the environment (`GANXUN_KAFKA_USERNAME` …), so tools and tests that only know the
servers' address still authenticate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Connection:
    """Where the brokers are and who this client is (a SASL principal, or nobody)."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    username: str | None = None
    password: str | None = None
    mechanism: str = MECHANISM
    ca_file: str | None = None  # TLS: the CA that signed the brokers' certificates

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise ValueError(
                f"Kafka 安全协议“{self.security_protocol}”无效，应为 {'、'.join(PROTOCOLS)} 之一"
                " (GANXUN_KAFKA_SECURITY_PROTOCOL)"
            )
        if self.security_protocol.startswith("SASL") and not (self.username and self.password):
            raise ValueError(
                f"Kafka 安全协议为 {self.security_protocol} 时需要用户名与密码"
                "（GANXUN_KAFKA_USERNAME、GANXUN_KAFKA_PASSWORD）"
            )
        if self.security_protocol.endswith("SSL"):
            self.ssl_context()  # a wrong CA file stops the service at start, with its name

    def ssl_context(self) -> ssl.SSLContext:
        """TLS that verifies the brokers' certificates and host names: against `ca_file`
        when given, else the system's trusted CAs (brokers with a public certificate)."""
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(
                f"Kafka 的 CA 证书文件“{self.ca_file}”无法读取或不是 PEM 格式的证书：{e}"
                " (GANXUN_KAFKA_CA_FILE)"
            ) from e

    def __repr__(self) -> str:  # never print the password
        return f"Connection({self.bootstrap!r}, {self.security_protocol}, user={self.username!r})"

    @classmethod
    def from_env(cls, bootstrap: str) -> Connection:
        """These brokers, as the principal the settings (GANXUN_KAFKA_USERNAME …) name."""
        from shared.settings import Settings  # which imports this module

        return dataclasses.replace(Settings().bus, bootstrap=bootstrap)

    def as_user(self, username: str, password: str) -> Connection:
        """The same brokers, as another principal."""
        protocol = "SASL_SSL" if self.security_protocol.endswith("SSL") else "SASL_PLAINTEXT"  # TLS kept
        return Connection(self.bootstrap, protocol, username, password, self.mechanism, self.ca_file)

    def env(self) -> dict[str, str]:
        """The environment that makes a child process connect as this principal."""
        out = {
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "GANXUN_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
        }
        if self.username:
            out |= {"GANXUN_KAFKA_USERNAME": self.username, "GANXUN_KAFKA_PASSWORD": self.password or ""}
        if self.ca_file:
            out["GANXUN_KAFKA_CA_FILE"] = self.ca_file
        return out

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            kw |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol.endswith("SSL"):
            kw["ssl_context"] = self.ssl_context()
        return kw


Bus = str | Connection


class TopicsRefused(RuntimeError):
    """The brokers would not create some topics (most often: this principal may not)."""

    def __init__(self, refused: list[tuple[str, int]]) -> None:
        names = "、".join(f"{name}（错误码 {code}）" for name, code in refused)
        super().__init__(f"Kafka 拒绝创建主题：{names}；本部署的 Kafka 账号可能无权创建这些主题")
        self.refused = refused


def connection(bus: Bus) -> Connection:
    return bus if isinstance(bus, Connection) else Connection.from_env(bus)


def admin(bus: Bus, **kw) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection(bus).client_kwargs(), **kw)


# Topics are created explicitly (brokers run with auto-create off); history is kept
# forever because projections are rebuilt from the topics.
TOPIC_CONFIG = {"retention.ms": "-1", "cleanup.policy": "delete"}


def producer(bus: Bus, **kw) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection(bus).client_kwargs(),
        enable_idempotence=True,  # no duplicates from producer retries, order kept per partition
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
        **kw,
    )


# A county's read models (selection, teaching, records, follow-up) fetch this much per
# partition, and pass it as their `ServiceDefinition.consumer_options`. Their projectors follow
# services' topics of a county and of its city and province (9-24 partitions, more for a small
# city's several counties); while they fold a backlog every partition has data, so at the
# kernel's 4 MiB aiokafka could hold 36-96 MiB of fetched bytes per process, and selection and
# records passed 200 MB right after folding years of history (docs/benchmarks.md, "Every read
# at 20,000 cadres × five years"). A batch of 1,000 events is ~300 kB (events of ~300 bytes):
# at 256 KiB a partition one fetch round of nine partitions still brings several batches.
COUNTY_PARTITION_FETCH_BYTES = 256 * 1024
COUNTY_FETCH_MAX_BYTES = 4 * 1024 * 1024


def county_fetch() -> dict[str, int]:
    """The consumer options of a county's read-model services (see above)."""
    return {
        "max_partition_fetch_bytes": COUNTY_PARTITION_FETCH_BYTES,
        "fetch_max_bytes": COUNTY_FETCH_MAX_BYTES,
    }


def consumer(bus: Bus, group_id: str | None, *topics: str, **kw) -> AIOKafkaConsumer:
    # aiokafka keeps what it fetched per partition until it is consumed and goes on fetching
    # for every other partition meanwhile: up to one chunk per partition is held in memory. A
    # consumer of many partitions (a province dashboard's ~1,200) passes a smaller chunk.
    kw = {"max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_bytes": 16 * 1024 * 1024, **kw}
    return AIOKafkaConsumer(
        *topics,
        **connection(bus).client_kwargs(),
        group_id=group_id,
        enable_auto_commit=False,  # offsets are committed only after the projection write
        auto_offset_reset="earliest",
        metadata_max_age_ms=3_000,  # pattern subscriptions notice new county topics quickly
        # A crashed member holds its partitions until its session expires: keep that
        # short (the broker's minimum) so a restarted projector resumes quickly.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_500,
        **kw,
    )


async def ensure_topics(
    bus: Bus,
    topics: list[str],
    partitions: int = 3,
    replication: int = 1,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create the topics that do not exist, with TOPIC_CONFIG overridden per topic by
    `configs` (a dead-letter topic's bounded retention); an existing topic keeps its own."""
    configs = configs or {}
    client = admin(bus)
    await client.start()
    try:
        existing = set(await client.list_topics())
        new = [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs={**TOPIC_CONFIG, **configs.get(t, {})},
            )
            for t in topics
            if t not in existing
        ]
        if new:
            try:
                response = await client.create_topics(new)
            except TopicAlreadyExistsError:
                response = None
            refused = [
                (t[0], t[1])
                for t in getattr(response, "topic_errors", [])
                if t[1] not in (0, TopicAlreadyExistsError.errno)
            ]
            if refused:
                raise TopicsRefused(refused)
        # Creation is asynchronous on the brokers: wait until metadata shows them.
        for _ in range(100):
            if set(topics) <= set(await client.list_topics()):
                return
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def partitions(bus: Bus, pattern) -> list:
    """Every partition of the topics whose names match `pattern` (a compiled regex)."""
    from aiokafka import TopicPartition

    client = admin(bus)
    await client.start()
    try:
        names = sorted(t for t in await client.list_topics() if pattern.match(t))
        if not names:
            return []
        described = await client.describe_topics(names)
    finally:
        await client.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in sorted(described, key=lambda t: t["topic"])
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]
