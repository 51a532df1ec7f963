"""The record form and the portrait as printable A4 PDFs (fpdf2), in Chinese.

The CJK font is Debian's WenQuanYi Micro Hei (package fonts-wqy-microhei); another
TTF/TTC can be named with GANXUN_CJK_FONT (and GANXUN_CJK_FONT_INDEX for a TTC), read by
`FontSettings` each time a document is drawn. A document is drawn with the font's common
face (services/records/fonts.py: GB 2312 and punctuation, a fraction of the parsing), and
again with the whole font only if it holds a character the common face lacks. The common
face is parsed once per process and cut down to each document's glyphs (fonts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.records import fonts as fonts_cache
from services.records.documents import _rate, record_line
from shared.contracts.records import RECORDER_ROLES
from shared.errors import GanxunError

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
Doc = dict[str, Any]


class FontMissing(GanxunError):
    status = 503
    code = "font_missing"


class FontSettings(BaseSettings):
    """The Chinese font the PDFs are drawn with (GANXUN_CJK_FONT, GANXUN_CJK_FONT_INDEX)."""

    model_config = SettingsConfigDict(env_prefix="GANXUN_CJK_", extra="ignore")

    font: Path = Path(DEFAULT_FONT)
    font_index: int = 0  # which face of a TTC collection


def font_path(settings: FontSettings) -> Path:
    path = settings.font
    if not path.is_file():
        raise FontMissing(
            f"找不到中文字体文件 {path}，无法生成 PDF。请安装字体包 fonts-wqy-microhei"
            "（apt-get install fonts-wqy-microhei，或运行 deploy/system-deps.sh），"
            "或用环境变量 GANXUN_CJK_FONT 指定其他中文字体。"
        )
    return path


def drawn(draw: Callable[[Sheet], None], fonts: FontSettings | None = None) -> bytes:
    """The PDF that `draw` draws on a fresh sheet: with the common face of the font
    (services/records/fonts.py), or again with the whole font if a character was missing."""
    fonts = fonts or FontSettings()
    whole = font_path(fonts)
    common = fonts_cache.common_face(whole, fonts.font_index)
    if common is not None:
        sheet = Sheet(common, 0, parsed_once=True)
        draw(sheet)
        out = bytes(sheet.output())  # the footer is drawn on output: check after it
        if not sheet.fonts["cjk"].missing_glyphs:
            return out
    sheet = Sheet(whole, fonts.font_index)
    draw(sheet)
    return bytes(sheet.output())


class Sheet(FPDF):
    def __init__(self, font: Path, index: int, parsed_once: bool = False) -> None:
        """`parsed_once`: the font is parsed once per process (fonts.parsed: the common face,
        11 MB held); else for this sheet alone (the whole font, 38 MB parsed, seldom needed)."""
        super().__init__(format="A4")
        if parsed_once:
            self.fonts["cjk"] = fonts_cache.for_document(self, font, index)
        else:
            self.add_font("cjk", "", str(font), collection_font_number=index)
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)
        self.add_page()

    def output(self, *args, **kwargs):  # noqa: D102 - fpdf2's, with the font cut first
        return super().output(*args, output_producer_class=fonts_cache.CutFonts, **kwargs)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=8)
        self.cell(0, 6, f"第 {self.page_no()} 页", align="C")

    def title_line(self, text: str) -> None:
        self.set_font("cjk", size=17)
        self.cell(0, 12, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("cjk", size=12)
        self.set_fill_color(235, 235, 235)
        self.cell(0, 8, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("cjk", size=10)

    def para(
        self, text: str, size: float = 10, colour: tuple[int, int, int] = (0, 0, 0), h: float = 5.5
    ) -> None:
        self.set_font("cjk", size=size)
        self.set_text_color(*colour)
        for line in self.lines(text):
            self.cell(0, h, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)

    def lines(self, text: str) -> list[str]:
        """`text` broken into lines that fit the page, at any character (as `multi_cell` with
        WrapMode.CHAR, which Chinese needs), in one pass: fpdf2's line breaker measures the
        whole line again for each character it adds, most of a long form's layout time."""
        widths = self.current_font.cw
        missing = widths.default_factory()
        room = (self.epw - 2 * self.c_margin) * 1000 / self.font_size
        out = []
        for part in text.split("\n"):
            line, used = [], 0.0
            for ch in part:
                w = widths.get(ord(ch), missing)
                if line and used + w > room:
                    out.append("".join(line))
                    line, used = [], 0.0
                line.append(ch)
                used += w
            out.append("".join(line))
        return out

    def facts(self, d: Doc) -> None:
        a = d["attendance"]
        rows = [
            ("姓名", d["name"], "工作单位", d["unit"]),
            ("班次", d["class_title"], "学习小组", d["group"] or "未分组"),
            ("培训时间", f"{d['starts_on']} 至 {d['ends_on']}", "承办单位", d["organiser"]),
            (
                "出勤",
                f"应到{a['sessions']} 出勤{a['attended']} 迟"
                f"到{a['late']} 请假{a['excused']} 缺勤{a['absent']}",
                "出勤率",
                _rate(a),
            ),
            (
                "学时",
                f"已获 {a['hours']:g} / 应修 {a['scheduled_hours']:g}",
                "结业",
                "已结业" if a["graduated"] else "—",
            ),
        ]
        self.set_font("cjk", size=10)
        widths = (22, 68, 22, 68)
        for row in rows:
            for i, (w, text) in enumerate(zip(widths, row)):
                self.set_fill_color(245, 245, 245)
                self.cell(w, 8, str(text), border=1, fill=i % 2 == 0)
            self.ln(8)


