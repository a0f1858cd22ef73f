"""Transport failures: every OS or library error at a port or broker becomes one of these."""

from __future__ import annotations


class TransportError(Exception):
    """Base of transport failures; the message names the port or broker and what happened."""


class LinkDown(TransportError):
    """The port is missing, closed or unplugged, or the connection was refused."""


class LinkTimeout(TransportError):
    """A read, write or open did not finish in time."""
