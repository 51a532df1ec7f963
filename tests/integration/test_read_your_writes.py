"""Read-your-writes over HTTP against real Kafka and the real store (shared/consistency.py):
a clerk's registration read back at once with the token its answer gave is always there;
a second process of the service, which folds nothing itself, answers the same from the
store; a token of a stream never written answers within the bound, saying it is stale; a
caller the route refuses is answered at once, without waiting; a malformed token is refused in
Chinese."""

import time
from datetime import date, timedelta

import httpx
import pytest

from services.selection.cadres import id_check_digit
from shared import kafka
from shared.topics import events_topic
from tests.support import ServiceProcess, auth, random_county, settings

pytestmark = pytest.mark.integration
BOUND = 2.0  # GANXUN_READ_WAIT_SECONDS of the processes here
IN_A_ROW = 50


def _id_number(county: str, i: int) -> str:
    first17 = f"{county}{date(1975, 1, 1) + timedelta(days=i * 13):%Y%m%d}{i % 1000:03d}"
    return first17 + id_check_digit(first17)


def cadre(county: str, i: int) -> dict:
    return {"name": f"王读{i:03d}", "id_number": _id_number(county, i), "unit": "县财政局", "rank": "科员"}


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
async def deployment(servers, county, tmp_path_factory):
    """The selection service (API, relay, projectors) and a second API-only process on the
    same store, as a deployment with several processes per service would have."""
    await kafka.ensure_topics(servers.kafka, [events_topic(s, county) for s in ("teaching", "followup")])
    s = settings("selection", servers, [county])
    logs = tmp_path_factory.mktemp("ryw")
    env = {"GANXUN_READ_WAIT_SECONDS": str(BOUND)}
    with ServiceProcess(s, log=logs / "selection.log", env=env).start() as whole:
        with ServiceProcess(s, components="api", log=logs / "api-only.log", env=env).start() as api_only:
            yield whole.url, api_only.url


def _register(url: str, dept: dict, county: str, i: int) -> str:
    r = httpx.post(f"{url}/cadres", headers=dept, json=cadre(county, i), timeout=30)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["x-ganxun-token"] == body["token"]
    assert body["token"] == f"selection.{county}:cadre-{body['cadre_id']}@1"
    return body


def test_a_registration_read_at_once_with_its_token_is_always_there(deployment, county):
    url, _ = deployment
    dept = auth("org_department", county)
    missed_without_token = 0
    waits = []
    for i in range(IN_A_ROW):
        body = _register(url, dept, county, i)
        # Without the token, as before: may miss (counted, not asserted).
        plain = httpx.get(f"{url}/cadres/{body['cadre_id']}", headers=dept, timeout=30)
        missed_without_token += plain.status_code == 404
        began = time.monotonic()
        r = httpx.get(
            f"{url}/cadres/{body['cadre_id']}", headers={**dept, "X-Ganxun-After": body["token"]}, timeout=30
        )
        waits.append(time.monotonic() - began)
        assert r.status_code == 200, f"registration {i} not readable with its token: {r.text}"
        assert r.json()["name"] == f"王读{i:03d}" and r.headers["x-ganxun-consistency"] == "fresh"
    print(
        f"\n{IN_A_ROW} registrations read at once with the token: all there; without it: "
        f"{missed_without_token} missed; the wait p50 {sorted(waits)[len(waits) // 2] * 1000:.0f} ms, "
        f"max {max(waits) * 1000:.0f} ms"
    )


def test_the_registry_list_shows_the_writers_new_cadre_at_once(deployment, county):
    url, _ = deployment
    dept = auth("org_department", county)
    body = _register(url, dept, county, 500)
    r = httpx.get(f"{url}/cadres", params={"q": "王读500"}, headers={**dept, "X-Ganxun-After": body["token"]})
    assert [c["name"] for c in r.json()["items"]] == ["王读500"]


def test_another_process_of_the_service_answers_fresh_from_the_store(deployment, county):
    """The API-only process runs no projector: it learns from the store (the outbox and the
    projections' recorded positions) that the write was applied."""
    url, api_only = deployment
    dept = auth("org_department", county)
    for i in range(600, 605):
        body = _register(url, dept, county, i)
        r = httpx.get(
            f"{api_only}/cadres/{body['cadre_id']}",
            headers={**dept, "X-Ganxun-After": body["token"]},
            timeout=30,
        )
        assert r.status_code == 200 and r.headers["x-ganxun-consistency"] == "fresh", r.text
        assert r.json()["name"] == f"王读{i:03d}"


@pytest.mark.parametrize("which", ["whole", "api_only"])
def test_a_token_of_a_stream_never_written_answers_within_the_bound(deployment, county, which):
    url = dict(zip(("whole", "api_only"), deployment))[which]
    dept = auth("org_department", county)
    began = time.monotonic()
    r = httpx.get(
        f"{url}/cadres",
        headers={**dept, "X-Ganxun-After": f"selection.{county}:cd-never-written@3"},
        timeout=30,
    )
    took = time.monotonic() - began
    assert r.status_code == 200 and r.headers["x-ganxun-consistency"] == "stale"
    assert BOUND <= took < BOUND + 1.5, took


@pytest.mark.parametrize("caller", ["anonymous", "trainee"])
def test_a_caller_the_route_refuses_is_answered_at_once_without_waiting(deployment, county, caller):
    """The caller is authenticated and its role checked before a read waits for a token: an
    anonymous caller cannot hold a request open for the bound, a refused role gets its 403 at
    once. The token names a stream never written: a read that waited would take the whole
    bound and say how its wait went."""
    url, _ = deployment
    headers = {} if caller == "anonymous" else auth("trainee", county)
    began = time.monotonic()
    r = httpx.get(
        f"{url}/cadres",
        headers={**headers, "X-Ganxun-After": f"selection.{county}:cd-never-written@3"},
        timeout=30,
    )
    took = time.monotonic() - began
    assert r.status_code == (401 if caller == "anonymous" else 403), r.text
    assert r.json()["code"] == ("missing_token" if caller == "anonymous" else "wrong_role"), r.text
    assert "x-ganxun-consistency" not in r.headers
    assert took < BOUND, took


def test_a_token_of_events_this_service_does_not_follow_does_not_wait(deployment, county):
    url, _ = deployment
    dept = auth("org_department", county)
    began = time.monotonic()
    r = httpx.get(f"{url}/cadres", headers={**dept, "X-Ganxun-After": f"records.{county}:rc-1@1"})
    assert r.status_code == 200 and r.headers["x-ganxun-consistency"] == "unrelated"
    assert time.monotonic() - began < BOUND


def test_a_malformed_token_is_refused_in_chinese_and_nothing_waits(deployment, county):
    url, _ = deployment
    r = httpx.get(
        f"{url}/cadres",
        headers={**auth("org_department", county), "X-Ganxun-After": "done-writing"},
        timeout=30,
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "bad_consistency_token" and body["field"] == "X-Ganxun-After"
    assert "不是有效的一致性令牌" in body["message"]
