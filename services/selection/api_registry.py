"""HTTP routes for the cadre registry (干部名册), its import, and the rotation and
hours reports: the service's second router (api.py has the classes'), a file of its own
to keep each readable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from pydantic import Field

from services.selection import cadres as reg
from services.selection import importing
from services.selection import scope as sc
from services.selection.export import xlsx_response, yes
from services.selection.handlers import Handlers
from shared import consistency, uploads, visibility, xlsx
from shared import listing as lst
from shared.access import admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.selection import ERASURE_GROUNDS, ErasureGround
from shared.errors import Forbidden, NotFound
from shared.inputs import Input
from shared.projection import public

Format = Literal["json", "xlsx"]
router = APIRouter(tags=["干部名册与轮训学时"])


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


class CadreIn(Input):
    name: str = Field(min_length=1, max_length=50, description="姓名")
    id_number: str = Field(min_length=18, max_length=18, description="身份证号（18 位，含校验位）")
    unit: str = Field(min_length=1, max_length=100, description="工作单位")
    rank: str = Field(min_length=1, max_length=20, description=f"职级：{'、'.join(reg.RANKS)}")
    gender: Literal["男", "女"] | None = Field(None, description="性别（不填则按身份证号）")
    birth_date: date | None = Field(None, description="出生日期（不填则按身份证号）")
    position: str = Field("", max_length=100, description="职务")
    category: str = Field("", max_length=50, description="类别/领域，如 经济发展、基层治理")
    rank_since: date | None = Field(None, description="任现职级时间")
    township_leadership: bool = Field(False, description="有乡镇领导经历")
    recruited_as: Literal["选调生", "选聘生"] | None = Field(None, description="录用方式")
    recruited_year: int | None = Field(None, ge=1950, le=2100, description="录用年份")


class CadreChanges(Input):
    model_config = {"extra": "forbid"}
    name: str | None = Field(None, min_length=1, max_length=50)
    unit: str | None = Field(None, min_length=1, max_length=100)
    rank: str | None = Field(None, min_length=1, max_length=20)
    position: str | None = Field(None, max_length=100)
    category: str | None = Field(None, max_length=50)
    rank_since: date | None = None
    township_leadership: bool | None = None
    recruited_as: Literal["选调生", "选聘生"] | None = None
    recruited_year: int | None = Field(None, ge=1950, le=2100)


def listed(doc: dict[str, Any], role: str, index: int | None = None) -> dict[str, Any]:
    """A registry entry as lists show it to `role` (shared/visibility.py): the id number
    masked, and for a role that may not see the number no birth date or gender either."""
    out = visibility.person({**public(doc), "cadre_id": doc["_id"]}, role, index)
    out.pop("_key", None)
    if "id_number" in out:
        out["id_number"] = reg.mask_id(doc["id_number"])
    return out


def _shown(page: dict[str, Any], p: lst.Paging, shape: Callable[[dict, int], dict]) -> dict[str, Any]:
    """A page whose rows are shaped knowing their place in the whole list (an analyst sees
    学员N, numbered across pages, where others see names)."""
    start = (p.page - 1) * p.size
    return {**page, "items": [shape(r, start + i) for i, r in enumerate(page["items"], start=1)]}


def _report_page(rows: list[dict], p: lst.Paging, role: str) -> dict[str, Any]:
    """A page of a report's rows naming people, as `role` may see them."""
    page = lst.page_of(rows, p, presorted=True, shape=unkeyed)
    return _shown(page, p, lambda r, i: visibility.nomination(r, role, i))


