"""A province dashboard's first start whose store connections are cut again and again still ends
with every figure equal to what was sent (issue 16).

A write the store never answered (a lost connection, a socket timeout under load) makes the
projector restart from its stored positions. Its writer had folded the batch into the documents
it caches, guard entries included, so the replay skipped those events as already applied and
wrote nothing: on main (65f5d0f), under the same cuts, a first start of two counties of 5,000
cadres ended with every position at its end and 40 registrations never folded. The fix and its
unit test: shared/projector.py (`ProjectionWriter._forget`), tests/unit/test_projector_failed_write.py.

Real Kafka, FerretDB and dashboard process; between the dashboard and the store a TCP proxy in
this test that drops every open connection each CUT_EVERY seconds while the dashboard catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from types import SimpleNamespace
from urllib.parse import urlparse

import httpx
import pytest

from bench.province import County, complete
from bench.province_produce import build
from deploy.local.process import free_port
from shared import kafka
from tests.support import ServiceProcess, auth, eventually, random_county, random_province, settings

pytestmark = pytest.mark.integration

ARGS = SimpleNamespace(cadres=1500, online=0.6, classes=4, class_size=10)
CUT_EVERY = 0.7
CUTTING_FOR = 25.0


class CuttingProxy:
    """Forwards TCP connections to the store; `cut()` drops every open one mid-command."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0

    async def __aenter__(self) -> CuttingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        self.cut()

    def cut(self) -> None:
        for pair in list(self.open):
            for w in pair:
                w.transport.abort()
        self.cuts += 1

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self.open.add(pair)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self.open.discard(pair)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def send_counties(servers, codes: list[str]) -> Counter:
    """Each county's events as its relay sends them (bench.province, small); what they make."""
    expected: Counter = Counter()
    producer = kafka.producer(servers.kafka)
    await producer.start()
    try:
        for code in codes:
            template, sent, _ = await build(code, County, ARGS)
            await kafka.ensure_topics(servers.kafka, sorted({t for t, *_ in sent}))
            for topic, key, value, headers in sent:
                await producer.send(topic, value, key=key.encode(), headers=headers)
            expected.update(template.expected)
        await producer.flush()
    finally:
        await producer.stop()
    return expected


async def test_the_first_start_folds_every_event_though_the_store_connections_are_cut(
    servers, tmp_path_factory
):
    province = random_province()
    codes = [random_county(province), random_county(province)]
    expected = await send_counties(servers, codes)
    store = urlparse(servers.mongodb)
    async with CuttingProxy(store.hostname, store.port) as proxy:
        s = settings("dashboard", servers, codes, projector_batch=500)
        s = s.model_copy(update={"mongodb_uri": f"mongodb://127.0.0.1:{proxy.port}/"})
        log = tmp_path_factory.mktemp("dash") / "dashboard.log"
        with ServiceProcess(s, components="api,projectors,rollup", log=log).start(wait=False) as proc:
            await asyncio.to_thread(proc.wait_ready)  # the proxy serves on this loop meanwhile
            began = time.monotonic()
            while time.monotonic() - began < CUTTING_FOR:
                await asyncio.sleep(CUT_EVERY)
                proxy.cut()

            async def totals():
                async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
                    r = await c.get(
                        "/api/overview", params={"year": "all"}, headers=auth("analyst", f"{province}0000")
                    )
                return r.json()["totals"] if r.status_code == 200 else None

            async def complete_totals():
                t = await totals()
                return t if t is not None and complete(t, expected) else None

            try:
                await eventually(complete_totals, timeout=120, interval=1.0)
            except AssertionError:
                got = await totals()
                pytest.fail(f"after {proxy.cuts} cuts the figures stay short: {got} ≠ {dict(expected)}")
    assert "component.crashed" in log.read_text()  # the cuts did fail writes
