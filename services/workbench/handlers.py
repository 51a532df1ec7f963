"""The workbench's handlers: logging in and out, the session, and forwarding a call to a
service with the user's own token. The workbench decides nothing about the work: a
service's answer (its status and Chinese error body) goes back to the page unchanged.

`Handlers` gets its settings, one HTTP client, the identity provider (oidc.py) and the
session store (reads.py); service.py's `bootstrap` composes them. No HTTP request or
response here: api.py translates.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from services.workbench import oidc
from services.workbench.reads import Session, SessionStore
from services.workbench.settings import SERVICES, WorkbenchSettings
from shared.errors import GanxunError, NotFound, Unauthenticated

SERVICE_ZH = {
    "selection": "训前选学",
    "teaching": "教学与考勤",
    "records": "纪实考察",
    "followup": "训后跟踪",
    "reminders": "提醒",
    "dashboard": "省级看板",
}


class Unreachable(GanxunError):
    status = 502
    code = "service_unreachable"


@dataclass(frozen=True)
class Call:
    """A call to forward: what the page sent, less its cookies."""

    method: str
    path: str
    params: list[tuple[str, str]]
    body: bytes
    headers: dict[str, str]


def local_path(value: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class Handlers:
    def __init__(
        self,
        settings: WorkbenchSettings,
        http: httpx.AsyncClient,
        provider: oidc.Provider,
        sessions: SessionStore,
    ) -> None:
        self.settings = settings
        self.http = http
        self.provider = provider
        self.sessions = sessions

    async def login(self, next_path: str | None) -> str:
        """The identity provider's login page to send the browser to (a PKCE login begun)."""
        verifier, challenge = oidc.pkce_pair()
        nonce = secrets.token_urlsafe(16)
        state = await self.sessions.begin_login(verifier, nonce, local_path(next_path))
        endpoint = (await self.provider.config())["authorization_endpoint"]
        return oidc.authorize_url(
            endpoint,
            client_id=self.settings.client_id,
            redirect_uri=self.settings.redirect_uri,
            state=state,
            nonce=nonce,
            challenge=challenge,
        )

    async def callback(
        self, state: str, code: str, error: str, error_description: str
    ) -> tuple[Session, str]:
        """The session the provider's answer opens, and where the user was going."""
        pending = await self.sessions.finish_login(state)
        if error:
            raise Unauthenticated(f"登录未完成：{error_description or error}", code="login_failed")
        if pending is None or not code:
            raise Unauthenticated("登录请求已过期或无效，请重新登录。", code="login_state_invalid")
        tokens = await self.provider.exchange(code, pending.verifier, self.settings.redirect_uri)
        if tokens.id_token and oidc.claims_of(tokens.id_token).get("nonce") != pending.nonce:
            raise Unauthenticated("登录校验失败（nonce 不符），请重新登录。", code="login_nonce_invalid")
        user = oidc.user_of(oidc.claims_of(tokens.access))
        return await self.sessions.create(user, tokens), pending.back_to

    async def session(self, sid: str | None) -> Session:
        s = await self.sessions.get(sid)
        if s is None:
            raise Unauthenticated("未登录或登录已过期，请重新登录。", code="login_required")
        return s

    async def logout(self, s: Session) -> None:
        await self.sessions.end(s.sid)
        await self.provider.revoke(s.tokens)

    async def fresh_token(self, s: Session) -> str:
        """The session's access token, refreshed server-side when it is about to expire."""
        if s.tokens.stale():
            if not s.tokens.refresh:
                await self.sessions.end(s.sid)
                raise Unauthenticated("登录已过期，请重新登录。", code="login_expired")
            try:
                await self.sessions.save_tokens(s, await self.provider.refresh(s.tokens.refresh))
            except Unauthenticated:
                await self.sessions.end(s.sid)
                raise
        return s.tokens.access

    def service_url(self, service: str) -> str:
        base = self.settings.service_url(service)
        if base is None:
            raise NotFound(
                f"没有名为“{service}”的服务；可用：{'、'.join(SERVICES)}。", code="unknown_service"
            )
        return base

    async def forward(self, service: str, s: Session, call: Call) -> httpx.Response:
        """The service's answer to the call, sent with the user's own (fresh) token."""
        base = self.service_url(service)
        headers = {**call.headers, "authorization": f"Bearer {await self.fresh_token(s)}"}
        try:
            return await self.http.request(
                call.method,
                f"{base}/{call.path}",
                params=call.params,
                content=call.body,
                headers=headers,
                timeout=self.settings.forward_timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise Unreachable(f"“{SERVICE_ZH[service]}”服务暂时无法访问，请稍后再试。") from exc
