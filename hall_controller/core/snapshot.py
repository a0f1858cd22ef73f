"""A day's state as a plain dict and back, so a restart need not replay the whole day."""

from __future__ import annotations

import dataclasses
import operator
from datetime import tzinfo
from typing import Any

from .bookings import Booking, BookingStatus
from .events import Candidate
from .hall import (
    MISSED_KEPT,
    Acknowledgement,
    Emergency,
    Hall,
    HelpPage,
    ServiceStats,
    Ticket,
    WindowState,
)
from .model import ACTIVE_TICKET_STATUSES, HallConfig, Policy, TicketStatus, WindowStatus

# 2: windows carry their signed-in clerk.
SNAPSHOT_FORMAT = 2

_TICKET_FIELDS = [f.name for f in dataclasses.fields(Ticket)]
_WINDOW_FIELDS = [f.name for f in dataclasses.fields(WindowState)]
_ticket_row = operator.attrgetter(*_TICKET_FIELDS)


class SnapshotMismatch(ValueError):
    """The snapshot was written by another format or for another hall layout."""


def to_snapshot(hall: Hall) -> dict[str, Any]:
    """The whole day's state as JSON-ready data."""
    # One tuple per ticket; candidates are named tuples and status a str enum, so the rows go
    # to JSON as they are: a day of 10,000 tickets costs milliseconds, not a copy per field.
    tickets = [_ticket_row(ticket) for ticket in hall.tickets.values()]
    return {
        "format": SNAPSHOT_FORMAT,
        "day": hall.day,
        "version": hall.version,
        "policy": dataclasses.asdict(hall.policy),
        "ticket_fields": _TICKET_FIELDS,
        "tickets": tickets,
        "windows": [[getattr(w, n) for n in _WINDOW_FIELDS] for w in hall.windows.values()],
        "serials": dict(hall.serials),
        "service": {k: [v.count, v.total_s] for k, v in hall.service.items()},
        "emergency": dataclasses.astuple(hall.emergency) if hall.emergency else None,
        "rating_requests": dict(hall.rating_requests),
        "last_called": dict(hall.last_called),
        "alerts": {
            "help": [dataclasses.astuple(page) for page in hall.help_pages.values()],
            "acknowledged": {k: dataclasses.astuple(a) for k, a in hall.acknowledged.items()},
            "policy_changed": hall.policy_changed,
        },
        "bookings": [dataclasses.astuple(booking) for booking in hall.bookings.values()],
        "case_numbers": dict(hall.case_numbers),
        "rating_waivers": dict(hall.rating_waivers),
    }


def from_snapshot(config: HallConfig, tz: tzinfo, data: dict[str, Any]) -> Hall:
    """Rebuild a day's state from `to_snapshot` data; SnapshotMismatch when it does not fit."""
    if data.get("format") != SNAPSHOT_FORMAT or data.get("ticket_fields") != _TICKET_FIELDS:
        raise SnapshotMismatch("snapshot format differs from this version")
    hall = Hall.new_day(config, data["day"], tz)
    policy = dict(data["policy"])
    # JSON keeps the themes' maximum waits as arrays: back to the pairs Policy holds.
    policy["theme_max_wait_s"] = tuple((t, int(s)) for t, s in policy.get("theme_max_wait_s", ()))
    hall.policy = Policy(**policy)
    status_at = _TICKET_FIELDS.index("status")
    candidates_at = _TICKET_FIELDS.index("candidates")
    for row in data["tickets"]:
        values = list(row)
        values[status_at] = TicketStatus(values[status_at])
        values[candidates_at] = tuple(Candidate(*c) for c in values[candidates_at])
        ticket = Ticket(**dict(zip(_TICKET_FIELDS, values, strict=True)))
        if ticket.theme not in hall.serials:
            raise SnapshotMismatch(f"snapshot ticket {ticket.number} has unknown theme")
        hall.tickets[ticket.id] = ticket
        if ticket.status is TicketStatus.WAITING:
            hall.book.add(ticket.queue_entry(), ticket.target_window)
        if ticket.status in ACTIVE_TICKET_STATUSES:
            hall._hold_person(ticket)
    for row in data["windows"]:
        window = WindowState(**dict(zip(_WINDOW_FIELDS, row, strict=True)))
        window.status = WindowStatus(window.status)
        if window.id not in hall.windows:
            raise SnapshotMismatch(f"snapshot window {window.id} is not in this hall")
        hall.windows[window.id] = window
    hall.serials.update(data["serials"])
    for theme, (count, total) in data["service"].items():
        hall.service[theme] = ServiceStats(count, total)
    # Keys added after the format: an older snapshot without them still loads.
    emergency = data.get("emergency")
    hall.emergency = Emergency(*emergency) if emergency else None
    hall.rating_requests = dict(data.get("rating_requests") or {})
    alerts = data.get("alerts") or {}
    hall.help_pages = {row[0]: HelpPage(*row) for row in alerts.get("help", ())}
    hall.acknowledged = {k: Acknowledgement(*a) for k, a in alerts.get("acknowledged", {}).items()}
    changed = alerts.get("policy_changed")
    hall.policy_changed = (changed[0], changed[1]) if changed else None
    last_called = data.get("last_called")
    if last_called is None:  # an older snapshot: each window's last call, from the tickets
        last_called = {}
        called = [t for t in hall.tickets.values() if t.called_at is not None and t.window]
        for ticket in sorted(called, key=lambda t: (t.called_at or 0.0, t.id)):
            last_called[ticket.window] = ticket.id
    hall.last_called = dict(last_called)
    # The latest no-shows are the tickets themselves, in the order they went.
    missed = [t for t in hall.tickets.values() if t.status is TicketStatus.NO_SHOW]
    missed.sort(key=lambda t: (t.finished_at or 0.0, t.id))
    hall.missed = [t.id for t in missed[-MISSED_KEPT:]]
    for row in data.get("bookings") or ():
        booking = Booking(*row)
        booking.status = BookingStatus(booking.status)
        hall.bookings[booking.id] = booking
        if booking.code is not None and booking.status is not BookingStatus.CANCELLED:
            hall.booking_codes[booking.code] = booking.id
    hall.case_numbers = dict(data.get("case_numbers") or {})
    hall.rating_waivers = dict(data.get("rating_waivers") or {})
    hall.version = data["version"]
    return hall
