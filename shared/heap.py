"""Handing the heap's free memory back to the system, in every service process.

Each projector batch decodes up to a thousand events into dicts and models and frees them,
a relay round holds up to `relay_batch` commits, a rebuild 20,000 events: glibc keeps the
freed pages of its heap, so a process's resident memory ratchets up to its largest batch's
and stays there. `malloc_trim(0)` returns the free pages (issue 16: memory per service under
200 MB; the dashboard, whose consumers read a province's topics, did it first:
services/dashboard/service.py). Elsewhere than glibc (or Linux) nothing is trimmed.

A trim is not free: it walks every free chunk of the heap and blocks the event loop
meanwhile (measured on a fragmented heap of 420 MB: 56 ms of CPU the first time and 21 ms
each time after, with nothing left to give back; at load average 25 that was 0.3–1.6 s of
wall time). So a process trims only when its resident memory grew by GROWTH since it last
trimmed: after a burst, not every few seconds of an idle or steady service.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Callable

# How often the resident memory is looked at (one read of /proc/self/statm).
TRIM_SECONDS = 5.0
# Growth since the last trim that is worth a trim.
GROWTH = 16 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Set by `ask_trim`: the next look trims whatever the growth (`keep_trimmed`).
_asked = False


def malloc_trim() -> Callable[[], None] | None:
    """glibc's `malloc_trim(0)`, or None where there is none."""
    try:
        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    return lambda: fn(0)


def resident() -> int:
    """This process's resident memory in bytes (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class Trimmer:
    """Trims when the resident memory grew by `growth` since the last trim (or the start)."""

    def __init__(
        self,
        trim: Callable[[], None] | None = None,
        measure: Callable[[], int] = resident,
        growth: int = GROWTH,
    ) -> None:
        self.trim = trim
        self.measure = measure
        self.growth = growth
        self.floor = measure()
        self.trims = 0

    def step(self, asked: bool = False) -> bool:
        """Trim if it is worth it (or `asked`); whether it trimmed. The floor is the least
        resident since the last trim, or what stayed resident after it: memory really in use
        does not cause a trim at every step."""
        now = self.measure()
        self.floor = min(self.floor, now)
        if self.trim is None or (now - self.floor <= self.growth and not asked):
            return False
        self.trim()
        self.trims += 1
        self.floor = self.measure()
        return True


def ask_trim() -> None:
    """Have the next look trim: a part of the process let go of much at once (a projector's
    caches once a burst is over: shared/projector.py, STILL_AFTER), which the resident memory,
    unchanged until a trim, cannot show."""
    global _asked
    _asked = True


async def keep_trimmed(stop: asyncio.Event, every: float = TRIM_SECONDS) -> None:
    """Look every `every` seconds until `stop`, trimming after growth (Trimmer) or when asked."""
    global _asked
    trimmer = Trimmer(malloc_trim())
    if trimmer.trim is None:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            asked, _asked = _asked, False
            trimmer.step(asked)
