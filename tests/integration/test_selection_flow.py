"""Selection over HTTP against the real servers: the three steps of one class with a
refusal per rule, concurrent confirmations, waitlist promotion, exports, and the
events' actor and jurisdiction on Kafka."""

import asyncio
import io
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from services.selection.cadres import id_check_digit
from services.selection.importing import TEMPLATE, check, read_rows
from shared import kafka
from shared.personal import is_sealed
from shared.topics import events_topic
from tests.support import (
    ServiceProcess,
    auth,
    cadre_id_of,
    decode_all,
    eventually,
    open_sealed,
    random_county,
    read_topic,
    settings,
)

pytestmark = pytest.mark.integration
DEPT = "组织部李科长"


def id_number(area: str, birth: date, seq: int) -> str:
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


@pytest.fixture(scope="module")
def counties():
    return random_county(), random_county(), random_county()


@pytest.fixture(scope="module")
async def selection(servers, counties, tmp_path_factory):
    # Topics the training history follows exist before the service subscribes.
    await kafka.ensure_topics(
        servers.kafka, [events_topic(s, c) for s in ("teaching", "followup") for c in counties]
    )
    proc = ServiceProcess(
        settings("selection", servers, list(counties)),
        log=tmp_path_factory.mktemp("selection") / "selection.log",
    )
    with proc.start():
        yield proc


def register(url: str, county: str, name: str, unit: str, rank: str, birth: date, seq: int, **kw) -> str:
    body = {"name": name, "id_number": id_number("110105", birth, seq), "unit": unit, "rank": rank, **kw}
    r = httpx.post(f"{url}/cadres", headers=auth("org_department", county, DEPT), json=body)
    assert r.status_code == 201, r.text
    return r.json()["cadre_id"]


async def registry_count(url: str, county: str, want: int) -> list:
    async def check():
        r = httpx.get(
            f"{url}/cadres", headers=auth("org_department", county), params={"size": 200}, timeout=30
        )
        return r.json()["items"] if r.status_code == 200 and r.json()["total"] >= want else None

    return await eventually(check, timeout=60)


