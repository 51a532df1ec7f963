"""Follow-up's work list one page at a time, over HTTP against the real servers: 28
graduations put on teaching's real topic, the service's own scheduler planning them and
marking them due or overdue, its projector writing the files its work list follows; then
the pages, the search, the filters, the sort and the Excel twin a clerk would use."""

from __future__ import annotations

import io
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from shared.contracts.teaching import TraineeGraduated
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华"
YOUNG, VILLAGE = "中青年干部培训班", "乡村振兴专题培训班"


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def url(servers, county, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.3")
    proc = ServiceProcess(
        settings("followup", servers, [county]),
        log=tmp_path_factory.mktemp("fu") / "fu.log",
        components="api,relay,projectors,scheduler",
    )
    try:
        proc.start()
        yield proc.url
    finally:
        proc.stop()
        mp.undo()


async def _graduate(servers, county: str, class_id: str, title: str, ago: int, people) -> None:
    graduated = date.today() - timedelta(days=ago)
    events = [
        TraineeGraduated(
            class_id=class_id,
            cadre_id=c,
            name=n,
            unit=u,
            graduated_on=graduated,
            hours=32,
            attendance_rate=1.0,
            class_title=title,
        )
        for c, n, u in people
    ]
    await publish(servers.kafka, "teaching", county, f"teaching-class-{class_id}", events, actor_name="教务")


def get(url: str, county: str, path: str = "/worklist", **params) -> dict:
    r = httpx.get(f"{url}{path}", headers=auth("org_department", county), params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_work_list_is_paged_searched_filtered_and_sorted(servers, url, county):
    # 25 graduated 40 days ago (month 1 due, within its 14 days' grace), 3 of another class
    # 60 days ago (month 1 overdue).
    young = [(f"y{i:02d}", f"{SURNAMES[i]}明", "县财政局" if i % 2 else "县教育局") for i in range(25)]
    village = [(f"v{i}", f"{SURNAMES[i]}芳", "县教育局") for i in range(3)]
    await _graduate(servers, county, f"wy-{county}", YOUNG, 40, young)
    await _graduate(servers, county, f"wv-{county}", VILLAGE, 60, village)

    async def all_listed():
        got = get(url, county, size=10)
        return got if (got["due"], got["overdue"]) == (25, 3) else None

    first = await eventually(all_listed, timeout=90)
    assert (first["total"], first["page"], first["size"], len(first["items"])) == (28, 1, 10, 10)
    assert [i["status_name"] for i in first["items"][:3]] == ["已逾期"] * 3  # overdue first
    assert first["by_class"] == [
        {"class_id": f"{county}-wy-{county}", "class_title": YOUNG, "due": 25, "overdue": 0},
        {"class_id": f"{county}-wv-{county}", "class_title": VILLAGE, "due": 0, "overdue": 3},
    ]
    last = get(url, county, size=10, page=3)
    assert len(last["items"]) == 8 and last["due"] == 25  # the figures are the week's, not the page's
    seen = {i["cadre_id"] for p in (1, 2, 3) for i in get(url, county, size=10, page=p)["items"]}
    assert seen == {c for c, _, _ in young + village}

    assert sorted(i["name"] for i in get(url, county, q="赵")["items"]) == ["赵明", "赵芳"]
    assert get(url, county, status="overdue")["total"] == 3
    assert get(url, county, unit="县财政局")["total"] == 12
    assert get(url, county, class_id=f"wv-{county}")["total"] == 3
    by_name = [i["name"] for i in get(url, county, sort="name", size=28)["items"]]
    assert by_name == sorted(n for _, n, _ in young + village)
    clerk = httpx.get(f"{url}/worklist", headers=auth("unit", county, unit="县财政局"), params={"size": 5})
    assert clerk.json()["total"] == 12 and {i["unit"] for i in clerk.json()["items"]} == {"县财政局"}

    r = httpx.get(f"{url}/worklist", headers=auth("org_department", county), params={"status": "late"})
    assert r.status_code == 422 and r.json()["field"] == "status" and "已逾期" in r.json()["message"]
    r = httpx.get(f"{url}/worklist", headers=auth("org_department", county), params={"sort": "id_number"})
    assert r.status_code == 422 and r.json()["field"] == "sort"

    x = httpx.get(f"{url}/worklist.xlsx", headers=auth("org_department", county), params={"size": 5})
    rows = list(load_workbook(io.BytesIO(x.content)).worksheets[0].iter_rows(values_only=True))
    assert (
        sum(1 for row in rows if any(v in ("已逾期", "待完成") for v in row)) == 28
    )  # every row, not a page
