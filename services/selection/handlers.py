"""Selection's commands: who may act, what the rules need (through `reads`), the
decision (through the `commands` port), on today's date from the `clock` port.

The registry import decides thousands of cadres through one kernel entry,
`Commands.append_many`: a new cadre is planned as a fresh stream (version 0, nothing to
load), a changed one on the state and version its registry document was written from
(`Reads.cadre_states`); the kernel appends them all in few inserts and decides again, on
the stored stream, any whose stream had moved on.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import date
from typing import Any

from services.selection import cadres as reg
from services.selection import importing
from services.selection.domain import (
    AssignGroups,
    AssignToGroup,
    CadreDecider,
    ClassDecider,
    ConfirmNomination,
    DrawScope,
    EraseCadre,
    FollowErasure,
    NominateTrainee,
    OpenClass,
    RecordCadre,
    RejectNomination,
    UpdateCadre,
    WaitlistNomination,
    WithdrawNomination,
    cadre_stream_id,
    stream_id,
)
from services.selection.reads import Reads
from services.selection.settings import SelectionSettings
from shared import jurisdiction as jur
from shared.auth import Principal
from shared.commands import Context, Loaded, Planned, Several, within
from shared.contracts.selection import CadreErased
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor, Envelope
from shared.jurisdiction import covers
from shared.personal import Gone
from shared.ports import Clock, Commands, PersonKeys
from shared.projection import related
from shared.scoped_ids import require_reaches

CLASS = ClassDecider()
CADRE = CadreDecider()

# Which county holds a 身份证号 is itself personal data: a refusal says "elsewhere", never where.
# Rows of an import decided and appended together (`import_cadres`): five of the kernel's
# slices (MANY_SLICE), pipelined within the part.
IMPORT_PART = 5_000
ELSEWHERE = "该身份证号已登记在其他辖区的名册中，不能由本辖区登记、修改或导入（请与上级组织部门核实）"


# Who records this deployment's own erasure of a person another deployment erased: the system,
# under its real (实名) name like every actor, acting for no user.
ERASURE_FOLLOWER = Actor(user_id="erasure-follower", name="个人信息删除同步程序", role="admin")


def followed_reason(erased_by: str) -> str:
    """Why this deployment erased its copy, naming the jurisdiction that erased the person."""
    name = jur.name(erased_by)
    who = erased_by if name == erased_by else f"{name}（{erased_by}）"
    return f"{who}已删除该干部的个人信息，本部署随之删除以本部署密钥保存的副本。"


def acting_unit(who: Principal) -> str | None:
    """The unit a unit clerk acts for; None for the department."""
    if who.role != "unit":
        return None
    if not who.unit:
        raise Forbidden("登录令牌未标明所属单位，不能以单位身份推荐或撤回。", code="unit_missing")
    return who.unit


def _ours(who: Principal):
    def check(loaded: Loaded) -> None:
        if loaded.jurisdiction is not None and not covers(who.jurisdiction, loaded.jurisdiction):
            raise Forbidden(ELSEWHERE + "。", code="registered_elsewhere", field="id_number")

    return check


def _reached(who: Principal, cadre_id: str):
    """A command on a cadre named by id (an edit, an erasure): another county's cadre answers
    as one not in the registry (shared/scoped_ids.require_reaches), as the decider does."""

    def check(loaded: Loaded) -> None:
        if loaded.jurisdiction is not None:
            missing = NotFound(f"干部 {cadre_id} 不在名册中。", code="cadre_not_found")
            require_reaches(who, loaded.jurisdiction, missing)

    return check


def _nomination(cadre: dict[str, Any], who: Principal, today: date) -> NominateTrainee:
    """A unit's (or the department's) recommendation of a registry cadre, as of today."""
    return NominateTrainee(
        cadre_id=cadre["_id"],
        name=cadre["name"],
        unit=cadre["unit"],
        today=today,
        home_jurisdiction=cadre["jurisdiction"],
        by_unit=acting_unit(who),
    )


class Handlers:
    def __init__(
        self,
        commands: Commands,
        reads: Reads,
        clock: Clock,
        settings: SelectionSettings | None = None,
        keys: PersonKeys | None = None,
        cadre_secret: bytes | None = None,
    ) -> None:
        self.commands = commands
        self.reads = reads
        self.clock = clock
        self.settings = settings or SelectionSettings()
        # The deployment's key vault: erasing a cadre deletes their key (shared/personal.py).
        self.keys = keys
        # The province's key for cadre ids (settings.cadre_id_secret); handler tests with
        # fakes may leave it out and get a random one for this instance.
        self._cadre_secret = cadre_secret or secrets.token_bytes(32)

    def cadre_id_for(self, id_number: str) -> str:
        """The cadre id of a 身份证号 in this province (cadres.cadre_id_for): the one lookup
        from number to id, kept inside selection."""
        return reg.cadre_id_for(id_number, self._cadre_secret)

    # -- classes and the three steps ----------------------------------------------------
    async def open_class(self, ctx: Context, who: Principal, cmd: OpenClass) -> list[Envelope]:
        """Decided on a class believed new, without reading its stream (one store read less
        per class opened): an id already taken conflicts on the append, and a refusal on the
        belief is checked on the stored stream (`CommandHandler.execute`)."""
        who.require_role("org_department", "party_school")
        new = Loaded(CLASS.initial(), 0, None)
        return await self.commands.execute(
            CLASS, stream_id(cmd.class_id), cmd, ctx, within(who), believed=new
        )

    async def on_class(self, ctx: Context, who: Principal, class_id: str, cmd: Any) -> list[Envelope]:
        """Any command on a class, decided on its stream within the principal's jurisdiction."""
        return await self.commands.execute(CLASS, stream_id(class_id), cmd, ctx, within(who))

    async def draw_scope(
        self, ctx: Context, who: Principal, class_id: str, criteria: dict[str, Any]
    ) -> tuple[list[Envelope], list[dict[str, Any]]]:
        """划定范围: the cadres of the clerk's own registry meeting `criteria` today (the
        class's jurisdiction is checked when the command loads the class)."""
        who.require_role("org_department")
        today = await self.clock.today()
        found = await self.reads.scope_for(who.jurisdiction, criteria, today, self.settings.hours_policy)
        envs = await self.on_class(
            ctx, who, class_id, DrawScope(criteria, tuple(c["cadre_id"] for c in found), today)
        )
        return envs, found

    async def nominate(self, ctx: Context, who: Principal, class_id: str, cadre_id: str) -> list[Envelope]:
        """单位推荐: one registry cadre."""
        who.require_role("unit", "org_department")
        cadre = await self.reads.nominee(who, cadre_id)
        return await self.on_class(ctx, who, class_id, _nomination(cadre, who, await self.clock.today()))

    async def nominate_many(
        self, ctx: Context, who: Principal, class_id: str, cadre_ids: list[str]
    ) -> list[Envelope]:
        """A unit's list of recommendations, all of it or none."""
        who.require_role("unit", "org_department")
        found = await self.reads.cadres(list(dict.fromkeys(cadre_ids)))
        today = await self.clock.today()
        cmds = []
        for cid in cadre_ids:
            cadre = found.get(cid)
            if cadre is None:
                raise NotFound(
                    f"干部 {cid} 不在名册中（或尚未同步）；整批推荐未生效。", code="cadre_not_found"
                )
            who.require_covers(cadre["jurisdiction"])
            cmds.append(_nomination(cadre, who, today))
        return await self._as_one(ctx, who, class_id, cmds)

    async def confirm_many(
        self, ctx: Context, who: Principal, class_id: str, cadre_ids: list[str]
    ) -> list[Envelope]:
        """组织确定 of a list, in its order: past the capacity the rest are waitlisted."""
        who.require_role("org_department")
        today = await self.clock.today()
        return await self._as_one(
            ctx, who, class_id, [ConfirmNomination(cid, today) for cid in dict.fromkeys(cadre_ids)]
        )

    async def _as_one(self, ctx: Context, who: Principal, class_id: str, cmds: list) -> list[Envelope]:
        """A clerk's list as one decision: all of it or, with the refusal that stopped it, none."""
        try:
            return await self.on_class(ctx, who, class_id, Several(tuple(cmds)))
        except (DomainError, NotFound) as exc:
            if exc.code != "class_not_found":
                exc.message = f"整批未生效（共 {len(cmds)} 人，均未处理）：{exc.message}"
            raise

    async def confirm(self, ctx: Context, who: Principal, class_id: str, cadre_id: str) -> list[Envelope]:
        who.require_role("org_department")
        return await self.on_class(ctx, who, class_id, ConfirmNomination(cadre_id, await self.clock.today()))

    async def reject(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, reason: str
    ) -> list[Envelope]:
        who.require_role("org_department")
        return await self.on_class(
            ctx, who, class_id, RejectNomination(cadre_id, reason, await self.clock.today())
        )

    async def waitlist(self, ctx: Context, who: Principal, class_id: str, cadre_id: str) -> list[Envelope]:
        who.require_role("org_department")
        return await self.on_class(ctx, who, class_id, WaitlistNomination(cadre_id, await self.clock.today()))

    async def withdraw(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, reason: str
    ) -> list[Envelope]:
        who.require_role("unit", "org_department")
        cmd = WithdrawNomination(cadre_id, await self.clock.today(), reason, acting_unit(who))
        return await self.on_class(ctx, who, class_id, cmd)

    async def assign_groups(self, ctx: Context, who: Principal, class_id: str) -> list[Envelope]:
        """分组: every confirmed, unplaced trainee, by the domain of their registry entry."""
        who.require_role("org_department", "party_school")
        doc = await self.reads.class_document(who, class_id)
        ids = [n["cadre_id"] for n in doc.get("nominations", []) if n["status"] == "confirmed"]
        return await self.on_class(ctx, who, class_id, AssignGroups(await self.reads.categories(ids)))

    async def assign_to_group(
        self, ctx: Context, who: Principal, class_id: str, cadre_id: str, group: str
    ) -> list[Envelope]:
        who.require_role("org_department", "party_school")
        return await self.on_class(ctx, who, class_id, AssignToGroup(cadre_id, group))

    # -- the registry -------------------------------------------------------------------
    async def on_cadre(
        self,
        ctx: Context,
        who: Principal,
        cmd: RecordCadre | UpdateCadre | EraseCadre,
        believed: Loaded | None = None,
    ) -> list[Envelope]:
        # Registering a number another county holds is refused as "elsewhere" (one entry per
        # person in the province); a cadre named by id is another county's or nobody's alike.
        authorize = _ours(who) if isinstance(cmd, RecordCadre) else _reached(who, cmd.cadre_id)
        return await self.commands.execute(
            CADRE, cadre_stream_id(cmd.cadre_id), cmd, ctx, authorize, believed=believed
        )

    async def register(self, ctx: Context, who: Principal, raw: dict[str, Any]) -> tuple[str, list[Envelope]]:
        """登记 a cadre from a form's fields, or bring the entry of that 身份证号 up to date."""
        who.require_role("org_department")
        record, errors = reg.validate(raw)
        if errors:
            raise DomainError("；".join(errors) + "。", code="invalid_cadre")
        cadre_id = self.cadre_id_for(record["id_number"])
        # A person the registry does not hold is decided as a new aggregate, without reading
        # the stream (one store round trip less); if the registry lagged, the append conflicts
        # and the kernel decides again on the stored stream.
        new = None if await self.reads.entries([cadre_id]) else Loaded(CADRE.initial(), 0, None)
        return cadre_id, await self.on_cadre(ctx, who, RecordCadre(cadre_id, record), new)

    async def lookup(self, who: Principal, id_numbers: list[str]) -> dict[str, Any]:
        """查找: the cadre ids of 身份证号 in the department's own registry. A number registered
        elsewhere (or nowhere) is "not found" alike: where a number is registered is itself
        personal data."""
        who.require_role("org_department")
        numbers = list(dict.fromkeys(reg.plain_id(n) for n in id_numbers))
        for n in numbers:
            problem = reg.id_problem(n)
            if problem:
                raise DomainError(
                    f"{problem}：{reg.mask_id(n)}。", code="invalid_id_number", field="id_numbers"
                )
        ids = {n: self.cadre_id_for(n) for n in numbers}
        held = await self.reads.entries(list(ids.values()))
        found = {
            n: cid
            for n, cid in ids.items()
            if cid in held and covers(who.jurisdiction, held[cid]["jurisdiction"])
        }
        return {"found": found, "missing": [n for n in numbers if n not in found]}

    async def update(
        self, ctx: Context, who: Principal, cadre_id: str, changes: dict[str, Any]
    ) -> list[Envelope]:
        who.require_role("org_department")
        return await self.on_cadre(ctx, who, UpdateCadre(cadre_id, changes))

    async def erase(self, ctx: Context, who: Principal, cadre_id: str, ground: str) -> list[Envelope]:
        """删除个人信息: the audited event first (it names the ground and who, never the
        person), then the cadre's key. If the key's deletion fails, the same request again
        finds the cadre erased and deletes the key again, so the erasure always completes."""
        who.require_role("org_department")
        if self.keys is None:
            raise RuntimeError("selection's handlers were composed without the key vault")
        envelopes = await self.on_cadre(ctx, who, EraseCadre(cadre_id, ground))
        await self.keys.erase(cadre_id)
        return envelopes

    async def follow_erasure(
        self, erased: Envelope, event: CadreErased, ours: Sequence[str]
    ) -> list[Envelope]:
        """Another deployment's erasure (from its own erasures topic; provenance is the
        caller's) reaches this deployment, serving the codes `ours`: if this deployment holds
        a key for the person (a province that nominated a county's cadre sealed the name
        under its own), it records its own audited erasure and deletes that key, so its
        projections blank the person and its own erasures topic carries it on. A person
        erased here already (redelivery, both sides erasing, this deployment's own erasure
        coming back) or unknown here: nothing.

        Believed from a jurisdiction above ours (it covers all we serve), or from one below
        ours for a person our registry places within it; another county's erasure of a
        person who is not theirs is refused (`erasure_not_theirs`)."""
        if self.keys is None:
            raise RuntimeError("selection's handlers were composed without the key vault")
        cadre_id, by = event.cadre_id, erased.jurisdiction
        if not isinstance((await self.keys.keys([cadre_id])).get(cadre_id, Gone), bytes):
            return []
        if not any(covers(by, code) for code in ours):
            entry = (await self.reads.entries([cadre_id])).get(cadre_id)
            if entry is None or not covers(by, entry["jurisdiction"]):
                raise Forbidden(
                    f"辖区 {by} 删除的干部 {cadre_id} 不在其辖区的名册中，本部署不据此删除。",
                    code="erasure_not_theirs",
                )
        home = next((code for code in ours if related(code, by)), ours[0])
        ctx = Context(
            actor=ERASURE_FOLLOWER,
            jurisdiction=home,
            correlation_id=erased.correlation_id,
            causation_id=erased.event_id,
        )
        cmd = FollowErasure(cadre_id, event.ground, by, followed_reason(by))
        envelopes = await self.commands.execute(CADRE, cadre_stream_id(cadre_id), cmd, ctx)
        await self.keys.erase(cadre_id)  # after the audited event, as `erase` does
        return envelopes

    async def transfer(
        self, ctx: Context, who: Principal, cadre_id: str, to_unit: str, reason: str = ""
    ) -> dict[str, Any]:
        """调动: the cadre moves to another unit. The registry entry follows (a CadreUpdated
        of the unit, so the lists, the unit clerks' scope and the trainee's account follow as
        for any edit); the training history is the person's and stays with them. A
        recommendation the old unit made that is still open (nominated or waitlisted) is
        withdrawn, freeing the old unit's place; the new unit may recommend within its own
        quota. A confirmed place is kept: the person is on the roster. What could not be
        withdrawn (a class already begun) is reported with the class's reason."""
        who.require_role("org_department")
        to_unit = (to_unit or "").strip()
        if not to_unit:
            raise DomainError("请填写调入单位。", code="invalid_cadre", field="unit")
        cadre = await self.reads.cadre(who, cadre_id)
        from_unit = cadre["unit"]
        if to_unit == from_unit:
            raise DomainError(f"{cadre['name']} 现已在 {to_unit}，无需调动。", code="same_unit", field="unit")
        await self.update(ctx, who, cadre_id, {"unit": to_unit})
        note = f"调动至{to_unit}" + (f"（{reason.strip()}）" if reason.strip() else "")
        withdrawn, kept = [], []
        for n in await self.reads.open_nominations(who.jurisdiction, cadre_id, from_unit):
            try:
                await self.withdraw(ctx, who, n["class_id"], cadre_id, note)
                withdrawn.append(n)
            except DomainError as refused:
                kept.append({**n, "reason": refused.message})
        return {
            "cadre_id": cadre_id,
            "name": cadre["name"],
            "from_unit": from_unit,
            "to_unit": to_unit,
            "withdrawn": withdrawn,
            "kept": kept,
        }

    async def import_file(
        self, ctx: Context, who: Principal, filename: str, content: bytes
    ) -> dict[str, Any]:
        """导入 the registry a department keeps (.xlsx, .xls or .csv): good rows in, each bad row
        reported; a re-import of unchanged rows changes nothing."""
        who.require_role("org_department")
        rows = await asyncio.to_thread(importing.read_rows, filename, content)  # decoding a workbook
        checked = importing.check(rows, self.cadre_id_for)
        del rows  # the file's rows as read: what is kept of each is in `checked`
        return await self.import_cadres(ctx, who, checked)

    async def import_cadres(self, ctx: Context, who: Principal, checked: importing.Checked) -> dict[str, Any]:
        """The checked rows registered or updated IMPORT_PART at a time, each part decided,
        appended and counted before the next: the whole file's commands and their envelopes at
        once held a 20,000-row import's selection process at 240 MB (bench.scale)."""
        tally = {"registered": 0, "updated": 0, "unchanged": 0}
        bad = list(checked.bad)
        rows = len(checked.good) + len(checked.bad)
        # Each part's rows let go once decided (`Checked.take_parts`): the rows not yet decided
        # are all the import holds of the file, and what the last parts allocate (their
        # envelopes, sealed documents, the projector's batches) reuses the memory of the first.
        for part in checked.take_parts(IMPORT_PART):
            await self._import_part(ctx, who, part, tally, bad)
        bad.sort(key=lambda b: b["row"])
        return {
            "rows": rows,
            **tally,
            "rejected": len(bad),
            "errors": bad,
        }

    async def _import_part(
        self, ctx: Context, who: Principal, good: list, tally: dict[str, int], bad: list[dict[str, Any]]
    ) -> None:
        held = await self.reads.entries([cid for _, cid, _ in good])
        new, changed = [], []
        for row, cid, record in good:
            entry = held.get(cid)
            if entry is None:
                new.append((row, cid, record))
            elif not covers(who.jurisdiction, entry["jurisdiction"]):
                bad.append(_bad_row(row, record, ELSEWHERE))
            elif reg.differs(entry, record):
                changed.append((row, cid, record))
            else:
                tally["unchanged"] += 1
        known = await self.reads.cadre_states([cid for _, cid, _ in changed])
        # A changed cadre without a known state (its document gone since the index saw it)
        # is planned as new: its append conflicts and the kernel decides on the stream.
        planned = [Planned(cadre_stream_id(cid), RecordCadre(cid, record)) for _, cid, record in new]
        planned += [
            Planned(cadre_stream_id(cid), RecordCadre(cid, record), known.get(cid))
            for _, cid, record in changed
        ]
        results = await self.commands.append_many(CADRE, planned, ctx, within(who))
        for i, ((row, _, record), result) in enumerate(zip([*new, *changed], results)):
            if isinstance(result, Exception):
                bad.append(_bad_row(row, record, result.message))
            elif not result:
                tally["unchanged"] += 1
            elif i < len(new):
                tally["registered"] += 1
            else:
                tally["updated"] += 1


def _bad_row(row: int, record: dict[str, Any], error: str) -> dict[str, Any]:
    return {
        "row": row,
        "name": record["name"],
        "id_number": reg.mask_id(record["id_number"]),
        "errors": [error],
    }
