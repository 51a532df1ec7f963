"""Registry documents without their default fields: a cadre registered with 职务, 类别, 任现职级时间,
乡镇领导经历, 录用方式 and 录用年份 at their defaults is stored without them (FerretDB's CPU goes
with the elements it stores), and everything a clerk reads shows what it showed: the registry
list, a cadre's detail, the Excel export, a scope drawn, an import's decisions. Documents stored
before the change (every field in them) read the same beside the new ones, and so does the
read index made from the store (a restart) and the one following the writers (live). Nor does
the projector note an entry's plain values in its guard: the entry's own fold of an erasure
blanks them.

No server: the real handlers, reads and routes over the in-memory database the projections
fill (tests/unit/test_selection_handlers.py's World)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.selection import api_registry
from services.selection.cadres import FIELDS
from services.selection.domain import cadre_stream_id
from services.selection.importing import TEMPLATE
from services.selection.projections import cadres
from services.selection.read_index import ReadIndex, cadre_entry
from services.selection.reads import Reads
from shared.api import principal
from shared.commands import CommandHandler, Context
from shared.contracts.selection import CadreErased
from shared.memory import MemoryDatabase
from shared.personal import ERASED, Sealer, Vault
from shared.projection import PII
from shared.projector import ProjectionWriter, remember_pii
from tests.unit.test_own_appends_recalled import PEOPLE, _imported
from tests.unit.test_personal_data import idn
from tests.unit.test_projector_cache import records
from tests.unit.test_selection_handlers import COUNTY, DEPT, World, ctx, person

LEFT_OUT = ("position", "category", "rank_since", "township_leadership", "recruited_as", "recruited_year")
EVERY = {
    "position": "科长",
    "category": "经济发展",
    "rank_since": "2021-03-01",
    "township_leadership": True,
    "recruited_as": "选调生",
    "recruited_year": 2015,
}
BACK = {
    "position": "",
    "category": "",
    "rank_since": None,
    "township_leadership": False,
    "recruited_as": None,
    "recruited_year": None,
}


def stored(w: World, cid: str) -> dict:
    return w.db["cadres"].docs[cid]


def registry_world() -> tuple[World, dict[str, str]]:
    """张伟 with the defaults, 李明 with every field set, 王芳 set and changed back to the defaults
    (one CadreUpdated), and 赵强 with every default, stored as the projection wrote it before
    the change (each field in the document, as a rebuild leaves what it does not write)."""
    w = World()
    zhang, li, wang, zhao = w.register(
        person(1, "张伟"),
        person(2, "李明", unit="县委办", **EVERY),
        person(3, "王芳", **EVERY),
        person(4, "赵强", unit="县委办"),
    )
    w.run(w.h.update(ctx(DEPT), DEPT, wang, BACK))
    w.project()
    before = stored(w, zhao)
    before.update({**BACK, "cadre_id": zhao})  # every field, as main's projection stored it
    return w, {"张伟": zhang, "李明": li, "王芳": wang, "赵强": zhao}


def csv_file(*people: dict) -> bytes:
    """The import's file with every column (is 乡镇领导经历 是 or 否)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(TEMPLATE)
    for p in people:
        cells = {f: p.get(f) for f in FIELDS}
        cells["township_leadership"] = "是" if p.get("township_leadership") else "否"
        out.writerow(["" if cells[f] is None else cells[f] for f in FIELDS])
    return buf.getvalue().encode()


def app_of(w: World) -> TestClient:
    app = FastAPI()
    app.include_router(api_registry.router)
    app.state.handlers = w.h
    app.dependency_overrides[principal] = lambda: DEPT
    return TestClient(app)


def shown(cid: str, name: str, unit: str, seq: int, **fields) -> dict:
    """A cadre as the department's registry list shows them."""
    number = person(seq, name)["id_number"]
    return {
        "cadre_id": cid,
        "name": name,
        "gender": "男" if int(number[16]) % 2 else "女",
        "birth_date": "1990-05-01",
        "id_number": "371428********" + number[-4:],
        "unit": unit,
        "rank": "副科",
        "jurisdiction": COUNTY,
        **BACK,
        **fields,
    }


def test_a_cadre_with_the_defaults_is_stored_without_them_and_one_with_every_field_keeps_them():
    w, ids = registry_world()
    assert [f for f in LEFT_OUT if f in stored(w, ids["张伟"])] == []
    assert {f: stored(w, ids["李明"])[f] for f in LEFT_OUT} == EVERY
    # Set back to its default, a field is left out as one never set.
    assert [f for f in LEFT_OUT if f in stored(w, ids["王芳"])] == []
    from services.selection.projections import CADRE_DEFAULTS

    assert set(CADRE_DEFAULTS) == set(LEFT_OUT)  # the contract's defaults, nothing else


