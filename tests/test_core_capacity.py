"""Capacity-aware issuing (10.3.4): the daily cap, quotas per time window and the waiting work
against the time left, checked in that order, with what a full theme offers instead.

The hall is the core fixtures' (theme A: 5-minute services, served by windows g1 and g2) with
office hours 08:30-12:00 and 14:00-17:30 enforced, on Monday 2024-03-04 in Guangzhou. Every
figure below is worked out by hand in the comments.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time

import pytest

from hall_controller.core.bookings import BookingRequest
from hall_controller.core.capacity import (
    FullReason,
    SlotFull,
    ThemeFull,
    capacity_of,
    day_slots,
    next_slot,
    slot_to_book,
)
from hall_controller.core.errors import InvalidCommand
from hall_controller.core.events import AppointmentBooked, Event, TicketIssued, TicketReserved
from hall_controller.core.hall import Hall
from hall_controller.core.model import Capacity, Quota, SlotGrid, Window
from hall_controller.core.snapshot import from_snapshot, to_snapshot

from core_fixtures import (
    ACTOR,
    DEFAULT_WINDOWS,
    OFFICE_HOURS,
    TZ,
    assert_refused,
    issue,
    local,
    make_config,
    new_hall,
    replay,
    theme,
)

MORNING_QUOTAS = (
    Quota(time(8, 30), time(10, 0), 2),
    Quota(time(10, 0), time(12, 0), 3),
    Quota(time(14, 0), time(17, 30), 1),
)


def hall_with(
    capacity: Capacity | None = None,
    *,
    daily_cap: int | None = None,
    enforce: bool = True,
    grid: SlotGrid | None = None,
    windows: tuple[Window, ...] = DEFAULT_WINDOWS,
    day: str | None = None,
) -> Hall:
    """The test hall with theme A's capacity set; B and C have none of their own."""
    a = replace(
        theme("A", daily_cap=daily_cap, hours=OFFICE_HOURS), capacity=capacity or Capacity()
    )
    config = make_config(
        (a, theme("B", hours=OFFICE_HOURS), theme("C", default_service_s=120)),
        windows,
        enforce_opening_hours=enforce,
    )
    config = replace(config, appointment_slots=grid or SlotGrid())
    if day is None:
        return new_hall(config)
    return Hall.new_day(config, day, TZ)


def full(
    hall: Hall, at: float, priority: str | None = None, appointment_at: float | None = None
) -> ThemeFull:
    """Issue an A ticket that must be refused as full (changing nothing); the refusal."""
    exc = assert_refused(
        hall,
        ThemeFull,
        lambda: issue(hall, "A", at, priority, appointment_at=appointment_at),
    )
    assert isinstance(exc, ThemeFull)
    return exc


def reserve(hall: Hall, at: float, priority: str | None = None) -> list[Event]:
    """Reserve an A number for a kiosk print; the events."""
    return hall.reserve(
        theme="A", priority=priority, channel="kiosk", printer="p", at=at, actor=ACTOR
    )


def void(hall: Hall, reserved: list[Event], at: float) -> list[Event]:
    """Give up the reserved number (its print failed); the events."""
    ticket = reserved[0]
    assert isinstance(ticket, TicketReserved)
    return hall.void(ticket.ticket_id, "paper out", at=at, actor=ACTOR)


# ----------------------------------------------------------------- the daily cap


def test_the_daily_cap_refuses_everyone_even_priority_and_appointments() -> None:
    hall = hall_with(daily_cap=2)
    issue(hall, "A", local(9))
    issue(hall, "A", local(9, 1))
    refused = full(hall, local(9, 2))
    assert refused.code == "theme_full"
    assert refused.reason is FullReason.DAILY_CAP
    assert refused.details["reason"] == "daily_cap"
    assert refused.return_at is None  # nothing more today
    assert refused.details["message_zh"] == "主题A今日 2 个号已全部取完"
    assert "all 2 tickets of today" in refused.message_en
    assert refused.message.startswith("主题A今日 2 个号已全部取完 — ")
    # The cap is the day's numbers: priority groups and appointments do not pass it.
    assert full(hall, local(9, 3), priority="elderly").reason is FullReason.DAILY_CAP
    assert full(hall, local(9, 3), appointment_at=local(9, 30)).reason is FullReason.DAILY_CAP
    assert hall.ticket(issue(hall, "B", local(9, 4))).number == "B001"


