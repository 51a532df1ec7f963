"""In-memory adapters behind the kernel's ports, for handler tests that start no server.

`MemoryEventStore` keeps commits in a dict with the same promises as `EventStore` (the
optimistic version check, one commit per command, a retried request's commit found by
its id), so `CommandHandler(MemoryEventStore())` is a real executor: the deciders, the
retry and the natural-key check run as in production. `fold_projection` runs a
service's declarative projection over events into plain documents, from which a
service's fake reads answer. `FixedClock` is a clock a test sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from shared.clock import CHINA
from shared.errors import ConcurrencyConflict
from shared.events import CATALOGUE, Catalogue, Envelope, Event
from shared.ids import new_id
from shared.projection import Projection


class MemoryEventStore:
    def __init__(self) -> None:
        self.commits: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, list[str]] = {}

    async def ensure_indexes(self) -> None:
        return None

    def _check(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> None:
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(f"event {env.type} does not follow {stream_id}@{expected_version}")

    def _version(self, stream_id: str) -> int:
        ids = self.streams.get(stream_id, [])
        return self.commits[ids[-1]]["last_version"] if ids else 0

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[Envelope], commit_id: str | None = None
    ) -> None:
        if not events:
            return
        self._check(stream_id, expected_version, events)
        cid = commit_id or new_id()
        if cid in self.commits or self._version(stream_id) != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version)
        self.commits[cid] = {
            "stream_id": stream_id,
            "version": expected_version + 1,
            "last_version": expected_version + len(events),
            "events": list(events),
        }
        self.streams.setdefault(stream_id, []).append(cid)

    async def append_many(self, appends: Sequence[tuple[str, int, Sequence[Envelope]]]) -> set[str]:
        conflicts: set[str] = set()
        for stream_id, expected_version, events in appends:
            try:
                await self.append(stream_id, expected_version, events)
            except ConcurrencyConflict:
                conflicts.add(stream_id)
        return conflicts

    async def applied(self, commit_id: str) -> tuple[str, list[Envelope] | None]:
        doc = self.commits.get(commit_id)
        return commit_id, (None if doc is None else list(doc["events"]))

    async def read_commits(self, stream_id: str) -> list[list[Envelope]]:
        return [list(self.commits[c]["events"]) for c in self.streams.get(stream_id, [])]

    async def read_stream(self, stream_id: str) -> list[Envelope]:
        return [e for commit in await self.read_commits(stream_id) for e in commit]

    def all_events(self) -> list[Envelope]:
        """Every stored event in append order (what the relay would publish)."""
        return [e for doc in self.commits.values() for e in doc["events"]]


def fold_projection(
    projection: Projection,
    envelopes: Iterable[Envelope],
    docs: dict[str, dict[str, Any]] | None = None,
    catalogue: Catalogue = CATALOGUE,
) -> dict[str, dict[str, Any]]:
    """The projection's documents after these events, as the projector would write them."""
    docs = {} if docs is None else docs
    items = []
    for env in envelopes:
        event: Event = catalogue.model(env.type).model_validate(catalogue.upcast(env).payload)
        routed = projection.route(env, event)
        if routed is not None:
            items.append((routed[0], env, event, routed[1]))
    projection.fold(docs, items)
    return docs


@dataclass
class FixedClock:
    """A clock a test sets: `FixedClock(date(2026, 3, 2))`, moved with `.day = …`."""

    day: date
    at: time = field(default=time(9, 0))

    async def today(self) -> date:
        return self.day

    async def now(self) -> datetime:
        return datetime.combine(self.day, self.at, tzinfo=CHINA)


# -- an in-memory database ------------------------------------------------------------
# The subset of PyMongo's async collection API that services' reads use (point reads,
# scans with simple filters, $set updates), so a service's real `reads.py` runs over the
# documents `fold_projection` made. Not a MongoDB: an operator it does not know fails loudly.

_MISSING = object()


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    parts = path.split(".")
    for n, part in enumerate(parts):
        if isinstance(cur, list):  # a path into an array's documents: their values, as MongoDB matches
            rest = ".".join(parts[n:])
            found = [
                v for item in cur if isinstance(item, dict) for v in [_get(item, rest)] if v is not _MISSING
            ]
            return found or _MISSING
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


