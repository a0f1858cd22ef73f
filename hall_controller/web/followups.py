"""Routes of ratings' after-care: poor ratings' follow-ups (差评整改) on the manager tablet, a
service's case number (办件编号) from its window, and a manager's override of the rule that a
window asks for each service's rating before it calls again."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hall_controller.core.followups import NOTE_MAX
from hall_controller.core.hall import CASE_NUMBER

from .access import allow
from .context import json_response, only_parameters, query_int, reply_response, service_of
from .openapi import _NINT, _NSTR, _STR, _TIME, _errors, _json, _obj, _path_param, _ref, _write
from .validation import (
    BadRequest,
    actor_of,
    did_you_mean,
    idempotency_key,
    json_object,
    optional_str,
)

REASON_MAX = 200
LIST_DEFAULT = 200
LIST_MAX = 1000
_STATUSES = ("open", "closed", "all")
_SCORE_WORDS = "1 (非常不满意) to 5 (非常满意)"


def _note(body: dict[str, Any], *, required: bool) -> str:
    note = optional_str(body, "note", max_len=NOTE_MAX) or ""
    if required and not note:
        raise BadRequest("a note is required: the follow-up records what was done", field="note")
    return note


# ----------------------------------------------------------------- follow-ups


@allow("manager")
async def list_followups(request: web.Request) -> web.Response:
    """Poor ratings' follow-ups, open ones first (?status=open|closed|all, ?limit=)."""
    only_parameters(request, ("status", "limit"))
    status = request.query.get("status", "all")
    if status not in _STATUSES:
        hint = did_you_mean(status, _STATUSES)
        raise BadRequest(f"status must be one of {', '.join(_STATUSES)}{hint}", field="status")
    limit = query_int(request, "limit", LIST_DEFAULT, 1, LIST_MAX)
    views = service_of(request).followups_view(None if status == "all" else status, limit)
    return json_response(views)


@allow("manager")
async def get_followup(request: web.Request) -> web.Response:
    """One follow-up: its deadlines as they stand now and everything done on it."""
    return json_response(service_of(request).followup_view(request.match_info["followup"]))


@allow("manager")
async def followup_callback(request: web.Request) -> web.Response:
    """Record the callback (回访) of a follow-up: {"note": what was said}."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("note",))
    reply = await service_of(request).followup_call_back(
        request.match_info["followup"], _note(body, required=True), actor=actor, key=key
    )
    return reply_response(reply)


@allow("manager")
async def followup_close(request: web.Request) -> web.Response:
    """Close a follow-up, the cause put right: {"note", "ask_rating"}; with ask_rating it
    waits for the applicant's new rating instead."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("note", "ask_rating"))
    ask_rating = body.get("ask_rating", False)
    if not isinstance(ask_rating, bool):
        raise BadRequest("ask_rating must be true or false", field="ask_rating")
    reply = await service_of(request).followup_close(
        request.match_info["followup"],
        _note(body, required=True),
        ask_rating,
        actor=actor,
        key=key,
    )
    return reply_response(reply)


@allow("manager")
async def followup_rating(request: web.Request) -> web.Response:
    """Record the applicant's new rating, told on a callback: {"score": 1..5, "note"}; a poor
    one keeps the follow-up open, any other closes it."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("score", "note"))
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise BadRequest(f"score must be an integer from {_SCORE_WORDS}", field="score")
    reply = await service_of(request).followup_rerate(
        request.match_info["followup"], score, _note(body, required=False), actor=actor, key=key
    )
    return reply_response(reply)


# ----------------------------------------------------------------- a window's service


@allow("staff", "manager")
async def window_service(request: web.Request) -> web.Response:
    """The window's current or just finished service: ticket, rating, case number, and whether
    its rating must be asked for before the next call."""
    return json_response(service_of(request).window_service_view(request.match_info["window"]))


@allow("staff", "manager")
async def case_number(request: web.Request) -> web.Response:
    """Record the case number (办件编号) of the window's current or just finished service."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("case_number",))
    number = optional_str(body, "case_number", max_len=64) or ""
    if not CASE_NUMBER.match(number):
        raise BadRequest(
            'case_number must be 1-40 letters, digits or "-", such as 44030020261128000123',
            field="case_number",
        )
    reply = await service_of(request).record_case_number(
        request.match_info["window"], number, actor=actor, key=key
    )
    return reply_response(reply)


