"""A nomination made over HTTP in selection reaches teaching's roster through real Kafka."""

from datetime import date, timedelta

import httpx
import pytest

from tests.support import ServiceProcess, auth, eventually, settings

pytestmark = pytest.mark.integration

WUCHENG, XUNDIAN = "371428", "530129"


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    """One selection and one teaching process serving both counties (config, not a fork)."""
    logs = tmp_path_factory.mktemp("e2e")
    procs = [ServiceProcess(settings(name, servers, [WUCHENG, XUNDIAN]), log=logs / f"{name}.log")
             for name in ("selection", "teaching")]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop()


def _open_class(url: str, county: str, capacity: int = 30) -> str:
    start = date.today() + timedelta(days=10)
    r = httpx.post(f"{url}/classes", headers=auth("org_department", county, "组织部李科长"), json={
        "title": "2026年中青年干部培训班", "capacity": capacity, "starts_on": str(start),
        "ends_on": str(start + timedelta(days=20)), "organiser": "县委党校",
    })
    assert r.status_code == 201, r.text
    return r.json()["stream_id"].removeprefix("class-")


async def test_nomination_reaches_teaching_roster(deployment):
    selection, teaching = deployment
    class_id = _open_class(selection.url, WUCHENG)
    r = httpx.post(f"{selection.url}/classes/{class_id}/nominations", headers=auth("unit", WUCHENG, "财政局王主任"),
                   json={"cadre_id": "C-001", "name": "张伟", "unit": "县财政局"})
    assert r.status_code == 201, r.text
    assert r.json()["events"] == ["TraineeNominated"]

    async def roster():
        resp = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", WUCHENG))
        return resp.json() if resp.status_code == 200 and resp.json()["trainees"] else None

    doc = await eventually(roster, timeout=30)
    assert doc["trainees"] == [{"cadre_id": "C-001", "name": "张伟", "unit": "县财政局", "status": "nominated"}]
    assert doc["jurisdiction"] == WUCHENG and doc["size"] == 1


async def test_other_county_gets_403_and_no_token_gets_401(deployment):
    selection, teaching = deployment
    class_id = _open_class(selection.url, XUNDIAN)

    async def synced():
        resp = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", XUNDIAN))
        return resp.status_code == 200

    await eventually(synced)
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("party_school", WUCHENG))
    assert r.status_code == 403 and r.json()["code"] == "wrong_jurisdiction"
    assert "530129" in r.json()["message"]
    r = httpx.get(f"{selection.url}/classes/{class_id}", headers=auth("org_department", WUCHENG))
    assert r.status_code == 403
    r = httpx.post(f"{selection.url}/classes/{class_id}/nominations", headers=auth("unit", WUCHENG),
                   json={"cadre_id": "C-9", "name": "李娜", "unit": "武城县教育局"})
    assert r.status_code == 403
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster")
    assert r.status_code == 401 and r.json()["code"] == "missing_token"
    r = httpx.get(f"{teaching.url}/classes/{class_id}/roster", headers=auth("unit", XUNDIAN))
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"


async def test_rules_and_bad_input_are_clear_and_change_nothing(deployment):
    selection, _ = deployment
    class_id = _open_class(selection.url, WUCHENG, capacity=1)
    url = f"{selection.url}/classes/{class_id}/nominations"
    h = auth("unit", WUCHENG)
    assert httpx.post(url, headers=h, json={"cadre_id": "A", "name": "甲", "unit": "县委办"}).status_code == 201
    full = httpx.post(url, headers=h, json={"cadre_id": "B", "name": "乙", "unit": "县委办"})
    assert full.status_code == 422 and full.json()["code"] == "class_full" and "名额已满" in full.json()["message"]
    bad = httpx.post(url, headers=h, json={"cadre_id": "", "name": "丙"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input" and "unit" in bad.json()["message"]

    async def nominations():
        resp = httpx.get(f"{selection.url}/classes/{class_id}", headers=auth("org_department", WUCHENG))
        return resp.json()["nominations"] if resp.status_code == 200 and resp.json().get("nominations") else None

    assert [n["cadre_id"] for n in await eventually(nominations)] == ["A"]


def test_health_and_readiness(deployment):
    for p in deployment:
        assert httpx.get(p.url + "/healthz").json()["status"] == "alive"
        ready = httpx.get(p.url + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "store": "ok", "kafka": "ok"}
