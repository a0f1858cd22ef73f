"""The simulated SAM ID card reader, over a real PTY at 115200, and its synthetic cards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import pytest

from hall_controller.core.identity import age_band, parse_resident_id
from hall_controller.protocols.sam_idcard import (
    FIND_CARD,
    READ_TEXT_PHOTO,
    SELECT_CARD,
    ReplyDecoder,
    SamReply,
    SamRequest,
    Status,
    parse_text_record,
    split_text_photo,
)
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.idcard_reader import (
    IdCardReaderPeer,
    check_digit,
    id_number,
    synthetic_card,
)
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink, SerialParams

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

WAIT_S = 5.0
TODAY = date(2026, 11, 28)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    """The reader's port, as the hall config names it."""
    with PtyPair(tmp_path / "idcard", name="idcard") as pair:
        yield pair


@pytest.fixture
async def reader(pty: PtyPair) -> AsyncIterator[tuple[IdCardReaderPeer, SimulatedBus]]:
    peer = IdCardReaderPeer()
    bus = SimulatedBus(pty.link, [peer], name="idcard")
    await bus.start()
    yield peer, bus
    await bus.stop()


@pytest.fixture
async def controller(pty: PtyPair) -> AsyncIterator[SerialLink]:
    link = SerialLink(SerialParams(str(pty.link_path), baudrate=115200))
    await link.open(WAIT_S)
    yield link
    await link.close()


class Asker:
    """The controller's side of the conversation: one request, one reply."""

    def __init__(self, link: SerialLink) -> None:
        self.link = link
        self.decoder = ReplyDecoder()

    async def ask(self, request: SamRequest) -> SamReply:
        await self.link.write(request.to_bytes(), WAIT_S)
        async with asyncio.timeout(WAIT_S):
            while True:
                replies = self.decoder.feed(await self.link.read(WAIT_S))
                if replies:
                    (reply,) = replies
                    return reply


async def test_a_card_is_found_selected_and_read_with_the_real_frames(
    reader: tuple[IdCardReaderPeer, SimulatedBus], controller: SerialLink
) -> None:
    peer, _ = reader
    asker = Asker(controller)
    assert (await asker.ask(FIND_CARD)).status is Status.NO_CARD
    assert (await asker.ask(SELECT_CARD)).status is Status.SELECT_FAILED

    card = synthetic_card(7)
    peer.place_card(card)
    assert peer.view() == {"type": "id_card_reader", "card": True, "fault": "none", "reads": 0}
    assert (await asker.ask(FIND_CARD)).status is Status.CARD_FOUND
    assert (await asker.ask(READ_TEXT_PHOTO)).status is Status.READ_FAILED  # not selected
    assert (await asker.ask(SELECT_CARD)).status is Status.OK
    read = await asker.ask(READ_TEXT_PHOTO)
    assert read.status is Status.OK
    text, photo = split_text_photo(read)
    assert parse_text_record(text) == card
    assert len(photo) == 1024
    assert peer.reads == 1

    peer.remove_card()
    assert (await asker.ask(FIND_CARD)).status is Status.NO_CARD
    assert asker.decoder.errors == 0
    assert peer.errors == 0


async def test_fault_modes(
    reader: tuple[IdCardReaderPeer, SimulatedBus], controller: SerialLink
) -> None:
    peer, bus = reader
    asker = Asker(controller)
    peer.place_card(synthetic_card(1))

    peer.fault = "read_failure"
    assert (await asker.ask(SELECT_CARD)).status is Status.OK
    assert (await asker.ask(READ_TEXT_PHOTO)).status is Status.READ_FAILED
    assert peer.reads == 0

    peer.fault = "bad_checksum"
    await controller.write(FIND_CARD.to_bytes() + FIND_CARD.to_bytes(), WAIT_S)
    await eventually(lambda: peer.requests == 4, "the reader heard both requests")
    await bus.drain(WAIT_S)
    async with asyncio.timeout(WAIT_S):
        while asker.decoder.errors < 2:
            assert asker.decoder.feed(await controller.read(WAIT_S)) == []
    assert asker.decoder.last_error == "bad checksum"

    peer.fault = "silent"
    written = bus.written
    await controller.write(FIND_CARD.to_bytes(), WAIT_S)
    await eventually(lambda: peer.requests == 5, "the reader heard the request")
    await bus.drain(WAIT_S)
    assert bus.written == written  # it said nothing

    peer.fault = "none"
    assert (await asker.ask(FIND_CARD)).status is Status.CARD_FOUND


async def test_broken_and_unknown_requests(
    reader: tuple[IdCardReaderPeer, SimulatedBus], controller: SerialLink
) -> None:
    peer, _ = reader
    asker = Asker(controller)
    broken = FIND_CARD.to_bytes()[:-1] + b"\x00"
    await controller.write(broken, WAIT_S)
    assert (await asker.ask(SamRequest(0x61, 0xFF))).status is Status.BAD_COMMAND
    assert peer.errors == 1  # the broken request: no answer, counted
    assert peer.requests == 1


def test_synthetic_cards_carry_valid_id_numbers() -> None:
    for seed in range(200):
        card = synthetic_card(seed)
        resident = parse_resident_id(card.id_number, TODAY)  # check digit, birth date
        assert f"{resident.birth_date:%Y%m%d}" == card.birth_date
        assert int(card.id_number[16]) % 2 == (1 if card.sex == "男" else 0)
        assert card.id_number.startswith("44")  # Guangdong
        if resident.age_on(date(int(card.valid_from[:4]), 12, 31)) >= 47:
            assert card.valid_to == "长期"
    assert synthetic_card(3) == synthetic_card(3)
    assert synthetic_card(3) != synthetic_card(4)


def test_a_card_for_an_elderly_applicant() -> None:
    card = synthetic_card(5, birth=date(1950, 3, 4), sex="女", name="林示例")
    resident = parse_resident_id(card.id_number, TODAY)
    assert age_band(resident.age_on(TODAY)) == "70-79"
    assert (card.name, card.sex, card.birth_date) == ("林示例", "女", "19500304")


def test_check_digits_of_the_standard_s_worked_example() -> None:
    # GB 11643-1999's example number 11010519491231002X.
    assert check_digit("11010519491231002") == "X"
    assert id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"
