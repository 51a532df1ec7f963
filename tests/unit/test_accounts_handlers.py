"""Accounts' handlers over the kernel's in-memory adapters and a fake directory: the real
CommandHandler on a MemoryEventStore, the service's real reads over a MemoryDatabase
filled by folding the appended events, and the identity provider's accounts in memory.
Given past events, when a command through `Handlers`, then the events appended, what
the directory holds and what the reads answer. No server is started."""

import asyncio
from datetime import date

import pytest

from services.accounts.directory import NewAccount, password_rejected
from services.accounts.domain import CreateAccount, DisableAccount, EnableAccount, Manager, ResetPassword
from services.accounts.handlers import Handlers
from services.accounts.projections import accounts, cadres
from services.accounts.reads import Reads
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreRegistered
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore
from shared.settings import Settings

ADMIN = Manager("admin", "371428")
CTX = Context(
    actor=Actor(user_id="a1", name="县管理员", role="admin"), jurisdiction="371428", correlation_id="c1"
)


class FakeDirectory:
    """The identity provider's accounts, in memory."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict] = {}

    async def create(self, account: NewAccount, password: str, temporary: bool) -> None:
        if len(password) < 10:
            raise password_rejected()
        self.accounts[account.username] = {
            "account": account,
            "password": password,
            "temporary": temporary,
            "enabled": True,
        }

    async def set_enabled(self, username: str, enabled: bool) -> None:
        self.accounts[username]["enabled"] = enabled

    async def set_password(self, username: str, password: str, temporary: bool) -> None:
        self.accounts[username].update(password=password, temporary=temporary)


class World:
    """The handlers as service.bootstrap composes them, on the fakes."""

    def __init__(self, jurisdictions: str = "371428") -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        self.directory = FakeDirectory()
        self.h = Handlers(
            CommandHandler(self.store),
            Reads(self.db),
            FixedClock(date(2026, 3, 2)),
            self.directory,
            Settings(service="accounts", jurisdictions=jurisdictions),
        )

    def run(self, coro):
        return asyncio.run(coro)

    def project(self) -> None:
        """What the projector would have written from everything appended so far."""
        self.db.load(accounts, self.store.all_events())

    def types(self, username: str) -> list[str]:
        return [e.type for e in self.run(self.store.read_stream(f"account:{username}"))]

    def registered(self, cadre_id: str, name: str, unit: str, code: str = "371428") -> None:
        ctx = Context(
            actor=Actor(user_id="s", name="组织部", role="org_department"),
            jurisdiction=code,
            correlation_id="c0",
        )
        event = CadreRegistered(
            cadre_id=cadre_id,
            name=name,
            gender="男",
            birth_date=date(1980, 1, 1),
            id_number="x",
            unit=unit,
            rank="科员",
        )
        self.db.load(cadres, CommandHandler.envelopes(f"cadre-{cadre_id}", 0, [event], ctx))


def clerk(**kw) -> CreateAccount:
    return CreateAccount(
        by=kw.pop("by", ADMIN),
        username=kw.pop("username", "wc-clerk"),
        name="王五",
        role="unit",
        jurisdiction=kw.pop("jurisdiction", "371428"),
        unit=kw.pop("unit", "武城县教育局"),
        **kw,
    )


def test_an_account_is_made_in_the_directory_and_recorded():
    w = World()
    out = w.run(w.h.create_account(CTX, clerk()))
    made = w.directory.accounts["wc-clerk"]
    assert out["password"] == made["password"] and made["temporary"]  # a one-time password, shown once
    assert made["account"].unit == "武城县教育局" and made["account"].jurisdiction == "371428"
    [event] = w.store.all_events()
    assert event.type == "AccountCreated" and "password" not in event.payload
    w.project()
    assert w.run(w.h.account(ADMIN, "wc-clerk"))["enabled"] is True


def test_a_refused_account_never_reaches_the_directory():
    w = World()
    with pytest.raises(Forbidden):
        w.run(w.h.create_account(CTX, clerk(jurisdiction="530129")))
    assert w.directory.accounts == {} and w.store.all_events() == []


def test_an_account_of_a_jurisdiction_this_deployment_does_not_serve_is_refused():
    w = World()
    province = Manager("admin", "370000")
    with pytest.raises(Forbidden) as e:
        w.run(w.h.create_account(CTX, clerk(by=province, jurisdiction="371427")))
    assert (e.value.code, e.value.field) == ("wrong_deployment", "jurisdiction")
    assert w.directory.accounts == {} and w.store.all_events() == []


def test_a_password_the_directory_refuses_records_nothing():
    w = World()
    with pytest.raises(DomainError) as e:
        w.run(w.h.create_account(CTX, clerk(temporary_password=False), password="short"))
    assert (e.value.code, e.value.field) == ("password_rejected", "password")
    assert w.store.all_events() == []


def test_a_cadre_gets_a_trainee_account_in_one_step():
    w = World()
    w.registered("C-001", "张三", "武城县教育局")
    out = w.run(w.h.trainee_for_cadre(CTX, ADMIN, "C-001", None, None, True))
    assert (out["username"], out["role"], out["person_id"], out["unit"]) == (
        "c-001",
        "trainee",
        "C-001",
        "武城县教育局",
    )
    with pytest.raises(NotFound) as e:
        w.run(w.h.trainee_for_cadre(CTX, ADMIN, "C-404", None, None, True))
    assert e.value.field == "cadre_id"
    # another county's admin: our cadre answers exactly as one nobody registered (issue 14)
    neighbour = Manager("admin", "371427")
    with pytest.raises(NotFound) as theirs:
        w.run(w.h.trainee_for_cadre(CTX, neighbour, "C-001", None, None, True))
    assert (
        (theirs.value.code, theirs.value.field)
        == (e.value.code, e.value.field)
        == ("cadre_not_found", "cadre_id")
    )


def test_disable_enable_and_reset_act_on_the_directory_once():
    w = World()
    w.run(w.h.create_account(CTX, clerk()))
    assert w.run(w.h.set_enabled(CTX, DisableAccount(ADMIN, "wc-clerk", "调离")))
    assert not w.directory.accounts["wc-clerk"]["enabled"]
    assert not w.run(w.h.set_enabled(CTX, DisableAccount(ADMIN, "wc-clerk")))  # already disabled
    reset = ResetPassword(ADMIN, "wc-clerk", temporary=False)
    out = w.run(w.h.reset_password(CTX, reset, "Another-Passw0rd"))
    assert out == {"username": "wc-clerk", "temporary": False}
    assert w.directory.accounts["wc-clerk"]["password"] == "Another-Passw0rd"
    assert w.run(w.h.set_enabled(CTX, EnableAccount(ADMIN, "wc-clerk")))
    assert w.directory.accounts["wc-clerk"]["enabled"]
    assert w.types("wc-clerk") == ["AccountCreated", "AccountDisabled", "PasswordReset", "AccountEnabled"]


def test_an_admin_lists_their_jurisdiction_and_a_unit_admin_their_unit():
    w = World("371428,371427")
    province = Manager("admin", "370000")
    w.run(w.h.create_account(CTX, clerk()))
    w.run(w.h.create_account(CTX, clerk(username="wc-fin", unit="武城县财政局")))
    w.run(w.h.create_account(CTX, clerk(by=province, username="xj-clerk", jurisdiction="371427")))
    w.project()
    names = lambda docs: [d["username"] for d in docs]  # noqa: E731 - a local shorthand
    assert names(w.run(w.h.accounts(ADMIN, None, None, None))) == ["wc-clerk", "wc-fin"]
    assert names(w.run(w.h.accounts(province, None, None, "unit"))) == ["wc-clerk", "wc-fin", "xj-clerk"]
    assert names(w.run(w.h.accounts(province, "371427", None, None))) == ["xj-clerk"]
    unit_admin = Manager("admin", "371428", unit="武城县教育局")
    assert names(w.run(w.h.accounts(unit_admin, None, None, None))) == ["wc-clerk"]
    with pytest.raises(Forbidden):
        w.run(w.h.accounts(unit_admin, None, "武城县财政局", None))
    with pytest.raises(Forbidden):
        w.run(w.h.accounts(ADMIN, "530129", None, None))
    with pytest.raises(Forbidden):
        w.run(w.h.account(unit_admin, "wc-fin"))  # another unit's account
    with pytest.raises(NotFound):
        w.run(w.h.account(ADMIN, "nobody"))
