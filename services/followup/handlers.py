"""The follow-up service's commands: check who may act, load the stream, decide, append.
The day comes from the Clock port (the deployment's, movable in development only).
The scheduler (scheduler.py) schedules graduates and ticks their streams through the
same handlers."""

from __future__ import annotations

from datetime import date

from services.followup import attachments
from services.followup.domain import (
    ENDORSEMENT_NAMES,
    AssignMentor,
    AttachOutcomeDocument,
    CompleteMentorTask,
    EndorseOutcome,
    FollowUpDecider,
    GiveTalk,
    OutcomeDecider,
    PlanDecider,
    PlanState,
    ReportOutcome,
    ScheduleFollowUp,
    SetPlan,
    SubmitEvaluation,
    Tick,
    old_plan_stream,
    outcome_stream,
    plan_stream,
    trainee_stream,
)
from services.followup.reads import READERS, Reads
from shared.auth import Principal
from shared.commands import Context, Loaded, within
from shared.contracts.followup import AttachmentRef
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Envelope
from shared.ids import new_id
from shared.jurisdiction import covers
from shared.ports import Clock, Commands

FOLLOWUP = FollowUpDecider()
PLAN = PlanDecider()
OUTCOME = OutcomeDecider()
MANAGERS = ("org_department", "party_school")


