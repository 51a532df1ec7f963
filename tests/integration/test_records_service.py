"""The records service against the real servers: a class with 3+N recorders keeps real-name
records over several weeks; corrections, refusals, completeness, assessment, the record
form (PDF text checked with pypdf) and the portrait."""

from __future__ import annotations

import io
from datetime import date, time, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from shared.clock import local_today
from shared.contracts.selection import (
    ClassOpened,
    NominationConfirmed,
    NominationWithdrawn,
    StudyGroup,
    TraineeAssignedToGroup,
)
from shared.contracts.teaching import AbsenceRecorded, SessionAttended, SessionScheduled
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "records"
# The service's day is China's (the Clock port): after 16:00 UTC it is already tomorrow there.
TODAY = local_today()
START = TODAY - timedelta(days=35)
D = "D.1"  # a dot in an id: ids become field names in the read models, escaped
TRAINEES = {"A": "张伟", "B": "李娜", "C": "王芳", D: "刘洋", "E": "陈静"}
GROUPS = {"A": "党的建设", "B": "党的建设", "C": "经济发展", D: "经济发展", "E": "经济发展"}
RECORDERS = [
    ("p.ht", "周明", "head_teacher"),
    ("p-bs", "吴刚", "branch_secretary"),
    ("p-cm", "郑丽", "class_monitor"),
    ("p-c1", "孙强", "committee_member"),
    ("p-c2", "马燕", "committee_member"),
]
NAMES = {pid: name for pid, name, _ in RECORDERS}


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def service(servers, county, tmp_path_factory):
    logs = tmp_path_factory.mktemp("records")
    with ServiceProcess(settings("records", servers, [county]), log=logs / "records.log") as p:
        p.start()
        yield p


def as_recorder(county: str, pid: str) -> dict:
    return auth("recorder", county, NAMES.get(pid, "路人甲"), user_id=pid)


async def open_class(servers, county: str, class_id: str) -> None:
    """Selection's and teaching's facts, put on their real topics as their relays would."""
    stream = f"class-{class_id}"
    events = [
        ClassOpened(
            class_id=class_id,
            title="2026年优秀年轻干部特训营",
            capacity=50,
            starts_on=START,
            ends_on=TODAY + timedelta(days=60),
            organiser="市委党校",
            study_groups=[StudyGroup(name="党的建设"), StudyGroup(name="经济发展")],
        )
    ]
    for cid, name in {**TRAINEES, "W": "赵敏"}.items():
        events.append(NominationConfirmed(class_id=class_id, cadre_id=cid, name=name, unit="市发改委"))
    events += [TraineeAssignedToGroup(class_id=class_id, cadre_id=c, group=g) for c, g in GROUPS.items()]
    events.append(NominationWithdrawn(class_id=class_id, cadre_id="W", reason="工作调动", was_confirmed=True))
    await publish(servers.kafka, "selection", county, stream, events)
    sessions = [
        SessionScheduled(
            class_id=class_id,
            session_id=f"s{i}",
            course_id="k1",
            course_title="习近平新时代中国特色社会主义思想",
            kind="理论课",
            on=START + timedelta(days=i * 7),
            starts_at=time(9),
            ends_at=time(12),
            hours=3,
            teacher_id="t1",
            teacher_name="黄教授",
            site_id="room1",
        )
        for i in range(3)
    ]
    marks = [
        SessionAttended(class_id=class_id, session_id="s0", cadre_id="A", hours=3, on=START),
        SessionAttended(
            class_id=class_id, session_id="s1", cadre_id="A", hours=3, on=START + timedelta(days=7), late=True
        ),
        AbsenceRecorded(
            class_id=class_id, session_id="s2", cadre_id="A", excused=True, on=START + timedelta(days=14)
        ),
    ]
    await publish(servers.kafka, "teaching", county, f"teaching-class-{class_id}", sessions + marks)


def post(url: str, headers: dict, body: dict) -> httpx.Response:
    return httpx.post(url, headers=headers, json=body, timeout=30)


