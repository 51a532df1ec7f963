"""The `Directory` port's adapter for Keycloak: its admin REST API.

It acts as the `ganxun-accounts` service account (client credentials), which the realm
gives only the user-management roles: it cannot change the realm, its clients or its keys.
"""

from __future__ import annotations

import time

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.accounts.directory import DirectoryUnavailable, NewAccount, password_rejected
from shared.errors import DomainError, GanxunError


class KeycloakSettings(BaseSettings):
    """GANXUN_ACCOUNTS_*: where the realm's admin API is and the service account's secret."""

    model_config = SettingsConfigDict(env_prefix="GANXUN_ACCOUNTS_", extra="ignore")

    keycloak_url: str = "http://127.0.0.1:8180"
    realm: str = "ganxun"
    client_id: str = "ganxun-accounts"
    client_secret: str = Field("", repr=False)


class KeycloakDirectory:
    def __init__(self, settings: KeycloakSettings, client: httpx.AsyncClient | None = None) -> None:
        self.s = settings
        self.base = f"{settings.keycloak_url.rstrip('/')}/admin/realms/{settings.realm}"
        self.http = client or httpx.AsyncClient(timeout=30)
        self._token: tuple[str, float] | None = None

    async def _headers(self) -> dict[str, str]:
        if self._token is None or self._token[1] < time.monotonic():
            if not self.s.client_secret:
                raise DirectoryUnavailable(
                    "账号服务未配置身份认证服务的客户端密钥（GANXUN_ACCOUNTS_CLIENT_SECRET）。"
                )
            url = f"{self.s.keycloak_url.rstrip('/')}/realms/{self.s.realm}/protocol/openid-connect/token"
            try:
                r = await self.http.post(
                    url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.s.client_id,
                        "client_secret": self.s.client_secret,
                    },
                )
            except httpx.HTTPError as exc:
                raise DirectoryUnavailable(f"无法连接身份认证服务：{type(exc).__name__}。") from exc
            if r.status_code != 200:
                raise DirectoryUnavailable(f"身份认证服务拒绝了账号服务的服务账号（{r.status_code}）。")
            body = r.json()
            self._token = (body["access_token"], time.monotonic() + max(5, body.get("expires_in", 60) - 30))
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            r = await self.http.request(method, self.base + path, headers=await self._headers(), **kw)
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(f"无法连接身份认证服务：{type(exc).__name__}。") from exc
        if r.status_code >= 500 or r.status_code in (401, 403):
            raise DirectoryUnavailable(
                f"身份认证服务未完成操作（{method} {path.split('?')[0]}：{r.status_code}）。"
            )
        return r

    async def _user_id(self, username: str) -> str:
        r = await self._call("GET", "/users", params={"username": username, "exact": "true"})
        found = [u for u in r.json() if u.get("username") == username]
        if not found:
            raise DirectoryUnavailable(f"身份认证服务中找不到账号 {username}。")
        return found[0]["id"]

    async def _group(self, code: str) -> str:
        """The group of a jurisdiction (groups per jurisdiction), made on first use."""
        r = await self._call("GET", "/groups", params={"search": code, "exact": "true"})
        for g in r.json():
            if g.get("name") == code:
                return g["id"]
        made = await self._call("POST", "/groups", json={"name": code})
        if made.status_code == 409:
            return await self._group(code)
        return made.headers["location"].rsplit("/", 1)[1]

    async def create(self, account: NewAccount, password: str, temporary: bool) -> None:
        attributes = {"jurisdiction": [account.jurisdiction]}
        if account.unit:
            attributes["unit"] = [account.unit]
        if account.person_id:
            attributes["person_id"] = [account.person_id]
        r = await self._call(
            "POST",
            "/users",
            json={
                "username": account.username,
                "enabled": True,
                "firstName": account.name,
                "attributes": attributes,
                "credentials": [{"type": "password", "value": password, "temporary": temporary}],
            },
        )
        if r.status_code == 409:
            raise DomainError(
                f"用户名 {account.username} 已被使用。", code="username_taken", field="username"
            )
        if r.status_code == 400:
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            if "password" in str(body).lower():
                raise password_rejected(str(body.get("error_description") or body.get("errorMessage") or ""))
            raise DomainError(f"身份认证服务拒绝了该账号：{body or r.text[:200]}", code="rejected_by_idp")
        if r.status_code != 201:
            raise DirectoryUnavailable(f"身份认证服务未能创建账号（{r.status_code}）。")
        user_id = r.headers["location"].rsplit("/", 1)[1]
        try:
            role = await self._call("GET", f"/roles/{account.role}")
            if role.status_code != 200:
                raise DirectoryUnavailable(f"身份认证服务中没有角色 {account.role}。")
            await self._ok(self._call("POST", f"/users/{user_id}/role-mappings/realm", json=[role.json()]))
            group = await self._group(account.jurisdiction)
            await self._ok(self._call("PUT", f"/users/{user_id}/groups/{group}"))
        except GanxunError:
            await self._call("DELETE", f"/users/{user_id}")  # no half-made account left behind
            raise

    @staticmethod
    async def _ok(call) -> None:
        r = await call
        if r.status_code >= 300:
            raise DirectoryUnavailable(f"身份认证服务未完成操作（{r.status_code}）。")

    async def set_enabled(self, username: str, enabled: bool) -> None:
        user_id = await self._user_id(username)
        # The whole representation back: a partial one could clear the profile's attributes.
        rep = (await self._call("GET", f"/users/{user_id}")).json()
        await self._ok(self._call("PUT", f"/users/{user_id}", json={**rep, "enabled": enabled}))
        if not enabled:
            await self._ok(self._call("POST", f"/users/{user_id}/logout"))

    async def set_password(self, username: str, password: str, temporary: bool) -> None:
        user_id = await self._user_id(username)
        r = await self._call(
            "PUT",
            f"/users/{user_id}/reset-password",
            json={"type": "password", "value": password, "temporary": temporary},
        )
        if r.status_code == 400:
            raise password_rejected(str(r.json().get("error_description") or r.json().get("error") or ""))
        if r.status_code >= 300:
            raise DirectoryUnavailable(f"身份认证服务未能重置密码（{r.status_code}）。")

    async def close(self) -> None:
        await self.http.aclose()
