"""What a process's projection writers keep of the documents they wrote (issue 16: memory per
service under 200 MB at five years of history): at most the bytes of their shared budget,
the least recently written forgotten first, from the writer holding the most; a forgotten
document is read back from the store when its next event comes, and folds as before."""

from __future__ import annotations

import json
from datetime import date

import bson
from aiokafka.structs import ConsumerRecord

from services.selection.projections import cadres, classes
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreUpdated, ClassOpened, NominationWithdrawn, TraineeNominated
from shared.events import Envelope
from shared.memory import MemoryDatabase
from shared.outbox import headers_of
from shared.projector import CacheBudget, DocumentCache, ProjectionWriter
from shared.topics import events_topic
from tests.unit.test_personal_data import COUNTY, DEPT, registered, run

TOPIC = events_topic("selection", COUNTY)


def records(envelopes: list[Envelope], first_offset: int = 0) -> list[ConsumerRecord]:
    """The envelopes as the relay puts them on Kafka (unsealed: the writers here open nothing)."""
    out = []
    for i, env in enumerate(envelopes):
        doc = env.model_dump(mode="json")
        value = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        out.append(
            ConsumerRecord(
                TOPIC, 0, first_offset + i, 0, 0, env.stream_id.encode(), value, None, 0, 0, headers_of(doc)
            )
        )
    return out


def updated(cadre_id: str, version: int, unit: str) -> Envelope:
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    ev = CadreUpdated(cadre_id=cadre_id, changes={"unit": unit})
    return CommandHandler.envelopes(f"cadre-{cadre_id}", version, [ev], ctx)[0]


def class_stream(class_id: str, nominees: int, withdrawn: int = 0) -> list[Envelope]:
    """A class opened, `nominees` nominated, the first `withdrawn` of them withdrawn and nominated again."""
    ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
    events = [
        ClassOpened(
            class_id=class_id,
            title="科级干部轮训班",
            capacity=50,
            starts_on=date(2026, 9, 1),
            ends_on=date(2026, 9, 5),
            organiser="县委组织部",
        )
    ]
    nominated = [
        TraineeNominated(
            class_id=class_id,
            cadre_id=f"cd-{i}",
            name=f"学员{i}",
            unit="县委办公室",
            home_jurisdiction=COUNTY,
        )
        for i in range(nominees)
    ]
    events += nominated
    events += [NominationWithdrawn(class_id=class_id, cadre_id=f"cd-{i}") for i in range(withdrawn)]
    events += nominated[:withdrawn]
    return CommandHandler.envelopes(f"class-{class_id}", 0, events, ctx)


def counting_reads(db: MemoryDatabase, collection: str) -> list[str]:
    """The ids the collection is asked for one by one (the writer's loads on FerretDB)."""
    asked: list[str] = []
    coll = db[collection]
    find_one = coll.find_one

    async def counted(flt=None, projection=None):
        asked.append(flt["_id"])
        return await find_one(flt, projection)

    coll.find_one = counted
    return asked


def test_the_writers_of_a_process_keep_no_more_than_their_budget_and_fold_a_forgotten_document_again():
    db = MemoryDatabase()
    one = run(_stored_size_of(db, "cd-0"))
    budget = CacheBudget(max_bytes=10 * one)
    writer = ProjectionWriter(cadres, db, dead_letters=None, budget=budget)
    for start in range(0, 40, 10):  # four batches of ten registrations: four times the budget
        run(writer.handle(records([registered(f"cd-{i}") for i in range(start, start + 10)], start)))

    assert budget.used <= budget.max_bytes
    kept = [f"cd-{i}" for i in range(40) if f"cd-{i}" in writer._cache]
    assert 8 <= len(kept) <= 10 and all(int(i[3:]) >= 30 for i in kept)  # the last batch's
    assert budget.used == sum(len(bson.encode(run(db["cadres"].find_one({"_id": i})))) for i in kept)

    asked = counting_reads(db, "cadres")
    run(writer.handle(records([updated("cd-0", 1, "县委办"), updated(kept[0], 1, "县政府办")], 40)))
    assert asked == ["cd-0"]  # the forgotten one read back; the cached one not
    stored = {i: run(db["cadres"].find_one({"_id": i})) for i in ("cd-0", kept[0])}
    assert stored["cd-0"]["unit"] == "县委办" and stored["cd-0"]["name"] == stored[kept[0]]["name"]
    assert stored[kept[0]]["unit"] == "县政府办" and stored["cd-0"]["_rev"] == 2


