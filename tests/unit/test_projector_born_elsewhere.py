"""A document that several streams feed is not taken for new because its own stream begins.

`_born` (shared/projector.py) spares a read for a document whose first event in a batch is the
first of the document's own stream (a registration): nothing can have stored it before. A
province dashboard's class document is fed by four services' topics, read in no order among
them: a class's sessions (teaching) may be folded, written and forgotten by the cache before its
ClassOpened (selection) comes. Taken for new then, the class was folded from nothing while the
writer held it, its insert met the stored one and the catch-up stopped ("written by another
writer", twice in a 100-county first start), and a 4-county first start came out a class short
(docs/benchmarks.md, "Dashboard memory at 100 counties (dashmem)")."""

from __future__ import annotations

import asyncio

from services.dashboard import projections as dash
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import ProjectionWriter
from tests.unit.test_dashboard_catch_up_hold import county
from tests.unit.test_dashboard_partial_writes import fold, stored


def test_a_class_its_sessions_stored_first_is_read_when_its_own_stream_begins_while_held():
    recs = county("710101")
    selection = [r for r in recs if ".selection." in r.topic]
    others = [r for r in recs if ".selection." not in r.topic]
    want = MemoryDatabase()
    fold(dash.classes, others + selection, want, len(recs))

    db = MemoryDatabase()
    writer = ProjectionWriter(
        dash.classes, db, dead_letters=None, sealer=Sealer(Vault(MemoryDatabase())), cache_size=0
    )
    asyncio.run(writer.handle(others))  # the classes stored from teaching, records, follow-up
    assert db[dash.classes.collection].docs, "the other services' events made the class documents"
    writer.hold()  # catching up: the selection topic's events, ClassOpened first, held

    async def held() -> None:
        await writer.handle(selection)
        await writer.release()

    asyncio.run(held())
    assert stored(db, dash.classes) == stored(want, dash.classes)
