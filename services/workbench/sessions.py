"""Server-side sessions: the browser holds only a random session id (httpOnly cookie);
the tokens stay here. Each session has its own CSRF token, which the page sends back
in a header on every state-changing call (double submit against the session).

Kept in this process's memory: one workbench process per deployment, and a restart
asks everyone to log in again (the identity provider's session usually makes that one
click). A login in progress (state, nonce, PKCE verifier) lives here too, for at most
ten minutes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from services.workbench.oidc import Tokens, User

PENDING_SECONDS = 600


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


class SessionStore:
    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingLogin] = {}

    def begin_login(self, verifier: str, nonce: str, back_to: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        self._pending = {k: p for k, p in self._pending.items() if now - p.started < PENDING_SECONDS}
        state = secrets.token_urlsafe(24)
        self._pending[state] = PendingLogin(verifier, nonce, back_to, now)
        return state

    def finish_login(self, state: str, now: float | None = None) -> PendingLogin | None:
        """The login this state started, once: a replayed or stale state is None."""
        p = self._pending.pop(state, None)
        now = time.time() if now is None else now
        return p if p and now - p.started < PENDING_SECONDS else None

    def create(self, user: User, tokens: Tokens) -> Session:
        s = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(24), user=user, tokens=tokens)
        self._sessions[s.sid] = s
        return s

    def get(self, sid: str | None, now: float | None = None) -> Session | None:
        if not sid:
            return None
        s = self._sessions.get(sid)
        now = time.time() if now is None else now
        if s is None:
            return None
        if now - s.last_seen > self.idle_seconds:
            self._sessions.pop(sid, None)
            return None
        s.last_seen = now
        return s

    def end(self, sid: str | None) -> Session | None:
        return self._sessions.pop(sid, None) if sid else None
