"""HTTP routes: each translates a request into a handler call or a read, and back."""

from __future__ import annotations

from datetime import date
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from services.followup import attachments, report
from services.followup.domain import QUESTIONS, SCORE_MAX, SCORE_MIN, STAGE_NAMES, stage_of
from services.followup.handlers import MANAGERS, Handlers
from services.followup.reads import READERS, WORK_SORTS
from shared import consistency, xlsx
from shared import listing as lst
from shared.access import EVERYONE, admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.followup import EVALUATOR_ROLES, MENTOR_TASKS
from shared.ids import new_id
from shared.inputs import Input
from shared.scoped_ids import ClassId, OutcomeId, as_filter, qualify

ID = r"^[A-Za-z0-9_-]{1,64}$"


class PlanIn(Input):
    months: list[int] = Field(
        [1, 3, 6, 12], min_length=1, max_length=12, description="结业后第几个月设跟踪节点"
    )
    grace_days: int = Field(14, ge=0, le=90, description="宽限天数：到期后多少天内未完成即为逾期")


class EvaluationIn(Input):
    role: Literal["self", "colleague", "unit_leader", "mentor"] = Field(
        description="评价角色：self 本人、colleague 同事、unit_leader 单位领导、mentor 导师"
    )
    evaluator_name: str | None = Field(
        None, max_length=50, description="评价人姓名（同事评价时填写同事姓名，默认取登录人）"
    )
    scores: dict[str, float] = Field(description="各评价项得分（0–100），评价项见 GET /questions")
    text: str = Field("", max_length=5000, description="评价意见")


class MentorIn(Input):
    mentor_id: str = Field(pattern=ID, description="导师编号")
    mentor_name: str = Field(min_length=1, max_length=50, description="导师姓名")
    mentor_post: str = Field("", max_length=100, description="导师职务")


class MentorTaskIn(Input):
    task: Literal["core_decision", "urgent_matter", "important_process"] = Field(
        description="core_decision 参与一件核心事务决策；urgent_matter "
        "进行一次急难事件化解；important_process 策划一次重要事项流程"
    )
    evidence: str = Field(min_length=1, max_length=5000, description="佐证材料")
    comment: str = Field(min_length=1, max_length=5000, description="导师评语")
    attachments: list[str] = Field(
        default_factory=list, max_length=20, description="已上传的佐证附件编号（照片或文档）"
    )


class TalkIn(Input):
    on: date = Field(description="上讲台日期")
    audience: str = Field(min_length=1, max_length=200, description="听众（如：本单位全体干部）")
    topic: str = Field(min_length=1, max_length=200, description="题目")
    attendees: int = Field(0, ge=0, le=100000, description="听讲人数")
    talk_id: str | None = Field(
        None, pattern=ID, description="编号（不填则自动生成；重复提交同一编号不会重复登记）"
    )


class OutcomeIn(Input):
    kind: Literal["report", "proposal"] = Field(description="report 调研报告；proposal 金点子")
    title: str = Field(min_length=1, max_length=200, description="标题")
    authors: list[str] = Field(default_factory=list, max_length=50, description="作者（干部编号或姓名）")
    outcome_id: str | None = Field(None, pattern=ID, description="成果编号（不填则自动生成）")
    on: date | None = Field(None, description="成果形成（报送）日期，不填则为今天")


class EndorsementIn(Input):
    kind: Literal["approval", "adoption", "conversion"] = Field(
        description="approval 领导批示；adoption 采纳；conversion 转化（转化为制度、措施或工作成果）"
    )
    by: str | None = Field(
        None,
        max_length=100,
        description="批示领导或采纳单位（组织部、党校登记时必填；单位登记时为本单位，不填）",
    )
    on: date = Field(description="日期")
    note: str = Field("", max_length=2000, description="批示内容或采纳情况")


class AttachmentOut(BaseModel):
    attachment_id: str
    class_id: str
    cadre_id: str | None = Field(None, description="佐证附件所属学员（成果文档无）")
    outcome_id: str | None = Field(None, description="成果文档所属成果（佐证附件无）")
    name: str = Field(description="文件名（已去掉路径）")
    kind: str = Field(description="按内容判断的类型：jpg、png、pdf、docx、xlsx")
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploader_name: str
    jurisdiction: str
    uploaded_at: str


