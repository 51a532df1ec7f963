"""Personal data sealed per person, so that erasing a person is deleting one key.

Crypto-shredding (docs/personal-data.md): the fields of an event that name or identify a
person (a contract lists them in `Event.personal`, the person in `Event.person_field`; a
cadre acting, as a trainee or a recorder, is named in the envelope's `actor.name`) are encrypted
with AES-GCM under a key of that person alone before the event is stored, and so before
it reaches Kafka. The keys live in the deployment's key vault, a collection of the store
(`person_keys` in the database `Settings.vault_database_name`). Erasing a person replaces
their key with a tombstone: every copy of their sealed values, in the event store, on the
topics (kept forever) and in any backup, becomes noise at once, and a projection rebuilt
afterwards folds "已删除" where the person was.

A sealed value is a self-describing string, `§p1:<person>:<base64url(nonce ‖ ciphertext)>`,
of the JSON of the plain value (a date stays a date once opened); the envelope lists the
sealed paths in `sealed` (e.g. `payload.name`, `payload.changes.birth_date`, `actor.name`).
The domain never sees a sealed value: the event store seals on append and opens on read
(`shared/eventstore.py`), and the projector opens a batch before decoding it
(`shared/projector.py`), so deciders and folds stay pure and read plain values.

What cannot be opened is shown as such: a person erased here is `ERASED` ("已删除"); a
person whose key this deployment does not hold (another deployment sealed it) is
`UNREADABLE`. A field whose type cannot hold text says in `Event.erased_as` what stands in
(None for a birth date).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared import store
from shared.events import CATALOGUE, Catalogue, Decoded, Envelope, MalformedEvent, utcnow

PREFIX = "§p1:"
ERASED = "已删除"
UNREADABLE = "（无权查看）"
VAULT = "person_keys"
# A key looked up stays in memory this long: sealing with a key erased meanwhile is harmless
# (nobody can open it), and a projector forgets an erased key as soon as it reads the
# erasure (ProjectionWriter), so the window only matters to a process that reads neither (an
# API-only process of a service run in several). At 30 s, clerks touching a county's cadres all
# day had most keys read again: 0.17 vault reads per command in selection and 0.27 in teaching
# at 50 commands/s on 2,000 cadres (docs/benchmarks.md, cmd5), each a store round trip and a
# PostgreSQL transaction; a key is 32 bytes, a county's 20,000 stay in memory for little.
KEY_TTL = 600.0
# A person this vault does not hold (another deployment sealed them) is remembered as absent
# this long at most: their key may be created here meanwhile, and a province meets millions.
ABSENT_TTL = 30.0
DUPLICATE_KEY = 11000
# Above this many keys wanted at once (on FerretDB), the vault is read in one scan instead of by
# ids, and every key the scan meets is kept (up to SCAN_KEEPS): a projector catching up on an
# import asks for a few hundred people per batch, batch after batch, and one point read costs
# FerretDB as much as ~40 documents of a scan (0.54 ms of CPU against 50 µs, 20,000 keys, measured
# on the local store), so 20,000 point reads (11 s of FerretDB's CPU) become one scan (1 s) and
# the batches after it read nothing until the TTL passes.
SCAN_ABOVE = 100
# A creator asking for more keys than this at once (an import's registrations, nearly all new)
# inserts them first; fewer (a command about a few people, nearly all known) are read first.
INSERT_FIRST_ABOVE = 20
SCAN_KEEPS = 100_000
# The key cache is swept of expired entries when it reaches this size (then twice what was left).
SWEEP_FROM = 10_000
# The envelopes this process sealed that its own projectors may take plain from memory
# (`Sealer.recall`), at most this many at once and for this long: a 20,000-row import's
# projection opened each registration again from the record the relay had sent (json.loads, a
# cipher per person, three decryptions, the envelope and payload validated again; and the
# `classes` writer read each envelope once more to pass it by), about 110 µs a row of selection's
# CPU (docs/benchmarks.md, "The import end to end"). An envelope kept is ~3 kB, most of it the
# import holds anyway until its answer; the projectors were up to 11,000 rows behind the
# relay (at 5,000 kept, 38-48 % of the rows were opened again; at 12,000 none; the process's peak
# RSS over the import 236-240 MB against main's 243-252 in the same minutes). Given back as the
# records are folded.
RECALL_MAX = 12_000
RECALL_AGE = 60.0
# A role whose actor is the person the event is about: their own name in `actor.name` is
# theirs, sealed under their own id (a trainee's self check-in, leave request, rating).
SELF_ROLES = frozenset({"trainee"})

# Cadre ids as selection mints them (services/selection/cadres.py, `cadre_id_for`): an actor
# whose id is one is a cadre of the deployment acting (a class monitor or committee member
# recording as a recorder), a person who may be erased; staff ids (accounts, mentors) are not.
CADRE_ID_PREFIX = "cd-"

Gone = object()  # the tombstone of an erased person, as `Vault.keys` reports it


def acts_as_cadre(actor: dict) -> bool:
    """Whether the envelope's actor is a cadre of the deployment, whatever the role they act
    in (a trainee for themselves, a trainee recording as class monitor): their `actor.name` is
    sealed under their own id. Office holders (staff) are named in the clear."""
    user = actor.get("user_id")
    return bool(user) and (actor.get("role") in SELF_ROLES or str(user).startswith(CADRE_ID_PREFIX))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def person_of(token: str) -> str:
    return token[len(PREFIX) :].rsplit(":", 1)[0]


def seal_value(key: bytes | AESGCM, person: str, value: Any) -> str:
    nonce = os.urandom(12)
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    box = _aead(key).encrypt(nonce, plain, person.encode())
    return f"{PREFIX}{person}:{base64.urlsafe_b64encode(nonce + box).decode()}"


def open_value(key: bytes | AESGCM, token: str) -> Any:
    person = person_of(token)
    raw = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
    return json.loads(_aead(key).decrypt(raw[:12], raw[12:], person.encode()))


def _aead(key: bytes | AESGCM) -> AESGCM:
    return key if isinstance(key, AESGCM) else AESGCM(key)


def _ciphers(keys: dict[str, Any]) -> dict[str, Any]:
    """The keys as ready ciphers (making one costs more than sealing a name with it); `Gone`
    stays as it is. Made per call, so no cipher outlives the vault's cache of its key."""
    return {p: AESGCM(k) if isinstance(k, bytes) else k for p, k in keys.items()}


