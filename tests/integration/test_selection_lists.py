"""The lists a clerk pages through, over HTTP against the real servers: the registry
paged, searched, filtered and sorted on the server; a unit clerk's own unit only; the
Excel export holding every matching row; the scope, the queue and the two reports paged
the same way; the class list and a class's nominations paged, searched and sorted; bad
paging refused with a Chinese message naming the parameter."""

import csv
import io
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from services.selection.cadres import RANKS, id_check_digit
from services.selection.importing import TEMPLATE
from shared import kafka
from shared.topics import events_topic
from tests.support import ServiceProcess, auth, cadre_id_of, eventually, random_county, settings

pytestmark = pytest.mark.integration
N = 230
UNITS = ["县财政局", "县教育局", "甲马营乡", "武城镇", "县委办"]
SURNAMES = "王李张刘陈杨赵黄周吴"


def _id(i: int) -> str:
    first17 = f"371428{date(1970, 1, 1) + timedelta(days=i * 41):%Y%m%d}{i % 1000:03d}"
    return first17 + id_check_digit(first17)


def person(i: int) -> dict:
    return {
        "name": f"{SURNAMES[i % 10]}{'建国' if i % 23 == 0 else '明'}{i:03d}",
        "unit": UNITS[i % 5],
        "rank": ["副科", "正科", "科员"][i % 3],
        "category": ["经济发展", "基层治理"][i % 2],
        "id": _id(i),
    }


PEOPLE = [person(i) for i in range(N)]


def registry_csv() -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(TEMPLATE)
    for p in PEOPLE:
        w.writerow([p["name"], "", "", p["id"], p["unit"], "", p["rank"], p["category"], "", "否", "", ""])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
async def url(servers, county, tmp_path_factory):
    await kafka.ensure_topics(servers.kafka, [events_topic(s, county) for s in ("teaching", "followup")])
    proc = ServiceProcess(
        settings("selection", servers, [county]), log=tmp_path_factory.mktemp("selection") / "selection.log"
    )
    with proc.start():
        dept = auth("org_department", county)
        r = httpx.post(
            f"{proc.url}/cadres/import",
            headers=dept,
            timeout=120,
            files={"file": ("名册.csv", registry_csv(), "text/csv")},
        )
        assert r.status_code == 200 and r.json()["registered"] == N, r.text

        async def imported():
            return httpx.get(f"{proc.url}/cadres", headers=dept).json()["total"] == N or None

        await eventually(imported, timeout=60)
        yield proc.url


