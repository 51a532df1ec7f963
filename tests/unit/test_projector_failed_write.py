"""A batch whose write fails is folded again after the projector restarts (shared/runtime.py's
guard starts it again from the stored positions), and then stores everything it holds.

The writer folds into the very documents its cache holds, guard entries included. When the
store refused the write (a timeout, a lost connection), those cached documents said the batch
was applied while the store did not hold it: the replay skipped every event as already applied
and wrote nothing, and the positions moved past them. The likely cause of the 4,944
registrations, 114 milestones and 879 records a 30-county first start never folded, every
position at its end (services/dashboard/README.md, "Full batches and partial writes").

Over the in-memory store, a small county of bench.province: the reference is the same events
folded with no failure. The writer's observers (the dashboard's roll-up) hear each document as
stored, also when the lost answer hid that the write went through."""

from __future__ import annotations

import asyncio
import copy

import pytest
from pymongo.errors import AutoReconnect

from services.dashboard import projections as dash
from shared.memory import MemoryCollection
from shared.personal import Sealer, Vault
from shared.projector import ProjectionWriter
from tests.unit.test_dashboard_partial_writes import (
    Copying,
    CopyingDatabase,
    county_records,
    fold,
    stored,
)

BATCH = 23


class Failing(Copying):
    """Fails its `fail_at`-th bulk write: before writing anything (`applied=False`) or after
    writing it all, the answer lost on the way back (`applied=True`)."""

    fail_at: int | None = None
    applied = False
    calls = 0

    async def bulk_write(self, ops: list, ordered: bool = True):
        self.calls += 1
        if self.calls != self.fail_at:
            return await super().bulk_write(ops, ordered)
        if self.applied:
            await super().bulk_write(ops, ordered)
        raise AutoReconnect("connection closed")


class FailingDatabase(CopyingDatabase):
    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self.collections:
            self.collections[name] = Failing(name)
        return self.collections[name]


def fold_with_a_failure(projection, records, db, applied: bool, heard: dict) -> int:
    """Fold in batches; the third batch's write fails and the batch is handled again, as the
    restarted projector does. `heard`: the revision and counters of each document as last told
    to the writer's observers. Returns how many writes failed."""
    coll = db[projection.collection]
    coll.fail_at, coll.applied = 3, applied
    writer = ProjectionWriter(projection, db, dead_letters=None, sealer=Sealer(Vault(CopyingDatabase())))
    writer.observers.append(lambda docs: heard.update({d["_id"]: counters(d) for d in docs}))
    failures = 0
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        try:
            asyncio.run(writer.handle(batch))
        except AutoReconnect:
            failures += 1
            asyncio.run(writer.handle(batch))
    return failures


def counters(doc: dict) -> tuple:
    return doc["_rev"], copy.deepcopy(doc.get("n")), copy.deepcopy(doc.get("c"))


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-written", "written-answer-lost"])
@pytest.mark.parametrize("projection", [dash.cadres, dash.classes], ids=lambda p: p.name)
def test_a_batch_whose_write_failed_is_stored_whole_when_handled_again(projection, applied):
    records = county_records()
    reference = CopyingDatabase()
    fold(projection, records, reference, BATCH)

    db, heard = FailingDatabase(), {}
    assert fold_with_a_failure(projection, records, db, applied, heard) == 1
    assert stored(db, projection) == stored(reference, projection)
    assert heard == {i: counters(d) for i, d in db[projection.collection].docs.items()}
    if projection is dash.cadres:
        registered = sum(d["n"].get("registered", 0) for d in db[projection.collection].docs.values())
        assert registered == 60
