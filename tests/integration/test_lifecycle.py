"""One class through the whole lifecycle, across the four real services.

Selection, teaching, records and follow-up run as real processes (`python -m
services.X`) serving one random county, against the real Kafka and store, and are
driven only over HTTP with tokens of the right roles: a registry imported from a CSV,
a class of 20 chosen in three steps (one waitlisted, one withdrawn and replaced),
teaching's roster, sessions, bulk check-ins, leave, absences recorded by teaching's
closer worker, graduation with one trainee failing; selection's training history;
records' roster, 3+N recorders and the record form with teaching's attendance;
follow-up's milestones for exactly the graduates, its clock moved to the one-month
milestone, evaluations completing it, and the effect back in selection's history.
Every figure asserted is computed here from the test's own inputs.

Time: a class must be chosen before it starts (selection refuses changes on or after
the start date) and attended before it can be graduated (teaching refuses check-ins
before a session's day and graduation before the end date), both against the real
date. So the class runs from 14 to 1 days ago, and selection runs with its "today"
30 days back (its clock's `shared.clock.StoreClock.today` replaced in the process by a shim,
see `SelectionDaysBack`); teaching, records and follow-up use the real date, and
follow-up's own movable clock (GANXUN_FOLLOWUP_MOVABLE_CLOCK=1) reaches the milestone.
"""

from __future__ import annotations

import calendar
import contextlib
import csv
import io
import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from pypdf import PdfReader

from deploy.local.process import REPO_ROOT
from services.selection.cadres import id_check_digit
from shared import kafka
from shared.topics import events_topic
from tests.support import (
    ServiceProcess,
    auth,
    cadre_id_of,
    decode_all,
    env_of,
    eventually,
    open_sealed,
    random_county,
    read_topic,
    settings,
)

pytestmark = pytest.mark.integration

SERVICES = ("selection", "teaching", "records", "followup")
T = datetime.now(timezone(timedelta(hours=8))).date()  # the school's (Asia/Shanghai) today
SELECTION_DAYS_BACK = 30
STARTS, ENDS = T - timedelta(days=14), T - timedelta(days=1)
TITLE = "2026年秋季中青年干部培训班"
CAPACITY = 20
QUOTA = 7
WAIT = 120  # the shared 2-core machine: a read model may lag; eventually returns as soon as it holds

DEPT = "组织部李科长"
SCHOOL = "党校教务处周老师"
CLERKS = {"县财政局": "财政局王主任", "县教育局": "教育局陈主任", "县委办": "县委办刘主任"}
NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨帆",
    "赵磊",
    "黄敏",
    "周杰",
    "吴霞",
    "徐涛",
    "孙丽",
    "马超",
    "朱琳",
    "胡斌",
    "郭倩",
    "何军",
    "林雪",
    "高鹏",
    "罗娟",
    "郑浩",
    "梁燕",
    "谢宇",
    "宋佳",
]

# Courses and sessions: (session, course, day offset from STARTS, start, end); hours come from the course.
COURSES = {
    "c-theory": ("习近平新时代中国特色社会主义思想概论", "理论课", 3.0, "必修"),
    "c-party": ("党性教育专题", "党性课", 3.0, "必修"),
    "c-skill": ("基层治理能力提升", "能力课", 2.0, "选修"),
}
SESSIONS = [
    ("s1", "c-theory", 0, "09:00", "12:00"),
    ("s2", "c-party", 1, "09:00", "12:00"),
    ("s3", "c-skill", 2, "14:00", "16:00"),
    ("s4", "c-theory", 3, "09:00", "12:00"),
    ("s5", "c-party", 4, "09:00", "12:00"),
]
RULE = {"min_attendance_rate": 0.8, "require_required_courses": True, "min_hours": 8}
RECORDERS = [
    ("p.head", "班主任郑老师", "head_teacher"),
    ("p.secretary", "支部书记钱书记", "branch_secretary"),
    ("p.monitor", "班长冯同学", "class_monitor"),
    ("p.member1", "班委卫同学", "committee_member"),
    ("p.member2", "班委蒋同学", "committee_member"),
]
SCHEDULER, CLOSER = "跟踪问效调度程序", "系统（自动结束考勤）"


