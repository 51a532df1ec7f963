"""Accounts' handlers with fakes of their two ports: the executor and the directory."""

import asyncio

import pytest

from services.accounts import handlers
from services.accounts.directory import NewAccount, password_rejected
from services.accounts.domain import CreateAccount, DisableAccount, Manager, ResetPassword
from shared.commands import Context, Loaded, fold
from shared.contracts.accounts import AccountCreated, AccountDisabled, PasswordReset
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor

ADMIN = Manager("admin", "371428")
CTX = Context(
    actor=Actor(user_id="a1", name="县管理员", role="admin"), jurisdiction="371428", correlation_id="c1"
)


class FakeCommands:
    """The executor: streams of events in memory, decided and appended like the kernel's."""

    def __init__(self) -> None:
        self.streams: dict[str, list] = {}
        self.jurisdictions: dict[str, str] = {}

    async def load(self, decider, stream_id):
        events = self.streams.get(stream_id, [])
        return Loaded(fold(decider, events), len(events), self.jurisdictions.get(stream_id))

    async def execute(self, decider, stream_id, command, ctx, authorize=None):
        events = decider.decide(fold(decider, self.streams.get(stream_id, [])), command)
        self.streams.setdefault(stream_id, []).extend(events)
        self.jurisdictions.setdefault(stream_id, ctx.jurisdiction)
        return events


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


def run(coro):
    return asyncio.run(coro)


def clerk(**kw) -> CreateAccount:
    return CreateAccount(
        by=kw.pop("by", ADMIN),
        username="wc-clerk",
        name="王五",
        role="unit",
        jurisdiction=kw.pop("jurisdiction", "371428"),
        unit="武城县教育局",
        **kw,
    )


def test_an_account_is_made_in_the_directory_and_recorded():
    commands, directory = FakeCommands(), FakeDirectory()
    out = run(handlers.create_account(commands, directory, CTX, clerk()))
    made = directory.accounts["wc-clerk"]
    assert out["password"] == made["password"] and made["temporary"]  # a one-time password, shown once
    assert made["account"].unit == "武城县教育局" and made["account"].jurisdiction == "371428"
    [event] = commands.streams["account:wc-clerk"]
    assert isinstance(event, AccountCreated) and "password" not in event.model_dump()


def test_a_refused_account_never_reaches_the_directory():
    commands, directory = FakeCommands(), FakeDirectory()
    with pytest.raises(Forbidden):
        run(handlers.create_account(commands, directory, CTX, clerk(jurisdiction="530129")))
    assert directory.accounts == {} and commands.streams == {}


def test_a_password_the_directory_refuses_records_nothing():
    commands, directory = FakeCommands(), FakeDirectory()
    with pytest.raises(DomainError) as e:
        run(
            handlers.create_account(
                commands, directory, CTX, clerk(temporary_password=False), password="short"
            )
        )
    assert (e.value.code, e.value.field) == ("password_rejected", "password")
    assert commands.streams == {}


def test_a_cadre_gets_a_trainee_account_in_one_step():
    commands, directory = FakeCommands(), FakeDirectory()
    cadre = {"cadre_id": "C-001", "name": "张三", "unit": "武城县教育局", "jurisdiction": "371428"}
    out = run(handlers.trainee_for_cadre(commands, directory, CTX, ADMIN, cadre, "C-001", None, None, True))
    assert (out["username"], out["role"], out["person_id"], out["unit"]) == (
        "c-001",
        "trainee",
        "C-001",
        "武城县教育局",
    )
    with pytest.raises(NotFound):
        run(handlers.trainee_for_cadre(commands, directory, CTX, ADMIN, None, "C-404", None, None, True))


def test_disable_and_reset_act_on_the_directory_once():
    commands, directory = FakeCommands(), FakeDirectory()
    run(handlers.create_account(commands, directory, CTX, clerk()))
    assert run(handlers.disable_account(commands, directory, CTX, DisableAccount(ADMIN, "wc-clerk", "调离")))
    assert not directory.accounts["wc-clerk"]["enabled"]
    assert not run(handlers.disable_account(commands, directory, CTX, DisableAccount(ADMIN, "wc-clerk")))
    out = run(
        handlers.reset_password(
            commands, directory, CTX, ResetPassword(ADMIN, "wc-clerk", temporary=False), "Another-Passw0rd"
        )
    )
    assert out == {"username": "wc-clerk", "temporary": False}
    assert directory.accounts["wc-clerk"]["password"] == "Another-Passw0rd"
    assert [type(e) for e in commands.streams["account:wc-clerk"]] == [
        AccountCreated,
        AccountDisabled,
        PasswordReset,
    ]


def test_an_admin_lists_their_jurisdiction_and_a_unit_admin_their_unit():
    assert handlers.list_filter(ADMIN, None, None, None) == {"jurisdiction": {"$regex": "^371428"}}
    assert handlers.list_filter(Manager("admin", "430000"), "431121", None, "trainee") == {
        "jurisdiction": {"$regex": "^431121"},
        "role": "trainee",
    }
    unit_admin = Manager("admin", "371428", unit="武城县教育局")
    assert handlers.list_filter(unit_admin, None, None, None)["unit"] == "武城县教育局"
    with pytest.raises(Forbidden):
        handlers.list_filter(unit_admin, None, "武城县财政局", None)
    with pytest.raises(Forbidden):
        handlers.list_filter(ADMIN, "530129", None, None)
