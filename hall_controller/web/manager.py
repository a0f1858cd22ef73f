"""Routes of the manager tablet: the live hall, ticket and window actions with their reasons,
the policy settings, today's figures, the alerts, and the kiosks' need-help pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hall_controller.figures import HallWatch

from .access import allow
from .context import SERVICE_KEY, json_response, kiosks_of, reply_response, service_of
from .openapi import (
    _NINT,
    _NSTR,
    _STR,
    _TIME,
    _errors,
    _html,
    _json,
    _obj,
    _path_param,
    _ref,
    _write,
)
from .pages import page
from .validation import (
    BadRequest,
    actor_of,
    idempotency_key,
    json_object,
    optional_str,
)

WATCH_KEY: web.AppKey[HallWatch] = web.AppKey("hall_watch", HallWatch)
REASON_MAX = 200
# The policy settings a manager may send, besides "reason" (see core.model.POLICY_RANGES).
POLICY_FIELDS = (
    "priority_streak_limit",
    "priority_head_start_s",
    "aging_rate",
    "priority_max_wait_factor",
    "preference_bonus_s",
    "appointment_early_s",
    "appointment_late_s",
    "recall_limit",
    "max_wait_s",
)


def _reason(body: dict[str, Any]) -> str:
    """The reason a manager gives: required, so the audit trail says why."""
    reason = optional_str(body, "reason", max_len=REASON_MAX)
    if not reason:
        raise BadRequest("a reason is required: the audit trail records why", field="reason")
    return reason


# ----------------------------------------------------------------- the live hall


@allow("manager")
async def get_overview(request: web.Request) -> web.Response:
    """Every window with its current ticket and clerk, every theme's line and oldest wait."""
    return json_response(request.app[WATCH_KEY].overview())


# ----------------------------------------------------------------- tickets


@allow("manager")
async def prioritise(request: web.Request) -> web.Response:
    """Move a waiting ticket into a priority group ({"priority": id or null, "reason"})."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("priority", "reason"))
    if "priority" not in body:
        raise BadRequest(
            "priority is required: a priority group id, or null for a regular ticket",
            field="priority",
        )
    priority = optional_str(body, "priority", max_len=64) or None
    reply = await service_of(request).prioritise(
        request.match_info["ticket"], priority, _reason(body), actor=actor, key=key
    )
    return reply_response(reply)


# ----------------------------------------------------------------- the policy


@allow("manager")
async def get_policy(request: web.Request) -> web.Response:
    """The policy settings a manager may change: today's values, ranges and units."""
    return json_response(service_of(request).policy_view())


@allow("manager")
async def put_policy(request: web.Request) -> web.Response:
    """Change some policy settings live, with the reason; calls from now on follow them."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, (*POLICY_FIELDS, "reason"))
    reason = _reason(body)
    changes = {name: value for name, value in body.items() if name != "reason"}
    reply = await service_of(request).change_policy(changes, reason, actor=actor, key=key)
    return reply_response(reply)


# ----------------------------------------------------------------- figures and alerts


@allow("manager")
async def get_figures(request: web.Request) -> web.Response:
    """Today's figures: per theme, per hour, waits against target, ratings."""
    return json_response(await request.app[WATCH_KEY].figures())


@allow("manager")
async def get_alerts(request: web.Request) -> web.Response:
    """Help pages, waits near or over target, devices lost or alerting, overdue follow-ups."""
    return json_response(request.app[WATCH_KEY].alerts())


@allow("manager")
async def acknowledge_alert(request: web.Request) -> web.Response:
    """Acknowledge an alert, with an optional note ({"note"}); audited."""
    actor = actor_of(request)
    body = await json_object(request, ("note",))
    note = optional_str(body, "note", max_len=REASON_MAX) or ""
    alert = request.match_info["alert"]
    return json_response(await request.app[WATCH_KEY].acknowledge(alert, note, actor=actor))


@allow("kiosk", "manager")
async def kiosk_help(request: web.Request) -> web.Response:
    """A kiosk pages the floor staff (需要帮助): every manager tablet hears it at once."""
    key = idempotency_key(request)
    actor = actor_of(request)
    await json_object(request, ())
    body = await kiosks_of(request).ask_for_help(request.match_info["kiosk"], actor=actor, key=key)
    return json_response(body, status=202)


