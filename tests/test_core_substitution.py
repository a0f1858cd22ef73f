"""Substitution (同岗替代), the personalised-service window and a visit's next stage."""

from __future__ import annotations

import dataclasses

from hall_controller.core.errors import Conflict, NotFound
from hall_controller.core.events import Event, TicketCalled, TicketContinued
from hall_controller.core.forecast import forecast
from hall_controller.core.hall import Hall
from hall_controller.core.model import HallConfig, TicketStatus, Window
from hall_controller.core.policy import Rule

from core_fixtures import (
    ACTOR,
    DEFAULT_THEMES,
    T0,
    assert_refused,
    called_id,
    check_called,
    issue,
    make_config,
    new_hall,
    open_windows,
    replay,
    state,
    theme,
    window,
)


def personalised_hall() -> Hall:
    """g1 serves A then B; "vip" is the personalised-service post listing only A."""
    vip = dataclasses.replace(window("vip", "A"), personalised=True)
    return new_hall(make_config(windows=(window("g1", "A", "B"), vip, window("pickup", "C"))))


def substitution_config() -> HallConfig:
    """Pick-up (C) is stood in for by the windows of theme A when its own window is away."""
    themes = (theme("A"), theme("B"), dataclasses.replace(theme("C"), similar=("A",)))
    windows = (window("g1", "A"), window("g2", "B"), window("pickup", "C"))
    return make_config(themes=themes, windows=windows)


def last_call(events: list[Event]) -> TicketCalled:
    call = events[-1]
    assert isinstance(call, TicketCalled)
    return call


# --------------------------------------------------------------- the personalised-service post


def test_the_personalised_window_calls_a_priority_ticket_of_any_theme_first() -> None:
    hall = personalised_hall()
    open_windows(hall)
    issue(hall, "A", T0)  # a regular A ticket, waiting longest
    issue(hall, "C", T0 + 60, priority="disabled")  # C is not among vip's themes

    call = last_call(hall.call_next("vip", at=T0 + 120, actor=ACTOR))

    assert hall.tickets[call.ticket_id].number == "C001"
    assert call.rule == Rule.PERSONALISED.value
    check_called(call, hall)


def test_the_personalised_window_calls_a_case_sent_to_it_before_older_regular_tickets() -> None:
    hall = personalised_hall()
    open_windows(hall)
    issue(hall, "A", T0)
    complex_case = issue(hall, "B", T0 + 30)
    hall.transfer(
        complex_case, to_theme=None, to_window="vip", reason="复杂件", at=T0 + 40, actor=ACTOR
    )

    call = last_call(hall.call_next("vip", at=T0 + 60, actor=ACTOR))

    assert call.ticket_id == complex_case
    assert call.rule == Rule.PERSONALISED.value


def test_with_no_priority_ticket_waiting_it_serves_its_own_themes_as_any_window() -> None:
    hall = personalised_hall()
    open_windows(hall)
    issue(hall, "B", T0)  # not a vip theme: out of its reach
    first_a = issue(hall, "A", T0 + 10)
    issue(hall, "C", T0 + 20)  # a regular pick-up ticket: out of its reach too

    call = last_call(hall.call_next("vip", at=T0 + 30, actor=ACTOR))

    assert call.ticket_id == first_a
    assert call.rule != Rule.PERSONALISED.value
    assert hall.decide_next("vip", T0 + 40) is None  # B and regular C are out of its reach


def test_a_regular_ticket_past_its_maximum_wait_still_goes_before_the_priority_groups() -> None:
    hall = personalised_hall()
    open_windows(hall)
    overdue = issue(hall, "A", T0)
    issue(hall, "A", T0 + 1400, priority="elderly")

    call = last_call(hall.call_next("vip", at=T0 + 1600, actor=ACTOR))  # 26 min > 25 min

    assert call.ticket_id == overdue
    assert call.rule == Rule.MAX_WAIT.value


