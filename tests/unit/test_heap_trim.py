"""When a service process hands its heap's free pages back to the system (shared/heap.py):
after its resident memory grew by more than GROWTH, not at every look of an idle or steady
process (a trim walks the whole heap and blocks the event loop meanwhile)."""

from __future__ import annotations

from shared.heap import GROWTH, Trimmer, resident

MB = 1024 * 1024


class Process:
    """A process's resident memory, as a trim would change it."""

    def __init__(self, rss: int, after_trim: int) -> None:
        self.rss = rss
        self.after_trim = after_trim
        self.trims = 0

    def trim(self) -> None:
        self.trims += 1
        self.rss = self.after_trim


def test_a_burst_is_trimmed_once_and_a_steady_process_not_at_all():
    p = Process(rss=120 * MB, after_trim=130 * MB)
    t = Trimmer(p.trim, lambda: p.rss)
    assert [t.step() for _ in range(5)] == [False] * 5  # idle: never
    p.rss = 260 * MB  # a batch's peak
    assert t.step() and p.rss == 130 * MB
    assert [t.step() for _ in range(5)] == [False] * 5  # what stayed is in use: no trim again
    p.rss = 130 * MB + GROWTH  # grew, but not by more than GROWTH
    assert not t.step() and p.trims == 1


def test_growth_counts_from_the_lowest_point_since_the_last_trim():
    p = Process(rss=200 * MB, after_trim=150 * MB)
    t = Trimmer(p.trim, lambda: p.rss)
    p.rss = 140 * MB  # freed by Python itself (an arena unmapped)
    t.step()
    p.rss = 140 * MB + GROWTH + MB
    assert t.step() and p.trims == 1


def test_no_trim_where_the_c_library_has_none_and_the_resident_memory_is_read_here():
    t = Trimmer(None, lambda: 10**12)
    assert not t.step()
    assert resident() > 10 * MB  # this interpreter, from /proc/self/statm


def test_asked_after_a_part_of_the_process_let_go_it_trims_without_growth():
    """A projector's caches forgotten once a burst is over (shared/projector.py, STILL_AFTER) free
    memory the resident size cannot show until a trim."""
    p = Process(rss=200 * MB, after_trim=170 * MB)
    t = Trimmer(p.trim, lambda: p.rss)
    assert not t.step()
    assert t.step(asked=True) and p.rss == 170 * MB
