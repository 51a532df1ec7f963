"""A mentor's own list (我的帮带对象): given the follow-up events, the trainees whose current
"1+1" mentor they are, with the three tasks and what is recorded of each; a replaced mentor
no longer sees the trainee."""

import asyncio
from datetime import date

import pytest

from services.followup.projections import class_effect, graduates
from services.followup.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts import followup as fu
from shared.contracts import teaching as tea
from shared.errors import Forbidden
from shared.events import Actor
from shared.memory import MemoryDatabase

COUNTY = "371428"
CTX = Context(
    actor=Actor(user_id="o", name="李娜", role="org_department"), jurisdiction=COUNTY, correlation_id="c"
)


def envs(stream: str, events: list):
    return CommandHandler.envelopes(stream, 0, events, CTX)


@pytest.fixture
def rt():
    db = MemoryDatabase()
    db.load(
        graduates,
        envs(
            "teaching-class-k1",
            [
                tea.TraineeGraduated(
                    class_id="k1",
                    cadre_id=c,
                    name=n,
                    unit="县财政局",
                    graduated_on=date(2026, 1, 10),
                    hours=40,
                    attendance_rate=1.0,
                    class_title="年轻干部培训班",
                )
                for c, n in (("a", "孙丽"), ("b", "钱军"))
            ],
        ),
    )
    for cadre, name, mentors in (
        ("a", "孙丽", [("m1", "刘局长")]),
        ("b", "钱军", [("m1", "刘局长"), ("m2", "张科长")]),
    ):
        events = [
            fu.MilestoneScheduled(
                milestone_id=f"{cadre}-1",
                class_id="k1",
                cadre_id=cadre,
                name=name,
                unit="县财政局",
                month=1,
                due_on=date(2026, 2, 10),
                required_roles=["self", "colleague", "unit_leader"],
            ),
            *[
                fu.MentorAssigned(class_id="k1", cadre_id=cadre, mentor_id=m, mentor_name=n)
                for m, n in mentors
            ],
        ]
        if cadre == "a":
            events.append(
                fu.MentorTaskCompleted(
                    class_id="k1",
                    cadre_id="a",
                    task="urgent_matter",
                    evidence="处置记录",
                    comment="沉着果断",
                    mentor_id="m1",
                    done_on=date(2026, 3, 2),
                )
            )
        db.load(class_effect, envs(f"followup-k1-{cadre}", events))
    return Reads(db)


def test_a_mentor_lists_their_current_mentees_with_the_three_tasks(rt):
    me = Principal(user_id="m1", name="刘局长", role="mentor", jurisdiction=COUNTY)
    mentees = asyncio.run(rt.my_mentees(me))
    assert [(m["name"], m["class_title"]) for m in mentees] == [
        ("孙丽", "年轻干部培训班")
    ]  # 钱军 has a new mentor
    tasks = {t["task_name"]: t.get("comment") for t in mentees[0]["tasks"]}
    assert tasks == {
        "参与一件核心事务决策": None,
        "进行一次急难事件化解": "沉着果断",
        "策划一次重要事项流程": None,
    }


def test_another_role_is_refused(rt):
    with pytest.raises(Forbidden):
        trainee = Principal(user_id="t", name="x", role="trainee", jurisdiction=COUNTY)
        asyncio.run(rt.my_mentees(trainee))
