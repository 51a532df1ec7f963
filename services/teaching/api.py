"""HTTP routes of teaching: each translates a request into one handler call or one read and
back; no collection access and no rule here (handlers.py, reads.py). Paired JSON and
spreadsheet routes share the function that makes their data."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.teaching import classroom as cr
from services.teaching import files
from services.teaching.handlers import Handlers
from services.teaching.reads import READERS
from shared import consistency, uploads, xlsx
from shared import listing as lst
from shared.access import admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.teaching import (
    CourseAdded,
    CourseKind,
    CourseMode,
    FacultyAdded,
    FacultyKind,
    Method,
    TeachingSiteAdded,
)
from shared.events import utcnow
from shared.ids import new_id
from shared.inputs import Input
from shared.scoped_ids import ClassId, as_filter

RUNS = ("party_school",)
ID = r"^[A-Za-z0-9_-]{1,64}$"


class CourseIn(Input):
    course_id: str | None = Field(None, pattern=ID, description="课程编号（不填则自动生成）")
    title: str = Field(min_length=1, max_length=200, description="课程名称")
    kind: CourseKind = Field(description="课程类别")
    method: Method = Field("讲授", description="教学方式")
    hours: float = Field(gt=0, le=100, description="学时")
    mode: CourseMode = Field("必修", description="必修/研讨/实训/选修")
    materials: list[str] = Field(default_factory=list, description="教材与资料")


class FacultyIn(Input):
    teacher_id: str | None = Field(None, pattern=ID, description="师资编号（不填则自动生成）")
    name: str = Field(min_length=1, max_length=50, description="姓名")
    kind: FacultyKind = Field(description="党校教师/特邀专家/领导干部")
    post: str = Field("", max_length=100, description="职务（领导干部上讲台须填）")


class SiteIn(Input):
    site_id: str | None = Field(None, pattern=ID, description="教学点编号（不填则自动生成）")
    name: str = Field(min_length=1, max_length=100, description="名称")
    address: str = Field("", max_length=200, description="地址")
    site_type: str = Field("教室", max_length=50, description="类型，如 教室、现场教学点、红色教育基地")
    capacity: int = Field(gt=0, le=10000, description="可容纳人数")


class CurriculumIn(Input):
    course_ids: list[str] = Field(min_length=1, description="课程编号，按教学顺序")
    required_hours: dict[CourseKind, float] = Field(default_factory=dict, description="各类课程的学时要求")


class SessionIn(Input):
    session_id: str | None = Field(None, pattern=ID, description="课次编号（不填则自动生成）")
    course_id: str
    teacher_id: str
    site_id: str
    on: date = Field(description="上课日期")
    starts_at: time = Field(description="上课时间")
    ends_at: time = Field(description="下课时间")
    hours: float | None = Field(None, gt=0, le=24, description="学时（不填则按课程学时）")
    required: bool | None = Field(None, description="是否必修（不填则按课程）")


class RescheduleIn(Input):
    on: date
    starts_at: time
    ends_at: time
    teacher_id: str
    site_id: str
    reason: str = Field("", max_length=200)


class ReasonIn(Input):
    reason: str = Field("", max_length=200)


class CheckInEntry(Input):
    cadre_id: str = Field(min_length=1, max_length=64)
    late: bool = False


class CheckInsIn(Input):
    entries: list[CheckInEntry] = Field(
        min_length=1, max_length=2000, description="签到学员（可整班一次提交）"
    )


class EarlyLeaveIn(Input):
    cadre_id: str = Field(min_length=1, max_length=64)
    minutes: int = Field(gt=0, le=1440, description="早退分钟数")


class LeaveIn(Input):
    reason: str = Field(min_length=1, max_length=500, description="请假事由")
    cadre_id: str | None = Field(None, description="学员编号（学员本人申请时不填）")


class ExcuseIn(Input):
    cadre_id: str = Field(min_length=1, max_length=64, description="学员编号")
    reason: str = Field(min_length=1, max_length=500, description="补假事由")


class DecisionIn(Input):
    approved: bool
    note: str = Field("", max_length=200)


class CodeIn(Input):
    code: str = Field(min_length=1, max_length=64, description="二维码中的签到码")


class CheckInCode(BaseModel):
    code: str
    changes_at: str
    refresh_seconds: int
    window_seconds: int
    open_until: str
    attended: int
    roster: int


class SelfCheckedIn(BaseModel):
    count: int
    late: bool


class RatingIn(Input):
    rating: int = Field(ge=1, le=5, description="评分 1–5")
    comment: str = Field("", max_length=500)


class RuleIn(Input):
    min_attendance_rate: float = Field(0.9, ge=0, le=1, description="最低出勤率")
    require_required_courses: bool = Field(True, description="是否须修完全部必修课")
    min_hours: float = Field(0, ge=0, description="最低总学时")
    graduated_on: date | None = Field(
        None, description="结业日期：默认今天；补录往期班次时填写（不早于班次最后一天，不晚于今天）"
    )


class Accepted(BaseModel):
    stream_id: str | None
    events: list[str]
    version: int | None
    count: int
    # Names what was written; a read sent X-Ganxun-After with it reflects it (shared/consistency.py).
    token: str | None = None


def _accepted(envs) -> Accepted:
    if not envs:
        return Accepted(stream_id=None, events=[], version=None, count=0)
    return Accepted(
        stream_id=envs[-1].stream_id,
        events=sorted({e.type for e in envs}),
        version=envs[-1].stream_version,
        count=len(envs),
        token=consistency.token_of("teaching", envs),
    )


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


Who = Annotated[Principal, Depends(principal)]
Ctx = Annotated[Context, Depends(context)]
H = Annotated[Handlers, Depends(handlers)]
router = APIRouter()


# -- catalogue ------------------------------------------------------------------------------------
@router.post(
    "/courses",
    status_code=201,
    response_model=Accepted,
    tags=["课程与师资"],
    summary="录入课程",
    **admits(*RUNS, ids_per_jurisdiction=True),
)
async def add_course(body: CourseIn, ctx: Ctx, who: Who, h: H):
    course = CourseAdded(**{**body.model_dump(), "course_id": body.course_id or new_id()})
    return _accepted(await h.add_course(ctx, course))


COURSE_FILE = "列：课程编号、课程名称、课程类别、教学方式、学时、课程性质、教材与资料"


@router.post(
    "/courses/import",
    status_code=201,
    response_model=Accepted,
    tags=["课程与师资"],
    summary="批量导入课程（xlsx 或 CSV；整批录入或整批不录入）",
    **admits(*RUNS, ids_per_jurisdiction=True),
)
async def import_courses(ctx: Ctx, who: Who, h: H, file: UploadFile = File(description=COURSE_FILE)):
    courses = await run_in_threadpool(files.course_records, file.filename or "", await uploads.read(file))
    return _accepted(await h.add_courses(ctx, courses))


@router.post(
    "/faculty",
    status_code=201,
    response_model=Accepted,
    tags=["课程与师资"],
    summary="录入师资",
    **admits(*RUNS, ids_per_jurisdiction=True),
)
async def add_faculty(body: FacultyIn, ctx: Ctx, who: Who, h: H):
    return _accepted(
        await h.add_faculty(
            ctx, FacultyAdded(**{**body.model_dump(), "teacher_id": body.teacher_id or new_id()})
        )
    )


@router.post(
    "/sites",
    status_code=201,
    response_model=Accepted,
    tags=["课程与师资"],
    summary="录入教学点",
    **admits(*RUNS, ids_per_jurisdiction=True),
)
async def add_site(body: SiteIn, ctx: Ctx, who: Who, h: H):
    return _accepted(
        await h.add_site(ctx, TeachingSiteAdded(**{**body.model_dump(), "site_id": body.site_id or new_id()}))
    )


@router.get(
    "/catalogue/{jurisdiction}", tags=["课程与师资"], summary="课程库、师资库与教学点", **admits(*READERS)
)
async def get_catalogue(jurisdiction: str, who: Who, h: H):
    return await h.reads.catalogue(who, jurisdiction)


# -- the trainee's own pages (学员本人) --------------------------------------------------------------
@router.get("/me/classes", tags=["学员本人"], summary="我的班次（本人为在册学员的班次）", **admits("trainee"))
async def my_classes(who: Who, h: H):
    return await h.reads.my_classes(who)


@router.get(
    "/me/classes/{class_id}/sessions",
    tags=["学员本人"],
    summary="我的课表：每个课次及本人的考勤、请假与答复、评价",
    **admits("trainee"),
)
async def my_sessions(class_id: ClassId, who: Who, h: H):
    return await h.reads.my_sessions(who, class_id)


# -- roster, curriculum, timetable -----------------------------------------------------------------
@router.get(
    "/classes/{class_id}/roster",
    tags=["班级名册"],
    summary="班级名册（来自选学服务的推荐与确定）",
    **admits(*READERS),
)
async def roster(class_id: ClassId, who: Who, h: H):
    return await h.reads.roster(who, class_id)


@router.put(
    "/classes/{class_id}/curriculum",
    response_model=Accepted,
    tags=["教学计划与课表"],
    summary="设置教学计划",
    **admits(*RUNS),
)
async def curriculum(class_id: ClassId, body: CurriculumIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.set_curriculum(ctx, who, class_id, body.course_ids, dict(body.required_hours)))


@router.post(
    "/classes/{class_id}/sessions",
    status_code=201,
    response_model=Accepted,
    tags=["教学计划与课表"],
    summary="排课（教师或场地时间冲突时拒绝）",
    **admits(*RUNS),
)
async def schedule(class_id: ClassId, body: SessionIn, ctx: Ctx, who: Who, h: H):
    return _accepted(
        await h.schedule(
            ctx,
            who,
            class_id,
            body.session_id or new_id(),
            body.course_id,
            body.teacher_id,
            body.site_id,
            body.on,
            body.starts_at,
            body.ends_at,
            body.hours,
            body.required,
            id_given=bool(body.session_id),
        )
    )


@router.post(
    "/classes/{class_id}/sessions/{session_id}/reschedule",
    response_model=Accepted,
    tags=["教学计划与课表"],
    summary="调课",
    **admits(*RUNS),
)
async def reschedule(class_id: ClassId, session_id: str, body: RescheduleIn, ctx: Ctx, who: Who, h: H):
    return _accepted(
        await h.reschedule(
            ctx,
            who,
            class_id,
            session_id,
            body.on,
            body.starts_at,
            body.ends_at,
            body.teacher_id,
            body.site_id,
            body.reason,
        )
    )


@router.post(
    "/classes/{class_id}/sessions/{session_id}/cancel",
    response_model=Accepted,
    tags=["教学计划与课表"],
    summary="停课",
    **admits(*RUNS),
)
async def cancel(class_id: ClassId, session_id: str, body: ReasonIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.cancel(ctx, who, class_id, session_id, body.reason))


@router.get(
    "/classes/{class_id}/timetable",
    tags=["教学计划与课表"],
    summary="班级课表",
    **admits(*READERS, "trainee"),
)
async def get_timetable(class_id: ClassId, who: Who, h: H):
    return await h.reads.timetable(who, class_id)


@router.get(
    "/classes/{class_id}/timetable.ics",
    tags=["教学计划与课表"],
    summary="课表日历（iCalendar）",
    response_class=Response,
    **admits(*READERS, "trainee"),
)
async def get_ics(class_id: ClassId, who: Who, h: H):
    tt = await h.reads.timetable(who, class_id)
    text = files.ics(tt["title"], tt["sessions"], await h.reads.sites(tt["jurisdiction"]), utcnow())
    return Response(
        text,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": xlsx.disposition(f"{tt['title'] or '班次'}课表.ics")},
    )


# -- attendance -------------------------------------------------------------------------------------
S = "/classes/{class_id}/sessions/{session_id}"


@router.post(
    S + "/check-ins",
    response_model=Accepted,
    tags=["考勤"],
    summary="签到（单人或整班批量，一次提交）",
    **admits(*RUNS),
)
async def check_in(class_id: ClassId, session_id: str, body: CheckInsIn, ctx: Ctx, who: Who, h: H):
    entries = [(e.cadre_id, e.late) for e in body.entries]
    return _accepted(await h.check_in(ctx, who, class_id, session_id, entries))


@router.post(
    S + "/self-check-in/open",
    response_model=CheckInCode,
    tags=["考勤"],
    summary="开放扫码签到（至下课），返回当前签到码",
    **admits(*RUNS),
)
async def open_self_check_in(class_id: ClassId, session_id: str, ctx: Ctx, who: Who, h: H):
    return await h.open_self_check_in(ctx, who, class_id, session_id)


@router.get(
    S + "/self-check-in/code",
    response_model=CheckInCode,
    tags=["考勤"],
    summary="当前签到码（约每 20 秒更换，一分钟内有效）",
    **admits(*RUNS),
)
async def check_in_code(class_id: ClassId, session_id: str, who: Who, h: H):
    return await h.check_in_code(who, class_id, session_id)


@router.post(
    S + "/self-check-in",
    response_model=SelfCheckedIn,
    tags=["考勤"],
    summary="学员扫码签到（本人）",
    **admits("trainee"),
)
async def self_check_in(class_id: ClassId, session_id: str, body: CodeIn, ctx: Ctx, who: Who, h: H):
    envs = await h.self_check_in(ctx, who, class_id, session_id, body.code)
    return SelfCheckedIn(count=len(envs), late=any(e.payload.get("late") for e in envs))


@router.get(
    "/leave-requests",
    tags=["考勤"],
    summary="待审批的请假（某班次或全部未结束的班次，跨课次）",
    **admits(*RUNS),
)
async def leave_inbox(who: Who, h: H, class_id: str | None = Query(None, pattern=ID, description="班次")):
    return await h.reads.leave_inbox(who, as_filter(who, class_id), await h.clock.today())


@router.post(S + "/early-leaves", response_model=Accepted, tags=["考勤"], summary="记录早退", **admits(*RUNS))
async def early(class_id: ClassId, session_id: str, body: EarlyLeaveIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.record_early_leave(ctx, who, class_id, session_id, body.cadre_id, body.minutes))


@router.post(
    S + "/leave-requests",
    status_code=201,
    response_model=Accepted,
    tags=["考勤"],
    summary="请假申请（学员本人或党校代为登记）",
    **admits("trainee", *RUNS),
)
async def request_leave(class_id: ClassId, session_id: str, body: LeaveIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.request_leave(ctx, who, class_id, session_id, body.cadre_id, body.reason))


@router.post(
    S + "/leave-requests/{cadre_id}/decision",
    response_model=Accepted,
    tags=["考勤"],
    summary="请假审批",
    **admits(*RUNS),
)
async def decide_leave(
    class_id: ClassId, session_id: str, cadre_id: str, body: DecisionIn, ctx: Ctx, who: Who, h: H
):
    return _accepted(await h.decide_leave(ctx, who, class_id, session_id, cadre_id, body.approved, body.note))


@router.post(
    S + "/excused-absences",
    status_code=201,
    response_model=Accepted,
    tags=["考勤"],
    summary="补假（考勤结束后把缺勤改记为请假）",
    **admits(*RUNS),
)
async def excuse_absence(class_id: ClassId, session_id: str, body: ExcuseIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.excuse_absence(ctx, who, class_id, session_id, body.cadre_id, body.reason))


@router.post(
    S + "/close",
    response_model=Accepted,
    tags=["考勤"],
    summary="结束考勤（未签到者记缺勤，已批假者记请假）",
    **admits(*RUNS),
)
async def close(class_id: ClassId, session_id: str, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.close_session(ctx, who, class_id, session_id))


@router.post(
    S + "/ratings",
    status_code=201,
    response_model=Accepted,
    tags=["课程评价"],
    summary="学员评价课次",
    **admits("trainee"),
)
async def rate(class_id: ClassId, session_id: str, body: RatingIn, ctx: Ctx, who: Who, h: H):
    return _accepted(await h.rate(ctx, who, class_id, session_id, body.rating, body.comment))


@router.get(S + "/attendance", tags=["考勤"], summary="课次考勤表", **admits(*READERS))
async def sheet(class_id: ClassId, session_id: str, who: Who, h: H):
    return await h.reads.session_sheet(who, class_id, session_id)


async def _class_attendance(class_id: str, who: Principal, h: Handlers) -> dict:
    """The class's attendance and hours: the JSON route's answer and the spreadsheet's rows."""
    who.require_role(*READERS)
    return await h.reads.class_attendance(who, class_id)


