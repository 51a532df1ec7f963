"""shared.xlsx: the Excel downloads every service makes (no servers needed)."""

import io

from openpyxl import Workbook, load_workbook

from shared import xlsx


def test_a_workbook_round_trips_with_a_bold_header_and_its_rows():
    data = xlsx.workbook(
        [
            ("考勤与学时", ["姓名", "学时", "结业"], [["张三", 3.5, "是"], ["李四", None, "否"]]),
            ("一个超过三十一个字符的工作表名称会被截断以便各种表格软件都能打开这个文件", ["编号"], []),
        ]
    )
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["考勤与学时", "一个超过三十一个字符的工作表名称会被截断以便各种表格软件都能打"]
    ws = wb["考勤与学时"]
    assert list(ws.iter_rows(values_only=True)) == [
        ("姓名", "学时", "结业"),
        ("张三", 3.5, "是"),
        ("李四", None, "否"),
    ]
    assert all(cell.font.bold for cell in ws[1]) and not any(cell.font.bold for cell in ws[2])
    assert ws.column_dimensions["A"].width == 10  # at least 10 wide, wider for long headers
    assert list(wb.worksheets[1].iter_rows(values_only=True)) == [("编号",)]


def test_sheet_reuses_the_first_sheet_only_when_asked():
    wb = Workbook()
    xlsx.sheet(wb, "汇总", ["指标", "数值"], [["结业学员数", 30]], first=True)
    xlsx.sheet(wb, "学员明细", ["姓名"], [["张三"]])
    assert wb.sheetnames == ["汇总", "学员明细"] and wb["汇总"]["B2"].value == 30


def test_the_response_is_an_xlsx_attachment_with_the_chinese_name_encoded():
    r = xlsx.response(xlsx.workbook([("考勤", ["姓名"], [["张三"]])]), "班次考勤.xlsx")
    assert (
        r.media_type == xlsx.MEDIA_TYPE == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["content-type"] == xlsx.MEDIA_TYPE
    assert (
        r.headers["content-disposition"]
        == "attachment; filename*=UTF-8''%E7%8F%AD%E6%AC%A1%E8%80%83%E5%8B%A4.xlsx"
    )
    assert load_workbook(io.BytesIO(r.body)).active["A2"].value == "张三"


def test_the_response_saves_a_workbook_and_can_carry_an_ascii_fallback_name():
    wb = Workbook()
    wb.active.append(["看板"])
    r = xlsx.response(wb, "干训看板_43_2026年.xlsx", fallback="dashboard.xlsx")
    assert (
        r.headers["content-disposition"] == "attachment; filename=\"dashboard.xlsx\"; "
        "filename*=UTF-8''%E5%B9%B2%E8%AE%AD%E7%9C%8B%E6%9D%BF_43_2026%E5%B9%B4.xlsx"
    )
    assert load_workbook(io.BytesIO(r.body)).active["A1"].value == "看板"
