"""The registry against the real servers: a 2,000-row xlsx import with three bad rows,
re-imports that add nothing, a CSV change that becomes one event; and the training
history, coverage and hours built from teaching's and follow-up's events put on their
real Kafka topics (tests.support.publish), without running those services."""

import csv
import io
import time
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from pymongo import AsyncMongoClient

from services.selection.cadres import id_check_digit
from services.selection.importing import TEMPLATE
from shared import kafka
from shared.contracts.followup import MilestoneCompleted
from shared.contracts.teaching import OnlineHoursCredited, SessionAttended, TraineeGraduated
from shared.topics import events_topic
from tests.support import ServiceProcess, auth, cadre_id_of, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
ROWS = 2000
BAD = {17: "check", 1001: "unit", 1999: "rank"}  # data row index -> what is wrong
RANKS = ["副科", "正科", "科员", "一级主任科员", "村(社区)书记"]
UNITS = [
    f"{n}" for n in ("县委办", "县政府办", "县财政局", "县发改局", "县教育局", "甲马营乡", "武城镇", "老城镇")
]


def _id(i: int) -> str:
    first17 = f"330102{date(1965, 1, 1) + timedelta(days=i * 9):%Y%m%d}{i % 1000:03d}"
    return first17 + id_check_digit(first17)


def roster_rows() -> list[list]:
    rows = []
    for i in range(ROWS):
        idn = _id(i)
        row = [
            f"干部{i:04d}",
            "",
            "",
            idn,
            UNITS[i % len(UNITS)],
            "科长" if i % 3 else "",
            RANKS[i % len(RANKS)],
            ["经济发展", "基层治理", "社会民生"][i % 3],
            "2021-03-01",
            "是" if i % 7 == 0 else "否",
            "选调生" if i % 11 == 0 else "",
            2018 if i % 11 == 0 else "",
        ]
        if BAD.get(i) == "check":
            row[3] = idn[:17] + ("0" if idn[17] != "0" else "1")
        elif BAD.get(i) == "unit":
            row[4] = ""
        elif BAD.get(i) == "rank":
            row[6] = "大队长"
        rows.append(row)
    return rows


def xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    wb.active.append(TEMPLATE)
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def counties():
    return random_county(), random_county()


@pytest.fixture(scope="module")
async def selection(servers, counties, tmp_path_factory):
    await kafka.ensure_topics(
        servers.kafka, [events_topic(s, c) for s in ("teaching", "followup") for c in counties]
    )
    proc = ServiceProcess(
        settings("selection", servers, list(counties)),
        log=tmp_path_factory.mktemp("selection") / "selection.log",
    )
    with proc.start():
        yield proc


async def _commits(servers, proc: ServiceProcess) -> int:
    client = AsyncMongoClient(servers.mongodb)
    try:
        return await client[proc.settings.database_name]["events"].count_documents({})
    finally:
        await client.close()


def _import(url: str, county: str, name: str, content: bytes) -> tuple[dict, float]:
    started = time.monotonic()
    r = httpx.post(
        f"{url}/cadres/import",
        headers=auth("org_department", county, "组织部干部科"),
        files={"file": (name, content)},
        timeout=600,
    )
    assert r.status_code == 200, r.text
    return r.json(), time.monotonic() - started


# long: one story end to end against real servers; its steps share the state they build
async def test_a_2000_row_roster_imports_good_rows_reports_bad_ones_and_reimports_nothing(
    selection, counties, servers
):
    url, county = selection.url, counties[0]
    rows = roster_rows()
    content = xlsx(rows)
    report, seconds = _import(url, county, "干部名册.xlsx", content)
    print(f"\nimport of {ROWS} rows: {seconds:.1f} s")
    assert (report["rows"], report["registered"], report["updated"], report["rejected"]) == (
        ROWS,
        ROWS - 3,
        0,
        3,
    )
    # Spreadsheet row = data index + 2 (header on row 1).
    assert [(e["row"], e["name"]) for e in report["errors"]] == [(i + 2, f"干部{i:04d}") for i in sorted(BAD)]
    assert "校验位错误" in report["errors"][0]["errors"][0]
    assert report["errors"][1]["errors"] == ["缺少工作单位"]
    assert "职级“大队长”不在职级表中" in report["errors"][2]["errors"][0]

    async def imported():
        r = httpx.get(
            f"{url}/cadres", headers=auth("org_department", county), params={"size": 200}, timeout=60
        )
        return r.json() if r.json()["total"] == ROWS - 3 else None

    listed = await eventually(imported, timeout=120)
    assert len(listed["items"]) == 200 and all("********" in c["id_number"] for c in listed["items"])
    assert cadre_id_of(_id(17)) not in {c["cadre_id"] for c in listed["items"]}
    found = httpx.get(
        f"{url}/cadres", headers=auth("org_department", county), params={"q": "干部0017"}
    ).json()
    assert found["total"] == 0, "the row with the bad check digit was not imported"

    before = await _commits(servers, selection)
    again, seconds = _import(url, county, "干部名册.xlsx", content)
    print(f"re-import of {ROWS} rows: {seconds:.1f} s")
    assert (again["registered"], again["updated"], again["unchanged"], again["rejected"]) == (
        0,
        0,
        ROWS - 3,
        3,
    )
    assert await _commits(servers, selection) == before, "a re-import appends no event"

    # The same roster as CSV (GBK, as Excel saves it) with one cadre moved: one change, one event.
    rows[5][4], rows[5][6] = "县政府办", "正科"
    buf = io.StringIO()
    csv.writer(buf).writerows([TEMPLATE, *rows])
    changed, _ = _import(url, county, "名册.csv", buf.getvalue().encode("gb18030"))
    assert (changed["registered"], changed["updated"], changed["unchanged"]) == (0, 1, ROWS - 4)
    assert await _commits(servers, selection) == before + 1

    async def moved():
        r = httpx.get(f"{url}/cadres/{cadre_id_of(_id(5))}", headers=auth("org_department", county))
        return r.json() if r.json()["unit"] == "县政府办" else None

    assert (await eventually(moved))["rank"] == "正科"

    export = httpx.get(
        f"{url}/cadres", headers=auth("org_department", county), params={"format": "xlsx"}, timeout=60
    )
    sheet = list(load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True))
    assert sheet[0][:4] == ("姓名", "性别", "出生日期", "身份证号") and len(sheet) == ROWS - 3 + 1
    assert all("********" in r[3] for r in sheet[1:])


