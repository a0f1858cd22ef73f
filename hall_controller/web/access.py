"""Who may call what: each handler declares the roles it allows; the middleware enforces it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import structlog
from aiohttp import web
from yarl import URL

from hall_controller.access import (
    KIOSK_SESSION_S,
    SIGN_IN_ROLES,
    AccessControl,
    AccessRefused,
    NotSignedIn,
    Principal,
)
from hall_controller.core.errors import DomainError

from .context import json_response
from .pages import page
from .validation import (
    PRINCIPAL_KEY,
    BadRequest,
    did_you_mean,
    json_object,
    optional_str,
    required_str,
)

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# public: anyone on the hall network (the hall display, an applicant's own status link).
# kiosk: a kiosk signed in with its device token, for its own kiosk only.
# staff: a clerk signed in at one window with a PIN, for that window (and its ticket) only.
# manager, technician: people signed in with a password, for the whole hall.
Role = Literal["public", "kiosk", "staff", "manager", "technician"]
ROLES: tuple[Role, ...] = ("public", "kiosk", "staff", "manager", "technician")
ROLES_ATTRIBUTE = "allowed_roles"

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def allow(*roles: Role) -> Callable[[H], H]:
    """Declare the roles that may call a handler (staff and kiosks only for their own)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be some of {ROLES}, got {roles}")

    def mark(handler: H) -> H:
        setattr(handler, ROLES_ATTRIBUTE, frozenset(roles))
        return handler

    return mark


def allowed_roles(handler: object) -> frozenset[Role] | None:
    """The roles a handler declared, or None when it declared none."""
    roles: frozenset[Role] | None = getattr(handler, ROLES_ATTRIBUTE, None)
    return roles


# ----------------------------------------------------------------- enforcement and sessions

ACCESS_KEY: web.AppKey[AccessControl] = web.AppKey("access", AccessControl)
SESSION_COOKIE = "hc_session"
CSRF_COOKIE = "hc_csrf"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_SIGN_IN_FIELDS = ("role", "account", "secret", "window", "kiosk")


def principal_of(request: web.Request) -> Principal | None:
    """Who sent the request, as the access check found it (None: nobody signed in)."""
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    return principal


def require_role(request: web.Request, *roles: Role) -> Principal:
    """The signed-in principal when it has one of `roles` here; AccessRefused otherwise."""
    principal = principal_of(request)
    if principal is None:
        raise NotSignedIn("sign in first")
    if not principal.roles & set(roles):
        raise AccessRefused(f"this needs the role {' or '.join(roles)}")
    return principal


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find who sent the request, check the route's roles and, for writes, the CSRF token."""
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)  # no such route: the error middleware answers
    roles = _route_roles(request)
    try:
        principal, cookie_token = _authenticate(request)
        request[PRINCIPAL_KEY] = principal
        if "public" not in roles:
            _check_roles(request, principal, roles)
        if request.method in _UNSAFE_METHODS:
            _check_origin(request)
            if cookie_token is not None:
                _check_csrf(request, cookie_token)
    except AccessRefused:
        if request.method == "GET" and _wants_page(request):
            raise web.HTTPSeeOther(_sign_in_location(request)) from None
        raise
    return await handler(request)


def _route_roles(request: web.Request) -> frozenset[Role]:
    route = request.match_info.route
    if isinstance(route.resource, web.StaticResource):
        return frozenset({"public"})  # the screens' scripts and styles hold no data
    roles = allowed_roles(route.handler)
    if roles is None:
        # Deny by default: a route that forgot to declare is a bug the tests catch.
        log.error("route_without_roles", path=request.path)
        raise AccessRefused("this route declares no roles")
    return roles


