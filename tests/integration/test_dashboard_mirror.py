"""The roll-up's mirrored counters against the real store: a start reads the mirror, and
the reconciliation puts the projection documents' truth back where the mirror is stale."""

from __future__ import annotations

from datetime import date

import pytest
from pymongo import AsyncMongoClient

from services.dashboard import rollup as ru
from services.dashboard.projections import classes
from services.dashboard.reads import COUNTERS, Reads
from shared.commands import CommandHandler, Context
from shared.contracts import selection as sel
from shared.events import CATALOGUE, Actor
from shared.ids import new_id

pytestmark = pytest.mark.integration


def _class_doc(code: str, class_id: str, confirmed: int) -> dict:
    ctx = Context(actor=Actor(user_id="u", name="测试", role="admin"), jurisdiction=code, correlation_id="c")
    events = [
        sel.ClassOpened(
            class_id=class_id,
            title="班",
            capacity=9,
            starts_on=date(2026, 1, 5),
            ends_on=date(2026, 1, 9),
            organiser="县委党校",
        )
    ]
    events += [
        sel.NominationConfirmed(class_id=class_id, cadre_id=f"c{i}", name="某", unit="某")
        for i in range(confirmed)
    ]
    items = []
    for env in CommandHandler.envelopes(f"class-{class_id}", 0, events, ctx):
        ev = CATALOGUE.decode(env.to_json()).event
        doc_id, handler = classes.route(env, ev)
        items.append((doc_id, env, ev, handler))
    docs: dict = {}
    classes.fold(docs, items)
    return docs[class_id]


async def test_a_start_reads_the_mirror_and_reconciliation_repairs_it(servers):
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    db = client[f"t_dashboard_mirror_{new_id()[-10:]}"]
    try:
        # the projection: class k1 at revision 3 with 2 trainees
        await db["dash_classes"].insert_one({**_class_doc("110101", "k1", 2), "_rev": 3})
        # a stale mirror: k1 still at revision 2 with 1 trainee, and k9 whose document is gone
        stale = Reads(db)
        stale.rollup.put_class(ru.class_entry({**_class_doc("110101", "k1", 1), "_rev": 2}))
        stale.rollup.put_class(ru.class_entry({**_class_doc("110101", "k9", 5), "_rev": 1}))
        await stale.flush()

        reads = Reads(db)
        r = reads.rollup
        await reads.load(r)
        assert {i: (e.rev, e.counts["confirmed"]) for i, e in r.classes.items()} == {
            "k1": (2, 1),
            "k9": (1, 5),
        }
        queue = r.subscribe()
        assert await reads.reconcile() == 2
        assert {i: (e.rev, e.counts["confirmed"]) for i, e in r.classes.items()} == {"k1": (3, 2)}
        assert queue.get_nowait() == {"110101"}  # the page is told
        await reads.flush()
        mirror = {d["_id"]: d async for d in db[COUNTERS].find({})}
        assert set(mirror) == {"class|k1"} and mirror["class|k1"]["rev"] == 3
        # what the writer reported in this process is newer than what a scan reads
        r.observer("classes")([{**_class_doc("110101", "k1", 3), "_rev": 4}])
        assert await reads.reconcile() == 0 and r.classes["k1"].counts["confirmed"] == 3
    finally:
        await client.drop_database(db.name)
        await client.close()