def get(url: str, path: str, county: str, role: str = "org_department", **params) -> dict:
    r = httpx.get(f"{url}{path}", headers=auth(role, county), params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_registry_is_paged_on_the_server_in_unit_and_name_order(url, county):
    first = get(url, "/cadres", county)
    assert (first["total"], first["page"], first["size"], len(first["items"])) == (N, 1, 20, 20)
    everyone = sorted(PEOPLE, key=lambda p: (p["unit"], p["name"]))
    assert [c["name"] for c in first["items"]] == [p["name"] for p in everyone[:20]]
    assert all("********" in c["id_number"] for c in first["items"])
    later = get(url, "/cadres", county, page=3, size=100)
    assert [c["name"] for c in later["items"]] == [p["name"] for p in everyone[200:]]
    assert get(url, "/cadres", county, page=4, size=100)["items"] == []


async def test_search_filters_and_sort(url, county):
    jianguo = sorted(p["name"] for p in PEOPLE if "建国" in p["name"])
    found = get(url, "/cadres", county, q="建国", size=200)
    assert sorted(c["name"] for c in found["items"]) == jianguo and found["total"] == len(jianguo)
    assert get(url, "/cadres", county, q=" 马营 ")["total"] == N // 5, "a unit name matches, spaces dropped"
    assert get(url, "/cadres", county, q="无此人")["total"] == 0
    both = get(url, "/cadres", county, unit="县财政局", rank="正科", size=200)
    assert both["total"] == sum(1 for p in PEOPLE if p["unit"] == "县财政局" and p["rank"] == "正科")
    assert {(c["unit"], c["rank"]) for c in both["items"]} == {("县财政局", "正科")}
    assert get(url, "/cadres", county, category="基层治理")["total"] == N // 2
    by_birth = get(url, "/cadres", county, sort="birth_date", order="desc", size=5)["items"]
    everyone = (
        get(url, "/cadres", county, size=200, page=1)["items"]
        + get(url, "/cadres", county, size=200, page=2)["items"]
    )
    births = sorted((c["birth_date"] for c in everyone), reverse=True)
    assert [c["birth_date"] for c in by_birth] == births[:5]
    by_rank = get(url, "/cadres", county, sort="rank", size=200)["items"]
    places = [RANKS.index(c["rank"]) for c in by_rank]
    assert places == sorted(places), "ranks sort in the rank table's order, not by their characters"


async def test_a_unit_clerk_pages_through_its_own_unit_only(url, county):
    clerk = auth("unit", county, unit="县财政局")
    for asked in ({}, {"unit": "县教育局"}):  # asking for another unit still shows its own
        mine = httpx.get(f"{url}/cadres", headers=clerk, params={"size": 200, **asked}).json()
        assert mine["total"] == N // 5 and {c["unit"] for c in mine["items"]} == {"县财政局"}


async def test_the_export_holds_every_matching_row_not_a_page(url, county):
    r = httpx.get(
        f"{url}/cadres",
        headers=auth("org_department", county),
        params={"format": "xlsx", "unit": "武城镇", "size": 5},
    )
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert len(rows) - 1 == N // 5 and {row[4] for row in rows[1:]} == {"武城镇"}


@pytest.mark.parametrize(
    "params, field, words",
    [
        ({"page": "0"}, "page", "页码“0”应为 1 到"),
        ({"size": "500"}, "size", "每页条数“500”应为 1 到 200"),
        ({"sort": "id_number"}, "sort", "不能按“id_number”排序"),
        ({"order": "upward"}, "order", "排序方向“upward”"),
    ],
)
async def test_bad_paging_is_a_chinese_422_naming_the_parameter(url, county, params, field, words):
    for path in (
        "/cadres",
        "/reports/coverage",
        "/reports/hours",
        "/queue",
        "/classes",
        "/classes/x/nominations",
    ):
        r = httpx.get(f"{url}{path}", headers=auth("org_department", county), params=params)
        assert r.status_code == 422, (path, r.text)
        body = r.json()
        assert body["field"] == field and words in body["message"], (path, body)


async def test_scope_queue_and_reports_are_paged(url, county):
    dept = auth("org_department", county)
    start = date.today() + timedelta(days=30)
    r = httpx.post(
        f"{url}/classes",
        headers=dept,
        json={"title": "科级干部轮训班", "capacity": 50, "starts_on": str(start), "ends_on": str(start)},
    )
    class_id = r.json()["stream_id"].removeprefix("class-")
    drawn = httpx.post(
        f"{url}/classes/{class_id}/scope", headers=dept, json={"ranks": ["科员"]}, timeout=30
    ).json()
    in_scope = sum(1 for p in PEOPLE if p["rank"] == "科员")
    assert drawn["count"] == in_scope

    async def scope_synced():  # the class itself may not be in the read model yet: 404 until it is
        r = httpx.get(
            f"{url}/classes/{class_id}/scope", headers=dept, params={"size": 10, "page": 2}, timeout=30
        )
        return r.json() if r.status_code == 200 and r.json()["total"] == in_scope else None

    page2 = await eventually(scope_synced)
    assert len(page2["items"]) == 10 and page2["in_scope"] == in_scope
    assert get(url, f"/classes/{class_id}/scope", county, unit="甲马营乡", size=200)["total"] == sum(
        1 for p in PEOPLE if p["rank"] == "科员" and p["unit"] == "甲马营乡"
    )
    nominee = next(p for p in PEOPLE if p["rank"] == "科员")
    r = httpx.post(
        f"{url}/classes/{class_id}/nominations", headers=dept, json={"cadre_id": cadre_id_of(nominee["id"])}
    )
    assert r.status_code == 201, r.text

    async def nominated():
        got = get(url, f"/classes/{class_id}/scope", county, status="nominated")
        return got if got["total"] == 1 else None

    assert (await eventually(nominated))["items"][0]["name"] == nominee["name"]
    assert get(url, f"/classes/{class_id}/scope", county, status="none")["total"] == in_scope - 1
    queue = get(url, "/queue", county, class_id=class_id, q=nominee["name"])
    assert queue["total"] == 1 and queue["items"][0]["cadre_id"] == cadre_id_of(nominee["id"])
    assert get(url, "/queue", county, class_id=class_id, status="waitlisted")["total"] == 0

    cov = get(url, "/reports/coverage", county, size=7, page=2, sort="name")
    assert (cov["cadres"], cov["trained"], cov["total"], len(cov["items"])) == (N, 0, N, 7)
    names = sorted(p["name"] for p in PEOPLE)
    assert [o["name"] for o in cov["items"]] == names[7:14]
    hours = get(url, "/reports/hours", county, unit="县委办", short_only="true", size=200)
    assert (hours["cadres"], hours["total"]) == (N, N // 5) and {x["unit"] for x in hours["items"]} == {
        "县委办"
    }


# One story over a class list of 25 classes and one class's nominations.
# long: each step reads what the previous one wrote
async def test_the_class_list_and_a_class_s_nominations_are_paged(url, county):
    dept = auth("org_department", county)
    first = date.today() + timedelta(days=60)
    for i in range(25):
        r = httpx.post(
            f"{url}/classes",
            headers=dept,
            json={
                "class_id": f"pl{i:02d}-{county}",
                "title": f"专题培训班第{i + 1:02d}期",
                "category": "年轻干部" if i % 5 == 0 else "专题",
                "capacity": 3,
                "starts_on": str(first + timedelta(days=i)),
                "ends_on": str(first + timedelta(days=i + 2)),
            },
        )
        assert r.status_code == 201, r.text

    async def listed():
        got = get(url, "/classes", county, q="专题培训班", size=10, page=3)
        return got if got["total"] == 25 else None

    page3 = await eventually(listed)
    assert [c["title"] for c in page3["items"]] == [f"专题培训班第{i:02d}期" for i in range(21, 26)]
    newest = get(url, "/classes", county, q="专题培训班", sort="starts_on", order="desc", size=2)
    assert [c["title"] for c in newest["items"]] == ["专题培训班第25期", "专题培训班第24期"]
    assert get(url, "/classes", county, q="专题培训班", category="年轻干部")["total"] == 5
    assert get(url, "/classes", county, q="专题培训班", phase="upcoming")["total"] == 25
    assert get(url, "/classes", county, q="专题培训班", phase="ended")["total"] == 0
    r = httpx.get(f"{url}/classes", headers=dept, params={"phase": "later"})
    assert r.status_code == 422 and r.json()["field"] == "phase" and "未开班" in r.json()["message"]

    # One class: five recommended, three confirmed into its three places, two waitlisted.
    klass = f"pl00-{county}"
    in_scope = [p for p in PEOPLE if p["rank"] == "正科"]
    r = httpx.post(f"{url}/classes/{klass}/scope", headers=dept, json={"ranks": ["正科"]}, timeout=30)
    assert r.status_code == 201, r.text
    five = [cadre_id_of(p["id"]) for p in in_scope[:5]]
    r = httpx.post(f"{url}/classes/{klass}/nominations/batch", headers=dept, json={"cadre_ids": five})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{url}/classes/{klass}/confirmations", headers=dept, json={"cadre_ids": five})
    assert r.json()["events"] == ["NominationConfirmed"] * 3 + ["NominationWaitlisted"] * 2, r.text

    async def decided():
        got = get(url, f"/classes/{klass}", county)
        return got if got["counts"]["waitlisted"] == 2 else None

    page = await eventually(decided)
    assert (page["counts"]["confirmed"], page["scope"]["count"]) == (3, len(in_scope))
    assert "nominations" not in page and "cadre_ids" not in page["scope"]
    row = get(url, "/classes", county, q="专题培训班第01期")["items"][0]
    assert row["counts"]["confirmed"] == 3 and row["scope"]["count"] == len(in_scope)
    last = get(url, f"/classes/{klass}/nominations", county, size=2, page=3)
    assert last["total"] == 5 and [n["name"] for n in last["items"]] == [in_scope[4]["name"]]
    waiting = get(url, f"/classes/{klass}/nominations", county, status="waitlisted")["items"]
    assert [n["name"] for n in waiting] == [p["name"] for p in in_scope[3:5]]
    found = get(url, f"/classes/{klass}/nominations", county, q=in_scope[1]["name"])["items"]
    assert [(n["name"], n["status"]) for n in found] == [(in_scope[1]["name"], "confirmed")]
    by_name = get(url, f"/classes/{klass}/nominations", county, sort="name", order="desc")["items"]
    assert [n["name"] for n in by_name] == sorted((p["name"] for p in in_scope[:5]), reverse=True)

    # A unit's clerk: its own nominees only, and its own places on the class list's row.
    unit = in_scope[0]["unit"]
    own = [p["name"] for p in in_scope[:5] if p["unit"] == unit]
    clerk = auth("unit", county, unit=unit)
    mine = httpx.get(f"{url}/classes/{klass}/nominations", headers=clerk).json()
    assert [n["name"] for n in mine["items"]] == own
    row = httpx.get(f"{url}/classes", headers=clerk, params={"q": "专题培训班第01期"}).json()["items"][0]
    assert row["mine"] == {"unit": unit, "quota": None, "used": len(own), "left": None}
    assert sum(row["counts"].values()) == len(own)
