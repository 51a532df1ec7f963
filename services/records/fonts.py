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

import copy
import hashlib
import io
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import fontTools
import structlog
from fontTools import subset, ttLib
from fontTools.fontBuilder import FontBuilder
from fontTools.ttLib.tables._g_l_y_f import Glyph
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import OutputProducer
from pydantic_settings import BaseSettings, SettingsConfigDict

log = structlog.get_logger("records.fonts")
# Bump when the choice of characters or the subsetting options change: a new file name.
VERSION = 1
# Fonts whose common face could not be built or stored in this process: not tried again
# for every document (a build takes seconds).
_FAILED: set[str] = set()


class CacheSettings(BaseSettings):
    """Where the common face is kept: under XDG_CACHE_HOME, as the project's other caches are."""

    model_config = SettingsConfigDict(extra="ignore")

    xdg_cache_home: str = ""  # unset or empty: ~/.cache


def cache_folder() -> Path:
    home = CacheSettings().xdg_cache_home
    return (Path(home) if home else Path.home() / ".cache") / "ganxun" / "fonts"


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


# -- a font parsed once per process, and cut down per document ---------------------------
# fpdf2 parses the font for every document (`FPDF.add_font`) and, on output, cuts that parsed
# copy down to the document's glyphs with fontTools' subsetter, which reads the whole font's
# glyph, metrics and cmap tables first: most of a record form's CPU time even with the common
# face. Here the font is parsed once per process (`parsed`); each document gets a copy of
# fpdf2's font object with state of its own (`for_document`), and before output its font is
# replaced by one of just the glyphs it used (`cut`), built from the parsed tables, which
# are only read. fpdf2's subsetter then has a few hundred glyphs to handle.
_PARSED: dict[tuple[Path, int, int], TTFFont] = {}
_PARSING = threading.Lock()
_TABLES = ("head", "hhea", "OS/2", "post", "maxp", "hmtx", "cmap", "loca", "glyf")


def parsed(font: Path, index: int) -> TTFFont:
    """fpdf2's font object for `font`, parsed once per process (again if the file changed)."""
    key = (font, index, font.stat().st_mtime_ns)
    with _PARSING:  # documents are drawn in worker threads: one parse, whole tables
        if key not in _PARSED:
            scratch = FPDF()
            scratch.add_font("cjk", "", str(font), collection_font_number=index)
            whole = scratch.fonts["cjk"].ttfont
            for tag in _TABLES:  # decoded now, so that threads only ever read them
                whole[tag]
            whole.getGlyphID(".notdef")  # builds the reverse glyph order once
            _PARSED[key] = scratch.fonts["cjk"]
        return _PARSED[key]


def for_document(pdf: FPDF, font: Path, index: int) -> TTFFont:
    """The parsed font with state of one document's own: the characters it used (`subset`)
    and those the font lacks. Metrics, cmap and widths are shared: fpdf2 only reads them."""
    mine = copy.copy(parsed(font, index))
    mine.i = len(pdf.fonts) + 1
    mine.missing_glyphs = []
    mine.biggest_size_pt = 0
    mine.subset = SubsetMap(mine)
    return mine


def cut(whole: ttLib.TTFont, names: Iterable[str]) -> ttLib.TTFont:
    """A TrueType font of the glyphs `names` of `whole` (and the parts of composite glyphs),
    with their metrics and cmap, and nothing else. `whole` is only read."""
    table = whole["glyf"]
    glyphs: dict[str, Glyph] = {}
    todo = [".notdef", *names]
    while todo:
        name = todo.pop()
        if name in glyphs or name not in table.glyphs:
            continue
        stored = table.glyphs[name]
        glyph = Glyph(stored.data) if hasattr(stored, "data") else copy.deepcopy(stored)
        glyph.expand(table)  # a composite's parts by name, renumbered when compiled below
        glyphs[name] = glyph
        if glyph.isComposite():
            todo.extend(glyph.getComponentNames(table))
    order = sorted(glyphs, key=whole.getGlyphID)
    hhea, os2 = whole["hhea"], whole["OS/2"]
    fb = FontBuilder(whole["head"].unitsPerEm, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({cp: n for cp, n in whole["cmap"].getBestCmap().items() if n in glyphs})
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: whole["hmtx"][n] for n in order})
    fb.setupHorizontalHeader(ascent=hhea.ascent, descent=hhea.descent)
    fb.setupOS2(
        usWeightClass=os2.usWeightClass,
        sTypoAscender=os2.sTypoAscender,
        sTypoDescender=os2.sTypoDescender,
        sTypoLineGap=os2.sTypoLineGap,
        usWinAscent=os2.usWinAscent,
        usWinDescent=os2.usWinDescent,
    )
    fb.setupNameTable({"familyName": whole["name"].getBestFamilyName() or "cjk", "styleName": "Regular"})
    fb.setupPost(keepGlyphNames=False)
    return fb.font


class CutFonts(OutputProducer):
    """Writes the PDF with each document font (`for_document`) cut to the glyphs it used:
    made when the footer of the last page is drawn, so every glyph is known."""

    def __init__(self, fpdf: FPDF) -> None:
        shared = {id(p.ttfont) for p in _PARSED.values()}
        for font in fpdf.fonts.values():
            if isinstance(font, TTFFont) and id(font.ttfont) in shared:
                font.ttfont = cut(font.ttfont, font.subset.get_all_glyph_names())
        super().__init__(fpdf)
