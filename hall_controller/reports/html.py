"""The report as one self-contained HTML page: inline CSS, inline SVG charts, printable."""

from __future__ import annotations

from html import escape

from hall_controller import __version__

from .efficiency import EfficiencyReport
from .model import BarChart, KeyFigure, Section, Table, Unit
from .text import chart_unit, heading, shown

# Chart geometry, in SVG user units (the charts scale to the page's width).
_WIDTH = 760
_LABEL_W = 230
_VALUE_W = 70
_BAR_H = 14
_BAR_GAP = 3
_GROUP_GAP = 12
_LEGEND_H = 26

_CSS = """
:root { --ink: #1b1f23; --muted: #4f5a66; --line: #cfd6dd; --soft: #eef2f6;
  --s0: #1f5f8b; --s1: #b8621b; --s1-light: #f5dcc4; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5; font-size: 15px;
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
    "Microsoft YaHei", sans-serif; }
.page { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; }
.en { color: var(--muted); }
header.report { border-bottom: 3px solid var(--s0); padding-bottom: 12px; margin-bottom: 12px; }
h1 { font-size: 28px; margin: 0; line-height: 1.25; }
h1 .en { display: block; font-size: 18px; font-weight: 400; }
.hall { font-size: 18px; margin: 8px 0 4px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 0; }
.meta dt { font-weight: 600; }
.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
nav.contents ol { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; padding: 0;
  margin: 8px 0; }
nav.contents a { color: var(--s0); }
section { margin-top: 28px; }
h2 { font-size: 21px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin: 0 0 12px; }
h2 .en, h3 .en { font-weight: 400; font-size: 0.8em; }
h3 { font-size: 16px; margin: 16px 0 6px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(168px, 1fr));
  gap: 8px; margin: 0 0 12px; }
.figures div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.figures dt { font-size: 13px; line-height: 1.3; }
.figures dt .en { display: block; font-size: 12px; }
.figures dd { margin: 2px 0 0; font-size: 22px; font-weight: 700;
  font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 14px; font-size: 14px; }
table.wide { font-size: 12.5px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
caption .en { font-weight: 400; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; }
thead th { background: var(--soft); text-align: right; vertical-align: bottom; font-weight: 600;
  line-height: 1.25; }
thead th .en { display: block; font-weight: 400; font-size: 0.88em; }
thead th:first-child, tbody th { text-align: left; }
tbody th { font-weight: 400; }
tbody th .en { font-size: 0.88em; }
td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text, thead th.text { text-align: left; }
td.text { white-space: normal; }
tr.total th, tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
figure { margin: 8px 0 16px; break-inside: avoid; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figcaption .en { font-weight: 400; }
svg.chart { width: 100%; max-width: 760px; height: auto; display: block; }
svg.chart text { font-size: 12px; fill: var(--ink); font-variant-numeric: tabular-nums; }
svg.chart text.en { fill: var(--muted); font-size: 11px; }
svg.chart .s0 { fill: var(--s0); }
svg.chart .s1 { stroke: var(--s1); stroke-width: 1; }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
.notes { color: var(--muted); font-size: 13px; padding-left: 18px; }
footer { margin-top: 32px; border-top: 1px solid var(--line); padding-top: 8px; font-size: 12px;
  color: var(--muted); }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; }
  .page { max-width: none; padding: 0; }
  nav.contents { display: none; }
  section { break-before: auto; }
  h2, h3 { break-after: avoid; }
  table { font-size: 8.5pt; }
  table.wide { font-size: 7.5pt; }
  tr, figure, .figures div { break-inside: avoid; }
  .table-wrap { overflow: visible; }
}
"""


def render_html(report: EfficiencyReport) -> bytes:
    """The report as one HTML page (UTF-8), with everything it needs inside it."""
    period = report.period
    title_zh = f"效能评价报告 · {report.hall_name_zh} · {period.label_zh}"
    contents = "".join(
        f'<li><a href="#{escape(s.id)}">{n} {escape(s.zh)} <span class="en" lang="en">'
        f"{escape(s.en)}</span></a></li>"
        for n, s in enumerate(report.sections, start=1)
    )
    body = "\n".join(_section(n, s) for n, s in enumerate(report.sections, start=1))
    page = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hall-controller {escape(__version__)}">