def form_pdf(d: Doc, fonts: FontSettings | None = None) -> bytes:
    return drawn(lambda pdf: _form(pdf, d), fonts)


def _form(pdf: Sheet, d: Doc) -> None:
    pdf.title_line(d["title"])
    pdf.facts(d)
    pdf.heading("纪实记录（实名、可追溯；更正不删除原记录）")
    if not d["records"]:
        pdf.para("暂无记录")
    for r in d["records"]:
        pdf.para(
            record_line(r),
            size=9,
            colour=(120, 40, 40) if (r["corrects_no"] or r["corrected_by_no"]) else (70, 70, 70),
        )
        pdf.para(r["text"], colour=(130, 130, 130) if r["corrected_by_no"] else (0, 0, 0))
        pdf.ln(1.5)
    pdf.heading("量化考核" + (f"：{d['scheme_title']}" if d["scheme_title"] else ""))
    if not d["scores"]:
        pdf.para("暂无评分")
    else:
        groups = d["groups"]
        w = 180 / (len(groups) + 2)
        pdf.set_font("cjk", size=9)
        for text in ("周", *groups, "合计"):
            pdf.cell(w, 7, text, border=1, align="C")
        pdf.ln(7)
        for s in d["scores"]:
            for text in (s["week"], *(f"{s['by_group'].get(g, 0):g}" for g in groups), f"{s['total']:g}"):
                pdf.cell(w, 7, text, border=1, align="C")
            pdf.ln(7)
    pdf.heading("结业鉴定评语")
    fc = d["final_comment"]
    if fc:
        pdf.para(fc["text"])
        pdf.para(f"班主任：{fc['author_name']}　{fc['written_at'][:10]}", size=9)
    else:
        pdf.para("尚未撰写")


def portrait_pdf(d: Doc, fonts: FontSettings | None = None) -> bytes:
    return drawn(lambda pdf: _portrait(pdf, d), fonts)


def _portrait(pdf: Sheet, d: Doc) -> None:
    p = d["portrait"]
    pdf.title_line(f"干部“肖像” · {d['name']}")
    pdf.facts(d)
    pdf.heading("优势与关注点")
    pdf.para("优势：" + ("、".join(p["strengths"]) or "—"))
    pdf.para("关注：" + ("、".join(p["concerns"]) or "—"))
    pdf.heading("各方面表现（现行记录）")
    for c in p["categories"]:
        # One page: the latest three standing records per category, each cut to 80 characters.
        texts = "；".join(f"{_cut(r['text'])}（{r['author_name']}）" for r in c["records"][-3:]) or "暂无记录"
        pdf.para(f"{c['name']}：{texts}", size=9)
    pdf.heading("量化考核得分与全班平均")
    _bars(pdf, p["profile"])
    pdf.heading("纪实覆盖")
    cov = "、".join(f"{RECORDER_ROLES[r]} {on or '未记录'}" for r, on in p["coverage"].items())
    pdf.para(f"共 {p['records']} 条记录（其中更正 {p['corrections']} 条）。各角色最近记录：{cov}", size=9)


def _cut(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _bars(pdf: Sheet, profile: list[Doc]) -> None:
    if not profile:
        pdf.para("尚无量化考核数据")
        return
    top = max([x["mine"] for x in profile] + [x["class_average"] for x in profile] + [1])
    x0, span = pdf.l_margin + 35, 120
    pdf.set_font("cjk", size=9)
    for row in profile:
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y + 2)
        pdf.cell(35, 5, row["group"])
        for j, (val, colour) in enumerate(
            ((row["mine"], (192, 57, 43)), (row["class_average"], (149, 165, 166)))
        ):
            pdf.set_fill_color(*colour)
            w = max(span * val / top, 0.3)
            pdf.rect(x0, y + 1 + j * 6, w, 5, style="F")
            pdf.set_xy(x0 + w + 2, y + j * 6)
            pdf.cell(20, 7, f"{val:g}")
        pdf.set_xy(pdf.l_margin, y + 14)
    pdf.set_text_color(192, 57, 43)
    pdf.cell(25, 6, "■ 本人")
    pdf.set_text_color(127, 140, 141)
    pdf.cell(25, 6, "■ 全班平均", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
