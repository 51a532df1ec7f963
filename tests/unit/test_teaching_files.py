"""The file formats teaching writes and reads: iCalendar, Excel, the online platform's export."""

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook

from services.teaching import files
from shared.errors import DomainError

SESSION = {
    "session_id": "x1",
    "on": "2026-03-02",
    "starts_at": "09:00:00",
    "ends_at": "11:30:00",
    "course_title": "习近平新时代中国特色社会主义思想概论；专题一，第一讲：学深悟透、融会贯通、知行合一",
    "kind": "理论课",
    "hours": 3.0,
    "teacher_name": "李教授",
    "site_id": "s1",
    "cancelled": False,
}


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_ics_is_rfc5545_with_shanghai_time_escaping_and_folding():
    text = files.ics(
        "中青年班",
        [SESSION, {**SESSION, "session_id": "x2", "cancelled": True}],
        {"s1": {"name": "第一教室", "address": "党校路1号"}},
        datetime(2026, 3, 1, 8, tzinfo=UTC),
    )
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    lines = unfold(text)
    assert "TZID:Asia/Shanghai" in lines and "TZOFFSETTO:+0800" in lines
    assert "DTSTART;TZID=Asia/Shanghai:20260302T090000" in lines
    assert "DTEND;TZID=Asia/Shanghai:20260302T113000" in lines
    assert "DTSTAMP:20260301T080000Z" in lines and "UID:x1@teaching.ganxun" in lines
    assert "SUMMARY:" + SESSION["course_title"] in lines  # long: folded on the wire, whole once unfolded
    assert "LOCATION:第一教室，党校路1号" in lines
    assert lines.count("STATUS:CANCELLED") == 1 and lines.count("BEGIN:VEVENT") == 2


def test_ics_escapes_ascii_separators():
    text = files.ics(
        "a,b;c", [{**SESSION, "course_title": "A, B; C\\D"}], {}, datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert "SUMMARY:A\\, B\\; C\\\\D" in unfold(text) and "X-WR-CALNAME:a\\,b\\;c" in unfold(text)


CSV = (
    "平台记录编号,干部编号,姓名,学时,学习日期,课程类别\n"
    "r1,P1,张三,2.5,2026-05-01,理论课\nr2,P2,李四,1,2026-05-02,\n"
)


def test_online_csv_in_utf8_and_gbk():
    for encoding in ("utf-8-sig", "gbk"):
        records = files.online_records("x.csv", CSV.encode(encoding))
        assert [(r.reference, r.cadre_id, r.name, r.hours, r.on, r.kind) for r in records] == [
            ("r1", "P1", "张三", 2.5, date(2026, 5, 1), "理论课"),
            ("r2", "P2", "李四", 1.0, date(2026, 5, 2), None),
        ]


def test_online_xlsx_with_real_dates_and_numbers():
    wb = Workbook()
    wb.active.append(["干部编号", "平台记录编号", "学时", "学习日期"])
    wb.active.append(["P1", 1001, 2, datetime(2026, 5, 1)])
    buf = io.BytesIO()
    wb.save(buf)
    [r] = files.online_records("网络学院.xlsx", buf.getvalue())
    assert (r.reference, r.cadre_id, r.hours, r.on) == ("1001", "P1", 2.0, date(2026, 5, 1))


@pytest.mark.parametrize(
    "content, code, words",
    [
        ("干部编号,学时\nP1,2\n", "bad_columns", "平台记录编号"),
        (CSV + "r3,P3,王五,-1,2026-05-03,\nr4,P4,赵六,2,昨天,\n", "bad_rows", "第 4 行（学时超出允许范围）"),
        ("", "bad_file", "为空"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_the_problem(content, code, words):
    with pytest.raises(DomainError) as e:
        files.online_records("x.csv", content.encode())
    assert e.value.code == code and words in e.value.message
    if code == "bad_rows":
        assert "第 5 行（学习日期格式不正确）" in e.value.message and "整个文件未导入" in e.value.message


def test_a_course_list_from_a_sheet():
    wb = Workbook()
    wb.active.append(["课程名称", "课程类别", "学时", "课程性质", "教学方式", "教材与资料"])
    wb.active.append(["党的二十大精神", "理论课", 3, "必修", "讲授", "报告原文；辅导读本、案例集"])
    wb.active.append(["红色家风", "党性课", 2, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    first, second = files.course_records("课程.xlsx", buf.getvalue())
    assert (first.title, first.kind, first.hours, first.mode, first.materials) == (
        "党的二十大精神",
        "理论课",
        3.0,
        "必修",
        ["报告原文", "辅导读本", "案例集"],
    )
    assert second.mode == "必修" and second.method == "讲授" and second.course_id != first.course_id


def test_a_course_list_with_a_bad_kind_is_refused_whole():
    with pytest.raises(DomainError) as e:
        files.course_records("c.csv", "课程名称,课程类别,学时\n甲,理论课,2\n乙,体育课,2\n".encode())
    assert (
        e.value.code == "bad_rows"
        and "第 3 行（课程类别应为 '理论课', '党性课', '实践课' 或 '能力课'）" in e.value.message
    )
