"""What a process's projection writers may keep (shared/runtime.py, `cache_bytes`): a county
service's own 4 MiB (selection refolding a county's five years peaked at 214 MB with 8 MiB and
201 MB with 4, issue 16's memory per service < 200 MB), the province dashboard its 8 MiB (its
first start holds documents within it), and GANXUN_PROJECTION_CACHE_BYTES over either."""

from __future__ import annotations

from services.dashboard.service import DEFINITION as DASHBOARD
from services.followup.service import DEFINITION as FOLLOWUP
from services.records.service import DEFINITION as RECORDS
from services.selection.service import DEFINITION as SELECTION
from services.teaching.service import DEFINITION as TEACHING
from shared.runtime import cache_bytes
from shared.settings import Settings

MiB = 1024 * 1024


def test_a_county_service_keeps_4_mib_and_the_dashboard_8(monkeypatch):
    monkeypatch.delenv("GANXUN_PROJECTION_CACHE_BYTES", raising=False)
    settings = Settings()
    for county in (SELECTION, TEACHING, RECORDS, FOLLOWUP):
        assert cache_bytes(settings, county) == 4 * MiB, county.name
    assert cache_bytes(settings, DASHBOARD) == 8 * MiB


def test_the_setting_decides_where_it_is_given(monkeypatch):
    monkeypatch.setenv("GANXUN_PROJECTION_CACHE_BYTES", str(2 * MiB))
    settings = Settings()
    assert cache_bytes(settings, SELECTION) == 2 * MiB
    assert cache_bytes(settings, DASHBOARD) == 2 * MiB
