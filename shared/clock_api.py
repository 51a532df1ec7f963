"""The development clock's routes, the same in every service that has a movable clock.

`GET/PUT /admin/clock` exist only where the service's flag is set (and the flag is
refused beside production keys or an identity provider, shared/clock.py); only an admin
whose token covers every jurisdiction the deployment serves may read or move it.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shared import clock
from shared.api import principal, runtime
from shared.auth import Principal
from shared.errors import Forbidden
from shared.jurisdiction import covers
from shared.runtime import Runtime


class ClockIn(BaseModel):
    today: date = Field(description="把服务的“今天”设为这一天")


def _require_clock_admin(who: Principal, rt: Runtime) -> None:
    who.require_role("admin")
    outside = [c for c in rt.settings.jurisdictions if not covers(who.jurisdiction, c)]
    if outside:
        raise Forbidden(f"调整服务时钟会影响本部署的全部辖区；您的辖区 {who.jurisdiction} 未覆盖："
                        f"{'、'.join(outside)}。", code="clock_not_covered")


def refresher(dev: clock.DevClock):
    """A router dependency: the request's cached day is the stored one (dev clocks only)."""

    async def refresh(request: Request) -> None:
        await dev.refresh(request.app.state.runtime.db)

    return refresh


def add_clock_routes(r: APIRouter, dev: clock.DevClock) -> None:
    """Adds the clock's routes to a service's router, if its clock is movable."""
    if not dev.movable:
        return

    @r.get("/admin/clock", tags=["测试时钟"], summary="服务的“今天”（仅开发与测试部署）")
    async def get_clock(who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        _require_clock_admin(who, rt)
        day = await dev.today(rt.db)
        return {"today": day.isoformat(), "offset_days": await clock.offset_days(rt.db)}

    @r.put("/admin/clock", tags=["测试时钟"], summary="调整服务的“今天”（仅开发与测试部署，生产配置下不存在）")
    async def set_clock(body: ClockIn, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        _require_clock_admin(who, rt)
        offset = await clock.move_to(rt.db, body.today)
        await dev.refresh(rt.db)
        return {"today": body.today.isoformat(), "offset_days": offset}
