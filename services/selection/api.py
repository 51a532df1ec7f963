"""HTTP routes for classes and the three steps (划定范围 → 单位推荐 → 组织确定).

Thin: each route checks role and jurisdiction, reads what the command needs from a
projection, and hands one command to a handler. The registry and the reports are in
api_registry.py.
"""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from shared import store, visibility
from shared.api import context, principal, read_document, runtime
from shared.auth import Principal
from shared.clock import DevClock
from shared.clock_api import add_clock_routes, refresher
from shared.commands import Context, Several
from shared.contracts.selection import StudyGroup
from shared.errors import DomainError, Forbidden, NotFound
from shared.ids import new_id
from shared.inputs import Input
from shared.jurisdiction import covers
from shared.runtime import Runtime
from services.selection import api_registry, handlers
from services.selection import listing as lst
from services.selection.domain import (
    STATUS_ZH, AssignGroups, AssignToGroup, ConfirmNomination, DrawScope, NominateTrainee, OpenClass,
    RejectNomination, WaitlistNomination, WithdrawNomination,
)
from services.selection.export import xlsx_response
from services.selection.scope import HoursPolicy, evaluate

Format = Literal["json", "xlsx"]


# Development only (GANXUN_SELECTION_MOVABLE_CLOCK=1): the demo loader moves "today" back
# before its classes start, nominates and confirms, and moves it back to the real day. The
# offset is the deployment's, kept in its store (shared/clock.py): a restart keeps the day.
CLOCK = DevClock("GANXUN_SELECTION_MOVABLE_CLOCK")


def today() -> date:
    """The day of the request being served (refreshed from the store by a dependency)."""
    return CLOCK.cached()


def policy() -> HoursPolicy:
    """The hours policy: GANXUN_SELECTION_HOURS_POLICY as JSON, e.g.
    {"default_hours": 110, "by_rank": {"科员": 90}, "cycle_years": 5}."""
    raw = os.environ.get("GANXUN_SELECTION_HOURS_POLICY")
    return HoursPolicy(**json.loads(raw)) if raw else HoursPolicy()


class ClassIn(Input):
    title: str = Field(min_length=1, max_length=200, description="班次名称")
    capacity: int = Field(gt=0, le=5000, description="计划人数")
    starts_on: date = Field(description="开班日期")
    ends_on: date = Field(description="结业日期")
    organiser: str = Field("县委党校", min_length=1, max_length=100, description="承办单位（县委党校或省委党校等）")
    class_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="班次编号（不填则自动生成）")
    theme: str = Field("", max_length=200, description="主题")
    category: str = Field("", max_length=50, description="分类，如 年轻干部、村(社区)党组织书记")
    level: str = Field("", max_length=50, description="分级，如 科级")
    schedule: str = Field("", max_length=200, description="安排，如 每月第二、第四个星期六")
    study_groups: list[StudyGroup] = Field(default_factory=list, max_length=50, description="学习小组及政治辅导员")
    quotas: dict[str, int] = Field(default_factory=dict, description="各推荐单位名额（不填则不限单位，只限总人数）")


class ScopeIn(Input):
    ranks: list[str] = Field(default_factory=list, description="职级在其中")
    units: list[str] = Field(default_factory=list, description="单位在其中")
    categories: list[str] = Field(default_factory=list, description="类别在其中")
    born_on_or_after: date | None = Field(None, description="该日期及以后出生")
    recruited_as: list[Literal["选调生", "选聘生"]] = Field(default_factory=list, description="录用方式")
    recruited_within_years: int | None = Field(None, ge=1, le=40, description="近 N 年录用的选调生/选聘生")
    township_priority: bool = Field(False, description="有乡镇领导经历者优先（排序，不是筛选）")
    not_trained_years: int | None = Field(None, ge=1, le=20, description="近 N 年未参加培训（如 5 = 轮训逾期）")
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


