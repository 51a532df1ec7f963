"""Server-side sessions, kept in the store so that a restart logs nobody out (issue 17).

The browser holds only a random session id (httpOnly cookie); the tokens stay here.
Each session has its own CSRF token, which the page sends back in a header on every
state-changing call (double submit against the session). A login in progress (state,
nonce, PKCE verifier) is kept here too, for at most ten minutes, so a restart between
the redirect to the identity provider and its callback does not break it either.

The only module of the workbench that touches its collections (the workbench's own
database, GANXUN_WORKBENCH_DATABASE):
* `sessions` — one document per session, keyed by the SHA-256 of the session id, so
  the store never holds a cookie that would log anyone in; the user as the page shows
  them, the tokens (refreshed server-side), `last_seen` for the idle timeout.
* `logins`   — one document per login in progress, keyed by its `state`, taken once.

Every read and write is by `_id` (on FerretDB anything else scans the collection,
shared/store.py); the sweep of idle sessions and stale logins scans (130 ms at a few
hundred sessions, measured), so it runs at a login and at most once in ten minutes per
process; a session past its idle time is refused when read, swept or not. `last_seen` is
written at most once a minute per session, not on every request: the idle timeout (at
least five minutes) then ends a session within a minute of its due time, which it does
not need finer.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.workbench.oidc import Tokens, User

SESSIONS = "sessions"
LOGINS = "logins"
PENDING_SECONDS = 600
TOUCH_EVERY = 60.0
SWEEP_EVERY = 600.0


@dataclass
class Session:
    sid: str
    csrf: str
    user: User
    tokens: Tokens
    last_seen: float = field(default_factory=time.time)


@dataclass(frozen=True)
class PendingLogin:
    verifier: str
    nonce: str
    back_to: str
    started: float


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


def _document(s: Session) -> dict[str, Any]:
    return {
        "_id": _key(s.sid),
        "csrf": s.csrf,
        "user": asdict(s.user),
        "tokens": asdict(s.tokens),
        "last_seen": s.last_seen,
    }


class SessionStore:
    def __init__(self, db: AsyncDatabase | Any, idle_seconds: float) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        self._swept_at: dict[str, float] = {}

    async def _sweep(self, collection: str, field: str, older_than: float, now: float) -> None:
        if now - self._swept_at.get(collection, float("-inf")) >= SWEEP_EVERY:
            self._swept_at[collection] = now
            await self.db[collection].delete_many({field: {"$lt": older_than}})

    # -- logins in progress ---------------------------------------------------------------
    async def begin_login(self, verifier: str, nonce: str, back_to: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        await self._sweep(LOGINS, "started", now - PENDING_SECONDS, now)
        state = secrets.token_urlsafe(24)
        pending = PendingLogin(verifier, nonce, back_to, now)
        await self.db[LOGINS].insert_one({"_id": state, **asdict(pending)})
        return state

    async def finish_login(self, state: str, now: float | None = None) -> PendingLogin | None:
        """The login this state started, once: a replayed or stale state is None."""
        if not state:
            return None
        doc = await self.db[LOGINS].find_one({"_id": state})
        if doc is None or (await self.db[LOGINS].delete_one({"_id": state})).deleted_count != 1:
            return None  # unknown, or taken by a concurrent callback with the same state
        now = time.time() if now is None else now
        doc.pop("_id")
        p = PendingLogin(**doc)
        return p if now - p.started < PENDING_SECONDS else None

    # -- sessions -------------------------------------------------------------------------
    async def create(self, user: User, tokens: Tokens, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        await self._sweep(SESSIONS, "last_seen", now - self.idle_seconds, now)
        s = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(24),
            user=user,
            tokens=tokens,
            last_seen=now,
        )
        await self.db[SESSIONS].insert_one(_document(s))
        return s

    async def get(self, sid: str | None, now: float | None = None) -> Session | None:
        if not sid:
            return None
        doc = await self.db[SESSIONS].find_one({"_id": _key(sid)})
        if doc is None:
            return None
        now = time.time() if now is None else now
        if now - doc["last_seen"] > self.idle_seconds:
            await self.db[SESSIONS].delete_one({"_id": _key(sid)})
            return None
        if now - doc["last_seen"] >= TOUCH_EVERY:
            await self.db[SESSIONS].update_one({"_id": _key(sid)}, {"$set": {"last_seen": now}})
            doc["last_seen"] = now
        return Session(
            sid=sid,
            csrf=doc["csrf"],
            user=User(**doc["user"]),
            tokens=Tokens(**doc["tokens"]),
            last_seen=doc["last_seen"],
        )

    async def save_tokens(self, s: Session, tokens: Tokens) -> None:
        """The refreshed tokens, for this request and every later one."""
        s.tokens = tokens
        await self.db[SESSIONS].update_one({"_id": _key(s.sid)}, {"$set": {"tokens": asdict(tokens)}})

    async def reachable(self) -> str:
        """ "ok", or why the store cannot be reached (for the readiness check)."""
        try:
            await self.db.command("ping")
            return "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised: readiness says what is wrong
            return f"不可达: {exc}"

    async def end(self, sid: str | None) -> None:
        if sid:
            await self.db[SESSIONS].delete_one({"_id": _key(sid)})
