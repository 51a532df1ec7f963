"""Excel sheets (openpyxl) for the head teacher and the department: the completeness
list and the rankings, with Chinese headers."""

from __future__ import annotations

from typing import Any

from shared import xlsx
from shared.contracts.records import CORE_ROLES, RECORDER_ROLES

Doc = dict[str, Any]


def completeness_xlsx(c: Doc) -> bytes:
    header = ["学员编号", "姓名", "学习小组", "未记录的角色", *(f"{RECORDER_ROLES[r]}最近记录" for r in CORE_ROLES)]
    rows = [[u["cadre_id"], u["name"], u["group"], "、".join(u["missing_role_names"]),
             *(u["last_recorded"][r] or "未记录" for r in CORE_ROLES)] for u in c["uncovered"]]
    return xlsx.workbook([(f"近{c['days']}天未覆盖", header, rows)])


def ranking_xlsx(r: Doc) -> bytes:
    groups = list(r["class_ranking"][0]["by_group"]) if r["class_ranking"] else []
    header = ["名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"]
    rows = [[x["rank"], x["cadre_id"], x["name"], g["group"], *(x["by_group"].get(k, 0) for k in groups), x["total"]]
            for g in r["study_groups"] for x in g["trainees"]]
    return xlsx.workbook([
        ("全班排名", header, [[x["rank"], x["cadre_id"], x["name"], x["group"],
                              *(x["by_group"].get(g, 0) for g in groups), x["total"]] for x in r["class_ranking"]]),
        ("小组排名", ["组内名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"], rows),
    ])
