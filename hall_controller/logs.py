"""Structured logging: JSON lines for journald and files, readable lines on a terminal."""

from __future__ import annotations

import logging
import re
import sys
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


def _redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # A last line of defence: no log line may carry an ID number, even by mistake.
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


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
