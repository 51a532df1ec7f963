"""`ganxun` commands that need no server: docs, token, clear errors."""

import json
import os
from pathlib import Path

import pytest

from deploy.cli import main
from shared.auth import Verifier, ensure_dev_keys


def test_openapi_without_a_server(capsys):
    main(["docs", "openapi", "selection"])
    doc = json.loads(capsys.readouterr().out)
    assert "/classes/{class_id}/nominations" in doc["paths"]
    assert doc["paths"]["/classes"]["post"]["summary"] == "开设班次"


def test_asyncapi_lists_published_and_consumed_events(capsys):
    main(["docs", "asyncapi", "teaching"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["asyncapi"].startswith("3.")
    channels = doc["channels"]
    assert "class_roster:TraineeNominated" in channels
    assert channels["class_roster:TraineeNominated"]["address"] == "ganxun.selection.{jurisdiction}"
    schemas = doc["components"]["schemas"]
    assert "TraineeNominatedV1" in schemas and "jurisdiction" in schemas["TraineeNominatedV1"]["properties"]
    # The bus needs SASL/SCRAM-SHA-512; the document says so (and names no password).
    assert doc["components"]["securitySchemes"] == {"scram512": {"type": "scramSha512"}}


def test_token_is_signed_with_the_development_key(capsys):
    main(["token", "--role", "unit", "--jurisdiction", "371428", "--name", "王主任"])
    token = capsys.readouterr().out.strip()
    _, public = ensure_dev_keys(Path(os.environ["GANXUN_STATE_DIR"]) / "keys")
    who = Verifier(public_pem=public).verify(f"Bearer {token}")
    assert (who.role, who.jurisdiction, who.name) == ("unit", "371428", "王主任")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["token", "--role", "boss", "--jurisdiction", "371428", "--name", "x"], "未知角色"),
        (["token", "--role", "unit", "--jurisdiction", "3714", "--name", "x"], "六位数字"),
        (["rebuild", "selection", "nonexistent"], "没有名为 nonexistent 的投影"),
    ],
)
def test_bad_input_says_what_was_wrong(argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert message in str(e.value)


def test_rebuilding_a_service_without_projections_says_so(monkeypatch):
    # Every service gains projections with its own issue, so the case is made here.
    from fastapi import APIRouter

    import deploy.registry
    from shared.runtime import ServiceDefinition

    empty = ServiceDefinition(name="records", title="t", description="d", projections=[], routes=APIRouter)
    monkeypatch.setattr(deploy.registry, "definition", lambda name: empty)
    with pytest.raises(SystemExit) as e:
        main(["rebuild", "records"])
    assert "没有投影可重建" in str(e.value)
