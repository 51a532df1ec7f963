"""Store operations per command (issue 16): a projection records its positions with one
update per batch whatever the partitions, and a vault asked for the key of a person it already
holds reads it without first trying (and failing) to insert one.

Fakes only: MemoryDatabase counts what reaches it. The real store is exercised by
tests/integration/test_crash_safety.py (positions after documents, killed at random) and
test_read_your_writes.py (reads waiting on the stored positions)."""

from __future__ import annotations

import asyncio
import re

from aiokafka.structs import ConsumerRecord, TopicPartition

from services.selection.projections import cadres
from shared import consistency
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreUpdated
from shared.eventstore import COLLECTION as COMMITS
from shared.eventstore import EventStore
from shared.memory import MemoryDatabase
from shared.personal import INSERT_FIRST_ABOVE, Gone, Sealer, Vault
from shared.projector import (
    POSITIONS,
    POSITIONS_AFTER,
    Follower,
    ProjectionWriter,
    Projector,
    stored_position,
    stored_positions,
)
from shared.topics import events_topic
from tests.unit.test_personal_data import COUNTY, DEPT, registered

TOPIC = events_topic("selection", COUNTY)


def run(coro):
    return asyncio.run(coro)


class Counted:
    """Wraps a memory collection and lists the operations it is asked for, in order."""

    WRITES = ("insert_one", "insert_many", "update_one", "replace_one", "bulk_write", "delete_many")
    READS = ("find_one",)

    def __init__(self, coll, log: list[str], name: str) -> None:
        self._coll, self._log, self._name = coll, log, name

    def __getattr__(self, attr):
        inner = getattr(self._coll, attr)
        if attr in self.WRITES or attr in self.READS:

            async def counted(*args, **kwargs):
                ops = args[0] if attr == "bulk_write" else [None]
                self._log.extend(f"{self._name}.{attr}" for _ in ops)
                return await inner(*args, **kwargs)

            return counted
        if attr == "find":

            def counted_find(*args, **kwargs):
                self._log.append(f"{self._name}.find")
                return inner(*args, **kwargs)

            return counted_find
        return inner


def _record(topic: str, partition: int, offset: int, cadre: str) -> ConsumerRecord:
    env = registered(cadre)
    return ConsumerRecord(
        topic, partition, offset, 0, 0, env.stream_id.encode(), env.to_json(), None, 0, 0, []
    )


def _writer(db: MemoryDatabase, log: list[str]) -> ProjectionWriter:
    writer = ProjectionWriter(cadres, db, dead_letters=None)
    writer.coll = Counted(writer.coll, log, "docs")
    writer.positions = Counted(writer.positions, log, "positions")
    return writer


def test_a_batch_over_four_partitions_records_its_positions_in_one_write_after_the_documents():
    db, log = MemoryDatabase(), []
    writer = _writer(db, log)
    batch = [_record(TOPIC, p, 10 + p, f"cd-{p}") for p in range(4)]
    run(writer.handle(batch))
    writes = [op for op in log if op.startswith("positions.") and "find" not in op]
    assert writes == ["positions.update_one"]  # one operation, not one per partition
    assert max(i for i, op in enumerate(log) if op.startswith("docs.")) < log.index("positions.update_one")
    assert run(writer.load_positions()) == {(TOPIC, 0): 11, (TOPIC, 1): 12, (TOPIC, 2): 13, (TOPIC, 3): 14}
    assert run(db[POSITIONS].count_documents({})) == 1


def test_two_processes_of_one_group_keep_each_others_partitions():
    db = MemoryDatabase()
    a, b = ProjectionWriter(cadres, db, None), ProjectionWriter(cadres, db, None)
    run(a.handle([_record(TOPIC, 0, 4, "cd-1")]))
    run(b.handle([_record(TOPIC, 1, 9, "cd-2")]))
    run(a.handle([_record(TOPIC, 0, 5, "cd-3")]))
    assert run(b.load_positions()) == {(TOPIC, 0): 6, (TOPIC, 1): 10}


def test_positions_stored_one_document_per_partition_before_are_read_and_the_new_one_wins():
    db = MemoryDatabase()
    for partition, offset in ((0, 40), (1, 7)):
        old = {"projection": "cadres", "topic": TOPIC, "partition": partition, "offset": offset}
        run(db[POSITIONS].insert_one({"_id": f"cadres|{TOPIC}|{partition}", **old}))
    writer = ProjectionWriter(cadres, db, None)
    assert run(writer.load_positions()) == {(TOPIC, 0): 40, (TOPIC, 1): 7}  # an upgrade replays nothing
    run(writer.handle([_record(TOPIC, 0, 40, "cd-1")]))
    assert run(writer.load_positions()) == {(TOPIC, 0): 41, (TOPIC, 1): 7}
    assert run(stored_position(db[POSITIONS], "cadres", TOPIC, 0)) == 41
    assert run(stored_position(db[POSITIONS], "cadres", TOPIC, 1)) == 7
    assert run(stored_position(db[POSITIONS], "cadres", TOPIC, 2)) is None


