"""A nomination made over HTTP in selection reaches teaching's roster through real Kafka."""

import time
from datetime import date, timedelta

import httpx
import pytest

from services.selection.cadres import id_check_digit
from tests.support import ServiceProcess, auth, eventually, settings

pytestmark = pytest.mark.integration

WUCHENG, XUNDIAN = "371428", "530129"


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    """One selection and one teaching process serving both counties (config, not a fork)."""
    logs = tmp_path_factory.mktemp("e2e")
    procs = [
        ServiceProcess(settings(name, servers, [WUCHENG, XUNDIAN]), log=logs / f"{name}.log")
        for name in ("selection", "teaching")
    ]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop()


def _register(url: str, county: str, name: str, unit: str, seq: int) -> str:
    """A cadre in the county's registry, visible to the API (nominations are made from it)."""
    first17 = f"371428199003{seq:02d}{seq:03d}"
    r = httpx.post(
        f"{url}/cadres",
        headers=auth("org_department", county, "组织部李科长"),
        json={"name": name, "id_number": first17 + id_check_digit(first17), "unit": unit, "rank": "副科"},
    )
    assert r.status_code == 201, r.text
    cadre_id = r.json()["cadre_id"]
    for _ in range(150):
        if httpx.get(f"{url}/cadres/{cadre_id}", headers=auth("org_department", county)).status_code == 200:
            return cadre_id
        time.sleep(0.2)
    raise AssertionError(f"cadre {name} never reached the registry")


def _scope(url: str, county: str, class_id: str) -> None:
    r = httpx.post(
        f"{url}/classes/{class_id}/scope", headers=auth("org_department", county), json={"ranks": ["副科"]}
    )
    assert r.status_code == 201, r.text


def _open_class(url: str, county: str, capacity: int = 30) -> str:
    start = date.today() + timedelta(days=10)
    r = httpx.post(
        f"{url}/classes",
        headers=auth("org_department", county, "组织部李科长"),
        json={
            "title": "2026年中青年干部培训班",
            "capacity": capacity,
            "starts_on": str(start),
            "ends_on": str(start + timedelta(days=20)),
            "organiser": "县委党校",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["stream_id"].removeprefix("class-")


async def test_nomination_reaches_teaching_roster(deployment):
    selection, teaching = deployment
    cadre_id = _register(selection.url, WUCHENG, "张伟", "县财政局", 1)
    class_id = _open_class(selection.url, WUCHENG)
    _scope(selection.url, WUCHENG, class_id)
    r = httpx.post(
        f"{selection.url}/classes/{class_id}/nominations",
        headers=auth("unit", WUCHENG, "财政局王主任", unit="县财政局"),
        json={"cadre_id": cadre_id},
    )
    assert r.status_code == 201, r.text
    assert r.json()["events"] == ["TraineeNominated"]
    # Teaching's roster lists every nominee with a status; only confirmed ones may check in.
    r = httpx.post(
        f"{selection.url}/classes/{class_id}/nominations/{cadre_id}/confirm",
        headers=auth("org_department", WUCHENG, "组织部李科长"),
    )
    assert r.status_code == 201 and r.json()["events"] == ["NominationConfirmed"], r.text

    async def roster():
        resp = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", WUCHENG))
        doc = resp.json() if resp.status_code == 200 else {}
        return doc if doc.get("confirmed") else None

    doc = await eventually(roster, timeout=30)
    assert doc["trainees"] == [
        {"cadre_id": cadre_id, "name": "张伟", "unit": "县财政局", "status": "confirmed"}
    ]
    assert doc["jurisdiction"] == WUCHENG and doc["size"] == 1 and doc["confirmed"] == 1


async def test_other_county_gets_403_and_no_token_gets_401(deployment):
    selection, teaching = deployment
    class_id = _open_class(selection.url, XUNDIAN)

    async def synced():
        resp = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", XUNDIAN))
        return resp.status_code == 200

    await eventually(synced)
    # Another county's class answers as one nobody opened, naming no county (shared/scoped_ids.py)
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", WUCHENG))
    assert (r.status_code, r.json()["code"]) == (404, "class_not_found")
    assert "530129" not in r.json()["message"] and "371428" not in r.json()["message"]
    r = httpx.get(f"{selection.url}/classes/{class_id}", headers=auth("org_department", WUCHENG))
    assert r.status_code == 404
    cadre_id = _register(selection.url, WUCHENG, "李娜", "武城县教育局", 9)
    r = httpx.post(
        f"{selection.url}/classes/{class_id}/nominations",
        headers=auth("unit", WUCHENG, unit="武城县教育局"),
        json={"cadre_id": cadre_id},
    )
    assert (r.status_code, r.json()["code"]) == (404, "class_not_found")
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster")
    assert r.status_code == 401 and r.json()["code"] == "missing_token"
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("unit", XUNDIAN))
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"


async def test_rules_and_bad_input_are_clear_and_change_nothing(deployment):
    selection, _ = deployment
    a = _register(selection.url, WUCHENG, "甲", "县委办", 21)
    class_id = _open_class(selection.url, WUCHENG, capacity=1)
    _scope(selection.url, WUCHENG, class_id)
    url = f"{selection.url}/classes/{class_id}/nominations"
    h = auth("unit", WUCHENG, unit="县委办")
    assert httpx.post(url, headers=h, json={"cadre_id": a}).status_code == 201
    again = httpx.post(url, headers=h, json={"cadre_id": a})
    assert (
        again.status_code == 422
        and again.json()["code"] == "already_nominated"
        and "已被推荐" in again.json()["message"]
    )
    bad = httpx.post(url, headers=h, json={"cadre_id": ""})
    assert (
        bad.status_code == 422 and bad.json()["code"] == "invalid_input" and bad.json()["field"] == "cadre_id"
    )
    assert "干部编号" in bad.json()["message"]  # the field named in Chinese

    async def nominations():
        resp = httpx.get(
            f"{selection.url}/classes/{class_id}/nominations", headers=auth("org_department", WUCHENG)
        )
        return resp.json()["items"] if resp.status_code == 200 and resp.json().get("items") else None

    assert [n["cadre_id"] for n in await eventually(nominations)] == [a]


def test_health_and_readiness(deployment):
    for p in deployment:
        assert httpx.get(p.url + "/healthz").json()["status"] == "alive"
        ready = httpx.get(p.url + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "store": "ok", "kafka": "ok"}
