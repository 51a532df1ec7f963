"""Erasing a trainee, end to end (issue 14, PIPL Art. 47): nothing readable remains.

Selection, teaching, records, follow-up and the dashboard run as real processes of one random
county against the real Kafka and store. A trainee (and a classmate who is not erased) is
registered, nominated and confirmed, attends the sessions and graduates, is written about by a
recorder, and evaluates themselves (a trainee's own action: their name is in the actor) at the
first follow-up milestone. Free texts about them are written too, each saying something personal
(a leave reason, a record's text, the evaluation's text, a rejection reason from another class),
and the classmate gets texts of their own. The department then erases the trainee. Afterwards every view and
export shows "已删除" in their place (live, and again after every projection of every service
is rebuilt from the topics), and neither their name nor their 身份证号 is found in any record of
the county's topics read raw (values and headers), in the dead-letter topics, in any document
of any database of the store, or in any service's log; nor are their free texts. The classmate
keeps their name and their texts. The erasure itself reaches the other services through the
county's erasures topic (`ganxun.erasures.<code>`), which carries it and nothing personal.

Before the erasure the same probes are shown to see what they look for: the name is in the
read models (the store scan finds it there) and in the views, while the topics already carry
it only sealed.
"""

from __future__ import annotations

import calendar
import io
import secrets
import zipfile
from datetime import date, datetime, timedelta, timezone
from importlib import import_module

import httpx
import pytest
from bson import json_util
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from services.selection.cadres import id_check_digit
from shared import kafka
from shared.personal import ERASED
from shared.projector import rebuild
from shared.runtime import Runtime
from shared.topics import ERASURES, dead_letter_topic, erasures_topic, events_topic
from tests.integration.test_lifecycle import SELECTION_DAYS_BACK, running
from tests.support import auth, eventually, random_county, read_topic

pytestmark = pytest.mark.integration

SERVICES = ("selection", "teaching", "records", "followup", "dashboard")
TOPICS = ("selection", "teaching", "records", "followup", "accounts", "reminders", ERASURES)
T = datetime.now(timezone(timedelta(hours=8))).date()
STARTS, ENDS = T - timedelta(days=6), T - timedelta(days=1)
WAIT = 150
UNIT = "县财政局"
# Names no other test uses, so a scan of the whole store finds only this test's person.
RARE = "靳鞠邝莘郗渠訾阚"
NAME = "欧阳" + "".join(secrets.choice(RARE) for _ in range(2))
KEPT = "上官" + "".join(secrets.choice(RARE) for _ in range(2))
DEPT, SCHOOL = "组织部李科长", "党校教务处周老师"
# Free texts about each of them (a random tag: the store scan finds only this test's texts).
_TAG = secrets.token_hex(3)
GONE_TEXTS = {
    "leave": f"家中老人住院需陪护{_TAG}甲",
    "record": f"近期思想有波动，谈及家庭变故{_TAG}甲",
    "evaluation": f"自评：学用结合，身体欠佳{_TAG}甲",
    "rejection": f"本人正在接受组织调查{_TAG}甲",
}
KEPT_TEXTS = {k: v.replace("甲", "乙") for k, v in GONE_TEXTS.items()}
assert SELECTION_DAYS_BACK > 6  # the class is chosen before it starts, by selection's clock


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
async def deployment(servers, county, tmp_path_factory):
    logs = tmp_path_factory.mktemp("erasure")
    async with running(servers, county, SERVICES, TOPICS, logs, ready_within=180) as procs:
        yield {"procs": procs, "logs": logs}


def ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def number(county: str, seq: int) -> str:
    first17 = f"{county}1988061{seq}{seq:03d}"
    return first17 + id_check_digit(first17)


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


async def until(fetch, want, timeout: float = WAIT):
    async def check():
        value = fetch()
        return value if value is not None and want(value) else None

    return await eventually(check, timeout=timeout, interval=0.5)


def got(c: httpx.Client, path: str, headers: dict):
    r = c.get(path, headers=headers)
    return r.json() if r.status_code == 200 else None