def test_the_writer_holding_the_most_gives_back_first_so_a_hot_class_stays_cached():
    db = MemoryDatabase()
    one = run(_stored_size_of(db, "cd-0"))
    budget = CacheBudget(max_bytes=12 * one)
    registry = ProjectionWriter(cadres, db, dead_letters=None, budget=budget)
    class_list = ProjectionWriter(classes, db, dead_letters=None, budget=budget)
    run(class_list.handle(records(class_stream("k1", 0))))
    for start in range(0, 60, 10):  # a stream of people each written once, after the class
        run(registry.handle(records([registered(f"cd-{i}") for i in range(start, start + 10)], start + 1)))

    assert "k1" in class_list._cache  # older than every registration, but its writer held less
    assert budget.used <= budget.max_bytes
    assert registry._cache.bytes + class_list._cache.bytes == budget.used


def test_a_rebuilt_projection_reads_no_miss_until_its_cache_forgets_one():
    cache = DocumentCache(CacheBudget(max_bytes=3 * len(bson.encode({"_id": "a", "n": 1}))))
    cache.complete = True  # as after reset(): the cache is the whole collection
    for i in "abc":
        cache.put(i, {"_id": i, "n": 1})
    assert cache.complete and len(cache) == 3
    cache.put("d", {"_id": "d", "n": 1})
    assert not cache.complete  # "a" forgotten: a miss may now be a stored document
    assert cache.get_many(["a", "b", "c", "d"]) == {i: {"_id": i, "n": 1} for i in "bcd"}


def test_the_count_limit_still_holds_within_the_budget():
    db = MemoryDatabase()
    writer = ProjectionWriter(cadres, db, dead_letters=None, cache_size=5, budget=CacheBudget())
    run(writer.handle(records([registered(f"cd-{i}") for i in range(12)])))
    run(writer.handle(records([registered("cd-12")], 12)))
    assert len(writer._cache) == 5 and "cd-12" in writer._cache


async def _stored_size_of(db: MemoryDatabase, cadre_id: str) -> int:
    """The stored size of a registry document as these tests write it (folded in a scratch
    database, so the budget can be given in documents)."""
    scratch = MemoryDatabase()
    await ProjectionWriter(cadres, scratch, dead_letters=None).handle(records([registered(cadre_id)]))
    return len(bson.encode(await scratch["cadres"].find_one({"_id": cadre_id})))


def test_a_partial_update_is_not_encoded_only_to_measure_it(monkeypatch):
    import shared.projector as projector
    from shared.projection import Projection

    names = Projection("names", sources=("selection",))

    @names.on(TraineeNominated, key=lambda env, ev: ev.class_id, touches=lambda env, ev: [f"n.{ev.cadre_id}"])
    def _(doc, env, ev) -> None:
        doc.setdefault("n", {})[ev.cadre_id] = ev.name

    db = MemoryDatabase()
    writer = ProjectionWriter(names, db, dead_letters=None)
    stream = records(class_stream("k1", 2))
    measured: list[dict] = []
    size_of = projector._stored_size
    monkeypatch.setattr(projector, "_stored_size", lambda doc: measured.append(doc) or size_of(doc))
    run(writer.handle(stream[:2]))  # the document's first write: an insert, measured
    assert len(measured) == 1
    first = writer._cache.bytes
    run(writer.handle(stream[2:], shared=None))  # a partial update ($set n.cd-1)
    assert len(measured) == 1 and writer._cache.bytes == first  # its size as it was, estimated
    assert run(db["names"].find_one({"_id": "k1"}))["n"] == {"cd-0": "学员0", "cd-1": "学员1"}
