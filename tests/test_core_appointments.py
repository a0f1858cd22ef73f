"""Appointments in the core: booking, check-in on time, too early or late, missed, and replay."""

from __future__ import annotations

import dataclasses
import json
from datetime import time

import pytest

from hall_controller.core.bookings import (
    AppointmentTooEarly,
    BookingRequest,
    BookingsRefused,
    BookingStatus,
)
from hall_controller.core.errors import Conflict, InvalidCommand, NotFound
from hall_controller.core.events import (
    AppointmentBooked,
    AppointmentCheckedIn,
    AppointmentMissed,
    Event,
    TicketCalled,
    TicketIssued,
    TicketReserved,
)
from hall_controller.core.hall import Hall
from hall_controller.core.model import OpeningPeriod, TicketStatus
from hall_controller.core.snapshot import from_snapshot, to_snapshot

from core_fixtures import ACTOR, T0, assert_refused, local, make_config, new_hall, replay, state

SLOT = local(10, 30)


def booked(
    hall: Hall,
    code: str | None = "ab12cd",
    *,
    slot_at: float = SLOT,
    person_hash: str | None = None,
    priority: str | None = None,
) -> str:
    request = BookingRequest(
        theme="A", slot_at=slot_at, code=code, person_hash=person_hash, priority=priority
    )
    (event,) = hall.book_appointment(request, at=T0, actor="booking-system")
    assert isinstance(event, AppointmentBooked)
    return event.booking_id


def bookings(hall: Hall) -> dict[str, dict[str, object]]:
    return {k: dataclasses.asdict(b) for k, b in hall.bookings.items()}


def test_a_booking_is_kept_with_its_code_in_upper_case() -> None:
    hall = new_hall()
    booking_id = booked(hall, "ab12cd")
    assert booking_id == "20240304-bk001"
    booking = hall.booking("AB12CD")
    assert booking.id == booking_id
    assert booking.code == "AB12CD"
    assert booking.status is BookingStatus.BOOKED
    assert hall.booking(booking_id) is booking


def test_bookings_are_refused_with_their_reason() -> None:
    hours = (OpeningPeriod(time(9), time(12)),)
    config = make_config(enforce_opening_hours=True)
    config = dataclasses.replace(
        config, themes=tuple(dataclasses.replace(t, hours=hours) for t in config.themes)
    )
    hall = new_hall(config)
    booked(hall, "CODE1")

    def book(theme: str = "A", slot_at: float = SLOT, code: str | None = "OTHER") -> None:
        request = BookingRequest(theme=theme, slot_at=slot_at, code=code)
        hall.book_appointment(request, at=T0, actor=ACTOR)

    assert "unknown theme" in assert_refused(hall, InvalidCommand, lambda: book(theme="Z")).message
    error = assert_refused(hall, InvalidCommand, lambda: book(slot_at=local(13)))
    assert "09:00-12:00" in error.message
    assert assert_refused(hall, Conflict, lambda: book(code="code1")).details == {"field": "code"}
    assert "4 to 32" in assert_refused(hall, InvalidCommand, lambda: book(code="a-b")).message
    assert (
        "has passed" in assert_refused(hall, InvalidCommand, lambda: book(slot_at=T0 - 60)).message
    )
    assert (
        "business day"
        in assert_refused(hall, InvalidCommand, lambda: book(slot_at=SLOT + 86400)).message
    )
    assert_refused(hall, InvalidCommand, lambda: book(code=None))
    assert bookings(hall).keys() == {"20240304-bk001"}


def test_a_batch_is_booked_whole_or_not_at_all() -> None:
    hall = new_hall()
    good = BookingRequest("A", SLOT, code="GOOD1")
    twice = BookingRequest("B", SLOT, code="GOOD1")
    unknown = BookingRequest("Q", SLOT, code="GOOD2")
    with pytest.raises(BookingsRefused) as refused:
        hall.book_appointments([good, twice, unknown], at=T0, actor=ACTOR)
    assert [(p.index, p.field) for p in refused.value.problems] == [(1, "code"), (2, "theme")]
    assert hall.bookings == {}
    events = hall.book_appointments(
        [good, BookingRequest("B", SLOT, person_hash="p-1")], at=T0, actor=ACTOR
    )
    assert len(events) == 2


def test_a_check_in_on_time_gives_an_appointment_ticket_called_first() -> None:
    hall = new_hall()
    hall.open_window("g1", at=T0, actor=ACTOR)
    booking_id = booked(hall, priority="disabled")
    hall.issue(theme="A", priority=None, channel="kiosk", at=SLOT - 400, actor=ACTOR)
    events = hall.check_in("AB12CD", channel="kiosk", at=SLOT - 300, actor="kiosk:k1")
    issued, checked = events
    assert isinstance(issued, TicketIssued)
    assert isinstance(checked, AppointmentCheckedIn)
    assert issued.appointment_at == SLOT
    assert issued.priority == "disabled"
    assert checked.ticket_id == issued.ticket_id
    assert checked.late is False
    assert hall.bookings[booking_id].status is BookingStatus.CHECKED_IN
    # Due now: called before the walk-in who came earlier.
    call = hall.call_next("g1", at=SLOT - 200, actor=ACTOR)
    called = call[-1]
    assert isinstance(called, TicketCalled)
    assert called.ticket_id == issued.ticket_id
    error = assert_refused(
        hall, Conflict, lambda: hall.check_in(booking_id, channel="k", at=SLOT, actor=ACTOR)
    )
    assert issued.number in error.message


