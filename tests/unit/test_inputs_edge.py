"""The pure parts of the HTTP edge: spreadsheet bounds, formula-proof exports, lax values
refused, Chinese messages per field, and who sees which personal data."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from pydantic import Field, ValidationError

from shared import uploads, visibility, xlsx
from shared.errors import DomainError
from shared.guards import control_in
from shared.http_errors import describe, invalid_response
from shared.inputs import Input


def _xlsx(rows: list[list], dimension: str | None = None, far_cell: bool = False) -> bytes:
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    if not dimension:
        return buf.getvalue()
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = re.sub(
                    r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>', data.decode()
                )
                if far_cell:
                    text = text.replace(
                        "</sheetData>",
                        '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x'
                        "</t></is></c></row></sheetData>",
                    )
                data = text.encode()
            z.writestr(item, data)
    return out.getvalue()


def test_a_declared_huge_width_is_not_trusted():
    content = _xlsx([["姓名", "职级"], ["张伟", "科员"]], dimension="A1:XFD1048576")
    assert uploads.table("a.xlsx", content) == [["姓名", "职级"], ["张伟", "科员"]]


def test_a_far_cell_refuses_the_file_instead_of_padding_a_million_rows():
    content = _xlsx([["姓名", "职级"]], dimension="A1:XFD1048576", far_cell=True)
    with pytest.raises(DomainError) as refused:
        uploads.table("a.xlsx", content)
    assert refused.value.code == "too_many_rows"


def test_columns_rows_and_control_characters_are_bounded():
    with pytest.raises(DomainError, match="超过 3 列"):
        uploads.table("a.csv", b"a,b,c,d\n", max_columns=3)
    assert uploads.table("a.csv", b"a,b,c,,\n", max_columns=3) == [["a", "b", "c"]]
    with pytest.raises(DomainError, match="超过 2 行"):
        uploads.table("a.csv", b"h\n1\n2\n3\n", max_rows=2)
    with pytest.raises(DomainError, match="第 2 行 B 列"):
        uploads.table("a.csv", b"h,i\nok,a\x1bb\n")
    with pytest.raises(DomainError, match="不是有效的 .xlsx"):
        uploads.table("a.xlsx", b"not a zip")
    with pytest.raises(DomainError, match="只支持"):
        uploads.table("a.txt", b"x")


def test_texts_that_look_like_formulas_stay_texts():
    texts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(\"http://x\",\"y\")"]
    data = xlsx.workbook([("表", ["姓名"], [[t] for t in texts] + [[5]])])
    assert "<f>" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    cells = [c for (c,) in load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2)]
    assert [c.value for c in cells[:-1]] == [t.replace("\r", "\n") for t in texts]  # XML keeps no lone CR
    assert all(c.data_type == "s" and c.quotePrefix for c in cells[:-1])
    assert cells[-1].value == 5 and cells[-1].data_type == "n"


class _Model(Input):
    count: int = Field(gt=0, description="计划人数")
    on: date = Field(description="开班日期")
    quotas: dict[str, int] = Field(default_factory=dict)
    months: list[int] = Field(default_factory=list)
    score: float | None = None


@pytest.mark.parametrize(
    "body",
    [
        {"count": False, "on": "2026-01-01"},
        {"count": 1, "on": 0},
        {"count": 1, "on": "2026-01-01", "quotas": {"a": True}},
        {"count": 1, "on": "2026-01-01", "months": [1, False]},
        {"count": 1, "on": "2026-01-01", "score": True},
    ],
)
def test_what_the_schema_forbids_is_refused(body):
    with pytest.raises(ValidationError):
        _Model(**body)


def test_what_the_schema_allows_is_kept():
    m = _Model(count=3, on="2026-01-01", quotas={"a": 2}, months=[1, 3], score=4)
    assert (m.count, m.on, m.quotas, m.months, m.score) == (3, date(2026, 1, 1), {"a": 2}, [1, 3], 4.0)


def test_validation_errors_in_chinese_naming_the_field():
    try:
        _Model(count=0, on="2026-02-30")
    except ValidationError as exc:
        body = invalid_response(exc.errors(), {"count": "计划人数", "on": "开班日期"}).body.decode()
    assert "计划人数必须大于 0" in body and "开班日期不是有效的日期" in body and "Input should" not in body
    assert describe(("body", "scores", 2, "points"), {"points": "得分"}) == (
        "scores.2.points",
        "得分（第 3 项）",
    )


def test_control_characters_are_found_anywhere_in_a_json_body():
    assert control_in({"a": [{"b": "ok"}, {"c": "x\x00"}]}) == "a.1.c"
    assert control_in({"text": "第一行\n第二行\t缩进"}) is None
    assert control_in({"k\x07": 1}) == "k\x07"


def test_masks_hide_what_they_claim():
    entry = {
        "name": "李娜",
        "unit": "县发改委",
        "cadre_id": "cd-1",
        "id_number": "11010519900501123X",
        "birth_date": "1990-05-01",
        "gender": "女",
        "rank": "科员",
    }
    assert visibility.person(entry, "org_department") == entry
    clerk = visibility.person(entry, "unit")
    assert clerk["id_number"] == "110105********123X" and "birth_date" not in clerk and "gender" not in clerk
    analyst = visibility.person(entry, "analyst", 1)
    assert analyst == {"rank": "科员", "name": "学员1"}
    assert visibility.nomination(
        {"name": "李娜", "unit": "u", "cadre_id": "c", "reason": "r", "status": "rejected"}, "analyst", 2
    ) == {"status": "rejected", "name": "学员2"}
