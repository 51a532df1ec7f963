"""Given / when / then for the class aggregate (班次): pure, no I/O."""

from datetime import date

import pytest

from services.selection.domain import (
    AssignGroups,
    AssignToGroup,
    ClassDecider,
    ConfirmNomination,
    DrawScope,
    NominateTrainee,
    OpenClass,
    RejectNomination,
    WaitlistNomination,
    WithdrawNomination,
)
from shared.commands import Several, fold
from shared.contracts.selection import (
    ClassOpened,
    NominationConfirmed,
    NominationRejected,
    NominationWaitlisted,
    NominationWithdrawn,
    ScopeDrawn,
    StudyGroup,
    TraineeAssignedToGroup,
    TraineeNominated,
)
from shared.errors import DomainError, NotFound

D = ClassDecider()
TODAY = date(2026, 11, 22)
OPENED = ClassOpened(
    class_id="c1",
    title="中青年干部培训班",
    capacity=2,
    starts_on=date(2026, 12, 1),
    ends_on=date(2026, 12, 20),
    organiser="武城县委党校",
    quotas={"县财政局": 2, "县委办": 1, "甲马营乡": 3},
    study_groups=[
        StudyGroup(name="经济发展", advisor="王老师"),
        StudyGroup(name="基层治理", advisor="李老师"),
    ],
)
SCOPE = ScopeDrawn(class_id="c1", criteria={"ranks": ["副科"]}, cadre_ids=["a", "b", "c", "d", "e"])
UNIT = {"a": "县财政局", "b": "县财政局", "c": "县财政局", "d": "县委办", "e": "甲马营乡"}


def nominated(c: str) -> TraineeNominated:
    return TraineeNominated(class_id="c1", cadre_id=c, name=f"干部{c}", unit=UNIT[c])


def confirmed(c: str, from_waitlist: bool = False) -> NominationConfirmed:
    return NominationConfirmed(
        class_id="c1", cadre_id=c, name=f"干部{c}", unit=UNIT[c], from_waitlist=from_waitlist
    )


def nominate(c: str, today=TODAY, by_unit: str | None = None) -> NominateTrainee:
    return NominateTrainee(cadre_id=c, name=f"干部{c}", unit=UNIT[c], today=today, by_unit=by_unit)


def when(given: list, command):
    return D.decide(fold(D, given), command)


def refused(given: list, command, code: str) -> DomainError:
    with pytest.raises(DomainError) as e:
        when(given, command)
    assert e.value.code == code, e.value.message
    return e.value


# -- opening --------------------------------------------------------------------
def test_opening_a_class_with_groups_schedule_and_quotas():
    cmd = OpenClass(
        "c1",
        "中青年干部培训班",
        2,
        date(2026, 12, 1),
        date(2026, 12, 20),
        "武城县委党校",
        study_groups=tuple(OPENED.study_groups),
        quotas=dict(OPENED.quotas),
    )
    assert when([], cmd) == [OPENED]


def test_a_class_cannot_be_opened_twice():
    refused([OPENED], OpenClass("c1", "x", 1, date(2026, 12, 1), date(2026, 12, 2), "x"), "class_exists")


def test_end_before_start_is_refused():
    assert (
        refused([], OpenClass("c1", "x", 1, date(2026, 12, 2), date(2026, 12, 1), "x"), "bad_dates").field
        == "ends_on"
    )


def test_duplicate_group_names_and_negative_quotas_are_refused():
    groups = (StudyGroup(name="经济发展"), StudyGroup(name="经济发展"))
    refused(
        [],
        OpenClass("c1", "x", 1, date(2026, 12, 1), date(2026, 12, 2), "x", study_groups=groups),
        "duplicate_group",
    )
    refused(
        [],
        OpenClass("c1", "x", 1, date(2026, 12, 1), date(2026, 12, 2), "x", quotas={"县委办": -1}),
        "bad_quota",
    )


# -- step 1: scope --------------------------------------------------------------
def test_drawing_the_scope_records_criteria_and_cadres():
    assert when([OPENED], DrawScope({"ranks": ["副科"]}, ("a", "b"), TODAY)) == [
        ScopeDrawn(class_id="c1", criteria={"ranks": ["副科"]}, cadre_ids=["a", "b"])
    ]


def test_an_empty_scope_is_refused():
    refused([OPENED], DrawScope({"ranks": ["正处"]}, (), TODAY), "scope_empty")


