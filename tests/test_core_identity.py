"""Resident ID numbers (GB 11643-1999) as the kiosk's card reader hands them in.

Every number here is synthetic: its check digit is computed by the test's own implementation
of ISO 7064 MOD 11-2 (weights 2^(17-i) mod 11), independent of the code under test.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hall_controller.core.errors import InvalidCommand
from hall_controller.core.identity import (
    ResidentId,
    age_band,
    mask_id_number,
    parse_resident_id,
)

from core_fixtures import make_config

TODAY = date(2024, 3, 4)
REGION = "440106"  # 广州市天河区


def mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character, written from the standard's formula."""
    assert len(first17) == 17
    assert first17.isdigit()
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(birth: str, sequence: str = "123", region: str = REGION) -> str:
    """A synthetic 18-character ID number for a birth date written YYYYMMDD."""
    first17 = region + birth + sequence
    return first17 + mod11_2(first17)


def id_with_x(birth: str) -> str:
    """A synthetic number whose check character is X."""
    for n in range(1000):
        first17 = REGION + birth + f"{n:03d}"
        if mod11_2(first17) == "X":
            return first17 + "X"
    raise AssertionError("no sequence gives X")


def test_own_check_digit_matches_the_standards_example() -> None:
    # The worked example printed in GB 11643-1999.
    assert mod11_2("11010519491231002") == "X"


def test_valid_number_gives_the_birth_date() -> None:
    number = make_id("19640305")
    parsed = parse_resident_id(number, TODAY)
    assert parsed == ResidentId(number=number, birth_date=date(1964, 3, 5))


def test_standards_example_is_accepted() -> None:
    parsed = parse_resident_id("11010519491231002X", TODAY)
    assert parsed.birth_date == date(1949, 12, 31)


@pytest.mark.parametrize("raw_x", ["x", "X"])
def test_check_character_x_in_either_case(raw_x: str) -> None:
    number = id_with_x("19500101")
    parsed = parse_resident_id(number[:17] + raw_x, TODAY)
    assert parsed.number == number  # upper case
    assert parsed.birth_date == date(1950, 1, 1)


def test_surrounding_spaces_are_ignored() -> None:
    number = make_id("19800229")
    assert parse_resident_id(f"  {number}\n", TODAY).number == number


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(0, 999),
)
@settings(max_examples=60, deadline=None)
def test_any_synthetic_number_is_accepted(birth: date, sequence: int) -> None:
    number = make_id(birth.strftime("%Y%m%d"), f"{sequence:03d}")
    assert parse_resident_id(number, TODAY).birth_date == birth


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(0, 999),
    position=st.integers(0, 17),
    delta=st.integers(1, 9),
)
@settings(max_examples=60, deadline=None)
def test_any_single_digit_change_is_caught(
    birth: date, sequence: int, position: int, delta: int
) -> None:
    number = make_id(birth.strftime("%Y%m%d"), f"{sequence:03d}")
    chars = list(number)
    if chars[position] == "X":
        chars[position] = str(delta)
    else:
        chars[position] = str((int(chars[position]) + delta) % 10)
    with pytest.raises(InvalidCommand):
        parse_resident_id("".join(chars), TODAY)


def test_wrong_check_digit_is_refused_without_echoing_the_number() -> None:
    number = make_id("19640305")
    wrong = number[:17] + str((int(number[17]) + 1) % 10 if number[17] != "X" else 0)
    with pytest.raises(InvalidCommand) as caught:
        parse_resident_id(wrong, TODAY)
    assert "check digit" in caught.value.message
    assert wrong not in str(caught.value)
    assert wrong[6:14] not in str(caught.value)
    assert caught.value.details == {}


def test_swapped_digits_are_caught() -> None:
    number = make_id("19640305")
    swapped = number[:6] + number[7] + number[6] + number[8:]
    assert swapped != number
    with pytest.raises(InvalidCommand):
        parse_resident_id(swapped, TODAY)


@pytest.mark.parametrize(
    "birth",
    [
        "19640230",  # 30 February
        "19001301",  # month 13
        "19640001",  # month 0
        "19640100",  # day 0
        "19640431",  # 31 April
        "19000229",  # 1900 was not a leap year
        "20230229",
        "20240305",  # tomorrow
        "20990101",  # future
        "18791231",  # before 1880
    ],
)
def test_impossible_birth_dates_are_refused(birth: str) -> None:
    number = make_id(birth)
    with pytest.raises(InvalidCommand) as caught:
        parse_resident_id(number, TODAY)
    assert "birth date" in caught.value.message
    assert number not in str(caught.value)


