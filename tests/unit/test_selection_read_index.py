"""The in-memory read index, pure: it follows the projection writers' documents, never goes
back to an older revision, forgets what it computed when anything changes, and keeps its
own copy of a class document."""

from services.selection.read_index import ReadIndex


def cadre(cid: str, name: str, unit: str, rev: int, jurisdiction: str = "371428", **kw) -> dict:
    return {
        "_id": cid,
        "_rev": rev,
        "_applied": {"cadre-" + cid: rev},
        "name": name,
        "unit": unit,
        "rank": "科员",
        "jurisdiction": jurisdiction,
        "id_number": "371428199001011234",
        **kw,
    }


def test_the_registry_is_ordered_by_unit_and_name_within_the_jurisdiction():
    ix = ReadIndex()
    ix.observe_cadres(
        [
            cadre("c1", "王芳", "县财政局", 1),
            cadre("c2", "李明", "县财政局", 1),
            cadre("c3", "张伟", "县委办", 1),
            cadre("c4", "赵强", "县财政局", 1, jurisdiction="330500"),
        ]
    )
    # 县委办 before 县财政局 (委 U+59D4 < 财 U+8D22), then by name within a unit.
    assert [d["name"] for d in ix.registry("371428")] == ["张伟", "李明", "王芳"]
    assert [d["name"] for d in ix.registry("371428", unit="县委办")] == ["张伟"]
    assert [d["name"] for d in ix.registry("330500")] == ["赵强"]
    assert "_applied" not in ix.cadres["c1"] and "王芳县财政局" in ix.cadres["c1"]["_key"].replace("\x01", "")


def test_an_older_revision_never_replaces_a_newer_one():
    ix = ReadIndex()
    ix.observe_cadres([cadre("c1", "王芳", "县财政局", 3)])
    ix.observe_cadres([cadre("c1", "王芳（旧）", "县教育局", 2)])  # a load that read before the write
    assert ix.cadres["c1"]["name"] == "王芳"


def test_what_was_computed_is_forgotten_when_an_entry_changes():
    ix = ReadIndex()
    ix.observe_cadres([cadre("c1", "王芳", "县财政局", 1)])
    assert [d["name"] for d in ix.registry("371428", sort="name")] == ["王芳"]
    ix.observe_cadres([cadre("c0", "艾青", "县财政局", 1)])
    assert [d["name"] for d in ix.registry("371428", sort="name")] == ["王芳", "艾青"]  # U+738B < U+827E
    calls = []
    ix.memo(("x",), lambda: calls.append(1))
    ix.memo(("x",), lambda: calls.append(1))
    assert calls == [1]
    ix.observe_histories([{"_id": "c1", "_rev": 1, "last_trained_on": "2025-06-30", "hours": {"2025": 40}}])
    ix.memo(("x",), lambda: calls.append(1))
    assert calls == [1, 1] and ix.histories["c1"]["last_trained_on"] == "2025-06-30"


def test_a_class_document_is_the_index_own_copy():
    ix = ReadIndex()
    doc = {
        "_id": "k1",
        "_rev": 1,
        "_applied": {"class-k1": 2},
        "jurisdiction": "371428",
        "nominations": [{"cadre_id": "c1", "status": "nominated"}],
    }
    ix.observe_classes([doc])
    doc["nominations"][0]["status"] = "confirmed"  # the writer folding its next batch in place
    assert ix.classes["k1"]["nominations"][0]["status"] == "nominated"
    assert "_applied" not in ix.classes["k1"]


