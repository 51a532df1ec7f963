"""A clerk sees their own change at once, through the workbench (issues 16 and 17): in Debian's
Chromium, logged in through the real Keycloak page, against the real selection service on real
Kafka and the store. The department registers a cadre with the form and the registry shows the
new row from its first read after the click; it changes the cadre's post on the cadre's page
and the page shows the new post from its first read. Each of those reads carried the write's
token and the service answered `fresh` (shared/consistency.py): no re-reading.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import unquote

import pytest

from services.selection.cadres import id_check_digit
from tests.integration.test_workbench_browser import CHROMIUM_ARGS, log_in, shots
from tests.integration.test_workbench_imports import imports_world  # noqa: F401 - the same world

pytestmark = pytest.mark.integration


def _id_number(county: str, i: int) -> str:
    first17 = f"{county}{date(1984, 1, 1) + timedelta(days=i * 31):%Y%m%d}{700 + i:03d}"
    return first17 + id_check_digit(first17)


def _reads(page, path: str) -> list:
    """The page's GETs of `path` (its query aside), as they are answered."""
    seen: list = []

    def on_response(r):
        if r.request.method == "GET" and r.url.split("?")[0] == path:
            seen.append(r)

    page.on("response", on_response)
    return seen


async def test_a_registration_and_an_edit_show_at_once_without_re_reading(imports_world):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    wb, county, _folder, _selection, _bearer = imports_world
    expect.set_options(timeout=30_000)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            org = await log_in(browser, wb, f"wi-org-{county}")
            await org.click("text=干部名册")
            await org.click("[data-test=add-cadre]")
            form = org.locator("[data-test=cadre-form]")
            await form.get_by_placeholder("姓名").fill("周读写")
            await form.get_by_placeholder("18 位身份证号").fill(_id_number(county, 1))
            await form.get_by_placeholder("工作单位").fill("县发改委")
            registry_reads = _reads(org, f"{wb.url}/api/selection/cadres")
            async with org.expect_response(lambda r: r.request.method == "POST") as posted:
                await org.click("[data-test=register]")
            assert (await posted.value).headers.get("x-ganxun-token", "").startswith(f"selection.{county}:")
            await expect(org.locator("[data-test=cadres]")).to_contain_text("周读写")
            # the registry's reads after the click search for the new name (the page's first load,
            # answered late under load, is not one of them)
            registry_reads = [r for r in registry_reads if "周读写" in unquote(r.url)]
            first = registry_reads[0]
            assert (
                first.request.headers.get("x-ganxun-after") == (await posted.value).headers["x-ganxun-token"]
            )
            assert first.headers.get("x-ganxun-consistency") == "fresh"
            assert "周读写" in await first.text() and len(registry_reads) == 1  # read once, not re-read
            await org.screenshot(path=str(shots() / "read-your-writes-registered.png"))

            await org.click("text=周读写")
            await expect(org.locator(".page-title")).to_contain_text("周读写 · 县发改委")
            cadre_id = org.url.rstrip("/").rsplit("/", 1)[-1]
            page_reads = _reads(org, f"{wb.url}/api/selection/cadres/{cadre_id}")
            await org.click("text=信息变更")
            post_field = org.locator(".el-form-item", has_text="职务").locator("input").last
            await post_field.fill("副局长")
            await org.click("text=保存")
            await expect(org.locator(".el-descriptions")).to_contain_text("副局长")
            assert len(page_reads) == 1 and page_reads[0].headers.get("x-ganxun-consistency") == "fresh"
            assert '"副局长"' in await page_reads[0].text()
            assert not org.errors, org.errors
        finally:
            await browser.close()
