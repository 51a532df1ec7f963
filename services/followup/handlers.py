"""Command handlers: load the stream, check the jurisdiction, decide, append."""

from __future__ import annotations

from shared.auth import Principal
from shared.commands import CommandHandler, Context, within
from shared.events import Envelope
from services.followup.domain import (
    EndorseOutcome, FollowUpDecider, OutcomeDecider, PlanDecider, ReportOutcome, SetPlan, outcome_stream,
    plan_stream, trainee_stream,
)

FOLLOWUP = FollowUpDecider()
PLAN = PlanDecider()
OUTCOME = OutcomeDecider()


async def set_plan(commands: CommandHandler, ctx: Context, who: Principal, cmd: SetPlan) -> list[Envelope]:
    return await commands.execute(PLAN, plan_stream(cmd.class_id), cmd, ctx, within(who))


async def on_trainee(commands: CommandHandler, ctx: Context, who: Principal, class_id: str, cadre_id: str,
                     cmd) -> list[Envelope]:
    """Evaluations, mentors, mentor tasks and talks: all decided on the trainee's stream."""
    return await commands.execute(FOLLOWUP, trainee_stream(class_id, cadre_id), cmd, ctx, within(who))


async def report_outcome(commands: CommandHandler, ctx: Context, who: Principal, cmd: ReportOutcome) -> list[Envelope]:
    return await commands.execute(OUTCOME, outcome_stream(cmd.outcome_id), cmd, ctx, within(who))


async def endorse_outcome(commands: CommandHandler, ctx: Context, who: Principal, outcome_id: str,
                          cmd: EndorseOutcome) -> list[Envelope]:
    return await commands.execute(OUTCOME, outcome_stream(outcome_id), cmd, ctx, within(who))
