"""The follow-up work list for a unit (本单位跟踪待办): a unit's clerk and its evaluators see
which of their own unit's people have a milestone due, and nobody else's."""

import asyncio
from datetime import date

import pytest

from services.followup.reads import REMINDERS, Reads
from shared.auth import Principal
from shared.errors import Forbidden
from shared.memory import MemoryDatabase

COUNTY = "371428"


def milestone(status: str = "due") -> dict:
    return {
        "month": 1,
        "focus": "听思想",
        "due_on": "2026-03-20",
        "status": status,
        "required_roles": ["self", "colleague", "unit_leader"],
        "evaluations": [],
    }


@pytest.fixture
def rt():
    db = MemoryDatabase()

    async def fill():
        await db[REMINDERS].insert_one(
            {
                "_id": "2026-03-20",
                "streams": {
                    s: {"cadre_id": s, "jurisdiction": COUNTY, "stream_id": f"followup-{s}"}
                    for s in ("a", "b")
                },
            }
        )
        for cadre, name, unit in (("a", "孙丽", "县财政局"), ("b", "吴霞", "县教育局")):
            await db["files"].insert_one(
                {
                    "_id": cadre,
                    "cadre_id": cadre,
                    "name": name,
                    "unit": unit,
                    "jurisdiction": COUNTY,
                    "classes": {"k1": {"class_id": "k1", "milestones": {"1": milestone()}}},
                }
            )
        await db["graduates"].insert_one(
            {"_id": "k1", "class_title": "年轻干部培训班", "jurisdiction": COUNTY}
        )

    asyncio.run(fill())
    return Reads(db)


@pytest.mark.parametrize("role", ["unit", "evaluator"])
def test_a_unit_sees_only_its_own_people(rt, role):
    who = Principal(user_id="u", name="王芳", role=role, jurisdiction=COUNTY, unit="县财政局")
    work = asyncio.run(rt.worklist(who, date(2026, 3, 20)))
    shown = [(i["name"], i["class_title"], i["status_name"]) for i in work["items"]]
    assert shown == [("孙丽", "年轻干部培训班", "待完成")]


def test_the_department_sees_every_unit_and_a_token_without_a_unit_is_refused(rt):
    org = Principal(user_id="o", name="李娜", role="org_department", jurisdiction=COUNTY)
    assert len(asyncio.run(rt.worklist(org, date(2026, 3, 20)))["items"]) == 2
    with pytest.raises(Forbidden):
        asyncio.run(
            rt.worklist(Principal(user_id="u", name="x", role="unit", jurisdiction=COUNTY), date(2026, 3, 20))
        )
