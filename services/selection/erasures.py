"""Erasures made by other deployments that may hold our people (issue 14; PIPL Art. 47 asks
that the person be erased, not one deployment's copy).

A province that nominates a county's cadre to its own class seals the name under its own
key (docs/personal-data.md, "Other deployments"), so the county's erasure alone leaves it
readable there. This worker follows the erasures topics of the deployments whose people
this one can hold (`topics.followed_erasures`: a province or city its descendants', a
county its ancestors') and hands each erasure to `Handlers.follow_erasure`, which records
this deployment's own erasure and deletes its key. A module of its own because it is
selection's one consumer of Kafka outside the projections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import StrEnum

import structlog
from aiokafka.structs import ConsumerRecord

from services.selection.handlers import Handlers
from shared import kafka, topics
from shared.errors import GanxunError
from shared.events import CATALOGUE, MalformedEvent
from shared.projector import ERASURE, DeadLetters, provenance_error
from shared.runtime import Runtime

log = structlog.get_logger("selection.erasures")
NAME = "erasures-followed"
BATCH = 100


class Outcome(StrEnum):
    ERASED = "erased"  # this deployment recorded its own erasure and deleted its key
    NOTHING = "nothing"  # not held here, or erased here already
    SKIPPED = "skipped"  # not an erasure
    DEAD_LETTERED = "dead_lettered"


async def follow(handlers: Handlers, rec: ConsumerRecord, ours: Sequence[str], dead: DeadLetters) -> Outcome:
    """One record of a followed erasures topic. Only an erasure that arrived on the topic of
    the jurisdiction that made it counts: another is dead-lettered, as a projection does with
    any event (shared/projector.provenance_error), and so is one the handler refuses. The
    log names ids and codes only."""
    if not any(k == "event_type" and v == ERASURE.encode() for k, v in rec.headers or ()):
        return Outcome.SKIPPED
    try:
        decoded = CATALOGUE.decode(rec.value)
    except MalformedEvent as exc:
        await dead.send(rec, f"{NAME}: {exc}")
        return Outcome.DEAD_LETTERED
    if decoded is None or decoded.envelope.type != ERASURE:
        return Outcome.SKIPPED
    refused = provenance_error(rec.topic, decoded.envelope)
    if refused is None:
        try:
            recorded = await handlers.follow_erasure(decoded.envelope, decoded.event, ours)
        except GanxunError as exc:
            refused = f"{exc.code}: {exc}"
    if refused is not None:
        await dead.send(rec, f"{NAME}: {refused}")
        return Outcome.DEAD_LETTERED
    if not recorded:
        return Outcome.NOTHING
    log.info(
        "selection.erasure_followed",
        cadre_id=decoded.event.cadre_id,
        erased_by=decoded.envelope.jurisdiction,
        source_event=decoded.envelope.event_id,
        event_id=recorded[0].event_id,
    )
    return Outcome.ERASED


async def follow_erasures(rt: Runtime, stop: asyncio.Event) -> None:
    """The worker: a consumer group of its own (`ganxun.selection.<deployment>.erasures-followed`,
    within the deployment's group prefix), offsets committed after each batch is handled, so
    a restart redelivers at most one batch (harmless: the handler is idempotent)."""
    codes = list(rt.settings.jurisdictions)
    pattern = topics.followed_erasures(codes)
    if pattern is None:
        await stop.wait()
        return
    group = f"{topics.PREFIX}.selection.{rt.settings.deployment}.{NAME}"
    dead = DeadLetters(rt.producer, rt.dead_letter_topic, group)
    consumer = kafka.consumer(rt.settings.bus, group)
    await consumer.start()
    consumer.subscribe(pattern=pattern.pattern)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            for recs in batches.values():
                for rec in recs:
                    await follow(rt.handlers, rec, codes, dead)
            if batches:
                await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
    finally:
        await consumer.stop()
