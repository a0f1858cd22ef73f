"""Routes of the calling screens: the emergency, the hall display's settings and voice, and a
window panel's next tickets and rating requests."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .access import allow, principal_of
from .context import json_response, only_parameters, query_int, reply_response, service_of
from .openapi import _errors, _json, _obj, _path_param, _ref, _write
from .validation import (
    BadRequest,
    actor_of,
    idempotency_key,
    json_object,
    optional_str,
    required_str,
)

EMERGENCY_MESSAGE_MAX = 200
NEXT_DEFAULT = 5
NEXT_MAX = 20


# ----------------------------------------------------------------- the emergency


@allow("public")
async def get_emergency(request: web.Request) -> web.Response:
    """Whether an emergency (or a drill) is declared, with its message and since when (and, for
    staff, by whom)."""
    view = service_of(request).emergency_view()
    principal = principal_of(request)
    if principal is None or not principal.roles & {"staff", "manager", "technician"}:
        view["by"] = None  # the public see what is happening, not which account declared it
    return json_response(view)


@allow("manager")
async def start_emergency(request: web.Request) -> web.Response:
    """Declare an emergency or a drill: {"message", "drill"}; no new tickets until it ends."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("message", "drill"))
    message = required_str(body, "message", max_len=EMERGENCY_MESSAGE_MAX)
    drill = body.get("drill", False)
    if not isinstance(drill, bool):
        raise BadRequest("drill must be true or false", field="drill")
    reply = await service_of(request).start_emergency(message, drill, actor=actor, key=key)
    return reply_response(reply)


@allow("manager")
async def end_emergency(request: web.Request) -> web.Response:
    """End the declared emergency or drill."""
    key = idempotency_key(request)
    actor = actor_of(request)
    await json_object(request, ())
    return reply_response(await service_of(request).end_emergency(actor=actor, key=key))


# ----------------------------------------------------------------- the hall display


@allow("public")
async def get_display(request: web.Request) -> web.Response:
    """The hall display's settings: its notice line, and whether and how it speaks calls."""
    return json_response(service_of(request).display_view())


@allow("public")
async def call_audio(request: web.Request) -> web.Response:
    """A call made today, ?ticket=A012&window=3, spoken by the edge box, as a WAV."""
    only_parameters(request, ("ticket", "window"))
    ticket = request.query.get("ticket", "")
    window = request.query.get("window", "")
    if not ticket or len(ticket) > 32:
        raise BadRequest("ticket must be a ticket number such as A012", field="ticket")
    if not window or len(window) > 32:
        raise BadRequest("window must be a window id such as 3", field="window")
    audio = await service_of(request).call_audio(ticket, window)
    # The same call sounds the same all day: a display may keep it (a recall replays it).
    return web.Response(
        body=audio, content_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"}
    )


@allow("public")
async def emergency_audio(request: web.Request) -> web.Response:
    """The declared emergency's message spoken by the edge box, as a WAV (404: none)."""
    only_parameters(request, ())
    audio = await service_of(request).emergency_audio()
    # The message may change with the next emergency: a display asks again each time.
    return web.Response(body=audio, content_type="audio/wav", headers={"Cache-Control": "no-store"})


# ----------------------------------------------------------------- a window's panel


@allow("staff", "manager")
async def next_tickets(request: web.Request) -> web.Response:
    """The next tickets this window would get, in the policy's order with each one's rule."""
    only_parameters(request, ("count",))
    count = query_int(request, "count", NEXT_DEFAULT, 1, NEXT_MAX)
    return json_response(service_of(request).next_view(request.match_info["window"], count))


@allow("staff", "manager")
async def get_rating_request(request: web.Request) -> web.Response:
    """The ticket whose rating this window asked for and still waits for (null: none)."""
    return json_response(service_of(request).rating_request_view(request.match_info["window"]))


@allow("staff", "manager")
async def request_rating(request: web.Request) -> web.Response:
    """Ask the applicant to rate the service in progress or just finished at this window."""
    key = idempotency_key(request)
    actor = actor_of(request)
    await json_object(request, ())
    reply = await service_of(request).request_rating(
        request.match_info["window"], actor=actor, key=key
    )
    return reply_response(reply)


@allow("staff", "manager")
async def continue_visit(request: web.Request) -> web.Response:
    """Send the window's applicant on to the visit's next stage: {"theme", "window"?,
    "reason"?}; the same ticket waits there keeping its arrival time and priority."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("theme", "window", "reason"))
    reply = await service_of(request).continue_visit(
        request.match_info["window"],
        to_theme=required_str(body, "theme", max_len=64),
        to_window=optional_str(body, "window", max_len=32),
        reason=optional_str(body, "reason") or "",
        actor=actor,
        key=key,
    )
    return reply_response(reply)


def add_routes(app: web.Application) -> None:
    """Add this screen's routes to the application."""
    app.router.add_get("/api/v1/emergency", get_emergency)
    app.router.add_post("/api/v1/emergency", start_emergency)
    app.router.add_delete("/api/v1/emergency", end_emergency)
    app.router.add_get("/api/v1/display", get_display)
    app.router.add_get("/api/v1/voice/call.wav", call_audio)
    app.router.add_get("/api/v1/voice/emergency.wav", emergency_audio)
    app.router.add_get("/api/v1/windows/{window}/next", next_tickets)
    app.router.add_get("/api/v1/windows/{window}/rating-request", get_rating_request)
    app.router.add_post("/api/v1/windows/{window}/rating-request", request_rating)
    app.router.add_post("/api/v1/windows/{window}/continue", continue_visit)


# ----------------------------------------------------------------- the OpenAPI description

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_WINDOW = _path_param("window", "window id")


def _query(name: str, schema: dict[str, Any], description: str, required: bool) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


