"""A selection process's cyclic collector (services/selection/service.GC_THRESHOLDS, issue 16: a
20,000-row import end to end) — no server."""

from __future__ import annotations

import gc
from datetime import date

from services.selection import service
from shared.commands import CommandHandler
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore
from shared.runtime import Adapters
from shared.settings import Settings


def test_a_selection_process_runs_its_collector_with_full_collections_ten_times_rarer(tmp_path, monkeypatch):
    """An import keeps its envelopes, the read index and the projectors' documents alive, and each
    full collection walked them all again (a fifth of the process's CPU for a 20,000-row import:
    services/selection/service.GC_THRESHOLDS); the young collections stay as they were."""
    monkeypatch.setenv("GANXUN_ENV", "dev")
    monkeypatch.setenv("GANXUN_STATE_DIR", str(tmp_path))
    before = gc.get_threshold()
    try:
        settings = Settings(service="selection")
        service.bootstrap(
            Adapters(
                CommandHandler(MemoryEventStore()), MemoryDatabase(), FixedClock(date(2026, 3, 2)), settings
            )
        )
        assert gc.get_threshold() == (700, 10, 100)  # Python's default: (700, 10, 10)
    finally:
        gc.set_threshold(*before)
