"""The dashboard's definition and bootstrap: what the runtime composes."""

import asyncio
import gc

import structlog

from services.dashboard import api
from services.dashboard.handlers import Handlers
from services.dashboard.projections import BUCKETS, PROJECTIONS
from services.dashboard.reads import Reads
from shared.projector import CACHE_BYTES
from shared.runtime import Adapters, Runtime, ServiceDefinition

FLUSH_SECONDS = 0.5
# Whole documents each projection writer keeps between batches (the kernel's default is 20,000,
# i.e. everything here). A county's 20 class documents and 64 cadre buckets are ~16 MiB of
# Python objects, so a province of 100 counties cached whole would hold ~1.6 GB; capped, a
# document the cache forgot is read back by `_id` when its next event comes (bench/province.py).
# The catch-up reads one county at a time (CATCH_UP_PARTITIONS), and a county's cadre buckets are
# not written again once its partitions are read: the buckets' writer keeps one county's 64, not
# two counties' (each ~25 KB as stored, ~200 KB as Python objects). The classes stay at 100: at
# 40 a 4-county first start came out a class short, a class its sessions had stored, forgotten by
# the cache, then taken for new when its ClassOpened came (shared/projector.py `_born`, since
# fixed; 40 not measured again: docs/benchmarks.md, "Dashboard memory at 100 counties (dashmem)").
WRITER_CACHE = {"dash_classes": 100, "dash_cadres": BUCKETS}
# Bytes fetched per partition at a time. aiokafka holds one such chunk per partition not yet
# consumed, and a province's dashboard follows ~1,200 (100 counties × 4 topics × 3): at the
# kernel's 4 MiB its RSS passed 540 MB in the first two minutes of a first start at 100 counties
# (README, "Producing a province in minutes"). Each fetch still brings up to FETCH_MAX_BYTES.
# While catching up only CATCH_UP_PARTITIONS are read at once (the rest paused), and each fetch
# round of aiokafka walks every one of the ~1,200 partitions assigned: at 32 KiB a round brought
# ~400 records, and fetching cost 35-38 µs of CPU a record at 100 counties against 10.5-10.9 at
# 256 KiB (docs/benchmarks.md, "A province at size (province7)"): 12 × 256 KiB held at most.
PARTITION_FETCH_BYTES = 256 * 1024
FETCH_MAX_BYTES = 4 * 1024 * 1024
# Partitions read at once while the projectors are behind: one county's four topics of three
# (shared/projector.CatchUp: a batch then touches one county's cadre buckets, not ~1,000 of
# ~20 counties', each a read and a write of a document of ~300 cadres).
CATCH_UP_PARTITIONS = 12
# Records per batch while catching up. A batch rewrites every document it touches once, a
# county's 64 cadre buckets (~300 cadres each) and its classes, and the writes were the first
# start's cost (README, "A county at a time"); a fetch brought ~400 records (32 KiB per
# partition, 12 partitions), so batches were ~480 records, not the kernel's 1,000. At 5,000 the
# first start ran 1.75-1.86 times as fast but peaked at 201-218 MB (README, "Full batches");
# 3,000 at 10 counties: 1.16 times as fast, peak 192 MB (README, "A failed write lost"). A
# batch's records, their opened values and decoded events (both writers') are alive together:
# ~25-30 MB of Python objects at 3,000 (tracemalloc), the largest part of what a first start
# holds beyond the imports. At 16 counties, after 240 s (load 15-18): 3,000 peaked at 184 MB
# with 28.8 % of the registrations folded, 2,000 at 167 MB with 22.5 %, 1,500 at 162 MB with
# 22.3 % (docs/benchmarks.md, "The dashboard's first start under 200 MB (dashmem2, stop 24)").
CATCH_UP_BATCH = 2000
# While catching up, the writers hold what they fold and write a document once it goes still (a
# batch read its partitions without changing it), after 8 batches, or past the cache budget
# (shared/projector.Projector._hold_while_behind): each batch of a county rewrote its 64 cadre
# buckets and its classes (README, "Held while catching up").
CATCH_UP_HOLD = True
# The cyclic collector's thresholds while the roll-up worker runs (gc.set_threshold; Python's
# default is (700, 10, 10)). A first start keeps a batch of 3,000 decoded events (twice: each
# writer's) and the held documents (a county's 64 cadre buckets of ~300 cadres, its classes)
# alive, tens of thousands of objects made per batch survive a young collection, and the full
# collections this sets off walked the whole heap again and again: 4.1-4.5 s of the 13-14.5 s of
# CPU that folding two counties took in memory (docs/benchmarks.md, "A province at size
# (province7)"); 0.9 s at these. What the dashboard folds and decodes holds no cycles (freed by
# reference counting as it goes); the few it makes (asyncio's) are still collected, later.
# The young generation's threshold 50,000 -> 200,000 (heldcpu, stop 25): a catch-up batch of 2,000
# records keeps 50,000-100,000 tracked objects alive at once (its records, opened values and decoded
# events, both writers'), so at 50,000 a young collection ran in most batches and walked every one
# of them, freeing nothing (they die by reference counting): 10-13 % of a first start's CPU (at 16
# counties 520-547 young collections, 18 s of 142-153 s); at 200,000 0.1-0.2 s a run, and 121-134
# µs of CPU an event against 155-167 at 16 counties, 112-131 against 134-174 at 4, the peak RSS no
# higher (docs/benchmarks.md, "The dashboard's CPU an event (heldcpu, stop 25)").
GC_THRESHOLDS = (200_000, 20, 100)