@router.get(
    "/classes/{class_id}/attendance", tags=["考勤"], summary="班级与学员出勤率、学时", **admits(*READERS)
)
async def attendance(class_id: ClassId, who: Who, h: H):
    return await _class_attendance(class_id, who, h)


@router.get(
    "/classes/{class_id}/attendance.xlsx",
    tags=["考勤"],
    summary="导出班级考勤与学时（Excel）",
    response_class=Response,
    **admits(*READERS),
)
async def attendance_xlsx(class_id: ClassId, who: Who, h: H):
    report = await _class_attendance(class_id, who, h)
    return xlsx.response(files.attendance_workbook(report), f"{report['title'] or '班次'}考勤与学时.xlsx")


# -- graduation -------------------------------------------------------------------------------------
@router.post(
    "/classes/{class_id}/graduation",
    response_model=Accepted,
    tags=["结业"],
    summary="结业评定（按出勤率、必修课、学时规则）",
    **admits(*RUNS),
)
async def graduate(class_id: ClassId, body: RuleIn, ctx: Ctx, who: Who, h: H):
    rule = cr.GraduationRule(body.min_attendance_rate, body.require_required_courses, body.min_hours)
    return _accepted(await h.graduate(ctx, who, class_id, rule, body.graduated_on))


async def _graduation(class_id: str, who: Principal, h: Handlers) -> dict:
    """Who graduated and who did not, with reasons: the JSON route's answer and the spreadsheet's rows."""
    who.require_role(*READERS)
    return await h.reads.graduation(who, class_id)


