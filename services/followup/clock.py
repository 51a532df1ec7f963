"""The follow-up service's clock (今天是哪一天).

Dates are China-local. In a test or demo deployment (GANXUN_FOLLOWUP_MOVABLE_CLOCK=1)
the clock can be moved: an offset in days is kept in the store (collection `clock`),
so every process of the deployment — API and scheduler, two instances — sees the same
day; an admin-only route sets it and exists only then. A deployment configured with
production keys (GANXUN_JWKS_URL or GANXUN_JWT_PUBLIC_KEY_FILE) refuses to start with a
movable clock.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import local_today as real_today
from shared.clock import refuse_movable_in_production

COLLECTION = "clock"


class FollowUpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_FOLLOWUP_", extra="ignore")

    movable_clock: bool = False
    # How often the scheduler looks for new graduates and milestones that fell due.
    tick_seconds: float = Field(1.0, gt=0)

    @classmethod
    def load(cls) -> FollowUpSettings:
        s = cls()
        if s.movable_clock:
            refuse_movable_in_production("GANXUN_FOLLOWUP_MOVABLE_CLOCK")
        return s


async def offset_days(db: AsyncDatabase) -> int:
    doc = await db[COLLECTION].find_one({"_id": "clock"})
    return int(doc["offset_days"]) if doc else 0


async def today(db: AsyncDatabase, movable: bool) -> date:
    if not movable:
        return real_today()
    return real_today() + timedelta(days=await offset_days(db))


async def move_to(db: AsyncDatabase, day: date) -> int:
    offset = (day - real_today()).days
    await db[COLLECTION].update_one({"_id": "clock"}, {"$set": {"offset_days": offset}}, upsert=True)
    return offset
