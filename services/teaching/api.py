"""HTTP routes of teaching."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from shared.api import principal, read_document, runtime
from shared.auth import Principal
from shared.errors import NotFound
from shared.runtime import Runtime

READERS = ("party_school", "org_department", "analyst", "admin")


def routes() -> APIRouter:
    r = APIRouter(tags=["班级名册"])

    @r.get("/classes/{class_id}/roster", summary="班级名册")
    async def roster(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role(*READERS)
        return await read_document(rt, "class_roster", class_id, who,
                                   NotFound(f"班次 {class_id} 的名册不存在（或尚未同步）。", code="roster_not_found"))

    return r
