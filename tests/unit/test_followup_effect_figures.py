"""The class effect report (培训成效报告) answers from `class_figures`, one document per class
keeping only what the report counts (projections.py), not from the class's whole follow-up
(`class_effect`). Given a class's follow-up over months (evaluations on time and late, an
overdue milestone, a mentor replaced, tasks, a talk, outcomes endorsed), the report and its
Excel show exactly what the whole document gave, to every reader, from a smaller document."""

import json
from datetime import date

from services.followup import report
from services.followup.projections import class_effect, class_figures
from shared import visibility
from shared.auth import Principal
from shared.personal import ERASED
from shared.projector import remember_pii, scrub
from tests.unit.test_followup_handlers import (
    CODE,
    DEPT,
    GRADUATED,
    MENTOR,
    OTHER_MENTOR,
    UNIT,
    ZHANG,
    World,
    ctx,
    graduations,
    run,
    scores,
)

ANALYST = Principal(user_id="an-1", name="统计员", role="analyst", jurisdiction=CODE)
LI = Principal(user_id="b", name="李四", role="trainee", jurisdiction=CODE)


def a_class_followed_for_three_months() -> World:
    w = World()
    w.given = graduations("k1", {"a": "张三", "b": "李四", "c": "王五"})
    w.sync()
    w.on(GRADUATED)
    run(w.h.assign_mentor(ctx(DEPT), DEPT, "k1", "a", OTHER_MENTOR.user_id, OTHER_MENTOR.name, "副局长"))
    run(w.h.assign_mentor(ctx(DEPT), DEPT, "k1", "a", MENTOR.user_id, MENTOR.name, "县发改局局长"))
    w.on(date(2026, 2, 16))
    run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 1, "self", None, scores(1, 91.5), "有收获。"))
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "colleague", "钱同事", scores(1, 80), "踏实。"))
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "a", 1, "unit_leader", "孙局长", scores(1, 77.25), "肯干。"))
    run(w.h.evaluate(ctx(LI), LI, "k1", "b", 1, "self", None, scores(1, 66), "还需努力。"))
    for task in ("core_decision", "urgent_matter"):
        run(w.h.complete_mentor_task(ctx(MENTOR), MENTOR, "k1", "a", task, "党组会议纪要", "有见地。"))
    w.on(date(2026, 3, 3))  # past the grace period: b's and c's first milestones overdue
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "b", 1, "colleague", "钱同事", scores(1, 70), ""))
    run(w.h.evaluate(ctx(UNIT), UNIT, "k1", "b", 1, "unit_leader", "孙局长", scores(1, 72.5), ""))
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局全体干部", "学习体会", 30))
    run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-1", "report", "乡村振兴调研报告", ["张三", "李四"]))
    run(w.h.report_outcome(ctx(DEPT), DEPT, "k1", "o-2", "proposal", "简化审批的建议", ["王五"]))
    run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-1", "approval", "县委书记", date(2026, 3, 3), "可推广"))
    w.on(date(2026, 4, 16))
    q = {k: v for k, v in zip(scores(3), (88, 79.5, 93))}
    run(w.h.evaluate(ctx(ZHANG), ZHANG, "k1", "a", 3, "self", None, q, "学以致用。"))
    w.sync()
    return w


def as_the_whole_document_gave(w: World, who: Principal) -> dict:
    """The report as reads.class_effect computed it before: from the class_effect document."""
    doc = run(w.db[class_effect.collection].find_one({"_id": "k1"}))
    effect = report.class_effect(doc)
    effect["by_trainee"] = visibility.rows(effect["by_trainee"], who.role)
    effect["outcomes"]["items"] = [visibility.unnamed(o, who.role) for o in effect["outcomes"]["items"]]
    return {**effect, "class_title": "中青年干部培训班"}


def cells(book) -> dict:
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def test_the_report_from_the_class_figures_shows_what_the_whole_class_document_showed():
    w = a_class_followed_for_three_months()
    for who in (DEPT, ANALYST):
        effect = run(w.h.reads.class_effect(who, "k1"))
        assert effect == as_the_whole_document_gave(w, who)
        assert cells(report.effect_workbook(effect)) == cells(
            report.effect_workbook(as_the_whole_document_gave(w, who))
        )
    effect = run(w.h.reads.class_effect(DEPT, "k1"))
    # what the page shows, as a user would check it
    assert (effect["trainees"], effect["milestones_due"], effect["milestones_completed"]) == (3, 6, 2)
    assert (effect["milestones_on_time"], effect["milestones_overdue_open"]) == (1, 1)
    assert effect["scores_by_month"] == {"1": 76.21, "3": 86.83}
    by_name = {t["name"]: t for t in effect["by_trainee"]}
    assert (by_name["张三"]["mentor"], by_name["张三"]["mentor_tasks_done"], by_name["张三"]["talks"]) == (
        "王局长",
        2,
        1,
    )
    assert by_name["李四"]["completion_rate"] == 0.5 and by_name["李四"]["on_time_rate"] == 0.0
    assert (
        effect["outcomes"]["reports"],
        effect["outcomes"]["proposals"],
        effect["outcomes"]["approvals"],
    ) == (
        1,
        1,
        1,
    )
    assert [o["authors"] for o in effect["outcomes"]["items"]] == [["张三", "李四"], ["王五"]]


