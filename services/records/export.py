"""Excel sheets (openpyxl) for the head teacher and the department: the completeness
list and the rankings, with Chinese headers."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from shared.contracts.records import CORE_ROLES, RECORDER_ROLES

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Doc = dict[str, Any]


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]], first: bool = False):
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    for col, name in zip(ws.columns, header):
        ws.column_dimensions[col[0].column_letter].width = max(10, len(name) * 2 + 2)
    return ws


def _bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def completeness_xlsx(c: Doc) -> bytes:
    wb = Workbook()
    header = ["学员编号", "姓名", "学习小组", "未记录的角色", *(f"{RECORDER_ROLES[r]}最近记录" for r in CORE_ROLES)]
    rows = [[u["cadre_id"], u["name"], u["group"], "、".join(u["missing_role_names"]),
             *(u["last_recorded"][r] or "未记录" for r in CORE_ROLES)] for u in c["uncovered"]]
    _sheet(wb, f"近{c['days']}天未覆盖", header, rows, first=True)
    return _bytes(wb)


def ranking_xlsx(r: Doc) -> bytes:
    groups = list(r["class_ranking"][0]["by_group"]) if r["class_ranking"] else []
    wb = Workbook()
    header = ["名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"]
    _sheet(wb, "全班排名", header, [[x["rank"], x["cadre_id"], x["name"], x["group"],
                                    *(x["by_group"].get(g, 0) for g in groups), x["total"]]
                                   for x in r["class_ranking"]], first=True)
    rows = [[x["rank"], x["cadre_id"], x["name"], g["group"], *(x["by_group"].get(k, 0) for k in groups), x["total"]]
            for g in r["study_groups"] for x in g["trainees"]]
    _sheet(wb, "小组排名", ["组内名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"], rows)
    return _bytes(wb)
