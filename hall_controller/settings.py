"""Load a hall's TOML configuration, check all of it in one pass, and report every problem."""

from __future__ import annotations

import difflib
import itertools
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from hall_controller.core.model import (
    HallConfig,
    OpeningPeriod,
    Policy,
    PriorityGroup,
    Theme,
    Window,
)

__all__ = [
    "DEFAULT_PRIORITY_GROUPS",
    "ConfigError",
    "ConfigIssue",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "Synchronous",
    "format_issues",
    "load_settings",
    "validate_settings_text",
]

T = TypeVar("T")

Synchronous = Literal["full", "normal"]

DEFAULT_PRIORITY_GROUPS: tuple[PriorityGroup, ...] = (
    PriorityGroup("elderly", "老年人", "Elderly", min_age=60),
    PriorityGroup("disabled", "残疾人", "Disabled"),
    PriorityGroup("pregnant", "孕妇", "Pregnant"),
)


# --- public results -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file, located by its full key path, e.g. `themes[2].id`."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        """`file: key: message`, or `file: message` for problems with the file as a whole."""
        if self.key:
            return f"{self.file}: {self.key}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; `issues` holds every problem found, not just the first."""

    def __init__(self, issues: tuple[ConfigIssue, ...]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where the HTTP server listens."""

    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """How the event store writes: SQLite synchronous mode and events between state snapshots."""

    synchronous: Synchronous = "full"
    snapshot_every: int = 2000


@dataclass(frozen=True, slots=True)
class Settings:
    """A fully validated configuration and the file it came from."""

    hall: HallConfig
    server: ServerSettings
    store: StoreSettings
    source: Path


def load_settings(path: str | Path) -> Settings:
    """Read and validate the TOML file at `path`; raise ConfigError listing every problem."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError((ConfigIssue(file, "", f"cannot read the file: {reason}"),)) from exc
    try:
        # utf-8-sig: editors on Windows often save with a BOM, which tomllib rejects.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        issue = ConfigIssue(
            file, "", f"expected UTF-8 text, got an invalid byte at offset {exc.start}"
        )
        raise ConfigError((issue,)) from exc
    return validate_settings_text(text, file)


def validate_settings_text(text: str, file: str) -> Settings:
    """Validate TOML `text` as if read from `file`; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError((ConfigIssue(file, "", f"invalid TOML: {exc}"),)) from exc
    return _read_settings(data, _Reader(file), Path(file))


def format_issues(err: ConfigError) -> str:
    """The issues of `err`, one `file: key: message` line each."""
    return "\n".join(str(issue) for issue in err.issues)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _show(value: object) -> str:
    """A value as the user wrote it in TOML, short enough for one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = _quote(value)
        return shown if len(shown) <= 60 else shown[:56] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "[]" if not value else "an array"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return repr(value)


# --- value kinds ----------------------------------------------------------------------------


