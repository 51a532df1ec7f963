"""The dashboard's division table and day (issue 18), over the real folds and routes, no
server: the province's own classes open like a county does, a municipality is listed once,
and "not started" is judged on China's day from the deployment's clock, not on UTC's."""

from __future__ import annotations

import json
from datetime import date

from services.dashboard import api
from services.dashboard.handlers import Handlers
from services.dashboard.projections import classes
from services.dashboard.reads import overview
from shared import jurisdiction as jur
from shared.auth import Principal
from shared.memory import FixedClock
from tests.unit.test_dashboard_domain import COUNTY, confirm, envelopes, fold, opened
from tests.unit.test_dashboard_issue18 import TODAY, rollup_of


def _province_with_its_own_class():
    docs = fold(classes, {}, envelopes("class-k1", [opened("k1"), confirm("a", "k1")]))
    fold(
        classes,
        docs,
        envelopes("class-p1", [opened("p1"), confirm("b", "p1"), confirm("c", "p1")], code="370000"),
    )
    return rollup_of(docs)


def test_the_provinces_own_row_opens_its_own_classes_as_a_county_row_opens_the_countys():
    r = _province_with_its_own_class()
    province = overview(r, "370000", 2026, 110, TODAY)
    own_row = next(row for row in province["rows"] if row["code"] == "370000")
    assert own_row["kind"] == "own"  # not "county": opening it must not reopen the province

    own = overview(r, "370000", 2026, 110, TODAY, own=True)
    assert own["own"] is True and own["divisions"] == []
    assert [(row["kind"], row["code"], row["title"]) for row in own["rows"]] == [
        ("class", "p1", "科级干部培训班")
    ]
    assert own["totals"]["trainees"] == 2 and own["totals"]["classes"] == 1
    county = overview(r, COUNTY, 2026, 110, TODAY)
    assert [row["code"] for row in county["rows"]] == ["k1"]


def test_a_municipality_is_listed_once_with_its_districts_under_it():
    docs = fold(classes, {}, envelopes("class-d1", [opened("d1"), confirm("a", "d1")], code="110101"))
    fold(classes, docs, envelopes("class-b1", [opened("b1"), confirm("b", "b1")], code="110000"))
    r = rollup_of(docs)

    beijing = overview(r, "110000", 2026, 110, TODAY)
    titles = [row["title"] for row in beijing["divisions"]]
    assert len(titles) == len(set(titles)) and titles.count("北京市") == 1
    rows = {row["code"]: row for row in beijing["divisions"]}
    assert (rows["110000"]["kind"], rows["110000"]["trainees"]) == ("own", 1)
    assert (rows["110101"]["title"], rows["110101"]["kind"], rows["110101"]["trainees"]) == (
        "东城区",
        "county",
        1,
    )
    assert sum(row["trainees"] for row in beijing["divisions"]) == beijing["totals"]["trainees"] == 2
    assert [c["name"] for c in jur.chain("110101")] == ["北京市", "东城区"]

    chongqing = [row["title"] for row in overview(r, "500000", 2026, 110, TODAY)["divisions"]]
    assert len(chongqing) == len(set(chongqing)) > 30 and "重庆市" not in chongqing


class _Reads:
    """The reads layer's one call the overview route makes, answering a folded roll-up."""

    def __init__(self, r) -> None:
        self.r = r

    async def current(self):
        return self.r


async def test_not_started_is_judged_on_the_deployments_china_day_not_on_utcs():
    # A class starting on 1 March 2031; the deployment's clock (China's day) says it is that day.
    docs = fold(classes, {}, envelopes("class-k1", [opened("k1", year=2031), confirm("a", "k1")]))
    h = Handlers(reads=_Reads(rollup_of(docs)), clock=FixedClock(date(2031, 3, 1)))
    who = Principal(user_id="o", name="组织部", role="org_department", jurisdiction=COUNTY)
    answer = await api.overview(jurisdiction=None, year=None, hours_policy=110, own=False, who=who, h=h)
    view = json.loads(answer.body)
    assert view["year"] == 2031  # "this year" is the clock's too
    (row,) = view["rows"]
    assert (row["code"], row["unstarted_trainees"]) == ("k1", 0)
    assert view["totals"]["unstarted_trainees"] == 0

    h.clock.day = date(2031, 2, 28)  # the day before, it had not started
    view = json.loads((await api.overview(None, None, 110, False, who, h)).body)
    assert view["rows"][0]["unstarted_trainees"] == 1
