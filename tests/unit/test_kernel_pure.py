"""The kernel's pure parts: ids, jurisdictions, topics, catalogue and upcasting, the fold guard."""

from datetime import UTC, date, datetime

import pytest

from services.teaching.projections import roster
from shared import jurisdiction as jur
from shared import topics
from shared.commands import CommandHandler, Context
from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.events import Actor, Catalogue, Envelope, Event, MalformedEvent
from shared.ids import uuid7
from shared.projection import OWNER

CTX = Context(
    actor=Actor(user_id="u1", name="张三", role="org_department"),
    jurisdiction="371428",
    correlation_id="corr-1",
)


def test_uuid7_is_time_ordered_and_unique():
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == 5000 and all(i.version == 7 for i in ids)


@pytest.mark.parametrize(
    "holder,target,ok",
    [
        ("430000", "431121", True),
        ("431100", "431121", True),
        ("431100", "431221", False),
        ("371428", "371428", True),
        ("371428", "530129", False),
        ("371428", "371400", False),
    ],
)
def test_jurisdiction_cover(holder, target, ok):
    assert jur.covers(holder, target) is ok


@pytest.mark.parametrize("bad", ["37142", "3714281", "abcdef", "071428", ""])
def test_bad_division_codes_are_named(bad):
    with pytest.raises(jur.InvalidDivisionCode, match="六位数字"):
        jur.validate(bad)


def test_ancestors():
    assert jur.ancestors("371428") == ["371400", "370000"]
    assert jur.ancestors("431100") == ["430000"]
    assert jur.ancestors("430000") == []


def test_topic_patterns_follow_jurisdictions():
    county = topics.source_pattern("selection", ["371428"], include_ancestors=True)
    assert county.match("ganxun.selection.371428") and county.match("ganxun.selection.370000")
    assert county.match("ganxun.selection.371400")
    assert not county.match("ganxun.selection.371427") and not county.match("ganxun.teaching.371428")
    province = topics.source_pattern("selection", ["430000"])
    assert province.match("ganxun.selection.431121") and not province.match("ganxun.selection.371428")
    assert not province.match("ganxun.dlq.selection.430000")


def _envelope(
    event: Event, version: int = 1, stream: str = "class-c1", schema_version=None, payload=None
) -> Envelope:
    env = CommandHandler.envelopes(stream, version - 1, [event], CTX)[0]
    if schema_version is not None:
        env = env.model_copy(update={"schema_version": schema_version, "payload": payload})
    return env


def test_catalogue_round_trip():
    from shared.events import CATALOGUE

    env = _envelope(TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办"))
    decoded = CATALOGUE.decode(env.to_json())
    assert decoded.event == TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办")
    assert decoded.envelope.actor.name == "张三" and decoded.envelope.jurisdiction == "371428"


def test_unknown_type_is_none_and_garbage_is_malformed():
    from shared.events import CATALOGUE

    env = _envelope(TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办"))
    assert CATALOGUE.decode(env.model_copy(update={"type": "SomethingNew"}).to_json()) is None
    with pytest.raises(MalformedEvent, match="invalid envelope"):
        CATALOGUE.decode(b"{not json")
    with pytest.raises(MalformedEvent, match="invalid TraineeNominated payload"):
        CATALOGUE.decode(env.model_copy(update={"payload": {"class_id": "c1"}}).to_json())
    bad_code = env.to_json().replace(b'"jurisdiction":"371428"', b'"jurisdiction":"12"')
    with pytest.raises(MalformedEvent, match="jurisdiction"):
        CATALOGUE.decode(bad_code)


def test_a_field_added_by_a_newer_producer_is_ignored_by_an_older_reader():
    # Given a producer upgraded first (SessionAttended gained home_jurisdiction, same
    # version), when a reader that does not know the field decodes it, then it reads the
    # event without it instead of dead-lettering it.
    from shared.events import CATALOGUE

    env = _envelope(TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办"))
    newer = env.model_copy(update={"payload": {**env.payload, "added_later": "430121"}})
    assert CATALOGUE.decode(newer.to_json()).event == TraineeNominated(
        class_id="c1", cadre_id="a", name="李四", unit="县委办"
    )
    with pytest.raises(ValueError):  # in code, a misspelt field still fails where it is written
        TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办", added_later="x")


def test_old_versions_are_upcast_and_newer_ones_refused():
    cat = Catalogue()

    @cat.register("teaching")
    class HoursCredited(Event, type="HoursCredited", version=2):
        cadre_id: str
        hours: float
        kind: str

    @cat.upcaster("HoursCredited", from_version=1)
    def _v1(p):  # v1 had no kind: everything was theory
        return {**p, "kind": "理论课"}

    base = _envelope(HoursCredited(cadre_id="a", hours=2, kind="x"))
    old = base.model_copy(update={"schema_version": 1, "payload": {"cadre_id": "a", "hours": 2.0}})
    decoded = cat.decode(old.to_json())
    assert decoded.event == HoursCredited(cadre_id="a", hours=2.0, kind="理论课")
    assert decoded.envelope.schema_version == 2
    with pytest.raises(MalformedEvent, match="newer"):
        cat.decode(base.model_copy(update={"schema_version": 3}).to_json())


def test_fold_applies_each_stream_version_once():
    opened = ClassOpened(
        class_id="c1",
        title="班",
        capacity=3,
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 2),
        organiser="党校",
    )
    nominated = TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办")
    envs = CommandHandler.envelopes("class-c1", 0, [opened, nominated], CTX)
    batch = [(*roster.route(env, ev),) for env, ev in zip(envs, [opened, nominated])]
    batch = [(doc_id, env, ev, h) for (doc_id, h), env, ev in zip(batch, envs, [opened, nominated])]
    docs: dict = {}
    assert roster.fold(docs, batch) == {"c1"}
    first = dict(docs["c1"])
    # Redelivery of the same events, and a replay of the whole batch, change nothing.
    assert roster.fold(docs, batch) == set()
    assert docs["c1"] == first
    assert docs["c1"]["size"] == 1 and docs["c1"]["_applied"] == {"class-c1": 2, OWNER: "371428"}
    assert docs["c1"]["trainees"] == [
        {"cadre_id": "a", "name": "李四", "unit": "县委办", "status": "nominated"}
    ]


def test_envelope_times_are_utc():
    env = _envelope(TraineeNominated(class_id="c1", cadre_id="a", name="李四", unit="县委办"))
    assert env.occurred_at.tzinfo is not None and env.occurred_at <= datetime.now(UTC)


def test_division_names_for_the_dashboard():
    assert [jur.name(c) for c in ("430000", "430100", "430121", "371428", "110100")] == [
        "湖南省",
        "长沙市",
        "长沙县",
        "武城县",
        "北京市",
    ]  # a municipality's city level is itself
    assert jur.name("439999") == "439999"  # unknown: the code, never an error
    assert jur.chain("430121") == [
        {"code": "430000", "name": "湖南省", "level": "省"},
        {"code": "430100", "name": "长沙市", "level": "市"},
        {"code": "430121", "name": "长沙县", "level": "县"},
    ]
    assert [c["name"] for c in jur.chain("371400")] == ["山东省", "德州市"]
