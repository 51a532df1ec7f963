"""A projection skips, by the relay's type header, the events it does not handle before it
opens or decodes them (a province dashboard's first start: its cadre buckets count 4 of the
types on its counties' topics). No server: the dashboard's real projection over shared.memory."""

import asyncio
import json
from datetime import date

from aiokafka.structs import ConsumerRecord

import shared.contracts  # noqa: F401 - registers the catalogue
from services.dashboard import projections
from shared.commands import CommandHandler, Context
from shared.contracts import selection as sel
from shared.events import Actor
from shared.memory import MemoryDatabase
from shared.outbox import headers_of
from shared.projector import ProjectionWriter

COUNTY = "710101"
TOPIC = f"ganxun.selection.{COUNTY}"
CTX = Context(Actor(user_id="clerk", name="县委组织部", role="org_department"), COUNTY, "t")


class DeadLetters:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def send(self, record, reason: str) -> None:
        self.reasons.append(reason)


def record(offset: int, value: bytes, event_type: str) -> ConsumerRecord:
    headers = [("event_type", event_type.encode()), ("jurisdiction", COUNTY.encode())]
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, b"k", value, None, 1, len(value), headers)


def registered(cadre_id: str) -> ConsumerRecord:
    ev = sel.CadreRegistered(
        cadre_id=cadre_id,
        name="张三",
        gender="男",
        birth_date=date(1980, 1, 1),
        id_number="x",
        unit="县财政局",
        rank="科员",
    )
    env = CommandHandler.envelopes(f"cadre-{cadre_id}", 0, [ev], CTX)[0]
    doc = env.to_doc()
    return ConsumerRecord(
        TOPIC, 0, 0, 0, 0, b"k", env.to_json(), None, 1, 1, [(k, v) for k, v in headers_of(doc)]
    )


def test_a_type_the_projection_does_not_handle_is_neither_decoded_nor_dead_lettered():
    dead = DeadLetters()
    writer = ProjectionWriter(projections.cadres, MemoryDatabase(), dead)  # type: ignore[arg-type]
    garbage = b"{not json"
    result = asyncio.run(
        writer.handle(
            [
                registered("c1"),
                record(1, garbage, "TraineeNominated"),  # selection's, counted only by dash_classes
                record(2, garbage, "CadreRegistered"),  # one it counts: decoded, so dead-lettered
            ]
        )
    )
    assert result.applied == 1
    assert result.dead_lettered == 1 and len(dead.reasons) == 1
    assert "invalid envelope" in dead.reasons[0]


def test_a_type_the_catalogue_does_not_know_is_still_decoded_and_counted_as_unknown():
    writer = ProjectionWriter(projections.cadres, MemoryDatabase(), DeadLetters())  # type: ignore[arg-type]
    doc = json.loads(registered("c1").value)
    doc["type"] = "SomethingNew"
    result = asyncio.run(writer.handle([record(1, json.dumps(doc).encode(), "SomethingNew")]))
    assert (result.applied, result.skipped_unknown, result.dead_lettered) == (0, 1, 0)
