"""The selection service's definition and bootstrap: what the runtime composes."""

import asyncio
import contextlib

from services.selection import api, api_registry
from services.selection.erasures import follow_erasures
from services.selection.handlers import Handlers
from services.selection.projections import PROJECTIONS
from services.selection.reads import Reads
from services.selection.settings import SelectionSettings, cadre_id_secret
from shared import kafka
from shared.runtime import Adapters, Runtime, ServiceDefinition

# The cyclic collector's thresholds of a selection process (set at its start: `gc_thresholds`,
# shared/entrypoint.set_collector; Python's default is
# (700, 10, 10)): a full collection only after 100 of the middle generation's, not 10. A
# 20,000-row import keeps its envelopes, the registry's read index and the projectors' documents
# alive, nearly all of it surviving the young collections, and each full collection walked it
# all again: 14 of them, 0.94-1.02 s of the 6.1-6.6 s of CPU the process spent, start-up
# included (gc.callbacks, 2026-11-29 stop 23); at these 2, 0.21 s. The young collections are as
# before (their pauses stay short for the commands); cyclic garbage, if any, is freed by the next
# full collection, later than before (the dashboard runs at (50,000, 20, 100): services/dashboard).
GC_THRESHOLDS = (700, 10, 100)


def bootstrap(a: Adapters) -> Handlers:
    """The handlers over the real adapters: the kernel's command executor, the reads over
    this deployment's database (following this process's projection writers), the
    deployment's clock, the service's own settings, the key vault (erasure) and the province's
    cadre id secret (without one outside development the service does not start:
    settings.cadre_id_secret)."""
    flags = SelectionSettings()
    reads = Reads(a.db, writers=a.writers, batch=a.settings.projector_batch)
    a.on_fresh(reads.refresh)  # a fresh read in a process without the projectors: reads.py
    return Handlers(
        commands=a.commands,
        reads=reads,
        clock=a.clock,
        settings=flags,
        keys=a.vault,
        cadre_secret=cadre_id_secret(flags, a.settings),
    )


# How long the read index must be still before its common lists are made again.
QUIET = 1.0
# How long while the projectors' last batch was full (they catch up): under load a batch of
# a backlog takes longer than QUIET, and the lists were made between every two batches,
# a fifth of the process's CPU and 20,000-row reports made and unmade per batch while
# five years were folded (docs/benchmarks.md, "Every read at 20,000 cadres × three years").
BEHIND_QUIET = 60.0


async def keep_index(
    rt: Runtime, stop: asyncio.Event, quiet: float = QUIET, behind_quiet: float = BEHIND_QUIET
) -> None:
    """Loads the read index when the service starts, so the first clerk does not wait for
    it; then, whenever it changed and has been still for `quiet` seconds, makes the lists
    the registry and report pages open on (`Reads.warm`). While the projectors catch up it
    changes every batch, and their batches are full: nothing is made until they are done
    (or the index has been still for `behind_quiet`)."""
    reads = rt.handlers.reads
    ix = await reads.index()
    made = None
    still = 0.0
    while not stop.is_set():
        seen = ix.changes
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), quiet)
        still = still + quiet if seen == ix.changes else 0.0
        enough = behind_quiet if ix.behind else quiet
        if seen != made and seen == ix.changes and still >= enough and not stop.is_set():
            h = rt.handlers
            await reads.warm(rt.settings.jurisdictions, await h.clock.today(), h.settings.hours_policy)
            made = seen


DEFINITION = ServiceDefinition(
    name="selection",
    title="训前 · 精准施训（班次、划定范围、单位推荐、组织确定）",
    description="班次开设与学员推荐。事件发布到 Kafka 主题 ganxun.selection.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=(api.router, api_registry.router),
    compose=bootstrap,
    workers={"index": keep_index, "erasures": follow_erasures},
    consumer_options=kafka.county_fetch(),  # what its projectors hold fetched (shared/kafka.py)
    gc_thresholds=GC_THRESHOLDS,
)