CADRE_SORTS = {
    "name": "姓名",
    "unit": "单位",
    "rank": "职级",
    "birth_date": "出生日期",
    "position": "职务",
    "category": "类别",
    "rank_since": "任现职级时间",
    "recruited_year": "录用年份",
}
# A role that may not see birth dates may not sort by them either (the order would say them).
SORTS_WITHOUT_BIRTH = {k: v for k, v in CADRE_SORTS.items() if k != "birth_date"}
REPORT_SORTS = {"name": "姓名", "unit": "单位", "rank": "职级"}
COVERAGE_SORTS = {**REPORT_SORTS, "last_trained_on": "上次结业日期"}
HOURS_SORTS = {**REPORT_SORTS, "hours": "已完成学时", "short": "尚差学时"}
RANK_ORDER = {r: i for i, r in enumerate(reg.RANKS)}
BY_RANK = {"rank": lambda r: RANK_ORDER.get(r.get("rank"), len(RANK_ORDER))}
# The filters selection's lists share (both routers), documented alike on each.
UnitFilter = Annotated[str | None, Query(max_length=100, description="单位（等于）")]
RankFilter = Annotated[str | None, Query(max_length=20, description="职级（等于）")]


def cadre_paging(raw: dict = Depends(lst.paging_params), who: Principal = Depends(principal)) -> lst.Paging:
    """The registry's paging: a role that may not see birth dates may not sort by them
    either (the order would say them)."""
    return lst.checked(raw, CADRE_SORTS if visibility.sees_number(who.role) else SORTS_WITHOUT_BIRTH)


def unkeyed(row: dict[str, Any]) -> dict[str, Any]:
    """A kept row as a page shows it (without its search key)."""
    return {k: v for k, v in row.items() if k != "_key"}


def _matching(
    rows: list[dict], unit: str | None = None, rank: str | None = None, category: str | None = None
) -> list[dict]:
    """Rows of a unit / rank / category (a search is `Reads.searched`, before this)."""
    if not (unit or rank or category):
        return rows
    return [
        r
        for r in rows
        if (not unit or r.get("unit") == unit)
        and (not rank or r.get("rank") == rank)
        and (not category or r.get("category") == category)
    ]


CADRE_HEADERS = [
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "工作单位",
    "职务",
    "职级",
    "类别",
    "任现职级时间",
    "乡镇领导经历",
    "录用方式",
    "录用年份",
]


@router.post(
    "/cadres", status_code=201, summary="登记干部（或按身份证号更新已登记的干部）", **admits("org_department")
)
async def register(
    body: CadreIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    cadre_id, envs = await h.register(ctx, who, body.model_dump(mode="json"))
    return {
        "cadre_id": cadre_id,
        "events": [e.type for e in envs],
        "token": consistency.token_of("selection", envs),
    }


class LookupIn(Input):
    id_numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1,
        max_length=5000,
        description="身份证号（18 位），至多 5000 个；在请求正文中，不进地址与日志",
    )


