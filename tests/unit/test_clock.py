"""The one development clock (shared/clock.py): movable only where its flag is set, never
beside production keys or an identity provider; its route exists only then."""

from __future__ import annotations

import pytest

from shared.clock import PRODUCTION_KEYS, movable


@pytest.mark.parametrize("production_key", PRODUCTION_KEYS)
@pytest.mark.parametrize("flag", ["GANXUN_SELECTION_MOVABLE_CLOCK", "GANXUN_FOLLOWUP_MOVABLE_CLOCK"])
def test_a_movable_clock_is_refused_beside_production_keys_or_an_identity_provider(
    monkeypatch, flag, production_key
):
    assert "GANXUN_OIDC_ISSUER" in PRODUCTION_KEYS
    for k in (*PRODUCTION_KEYS, "GANXUN_ENV"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv(flag, "1")
    assert movable(flag)
    monkeypatch.setenv(production_key, "https://sso.example.gov.cn/realms/ganxun")
    with pytest.raises(SystemExit, match="生产配置"):
        movable(flag)
    # `ganxun up` trusts its local Keycloak beside the dev key and says it is a development
    # deployment: the demo's clock stays movable there, and only there.
    monkeypatch.setenv("GANXUN_ENV", "dev")
    assert movable(flag)


def paths(service: str) -> set[str]:
    """The paths the service's app serves, as its deployment's settings make it (the clock's
    route comes from the kernel, or from a service that still adds it itself)."""
    from deploy.registry import definition
    from shared.api import create_app
    from shared.settings import Settings

    return set(create_app(definition(service), Settings(service=service)).openapi()["paths"])


@pytest.mark.parametrize(
    "service, flag",
    [("selection", "GANXUN_SELECTION_MOVABLE_CLOCK"), ("followup", "GANXUN_FOLLOWUP_MOVABLE_CLOCK")],
)
def test_the_clock_route_exists_only_in_a_development_deployment(monkeypatch, service, flag):
    for k in (*PRODUCTION_KEYS, "GANXUN_ENV"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv(flag, raising=False)
    assert "/admin/clock" not in paths(service)
    monkeypatch.setenv(flag, "1")
    assert "/admin/clock" in paths(service)
    monkeypatch.setenv("GANXUN_OIDC_ISSUER", "https://sso.example.gov.cn/realms/ganxun")
    with pytest.raises(SystemExit):
        paths(service)
    monkeypatch.delenv(flag)
    assert "/admin/clock" not in paths(service)


def test_an_unmoved_or_fixed_clock_is_the_real_china_day():
    import asyncio

    from shared.clock import StoreClock, local_today
    from shared.memory import MemoryDatabase

    assert asyncio.run(StoreClock(MemoryDatabase(), movable=False).today()) == local_today()


@pytest.mark.parametrize("service", ["teaching", "records", "dashboard"])
def test_the_kernel_mounts_the_clock_route_for_any_service_whose_flag_is_set(monkeypatch, service):
    from fastapi import APIRouter

    from shared.api import create_app
    from shared.runtime import ServiceDefinition
    from shared.settings import Settings

    for k in (*PRODUCTION_KEYS, "GANXUN_ENV"):
        monkeypatch.delenv(k, raising=False)
    defn = ServiceDefinition(name=service, title="t", description="d", projections=[], routes=APIRouter())

    def served(**kw) -> set[str]:
        return set(create_app(defn, Settings(service=service, **kw)).openapi()["paths"])

    assert "/admin/clock" not in served()
    monkeypatch.setenv(f"GANXUN_{service.upper()}_MOVABLE_CLOCK", "1")
    assert "/admin/clock" in served()
    assert "/admin/clock" not in served(movable_clock=False)
    with pytest.raises(SystemExit, match="生产配置"):
        served(oidc_issuer="https://sso.example.gov.cn/realms/ganxun")
    assert "/admin/clock" in served(oidc_issuer="https://sso.example.gov.cn/realms/ganxun", env="dev")


def test_add_months_keeps_the_day_or_takes_the_months_last():
    from datetime import date

    from shared.clock import add_months

    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
