"""The effect report (培训成效), pure: computed from a class_effect document on read.

Definitions (the README repeats them):
- a milestone *came due* once its date arrived (status due, overdue or completed);
- completion rate = completed / came due; on-time rate = completed on time / completed;
- an evaluation's score is the mean of its item scores; the score of a month is the
  mean of the scores of every evaluation submitted for milestones of that month;
- rates are fractions rounded to 4 places, scores rounded to 2.
"""

from __future__ import annotations

from collections import defaultdict


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def trainee_effect(sec: dict) -> dict:
    ms = list(sec.get("milestones", {}).values())
    came_due = [m for m in ms if m["status"] != "scheduled"]
    completed = [m for m in ms if m["status"] == "completed"]
    on_time = [m for m in completed if m.get("on_time")]
    scores: dict[int, list[float]] = defaultdict(list)
    for m in ms:
        scores[m["month"]].extend(e["mean"] for e in m["evaluations"] if e.get("mean") is not None)
    mentor = sec.get("mentor")
    return {
        "cadre_id": sec.get("cadre_id"), "name": sec.get("name", ""), "unit": sec.get("unit", ""),
        "milestones_scheduled": len(ms), "milestones_due": len(came_due), "milestones_completed": len(completed),
        "milestones_on_time": len(on_time), "milestones_overdue_open": sum(1 for m in ms if m["status"] == "overdue"),
        "completion_rate": _rate(len(completed), len(came_due)), "on_time_rate": _rate(len(on_time), len(completed)),
        "scores_by_month": {str(k): _mean(v) for k, v in sorted(scores.items()) if v},
        "mentor": mentor["name"] if mentor else None,
        "mentor_tasks_done": len(sec.get("tasks", {})),
        "talks": len(sec.get("talks", [])),
    }


def class_effect(doc: dict) -> dict:
    trainees = [trainee_effect(sec) for sec in doc.get("trainees", {}).values()]
    trainees.sort(key=lambda t: (t["unit"], t["name"], t["cadre_id"] or ""))
    due = sum(t["milestones_due"] for t in trainees)
    completed = sum(t["milestones_completed"] for t in trainees)
    on_time = sum(t["milestones_on_time"] for t in trainees)
    scores: dict[int, list[float]] = defaultdict(list)
    for sec in doc.get("trainees", {}).values():
        for m in sec.get("milestones", {}).values():
            scores[m["month"]].extend(e["mean"] for e in m["evaluations"] if e.get("mean") is not None)
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
            "endorsed": sum(1 for o in outcomes if o["endorsements"]),
            "items": sorted(outcomes, key=lambda o: o["title"]),
        },
        "by_trainee": trainees,
    }
