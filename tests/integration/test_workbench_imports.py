"""Registry files as counties keep them and a transfer, through the workbench (issue 17):
in Debian's Chromium, logged in through the real Keycloak page, against the real selection
service on real Kafka and the store.

The clerk uploads a GBK CSV with a title row above the header, one row typed with
full-width digits and one with a letter O in its 身份证号; the page reports that one row in
Chinese, the clerk fixes it and uploads again. Then the department transfers a cadre with an
open recommendation from the cadre's page and sees what the transfer withdrew.
Screenshots go to tests/artifacts/workbench/ (git-ignored); the clearest are in docs/workbench/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.test_workbench_browser import CHROMIUM_ARGS, PASSWORD, WorkbenchProcess, log_in, shots
from tests.keycloak_support import services_of, wait_for_keys

pytestmark = pytest.mark.integration
FINANCE, OFFICE = "县财政局", "县委办"


def id_number(county: str, birth: str, seq: int) -> str:
    body = f"{county}{birth}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def county_file(folder: Path, county: str, fixed: bool) -> Path:
    """A registry as a county office saves it from its own sheet: GBK, a title and a date
    line above the header, a padded two-character name, full-width digits in one number."""
    bad = id_number(county, "19880808", 345)
    rows = [
        ["武城县科级干部名册", "", "", "", ""],
        ["统计时间：2026年11月", "", "", "", ""],
        ["序号", "姓　名", "身份证号", "工作单位", "职　级"],
        ["1", "张　伟", id_number(county, "19880302", 101), FINANCE, "副科"],
        ["2", "李明", full_width(id_number(county, "19850312", 456)), FINANCE, "科员"],
        ["3", "赵敏", bad if fixed else bad[:9] + "O" + bad[10:], OFFICE, "科员"],
    ]
    path = folder / ("名册（改正后）.csv" if fixed else "名册.csv")
    path.write_bytes("\r\n".join(",".join(r) for r in rows).encode("gbk"))
    return path


@pytest.fixture(scope="module")
def imports_world(identity, servers, tmp_path_factory):
    """Selection of one county verifying Keycloak's tokens, the workbench before it, a 组织部 account."""
    from tests.support import random_county

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-imports")
    procs = services_of(identity, servers, county, folder, ("selection",))
    selection = procs["selection"]
    identity.create_user(f"wi-org-{county}", "org_department", county, name="李娜")
    bearer = identity.auth(f"wi-org-{county}", PASSWORD)
    wait_for_keys(procs, bearer, county)
    wb = WorkbenchProcess(
        identity.issuer, {"selection": selection.url}, folder / "workbench.log", servers.mongodb
    ).start()
    yield wb, county, folder, selection, bearer
    wb.stop()
    selection.stop()


