"""Every service's OpenAPI document declares how to authenticate and each protected
route's 401 and 403 (no server needed)."""

import pytest

import shared.contracts  # noqa: F401
from deploy.registry import SERVICES, definition
from shared.api import create_app
from shared.entrypoint import settings_for

ISSUER = "https://sso.example.gov.cn/realms/ganxun"
PUBLIC = {"/healthz", "/readyz"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_but_the_health_checks_declares_its_token_and_its_401_and_403(service):
    doc = create_app(definition(service), settings_for(service, oidc_issuer=ISSUER, env="dev")).openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        **schemes["bearer"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schemes["oidc"]["openIdConnectUrl"] == f"{ISSUER}/.well-known/openid-configuration"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in PUBLIC:
                assert not op.get("security"), f"{path} asks for a token"  # [] overrides the document's
                continue
            assert op.get("security"), f"{method} {path} declares no security"
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path} lacks 401/403"
            ref = op["responses"]["403"]["content"]["application/json"]["schema"]["$ref"]
            error = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert {"code", "message", "field"} <= set(error["properties"]), f"{method} {path}: {ref}"