class SelectionDaysBack(ServiceProcess):
    """`python -m services.selection`, except that its today is SELECTION_DAYS_BACK days ago
    (the clock port's adapter, which the handlers and reads ask, is moved in that process)."""

    SHIM = (
        "import datetime, shared.clock as clock; real = clock.StoreClock.today\n"
        "async def today(self):\n"
        f"    return await real(self) - datetime.timedelta(days={SELECTION_DAYS_BACK})\n"
        "clock.StoreClock.today = today\n"
        "from services.selection.service import DEFINITION; from shared.entrypoint import main; "
        "main(DEFINITION)"
    )

    def start(self, wait: bool = True) -> ServiceProcess:
        argv = [sys.executable, "-c", self.SHIM, "--components", self.components, "--port", str(self.port)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**os.environ, **env_of(self.settings)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()
        return self


@pytest.fixture(scope="module")
def county():
    return random_county()


@contextlib.asynccontextmanager
async def running(servers, county: str, services, topics, logs, ready_within: float = 120):
    """The services of one county's deployment as real processes, selection's clock some days
    back and follow-up's movable, with its scheduler; stopped on leaving."""
    await kafka.ensure_topics(servers.kafka, [events_topic(s, county) for s in topics])
    procs = {s: ServiceProcess(settings(s, servers, [county]), log=logs / f"{s}.log") for s in services}
    procs["selection"] = SelectionDaysBack(procs["selection"].settings, log=logs / "selection.log")
    procs["followup"].components = "api,relay,projectors,scheduler"
    mp = pytest.MonkeyPatch()
    try:
        for name, p in procs.items():
            if name == "followup":  # the movable clock for follow-up's process only
                mp.setenv("GANXUN_FOLLOWUP_MOVABLE_CLOCK", "1")
                mp.setenv("GANXUN_FOLLOWUP_TICK_SECONDS", "0.3")
            p.start(wait=False)
            mp.undo()
        for p in procs.values():
            p.wait_ready(timeout=ready_within)
        yield procs
    finally:
        mp.undo()
        for p in procs.values():
            p.stop()


@pytest.fixture(scope="module")
async def deployment(servers, county, tmp_path_factory):
    logs = tmp_path_factory.mktemp("lifecycle")
    async with running(servers, county, SERVICES, SERVICES, logs) as procs:
        yield {**procs, "logs": logs}


# -- helpers -------------------------------------------------------------------------------------------


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120)


def ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status and r.json()["code"] == code, r.text