def test_a_general_window_does_not_take_priority_tickets_of_themes_it_does_not_serve() -> None:
    hall = personalised_hall()
    open_windows(hall)
    issue(hall, "C", T0, priority="pregnant")

    assert hall.call_next("g1", at=T0 + 10, actor=ACTOR) == []
    ticket = hall.tickets[issue(hall, "C", T0 + 20, priority="elderly")]
    assert_refused(
        hall, Conflict, lambda: hall.call_ticket("g1", ticket.id, at=T0 + 30, actor=ACTOR)
    )
    assert called_id(hall.call_ticket("vip", ticket.id, at=T0 + 40, actor=ACTOR)) == ticket.id


def test_the_personalised_windows_next_tickets_match_its_calls() -> None:
    hall = personalised_hall()
    open_windows(hall)
    issue(hall, "A", T0)
    issue(hall, "C", T0 + 10, priority="disabled")
    issue(hall, "B", T0 + 20, priority="elderly")
    issue(hall, "A", T0 + 30)

    planned = [d.ticket_id for d in hall.upcoming("vip", T0 + 100, 4)]
    called = []
    for _ in range(4):
        events = hall.call_next("vip", at=T0 + 100, actor=ACTOR)
        if not events:
            break
        called.append(called_id(events))
        hall.finish("vip", at=T0 + 100, actor=ACTOR)

    assert planned == called
    assert [hall.tickets[t].number for t in called[:2]] == ["C001", "B001"]


# --------------------------------------------------------------- substitution


def test_a_theme_whose_windows_are_all_away_is_served_by_the_similar_themes_windows() -> None:
    hall = new_hall(substitution_config())
    open_windows(hall)
    pickup_ticket = issue(hall, "C", T0)

    assert hall.call_next("g1", at=T0 + 10, actor=ACTOR) == []  # pick-up's own window is open
    assert hall.substitutions() == {}

    hall.pause_window("pickup", "午休", at=T0 + 20, actor=ACTOR)

    assert hall.substitutions() == {"C": ("g1",)}
    assert hall.standing_in("g1") == ("C",)
    assert hall.standing_in("g2") == ()  # B is not similar to C
    assert hall.call_next("g2", at=T0 + 30, actor=ACTOR) == []
    call = last_call(hall.call_next("g1", at=T0 + 40, actor=ACTOR))
    assert call.ticket_id == pickup_ticket
    check_called(call, hall)


def test_substitution_ends_when_the_themes_own_window_comes_back() -> None:
    hall = new_hall(substitution_config())
    open_windows(hall)
    hall.close_window("pickup", at=T0, actor=ACTOR)
    issue(hall, "C", T0 + 10)
    ticket = hall.tickets[issue(hall, "C", T0 + 20)]
    assert [d.ticket_id for d in hall.upcoming("g1", T0 + 30, 3)] == ["20240304-C001", ticket.id]

    hall.open_window("pickup", at=T0 + 40, actor=ACTOR)

    assert hall.substitutions() == {}
    assert hall.upcoming("g1", T0 + 50, 3) == []
    assert_refused(
        hall, Conflict, lambda: hall.call_ticket("g1", ticket.id, at=T0 + 60, actor=ACTOR)
    )


def test_a_standing_in_window_keeps_its_own_theme_first_by_preference() -> None:
    hall = new_hall(substitution_config())
    open_windows(hall, "g1", "g2")  # pick-up never opened today
    pickup = issue(hall, "C", T0)
    own = issue(hall, "A", T0 + 100)

    # A's ticket gets the window's full preference bonus (300 s); C's gets none.
    assert called_id(hall.call_next("g1", at=T0 + 150, actor=ACTOR)) == own
    hall.finish("g1", at=T0 + 160, actor=ACTOR)
    assert called_id(hall.call_next("g1", at=T0 + 170, actor=ACTOR)) == pickup


# --------------------------------------------------------------- a visit's next stage


