"""Poor ratings' follow-ups (差评整改), case numbers and "ask for the rating before the next call",
in the core: the commands, the deadlines at a given moment, and the fold rebuilt from its events."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest

from hall_controller.core.errors import Conflict, InvalidCommand, NotFound
from hall_controller.core.events import (
    CaseNumberRecorded,
    Event,
    FollowUpOpened,
    RatingWaived,
    TicketRated,
)
from hall_controller.core.followups import (
    FOLLOWUP_EVENT_NAMES,
    Deadline,
    FollowUp,
    FollowUps,
    FollowUpStatus,
    followup_id_of,
)
from hall_controller.core.hall import Hall, RatingRequired
from hall_controller.core.model import RatingRules, TicketStatus
from hall_controller.core.snapshot import from_snapshot, to_snapshot

from core_fixtures import (
    ACTOR,
    DAY,
    T0,
    TZ,
    assert_refused,
    called_id,
    issue,
    make_config,
    new_hall,
    open_windows,
    replay,
    round_trip,
)

HOUR = 3600.0
DAY_S = 24 * HOUR
CASE = "44030020240304000123"


def strict_hall(rules: RatingRules | None = None) -> Hall:
    """A hall with these rating rules (default: the rating asked for before the next call)."""
    config = replace(make_config(), ratings=rules or RatingRules(require_before_next=True))
    hall = new_hall(config)
    open_windows(hall)
    return hall


def serve(hall: Hall, window: str, theme: str, at: float) -> str:
    """Issue a ticket, call it at `window`, and finish its service; its id."""
    ticket = issue(hall, theme, at)
    hall.call_ticket(window, ticket, at=at + 10, actor=ACTOR)
    hall.start(window, at=at + 20, actor=ACTOR)
    hall.finish(window, at=at + 300, actor=ACTOR)
    return ticket


def poorly_rated(rules: RatingRules | None = None) -> tuple[Hall, FollowUps, str, float]:
    """A hall whose g1 served A001 (case number recorded), rated 1 at `rated_at`; its fold."""
    hall = strict_hall(rules or RatingRules())
    ticket = serve(hall, "g1", "A", T0)
    hall.record_case_number("g1", CASE, at=T0 + 310, actor="staff:zhang")
    rated_at = T0 + 320
    events = hall.rate(ticket, 1, at=rated_at, actor="pad:g1")
    folded = FollowUps.replay(events)
    return hall, folded, followup_id_of(ticket), rated_at


def status_of(followup: FollowUp) -> FollowUpStatus:
    """The follow-up's status now (read afresh each time it is asked)."""
    return followup.status


def do(hall: Hall, fold: FollowUps, events: list[Event]) -> list[Event]:
    """Apply a follow-up command's events as the service does: to the day and to the fold."""
    for event in events:
        hall.apply(event)
        fold.apply(event)
    return events


# ------------------------------------------------------------------ opening


def test_a_poor_rating_opens_a_follow_up_in_the_same_command() -> None:
    hall = strict_hall(RatingRules())
    ticket = serve(hall, "g1", "A", T0)
    hall.windows["g1"].clerk = "zhang.min"
    hall.record_case_number("g1", CASE, at=T0 + 310, actor="staff:zhang.min")

    events = hall.rate(ticket, 2, at=T0 + 400, actor="pad:g1")

    rated, opened = events
    assert isinstance(rated, TicketRated)
    assert isinstance(opened, FollowUpOpened)
    assert opened.followup == followup_id_of(ticket) == "fu-20240304-A001"
    assert (opened.number, opened.day, opened.window, opened.clerk) == (
        "A001",
        DAY,
        "g1",
        "zhang.min",
    )
    assert (opened.score, opened.case_number) == (2, CASE)
    assert opened.callback_due == T0 + 400 + DAY_S
    assert opened.rectify_due == T0 + 400 + 15 * DAY_S
    assert opened.actor == "pad:g1"


