"""The workbench in Debian's Chromium, logged in through the real Keycloak login page.

Real Keycloak (the `identity` fixture), a real workbench process, and the real
selection and teaching services on real Kafka and the store. Users are created in
Keycloak for each role; each logs in through the Keycloak page (authorization code +
PKCE through the workbench), and works through the pages. Screenshots go to
tests/artifacts/workbench/ (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.local.process import REPO_ROOT, free_port

pytestmark = pytest.mark.integration
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Test-Passw0rd"


def shots() -> Path:
    folder = Path(os.environ.get("GANXUN_ARTIFACTS") or REPO_ROOT / "tests" / "artifacts") / "workbench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class WorkbenchProcess:
    """`python -m services.workbench` on a free port, pointed at Keycloak and the services."""

    def __init__(self, issuer: str, services: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {"GANXUN_WORKBENCH_ISSUER": issuer, "GANXUN_WORKBENCH_HTTP_PORT": str(self.port),
                    **{f"GANXUN_WORKBENCH_{k.upper()}_URL": v for k, v in services.items()}}
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkbenchProcess:
        subprocess.run(["bash", "deploy/build-workbench.sh"], cwd=REPO_ROOT, check=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "services.workbench"], cwd=REPO_ROOT,
                                     env={**os.environ, **self.env}, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("workbench not ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


async def log_in(browser, wb: WorkbenchProcess, username: str, shot: str | None = None):
    """A fresh browser context (its own cookies) logged in through Keycloak's page."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(wb.url + "/")
    await page.click("[data-test=login]")
    await page.wait_for_selector("#username")
    if shot:
        await page.screenshot(path=str(shots() / shot))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#kc-login")
    await page.wait_for_selector("[data-test=who]")
    return page


@pytest.fixture(scope="module")
def roles_world(identity, tmp_path_factory):
    from tests.support import random_county

    county = random_county()
    people = {
        "org": ("org_department", "县委组织部 李娜", None),
        "clerk": ("unit", "财政局 王芳", "县财政局"),
        "school": ("party_school", "县委党校 赵磊", None),
    }
    names = {}
    for key, (role, name, unit) in people.items():
        username = f"wb-{key}-{county}"
        identity.create_user(username, role, county, unit=unit, name=name)
        names[key] = (username, name, role, unit)
    log = tmp_path_factory.mktemp("workbench") / "workbench.log"
    # no services behind it here: each page then says, in Chinese, that the service cannot be reached
    closed = {name: f"http://127.0.0.1:{free_port()}" for name in ("selection", "teaching", "records", "followup")}
    wb = WorkbenchProcess(identity.issuer, closed, log).start()
    yield wb, county, names
    wb.stop()


async def test_each_role_logs_in_through_keycloak_and_sees_its_own_menu(roles_world):
    from playwright.async_api import async_playwright

    wb, county, names = roles_world
    menus = {"org": ["我的待办", "干部名册", "名册导入", "班次管理", "开设班次", "待确定队列", "统计报表"],
             "clerk": ["我的待办", "本单位调训任务"], "school": ["我的待办", "课程与师资", "班次教学"]}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for key, (username, name, role, unit) in names.items():
                page = await log_in(browser, wb, username, shot="keycloak-login.png" if key == "org" else None)
                who = await page.inner_text("[data-test=who]")
                assert name in who and county in who
                if unit:
                    assert f"单位：{unit}" in who
                shown = [t.strip() for t in await page.locator(".el-menu-item").all_inner_texts()]
                assert shown == menus[key]
                # the session cookie is httpOnly: the page's script cannot read it
                assert "ganxun_session" not in await page.evaluate("document.cookie")
                await page.screenshot(path=str(shots() / f"home-{role}.png"))
                await page.click("[data-test=logout]")
                await page.wait_for_selector("[data-test=login]")
                r = await page.request.get(wb.url + "/api/me")
                assert r.status == 401
                assert not page.errors, page.errors
                await page.context.close()
        finally:
            await browser.close()
