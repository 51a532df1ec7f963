"""Producing a province's counties fast, still as their relays send them (bench/province.py).

Building each event the real way — a validated contract event, a kernel envelope
(`CommandHandler.envelopes`), its personal fields sealed by `shared.personal.Sealer`, the
JSON — costs ~300 µs of Python per event: 100 counties × 57,000 events took hours. Most of
that work is the same in every county but for the county's code. So:

  - a `Template` is one county built exactly that way (a few templates of different seeds,
    so counties differ); each event's JSON is kept split at every county-specific spot:
    the county code (in ids, stream ids, the jurisdiction), the event id, and each sealed
    value (kept as its person and the plain JSON it sealed, read back with the key);
  - another county's events are joined from a template with its own code, a fresh event id
    each (a uuid7 of the county's start with the event's number in its last 48 bits) and
    every personal value sealed again — AES-GCM under a key of that county's person,
    bound to the person like `shared.personal.seal_value` does (one cipher per person; the
    nonce a county prefix and a counter, which AES-GCM only needs unique per key);
  - the counties are spread over worker processes, each with its own producer.

What reaches the topics is what the kernel would send: the same documents, headers
(`shared.outbox.headers_of`), keys (stream ids) and topics (`ganxun.<service>.<county>`); the
keys stay in the producing process (the counties' vaults), so the province still cannot open
a name. `tests/unit/test_bench_province_produce.py` checks a joined county against one built
the real way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pickle
import random
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import shared.contracts  # noqa: F401 - registers the catalogue
from shared import kafka, topics
from shared.commands import CommandHandler, Context
from shared.events import Actor
from shared.ids import uuid7
from shared.outbox import headers_of
from shared.personal import PREFIX, Sealer, _get, _set, person_of

EVENT_ID = "@@E@@"
SEALED = "@@S{}@@"
CORRELATION = "bench-province"
# Templates are built under codes of a city no county of the bench has (7199xx): a county's code
# is swapped wherever it occurs in an event's JSON, so it must not occur by chance elsewhere, as
# 710101 does in a birth date 1971-01-01 of an identity number (…19710101…). 7199 is no month or
# day, and the other numbers of these events (hours, scores, versions) are shorter.
TEMPLATE_CITY = "7199"
SOURCES = ("selection", "teaching", "records", "followup")


class CountyKeys:
    """A county deployment's vault as the Sealer uses it: one key per person, made on first
    use and kept in this process only (no province process ever holds them)."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}

    async def keys(self, persons, create: bool = False, new=()) -> dict[str, bytes]:
        return {p: self.raw.setdefault(p, os.urandom(32)) for p in persons}


def context(code: str) -> Context:
    return Context(
        actor=Actor(user_id=f"clerk-{code}", name="县委组织部", role="org_department"),
        jurisdiction=code,
        correlation_id=CORRELATION,
    )


@dataclass
class Event:
    """One event of a template: its JSON as literal pieces between slots. A slot is the
    county code (None), the event id (EVENT_ID) or a sealed value ((person, plain JSON),
    both with the template's code still in them)."""

    service: str
    stream: str
    type: bytes
    schema: bytes
    pieces: list[str]
    slots: list


@dataclass
class Template:
    code: str
    events: list[Event] = field(default_factory=list)
    expected: Counter = field(default_factory=Counter)


async def build(code: str, county_cls, args, seed: str | None = None) -> tuple[Template, list, CountyKeys]:
    """One county the real way (contract events, kernel envelopes, sealed), as a template, as
    the (topic, key, value, headers) it would be sent as, and its vault."""
    county = county_cls(code, args, random.Random(seed or code))
    keys = CountyKeys()
    sealer = Sealer(keys)  # type: ignore[arg-type] - the vault's one method it uses
    ctx = context(code)
    versions: Counter = Counter()
    tpl, sent = Template(code), []
    commits = list(_chain(county.registry(), county.classes()))
    for start in range(0, len(commits), 2000):
        envs, services = [], []
        for service, stream, events in commits[start : start + 2000]:
            envs.extend(CommandHandler.envelopes(stream, versions[stream], events, ctx))
            versions[stream] += len(events)
            services.extend([service] * len(events))
        for service, doc in zip(services, await sealer.seal(envs)):
            value = _json(doc)
            sent.append(
                (topics.events_topic(service, code), doc["stream_id"], value.encode(), headers_of(doc))
            )
            tpl.events.append(_split(service, doc, keys.raw, code))
    tpl.expected = county.expected
    return tpl, sent, keys


def _chain(*gens):
    for g in gens:
        yield from g