def bootstrap(a: Adapters) -> Handlers:
    """The dashboard has no commands: its handlers are its reads over its own database and
    the deployment's clock."""
    return Handlers(reads=Reads(a.db), clock=a.clock)


async def keep_rollup(rt: Runtime, stop: asyncio.Event) -> None:
    """Has the roll-up follow this process's projection writers, loads it at start (from
    the mirrored counters), reconciles it with the projection documents in the
    background, and mirrors changed counters every half second (rollup.py says why). The
    process's collector runs at GC_THRESHOLDS meanwhile (restored when it stops)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        await _keep_rollup(rt, stop)
    finally:
        gc.set_threshold(*thresholds)


async def _keep_rollup(rt: Runtime, stop: asyncio.Event) -> None:
    reads: Reads = rt.handlers.reads
    for w in rt.writers:
        w.cache_size = WRITER_CACHE.get(w.projection.name, w.cache_size)
    reads.follow(rt.writers)
    await reads.current()
    reconciling = asyncio.create_task(reads.reconcile())
    reconciling.add_done_callback(_report)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            await reads.flush()
    finally:
        reconciling.cancel()


def _report(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    log = structlog.get_logger("dashboard")
    if task.exception() is not None:
        log.error("dashboard.reconcile_failed", error=repr(task.exception()))
    else:
        log.info("dashboard.reconciled", newer_than_mirror=task.result())


DEFINITION = ServiceDefinition(
    name="dashboard",
    title="省级看板 · 训前训中训后汇总（省 → 市 → 县 → 班次 → 学员）",
    description="读取四个服务在 Kafka 上的事件（ganxun.<服务>.<行政区划代码>），按行政区划逐级汇总，"
    "网页实时更新（SSE），可导出 Excel。看板自身不发布事件。",
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
    workers={"rollup": keep_rollup},
    catch_up_partitions=CATCH_UP_PARTITIONS,
    catch_up_batch=CATCH_UP_BATCH,
    catch_up_hold=CATCH_UP_HOLD,
    # Its first start holds documents within the budget and writes them once it is passed: the
    # 8 MiB it was measured with at 100 counties (docs/benchmarks.md, "A province at size").
    projection_cache_bytes=CACHE_BYTES,
    consumer_options={"max_partition_fetch_bytes": PARTITION_FETCH_BYTES, "fetch_max_bytes": FETCH_MAX_BYTES},
)
