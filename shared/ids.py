"""Time-ordered identifiers (UUIDv7, RFC 9562); Python 3.11 has no uuid.uuid7."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7 whose order follows creation order within this process.

    The 12-bit rand_a field carries a counter so that ids made in the same
    millisecond still sort in the order they were made.
    """
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = 0
        seq = _seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


# -- ids of a retried request ---------------------------------------------------------
# A command sent with an Idempotency-Key runs with a seed (shared/idempotency.py): the
# ids the route makes (a record_id, a session_id) and the ids of the commits it
# appends are then derived from the key, so a retry after a crash makes the same ids,
# finds the commit the first attempt stored (EventStore.applied) and answers with it.


@dataclass
class Seed:
    """The key of one request (already scoped to deployment and user) and the time it
    was first seen: ids derived from it keep UUIDv7's time order."""

    key: str
    first_ms: int
    ids: int = 0
    commits: int = 0


_seed: ContextVar[Seed | None] = ContextVar("ganxun_request_seed", default=None)


def seeded(seed: Seed | None):
    """Set the request's seed for the code that runs after (returns the reset token)."""
    return _seed.set(seed)


def unseed(token) -> None:
    _seed.reset(token)


def _derived(seed: Seed, n: int) -> str:
    digest = int.from_bytes(hashlib.sha256(f"{seed.key}|id|{n}".encode()).digest()[:10], "big")
    rand_a = digest & 0xFFF
    rand_b = (digest >> 12) & ((1 << 62) - 1)
    value = (seed.first_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def new_id() -> str:
    """A new id; within a request with an Idempotency-Key, the n-th id the request makes
    is the same on every attempt (so are routes' ids: make them before appending)."""
    seed = _seed.get()
    if seed is None:
        return str(uuid7())
    seed.ids += 1
    return _derived(seed, seed.ids)


def fresh_id() -> str:
    """Always a new id (an event's own id), whatever the request."""
    return str(uuid7())


def next_commit_id() -> str | None:
    """The id of the next commit this request appends, or None without a key."""
    seed = _seed.get()
    if seed is None:
        return None
    seed.commits += 1
    return f"idem-{hashlib.sha256(f'{seed.key}|commit|{seed.commits}'.encode()).hexdigest()[:40]}"
