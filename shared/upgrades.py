"""Upgrade steps a deployment runs once, at the start of the component they belong to, and
remembers in its store (the `upgrades` collection), so a later start skips them.

Each step is idempotent and safe to interrupt: it is remembered only after it has completed,
so a step stopped half-way is run again whole at the next start.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from shared.eventstore import COLLECTION as COMMITS
from shared.outbox import headers_of
from shared.projector import ERASURE

log = structlog.get_logger("upgrades")
UPGRADES = "upgrades"
ERASURES_COPIED = "erasures_copied"


async def copy_earlier_erasures(
    db: AsyncDatabase,
    producer: AIOKafkaProducer,
    copies_to: Callable[[dict], tuple[str, ...]],
    ensure_topics: Callable[[list[str]], Awaitable[None]],
) -> int | None:
    """Put every `CadreErased` of this event store on the topics the relay copies an erasure
    to (`ganxun.erasures.<code>`, shared/topics.py); returns how many, or None when this
    deployment did it before.

    Erasures made before the erasures topic existed went out on selection's topics only, and a
    projection that does not follow selection now hears erasures on the erasures topic alone:
    without the copies it would keep a person erased while it was stopped for the upgrade.
    Copying every erasure, even those the relay already copied, is harmless: a projection
    blanks what a person's values are noted on and removes the note, so a second copy finds
    nothing to do (shared/projector.py, `scrub`). Run before the relay's loop, never in it:
    one scan of the event store (no index serves it; once per deployment), and a point read of
    the marker at every later start.
    """
    done = db[UPGRADES]
    if await done.find_one({"_id": ERASURES_COPIED}) is not None:
        return None
    erasures = [
        event
        async for commit in db[COMMITS].find({"events.type": ERASURE}, {"events": 1})
        for event in commit["events"]
        if event["type"] == ERASURE
    ]
    wanted = sorted({t for e in erasures for t in copies_to(e)})
    if wanted:
        await ensure_topics(wanted)
    pending = [
        await producer.send(
            topic,
            # As the relay sends it (shared/outbox.py): the stored event, unchanged.
            value=json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(),
            key=event["stream_id"].encode(),
            headers=headers_of(event),
        )
        for event in erasures
        for topic in copies_to(event)
    ]
    await asyncio.gather(*pending)
    # Remembered only once Kafka acknowledged every copy; an upsert, as two processes of the
    # service may start together (both copy; the copies are harmless, see above).
    await done.update_one(
        {"_id": ERASURES_COPIED},
        {"$setOnInsert": {"copied": len(pending), "at": datetime.now(UTC)}},
        upsert=True,
    )
    log.info("upgrades.erasures_copied", erasures=len(erasures), copies=len(pending))
    return len(pending)
