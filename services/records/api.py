"""HTTP routes: thin translations into commands and projection reads.

There is deliberately no route that changes or removes a record: a record path
answers GET only (other methods get 405); a correction is a new POST with `corrects`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from shared import xlsx
from shared.api import context, principal, runtime
from shared.auth import Principal
from shared.commands import Context
from shared.contracts.records import Category, RecorderRole
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import utcnow
from shared.ids import new_id
from shared.inputs import Input
from shared.projection import public
from shared.runtime import Runtime
from services.records import documents, domain, export, handlers, pdf, views
from services.records.projections import fk, trainee_key, week_key

SCHEMES = Path(__file__).parent / "schemes"
READERS = ("party_school", "org_department", "recorder")
MANAGERS = ("party_school", "org_department")


class RecorderIn(Input):
    person_id: str = Field(min_length=1, max_length=64, description="人员编号（其令牌的 user_id）")
    name: str = Field(min_length=1, max_length=50, description="真实姓名")
    role: RecorderRole = Field(description="纪实角色：head_teacher 班主任、branch_secretary 支部书记、"
                                           "class_monitor 班长、committee_member 班委")
    since: date = Field(description="任职日期")


class ReliefIn(Input):
    until: date = Field(description="卸任日期")


class RecordIn(Input):
    category: Category = Field(description="类别：study 学习情况、thinking 思想动态、personality 性格特点、"
                                           "conduct 作风纪律、other 其他")
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
    items: list[dict[str, Any]] | None = Field(None, description="考核项目：item_id, title, group, max_points, roles")


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


def _accepted(envs, record_id: str | None = None) -> Accepted:
    return Accepted(stream_id=envs[-1].stream_id, events=[e.type for e in envs], version=envs[-1].stream_version,
                    record_id=record_id)


def load_scheme(name: str) -> dict:
    return json.loads((SCHEMES / f"{name}.json").read_text(encoding="utf-8"))


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": xlsx.disposition(filename)})


async def _doc(rt: Runtime, collection: str, doc_id: str) -> dict | None:
    doc = await rt.db[collection].find_one({"_id": doc_id})
    return public(doc) if doc else None


async def _reader(rt: Runtime, who: Principal, class_id: str, roles=READERS) -> tuple[dict, dict | None]:
    """Roster and class docs, for a reader of the right role and jurisdiction; a
    recorder reads only the classes they record for (or recorded for)."""
    who.require_role(*roles)
    roster = public(await handlers.roster_of(rt, class_id, who))
    klass = await _doc(rt, "records_class", class_id)
    if who.role == "recorder" and not any(h["person_id"] == who.user_id for h in (klass or {}).get("history", [])):
        raise Forbidden(f"您不是班次 {class_id} 的纪实人员，无权查看。", code="not_a_recorder")
    return roster, klass


async def _file(rt: Runtime, class_id: str, cadre_id: str, roster: dict) -> dict:
    doc = await _doc(rt, "records_trainee", trainee_key(class_id, cadre_id))
    if doc is None:
        if fk(cadre_id) not in roster.get("trainees", {}):
            raise NotFound(f"班次 {class_id} 没有学员 {cadre_id}。", code="trainee_not_found")
        doc = {"class_id": class_id, "cadre_id": cadre_id, "records": [], "sheets": [], "attended": {}, "absent": {}}
    return doc


def routes() -> APIRouter:
    r = APIRouter(tags=["纪实考察"])

    # -- recorders (3+N) -----------------------------------------------------------
    @r.post("/classes/{class_id}/recorders", status_code=201, response_model=Accepted,
            summary="任命纪实人员（3+N），或变更其角色")
    async def assign(class_id: str, body: RecorderIn, ctx: Context = Depends(context),
                     who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role(*MANAGERS)
        cmd = domain.AssignRecorder(class_id, body.person_id, body.name, body.role, body.since)
        return _accepted(await handlers.on_class(rt, ctx, who, class_id, cmd))

    @r.post("/classes/{class_id}/recorders/{person_id}/relief", status_code=201, response_model=Accepted,
            summary="纪实人员卸任")
    async def relieve(class_id: str, person_id: str, body: ReliefIn, ctx: Context = Depends(context),
                      who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role(*MANAGERS)
        cmd = domain.RelieveRecorder(class_id, person_id, body.until)
        return _accepted(await handlers.on_class(rt, ctx, who, class_id, cmd))

    @r.get("/classes/{class_id}/recorders", summary="纪实人员（现任及任职历史）")
    async def recorders(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        _, klass = await _reader(rt, who, class_id)
        return {"class_id": class_id, "current": list((klass or {}).get("recorders", {}).values()),
                "history": (klass or {}).get("history", [])}

    # -- the recorder's own pages (纪实人员本人) ----------------------------------------------------
    @r.get("/me/classes", summary="我记录的班次（本人任过纪实人员的班次，含现任角色）")
    async def my_classes(who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("recorder")
        out = []
        # a scan of one small document per class, filtered here (shared/store.py: FerretDB
        # indexes only `_id`, and a match inside an array of documents is not one it can use)
        async for klass in rt.db["records_class"].find({}, {"_applied": 0}):
            if not any(h["person_id"] == who.user_id for h in klass.get("history", [])):
                continue
            roster = await handlers.roster_of(rt, klass["class_id"], who, required=False)
            row = roster and views.my_recording(public(roster), klass, who.user_id)
            if row:
                out.append(row)
        return sorted(out, key=lambda c: (c["starts_on"] or "", c["class_id"]), reverse=True)

    @r.get("/classes/{class_id}/roster", summary="纪实名册：每名学员最近被记录的日期与记录数，近期未被记录者标出")
    async def recording_roster(class_id: str,
                               days: int = Query(7, ge=1, le=366, description="多少天未被记录算“近期未记录”"),
                               who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        return views.recording_roster(roster, klass, utcnow().date(), days)

    # -- records -------------------------------------------------------------------
    @r.post("/classes/{class_id}/trainees/{cadre_id}/records", status_code=201, response_model=Accepted,
            summary="实名纪实（更正时填写 corrects；原记录永不删除、不修改）")
    async def log(class_id: str, cadre_id: str, body: RecordIn, ctx: Context = Depends(context),
                  who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("recorder")
        record_id = new_id()
        envs = await handlers.on_trainee(rt, ctx, who, class_id, cadre_id, lambda f: domain.LogRecord(
            facts=f, record_id=record_id, cadre_id=cadre_id, category=body.category, observed_on=body.observed_on,
            text=body.text, author_id=who.user_id, author_name=who.name, today=utcnow().date(),
            corrects=body.corrects))
        return _accepted(envs, record_id)

    @r.get("/classes/{class_id}/trainees/{cadre_id}/records", summary="学员的全部纪实记录（含更正）")
    async def records(class_id: str, cadre_id: str, who: Principal = Depends(principal),
                      rt: Runtime = Depends(runtime)):
        roster, _ = await _reader(rt, who, class_id)
        f = await _file(rt, class_id, cadre_id, roster)
        return {"class_id": class_id, "cadre_id": cadre_id, "records": f["records"]}

    @r.get("/classes/{class_id}/trainees/{cadre_id}/records/{record_id}", summary="一条纪实记录（只读）")
    async def record(class_id: str, cadre_id: str, record_id: str, who: Principal = Depends(principal),
                     rt: Runtime = Depends(runtime)):
        roster, _ = await _reader(rt, who, class_id)
        for rec in (await _file(rt, class_id, cadre_id, roster))["records"]:
            if rec["record_id"] == record_id:
                return rec
        raise NotFound(f"纪实记录 {record_id} 不存在（或尚未同步）。", code="record_not_found")

    @r.get("/classes/{class_id}/completeness", summary="无遗漏检查：近期未被三名核心纪实人员记录的学员")
    async def complete(class_id: str, days: int = Query(7, ge=1, le=366, description="检查最近多少天"),
                       as_of: date | None = Query(None, description="截至日期（默认今天）"),
                       who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        return views.completeness(roster, klass, as_of or utcnow().date(), days)

    @r.get("/classes/{class_id}/completeness.xlsx", summary="无遗漏检查（Excel）")
    async def complete_xlsx(class_id: str, days: int = Query(7, ge=1, le=366), as_of: date | None = Query(None),
                            who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        c = views.completeness(roster, klass, as_of or utcnow().date(), days)
        return xlsx.response(export.completeness_xlsx(c), f"无遗漏检查-{roster['title']}-{c['as_of']}.xlsx")

    # -- assessment -------------------------------------------------------------------
    @r.get("/schemes/huzhou", summary="内置示例：湖州“三百分”量化考核方案（26项）")
    async def huzhou(who: Principal = Depends(principal)):
        return load_scheme("huzhou")

    @r.post("/classes/{class_id}/scheme", status_code=201, response_model=Accepted, summary="设置量化考核方案")
    async def set_scheme(class_id: str, body: SchemeIn, ctx: Context = Depends(context),
                         who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role(*MANAGERS)
        base = load_scheme(body.template) if body.template else {}
        items = body.items if body.items is not None else base.get("items")
        if not items:
            raise DomainError("请提供考核项目 items，或选择内置方案 template=huzhou。", code="empty_scheme", field="items")
        scored = bool(((await _doc(rt, "records_class", class_id)) or {}).get("weeks"))
        cmd = domain.SetScheme(class_id, body.scheme_id or base.get("scheme_id") or new_id(),
                               body.title or base.get("title") or "量化考核方案", tuple(items), scores_exist=scored)
        return _accepted(await handlers.on_class(rt, ctx, who, class_id, cmd))

    @r.get("/classes/{class_id}/scheme", summary="本班量化考核方案")
    async def scheme(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        _, klass = await _reader(rt, who, class_id)
        if not (klass or {}).get("scheme"):
            raise NotFound("本班尚未设置量化考核方案。", code="no_scheme")
        return klass["scheme"]

    @r.post("/classes/{class_id}/trainees/{cadre_id}/scores", status_code=201, response_model=Accepted,
            summary="周量化评分（按方案规定的角色评分，不得超过满分）")
    async def score(class_id: str, cadre_id: str, body: ScoreIn, ctx: Context = Depends(context),
                    who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("recorder")
        pairs = tuple((s.item_id, s.points) for s in body.scores)
        return _accepted(await handlers.on_trainee(rt, ctx, who, class_id, cadre_id, lambda f: domain.ScoreWeek(
            facts=f, cadre_id=cadre_id, week=body.week, scores=pairs, scorer_id=who.user_id,
            scorer_name=who.name, today=utcnow().date(), note=body.note)))

    @r.post("/classes/{class_id}/scores", summary="周评分表：记录员一次提交全班一周的评分（逐人保存；未保存的逐人说明原因）")
    async def score_sheet(class_id: str, body: ScoreSheetIn, ctx: Context = Depends(context),
                          who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("recorder")
        seen: set[str] = set()
        for row in body.rows:
            if row.cadre_id in seen:
                raise DomainError(f"评分表中学员 {row.cadre_id} 出现了两次，请合并为一行后再提交（本表未保存）。",
                                  code="duplicate_row", field="rows")
            seen.add(row.cadre_id)
        today = utcnow().date()
        refused = await handlers.on_trainees(rt, ctx, who, class_id, {row.cadre_id: (
            lambda f, row=row: domain.ScoreWeek(
                facts=f, cadre_id=row.cadre_id, week=body.week, scores=tuple((s.item_id, s.points) for s in row.scores),
                scorer_id=who.user_id, scorer_name=who.name, today=today, note=row.note)) for row in body.rows})
        return {"week": domain.monday(body.week).isoformat(), "saved": len(body.rows) - len(refused),
                "refused": refused}

    @r.get("/classes/{class_id}/assessment/weeks/{week}", summary="每周小组讲评（按学习小组排名）")
    async def weekly(class_id: str, week: date, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        monday = domain.monday(week)
        return views.weekly_review(roster, klass, await _doc(rt, "records_week", week_key(class_id, monday.isoformat())),
                                   monday)

    @r.get("/classes/{class_id}/assessment/months/{month}", summary="每月小结")
    async def monthly(class_id: str, month: str = PathParam(pattern=r"^\d{4}-\d{2}$", description="月份，如 2026-10"),
                      who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        weeks = [w for w in (klass or {}).get("weeks", []) if w.startswith(month)]
        docs = [d for w in weeks if (d := await _doc(rt, "records_week", week_key(class_id, w)))]
        return views.monthly_summary(roster, klass, docs, month)

    @r.get("/classes/{class_id}/assessment/ranking", summary="累计得分排名（全班与学习小组）")
    async def ranking(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        return views.ranking(roster, klass)

    @r.get("/classes/{class_id}/assessment/ranking.xlsx", summary="累计得分排名（Excel）")
    async def ranking_xlsx(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        roster, klass = await _reader(rt, who, class_id)
        return xlsx.response(export.ranking_xlsx(views.ranking(roster, klass)), f"量化考核排名-{roster['title']}.xlsx")

    # -- class following, final comment ---------------------------------------------------
    @r.post("/classes/{class_id}/supervision", status_code=201, response_model=Accepted, summary="跟班记录（组织部）")
    async def supervise(class_id: str, body: NoteIn, ctx: Context = Depends(context),
                        who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("org_department")
        cmd = domain.NoteSupervision(class_id, new_id(), body.on, body.text, who.name, utcnow().date())
        return _accepted(await handlers.on_class(rt, ctx, who, class_id, cmd))

    @r.get("/classes/{class_id}/supervision", summary="跟班记录")
    async def notes(class_id: str, who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        _, klass = await _reader(rt, who, class_id, MANAGERS)
        return {"class_id": class_id, "notes": (klass or {}).get("notes", [])}

    @r.post("/classes/{class_id}/trainees/{cadre_id}/final-comment", status_code=201, response_model=Accepted,
            summary="结业鉴定评语（班主任）")
    async def final(class_id: str, cadre_id: str, body: CommentIn, ctx: Context = Depends(context),
                    who: Principal = Depends(principal), rt: Runtime = Depends(runtime)):
        who.require_role("recorder")
        return _accepted(await handlers.on_trainee(rt, ctx, who, class_id, cadre_id, lambda f: domain.WriteFinalComment(
            facts=f, cadre_id=cadre_id, text=body.text, author_id=who.user_id, author_name=who.name)))

    # -- the record form and the portrait ------------------------------------------------
    async def _sheet(rt: Runtime, who: Principal, class_id: str, cadre_id: str) -> dict:
        # a recorder reads the form of their own class's trainees (_reader checks whose class)
        roster, klass = await _reader(rt, who, class_id)
        f = await _file(rt, class_id, cadre_id, roster)
        return documents.gather(roster, klass, f)

    @r.get("/classes/{class_id}/trainees/{cadre_id}/form.html", response_class=HTMLResponse,
           summary="《干部教育培训纪实考察记录表》（网页）")
    async def form_html(class_id: str, cadre_id: str, who: Principal = Depends(principal),
                        rt: Runtime = Depends(runtime)):
        return HTMLResponse(documents.form_html(await _sheet(rt, who, class_id, cadre_id)))

    @r.get("/classes/{class_id}/trainees/{cadre_id}/form.pdf", summary="《干部教育培训纪实考察记录表》（PDF）")
    async def form_pdf(class_id: str, cadre_id: str, who: Principal = Depends(principal),
                       rt: Runtime = Depends(runtime)):
        data = await _sheet(rt, who, class_id, cadre_id)
        return _pdf(pdf.form_pdf(data), f"纪实考察记录表-{data['name']}.pdf")

    @r.get("/classes/{class_id}/trainees/{cadre_id}/portrait.html", response_class=HTMLResponse,
           summary="干部“肖像”（网页）")
    async def portrait_html(class_id: str, cadre_id: str, who: Principal = Depends(principal),
                            rt: Runtime = Depends(runtime)):
        return HTMLResponse(documents.portrait_html(await _sheet(rt, who, class_id, cadre_id)))

    @r.get("/classes/{class_id}/trainees/{cadre_id}/portrait.pdf", summary="干部“肖像”（PDF）")
    async def portrait_pdf(class_id: str, cadre_id: str, who: Principal = Depends(principal),
                           rt: Runtime = Depends(runtime)):
        data = await _sheet(rt, who, class_id, cadre_id)
        return _pdf(pdf.portrait_pdf(data), f"干部肖像-{data['name']}.pdf")

    return r
