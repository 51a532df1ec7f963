"""Reading the registry the department keeps today (.xlsx or .csv) into checked rows.

Pure apart from decoding the file's bytes: rows in, good records and a per-row
report out. Headers are matched by their Chinese names, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.selection.cadres import cadre_id_for, mask_id, validate
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


@dataclass
class Checked:
    good: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (row, cadre_id, record)
    bad: list[dict[str, Any]] = field(default_factory=list)  # {row, name, id_number, errors}


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, {field: value}) for every non-empty row under the header row."""
    table = uploads.table(filename, content)
    if not table:
        raise DomainError("文件是空的。", code="bad_file", field="file")
    header = [HEADERS.get(str(h or "").strip()) for h in table[0]]
    missing = [
        zh
        for zh, f in (("姓名", "name"), ("身份证号", "id_number"), ("工作单位", "unit"), ("职级", "rank"))
        if f not in header
    ]
    if missing:
        raise DomainError(
            f"表头缺少列：{'、'.join(missing)}（第一行应为：{'、'.join(TEMPLATE)}）。",
            code="bad_header",
            field="file",
        )
    rows = []
    for number, values in enumerate(table[1:], start=2):
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        rows.append((number, {f: v for f, v in zip(header, values) if f is not None}))
    return rows


def check(rows: list[tuple[int, dict[str, Any]]]) -> Checked:
    out = Checked()
    seen: dict[str, int] = {}
    for number, raw in rows:
        record, errors = validate(raw)
        if record is not None and record["id_number"] in seen:
            errors = [f"身份证号与第 {seen[record['id_number']]} 行重复"]
            record = None
        if record is None:
            idn = str(raw.get("id_number") or "").strip().upper()
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
