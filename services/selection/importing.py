"""Reading the registry the department keeps today (.xlsx, .xls or .csv) into checked rows.

Pure apart from decoding the file's bytes: rows in, good records and a per-row
report out. Headers are matched by their Chinese names, in any order, on whichever of
the first HEADER_SEARCH rows holds them: counties put a title ("某某县干部名册", often
merged across the columns) and a date line above the header. A header cell is compared
without spaces, full-width forms or a required-field star ("姓　名", "*身份证号").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.selection.cadres import mask_id, plain_id, validate
from shared import uploads
from shared.errors import DomainError

HEADERS = {
    "姓名": "name",
    "性别": "gender",
    "出生日期": "birth_date",
    "出生年月": "birth_date",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "公民身份号码": "id_number",
    "工作单位": "unit",
    "单位": "unit",
    "职务": "position",
    "职级": "rank",
    "类别": "category",
    "任现职级时间": "rank_since",
    "乡镇领导经历": "township_leadership",
    "录用方式": "recruited_as",
    "选调生/选聘生": "recruited_as",
    "录用年份": "recruited_year",
}
TEMPLATE = [
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "工作单位",
    "职务",
    "职级",
    "类别",
    "任现职级时间",
    "乡镇领导经历",
    "录用方式",
    "录用年份",
]
REQUIRED = ("name", "id_number", "unit", "rank")
HEADER_SEARCH = 20
_NOT_IN_HEADER = re.compile(r"[\s*＊:：]+")


@dataclass
class Checked:
    good: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (row, cadre_id, record)
    bad: list[dict[str, Any]] = field(default_factory=list)  # {row, name, id_number, errors}

    def take_parts(self, size: int) -> Iterator[list[tuple[int, str, dict[str, Any]]]]:
        """The good rows `size` at a time, each part taken off `good` as it is given: the rows
        not yet given are all that is left held of the file (`Handlers.import_cadres`)."""
        while self.good:
            part = self.good[:size]
            del self.good[:size]
            yield part


def _header_name(cell: Any) -> str | None:
    return HEADERS.get(_NOT_IN_HEADER.sub("", unicodedata.normalize("NFKC", str(cell or ""))))


def _header_row(table: list[list[Any]]) -> int:
    """Index of the header row: among the first HEADER_SEARCH rows, the one naming the
    most template columns (at least two); the first row when none does, so the missing
    columns are reported against it."""
    best, best_count = 0, 1
    for i, values in enumerate(table[:HEADER_SEARCH]):
        count = len({f for f in map(_header_name, values) if f is not None})
        if count > best_count:
            best, best_count = i, count
    return best


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, {field: value}) for every non-empty row under the header row."""
    table = uploads.table(filename, content)
    if not table:
        raise DomainError("文件是空的。", code="bad_file", field="file")
    at = _header_row(table)
    header = [_header_name(h) for h in table[at]]
    missing = [
        zh
        for zh, f in (("姓名", "name"), ("身份证号", "id_number"), ("工作单位", "unit"), ("职级", "rank"))
        if f not in header
    ]
    if missing:
        raise DomainError(
            f"表头缺少列：{'、'.join(missing)}（在前 {HEADER_SEARCH} 行中没有找到含这些列名的表头行；"
            f"表头应为：{'、'.join(TEMPLATE)}）。",
            code="bad_header",
            field="file",
        )
    rows = []
    for number, values in enumerate(table[at + 1 :], start=at + 2):
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        rows.append((number, {f: v for f, v in zip(header, values) if f is not None}))
    return rows


def _number_id_problem(value: Any) -> str | None:
    """A 身份证号 Excel stored as a number keeps only 15 significant digits: the last ones
    are lost (3.30102198001011E+17, or zeros at the end). Said as such, since the check
    digit would otherwise be blamed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) < 10**15:
        return None  # a short number is reported as short, by `id_problem`
    # shown as Excel shows it: 15 significant digits, zeros after (not the float's tail)
    shown = format(Decimal(f"{value:.15g}"), "f")
    return (
        f"身份证号在表格中存成了数字（读到 {shown}），Excel 只保留 15 位有效数字，后几位已丢失："
        "请把该列设为“文本”格式后重新录入号码"
    )


def check(rows: list[tuple[int, dict[str, Any]]], cadre_id_for: Callable[[str], str]) -> Checked:
    """Each row validated; a good one with the cadre id of its 身份证号 (`cadre_id_for`, the
    handlers' keyed one)."""
    out = Checked()
    seen: dict[str, int] = {}
    for number, raw in rows:
        record, errors = validate(raw)
        numeric = _number_id_problem(raw.get("id_number"))
        if record is None and numeric:
            errors = [numeric if e.startswith("身份证号") else e for e in errors]
        if record is not None and record["id_number"] in seen:
            errors = [f"身份证号与第 {seen[record['id_number']]} 行重复"]
            record = None
        if record is None:
            idn = plain_id(raw.get("id_number"))
            out.bad.append(
                {
                    "row": number,
                    "name": str(raw.get("name") or "").strip(),
                    "id_number": mask_id(idn) if idn else "",
                    "errors": errors,
                }
            )
            continue
        seen[record["id_number"]] = number
        out.good.append((number, cadre_id_for(record["id_number"]), record))
    return out
