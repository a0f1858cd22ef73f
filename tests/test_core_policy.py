"""The next-ticket policy, one rule at a time, and the wait forecast built on it.

Defaults (DESIGN.md, "The policy's defaults"): max wait 25 min (a quarter of it for priority
tickets), at most 2 priority calls in a row, a 15 min head start for priority groups, a 5 min
bonus for a window's own theme, appointments due from 10 min before to 15 min after the slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from hall_controller.core.events import Event, TicketCalled
from hall_controller.core.forecast import Estimate, forecast
from hall_controller.core.hall import Hall, ServiceStats
from hall_controller.core.model import Policy

from core_fixtures import (
    ACTOR,
    T0,
    check_called,
    issue,
    make_config,
    new_hall,
    open_windows,
    theme,
    window,
)


def check_call(events: Sequence[Event], hall: Hall | None = None) -> TicketCalled:
    """The one call among these events, with its explanation checked."""
    calls = [e for e in events if isinstance(e, TicketCalled)]
    assert len(calls) == 1, events
    check_called(calls[0], hall)
    return calls[0]


def call(hall: Hall, window_id: str, at: float) -> TicketCalled:
    """Call next at a window (finishing what it serves), checking the recorded explanation."""
    current = hall.windows[window_id].ticket_id
    if current is not None:
        hall.finish(window_id, at=at, actor=ACTOR)
    return check_call(hall.call_next(window_id, at=at, actor=ACTOR), hall)


def number(hall: Hall, event: TicketCalled) -> str:
    return hall.tickets[event.ticket_id].number


def single_theme_hall(policy: Policy | None = None, max_wait_s: int = 1500) -> Hall:
    """One theme A, one window w serving only A (so every candidate gets the same bonus)."""
    config = make_config((theme("A", max_wait_s=max_wait_s),), (window("w", "A"),), policy=policy)
    hall = new_hall(config)
    open_windows(hall)
    return hall


# ------------------------------------------------------------------ longest wait


def test_longest_wait_first_among_regular_tickets() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 60)
    first = call(hall, "w", T0 + 120)
    assert number(hall, first) == "A001"
    assert first.rule == "longest_wait"
    second = call(hall, "w", T0 + 180)
    assert number(hall, second) == "A002"
    assert second.rule == "longest_wait"


def test_score_parts_are_recorded() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 60, priority="elderly")
    event = call(hall, "w", T0 + 100)
    by_number = {c.number: c for c in event.candidates}
    assert set(by_number) == {"A001", "A002"}
    regular, priority = by_number["A001"], by_number["A002"]
    assert (regular.waited_s, regular.aging, regular.head_start) == (100, 100, 0)
    assert regular.preference == 300
    assert regular.score == 400
    assert regular.overdue_s == 100 - 1500
    assert (priority.waited_s, priority.head_start, priority.score) == (40, 900, 1240)
    assert priority.priority == "elderly"
    assert priority.overdue_s == 40 - 375
    assert not regular.appointment_due


# ------------------------------------------------------------------ priority head start


def test_priority_ticket_goes_first_within_its_head_start() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 600, priority="elderly")  # 10 min later, head start 15 min
    event = call(hall, "w", T0 + 700)
    assert number(hall, event) == "A002"
    assert event.rule == "priority"


def test_regular_ticket_waiting_longer_than_the_head_start_goes_first() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 1000, priority="elderly")  # head start 900 s is not enough
    event = call(hall, "w", T0 + 1100)
    assert number(hall, event) == "A001"
    assert event.rule == "longest_wait"


def test_priority_ticket_with_nobody_else_waiting_is_just_the_longest_wait() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0, priority="disabled")
    event = call(hall, "w", T0 + 10)
    assert event.rule in {"longest_wait", "priority"}
    assert number(hall, event) == "A001"


# ------------------------------------------------------------------ max wait


def test_regular_ticket_past_max_wait_beats_a_fresh_priority_ticket() -> None:
    # A 10 minute maximum wait: a fresh priority ticket (score 900+) would win on score.
    hall = single_theme_hall(max_wait_s=600)
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 590, priority="elderly")
    event = call(hall, "w", T0 + 600)
    assert number(hall, event) == "A001"
    assert event.rule == "max_wait"
    chosen = next(c for c in event.candidates if c.ticket_id == event.ticket_id)
    assert chosen.overdue_s == 0


def test_one_second_before_max_wait_the_priority_ticket_wins() -> None:
    hall = single_theme_hall(max_wait_s=600)
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 590, priority="elderly")
    event = call(hall, "w", T0 + 599)
    assert number(hall, event) == "A002"
    assert event.rule == "priority"


def test_priority_max_wait_is_the_theme_max_times_the_factor() -> None:
    # Theme max 1500 s: a priority ticket's hard limit is 375 s by default.
    hall = single_theme_hall()
    issue(hall, "A", T0)  # regular, 1400 s waited at the call: best score, not overdue
    issue(hall, "A", T0 + 1000, priority="elderly")  # 400 s waited: 25 s past 375
    event = call(hall, "w", T0 + 1400)
    assert number(hall, event) == "A002"
    assert event.rule == "max_wait"
    chosen = next(c for c in event.candidates if c.ticket_id == event.ticket_id)
    assert chosen.overdue_s == pytest.approx(25)


def test_priority_ticket_within_its_limit_does_not_jump_by_max_wait() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 1030, priority="elderly")  # 370 s waited: within 375
    event = call(hall, "w", T0 + 1400)
    assert number(hall, event) == "A001"
    assert event.rule == "longest_wait"


def test_priority_max_wait_factor_is_a_setting() -> None:
    hall = single_theme_hall(Policy(priority_max_wait_factor=0.5))  # limit 750 s
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 1000, priority="elderly")
    event = call(hall, "w", T0 + 1400)
    assert number(hall, event) == "A001"
    assert event.rule == "longest_wait"


@pytest.mark.parametrize(("regular_waited", "expected"), [(1600, "A002"), (1700, "A001")])
def test_among_overdue_tickets_the_earliest_deadline_goes_first(
    regular_waited: int, expected: str
) -> None:
    hall = single_theme_hall(Policy(priority_head_start_s=0))
    now = T0 + 5000
    issue(hall, "A", now - regular_waited)  # deadline: arrival + 1500
    issue(hall, "A", now - 500, priority="elderly")  # deadline: arrival + 375 (125 s ago)
    event = call(hall, "w", now)
    assert number(hall, event) == expected
    assert event.rule == "max_wait"


def test_max_wait_applies_across_themes_and_windows() -> None:
    # Window g1 prefers A; a B ticket past its max wait is called there first anyway.
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "B", T0)
    issue(hall, "A", T0 + 1400, priority="pregnant")
    event = call(hall, "g1", T0 + 1500)
    assert number(hall, event) == "B001"
    assert event.rule == "max_wait"


def test_max_wait_beats_a_due_appointment() -> None:
    hall = single_theme_hall()
    slot = T0 + 1500
    issue(hall, "A", T0)
    issue(hall, "A", T0 + 1400, appointment_at=slot)
    event = call(hall, "w", slot)
    assert number(hall, event) == "A001"
    assert event.rule == "max_wait"


# ------------------------------------------------------------------ appointments


def appointment_hall() -> tuple[Hall, float]:
    """Two walk-ins waiting since T0, and an appointment for slot T0+3600 checked in early."""
    hall = single_theme_hall(max_wait_s=3600)
    slot = T0 + 3600
    issue(hall, "A", T0 + 2400)
    issue(hall, "A", T0 + 2500)
    issue(hall, "A", T0 + 2600, appointment_at=slot)  # A003
    return hall, slot


@pytest.mark.parametrize(
    ("offset", "expected", "rule"),
    [
        (-601, "A001", "longest_wait"),
        (-600, "A003", "appointment"),
        (0, "A003", "appointment"),
        (900, "A003", "appointment"),
    ],
)
def test_appointment_is_due_from_early_until_late(offset: int, expected: str, rule: str) -> None:
    hall, slot = appointment_hall()
    event = call(hall, "w", slot + offset)
    assert number(hall, event) == expected
    assert event.rule == rule
    weighed = {c.number: c for c in event.candidates}
    if rule == "appointment":
        assert weighed["A003"].appointment_due
    else:
        # Not due yet: it waits in line like a walk-in, behind the older tickets.
        assert "A003" not in weighed or not weighed["A003"].appointment_due


def test_earliest_due_slot_goes_first() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0, appointment_at=T0 + 1000)
    issue(hall, "A", T0 + 10, appointment_at=T0 + 900)
    event = call(hall, "w", T0 + 950)
    assert number(hall, event) == "A002"
    assert event.rule == "appointment"
    event = call(hall, "w", T0 + 960)
    assert number(hall, event) == "A001"
    assert event.rule == "appointment"


def test_appointment_due_is_seen_by_a_window_whose_second_theme_it_is() -> None:
    hall = new_hall()
    open_windows(hall, "g1")  # A then B
    issue(hall, "A", T0)
    issue(hall, "B", T0 + 100, appointment_at=T0 + 400)
    event = call(hall, "g1", T0 + 300)
    assert number(hall, event) == "B001"
    assert event.rule == "appointment"


def test_late_appointment_is_a_walk_in() -> None:
    hall = single_theme_hall(Policy(priority_head_start_s=0))
    slot = T0 + 3600
    issue(hall, "A", slot + 950)  # walk-in
    issue(hall, "A", slot + 1000, appointment_at=slot)  # checked in 16 min 40 s late
    first = call(hall, "w", slot + 1010)
    assert number(hall, first) == "A001"
    assert first.rule == "longest_wait"
    assert all(not c.appointment_due for c in first.candidates)
    second = call(hall, "w", slot + 1020)
    assert number(hall, second) == "A002"
    assert second.rule == "longest_wait"
    assert not second.candidates[0].appointment_due


def test_appointment_that_expires_while_waiting_keeps_its_arrival_place() -> None:
    hall = single_theme_hall(max_wait_s=3600)
    slot = T0 + 600
    issue(hall, "A", T0 - 100, appointment_at=slot)  # checked in early, then missed its slot
    issue(hall, "A", T0)
    # Past slot + 15 min it is not due any more, but it still arrived first.
    event = call(hall, "w", slot + 901)
    assert number(hall, event) == "A001"
    assert event.rule == "longest_wait"


# ------------------------------------------------------------------ priority streak limit


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_at_most_k_priority_calls_in_a_row_while_regulars_wait(limit: int) -> None:
    hall = single_theme_hall(Policy(priority_streak_limit=limit))
    issue(hall, "A", T0)  # regular A001
    issue(hall, "A", T0 + 5)  # regular A002
    for i in range(2 * limit + 1):
        issue(hall, "A", T0 + 10 + i, priority="elderly")
    now = T0 + 20
    rules: list[str] = []
    kinds: list[str] = []
    for _ in range(2 * limit + 3):
        now += 10
        event = call(hall, "w", now)
        rules.append(event.rule)
        kinds.append("P" if hall.tickets[event.ticket_id].priority else "R")
    assert kinds == ["P"] * limit + ["R"] + ["P"] * limit + ["R"] + ["P"]
    assert rules == (
        ["priority"] * limit
        + ["priority_limit"]
        + ["priority"] * limit
        + ["priority_limit"]
        + ["longest_wait"]  # no regular waits any more: nothing to protect
    )


def test_priority_streak_counts_per_window_and_resets_after_a_regular_call() -> None:
    hall = single_theme_hall()
    issue(hall, "A", T0)
    for i in range(3):
        issue(hall, "A", T0 + 10 + i, priority="elderly")
    call(hall, "w", T0 + 100)
    assert hall.windows["w"].priority_streak == 1
    call(hall, "w", T0 + 200)
    assert hall.windows["w"].priority_streak == 2
    event = call(hall, "w", T0 + 300)
    assert event.rule == "priority_limit"
    assert hall.windows["w"].priority_streak == 0
    event = call(hall, "w", T0 + 400)
    assert hall.tickets[event.ticket_id].priority == "elderly"
    assert hall.windows["w"].priority_streak == 1


def test_priority_calls_go_on_when_no_regular_ticket_waits() -> None:
    hall = single_theme_hall()
    for i in range(4):
        issue(hall, "A", T0 + i, priority="elderly")
    for i in range(4):
        event = call(hall, "w", T0 + 100 + i)
        assert hall.tickets[event.ticket_id].priority == "elderly"
    assert hall.windows["w"].priority_streak == 4


def test_priority_limit_call_records_the_regular_ticket_it_chose() -> None:
    """A window with many priority tickets sent to it still explains its priority_limit call.

    The personalised-service window gets priority applicants transferred to it; 12 of them wait
    in its own line, and one regular ticket waits in its theme. After two priority calls in a
    row the regular ticket is due by rule "priority_limit", and the call must record it among
    the candidates weighed (DESIGN: "every call records why that ticket was chosen").
    """
    config = make_config((theme("A"),), (window("personal", "A"), window("desk", "A")))
    hall = new_hall(config)
    open_windows(hall)
    regular = issue(hall, "A", T0)
    for i in range(14):
        ticket_id = issue(hall, "A", T0 + 100 + i, priority="disabled")
        hall.transfer(
            ticket_id, to_theme=None, to_window="personal", reason="", at=T0 + 200, actor=ACTOR
        )
    call(hall, "personal", T0 + 300)
    call(hall, "personal", T0 + 310)
    hall.finish("personal", at=T0 + 320, actor=ACTOR)
    events = hall.call_next("personal", at=T0 + 320, actor=ACTOR)
    called = [e for e in events if isinstance(e, TicketCalled)][-1]
    assert called.rule == "priority_limit"
    assert called.ticket_id == regular
    check_call(events, hall)


# ------------------------------------------------------------------ window preference


def test_windows_first_theme_beats_a_slightly_older_ticket_of_its_second_theme() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")  # g1: A then B; g2: B then A
    issue(hall, "B", T0)
    issue(hall, "A", T0 + 100)  # 100 s younger, bonus 300 s
    event = call(hall, "g1", T0 + 200)
    assert number(hall, event) == "A001"
    assert event.rule == "preference"
    bonus = {c.theme: c.preference for c in event.candidates}
    assert bonus == {"A": 300, "B": 0}


def test_windows_first_theme_does_not_beat_a_much_older_ticket() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "B", T0)
    issue(hall, "A", T0 + 400)  # 400 s younger: more than the 300 s bonus
    event = call(hall, "g1", T0 + 500)
    assert number(hall, event) == "B001"
    assert event.rule == "longest_wait"


def test_the_other_window_prefers_the_other_theme() -> None:
    hall = new_hall()
    open_windows(hall, "g1", "g2")
    issue(hall, "B", T0)
    issue(hall, "A", T0 + 100)
    assert number(hall, call(hall, "g2", T0 + 200)) == "B001"
    assert number(hall, call(hall, "g1", T0 + 200)) == "A001"


def test_preference_falls_linearly_to_zero_for_the_last_theme() -> None:
    config = make_config((theme("A"), theme("B"), theme("C")), (window("w", "A", "B", "C"),))
    hall = new_hall(config)
    open_windows(hall)
    issue(hall, "A", T0)
    issue(hall, "B", T0)
    issue(hall, "C", T0)
    event = call(hall, "w", T0 + 10)
    assert {c.theme: c.preference for c in event.candidates} == {"A": 300, "B": 150, "C": 0}
    assert number(hall, event) == "A001"


def test_ticket_sent_to_the_window_gets_the_full_bonus() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "A", T0)
    sent = issue(hall, "B", T0 + 100)
    hall.transfer(sent, to_theme=None, to_window="g1", reason="", at=T0 + 100, actor=ACTOR)
    event = call(hall, "g1", T0 + 200)
    bonus = {c.ticket_id: c.preference for c in event.candidates}
    assert bonus[sent] == 300


# ------------------------------------------------------------------ forecast


@dataclass(frozen=True)
class AllEstimates:
    """A forecast and the estimate of every waiting ticket as of its instant."""

    version: int
    intervals: dict[str, float | None]
    estimates: dict[str, Estimate]


def forecast_all(hall: Hall, now: float) -> AllEstimates:
    result = forecast(hall, now)
    estimates = {}
    for ticket in hall.waiting():
        estimate = result.estimate(hall, ticket.id, now)
        assert estimate is not None
        estimates[ticket.id] = estimate
    return AllEstimates(result.version, result.intervals, estimates)


def forecast_hall(service_s: int = 300) -> Hall:
    config = make_config(
        (theme("A", default_service_s=service_s), theme("C")),
        (window("w", "A"), window("c-desk", "C")),
    )
    hall = new_hall(config)
    open_windows(hall, "w")
    return hall


def test_forecast_one_window_n_regular_tickets() -> None:
    hall = forecast_hall(service_s=300)
    ids = [issue(hall, "A", T0 + i) for i in range(5)]
    now = T0 + 10
    result = forecast_all(hall, now)
    assert result.version == hall.version
    waits = [result.estimates[t].wait_s for t in ids]
    assert waits == pytest.approx([0, 300, 600, 900, 1200])
    assert [result.estimates[t].ahead for t in ids] == [0, 1, 2, 3, 4]
    assert [result.estimates[t].position for t in ids] == [1, 2, 3, 4, 5]


def test_forecast_counts_the_ticket_being_served() -> None:
    hall = forecast_hall(service_s=300)
    issue(hall, "A", T0)
    waiting = issue(hall, "A", T0 + 1)
    hall.call_next("w", at=T0 + 10, actor=ACTOR)
    hall.start("w", at=T0 + 20, actor=ACTOR)
    result = forecast_all(hall, T0 + 120)  # 100 s into a 300 s service
    assert result.estimates[waiting].wait_s == pytest.approx(200)
    assert result.estimates[waiting].ahead == 0


def test_forecast_places_priority_tickets_first() -> None:
    hall = forecast_hall(service_s=300)
    r1 = issue(hall, "A", T0)
    r2 = issue(hall, "A", T0 + 10)
    p1 = issue(hall, "A", T0 + 20, priority="elderly")
    result = forecast_all(hall, T0 + 30)
    assert result.estimates[p1].wait_s == pytest.approx(0)
    assert result.estimates[p1].ahead == 0
    assert result.estimates[r1].wait_s == pytest.approx(300)
    assert result.estimates[r2].wait_s == pytest.approx(600)
    assert result.estimates[r2].ahead == 2


def test_forecast_theme_without_an_open_window_has_no_wait() -> None:
    hall = forecast_hall()
    c1 = issue(hall, "C", T0)
    c2 = issue(hall, "C", T0 + 1)
    a1 = issue(hall, "A", T0 + 2)
    result = forecast_all(hall, T0 + 10)
    assert result.estimates[c1].wait_s is None
    assert result.estimates[c2].wait_s is None
    assert result.estimates[c2].ahead == 1
    assert result.estimates[a1].wait_s == pytest.approx(0)
    assert result.intervals["C"] is None


def test_forecast_of_a_paused_window_has_no_wait() -> None:
    hall = forecast_hall()
    ticket_id = issue(hall, "A", T0)
    hall.pause_window("w", "lunch", at=T0 + 1, actor=ACTOR)
    assert forecast_all(hall, T0 + 10).estimates[ticket_id].wait_s is None


def test_forecast_with_two_windows_halves_the_interval() -> None:
    config = make_config((theme("A"),), (window("w1", "A"), window("w2", "A")))
    hall = new_hall(config)
    open_windows(hall)
    ids = [issue(hall, "A", T0 + i) for i in range(6)]
    result = forecast_all(hall, T0 + 10)
    waits = [result.estimates[t].wait_s for t in ids]
    assert waits == pytest.approx([0, 0, 300, 300, 600, 600])
    assert result.intervals["A"] == pytest.approx(150)


@pytest.mark.parametrize(
    ("services", "expected_mean"),
    [(0, 300.0), (1, 400.0), (2, 500.0), (3, 600.0), (5, 600.0)],
)
def test_observed_service_times_change_estimates(services: int, expected_mean: float) -> None:
    """Each observed service of 600 s (default 300 s) moves the estimate; after 3, it is all."""
    hall = forecast_hall(service_s=300)
    now = T0
    for _ in range(services):
        issue(hall, "A", now)
        hall.call_next("w", at=now, actor=ACTOR)
        hall.start("w", at=now, actor=ACTOR)
        now += 600
        hall.finish("w", at=now, actor=ACTOR)
    assert hall.service_time_s("A") == pytest.approx(expected_mean)
    ids = [issue(hall, "A", now + i) for i in range(3)]
    result = forecast_all(hall, now + 5)
    waits = [result.estimates[t].wait_s for t in ids]
    assert waits == pytest.approx([0, expected_mean, 2 * expected_mean])


def test_service_stats_blend() -> None:
    stats = ServiceStats()
    assert stats.mean_s(300) == 300
    stats.count, stats.total_s = 1, 60.0
    assert stats.mean_s(300) == pytest.approx((60 + 2 * 300) / 3)
    stats.count, stats.total_s = 10, 1000.0
    assert stats.mean_s(300) == pytest.approx(100)


def test_forecast_beyond_its_horizon_continues_the_same_rate() -> None:
    """A queue longer than the simulated horizon gets the same estimates, extrapolated."""
    hall = forecast_hall(service_s=300)
    ids = [issue(hall, "A", T0 + i) for i in range(400)]
    ids.insert(0, issue(hall, "A", T0 + 500, priority="elderly"))
    now = T0 + 600
    short = forecast(hall, now, horizon=50)
    assert len(short.estimates) == 50
    for ahead, ticket_id in enumerate(ids):
        estimate = short.estimate(hall, ticket_id, now)
        assert estimate is not None
        assert estimate.ahead == ahead
        assert estimate.wait_s == pytest.approx(ahead * 300)


def test_forecast_estimate_ages_and_places_new_tickets() -> None:
    hall = forecast_hall(service_s=300)
    ids = [issue(hall, "A", T0 + i) for i in range(3)]
    result = forecast(hall, T0 + 10)
    later = result.estimate(hall, ids[2], T0 + 110)
    assert later is not None
    assert later.wait_s == pytest.approx(500)
    assert later.ahead == 2


def test_estimate_of_a_ticket_newer_than_the_forecast_agrees_with_a_fresh_forecast() -> None:
    """A ticket issued after the forecast was computed is placed by queue order.

    One idle window, three tickets ahead, 300 s per service: the fresh forecast says 900 s
    (calls at 0, 300, 600, then 900). The stale forecast's estimate must say the same, or the
    applicant's phone shows a wait that jumps by a whole service when the forecast is redone.
    """
    hall = forecast_hall(service_s=300)
    for i in range(3):
        issue(hall, "A", T0 + i)
    stale = forecast(hall, T0 + 10)
    newcomer = issue(hall, "A", T0 + 20)
    estimate = stale.estimate(hall, newcomer, T0 + 20)
    fresh = forecast_all(hall, T0 + 20).estimates[newcomer]
    assert estimate is not None
    assert estimate.ahead == fresh.ahead == 3
    assert estimate.position == fresh.position == 4
    assert fresh.wait_s == pytest.approx(900)
    assert estimate.wait_s == pytest.approx(fresh.wait_s, abs=15)
