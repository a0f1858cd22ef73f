"""The efficiency evaluation report (效能评价报告, DB44/T 2138 12.1-12.2) of a day, an ISO week,
a month or any range of days, computed from the event log and rendered as HTML, PDF or CSV.

`build_report` replays the days and computes the figures once; `render` turns a report into
the bytes of one format. Both block: the web layer runs them off the event loop.
"""

from __future__ import annotations

from typing import Literal

from .csv_export import render_csv
from .efficiency import (
    NO_CLERK,
    AppointmentFigures,
    DayFigures,
    DeskFigures,
    Distribution,
    EfficiencyFigures,
    EfficiencyReport,
    GroupWaits,
    Ratings,
    ReportError,
    SectionFold,
    StoredEvent,
    ThemeFigures,
    Waits,
    build_report,
)
from .followups import FollowUpSection, followup_section
from .html import render_html
from .model import Bar, BarChart, KeyFigure, Metric, Row, Section, Series, Table
from .pdf import CjkFont, FontMissing, find_cjk_font, render_pdf
from .period import (
    MAX_DAYS,
    Period,
    PeriodError,
    day_period,
    month_period,
    range_period,
    week_period,
)

Format = Literal["html", "pdf", "csv"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "csv")
MEDIA_TYPES: dict[Format, str] = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


def render(report: EfficiencyReport, format: Format, font: CjkFont | None = None) -> bytes:
    """The report in one format (blocking; the PDF takes about a second, in `font` or else
    the first Chinese font installed)."""
    if format == "html":
        return render_html(report)
    if format == "csv":
        return render_csv(report)
    return render_pdf(report, font)


def file_name(report: EfficiencyReport, format: Format) -> str:
    """The report's file name: the hall and the period, e.g.
    efficiency-report_gz-tianhe-demo_2026-W48.pdf."""
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in report.hall_id
    )
    return f"efficiency-report_{safe}_{report.period.slug}.{format}"


__all__ = [
    "FORMATS",
    "MAX_DAYS",
    "MEDIA_TYPES",
    "NO_CLERK",
    "AppointmentFigures",
    "Bar",
    "BarChart",
    "CjkFont",
    "DayFigures",
    "DeskFigures",
    "Distribution",
    "EfficiencyFigures",
    "EfficiencyReport",
    "FollowUpSection",
    "FontMissing",
    "Format",
    "GroupWaits",
    "KeyFigure",
    "Metric",
    "Period",
    "PeriodError",
    "Ratings",
    "ReportError",
    "Row",
    "Section",
    "SectionFold",
    "Series",
    "StoredEvent",
    "Table",
    "ThemeFigures",
    "Waits",
    "build_report",
    "day_period",
    "file_name",
    "find_cjk_font",
    "followup_section",
    "month_period",
    "range_period",
    "render",
    "render_csv",
    "render_html",
    "render_pdf",
    "week_period",
]
