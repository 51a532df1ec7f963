"""What a projector reads from the key vault after an import (issue 16, bulk): a projection
opens only the events it folds, and one scan of the vault serves the batches after it."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from services.selection.projections import cadres, classes
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import ProjectionWriter
from shared.topics import events_topic
from tests.unit.test_personal_data import COUNTY, NAME, registered, run
from tests.unit.test_projector_holding import sealed_records


class CountingVault(Vault):
    """A vault that remembers whom it was asked for and how often it read its collection."""

    def __init__(self, db: MemoryDatabase) -> None:
        super().__init__(db)
        self.asked: list[str] = []
        self.reads = 0
        find, find_one = self.coll.find, self.coll.find_one

        def counted_find(*args, **kwargs):
            self.reads += 1
            return find(*args, **kwargs)

        async def counted_find_one(*args, **kwargs):
            self.reads += 1
            return await find_one(*args, **kwargs)

        self.coll.find, self.coll.find_one = counted_find, counted_find_one

    async def keys(self, persons, create: bool = False, new=()):
        persons = list(persons)
        if not create:
            self.asked.extend(persons)
        return await super().keys(persons, create)


def _import(vault: Vault, n: int) -> list[ConsumerRecord]:
    """n registrations as the relay puts them on Kafka (`sealed_records`)."""
    return sealed_records(vault, [registered(f"cd-{i}") for i in range(n)], events_topic("selection", COUNTY))


def test_a_projection_that_folds_no_registration_opens_none_and_still_counts_them_handled():
    db, keys = MemoryDatabase(), MemoryDatabase()
    vault = CountingVault(keys)
    records = _import(Vault(keys), 50)
    writer = ProjectionWriter(classes, db, dead_letters=None, sealer=Sealer(vault))
    seen: list[tuple[str, int]] = []
    writer.progress.append(seen.extend)
    run(writer.handle(records))
    assert vault.asked == [] and vault.reads == 0
    assert seen == [(f"cadre-cd-{i}", 1) for i in range(50)]  # read-your-writes still wakes

    registry = ProjectionWriter(cadres, db, dead_letters=None, sealer=Sealer(vault))
    run(registry.handle(records))
    assert len(vault.asked) == 50
    assert run(db["cadres"].find_one({"_id": "cd-7"}))["name"] == NAME


def test_one_scan_of_the_vault_serves_the_batches_after_it():
    keys = MemoryDatabase()
    records = _import(Vault(keys), 600)
    vault = CountingVault(keys)
    db = MemoryDatabase()
    writer = ProjectionWriter(cadres, db, dead_letters=None, sealer=Sealer(vault))
    for start in range(0, 600, 200):  # three batches of 200 people, as after an import
        run(writer.handle(records[start : start + 200]))
    assert vault.reads == 1  # one scan, not 600 point reads
    assert run(db["cadres"].count_documents({"name": NAME})) == 600


def test_the_writers_of_one_projector_open_and_decode_each_record_once(monkeypatch):
    """Two projections folding the same registrations (as selection's registry and a second
    read model of the same people): the batch is opened and decoded once for both, and each
    still holds every name."""
    import re

    from shared.projector import Follower, Projector

    keys = MemoryDatabase()
    records = _import(Vault(keys), 40)
    sealer = Sealer(CountingVault(keys))
    opened, decoded = _counting(monkeypatch, sealer)
    one, two = MemoryDatabase(), MemoryDatabase()
    writers = [ProjectionWriter(cadres, db, dead_letters=None, sealer=sealer) for db in (one, two)]
    topic = re.compile(r"ganxun\.selection\..*")
    projector = Projector([Follower(w, topic) for w in writers], consumer_factory=lambda: None)
    run(projector.handle(records))
    assert len(opened) == 40 and len(decoded) == 40  # each writer alone: 80 and 80
    for db in (one, two):
        assert run(db["cadres"].count_documents({"name": NAME})) == 40


def test_a_projection_keeping_no_name_shares_nothing_with_one_that_shows_names():
    """A projection that keeps no personal value opens without the vault (names read as
    unreadable, `Projection.personal`); a writer beside it in the same projector still opens
    them itself and holds every name, whichever of the two opens first."""
    import re
    from dataclasses import replace

    from shared.projector import Follower, Projector

    keys = MemoryDatabase()
    records = _import(Vault(keys), 20)
    sealer = Sealer(CountingVault(keys))
    nameless, named = MemoryDatabase(), MemoryDatabase()
    writers = [
        ProjectionWriter(replace(cadres, personal=False), nameless, dead_letters=None, sealer=sealer),
        ProjectionWriter(cadres, named, dead_letters=None, sealer=sealer),
    ]
    topic = re.compile(r"ganxun\.selection\..*")
    projector = Projector([Follower(w, topic) for w in writers], consumer_factory=lambda: None)
    run(projector.handle(records))
    assert run(named["cadres"].count_documents({"name": NAME})) == 20
    assert run(nameless["cadres"].count_documents({"name": NAME})) == 0


def test_projections_keeping_no_name_share_their_opens_among_themselves(monkeypatch):
    """Two writers that open without the vault share one open and one decode of each record
    (the batch's Decodings keyed by how it was opened), and neither asks the vault."""
    import re
    from dataclasses import replace

    from shared.projector import Follower, Projector

    keys = MemoryDatabase()
    records = _import(Vault(keys), 20)
    vault = CountingVault(keys)
    sealer = Sealer(vault)
    opened, decoded = _counting(monkeypatch, sealer)
    nameless = replace(cadres, personal=False)
    one, two = MemoryDatabase(), MemoryDatabase()
    writers = [ProjectionWriter(nameless, db, dead_letters=None, sealer=sealer) for db in (one, two)]
    topic = re.compile(r"ganxun\.selection\..*")
    run(Projector([Follower(w, topic) for w in writers], consumer_factory=lambda: None).handle(records))
    assert (len(opened), len(decoded), vault.asked) == (20, 20, [])
    for db in (one, two):
        assert run(db["cadres"].count_documents({})) == 20
        assert run(db["cadres"].count_documents({"name": NAME})) == 0


def _counting(monkeypatch, sealer: Sealer) -> tuple[list, list]:
    """The values `sealer` opens and the events the catalogue decodes, as lists that grow."""
    from shared import events

    opened, decoded = [], []
    open_, decode = sealer.open, events.CATALOGUE.decode

    async def counted_open(docs, **kw):
        opened.extend(docs)
        return await open_(docs, **kw)

    def counted_decode(raw):
        decoded.append(raw)
        return decode(raw)

    monkeypatch.setattr(sealer, "open", counted_open)
    monkeypatch.setattr(events.CATALOGUE, "decode", counted_decode)
    return opened, decoded