@pytest.mark.parametrize("score", [3, 4, 5])
def test_a_rating_that_passes_opens_nothing(score: int) -> None:
    hall = strict_hall(RatingRules())
    ticket = serve(hall, "g1", "A", T0)
    assert [type(e) for e in hall.rate(ticket, score, at=T0 + 400, actor=ACTOR)] == [TicketRated]


def test_the_deadlines_follow_the_hall_s_rules() -> None:
    rules = RatingRules(callback_within_s=2 * 3600, rectify_within_s=3 * 24 * 3600)
    _, fold, followup, rated_at = poorly_rated(rules)
    opened = fold.get(followup)
    assert opened.callback_due == rated_at + 2 * HOUR
    assert opened.rectify_due == rated_at + 3 * DAY_S


# ------------------------------------------------------------------ deadlines at a moment


def test_overdue_is_judged_at_the_moment_given() -> None:
    hall, fold, followup, rated_at = poorly_rated()
    f = fold.get(followup)
    assert status_of(f) is FollowUpStatus.OPEN
    assert not f.overdue(rated_at + DAY_S)  # the last second of the day is still in time
    assert f.callback_overdue(rated_at + DAY_S + 1)
    assert [x.id for x in fold.overdue(rated_at + DAY_S + 1)] == [followup]
    assert fold.overdue(rated_at + 10) == []

    do(hall, fold, fold.call_back(followup, "rang, apologised", at=rated_at + 2 * DAY_S, actor="m"))
    assert not f.callback_overdue(rated_at + 3 * DAY_S)  # called back, if late
    assert f.callback_outcome(rated_at + 3 * DAY_S) is Deadline.MISSED
    assert not f.rectify_overdue(rated_at + 15 * DAY_S)
    assert f.rectify_overdue(rated_at + 15 * DAY_S + 1)

    do(
        hall,
        fold,
        fold.rectify(followup, "counter re-trained", False, at=rated_at + 16 * DAY_S, actor="m"),
    )
    assert status_of(f) is FollowUpStatus.CLOSED
    assert not f.overdue(rated_at + 30 * DAY_S)  # closed: nothing is overdue any more
    assert f.rectify_outcome(rated_at + 30 * DAY_S) is Deadline.MISSED


def test_a_poor_new_rating_keeps_it_open_until_one_passes() -> None:
    hall, fold, followup, rated_at = poorly_rated()
    f = fold.get(followup)
    do(
        hall,
        fold,
        fold.call_back(followup, "told us what went wrong", at=rated_at + HOUR, actor="m"),
    )
    do(
        hall,
        fold,
        fold.rectify(followup, "form explained", True, at=rated_at + 2 * DAY_S, actor="m"),
    )
    assert status_of(f) is FollowUpStatus.AWAITING_RATING
    assert f.closed is None

    do(hall, fold, fold.rerate(followup, 2, "still unhappy", at=rated_at + 3 * DAY_S, actor="m"))
    assert status_of(f) is FollowUpStatus.CALLED_BACK  # open again: to be put right again
    assert (f.reopened, f.latest_score, f.rating_asked, f.rectified) == (1, 2, False, None)

    do(hall, fold, fold.rectify(followup, "fee refunded", True, at=rated_at + 4 * DAY_S, actor="m"))
    do(hall, fold, fold.rerate(followup, 4, "satisfied now", at=rated_at + 5 * DAY_S, actor="m"))
    assert status_of(f) is FollowUpStatus.CLOSED
    closed = fold.get(followup).closed
    assert closed is not None
    assert (closed.note, f.latest_score) == ("satisfied now", 4)
    assert f.rectify_outcome(rated_at + 20 * DAY_S) is Deadline.MET
    assert f.callback_outcome(rated_at + 20 * DAY_S) is Deadline.MET
    assert [s.kind for s in f.history] == [
        "opened",
        "called_back",
        "rectified",
        "rerated",
        "rectified",
        "rerated",
    ]


