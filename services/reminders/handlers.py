"""The reminders service's commands: a person's contact details and read marks, and the
sender's sweep that reminds each holder of each open item once per channel."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.reminders.channels import Channel, ReminderSettings, message_id
from services.reminders.domain import (
    KIND_NAMES,
    MAILED_KINDS,
    InboxDecider,
    MarkRead,
    RecordDigest,
    RecordFailed,
    RecordSent,
    SetContact,
    channel_key,
    compose,
    compose_digest,
    describe,
    digest_key,
    digest_time,
    due,
    expired,
    inbox_stream,
    keys_of,
    should_send,
)
from services.reminders.reads import Reads, read_key
from shared.auth import Principal
from shared.clock import CHINA
from shared.commands import Context
from shared.errors import NotFound
from shared.events import Actor
from shared.ids import new_id
from shared.ports import Clock, Commands

log = structlog.get_logger("reminders")
INBOX = InboxDecider()
SENDER = Actor(user_id="reminders-sender", name="提醒发送程序", role="admin")


@dataclass(frozen=True)
class Sweep:
    sent: int
    failed: int


# How long a due reminder waits for its class's title (`Handlers._named`).
UNNAMED_WAIT = timedelta(minutes=10)
# What `Handlers._named` remembers of classes still without a title: a class not asked
# about for UNNAMED_FORGET (its work no longer due, or the title never coming) is
# forgotten, and at most UNNAMED_MAX classes are kept (the least recently asked go first).
# A class forgotten while its work is still due waits UNNAMED_WAIT again, nothing worse.
UNNAMED_FORGET = timedelta(days=1)
UNNAMED_MAX = 10_000


class Handlers:
    def __init__(
        self,
        commands: Commands,
        reads: Reads,
        clock: Clock,
        settings: ReminderSettings,
        channels: list[Channel],
    ) -> None:
        self.commands, self.reads, self.clock = commands, reads, clock
        self.settings = settings
        self.channels = channels
        # Classes whose work is due but whose title has not reached this service yet: since
        # when, and when last asked about, least recently asked first (see `_named`).
        self._unnamed: OrderedDict[str, tuple[datetime, datetime]] = OrderedDict()

    def _named(self, class_id: str, facts: dict, now: datetime) -> bool:
        """Whether a reminder about this class may go out now. It names the class by its
        title, which comes by another topic than the work does (selection's or teaching's,
        the work by follow-up's): while the title has not arrived the reminder waits, at
        most UNNAMED_WAIT, and then goes out naming the class by its number rather than
        not at all."""
        if facts.get("title"):
            self._unnamed.pop(class_id, None)
            return True
        since, _ = self._unnamed.pop(class_id, (now, now))
        self._unnamed[class_id] = (since, now)
        while self._unnamed and (
            len(self._unnamed) > UNNAMED_MAX or now - next(iter(self._unnamed.values()))[1] > UNNAMED_FORGET
        ):
            self._unnamed.popitem(last=False)
        return now - since >= UNNAMED_WAIT

    def _wall(self, now: datetime) -> datetime:
        """Beijing wall time without a zone, as sessions' times are kept."""
        return now.astimezone(CHINA).replace(tzinfo=None)

    def _grace(self) -> timedelta:
        return timedelta(minutes=self.settings.roll_call_grace_minutes)

    # -- a person's own ---------------------------------------------------------------
    async def set_contact(
        self, who: Principal, ctx: Context, email: str | None, phone: str | None, digest: bool = False
    ) -> dict:
        await self.commands.execute(
            INBOX,
            inbox_stream(who.user_id),
            SetContact(
                user_id=who.user_id,
                name=who.name,
                role=who.role,
                jurisdiction=who.jurisdiction,
                unit=who.unit,
                email=email,
                phone=phone,
                digest=digest,
            ),
            ctx,
        )
        return await self.contact(who)

    async def contact(self, who: Principal) -> dict:
        """From the person's own stream, not the read model: what they set a moment ago."""
        state = (await self.commands.load(INBOX, inbox_stream(who.user_id))).state
        return {
            "user_id": who.user_id,
            "email": state.email,
            "phone": state.phone,
            "digest": state.digest,
            "digest_hour": self.settings.digest_hour,
            "reminded_as": keys_of(who.role, who.jurisdiction, who.unit, who.user_id),
        }

    async def notifications(self, who: Principal, page: int, size: int, only_open: bool) -> dict:
        keys = keys_of(who.role, who.jurisdiction, who.unit, who.user_id)
        person = await self.reads.person(who.user_id) or {}
        read, sent = person.get("read", {}), list(person.get("sent", {}).values())
        classes: dict[str, dict] = {}
        today = await self.clock.today()
        wall = self._wall(await self.clock.now())
        out = []
        for item, doc in await self.reads.items_for(keys, only_open):
            if item["status"] == "open" and not due(item, wall, self._grace()):
                continue  # a session's roll call before it is due (domain.due)
            if expired(item, today) and item["status"] == "open":
                if only_open:
                    continue
                item = {**item, "status": "expired"}
            if doc["class_id"] not in classes:
                classes[doc["class_id"]] = await self.reads.class_facts(doc["class_id"])
            title, text = describe(item, doc, classes[doc["class_id"]])
            out.append(
                {
                    "id": item["item_id"],
                    "kind": item["kind"],
                    "kind_name": KIND_NAMES[item["kind"]],
                    "title": title,
                    "text": text,
                    "status": item["status"],
                    "opened_at": item["opened_at"],
                    "closed_at": item["closed_at"],
                    "read": read_key(item["item_id"]) in read,
                    "trainee": {
                        "cadre_id": doc.get("cadre_id"),
                        "name": doc.get("name"),
                        "unit": doc.get("unit"),
                    },
                    "class_id": doc["class_id"],
                    "class_title": classes[doc["class_id"]].get("title") or "",
                    "month": item.get("month"),
                    "reminders": [
                        {"channel": s["channel"], "to": s["to"], "sent_at": s["sent_at"]}
                        for s in sent
                        if s["item_id"] == item["item_id"]
                    ],
                }
            )
        # Open work first, the newest first within each.
        out.sort(key=lambda n: n["opened_at"], reverse=True)
        out.sort(key=lambda n: n["status"] != "open")
        unread = sum(1 for n in out if n["status"] == "open" and not n["read"])
        start = (page - 1) * size
        return {
            "items": out[start : start + size],
            "total": len(out),
            "unread": unread,
            "page": page,
            "size": size,
        }

    async def mark_read(self, who: Principal, ctx: Context, item_id: str) -> dict:
        keys = keys_of(who.role, who.jurisdiction, who.unit, who.user_id)
        if await self.reads.item_for(keys, item_id) is None:
            raise NotFound(
                f"您的通知中没有“{item_id}”这一条（可能尚未送达，或不属于您）。",
                code="notification_not_found",
            )
        await self.commands.execute(
            INBOX,
            inbox_stream(who.user_id),
            MarkRead(user_id=who.user_id, item_id=item_id, at=await self.clock.now()),
            ctx,
        )
        return {"id": item_id, "read": True}

    # -- the sender ---------------------------------------------------------------------
    async def send_due(self) -> Sweep:
        """One sweep: every open item that goes out by mail and is due, to each holder of
        its audience, through each channel they have an address for, unless already sent
        (their inbox stream decides; the `people` document is only a cheap first filter).
        Who chose a daily digest gets their items in one message in the digest hour."""
        now = await self.clock.now()
        wall = self._wall(now)
        sent = failed = 0
        holders: dict[str, list[dict]] = {}
        classes: dict[str, dict] = {}
        digests: dict[str, tuple[dict, list[tuple[dict, dict, dict]]]] = {}
        for doc in await self.reads.open_work():
            for item in doc["items"].values():
                if (
                    item["status"] != "open"
                    or item["kind"] not in MAILED_KINDS
                    or expired(item, wall.date())
                    or not due(item, wall, self._grace())
                ):
                    continue
                if item["audience"] not in holders:
                    holders[item["audience"]] = await self._reachable(item["audience"])
                if doc["class_id"] not in classes:
                    classes[doc["class_id"]] = await self.reads.class_facts(doc["class_id"])
                if not self._named(doc["class_id"], classes[doc["class_id"]], now):
                    continue
                for person in holders[item["audience"]]:
                    if person.get("digest"):
                        entry = (item, doc, classes[doc["class_id"]])
                        digests.setdefault(person["user_id"], (person, []))[1].append(entry)
                        continue
                    for channel in self.channels:
                        outcome = await self._remind(
                            person, channel, item, doc, classes[doc["class_id"]], now
                        )
                        sent += outcome == "sent"
                        failed += outcome == "failed"
        if digest_time(wall, self.settings.digest_hour):
            for person, entries in digests.values():
                for channel in self.channels:
                    outcome = await self._digest(person, channel, entries, now)
                    sent += outcome == "sent"
                    failed += outcome == "failed"
        await self.reads.record_sweep(now, sent, failed)
        return Sweep(sent, failed)

    async def _digest(self, person: dict, channel: Channel, entries: list, now) -> str | None:
        """Today's digest through `channel`: the items not yet reminded through it, once a
        day (the inbox stream decides). A failed digest is logged and tried at the next
        sweep within the hour; its items stay unsent, so the next digest lists them."""
        to = channel.address(person)
        if not to:
            return None
        day = self._wall(now).date()
        stream = inbox_stream(person["user_id"])
        state = (await self.commands.load(INBOX, stream)).state
        if digest_key(day, channel.name) in state.digests:
            return None
        todo = [e for e in entries if channel_key(e[0]["item_id"], channel.name) not in state.sent]
        if not todo:
            return None
        message = compose_digest(day, todo, self.settings.workbench_url)
        try:
            await channel.send(to, message, message_id(person["user_id"], f"digest:{day}", channel.name))
        except Exception as exc:  # noqa: BLE001 - any failure of the far side: tried again next sweep
            log.warning("digest.failed", user=person["user_id"], channel=channel.name, error=str(exc))
            return "failed"
        ctx = Context(actor=SENDER, jurisdiction=person["jurisdiction"], correlation_id=new_id())
        record = RecordDigest(
            user_id=person["user_id"],
            channel=channel.name,
            day=day,
            item_ids=tuple(e[0]["item_id"] for e in todo),
            to=to,
            subject=message.subject,
            at=now,
        )
        await self.commands.execute(INBOX, stream, record, ctx)
        log.info("digest.sent", user=person["user_id"], channel=channel.name, items=len(todo))
        return "sent"

    async def _reachable(self, audience: str) -> list[dict]:
        """The holders of an audience, less those whose login account is disabled."""
        return [
            p
            for p in await self.reads.holders(audience)
            if not (p.get("username") and await self.reads.disabled(p["username"]))
        ]

    async def _remind(
        self, person: dict, channel: Channel, item: dict, doc: dict, facts: dict, now
    ) -> str | None:
        to = channel.address(person)
        key = channel_key(item["item_id"], channel.name)
        if not to or read_key(key) in person.get("sent", {}):
            return None
        stream = inbox_stream(person["user_id"])
        if not should_send(
            (await self.commands.load(INBOX, stream)).state, item["item_id"], channel.name, now
        ):
            return None
        message = compose(item, doc, facts, self.settings.workbench_url)
        ctx = Context(actor=SENDER, jurisdiction=person["jurisdiction"], correlation_id=new_id())
        try:
            await channel.send(to, message, message_id(person["user_id"], item["item_id"], channel.name))
        except Exception as exc:  # noqa: BLE001 - any failure of the far side is recorded and retried
            log.warning("reminder.failed", item=item["item_id"], channel=channel.name, error=str(exc))
            await self.commands.execute(
                INBOX,
                stream,
                RecordFailed(
                    user_id=person["user_id"],
                    item_id=item["item_id"],
                    channel=channel.name,
                    to=to,
                    error=f"{type(exc).__name__}: {exc}",
                    at=now,
                    max_attempts=self.settings.max_attempts,
                    backoff=timedelta(seconds=self.settings.backoff_seconds),
                ),
                ctx,
            )
            return "failed"
        await self.commands.execute(
            INBOX,
            stream,
            RecordSent(
                user_id=person["user_id"],
                item_id=item["item_id"],
                channel=channel.name,
                to=to,
                subject=message.subject,
                at=now,
            ),
            ctx,
        )
        log.info("reminder.sent", item=item["item_id"], channel=channel.name)  # no address: personal
        return "sent"

    async def status(self) -> dict:
        return {**await self.reads.sender(), "channels": [c.name for c in self.channels]}

    async def milestone_reminders(self, who: Principal, class_id: str | None = None) -> dict:
        """What was sent (and what failed) for follow-up's milestones of the caller's
        jurisdiction: for the organisation department's desk. Each row names the milestone
        (class, trainee, month), the item, to whom (person and address), the channel and when."""
        who.require_role("org_department", "admin")
        items = {
            item["item_id"]: (item, doc)
            for item, doc in await self.reads.milestone_items(who.jurisdiction, class_id)
        }
        rows = []
        for person in await self.reads.deliveries():
            for outcome, records in (("sent", person.get("sent", {})), ("failed", person.get("failed", {}))):
                for r in records.values():
                    if r["item_id"] not in items:
                        continue
                    item, doc = items[r["item_id"]]
                    rows.append(
                        {
                            "milestone_id": item["milestone_id"],
                            "class_id": doc["class_id"],
                            "cadre_id": doc.get("cadre_id"),
                            "trainee": doc.get("name"),
                            "month": item.get("month"),
                            "kind": item["kind"],
                            "kind_name": KIND_NAMES[item["kind"]],
                            "person": person.get("name") or person.get("user_id"),
                            "person_unit": person.get("unit"),
                            "channel": r["channel"],
                            "to": r["to"],
                            "outcome": outcome,
                            "at": r.get("sent_at") or r.get("failed_at"),
                            "error": r.get("error"),
                            "gave_up": r.get("gave_up", False),
                            "retry_at": r.get("retry_at"),
                        }
                    )
        rows.sort(key=lambda r: (r["class_id"], r["trainee"] or "", r["month"] or 0, r["at"] or ""))
        return {"jurisdiction": who.jurisdiction, "items": rows, "total": len(rows)}
