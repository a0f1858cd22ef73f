"""Routes of appointments (预约): bookings through the API and a CSV import, the day's list,
cancelling, and the check-in at a kiosk; and the periodic look for bookings nobody came for."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import math
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from hall_controller.core.bookings import BookingRequest, BookingsRefused
from hall_controller.core.errors import DomainError
from hall_controller.services import HallService, ServiceError

from .access import allow
from .context import (
    SERVICE_KEY,
    json_response,
    kiosks_of,
    only_parameters,
    query_day,
    service_of,
)
from .openapi import SCHEMAS, _errors, _json, _obj, _path_param, _ref, _write
from .validation import (
    BadRequest,
    actor_of,
    did_you_mean,
    idempotency_key,
    json_object,
    optional_str,
    required_str,
)

log = structlog.get_logger(__name__)

# How often the controller looks for bookings nobody checked in for (AppointmentMissed).
MISSED_EVERY_S = 30.0
CSV_COLUMNS = ("theme", "slot", "code", "id_number", "priority")
CSV_MAX_BYTES = 256 * 1024
CSV_MAX_ROWS = 2000


def _refused_rows(problems: list[str]) -> web.Response:
    count = len(problems)
    return json_response(
        {
            "error": {
                "code": "invalid_rows",
                "message": f"{count} row{'s' if count != 1 else ''} refused; nothing was imported",
                "details": {"problems": problems, "count": count},
            }
        },
        422,
    )


def parse_slot(value: object, service: HallService) -> float:
    """A slot as the API takes it: epoch seconds, or an ISO time (hall-local without offset)."""
    if isinstance(value, bool):
        raise BadRequest("slot must be an ISO local time or epoch seconds", field="slot")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise BadRequest("slot must be a time", field="slot")
        return float(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise BadRequest("slot must be an ISO local time such as 2026-11-28T10:30", field="slot")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            "slot must be an ISO local time such as 2026-11-28T10:30", field="slot"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=service.tz)
    return moment.timestamp()


def _request_of(
    service: HallService,
    *,
    theme: str,
    slot: object,
    code: str | None,
    id_number: str | None,
    priority: str | None,
) -> BookingRequest:
    """A booking request from the API's values: the ID number becomes its keyed hash here."""
    if not code and not id_number:
        raise BadRequest("a booking needs a code or an id_number", field="code")
    person_hash = None
    if id_number:
        try:
            person_hash = service.person_hash_of(id_number)
        except DomainError:
            # Not the library's words: they might repeat part of the number.
            raise BadRequest(
                "id_number is not a valid resident ID number", field="id_number"
            ) from None
    return BookingRequest(
        theme=theme,
        slot_at=parse_slot(slot, service),
        code=code or None,
        person_hash=person_hash,
        priority=priority or None,
        channel="api",
    )


# ----------------------------------------------------------------- bookings


@allow("manager")
async def book(request: web.Request) -> web.Response:
    """Book an appointment: {"theme", "slot", "code"?, "id_number"?, "priority"?}."""
    key = idempotency_key(request)
    actor = actor_of(request)
    service = service_of(request)
    body = await json_object(request, CSV_COLUMNS)
    booking = _request_of(
        service,
        theme=required_str(body, "theme", max_len=64),
        slot=body.get("slot"),
        code=optional_str(body, "code", max_len=64),
        id_number=optional_str(body, "id_number", max_len=32),
        priority=optional_str(body, "priority", max_len=64),
    )
    try:
        reply = await service.book_appointments([booking], actor=actor, key=key)
    except BookingsRefused as refused:
        problem = refused.problems[0]
        status = 409 if problem.conflict else 422
        return json_response(
            {
                "error": {
                    "code": "conflict" if problem.conflict else "invalid",
                    "message": problem.message,
                    "details": {"field": problem.field},
                }
            },
            status,
        )
    return json_response(reply.body[0], 201)


@allow("manager", "staff")
async def list_appointments(request: web.Request) -> web.Response:
    """A business day's bookings (?day=YYYY-MM-DD; today by default), earliest slot first."""
    only_parameters(request, ("day",))
    return json_response(await service_of(request).appointments_view(query_day(request)))


