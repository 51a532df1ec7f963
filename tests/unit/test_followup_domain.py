"""Given / when / then for the follow-up aggregates: pure, no I/O, the clock moved by hand."""

from datetime import date

import pytest

from services.followup.domain import (
    AssignMentor,
    CompleteMentorTask,
    EndorseOutcome,
    FollowUpDecider,
    GiveTalk,
    OutcomeDecider,
    PlanDecider,
    ReportOutcome,
    ScheduleFollowUp,
    SetPlan,
    SubmitEvaluation,
    Tick,
    add_months,
    questions_for,
)
from shared.commands import fold
from shared.contracts.followup import (
    Author,
    EvaluationSubmitted,
    FollowUpPlanSet,
    MentorAssigned,
    MentorTaskCompleted,
    MilestoneCompleted,
    MilestoneDue,
    MilestoneOverdue,
    MilestoneScheduled,
    OutcomeEndorsed,
    OutcomeReported,
    SharingTalkGiven,
)
from shared.errors import DomainError, Forbidden, NotFound

D = FollowUpDecider()
GRAD = date(2026, 1, 31)
UNIT = "县财政局"


def when(decider, given: list, command):
    return decider.decide(fold(decider, given), command)


def schedule(today=GRAD, months=(1, 3, 6, 12), grace=14) -> ScheduleFollowUp:
    return ScheduleFollowUp(
        class_id="c1",
        cadre_id="a",
        name="张伟",
        unit=UNIT,
        graduated_on=GRAD,
        months=months,
        grace_days=grace,
        today=today,
        home_jurisdiction="110101",
    )


def scheduled(months=(1, 3, 6, 12), grace=14) -> list:
    return when(D, [], schedule(months=months, grace=grace))


def scores(month: int, value: float = 80.0) -> dict[str, float]:
    return {k: value for k in questions_for(month)}


def evaluation(month=1, role="self", today=date(2026, 3, 1), value=80.0, **kw) -> SubmitEvaluation:
    actor = {
        "self": ("trainee", "a", None),
        "colleague": ("unit", "u1", UNIT),
        "unit_leader": ("unit", "u2", UNIT),
        "mentor": ("mentor", "m1", None),
    }[role]
    args = dict(
        month=month,
        role=role,
        evaluator_id=actor[1],
        evaluator_name="评价人",
        actor_role=actor[0],
        actor_unit=actor[2],
        scores=scores(month, value),
        text="好",
        today=today,
    )
    args.update(kw)
    return SubmitEvaluation(**args)


def submitted(events: list, *commands) -> list:
    for c in commands:
        events = events + when(D, events, c)
    return events


# -- milestone plan -----------------------------------------------------------------------
def test_graduation_schedules_the_default_milestones_month_ends_clamped():
    events = scheduled()
    assert [(e.month, e.due_on) for e in events] == [
        (1, date(2026, 2, 28)),
        (3, date(2026, 4, 30)),
        (6, date(2026, 7, 31)),
        (12, date(2027, 1, 31)),
    ]
    assert all(
        isinstance(e, MilestoneScheduled)
        and e.required_roles == ["self", "colleague", "unit_leader"]
        and e.grace_days == 14
        and e.milestone_id == f"c1:a:{e.month}"
        for e in events
    )


def test_scheduling_twice_emits_nothing():
    assert when(D, scheduled(), schedule()) == []


def test_a_class_plan_sets_months_and_grace():
    events = scheduled(months=(2, 9), grace=7)
    assert [(e.month, e.due_on, e.grace_days) for e in events] == [
        (2, date(2026, 3, 31), 7),
        (9, date(2026, 10, 31), 7),
    ]


def test_a_late_scheduling_emits_what_already_came_due():
    events = when(D, [], schedule(today=date(2026, 5, 1)))
    due = [e for e in events if isinstance(e, MilestoneDue)]
    overdue = [e for e in events if isinstance(e, MilestoneOverdue)]
    assert [e.month for e in due] == [1, 3] and [e.month for e in overdue] == [1]


def test_plan_rules():
    p = PlanDecider()
    assert when(p, [], SetPlan("c1", [6, 1, 3], 10)) == [
        FollowUpPlanSet(class_id="c1", months=[1, 3, 6], grace_days=10)
    ]
    assert (
        when(
            p, [FollowUpPlanSet(class_id="c1", months=[1, 3, 6], grace_days=10)], SetPlan("c1", [1, 3, 6], 10)
        )
        == []
    )
    for months, grace, code in [
        ([], 14, "empty_plan"),
        ([1, 1], 14, "duplicate_month"),
        ([0, 3], 14, "month_out_of_range"),
        ([1, 25], 14, "month_out_of_range"),
        ([1], 91, "bad_grace"),
    ]:
        with pytest.raises(DomainError) as e:
            when(p, [], SetPlan("c1", months, grace))
        assert e.value.code == code