def test_a_new_rating_counts_as_the_callback_when_none_was_recorded() -> None:
    hall, fold, followup, rated_at = poorly_rated()
    do(hall, fold, fold.rerate(followup, 3, "called, fine", at=rated_at + HOUR, actor="m"))
    f = fold.get(followup)
    assert f.callback is not None
    assert f.callback.at == rated_at + HOUR
    assert status_of(f) is FollowUpStatus.CLOSED


def test_a_closed_follow_up_takes_no_more_actions_and_bad_input_is_refused() -> None:
    hall, fold, followup, rated_at = poorly_rated()
    with pytest.raises(InvalidCommand):
        fold.call_back(followup, "   ", at=rated_at, actor="m")
    with pytest.raises(InvalidCommand):
        fold.rectify(followup, "x" * 501, False, at=rated_at, actor="m")
    for score in (0, 6, True):
        with pytest.raises(InvalidCommand):
            fold.rerate(followup, score, "", at=rated_at, actor="m")
    with pytest.raises(NotFound):
        fold.call_back("fu-20240304-Z999", "x", at=rated_at, actor="m")
    do(hall, fold, fold.rectify(followup, "done", False, at=rated_at + HOUR, actor="m"))
    later = rated_at + 2 * HOUR
    commands: list[Callable[[], object]] = [
        partial(fold.call_back, followup, "again", at=later, actor="m"),
        partial(fold.rectify, followup, "again", True, at=later, actor="m"),
        partial(fold.rerate, followup, 5, "", at=later, actor="m"),
    ]
    for command in commands:
        with pytest.raises(Conflict):
            command()


def test_open_follow_ups_are_listed_first_soonest_deadline_first() -> None:
    hall = strict_hall(RatingRules())
    fold = FollowUps()
    ids = []
    for n, at in enumerate((T0, T0 + 1000, T0 + 2000)):
        ticket = serve(hall, "g1", "A", at)
        for event in hall.rate(ticket, 1, at=at + 400, actor="pad"):
            fold.apply(event)
        ids.append(followup_id_of(ticket))
        assert len(ids) == n + 1
    first, second, third = ids
    # The first is called back: its next deadline is the rectification, 15 days on.
    do(hall, fold, fold.call_back(first, "rang", at=T0 + 3000, actor="m"))
    do(hall, fold, fold.rectify(second, "fixed", False, at=T0 + 3100, actor="m"))
    assert [f.id for f in fold.listed()] == [third, first, second]
    assert [f.id for f in fold.listed("open")] == [third, first]
    assert [f.id for f in fold.listed("closed")] == [second]


# ------------------------------------------------------------------ for the efficiency report


def test_outcomes_say_for_a_range_of_days_which_deadlines_were_met() -> None:
    hall, fold, followup, rated_at = poorly_rated()
    do(hall, fold, fold.call_back(followup, "rang", at=rated_at + HOUR, actor="m"))
    # Another day's follow-up, never called back.
    next_day = Hall.new_day(hall.config, "2024-03-05", TZ)
    open_windows(next_day)
    ticket = serve(next_day, "g2", "B", T0 + DAY_S)
    for event in next_day.rate(ticket, 2, at=T0 + DAY_S + 400, actor="pad"):
        fold.apply(event)

    at = T0 + 3 * DAY_S
    both = fold.outcomes("2024-03-04", "2024-03-05", at=at)
    assert [(o.day, o.number) for o in both] == [("2024-03-04", "A001"), ("2024-03-05", "B001")]
    first, second = both
    assert (first.callback, first.rectification) == (Deadline.MET, Deadline.PENDING)
    assert first.called_back_at == rated_at + HOUR
    assert first.closed_at is None
    assert (first.window, first.case_number, first.score) == ("g1", CASE, 1)
    assert (second.callback, second.rectification) == (Deadline.MISSED, Deadline.PENDING)
    assert [o.number for o in fold.outcomes("2024-03-05", "2024-03-31", at=at)] == ["B001"]
    assert fold.outcomes("2024-02-01", "2024-02-29", at=at) == []


# ------------------------------------------------------------------ case numbers


