"""Selection's development clock is the deployment's, in its store: moved by an admin
covering the whole deployment, refused to one who does not, kept across a SIGKILL and
restart (it was in the process's memory, and a restart put "today" back)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shared.clock import local_today
from tests.support import ServiceProcess, auth, random_county, settings

pytestmark = pytest.mark.integration


async def test_the_clock_survives_a_restart_and_only_a_covering_admin_moves_it(
    servers, tmp_path, monkeypatch
):
    county = random_county()
    city = county[:4] + "00"
    sibling = next(city[:4] + f"{n:02d}" for n in range(1, 99) if city[:4] + f"{n:02d}" != county)
    monkeypatch.setenv("GANXUN_SELECTION_MOVABLE_CLOCK", "1")
    proc = ServiceProcess(settings("selection", servers, [county, sibling]), log=tmp_path / "selection.log")
    with proc:
        proc.start()
        day = local_today() + timedelta(days=40)
        r = httpx.put(f"{proc.url}/admin/clock", headers=auth("admin", county), json={"today": str(day)})
        assert r.status_code == 403 and r.json()["code"] == "clock_not_covered", r.text
        assert sibling in r.json()["message"]
        r = httpx.put(
            f"{proc.url}/admin/clock", headers=auth("org_department", city), json={"today": str(day)}
        )
        assert r.status_code == 403 and r.json()["code"] == "wrong_role"
        r = httpx.put(f"{proc.url}/admin/clock", headers=auth("admin", city), json={"today": str(day)})
        assert r.status_code == 200 and r.json()["offset_days"] == 40, r.text

        proc.kill()
        proc.start()
        r = httpx.get(f"{proc.url}/admin/clock", headers=auth("admin", city))
        assert r.status_code == 200, r.text
        assert r.json() == {"today": str(day), "offset_days": 40}, "a restart keeps the day"
