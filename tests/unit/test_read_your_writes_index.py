"""Read-your-writes where a read model is held in memory by a process without its projectors
(an API-only process), with fakes: a read's wait that is fresh names the documents the token's
writes reached (`consistency.Applied`), and selection's read index takes exactly those from
the store before the read answers, without reloading the rest."""

from __future__ import annotations

import asyncio
from datetime import date

from services.selection import projections as sp
from services.selection.reads import Reads
from shared import consistency
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreRegistered, ScopeDrawn
from shared.contracts.teaching import SessionAttended
from shared.events import Actor
from shared.eventstore import COLLECTION as COMMITS
from shared.memory import MemoryDatabase
from tests.unit.test_selection_read_index import cadre

COUNTY = "371428"
CTX = Context(
    actor=Actor(user_id="u-1", name="李干事", role="org_department"),
    jurisdiction=COUNTY,
    correlation_id="c-1",
)
PROJECTIONS = (sp.classes, sp.cadres, sp.histories)


def run(coro):
    return asyncio.run(coro)


def commit(db: MemoryDatabase, stream: str, events: list, version: int = 1) -> consistency.Written:
    """`events` stored as one commit of `stream` from `version` on; the token of its last."""
    envs = CommandHandler.envelopes(stream, version - 1, events, CTX)
    doc = {
        "_id": f"k-{stream}-{version}",
        "stream_id": stream,
        "version": version,
        "last_version": envs[-1].stream_version,
        "events": [e.to_doc() for e in envs],
    }
    run(db[COMMITS].insert_one(doc))
    service = "teaching" if stream.startswith("session-") else "selection"
    return consistency.Written(service, COUNTY, stream, envs[-1].stream_version)


def registered(cadre_id: str) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=cadre_id,
        name="李明",
        gender="男",
        birth_date=date(1980, 1, 1),
        id_number="371428198001011234",
        unit="县财政局",
        rank="科员",
    )


def applied(db: MemoryDatabase, needs: list[tuple[str, consistency.Written]]) -> consistency.Applied:
    probe = consistency.StoreCheck(db, {}, None, None).probe()
    return consistency.Applied(
        needs, probe.commit, consistency.router(PROJECTIONS, lambda code: code == COUNTY)
    )


def test_a_fresh_wait_names_the_documents_each_projection_folded_the_token_s_commit_into():
    db = MemoryDatabase()
    cadre_written = commit(db, "cadre-c9", [registered("c9")])
    drawn = commit(db, "class-k1", [ScopeDrawn(class_id="k1", criteria={}, cadre_ids=["c1"])])
    attended = [
        SessionAttended(class_id="k1", session_id="s1", cadre_id=c, hours=3.0, on=date(2026, 1, 6))
        for c in ("c1", "c2")
    ]
    session = commit(db, "session-s1", attended)
    needs = [
        ("cadres", cadre_written),
        ("classes", cadre_written),
        ("classes", drawn),
        ("histories", session),
    ]
    done = applied(db, needs)
    assert run(done.documents("cadres")) == {"c9"}
    assert run(done.documents("classes")) == {"k1"}  # the registration reached no class
    assert run(done.documents("histories")) == {"c1", "c2"}  # one commit, two trainees' histories
    # A token naming a write that is not stored names nothing.
    assert (
        run(
            applied(db, [("cadres", consistency.Written("selection", COUNTY, "cadre-x", 1))]).documents(
                "cadres"
            )
        )
        == set()
    )


def test_an_event_about_a_county_not_served_here_names_no_document():
    db = MemoryDatabase()
    other = SessionAttended(
        class_id="k1",
        session_id="s2",
        cadre_id="c7",
        hours=3.0,
        on=date(2026, 1, 6),
        home_jurisdiction="371402",
    )
    session = commit(db, "session-s2", [other])
    assert run(applied(db, [("histories", session)]).documents("histories")) == set()


def _api_only_reads(db: MemoryDatabase) -> Reads:
    """Selection's reads in a process without the projectors, their index loaded with c1."""
    db["cadres"].docs["c1"] = cadre("c1", "王芳", "县财政局", 1)
    reads = Reads(db, stale_after=3600)
    assert [d["name"] for d in run(reads.registry(COUNTY))] == ["王芳"]
    return reads


