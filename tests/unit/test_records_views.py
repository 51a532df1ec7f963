"""The read-side computations and the documents, pure: from projection-shaped dicts to
completeness lists, rankings, HTML and PDF (text checked with pypdf)."""

import io
from datetime import date

import pytest
from fontTools import ttLib
from pypdf import PdfReader

from services.records import documents, fonts, pdf, reads

ROSTER = {
    "class_id": "c1",
    "title": "中青年干部培训班",
    "starts_on": "2026-10-01",
    "ends_on": "2026-12-31",
    "organiser": "县委党校",
    "jurisdiction": "110101",
    "trainees": {
        "a": {"name": "张伟", "unit": "县财政局", "group": "一组", "status": "confirmed"},
        "b": {"name": "李娜", "unit": "县教育局", "group": "一组", "status": "confirmed"},
        "c": {"name": "王芳", "unit": "县农业局", "group": "二组", "status": "confirmed"},
        "w": {"name": "赵敏", "unit": "县委办", "group": "二组", "status": "withdrawn"},
    },
    "sessions": {"s1": {"hours": 3, "required": True}, "s2": {"hours": 2, "required": True}},
}
SCHEME = {
    "items": [
        {"item_id": "T01", "title": "笔记", "group": "理论学习", "max_points": 10, "roles": ["head_teacher"]},
        {
            "item_id": "P01",
            "title": "党课",
            "group": "党性修养和学风",
            "max_points": 10,
            "roles": ["branch_secretary"],
        },
    ]
}
KLASS = {
    "scheme": SCHEME,
    "weeks": ["2026-10-05"],
    "coverage": {
        "a": {"head_teacher": "2026-11-18", "branch_secretary": "2026-11-10", "class_monitor": "2026-11-19"},
        "b": {"head_teacher": "2026-11-18", "branch_secretary": "2026-11-15", "class_monitor": "2026-11-01"},
    },
    "totals": {"a": {"T01": 8, "P01": 6}, "b": {"T01": 9, "P01": 5}, "c": {"T01": 3}},
}


def rec(no: str, text: str, author: str, role: str, corrects=None, corrected_by=None) -> dict:
    return {
        "record_id": no,
        "class_id": "c1",
        "cadre_id": "a",
        "category": "thinking",
        "observed_on": "2026-11-02",
        "text": text,
        "author_id": "p",
        "author_name": author,
        "author_role": role,
        "corrects": corrects,
        "corrected_by": corrected_by,
        "logged_at": "2026-11-03T08:00:00+00:00",
    }


FILE = {
    "class_id": "c1",
    "cadre_id": "a",
    "sheets": [],
    "attended": {"s1": {"hours": 3, "late": False, "on": None}},
    "absent": {"s2": {"excused": False, "on": None}},
    "records": [
        rec("r1", "思想上有畏难情绪。", "吴刚", "branch_secretary", corrected_by="r2"),
        rec("r2", "更正：能主动克服困难。", "周明", "head_teacher", corrects="r1"),
    ],
    "final_comment": {
        "text": "政治坚定，作风扎实。",
        "author_name": "周明",
        "author_role": "head_teacher",
        "written_at": "2026-12-30T09:00:00+00:00",
    },
}


def test_completeness_names_the_roles_missing_within_the_period():
    out = reads.completeness(ROSTER, KLASS, date(2026, 11, 20), 7)
    assert out["since"] == "2026-11-14" and out["trainees"] == 3
    assert {u["cadre_id"]: u["missing_roles"] for u in out["uncovered"]} == {
        "a": ["branch_secretary"],
        "b": ["class_monitor"],
        "c": ["head_teacher", "branch_secretary", "class_monitor"],
    }


def test_ranking_shares_places_on_equal_totals_and_ranks_within_study_groups():
    out = reads.ranking(ROSTER, KLASS)
    assert [(r["cadre_id"], r["total"], r["rank"]) for r in out["class_ranking"]] == [
        ("a", 14, 1),
        ("b", 14, 1),
        ("c", 3, 3),
    ]
    assert [(g["group"], g["average"]) for g in out["study_groups"]] == [("一组", 14), ("二组", 3)]
    assert out["class_ranking"][0]["by_group"] == {"理论学习": 8, "党性修养和学风": 6}


def test_attendance_counts_hours_and_rate():
    a = documents.attendance(ROSTER, FILE)
    assert (a["attended"], a["absent"], a["hours"], a["scheduled_hours"], a["rate"]) == (1, 1, 3, 5, 0.5)


def test_portrait_profile_against_the_class_average_and_concerns():
    p = documents.portrait(ROSTER, KLASS, FILE)
    assert [(x["group"], x["mine"], x["class_average"]) for x in p["profile"]] == [
        ("理论学习", 8, 6.67),
        ("党性修养和学风", 6, 3.67),
    ]
    assert p["strengths"] == ["理论学习", "党性修养和学风"]
    assert "学习情况暂无记录" in p["concerns"]
    thinking = next(c for c in p["categories"] if c["category"] == "thinking")
    assert [r["text"] for r in thinking["records"]] == [
        "更正：能主动克服困难。"
    ]  # the corrected one does not stand


