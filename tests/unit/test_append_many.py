"""The kernel's append_many over more commands than one slice (an import): the slices are
decided and appended concurrently, yet every command's result comes back in its own
place, a refusal is its own command's alone, and a stream that had moved on is decided
again on its stored events, whichever slice it fell in."""

import asyncio

import pytest

from shared import commands as kernel
from shared.commands import CommandHandler, Context, Loaded, Planned
from shared.contracts.selection import NominationWithdrawn, TraineeNominated
from shared.errors import DomainError
from shared.events import Actor
from shared.memory import MemoryEventStore

CTX = Context(
    actor=Actor(user_id="u", name="测试", role="org_department"), jurisdiction="371428", correlation_id="c"
)


class OnePlace:
    """A stream of one place: the first nominee takes it, another is refused; withdraw frees it."""

    def initial(self) -> frozenset:
        return frozenset()

    def decide(self, state: frozenset, command: tuple[str, str]) -> list:
        what, cadre = command
        if what == "withdraw":
            return [NominationWithdrawn(class_id="c", cadre_id=cadre)] if cadre in state else []
        if cadre in state:
            return []
        if state:
            raise DomainError("名额已满")
        return [TraineeNominated(class_id="c", cadre_id=cadre, name="x", unit="u")]

    def evolve(self, state: frozenset, event) -> frozenset:
        if type(event).__name__ == "NominationWithdrawn":
            return state - {event.cadre_id}
        return state | {event.cadre_id}


def test_results_stay_in_order_across_slices_with_refusals_and_conflicts(monkeypatch):
    monkeypatch.setattr(kernel, "MANY_SLICE", 7)
    store = MemoryEventStore()
    handler = CommandHandler(store)
    decider = OnePlace()

    async def go():
        # Taken before the import, by another process: the import believes them new.
        for s in ("s03", "s11", "s20"):
            await CommandHandler(store).execute(decider, s, ("nominate", "someone"), CTX)
        planned = [Planned(f"s{i:02d}", ("nominate", f"p{i}")) for i in range(25)]
        # Believed as held (version 1, "someone" in it), withdrawn: decided on that state.
        planned[15] = Planned("s15", ("withdraw", "someone"), Loaded(frozenset({"someone"}), 1, "371428"))
        await CommandHandler(store).execute(decider, "s15", ("nominate", "someone"), CTX)
        return await handler.append_many(decider, planned, CTX)

    results = asyncio.run(go())
    assert len(results) == 25
    for i, r in enumerate(results):
        if i in (3, 11, 20):  # the stream was taken: decided again on it, and refused alone
            assert isinstance(r, DomainError) and "名额已满" in r.message
        elif i == 15:
            assert [e.type for e in r] == ["NominationWithdrawn"]
        else:
            assert [e.payload["cadre_id"] for e in r] == [f"p{i}"], i
            assert r[0].stream_id == f"s{i:02d}" and r[0].stream_version == 1
    assert [e.payload["cadre_id"] for e in asyncio.run(store.read_stream("s11"))] == ["someone"]


def test_a_stream_planned_twice_is_refused_before_anything_is_appended(monkeypatch):
    monkeypatch.setattr(kernel, "MANY_SLICE", 2)
    store = MemoryEventStore()
    planned = [Planned(f"s{i}", ("nominate", "p")) for i in range(5)] + [Planned("s0", ("nominate", "q"))]
    with pytest.raises(ValueError, match="planned twice"):
        asyncio.run(CommandHandler(store).append_many(OnePlace(), planned, CTX))
    assert store.all_events() == []


def test_a_bulk_append_keeps_no_copy_of_its_aggregates_and_a_later_command_reads_the_stream():
    """An import's 20,000 cadres were each evolved again into a copy kept by the kernel (the last
    5,000 of them, 3.6 MB of selection at the import's peak): append_many keeps none, forgets an
    older copy of a stream it appended to, and the next command on it decides on the stored
    stream."""
    store = MemoryEventStore()
    handler = CommandHandler(store)
    decider = OnePlace()

    async def go():
        await handler.execute(decider, "s0", ("nominate", "a"), CTX)  # a copy of s0 is kept
        planned = [
            Planned("s0", ("withdraw", "a"), Loaded(frozenset({"a"}), 1, "371428")),
            *(Planned(f"s{i}", ("nominate", f"p{i}")) for i in range(1, 6)),
        ]
        results = await handler.append_many(decider, planned, CTX)
        assert all(isinstance(r, list) and len(r) == 1 for r in results)
        kept = dict(handler._cache)
        # The place s0 had is free again: decided on the stream, not on the copy of before.
        await handler.execute(decider, "s0", ("nominate", "b"), CTX)
        return kept

    assert asyncio.run(go()) == {}
    assert [(e.type, e.stream_version) for e in asyncio.run(store.read_stream("s0"))] == [
        ("TraineeNominated", 1),
        ("NominationWithdrawn", 2),
        ("TraineeNominated", 3),
    ]