@allow("manager")
async def cancel(request: web.Request) -> web.Response:
    """Cancel a booking not yet checked in: {"reason"?}."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("reason",))
    reason = optional_str(body, "reason", max_len=200) or ""
    reply = await service_of(request).cancel_appointment(
        request.match_info["id"], reason, actor=actor, key=key
    )
    return json_response(reply.body, reply.status)


@allow("manager")
async def import_csv(request: web.Request) -> web.Response:
    """Book every row of a CSV file (theme,slot,code,id_number,priority) or none of them."""
    actor = actor_of(request)
    service = service_of(request)
    if request.content_type not in ("text/csv", "text/plain"):
        raise BadRequest("send the bookings as text/csv", field="Content-Type")
    if request.content_length is not None and request.content_length > CSV_MAX_BYTES:
        raise BadRequest(f"body larger than {CSV_MAX_BYTES} bytes", status=413)
    raw = await request.content.read(CSV_MAX_BYTES + 1)
    if len(raw) > CSV_MAX_BYTES:
        raise BadRequest(f"body larger than {CSV_MAX_BYTES} bytes", status=413)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV file must be UTF-8", status=400) from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise BadRequest("the CSV file is empty: it needs a header row", field="body")
    header = [cell.strip().lower() for cell in rows[0]]
    for name in header:
        if name not in CSV_COLUMNS:
            hint = did_you_mean(name, CSV_COLUMNS)
            return _refused_rows([f"line 1: {name}: unknown column{hint}"])
    for name in ("theme", "slot"):
        if name not in header:
            return _refused_rows([f"line 1: {name}: the column is missing"])
    if len(rows) - 1 > CSV_MAX_ROWS:
        raise BadRequest(f"at most {CSV_MAX_ROWS} rows at a time", field="body")
    problems: list[str] = []
    requests: list[BookingRequest] = []
    lines: list[int] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"line {number}: row: {len(row)} cells, the header has {len(header)}")
            continue
        cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        try:
            requests.append(
                _request_of(
                    service,
                    theme=cells["theme"],
                    slot=cells["slot"],
                    code=cells.get("code") or None,
                    id_number=cells.get("id_number") or None,
                    priority=cells.get("priority") or None,
                )
            )
            lines.append(number)
        except BadRequest as exc:
            problems.append(f"line {number}: {exc.field or 'row'}: {exc.message}")
    if not problems and not requests:
        raise BadRequest("the CSV file has no bookings", field="body")
    try:
        # Rows refused already are not booked, but the others are still checked, so that
        # every bad row is reported at once.
        reply = await service.book_appointments(requests, actor=actor, check_only=bool(problems))
    except BookingsRefused as refused:
        for problem in refused.problems:
            problems.append(f"line {lines[problem.index]}: {problem.field}: {problem.message}")
    else:
        if not problems:
            return json_response({"imported": len(reply.body), "appointments": reply.body}, 201)
    problems.sort(key=lambda text: int(text.split(":", 1)[0].removeprefix("line ")))
    return _refused_rows(problems)


# ----------------------------------------------------------------- the check-in at a kiosk


@allow("kiosk", "manager")
async def check_in(request: web.Request) -> web.Response:
    """Check an appointment in at this kiosk: {"code"} or {"card"}; its ticket is printed."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("code", "card"))
    result = await kiosks_of(request).check_in(
        request.match_info["kiosk"],
        code=optional_str(body, "code", max_len=64) or None,
        card=optional_str(body, "card", max_len=64) or None,
        actor=actor,
        key=key,
    )
    return json_response(result, 201)


# ----------------------------------------------------------------- bookings nobody came for


async def _look_for_missed(service: HallService) -> None:
    """Record missed bookings every MISSED_EVERY_S seconds, as long as the server runs."""
    while True:
        await asyncio.sleep(MISSED_EVERY_S)
        try:
            await service.record_missed_appointments()
        except (DomainError, ServiceError) as exc:
            log.warning("missed_appointments_not_recorded", error=str(exc))


async def _missed_lookout(app: web.Application) -> AsyncIterator[None]:

    task = asyncio.create_task(_look_for_missed(app[SERVICE_KEY]), name="appointments-missed")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def add_routes(app: web.Application) -> None:
    """Add the appointments' routes (and their periodic look for missed bookings)."""
    app.router.add_post("/api/v1/appointments/import", import_csv)
    app.router.add_post("/api/v1/appointments", book)
    app.router.add_get("/api/v1/appointments", list_appointments)
    app.router.add_delete("/api/v1/appointments/{id}", cancel)
    app.router.add_post("/api/v1/kiosks/{kiosk}/check-in", check_in)
    app.cleanup_ctx.append(_missed_lookout)