# long: one clerk's story end to end against real servers; its steps share the state they build
async def test_a_gbk_file_with_a_title_row_is_imported_fixed_and_a_cadre_transferred(imports_world):
    from playwright.async_api import async_playwright, expect

    from shared.clock import local_today
    from tests.support import eventually

    wb, county, folder, selection, bearer = imports_world
    expect.set_options(timeout=30_000)
    out = shots()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            org = await log_in(browser, wb, f"wi-org-{county}")
            await org.click("text=名册导入")
            upload = "[data-test=upload] input[type=file]"
            await org.set_input_files(upload, str(county_file(folder, county, fixed=False)))
            report = org.locator("[data-test=import-report]")
            await expect(report).to_contain_text("新登记 2 人")
            text = await report.inner_text()
            assert "未导入 1 行" in text
            # the row number is the sheet's, title rows counted; the message names what was found
            (row,) = [
                await r.locator("td").all_inner_texts() for r in await report.locator(".el-table__row").all()
            ]
            assert [c.strip() for c in row[:2]] == ["6", "赵敏"]
            assert "身份证号第 10 位是“O”，应为数字" in row[2] and "校验位" not in text
            await org.screenshot(path=str(out / "import-county-file.png"), full_page=True)

            await org.set_input_files(upload, str(county_file(folder, county, fixed=True)))
            await expect(report).to_contain_text("新登记 1 人")
            assert "未变化 2 人" in await report.inner_text() and "未导入 0 行" in await report.inner_text()
            await org.screenshot(path=str(out / "import-county-file-fixed.png"), full_page=True)

            # 张伟 (the padding gone) is recommended by his unit for a class, then transferred
            async with httpx.AsyncClient(base_url=selection.url, headers=bearer, timeout=30) as api:
                found = (await api.get("/cadres", params={"q": "张伟"})).json()
                (zhang,) = [c for c in found["items"] if c["name"] == "张伟"]
                starts = local_today() + timedelta(days=20)
                r = await api.post(
                    "/classes",
                    json={
                        "class_id": f"tc-{county}",
                        "title": "年轻干部培训班",
                        "capacity": 30,
                        "starts_on": starts.isoformat(),
                        "ends_on": (starts + timedelta(days=3)).isoformat(),
                        "organiser": "县委党校",
                        "quotas": {FINANCE: 1, OFFICE: 1},
                    },
                )
                assert r.status_code == 201, r.text

                async def scoped():
                    r = await api.post(f"/classes/tc-{county}/scope", json={"ranks": ["副科"]})
                    return r if r.status_code == 201 else None

                await eventually(scoped, timeout=60, interval=0.5)

                async def nominated():
                    r = await api.post(
                        f"/classes/tc-{county}/nominations", json={"cadre_id": zhang["cadre_id"]}
                    )
                    return r if r.status_code == 201 else None

                await eventually(nominated, timeout=60, interval=0.5)

                async def listed():  # the transfer reads open recommendations from the class's read model
                    r = await api.get(f"/classes/tc-{county}/nominations")
                    return r.status_code == 200 and any(
                        n["cadre_id"] == zhang["cadre_id"] for n in r.json().get("items", [])
                    )

                await eventually(listed, timeout=60, interval=0.5)

            await org.click("text=干部名册")
            await org.locator("[data-test=cadres] a", has_text="张伟").click()
            await expect(org.locator(".page-title")).to_contain_text(f"张伟 · {FINANCE}")
            await org.click("[data-test=transfer]")
            select = org.locator("[data-test=to-unit] input")
            await select.fill(OFFICE)
            await org.keyboard.press("Enter")
            await org.fill("[data-test=transfer-form] input[placeholder='如 交流任职']", "交流任职")
            await org.click("[data-test=transfer-save]")
            done = org.locator("[data-test=transferred]")
            await expect(done).to_contain_text(f"已由 {FINANCE} 调至 {OFFICE}")
            await expect(done).to_contain_text("年轻干部培训班")
            await expect(org.locator(".page-title")).to_contain_text(f"张伟 · {OFFICE}")
            await org.screenshot(path=str(out / "cadre-transfer.png"), full_page=True)
            assert org.errors == []
        finally:
            await browser.close()


async def test_an_import_the_registry_has_not_shown_yet_is_reported_as_on_its_way(
    identity, servers, tmp_path_factory
):
    """The registry shows an import once selection's projection has folded it (seconds for a
    large file): until then the clerk is told how many are still on their way, not shown a
    report that the registry contradicts. Here selection runs without its projectors, so the
    registry never catches up."""
    from playwright.async_api import async_playwright, expect

    from tests.support import ServiceProcess, random_county, settings

    county = random_county()
    folder = tmp_path_factory.mktemp("workbench-import-pending")
    selection = ServiceProcess(
        settings("selection", servers, [county]),
        components="api,relay",
        log=folder / "selection.log",
        env={"GANXUN_OIDC_ISSUER": identity.issuer},
    ).start()
    identity.create_user(f"wp-org-{county}", "org_department", county, name="李娜")
    wait_for_keys({"selection": selection}, identity.auth(f"wp-org-{county}", PASSWORD), county)
    wb = WorkbenchProcess(
        identity.issuer, {"selection": selection.url}, folder / "workbench.log", servers.mongodb
    ).start()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                org = await log_in(browser, wb, f"wp-org-{county}")
                await org.click("text=名册导入")
                upload = "[data-test=upload] input[type=file]"
                await org.set_input_files(upload, str(county_file(folder, county, fixed=True)))
                report = org.locator("[data-test=import-report]")
                await expect(report).to_contain_text("新登记 3 人", timeout=60_000)
                await expect(org.locator("[data-test=import-pending]")).to_contain_text(
                    "名册正在更新：新登记的 3 人中还有 3 人尚未出现在名册中"
                )
                await org.screenshot(path=str(shots() / "import-pending.png"), full_page=True)
                assert org.errors == []
            finally:
                await browser.close()
    finally:
        wb.stop()
        selection.stop()
