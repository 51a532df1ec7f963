"""The dashboard's arithmetic (看板口径), pure: no I/O.

Two kinds of bounded documents carry everything (see projections.py):

- a **class document** (one per 班次) holds each trainee's state and `n`, the class's
  counters; every counter is the sum over trainees of `trainee_contribution(t)` plus
  class-level counts, kept incrementally: before a trainee changes its old
  contribution is subtracted, afterwards its new one added;
- a **cadre bucket** (one per county and hash bucket of cadre ids) holds the registry
  cadres' training years and hours, and `n`, counts per year from
  `cadre_contribution(c)`.

A county's or province's figures are then sums of those counters (`add`), and the
rates and averages shown are derived from sums by `metrics`, never averaged averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

Counts = dict[str, float]

# 五年一轮训: a cadre trained (graduated) in year t counts as covered in t … t+4.
ROTATION_YEARS = 5
# Default yearly hours policy (学时). Configurable per query (`hours_policy`), because the
# buckets keep a histogram of hours in steps of HOURS_STEP rather than a yes/no.
DEFAULT_HOURS_POLICY = 110
HOURS_STEP = 10
HOURS_CAP = 300
MILESTONE_MONTHS = (1, 3, 6, 12)
# 量化考核 bands of a trainee's average weekly total, as a percentage of the scheme's maximum.
BANDS = (("excellent", 90, "优秀"), ("good", 80, "良好"), ("pass", 60, "合格"), ("below", 0, "待改进"))
MENTOR_TASK_KINDS = 3


def add(total: Counts, part: Mapping[str, float], sign: int = 1) -> Counts:
    for k, v in part.items():
        value = total.get(k, 0) + sign * v
        if value:
            total[k] = value
        else:
            total.pop(k, None)
    return total


def diff_into(total: Counts, old: Mapping[str, float], new: Mapping[str, float]) -> None:
    add(total, old, -1)
    add(total, new, 1)


def band_of(points: float) -> str:
    for name, floor, _label in BANDS:
        if points >= floor:
            return name
    return BANDS[-1][0]


def assessment_percent(t: Mapping) -> float | None:
    """A trainee's average weekly total as a share of the class scheme's maximum (Huzhou's
    "三百分" is out of 300); 100 when the scheme was not seen."""
    weeks = t.get("assess_weeks") or {}
    if not weeks:
        return None
    return round(sum(weeks.values()) / len(weeks) * 100 / (t.get("assess_max") or 100), 1)


def trainee_contribution(t: Mapping) -> Counts:
    """What one trainee adds to the class counters."""
    out: Counts = {}
    status = t.get("status")
    if t.get("nominated"):
        out["nominated"] = 1
    if status == "confirmed":
        out["confirmed"] = 1
    elif status in ("rejected", "waitlisted", "withdrawn"):
        out[status] = 1
    for key in ("attended", "absent", "excused", "records", "talks"):
        if t.get(key):
            out[key] = t[key]
    if t.get("hours"):
        out["hours"] = t["hours"]
    if t.get("records"):
        out["recorded"] = 1
    if t.get("graduated"):
        out["graduated"] = 1
    if t.get("not_graduated"):
        out["not_graduated"] = 1
    percent = assessment_percent(t)
    if percent is not None:
        out["assessed"] = 1
        out["band:" + band_of(percent)] = 1
    tasks = t.get("tasks") or []
    if tasks:
        out["mentor_tasks"] = len(tasks)
        if len(tasks) >= MENTOR_TASK_KINDS:
            out["mentor_all_tasks"] = 1
    if t.get("mentor"):
        out["mentored"] = 1
    for m, ms in (t.get("milestones") or {}).items():
        state = ms.get("state")
        out["ms_scheduled"] = out.get("ms_scheduled", 0) + 1
        out[f"ms_scheduled:{m}"] = out.get(f"ms_scheduled:{m}", 0) + 1
        if ms.get("due"):
            out["ms_due"] = out.get("ms_due", 0) + 1
        if state == "completed":
            out["ms_completed"] = out.get("ms_completed", 0) + 1
            if ms.get("on_time"):
                out["ms_on_time"] = out.get("ms_on_time", 0) + 1
        elif state == "overdue":
            out["ms_overdue"] = out.get("ms_overdue", 0) + 1
    for m, (total, count) in (t.get("evaluations") or {}).items():
        out[f"eval_sum:{m}"] = out.get(f"eval_sum:{m}", 0) + total
        out[f"eval_n:{m}"] = out.get(f"eval_n:{m}", 0) + count
    return out


def cadre_contribution(c: Mapping) -> Counts:
    """What one registry cadre adds to its bucket: registered, covered years, hours band per year.

    Only registered cadres count (an attendance of an unregistered cadre is kept and
    counts once the registration arrives, whatever the order across topics)."""
    if not c.get("registered"):
        return {}
    out: Counts = {"registered": 1}
    covered: set[int] = set()
    for year in c.get("trained") or []:
        covered.update(range(int(year), int(year) + ROTATION_YEARS))
    for y in covered:
        out[f"cov:{y}"] = 1
    for year, hours in (c.get("hours") or {}).items():
        step = min(int(hours // HOURS_STEP) * HOURS_STEP, HOURS_CAP)
        out[f"h:{year}:{step}"] = 1
    return out


def milestone_state(ms: Mapping) -> str:
    """What a trainee's milestone is now. `MilestoneDue` only marks it due (the counters
    count it as due), so a scheduled milestone that is due reads as due, not scheduled."""
    state = ms.get("state") or "scheduled"
    return "due" if state == "scheduled" and ms.get("due") else state


def started(counts: Mapping[str, float], starts_on: str | None, today: date | None) -> Counts:
    """A class's counters as the rates read them on `today`: a class that has not started
    yet cannot have records, so its confirmed trainees are marked `unstarted` and left out
    of the coverage rates' denominators (they still count as trainees)."""
    out = dict(counts)
    if today is not None and starts_on and starts_on > today.isoformat() and counts.get("confirmed"):
        out["unstarted"] = counts["confirmed"]
    return out