def test_the_report_reads_only_the_class_figures_a_fraction_of_the_class_document():
    w = a_class_followed_for_three_months()
    whole = run(w.db[class_effect.collection].find_one({"_id": "k1"}))
    figures = run(w.db[class_figures.collection].find_one({"_id": "k1"}))
    assert len(json.dumps(figures, ensure_ascii=False)) < 0.6 * len(json.dumps(whole, ensure_ascii=False))
    expected = run(w.h.reads.class_effect(DEPT, "k1"))
    run(w.db[class_effect.collection].delete_many({}))  # the report no longer reads it
    assert run(w.h.reads.class_effect(DEPT, "k1")) == expected


def test_an_erased_trainee_and_mentor_are_blanked_in_the_class_figures_and_a_classmate_keeps_their_name():
    """Erasure scrubs every read model the same way (shared/projector.py): the figures keep the
    trainee's and the mentor's ids beside their names, so only their entries are blanked."""
    w = a_class_followed_for_three_months()
    figures = w.db[class_figures.collection]
    doc = run(figures.find_one({"_id": "k1"}))
    remember_pii(doc, {"a": {"张三"}, "b": {"李四"}, MENTOR.user_id: {MENTOR.name}})  # as the projector notes
    scrub(doc, "a")
    scrub(doc, MENTOR.user_id)
    run(figures.replace_one({"_id": "k1"}, doc))
    rows = {t["cadre_id"]: t for t in run(w.h.reads.class_effect(DEPT, "k1"))["by_trainee"]}
    assert (rows["a"]["name"], rows["a"]["mentor"], rows["b"]["name"]) == (ERASED, ERASED, "李四")


def test_a_process_following_its_figures_writer_keeps_the_report_until_the_writer_writes_the_class():
    """Where this process's `class_figures` writer is followed, a class's report is made once
    and kept: the next reader reads nothing from the store, each role still sees it as its
    role may; a write of the class's figures makes the next reader's report anew."""
    from types import SimpleNamespace

    from services.followup.reads import Reads

    w = a_class_followed_for_three_months()
    writer = SimpleNamespace(projection=SimpleNamespace(name=class_figures.collection), observers=[])
    reads = Reads(w.db, writers=lambda: [writer])
    first = run(reads.class_effect(DEPT, "k1"))
    assert first == as_the_whole_document_gave(w, DEPT) and writer.observers
    figures = w.db[class_figures.collection]
    held = figures.docs.pop("k1")  # the store no longer has it: a kept report is not read again
    assert run(reads.class_effect(DEPT, "k1")) == first
    assert run(reads.class_effect(ANALYST, "k1")) == as_the_whole_document_gave(w, ANALYST)
    assert "张三" not in json.dumps(run(reads.class_effect(ANALYST, "k1")), ensure_ascii=False)
    # The writer writes the class: one trainee fewer in its figures.
    changed = {**held, "_rev": held.get("_rev", 0) + 1, "trainees": dict(list(held["trainees"].items())[:2])}
    figures.docs["k1"] = changed
    writer.observers[0]([changed])
    assert run(reads.class_effect(DEPT, "k1"))["trainees"] == 2


def test_the_writers_writes_of_many_classes_leave_nothing_held_for_them_when_no_report_is_being_read():
    """A process writing the figures of five years of classes held a _rev per class ever
    written; only a class whose report is being read needs one (issue 16, memory)."""
    from types import SimpleNamespace

    from services.followup.reads import Reads

    w = a_class_followed_for_three_months()
    writer = SimpleNamespace(projection=SimpleNamespace(name=class_figures.collection), observers=[])
    reads = Reads(w.db, writers=lambda: [writer])
    run(reads.class_effect(DEPT, "k1"))
    writer.observers[0]([{"_id": f"k{n}", "_rev": 3} for n in range(2, 1002)])
    assert len(reads._figures_written_rev) == 0 and len(reads._reading) == 0
    assert run(reads.class_effect(DEPT, "k1")) == as_the_whole_document_gave(w, DEPT)


def test_a_write_of_the_class_while_its_report_is_read_keeps_the_older_report_from_being_kept():
    """The writer writes the class after the report read its figures and before it was kept:
    that report is not kept, the next reader's is made from the new figures."""
    from types import SimpleNamespace

    from services.followup.reads import Reads

    w = a_class_followed_for_three_months()
    writer = SimpleNamespace(projection=SimpleNamespace(name=class_figures.collection), observers=[])
    reads = Reads(w.db, writers=lambda: [writer])
    reads._follow_figures()
    figures = w.db[class_figures.collection]
    held = figures.docs["k1"]
    changed = {**held, "_rev": held.get("_rev", 0) + 1, "trainees": dict(list(held["trainees"].items())[:2])}
    read = figures.find_one

    async def read_then_the_writer_writes(*args, **kwargs):
        old = await read(*args, **kwargs)
        figures.docs["k1"] = changed
        writer.observers[0]([changed])
        return old

    figures.find_one = read_then_the_writer_writes
    assert run(reads.class_effect(DEPT, "k1"))["trainees"] == 3
    figures.find_one = read
    assert run(reads.class_effect(DEPT, "k1"))["trainees"] == 2
    assert len(reads._figures_written_rev) == 0
