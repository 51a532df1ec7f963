"""Idempotent commands: the `Idempotency-Key` header, for every command route of every service.

A client that did not get an answer (a lost response, a timeout, a crashed service)
sends the same request again with the same key. The key is remembered per deployment
(each service deployment has its own database) and per user (the token's subject), so
one user's key never answers another's request.

The rules (`decide`, pure):
- a new key runs the command and its answer (status and body) is remembered;
- the same key with the same request (method, path, query, body) gets the remembered
  answer again, marked `Idempotent-Replayed: true`, and appends nothing;
- the same key with another request is refused: 422 `idempotency_key_reused`;
- a key is remembered for `TTL` (24 hours) after it was first used; after that it is
  new again.

The crash window: the key is claimed (with the request's fingerprint) before the
command runs, and the answer stored after. A crash in between leaves a claim without
an answer; the retry then runs the command again with the same seed
(shared/ids.Seed): the route makes the same ids, and the command handler finds the
commit the first attempt appended under an id derived from the key
(EventStore.applied) and answers with it, so nothing is appended twice. Two attempts
running at once are safe the same way: both commits would have the same `_id`.

Answers remembered: 2xx and the refusals a retry would get again (400, 404, 422).
Not remembered (the retry runs again): 401/403 (a token problem, checked again), 409
(a conflict: try again), 429 and 5xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared import ids
from shared.events import utcnow

log = structlog.get_logger("idempotency")

HEADER = "idempotency-key"
COLLECTION = "idempotency"
TTL = timedelta(hours=24)
MAX_KEY = 255
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REMEMBERED_STATUSES = frozenset({400, 404, 422})
MAX_BODY = 4 * 1024 * 1024  # an answer larger than this is not kept (none of ours is)
SWEEP_EVERY = 600.0  # seconds between deletions of expired keys, per process


# -- the rules (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class Remembered:
    """What the store holds for one key."""

    fingerprint: str
    first_at: datetime
    status: int | None = None  # None: claimed, no answer yet (running, or crashed)
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True)
class Decision:
    action: str  # "run" | "resume" | "replay" | "refuse"
    remembered: Remembered | None = None


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def scope(deployment: str, user_id: str, key: str) -> str:
    """The stored id of a key: one deployment's, one user's."""
    return hashlib.sha256(f"{deployment}\x00{user_id}\x00{key}".encode()).hexdigest()


def expired(r: Remembered, now: datetime) -> bool:
    return now - r.first_at >= TTL


def decide(remembered: Remembered | None, fp: str, now: datetime) -> Decision:
    if remembered is None or expired(remembered, now):
        return Decision("run")
    if remembered.fingerprint != fp:
        return Decision("refuse", remembered)
    if remembered.status is None:
        return Decision("resume", remembered)
    return Decision("replay", remembered)


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding): the seed of a request's ids."""
    return (at - datetime(1970, 1, 1, tzinfo=at.tzinfo or UTC)) // timedelta(milliseconds=1)


def worth_remembering(status: int) -> bool:
    return 200 <= status < 300 or status in REMEMBERED_STATUSES


def key_problem(key: str) -> str | None:
    if not key.strip():
        return "Idempotency-Key 不能为空。"
    if len(key) > MAX_KEY:
        return f"Idempotency-Key 过长（{len(key)} 个字符，最多 {MAX_KEY} 个）。"
    if not all(32 < ord(c) < 127 for c in key):
        return "Idempotency-Key 只能含可见的 ASCII 字符（建议使用 UUID）。"
    return None


def reused_message(key: str) -> str:
    return (
        f"幂等键 {key} 已用于另一请求（操作、地址或内容不同），本次请求未执行。"
        "每个新操作请使用新的幂等键；重试同一操作时请原样重发原请求。"
    )


# -- the store ------------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


class Keys:
    def __init__(self, db: AsyncDatabase) -> None:
        self.coll = db[COLLECTION]
        self._swept = 0.0

    @staticmethod
    def _of(doc: dict) -> Remembered:
        return Remembered(
            fingerprint=doc["fingerprint"],
            first_at=_utc(doc["first_at"]),
            status=doc.get("status"),
            body=bytes(doc.get("body") or b""),
            content_type=doc.get("content_type") or "application/json",
        )

    async def get(self, sid: str) -> Remembered | None:
        doc = await self.coll.find_one({"_id": sid})
        return self._of(doc) if doc else None

    async def claim(self, sid: str, fp: str, now: datetime, previous: Remembered | None) -> Remembered | None:
        """Claim a key for a request; returns what another request stored first, if it did."""
        if previous is not None:  # expired: start again under the same id
            await self.coll.delete_one({"_id": sid, "first_at": previous.first_at})
        try:
            await self.coll.insert_one({"_id": sid, "fingerprint": fp, "first_at": now, "status": None})
            return None
        except DuplicateKeyError:
            return await self.get(sid)

    async def answer(self, sid: str, status: int, body: bytes, content_type: str) -> None:
        await self.coll.update_one(
            {"_id": sid}, {"$set": {"status": status, "body": body, "content_type": content_type}}
        )

    async def sweep(self, now: datetime) -> None:
        if time.monotonic() - self._swept < SWEEP_EVERY:
            return
        self._swept = time.monotonic()
        try:
            await self.coll.delete_many({"first_at": {"$lt": now - TTL}})
        except Exception:  # noqa: BLE001 - a sweep may fail; the rules ignore expired keys anyway
            log.exception("idempotency.sweep_failed")


