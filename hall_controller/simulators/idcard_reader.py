"""A simulated resident ID card reader (SAM module) and synthetic cards to put on it.

`IdCardReaderPeer` is a BusPeer: a SimulatedBus carries its SAM frames over a PTY (115200 in
the profiles) or a memory link. A test or the demo puts a card on it (`place_card`), takes it
away (`remove_card`) or makes it misbehave (`fault`). Cards come from `synthetic_card`: made-up
people whose ID numbers carry a valid GB 11643 check digit; no real person's data is used.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Literal

from hall_controller.protocols.sam_idcard import (
    FIND_CARD,
    NO_END,
    PHOTO_SIZE,
    READ_TEXT_PHOTO,
    RESET_SAM,
    SAM_STATUS,
    SELECT_CARD,
    IdCardText,
    RequestDecoder,
    SamReply,
    SamRequest,
    Status,
    text_photo_reply,
    text_record,
)
from hall_controller.simulators.peers import View

Fault = Literal["none", "bad_checksum", "silent", "read_failure"]
FAULTS: tuple[Fault, ...] = ("none", "bad_checksum", "silent", "read_failure")

# The card's answer to "find card" (its IIN as readers report it) and to "select card" (the
# chip's serial number): fixed, made-up bytes.
_FOUND_DATA = bytes(4)
_SELECTED_DATA = bytes.fromhex("0102030405060708")
# A stand-in for the WLT photo; it holds the frame preamble on purpose, as real photo data
# may: the frame's length, not a search for the next preamble, ends a reply.
_PHOTO = (bytes.fromhex("574C66 AAAAAA9669") + bytes(range(256)) * 4)[:PHOTO_SIZE]


class IdCardReaderPeer:
    """A SAM ID card reader: answers find, select and read like the module, from its card."""

    def __init__(self, *, address: int = 0) -> None:
        self.address = address  # a reader has its own port: the address is not on the line
        self._decoder = RequestDecoder()
        self.card: IdCardText | None = None
        self.fault: Fault = "none"
        self.requests = 0  # well-formed requests heard
        self.finds = 0
        self.reads = 0  # text records handed out
        self._selected = False

    @property
    def errors(self) -> int:
        """Broken requests and garbage on the line."""
        return self._decoder.errors

    def place_card(self, card: IdCardText) -> None:
        """An applicant puts `card` on the reader."""
        self.card = card
        self._selected = False

    def remove_card(self) -> None:
        """The card is taken away."""
        self.card = None
        self._selected = False

    def feed(self, data: bytes, at: float) -> bytes:
        """Requests from the controller; the module's answers."""
        return self._answer_all(self._decoder.feed(data))

    def line_quiet(self, at: float) -> bytes:
        """A partial request will never complete: drop it; answer any request behind it."""
        return self._answer_all(self._decoder.flush())

    def view(self) -> View:
        """Whether a card lies on the reader, the fault mode and how many reads it served."""
        return {
            "type": "id_card_reader",
            "card": self.card is not None,
            "fault": self.fault,
            "reads": self.reads,
        }

    def _answer_all(self, requests: list[SamRequest]) -> bytes:
        out = bytearray()
        for request in requests:
            self.requests += 1
            if self.fault == "silent":
                continue
            frame = self._answer(request).to_bytes()
            if self.fault == "bad_checksum":
                frame = frame[:-1] + bytes((frame[-1] ^ 0xFF,))
            out += frame
        return bytes(out)

    def _answer(self, request: SamRequest) -> SamReply:
        command = (request.command, request.parameter)
        if command == (FIND_CARD.command, FIND_CARD.parameter):
            self.finds += 1
            if self.card is None:
                return SamReply(Status.NO_CARD)
            return SamReply(Status.CARD_FOUND, _FOUND_DATA)
        if command == (SELECT_CARD.command, SELECT_CARD.parameter):
            if self.card is None:
                return SamReply(Status.SELECT_FAILED)
            self._selected = True
            return SamReply(Status.OK, _SELECTED_DATA)
        if command == (READ_TEXT_PHOTO.command, READ_TEXT_PHOTO.parameter):
            if self.card is None or not self._selected or self.fault == "read_failure":
                return SamReply(Status.READ_FAILED)
            self._selected = False
            self.reads += 1
            return text_photo_reply(text_record(self.card), _PHOTO)
        if command in (
            (RESET_SAM.command, RESET_SAM.parameter),
            (SAM_STATUS.command, SAM_STATUS.parameter),
        ):
            return SamReply(Status.OK)
        return SamReply(Status.BAD_COMMAND)


# --- synthetic cards ---------------------------------------------------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Districts of Guangzhou and Shenzhen, with the public security bureau that issues their cards.
_DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("440103", "广东省广州市荔湾区", "广州市公安局荔湾分局"),
    ("440104", "广东省广州市越秀区", "广州市公安局越秀分局"),
    ("440106", "广东省广州市天河区", "广州市公安局天河分局"),
    ("440111", "广东省广州市白云区", "广州市公安局白云分局"),
    ("440305", "广东省深圳市南山区", "深圳市公安局南山分局"),
)
_SURNAMES = ("陈", "黄", "李", "梁", "林", "欧阳", "司徒", "王", "吴", "张")
_GIVEN = "测试样例示范模拟虚拟演示"  # no real person is named with these alone
_STREETS = ("示例路", "样板街", "演示大道", "模拟巷")


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def id_number(region: str, birth: date, sequence: int) -> str:
    """An 18-character ID number (odd sequence: male, even: female) with its check digit."""
    first17 = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)


def _validity(birth: date, issued: date) -> tuple[str, str]:
    """Cards are valid 5, 10 or 20 years by age at issue, or for life (长期) from 46."""
    age = issued.year - birth.year - ((issued.month, issued.day) < (birth.month, birth.day))
    if age >= 46:
        return f"{issued:%Y%m%d}", NO_END
    years = 5 if age < 16 else 10 if age < 26 else 20
    end = _in_year(issued, issued.year + years)
    return f"{issued:%Y%m%d}", f"{end:%Y%m%d}"


def _in_year(day: date, year: int) -> date:
    """`day` in `year` (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def synthetic_card(
    seed: int = 0,
    *,
    birth: date | None = None,
    sex: str | None = None,
    name: str | None = None,
    issued: date | None = None,
) -> IdCardText:
    """A made-up person's card, the same for the same arguments; `birth`, `sex` and `name`
    pin those fields (an elderly applicant: `birth=date(1950, 3, 4)`)."""
    rng = random.Random(seed)
    name = name or rng.choice(_SURNAMES) + "".join(rng.sample(_GIVEN, rng.choice((1, 2))))
    sex = sex or rng.choice(("男", "女"))
    birth = birth or date(rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28))
    region, place, authority = rng.choice(_DISTRICTS)
    sequence = rng.randrange(0, 500) * 2 + (1 if sex == "男" else 0)
    if issued is None:
        issued = _in_year(birth, max(birth.year + 16, 2016))
    valid_from, valid_to = _validity(birth, issued)
    return IdCardText(
        name=name,
        sex=sex,
        nation="汉",
        birth_date=f"{birth:%Y%m%d}",
        address=f"{place}{rng.choice(_STREETS)}{rng.randint(1, 300)}号",
        id_number=id_number(region, birth, sequence),
        authority=authority,
        valid_from=valid_from,
        valid_to=valid_to,
    )
