"""HTTP routes for classes and the three steps (划定范围 → 单位推荐 → 组织确定).

Thin: each route checks who may read, translates the request into a handler call (the
commands, handlers.py) or a read (`h.reads`, reads.py), and the answer into JSON or an
Excel download. The registry and the reports are the second router, api_registry.py
(a router of its own for its size: the registry, its import and the reports).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.selection import api_registry
from services.selection.domain import STATUS_ZH, OpenClass
from services.selection.export import xlsx_response
from services.selection.handlers import Handlers, acting_unit
from services.selection.read_index import HOLDS_PLACE
from shared import consistency, visibility
from shared import listing as lst
from shared.access import admits
from shared.api import context, principal
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.selection import StudyGroup
from shared.errors import DomainError
from shared.ids import new_id
from shared.inputs import Input
from shared.scoped_ids import CHOSEN, ClassId, as_filter, qualify

Format = Literal["json", "xlsx"]
router = APIRouter(tags=["班次与三步选学"])


async def handlers(request: Request) -> Handlers:
    return request.app.state.handlers


class ClassIn(Input):
    title: str = Field(min_length=1, max_length=200, description="班次名称")
    capacity: int = Field(gt=0, le=5000, description="计划人数")
    starts_on: date = Field(description="开班日期")
    ends_on: date = Field(description="结业日期")
    organiser: str = Field(
        "县委党校", min_length=1, max_length=100, description="承办单位（县委党校或省委党校等）"
    )
    class_id: str | None = Field(
        None,
        pattern=CHOSEN,
        description="班次编号（不填则自动生成）：存为“本辖区代码-编号”（如 371428-2026-01），"
        "各县可各用同一编号；本辖区内查询时可只写编号",
    )
    theme: str = Field("", max_length=200, description="主题")
    category: str = Field("", max_length=50, description="分类，如 年轻干部、村(社区)党组织书记")
    level: str = Field("", max_length=50, description="分级，如 科级")
    schedule: str = Field("", max_length=200, description="安排，如 每月第二、第四个星期六")
    study_groups: list[StudyGroup] = Field(
        default_factory=list, max_length=50, description="学习小组及政治辅导员"
    )
    quotas: dict[str, int] = Field(
        default_factory=dict, description="各推荐单位名额（不填则不限单位，只限总人数）"
    )


class ScopeIn(Input):
    ranks: list[str] = Field(default_factory=list, description="职级在其中")
    units: list[str] = Field(default_factory=list, description="单位在其中")
    categories: list[str] = Field(default_factory=list, description="类别在其中")
    born_on_or_after: date | None = Field(None, description="该日期及以后出生")
    recruited_as: list[Literal["选调生", "选聘生"]] = Field(default_factory=list, description="录用方式")
    recruited_within_years: int | None = Field(None, ge=1, le=40, description="近 N 年录用的选调生/选聘生")
    township_priority: bool = Field(False, description="有乡镇领导经历者优先（排序，不是筛选）")
    not_trained_years: int | None = Field(
        None, ge=1, le=20, description="近 N 年未参加培训（如 5 = 轮训逾期）"
    )
    hours_short: bool = Field(False, description="本年度学时未达要求")


class NominationIn(Input):
    cadre_id: str = Field(min_length=1, max_length=64, description="干部编号（名册中的编号）")


class CadreListIn(Input):
    cadre_ids: list[str] = Field(min_length=1, max_length=500, description="干部编号列表（按所列顺序处理）")


class ReasonIn(Input):
    reason: str = Field("", max_length=500, description="理由")


class GroupIn(Input):
    group: str = Field(min_length=1, max_length=50, description="学习小组名称")


class Accepted(BaseModel):
    stream_id: str
    events: list[str]
    version: int
    # Names what was written; a read sent X-Ganxun-After with it reflects it (shared/consistency.py).
    token: str | None = None


def _accepted(envs) -> Accepted:
    if not envs:
        return Accepted(stream_id="", events=[], version=0)
    return Accepted(
        stream_id=envs[-1].stream_id,
        events=[e.type for e in envs],
        version=envs[-1].stream_version,
        token=consistency.token_of("selection", envs),
    )


SCOPE_SORTS = {"name": "姓名", "unit": "单位", "rank": "职级", "status": "推荐状态"}
QUEUE_SORTS = {"starts_on": "开班日期", "title": "班次", "name": "姓名", "unit": "单位", "status": "状态"}


def _check_status(status: str | None, with_none: bool = False) -> None:
    allowed = (*(("none",) if with_none else ()), *STATUS_ZH)
    if status not in (None, "", *allowed):
        raise DomainError(
            f"推荐状态“{status}”应为以下之一：{'、'.join(allowed)}。", code="bad_status", field="status"
        )


ROSTER_HEADERS = ["序号", "姓名", "单位", "状态", "学习小组", "理由", "候补递补", "推荐人"]


def _roster_rows(doc: dict, unit: str | None = None) -> list[list]:
    noms = [n for n in doc.get("nominations", []) if unit is None or n.get("unit") == unit]
    return [
        [
            i,
            n["name"],
            n.get("unit"),
            STATUS_ZH[n["status"]],
            n.get("group") or "",
            n.get("reason") or "",
            "是" if n.get("from_waitlist") else "",
            n.get("by", ""),
        ]
        for i, n in enumerate(noms, start=1)
    ]


@router.post(
    "/classes",
    status_code=201,
    response_model=Accepted,
    summary="开设班次",
    **admits("org_department", "party_school"),
)
async def open_class(
    body: ClassIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    cmd = OpenClass(
        class_id=qualify(who.jurisdiction, body.class_id or new_id()),
        title=body.title,
        capacity=body.capacity,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        organiser=body.organiser,
        theme=body.theme,
        category=body.category,
        level=body.level,
        schedule=body.schedule,
        study_groups=tuple(body.study_groups),
        quotas=body.quotas,
    )
    return _accepted(await h.open_class(ctx, who, cmd))


NAMES_BY_ROLE = (
    "谁看到姓名（shared/visibility.py）：组织部、党校、系统管理员看到全部推荐的姓名、单位、干部编号、推荐单位与理由；"
    "调训单位只看到本单位的推荐；分析员只看到“学员N”与状态，不含姓名、单位、干部编号、推荐人与理由。"
)


CLASS_SORTS = {
    "starts_on": "开班日期",
    "ends_on": "结业日期",
    "title": "班次",
    "category": "分类",
    "capacity": "计划人数",
}
PHASES = {"upcoming": "未开班", "running": "培训中", "ended": "已结束"}
NOMINATION_SORTS = {"name": "姓名", "unit": "单位", "status": "状态", "group": "学习小组", "at": "推荐时间"}


def _phase_of(row: dict, today: str) -> str:
    if row["ends_on"] < today:
        return "ended"
    return "running" if row["starts_on"] <= today else "upcoming"


def _class_shown(row: dict, who: Principal) -> dict:
    """A class row as `who` may see it: no kernel or index fields; a unit clerk's row counts
    its own nominees and says how many of its places are used (so its task list needs no
    quota read per class); only the department and the school see the scope's criteria."""
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    if who.role == "unit":  # its own people counted, as it sees only its own nominees
        out["counts"] = row["_by_unit"].get(who.unit or "", dict.fromkeys(STATUS_ZH, 0))
        quotas = row.get("quotas") or {}
        quota = quotas.get(who.unit, 0) if quotas else None
        used = sum(out["counts"].get(s, 0) for s in HOLDS_PLACE)
        out["mine"] = {
            "unit": who.unit,
            "quota": quota,
            "used": used,
            "left": None if quota is None else max(quota - used, 0),
        }
    if who.role not in ("org_department", "party_school") and out.get("scope"):
        out["scope"] = {"count": out["scope"]["count"]}
    return out


