"""Excel exports (.xlsx, Chinese headers) as HTTP responses with a Chinese file name."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.responses import Response

from shared import xlsx


def xlsx_response(filename: str, sheets: Sequence[xlsx.Sheet]) -> Response:
    """Selection names its downloads without the extension."""
    return xlsx.response(xlsx.workbook(sheets), filename + ".xlsx")


def yes(v: bool) -> str:
    return "是" if v else "否"
