"""OpenID Connect authorization-code flow with PKCE (S256), as a public client.

Pure pieces (the PKCE pair, the authorize URL, reading the user from a token) are
plain functions; `Provider` does the HTTP with the identity provider: its discovery
document, the code exchange, refresh and logout.

The workbench reads the user's name, role, unit and jurisdiction from the access
token without checking its signature: it received the token itself, over the back
channel, from the token endpoint named in the discovery document (OIDC Core 3.1.3.7),
and never grants anything on it — every service it forwards to verifies the token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt

from shared import jurisdiction as jur
from shared.auth import ROLES
from shared.errors import Unauthenticated


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    endpoint: str, *, client_id: str, redirect_uri: str, state: str, nonce: str, challenge: str
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "ui_locales": "zh-CN",
    }
    return f"{endpoint}?{urlencode(query)}"


@dataclass(frozen=True)
class User:
    """Who is logged in, as the page shows it (姓名、角色、单位、辖区)."""

    user_id: str
    name: str
    role: str
    role_zh: str
    jurisdiction: str
    unit: str | None

    def as_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
            "role_zh": self.role_zh,
            "jurisdiction": self.jurisdiction,
            "unit": self.unit,
            "jurisdiction_name": jurisdiction_name(self.jurisdiction),
        }


def jurisdiction_name(code: str) -> str:
    """省市县 names of a division code (山东省德州市武城县); empty when the table knows none."""
    return "".join(c["name"] for c in jur.chain(code) if c["name"] != c["code"])


def claims_of(token: str) -> dict:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"身份认证服务返回的令牌无法读取：{exc}", code="bad_token") from exc


def user_of(claims: dict) -> User:
    """The user from token claims: a `role`, or else the ganxun role among the `roles`
    list (the realm's mapper) or Keycloak's own `realm_access.roles`."""
    role = claims.get("role")
    if not role:
        listed = [*(claims.get("roles") or []), *(claims.get("realm_access") or {}).get("roles", [])]
        known = [r for r in listed if r in ROLES]
        role = known[0] if known else ""
    if role not in ROLES:
        raise Unauthenticated("该账号没有干训系统的角色，请联系管理员分配角色。", code="no_role")
    if not claims.get("jurisdiction"):
        raise Unauthenticated("该账号未设置所属辖区，请联系管理员。", code="no_jurisdiction")
    name = claims.get("name") or claims.get("preferred_username") or str(claims.get("sub", ""))
    return User(
        user_id=str(claims.get("sub", "")),
        name=str(name),
        role=role,
        role_zh=ROLES[role],
        jurisdiction=str(claims["jurisdiction"]),
        unit=claims.get("unit") or None,
    )


@dataclass
class Tokens:
    access: str
    refresh: str | None
    id_token: str | None
    expires_at: float
    refresh_expires_at: float | None

    @classmethod
    def from_response(cls, body: dict, now: float | None = None) -> Tokens:
        now = time.time() if now is None else now
        refresh_in = body.get("refresh_expires_in")
        return cls(
            access=body["access_token"],
            refresh=body.get("refresh_token"),
            id_token=body.get("id_token"),
            expires_at=now + float(body.get("expires_in", 60)),
            refresh_expires_at=now + float(refresh_in) if refresh_in else None,
        )

    def stale(self, now: float | None = None, margin: float = 20.0) -> bool:
        return (time.time() if now is None else now) >= self.expires_at - margin


class Provider:
    """The identity provider's endpoints, from its discovery document (fetched once)."""

    def __init__(self, issuer: str, client_id: str, client: httpx.AsyncClient) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._http = client
        self._config: dict | None = None

    async def config(self) -> dict:
        if self._config is None:
            try:
                r = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise Unauthenticated(
                    f"身份认证服务（{self.issuer}）暂时无法访问，请稍后再试。", code="idp_unreachable"
                ) from exc
            self._config = r.json()
        return self._config

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> Tokens:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
                "client_id": self.client_id,
            }
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        )

    async def _token(self, form: dict) -> Tokens:
        endpoint = (await self.config())["token_endpoint"]
        try:
            r = await self._http.post(endpoint, data=form)
        except httpx.HTTPError as exc:
            raise Unauthenticated("身份认证服务暂时无法访问，请稍后再试。", code="idp_unreachable") from exc
        if r.status_code != 200:
            raise Unauthenticated("登录已失效，请重新登录。", code="login_expired")
        return Tokens.from_response(r.json())

    async def revoke(self, tokens: Tokens) -> None:
        """Ends the provider's session too (best effort: the local session is gone anyway)."""
        endpoint = (await self.config()).get("end_session_endpoint")
        if not endpoint or not tokens.refresh:
            return
        try:
            await self._http.post(
                endpoint, data={"client_id": self.client_id, "refresh_token": tokens.refresh}
            )
        except httpx.HTTPError:
            pass
