"""A kill storm: the whole lifecycle of a class (tests/integration/test_lifecycle.py, every
figure it asserts) driven while services are SIGKILLed at random and brought back by the
supervisor `ganxun up` uses (deploy/local/supervisor.py), by a client that retries every
failure with the same Idempotency-Key and sends every command once more after its answer
(as a client that lost the answer would).

Then: every projection equals a clean rebuild from Kafka; every event in the store is on
Kafka, once per event id; no command applied twice (the lifecycle's event counts per
type, records included); every repeated command answered as the original (status and
body); every killed service back without help, within seconds; the longest publish delay
of an event (Kafka's timestamp minus the time it was stored), printed.

Real processes, real Kafka and store. The kills follow a seeded random schedule; the
checks wait for conditions. Selection is not killed during the registry import (an
import killed half-way and retried reports only what the retry registered; its rows are
never doubled: docs/operations.md, "Retries and crashes").
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime

import httpx
import pytest
from pymongo import AsyncMongoClient

import tests.integration.test_lifecycle as lifecycle
from deploy.local.supervisor import Supervisor, Watched
from deploy.registry import definition
from shared import kafka
from shared.projector import rebuild
from shared.runtime import Runtime
from shared.topics import events_topic
from tests.support import eventually, meaning, random_county, read_topic

pytestmark = pytest.mark.integration

SEED = 15
MAX_KILLS = 24
# Commands between kills (the lifecycle sends about 120): the storm keeps pace with the
# lifecycle, however fast the machine runs it (a pause in seconds gave a quick run five kills).
EVERY = (3, 8)
COMMANDS = {"POST", "PUT", "PATCH", "DELETE"}
RETRY_FOR = 240.0  # a request is retried this long at most
NATURAL_KEYS = ("/evaluations", "/sessions")  # commands whose content is their own key
RESTARTED_WITHIN = 3.0  # after its back-off (0.5 s, doubling while a service keeps dying)
READY_WITHIN = 180.0  # start-up on a 2-core machine shared with five other test suites


class Storm:
    """Kills, restarts (through the supervisor) and what the client saw."""

    def __init__(self, procs: dict) -> None:
        self.procs = {n: procs[n] for n in lifecycle.SERVICES}
        self.rng = random.Random(SEED)
        self.kills: list[tuple[str, float]] = []
        self.back_after: list[tuple[str, float]] = []
        self.restarted_after: list[tuple[str, float, float]] = []  # (service, after, its back-off)
        self.repeats = 0
        self.natural = 0
        self.mismatches: list[str] = []
        self.retries = 0
        self.quiet = threading.Event()  # set: no kills (the registry import)
        self.stop = threading.Event()  # set: no more kills
        self.commands = 0  # commands the client has sent (first sends)
        self.ticked = threading.Condition()
        self.calm = threading.Event()  # set: the supervisor stops (after the last kill is back)
        self.log: list[str] = []
        self.supervisor = Supervisor(
            [
                Watched(
                    f"服务 {n}",
                    lambda p=p: p.proc is not None and p.proc.poll() is None,
                    lambda p=p: p.start(wait=False),
                )
                for n, p in self.procs.items()
            ],
            log=self.log.append,
        )

    def _ready(self, p) -> bool:
        try:
            return httpx.get(p.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def tick(self) -> None:
        """The client sends a command (its first send; retries and repeats do not count)."""
        with self.ticked:
            self.commands += 1
            self.ticked.notify_all()

    def _commands_reach(self, n: int) -> bool:
        with self.ticked:
            while self.commands < n and not self.stop.is_set():
                self.ticked.wait(timeout=0.5)
        return not self.stop.is_set()

    def kill_loop(self) -> None:
        watchers = []
        due = self.rng.randint(*EVERY)
        while len(self.kills) < MAX_KILLS and self._commands_reach(due):
            # one of the services up now (one still coming back from its last kill waits its turn)
            up = [n for n in sorted(self.procs) if not (self.quiet.is_set() and n == "selection")]
            up = [n for n in up if self._ready(self.procs[n])]
            if not up:
                time.sleep(0.2)
                continue
            name = self.rng.choice(up)
            p = self.procs[name]
            due = self.commands + self.rng.randint(*EVERY)
            dead = p.proc
            dead.kill()
            self.kills.append((name, time.time()))
            nth = sum(1 for n, _ in self.kills if n == name)  # the back-off grows while it keeps dying
            w = threading.Thread(target=self._watch, args=(name, p, dead, time.monotonic(), nth), daemon=True)
            w.start()
            watchers.append(w)
        for w in watchers:
            w.join(timeout=130)

    def _watch(self, name: str, p, dead, killed: float, nth: int) -> None:
        """How long until the supervisor started the killed service again, and until it
        answered /readyz again (its start-up: seconds idle, much longer on a loaded machine)."""
        restarted = None
        while time.monotonic() - killed < READY_WITHIN:
            if restarted is None and p.proc is not dead and p.proc.poll() is None:
                restarted = time.monotonic() - killed
            if restarted is not None and self._ready(p):
                break
            time.sleep(0.1)
        self.restarted_after.append(
            (name, restarted if restarted is not None else float("inf"), self.supervisor.delay(nth))
        )
        self.back_after.append((name, time.monotonic() - killed))

    def supervise(self) -> None:
        self.supervisor.run(self.calm, interval=0.2)


class RetryingClient(httpx.Client):
    """A browser-like client: one Idempotency-Key per user action, the same request sent
    again on every failure (no answer, 5xx, 409), and once more after its answer."""

    def __init__(self, url: str, storm: Storm) -> None:
        super().__init__(base_url=url, timeout=60)
        self.storm = storm

    def _send_until_answered(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                r = self.send(request)
                r.read()
                if r.status_code < 500 and not (request.method in COMMANDS and r.status_code == 409):
                    return r
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{request.method} {request.url} not answered in {RETRY_FOR:.0f} s")
            self.storm.retries += 1
            time.sleep(0.3)

    def request(self, method: str, url, **kw) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        kw = {k: v for k, v in kw.items() if k not in ("auth", "follow_redirects")}
        if method.upper() in COMMANDS:
            headers["Idempotency-Key"] = str(uuid.uuid4())
            self.storm.tick()
        request = self.build_request(method, url, headers=headers, **kw)
        first = self._send_until_answered(request)
        if method.upper() in COMMANDS:
            again = [self._send_until_answered(request)]
            if str(url).endswith(NATURAL_KEYS) and first.status_code == 201:
                # Sent again without its key (a client that keeps none): the natural key answers.
                del request.headers["Idempotency-Key"]
                again.append(self._send_until_answered(request))
                self.storm.natural += 1
            for r in again:
                self.storm.repeats += 1
                if (r.status_code, r.content) != (first.status_code, first.content):
                    self.storm.mismatches.append(
                        f"{method} {url}: {first.status_code} {first.text[:200]} ≠ "
                        f"{r.status_code} {r.text[:200]}"
                    )
        return first


@pytest.fixture(scope="module")
def county():
    return random_county()


deployment = lifecycle.deployment  # the lifecycle's four service processes, as a fixture here


async def _docs(db, collection: str) -> dict:
    return {d["_id"]: meaning(d) async for d in db[collection].find()}


# long: one story end to end against real servers; its steps share the state they build
async def test_a_class_lifecycle_through_a_kill_storm(deployment, county, servers, monkeypatch):
    storm = Storm(deployment)
    # A restarted follow-up runs as the fixture started it: movable clock, quick ticks.
    monkeypatch.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
    monkeypatch.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.3")
    monkeypatch.setattr(lifecycle, "client", lambda url: RetryingClient(url, storm))
    supervisor = threading.Thread(target=storm.supervise, daemon=True)
    killer = threading.Thread(target=storm.kill_loop, daemon=True)
    threads = [supervisor, killer]

    # Selection is spared while the registry is imported (the first command of the lifecycle).
    real_post = RetryingClient.post

    def post(self, url, **kw):
        importing = str(url).endswith("/cadres/import")
        if importing:
            storm.quiet.set()
        try:
            return real_post(self, url, **kw)
        finally:
            if importing:
                storm.quiet.clear()

    monkeypatch.setattr(RetryingClient, "post", post)
    for t in threads:
        t.start()
    started = time.monotonic()
    try:
        await lifecycle.test_a_class_from_registry_to_follow_up(deployment, county, servers)
    finally:
        storm.stop.set()
        killer.join(timeout=150)  # its watchers wait until each killed service is back
        storm.calm.set()  # only then does the supervisor stop: a kill just before the
        supervisor.join(timeout=30)  # end of the lifecycle is restarted like any other
    took = time.monotonic() - started
    by_service = defaultdict(int)
    for name, _ in storm.kills:
        by_service[name] += 1
    print(
        f"\nkill storm: {len(storm.kills)} SIGKILLs {dict(by_service)} in {took:.0f} s; "
        f"{storm.retries} retries, {storm.repeats} commands sent again ({storm.natural} without their key)"
    )
    print(
        "restarted after (s):",
        ", ".join(f"{n} {s:.1f} (back-off ≤ {b:g})" for n, s, b in storm.restarted_after),
    )
    print("ready again after (s):", ", ".join(f"{n} {s:.1f}" for n, s in storm.back_after))
    print("\n".join(storm.log))

    assert len(storm.kills) >= 10, "the storm should have killed services during the lifecycle"
    assert {n for n, _ in storm.kills} == set(lifecycle.SERVICES)
    assert storm.mismatches == [], storm.mismatches
    assert storm.natural == len(lifecycle.SESSIONS) + 4  # 5 sessions, 4 evaluations
    assert all(s < b + RESTARTED_WITHIN for _, s, b in storm.restarted_after), storm.restarted_after
    assert all(s < READY_WITHIN for _, s in storm.back_after), storm.back_after
    for p in storm.procs.values():  # every service is back, by itself
        assert p.proc.poll() is None
        await lifecycle.wait_for(lambda p=p: {"ok": True} if storm._ready(p) else None, lambda _: True)

    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    try:
        delays: list[tuple[float, str, str]] = []
        for service, p in storm.procs.items():
            db = client[p.settings.database_name]

            # Every event in the store reaches Kafka (the outbox drains), once per event id.
            async def drained(db=db):
                return await db["outbox"].count_documents({}) == 0

            await eventually(drained, timeout=120, interval=0.5)
            stored = {}
            async for commit in db["events"].find({"fence": {"$ne": True}}):
                for e in commit["events"]:
                    stored[e["event_id"]] = e
            records = await read_topic(servers.kafka, events_topic(service, county), timeout=60)
            on_kafka = {}
            for r in records:
                e = json.loads(r.value)
                on_kafka.setdefault(e["event_id"], (e, r.timestamp))
            assert set(stored) == set(on_kafka), service
            for e, ts in on_kafka.values():
                recorded = datetime.fromisoformat(e["recorded_at"]).timestamp()
                delays.append((ts / 1000 - recorded, service, e["type"]))

            # Every projection equals a clean rebuild from the topics.
            defn = definition(service)
            clean_settings = p.settings.model_copy(update={"database": p.settings.database_name + "_clean"})
            clean = Runtime(defn, clean_settings)
            await clean.producer.start()
            try:
                for projection in defn.projections:

                    async def equal(projection=projection):
                        consumer = kafka.consumer(servers.kafka, None)
                        await consumer.start()
                        try:
                            tps = await kafka.partitions(servers.kafka, clean.pattern_for(projection))
                            await rebuild(clean.writer(projection), consumer, tps)
                        finally:
                            await consumer.stop()
                        live = await _docs(db, projection.collection)
                        return live == await _docs(clean.db, projection.collection)

                    await eventually(equal, timeout=120, interval=2)
            finally:
                await clean.producer.stop()
                await client.drop_database(p.settings.database_name + "_clean")
                await clean.mongo.close()
        delays.sort(reverse=True)
        print("longest publish delays (s):", ", ".join(f"{d:.1f} {s}:{t}" for d, s, t in delays[:5]))
        assert delays[0][0] < 60, delays[:5]
    finally:
        await client.close()