def text_of(r: httpx.Response) -> str:
    """What a person reading the download sees: the cells of an .xlsx, a PDF's text, else the body."""
    assert r.status_code == 200, (r.request.url, r.text[:300])
    kind = r.headers.get("content-type", "")
    if "spreadsheet" in kind:
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    if "pdf" in kind:
        return "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    return r.text


# long: one story against five real services; each probe needs the ids the steps before it made
async def test_an_erased_trainee_leaves_nothing_readable(deployment, county, servers):
    procs = deployment["procs"]
    sel, tea, rec, fu, dash = (httpx.Client(base_url=procs[s].url, timeout=120) for s in SERVICES)
    dept, school = auth("org_department", county, DEPT), auth("party_school", county, SCHOOL)
    clerk = auth("unit", county, "财政局王主任", user_id="clerk-1", unit=UNIT)
    secret = {NAME, number(county, 1), *GONE_TEXTS.values()}
    texts = dict(zip((NAME, KEPT), (GONE_TEXTS, KEPT_TEXTS), strict=True))

    # -- a trainee's whole term --------------------------------------------------------------------
    ids = []
    for seq, name in ((1, NAME), (2, KEPT)):
        body = {"name": name, "id_number": number(county, seq), "unit": UNIT, "rank": "副科"}
        ids.append(ok(sel.post("/cadres", headers=dept, json=body))["cadre_id"])
    gone, kept = ids
    await until(lambda: got(sel, f"/cadres/{kept}", dept), lambda d: d["name"] == KEPT)
    await until(lambda: got(sel, f"/cadres/{gone}", dept), lambda d: d["name"] == NAME)
    klass = {
        "title": "2026年青年干部培训班",
        "capacity": 10,
        "starts_on": str(STARTS),
        "ends_on": str(ENDS),
        "organiser": "县委党校",
    }
    class_id = ok(sel.post("/classes", headers=dept, json=klass))["stream_id"].removeprefix("class-")
    ok(sel.post(f"/classes/{class_id}/scope", headers=dept, json={"ranks": ["副科"]}))
    for c in ids:
        ok(sel.post(f"/classes/{class_id}/nominations", headers=clerk, json={"cadre_id": c}))
        ok(sel.post(f"/classes/{class_id}/nominations/{c}/confirm", headers=dept))
    await until(
        lambda: got(tea, f"/classes/{class_id}/roster", school),
        lambda d: d["confirmed"] == 2 and NAME in {t["name"] for t in d["trainees"]},
    )
    ok(
        tea.post(
            "/courses",
            headers=school,
            json={"course_id": "c1", "title": "党性教育专题", "kind": "党性课", "hours": 4.0, "mode": "必修"},
        )
    )
    ok(tea.post("/faculty", headers=school, json={"teacher_id": "t1", "name": "王教授", "kind": "党校教师"}))
    ok(tea.post("/sites", headers=school, json={"site_id": "r1", "name": "第一教室", "capacity": 60}))
    ok(tea.put(f"/classes/{class_id}/curriculum", headers=school, json={"course_ids": ["c1"]}), 200)
    for i, sid in enumerate(("s1", "s2", "s3")):
        session = {
            "session_id": sid,
            "course_id": "c1",
            "teacher_id": "t1",
            "site_id": "r1",
            "on": str(STARTS + timedelta(days=i)),
            "starts_at": "09:00",
            "ends_at": "12:00",
        }
        ok(tea.post(f"/classes/{class_id}/sessions", headers=school, json=session))
        if sid == "s3":  # both on leave, each for a reason of their own, registered by the school
            for c, who in zip(ids, (NAME, KEPT), strict=True):
                leave = {"cadre_id": c, "reason": texts[who]["leave"]}
                ok(tea.post(f"/classes/{class_id}/sessions/{sid}/leave-requests", headers=school, json=leave))
            continue
        entries = [{"cadre_id": c} for c in ids]
        ok(
            tea.post(
                f"/classes/{class_id}/sessions/{sid}/check-ins", headers=school, json={"entries": entries}
            ),
            200,
        )
    rule = {"min_attendance_rate": 0.6, "require_required_courses": True, "min_hours": 4}
    ok(tea.post(f"/classes/{class_id}/graduation", headers=school, json=rule), 200)

    recorder = auth("recorder", county, "班主任郑老师", user_id="p.head")
    assign = {"person_id": "p.head", "name": "班主任郑老师", "role": "head_teacher", "since": str(STARTS)}
    await until(
        lambda: got(rec, f"/classes/{class_id}/completeness?as_of={ENDS}", school),
        lambda d: d["trainees"] == 2,
    )
    ok(rec.post(f"/classes/{class_id}/recorders", headers=school, json=assign))
    for c, who in zip(ids, (NAME, KEPT), strict=True):
        note = {"category": "thinking", "observed_on": str(STARTS), "text": texts[who]["record"]}
        ok(rec.post(f"/classes/{class_id}/trainees/{c}/records", headers=recorder, json=note))
    # The trainee is also the class monitor and records about the classmate: a cadre acting as a
    # recorder, whose name in the envelope's actor is sealed under their own key.
    monitor = auth("recorder", county, NAME, user_id=gone)
    duty = {"person_id": gone, "name": NAME, "role": "class_monitor", "since": str(STARTS)}
    ok(rec.post(f"/classes/{class_id}/recorders", headers=school, json=duty))
    note = {"category": "thinking", "observed_on": str(STARTS), "text": f"班长记录：讨论积极{_TAG}"}
    ok(rec.post(f"/classes/{class_id}/trainees/{kept}/records", headers=monitor, json=note))

    await until(lambda: got(fu, f"/trainees/{gone}/followup", dept), lambda d: d["classes"])
    ok(fu.put("/admin/clock", headers=auth("admin", county), json={"today": str(add_months(T, 1))}), 200)
    await until(lambda: got(fu, f"/classes/{class_id}/effect", dept), lambda d: d["milestones_due"] == 2)
    for c, who in zip(ids, (NAME, KEPT), strict=True):
        me = auth("trainee", county, who, user_id=c)
        evaluation = {
            "role": "self",
            "scores": {"ideals": 90, "learning": 85, "attitude": 88},
            "text": texts[who]["evaluation"],
        }
        path = f"/classes/{class_id}/trainees/{c}/milestones/1/evaluations"
        ok(fu.post(path, headers=me, json=evaluation))
        await until(lambda c=c: got(sel, f"/cadres/{c}/history", dept), lambda d: d["evaluations"] == 1)

    # Both are co-authors of the class's outcome, each name sealed under its own author's key.
    outcome = {"kind": "report", "title": f"基层治理调研报告{_TAG}", "authors": [gone, kept]}
    ok(fu.post(f"/classes/{class_id}/outcomes", headers=dept, json=outcome))

    def authors() -> list[str] | None:
        shared = got(fu, f"/classes/{class_id}/sharing", dept)
        return shared["outcomes"][0]["authors"] if shared and shared["outcomes"] else None

    assert await until(authors, lambda a: a == [NAME, KEPT])

    # Another class, where both are nominated and not confirmed, each for a reason of their own.
    other = {**klass, "title": "2026年乡镇党委书记示范培训班"}
    other_id = ok(sel.post("/classes", headers=dept, json=other))["stream_id"].removeprefix("class-")
    ok(sel.post(f"/classes/{other_id}/scope", headers=dept, json={"ranks": ["副科"]}))
    for c, who in zip(ids, (NAME, KEPT), strict=True):
        ok(sel.post(f"/classes/{other_id}/nominations", headers=clerk, json={"cadre_id": c}))
        reason = {"reason": texts[who]["rejection"]}
        ok(sel.post(f"/classes/{other_id}/nominations/{c}/reject", headers=dept, json=reason))
    await until(
        lambda: got(sel, f"/classes/{other_id}/nominations", dept),
        lambda d: {n.get("reason") for n in d["items"]} == {GONE_TEXTS["rejection"], KEPT_TEXTS["rejection"]},
    )

    def views() -> dict[str, str]:
        """Every place a person's name is shown for this class, and every export of it."""
        return {
            "selection cadre": text_of(sel.get(f"/cadres/{gone}", headers=dept)),
            "selection class": text_of(sel.get(f"/classes/{class_id}", headers=dept)),
            "selection rejections": text_of(sel.get(f"/classes/{other_id}/nominations", headers=dept)),
            "teaching leave": text_of(tea.get(f"/classes/{class_id}/sessions/s3/attendance", headers=school)),
            "selection registry export": text_of(sel.get("/cadres", headers=dept, params={"format": "xlsx"})),
            "teaching roster": text_of(tea.get(f"/classes/{class_id}/roster", headers=school)),
            "teaching graduation": text_of(tea.get(f"/classes/{class_id}/graduation", headers=school)),
            "records form": text_of(
                rec.get(f"/classes/{class_id}/trainees/{gone}/form.html", headers=school)
            ),
            "records form pdf": text_of(
                rec.get(f"/classes/{class_id}/trainees/{gone}/form.pdf", headers=school)
            ),
            "records completeness export": text_of(
                rec.get(f"/classes/{class_id}/completeness.xlsx", headers=school, params={"as_of": str(ENDS)})
            ),
            "follow-up file": text_of(fu.get(f"/trainees/{gone}/followup", headers=dept)),
            # the classmate's own file and form, where their texts are shown
            "classmate's follow-up file": text_of(fu.get(f"/trainees/{kept}/followup", headers=dept)),
            "classmate's records form": text_of(
                rec.get(f"/classes/{class_id}/trainees/{kept}/form.html", headers=school)
            ),
            "follow-up file export": text_of(fu.get(f"/trainees/{gone}/followup.xlsx", headers=dept)),
            "follow-up effect export": text_of(fu.get(f"/classes/{class_id}/effect.xlsx", headers=dept)),
            "follow-up outcomes": text_of(fu.get(f"/classes/{class_id}/sharing", headers=dept)),
            "dashboard class export": text_of(dash.get(f"/api/classes/{class_id}/export.xlsx", headers=dept)),
        }

    # The probes see the person before the erasure, and the topics carry them sealed only.
    await until(lambda: got(dash, f"/api/classes/{class_id}", dept), lambda d: NAME in str(d))
    before = views()
    assert NAME in before["teaching roster"] and NAME in before["records form"], before["records form"][:500]
    assert NAME in before["follow-up file"] and NAME in before["dashboard class export"]
    assert NAME in before["follow-up outcomes"] and NAME in before["follow-up effect export"]
    shown = "".join(before.values())
    assert not [t for t in (*GONE_TEXTS.values(), *KEPT_TEXTS.values()) if t not in shown]
    assert found_in_store(await store_dump(servers), secret), "the scan must see the read models"
    assert not await in_topics(servers, county, secret)

    # -- the erasure -------------------------------------------------------------------------------
    refusal = sel.post(f"/cadres/{gone}/erasure", headers=clerk, json={"ground": "consent_withdrawn"})
    assert refusal.status_code == 403, refusal.text
    bad = sel.post(f"/cadres/{gone}/erasure", headers=dept, json={"ground": "不想要了"})
    assert bad.status_code == 422 and bad.json()["field"] == "ground", bad.text
    done = ok(sel.post(f"/cadres/{gone}/erasure", headers=dept, json={"ground": "consent_withdrawn"}), 200)
    assert done["events"] == ["CadreErased"] and done["ground_zh"] == "个人撤回同意"

    def erased_everywhere(v: dict[str, str]) -> bool:
        return not any(s in text for text in v.values() for s in secret)

    def classmate_kept(v: dict[str, str]) -> bool:
        shown = "".join(v.values())
        return (
            KEPT in v["teaching roster"]
            and KEPT in v["follow-up outcomes"]
            and all(t in shown for t in KEPT_TEXTS.values())
        )

    after = await until(views, lambda v: erased_everywhere(v) and classmate_kept(v))
    assert ERASED in after["teaching roster"] and KEPT in after["teaching roster"]
    assert ERASED in after["selection cadre"] and ERASED in after["records form"]
    assert ERASED in after["follow-up file"] and KEPT in after["selection registry export"]
    assert authors() == [ERASED, KEPT]  # the co-author keeps their name
    assert ERASED in after["follow-up effect export"] and KEPT in after["follow-up effect export"]
    assert (
        ok(sel.post(f"/cadres/{gone}/erasure", headers=dept, json={"ground": "consent_withdrawn"}), 200)[
            "events"
        ]
        == []
    )  # again: nothing new, the key deleted again

    # -- every projection of every service rebuilt from the topics ---------------------------------
    for name in SERVICES:
        procs[name].stop()
    for name in SERVICES:
        await rebuild_all(name, procs[name].settings)
    for name in SERVICES:
        procs[name].start(wait=False)
    for name in SERVICES:
        procs[name].wait_ready(timeout=180)
    rebuilt = await until(views, lambda v: erased_everywhere(v) and classmate_kept(v))
    assert ERASED in rebuilt["teaching roster"] and ERASED in rebuilt["selection cadre"]
    assert ERASED in rebuilt["follow-up file"] and ERASED in rebuilt["records form"]
    assert authors() == [ERASED, KEPT]

    # -- nothing readable anywhere -----------------------------------------------------------------
    (copy,) = await read_topic(servers.kafka, erasures_topic(county), expect=1, timeout=20)
    assert dict(copy.headers)["event_type"] == b"CadreErased" and gone.encode() in copy.value
    assert not await in_topics(servers, county, secret, dead_letters=True)
    left = found_in_store(await store_dump(servers), secret)
    assert not left, left[:3]
    for log in deployment["logs"].iterdir():
        text = log.read_text("utf-8", "replace")
        assert not any(s in text for s in secret), log.name


