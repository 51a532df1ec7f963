"""The records service's commands: read what the rules need (roster, the class's
recorders and scheme), check who may act, decide, append. Two stream loads at most per
request; trainee commands carry the class's facts (domain.ClassFacts), read once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from services.records import domain
from services.records.domain import ClassDecider, ClassFacts, TraineeDecider
from services.records.reads import MANAGERS, Reads, active_trainees, admit_to_class
from shared import store
from shared.auth import Principal
from shared.commands import Context, within
from shared.errors import DomainError, NotFound
from shared.events import Envelope
from shared.ids import new_id
from shared.ports import Clock, Commands

CLASS = ClassDecider()
TRAINEE = TraineeDecider()
AT_ONCE = 16  # trainee streams decided at once for a sheet (each its own aggregate)
SCHEMES = Path(__file__).parent / "schemes"


def load_scheme(name: str) -> dict:
    """A built-in scheme (schemes/<name>.json): huzhou is Huzhou's 三百分, 26 items."""
    return json.loads((SCHEMES / f"{name}.json").read_text(encoding="utf-8"))


class Handlers:
    def __init__(self, commands: Commands, reads: Reads, clock: Clock) -> None:
        self.commands = commands
        self.reads = reads
        self.clock = clock

    # -- the class stream: recorders, scheme, supervision ----------------------------------
    async def _on_class(self, ctx: Context, who: Principal, class_id: str, cmd) -> list[Envelope]:
        await self.reads.roster(who, class_id)
        return await self.commands.execute(CLASS, domain.class_stream(class_id), cmd, ctx, within(who))

    async def assign_recorder(
        self, ctx: Context, who: Principal, class_id: str, person_id: str, name: str, role: str, since: date
    ) -> list[Envelope]:
        who.require_role(*MANAGERS)
        cmd = domain.AssignRecorder(class_id, person_id, name, role, since)
        return await self._on_class(ctx, who, class_id, cmd)

    async def relieve_recorder(
        self, ctx: Context, who: Principal, class_id: str, person_id: str, until: date
    ) -> list[Envelope]:
        who.require_role(*MANAGERS)
        return await self._on_class(ctx, who, class_id, domain.RelieveRecorder(class_id, person_id, until))

    async def set_scheme(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        template: str | None,
        scheme_id: str | None,
        title: str | None,
        items: list[dict[str, Any]] | None,
    ) -> list[Envelope]:
        """A scheme of the class's own items, or a built-in one (`template`); refused once
        the class has been scored under a scheme."""
        who.require_role(*MANAGERS)
        base = load_scheme(template) if template else {}
        items = items if items is not None else base.get("items")
        if not items:
            raise DomainError(
                "请提供考核项目 items，或选择内置方案 template=huzhou。", code="empty_scheme", field="items"
            )
        cmd = domain.SetScheme(
            class_id,
            scheme_id or base.get("scheme_id") or new_id(),
            title or base.get("title") or "量化考核方案",
            tuple(items),
            scores_exist=await self.reads.scores_exist(class_id),
        )
        return await self._on_class(ctx, who, class_id, cmd)

    async def note_supervision(
        self, ctx: Context, who: Principal, class_id: str, on: date, text: str
    ) -> list[Envelope]:
        who.require_role("org_department")
        roster = await self.reads.roster(who, class_id)
        names = frozenset(t.get("name", "") for t in active_trainees(roster).values())
        cmd = domain.NoteSupervision(
            class_id, new_id(), on, text, who.name, await self.clock.today(), trainee_names=names
        )
        return await self._on_class(ctx, who, class_id, cmd)

    # -- trainee streams: records, scores, the final comment ----------------------------------
    async def _class_facts(self, who: Principal, class_id: str) -> tuple[ClassFacts, str]:
        """The class's facts and its jurisdiction, once `who` is admitted to the class: staff
        by jurisdiction, a recorder the class appointed whatever theirs (`admit_to_class`)."""
        roster = await self.reads.stored_roster(class_id)
        loaded = await self.commands.load(CLASS, domain.class_stream(class_id))
        admit_to_class(who, class_id, roster["jurisdiction"], loaded.state.recorders)
        facts = ClassFacts(
            class_id=class_id,
            roster=frozenset(active_trainees(roster)),
            recorders=loaded.state.recorders,
            scheme=loaded.state.scheme,
            starts_on=date.fromisoformat(roster["starts_on"]),
        )
        return facts, roster["jurisdiction"]

    async def _on_trainee(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, build: Callable[[ClassFacts], Any]
    ) -> list[Envelope]:
        """`build(facts)` makes the command. The class facts are read once before deciding;
        a recorder relieved in the same instant may still log once — the record keeps their
        role, nothing is lost. The trainee's stream lives in the class's jurisdiction (its
        events reach that topic whoever records: a county's class monitor in a province class)."""
        who.require_role("recorder")
        f, jurisdiction = await self._class_facts(who, class_id)
        return await self.commands.execute(
            TRAINEE,
            domain.trainee_stream(class_id, cadre_id),
            build(f),
            replace(ctx, jurisdiction=jurisdiction),
        )

    async def log_record(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        category: str,
        observed_on: date,
        text: str,
        corrects: str | None = None,
    ) -> tuple[str, list[Envelope]]:
        """A record (or a correction of one: the original stays); returns its id and events."""
        record_id, today = new_id(), await self.clock.today()
        envs = await self._on_trainee(
            ctx,
            who,
            class_id,
            cadre_id,
            lambda f: domain.LogRecord(
                facts=f,
                record_id=record_id,
                cadre_id=cadre_id,
                category=category,
                observed_on=observed_on,
                text=text,
                author_id=who.user_id,
                author_name=who.name,
                today=today,
                corrects=corrects,
            ),
        )
        return record_id, envs

    async def score_week(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        cadre_id: str,
        week: date,
        scores: tuple[tuple[str, float], ...],
        note: str = "",
    ) -> list[Envelope]:
        today = await self.clock.today()
        return await self._on_trainee(
            ctx,
            who,
            class_id,
            cadre_id,
            lambda f: domain.ScoreWeek(
                facts=f,
                cadre_id=cadre_id,
                week=week,
                scores=scores,
                scorer_id=who.user_id,
                scorer_name=who.name,
                today=today,
                note=note,
            ),
        )

    async def score_sheet(
        self,
        ctx: Context,
        who: Principal,
        class_id: str,
        week: date,
        rows: list[tuple[str, tuple[tuple[str, float], ...], str]],
    ) -> dict:
        """A recorder's sheet for the whole class, one row (cadre, scores, note) per trainee:
        the class facts read once, each trainee's row decided on its own stream (a few at
        once). The rows refused are answered each with its reason; the others are saved."""
        who.require_role("recorder")
        seen: set[str] = set()
        for cadre_id, _scores, _note in rows:
            if cadre_id in seen:
                raise DomainError(
                    f"评分表中学员 {cadre_id} 出现了两次，请合并为一行后再提交（本表未保存）。",
                    code="duplicate_row",
                    field="rows",
                )
            seen.add(cadre_id)
        today = await self.clock.today()
        f, jurisdiction = await self._class_facts(who, class_id)
        as_class = replace(ctx, jurisdiction=jurisdiction)
        # Someone who is not a recorder of the class is refused the whole sheet (403), not
        # answered row by row as if the sheet were theirs.
        domain.current_recorder(f, who.user_id, who.name)

        async def one(cadre_id: str, scores, note: str) -> dict | None:
            cmd = domain.ScoreWeek(
                facts=f,
                cadre_id=cadre_id,
                week=week,
                scores=scores,
                scorer_id=who.user_id,
                scorer_name=who.name,
                today=today,
                note=note,
            )
            try:
                await self.commands.execute(TRAINEE, domain.trainee_stream(class_id, cadre_id), cmd, as_class)
            except (DomainError, NotFound) as exc:
                return {"cadre_id": cadre_id, "code": exc.code, "message": exc.message}
            return None

        results = await store.gather_chunked([lambda r=r: one(*r) for r in rows], size=AT_ONCE)
        refused = [r for r in results if r is not None]
        return {
            "week": domain.monday(week).isoformat(),
            "saved": len(rows) - len(refused),
            "refused": refused,
        }

    async def write_final_comment(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, text: str
    ) -> list[Envelope]:
        return await self._on_trainee(
            ctx,
            who,
            class_id,
            cadre_id,
            lambda f: domain.WriteFinalComment(
                facts=f, cadre_id=cadre_id, text=text, author_id=who.user_id, author_name=who.name
            ),
        )
