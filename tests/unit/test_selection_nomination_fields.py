"""A class document stores each nomination without the fields still at their defaults (issue 16:
a rebuild >= 0.3 of the raw consume limit; FerretDB's CPU per stored document grows with its
fields), and every reader sees them in full: the class page, the nominations list, the index
kept from the writers' own writes."""

from __future__ import annotations

import copy
from datetime import date

from services.selection import api, projections
from services.selection.projections import classes, nominations_in_full
from services.selection.read_index import ReadIndex
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, NominationWithdrawn, TraineeNominated
from shared.events import CATALOGUE
from tests.unit.test_selection_class_lists import COUNTY, DEPT, world  # noqa: F401 (the fixture)

# What a nomination reads as until a decision, a group or a promotion changes it.
NOMINATION_DEFAULTS = {"reason": "", "group": None, "from_waitlist": False}


def test_nominations_are_stored_without_their_defaults_and_read_with_them(world):  # noqa: F811
    stored = world.run(world.db["classes"].find_one({"_id": "k-spring"}))
    fields = {n["name"]: set(n) & {*NOMINATION_DEFAULTS, "home_jurisdiction"} for n in stored["nominations"]}
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
    assert {n["home_jurisdiction"] for n in read["nominations"]} == {COUNTY}

    ix = ReadIndex()
    ix.observe_classes([{**stored, "_rev": 9}])
    assert all(set(NOMINATION_DEFAULTS) <= set(n) for n in ix.classes["k-spring"]["nominations"])
    assert {n["home_jurisdiction"] for n in ix.classes["k-spring"]["nominations"]} == {COUNTY}
    # The writer's own copy is left as it was.
    assert set(stored["nominations"][0]) & set(NOMINATION_DEFAULTS) == set()


OPENED = ClassOpened(
    class_id="k1",
    title="科级干部轮训班",
    capacity=9,
    starts_on=date(2026, 9, 1),
    ends_on=date(2026, 9, 5),
    organiser="县委组织部",
)


def test_a_nominee_from_another_jurisdiction_keeps_it_stored():
    """Only a home jurisdiction that is the class's own is left out (a county's class of its own
    cadres); another county's cadre's (or none, from older events) is stored as it came."""
    docs: dict = {}
    _fold(
        docs,
        [
            OPENED,
            TraineeNominated(class_id="k1", cadre_id="a", name="甲", unit="县委办", home_jurisdiction=COUNTY),
            TraineeNominated(
                class_id="k1", cadre_id="b", name="乙", unit="县委办", home_jurisdiction="371427"
            ),
            TraineeNominated(class_id="k1", cadre_id="c", name="丙", unit="县委办"),
        ],
    )
    stored = {n["cadre_id"]: n.get("home_jurisdiction", "-") for n in docs["k1"]["nominations"]}
    assert stored == {"a": "-", "b": "371427", "c": None}
    read = {n["cadre_id"]: n["home_jurisdiction"] for n in nominations_in_full(docs["k1"])["nominations"]}
    assert read == {"a": COUNTY, "b": "371427", "c": None}


def _fold(docs: dict, events: list, version: int = 0) -> None:
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    items = []
    for env in CommandHandler.envelopes("class-k1", version, events, ctx):
        event = CATALOGUE.decode(env.to_json()).event
        doc_id, handler = classes.route(env, event)
        items.append((doc_id, env, event, handler))
    classes.fold(docs, items)


def test_a_nominee_nominated_again_has_one_entry_however_the_class_was_kept(monkeypatch):
    """Whether a nominee is nominated again is remembered per nominations list folded (not a scan
    per event): it still holds when the class comes back as another copy (read from the store),
    when more entries were folded than are remembered, and for a list changed elsewhere; what is
    remembered stays within its bound."""
    monkeypatch.setattr(projections.NOMINEES, "entries", 2)
    nominate = lambda c: TraineeNominated(class_id="k1", cadre_id=c, name=c, unit="县委办")  # noqa: E731
    withdraw = lambda c: NominationWithdrawn(class_id="k1", cadre_id=c)  # noqa: E731
    docs: dict = {}
    _fold(docs, [OPENED, nominate("a"), nominate("b"), withdraw("a"), nominate("a")])
    assert [(n["cadre_id"], n["status"]) for n in docs["k1"]["nominations"]] == [
        ("b", "nominated"),
        ("a", "nominated"),
    ]
    copied = {"k1": copy.deepcopy(docs["k1"])}  # as read back from the store
    _fold(copied, [withdraw("b"), nominate("b")], version=5)
    assert [n["cadre_id"] for n in copied["k1"]["nominations"]] == ["a", "b"]
    docs["k1"]["nominations"].append({"cadre_id": "c", "name": "c", "unit": "县委办", "status": "nominated"})
    _fold(docs, [withdraw("c"), nominate("c")], version=5)
    assert [n["cadre_id"] for n in docs["k1"]["nominations"]] == ["b", "a", "c"]
    assert projections.NOMINEES.held <= 2 and sum(k[1] for k in projections.NOMINEES.kept.values()) <= 2
