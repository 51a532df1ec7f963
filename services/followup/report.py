"""The reports as users take them, pure: the effect figures (培训成效), computed on read from
a class's `class_figures` document (or a `class_effect` one: the same trainee sections with
every evaluation whole) and a file's class section, and the Excel workbooks of
the effect report, the week's work list and a trainee's file (Chinese headers).

Definitions (the README repeats them):
- a milestone *came due* once its date arrived (status due, overdue or completed);
- completion rate = completed / came due; on-time rate = completed on time / completed;
- an evaluation's score is the mean of its item scores; the score of a month is the
  mean of the scores of every evaluation submitted for milestones of that month;
- rates are fractions rounded to 4 places, scores rounded to 2.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from shared.contracts.followup import EVALUATOR_ROLES
from shared.xlsx import sheet

if TYPE_CHECKING:  # openpyxl is imported where a workbook is made (shared/xlsx.py)
    from openpyxl import Workbook


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _means(m: dict) -> list[float]:
    """A milestone's evaluation means: kept as a list by `class_figures`, else from each
    evaluation (a trainee file's section, projections.py)."""
    if "means" in m:
        return m["means"]
    return [e["mean"] for e in m["evaluations"] if e.get("mean") is not None]


def _question_scores(m: dict) -> list[tuple[str, list[float]]]:
    """A milestone's scores by question, each in the order submitted (either shape, as `_means`)."""
    if "means" in m:
        return list(m["scores"].items())
    by: dict[str, list[float]] = {}
    for e in m["evaluations"]:
        for question, score in (e.get("scores") or {}).items():
            by.setdefault(question, []).append(score)
    return list(by.items())


def trainee_effect(sec: dict) -> dict:
    ms = list(sec.get("milestones", {}).values())
    came_due = [m for m in ms if m["status"] != "scheduled"]
    completed = [m for m in ms if m["status"] == "completed"]
    on_time = [m for m in completed if m.get("on_time")]
    scores: dict[int, list[float]] = defaultdict(list)
    for m in ms:
        scores[m["month"]].extend(_means(m))
    mentor = sec.get("mentor")
    return {
        "cadre_id": sec.get("cadre_id"),
        "name": sec.get("name", ""),
        "unit": sec.get("unit", ""),
        "milestones_scheduled": len(ms),
        "milestones_due": len(came_due),
        "milestones_completed": len(completed),
        "milestones_on_time": len(on_time),
        "milestones_overdue_open": sum(1 for m in ms if m["status"] == "overdue"),
        "completion_rate": _rate(len(completed), len(came_due)),
        "on_time_rate": _rate(len(on_time), len(completed)),
        "scores_by_month": {str(k): _mean(v) for k, v in sorted(scores.items()) if v},
        "mentor": mentor["name"] if mentor else None,
        "mentor_tasks_done": len(sec.get("tasks", {})),
        "talks": len(sec.get("talks", [])),
    }


def outcome_view(o: dict) -> dict:
    """An outcome as readers get it: `authors` the names shown, `author_ids` each one's cadre
    id (None for an author typed as text before OutcomeReported v2). The read model keeps each
    author as {cadre_id, name} (projections.py); a document folded before that keeps names."""
    authors = [a if isinstance(a, dict) else {"cadre_id": None, "name": a} for a in o.get("authors", [])]
    return {**o, "authors": [a["name"] for a in authors], "author_ids": [a["cadre_id"] for a in authors]}


def class_effect(doc: dict) -> dict:
    trainees = [trainee_effect(sec) for sec in doc.get("trainees", {}).values()]
    trainees.sort(key=lambda t: (t["unit"], t["name"], t["cadre_id"] or ""))
    due = sum(t["milestones_due"] for t in trainees)
    completed = sum(t["milestones_completed"] for t in trainees)
    on_time = sum(t["milestones_on_time"] for t in trainees)
    scores: dict[int, list[float]] = defaultdict(list)
    for sec in doc.get("trainees", {}).values():
        for m in sec.get("milestones", {}).values():
            scores[m["month"]].extend(_means(m))
    by_question: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sec in doc.get("trainees", {}).values():
        for m in sec.get("milestones", {}).values():
            for question, given in _question_scores(m):
                by_question[m["month"]][question].extend(given)
    outcomes = list(doc.get("outcomes", {}).values())
    endorsements = [e for o in outcomes for e in o["endorsements"]]
    return {
        "class_id": doc.get("class_id"),
        "jurisdiction": doc.get("jurisdiction"),
        "trainees": len(trainees),
        "milestones_scheduled": sum(t["milestones_scheduled"] for t in trainees),
        "milestones_due": due,
        "milestones_completed": completed,
        "milestones_on_time": on_time,
        "milestones_overdue_open": sum(t["milestones_overdue_open"] for t in trainees),
        "completion_rate": _rate(completed, due),
        "on_time_rate": _rate(on_time, completed),
        "scores_by_month": {str(k): _mean(v) for k, v in sorted(scores.items()) if v},
        "scores_by_question": {
            str(k): {q: _mean(v) for q, v in qs.items()} for k, qs in sorted(by_question.items())
        },
        "mentors_assigned": sum(1 for t in trainees if t["mentor"]),
        "mentor_tasks_done": sum(t["mentor_tasks_done"] for t in trainees),
        "trainees_all_mentor_tasks": sum(1 for t in trainees if t["mentor_tasks_done"] >= 3),
        "talks": sum(t["talks"] for t in trainees),
        "trainees_with_talks": sum(1 for t in trainees if t["talks"]),
        "outcomes": {
            "reports": sum(1 for o in outcomes if o["kind"] == "report"),
            "proposals": sum(1 for o in outcomes if o["kind"] == "proposal"),
            "approvals": sum(1 for e in endorsements if e["kind"] == "approval"),
            "adoptions": sum(1 for e in endorsements if e["kind"] == "adoption"),
            "conversions": sum(1 for e in endorsements if e["kind"] == "conversion"),
            "endorsed": sum(1 for o in outcomes if o["endorsements"]),
            "items": sorted((outcome_view(o) for o in outcomes), key=lambda o: o["title"]),
        },
        "by_trainee": trainees,
    }


# -- Excel workbooks (openpyxl) ---------------------------------------------------------------
OUTCOME_KINDS = {
    "report": "调研报告",
    "proposal": "金点子",
    "approval": "领导批示",
    "adoption": "采纳",
    "conversion": "转化",
}


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.1f}%"


