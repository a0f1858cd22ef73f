"""The report as a PDF (A4, fpdf2), with a Chinese font found on the box at run time.

fpdf2 embeds only the glyphs used, so a report stays small even with a CJK font. The charts are
drawn here with fpdf2's own rectangles and text from the same chart data as the HTML's SVG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hall_controller import __version__

from .efficiency import EfficiencyReport, ReportError
from .model import BarChart, KeyFigure, Section, Table
from .text import chart_unit, heading, shown

if TYPE_CHECKING:
    from fpdf import FPDF


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font file that has Chinese glyphs: the regular face, its face number in a collection
    (.ttc), the bold face if there is one, and the Debian package that installs it."""

    regular: Path
    face: int
    bold: Path | None
    package: str


# Debian's Chinese fonts, best first. Noto Sans CJK's collections hold JP, KR, SC, TC, HK in
# that order: face 2 is Simplified Chinese.
CJK_FONTS: tuple[CjkFont, ...] = (
    CjkFont(
        Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        2,
        Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
        "fonts-noto-cjk",
    ),
    CjkFont(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0, None, "fonts-wqy-zenhei"),
    CjkFont(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0, None, "fonts-wqy-microhei"),
)

_INK = (27, 31, 35)
_MUTED = (79, 90, 102)
_LINE = (207, 214, 221)
_SOFT = (238, 242, 246)
_S0 = (31, 95, 139)
_S1 = (184, 98, 27)
_S1_LIGHT = (245, 220, 196)


class FontMissing(ReportError):
    """No Chinese font for the PDF; the message names the Debian package to install."""


def find_cjk_font(candidates: tuple[CjkFont, ...] | None = None) -> CjkFont:
    """The first Chinese font installed on this box (of CJK_FONTS unless given); FontMissing
    naming the package otherwise."""
    if candidates is None:
        candidates = CJK_FONTS
    for font in candidates:
        if font.regular.is_file():
            bold = font.bold if font.bold is not None and font.bold.is_file() else None
            return CjkFont(font.regular, font.face, bold, font.package)
    looked = ", ".join(str(f.regular) for f in candidates)
    package = candidates[0].package if candidates else "fonts-noto-cjk"
    raise FontMissing(
        f"no Chinese font for the PDF report: install the Debian package {package} "
        f"(apt-get install {package}); looked for {looked}"
    )


