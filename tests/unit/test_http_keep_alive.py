"""The project's pooled clients drop an idle connection before the servers close it
(shared/http_client.py): with both at 5 s, a request sent on a connection the server was
closing failed with a ReadError (the demo's loader, a CI run under load)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request

from shared import entrypoint
from shared.http_client import CLIENT_KEEP_ALIVE_S, SERVER_KEEP_ALIVE_S, pooled_client
from tests.support import served


def test_the_servers_state_their_keep_alive_and_the_clients_drop_one_well_before():
    assert entrypoint.FAST["timeout_keep_alive"] == SERVER_KEEP_ALIVE_S
    assert CLIENT_KEEP_ALIVE_S <= SERVER_KEEP_ALIVE_S / 2


async def test_a_connection_idle_past_the_client_s_expiry_is_not_sent_on_again():
    app = FastAPI()
    peers: list[int] = []

    @app.get("/")
    async def hello(request: Request):
        peers.append(request.client.port)
        return {"ok": True}

    async with served(app, timeout_keep_alive=SERVER_KEEP_ALIVE_S) as base, pooled_client(5.0) as client:
        assert (await client.get(base + "/")).status_code == 200
        await asyncio.sleep(0.2)
        assert (await client.get(base + "/")).status_code == 200
        # Idle past half the server's keep-alive, still well inside it: the client has
        # dropped the connection and opens a new one instead of racing the server's close.
        await asyncio.sleep(SERVER_KEEP_ALIVE_S / 2 + 0.3)
        assert (await client.get(base + "/")).status_code == 200
    assert peers[0] == peers[1]  # kept alive while fresh
    assert peers[2] != peers[0]  # dropped by the client, not sent on again
