"""What the announcer says for a call: texts per language, clip plans, quiet hours and volume."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.devices.model import Announcement
from hall_controller.profiles import AnnouncerSettings
from hall_controller.protocols.announcement import (
    Spoken,
    clip_plan,
    in_quiet_hours,
    number_clips,
    template_problems,
    texts,
    ticket_spoken,
    volume_at,
    wording_problems,
)

CALL = Announcement("A012", "3", "3号窗口", "Window 3", recall=False)
BOTH = AnnouncerSettings(languages=("zh", "en"))


def test_a_call_is_read_character_by_character_in_mandarin_then_english() -> None:
    assert texts(CALL, BOTH) == (
        Spoken("zh", "请 A 0 1 2 号 到 3 号窗口 办理"),
        Spoken("en", "Number A 0 1 2, please go to window 3"),
    )


def test_one_as_yao_is_mandarin_only() -> None:
    spoken = texts(CALL, replace(BOTH, one_as_yao=True))
    assert spoken[0].text == "请 A 0 幺 2 号 到 3 号窗口 办理"
    assert spoken[1].text == "Number A 0 1 2, please go to window 3"


def test_a_window_number_is_read_as_a_number_and_other_ids_are_spelled() -> None:
    settings = AnnouncerSettings()
    assert texts(replace(CALL, window="12"), settings)[0].text == "请 A 0 1 2 号 到 12 号窗口 办理"
    assert texts(replace(CALL, window="07"), settings)[0].text == "请 A 0 1 2 号 到 7 号窗口 办理"
    assert (
        texts(replace(CALL, window="vip"), settings)[0].text == "请 A 0 1 2 号 到 V I P 号窗口 办理"
    )


def test_the_window_name_placeholder_uses_each_language_s_name() -> None:
    settings = AnnouncerSettings(
        templates=MappingProxyType(
            {"zh": "请{ticket}号到{window_name}", "en": "{ticket}, {window_name}."}
        ),
        languages=("zh", "en"),
    )
    call = replace(CALL, window_name_zh="综合窗口", window_name_en="the general window")
    assert [s.text for s in texts(call, settings)] == [
        "请A 0 1 2号到综合窗口",
        "A 0 1 2, the general window.",
    ]


def test_the_clip_plan_follows_the_mandarin_template() -> None:
    (plan,) = clip_plan(CALL, AnnouncerSettings())
    assert plan.language == "zh"
    assert plan.clips == ("请", "A", "0", "1", "2", "号", "到", "3", "号窗口", "办理")
    (yao,) = clip_plan(CALL, AnnouncerSettings(one_as_yao=True))
    assert yao.clips[1:5] == ("A", "0", "幺", "2")


def test_the_english_clip_plan_drops_punctuation() -> None:
    plans = clip_plan(replace(CALL, window="23"), BOTH)
    assert plans[1].clips == (
        "Number",
        "A",
        "0",
        "1",
        "2",
        "please",
        "go",
        "to",
        "window",
        "20",
        "3",
    )


@pytest.mark.parametrize(
    ("number", "zh", "en"),
    [
        (3, ("3",), ("3",)),
        (10, ("十",), ("10",)),
        (12, ("十", "2"), ("12",)),
        (20, ("2", "十"), ("20",)),
        (23, ("2", "十", "3"), ("20", "3")),
        (100, ("1", "百"), ("1", "0", "0")),
        (105, ("1", "百", "零", "5"), ("1", "0", "5")),
        (230, ("2", "百", "3", "十"), ("2", "3", "0")),
    ],
)
def test_window_numbers_as_clips(number: int, zh: tuple[str, ...], en: tuple[str, ...]) -> None:
    assert number_clips(number, "zh") == zh
    assert number_clips(number, "en") == en


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=8))
def test_a_ticket_is_spoken_as_its_characters_and_clipped_as_them(ticket: str) -> None:
    spoken = ticket_spoken(ticket, "zh", one_as_yao=False)
    assert spoken.split(" ") == list(ticket)
    settings = AnnouncerSettings(templates=MappingProxyType({"zh": "{ticket}"}))
    (plan,) = clip_plan(replace(CALL, ticket=ticket), settings)
    assert plan.clips == tuple(ticket)


def test_template_problems_are_named() -> None:
    assert template_problems("请 {ticket} 号 到 {window} 号窗口") == []
    assert template_problems("请 {number} 号") == [
        "unknown placeholder {number}; expected {ticket}, {window}, {window_name}",
        "expected {ticket} in the template",
    ]
    assert template_problems("请 {ticket 号") == [
        "expected {ticket} in the template",
        "a brace that opens or closes no placeholder",
    ]


def test_a_language_without_a_template_is_a_problem() -> None:
    settings = AnnouncerSettings(languages=("zh", "yue"))
    assert wording_problems(settings) == ["templates: no template for the language 'yue'"]
    with pytest.raises(ValueError, match="yue"):
        texts(CALL, settings)


QUIET = ((time(22, 0), time(7, 0)), (time(12, 0), time(13, 30)))


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(3, 0), True),
        (time(6, 59), True),
        (time(7, 0), False),
        (time(12, 30), True),
        (time(13, 30), False),
    ],
)
def test_quiet_hours_are_half_open_and_may_cross_midnight(now: time, quiet: bool) -> None:
    assert in_quiet_hours(now, QUIET) is quiet


def test_the_volume_of_the_time_of_day_lasts_until_the_next_entry_and_through_the_night() -> None:
    schedule = ((time(12, 0), 60), (time(8, 0), 100), (time(18, 0), 40))
    assert volume_at(time(9, 0), schedule) == 100
    assert volume_at(time(12, 0), schedule) == 60
    assert volume_at(time(23, 0), schedule) == 40
    assert volume_at(time(6, 0), schedule) == 40  # before the first entry: last night's
    assert volume_at(time(6, 0), ()) == 100
