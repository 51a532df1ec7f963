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
once: a process sends at most `writes_in_flight` (8) of its bulk writes' commands at once
(`bulk_write`). The local store also runs with a pool of 200 (deploy/local/ferretdb.py).

Inserts are the exception: an insert command of many documents is one operation for
FerretDB (one connection, one transaction per batch), so a run of consecutive inserts
in a bulk write goes as one command of up to `INSERT_CHUNK` documents (a projector
creating 20,000 registry entries after an import: 40 commands instead of 20,000).

All of that is the `ferretdb` profile. The production store is MongoDB, where a bulk write
of hundreds of operations and a find by `$in` are the normal, fast way, so the `mongodb`
profile sends them (`GANXUN_STORE_PROFILE`, read by shared/settings.py; the runtime calls
`use` once per process before anything touches the store). Every access pattern that
differs between the two asks `profile()` here: nothing else in the code knows which store
it talks to. The GIN twins (docs/store.md) are the local FerretDB's own, in its PostgreSQL;
MongoDB needs none, and there are no transactions on either profile.

**Packed fields.** FerretDB's CPU for a write or a read of a document goes with the number of
its elements, not its bytes: it converts each one between BSON and PostgreSQL's JSONB (with its
own type annotations), so a class document with a scope of 2,000 cadre ids and 100 nominations
costs it 25 ms of CPU per replace and 21 ms per read, the same bytes as one binary value 6 and
5 ms. A projection names the long top-level fields of its documents that nobody filters on in
the store (`Projection.packed`), and on the `ferretdb` profile its writer stores each as one
BSON binary of the subtype `PACKED` (`pack`). Every reader gets them back unpacked: the
runtime's database decodes them (`unpacking`), and `unpack` does it for a document read
through another handle. The `mongodb` profile stores them as they are; either form is read.
"""

from __future__ import annotations

import asyncio
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import bson
from bson.binary import Binary
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from pymongo import InsertOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """How one kind of store is written and read (GANXUN_STORE_PROFILE)."""

    name: str
    # Operations per bulk write command (updates, replaces, deletes; a run of inserts may be longer).
    bulk_chunk: int
    # Documents per insert command.
    insert_chunk: int
    # Several documents by id: one `$in` find per `in_chunk` ids, or concurrent point reads.
    finds_by_in: bool
    in_chunk: int
    # Point reads or writes in flight at once (gather_chunked's default).
    concurrency: int
    # A process's unordered bulk-write commands in flight at once, when a bulk write takes
    # several (see `bulk_write`).
    writes_in_flight: int = 1
    # Whether projections store their long fields packed (`pack`; "Packed fields" above).
    packs: bool = False


# FerretDB 1.24 on PostgreSQL (development, tests, one machine): see above.
FERRETDB = Profile(
    "ferretdb",
    bulk_chunk=1,
    insert_chunk=500,
    finds_by_in=False,
    in_chunk=0,
    concurrency=32,
    writes_in_flight=8,
    packs=True,
)
# MongoDB (production): a bulk command per 1,000 operations (the driver splits what exceeds
# the server's own limits), `$in` finds served by the `_id` index.
MONGODB = Profile(
    "mongodb", bulk_chunk=1000, insert_chunk=1000, finds_by_in=True, in_chunk=1000, concurrency=32
)
PROFILES = {p.name: p for p in (FERRETDB, MONGODB)}
# FerretDB holds one pooled connection per matching operation of a bulk command until the
# command ends: more than the pool (200 in the local store) wedges it, as 300 replaces in one
# command did in tests/integration/test_store_profiles.py. So the mongodb profile must not
# serve a deployment on FerretDB (`refuse_unfit` stops it at start); `on_ferretdb` makes a
# copy whose bulk commands FerretDB survives, to run the mongodb profile's code paths against
# it (tests, benches).
FERRETDB_SAFE_BULK = 100


def on_ferretdb(chosen: Profile) -> Profile:
    return replace(chosen, bulk_chunk=min(chosen.bulk_chunk, FERRETDB_SAFE_BULK))


class UnfitStore(RuntimeError):
    """The store profile chosen would wedge the server the store runs on."""


async def refuse_unfit(db: AsyncDatabase) -> None:
    """Refuse this process's profile when its bulk commands are larger than FerretDB survives
    and the store is FerretDB: the `mongodb` profile there wedged it for good (above). FerretDB
    names itself in `buildInfo`: 1.24 adds `ferretdbVersion` (the local build says "unknown",
    a release its version) and `ferretdbFeatures`, which MongoDB's lacks; `hello` says the same
    on both, so it cannot tell them apart."""
    if _current.bulk_chunk <= FERRETDB_SAFE_BULK:
        return
    info = await db.command("buildInfo")
    if "ferretdbVersion" in info:
        raise UnfitStore(
            f"存储配置 GANXUN_STORE_PROFILE={_current.name} 不能用于 FerretDB"
            f"（buildInfo 报告 ferretdbVersion {info['ferretdbVersion']}）：该配置一条命令批量写入"
            f"多达 {_current.bulk_chunk} 项，会占满 FerretDB 的连接池使其卡死、无法恢复。"
            "请设置 GANXUN_STORE_PROFILE=ferretdb，或把 GANXUN_MONGODB_URI 指向 MongoDB。"
        )


_current = FERRETDB


def use(chosen: Profile | str) -> Profile:
    """Make `chosen` (a Profile or its name) this process's store profile; returns it."""
    global _current
    if isinstance(chosen, str):
        if chosen not in PROFILES:
            raise ValueError(
                f"未知的存储配置 {chosen!r}（GANXUN_STORE_PROFILE），可选：{'、'.join(PROFILES)}"
            )
        chosen = PROFILES[chosen]
    _current = chosen
    return chosen


