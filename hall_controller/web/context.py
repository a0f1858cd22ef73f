"""What every route module shares: the app's services, the JSON reply, query parameters."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web

from hall_controller.kiosks import KioskService
from hall_controller.services import HallService, Reply

from .broadcast import dumps
from .validation import BadRequest, did_you_mean

SERVICE_KEY: web.AppKey[HallService] = web.AppKey("service", HallService)
KIOSKS_KEY: web.AppKey[KioskService] = web.AppKey("kiosks", KioskService)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def service_of(request: web.Request) -> HallService:
    """The hall's service behind this request."""
    return request.app[SERVICE_KEY]


def kiosks_of(request: web.Request) -> KioskService:
    """The kiosks' service behind this request."""
    return request.app[KIOSKS_KEY]


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response with Chinese text kept readable."""
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def reply_response(reply: Reply) -> web.Response:
    """A service's reply as the HTTP response (204 without a body)."""
    if reply.status == 204:
        return web.Response(status=204)
    return json_response(reply.body, reply.status)


def only_parameters(request: web.Request, names: tuple[str, ...]) -> None:
    """BadRequest, with a did-you-mean, for a query parameter the route does not take."""
    for name in request.query:
        if name not in names:
            raise BadRequest(f'unknown parameter "{name}"{did_you_mean(name, names)}', field=name)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter from `low` to `high` (BadRequest otherwise), or `default`."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}", field=name)
    return int(raw)


def query_day(request: web.Request) -> str | None:
    """The `day` query parameter as YYYY-MM-DD (BadRequest otherwise), or None when absent."""
    day = request.query.get("day")
    if day is None:
        return None
    try:
        if not _DAY.match(day):
            raise ValueError(day)
        date.fromisoformat(day)
    except ValueError:
        raise BadRequest("day must be a date YYYY-MM-DD, such as 2026-11-28", field="day") from None
    return day
