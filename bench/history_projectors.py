"""Where a history build's time goes: each projection rebuilt alone, against the limit.

Called by bench/history.py (`--projectors`) once the real services have relayed and projected
the world: for every projection of every service, its partitions are read again (a)
fetch and decode only, the limit, and (b) folded by the kernel's own writer
(shared/projector.py `rebuild`, the service's Runtime writer with its vault) into a scratch
database, in batches of the live projector's size (shared/settings.py `projector_batch`)
unless told otherwise. Each (b) is split into the writer's steps: opening sealed values
(the vault), loading documents, folding, and the store's bulk writes, with the documents
written. A service's live projector hands each batch to all its projections at once and
waits for the slowest, so the slowest projection of a service bounds its build.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from importlib import import_module

from shared import kafka
from shared.entrypoint import settings_for
from shared.events import CATALOGUE
from shared.projector import _fill, rebuild
from shared.runtime import Runtime


@dataclass
class Steps:
    """Seconds in each step of a writer's batches, and what it wrote."""

    handle: float = 0.0
    open: float = 0.0
    load: float = 0.0
    write: float = 0.0
    bulk: float = 0.0
    docs: int = 0
    batches: int = 0
    extra: dict = field(default_factory=dict)


def instrument(writer, steps: Steps) -> None:
    """Wrap the writer's steps (instance attributes shadow the methods) with timers."""

    def timer(name: str, fn, count=None):
        async def wrapped(*a, **kw):
            t0 = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                setattr(steps, name, getattr(steps, name) + time.perf_counter() - t0)
                if count:
                    count(*a)

        return wrapped

    def counted(ops, *_):
        steps.docs += len(ops)
        steps.batches += 1

    writer.handle = timer("handle", writer.handle)
    writer._open = timer("open", writer._open)
    writer._load = timer("load", writer._load)
    writer._write = timer("write", writer._write)
    writer._bulk = timer("bulk", writer._bulk, counted)


async def limit(bus: kafka.Connection, tps: list, batch: int) -> tuple[int, float]:
    """(events, seconds) to fetch and decode every record of `tps` from the beginning."""
    consumer = kafka.consumer(bus, None)
    await consumer.start()
    try:
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        t0 = time.perf_counter()
        n = 0
        while remaining:
            records = await _fill(consumer, remaining, end, batch)
            for r in records:
                CATALOGUE.decode(r.value) if b'"sealed"' not in r.value else CATALOGUE.envelope(r.value)
            n += len(records)
        return n, time.perf_counter() - t0
    finally:
        await consumer.stop()


async def measure(env: dict[str, str], services: tuple[str, ...], batch: int | None) -> list[tuple]:
    """Per projection: (service, name, events, limit s, rebuild s, Steps, documents)."""
    out = []
    saved = dict(os.environ)
    try:
        for service in services:
            defn = import_module(f"services.{service}.service").DEFINITION
            if not defn.projections:
                continue
            os.environ.update({**env, "GANXUN_DATABASE": f"{env['GANXUN_DATABASE']}_{service}_rebuild"})
            rt = Runtime(defn, settings_for(service))
            size = batch or rt.settings.projector_batch
            await rt.producer.start()
            try:
                for p in defn.projections:
                    tps = await kafka.partitions(rt.settings.bus, rt.pattern_for(p))
                    events, lim = await limit(rt.settings.bus, tps, size)
                    writer = rt.writer(p)
                    steps = Steps()
                    instrument(writer, steps)
                    consumer = kafka.consumer(rt.settings.bus, None)
                    await consumer.start()
                    t0 = time.perf_counter()
                    try:
                        await rebuild(writer, consumer, tps, batch_size=size)
                    finally:
                        await consumer.stop()
                    took = time.perf_counter() - t0
                    docs = await rt.db[p.collection].count_documents({})
                    out.append((service, p.name, events, lim, took, steps, docs))
                    print_row(out[-1])
            finally:
                await rt.producer.stop()
                await rt.mongo.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def print_header(batch: int | None) -> None:
    size = batch or "projector_batch"
    print(f"\n每个投影单独重建（每批 {size} 个事件）：事件/秒，与读取解码上限之比，各步骤用时")
    print(
        f"{'服务':<10}{'投影':<24}{'事件':>9}{'上限/s':>9}{'重建/s':>9}{'比值':>6}"
        f"{'解密s':>7}{'读文档s':>8}{'折叠s':>7}{'写入s':>7}{'写文档':>8}{'文档数':>8}"
    )


def print_row(row: tuple) -> None:
    service, name, events, lim, took, s, docs = row
    fold = max(0.0, s.write - s.load - s.bulk)
    print(
        f"{service:<10}{name:<24}{events:>9,}"
        f"{events / max(lim, 1e-9):>9,.0f}{events / max(took, 1e-9):>9,.0f}"
        f"{lim / max(took, 1e-9):>6.2f}{s.open:>7.1f}{s.load:>8.1f}{fold:>7.1f}{s.bulk:>7.1f}"
        f"{s.docs:>8,}{docs:>8,}",
        flush=True,
    )