# -- due and overdue -----------------------------------------------------------------------
def test_nothing_is_due_before_its_date():
    assert when(D, scheduled(), Tick(date(2026, 2, 27))) == []


def test_a_milestone_comes_due_on_its_date_exactly_once():
    given = scheduled()
    then = when(D, given, Tick(date(2026, 2, 28)))
    assert then == [
        MilestoneDue(milestone_id="c1:a:1", class_id="c1", cadre_id="a", month=1, due_on=date(2026, 2, 28))
    ]
    assert when(D, given + then, Tick(date(2026, 3, 1))) == []


def test_a_clock_moved_far_makes_every_passed_milestone_due_once():
    then = when(D, scheduled(), Tick(date(2027, 2, 1)))
    assert [type(e).__name__ for e in then].count("MilestoneDue") == 4
    assert sorted(e.month for e in then if isinstance(e, MilestoneOverdue)) == [1, 3, 6]


def test_overdue_only_after_the_grace_period_and_once():
    given = scheduled() + when(D, scheduled(), Tick(date(2026, 2, 28)))
    assert when(D, given, Tick(date(2026, 3, 14))) == []  # due + 14 days: still within grace
    then = when(D, given, Tick(date(2026, 3, 15)))
    assert then == [
        MilestoneOverdue(
            milestone_id="c1:a:1",
            class_id="c1",
            cadre_id="a",
            month=1,
            due_on=date(2026, 2, 28),
            missing_roles=["self", "colleague", "unit_leader"],
        )
    ]
    assert when(D, given + then, Tick(date(2026, 3, 20))) == []


def test_a_completed_milestone_never_becomes_overdue():
    given = submitted(
        scheduled(), evaluation(role="self"), evaluation(role="colleague"), evaluation(role="unit_leader")
    )
    assert [e for e in when(D, given, Tick(date(2026, 4, 1))) if isinstance(e, MilestoneOverdue)] == []


def test_overdue_names_the_missing_evaluations():
    given = submitted(scheduled(), evaluation(role="self"))
    then = when(D, given, Tick(date(2026, 3, 20)))
    assert [e.missing_roles for e in then if isinstance(e, MilestoneOverdue)] == [
        ["colleague", "unit_leader"]
    ]


# -- evaluations --------------------------------------------------------------------------
def test_an_evaluation_before_the_clock_tick_also_records_the_due():
    then = when(D, scheduled(), evaluation(role="self", value=90))
    assert [type(e) for e in then] == [MilestoneDue, EvaluationSubmitted]
    assert then[1].scores == scores(1, 90) and then[1].submitted_on == date(2026, 3, 1)


def test_the_last_required_evaluation_completes_the_milestone_on_time_with_its_average():
    given = submitted(scheduled(), evaluation(role="self", value=90), evaluation(role="colleague", value=70))
    then = when(D, given, evaluation(role="unit_leader", value=86, today=date(2026, 3, 14)))
    assert then[-1] == MilestoneCompleted(
        milestone_id="c1:a:1",
        class_id="c1",
        cadre_id="a",
        month=1,
        completed_on=date(2026, 3, 14),
        on_time=True,
        average_score=82.0,
    )


def test_completion_after_the_grace_period_is_not_on_time():
    given = submitted(scheduled(), evaluation(role="self"), evaluation(role="colleague"))
    late = date(2026, 3, 15)
    given += when(D, given, Tick(late))
    then = when(D, given, evaluation(role="unit_leader", today=late))
    assert isinstance(then[-1], MilestoneCompleted) and then[-1].on_time is False


def test_the_mentor_may_evaluate_and_counts_in_the_average_but_is_not_required():
    given = submitted(
        scheduled(),
        AssignMentor("m1", "李导师", "副局长", "org_department", None),
        evaluation(role="mentor", value=60),
        evaluation(role="self", value=90),
        evaluation(role="colleague", value=90),
    )
    then = when(D, given, evaluation(role="unit_leader", value=90))
    assert then[-1].average_score == 82.5


def test_each_stage_has_its_own_questions():
    assert questions_for(1) != questions_for(3) != questions_for(6) != questions_for(12)
    with pytest.raises(DomainError) as e:
        when(D, scheduled(), evaluation(month=3, today=date(2026, 5, 1), scores=scores(1)))
    assert e.value.code == "wrong_questions" and "谈表现" in e.value.message


