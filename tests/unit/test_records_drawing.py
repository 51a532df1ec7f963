"""The record form drawn in the worker processes (services/records/drawing.py): the same text
as drawn in the service's own process, several at once, and no worker outlives its service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from services.records import documents, drawing, pdf
from tests.unit.test_records_views import FILE, KLASS, ROSTER, pdf_text


def test_forms_drawn_in_the_workers_read_as_those_drawn_here(monkeypatch):
    monkeypatch.setenv("GANXUN_RECORDS_PDF_WORKERS", "2")
    drawing.stop()
    d = documents.gather(ROSTER, KLASS, FILE)

    async def four_at_once():
        return await asyncio.gather(*(drawing.drawn(pdf.form_pdf, d) for _ in range(4)))

    try:
        drawn = asyncio.run(four_at_once())
        workers = drawing.pool()
        assert workers is not None and len(workers._processes) == 2  # drawn in the pool, not here
    finally:
        drawing.stop()
    here = pdf_text(pdf.form_pdf(d))
    assert all(pdf_text(p) == here for p in drawn)
    assert "张伟" in here and "思想上有畏难情绪。" in here


def test_with_no_workers_a_form_is_drawn_in_a_thread(monkeypatch):
    monkeypatch.setenv("GANXUN_RECORDS_PDF_WORKERS", "0")
    drawing.stop()
    d = documents.gather(ROSTER, KLASS, FILE)
    assert drawing.pool() is None
    assert "张伟" in pdf_text(asyncio.run(drawing.drawn(pdf.form_pdf, d)))


SERVICE = """
import os, sys, time
from services.records import drawing
workers = drawing.pool()
while len(workers._processes) < 2:
    time.sleep(0.05)
print(" ".join(str(p) for p in workers._processes), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_workers_end_when_their_service_is_killed():
    env = {**os.environ, "GANXUN_RECORDS_PDF_WORKERS": "2"}
    service = subprocess.Popen([sys.executable, "-c", SERVICE], stdout=subprocess.PIPE, text=True, env=env)
    try:
        workers = [int(p) for p in service.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
    finally:
        service.kill()  # as a crash or SIGKILL: no exit hook runs
        service.wait()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)