def test_a_case_number_is_recorded_for_the_current_or_just_finished_service() -> None:
    hall = strict_hall(RatingRules())
    assert_refused(hall, Conflict, lambda: hall.record_case_number("g1", CASE, at=T0, actor="s"))
    ticket = issue(hall, "A", T0)
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    for bad in ("", "4403 0020", "办件123", "A" * 41, "44/03"):
        assert_refused(
            hall, InvalidCommand, partial(hall.record_case_number, "g1", bad, at=T0, actor="s")
        )
    (recorded,) = hall.record_case_number("g1", f" {CASE} ", at=T0 + 20, actor="staff:zhang")
    assert isinstance(recorded, CaseNumberRecorded)
    assert (recorded.ticket_id, recorded.case_number, recorded.window) == (ticket, CASE, "g1")
    assert hall.record_case_number("g1", CASE, at=T0 + 21, actor="s") == []  # the same: nothing
    hall.finish("g1", at=T0 + 300, actor=ACTOR)
    hall.record_case_number("g1", "GD-2024-0001", at=T0 + 310, actor="s")  # a correction
    assert hall.case_numbers[ticket] == "GD-2024-0001"
    assert hall.case_ticket("g1") is hall.tickets[ticket]


def test_a_case_number_recorded_after_the_poor_rating_reaches_its_follow_up() -> None:
    hall = strict_hall(RatingRules())
    ticket = serve(hall, "g1", "A", T0)
    fold = FollowUps.replay(hall.rate(ticket, 1, at=T0 + 400, actor="pad"))
    assert fold.get(followup_id_of(ticket)).case_number is None
    for event in hall.record_case_number("g1", CASE, at=T0 + 410, actor="staff:zhang"):
        fold.apply(event)
    assert fold.get(followup_id_of(ticket)).case_number == CASE


# ------------------------------------------------------------------ ask for the rating first


def test_a_window_must_ask_for_the_rating_before_it_calls_again() -> None:
    hall = strict_hall()
    first = serve(hall, "g1", "A", T0)
    waiting = issue(hall, "A", T0 + 400)

    exc = assert_refused(hall, RatingRequired, lambda: hall.call_next("g1", at=T0 + 500, actor="s"))
    assert exc.code == "rating_required"
    assert exc.details == {"window": "g1", "ticket": first}
    assert "请求评价" in exc.message
    assert_refused(
        hall, RatingRequired, lambda: hall.call_ticket("g1", waiting, at=T0 + 500, actor="s")
    )
    assert hall.rating_owed("g1") is hall.tickets[first]

    hall.request_rating("g1", at=T0 + 510, actor="s")
    assert hall.rating_owed("g1") is None
    assert hall.call_next("g1", at=T0 + 520, actor="s")  # asked: it may call


def test_a_rating_that_came_in_is_as_good_as_asking_for_it() -> None:
    hall = strict_hall()
    ticket = serve(hall, "g1", "A", T0)
    issue(hall, "A", T0 + 400)
    hall.rate(ticket, 5, at=T0 + 450, actor="pad")
    assert hall.call_next("g1", at=T0 + 500, actor="s")


def test_a_call_while_serving_would_end_the_service_so_it_must_be_asked_first() -> None:
    hall = strict_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 1)
    hall.call_next("g1", at=T0 + 10, actor="s")
    # Called, not served: nothing to rate, a no-show frees the window.
    assert hall.rating_owed("g1") is None
    hall.start("g1", at=T0 + 20, actor="s")
    assert_refused(hall, RatingRequired, lambda: hall.call_next("g1", at=T0 + 30, actor="s"))
    hall.request_rating("g1", at=T0 + 40, actor="s")
    assert hall.call_next("g1", at=T0 + 50, actor="s")


def test_the_rule_is_off_unless_the_hall_sets_it() -> None:
    hall = strict_hall(RatingRules())
    serve(hall, "g1", "A", T0)
    issue(hall, "A", T0 + 400)
    assert hall.rating_owed("g1") is not None
    assert hall.call_next("g1", at=T0 + 500, actor="s")