async def _as_one(rt: Runtime, ctx: Context, who: Principal, class_id: str, cmds: list):
    """A clerk's list as one decision: all of it or, with the refusal that stopped it, none."""
    try:
        return await handlers.on_class(rt.commands, ctx, who, class_id, Several(tuple(cmds)))
    except (DomainError, NotFound) as exc:
        if exc.code != "class_not_found":
            exc.message = f"整批未生效（共 {len(cmds)} 人，均未处理）：{exc.message}"
        raise


def _nomination(cadre: dict, who: Principal) -> NominateTrainee:
    """A unit's (or the department's) recommendation of a registry cadre, as of today."""
    return NominateTrainee(cadre_id=cadre["_id"], name=cadre["name"], unit=cadre["unit"], today=today(),
                           home_jurisdiction=cadre["jurisdiction"], by_unit=_unit_of(who))


def _accepted(envs) -> Accepted:
    if not envs:
        return Accepted(stream_id="", events=[], version=0)
    return Accepted(stream_id=envs[-1].stream_id, events=[e.type for e in envs], version=envs[-1].stream_version)


async def class_doc(rt: Runtime, class_id: str, who: Principal) -> dict:
    return await read_document(rt, "classes", class_id, who,
                               NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found"))


async def held_class(rt: Runtime, class_id: str, who: Principal) -> dict:
    """A class document from the in-memory index (the same projection, without the read)."""
    doc = (await handlers.classes(rt)).get(class_id)
    if doc is None:
        raise NotFound(f"班次 {class_id} 不存在（或尚未同步）。", code="class_not_found")
    who.require_covers(doc["jurisdiction"])
    return doc


def _unit_of(who: Principal) -> str | None:
    """The unit a unit clerk acts for; None for the department."""
    if who.role != "unit":
        return None
    if not who.unit:
        raise Forbidden("登录令牌未标明所属单位，不能以单位身份推荐或撤回。", code="unit_missing")
    return who.unit


SCOPE_SORTS = {"name": "姓名", "unit": "单位", "rank": "职级", "status": "推荐状态"}
QUEUE_SORTS = {"starts_on": "开班日期", "title": "班次", "name": "姓名", "unit": "单位", "status": "状态"}


def _check_status(status: str | None, with_none: bool = False) -> None:
    allowed = (*(("none",) if with_none else ()), *STATUS_ZH)
    if status not in (None, "", *allowed):
        raise DomainError(f"推荐状态“{status}”应为以下之一：{'、'.join(allowed)}。", code="bad_status", field="status")


ROSTER_HEADERS = ["序号", "姓名", "单位", "状态", "学习小组", "理由", "候补递补", "推荐人"]


def _roster_rows(doc: dict, unit: str | None = None) -> list[list]:
    noms = [n for n in doc.get("nominations", []) if unit is None or n.get("unit") == unit]
    return [[i, n["name"], n.get("unit"), STATUS_ZH[n["status"]], n.get("group") or "", n.get("reason") or "",
             "是" if n.get("from_waitlist") else "", n.get("by", "")] for i, n in enumerate(noms, start=1)]


def routes() -> APIRouter:
    CLOCK.configure()
    r = APIRouter(tags=["班次与三步选学"], dependencies=[Depends(refresher(CLOCK))])

    @r.post("/classes", status_code=201, response_model=Accepted, summary="开设班次")
    async def open_class(body: ClassIn, ctx: Context = Depends(context), who: Principal = Depends(principal),
                         rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school")
        cmd = OpenClass(class_id=body.class_id or new_id(), title=body.title, capacity=body.capacity,
                        starts_on=body.starts_on, ends_on=body.ends_on, organiser=body.organiser, theme=body.theme,
                        category=body.category, level=body.level, schedule=body.schedule,
                        study_groups=tuple(body.study_groups), quotas=body.quotas)
        return _accepted(await handlers.open_class(rt.commands, ctx, who, cmd))

    @r.get("/classes", summary="本辖区班次列表")
    async def list_classes(who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school", "unit", "analyst")
        docs = [d async for d in rt.db["classes"].find({}, {"nominations": 0, "_applied": 0})
                if covers(who.jurisdiction, d.get("jurisdiction", ""))]
        return sorted(docs, key=lambda d: (d.get("starts_on", ""), d["_id"]))

    @r.get("/classes/{class_id}", summary="班次及推荐情况")
    async def get_class(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        # Nominations carry names, units and rejection reasons: a trainee, mentor or
        # recorder token reads them nowhere; a unit sees its own; an analyst no names.
        who.require_role("org_department", "party_school", "unit", "analyst", "admin")
        doc = await class_doc(rt, class_id, who)
        if who.role == "unit":
            doc["nominations"] = [n for n in doc["nominations"] if n["unit"] == who.unit]
        if who.role not in ("org_department", "party_school"):
            doc.pop("scope", None)
        doc["nominations"] = visibility.rows(doc["nominations"], who.role)
        return doc

    @r.post("/classes/{class_id}/scope", status_code=201, summary="划定人选范围（按条件从干部名册中筛选）")
    async def draw_scope(class_id: str, body: ScopeIn, ctx: Context = Depends(context),
                         who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department")
        # Evaluated against the registry of the clerk's own jurisdiction; the class's
        # jurisdiction is checked when the command loads the class.
        criteria = body.model_dump(mode="json", exclude_defaults=True)
        found = await handlers.scope_for(rt, who.jurisdiction, criteria, today(), policy())
        envs = await handlers.on_class(rt.commands, ctx, who, class_id,
                                       DrawScope(criteria, tuple(c["cadre_id"] for c in found), today()))
        return {**_accepted(envs).model_dump(), "criteria": criteria, "count": len(found), "cadres": found}

    @r.get("/classes/{class_id}/scope", summary="人选范围及每人入选理由（分页、搜索、排序；单位只看到本单位；可导出 Excel）",
           description="默认优先者在前，再按单位、姓名；排序字段："
                       + "、".join(f"{k}（{v}）" for k, v in SCOPE_SORTS.items())
                       + "。status 筛选推荐状态（none 为未推荐）。")
    async def get_scope(class_id: str, unit: str | None = Query(None, max_length=100, description="单位（等于）"),
                        rank: str | None = Query(None, max_length=20, description="职级（等于）"),
                        status: str | None = Query(None, description="推荐状态：none（未推荐）、" + "、".join(STATUS_ZH)),
                        paging: dict = Depends(lst.paging_params), format: Format = "json",
                        who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "unit")
        p = lst.checked(paging, SCOPE_SORTS)
        _check_status(status, with_none=True)
        doc = await held_class(rt, class_id, who)
        scope = doc.get("scope") or {"criteria": {}, "cadre_ids": []}
        unit = _unit_of(who) or unit
        rows = [x for x in await handlers.scope_rows(rt, doc, today(), policy())
                if (not unit or x["unit"] == unit) and (not rank or x["rank"] == rank)
                and (not p.q or p.q in x["_key"]) and (not status or (x["status"] or "none") == status)]
        if format == "xlsx":
            rows = lst.page_of(rows, lst.everything(p), api_registry.BY_RANK, api_registry.unkeyed)["items"]
            return xlsx_response(f"{doc['title']}-人选范围", [("人选范围", ["姓名", "单位", "职级", "优先", "入选理由", "推荐状态"], [
                [x["name"], x["unit"], x["rank"], "是" if x["priority"] else "", "；".join(x["reasons"]),
                 STATUS_ZH.get(x["status"] or "", "未推荐")] for x in rows])])
        return {"class_id": class_id, "criteria": scope["criteria"], "in_scope": len(scope["cadre_ids"]),
                **lst.page_of(rows, p, api_registry.BY_RANK, api_registry.unkeyed)}

    @r.post("/classes/{class_id}/nominations", status_code=201, response_model=Accepted, summary="单位推荐学员")
    async def nominate(class_id: str, body: NominationIn, ctx: Context = Depends(context),
                       who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("unit", "org_department")
        cadre = await api_registry.cadre_doc(rt, body.cadre_id, who)
        return _accepted(await handlers.nominate(rt.commands, ctx, who, class_id, _nomination(cadre, who)))

    @r.post("/classes/{class_id}/nominations/batch", status_code=201, response_model=Accepted,
            summary="单位批量推荐（一次提交多名人选；任何一人不符合条件则整批不生效，并说明是谁、为什么）")
    async def nominate_many(class_id: str, body: CadreListIn, ctx: Context = Depends(context),
                            who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("unit", "org_department")
        found = await store.find_by_ids(rt.db["cadres"], list(dict.fromkeys(body.cadre_ids)))
        cmds = []
        for cid in body.cadre_ids:
            cadre = found.get(cid)
            if cadre is None:
                raise NotFound(f"干部 {cid} 不在名册中（或尚未同步）；整批推荐未生效。", code="cadre_not_found")
            who.require_covers(cadre["jurisdiction"])
            cmds.append(_nomination(cadre, who))
        return _accepted(await _as_one(rt, ctx, who, class_id, cmds))

    @r.post("/classes/{class_id}/confirmations", status_code=201, response_model=Accepted,
            summary="组织批量确定（按所列顺序；名额满后其余列入候补；任何一人不能确定则整批不生效）")
    async def confirm_many(class_id: str, body: CadreListIn, ctx: Context = Depends(context),
                           who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department")
        cmds = [ConfirmNomination(cid, today()) for cid in dict.fromkeys(body.cadre_ids)]
        return _accepted(await _as_one(rt, ctx, who, class_id, cmds))

    def decision(path: str, summary: str, make, roles=("org_department",), with_reason=False):
        async def decide(class_id: str, cadre_id: str, body: ReasonIn | None = None, ctx: Context = Depends(context),
                         who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
            who.require_role(*roles)
            cmd = make(cadre_id, (body or ReasonIn()).reason, who)
            return _accepted(await handlers.on_class(rt.commands, ctx, who, class_id, cmd))
        r.add_api_route(f"/classes/{{class_id}}/nominations/{{cadre_id}}/{path}", decide, methods=["POST"],
                        status_code=201, response_model=Accepted, summary=summary)

    decision("confirm", "组织确定（名额已满时自动列入候补）", lambda c, _r, _w: ConfirmNomination(c, today()))
    decision("reject", "不予确定（须填理由）", lambda c, reason, _w: RejectNomination(c, reason, today()))
    decision("waitlist", "列入候补", lambda c, _r, _w: WaitlistNomination(c, today()))
    decision("withdraw", "撤回推荐 / 开班前退训（确定学员退出时候补第一名自动递补）",
             lambda c, reason, w: WithdrawNomination(c, today(), reason, _unit_of(w)),
             roles=("unit", "org_department"))

    @r.post("/classes/{class_id}/groups", status_code=201, response_model=Accepted,
            summary="分组：按领域与均衡原则分配学习小组")
    async def assign_groups(class_id: str, ctx: Context = Depends(context), who: Principal = Depends(principal),
                            rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school")
        doc = await class_doc(rt, class_id, who)
        ids = [n["cadre_id"] for n in doc.get("nominations", []) if n["status"] == "confirmed"]
        found = await store.find_by_ids(rt.db["cadres"], ids, {"category": 1})
        domains = {cid: d.get("category", "") for cid, d in found.items()}
        return _accepted(await handlers.on_class(rt.commands, ctx, who, class_id, AssignGroups(domains)))

    @r.put("/classes/{class_id}/nominations/{cadre_id}/group", status_code=201, response_model=Accepted,
           summary="调整学员所在学习小组")
    async def assign_to_group(class_id: str, cadre_id: str, body: GroupIn, ctx: Context = Depends(context),
                              who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school")
        return _accepted(await handlers.on_class(rt.commands, ctx, who, class_id, AssignToGroup(cadre_id, body.group)))

    @r.get("/classes/{class_id}/roster", summary="班次名单及状态（可导出 Excel）")
    async def roster(class_id: str, format: Format = "json", who: Principal = Depends(principal),
                     rt: Runtime = Depends(runtime)):
        who.require_role("org_department", "party_school", "analyst")
        doc = await class_doc(rt, class_id, who)
        doc["nominations"] = visibility.rows(doc["nominations"], who.role)
        if format == "xlsx":
            return xlsx_response(f"{doc['title']}-学员名单", [("学员名单", ROSTER_HEADERS, _roster_rows(doc))])
        counts = {s: sum(1 for n in doc["nominations"] if n["status"] == s) for s in STATUS_ZH}
        return {"class_id": class_id, "title": doc["title"], "capacity": doc["capacity"], "counts": counts,
                "nominations": doc["nominations"]}

    @r.get("/classes/{class_id}/quota", summary="单位名额与推荐人选（单位看本单位；组织部看全部）")
    async def quota(class_id: str, unit: str | None = Query(None, description="单位（组织部可指定）"),
                    format: Format = "json", who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("unit", "org_department")
        doc = await class_doc(rt, class_id, who)
        mine = _unit_of(who) or unit
        units = [mine] if mine else sorted({*doc.get("quotas", {}), *(n["unit"] for n in doc["nominations"])})
        out = []
        for u in units:
            noms = [n for n in doc["nominations"] if n["unit"] == u]
            used = sum(1 for n in noms if n["status"] in ("nominated", "waitlisted", "confirmed"))
            q = doc["quotas"].get(u, 0) if doc.get("quotas") else None
            out.append({"unit": u, "quota": q, "used": used, "left": None if q is None else max(q - used, 0),
                        "nominees": [{k: n.get(k) for k in ("cadre_id", "name", "status", "reason", "group")}
                                     for n in noms]})
        if format == "xlsx":
            return xlsx_response(f"{doc['title']}-单位名额", [
                ("单位名额", ["单位", "名额", "已推荐", "剩余"],
                 [[u["unit"], "不限" if u["quota"] is None else u["quota"], u["used"],
                   "" if u["left"] is None else u["left"]] for u in out]),
                ("推荐人选", ROSTER_HEADERS, [row for u in units for row in _roster_rows(doc, u)])])
        return {"class_id": class_id, "title": doc["title"], "units": out}

    @r.get("/queue", summary="组织部待确定队列（各班次待确定与候补人选；分页、搜索、排序；可导出 Excel）",
           description="默认按开班日期、班次；排序字段：" + "、".join(f"{k}（{v}）" for k, v in QUEUE_SORTS.items()) + "。")
    async def queue(class_id: str | None = Query(None, max_length=64, description="班次编号（等于）"),
                    unit: str | None = Query(None, max_length=100, description="单位（等于）"),
                    status: str | None = Query(None, description="nominated（待确定）或 waitlisted（候补）"),
                    paging: dict = Depends(lst.paging_params), format: Format = "json",
                    who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department")
        p = lst.checked(paging, QUEUE_SORTS)
        if status not in (None, "", "nominated", "waitlisted"):
            raise DomainError(f"状态“{status}”应为 nominated（待确定）或 waitlisted（候补）。",
                              code="bad_status", field="status")
        items = [i for i in await handlers.queue(rt, who.jurisdiction, today())
                 if (not class_id or i["class_id"] == class_id) and (not status or i["status"] == status)
                 and (not unit or i["unit"] == unit) and (not p.q or p.q in i["_key"])]
        if format == "xlsx":
            items = lst.page_of(items, lst.everything(p), shape=api_registry.unkeyed)["items"]
            return xlsx_response("待确定队列", [("待确定队列", ["班次", "开班日期", "剩余名额", "姓名", "单位", "状态", "推荐人"], [
                [i["title"], i["starts_on"], i["free"], i["name"], i["unit"], STATUS_ZH[i["status"]], i["by"]]
                for i in items])])
        return lst.page_of(items, p, shape=api_registry.unkeyed)

    r.include_router(api_registry.routes(today, policy))
    add_clock_routes(r, CLOCK)
    return r
