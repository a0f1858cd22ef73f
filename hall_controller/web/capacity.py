"""Routes of capacity-aware issuing (DB44/T 2138 10.3.4): booking, at a kiosk, the appointment
slot a full theme offers; and the OpenAPI description of a theme's capacity and of the 409 a
full theme answers with its offer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .access import allow
from .appointments import parse_slot
from .context import json_response, kiosks_of, service_of
from .openapi import _json, _obj, _path_param, _ref, _write
from .validation import actor_of, idempotency_key, json_object, optional_str, required_str


@allow("kiosk", "manager")
async def book_slot(request: web.Request) -> web.Response:
    """Book an offered appointment slot at this kiosk: {"theme", "slot", "card"?}; the
    appointment slip is printed (or its code shown on the screen)."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("theme", "slot", "card"))
    result = await kiosks_of(request).book_slot(
        request.match_info["kiosk"],
        theme=required_str(body, "theme", max_len=64),
        slot_at=parse_slot(body.get("slot"), service_of(request)),
        card=optional_str(body, "card", max_len=64) or None,
        actor=actor,
        key=key,
    )
    return json_response(result, 201)


def add_routes(app: web.Application) -> None:
    """Add the capacity routes."""
    app.router.add_post("/api/v1/kiosks/{kiosk}/appointments", book_slot)


# ----------------------------------------------------------------- the OpenAPI description

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}
_REASON = {"type": ["string", "null"], "enum": ["daily_cap", "quota", "workload", None]}
_HHMM = {"type": ["string", "null"], "description": "hall-local HH:MM"}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "NextSlot": _obj(
        {
            "theme": _STR,
            "day": {"type": "string", "format": "date", "description": "the business day"},
            "at": {"type": "string", "description": "hall-local ISO date and time"},
            "time": {"type": "string", "description": "hall-local HH:MM"},
            "free": {"type": "integer", "description": "bookings the slot still takes"},
        }
    ),
    "ThemeCapacity": _obj(
        {
            "full": {"type": "boolean", "description": "a regular walk-in is refused now"},
            "reason": _REASON,
            "return_at": {**_HHMM, "description": "today, when walk-in tickets are given again"},
            "cap_left": {**_NINT, "description": "numbers left of the daily cap (null: none)"},
            "quota": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "window": {"type": "string", "description": "HH:MM-HH:MM"},
                            "tickets": _INT,
                            "given": _INT,
                            "left": _INT,
                        }
                    ),
                ],
                "description": "the quota window now (null: none)",
            },
            "workload": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "waiting": _INT,
                            "windows": _INT,
                            "work_min": {
                                "type": "integer",
                                "description": "minutes of waiting work over the windows",
                            },
                            "left_min": {
                                "type": "integer",
                                "description": "minutes until the theme's last opening period ends",
                            },
                            "margin_min": _INT,
                        }
                    ),
                ],
                "description": "null: not checked (off, hours not enforced, closed)",
            },
            "next_slot": {"oneOf": [{"type": "null"}, _ref("NextSlot")]},
        },
        required=["full", "reason", "return_at", "cap_left", "quota", "workload"],
    ),
    "ThemeFullError": _obj(
        {
            "error": _obj(
                {
                    "code": {"const": "theme_full"},
                    "message": _STR,
                    "details": _obj(
                        {
                            "theme": _STR,
                            "reason": {"enum": ["daily_cap", "quota", "workload"]},
                            "message_zh": _STR,
                            "message_en": _STR,
                            "return_at": _HHMM,
                            "next_slot": {"oneOf": [{"type": "null"}, _ref("NextSlot")]},
                        }
                    ),
                }
            )
        }
    ),
    "KioskBookingRequest": _obj(
        {
            "theme": _STR,
            "slot": {
                "type": ["string", "number"],
                "description": "the slot's start: ISO time (hall-local) or epoch seconds",
            },
            "card": {
                "type": ["string", "null"],
                "description": "the token of an ID card read here",
            },
        },
        required=["theme", "slot"],
    ),
    "KioskBooking": _obj(
        {
            "appointment": _ref("Appointment"),
            "check_in_from": {"type": "string", "description": "hall-local HH:MM"},
            "printed": {"type": "boolean", "description": "the appointment slip is printed"},
            "printer": _NSTR,
            "reason": {**_NSTR, "description": "why the slip is not printed"},
        }
    ),
}

# A full theme answers 409 with its offer (other conflicts keep the plain error shape).
FULL_RESPONSE: dict[str, Any] = _json(
    {"anyOf": [_ref("ThemeFullError"), _ref("Error")]},
    "Refused in the current state; theme_full: the theme is full, with what it offers instead",
)

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/kiosks/{kiosk}/appointments": {
        "post": _write(
            "Book, at the kiosk, an appointment slot a full theme offered: by the ID card read "
            "there, or else with a booking code made for it; the appointment slip is printed "
            "(its code shown on the screen when it cannot be); 409 slot_full when it was taken",
            "KioskBookingRequest",
            {"201": _json(_ref("KioskBooking"), "The booking")},
            [_path_param("kiosk", "kiosk id")],
        )
    }
}
