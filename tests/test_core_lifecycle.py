"""A ticket's life and a window's day, as the clerks and applicants in the hall see them."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from hall_controller.core.bookings import BookingRequest
from hall_controller.core.errors import Conflict, InvalidCommand, NotFound, ThemeUnavailable
from hall_controller.core.events import (
    EVENT_TYPES,
    Event,
    PersonalDataPurged,
    ServiceFinished,
    ServiceStarted,
    SignedIn,
    SignedOut,
    SignInRefused,
    TicketCalled,
    TicketCancelled,
    TicketHeld,
    TicketIssued,
    TicketNoShow,
    TicketRated,
    TicketRecalled,
    TicketReturned,
    TicketTransferred,
    WindowClosed,
    WindowOpened,
    WindowPaused,
    WindowResumed,
)
from hall_controller.core.followups import FollowUps
from hall_controller.core.hall import Hall
from hall_controller.core.model import Kiosk, Policy, RatingRules, TicketStatus, WindowStatus

from core_fixtures import (
    ACTOR,
    DEFAULT_THEMES,
    OFFICE_HOURS,
    T0,
    assert_refused,
    called_id,
    issue,
    local,
    make_config,
    new_hall,
    open_windows,
    replay,
    round_trip,
    state,
    theme,
)


def hall_with_called_ticket() -> tuple[Hall, str]:
    """Window g1 open and calling A001."""
    hall = new_hall()
    open_windows(hall, "g1")
    ticket_id = issue(hall, "A", T0)
    hall.call_next("g1", at=T0 + 60, actor=ACTOR)
    return hall, ticket_id


def hall_with_serving_ticket() -> tuple[Hall, str]:
    """Window g1 serving A001."""
    hall, ticket_id = hall_with_called_ticket()
    hall.start("g1", at=T0 + 90, actor=ACTOR)
    return hall, ticket_id


# ------------------------------------------------------------------ the main path


def test_ticket_goes_waiting_called_serving_finished() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    ticket_id = issue(hall, "A", T0)
    ticket = hall.ticket(ticket_id)
    assert hall.ticket(ticket_id).status is TicketStatus.WAITING
    assert ticket.number == "A001"
    assert ticket.arrival_at == T0
    assert ticket_id in hall.book

    events = hall.call_next("g1", at=T0 + 60, actor="clerk-1")
    assert [type(e) for e in events] == [TicketCalled]
    assert hall.ticket(ticket_id).status is TicketStatus.CALLED
    assert ticket.window == "g1"
    assert ticket.called_at == T0 + 60
    assert ticket_id not in hall.book
    assert hall.window("g1").status is WindowStatus.CALLING
    assert hall.window("g1").ticket_id == ticket_id
    assert hall.current_ticket("g1") is ticket

    events = hall.start("g1", at=T0 + 90, actor="clerk-1")
    assert [type(e) for e in events] == [ServiceStarted]
    assert hall.ticket(ticket_id).status is TicketStatus.SERVING
    assert ticket.started_at == T0 + 90
    assert hall.window("g1").status is WindowStatus.SERVING

    events = hall.finish("g1", at=T0 + 400, actor="clerk-1")
    assert [type(e) for e in events] == [ServiceFinished]
    assert hall.ticket(ticket_id).status is TicketStatus.FINISHED
    assert ticket.finished_at == T0 + 400
    assert hall.window("g1").status is WindowStatus.OPEN
    assert hall.window("g1").ticket_id is None
    assert hall.window("g1").served == 1
    assert hall.current_ticket("g1") is None
    assert hall.service["A"].count == 1
    assert hall.service["A"].total_s == pytest.approx(310)


def test_finishing_a_called_ticket_starts_it_first() -> None:
    hall, ticket_id = hall_with_called_ticket()
    events = hall.finish("g1", at=T0 + 300, actor=ACTOR)
    assert [type(e) for e in events] == [ServiceStarted, ServiceFinished]
    assert hall.ticket(ticket_id).status is TicketStatus.FINISHED
    assert hall.window("g1").status is WindowStatus.OPEN


def test_ticket_can_be_found_by_number_in_any_case() -> None:
    hall = new_hall()
    ticket_id = issue(hall, "A", T0)
    assert hall.ticket("A001").id == ticket_id
    assert hall.ticket("a001").id == ticket_id
    assert hall.ticket(ticket_id).number == "A001"
    exc = assert_refused(hall, NotFound, lambda: hall.ticket("A002"))
    assert "A002" in exc.message


def test_call_next_with_nobody_waiting_changes_nothing() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    before = state(hall)
    assert hall.call_next("g1", at=T0, actor=ACTOR) == []
    assert state(hall) == before


def test_call_next_while_serving_finishes_the_current_ticket() -> None:
    hall, first = hall_with_serving_ticket()
    second = issue(hall, "A", T0 + 100)
    events = hall.call_next("g1", at=T0 + 500, actor=ACTOR)
    assert [type(e) for e in events] == [ServiceFinished, TicketCalled]
    finished, called = events
    assert isinstance(finished, ServiceFinished)
    assert isinstance(called, TicketCalled)
    assert (finished.ticket_id, called.ticket_id) == (first, second)
    assert hall.ticket(first).status is TicketStatus.FINISHED
    assert hall.ticket(first).finished_at == T0 + 500
    assert hall.ticket(second).status is TicketStatus.CALLED
    assert hall.window("g1").ticket_id == second
    assert hall.window("g1").served == 1


def test_call_ticket_by_number_while_serving_finishes_the_current_ticket() -> None:
    hall, first = hall_with_serving_ticket()
    issue(hall, "A", T0 + 100)
    third = issue(hall, "A", T0 + 110)
    events = hall.call_ticket("g1", "A003", at=T0 + 500, actor=ACTOR)
    assert [type(e) for e in events] == [ServiceFinished, TicketCalled]
    called = events[1]
    assert isinstance(called, TicketCalled)
    assert called.ticket_id == third
    assert called.rule == "specific"
    assert [c.ticket_id for c in called.candidates] == [third]
    assert hall.ticket(first).status is TicketStatus.FINISHED


# ------------------------------------------------------------------ no-show and recall


def test_no_show_frees_the_window() -> None:
    hall, ticket_id = hall_with_called_ticket()
    events = hall.no_show("g1", at=T0 + 200, actor=ACTOR)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TicketNoShow)
    assert event.automatic is False
    assert event.ticket_id == ticket_id
    assert hall.ticket(ticket_id).status is TicketStatus.NO_SHOW
    assert hall.window("g1").status is WindowStatus.OPEN
    assert hall.window("g1").ticket_id is None
    # A no-show is not a service: it does not count as served.
    assert hall.window("g1").served == 0
    assert hall.service["A"].count == 0


def test_no_show_is_refused_once_service_started() -> None:
    hall, _ = hall_with_serving_ticket()
    exc = assert_refused(hall, Conflict, lambda: hall.no_show("g1", at=T0 + 200, actor=ACTOR))
    assert "serving" in exc.message


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_recall_up_to_the_limit_then_automatic_no_show(limit: int) -> None:
    hall = new_hall(make_config(policy=Policy(recall_limit=limit)))
    open_windows(hall, "g1")
    ticket_id = issue(hall, "A", T0)
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    for n in range(1, limit + 1):
        events = hall.recall("g1", at=T0 + 10 + 30 * n, actor=ACTOR)
        assert len(events) == 1
        event = events[0]
        assert isinstance(event, TicketRecalled)
        assert event.recalls == n
        assert hall.ticket(ticket_id).recalls == n
        assert hall.ticket(ticket_id).status is TicketStatus.CALLED
        assert hall.window("g1").status is WindowStatus.CALLING
    events = hall.recall("g1", at=T0 + 500, actor=ACTOR)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TicketNoShow)
    assert event.automatic is True
    assert hall.ticket(ticket_id).status is TicketStatus.NO_SHOW
    assert hall.window("g1").status is WindowStatus.OPEN


def test_recall_count_starts_again_when_the_ticket_is_called_again() -> None:
    hall, ticket_id = hall_with_called_ticket()
    hall.recall("g1", at=T0 + 100, actor=ACTOR)
    hall.recall("g1", at=T0 + 130, actor=ACTOR)
    hall.hold("g1", "fetch a copy", at=T0 + 140, actor=ACTOR)
    hall.return_ticket(ticket_id, at=T0 + 300, actor=ACTOR)
    hall.call_next("g1", at=T0 + 310, actor=ACTOR)
    assert hall.ticket(ticket_id).recalls == 0
    events = hall.recall("g1", at=T0 + 320, actor=ACTOR)
    assert isinstance(events[0], TicketRecalled)


def test_recall_is_refused_without_a_called_ticket() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    exc = assert_refused(hall, Conflict, lambda: hall.recall("g1", at=T0, actor=ACTOR))
    assert "no ticket" in exc.message
    hall2, _ = hall_with_serving_ticket()
    assert_refused(hall2, Conflict, lambda: hall2.recall("g1", at=T0 + 200, actor=ACTOR))


# ------------------------------------------------------------------ hold and return


def test_hold_frees_the_window_and_the_returned_ticket_waits_for_that_window() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    held = issue(hall, "A", T0)
    later = issue(hall, "A", T0 + 30)
    hall.call_next("g1", at=T0 + 60, actor=ACTOR)
    hall.start("g1", at=T0 + 70, actor=ACTOR)

    events = hall.hold("g1", "missing household register", at=T0 + 100, actor=ACTOR)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TicketHeld)
    assert event.reason == "missing household register"
    assert hall.ticket(held).status is TicketStatus.HELD
    assert held not in hall.book
    assert hall.window("g1").status is WindowStatus.OPEN
    assert hall.window("g1").ticket_id is None

    # The window is free: it serves the next applicant meanwhile.
    assert called_id(hall.call_next("g1", at=T0 + 110, actor=ACTOR)) == later

    events = hall.return_ticket(held, at=T0 + 600, actor=ACTOR)
    assert len(events) == 1
    returned = events[0]
    assert isinstance(returned, TicketReturned)
    assert returned.window == "g1"
    ticket = hall.ticket(held)
    assert ticket.status is TicketStatus.WAITING
    assert ticket.arrival_at == T0
    assert ticket.target_window == "g1"
    assert held in hall.book
    assert hall.book.entry(held)[1] == "g1"

    # g2 also serves theme A but the returned ticket is not for it.
    assert hall.call_next("g2", at=T0 + 610, actor=ACTOR) == []
    exc = assert_refused(
        hall, Conflict, lambda: hall.call_ticket("g2", held, at=T0 + 611, actor=ACTOR)
    )
    assert "g2" in exc.message
    assert "A001" in exc.message

    # A newer ticket of the theme does not get ahead of it at g1.
    newer = issue(hall, "A", T0 + 620)
    hall.finish("g1", at=T0 + 650, actor=ACTOR)
    events = hall.call_next("g1", at=T0 + 700, actor=ACTOR)
    assert called_id(events) == held
    assert hall.ticket(held).status is TicketStatus.CALLED
    assert hall.ticket(held).calls == 2
    assert hall.ticket(newer).status is TicketStatus.WAITING


def test_a_held_ticket_can_be_called_by_number_only_at_its_window() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    held = issue(hall, "A", T0)
    hall.call_next("g1", at=T0 + 60, actor=ACTOR)
    hall.hold("g1", "photocopy", at=T0 + 100, actor=ACTOR)
    # Held, not waiting: nobody can call it until it is returned.
    exc = assert_refused(
        hall, Conflict, lambda: hall.call_ticket("g1", held, at=T0 + 110, actor=ACTOR)
    )
    assert "held" in exc.message
    hall.return_ticket(held, at=T0 + 200, actor=ACTOR)
    events = hall.call_ticket("g1", "A001", at=T0 + 210, actor=ACTOR)
    assert called_id(events) == held


def test_return_is_refused_for_a_ticket_that_is_not_held() -> None:
    hall, ticket_id = hall_with_called_ticket()
    exc = assert_refused(
        hall, Conflict, lambda: hall.return_ticket(ticket_id, at=T0 + 100, actor=ACTOR)
    )
    assert "not held" in exc.message
    assert_refused(hall, NotFound, lambda: hall.return_ticket("A404", at=T0 + 100, actor=ACTOR))


def test_hold_is_refused_without_a_ticket() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    assert_refused(hall, Conflict, lambda: hall.hold("g1", "x", at=T0, actor=ACTOR))


# ------------------------------------------------------------------ transfer


def test_transfer_a_waiting_ticket_to_another_theme_keeps_arrival_and_priority() -> None:
    hall = new_hall()
    ticket_id = issue(hall, "A", T0, priority="elderly")
    events = hall.transfer(
        ticket_id, to_theme="B", to_window=None, reason="wrong theme", at=T0 + 50, actor=ACTOR
    )
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TicketTransferred)
    assert (event.from_window, event.to_theme, event.to_window) == (None, "B", None)
    ticket = hall.ticket(ticket_id)
    assert ticket.theme == "B"
    assert ticket.number == "A001"
    assert ticket.arrival_at == T0
    assert ticket.priority == "elderly"
    assert ticket.status is TicketStatus.WAITING
    assert ticket.transfers == 1
    assert hall.book.waiting_in_theme("B") == 1
    assert hall.book.waiting_in_theme("A") == 0


def test_transferred_ticket_keeps_its_place_by_arrival_in_the_new_theme() -> None:
    hall = new_hall()
    open_windows(hall, "g2")  # serves B first, then A
    moved = issue(hall, "A", T0)
    issue(hall, "B", T0 + 100)
    hall.transfer(moved, to_theme="B", to_window=None, reason="", at=T0 + 200, actor=ACTOR)
    # It arrived before B001, so it is called before it.
    assert called_id(hall.call_next("g2", at=T0 + 300, actor=ACTOR)) == moved


def test_transfer_of_a_called_or_serving_ticket_frees_the_window() -> None:
    for start in (False, True):
        hall, ticket_id = hall_with_serving_ticket() if start else hall_with_called_ticket()
        events = hall.transfer(
            ticket_id, to_theme="B", to_window=None, reason="needs B", at=T0 + 200, actor=ACTOR
        )
        event = events[0]
        assert isinstance(event, TicketTransferred)
        assert event.from_window == "g1"
        assert hall.window("g1").status is WindowStatus.OPEN
        assert hall.window("g1").ticket_id is None
        ticket = hall.ticket(ticket_id)
        assert ticket.status is TicketStatus.WAITING
        assert ticket.theme == "B"
        assert ticket.arrival_at == T0
        assert ticket_id in hall.book


def test_transfer_to_a_window_only_that_window_calls_it() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    ticket_id = issue(hall, "A", T0, priority="disabled")
    hall.transfer(
        ticket_id, to_theme=None, to_window="g2", reason="specialist", at=T0 + 10, actor=ACTOR
    )
    ticket = hall.ticket(ticket_id)
    assert ticket.target_window == "g2"
    assert ticket.theme == "A"
    assert ticket.priority == "disabled"
    assert ticket.arrival_at == T0
    assert hall.call_next("g1", at=T0 + 20, actor=ACTOR) == []
    assert_refused(hall, Conflict, lambda: hall.call_ticket("g1", ticket_id, at=T0, actor=ACTOR))
    assert called_id(hall.call_next("g2", at=T0 + 30, actor=ACTOR)) == ticket_id


def test_transfer_to_a_window_and_theme() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    ticket_id = issue(hall, "A", T0)
    hall.transfer(ticket_id, to_theme="B", to_window="g2", reason="", at=T0 + 10, actor=ACTOR)
    assert hall.ticket(ticket_id).theme == "B"
    assert hall.call_next("g1", at=T0 + 20, actor=ACTOR) == []
    assert called_id(hall.call_next("g2", at=T0 + 30, actor=ACTOR)) == ticket_id


def test_refused_transfers_change_nothing() -> None:
    hall, called = hall_with_called_ticket()
    waiting = issue(hall, "A", T0 + 5)

    def move(ticket_id: str, to_theme: str | None, to_window: str | None) -> list[Event]:
        return hall.transfer(
            ticket_id, to_theme=to_theme, to_window=to_window, reason="", at=T0 + 100, actor=ACTOR
        )

    assert_refused(hall, InvalidCommand, lambda: move(waiting, None, None))
    exc = assert_refused(hall, InvalidCommand, lambda: move(called, "Z", None))
    assert "Z" in exc.message
    assert_refused(hall, NotFound, lambda: move(called, "B", "nowhere"))
    # pickup does not serve theme A or B.
    exc = assert_refused(hall, Conflict, lambda: move(called, "B", "pickup"))
    assert "pickup" in exc.message
    exc = assert_refused(hall, Conflict, lambda: move(waiting, "A", None))
    assert "already waits there" in exc.message
    assert_refused(hall, NotFound, lambda: move("A999", "B", None))
    hall.finish("g1", at=T0 + 50, actor=ACTOR)
    exc = assert_refused(hall, Conflict, lambda: move(called, "B", None))
    assert "finished" in exc.message


# ------------------------------------------------------------------ cancel


def test_cancel_a_waiting_ticket() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    ticket_id = issue(hall, "A", T0)
    events = hall.cancel(ticket_id, "left the hall", at=T0 + 30, actor=ACTOR)
    assert len(events) == 1
    assert isinstance(events[0], TicketCancelled)
    assert hall.ticket(ticket_id).status is TicketStatus.CANCELLED
    assert ticket_id not in hall.book
    assert hall.call_next("g1", at=T0 + 40, actor=ACTOR) == []


def test_cancel_a_called_ticket_frees_the_window() -> None:
    hall, ticket_id = hall_with_called_ticket()
    hall.cancel(ticket_id, "withdrawn", at=T0 + 100, actor=ACTOR)
    assert hall.ticket(ticket_id).status is TicketStatus.CANCELLED
    assert hall.window("g1").status is WindowStatus.OPEN
    assert hall.window("g1").ticket_id is None


def test_cancel_a_held_ticket() -> None:
    hall, ticket_id = hall_with_called_ticket()
    hall.hold("g1", "x", at=T0 + 100, actor=ACTOR)
    hall.cancel(ticket_id, "never came back", at=T0 + 200, actor=ACTOR)
    assert hall.ticket(ticket_id).status is TicketStatus.CANCELLED


def test_cancel_is_refused_once_the_ticket_is_over() -> None:
    hall, ticket_id = hall_with_called_ticket()
    hall.finish("g1", at=T0 + 100, actor=ACTOR)
    exc = assert_refused(
        hall, Conflict, lambda: hall.cancel(ticket_id, "x", at=T0 + 200, actor=ACTOR)
    )
    assert "finished" in exc.message
    other = issue(hall, "A", T0 + 300)
    hall.cancel(other, "x", at=T0 + 310, actor=ACTOR)
    exc = assert_refused(hall, Conflict, lambda: hall.cancel(other, "x", at=T0 + 320, actor=ACTOR))
    assert "cancelled" in exc.message


# ------------------------------------------------------------------ rating


def test_rating_once_per_service() -> None:
    hall, ticket_id = hall_with_called_ticket()
    hall.finish("g1", at=T0 + 300, actor=ACTOR)
    events = hall.rate(ticket_id, 5, at=T0 + 310, actor="pad-g1")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TicketRated)
    assert (event.score, event.window) == (5, "g1")
    assert hall.ticket(ticket_id).rating == 5
    exc = assert_refused(hall, Conflict, lambda: hall.rate(ticket_id, 1, at=T0 + 320, actor=ACTOR))
    assert "already rated" in exc.message
    assert hall.ticket(ticket_id).rating == 5


def test_rating_during_service_is_accepted() -> None:
    hall, ticket_id = hall_with_serving_ticket()
    hall.rate(ticket_id, 4, at=T0 + 200, actor=ACTOR)
    assert hall.ticket(ticket_id).rating == 4


def test_rating_before_service_is_refused() -> None:
    hall, called = hall_with_called_ticket()
    waiting = issue(hall, "A", T0 + 10)
    for ticket_id in (waiting, called):
        exc = assert_refused(hall, Conflict, partial(hall.rate, ticket_id, 5, at=T0, actor=ACTOR))
        assert "not been served" in exc.message
    hall.no_show("g1", at=T0 + 120, actor=ACTOR)
    assert_refused(hall, Conflict, lambda: hall.rate(called, 3, at=T0 + 130, actor=ACTOR))


@pytest.mark.parametrize("score", [0, 6, -1, True, False, 4.0, "5", None])
def test_rating_outside_the_scale_is_invalid(score: object) -> None:
    hall, ticket_id = hall_with_serving_ticket()
    exc = assert_refused(
        hall,
        InvalidCommand,
        # Deliberately the wrong type: the hall must refuse what a loose caller sends.
        lambda: hall.rate(ticket_id, score, at=T0 + 200, actor=ACTOR),  # type: ignore[arg-type]
    )
    assert "1" in exc.message
    assert "5" in exc.message


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_every_level_of_the_national_scale_is_accepted(score: int) -> None:
    hall, ticket_id = hall_with_serving_ticket()
    hall.rate(ticket_id, score, at=T0 + 200, actor=ACTOR)
    assert hall.ticket(ticket_id).rating == score


def test_rating_an_unknown_ticket() -> None:
    hall = new_hall()
    assert_refused(hall, NotFound, lambda: hall.rate("A001", 5, at=T0, actor=ACTOR))


# ------------------------------------------------------------------ windows


def test_window_open_pause_resume_close() -> None:
    hall = new_hall()
    assert all(w.status is WindowStatus.CLOSED for w in hall.windows.values())
    events = hall.open_window("g1", at=T0, actor=ACTOR)
    assert [type(e) for e in events] == [WindowOpened]
    assert hall.window("g1").status is WindowStatus.OPEN

    events = hall.pause_window("g1", "lunch break", at=T0 + 10, actor=ACTOR)
    assert [type(e) for e in events] == [WindowPaused]
    assert hall.window("g1").status is WindowStatus.PAUSED
    assert hall.window("g1").pause_reason == "lunch break"

    events = hall.resume_window("g1", at=T0 + 20, actor=ACTOR)
    assert [type(e) for e in events] == [WindowResumed]
    assert hall.window("g1").status is WindowStatus.OPEN
    assert hall.window("g1").pause_reason is None

    hall.pause_window("g1", "meeting", at=T0 + 30, actor=ACTOR)
    events = hall.close_window("g1", at=T0 + 40, actor=ACTOR)
    assert [type(e) for e in events] == [WindowClosed]
    assert hall.window("g1").status is WindowStatus.CLOSED
    assert hall.window("g1").pause_reason is None

    hall.open_window("g1", at=T0 + 50, actor=ACTOR)
    hall.close_window("g1", at=T0 + 60, actor=ACTOR)
    assert hall.window("g1").status is WindowStatus.CLOSED


def test_refused_window_commands() -> None:
    hall = new_hall()
    at = T0

    # Closed.
    assert_refused(hall, Conflict, lambda: hall.close_window("g1", at=at, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.pause_window("g1", "x", at=at, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.resume_window("g1", at=at, actor=ACTOR))
    issue(hall, "A", T0)
    exc = assert_refused(hall, Conflict, lambda: hall.call_next("g1", at=at, actor=ACTOR))
    assert "closed" in exc.message
    assert_refused(hall, Conflict, lambda: hall.call_ticket("g1", "A001", at=at, actor=ACTOR))

    # Open and idle.
    hall.open_window("g1", at=at, actor=ACTOR)
    exc = assert_refused(hall, Conflict, lambda: hall.open_window("g1", at=at, actor=ACTOR))
    assert "already open" in exc.message
    assert_refused(hall, Conflict, lambda: hall.resume_window("g1", at=at, actor=ACTOR))
    exc = assert_refused(hall, Conflict, lambda: hall.finish("g1", at=at, actor=ACTOR))
    assert "g1" in exc.message
    assert "no ticket to finish" in exc.message
    assert_refused(hall, Conflict, lambda: hall.start("g1", at=at, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.no_show("g1", at=at, actor=ACTOR))

    # Paused.
    hall.pause_window("g1", "break", at=at, actor=ACTOR)
    exc = assert_refused(hall, Conflict, lambda: hall.call_next("g1", at=at, actor=ACTOR))
    assert "paused" in exc.message
    assert_refused(hall, Conflict, lambda: hall.pause_window("g1", "y", at=at, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.open_window("g1", at=at, actor=ACTOR))
    hall.resume_window("g1", at=at, actor=ACTOR)

    # Calling.
    hall.call_next("g1", at=at + 1, actor=ACTOR)
    issue(hall, "A", T0 + 2)
    exc = assert_refused(hall, Conflict, lambda: hall.call_next("g1", at=at + 3, actor=ACTOR))
    assert "calling A001" in exc.message
    assert_refused(hall, Conflict, lambda: hall.call_ticket("g1", "A002", at=at, actor=ACTOR))
    exc = assert_refused(hall, Conflict, lambda: hall.close_window("g1", at=at, actor=ACTOR))
    assert "A001" in exc.message
    assert_refused(hall, Conflict, lambda: hall.pause_window("g1", "x", at=at, actor=ACTOR))
    assert_refused(hall, Conflict, lambda: hall.open_window("g1", at=at, actor=ACTOR))

    # Serving.
    hall.start("g1", at=at + 4, actor=ACTOR)
    assert_refused(hall, Conflict, lambda: hall.start("g1", at=at + 5, actor=ACTOR))
    exc = assert_refused(hall, Conflict, lambda: hall.close_window("g1", at=at, actor=ACTOR))
    assert "serving A001" in exc.message
    exc = assert_refused(hall, Conflict, lambda: hall.pause_window("g1", "x", at=at, actor=ACTOR))
    assert "serving A001" in exc.message
    assert_refused(hall, Conflict, lambda: hall.resume_window("g1", at=at, actor=ACTOR))


def test_finish_without_a_called_ticket_says_so() -> None:
    """Finishing a ticket that was never called is refused with a message a clerk understands."""
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "A", T0)  # waiting, never called
    exc = assert_refused(hall, Conflict, lambda: hall.finish("g1", at=T0 + 10, actor=ACTOR))
    assert exc.message == "window g1 has no ticket to finish"
    assert exc.code == "conflict"
    assert hall.ticket("A001").status is TicketStatus.WAITING


@pytest.mark.parametrize(
    ("typo", "suggestion"), [("pikcup", "pickup"), ("gg1", "g1"), ("pickup1", "pickup")]
)
def test_unknown_window_is_not_found_with_a_suggestion(typo: str, suggestion: str) -> None:
    hall = new_hall()
    exc = assert_refused(hall, NotFound, lambda: hall.open_window(typo, at=T0, actor=ACTOR))
    assert f'no window "{typo}"' in exc.message
    assert f'did you mean "{suggestion}"?' in exc.message
    assert exc.code == "not_found"


def test_unknown_window_without_a_close_match() -> None:
    hall = new_hall()
    for command in (
        lambda: hall.call_next("zzzzzz", at=T0, actor=ACTOR),
        lambda: hall.finish("zzzzzz", at=T0, actor=ACTOR),
        lambda: hall.pause_window("zzzzzz", "x", at=T0, actor=ACTOR),
    ):
        exc = assert_refused(hall, NotFound, command)
        assert "zzzzzz" in exc.message
        assert "did you mean" not in exc.message


def test_unknown_theme_and_priority_group_are_invalid_with_a_suggestion() -> None:
    hall = new_hall()
    exc = assert_refused(hall, InvalidCommand, lambda: issue(hall, "AA", T0))
    assert 'unknown theme "AA"; did you mean "A"?' in exc.message
    exc = assert_refused(hall, InvalidCommand, lambda: issue(hall, "A", T0, priority="elderl"))
    assert 'did you mean "elderly"?' in exc.message


def test_two_windows_calling_at_the_same_instant_share_one_ticket() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    ticket_id = issue(hall, "A", T0)
    at = T0 + 100
    first = hall.call_next("g1", at=at, actor="pad-g1")
    before = state(hall)
    second = hall.call_next("g2", at=at, actor="pad-g2")
    assert called_id(first) == ticket_id
    assert second == []
    assert state(hall) == before
    assert hall.window("g1").ticket_id == ticket_id
    assert hall.window("g2").status is WindowStatus.OPEN
    assert hall.window("g2").ticket_id is None


def test_closing_a_window_ends_its_priority_streak() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "A", T0, priority="elderly")
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    hall.finish("g1", at=T0 + 20, actor=ACTOR)
    assert hall.window("g1").priority_streak == 1
    hall.close_window("g1", at=T0 + 30, actor=ACTOR)
    assert hall.window("g1").priority_streak == 0


# ------------------------------------------------------------------ numbering and issuing


def test_numbers_run_per_theme() -> None:
    hall = new_hall()
    numbers = [hall.ticket(issue(hall, t, T0 + i)).number for i, t in enumerate("AABACB")]
    assert numbers == ["A001", "A002", "B001", "A003", "C001", "B002"]
    assert hall.serials == {"A": 3, "B": 2, "C": 1}


def test_ticket_id_carries_the_day_and_the_number() -> None:
    hall = new_hall()
    events = hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor=ACTOR)
    event = events[0]
    assert isinstance(event, TicketIssued)
    assert event.ticket_id == "20240304-A001"
    assert event.serial == 1


def test_prefix_is_the_themes_prefix_not_its_id() -> None:
    themes = (theme("social", "S"), theme("pickup", "Q"))
    hall = new_hall(make_config(themes, (), enforce_opening_hours=False))
    assert hall.ticket(issue(hall, "social", T0)).number == "S001"
    assert hall.ticket(issue(hall, "pickup", T0)).number == "Q001"


def test_numbers_keep_at_least_three_digits_and_grow_past_999() -> None:
    hall = new_hall()
    numbers = [hall.ticket(issue(hall, "A", T0 + i)).number for i in range(1001)]
    assert numbers[:3] == ["A001", "A002", "A003"]
    assert numbers[9] == "A010"
    assert numbers[98:100] == ["A099", "A100"]
    assert numbers[998:] == ["A999", "A1000", "A1001"]
    assert len(set(numbers)) == len(numbers)


def test_numbers_are_not_reused_after_cancel_or_finish() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    first = issue(hall, "A", T0)
    hall.cancel(first, "x", at=T0 + 1, actor=ACTOR)
    second = issue(hall, "A", T0 + 2)
    hall.call_next("g1", at=T0 + 3, actor=ACTOR)
    hall.finish("g1", at=T0 + 4, actor=ACTOR)
    third = issue(hall, "A", T0 + 5)
    assert [hall.ticket(t).number for t in (first, second, third)] == ["A001", "A002", "A003"]


def test_daily_cap() -> None:
    themes = (theme("A", daily_cap=3), theme("B"))
    hall = new_hall(make_config(themes, ()))
    for i in range(3):
        issue(hall, "A", T0 + i)
    hall.cancel("A001", "x", at=T0 + 5, actor=ACTOR)  # a cancelled number stays used
    exc = assert_refused(hall, ThemeUnavailable, lambda: issue(hall, "A", T0 + 10))
    assert isinstance(exc, Conflict)
    # A full theme says so with its own code and why (core/capacity.py, test_core_capacity.py).
    assert exc.code == "theme_full"
    assert exc.details["reason"] == "daily_cap"
    assert "3" in exc.message
    assert hall.ticket(issue(hall, "B", T0 + 11)).number == "B001"


@pytest.mark.parametrize(
    ("hour", "minute", "second", "open_"),
    [
        (8, 29, 59, False),
        (8, 30, 0, True),
        (11, 59, 59, True),
        (12, 0, 0, False),
        (13, 59, 59, False),
        (14, 0, 0, True),
        (17, 29, 59, True),
        (17, 30, 0, False),
        (3, 0, 0, False),
        (20, 0, 0, False),
    ],
)
def test_opening_hours_use_hall_local_time(
    hour: int, minute: int, second: int, open_: bool
) -> None:
    themes = (replace(DEFAULT_THEMES[0], hours=OFFICE_HOURS),)
    hall = new_hall(make_config(themes, (), enforce_opening_hours=True))
    at = local(hour, minute, second)
    if open_:
        assert hall.ticket(issue(hall, "A", at)).number == "A001"
    else:
        exc = assert_refused(hall, ThemeUnavailable, lambda: issue(hall, "A", at))
        assert "08:30-12:00, 14:00-17:30" in exc.message


def test_opening_hours_are_ignored_when_not_enforced() -> None:
    themes = (replace(DEFAULT_THEMES[0], hours=OFFICE_HOURS),)
    hall = new_hall(make_config(themes, (), enforce_opening_hours=False))
    assert hall.ticket(issue(hall, "A", local(7))).number == "A001"


def test_one_active_ticket_per_person_per_theme() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    first = issue(hall, "A", T0, person_hash="h-1")
    exc = assert_refused(hall, Conflict, lambda: issue(hall, "A", T0 + 1, person_hash="h-1"))
    assert "A001" in exc.message
    # Another theme, another person, or no ID card at all: fine.
    issue(hall, "B", T0 + 2, person_hash="h-1")
    issue(hall, "A", T0 + 3, person_hash="h-2")
    issue(hall, "A", T0 + 4)
    # Still active while called and while serving.
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    assert hall.window("g1").ticket_id == first
    assert_refused(hall, Conflict, lambda: issue(hall, "A", T0 + 11, person_hash="h-1"))
    hall.start("g1", at=T0 + 12, actor=ACTOR)
    assert_refused(hall, Conflict, lambda: issue(hall, "A", T0 + 13, person_hash="h-1"))
    # Finished: the person may take a new ticket.
    hall.finish("g1", at=T0 + 20, actor=ACTOR)
    again = issue(hall, "A", T0 + 21, person_hash="h-1")
    assert hall.ticket(again).number == "A004"


@pytest.mark.parametrize("ending", ["no_show", "cancel"])
def test_person_may_take_a_new_ticket_after_no_show_or_cancel(ending: str) -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    ticket_id = issue(hall, "A", T0, person_hash="h-1")
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    if ending == "no_show":
        hall.no_show("g1", at=T0 + 20, actor=ACTOR)
    else:
        hall.cancel(ticket_id, "x", at=T0 + 20, actor=ACTOR)
    issue(hall, "A", T0 + 30, person_hash="h-1")


def test_a_person_moved_to_another_theme_holds_that_theme() -> None:
    hall = new_hall()
    ticket_id = issue(hall, "A", T0, person_hash="h-1")
    hall.transfer(ticket_id, to_theme="B", to_window=None, reason="", at=T0 + 1, actor=ACTOR)
    issue(hall, "A", T0 + 2, person_hash="h-1")  # A is free for this person now
    assert_refused(hall, Conflict, lambda: issue(hall, "B", T0 + 3, person_hash="h-1"))


def test_transfer_into_a_theme_where_the_person_already_waits() -> None:
    """A person holds A001 and B001; a manager moves A001 to theme B, where it is served.

    B001 still waits, so the person still holds an active ticket in theme B and may not take
    another one. (Refusing the move itself would be a fine answer too.)
    """
    hall = new_hall()
    open_windows(hall, "g2")
    moved = issue(hall, "A", T0, person_hash="p-1")
    kept = issue(hall, "B", T0 + 1, person_hash="p-1")
    try:
        hall.transfer(moved, to_theme="B", to_window=None, reason="", at=T0 + 2, actor=ACTOR)
    except Conflict:
        pass
    else:
        hall.call_ticket("g2", moved, at=T0 + 3, actor=ACTOR)
        hall.finish("g2", at=T0 + 4, actor=ACTOR)
    assert hall.ticket(kept).status is TicketStatus.WAITING
    exc = assert_refused(hall, Conflict, lambda: issue(hall, "B", T0 + 5, person_hash="p-1"))
    assert "B001" in exc.message


def test_one_ticket_per_person_can_be_switched_off() -> None:
    hall = new_hall(make_config(one_active_ticket_per_person=False))
    issue(hall, "A", T0, person_hash="h-1")
    issue(hall, "A", T0 + 1, person_hash="h-1")
    assert len(hall.tickets) == 2


# ------------------------------------------------------------------ the log rebuilds the day


def busy_morning() -> tuple[Hall, list[Event]]:
    """A morning that leaves every kind of event in the log."""
    hall = new_hall(replace(make_config(), kiosks=(Kiosk("k1", "1号机", "Kiosk 1"),)))
    log: list[Event] = []

    def run(events: list[Event]) -> None:
        log.extend(events)

    run(hall.open_window("g1", at=T0 - 600, actor="clerk-1"))
    run(hall.open_window("g2", at=T0 - 590, actor="clerk-2"))
    run(hall.open_window("pickup", at=T0 - 580, actor="clerk-3"))
    run(hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor="kiosk-1"))
    run(
        hall.issue(
            theme="A",
            priority="elderly",
            channel="kiosk",
            at=T0 + 10,
            actor="kiosk-1",
            age_band="70-79",
            person_hash="p-1",
        )
    )
    run(hall.issue(theme="B", priority=None, channel="web", at=T0 + 20, actor="web"))
    run(
        hall.issue(
            theme="B",
            priority=None,
            channel="kiosk",
            at=T0 + 30,
            actor="kiosk-2",
            appointment_at=T0 + 3000,
        )
    )
    run(hall.issue(theme="C", priority=None, channel="kiosk", at=T0 + 40, actor="kiosk-2"))
    run(hall.issue(theme="A", priority="pregnant", channel="kiosk", at=T0 + 50, actor="k"))
    run(hall.call_next("g1", at=T0 + 100, actor="clerk-1"))  # A002, priority
    run(hall.recall("g1", at=T0 + 130, actor="clerk-1"))
    run(hall.start("g1", at=T0 + 140, actor="clerk-1"))
    run(hall.call_next("g2", at=T0 + 150, actor="clerk-2"))  # A003, priority
    run(hall.no_show("g2", at=T0 + 250, actor="clerk-2"))
    run(hall.call_next("pickup", at=T0 + 260, actor="clerk-3"))  # C001
    run(hall.hold("pickup", "certificate not ready", at=T0 + 300, actor="clerk-3"))
    run(hall.call_next("g1", at=T0 + 400, actor="clerk-1"))  # finishes A002, calls A001
    run(hall.rate("A002", 5, at=T0 + 405, actor="pad-g1"))
    run(hall.transfer("B001", to_theme="A", to_window=None, reason="r", at=T0 + 410, actor="m"))
    run(hall.return_ticket("C001", at=T0 + 420, actor="clerk-3"))
    run(hall.call_next("pickup", at=T0 + 430, actor="clerk-3"))
    run(hall.finish("pickup", at=T0 + 500, actor="clerk-3"))
    run(hall.record_case_number("pickup", "44030020240304000001", at=T0 + 502, actor="clerk-3"))
    run(hall.rate("C001", 2, at=T0 + 505, actor="pad-pickup"))  # opens a follow-up
    followups = FollowUps.replay(log)

    def follow_up(events: list[Event]) -> None:
        for event in events:  # the day's events like any other, and the follow-ups' fold
            hall.apply(event)
            followups.apply(event)
        run(events)

    case = "fu-20240304-C001"
    follow_up(followups.call_back(case, "apologised", at=T0 + 506, actor="manager"))
    follow_up(followups.rectify(case, "form fixed", True, at=T0 + 507, actor="manager"))
    follow_up(followups.rerate(case, 4, "fine now", at=T0 + 508, actor="manager"))
    run(hall.pause_window("pickup", "break", at=T0 + 510, actor="clerk-3"))
    run(hall.resume_window("pickup", at=T0 + 900, actor="clerk-3"))
    run(hall.close_window("pickup", at=T0 + 910, actor="clerk-3"))
    run(hall.start("g1", at=T0 + 920, actor="clerk-1"))
    run(hall.transfer("B002", to_theme=None, to_window="g2", reason="r", at=T0 + 930, actor="m"))
    run(hall.cancel("B001", "left", at=T0 + 940, actor="m"))
    run(hall.call_next("g2", at=T0 + 950, actor="clerk-2"))  # B002, sent to g2
    run(hall.finish("g2", at=T0 + 1200, actor="clerk-2"))
    # For a moment a hall that wants each rating asked for before the next call: a manager
    # lets g2 go on without asking for B002's.
    lenient = hall.config
    hall.config = replace(lenient, ratings=RatingRules(require_before_next=True))
    run(hall.waive_rating("g2", "the applicant had left", at=T0 + 1210, actor="manager"))
    hall.config = lenient
    run(hall.issue(theme="B", priority=None, channel="kiosk", at=T0 + 1300, actor="kiosk-1"))
    run(
        hall.reserve(
            theme="C", priority=None, channel="kiosk", printer="p1", at=T0 + 1310, actor="k1"
        )
    )
    run(hall.confirm_printed("C002", at=T0 + 1311, actor="k1"))
    run(
        hall.reserve(
            theme="C", priority=None, channel="kiosk", printer="p1", at=T0 + 1320, actor="k1"
        )
    )
    run(hall.void("C003", "paper out", at=T0 + 1321, actor="k1"))
    run(hall.reprint("C002", "p2", "torn", at=T0 + 1330, actor="manager"))
    run(hall.request_rating("g1", at=T0 + 1332, actor="clerk-1"))
    run(hall.start_emergency("消防演练", True, at=T0 + 1333, actor="manager"))
    run(hall.end_emergency(at=T0 + 1334, actor="manager"))
    run(hall.prioritise("C002", "disabled", "seen at the door", at=T0 + 1335, actor="manager"))
    changes = {"recall_limit": 3, "max_wait_s": {"C": 600}}
    run(hall.change_policy(changes, "rush", at=T0 + 1336, actor="manager"))
    run(hall.request_help("k1", at=T0 + 1337, actor="kiosk:k1"))
    run(hall.acknowledge("help-1", "on my way", at=T0 + 1338, actor="manager"))
    for code, slot in (("BOOK01", T0 + 1500), ("BOOK02", T0 + 1500), ("BOOK03", T0 + 1339)):
        booking = BookingRequest("C", slot, code=code, priority="elderly")
        run(hall.book_appointment(booking, at=T0 + 1339, actor="booking-system"))
    run(hall.check_in("BOOK01", channel="kiosk", at=T0 + 1339, actor="kiosk:k1"))
    run(hall.cancel_booking("BOOK02", "rebooked", at=T0 + 1339, actor="manager"))
    run(hall.record_missed(at=T0 + 1339 + 901, actor="system"))
    refused = SignInRefused(
        at=T0 + 1340, actor="a", account="li", role="staff", window="g2", reason="wrong PIN"
    )
    run(hall.record_access(refused))
    clerk = SignedIn(at=T0 + 1341, actor="staff:li", account="li", role="staff", window="g2")
    run(hall.record_access(clerk))
    kiosk = SignedIn(at=T0 + 1342, actor="kiosk:k1", account="k1", role="kiosk", kiosk="k1")
    run(hall.record_access(kiosk))
    ended = SignedOut(
        at=T0 + 1343, actor="kiosk:k1", account="k1", role="kiosk", kiosk="k1", reason="expired"
    )
    run(hall.record_access(ended))
    run(hall.continue_visit("g1", to_theme="C", reason="证照待领", at=T0 + 1344, actor="clerk-1"))
    purged = PersonalDataPurged(
        at=T0 + 1345,
        actor="system:retention",
        days={"2024-03-03": {"events": 2, "snapshots": 1, "replies": 3}},
        fields={"TicketIssued": ["person_hash"]},
    )
    run(hall.record_purge(purged))
    return hall, log


def test_busy_morning_uses_every_kind_of_event() -> None:
    _, log = busy_morning()

    assert {e.type_name for e in log} == set(EVENT_TYPES)


@pytest.mark.parametrize("through_json", [False, True])
def test_every_event_survives_the_log(through_json: bool) -> None:
    _, log = busy_morning()
    for event in log:
        assert round_trip(event, through_json=through_json) == event


@pytest.mark.parametrize("through_json", [False, True])
def test_replaying_the_events_rebuilds_the_same_day(through_json: bool) -> None:
    hall, log = busy_morning()
    rebuilt = replay(hall.config, log, through_json=through_json)
    assert state(rebuilt) == state(hall)
    assert rebuilt.version == len(log)
    # The rebuilt day goes on exactly like the original.
    a = hall.call_next("g2", at=T0 + 2000, actor=ACTOR)
    b = rebuilt.call_next("g2", at=T0 + 2000, actor=ACTOR)
    assert a == b
    assert called_id(a) == "20240304-B003"
    assert state(rebuilt) == state(hall)


def test_version_counts_applied_events_and_refusals_leave_it() -> None:
    hall = new_hall()
    assert hall.version == 0
    hall.open_window("g1", at=T0, actor=ACTOR)
    issue(hall, "A", T0)
    assert hall.version == 2
    hall.call_next("g1", at=T0 + 1, actor=ACTOR)
    hall.start("g1", at=T0 + 2, actor=ACTOR)
    issue(hall, "A", T0 + 3)
    hall.call_next("g1", at=T0 + 4, actor=ACTOR)  # ServiceFinished + TicketCalled
    assert hall.version == 7
    assert_refused(hall, Conflict, lambda: hall.open_window("g1", at=T0, actor=ACTOR))
    assert hall.version == 7


def test_a_clerk_signed_in_at_a_window_is_its_clerk_until_signed_out() -> None:
    hall = new_hall()

    def signed_in(account: str, window: str) -> SignedIn:
        return SignedIn(
            at=T0, actor=f"staff:{account}", account=account, role="staff", window=window
        )

    def signed_out(account: str, reason: str) -> SignedOut:
        return SignedOut(
            at=T0 + 1,
            actor=f"staff:{account}",
            account=account,
            role="staff",
            window="g1",
            reason=reason,
        )

    hall.record_access(signed_in("li", "g1"))
    assert hall.window("g1").clerk == "li"
    # Someone else's sign-out there leaves her in place; her own ends it.
    hall.record_access(signed_out("wang", "expired"))
    assert hall.window("g1").clerk == "li"
    hall.record_access(signed_out("li", "signed out"))
    assert hall.window("g1").clerk is None
    assert_refused(hall, NotFound, lambda: hall.record_access(signed_in("li", "g9")))
