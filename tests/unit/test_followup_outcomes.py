"""An outcome's own document and a unit's adoption (issue 18), through `Handlers` over the
memory adapters, no server: given a class whose graduates come from two units and an
outcome written by one of them, when its document is uploaded or a unit adopts it, then
what is stored or refused (in Chinese, nothing stored), what the events say and what
every reader's `Reads` answers."""

import hashlib
import io
import zipfile
from datetime import date

import pytest

from services.followup import report
from services.followup.domain import outcome_stream
from services.followup.handlers import Handlers
from services.followup.projections import PROJECTIONS
from services.followup.reads import ATTACHMENTS, Reads
from services.followup.scheduler import Scheduler
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.teaching import TraineeGraduated
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore
from tests.unit.test_followup_attachments import CODE, DEPT, GRADUATED, LI, PNG, ZHANG, ctx, office, run

FAGAI = Principal(user_id="u-1", name="发改局办公室", role="unit", jurisdiction=CODE, unit="县发改局")
JIAOYU = Principal(user_id="u-2", name="教育局办公室", role="unit", jurisdiction=CODE, unit="县教育局")
OTHER_COUNTY = Principal(
    user_id="u-3", name="外县发改局", role="unit", jurisdiction="371427", unit="县发改局"
)
PDF = b"%PDF-1.7\n" + b"1 0 obj <<>> endobj\n" * 20


class World:
    """Class k1: 张三 of 县发改局 and 李四 of 县教育局 graduated on 15 January; 张三 reported a
    research report on 1 March, with 李四 as second author; another on 2 March by 李四 alone."""

    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.db = MemoryDatabase()
        teaching = Context(
            actor=Actor(user_id="t", name="教务", role="party_school"), jurisdiction=CODE, correlation_id="t"
        )
        graduated = [
            TraineeGraduated(
                class_id="k1",
                cadre_id=c,
                name=n,
                unit=u,
                graduated_on=GRADUATED,
                hours=48.0,
                attendance_rate=1.0,
                class_title="中青年干部培训班",
            )
            for c, n, u in (("a", "张三", "县发改局"), ("b", "李四", "县教育局"))
        ]
        self.given = CommandHandler.envelopes("teaching-k1", 0, graduated, teaching)
        self.clock = FixedClock(GRADUATED)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db), self.clock)
        self.sync()
        run(Scheduler(self.h, CODE).tick())
        self.clock.day = date(2026, 3, 1)
        run(self.h.report_outcome(ctx(ZHANG), ZHANG, "k1", "o-1", "report", "基层减负调研报告", ["李四"]))
        self.clock.day = date(2026, 3, 2)
        run(self.h.report_outcome(ctx(LI), LI, "k1", "o-2", "proposal", "课后服务的金点子", []))
        self.clock.day = date(2026, 3, 10)
        self.sync()

    def sync(self) -> None:
        for p in PROJECTIONS:
            self.db.collections.pop(p.collection, None)
            self.db.load(p, self.given + self.store.all_events())

    def types(self, outcome_id: str) -> list[str]:
        return [e.type for e in run(self.store.read_stream(outcome_stream(outcome_id)))]

    def stored(self) -> int:
        return len(self.db[ATTACHMENTS].docs)

    def outcome(self, who: Principal, outcome_id: str) -> dict:
        return next(
            o for o in run(self.h.reads.sharing(who, "k1"))["outcomes"] if o["outcome_id"] == outcome_id
        )


