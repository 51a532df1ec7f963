"""Excel downloads (.xlsx): a sheet with a bold header row and widths for Chinese text, a
workbook as bytes, and the HTTP response that carries it under a Chinese file name.

No text written here can become a formula: a cadre named `=HYPERLINK(...)` came back as
a live formula. A text starting with `=`, `+`, `-`, `@`, a tab or a carriage return
(what Excel, WPS or LibreOffice may take for a formula, when opened or re-entered) is
stored as a plain string cell with Excel's quote prefix set: shown exactly as written,
never evaluated, and kept a text when someone edits the cell."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi.responses import Response

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

# openpyxl (with the Pillow it imports) is imported where a workbook is made, not with this module:
# it is ~8 MB of every service's memory, and most processes never make a workbook (issue 16,
# memory per service).

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# `responses=` of a route that answers a workbook, so its OpenAPI document says so.
DOWNLOAD = {
    200: {
        "description": "Excel 文件",
        "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
Sheet = tuple[str, Sequence[str], Iterable[Sequence[Any]]]


def sheet(
    wb: Workbook,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    first: bool = False,
    caption: str | None = None,
    freeze: str | None = None,
) -> Worksheet:
    """A sheet titled `title` (Excel allows 31 characters): `first` reuses the workbook's
    initial sheet, otherwise one is added. A `caption` is a bold line above the header
    (what the sheet shows); `freeze` is the first cell that scrolls (e.g. "C3")."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.active if first else wb.create_sheet()
    ws.title = title[:31]
    if caption:
        append(ws, [caption])
        ws["A1"].font = Font(bold=True)
    append(ws, header)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        append(ws, row)
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, len(str(name)) * 2 + 2)
    if freeze:
        ws.freeze_panes = freeze
    return ws


def append(ws: Worksheet, values: Iterable[Any]) -> None:
    """One row; a text that could be read as a formula is kept a text (see the docstring)."""
    values = list(values)
    ws.append(values)
    for cell, value in zip(ws[ws.max_row], values):
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            cell.value = value
            cell.data_type = "s"
            cell.quotePrefix = True


def _bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """A workbook of (title, header, rows) sheets, in order, as .xlsx bytes."""
    from openpyxl import Workbook

    wb = Workbook()
    for n, (title, header, rows) in enumerate(sheets):
        sheet(wb, title, header, rows, first=n == 0)
    return _bytes(wb)


def disposition(filename: str, fallback: str | None = None) -> str:
    """`attachment` with the name percent-encoded as UTF-8 (RFC 6266), after an optional
    plain-ASCII name for clients that do not read `filename*`."""
    plain = f'filename="{fallback}"; ' if fallback else ""
    return f"attachment; {plain}filename*=UTF-8''{quote(filename)}"


def response(data: bytes | Workbook, filename: str, fallback: str | None = None) -> Response:
    """The download: `filename` is the whole name, extension included."""
    body = data if isinstance(data, bytes) else _bytes(data)
    return Response(
        body, media_type=MEDIA_TYPE, headers={"Content-Disposition": disposition(filename, fallback)}
    )
