"""The REST API under /api/v1, server-sent events and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import qrcode
import qrcode.constants
import qrcode.image.svg
import structlog
from aiohttp import web

from hall_controller.access import AccessControl, AccessRefused
from hall_controller.core.errors import Conflict, DomainError, InvalidCommand, NotFound
from hall_controller.core.model import TicketStatus
from hall_controller.kiosks import KioskService
from hall_controller.services import (
    WINDOW_ACTIONS,
    HallService,
    IdempotencyKeyReused,
    ServiceError,
    ServiceUnavailable,
)
from hall_controller.web.broadcast import ScreenBroadcast, sse_frame
from hall_controller.web.metrics import render_metrics

from .access import ACCESS_KEY, access_middleware, allow, principal_of, require_role
from .context import (
    KIOSKS_KEY,
    SERVICE_KEY,
    json_response,
    query_day,
    query_int,
    reply_response,
    service_of,
)
from .openapi import openapi_document, screen_route_modules
from .pages import UI_DIR, UI_DIR_KEY, page
from .validation import (
    BadRequest,
    actor_of,
    did_you_mean,
    idempotency_key,
    json_object,
    optional_number,
    optional_str,
    required_str,
)

log = structlog.get_logger(__name__)

SCREENS_KEY: web.AppKey[ScreenBroadcast] = web.AppKey("screens", ScreenBroadcast)
# Where a ticket's contact for notices goes (ticket id, contact); absent when the hall has no
# notifier, and then a contact given with a ticket is not kept.
CONTACTS_KEY: web.AppKey[Callable[[str, str], None]] = web.AppKey("contacts")
# A contact is an opaque id from the applicant's channel (such as a WeChat openid).
_CONTACT = re.compile(r"^[\x21-\x7e]{1,64}$")
# A status page hears about its ticket at most this often (a burst of calls is one update).
STATUS_EVERY_S = 1.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Seconds between periodic `state` messages on the event stream (also a keep-alive).
STATE_INTERVAL_S = 10.0
# Who gets the hall's events whole on /api/v1/events (a kiosk or a display gets the public ones).
STAFF_ROLES = frozenset({"staff", "manager", "technician"})


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    """The one error shape of the API: {"error": {"code", "message", "details"}}."""
    return json_response(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )


_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (InvalidCommand, 422),
    (Conflict, 409),
]


_BAD_REQUEST_CODES = {400: "bad_request", 404: "not_found", 413: "too_large"}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into a JSON 4xx, and anything unexpected into a logged JSON 500."""
    try:
        return await handler(request)
    except AccessRefused as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        return response
    except BadRequest as exc:
        details = {"field": exc.field} if exc.field else {}
        code = _BAD_REQUEST_CODES.get(exc.status, "invalid")
        return error_response(exc.status, code, exc.message, **details)
    except DomainError as exc:
        status = next((s for cls, s in _DOMAIN_STATUS if isinstance(exc, cls)), 409)
        return error_response(status, exc.code, exc.message, **exc.details)
    except IdempotencyKeyReused as exc:
        return error_response(422, exc.code, exc.message)
    except ServiceUnavailable as exc:
        return error_response(503, exc.code, exc.message)
    except ServiceError as exc:
        return error_response(500, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"no such resource: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return error_response(500, "internal", "internal error; the request changed nothing")


# ----------------------------------------------------------------- reads


@allow("public")
async def healthz(request: web.Request) -> web.Response:
    """200 while the controller can take writes; 503 once its event log has failed."""
    service = service_of(request)
    hall = service.current()
    if service.failure is not None:
        return json_response({"status": "failed", "reason": service.failure}, status=503)
    return json_response(
        {"status": "ok", "hall": service.config.id, "day": hall.day, "version": hall.version}
    )


@allow("technician", "manager")
async def list_devices(request: web.Request) -> web.Response:
    """Every device and its health."""
    return json_response(service_of(request).devices_view())


@allow("technician")
async def learn_remote(request: web.Request) -> web.Response:
    """A 433 MHz receiver binds the next unknown wireless pad to {"window"}; null stops it."""
    actor = actor_of(request)
    body = await json_object(request, ("window",))
    window = optional_str(body, "window", max_len=32)
    device = request.match_info["device"]
    return json_response(service_of(request).learn_remote(device, window, actor=actor))


@allow("technician", "manager")
async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus text format: device health, waiting tickets, window states, the log."""
    return web.Response(
        text=render_metrics(service_of(request)),
        content_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
        charset="utf-8",
    )


@allow("public")
async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return json_response(openapi_document())


@allow("public")
async def get_hall(request: web.Request) -> web.Response:
    """The hall's identity and a compact live picture."""
    service = service_of(request)
    config = service.config
    return json_response(
        {
            "id": config.id,
            "name_zh": config.name_zh,
            "name_en": config.name_en,
            "timezone": config.timezone,
            "priority_groups": [
                {"id": g.id, "name_zh": g.name_zh, "name_en": g.name_en, "min_age": g.min_age}
                for g in config.priority_groups
            ],
            "state": service.state_view(),
        }
    )


@allow("public")
async def list_themes(request: web.Request) -> web.Response:
    """Every theme with waiting counts, the wait a new ticket can expect and its capacity."""
    service = service_of(request)
    await service.read_days_ahead()  # a full theme offers a slot of the days ahead
    return json_response(service.themes_view())


@allow("public")
async def list_windows(request: web.Request) -> web.Response:
    """Every window and what it is doing."""
    return json_response(service_of(request).windows_view())


@allow("public")
async def get_window(request: web.Request) -> web.Response:
    """One window and what it is doing."""
    return json_response(service_of(request).window_view(request.match_info["window"]))


@allow("staff", "manager")
async def list_tickets(request: web.Request) -> web.Response:
    """Today's tickets, optionally filtered by status (waiting ones in calling order)."""
    raw = request.query.get("status")
    status = None
    if raw is not None:
        names = [s.value for s in TicketStatus]
        if raw not in names:
            raise BadRequest(
                f"status must be one of {', '.join(names)}{did_you_mean(raw, names)}",
                field="status",
            )
        status = TicketStatus(raw)
    return json_response(service_of(request).tickets_view(status))


@allow("staff", "manager")
async def get_ticket(request: web.Request) -> web.Response:
    """One ticket's live status."""
    return json_response(service_of(request).ticket_view(request.match_info["ticket"]))


_AUDIT_PARAMETERS = ("day", "ticket", "after", "limit")
_TICKET = re.compile(r"^(\d{8}-)?[A-Za-z]{1,2}\d{3,6}$")


@allow("manager")
async def get_audit(request: web.Request) -> web.Response:
    """The audit trail of a business day, optionally of one ticket, paged by seq."""
    unknown = [k for k in request.query if k not in _AUDIT_PARAMETERS]
    if unknown:
        raise BadRequest(
            f'unknown parameter "{unknown[0]}"{did_you_mean(unknown[0], _AUDIT_PARAMETERS)}',
            field=unknown[0],
        )
    day = query_day(request)
    ticket = request.query.get("ticket")
    if ticket is not None and not _TICKET.match(ticket):
        raise BadRequest("ticket must be a ticket id or number such as A012", field="ticket")
    body = await service_of(request).audit_view(
        day=day,
        ticket=ticket,
        after=query_int(request, "after", 0, 0, 2**62),
        limit=query_int(request, "limit", 200, 1, 1000),
    )
    return json_response(body)


# ----------------------------------------------------------------- writes


# Not kiosks: a kiosk issues at itself, through its printer (POST /api/v1/kiosks/{kiosk}/tickets).
@allow("staff", "manager")
async def issue_ticket(request: web.Request) -> web.Response:
    """Issue a ticket for a theme, with an optional priority group or resident ID number."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(
        request, ("theme", "priority", "id_number", "channel", "appointment_at", "notify")
    )
    contact = optional_str(body, "notify", max_len=64) or None
    if contact is not None and not _CONTACT.match(contact):
        raise BadRequest("notify must be 1-64 printable ASCII characters", field="notify")
    reply = await service_of(request).issue_ticket(
        theme=required_str(body, "theme", max_len=64),
        priority=optional_str(body, "priority", max_len=64) or None,
        id_number=optional_str(body, "id_number", max_len=32) or None,
        channel=optional_str(body, "channel", max_len=32) or "api",
        appointment_at=optional_number(body, "appointment_at"),
        actor=actor,
        key=key,
    )
    register = request.app.get(CONTACTS_KEY)
    if contact is not None and register is not None and reply.status == 201:
        register(reply.body["id"], contact)
    return reply_response(reply)


@allow("staff", "manager")
async def ticket_action(request: web.Request) -> web.Response:
    """cancel / transfer / return / rating for one ticket."""
    key = idempotency_key(request)
    actor = actor_of(request)
    ticket = request.match_info["ticket"]
    action = request.match_info["action"]
    service = service_of(request)
    if action == "cancel":
        body = await json_object(request, ("reason",))
        reply = await service.ticket_action(
            ticket, "cancel", actor=actor, reason=optional_str(body, "reason") or "", key=key
        )
    elif action == "transfer":
        body = await json_object(request, ("theme", "window", "reason"))
        reply = await service.ticket_action(
            ticket,
            "transfer",
            actor=actor,
            to_theme=optional_str(body, "theme", max_len=64) or None,
            to_window=optional_str(body, "window", max_len=64) or None,
            reason=optional_str(body, "reason") or "",
            key=key,
        )
    elif action == "return":
        await json_object(request, ())
        reply = await service.ticket_action(ticket, "return", actor=actor, key=key)
    elif action == "rating":
        body = await json_object(request, ("score",))
        score = body.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise BadRequest(
                "score must be an integer from 1 (非常不满意) to 5 (非常满意)", field="score"
            )
        reply = await service.ticket_action(ticket, "rate", actor=actor, score=score, key=key)
    else:
        actions = ("cancel", "transfer", "return", "rating")
        raise BadRequest(f'no ticket action "{action}"{did_you_mean(action, actions)}', status=404)
    return reply_response(reply)


@allow("kiosk", "manager")
async def reprint_ticket(request: web.Request) -> web.Response:
    """Reprint (补打) a waiting ticket at a kiosk's printer; a kiosk at its own printer only."""
    principal = require_role(request, "kiosk", "manager")
    body = await json_object(request, ("kiosk", "reason"))
    kiosk_id = required_str(body, "kiosk", max_len=32)
    if "manager" not in principal.roles and kiosk_id != principal.kiosk:
        raise AccessRefused(f"kiosk {principal.kiosk} reprints at its own printer only")
    result = await request.app[KIOSKS_KEY].reprint(
        request.match_info["ticket"],
        kiosk_id=kiosk_id,
        reason=optional_str(body, "reason") or "补打",
        actor=actor_of(request),
    )
    return json_response(result)


@allow("staff", "manager")
async def window_call(request: web.Request) -> web.Response:
    """The window calls its next ticket, or {"ticket": id-or-number}; 204 when nobody waits."""
    key = idempotency_key(request)
    actor = actor_of(request)
    body = await json_object(request, ("ticket",))
    reply = await service_of(request).call(
        request.match_info["window"],
        ticket=optional_str(body, "ticket", max_len=64) or None,
        actor=actor,
        key=key,
    )
    return reply_response(reply)


# The window actions that take a reason: pause needs one; a manager gives one for the others.
_WITH_REASON = ("pause", "hold", "open", "close", "resume")


@allow("staff", "manager")
async def window_action(request: web.Request) -> web.Response:
    """recall / start / finish / no-show / hold / pause / resume / open / close."""
    key = idempotency_key(request)
    actor = actor_of(request)
    action = request.match_info["action"]
    if action not in WINDOW_ACTIONS:
        options = ("call", *WINDOW_ACTIONS)
        raise BadRequest(f'no window action "{action}"{did_you_mean(action, options)}', status=404)
    body = await json_object(request, ("reason",) if action in _WITH_REASON else ())
    reason = optional_str(body, "reason")
    if action == "pause" and not reason:
        raise BadRequest("a pause needs a reason (break, meeting, ...)", field="reason")
    reply = await service_of(request).window_action(
        request.match_info["window"], action, actor=actor, reason=reason, key=key
    )
    return reply_response(reply)


# ----------------------------------------------------------------- live events


@allow("public")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the hall's events as they happen, and the state every 10 s.

    Staff, managers and technicians get each event whole; anyone else (a hall display) gets
    the events a public screen may show, without actors, reasons or notes. Sign-ins are in
    the audit trail only.
    """
    service = service_of(request)
    principal = principal_of(request)
    staff = principal is not None and bool(principal.roles & STAFF_ROLES)
    response = await _event_stream_response(request)
    try:
        async with request.app[SCREENS_KEY].screen(staff=staff) as queue:
            await response.write(sse_frame("state", service.state_view()))
            while (frame := await queue.get()) is not None:
                await response.write(frame)
            # None: it fell behind, or the controller is stopping: the client reconnects.
    except ConnectionError:
        return response  # the display went away (switched off, rebooted): nothing to report
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def _event_stream_response(request: web.Request) -> web.StreamResponse:
    """A started text/event-stream response (not cached, not buffered by a proxy)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response


# ----------------------------------------------------------------- kiosks


@allow("public")
async def list_kiosks(request: web.Request) -> web.Response:
    """Every kiosk, its printer, and where else applicants can print."""
    return json_response(request.app[KIOSKS_KEY].views())


@allow("public")
async def get_kiosk(request: web.Request) -> web.Response:
    """One kiosk, its printer, and where else applicants can print."""
    return json_response(request.app[KIOSKS_KEY].view(request.match_info["kiosk"]))


@allow("kiosk", "manager")
async def kiosk_ticket(request: web.Request) -> web.Response:
    """A ticket at a kiosk: printed and confirmed, or on the screen when it cannot be."""
    key = idempotency_key(request)
    actor = actor_of(request)
    kiosk = request.match_info["kiosk"]
    body = await json_object(request, ("theme", "priority", "card", "print"))
    printed = body.get("print", True)
    if not isinstance(printed, bool):
        raise BadRequest("print must be true or false", field="print")
    result = await request.app[KIOSKS_KEY].issue(
        kiosk,
        theme=required_str(body, "theme", max_len=64),
        priority=optional_str(body, "priority", max_len=64) or None,
        card=optional_str(body, "card", max_len=64) or None,
        printed=printed,
        actor=actor,
        key=key,
    )
    return json_response(result, status=201)


@allow("kiosk", "manager")
async def kiosk_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events of one kiosk: cards read and codes scanned there, failed prints."""
    kiosks = request.app[KIOSKS_KEY]
    kiosk = request.match_info["kiosk"]
    kiosks.kiosk(kiosk)  # 404 before the stream starts
    response = await _event_stream_response(request)
    try:
        async with kiosks.subscribe(kiosk) as queue:
            await response.write(sse_frame("kiosk", kiosks.view(kiosk)))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), STATE_INTERVAL_S)
                except TimeoutError:
                    await response.write(sse_frame("kiosk", kiosks.view(kiosk)))
                    continue
                if item is None:
                    break
                await response.write(sse_frame(item["event"], item))
    except ConnectionError:
        return response
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


# ----------------------------------------------------------------- a ticket's own status


@allow("public")
async def ticket_status(request: web.Request) -> web.Response:
    """A ticket's own status, by its signed link: that ticket only."""
    return json_response(service_of(request).status_view(request.match_info["link"]))


@allow("public")
async def ticket_status_events(request: web.Request) -> web.StreamResponse:
    """Server-sent `status` events of one ticket, when it changes (at most once a second)."""
    service = service_of(request)
    link = request.match_info["link"]
    view = service.status_view(link)  # 404 before the stream starts
    response = await _event_stream_response(request)
    loop = asyncio.get_running_loop()
    try:
        async with service.bus.subscribe() as queue:
            await response.write(sse_frame("status", view))
            sent_at = loop.time()
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), STATE_INTERVAL_S)
                except TimeoutError:
                    item = None
                else:
                    if item is None:
                        break  # fell behind, or the controller is stopping: it reconnects
                    # Coalesce a burst of hall events into one look at the ticket a second.
                    await asyncio.sleep(max(0.0, sent_at + STATUS_EVERY_S - loop.time()))
                    while not queue.empty():
                        if queue.get_nowait() is None:
                            return response
                try:
                    fresh = service.status_view(link)
                except NotFound:
                    await response.write(sse_frame("expired", {}))
                    break  # the business day rolled over: the link has ended
                if fresh != view or item is None:
                    view = fresh
                    await response.write(sse_frame("status", view))
                    sent_at = loop.time()
    except ConnectionError:
        return response
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


