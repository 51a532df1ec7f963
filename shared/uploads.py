"""Uploaded tables (.xlsx, the old .xls, or .csv in UTF-8 or GBK) read within bounds, off the event loop.

A 1.8 KB .xlsx whose sheet declares a huge width (`<dimension ref="A1:XFD1048576"/>`)
made openpyxl's read-only mode pad every row to that width and allocate gigabytes. Here
the declared dimension is ignored (`reset_dimensions`), each row is read at most
MAX_COLUMNS + 1 wide (a value beyond MAX_COLUMNS refuses the file), reading stops at
MAX_ROWS + 1 rows, and the workbook's unpacked size is checked before openpyxl opens it
(a zip bomb is refused before it is inflated). The request body itself is already
bounded by shared/guards.py; `read` bounds the file again for callers outside HTTP.

Counties still keep registries in the Excel 97-2003 format (.xls); xlrd reads those whole
(the byte limit bounds it) and the same row and column bounds apply. Its numbers come as
floats: a whole number is handed on as an int, as openpyxl does, and a date cell as a datetime.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any

import xlrd
from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from shared.errors import DomainError

MAX_BYTES = 20 * 1024 * 1024
MAX_UNPACKED = 200 * 1024 * 1024
MAX_ROWS = 50_000
MAX_COLUMNS = 64
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _column(n: int) -> str:
    name = ""
    while n:
        n, r = divmod(n - 1, 26)
        name = chr(65 + r) + name
    return name


async def read(file: UploadFile, limit: int = MAX_BYTES) -> bytes:
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise DomainError(
            f"上传的文件超过 {limit // (1024 * 1024)} MB，请拆分后分批导入。",
            code="file_too_large",
            field="file",
        )
    return content


def _xlsx_rows(content: bytes, max_rows: int, max_columns: int) -> list[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as exc:
        raise DomainError(
            "无法读取 Excel 文件：不是有效的 .xlsx 文件。", code="bad_file", field="file"
        ) from exc
    if unpacked > MAX_UNPACKED:
        raise DomainError(
            f"Excel 文件解压后超过 {MAX_UNPACKED // (1024 * 1024)} MB，请拆分后分批导入。",
            code="file_too_large",
            field="file",
        )
    from openpyxl import load_workbook  # here: ~8 MB of a process that never reads one (shared/xlsx.py)

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # the declared <dimension> is not trusted
        rows: list[list[Any]] = []
        for values in ws.iter_rows(max_col=max_columns + 1, values_only=True):
            if len(rows) >= max_rows + 1:
                raise DomainError(
                    f"文件超过 {max_rows} 行，请拆分后分批导入。", code="too_many_rows", field="file"
                )
            if len(values) > max_columns and values[max_columns] not in (None, ""):
                raise DomainError(
                    f"文件第 {len(rows) + 1} 行超过 {max_columns} 列"
                    f"（{_column(max_columns + 1)} 列起有内容），请只保留模板中的列。",
                    code="too_many_columns",
                    field="file",
                )
            row = list(values[:max_columns])
            while row and row[-1] is None:
                row.pop()
            rows.append(row)
        wb.close()
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the user's file problem
        raise DomainError(
            "无法读取 Excel 文件：文件已损坏或不是 .xlsx 格式。", code="bad_file", field="file"
        ) from exc
    return rows


def _xls_value(cell: Any, datemode: int) -> Any:
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return None
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        return int(cell.value) if float(cell.value).is_integer() else cell.value
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    return cell.value


def _xls_rows(content: bytes, max_rows: int, max_columns: int) -> list[list[Any]]:
    try:
        book = xlrd.open_workbook(file_contents=content, on_demand=True)
        sheet = book.sheet_by_index(0)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the user's file problem
        raise DomainError(
            "无法读取 Excel 文件：文件已损坏或不是 .xls 格式（如是新版 Excel，请另存为 .xlsx）。",
            code="bad_file",
            field="file",
        ) from exc
    if sheet.nrows > max_rows + 1:
        raise DomainError(f"文件超过 {max_rows} 行，请拆分后分批导入。", code="too_many_rows", field="file")
    rows: list[list[Any]] = []
    for r in range(sheet.nrows):
        row = [_xls_value(c, book.datemode) for c in sheet.row(r)]
        if any(v not in (None, "") for v in row[max_columns:]):
            raise DomainError(
                f"文件第 {r + 1} 行超过 {max_columns} 列"
                f"（{_column(max_columns + 1)} 列起有内容），请只保留模板中的列。",
                code="too_many_columns",
                field="file",
            )
        row = row[:max_columns]
        while row and row[-1] is None:
            row.pop()
        rows.append(row)
    book.release_resources()
    return rows


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old .xls's container
ZIP = b"PK\x03\x04"  # the .xlsx's


def _workbook_rows(name: str, content: bytes, max_rows: int, max_columns: int) -> list[list[Any]]:
    """A workbook read by what its bytes are, not only its name: a county's .xlsx saved
    under .xls (or the reverse) reads as what it is. A ".xls" that is neither, as the web
    page some systems export under that name, is refused saying so."""
    if content.startswith(ZIP):
        return _xlsx_rows(content, max_rows, max_columns)
    if content.startswith(OLE2):
        return _xls_rows(content, max_rows, max_columns)
    if name.endswith(".xls"):
        raise DomainError(
            "文件扩展名是 .xls，但内容不是 Excel 表格（可能是从网页或其他系统导出的文本）："
            "请用 Excel 打开后另存为 .xlsx 再导入。",
            code="bad_file",
            field="file",
        )
    return _xlsx_rows(content, max_rows, max_columns)


def _csv_rows(content: bytes, max_rows: int, max_columns: int) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("CSV 文件编码无法识别，请另存为 UTF-8 或 GBK。", code="bad_file", field="file")
    rows = []
    try:
        for values in csv.reader(io.StringIO(text)):
            if len(rows) >= max_rows + 1:
                raise DomainError(
                    f"文件超过 {max_rows} 行，请拆分后分批导入。", code="too_many_rows", field="file"
                )
            if len(values) > max_columns and any(v.strip() for v in values[max_columns:]):
                raise DomainError(
                    f"文件第 {len(rows) + 1} 行超过 {max_columns} 列，请只保留模板中的列。",
                    code="too_many_columns",
                    field="file",
                )
            rows.append(values[:max_columns])
    except csv.Error as exc:
        raise DomainError(f"CSV 文件格式有误：{exc}", code="bad_file", field="file") from exc
    return rows


def table(
    filename: str,
    content: bytes,
    *,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    csv_otherwise: bool = False,
) -> list[list[Any]]:
    """Every row of the first sheet (header included), as lists of at most `max_columns`
    values; a file with more rows or columns, or a text with a control character, is
    refused whole with a Chinese message naming the cell. A name other than .xlsx/.xls/.csv
    is refused, or read as CSV with `csv_otherwise`."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xls")):
        rows = _workbook_rows(name, content, max_rows, max_columns)
    elif name.endswith(".csv") or csv_otherwise:
        rows = _csv_rows(content, max_rows, max_columns)
    else:
        raise DomainError("只支持 .xlsx、.xls 或 .csv 文件。", code="bad_file", field="file")
    for r, values in enumerate(rows, start=1):
        for c, v in enumerate(values, start=1):
            if isinstance(v, str) and CONTROL.search(v):
                raise DomainError(
                    f"第 {r} 行 {_column(c)} 列含有不可见的控制字符（如 NUL），请删除后重新导入。",
                    code="control_character",
                    field="file",
                )
    return rows


async def table_of(file: UploadFile, **bounds) -> list[list[Any]]:
    """`table` of an upload: read within the byte limit, parsed in a worker thread so a
    large file does not stall the service's other requests."""
    content = await read(file)
    return await run_in_threadpool(table, file.filename or "", content, **bounds)
