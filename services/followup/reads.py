"""Follow-up's read side: the only module of the service that touches its collections
(besides the projections that write them): the read models behind the API, the
scheduler's own two collections (its reminders and its cursor), and the attachments
(the stored bytes of a mentor's evidence, written by the upload command, not by a projection).

Every document is read by `_id`: FerretDB 1.24 uses an index only for `_id` equality
(shared/store.py), so each collection is keyed by what is read. The work list is the
exception: it is served from the trainee files held in memory (work_index.py says why),
following this process's `files` writer, or reloaded by one scan when older than
`STALE_AFTER` in a process without the projectors (which takes the files a read's tokens
wrote at once: `refresh`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta

from services.followup import report
from services.followup.work_index import WorkIndex
from shared import jurisdiction as jur
from shared import store, visibility
from shared.auth import Principal
from shared.consistency import Applied
from shared.contracts.followup import MENTOR_TASKS
from shared.errors import DomainError, Forbidden, NotFound
from shared.listing import Paging, page_of
from shared.projection import guard_key, public, related
from shared.projector import ProjectionWriter
from shared.scoped_ids import require_reaches

GRADUATES = "graduates"  # one per class: who graduated, who has milestones (projections.py)
FILES = "files"  # one per cadre: the trainee's follow-up file
CLASS_EFFECT = "class_effect"  # one per class: every trainee's follow-up and the outcomes
# One per class: what the effect report counts, each trainee's section cut to it (projections.py)
CLASS_FIGURES = "class_figures"
OUTCOMES = "class_outcomes"  # one per class with an outcome (projections.py)
# The scheduler's: one document per day naming the trainee streams with a milestone due
# or past its grace period that day, and one `cursor` (the last day swept).
REMINDERS = "reminders"
SCHEDULER = "scheduler"
# How far back the work list looks for milestones that fell overdue and are still open.
WORKLIST_LOOKBACK_DAYS = 183
READERS = ("org_department", "party_school", "analyst", "admin")
# One document per uploaded file: `_id` the attachment id; the bytes (`data`), their sha256,
# the trainee and class they are evidence for, the uploader and the trainee's jurisdiction.
ATTACHMENTS = "attachments"
STALE_AFTER = 5.0
# Files folded into the work index at a time when it is loaded (Reads._load).
LOAD_CHUNK = 200
# Classes whose effect report a process keeps made (the most recently read; ~15 kB each).
EFFECTS_KEPT = 64
WORK_SORTS = {
    "due_on": "到期日",
    "name": "姓名",
    "unit": "单位",
    "class_title": "结业班次",
    "month": "节点",
    "status": "状态",
}


def week_of(day: date) -> tuple[date, date]:
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=6)


class Reads:
    def __init__(
        self,
        db,
        writers: Callable[[], list[ProjectionWriter]] = lambda: [],
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.db = db
        self.writers = writers
        self.stale_after = stale_after
        self._work = WorkIndex()
        self._lock = asyncio.Lock()
        # Effect reports made for a reader who sees the whole class, by class: (the figures'
        # _rev, the report, the title). Only while this process's `class_figures` writer is
        # followed: each write drops the class's report (`_figures_written`).
        self._effects: dict[str, tuple[int, dict, str]] = {}
        # Classes whose figures a report is reading now (reads in flight), and the newest
        # _rev the writer wrote of each meanwhile: a report read before that write is not
        # kept. Only while a read is in flight: a write with none in flight is in the store
        # for the next read, so a process writing every class of five years holds nothing
        # for them (it held a _rev per class ever written: issue 16, memory per service).
        self._reading: Counter[str] = Counter()
        self._figures_written_rev: dict[str, int] = {}
        self._follows_figures = False

    async def work_index(self) -> WorkIndex:
        """The files cut for the work list, loaded on first use: live with the projector in
        this process, else reloaded when older than `stale_after`."""
        ix = self._work
        if ix.live:
            return ix
        async with self._lock:
            if ix.live:
                return ix
            writer = next((w for w in self.writers() if w.projection.name == FILES), None)
            if writer is not None:
                writer.observers.append(ix.observe_files)
                await self._load(ix)
                ix.live = True
            elif ix.loaded_at is None or time.monotonic() - ix.loaded_at > self.stale_after:
                fresh = WorkIndex()
                await self._load(fresh)
                fresh.titles = ix.titles
                self._work = fresh
                return fresh
        return ix

    async def refresh(self, applied: Applied) -> None:
        """A read's wait for a token was fresh (`Runtime.on_fresh`): in a process without the
        projectors, the trainee files the token's writes reached are read by id into the work
        index, so the work list shows them at once rather than after the next reload
        (`stale_after`). Nothing to do for an index live with this process's writer, or one not
        loaded yet or old enough to be reloaded by the read. Under the lock, after any reload
        under way. What the token did not name may still lag by up to `stale_after`."""
        if self._work.live or self._work.loaded_at is None:
            return
        async with self._lock:
            ix = self._work
            if ix.live or ix.loaded_at is None or time.monotonic() - ix.loaded_at > self.stale_after:
                return
            ids = await applied.documents(FILES)
            if ids:
                found = await store.find_by_ids(self.db[FILES], sorted(ids), {"_applied": 0})
                ix.observe_files(list(found.values()))

    async def _load(self, ix: WorkIndex) -> None:
        """Every file into the index as the scan reads it, LOAD_CHUNK at a time, without the
        projection's guard. The files as one list were folded after the scan: at 20,000
        cadres × three years 10,163 files of 43 MB as BSON were 278 MiB of Python objects at
        once for an index of 22 MiB (tracemalloc), and a restarted follow-up process kept
        327–436 MB (docs/benchmarks.md, "Every read at 20,000 cadres × three years")."""
        chunk: list[dict] = []
        async for d in self.db[FILES].find({}, {"_applied": 0}):
            chunk.append(d)
            if len(chunk) >= LOAD_CHUNK:
                ix.observe_files(chunk)
                chunk = []
        ix.fill(chunk)

    async def _titles(self, ix: WorkIndex, class_ids) -> dict[str, str]:
        """Class titles, the ones not yet held read once (point reads)."""
        missing = sorted({c for c in class_ids if not ix.titles.get(c)})
        if missing:
            ix.titles.update({c: t for c, t in (await self.class_titles(missing)).items() if t})
        return ix.titles

    async def class_titles(self, class_ids) -> dict[str, str]:
        """Classes' titles (names on every page, never ids), from the graduates' one document
        per class, read by id (shared/store.py)."""
        found = await store.find_by_ids(self.db[GRADUATES], sorted(set(class_ids)), {"class_title": 1})
        return {cid: d.get("class_title", "") for cid, d in found.items()}

    # -- what the routes answer ----------------------------------------------------------
    async def trainee_file(self, who: Principal, cadre_id: str) -> dict:
        doc = await self._readable_file(who, cadre_id)
        classes = list(doc.get("classes", {}).values())
        titles = await self.class_titles(c["class_id"] for c in classes)
        out = public(doc)
        out["classes"] = [
            {
                **{k: v for k, v in c.items() if k != "detailed"},
                "class_title": titles.get(c["class_id"], ""),
                "effect": report.trainee_effect(c),
            }
            for c in classes
        ]
        return out

    async def _readable_file(self, who: Principal, cadre_id: str) -> dict:
        """The trainee's file document if `who` may read it (and so the evidence in it)."""
        doc = await self.db[FILES].find_one({"_id": cadre_id})
        missing = NotFound(
            f"干部 {cadre_id} 尚无跟踪档案（结业后才会建立，或尚未同步）。", code="file_not_found"
        )
        if doc is None:
            raise missing
        require_reaches(who, doc["jurisdiction"], missing)  # another county's: as if none
        classes = list(doc.get("classes", {}).values())
        if not visibility.sees_names(who.role):
            # one named person's evaluations, mentoring and evidence: not a statistic
            raise Forbidden(
                "跟踪档案是学员个人的评价与佐证材料，分析员只能查看班次统计（不显示姓名）。",
                code="wrong_role",
            )
        if who.role == "trainee":
            if who.user_id != cadre_id:
                raise Forbidden("学员只能查看本人的跟踪档案。", code="not_the_trainee")
        elif who.role == "unit":
            if who.unit != doc.get("unit"):
                raise Forbidden(
                    f"只有所在单位“{doc.get('unit')}”可以查看该干部的跟踪档案。", code="wrong_unit"
                )
        elif who.role == "mentor":
            if not any((c.get("mentor") or {}).get("mentor_id") == who.user_id for c in classes):
                raise Forbidden("导师只能查看所帮带学员的跟踪档案。", code="not_the_mentor")
        else:
            who.require_role(*READERS, "trainee", "unit", "mentor")
        return doc

    # -- attachments --------------------------------------------------------------------
    async def store_attachment(self, doc: dict) -> None:
        await self.db[ATTACHMENTS].insert_one(doc)

    async def attachment_meta(self, attachment_id: str) -> dict | None:
        """The attachment without its bytes (what a command checks before referring to it)."""
        return await self.db[ATTACHMENTS].find_one({"_id": attachment_id}, {"data": 0})

    async def attachment(self, who: Principal, attachment_id: str) -> dict:
        """The attachment with its bytes, for who may read the trainee's file it is evidence in
        (an outcome's document: who may read the class's outcomes, `sharing`)."""
        meta = await self.attachment_meta(attachment_id)
        missing = NotFound(f"附件 {attachment_id} 不存在。", code="attachment_not_found")
        if meta is None:
            raise missing
        try:
            if meta.get("outcome_id"):  # an outcome's own document: who may read the class's outcomes
                await self._sharing_doc(who, meta["class_id"])
            else:
                await self._readable_file(who, meta["cadre_id"])
        except NotFound:  # another county's file or class: as for an attachment nobody has
            raise missing from None
        doc = await self.db[ATTACHMENTS].find_one({"_id": attachment_id})
        return {**doc, "data": bytes(doc["data"])}

    async def class_effect(self, who: Principal, class_id: str) -> dict:
        """The class's effect report (培训成效报告), every trainee the reader may see: from the
        class's figures (what the report counts, not the class's whole follow-up), without
        the projection's guard; the title read beside it (two point reads at once)."""
        who.require_role(*READERS)
        kept = self._effects.get(class_id) if self._follow_figures() else None
        if kept is not None and jur.covers(who.jurisdiction, kept[1]["jurisdiction"]):
            effect, title = kept[1], kept[2]
        else:
            self._reading[class_id] += 1
            try:
                effect, title = await self._made_effect(who, class_id)
            finally:
                self._reading[class_id] -= 1
                if not self._reading[class_id]:
                    del self._reading[class_id]
                    self._figures_written_rev.pop(class_id, None)
        return {
            **effect,
            "by_trainee": visibility.rows(effect["by_trainee"], who.role),
            "outcomes": {
                **effect["outcomes"],
                "items": [visibility.unnamed(o, who.role) for o in effect["outcomes"]["items"]],
            },
            "class_title": title,
        }

    async def _made_effect(self, who: Principal, class_id: str) -> tuple[dict, str]:
        """The report made from the class's figures as stored (kept where the reader sees
        the whole class), and the class's title."""
        doc, titles = await asyncio.gather(
            self.db[CLASS_FIGURES].find_one({"_id": class_id}, {"_applied": 0}),
            self.class_titles([class_id]),
        )
        if doc is None:
            raise NotFound(
                f"班次 {class_id} 尚无跟踪数据（学员结业后才会排定跟踪节点）。", code="class_not_found"
            )
        people = _reachable(who, doc, None)
        effect = report.class_effect({**doc, "trainees": {guard_key(p["cadre_id"]): p for p in people}})
        title = titles.get(class_id, "")
        if jur.covers(who.jurisdiction, doc["jurisdiction"]):
            self._keep_effect(class_id, doc.get("_rev", 0), effect, title)
        return effect, title

    def _follow_figures(self) -> bool:
        """Whether this process's `class_figures` writer is followed (from the first report
        read on): only then are effect reports kept. Reading the class's figures from
        FerretDB was most of the report's time (a document of ~40 kB converted field by
        field: docs/benchmarks.md, "The class effect report"), and one stall of it under
        load put the report over 300 ms p99 at 20,000 cadres ("Every read at 20,000 cadres")."""
        if not self._follows_figures:
            writer = next((w for w in self.writers() if w.projection.name == CLASS_FIGURES), None)
            if writer is None:
                return False
            writer.observers.append(self._figures_written)
            self._follows_figures = True
        return True

    def _figures_written(self, docs: list[dict]) -> None:
        for d in docs:
            self._effects.pop(d["_id"], None)
            if d["_id"] in self._reading:
                rev = d.get("_rev", 0)
                self._figures_written_rev[d["_id"]] = max(rev, self._figures_written_rev.get(d["_id"], rev))

    def _keep_effect(self, class_id: str, rev: int, effect: dict, title: str) -> None:
        """Keeps a whole class's report made from the figures at `rev`, unless the writer has
        written the class since they were read (a report of older figures is never kept)."""
        if not self._follows_figures or rev < self._figures_written_rev.get(class_id, 0):
            return
        if len(self._effects) >= EFFECTS_KEPT:
            self._effects.pop(next(iter(self._effects)))
        self._effects[class_id] = (rev, effect, title)

    async def sharing(self, who: Principal, class_id: str) -> dict:
        """A class's sharing talks (上讲台) and outcomes with their approvals and adoptions:
        the readers see all; a trainee of the class the class's outcomes and their own talks;
        a unit the outcomes and its own people's talks (one document, the class report's)."""
        doc, people = await self._sharing_doc(who, class_id)
        talks = _talks(people)
        outcomes = sorted(doc.get("outcomes", {}).values(), key=lambda o: (o.get("on") or "", o["title"]))
        titles = await self.class_titles([class_id])
        return {
            "class_id": class_id,
            "class_title": titles.get(class_id, ""),
            "talks": visibility.rows(sorted(talks, key=lambda t: (t["on"], t["name"])), who.role),
            "outcomes": [visibility.unnamed(report.outcome_view(o), who.role) for o in outcomes],
        }

    async def _sharing_doc(self, who: Principal, class_id: str) -> tuple[dict, list[dict]]:
        """The class report's document if `who` may read the class's talks and outcomes, and
        the trainees whose talks they see (all; a trainee themself; a unit its own people)."""
        who.require_role(*READERS, "trainee", "unit")
        doc = await self.db[CLASS_EFFECT].find_one({"_id": class_id}, {"_applied": 0})
        missing = NotFound(f"班次 {class_id} 尚无跟踪数据（学员结业后才会建立）。", code="class_not_found")
        if doc is None:
            raise missing
        people = _reachable(who, doc, missing)
        if who.role == "trainee":
            people = [p for p in people if p["cadre_id"] == who.user_id]
            if not people:
                raise Forbidden("学员只能查看本人所在班次的上讲台和成果。", code="not_the_trainee")
        elif who.role == "unit":
            people = [p for p in people if p.get("unit") == who.unit]
            if not people:
                raise Forbidden(f"该班次没有“{who.unit or '未标明'}”的学员。", code="wrong_unit")
        return doc, people

    async def unit_sharing(self, who: Principal) -> dict:
        """A unit clerk's 上讲台与成果: over every class in the clerk's jurisdiction, the talks
        of the unit's own trainees and the outcomes one of them wrote (an author named by
        name or cadre id), with their approvals, adoptions and documents. The talks and the
        unit's people come from the trainee files held for the work list (work_index.py: no
        read of five years of classes' graduates); the outcomes from a scan of
        `class_outcomes` (only classes with an outcome)."""
        who.require_role("unit")
        if not who.unit:
            raise Forbidden("登录令牌未标明所属单位，不能查看本单位的上讲台与成果。", code="unit_missing")
        ix = await self.work_index()
        held, people = ix.unit_people(who.jurisdiction, who.unit)
        outcomes = [
            {**o, "class_id": doc["class_id"]}
            async for doc in self.db[OUTCOMES].find({}, {"_applied": 0})
            # a class above the unit's county too (a province-run class): the authors decide
            if related(who.jurisdiction, doc.get("jurisdiction", ""))
            for o in map(report.outcome_view, doc.get("outcomes", {}).values())
            if people.get(doc["class_id"], set()).intersection(x for x in o["authors"] + o["author_ids"] if x)
        ]
        talks = [dict(t) for t in held]  # the index's rows are shared: copies get the titles
        titles = await self._titles(ix, {i["class_id"] for i in talks + outcomes})
        for i in talks + outcomes:
            i["class_title"] = titles.get(i["class_id"], "")
        return {
            "unit": who.unit,
            "talks": sorted(talks, key=lambda t: (t["on"], t["name"]), reverse=True),
            "outcomes": sorted(outcomes, key=lambda o: (o.get("on") or "", o["title"]), reverse=True),
        }

    async def graduate_names(self, class_id: str) -> frozenset[str]:
        """The full names of a class's graduates, for a command's check that a class-level text
        names none of them (shared/class_texts.py); empty for a class without graduates."""
        doc = await self.db[GRADUATES].find_one({"_id": class_id}, {"graduates": 1})
        return frozenset(g.get("name", "") for g in ((doc or {}).get("graduates") or {}).values())

    async def known_class(self, who: Principal, class_id: str) -> dict:
        """A class with graduates, in the reader's jurisdiction (outcomes are registered only
        there); a graduate, or the unit of one, of a class above their county too (a
        province-run class: the caller checks they are one)."""
        doc = await self.db[GRADUATES].find_one({"_id": class_id})
        if doc is None:
            raise NotFound(f"班次 {class_id} 尚无结业学员，不能登记成果。", code="class_not_found")
        above = doc.get("class_jurisdiction") or doc["jurisdiction"]
        if who.role in ("trainee", "unit") and jur.covers(above, who.jurisdiction):
            return doc
        who.require_covers(doc["jurisdiction"])
        return doc

    async def worklist(
        self,
        who: Principal,
        day: date,
        p: Paging = Paging(),
        status: str | None = None,
        unit: str | None = None,
        class_id: str | None = None,
    ) -> dict:
        """This week's work (本周待办): milestones due by the end of the week and not done,
        and those overdue (within the look-back) and still open, in the reader's jurisdiction;
        a unit's clerk and its evaluators see only their own unit's people. One page of them
        (`p`, filtered by `status`, `unit`, `class_id`); `due`, `overdue` and `by_class` count
        the whole week's."""
        who.require_role("org_department", "party_school", "admin", "unit", "evaluator")
        own_unit = who.unit if who.role in ("unit", "evaluator") else None
        if who.role in ("unit", "evaluator") and not own_unit:
            raise Forbidden("登录令牌未标明所属单位，不能查看本单位的跟踪待办。", code="unit_missing")
        if status not in (None, "", "due", "overdue"):
            raise DomainError(
                f"状态“{status}”应为 due（待完成）或 overdue（已逾期）。", code="bad_status", field="status"
            )
        start, end = week_of(day)
        first = end - timedelta(days=(end - start).days + WORKLIST_LOOKBACK_DAYS)
        ix = await self.work_index()
        week = ix.rows(who.jurisdiction, first.isoformat(), end.isoformat(), own_unit)
        # class titles for the pages (names, never ids), kept once found
        titles = await self._titles(ix, {i["class_id"] for i in week})
        by_class = _by_class(week, titles)
        rows = [
            i
            for i in week
            if (not status or i["status"] == status)
            and (not unit or i["unit"] == unit)
            and (not class_id or i["class_id"] == class_id)
            and (not p.q or p.q in i["_key"])
        ]
        keys = {"class_title": lambda i: titles.get(i["class_id"], "")}
        page = page_of(
            rows,
            p,
            keys,
            shape=lambda i: {
                **{k: v for k, v in i.items() if k != "_key"},
                "class_title": titles.get(i["class_id"], ""),
            },
        )
        return {
            "jurisdiction": who.jurisdiction,
            "week_start": start.isoformat(),
            "week_end": end.isoformat(),
            "due": sum(c["due"] for c in by_class),
            "overdue": sum(c["overdue"] for c in by_class),
            "by_class": by_class,
            **page,
        }

    async def my_mentees(self, who: Principal) -> list[dict]:
        """The trainees whose current "1+1" mentor the caller is (导师的帮带对象), with the three
        tasks and what is recorded of each: a scan of the class reports (one document per
        class, fewer than the per-cadre files), filtered to the reader's jurisdiction."""
        who.require_role("mentor")
        out = []
        async for doc in self.db[CLASS_EFFECT].find({}, {"_applied": 0, "outcomes": 0}):
            # a class above the mentor's county too (a province-run class): the mentor id decides
            if not related(who.jurisdiction, doc.get("jurisdiction", "")):
                continue
            for sec in doc.get("trainees", {}).values():
                if (sec.get("mentor") or {}).get("mentor_id") != who.user_id:
                    continue
                out.append(
                    {
                        "class_id": sec["class_id"],
                        "cadre_id": sec["cadre_id"],
                        "name": sec.get("name", ""),
                        "unit": sec.get("unit", ""),
                        "since": sec["mentor"].get("assigned_at", "")[:10],
                        "tasks": [
                            {"task": t, "task_name": name, **(sec.get("tasks", {}).get(t) or {})}
                            for t, name in MENTOR_TASKS.items()
                        ],
                    }
                )
        titles = await self.class_titles(m["class_id"] for m in out)
        for m in out:
            m["class_title"] = titles.get(m["class_id"], "")
        return sorted(out, key=lambda m: (m["class_title"], m["name"]))

    # -- the scheduler's documents ---------------------------------------------------------
    def classes_with_pending_graduates(self) -> AsyncIterator[dict]:
        """A scan of a small collection (one document per class)."""
        return self.db[GRADUATES].find({"pending": {"$gt": 0}})

    async def remind(self, by_day: dict[date, dict[str, dict]]) -> None:
        """One write per day for a whole class's graduates (a day's document holds every
        trainee reminded that day: writing it once per trainee rewrote it hundreds of times).
        `by_day[day]` maps `streams.<escaped stream id>` to the reminder's entry."""
        for day in sorted(by_day):
            await self.db[REMINDERS].update_one({"_id": day.isoformat()}, {"$set": by_day[day]}, upsert=True)
        # Another instance, its clock read later, may have swept past these days already:
        # pull the cursor back so the next sweep covers them.
        first = min(by_day).isoformat()
        await self.db[SCHEDULER].update_one(
            {"_id": "cursor", "swept_to": {"$gt": first}}, {"$set": {"swept_to": first}}
        )

    async def swept_to(self) -> str | None:
        state = await self.db[SCHEDULER].find_one({"_id": "cursor"})
        return state["swept_to"] if state else None

    async def reminders_of(self, day: date) -> dict | None:
        return await self.db[REMINDERS].find_one({"_id": day.isoformat()})

    async def mark_reminded(self, day_id: str, marks: dict[str, str]) -> None:
        await self.db[REMINDERS].update_one({"_id": day_id}, {"$set": marks})

    async def advance_cursor(self, was: str | None, today: date) -> None:
        """Compare-and-set: if a scheduling pulled the cursor back meanwhile, keep its value."""
        if was is None:
            first = {"$setOnInsert": {"swept_to": today.isoformat()}}
            await self.db[SCHEDULER].update_one({"_id": "cursor"}, first, upsert=True)
        elif was < today.isoformat():
            await self.db[SCHEDULER].update_one(
                {"_id": "cursor", "swept_to": was}, {"$set": {"swept_to": today.isoformat()}}
            )


