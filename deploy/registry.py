"""The services this repository runs: the one list the operator tools (deploy/cli.py,
the tests, the benches) take them from. The kernel (shared/) knows no service; each
service's `__main__` hands its own definition to `shared.entrypoint.main`."""

from __future__ import annotations

import importlib

from shared.runtime import ServiceDefinition

# In the order `ganxun up` starts them (the workbench, a front end with no events, apart).
SERVICES = ("selection", "teaching", "records", "followup", "dashboard", "accounts", "reminders")


def definition(name: str) -> ServiceDefinition:
    if name not in SERVICES:
        raise SystemExit(f"未知服务 {name}；可用：{'、'.join(SERVICES)}")
    return importlib.import_module(f"services.{name}.service").DEFINITION