# long: one workbook, each sheet's header and rows written as the sheet reads
def effect_workbook(effect: dict) -> Workbook:
    months = sorted(
        {int(m) for t in effect["by_trainee"] for m in t["scores_by_month"]}
        | {int(m) for m in effect["scores_by_month"]}
    )
    from openpyxl import Workbook

    wb = Workbook()
    o = effect["outcomes"]
    sheet(
        wb,
        "汇总",
        ["指标", "数值"],
        [
            ["班次", effect.get("class_title") or effect["class_id"]],
            ["结业学员数", effect["trainees"]],
            ["已排定节点数", effect["milestones_scheduled"]],
            ["已到期节点数", effect["milestones_due"]],
            ["已完成节点数", effect["milestones_completed"]],
            ["按时完成节点数", effect["milestones_on_time"]],
            ["逾期未完成节点数", effect["milestones_overdue_open"]],
            ["节点完成率", _pct(effect["completion_rate"])],
            ["按时完成率", _pct(effect["on_time_rate"])],
            *[[f"{m}个月评价平均分", effect["scores_by_month"].get(str(m))] for m in months],
            ["已配导师人数", effect["mentors_assigned"]],
            ["导师帮带任务完成数", effect["mentor_tasks_done"]],
            ["三项帮带任务全部完成人数", effect["trainees_all_mentor_tasks"]],
            ["上讲台次数", effect["talks"]],
            ["上讲台人数", effect["trainees_with_talks"]],
            ["调研报告", o["reports"]],
            ["金点子", o["proposals"]],
            ["领导批示", o["approvals"]],
            ["采纳", o["adoptions"]],
            ["转化", o["conversions"]],
            ["获批示、采纳或转化的成果", o["endorsed"]],
        ],
        first=True,
    )
    sheet(
        wb,
        "学员明细",
        [
            "姓名",
            "干部编号",
            "单位",
            "已到期节点",
            "已完成",
            "按时完成",
            "逾期未完成",
            "完成率",
            "按时率",
            *[f"{m}个月得分" for m in months],
            "导师",
            "帮带任务完成数",
            "上讲台次数",
        ],
        [
            [
                t["name"],
                t.get("cadre_id", ""),  # none for a role that sees no names (shared/visibility.py)
                t.get("unit", ""),
                t["milestones_due"],
                t["milestones_completed"],
                t["milestones_on_time"],
                t["milestones_overdue_open"],
                _pct(t["completion_rate"]),
                _pct(t["on_time_rate"]),
                *[t["scores_by_month"].get(str(m)) for m in months],
                t.get("mentor") or "",
                t["mentor_tasks_done"],
                t["talks"],
            ]
            for t in effect["by_trainee"]
        ],
    )
    sheet(
        wb,
        "成果",
        ["成果", "类别", "作者", "批示、采纳与转化", "成果文档"],
        [
            [
                i["title"],
                OUTCOME_KINDS[i["kind"]],
                "、".join(i.get("authors", [])),
                "；".join(
                    f"{OUTCOME_KINDS[e['kind']]}（{e.get('by', '')}，{e['on']}）" for e in i["endorsements"]
                ),
                (i.get("document") or {}).get("name", ""),
            ]
            for i in o["items"]
        ],
    )
    sheet(
        wb,
        "分题平均分",
        ["节点", "评价内容", "平均分"],
        [
            [f"{m}个月", question, score]
            for m, questions in effect.get("scores_by_question", {}).items()
            for question, score in questions.items()
        ],
    )
    return wb