def profile() -> Profile:
    """This process's store profile (FERRETDB until `use` is called)."""
    return _current


# The BSON binary subtypes of a packed field (128-255 are the user-defined subtypes): a BSON
# document {"v": value}, as it is or compressed with zlib when it is at least PACK_ZLIB_FROM
# bytes. FerretDB's CPU for a binary value goes with its bytes (base64 in JSONB), and
# PostgreSQL compresses what it stores out of line again (pglz): a class's 80 kB of packed
# scope and nominations cost them 5.0 + 3.5 ms per replace, 28 kB compressed 2.5 + 1.5 ms,
# against 0.6 ms of this process's CPU to compress (level 1; micro-bench on the local store).
PACKED = 0x80
PACKED_ZLIB = 0x81
PACK_ZLIB_FROM = 16 * 1024
# The packed value's own decoding: the runtime's client reads dates with their time zone.
_INNER = CodecOptions(tz_aware=True)


def pack(doc: dict, fields: Iterable[str]) -> dict:
    """The document as stored with `fields` packed (a shallow copy; `doc` is not changed)."""
    return pack_measured(doc, fields)[0]


def pack_measured(doc: dict, fields: Iterable[str]) -> tuple[dict, int]:
    """`pack`, and the bytes its compression saved: what the packed fields weigh as BSON
    beyond their stored size. A writer's cache counts a document by its BSON size as the
    measure of the memory it holds (shared/projector.CacheBudget), and a class's scope of
    thousands of cadre ids is stored compressed to a fraction of what it holds in memory."""
    out = dict(doc)
    saved = 0
    for name in fields:
        if name in out:
            raw = bson.encode({"v": out[name]})
            if len(raw) >= PACK_ZLIB_FROM:
                out[name] = Binary(zlib.compress(raw, 1), PACKED_ZLIB)
                saved += len(raw) - len(out[name])
            else:
                out[name] = Binary(raw, PACKED)
    return out, saved


def _unpacked(value: Any) -> Any:
    if not isinstance(value, Binary):
        return value
    if value.subtype == PACKED:
        return bson.decode(value, codec_options=_INNER)["v"]
    if value.subtype == PACKED_ZLIB:
        return bson.decode(zlib.decompress(value), codec_options=_INNER)["v"]
    return value


def unpack(doc: dict) -> dict:
    """Unpack the packed fields of a document read through a handle without `unpacking`
    (in place; returns it)."""
    for name, value in doc.items():
        if isinstance(value, Binary) and value.subtype in (PACKED, PACKED_ZLIB):
            doc[name] = _unpacked(value)
    return doc


class _Unpack(TypeDecoder):
    bson_type = Binary

    def transform_bson(self, value: Any) -> Any:
        return _unpacked(value)


