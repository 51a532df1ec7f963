"""The accounts service's reads: its two collections (projections.py folds them).

* `accounts`        — one document per account, by username: the lists an administrator reads.
* `accounts_cadres` — one document per registry cadre, by cadre id: what a trainee account needs.

Point reads are by `_id`. The list is a prefix match on the jurisdiction code, sorted by
username and bounded: on FerretDB anything but `_id` equality scans the collection
(shared/store.py), which at a county's few thousand accounts is milliseconds.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared import jurisdiction as jur
from shared.projection import public

ACCOUNTS = "accounts"
CADRES = "accounts_cadres"
LIST_LIMIT = 5000


class Reads:
    def __init__(self, db: AsyncDatabase | Any) -> None:
        self.db = db

    async def account(self, username: str) -> dict | None:
        doc = await self.db[ACCOUNTS].find_one({"_id": username})
        return None if doc is None else public(doc)

    async def cadre(self, cadre_id: str) -> dict | None:
        return await self.db[CADRES].find_one({"_id": cadre_id})

    async def accounts(self, code: str, unit: str | None = None, role: str | None = None) -> list[dict]:
        """The accounts of a jurisdiction and the divisions below it, of one unit or role if given."""
        query: dict = {"jurisdiction": {"$regex": f"^{jur.prefix(code)}"}}
        if unit:
            query["unit"] = unit
        if role:
            query["role"] = role
        docs = await self.db[ACCOUNTS].find(query).sort("_id", 1).to_list(length=LIST_LIMIT)
        return [public(d) for d in docs]