def test_an_author_attaches_the_outcomes_document_which_its_readers_download_and_others_cannot():
    w = World()
    answer = run(w.h.attach_outcome_document(ctx(ZHANG), ZHANG, "o-1", "基层减负调研报告.pdf", PDF))
    assert (answer["name"], answer["kind"], answer["size"]) == ("基层减负调研报告.pdf", "pdf", len(PDF))
    assert answer["sha256"] == hashlib.sha256(PDF).hexdigest() and answer["outcome_id"] == "o-1"
    (attached,) = [
        e for e in run(w.store.read_stream(outcome_stream("o-1"))) if e.type == "OutcomeDocumentAttached"
    ]
    assert (
        attached.payload["document"]["sha256"] == answer["sha256"]
    )  # the event names the bytes, not carries them
    assert "data" not in attached.payload["document"]
    w.sync()

    doc = w.outcome(DEPT, "o-1")["document"]
    assert (doc["attachment_id"], doc["name"], doc["by"]) == (
        answer["attachment_id"],
        "基层减负调研报告.pdf",
        "张三",
    )
    for reader in (DEPT, ZHANG, LI, FAGAI, JIAOYU):  # who may read the class's outcomes
        got = run(w.h.reads.attachment(reader, doc["attachment_id"]))
        assert got["data"] == PDF and got["content_type"] == "application/pdf"
    outsider = Principal(user_id="z", name="外班学员", role="trainee", jurisdiction=CODE)
    with pytest.raises(Forbidden):
        run(w.h.reads.attachment(outsider, doc["attachment_id"]))
    # another county: as for an attachment nobody has (issue 14), nothing tells it exists
    with pytest.raises(NotFound) as theirs:
        run(w.h.reads.attachment(OTHER_COUNTY, doc["attachment_id"]))
    assert theirs.value.code == "attachment_not_found"

    # a second upload replaces the first, and says which it replaced
    again = run(w.h.attach_outcome_document(ctx(DEPT), DEPT, "o-1", "修改稿.docx", _docx()))
    w.sync()
    assert w.outcome(ZHANG, "o-1")["document"]["name"] == "修改稿.docx"
    last = run(w.store.read_stream(outcome_stream("o-1")))[-1]
    assert (last.payload["replaces"], last.payload["document"]["attachment_id"]) == (
        answer["attachment_id"],
        again["attachment_id"],
    )
    assert report.effect_workbook(run(w.h.reads.class_effect(DEPT, "k1")))["成果"]["E1"].value == "成果文档"


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for part in ("[Content_Types].xml", "word/document.xml"):
            z.writestr(part, "<x/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("调研报告.xlsx", office("xl/workbook.xml"), "file_type"),  # a spreadsheet is no outcome's document
        ("调研报告.pdf", PNG, "file_name_mismatch"),  # an image named .pdf
        ("调研报告.pdf", b"<html>not a report</html>", "file_type"),
        ("调研报告.pdf", b"", "file_empty"),
        ("调研报告.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "file_too_large"),
    ],
)
def test_a_document_of_the_wrong_kind_or_size_is_refused_naming_it_and_nothing_is_stored(name, content, code):
    w = World()
    before = w.types("o-1")
    with pytest.raises(DomainError) as refused:
        run(w.h.attach_outcome_document(ctx(ZHANG), ZHANG, "o-1", name, content))
    assert refused.value.code == code and "调研报告" in refused.value.message
    assert w.stored() == 0 and w.types("o-1") == before


def test_only_an_author_or_the_class_s_department_and_units_attach_a_document():
    w = World()
    with pytest.raises(Forbidden) as e:  # 张三 did not write 李四's proposal
        run(w.h.attach_outcome_document(ctx(ZHANG), ZHANG, "o-2", "金点子.pdf", PDF))
    assert e.value.code == "not_an_author"
    with pytest.raises(Forbidden):  # another county's unit
        run(w.h.attach_outcome_document(ctx(OTHER_COUNTY), OTHER_COUNTY, "o-1", "a.pdf", PDF))
    assert w.stored() == 0
    run(w.h.attach_outcome_document(ctx(JIAOYU), JIAOYU, "o-2", "金点子.png", PNG))
    assert w.types("o-2")[-1] == "OutcomeDocumentAttached"


