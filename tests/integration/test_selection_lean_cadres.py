"""Registry documents without their default fields, over HTTP against the real servers: a
cadre registered with the defaults is stored in FerretDB without them, one changed back to
them loses them, one with every field keeps them; the registry, a cadre's detail, the Excel
export and a scope show the same before and after a restart (the read index loaded from the
store), with a document stored before the change (every field in it) beside the new ones."""

import io
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from pymongo import AsyncMongoClient

from services.selection.cadres import id_check_digit
from shared import kafka
from shared.consistency import AFTER_HEADER
from shared.topics import events_topic
from tests.support import ServiceProcess, auth, random_county, settings
from tests.unit.test_selection_registry_defaults import BACK as DEFAULTS
from tests.unit.test_selection_registry_defaults import EVERY, LEFT_OUT

pytestmark = pytest.mark.integration


def number(county: str, seq: int) -> str:
    first17 = f"{county}19880101{seq:03d}"
    return first17 + id_check_digit(first17)


def answers(url: str, county: str, class_id: str, ids: list[str], after: str | None = None) -> dict:
    """What a clerk reads of the registry: the list, each cadre's detail, the export's rows, a
    scope drawn again (its answer and the scope's page)."""
    dept = auth("org_department", county)
    waited = {**dept, AFTER_HEADER: after} if after else dept
    listed = httpx.get(f"{url}/cadres", headers=waited, params={"size": 50}, timeout=30).json()
    details = [httpx.get(f"{url}/cadres/{cid}", headers=dept, timeout=30).json() for cid in ids]
    xlsx = httpx.get(f"{url}/cadres", headers=dept, params={"format": "xlsx"}, timeout=30)
    rows = [list(r) for r in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)]
    drawn = httpx.post(
        f"{url}/classes/{class_id}/scope",
        headers=dept,
        json={"ranks": ["副科"], "township_priority": True},
        timeout=30,
    )
    assert drawn.status_code == 201, drawn.text
    scope = httpx.get(
        f"{url}/classes/{class_id}/scope",
        headers={**dept, AFTER_HEADER: drawn.json()["token"]},
        params={"size": 50},
        timeout=30,
    ).json()
    return {
        "list": listed,
        "details": details,
        "export": rows,
        "drawn": {k: v for k, v in drawn.json().items() if k in ("count", "cadres")},
        "scope": scope["items"],
    }


# long: one registry read before and after a restart; the steps share the cadres they make
async def test_the_registry_reads_the_same_from_lean_and_full_documents_before_and_after_a_restart(
    servers, tmp_path
):
    county = random_county()
    await kafka.ensure_topics(servers.kafka, [events_topic(s, county) for s in ("teaching", "followup")])
    s = settings("selection", servers, [county])
    dept = auth("org_department", county)
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    stored = client[s.database_name]["cadres"]
    proc = ServiceProcess(s, log=tmp_path / "selection.log")
    try:
        with proc.start():
            url, ids, tokens = proc.url, [], []
            for seq, name, unit, fields in (
                (1, "张伟", "县财政局", {}),
                (2, "李明", "县委办", EVERY),
                (3, "王芳", "县财政局", EVERY),
                (4, "赵强", "县委办", {}),
            ):
                body = {
                    "name": name,
                    "id_number": number(county, seq),
                    "unit": unit,
                    "rank": "副科",
                    **fields,
                }
                r = httpx.post(f"{url}/cadres", headers=dept, json=body, timeout=30)
                assert r.status_code == 201, r.text
                ids.append(r.json()["cadre_id"])
                tokens.append(r.json()["token"])
            zhang, li, wang, zhao = ids
            r = httpx.patch(f"{url}/cadres/{wang}", headers=dept, json=DEFAULTS, timeout=30)
            assert r.status_code == 200 and r.json()["events"] == ["CadreUpdated"], r.text
            tokens.append(r.json()["token"])
            start = date.today() + timedelta(days=30)
            r = httpx.post(
                f"{url}/classes",
                headers=dept,
                json={
                    "title": "科级干部轮训班",
                    "capacity": 10,
                    "starts_on": str(start),
                    "ends_on": str(start),
                },
                timeout=30,
            )
            class_id = r.json()["stream_id"].removeprefix("class-")
            before = answers(url, county, class_id, ids, after=",".join([*tokens, r.json()["token"]]))

        docs = {d["_id"]: d async for d in stored.find({})}
        assert [f for f in LEFT_OUT if f in docs[zhang]] == []
        assert [f for f in LEFT_OUT if f in docs[wang]] == [], "set back to its default, a field is left out"
        assert {f: docs[li][f] for f in LEFT_OUT} == EVERY
        # 赵强 as the projection stored a cadre before the change (a document not written since).
        await stored.update_one({"_id": zhao}, {"$set": {**DEFAULTS, "cadre_id": zhao}})

        listed = before["list"]["items"]
        assert [c["name"] for c in listed] == ["李明", "赵强", "张伟", "王芳"]
        assert [{f: c[f] for f in LEFT_OUT} for c in listed] == [EVERY, DEFAULTS, DEFAULTS, DEFAULTS]
        assert [{f: d[f] for f in LEFT_OUT} for d in before["details"]] == [
            DEFAULTS,
            EVERY,
            DEFAULTS,
            DEFAULTS,
        ]
        assert [r[5:] for r in before["export"][1:]] == [
            ["科长", "副科", "经济发展", "2021-03-01", "是", "选调生", 2015],
            *[[None, "副科", None, None, "否", None, None]] * 3,
        ]
        assert [(c["name"], c["priority"]) for c in before["drawn"]["cadres"]] == [
            ("李明", True),
            ("赵强", False),
            ("张伟", False),
            ("王芳", False),
        ]

        with proc.start():  # the read index loaded from the store: lean documents and a full one
            assert answers(proc.url, county, class_id, ids) == before
    finally:
        await client.drop_database(s.database_name)
        await client.close()