# long: one story end to end against real servers; its steps share the state they build
async def test_training_history_from_teaching_and_follow_up_feeds_coverage_hours_and_scope(
    selection, counties, servers
):
    url, county = selection.url, counties[1]
    dept = auth("org_department", county, "组织部干部科")
    ids = []
    for i, name in enumerate(("李明", "韩梅", "钱进")):
        first17 = f"110105{date(1986, 4, 1 + i):%Y%m%d}{300 + i:03d}"
        r = httpx.post(
            f"{url}/cadres",
            headers=dept,
            json={
                "name": name,
                "id_number": first17 + id_check_digit(first17),
                "unit": "县委组织部",
                "rank": "副科",
            },
        )
        ids.append(r.json()["cadre_id"])
    trained, online_only, never = ids
    year = date.today().year
    await publish(
        servers.kafka,
        "teaching",
        county,
        "class-hist-1",
        [
            SessionAttended(
                class_id="hist-1", session_id="s1", cadre_id=trained, hours=4, on=date(year, 1, 10)
            ),
            SessionAttended(
                class_id="hist-1", session_id="s2", cadre_id=trained, hours=3.5, on=date(year, 1, 11)
            ),
            TraineeGraduated(
                class_id="hist-1",
                cadre_id=trained,
                name="李明",
                unit="县委组织部",
                graduated_on=date(year, 1, 12),
                hours=7.5,
                attendance_rate=1.0,
                class_title="科级干部进修班",
            ),
        ],
        role="party_school",
    )
    await publish(
        servers.kafka,
        "teaching",
        county,
        f"online-{online_only}",
        [OnlineHoursCredited(cadre_id=online_only, hours=20, on=date(year, 2, 1), reference="wx-1")],
    )
    await publish(
        servers.kafka,
        "followup",
        county,
        "followup-hist-1",
        [
            MilestoneCompleted(
                milestone_id="m1",
                class_id="hist-1",
                cadre_id=trained,
                month=1,
                completed_on=date(year, 2, 12),
                on_time=True,
                average_score=91.0,
            )
        ],
    )

    async def history():
        r = httpx.get(f"{url}/cadres/{trained}/history", headers=dept)  # 404 until the cadre is projected
        h = r.json() if r.status_code == 200 else {}
        return h if h.get("milestones") and h.get("trainings") else None

    h = await eventually(history, timeout=60)
    assert h["hours"] == {str(year): 7.5} and h["last_trained_on"] == f"{year}-01-12" and h["sessions"] == 2
    assert h["trainings"][0]["title"] == "科级干部进修班" and h["milestones"][0]["average_score"] == 91.0

    async def online():
        return httpx.get(f"{url}/cadres/{online_only}/history", headers=dept).json()["hours"] or None

    assert await eventually(online) == {str(year): 20.0}

    cov = httpx.get(f"{url}/reports/coverage", headers=dept).json()
    assert (cov["cadres"], cov["trained"], cov["total"]) == (3, 1, 2)
    assert sorted(o["cadre_id"] for o in cov["items"]) == sorted([online_only, never])
    hours = httpx.get(f"{url}/reports/hours", headers=dept, params={"year": year}).json()
    assert {r["cadre_id"]: (r["hours"], r["short"]) for r in hours["items"]} == {
        trained: (7.5, 102.5),
        online_only: (20.0, 90.0),
        never: (0.0, 110.0),
    }
    x_cov = httpx.get(f"{url}/reports/coverage", headers=dept, params={"format": "xlsx"})
    wb = load_workbook(io.BytesIO(x_cov.content))
    assert wb.sheetnames == ["按单位", "逾期名单"] and len(list(wb["逾期名单"].iter_rows())) == 3
    x_hours = httpx.get(f"{url}/reports/hours", headers=dept, params={"format": "xlsx"})
    assert "filename*=UTF-8''" in x_hours.headers["content-disposition"]

    # The overdue list is a scope criterion.
    start = date.today() + timedelta(days=15)
    r = httpx.post(
        f"{url}/classes",
        headers=dept,
        json={
            "title": "轮训补训班",
            "capacity": 10,
            "starts_on": str(start),
            "ends_on": str(start + timedelta(days=3)),
        },
    )
    class_id = r.json()["stream_id"].removeprefix("class-")
    scope = httpx.post(f"{url}/classes/{class_id}/scope", headers=dept, json={"not_trained_years": 5}).json()
    assert sorted(c["cadre_id"] for c in scope["cadres"]) == sorted([online_only, never])
    assert all("近 5 年未参加培训" in c["reasons"][0] for c in scope["cadres"])