OPENAPI_SCHEMAS: dict[str, Any] = {
    "Emergency": _obj(
        {
            "active": {"type": "boolean"},
            "message": _NSTR,
            "drill": {"type": "boolean"},
            "since": {"type": ["string", "null"], "format": "date-time"},
            "by": {"type": ["string", "null"], "description": "who declared it"},
        }
    ),
    "ContinueRequest": _obj(
        {
            "theme": {"type": "string", "description": "the next stage's theme, e.g. pickup"},
            "window": {
                "type": ["string", "null"],
                "description": "one window of that theme to wait for (default: any)",
            },
            "reason": {"type": "string", "maxLength": 200},
        },
        required=["theme"],
    ),
    "EmergencyRequest": _obj(
        {
            "message": {
                "type": "string",
                "maxLength": EMERGENCY_MESSAGE_MAX,
                "description": "what the hall display shows over everything",
            },
            "drill": {"type": "boolean", "description": "a drill (演练), marked as such"},
        },
        required=["message"],
    ),
    "DisplaySettings": _obj(
        {
            "notice_zh": _NSTR,
            "notice_en": _NSTR,
            "voice": {"type": "boolean", "description": "the display speaks each call"},
            "voice_audio": {
                "type": "boolean",
                "description": "the controller renders the calls (GET /api/v1/voice/call.wav); "
                "false: the display's browser speaks them itself",
            },
            "emergency_repeat_s": {
                "type": "number",
                "description": "a speaking display says an emergency's message again this often",
            },
        }
    ),
    "NextTicket": _obj(
        {
            "id": _STR,
            "number": _STR,
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "priority": _NSTR,
            "target_window": _NSTR,
            "waited_s": {"type": "integer"},
            "rule": _STR,
            "explanation": _STR,
        }
    ),
    "NextTickets": _obj(
        {
            "window": _STR,
            "status": _STR,
            "tickets": {"type": "array", "items": _ref("NextTicket")},
        }
    ),
    "RatingRequestState": _obj(
        {
            "window": _STR,
            "ticket": {
                "oneOf": [{"type": "null"}, _ref("WindowTicket")],
                "description": "the ticket whose rating the window asked for and waits for",
            },
            "rateable": {
                "oneOf": [{"type": "null"}, _ref("WindowTicket")],
                "description": "the ticket a request would be about now (in service, or "
                "finished here since the window's last call, and not rated)",
            },
        }
    ),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/emergency": {
        "get": {
            "summary": "Whether an emergency or a drill is declared",
            "responses": {"200": _json(_ref("Emergency"), "The emergency, or active: false")},
        },
        "post": _write(
            "Declare an emergency or a drill (manager): the hall display shows the message over "
            "everything and no new ticket is issued until it ends (409 while one is declared)",
            "EmergencyRequest",
            {"200": _json(_ref("Emergency"), "The emergency now declared")},
        ),
        "delete": _write(
            "End the emergency or drill (manager; 409 when none is declared)",
            None,
            {"200": _json(_ref("Emergency"), "No emergency any more")},
        ),
    },
    "/api/v1/display": {
        "get": {
            "summary": "The hall display's settings: its notice line, whether it speaks calls",
            "responses": {"200": _json(_ref("DisplaySettings"), "The settings")},
        }
    },
    "/api/v1/voice/call.wav": {
        "get": {
            "summary": "A call made today spoken by the edge box (请 A012 号 到 3 号窗口), as "
            "a WAV; 404 when there was no such call or the controller renders no call audio",
            "parameters": [
                _query("ticket", _STR, "the ticket's number, e.g. A012", True),
                _query("window", _STR, "the window that called it", True),
            ],
            "responses": {
                "200": {
                    "description": "The spoken call",
                    "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_errors(404, 422, 503),
            },
        }
    },
    "/api/v1/voice/emergency.wav": {
        "get": {
            "summary": "The declared emergency's message spoken by the edge box (紧急通知：... or "
            "演练：...), as a WAV; 404 when none is declared or the controller renders no audio",
            "responses": {
                "200": {
                    "description": "The spoken message",
                    "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_errors(404, 422, 503),
            },
        }
    },
    "/api/v1/windows/{window}/next": {
        "get": {
            "summary": "The next tickets this window would get if it called one after the "
            "other now, in the policy's order with each one's rule (nothing changes)",
            "parameters": [
                _WINDOW,
                _query(
                    "count",
                    {"type": "integer", "minimum": 1, "maximum": NEXT_MAX},
                    f"how many (default {NEXT_DEFAULT})",
                    False,
                ),
            ],
            "responses": {
                "200": _json(_ref("NextTickets"), "The next tickets, first one first"),
                **_errors(404, 422),
            },
        }
    },
    "/api/v1/windows/{window}/continue": {
        "post": _write(
            "End the window's service and send the applicant on to the visit's next stage "
            "(intake -> pick-up, reception -> window): the same ticket waits in the theme (for "
            "one window if given) with its arrival time and priority kept",
            "ContinueRequest",
            {"200": _json(_ref("WindowResult"), "The window, free again, and the ticket")},
            [_WINDOW],
        ),
    },
    "/api/v1/windows/{window}/rating-request": {
        "get": {
            "summary": "The ticket whose rating the window asked for and still waits for",
            "parameters": [_WINDOW],
            "responses": {
                "200": _json(_ref("RatingRequestState"), "The request, or ticket: null"),
                **_errors(404),
            },
        },
        "post": _write(
            "Ask the applicant to rate the service in progress or just finished at the window: "
            "its rating pad shows its prompt until the rating or the window's next call",
            None,
            {"200": _json(_ref("RatingRequestState"), "The request now standing")},
            [_WINDOW],
        ),
    },
}
