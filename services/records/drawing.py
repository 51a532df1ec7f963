"""The PDFs drawn in a small pool of worker processes, each with the font parsed once.

A record form costs about 54 ms of CPU to draw (services/records/README.md, "What a PDF costs
now"), all of it Python holding the GIL: drawn in threads of the service's own process, four
forms asked at once took their turns (bench.record_pdf, 4 clients: p50 229 / p99 371 ms on an
idle machine). Worker processes draw them side by side on the machine's cores, and the
service's event loop keeps answering meanwhile. Each worker parses the common face once, when
it starts (`_warm`), so no request pays for it.

GANXUN_RECORDS_PDF_WORKERS sets the pool's size (default 2, the machine's cores in the local
deployment); 0 draws in a thread of the service's process, as before. A worker that dies
(killed, out of memory) breaks the pool: the document is drawn in a thread and the next one
starts a new pool.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

log = structlog.get_logger("records.drawing")


class DrawingSettings(BaseSettings):
    """How many processes draw the PDFs (GANXUN_RECORDS_PDF_WORKERS; 0: a thread)."""

    model_config = SettingsConfigDict(env_prefix="GANXUN_RECORDS_", extra="ignore")

    pdf_workers: int = 2


# How often a worker checks that the service that started it still runs (seconds).
ORPHAN_CHECK = 1.0
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _warm(parent: int) -> None:
    """A worker's start: it ends with the service (`_orphaned`), and the common face is parsed
    before the first document asks for it."""
    # The parent's pid comes from the parent: a worker still starting when the service died
    # would otherwise take its new parent (init) for the service.
    threading.Thread(target=_orphaned, args=(parent,), daemon=True).start()
    try:
        from services.records import fonts, pdf

        settings = pdf.FontSettings()
        common = fonts.common_face(pdf.font_path(settings), settings.font_index)
        if common is not None:
            fonts.parsed(common, 0)
    except Exception:  # noqa: BLE001 - the document that needs the font reports what is wrong
        log.exception("records.drawing_warm_failed")


def _orphaned(parent: int) -> None:
    """End this worker once the service that started it is gone. A service stopped by a signal
    does not always shut its pool down (the executor's own exit hook needs a clean exit), and
    a worker left behind would hold its memory for good."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK)
    os._exit(0)


def _nothing() -> None:
    return None


def pool() -> ProcessPoolExecutor | None:
    """This process's pool, started on first use (None when drawing in a thread)."""
    global _pool
    with _lock:
        if _pool is None:
            workers = DrawingSettings().pdf_workers
            if workers <= 0:
                return None
            # spawn: a fresh interpreter, not a copy of the service with its loop, threads
            # and Kafka connections (fork).
            _pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm,
                initargs=(os.getpid(),),
            )
            for _ in range(workers):  # the workers start (and parse the font) now, not on a request
                _pool.submit(_nothing)
        return _pool


def _draw(name: str, data: dict[str, Any]) -> bytes:
    """pdf.py's function `name` on `data`. pdf.py (fpdf and fontTools) is imported by the process
    that draws, not with the service: ~19 MB of the service's memory (issue 16, memory per
    service), where the workers draw every document."""
    from services.records import pdf

    return getattr(pdf, name)(data)


async def drawn(draw: str | Callable[[dict[str, Any]], bytes], data: dict[str, Any]) -> bytes:
    """The PDF `draw` (the name of a module-level function of services/records/pdf.py, or the
    function) makes of `data`."""
    global _pool
    if isinstance(draw, str):
        draw = functools.partial(_draw, draw)
    workers = pool()
    if workers is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(workers, draw, data)
        except BrokenProcessPool:
            log.warning("records.drawing_pool_broken")
            with _lock:
                if _pool is workers:
                    _pool = None
            workers.shutdown(wait=False, cancel_futures=True)
    return await run_in_threadpool(draw, data)


def stop() -> None:
    """Stop the workers (the service's end; also done at interpreter exit by the executor)."""
    global _pool
    with _lock:
        workers, _pool = _pool, None
    if workers is not None:
        workers.shutdown(wait=False, cancel_futures=True)