def test_the_registry_its_detail_and_its_export_show_every_field_of_either_shape():
    w, ids = registry_world()
    assert "position" not in stored(w, ids["张伟"]) and "position" in stored(w, ids["赵强"])
    expected = [
        shown(ids["李明"], "李明", "县委办", 2, **EVERY),
        shown(ids["赵强"], "赵强", "县委办", 4),
        shown(ids["张伟"], "张伟", "县财政局", 1),
        shown(ids["王芳"], "王芳", "县财政局", 3),
    ]
    # In the registry's order: 县委办 before 县财政局, then by name (张 U+5F20 < 王 U+738B).
    client = app_of(w)
    page = client.get("/cadres").json()
    assert page["total"] == 4 and page["items"] == expected
    # Sorted or filtered by a field left out, as before.
    assert [c["name"] for c in client.get("/cadres", params={"category": "经济发展"}).json()["items"]] == [
        "李明"
    ]
    assert [c["name"] for c in client.get("/cadres", params={"sort": "position"}).json()["items"]] == [
        "赵强",
        "张伟",
        "王芳",
        "李明",
    ]
    for want, seq in zip(expected, (2, 4, 1, 3), strict=True):
        detail = client.get(f"/cadres/{want['cadre_id']}").json()
        assert detail == {**want, "id_number": person(seq, want["name"])["id_number"]}

    sheet = load_workbook(io.BytesIO(client.get("/cadres", params={"format": "xlsx"}).content)).active
    rows = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [r[5:] for r in rows] == [
        ["科长", "副科", "经济发展", "2021-03-01", "是", "选调生", 2015],
        [None, "副科", None, None, "否", None, None],
        [None, "副科", None, None, "否", None, None],
        [None, "副科", None, None, "否", None, None],
    ]


def test_a_scope_drawn_reads_the_fields_left_out_as_their_defaults():
    w, ids = registry_world()
    w.open("k1", capacity=10)
    _, found = w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"categories": [""]}))
    assert [(c["name"], c["reasons"]) for c in found] == [
        ("赵强", ["类别为"]),
        ("张伟", ["类别为"]),
        ("王芳", ["类别为"]),
    ]
    _, found = w.run(w.h.draw_scope(ctx(DEPT), DEPT, "k1", {"township_priority": True, "ranks": ["副科"]}))
    assert [(c["name"], c["priority"]) for c in found] == [
        ("李明", True),
        ("赵强", False),
        ("张伟", False),
        ("王芳", False),
    ]


def test_an_import_decides_on_the_fields_left_out_as_their_defaults():
    """A row the registry holds unchanged is no change, and a changed one records only what
    changed: the registry's entries and the states read from the store see the defaults."""
    w, ids = registry_world()
    rows = [
        person(1, "张伟", unit="县审计局"),
        person(2, "李明", unit="县委办", **EVERY),
        person(3, "王芳"),
        person(4, "赵强", unit="县委办"),
    ]
    report = w.run(w.h.import_file(ctx(DEPT), DEPT, "名册.csv", csv_file(*rows)))
    assert (report["registered"], report["updated"], report["unchanged"]) == (0, 1, 3)
    last = w.run(w.store.read_stream(cadre_stream_id(ids["张伟"])))[-1]
    assert (last.type, last.payload["changes"]) == ("CadreUpdated", {"unit": "县审计局"})


def test_the_index_made_from_the_store_and_the_one_following_the_writers_hold_the_same_entries():
    w, ids = registry_world()
    loaded = {c["_id"]: dict(c) for c in w.run(Reads(w.db).registry(COUNTY))}  # a restart's load
    followed = ReadIndex()
    followed.observe_cadres([dict(d) for d in w.db["cadres"].docs.values()])  # the writers' documents
    assert {cid: dict(followed.cadres[cid]) for cid in ids.values()} == loaded
    for cid in ids.values():
        assert {f: loaded[cid][f] for f in LEFT_OUT} == ({**EVERY} if cid == ids["李明"] else BACK)
    assert cadre_entry({"_id": "x", "name": "甲", "unit": "乙"})["township_leadership"] is False
    assert date.fromisoformat(loaded[ids["李明"]]["rank_since"]) == date(2021, 3, 1)


def test_a_registry_entry_notes_no_plain_values_in_its_guard_and_an_erasure_still_blanks_it():
    """The projector noted the plain name, number and birth date of each registry entry in its
    guard (`_applied.＄pii`) for an erasure's scrub, 5 of its elements; the entry's own fold of
    the erasure blanks them (`_erased`), so none is noted, and an entry noted before is still
    blanked, its note with it."""

    async def main():
        vault_db, db = MemoryDatabase(), MemoryDatabase()
        _, sent = await _imported(vault_db)  # PEOPLE registered, sealed and relayed
        await ProjectionWriter(cadres, db, dead_letters=None, sealer=Sealer(Vault(vault_db))).handle(sent)
        docs = {d["_id"]: d async for d in db["cadres"].find({})}
        assert sorted(d["name"] for d in docs.values()) == sorted(name for _, name in PEOPLE)
        assert [cid for cid, d in docs.items() if PII in d["_applied"]] == []

        (first, first_name), (second, second_name) = PEOPLE[:2]
        # Stored before the change: noted in its guard.
        remember_pii(db["cadres"].docs[second], {second: {second_name, idn(1), "1988-06-12"}})
        erasures = []
        for cid in (first, second):
            await Vault(vault_db).erase(cid)
            ctx = Context(actor=DEPT.actor, jurisdiction=COUNTY, correlation_id="t")
            erasures += CommandHandler.envelopes(
                f"cadre-{cid}", 1, [CadreErased(cadre_id=cid, ground="ceased")], ctx
            )
        # Another process (nothing cached): the documents as stored.
        later = ProjectionWriter(cadres, db, dead_letters=None, sealer=Sealer(Vault(vault_db)))
        await later.handle(records(erasures, first_offset=len(sent)))
        for cid, name in ((first, first_name), (second, second_name)):
            doc = await db["cadres"].find_one({"_id": cid})
            assert (doc["name"], doc["id_number"], doc["birth_date"], doc["erased"]) == (
                ERASED,
                ERASED,
                None,
                True,
            )
            assert name not in str(doc) and idn(1) not in str(doc), doc
        assert (await db["cadres"].find_one({"_id": PEOPLE[2][0]}))["name"] == PEOPLE[2][1]

    asyncio.run(main())