# -- the HTTP edge ---------------------------------------------------------------------------


def _json(status: int, body: dict) -> tuple[int, bytes]:
    return status, json.dumps(body, ensure_ascii=False).encode()


class IdempotencyMiddleware:
    """ASGI middleware: every command route (POST, PUT, PATCH, DELETE) of the app honours
    an Idempotency-Key header. Requests without one pass through untouched."""

    def __init__(self, app) -> None:
        self.app = app

    # long: one pass of the ASGI call: claim the key, replay or run, record the answer
    async def __call__(self, scope_, receive, send) -> None:
        if scope_["type"] != "http" or scope_["method"] not in COMMAND_METHODS:
            return await self.app(scope_, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope_["headers"]}
        key = headers.get(HEADER)
        if key is None:
            return await self.app(scope_, receive, send)
        problem = key_problem(key)
        if problem:
            return await self._send(
                send,
                *_json(400, {"code": "bad_idempotency_key", "message": problem, "field": "Idempotency-Key"}),
            )
        rt = scope_["app"].state.runtime
        try:
            who = rt.verifier.verify(headers.get("authorization"))
        except Exception:  # noqa: BLE001 - not signed in: the route answers 401 itself
            return await self.app(scope_, receive, send)

        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope_.get("query_string", b"").decode("latin-1")
        fp = fingerprint(scope_["method"], scope_["path"], query, body)
        sid = scope(rt.settings.deployment, who.user_id, key)
        keys = getattr(rt, "idempotency_keys", None)
        if keys is None:
            keys = rt.idempotency_keys = Keys(rt.db)
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the store keeps it
        await keys.sweep(now)
        previous = await keys.get(sid)
        decision = decide(previous, fp, now)
        if decision.action == "run":
            other = await keys.claim(sid, fp, now, previous)
            decision = Decision("resume", Remembered(fp, now)) if other is None else decide(other, fp, now)
        if decision.action == "refuse":
            log.info("idempotency.key_reused", key=key)
            return await self._send(
                send,
                *_json(
                    422,
                    {
                        "code": "idempotency_key_reused",
                        "message": reused_message(key),
                        "field": "Idempotency-Key",
                    },
                ),
            )
        r = decision.remembered
        if decision.action == "replay":
            log.info("idempotency.replayed", key=key, status=r.status)
            return await self._send(send, r.status, r.body, r.content_type, replayed=True)

        # run (or resume after a crash) with the ids of the first attempt
        seed = ids.Seed(key=sid, first_ms=epoch_ms(r.first_at))
        # The answer is held back until it is remembered: a client that gets it and sends
        # the request again at once must find it (else it would run the command again).
        held: dict[str, Any] = {"start": None, "chunks": [], "size": 0}
        delivered = False

        async def replay_receive():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message):
            if message["type"] == "http.response.start":
                held["start"] = message
                return
            if message["type"] != "http.response.body":
                return await send(message)
            held["chunks"].append(message.get("body", b""))
            held["size"] += len(held["chunks"][-1])
            if message.get("more_body"):
                if held["size"] > MAX_BODY:  # too large to keep: let it through as it comes
                    await self._flush(send, held, more=True)
                return
            await self._remember(keys, sid, key, held)
            await self._flush(send, held, more=False)

        token = ids.seeded(seed)
        try:
            await self.app(scope_, replay_receive, capture)
        finally:
            ids.unseed(token)

    @staticmethod
    async def _remember(keys: Keys, sid: str, key: str, held: dict) -> None:
        start = held["start"]
        if start is None or not worth_remembering(start["status"]) or held["size"] > MAX_BODY:
            return
        content_type = "application/json"
        for k, v in start.get("headers", []):
            if k.lower() == b"content-type":
                content_type = v.decode("latin-1")
        try:
            await asyncio.shield(keys.answer(sid, start["status"], b"".join(held["chunks"]), content_type))
        except Exception:  # noqa: BLE001 - the claim stays; a retry resumes and finds the commit
            log.exception("idempotency.answer_not_stored", key=key)

    @staticmethod
    async def _flush(send, held: dict, more: bool) -> None:
        if held["start"] is not None:
            await send(held["start"])
            held["start"] = None
        await send({"type": "http.response.body", "body": b"".join(held["chunks"]), "more_body": more})
        held["chunks"], held["size"] = [], (held["size"] if more else 0)

    @staticmethod
    async def _send(
        send, status: int, body: bytes, content_type: str = "application/json", replayed: bool = False
    ) -> None:
        headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
        ]
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
