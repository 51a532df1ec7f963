"""The reminders service's collections and how they are read: the only module besides
projections.py (and the kernel's projector) that touches them.

FerretDB uses an index only for `_id` equality (shared/store.py), so every other
filter here is a scan: of `work` and `unit_quotas` for documents with open items (one per trainee in a
class: a deployment's graduates and nominees of the last years), of `people` for the
holders of an audience key (a deployment's contacts). Both are small enough to scan
once per sweep; a read of one person or one class title is a point read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import jurisdiction as jur
from shared.projection import guard_key, public

WORK = "work"
QUOTAS = "unit_quotas"  # shaped as WORK's documents (projections.py)
ROLL_CALLS = "roll_calls"  # shaped alike
ITEMS = (WORK, QUOTAS, ROLL_CALLS)  # the collections that hold items of due work
CLASSES = "classes"
PEOPLE = "people"
LOGINS = "logins"
SENDER = "sender"  # the sender's own bookkeeping: sweeps done, last sweep, totals
_SENDER_DOC = "sender"


class Reads:
    def __init__(self, db: Any) -> None:
        self.db = db

    async def open_work(self) -> list[dict]:
        """Every trainee's document with open items (the sender's to-do list)."""
        return [public(d) for c in ITEMS async for d in self.db[c].find({"open_count": {"$gt": 0}})]

    async def holders(self, audience: str) -> list[dict]:
        """The people whose audience key is `audience` (those a mail about it goes to)."""
        return [public(d) async for d in self.db[PEOPLE].find({"keys": audience})]

    async def disabled(self, username: str) -> bool:
        doc = await self.db[LOGINS].find_one({"_id": username})
        return bool(doc and doc.get("disabled"))

    async def person(self, user_id: str) -> dict | None:
        doc = await self.db[PEOPLE].find_one({"_id": user_id})
        return None if doc is None else public(doc)

    async def class_facts(self, class_id: str) -> dict:
        """The class's title and sessions (empty when nothing is known of it yet)."""
        doc = await self.db[CLASSES].find_one({"_id": class_id})
        return public(doc) if doc else {}

    async def items_for(self, keys: list[str], only_open: bool = False) -> list[tuple[dict, dict]]:
        """The items any of `keys` sees, each with its trainee's document."""
        if not keys:
            return []
        field = "open_audiences" if only_open else "audiences"
        out = []
        for collection in ITEMS:
            async for doc in self.db[collection].find({field: {"$in": keys}}):
                doc = public(doc)
                for item in doc.get("items", {}).values():
                    if set(item["visible_to"]) & set(keys) and (item["status"] == "open" or not only_open):
                        out.append((item, doc))
        return out

    async def item_for(self, keys: list[str], item_id: str) -> tuple[dict, dict] | None:
        for item, doc in await self.items_for(keys):
            if item["item_id"] == item_id:
                return item, doc
        return None

    async def milestone_items(
        self, jurisdiction: str, class_id: str | None = None
    ) -> list[tuple[dict, dict]]:
        """Follow-up's items (evaluations, overdue) of trainees whose home county `jurisdiction`
        covers, each with its trainee's document: a scan of `work` (see the module's note)."""
        query = {"class_id": class_id} if class_id else {}
        out = []
        async for doc in self.db[WORK].find(query):
            doc = public(doc)
            if not jur.covers(jurisdiction, doc.get("jurisdiction", "")):
                continue
            out.extend((item, doc) for item in doc.get("items", {}).values() if "milestone_id" in item)
        return out

    async def deliveries(self) -> list[dict]:
        """Every person's reminders sent and failed (a scan of `people`: a deployment's contacts)."""
        return [public(d) async for d in self.db[PEOPLE].find({})]

    async def record_sweep(self, at: datetime, sent: int, failed: int) -> None:
        await self.db[SENDER].update_one(
            {"_id": _SENDER_DOC},
            {
                "$inc": {"sweeps": 1, "sent": sent, "failed": failed},
                "$set": {"last_sweep_at": at.isoformat()},
            },
            upsert=True,
        )

    async def sender(self) -> dict:
        doc = await self.db[SENDER].find_one({"_id": _SENDER_DOC}) or {}
        return {
            "sweeps": doc.get("sweeps", 0),
            "sent": doc.get("sent", 0),
            "failed": doc.get("failed", 0),
            "last_sweep_at": doc.get("last_sweep_at"),
        }


def read_key(item_id: str) -> str:
    """The key a person's `read` and `sent` maps use for an item (projections.py)."""
    return guard_key(item_id)