def class_in_period(starts_on: str | None, year: int | None) -> bool:
    return year is None or (starts_on or "")[:4] == str(year)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(
    n: Mapping[str, float],
    cadres: Mapping[str, float],
    year: int | None,
    hours_policy: int = DEFAULT_HOURS_POLICY,
    classes: int | None = None,
) -> dict:
    """The figures a user reads, from summed counters of classes (`n`) and cadre buckets."""
    registered = cadres.get("registered", 0)
    y = year
    covered = cadres.get(f"cov:{y}", 0) if y is not None else None
    compliant = (
        sum(
            v
            for k, v in cadres.items()
            if k.startswith(f"h:{y}:") and int(k.rsplit(":", 1)[1]) >= hours_policy
        )
        if y is not None
        else None
    )
    sessions_seen = n.get("attended", 0) + n.get("absent", 0)
    evaluation = {}
    for m in MILESTONE_MONTHS:
        count = n.get(f"eval_n:{m}", 0)
        evaluation[str(m)] = round(n.get(f"eval_sum:{m}", 0) / count, 2) if count else None
    return {
        "classes": int(classes if classes is not None else n.get("classes", 0)),
        "trainees": int(n.get("confirmed", 0)),
        "nominated": int(n.get("nominated", 0)),
        "confirmation_rate": _rate(n.get("confirmed", 0), n.get("nominated", 0)),
        "rejected": int(n.get("rejected", 0)),
        "waitlisted": int(n.get("waitlisted", 0)),
        "withdrawn": int(n.get("withdrawn", 0)),
        "attendance_rate": _rate(n.get("attended", 0), sessions_seen),
        "hours": round(n.get("hours", 0), 1),
        "graduated": int(n.get("graduated", 0)),
        "registered_cadres": int(registered),
        "rotation_coverage": _rate(covered, registered) if covered is not None else None,
        "hours_compliance": _rate(compliant, registered) if compliant is not None else None,
        "hours_policy": hours_policy,
        "record_coverage": _rate(n.get("recorded", 0), n.get("confirmed", 0) - n.get("unstarted", 0)),
        "unstarted_trainees": int(n.get("unstarted", 0)),
        "records": int(n.get("records", 0)),
        "classes_with_3_roles": int(n.get("core_roles_complete", 0)),
        "assessment": {name: int(n.get("band:" + name, 0)) for name, _f, _l in BANDS},
        "milestones": {
            "scheduled": int(n.get("ms_scheduled", 0)),
            "due": int(n.get("ms_due", 0)),
            "completed": int(n.get("ms_completed", 0)),
            "on_time": int(n.get("ms_on_time", 0)),
            "overdue": int(n.get("ms_overdue", 0)),
        },
        "evaluation": evaluation,
        "mentored": int(n.get("mentored", 0)),
        "mentor_tasks": int(n.get("mentor_tasks", 0)),
        "talks": int(n.get("talks", 0)),
        "outcomes": int(n.get("outcomes", 0)),
        "outcomes_endorsed": int(n.get("outcomes_endorsed", 0)),
    }


def sum_counts(parts: Iterable[Mapping[str, float]]) -> Counts:
    total: Counts = {}
    for p in parts:
        add(total, p)
    return total
