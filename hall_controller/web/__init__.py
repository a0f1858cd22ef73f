"""The HTTP surface: REST API under /api/v1, server-sent events, health."""