def test_the_reads_follow_this_process_s_projection_writers_once_it_has_them():
    import asyncio
    from types import SimpleNamespace

    from services.selection.reads import CADRES, CLASSES, HISTORIES, Reads
    from shared.memory import MemoryDatabase

    db = MemoryDatabase()
    db["cadres"].docs["c1"] = cadre("c1", "王芳", "县财政局", 1)
    started: list = []  # the runtime's projectors, none yet
    reads = Reads(db, writers=lambda: started, stale_after=3600)

    async def names() -> list[str]:
        return [d["name"] for d in await reads.registry("371428")]

    assert asyncio.run(names()) == ["王芳"]  # loaded once, not following anything
    db["cadres"].docs["c2"] = cadre("c2", "李明", "县财政局", 1)
    assert asyncio.run(names()) == ["王芳"]  # a reload only when stale
    started += [
        SimpleNamespace(projection=SimpleNamespace(name=n), observers=[], progress=[])
        for n in (CADRES, HISTORIES, CLASSES)
    ]
    assert asyncio.run(names()) == ["李明", "王芳"]
    assert started[0].observers and asyncio.run(reads.index()).live
    started[0].observers[0]([cadre("c3", "张伟", "县委办", 1)])  # the writer's next write
    assert asyncio.run(names()) == ["张伟", "李明", "王芳"]


def test_a_list_is_kept_while_only_what_it_was_not_made_from_changes():
    ix = ReadIndex()
    ix.observe_cadres([cadre("c1", "王芳", "县财政局", 1)])
    ix.observe_classes([{"_id": "k1", "_rev": 1, "jurisdiction": "371428", "starts_on": "2026-03-01"}])
    registry, classes = ix.registry("371428"), ix.class_list("371428")
    # A graduation changes a history: neither the registry's order nor the class list is made again.
    ix.observe_histories([{"_id": "c1", "_rev": 1, "last_trained_on": "2026-03-05", "hours": {"2026": 32}}])
    assert ix.registry("371428") is registry and ix.class_list("371428") is classes
    ix.observe_cadres([cadre("c2", "李明", "县财政局", 1)])
    assert ix.class_list("371428") is classes
    assert [d["name"] for d in ix.registry("371428")] == ["李明", "王芳"]
    ix.observe_classes([{"_id": "k2", "_rev": 1, "jurisdiction": "371428", "starts_on": "2026-01-01"}])
    assert [r["class_id"] for r in ix.class_list("371428")] == ["k2", "k1"]


def test_the_registry_s_order_follows_renames_moves_and_a_reload():
    import random

    rnd = random.Random(7)
    units, names = ["县委办", "县财政局", "县教育局"], ["王芳", "李明", "张伟", "赵强", "刘洋"]
    ix, revs = ReadIndex(), {}
    for _ in range(300):
        cid = f"c{rnd.randrange(40)}"
        revs[cid] = revs.get(cid, 0) + 1
        ix.observe_cadres([cadre(cid, rnd.choice(names), rnd.choice(units), revs[cid])])
        if rnd.random() < 0.1:  # an older copy arriving late changes nothing
            ix.observe_cadres([cadre(cid, "旧名", "旧单位", revs[cid] - 1)])
    expected = sorted(ix.cadres.values(), key=lambda d: (d["unit"], d["name"], d["_id"]))
    assert [d["_id"] for d in ix.registry("371428")] == [d["_id"] for d in expected]
    again = ReadIndex()
    again.fill(list(ix.cadres.values()), {})
    assert [d["_id"] for d in again.registry("371428")] == [d["_id"] for d in expected]


def test_the_index_worker_makes_the_report_pages_lists_once_the_index_is_still():
    """The first clerk after a change finds the registry and the reports made: what the
    routes ask for (same keys as api_registry.py) is kept, and a change makes them again."""
    import asyncio

    from services.selection import scope as sc
    from services.selection.service import keep_index
    from shared.memory import MemoryDatabase

    db = MemoryDatabase()
    db["cadres"].docs["c1"] = cadre("c1", "王芳", "县财政局", 1)
    writers, reads, rt, policy, today = _worker_world(db)

    async def scenario() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(keep_index(rt, stop, quiet=0.05))
        ix = await reads.index()

        async def kept(key: tuple) -> bool:
            for _ in range(100):
                if key in ix._memo:
                    return True
                await asyncio.sleep(0.02)
            return False

        coverage_key = ("coverage", "371428", today, repr(policy))
        assert await kept(coverage_key) and await kept(("hours", "371428", 2026, repr(policy)))
        made = ix._memo[coverage_key]
        assert (await reads.report(sc.coverage, "overdue", "371428", today, policy))[1] is made["overdue"]
        assert [r["name"] for r in made["overdue"]] == ["王芳"]
        writers[1].observers[0]([{"_id": "c1", "_rev": 1, "last_trained_on": "2026-06-30", "hours": {}}])
        assert coverage_key not in ix._memo  # dropped by the change
        assert await kept(coverage_key) and ix._memo[coverage_key]["overdue"] == []  # made again
        stop.set()
        await worker

    asyncio.run(scenario())