def test_an_appointment_check_in_is_refused_by_the_daily_cap_only() -> None:
    quota = Capacity(quotas=(Quota(time(8, 30), time(12, 0), 1),))
    hall = hall_with(quota, daily_cap=2)
    hall.book_appointment(
        BookingRequest(theme="A", slot_at=local(9, 30), code="SLOT1"), at=local(8), actor=ACTOR
    )
    hall.book_appointment(
        BookingRequest(theme="A", slot_at=local(9, 30), code="SLOT2"), at=local(8), actor=ACTOR
    )
    issue(hall, "A", local(9))  # the morning's quota of one is used
    assert full(hall, local(9, 1)).reason is FullReason.QUOTA
    # The booking had its place when it was made: the quota does not turn it away, even late
    # (past 09:45 its ticket is a walk-in's, still an appointment's check-in) ...
    events = hall.check_in("SLOT1", channel="kiosk", at=local(9, 50), actor=ACTOR)
    late = events[0]
    assert isinstance(late, TicketIssued)
    assert late.appointment_at is None
    # ... but the day's last number is gone.
    refused = assert_refused(
        hall,
        ThemeFull,
        lambda: hall.check_in("SLOT2", channel="kiosk", at=local(9, 51), actor=ACTOR),
    )
    assert refused.details["reason"] == "daily_cap"


# ----------------------------------------------------------------- quotas


def test_a_quota_refuses_walk_ins_until_its_window_ends() -> None:
    hall = hall_with(Capacity(quotas=MORNING_QUOTAS))
    issue(hall, "A", local(9))
    issue(hall, "A", local(9, 1))
    refused = full(hall, local(9, 2))
    assert refused.reason is FullReason.QUOTA
    assert refused.return_at == "10:00"  # the next window, which has room
    assert refused.details["return_at"] == "10:00"
    assert refused.details["message_zh"] == (
        "主题A 08:30-10:00 时段的 2 个号已取完，请于 10:00 后再来取号"
    )
    assert refused.details["message_en"] == (
        "Theme A: all 2 tickets for 08:30-10:00 have been issued; tickets again from 10:00"
    )
    # A priority applicant is served anyway, and counts towards the window.
    issue(hall, "A", local(9, 3), priority="elderly")
    state = capacity_of(hall, "A", local(9, 4))
    assert state.quota is not None
    assert (state.quota.given, state.quota.left) == (3, 0)
    # The window's end is exclusive, the next one's start inclusive.
    full(hall, local(9, 59, 59))
    assert hall.ticket(issue(hall, "A", local(10))).number == "A004"
    # Other themes have no quota.
    issue(hall, "B", local(9, 5))


def test_the_return_time_skips_the_lunch_break_and_is_none_when_the_day_is_done() -> None:
    hall = hall_with(Capacity(quotas=MORNING_QUOTAS))
    for second in range(3):
        issue(hall, "A", local(10, 30, second))
    # 10:00-12:00 is used up; 12:00 is lunch (the hours are enforced): back at 14:00.
    assert full(hall, local(10, 31)).return_at == "14:00"
    issue(hall, "A", local(14))
    refused = full(hall, local(15))
    assert refused.return_at is None  # 17:30 closes the day
    assert "请于" not in refused.message_zh


def test_a_morning_quota_sends_walk_ins_to_the_afternoon_without_a_quota() -> None:
    morning = Capacity(quotas=(Quota(time(8, 30), time(12, 0), 1),))
    hall = hall_with(morning)
    issue(hall, "A", local(9))
    assert full(hall, local(9, 1)).return_at == "14:00"
    # A hall that does not keep its hours gives tickets again as the window ends.
    loose = hall_with(morning, enforce=False)
    issue(loose, "A", local(9))
    assert full(loose, local(9, 1)).return_at == "12:00"


def test_voided_numbers_and_tickets_moved_in_do_not_use_the_quota() -> None:
    hall = hall_with(Capacity(quotas=(Quota(time(8, 30), time(12, 0), 2),)))
    moved = issue(hall, "B", local(9))
    hall.transfer(
        moved, to_theme="A", to_window=None, reason="wrong theme", at=local(9, 1), actor=ACTOR
    )
    void(hall, reserve(hall, local(9, 2)), local(9, 3))
    # B001 (now waiting in A) and the voided A001 leave both places of the quota.
    quota = capacity_of(hall, "A", local(9, 4)).quota
    assert quota is not None
    assert quota.given == 0
    issue(hall, "A", local(9, 4))
    issue(hall, "A", local(9, 5))
    assert full(hall, local(9, 6)).reason is FullReason.QUOTA


# ----------------------------------------------------------------- the work waiting


