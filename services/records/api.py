"""HTTP routes: each translates a request into a handler call or a read, and back.

There is deliberately no route that changes or removes a record: a record path
answers GET only (other methods get 405); a correction is a new POST with `corrects`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from services.records import documents, domain, drawing
from services.records.handlers import Handlers, load_scheme
from services.records.reads import MANAGERS, READERS, ROSTER_SORTS
from shared import consistency, xlsx
from shared.access import EVERYONE, admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.records import Category, RecorderRole
from shared.inputs import Input
from shared.listing import checked, paging_params
from shared.scoped_ids import ClassId


class RecorderIn(Input):
    person_id: str = Field(min_length=1, max_length=64, description="人员编号（其令牌的 user_id）")
    name: str = Field(min_length=1, max_length=50, description="真实姓名")
    role: RecorderRole = Field(
        description="纪实角色：head_teacher 班主任、branch_secretary 支部书记、"
        "class_monitor 班长、committee_member 班委"
    )
    since: date = Field(description="任职日期")


class ReliefIn(Input):
    until: date = Field(description="卸任日期")


class RecordIn(Input):
    category: Category = Field(
        description="类别：study 学习情况、thinking 思想动态、personality 性格特点、"
        "conduct 作风纪律、other 其他"
    )
    observed_on: date = Field(description="观察日期")
    text: str = Field(min_length=1, max_length=5000, description="纪实内容")
    corrects: str | None = Field(None, max_length=64, description="更正的记录编号（更正时填写；原记录保留）")


class ItemScoreIn(Input):
    item_id: str = Field(min_length=1, max_length=64)
    points: float = Field(description="得分（0 至该项目满分）")


class ScoreIn(Input):
    week: date = Field(description="评分周（任一天，按所在周的星期一计）")
    scores: list[ItemScoreIn] = Field(min_length=1, max_length=100)
    note: str = Field("", max_length=1000, description="讲评意见")


class SheetRowIn(Input):
    cadre_id: str = Field(min_length=1, max_length=64)
    scores: list[ItemScoreIn] = Field(min_length=1, max_length=100)
    note: str = Field("", max_length=1000, description="讲评意见")


class ScoreSheetIn(Input):
    week: date = Field(description="评分周（任一天，按所在周的星期一计）")
    rows: list[SheetRowIn] = Field(min_length=1, max_length=500, description="每名学员一行")


class SchemeIn(Input):
    template: Literal["huzhou"] | None = Field(None, description="使用内置方案：huzhou 湖州“三百分”26项")
    scheme_id: str | None = Field(None, max_length=64)
    title: str | None = Field(None, max_length=200)
    items: list[dict[str, Any]] | None = Field(
        None, description="考核项目：item_id, title, group, max_points, roles"
    )


class NoteIn(Input):
    on: date = Field(description="跟班日期")
    text: str = Field(min_length=1, max_length=5000, description="跟班记录内容")


class CommentIn(Input):
    text: str = Field(min_length=1, max_length=5000, description="结业鉴定评语")


class Accepted(BaseModel):
    stream_id: str
    events: list[str]
    version: int
    record_id: str | None = None
    # Names what was written; a read sent X-Ganxun-After with it reflects it (shared/consistency.py).
    token: str | None = None


def _accepted(envs, record_id: str | None = None) -> Accepted:
    return Accepted(
        stream_id=envs[-1].stream_id,
        events=[e.type for e in envs],
        version=envs[-1].stream_version,
        record_id=record_id,
        token=consistency.token_of("records", envs),
    )


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": xlsx.disposition(filename)}
    )


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


router = APIRouter(tags=["纪实考察"])


# -- recorders (3+N) -----------------------------------------------------------
@router.post(
    "/classes/{class_id}/recorders",
    status_code=201,
    response_model=Accepted,
    summary="任命纪实人员（3+N），或变更其角色",
    **admits(*MANAGERS),
)
async def assign(
    class_id: ClassId,
    body: RecorderIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    envs = await h.assign_recorder(ctx, who, class_id, body.person_id, body.name, body.role, body.since)
    return _accepted(envs)


@router.post(
    "/classes/{class_id}/recorders/{person_id}/relief",
    status_code=201,
    response_model=Accepted,
    summary="纪实人员卸任",
    **admits(*MANAGERS),
)
async def relieve(
    class_id: ClassId,
    person_id: str,
    body: ReliefIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.relieve_recorder(ctx, who, class_id, person_id, body.until))


@router.get("/classes/{class_id}/recorders", summary="纪实人员（现任及任职历史）", **admits(*READERS))
async def recorders(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.recorders(who, class_id)


# -- the recorder's own pages (纪实人员本人) --------------------------------------------------------
@router.get("/me/classes", summary="我记录的班次（本人任过纪实人员的班次，含现任角色）", **admits("recorder"))
async def my_classes(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.my_classes(who)


@router.get(
    "/classes/{class_id}/roster",
    summary="纪实名册：每名学员最近被记录的日期与记录数，近期未被记录者标出（分页、搜索、排序）",
    **admits(*READERS),
)
async def recording_roster(
    class_id: ClassId,
    days: int = Query(7, ge=1, le=366, description="多少天未被记录算“近期未记录”"),
    stale: bool = Query(False, description="只看近期未被记录的学员"),
    paging: dict = Depends(paging_params),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    p = checked(paging, ROSTER_SORTS)
    return await h.reads.recording_roster(who, class_id, await h.clock.today(), days, p, stale)


# -- records -------------------------------------------------------------------
@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/records",
    status_code=201,
    response_model=Accepted,
    summary="实名纪实（更正时填写 corrects；原记录永不删除、不修改）",
    **admits("recorder"),
)
async def log(
    class_id: ClassId,
    cadre_id: str,
    body: RecordIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    record_id, envs = await h.log_record(
        ctx, who, class_id, cadre_id, body.category, body.observed_on, body.text, body.corrects
    )
    return _accepted(envs, record_id)


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/records",
    summary="学员的全部纪实记录（含更正）",
    **admits(*READERS),
)
async def records(
    class_id: ClassId, cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    return await h.reads.records(who, class_id, cadre_id)


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/records/{record_id}",
    summary="一条纪实记录（只读）",
    **admits(*READERS),
)
async def record(
    class_id: ClassId,
    cadre_id: str,
    record_id: str,
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await h.reads.record(who, class_id, cadre_id, record_id)


async def _completeness(
    h: Handlers, who: Principal, class_id: str, days: int, as_of: date | None
) -> tuple[dict, dict]:
    return await h.reads.completeness(who, class_id, as_of or await h.clock.today(), days)


@router.get(
    "/classes/{class_id}/completeness",
    summary="无遗漏检查：近期未被三名核心纪实人员记录的学员",
    **admits(*READERS),
)
async def complete(
    class_id: ClassId,
    days: int = Query(7, ge=1, le=366, description="检查最近多少天"),
    as_of: date | None = Query(None, description="截至日期（默认今天）"),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return (await _completeness(h, who, class_id, days, as_of))[0]


@router.get("/classes/{class_id}/completeness.xlsx", summary="无遗漏检查（Excel）", **admits(*READERS))
async def complete_xlsx(
    class_id: ClassId,
    days: int = Query(7, ge=1, le=366),
    as_of: date | None = Query(None),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    c, roster = await _completeness(h, who, class_id, days, as_of)
    return xlsx.response(documents.completeness_xlsx(c), f"无遗漏检查-{roster['title']}-{c['as_of']}.xlsx")


# -- assessment -------------------------------------------------------------------
@router.get("/schemes/huzhou", summary="内置示例：湖州“三百分”量化考核方案（26项）", **admits(*EVERYONE))
async def huzhou(who: Principal = Depends(principal)):
    return load_scheme("huzhou")


@router.post(
    "/classes/{class_id}/scheme",
    status_code=201,
    response_model=Accepted,
    summary="设置量化考核方案",
    **admits(*MANAGERS),
)
async def set_scheme(
    class_id: ClassId,
    body: SchemeIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    envs = await h.set_scheme(ctx, who, class_id, body.template, body.scheme_id, body.title, body.items)
    return _accepted(envs)


@router.get("/classes/{class_id}/scheme", summary="本班量化考核方案", **admits(*READERS))
async def scheme(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.scheme(who, class_id)


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/scores",
    status_code=201,
    response_model=Accepted,
    summary="周量化评分（按方案规定的角色评分，不得超过满分）",
    **admits("recorder"),
)
async def score(
    class_id: ClassId,
    cadre_id: str,
    body: ScoreIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    pairs = tuple((s.item_id, s.points) for s in body.scores)
    return _accepted(await h.score_week(ctx, who, class_id, cadre_id, body.week, pairs, body.note))


@router.post(
    "/classes/{class_id}/scores",
    summary="周评分表：记录员一次提交全班一周的评分（逐人保存；未保存的逐人说明原因）",
    **admits("recorder"),
)
async def score_sheet(
    class_id: ClassId,
    body: ScoreSheetIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    rows = [(row.cadre_id, tuple((s.item_id, s.points) for s in row.scores), row.note) for row in body.rows]
    return await h.score_sheet(ctx, who, class_id, body.week, rows)


@router.get(
    "/classes/{class_id}/assessment/weeks/{week}",
    summary="每周小组讲评（按学习小组排名）",
    **admits(*READERS),
)
async def weekly(
    class_id: ClassId, week: date, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    return await h.reads.weekly_review(who, class_id, domain.monday(week))


@router.get("/classes/{class_id}/assessment/months/{month}", summary="每月小结", **admits(*READERS))
async def monthly(
    class_id: ClassId,
    month: str = PathParam(pattern=r"^\d{4}-\d{2}$", description="月份，如 2026-10"),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await h.reads.monthly_summary(who, class_id, month)


@router.get(
    "/classes/{class_id}/assessment/ranking", summary="累计得分排名（全班与学习小组）", **admits(*READERS)
)
async def ranking(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return (await h.reads.ranking(who, class_id))[0]


@router.get(
    "/classes/{class_id}/assessment/ranking.xlsx", summary="累计得分排名（Excel）", **admits(*READERS)
)
async def ranking_xlsx(
    class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    r, roster = await h.reads.ranking(who, class_id)
    return xlsx.response(documents.ranking_xlsx(r), f"量化考核排名-{roster['title']}.xlsx")


# -- class following, final comment ---------------------------------------------------
@router.post(
    "/classes/{class_id}/supervision",
    status_code=201,
    response_model=Accepted,
    summary="跟班记录（组织部）",
    **admits("org_department"),
)
async def supervise(
    class_id: ClassId,
    body: NoteIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.note_supervision(ctx, who, class_id, body.on, body.text))


@router.get("/classes/{class_id}/supervision", summary="跟班记录", **admits(*MANAGERS))
async def notes(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.supervision(who, class_id)


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/final-comment",
    status_code=201,
    response_model=Accepted,
    summary="结业鉴定评语（班主任）",
    **admits("recorder"),
)
async def final(
    class_id: ClassId,
    cadre_id: str,
    body: CommentIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.write_final_comment(ctx, who, class_id, cadre_id, body.text))


# -- the record form and the portrait ------------------------------------------------
# A PDF is drawn in a worker process (services/records/drawing.py; about 54 ms of CPU): the
# event loop goes on answering other requests meanwhile, and several PDFs are drawn at once.
async def _sheet(h: Handlers, who: Principal, class_id: str, cadre_id: str) -> dict:
    """What the HTML and the PDF of the form and the portrait show."""
    return documents.gather(*await h.reads.trainee_sheet(who, class_id, cadre_id))


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/form.html",
    response_class=HTMLResponse,
    summary="《干部教育培训纪实考察记录表》（网页）",
    **admits(*READERS),
)
async def form_html(
    class_id: ClassId, cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    return HTMLResponse(documents.form_html(await _sheet(h, who, class_id, cadre_id)))


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/form.pdf",
    summary="《干部教育培训纪实考察记录表》（PDF）",
    **admits(*READERS),
)
async def form_pdf(
    class_id: ClassId, cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    data = await _sheet(h, who, class_id, cadre_id)
    return _pdf(await drawing.drawn("form_pdf", data), f"纪实考察记录表-{data['name']}.pdf")


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/portrait.html",
    response_class=HTMLResponse,
    summary="干部“肖像”（网页）",
    **admits(*READERS),
)
async def portrait_html(
    class_id: ClassId, cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    return HTMLResponse(documents.portrait_html(await _sheet(h, who, class_id, cadre_id)))


@router.get(
    "/classes/{class_id}/trainees/{cadre_id}/portrait.pdf", summary="干部“肖像”（PDF）", **admits(*READERS)
)
async def portrait_pdf(
    class_id: ClassId, cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    data = await _sheet(h, who, class_id, cadre_id)
    return _pdf(await drawing.drawn("portrait_pdf", data), f"干部肖像-{data['name']}.pdf")
