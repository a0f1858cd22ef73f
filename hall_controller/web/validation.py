"""Reading request bodies and headers strictly, with errors that say what was expected."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from hall_controller.access import Principal

_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,128}$")
_ACTOR_SHAPE = re.compile(r"^[A-Za-z0-9:_.@-]{1,64}$")
MAX_BODY_BYTES = 16 * 1024
# Who sent a request, as web/access.py's middleware found it (None: nobody signed in).
PRINCIPAL_KEY: web.RequestKey[Principal | None] = web.RequestKey("principal")


class BadRequest(Exception):
    """The request is malformed; `status` is 400 for unreadable input, 422 for wrong values."""

    def __init__(self, message: str, *, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A '; did you mean "x"?' hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


async def json_object(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    """The JSON object body (an empty body is {}); unknown fields are refused by name."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    if not raw.strip():
        return {}
    try:
        # orjson is strict where the standard library is lenient: it refuses NaN/Infinity,
        # numbers that overflow a double, lone surrogate escapes (which could be neither
        # stored nor sent as UTF-8), invalid UTF-8 and nesting deeper than 1024.
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", status=400) from None
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {_kind(body)}", status=400)
    known = list(allowed)
    for name in body:
        if name not in known:
            raise BadRequest(f'unknown field "{name}"{did_you_mean(name, known)}', field=name)
    return body


def optional_str(body: dict[str, Any], name: str, *, max_len: int = 200) -> str | None:
    """A string field, or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string or null, got {_kind(value)}", field=name)
    value = value.strip()
    if len(value) > max_len:
        raise BadRequest(f"{name} is longer than {max_len} characters", field=name)
    return value


def required_str(body: dict[str, Any], name: str, *, max_len: int = 200) -> str:
    """A non-empty string field."""
    value = optional_str(body, name, max_len=max_len)
    if not value:
        raise BadRequest(f"{name} is required", field=name)
    return value


def optional_int(body: dict[str, Any], name: str) -> int | None:
    """An integer field (booleans refused), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {_kind(value)}", field=name)
    return value


def optional_number(body: dict[str, Any], name: str) -> float | None:
    """A number field (booleans refused), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} must be a number, got {_kind(value)}", field=name)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number", field=name)
    return number


def idempotency_key(request: web.Request) -> str | None:
    """The Idempotency-Key header, checked for shape."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY_SHAPE.match(key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters", status=400)
    return key


def actor_of(request: web.Request) -> str:
    """Who is asking, for the audit trail: the signed-in account, else the client address.

    A system signed in with a bearer token may name the person or device it acts for in
    X-Actor (a call pad bridge, a booking system); a browser session cannot.
    """
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    claimed = request.headers.get("X-Actor")
    if claimed is not None and principal is not None and principal.via == "token":
        if not _ACTOR_SHAPE.match(claimed):
            raise BadRequest("X-Actor must be 1-64 characters of A-Z a-z 0-9 : _ . @ -", status=400)
        return claimed
    if principal is not None:
        return principal.actor
    return f"api:{request.remote or 'unknown'}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