@router.post(
    "/cadres/lookup",
    summary="按身份证号查找干部编号（仅组织部；只查本辖区名册）",
    description="干部编号由身份证号与全省的密钥算出（HMAC），名册之外无法由号码推算编号。"
    "found 为本辖区名册中找到的 身份证号 → 干部编号；其余号码（未登记或登记在其他辖区）一律列入 missing，"
    "不透露登记在何处。",
    **admits("org_department"),
)
async def lookup(body: LookupIn, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return await h.lookup(who, body.id_numbers)


@router.patch("/cadres/{cadre_id}", summary="干部信息变更（只记录变化的字段）", **admits("org_department"))
async def update(
    cadre_id: str,
    body: CadreChanges,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    envs = await h.update(ctx, who, cadre_id, body.model_dump(mode="json", exclude_unset=True))
    return {
        "cadre_id": cadre_id,
        "events": [e.type for e in envs],
        "token": consistency.token_of("selection", envs),
    }


class TransferIn(Input):
    to_unit: str = Field(min_length=1, max_length=100, description="调入单位")
    reason: str = Field("", description="调动事由（如 组织调动、交流任职）", max_length=200)


@router.post(
    "/cadres/{cadre_id}/transfer",
    summary="干部调动：名册单位随之变更，原单位未定的推荐撤回",
    **admits("org_department"),
)
async def transfer(
    cadre_id: str,
    body: TransferIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return await h.transfer(ctx, who, cadre_id, body.to_unit, body.reason)


class ErasureIn(Input):
    ground: ErasureGround = Field(
        description="删除的法定情形（个人信息保护法第四十七条）："
        + "；".join(f"{k} = {v}" for k, v in ERASURE_GROUNDS.items())
    )


@router.post(
    "/cadres/{cadre_id}/erasure",
    summary="删除干部个人信息（个人信息保护法第四十七条）：删除其密钥，各处显示“已删除”",
    **admits("org_department"),
)
async def erase(
    cadre_id: str,
    body: ErasureIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    envs = await h.erase(ctx, who, cadre_id, body.ground)
    return {
        "cadre_id": cadre_id,
        "ground": body.ground,
        "ground_zh": ERASURE_GROUNDS[body.ground],
        "events": [e.type for e in envs],
        "token": consistency.token_of("selection", envs),
    }


@router.post(
    "/cadres/import",
    summary="导入干部名册（.xlsx、.xls 或 .csv）：好行导入，坏行逐行说明原因；重复导入不产生变化",
    **admits("org_department"),
)
async def import_file(
    file: UploadFile = File(..., description="干部名册 .xlsx、.xls 或 .csv（UTF-8 或 GBK）"),
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    who.require_role("org_department")  # before the upload is read
    return await h.import_file(ctx, who, file.filename or "", await uploads.read(file))


@router.get(
    "/cadres/template",
    summary="下载干部名册导入模板（.xlsx）",
    responses=xlsx.DOWNLOAD,
    **admits("org_department"),
)
async def template(who: Principal = Depends(principal)):
    example = [
        "张伟",
        "男",
        "1990-05-01",
        "11010519900501123X",
        "县财政局",
        "科长",
        "副科",
        "经济发展",
        "2021-03-01",
        "否",
        "选调生",
        2015,
    ]
    return xlsx_response(
        "干部名册导入模板",
        [("干部名册", importing.TEMPLATE, [example]), ("职级表", ["职级"], [[x] for x in reg.RANKS])],
    )


WHO_SEES = (
    "谁看到什么（shared/visibility.py）：组织部（org_department）看到姓名、单位、干部编号、性别、出生日期，"
    "列表中身份证号脱敏（前 6 位与后 4 位），单人详情中为全号；调训单位（unit）只看到本单位干部，"
    "身份证号脱敏，不显示性别与出生日期（脱敏的 8 位正是出生日期，第 17 位的奇偶即性别），"
    "也不能按出生日期排序；分析员（analyst）不看到姓名、单位、干部编号与身份证号，只看到“学员N”与统计字段。"
)


@router.get(
    "/cadres",
    summary="干部名册（分页、搜索、排序；身份证号脱敏；可导出 Excel，导出全部符合条件者）",
    description="排序字段："
    + lst.sort_fields(CADRE_SORTS)
    + "；默认按单位、姓名。q 搜索姓名或单位中包含的文字。"
    + WHO_SEES,
    **admits("org_department", "unit", "analyst"),
)
async def list_cadres(
    unit: UnitFilter = None,
    rank: RankFilter = None,
    category: str | None = Query(None, max_length=50, description="类别（等于）"),
    p: lst.Paging = Depends(cadre_paging),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    if who.role == "unit":
        if not who.unit:
            raise Forbidden("登录令牌未标明所属单位，不能以单位身份查看名册。", code="unit_missing")
        unit = who.unit
    ordered = await h.reads.registry(who.jurisdiction, None, p.sort, BY_RANK.get(p.sort or ""))
    rows = _matching(await h.reads.searched(ordered, p.q), unit or None, rank, category)

    def page(paging: lst.Paging) -> dict[str, Any]:
        return _shown(lst.page_of(rows, paging, presorted=True), paging, lambda d, i: listed(d, who.role, i))

    if format == "xlsx":
        docs = page(lst.everything(p))["items"]
        return xlsx_response(
            "干部名册",
            [
                (
                    "干部名册",
                    CADRE_HEADERS,
                    [
                        [
                            d["name"],
                            d.get("gender"),
                            d.get("birth_date"),
                            d.get("id_number"),
                            d.get("unit"),
                            d["position"],
                            d["rank"],
                            d["category"],
                            d.get("rank_since"),
                            yes(d["township_leadership"]),
                            d.get("recruited_as"),
                            d.get("recruited_year"),
                        ]
                        for d in docs
                    ],
                )
            ],
        )
    return page(p)


@router.get(
    "/cadres/{cadre_id}",
    summary="干部信息（身份证号仅组织部可见全号）",
    description=WHO_SEES,
    **admits("org_department", "unit", "analyst"),
)
async def get_cadre(cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    doc = await h.reads.cadre(who, cadre_id)
    if who.role == "unit" and doc["unit"] != who.unit:
        raise NotFound(f"干部 {cadre_id} 不在本单位名册中。", code="cadre_not_found")
    out = listed(doc, who.role, 1)
    if visibility.sees_number(who.role):
        out["id_number"] = doc["id_number"]
    return out


@router.get(
    "/cadres/{cadre_id}/history",
    summary="干部培训档案：学时、结业班次、训后跟踪",
    **admits("org_department", "analyst"),
)
async def history(cadre_id: str, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    doc = await h.reads.cadre(who, cadre_id)
    past = await h.reads.history(cadre_id)
    shown = visibility.sees_names(who.role)
    return {
        "cadre_id": cadre_id,
        "name": doc["name"] if shown else "学员1",
        "unit": doc["unit"] if shown else None,
        "last_trained_on": past.get("last_trained_on"),
        "hours": past.get("hours", {}),
        "class_hours": past.get("class_hours", {}),
        "online_hours": past.get("online_hours", {}),
        "sessions": past.get("sessions", 0),
        "trainings": past.get("trainings", []),
        "milestones": past.get("milestones", []),
        "evaluations": past.get("evaluations", 0),
        "mentor_tasks": past.get("mentor_tasks", []),
    }


@router.get(
    "/reports/coverage",
    summary="五年轮训覆盖情况与逾期名单（逾期名单分页；可导出 Excel，导出全部）",
    description="items 为逾期（周期内未参加培训）名单的一页，total 为符合筛选的逾期人数；"
    "cadres、trained、rate、by_unit 为整个辖区的覆盖情况。排序字段："
    + lst.sort_fields(COVERAGE_SORTS)
    + "。",
    **admits("org_department", "analyst"),
)
async def coverage(
    as_of: date | None = Query(None, description="统计日（默认今天）"),
    unit: str | None = Query(None, max_length=100, description="逾期名单：单位（等于）"),
    rank: str | None = Query(None, max_length=20, description="逾期名单：职级（等于）"),
    p: lst.Paging = Depends(lst.listing(COVERAGE_SORTS)),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    as_of = as_of or await h.clock.today()
    report, overdue = await h.reads.report(
        sc.coverage,
        "overdue",
        who.jurisdiction,
        as_of,
        h.settings.hours_policy,
        p.sort,
        BY_RANK.get(p.sort or ""),
    )
    overdue = _matching(await h.reads.searched(overdue, p.q), unit, rank)
    report["jurisdiction"] = who.jurisdiction
    if format == "xlsx":
        rows = _report_page(overdue, lst.everything(p), who.role)["items"]
        return xlsx_response(
            f"{report['cycle_years']}年轮训覆盖",
            [
                (
                    "按单位",
                    ["单位", "干部数", "周期内已培训", "覆盖率"],
                    [[u["unit"], u["total"], u["trained"], f"{u['rate']:.1%}"] for u in report["by_unit"]],
                ),
                (
                    "逾期名单",
                    ["姓名", "单位", "职级", "上次结业"],
                    [[o["name"], o.get("unit"), o["rank"], o["last_trained_on"] or "无记录"] for o in rows],
                ),
            ],
        )
    return {**report, **_report_page(overdue, p, who.role)}


@router.get(
    "/reports/hours",
    summary="年度学时达标情况（按政策要求；分页；可导出 Excel，导出全部）",
    description="items 为每名干部的学时一页，total 为符合筛选的人数；cadres、met 为整个辖区。排序字段："
    + lst.sort_fields(HOURS_SORTS)
    + "。",
    **admits("org_department", "analyst"),
)
async def hours(
    year: int | None = Query(None, ge=2000, le=2100, description="年度（默认今年）"),
    unit: UnitFilter = None,
    rank: RankFilter = None,
    short_only: bool = Query(False, description="只看未达标者"),
    p: lst.Paging = Depends(lst.listing(HOURS_SORTS)),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    year = year or (await h.clock.today()).year
    report, rows = await h.reads.report(
        sc.hours, "rows", who.jurisdiction, year, h.settings.hours_policy, p.sort, BY_RANK.get(p.sort or "")
    )
    rows = [
        x
        for x in _matching(await h.reads.searched(rows, p.q), unit, rank)
        if x["short"] > 0 or not short_only
    ]
    if format == "xlsx":
        rows = _report_page(rows, lst.everything(p), who.role)["items"]
        return xlsx_response(
            f"{report['year']}年度学时",
            [
                (
                    "年度学时",
                    ["姓名", "单位", "职级", "已完成学时", "要求学时", "尚差"],
                    [
                        [x["name"], x.get("unit"), x["rank"], x["hours"], x["required"], x["short"]]
                        for x in rows
                    ],
                )
            ],
        )
    return {**report, **_report_page(rows, p, who.role)}


# -- the trainee's own record (学员本人的学时档案) -----------------------------------------------------
@router.get(
    "/me/training-record",
    summary="我的学时档案：今年学时与要求、五年轮训周期",
    description="学员本人登录；按令牌中的人员编号（干部编号）读取本人的名册信息与培训档案。",
    **admits("trainee"),
)
async def my_record(who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    doc = await h.reads.cadre(who, who.user_id)
    past = await h.reads.history(who.user_id)
    return training_record(doc, past, await h.clock.today(), h.settings.hours_policy)


def training_record(cadre: dict[str, Any], history: dict[str, Any], day: date, rule: sc.HoursPolicy) -> dict:
    """A cadre's own 学时档案: this year's hours against the policy for their rank, and the
    rotation cycle (the last `cycle_years` years, as the coverage report counts them)."""
    years = [str(y) for y in range(day.year - rule.cycle_years + 1, day.year + 1)]
    hours = history.get("hours", {})
    last = history.get("last_trained_on")
    cycle_start = sc.years_before(day, rule.cycle_years).isoformat()
    return {
        "name": cadre["name"],
        "unit": cadre["unit"],
        "rank": cadre["rank"],
        "year": day.year,
        "hours_this_year": hours.get(str(day.year), 0.0),
        "required_this_year": rule.required(cadre["rank"]),
        "class_hours": history.get("class_hours", {}).get(str(day.year), 0.0),
        "online_hours": history.get("online_hours", {}).get(str(day.year), 0.0),
        "cycle_years": rule.cycle_years,
        "cycle_start": cycle_start,
        "hours_by_year": {y: hours.get(y, 0.0) for y in years},
        "cycle_hours": round(sum(hours.get(y, 0.0) for y in years), 2),
        "last_trained_on": last,
        "trained_in_cycle": bool(last and last >= cycle_start),
        "trainings": history.get("trainings", []),
    }