def add_routes(app: web.Application) -> None:
    """Add this screen's routes to the application."""

    app[WATCH_KEY] = HallWatch(app[SERVICE_KEY])
    app.router.add_get("/manager", allow("manager")(page("manager.html")))
    app.router.add_get("/api/v1/overview", get_overview)
    app.router.add_post("/api/v1/tickets/{ticket}/prioritise", prioritise)
    app.router.add_get("/api/v1/policy", get_policy)
    app.router.add_put("/api/v1/policy", put_policy)
    app.router.add_get("/api/v1/figures", get_figures)
    app.router.add_get("/api/v1/alerts", get_alerts)
    app.router.add_post("/api/v1/alerts/{alert}/ack", acknowledge_alert)
    app.router.add_post("/api/v1/kiosks/{kiosk}/help", kiosk_help)


# ----------------------------------------------------------------- the OpenAPI description

_SECONDS = {"type": "integer", "minimum": 0}
_NSECONDS = {"type": ["integer", "null"], "minimum": 0}
_RANGE = _obj(
    {
        "min": {"type": "number"},
        "max": {"type": "number"},
        "integer": {"type": "boolean"},
        "unit": {"type": "string", "enum": ["s", "calls", "recalls", "points/s", "x"]},
    }
)
_WAITS = {
    "called": {"type": "integer", "description": "tickets called today (first calls)"},
    "median_s": _NSECONDS,
    "p90_s": _NSECONDS,
    "max_s": _NSECONDS,
    "within_target": {"type": "integer", "description": "first calls within the maximum wait"},
    "within_share": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
}
_COUNTS = {
    "issued": {"type": "integer"},
    "waiting": {"type": "integer"},
    "at_window": {"type": "integer", "description": "called or being served now"},
    "held": {"type": "integer"},
    "served": {"type": "integer"},
    "no_show": {"type": "integer"},
    "cancelled": {"type": "integer"},
}
_SETTINGS = {
    "priority_streak_limit": {"type": "integer", "description": "priority calls in a row"},
    "priority_head_start_s": {"type": "integer", "description": "seconds"},
    "aging_rate": {"type": "number", "description": "score points per second waited"},
    "priority_max_wait_factor": {
        "type": "number",
        "description": "a priority ticket's maximum wait as a share of its theme's",
    },
    "preference_bonus_s": {"type": "integer", "description": "seconds"},
    "appointment_early_s": {"type": "integer", "description": "seconds"},
    "appointment_late_s": {"type": "integer", "description": "seconds"},
    "recall_limit": {"type": "integer"},
    "max_wait_s": {
        "type": "object",
        "description": "theme id -> a regular ticket's maximum wait in seconds",
        "additionalProperties": {"type": "integer"},
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "OverviewTicket": _obj(
        {
            "id": _STR,
            "number": _STR,
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "priority": _NSTR,
            "status": {"type": "string", "enum": ["called", "serving"]},
            "since": _TIME,
            "for_s": _NINT,
        }
    ),
    "OverviewWindow": _obj(
        {
            "window": _ref("Window"),
            "ticket": {"oneOf": [{"type": "null"}, _ref("OverviewTicket")]},
        }
    ),
    "OverviewTheme": _obj(
        {
            "id": _STR,
            "name_zh": _STR,
            "name_en": _STR,
            "prefix": _STR,
            "waiting": {"type": "integer"},
            "waiting_priority": {"type": "integer"},
            "max_wait_s": _SECONDS,
            "oldest": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "id": _STR,
                            "number": _STR,
                            "priority": _NSTR,
                            "waited_s": {"type": "integer"},
                        }
                    ),
                ]
            },
            "near_target": {"type": "integer"},
            "over_target": {"type": "integer"},
            "capacity": _ref("ThemeCapacity"),
        }
    ),
    "Overview": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "windows": {"type": "array", "items": _ref("OverviewWindow")},
            "themes": {"type": "array", "items": _ref("OverviewTheme")},
            "alerts": {"type": "integer", "description": "alerts not yet acknowledged"},
        }
    ),
    "PrioritiseRequest": _obj(
        {
            "priority": {
                "type": ["string", "null"],
                "description": "a priority group id; null: a regular ticket again",
            },
            "reason": _STR,
        }
    ),
    "Policy": _obj(
        {
            **_SETTINGS,
            "ranges": {"type": "object", "additionalProperties": _RANGE},
            "changed_at": _TIME,
            "changed_by": _NSTR,
        }
    ),
    "PolicyChange": _obj({**_SETTINGS, "reason": _STR}, required=["reason"]),
    "FigureTheme": _obj(
        {
            "id": _STR,
            "name_zh": _STR,
            "name_en": _STR,
            "max_wait_s": _SECONDS,
            **_COUNTS,
            **_WAITS,
        }
    ),
    "Figures": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "themes": {"type": "array", "items": _ref("FigureTheme")},
            "total": _obj({**_COUNTS, **_WAITS}),
            "hours": {
                "type": "array",
                "items": _obj(
                    {
                        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                        "arrivals": {"type": "integer"},
                        "calls": {"type": "integer"},
                    }
                ),
            },
            "ratings": _obj(
                {
                    "count": {"type": "integer"},
                    "mean": {"type": ["number", "null"]},
                    "scores": {
                        "type": "array",
                        "items": _obj(
                            {
                                "score": {"type": "integer", "minimum": 1, "maximum": 5},
                                "count": {"type": "integer"},
                            }
                        ),
                    },
                }
            ),
        }
    ),
    "Alert": _obj(
        {
            "id": _STR,
            "kind": {"type": "string", "enum": ["help", "wait", "device", "followup"]},
            "level": {"type": "string", "enum": ["critical", "warning"]},
            "since": _TIME,
            "subject": {
                "type": "string",
                "description": "the kiosk, theme, device or follow-up",
            },
            "text_zh": _STR,
            "text_en": _STR,
            "acknowledged": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {"at": {"type": "string", "format": "date-time"}, "by": _STR, "note": _STR}
                    ),
                ]
            },
        }
    ),
    "AckRequest": _obj({"note": _STR}, required=[]),
    "HelpPage": _obj(
        {
            "alert": _STR,
            "kiosk": _STR,
            "since": {"type": "string", "format": "date-time"},
            "paged": {"type": "boolean"},
        }
    ),
}