class _Invalid(Exception):
    """A value does not fit its kind; a message replaces the generic 'expected ..., got ...'."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Kind(Generic[T]):
    """What a key must hold: a phrase for messages and a converter that raises _Invalid."""

    expected: str
    convert: Callable[[object], T]


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid
    return value


def _pattern(regex: str, expected: str) -> _Kind[str]:
    compiled = re.compile(regex)

    def convert(value: object) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise _Invalid
        return value

    return _Kind(expected, convert)


def _integer(low: int, high: int | None, expected: str) -> _Kind[int]:
    def convert(value: object) -> int:
        # bool is a subclass of int: `true` must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid
        if value < low or (high is not None and value > high):
            raise _Invalid
        return value

    return _Kind(expected, convert)


def _real(low_exclusive: float, high: float | None, expected: str) -> _Kind[float]:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid
        number = float(value)
        if not math.isfinite(number) or number <= low_exclusive:
            raise _Invalid
        if high is not None and number > high:
            raise _Invalid
        return number

    return _Kind(expected, convert)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid
    return value


_DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_EXPECTED = 'a duration such as "25m" or "90s"'
_DAY_S = 24 * 3600


def _duration(allow_zero: bool) -> _Kind[int]:
    def convert(value: object) -> int:
        match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None or not value:
            raise _Invalid
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
        if total == 0 and not allow_zero:
            raise _Invalid(f"expected a duration greater than zero, got {_show(value)}")
        if total >= _DAY_S:
            raise _Invalid(f"expected a duration shorter than a day, got {_show(value)}")
        return total

    expected = _DURATION_EXPECTED + (' (or "0s")' if allow_zero else "")
    return _Kind(expected, convert)


_CLOCK_RE = r"(\d{1,2}):(\d{2})"


def _clock(text: str) -> time | None:
    match = re.fullmatch(_CLOCK_RE, text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _time_of_day(value: object) -> time:
    # A TOML local time (03:00:00, unquoted) is accepted as well as the "HH:MM" string.
    if isinstance(value, time):
        return value
    parsed = _clock(value) if isinstance(value, str) else None
    if parsed is None:
        raise _Invalid
    return parsed


def _choice(options: Sequence[str]) -> _Kind[str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Invalid
        return value

    return _Kind(" or ".join(_quote(option) for option in options), convert)


_TEXT = _Kind("a non-empty string", _text)
_BOOL = _Kind("true or false", _boolean)
_TIME = _Kind('a time "HH:MM"', _time_of_day)
_HALL_ID = _pattern(
    r"[a-z0-9-]+", 'a hall id of lowercase letters, digits and "-", such as "gz-tianhe"'
)
_THEME_ID = _pattern(r"[a-z0-9_-]+", 'a theme id of lowercase letters, digits, "_" or "-"')
_WINDOW_ID = _pattern(r"[A-Za-z0-9_-]+", 'a window id of letters, digits, "_" or "-", such as "1"')
_GROUP_ID = _pattern(r"[a-z0-9_-]+", 'a group id of lowercase letters, digits, "_" or "-"')
_PREFIX = _pattern(r"[A-Z]{1,2}", "1-2 uppercase letters")
_PORT = _integer(1, 65535, "a port number from 1 to 65535")
_SNAPSHOT_EVERY = _integer(100, None, "a whole number of events, at least 100")
_SYNCHRONOUS: _Kind[str] = _choice(("full", "normal"))
_DAILY_CAP = _integer(1, None, "a positive whole number of tickets")
_MIN_AGE = _integer(1, 130, "an age in years from 1 to 130")
_POSITIVE_DURATION = _duration(allow_zero=False)
_DURATION_OR_ZERO = _duration(allow_zero=True)
_PERIOD_EXPECTED = 'an opening period "HH:MM-HH:MM"'
_PERIOD_RE = re.compile(rf"\s*({_CLOCK_RE})\s*-\s*({_CLOCK_RE})\s*")


# --- the reader that collects issues ----------------------------------------------------------

Table = dict[str, object]


def _did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt word, ignoring case, or None."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


class _Reader:
    """Reads values out of parsed TOML, recording an issue for each problem instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ConfigIssue] = []

    def report(self, key: str, message: str) -> None:
        """Record one problem at `key`."""
        self.issues.append(ConfigIssue(self.file, key, message))

    def table(
        self, value: object, path: str, allowed: Sequence[str], expected: str
    ) -> Table | None:
        """The value as a table, after reporting any key not in `allowed`; None if not a table."""
        if not isinstance(value, dict):
            self.report(path, f"expected {expected}, got {_show(value)}")
            return None
        for name in value:
            if name in allowed:
                continue
            suggestion = _did_you_mean(name, allowed)
            if suggestion:
                self.report(_join(path, name), f"unknown key; did you mean {_quote(suggestion)}?")
            else:
                self.report(_join(path, name), f"unknown key; expected one of {', '.join(allowed)}")
        return value

    def check(self, value: object, path: str, kind: _Kind[T]) -> T | None:
        """The converted value, or None after reporting why it does not fit."""
        try:
            return kind.convert(value)
        except _Invalid as exc:
            self.report(path, exc.message or f"expected {kind.expected}, got {_show(value)}")
            return None

    def required(
        self, table: Mapping[str, object], path: str, name: str, kind: _Kind[T]
    ) -> T | None:
        """The converted value of a key that must be present; None after reporting."""
        if name not in table:
            self.report(_join(path, name), f"missing; expected {kind.expected}")
            return None
        return self.check(table[name], _join(path, name), kind)

    def optional(
        self, table: Mapping[str, object], path: str, name: str, kind: _Kind[T], default: T
    ) -> T:
        """The converted value of an optional key; `default` when absent or after reporting."""
        if name not in table:
            return default
        value = self.check(table[name], _join(path, name), kind)
        return default if value is None else value

    def tables(self, data: Mapping[str, object], name: str, required: bool) -> list[Table] | None:
        """An array of tables `[[name]]`; None when absent or malformed (reported if required)."""
        if name not in data:
            if required:
                self.report(name, f"missing; expected at least one [[{name}]] table")
            return None
        value = data[name]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.report(name, f"expected an array of tables written [[{name}]], got {_show(value)}")
            return None
        if required and not value:
            self.report(name, f"expected at least one [[{name}]] table, got []")
            return None
        return value


