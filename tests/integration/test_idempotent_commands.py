"""Idempotency-Key against a real service (records), real Kafka and the real store: a
3+N record sent twice is stored once and answered the same; the same key with another
body is refused; a crash between the append and the remembered answer costs nothing;
one user's key never answers another's."""

from __future__ import annotations

import httpx
import pytest
from pymongo import MongoClient

from tests.integration.test_records_service import TODAY, as_recorder, records_of, setup_class
from tests.support import ServiceProcess, random_county, settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def service(servers, county, tmp_path_factory):
    logs = tmp_path_factory.mktemp("idempotency")
    with ServiceProcess(settings("records", servers, [county]), log=logs / "records.log") as p:
        p.start()
        yield p


def send(service, county, class_id, cadre, pid, key, text="课堂讨论发言积极", observed=None):
    headers = {**as_recorder(county, pid), **({"Idempotency-Key": key} if key else {})}
    return httpx.post(
        f"{service.url}/classes/{class_id}/trainees/{cadre}/records",
        headers=headers,
        timeout=30,
        json={"category": "study", "observed_on": str(observed or TODAY), "text": text},
    )


def stored_commits(servers, service) -> int:
    with MongoClient(servers.mongodb) as c:
        return sum(len(x["events"]) for x in c[service.settings.database_name]["events"].find({}))


async def test_a_record_sent_again_with_its_key_is_stored_once_and_answered_the_same(
    service, servers, county
):
    class_id = "idem1"
    await setup_class(service, servers, county, class_id)
    before = stored_commits(servers, service)
    first = send(service, county, class_id, "A", "p.ht", "k-rec-1")
    assert first.status_code == 201, first.text
    again = [send(service, county, class_id, "A", "p.ht", "k-rec-1") for _ in range(3)]
    for r in again:
        assert (r.status_code, r.json()) == (201, first.json())
        assert r.headers["idempotent-replayed"] == "true"
    assert stored_commits(servers, service) == before + 1

    # the same key, another body: refused, nothing stored
    other = send(service, county, class_id, "A", "p.ht", "k-rec-1", text="另一条记录")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused" and other.json()["field"] == "Idempotency-Key"
    assert "已用于另一请求" in other.json()["message"]
    # another user's same key is a new request of theirs
    theirs = send(service, county, class_id, "A", "p-bs", "k-rec-1")
    assert theirs.status_code == 201 and theirs.json()["record_id"] != first.json()["record_id"]
    # without a key, a second send is a second record (as before: keys are the client's to send)
    recs = await records_of(service, county, class_id, "A", 2)
    assert [r["record_id"] for r in recs].count(first.json()["record_id"]) == 1
    assert stored_commits(servers, service) == before + 2

    bad = send(service, county, class_id, "A", "p.ht", "a key with spaces")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_idempotency_key"


async def test_a_crash_between_the_append_and_the_remembered_answer_appends_nothing_twice(
    service, servers, county
):
    class_id = "idem2"
    await setup_class(service, servers, county, class_id)
    first = send(service, county, class_id, "B", "p.ht", "k-crash-1")
    assert first.status_code == 201, first.text
    before = stored_commits(servers, service)
    # What a SIGKILL after the append and before the answer was stored leaves: the key
    # claimed, no answer; the service restarted (its memory gone).
    with MongoClient(servers.mongodb) as c:
        res = c[service.settings.database_name]["idempotency"].update_many(
            {}, {"$set": {"status": None, "body": b""}}
        )
        assert res.modified_count >= 1
    service.kill()
    service.start()
    retry = send(service, county, class_id, "B", "p.ht", "k-crash-1")
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert stored_commits(servers, service) == before
    recs = await records_of(service, county, class_id, "B", 1)
    assert [r["record_id"] for r in recs] == [first.json()["record_id"]]