def test_scores_must_be_in_range():
    with pytest.raises(DomainError) as e:
        when(D, scheduled(), evaluation(scores={k: 101 for k in questions_for(1)}))
    assert e.value.code == "score_out_of_range"


def test_no_evaluation_before_the_milestone_is_due():
    with pytest.raises(DomainError) as e:
        when(D, scheduled(), evaluation(today=date(2026, 2, 27)))
    assert e.value.code == "not_due_yet"


def test_the_same_role_cannot_evaluate_twice_but_two_colleagues_can():
    given = submitted(scheduled(), evaluation(role="self"), evaluation(role="colleague"))
    with pytest.raises(DomainError) as e:
        when(D, given, evaluation(role="self"))
    assert e.value.code == "already_evaluated"
    assert len(when(D, given, evaluation(role="colleague", evaluator_id="u9"))) == 1


def test_a_completed_milestone_takes_no_more_evaluations():
    given = submitted(
        scheduled(),
        AssignMentor("m1", "李导师", "", "org_department", None),
        evaluation(role="self"),
        evaluation(role="colleague"),
        evaluation(role="unit_leader"),
    )
    with pytest.raises(DomainError) as e:
        when(D, given, evaluation(role="mentor"))
    assert e.value.code == "milestone_completed"


def test_an_unknown_milestone_or_trainee():
    with pytest.raises(NotFound):
        when(D, scheduled(), evaluation(month=2))
    with pytest.raises(NotFound):
        when(D, [], evaluation())


@pytest.mark.parametrize(
    "role, override, code",
    [
        ("self", {"actor_role": "unit", "actor_unit": UNIT}, "not_the_trainee"),
        ("self", {"evaluator_id": "b"}, "not_the_trainee"),
        ("colleague", {"actor_unit": "县教育局"}, "wrong_unit"),
        ("unit_leader", {"actor_unit": None}, "wrong_unit"),
        ("unit_leader", {"actor_role": "trainee"}, "wrong_role"),
        ("mentor", {}, "not_the_mentor"),  # no mentor assigned yet
    ],
)
def test_only_the_right_role_in_the_right_unit_may_evaluate(role, override, code):
    with pytest.raises(Forbidden) as e:
        when(D, scheduled(), evaluation(role=role, **override))
    assert e.value.code == code


def test_a_unit_leader_or_colleague_evaluates_in_person_with_an_evaluator_account():
    mine = when(D, scheduled(), evaluation(role="unit_leader", actor_role="evaluator", actor_unit=UNIT))
    assert [e.role for e in mine if hasattr(e, "role")] == ["unit_leader"]
    with pytest.raises(Forbidden) as e:
        when(D, scheduled(), evaluation(role="colleague", actor_role="evaluator", actor_unit="县教育局"))
    assert e.value.code == "wrong_unit"
    with pytest.raises(Forbidden) as e:
        when(D, scheduled(), evaluation(role="self", actor_role="evaluator", actor_unit=UNIT))
    assert e.value.code == "not_the_trainee"


# -- mentors --------------------------------------------------------------------------------
def test_assigning_and_reassigning_a_mentor():
    first = when(D, scheduled(), AssignMentor("m1", "李导师", "副局长", "unit", UNIT))
    assert first == [
        MentorAssigned(
            class_id="c1",
            cadre_id="a",
            mentor_id="m1",
            mentor_name="李导师",
            mentor_post="副局长",
            replaces=None,
        )
    ]
    second = when(D, scheduled() + first, AssignMentor("m2", "王导师", "", "org_department", None))
    assert second[0].replaces == "m1"
    with pytest.raises(DomainError) as e:
        when(D, scheduled() + first, AssignMentor("m1", "李导师", "", "org_department", None))
    assert e.value.code == "same_mentor"
    with pytest.raises(Forbidden):
        when(D, scheduled(), AssignMentor("m1", "李导师", "", "unit", "县教育局"))


def test_a_replaced_mentor_may_no_longer_evaluate_or_record_tasks():
    given = submitted(
        scheduled(),
        AssignMentor("m1", "李导师", "", "org_department", None),
        AssignMentor("m2", "王导师", "", "org_department", None),
    )
    with pytest.raises(Forbidden):
        when(D, given, evaluation(role="mentor"))
    with pytest.raises(Forbidden):
        when(
            D,
            given,
            CompleteMentorTask("core_decision", "会议纪要", "表现好", "mentor", "m1", date(2026, 3, 1)),
        )


