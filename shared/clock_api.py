"""The development clock's routes, the same in every service whose clock is movable.

`GET/PUT /admin/clock` exist only where the service's flag is set (`Settings.movable_clock`;
the flag is refused beside production keys or an identity provider, shared/clock.py):
`shared.api.create_app` mounts `router` then, and only then. Only an admin whose token
covers every jurisdiction the deployment serves may read or move the clock.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shared.access import admits
from shared.api import principal, runtime
from shared.auth import Principal
from shared.errors import Forbidden
from shared.jurisdiction import covers
from shared.runtime import Runtime

PATH = "/admin/clock"
TAGS = ["测试时钟"]


class ClockIn(BaseModel):
    today: date = Field(description="把服务的“今天”设为这一天")


def _require_clock_admin(who: Principal, rt: Runtime) -> None:
    who.require_role("admin")
    outside = [c for c in rt.settings.jurisdictions if not covers(who.jurisdiction, c)]
    if outside:
        raise Forbidden(
            f"调整服务时钟会影响本部署的全部辖区；您的辖区 {who.jurisdiction} 未覆盖：{'、'.join(outside)}。",
            code="clock_not_covered",
        )


async def get_clock(who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
    _require_clock_admin(who, rt)
    return {"today": (await rt.clock.today()).isoformat(), "offset_days": await rt.clock.offset_days()}


async def set_clock(body: ClockIn, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
    _require_clock_admin(who, rt)
    return {"today": body.today.isoformat(), "offset_days": await rt.clock.move_to(body.today)}


def _add(r: APIRouter) -> None:
    r.add_api_route(
        PATH,
        get_clock,
        methods=["GET"],
        tags=TAGS,
        summary="服务的“今天”（仅开发与测试部署）",
        **admits("admin"),
    )
    r.add_api_route(
        PATH,
        set_clock,
        methods=["PUT"],
        tags=TAGS,
        summary="调整服务的“今天”（仅开发与测试部署，生产配置下不存在）",
        **admits("admin"),
    )


router = APIRouter()
_add(router)


def paths(r: APIRouter) -> set[str]:
    """The paths a router serves, through the routers it includes (FastAPI keeps those apart)."""
    found: set[str] = set()
    for route in r.routes:
        inner = getattr(route, "original_router", None)
        found |= paths(inner) if inner is not None else {getattr(route, "path", "")}
    return found
