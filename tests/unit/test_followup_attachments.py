"""A mentor's evidence files: given a graduate with a mentor, when files are uploaded
through `Handlers` over the memory adapters, then what is stored, what is refused (in
Chinese, naming the file), what the task's event refers to and who may download it."""

import asyncio
import hashlib
import io
import zipfile
from datetime import date

import pytest

from services.followup import attachments
from services.followup.handlers import Handlers
from services.followup.projections import PROJECTIONS
from services.followup.reads import ATTACHMENTS, Reads
from services.followup.scheduler import Scheduler
from shared.auth import Principal
from shared.commands import CommandHandler, Context
from shared.contracts.teaching import TraineeGraduated
from shared.errors import DomainError, Forbidden
from shared.events import Actor
from shared.memory import FixedClock, MemoryDatabase, MemoryEventStore

CODE = "371428"
GRADUATED = date(2026, 1, 15)
DEPT = Principal(user_id="org-1", name="李干事", role="org_department", jurisdiction=CODE)
ZHANG = Principal(user_id="a", name="张三", role="trainee", jurisdiction=CODE)
LI = Principal(user_id="b", name="李四", role="trainee", jurisdiction=CODE)
MENTOR = Principal(user_id="m-1", name="王局长", role="mentor", jurisdiction=CODE)
OTHER_MENTOR = Principal(user_id="m-2", name="赵局长", role="mentor", jurisdiction=CODE)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def run(coro):
    return asyncio.run(coro)


def ctx(who: Principal) -> Context:
    return Context(actor=who.actor, jurisdiction=who.jurisdiction, correlation_id="c-1")


def office(*parts: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in ("[Content_Types].xml", *parts):
            z.writestr(p, "<x/>")
    return buf.getvalue()


class World:
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
                unit="县发改局",
                graduated_on=GRADUATED,
                hours=48.0,
                attendance_rate=1.0,
                class_title="中青年干部培训班",
            )
            for c, n in {"a": "张三", "b": "李四"}.items()
        ]
        self.given = CommandHandler.envelopes("teaching-k1", 0, graduated, teaching)
        self.h = Handlers(CommandHandler(self.store), Reads(self.db), FixedClock(GRADUATED))
        self.sync()
        run(Scheduler(self.h, CODE).tick())
        run(self.h.assign_mentor(ctx(DEPT), DEPT, "k1", "a", MENTOR.user_id, MENTOR.name, "局长"))
        self.sync()

    def sync(self) -> None:
        for p in PROJECTIONS:
            self.db.collections.pop(p.collection, None)
            self.db.load(p, self.given + self.store.all_events())


def test_the_mentor_uploads_a_photo_and_the_task_refers_to_it_by_id_and_hash():
    w = World()
    stored = run(w.h.upload_attachment(MENTOR, "k1", "a", "党组会现场.png", PNG))
    assert (stored["name"], stored["content_type"], stored["size"]) == (
        "党组会现场.png",
        "image/png",
        len(PNG),
    )
    assert stored["sha256"] == hashlib.sha256(PNG).hexdigest()
    envs = run(
        w.h.complete_mentor_task(
            ctx(MENTOR), MENTOR, "k1", "a", "core_decision", "党组会议", "有见地", [stored["attachment_id"]]
        )
    )
    ref = envs[0].payload["attachments"][0]
    assert (ref["attachment_id"], ref["sha256"]) == (stored["attachment_id"], stored["sha256"])
    w.sync()
    task = run(w.h.reads.trainee_file(ZHANG, "a"))["classes"][0]["tasks"]["core_decision"]
    assert task["attachments"][0]["name"] == "党组会现场.png"
    # the trainee, the mentor and the department download it; its bytes are what was uploaded
    for who in (ZHANG, MENTOR, DEPT):
        assert run(w.h.reads.attachment(who, stored["attachment_id"]))["data"] == PNG
    # another trainee, another trainee's mentor may not
    for who in (LI, OTHER_MENTOR):
        with pytest.raises(Forbidden):
            run(w.h.reads.attachment(who, stored["attachment_id"]))


@pytest.mark.parametrize(
    "name, content, code, words",
    [
        ("会议纪要.pdf", b"MZ\x90\x00 a program", "file_type", ["会议纪要.pdf", "jpg"]),
        ("现场.jpg", PNG, "file_name_mismatch", ["现场.jpg", "PNG 图片"]),
        ("表格.xlsx", office("word/document.xml"), "file_name_mismatch", ["表格.xlsx", "Word 文档"]),
        ("空.png", b"", "file_empty", ["空.png"]),
        ("大.jpg", JPG + b"\x00" * attachments.MAX_BYTES, "file_too_large", ["大.jpg", "10 MB"]),
        ("../../etc/x.zip", office("a.txt"), "file_type", ["x.zip"]),
    ],
)
def test_a_file_that_is_not_a_photo_or_document_it_claims_is_refused_naming_it(name, content, code, words):
    w = World()
    with pytest.raises(DomainError) as e:
        run(w.h.upload_attachment(MENTOR, "k1", "a", name, content))
    assert e.value.code == code and e.value.field == "file"
    assert all(word in e.value.message for word in words), e.value.message
    assert w.db[ATTACHMENTS].docs == {}  # nothing stored


def test_documents_are_recognised_by_their_content():
    w = World()
    for name, content, kind in [
        ("纪要.docx", office("word/document.xml"), "docx"),
        ("台账.xlsx", office("xl/workbook.xml"), "xlsx"),
        ("方案.PDF", b"%PDF-1.7\n...", "pdf"),
        ("照片.jpeg", JPG, "jpg"),
    ]:
        assert run(w.h.upload_attachment(MENTOR, "k1", "a", name, content))["kind"] == kind


def test_only_the_current_mentor_uploads_and_refers_to_their_own_uploads():
    w = World()
    with pytest.raises(Forbidden) as e:
        run(w.h.upload_attachment(OTHER_MENTOR, "k1", "a", "x.png", PNG))
    assert e.value.code == "not_the_mentor"
    with pytest.raises(Forbidden):
        run(w.h.upload_attachment(ZHANG, "k1", "a", "x.png", PNG))
    mine = run(w.h.upload_attachment(MENTOR, "k1", "a", "x.png", PNG))
    run(w.h.assign_mentor(ctx(DEPT), DEPT, "k1", "b", MENTOR.user_id, MENTOR.name, "局长"))
    with pytest.raises(DomainError) as e:  # an upload for trainee a is no evidence for trainee b
        run(
            w.h.complete_mentor_task(
                ctx(MENTOR), MENTOR, "k1", "b", "core_decision", "x", "y", [mine["attachment_id"]]
            )
        )
    assert e.value.code == "attachment_elsewhere"
    with pytest.raises(DomainError) as e:
        run(w.h.complete_mentor_task(ctx(MENTOR), MENTOR, "k1", "a", "core_decision", "x", "y", ["nope"]))
    assert e.value.code == "attachment_not_found"


def test_a_file_name_keeps_no_folder_or_quote():
    assert attachments.clean_name('C:\\Users\\王\\"现场".jpg') == "_现场_.jpg"
    assert attachments.clean_name("../../a.png") == "a.png"
    assert attachments.clean_name("") == "附件"
