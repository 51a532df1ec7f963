"""The project's own pooled HTTP clients (the workbench forwarding a person's request to a
service, the demo's loader) and the servers they talk to agree on how long an idle
connection lives.

uvicorn closes a connection idle for its `timeout_keep_alive` (5 s) and httpx keeps one in
its pool for its `keepalive_expiry` (also 5 s by default): a request sent on a pooled
connection at the moment the server closed it fails with a `ReadError` before any answer. A
clean-clone CI run beside a province's first start (stop 24) saw it once, in the demo's
loader. The servers state their timeout (`SERVER_KEEP_ALIVE_S`, shared/entrypoint.py's
`FAST`) and the clients drop an idle connection well before it (`CLIENT_KEEP_ALIVE_S`).
"""

from __future__ import annotations

import httpx

SERVER_KEEP_ALIVE_S = 5
CLIENT_KEEP_ALIVE_S = 2.0


def pooled_client(timeout: float) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose idle connections are dropped before a server closes them."""
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_S))