async def setup_class(service, servers, county, class_id: str) -> None:
    await open_class(servers, county, class_id)
    org = auth("org_department", county, "组织部刘科长")

    async def first_assigned():  # the roster arrives through Kafka; until then: class_not_found
        pid, name, role = RECORDERS[0]
        r = post(
            f"{service.url}/classes/{class_id}/recorders",
            org,
            {"person_id": pid, "name": name, "role": role, "since": str(START)},
        )
        assert r.status_code in (201, 404), r.text
        return r.status_code == 201

    await eventually(first_assigned, timeout=60)
    for pid, name, role in RECORDERS[1:]:
        r = post(
            f"{service.url}/classes/{class_id}/recorders",
            org,
            {"person_id": pid, "name": name, "role": role, "since": str(START)},
        )
        assert r.status_code == 201, r.text

    async def whole_roster():  # the class's first event projected is not its last one
        r = httpx.get(f"{service.url}/classes/{class_id}/roster", headers=auth("party_school", county))
        rows = r.json()["items"] if r.status_code == 200 else []
        return {x["cadre_id"]: x["group"] for x in rows} == GROUPS

    await eventually(whole_roster, timeout=60)


def log(
    service, county, class_id, pid, cadre, text, observed: date, category="study", corrects=None
) -> httpx.Response:
    return post(
        f"{service.url}/classes/{class_id}/trainees/{cadre}/records",
        as_recorder(county, pid),
        {"category": category, "observed_on": str(observed), "text": text, "corrects": corrects},
    )


async def records_of(service, county, class_id, cadre, count: int) -> list[dict]:
    async def check():
        r = httpx.get(
            f"{service.url}/classes/{class_id}/trainees/{cadre}/records", headers=auth("party_school", county)
        )
        return r.json()["records"] if r.status_code == 200 and len(r.json()["records"]) >= count else None

    return await eventually(check, timeout=30)


