"""The hall config's capacity keys (10.3.4): a theme's quotas, workload check and slot size, and
the [appointments] slot grid; each mistake named by file and key, with a did-you-mean."""

from __future__ import annotations

from datetime import time

from test_settings import DEMO, text_problems, variant

from hall_controller.core.model import Capacity, Quota, SlotGrid
from hall_controller.settings import load_settings, validate_settings_text

SOCIAL_CAP = "daily_cap = 400\n"


def with_capacity(lines: str, appointments: str = "") -> str:
    """The settings tests' smallest hall, social (09:00-12:00, 13:30-17:00) given `lines`."""
    return variant((SOCIAL_CAP, SOCIAL_CAP + lines)) + appointments


def test_a_theme_s_quotas_workload_check_and_slot_size_become_frozen_values() -> None:
    text = with_capacity(
        'quotas = ["13:30-17:00=150", " 09:00 - 12:00 = 120 "]\n'
        'workload_check = false\nworkload_margin = "45m"\nper_slot = 6\n',
        '\n[appointments]\nslot = "20m"\nper_slot = 3\ndays_ahead = 14\n'
        'weekdays = ["Mon", "tue", "wed", "thu", "fri"]\n',
    )
    hall = validate_settings_text(text, "hall.toml").hall
    social, police = hall.themes
    assert social.capacity == Capacity(
        quotas=(Quota(time(9, 0), time(12, 0), 120), Quota(time(13, 30), time(17, 0), 150)),
        workload_check=False,
        workload_margin_s=45 * 60,
        per_slot=6,
    )
    assert police.capacity == Capacity()  # on, 30 minutes' margin, the hall's slot size
    assert hall.appointment_slots == SlotGrid(
        slot_s=20 * 60, per_slot=3, days_ahead=14, weekdays=(0, 1, 2, 3, 4)
    )
    # Without the keys: the defaults.
    assert validate_settings_text(with_capacity(""), "hall.toml").hall.appointment_slots == (
        SlotGrid()
    )


def test_the_demo_hall_limits_social_by_quota_and_lets_pick_up_run() -> None:
    hall = load_settings(DEMO).hall
    assert hall.theme("social").capacity.quotas == (
        Quota(time(9, 0), time(12, 0), 180),
        Quota(time(13, 30), time(17, 30), 220),
    )
    pickup = hall.theme("pickup").capacity
    assert (pickup.workload_check, pickup.per_slot) == (False, 0)
    assert hall.appointment_slots == SlotGrid(slot_s=1800, per_slot=4, days_ahead=7)


def test_quota_mistakes_are_named_by_key() -> None:
    text = with_capacity(
        'quotas = ["09:00-12:00=120", "11:00-12:00=5", "12:00-13:00=3", "13:30-17:00",'
        ' "16:00-14:00=2", "13:30-17:30=9"]\n'
    )
    assert text_problems(text) == [
        'hall.toml: themes[0].quotas[2]: "12:00-13:00=3" is not within one of the theme\'s '
        "opening periods (09:00-12:00, 13:30-17:00)",
        'hall.toml: themes[0].quotas[3]: expected a quota "09:00-12:00=120" (a time window and '
        'the tickets it gives), got "13:30-17:00"',
        "hall.toml: themes[0].quotas[4]: expected a window that starts before it ends, "
        'got "16:00-14:00=2"',
        'hall.toml: themes[0].quotas[5]: "13:30-17:30=9" is not within one of the theme\'s '
        "opening periods (09:00-12:00, 13:30-17:00)",
        'hall.toml: themes[0].quotas: quotas "09:00-12:00=120" and "11:00-12:00=5" overlap',
    ]
    assert text_problems(with_capacity('quotas = "09:00-12:00=120"\n')) == [
        'hall.toml: themes[0].quotas: expected an array such as ["09:00-12:00=120"], '
        'got "09:00-12:00=120"',
    ]


def test_workload_and_slot_mistakes_get_a_did_you_mean() -> None:
    text = with_capacity('workload_chek = false\nworkload_margin = "soon"\nper_slot = -1\n')
    assert text_problems(text) == [
        'hall.toml: themes[0].workload_chek: unknown key; did you mean "workload_check"?',
        "hall.toml: themes[0].per_slot: expected a whole number of bookings per slot (0: no "
        "slots), got -1",
        'hall.toml: themes[0].workload_margin: expected a duration such as "25m" or "90s" '
        '(or "0s"), got "soon"',
    ]


def test_appointments_mistakes_are_named_by_key() -> None:
    text = with_capacity(
        "",
        '\n[appointments]\nslot = "2m"\nper_slot = 2.5\ndays_ahed = 3\n'
        'weekdays = ["mon", "tues", "holiday"]\n',
    )
    assert text_problems(text) == [
        'hall.toml: appointments.days_ahed: unknown key; did you mean "days_ahead"?',
        'hall.toml: appointments.slot: expected a slot from "5m" to "4h", got "2m"',
        "hall.toml: appointments.weekdays[1]: expected a day of mon, tue, wed, thu, fri, sat, "
        'sun, got "tues"; did you mean "tue"?',
        "hall.toml: appointments.weekdays[2]: expected a day of mon, tue, wed, thu, fri, sat, "
        'sun, got "holiday"',
        "hall.toml: appointments.per_slot: expected a whole number of bookings per slot (0: no "
        "slots), got 2.5",
    ]