# --- sections ---------------------------------------------------------------------------------

_TOP_KEYS = ("hall", "server", "store", "policy", "themes", "windows", "priority_groups")
_HALL_KEYS = (
    "id",
    "name_zh",
    "name_en",
    "timezone",
    "day_rollover",
    "enforce_opening_hours",
    "one_active_ticket_per_person",
)
_SERVER_KEYS = ("host", "port")
_STORE_KEYS = ("synchronous", "snapshot_every")
_POLICY_KEYS = (
    "priority_streak_limit",
    "priority_head_start",
    "aging_rate",
    "priority_max_wait_factor",
    "preference_bonus",
    "appointment_early",
    "appointment_late",
    "recall_limit",
)
_THEME_KEYS = (
    "id",
    "name_zh",
    "name_en",
    "prefix",
    "hours",
    "daily_cap",
    "max_wait",
    "default_service",
)
_WINDOW_KEYS = ("id", "name_zh", "name_en", "themes")
_GROUP_KEYS = ("id", "name_zh", "name_en", "min_age")

# Names people reach for that are not IANA keys; China has a single zone, Asia/Shanghai.
_ZONE_ALIASES = dict.fromkeys(
    (
        "asia/beijing",
        "beijing",
        "china",
        "china standard time",
        "cst",
        "utc+8",
        "utc+08:00",
        "gmt+8",
        "+08:00",
        "beijing time",
    ),
    "Asia/Shanghai",
)


@dataclass(frozen=True, slots=True)
class _HallHead:
    """The [hall] table's own values, before themes and windows are attached."""

    id: str
    name_zh: str
    name_en: str
    timezone: str
    day_rollover: time
    enforce_opening_hours: bool
    one_active_ticket_per_person: bool


@dataclass(frozen=True, slots=True)
class _ThemeEntry:
    """What later checks need from one [[themes]] entry, even when the entry is broken."""

    path: str
    raw_id: str | None
    id: str | None
    prefix: str | None
    theme: Theme | None


def _timezone(r: _Reader, table: Table, path: str) -> str | None:
    key = _join(path, "timezone")
    if "timezone" not in table:
        r.report(key, 'missing; expected a time zone name such as "Asia/Shanghai"')
        return None
    value = table["timezone"]
    if not isinstance(value, str) or not value:
        r.report(key, f'expected a time zone name such as "Asia/Shanghai", got {_show(value)}')
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zones = available_timezones()
        suggestion = _ZONE_ALIASES.get(value.lower()) or _did_you_mean(value, zones)
        message = f"unknown time zone {_quote(value)}"
        if suggestion:
            message += f"; did you mean {_quote(suggestion)}?"
        elif not zones:
            message += "; no time zone database found (install the tzdata package)"
        else:
            message += '; expected an IANA name such as "Asia/Shanghai"'
        r.report(key, message)
        return None
    return value


def _read_hall(r: _Reader, data: Mapping[str, object]) -> _HallHead | None:
    if "hall" not in data:
        r.report(
            "hall", "missing; expected a [hall] table with id, names, timezone and day_rollover"
        )
        return None
    table = r.table(data["hall"], "hall", _HALL_KEYS, "a [hall] table")
    if table is None:
        return None
    hall_id = r.required(table, "hall", "id", _HALL_ID)
    name_zh = r.required(table, "hall", "name_zh", _TEXT)
    name_en = r.required(table, "hall", "name_en", _TEXT)
    timezone = _timezone(r, table, "hall")
    rollover = r.required(table, "hall", "day_rollover", _TIME)
    enforce = r.optional(table, "hall", "enforce_opening_hours", _BOOL, True)
    one_active = r.optional(table, "hall", "one_active_ticket_per_person", _BOOL, True)
    if hall_id is None or name_zh is None or name_en is None:
        return None
    if timezone is None or rollover is None:
        return None
    return _HallHead(hall_id, name_zh, name_en, timezone, rollover, enforce, one_active)


