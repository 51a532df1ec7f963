"""A province dashboard catching up (issue 16): its projectors read a backlog a county at a
time (shared/projector.CatchUp), and its cadre buckets, which keep no name, read no key."""

from __future__ import annotations

import asyncio
import re

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.dashboard import projections as dash
from services.dashboard.service import DEFINITION
from shared.memory import MemoryDatabase
from shared.personal import Sealer, Vault
from shared.projector import CatchUp, Follower, ProjectionWriter, Projector
from tests.unit.test_personal_data import run
from tests.unit.test_projector_followers import FakeWriter
from tests.unit.test_projector_opening import CountingVault, _import


class Consumer:
    """The part of an AIOKafkaConsumer CatchUp uses: offsets, pausing, positions."""

    def __init__(self, begins: dict, ends: dict) -> None:
        self.begins, self.ends = begins, ends
        self.paused: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}

    async def end_offsets(self, tps):
        return {tp: self.ends[tp] for tp in tps}

    async def beginning_offsets(self, tps):
        return {tp: self.begins[tp] for tp in tps}

    def pause(self, *tps) -> None:
        self.paused |= set(tps)

    def resume(self, *tps) -> None:
        assert set(tps) <= self.paused
        self.paused -= set(tps)

    async def position(self, tp) -> int:
        return self.positions[tp]

    def highwater(self, tp) -> int | None:
        """The partition's end as the last fetch's answer said it (None: not said)."""
        return self.ends.get(tp)


def tp(service: str, county: str, partition: int = 0) -> TopicPartition:
    return TopicPartition(f"ganxun.{service}.{county}", partition)


def test_a_backlog_is_read_a_county_at_a_time_and_what_is_caught_up_is_always_read():
    a_sel, a_tea = tp("selection", "710101"), tp("teaching", "710101")
    b_sel, b_tea = tp("selection", "710102"), tp("teaching", "710102")
    c_sel, c_empty = tp("selection", "710103"), tp("teaching", "710103")
    ends = {a_sel: 900, a_tea: 500, b_sel: 900, b_tea: 40, c_sel: 900, c_empty: 7}
    begins = {c_sel: 0, c_empty: 7}  # the teaching topic's events are past their retention
    consumer = Consumer(begins, ends)
    catch_up = CatchUp(width=2)
    # b's teaching was read to its end before the restart; c is new here (from the beginning)
    run(catch_up.assigned(consumer, {a_sel: 0, a_tea: 0, b_sel: 0, b_tea: 40, c_sel: None, c_empty: None}))
    assert consumer.paused == {b_sel, c_sel}  # 710101's two topics first; b_tea and c_empty never wait
    assert set(catch_up.behind) == {a_sel, a_tea, b_sel, c_sel}

    catch_up.advance(consumer, {a_sel: 600, a_tea: 500})  # teaching of 710101 done, selection not
    assert consumer.paused == {c_sel}  # 710102 takes its place
    catch_up.advance(consumer, {a_sel: 900, b_sel: 900})
    assert consumer.paused == set() and set(catch_up.behind) == {c_sel}

    consumer.positions[c_sel] = 900  # read to its end without a record there (e.g. markers)
    run(catch_up.idle(consumer))
    assert catch_up.behind == {} and consumer.paused == set()


def test_nothing_behind_pauses_nothing():
    sel = tp("selection", "710101")
    consumer = Consumer({sel: 0}, {sel: 10})
    catch_up = CatchUp(width=1)
    run(catch_up.assigned(consumer, {sel: 10}))
    assert consumer.paused == set() and catch_up.behind == {}


def test_the_dashboard_catches_up_one_county_at_a_time():
    assert DEFINITION.catch_up_partitions == 12  # a county's four topics of three partitions


def test_cadre_buckets_keep_no_name_so_their_writer_reads_no_key_and_counts_every_registration():
    county_vault = Vault(MemoryDatabase())  # the county's keys: the province never holds them
    records = _import(county_vault, 50)
    province = CountingVault(MemoryDatabase())
    db = MemoryDatabase()
    buckets = ProjectionWriter(dash.cadres, db, dead_letters=None, sealer=Sealer(province))
    run(buckets.handle(records))
    assert province.asked == [] and province.reads == 0
    registered = sum(d["n"].get("registered", 0) for d in db[dash.cadres.collection].docs.values())
    assert registered == 50

    trainees = ProjectionWriter(dash.classes, db, dead_letters=None, sealer=Sealer(province))
    run(trainees.handle(records))  # folds no registration: opens none either
    assert province.asked == []


class Fetching(Consumer):
    """Answers each fetch with at most three records of one partition (small per-partition
    fetches), and whatever `max_records` allows; stops the projector when all were read."""

    def __init__(self, part: TopicPartition, count: int, stop) -> None:
        super().__init__({part: 0}, {part: count})
        self.part, self.done, self.next, self.count = part, stop, 0, count
        self.committed: list[int] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, pattern, listener) -> None: ...

    async def getmany(self, timeout_ms, max_records):
        if self.next >= self.count:
            self.done.set()
            return {}
        upto = min(self.count, self.next + 3, self.next + max_records)
        recs = [record(self.part, o) for o in range(self.next, upto)]
        self.next = upto
        return {self.part: recs}

    async def commit(self, offsets) -> None:
        self.committed.append(offsets[self.part])


def record(part: TopicPartition, offset: int) -> ConsumerRecord:
    return ConsumerRecord(part.topic, part.partition, offset, 0, 0, None, b"{}", None, 2, 0, [])


def batches_folded(behind: bool, end_known: bool = True) -> tuple[list[list[int]], list[int]]:
    part = tp("selection", "710101")
    stop = asyncio.Event()
    consumer = Fetching(part, 10, stop)
    if not end_known:
        consumer.ends = {}
    writer = FakeWriter("dash_cadres")
    p = Projector(
        [Follower(writer, re.compile(r"ganxun\.selection\..*"))],
        consumer_factory=lambda: consumer,
        batch_size=5,
        linger=0,
        catch_up=12,
        catch_up_batch=7,
    )
    if behind:  # as CatchUp.assigned finds it: the partition behind its end offset
        p.catch_up.behind = {part: 10}
    asyncio.run(p.run(stop))
    return [[o for _, o in b] for b in writer.batches], consumer.committed


def test_a_projector_catching_up_fills_its_batches_from_several_fetches():
    """Each fetch of a catching-up province dashboard brought a few hundred records, and each
    batch rewrote every cadre bucket it touched: the batch is filled up to `catch_up_batch`."""
    folded, committed = batches_folded(behind=True)
    assert folded == [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]]
    assert committed == [7, 10]


def test_a_projector_not_behind_folds_what_each_fetch_brings():
    folded, committed = batches_folded(behind=False, end_known=False)
    assert folded == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert committed == [3, 6, 9, 10]


def test_a_projector_not_behind_tops_its_batch_up_while_the_broker_holds_more():
    """Not catching up (no CatchUp backlog at the assignment), but the fetches say the broker holds
    more (an import's burst): the batch is filled up to `batch_size` from the fetches that come."""
    folded, committed = batches_folded(behind=False)
    assert folded == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert committed == [5, 10]
