"""The demo's HTTP side: development tokens of the right roles, and calls that wait
for another service's events to arrive (a projection behind by a moment is normal)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from shared.auth import issue_token

# Refusals meaning "not synced yet" (the other service's events are on their way): retried.
NOT_YET = {
    "class_not_found",
    "not_on_roster",
    "followup_not_found",
    "milestone_not_found",
    "site_too_small",
    "outcome_not_found",
    "cadre_not_found",
}


class DemoError(RuntimeError):
    pass


class Api:
    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: dict[str, str],
        private_key: bytes,
        concurrency: int = 8,
        patience: float = 600.0,
    ) -> None:
        self.client, self.urls, self.key = client, urls, private_key
        self.sem = asyncio.Semaphore(concurrency)
        self.patience = patience
        self.calls = 0
        self.refused: list[str] = []
        self._tokens: dict[tuple, dict[str, str]] = {}

    def who(
        self, role: str, jurisdiction: str, name: str, user_id: str | None = None, unit: str | None = None
    ) -> dict[str, str]:
        k = (role, jurisdiction, name, user_id, unit)
        if k not in self._tokens:
            tok = issue_token(
                self.key,
                user_id=user_id or f"demo-{role}-{jurisdiction}",
                name=name,
                role=role,
                jurisdiction=jurisdiction,
                unit=unit,
                ttl_seconds=6 * 3600,
            )
            self._tokens[k] = {"Authorization": f"Bearer {tok}"}
        return self._tokens[k]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        who: dict[str, str],
        *,
        json: Any = None,
        files: Any = None,
        params: Any = None,
        tolerate: tuple[str, ...] = (),
    ) -> Any:
        """One request; retried while the answer means "not synced yet" (or 409). A refusal
        whose code is in `tolerate` is noted and returns None; any other refusal stops the demo."""
        deadline = time.monotonic() + self.patience
        while True:
            async with self.sem:
                r = await self.client.request(
                    method, self.urls[service] + path, headers=who, json=json, files=files, params=params
                )
            self.calls += 1
            if r.status_code < 300:
                return r.json() if r.headers.get("content-type", "").startswith("application/json") else r
            code = _code(r)
            if (r.status_code == 409 or code in NOT_YET) and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                continue
            if code in tolerate:
                self.refused.append(f"{service} {method} {path}: {code}")
                return None
            raise DemoError(f"演示数据加载失败：{service} {method} {path} → {r.status_code} {r.text[:400]}")

    async def until(self, check, what: str, timeout: float | None = None):
        """Polls `check` (async, returns something truthy when done)."""
        deadline = time.monotonic() + (timeout or self.patience)
        while time.monotonic() < deadline:
            got = await check()
            if got:
                return got
            await asyncio.sleep(0.3)
        raise DemoError(f"演示数据加载失败：等待超时（{what}）")

    async def get(self, service: str, path: str, who: dict[str, str], params: Any = None) -> Any:
        async with self.sem:
            r = await self.client.get(self.urls[service] + path, headers=who, params=params)
        self.calls += 1
        return r.json() if r.status_code == 200 else None


def _code(r: httpx.Response) -> str:
    try:
        return r.json().get("code", "")
    except Exception:  # noqa: BLE001
        return ""