def _optional_table(
    r: _Reader, data: Mapping[str, object], name: str, allowed: Sequence[str]
) -> Table:
    if name not in data:
        return {}
    return r.table(data[name], name, allowed, f"a [{name}] table") or {}


def _read_server(r: _Reader, data: Mapping[str, object]) -> ServerSettings:
    table = _optional_table(r, data, "server", _SERVER_KEYS)
    default = ServerSettings()
    return ServerSettings(
        host=r.optional(table, "server", "host", _TEXT, default.host),
        port=r.optional(table, "server", "port", _PORT, default.port),
    )


def _read_store(r: _Reader, data: Mapping[str, object]) -> StoreSettings:
    table = _optional_table(r, data, "store", _STORE_KEYS)
    default = StoreSettings()
    synchronous: Synchronous = "normal"
    if r.optional(table, "store", "synchronous", _SYNCHRONOUS, default.synchronous) == "full":
        synchronous = "full"
    return StoreSettings(
        synchronous=synchronous,
        snapshot_every=r.optional(
            table, "store", "snapshot_every", _SNAPSHOT_EVERY, default.snapshot_every
        ),
    )


def _read_policy(r: _Reader, data: Mapping[str, object]) -> Policy:
    table = _optional_table(r, data, "policy", _POLICY_KEYS)
    d = Policy()
    p = "policy"
    return Policy(
        priority_streak_limit=r.optional(
            table,
            p,
            "priority_streak_limit",
            _integer(1, None, "an integer >= 1"),
            d.priority_streak_limit,
        ),
        priority_head_start_s=r.optional(
            table, p, "priority_head_start", _DURATION_OR_ZERO, d.priority_head_start_s
        ),
        aging_rate=r.optional(
            table, p, "aging_rate", _real(0.0, None, "a number greater than 0"), d.aging_rate
        ),
        priority_max_wait_factor=r.optional(
            table,
            p,
            "priority_max_wait_factor",
            _real(0.0, 1.0, "a number greater than 0 and at most 1"),
            d.priority_max_wait_factor,
        ),
        preference_bonus_s=r.optional(
            table, p, "preference_bonus", _DURATION_OR_ZERO, d.preference_bonus_s
        ),
        appointment_early_s=r.optional(
            table, p, "appointment_early", _DURATION_OR_ZERO, d.appointment_early_s
        ),
        appointment_late_s=r.optional(
            table, p, "appointment_late", _POSITIVE_DURATION, d.appointment_late_s
        ),
        recall_limit=r.optional(
            table, p, "recall_limit", _integer(0, None, "an integer >= 0"), d.recall_limit
        ),
    )


def _read_hours(
    r: _Reader, table: Table, path: str, rollover: time | None
) -> tuple[OpeningPeriod, ...] | None:
    key = _join(path, "hours")
    expected = 'a non-empty array of opening periods such as ["09:00-12:00", "13:30-17:00"]'
    if "hours" not in table:
        r.report(key, f"missing; expected {expected}")
        return None
    value = table["hours"]
    if not isinstance(value, list) or not value:
        r.report(key, f"expected {expected}, got {_show(value)}")
        return None
    periods: list[tuple[str, OpeningPeriod]] = []
    ok = True
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        match = _PERIOD_RE.fullmatch(item) if isinstance(item, str) else None
        start = _clock(match.group(1)) if match else None
        end = _clock(match.group(4)) if match else None
        if start is None or end is None:
            r.report(item_key, f"expected {_PERIOD_EXPECTED}, got {_show(item)}")
            ok = False
            continue
        if start >= end:
            r.report(
                item_key,
                f"expected an opening period that starts before it ends, got {_show(item)}",
            )
            ok = False
            continue
        if rollover is not None and start < rollover < end:
            r.report(
                item_key,
                f"opening period {_show(item)} spans the day rollover "
                f"{rollover.strftime('%H:%M')} (hall.day_rollover); split it at that time",
            )
            ok = False
        periods.append((item, OpeningPeriod(start, end)))
    ordered = sorted(periods, key=lambda entry: entry[1].start)
    for (earlier_text, earlier), (later_text, later) in itertools.pairwise(ordered):
        if later.start < earlier.end:
            r.report(key, f"opening periods {_show(earlier_text)} and {_show(later_text)} overlap")
            ok = False
    if not ok:
        return None
    return tuple(period for _, period in ordered)


