"""Resident ID numbers (GB 11643-1999): check digit, birth date, age and age band."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .errors import InvalidCommand

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# [0-9], not \d: full-width digits would pass \d and give one person two hashes.
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (80, "80+"),
    (70, "70-79"),
    (60, "60-69"),
    (45, "45-59"),
    (18, "18-44"),
    (0, "0-17"),
)


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated 18-digit resident ID number; keep it only as long as the request lasts."""

    number: str
    birth_date: date

    def age_on(self, day: date) -> int:
        """Full years of age on `day`."""
        return age_on(self.birth_date, day)


def age_on(birth_date: date, day: date) -> int:
    """Full years of age on `day` of someone born on `birth_date`."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse_resident_id(raw: str, today: date) -> ResidentId:
    """Validate an 18-digit resident ID; InvalidCommand says what is wrong, never echoing it."""
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise InvalidCommand("id_number must be 18 characters: 17 digits and a digit or X")
    if check_digit(number[:17]) != number[17]:
        raise InvalidCommand("id_number check digit does not match (GB 11643)")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidCommand("id_number holds an impossible birth date") from None
    if birth > today or birth.year < 1880:
        raise InvalidCommand("id_number holds an impossible birth date")
    return ResidentId(number=number, birth_date=birth)


def age_band(age: int) -> str:
    """The coarse age band kept instead of a birth date."""
    for floor, label in AGE_BANDS:
        if age >= floor:
            return label
    return "0-17"


def mask_id_number(number: str) -> str:
    """Show an ID number the way screens may: the first 4 and last 4 characters."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_name(name: str) -> str:
    """Show a name the way screens may: its first and last characters (张*丰, 张*, 欧**娜)."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
