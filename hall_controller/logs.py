"""Structured logging: JSON lines for journald and files, readable lines on a terminal."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import deque
from collections.abc import MutableMapping
from typing import Any

import structlog

# 18-character resident ID numbers and 15-digit first-generation ones, wherever they appear.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])|"
    r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])"
)


def redact(text: str) -> str:
    """Mask anything shaped like a resident ID number."""
    return _ID_NUMBER.sub(lambda m: (m.group(1) or "") + "*" * 8 + (m.group(2) or "*" * 7), text)


# Ints below this have fewer than 17 digits: not an ID number's (17 digits and a check digit).
_SHORTEST_ID = 10**16
# Left as they are: the renderer formats the exception, and structlog's own bookkeeping.
_RAW = frozenset({"exc_info", "_record", "_from_structlog"})


def _redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # A last line of defence: no log line may carry an ID number, even by mistake.
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
        elif isinstance(value, int) and -_SHORTEST_ID < value < _SHORTEST_ID:
            pass  # a count, a port, a seq: too short to be an ID number (the common case)
        elif value is not None and not isinstance(value, bool | float) and key not in _RAW:
            # A dict, a list, an exception or an 18-digit int renders its text as it is: one
            # that holds an ID number is logged as that text, masked.
            text = str(value) if isinstance(value, int) else repr(value)
            masked = redact(text)
            if masked != text:
                event_dict[key] = masked
    return event_dict


# Levels from the quietest up, for "this level and above".
LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical"}
# Keys every line has, shown apart from the line's own fields.
_LINE_KEYS = ("timestamp", "level", "logger", "event")


class RecentLog:
    """The last lines logged, for the technician console: a ring filled by a log processor.

    Lines come from every thread (the printers' and the audio thread log too), so the ring is
    locked. Each line keeps its own fields as short text; exceptions only by their last line.
    """

    def __init__(self, size: int = 500) -> None:
        self._lines: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.size = size

    def __call__(
        self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """The structlog processor: keep a copy of the (already redacted) line."""
        level = str(event_dict.get("level", method)).lower()
        level = _LEVEL_ALIASES.get(level, level)
        fields = {
            key: _short(value)
            for key, value in event_dict.items()
            if key not in _LINE_KEYS and not key.startswith("_")
        }
        line = {
            "at": str(event_dict.get("timestamp", "")),
            "level": level,
            "logger": str(event_dict.get("logger", "")),
            "event": _short(event_dict.get("event", "")),
            "fields": fields,
        }
        with self._lock:
            self._lines.append(line)
        return event_dict

    def lines(self, limit: int, level: str = "debug") -> list[dict[str, Any]]:
        """The newest `limit` lines at `level` or above, oldest first."""
        floor = LEVELS.index(level) if level in LEVELS else 0
        with self._lock:
            kept = list(self._lines)
        wanted = [line for line in kept if _rank(line["level"]) >= floor]
        return wanted[-limit:] if limit > 0 else []

    def clear(self) -> None:
        """Forget every line."""
        with self._lock:
            self._lines.clear()


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 1


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if "\n" in text:  # a traceback: its last line says what happened
        text = text.rstrip().rsplit("\n", 1)[-1]
    return text[:300]


# The process's recent lines (configure_logging puts it behind the redaction).
RECENT = RecentLog()


def configure_logging(level: str = "info", *, json_lines: bool | None = None) -> None:
    """Route stdlib and structlog output through one renderer, chosen by whether stderr is a tty."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
        structlog.processors.format_exc_info
        if json_lines
        else structlog.processors.StackInfoRenderer(),
        _redact_personal_data,
        # After the redaction: the console shows what the log keeps, never an ID number.
        RECENT,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # filter_by_level first: a disabled debug line costs a level check, not a rendering.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what our own request lines say; keep it quiet by default.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
