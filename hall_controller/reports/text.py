"""How a person reads a report's values: minutes, percentages, scores, and the column words."""

from __future__ import annotations

from .model import Metric, Unit, Value

# Each unit's words after a column heading, Chinese and English (counts need none).
_UNIT_WORDS: dict[Unit, tuple[str, str]] = {
    "seconds": ("（分钟）", " (min)"),
    "share": ("", ""),
    "score": ("", ""),
    "count": ("", ""),
    "text": ("", ""),
}


def shown(value: Value, unit: Unit) -> str:
    """A value as the HTML and PDF show it: durations in minutes (one decimal), shares in
    percent, mean scores with two decimals, "—" for nothing to show."""
    if value is None:
        return "—"
    if isinstance(value, str) or unit == "text":
        return str(value)
    if unit == "seconds":
        return f"{value / 60:.1f}"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "score":
        return f"{value:.2f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def heading(metric: Metric) -> tuple[str, str]:
    """A column's heading in Chinese and English, with its unit."""
    zh, en = _UNIT_WORDS[metric.unit]
    return metric.zh + zh, metric.en + en


def chart_unit(unit: Unit) -> tuple[str, str]:
    """The words that follow a chart's title for its unit ("" for counts)."""
    if unit == "seconds":
        return "（分钟）", " (minutes)"
    return "", ""
