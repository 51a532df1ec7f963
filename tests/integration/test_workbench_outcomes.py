"""An outcome's own document and a unit's adoption (issue 18), in Debian's Chromium, logged
in through the real Keycloak page, against the real selection, teaching and follow-up
services on real Kafka and the store (the world of test_workbench_sharing.py: the
graduation teaching would have sent is put on its real topic). Also the follow-up service's
own answers for the document, over HTTP: served as an attachment with nosniff and its
sha256, only to who may read the class's outcomes.

Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are copied to
docs/workbench/.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.integration import test_workbench_sharing as sharing
from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, log_in, shots
from tests.integration.test_workbench_sharing import UNIT, failed_shots, graduated

pytestmark = pytest.mark.integration
NOTE = "采纳或转化情况（如：纳入局务会议制度）"  # the hint in the unit's note box
# The same module-scoped world as the sharing module's: selection, teaching, follow-up (with
# its scheduler) of one county on Keycloak's tokens, the workbench, the department's account.
world = sharing.world
# What a scanned report is to the service: a PDF, judged by its first bytes.
REPORT = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog>> endobj\n"
    + b"% report body\n" * 200
    + b"%%EOF\n"
)


def _outcome(world, who: dict, klass: str, title: str) -> str:
    r = httpx.post(
        f"{world.urls['followup']}/classes/{klass}/outcomes",
        headers=who,
        json={"kind": "proposal", "title": title, "authors": []},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()["stream_id"].split(":", 1)[1]


# long: one story end to end against real servers; its steps share the state they build
async def test_the_document_is_served_as_an_attachment_only_to_the_readers_of_the_class(world, identity):
    from tests.support import eventually

    county, base = world.county, world.urls["followup"]
    klass, wang = f"od-{county}", f"wang-{county}"
    org = identity.auth(world.user("org"), PASSWORD)
    await graduated(world, org, klass, wang, "王芳", "武城县优化营商环境专题培训班", 20)
    identity.create_user(world.user("wang"), "trainee", county, person_id=wang, name="王芳")
    identity.create_user(world.user("stranger"), "trainee", county, person_id=f"x-{county}", name="外班学员")
    identity.create_user(world.user("otherunit"), "unit", county, unit="县教育局", name="教育局办公室")
    wang_h = identity.auth(world.user("wang"), PASSWORD)
    outcome = _outcome(world, wang_h, klass, "压缩企业开办时间的金点子")

    def upload(who: dict, name: str, content: bytes) -> httpx.Response:
        return httpx.post(
            f"{base}/outcomes/{outcome}/document", headers=who, files={"file": (name, content)}, timeout=60
        )

    # a page named .pdf, a spreadsheet and another trainee: refused, the file named, nothing attached
    refused = upload(wang_h, "金点子.pdf", b"<html>not a document</html>")
    assert refused.status_code == 422 and refused.json()["code"] == "file_type"
    assert "金点子.pdf" in refused.json()["message"]
    stranger = identity.auth(world.user("stranger"), PASSWORD)
    assert upload(stranger, "a.pdf", REPORT).status_code == 403
    stored = upload(wang_h, "金点子（定稿）.pdf", REPORT)
    assert stored.status_code == 201, stored.text
    doc = stored.json()
    assert (doc["sha256"], doc["size"], doc["outcome_id"]) == (
        hashlib.sha256(REPORT).hexdigest(),
        len(REPORT),
        outcome,
    )

    async def shown():
        # Follow-up's projector may not have folded the outcome yet: none listed is "not yet".
        r = httpx.get(f"{base}/classes/{klass}/sharing", headers=org, timeout=30)
        docs = [(o.get("document") or {}).get("attachment_id") for o in r.json()["outcomes"]]
        return docs == [doc["attachment_id"]]

    await eventually(shown, timeout=60)
    url = f"{base}/attachments/{doc['attachment_id']}"
    unit = world.user("unit")
    identity.create_user(unit, "unit", county, unit=UNIT, name="农业农村局办公室")
    for who in (org, wang_h, identity.auth(unit, PASSWORD)):
        r = httpx.get(url, headers=who, timeout=30)
        assert r.status_code == 200 and r.content == REPORT
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-attachment-sha256"] == doc["sha256"]
    for who in (stranger, identity.auth(world.user("otherunit"), PASSWORD)):
        assert httpx.get(url, headers=who, timeout=30).status_code == 403


# long: one story end to end against real servers; its steps share the state they build
async def test_a_trainee_attaches_the_outcomes_document_and_the_unit_clerk_adopts_it(world, identity):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today

    expect.set_options(timeout=30_000)
    county, wb, out = world.county, world.wb, shots()
    klass, sun = f"oa-{county}", f"sun-{county}"
    org = identity.auth(world.user("org"), PASSWORD)
    await graduated(world, org, klass, sun, "孙磊", "武城县乡村振兴专题培训班", 40)
    identity.create_user(world.user("sun"), "trainee", county, person_id=sun, name="孙磊")
    identity.create_user(world.user("clerk"), "unit", county, unit=UNIT, name="农业农村局办公室")
    sun_h = identity.auth(world.user("sun"), PASSWORD)
    r = httpx.post(
        f"{world.urls['followup']}/classes/{klass}/trainees/{sun}/talks",
        headers=sun_h,
        json={
            "on": str(local_today()),
            "audience": "局机关全体干部",
            "topic": "乡村振兴专题培训心得",
            "attendees": 40,
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    title = "关于发展村级集体经济的调研报告"
    today = local_today()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await log_in(browser, wb, world.user("sun"))
            await page.goto(f"{wb.url}/sharing?class={klass}")
            await expect(page.locator("[data-test=sharing-class]")).to_contain_text(
                "武城县乡村振兴专题培训班"
            )
            await page.get_by_placeholder("成果标题", exact=True).fill(title)
            await page.locator("[data-test=save-outcome]").click()
            await expect(page.locator("[data-test=outcomes]")).to_contain_text(title)
            attach = page.locator(f"[data-test='attach-{title}'] input")
            # a spreadsheet is no outcome's document: refused, naming the file
            await attach.set_input_files(
                [{"name": "测算表.pdf", "mimeType": "application/pdf", "buffer": b"PK\x03\x04 not a pdf"}]
            )
            await expect(page.locator("[data-test=document-refusal]")).to_contain_text("测算表.pdf")
            await expect(page.locator("[data-test=document-refusal]")).to_contain_text("只能上传")
            await attach.set_input_files(
                [{"name": f"{title}.pdf", "mimeType": "application/pdf", "buffer": REPORT}]
            )
            link = page.locator(f"[data-test='document-{title}']")
            await expect(link).to_have_text(f"{title}.pdf")
            await page.screenshot(path=str(out / "sharing-outcome-document.png"), full_page=True)
            async with page.expect_download() as got:
                await link.click()
            download = await got.value
            assert download.suggested_filename == f"{title}.pdf"
            assert open(await download.path(), "rb").read() == REPORT
            assert not page.errors, page.errors

            clerk = await log_in(browser, wb, world.user("clerk"))
            await clerk.click("text=上讲台与成果")
            await expect(clerk.locator("[data-test=unit-talks]")).to_contain_text("乡村振兴专题培训心得")
            outcomes = clerk.locator("[data-test=unit-outcomes]")
            await expect(outcomes).to_contain_text(title)
            await expect(outcomes).to_contain_text("武城县乡村振兴专题培训班")
            await expect(clerk.locator(f"[data-test='unit-document-{title}']")).to_have_text(f"{title}.pdf")
            await clerk.locator(f"[data-test='adopt-{title}']").click()
            form = clerk.locator("[data-test=adopt-form]")
            await form.locator("[data-test=adopt-kind-conversion]").click()
            # dated before the outcome: refused, naming both dates; nothing recorded
            day_before = str(today.fromordinal(today.toordinal() - 1))
            await clerk.get_by_placeholder("采纳或转化日期", exact=True).fill(day_before)
            await clerk.get_by_placeholder("采纳或转化日期", exact=True).press("Enter")
            await clerk.get_by_placeholder(NOTE, exact=True).fill("转化为局村级集体经济发展扶持办法")
            await form.locator("[data-test=save-adoption]").click()
            await expect(form.locator("[data-test=adopt-refusal]")).to_contain_text("早于成果")
            await expect(form.locator("[data-test=adopt-refusal]")).to_contain_text(str(today))
            await clerk.get_by_placeholder("采纳或转化日期", exact=True).fill(str(today))
            await clerk.get_by_placeholder("采纳或转化日期", exact=True).press("Enter")
            await form.locator("[data-test=save-adoption]").click()
            ours = clerk.locator(f"[data-test='unit-endorsement-{title}']")
            await expect(ours).to_contain_text("转化")
            await expect(ours).to_contain_text(UNIT)
            await expect(ours).to_contain_text("扶持办法")
            await clerk.screenshot(path=str(out / "unit-sharing.png"), full_page=True)
            body = await clerk.inner_text("main")
            assert klass not in body and sun not in body
            assert not clerk.errors, clerk.errors

            # the unit's conversion shows on the outcome on the department's page too
            dept = await log_in(browser, wb, world.user("org"))
            await dept.goto(f"{wb.url}/sharing?class={klass}")
            shown = dept.locator(f"[data-test='endorsement-{title}']")
            await expect(shown).to_contain_text("转化")
            await expect(shown).to_contain_text(UNIT)
            await expect(dept.locator(f"[data-test='document-{title}']")).to_have_text(f"{title}.pdf")
            await dept.screenshot(path=str(out / "sharing-outcome-adopted.png"), full_page=True)
            assert not dept.errors, dept.errors
        except BaseException:
            await failed_shots(browser, out)
            raise
        finally:
            await browser.close()