# long: one story end to end against real servers; its steps share the state they build
async def test_a_class_of_3_plus_n_recorders_over_several_weeks(service, servers, county):
    class_id = "rec-weeks"
    await setup_class(service, servers, county, class_id)
    written: dict[str, list[tuple[str, str]]] = {c: [] for c in TRAINEES}
    categories = ["study", "thinking", "personality", "conduct", "other"]
    # Five weeks of observations by all five recorders; E is observed only long ago,
    # D never by the class monitor recently.
    for week in range(5):
        observed = START + timedelta(days=3 + week * 7)
        for i, (pid, name, role) in enumerate(RECORDERS):
            for cadre in ("A", "B", "C", D):
                if cadre == D and role == "class_monitor" and week >= 3:
                    continue
                where = ["研讨", "党课", "调研", "课堂", "小组"][i]
                text = f"第{week + 1}周：{TRAINEES[cadre]}在{where}中表现认真（{pid}）。"
                r = log(service, county, class_id, pid, cadre, text, observed, categories[(week + i) % 5])
                assert r.status_code == 201, r.text
                assert r.json()["events"] == ["RecordLogged"]
                written[cadre].append((text, name))
        if week == 0:
            r = log(service, county, class_id, "p.ht", "E", "开班初期适应较快。", observed, "personality")
            assert r.status_code == 201
            written["E"].append(("开班初期适应较快。", NAMES["p.ht"]))

    records = await records_of(service, county, class_id, "A", len(written["A"]))
    assert sorted((r["text"], r["author_name"]) for r in records) == sorted(written["A"])
    assert {r["author_role"] for r in records} == {
        "head_teacher",
        "branch_secretary",
        "class_monitor",
        "committee_member",
    }
    assert len({r["observed_on"] for r in records}) == 5

    # Completeness over the last 14 days: D lacks the class monitor, E lacks everyone.
    expected = {D: ["class_monitor"], "E": ["head_teacher", "branch_secretary", "class_monitor"]}

    async def uncovered():  # records reach the read model through Kafka: wait until all are in
        r = httpx.get(
            f"{service.url}/classes/{class_id}/completeness",
            params={"days": 14},
            headers=as_recorder(county, "p.ht"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return body if {u["cadre_id"]: u["missing_roles"] for u in body["uncovered"]} == expected else None

    body = await eventually(uncovered)
    assert body["trainees"] == 5 and body["since"] == str(TODAY - timedelta(days=13))
    # The recording roster answers a page, searched and sorted by the service (issue 16).
    r = httpx.get(
        f"{service.url}/classes/{class_id}/roster",
        params={"days": 14, "size": 2, "page": 2},
        headers=as_recorder(county, "p.ht"),
    )
    page = r.json()
    assert (page["total"], page["enrolled"], page["size"]) == (5, 5, 2)
    assert [x["name"] for x in page["items"]] == ["刘洋", "王芳"]  # 经济发展's first two by name
    r = httpx.get(
        f"{service.url}/classes/{class_id}/roster",
        params={"q": "陈", "sort": "records", "order": "desc"},
        headers=as_recorder(county, "p.ht"),
    )
    assert [x["name"] for x in r.json()["items"]] == ["陈静"]
    r = httpx.get(
        f"{service.url}/classes/{class_id}/roster",
        params={"sort": "birthday"},
        headers=as_recorder(county, "p.ht"),
    )
    assert r.status_code == 422 and r.json()["field"] == "sort", r.text
    assert [u["name"] for u in body["uncovered"]] == ["刘洋", "陈静"]
    xlsx = httpx.get(
        f"{service.url}/classes/{class_id}/completeness.xlsx",
        params={"days": 14},
        headers=as_recorder(county, "p.ht"),
    )
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("学员编号", "姓名", "学习小组", "未记录的角色")
    assert [(r[1], r[3]) for r in rows[1:]] == [("刘洋", "班长"), ("陈静", "班主任、支部书记、班长")]
    # Over 60 days E was seen by the head teacher, so only the other two roles are missing.
    r = httpx.get(
        f"{service.url}/classes/{class_id}/completeness",
        params={"days": 60},
        headers=auth("party_school", county),
    )
    assert {u["cadre_id"]: u["missing_role_names"] for u in r.json()["uncovered"]} == {
        "E": ["支部书记", "班长"]
    }

    # The record form: name, every record's text and author, extractable from the PDF.
    r = httpx.get(
        f"{service.url}/classes/{class_id}/trainees/A/form.pdf",
        headers=auth("party_school", county),
        timeout=60,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    from pypdf import PdfReader

    text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages).split())
    assert "干部教育培训纪实考察记录表" in text and "张伟" in text and "2026年优秀年轻干部特训营" in text
    for record_text, author in written["A"]:
        assert "".join(record_text.split()) in text, record_text
        assert author in text
    # From teaching's events: three sessions, two attended (one late), one excused absence.
    assert "应到3出勤2迟到1请假1缺勤0" in text and "66.7%" in text and "已获6/应修9" in text
    _render_first_page(r.content, "form-A.png")


def _render_first_page(pdf: bytes, name: str) -> None:
    """For the developer to look at once; the folder is not committed."""
    import pypdfium2 as pdfium

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = pdfium.PdfDocument(pdf)[0]
    page.render(scale=1.5).to_pil().save(ARTIFACTS / name)


# long: one story end to end against real servers; its steps share the state they build
async def test_corrections_chain_refusals_and_nothing_removes_a_record(service, servers, county):
    class_id = "rec-chain"
    await setup_class(service, servers, county, class_id)
    day = START + timedelta(days=10)
    r1 = log(service, county, class_id, "p-bs", "B", "讨论中对基层治理问题思考不深。", day, "thinking")
    assert r1.status_code == 201
    first = r1.json()["record_id"]
    r2 = log(
        service,
        county,
        class_id,
        "p-bs",
        "B",
        "更正：讨论中能结合基层治理实际提出见解。",
        day,
        "thinking",
        corrects=first,
    )
    assert r2.status_code == 201, r2.text
    second = r2.json()["record_id"]
    r3 = log(
        service,
        county,
        class_id,
        "p.ht",
        "B",
        "再更正：见解有深度，提出两条可行建议。",
        day,
        "thinking",
        corrects=second,
    )
    assert r3.status_code == 201, r3.text
    third = r3.json()["record_id"]
    again = log(service, county, class_id, "p.ht", "B", "试图再更正第一条。", day, "thinking", corrects=first)
    assert again.status_code == 422 and again.json()["code"] == "already_corrected"

    records = {r["record_id"]: r for r in await records_of(service, county, class_id, "B", 3)}
    assert records[first]["corrected_by"] == second and records[second]["corrects"] == first
    assert records[second]["corrected_by"] == third and records[third]["corrects"] == second
    assert records[third]["corrected_by"] is None
    assert (
        records[first]["text"] == "讨论中对基层治理问题思考不深。" and records[first]["author_name"] == "吴刚"
    )
    assert records[third]["author_role"] == "head_teacher" and records[first]["logged_at"]

    # Refused: a person who is no recorder, a trainee not on the roster (withdrawn or unknown).
    stranger = post(
        f"{service.url}/classes/{class_id}/trainees/B/records",
        auth("recorder", county, "钱某", user_id="p-x"),
        {"category": "study", "observed_on": str(day), "text": "冒名记录"},
    )
    assert stranger.status_code == 422 and stranger.json()["code"] == "not_a_recorder"
    assert "不是本班当前在任的纪实人员" in stranger.json()["message"]
    for cadre in ("W", "NOBODY"):
        off = log(service, county, class_id, "p.ht", cadre, "不在册学员", day)
        assert off.status_code == 422 and off.json()["code"] == "not_on_roster"
    bad = post(
        f"{service.url}/classes/{class_id}/trainees/B/records",
        as_recorder(county, "p.ht"),
        {"category": "gossip", "observed_on": str(day), "text": ""},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    wrong_role = post(
        f"{service.url}/classes/{class_id}/trainees/B/records",
        auth("party_school", county),
        {"category": "study", "observed_on": str(day), "text": "x"},
    )
    assert wrong_role.status_code == 403

    # A role change: the committee member becomes class monitor; old records keep the old role.
    org = auth("org_department", county, "组织部刘科长")
    change = START + timedelta(days=20)
    assert (
        post(
            f"{service.url}/classes/{class_id}/recorders/p-cm/relief", org, {"until": str(change)}
        ).status_code
        == 201
    )
    moved = post(
        f"{service.url}/classes/{class_id}/recorders",
        org,
        {"person_id": "p-c1", "name": "孙强", "role": "class_monitor", "since": str(change)},
    )
    assert moved.status_code == 201 and moved.json()["events"] == ["RecorderRelieved", "RecorderAssigned"]
    assert (
        log(service, county, class_id, "p-c1", "B", "任班长后组织小组讨论。", change, "conduct").status_code
        == 201
    )
    relieved = log(service, county, class_id, "p-cm", "B", "卸任后仍想记录。", change, "conduct")
    assert relieved.status_code == 422 and relieved.json()["code"] == "not_a_recorder"
    roles = {r["text"]: r["author_role"] for r in await records_of(service, county, class_id, "B", 4)}
    assert roles["任班长后组织小组讨论。"] == "class_monitor"
    hist = httpx.get(f"{service.url}/classes/{class_id}/recorders", headers=org).json()
    assert [(h["role"], h["until"]) for h in hist["history"] if h["person_id"] == "p-c1"] == [
        ("committee_member", str(change)),
        ("class_monitor", None),
    ]

    # Nothing in the API removes or changes a record.
    path = f"{service.url}/classes/{class_id}/trainees/B/records/{first}"
    before = httpx.get(path, headers=org).json()
    for method in ("DELETE", "PUT", "PATCH"):
        resp = httpx.request(method, path, headers=org, json={"text": "篡改"})
        assert resp.status_code == 405, (method, resp.status_code)
        resp = httpx.request(
            method, f"{service.url}/classes/{class_id}/trainees/B/records", headers=org, json={}
        )
        assert resp.status_code == 405
    assert httpx.get(path, headers=org).json() == before
    record_paths = [p for p in service_paths(service) if "/records" in p[1]]
    assert {m for m, _ in record_paths} == {"get", "post"}

    # A recorder reads only the classes they record for.
    outsider = httpx.get(
        f"{service.url}/classes/{class_id}/completeness",
        headers=auth("recorder", county, "钱某", user_id="p-x"),
    )
    assert outsider.status_code == 403 and outsider.json()["code"] == "not_a_recorder"

    # Another county sees nothing: our class, by its full id, is to it as one nobody opened.
    other, full = random_county(), f"{county}-{class_id}"
    for foreign in (
        path.replace(f"/classes/{class_id}/", f"/classes/{full}/"),
        f"{service.url}/classes/{full}/trainees/B/form.pdf",
    ):
        r = httpx.get(foreign, headers=auth("party_school", other))
        assert (r.status_code, r.json()["code"]) == (404, "class_not_found"), foreign

    # The form shows the corrections as such.
    html = httpx.get(f"{service.url}/classes/{class_id}/trainees/B/form.html", headers=org).text
    assert "更正第1条" in html and "已被第2条更正" in html and "已被第3条更正" in html and "更正第2条" in html


def service_paths(service) -> list[tuple[str, str]]:
    spec = httpx.get(f"{service.url}/openapi.json").json()
    return [(m, p) for p, ops in spec["paths"].items() for m in ops]


# long: one story end to end against real servers; its steps share the state they build
async def test_assessment_supervision_final_comment_and_portrait(service, servers, county):
    class_id = "rec-score"
    await setup_class(service, servers, county, class_id)
    org = auth("org_department", county, "组织部刘科长")
    r = post(f"{service.url}/classes/{class_id}/scheme", org, {"template": "huzhou"})
    assert r.status_code == 201, r.text
    week1 = START - timedelta(days=START.weekday()) + timedelta(days=7)  # a Monday
    week2 = week1 + timedelta(days=7)
    url = f"{service.url}/classes/{class_id}/trainees/{{}}/scores"
    ht = as_recorder(county, "p.ht")
    # Head teacher scores T02 (课堂笔记, max 12) and C01; branch secretary scores P01.
    plan = {"A": (11, 13, 10), "B": (9, 13, 12), "C": (12, 14, 12), D: (6, 5, 4), "E": (8, 10, 9)}
    for cadre, (t02, c01, _p01) in plan.items():
        assert (
            post(
                url.format(cadre),
                ht,
                {
                    "week": str(week1),
                    "scores": [{"item_id": "T02", "points": t02}, {"item_id": "C01", "points": c01}],
                },
            ).status_code
            == 201
        )
    # The branch secretary's week-2 sheet for the whole class in one request: a row for
    # someone not in the class is reported by name and reason; the other rows are saved.
    rows = [
        {"cadre_id": c, "scores": [{"item_id": "P01", "points": v[2]}], "note": "本周讲评"}
        for c, v in plan.items()
    ]
    sheet_url, bs = f"{service.url}/classes/{class_id}/scores", as_recorder(county, "p-bs")
    dup = post(sheet_url, bs, {"week": str(week2), "rows": rows + rows[:1]})
    assert dup.status_code == 422 and dup.json()["code"] == "duplicate_row" and "A" in dup.json()["message"]
    sheet = post(
        sheet_url,
        bs,
        {
            "week": str(week2),
            "rows": rows[:2]
            + [{"cadre_id": "NOBODY", "scores": [{"item_id": "P01", "points": 5}]}]
            + rows[2:],
        },
    )
    assert sheet.status_code == 200, sheet.text
    assert sheet.json()["saved"] == 5 and sheet.json()["week"] == str(week2)
    assert [(x["cadre_id"], x["code"]) for x in sheet.json()["refused"]] == [("NOBODY", "not_on_roster")]
    over = post(url.format("A"), ht, {"week": str(week2), "scores": [{"item_id": "T02", "points": 12.5}]})
    assert (
        over.status_code == 422
        and over.json()["code"] == "points_out_of_range"
        and "0～12" in over.json()["message"]
    )
    wrong = post(
        url.format("A"),
        as_recorder(county, "p-c2"),
        {"week": str(week2), "scores": [{"item_id": "T02", "points": 1}]},
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "role_may_not_score"
    twice = post(
        url.format("A"),
        ht,
        {"week": str(week1 + timedelta(days=1)), "scores": [{"item_id": "T02", "points": 1}]},
    )
    assert twice.status_code == 422 and twice.json()["code"] == "already_scored"

    async def ranked():
        r = httpx.get(f"{service.url}/classes/{class_id}/assessment/ranking", headers=org)
        body = r.json()
        return (
            body
            if r.status_code == 200
            and len(body["weeks"]) == 2
            and all(x["total"] > 0 for x in body["class_ranking"])
            and sum(x["total"] for x in body["class_ranking"]) == 148
            else None
        )

    body = await eventually(ranked)
    assert [(x["name"], x["total"], x["rank"]) for x in body["class_ranking"]] == [
        ("王芳", 38, 1),
        ("张伟", 34, 2),
        ("李娜", 34, 2),
        ("陈静", 27, 4),
        ("刘洋", 15, 5),
    ]
    groups = {g["group"]: [(x["name"], x["rank"]) for x in g["trainees"]] for g in body["study_groups"]}
    assert groups == {
        "党的建设": [("张伟", 1), ("李娜", 1)],
        "经济发展": [("王芳", 1), ("陈静", 2), ("刘洋", 3)],
    }
    again = post(f"{service.url}/classes/{class_id}/scheme", org, {"template": "huzhou"})
    assert again.status_code == 422 and again.json()["code"] == "scheme_in_use"
    xlsx = httpx.get(f"{service.url}/classes/{class_id}/assessment/ranking.xlsx", headers=org)
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content))["全班排名"]
    assert [c.value for c in sheet[1]] == [
        "名次",
        "学员编号",
        "姓名",
        "学习小组",
        "理论学习",
        "党性修养和学风",
        "能力素质",
        "累计得分",
    ]
    assert [(row[0], row[2], row[-1]) for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        (1, "王芳", 38),
        (2, "张伟", 34),
        (2, "李娜", 34),
        (4, "陈静", 27),
        (5, "刘洋", 15),
    ]
    a = next(x for x in body["class_ranking"] if x["cadre_id"] == "A")
    assert a["by_group"] == {"理论学习": 11, "党性修养和学风": 10, "能力素质": 13}

    weekly = httpx.get(
        f"{service.url}/classes/{class_id}/assessment/weeks/{week1 + timedelta(days=2)}", headers=ht
    ).json()
    assert weekly["week"] == str(week1)
    econ = next(g for g in weekly["study_groups"] if g["group"] == "经济发展")
    assert [(x["name"], x["total"]) for x in econ["trainees"]] == [("王芳", 26), ("陈静", 18), ("刘洋", 11)]
    assert econ["trainees"][0]["scored_by"] == [NAMES["p.ht"]]
    review2 = httpx.get(f"{service.url}/classes/{class_id}/assessment/weeks/{week2}", headers=org).json()
    notes = [x["notes"] for g in review2["study_groups"] for x in g["trainees"]]
    assert notes == [[{"scorer_name": "吴刚", "scorer_role": "branch_secretary", "note": "本周讲评"}]] * 5
    month = str(week2)[:7]
    monthly = httpx.get(f"{service.url}/classes/{class_id}/assessment/months/{month}", headers=org).json()
    assert monthly["month"] == month and all(w.startswith(month) for w in monthly["weeks"])
    assert (
        httpx.get(f"{service.url}/classes/{class_id}/assessment/months/2026-13x", headers=org).status_code
        == 422
    )

    # Class following by the department; the head teacher's final comment.
    note = post(
        f"{service.url}/classes/{class_id}/supervision",
        org,
        {"on": str(week1), "text": "随班听课，学员学风良好。"},
    )
    assert note.status_code == 201
    assert (
        post(f"{service.url}/classes/{class_id}/supervision", ht, {"on": str(week1), "text": "x"}).status_code
        == 403
    )
    assert (
        post(
            f"{service.url}/classes/{class_id}/trainees/A/final-comment",
            as_recorder(county, "p-bs"),
            {"text": "x"},
        ).json()["code"]
        == "not_head_teacher"
    )
    assert (
        post(
            f"{service.url}/classes/{class_id}/trainees/A/final-comment",
            ht,
            {"text": "政治坚定，学风端正，调研扎实。"},
        ).status_code
        == 201
    )
    assert (
        log(service, county, class_id, "p.ht", "A", "调研报告获评优秀。", week2, "study").status_code == 201
    )

    async def noted():
        r = httpx.get(f"{service.url}/classes/{class_id}/supervision", headers=org)
        return r.json()["notes"] if r.json().get("notes") else None

    assert [(n["text"], n["author_name"]) for n in await eventually(noted)] == [
        ("随班听课，学员学风良好。", "组织部刘科长")
    ]

    async def portrait():
        r = httpx.get(f"{service.url}/classes/{class_id}/trainees/A/portrait.html", headers=org)
        return (
            r.text
            if r.status_code == 200
            and "政治坚定"
            in httpx.get(f"{service.url}/classes/{class_id}/trainees/A/form.html", headers=org).text
            and "调研报告获评优秀" in r.text
            else None
        )

    html = await eventually(portrait)
    assert "<svg" in html and "全班平均" in html and "张伟" in html and "出勤率" in html
    pdf = httpx.get(f"{service.url}/classes/{class_id}/trainees/A/portrait.pdf", headers=org, timeout=60)
    assert pdf.status_code == 200
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf.content))
    text = "".join(reader.pages[0].extract_text().split())
    assert len(reader.pages) == 1 and "张伟" in text and "全班平均" in text and "调研报告获评优秀" in text
    _render_first_page(pdf.content, "portrait-A.png")
    form = httpx.get(f"{service.url}/classes/{class_id}/trainees/A/form.pdf", headers=org, timeout=60)
    form_text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(form.content)).pages).split())
    assert "政治坚定，学风端正，调研扎实。" in form_text and "理论学习" in form_text
