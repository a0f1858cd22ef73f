"""The days a report covers: one business day, an ISO week, a month, or any range of days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

# A report replays every day it covers: a year is the most one report reads.
MAX_DAYS = 366

PeriodKind = Literal["day", "week", "month", "range"]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


class PeriodError(ValueError):
    """A period that cannot be read; the message says what was expected, `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    """A run of business days, first and last included, and how a person would name it."""

    first: date
    last: date
    kind: PeriodKind

    @property
    def days(self) -> tuple[str, ...]:
        """Every business day of the period (ISO dates), in order."""
        count = (self.last - self.first).days + 1
        return tuple((self.first + timedelta(days=n)).isoformat() for n in range(count))

    @property
    def slug(self) -> str:
        """The period in a file name: 2026-11-28, 2026-W48, 2026-11 or 2026-11-01_2026-11-15."""
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    @property
    def label_zh(self) -> str:
        """The period in Chinese, e.g. 2026年第48周（11月23日至11月29日）."""
        first, last = self.first, self.last
        if self.kind == "day":
            return f"{_zh_date(first)}（{_WEEKDAYS_ZH[first.weekday()]}）"
        if self.kind == "week":
            year, week, _ = first.isocalendar()
            return f"{year}年第{week}周（{_zh_short(first)}至{_zh_short(last)}）"
        if self.kind == "month":
            return f"{first.year}年{first.month}月"
        return f"{_zh_date(first)}至{_zh_date(last)}（{len(self.days)}天）"

    @property
    def label_en(self) -> str:
        """The period in English, e.g. ISO week 48 of 2026 (23 Nov to 29 Nov)."""
        first, last = self.first, self.last
        if self.kind == "day":
            return f"{first:%A} {first.day} {first:%B %Y}"
        if self.kind == "week":
            year, week, _ = first.isocalendar()
            return f"ISO week {week} of {year} ({_en_short(first)} to {_en_short(last)})"
        if self.kind == "month":
            return f"{first:%B %Y}"
        return f"{_en_date(first)} to {_en_date(last)} ({len(self.days)} days)"


def day_period(text: str, field: str = "day") -> Period:
    """One business day, given as YYYY-MM-DD; PeriodError otherwise."""
    day = _date(text, field)
    return Period(day, day, "day")


def week_period(text: str, field: str = "week") -> Period:
    """An ISO week, given as YYYY-Www (2026-W48): Monday to Sunday; PeriodError otherwise."""
    match = _WEEK.match(text.strip())
    if match is None:
        raise PeriodError(
            f'{field} must be an ISO week YYYY-Www, such as 2026-W48, not "{_shown(text)}"', field
        )
    year, week = int(match[1]), int(match[2])
    last_week = date(year, 12, 28).isocalendar()[1]  # 28 December is always in the last week
    if not 1 <= week <= last_week:
        raise PeriodError(f"{year} has ISO weeks 1 to {last_week}, not week {week}", field)
    monday = date.fromisocalendar(year, week, 1)
    return Period(monday, monday + timedelta(days=6), "week")


def month_period(text: str, field: str = "month") -> Period:
    """A calendar month, given as YYYY-MM; PeriodError otherwise."""
    match = _MONTH.match(text.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise PeriodError(
            f'{field} must be a month YYYY-MM, such as 2026-11, not "{_shown(text)}"', field
        )
    first = date(int(match[1]), int(match[2]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), "month")


def range_period(
    first: str, last: str | None = None, fields: tuple[str, str] = ("from", "to")
) -> Period:
    """The days from `first` to `last` (both included; `last` defaults to `first`), named as a
    day, an ISO week or a month when they are exactly one; PeriodError otherwise."""
    start = _date(first, fields[0])
    end = start if last is None else _date(last, fields[1])
    if end < start:
        raise PeriodError(
            f"{fields[0]} ({start.isoformat()}) is after {fields[1]} ({end.isoformat()})",
            fields[0],
        )
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise PeriodError(
            f"a report covers at most {MAX_DAYS} days; {start.isoformat()} to {end.isoformat()} "
            f"is {count} days",
            fields[1],
        )
    if count == 1:
        return Period(start, end, "day")
    if count == 7 and start.isoweekday() == 1:
        return Period(start, end, "week")
    if start.day == 1 and (end + timedelta(days=1)).day == 1 and start.month == end.month:
        return Period(start, end, "month")
    return Period(start, end, "range")


def _date(text: str, field: str) -> date:
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f'{field} must be a date YYYY-MM-DD, such as 2026-11-28, not "{_shown(text)}"', field
        ) from None


def _shown(text: str) -> str:
    """Input echoed in a message: short, and without control characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:32])
    return clean + ("…" if len(text) > 32 else "")


def _zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _zh_short(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _en_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _en_short(day: date) -> str:
    return f"{day.day} {day:%b}"
