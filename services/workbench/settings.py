"""The workbench's settings, from the environment (GANXUN_WORKBENCH_*), with one-machine defaults.

The workbench holds no data of the work: it needs the identity provider's issuer, where
the services answer, where the built web app lies, and the store its login
sessions are kept in (reads.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WEB = Path(__file__).resolve().parent / "web"
SERVICES = ("selection", "teaching", "records", "followup", "reminders", "dashboard")


class WorkbenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_WORKBENCH_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8110
    # The OpenID Connect issuer (Keycloak realm `ganxun` under `ganxun up`).
    issuer: str = "http://127.0.0.1:8180/realms/ganxun"
    client_id: str = "ganxun-workbench"
    # The address the browser reaches the workbench at; the redirect URI is built from it.
    public_url: str = ""
    selection_url: str = "http://127.0.0.1:8101"
    teaching_url: str = "http://127.0.0.1:8102"
    records_url: str = "http://127.0.0.1:8103"
    followup_url: str = "http://127.0.0.1:8104"
    reminders_url: str = "http://127.0.0.1:8106"
    dashboard_url: str = "http://127.0.0.1:8100"
    dist: Path = WEB / "dist"
    # The store of the login sessions: the deployment's MongoDB-protocol store (FerretDB),
    # the workbench's own database in it.
    mongodb_uri: str = Field(
        "mongodb://127.0.0.1:27018/",
        validation_alias=AliasChoices("GANXUN_WORKBENCH_MONGODB_URI", "GANXUN_MONGODB_URI", "MONGODB_URI"),
    )
    database: str = "ganxun_workbench"
    # A session ends after this long without a request, and at the latest when the
    # identity provider stops refreshing its tokens.
    idle_minutes: int = Field(120, ge=5, le=24 * 60)
    # Behind TLS in production the cookie is Secure; on loopback it cannot be.
    secure_cookie: bool = False
    forward_timeout_seconds: float = 60.0

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    def service_url(self, name: str) -> str | None:
        return getattr(self, f"{name}_url") if name in SERVICES else None
