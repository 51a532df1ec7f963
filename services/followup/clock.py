"""The follow-up service's clock (今天是哪一天).

Dates are China-local. In a test or demo deployment (GANXUN_FOLLOWUP_MOVABLE_CLOCK=1)
the clock can be moved: an offset in days is kept in the store (collection `clock`),
so every process of the deployment — API and scheduler, two instances — sees the same
day; an admin-only route sets it and exists only then. A deployment configured with
production keys (GANXUN_JWKS_URL or GANXUN_JWT_PUBLIC_KEY_FILE) refuses to start with a
movable clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.asynchronous.database import AsyncDatabase

CHINA = ZoneInfo("Asia/Shanghai")
COLLECTION = "clock"


class FollowUpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANXUN_FOLLOWUP_", extra="ignore")

    movable_clock: bool = False
    # How often the scheduler looks for new graduates and milestones that fell due.
    tick_seconds: float = Field(1.0, gt=0)
    jwks_url: str | None = Field(None, validation_alias=AliasChoices("GANXUN_JWKS_URL"))
    jwt_public_key_file: str | None = Field(None, validation_alias=AliasChoices("GANXUN_JWT_PUBLIC_KEY_FILE"))

    @classmethod
    def load(cls) -> FollowUpSettings:
        s = cls()
        if s.movable_clock and (s.jwks_url or s.jwt_public_key_file):
            raise SystemExit("生产配置（已设置正式验签密钥）不允许启用可调时钟 GANXUN_FOLLOWUP_MOVABLE_CLOCK，拒绝启动。")
        return s


def real_today() -> date:
    return datetime.now(CHINA).date()


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
