"""Excel export of the current view (当前视图导出)."""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Font

from services.dashboard.domain import BANDS, MILESTONE_MONTHS
from shared import xlsx

LEVEL_NAMES = {"province": "省", "city": "市", "county": "县"}


MILESTONE_STATUS_ZH = {"scheduled": "未到期", "due": "到期待评", "completed": "已完成", "overdue": "逾期"}


def _band(name: str):
    return lambda m: m["assessment"][name]


def _evaluation(month: int):
    return lambda m: m["evaluation"].get(str(month))


def _evaluation_mean(month: int):
    return lambda m: m["evaluation"][str(month)]


def _graduation(t: dict) -> str:
    """是; 否 with the reasons teaching gave; nothing while the class has not graduated."""
    if t["graduated"]:
        return "是"
    if t.get("not_graduated"):
        return "否：" + "；".join(t.get("not_graduated_reasons") or [])
    return ""


def _milestone(month: int):
    return lambda t: MILESTONE_STATUS_ZH.get(t["milestones"].get(str(month)), "")


def _pct(v):
    return None if v is None else round(v * 100, 1)


COLUMNS: list[tuple[str, object]] = [
    ("期数", lambda m: m["classes"]),
    ("人次（确定学员）", lambda m: m["trainees"]),
    ("推荐人数", lambda m: m["nominated"]),
    ("确定率(%)", lambda m: _pct(m["confirmation_rate"])),
    ("出勤率(%)", lambda m: _pct(m["attendance_rate"])),
    ("出勤学时", lambda m: m["hours"]),
    ("结业人数", lambda m: m["graduated"]),
    ("在册干部", lambda m: m["registered_cadres"]),
    ("五年轮训覆盖率(%)", lambda m: _pct(m["rotation_coverage"])),
    ("年度学时达标率(%)", lambda m: _pct(m["hours_compliance"])),
    ("3+N纪实覆盖率(%)", lambda m: _pct(m["record_coverage"])),
    ("纪实条数", lambda m: m["records"]),
    *[(f"考核{label}", _band(name)) for name, _f, label in BANDS],
    ("跟踪节点已排定", lambda m: m["milestones"]["scheduled"]),
    ("跟踪节点已到期", lambda m: m["milestones"]["due"]),
    ("跟踪节点已完成", lambda m: m["milestones"]["completed"]),
    ("按时完成", lambda m: m["milestones"]["on_time"]),
    ("逾期未完成", lambda m: m["milestones"]["overdue"]),
    *[(f"{mo}个月评价均分", _evaluation_mean(mo)) for mo in MILESTONE_MONTHS],
    ("导师帮带任务完成", lambda m: m["mentor_tasks"]),
    ("上讲台次数", lambda m: m["talks"]),
    ("成果", lambda m: m["outcomes"]),
    ("成果获批示/采纳", lambda m: m["outcomes_endorsed"]),
]


def workbook(view: dict) -> Workbook:
    wb = Workbook()
    period = f"{view['year']}年" if view["year"] else "全部年份"
    name = view.get("name", view["jurisdiction"])
    caption = (
        f"干部教育培训看板 · {name} {view['jurisdiction']}（{LEVEL_NAMES[view['level']]}级）· {period}"
        f" · 年度学时标准 {view['hours_policy']} 学时"
    )
    first = "班次" if view["level"] == "county" else "行政区划代码"
    rows = [[row["code"], row["title"], *[f(row) for _h, f in COLUMNS]] for row in view["rows"]]
    ws = xlsx.sheet(
        wb,
        "看板",
        [first, "名称", *[c[0] for c in COLUMNS]],
        [*rows, ["合计", name, *[f(view["totals"]) for _h, f in COLUMNS]]],
        first=True,
        caption=caption,
        freeze="C3",
    )
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    return wb


FALLBACK = "dashboard.xlsx"  # the plain-ASCII file name, for clients that do not read filename*


def filename(view: dict) -> str:
    period = f"{view['year']}年" if view["year"] else "全部"
    return f"干训看板_{view['jurisdiction']}_{period}.xlsx"


TRAINEE_COLUMNS: list[tuple[str, object]] = [
    ("姓名", lambda t: t["name"]),
    ("单位", lambda t: t.get("unit", "—")),
    (
        "状态",
        lambda t: {
            "nominated": "已推荐",
            "confirmed": "已确定",
            "rejected": "不予确定",
            "waitlisted": "候补",
            "withdrawn": "已撤回",
        }.get(t["status"], t["status"]),
    ),
    ("学习小组", lambda t: t["group"]),
    ("出勤次数", lambda t: t["attended"]),
    ("缺勤次数", lambda t: t["absent"]),
    ("出勤学时", lambda t: t["hours"]),
    ("结业", lambda t: _graduation(t)),
    ("纪实条数", lambda t: t["records"]),
    ("考核均分", lambda t: t["assessment"]),
    *[(f"{mo}个月节点", _milestone(mo)) for mo in MILESTONE_MONTHS],
    *[(f"{mo}个月评价", _evaluation(mo)) for mo in MILESTONE_MONTHS],
    ("导师帮带任务", lambda t: t["mentor_tasks"]),
    ("上讲台次数", lambda t: t["talks"]),
]


def class_workbook(detail: dict) -> Workbook:
    wb = Workbook()
    note = "" if detail["names_shown"] else "（分析员视图：不含姓名与单位）"
    xlsx.sheet(
        wb,
        "学员",
        [h for h, _f in TRAINEE_COLUMNS],
        ([f(t) for _h, f in TRAINEE_COLUMNS] for t in detail["trainees"]),
        first=True,
        freeze="B3",
        caption=f"班次“{detail['title']}”（{detail['class_id']}，辖区 {detail['jurisdiction']}，"
        f"{detail['starts_on']} 至 {detail['ends_on']}）学员情况{note}",
    )
    return wb