@allow("public")
async def ticket_qr_svg(request: web.Request) -> web.Response:
    """The ticket's QR code (its status page's address) as SVG, for a screen ticket."""
    service = service_of(request)
    ticket_id = service.ticket_for_link(request.match_info["link"])  # 404 for a wrong link
    svg = await asyncio.to_thread(_qr_svg, service.status_url(ticket_id))
    return web.Response(
        body=svg, content_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"}
    )


def _qr_svg(text: str) -> bytes:
    """`text` as a QR code in SVG (error correction M, as on the printed ticket)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(text)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    data: bytes = image.to_string(encoding="unicode").encode()
    return data


# ----------------------------------------------------------------- pages


def build_app(
    service: HallService,
    kiosks: KioskService | None = None,
    *,
    access_control: AccessControl | None = None,
    ui_dir: Path = UI_DIR,
) -> web.Application:
    """The aiohttp application serving the API and the screens for one hall.

    Without `access_control`, nobody can sign in: only the public routes answer.
    """
    app = web.Application(
        middlewares=[errors_middleware, access_middleware], client_max_size=64 * 1024
    )
    if access_control is None:
        access_control = AccessControl.nobody(service)
    app[ACCESS_KEY] = access_control
    app[SERVICE_KEY] = service
    app[KIOSKS_KEY] = kiosks if kiosks is not None else KioskService(service)
    app[UI_DIR_KEY] = ui_dir
    screens = ScreenBroadcast(service, lambda: STATE_INTERVAL_S)
    app[SCREENS_KEY] = screens

    async def start_screens(_: web.Application) -> None:
        await screens.start()
        await app[ACCESS_KEY].start()

    async def stop_screens(_: web.Application) -> None:
        await app[ACCESS_KEY].close()
        await screens.stop()

    app.on_startup.append(start_screens)
    app.on_cleanup.append(stop_screens)
    app.router.add_get("/", allow("public")(page("index.html")))
    app.router.add_get("/display", allow("public")(page("display.html")))
    app.router.add_get("/kiosk/{kiosk}", allow("kiosk", "manager")(page("kiosk.html")))
    app.router.add_get("/window/{window}", allow("staff", "manager")(page("window.html")))
    app.router.add_get("/t/{link}", allow("public")(page("status.html")))
    if ui_dir.is_dir():
        app.router.add_static("/ui", ui_dir, append_version=False)
    else:
        log.warning("screens_missing", ui_dir=str(ui_dir))
    # Before the generic /{action} routes below, which would otherwise take their paths.
    for screen_routes in screen_route_modules():
        screen_routes.add_routes(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/api/v1/devices", list_devices)
    app.router.add_post("/api/v1/devices/{device}/learn", learn_remote)
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    app.router.add_get("/api/v1/hall", get_hall)
    app.router.add_get("/api/v1/themes", list_themes)
    app.router.add_get("/api/v1/windows", list_windows)
    app.router.add_get("/api/v1/windows/{window}", get_window)
    app.router.add_post("/api/v1/windows/{window}/call", window_call)
    app.router.add_post("/api/v1/windows/{window}/{action}", window_action)
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_post("/api/v1/tickets", issue_ticket)
    app.router.add_get("/api/v1/tickets/{ticket}", get_ticket)
    app.router.add_post("/api/v1/tickets/{ticket}/reprint", reprint_ticket)
    app.router.add_post("/api/v1/tickets/{ticket}/{action}", ticket_action)
    app.router.add_get("/api/v1/events", event_stream)
    app.router.add_get("/api/v1/audit", get_audit)
    app.router.add_get("/api/v1/kiosks", list_kiosks)
    app.router.add_get("/api/v1/kiosks/{kiosk}", get_kiosk)
    app.router.add_post("/api/v1/kiosks/{kiosk}/tickets", kiosk_ticket)
    app.router.add_get("/api/v1/kiosks/{kiosk}/events", kiosk_events)
    app.router.add_get("/api/v1/status/{link}", ticket_status)
    app.router.add_get("/api/v1/status/{link}/events", ticket_status_events)
    app.router.add_get("/api/v1/status/{link}/qr.svg", ticket_qr_svg)
    return app
