"""What a process seals, its relay sends and its own projectors fold is taken plain from memory
(shared/personal.Sealer.recall, issue 16: a 20,000-row import end to end): the registry shows
the same entries as when each record is opened and decoded again, without a decryption; a person
erased meanwhile still reads 已删除, and what the memory cannot hold is opened from its record.

Fakes only (MemoryDatabase for the store and the vault, a producer that keeps what it is given);
the real servers run the same path in tests/integration/test_selection_import_history.py and
bench/scale.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord

from services.selection.projections import cadres, classes
from shared import personal
from shared.eventstore import EventStore
from shared.memory import MemoryDatabase
from shared.outbox import OutboxRelay
from shared.personal import ERASED, Sealer, Vault
from shared.projection import WRITE
from shared.projector import Decodings, ProjectionWriter
from tests.unit.test_personal_data import COUNTY, idn, registered
from tests.unit.test_projector_followers import FakeWriter
from tests.unit.test_projector_still import run_projector

TOPIC = f"ganxun.selection.{COUNTY}"
PEOPLE = [(f"cd-{i}", f"王{i}明") for i in range(5)]


class Producer:
    """Keeps each record as the broker would hand it back."""

    def __init__(self) -> None:
        self.records: list[ConsumerRecord] = []

    async def send(self, topic, value, key, headers):
        offset = len(self.records)
        self.records.append(ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, 0, 0, headers))
        return asyncio.sleep(0)


def _opened(monkeypatch) -> list[int]:
    """Counts the sealed values opened (one decryption each)."""
    count = [0]
    real = personal.open_value

    def counted(key, token):
        count[0] += 1
        return real(key, token)

    monkeypatch.setattr(personal, "open_value", counted)
    return count


async def _imported(vault_db: MemoryDatabase) -> tuple[Sealer, list[ConsumerRecord]]:
    """An import of PEOPLE appended and relayed by one process whose projectors run beside its
    relay (Runtime.start: `recalls`, `on_sent`); the records as its projectors then fetch them."""
    sealer = Sealer(Vault(vault_db))
    sealer.recalls = True
    store = EventStore(MemoryDatabase(), sealer=sealer)
    store.keep_landed = True
    producer = Producer()
    relay = OutboxRelay(store, producer, lambda event: TOPIC, poll_interval=60.0)
    relay.on_sent = getattr(sealer, "sent", None)  # (main has none: the test fails on what it checks)
    envs = [registered(cid, name) for cid, name in PEOPLE]
    assert not await store.append_many([(e.stream_id, 0, [e]) for e in envs])
    while (await relay._round(read=False))[0]:
        pass
    assert len(producer.records) == len(PEOPLE)
    return sealer, producer.records


async def _folded(sealer: Sealer, records: list[ConsumerRecord]) -> dict[str, dict]:
    """The registry and the class list folded by the process's writers, as its projector runs
    them (at once, one Decodings for the batch); the registry's documents as stored."""
    db = MemoryDatabase()
    registry = ProjectionWriter(cadres, db, dead_letters=None, sealer=sealer)
    class_list = ProjectionWriter(classes, db, dead_letters=None, sealer=sealer)
    shared = Decodings(sealer, registry.catalogue)
    await asyncio.gather(class_list.handle(records, shared=shared), registry.handle(records, shared=shared))
    docs = {d["_id"]: d async for d in db["cadres"].find({})}
    for doc in docs.values():
        del doc["_applied"][WRITE]  # each write's own token
    return docs


def _elsewhere(vault_db: MemoryDatabase) -> Sealer:
    """A process that did not seal the records (an API-only process, a restart): it opens each
    from its record with the keys of the same vault."""
    return Sealer(Vault(vault_db))


def test_a_process_folds_what_it_sealed_and_sent_without_opening_it_again_and_stores_the_same(monkeypatch):
    async def main():
        vault_db = MemoryDatabase()
        sealer, records = await _imported(vault_db)
        opened = _opened(monkeypatch)
        mine = await _folded(sealer, records)
        assert opened[0] == 0  # nothing decrypted: all five taken from memory
        theirs = await _folded(_elsewhere(vault_db), records)
        assert opened[0] == 3 * len(PEOPLE)  # name, birth date, number each
        assert mine == theirs  # the same entries, the same plain values noted for an erasure
        for cid, name in PEOPLE:
            assert (mine[cid]["name"], mine[cid]["id_number"], mine[cid]["birth_date"]) == (
                name,
                idn(1),
                "1988-06-12",
            )

    asyncio.run(main())


def test_a_person_erased_after_the_send_reads_erased_and_the_others_come_from_memory(monkeypatch):
    async def main():
        sealer, records = await _imported(MemoryDatabase())
        gone = PEOPLE[2][0]
        await sealer.vault.erase(gone)  # the vault forgets the key: the record is opened, as erased
        opened = _opened(monkeypatch)
        docs = await _folded(sealer, records)
        assert opened[0] == 0  # the erased person's values cannot be opened; the rest came plain
        assert (docs[gone]["name"], docs[gone]["id_number"], docs[gone]["birth_date"]) == (
            ERASED,
            ERASED,
            None,
        )
        assert [docs[cid]["name"] for cid, _ in PEOPLE if cid != gone] == [n for c, n in PEOPLE if c != gone]

    asyncio.run(main())


def test_what_the_memory_cannot_hold_is_opened_from_its_record(monkeypatch):
    monkeypatch.setattr(personal, "RECALL_MAX", 2, raising=False)

    async def main():
        sealer, records = await _imported(MemoryDatabase())
        opened = _opened(monkeypatch)
        docs = await _folded(sealer, records)
        assert opened[0] == 3 * (len(PEOPLE) - 2)  # the first two kept, the other three opened
        assert [docs[cid]["name"] for cid, _ in PEOPLE] == [name for _, name in PEOPLE]
        assert not getattr(sealer, "_recent", None)  # what was kept is given back once folded

    asyncio.run(main())


@dataclass
class SealingWriter(FakeWriter):
    """A writer of another projection of the process, with its sealer."""

    sealer: Sealer | None = None


def test_what_no_projector_here_folds_is_given_back_while_the_projector_finds_nothing(monkeypatch):
    """A process's relay sends to a topic its projectors do not follow (or they are stopped): what
    was kept for them is never recalled. Once older than RECALL_AGE it is given back at the
    projector's next idle look, not kept until the next appends."""
    sealer, _ = asyncio.run(_imported(MemoryDatabase()))
    assert len(sealer._recent) == len(PEOPLE)  # kept, by the digest of what was sent
    monkeypatch.setattr(personal, "RECALL_AGE", 0.2)
    run_projector([SealingWriter("other", sealer=sealer)], [], still_after=5.0, seconds=0.5)
    assert not sealer._recent, "kept past RECALL_AGE while the projector found nothing"
