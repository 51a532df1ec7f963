"""A service laid out as several API processes on one port (deploy/local/layout.py) against the
real servers: commands sent over many connections are answered, a read or a scope drawn with
their tokens shows them at once on either API process (neither runs the projectors: their read
index takes the written documents from the store), racing commands on one class from different
processes are all decided (the kernel's optimistic appends), the one relay-and-projectors
process projects them, and the deployment keeps answering when one API process dies."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date, timedelta

import httpx
import pytest

from deploy.local import layout
from deploy.local.process import REPO_ROOT, free_port
from services.selection.cadres import RANKS, id_check_digit
from shared.consistency import AFTER_HEADER, MAX_TOKENS, STATE_HEADER
from tests.support import auth, env_of, eventually, random_county, settings

pytestmark = pytest.mark.integration
DEPT = "组织部李科长"
CADRES = MAX_TOKENS  # every registration's token in one header


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def deployment(servers, county, tmp_path_factory):
    """selection as two API processes sharing one port, and one process with the rest."""
    s = settings("selection", servers, [county])
    port = free_port()
    logs = tmp_path_factory.mktemp("api-processes")
    # The reads sent tokens wait up to this for the third process's projectors (a loaded CI
    # machine); they answer as soon as the write is folded.
    env = {**os.environ, **env_of(s), "GANXUN_READ_WAIT_SECONDS": "10"}
    procs = [
        subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdout=open(logs / f"{n}.log", "wb"), stderr=subprocess.STDOUT
        )
        for n, argv in enumerate(layout.argvs("selection", port, 2, sys.executable))
    ]
    try:
        yield f"http://127.0.0.1:{port}", procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_the_layout_is_two_api_processes_and_one_with_the_rest():
    argvs = layout.argvs("selection", 9101, 2, "python")
    # the one process beyond the APIs runs everything else: relay, projectors and selection's workers
    assert [a[a.index("--components") + 1] for a in argvs] == [
        "api",
        "api",
        "relay,projectors,index,erasures",
    ]
    assert all("--reuse-port" in a for a in argvs[:2])
    assert layout.argvs("selection", 9101, 1, "python") == [
        ["python", "-m", "services.selection", "--port", "9101"]
    ]


def person(county: str, n: int) -> dict:
    first17 = f"{county}{date(1980, 1, 1) + timedelta(days=97 * n):%Y%m%d}{n:03d}"
    return {
        "name": f"干部{n:02d}",
        "id_number": first17 + id_check_digit(first17),
        "unit": "县财政局",
        "rank": RANKS[3],
    }


async def ready(url: str) -> None:
    async def up():
        try:
            async with httpx.AsyncClient() as c:
                return (await c.get(f"{url}/readyz")).status_code == 200 or None
        except httpx.HTTPError:
            return None

    await eventually(up, timeout=90)


async def registry(url: str, dept: dict, after: str | None = None) -> tuple[str | None, int]:
    """The registry's total, read on a connection of its own (either API process), with the
    consistency its wait reached."""
    headers = dept if after is None else {**dept, AFTER_HEADER: after}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.get(f"{url}/cadres", headers=headers, params={"size": 100})
    assert r.status_code == 200, r.text
    return r.headers.get(STATE_HEADER), r.json()["total"]


async def registered_and_drawn(url: str, county: str, dept: dict) -> tuple[str, ...]:
    """CADRES registered on many connections, then read and drawn into a class's scope with their
    tokens at once, on either API process: neither runs the projectors, and each had loaded its
    read index just before (reloaded only when older than STALE_AFTER, services/selection/reads.py),
    so they show the registrations only as the tokens' fresh wait takes them into the index."""
    # Both API processes load their read index now (connections reach either): the
    # registrations below land within its STALE_AFTER, before either would reload it.
    assert [await registry(url, dept) for _ in range(8)] == [(None, 0)] * 8

    async def one(n: int) -> tuple[str, str]:
        async with httpx.AsyncClient(timeout=60) as c:  # a connection of its own: any process
            r = await c.post(f"{url}/cadres", headers=dept, json=person(county, n))
            assert r.status_code == 201, r.text
            return r.json()["cadre_id"], r.json()["token"]

    cadre_ids, tokens = zip(*await asyncio.gather(*(one(n) for n in range(CADRES))), strict=True)
    after = ",".join(tokens)

    # Projected by the third process, read with the tokens by the API ones: at once, on each.
    assert [await registry(url, dept, after) for _ in range(6)] == [("fresh", CADRES)] * 6

    start = date.today() + timedelta(days=30)
    body = {"class_id": f"k-{county}", "title": "科级干部轮训班", "capacity": 100}
    body |= {"starts_on": str(start), "ends_on": str(start + timedelta(days=5))}
    async with httpx.AsyncClient(timeout=60) as c:
        assert (await c.post(f"{url}/classes", headers=dept, json=body)).status_code == 201
    async with httpx.AsyncClient(timeout=60) as c:  # drawn from the read index, given the tokens
        r = await c.post(
            f"{url}/classes/k-{county}/scope",
            headers={**dept, AFTER_HEADER: after},
            json={"ranks": [RANKS[3]]},
        )
    assert r.status_code == 201, r.text
    assert len(r.json()["cadres"]) == CADRES
    return cadre_ids


async def test_several_api_processes_answer_decide_and_project(deployment, county):
    url, procs = deployment
    await ready(url)
    dept = auth("org_department", county, DEPT)

    cadre_ids = await registered_and_drawn(url, county, dept)

    async def nominate(cadre_id: str) -> int:
        async with httpx.AsyncClient(timeout=60) as c:
            r = await c.post(
                f"{url}/classes/k-{county}/nominations", headers=dept, json={"cadre_id": cadre_id}
            )
            return r.status_code

    # Racing on one class from both API processes: every nomination decided, none refused.
    assert await asyncio.gather(*(nominate(c) for c in cadre_ids)) == [201] * CADRES

    async def nominated():
        async with httpx.AsyncClient(timeout=30) as c:
            r = await c.get(f"{url}/classes/k-{county}/nominations", headers=dept, params={"size": 100})
        return r.status_code == 200 and r.json()["total"] == CADRES or None

    await eventually(nominated, timeout=90)

    # Both API processes bound the port (one that could not would have exited). One dies:
    # the other answers every new connection.
    assert [p.poll() for p in procs] == [None, None, None]
    procs[0].kill()
    procs[0].wait()
    async with httpx.AsyncClient(timeout=60) as c:
        for _ in range(8):
            assert (await c.get(f"{url}/cadres/{cadre_ids[0]}", headers=dept)).status_code == 200
            await c.aclose()
            c = httpx.AsyncClient(timeout=60)
        await c.aclose()
