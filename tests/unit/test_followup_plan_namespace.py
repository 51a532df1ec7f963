"""A class's follow-up plan lives in the namespace of the jurisdiction that set it:
another county naming the same class id cannot change ours (handler layer, with an
in-memory event store)."""

from datetime import date

from services.followup.domain import SetPlan, old_plan_stream
from services.followup.handlers import PLAN, Handlers
from services.followup.reads import Reads
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.errors import ConcurrencyConflict
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase


class MemoryStore:
    def __init__(self) -> None:
        self.streams: dict[str, list] = {}

    async def read_stream(self, stream_id: str) -> list:
        return list(self.streams.get(stream_id, []))

    async def append(self, stream_id: str, expected_version: int, events, commit_id=None) -> None:
        if len(self.streams.get(stream_id, [])) != expected_version:
            raise ConcurrencyConflict("conflict")
        self.streams.setdefault(stream_id, []).extend(events)


def who(code: str) -> tuple[Context, Principal]:
    actor = Actor(user_id=f"org-{code}", name="组织部", role="org_department")
    return (
        Context(actor=actor, jurisdiction=code, correlation_id="c"),
        Principal(user_id=actor.user_id, name=actor.name, role=actor.role, jurisdiction=code),
    )


def handlers_on(store: MemoryStore) -> Handlers:
    return Handlers(CommandHandler(store), Reads(MemoryDatabase()), FixedClock(date(2026, 3, 2)))


async def test_another_county_naming_our_class_id_sets_only_its_own_plan():
    handlers = handlers_on(MemoryStore())
    ours, theirs = who("371428"), who("530129")
    await handlers.set_plan(*ours, "k1", [1, 3], 5)
    await handlers.set_plan(*theirs, "k1", [12], 0)
    mine = await handlers.load_plan("371428", "k1")
    assert (mine.state.months, mine.state.grace_days, mine.jurisdiction) == ((1, 3), 5, "371428")
    other = await handlers.load_plan("530129", "k1")
    assert (other.state.months, other.jurisdiction) == ((12,), "530129")


async def test_a_plan_stored_before_namespacing_is_still_ours_and_only_ours():
    store = MemoryStore()
    handlers = handlers_on(store)
    ctx, _ = who("371428")

    old = SetPlan(class_id="k2", months=[6], grace_days=3)
    await handlers.commands.execute(PLAN, old_plan_stream("k2"), old, ctx)
    assert (await handlers.load_plan("371428", "k2")).state.months == (6,)
    assert (await handlers.load_plan("530129", "k2")).version == 0  # the default, not ours
    # Changing it goes on in the old stream rather than starting a second plan.
    await handlers.set_plan(*who("371428"), "k2", [1, 6], 3)
    assert len(store.streams[old_plan_stream("k2")]) == 2
    assert (await handlers.load_plan("371428", "k2")).state.months == (1, 6)
