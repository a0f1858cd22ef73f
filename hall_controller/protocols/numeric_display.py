"""Register map of Modbus numeric window displays (LED-485 type): what to write to show a call.

Such a display shows digits only. A ticket like "A012" is shown by its digits as an integer:
letters and other characters are dropped, and when there are more digits than the display has,
the last ones (the least significant) are kept, so "A1234" on 3 digits is 234. A ticket without
any digit is shown as 0. A blank display is written as number 0 (and window 0, blink 0): these
displays have no blank value, so a cleared display and ticket "000" look the same.
(The Modbus RTU bytes are built by the device layer; this module only knows the registers.)
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTER_MAX = 0xFFFF
# A 16-bit register holds every number of up to 4 decimal digits.
MAX_DIGITS = 4


@dataclass(frozen=True, slots=True)
class NumericDisplayMap:
    """Holding registers of one display model: number, window (optional), blink (optional)."""

    number_register: int
    window_register: int | None
    blink_register: int | None
    digits: int

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the map is usable."""
        problems = []
        if not 1 <= self.digits <= MAX_DIGITS:
            problems.append(f"digits is {self.digits}: it must be 1..{MAX_DIGITS}")
        used = [
            r
            for r in (self.number_register, self.window_register, self.blink_register)
            if r is not None
        ]
        problems += [f"register {r} is not 0..65535" for r in used if not 0 <= r <= REGISTER_MAX]
        if len(set(used)) != len(used):
            problems.append("number, window and blink registers must be different")
        return problems


def ticket_digits(ticket_number: str, digits: int) -> int:
    """The number a `digits`-digit display shows for `ticket_number` (see the module docstring)."""
    found = "".join(c for c in ticket_number if "0" <= c <= "9")
    kept = found[-digits:] if digits > 0 else ""
    return int(kept) if kept else 0


def registers(
    m: NumericDisplayMap, ticket_number: str, window_number: int | None, blink: bool
) -> dict[int, int]:
    """Register -> value to show a ticket; the window register is left alone when None is given.

    ValueError when `window_number` does not fit a register.
    """
    values = {m.number_register: ticket_digits(ticket_number, m.digits)}
    if m.window_register is not None and window_number is not None:
        if not 0 <= window_number <= REGISTER_MAX:
            raise ValueError(f"window number {window_number} does not fit a register")
        values[m.window_register] = window_number
    if m.blink_register is not None:
        values[m.blink_register] = 1 if blink else 0
    return values


def cleared(m: NumericDisplayMap) -> dict[int, int]:
    """Register -> value for a blank display: number 0, window 0, blink 0."""
    return {r: 0 for r in (m.number_register, m.window_register, m.blink_register) if r is not None}