def test_the_form_shows_corrections_both_ways_in_html_and_pdf():
    d = documents.gather(ROSTER, KLASS, FILE)
    html = documents.form_html(d)
    assert "已被第2条更正" in html and "更正第1条" in html and "思想上有畏难情绪。" in html
    text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.form_pdf(d))).pages).split())
    for needle in (
        "干部教育培训纪实考察记录表",
        "张伟",
        "思想上有畏难情绪。",
        "吴刚（支部书记）",
        "更正：能主动克服困难。",
        "周明（班主任）",
        "已被第2条更正",
        "更正第1条",
        "政治坚定，作风扎实。",
        "出勤率50.0%",
    ):
        assert needle in text, needle


def test_portrait_html_has_a_chart():
    html = documents.portrait_html(documents.gather(ROSTER, KLASS, FILE))
    assert html.count("<rect") == 4 and "全班平均" in html


def test_a_missing_font_names_the_package(monkeypatch):
    monkeypatch.setenv("GANXUN_CJK_FONT", "/nonexistent/font.ttc")
    with pytest.raises(pdf.FontMissing) as e:
        pdf.form_pdf(documents.gather(ROSTER, KLASS, FILE))
    assert "fonts-wqy-microhei" in e.value.message and e.value.status == 503


def pdf_text(data: bytes) -> str:
    return "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def test_a_form_is_drawn_with_the_common_face_and_a_rare_name_with_the_whole_font(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    common = fonts.common_face(pdf.font_path(pdf.FontSettings()), 0)
    assert common is not None and common.is_relative_to(tmp_path)
    cmap = ttLib.TTFont(common).getBestCmap()
    assert ord("纪") in cmap and ord("堃") not in cmap and len(cmap) < 10_000  # the whole font: 34,600
    d = documents.gather(ROSTER, KLASS, FILE)
    assert "张伟" in pdf_text(pdf.form_pdf(d))
    d["name"] = "张堃"  # not in GB 2312: the form is drawn again with the whole font
    d["records"][0]["text"] = "喆珺二人协助，表现突出。"
    text = pdf_text(pdf.form_pdf(d))
    assert "张堃" in text and "喆珺二人协助，表现突出。" in text


def _form_of(name: str, text: str) -> dict:
    d = documents.gather(ROSTER, KLASS, FILE)
    d["name"] = name
    d["records"][0]["text"] = text
    return d


def test_forms_drawn_at_once_in_threads_each_show_their_own_trainee_and_records():
    """The common face is parsed once per process and shared (fonts.parsed): forms drawn at the
    same time in worker threads (as the API draws them) each carry their own name and record
    text, and the shared font keeps every glyph (only each document's copy is cut down)."""
    from concurrent.futures import ThreadPoolExecutor

    people = [
        ("张伟", "学习笔记认真，发言积极。"),
        ("李娜", "调研报告扎实，数据翔实。"),
        ("王芳", "小组讨论中带头发言。"),
    ]
    people *= 3
    with ThreadPoolExecutor(4) as pool:
        drawn = list(pool.map(lambda p: pdf.form_pdf(_form_of(*p)), people))
    for (name, text), data in zip(people, drawn):
        got = pdf_text(data)
        assert name in got and text in got
        assert not any(other in got for other, _ in people if other != name)
        assert len(data) < 60_000  # the font embedded is the document's glyphs, not the face's 1.3 MB
    common = fonts.common_face(pdf.font_path(pdf.FontSettings()), 0)
    whole = ttLib.TTFont(common, lazy=True)
    assert len(fonts.parsed(common, 0).ttfont.getGlyphOrder()) == len(whole.getGlyphOrder())


def test_a_form_with_the_font_cut_looks_exactly_like_one_drawn_by_fpdf_alone():
    """Text extraction reads the PDF's ToUnicode map, not the glyphs: the pages are compared as
    pictures with a form drawn by fpdf2's own font handling, so a glyph taken from the wrong
    place in the cut font would show."""
    import pypdfium2 as pdfium

    d = _form_of("张伟", "在小组讨论中发言积极，联系本地实际提出三条意见（附：①②）。")
    common = fonts.common_face(pdf.font_path(pdf.FontSettings()), 0)

    def picture(parsed_once: bool) -> bytes:
        sheet = pdf.Sheet(common, 0, parsed_once=parsed_once)
        pdf._form(sheet, d)
        page = pdfium.PdfDocument(bytes(sheet.output()))[0]
        return page.render(scale=1).to_pil().tobytes()

    assert picture(True) == picture(False)


def test_a_paragraph_breaks_into_the_lines_fpdf_would_break_it_into():
    """`Sheet.lines` replaces fpdf2's line breaker (which measures each line again per
    character): same lines as `multi_cell` with WrapMode.CHAR, for Chinese, mixed text and
    explicit new lines, at the sizes the documents use."""
    from fpdf.enums import MethodReturnValue, WrapMode

    common = fonts.common_face(pdf.font_path(pdf.FontSettings()), 0)
    sheet = pdf.Sheet(common, 0, parsed_once=True)
    texts = [
        "在小组讨论中发言积极，联系本地乡村振兴工作实际，提出了三条改进意见。" * 3,
        "第1条 · 2026-11-02 · 思想动态 · 吴刚（支部书记） · 录入于 2026-11-03 Party School 2026",
        "第一行\n第二行比较长" + "，很长" * 40,
        "",
    ]
    for size in (9, 10):
        sheet.set_font("cjk", size=size)
        for text in texts:
            fpdf_lines = sheet.multi_cell(
                0, 5, text, wrapmode=WrapMode.CHAR, dry_run=True, output=MethodReturnValue.LINES
            )
            assert sheet.lines(text) == fpdf_lines
