"""The OpenAPI 3.1 document of /api/v1, kept beside the handlers and checked against replies."""

from __future__ import annotations

from functools import cache
from typing import Any

from hall_controller import __version__

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NINT = {"type": ["integer", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _obj(props: dict[str, Any], required: list[str] | None = None, *, closed: bool = True) -> Any:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    schema["required"] = list(props) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "error": _obj(
                {"code": _STR, "message": _STR, "details": {"type": "object"}},
            )
        }
    ),
    "Candidate": _obj(
        {
            "ticket": _STR,
            "number": _STR,
            "theme": _STR,
            "priority": _NSTR,
            "waited_s": {"type": "integer"},
            "score": {"type": "number"},
            "aging": {"type": "number"},
            "head_start": {"type": "number"},
            "preference": {"type": "number"},
            "overdue_s": {"type": "integer"},
            "appointment_due": {"type": "boolean"},
            "chosen": {"type": "boolean"},
        }
    ),
    "CallReason": _obj(
        {
            "window": _NSTR,
            "rule": {
                "type": "string",
                "enum": [
                    "specific",
                    "max_wait",
                    "appointment",
                    "priority_limit",
                    "personalised",
                    "priority",
                    "preference",
                    "longest_wait",
                ],
            },
            "explanation": _STR,
            "candidates": {"type": "array", "items": _ref("Candidate")},
        }
    ),
    "Ticket": _obj(
        {
            "id": _STR,
            "number": {"type": "string", "pattern": "^[A-Z]{1,2}[0-9]{3,}$"},
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "priority": _NSTR,
            "status": {
                "type": "string",
                "enum": [
                    "waiting",
                    "called",
                    "serving",
                    "finished",
                    "no_show",
                    "held",
                    "cancelled",
                    "printing",
                    "voided",
                ],
            },
            "channel": _STR,
            "issued_at": {"type": "string", "format": "date-time"},
            "window": _NSTR,
            "target_window": _NSTR,
            "called_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
            "recalls": {"type": "integer"},
            "rating": _NINT,
            "position": _NINT,
            "ahead": _NINT,
            "estimated_wait_s": _NINT,
            "age_band": _NSTR,
            "stage": {
                "type": "integer",
                "description": "the visit's stage: 2 once sent on from intake to pick-up, ...",
            },
            "call": {"oneOf": [{"type": "null"}, _ref("CallReason")]},
        }
    ),
    "WindowTicket": _obj({"id": _STR, "number": _STR, "status": _STR}),
    "Window": _obj(
        {
            "id": _STR,
            "name_zh": _STR,
            "name_en": _STR,
            "themes": {"type": "array", "items": _STR},
            "status": {
                "type": "string",
                "enum": ["closed", "open", "paused", "calling", "serving"],
            },
            "pause_reason": _NSTR,
            "clerk": _NSTR,
            "personalised": {
                "type": "boolean",
                "description": "the personalised-service post (个性化服务岗)",
            },
            "standing_in": {
                "type": "array",
                "items": _STR,
                "description": "themes it serves for now because their own windows are away",
            },
            "ticket": {"oneOf": [{"type": "null"}, _ref("WindowTicket")]},
            "priority_streak": {"type": "integer"},
            "served": {"type": "integer"},
        }
    ),
    "Theme": _obj(
        {
            "id": _STR,
            "name_zh": _STR,
            "name_en": _STR,
            "prefix": _STR,
            "hours": {"type": "array", "items": _STR},
            "open_now": {"type": "boolean"},
            "daily_cap": _NINT,
            "issued": {"type": "integer"},
            "waiting": {"type": "integer"},
            "max_wait_s": {"type": "integer"},
            "expected_service_s": {"type": "integer"},
            "estimated_wait_s": _NINT,
            "stood_in_by": {
                "type": "array",
                "items": _STR,
                "description": "windows of similar themes serving it while its own are away",
            },
            "capacity": _ref("ThemeCapacity"),
        }
    ),
    "CallResult": _obj(
        {"window": _ref("Window"), "ticket": _ref("Ticket"), "reason": _ref("CallReason")}
    ),
    "WindowResult": _obj({"window": _ref("Window"), "ticket": _ref("Ticket")}, required=["window"]),
    "HallState": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "waiting": {"type": "object", "additionalProperties": {"type": "integer"}},
            "windows": {"type": "object"},
            "missed": {
                "type": "array",
                "items": _STR,
                "description": "the day's latest no-shows (过号), newest first",
            },
            "stood_in": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": _STR},
                "description": "theme -> the windows serving it while its own are away (同岗替代)",
            },
            "emergency": {"oneOf": [{"type": "null"}, _ref("EmergencyState")]},
        }
    ),
    "EmergencyState": _obj(
        {"message": _STR, "drill": {"type": "boolean"}, "since": {"type": "string"}}
    ),
    "Hall": _obj(
        {
            "id": _STR,
            "name_zh": _STR,
            "name_en": _STR,
            "timezone": _STR,
            "priority_groups": {"type": "array", "items": {"type": "object"}},
            "state": _ref("HallState"),
        }
    ),
    "Health": _obj(
        {"status": _STR, "hall": _STR, "day": _STR, "version": {"type": "integer"}, "reason": _STR},
        required=["status"],
    ),
    "FrameSeen": _obj(
        {
            "at": {"type": "number", "description": "epoch seconds"},
            "frame": {"type": "string", "description": "hex of the first 64 bytes, or text"},
            "note": _NSTR,
        }
    ),
    "Device": _obj(
        {
            "id": _STR,
            "kind": {
                "enum": [
                    "call_pad",
                    "window_display",
                    "rating_pad",
                    "ticket_printer",
                    "card_reader",
                    "code_scanner",
                    "announcer",
                ]
            },
            "profile": _STR,
            "driver": _STR,
            "window": _NSTR,
            "where": _STR,
            "state": {"enum": ["connecting", "ready", "alert", "lost"]},
            "since": _TIME,
            "last_seen": _TIME,
            "frames_in": {"type": "integer"},
            "frames_out": {"type": "integer"},
            "errors": {"type": "integer"},
            "reconnects": {"type": "integer"},
            "last_error": _NSTR,
            "last_frame_in": _NSTR,
            "last_frame_out": _NSTR,
            "recent_in": {"type": "array", "items": _ref("FrameSeen"), "maxItems": 8},
            "recent_out": {"type": "array", "items": _ref("FrameSeen"), "maxItems": 8},
            "learning": _NSTR,
            "test": {
                "enum": ["print", "flash", "speak", "light", None],
                "description": "what a test-fire does to this device; null: it has no test",
            },
        }
    ),
    "LearnRequest": _obj(
        {"window": {"type": ["string", "null"], "description": "null ends learn mode"}},
        required=[],
    ),
    "AuditEntry": _obj(
        {
            "seq": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "type": _STR,
            "actor": _STR,
            "data": {"type": "object"},
        }
    ),
    "Audit": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "events": {"type": "array", "items": _ref("AuditEntry")},
            "next_after": _NINT,
        }
    ),
    "IssueRequest": _obj(
        {
            "theme": _STR,
            "priority": {
                "type": ["string", "null"],
                "description": "elderly, disabled, pregnant or a group the hall adds",
            },
            "id_number": {
                "type": ["string", "null"],
                "description": "18-character resident ID; validated, used for the elderly "
                "group and one-ticket-per-person, then kept only as a keyed hash",
            },
            "channel": {"type": "string", "description": "kiosk, staff, api ..."},
            "appointment_at": {
                "type": ["number", "null"],
                "description": "booked slot, epoch seconds",
            },
            "notify": {
                "type": ["string", "null"],
                "maxLength": 64,
                "description": "opaque contact from the applicant's channel (such as a WeChat "
                "openid) for the near-the-front and called notices; kept in memory only",
            },
        },
        required=["theme"],
    ),
    "CallRequest": _obj(
        {"ticket": {"type": ["string", "null"], "description": "ticket id or number"}},
        required=[],
    ),
    "ReasonRequest": _obj({"reason": _STR}, required=[]),
    "PauseRequest": _obj({"reason": _STR}, required=["reason"]),
    # Open, close, resume: the reason is optional (a clerk need not give one; the tablet does).
    "WindowReasonRequest": _obj({"reason": _STR}, required=[]),
    "TransferRequest": _obj({"theme": _NSTR, "window": _NSTR, "reason": _STR}, required=[]),
    "RatingRequest": _obj(
        {
            "score": {
                "type": "integer",
                "minimum": 1,
                "maximum": 5,
                "description": "5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意",
            }
        }
    ),
}