<title>{escape(title_zh)}</title>
<style>{_CSS}</style>
</head>
<body>
<div class="page">
<header class="report">
<h1>效能评价报告 <span class="en" lang="en">Efficiency evaluation report</span></h1>
<p class="hall">{_pair(report.hall_name_zh, report.hall_name_en)}</p>
<dl class="meta">
<dt>期间 <span class="en" lang="en">Period</span></dt>
<dd>{escape(period.label_zh)} <span class="en" lang="en">{escape(period.label_en)}</span></dd>
<dt>日期 <span class="en" lang="en">Days</span></dt>
<dd>{period.first.isoformat()} – {period.last.isoformat()}</dd>
<dt>生成时间 <span class="en" lang="en">Generated</span></dt>
<dd>{escape(report.generated_at.replace("T", " "))}</dd>
<dt>依据 <span class="en" lang="en">Basis</span></dt>
<dd>DB44/T 2138-2018 12.1–12.2 <span class="en" lang="en">(efficiency evaluation)</span></dd>
</dl>
</header>
<nav class="contents" aria-label="目录 Contents"><ol>{contents}</ol></nav>
<main>
{body}
</main>
<footer>由 hall-controller {escape(__version__)} 根据大厅事件日志重放生成。
<span class="en" lang="en">Made by hall-controller {escape(__version__)} by replaying the hall's
event log.</span></footer>
</div>
</body>
</html>
"""
    return page.encode("utf-8")


def _pair(zh: str, en: str) -> str:
    return f'{escape(zh)} <span class="en" lang="en">{escape(en)}</span>'


def _section(number: int, section: Section) -> str:
    parts = [
        f'<section id="{escape(section.id)}" aria-labelledby="{escape(section.id)}-title">',
        f'<h2 id="{escape(section.id)}-title">{number} {_pair(section.zh, section.en)}</h2>',
    ]
    if section.figures:
        parts.append(_figures(section.figures))
    for chart in section.charts:
        parts.append(_chart(f"{section.id}-{chart.id}", chart))
    for table in section.tables:
        parts.append(_table(table))
    if section.notes:
        notes = "".join(f"<li>{_pair(zh, en)}</li>" for zh, en in section.notes)
        parts.append(f'<ul class="notes">{notes}</ul>')
    parts.append("</section>")
    return "\n".join(parts)


def _figures(figures: tuple[KeyFigure, ...]) -> str:
    items = "".join(
        f"<div><dt>{escape(heading(f.metric)[0])} "
        f'<span class="en" lang="en">{escape(heading(f.metric)[1])}</span></dt>'
        f"<dd>{escape(shown(f.value, f.metric.unit))}</dd></div>"
        for f in figures
    )
    return f'<dl class="figures">{items}</dl>'


def _table(table: Table) -> str:
    head = "".join(
        ('<th scope="col" class="text">' if c.unit == "text" else '<th scope="col">')
        + f'{escape(heading(c)[0])} <span class="en" lang="en">{escape(heading(c)[1])}</span></th>'
        for c in table.columns
    )
    rows = []
    for row in table.rows:
        # Words may wrap (a date and its time, a name in two languages); numbers never do.
        cells = "".join(
            ('<td class="text">' if column.unit == "text" else "<td>")
            + f"{escape(shown(value, column.unit))}</td>"
            for value, column in zip(row.values, table.columns, strict=True)
        )
        css = ' class="total"' if row.total else ""
        rows.append(
            f'<tr{css} data-subject="{escape(row.subject)}">'
            f'<th scope="row">{_pair(row.zh, row.en)}</th>{cells}</tr>'
        )
    wide = ' class="wide"' if len(table.columns) >= 9 else ""
    return (
        f'<div class="table-wrap"><table{wide} id="table-{escape(table.id)}">'
        f"<caption>{_pair(table.zh, table.en)}</caption>"
        f'<thead><tr><th scope="col">项目 <span class="en" lang="en">Item</span></th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _chart(chart_id: str, chart: BarChart) -> str:
    unit_zh, unit_en = chart_unit(chart.unit)
    svg = _columns(chart_id, chart) if chart.vertical else _bars(chart_id, chart)
    return (
        f'<figure class="chart" id="chart-{escape(chart_id)}">'
        f"<figcaption>{_pair(chart.zh + unit_zh, chart.en + unit_en)}</figcaption>{svg}</figure>"
    )


def _number(value: float | None, unit: Unit) -> str:
    return "" if value is None else shown(value, unit)


def _magnitude(value: float | None) -> float:
    return max(value or 0.0, 0.0)


def _defs(chart_id: str) -> str:
    # The second series is hatched as well as coloured: colour is never the only difference.
    return (
        f'<defs><pattern id="{chart_id}-p1" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f5dcc4"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#b8621b" stroke-width="3"/></pattern></defs>'
    )


def _fill(chart_id: str, series: int) -> str:
    return 'class="s0"' if series == 0 else f'class="s1" fill="url(#{chart_id}-p1)"'


def _legend(chart_id: str, chart: BarChart) -> str:
    if len(chart.series) < 2:
        return ""
    x = 0
    items = []
    for n, series in enumerate(chart.series):
        items.append(
            f'<rect x="{x}" y="4" width="14" height="14" {_fill(chart_id, n)}/>'
            f'<text x="{x + 20}" y="16">{escape(series.zh)} '
            f'<tspan class="en" lang="en">{escape(series.en)}</tspan></text>'
        )
        x += 40 + 13 * len(series.zh) + 7 * len(series.en)  # about the text's width
    return "".join(items)


def _svg_open(chart_id: str, chart: BarChart, height: float) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} '
        f'{height:.0f}" role="img" aria-labelledby="{chart_id}-title">'
        f'<title id="{chart_id}-title">{escape(chart.zh)} {escape(chart.en)}</title>'
        f"{_defs(chart_id)}"
    )


def _bars(chart_id: str, chart: BarChart) -> str:
    """Horizontal bars: one group per subject, one bar per series, the value at its end."""
    count = len(chart.series)
    legend = _LEGEND_H if count > 1 else 0
    group = max(count * _BAR_H + (count - 1) * _BAR_GAP, 30)
    height = legend + len(chart.bars) * (group + _GROUP_GAP) + 4
    top = max((_magnitude(v) for bar in chart.bars for v in bar.values), default=0.0) or 1.0
    plot = _WIDTH - _LABEL_W - _VALUE_W
    parts = [_svg_open(chart_id, chart, height), _legend(chart_id, chart)]
    for n, bar in enumerate(chart.bars):
        y0 = legend + n * (group + _GROUP_GAP)
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y0 + 12}" text-anchor="end">{escape(bar.zh)}</text>'
            f'<text x="{_LABEL_W - 8}" y="{y0 + 26}" text-anchor="end" class="en" lang="en">'
            f"{escape(_clip(bar.en, 34))}</text>"
        )
        for s, value in enumerate(bar.values):
            y = y0 + s * (_BAR_H + _BAR_GAP)
            width = _magnitude(value) / top * plot
            parts.append(
                f'<rect x="{_LABEL_W}" y="{y}" width="{width:.1f}" height="{_BAR_H}" '
                f"{_fill(chart_id, s)}><title>{escape(chart.series[s].zh)} "
                f"{escape(_number(value, chart.unit))}</title></rect>"
                f'<text x="{_LABEL_W + width + 6:.1f}" y="{y + _BAR_H - 3}">'
                f"{escape(_number(value, chart.unit) or '—')}</text>"
            )
    parts.append(
        f'<line class="axis" x1="{_LABEL_W}" y1="{legend}" x2="{_LABEL_W}" y2="{height - 4}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _columns(chart_id: str, chart: BarChart) -> str:
    """Vertical columns (a histogram, or days): the value above, the names below."""
    count = len(chart.series)
    legend = _LEGEND_H if count > 1 else 0
    plot_h = 180
    left, bottom = 10, 40
    height = legend + 18 + plot_h + bottom
    slots = max(len(chart.bars), 1)
    slot = (_WIDTH - left * 2) / slots
    width = slot * 0.72 / count
    top = max((_magnitude(v) for bar in chart.bars for v in bar.values), default=0.0) or 1.0
    base = legend + 18 + plot_h
    labels_every = 1 if slots <= 16 else -(-slots // 16)  # at most 16 names under the axis
    parts = [_svg_open(chart_id, chart, height), _legend(chart_id, chart)]
    for n, bar in enumerate(chart.bars):
        x0 = left + n * slot + slot * 0.14
        for s, value in enumerate(bar.values):
            h = _magnitude(value) / top * plot_h
            x = x0 + s * width
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f"{_fill(chart_id, s)}><title>{escape(bar.zh)} {escape(chart.series[s].zh)} "
                f"{escape(_number(value, chart.unit))}</title></rect>"
            )
            if value:
                parts.append(
                    f'<text x="{x + width / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">'
                    f"{escape(_number(value, chart.unit))}</text>"
                )
        if n % labels_every == 0:
            middle = left + n * slot + slot / 2
            parts.append(
                f'<text x="{middle:.1f}" y="{base + 16}" text-anchor="middle">'
                f"{escape(bar.zh)}</text>"
            )
            if bar.en != bar.zh:
                parts.append(
                    f'<text x="{middle:.1f}" y="{base + 30}" text-anchor="middle" class="en" '
                    f'lang="en">{escape(bar.en)}</text>'
                )
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{_WIDTH - left}" y2="{base}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
