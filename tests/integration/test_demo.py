"""The demo `ganxun up` loads, at a small scale, against real service processes: what a
user would check afterwards through each service's API.

Codes are this run's own (random_county), not the demo's real ones, which other tests use."""

import os
from pathlib import Path

import httpx
import pytest

from deploy.demo import Codes, load
from deploy.demo.data import HUZHOU_GROUPS
from deploy.demo.loader import RATERS, STEPS
from shared.auth import ensure_dev_keys
from shared.clock import store_mover
from tests.support import ServiceProcess, auth, eventually, random_county, settings

pytestmark = pytest.mark.integration
SERVICES = ("selection", "teaching", "records", "followup")


@pytest.fixture(scope="module")
def demo(servers, tmp_path_factory):
    province = random_county()[:2]

    def elsewhere() -> str:  # a county outside the "Hunan" province, or its roll-up counts it too
        while (code := random_county())[:2] == province:
            pass
        return code

    codes = Codes(
        wucheng=elsewhere(),
        huzhou=elsewhere()[:4] + "00",
        xundian=elsewhere(),
        hunan=(random_county(province), random_county(province)),
    )
    logs = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
        mp.setenv("GANXUN_SELECTION_MOVABLE_CLOCK", "1")
        # Follow-up's scheduler (a worker) schedules the milestones; teaching's closer is left
        # out, as in teaching's own tests (ganxun up runs every component).
        procs = {
            n: ServiceProcess(
                settings(n, servers, codes.jurisdictions()),
                log=logs / f"{n}.log",
                components="api,relay,projectors" + (",scheduler" if n == "followup" else ""),
            )
            for n in (*SERVICES, "dashboard")
        }
        try:
            for p in procs.values():  # one at a time: four new databases at once can time out
                p.start(wait=False).wait_ready(90)
            yield procs, codes
        finally:
            for p in procs.values():
                p.stop()


