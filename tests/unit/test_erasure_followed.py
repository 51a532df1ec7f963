"""An erasure reaches every deployment that holds the person (issue 14, item 3): the rule of
`Handlers.follow_erasure` and of the worker's record handling (services/selection/erasures.py),
with the kernel's fakes, no server. The real broker and store: tests/integration/test_erasure_across.py."""

from __future__ import annotations

import asyncio
from datetime import date

from services.selection.domain import CadreDecider, FollowErasure
from services.selection.erasures import Outcome, follow
from services.selection.handlers import ERASURE_FOLLOWER, Handlers
from services.selection.projections import cadres
from services.selection.reads import Reads
from shared import bus_access as ba
from shared import topics
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreErased, CadreRegistered
from shared.events import Actor, Envelope
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore
from shared.personal import Gone, Vault

PROVINCE, COUNTY, OTHER = "430000", "431428", "431427"
DEPT = Actor(user_id="d1", name="县委组织部李科长", role="org_department")


def run(coro):
    return asyncio.run(coro)


def registered(cadre_id: str, jurisdiction: str) -> Envelope:
    ev = CadreRegistered(
        cadre_id=cadre_id,
        name="欧阳明珠",
        gender="女",
        birth_date=date(1988, 6, 12),
        id_number="431428198806120021",
        unit="县财政局",
        rank="副科",
    )
    return CommandHandler.envelopes(f"cadre-{cadre_id}", 0, [ev], Context(DEPT, jurisdiction, "c0"))[0]


def erasure(
    cadre_id: str, jurisdiction: str, version: int = 1, ground: str = "consent_withdrawn"
) -> Envelope:
    ev = CadreErased(cadre_id=cadre_id, ground=ground)
    return CommandHandler.envelopes(f"cadre-{cadre_id}", version, [ev], Context(DEPT, jurisdiction, "c1"))[0]


class Deployment:
    """One deployment's selection: its event store, registry and key vault, all fakes."""

    def __init__(self, codes: list[str], registry: list[Envelope] = ()) -> None:
        self.codes = codes
        self.store = MemoryEventStore()
        db = MemoryDatabase()
        db.load(cadres, registry)
        self.vault = Vault(MemoryDatabase())
        self.h = Handlers(CommandHandler(self.store), Reads(db, stale_after=0), FixedClock(date(2026, 3, 2)))
        self.h.keys = self.vault

    def holds(self, person: str) -> None:
        run(self.vault.keys([person], create=True))

    def key(self, person: str):
        return run(self.vault.keys([person])).get(person)

    def follow(self, env: Envelope) -> list[Envelope]:
        return run(self.h.follow_erasure(env, CadreErased.model_validate(env.payload), self.codes))


class Record:
    """A consumer record as the worker gets it."""

    def __init__(self, topic: str, env: Envelope) -> None:
        self.topic, self.partition, self.offset, self.key = topic, 0, 7, env.stream_id.encode()
        self.value = env.to_json()
        self.headers = [("event_type", env.type.encode())]


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, rec, reason: str) -> None:
        self.sent.append(reason)


def test_a_province_holding_a_county_cadre_records_its_own_erasure_and_deletes_its_key():
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    province.holds("cd-1")  # its selection sealed the nomination's name under its own key
    (own,) = province.follow(erasure("cd-1", COUNTY, version=3))
    assert own.type == "CadreErased" and own.jurisdiction == PROVINCE and own.stream_id == "cadre-cd-1"
    assert own.actor == ERASURE_FOLLOWER and own.actor.name == "个人信息删除同步程序"
    assert own.payload["following"] == COUNTY and own.payload["ground"] == "consent_withdrawn"
    assert own.payload["reason"] == "431428已删除该干部的个人信息，本部署随之删除以本部署密钥保存的副本。"
    assert own.causation_id is not None and own.correlation_id == "c1"
    assert province.key("cd-1") is Gone
    assert [e.type for e in province.store.all_events()] == ["CadreErased"]


def test_redelivery_both_sides_erasing_and_the_echo_change_nothing():
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    province.holds("cd-1")
    (own,) = province.follow(erasure("cd-1", COUNTY, version=3))
    assert province.follow(erasure("cd-1", COUNTY, version=3)) == []  # redelivered
    # The county erased the person itself; the province's own erasure comes back to it.
    county = Deployment([COUNTY], [registered("cd-1", COUNTY)])
    run(county.vault.erase("cd-1"))
    assert county.follow(own) == []
    assert county.store.all_events() == [] and len(province.store.all_events()) == 1


def test_a_person_unknown_here_changes_nothing():
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    assert province.follow(erasure("cd-1", COUNTY, version=3)) == []
    assert province.store.all_events() == [] and province.key("cd-1") is None


def test_the_key_is_deleted_again_when_the_first_attempt_stopped_after_the_event():
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    province.holds("cd-1")
    cmd = FollowErasure("cd-1", "ceased", COUNTY, "县已删除")
    ctx = Context(ERASURE_FOLLOWER, PROVINCE, "c")
    run(province.h.commands.execute(CadreDecider(), "cadre-cd-1", cmd, ctx))  # the key's deletion failed
    assert isinstance(province.key("cd-1"), bytes)
    assert province.follow(erasure("cd-1", COUNTY, version=3)) == []  # nothing more recorded
    assert province.key("cd-1") is Gone and len(province.store.all_events()) == 1


