"""Read-your-writes in the kernel (shared/consistency.py), with fakes: the token a command
answers with, the bounded wait a read makes for it, and who wakes the wait."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.structs import ConsumerRecord

from shared import consistency
from shared.commands import CommandHandler, Context
from shared.contracts.selection import TraineeNominated
from shared.errors import DomainError
from shared.events import Actor
from shared.eventstore import COLLECTION as COMMITS
from shared.eventstore import OUTBOX
from shared.memory import MemoryDatabase
from shared.projection import Projection
from shared.projector import POSITIONS, ProjectionWriter

CTX = Context(
    actor=Actor(user_id="u-1", name="李干事", role="org_department"),
    jurisdiction="371428",
    correlation_id="c-1",
)
TOPIC = "ganxun.selection.371428"


def run(coro):
    return asyncio.run(coro)


def nominated(version: int, stream: str = "class-c1", cadre: str = "cd-1"):
    event = TraineeNominated(class_id="c1", cadre_id=cadre, name="李四", unit="县委办")
    return CommandHandler.envelopes(stream, version - 1, [event], CTX)[0]


def written(stream: str = "class-c1", version: int = 1) -> consistency.Written:
    return consistency.Written("selection", "371428", stream, version)


def test_a_command_token_names_topic_stream_and_last_version_and_goes_to_the_header():
    envs = [nominated(3), nominated(4)]
    found = consistency.collect()
    token = consistency.token_of("selection", envs)
    assert token == "selection.371428:class-c1@4"
    assert found == [token]  # the middleware sends these in X-Ganxun-Token
    assert consistency.token_of("selection", []) is None
    assert consistency.parse(f" {token} ,teaching.371428:sess-1@2") == [
        written("class-c1", 4),
        consistency.Written("teaching", "371428", "sess-1", 2),
    ]


def test_a_token_of_a_stream_with_any_characters_fits_a_header_and_reads_back():
    """A client-chosen id may hold Chinese, control characters, `,` or `@`: the header
    (latin-1, tokens separated by commas) carries it percent-encoded."""
    w = consistency.Written("followup", "371428", "plan-371428-班次,1@\x85 x", 2)
    token = str(w)
    token.encode("ascii")
    assert consistency.parse(f"{token},{token}") == [w, w]


@pytest.mark.parametrize(
    "header",
    ["selection.371428:class-c1", "nonsense.371428:x@1", "selection.12:x@1", "selection.371428:x@0"],
)
def test_a_malformed_token_is_refused_in_chinese_naming_the_header(header):
    with pytest.raises(DomainError) as refused:
        consistency.parse(header)
    assert refused.value.field == "X-Ganxun-After" and "不是有效的一致性令牌" in refused.value.message
    assert refused.value.status == 422


def test_too_many_tokens_are_refused():
    with pytest.raises(DomainError, match="最多可带 20 个"):
        consistency.parse(",".join(f"selection.371428:s{i}@1" for i in range(21)))


def test_a_version_already_folded_answers_at_once():
    progress = consistency.Progress()
    progress.note("roster", [("class-c1", 5)])
    began = time.monotonic()
    assert run(consistency.wait([("roster", written(version=5))], progress, 3.0))
    assert time.monotonic() - began < 0.05
    assert progress.reached("roster", "class-c1", 4) and not progress.reached("roster", "class-c1", 6)
    assert not progress.reached("scope", "class-c1", 1)  # another projection's progress is its own


def test_a_waiting_read_wakes_when_the_writer_reports_not_at_its_bound():
    progress = consistency.Progress()

    async def scenario():
        waiting = asyncio.create_task(consistency.wait([("roster", written(version=2))], progress, 3.0))
        await asyncio.sleep(0.05)
        progress.note("roster", [("class-c1", 1)])  # not yet far enough
        await asyncio.sleep(0.05)
        assert not waiting.done()
        began = time.monotonic()
        progress.note("roster", [("other", 9), ("class-c1", 2)])
        assert await waiting
        return time.monotonic() - began

    assert run(scenario()) < 0.05


def test_a_token_never_folded_answers_false_at_its_bound():
    progress = consistency.Progress()
    began = time.monotonic()
    assert not run(consistency.wait([("roster", written("never-written", 1))], progress, 0.3))
    assert 0.3 <= time.monotonic() - began < 0.6


def test_every_projection_named_must_reach_it():
    progress = consistency.Progress()
    progress.note("roster", [("class-c1", 1)])
    needs = [("roster", written()), ("queue", written())]
    assert not run(consistency.wait(needs, progress, 0.1))
    progress.note("queue", [("class-c1", 1)])
    assert run(consistency.wait(needs, progress, 0.1))


def test_the_store_answers_for_what_another_process_folded():
    """No writer here reports the stream (another process owns its partition): the wait asks
    the store, from store_after on."""
    progress = consistency.Progress()
    asked: list[float] = []

    async def in_store(projection, w):
        asked.append(time.monotonic())
        return len(asked) >= 3

    began = time.monotonic()
    assert run(consistency.wait([("roster", written())], progress, 3.0, in_store, store_after=0.2))
    assert asked[0] - began >= 0.2 and len(asked) == 3
    assert time.monotonic() - began < 0.2 + 3 * consistency.STORE_EVERY + 0.2


def test_a_wait_asks_the_store_only_as_often_as_it_is_told():
    """Where this process's projector holds the stream's partition, its writers report the
    version: the store is asked later and less often (shared/runtime.py, HELD_STORE_EVERY)."""
    progress = consistency.Progress()
    asked: list[float] = []

    async def in_store(projection, w):
        asked.append(time.monotonic())
        return False

    assert not run(
        consistency.wait([("roster", written())], progress, 1.0, in_store, store_after=0.2, store_every=0.3)
    )
    assert len(asked) == 3  # at 0.2, 0.5 and 0.8 s (every 0.1 s: eight times)
    assert all(b - a >= 0.3 for a, b in zip(asked, asked[1:]))


def test_a_projector_holds_only_the_partitions_its_consumer_is_assigned():
    from aiokafka import TopicPartition

    from shared.projector import Projector

    class Consumer:
        def assignment(self):
            return {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 2)}

    projector = Projector([], Consumer)
    assert not projector.holds(TOPIC, 0)  # not running: nothing held
    projector.consumer = Consumer()
    assert projector.holds(TOPIC, 0) and projector.holds(TOPIC, 2)
    assert not projector.holds(TOPIC, 1) and not projector.holds("ganxun.teaching.371428", 0)


def _store_with_commit() -> MemoryDatabase:
    db = MemoryDatabase()
    events = [nominated(1).to_doc()]
    run(
        db[COMMITS].insert_one(
            {"_id": "k1", "stream_id": "class-c1", "version": 1, "last_version": 1, "events": events}
        )
    )
    run(db[OUTBOX].insert_one({"_id": "k1", "stream_id": "class-c1", "version": 1}))
    return db


HANDLES = {"roster": {"TraineeNominated"}, "catalogue": {"CourseAdded"}}


def test_the_store_check_needs_the_commit_published_and_the_position_past_it():
    db = _store_with_commit()
    asked_kafka = []

    async def partition_of(topic, stream_id):
        assert (topic, stream_id) == (TOPIC, "class-c1")
        return 2

    async def end_offset(topic, partition):
        asked_kafka.append((topic, partition))
        return 41  # the event is at offset 40 or before

    check = consistency.StoreCheck(db, HANDLES, partition_of, end_offset)
    probe = check.probe()
    assert not run(probe("roster", written()))  # still in the outbox: not even on Kafka
    assert asked_kafka == []
    run(db[OUTBOX].delete_one({"_id": "k1"}))
    position = {"_id": f"roster|{TOPIC}|2", "projection": "roster", "offset": 40}
    run(db[POSITIONS].insert_one(position))
    assert not run(probe("roster", written()))
    run(db[POSITIONS].update_one({"_id": f"roster|{TOPIC}|2"}, {"$set": {"offset": 41}}))
    assert run(probe("roster", written()))
    assert asked_kafka == [(TOPIC, 2)]  # once per read, not per look


def test_the_store_check_passes_a_projection_with_nothing_to_fold_and_never_an_unwritten_stream():
    check = consistency.StoreCheck(_store_with_commit(), HANDLES, None, None)
    probe = check.probe()
    assert run(probe("catalogue", written()))  # it has no handler for TraineeNominated
    assert not run(probe("catalogue", written("never-written", 1)))
    assert not run(probe("catalogue", written("class-c1", 2)))  # a version not written yet


def test_the_store_check_failing_is_a_no_not_an_error():
    async def partition_of(topic, stream_id):
        raise ConnectionError("Kafka away")

    check = consistency.StoreCheck(_store_with_commit(), HANDLES, partition_of, None)
    run(check.outbox.delete_one({"_id": "k1"}))
    assert not run(check.probe()("roster", written()))


def _record(env, offset: int) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, env.stream_id.encode(), env.to_json(), None, 0, 0, [])


def test_the_projection_writer_reports_each_stream_version_of_its_batch_after_writing():
    db = MemoryDatabase()
    projection = Projection("nominees", sources=("selection",))

    @projection.on(TraineeNominated, key=lambda env, e: e.cadre_id)
    def _nominee(doc, env, e):
        doc["name"] = e.name

    writer = ProjectionWriter(projection, db, dead_letters=None)
    reports: list[list[tuple[str, int]]] = []
    written_then: list[bool] = []

    def report(streams):
        reports.append(streams)
        written_then.append(run_sync_find(db, "cd-2"))

    writer.progress.append(report)
    batch = [_record(nominated(1), 0), _record(nominated(2, cadre="cd-2"), 1), _record(nominated(1, "c2"), 2)]
    run(writer.handle(batch))
    assert reports == [[("class-c1", 1), ("class-c1", 2), ("c2", 1)]]
    assert written_then == [True]  # reported once the documents were written, not before


def run_sync_find(db: MemoryDatabase, doc_id: str) -> bool:
    return doc_id in db["nominees"].docs


def test_a_process_remembers_the_latest_streams_of_each_projection_within_a_bound():
    """Each projection notes every stream of every batch it reads: a process folding a
    county's five years (tens of thousands of streams, eleven projections in teaching) held
    50,000 a projection. The latest streams are remembered; older ones are the store's to
    answer (its check, `wait`'s `in_store`)."""
    progress = consistency.Progress()
    streams = [f"teaching-attendance-371428-{n:05d}" for n in range(30_000)]
    for at in range(0, len(streams), 1000):  # batches of 1,000 events
        for projection in ("session_sheet", "class_attendance", "trainee_hours"):
            progress.note(projection, [(s, 2) for s in streams[at : at + 1000]])
    assert progress.reached("trainee_hours", streams[-1], 2)
    assert progress.reached("session_sheet", streams[-10_000], 2)
    assert not progress.reached("session_sheet", streams[0], 2)
    assert not progress.reached("class_attendance", streams[-10_001], 1)