def id_number(county: str, seq: int) -> str:
    first17 = f"{county}{date(1985, 1, 1) + timedelta(days=97 * seq):%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def registry_csv(county: str) -> tuple[bytes, dict[str, list[tuple[str, str]]], tuple[str, str]]:
    """24 cadres (8 per unit, ranks 副科/科员), one 正处 of 县委办 and one row with a bad check digit."""
    units = list(CLERKS)
    by_unit: dict[str, list[tuple[str, str]]] = {u: [] for u in units}
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["姓名", "性别", "出生日期", "身份证号", "工作单位", "职务", "职级"])
    for i, name in enumerate(NAMES):
        unit, number = units[i // 8], id_number(county, i + 1)
        gender = "男" if int(number[16]) % 2 else "女"
        w.writerow(
            [
                name,
                gender,
                f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
                number,
                unit,
                "科员",
                "副科" if i % 2 else "科员",
            ]
        )
        by_unit[unit].append((cadre_id_of(number), name))
    senior = id_number(county, 90)
    w.writerow(["钱正", "", "", senior, "县委办", "主任", "正处"])
    bad = id_number(county, 91)
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")
    w.writerow(["错号", "", "", bad, "县财政局", "科员", "科员"])
    return out.getvalue().encode("utf-8"), by_unit, (cadre_id_of(senior), "钱正")


async def wait_for(fetch, want, timeout: float = WAIT):
    """Polls `fetch()` (a JSON value or None) until `want(value)` holds; returns the value."""

    async def check():
        value = fetch()
        return value if value is not None and want(value) else None

    return await eventually(check, timeout=timeout, interval=0.5)


def get_json(c: httpx.Client, path: str, headers: dict, **params):
    r = c.get(path, headers=headers, params=params)
    return r.json() if r.status_code == 200 else None


# -- the lifecycle -------------------------------------------------------------------------------------


# long: one story end to end against real servers; its steps share the state they build
async def test_a_class_from_registry_to_follow_up(deployment, county, servers):
    sel, tea, rec, fu = (client(deployment[s].url) for s in SERVICES)
    dept, school = auth("org_department", county, DEPT), auth("party_school", county, SCHOOL)
    clerk = {u: auth("unit", county, n, user_id=f"clerk-{u}", unit=u) for u, n in CLERKS.items()}

    # 1. Selection ------------------------------------------------------------------------------------
    content, by_unit, (senior_id, _) = registry_csv(county)
    report = ok(
        sel.post("/cadres/import", headers=dept, files={"file": ("干部名册.csv", content, "text/csv")}), 200
    )
    assert (report["rows"], report["registered"], report["rejected"]) == (26, 25, 1), report
    assert report["errors"][0]["row"] == 27 and report["errors"][0]["name"] == "错号"
    await wait_for(lambda: get_json(sel, "/cadres", dept), lambda d: d["total"] == 25)

    r = ok(
        sel.post(
            "/classes",
            headers=dept,
            json={
                "title": TITLE,
                "capacity": CAPACITY,
                "starts_on": str(STARTS),
                "ends_on": str(ENDS),
                "organiser": "县委党校",
                "quotas": {u: QUOTA for u in CLERKS},
            },
        )
    )
    class_id = r["stream_id"].removeprefix("class-")
    scope = ok(sel.post(f"/classes/{class_id}/scope", headers=dept, json={"ranks": ["副科", "科员"]}))
    assert scope["count"] == 24 and senior_id not in {c["cadre_id"] for c in scope["cadres"]}

    nominated: list[tuple[str, str, str]] = []  # (cadre_id, name, unit) in the order recommended
    for unit, people in by_unit.items():
        for cadre_id, name in people[:QUOTA]:
            ok(sel.post(f"/classes/{class_id}/nominations", headers=clerk[unit], json={"cadre_id": cadre_id}))
            nominated.append((cadre_id, name, unit))
    refused(
        sel.post(
            f"/classes/{class_id}/nominations",
            headers=clerk["县财政局"],
            json={"cadre_id": by_unit["县财政局"][QUOTA][0]},
        ),
        422,
        "over_quota",
    )
    refused(
        sel.post(f"/classes/{class_id}/nominations", headers=clerk["县委办"], json={"cadre_id": senior_id}),
        422,
        "out_of_scope",
    )

    outcomes = [
        ok(sel.post(f"/classes/{class_id}/nominations/{c}/confirm", headers=dept))["events"]
        for c, _, _ in nominated
    ]
    assert outcomes == [["NominationConfirmed"]] * CAPACITY + [["NominationWaitlisted"]] * (
        len(nominated) - CAPACITY
    )
    waitlisted = nominated[CAPACITY]
    withdrawn = next(n for n in nominated if n[2] == "县教育局")
    r = ok(
        sel.post(
            f"/classes/{class_id}/nominations/{withdrawn[0]}/withdraw",
            headers=clerk["县教育局"],
            json={"reason": "因工作需要不能参训"},
        )
    )
    assert r["events"] == ["NominationWithdrawn", "NominationConfirmed"]
    confirmed = [n for n in nominated if n != withdrawn]  # 20: the waitlisted one took the place
    ids = [c for c, _, _ in confirmed]
    name_of = {c: n for c, n, _ in nominated}
    unit_of = {c: u for c, _, u in nominated}
    assert len(confirmed) == CAPACITY and waitlisted in confirmed

    # 2. Teaching: the roster follows selection --------------------------------------------------------
    want_roster = sorted(
        [{"cadre_id": c, "name": n, "unit": u, "status": "confirmed"} for c, n, u in confirmed]
        + [{"cadre_id": withdrawn[0], "name": withdrawn[1], "unit": withdrawn[2], "status": "withdrawn"}],
        key=lambda t: t["cadre_id"],
    )
    roster = await wait_for(
        lambda: get_json(tea, f"/classes/{class_id}/roster", school),
        lambda d: sorted(d["trainees"], key=lambda t: t["cadre_id"]) == want_roster,
    )
    assert roster["confirmed"] == CAPACITY and roster["jurisdiction"] == county

    for course_id, (title, kind, hours, mode) in COURSES.items():
        ok(
            tea.post(
                "/courses",
                headers=school,
                json={"course_id": course_id, "title": title, "kind": kind, "hours": hours, "mode": mode},
            )
        )
    ok(
        tea.post(
            "/faculty", headers=school, json={"teacher_id": "t-wang", "name": "王教授", "kind": "党校教师"}
        )
    )
    ok(
        tea.post(
            "/faculty", headers=school, json={"teacher_id": "t-li", "name": "李教授", "kind": "党校教师"}
        )
    )
    ok(tea.post("/sites", headers=school, json={"site_id": "room-1", "name": "第一教室", "capacity": 60}))
    ok(
        tea.put(
            f"/classes/{class_id}/curriculum",
            headers=school,
            json={"course_ids": list(COURSES), "required_hours": {"党性课": 3}},
        ),
        200,
    )
    session_on = {}
    for sid, course_id, day, start, end in SESSIONS:
        session_on[sid] = STARTS + timedelta(days=day)
        ok(
            tea.post(
                f"/classes/{class_id}/sessions",
                headers=school,
                json={
                    "session_id": sid,
                    "course_id": course_id,
                    "teacher_id": "t-li" if course_id == "c-party" else "t-wang",
                    "site_id": "room-1",
                    "on": str(session_on[sid]),
                    "starts_at": start,
                    "ends_at": end,
                },
            )
        )

    failing, on_leave, absent_once, leave_refused, late_twice, late_once, early = (
        ids[3],
        ids[5],
        ids[8],
        ids[10],
        ids[0],
        ids[1],
        ids[2],
    )
    missed = {failing: {"s1", "s2", "s3"}, on_leave: {"s4"}, absent_once: {"s5"}, leave_refused: {"s2"}}
    late = {(late_twice, "s1"), (late_twice, "s2"), (late_once, "s3")}
    trainee = {c: auth("trainee", county, name_of[c], user_id=c) for c in ids}
    # The class is past: a trainee's own request for a session already begun is refused
    # (nothing stored); the school registers the leave it knew of and approves it.
    for cadre, sid in ((on_leave, "s4"), (leave_refused, "s2")):
        r = tea.post(
            f"/classes/{class_id}/sessions/{sid}/leave-requests",
            headers=trainee[cadre],
            json={"reason": "参加防汛值班"},
        )
        assert r.status_code == 422 and r.json()["code"] == "session_begun", r.text
    ok(
        tea.post(
            f"/classes/{class_id}/sessions/s4/leave-requests",
            headers=school,
            json={"cadre_id": on_leave, "reason": "参加防汛值班"},
        )
    )
    ok(
        tea.post(
            f"/classes/{class_id}/sessions/s4/leave-requests/{on_leave}/decision",
            headers=school,
            json={"approved": True, "note": "同意"},
        ),
        200,
    )
    attended = {c: [s for s, *_ in SESSIONS if s not in missed.get(c, set())] for c in ids}
    for sid, *_ in SESSIONS:
        entries = [{"cadre_id": c, "late": (c, sid) in late} for c in ids if sid in attended[c]]
        r = ok(
            tea.post(
                f"/classes/{class_id}/sessions/{sid}/check-ins", headers=school, json={"entries": entries}
            ),
            200,
        )
        assert r["count"] == len(entries)
    ok(
        tea.post(
            f"/classes/{class_id}/sessions/s4/early-leaves",
            headers=school,
            json={"cadre_id": early, "minutes": 30},
        ),
        200,
    )
    # An outsider (the withdrawn cadre) cannot check in; nobody else is touched.
    refused(
        tea.post(
            f"/classes/{class_id}/sessions/s1/check-ins",
            headers=school,
            json={"entries": [{"cadre_id": withdrawn[0]}]},
        ),
        422,
        "not_on_roster",
    )

    # Teaching's closer worker ends every session that is over: absences for who did not check in.
    closer = ServiceProcess(
        deployment["teaching"].settings, components="closer", log=deployment["logs"] / "teaching-closer.log"
    ).start()
    absences = sum(len(m) for m in missed.values())
    try:
        report = await wait_for(
            lambda: get_json(tea, f"/classes/{class_id}/attendance", school),
            lambda d: d["absent"] == absences,
        )
    finally:
        closer.stop()
    hours_of = {s: COURSES[c][2] for s, c, *_ in SESSIONS}
    rows = {t["cadre_id"]: t for t in report["trainees"]}
    assert set(rows) == set(ids)
    for c in ids:
        assert (rows[c]["attended"], rows[c]["absent"], rows[c]["excused"]) == (
            len(attended[c]),
            len(missed.get(c, ())),
            1 if c == on_leave else 0,
        ), name_of[c]
        assert rows[c]["hours"] == sum(hours_of[s] for s in attended[c])
        assert rows[c]["late"] == sum(1 for (who, _) in late if who == c)
    assert report["attended"] == sum(len(a) for a in attended.values())

    r = ok(tea.post(f"/classes/{class_id}/graduation", headers=school, json=RULE), 200)
    assert r["events"] == ["TraineeGraduated", "TraineeNotGraduated"] and r["count"] == CAPACITY
    graduates = [
        c
        for c in ids
        if len(attended[c]) / len(SESSIONS) >= RULE["min_attendance_rate"]
        and sum(hours_of[s] for s in attended[c]) >= RULE["min_hours"]
    ]
    assert graduates == [c for c in ids if c != failing]
    g = await wait_for(
        lambda: get_json(tea, f"/classes/{class_id}/graduation", school),
        lambda d: len(d["graduated"]) + len(d["not_graduated"]) == CAPACITY,
    )
    assert {x["cadre_id"]: (x["hours"], x["attendance_rate"]) for x in g["graduated"]} == {
        c: (sum(hours_of[s] for s in attended[c]), round(len(attended[c]) / len(SESSIONS), 4))
        for c in graduates
    }
    fail_hours = sum(hours_of[s] for s in attended[failing])
    assert g["not_graduated"] == [
        {
            "cadre_id": failing,
            "name": name_of[failing],
            "unit": unit_of[failing],
            "reasons": [
                f"出勤率 {len(attended[failing]) / len(SESSIONS):.1%} 低于结业要求 80%",
                f"总学时 {fail_hours:g} 低于要求 8",
            ],
        }
    ]

    # 3. Selection's training history: graduations and hours from teaching ---------------------------
    def history(c):
        return get_json(sel, f"/cadres/{c}/history", dept)

    def year_hours(c):
        per: dict[str, float] = {}
        for s in attended[c]:
            per[str(session_on[s].year)] = per.get(str(session_on[s].year), 0) + hours_of[s]
        return per

    for c in graduates:
        h = await wait_for(
            lambda c=c: history(c), lambda h: h["trainings"] and h["sessions"] == len(attended[c])
        )
        assert h["trainings"] == [
            {
                "class_id": class_id,
                "title": TITLE,
                "graduated_on": str(T),
                "hours": sum(hours_of[s] for s in attended[c]),
                "attendance_rate": round(len(attended[c]) / len(SESSIONS), 4),
            }
        ]
        assert h["last_trained_on"] == str(T) and h["hours"] == year_hours(c) == h["class_hours"]
    h = await wait_for(lambda: history(failing), lambda h: h["sessions"] == len(attended[failing]))
    assert h["trainings"] == [] and h["last_trained_on"] is None and h["hours"] == year_hours(failing)
    h = history(withdrawn[0])
    assert h["trainings"] == [] and h["sessions"] == 0
    # Five-year coverage: the graduates are trained, the trainee who failed is still on the overdue list.
    registry = {c for people in by_unit.values() for c, _ in people} | {senior_id}
    cov = ok(sel.get("/reports/coverage", headers=dept, params={"as_of": str(T), "size": 200}), 200)
    assert (cov["cadres"], cov["trained"]) == (len(registry), len(graduates))
    assert {o["cadre_id"] for o in cov["items"]} == registry - set(graduates) and failing not in graduates

    # 4. Records: the roster is the confirmed trainees; 3+N recorders; the form shows attendance -------
    done = await wait_for(
        lambda: get_json(rec, f"/classes/{class_id}/completeness", school, as_of=str(ENDS), days=14),
        lambda d: d["trainees"] == CAPACITY,
    )
    assert sorted(u["cadre_id"] for u in done["uncovered"]) == sorted(ids)
    for pid, name, role in RECORDERS:
        ok(
            rec.post(
                f"/classes/{class_id}/recorders",
                headers=school,
                json={"person_id": pid, "name": name, "role": role, "since": str(STARTS)},
            )
        )
    recorder = {pid: auth("recorder", county, name, user_id=pid) for pid, name, _ in RECORDERS}
    writes = {
        "p.head": ids,
        "p.secretary": ids[:10],
        "p.monitor": ids[:5],
        "p.member1": ids[:2],
        "p.member2": ids[18:],
    }
    texts = {}
    for pid, cadres in writes.items():
        for i, c in enumerate(cadres):
            text = f"{name_of[c]}在第{i % 4 + 1}次研讨中发言积极，联系本单位实际提出改进意见（{pid}）"
            ok(
                rec.post(
                    f"/classes/{class_id}/trainees/{c}/records",
                    headers=recorder[pid],
                    json={
                        "category": "study",
                        "observed_on": str(STARTS + timedelta(days=1 + i % 4)),
                        "text": text,
                    },
                )
            )
            texts.setdefault(c, []).append(text)
    refused(
        rec.post(
            f"/classes/{class_id}/trainees/{withdrawn[0]}/records",
            headers=recorder["p.head"],
            json={
                "category": "study",
                "observed_on": str(STARTS + timedelta(days=1)),
                "text": "已撤回的学员",
            },
        ),
        422,
        "not_on_roster",
    )
    core = {"head_teacher": "p.head", "branch_secretary": "p.secretary", "class_monitor": "p.monitor"}
    want = {c: [r for r, p in core.items() if c not in writes[p]] for c in ids}
    done = await wait_for(
        lambda: get_json(rec, f"/classes/{class_id}/completeness", school, as_of=str(ENDS), days=14),
        lambda d: len(d["uncovered"]) == sum(1 for m in want.values() if m),
    )
    assert {u["cadre_id"]: u["missing_roles"] for u in done["uncovered"]} == {
        c: m for c, m in want.items() if m
    }

    def form(c):
        r = rec.get(f"/classes/{class_id}/trainees/{c}/form.html", headers=school)
        return r.text if r.status_code == 200 else None

    required_hours = sum(hours_of[s] for s, c, *_ in SESSIONS if COURSES[c][3] == "必修")
    for c in (on_leave, failing, late_twice):
        n_late = sum(1 for (who, _) in late if who == c)
        excused = 1 if c == on_leave else 0
        rate = len(attended[c]) / len(SESSIONS)
        line = (
            f"应到 {len(SESSIONS)} 次，出勤 {len(attended[c])} 次（迟到 {n_late}），请假 {excused}，"
            f"缺勤 {len(missed.get(c, ())) - excused}；出勤率 {rate * 100:.1f}%"
        )
        hours = f"已获 {sum(hours_of[s] for s in attended[c]):g} / 应修 {required_hours:g}"
        graduated = "；已结业" if c in graduates else ""
        # The records and the attendance reach the form through different projections: wait for both.
        html = await wait_for(
            lambda c=c: form(c),
            lambda t, c=c: line in t and hours + graduated + "<" in t and all(x in t for x in texts[c]),
        )
        assert name_of[c] in html
    pdf = rec.get(f"/classes/{class_id}/trainees/{on_leave}/form.pdf", headers=school)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert name_of[on_leave] in text and "出勤率" in text and "80.0%" in text

    # 5. Follow-up: milestones for exactly the graduates; the clock reaches the first one ---------------
    effect = await wait_for(
        lambda: get_json(fu, f"/classes/{class_id}/effect", dept),
        lambda d: d["milestones_scheduled"] == 4 * len(graduates),
    )
    assert effect["trainees"] == len(graduates) and effect["milestones_due"] == 0
    refused(fu.get(f"/trainees/{failing}/followup", headers=dept), 404, "file_not_found")
    first, second = graduates[0], graduates[-1]
    file = ok(fu.get(f"/trainees/{first}/followup", headers=dept), 200)
    assert {m: x["status"] for m, x in file["classes"][0]["milestones"].items()} == {
        "1": "scheduled",
        "3": "scheduled",
        "6": "scheduled",
        "12": "scheduled",
    }
    due = add_months(T, 1)
    ok(fu.put("/admin/clock", headers=auth("admin", county), json={"today": str(due)}), 200)
    effect = await wait_for(
        lambda: get_json(fu, f"/classes/{class_id}/effect", dept),
        lambda d: d["milestones_due"] == len(graduates),
    )

    questions = ["ideals", "learning", "attitude"]
    scores = {"self": [80, 85, 90], "colleague": [70, 75, 80], "unit_leader": [90, 90, 90]}
    evaluator = {
        "self": lambda c: trainee[c],
        "colleague": lambda c: auth("unit", county, "同事甲", user_id=f"col-{unit_of[c]}", unit=unit_of[c]),
        "unit_leader": lambda c: auth(
            "unit", county, "领导乙", user_id=f"lead-{unit_of[c]}", unit=unit_of[c]
        ),
    }
    path = "/classes/{}/trainees/{}/milestones/1/evaluations"
    for role, points in scores.items():
        r = ok(
            fu.post(
                path.format(class_id, first),
                headers=evaluator[role](first),
                json={"role": role, "scores": dict(zip(questions, points)), "text": "思想稳定，学用结合"},
            )
        )
    assert r["events"] == ["EvaluationSubmitted", "MilestoneCompleted"]
    ok(
        fu.post(
            path.format(class_id, second),
            headers=evaluator["self"](second),
            json={"role": "self", "scores": dict(zip(questions, scores["self"])), "text": "有收获"},
        )
    )
    average = round(sum(sum(p) / len(p) for p in scores.values()) / len(scores), 2)

    h = await wait_for(lambda: history(first), lambda h: h["milestones"])
    assert (
        h["milestones"]
        == [
            {
                "class_id": class_id,
                "month": 1,
                "completed_on": str(due),
                "on_time": True,
                "average_score": average,
            }
        ]
        and h["evaluations"] == 3
    )
    h = await wait_for(lambda: history(second), lambda h: h["evaluations"] == 1)
    assert h["milestones"] == []
    effect = await wait_for(
        lambda: get_json(fu, f"/classes/{class_id}/effect", dept), lambda d: d["milestones_completed"] == 1
    )
    assert effect["completion_rate"] == round(1 / len(graduates), 4) and effect["on_time_rate"] == 1.0

    # Every event on the four topics carries the actor and the county of the token that caused it.
    counts = {
        "selection": {
            "CadreRegistered": 25,
            "ClassOpened": 1,
            "ScopeDrawn": 1,
            "TraineeNominated": len(nominated),
            "NominationConfirmed": len(nominated),
            "NominationWaitlisted": 1,
            "NominationWithdrawn": 1,
        },
        "teaching": {
            "CourseAdded": len(COURSES),
            "FacultyAdded": 2,
            "TeachingSiteAdded": 1,
            "CurriculumSet": 1,
            "SessionScheduled": len(SESSIONS),
            "LeaveRequested": 1,
            "LeaveDecided": 1,
            "AttendanceClosed": len(SESSIONS),
            "SessionAttended": sum(len(a) for a in attended.values()),
            "EarlyLeaveRecorded": 1,
            "AbsenceRecorded": absences,
            "TraineeGraduated": len(graduates),
            "TraineeNotGraduated": 1,
        },
        "records": {"RecorderAssigned": len(RECORDERS), "RecordLogged": sum(len(c) for c in writes.values())},
        "followup": {
            "MilestoneScheduled": 4 * len(graduates),
            "MilestoneDue": len(graduates),
            "EvaluationSubmitted": 4,
            "MilestoneCompleted": 1,
        },
    }
    names = (
        {f"clerk-{u}": n for u, n in CLERKS.items()}
        | {c: name_of[c] for c in ids}
        | {pid: n for pid, n, _ in RECORDERS}
        | {f"col-{u}": "同事甲" for u in CLERKS}
        | {f"lead-{u}": "领导乙" for u in CLERKS}
    )

    def actor_of(service: str, e: dict) -> set[str]:
        t, p = e["type"], e["payload"]
        if service == "selection":
            if t == "TraineeNominated":
                return {CLERKS[p["unit"]]}
            if t == "NominationWithdrawn" or (t == "NominationConfirmed" and p.get("from_waitlist")):
                return {CLERKS["县教育局"]}
            return {DEPT}
        if service == "teaching":
            return {CLOSER} if t in ("AbsenceRecorded", "AttendanceClosed") else {SCHOOL}
        if service == "records":
            return {SCHOOL} if t == "RecorderAssigned" else {n for _, n, _ in RECORDERS}
        if t in ("MilestoneScheduled", "MilestoneDue"):
            return {SCHEDULER}
        if t == "MilestoneCompleted":  # completed by the last required evaluation: the leader's
            return {"领导乙"}
        return {"同事甲", "领导乙", name_of[first], name_of[second]}

    for service, want_counts in counts.items():
        topic = events_topic(service, county)
        events = decode_all(
            await read_topic(servers.kafka, topic, expect=sum(want_counts.values()), timeout=WAIT)
        )
        unique = {e["event_id"]: e for e in events}.values()  # the relay is at-least-once
        # A trainee's own name (as the actor, or in a payload's name) travels sealed under their
        # key (issue 14); the deployment's vault opens them. (Free texts, such as the records
        # written above, are not sealed: docs/personal-data.md.)
        plain = {e["actor"]["name"] for e in unique} | {e["payload"].get("name") for e in unique}
        assert not plain & {name_of[c] for c in ids}, service
        await open_sealed(servers.mongodb, deployment[service].settings, list(unique))
        assert Counter(e["type"] for e in unique) == Counter(want_counts), service
        for e in unique:
            assert e["jurisdiction"] == county, (topic, e["type"])
            assert e["actor"]["name"] in actor_of(service, e), (topic, e["type"], e["actor"])
            if e["actor"]["user_id"] in names:
                assert names[e["actor"]["user_id"]] == e["actor"]["name"], (topic, e["type"], e["actor"])
