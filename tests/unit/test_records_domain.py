"""Given / when / then for the records aggregates: pure, no I/O."""

from datetime import date

import pytest

from services.records.domain import (
    AssignRecorder,
    ClassDecider,
    ClassFacts,
    Holder,
    LogRecord,
    NoteSupervision,
    RelieveRecorder,
    ScoreWeek,
    SetScheme,
    TraineeDecider,
    WriteFinalComment,
)
from services.records.handlers import load_scheme
from shared.commands import fold
from shared.contracts.records import (
    AssessmentSchemeSet,
    AssessmentScored,
    FinalCommentWritten,
    ItemScore,
    RecorderAssigned,
    RecorderRelieved,
    RecordLogged,
    SupervisionNoted,
)
from shared.errors import DomainError, NotFound

C, T = ClassDecider(), TraineeDecider()
TODAY = date(2026, 11, 20)
START = date(2026, 10, 1)
HT = RecorderAssigned(class_id="c1", person_id="p-ht", name="王老师", role="head_teacher", since=START)
BS = RecorderAssigned(class_id="c1", person_id="p-bs", name="李书记", role="branch_secretary", since=START)
CO = RecorderAssigned(class_id="c1", person_id="p-co", name="赵委员", role="committee_member", since=START)
ITEMS = (
    {"item_id": "T01", "title": "课堂笔记", "group": "理论学习", "max_points": 10, "roles": ["head_teacher"]},
    {
        "item_id": "P01",
        "title": "组织生活",
        "group": "党性修养和学风",
        "max_points": 8,
        "roles": ["branch_secretary"],
    },
)


def class_when(given: list, command):
    return C.decide(fold(C, given), command)


def facts(*given, roster=("a", "b")) -> ClassFacts:
    state = fold(C, list(given))
    return ClassFacts("c1", frozenset(roster), state.recorders, state.scheme, START)


def trainee_when(given: list, command):
    return T.decide(fold(T, given), command)


def log(
    f: ClassFacts,
    record_id="r1",
    author=("p-ht", "王老师"),
    cadre="a",
    corrects=None,
    observed=date(2026, 11, 2),
    text="课堂发言积极，联系实际。",
    category="study",
) -> LogRecord:
    return LogRecord(f, record_id, cadre, category, observed, text, author[0], author[1], TODAY, corrects)


def logged(record_id: str, corrects=None, role="head_teacher", author=("p-ht", "王老师")) -> RecordLogged:
    return RecordLogged(
        record_id=record_id,
        class_id="c1",
        cadre_id="a",
        category="study",
        observed_on=date(2026, 11, 2),
        text="课堂发言积极，联系实际。",
        author_id=author[0],
        author_name=author[1],
        author_role=role,
        corrects=corrects,
    )


# -- recorders -------------------------------------------------------------------------
def test_assigning_a_recorder():
    assert class_when([], AssignRecorder("c1", "p-ht", "王老师", "head_teacher", START)) == [HT]


def test_assigning_in_an_unknown_class_is_refused():
    with pytest.raises(NotFound) as e:
        class_when([], AssignRecorder("c9", "p", "某", "head_teacher", START, class_known=False))
    assert e.value.code == "class_not_found"


def test_a_core_role_is_held_by_one_person_at_a_time():
    with pytest.raises(DomainError, match="王老师") as e:
        class_when([HT], AssignRecorder("c1", "p-x", "钱老师", "head_teacher", START))
    assert e.value.code == "role_taken"


def test_many_committee_members_are_allowed():
    cmd = AssignRecorder("c1", "p-co2", "孙委员", "committee_member", START)
    assert class_when([CO], cmd) == [
        RecorderAssigned(
            class_id="c1", person_id="p-co2", name="孙委员", role="committee_member", since=START
        )
    ]


def test_the_same_role_twice_is_refused():
    with pytest.raises(DomainError) as e:
        class_when([HT], AssignRecorder("c1", "p-ht", "王老师", "head_teacher", START))
    assert e.value.code == "already_assigned"


def test_a_change_of_role_relieves_the_old_one_the_day_the_new_one_starts():
    change = date(2026, 11, 1)
    assert class_when([CO], AssignRecorder("c1", "p-co", "赵委员", "class_monitor", change)) == [
        RecorderRelieved(class_id="c1", person_id="p-co", role="committee_member", until=change),
        RecorderAssigned(class_id="c1", person_id="p-co", name="赵委员", role="class_monitor", since=change),
    ]


def test_relieving_a_recorder_and_relieving_a_stranger():
    until = date(2026, 11, 10)
    assert class_when([BS], RelieveRecorder("c1", "p-bs", until)) == [
        RecorderRelieved(class_id="c1", person_id="p-bs", role="branch_secretary", until=until)
    ]
    with pytest.raises(DomainError) as e:
        class_when(
            [BS, RecorderRelieved(class_id="c1", person_id="p-bs", role="branch_secretary", until=until)],
            RelieveRecorder("c1", "p-bs", until),
        )
    assert e.value.code == "not_a_recorder"
    with pytest.raises(DomainError) as e:
        class_when([BS], RelieveRecorder("c1", "p-bs", date(2026, 9, 1)))
    assert e.value.code == "bad_dates"


