"""One consumer for all of a process's projections (shared/projector.Projector): each projection
gets the records of its own topics that it has not applied yet, and a (re)assignment starts each
partition where the projection furthest behind left it.

The writers and the consumer are fakes (they record what they are given); the real consumer and
store are exercised by the integration tests that run a service (tests/integration/test_api_processes.py,
test_read_your_writes.py, test_dead_letters.py)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.projector import Follower, Projector, _SeekToStored

SELECTION = "ganxun.selection.371428"
TEACHING = "ganxun.teaching.371428"


@dataclass
class FakeProjection:
    name: str


@dataclass
class FakeWriter:
    """Records the batches it is asked to fold; positions as a store would hold them."""

    name: str
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    batches: list[list[tuple[str, int]]] = field(default_factory=list)

    @property
    def projection(self) -> FakeProjection:
        return FakeProjection(self.name)

    async def handle(self, records: list[ConsumerRecord], shared=None) -> None:
        self.batches.append([(r.topic, r.offset) for r in records])

    async def load_positions(self) -> dict[tuple[str, int], int]:
        return dict(self.positions)


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: dict[TopicPartition, int] = {}
        self.from_beginning: list[TopicPartition] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.from_beginning.extend(tps)

    def pause(self, *tps: TopicPartition) -> None: ...

    def resume(self, *tps: TopicPartition) -> None: ...

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # the broker's end not yet known (no fetch answered)


def record(topic: str, offset: int, partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, b"{}", None, 2, 0, [])


def projector(*writers: tuple[FakeWriter, str]) -> Projector:
    return Projector([Follower(w, re.compile(p)) for w, p in writers], consumer_factory=lambda: None)


def test_each_projection_folds_only_its_own_topics():
    roster, catalogue = FakeWriter("class_roster"), FakeWriter("catalogue")
    p = projector((roster, r"ganxun\.selection\..*"), (catalogue, r"ganxun\.teaching\..*"))
    asyncio.run(p.handle([record(SELECTION, 0), record(TEACHING, 0), record(SELECTION, 1)]))
    assert roster.batches == [[(SELECTION, 0), (SELECTION, 1)]]
    assert catalogue.batches == [[(TEACHING, 0)]]


def test_a_projection_with_nothing_in_the_batch_is_not_asked():
    roster, catalogue = FakeWriter("class_roster"), FakeWriter("catalogue")
    p = projector((roster, r"ganxun\.selection\..*"), (catalogue, r"ganxun\.teaching\..*"))
    asyncio.run(p.handle([record(SELECTION, 0)]))
    assert catalogue.batches == []


def test_assignment_starts_where_the_furthest_behind_left_and_each_skips_what_it_applied():
    tp = TopicPartition(SELECTION, 0)
    ahead = FakeWriter("cadres", positions={(SELECTION, 0): 10})
    behind = FakeWriter("classes", positions={(SELECTION, 0): 5})
    p = projector((ahead, r"ganxun\.selection\..*"), (behind, r"ganxun\.selection\..*"))
    consumer = FakeConsumer()
    asyncio.run(_SeekToStored(consumer, p).on_partitions_assigned([tp]))
    assert consumer.seeks == {tp: 5} and consumer.from_beginning == []
    asyncio.run(p.handle([record(SELECTION, o) for o in range(5, 12)]))
    assert behind.batches == [[(SELECTION, o) for o in range(5, 12)]]
    assert ahead.batches == [[(SELECTION, 10), (SELECTION, 11)]], "what it applied is not folded again"


def test_a_projection_that_recorded_nothing_reads_the_partition_from_the_beginning():
    tp = TopicPartition(SELECTION, 0)
    old = FakeWriter("cadres", positions={(SELECTION, 0): 10})
    new = FakeWriter("histories")
    p = projector((old, r"ganxun\.selection\..*"), (new, r"ganxun\.selection\..*"))
    consumer = FakeConsumer()
    asyncio.run(_SeekToStored(consumer, p).on_partitions_assigned([tp]))
    assert consumer.from_beginning == [tp] and consumer.seeks == {}
    asyncio.run(p.handle([record(SELECTION, 0), record(SELECTION, 10)]))
    assert new.batches == [[(SELECTION, 0), (SELECTION, 10)]]
    assert old.batches == [[(SELECTION, 10)]]


def test_a_partition_no_projection_follows_is_left_alone():
    tp = TopicPartition("ganxun.erasures.371428", 0)
    roster = FakeWriter("class_roster", positions={})
    p = projector((roster, r"ganxun\.selection\..*"))
    consumer = FakeConsumer()
    asyncio.run(_SeekToStored(consumer, p).on_partitions_assigned([tp]))
    assert consumer.seeks == {} and consumer.from_beginning == []


def test_a_failing_projection_leaves_no_other_still_writing():
    class Failing(FakeWriter):
        async def handle(self, records, shared=None):
            raise RuntimeError("store gone")

    class Slow(FakeWriter):
        async def handle(self, records, shared=None):
            await asyncio.sleep(0.05)
            await super().handle(records)

    slow = Slow("cadres")
    p = projector((Failing("classes"), r"ganxun\.selection\..*"), (slow, r"ganxun\.selection\..*"))

    async def run() -> str:
        try:
            await p.handle([record(SELECTION, 0)])
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(run()) == "store gone"
    assert slow.batches == [[(SELECTION, 0)]], "the other writer finished its batch first"


def test_records_fetched_again_after_a_rebalance_within_a_batch_are_folded_once():
    """A rebalance inside the lingering second fetch (a new topic matching the pattern) seeks the
    partition back to its stored position: the records fetched again must not be in the batch
    twice (an invalid one was dead-lettered twice)."""
    tp = TopicPartition(SELECTION, 0)
    stop = asyncio.Event()

    class Refetching(FakeConsumer):
        def __init__(self) -> None:
            super().__init__()
            self.answers = [
                {tp: [record(SELECTION, 0)]},
                {tp: [record(SELECTION, 1), record(SELECTION, 2)]},
                {tp: [record(SELECTION, 1), record(SELECTION, 2), record(SELECTION, 3)]},  # sought back
            ]
            self.committed: list[int] = []

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        def subscribe(self, pattern, listener) -> None: ...

        async def getmany(self, timeout_ms, max_records):
            if not self.answers:
                stop.set()
                return {}
            return self.answers.pop(0)

        async def commit(self, offsets) -> None:
            self.committed.append(offsets[tp])

    cadres = FakeWriter("cadres")
    consumer = Refetching()
    p = Projector(
        [Follower(cadres, re.compile(r"ganxun\.selection\..*"))],
        consumer_factory=lambda: consumer,
        linger=0.01,
    )
    asyncio.run(p.run(stop))
    assert cadres.batches == [[(SELECTION, 0)], [(SELECTION, 1), (SELECTION, 2), (SELECTION, 3)]]
    assert consumer.committed == [1, 4]


def test_records_sought_back_by_a_rebalance_after_their_batch_are_not_folded_again():
    """A rebalance while a batch is written (or before its position is saved) seeks the partition
    back to the stored position, behind what this process already applied: the next fetch
    brings those records again and they must not be folded (a forged event was dead-lettered
    twice, once per fetch)."""
    tp = TopicPartition(SELECTION, 0)
    cadres = FakeWriter("cadres", positions={(SELECTION, 0): 0})  # nothing saved yet
    p = projector((cadres, r"ganxun\.selection\..*"))
    consumer = FakeConsumer()
    listener = _SeekToStored(consumer, p)
    asyncio.run(listener.on_partitions_assigned([tp]))
    asyncio.run(p.handle([record(SELECTION, o) for o in range(3)]))
    asyncio.run(listener.on_partitions_assigned([tp]))  # the group rebalances
    assert consumer.seeks == {tp: 0}
    asyncio.run(p.handle([record(SELECTION, o) for o in range(4)]))
    assert cadres.batches == [[(SELECTION, 0), (SELECTION, 1), (SELECTION, 2)], [(SELECTION, 3)]]


def test_a_failed_batch_is_folded_again_after_the_restart():
    class Failing(FakeWriter):
        async def handle(self, records, shared=None):
            raise RuntimeError("store gone")

    tp = TopicPartition(SELECTION, 0)
    failing = Failing("classes", positions={(SELECTION, 0): 0})
    p = projector((failing, r"ganxun\.selection\..*"))
    try:
        asyncio.run(p.handle([record(SELECTION, 0)]))
    except RuntimeError:
        pass
    cadres = FakeWriter("classes", positions={(SELECTION, 0): 0})
    p.followers[0] = Follower(cadres, re.compile(r"ganxun\.selection\..*"))
    asyncio.run(_SeekToStored(FakeConsumer(), p).on_partitions_assigned([tp]))
    asyncio.run(p.handle([record(SELECTION, 0)]))
    assert cadres.batches == [[(SELECTION, 0)]], "what failed was not counted as applied"


class RoundTripConsumer(FakeConsumer):
    """Each `seek_to_beginning` is an offset request answered in a later fetch round, as in
    aiokafka (~64 ms under load at a province's 1,200 partitions)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.requests += 1
        await asyncio.sleep(0.001)
        await super().seek_to_beginning(*tps)


def test_a_province_first_start_asks_for_every_beginning_in_one_request():
    """aiokafka heartbeats only after the listener returns: at one request a partition, a province
    dashboard's first start (100 counties × 4 services × 3 partitions, nothing stored) spent 77 s
    in the listener, past the 6 s session, and was dropped from the group and sought again, over
    and over (docs/benchmarks.md, "A province at size, and five years again")."""
    county_topics = [
        f"ganxun.{s}.{710101 + c}"
        for c in range(100)
        for s in ("selection", "teaching", "records", "followup")
    ]
    assigned = [TopicPartition(t, p) for t in county_topics for p in range(3)]
    cadres, classes = FakeWriter("dash_cadres"), FakeWriter("dash_classes")
    p = projector((cadres, r"ganxun\.selection\..*"), (classes, r"ganxun\.[a-z]+\..*"))
    consumer = RoundTripConsumer()
    asyncio.run(_SeekToStored(consumer, p).on_partitions_assigned(assigned))
    assert consumer.requests == 1
    assert sorted(consumer.from_beginning) == sorted(assigned) and consumer.seeks == {}


class _Fetching(FakeConsumer):
    """Answers each fetch in turn (then stops the projector) and says how far the broker's
    partition reaches (`high`), as a fetch's answer does; records every wait asked of it."""

    def __init__(self, answers: list[list[int]], high: int, stop: asyncio.Event) -> None:
        super().__init__()
        self.tp = TopicPartition(SELECTION, 0)
        self.answers = [{self.tp: [record(SELECTION, o) for o in offsets]} for offsets in answers]
        self.high, self.done = high, stop

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, pattern, listener) -> None: ...

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high

    async def getmany(self, timeout_ms, max_records):
        if not self.answers:
            self.done.set()
            return {}
        return self.answers.pop(0)

    async def commit(self, offsets) -> None: ...


