"""The report as CSV in long form: one figure per row (section, subject, metric, value).

UTF-8 with a byte-order mark, so that a spreadsheet opened by double-click shows the Chinese.
Durations are whole seconds (the metric's name ends in _s), shares are 0..1, an empty value
means there was nothing to measure.
"""

from __future__ import annotations

import csv
import io

from .efficiency import EfficiencyReport
from .model import Unit, Value

COLUMNS = ("section", "subject", "metric", "value")


def render_csv(report: EfficiencyReport) -> bytes:
    """The report's figures, one per line, after a few lines naming the report."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    period = report.period
    for metric, value in (
        ("hall_id", report.hall_id),
        ("hall_name_zh", report.hall_name_zh),
        ("hall_name_en", report.hall_name_en),
        ("period", period.slug),
        ("from", period.first.isoformat()),
        ("to", period.last.isoformat()),
        ("generated_at", report.generated_at),
    ):
        writer.writerow(("report", "hall", metric, value))
    for section in report.sections:
        for figure in section.figures:
            writer.writerow(
                (section.id, "hall", figure.metric.key, _value(figure.value, figure.metric.unit))
            )
        for table in section.tables:
            for row in table.rows:
                for column, cell in zip(table.columns, row.values, strict=True):
                    writer.writerow(
                        (section.id, row.subject, column.key, _value(cell, column.unit))
                    )
        for chart in section.charts:
            if not chart.export:
                continue
            for bar in chart.bars:
                for series, height in enumerate(bar.values):
                    metric = chart.id if len(chart.series) == 1 else f"{chart.id}.{series}"
                    writer.writerow((section.id, bar.subject, metric, _value(height, chart.unit)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _value(value: Value, unit: Unit) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if unit == "seconds":
        return str(round(value))
    if unit == "share":
        return f"{value:.4f}"
    if unit == "score":
        return f"{value:.2f}"
    return str(round(value)) if isinstance(value, float) and value.is_integer() else str(value)