def _compare(value: Any, cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        return all(_operator(value, op, arg) for op, arg in cond.items())
    if isinstance(value, list) and not isinstance(cond, list):
        return cond in value
    return value is not _MISSING and value == cond


def _operator(value: Any, op: str, arg: Any) -> bool:
    present = value is not _MISSING
    values = value if isinstance(value, list) else [value]
    match op:
        case "$in":
            return present and any(v in arg for v in values)
        case "$nin":
            return not present or not any(v in arg for v in values)
        case "$ne":
            return not present or (arg not in values)
        case "$exists":
            return present == bool(arg)
        case "$gt":
            return present and value is not None and value > arg
        case "$gte":
            return present and value is not None and value >= arg
        case "$lt":
            return present and value is not None and value < arg
        case "$lte":
            return present and value is not None and value <= arg
        case "$regex":
            import re

            return present and isinstance(value, str) and re.search(arg, value) is not None
    raise NotImplementedError(f"MemoryCollection does not know {op}")


def matches(doc: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    for key, cond in (flt or {}).items():
        if key == "$and":
            if not all(matches(doc, f) for f in cond):
                return False
        elif key == "$or":
            if not any(matches(doc, f) for f in cond):
                return False
        elif not _compare(_get(doc, key), cond):
            return False
    return True


def _project(doc: dict[str, Any], projection: dict[str, Any] | None) -> dict[str, Any]:
    import copy

    doc = copy.deepcopy(doc)
    if not projection:
        return doc
    included = {k for k, v in projection.items() if v and k != "_id"}
    if included:
        out = {k: doc[k.split(".")[0]] for k in included if k.split(".")[0] in doc}
        if projection.get("_id", 1):
            out["_id"] = doc["_id"]
        return out
    return {k: v for k, v in doc.items() if k not in projection}


class MemoryCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs
        self._skip = 0
        self._limit = 0

    def sort(self, key: str | list, direction: int = 1) -> MemoryCursor:
        keys = [(key, direction)] if isinstance(key, str) else list(key)
        for k, d in reversed(keys):
            self._docs.sort(key=lambda doc: (_get(doc, k) is _MISSING, _get(doc, k)), reverse=d < 0)
        return self

    def skip(self, n: int) -> MemoryCursor:
        self._skip = n
        return self

    def limit(self, n: int) -> MemoryCursor:
        self._limit = n
        return self

    def _window(self) -> list[dict[str, Any]]:
        docs = self._docs[self._skip :]
        return docs[: self._limit] if self._limit else docs

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        docs = self._window()
        return docs[:length] if length else docs

    async def close(self) -> None:
        """As pymongo's: the relay closes the outbox's cursor when it stops reading early."""

    def __aiter__(self):
        async def gen():
            for d in self._window():
                yield d

        return gen()


@dataclass
class _Result:
    matched_count: int = 0
    modified_count: int = 0
    upserted_id: Any = None
    deleted_count: int = 0
    inserted_id: Any = None


class MemoryCollection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.docs: dict[Any, dict[str, Any]] = {}

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        return "memory"

    async def drop(self) -> None:
        """As the driver's: the collection empty (a projection's rebuild starts with it)."""
        self.docs.clear()

    def find(
        self, flt: dict | None = None, projection: dict | None = None, batch_size: int = 0
    ) -> MemoryCursor:
        """As the driver's (`batch_size`: how many documents it decodes at a time; here every
        document is held already)."""
        return MemoryCursor([_project(d, projection) for d in self.docs.values() if matches(d, flt)])

    async def find_one(self, flt: dict | None = None, projection: dict | None = None) -> dict | None:
        for d in self.docs.values():
            if matches(d, flt):
                return _project(d, projection)
        return None

    async def count_documents(self, flt: dict | None = None) -> int:
        return sum(1 for d in self.docs.values() if matches(d, flt))

    async def distinct(self, key: str, flt: dict | None = None) -> list[Any]:
        out: list[Any] = []
        for d in self.docs.values():
            v = _get(d, key)
            if matches(d, flt) and v is not _MISSING:
                for x in v if isinstance(v, list) else [v]:
                    if x not in out:
                        out.append(x)
        return out

    async def insert_one(self, doc: dict[str, Any]) -> _Result:
        from pymongo.errors import DuplicateKeyError

        doc.setdefault("_id", new_id())
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        import copy

        self.docs[doc["_id"]] = copy.deepcopy(doc)
        return _Result(inserted_id=doc["_id"])

    async def insert_many(self, docs: Iterable[dict[str, Any]], ordered: bool = True) -> None:
        """As pymongo: a duplicate `_id` stops an ordered insert; unordered, the others go in;
        either way a BulkWriteError lists the refused ones by index."""
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        errors = []
        for i, d in enumerate(docs):
            try:
                await self.insert_one(d)
            except DuplicateKeyError:
                errors.append({"index": i, "code": 11000})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": 0})

    async def update_one(self, flt: dict, update: dict, upsert: bool = False) -> _Result:
        target = next((d for d in self.docs.values() if matches(d, flt)), None)
        if target is None:
            if not upsert:
                return _Result()
            target = {k: v for k, v in flt.items() if not k.startswith("$") and not isinstance(v, dict)}
            target.update(update.get("$setOnInsert", {}))
            target.setdefault("_id", new_id())
            self.docs[target["_id"]] = target
            self._apply(target, update)
            return _Result(upserted_id=target["_id"])
        self._apply(target, update)
        return _Result(matched_count=1, modified_count=1)

    @staticmethod
    def _apply(doc: dict[str, Any], update: dict) -> None:
        for op, fields in update.items():
            for path, value in fields.items():
                *parents, last = path.split(".")
                cur = doc
                for p in parents:
                    cur = cur.setdefault(p, {})
                if op == "$set":
                    cur[last] = value
                elif op == "$inc":
                    cur[last] = cur.get(last, 0) + value
                elif op == "$unset":
                    cur.pop(last, None)
                elif op == "$push":
                    cur.setdefault(last, []).append(value)
                elif op != "$setOnInsert":
                    raise NotImplementedError(f"MemoryCollection does not know {op}")

    async def replace_one(self, flt: dict, doc: dict, upsert: bool = False) -> _Result:
        target = next((d for d in self.docs.values() if matches(d, flt)), None)
        if target is None and not upsert:
            return _Result()
        doc = dict(doc)
        doc.setdefault("_id", target["_id"] if target else flt.get("_id", new_id()))
        self.docs[doc["_id"]] = doc
        return _Result(matched_count=0 if target is None else 1)

    async def bulk_write(self, ops: list, ordered: bool = True) -> _Result:
        """PyMongo's write models (ReplaceOne, UpdateOne, DeleteOne, InsertOne), one by one."""
        from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        matched = 0
        errors: list[dict] = []
        for i, op in enumerate(ops):
            if isinstance(op, ReplaceOne):
                matched += (
                    await self.replace_one(op._filter, op._doc, upsert=bool(op._upsert))
                ).matched_count
            elif isinstance(op, UpdateOne):
                matched += (await self.update_one(op._filter, op._doc, upsert=bool(op._upsert))).matched_count
            elif isinstance(op, DeleteOne):
                await self.delete_one(op._filter)
            elif isinstance(op, InsertOne):
                try:
                    await self.insert_one(op._doc)
                except DuplicateKeyError:  # reported as the server does, with the others' outcome
                    errors.append({"index": i, "code": 11000})
                    if ordered:
                        break
            else:
                raise NotImplementedError(f"MemoryCollection does not know {type(op).__name__}")
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nMatched": matched})
        return _Result(matched_count=matched)

    async def delete_one(self, flt: dict) -> _Result:
        for k, d in list(self.docs.items()):
            if matches(d, flt):
                del self.docs[k]
                return _Result(deleted_count=1)
        return _Result()

    async def delete_many(self, flt: dict) -> _Result:
        gone = [k for k, d in self.docs.items() if matches(d, flt)]
        for k in gone:
            del self.docs[k]
        return _Result(deleted_count=len(gone))


class MemoryDatabase:
    """`db["name"]` as in PyMongo; `load(projection, envelopes)` fills a projection's
    collection from events the way the projector would."""

    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection(name))

    def load(self, projection: Projection, envelopes: Iterable[Envelope]) -> None:
        coll = self[projection.collection]
        fold_projection(projection, envelopes, coll.docs)

    async def command(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"ok": 1}
