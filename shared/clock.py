"""The services' day: China-local time, and the one development clock that can be moved.

Party schools and departments work on Beijing time whatever the server's zone (a UTC
machine is on "tomorrow" after 16:00 UTC).

Development and test deployments can move a service's "today" (selection for the demo's
nominations, follow-up for its milestones). The one port is `shared.ports.Clock`, its
adapter `StoreClock`, which `shared.runtime.Runtime` composes for every service and hands
to its handlers. The offset in days is kept in the deployment's store (collection
`clock`), so every process of the deployment sees the same day and no restart moves it.
It is movable only where the service's flag is set (`Settings.movable_clock`, from
GANXUN_<SERVICE>_MOVABLE_CLOCK), never beside production keys or an identity provider
(a service so configured refuses to start), and only by an admin whose token covers
every jurisdiction of the deployment (the routes of shared/clock_api.py, which
`shared.api.create_app` mounts only then).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import Settings

CHINA = ZoneInfo("Asia/Shanghai")
PRODUCTION_KEYS = ("GANXUN_JWKS_URL", "GANXUN_JWT_PUBLIC_KEY_FILE", "GANXUN_OIDC_ISSUER")
COLLECTION = "clock"
_DOC = "clock"


def local_now() -> datetime:
    """Beijing wall-clock time, without a zone (session times are written that way)."""
    return datetime.now(CHINA).replace(tzinfo=None)


def local_today() -> date:
    return datetime.now(CHINA).date()


def add_months(d: date, months: int) -> date:
    """The same day `months` calendar months later (the month's last day when it has fewer)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def production(settings: Settings | None = None) -> bool:
    """Real tokens are checked here (production keys or an identity provider), and the
    deployment does not say it is a development one (GANXUN_ENV=dev)."""
    return (settings or Settings()).production


def refuse_movable_in_production(variable: str, settings: Settings | None = None) -> None:
    """Stop the service if a movable clock (`variable`) is on beside production keys or an
    issuer, unless the deployment says it is a development one (GANXUN_ENV=dev: `ganxun
    up`, whose services trust its local Keycloak and the development key alike)."""
    if production(settings):
        raise SystemExit(
            f"生产配置（已设置正式验签密钥或身份认证签发方）不允许启用可调时钟 {variable}，拒绝启动。"
        )


def flag(service: str) -> str:
    """The environment variable that makes `service`'s clock movable."""
    return f"GANXUN_{service.upper()}_MOVABLE_CLOCK"


def movable_clock(settings: Settings) -> bool:
    """Whether the service's clock is movable (`settings.movable_clock`); refused in production."""
    if settings.movable_clock:
        refuse_movable_in_production(flag(settings.service), settings)
    return bool(settings.movable_clock)


def movable(variable: str) -> bool:
    """Whether the flag `variable` (GANXUN_<SERVICE>_MOVABLE_CLOCK) is on (refused in production)."""
    service = re.fullmatch(r"GANXUN_(\w+)_MOVABLE_CLOCK", variable)
    if service is None:
        raise ValueError(f"{variable} 不是服务时钟开关（应为 GANXUN_<服务>_MOVABLE_CLOCK）")
    return movable_clock(Settings(service=service.group(1).lower()))


async def offset_days(db: AsyncDatabase) -> int:
    doc = await db[COLLECTION].find_one({"_id": _DOC})
    return int(doc["offset_days"]) if doc else 0


async def move_to(db: AsyncDatabase, day: date) -> int:
    offset = (day - local_today()).days
    await db[COLLECTION].update_one({"_id": _DOC}, {"$set": {"offset_days": offset}}, upsert=True)
    return offset


def store_mover(mongodb_uri: str, databases: dict[str, str]):
    """Moves services' development clocks in their stores directly: for the demo loader
    on the machine itself (its deployment serves several provinces, so no admin token
    covers all of it and the route refuses every one). Refused in production."""

    async def move(service: str, day: date) -> None:
        if production():
            raise SystemExit("生产配置下不能调整服务时钟。")
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(mongodb_uri, tz_aware=True)
        try:
            await move_to(client[databases[service]], day)
        finally:
            await client.close()

    return move


class StoreClock:
    """The `shared.ports.Clock` adapter: China-local today and now, moved by the
    deployment's stored offset when `movable` (a development deployment's flag)."""

    def __init__(self, db: AsyncDatabase, movable: bool = False) -> None:
        self.db = db
        self.movable = movable

    async def move_to(self, day: date) -> int:
        """Make `day` the deployment's today (development deployments only); the offset in days."""
        if not self.movable:
            raise RuntimeError("clock is not movable")  # the route does not exist then
        return await move_to(self.db, day)

    async def offset_days(self) -> int:
        return await offset_days(self.db) if self.movable else 0

    async def offset(self) -> timedelta:
        return timedelta(days=await offset_days(self.db)) if self.movable else timedelta(0)

    async def today(self) -> date:
        return local_today() + await self.offset()

    async def now(self) -> datetime:
        return datetime.now(CHINA) + await self.offset()