@allow("manager")
async def rating_override(request: web.Request) -> web.Response:
    """Let the window call again without asking for its finished service's rating: {"reason"}
    (where the hall requires that rating first); audited."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("reason",))
    reason = optional_str(body, "reason", max_len=REASON_MAX)
    if not reason:
        raise BadRequest("a reason is required: the audit trail records why", field="reason")
    reply = await service_of(request).waive_rating(
        request.match_info["window"], reason, actor=actor, key=key
    )
    return reply_response(reply)


def add_routes(app: web.Application) -> None:
    """Add the follow-up, case number and rating override routes to the application."""
    app.router.add_get("/api/v1/followups", list_followups)
    app.router.add_get("/api/v1/followups/{followup}", get_followup)
    app.router.add_post("/api/v1/followups/{followup}/callback", followup_callback)
    app.router.add_post("/api/v1/followups/{followup}/close", followup_close)
    app.router.add_post("/api/v1/followups/{followup}/rating", followup_rating)
    app.router.add_get("/api/v1/windows/{window}/service", window_service)
    app.router.add_post("/api/v1/windows/{window}/case-number", case_number)
    app.router.add_post("/api/v1/windows/{window}/rating-override", rating_override)


# ----------------------------------------------------------------- the OpenAPI description

_WINDOW = _path_param("window", "window id")
_FOLLOWUP = _path_param("followup", "a follow-up id, e.g. fu-20261128-A012")
_SCORE = {"type": "integer", "minimum": 1, "maximum": 5}
_NSCORE = {"type": ["integer", "null"], "minimum": 1, "maximum": 5}
_DEADLINE = _obj(
    {
        "due": {"type": "string", "format": "date-time"},
        "left_s": {
            "type": ["integer", "null"],
            "description": "seconds left (negative: overdue by that much); null once done",
        },
        "state": {"type": "string", "enum": ["met", "missed", "pending"]},
        "overdue": {"type": "boolean", "description": "past due and not done"},
        "done_at": _TIME,
        "by": _NSTR,
        "note": _NSTR,
    }
)

OPENAPI_SCHEMAS: dict[str, Any] = {
    "FollowUp": _obj(
        {
            "id": _STR,
            "ticket_id": _STR,
            "number": _STR,
            "day": {"type": "string", "format": "date"},
            "theme": _STR,
            "theme_name_zh": _STR,
            "theme_name_en": _STR,
            "window": _NSTR,
            "window_name_zh": _NSTR,
            "window_name_en": _NSTR,
            "clerk": {"type": ["string", "null"], "description": "signed in when it was rated"},
            "score": _SCORE,
            "score_zh": _STR,
            "score_en": _STR,
            "case_number": _NSTR,
            "status": {
                "type": "string",
                "enum": ["open", "called_back", "awaiting_rating", "closed"],
            },
            "opened_at": {"type": "string", "format": "date-time"},
            "opened_by": _STR,
            "callback": _DEADLINE,
            "rectification": _DEADLINE,
            "rating_asked": {"type": "boolean", "description": "put right, new rating asked"},
            "latest_score": _NSCORE,
            "reopened": {"type": "integer", "description": "poor new ratings so far"},
            "overdue": {"type": "boolean"},
            "history": {
                "type": "array",
                "items": _obj(
                    {
                        "kind": {
                            "type": "string",
                            "enum": [
                                "opened",
                                "called_back",
                                "rectified",
                                "rerated",
                                "case_number",
                            ],
                        },
                        "at": {"type": "string", "format": "date-time"},
                        "by": _STR,
                        "note": _STR,
                        "score": _NSCORE,
                    }
                ),
            },
        }
    ),
    "FollowUpNote": _obj({"note": {"type": "string", "maxLength": NOTE_MAX}}),
    "FollowUpClose": _obj(
        {
            "note": {"type": "string", "maxLength": NOTE_MAX, "description": "what was put right"},
            "ask_rating": {
                "type": "boolean",
                "description": "ask the applicant to rate again: the follow-up stays open until "
                "a rating that passes (default false: closed now)",
            },
        },
        required=["note"],
    ),
    "FollowUpRating": _obj(
        {
            "score": {**_SCORE, "description": "5 非常满意 ... 1 非常不满意"},
            "note": {"type": "string", "maxLength": NOTE_MAX},
        },
        required=["score"],
    ),
    "WindowService": _obj(
        {
            "window": _STR,
            "ticket": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "id": _STR,
                            "number": _STR,
                            "status": _STR,
                            "rating": _NINT,
                            "rating_zh": _NSTR,
                            "rating_en": _NSTR,
                            "case_number": _NSTR,
                            "followup": {
                                "type": ["string", "null"],
                                "description": "the follow-up its poor rating opened",
                            },
                        }
                    ),
                ],
                "description": "the ticket called or served here, else the one just finished",
            },
            "require_before_next": {
                "type": "boolean",
                "description": "the hall requires each service's rating to be asked for "
                "before the window calls again",
            },
            "rating_required": {
                "type": "boolean",
                "description": "the window may not call until it asks for this rating (409 "
                "rating_required), or a manager overrides",
            },
            "waived": {"type": "boolean", "description": "a manager let it go unasked"},
        }
    ),
    "CaseNumberRequest": _obj(
        {
            "case_number": {
                "type": "string",
                "pattern": "^[A-Za-z0-9-]{1,40}$",
                "description": "办件编号, e.g. 44030020261128000123",
            }
        }
    ),
    "RatingOverrideRequest": _obj({"reason": {"type": "string", "maxLength": REASON_MAX}}),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/followups": {
        "get": {
            "summary": "Poor ratings' follow-ups (差评整改), open ones first (soonest deadline "
            "first), then closed ones (latest first)",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(_STATUSES)},
                    "description": "open, closed or all (default)",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": LIST_MAX},
                    "description": f"at most this many (default {LIST_DEFAULT})",
                },
            ],
            "responses": {
                "200": _json({"type": "array", "items": _ref("FollowUp")}, "The follow-ups"),
                **_errors(422),
            },
        }
    },
    "/api/v1/followups/{followup}": {
        "get": {
            "summary": "One follow-up, its deadlines as they stand and everything done on it",
            "parameters": [_FOLLOWUP],
            "responses": {"200": _json(_ref("FollowUp"), "The follow-up"), **_errors(404)},
        }
    },
    "/api/v1/followups/{followup}/callback": {
        "post": _write(
            "Record the callback (回访) of a follow-up, with what was said (409 once closed)",
            "FollowUpNote",
            {"200": _json(_ref("FollowUp"), "The follow-up afterwards")},
            [_FOLLOWUP],
        )
    },
    "/api/v1/followups/{followup}/close": {
        "post": _write(
            "Close a follow-up with a note of what was put right (整改完成), or with ask_rating "
            "keep it until the applicant's new rating passes",
            "FollowUpClose",
            {"200": _json(_ref("FollowUp"), "The follow-up afterwards")},
            [_FOLLOWUP],
        )
    },
    "/api/v1/followups/{followup}/rating": {
        "post": _write(
            "Record the applicant's new rating for a follow-up (told on a callback): 不满意 or "
            "非常不满意 keeps it open, any other closes it",
            "FollowUpRating",
            {"200": _json(_ref("FollowUp"), "The follow-up afterwards")},
            [_FOLLOWUP],
        )
    },
    "/api/v1/windows/{window}/service": {
        "get": {
            "summary": "The window's current or just finished service: its ticket, rating and "
            "case number, and whether its rating must be asked for before the next call",
            "parameters": [_WINDOW],
            "responses": {"200": _json(_ref("WindowService"), "The service"), **_errors(404)},
        }
    },
    "/api/v1/windows/{window}/case-number": {
        "post": _write(
            "Record the case number (办件编号) of the window's current or just finished service "
            "(409 when it has none)",
            "CaseNumberRequest",
            {"200": _json(_ref("WindowService"), "The service with its case number")},
            [_WINDOW],
        )
    },
    "/api/v1/windows/{window}/rating-override": {
        "post": _write(
            "Let the window call again without asking for its finished service's rating, "
            "where the hall requires it ([ratings] require_before_next), with the reason "
            "(manager; 409 when nothing is owed)",
            "RatingOverrideRequest",
            {"200": _json(_ref("WindowService"), "The service, waived")},
            [_WINDOW],
        )
    },
}
