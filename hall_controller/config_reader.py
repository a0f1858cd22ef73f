"""Reading TOML into typed values while collecting every problem as `file: key: message`."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


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


def format_issues(err: ConfigError) -> str:
    """The issues of `err`, one `file: key: message` line each."""
    return "\n".join(str(issue) for issue in err.issues)


def join_key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def show_value(value: object) -> str:
    """A value as the user wrote it in TOML, short enough for one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = quote(value)
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


class Invalid(Exception):
    """A value does not fit its kind; a message replaces the generic 'expected ..., got ...'."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Kind(Generic[T]):
    """What a key must hold: a phrase for messages and a converter that raises Invalid."""

    expected: str
    convert: Callable[[object], T]


def text_value(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid
    return value


def pattern(regex: str, expected: str) -> Kind[str]:
    compiled = re.compile(regex)

    def convert(value: object) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise Invalid
        return value

    return Kind(expected, convert)


def integer(low: int, high: int | None, expected: str) -> Kind[int]:
    def convert(value: object) -> int:
        # bool is a subclass of int: `true` must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid
        if value < low or (high is not None and value > high):
            raise Invalid
        return value

    return Kind(expected, convert)


def real(low_exclusive: float, high: float | None, expected: str) -> Kind[float]:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid
        number = float(value)
        if not math.isfinite(number) or number <= low_exclusive:
            raise Invalid
        if high is not None and number > high:
            raise Invalid
        return number

    return Kind(expected, convert)


def boolean_value(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid
    return value


DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_EXPECTED = 'a duration such as "25m" or "90s"'
DAY_S = 24 * 3600


def duration(allow_zero: bool) -> Kind[int]:
    def convert(value: object) -> int:
        match = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None or not value:
            raise Invalid
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
        if total == 0 and not allow_zero:
            raise Invalid(f"expected a duration greater than zero, got {show_value(value)}")
        if total >= DAY_S:
            raise Invalid(f"expected a duration shorter than a day, got {show_value(value)}")
        return total

    expected = DURATION_EXPECTED + (' (or "0s")' if allow_zero else "")
    return Kind(expected, convert)


SPAN_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def span(max_days: int) -> Kind[int]:
    """A duration that may run to days ("1d", "15d", "36h", "1d12h"), in seconds: more than
    zero, at most `max_days` days."""

    def convert(value: object) -> int:
        match = SPAN_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None or not value:
            raise Invalid
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        if total == 0:
            raise Invalid(f"expected a duration greater than zero, got {show_value(value)}")
        if total > max_days * DAY_S:
            raise Invalid(f"expected at most {max_days} days, got {show_value(value)}")
        return total

    return Kind(f'a duration such as "1d", "15d" or "36h" (at most {max_days} days)', convert)


CLOCK_RE = r"(\d{1,2}):(\d{2})"


def clock(text: str) -> time | None:
    match = re.fullmatch(CLOCK_RE, text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def time_of_day(value: object) -> time:
    # A TOML local time (03:00:00, unquoted) is accepted as well as the "HH:MM" string.
    if isinstance(value, time):
        return value
    parsed = clock(value) if isinstance(value, str) else None
    if parsed is None:
        raise Invalid
    return parsed


def choice(options: Sequence[str]) -> Kind[str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise Invalid
        return value

    return Kind(" or ".join(quote(option) for option in options), convert)


# --- the reader that collects issues ----------------------------------------------------------

Table = dict[str, object]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt word, ignoring case, or None."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


class Reader:
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
            self.report(path, f"expected {expected}, got {show_value(value)}")
            return None
        for name in value:
            if name in allowed:
                continue
            suggestion = did_you_mean(name, allowed)
            if suggestion:
                self.report(join_key(path, name), f"unknown key; did you mean {quote(suggestion)}?")
            else:
                self.report(
                    join_key(path, name), f"unknown key; expected one of {', '.join(allowed)}"
                )
        return value

    def check(self, value: object, path: str, kind: Kind[T]) -> T | None:
        """The converted value, or None after reporting why it does not fit."""
        try:
            return kind.convert(value)
        except Invalid as exc:
            self.report(path, exc.message or f"expected {kind.expected}, got {show_value(value)}")
            return None

    def required(
        self, table: Mapping[str, object], path: str, name: str, kind: Kind[T]
    ) -> T | None:
        """The converted value of a key that must be present; None after reporting."""
        if name not in table:
            self.report(join_key(path, name), f"missing; expected {kind.expected}")
            return None
        return self.check(table[name], join_key(path, name), kind)

    def optional(
        self, table: Mapping[str, object], path: str, name: str, kind: Kind[T], default: T
    ) -> T:
        """The converted value of an optional key; `default` when absent or after reporting."""
        if name not in table:
            return default
        value = self.check(table[name], join_key(path, name), kind)
        return default if value is None else value

    def tables(self, data: Mapping[str, object], name: str, required: bool) -> list[Table] | None:
        """An array of tables `[[name]]`; None when absent or malformed (reported if required)."""
        if name not in data:
            if required:
                self.report(name, f"missing; expected at least one [[{name}]] table")
            return None
        value = data[name]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.report(
                name, f"expected an array of tables written [[{name}]], got {show_value(value)}"
            )
            return None
        if required and not value:
            self.report(name, f"expected at least one [[{name}]] table, got []")
            return None
        return value


def read_toml(path: str | Path) -> dict[str, object]:
    """Parse the TOML file at `path`; raise ConfigError naming the file when it cannot be used."""
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
    return parse_toml(text, file)


def parse_toml(text: str, file: str) -> dict[str, object]:
    """Parse TOML `text` as if read from `file`; raise ConfigError on a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError((ConfigIssue(file, "", f"invalid TOML: {exc}"),)) from exc


_SECONDS_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m)")
_SECONDS_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0}


def seconds(low: float, high: float, *, allow_zero: bool = False) -> Kind[float]:
    """A short duration such as "300ms", "2s" or "1.5m", as seconds within [low, high]."""

    def convert(value: object) -> float:
        match = _SECONDS_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise Invalid
        amount = float(match.group(1)) * _SECONDS_SCALE[match.group(2)]
        if amount == 0 and allow_zero:
            return 0.0
        if not low <= amount <= high:
            raise Invalid(
                f"expected a duration from {low:g}s to {high:g}s"
                + (' (or "0s" for none)' if allow_zero else "")
                + f", got {show_value(value)}"
            )
        return amount

    expected = 'a duration such as "300ms", "2s" or "1m"' + (' (or "0s")' if allow_zero else "")
    return Kind(expected, convert)


def _hex_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise Invalid
    digits = value.replace(" ", "")
    if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise Invalid
    return bytes.fromhex(digits)


HEX_BYTES = Kind('bytes written in hex such as "FF 68" (or "" for none)', _hex_bytes)
BYTE = integer(0, 255, "a byte value from 0 to 255 (0x00 to 0xFF)")
