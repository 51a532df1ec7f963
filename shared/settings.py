"""One settings object per service, from the environment, with one-machine defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deploy.local.process import state_dir
from shared import jurisdiction as jur
from shared import kafka

DEFAULT_PORTS = {"dashboard": 8100, "selection": 8101, "teaching": 8102, "records": 8103, "followup": 8104,
                 "accounts": 8105, "reminders": 8106}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_", extra="ignore")

    service: str = "selection"
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", validation_alias=AliasChoices("GANXUN_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS")
    )
    # The bus principal: SASL/SCRAM-SHA-512 (SASL_PLAINTEXT on one machine, SASL_SSL with a
    # CA file in production). Empty means PLAINTEXT with no principal, which the local
    # brokers refuse. See README, "Security: the bus".
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_username: str | None = None
    kafka_password: str | None = Field(None, repr=False)
    kafka_ca_file: str | None = None
    mongodb_uri: str = Field(
        "mongodb://127.0.0.1:27018/", validation_alias=AliasChoices("GANXUN_MONGODB_URI", "MONGODB_URI")
    )
    # The division codes this deployment serves: one county, or several for a small city.
    jurisdictions: Annotated[list[str], NoDecode] = ["371428"]
    database: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    topic_partitions: int = 3
    topic_replication: int = 1
    jwt_public_key_file: Path | None = None
    jwks_url: str | None = None
    # Identity (shared/auth.py): the OIDC issuer whose JWKS signs the tokens, the audience
    # this deployment's tokens must name, their longest accepted lifetime, and the claim
    # names (comma-separated, first present wins) for a provider that names them its way.
    oidc_issuer: str | None = None
    oidc_audience: str = "ganxun"
    token_max_lifetime: int = 12 * 3600
    claim_user_id: str = "person_id,preferred_username,sub"
    claim_name: str = "name,preferred_username"
    claim_role: str = "role,roles"
    claim_jurisdiction: str = "jurisdiction"
    claim_unit: str = "unit"
    # "dev" alone allows the development keys under keys_dir (shared/auth.verifier_for).
    env: str = ""
    keys_dir: Path = Field(default_factory=lambda: state_dir() / "keys")
    relay_batch: int = 500
    # Request bodies above these are refused with 413 before a route reads them (shared/guards.py).
    max_json_bytes: int = 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    projector_batch: int = 1000

    @field_validator("jurisdictions", mode="before")
    @classmethod
    def _split(cls, v):
        if isinstance(v, str) and not v.strip().startswith("["):
            v = [c.strip() for c in v.split(",") if c.strip()]
        return v

    @field_validator("jurisdictions")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("至少需要一个行政区划代码 (GANXUN_JURISDICTIONS)")
        return [jur.validate(c) for c in v]

    @property
    def bus(self) -> kafka.Connection:
        """How this deployment's Kafka clients connect, and as whom."""
        return kafka.Connection(self.kafka_bootstrap_servers, self.kafka_security_protocol,
                                self.kafka_username, self.kafka_password, ca_file=self.kafka_ca_file)

    @property
    def deployment(self) -> str:
        """Names this deployment in database, group and dead-letter names."""
        return "-".join(self.jurisdictions)

    @property
    def database_name(self) -> str:
        return self.database or f"ganxun_{self.service}_{self.deployment.replace('-', '_')}"

    @property
    def port(self) -> int:
        return self.http_port or DEFAULT_PORTS[self.service]

    def serves(self, code: str) -> bool:
        return any(jur.covers(c, code) for c in self.jurisdictions)
