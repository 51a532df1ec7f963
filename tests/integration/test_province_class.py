"""A province-run class across two counties, end to end over HTTP with real processes.

The province's party school runs a class (selection and teaching deployed for the
province, serving every county under its prefix); cadres registered by two counties
(each with its own selection deployment) are nominated, attend and graduate. What each
county's organisation department then reads must count its own cadres' hours and
training, and only theirs; the province dashboard puts them in the cadre's home county,
not in the province's own row.

Time: selection refuses nominations once a class has started and teaching refuses a
check-in before the session's day, so the province selection runs with its dev-only
movable clock (GANXUN_SELECTION_MOVABLE_CLOCK=1), moved back while the class is chosen.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from deploy.demo import data
from shared.clock import local_today
from tests.support import (
    ServiceProcess,
    auth,
    cadre_id_of,
    eventually,
    random_county,
    random_province,
    settings,
)

pytestmark = pytest.mark.integration

T = local_today()
STARTS, ENDS = T - timedelta(days=10), T - timedelta(days=9)
HOURS = {"s1": 3.0, "s2": 3.5}
WAIT = 90


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    p = random_province()  # no other test's county is under it
    a, b = random_county(p), random_county(p)
    province = p + "0000"
    logs = tmp_path_factory.mktemp("province_class")
    plan = {
        "sel_p": ("selection", [province]),
        "sel_a": ("selection", [a]),
        "sel_b": ("selection", [b]),
        "tea_p": ("teaching", [province]),
        "rec_p": ("records", [province]),
        "fol_p": ("followup", [province]),
        "dashboard": ("dashboard", [province]),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANXUN_SELECTION_MOVABLE_CLOCK", "1")
        procs = {
            k: ServiceProcess(
                settings(svc, servers, codes),
                log=logs / f"{k}.log",
                # follow-up's scheduler turns each graduation into the graduate's milestones
                components="api,relay,projectors" + (",scheduler" if svc == "followup" else ""),
            )
            for k, (svc, codes) in plan.items()
        }
        try:
            for p in procs.values():
                p.start(wait=False)
            for p in procs.values():
                p.wait_ready(120)
            yield procs, province, a, b
        finally:
            for p in procs.values():
                p.stop()


def ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


# long: one story end to end against real servers; its steps share the state they build
async def test_a_province_class_counts_for_each_cadres_own_county(deployment):
    procs, province, a, b = deployment
    url = {k: p.url for k, p in procs.items()}
    county_selection = {a: url["sel_a"], b: url["sel_b"]}
    names = data.Names()
    regs = {
        code: names.registry(data.County(code, f"县{code}", "县", ("东山", "西河", "南岭")), 6)
        for code in (a, b)
    }
    for code, reg in regs.items():
        ok(
            httpx.post(
                f"{county_selection[code]}/cadres/import",
                headers=auth("org_department", code),
                files={"file": ("名册.csv", reg.csv_bytes(), "text/csv")},
                timeout=60,
            ),
            200,
        )
    sent = {a: 3, b: 2}  # how many of each county's cadres the province trains
    trainees = {
        code: [cadre_id_of(p.id_number) for p in reg.people[: sent[code]]] for code, reg in regs.items()
    }
    everyone = trainees[a] + trainees[b]

    # The province sees both counties' registries (it serves their prefix).
    prov = auth("org_department", province, "省委组织部干部教育处")

    registered = {cadre_id_of(p.id_number) for reg in regs.values() for p in reg.people}

    async def registry_synced():
        r = httpx.get(f"{url['sel_p']}/cadres", headers=prov, params={"size": 200})
        assert len(registered) <= 200
        return r.status_code == 200 and registered <= {c["cadre_id"] for c in r.json()["items"]}

    await eventually(registry_synced, timeout=WAIT)

    # Chosen before the class starts (the clock back), then the real day.
    admin = auth("admin", province)
    ok(
        httpx.put(
            f"{url['sel_p']}/admin/clock", headers=admin, json={"today": str(STARTS - timedelta(days=5))}
        ),
        200,
    )
    class_id = f"prov-{a}"
    opened = ok(
        httpx.post(
            f"{url['sel_p']}/classes",
            headers=prov,
            json={
                "class_id": class_id,
                "title": "全省中青年干部培训班",
                "capacity": 10,
                "starts_on": str(STARTS),
                "ends_on": str(ENDS),
                "organiser": "省委党校",
            },
        )
    )
    # stored in the province's namespace (shared/scoped_ids.py): what trainees' histories name
    assert opened["stream_id"] == f"class-{province}-{class_id}"
    class_id = f"{province}-{class_id}"
    ok(httpx.post(f"{url['sel_p']}/classes/{class_id}/scope", headers=prov, json={"ranks": list(data.RANKS)}))
    ok(
        httpx.post(
            f"{url['sel_p']}/classes/{class_id}/nominations/batch", headers=prov, json={"cadre_ids": everyone}
        )
    )
    ok(
        httpx.post(
            f"{url['sel_p']}/classes/{class_id}/confirmations", headers=prov, json={"cadre_ids": everyone}
        )
    )
    ok(httpx.put(f"{url['sel_p']}/admin/clock", headers=admin, json={"today": str(T)}), 200)

    # The province school teaches two sessions; one trainee of county a misses the second.
    school = auth("party_school", province, "省委党校教务处")
    tea = url["tea_p"]

    async def roster():
        r = httpx.get(f"{tea}/classes/{class_id}/roster", headers=school)
        return r.status_code == 200 and r.json()["confirmed"] == len(everyone)

    await eventually(roster, timeout=WAIT)
    ok(
        httpx.post(
            f"{tea}/courses",
            headers=school,
            json={"course_id": "k1", "title": "党的二十届四中全会精神", "kind": "理论课", "hours": 3.0},
        )
    )
    ok(
        httpx.post(
            f"{tea}/courses",
            headers=school,
            json={"course_id": "k2", "title": "党性修养", "kind": "党性课", "hours": 3.5},
        )
    )
    ok(
        httpx.post(
            f"{tea}/faculty",
            headers=school,
            json={"teacher_id": "t1", "name": "省委党校王教授", "kind": "党校教师"},
        )
    )
    ok(
        httpx.post(
            f"{tea}/sites",
            headers=school,
            json={"site_id": "hall", "name": "省委党校报告厅", "capacity": 300},
        )
    )
    ok(
        httpx.put(f"{tea}/classes/{class_id}/curriculum", headers=school, json={"course_ids": ["k1", "k2"]}),
        200,
    )
    missing = trainees[a][2]
    for sid, course, day in (("s1", "k1", STARTS), ("s2", "k2", ENDS)):
        ok(
            httpx.post(
                f"{tea}/classes/{class_id}/sessions",
                headers=school,
                json={
                    "session_id": sid,
                    "course_id": course,
                    "teacher_id": "t1",
                    "site_id": "hall",
                    "on": str(day),
                    "starts_at": "09:00",
                    "ends_at": "12:00",
                },
            )
        )
        present = [c for c in everyone if not (sid == "s2" and c == missing)]
        ok(
            httpx.post(
                f"{tea}/classes/{class_id}/sessions/{sid}/check-ins",
                headers=school,
                json={"entries": [{"cadre_id": c} for c in present]},
            ),
            200,
        )
    ok(
        httpx.post(
            f"{tea}/classes/{class_id}/graduation",
            headers=school,
            json={"min_attendance_rate": 1.0, "require_required_courses": False},
        ),
        200,
    )
    graduates = [c for c in everyone if c != missing]
    hours: dict[str, dict[str, float]] = {c: {} for c in everyone}  # per year of the session
    for sid, day in (("s1", STARTS), ("s2", ENDS)):
        for c in everyone:
            if not (sid == "s2" and c == missing):
                hours[c][str(day.year)] = hours[c].get(str(day.year), 0) + HOURS[sid]

    # Each county's history has its own cadres' hours and training from the province class.
    for code, sel in county_selection.items():
        org = auth("org_department", code)
        for c in trainees[code]:

            async def history(c=c):
                r = httpx.get(f"{sel}/cadres/{c}/history", headers=org)
                h = r.json() if r.status_code == 200 else {}
                return (
                    h
                    if h.get("sessions") == (1 if c == missing else 2)
                    and bool(h.get("trainings")) == (c in graduates)
                    else None
                )

            h = await eventually(history, timeout=WAIT)
            assert h["hours"] == h["class_hours"] == hours[c], h
            assert [t["class_id"] for t in h["trainings"]] == ([class_id] if c in graduates else [])
        # Another county's cadre is not in this county's registry.
        other = trainees[b if code == a else a][0]
        assert httpx.get(f"{sel}/cadres/{other}/history", headers=org).status_code == 404

    # The province dashboard: five-year coverage in each county counts its graduates.
    analyst = auth("analyst", province, "省委组织部分析员")
    want = {
        a: round(len([c for c in trainees[a] if c in graduates]) / 6, 4),
        b: round(len(trainees[b]) / 6, 4),
    }

    async def coverage():
        r = httpx.get(f"{url['dashboard']}/api/overview", headers=analyst, params={"year": str(ENDS.year)})
        rows = {row["code"]: row for row in r.json().get("rows", [])} if r.status_code == 200 else {}
        got = {code: (rows.get(code) or {}).get("rotation_coverage") for code in (a, b)}
        return rows if got == want else None

    try:
        rows = await eventually(coverage, timeout=WAIT)
    except AssertionError:
        r = httpx.get(
            f"{url['dashboard']}/api/overview", headers=analyst, params={"year": str(ENDS.year)}
        ).json()
        raise AssertionError(f"want coverage {want}; the dashboard's rows: {r.get('rows')}") from None
    assert (rows[a]["registered_cadres"], rows[b]["registered_cadres"]) == (6, 6)
    assert (rows[a]["classes"], rows[b]["classes"]) == (0, 0)  # the class is not theirs
    # The class itself is the province's, with every graduate.
    r = httpx.get(f"{url['dashboard']}/api/classes/{class_id}", headers=analyst).json()
    assert (r["jurisdiction"], r["totals"]["graduated"]) == (province, len(graduates)), r

    await a_county_cadre_records_as_class_monitor(url["rec_p"], class_id, school, trainees, (a, b), regs[b])
    await every_countys_graduates_are_followed_up(url["fol_p"], class_id, prov, graduates, b, trainees[b][0])

    # A county's trainee acts for themself in the province school's next class (not begun):
    # their token's jurisdiction is the county, the class's the province.
    nxt = ok(
        httpx.post(
            f"{url['sel_p']}/classes",
            headers=prov,
            json={
                "class_id": f"next-{a}",
                "title": "全省年轻干部理论培训班",
                "capacity": 10,
                "starts_on": str(T + timedelta(days=1)),
                "ends_on": str(T + timedelta(days=2)),
                "organiser": "省委党校",
            },
        )
    )["stream_id"].removeprefix("class-")
    student, person = trainees[a][0], regs[a].people[0]
    ok(httpx.post(f"{url['sel_p']}/classes/{nxt}/scope", headers=prov, json={"ranks": list(data.RANKS)}))
    for step in ("nominations/batch", "confirmations"):
        ok(httpx.post(f"{url['sel_p']}/classes/{nxt}/{step}", headers=prov, json={"cadre_ids": [student]}))

    async def next_roster():
        r = httpx.get(f"{tea}/classes/{nxt}/roster", headers=school)
        return r.status_code == 200 and r.json()["confirmed"] == 1

    await eventually(next_roster, timeout=WAIT)
    session = {"course_id": "k1", "teacher_id": "t1", "site_id": "hall", "starts_at": "09:00"}
    ok(
        httpx.post(
            f"{tea}/classes/{nxt}/sessions",
            headers=school,
            json={**session, "session_id": "n1", "on": str(T + timedelta(days=1)), "ends_at": "12:00"},
        )
    )
    me = auth("trainee", a, person.name, user_id=student)
    ok(
        httpx.post(
            f"{tea}/classes/{nxt}/sessions/n1/leave-requests", headers=me, json={"reason": "县里防汛值班"}
        )
    )

    async def in_the_school_inbox():
        inbox = ok(httpx.get(f"{tea}/leave-requests", headers=school, params={"class_id": nxt}), 200)
        # by id: the province's vault does not open names a county sealed (test_erasure_across.py)
        return [(q["cadre_id"], q["reason"]) for q in inbox["requests"]] == [(student, "县里防汛值班")]

    await eventually(in_the_school_inbox, timeout=WAIT)
    # Another county's trainee, not on the roster, is answered as for a class that does not exist.
    stranger = auth("trainee", b, regs[b].people[5].name, user_id=cadre_id_of(regs[b].people[5].id_number))
    r = httpx.post(
        f"{tea}/classes/{nxt}/sessions/n1/leave-requests", headers=stranger, json={"reason": "事由"}
    )
    assert (r.status_code, r.json()["code"]) == (404, "class_not_found"), r.text


async def a_county_cadre_records_as_class_monitor(rec: str, class_id: str, school: dict, trainees, ab, reg_b):
    """The province school appoints a county b cadre of the class its class monitor (班长, 3+N);
    they record with their county's token, as `admit_to_class` admits a county's trainee."""
    a, b = ab
    monitor_id, person = trainees[b][0], reg_b.people[0]

    async def roster_synced():
        r = httpx.get(f"{rec}/classes/{class_id}/roster", headers=school)
        return r.status_code == 200

    await eventually(roster_synced, timeout=WAIT)
    ok(
        httpx.post(
            f"{rec}/classes/{class_id}/recorders",
            headers=school,
            json={
                "person_id": monitor_id,
                "name": person.name,
                "role": "class_monitor",
                "since": str(STARTS),
            },
        )
    )
    monitor = auth("recorder", b, person.name, user_id=monitor_id)
    observed = trainees[a][0]
    text = "小组讨论中结合本县防汛工作实际发言。"
    ok(
        httpx.post(
            f"{rec}/classes/{class_id}/trainees/{observed}/records",
            headers=monitor,
            json={"category": "study", "observed_on": str(STARTS), "text": text},
        )
    )

    async def recorded():
        r = httpx.get(f"{rec}/classes/{class_id}/trainees/{observed}/records", headers=monitor)
        return r.status_code == 200 and [(x["text"], x["author_role"]) for x in r.json()["records"]] == [
            (text, "class_monitor")
        ]

    await eventually(recorded, timeout=WAIT)
    mine = ok(httpx.get(f"{rec}/me/classes", headers=monitor), 200)
    assert [c["class_id"] for c in mine] == [class_id], mine
    # A county cadre the class did not appoint learns nothing of it, and nothing is stored.
    stranger = auth("recorder", a, "路人", user_id=trainees[a][1])
    r = httpx.post(
        f"{rec}/classes/{class_id}/trainees/{observed}/records",
        headers=stranger,
        json={"category": "study", "observed_on": str(STARTS), "text": "越权记录。"},
    )
    assert (r.status_code, r.json()["code"]) == (404, "class_not_found"), r.text


async def every_countys_graduates_are_followed_up(fol: str, class_id: str, prov: dict, graduates, b, b_cadre):
    """The province's follow-up schedules every graduate, of both counties, into the class's
    report; a county b graduate reports the class's outcome (调研报告)."""

    async def effect():
        r = httpx.get(f"{fol}/classes/{class_id}/effect", headers=prov)
        rows = r.json()["by_trainee"] if r.status_code == 200 else []
        return sorted(t["cadre_id"] for t in rows) == sorted(graduates)

    await eventually(effect, timeout=WAIT)
    graduate = auth("trainee", b, "学员", user_id=b_cadre)
    ok(
        httpx.post(
            f"{fol}/classes/{class_id}/outcomes",
            headers=graduate,
            json={"kind": "report", "title": "全省基层治理调研报告", "authors": []},
        )
    )

    async def reported():
        r = httpx.get(f"{fol}/classes/{class_id}/sharing", headers=prov)
        return r.status_code == 200 and [o["title"] for o in r.json()["outcomes"]] == ["全省基层治理调研报告"]

    await eventually(reported, timeout=WAIT)
