"""Register maps of Modbus numeric window displays: which value goes to which register."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols.numeric_display import (
    NumericDisplayMap,
    cleared,
    registers,
    ticket_digits,
)

# A 3-digit LED-485 display: number in holding register 0, window in 1, blink flag in 2.
LED485 = NumericDisplayMap(number_register=0, window_register=1, blink_register=2, digits=3)
# A 4-digit display with only a number register.
NUMBER_ONLY = NumericDisplayMap(
    number_register=0x10, window_register=None, blink_register=None, digits=4
)


def test_a_called_ticket_writes_number_window_and_blink() -> None:
    assert registers(LED485, "A012", 3, blink=True) == {0: 12, 1: 3, 2: 1}
    assert registers(LED485, "A012", 3, blink=False) == {0: 12, 1: 3, 2: 0}


def test_the_window_register_is_left_alone_without_a_window_number() -> None:
    assert registers(LED485, "A012", None, blink=False) == {0: 12, 2: 0}


def test_a_display_without_window_and_blink_registers_gets_the_number_only() -> None:
    assert registers(NUMBER_ONLY, "B1234", 7, blink=True) == {0x10: 1234}


@pytest.mark.parametrize(
    ("ticket", "digits", "shown"),
    [
        ("A012", 3, 12),  # letters dropped
        ("A1234", 3, 234),  # the last digits that fit
        ("VIP007", 4, 7),
        ("B2-015", 4, 2015),  # every digit, in order
        ("ABC", 3, 0),  # no digit
        ("", 3, 0),
        ("A０１２", 3, 0),  # full-width digits are not ASCII digits
    ],
)
def test_how_tickets_become_numbers(ticket: str, digits: int, shown: int) -> None:
    assert ticket_digits(ticket, digits) == shown


def test_a_blank_display_is_zero_everywhere() -> None:
    assert cleared(LED485) == {0: 0, 1: 0, 2: 0}
    assert cleared(NUMBER_ONLY) == {0x10: 0}


def test_a_window_number_beyond_a_register_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not fit a register"):
        registers(LED485, "A001", 70000, blink=False)


def test_map_settings() -> None:
    assert LED485.validate() == []
    assert NUMBER_ONLY.validate() == []
    assert NumericDisplayMap(0, 0, None, 5).validate() == [
        "digits is 5: it must be 1..4",
        "number, window and blink registers must be different",
    ]
    assert NumericDisplayMap(70000, None, None, 3).validate() == ["register 70000 is not 0..65535"]


@given(st.text(max_size=12), st.integers(1, 4), st.booleans())
def test_any_ticket_gives_register_values(ticket: str, digits: int, blink: bool) -> None:
    display = NumericDisplayMap(
        number_register=0, window_register=1, blink_register=2, digits=digits
    )
    values = registers(display, ticket, 5, blink)
    assert 0 <= values[0] < 10**digits
    assert all(0 <= v <= 0xFFFF for v in values.values())
