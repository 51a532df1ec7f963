"""A service process moves what its start left alive out of the cyclic collector's reach
(shared/entrypoint.settle_heap): a full collection then walks only what came after, and the
requests waiting on it wait less (docs/benchmarks.md, "The slowest 1 %")."""

from __future__ import annotations

import gc

from shared.entrypoint import settle_heap


def test_what_the_start_left_alive_is_no_longer_walked_by_a_full_collection():
    kept = [[i] for i in range(100_000)]  # a started service's modules, routes, models
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(kept)
        walked = {id(o) for o in gc.get_objects()}  # what a full collection walks
        assert id(kept) not in walked and id(kept[-1]) not in walked
    finally:
        gc.unfreeze()


def test_garbage_made_after_the_start_is_still_collected():
    try:
        settle_heap()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle only the collector can free
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
