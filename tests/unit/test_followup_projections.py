"""The follow-up read models and the effect report, folded in memory (no I/O); and the
movable clock's guard rails."""

from datetime import date

import pytest

from services.followup.domain import (
    AssignMentor,
    CompleteMentorTask,
    FollowUpDecider,
    GiveTalk,
    ScheduleFollowUp,
    SubmitEvaluation,
    Tick,
    questions_for,
    trainee_stream,
)
from services.followup.projections import class_effect, files, graduates
from services.followup.report import class_effect as effect_of
from shared.commands import CommandHandler, Context, fold
from shared.contracts.teaching import TraineeGraduated
from shared.events import Actor

D = FollowUpDecider()
CTX = Context(actor=Actor(user_id="u", name="测试", role="admin"), jurisdiction="110101", correlation_id="c")
GRAD = date(2026, 1, 10)


def run(stream: str, commands: list) -> list:
    """Decide each command on the stream's history; the envelopes as the relay would publish them."""
    events, envelopes = [], []
    for c in commands:
        new = D.decide(fold(D, events), c)
        envelopes += CommandHandler.envelopes(stream, len(events), new, CTX)
        events += new
    return envelopes


def project(projection, envelopes) -> dict:
    docs: dict = {}
    items = []
    for env in envelopes:
        routed = projection.route(env, _event(env))
        if routed:
            items.append((routed[0], env, _event(env), routed[1]))
    projection.fold(docs, items)
    return docs


def _event(env):
    from shared.events import CATALOGUE

    return CATALOGUE.model(env.type).model_validate(env.payload)


def ev(cadre, month, role, value, today, actor=None):
    actor = (
        actor
        or {
            "self": ("trainee", cadre, None),
            "colleague": ("unit", "u", "局"),
            "unit_leader": ("unit", "l", "局"),
            "mentor": ("mentor", "m", None),
        }[role]
    )
    return SubmitEvaluation(
        month, role, actor[1], "某", actor[0], actor[2], {k: value for k in questions_for(month)}, "", today
    )


def test_the_effect_report_from_a_folded_class():
    a = run(
        trainee_stream("c", "a"),
        [
            ScheduleFollowUp("c", "a", "甲", "局", GRAD, (1, 3), 5, GRAD),
            AssignMentor("m", "导师", "", "org_department", None),
            ev("a", 1, "self", 90, date(2026, 2, 10)),
            ev("a", 1, "colleague", 70, date(2026, 2, 12)),
            ev("a", 1, "mentor", 50, date(2026, 2, 12)),
            ev("a", 1, "unit_leader", 80, date(2026, 2, 15)),
            CompleteMentorTask("core_decision", "纪要", "好", "mentor", "m", date(2026, 2, 20)),
            GiveTalk("t", date(2026, 2, 21), "全局", "体会", 20, "trainee", "a", None, date(2026, 2, 21)),
            Tick(date(2026, 4, 20)),
        ],
    )
    b = run(
        trainee_stream("c", "b"),
        [
            ScheduleFollowUp("c", "b", "乙", "局", GRAD, (1, 3), 5, GRAD),
            ev("b", 1, "self", 60, date(2026, 2, 10)),
            Tick(date(2026, 2, 16)),
            ev("b", 1, "colleague", 60, date(2026, 2, 16)),
            ev("b", 1, "unit_leader", 60, date(2026, 2, 16)),
        ],
    )
    docs = project(class_effect, a + b)
    report = effect_of(docs["c"])
    # a: month 1 completed on 02-15 (due 02-10 + 5 days: on time), month 3 due 04-10, overdue on 04-16.
    # b: month 1 completed 02-16, one day after its grace: late; month 3 not yet due.
    assert (
        report["milestones_scheduled"],
        report["milestones_due"],
        report["milestones_completed"],
        report["milestones_on_time"],
        report["milestones_overdue_open"],
    ) == (4, 3, 2, 1, 1)
    assert report["completion_rate"] == round(2 / 3, 4) and report["on_time_rate"] == 0.5
    assert report["scores_by_month"] == {"1": round((90 + 70 + 50 + 80 + 60 * 3) / 7, 2)}
    assert (report["mentor_tasks_done"], report["talks"], report["trainees_with_talks"]) == (1, 1, 1)
    file_a = project(files, a)["a"]["classes"]["c"]
    assert (
        file_a["milestones"]["1"]["status"] == "completed"
        and file_a["milestones"]["3"]["status"] == "overdue"
    )
    assert file_a["milestones"]["1"]["evaluations"][0]["scores"] == {k: 90 for k in questions_for(1)}
    assert file_a["mentor"]["name"] == "导师"


def test_graduates_are_pending_until_their_milestones_arrive():
    grad = CommandHandler.envelopes(
        "class-c",
        0,
        [
            TraineeGraduated(
                class_id="c", cadre_id=x, name=x, unit="局", graduated_on=GRAD, hours=1, attendance_rate=1
            )
            for x in "ab"
        ],
        CTX,
    )
    docs = project(graduates, grad)
    assert docs["c"]["pending"] == 2
    sched = run(trainee_stream("c", "a"), [ScheduleFollowUp("c", "a", "a", "局", GRAD, (1,), 5, GRAD)])
    docs = {}
    items = [
        (graduates.route(e, _event(e))[0], e, _event(e), graduates.route(e, _event(e))[1])
        for e in grad + sched
    ]
    graduates.fold(docs, items + items)  # redelivered: changes nothing
    assert docs["c"]["pending"] == 1


def test_a_movable_clock_is_refused_with_production_keys(monkeypatch):
    # `movable` is what the runtime reads follow-up's clock flag with (shared/runtime.py).
    from shared.clock import movable

    monkeypatch.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    monkeypatch.setenv("GANXUN_JWKS_URL", "https://sso.example.gov.cn/jwks")
    monkeypatch.delenv("GANXUN_ENV", raising=False)
    with pytest.raises(SystemExit, match="生产配置"):
        movable("GANXUN_FOLLOWUP_MOVABLE_CLOCK")
    monkeypatch.delenv("GANXUN_JWKS_URL")
    monkeypatch.setenv("GANXUN_OIDC_ISSUER", "https://sso.example.gov.cn/realms/ganxun")
    with pytest.raises(SystemExit, match="生产配置"):
        movable("GANXUN_FOLLOWUP_MOVABLE_CLOCK")


def test_the_clock_route_exists_only_when_enabled(monkeypatch):
    # Asked of the service's app, whichever part adds the route (the service or the kernel).
    from services.followup.service import DEFINITION
    from shared.api import create_app
    from shared.settings import Settings

    def paths() -> set[str]:
        return set(create_app(DEFINITION, Settings(service="followup")).openapi()["paths"])

    for k in ("GANXUN_JWKS_URL", "GANXUN_JWT_PUBLIC_KEY_FILE", "GANXUN_OIDC_ISSUER", "GANXUN_ENV"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", raising=False)
    assert "/admin/clock" not in paths()
    monkeypatch.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    assert "/admin/clock" in paths()