SCHEMAS["KioskPrinter"] = _obj(
    {
        "device": _STR,
        "can_print": {"type": "boolean"},
        "paper": {"type": "string", "enum": ["ok", "low", "out", "unknown"]},
        "state": _STR,
    }
)
SCHEMAS["OtherPrinter"] = _obj({"kiosk": _STR, "name_zh": _STR, "device": _STR})
SCHEMAS["Kiosk"] = _obj(
    {
        "id": _STR,
        "name_zh": _STR,
        "name_en": _STR,
        "printer": {"oneOf": [_ref("KioskPrinter"), {"type": "null"}]},
        "other_printers": {"type": "array", "items": _ref("OtherPrinter")},
    }
)
SCHEMAS["KioskTicketRequest"] = _obj(
    {
        "theme": _STR,
        "priority": _NSTR,
        "card": {"type": ["string", "null"], "description": "the token of an ID card read here"},
        "print": {"type": "boolean", "description": "false: a screen ticket, no paper"},
    },
    ["theme"],
)
SCHEMAS["KioskTicket"] = _obj(
    {
        "ticket": _ref("Ticket"),
        "printed": {"type": "boolean"},
        "printer": _STR,
        "reason": {"type": "string", "description": "why the ticket is on the screen"},
        "qr_url": _STR,
        "voided": {"type": "string", "description": "the number given up when the print failed"},
        "other_printers": {"type": "array", "items": _ref("OtherPrinter")},
    },
    ["ticket", "printed"],
)
SCHEMAS["TicketStatus"] = _obj(
    {
        "number": _STR,
        "theme": _STR,
        "theme_name_zh": _STR,
        "theme_name_en": _STR,
        "status": _STR,
        "priority": {"type": "boolean"},
        "position": _NINT,
        "ahead": _NINT,
        "estimated_wait_s": _NINT,
        "window": _NSTR,
        "window_name_zh": _NSTR,
        "window_name_en": _NSTR,
        "issued_at": {"type": "string", "format": "date-time"},
        "called_at": _TIME,
        "recalls": {"type": "integer"},
    }
)
SCHEMAS["ReprintRequest"] = _obj({"kiosk": _STR, "reason": _STR}, ["kiosk"])