def test_an_api_only_process_s_index_takes_the_named_documents_and_only_them_without_a_reload():
    db = MemoryDatabase()
    reads = _api_only_reads(db)
    loaded_at = run(reads.index()).loaded_at
    # The projector (another process) stores c9 (the token's) and c3 (a write nobody named).
    db["cadres"].docs["c9"] = cadre("c9", "李明", "县财政局", 1)
    db["cadres"].docs["c3"] = cadre("c3", "张伟", "县委办", 1)
    token = commit(db, "cadre-c9", [registered("c9")])
    run(reads.refresh(applied(db, [("cadres", token), ("classes", token)])))
    assert [d["name"] for d in run(reads.registry(COUNTY))] == ["李明", "王芳"]
    ix = run(reads.index())
    assert ix.loaded_at == loaded_at and "c3" not in ix.cadres  # no reload: c3 lags as before
    assert "_applied" not in ix.cadres["c9"]


def test_a_named_document_the_index_holds_already_at_its_revision_unmakes_no_kept_list():
    db = MemoryDatabase()
    reads = _api_only_reads(db)  # c1 held at _rev 1
    ix = run(reads.index())
    kept = run(reads.registry(COUNTY))
    changes = ix.changes
    token = commit(db, "cadre-c1", [registered("c1")])
    run(reads.refresh(applied(db, [("cadres", token)])))
    assert ix.changes == changes and run(reads.registry(COUNTY)) is kept
    db["cadres"].docs["c1"] = cadre("c1", "王芳芳", "县财政局", 2)  # a later write, named
    run(reads.refresh(applied(db, [("cadres", token)])))
    assert [d["name"] for d in run(reads.registry(COUNTY))] == ["王芳芳"]


def test_an_api_only_process_s_index_takes_a_named_class_and_history():
    db = MemoryDatabase()
    reads = _api_only_reads(db)
    db["classes"].docs["k1"] = {
        "_id": "k1",
        "_rev": 1,
        "_applied": {"class-k1": 1},
        "jurisdiction": COUNTY,
        "title": "科级干部轮训班",
        "starts_on": "2026-02-01",
        "scope": {"criteria": {}, "cadre_ids": ["c1"]},
        "nominations": [],
    }
    db["histories"].docs["c1"] = {
        "_id": "c1",
        "_rev": 1,
        "last_trained_on": "2026-01-06",
        "hours": {"2026": 3.0},
    }
    drawn = commit(db, "class-k1", [ScopeDrawn(class_id="k1", criteria={}, cadre_ids=["c1"])])
    attended = SessionAttended(class_id="k1", session_id="s1", cadre_id="c1", hours=3.0, on=date(2026, 1, 6))
    session = commit(db, "session-s1", [attended])
    run(reads.refresh(applied(db, [("classes", drawn), ("histories", session)])))
    assert [r["class_id"] for r in run(reads.class_list(COUNTY))] == ["k1"]
    assert run(reads.class_row(_who(), "k1"))["scope"]["count"] == 1
    assert run(reads.index()).histories["c1"]["last_trained_on"] == "2026-01-06"


def _who():
    from shared.auth import Principal

    return Principal(user_id="u-1", name="李干事", role="org_department", jurisdiction=COUNTY)


class Refused:
    """An `Applied` that must not be asked."""

    async def documents(self, projection: str) -> set[str]:
        raise AssertionError("asked the store for nothing to do")


def test_an_index_not_loaded_or_old_enough_to_reload_asks_nothing():
    db = MemoryDatabase()
    db["cadres"].docs["c1"] = cadre("c1", "王芳", "县财政局", 1)
    reads = Reads(db, stale_after=3600)
    run(reads.refresh(Refused()))  # the read loads it whole, with the write
    run(reads.registry(COUNTY))
    reads.stale_after = 0.0  # the read will reload it whole
    run(reads.refresh(Refused()))


