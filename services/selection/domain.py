"""The class aggregate (班次), pure: decide and evolve, no I/O.

Nominations live on the class's own stream so that its rules (capacity, no double
nomination, closed after start) are checked against one consistent state, and the
optimistic append makes them hold under concurrent requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from shared.contracts.selection import ClassOpened, TraineeNominated
from shared.errors import DomainError, NotFound
from shared.events import Event


@dataclass(frozen=True)
class OpenClass:
    class_id: str
    title: str
    capacity: int
    starts_on: date
    ends_on: date
    organiser: str


@dataclass(frozen=True)
class NominateTrainee:
    cadre_id: str
    name: str
    unit: str
    today: date
    home_jurisdiction: str | None = None


@dataclass(frozen=True)
class ClassState:
    class_id: str | None = None
    title: str = ""
    capacity: int = 0
    starts_on: date | None = None
    nominated: frozenset[str] = field(default_factory=frozenset)


class ClassDecider:
    def initial(self) -> ClassState:
        return ClassState()

    def decide(self, state: ClassState, command) -> list[Event]:
        match command:
            case OpenClass():
                if state.class_id is not None:
                    raise DomainError(f"班次 {command.class_id} 已存在。", code="class_exists")
                if command.ends_on < command.starts_on:
                    raise DomainError("结束日期不能早于开始日期。", code="bad_dates", field="ends_on")
                return [ClassOpened(**command.__dict__)]
            case NominateTrainee():
                if state.class_id is None:
                    raise NotFound("班次不存在。", code="class_not_found")
                if command.today >= state.starts_on:
                    raise DomainError(f"班次“{state.title}”已于 {state.starts_on} 开班，不再接受推荐。", code="class_closed")
                if command.cadre_id in state.nominated:
                    raise DomainError(f"{command.name} 已被推荐到班次“{state.title}”。", code="already_nominated")
                if len(state.nominated) >= state.capacity:
                    raise DomainError(f"班次“{state.title}”名额已满（{state.capacity} 人）。", code="class_full")
                return [
                    TraineeNominated(
                        class_id=state.class_id, cadre_id=command.cadre_id, name=command.name,
                        unit=command.unit, home_jurisdiction=command.home_jurisdiction,
                    )
                ]
        raise TypeError(f"unknown command {command!r}")

    def evolve(self, state: ClassState, event: Event) -> ClassState:
        match event:
            case ClassOpened():
                return ClassState(event.class_id, event.title, event.capacity, event.starts_on)
            case TraineeNominated():
                return replace(state, nominated=state.nominated | {event.cadre_id})
        return state


def stream_id(class_id: str) -> str:
    return f"class-{class_id}"