class Handlers:
    def __init__(self, commands: Commands, reads: Reads, clock: Clock) -> None:
        self.commands = commands
        self.reads = reads
        self.clock = clock

    # -- the class's plan ---------------------------------------------------------------------
    async def set_plan(
        self, ctx: Context, who: Principal, class_id: str, months: list[int], grace_days: int
    ) -> list[Envelope]:
        who.require_role(*MANAGERS)
        stream = plan_stream(ctx.jurisdiction, class_id)
        if (await self.commands.load(PLAN, stream)).version == 0:
            old = await self.commands.load(PLAN, old_plan_stream(class_id))
            if old.version and old.jurisdiction == ctx.jurisdiction:
                stream = old_plan_stream(class_id)  # a plan stored before namespacing: go on with it
        cmd = SetPlan(class_id=class_id, months=months, grace_days=grace_days)
        return await self.commands.execute(PLAN, stream, cmd, ctx, within(who))

    async def load_plan(self, jurisdiction: str, class_id: str) -> Loaded[PlanState]:
        """The plan `jurisdiction` set for `class_id` (the default plan if none): its namespaced
        stream, or a plan stored before namespacing that the same jurisdiction set."""
        loaded = await self.commands.load(PLAN, plan_stream(jurisdiction, class_id))
        if loaded.version == 0:
            old = await self.commands.load(PLAN, old_plan_stream(class_id))
            if old.version and old.jurisdiction == jurisdiction:
                return old
        return loaded

    async def plan(self, who: Principal, class_id: str) -> dict:
        """The plan the reader's jurisdiction set for the class, or the default one."""
        who.require_role(*READERS)
        loaded = await self.load_plan(who.jurisdiction, class_id)
        if loaded.jurisdiction:
            who.require_covers(loaded.jurisdiction)
        state = loaded.state
        return {
            "class_id": class_id,
            "months": list(state.months),
            "grace_days": state.grace_days,
            "default": loaded.version == 0,
        }

    # -- the trainee's stream: evaluations, mentor, mentor tasks, talks -----------------------------
    async def _on_trainee(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, cmd
    ) -> list[Envelope]:
        stream = trainee_stream(class_id, cadre_id)
        return await self.commands.execute(FOLLOWUP, stream, cmd, ctx, within(who))

    async def evaluate(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        month: int,
        role: str,
        evaluator_name: str | None,
        scores: dict[str, float],
        text: str,
    ) -> list[Envelope]:
        """Self, a colleague, the unit's leader or the mentor evaluates a milestone (once each)."""
        who.require_role("trainee", "unit", "evaluator", "mentor")
        cmd = SubmitEvaluation(
            month=month,
            role=role,
            evaluator_id=who.user_id,
            evaluator_name=evaluator_name or who.name,
            actor_role=who.role,
            actor_unit=who.unit,
            scores=scores,
            text=text,
            today=await self.clock.today(),
        )
        return await self._on_trainee(ctx, who, class_id, cadre_id, cmd)

    async def assign_mentor(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        mentor_id: str,
        mentor_name: str,
        mentor_post: str,
    ) -> list[Envelope]:
        who.require_role("org_department", "unit")
        cmd = AssignMentor(
            mentor_id=mentor_id,
            mentor_name=mentor_name,
            mentor_post=mentor_post,
            actor_role=who.role,
            actor_unit=who.unit,
        )
        return await self._on_trainee(ctx, who, class_id, cadre_id, cmd)

    async def complete_mentor_task(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        task: str,
        evidence: str,
        comment: str,
        attachment_ids: list[str] = (),
    ) -> list[Envelope]:
        """A mentor's task done, with its evidence text and the files the mentor uploaded for it."""
        who.require_role("mentor")
        refs = [await self._own_attachment(who, class_id, cadre_id, a) for a in dict.fromkeys(attachment_ids)]
        cmd = CompleteMentorTask(
            task=task,
            evidence=evidence,
            comment=comment,
            actor_role=who.role,
            actor_id=who.user_id,
            today=await self.clock.today(),
            attachments=tuple(refs),
        )
        return await self._on_trainee(ctx, who, class_id, cadre_id, cmd)

    async def _own_attachment(
        self, who: Principal, class_id: str, cadre_id: str, attachment_id: str
    ) -> AttachmentRef:
        meta = await self.reads.attachment_meta(attachment_id)
        if meta is None:
            raise DomainError(
                f"附件 {attachment_id} 不存在，请重新上传。", code="attachment_not_found", field="attachments"
            )
        if (meta["class_id"], meta["cadre_id"], meta["uploaded_by"]) != (class_id, cadre_id, who.user_id):
            raise DomainError(
                f"附件“{meta['name']}”不是您为该学员本班次上传的，不能作为佐证。",
                code="attachment_elsewhere",
                field="attachments",
            )
        return AttachmentRef(
            attachment_id=attachment_id,
            name=meta["name"],
            content_type=meta["content_type"],
            size=meta["size"],
            sha256=meta["sha256"],
        )

    async def upload_attachment(
        self, who: Principal, class_id: str, cadre_id: str, filename: str | None, content: bytes
    ) -> dict:
        """Store a file of evidence for the trainee's follow-up in this class: only the trainee's
        current mentor uploads (the evidence of their tasks). Checked by content (attachments.py)
        before anything is stored; returns what a task refers to."""
        who.require_role("mentor")
        loaded = await self.commands.load(FOLLOWUP, trainee_stream(class_id, cadre_id))
        state = loaded.state
        if state.class_id is None:
            raise NotFound("该学员尚无跟踪档案：结业后才会排定跟踪节点。", code="followup_not_found")
        if state.mentor_id != who.user_id:
            raise Forbidden(f"只有{state.name}当前的帮带导师可以上传佐证材料。", code="not_the_mentor")
        checked = attachments.check(filename, content)
        doc = await self._store(
            who, checked, content, loaded.jurisdiction, {"class_id": class_id, "cadre_id": cadre_id}
        )
        return {k: v for k, v in doc.items() if k not in ("data", "_id")} | {"attachment_id": doc["_id"]}

    async def _store(
        self,
        who: Principal,
        checked: attachments.Checked,
        content: bytes,
        jurisdiction: str | None,
        about: dict,
    ) -> dict:
        """A checked file stored with what it belongs to (`about`), who uploaded it and when."""
        doc = {
            "_id": new_id(),
            **about,
            "name": checked.name,
            "kind": checked.kind,
            "content_type": checked.content_type,
            "size": checked.size,
            "sha256": checked.sha256,
            "uploaded_by": who.user_id,
            "uploader_name": who.name,
            "jurisdiction": jurisdiction or who.jurisdiction,
            "uploaded_at": (await self.clock.now()).isoformat(),
            "data": content,
        }
        await self.reads.store_attachment(doc)
        return doc

    async def give_talk(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        talk_id: str | None,
        on: date,
        audience: str,
        topic: str,
        attendees: int,
    ) -> list[Envelope]:
        """A sharing talk (上讲台); the same `talk_id` again registers nothing new."""
        who.require_role("trainee", "unit", "org_department")
        cmd = GiveTalk(
            talk_id=talk_id or new_id(),
            on=on,
            audience=audience,
            topic=topic,
            attendees=attendees,
            actor_role=who.role,
            actor_id=who.user_id,
            actor_unit=who.unit,
            today=await self.clock.today(),
            trainee_names=await self.reads.graduate_names(class_id),
        )
        return await self._on_trainee(ctx, who, class_id, cadre_id, cmd)

    # -- outcomes ------------------------------------------------------------------------------------
    async def report_outcome(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        outcome_id: str | None,
        kind: str,
        title: str,
        authors: list[str],
        on: date | None = None,
    ) -> list[Envelope]:
        """A class's outcome, dated `on` (today when not given): by the department or the party
        school, by a graduate of the class (who is then its first author), or by the unit of one."""
        who.require_role(*MANAGERS, "trainee", "unit")
        graduates = await self._acts_for_class(who, class_id)
        if who.role == "trainee":
            authors = [who.user_id, *(a for a in authors if a.strip() not in (who.name, who.user_id))]
        today = await self.clock.today()
        cmd = ReportOutcome(
            outcome_id=outcome_id or new_id(),
            class_id=class_id,
            kind=kind,
            title=title,
            authors=authors,
            on=on or today,
            today=today,
            graduates=tuple((g["cadre_id"], g.get("name", "")) for g in graduates),
        )
        return await self.commands.execute(OUTCOME, outcome_stream(cmd.outcome_id), cmd, ctx, within(who))

    async def _acts_for_class(self, who: Principal, class_id: str) -> list[dict]:
        """Who may register a class's outcomes (and their documents): the department and the
        party school of its jurisdiction, a graduate of the class, the unit of one. Answers
        the class's graduates."""
        known = await self.reads.known_class(who, class_id)
        graduates = list(known.get("graduates", {}).values())
        if who.role == "trainee" and not any(g["cadre_id"] == who.user_id for g in graduates):
            raise Forbidden("学员只能登记本人所在班次的成果。", code="not_the_trainee")
        if who.role == "unit" and not any(g.get("unit") == who.unit and _home(who, g) for g in graduates):
            raise Forbidden(
                f"该班次没有“{who.unit or '未标明'}”的学员，不能代为登记成果。", code="wrong_unit"
            )
        return graduates

    async def _outcome(self, outcome_id: str) -> Loaded:
        loaded = await self.commands.load(OUTCOME, outcome_stream(outcome_id))
        if loaded.state.outcome_id is None:
            raise NotFound(f"成果 {outcome_id} 不存在。", code="outcome_not_found")
        return loaded

    async def endorse_outcome(
        self, ctx: Context, who: Principal, outcome_id: str, kind: str, by: str | None, on: date, note: str
    ) -> list[Envelope]:
        """A leader's approval (批示) or an adoption (采纳) registered by the department or the
        party school; a unit's own adoption or conversion (转化) of an outcome of its people,
        registered by the unit's clerk in the unit's name."""
        who.require_role(*MANAGERS, "unit")
        if who.role == "unit":
            by = await self._unit_may_adopt(who, outcome_id, kind)
        elif not (by or "").strip():
            raise DomainError("请填写批示领导或采纳单位。", code="by_required", field="by")
        names = await self.reads.graduate_names((await self._outcome(outcome_id)).state.class_id)
        cmd = EndorseOutcome(
            kind=kind, by=by, on=on, note=note, today=await self.clock.today(), trainee_names=names
        )
        return await self.commands.execute(OUTCOME, outcome_stream(outcome_id), cmd, ctx, within(who))

    async def _unit_may_adopt(self, who: Principal, outcome_id: str, kind: str) -> str:
        """A unit records its own adoption or conversion, of an outcome one of its people
        wrote (an author named by name or cadre id among the class's graduates of the unit);
        answers the unit's name, which is who adopted it."""
        if kind == "approval":
            raise Forbidden(
                "领导批示由组织部或党校登记；单位只登记本单位对成果的采纳或转化。",
                code="approval_not_for_unit",
                field="kind",
            )
        if not who.unit:
            raise Forbidden("登录令牌未标明所属单位，不能登记采纳。", code="unit_missing")
        outcome = (await self._outcome(outcome_id)).state
        known = await self.reads.known_class(who, outcome.class_id)
        ours = {
            key
            for g in known.get("graduates", {}).values()
            if g.get("unit") == who.unit and _home(who, g)
            for key in (g["cadre_id"], g.get("name"))
        }
        if not ours.intersection(outcome.authors):
            raise Forbidden(
                f"成果“{outcome.title}”的作者中没有{who.unit}的学员，"
                f"不能以本单位名义登记{ENDORSEMENT_NAMES[kind]}。",
                code="wrong_unit",
            )
        return who.unit

    async def attach_outcome_document(
        self, ctx: Context, who: Principal, outcome_id: str, filename: str | None, content: bytes
    ) -> dict:
        """The outcome's own document (the report or the 金点子 itself: PDF, Word or an image),
        checked by content (attachments.py) before anything is stored, then referred to from
        the outcome's stream by id and sha256; a later upload replaces it. Who may: those who
        may register the class's outcomes, a trainee only for an outcome they are an author of."""
        who.require_role(*MANAGERS, "trainee", "unit")
        loaded = await self._outcome(outcome_id)
        outcome = loaded.state
        await self._acts_for_class(who, outcome.class_id)
        if who.role == "trainee" and not {who.name, who.user_id}.intersection(outcome.authors):
            raise Forbidden(f"只有成果“{outcome.title}”的作者可以上传它的文档。", code="not_an_author")
        checked = attachments.check(
            filename, content, kinds=attachments.OUTCOME_KINDS, allowed=attachments.OUTCOME_ALLOWED
        )
        doc = await self._store(
            who,
            checked,
            content,
            loaded.jurisdiction,
            {"outcome_id": outcome_id, "class_id": outcome.class_id},
        )
        ref = AttachmentRef(
            attachment_id=doc["_id"],
            name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
        )
        cmd = AttachOutcomeDocument(document=ref)
        await self.commands.execute(OUTCOME, outcome_stream(outcome_id), cmd, ctx, within(who))
        return {k: v for k, v in doc.items() if k not in ("data", "_id")} | {"attachment_id": doc["_id"]}

    # -- the scheduler's ----------------------------------------------------------------------------
    async def schedule(self, stream: str, cmd: ScheduleFollowUp, ctx: Context) -> list[Envelope]:
        """A graduate's milestones (nothing when already scheduled: retries are free)."""
        return await self.commands.execute(FOLLOWUP, stream, cmd, ctx)

    async def tick(self, stream: str, today: date, ctx: Context) -> list[Envelope]:
        """Milestones of the stream fall due or overdue as of `today` (nothing when they did)."""
        return await self.commands.execute(FOLLOWUP, stream, Tick(today), ctx)


def _home(who: Principal, graduate: dict) -> bool:
    """Whether a graduate's home is within `who`'s jurisdiction: a province-run class holds
    several counties' graduates, whose units may bear the same name (县财政局)."""
    return covers(who.jurisdiction, graduate.get("jurisdiction") or who.jurisdiction)