# -- records --------------------------------------------------------------------------
def test_a_recorder_logs_a_record_with_the_role_held_then():
    assert trainee_when([], log(facts(HT))) == [logged("r1")]


def test_the_role_at_the_time_is_kept_after_a_change_of_role():
    change = date(2026, 11, 1)
    before = trainee_when([], log(facts(CO), author=("p-co", "赵委员")))
    after = trainee_when(
        [],
        log(
            facts(
                CO,
                RecorderRelieved(class_id="c1", person_id="p-co", role="committee_member", until=change),
                RecorderAssigned(
                    class_id="c1", person_id="p-co", name="赵委员", role="class_monitor", since=change
                ),
            ),
            author=("p-co", "赵委员"),
        ),
    )
    assert before[0].author_role == "committee_member" and after[0].author_role == "class_monitor"


def test_an_unassigned_or_relieved_person_may_not_log():
    with pytest.raises(DomainError, match="不是本班当前在任") as e:
        trainee_when([], log(facts(HT), author=("p-x", "路人甲")))
    assert e.value.code == "not_a_recorder"
    gone = facts(BS, RecorderRelieved(class_id="c1", person_id="p-bs", role="branch_secretary", until=TODAY))
    with pytest.raises(DomainError) as e:
        trainee_when([], log(gone, author=("p-bs", "李书记")))
    assert e.value.code == "not_a_recorder"


def test_a_trainee_not_on_the_roster_is_refused():
    with pytest.raises(DomainError, match="花名册") as e:
        trainee_when([], log(facts(HT), cadre="z"))
    assert e.value.code == "not_on_roster"


def test_observation_dates_must_be_within_the_class_and_not_in_the_future():
    with pytest.raises(DomainError) as e:
        trainee_when([], log(facts(HT), observed=date(2026, 11, 21)))
    assert e.value.code == "future_date"
    with pytest.raises(DomainError) as e:
        trainee_when([], log(facts(HT), observed=date(2026, 9, 30)))
    assert e.value.code == "before_class"


def test_empty_text_is_refused():
    with pytest.raises(DomainError) as e:
        trainee_when([], log(facts(HT), text="   "))
    assert e.value.code == "empty_text"


def test_a_correction_is_a_new_record_pointing_at_the_old_one():
    assert trainee_when([logged("r1")], log(facts(HT), record_id="r2", corrects="r1")) == [
        logged("r2", corrects="r1")
    ]


def test_a_correction_of_a_correction_continues_the_chain():
    given = [logged("r1"), logged("r2", corrects="r1")]
    assert trainee_when(given, log(facts(HT), record_id="r3", corrects="r2")) == [logged("r3", corrects="r2")]


def test_correcting_an_already_corrected_record_is_refused():
    with pytest.raises(DomainError, match="r2") as e:
        trainee_when(
            [logged("r1"), logged("r2", corrects="r1")], log(facts(HT), record_id="r3", corrects="r1")
        )
    assert e.value.code == "already_corrected"


def test_correcting_an_unknown_record_is_refused():
    with pytest.raises(DomainError) as e:
        trainee_when([logged("r1")], log(facts(HT), record_id="r2", corrects="nope"))
    assert e.value.code == "unknown_record"


# -- assessment -----------------------------------------------------------------------------
SCHEME = AssessmentSchemeSet(
    class_id="c1",
    scheme_id="s",
    title="方案",
    items=[{**i, "max_points": float(i["max_points"])} for i in ITEMS],
)


def score(f, scores, scorer=("p-ht", "王老师"), week=date(2026, 11, 4)) -> ScoreWeek:
    return ScoreWeek(f, "a", week, tuple(scores), scorer[0], scorer[1], TODAY)


def test_setting_a_scheme_and_a_bad_one():
    assert class_when([], SetScheme("c1", "s", "方案", ITEMS)) == [SCHEME]
    for bad in ({**ITEMS[0], "max_points": 0}, {**ITEMS[0], "roles": ["mentor"]}, {**ITEMS[0], "group": ""}):
        with pytest.raises(DomainError) as e:
            class_when([], SetScheme("c1", "s", "方案", (bad,)))
        assert e.value.code == "bad_item"
    with pytest.raises(DomainError) as e:
        class_when([], SetScheme("c1", "s", "方案", (ITEMS[0], ITEMS[0])))
    assert e.value.code == "bad_item"


def test_the_shipped_huzhou_scheme_has_26_items_and_three_hundred_points():
    scheme = load_scheme("huzhou")
    assert len(scheme["items"]) == 26
    groups = {i["group"] for i in scheme["items"]}
    assert groups == {"理论学习", "党性修养和学风", "能力素质"}
    assert all(sum(i["max_points"] for i in scheme["items"] if i["group"] == g) == 100 for g in groups)
    assert class_when([], SetScheme("c1", scheme["scheme_id"], scheme["title"], tuple(scheme["items"])))