@router.get(
    "/classes",
    summary="本辖区班次列表（分页、搜索、排序）",
    description="默认按开班日期；排序字段："
    + lst.sort_fields(CLASS_SORTS)
    + "。q 搜索班次名称、主题、分类、承办单位；phase 筛选阶段："
    + "、".join(f"{k}（{v}）" for k, v in PHASES.items())
    + "。每行带各状态人数（counts）和人选范围人数（scope.count）；单位还带本单位名额使用（mine）。",
    **admits("org_department", "party_school", "unit", "analyst"),
)
async def list_classes(
    phase: str | None = Query(None, description="upcoming（未开班）、running（培训中）或 ended（已结束）"),
    category: str | None = Query(None, max_length=50, description="分类（等于）"),
    p: lst.Paging = Depends(lst.listing(CLASS_SORTS)),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    if phase not in (None, "", *PHASES):
        known = "、".join(f"{k}（{v}）" for k, v in PHASES.items())
        raise DomainError(f"阶段“{phase}”应为以下之一：{known}。", code="bad_phase", field="phase")
    today = (await h.clock.today()).isoformat()
    rows = [
        r
        for r in await h.reads.class_list(who.jurisdiction)
        if (not phase or _phase_of(r, today) == phase)
        and (not category or r.get("category") == category)
        and (not p.q or p.q in r["_key"])
    ]
    return lst.page_of(rows, p, shape=lambda r: _class_shown(r, who))


@router.get(
    "/classes/{class_id}",
    summary="班次信息及各状态人数（推荐名单分页见 …/nominations）",
    description=NAMES_BY_ROLE,
    **admits("org_department", "party_school", "unit", "analyst", "admin"),
)
async def get_class(class_id: ClassId, who: Principal = Depends(principal), h: Handlers = Depends(handlers)):
    return _class_shown(await h.reads.class_row(who, class_id), who)


@router.get(
    "/classes/{class_id}/nominations",
    summary="班次推荐名单（分页、搜索、排序；单位只看到本单位）",
    description="默认按推荐先后；排序字段："
    + lst.sort_fields(NOMINATION_SORTS)
    + "。q 搜索姓名、单位；status 筛选状态，unit 单位，group 学习小组（none 为未分组）。"
    + NAMES_BY_ROLE,
    **admits("org_department", "party_school", "unit", "analyst", "admin"),
)
async def list_nominations(
    class_id: ClassId,
    status: str | None = Query(None, description="、".join(STATUS_ZH)),
    unit: api_registry.UnitFilter = None,
    group: str | None = Query(None, max_length=50, description="学习小组（等于；none 为未分组）"),
    p: lst.Paging = Depends(lst.listing(NOMINATION_SORTS)),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    # Nominations carry names, units and rejection reasons: a trainee, mentor or
    # recorder token reads them nowhere; a unit sees its own; an analyst no names.
    _check_status(status)
    if not visibility.sees_names(who.role) and (p.q or unit or p.sort in ("name", "unit")):
        raise DomainError(
            "分析员看不到姓名和单位，不能按姓名或单位搜索、筛选或排序。", code="bad_query", field="q"
        )
    doc = await h.reads.held_class(who, class_id)
    unit = acting_unit(who) or unit
    rows = [
        n
        for n in await h.reads.nomination_rows(doc)
        if (not unit or n["unit"] == unit)
        and (not status or n["status"] == status)
        and (not group or (n.get("group") or "none") == group)
        and (not p.q or p.q in n["_key"])
    ]
    page = lst.page_of(rows, p, shape=api_registry.unkeyed)
    first = (p.page - 1) * p.size + 1  # an analyst's 学员N numbers rows across pages
    page["items"] = [visibility.nomination(n, who.role, first + i) for i, n in enumerate(page["items"])]
    return page


@router.post(
    "/classes/{class_id}/scope",
    status_code=201,
    summary="划定人选范围（按条件从干部名册中筛选）",
    # Drawn from the read index: given the registrations' tokens it holds them (reads.py, `refresh`).
    **admits("org_department", decides_from_reads=True),
)
async def draw_scope(
    class_id: ClassId,
    body: ScopeIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    criteria = body.model_dump(mode="json", exclude_defaults=True)
    envs, found = await h.draw_scope(ctx, who, class_id, criteria)
    return {**_accepted(envs).model_dump(), "criteria": criteria, "count": len(found), "cadres": found}


@router.get(
    "/classes/{class_id}/scope",
    summary="人选范围及每人入选理由（分页、搜索、排序；单位只看到本单位；可导出 Excel）",
    description="默认优先者在前，再按单位、姓名；排序字段："
    + lst.sort_fields(SCOPE_SORTS)
    + "。status 筛选推荐状态（none 为未推荐）。身份证号脱敏（前 6 位与后 4 位），不含出生日期与性别。",
    **admits("org_department", "unit"),
)
async def get_scope(
    class_id: ClassId,
    unit: api_registry.UnitFilter = None,
    rank: api_registry.RankFilter = None,
    status: str | None = Query(None, description="推荐状态：none（未推荐）、" + "、".join(STATUS_ZH)),
    p: lst.Paging = Depends(lst.listing(SCOPE_SORTS)),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    _check_status(status, with_none=True)
    doc = await h.reads.held_class(who, class_id)
    scope = doc.get("scope") or {"criteria": {}, "cadre_ids": []}
    unit = acting_unit(who) or unit
    rows = [
        x
        for x in await h.reads.scope_rows(doc, await h.clock.today(), h.settings.hours_policy)
        if (not unit or x["unit"] == unit)
        and (not rank or x["rank"] == rank)
        and (not p.q or p.q in x["_key"])
        and (not status or (x["status"] or "none") == status)
    ]
    if format == "xlsx":
        rows = lst.page_of(rows, lst.everything(p), api_registry.BY_RANK, api_registry.unkeyed)["items"]
        return xlsx_response(
            f"{doc['title']}-人选范围",
            [
                (
                    "人选范围",
                    ["姓名", "单位", "职级", "优先", "入选理由", "推荐状态"],
                    [
                        [
                            x["name"],
                            x["unit"],
                            x["rank"],
                            "是" if x["priority"] else "",
                            "；".join(x["reasons"]),
                            STATUS_ZH.get(x["status"] or "", "未推荐"),
                        ]
                        for x in rows
                    ],
                )
            ],
        )
    return {
        "class_id": class_id,
        "criteria": scope["criteria"],
        "in_scope": len(scope["cadre_ids"]),
        **lst.page_of(rows, p, api_registry.BY_RANK, api_registry.unkeyed),
    }


@router.post(
    "/classes/{class_id}/nominations",
    status_code=201,
    response_model=Accepted,
    summary="单位推荐学员",
    **admits("unit", "org_department"),
)
async def nominate(
    class_id: ClassId,
    body: NominationIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.nominate(ctx, who, class_id, body.cadre_id))


@router.post(
    "/classes/{class_id}/nominations/batch",
    status_code=201,
    response_model=Accepted,
    summary="单位批量推荐（一次提交多名人选；任何一人不符合条件则整批不生效，并说明是谁、为什么）",
    **admits("unit", "org_department"),
)
async def nominate_many(
    class_id: ClassId,
    body: CadreListIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.nominate_many(ctx, who, class_id, body.cadre_ids))


@router.post(
    "/classes/{class_id}/confirmations",
    status_code=201,
    response_model=Accepted,
    summary="组织批量确定（按所列顺序；名额满后其余列入候补；任何一人不能确定则整批不生效）",
    **admits("org_department"),
)
async def confirm_many(
    class_id: ClassId,
    body: CadreListIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.confirm_many(ctx, who, class_id, body.cadre_ids))


def _decision(path: str, summary: str, act, roles: tuple[str, ...] = ("org_department",)) -> None:
    """A route deciding on one nomination: `act(h, ctx, who, class_id, cadre_id, reason)`."""

    async def decide(
        class_id: ClassId,
        cadre_id: str,
        body: ReasonIn | None = None,
        ctx: Context = Depends(context),
        who: Principal = Depends(principal),
        h: Handlers = Depends(handlers),
    ):
        return _accepted(await act(h, ctx, who, class_id, cadre_id, (body or ReasonIn()).reason))

    router.add_api_route(
        f"/classes/{{class_id}}/nominations/{{cadre_id}}/{path}",
        decide,
        methods=["POST"],
        status_code=201,
        response_model=Accepted,
        summary=summary,
        **admits(*roles),
    )


_decision(
    "confirm", "组织确定（名额已满时自动列入候补）", lambda h, ctx, who, k, c, _r: h.confirm(ctx, who, k, c)
)
_decision(
    "reject", "不予确定（须填理由）", lambda h, ctx, who, k, c, reason: h.reject(ctx, who, k, c, reason)
)
_decision("waitlist", "列入候补", lambda h, ctx, who, k, c, _r: h.waitlist(ctx, who, k, c))
_decision(
    "withdraw",
    "撤回推荐 / 开班前退训（确定学员退出时候补第一名自动递补）",
    lambda h, ctx, who, k, c, reason: h.withdraw(ctx, who, k, c, reason),
    roles=("unit", "org_department"),
)


@router.post(
    "/classes/{class_id}/groups",
    status_code=201,
    response_model=Accepted,
    summary="分组：按领域与均衡原则分配学习小组",
    **admits("org_department", "party_school"),
)
async def assign_groups(
    class_id: ClassId,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.assign_groups(ctx, who, class_id))


@router.put(
    "/classes/{class_id}/nominations/{cadre_id}/group",
    status_code=201,
    response_model=Accepted,
    summary="调整学员所在学习小组",
    **admits("org_department", "party_school"),
)
async def assign_to_group(
    class_id: ClassId,
    cadre_id: str,
    body: GroupIn,
    ctx: Context = Depends(context),
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    return _accepted(await h.assign_to_group(ctx, who, class_id, cadre_id, body.group))


@router.get(
    "/classes/{class_id}/roster",
    summary="班次名单及状态（可导出 Excel）",
    description=NAMES_BY_ROLE,
    **admits("org_department", "party_school", "analyst"),
)
async def roster(
    class_id: ClassId,
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    doc = {**await h.reads.held_class(who, class_id)}  # the index's: replaced keys, never changed ones
    doc["nominations"] = visibility.rows(doc["nominations"], who.role)
    if format == "xlsx":
        return xlsx_response(f"{doc['title']}-学员名单", [("学员名单", ROSTER_HEADERS, _roster_rows(doc))])
    counts = {s: sum(1 for n in doc["nominations"] if n["status"] == s) for s in STATUS_ZH}
    return {
        "class_id": class_id,
        "title": doc["title"],
        "capacity": doc["capacity"],
        "counts": counts,
        "nominations": doc["nominations"],
    }


@router.get(
    "/classes/{class_id}/quota",
    summary="单位名额与推荐人选（单位看本单位；组织部看全部）",
    **admits("unit", "org_department"),
)
async def quota(
    class_id: ClassId,
    unit: str | None = Query(None, description="单位（组织部可指定）"),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    doc = await h.reads.held_class(who, class_id)
    mine = acting_unit(who) or unit
    units = [mine] if mine else sorted({*doc.get("quotas", {}), *(n["unit"] for n in doc["nominations"])})
    out = []
    for u in units:
        noms = [n for n in doc["nominations"] if n["unit"] == u]
        used = sum(1 for n in noms if n["status"] in ("nominated", "waitlisted", "confirmed"))
        q = doc["quotas"].get(u, 0) if doc.get("quotas") else None
        out.append(
            {
                "unit": u,
                "quota": q,
                "used": used,
                "left": None if q is None else max(q - used, 0),
                "nominees": [
                    {k: n.get(k) for k in ("cadre_id", "name", "status", "reason", "group")} for n in noms
                ],
            }
        )
    if format == "xlsx":
        return xlsx_response(
            f"{doc['title']}-单位名额",
            [
                (
                    "单位名额",
                    ["单位", "名额", "已推荐", "剩余"],
                    [
                        [
                            u["unit"],
                            "不限" if u["quota"] is None else u["quota"],
                            u["used"],
                            "" if u["left"] is None else u["left"],
                        ]
                        for u in out
                    ],
                ),
                ("推荐人选", ROSTER_HEADERS, [row for u in units for row in _roster_rows(doc, u)]),
            ],
        )
    return {"class_id": class_id, "title": doc["title"], "units": out}


@router.get(
    "/queue",
    summary="组织部待确定队列（各班次待确定与候补人选；分页、搜索、排序；可导出 Excel）",
    description="默认按开班日期、班次；排序字段：" + lst.sort_fields(QUEUE_SORTS) + "。",
    **admits("org_department"),
)
async def queue(
    class_id: str | None = Query(None, max_length=64, description="班次编号（等于）"),
    unit: api_registry.UnitFilter = None,
    status: str | None = Query(None, description="nominated（待确定）或 waitlisted（候补）"),
    p: lst.Paging = Depends(lst.listing(QUEUE_SORTS)),
    format: Format = "json",
    who: Principal = Depends(principal),
    h: Handlers = Depends(handlers),
):
    class_id = as_filter(who, class_id)
    if status not in (None, "", "nominated", "waitlisted"):
        raise DomainError(
            f"状态“{status}”应为 nominated（待确定）或 waitlisted（候补）。",
            code="bad_status",
            field="status",
        )
    items = [
        i
        for i in await h.reads.queue(who.jurisdiction, await h.clock.today())
        if (not class_id or i["class_id"] == class_id)
        and (not status or i["status"] == status)
        and (not unit or i["unit"] == unit)
        and (not p.q or p.q in i["_key"])
    ]
    if format == "xlsx":
        items = lst.page_of(items, lst.everything(p), shape=api_registry.unkeyed)["items"]
        return xlsx_response(
            "待确定队列",
            [
                (
                    "待确定队列",
                    ["班次", "开班日期", "剩余名额", "姓名", "单位", "状态", "推荐人"],
                    [
                        [
                            i["title"],
                            i["starts_on"],
                            i["free"],
                            i["name"],
                            i["unit"],
                            STATUS_ZH[i["status"]],
                            i["by"],
                        ]
                        for i in items
                    ],
                )
            ],
        )
    return lst.page_of(items, p, shape=api_registry.unkeyed)