def _worker_world(db):
    """Stand-ins for this process's three writers, reads following them, and the runtime the
    index worker is given (its clock's day, the hours policy, one county)."""
    from datetime import date
    from types import SimpleNamespace

    from services.selection import scope as sc
    from services.selection.reads import CADRES, CLASSES, HISTORIES, Reads

    writers = [
        SimpleNamespace(projection=SimpleNamespace(name=n), observers=[], progress=[])
        for n in (CADRES, HISTORIES, CLASSES)
    ]
    reads = Reads(db, writers=lambda: writers)
    policy, today = sc.HoursPolicy(), date(2026, 11, 29)
    rt = SimpleNamespace(
        handlers=SimpleNamespace(
            reads=reads,
            clock=SimpleNamespace(today=lambda: _now(today)),
            settings=SimpleNamespace(hours_policy=policy),
        ),
        settings=SimpleNamespace(jurisdictions=["371428"]),
    )
    return writers, reads, rt, policy, today


async def _now(day):
    return day


def _count_warms(reads) -> list[int]:
    """A list that gets an entry each time the worker makes the index's lists (`Reads.warm`)."""
    made: list[int] = []
    real_warm = reads.warm

    async def counted(*args) -> None:
        made.append(1)
        await real_warm(*args)

    reads.warm = counted
    return made


async def _first_warm(made: list[int]) -> list[int]:
    """`made` once the worker has made the lists, or after 5 s."""
    import asyncio

    for _ in range(250):
        if made:
            break
        await asyncio.sleep(0.02)
    return made


def test_the_index_worker_makes_nothing_while_the_index_keeps_changing():
    """While the projectors catch up, every batch changes the index: the worker waits for a
    still moment instead of making 20,000-row reports that the next batch unmakes."""
    import asyncio

    from services.selection.service import keep_index
    from shared.memory import MemoryDatabase

    writers, reads, rt, policy, today = _worker_world(MemoryDatabase())
    made = _count_warms(reads)

    async def scenario() -> None:
        await reads.index()
        stop = asyncio.Event()
        # Still for 0.5 s: ten times the batches' gap, so a stall of the loop under load is not one.
        worker = asyncio.create_task(keep_index(rt, stop, quiet=0.5))
        for rev in range(1, 31):  # a batch every 20 ms for 0.6 s
            writers[0].observers[0]([cadre("c1", "王芳", "县财政局", rev)])
            await asyncio.sleep(0.02)
        assert made == []
        assert await _first_warm(made) == [1]
        stop.set()
        await worker

    asyncio.run(scenario())


def test_kept_lists_are_bounded_by_their_rows_the_least_recently_used_forgotten_first(monkeypatch):
    """Reports asked for many years, dates and sorts were each kept (up to 64 of them, a
    20,000-cadre report ~10 MB): past MEMO_ROWS rows the least recently used is forgotten,
    and a list read meanwhile stays."""
    from services.selection import read_index

    monkeypatch.setattr(read_index, "MEMO_ROWS", 250)
    ix = ReadIndex()
    made = []

    def report(year: int) -> list:
        return ix.memo(("hours", year), lambda: made.append(year) or [{"n": i} for i in range(100)])

    report(2024), report(2025)
    report(2024)  # read again: now the more recent
    report(2026)  # 300 rows: the least recently used (2025) is forgotten
    assert ix.rows_kept == 200 and made == [2024, 2025, 2026]
    report(2024), report(2026)
    assert made == [2024, 2025, 2026]  # both still kept
    report(2025)
    assert made == [2024, 2025, 2026, 2025] and ix.rows_kept == 200
    ix.memo(("text", 1), lambda: ([{}] * 20, ("王芳", [0] * 20)))  # a list and its search text
    assert ix.rows_kept == 240
    ix.forget()
    assert ix.rows_kept == 0