def _read_theme(r: _Reader, value: Table, path: str, rollover: time | None) -> _ThemeEntry:
    table = r.table(value, path, _THEME_KEYS, "a table")
    if table is None:
        return _ThemeEntry(path, None, None, None, None)
    raw_id = table.get("id")
    theme_id = r.required(table, path, "id", _THEME_ID)
    name_zh = r.required(table, path, "name_zh", _TEXT)
    name_en = r.required(table, path, "name_en", _TEXT)
    prefix = r.required(table, path, "prefix", _PREFIX)
    hours = _read_hours(r, table, path, rollover)
    cap = (
        r.check(table["daily_cap"], f"{path}.daily_cap", _DAILY_CAP)
        if "daily_cap" in table
        else None
    )
    max_wait = r.required(table, path, "max_wait", _POSITIVE_DURATION)
    service = r.required(table, path, "default_service", _POSITIVE_DURATION)
    theme = None
    if (
        theme_id is not None
        and name_zh is not None
        and name_en is not None
        and prefix is not None
        and hours is not None
        and max_wait is not None
        and service is not None
    ):
        theme = Theme(theme_id, name_zh, name_en, prefix, hours, cap, max_wait, service)
    return _ThemeEntry(path, raw_id if isinstance(raw_id, str) else None, theme_id, prefix, theme)


def _read_themes(
    r: _Reader, data: Mapping[str, object], rollover: time | None
) -> list[_ThemeEntry] | None:
    tables = r.tables(data, "themes", required=True)
    if tables is None:
        return None
    entries: list[_ThemeEntry] = []
    first_by_id: dict[str, _ThemeEntry] = {}
    first_by_prefix: dict[str, _ThemeEntry] = {}
    for index, table in enumerate(tables):
        entry = _read_theme(r, table, f"themes[{index}]", rollover)
        entries.append(entry)
        if entry.id is not None:
            if entry.id in first_by_id:
                other = first_by_id[entry.id].path
                r.report(
                    f"{entry.path}.id", f"duplicate theme id {_quote(entry.id)}; {other} has it"
                )
            else:
                first_by_id[entry.id] = entry
        if entry.prefix is not None:
            if entry.prefix in first_by_prefix:
                other_entry = first_by_prefix[entry.prefix]
                owner = f"theme {_quote(other_entry.id)}" if other_entry.id else other_entry.path
                r.report(
                    f"{entry.path}.prefix",
                    f"duplicate prefix {_quote(entry.prefix)}; "
                    f"{owner} ({other_entry.path}) already uses it",
                )
            else:
                first_by_prefix[entry.prefix] = entry
    return entries


def _read_window_themes(
    r: _Reader, table: Table, path: str, known: Sequence[str] | None, referenced: set[str]
) -> tuple[str, ...] | None:
    key = f"{path}.themes"
    expected = "a non-empty array of theme ids, most preferred first"
    if "themes" not in table:
        r.report(key, f"missing; expected {expected}")
        return None
    value = table["themes"]
    if not isinstance(value, list) or not value:
        r.report(key, f"expected {expected}, got {_show(value)}")
        return None
    result: list[str] = []
    ok = True
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(item, str):
            r.report(item_key, f"expected a theme id string, got {_show(item)}")
            ok = False
        elif item in result:
            r.report(item_key, f"theme {_quote(item)} is listed twice")
            ok = False
        elif known is not None and item not in known:
            suggestion = _did_you_mean(item, known)
            message = f"unknown theme {_quote(item)}"
            if suggestion:
                message += f"; did you mean {_quote(suggestion)}?"
                # The typo is already reported: do not also complain the theme is unserved.
                referenced.add(suggestion)
            else:
                names = ", ".join(_quote(k) for k in dict.fromkeys(known))
                message += f"; the themes are {names}"
            r.report(item_key, message)
            ok = False
        else:
            result.append(item)
            referenced.add(item)
    return tuple(result) if ok else None


