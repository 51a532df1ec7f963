"""Personal data sealed per person and erased by deleting the key (shared/personal.py), the
erasure command (selection), and what a projection keeps and forgets — no server."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest

from services.selection import cadres as reg
from services.selection.domain import CadreDecider, EraseCadre, RecordCadre, UpdateCadre
from services.selection.handlers import Handlers
from services.selection.projections import PROJECTIONS, cadres
from services.selection.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreErased, CadreRegistered, NominationConfirmed
from shared.errors import DomainError, GanxunError
from shared.events import CATALOGUE, Actor, Envelope, MalformedEvent
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore, fold_projection
from shared.personal import ERASED, UNREADABLE, Gone, Sealer, Vault, is_sealed
from shared.projector import remember_pii, scrub

COUNTY = "371428"
DEPT = Principal(user_id="d1", name="组织部李科长", role="org_department", jurisdiction=COUNTY)
NAME = "欧阳明珠"


def idn(seq: int, birth: str = "19880612") -> str:
    first17 = f"{COUNTY}{birth}{seq:03d}"
    return first17 + reg.id_check_digit(first17)


def registered(cadre_id: str = "cd-1", name: str = NAME, actor: Actor | None = None) -> Envelope:
    ev = CadreRegistered(
        cadre_id=cadre_id,
        name=name,
        gender="女",
        birth_date=date(1988, 6, 12),
        id_number=idn(1),
        unit="县财政局",
        rank="副科",
    )
    return CommandHandler.envelopes(
        f"cadre-{cadre_id}",
        0,
        [ev],
        Context(actor=actor or DEPT.actor, jurisdiction=COUNTY, correlation_id="t"),
    )[0]


def run(coro):
    return asyncio.run(coro)


def test_sealed_values_carry_neither_the_name_nor_the_number_and_open_with_the_key():
    sealer = Sealer(Vault(MemoryDatabase()))
    (doc,) = run(sealer.seal([registered()]))
    wire = json.dumps(doc, ensure_ascii=False)
    assert NAME not in wire and idn(1) not in wire and "1988-06-12" not in wire
    assert doc["sealed"] == ["payload.name", "payload.birth_date", "payload.id_number"]
    assert doc["payload"]["unit"] == "县财政局"  # what other services need stays readable
    assert all(is_sealed(doc["payload"][f]) for f in ("name", "birth_date", "id_number"))
    (opened,) = run(sealer.open_envelopes([json.loads(wire)]))
    event = CATALOGUE.decode(opened.to_doc()).event
    assert (event.name, event.id_number, event.birth_date) == (NAME, idn(1), date(1988, 6, 12))


def test_after_erasure_the_same_bytes_open_as_erased_and_still_decode():
    vault = Vault(MemoryDatabase())
    sealer = Sealer(vault)
    (doc,) = run(sealer.seal([registered()]))
    run(vault.erase("cd-1"))
    seen = run(sealer.open([doc]))
    assert seen == [{}]  # nothing plain came out of it
    event = CATALOGUE.decode(doc).event
    assert (event.name, event.id_number, event.birth_date) == (ERASED, ERASED, None)
    # and a new event about the erased person keeps nothing of theirs, not even sealed
    (later,) = run(sealer.seal([registered()]))
    assert later["payload"]["name"] == ERASED and later["sealed"] == []


def test_another_deployments_sealed_values_are_unreadable_here():
    (doc,) = run(Sealer(Vault(MemoryDatabase())).seal([registered()]))
    run(Sealer(Vault(MemoryDatabase())).open([doc]))
    assert doc["payload"]["name"] == UNREADABLE and doc["payload"]["birth_date"] is None


def test_a_trainee_acting_for_themselves_has_their_name_sealed_in_the_actor():
    me = Actor(user_id="cd-1", name=NAME, role="trainee")
    (doc,) = run(Sealer(Vault(MemoryDatabase())).seal([registered(actor=me)]))
    assert "actor.name" in doc["sealed"] and NAME not in json.dumps(doc, ensure_ascii=False)


def test_a_dead_letter_reason_does_not_quote_the_values():
    raw = registered().to_doc()
    raw["payload"]["gender"] = "未知"  # fails the contract, with the name and number beside it
    with pytest.raises(MalformedEvent) as failed:
        CATALOGUE.decode(raw)
    text = str(failed.value)
    assert "gender" in text and NAME not in text and idn(1) not in text and "未知" not in text


def test_a_v1_registration_is_upcast_and_read_as_it_was():
    raw = registered().to_doc()
    raw["schema_version"] = 1
    decoded = CATALOGUE.decode(raw)
    assert decoded.envelope.schema_version == 2 and decoded.event.name == NAME


# -- the decider ------------------------------------------------------------------------
def test_erasing_a_cadre_is_one_event_without_personal_data_and_nothing_after_it():
    d = CadreDecider()
    record = {"name": NAME, "id_number": idn(1), "unit": "县财政局", "rank": "副科"}
    record, _ = reg.validate(record)
    state = d.evolve(d.initial(), d.decide(d.initial(), RecordCadre("cd-1", record))[0])
    (erased,) = d.decide(state, EraseCadre("cd-1", "consent_withdrawn"))
    assert erased == CadreErased(cadre_id="cd-1", ground="consent_withdrawn")
    # a department's own erasure follows no other deployment's (services/selection/erasures.py)
    assert erased.model_dump() == {
        "cadre_id": "cd-1",
        "ground": "consent_withdrawn",
        "following": None,
        "reason": None,
    }
    state = d.evolve(state, erased)
    assert d.decide(state, EraseCadre("cd-1", "consent_withdrawn")) == []
    for again in (RecordCadre("cd-1", record), UpdateCadre("cd-1", {"unit": "县委办"})):
        with pytest.raises(DomainError) as refused:
            d.decide(state, again)
        assert refused.value.code == "cadre_erased"


def test_erasure_needs_a_registered_cadre_and_a_ground_of_the_law():
    d = CadreDecider()
    with pytest.raises(GanxunError):
        d.decide(d.initial(), EraseCadre("cd-1", "consent_withdrawn"))


# -- the handler ------------------------------------------------------------------------
def test_the_department_erases_a_cadre_and_the_key_goes_with_it():
    store, db, vault = MemoryEventStore(), MemoryDatabase(), Vault(MemoryDatabase())
    h = Handlers(CommandHandler(store), Reads(db, stale_after=0), FixedClock(date(2026, 3, 2)), keys=vault)
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    cadre_id, _ = run(
        h.register(ctx, DEPT, {"name": NAME, "id_number": idn(1), "unit": "县财政局", "rank": "副科"})
    )
    run(vault.keys([cadre_id], create=True))
    unit = Principal(user_id="u1", name="单位王干事", role="unit", jurisdiction=COUNTY, unit="县财政局")
    with pytest.raises(GanxunError):
        run(h.erase(ctx, unit, cadre_id, "consent_withdrawn"))
    (event,) = run(h.erase(ctx, DEPT, cadre_id, "consent_withdrawn"))
    assert event.type == "CadreErased" and event.payload == {
        "cadre_id": cadre_id,
        "ground": "consent_withdrawn",
        "following": None,
        "reason": None,
    }
    assert not isinstance(run(vault.keys([cadre_id])).get(cadre_id), bytes)
    assert run(h.erase(ctx, DEPT, cadre_id, "consent_withdrawn")) == []  # again: harmless
    for p in PROJECTIONS:
        db.load(p, store.all_events())
    entry = run(h.reads.cadre(DEPT, cadre_id))
    assert entry["name"] == ERASED and entry["id_number"] == ERASED and entry["birth_date"] is None


# -- what a projection keeps and forgets ---------------------------------------------
def test_the_registry_entry_folds_erased_once_the_event_is_read():
    env = registered()
    gone = CommandHandler.envelopes(
        "cadre-cd-1", 1, [CadreErased(cadre_id="cd-1", ground="ceased")], Context(DEPT.actor, COUNTY, "t")
    )
    doc = fold_projection(cadres, [env, *gone])["cd-1"]
    assert (doc["name"], doc["id_number"], doc["birth_date"], doc["erased"]) == (ERASED, ERASED, None, True)
    assert doc["unit"] == "县财政局"


def test_scrub_blanks_the_person_and_leaves_a_namesake_alone():
    doc = {
        "_id": "k1",
        "_applied": {},
        "title": "青年干部班",
        "nominations": [
            {"cadre_id": "cd-1", "name": NAME, "unit": "县财政局", "note": f"{NAME}（本人申请）"},
            {"cadre_id": "cd-2", "name": NAME, "unit": "县委办"},
        ],
    }
    remember_pii(doc, {"cd-1": {NAME}})
    scrub(doc, "cd-1")
    assert (
        doc["nominations"][0]["name"] == ERASED and doc["nominations"][0]["note"] == f"{ERASED}（本人申请）"
    )
    assert doc["nominations"][1]["name"] == NAME
    assert doc["_applied"]["\uff04pii"] == {}


def test_scrub_blanks_a_whole_document_about_the_person():
    doc = {"_id": "x", "_applied": {}, "name": NAME, "birth": "1988-06-12", "hours": 12}
    remember_pii(doc, {"cd-1": {NAME, "1988-06-12"}})
    scrub(doc, "cd-1")
    assert (doc["name"], doc["birth"], doc["hours"]) == (ERASED, ERASED, 12)


def test_a_confirmed_trainees_name_is_sealed_too():
    ev = NominationConfirmed(class_id="k1", cadre_id="cd-1", name=NAME, unit="县财政局")
    env = CommandHandler.envelopes("class-k1", 3, [ev], Context(DEPT.actor, COUNTY, "t"))[0]
    (doc,) = run(Sealer(Vault(MemoryDatabase())).seal([env]))
    assert doc["sealed"] == ["payload.name"] and NAME not in json.dumps(doc, ensure_ascii=False)


def test_a_key_is_made_once_and_an_erased_person_gets_none_again():
    db = MemoryDatabase()
    first = run(Vault(db).keys(["cd-1", "cd-2"], create=True))
    again = run(Vault(db).keys(["cd-1", "cd-3"], create=True))  # another process, cache empty
    assert again["cd-1"] == first["cd-1"] and len(again["cd-3"]) == 32
    run(Vault(db).erase("cd-2"))
    assert run(Vault(db).keys(["cd-2"], create=True))["cd-2"] is Gone


def test_many_keys_at_once_are_read_in_one_scan_and_are_the_same_keys():
    db = MemoryDatabase()
    people = [f"cd-{i}" for i in range(600)]
    made = run(Vault(db).keys(people, create=True))
    assert run(Vault(db).keys(people)) == made


def test_an_erasure_reaches_only_documents_of_related_jurisdictions():
    from shared.projection import OWNER, Projection
    from shared.projector import ProjectionWriter

    db = MemoryDatabase()
    for doc_id, owner in (("ours", COUNTY), ("theirs", "530129")):
        doc = {"_id": doc_id, "_applied": {OWNER: owner}, "_rev": 1, "name": NAME, "cadre_id": "cd-1"}
        remember_pii(doc, {"cd-1": {NAME}})
        run(db["roster"].insert_one(doc))
    writer = ProjectionWriter(Projection("roster", sources=("selection",)), db, dead_letters=None)
    run(writer._scrub("cd-1", COUNTY))  # a CadreErased of 371428's
    assert run(db["roster"].find_one({"_id": "ours"}))["name"] == ERASED
    assert run(db["roster"].find_one({"_id": "theirs"}))["name"] == NAME  # a forged erasure cannot reach it


# -- free texts and names about a person, under whose key (docs/personal-data.md) ------------
# The text fields of the contracts left readable on purpose, and why: the audit of issue 14 as
# a test, so a text field added later is sealed or named here.
CLEAR = {
    # people acting in an office, named in the 实名 record of what they did in it
    ("ClassOpened", "organiser"): "the organising department",
    ("FacultyAdded", "name"): "a teacher, published on the timetable",
    ("SessionScheduled", "teacher_name"): "a teacher, published on the timetable",
    ("SessionRescheduled", "teacher_name"): "a teacher, published on the timetable",
    ("SupervisionNoted", "author_name"): "department staff following the class",
    ("FinalCommentWritten", "author_name"): "the head teacher, party-school staff",
    ("MentorAssigned", "mentor_name"): "a leading cadre appointed as mentor",
    ("MentorAssigned", "mentor_post"): "the mentor's office",
    ("OutcomeEndorsed", "by"): "the leader who endorsed, in office",
    # about a class, a session or an outcome, not about one person; naming a trainee of the
    # class in them is refused (CLASS_TEXTS below, shared/class_texts.py)
    ("SessionRescheduled", "reason"): "about the session",
    ("SessionCancelled", "reason"): "about the session",
    ("SupervisionNoted", "text"): "about the class (no person to seal it under)",
    ("OutcomeReported", "title"): "a class's work, reported to the leaders (several authors)",
    ("OutcomeEndorsed", "note"): "about the outcome",
    ("CadreErased", "reason"): "the system's text naming the jurisdiction whose erasure it follows",
    ("SharingTalkGiven", "audience"): "the unit that listened",
    ("AccountDisabled", "reason"): "an administrator's note on an account (no person id)",
    ("TraineeNotGraduated", "reasons"): "the rule's own texts, not written by anyone",
    ("ClassOpened", "title"): "a class",
    ("CourseAdded", "title"): "a course",
    ("TeachingSiteAdded", "name"): "a place",
    ("AssessmentSchemeSet", "title"): "a class's scheme",
    # an account's login name is the key of its stream and of the identity provider's account
    ("AccountCreated", "username"): "a key (the administrator chooses it)",
    ("AccountDisabled", "username"): "a key",
    ("AccountEnabled", "username"): "a key",
    ("PasswordReset", "username"): "a key",
}
TEXT_WORDS = ("name", "text", "reason", "note", "comment", "evidence", "topic", "title", "error")
# The clear texts whose handler refuses them when they name a trainee of the class, and the test
# that shows each refusal (tests/unit/test_*_handlers.py).
CLASS_TEXTS = {
    ("SessionRescheduled", "reason"): "test_a_session_reason_naming_a_trainee_of_the_class_is_refused",
    ("SessionCancelled", "reason"): "test_a_session_reason_naming_a_trainee_of_the_class_is_refused",
    ("SupervisionNoted", "text"): "test_a_supervision_note_naming_a_trainee_of_the_class_is_refused",
    ("OutcomeReported", "title"): "test_class_level_texts_of_follow_up_naming_a_graduate_are_refused",
    ("OutcomeEndorsed", "note"): "test_class_level_texts_of_follow_up_naming_a_graduate_are_refused",
    ("SharingTalkGiven", "audience"): "test_class_level_texts_of_follow_up_naming_a_graduate_are_refused",
}


def _text_fields():
    for cls in CATALOGUE.types():
        for field in cls.model_fields:
            if any(w in field for w in TEXT_WORDS) and not field.endswith("_id"):
                yield cls, field


def test_every_text_of_every_contract_is_sealed_under_a_person_or_clear_for_a_stated_reason():
    unsealed = [
        (cls.event_type, field)
        for cls, field in _text_fields()
        if field not in cls.personal
        and field not in cls.personal_of
        and (cls.event_type, field) not in CLEAR
        and not field.startswith(("course_", "class_"))  # course_title, class_title: public
    ]
    assert unsealed == []


def test_each_class_level_text_left_clear_is_refused_when_it_names_a_trainee():
    # Every clear text "about a class, a session or an outcome" is in CLASS_TEXTS, and each
    # named test exists in the handler tests of its service.
    about_class = [
        k for k, why in CLEAR.items() if why.startswith(("about the", "a class's work", "the unit"))
    ]
    assert sorted(about_class) == sorted(CLASS_TEXTS)
    tests = "".join(
        open(f"tests/unit/test_{s}_handlers.py", encoding="utf-8").read()
        for s in ("teaching", "records", "followup")
    )
    assert all(f"def {name}" in tests for name in CLASS_TEXTS.values())


def test_every_list_of_people_is_sealed_element_by_element():
    # A list field whose elements are people, a name beside a person's id (an outcome's
    # authors), is sealed per element, each under that person's key (`Event.personal_each`);
    # a list of named things (study groups, attachments) is not about anyone.
    from pydantic import BaseModel

    lists = [
        (cls.event_type, field)
        for cls in CATALOGUE.types()
        for field, info in cls.model_fields.items()
        for arg in getattr(info.annotation, "__args__", ())
        if isinstance(arg, type)
        and issubclass(arg, BaseModel)
        and "name" in arg.model_fields
        and {"cadre_id", "person_id", "user_id"} & set(arg.model_fields)
    ]
    assert lists == [("OutcomeReported", "authors")]
    assert CATALOGUE.model("OutcomeReported").personal_each == {"authors": ("name", "cadre_id")}


def _sealed(ev, stream: str = "s-1", actor: Actor = DEPT.actor, vault: Vault | None = None) -> dict:
    env = CommandHandler.envelopes(stream, 0, [ev], Context(actor, COUNTY, "t"))[0]
    (doc,) = run(Sealer(vault or Vault(MemoryDatabase())).seal([env]))
    return doc


def test_a_colleagues_evaluation_text_is_the_trainees_and_their_name_their_own():
    from shared.contracts.followup import EvaluationSubmitted
    from shared.personal import person_of

    vault = Vault(MemoryDatabase())
    ev = EvaluationSubmitted(
        milestone_id="m1",
        class_id="k1",
        cadre_id="cd-1",
        month=1,
        role="colleague",
        evaluator_id="cd-9",
        evaluator_name="同事张三",
        scores={"总体": 4},
        text=f"{NAME}同志工作认真，近期家中有困难",
        submitted_on=date(2026, 4, 1),
    )
    doc = _sealed(ev, vault=vault)
    wire = json.dumps(doc, ensure_ascii=False)
    assert NAME not in wire and "家中有困难" not in wire and "张三" not in wire
    assert person_of(doc["payload"]["text"]) == "cd-1"
    assert person_of(doc["payload"]["evaluator_name"]) == "cd-9"
    run(vault.erase("cd-1"))
    seen = run(Sealer(vault).open([doc]))
    assert doc["payload"]["text"] == ERASED and doc["payload"]["evaluator_name"] == "同事张三"
    assert seen == [{"cd-9": {"同事张三"}}]


@pytest.mark.parametrize(
    "event_type, values",
    [
        ("NominationRejected", {"class_id": "k1", "reason": "身体原因"}),
        ("NominationWithdrawn", {"class_id": "k1", "reason": "家中有事"}),
        ("LeaveRequested", {"class_id": "k1", "session_id": "s1", "reason": "就医"}),
        ("LeaveDecided", {"class_id": "k1", "session_id": "s1", "approved": True, "note": "注意身体"}),
        ("AbsenceExcused", {"class_id": "k1", "session_id": "s1", "reason": "住院"}),
        ("SessionRated", {"class_id": "k1", "session_id": "s1", "rating": 2, "comment": "我听不懂"}),
        (
            "RecordLogged",
            {
                "record_id": "r1",
                "class_id": "k1",
                "category": "thinking",
                "observed_on": "2026-03-02",
                "text": "思想有波动",
                "author_id": "cd-7",
                "author_name": "班长李四",
                "author_role": "class_monitor",
            },
        ),
        (
            "AssessmentScored",
            {
                "class_id": "k1",
                "week": "2026-03-02",
                "scores": [],
                "scorer_id": "cd-7",
                "scorer_name": "班长李四",
                "scorer_role": "class_monitor",
                "note": "迟到两次",
            },
        ),
        ("FinalCommentWritten", {"class_id": "k1", "text": "该同志表现一般", "author_name": "班主任"}),
        (
            "MentorTaskCompleted",
            {
                "class_id": "k1",
                "task": "urgent_matter",
                "evidence": "化解信访",
                "comment": "处置得当",
                "mentor_id": "m1",
                "done_on": "2026-05-01",
            },
        ),
        (
            "SharingTalkGiven",
            {"talk_id": "t1", "class_id": "k1", "on": "2026-05-01", "audience": "全局", "topic": "我的心得"},
        ),
    ],
)
def test_a_free_text_about_a_trainee_is_sealed_under_their_key_and_erased_with_them(event_type, values):
    model = CATALOGUE.model(event_type)
    ev = model.model_validate({"cadre_id": "cd-1", **values})
    vault = Vault(MemoryDatabase())
    doc = _sealed(ev, vault=vault)
    texts = [v for k, v in values.items() if k in model.personal or k in model.personal_of]
    assert texts and not any(t in json.dumps(doc, ensure_ascii=False) for t in texts)
    run(vault.erase("cd-1"))
    run(Sealer(vault).open([doc]))
    event = CATALOGUE.decode(doc).event
    for field in model.personal:
        assert getattr(event, field) == ERASED
    for field, whose in model.personal_of.items():  # another person's (the recorder's) name stays
        assert getattr(event, field) == values[field] and values[whose] != "cd-1"


@pytest.mark.parametrize(
    "event_type",
    [t.event_type for t in CATALOGUE.types() if t.schema_version == 2 and t.event_type != "CadreRegistered"],
)
def test_a_v1_event_with_its_texts_in_the_clear_is_upcast_to_v2(event_type):
    assert CATALOGUE._upcasters.get((event_type, 1)) is not None


def test_a_person_unknown_here_is_looked_up_once_per_ttl_and_a_creator_still_looks():
    db = MemoryDatabase()
    vault = Vault(db)
    assert run(vault.keys(["cd-other"])) == {}  # sealed by another deployment
    key = run(Vault(db).keys(["cd-other"], create=True))["cd-other"]  # now made here, by another process
    assert run(vault.keys(["cd-other"])) == {}  # remembered as absent: not read again within the TTL
    assert run(vault.keys(["cd-other"], create=True)) == {"cd-other": key}  # a creator reads
    assert run(Vault(db, ttl=0).keys(["cd-other"])) == {"cd-other": key}


def test_absences_do_not_pile_up_in_memory():
    vault = Vault(MemoryDatabase(), ttl=0)  # every entry expired at once
    for start in range(0, 30_000, 1_000):
        run(vault.keys([f"cd-{i}" for i in range(start, start + 1_000)]))
    assert len(vault._cache) <= 11_000


# -- an outcome's authors, a cadre acting as recorder (issue 14, item 3) -----------------------
def _outcome(authors: list[dict]):
    from shared.contracts.followup import OutcomeReported

    return OutcomeReported.model_validate(
        {
            "outcome_id": "o1",
            "class_id": "k1",
            "kind": "report",
            "title": "基层减负调研报告",
            "authors": authors,
        }
    )


def test_each_author_of_an_outcome_is_sealed_under_their_own_key_and_erased_alone():
    from shared.personal import person_of

    vault = Vault(MemoryDatabase())
    authors = [{"cadre_id": "cd-1", "name": NAME}, {"cadre_id": "cd-2", "name": "李四"}]
    doc = _sealed(_outcome(authors), vault=vault)
    wire = json.dumps(doc, ensure_ascii=False)
    assert NAME not in wire and "李四" not in wire and "基层减负调研报告" in wire  # the title is the class's
    assert doc["sealed"] == ["payload.authors.0.name", "payload.authors.1.name"]
    assert [person_of(a["name"]) for a in doc["payload"]["authors"]] == ["cd-1", "cd-2"]
    run(vault.erase("cd-1"))
    seen = run(Sealer(vault).open([doc]))
    event = CATALOGUE.decode(doc).event
    assert [(a.cadre_id, a.name) for a in event.authors] == [("cd-1", ERASED), ("cd-2", "李四")]
    assert seen == [{"cd-2": {"李四"}}]


def test_a_v1_outcome_keeps_its_authors_as_typed():
    env = CommandHandler.envelopes("outcome-o1", 0, [_outcome([])], Context(DEPT.actor, COUNTY, "t"))[0]
    old = env.model_copy(
        update={"schema_version": 1, "payload": {**env.payload, "authors": ["张三", "cd-9"]}}
    )
    event = CATALOGUE.decode(old.to_doc()).event
    assert [(a.cadre_id, a.name) for a in event.authors] == [(None, "张三"), (None, "cd-9")]


def test_an_erased_author_is_blanked_live_in_the_follow_up_views_and_the_co_author_keeps_their_name():
    from services.followup import report
    from services.followup.projections import class_effect

    env = CommandHandler.envelopes(
        "outcome-o1",
        0,
        [_outcome([{"cadre_id": "cd-1", "name": NAME}, {"cadre_id": "cd-2", "name": "李四"}])],
        Context(DEPT.actor, COUNTY, "t"),
    )[0]
    db = MemoryDatabase()
    db.load(class_effect, [env])
    doc = run(db[class_effect.collection].find_one({"_id": "k1"}))
    remember_pii(doc, {"cd-1": {NAME}, "cd-2": {"李四"}})  # what the projector noted on opening
    scrub(doc, "cd-1")
    (item,) = report.class_effect(doc)["outcomes"]["items"]
    assert (item["authors"], item["author_ids"]) == ([ERASED, "李四"], ["cd-1", "cd-2"])


def test_a_cadre_recording_as_class_monitor_has_their_name_sealed_and_staff_stay_clear():
    from services.selection.cadres import cadre_id_for
    from shared.personal import CADRE_ID_PREFIX, acts_as_cadre

    assert cadre_id_for(idn(1), b"secret").startswith(CADRE_ID_PREFIX)  # the ids selection mints
    monitor = Actor(user_id="cd-7", name="班长李四", role="recorder")
    doc = _sealed(_outcome([]), actor=monitor)
    assert doc["sealed"] == ["actor.name"] and "李四" not in json.dumps(doc, ensure_ascii=False)
    for staff in (
        Actor(user_id="p-ht", name="班主任王老师", role="recorder"),
        DEPT.actor,
        Actor(user_id="m-1", name="王局长", role="mentor"),
    ):
        assert not acts_as_cadre(staff.model_dump())
        assert _sealed(_outcome([]), actor=staff)["actor"]["name"] == staff.name