def test_commands_on_an_unknown_class():
    with pytest.raises(NotFound):
        when([], nominate("a"))


# -- step 2: recommendation -----------------------------------------------------
def test_a_unit_recommends_its_own_cadre_from_the_scope():
    assert when([OPENED, SCOPE], nominate("a", by_unit="县财政局")) == [nominated("a")]


def test_recommending_before_a_scope_is_drawn_is_out_of_scope():
    assert "尚未" in refused([OPENED], nominate("a"), "out_of_scope").message


def test_recommending_outside_the_scope_is_refused():
    outsider = NominateTrainee(cadre_id="z", name="外人", unit="县财政局", today=TODAY)
    assert "不在" in refused([OPENED, SCOPE], outsider, "out_of_scope").message


def test_a_unit_cannot_recommend_another_units_cadre():
    refused([OPENED, SCOPE], nominate("d", by_unit="县财政局"), "not_own_unit")


def test_the_same_cadre_twice_is_refused():
    refused([OPENED, SCOPE, nominated("a")], nominate("a"), "already_nominated")


def test_a_withdrawn_cadre_may_be_recommended_again():
    given = [OPENED, SCOPE, nominated("a"), NominationWithdrawn(class_id="c1", cadre_id="a")]
    assert when(given, nominate("a")) == [nominated("a")]


def test_over_quota_is_refused_and_withdrawals_free_quota():
    given = [OPENED, SCOPE, nominated("a"), nominated("b")]
    assert "名额为 2 人" in refused(given, nominate("c"), "over_quota").message
    given.append(NominationWithdrawn(class_id="c1", cadre_id="b"))
    assert when(given, nominate("c")) == [nominated("c")]


def test_a_unit_without_a_quota_has_none():
    scope = ScopeDrawn(class_id="c1", criteria={}, cadre_ids=["x"])
    cmd = NominateTrainee(cadre_id="x", name="某", unit="县教育局", today=TODAY)
    refused([OPENED, scope], cmd, "over_quota")


def test_without_quotas_only_capacity_limits():
    opened = OPENED.model_copy(update={"quotas": {}})
    given = [opened, SCOPE, nominated("a"), nominated("b")]
    assert when(given, nominate("c")) == [nominated("c")]


def test_a_started_class_refuses_changes():
    refused([OPENED, SCOPE], nominate("a", today=date(2026, 12, 1)), "class_closed")
    refused([OPENED, SCOPE, nominated("a")], ConfirmNomination("a", date(2026, 12, 2)), "class_closed")
    refused(
        [OPENED, SCOPE, nominated("a"), confirmed("a")],
        WithdrawNomination("a", date(2026, 12, 1)),
        "class_closed",
    )


# -- step 3: confirmation -------------------------------------------------------
def test_confirming_a_nominee():
    assert when([OPENED, SCOPE, nominated("a")], ConfirmNomination("a", TODAY)) == [confirmed("a")]


def test_confirming_into_a_full_class_puts_the_nominee_on_the_waitlist():
    given = [OPENED, SCOPE, nominated("a"), nominated("b"), nominated("e"), confirmed("a"), confirmed("b")]
    assert when(given, ConfirmNomination("e", TODAY)) == [NominationWaitlisted(class_id="c1", cadre_id="e")]
    given.append(NominationWaitlisted(class_id="c1", cadre_id="e"))
    assert "候补" in refused(given, ConfirmNomination("e", TODAY), "class_full").message


def test_confirming_twice_or_someone_not_nominated_is_refused():
    refused(
        [OPENED, SCOPE, nominated("a"), confirmed("a")], ConfirmNomination("a", TODAY), "already_confirmed"
    )
    refused([OPENED, SCOPE], ConfirmNomination("a", TODAY), "not_nominated")


def test_rejecting_needs_a_reason():
    given = [OPENED, SCOPE, nominated("a")]
    refused(given, RejectNomination("a", "  ", TODAY), "reason_required")
    assert when(given, RejectNomination("a", "近期承担重点工作", TODAY)) == [
        NominationRejected(class_id="c1", cadre_id="a", reason="近期承担重点工作")
    ]
    refused(
        given + [NominationRejected(class_id="c1", cadre_id="a", reason="x")],
        ConfirmNomination("a", TODAY),
        "already_rejected",
    )


def test_waitlisting_a_nominee():
    assert when([OPENED, SCOPE, nominated("a")], WaitlistNomination("a", TODAY)) == [
        NominationWaitlisted(class_id="c1", cadre_id="a")
    ]


