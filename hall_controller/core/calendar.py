"""Business days and local wall-clock time, computed from an epoch instant handed in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo


def local_datetime(at: float, tz: tzinfo) -> datetime:
    """The hall-local date and time of an epoch instant."""
    return datetime.fromtimestamp(at, UTC).astimezone(tz)


def business_day(at: float, tz: tzinfo, rollover: time) -> str:
    """The business day (ISO date) an instant belongs to; the day starts at `rollover` local."""
    local = local_datetime(at, tz)
    shift = timedelta(hours=rollover.hour, minutes=rollover.minute, seconds=rollover.second)
    return (local - shift).date().isoformat()


def day_start(day: str, tz: tzinfo, rollover: time) -> float:
    """The epoch instant a business day begins."""
    start = datetime.combine(datetime.fromisoformat(day).date(), rollover, tzinfo=tz)
    return start.timestamp()