def test_a_walk_in_that_would_be_called_after_closing_plus_the_margin_is_refused() -> None:
    hall = hall_with()
    # At 17:00: 30 minutes to the end of the last period, plus the 30-minute margin = 3600 s.
    # Windows g1 and g2 serve A (both closed: both count), 300 s a service: 150 s per ticket.
    # With 24 waiting the next is called after 24 x 150 = 3600 s: just in time.
    for _ in range(25):
        issue(hall, "A", local(17))
    # With 25 waiting: 3750 s > 3600 s.
    refused = full(hall, local(17))
    assert refused.reason is FullReason.WORKLOAD
    assert refused.return_at is None
    assert refused.details["message_zh"] == (
        "主题A已有约 62 分钟的业务在等候，今日停止取号前无法办理"
    )
    view = capacity_of(hall, "A", local(17)).view()
    assert view["workload"] == {
        "waiting": 25,
        "windows": 2,
        "work_min": 62,  # 3750 s
        "left_min": 30,
        "margin_min": 30,
    }
    assert (view["full"], view["reason"]) == (True, "workload")
    # A hall serves priority groups and appointments whatever the queue.
    issue(hall, "A", local(17), priority="pregnant")
    issue(hall, "A", local(17), appointment_at=local(17))


def test_the_workload_counts_the_windows_not_closed_and_the_time_to_the_last_period() -> None:
    hall = hall_with()
    for _ in range(13):
        issue(hall, "A", local(11))

    def windows() -> int:
        load = capacity_of(hall, "A", local(11)).workload
        assert load is not None
        return load.windows

    assert windows() == 2  # none open: the windows configured for A
    hall.open_window("g1", at=local(11), actor=ACTOR)
    assert windows() == 1
    hall.open_window("g2", at=local(11), actor=ACTOR)
    hall.pause_window("g2", "break", at=local(11), actor=ACTOR)
    assert windows() == 2  # a paused window comes back
    hall.close_window("g2", at=local(11), actor=ACTOR)
    # At 11:00 the time left runs to 17:30, the end of the last period, not to noon:
    # 23400 s + 1800 s; one open window takes 13 x 300 = 3900 s.
    load = capacity_of(hall, "A", local(11)).workload
    assert load is not None
    assert (load.windows, load.work_s, load.left_s) == (1, 3900, 23400)
    issue(hall, "A", local(11))


def test_the_workload_edge_at_the_end_of_the_day_and_its_margin() -> None:
    # At 17:29:59: 1 s + 1800 s margin. 12 waiting x 150 s = 1800 s passes, 13 (1950 s) does not.
    hall = hall_with()
    for _ in range(13):
        issue(hall, "A", local(17, 29, 59))
    assert full(hall, local(17, 29, 59)).reason is FullReason.WORKLOAD
    # No margin: 17:00 leaves 1800 s, 12 waiting make 1800 s, the 13th waiting is one too many.
    tight = hall_with(Capacity(workload_margin_s=0))
    for _ in range(13):
        issue(tight, "A", local(17))
    assert full(tight, local(17)).reason is FullReason.WORKLOAD


def test_no_workload_check_when_it_is_off_or_the_hall_keeps_no_hours() -> None:
    for hall in (hall_with(Capacity(workload_check=False)), hall_with(enforce=False)):
        for _ in range(40):
            issue(hall, "A", local(17))
        assert capacity_of(hall, "A", local(17)).workload is None
    # A hall without enforced hours issues at 20:00 too, with nothing to weigh the work against.
    late = hall_with(enforce=False)
    issue(late, "A", local(20))
    assert capacity_of(late, "A", local(20)).full is None


def test_the_checks_run_in_order_cap_quota_workload() -> None:
    both = hall_with(Capacity(quotas=(Quota(time(8, 30), time(12, 0), 2),)), daily_cap=2)
    issue(both, "A", local(9))
    issue(both, "A", local(9))
    assert full(both, local(9)).reason is FullReason.DAILY_CAP
    quota_and_work = hall_with(Capacity(quotas=(Quota(time(14, 0), time(17, 30), 25),)))
    for _ in range(25):
        issue(quota_and_work, "A", local(17))
    assert full(quota_and_work, local(17)).reason is FullReason.QUOTA


# ----------------------------------------------------------------- replay


