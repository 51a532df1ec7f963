"""Who sees what (shared/visibility.py, issue 14), against real services over HTTP.

- The names rule, on teaching: a class whose roster comes from selection's real topic; an
  analyst's roster, attendance and its spreadsheet show 学员N and no name, unit or cadre id;
  the party school's show them.
- Masks that mask, on selection: a unit clerk's registry list and its spreadsheet show the
  masked number with no birth date or gender, and cannot be sorted by birth date; the
  department's show both; an analyst's show neither names nor numbers."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook

from services.selection.cadres import id_check_digit
from shared.clock import local_today
from shared.contracts.selection import ClassOpened, NominationConfirmed, TraineeNominated
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration
COUNTY = random_county()
CLASS = "k-names"
PEOPLE = {"cd-n1": ("欧阳明", "县审计局"), "cd-n2": ("司马红", "县统计局"), "cd-n3": ("诸葛刚", "县档案馆")}


@pytest.fixture(scope="module")
def teaching(servers, tmp_path_factory):
    log = tmp_path_factory.mktemp("teaching") / "teaching.log"
    with ServiceProcess(settings("teaching", servers, [COUNTY]), log=log) as p:
        p.start()
        yield p


async def test_an_analyst_sees_the_class_without_names_the_school_with_them(servers, teaching):
    starts = local_today() + timedelta(days=10)
    events = [
        ClassOpened(
            class_id=CLASS,
            title="2026年中青年干部培训班",
            capacity=10,
            starts_on=starts,
            ends_on=starts + timedelta(days=4),
            organiser="县委组织部",
        )
    ]
    for cadre_id, (name, unit) in PEOPLE.items():
        p = dict(class_id=CLASS, cadre_id=cadre_id, name=name, unit=unit, home_jurisdiction=COUNTY)
        events += [TraineeNominated(**p), NominationConfirmed(**p)]
    await publish(servers.kafka, "selection", COUNTY, f"class-{CLASS}", events, role="org_department")

    school = auth("party_school", COUNTY, "党校教务处赵老师")
    analyst = auth("analyst", COUNTY, "市委组织部分析员")
    url = teaching.url

    async def roster_complete():
        r = httpx.get(f"{url}/classes/{CLASS}/roster", headers=school, timeout=30)
        return r.status_code == 200 and len(r.json()["trainees"]) == len(PEOPLE) and r.json()

    shown = await eventually(roster_complete, timeout=120)
    assert sorted(t["name"] for t in shown["trainees"]) == sorted(n for n, _ in PEOPLE.values())

    roster = httpx.get(f"{url}/classes/{CLASS}/roster", headers=analyst, timeout=30)
    attendance = httpx.get(f"{url}/classes/{CLASS}/attendance", headers=analyst, timeout=30)
    sheet = httpx.get(f"{url}/classes/{CLASS}/attendance.xlsx", headers=analyst, timeout=30)
    assert roster.status_code == attendance.status_code == sheet.status_code == 200
    assert sorted(t["name"] for t in roster.json()["trainees"]) == ["学员1", "学员2", "学员3"]
    cells = [
        c for row in load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True) for c in row
    ]
    seen = roster.text + attendance.text + " ".join(str(c) for c in cells)
    for cadre_id, (name, unit) in PEOPLE.items():
        assert name not in seen and unit not in seen and cadre_id not in seen
    assert "学员1" in cells


@pytest.fixture(scope="module")
def selection(servers, tmp_path_factory):
    log = tmp_path_factory.mktemp("selection") / "selection.log"
    with ServiceProcess(settings("selection", servers, [COUNTY]), log=log) as p:
        p.start()
        yield p


def sheet_cells(r: httpx.Response) -> list:
    assert r.status_code == 200, r.text
    return [c for row in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True) for c in row]


async def test_a_unit_clerk_sees_the_masked_number_without_birth_date_or_gender(selection):
    url = selection.url
    first17 = f"{COUNTY}19870909201"
    number = first17 + id_check_digit(first17)
    dept = auth("org_department", COUNTY)
    cadre = {"name": "上官燕", "id_number": number, "unit": "县民政局", "rank": "副科"}
    assert httpx.post(f"{url}/cadres", headers=dept, json=cadre).status_code == 201

    async def listed():
        r = httpx.get(f"{url}/cadres", headers=dept, timeout=30).json()
        return r.get("total") and r["items"][0]

    full = await eventually(listed, timeout=60)
    assert (full["birth_date"], full["gender"]) == ("1987-09-09", "男")
    dept_sheet = sheet_cells(httpx.get(f"{url}/cadres", headers=dept, params={"format": "xlsx"}))
    assert "1987-09-09" in [str(c)[:10] for c in dept_sheet] and "男" in dept_sheet

    clerk = auth("unit", COUNTY, unit="县民政局")
    (row,) = httpx.get(f"{url}/cadres", headers=clerk).json()["items"]
    assert row["id_number"] == number[:6] + "********" + number[-4:] and row["name"] == "上官燕"
    assert "birth_date" not in row and "gender" not in row and "19870909" not in str(row)
    cells = sheet_cells(httpx.get(f"{url}/cadres", headers=clerk, params={"format": "xlsx"}))
    assert "上官燕" in cells and "男" not in cells and not any("1987" in str(c) for c in cells if c)
    refused = httpx.get(f"{url}/cadres", headers=clerk, params={"sort": "birth_date"})
    assert refused.status_code == 422 and refused.json()["field"] == "sort"

    analyst = auth("analyst", COUNTY)
    seen = httpx.get(f"{url}/cadres", headers=analyst).text + str(
        sheet_cells(httpx.get(f"{url}/cadres", headers=analyst, params={"format": "xlsx"}))
    )
    assert "上官燕" not in seen and number[-4:] not in seen and "1987" not in seen and "学员1" in seen
