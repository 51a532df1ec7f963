"""A province dashboard's two writers share what they read of a record (shared/projector.py,
`Decodings`): the classes writer opens names with the vault, the cadre buckets' writer without
it, so what they open differs; what does not depend on it is shared: the envelope a writer
passing a record by reads (its type, stream and version), and the decoding of a record with
nothing sealed in it. And what both store is what each stores alone."""

from __future__ import annotations

import asyncio

import pytest

from services.dashboard import projections as dash
from shared.events import CATALOGUE, Catalogue
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import SEALED_MARK, Decodings, ProjectionWriter
from tests.unit.test_dashboard_catch_up_hold import county
from tests.unit.test_dashboard_partial_writes import CopyingDatabase, stored


class Counting(Catalogue):
    """The dashboard's catalogue, counting the envelopes it reads from a record's bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.__dict__.update(CATALOGUE.__dict__)
        self.read: list[bytes] = []

    def envelope(self, raw):
        if isinstance(raw, bytes):
            self.read.append(raw)
        return super().envelope(raw)


def writers(db, catalogue: Catalogue) -> list[ProjectionWriter]:
    sealer = Sealer(Vault(MemoryDatabase()), catalogue)
    return [
        ProjectionWriter(p, db, dead_letters=None, catalogue=catalogue, sealer=sealer)
        for p in (dash.classes, dash.cadres)
    ]


@pytest.mark.parametrize("first", [0, 1], ids=["classes-first", "cadres-first"])
def test_a_writer_passing_a_record_by_reads_nothing_the_other_writer_read_and_both_store_the_same(first):
    records = county("710103")
    catalogue = Counting()
    db = CopyingDatabase()
    both = writers(db, catalogue)
    shared = Decodings(both[0].sealer, catalogue)
    for w in both[1:]:
        w.sealer = shared.sealer
    a, b = both[first], both[1 - first]
    asyncio.run(a.handle(records, shared=shared))
    before = len(catalogue.read)
    asyncio.run(b.handle(records, shared=shared))
    read_by_b = catalogue.read[before:]
    # What the second writer passes by (its envelope only) was read by the first: none again.
    passed = [r.value for r in records if r.headers[0][1].decode() not in b.projection.handlers]
    assert passed and not set(passed) & set(read_by_b)
    # A record with nothing sealed that both fold (an attendance) is decoded once for both.
    attended = [r.value for r in records if r.headers[0][1] == b"SessionAttended"]
    assert attended and SEALED_MARK not in attended[0] and not set(attended) & set(read_by_b)
    # What is stored is what each writer stores on its own, with nothing shared.
    alone = CopyingDatabase()
    for w in writers(alone, CATALOGUE):
        asyncio.run(w.handle(records))
    for p in (dash.classes, dash.cadres):
        assert stored(db, p) == stored(alone, p)
