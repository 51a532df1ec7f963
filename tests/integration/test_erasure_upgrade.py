"""Erasures made before the erasures topic existed (shared/upgrades.py), against the real Kafka
and store: the deployment's selection erased a cadre when its relay still put erasures on
selection's topic only. Follow-up does not follow selection, so since the upgrade it hears
erasures on `ganxun.erasures.<code>` alone, and one of its documents still holds the person's
name (as its fold noted it: the value, and under whom, in the document's guard). Once the
upgraded selection starts, its relay copies the earlier erasure onto the erasures topic and
follow-up blanks the name, without a rebuild; a second start copies nothing again."""

from __future__ import annotations

from datetime import date

import pytest
from pymongo import AsyncMongoClient

from services.followup.projections import graduates
from services.followup.service import DEFINITION as FOLLOWUP
from services.selection.cadres import id_check_digit
from services.selection.service import DEFINITION as SELECTION
from shared.auth import Principal
from shared.commands import Context
from shared.outbox import OutboxRelay
from shared.personal import ERASED
from shared.projection import OWNER, PII, guard_key
from shared.runtime import Runtime
from shared.topics import erasures_topic, events_topic
from shared.upgrades import ERASURES_COPIED, UPGRADES
from tests.support import eventually, random_county, read_topic, settings

pytestmark = pytest.mark.integration
NAME = "欧阳升级"


def _registration(county: str, seq: int) -> dict:
    first17 = f"{county}{date(1978, 3, 1 + seq):%Y%m%d}{seq:03d}"
    return {
        "name": f"{NAME}{seq}",
        "id_number": first17 + id_check_digit(first17),
        "unit": "县财政局",
        "rank": "科员",
    }


async def _register(rt: Runtime, dept: Principal, county: str, seq: int) -> str:
    ctx = Context(actor=dept.actor, jurisdiction=county, correlation_id=f"upgrade-{seq}")
    cadre_id, _ = await rt.handlers.register(ctx, dept, _registration(county, seq))
    return cadre_id


async def _erased_before_the_upgrade(servers, sel_settings, dept: Principal, county: str) -> str:
    """A cadre registered and erased while the relay of that time put the events on
    selection's topic and copied nothing; the cadre's id."""
    ctx = Context(actor=dept.actor, jurisdiction=county, correlation_id="upgrade-erase")
    before = Runtime(SELECTION, sel_settings)
    await before.start(())
    gone = await _register(before, dept, county, 1)
    await before.handlers.erase(ctx, dept, gone, "consent_withdrawn")
    old_relay = OutboxRelay(before.store, before.producer, before.topic_for)
    while await old_relay.publish_once():
        pass
    await before.stop()
    on_selection = await read_topic(servers.kafka, events_topic("selection", county), expect=2)
    assert [dict(r.headers)["event_type"] for r in on_selection] == [b"CadreRegistered", b"CadreErased"]
    assert await read_topic(servers.kafka, erasures_topic(county), timeout=5) == []
    return gone


async def test_an_erasure_from_before_the_erasures_topic_reaches_follow_up_after_selection_starts(servers):
    county = random_county()
    dept = Principal(user_id="dept", name="组织部李科长", role="org_department", jurisdiction=county)
    sel_settings = settings("selection", servers, [county])
    gone = await _erased_before_the_upgrade(servers, sel_settings, dept, county)

    # Follow-up's document that learned the name before (its guard notes it, as a fold does).
    fu_settings = settings("followup", servers, [county])
    mongo = AsyncMongoClient(servers.mongodb, tz_aware=True)
    held = mongo[fu_settings.database_name][graduates.collection]
    await held.insert_one(
        {
            "_id": f"k1:{gone}",
            "cadre_id": gone,
            "name": f"{NAME}1",
            "_applied": {OWNER: county, PII: {guard_key(gone): [f"{NAME}1"]}},
        }
    )
    followup = Runtime(FOLLOWUP, fu_settings)
    await followup.start(("projectors",))
    upgraded = Runtime(SELECTION, sel_settings)
    try:
        await upgraded.start(("relay",))

        async def blanked():
            doc = await held.find_one({"_id": f"k1:{gone}"})
            return doc["name"] == ERASED and doc

        await eventually(blanked, timeout=90)
        (copy,) = await read_topic(servers.kafka, erasures_topic(county), expect=1)
        assert dict(copy.headers)["event_type"] == b"CadreErased" and gone.encode() in copy.value
        marker = await mongo[sel_settings.database_name][UPGRADES].find_one({"_id": ERASURES_COPIED})
        assert marker["copied"] == 1
    finally:
        await upgraded.stop()

    # A second start: once its relay publishes a new registration, the upgrade step (run
    # before the relay's loop) is behind it, and the erasures topic still holds one copy.
    again = Runtime(SELECTION, sel_settings)
    try:
        await again.start(("relay",))
        await _register(again, dept, county, 2)
        await read_topic(servers.kafka, events_topic("selection", county), expect=3)
        assert len(await read_topic(servers.kafka, erasures_topic(county), expect=1, timeout=5)) == 1
    finally:
        await again.stop()
        await followup.stop()
        await mongo.close()