class Accepted(BaseModel):
    stream_id: str
    events: list[str]
    version: int
    # Names what was written; a read sent X-Ganxun-After with it reflects it (shared/consistency.py).
    token: str | None = None


def _accepted(envs) -> Accepted:
    if not envs:  # an idempotent repeat (the same talk id again): nothing new
        return Accepted(stream_id="", events=[], version=0)
    return Accepted(
        stream_id=envs[-1].stream_id,
        events=[e.type for e in envs],
        version=envs[-1].stream_version,
        token=consistency.token_of("followup", envs),
    )


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


router = APIRouter(tags=["跟踪问效"])


@router.put(
    "/classes/{class_id}/plan",
    response_model=Accepted,
    summary="设定班次跟踪计划（节点月份与宽限期）",
    description="默认结业后 1、3、6、12 个月（一个月听思想、三个月谈表现、六个月考素质、一年内看实绩）。"
    "对此后排定的学员生效；已排定的节点不变。",
    **admits(*MANAGERS, ids_per_jurisdiction=True),
)
async def set_plan(
    class_id: ClassId,
    body: PlanIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.set_plan(ctx, who, class_id, body.months, body.grace_days))


@router.get("/classes/{class_id}/plan", summary="班次跟踪计划", **admits(*READERS, ids_per_jurisdiction=True))
async def get_plan(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.plan(who, class_id)


@router.get("/questions", summary="各跟踪节点的评价项与分值范围", **admits(*EVERYONE))
async def questions(who: Principal = Depends(principal)):
    return {
        "score_min": SCORE_MIN,
        "score_max": SCORE_MAX,
        "roles": EVALUATOR_ROLES,
        "stages": {s: {"name": STAGE_NAMES[s], "questions": q} for s, q in QUESTIONS.items()},
        "by_month": {m: stage_of(m) for m in (1, 3, 6, 12)},
    }


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/milestones/{month}/evaluations",
    status_code=201,
    response_model=Accepted,
    summary="提交跟踪评价（本人、同事、单位领导、导师）",
    description="本人：学员本人登录；同事、单位领导：学员所在单位账号（令牌的单位须与学员单位一致）；"
    "导师：学员当前的帮带导师。所需评价到齐即完成该节点。",
    **admits("trainee", "unit", "evaluator", "mentor"),
)
async def evaluate(
    class_id: ClassId,
    cadre_id: str,
    month: int,
    body: EvaluationIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(
        await h.evaluate(
            ctx, who, class_id, cadre_id, month, body.role, body.evaluator_name, body.scores, body.text
        )
    )


# -- the trainee's and the mentor's own (学员本人、导师本人) ----------------------------------------
@router.get("/me/followup", summary="我的跟踪档案（学员本人：节点、评价、导师）", **admits("trainee"))
async def my_file(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.trainee_file(who, who.user_id)


@router.get(
    "/me/mentees",
    summary="我的帮带对象（导师本人：学员、结业班次、三项帮带任务的完成情况）",
    **admits("mentor"),
)
async def my_mentees(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.my_mentees(who)


@router.put(
    "/classes/{class_id}/trainees/{cadre_id}/mentor",
    status_code=201,
    response_model=Accepted,
    summary="指定或更换“1+1”帮带导师",
    **admits("org_department", "unit"),
)
async def assign_mentor(
    class_id: ClassId,
    cadre_id: str,
    body: MentorIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(
        await h.assign_mentor(
            ctx, who, class_id, cadre_id, body.mentor_id, body.mentor_name, body.mentor_post
        )
    )


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/mentor-tasks",
    status_code=201,
    response_model=Accepted,
    summary="导师记录帮带任务完成（附佐证与评语）",
    description="；".join(MENTOR_TASKS.values()),
    **admits("mentor"),
)
async def mentor_task(
    class_id: ClassId,
    cadre_id: str,
    body: MentorTaskIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(
        await h.complete_mentor_task(
            ctx, who, class_id, cadre_id, body.task, body.evidence, body.comment, body.attachments
        )
    )


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/attachments",
    status_code=201,
    response_model=AttachmentOut,
    summary="导师上传帮带任务的佐证附件（照片 jpg/png 或文档 pdf/docx/xlsx，每个不超过 10 MB）",
    description="按文件内容判断类型，不看文件名；返回的 attachment_id 在登记帮带任务时填入 attachments。",
    **admits("mentor"),
)
async def upload_attachment(
    class_id: ClassId,
    cadre_id: str,
    file: UploadFile = File(description="佐证附件"),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    content = await file.read(attachments.MAX_BYTES + 1)  # one byte over is enough to refuse
    return await h.upload_attachment(who, class_id, cadre_id, file.filename, content)


DOWNLOAD = {
    200: {
        "description": "附件文件（以附件方式下载）",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for _, media, _ in attachments.KINDS.values()
        },
    }
}


@router.get(
    "/attachments/{attachment_id}",
    summary="下载佐证附件或成果文档（佐证：能查看该学员跟踪档案的人；成果文档：能查看该班次成果的人）",
    response_class=Response,
    responses=DOWNLOAD,
    **admits(*READERS, "trainee", "unit", "mentor"),
)
async def download_attachment(
    attachment_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    doc = await h.reads.attachment(who, attachment_id)
    ascii_name = f"attachment-{attachment_id}.{doc['kind']}"
    return Response(
        doc["data"],
        media_type=doc["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(doc['name'])}",
            "X-Content-Type-Options": "nosniff",
            "X-Attachment-SHA256": doc["sha256"],
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/classes/{class_id}/trainees/{cadre_id}/talks",
    status_code=201,
    response_model=Accepted,
    summary="登记上讲台（日期、听众、题目）",
    **admits("trainee", "unit", "org_department"),
)
async def talk(
    class_id: ClassId,
    cadre_id: str,
    body: TalkIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(
        await h.give_talk(
            ctx, who, class_id, cadre_id, body.talk_id, body.on, body.audience, body.topic, body.attendees
        )
    )


@router.post(
    "/classes/{class_id}/outcomes",
    status_code=201,
    response_model=Accepted,
    summary="登记班次成果（调研报告、金点子）",
    **admits(*MANAGERS, "trainee", "unit"),
)
async def outcome(
    class_id: ClassId,
    body: OutcomeIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    # in the reporter's namespace, as class ids are (shared/scoped_ids.py)
    outcome_id = qualify(who.jurisdiction, body.outcome_id or new_id(), "成果", "outcome_id")
    return _accepted(
        await h.report_outcome(ctx, who, class_id, outcome_id, body.kind, body.title, body.authors, body.on)
    )


@router.get(
    "/classes/{class_id}/sharing",
    summary="班次的上讲台与成果（含批示、采纳）",
    description="组织部、党校等看全部；学员看本班成果与本人上讲台；单位看本班成果与本单位学员上讲台。",
    **admits(*READERS, "trainee", "unit"),
)
async def sharing(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.sharing(who, class_id)


@router.post(
    "/outcomes/{outcome_id}/endorsements",
    status_code=201,
    response_model=Accepted,
    summary="登记成果获得的领导批示、采纳或转化",
    description="组织部、党校登记批示或采纳；单位账号登记本单位对本单位学员成果的采纳或转化（以本单位名义）。"
    "日期不早于成果形成日期，不晚于今天。",
    **admits(*MANAGERS, "unit"),
)
async def endorse(
    outcome_id: OutcomeId,
    body: EndorsementIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.endorse_outcome(ctx, who, outcome_id, body.kind, body.by, body.on, body.note))


@router.post(
    "/outcomes/{outcome_id}/document",
    status_code=201,
    response_model=AttachmentOut,
    summary="上传成果文档（调研报告、金点子原文：PDF、Word 或图片，不超过 10 MB）",
    description="按文件内容判断类型，不看文件名；再次上传则替换原文档。组织部、党校；该班次结业学员中的成果作者；"
    "该班次学员所在单位。",
    **admits(*MANAGERS, "trainee", "unit"),
)
async def upload_outcome_document(
    outcome_id: OutcomeId,
    file: UploadFile = File(description="成果文档"),
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    content = await file.read(attachments.MAX_BYTES + 1)  # one byte over is enough to refuse
    return await h.attach_outcome_document(ctx, who, outcome_id, file.filename, content)


@router.get(
    "/unit/sharing",
    summary="本单位学员的上讲台与成果（单位账号）",
    description="辖区内各班次中本单位学员的上讲台记录，以及作者中有本单位学员的成果（含批示、采纳、转化与成果文档）。",
    **admits("unit"),
)
async def unit_sharing(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.unit_sharing(who)


@router.get(
    "/trainees/{cadre_id}/followup",
    summary="学员跟踪档案（节点、评价、导师、上讲台、成效）",
    **admits(*(r for r in READERS if r != "analyst"), "trainee", "unit", "mentor"),
)
async def trainee_file(cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.trainee_file(who, cadre_id)


@router.get(
    "/trainees/{cadre_id}/followup.xlsx",
    summary="导出学员跟踪档案（Excel）",
    **admits(*(r for r in READERS if r != "analyst"), "trainee", "unit", "mentor"),
)
async def trainee_file_xlsx(
    cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    data = await h.reads.trainee_file(who, cadre_id)
    return xlsx.response(report.file_workbook(data), f"跟踪档案_{data.get('name', '')}_{cadre_id}.xlsx")


@router.get(
    "/classes/{class_id}/effect",
    summary="班次培训成效报告",
    description="节点完成率 = 已完成 / 已到期；按时率 = 按时完成 / 已完成；"
    "某月得分 = 该月节点全部评价（各项平均）的平均。",
    **admits(*READERS),
)
async def effect(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.reads.class_effect(who, class_id)


@router.get("/classes/{class_id}/effect.xlsx", summary="导出班次培训成效报告（Excel）", **admits(*READERS))
async def effect_xlsx(
    class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)
):
    data = await h.reads.class_effect(who, class_id)
    return xlsx.response(report.effect_workbook(data), f"培训成效报告_{class_id}.xlsx")


WORK_FILTERS = "status 筛选 due（待完成）或 overdue（已逾期）；unit 单位、class_id 班次（等于）"


async def _worklist(
    h: Handlers,
    who: Principal,
    week_of: date | None,
    p: lst.Paging,
    status: str | None,
    unit: str | None,
    class_id: str | None,
) -> dict:
    today = week_of or await h.clock.today()
    return await h.reads.worklist(who, today, p, status, unit, as_filter(who, class_id))


@router.get(
    "/worklist",
    summary="本周跟踪待办（到期与逾期节点；分页、搜索、排序）",
    description="默认逾期在前，再按到期日、单位、姓名；排序字段："
    + "、".join(f"{k}（{v}）" for k, v in WORK_SORTS.items())
    + f"。q 搜索姓名、单位；{WORK_FILTERS}。due、overdue 与 by_class 是整周的数目。",
    **admits("org_department", "party_school", "admin", "unit", "evaluator"),
)
async def worklist(
    week_of: date | None = Query(None, description="该周任一天（默认今天）"),
    status: str | None = Query(None, description="due（待完成）或 overdue（已逾期）"),
    unit: str | None = Query(None, max_length=100, description="单位（等于）"),
    class_id: str | None = Query(None, max_length=64, description="班次编号（等于）"),
    paging: dict = Depends(lst.paging_params),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await _worklist(h, who, week_of, lst.checked(paging, WORK_SORTS), status, unit, class_id)


@router.get(
    "/worklist.xlsx",
    summary="导出本周跟踪待办（Excel，全部符合条件的节点）",
    **admits("org_department", "party_school", "admin", "unit", "evaluator"),
)
async def worklist_xlsx(
    week_of: date | None = Query(None, description="该周任一天（默认今天）"),
    status: str | None = Query(None, description="due（待完成）或 overdue（已逾期）"),
    unit: str | None = Query(None, max_length=100, description="单位（等于）"),
    class_id: str | None = Query(None, max_length=64, description="班次编号（等于）"),
    paging: dict = Depends(lst.paging_params),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    p = lst.everything(lst.checked(paging, WORK_SORTS))
    data = await _worklist(h, who, week_of, p, status, unit, class_id)
    return xlsx.response(report.worklist_workbook(data), f"跟踪待办_{data['week_start']}.xlsx")