def test_capacity_is_the_same_after_a_replay_and_a_snapshot() -> None:
    hall = hall_with(Capacity(quotas=MORNING_QUOTAS), daily_cap=30)
    events: list[Event] = []
    events += hall.open_window("g1", at=local(8, 30), actor=ACTOR)
    for minute in range(2):
        events += hall.issue(
            theme="A", priority=None, channel="kiosk", at=local(9, minute), actor=ACTOR
        )
    # A priority number is given past the quota (and counts), but its print fails.
    reserved = reserve(hall, local(9, 5), "elderly")
    events += reserved
    events += void(hall, reserved, local(9, 6))
    events += hall.call_next("g1", at=local(9, 7), actor=ACTOR)
    at = local(9, 8)
    before = capacity_of(hall, "A", at).view()
    assert before["quota"] == {"window": "08:30-10:00", "tickets": 2, "given": 2, "left": 0}
    assert before["cap_left"] == 27  # 3 numbers given, the voided one too
    assert (before["full"], before["reason"], before["return_at"]) == (True, "quota", "10:00")
    replayed = replay(hall.config, events)
    assert capacity_of(replayed, "A", at).view() == before
    restored = from_snapshot(hall.config, TZ, to_snapshot(hall))
    assert capacity_of(restored, "A", at).view() == before
    with pytest.raises(ThemeFull):
        issue(restored, "A", at)


# ----------------------------------------------------------------- appointment slots

GRID = SlotGrid(slot_s=1800, per_slot=2, days_ahead=3, weekdays=(0, 1, 2, 3, 4))


def book(hall: Hall, slot_at: float, code: str) -> str:
    """Book an A appointment by code; its booking id."""
    events = hall.book_appointment(
        BookingRequest(theme="A", slot_at=slot_at, code=code), at=local(8), actor=ACTOR
    )
    booked = events[0]
    assert isinstance(booked, AppointmentBooked)
    return booked.booking_id


def test_the_next_slot_is_the_first_with_room_after_now() -> None:
    hall = hall_with(grid=GRID)
    slot = next_slot([hall], "A", local(9, 10))
    assert slot is not None
    assert slot.view() == {
        "theme": "A",
        "day": "2024-03-04",
        "at": "2024-03-04T09:30+08:00",
        "time": "09:30",
        "free": 2,
    }
    book(hall, local(9, 30), "ONE1")
    booked = book(hall, local(9, 40), "TWO2")  # inside the 09:30 slot: it counts there
    slot = next_slot([hall], "A", local(9, 10))
    assert slot is not None
    assert slot.start == "10:00"
    hall.cancel_booking(booked, "changed plans", at=local(9), actor=ACTOR)
    slot = next_slot([hall], "A", local(9, 10))
    assert slot is not None
    assert (slot.start, slot.free) == ("09:30", 1)


def test_the_grid_covers_the_opening_hours_and_only_the_days_that_take_bookings() -> None:
    friday = hall_with(grid=GRID, day="2024-03-08")
    starts = [s.start for s in day_slots(friday, "A")]
    assert starts == [
        "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
        "14:00", "14:30", "15:00", "15:30", "16:00", "16:30", "17:00",
    ]  # fmt: skip
    weekend = [hall_with(grid=GRID, day=d) for d in ("2024-03-09", "2024-03-10")]
    monday = hall_with(grid=GRID, day="2024-03-11")
    # After Friday's last slot has begun: Monday morning, the weekend takes no bookings.
    slot = next_slot([friday, *weekend, monday], "A", friday_at(17, 1))
    assert slot is not None
    assert (slot.day, slot.start) == ("2024-03-11", "08:30")


def friday_at(hour: int, minute: int) -> float:
    return local(hour, minute) + 4 * 86400


def test_a_theme_s_own_slot_size_and_a_theme_without_slots() -> None:
    hall = hall_with(Capacity(per_slot=1), grid=GRID)
    book(hall, local(9, 30), "ONE1")
    slot = next_slot([hall], "A", local(9, 10))
    assert slot is not None
    assert slot.start == "10:00"
    none = hall_with(Capacity(per_slot=0), grid=GRID)
    assert next_slot([none], "A", local(9)) is None
    with pytest.raises(InvalidCommand, match="offers no appointment slots"):
        slot_to_book(none, "A", local(9, 30), local(9))


def test_a_slot_to_book_must_be_on_the_grid_still_to_come_and_have_room() -> None:
    hall = hall_with(grid=GRID)
    assert slot_to_book(hall, "A", local(10), local(9)).free == 2
    with pytest.raises(InvalidCommand, match="not an appointment slot"):
        slot_to_book(hall, "A", local(10, 10), local(9))
    with pytest.raises(InvalidCommand, match="has passed"):
        slot_to_book(hall, "A", local(9), local(9, 5))
    book(hall, local(10), "ONE1")
    book(hall, local(10), "TWO2")
    with pytest.raises(SlotFull):
        slot_to_book(hall, "A", local(10), local(9))