def _lingered(monkeypatch, high: int) -> tuple[list[list[tuple[str, int]]], list[float]]:
    """Three fetches of a burst; the projector's batches and the sleeps it took between them."""
    stop = asyncio.Event()
    consumer = _Fetching([[0, 1], [2, 3], [4, 5], [6, 7]], high, stop)
    cadres = FakeWriter("cadres")
    p = Projector(
        [Follower(cadres, re.compile(r"ganxun\.selection\..*"))],
        consumer_factory=lambda: consumer,
        batch_size=1000,
    )
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *args):
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    asyncio.run(p.run(stop))
    return cadres.batches, slept


def test_a_backlog_on_the_broker_is_folded_in_full_batches_without_lingering(monkeypatch):
    """An import's burst: the broker holds more than each fetch brings (its high watermark past
    the batch). The projector folds it as fast as it comes, in batches as full as the fetches
    allow, and never waits for more (0.6 s before each batch of ~1,000 made the registry show a
    20,000-row import ~12 s late). Single events trickling in (each fetch reaching the broker's
    end) are still lingered for while busy, so a stream of commands costs one write per batch."""
    batches, slept = _lingered(monkeypatch, high=100_000)
    assert slept == [], "no linger while the broker holds a backlog"
    assert [len(b) for b in batches] == [8], "the fetches that came are folded together"
    batches, slept = _lingered(monkeypatch, high=0)
    assert slept and all(s > 0 for s in slept), "it lingered while busy"
    assert sum(len(b) for b in batches) == 8