def test_a_manager_override_lets_the_window_call_for_that_service_only() -> None:
    hall = strict_hall()
    first = serve(hall, "g1", "A", T0)
    issue(hall, "A", T0 + 400)
    issue(hall, "A", T0 + 401)
    assert_refused(hall, InvalidCommand, lambda: hall.waive_rating("g1", " ", at=T0, actor="m"))
    (waived,) = hall.waive_rating("g1", "applicant left in a hurry", at=T0 + 450, actor="manager:w")
    assert isinstance(waived, RatingWaived)
    assert (waived.window, waived.ticket_id) == ("g1", first)
    assert_refused(hall, Conflict, lambda: hall.waive_rating("g1", "again", at=T0, actor="m"))
    second = called_id(hall.call_next("g1", at=T0 + 500, actor="s"))
    hall.start("g1", at=T0 + 510, actor="s")
    hall.finish("g1", at=T0 + 600, actor="s")
    assert hall.tickets[second].status is TicketStatus.FINISHED
    # The next finished service is owed again.
    assert_refused(hall, RatingRequired, lambda: hall.call_next("g1", at=T0 + 700, actor="s"))


def test_nothing_to_override_where_the_hall_has_no_such_rule() -> None:
    hall = strict_hall(RatingRules())
    serve(hall, "g1", "A", T0)
    assert_refused(hall, Conflict, lambda: hall.waive_rating("g1", "why", at=T0, actor="m"))


# ------------------------------------------------------------------ the log, replay, snapshots


def test_the_fold_and_the_day_are_rebuilt_from_their_events() -> None:
    hall = new_hall(replace(make_config(), ratings=RatingRules(require_before_next=True)))
    log: list[Event] = []
    fold = FollowUps()

    def run(events: list[Event]) -> None:
        for event in events:
            fold.apply(event)
        log.extend(events)

    run(hall.open_window("g1", at=T0 - 60, actor="s"))
    run(hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor="k"))
    run(hall.call_next("g1", at=T0 + 10, actor="s"))
    run(hall.finish("g1", at=T0 + 300, actor="s"))
    run(hall.record_case_number("g1", CASE, at=T0 + 305, actor="s"))
    run(hall.rate("A001", 1, at=T0 + 310, actor="pad"))
    called_back = fold.call_back(followup_id_of("20240304-A001"), "rang", at=T0 + 400, actor="m")
    for event in called_back:
        hall.apply(event)  # the day's events like any other
    run(called_back)
    run(hall.issue(theme="A", priority=None, channel="kiosk", at=T0 + 500, actor="k"))
    run(hall.call_next("g1", at=T0 + 510, actor="s"))
    run(hall.finish("g1", at=T0 + 600, actor="s"))
    run(hall.waive_rating("g1", "left", at=T0 + 610, actor="m"))

    rebuilt = replay(hall.config, log)
    assert rebuilt.case_numbers == hall.case_numbers == {"20240304-A001": CASE}
    assert rebuilt.rating_waivers == hall.rating_waivers == {"g1": "20240304-A002"}
    assert rebuilt.version == hall.version == len(log)

    again = FollowUps.replay(round_trip(e) for e in log)
    assert again.items == fold.items
    assert again.get("fu-20240304-A001").callback is not None
    assert {e.type_name for e in log if e.type_name in FOLLOWUP_EVENT_NAMES} == {
        "FollowUpOpened",
        "FollowUpCalledBack",
        "CaseNumberRecorded",
    }

    stored = json.loads(json.dumps(to_snapshot(hall), ensure_ascii=False))
    restored = from_snapshot(hall.config, TZ, stored)
    assert restored.case_numbers == hall.case_numbers
    assert restored.rating_waivers == hall.rating_waivers
    # A snapshot written before these keys existed still loads.
    del stored["case_numbers"], stored["rating_waivers"]
    older = from_snapshot(hall.config, TZ, stored)
    assert (older.case_numbers, older.rating_waivers) == ({}, {})