def test_a_served_ticket_goes_on_to_pick_up_keeping_its_place_and_priority() -> None:
    hall = new_hall()
    open_windows(hall)
    intake = issue(hall, "A", T0, priority="elderly")
    later = issue(hall, "C", T0 + 300)  # a pick-up ticket that arrived after the intake one
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    hall.start("g1", at=T0 + 20, actor=ACTOR)

    events = hall.continue_visit(
        "g1", to_theme="C", reason="当场出证", at=T0 + 620, actor="clerk-1"
    )

    assert [type(e) for e in events] == [TicketContinued]
    ticket = hall.tickets[intake]
    assert (ticket.status, ticket.theme, ticket.priority) == (
        TicketStatus.WAITING,
        "C",
        "elderly",
    )
    assert (ticket.arrival_at, ticket.stage, ticket.number) == (T0, 2, "A001")
    assert (hall.windows["g1"].ticket_id, hall.windows["g1"].served) == (None, 1)
    assert hall.service["A"].count == 1  # the intake's service time counts for theme A
    assert called_id(hall.call_next("pickup", at=T0 + 700, actor=ACTOR)) == intake
    hall.finish("pickup", at=T0 + 760, actor=ACTOR)
    assert called_id(hall.call_next("pickup", at=T0 + 770, actor=ACTOR)) == later


def test_a_called_ticket_sent_on_is_started_first_and_may_go_to_one_window() -> None:
    hall = new_hall()
    open_windows(hall)
    ticket_id = issue(hall, "C", T0)  # at reception, the pick-up desk sends it to intake
    hall.call_next("pickup", at=T0 + 10, actor=ACTOR)

    events = hall.continue_visit("pickup", to_theme="B", to_window="g2", at=T0 + 30, actor=ACTOR)

    assert [e.type_name for e in events] == ["ServiceStarted", "TicketContinued"]
    assert hall.tickets[ticket_id].target_window == "g2"
    assert hall.call_next("g1", at=T0 + 40, actor=ACTOR) == []  # g1 serves B too, but not this
    assert called_id(hall.call_next("g2", at=T0 + 50, actor=ACTOR)) == ticket_id


def test_sending_on_is_refused_without_a_ticket_or_to_a_window_that_does_not_serve_it() -> None:
    hall = new_hall()
    open_windows(hall)
    issue(hall, "A", T0)

    assert_refused(
        hall, Conflict, lambda: hall.continue_visit("g1", to_theme="C", at=T0, actor=ACTOR)
    )
    hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    assert_refused(
        hall,
        Conflict,
        lambda: hall.continue_visit("g1", to_theme="C", to_window="g2", at=T0 + 20, actor=ACTOR),
    )
    assert_refused(
        hall,
        NotFound,
        lambda: hall.continue_visit("g1", to_theme="C", to_window="g9", at=T0 + 20, actor=ACTOR),
    )


def test_stages_substitution_and_the_personalised_post_survive_a_replay() -> None:
    config = substitution_config()
    vip = Window("vip", "个性化", "Personalised", ("A",), personalised=True)
    config = dataclasses.replace(config, windows=(*config.windows, vip))
    hall = Hall.new_day(config, "2024-03-04", new_hall(config).tz)
    log: list[Event] = []
    for window_id in ("g1", "g2", "pickup", "vip"):
        log += hall.open_window(window_id, at=T0 - 60, actor=ACTOR)
    log += hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor=ACTOR)
    log += hall.issue(theme="B", priority="elderly", channel="kiosk", at=T0 + 5, actor=ACTOR)
    log += hall.call_next("g1", at=T0 + 10, actor=ACTOR)
    log += hall.continue_visit("g1", to_theme="C", at=T0 + 20, actor=ACTOR)
    log += hall.pause_window("pickup", "break", at=T0 + 30, actor=ACTOR)

    rebuilt = replay(config, log)

    assert state(rebuilt) == state(hall)
    assert rebuilt.substitutions() == hall.substitutions() == {"C": ("g1", "vip")}
    assert rebuilt.decide_next("vip", T0 + 40) == hall.decide_next("vip", T0 + 40)
    assert DEFAULT_THEMES[0].similar == ()


def test_the_forecast_counts_the_windows_standing_in_and_the_personalised_post() -> None:
    config = substitution_config()
    vip = Window("vip", "个性化", "Personalised", ("B",), personalised=True)
    hall = new_hall(dataclasses.replace(config, windows=(*config.windows, vip)))
    open_windows(hall, "g1", "vip")  # pick-up's own window is closed: g1 stands in for it
    pickup = issue(hall, "C", T0)
    urgent = issue(hall, "A", T0 + 10, priority="elderly")  # vip may take it, though not its theme

    ahead = forecast(hall, T0 + 20)

    assert pickup in ahead.estimates
    assert urgent in ahead.estimates
    assert ahead.intervals["C"] is not None