def _read_windows(
    r: _Reader, data: Mapping[str, object], themes: list[_ThemeEntry] | None
) -> list[Window | None] | None:
    tables = r.tables(data, "windows", required=True)
    if tables is None:
        return None
    # Broken theme ids still count as known, so one mistake is not reported twice.
    known = None if themes is None else [e.raw_id for e in themes if e.raw_id is not None]
    referenced: set[str] = set()
    windows: list[Window | None] = []
    first_by_id: dict[str, str] = {}
    for index, value in enumerate(tables):
        path = f"windows[{index}]"
        table = r.table(value, path, _WINDOW_KEYS, "a table")
        if table is None:
            windows.append(None)
            continue
        window_id = r.required(table, path, "id", _WINDOW_ID)
        name_zh = r.required(table, path, "name_zh", _TEXT)
        name_en = r.required(table, path, "name_en", _TEXT)
        served = _read_window_themes(r, table, path, known, referenced)
        if window_id is not None:
            if window_id in first_by_id:
                r.report(
                    f"{path}.id",
                    f"duplicate window id {_quote(window_id)}; {first_by_id[window_id]} has it",
                )
            else:
                first_by_id[window_id] = path
        if window_id is None or name_zh is None or name_en is None or served is None:
            windows.append(None)
        else:
            windows.append(Window(window_id, name_zh, name_en, served))
    if themes is not None:
        for entry in themes:
            if entry.raw_id is not None and entry.raw_id not in referenced:
                r.report(
                    entry.path,
                    f"no window serves theme {_quote(entry.raw_id)}; "
                    "add it to the themes of at least one [[windows]] entry",
                )
    return windows


def _read_groups(r: _Reader, data: Mapping[str, object]) -> list[PriorityGroup | None]:
    if "priority_groups" not in data:
        return list(DEFAULT_PRIORITY_GROUPS)
    tables = r.tables(data, "priority_groups", required=False)
    if tables is None:
        return [None]
    groups: list[PriorityGroup | None] = []
    first_by_id: dict[str, str] = {}
    aged_path: str | None = None
    for index, value in enumerate(tables):
        path = f"priority_groups[{index}]"
        table = r.table(value, path, _GROUP_KEYS, "a table")
        if table is None:
            groups.append(None)
            continue
        group_id = r.required(table, path, "id", _GROUP_ID)
        name_zh = r.required(table, path, "name_zh", _TEXT)
        name_en = r.required(table, path, "name_en", _TEXT)
        min_age = (
            r.check(table["min_age"], f"{path}.min_age", _MIN_AGE) if "min_age" in table else None
        )
        if group_id is not None:
            if group_id in first_by_id:
                r.report(
                    f"{path}.id",
                    f"duplicate group id {_quote(group_id)}; {first_by_id[group_id]} has it",
                )
            else:
                first_by_id[group_id] = path
        if min_age is not None:
            if aged_path is not None:
                r.report(
                    f"{path}.min_age",
                    f"only one group may have min_age; {aged_path} already has it",
                )
            else:
                aged_path = path
        if group_id is None or name_zh is None or name_en is None:
            groups.append(None)
        else:
            groups.append(PriorityGroup(group_id, name_zh, name_en, min_age))
    return groups


def _read_settings(data: Mapping[str, object], r: _Reader, source: Path) -> Settings:
    r.table(data, "", _TOP_KEYS, "a table")
    head = _read_hall(r, data)
    server = _read_server(r, data)
    store = _read_store(r, data)
    policy = _read_policy(r, data)
    rollover = head.day_rollover if head is not None else None
    theme_entries = _read_themes(r, data, rollover)
    windows = _read_windows(r, data, theme_entries)
    groups = _read_groups(r, data)
    themes = [entry.theme for entry in theme_entries or []]
    if r.issues or head is None or theme_entries is None or windows is None:
        raise ConfigError(tuple(r.issues))
    complete_themes = tuple(theme for theme in themes if theme is not None)
    complete_windows = tuple(window for window in windows if window is not None)
    complete_groups = tuple(group for group in groups if group is not None)
    if (
        len(complete_themes) != len(themes)
        or len(complete_windows) != len(windows)
        or len(complete_groups) != len(groups)
    ):
        # Every incomplete entry was reported; reaching here means a check forgot to report.
        raise ConfigError((ConfigIssue(r.file, "", "incomplete configuration"),))
    hall = HallConfig(
        id=head.id,
        name_zh=head.name_zh,
        name_en=head.name_en,
        timezone=head.timezone,
        day_rollover=head.day_rollover,
        themes=complete_themes,
        windows=complete_windows,
        priority_groups=complete_groups,
        policy=policy,
        enforce_opening_hours=head.enforce_opening_hours,
        one_active_ticket_per_person=head.one_active_ticket_per_person,
    )
    return Settings(hall=hall, server=server, store=store, source=source)