def render_pdf(report: EfficiencyReport, font: CjkFont | None = None) -> bytes:
    """The report as an A4 PDF (blocking, about a second: run it off the event loop), in
    `font` or else the first of CJK_FONTS installed; FontMissing when there is none."""
    from fpdf import FPDF

    # fontTools logs every step of subsetting the font at INFO: noise in the hall's log and
    # on the report command's terminal.
    for name in ("fontTools", "fpdf"):
        logging.getLogger(name).setLevel(logging.WARNING)
    chosen = find_cjk_font(None if font is None else (font,))
    period = report.period
    running = f"{report.hall_name_zh} · 效能评价报告 · {period.label_zh}"

    class ReportPdf(FPDF):
        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("cjk", size=7)
                self.set_text_color(*_MUTED)
                self.cell(0, 5, running, new_x="LMARGIN", new_y="NEXT")
                self.ln(1)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("cjk", size=7)
            self.set_text_color(*_MUTED)
            self.cell(0, 5, f"第 {self.page_no()} 页 · Page {self.page_no()}", align="C")

    pdf = ReportPdf(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_font("cjk", "", str(chosen.regular), collection_font_number=chosen.face)
    pdf.add_font("cjk", "B", str(chosen.bold or chosen.regular), collection_font_number=chosen.face)
    pdf.set_lang("zh-CN")
    pdf.set_title(f"效能评价报告 {report.hall_name_zh} {period.label_zh}")
    pdf.set_author(report.hall_name_zh)
    pdf.set_subject("Efficiency evaluation report (DB44/T 2138-2018 12.1-12.2)")
    pdf.set_creator(f"hall-controller {__version__}")
    pdf.add_page()
    _title(pdf, report)
    for number, section in enumerate(report.sections, start=1):
        _section(pdf, number, section)
    return bytes(pdf.output())


def _title(pdf: FPDF, report: EfficiencyReport) -> None:
    period = report.period
    pdf.set_text_color(*_INK)
    pdf.set_font("cjk", "B", 20)
    pdf.cell(0, 10, "效能评价报告", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=12)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 6, "Efficiency evaluation report", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_text_color(*_INK)
    pdf.set_font("cjk", size=11)
    pdf.multi_cell(0, 6, report.hall_name_zh, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(0, 5, report.hall_name_en, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for label, value in (
        ("期间 Period", f"{period.label_zh}  {period.label_en}"),
        ("日期 Days", f"{period.first.isoformat()} – {period.last.isoformat()}"),
        ("生成时间 Generated", report.generated_at.replace("T", " ")),
        ("依据 Basis", "DB44/T 2138-2018 12.1–12.2"),
    ):
        pdf.set_text_color(*_INK)
        pdf.set_font("cjk", "B", 9)
        pdf.cell(34, 5, label)
        pdf.set_font("cjk", size=9)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 2
    pdf.set_draw_color(*_S0)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_line_width(0.2)
    pdf.set_y(y + 3)


def _room(pdf: FPDF, height: float) -> None:
    """A new page unless `height` millimetres still fit on this one."""
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _section(pdf: FPDF, number: int, section: Section) -> None:
    _room(pdf, 40)
    pdf.ln(3)
    pdf.set_text_color(*_INK)
    pdf.set_font("cjk", "B", 13)
    title = f"{number} {section.zh}"
    pdf.cell(pdf.get_string_width(title) + 3, 7, title)
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 7, section.en, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*_LINE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    if section.figures:
        _figures(pdf, section.figures)
    for chart in section.charts:
        _chart(pdf, chart)
    for table in section.tables:
        _table(pdf, table)
    if section.notes:
        pdf.set_font("cjk", size=7)
        pdf.set_text_color(*_MUTED)
        for zh, en in section.notes:
            pdf.multi_cell(0, 3.6, f"· {zh}  {en}", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)


def _figures(pdf: FPDF, figures: tuple[KeyFigure, ...]) -> None:
    per_row = 4
    gap = 2.0
    width = (pdf.epw - gap * (per_row - 1)) / per_row
    height = 15.0
    for start in range(0, len(figures), per_row):
        _room(pdf, height + gap)
        y = pdf.get_y()
        for n, figure in enumerate(figures[start : start + per_row]):
            x = pdf.l_margin + n * (width + gap)
            zh, en = heading(figure.metric)
            pdf.set_draw_color(*_LINE)
            pdf.rect(x, y, width, height)
            pdf.set_xy(x + 2, y + 1)
            pdf.set_text_color(*_INK)
            pdf.set_font("cjk", size=7.5)
            pdf.cell(width - 4, 3.6, _fit(pdf, zh, width - 4))
            pdf.set_xy(x + 2, y + 4.4)
            pdf.set_text_color(*_MUTED)
            pdf.set_font("cjk", size=6.5)
            pdf.cell(width - 4, 3.2, _fit(pdf, en, width - 4))
            pdf.set_xy(x + 2, y + 8)
            pdf.set_text_color(*_INK)
            pdf.set_font("cjk", "B", 12)
            pdf.cell(width - 4, 6, shown(figure.value, figure.metric.unit))
        pdf.set_xy(pdf.l_margin, y + height + gap)
    pdf.ln(1)


def _table(pdf: FPDF, table: Table) -> None:
    from fpdf import FontFace

    _room(pdf, 30)
    pdf.set_text_color(*_INK)
    pdf.set_font("cjk", "B", 9)
    pdf.cell(0, 5, f"{table.zh}  {table.en}", new_x="LMARGIN", new_y="NEXT")
    wide = len(table.columns) >= 9
    pdf.set_font("cjk", size=6 if wide else 7.5)
    first = 2.2 if wide else 2.6
    widths = (first, *(1.0 for _ in table.columns))
    align = ("LEFT", *("RIGHT" for _ in table.columns))
    bold = FontFace(emphasis="BOLD")
    pdf.set_fill_color(255, 255, 255)  # the charts leave their last colour behind
    pdf.set_draw_color(*_LINE)
    with pdf.table(
        col_widths=widths,
        text_align=align,
        # Words: the English breaks at spaces; Chinese runs longer than a cell break anywhere.
        wrapmode="WORD",
        headings_style=FontFace(emphasis="BOLD", fill_color=_SOFT),
        line_height=3.4 if wide else 3.8,
        padding=(0.8, 1.0),
        borders_layout="HORIZONTAL_LINES",
        repeat_headings=1,
    ) as grid:
        head = grid.row()
        head.cell("项目\nItem")
        for column in table.columns:
            zh, en = heading(column)
            head.cell(f"{zh}\n{en}")
        for row in table.rows:
            cells = grid.row()
            style = bold if row.total else None
            cells.cell(f"{row.zh}\n{row.en}", style=style)
            for column, value in zip(table.columns, row.values, strict=True):
                cells.cell(shown(value, column.unit), style=style)
    pdf.ln(2)


def _chart(pdf: FPDF, chart: BarChart) -> None:
    unit_zh, unit_en = chart_unit(chart.unit)
    if chart.vertical:
        _room(pdf, 62)
    else:
        series = len(chart.series)
        group = max(series * 3.2 + (series - 1) * 0.6, 6.4)
        _room(pdf, 14 + min(len(chart.bars), 6) * (group + 1.6))
    pdf.set_text_color(*_INK)
    pdf.set_font("cjk", "B", 9)
    pdf.cell(0, 5, f"{chart.zh}{unit_zh}  {chart.en}{unit_en}", new_x="LMARGIN", new_y="NEXT")
    if len(chart.series) > 1:
        _legend(pdf, chart)
    if chart.vertical:
        _columns(pdf, chart)
    else:
        _bars(pdf, chart)
    pdf.ln(3)


def _swatch(pdf: FPDF, series: int, x: float, y: float, w: float, h: float) -> None:
    # The second series is outlined on a light fill: it differs by more than its colour.
    if series == 0:
        pdf.set_fill_color(*_S0)
        pdf.rect(x, y, w, h, style="F")
    else:
        pdf.set_fill_color(*_S1_LIGHT)
        pdf.set_draw_color(*_S1)
        pdf.set_line_width(0.4)
        pdf.rect(x, y, w, h, style="DF")
        pdf.set_line_width(0.2)


def _legend(pdf: FPDF, chart: BarChart) -> None:
    x = pdf.l_margin
    y = pdf.get_y() + 0.5
    pdf.set_font("cjk", size=7)
    pdf.set_text_color(*_INK)
    for n, series in enumerate(chart.series):
        _swatch(pdf, n, x, y, 3, 3)
        text = f"{series.zh} {series.en}"
        pdf.set_xy(x + 4, y - 0.5)
        pdf.cell(pdf.get_string_width(text) + 2, 4, text)
        x += pdf.get_string_width(text) + 10
    pdf.set_xy(pdf.l_margin, y + 5)


def _bars(pdf: FPDF, chart: BarChart) -> None:
    label_w = 52.0
    value_w = 16.0
    plot = pdf.epw - label_w - value_w
    series = len(chart.series)
    bar_h, gap = 3.2, 0.6
    group = max(series * bar_h + (series - 1) * gap, 6.4)
    top = max((max(v or 0.0, 0.0) for bar in chart.bars for v in bar.values), default=0.0) or 1.0
    for bar in chart.bars:
        _room(pdf, group + 1.6)
        y0 = pdf.get_y()
        pdf.set_text_color(*_INK)
        pdf.set_font("cjk", size=7)
        pdf.set_xy(pdf.l_margin, y0)
        pdf.cell(label_w - 2, 3.2, _fit(pdf, bar.zh, label_w - 2), align="R")
        pdf.set_text_color(*_MUTED)
        pdf.set_font("cjk", size=6)
        pdf.set_xy(pdf.l_margin, y0 + 3.2)
        pdf.cell(label_w - 2, 3, _fit(pdf, bar.en, label_w - 2), align="R")
        x0 = pdf.l_margin + label_w
        pdf.set_font("cjk", size=6.5)
        pdf.set_text_color(*_INK)
        for s, value in enumerate(bar.values):
            y = y0 + s * (bar_h + gap)
            width = max(value or 0.0, 0.0) / top * plot
            if width > 0:
                _swatch(pdf, s, x0, y, width, bar_h)
            pdf.set_xy(x0 + width + 1, y)
            pdf.cell(value_w, bar_h, "—" if value is None else shown(value, chart.unit))
        pdf.set_draw_color(*_MUTED)
        pdf.line(x0, y0 - 0.4, x0, y0 + group + 0.4)
        pdf.set_xy(pdf.l_margin, y0 + group + 1.6)


def _columns(pdf: FPDF, chart: BarChart) -> None:
    plot_h = 38.0
    series = len(chart.series)
    slots = max(len(chart.bars), 1)
    slot = pdf.epw / slots
    width = slot * 0.72 / series
    top = max((max(v or 0.0, 0.0) for bar in chart.bars for v in bar.values), default=0.0) or 1.0
    base = pdf.get_y() + 4 + plot_h
    labels_every = 1 if slots <= 16 else -(-slots // 16)
    pdf.set_font("cjk", size=6)
    for n, bar in enumerate(chart.bars):
        x0 = pdf.l_margin + n * slot + slot * 0.14
        for s, value in enumerate(bar.values):
            h = max(value or 0.0, 0.0) / top * plot_h
            x = x0 + s * width
            if h > 0:
                _swatch(pdf, s, x, base - h, width, h)
            if value and slot >= 6:
                pdf.set_text_color(*_INK)
                text = shown(value, chart.unit)
                pdf.text(x + width / 2 - pdf.get_string_width(text) / 2, base - h - 1, text)
        if n % labels_every == 0:
            middle = pdf.l_margin + n * slot + slot / 2
            pdf.set_text_color(*_INK)
            pdf.text(middle - pdf.get_string_width(bar.zh) / 2, base + 3.5, bar.zh)
            if bar.en != bar.zh:
                pdf.set_text_color(*_MUTED)
                pdf.text(middle - pdf.get_string_width(bar.en) / 2, base + 6.5, bar.en)
    pdf.set_draw_color(*_MUTED)
    pdf.line(pdf.l_margin, base, pdf.w - pdf.r_margin, base)
    pdf.set_xy(pdf.l_margin, base + 8)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """The text, cut with an ellipsis to fit `width` millimetres in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"
