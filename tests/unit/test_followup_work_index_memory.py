"""What follow-up's work list holds in memory per trainee file (issue 16: memory per service
under 200 MB; at five years a county holds ~25,000 graduates' files in the work index):
the texts many files repeat are held once, and a file of one class's four milestones stays
within a small bound, while the rows and the unit's talks read the same as before."""

from __future__ import annotations

import json
import tracemalloc

from services.followup.work_index import WorkIndex, file_entry

CODE = "371428"
FOCUS = {1: "听思想", 3: "谈表现", 6: "考素质", 12: "看实绩"}


def trainee_file(i: int) -> dict:
    """A graduate's file as the `files` projection writes it, decoded from the store's bytes
    (each file its own copies of every text, as a scan of the collection gives them)."""
    milestones = {
        str(month): {
            "month": month,
            "focus": focus,
            "due_on": f"2026-{month if month < 12 else 11:02d}-15",
            "grace_days": 14,
            "status": "completed" if month == 1 else "scheduled",
            "required_roles": ["self", "colleague", "unit_leader"],
            "evaluations": [{"role": "self"}] if month == 1 else [],
        }
        for month, focus in FOCUS.items()
    }
    doc = {
        "_id": f"cd-{i:04d}",
        "_rev": 3,
        "cadre_id": f"cd-{i:04d}",
        "name": f"学员{i}",
        "unit": "县财政局" if i % 2 else "县教育局",
        "jurisdiction": CODE,
        "classes": {
            "k1": {
                "class_id": "371428-h2026-001",
                "name": f"学员{i}",
                "unit": "县财政局" if i % 2 else "县教育局",
                "mentor": {"name": "周导师"},
                "milestones": milestones,
                "talks": [{"on": "2026-03-01", "title": "学习体会"}] if i == 7 else [],
            }
        },
    }
    return json.loads(json.dumps(doc, ensure_ascii=False))


def test_the_files_of_one_class_share_its_texts_and_each_stays_small():
    docs = [trainee_file(i) for i in range(200)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        entries = [file_entry(d) for d in docs]
        per_file = (tracemalloc.get_traced_memory()[0] - before) / len(entries)
    finally:
        tracemalloc.stop()
    # Four milestones as dicts of their own strings took ~3,000 bytes a file here (now ~1,600).
    assert per_file < 2_000, per_file
    a, b = entries[0]["milestones"][1], entries[1]["milestones"][1]
    assert a.class_id is b.class_id and a.due_on is b.due_on and a.focus is b.focus


def test_the_week_s_rows_and_a_unit_s_talks_read_as_before():
    ix = WorkIndex()
    ix.observe_files([trainee_file(i) for i in range(10)])
    rows = ix.rows(CODE, "2026-03-09", "2026-03-15", None)
    assert len(rows) == 10 and {r["month"] for r in rows} == {3}
    row = next(r for r in rows if r["cadre_id"] == "cd-0003")
    assert row == {
        "cadre_id": "cd-0003",
        "name": "学员3",
        "unit": "县财政局",
        "class_id": "371428-h2026-001",
        "month": 3,
        "focus": "谈表现",
        "due_on": "2026-03-15",
        "status": "due",
        "status_name": "待完成",
        "missing_roles": ["self", "colleague", "unit_leader"],
        "mentor": "周导师",
        "_key": row["_key"],
    }
    talks, people = ix.unit_people(CODE, "县财政局")
    assert talks == [
        {
            "on": "2026-03-01",
            "title": "学习体会",
            "cadre_id": "cd-0007",
            "name": "学员7",
            "unit": "县财政局",
            "class_id": "371428-h2026-001",
        }
    ]
    assert people["371428-h2026-001"] >= {"cd-0001", "学员1", "cd-0009"}


def test_the_work_index_is_loaded_from_the_scan_a_chunk_at_a_time_without_the_guard(monkeypatch):
    """A restarted process loads every file: at 20,000 cadres × three years the files as one
    list were 278 MiB of Python objects for an index of 22 MiB, and the process kept 327–436
    MB. They are folded as the scan reads them, at most LOAD_CHUNK held, and the index and
    its rows are the same."""
    import asyncio

    from services.followup import reads as fr
    from shared.memory import MemoryDatabase

    monkeypatch.setattr(fr, "LOAD_CHUNK", 3)
    db = MemoryDatabase()
    for i in range(10):
        db[fr.FILES].docs[f"cd-{i:04d}"] = {**trainee_file(i), "_applied": {f"followup-{i}": 9}}
    held: list[int] = []
    observe = WorkIndex.observe_files

    def counted(self, docs):
        held.append(len(docs))
        assert all("_applied" not in d for d in docs)
        observe(self, docs)

    monkeypatch.setattr(WorkIndex, "observe_files", counted)
    reads = fr.Reads(db, stale_after=3600)
    ix = asyncio.run(reads.work_index())
    assert max(held) <= 3 and sum(held) == 10 and ix.loaded_at is not None
    whole = WorkIndex()
    observe(whole, [trainee_file(i) for i in range(10)])
    assert ix.files == whole.files
    assert ix.rows(CODE, "2026-03-09", "2026-03-15", None) == whole.rows(
        CODE, "2026-03-09", "2026-03-15", None
    )
