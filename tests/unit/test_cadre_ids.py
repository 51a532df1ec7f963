"""Cadre ids keyed with the province's secret (issue 14): the old brute force no longer finds
the number, deployments of one province agree on the id, a service does not start in
production without the secret, and the department looks ids up by number inside selection."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from datetime import date, timedelta

import pytest

from services.selection import cadres as reg
from services.selection.handlers import Handlers
from services.selection.projections import PROJECTIONS
from services.selection.reads import Reads
from services.selection.settings import SelectionSettings, cadre_id_secret
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.errors import DomainError, Forbidden
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore
from shared.settings import Settings

PROVINCE_SECRET = b"the province's secret, 32 bytes or more, for tests"
REGION = "371428"


def number(birth: date, seq: int) -> str:
    first17 = f"{REGION}{birth:%Y%m%d}{seq:03d}"
    return first17 + reg.id_check_digit(first17)


def unkeyed(id_number: str) -> str:
    """The id as it was before issue 14: an unsalted SHA-256 of the number."""
    return "cd-" + hashlib.sha256(id_number.encode()).hexdigest()[:16]


def brute_force(target: str, year: int, month: int, cadre_id=unkeyed) -> str | None:
    """What the attack did: every plausible number of one county and birth month (the
    region code is public, the sequence has 1,000 values, the check digit follows; the real
    attack tried every birth date of several decades, minutes on one core)."""
    day = date(year, month, 1)
    while day.month == month:
        for seq in range(1000):
            candidate = number(day, seq)
            if cadre_id(candidate) == target:
                return candidate
        day += timedelta(days=1)
    return None


def test_the_old_brute_force_no_longer_finds_the_number_behind_an_id():
    person = number(date(1990, 5, 17), 123)
    # The attack works on the old ids (31,000 hashes, a tenth of a second) ...
    assert brute_force(unkeyed(person), 1990, 5) == person
    # ... and finds nothing behind the keyed one: without the secret no candidate hashes to it.
    keyed = reg.cadre_id_for(person, PROVINCE_SECRET)
    assert keyed.startswith("cd-") and len(keyed) == len(unkeyed(person)) and keyed != unkeyed(person)
    assert brute_force(keyed, 1990, 5) is None
    assert brute_force(keyed, 1990, 5, lambda n: reg.cadre_id_for(n, b"ganxun")) is None  # a guessed key
    # Only whoever holds the secret (selection) finds it again.
    found = brute_force(keyed, 1990, 5, lambda n: reg.cadre_id_for(n, PROVINCE_SECRET))
    assert found == person


def test_an_id_needs_a_secret():
    with pytest.raises(ValueError):
        reg.cadre_id_for(number(date(1990, 5, 1), 1), b"")


def dept(code: str) -> Principal:
    return Principal(user_id=f"dept-{code}", name="组织部", role="org_department", jurisdiction=code)


class Deployment:
    """One selection deployment in memory, with its cadre id secret."""

    def __init__(self, secret: bytes) -> None:
        self.store, self.db = MemoryEventStore(), MemoryDatabase()
        self.h = Handlers(
            CommandHandler(self.store),
            Reads(self.db, stale_after=0),
            FixedClock(date(2026, 3, 2)),
            cadre_secret=secret,
        )

    def register(self, who: Principal, id_number: str, name: str = "张伟") -> str:
        ctx = Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="t")
        raw = {"name": name, "id_number": id_number, "unit": "县财政局", "rank": "副科"}
        cid, _ = asyncio.run(self.h.register(ctx, who, raw))
        for p in PROJECTIONS:
            self.db.load(p, self.store.all_events())
        return cid


def test_deployments_of_one_province_give_a_number_the_same_id():
    """Two counties' deployments (each its own store) with the province's secret: a cadre
    transferred from one to the other is registered there under the id the first gave, so
    the province's registry, classes and dashboard see one person. A deployment keyed
    otherwise would see another person: the secret is the province's, not the county's."""
    person = number(date(1985, 3, 9), 42)
    a, b = Deployment(PROVINCE_SECRET), Deployment(PROVINCE_SECRET)
    assert a.register(dept("371428"), person) == b.register(dept("371427"), person)
    other = Deployment(b"another province's secret, 32 bytes long")
    assert other.register(dept("530129"), person) != a.register(dept("371428"), person)


def test_the_department_looks_ids_up_by_number_in_its_own_registry_only():
    d = Deployment(PROVINCE_SECRET)
    mine, theirs, nobody = (number(date(1985, 3, 9), s) for s in (1, 2, 3))
    cid = d.register(dept("371428"), mine)
    d.register(dept("371427"), theirs, "李明")  # a deployment serving two counties
    got = asyncio.run(d.h.lookup(dept("371428"), [mine, theirs, nobody, mine.lower()]))
    assert got == {"found": {mine: cid}, "missing": [theirs, nobody]}
    with pytest.raises(DomainError) as e:
        asyncio.run(d.h.lookup(dept("371428"), [mine[:17] + "0"]))
    assert e.value.field == "id_numbers" and "校验位" in e.value.message and mine[:17] not in e.value.message
    clerk = Principal(user_id="u", name="单位", role="unit", jurisdiction="371428", unit="县财政局")
    with pytest.raises(Forbidden):
        asyncio.run(d.h.lookup(clerk, [mine]))


def test_the_secret_is_configured_in_production_and_kept_in_development(tmp_path, monkeypatch):
    monkeypatch.delenv("GANXUN_SELECTION_CADRE_ID_SECRET", raising=False)
    keys = tmp_path / "keys"
    production = Settings(env="", jwks_url="https://sso.example.gov.cn/jwks", keys_dir=keys)
    with pytest.raises(SystemExit) as e:
        cadre_id_secret(SelectionSettings(), production)
    assert "GANXUN_SELECTION_CADRE_ID_SECRET" in str(e.value) and "拒绝启动" in str(e.value)
    with pytest.raises(SystemExit) as e:
        cadre_id_secret(SelectionSettings(cadre_id_secret="short"), production)
    assert "太短" in str(e.value)
    given = "x" * 40
    assert cadre_id_secret(SelectionSettings(cadre_id_secret=given), production) == given.encode()
    assert not keys.exists(), "nothing is generated where a secret is required"

    dev = Settings(env="dev", keys_dir=keys)
    made = cadre_id_secret(SelectionSettings(), dev)
    assert len(made) == 64 and cadre_id_secret(SelectionSettings(), dev) == made
    assert stat.S_IMODE((keys / "cadre-ids.key").stat().st_mode) == 0o600
    # The secret `ganxun up` made is the deployment's, also for a process not in dev mode.
    assert cadre_id_secret(SelectionSettings(), production) == made