def open_class(url: str, county: str, capacity: int, starts_in: int = 10, **kw) -> str:
    start = date.today() + timedelta(days=starts_in)
    r = httpx.post(
        f"{url}/classes",
        headers=auth("org_department", county, DEPT),
        json={
            "title": "2026年中青年干部培训班",
            "capacity": capacity,
            "starts_on": str(start),
            "ends_on": str(start + timedelta(days=20)),
            **kw,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["stream_id"].removeprefix("class-")


def refused(r: httpx.Response, code: str) -> str:
    assert r.status_code in (403, 404, 422), r.text
    assert r.json()["code"] == code, r.text
    return r.json()["message"]


# long: one story end to end against real servers; its steps share the state they build
async def test_three_steps_of_one_class_with_a_refusal_per_rule(selection, counties, servers):
    url, county = selection.url, counties[0]
    born = date(1988, 1, 1)
    a1 = register(url, county, "张伟", "县财政局", "副科", born, 11, category="经济发展")
    a2 = register(url, county, "王芳", "县财政局", "科员", born, 21, category="基层治理")
    a3 = register(url, county, "刘洋", "县财政局", "科员", born, 31)
    b1 = register(url, county, "陈静", "县委办", "副科", born, 41)
    c1 = register(url, county, "赵磊", "甲马营乡", "副科", born, 51, township_leadership=True)
    x = register(url, county, "孙强", "县委办", "正处", born, 61)
    await registry_count(url, county, 6)

    class_id = open_class(
        url,
        county,
        2,
        theme="学思想 强党性",
        category="年轻干部",
        level="科级",
        schedule="每月第二、第四个星期六",
        quotas={"县财政局": 2, "县委办": 1, "甲马营乡": 1},
        study_groups=[{"name": "经济发展", "advisor": "王老师"}, {"name": "基层治理", "advisor": "李老师"}],
    )
    dept = auth("org_department", county, DEPT)
    finance = auth("unit", county, "财政局王主任", unit="县财政局")
    office = auth("unit", county, "县委办周主任", unit="县委办")
    township = auth("unit", county, "甲马营乡吴委员", unit="甲马营乡")
    nominations = f"{url}/classes/{class_id}/nominations"

    # Before the scope is drawn, nobody can be recommended.
    refused(httpx.post(nominations, headers=finance, json={"cadre_id": a1}), "out_of_scope")

    # Step 1: the department draws the scope; township leaders come first, each with reasons.
    r = httpx.post(
        f"{url}/classes/{class_id}/scope",
        headers=dept,
        json={"ranks": ["副科", "科员"], "township_priority": True},
    )
    assert r.status_code == 201, r.text
    scope = r.json()
    assert scope["count"] == 5 and x not in [c["cadre_id"] for c in scope["cadres"]]
    assert scope["cadres"][0]["cadre_id"] == c1 and "有乡镇领导经历（优先）" in scope["cadres"][0]["reasons"]
    assert "********" in scope["cadres"][0]["id_number"]

    # A unit sees only its own cadres of the scope, with the reasons.
    async def scope_synced():  # the scope is read from the projection: a moment behind the write
        r = httpx.get(f"{url}/classes/{class_id}/scope", headers=finance)
        return r.json() if r.status_code == 200 and r.json()["criteria"] and r.json()["items"] else None

    mine = await eventually(scope_synced)
    assert sorted(c["name"] for c in mine["items"]) == ["刘洋", "张伟", "王芳"] and mine["total"] == 3
    assert mine["items"][0]["reasons"][0].startswith("职级为") and mine["items"][0]["status"] is None
    refused(httpx.get(f"{url}/classes/{class_id}/scope", headers=auth("unit", county)), "unit_missing")

    # Step 2: units recommend within scope and quota.
    for cadre in (a1, a2):
        r = httpx.post(nominations, headers=finance, json={"cadre_id": cadre})
        assert r.status_code == 201 and r.json()["events"] == ["TraineeNominated"], r.text
    assert "名额为 2 人" in refused(
        httpx.post(nominations, headers=finance, json={"cadre_id": a3}), "over_quota"
    )
    assert "不在" in refused(httpx.post(nominations, headers=office, json={"cadre_id": x}), "out_of_scope")
    refused(httpx.post(nominations, headers=finance, json={"cadre_id": b1}), "not_own_unit")
    refused(httpx.post(nominations, headers=finance, json={"cadre_id": a1}), "already_nominated")
    refused(httpx.post(nominations, headers=finance, json={"cadre_id": "cd-nobody"}), "cadre_not_found")
    bad = httpx.post(nominations, headers=finance, json={"cadre_id": ""})
    assert (
        bad.status_code == 422 and bad.json()["code"] == "invalid_input" and bad.json()["field"] == "cadre_id"
    )
    assert "干部编号" in bad.json()["message"]  # the field named in Chinese
    refused(
        httpx.post(nominations, headers=auth("party_school", county), json={"cadre_id": b1}), "wrong_role"
    )
    assert httpx.post(nominations, headers=office, json={"cadre_id": b1}).status_code == 201
    assert httpx.post(nominations, headers=township, json={"cadre_id": c1}).status_code == 201

    # Step 3: the department confirms; a full class waitlists; rejection needs a reason.
    def decide(cadre: str, what: str, headers=dept, **body) -> httpx.Response:
        return httpx.post(f"{nominations}/{cadre}/{what}", headers=headers, json=body or None)

    assert decide(a1, "confirm").json()["events"] == ["NominationConfirmed"]
    refused(decide(a2, "confirm", headers=finance), "wrong_role")
    assert decide(a2, "confirm").json()["events"] == ["NominationConfirmed"]
    assert decide(b1, "confirm").json()["events"] == ["NominationWaitlisted"]
    refused(decide(b1, "confirm"), "class_full")
    refused(decide(a1, "confirm"), "already_confirmed")
    refused(decide(c1, "reject"), "reason_required")
    assert decide(c1, "reject", reason="近期承担防汛任务").json()["events"] == ["NominationRejected"]
    refused(decide(a3, "confirm"), "not_nominated")

    # The unit withdraws a confirmed trainee before the start: the first on the waitlist moves up.
    refused(decide(a1, "withdraw", headers=office, reason="x"), "not_own_unit")
    r = decide(a1, "withdraw", headers=finance, reason="借调市委巡察")
    assert r.json()["events"] == ["NominationWithdrawn", "NominationConfirmed"], r.text

    # Study groups, by domain and balance.
    r = httpx.post(f"{url}/classes/{class_id}/groups", headers=dept)
    assert r.json()["events"] == ["TraineeAssignedToGroup"] * 2, r.text

    async def roster():
        resp = httpx.get(f"{url}/classes/{class_id}/roster", headers=dept)
        noms = resp.json().get("nominations", []) if resp.status_code == 200 else []
        return resp.json() if len([n for n in noms if n.get("group")]) == 2 else None

    doc = await eventually(roster)
    status = {n["name"]: (n["status"], n["reason"], n["from_waitlist"]) for n in doc["nominations"]}
    assert status == {
        "张伟": ("withdrawn", "借调市委巡察", False),
        "王芳": ("confirmed", "", False),
        "陈静": ("confirmed", "", True),
        "赵磊": ("rejected", "近期承担防汛任务", False),
    }
    assert doc["counts"]["confirmed"] == 2 and {n["group"] for n in doc["nominations"] if n["group"]} == {
        "经济发展",
        "基层治理",
    }

    # Exports: the roster, the unit's quota view and the department's queue.
    x_roster = httpx.get(f"{url}/classes/{class_id}/roster", headers=dept, params={"format": "xlsx"})
    assert x_roster.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in x_roster.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(x_roster.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "姓名", "单位", "状态") and ("王芳", "县财政局", "已确定") in [
        r[1:4] for r in rows
    ]
    quota = httpx.get(f"{url}/classes/{class_id}/quota", headers=finance).json()
    assert [(u["unit"], u["quota"], u["used"], u["left"]) for u in quota["units"]] == [("县财政局", 2, 1, 1)]
    assert httpx.post(nominations, headers=finance, json={"cadre_id": a3}).status_code == 201
    queue = await eventually(lambda: _queue(url, dept, class_id))
    assert [(i["name"], i["status"]) for i in queue] == [("刘洋", "nominated")]
    q_xlsx = httpx.get(f"{url}/queue", headers=dept, params={"format": "xlsx"})
    assert q_xlsx.status_code == 200 and "刘洋" in [
        r[3] for r in load_workbook(io.BytesIO(q_xlsx.content)).active.iter_rows(values_only=True)
    ]

    # A class that has started takes no more changes.
    closed = open_class(url, county, 5, starts_in=0)
    refused(
        httpx.post(f"{url}/classes/{closed}/scope", headers=dept, json={"ranks": ["副科"]}), "class_closed"
    )

    # Events carry the actor and jurisdiction of the token that caused them.
    records = decode_all(await read_topic(servers.kafka, events_topic("selection", county)))
    by_type = {}
    for e in records:
        if e["stream_id"] == f"class-{class_id}":
            by_type.setdefault(e["type"], e)
    assert by_type["TraineeNominated"]["actor"] == {
        "user_id": f"unit-{county}",
        "name": "财政局王主任",
        "role": "unit",
    }
    assert by_type["NominationConfirmed"]["actor"]["name"] == DEPT
    assert all(e["jurisdiction"] == county for e in records)
    # The name travels sealed under the cadre's key (issue 14); the deployment's vault opens it.
    assert is_sealed(by_type["NominationConfirmed"]["payload"]["name"])
    await open_sealed(servers.mongodb, selection.settings, list(by_type.values()))
    confirmed = by_type["NominationConfirmed"]["payload"]  # name and unit filled from the registry
    assert (confirmed["cadre_id"], confirmed["name"], confirmed["unit"]) == (a1, "张伟", "县财政局")


async def _queue(url: str, headers: dict, class_id: str):
    items = [
        i for i in httpx.get(f"{url}/queue", headers=headers).json()["items"] if i["class_id"] == class_id
    ]
    return items or None


async def test_concurrent_confirmations_never_overfill_and_a_leaver_is_replaced(selection, counties):
    url, county = selection.url, counties[1]
    dept = auth("org_department", county, DEPT)
    ids = [
        register(url, county, f"干部{i}", "县发改局", "科员", date(1991, 2, 1), 100 + i) for i in range(10)
    ]
    await registry_count(url, county, 10)
    class_id = open_class(url, county, 5)
    assert (
        httpx.post(f"{url}/classes/{class_id}/scope", headers=dept, json={"ranks": ["科员"]}).json()["count"]
        == 10
    )
    for cid in ids:
        assert (
            httpx.post(
                f"{url}/classes/{class_id}/nominations", headers=dept, json={"cadre_id": cid}
            ).status_code
            == 201
        )

    async with httpx.AsyncClient(timeout=60) as client:
        replies = await asyncio.gather(
            *(client.post(f"{url}/classes/{class_id}/nominations/{cid}/confirm", headers=dept) for cid in ids)
        )
    assert [r.status_code for r in replies] == [201] * 10, [r.text for r in replies if r.status_code != 201]
    outcome = [r.json()["events"][0] for r in replies]
    assert outcome.count("NominationConfirmed") == 5 and outcome.count("NominationWaitlisted") == 5

    async def settled():
        doc = httpx.get(f"{url}/classes/{class_id}/roster", headers=dept).json()
        return doc if doc["counts"]["confirmed"] + doc["counts"]["waitlisted"] == 10 else None

    doc = await eventually(settled)
    assert doc["counts"]["confirmed"] == 5
    waitlist = sorted(
        (n for n in doc["nominations"] if n["status"] == "waitlisted"), key=lambda n: n["waitlisted_at"]
    )
    leaver = next(n["cadre_id"] for n in doc["nominations"] if n["status"] == "confirmed")
    r = httpx.post(
        f"{url}/classes/{class_id}/nominations/{leaver}/withdraw", headers=dept, json={"reason": "病假"}
    )
    assert r.json()["events"] == ["NominationWithdrawn", "NominationConfirmed"]

    async def promoted():
        doc = httpx.get(f"{url}/classes/{class_id}/roster", headers=dept).json()
        return doc if doc["counts"]["withdrawn"] == 1 and doc["counts"]["confirmed"] == 5 else None

    doc = await eventually(promoted)
    first = next(n for n in doc["nominations"] if n["cadre_id"] == waitlist[0]["cadre_id"])
    assert first["status"] == "confirmed" and first["from_waitlist"]


# long: one story end to end against real servers; its steps share the state they build
async def test_another_county_gets_404_on_registry_and_classes(selection, counties):
    url, mine, other = selection.url, counties[0], counties[2]
    cadre = register(url, mine, "周敏", "县教育局", "副科", date(1987, 9, 9), 201)
    class_id = open_class(url, mine, 3)
    await eventually(lambda: _visible(url, mine, f"/cadres/{cadre}"))
    await eventually(lambda: _visible(url, mine, f"/classes/{class_id}"))
    them = auth("org_department", other, "外县组织部")
    for path in (f"/classes/{class_id}", f"/classes/{class_id}/roster", f"/classes/{class_id}/scope"):
        r = httpx.get(url + path, headers=them)
        assert (r.status_code, r.json()["code"]) == (404, "class_not_found"), (path, r.text)
    # Another county's cadre answers like a missing one: where a person is registered is not told.
    for path in (f"/cadres/{cadre}", f"/cadres/{cadre}/history"):
        r = httpx.get(url + path, headers=them)
        assert r.status_code == 404 and r.json()["code"] == "cadre_not_found" and mine not in r.text, (
            path,
            r.text,
        )
    for path, body in (
        (f"/classes/{class_id}/scope", {"ranks": ["副科"]}),
        (f"/classes/{class_id}/nominations", {"cadre_id": cadre}),
        (f"/classes/{class_id}/nominations/{cadre}/confirm", None),
    ):
        r = httpx.post(url + path, headers=them, json=body)
        # 404 where the other county's cadre is looked up first: its existence is not told
        assert r.status_code == 403 or (r.status_code == 404 and mine not in r.text), (path, r.text)
    # changing another county's cadre by id: as for a cadre nobody registered (issue 14)
    r = httpx.patch(f"{url}/cadres/{cadre}", headers=them, json={"position": "局长"})
    assert (r.status_code, r.json()["code"]) == (404, "cadre_not_found") and mine not in r.text
    # Changes to a cadre are events too; a bad change or a bad number changes nothing.
    dept = auth("org_department", mine, DEPT)
    assert httpx.patch(f"{url}/cadres/{cadre}", headers=dept, json={"position": "副局长"}).json()[
        "events"
    ] == ["CadreUpdated"]
    assert (
        httpx.patch(f"{url}/cadres/{cadre}", headers=dept, json={"position": "副局长"}).json()["events"] == []
    )
    assert "职级“处长”不在职级表中" in refused(
        httpx.patch(f"{url}/cadres/{cadre}", headers=dept, json={"rank": "处长"}), "invalid_cadre"
    )
    wrong = id_number("110105", date(1987, 9, 9), 202)
    wrong = wrong[:17] + ("0" if wrong[17] != "0" else "1")
    assert "校验位错误" in refused(
        httpx.post(
            f"{url}/cadres",
            headers=dept,
            json={"name": "错号", "id_number": wrong, "unit": "县教育局", "rank": "科员"},
        ),
        "invalid_cadre",
    )
    refused(
        httpx.post(
            f"{url}/cadres",
            headers=auth("unit", mine, unit="县教育局"),
            json={
                "name": "某",
                "id_number": id_number("110105", date(1987, 9, 9), 203),
                "unit": "县教育局",
                "rank": "科员",
            },
        ),
        "wrong_role",
    )

    template = httpx.get(f"{url}/cadres/template", headers=dept)
    sheet = list(load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert sheet[0] == tuple(TEMPLATE) and len(sheet) == 2
    assert check(read_rows("模板.xlsx", template.content), cadre_id_of).bad == [], (
        "the template's example row is valid"
    )

    async def updated():
        d = httpx.get(f"{url}/cadres/{cadre}", headers=dept).json()
        return d if d["position"] == "副局长" else None

    assert (await eventually(updated))["rank"] == "副科"
    assert class_id not in [c["class_id"] for c in httpx.get(f"{url}/classes", headers=them).json()["items"]]
    assert class_id in [
        c["class_id"]
        for c in httpx.get(f"{url}/classes", headers=auth("org_department", mine)).json()["items"]
    ]
    listed = httpx.get(f"{url}/cadres", headers=them).json()
    assert cadre not in [c["cadre_id"] for c in listed["items"]]
    assert cadre_id_of(id_number("110105", date(1987, 9, 9), 201)) == cadre
    # The full id number is shown to the department of its own county only, never in lists.
    mine_detail = httpx.get(f"{url}/cadres/{cadre}", headers=auth("org_department", mine)).json()
    assert mine_detail["id_number"] == id_number("110105", date(1987, 9, 9), 201)
    shown = httpx.get(f"{url}/cadres", headers=auth("org_department", mine)).json()["items"]
    assert shown and all("********" in c["id_number"] for c in shown)


async def _visible(url: str, county: str, path: str):
    return httpx.get(url + path, headers=auth("org_department", county)).status_code == 200
