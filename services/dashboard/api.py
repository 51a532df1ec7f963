"""HTTP routes of the dashboard: the page, its JSON views, the live stream, the export.

The page itself carries no data; every figure comes from the JSON routes, which need
the token like every service. EventSource cannot send headers, so the live stream
(and only it) takes the token as the `access_token` query parameter.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from services.dashboard.domain import DEFAULT_HOURS_POLICY, HOURS_STEP
from services.dashboard.handlers import Handlers
from services.dashboard.reads import VIEWERS, check_viewer
from services.dashboard.reads import overview as overview_of
from shared import jurisdiction as jur
from shared.access import admits, declares
from shared.api import principal
from shared.auth import Principal
from shared.errors import DomainError
from shared.scoped_ids import ClassId

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "vendor/echarts.min.js": "text/javascript; charset=utf-8",
}
HEARTBEAT_SECONDS = 15.0
COALESCE_SECONDS = 0.2


def _year(year: str | None, today: date) -> int | None:
    """`year`: a year such as 2026, `all` for every year, or nothing for the current year."""
    if year in (None, ""):
        return today.year
    if year == "all":
        return None
    if not year.isdigit() or not 2000 <= int(year) <= 2100:
        raise DomainError(
            f"年份“{year}”无效：应为 2000–2100 的四位年份，或 all 表示全部年份。",
            code="bad_year",
            field="year",
        )
    return int(year)


def _policy(hours_policy: int) -> int:
    if hours_policy <= 0 or hours_policy % HOURS_STEP or hours_policy > 300:
        raise DomainError(
            f"年度学时标准应为 {HOURS_STEP} 的整数倍（{HOURS_STEP}–300），收到 {hours_policy}。",
            code="bad_hours_policy",
            field="hours_policy",
        )
    return hours_policy


YEAR = Query(None, description="统计年份，如 2026；all 为全部年份；不填为今年")
POLICY = Query(DEFAULT_HOURS_POLICY, description="年度学时标准（学时，10 的整数倍）")
JURISDICTION = Query(None, description="行政区划代码（省、市或县）；不填为令牌所属辖区")
OWN = Query(False, description="true：只看该省（市）本级举办的班次（下级列表中的“本级班次”一行）")

router = APIRouter(tags=["省级看板"])


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


async def _view(
    h: Handlers, who: Principal, jurisdiction: str | None, year: str | None, hours_policy: int, own: bool
) -> dict:
    """The overview as the spreadsheet shows it: the same `overview_of` the JSON route
    renders, which caches its rendering per roll-up version."""
    code = check_viewer(who, jurisdiction)
    today = await h.clock.today()
    r = await h.reads.current()
    return overview_of(r, code, _year(year, today), _policy(hours_policy), today, own)


@router.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str):
    if path not in STATIC_FILES:
        return Response("未找到", status_code=404, media_type="text/plain; charset=utf-8")
    return FileResponse(
        STATIC / path, media_type=STATIC_FILES[path], headers={"Cache-Control": "public, max-age=3600"}
    )


H = Depends(handlers)


@router.get("/api/overview", summary="辖区看板：合计与下级（县并列或县内班次）", **admits(*VIEWERS))
async def overview(
    jurisdiction: str | None = JURISDICTION,
    year: str | None = YEAR,
    hours_policy: int = POLICY,
    own: bool = OWN,
    who: Principal = Depends(principal),
    h: Handlers = H,
):
    code = check_viewer(who, jurisdiction)
    # China's day (the deployment's clock), not UTC's: a class starting today in China has
    # started though UTC is still on yesterday until 16:00 UTC.
    today = await h.clock.today()
    y, policy = _year(year, today), _policy(hours_policy)
    r = await h.reads.current()
    # Rendered once per change: the province view is ~100 rows, and FastAPI's own
    # encoding of it would cost more than computing it.
    body = r.view(
        (code, y, policy, today, own),
        lambda: json.dumps(overview_of(r, code, y, policy, today, own), ensure_ascii=False).encode(),
    )
    return Response(body, media_type="application/json")


@router.get("/api/status", summary="看板状态：汇总是否已载入、是否已与投影核对", **admits(*VIEWERS))
async def status(who: Principal = Depends(principal), h: Handlers = H):
    check_viewer(who, None)
    r = await h.reads.current()
    return {
        "live": r.live,
        "reconciled": r.reconciled,
        "classes": len(r.classes),
        "cadre_buckets": len(r.buckets),
        "version": r.version,
    }


@router.get(
    "/api/classes/{class_id}", summary="班次钻取：学员明细（姓名仅组织部、党校可见）", **admits(*VIEWERS)
)
async def class_detail(
    class_id: ClassId, hours_policy: int = POLICY, who: Principal = Depends(principal), h: Handlers = H
):
    return await h.reads.class_detail(who, class_id, _policy(hours_policy), await h.clock.today())


@router.get("/api/export.xlsx", summary="导出当前视图（Excel）", **admits(*VIEWERS))
async def export_view(
    jurisdiction: str | None = JURISDICTION,
    year: str | None = YEAR,
    hours_policy: int = POLICY,
    own: bool = OWN,
    who: Principal = Depends(principal),
    h: Handlers = H,
):
    view = await _view(h, who, jurisdiction, year, hours_policy, own)
    export, xlsx = _excel()
    return xlsx.response(export.workbook(view), export.filename(view), fallback=export.FALLBACK)


@router.get("/api/classes/{class_id}/export.xlsx", summary="导出班次学员明细（Excel）", **admits(*VIEWERS))
async def export_class(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = H):
    detail = await h.reads.class_detail(who, class_id, DEFAULT_HOURS_POLICY, await h.clock.today())
    name = f"干训看板_班次_{detail['title']}.xlsx"
    export, xlsx = _excel()
    return xlsx.response(export.class_workbook(detail), name, fallback=export.FALLBACK)


def _excel():
    """The Excel modules, imported on the first export: openpyxl is 7 MB of the process's
    memory (issue 16: under 200 MB at a province's size), and most processes never export."""
    from services.dashboard import export
    from shared import xlsx

    return export, xlsx


@router.get(
    "/api/stream",
    summary="实时推送（SSE）：辖区数据变化时发送 update 事件",
    description="EventSource 不能带请求头，令牌以 access_token 查询参数传入（仅此接口）。",
    **declares(*VIEWERS),
)
async def stream(
    request: Request,
    access_token: str = Query(..., description="登录令牌"),
    jurisdiction: str | None = JURISDICTION,
    h: Handlers = H,
):
    who = await request.app.state.runtime.verifier.averify(f"Bearer {access_token}")
    code = check_viewer(who, jurisdiction)
    prefix = jur.prefix(code)
    r = await h.reads.current()
    queue = r.subscribe()

    async def events():
        try:
            yield "retry: 1000\nevent: ready\ndata: {}\n\n"
            while not await request.is_disconnected():
                try:
                    codes = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    if not r.live:
                        await h.reads.current()
                    yield ": heartbeat\n\n"
                    continue
                await asyncio.sleep(COALESCE_SECONDS)
                while not queue.empty():
                    codes = codes | queue.get_nowait()
                mine = sorted(c for c in codes if c.startswith(prefix))
                if mine:
                    yield f"event: update\ndata: {json.dumps({'codes': mine})}\n\n"
        finally:
            r.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
