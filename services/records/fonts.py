"""The common face: the CJK font cut down to the characters nearly every document uses.

fpdf2 parses the whole font for every document it draws and subsets it on output. For
WenQuanYi Micro Hei (49,531 glyphs) that is most of a record form's time: cProfile of
`pdf.form_pdf` showed 73% in `add_font` (fontTools decoding `glyf` and the glyph names in
`post`) and 25% in the subsetting on output. A face holding only GB 2312 (6,763 hanzi),
the font's characters below U+3000, CJK punctuation and full-width forms has 8,614 glyphs
and no glyph names or hinting, so both steps cost a fraction. It is built once per font
file (a few seconds) into the cache folder and reused by every process after.

A document with a character the common face lacks (a rare name such as 堃) is drawn again
with the whole font: `pdf.py` checks fpdf's list of missing glyphs, so nothing is ever
printed as a blank box.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import fontTools
import structlog
from fontTools import subset, ttLib

log = structlog.get_logger("records.fonts")
# Bump when the choice of characters or the subsetting options change: a new file name.
VERSION = 1
# Fonts whose common face could not be built or stored in this process: not tried again
# for every document (a build takes seconds).
_FAILED: set[str] = set()


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganxun" / "fonts"


def common_characters(cmap: dict[int, str]) -> list[int]:
    """The code points of the common face: those of `cmap` in GB 2312, below U+3000, CJK
    symbols and punctuation (U+3000–303F) or half- and full-width forms (U+FF00–FFEF)."""
    keep = []
    for cp in cmap:
        if cp < 0x3000 or 0x3000 <= cp <= 0x303F or 0xFF00 <= cp <= 0xFFEF:
            keep.append(cp)
        elif 0x4E00 <= cp <= 0x9FFF:
            try:
                chr(cp).encode("gb2312")
            except UnicodeEncodeError:
                continue
            keep.append(cp)
    return keep


def common_face(font: Path, index: int) -> Path | None:
    """A TrueType file of the common face of `font` (face `index` of a collection), built on
    first use (again if the cache folder was emptied); None when it cannot be built or
    stored (then the whole font is used). Finding a built one is a stat and a hash."""
    stat = font.stat()
    key = f"{font.resolve()}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{VERSION}|{fontTools.version}"
    path = cache_folder() / f"common-{hashlib.sha256(key.encode()).hexdigest()[:20]}.ttf"
    if path.is_file():
        return path
    if key in _FAILED:
        return None
    try:
        face = ttLib.TTFont(font, fontNumber=index, lazy=True)
        options = subset.Options()
        options.glyph_names = False
        options.hinting = False
        options.notdef_outline = True
        options.layout_features = []
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=common_characters(face.getBestCmap()))
        cutter.subset(face)
        data = io.BytesIO()
        face.save(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(data.getvalue())
        part.replace(path)  # atomic: a process reading it never sees half a file
    except Exception:  # noqa: BLE001 - the whole font still draws every document
        log.exception("records.common_face_failed", font=str(font))
        _FAILED.add(key)
        return None
    return path
