"""The class id rule (shared/scoped_ids.py): chosen ids qualified with the opener's code; a
route resolves a short id to the caller's own, lets related jurisdictions through, and answers
another county's id exactly as an unknown one, from the id alone."""

import pytest

from shared.auth import Principal
from shared.errors import DomainError, NotFound
from shared.scoped_ids import namespace, qualify, resolve, unknown_class

COUNTY, OTHER, CITY, PROVINCE = "371428", "371427", "371400", "370000"


def who(code: str, role: str = "org_department") -> Principal:
    return Principal(user_id="u", role=role, jurisdiction=code, name="某")


def test_two_counties_may_both_call_a_class_2026_01_and_each_gets_its_own():
    assert qualify(COUNTY, "2026-01") == "371428-2026-01"
    assert qualify(OTHER, "2026-01") == "371427-2026-01"
    assert qualify(COUNTY, "371428-2026-01") == "371428-2026-01"  # already its own


def test_a_chosen_id_written_as_another_jurisdiction_s_is_refused_in_chinese():
    with pytest.raises(DomainError) as refused:
        qualify(COUNTY, "371427-2026-01")
    assert refused.value.code == "bad_class_id" and refused.value.field == "class_id"
    assert "371428" in refused.value.message


def test_only_six_digit_division_codes_make_a_namespace():
    assert namespace("371428-2026-01") == "371428"
    assert namespace("2026-01") is None
    assert namespace("012345-a") is None  # no division code starts with 0
    assert namespace("0192f1c2-7b1a-7c3e-8000-000000000000") is None  # a UUID


def test_a_short_id_is_the_caller_s_own():
    assert resolve(who(COUNTY), "2026-01") == "371428-2026-01"
    assert resolve(who(PROVINCE), "2026-01") == "370000-2026-01"


def test_ancestors_read_their_counties_classes_and_counties_reach_their_province_s():
    assert resolve(who(CITY), "371428-2026-01") == "371428-2026-01"
    assert resolve(who(PROVINCE), "371428-2026-01") == "371428-2026-01"
    assert resolve(who(COUNTY, "trainee"), "370000-p1") == "370000-p1"


def test_another_county_s_id_answers_exactly_as_an_unknown_one():
    with pytest.raises(NotFound) as foreign:
        resolve(who(OTHER), "371428-2026-01")
    unknown = unknown_class("371428-2026-01")
    assert (foreign.value.status, foreign.value.code) == (404, "class_not_found")
    assert foreign.value.to_dict() == unknown.to_dict()
    with pytest.raises(NotFound):
        resolve(who("440106"), "371428-2026-01")  # another province
    with pytest.raises(NotFound):
        resolve(who("371300"), "371428-2026-01")  # another city of the province


def test_outcomes_are_qualified_and_resolved_as_classes_are():
    from shared.scoped_ids import unknown_outcome

    assert qualify(COUNTY, "o1", "成果", "outcome_id") == "371428-o1"
    assert resolve(who(COUNTY), "o1", unknown_outcome) == "371428-o1"
    with pytest.raises(NotFound) as foreign:
        resolve(who(OTHER), "371428-o1", unknown_outcome)
    assert (foreign.value.status, foreign.value.code) == (404, "outcome_not_found")
    with pytest.raises(DomainError) as refused:
        qualify(COUNTY, "371427-o1", "成果", "outcome_id")
    assert (refused.value.code, refused.value.field) == ("bad_outcome_id", "outcome_id")


def test_a_list_s_class_filter_takes_the_short_id_as_the_caller_s_own():
    from shared.scoped_ids import as_filter

    assert as_filter(who(COUNTY), "2026-01") == "371428-2026-01"
    assert as_filter(who(OTHER), "371428-2026-01") == "371428-2026-01"  # matches nothing of theirs
    assert as_filter(who(COUNTY), None) is None and as_filter(who(COUNTY), "") == ""
