"""Command handlers: load the stream, check the jurisdiction, decide, append."""

from __future__ import annotations

from shared.auth import Principal
from shared.commands import CommandHandler, Context, Loaded, within
from shared.events import Envelope
from services.followup.domain import (
    EndorseOutcome, FollowUpDecider, OutcomeDecider, PlanDecider, ReportOutcome, SetPlan, old_plan_stream,
    outcome_stream, plan_stream, trainee_stream,
)

FOLLOWUP = FollowUpDecider()
PLAN = PlanDecider()
OUTCOME = OutcomeDecider()


async def set_plan(commands: CommandHandler, ctx: Context, who: Principal, cmd: SetPlan) -> list[Envelope]:
    stream = plan_stream(ctx.jurisdiction, cmd.class_id)
    if (await commands.load(PLAN, stream)).version == 0:
        old = await commands.load(PLAN, old_plan_stream(cmd.class_id))
        if old.version and old.jurisdiction == ctx.jurisdiction:
            stream = old_plan_stream(cmd.class_id)      # a plan stored before namespacing: go on with it
    return await commands.execute(PLAN, stream, cmd, ctx, within(who))


async def load_plan(commands: CommandHandler, jurisdiction: str, class_id: str) -> Loaded:
    """The plan `jurisdiction` set for `class_id` (the default plan if none): its namespaced
    stream, or a plan stored before namespacing that the same jurisdiction set."""
    loaded = await commands.load(PLAN, plan_stream(jurisdiction, class_id))
    if loaded.version == 0:
        old = await commands.load(PLAN, old_plan_stream(class_id))
        if old.version and old.jurisdiction == jurisdiction:
            return old
    return loaded


async def on_trainee(commands: CommandHandler, ctx: Context, who: Principal, class_id: str, cadre_id: str,
                     cmd) -> list[Envelope]:
    """Evaluations, mentors, mentor tasks and talks: all decided on the trainee's stream."""
    return await commands.execute(FOLLOWUP, trainee_stream(class_id, cadre_id), cmd, ctx, within(who))


async def report_outcome(commands: CommandHandler, ctx: Context, who: Principal, cmd: ReportOutcome) -> list[Envelope]:
    return await commands.execute(OUTCOME, outcome_stream(cmd.outcome_id), cmd, ctx, within(who))


async def endorse_outcome(commands: CommandHandler, ctx: Context, who: Principal, outcome_id: str,
                          cmd: EndorseOutcome) -> list[Envelope]:
    return await commands.execute(OUTCOME, outcome_stream(outcome_id), cmd, ctx, within(who))