def test_a_read_waiting_for_its_write_sees_the_position_in_the_single_document():
    db = MemoryDatabase()
    env = registered("cd-1")
    doc = {"_id": "k1", "stream_id": env.stream_id, "version": 1, "last_version": 1, "events": [env.to_doc()]}
    run(db[COMMITS].insert_one(doc))

    async def partition_of(topic, stream_id):
        return 2

    async def end_offset(topic, partition):
        return 41

    check = consistency.StoreCheck(db, {"cadres": {"CadreRegistered"}}, partition_of, end_offset)
    written = consistency.Written("selection", COUNTY, env.stream_id, 1)
    writer = ProjectionWriter(cadres, db, None)
    run(writer.save_positions({(TOPIC, 2): 40}))
    assert not run(check.probe()("cadres", written))
    run(writer.save_positions({(TOPIC, 2): 41}))
    assert run(check.probe()("cadres", written))


def _vault(log: list[str], ttl: float = 0.0) -> Vault:
    vault = Vault(MemoryDatabase(), ttl=ttl)  # ttl 0: every call finds the cache expired
    vault.coll = Counted(vault.coll, log, "vault")
    return vault


def test_a_known_persons_key_is_read_without_a_refused_insert():
    log: list[str] = []
    vault = _vault(log)
    first = run(vault.keys(["cd-1"], create=True))["cd-1"]
    log.clear()
    again = run(vault.keys(["cd-1", "cd-2"], create=True))
    assert again["cd-1"] == first and len(again["cd-2"]) == 32
    # one read each, one insert for the new person only (the known one is not in it)
    assert log == ["vault.find_one", "vault.find_one", "vault.insert_many"]
    assert run(vault.coll.count_documents({})) == 2


def test_a_creator_that_loses_the_race_after_its_read_takes_the_winners_key():
    log: list[str] = []
    vault = _vault(log)
    find_one = vault.coll._coll.find_one

    async def read_then_rival_inserts(*args, **kwargs):
        doc = await find_one(*args, **kwargs)
        if doc is None:
            await vault.coll._coll.insert_one({"_id": "cd-1", "key": b"w" * 32})
        return doc

    vault.coll._coll.find_one = read_then_rival_inserts
    assert run(vault.keys(["cd-1"], create=True)) == {"cd-1": b"w" * 32}
    assert log == ["vault.find_one", "vault.insert_many", "vault.find_one"]


def test_an_erased_person_gets_no_key_again_when_read_first():
    log: list[str] = []
    vault = _vault(log)
    run(vault.keys(["cd-1"], create=True))
    run(vault.erase("cd-1"))
    log.clear()
    assert run(vault.keys(["cd-1"], create=True)) == {"cd-1": Gone}
    assert log == ["vault.find_one"]


def test_an_import_of_many_new_people_inserts_first_and_reads_nothing():
    log: list[str] = []
    vault = _vault(log)
    people = [f"cd-{i}" for i in range(INSERT_FIRST_ABOVE + 1)]
    keys = run(vault.keys(people, create=True))
    assert set(keys) == set(people)
    assert log == ["vault.insert_many"]


def test_a_registration_inserts_the_new_persons_key_without_reading_first():
    log: list[str] = []
    vault = _vault(log)
    sealer = Sealer(vault)
    run(sealer.seal([registered("cd-9")]))  # version 1 of the person's own stream
    assert log == ["vault.insert_many"]
    log.clear()
    renamed = CadreUpdated(cadre_id="cd-9", changes={"name": "李四"})
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    again = CommandHandler.envelopes("cadre-cd-9", 1, [renamed], ctx)
    run(sealer.seal(again))  # a later event about them: their key is read, not inserted again
    assert log == ["vault.find_one"]


def test_a_key_read_once_is_not_read_again_for_ten_minutes_but_an_absence_is(monkeypatch):
    """A county's clerks touch the same cadres all day: a key read (or made) by this process
    stays in memory for KEY_TTL, not 30 s; a person this vault does not hold is looked for
    again after 30 s, as their key may have been made here since."""
    clock = [1_000.0]
    monkeypatch.setattr("shared.personal.time.monotonic", lambda: clock[0])
    log: list[str] = []
    vault = Vault(MemoryDatabase())
    vault.coll = Counted(vault.coll, log, "vault")
    key = run(vault.keys(["cd-1"], create=True))["cd-1"]
    assert run(vault.keys(["cd-2"])) == {}  # sealed by another deployment
    log.clear()
    clock[0] += 300.0  # five minutes later
    assert run(vault.keys(["cd-1", "cd-2"])) == {"cd-1": key}
    assert log == ["vault.find_one"]  # cd-2 only: cd-1's key is still in memory
    clock[0] += 301.0  # past the ten minutes
    log.clear()
    assert run(vault.keys(["cd-1"])) == {"cd-1": key}
    assert log == ["vault.find_one"]