def test_a_confirmed_trainee_leaving_promotes_the_first_on_the_waitlist():
    given = [
        OPENED,
        SCOPE,
        *map(nominated, "abe"),
        confirmed("a"),
        confirmed("b"),
        NominationWaitlisted(class_id="c1", cadre_id="e"),
    ]
    assert when(given, WithdrawNomination("a", TODAY, "借调", by_unit="县财政局")) == [
        NominationWithdrawn(class_id="c1", cadre_id="a", reason="借调", was_confirmed=True),
        confirmed("e", from_waitlist=True),
    ]


def test_waitlist_order_is_first_come_first_promoted():
    given = [
        OPENED,
        SCOPE,
        *map(nominated, "abde"),
        confirmed("a"),
        confirmed("b"),
        NominationWaitlisted(class_id="c1", cadre_id="e"),
        NominationWaitlisted(class_id="c1", cadre_id="d"),
    ]
    assert when(given, WithdrawNomination("b", TODAY))[1] == confirmed("e", from_waitlist=True)


def test_withdrawing_a_nominee_who_was_not_confirmed_promotes_nobody():
    given = [OPENED, SCOPE, nominated("a"), nominated("e"), NominationWaitlisted(class_id="c1", cadre_id="e")]
    assert when(given, WithdrawNomination("a", TODAY)) == [NominationWithdrawn(class_id="c1", cadre_id="a")]


def test_a_unit_withdraws_only_its_own_nominees():
    refused(
        [OPENED, SCOPE, nominated("d")], WithdrawNomination("d", TODAY, by_unit="县财政局"), "not_own_unit"
    )


# -- study groups ----------------------------------------------------------------
def test_groups_by_domain_then_balance():
    given = [
        OPENED.model_copy(update={"capacity": 4, "quotas": {}}),
        SCOPE,
        *map(nominated, "abcd"),
        *map(confirmed, "abcd"),
    ]
    domains = {"a": "经济发展", "b": "经济发展", "c": "经济发展", "d": ""}
    events = when(given, AssignGroups(domains))
    assert [(e.cadre_id, e.group) for e in events] == [
        ("a", "经济发展"),
        ("b", "经济发展"),
        ("c", "基层治理"),
        ("d", "基层治理"),
    ]


def test_grouping_only_places_the_unplaced_and_needs_groups():
    given = [
        OPENED,
        SCOPE,
        nominated("a"),
        confirmed("a"),
        TraineeAssignedToGroup(class_id="c1", cadre_id="a", group="基层治理"),
    ]
    assert when(given, AssignGroups({})) == []
    refused([OPENED.model_copy(update={"study_groups": []}), SCOPE], AssignGroups({}), "no_groups")


def test_moving_a_trainee_to_another_group():
    given = [OPENED, SCOPE, nominated("a"), confirmed("a")]
    assert when(given, AssignToGroup("a", "经济发展")) == [
        TraineeAssignedToGroup(class_id="c1", cadre_id="a", group="经济发展")
    ]
    refused(given, AssignToGroup("a", "文化旅游"), "unknown_group")
    refused([OPENED, SCOPE, nominated("b")], AssignToGroup("b", "经济发展"), "not_confirmed")


# -- a clerk's list as one decision ------------------------------------------------------
def test_confirming_a_list_confirms_in_order_and_waitlists_past_capacity():
    given = [OPENED, SCOPE, nominated("a"), nominated("d"), nominated("e")]
    cmd = Several(tuple(ConfirmNomination(c, TODAY) for c in ("e", "a", "d")))
    assert when(given, cmd) == [
        confirmed("e"),
        confirmed("a"),
        NominationWaitlisted(class_id="c1", cadre_id="d"),
    ]


def test_one_refusal_refuses_the_whole_list():
    given = [OPENED, SCOPE, nominated("a"), nominated("d")]
    e = refused(
        given, Several((ConfirmNomination("a", TODAY), ConfirmNomination("b", TODAY))), "not_nominated"
    )
    assert "b" in e.message or "干部b" in e.message


def test_a_unit_recommends_a_list_within_its_quota():
    given = [OPENED, SCOPE]
    assert when(given, Several((nominate("a", by_unit="县财政局"), nominate("b", by_unit="县财政局")))) == [
        nominated("a"),
        nominated("b"),
    ]
    refused(given, Several(tuple(nominate(c, by_unit="县财政局") for c in "abc")), "over_quota")
