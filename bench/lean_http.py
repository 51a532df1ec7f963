"""A lean HTTP/1.1 client for the load bench: keep-alive connections, httptools' parser, JSON.

The bench client shares the two cores with the services it measures. httpx spent about 2.5 ms
of CPU a request on this machine (its pool, anyio, h11 in Python), so at 50 commands a second
(two to three requests a command with the writer's read and the propagation probes) the client
took about 12 ms of CPU per command, half a core the services then queued behind: its own cost
was counted in their tail (docs/benchmarks.md, "Commands' tail at 50/s"). This one writes the
request in one call and parses the answer in C (httptools, which uvicorn uses too): about
0.05 ms a request. What it does not do, the bench does not need: TLS, redirects, cookies,
proxies, compression, anything but plain JSON bodies.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode, urlsplit

import httptools


class LeanError(Exception):
    """A request that got no well-formed answer (closed, unparseable, timed out)."""


class Response:
    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise LeanError(f"{self.status_code} {self.text[:200]}")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.answer: asyncio.Future | None = None
        self.open = True
        self.received = False  # any byte of the current answer
        self.keep = True  # the server keeps the connection after this answer

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.open = False
        self._fail(LeanError(f"connection closed: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.transport.close()
            self._fail(LeanError(f"bad answer: {exc!r}"))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep = self.parser.should_keep_alive()
        answer = Response(self.parser.get_status_code(), b"".join(self.body))
        self.body = []
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(answer)

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    async def exchange(self, request: bytes) -> Response:
        self.answer = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(request)
        try:
            return await self.answer
        except BaseException:  # no answer (closed, bad, timed out): the connection is not reused
            self.transport.close()
            raise


class LeanClient:
    """`get`/`post`/`patch(url, headers=, json=, params=)` over keep-alive connections to
    plain-HTTP hosts; each request takes an idle connection or opens one."""

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self.idle: dict[tuple[str, int], list[_Connection]] = {}

    async def get(self, url: str, **kw) -> Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw) -> Response:
        return await self.request("POST", url, **kw)

    async def patch(self, url: str, **kw) -> Response:
        return await self.request("PATCH", url, **kw)

    async def request(self, method: str, url: str, headers=None, json=None, params=None) -> Response:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 80
        target = parts.path or "/"
        query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
        if query:
            target += "?" + query
        body = b"" if json is None else _dumps(json)
        head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
        if json is not None:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        try:
            return await asyncio.wait_for(self._send((host, port), request), self.timeout)
        except (TimeoutError, OSError) as exc:
            raise LeanError(f"{method} {url}: {exc!r}") from exc

    async def _send(self, where: tuple[str, int], request: bytes) -> Response:
        pool = self.idle.setdefault(where, [])
        while pool:
            conn = pool.pop()
            if not conn.open:
                continue
            try:
                return self._done(where, conn, await conn.exchange(request))
            except LeanError:
                # A kept connection the server closed as it went idle, before any byte of an
                # answer: the request was not read; send it on another connection.
                if conn.received:
                    raise
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, *where)
        return self._done(where, conn, await conn.exchange(request))

    def _done(self, where: tuple[str, int], conn: _Connection, answer: Response) -> Response:
        if conn.keep and conn.open:
            self.idle[where].append(conn)
        else:
            conn.transport.close()
        return answer

    async def aclose(self) -> None:
        for pool in self.idle.values():
            for conn in pool:
                conn.transport.close()
        self.idle.clear()


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