def test_scoring_a_week_counts_from_its_monday():
    out = trainee_when([], score(facts(HT, SCHEME), [("T01", 9.5)]))
    assert out == [
        AssessmentScored(
            class_id="c1",
            cadre_id="a",
            week=date(2026, 11, 2),
            scores=[ItemScore(item_id="T01", points=9.5)],
            scorer_id="p-ht",
            scorer_name="王老师",
            scorer_role="head_teacher",
        )
    ]


def test_points_above_the_maximum_are_refused():
    with pytest.raises(DomainError, match="0～10") as e:
        trainee_when([], score(facts(HT, SCHEME), [("T01", 10.5)]))
    assert e.value.code == "points_out_of_range"


def test_only_the_roles_the_scheme_names_may_score_an_item():
    with pytest.raises(DomainError, match="支部书记") as e:
        trainee_when([], score(facts(HT, SCHEME), [("P01", 5)]))
    assert e.value.code == "role_may_not_score"


def test_an_item_is_scored_once_a_week_and_scores_are_not_changed():
    given = [
        AssessmentScored(
            class_id="c1",
            cadre_id="a",
            week=date(2026, 11, 2),
            scores=[ItemScore(item_id="T01", points=8)],
            scorer_id="p-ht",
            scorer_name="王老师",
            scorer_role="head_teacher",
        )
    ]
    with pytest.raises(DomainError) as e:
        trainee_when(given, score(facts(HT, SCHEME), [("T01", 9)], week=date(2026, 11, 6)))
    assert e.value.code == "already_scored"
    assert trainee_when(given, score(facts(HT, SCHEME), [("T01", 9)], week=date(2026, 11, 9)))


def test_scoring_without_a_scheme_unknown_items_and_future_weeks_are_refused():
    for f, scores, week, code in (
        (facts(HT), [("T01", 1)], date(2026, 11, 4), "no_scheme"),
        (facts(HT, SCHEME), [("X", 1)], date(2026, 11, 4), "unknown_item"),
        (facts(HT, SCHEME), [("T01", 1), ("T01", 2)], date(2026, 11, 4), "duplicate_item"),
        (facts(HT, SCHEME), [("T01", 1)], date(2026, 11, 30), "future_date"),
        (facts(HT, SCHEME), [("T01", 1)], date(2026, 9, 24), "before_class"),  # the week before it opened
        (facts(HT, SCHEME), [], date(2026, 11, 4), "no_scores"),
    ):
        with pytest.raises(DomainError) as e:
            trainee_when([], score(f, scores, week=week))
        assert e.value.code == code


# -- supervision and final comment ---------------------------------------------------------
def test_supervision_notes_are_for_what_happened():
    on = date(2026, 11, 3)
    assert class_when([], NoteSupervision("c1", "n1", on, "随班听课，学风良好。", "组织部刘科长", TODAY)) == [
        SupervisionNoted(
            class_id="c1", note_id="n1", on=on, text="随班听课，学风良好。", author_name="组织部刘科长"
        )
    ]
    with pytest.raises(DomainError) as e:
        class_when([], NoteSupervision("c1", "n1", date(2026, 12, 1), "x", "刘", TODAY))
    assert e.value.code == "future_date"


def test_a_supervision_note_naming_a_trainee_is_refused_by_the_decider():
    note = NoteSupervision(
        "c1",
        "n1",
        date(2026, 11, 3),
        "张伟上课睡觉",
        "组织部刘科长",
        TODAY,
        trainee_names=frozenset({"张伟"}),
    )
    with pytest.raises(DomainError) as e:
        class_when([], note)
    assert (e.value.code, e.value.field) == ("trainee_named", "text")
    assert e.value.message == "督导记录中出现了学员姓名“张伟”：关于学员个人的内容请记入该学员的纪实记录。"


def test_the_head_teacher_writes_the_final_comment_once():
    cmd = WriteFinalComment(facts(HT, BS), "a", "政治坚定，学风端正。", "p-ht", "王老师")
    assert trainee_when([], cmd) == [
        FinalCommentWritten(class_id="c1", cadre_id="a", text="政治坚定，学风端正。", author_name="王老师")
    ]
    with pytest.raises(DomainError) as e:
        trainee_when([FinalCommentWritten(class_id="c1", cadre_id="a", text="x", author_name="王老师")], cmd)
    assert e.value.code == "final_comment_exists"
    with pytest.raises(DomainError) as e:
        trainee_when([], WriteFinalComment(facts(HT, BS), "a", "x", "p-bs", "李书记"))
    assert e.value.code == "not_head_teacher"


def test_holder_state_follows_the_events():
    state = fold(C, [HT, CO])
    assert state.recorders == {
        "p-ht": Holder("王老师", "head_teacher", START),
        "p-co": Holder("赵委员", "committee_member", START),
    }


def test_the_scheme_cannot_be_replaced_once_scores_exist():
    with pytest.raises(DomainError) as e:
        class_when([SCHEME], SetScheme("c1", "s2", "新方案", ITEMS, scores_exist=True))
    assert e.value.code == "scheme_in_use"
    assert class_when([SCHEME], SetScheme("c1", "s2", "新方案", ITEMS, scores_exist=False))
