"""Deployed per county on one Kafka: each county sees only its own data, the province
sees both, and a province-run class reaches each county's trainees."""

from datetime import date

import pytest

from services.selection.domain import DrawScope, NominateTrainee, OpenClass
from services.selection.service import DEFINITION as SELECTION
from services.teaching.service import DEFINITION as TEACHING
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.selection import TraineeNominated
from shared.projection import Projection
from shared.runtime import Runtime, ServiceDefinition
from tests.support import eventually, random_county, settings

pytestmark = pytest.mark.integration


def _who(code: str, role: str = "org_department") -> tuple[Principal, Context]:
    who = Principal(user_id=f"{role}-{code}", name=f"{code}组织部", role=role, jurisdiction=code)
    return who, Context(actor=who.actor, jurisdiction=code, correlation_id=f"two-counties-{code}")


async def _open(rt: Runtime, code: str, class_id: str) -> None:
    who, ctx = _who(code)
    await rt.handlers.open_class(
        ctx,
        who,
        OpenClass(class_id, f"{code} 科级干部培训班", 50, date(2027, 4, 1), date(2027, 4, 10), "县委党校"),
    )


# A stand-in for follow-up's future projection: "my county's cadres in any class",
# which must see province-run classes (topics of the ancestors) as well.
my_cadres = Projection(
    "my_cadres",
    sources=("selection",),
    include_ancestors=True,
    scope=lambda env, ev: ev.home_jurisdiction or env.jurisdiction,
)


@my_cadres.on(TraineeNominated, key=lambda env, ev: ev.cadre_id)
def _cadre(doc, env, ev) -> None:
    doc.update(name=ev.name, home=ev.home_jurisdiction)
    doc.setdefault("classes", []).append(ev.class_id)


# long: one story end to end against real servers; its steps share the state they build
async def test_counties_are_isolated_and_the_province_sees_both(servers):
    a, b, c = random_county("43"), random_county("43"), random_county("43")
    province = "430000"
    runtimes = {
        "sel_a": Runtime(SELECTION, settings("selection", servers, [a])),
        "sel_b": Runtime(SELECTION, settings("selection", servers, [b])),
        "sel_p": Runtime(SELECTION, settings("selection", servers, [province])),
        "teach_a": Runtime(TEACHING, settings("teaching", servers, [a])),
        "teach_b": Runtime(TEACHING, settings("teaching", servers, [b])),
        "teach_p": Runtime(TEACHING, settings("teaching", servers, [province])),
    }
    followup_def = ServiceDefinition("followup", "stand-in", "", [my_cadres], routes=lambda: None)
    runtimes["fu_a"] = Runtime(followup_def, settings("followup", servers, [a]))
    runtimes["fu_b"] = Runtime(followup_def, settings("followup", servers, [b]))
    for name, rt in runtimes.items():
        await rt.start(("relay",) if name.startswith("sel") else ("projectors",))
    try:
        await _open(runtimes["sel_a"], a, f"cls-{a}")
        await _open(runtimes["sel_b"], b, f"cls-{b}")
        # County c has no deployment of its own: the province's acts for it, and the
        # relay creates c's topic on first use.
        await _open(runtimes["sel_p"], c, f"cls-{c}")
        # The province party school's class, with one trainee from each county.
        await _open(runtimes["sel_p"], province, "cls-province")
        who, ctx = _who(province)
        await runtimes["sel_p"].handlers.on_class(
            ctx, who, "cls-province", DrawScope({"ranks": ["副科"]}, ("pa", "pb"), date(2027, 1, 1))
        )
        for cadre, home in (("pa", a), ("pb", b)):
            await runtimes["sel_p"].handlers.on_class(
                ctx,
                who,
                "cls-province",
                NominateTrainee(
                    cadre_id=cadre,
                    name=f"{home}学员",
                    unit=f"{home}县委办",
                    today=date(2027, 1, 1),
                    home_jurisdiction=home,
                ),
            )

        async def roster_ids(rt: Runtime, want: int):
            ids = sorted([d["_id"] async for d in rt.db["class_roster"].find()])
            return ids if len(ids) >= want else None

        assert await eventually(lambda: roster_ids(runtimes["teach_p"], 4)) == sorted(
            [f"cls-{a}", f"cls-{b}", f"cls-{c}", "cls-province"]
        )
        assert await eventually(lambda: roster_ids(runtimes["teach_a"], 1)) == [f"cls-{a}"]
        assert await eventually(lambda: roster_ids(runtimes["teach_b"], 1)) == [f"cls-{b}"]

        async def cadres(rt: Runtime):
            docs = [d async for d in rt.db["my_cadres"].find()]
            return docs or None

        # Each county's follow-up gets its own cadre from the province class, and only that one.
        for rt, mine, cadre in ((runtimes["fu_a"], a, "pa"), (runtimes["fu_b"], b, "pb")):
            docs = await eventually(lambda rt=rt: cadres(rt))
            assert [(d["_id"], d["home"], d["classes"]) for d in docs] == [(cadre, mine, ["cls-province"])]
        # The county's own teaching roster never got the other county's class.
        assert await runtimes["teach_a"].db["class_roster"].count_documents({"jurisdiction": b}) == 0
    finally:
        for rt in runtimes.values():
            await rt.stop()
