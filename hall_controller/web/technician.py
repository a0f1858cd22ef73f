"""Routes of the technician screen (filled in below)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# Merged into the API's OpenAPI document by openapi.openapi_document().
OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}


def add_routes(app: web.Application) -> None:
    """Add this screen's routes to the application."""