def test_lookups_of_one_person_at_the_same_time_read_the_store_once():
    log: list[str] = []
    vault = _vault(log, ttl=30.0)
    run(vault.keys(["cd-1"], create=True))
    vault._cache.clear()  # known to the store, not yet to this process
    log.clear()
    find_one = vault.coll._coll.find_one

    async def slow_find_one(*args, **kwargs):
        await asyncio.sleep(0.01)  # the store's round trip: the other lookup starts meanwhile
        return await find_one(*args, **kwargs)

    vault.coll._coll.find_one = slow_find_one

    async def both():
        return await asyncio.gather(vault.keys(["cd-1"]), vault.keys(["cd-1", "cd-2"]))

    a, b = run(both())
    assert a["cd-1"] == b["cd-1"] and "cd-2" not in b
    assert sorted(log) == ["vault.find_one", "vault.find_one"]  # cd-1 once, cd-2 once


def test_the_relay_does_not_read_back_a_commit_its_process_is_still_appending():
    log: list[str] = []
    db = MemoryDatabase()
    events = EventStore(db)
    events.keep_landed = True  # the relay runs in this process
    events.commits = Counted(events.commits, log, "commits")
    landing = asyncio.Event()
    insert_one = events.commits._coll.insert_one

    async def held_insert(*args, **kwargs):
        await landing.wait()
        return await insert_one(*args, **kwargs)

    events.commits._coll.insert_one = held_insert

    async def scenario():
        env = registered("cd-1")
        appending = asyncio.create_task(events.append(env.stream_id, 0, [env]))
        while not await db["outbox"].count_documents({}):
            await asyncio.sleep(0)
        in_flight = await events.unpublished(10)  # the pointer is there, its commit not yet
        landing.set()
        await appending
        return in_flight, await events.unpublished(10)

    in_flight, after = run(scenario())
    assert in_flight == [] and [c["stream_id"] for c in after] == ["cadre-cd-1"]
    assert "commits.find" not in log and "commits.find_one" not in log  # neither time read back


class _Batches:
    """A consumer handing out one batch per fetch, then nothing; on the fetch after the first
    empty one it notes the stored positions and stops the projector."""

    def __init__(self, batches: list[list[ConsumerRecord]], db: MemoryDatabase, stop: asyncio.Event) -> None:
        self.batches, self.db, self.done = list(batches), db, stop
        self.idle_fetches = 0
        self.stored_while_idle: dict | None = None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, pattern, listener) -> None: ...

    async def commit(self, offsets) -> None: ...

    def highwater(self, tp) -> int | None:
        return None  # not said: each fetch folds as it came (a burst on the broker is topped up)

    async def getmany(self, timeout_ms, max_records):
        if self.batches:
            rec = self.batches.pop(0)
            return {TopicPartition(rec[0].topic, rec[0].partition): rec}
        self.idle_fetches += 1
        if self.idle_fetches == 2:
            self.stored_while_idle = await stored_positions(self.db[POSITIONS], cadres.name)
            self.done.set()
        return {}


def _fold_five_batches(positions_after: float) -> tuple[list[str], dict | None]:
    db, log = MemoryDatabase(), []
    writer = _writer(db, log)
    writer.positions_after = positions_after
    stop = asyncio.Event()
    consumer = _Batches([[_record(TOPIC, 0, o, f"cd-{o}")] for o in range(5)], db, stop)
    projector = Projector([Follower(writer, re.compile(".*"))], lambda: consumer, linger=0)
    run(projector.run(stop))
    return [op for op in log if op == "positions.update_one"], consumer.stored_while_idle


def test_a_process_answering_its_own_reads_writes_positions_once_a_second_and_when_idle():
    """Where the API runs beside the projectors (Runtime.start), a read waiting for its write
    learns it from the writers, not the stored positions: five batches in a row write the
    positions twice (the first batch, then once nothing more comes), not five times; what was
    folded is recorded before the next fetch, so a restart folds nothing again."""
    writes, stored = _fold_five_batches(POSITIONS_AFTER)
    assert writes == ["positions.update_one"] * 2
    assert stored == {(TOPIC, 0): 5}
    writes, stored = _fold_five_batches(0.0)  # another process's reads wait on them: each batch
    assert writes == ["positions.update_one"] * 5
    assert stored == {(TOPIC, 0): 5}