def _authenticate(request: web.Request) -> tuple[Principal | None, str | None]:
    """(who, their session token if they came with a cookie)."""
    access = request.app[ACCESS_KEY]
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        principal = access.token_principal(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise NotSignedIn("unknown token: send Authorization: Bearer <token>")
        return principal, None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None, None
    principal = access.session_principal(cookie)
    return (principal, cookie) if principal is not None else (None, None)


def _check_roles(request: web.Request, principal: Principal | None, roles: frozenset[Role]) -> None:
    if principal is None:
        raise NotSignedIn("sign in first")
    for role in principal.roles & roles:
        if role == "staff" and not _staff_here(request, principal):
            continue
        if role == "kiosk" and request.match_info.get("kiosk", principal.kiosk) != principal.kiosk:
            continue
        return
    raise AccessRefused(
        f"{principal.actor} may not {request.method} {request.path}"
        f" (allowed: {', '.join(sorted(roles))})"
    )


def _staff_here(request: web.Request, principal: Principal) -> bool:
    """A clerk acts on their own window, and on the tickets at it."""
    window = request.match_info.get("window")
    if window is not None:
        return window == principal.window
    ticket = request.match_info.get("ticket")
    if ticket is not None:
        try:
            at = request.app[ACCESS_KEY].ticket_window(ticket)
        except DomainError:
            return True  # the handler answers 404 for a ticket that does not exist
        return at is not None and at == principal.window
    return True


def _check_origin(request: web.Request) -> None:
    """A browser write must come from a page of this controller (cross-site is refused)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site in ("cross-site", "same-site"):
            raise AccessRefused("cross-site requests are refused")
        return
    try:
        source = URL(origin)
    except ValueError:
        raise AccessRefused("a malformed Origin is refused") from None
    if source.host != request.url.host or source.port != request.url.port:
        raise AccessRefused(f"requests from {origin} are refused")


def _check_csrf(request: web.Request, token: str) -> None:
    presented = request.headers.get("X-CSRF-Token", "")
    if not request.app[ACCESS_KEY].csrf_matches(token, presented):
        raise AccessRefused("missing or wrong X-CSRF-Token: reload the page")


def _wants_page(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "") and not request.path.startswith("/api/")


def _sign_in_location(request: web.Request) -> str:
    return str(URL("/login").with_query(next=request.path_qs))


def _secure_cookies(request: web.Request) -> bool:
    """Secure cookies over TLS, and on the box itself (browsers treat localhost as secure)."""
    return request.secure or (request.url.host or "") in _LOOPBACK_HOSTS


def _set_session_cookies(
    request: web.Request, response: web.StreamResponse, token: str, *, lasting: bool
) -> None:
    access = request.app[ACCESS_KEY]
    max_age = int(KIOSK_SESSION_S) if lasting else None
    secure = _secure_cookies(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=max_age,
    )
    # Readable by the page's script, which sends it back as X-CSRF-Token on every write.
    response.set_cookie(
        CSRF_COOKIE,
        access.csrf_token(token),
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=max_age,
    )


def session_view(request: web.Request, principal: Principal | None) -> dict[str, Any]:
    """What a screen knows about its user: who, which role, where; and the sign-in hint."""
    settings = request.app[ACCESS_KEY].settings
    view: dict[str, Any] = {
        "signed_in": principal is not None,
        "hint_zh": settings.sign_in_hint_zh,
        "hint_en": settings.sign_in_hint_en,
    }
    if principal is not None:
        view.update(
            account=principal.account,
            name_zh=principal.name_zh,
            name_en=principal.name_en,
            roles=sorted(principal.roles),
            window=principal.window,
            kiosk=principal.kiosk,
            actor=principal.actor,
        )
    return view


@allow("public")
async def get_session(request: web.Request) -> web.Response:
    """Who this browser is signed in as (signed_in false when nobody), and the sign-in hint."""
    return json_response(session_view(request, principal_of(request)))


@allow("public")
async def sign_in(request: web.Request) -> web.Response:
    """Sign in: a clerk at a window with a PIN, a manager or technician, or a kiosk's token."""
    body = await json_object(request, _SIGN_IN_FIELDS)
    role = optional_str(body, "role", max_len=16)
    if role is not None and role not in SIGN_IN_ROLES:
        raise BadRequest(
            f"role must be one of {', '.join(SIGN_IN_ROLES)}{did_you_mean(role, SIGN_IN_ROLES)}",
            field="role",
        )
    kiosk = optional_str(body, "kiosk", max_len=32) or None
    if role == "kiosk" and kiosk is None:
        raise BadRequest("a kiosk signs in with its kiosk id", field="kiosk")
    account = kiosk if role == "kiosk" else required_str(body, "account", max_len=64)
    secret = body.get("secret")
    if not isinstance(secret, str) or not secret:
        raise BadRequest("secret (the PIN, password or token) is required", field="secret")
    assert account is not None
    access = request.app[ACCESS_KEY]
    token, principal = await access.sign_in(
        role=role,
        account=account,
        secret=secret,
        window=optional_str(body, "window", max_len=32) or None,
        kiosk=kiosk,
        remote=request.remote or "unknown",
    )
    response = json_response(session_view(request, principal))
    _set_session_cookies(request, response, token, lasting=role == "kiosk")
    return response


@allow("kiosk", "staff", "manager", "technician")
async def sign_out(request: web.Request) -> web.Response:
    """Sign out: the session ends (in the audit trail) and its cookies are cleared."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is not None:
        await request.app[ACCESS_KEY].sign_out(token)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


def _openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    from .openapi import _errors, _html, _json, _obj, _ref

    nstr = {"type": ["string", "null"]}
    schemas = {
        "Session": _obj(
            {
                "signed_in": {"type": "boolean"},
                "hint_zh": {"type": "string"},
                "hint_en": {"type": "string"},
                "account": {"type": "string"},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
                "roles": {"type": "array", "items": {"enum": list(SIGN_IN_ROLES)}},
                "window": nstr,
                "kiosk": nstr,
                "actor": {"type": "string"},
            },
            ["signed_in", "hint_zh", "hint_en"],
        ),
        "SignIn": _obj(
            {
                "role": {"enum": [*SIGN_IN_ROLES, None]},
                "account": {"type": "string", "maxLength": 64},
                "secret": {"type": "string", "description": "PIN, password or kiosk token"},
                "window": nstr,
                "kiosk": nstr,
            },
            ["secret"],
        ),
    }
    paths = {
        "/login": {"get": _html("The sign-in page (?next= the page to return to)")},
        "/api/v1/session": {
            "get": {
                "summary": "Who this browser is signed in as, and the hall's sign-in hint",
                "responses": {"200": _json(_ref("Session"), "The session")},
            },
            "post": {
                "summary": "Sign in (sets the hc_session and hc_csrf cookies)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SignIn")}},
                },
                "responses": {
                    "200": _json(_ref("Session"), "Signed in"),
                    **_errors(400, 404, 413, 422, 429, 503),
                },
            },
            "delete": {
                "summary": "Sign out (the session ends in the audit trail)",
                "responses": {"204": {"description": "Signed out"}, **_errors(503)},
            },
        },
    }
    return paths, schemas


def add_routes(app: web.Application) -> None:
    """The session routes and the sign-in page."""
    app.router.add_get("/login", allow("public")(page("login.html")))
    app.router.add_get("/api/v1/session", get_session)
    app.router.add_post("/api/v1/session", sign_in)
    app.router.add_delete("/api/v1/session", sign_out)


OPENAPI_PATHS, OPENAPI_SCHEMAS = _openapi()
