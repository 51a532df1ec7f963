"""A rebuild folds the next batch while the writes of the one before are in flight (issue 16:
rebuild >= 0.3 of the raw consume limit; the store works on the other core, and a rebuild that
waited for each write spent about half its time waiting). What that must not cost, each shown
here on a store whose writes take a while: a position is saved only once the documents it covers
are written; a document the next batch changes while it is being written is folded onto what
was written, not taken for new; a write failing behind the fold stops the rebuild with positions
from which a projector completes it, every event counted once."""

from __future__ import annotations

import asyncio
import copy

from services.selection.projections import classes
from shared.memory import MemoryDatabase
from shared.projector import ProjectionWriter, rebuild
from tests.unit.test_personal_data import run
from tests.unit.test_projector_cache import TOPIC, class_stream, records
from tests.unit.test_projector_holding import TP, folded_once, stored
from tests.unit.test_projector_rebuild import FakeConsumer

# The turns of the event loop a write takes (a store's answer takes a while).
WRITE_TURNS = 30


class Timeline:
    """What a writer did, in order: folds (with the classes folded), writes begun and ended,
    positions saved; and at each position saved, whether the store held every event before it."""

    def __init__(
        self, writer: ProjectionWriter, recs, fail_write: int | None = None, lost_answer=False
    ) -> None:
        self.log: list[tuple[str, object]] = []
        self.behind: list[str] = []  # positions that passed an event the store did not hold
        self.recs = recs
        proj = copy.copy(writer.projection)
        fold = proj.fold

        def logged_fold(docs, items):
            self.log.append(("fold", sorted({i[0] for i in items})))
            return fold(docs, items)

        proj.fold = logged_fold
        writer.projection = proj
        write, coll = writer.coll.bulk_write, writer.coll
        writes = 0

        async def slow_write(ops, ordered=True):
            nonlocal writes
            writes += 1
            self.log.append(("write", writes))
            for _ in range(WRITE_TURNS):
                await asyncio.sleep(0)
            if writes == fail_write and not lost_answer:
                self.log.append(("failed", writes))
                raise ConnectionError("FerretDB gone")
            out = await write(ops, ordered=ordered)
            if writes == fail_write:
                self.log.append(("failed", writes))
                raise ConnectionError("the answer was lost")
            self.log.append(("written", writes))
            return out

        coll.bulk_write = slow_write
        update = writer.positions.update_one

        async def checked_update(flt, upd, upsert=False):
            for at in upd["$set"].values():
                if isinstance(at, int):
                    self.check(coll, at)
            self.log.append(("position", sorted(v for v in upd["$set"].values() if isinstance(v, int))))
            return await update(flt, upd, upsert=upsert)

        writer.positions.update_one = checked_update

    def check(self, coll, position: int) -> None:
        """Every class nominated before `position` is stored with those nominations."""
        expected: dict[str, int] = {}
        for rec in self.recs[:position]:
            class_id = rec.key.decode().removeprefix("class-")
            expected[class_id] = expected.get(class_id, -1) + 1  # the first event opens the class
        for class_id, count in expected.items():
            doc = coll.docs.get(class_id)
            if doc is None or len(doc.get("nominations", [])) < count:
                self.behind.append(f"{class_id} at position {position}")

    def folds_during_writes(self) -> int:
        """Folds that began while a write was in flight."""
        in_flight, count = 0, 0
        for what, _ in self.log:
            if what == "write":
                in_flight += 1
            elif what in ("written", "failed"):
                in_flight -= 1
            elif what == "fold" and in_flight:
                count += 1
        return count


def one_after_another(*sizes: int) -> list:
    """Classes taking nominations one after the other: each goes still in the batch after its own."""
    return [env for i, n in enumerate(sizes) for env in class_stream(f"k{i + 1}", n)]


def test_the_next_batch_is_folded_while_the_writes_before_it_are_in_flight_and_no_position_passes_them():
    recs = records(one_after_another(9, 9, 9, 9, 9, 9))  # 60 events, a class per batch of 10
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    timeline = Timeline(writer, recs)
    result = run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=10))
    assert result.applied == len(recs)
    assert timeline.folds_during_writes() >= 3  # one after the other, none would be
    assert timeline.behind == []  # every position saved covered only written documents
    assert stored(db) == folded_once(recs)


def test_a_document_the_next_batch_changes_while_it_is_written_is_folded_onto_what_was_written():
    # k1 is nominated in batches 1 and 3 only: it goes still after batch 2 and is being written
    # while batch 3 (nominating it again) is folded.
    k1, k2, k3 = class_stream("k1", 14), class_stream("k2", 9), class_stream("k3", 5)
    envelopes = [*k1[:10], *k2, *k1[10:], *k3]
    recs = records(envelopes)
    db = MemoryDatabase()
    writer = ProjectionWriter(classes, db, dead_letters=None)
    timeline = Timeline(writer, recs)
    result = run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=10))
    assert result.applied == len(recs)
    assert timeline.folds_during_writes() >= 1
    assert len(db["classes"].docs["k1"]["nominations"]) == 14  # not 4 on a k1 taken for new
    assert timeline.behind == []
    assert stored(db) == folded_once(recs)


def completed_after(writer: ProjectionWriter, db: MemoryDatabase, recs) -> dict:
    """The store once a projector started on the positions the rebuild saved has folded the rest."""
    position = run(writer.load_positions()).get((TOPIC, 0), 0)
    run(ProjectionWriter(classes, db, dead_letters=None).handle(recs[position:]))
    return stored(db)


def test_a_write_failing_behind_the_next_fold_stops_the_rebuild_and_its_positions_let_a_replay_complete_it():
    recs = records(one_after_another(9, 9, 9, 9, 9, 9))
    for lost_answer in (False, True):  # nothing stored, or stored with its answer lost
        db = MemoryDatabase()
        writer = ProjectionWriter(classes, db, dead_letters=None)
        timeline = Timeline(writer, recs, fail_write=2, lost_answer=lost_answer)
        try:
            run(rebuild(writer, FakeConsumer(recs), [TP], batch_size=10))
        except ConnectionError:
            pass
        else:
            raise AssertionError("the rebuild went on past a failed write")
        failed_at = timeline.log.index(("failed", 2))
        began_at = timeline.log.index(("write", 2))
        assert any(what == "fold" for what, _ in timeline.log[began_at:failed_at])  # behind a fold
        assert timeline.behind == []
        assert completed_after(writer, db, recs) == folded_once(recs)