async def rebuild_all(service: str, s) -> None:
    """`ganxun rebuild SERVICE`: every projection of the service, from the topics."""
    definition = import_module(f"services.{service}.service").DEFINITION
    rt = Runtime(definition, s)
    await rt.producer.start()
    try:
        for p in definition.projections:
            consumer = kafka.consumer(rt.settings.bus, None)
            await consumer.start()
            try:
                tps = await kafka.partitions(rt.settings.bus, rt.pattern_for(p))
                await rebuild(rt.writer(p), consumer, tps)
            finally:
                await consumer.stop()
    finally:
        await rt.producer.stop()
        await rt.mongo.close()


async def in_topics(servers, county: str, secret: set[str], dead_letters: bool = False) -> list[str]:
    """Records of the county's topics (and the deployment's dead letters) holding any secret."""
    names = [events_topic(s, county) for s in TOPICS]
    if dead_letters:
        names += [dead_letter_topic(s, county) for s in SERVICES]
    existing = set(await kafka_topics(servers))
    hits = []
    for topic in names:
        if topic not in existing:
            continue
        for r in await read_topic(servers.kafka, topic, timeout=10):
            blob = (r.value or b"") + b"".join(v for _, v in r.headers or ())
            text = blob.decode("utf-8", "replace")
            hits += [f"{topic}@{r.offset}" for s in secret if s in text]
    return hits


async def kafka_topics(servers) -> list[str]:
    client = kafka.admin(servers.kafka)
    await client.start()
    try:
        return await client.list_topics()
    finally:
        await client.close()


async def store_dump(servers) -> list[tuple[str, str, str]]:
    """(database, collection, document as extended JSON) of every document in the store."""
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    out = []
    try:
        for db_name in await client.list_database_names():
            db = client[db_name]
            for coll in await db.list_collection_names():
                async for doc in db[coll].find({}):
                    out.append((db_name, coll, json_util.dumps(doc, ensure_ascii=False)))
    finally:
        await client.close()
    return out


def found_in_store(dump: list[tuple[str, str, str]], secret: set[str]) -> list[tuple[str, str]]:
    return [(db, coll) for db, coll, text in dump if any(s in text for s in secret)]
