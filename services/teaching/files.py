"""File formats in and out: the iCalendar timetable (RFC 5545), the attendance and
graduation spreadsheets, and the uploads read into events (the online-learning
platform's export into OnlineHoursCredited, a school's course list into CourseAdded).
Made from the dicts reads.py returns; no collection access here.

Spreadsheets name people by name and unit with a row number, never by internal ids
(issue 17): a clerk reads them, and the workbench keeps the ids in its links."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError

from shared import uploads, xlsx
from shared.contracts.teaching import CourseAdded, OnlineHoursCredited
from shared.errors import DomainError
from shared.ids import new_id

# -- iCalendar ---------------------------------------------------------------------------------
VTIMEZONE = [
    "BEGIN:VTIMEZONE",
    "TZID:Asia/Shanghai",
    "BEGIN:STANDARD",
    "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0800",
    "TZOFFSETTO:+0800",
    "TZNAME:CST",
    "END:STANDARD",
    "END:VTIMEZONE",
]


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> list[str]:
    """Lines of at most 75 octets, continuation lines starting with a space (RFC 5545 3.1)."""
    out, current = [], ""
    for ch in line:
        limit = 75 if not out else 74
        if len((current + ch).encode()) > limit:
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return [out[0]] + [" " + x for x in out[1:]]


def _local(day: str, hhmm: str) -> str:
    return day.replace("-", "") + "T" + hhmm.replace(":", "")[:4] + "00"


def ics(title: str, sessions: list[dict], sites: dict[str, dict], stamp: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ganxun//teaching//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(title)}",
        "X-WR-TIMEZONE:Asia/Shanghai",
        *VTIMEZONE,
    ]
    for s in sessions:
        site = sites.get(s["site_id"], {})
        where = "，".join(x for x in (site.get("name", ""), site.get("address", "")) if x)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{s['session_id']}@teaching.ganxun",
            f"DTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}",
            f"DTSTART;TZID=Asia/Shanghai:{_local(s['on'], s['starts_at'])}",
            f"DTEND;TZID=Asia/Shanghai:{_local(s['on'], s['ends_at'])}",
            f"SUMMARY:{_escape(s['course_title'])}",
            "DESCRIPTION:" + _escape(f"{s['kind']}，{s['hours']:g} 学时，授课：{s['teacher_name']}"),
            f"LOCATION:{_escape(where)}",
            f"STATUS:{'CANCELLED' if s.get('cancelled') else 'CONFIRMED'}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(f"{part}\r\n" for line in lines for part in _fold(line))


# -- spreadsheets ------------------------------------------------------------------------------------
ATTENDANCE_HEADERS = [
    "序号",
    "姓名",
    "单位",
    "出勤次数",
    "缺勤次数",
    "其中请假",
    "迟到",
    "早退",
    "学时",
    "理论课",
    "党性课",
    "实践课",
    "能力课",
    "出勤率",
]


def attendance_workbook(report: dict) -> bytes:
    """The class's attendance and hours (reads.Reads.class_attendance), one row per trainee."""
    rows = [
        [
            n,
            t["name"],
            t.get("unit", ""),  # none for a role that sees no names (shared/visibility.py)
            t["attended"],
            t["absent"],
            t["excused"],
            t["late"],
            t["early_leave"],
            t["hours"],
            *(t["hours_by_kind"].get(k, 0) for k in ATTENDANCE_HEADERS[9:13]),
            f"{t['attendance_rate']:.1%}",
        ]
        for n, t in enumerate(report["trainees"], start=1)
    ]
    return xlsx.workbook([("考勤与学时", ATTENDANCE_HEADERS, rows)])


GRADUATION_HEADERS = ["序号", "姓名", "单位", "结果", "学时", "出勤率", "未结业原因"]


def graduation_workbook(g: dict) -> bytes:
    """Who graduated, then who did not and why (reads.Reads.graduation)."""
    rows = [
        [x["name"], x.get("unit", ""), "结业", x["hours"], f"{x['attendance_rate']:.1%}", ""]
        for x in g["graduated"]
    ] + [
        [x["name"], x.get("unit", ""), "未结业", "", "", "；".join(x["reasons"])] for x in g["not_graduated"]
    ]
    return xlsx.workbook(
        [("结业评定", GRADUATION_HEADERS, [[n, *row] for n, row in enumerate(rows, start=1)])]
    )


