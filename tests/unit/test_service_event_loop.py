"""A service process runs on uvloop and parses HTTP with httptools (shared/entrypoint.py): both
took CPU off every command (docs/benchmarks.md, "The event loop, the HTTP parser and the token")."""

from __future__ import annotations

import asyncio

import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import entrypoint


def test_a_headless_process_runs_on_uvloop():
    seen = []

    async def main():
        seen.append(asyncio.get_running_loop())

    entrypoint.run(main())
    assert isinstance(seen[0], uvloop.Loop)


def test_the_api_is_served_with_httptools_on_uvloop():
    config = uvicorn.Config(FastAPI(), log_level="warning", access_log=False, **entrypoint.FAST)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory() is uvloop.new_event_loop
