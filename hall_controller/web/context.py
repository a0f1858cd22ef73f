"""What every route module shares: the app's services, the JSON reply, a `day` query."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web

from hall_controller.kiosks import KioskService
from hall_controller.services import HallService

from .broadcast import dumps
from .validation import BadRequest

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
