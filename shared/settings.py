"""One settings object per service, from the environment, with one-machine defaults.

The only place the kernel reads the environment (pydantic-settings): a service with
settings of its own subclasses `Settings` or keeps a small `BaseSettings` with its own
prefix (GANXUN_<SERVICE>_...); nothing reads the process environment by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared import jurisdiction as jur
from shared import kafka

DEFAULT_PORTS = {
    "dashboard": 8100,
    "selection": 8101,
    "teaching": 8102,
    "records": 8103,
    "followup": 8104,
    "accounts": 8105,
    "reminders": 8106,
}
REPO_ROOT = Path(__file__).resolve().parents[1]


class ServiceFlags(BaseSettings):
    """A service's own switches, under its prefix (`ServiceFlags(_env_prefix="GANXUN_FOLLOWUP_")`)."""

    model_config = SettingsConfigDict(extra="ignore")

    # Development and test deployments only: the service's "today" can be moved (shared/clock.py).
    movable_clock: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_", extra="ignore")

    service: str = "selection"
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092",
        validation_alias=AliasChoices("GANXUN_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    # The bus principal: SASL/SCRAM-SHA-512 (SASL_PLAINTEXT on one machine, SASL_SSL with a
    # CA file in production). Empty means PLAINTEXT with no principal, which the local
    # brokers refuse. See docs/bus.md.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_username: str | None = None
    kafka_password: str | None = Field(None, repr=False)
    kafka_ca_file: str | None = None
    mongodb_uri: str = Field(
        "mongodb://127.0.0.1:27018/", validation_alias=AliasChoices("GANXUN_MONGODB_URI", "MONGODB_URI")
    )
    # How the store is written and read (shared/store.py): "ferretdb" (one operation per write
    # command, point reads; the local store) or "mongodb" (bulk writes, `$in` finds; production).
    store_profile: Literal["ferretdb", "mongodb"] = "ferretdb"
    # The division codes this deployment serves: one county, or several for a small city.
    jurisdictions: Annotated[list[str], NoDecode] = ["371428"]
    database: str = ""
    # The key vault of personal data (shared/personal.py), shared by the deployment's services.
    vault_database: str = ""
    # Dead letters are kept this long (they hold sealed events, but their headers say what
    # went wrong and where): bounded, unlike the event topics (GANXUN_DEAD_LETTER_RETENTION_DAYS).
    dead_letter_retention_days: int = Field(30, ge=1, le=3650)
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
    # Where one machine keeps its servers' data and the development keys (deploy/local/process.py
    # reads the same variable, GANXUN_STATE_DIR); keys_dir defaults to its `keys`.
    state_dir: Path = REPO_ROOT / ".state"
    keys_dir: Path | None = None
    # The service's development clock is movable (GANXUN_<SERVICE>_MOVABLE_CLOCK unless given).
    movable_clock: bool | None = None
    # Commits a relay round publishes at most. Each round reads the outbox once (FerretDB decodes
    # every pointer): after a 20,000-row import, 2,000 a round took 10 rounds instead of 40 and
    # FerretDB's CPU until the registry showed it went 24.3 -> 16.4 s (docs/benchmarks.md).
    relay_batch: int = 2000
    # Request bodies above these are refused with 413 before a route reads them (shared/guards.py).
    max_json_bytes: int = 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    projector_batch: int = 1000
    # Bytes (as stored) the projection writers of a process keep of the documents they wrote,
    # together (shared/projector.py, CACHE_BYTES says why it is bounded); None: the service's
    # own (shared/runtime.py, `ServiceDefinition.projection_cache_bytes`: 4 MiB, the dashboard 8).
    projection_cache_bytes: int | None = Field(None, ge=0)
    # A projector's fetch: the broker answers once this many bytes are there or after this
    # wait. With one byte (Kafka's default) every consumer, one per projection, came back
    # for each event as it arrived: under a steady load most of Kafka's and the services'
    # time went into tiny fetches. The wait adds at most that much to propagation (goal 1 s).
    projector_fetch_min_bytes: int = 64 * 1024
    projector_fetch_wait_ms: int = Field(100, ge=0, le=500)
    # How long a read given a consistency token (X-Ganxun-After) waits for this service's
    # projections to apply it before answering what there is (shared/consistency.py).
    read_wait_seconds: float = 3.0

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

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        if self.keys_dir is None:
            self.keys_dir = self.state_dir / "keys"
        if self.movable_clock is None:
            self.movable_clock = ServiceFlags(_env_prefix=f"GANXUN_{self.service.upper()}_").movable_clock
        return self

    @property
    def production(self) -> bool:
        """Real tokens are checked here (production keys or an identity provider), and the
        deployment does not say it is a development one (GANXUN_ENV=dev)."""
        return bool(self.jwks_url or self.jwt_public_key_file or self.oidc_issuer) and self.env != "dev"

    @property
    def bus(self) -> kafka.Connection:
        """How this deployment's Kafka clients connect, and as whom."""
        return kafka.Connection(
            self.kafka_bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_username,
            self.kafka_password,
            ca_file=self.kafka_ca_file,
        )

    @property
    def deployment(self) -> str:
        """Names this deployment in database, group and dead-letter names."""
        return "-".join(self.jurisdictions)

    @property
    def database_name(self) -> str:
        return self.database or f"ganxun_{self.service}_{self.deployment.replace('-', '_')}"

    @property
    def vault_database_name(self) -> str:
        return self.vault_database or f"ganxun_vault_{self.deployment.replace('-', '_')}"

    @property
    def port(self) -> int:
        return self.http_port or DEFAULT_PORTS[self.service]

    def serves(self, code: str) -> bool:
        return any(jur.covers(c, code) for c in self.jurisdictions)