def test_a_province_erasure_reaches_a_county_that_still_holds_the_person():
    """The other direction: a county that sealed something about a province-registered person."""
    county = Deployment([COUNTY])
    county.holds("cd-9")
    (own,) = county.follow(erasure("cd-9", PROVINCE, version=2))
    assert own.jurisdiction == COUNTY and own.payload["following"] == PROVINCE
    assert county.key("cd-9") is Gone


def test_only_an_erasure_on_its_own_jurisdictions_topic_counts():
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    province.holds("cd-1")
    dead = DeadLetters()
    forged = erasure("cd-1", COUNTY, version=3)
    # put on another county's erasures topic (that county's principal may write there)
    outcome = run(follow(province.h, Record(topics.erasures_topic(OTHER), forged), [PROVINCE], dead))
    assert outcome == Outcome.DEAD_LETTERED and "provenance" in dead.sent[0]
    assert isinstance(province.key("cd-1"), bytes) and province.store.all_events() == []
    # the same erasure on the county's own topic counts
    outcome = run(follow(province.h, Record(topics.erasures_topic(COUNTY), forged), [PROVINCE], dead))
    assert outcome == Outcome.ERASED and province.key("cd-1") is Gone and len(dead.sent) == 1
    # and again: nothing
    outcome = run(follow(province.h, Record(topics.erasures_topic(COUNTY), forged), [PROVINCE], dead))
    assert outcome == Outcome.NOTHING


def test_a_county_cannot_erase_another_countys_cadre_in_the_province():
    """On its own topic and in its own name, a county erases only a person the province's
    registry places in it: another county's cadre keeps their key in the province."""
    province = Deployment([PROVINCE], [registered("cd-1", COUNTY)])
    province.holds("cd-1")
    dead = DeadLetters()
    aimed = erasure("cd-1", OTHER, version=1)
    outcome = run(follow(province.h, Record(topics.erasures_topic(OTHER), aimed), [PROVINCE], dead))
    why = f"辖区 {OTHER} 删除的干部 cd-1 不在其辖区的名册中，本部署不据此删除。"
    assert outcome == Outcome.DEAD_LETTERED and dead.sent == [f"erasures-followed: erasure_not_theirs: {why}"]
    assert isinstance(province.key("cd-1"), bytes) and province.store.all_events() == []


def test_what_is_not_an_erasure_is_passed_over_and_a_malformed_one_dead_lettered():
    province = Deployment([PROVINCE])
    dead = DeadLetters()
    rec = Record(topics.erasures_topic(COUNTY), registered("cd-1", COUNTY))
    assert run(follow(province.h, rec, [PROVINCE], dead)) == Outcome.SKIPPED
    bad = Record(topics.erasures_topic(COUNTY), erasure("cd-1", COUNTY))
    bad.value = b'{"type": "CadreErased"}'
    assert run(follow(province.h, bad, [PROVINCE], dead)) == Outcome.DEAD_LETTERED
    assert dead.sent[0].startswith("erasures-followed: invalid envelope")


def test_a_deployment_follows_the_erasures_of_those_above_and_below_it_never_its_own():
    province = topics.followed_erasures([PROVINCE])
    assert province.match("ganxun.erasures.431428") and province.match("ganxun.erasures.431400")
    assert not province.match("ganxun.erasures.430000") and not province.match("ganxun.erasures.530129")
    county = topics.followed_erasures([COUNTY])
    assert county.match("ganxun.erasures.430000") and county.match("ganxun.erasures.431400")
    assert not county.match("ganxun.erasures.431428") and not county.match("ganxun.erasures.431427")
    city = topics.followed_erasures(["431400"])
    assert city.match("ganxun.erasures.431428") and city.match("ganxun.erasures.430000")
    assert not city.match("ganxun.erasures.431400") and not city.match("ganxun.erasures.432428")


def _reads(acls: list[ba.Acl], topic: str) -> bool:
    return any(
        a.resource_type == ba.TOPIC
        and a.operation == ba.READ
        and (a.name == topic if a.pattern == ba.LITERAL else topic.startswith(a.name))
        for a in acls
    )


def test_the_principals_plan_lets_selection_read_every_topic_it_follows_and_its_group():
    for codes, followed, refused in (
        ([PROVINCE], ["431428", "431400"], ["530129"]),
        ([COUNTY], ["430000", "431400"], [OTHER, "530000"]),
    ):
        acls = ba.acl_plan(codes)
        pattern = topics.followed_erasures(codes)
        for code in followed:
            topic = topics.erasures_topic(code)
            assert pattern.match(topic) and _reads(acls, topic), topic
        for code in refused:
            assert not _reads(acls, topics.erasures_topic(code)), code
        group = f"ganxun.selection.{'-'.join(codes)}.erasures-followed"
        assert any(a.resource_type == ba.GROUP and group.startswith(a.name) for a in acls)
