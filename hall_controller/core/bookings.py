"""Appointments (预约, DB44/T 2138 9.5 and 10.2.5): bookings of a theme and a time slot, their
check-in at a kiosk, and the bookings nobody came for.

A booking belongs to the business day of its slot and is an event of that day's log. It names
the applicant by a booking code, or by the keyed hash of an ID number (never the number), or
both. Checked in from `appointment_early` before its slot, it gives a ticket that counts as an
appointment (`appointment_at` = the slot, which the policy calls first while it is due); checked
in after `appointment_late` past its slot it gives a walk-in ticket with the booking's priority
group and is marked late. A booking not checked in by then is recorded as missed when the
controller notices (`AppointmentMissed`, with the moment it was noticed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .errors import Conflict, InvalidCommand

# Booking codes: letters and digits, compared without regard to case.
CODE_SHAPE = re.compile(r"^[A-Z0-9]{4,32}$")


class BookingStatus(StrEnum):
    """Where a booking is: booked, then checked in (on time or late), missed or cancelled."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    LATE = "late"  # checked in after the late window: served as a walk-in
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Booking:
    """One appointment of the day and what became of it."""

    id: str
    theme: str
    slot_at: float
    code: str | None
    person_hash: str | None
    priority: str | None
    channel: str
    booked_at: float
    status: BookingStatus = BookingStatus.BOOKED
    ticket_id: str | None = None
    checked_in_at: float | None = None
    closed_at: float | None = None  # when it was cancelled or recorded as missed


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What a booking system asks for: a theme, a slot and who (a code and/or a keyed hash)."""

    theme: str
    slot_at: float
    code: str | None = None
    person_hash: str | None = None
    priority: str | None = None
    channel: str = "api"


@dataclass(frozen=True, slots=True)
class BookingProblem:
    """Why one booking of a batch is refused: its place in the batch, the field, the words."""

    index: int
    field: str
    message: str
    conflict: bool = False  # the request is well formed but clashes with the day's bookings


class BookingsRefused(InvalidCommand):
    """A batch of bookings refused as a whole: every refused booking with its reason."""

    code = "invalid_rows"

    def __init__(self, problems: tuple[BookingProblem, ...]) -> None:
        count = len(problems)
        super().__init__(
            f"{count} booking{'s' if count != 1 else ''} refused; nothing was booked",
            count=count,
        )
        self.problems = problems


class AppointmentTooEarly(Conflict):
    """A check-in before the appointment's early window opens: come back at `come_back_at`."""

    code = "too_early"


def normalise_code(raw: str) -> str:
    """A booking code as the hall keeps it (upper case); InvalidCommand when badly shaped."""
    code = raw.strip().upper()
    if not CODE_SHAPE.match(code):
        raise InvalidCommand(
            "a booking code is 4 to 32 letters and digits (A-Z, 0-9)", field="code"
        )
    return code


def booking_id_of(day: str, serial: int) -> str:
    """A booking's id: its business day and its place in the day's bookings (20261128-bk001)."""
    return f"{day.replace('-', '')}-bk{serial:03d}"