_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key gets the first reply, never a second effect",
    "schema": {"type": "string", "maxLength": 128},
}
_ACTOR = {
    "name": "X-Actor",
    "in": "header",
    "required": False,
    "description": "Who a system signed in with a bearer token acts for, for the audit trail "
    "(ignored for a browser session, whose account is the actor)",
    "schema": {"type": "string", "maxLength": 64},
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Unreadable request",
        401: "Not signed in (no session cookie or bearer token, or it ended)",
        403: "Signed in, but not allowed to do this here (or a missing CSRF token)",
        429: "Too many failed sign-ins: wait for Retry-After seconds",
        404: "Not found",
        409: "Refused in the current state",
        413: "Body too large",
        422: "Invalid values",
        503: "Event log failed",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for c in codes
    }


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _write(
    summary: str,
    request: str | None,
    ok: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [*(params or []), _IDEMPOTENCY, _ACTOR],
        "responses": {**ok, **_errors(400, 404, 409, 413, 422, 503)},
    }
    if request is not None:
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _ref(request)}},
        }
    return op


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_TICKET = _path_param("ticket", "ticket id (20261128-A012) or today's number (A012)")
_WINDOW = _path_param("window", "window id")
_KIOSK = _path_param("kiosk", "kiosk id")
_LINK = _path_param("link", "a ticket's signed link, e.g. 20261128-A012.3f9a1c0b2d4e5f60")


def _html(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {
            "200": {"description": "The page", "content": {"text/html": {"schema": _STR}}},
            **_errors(404),
        },
    }


_WINDOW_OK = {"200": _json(_ref("WindowResult"), "The window (and its ticket) afterwards")}
_TICKET_OK = {"200": _json(_ref("Ticket"), "The ticket afterwards")}


def screen_route_modules() -> tuple[Any, ...]:
    """The modules that add their own routes and describe them (`add_routes`, `OPENAPI_PATHS`,
    `OPENAPI_SCHEMAS`); imported here, not at the top, as they use this module's helpers."""
    from . import access, appointments, calling, capacity, followups, manager, reports, technician

    return (access, appointments, calling, capacity, followups, manager, reports, technician)


@cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document."""
    window_actions = {
        "recall": (
            "Announce the called ticket again; past the recall limit it becomes a no-show",
            None,
        ),
        "start": ("The called applicant arrived: start service", None),
        "finish": ("Finish the current service", None),
        "no-show": ("The called applicant did not come (过号)", None),
        "hold": ("Set the current ticket aside; the window is free again", "ReasonRequest"),
        "pause": ("Pause the window with a reason", "PauseRequest"),
        "resume": ("Resume a paused window; a manager gives the reason", "WindowReasonRequest"),
        "open": ("Open a closed window; a manager gives the reason", "WindowReasonRequest"),
        "close": (
            "Close an idle or paused window; a manager gives the reason",
            "WindowReasonRequest",
        ),
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness for systemd and load balancers",
                "responses": {
                    "200": _json(_ref("Health"), "Healthy"),
                    "503": _json(_ref("Health"), "The event log failed"),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This OpenAPI 3.1 document",
                "responses": {"200": _json({"type": "object"}, "The document")},
            }
        },
        "/api/v1/devices": {
            "get": {
                "summary": "Every device with its health: state, last seen, frames, errors",
                "responses": {"200": _json({"type": "array", "items": _ref("Device")}, "Devices")},
            }
        },
        "/api/v1/devices/{device}/learn": {
            "post": {
                "summary": "Learn mode: a 433 MHz receiver binds the next unknown pad to a window",
                "parameters": [_path_param("device", "A device id, e.g. rf-receiver"), _ACTOR],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("LearnRequest")}},
                },
                "responses": {
                    "200": _json(_ref("Device"), "The receiver, with the window it learns for"),
                    **_errors(400, 404, 413, 422),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics: device health, queues, windows, the event log",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/hall": {
            "get": {
                "summary": "The hall and a compact live picture",
                "responses": {"200": _json(_ref("Hall"), "The hall")},
            }
        },
        "/api/v1/themes": {
            "get": {
                "summary": "Themes with waiting counts and estimated waits",
                "responses": {"200": _json({"type": "array", "items": _ref("Theme")}, "Themes")},
            }
        },
        "/api/v1/windows": {
            "get": {
                "summary": "Windows and what they are doing",
                "responses": {"200": _json({"type": "array", "items": _ref("Window")}, "Windows")},
            }
        },
        "/api/v1/windows/{window}": {
            "get": {
                "summary": "One window",
                "parameters": [_WINDOW],
                "responses": {"200": _json(_ref("Window"), "The window"), **_errors(404)},
            }
        },
        "/api/v1/windows/{window}/call": {
            "post": _write(
                "Call the next ticket the policy picks, or one named ticket",
                "CallRequest",
                {
                    "200": _json(_ref("CallResult"), "The called ticket and why it was chosen"),
                    "204": {"description": "Nobody this window serves is waiting"},
                },
                [_WINDOW],
            )
        },
        "/api/v1/tickets": {
            "get": {
                "summary": "Today's tickets; waiting ones in the order they will be called",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": [
                                "waiting",
                                "called",
                                "serving",
                                "finished",
                                "no_show",
                                "held",
                                "cancelled",
                            ],
                        },
                    }
                ],
                "responses": {
                    "200": _json({"type": "array", "items": _ref("Ticket")}, "Tickets"),
                    **_errors(422),
                },
            },
            "post": _write(
                "Issue a ticket",
                "IssueRequest",
                {"201": _json(_ref("Ticket"), "The new ticket with its place and wait")},
            ),
        },
        "/api/v1/tickets/{ticket}": {
            "get": {
                "summary": "A ticket's live status",
                "parameters": [_TICKET],
                "responses": {"200": _json(_ref("Ticket"), "The ticket"), **_errors(404)},
            }
        },
        "/api/v1/tickets/{ticket}/cancel": {
            "post": _write("Cancel a ticket", "ReasonRequest", _TICKET_OK, [_TICKET])
        },
        "/api/v1/tickets/{ticket}/transfer": {
            "post": _write(
                "Transfer a ticket to another theme or window, keeping its arrival and priority",
                "TransferRequest",
                _TICKET_OK,
                [_TICKET],
            )
        },
        "/api/v1/tickets/{ticket}/return": {
            "post": _write("A held ticket waits again", None, _TICKET_OK, [_TICKET])
        },
        "/api/v1/tickets/{ticket}/rating": {
            "post": _write("Rate the service, once", "RatingRequest", _TICKET_OK, [_TICKET])
        },
        "/api/v1/tickets/{ticket}/reprint": {
            "post": _write(
                "Print a waiting ticket again (补打) at a kiosk; audited once confirmed",
                "ReprintRequest",
                {"200": _json(_ref("KioskTicket"), "The ticket, printed again")},
                [_TICKET],
            )
        },
        "/api/v1/kiosks": {
            "get": {
                "summary": "Every kiosk with its printer and where else applicants can print",
                "responses": {"200": _json({"type": "array", "items": _ref("Kiosk")}, "Kiosks")},
            }
        },
        "/api/v1/kiosks/{kiosk}": {
            "get": {
                "summary": "One kiosk with its printer and where else applicants can print",
                "parameters": [_KIOSK],
                "responses": {"200": _json(_ref("Kiosk"), "The kiosk"), **_errors(404)},
            }
        },
        "/api/v1/kiosks/{kiosk}/tickets": {
            "post": _write(
                "Take a ticket at a kiosk: issued once its print is confirmed; when the print "
                "fails its number is voided and a screen ticket is issued instead",
                "KioskTicketRequest",
                {"201": _json(_ref("KioskTicket"), "The ticket, printed or on the screen")},
                [_KIOSK],
            )
        },
        "/api/v1/kiosks/{kiosk}/events": {
            "get": {
                "summary": "Server-sent events of one kiosk: `card` (masked, with a token for "
                "the ticket request), `scan`, `print_failed`",
                "parameters": [_KIOSK],
                "responses": {
                    "200": {
                        "description": "An endless text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(404),
                },
            }
        },
        "/api/v1/status/{link}": {
            "get": {
                "summary": "A ticket's own status by its signed link (from its QR code): that "
                "ticket only, nothing about anyone else",
                "parameters": [_LINK],
                "responses": {
                    "200": _json(_ref("TicketStatus"), "The ticket's status"),
                    **_errors(404),
                },
            }
        },
        "/api/v1/status/{link}/events": {
            "get": {
                "summary": "Server-sent `status` events of one ticket when it changes (at most "
                "once a second, and every 10 s); `expired` when its day ends",
                "parameters": [_LINK],
                "responses": {
                    "200": {
                        "description": "An endless text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(404),
                },
            }
        },
        "/api/v1/status/{link}/qr.svg": {
            "get": {
                "summary": "The ticket's QR code (its status page's address) as SVG",
                "parameters": [_LINK],
                "responses": {
                    "200": {
                        "description": "The QR code",
                        "content": {"image/svg+xml": {"schema": _STR}},
                    },
                    **_errors(404),
                },
            }
        },
        "/": {"get": _html("The start page: links to every screen")},
        "/display": {"get": _html("The hall display (综合屏)")},
        "/window/{window}": {
            "get": {**_html("A window's panel for its staff (窗口)"), "parameters": [_WINDOW]}
        },
        "/kiosk/{kiosk}": {
            "get": {**_html("A kiosk's touch screen (自助取号机)"), "parameters": [_KIOSK]}
        },
        "/t/{link}": {"get": {**_html("A ticket's live status page"), "parameters": [_LINK]}},
        "/ui/{path}": {
            "get": {
                "summary": "The screens' static files (CSS, scripts, images)",
                "parameters": [_path_param("path", "a file under kiosk_ui/")],
                "responses": {"200": {"description": "The file"}, **_errors(404)},
            }
        },
        "/api/v1/audit": {
            "get": {
                "summary": "The audit trail: every event of a day with when, who and what",
                "parameters": [
                    {
                        "name": "day",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "format": "date"},
                        "description": "business day, default today",
                    },
                    {
                        "name": "ticket",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "only this ticket's events (id or number)",
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "events after this seq (paging)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Audit"), "Events, oldest first"),
                    **_errors(422, 503),
                },
            }
        },
        "/api/v1/events": {
            "get": {
                "summary": "Server-sent events: the hall's events and `state` every 10 s; staff "
                "get each event whole, anyone else without actors, reasons, notes and alerts",
                "responses": {
                    "200": {
                        "description": "An endless text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    for action, (summary, request) in window_actions.items():
        paths[f"/api/v1/windows/{{window}}/{action}"] = {
            "post": _write(summary, request, _WINDOW_OK, [_WINDOW])
        }
    # The screens' own routes describe themselves beside their handlers.
    from . import capacity

    schemas = dict(SCHEMAS)
    for screen_routes in screen_route_modules():
        paths.update(screen_routes.OPENAPI_PATHS)
        schemas.update(screen_routes.OPENAPI_SCHEMAS)
    # A full theme's refusal carries its offer (ThemeFullError, described in capacity.py).
    for issuing in ("/api/v1/tickets", "/api/v1/kiosks/{kiosk}/tickets"):
        paths[issuing]["post"]["responses"]["409"] = capacity.FULL_RESPONSE
    # Any route may meet a missing, ended or unknown sign-in, or a role that may not use it.
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"] = {**_errors(401, 403), **operation["responses"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hall-controller API",
            "version": __version__,
            "description": "Queue controller of a one-door government service hall "
            '(DB44/T 2138-2018). Errors are JSON: {"error": {"code", "message", '
            '"details"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "hc_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{}, {"session": []}, {"token": []}],
    }