@pytest.mark.parametrize("birth", ["20000229", "20240229", "18800101", "20240304"])
def test_possible_edge_dates_are_accepted(birth: str) -> None:
    parsed = parse_resident_id(make_id(birth), TODAY)
    assert parsed.birth_date.strftime("%Y%m%d") == birth


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "44010619640305123",  # 17 characters
        "4401061964030512345",  # 19 characters
        "440106640305123",  # an old 15-digit number
        "X40106196403051234",
        "44010619640305123Y",
        "4401061964-0305123",
    ],
)
def test_malformed_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        parse_resident_id(raw, TODAY)
    assert "18 characters" in caught.value.message


def to_full_width(number: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)


@pytest.mark.parametrize("ends_in_x", [False, True])
def test_full_width_digits_are_refused(ends_in_x: bool) -> None:
    """Digits typed with a Chinese IME (０-９) are not the 18 ASCII characters of GB 11643.

    Accepting them would also give the same person a second identity: the service layer
    hashes the number as typed, so "one active ticket per person" would not see the match.
    """
    number = id_with_x("19500101") if ends_in_x else make_id("19640305")
    assert number.endswith("X") == ends_in_x
    with pytest.raises(InvalidCommand):
        parse_resident_id(to_full_width(number), TODAY)


# ------------------------------------------------------------------ age


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2024, 3, 3), 59),  # the day before the 60th birthday
        (date(2024, 3, 4), 60),  # the birthday itself
        (date(2024, 3, 5), 60),
        (date(2025, 3, 3), 60),
        (date(2025, 3, 4), 61),
        (date(1964, 3, 4), 0),
    ],
)
def test_age_on_a_day(day: date, age: int) -> None:
    person = parse_resident_id(make_id("19640304"), date(2030, 1, 1))
    assert person.age_on(day) == age


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2023, 2, 28), 62),  # no 29 February in 2023: not yet
        (date(2023, 3, 1), 63),
        (date(2024, 2, 28), 63),
        (date(2024, 2, 29), 64),
    ],
)
def test_age_of_someone_born_on_29_february(day: date, age: int) -> None:
    person = parse_resident_id(make_id("19600229"), TODAY)
    assert person.age_on(day) == age


def test_card_age_selects_the_elderly_group_from_the_birthday() -> None:
    config = make_config()
    elderly = config.elderly_group()
    assert elderly is not None
    assert elderly.min_age == 60
    min_age = elderly.min_age
    person = parse_resident_id(make_id("19640304"), TODAY)
    assert person.age_on(date(2024, 3, 3)) < min_age <= person.age_on(date(2024, 3, 4))


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "0-17"),
        (17, "0-17"),
        (18, "18-44"),
        (44, "18-44"),
        (45, "45-59"),
        (59, "45-59"),
        (60, "60-69"),
        (69, "60-69"),
        (70, "70-79"),
        (79, "70-79"),
        (80, "80+"),
        (120, "80+"),
        (-1, "0-17"),
    ],
)
def test_age_bands(age: int, band: str) -> None:
    assert age_band(age) == band


# ------------------------------------------------------------------ masking


def test_mask_shows_only_the_first_and_last_four() -> None:
    number = make_id("19640304")
    masked = mask_id_number(number)
    assert masked == number[:4] + "*" * 10 + number[-4:]
    assert len(masked) == 18
    assert number[6:14] not in masked  # never the birth date


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("", ""),
        ("1234", "****"),
        ("12345678", "********"),
        ("123456789", "1234*6789"),
    ],
)
def test_mask_of_short_values(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


# ------------------------------------------------------------------ names on screens


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张*丰"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("买买提·艾力", "买****力"),
        (" 李四 ", "李*"),  # the card pads names with spaces
        ("王", "*"),
        ("", ""),
    ],
)
def test_a_name_on_screen_keeps_only_its_first_and_last_characters(name: str, masked: str) -> None:
    from hall_controller.core.identity import mask_name

    assert mask_name(name) == masked


@given(st.text(alphabet="张王李欧阳娜丰三·", min_size=3, max_size=12))
def test_a_masked_name_hides_every_middle_character(name: str) -> None:
    from hall_controller.core.identity import mask_name

    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == name[0]
    assert masked[-1] == name[-1]
    assert set(masked[1:-1]) == {"*"}