def _json(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _split(service: str, doc: dict, raw_keys: dict[str, bytes], code: str) -> Event:
    for when in ("occurred_at", "recorded_at"):  # their microseconds are the only other 6 digits
        assert code not in doc[when], f"模板时间 {doc[when]} 含县代码 {code}，请重新运行"
    sealed = []
    for i, path in enumerate(doc["sealed"]):
        token = _get(doc, path)
        person = person_of(token)
        box = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
        plain = AESGCM(raw_keys[person]).decrypt(box[:12], box[12:], person.encode()).decode()
        sealed.append((person, plain))
        _set(doc, path, SEALED.format(i))
    doc = {**doc, "event_id": EVENT_ID}
    parts = re.split(f"({re.escape(EVENT_ID)}|@@S\\d+@@|{code})", _json(doc))
    pieces, slots = parts[0::2], []
    for mark in parts[1::2]:
        if mark == code:
            slots.append(None)
        elif mark == EVENT_ID:
            slots.append(EVENT_ID)
        else:
            slots.append(sealed[int(mark[3:-2])])
    return Event(
        service, doc["stream_id"], doc["type"].encode(), str(doc["schema_version"]).encode(), pieces, slots
    )


class Joiner:
    """A county's events joined from a template: its code, fresh event ids, its own keys."""

    def __init__(self, tpl: Template, code: str) -> None:
        self.tpl, self.code = tpl, code
        self.ciphers: dict[str, AESGCM] = {}
        self.keys: dict[str, bytes] = {}
        self.nonce_prefix = os.urandom(4)
        self.nonces = 0
        base = str(uuid7())
        self.id_prefix = base[:24]
        self.topics = {
            s: topics.events_topic(s, code) for s in ("selection", "teaching", "records", "followup")
        }
        self.juris = code.encode()
        self.corr = CORRELATION.encode()

    def seal(self, person: str, plain: str) -> str:
        cipher = self.ciphers.get(person)
        if cipher is None:
            key = self.keys[person] = os.urandom(32)
            cipher = self.ciphers[person] = AESGCM(key)
        self.nonces += 1
        nonce = self.nonce_prefix + self.nonces.to_bytes(8, "big")
        box = cipher.encrypt(nonce, plain.encode(), person.encode())
        return f"{PREFIX}{person}:{base64.urlsafe_b64encode(nonce + box).decode()}"

    def events(self):
        """(topic, key, value, headers) of each event, in the template's order."""
        code, old = self.code, self.tpl.code
        for n, ev in enumerate(self.tpl.events):
            out = [ev.pieces[0]]
            for slot, piece in zip(ev.slots, ev.pieces[1:]):
                if slot is None:
                    out.append(code)
                elif slot is EVENT_ID:
                    out.append(f"{self.id_prefix}{n:012x}")
                else:
                    out.append(self.seal(slot[0].replace(old, code), slot[1].replace(old, code)))
                out.append(piece)
            hdrs = [
                ("event_type", ev.type),
                ("schema_version", ev.schema),
                ("jurisdiction", self.juris),
                ("correlation_id", self.corr),
            ]
            yield self.topics[ev.service], ev.stream.replace(old, code), "".join(out).encode(), hdrs


async def send_counties(bus, templates: list[Template], counties: list[tuple[int, str]], label: str) -> int:
    """Every given county (index, code) joined from template index % len(templates) and sent."""
    producer = kafka.producer(bus)
    await producer.start()
    sent, t0 = 0, time.monotonic()
    try:
        for done, (i, code) in enumerate(counties, start=1):
            pending = []
            for topic, key, value, hdrs in Joiner(templates[i % len(templates)], code).events():
                pending.append(await producer.send(topic, value=value, key=key.encode(), headers=hdrs))
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
            sent += len(templates[i % len(templates)].events)
            if done % 5 == 0 or done == len(counties):
                rate = sent / (time.monotonic() - t0)
                print(
                    f"  [{label}] {done}/{len(counties)} 县，{sent:,} 个事件（{rate:,.0f} 个/秒）", flush=True
                )
    finally:
        await producer.stop()
    return sent


def _worker(bus, path: str, counties: list[tuple[int, str]], label: str) -> int:
    with open(path, "rb") as f:
        templates = pickle.load(f)
    return asyncio.run(send_counties(bus, templates, counties, label))


async def produce(bus, counties: list[str], county_cls, args, workers: int, scratch: str):
    """The province's counties on their topics: `args.templates` counties built the real way,
    the rest joined from them in `workers` processes. Returns the expected figures, the
    first county's probe and the event count."""
    await kafka.ensure_topics(bus, [topics.events_topic(s, c) for c in counties for s in SOURCES], 3, 1)
    templates = []
    for t, seed in enumerate(counties[: max(1, args.templates)]):
        t0 = time.monotonic()
        code = f"{TEMPLATE_CITY}{t + 1:02d}"
        tpl, _, _ = await build(code, county_cls, args, seed=seed)
        templates.append(tpl)
        print(
            f"  模板 {code}：{len(tpl.events):,} 个事件，按内核路径构建 {time.monotonic() - t0:.1f} s",
            flush=True,
        )
    path = f"{scratch}/templates.pickle"
    with open(path, "wb") as f:
        pickle.dump(templates, f, protocol=pickle.HIGHEST_PROTOCOL)
    indexed = list(enumerate(counties))
    shares = [indexed[w::workers] for w in range(workers)]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        sent = sum(
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _worker, bus, path, s, f"进程 {w + 1}")
                    for w, s in enumerate(shares)
                )
            )
        )
    expected: Counter = Counter()
    for i, _ in indexed:
        expected.update(templates[i % len(templates)].expected)
    probe = {"county": counties[0], "class": f"{counties[0]}-k00"}
    return expected, probe, sent
