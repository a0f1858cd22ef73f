"""Routes of the technician console: devices and test-fires, device profiles, the recent log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hall_controller.services import ServiceUnavailable
from hall_controller.technician import LOG_LEVELS, LOG_LIMIT, MAX_PROFILE_CHARS, TechnicianService

from .access import allow
from .broadcast import dumps
from .context import only_parameters, query_int
from .openapi import _errors, _html, _json, _obj, _path_param, _ref
from .pages import page
from .validation import BadRequest, actor_of, did_you_mean, json_object, required_str

# Set by the composition root (app.py), with the profile folder, the devices and the log.
TECHNICIAN_KEY: web.AppKey[TechnicianService] = web.AppKey("technician", TechnicianService)
_LOG_PARAMETERS = ("limit", "level")


def _technician(request: web.Request) -> TechnicianService:
    technician = request.app.get(TECHNICIAN_KEY)
    if technician is None:
        raise ServiceUnavailable("this controller runs without the technician console")
    return technician


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


# ----------------------------------------------------------------- devices


@allow("technician", "manager")
async def get_device(request: web.Request) -> web.Response:
    """One device with its health and its last frames each way."""
    return _reply(_technician(request).device(request.match_info["device"]))


@allow("technician")
async def test_device(request: web.Request) -> web.Response:
    """Test-fire a device by its kind: print, flash, speak or light; logged with the actor."""
    actor = actor_of(request)
    await json_object(request, ())
    result = await _technician(request).test_fire(request.match_info["device"], actor=actor)
    return _reply(result)


# ----------------------------------------------------------------- profiles


@allow("technician")
async def list_profiles(request: web.Request) -> web.Response:
    """Every device profile in the hall's profile folder."""
    return _reply(await _technician(request).profiles())


@allow("technician")
async def get_profile(request: web.Request) -> web.Response:
    """One device profile's TOML text."""
    return _reply(await _technician(request).profile(request.match_info["name"]))


def _text(body: dict[str, Any]) -> str:
    return required_str(body, "text", max_len=MAX_PROFILE_CHARS)


@allow("technician")
async def validate_profile(request: web.Request) -> web.Response:
    """Check an edited profile ({"name", "text"}) without saving it."""
    body = await json_object(request, ("name", "text"))
    name = required_str(body, "name", max_len=64)
    return _reply(_technician(request).validate(name, _text(body)))


@allow("technician")
async def put_profile(request: web.Request) -> web.Response:
    """Save a profile ({"text"}) when it is valid; in force at the controller's next start."""
    actor = actor_of(request)
    body = await json_object(request, ("text",))
    technician = _technician(request)
    return _reply(await technician.save(request.match_info["name"], _text(body), actor=actor))


# ----------------------------------------------------------------- the log


@allow("technician")
async def get_log(request: web.Request) -> web.Response:
    """The controller's recent log lines, newest last: ?limit=1..500&level=warning."""
    only_parameters(request, _LOG_PARAMETERS)
    limit = query_int(request, "limit", 200, 1, LOG_LIMIT)
    level = request.query.get("level", "debug")
    if level not in LOG_LEVELS:
        raise BadRequest(
            f"level must be one of {', '.join(LOG_LEVELS)}{did_you_mean(level, LOG_LEVELS)}",
            field="level",
        )
    return _reply(_technician(request).log_lines(limit=limit, level=level))


def add_routes(app: web.Application) -> None:
    """Add this screen's routes to the application."""
    # The page holds no data: everything it shows comes from the API, which needs the role.
    app.router.add_get("/technician", allow("technician")(page("technician.html")))
    app.router.add_get("/api/v1/devices/{device}", get_device)
    app.router.add_post("/api/v1/devices/{device}/test", test_device)
    app.router.add_get("/api/v1/profiles", list_profiles)
    app.router.add_post("/api/v1/profiles/validate", validate_profile)
    app.router.add_get("/api/v1/profiles/{name}", get_profile)
    app.router.add_put("/api/v1/profiles/{name}", put_profile)
    app.router.add_get("/api/v1/log", get_log)


# ----------------------------------------------------------------- OpenAPI

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_STRS = {"type": "array", "items": _STR}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_DEVICE = _path_param("device", "A device id, e.g. w1-board")
_NAME = _path_param("name", "A profile's name: its file name without .toml, e.g. led-aa55-sum8")