@router.get(
    "/classes/{class_id}/graduation", tags=["结业"], summary="结业名单与未结业学员及原因", **admits(*READERS)
)
async def graduation(class_id: ClassId, who: Who, h: H):
    return await _graduation(class_id, who, h)


@router.get(
    "/classes/{class_id}/graduation.xlsx",
    tags=["结业"],
    summary="导出结业与未结业名单（Excel）",
    response_class=Response,
    **admits(*READERS),
)
async def graduation_xlsx(class_id: ClassId, who: Who, h: H):
    g = await _graduation(class_id, who, h)
    return xlsx.response(files.graduation_workbook(g), f"{g['title'] or '班次'}结业名单.xlsx")


# -- hours, load, feedback --------------------------------------------------------------------------
@router.get(
    "/trainees/{cadre_id}/hours",
    tags=["学时"],
    summary="学员学时（按课程类别与合计，含网络学习）",
    **admits(*READERS, "trainee"),
)
async def hours(cadre_id: str, who: Who, h: H):
    return await h.reads.trainee_hours(who, cadre_id)


ONLINE_FILE = "列：平台记录编号、干部编号、姓名、学时、学习日期、课程类别"


@router.post(
    "/online-hours",
    response_model=Accepted,
    tags=["学时"],
    summary="导入网络学习学时（CSV 或 xlsx；同一平台记录编号重复导入不重复计入）",
    **admits(*RUNS, "org_department"),
)
async def online(ctx: Ctx, who: Who, h: H, file: UploadFile = File(description=ONLINE_FILE)):
    records = await run_in_threadpool(files.online_records, file.filename or "", await uploads.read(file))
    return _accepted(await h.credit_online(ctx, who, records))


