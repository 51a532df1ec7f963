"""The dashboard's projectors fetch smaller chunks per partition than the kernel's 4 MiB
(services/dashboard/service.py says why: aiokafka holds one chunk per partition not yet consumed,
~1,200 at a province; 256 KiB, as 12 are read at once while catching up, and each fetch round
walks all of them)."""

import asyncio

import pytest

from services.dashboard.service import DEFINITION, PARTITION_FETCH_BYTES
from shared import kafka


async def consumers():
    """Made in a loop, as aiokafka wants (nothing connects before start)."""
    return kafka.consumer("127.0.0.1:9", "g", **DEFINITION.consumer_options), kafka.consumer(
        "127.0.0.1:9", "g"
    )


def test_a_dashboard_consumer_fetches_its_own_chunk_size_and_others_keep_the_kernels():
    ours, theirs = asyncio.run(consumers())
    assert ours._max_partition_fetch_bytes == PARTITION_FETCH_BYTES <= 256 * 1024
    assert theirs._max_partition_fetch_bytes == 4 * 1024 * 1024
    assert ours._fetch_max_bytes < theirs._fetch_max_bytes


def test_the_collector_runs_at_the_dashboard_thresholds_while_the_rollup_does(monkeypatch):
    """A first start keeps batches and held documents alive; the full collections they set off
    walked the heap again and again (docs/benchmarks.md, "A province at size (province7)"): while
    the roll-up worker runs the collector is at GC_THRESHOLDS, and as it was once it stops, also
    when it fails."""
    import gc

    from services.dashboard import service

    before = gc.get_threshold()
    seen = []

    async def rollup(rt, stop):
        seen.append(gc.get_threshold())
        raise RuntimeError("stopped")

    monkeypatch.setattr(service, "_keep_rollup", rollup)
    with pytest.raises(RuntimeError):
        asyncio.run(service.keep_rollup(None, asyncio.Event()))
    assert seen == [service.GC_THRESHOLDS] != [before]
    assert gc.get_threshold() == before


def test_the_writers_keep_one_countys_documents_between_batches():
    """The catch-up reads one county at a time; documents of counties done are not written again
    while catching up, and each cached bucket is ~200 KB as Python objects (~25 KB stored)
    (docs/benchmarks.md, "Dashboard memory at 100 counties (dashmem)"). Once the roll-up worker
    runs, the buckets' writer keeps a county's 64 buckets, not two counties'; the classes' writer
    100 classes (at 40 a first start came out a class short)."""
    from types import SimpleNamespace

    from services.dashboard import service
    from services.dashboard.projections import BUCKETS, PROJECTIONS
    from shared.memory import MemoryDatabase

    writers = [SimpleNamespace(projection=p, observers=[], cache_size=20_000) for p in PROJECTIONS]
    reads = service.Reads(MemoryDatabase())
    stop = asyncio.Event()
    stop.set()
    rt = SimpleNamespace(handlers=SimpleNamespace(reads=reads), writers=writers)
    asyncio.run(service.keep_rollup(rt, stop))
    caps = {w.projection.name: w.cache_size for w in writers}
    assert caps == {"dash_classes": 100, "dash_cadres": BUCKETS} and BUCKETS == 64
    assert reads.rollup.live  # the roll-up follows those writers
