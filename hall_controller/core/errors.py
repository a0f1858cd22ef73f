"""The core's refusals: each says in the hall's words why a command cannot be carried out."""

from __future__ import annotations


class DomainError(Exception):
    """A command the hall refuses; nothing changed."""

    code = "refused"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """The ticket, window or theme named in a command does not exist today."""

    code = "not_found"


class InvalidCommand(DomainError):
    """The command itself is malformed or names values outside what the hall allows."""

    code = "invalid"


class Conflict(DomainError):
    """The command does not fit the current state (e.g. finishing a ticket never called)."""

    code = "conflict"


class ThemeUnavailable(Conflict):
    """The theme is closed, outside its hours or has reached its daily cap."""

    code = "theme_unavailable"
