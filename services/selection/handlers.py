"""Command handlers: load the class, check who may act on it, decide, append."""

from __future__ import annotations

from shared.auth import Principal
from shared.commands import CommandHandler, Context, Loaded
from shared.events import Envelope
from services.selection.domain import ClassDecider, NominateTrainee, OpenClass, stream_id

DECIDER = ClassDecider()


def _within(who: Principal):
    def check(loaded: Loaded) -> None:
        if loaded.jurisdiction is not None:
            who.require_covers(loaded.jurisdiction)

    return check


async def open_class(commands: CommandHandler, ctx: Context, who: Principal, cmd: OpenClass) -> list[Envelope]:
    return await commands.execute(DECIDER, stream_id(cmd.class_id), cmd, ctx, _within(who))


async def nominate(commands: CommandHandler, ctx: Context, who: Principal, class_id: str,
                   cmd: NominateTrainee) -> list[Envelope]:
    return await commands.execute(DECIDER, stream_id(class_id), cmd, ctx, _within(who))