def _reachable(who: Principal, doc: dict, missing: NotFound | None) -> list[dict]:
    """The trainees of a class's report `who` may read: every one for a reader whose
    jurisdiction covers the class's; a county's own graduates of a class above it (a
    province-run class's report holds every county's; each trainee's section names their
    home). Anyone else is refused as `require_reaches` refuses (403 when `missing` is None)."""
    people = list(doc.get("trainees", {}).values())
    code = doc["jurisdiction"]
    if jur.covers(who.jurisdiction, code):
        return people
    if jur.covers(code, who.jurisdiction):
        own = [p for p in people if jur.covers(who.jurisdiction, p.get("jurisdiction") or code)]
        if own:
            return own
    if missing is not None:
        require_reaches(who, code, missing)  # raises: the reader does not cover the class
    who.require_covers(code)  # raises 403
    return people


def _talks(people: list[dict]) -> list[dict]:
    """The sharing talks of these trainees, each with who gave it."""
    return [
        {**t, "cadre_id": p["cadre_id"], "name": p.get("name", ""), "unit": p.get("unit", "")}
        for p in people
        for t in p.get("talks", [])
    ]


def _by_class(rows: list[dict], titles: dict[str, str]) -> list[dict]:
    """The week's due and overdue milestones counted per class, by title."""
    by: dict[str, dict] = {}
    for i in rows:
        cid = i["class_id"]
        c = by.setdefault(cid, {"class_id": cid, "class_title": titles.get(cid, ""), "due": 0, "overdue": 0})
        c[i["status"]] += 1
    return sorted(by.values(), key=lambda c: (c["class_title"], c["class_id"]))
