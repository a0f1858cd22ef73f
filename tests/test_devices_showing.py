"""What each window's devices show, derived from the hall's events (blink, clear, rating prompt)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hall_controller.core.errors import DomainError
from hall_controller.core.events import Event
from hall_controller.core.hall import Hall
from hall_controller.devices.showing import ShowingTracker

from core_fixtures import T0, issue, new_hall, open_windows

ACTOR = "test"


def tracked() -> tuple[Hall, ShowingTracker]:
    hall = new_hall()
    open_windows(hall)
    tracker = ShowingTracker(hall.windows)
    tracker.reset(hall)
    return hall, tracker


def test_a_call_blinks_start_steadies_and_a_no_show_clears_the_board() -> None:
    hall, tracker = tracked()
    ticket = issue(hall, "A", T0)
    (called,) = tracker.apply(hall, hall.call_next("g1", at=T0 + 10, actor=ACTOR))
    assert (called.ticket, called.blink, called.status) == ("A001", True, "calling")
    (recalled,) = tracker.apply(hall, hall.recall("g1", at=T0 + 40, actor=ACTOR))
    assert recalled.blink
    assert recalled.call_count == called.call_count + 1  # a repeat blinks again
    # The no-show event names the ticket only: the board showing it is still found.
    (cleared,) = tracker.apply(hall, hall.no_show("g1", at=T0 + 90, actor=ACTOR))
    assert (cleared.ticket, cleared.blink, cleared.status) == (None, False, "open")
    assert hall.tickets[ticket].status.value == "no_show"


def test_finishing_asks_for_a_rating_until_the_rating_or_the_next_call() -> None:
    hall, tracker = tracked()
    first = issue(hall, "A", T0)
    issue(hall, "A", T0 + 1)
    tracker.apply(hall, hall.call_next("g1", at=T0 + 10, actor=ACTOR))
    tracker.apply(hall, hall.start("g1", at=T0 + 20, actor=ACTOR))
    (finished,) = tracker.apply(hall, hall.finish("g1", at=T0 + 300, actor=ACTOR))
    assert (finished.rating, finished.rating_ticket, finished.rating_number) == (
        "asking",
        first,
        "A001",
    )
    (rated,) = tracker.apply(hall, hall.rate(first, 4, at=T0 + 310, actor=ACTOR))
    assert rated.rating == "idle"
    # "call" while serving finishes and calls: the finished one is asked about.
    tracker.apply(hall, hall.call_next("g1", at=T0 + 320, actor=ACTOR))
    tracker.apply(hall, hall.start("g1", at=T0 + 330, actor=ACTOR))
    issue(hall, "A", T0 + 331)
    (next_call,) = tracker.apply(hall, hall.call_next("g1", at=T0 + 600, actor=ACTOR))
    assert next_call.rating == "asking"
    assert next_call.ticket == "A003"


def test_a_transfer_away_clears_the_board_of_the_window_it_left() -> None:
    hall, tracker = tracked()
    ticket = issue(hall, "A", T0)
    tracker.apply(hall, hall.call_next("g1", at=T0 + 10, actor=ACTOR))
    events = hall.transfer(
        ticket, to_theme="B", to_window=None, reason="wrong theme", at=T0 + 20, actor=ACTOR
    )
    (cleared,) = tracker.apply(hall, events)
    assert cleared.window == "g1"
    assert cleared.ticket is None


ACTIONS = ("issue", "call", "recall", "start", "finish", "no_show", "rate", "cancel", "transfer")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(("g1", "g2"))), max_size=40))
def test_the_showing_always_matches_the_hall(steps: list[tuple[str, str]]) -> None:
    """Whatever happens, an incremental fold equals a fresh look at the hall."""
    hall, tracker = tracked()
    at = T0
    for action, window in steps:
        at += 30
        events: list[Event] = []
        try:
            if action == "issue":
                issue(hall, "A", at)
            elif action == "call":
                events = hall.call_next(window, at=at, actor=ACTOR)
            elif action == "rate":
                current = tracker.showing[window].rating_ticket
                if current is not None:
                    events = hall.rate(current, 5, at=at, actor=ACTOR)
            elif action in ("cancel", "transfer"):
                current_ticket = hall.current_ticket(window)
                if current_ticket is None:
                    continue
                if action == "cancel":
                    events = hall.cancel(current_ticket.id, "test", at=at, actor=ACTOR)
                else:
                    events = hall.transfer(
                        current_ticket.id,
                        to_theme="B",
                        to_window=None,
                        reason="",
                        at=at,
                        actor=ACTOR,
                    )
            else:
                command = getattr(hall, action)
                events = command(window, at=at, actor=ACTOR)
        except DomainError:
            continue
        tracker.apply(hall, events)
        for window_id, shown in tracker.showing.items():
            ticket = hall.current_ticket(window_id)
            assert shown.ticket == (ticket.number if ticket is not None else None)
            assert shown.status == hall.windows[window_id].status.value
            if shown.rating_ticket is not None:
                assert hall.tickets[shown.rating_ticket].rating is None
