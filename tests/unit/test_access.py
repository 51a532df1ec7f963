"""Every route declares the roles it admits (shared/access.py), and the declaration is what
the route enforces: another role gets 403 `wrong_role` before the route runs (no server)."""

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

import shared.contracts  # noqa: F401
from deploy.registry import definition
from shared.access import ROLES_KEY, admits, declared
from shared.api import create_app
from shared.auth import ROLES, Principal
from shared.entrypoint import settings_for
from shared.errors import GanxunError

# The services the deny matrix runs against (tests/integration/test_deny_matrix.py).
SERVICES = ("selection", "teaching", "records", "followup", "accounts", "reminders", "dashboard")
OPEN = {"/healthz", "/readyz"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_declares_the_roles_it_admits(service):
    doc = create_app(definition(service), settings_for(service, env="dev", movable_clock=True)).openapi()
    undeclared = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        if path not in OPEN
        for method, op in ops.items()
        if declared(op) is None
    ]
    assert undeclared == []
    for path, ops in doc["paths"].items():
        for op in ops.values():
            roles = op.get(ROLES_KEY, [])
            assert set(roles) <= set(ROLES), (path, roles)
            if roles:
                assert "可用角色：" in op["description"], path


def _app(*roles: str) -> FastAPI:
    class Verifier:
        async def averify(self, authorization):
            role = authorization.split(" ", 1)[1]
            return Principal(user_id="u1", name="某人", role=role, jurisdiction="371428")

    class Runtime:
        verifier = Verifier()

    app = FastAPI()
    app.state.runtime = Runtime()
    router = APIRouter()

    @router.get("/thing", **admits(*roles))
    async def thing():
        return {"ok": True}

    app.include_router(router)

    @app.exception_handler(GanxunError)
    async def refused(request, exc: GanxunError):
        from fastapi.responses import JSONResponse

        return JSONResponse(exc.to_dict(), status_code=exc.status)

    return app


def test_a_role_not_declared_is_refused_in_chinese_before_the_route_runs():
    client = TestClient(_app("org_department", "unit"))
    assert client.get("/thing", headers={"Authorization": "Bearer unit"}).json() == {"ok": True}
    r = client.get("/thing", headers={"Authorization": "Bearer trainee"})
    assert r.status_code == 403
    assert r.json()["code"] == "wrong_role"
    assert "组织部、调训单位" in r.json()["message"]


def test_an_unknown_role_cannot_be_declared():
    with pytest.raises(ValueError):
        admits("teacher")
    with pytest.raises(ValueError):
        admits()


def test_a_command_deciding_from_the_reads_waits_for_the_tokens_it_is_given_and_no_other_does():
    """Selection's scope is drawn from its read index: given X-Ganxun-After it waits as a read
    does (and says how it went); any other command ignores the header."""
    waited: list[list[str]] = []

    class Runtime:
        verifier = _app("org_department").state.runtime.verifier

        async def wait_for(self, written):
            waited.append([str(w) for w in written])
            return "fresh"

    app = FastAPI()
    app.state.runtime = Runtime()
    router = APIRouter()

    @router.post("/draw", **admits("org_department", decides_from_reads=True))
    async def draw():
        return {"ok": True}

    @router.post("/other", **admits("org_department"))
    async def other():
        return {"ok": True}

    app.include_router(router)
    client = TestClient(app)
    headers = {"Authorization": "Bearer org_department", "X-Ganxun-After": "selection.371428:cadre-c1@1"}
    assert client.post("/other", headers=headers).json() == {"ok": True}
    assert waited == []
    assert client.post("/draw", headers=headers).json() == {"ok": True}
    assert waited == [["selection.371428:cadre-c1@1"]]
