"""A selection process's cyclic collector (services/selection/service.GC_THRESHOLDS, issue 16: a
20,000-row import end to end), set at the process's start — no server."""

from __future__ import annotations

import gc

from services.selection import service
from shared import entrypoint


def test_a_selection_process_runs_its_collector_with_full_collections_ten_times_rarer():
    """An import keeps its envelopes, the read index and the projectors' documents alive, and each
    full collection walked them all again (a fifth of the process's CPU for a 20,000-row import:
    services/selection/service.GC_THRESHOLDS); the young collections stay as they were. The
    process sets it as it starts (entrypoint.main), not where its handlers are composed."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        entrypoint.set_collector(service.DEFINITION)
        assert gc.get_threshold() == (700, 10, 100)  # Python's default: (700, 10, 10)
    finally:
        gc.set_threshold(*before)