_WINDOW = _path_param("window", "window id")
_TICKET = _path_param("ticket", "ticket id (20261128-A012) or today's number (A012)")
_WINDOW_OK = {"200": _json(_ref("WindowResult"), "The window (and its ticket) afterwards")}

OPENAPI_PATHS: dict[str, Any] = {
    "/manager": {"get": _html("The manager tablet (大厅管理)")},
    "/api/v1/overview": {
        "get": {
            "summary": "The live hall: every window and its ticket, every theme's line",
            "responses": {"200": _json(_ref("Overview"), "The hall now")},
        }
    },
    "/api/v1/tickets/{ticket}/prioritise": {
        "post": _write(
            "Move a waiting ticket into a priority group (or back to regular), with the reason",
            "PrioritiseRequest",
            {"200": _json(_ref("Ticket"), "The ticket in its new place")},
            [_TICKET],
        )
    },
    "/api/v1/policy": {
        "get": {
            "summary": "The policy settings a manager may change, with ranges and units",
            "responses": {"200": _json(_ref("Policy"), "Today's policy")},
        },
        "put": _write(
            "Change policy settings live, with the reason; the next call follows them",
            "PolicyChange",
            {"200": _json(_ref("Policy"), "The policy afterwards")},
        ),
    },
    "/api/v1/figures": {
        "get": {
            "summary": "Today's figures: per theme, per hour, waits against target, ratings",
            "responses": {"200": _json(_ref("Figures"), "Today's figures"), **_errors(503)},
        }
    },
    "/api/v1/alerts": {
        "get": {
            "summary": "Help pages, waits near or past target, devices lost or alerting, "
            "poor ratings' follow-ups past a deadline",
            "responses": {
                "200": _json({"type": "array", "items": _ref("Alert")}, "Alerts, first first")
            },
        }
    },
    "/api/v1/alerts/{alert}/ack": {
        "post": _write(
            "Acknowledge an alert (once), with an optional note",
            "AckRequest",
            {"200": _json(_ref("Alert"), "The alert, acknowledged")},
            [_path_param("alert", "an alert id from GET /api/v1/alerts")],
        )
    },
    "/api/v1/kiosks/{kiosk}/help": {
        "post": _write(
            "A kiosk pages the floor staff (需要帮助); while unanswered, the same page again",
            None,
            {"202": _json(_ref("HelpPage"), "Paged: every manager tablet shows it")},
            [_path_param("kiosk", "kiosk id")],
        )
    },
}