def test_the_index_worker_makes_nothing_while_the_projectors_batches_are_full():
    """A backlog folded under load: each full batch takes longer than the quiet second, and
    the worker made the 20,000-row reports between every two batches (a fifth of the
    process's CPU). While the last batch was full it waits `behind_quiet`; the last, partial
    batch of the backlog lets it make them after the quiet second."""
    import asyncio

    from services.selection.service import keep_index
    from shared.memory import MemoryDatabase

    writers, reads, rt, policy, today = _worker_world(MemoryDatabase())
    reads.batch = 3
    made = _count_warms(reads)

    async def batch(rev: int, events: int) -> None:
        writers[0].observers[0]([cadre("c1", "王芳", "县财政局", rev)])
        for w in writers:  # every writer folds the same batch
            for report in w.progress:
                report([("cadre-c1", rev)] * events)

    async def scenario() -> None:
        await reads.index()
        stop = asyncio.Event()
        worker = asyncio.create_task(keep_index(rt, stop, quiet=0.05, behind_quiet=30))
        for rev in range(1, 4):  # full batches, each after a still 0.25 s
            await batch(rev, 3)
            await asyncio.sleep(0.25)
        assert made == [] and (await reads.index()).behind
        await batch(4, 1)  # the backlog's last batch
        assert await _first_warm(made) == [1]
        stop.set()
        await worker

    asyncio.run(scenario())


# long: a class as the county holds it, then what the index holds of 200 and reads back
def test_five_years_of_classes_are_held_small_and_read_as_written():
    """The 500 classes of 50 nominations of five years (100 a year) were 40.5 MB of selection's
    process as dicts, most of its growth past 200 MB while folding five years (issue 16,
    memory per service): held as BSON they are well under half of it, and read back the same.
    200 of them here (tracemalloc is slow)."""
    import json
    import tracemalloc

    def klass(i: int) -> dict:
        return {
            "_id": f"k{i}",
            "_rev": 3,
            "_applied": {f"class-k{i}": 3},
            "jurisdiction": "371428",
            "title": f"2024年第{i}期科级干部进修班",
            "starts_on": "2024-03-01",
            "capacity": 50,
            "quotas": {"县财政局": 5},
            "nominations": [  # as the bench's county holds them (bench/history.py)
                {
                    "cadre_id": f"cd-{i}-{n}",
                    "name": f"王芳{n}",
                    "unit": "县财政局",
                    "status": "confirmed",
                    "home_jurisdiction": None,
                    "reason": "",
                    "group": None,
                    "from_waitlist": False,
                    "by": "县委组织部干部科",
                    "at": f"2024-02-{i % 28 + 1:02d}T09:00:{n:02d}+00:00",
                    "decided_by": "县委组织部干部科",
                    "decided_at": f"2024-02-{i % 28 + 1:02d}T10:00:{n:02d}+00:00",
                }
                for n in range(50)
            ],
        }

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ix = ReadIndex()
        for i in range(200):
            # Each value its own object, as the writer's fold or the driver makes them (not this
            # file's shared constants); the writer's copy is then dropped (its cache is bounded).
            doc = json.loads(json.dumps(klass(i)))
            ix.observe_classes([doc])
            if i == 7:
                seventh = doc
        for i in range(200):  # every class read once: the decoded ones kept are bounded
            assert ix.classes.get(f"k{i}")["nominations"][49]["cadre_id"] == f"cd-{i}-49"
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 8 * 2**20, held  # as dicts (the deep copies before): 11 MiB; here 6.2
    seventh["nominations"][0]["status"] = "rejected"  # the writer folding in place
    seventh["quotas"]["县财政局"] = 9
    assert ix.classes["k7"]["nominations"][0]["status"] == "confirmed"
    assert (
        ix.class_rows["k7"]["quotas"] == {"县财政局": 5} and ix.class_rows["k7"]["counts"]["confirmed"] == 50
    )
    assert ix.classes["k7"] == {k: v for k, v in klass(7).items() if k != "_applied"}
    ix.observe_classes([{**klass(7), "_rev": 2, "title": "旧"}])  # an older revision read by a load
    assert ix.classes["k7"]["title"] == "2024年第7期科级干部进修班"