# long: one story end to end against real servers; its steps share the state they build
async def test_demo_fills_every_service(demo, servers):
    procs, codes = demo
    key = ensure_dev_keys(Path(os.environ["GANXUN_STATE_DIR"]) / "keys")[0]
    steps: list[str] = []
    at_full: dict = {}
    province = codes.hunan[0][:2] + "0000"

    def progress(name: str) -> None:
        steps.append(name)
        if "看板已满" in name:  # the loader says the printed pages are full: look at the province's
            at_full.update(_every_panel(procs["dashboard"].url, province, codes))

    mover = store_mover(
        servers.mongodb, {n: procs[n].settings.database_name for n in ("selection", "followup")}
    )
    summary = await load(
        {n: procs[n].url for n in SERVICES}, key, codes, scale=0.08, progress=progress, move_clock=mover
    )
    print(
        f"\ndemo at scale 0.08: {summary.seconds:.1f} s, {summary.requests} requests, "
        f"{summary.classes} classes, {summary.trainees} trainees, {summary.sessions} sessions, "
        f"{summary.graduates} graduates, {summary.records} records, {summary.evaluations} evaluations; "
        f"refused (tolerated): {summary.refused}\nsteps: {summary.steps}"
    )
    assert len(steps) == STEPS and summary.classes == 5 + len(codes.hunan)
    # When the loader announced the province page full, every panel had figures (month 3 comes later).
    assert at_full["missing"] == [], at_full
    assert 0 < summary.panels_full < summary.seconds
    sel, tea, rec, fol = (procs[n].url for n in SERVICES)
    hz = next(c for c in summary.plans if c.groups)
    org = auth("org_department", codes.huzhou, "组织部")

    # Selection: the camp has its confirmed trainees in the six domain groups, one rejected.
    async def roster():
        r = httpx.get(f"{sel}/classes/{hz.class_id}/roster", headers=org)
        return r.json() if r.status_code == 200 else None

    doc = await eventually(roster)
    confirmed = [n for n in doc["nominations"] if n["status"] == "confirmed"]
    assert len(confirmed) == hz.size
    assert {n["group"] for n in confirmed} == set(HUZHOU_GROUPS)
    assert [n["status"] for n in doc["nominations"]].count("rejected") == 1

    # Teaching: every Saturday is on the timetable (one whole-day session of 6 hours each).
    school = auth("party_school", codes.huzhou)
    tt = httpx.get(f"{tea}/classes/{hz.class_id}/timetable", headers=school).json()
    assert len(tt["sessions"]) == len(hz.days) and tt["hours"] == 6 * len(hz.days)
    grad = httpx.get(f"{tea}/classes/{hz.class_id}/graduation", headers=school).json()
    assert {g["cadre_id"] for g in grad["graduated"]} == set(hz.graduates)
    assert hz.ids()[-1] not in hz.graduates, "the trainee who missed most sessions did not graduate"
    assert len(hz.graduates) >= hz.size // 2

    # Teaching: up to four of those who attended each session rated it (课程评价).
    rated = sum(min(RATERS, len(x["attended"])) for x in hz.sessions) - sum(
        1 for r in summary.refused if "/ratings" in r and hz.class_id in r
    )

    async def feedback():
        r = httpx.get(f"{tea}/classes/{hz.class_id}/feedback", headers=school)
        body = r.json() if r.status_code == 200 else {}
        return body if sum(x["ratings"] for x in body.get("by_course", [])) == rated else None

    fb = await eventually(feedback, timeout=60)
    assert fb["comments"] and all(3 <= x["average"] <= 5 for x in fb["by_teacher"]), fb

    # Records: the three core roles have all written; the camp's assessment ranks everyone.
    async def core_roles():  # the camp's records are the last calls: the view may be a moment behind
        roles = set()
        for cid in hz.ids()[:4]:
            r = httpx.get(f"{rec}/classes/{hz.class_id}/trainees/{cid}/records", headers=school)
            assert r.status_code == 200, r.text
            roles |= {x["author_role"] for x in r.json()["records"]}
        return {"head_teacher", "branch_secretary", "class_monitor"} <= roles

    await eventually(core_roles, timeout=60)

    async def ranked():
        r = httpx.get(f"{rec}/classes/{hz.class_id}/assessment/ranking", headers=school)
        return (
            r.status_code == 200
            and all(x["total"] > 0 for x in r.json()["class_ranking"])
            and str(hz.trainees[0].name) in r.text
        )

    await eventually(ranked, timeout=60)

    # Follow-up: this week's work list has milestones due and overdue.
    async def worklist():
        r = httpx.get(f"{fol}/worklist", headers=org)
        body = r.json() if r.status_code == 200 else {}
        return body if body.get("due") and body.get("overdue") else None

    work = await eventually(worklist, timeout=60)
    assert {i["month"] for i in work["items"] if i["status"] == "overdue"} == {1}

    # Selection's training history shows the graduation (from teaching's event).
    async def history():
        r = httpx.get(f"{sel}/cadres/{hz.graduates[0]}/history", headers=org)
        return r.json() if r.status_code == 200 and hz.class_id in r.text else None

    await eventually(history, timeout=60)

    # 武城县's spring class, back-filled ten months after it ended: selection's history keeps
    # its own graduation date, and the county page has evaluation means for all four stages.
    past = next(c for c in summary.plans if c.past)
    wc_org = auth("org_department", codes.wucheng, "组织部")
    r = httpx.get(f"{sel}/cadres/{past.graduates[0]}/history", headers=wc_org)
    assert [t["graduated_on"] for t in r.json()["trainings"]] == [past.days[-1].isoformat()], r.text

    async def four_stages():
        r = httpx.get(
            f"{procs['dashboard'].url}/api/overview",
            headers=auth("analyst", codes.wucheng, "分析员"),
            params={"year": "all"},
        )
        ev = r.json()["totals"]["evaluation"] if r.status_code == 200 else {}
        return ev if all(ev.get(m) for m in ("1", "3", "6", "12")) else None

    await eventually(four_stages, timeout=60)
    # The loader's shares evaluated months 1/3/6/12; with the clock at +100 days the rest are overdue.
    n = len(past.graduates)
    completed = sum(round(n * share) for share in (0.9, 0.85, 0.8, 0.75))

    async def effect():
        r = httpx.get(f"{fol}/classes/{past.class_id}/effect", headers=wc_org)
        body = r.json() if r.status_code == 200 else {}
        return body if body.get("milestones_completed") == completed else None

    body = await eventually(effect, timeout=60)
    assert (body["milestones_scheduled"], body["milestones_overdue_open"]) == (4 * n, 4 * n - completed), body

    # The province dashboard rolls the Hunan classes up by county, from the same events.
    year = max(c.days[0].year for c in summary.plans if c.code in codes.hunan)  # the period is a start year
    hunan = [c for c in summary.plans if c.code in codes.hunan and c.days[0].year == year]

    last: dict = {}

    async def rolled_up():
        r = httpx.get(
            f"{procs['dashboard'].url}/api/overview",
            headers=auth("analyst", province, "省委组织部分析员"),
            params={"year": str(year)},
        )
        body = r.json() if r.status_code == 200 else {}
        totals = last["totals"] = body.get("totals", {})
        return (
            body
            if totals.get("classes") == len(hunan)
            and totals.get("graduated") == sum(len(c.graduates) for c in hunan)
            else None
        )

    try:
        body = await eventually(rolled_up, timeout=60)
    except AssertionError:
        raise AssertionError(
            f"expected {len(hunan)} classes, {sum(len(c.graduates) for c in hunan)} graduates; "
            f"the dashboard shows {last}"
        ) from None
    assert body["totals"]["trainees"] == sum(len(c.trainees) for c in hunan)
    assert {c.code for c in hunan} <= {row["code"] for row in body["rows"]} <= set(codes.hunan)


PANELS = (
    "classes",
    "trainees",
    "confirmation_rate",
    "attendance_rate",
    "hours",
    "rotation_coverage",
    "record_coverage",
    "mentor_tasks",
    "talks",
    "outcomes",
)


def _every_panel(dashboard: str, province: str, codes) -> dict:
    """The province overview's panels that have no figure yet, waiting up to 15 s for the
    dashboard's projections to catch up with the calls the loader just made."""
    import time

    deadline = time.monotonic() + 15
    while True:
        r = httpx.get(
            f"{dashboard}/api/overview", headers=auth("analyst", province, "省委组织部分析员"), timeout=30
        )
        t = r.json().get("totals", {}) if r.status_code == 200 else {}
        missing = [k for k in PANELS if not t.get(k)]
        missing += [] if sum((t.get("assessment") or {}).values()) else ["assessment"]
        missing += [] if (t.get("milestones") or {}).get("completed") else ["milestones.completed"]
        missing += [] if (t.get("evaluation") or {}).get("1") else ["evaluation.1"]
        if not missing or time.monotonic() > deadline:
            return {"missing": missing, "totals": t}
        time.sleep(0.5)