def test_a_check_in_too_early_says_when_to_come_back() -> None:
    hall = new_hall()
    booking_id = booked(hall)
    error = assert_refused(
        hall,
        AppointmentTooEarly,
        lambda: hall.check_in(booking_id, channel="kiosk", at=SLOT - 601, actor=ACTOR),
    )
    assert error.details["come_back_at"] == "10:20"
    assert error.code == "too_early"
    assert hall.check_in_state(hall.bookings[booking_id], SLOT - 601) == "early"


def test_a_late_check_in_is_a_walk_in_with_its_priority() -> None:
    hall = new_hall()
    booking_id = booked(hall, priority="pregnant")
    events = hall.check_in(booking_id, channel="kiosk", printer="p1", at=SLOT + 901, actor=ACTOR)
    reserved, checked = events
    assert isinstance(reserved, TicketReserved)
    assert reserved.appointment_at is None
    assert reserved.priority == "pregnant"
    assert isinstance(checked, AppointmentCheckedIn)
    assert checked.late is True
    assert hall.bookings[booking_id].status is BookingStatus.LATE
    # The print failed: the number is voided, and the booking may be checked in again.
    hall.void(reserved.ticket_id, "paper out", at=SLOT + 902, actor=ACTOR)
    again = hall.check_in(booking_id, channel="kiosk-screen", at=SLOT + 903, actor=ACTOR)
    issued_again = again[0]
    assert isinstance(issued_again, TicketIssued)
    assert hall.tickets[issued_again.ticket_id].status is TicketStatus.WAITING


def test_a_booking_nobody_came_for_is_recorded_missed_once() -> None:
    hall = new_hall()
    first = booked(hall, "EARLY1")
    later = booked(hall, "LATER1", slot_at=SLOT + 3600)
    gone = booked(hall, "GONE01")
    hall.cancel_booking(gone, "rebooked", at=T0 + 1, actor=ACTOR)
    assert hall.record_missed(at=SLOT + 900, actor="system") == []
    events = hall.record_missed(at=SLOT + 901, actor="system")
    assert [e.booking_id for e in events if isinstance(e, AppointmentMissed)] == [first]
    assert hall.bookings[first].status is BookingStatus.MISSED
    assert hall.bookings[later].status is BookingStatus.BOOKED
    assert hall.record_missed(at=SLOT + 902, actor="system") == []
    assert_refused(hall, Conflict, lambda: hall.cancel_booking(first, "", at=SLOT, actor=ACTOR))
    assert_refused(hall, NotFound, lambda: hall.booking("NOSUCH"))
    # A cancelled booking's code may be booked again.
    booked(hall, "GONE01", slot_at=SLOT + 7200)


def _day_of_bookings() -> tuple[Hall, list[Event]]:
    hall = new_hall()
    log: list[Event] = []
    for code, slot in (("ONE111", SLOT), ("TWO222", SLOT + 1800), ("THREE3", SLOT + 3600)):
        log += hall.book_appointment(BookingRequest("A", slot, code=code), at=T0, actor="b")
    log += hall.book_appointment(BookingRequest("B", SLOT, person_hash="p-9"), at=T0, actor="b")
    log += hall.check_in("ONE111", channel="kiosk", at=SLOT, actor="k")
    log += hall.cancel_booking("20240304-bk003", "ill", at=SLOT + 1, actor="m")
    log += hall.record_missed(at=SLOT + 1800 + 901, actor="system")
    return hall, log


def test_bookings_replay_and_survive_a_snapshot() -> None:
    hall, log = _day_of_bookings()
    rebuilt = replay(hall.config, log)
    assert bookings(rebuilt) == bookings(hall)
    assert state(rebuilt) == state(hall)
    assert rebuilt.booking_codes == hall.booking_codes
    snap = json.loads(json.dumps(to_snapshot(hall)))
    restored = from_snapshot(hall.config, hall.tz, snap)
    assert bookings(restored) == bookings(hall)
    assert (
        restored.booking_codes
        == hall.booking_codes
        == {"ONE111": "20240304-bk001", "TWO222": "20240304-bk002"}
    )
    assert restored.booking_of_person("p-9") is not None
    # An older snapshot without bookings still loads.
    del snap["bookings"]
    assert from_snapshot(hall.config, hall.tz, snap).bookings == {}
