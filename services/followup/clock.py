"""The follow-up service's clock (今天是哪一天) and its scheduler's settings.

"Today" is the one development clock of shared/clock.py: in a test or demo deployment
(GANXUN_FOLLOWUP_MOVABLE_CLOCK=1) an admin covering the whole deployment moves it
(`PUT /admin/clock`), the offset kept in the store so every process of the deployment
(API and scheduler, two instances) sees the same day and a restart keeps it. A
deployment configured with production keys or an identity provider refuses to start
with a movable clock.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import DevClock, refuse_movable_in_production

VARIABLE = "GANXUN_FOLLOWUP_MOVABLE_CLOCK"


class FollowUpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_FOLLOWUP_", extra="ignore")

    movable_clock: bool = False
    # How often the scheduler looks for new graduates and milestones that fell due.
    tick_seconds: float = Field(1.0, gt=0)

    @classmethod
    def load(cls) -> FollowUpSettings:
        s = cls()
        if s.movable_clock:
            refuse_movable_in_production(VARIABLE)
        return s

    def clock(self) -> DevClock:
        dev = DevClock(VARIABLE)
        dev.movable = self.movable_clock
        return dev


async def today(db: AsyncDatabase, movable: bool) -> date:
    dev = DevClock(VARIABLE)
    dev.movable = movable
    return await dev.today(db)
