"""A report as renderers see it: sections of key figures, bar charts, tables and notes.

The figures are computed once (`efficiency.py`); a section only says how to show them. Each
renderer (HTML, CSV, PDF) draws any section the same way, so a new section needs no renderer
change. Every text comes in Chinese and English; values keep their unit, and each renderer
formats them its own way (minutes in the HTML and the PDF, whole seconds in the CSV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# count: a number of things; seconds: a duration; share: 0..1; score: a mean rating (1..5);
# text: words.
Unit = Literal["count", "seconds", "share", "score", "text"]
Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class Metric:
    """What a number is: its CSV name (units in the name: `median_wait_s`), words, unit."""

    key: str
    zh: str
    en: str
    unit: Unit = "count"


@dataclass(frozen=True, slots=True)
class KeyFigure:
    """One headline number of a section (subject: the hall)."""

    metric: Metric
    value: Value


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a table: its subject (the CSV `subject`, e.g. theme:social), its names and
    one value per column; `total` marks a row that sums up the others."""

    subject: str
    zh: str
    en: str
    values: tuple[Value, ...]
    total: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of figures under named columns (the first column is the row's name)."""

    id: str
    zh: str
    en: str
    columns: tuple[Metric, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Series:
    """One kind of bar in a chart (e.g. issued, served), named for the legend."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Bar:
    """One group of bars: its name and one value per series (None: nothing to draw)."""

    subject: str
    zh: str
    en: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    """A bar chart; `vertical` draws columns (a histogram), else horizontal bars. `export`:
    its bars are figures the tables do not hold, so the CSV carries them too."""

    id: str
    zh: str
    en: str
    unit: Unit
    series: tuple[Series, ...]
    bars: tuple[Bar, ...]
    vertical: bool = False
    export: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """One part of a report, in reading order: key figures, charts, tables, then notes."""

    id: str
    zh: str
    en: str
    figures: tuple[KeyFigure, ...] = ()
    charts: tuple[BarChart, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()  # (Chinese, English)
