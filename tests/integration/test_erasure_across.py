"""An erasure reaches every deployment that holds the person (issue 14, item 3; PIPL Art. 47).

A province-run class (the province's selection, teaching and dashboard) takes two cadres of
one county (the county's own selection deployment), on one real Kafka and store. What the
province's services write about them is sealed under the province's own keys: the
nomination's name (the province's registry shows the county's sealed name as 「（无权查看）」, and
that is what it copies) and a leave reason for each, registered by the province's school.
The county erases one of them. Within a bounded wait the province's views and exports of the
class show "已删除" for them, the province's key vault no longer opens what it sealed about
them, and the province has recorded its own audited erasure (the system as actor, the county
named in the reason), which its erasures topic carries on; the classmate keeps their reason
(and, in the county, their name). The province's erasure coming back to the county changes
nothing there. A rebuild of the province's teaching projections folds "已删除" too.

Selection's processes run the `erasures` worker (services/selection/erasures.py) beside the
API, relay and projectors, as `ganxun up` runs every component.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.selection.cadres import id_check_digit
from services.selection.erasures import NAME as FOLLOWER
from shared import kafka
from shared.clock import local_today
from shared.personal import ERASED, UNREADABLE, Gone, Vault
from shared.topics import erasures_topic, events_topic
from tests.integration.test_erasure import rebuild_all, text_of
from tests.support import (
    ServiceProcess,
    auth,
    decode_all,
    eventually,
    open_sealed,
    random_county,
    random_province,
    read_topic,
    settings,
)

pytestmark = pytest.mark.integration

T = local_today()
STARTS, ENDS = T + timedelta(days=20), T + timedelta(days=24)
WAIT = 120
RARE = "靳鞠邝莘郗渠訾阚"
GONE = "欧阳" + "".join(secrets.choice(RARE) for _ in range(2))
KEPT = "上官" + "".join(secrets.choice(RARE) for _ in range(2))
SELECTION = "api,relay,projectors,erasures"
_TAG = secrets.token_hex(3)
REASONS = {GONE: f"家中老人住院需陪护{_TAG}甲", KEPT: f"单位有紧急任务{_TAG}乙"}


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    p = random_province()
    county, province = random_county(p), p + "0000"
    logs = tmp_path_factory.mktemp("erasure_across")
    plan = {
        "sel_p": ("selection", [province], SELECTION),
        "sel_c": ("selection", [county], SELECTION),
        "tea_p": ("teaching", [province], "api,relay,projectors"),
        "dash_p": ("dashboard", [province], "api,relay,projectors"),
    }
    procs = {
        k: ServiceProcess(settings(svc, servers, codes), components=parts, log=logs / f"{k}.log")
        for k, (svc, codes, parts) in plan.items()
    }
    try:
        for proc in procs.values():
            proc.start(wait=False)
        for proc in procs.values():
            proc.wait_ready(120)
        yield procs, province, county
    finally:
        for proc in procs.values():
            proc.stop()


def ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def number(county: str, seq: int) -> str:
    first17 = f"{county}1990030{seq}{seq:03d}"
    return first17 + id_check_digit(first17)


async def until(check, timeout: float = WAIT):
    async def probe():
        value = check()
        return value or None

    return await eventually(probe, timeout=timeout, interval=0.5)


def got(c: httpx.Client, path: str, headers: dict):
    r = c.get(path, headers=headers)
    return r.json() if r.status_code == 200 else None


def entry_of(roster_json: str, cadre_id: str) -> dict:
    (entry,) = [t for t in json.loads(roster_json)["trainees"] if t["cadre_id"] == cadre_id]
    return entry


async def leave_requests(servers, province: str) -> list[dict]:
    topic = events_topic("teaching", province)
    return [
        d
        for d in decode_all(await read_topic(servers.kafka, topic, timeout=10))
        if d["type"] == "LeaveRequested"
    ]


async def keys_of(servers, s, persons: list[str]) -> dict:
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    try:
        return await Vault(client[s.vault_database_name], ttl=0).keys(persons)
    finally:
        await client.close()


async def followed_to_end(servers, group: str, topic: str) -> bool:
    """Whether `group` has committed every record of `topic` (it has handled them all)."""
    admin = kafka.admin(servers.kafka)
    consumer = kafka.consumer(servers.kafka, None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [tp for tp in committed if tp.topic == topic]
        if not tps:
            return False
        end = await consumer.end_offsets(tps)
        return all(committed[tp].offset >= end[tp] for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()


# long: one story across two deployments; each step needs the ids and state the steps before made
async def test_a_countys_erasure_reaches_the_province_that_nominated_its_cadre(deployment, servers):
    procs, province, county = deployment
    sel_c, sel_p, tea_p, dash_p = (
        httpx.Client(base_url=procs[k].url, timeout=120) for k in ("sel_c", "sel_p", "tea_p", "dash_p")
    )
    county_dept = auth("org_department", county, "县委组织部李科长")
    prov = auth("org_department", province, "省委组织部干部教育处")
    school = auth("party_school", province, "省委党校教务处")

    # -- the county registers two cadres; the province nominates both to its own class ----------
    ids = []
    for seq, name in ((1, GONE), (2, KEPT)):
        body = {"name": name, "id_number": number(county, seq), "unit": "县财政局", "rank": "副科"}
        ids.append(ok(sel_c.post("/cadres", headers=county_dept, json=body))["cadre_id"])
    gone, kept = ids
    await until(lambda: all(sel_p.get(f"/cadres/{c}", headers=prov).status_code == 200 for c in ids))
    klass = {
        "class_id": "prov-erasure",
        "title": "全省年轻干部培训班",
        "capacity": 10,
        "starts_on": str(STARTS),
        "ends_on": str(ENDS),
        "organiser": "省委党校",
    }
    class_id = ok(sel_p.post("/classes", headers=prov, json=klass))["stream_id"].removeprefix("class-")
    ok(sel_p.post(f"/classes/{class_id}/scope", headers=prov, json={"ranks": ["副科"]}))
    ok(sel_p.post(f"/classes/{class_id}/nominations/batch", headers=prov, json={"cadre_ids": ids}))
    ok(sel_p.post(f"/classes/{class_id}/confirmations", headers=prov, json={"cadre_ids": ids}))
    # The province's school schedules the first session and registers each trainee's leave from
    # it, for a reason of their own: sealed under the province's keys, in the province's store.
    await until(lambda: (got(tea_p, f"/classes/{class_id}/roster", school) or {}).get("confirmed") == 2)
    course = {"course_id": "k1", "title": "党的创新理论", "kind": "理论课", "hours": 3.0}
    ok(tea_p.post("/courses", headers=school, json=course))
    ok(
        tea_p.post(
            "/faculty",
            headers=school,
            json={"teacher_id": "t1", "name": "省委党校王教授", "kind": "党校教师"},
        )
    )
    ok(
        tea_p.post(
            "/sites", headers=school, json={"site_id": "hall", "name": "省委党校报告厅", "capacity": 300}
        )
    )
    ok(tea_p.put(f"/classes/{class_id}/curriculum", headers=school, json={"course_ids": ["k1"]}), 200)
    session = {
        "session_id": "s1",
        "course_id": "k1",
        "teacher_id": "t1",
        "site_id": "hall",
        "on": str(STARTS),
        "starts_at": "09:00",
        "ends_at": "12:00",
    }
    ok(tea_p.post(f"/classes/{class_id}/sessions", headers=school, json=session))
    for c, name in ((gone, GONE), (kept, KEPT)):
        leave = {"cadre_id": c, "reason": REASONS[name]}
        ok(tea_p.post(f"/classes/{class_id}/sessions/s1/leave-requests", headers=school, json=leave))

    def views() -> dict[str, str]:
        """The province's views and exports of its class that show the trainees."""
        return {
            "selection roster": text_of(sel_p.get(f"/classes/{class_id}/roster", headers=prov)),
            "selection roster export": text_of(
                sel_p.get(f"/classes/{class_id}/roster", headers=prov, params={"format": "xlsx"})
            ),
            "teaching roster": text_of(tea_p.get(f"/classes/{class_id}/roster", headers=school)),
            "teaching leave": text_of(
                tea_p.get(f"/classes/{class_id}/sessions/s1/attendance", headers=school)
            ),
            "teaching leave queue": text_of(tea_p.get("/leave-requests", headers=school)),
            "dashboard class export": text_of(
                dash_p.get(f"/api/classes/{class_id}/export.xlsx", headers=prov)
            ),
        }

    last: dict[str, str] = {}

    async def settled(want) -> dict[str, str]:
        def check():
            try:
                v = views()
            except AssertionError as exc:  # a view not there yet (404 until its projection has the class)
                last["error"] = str(exc)[:300]
                return None
            last.update(v)
            return v if want(v) else None

        try:
            return await until(check)
        except AssertionError:
            raise AssertionError(f"the province's views, last seen: {last}") from None

    shown = "".join
    before = await settled(lambda v: all(r in shown(v.values()) for r in REASONS.values()))
    assert ERASED not in shown(before.values())
    # What the province wrote about them travels sealed under the province's own key, which
    # opens it in the province (the county's key never leaves the county).
    leaves = await leave_requests(servers, province)
    assert len(leaves) == 2 and not any(r in str(leaves) for r in REASONS.values())
    opened = await open_sealed(servers.mongodb, procs["sel_p"].settings, leaves)
    assert {d["payload"]["cadre_id"]: d["payload"]["reason"] for d in opened} == {
        gone: REASONS[GONE],
        kept: REASONS[KEPT],
    }
    held = await keys_of(servers, procs["sel_p"].settings, ids)
    assert all(isinstance(held[c], bytes) for c in ids)

    # -- the county erases one of them --------------------------------------------------------------
    ground = {"ground": "consent_withdrawn"}
    done = ok(sel_c.post(f"/cadres/{gone}/erasure", headers=county_dept, json=ground), 200)
    assert done["events"] == ["CadreErased"]

    def erased(v: dict[str, str]) -> bool:
        text = shown(v.values())
        return not any(s in text for s in (GONE, REASONS[GONE])) and REASONS[KEPT] in text

    after = await settled(erased)
    # Their reason is "已删除" where it was shown; the rosters and exports never showed their name
    # (the province copied it from its registry as 「（无权查看）」) and show nothing of theirs now.
    for view in ("teaching leave", "teaching leave queue"):
        assert ERASED in after[view], (view, after[view][:600])
    assert entry_of(after["teaching roster"], gone)["name"] in (ERASED, UNREADABLE)
    assert entry_of(after["teaching roster"], kept) == entry_of(before["teaching roster"], kept)

    async def province_key_gone():
        return (await keys_of(servers, procs["sel_p"].settings, [gone])).get(gone) is Gone

    await eventually(province_key_gone, timeout=WAIT)
    reopened = await open_sealed(
        servers.mongodb, procs["sel_p"].settings, await leave_requests(servers, province)
    )
    assert {d["payload"]["cadre_id"]: d["payload"]["reason"] for d in reopened} == {
        gone: ERASED,
        kept: REASONS[KEPT],
    }
    assert isinstance((await keys_of(servers, procs["sel_p"].settings, [kept]))[kept], bytes)

    # The province's own audited erasure, carried on by its erasures topic.
    (own,) = decode_all(await read_topic(servers.kafka, erasures_topic(province), expect=1, timeout=30))
    assert own["type"] == "CadreErased" and own["jurisdiction"] == province
    assert own["actor"]["name"] == "个人信息删除同步程序"
    assert own["payload"]["cadre_id"] == gone and own["payload"]["following"] == county
    assert own["payload"]["ground"] == "consent_withdrawn" and county in own["payload"]["reason"]

    # -- the province's erasure comes back to the county: nothing changes there ---------------------
    county_group = f"ganxun.selection.{county}.{FOLLOWER}"

    async def echo_handled():
        return await followed_to_end(servers, county_group, erasures_topic(province))

    await eventually(echo_handled, timeout=WAIT)
    county_events = decode_all(await read_topic(servers.kafka, events_topic("selection", county), timeout=10))
    assert [d["payload"]["cadre_id"] for d in county_events if d["type"] == "CadreErased"] == [gone]
    assert len(await read_topic(servers.kafka, erasures_topic(county), expect=1, timeout=10)) == 1
    assert len(await read_topic(servers.kafka, erasures_topic(province), expect=1, timeout=10)) == 1
    assert ok(sel_c.get(f"/cadres/{kept}", headers=county_dept), 200)["name"] == KEPT
    assert ok(sel_c.get(f"/cadres/{gone}", headers=county_dept), 200)["name"] == ERASED

    # -- a rebuild of the province's teaching projections folds "已删除" from the start -------------
    procs["tea_p"].stop()
    await rebuild_all("teaching", procs["tea_p"].settings)
    procs["tea_p"].start()
    rebuilt = await settled(erased)
    assert ERASED in rebuilt["teaching leave"] and ERASED in rebuilt["teaching roster"]