# ----------------------------------------------------------------- the OpenAPI description

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = _path_param("id", "booking id, e.g. 20261128-bk001")
_KIOSK = _path_param("kiosk", "kiosk id")

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Appointment": _obj(
        {
            "id": _STR,
            "day": {"type": "string", "format": "date"},
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "slot_at": {"type": "string", "format": "date-time"},
            "status": {
                "type": "string",
                "enum": ["booked", "checked_in", "late", "missed", "cancelled"],
            },
            "code": {"type": ["string", "null"], "description": "the booking code (upper case)"},
            "by_id_number": {
                "type": "boolean",
                "description": "booked with an ID number (kept only as a keyed hash)",
            },
            "priority": _NSTR,
            "channel": _STR,
            "booked_at": {"type": "string", "format": "date-time"},
            "ticket": {"type": ["string", "null"], "description": "the check-in's ticket number"},
            "checked_in_at": _TIME,
            "closed_at": {**_TIME, "description": "when it was cancelled or recorded as missed"},
        }
    ),
    "AppointmentRequest": _obj(
        {
            "theme": _STR,
            "slot": {
                "type": ["string", "number"],
                "description": "ISO time (hall-local without an offset) or epoch seconds",
            },
            "code": {"type": ["string", "null"], "description": "4-32 letters and digits"},
            "id_number": {
                "type": ["string", "null"],
                "description": "a resident ID number: hashed, never stored or echoed",
            },
            "priority": _NSTR,
        },
        required=["theme", "slot"],
    ),
    "Appointments": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "appointments": {"type": "array", "items": _ref("Appointment")},
        }
    ),
    "AppointmentImport": _obj(
        {
            "imported": {"type": "integer"},
            "appointments": {"type": "array", "items": _ref("Appointment")},
        }
    ),
    "CancelRequest": _obj({"reason": _STR}, required=[]),
    "CheckInRequest": _obj({"code": _STR, "card": _STR}, required=[]),
    "CheckInAppointment": _obj(
        {
            "id": _STR,
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "slot": {"type": "string", "description": "HH:MM, hall-local"},
            "status": _STR,
            "state": {
                "type": "string",
                "enum": ["ready", "early", "late", "done", "cancelled"],
                "description": "what a check-in now would do",
            },
            "come_back_at": {"type": ["string", "null"], "description": "HH:MM when early"},
            "ticket": _NSTR,
        }
    ),
    "KioskCheckIn": _obj(
        {
            **SCHEMAS["KioskTicket"]["properties"],
            "appointment": _ref("CheckInAppointment"),
        },
        [*SCHEMAS["KioskTicket"]["required"], "appointment"],
    ),
    "RefusedRows": _obj(
        {
            "error": _obj(
                {
                    "code": _STR,
                    "message": _STR,
                    "details": _obj(
                        {
                            "problems": {
                                "type": "array",
                                "items": _STR,
                                "description": "line N: column: message",
                            },
                            "count": {"type": "integer"},
                        },
                        required=[],
                        closed=False,
                    ),
                }
            )
        }
    ),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/appointments": {
        "get": {
            "summary": "A business day's bookings, earliest slot first (manager, staff)",
            "parameters": [
                {
                    "name": "day",
                    "in": "query",
                    "required": False,
                    "description": "the business day (default: today)",
                    "schema": {"type": "string", "format": "date"},
                }
            ],
            "responses": {
                "200": _json(_ref("Appointments"), "The day's bookings"),
                **_errors(422, 503),
            },
        },
        "post": _write(
            "Book an appointment on the business day of its slot (manager: a booking system "
            "uses a manager token); an ID number is kept only as its keyed hash",
            "AppointmentRequest",
            {"201": _json(_ref("Appointment"), "The booking")},
        ),
    },
    "/api/v1/appointments/import": {
        "post": {
            "summary": "Book every row of a CSV file (header theme,slot,code,id_number,priority) "
            "or none: each refused row is reported as `line N: column: message`",
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "responses": {
                "201": _json(_ref("AppointmentImport"), "Every row booked"),
                **_errors(400, 413, 503),
                "422": _json(_ref("RefusedRows"), "Rows refused; nothing was booked"),
            },
        }
    },
    "/api/v1/appointments/{id}": {
        "delete": _write(
            "Cancel a booking not yet checked in (manager)",
            "CancelRequest",
            {"200": _json(_ref("Appointment"), "The booking, cancelled")},
            [_ID],
        )
    },
    "/api/v1/kiosks/{kiosk}/check-in": {
        "post": _write(
            "Check an appointment of today in at the kiosk, by its code or an ID card read "
            "there: its ticket is printed like a kiosk ticket (on the screen when it cannot "
            "be); 409 too_early says when to come back",
            "CheckInRequest",
            {"201": _json(_ref("KioskCheckIn"), "The check-in's ticket")},
            [_KIOSK],
        )
    },
}