def unpacking(options: CodecOptions) -> CodecOptions:
    """`options` that also read packed fields as their values (Runtime's database)."""
    return options.with_options(type_registry=TypeRegistry([_Unpack()]))


def database(client: Any, name: str) -> AsyncDatabase:
    """The client's database `name`, reading packed fields as their values (the runtime's)."""
    return client.get_database(name, codec_options=unpacking(client.codec_options))


async def gather_chunked(calls: Iterable[Callable[[], Awaitable[T]]], size: int | None = None) -> list[T]:
    size = size or _current.concurrency
    calls = list(calls)
    out: list[T] = []
    for start in range(0, len(calls), size):
        out.extend(await asyncio.gather(*(c() for c in calls[start : start + size])))
    return out


async def find_by_ids(
    coll: AsyncCollection, ids: Sequence[Any], projection: dict | None = None
) -> dict[Any, dict]:
    p = _current
    if p.finds_by_in:
        out: dict[Any, dict] = {}
        for start in range(0, len(ids), p.in_chunk):
            chunk = list(ids[start : start + p.in_chunk])
            out.update({d["_id"]: d async for d in coll.find({"_id": {"$in": chunk}}, projection)})
        return out
    found = await gather_chunked(lambda i=i: coll.find_one({"_id": i}, projection) for i in ids)
    return {d["_id"]: d for d in found if d is not None}


async def delete_by_ids(coll: AsyncCollection, ids: Sequence[Any]) -> None:
    """Delete the documents with these ids (one `$in` delete per chunk, or one by one)."""
    p = _current
    if p.finds_by_in:
        for start in range(0, len(ids), p.in_chunk):
            await coll.delete_many({"_id": {"$in": list(ids[start : start + p.in_chunk])}})
        return
    await gather_chunked(lambda i=i: coll.delete_one({"_id": i}) for i in ids)


class ChunkedBulkError(Exception):
    def __init__(self, failed_indexes: list[int]) -> None:
        super().__init__(f"{len(failed_indexes)} writes failed")
        self.failed_indexes = failed_indexes


# Per event loop, the process's bulk-write commands in flight (`writes_in_flight`): a
# semaphore belongs to the loop it first waited on, and tests run many loops in one process.
_writing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _write_slots(p: Profile) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _writing.get(loop)
    if slots is None:
        slots = _writing[loop] = asyncio.Semaphore(p.writes_in_flight)
    return slots


async def bulk_write(coll: AsyncCollection, ops: list, ordered: bool = False) -> int:
    """Bulk write in chunks; returns the matched count. Raises ChunkedBulkError with the
    indexes (into `ops`) of writes that failed, after trying every chunk.

    An unordered write of several chunks sends them `writes_in_flight` at a time, counted
    across the process: a projector rewriting 600 per-cadre documents one command each, in
    turn, waited for 600 round trips and as many PostgreSQL commits per batch (the build of
    bench/history.py, docs/benchmarks.md "The county at full size"). The bound is the
    process's, not the writer's, so the commands FerretDB holds at once stay few (above)."""
    p = _current
    chunks: list[tuple[int, int]] = []
    start = 0
    while start < len(ops):
        end = start + p.bulk_chunk
        if isinstance(ops[start], InsertOne) and p.insert_chunk > p.bulk_chunk:
            end = start + 1
            while end < len(ops) and end - start < p.insert_chunk and isinstance(ops[end], InsertOne):
                end += 1
        chunks.append((start, end))
        start = end
    matched = 0
    failed: list[int] = []

    async def send(start: int, end: int) -> None:
        nonlocal matched
        try:
            res = await coll.bulk_write(ops[start:end], ordered=ordered)
            matched += res.matched_count
        except BulkWriteError as exc:
            matched += exc.details.get("nMatched", 0)
            failed.extend(start + e["index"] for e in exc.details.get("writeErrors", []))

    if ordered or len(chunks) < 2 or p.writes_in_flight < 2:
        for start, end in chunks:
            await send(start, end)
    else:
        slots = _write_slots(p)

        async def slotted(start: int, end: int) -> None:
            async with slots:
                await send(start, end)

        # Every chunk is tried before an error is raised: none is left writing behind it.
        outcomes = await asyncio.gather(*(slotted(s, e) for s, e in chunks), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise errors[0]
    if failed:
        raise ChunkedBulkError(sorted(failed))
    return matched
