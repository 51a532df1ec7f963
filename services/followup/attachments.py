"""What an attached file is, judged by its bytes (pure, no I/O).

A mentor's task evidence (photos of a meeting, the minutes, a spreadsheet) arrives as an
upload. Its type is read from the content's first bytes (and, for the Office formats, from
the zip's part names), never from the name or the browser's Content-Type, so a renamed
program or page is refused; a name whose extension says otherwise than the content is
refused too, because the person downloading it trusts the name. The body of the request is
bounded by shared/guards.py; `check` bounds each file again at MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass

from shared.errors import DomainError

MAX_BYTES = 10 * 1024 * 1024
MAX_NAME = 120
# kind -> (what a person calls it, content type, extensions the name may have)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "jpg": ("JPEG 照片", "image/jpeg", (".jpg", ".jpeg")),
    "png": ("PNG 图片", "image/png", (".png",)),
    "pdf": ("PDF 文档", "application/pdf", (".pdf",)),
    "docx": (
        "Word 文档",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
    ),
    "xlsx": ("Excel 表格", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
}
ALLOWED = "照片（jpg、png）或文档（pdf、docx、xlsx）"
# An outcome's own document: the report or the 金点子 itself, as a PDF, a Word file or an image.
OUTCOME_KINDS = ("pdf", "docx", "jpg", "png")
OUTCOME_ALLOWED = "PDF、Word（docx）文档或图片（jpg、png）"
UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/<>:|?*]")


@dataclass(frozen=True)
class Checked:
    name: str
    kind: str
    content_type: str
    size: int
    sha256: str


def clean_name(raw: str | None) -> str:
    """The file's own name without any folder, quotes or control characters, at most MAX_NAME long."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = UNSAFE_IN_NAME.sub("_", base).strip(" .")
    return base[-MAX_NAME:] or "附件"


def sniff(content: bytes) -> str | None:
    """The kind the bytes are, or None."""
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                parts = set(z.namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in parts and "word/document.xml" in parts:
            return "docx"
        if "[Content_Types].xml" in parts and "xl/workbook.xml" in parts:
            return "xlsx"
    return None


def check(
    raw_name: str | None,
    content: bytes,
    limit: int = MAX_BYTES,
    kinds: tuple[str, ...] = tuple(KINDS),
    allowed: str = ALLOWED,
) -> Checked:
    """The file as stored, or a refusal naming the file and what is wrong with it; `kinds`
    (described to the user as `allowed`) are the types taken here."""
    name = clean_name(raw_name)
    if len(content) > limit:
        raise DomainError(
            f"文件“{name}”超过 {limit // (1024 * 1024)} MB，请压缩或拆分后再上传。",
            code="file_too_large",
            field="file",
        )
    if not content:
        raise DomainError(f"文件“{name}”是空的，请重新选择。", code="file_empty", field="file")
    kind = sniff(content)
    if kind not in kinds:
        raise DomainError(
            f"文件“{name}”的内容不是可接受的类型：只能上传{allowed}。", code="file_type", field="file"
        )
    label, content_type, extensions = KINDS[kind]
    if not name.lower().endswith(extensions):
        raise DomainError(
            f"文件“{name}”的内容是{label}，与文件扩展名不符：请改用 {'或'.join(extensions)} 扩展名后再上传。",
            code="file_name_mismatch",
            field="file",
        )
    return Checked(name, kind, content_type, len(content), hashlib.sha256(content).hexdigest())
