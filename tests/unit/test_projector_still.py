"""After a burst (a county's years folded, an import relayed) a projector that has found nothing
for STILL_AFTER seconds lets its writers' caches keep one megabyte and has the heap trimmed: kept
full, the caches' 8 MiB of documents were 25-40 MB of a service's resident memory for nothing
(shared/projector.py, STILL_AFTER; issue 16, memory per service < 200 MB)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from aiokafka.structs import ConsumerRecord

from shared import heap
from shared.projector import STILL_CACHE_BYTES, CacheBudget, DocumentCache, Follower, Projector
from tests.unit.test_projector_followers import SELECTION, FakeWriter, record

MB = 1024 * 1024


@dataclass
class CachingWriter(FakeWriter):
    """Caches each document it folds, 100 kB a record, in a budget shared with the others."""

    budget: CacheBudget = field(default_factory=lambda: CacheBudget(8 * MB))
    cache: DocumentCache | None = None

    @property
    def cache_budget(self) -> CacheBudget:
        return self.budget

    async def handle(self, records: list[ConsumerRecord], shared=None) -> None:
        await super().handle(records)
        if self.cache is None:
            self.cache = DocumentCache(self.budget)
        for r in records:
            self.cache.put(f"{self.name}-{r.offset}", {"offset": r.offset}, size=100_000)


class ScriptedConsumer:
    """Gives its batches one fetch at a time (one at each `gap` seconds' fetch), then nothing."""

    def __init__(self, batches: list[list[ConsumerRecord]], stop: asyncio.Event, until: float) -> None:
        self.batches, self.stop_event, self.until = batches, stop, until
        self.began = 0.0

    async def start(self) -> None:
        self.began = asyncio.get_running_loop().time()

    def subscribe(self, pattern: str, listener) -> None: ...

    def assignment(self) -> set:
        return set()

    def highwater(self, tp) -> None:
        return None  # not known: each batch is what the fetch brought

    async def getmany(self, timeout_ms: int, max_records: int):
        if asyncio.get_running_loop().time() - self.began > self.until:
            self.stop_event.set()
        if self.batches:
            recs = self.batches.pop(0)
            return {(recs[0].topic, recs[0].partition): recs} if recs else {}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets) -> None: ...

    async def stop(self) -> None: ...


def run_projector(writers: list[CachingWriter], batches, still_after: float, seconds: float) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        consumer = ScriptedConsumer(batches, stop, seconds)
        p = Projector(
            [Follower(w, re.compile(r"ganxun\..*")) for w in writers],
            consumer_factory=lambda: consumer,
            linger=0,
            still_after=still_after,
        )
        await p.run(stop)

    asyncio.run(main())


def burst(n: int) -> list[list[ConsumerRecord]]:
    return [[record(SELECTION, o) for o in range(b * 20, b * 20 + 20)] for b in range(n // 20)]


def test_once_a_burst_is_over_the_caches_keep_a_megabyte_and_the_heap_is_trimmed():
    heap._asked = False
    budget = CacheBudget(8 * MB)
    cadres, histories = CachingWriter("cadres", budget=budget), CachingWriter("histories", budget=budget)
    run_projector([cadres, histories], burst(200), still_after=0.3, seconds=0.8)
    assert len(cadres.batches) == 10, "the whole burst was folded"
    assert budget.used <= STILL_CACHE_BYTES and budget.used > 0, "the most recent documents are kept"
    assert heap._asked, "the heap is trimmed at its next look"
    heap._asked = False


def test_while_events_keep_coming_or_before_still_after_the_caches_stay_full():
    heap._asked = False
    budget = CacheBudget(8 * MB)
    cadres = CachingWriter("cadres", budget=budget)
    run_projector([cadres], burst(60), still_after=5.0, seconds=0.6)
    assert budget.used == 60 * 100_000, "3 batches' documents, all within the budget"
    assert not heap._asked
