"""A class document stores each nomination without the fields still at their defaults (issue 16:
a rebuild >= 0.3 of the raw consume limit; FerretDB's CPU per stored document grows with its
fields), and every reader sees them in full: the class page, the nominations list, the index
kept from the writers' own writes."""

from __future__ import annotations

from services.selection import api
from services.selection.read_index import ReadIndex
from tests.unit.test_selection_class_lists import DEPT, world  # noqa: F401 (the fixture)

# What a nomination reads as until a decision, a group or a promotion changes it.
NOMINATION_DEFAULTS = {"reason": "", "group": None, "from_waitlist": False}


def test_nominations_are_stored_without_their_defaults_and_read_with_them(world):  # noqa: F811
    stored = world.run(world.db["classes"].find_one({"_id": "k-spring"}))
    fields = {n["name"]: set(n) & set(NOMINATION_DEFAULTS) for n in stored["nominations"]}
    assert fields == {"张伟": set(), "李明": set(), "王芳": {"reason"}, "赵强": set()}

    page = world.nominations("k-spring")["items"]
    assert [(n["name"], n["reason"], n["group"], n["from_waitlist"]) for n in page] == [
        ("张伟", "", None, False),
        ("李明", "", None, False),
        ("王芳", "近期承担防汛任务", None, False),
        ("赵强", "", None, False),
    ]
    roster = world.run(api.roster("k-spring", "json", DEPT, world.h))["nominations"]
    assert [(n["reason"], n["group"], n["from_waitlist"]) for n in roster if n["name"] == "张伟"] == [
        ("", None, False)
    ]
    read = world.run(world.h.reads.class_document(DEPT, "k-spring"))
    assert all(set(NOMINATION_DEFAULTS) <= set(n) for n in read["nominations"])

    ix = ReadIndex()
    ix.observe_classes([{**stored, "_rev": 9}])
    assert all(set(NOMINATION_DEFAULTS) <= set(n) for n in ix.classes["k-spring"]["nominations"])
    assert (
        set(stored["nominations"][0]) & set(NOMINATION_DEFAULTS) == set()
    )  # the writer's own copy unchanged