# -- the online platform's export -----------------------------------------------------------------
COLUMNS = {
    "平台记录编号": "reference",
    "干部编号": "cadre_id",
    "姓名": "name",
    "学时": "hours",
    "学习日期": "on",
    "课程类别": "kind",
}
REQUIRED = ("平台记录编号", "干部编号", "学时", "学习日期")


def _rows(filename: str, content: bytes) -> list[list]:
    """The file's rows within shared/uploads.py's bounds; any name but .xlsx is read as CSV."""
    return uploads.table(filename, content, csv_otherwise=True)


def _table(
    filename: str, content: bytes, columns: dict[str, str], required: tuple[str, ...], optional: str
) -> list[tuple[int, dict]]:
    """(row number, fields by name) for every non-empty row, or a refusal naming the columns."""
    rows = [r for r in _rows(filename, content) if any(c not in (None, "") for c in r)]
    if not rows:
        raise DomainError("文件为空。", code="bad_file", field="file")
    header = [str(h or "").strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise DomainError(
            f"文件缺少列：{'、'.join(missing)}。表头应为：{'、'.join(columns)}（{optional}可选）。",
            code="bad_columns",
            field="file",
        )
    out = []
    for n, row in enumerate(rows[1:], start=2):
        raw = {columns[h]: row[i] for i, h in enumerate(header) if h in columns and i < len(row)}
        fields = {
            k: (str(v).strip() if not isinstance(v, (int, float, date)) else v)
            for k, v in raw.items()
            if v not in (None, "")
        }
        out.append((n, fields))
    return out


def _why(e: dict, columns: dict[str, str]) -> str:
    """One validation error in the clerk's words: the column's Chinese name and what it should hold."""
    names = {field: zh for zh, field in columns.items()}
    column = names.get(str(e["loc"][0]), ".".join(str(x) for x in e["loc"])) if e["loc"] else "整行"
    if e["type"] == "literal_error":
        return f"{column}应为 {str(e['ctx']['expected']).replace(' or ', ' 或 ')}"
    if e["type"] == "missing":
        return f"{column}未填写"
    if e["type"].startswith(("greater_than", "less_than")):
        return f"{column}超出允许范围"
    return f"{column}格式不正确"


def _parse(table: list[tuple[int, dict]], make, columns: dict[str, str]) -> list:
    """Every row or none: a file with a bad row is refused whole, naming the rows."""
    out, errors = [], []
    for n, fields in table:
        try:
            out.append(make(fields))
        except ValidationError as exc:
            errors.append(f"第 {n} 行（{'；'.join(_why(e, columns) for e in exc.errors())}）")
    if errors:
        raise DomainError(
            f"以下行无效，整个文件未导入：{'；'.join(errors[:10])}"
            f"{' 等' if len(errors) > 10 else ''}。请修正后重新导入。",
            code="bad_rows",
            field="file",
        )
    return out


def online_records(filename: str, content: bytes) -> list[OnlineHoursCredited]:
    def make(fields: dict) -> OnlineHoursCredited:
        if isinstance(fields.get("on"), datetime):
            fields["on"] = fields["on"].date()
        return OnlineHoursCredited(**{**fields, "reference": str(fields.get("reference", ""))})

    return _parse(_table(filename, content, COLUMNS, REQUIRED, "课程类别、姓名"), make, COLUMNS)


COURSE_COLUMNS = {
    "课程编号": "course_id",
    "课程名称": "title",
    "课程类别": "kind",
    "教学方式": "method",
    "学时": "hours",
    "课程性质": "mode",
    "教材与资料": "materials",
}


def course_records(filename: str, content: bytes) -> list[CourseAdded]:
    """The school's course list (课程名称、课程类别、学时 required); materials split on 、;；."""

    def make(fields: dict) -> CourseAdded:
        materials = [
            m.strip()
            for m in str(fields.pop("materials", "")).replace("；", "、").replace(";", "、").split("、")
            if m.strip()
        ]
        return CourseAdded(
            **{**fields, "course_id": str(fields.get("course_id") or new_id()), "materials": materials}
        )

    return _parse(
        _table(
            filename,
            content,
            COURSE_COLUMNS,
            ("课程名称", "课程类别", "学时"),
            "课程编号、教学方式、课程性质、教材与资料",
        ),
        make,
        COURSE_COLUMNS,
    )
