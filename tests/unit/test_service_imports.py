"""What a read-model service's process imports at start (issue 16, memory per service < 200 MB).

openpyxl (with Pillow) is ~8 MB of a process and fpdf with fontTools ~19 MB of records', most
processes never make a workbook, and records' PDFs are drawn in its worker processes
(services/records/drawing.py): they are imported where they are used, not with the service."""

import asyncio
import subprocess
import sys

from services.records import documents, drawing
from tests.unit.test_records_views import FILE, KLASS, ROSTER, pdf_text

LOADED = """
import sys
import services.selection.service, services.teaching.service, services.records.service
import services.followup.service
print(sorted(m for m in ("openpyxl", "PIL", "fpdf", "fontTools") if m in sys.modules))
"""


def test_the_services_start_without_the_excel_and_pdf_modules():
    out = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_a_pdf_named_by_its_function_is_drawn_where_pdf_is_imported(monkeypatch):
    monkeypatch.setenv("GANXUN_RECORDS_PDF_WORKERS", "0")
    drawing.stop()
    d = documents.gather(ROSTER, KLASS, FILE)
    assert "张伟" in pdf_text(asyncio.run(drawing.drawn("form_pdf", d)))
