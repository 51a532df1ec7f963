"""Store access patterns that hold on FerretDB 1.24 as well as on MongoDB.

FerretDB 1.24 uses an index only for `_id` equality, so reads by many ids are done as
concurrent point reads; and on its PostgreSQL backend an update command with more than
50 operations deadlocks (each operation holds a pooled connection until the command
ends). The pool (50 connections) is shared by every client of the server, so several
smaller bulk commands at once deadlock it just the same: twelve concurrent 40-op bulk
writes wedge FerretDB for good (tests/servers/test_store_concurrent_bulk.py). So a
bulk write is sent one operation per command, and each writer sends them in turn: even
single-operation commands wedged a 50-connection pool when 96 ran at once (eight at a
time from each of twelve writers), so a command must hold little, and few may run at
once. The local store also runs with a pool of 200 (deploy/local/ferretdb.py).

Inserts are the exception: an insert command of many documents is one operation for
FerretDB (one connection, one transaction per batch), so a run of consecutive inserts
in a bulk write goes as one command of up to `INSERT_CHUNK` documents (a projector
creating 20,000 registry entries after an import: 40 commands instead of 20,000).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from pymongo import InsertOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

T = TypeVar("T")
BULK_CHUNK = 1
INSERT_CHUNK = 500
CONCURRENCY = 32


async def gather_chunked(calls: Iterable[Callable[[], Awaitable[T]]], size: int = CONCURRENCY) -> list[T]:
    calls = list(calls)
    out: list[T] = []
    for start in range(0, len(calls), size):
        out.extend(await asyncio.gather(*(c() for c in calls[start : start + size])))
    return out


async def find_by_ids(
    coll: AsyncCollection, ids: Sequence[Any], projection: dict | None = None
) -> dict[Any, dict]:
    found = await gather_chunked(lambda i=i: coll.find_one({"_id": i}, projection) for i in ids)
    return {d["_id"]: d for d in found if d is not None}


class ChunkedBulkError(Exception):
    def __init__(self, failed_indexes: list[int]) -> None:
        super().__init__(f"{len(failed_indexes)} writes failed")
        self.failed_indexes = failed_indexes


async def bulk_write(coll: AsyncCollection, ops: list, ordered: bool = False) -> int:
    """Bulk write in chunks; returns the matched count. Raises ChunkedBulkError with the
    indexes (into `ops`) of writes that failed, after trying every chunk."""
    matched = 0
    failed: list[int] = []
    start = 0
    while start < len(ops):
        end = start + BULK_CHUNK
        if isinstance(ops[start], InsertOne):
            end = start + 1
            while end < len(ops) and end - start < INSERT_CHUNK and isinstance(ops[end], InsertOne):
                end += 1
        try:
            res = await coll.bulk_write(ops[start:end], ordered=ordered)
            matched += res.matched_count
        except BulkWriteError as exc:
            matched += exc.details.get("nMatched", 0)
            failed.extend(start + e["index"] for e in exc.details.get("writeErrors", []))
        start = end
    if failed:
        raise ChunkedBulkError(failed)
    return matched