def test_a_cadres_yearly_hours_share_their_year_keys_and_read_as_written():
    """Five years of hours for each of a county's 20,000 cadres: decoded, every year key
    ("2026") was a string of its own, a third of what the summaries took (16.9 MB; interned
    11.8 MB; issue 16, memory per service). 2,000 of them here."""
    import tracemalloc

    import bson

    raw = [
        bson.encode({"_id": f"c{i}", "_rev": 4, "hours": {str(y): 12.5 + i % 7 for y in range(2022, 2027)}})
        for i in range(2000)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ix = ReadIndex()
        ix.observe_histories([bson.decode(r) for r in raw])  # as the writer's fold or a load makes them
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 2000 < 760, held / 2000  # each year key its own: ~880 bytes a cadre; shared ~620
    assert ix.histories["c7"]["hours"] == {
        "2022": 12.5,
        "2023": 12.5,
        "2024": 12.5,
        "2025": 12.5,
        "2026": 12.5,
    }


def test_a_county_s_registry_and_summaries_are_held_small_and_read_as_written():
    """A county's 20,000 registry entries and their summaries were ~22 MB of the read index, a
    dict of its own per entry (issue 16, memory per service): each entry now shares its keys
    with the others and a summary keys on its entry's own id, and every entry reads as the
    dict it was. 2,000 cadres here."""
    import json
    import tracemalloc

    import bson

    def registered(i: int) -> dict:
        return {
            **cadre(f"cd-{i:016x}", f"王芳{i}", "县财政局", 2, id_number=f"37142819900101{i:04d}"),
            "gender": "女",
            "birth_date": "1990-01-01",
            "position": "科员",
            "category": "经济发展",
            "rank_since": "2021-03-01",
            "township_leadership": False,
            "recruited_as": "选调生",
            "recruited_year": 2015,
        }

    raw = [bson.encode(registered(i)) for i in range(2000)]
    summaries = [
        bson.encode(
            {"_id": f"cd-{i:016x}", "_rev": 9, "last_trained_on": "2025-06-30", "hours": {"2025": 32.0}}
        )
        for i in range(2000)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ix = ReadIndex()
        for at in range(0, 2000, 500):  # as the writer's fold or a load makes them, batch by batch
            ix.observe_cadres([bson.decode(r) for r in raw[at : at + 500]])
            ix.observe_histories([bson.decode(r) for r in summaries[at : at + 500]])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 2000 < 1_350, held / 2000  # a dict each, the id twice: ~1,580 bytes a cadre; now ~1,190
    entry = ix.cadres["cd-0000000000000007"]
    assert type(entry) is dict and entry == {
        **{k: v for k, v in registered(7).items() if k != "_applied"},
        "_key": "王芳7\x01县财政局",
    }
    assert json.loads(json.dumps(entry)) == entry and {**entry, "name": "李明"}["name"] == "李明"
    assert ix.histories["cd-0000000000000007"] == {
        "_rev": 9,
        "last_trained_on": "2025-06-30",
        "hours": {"2025": 32.0},
    }
    assert [d["_id"] for d in ix.registry("371428")][:2] == ["cd-0000000000000000", "cd-0000000000000001"]


def test_a_fold_s_writes_of_classes_leave_none_of_them_decoded_and_each_compressed():
    """A fold writes each class again and again: the row the class list shows is made after
    each write, and the class is then held as compressed BSON only. The DECODED_MAX classes
    written last were kept decoded as well (~80 kB a class of 50 nominations, as dicts), until
    reads came, and each class as BSON as it is."""
    import json
    import tracemalloc

    def klass(i: int) -> dict:
        nominations = [
            {
                "cadre_id": f"cd-{i}-{n}",
                "name": f"王芳{n}",
                "unit": "县财政局",
                "status": "confirmed",
                "by": "县委组织部干部科",
            }
            for n in range(50)
        ]
        return {
            "_id": f"k{i}",
            "_rev": 3,
            "jurisdiction": "371428",
            "title": f"第{i}期",
            "nominations": nominations,
        }

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ix = ReadIndex()
        for i in range(64):
            ix.observe_classes([json.loads(json.dumps(klass(i)))])  # the writer's copy, then dropped
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # The last 32 decoded too: ~31,000 bytes a class; as BSON only ~8,300; compressed ~2,500.
    assert held / 64 < 5_000, held / 64
    assert (
        ix.class_rows["k7"]["counts"]["confirmed"] == 50
        and ix.classes["k7"]["nominations"][49]["name"] == "王芳49"
    )


def test_the_registry_s_order_holds_no_more_than_each_entry_s_id():
    """What the index adds to a registry entry the writer made: the entry (its keys shared),
    its search key, and a place in the registry's order and in the index's table. The order
    held a tuple (unit, name, id) of its own per entry, 64 bytes at each of 20,000 cadres."""
    import tracemalloc

    import bson

    docs = [bson.decode(bson.encode(cadre(f"cd-{i:016x}", f"王芳{i}", "县财政局", 2))) for i in range(4000)]
    ix = ReadIndex()
    ix.observe_cadres(docs[:1])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ix.observe_cadres(docs[1:])  # the writer's documents, kept by it meanwhile
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 3999 < 385, held / 3999  # a tuple each: ~420 bytes a cadre; now ~355
    assert [d["name"] for d in ix.registry("371428")][:3] == ["王芳0", "王芳1", "王芳10"]
    ix.observe_cadres([cadre("cd-0000000000000001", "艾青", "县委办", 3)])  # renamed and moved
    assert [d["name"] for d in ix.registry("371428")][:3] == ["艾青", "王芳0", "王芳10"]


def test_a_load_holds_a_batch_of_classes_decoded_at_a_time_not_all_of_them():
    """The load's scan of the classes: the driver decodes a batch of documents at a time (by
    default every one that fits in 16 MB, so the five-year county's 500 classes at once, ~40 MB
    of objects, whose freed pools stayed with the process). Held as they come, a small batch
    at a time, the load's peak is a few classes, and each reads as stored."""
    import asyncio
    import tracemalloc

    import bson

    from services.selection.projections import nominations_in_full
    from services.selection.reads import Reads

    class Scan:
        """A collection as the driver reads it: `batch_size` documents decoded at a time."""

        def __init__(self, docs: list[dict]) -> None:
            self.raw = [bson.encode(d) for d in docs]

        def find(self, flt: dict, projection: dict, batch_size: int = 0):
            async def batches():
                step = batch_size or len(self.raw) or 1
                for at in range(0, len(self.raw), step):
                    for d in [bson.decode(r) for r in self.raw[at : at + step]]:
                        yield d

            return batches()

    def klass(i: int) -> dict:
        return {
            "_id": f"k{i:03d}",
            "_rev": 2,
            "jurisdiction": "371428",
            "title": f"第{i}期",
            "scope": {"criteria": {}, "cadre_ids": [f"cd-{i:03d}-{n:012x}" for n in range(400)]},
            "nominations": [
                {
                    "cadre_id": f"cd-{i:03d}-{n:012x}",
                    "name": f"王芳{n}",
                    "unit": "县财政局",
                    "status": "confirmed",
                }
                for n in range(50)
            ],
        }

    db = {"cadres": Scan([]), "histories": Scan([]), "classes": Scan([klass(i) for i in range(200)])}
    reads = Reads(db)
    tracemalloc.start()
    try:
        asyncio.run(reads._load(reads._index))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 2**20, peak  # every class decoded at once: ~14.6 MB at the peak; now ~3.4
    ix = reads._index
    assert len(ix.classes) == 200 and ix.classes["k123"] == nominations_in_full(klass(123))
    assert (
        ix.class_rows["k123"]["scope"]["count"] == 400 and ix.class_rows["k123"]["counts"]["confirmed"] == 50
    )
