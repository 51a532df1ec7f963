"""HTTP routes: thin translations into commands and projection reads."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shared.api import context, principal, read_document, runtime
from shared.auth import Principal
from shared.commands import Context
from shared.errors import NotFound
from shared.events import utcnow
from shared.ids import new_id
from shared.runtime import Runtime
from services.selection import handlers
from services.selection.domain import NominateTrainee, OpenClass


class ClassIn(BaseModel):
    title: str = Field(min_length=1, max_length=200, description="班次名称")
    capacity: int = Field(gt=0, le=5000, description="计划人数")
    starts_on: date = Field(description="开班日期")
    ends_on: date = Field(description="结业日期")
    organiser: str = Field("县委党校", min_length=1, max_length=100, description="承办单位")
    class_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="班次编号（不填则自动生成）")


class NominationIn(BaseModel):
    cadre_id: str = Field(min_length=1, max_length=64, description="干部编号")
    name: str = Field(min_length=1, max_length=50, description="姓名")
    unit: str = Field(min_length=1, max_length=100, description="推荐单位")


class Accepted(BaseModel):
    stream_id: str
    events: list[str]
    version: int


def _accepted(envs) -> Accepted:
    return Accepted(stream_id=envs[-1].stream_id, events=[e.type for e in envs], version=envs[-1].stream_version)


def routes() -> APIRouter:
    r = APIRouter(tags=["班次与推荐"])

    @r.post("/classes", status_code=201, response_model=Accepted, summary="开设班次")
    async def open_class(body: ClassIn, ctx: Context = Depends(context), who: Principal = Depends(principal),
                         rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school")
        cmd = OpenClass(class_id=body.class_id or new_id(), title=body.title, capacity=body.capacity,
                        starts_on=body.starts_on, ends_on=body.ends_on, organiser=body.organiser)
        return _accepted(await handlers.open_class(rt.commands, ctx, who, cmd))

    @r.post("/classes/{class_id}/nominations", status_code=201, response_model=Accepted, summary="单位推荐学员")
    async def nominate(class_id: str, body: NominationIn, ctx: Context = Depends(context),
                       who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("unit", "org_department")
        cmd = NominateTrainee(cadre_id=body.cadre_id, name=body.name, unit=body.unit,
                              today=utcnow().date(), home_jurisdiction=who.jurisdiction)
        return _accepted(await handlers.nominate(rt.commands, ctx, who, class_id, cmd))

    @r.get("/classes/{class_id}", summary="班次及推荐情况")
    async def get_class(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        return await read_document(rt, "classes", class_id, who,
                                   NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found"))

    return r