def test_the_three_mentor_tasks_each_once_with_evidence_and_comment():
    given = submitted(scheduled(), AssignMentor("m1", "李导师", "", "org_department", None))
    task = CompleteMentorTask("urgent_matter", "处置记录", "沉着果断", "mentor", "m1", date(2026, 4, 2))
    then = when(D, given, task)
    assert then == [
        MentorTaskCompleted(
            class_id="c1",
            cadre_id="a",
            task="urgent_matter",
            evidence="处置记录",
            comment="沉着果断",
            mentor_id="m1",
            done_on=date(2026, 4, 2),
        )
    ]
    with pytest.raises(DomainError) as e:
        when(D, given + then, task)
    assert e.value.code == "task_done"
    with pytest.raises(DomainError) as e:
        when(D, given, CompleteMentorTask("core_decision", " ", "好", "mentor", "m1", date(2026, 4, 2)))
    assert e.value.code == "evidence_required"


# -- sharing talks ----------------------------------------------------------------------------
def test_a_sharing_talk_is_recorded_once_and_not_in_the_future():
    talk = GiveTalk(
        "t1", date(2026, 3, 5), "本单位全体干部", "学习体会", 40, "trainee", "a", None, date(2026, 3, 6)
    )
    then = when(D, scheduled(), talk)
    assert then == [
        SharingTalkGiven(
            talk_id="t1",
            class_id="c1",
            cadre_id="a",
            on=date(2026, 3, 5),
            audience="本单位全体干部",
            topic="学习体会",
            attendees=40,
        )
    ]
    assert when(D, scheduled() + then, talk) == []
    with pytest.raises(DomainError) as e:
        when(
            D,
            scheduled(),
            GiveTalk("t2", date(2026, 3, 7), "x", "y", 0, "trainee", "a", None, date(2026, 3, 6)),
        )
    assert e.value.code == "talk_in_future"
    with pytest.raises(Forbidden):
        when(
            D,
            scheduled(),
            GiveTalk("t3", date(2026, 3, 5), "x", "y", 0, "trainee", "b", None, date(2026, 3, 6)),
        )
    with pytest.raises(Forbidden):
        when(
            D,
            scheduled(),
            GiveTalk("t3", date(2026, 3, 5), "x", "y", 0, "unit", "u", "县教育局", date(2026, 3, 6)),
        )


def test_a_talk_dated_before_the_graduation_it_follows_is_refused_naming_both_dates():
    # given a trainee who graduated on GRAD; when a talk is dated the day before
    with pytest.raises(DomainError) as e:
        when(
            D,
            scheduled(),
            GiveTalk("t4", date(2026, 1, 30), "x", "y", 0, "trainee", "a", None, date(2026, 3, 6)),
        )
    # then it is refused, the message naming the talk's day and the graduation
    assert e.value.code == "talk_before_graduation" and e.value.field == "on"
    assert "2026-01-30" in e.value.message and "2026-01-31" in e.value.message
    # and a talk on the graduation day itself is fine
    on_the_day = GiveTalk("t5", GRAD, "x", "y", 0, "trainee", "a", None, date(2026, 3, 6))
    assert [type(e) for e in when(D, scheduled(), on_the_day)] == [SharingTalkGiven]


def test_a_stream_scheduled_before_graduation_dates_were_kept_still_takes_talks():
    old = [e.model_copy(update={"graduated_on": None}) for e in scheduled()]
    talk = GiveTalk("t6", date(2025, 12, 1), "x", "y", 0, "trainee", "a", None, date(2026, 3, 6))
    assert [type(e) for e in when(D, old, talk)] == [SharingTalkGiven]


# -- outcomes -----------------------------------------------------------------------------------
OUT_ON = date(2026, 5, 20)


def test_outcomes_and_their_endorsements():
    o = OutcomeDecider()
    reported = when(
        o,
        [],
        ReportOutcome(
            "o1", "c1", "proposal", "优化营商环境的建议", ["a"], OUT_ON, OUT_ON, graduates=(("a", "张三"),)
        ),
    )
    assert reported == [
        OutcomeReported(
            outcome_id="o1",
            class_id="c1",
            kind="proposal",
            title="优化营商环境的建议",
            authors=[Author(cadre_id="a", name="张三")],
            on=OUT_ON,
        )
    ]
    endorse = EndorseOutcome("approval", "县委书记", date(2026, 6, 1), "很好", date(2026, 6, 2))
    then = when(o, reported, endorse)
    assert then == [
        OutcomeEndorsed(
            outcome_id="o1", class_id="c1", kind="approval", by="县委书记", on=date(2026, 6, 1), note="很好"
        )
    ]
    with pytest.raises(DomainError) as e:
        when(o, reported + then, endorse)
    assert e.value.code == "already_endorsed"
    with pytest.raises(DomainError) as e:
        when(o, reported, EndorseOutcome("adoption", "县政府", date(2026, 6, 3), "", date(2026, 6, 2)))
    assert e.value.code == "endorsed_in_future"
    with pytest.raises(NotFound):
        when(o, [], endorse)
    with pytest.raises(DomainError) as e:
        when(o, reported, ReportOutcome("o1", "c1", "report", "x", [], OUT_ON, OUT_ON))
    assert e.value.code == "outcome_exists"


