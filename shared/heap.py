"""Handing the heap's free memory back to the system, in every service process.

Each projector batch decodes up to a thousand events into dicts and models and frees them,
a relay round holds up to `relay_batch` commits, a rebuild 20,000 events: glibc keeps the
freed pages of its heap, so a process's resident memory ratchets up to its largest batch's
and stays there. `malloc_trim(0)` returns the free pages (issue 16: memory per service under
200 MB; the dashboard, whose consumers read a province's topics, did it first:
services/dashboard/service.py). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable

# Often enough that a burst's pages go back within seconds; a trim of a heap of a few hundred
# MB takes about a millisecond (docs/benchmarks.md, "Memory per service").
TRIM_SECONDS = 5.0


def trimmer() -> Callable[[], None]:
    """glibc's `malloc_trim(0)`, or a function that does nothing where there is none."""
    try:
        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    fn.argtypes = [ctypes.c_size_t]
    return lambda: fn(0)


async def keep_trimmed(stop: asyncio.Event, every: float = TRIM_SECONDS) -> None:
    """Trim the heap every `every` seconds until `stop`."""
    trim = trimmer()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            trim()
