"""Who may do what on the bus: one Kafka principal per deployment, and its ACLs.

A deployment (the codes in GANXUN_JURISDICTIONS) gets two SASL/SCRAM principals:

- `ganxun-<deployment>` for its four services: writes, reads and creates the topics of
  its own codes (a county exactly its own, `ganxun.selection.371428`; a city or province
  every topic under its prefix, `ganxun.selection.43…`), reads its ancestors'
  province-class topics (`ganxun.selection.430000`, never writes them) and their erasures
  topics (selection follows them: services/selection/erasures.py), uses consumer
  groups named `ganxun.<service>.<deployment>.…` and its dead-letter topics.
- `ganxun-dashboard-<deployment>` for the dashboard: reads the same topics but its
  ancestors' erasures topics, writes only its own dead letters.

Nothing else is allowed (the brokers run StandardAuthorizer with
allow.everyone.if.no.acl.found=false); a super-user (the brokers' own, `admin` on
one machine) provisions principals. `acl_plan` is pure and unit-tested; `provision`
sends the credentials and the ACLs with the Kafka protocol (AlterUserScramCredentials,
CreateAcls), which aiokafka's admin client does not wrap.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

from shared import jurisdiction as jur
from shared import kafka, topics

# Kafka's protocol codes (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DESCRIBE, DESCRIBE_CONFIGS = 3, 4, 5, 8, 10
ALLOW = 3
SCRAM_SHA_512 = 2
ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-512
DASHBOARD = "dashboard"


@dataclass(frozen=True, order=True)
class Acl:
    resource_type: int
    name: str
    pattern: int
    operation: int


def principal_name(deployment: str, service: str | None = None) -> str:
    """The principal a service of `deployment` connects as."""
    return f"ganxun-dashboard-{deployment}" if service == DASHBOARD else f"ganxun-{deployment}"


def _own(service: str, code: str) -> tuple[str, int]:
    p = jur.prefix(code)
    name = f"{topics.PREFIX}.{service}.{p}"
    return (name, LITERAL) if len(p) == 6 else (name, PREFIXED)


def acl_plan(codes: list[str], service: str | None = None) -> list[Acl]:
    """The ACLs of the principal that `principal_name(deployment, service)` names."""
    deployment = "-".join(codes)
    writer = service != DASHBOARD
    runs = topics.SERVICES if writer else (DASHBOARD,)
    acls: set[Acl] = set()
    for src in topics.STREAMS:
        for code in codes:
            name, pattern = _own(src, code)
            ops = (READ, WRITE, CREATE, DESCRIBE, DESCRIBE_CONFIGS) if writer else (READ, DESCRIBE)
            acls |= {Acl(TOPIC, name, pattern, op) for op in ops}
            if src == topics.ERASURES and not writer:
                # Erasures above its codes are read by selection's follower alone
                # (services/selection/erasures.py), never by the dashboard.
                continue
            for above in jur.ancestors(code):
                acls |= {Acl(TOPIC, f"{topics.PREFIX}.{src}.{above}", LITERAL, op) for op in (READ, DESCRIBE)}
    for svc in runs:
        acls.add(Acl(GROUP, f"{topics.PREFIX}.{svc}.{deployment}.", PREFIXED, READ))
        dlq = topics.dead_letter_topic(svc, deployment)
        acls |= {Acl(TOPIC, dlq, LITERAL, op) for op in (READ, WRITE, CREATE, DESCRIBE)}
    if not writer:
        # The runtime creates each service's own events topics at start; the dashboard
        # publishes nothing, so it may create and see them, never write.
        for code in codes:
            name, pattern = _own(DASHBOARD, code)
            acls |= {Acl(TOPIC, name, pattern, op) for op in (CREATE, DESCRIBE)}
    return sorted(acls)


# -- the two requests aiokafka does not wrap ------------------------------------------------
class _CreateAclsResponse_v1(Response):
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", String("utf-8")))),
    )


class _CreateAclsRequest_v1(RequestStruct):
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = _CreateAclsResponse_v1
    SCHEMA = Schema(
        (
            "creations",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                ("pattern_type", Int8),
                ("principal", String("utf-8")),
                ("host", String("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
            ),
        ),
    )


class _CreateAcls(Request[_CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, principal: str, acls: list[Acl]) -> None:
        self.rows = [
            (a.resource_type, a.name, a.pattern, f"User:{principal}", "*", a.operation, ALLOW) for a in acls
        ]

    def build(self, request_struct_class):
        return request_struct_class(self.rows)


class _AlterScramResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramRequest_v0]):
    API_KEY = 51

    def __init__(self, user: str, password: str) -> None:
        salt = os.urandom(32)
        # RFC 5802 SaltedPassword = Hi(password, salt, i), i.e. PBKDF2 with the mechanism's HMAC.
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
        self.upsert = (user, SCRAM_SHA_512, ITERATIONS, salt, salted, {})

    def build(self, request_struct_class):
        return request_struct_class([], [self.upsert], {})


class ProvisioningFailed(RuntimeError):
    pass


async def provision(
    admin: kafka.Bus, principal: str, password: str, acls: list[Acl], timeout: float = 30.0
) -> kafka.Connection:
    """Create (or update) `principal` with `password` and grant it `acls`, as the
    super-user `admin`. Idempotent. Returns once the principal can log in (the
    credential, and the ACLs sent before it, have reached the brokers)."""
    client = kafka.admin(admin)
    await client.start()
    try:
        response = await client._send_request(_CreateAcls(principal, acls))
        failed = [msg or f"错误码 {code}" for code, msg in response.results if code]
        if failed:
            raise ProvisioningFailed(f"为 {principal} 设置 Kafka ACL 失败：{'；'.join(failed[:3])}")
        response = await client._send_request(_AlterScram(principal, password))
        failed = [msg or f"错误码 {code}" for _user, code, msg, _tags in response.results if code]
        if failed:
            raise ProvisioningFailed(f"为 {principal} 设置 Kafka 口令失败：{'；'.join(failed)}")
    finally:
        await client.close()
    conn = kafka.connection(admin).as_user(principal, password)
    deadline = time.monotonic() + timeout
    while True:
        probe = kafka.admin(conn, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(probe.start(), 5)
            return conn
        except Exception as exc:  # noqa: BLE001 - not propagated yet: retried until the deadline
            if time.monotonic() > deadline:
                raise ProvisioningFailed(
                    f"Kafka 账号 {principal} 在 {timeout:.0f} 秒内仍无法登录：{exc}"
                ) from exc
            await asyncio.sleep(0.2)
        finally:
            await probe.close()


async def provision_deployment(
    admin: kafka.Bus, codes: list[str], service: str | None, password: str
) -> kafka.Connection:
    """The principal for `service` of the deployment serving `codes`, with its ACLs."""
    codes = [jur.validate(c) for c in codes]
    principal = principal_name("-".join(codes), service)
    return await provision(admin, principal, password, acl_plan(codes, service))