def test_an_index_following_this_process_s_writers_asks_nothing():
    from types import SimpleNamespace

    from services.selection.reads import CADRES, CLASSES, HISTORIES

    db = MemoryDatabase()
    writers = [
        SimpleNamespace(projection=SimpleNamespace(name=n), observers=[], progress=[])
        for n in (CADRES, HISTORIES, CLASSES)
    ]
    reads = Reads(db, writers=lambda: writers)
    assert run(reads.index()).live
    run(reads.refresh(Refused()))


def _runtime():
    from services.selection.service import DEFINITION
    from shared.runtime import Runtime
    from shared.settings import Settings

    async def made():  # its Kafka producer wants a running loop; nothing here connects
        rt = Runtime(DEFINITION, Settings(service="selection", jurisdictions=[COUNTY], read_wait_seconds=0.2))
        await rt.producer.stop()
        return rt

    return asyncio.run(made())


def test_the_runtime_runs_the_hooks_on_a_fresh_wait_only_and_a_failing_one_makes_it_stale():
    rt = _runtime()
    db = MemoryDatabase()
    token = commit(db, "cadre-c9", [registered("c9")])
    rt.store_check = consistency.StoreCheck(db, {}, None, None)
    seen: list[set[str]] = []

    async def hook(done: consistency.Applied) -> None:
        seen.append(await done.documents("cadres"))

    rt.fresh_hooks[:] = [hook]  # selection's own (reads.refresh) replaced by this one
    for projection in ("cadres", "classes"):
        rt.progress.note(projection, [("cadre-c9", 1)])
    assert run(rt.wait_for([token])) == consistency.FRESH
    assert seen == [{"c9"}]
    later = consistency.Written("selection", COUNTY, "cadre-c9", 2)  # never folded: no store says so
    rt.store_check = consistency.StoreCheck(db, {}, None, None)
    assert run(rt.wait_for([later])) == consistency.STALE
    assert seen == [{"c9"}]

    async def failing(done: consistency.Applied) -> None:
        raise ConnectionError("store away")

    rt.fresh_hooks[:] = [failing]
    assert run(rt.wait_for([token])) == consistency.STALE


def test_selection_s_reads_register_their_refresh_with_the_runtime():
    rt = _runtime()
    assert [h.__self__ for h in rt.fresh_hooks] == [rt.handlers.reads]


class Named:
    """An `Applied` naming documents of some projections."""

    def __init__(self, **documents: set[str]) -> None:
        self.named = documents

    async def documents(self, projection: str) -> set[str]:
        return self.named.get(projection, set())


def trainee_file(cadre_id: str, name: str) -> dict:
    return {
        "_id": cadre_id,
        "_rev": 1,
        "_applied": {},
        "jurisdiction": COUNTY,
        "name": name,
        "unit": "县财政局",
    }


def test_an_api_only_follow_up_process_s_work_index_takes_the_named_files_and_only_them():
    from services.followup.reads import FILES
    from services.followup.reads import Reads as FollowupReads

    db = MemoryDatabase()
    db[FILES].docs["c1"] = trainee_file("c1", "王芳")
    reads = FollowupReads(db, stale_after=3600)
    ix = run(reads.work_index())
    loaded_at = ix.loaded_at
    db[FILES].docs["c9"] = trainee_file("c9", "李明")  # the token's
    db[FILES].docs["c3"] = trainee_file("c3", "张伟")  # a write nobody named
    run(reads.refresh(Named(files={"c9"})))
    ix = run(reads.work_index())
    assert sorted(ix.files) == ["c1", "c9"] and ix.loaded_at == loaded_at
    reads.stale_after = 0.0  # old enough: the read reloads it whole, nothing to take
    run(reads.refresh(Refused()))
    assert sorted(run(reads.work_index()).files) == ["c1", "c3", "c9"]


def test_follow_up_s_reads_register_their_refresh_with_the_runtime():
    from services.followup.service import DEFINITION
    from shared.runtime import Runtime
    from shared.settings import Settings

    async def made():
        rt = Runtime(DEFINITION, Settings(service="followup", jurisdictions=[COUNTY]))
        await rt.producer.stop()
        return rt

    rt = asyncio.run(made())
    assert [h.__self__ for h in rt.fresh_hooks] == [rt.handlers.reads]
