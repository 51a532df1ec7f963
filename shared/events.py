"""Event envelope, event catalogue and upcasting.

Every event travels as an `Envelope` (JSON on the wire, the same JSON in the event
store). Its `payload` is validated against the payload model registered in the
catalogue for (type, schema_version); an older version is upcast step by step to the
current one when read. A consumer meeting a type it does not know skips it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared import jurisdiction as jur


class Actor(BaseModel):
    """Who did it, under their real name (实名)."""

    model_config = ConfigDict(frozen=True)
    user_id: str
    name: str
    role: str


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str
    type: str
    schema_version: int = Field(ge=1)
    stream_id: str = Field(min_length=1)
    stream_version: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    jurisdiction: str
    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    payload: dict[str, Any]
    # Paths of the values sealed under a person's key (shared/personal.py); empty once opened.
    sealed: tuple[str, ...] = ()

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, v: str) -> str:
        return jur.validate(v)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Event(BaseModel):
    """Base of every domain event payload. Subclasses name themselves:

    class TraineeNominated(Event, type="TraineeNominated", version=1): ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    # Personal data (shared/personal.py): the payload paths sealed under the key of the
    # person named by `person_field`, and what stands in for a field that cannot hold
    # the text "已删除" once that person is erased.
    personal: ClassVar[tuple[str, ...]] = ()
    person_field: ClassVar[str] = "cadre_id"
    # Payload paths sealed under another person's key than `person_field`'s: path -> the
    # payload field naming that person (an evaluation's text is the trainee's, its
    # evaluator's name the evaluator's).
    personal_of: ClassVar[dict[str, str]] = {}
    # Lists whose every element is one person's: list path -> (field sealed, field naming the
    # person) of each element (an outcome's authors, each name under that author's key).
    personal_each: ClassVar[dict[str, tuple[str, str]]] = {}
    erased_as: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, type: str | None = None, version: int = 1, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if type is not None:
            cls.event_type = type
            cls.schema_version = version


class MalformedEvent(ValueError):
    """A message that is not a valid envelope or whose payload fails its contract."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Decoded(NamedTuple):
    envelope: Envelope
    event: Event


class Catalogue:
    """Registry of event types: current payload model per type, and upcasters."""

    def __init__(self) -> None:
        self._current: dict[str, type[Event]] = {}
        # Per type, its payload's field names (`decode`'s tolerant reader).
        self._fields: dict[str, frozenset[str]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self.owner: dict[str, str] = {}

    def register(self, service: str) -> Callable[[type[Event]], type[Event]]:
        def add(cls: type[Event]) -> type[Event]:
            known = self._current.get(cls.event_type)
            if known is not None and known is not cls:
                raise ValueError(f"event type {cls.event_type} registered twice")
            self._current[cls.event_type] = cls
            self._fields[cls.event_type] = frozenset(cls.model_fields)
            self.owner[cls.event_type] = service
            return cls

        return add

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning payload v`from_version` into v`from_version + 1`."""

        def add(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return add

    def model(self, event_type: str) -> type[Event]:
        return self._current[event_type]

    def types(self, service: str | None = None) -> list[type[Event]]:
        return [c for t, c in self._current.items() if service is None or self.owner[t] == service]

    def upcast(self, envelope: Envelope) -> Envelope:
        cls = self._current[envelope.type]
        version, payload = envelope.schema_version, envelope.payload
        if version > cls.schema_version:
            raise MalformedEvent(
                f"{envelope.type} v{version} is newer than this service knows (v{cls.schema_version})"
            )
        while version < cls.schema_version:
            step = self._upcasters.get((envelope.type, version))
            if step is None:
                raise MalformedEvent(f"no upcaster for {envelope.type} v{version}")
            payload, version = step(dict(payload)), version + 1
        if version == envelope.schema_version:
            return envelope
        return envelope.model_copy(update={"payload": payload, "schema_version": version})

    def envelope(self, raw: bytes | str | dict[str, Any]) -> Envelope:
        """The envelope alone, its payload unchecked (for a reader that only passes the event
        by); MalformedEvent when it is not one."""
        try:
            return (
                Envelope.model_validate(raw) if isinstance(raw, dict) else Envelope.model_validate_json(raw)
            )
        except (ValidationError, ValueError) as exc:
            raise MalformedEvent(f"invalid envelope: {_short(exc)}") from exc

    def known(self, event_type: str) -> bool:
        return event_type in self._current

    def decode(self, raw: bytes | str | dict[str, Any]) -> Decoded | None:
        """Envelope and typed payload; None for an unknown type; MalformedEvent otherwise."""
        return self.decode_envelope(self.envelope(raw))

    def decode_envelope(self, env: Envelope) -> Decoded | None:
        """`decode` of an envelope already read (its payload checked against its contract here:
        an envelope this process made, kept plain for its projectors, shared/personal.py)."""
        if env.type not in self._current:
            return None
        env = self.upcast(env)
        cls = self._current[env.type]
        # A tolerant reader: a field added later (with a default, same version) by a producer
        # upgraded first is ignored here, not a dead letter. Events built in code still
        # forbid unknown fields, so a misspelt one fails where it is written. Copied only then:
        # the copy of every payload was a tenth of a decode (a rebuild decodes every event).
        payload, fields = env.payload, self._fields[env.type]
        if not payload.keys() <= fields:
            payload = {k: v for k, v in payload.items() if k in fields}
        try:
            event = cls.model_validate(payload)
        except ValidationError as exc:
            raise MalformedEvent(f"invalid {env.type} payload: {_short(exc)}") from exc
        return Decoded(env, event)


def _short(exc: Exception) -> str:
    """What was wrong, without the values: a dead letter's reason and the log line that reports
    it must not carry the personal data the message held (pydantic's own text quotes the input)."""
    if isinstance(exc, ValidationError):
        text = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
    else:
        text = type(exc).__name__
    return text[:500]


CATALOGUE = Catalogue()


def utcnow() -> datetime:
    return datetime.now(UTC)