class Vault:
    """The deployment's per-person keys (`person_keys`: `{_id: person, key}` or, once the
    person is erased, `{_id: person, erased: true}` with no key)."""

    def __init__(self, db: AsyncDatabase, ttl: float = KEY_TTL) -> None:
        self.coll = db[VAULT]
        self.ttl = ttl
        self.absent_ttl = min(ttl, ABSENT_TTL)
        # person → (key, Gone, or None for "not in this vault"; when it was read)
        self._cache: dict[str, tuple[Any, float]] = {}
        self._sweep_at = SWEEP_FROM
        # person → the lookup under way for them (see `keys`)
        self._looking: dict[str, asyncio.Future] = {}

    async def keys(
        self, persons: Iterable[str], create: bool = False, new: Collection[str] = ()
    ) -> dict[str, Any]:
        """Each person's key (bytes), `Gone` when erased, absent when unknown here. With
        `create`, an unknown person gets a fresh key (a race between two creators is settled
        by the store's unique `_id`: the loser reads the winner's); the persons in `new` are
        most likely unknown (their own aggregate is being created) and inserted first.

        A person another call is looking up at this moment is not looked up again: the call
        waits for that lookup and takes what it cached (a projector's writers open the same
        batch at once, and each asked the store for the same new trainees)."""
        persons = list(dict.fromkeys(persons))
        out: dict[str, Any] = {}
        while True:
            wanted = self._cached(persons, create, time.monotonic(), out)
            busy = {self._looking[p] for p in wanted if p in self._looking}
            if not busy:
                break
            await asyncio.wait(busy)
        if not wanted:
            return out
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        for p in wanted:
            self._looking[p] = done
        try:
            await self._look_up(wanted, create, new, out)
        finally:
            for p in wanted:
                if self._looking.get(p) is done:
                    del self._looking[p]
            done.set_result(None)
        return out

    def _cached(self, persons: list[str], create: bool, now: float, out: dict[str, Any]) -> list[str]:
        """Puts the cached keys of `persons` into `out`; returns those to look up."""
        wanted = []
        for p in persons:
            if p in out:
                continue
            hit = self._cache.get(p)
            if hit is not None and self._fresh(hit, now) and (hit[0] is not None or not create):
                if hit[0] is not None:
                    out[p] = hit[0]
            else:
                wanted.append(p)
        return wanted

    async def _look_up(
        self, wanted: list[str], create: bool, new: Collection[str], out: dict[str, Any]
    ) -> None:
        now = time.monotonic()
        self._sweep(now)
        found: dict[str, dict] = {}
        if create and len(wanted) > INSERT_FIRST_ABOVE:
            # Insert first and read only what was there: an import registers thousands of new
            # people, and FerretDB answers reads by many ids one point read at a time.
            found = await self._create(wanted)
        elif create:
            # A command is about people who mostly have a key already: read first and insert
            # only the missing, as a refused insert costs the store an aborted transaction and
            # still needs the read (docs/benchmarks.md, "Store operations per command"). A
            # person being registered has none: inserted at once, one round trip instead of two.
            first = [p for p in wanted if p in new]
            found = await store.find_by_ids(self.coll, [p for p in wanted if p not in new])
            found.update(await self._create(first + [p for p in wanted if p not in new and p not in found]))
        elif len(wanted) > SCAN_ABOVE and not store.profile().finds_by_in:
            # A rebuild or an import's projection: one scan of the vault beats thousands of
            # point reads (FerretDB serves each alone); every key read is cached.
            found = await self._scan(set(wanted), now)
        else:
            found = await store.find_by_ids(self.coll, wanted)
        for p in wanted:
            doc = found.get(p)
            if doc is None:
                # Unknown here: another deployment sealed it (a province dashboard reading its
                # counties' topics meets each of their cadres in several batches). Remembered as
                # absent for the TTL, so the next batch does not look for them again; a creator
                # (create=True) does not trust this and looks.
                self._cache[p] = (None, now)
                continue
            value = Gone if doc.get("erased") else bytes(doc["key"])
            out[p] = value
            self._cache[p] = (value, now)

    async def _scan(self, want: set[str], now: float) -> dict[str, dict]:
        """The documents of `want` from one scan of the vault; every other key it meets is
        cached too, while the cache holds fewer than SCAN_KEEPS (a province's vault may be large)."""
        found: dict[str, dict] = {}
        async for d in self.coll.find({}):
            if d["_id"] in want:
                found[d["_id"]] = d
            elif len(self._cache) < SCAN_KEEPS:
                self._cache[d["_id"]] = (Gone if d.get("erased") else bytes(d["key"]), now)
        return found

    def _sweep(self, now: float) -> None:
        """Forget expired entries once the cache has doubled since the last sweep: a province
        meets two million people, and their absences must not all stay in memory."""
        if len(self._cache) < self._sweep_at:
            return
        self._cache = {p: hit for p, hit in self._cache.items() if self._fresh(hit, now)}
        self._sweep_at = max(SWEEP_FROM, 2 * len(self._cache))

    def _fresh(self, hit: tuple[Any, float], now: float) -> bool:
        """Whether a cached entry may still be used: a key (or a tombstone) for `ttl`, an
        absence for `absent_ttl`."""
        return now - hit[1] < (self.absent_ttl if hit[0] is None else self.ttl)

    async def _create(self, persons: list[str]) -> dict[str, dict]:
        """A fresh key for each person; one who has a document already (another creator won
        the race, or they were erased) keeps it: their insert is refused on the unique `_id`
        and their document read."""
        if not persons:
            return {}
        fresh = {p: os.urandom(32) for p in persons}
        taken = await self._insert(fresh)
        found = {p: {"_id": p, "key": k} for p, k in fresh.items() if p not in taken}
        found.update(await store.find_by_ids(self.coll, sorted(taken)))
        return found

    async def _insert(self, fresh: dict[str, bytes]) -> set[str]:
        """Insert the new keys, in chunks of the store's insert size; returns the persons
        who already had a document (a key or a tombstone), whose insert was refused."""
        taken: set[str] = set()
        items = list(fresh.items())
        now = utcnow()
        size = store.profile().insert_chunk
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            try:
                await self.coll.insert_many(
                    [{"_id": p, "key": k, "created_at": now} for p, k in chunk], ordered=False
                )
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                taken.update(chunk[e["index"]][0] for e in errors)
        return taken

    async def erase(self, person: str) -> None:
        """Delete the person's key for good, leaving a tombstone so none is made again."""
        await self.coll.replace_one(
            {"_id": person}, {"_id": person, "erased": True, "erased_at": utcnow()}, upsert=True
        )
        self.forget(person)

    def forget(self, person: str) -> None:
        self._cache.pop(person, None)

    def holds(self, persons: Iterable[str]) -> bool:
        """Whether each person's key is in memory and fresh, not erased: a value sealed under it
        would open to what was sealed, with no store read (`Sealer.recall`)."""
        now = time.monotonic()
        for p in persons:
            hit = self._cache.get(p)
            if hit is None or not isinstance(hit[0], bytes) or not self._fresh(hit, now):
                return False
        return True


