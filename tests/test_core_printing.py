"""A kiosk ticket is issued only once its print is confirmed; a failed print voids the number."""

from __future__ import annotations

from hall_controller.core.errors import Conflict
from hall_controller.core.events import TicketIssued, TicketReserved, TicketVoided
from hall_controller.core.hall import Hall
from hall_controller.core.model import TicketStatus
from hall_controller.core.snapshot import from_snapshot, to_snapshot

from core_fixtures import (
    ACTOR,
    T0,
    TZ,
    assert_refused,
    issue,
    make_config,
    new_hall,
    open_windows,
    replay,
    state,
)


def reserve(hall: Hall, theme: str, at: float, **extra: object) -> str:
    """Reserve the theme's next number for printing and return the ticket id."""
    events = hall.reserve(
        theme=theme,
        priority=None,
        channel="kiosk",
        printer="k1-printer",
        at=at,
        actor=ACTOR,
        **extra,  # type: ignore[arg-type]
    )
    assert isinstance(events[0], TicketReserved)
    return events[0].ticket_id


def test_a_reserved_ticket_is_not_called_until_its_print_is_confirmed() -> None:
    hall = new_hall()
    open_windows(hall, "pickup")
    ticket_id = reserve(hall, "C", T0)
    assert hall.ticket(ticket_id).status is TicketStatus.PRINTING
    assert hall.call_next("pickup", at=T0 + 1, actor=ACTOR) == []

    events = hall.confirm_printed(ticket_id, at=T0 + 2, actor=ACTOR)
    assert isinstance(events[0], TicketIssued)
    assert events[0].number == "C001"
    assert hall.ticket(ticket_id).status is TicketStatus.WAITING
    assert hall.ticket(ticket_id).arrival_at == T0  # its place dates from the reservation
    called = hall.call_next("pickup", at=T0 + 3, actor=ACTOR)
    assert [getattr(e, "ticket_id", None) for e in called] == [ticket_id]


def test_a_voided_number_is_never_issued_again_even_after_a_replay() -> None:
    hall = new_hall()
    first = reserve(hall, "C", T0)
    voided = hall.void(first, "paper out", at=T0 + 1, actor=ACTOR)
    assert isinstance(voided[0], TicketVoided)
    assert hall.ticket(first).status is TicketStatus.VOIDED
    assert_refused(hall, Conflict, lambda: hall.confirm_printed(first, at=T0 + 2, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.void(first, "again", at=T0 + 2, actor=ACTOR))

    second = issue(hall, "C", T0 + 3)
    assert hall.ticket(second).number == "C002"

    # The same day rebuilt from its events keeps the number spent.
    events = [
        TicketReserved(
            at=T0,
            actor=ACTOR,
            ticket_id=first,
            number="C001",
            serial=1,
            theme="C",
            priority=None,
            channel="kiosk",
            printer="k1-printer",
        ),
        voided[0],
    ]
    rebuilt = replay(make_config(), events)
    assert rebuilt.ticket(first).status is TicketStatus.VOIDED
    assert issue(rebuilt, "C", T0 + 3).endswith("C002")


def test_the_person_is_held_while_printing_and_freed_by_a_void() -> None:
    hall = new_hall()
    ticket_id = reserve(hall, "A", T0, person_hash="p-1")
    exc = assert_refused(
        hall,
        Conflict,
        lambda: hall.reserve(
            theme="A",
            priority=None,
            channel="kiosk",
            printer="k2-printer",
            at=T0 + 1,
            actor=ACTOR,
            person_hash="p-1",
        ),
    )
    assert "A001" in str(exc)
    hall.void(ticket_id, "no confirmation", at=T0 + 2, actor=ACTOR)
    assert reserve(hall, "A", T0 + 3, person_hash="p-1").endswith("A002")


def test_a_ticket_being_printed_cannot_be_cancelled_and_only_waiting_ones_are_reprinted() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    printing = reserve(hall, "A", T0)
    assert_refused(hall, Conflict, lambda: hall.cancel(printing, "left", at=T0 + 1, actor=ACTOR))
    assert_refused(
        hall, Conflict, lambda: hall.reprint(printing, "p", "torn", at=T0 + 1, actor=ACTOR)
    )
    hall.confirm_printed(printing, at=T0 + 2, actor=ACTOR)
    version = hall.version
    hall.reprint(printing, "k2-printer", "torn", at=T0 + 3, actor="manager")
    assert hall.version == version + 1
    hall.call_next("g1", at=T0 + 4, actor=ACTOR)
    assert_refused(
        hall, Conflict, lambda: hall.reprint(printing, "p", "torn", at=T0 + 5, actor=ACTOR)
    )


def test_a_snapshot_keeps_tickets_being_printed() -> None:
    hall = new_hall()
    printing = reserve(hall, "B", T0, person_hash="p-9")
    voided = reserve(hall, "B", T0 + 1)
    hall.void(voided, "cover open", at=T0 + 2, actor=ACTOR)
    restored = from_snapshot(make_config(), TZ, to_snapshot(hall))
    assert state(restored) == state(hall)
    assert [t.id for t in restored.printing()] == [printing]
