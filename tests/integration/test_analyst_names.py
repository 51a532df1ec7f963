"""The names rule against a real teaching service (shared/visibility.py, issue 14): a class
whose roster comes from selection's real topic; over HTTP, an analyst's roster, attendance
and its spreadsheet show 学员N and no name, unit or cadre id; the party school's show them."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook

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
