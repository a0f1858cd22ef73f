"""The efficiency evaluation report (效能评价报告) for the manager tablet: any day, week, month
or range of days, as HTML to read, or PDF and CSV to keep."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web

from hall_controller.reports import (
    FORMATS,
    MAX_DAYS,
    MEDIA_TYPES,
    FollowUpSection,
    FontMissing,
    PeriodError,
    ReportError,
    StoredEvent,
    build_report,
    file_name,
    find_cjk_font,
    range_period,
    render,
)
from hall_controller.services import ServiceUnavailable

from .access import ACCESS_KEY, allow
from .context import service_of
from .openapi import _STR, _errors
from .validation import BadRequest, did_you_mean

_PARAMETERS = ("from", "to", "format")
# One report is made at a time: a month's replay and a PDF take seconds of a small box's CPU,
# and a second press of the button should wait rather than double the load on the hall.
REPORTING_KEY: web.AppKey[asyncio.Lock] = web.AppKey("reporting", asyncio.Lock)


class ReportUnavailable(ServiceUnavailable):
    """The report cannot be made here (no font for the PDF, a log that does not replay): 503."""

    code = "report_unavailable"


@allow("manager")
async def efficiency_report(request: web.Request) -> web.StreamResponse:
    """The efficiency report for ?from=YYYY-MM-DD&to=YYYY-MM-DD (to defaults to from) as
    ?format=html (the default), pdf or csv, with a file name naming the hall and the period."""
    query = request.query
    unknown = [k for k in query if k not in _PARAMETERS]
    if unknown:
        raise BadRequest(
            f'unknown parameter "{unknown[0]}"{did_you_mean(unknown[0], _PARAMETERS)}',
            field=unknown[0],
        )
    first = query.get("from")
    if not first:
        raise BadRequest("from is required: the first day, YYYY-MM-DD", field="from")
    kind = query.get("format", "html")
    fmt = next((f for f in FORMATS if f == kind), None)
    if fmt is None:
        raise BadRequest(
            f"format must be one of {', '.join(FORMATS)}{did_you_mean(kind, FORMATS)}",
            field="format",
        )
    try:
        period = range_period(first, query.get("to"))
    except PeriodError as exc:
        raise BadRequest(exc.message, field=exc.field) from None
    try:
        # Before the replay: a box without the font says so at once, not after a year's days.
        font = find_cjk_font() if fmt == "pdf" else None
    except FontMissing as exc:
        raise ReportUnavailable(str(exc)) from exc
    service = service_of(request)
    accounts = request.app[ACCESS_KEY].settings.accounts
    names = {a.id: (a.name_zh, a.name_en) for a in accounts}
    # The service holds every day's follow-ups: callbacks and closes after the period count.
    followups = FollowUpSection(
        service.config,
        service.followup_outcomes(period.first.isoformat(), period.last.isoformat()),
        staff_names=names,
    )

    def days() -> Iterator[tuple[str, Sequence[StoredEvent]]]:
        # In the report's worker thread: each day is read from the running log as the replay
        # reaches it, so a long period is never held whole.
        for day in period.days:
            yield day, service.day_events_now(day, 0)

    async with request.app[REPORTING_KEY]:
        try:
            report = await asyncio.to_thread(
                build_report,
                service.config,
                period,
                days(),
                generated_at=service.now(),
                staff_names=names,
                extra_sections=[followups],
            )
            body = await asyncio.to_thread(render, report, fmt, font)
        except ReportError as exc:
            raise ReportUnavailable(str(exc)) from exc
    disposition = "inline" if fmt == "html" else "attachment"
    return web.Response(
        body=body,
        headers={
            "Content-Type": MEDIA_TYPES[fmt],
            "Content-Disposition": f'{disposition}; filename="{file_name(report, fmt)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_routes(app: web.Application) -> None:
    """Add the report's route to the application."""
    app[REPORTING_KEY] = asyncio.Lock()
    app.router.add_get("/api/v1/reports/efficiency", efficiency_report)


# ----------------------------------------------------------------- the OpenAPI description

_DAY = {"type": "string", "format": "date"}

OPENAPI_SCHEMAS: dict[str, Any] = {}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/reports/efficiency": {
        "get": {
            "summary": "The efficiency evaluation report (效能评价报告) of a day, week, month or "
            f"range of at most {MAX_DAYS} days, from the event log: HTML, PDF or CSV",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "required": True,
                    "schema": _DAY,
                    "description": "the first business day",
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "schema": _DAY,
                    "description": "the last business day, included (default: from)",
                },
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(FORMATS), "default": "html"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The report; Content-Disposition names the hall and the "
                    "period (HTML inline, PDF and CSV as attachments)",
                    "content": {
                        "text/html": {"schema": _STR},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": _STR},
                    },
                },
                **_errors(422, 503),
            },
        }
    },
}