LOAD_SORTS = {"on": "日期", "course_title": "课程", "hours": "学时"}


@router.get(
    "/teachers/{teacher_id}/load",
    tags=["课程与师资"],
    summary="教师授课量（某辖区某年：课次、学时、班次合计与分页的授课安排）",
    description=(
        f"授课安排分页（默认按日期）；q 为课程名称中包含的文字；排序字段：{lst.sort_fields(LOAD_SORTS)}。"
    ),
    **admits(*READERS),
)
async def load(
    teacher_id: str,
    who: Who,
    h: H,
    jurisdiction: str | None = None,
    year: int | None = Query(None, ge=2000, le=2100, description="年份（不填则为今年）"),
    p: lst.Paging = Depends(lst.listing(LOAD_SORTS)),
):
    year = year or (await h.clock.today()).year
    return await h.reads.teacher_load(who, jurisdiction or who.jurisdiction, year, teacher_id, p)


@router.get(
    "/classes/{class_id}/feedback",
    tags=["课程评价"],
    summary="本班课程评价（按课程、按教师，含留言）",
    **admits(*READERS),
)
async def class_feedback(class_id: ClassId, who: Who, h: H):
    return await h.reads.class_feedback(who, class_id)


@router.get(
    "/feedback/{jurisdiction}",
    tags=["课程评价"],
    summary="辖区课程评价（按课程、按教师）",
    **admits(*READERS),
)
async def feedback(jurisdiction: str, who: Who, h: H):
    return await h.reads.feedback(who, jurisdiction)
