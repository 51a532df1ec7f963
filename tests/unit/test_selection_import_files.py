"""Registry files as counties keep them (issue 17), read by the import: a title row and
merged cells above the header, full-width digits and spaces, GBK / GB18030 and UTF-8 CSV
with or without BOM, the old .xls beside .xlsx. Each file is made here with the bytes or
the library a county's office would produce it with; the import's reader and checker are
pure, so no server is needed."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
import xlwt
from openpyxl import Workbook

from services.selection import cadres as reg
from services.selection.importing import check, read_rows
from shared.errors import DomainError
from shared.uploads import OLE2


def ids(id_number: str) -> str:
    """Cadre ids as a deployment with this test's secret gives them."""
    return reg.cadre_id_for(id_number, b"a province's secret, for tests")


HEADER = ["序号", "姓　名", "*身份证号", "工作单位", "职　级", "出生日期"]


def idn(birth: str = "19900501", seq: str = "123") -> str:
    first17 = "371428" + birth + seq
    return first17 + reg.id_check_digit(first17)


def full_width(text: str) -> str:
    """The digits and X of `text` as a full-width input method types them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def gbk_csv(rows: list[list[str]], encoding: str = "gbk") -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode(encoding)


def by_row(checked) -> dict[int, list[str]]:
    return {b["row"]: b["errors"] for b in checked.bad}


def test_a_gbk_csv_with_a_title_row_and_full_width_digits_is_read_and_the_odd_row_named():
    wide = full_width(idn("19850312", "456"))
    spaced = idn("19791101", "234")
    content = gbk_csv(
        [
            ["武城县干部名册（2026年）", "", "", "", "", ""],
            ["填报单位：县委组织部", "", "", "", "", ""],
            HEADER,
            ["1", "张　伟", idn(), "县财政局", "副科", ""],
            ["2", "李娜", wide, "县教育局", "科员", "１９８５．０３．１２"],
            ["3", "王强", f" {spaced[:6]} {spaced[6:14]}\u3000{spaced[14:]} ", "县委办", "正科", ""],
            [
                "4",
                "赵敏",
                idn("19880808", "345")[:9] + "O" + idn("19880808", "345")[10:],
                "县委办",
                "科员",
                "",
            ],
        ]
    )
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    rows = read_rows("名册.csv", content)
    assert [n for n, _ in rows] == [4, 5, 6, 7]  # spreadsheet row numbers, the title rows counted
    checked = check(rows, ids)
    good = {n: r for n, _, r in checked.good}
    assert good[4]["name"] == "张伟"  # the padding of a two-character name is not part of it
    assert good[5]["id_number"] == idn("19850312", "456")  # full-width digits read as the digits
    assert good[5]["birth_date"] == "1985-03-12"
    assert good[6]["id_number"] == spaced  # spaces inside and around the number dropped
    assert [(b["row"], b["name"]) for b in checked.bad] == [(7, "赵敏")]
    assert by_row(checked)[7] == ["身份证号第 10 位是“O”，应为数字（前 17 位数字，末位数字或 X）"]


def test_a_full_width_number_is_the_same_cadre_as_the_plain_one_not_a_wrong_check_digit():
    plain = idn("19700102", "018")
    record, errors = reg.validate(
        {"name": "孙丽", "id_number": full_width(plain), "unit": "县委办", "rank": "科员"}
    )
    assert errors == []
    assert record["id_number"] == plain
    assert ids(record["id_number"]) == ids(plain)
    # str.isdigit() is true of full-width digits: the check itself must not let them through
    assert "第 1 位是“３”" in reg.id_problem(full_width(plain))


def test_a_gb18030_csv_keeps_a_rare_character_of_a_name_and_utf8_with_bom_reads_too():
    rows = [["姓名", "身份证号", "工作单位", "职级"], ["王䶮", idn(), "县委办", "科员"]]
    content = gbk_csv(rows, "gb18030")
    with pytest.raises(UnicodeEncodeError):
        "王䶮".encode("gbk")  # the name is outside GBK: only GB18030 holds it
    assert check(read_rows("名册.csv", content), ids).good[0][2]["name"] == "王䶮"
    bom = "\ufeff".encode() + gbk_csv(rows, "utf-8")
    assert check(read_rows("名册.csv", bom), ids).good[0][2]["name"] == "王䶮"


def xls_file(rows: list[list], merge_title: bool = True) -> bytes:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("干部名册")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    start = 0
    if merge_title:
        sheet.write_merge(0, 0, 0, len(HEADER) - 1, "武城县干部名册")
        start = 1
    for r, values in enumerate(rows, start=start):
        for c, v in enumerate(values):
            if isinstance(v, datetime):
                sheet.write(r, c, v, date_style)
            else:
                sheet.write(r, c, v)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_old_xls_file_with_a_merged_title_is_read_and_a_number_stored_id_explained():
    lost = int(idn("19820607", "111")[:15] + "000")  # what Excel keeps of an 18-digit number
    content = xls_file(
        [
            HEADER,
            [1, "周杰", idn("19820607", "111"), "县农业农村局", "副科", datetime(1982, 6, 7)],
            [2, "吴芳", float(lost), "县农业农村局", "科员", ""],
            [3, "冯刚", 3714281990, "县农业农村局", "科员", ""],
        ]
    )
    assert content[:4] == b"\xd0\xcf\x11\xe0"  # the OLE2 signature of a real .xls
    rows = read_rows("名册.xls", content)
    assert [n for n, _ in rows] == [3, 4, 5]
    checked = check(rows, ids)
    assert checked.good[0][2]["birth_date"] == "1982-06-07"  # a date cell read as a date
    assert checked.good[0][2]["id_number"] == idn("19820607", "111")
    bad, short = checked.bad
    assert bad["row"] == 4 and bad["name"] == "吴芳"
    assert bad["errors"][0].startswith(f"身份证号在表格中存成了数字（读到 {lost}）")
    assert "文本" in bad["errors"][0] and "校验位" not in bad["errors"][0]
    assert short["errors"] == ["身份证号应为 18 位（前 17 位数字，末位数字或 X），这里是 10 位"]


def test_an_xlsx_with_merged_cells_above_the_header_is_read_from_the_header_down():
    wb = Workbook()
    ws = wb.active
    ws.append(["武城县科级干部名册"])
    ws.merge_cells("A1:F1")
    ws.append(["", "", "", "", "统计时间：", "2026-11"])
    ws.append(HEADER)
    ws.append([1, "钱　进", full_width(idn("19930303", "222")), "县委办", "科员", None])
    out = io.BytesIO()
    wb.save(out)
    rows = read_rows("名册.xlsx", out.getvalue())
    assert [n for n, _ in rows] == [4]
    ((n, _, record),) = check(rows, ids).good
    assert (record["name"], record["id_number"]) == ("钱进", idn("19930303", "222"))


def test_a_file_without_a_header_says_which_columns_it_looked_for():
    content = gbk_csv([["武城县干部名册"], ["张伟", idn(), "县委办", "科员"]])
    with pytest.raises(DomainError) as e:
        read_rows("名册.csv", content)
    assert "表头缺少列：姓名、身份证号、工作单位、职级" in str(e.value.message)
    assert "前 20 行" in e.value.message


def test_a_workbook_under_the_other_extension_reads_as_what_it_is():
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "工作单位", "职级"])
    wb.active.append(["郑红", idn(), "县委办", "科员"])
    out = io.BytesIO()
    wb.save(out)
    assert check(read_rows("名册.xls", out.getvalue()), ids).good[0][2]["name"] == "郑红"
    old = xls_file([["姓名", "身份证号", "工作单位", "职级"], ["郑红", idn(), "县委办", "科员"]], False)
    assert check(read_rows("名册.xlsx", old), ids).good[0][2]["name"] == "郑红"


def test_a_web_page_saved_as_xls_and_a_broken_xls_are_refused_in_words_a_clerk_understands():
    page = "<html><table><tr><td>姓名</td></tr></table></html>".encode("gbk")
    with pytest.raises(DomainError) as e:
        read_rows("名册.xls", page)
    assert e.value.code == "bad_file" and "内容不是 Excel 表格" in e.value.message
    with pytest.raises(DomainError) as e:
        read_rows("名册.xls", OLE2 + b"\0" * 100)
    assert e.value.code == "bad_file" and "不是 .xls 格式" in e.value.message
