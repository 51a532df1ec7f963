"""Records' read models as pure folds: corrections marked both ways, redelivery changes
nothing (totals are sums, so this matters), escaped ids read back."""

from datetime import date

from services.records import documents, reads
from services.records.projections import klass, roster, trainee, trainee_key
from shared.commands import CommandHandler, Context
from shared.contracts.records import AssessmentScored, ItemScore, RecordLogged
from shared.contracts.selection import ClassOpened, NominationConfirmed, NominationWithdrawn
from shared.events import Actor

CTX = Context(
    actor=Actor(user_id="p.ht", name="周明", role="recorder"), jurisdiction="110101", correlation_id="x"
)


def fold(projection, stream: str, events: list, docs: dict | None = None, first: int = 1) -> dict:
    docs = {} if docs is None else docs
    envs = CommandHandler.envelopes(stream, first - 1, events, CTX)
    items = []
    for env, ev in zip(envs, events):
        doc_id, handler = projection.route(env, ev)
        items.append((doc_id, env, ev, handler))
    projection.fold(docs, items)
    return docs


def logged(rid: str, corrects=None) -> RecordLogged:
    return RecordLogged(
        record_id=rid,
        class_id="c1",
        cadre_id="a.1",
        category="study",
        observed_on=date(2026, 11, 2),
        text=f"记录{rid}",
        author_id="p.ht",
        author_name="周明",
        author_role="head_teacher",
        corrects=corrects,
    )


def test_a_correction_chain_is_marked_both_ways_and_nothing_is_dropped():
    docs = fold(trainee, "records-trainee-c1-a.1", [logged("r1"), logged("r2", "r1"), logged("r3", "r2")])
    records = docs[trainee_key("c1", "a.1")]["records"]
    assert [(r["record_id"], r["corrects"], r["corrected_by"]) for r in records] == [
        ("r1", None, "r2"),
        ("r2", "r1", "r3"),
        ("r3", "r2", None),
    ]
    assert [r["text"] for r in documents.current_records(docs[trainee_key("c1", "a.1")])] == ["记录r3"]


def test_a_redelivered_score_sheet_is_not_counted_twice():
    sheet = AssessmentScored(
        class_id="c1",
        cadre_id="a.1",
        week=date(2026, 11, 2),
        scores=[ItemScore(item_id="T01", points=7)],
        scorer_id="p.ht",
        scorer_name="周明",
        scorer_role="head_teacher",
    )
    docs = fold(klass, "records-trainee-c1-a.1", [sheet])
    fold(klass, "records-trainee-c1-a.1", [sheet], docs)  # the same event again (same stream version)
    assert docs["c1"]["totals"] == {"a\uff0e1": {"T01": 7}}
    fold(
        klass, "records-trainee-c1-a.1", [sheet.model_copy(update={"week": date(2026, 11, 9)})], docs, first=2
    )
    assert docs["c1"]["totals"] == {"a\uff0e1": {"T01": 14}} and docs["c1"]["weeks"] == [
        "2026-11-02",
        "2026-11-09",
    ]


def test_the_roster_keeps_confirmed_trainees_and_drops_withdrawn_ones():
    opened = ClassOpened(
        class_id="c1",
        title="班",
        capacity=10,
        starts_on=date(2026, 10, 1),
        ends_on=date(2026, 12, 1),
        organiser="党校",
    )
    docs = fold(
        roster,
        "class-c1",
        [
            opened,
            NominationConfirmed(class_id="c1", cadre_id="a.1", name="张伟", unit="县委办"),
            NominationConfirmed(class_id="c1", cadre_id="b", name="李娜", unit="县委办"),
            NominationWithdrawn(class_id="c1", cadre_id="b", was_confirmed=True),
        ],
    )
    assert set(reads.active_trainees(docs["c1"])) == {"a.1"}