def test_a_unit_adopts_its_own_peoples_outcome_dated_between_the_outcome_and_today():
    w = World()
    with pytest.raises(DomainError) as early:
        run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-1", "adoption", None, date(2026, 2, 28), "纳入制度"))
    assert early.value.code == "endorsed_before_outcome" and "2026-03-01" in early.value.message
    with pytest.raises(DomainError) as future:
        run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-1", "adoption", None, date(2026, 3, 11), ""))
    assert future.value.code == "endorsed_in_future"
    with pytest.raises(Forbidden) as approval:  # a leader's approval is the department's to record
        run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-1", "approval", "局长", date(2026, 3, 5), ""))
    assert approval.value.code == "approval_not_for_unit"
    with pytest.raises(Forbidden) as not_ours:  # 李四's proposal: no author of 县发改局
        run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-2", "adoption", None, date(2026, 3, 5), ""))
    assert not_ours.value.code == "wrong_unit" and "县发改局" in not_ours.value.message
    assert w.types("o-1") == w.types("o-2") == ["OutcomeReported"]  # nothing stored by the refusals

    # the unit's name is who adopted it, whatever the request says
    run(
        w.h.endorse_outcome(
            ctx(FAGAI), FAGAI, "o-1", "adoption", "别的单位", date(2026, 3, 5), "纳入局务制度"
        )
    )
    run(
        w.h.endorse_outcome(
            ctx(JIAOYU), JIAOYU, "o-1", "conversion", None, date(2026, 3, 10), "转化为工作规程"
        )
    )
    with pytest.raises(DomainError) as twice:
        run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-1", "adoption", None, date(2026, 3, 6), ""))
    assert twice.value.code == "already_endorsed"
    w.sync()

    seen = [(e["kind"], e["by"], e["on"], e["note"]) for e in w.outcome(ZHANG, "o-1")["endorsements"]]
    assert seen == [
        ("adoption", "县发改局", "2026-03-05", "纳入局务制度"),
        ("conversion", "县教育局", "2026-03-10", "转化为工作规程"),
    ]
    effect = run(w.h.reads.class_effect(DEPT, "k1"))["outcomes"]
    assert (effect["adoptions"], effect["conversions"], effect["endorsed"]) == (1, 1, 1)
    with pytest.raises(DomainError) as unnamed:  # the department must say who approved it
        run(w.h.endorse_outcome(ctx(DEPT), DEPT, "o-1", "approval", " ", date(2026, 3, 5), ""))
    assert unnamed.value.code == "by_required"


def test_a_unit_clerk_sees_the_talks_and_outcomes_of_its_own_people():
    w = World()
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局全体干部", "学习体会", 30))
    run(w.h.give_talk(ctx(LI), LI, "k1", "b", "t-2", date(2026, 2, 21), "本局中层", "课后服务", 12))
    run(w.h.endorse_outcome(ctx(FAGAI), FAGAI, "o-1", "adoption", None, date(2026, 3, 5), "纳入局务制度"))
    w.sync()

    fagai = run(w.h.reads.unit_sharing(FAGAI))
    assert fagai["unit"] == "县发改局"
    assert [(t["name"], t["topic"], t["class_title"]) for t in fagai["talks"]] == [
        ("张三", "学习体会", "中青年干部培训班")
    ]
    (outcome,) = fagai["outcomes"]
    assert (outcome["title"], outcome["class_title"], outcome["endorsements"][0]["by"]) == (
        "基层减负调研报告",
        "中青年干部培训班",
        "县发改局",
    )
    jiaoyu = run(w.h.reads.unit_sharing(JIAOYU))
    assert [t["topic"] for t in jiaoyu["talks"]] == ["课后服务"]
    assert sorted(o["title"] for o in jiaoyu["outcomes"]) == ["基层减负调研报告", "课后服务的金点子"]
    assert run(w.h.reads.unit_sharing(OTHER_COUNTY)) == {"unit": "县发改局", "talks": [], "outcomes": []}
    with pytest.raises(Forbidden):
        run(w.h.reads.unit_sharing(DEPT))


def test_the_units_sharing_page_reads_only_the_classes_with_talks_or_outcomes():
    """Issue 16: the page no longer scans every class's effect document nor reads every class's
    graduates (five years of classes, each with every trainee's milestones or names): the trainee
    files held for the work list give the unit's people and their talks, and `class_outcomes`
    (one document per class with an outcome) the outcomes. Only the class's title is read."""
    w = World()
    run(w.h.give_talk(ctx(ZHANG), ZHANG, "k1", "a", "t-1", date(2026, 2, 20), "本局全体干部", "学习体会", 30))
    w.sync()
    run(w.db["class_effect"].delete_many({}))
    titles_only = {"_id": "k1", "class_id": "k1", "class_title": "中青年干部培训班"}
    run(w.db["graduates"].replace_one({"_id": "k1"}, titles_only))
    assert run(w.db["class_outcomes"].count_documents({})) == 1  # k1's outcomes; talks make none
    fagai = run(w.h.reads.unit_sharing(FAGAI))
    assert [(t["name"], t["unit"], t["topic"], t["class_title"]) for t in fagai["talks"]] == [
        ("张三", "县发改局", "学习体会", "中青年干部培训班")
    ]
    assert sorted(o["title"] for o in fagai["outcomes"]) == ["基层减负调研报告"]
    assert run(w.h.reads.unit_sharing(JIAOYU))["talks"] == []
