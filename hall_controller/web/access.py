"""Who may call what: each handler declares the roles it allows; the middleware enforces it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from aiohttp import web

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
