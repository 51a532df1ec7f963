"""The load bench's lean HTTP client (bench/lean_http.py) gets what httpx got from a real
uvicorn server: the status, the JSON body sent and answered (Chinese included), query
parameters, chunked answers, and a kept connection reused; a connection the server closes
between requests does not lose the next request."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from bench.lean_http import LeanClient, LeanError
from tests.support import served


async def app(scope, receive, send):
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "auth": dict(scope["headers"]).get(b"authorization", b"").decode(),
        "got": json.loads(body) if body else None,
        "peer": scope["client"][1],
    }
    status = 404 if scope["path"] == "/missing" else 201
    chunked = scope["path"] == "/chunked"
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    if scope["path"] == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    data = json.dumps(answer, ensure_ascii=False).encode()
    if chunked:  # no content-length: uvicorn sends it chunked
        await send({"type": "http.response.body", "body": data[:5], "more_body": True})
        await send({"type": "http.response.body", "body": data[5:]})
    else:
        await send({"type": "http.response.body", "body": data})


def run(scenario):
    async def main():
        async with served(app, http="httptools", lifespan="off") as base:
            client = LeanClient(timeout=10)
            try:
                return await scenario(client, base)
            finally:
                await client.aclose()

    return asyncio.run(main())


def test_a_json_command_and_its_answer():
    async def scenario(c, base):
        return await c.post(
            base + "/cadres", headers={"Authorization": "Bearer t"}, json={"name": "张三", "n": 1}
        )

    r = run(scenario)
    assert r.status_code == 201
    got = r.json()
    assert (got["method"], got["path"], got["auth"]) == ("POST", "/cadres", "Bearer t")
    assert got["got"] == {"name": "张三", "n": 1}
    assert "张三" in r.text


def test_query_parameters_a_patch_and_a_chunked_answer():
    async def scenario(c, base):
        listed = await c.get(base + "/cadres", params={"size": 1, "q": "张"})
        patched = await c.patch(base + "/cadres/7", json={"position": "科长"})
        chunked = await c.get(base + "/chunked")
        return listed, patched, chunked

    listed, patched, chunked = run(scenario)
    assert listed.json()["query"] in ("size=1&q=%E5%BC%A0", "size=1&q=张")
    assert (patched.json()["method"], patched.json()["got"]) == ("PATCH", {"position": "科长"})
    assert chunked.json()["path"] == "/chunked"


def test_a_kept_connection_is_reused_and_a_closed_one_is_not():
    async def scenario(c, base):
        first = (await c.get(base + "/a")).json()["peer"]
        second = (await c.get(base + "/b")).json()["peer"]
        closing = (await c.get(base + "/close")).json()["peer"]
        after = (await c.get(base + "/c")).json()["peer"]
        return first, second, closing, after

    first, second, closing, after = run(scenario)
    assert first == second == closing  # one connection, kept
    assert after != closing  # the server closed it: a new one, and the request answered


def test_an_error_status_is_an_answer_and_raise_for_status_says_so():
    async def scenario(c, base):
        return await c.get(base + "/missing")

    r = run(scenario)
    assert r.status_code == 404
    with pytest.raises(LeanError):
        r.raise_for_status()


def test_no_server_is_a_lean_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def main():
        c = LeanClient(timeout=5)
        with pytest.raises(LeanError):
            await c.get(f"http://127.0.0.1:{port}/")

    asyncio.run(main())