def test_an_outcomes_title_and_an_endorsements_note_name_no_graduate_and_its_authors_are_graduates():
    o = OutcomeDecider()
    grads = (("a", "张三"), ("b", "李四"), ("c", "李四"))
    cases = [
        (ReportOutcome("o1", "c1", "report", "张三的调研", ["a"], OUT_ON, OUT_ON, grads), "trainee_named"),
        (
            ReportOutcome("o1", "c1", "report", "调研", ["王五"], OUT_ON, OUT_ON, grads),
            "author_not_a_graduate",
        ),
        (ReportOutcome("o1", "c1", "report", "调研", ["李四"], OUT_ON, OUT_ON, grads), "author_ambiguous"),
    ]
    for command, code in cases:
        with pytest.raises(DomainError) as e:
            when(o, [], command)
        assert e.value.code == code, e.value.message
    reported = when(
        o, [], ReportOutcome("o1", "c1", "report", "调研", ["c", "a", "张三"], OUT_ON, OUT_ON, grads)
    )
    assert reported[0].authors == [Author(cadre_id="c", name="李四"), Author(cadre_id="a", name="张三")]
    note = EndorseOutcome(
        "approval", "县委书记", OUT_ON, "李四执笔", OUT_ON, trainee_names=frozenset({"李四"})
    )
    with pytest.raises(DomainError) as e:
        when(o, reported, note)
    assert (e.value.code, e.value.field) == ("trainee_named", "note")


def test_an_outcome_is_not_dated_in_the_future_nor_endorsed_before_it_was_reported():
    o = OutcomeDecider()
    with pytest.raises(DomainError) as e:
        when(o, [], ReportOutcome("o2", "c1", "report", "调研报告", [], date(2026, 6, 3), date(2026, 6, 2)))
    assert e.value.code == "outcome_in_future" and e.value.field == "on"
    reported = when(o, [], ReportOutcome("o2", "c1", "report", "调研报告", [], OUT_ON, date(2026, 6, 2)))
    with pytest.raises(DomainError) as e:
        when(o, reported, EndorseOutcome("approval", "县委书记", date(2026, 5, 19), "", date(2026, 6, 2)))
    assert e.value.code == "endorsed_before_outcome" and e.value.field == "on"
    assert "2026-05-19" in e.value.message and "2026-05-20" in e.value.message
    same_day = EndorseOutcome("adoption", "县政府", OUT_ON, "", date(2026, 6, 2))
    assert [type(e) for e in when(o, reported, same_day)] == [OutcomeEndorsed]


def test_add_months_clamps_to_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 6, 15), 12) == date(2027, 6, 15)


def test_evolve_leaves_the_given_state_unchanged():
    state = fold(D, scheduled())
    after = D.evolve(
        state,
        MilestoneDue(milestone_id="c1:a:1", class_id="c1", cadre_id="a", month=1, due_on=date(2026, 2, 28)),
    )
    assert after.milestones[1].due and not state.milestones[1].due


def test_a_repeated_evaluation_is_recognised_by_its_natural_key():
    # The command handler answers a retry of the same content with the original commit
    # (shared/commands.CommandHandler.original); other content keeps the refusal.
    from shared.errors import AlreadyApplied

    given = submitted(
        scheduled(), evaluation(role="self"), evaluation(role="colleague"), evaluation(role="unit_leader")
    )
    for retry in (evaluation(role="self"), evaluation(role="self", value=60.0)):
        with pytest.raises(AlreadyApplied) as e:
            when(D, given, retry)
        assert e.value.code == "already_evaluated" and e.value.event_type == "EvaluationSubmitted"
        assert e.value.key == {"month": 1, "role": "self"}
        assert e.value.content == {"evaluator_id": "a", "scores": retry.scores, "text": "好"}
    with pytest.raises(AlreadyApplied) as e:
        when(D, given, evaluation(role="colleague"))
    assert e.value.key == {"month": 1, "role": "colleague", "evaluator_id": "u1"}