def worklist_workbook(wl: dict) -> Workbook:
    from openpyxl import Workbook

    wb = Workbook()
    sheet(
        wb,
        "本周跟踪待办",
        ["状态", "姓名", "干部编号", "单位", "班次编号", "节点", "到期日", "尚缺评价", "导师"],
        [
            [
                i["status_name"],
                i["name"],
                i["cadre_id"],
                i["unit"],
                i["class_id"],
                f"{i['month']}个月·{i['focus']}",
                i["due_on"],
                "、".join(EVALUATOR_ROLES[r] for r in i["missing_roles"]),
                i["mentor"] or "",
            ]
            for i in wl["items"]
        ],
        first=True,
    )
    return wb


STATUS_NAMES = {"scheduled": "未到期", "due": "已到期待完成", "completed": "已完成", "overdue": "已逾期"}


# long: one workbook, each sheet's header and rows written as the sheet reads
def file_workbook(f: dict) -> Workbook:
    classes = f["classes"]
    from openpyxl import Workbook

    wb = Workbook()
    sheet(
        wb,
        "跟踪节点",
        ["班次编号", "节点", "到期日", "状态", "完成日期", "是否按时", "平均分"],
        [
            [
                c["class_id"],
                f"{m['month']}个月·{m['focus']}",
                m["due_on"],
                STATUS_NAMES[m["status"]],
                m["completed_on"] or "",
                "" if m["on_time"] is None else ("是" if m["on_time"] else "否"),
                m["average_score"],
            ]
            for c in classes
            for m in sorted(c["milestones"].values(), key=lambda m: m["month"])
        ],
        first=True,
    )
    sheet(
        wb,
        "评价",
        ["班次编号", "节点", "评价角色", "评价人", "日期", "平均分", "评价意见"],
        [
            [
                c["class_id"],
                f"{m['month']}个月",
                e["role_name"],
                e["evaluator_name"],
                e["submitted_on"],
                e["mean"],
                e.get("text", ""),
            ]
            for c in classes
            for m in sorted(c["milestones"].values(), key=lambda m: m["month"])
            for e in m["evaluations"]
        ],
    )
    sheet(
        wb,
        "导师帮带",
        ["班次编号", "导师", "任务", "完成日期", "佐证材料", "导师评语"],
        [
            [
                c["class_id"],
                (c.get("mentor") or {}).get("name", ""),
                t["task_name"],
                t["done_on"],
                t["evidence"],
                t["comment"],
            ]
            for c in classes
            for t in c["tasks"].values()
        ],
    )
    sheet(
        wb,
        "上讲台",
        ["班次编号", "日期", "听众", "题目", "听讲人数"],
        [
            [c["class_id"], t["on"], t["audience"], t["topic"], t["attendees"]]
            for c in classes
            for t in c["talks"]
        ],
    )
    return wb
