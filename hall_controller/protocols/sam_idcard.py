"""Second-generation resident ID card readers' SAM protocol (GA 467-2013): frames and text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdCardText:
    """The text record of a resident ID card; personal data: hold it only while handling it."""

    name: str
    sex: str  # "男" / "女" (the card stores a code: 1 male, 2 female)
    nation: str  # the nation's name, e.g. "汉" (the card stores a two-digit code)
    birth_date: str  # YYYYMMDD
    address: str
    id_number: str
    authority: str
    valid_from: str  # YYYYMMDD
    valid_to: str  # YYYYMMDD, or "长期" (no end)