OPENAPI_SCHEMAS: dict[str, Any] = {
    "DeviceTestResult": _obj(
        {
            "device": _STR,
            "action": {"enum": ["print", "flash", "speak", "light"]},
            "done": _STR,
            "actor": _STR,
            "at": {"type": "string", "format": "date-time"},
        }
    ),
    "ProfileSummary": _obj(
        {
            "name": _STR,
            "kind": _NSTR,
            "driver": _NSTR,
            "transport": _NSTR,
            "model": _NSTR,
            "valid": {"type": "boolean"},
            "problems": {"type": "integer"},
            "used_by": _STRS,
            "saved_since_start": {"type": "boolean"},
        }
    ),
    "ProfileList": _obj(
        {
            "folder": _STR,
            "writable": {"type": "boolean"},
            "takes_effect": {"enum": ["next_start"]},
            "profiles": {"type": "array", "items": _ref("ProfileSummary")},
        }
    ),
    "Profile": _obj(
        {
            "name": _STR,
            "file": _STR,
            "text": _STR,
            "used_by": _STRS,
            "saved_since_start": {"type": "boolean"},
            "takes_effect": {"enum": ["next_start"]},
        }
    ),
    "ProfileCheckRequest": _obj({"name": _STR, "text": _STR}),
    "ProfileText": _obj({"text": _STR}),
    "ProfileCheck": _obj(
        {
            "name": _STR,
            "ok": {"type": "boolean"},
            "problems": {**_STRS, "description": "`file: key: message` lines"},
            "profile": {"oneOf": [_ref("ProfileSummary"), {"type": "null"}]},
        }
    ),
    "ProfileSaved": _obj(
        {
            "name": _STR,
            "file": _STR,
            "saved": {"const": True},
            "takes_effect": {"enum": ["next_start"]},
            "used_by": _STRS,
        }
    ),
    "LogLine": _obj(
        {
            "at": _STR,
            "level": {"enum": list(LOG_LEVELS)},
            "logger": _STR,
            "event": _STR,
            "fields": {"type": "object", "additionalProperties": _STR},
        }
    ),
    "LogLines": _obj(
        {
            "kept": {"type": "integer", "description": "how many lines the controller keeps"},
            "lines": {"type": "array", "items": _ref("LogLine")},
        }
    ),
}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/technician": {"get": _html("The technician console (设备维护)")},
    "/api/v1/devices/{device}": {
        "get": {
            "summary": "One device with its health and its last frames each way",
            "parameters": [_DEVICE],
            "responses": {"200": _json(_ref("Device"), "The device"), **_errors(404)},
        }
    },
    "/api/v1/devices/{device}/test": {
        "post": {
            "summary": "Test-fire a device by its kind: print a test ticket, flash a display, "
            "speak a test sentence, light a pad; logged with the actor",
            "parameters": [_DEVICE],
            "responses": {
                "200": _json(_ref("DeviceTestResult"), "What was done"),
                **_errors(400, 404, 409, 413, 422, 503),
            },
        }
    },
    "/api/v1/profiles": {
        "get": {
            "summary": "Every device profile in the hall's profile folder",
            "responses": {"200": _json(_ref("ProfileList"), "The profiles"), **_errors(503)},
        }
    },
    "/api/v1/profiles/validate": {
        "post": {
            "summary": "Check an edited profile without saving it: its problems as "
            "`file: key: message` lines",
            "requestBody": _body("ProfileCheckRequest"),
            "responses": {
                "200": _json(_ref("ProfileCheck"), "Valid, or every problem"),
                **_errors(400, 413, 422, 503),
            },
        }
    },
    "/api/v1/profiles/{name}": {
        "get": {
            "summary": "One device profile's TOML text",
            "parameters": [_NAME],
            "responses": {
                "200": _json(_ref("Profile"), "The profile"),
                **_errors(404, 409, 422, 503),
            },
        },
        "put": {
            "summary": "Save a valid profile (written atomically into the hall's profile "
            "folder); in force at the controller's next start. 422 with the problems otherwise",
            "parameters": [_NAME],
            "requestBody": _body("ProfileText"),
            "responses": {
                "200": _json(_ref("ProfileSaved"), "Saved"),
                **_errors(400, 409, 413, 422, 503),
            },
        },
    },
    "/api/v1/log": {
        "get": {
            "summary": "The controller's recent log lines (ID numbers already masked)",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": LOG_LIMIT},
                },
                {
                    "name": "level",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": list(LOG_LEVELS)},
                    "description": "this level and above",
                },
            ],
            "responses": {"200": _json(_ref("LogLines"), "Oldest first"), **_errors(422, 503)},
        }
    },
}
