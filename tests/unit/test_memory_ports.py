"""The in-memory event store keeps the real store's promises, so handler tests built on
it exercise the real CommandHandler: the version check, retries answered as the first
time, and projections folded into documents as the projector would."""

import asyncio

import pytest

from datetime import date

from shared.commands import CommandHandler, Context
from shared.events import Actor
from shared.errors import ConcurrencyConflict
from shared.memory import MemoryEventStore, fold_projection
from services.records import domain
from services.records.projections import PROJECTIONS

CTX = Context(actor=Actor(user_id="u-1", name="李干事", role="org_department"), jurisdiction="371428", correlation_id="c-1")


def run(coro):
    return asyncio.run(coro)


def test_a_command_is_decided_appended_and_folded_into_the_read_model():
    store = MemoryEventStore()
    commands = CommandHandler(store)
    cmd = domain.AssignRecorder(class_id="k-1", person_id="p-1", name="王老师", role="head_teacher",
                                since=date(2026, 3, 2))
    envs = run(commands.execute(domain.ClassDecider(), domain.class_stream("k-1"), cmd, CTX))
    assert [e.type for e in envs] == ["RecorderAssigned"]
    assert run(store.read_stream(domain.class_stream("k-1")))[0].stream_version == 1
    docs = {}
    for p in PROJECTIONS:
        docs.update(fold_projection(p, store.all_events()))
    assert any("王老师" in str(d) for d in docs.values())


def test_a_stale_version_is_refused_like_the_real_store():
    store = MemoryEventStore()
    commands = CommandHandler(store)
    cmd = domain.AssignRecorder(class_id="k-1", person_id="p-1", name="王老师", role="head_teacher",
                                since=date(2026, 3, 2))
    envs = run(commands.execute(domain.ClassDecider(), "s-1", cmd, CTX))
    with pytest.raises(ConcurrencyConflict):
        run(store.append("s-1", 0, envs))