def _digest(value: bytes) -> bytes:
    """What a record's value is known by in `Sealer._recent` (not the bytes themselves: ~1 kB
    each): equal digests are equal values, as no one can make two values meet."""
    return hashlib.blake2b(value, digest_size=16).digest()


def _get(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]  # an element of a list sealed per element (`personal_each`)
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            return None
    return doc


def _set(doc: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    doc[int(last) if isinstance(doc, list) else last] = value  # type: ignore[index]


def each_targets(model: Any, payload: dict) -> list[tuple[str, str]]:
    """(path, person) of the values sealed element by element (`Event.personal_each`): an
    outcome's authors, each name under that author's own key."""
    out: list[tuple[str, str]] = []
    for list_path, (field, person_field) in model.personal_each.items():
        items = _get(payload, list_path)
        for i, item in enumerate(items if isinstance(items, list) else ()):
            person = item.get(person_field) if isinstance(item, dict) else None
            value = item.get(field) if isinstance(item, dict) else None
            if isinstance(person, str) and person and value not in (None, "") and not is_sealed(value):
                out.append((f"payload.{list_path}.{i}.{field}", person))
    return out


class Sealer:
    """Seals envelopes for the store and the bus, and opens them again, through a `Vault`."""

    def __init__(self, vault: Vault, catalogue: Catalogue = CATALOGUE) -> None:
        self.vault = vault
        self.catalogue = catalogue
        # Whether the envelopes it seals are kept plain for this process's projectors (`recall`):
        # set where the relay and the projectors run in the process that appends
        # (Runtime.start). Kept by event id until the relay sends them (`sent`), then by the
        # digest of the bytes it sent: (when kept, the envelope, its plain values per person).
        self.recalls = False
        self._recent: OrderedDict[str | bytes, tuple[float, Envelope, dict[str, set[str]]]] = OrderedDict()

    def _keep(self, env: Envelope, seen: dict[str, set[str]]) -> None:
        """Keep an envelope just sealed for `recall`; the oldest go after RECALL_AGE, and none
        is kept past RECALL_MAX (the oldest are the next the projectors fold)."""
        now = self.expire_recalls()
        if len(self._recent) < RECALL_MAX:
            self._recent[env.event_id] = (now, env, seen)

    def expire_recalls(self) -> float:
        """Give back what was kept for `recall` longer than RECALL_AGE (the time now). Called at
        each seal, and by the projector while it finds nothing to fold (Projector._when_still):
        what a process sealed for topics its projectors do not follow, or sent while they
        were stopped, is never recalled, and would otherwise stay until the next appends."""
        now = time.monotonic()
        recent = self._recent
        while recent and now - next(iter(recent.values()))[0] > RECALL_AGE:
            recent.popitem(last=False)
        return now

    def sent(self, event: dict, value: bytes) -> None:
        """The relay sent a sealed envelope as `value`: what was kept of it is found by it now."""
        if self._recent:
            kept = self._recent.pop(event.get("event_id"), None)
            if kept is not None:
                self._recent[_digest(value)] = kept

    def recall(self, value: bytes) -> tuple[Decoded, dict[str, set[str]]] | None:
        """A record this process sealed and its relay sent, byte for byte, as its projectors
        would open and decode it: (the decoding, the plain values per person, as `open` reports
        them); None when it was not kept, or when any of its persons' keys is not in memory and
        fresh (erased since, or to be read again: the record is opened then, as any other)."""
        if not self._recent:
            return None
        kept = self._recent.pop(_digest(value), None)
        if kept is None:
            return None
        _, env, seen = kept
        if not self.vault.holds(seen):
            return None
        try:
            decoded = self.catalogue.decode_envelope(env)
        except MalformedEvent:
            return None
        return None if decoded is None else (decoded, seen)

    def _targets(self, doc: dict) -> list[tuple[str, str]]:
        """(path, person) of each value of an envelope document to seal."""
        out: list[tuple[str, str]] = []
        actor = doc.get("actor") or {}
        if acts_as_cadre(actor) and actor.get("name"):
            out.append(("actor.name", actor["user_id"]))
        try:
            model = self.catalogue.model(doc["type"])
        except KeyError:
            return out
        payload = doc["payload"]
        wanted = [(path, model.person_field) for path in model.personal]
        wanted += list(model.personal_of.items())
        for path, field in wanted:
            person = payload.get(field)
            value = _get(payload, path)
            if isinstance(person, str) and person and value not in (None, "", []) and not is_sealed(value):
                out.append((f"payload.{path}", person))
        return out + each_targets(model, payload)

    async def seal(self, envelopes: Iterable[Envelope]) -> list[dict]:
        """The envelopes as store documents, their personal values sealed (and, with `recalls`,
        each kept plain with the values it sealed per person)."""
        envelopes = list(envelopes)
        docs = [e.to_doc() for e in envelopes]
        targets = [self._targets(d) for d in docs]
        # A person whose own stream starts here (a registration) has no key yet.
        new = {
            p
            for d, todo in zip(docs, targets)
            if d["stream_version"] == 1
            for _, p in todo
            if d["stream_id"].endswith(p)
        }
        keys = _ciphers(await self.vault.keys((p for t in targets for _, p in t), create=True, new=new))
        for env, doc, todo in zip(envelopes, docs, targets):
            sealed: list[str] = []
            seen: dict[str, set[str]] = {}
            for path, person in todo:
                key = keys.get(person)
                if isinstance(key, AESGCM):
                    plain = _get(doc, path)
                    _set(doc, path, seal_value(key, person, plain))
                    sealed.append(path)
                    seen.setdefault(person, set()).add(str(plain))  # as `open` reports it
                else:  # erased: nothing of theirs is kept, not even sealed
                    _set(doc, path, self._stand_in(doc, path, ERASED))
            doc["sealed"] = sealed
            # Kept only as it will read once opened: nothing of it stood in for an erased person.
            if self.recalls and len(sealed) == len(todo) and not env.sealed:
                self._keep(env, seen)
        return docs

    def _stand_in(self, doc: dict, path: str, text: str) -> Any:
        try:
            model = self.catalogue.model(doc["type"])
        except KeyError:
            return text
        inner = path.removeprefix("payload.")
        return model.erased_as[inner] if inner in model.erased_as else text

    async def open(self, docs: list[dict], look_up: bool = True) -> list[dict[str, set[str]]]:
        """Open, in place, the sealed values of envelope documents. Returns per document the
        plain texts it carried per person (what a projection must forget when the person is
        erased). An erased person's values become `ERASED`; another deployment's, `UNREADABLE`.
        Without `look_up` no key is read and every sealed value becomes `UNREADABLE` (for a
        reader that keeps no personal value: `Projection.personal`)."""
        tokens = (_get(d, p) for d in docs for p in d.get("sealed") or ())
        persons = {person_of(t) for t in tokens if is_sealed(t)} if look_up else set()
        keys = _ciphers(await self.vault.keys(persons)) if persons else {}
        out: list[dict[str, set[str]]] = []
        for doc in docs:
            seen: dict[str, set[str]] = {}
            for path in doc.get("sealed") or ():
                token = _get(doc, path)
                if not is_sealed(token):
                    continue
                person = person_of(token)
                key = keys.get(person)
                value: Any = None
                if isinstance(key, AESGCM):
                    try:
                        value = open_value(key, token)
                    except (InvalidTag, ValueError):
                        key = None
                if isinstance(key, AESGCM):
                    seen.setdefault(person, set()).add(str(value))
                else:
                    value = self._stand_in(doc, path, ERASED if key is Gone else UNREADABLE)
                _set(doc, path, value)
            doc["sealed"] = []
            out.append(seen)
        return out

    async def open_envelopes(self, docs: list[dict]) -> list[Envelope]:
        await self.open(docs)
        return [Envelope.model_validate(d) for d in docs]
