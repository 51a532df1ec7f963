"""Schemathesis against each of the six real services: requests generated from the
service's own OpenAPI document (valid ones and ones the schema forbids), sent with a valid
development token, and every answer checked — no 5xx, every status one the document
declares, every body and content type the one it declares.

Bounded: FUZZ_EXAMPLES valid and FUZZ_NEGATIVE invalid requests per operation (the live
stream /api/stream, which never ends, is left out). The failures of all operations are
collected and reported together."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import ServiceProcess, auth, random_county, settings

pytestmark = pytest.mark.integration

SERVICES = ("selection", "teaching", "records", "followup", "dashboard", "reminders")
FUZZ_EXAMPLES = int(os.environ.get("GANXUN_FUZZ_EXAMPLES", "8"))
FUZZ_NEGATIVE = int(os.environ.get("GANXUN_FUZZ_NEGATIVE", "4"))
# The role of the token (GANXUN_FUZZ_ROLE); a unit token carries no unit claim unless GANXUN_FUZZ_UNIT is set.
FUZZ_ROLE = os.environ.get("GANXUN_FUZZ_ROLE", "org_department")
FUZZ_UNIT = os.environ.get("GANXUN_FUZZ_UNIT") or None
SKIP = {"/api/stream"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "schemathesis"


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module", params=SERVICES)
def service(request, servers, county, tmp_path_factory):
    logs = tmp_path_factory.mktemp("fuzz")
    with ServiceProcess(settings(request.param, servers, [county]), log=logs / f"{request.param}.log") as p:
        p.start()
        yield request.param, p


def fuzz(url: str, headers: dict) -> tuple[int, int, list[str]]:
    """(operations, requests, failures) of one service."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    failures: list[str] = []
    operations = sent = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in SKIP:
            continue
        operations += 1
        for mode, examples in (
            (GenerationMode.POSITIVE, FUZZ_EXAMPLES),
            (GenerationMode.NEGATIVE, FUZZ_NEGATIVE),
        ):

            @hsettings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal sent
                sent += 1
                case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)

            try:
                run()
            except Unsatisfiable:
                continue  # no request the schema forbids exists (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failing operation is reported
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {str(exc)[:1500]}")
    return operations, sent, failures


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(service, county):
    name, proc = service
    started = time.monotonic()
    operations, sent, failures = fuzz(proc.url, auth(FUZZ_ROLE, county, unit=FUZZ_UNIT))
    took = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.txt").write_text(
        f"{name}: {operations} operations, {sent} requests, "
        f"{len(failures)} failing operations, {took:.1f} s\n" + "\n\n".join(failures)
    )
    print(f"{name}: {operations} operations, {sent} requests, {took:.1f} s")
    assert operations > 0 and sent >= operations
    assert not failures, "\n\n".join(failures)
