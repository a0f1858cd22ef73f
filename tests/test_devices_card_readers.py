"""The kiosk's resident ID card reader: SamIdCardReader against the simulated SAM reader, over a
real PTY and over lines that split, delay and drop bytes; and where a contact card's number is.

Cards are synthetic (simulators/idcard_reader.py); the PC/SC reader itself is tested against
pcscd in test_pcsc.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

import pytest

from hall_controller.devices.base import DeviceContext
from hall_controller.devices.card_readers import MAX_ATTEMPTS, SamIdCardReader, card_number
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import CardPresented, DeviceInput
from hall_controller.profiles import (
    DeviceConfig,
    PcscCardSettings,
    SamIdCardSettings,
    load_profiles,
)
from hall_controller.protocols.sam_idcard import (
    READ_TEXT_PHOTO,
    IdCardText,
    SamReply,
    SamRequest,
    text_photo_reply,
    text_record,
)
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.idcard_reader import IdCardReaderPeer, synthetic_card
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.memory import memory_pair
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialParams

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
SLOW_S = 10.0  # waits that include a watchdog or a reconnect
ELDER = synthetic_card(11, birth=date(1950, 3, 4))
YOUNGER = synthetic_card(12, birth=date(1990, 8, 16))


def reader_config(profile_id: str, port: str) -> DeviceConfig:
    """The shipped profile, polling faster than a kiosk needs so the tests run quickly."""
    profile = PROFILES[profile_id]
    assert isinstance(profile.codec, SamIdCardSettings)
    fast = dataclasses.replace(
        profile,
        codec=SamIdCardSettings(poll_s=0.05, reply_timeout_s=1.0, read_timeout_s=2.0),
        timeouts=dataclasses.replace(profile.timeouts, watchdog_s=1.5),
    )
    return DeviceConfig(
        id="k1-idcard",
        profile=fast,
        window=None,
        port=port,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        kiosk="K1",
    )


@dataclass
class Inputs:
    """What an adapter hands the hub, and the states it went through."""

    submitted: list[DeviceInput] = field(default_factory=list)
    states: list[DeviceState] = field(default_factory=list)

    def context(self) -> DeviceContext:
        return DeviceContext(
            clock=time.time,
            submit=lambda item, _device: self.submitted.append(item),
            state_changed=lambda device: self.states.append(device.health.state),
        )

    def cards(self) -> list[IdCardText]:
        out = []
        for item in self.submitted:
            assert isinstance(item, CardPresented)
            assert (item.device_id, item.kiosk) == ("k1-idcard", "K1")
            assert isinstance(item.card, IdCardText)
            out.append(item.card)
        return out


def no_personal_data(reader: SamIdCardReader, card: IdCardText) -> None:
    """Nothing of the card in what technicians see (plain, or as hex of its UTF-16)."""
    shown = repr(reader.health.view())
    for value in (card.id_number, card.name, card.address):
        assert value not in shown
        assert value.encode("utf-16-le").hex(" ").upper() not in shown
        assert value.encode("utf-16-le").hex(" ").upper()[:23] not in shown


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    """The reader's port, where the hall config puts it (a by-id style symlink)."""
    with PtyPair(tmp_path / "ttyIDCARD", name="idcard") as pair:
        yield pair


@pytest.fixture
async def sim(pty: PtyPair) -> AsyncIterator[IdCardReaderPeer]:
    """The simulated reader on the PTY's device side."""
    peer = IdCardReaderPeer()
    bus = SimulatedBus(pty.link, [peer], name="idcard")
    await bus.start()
    yield peer
    await bus.stop()


@pytest.fixture
async def adapter(pty: PtyPair) -> AsyncIterator[tuple[SamIdCardReader, Inputs]]:
    """SamIdCardReader on the PTY through a real SerialLink, as the hub builds it."""
    inputs = Inputs()
    config = reader_config("sam-idcard-serial", str(pty.link_path))
    reader = SamIdCardReader(config, inputs.context(), backoff=Backoff(initial_s=0.1, cap_s=0.5))
    await reader.start()
    yield reader, inputs
    await reader.stop()


async def test_a_card_put_on_the_reader_is_handed_over_once(
    sim: IdCardReaderPeer, adapter: tuple[SamIdCardReader, Inputs]
) -> None:
    reader, inputs = adapter
    await eventually(lambda: reader.health.state is DeviceState.READY, "the reader answers")
    assert inputs.states == [DeviceState.READY]  # ready at its first answer, not at the port

    sim.place_card(ELDER)
    await eventually(lambda: len(inputs.submitted) == 1, "the card is handed over")
    assert inputs.cards() == [ELDER]
    # It stays on the reader: found again and again, never read again.
    finds = sim.finds
    await eventually(lambda: sim.finds >= finds + 5, "five more polls")
    assert sim.reads == 1
    assert len(inputs.submitted) == 1

    # Taken away and put back: a new presentation, read again; then another person's card.
    sim.remove_card()
    await eventually(lambda: sim.finds >= finds + 8, "the reader saw it gone")
    sim.place_card(ELDER)
    await eventually(lambda: len(inputs.submitted) == 2, "the card is read again")
    sim.remove_card()
    await eventually(lambda: sim.finds >= finds + 12, "gone again")
    sim.place_card(YOUNGER)
    await eventually(lambda: len(inputs.submitted) == 3, "the next applicant's card")
    assert inputs.cards() == [ELDER, ELDER, YOUNGER]
    assert reader.cards_read == 3
    assert reader.health.errors == 0
    find_card = "AA AA AA 96 69 00 03 20 01 22"  # requests are shown whole
    await eventually(lambda: reader.health.last_frame_out == find_card, "polling again")
    no_personal_data(reader, ELDER)
    no_personal_data(reader, YOUNGER)


async def test_a_reader_that_falls_silent_is_lost_and_back_at_its_next_answer(
    sim: IdCardReaderPeer, adapter: tuple[SamIdCardReader, Inputs]
) -> None:
    reader, inputs = adapter
    await eventually(lambda: reader.ready, "the reader answers")
    sim.fault = "silent"
    await eventually(lambda: reader.health.state is DeviceState.LOST, "lost", SLOW_S)
    assert "no answer for" in (reader.health.last_error or "")
    sim.place_card(YOUNGER)  # put down while the reader is silent
    sim.fault = "none"
    await eventually(lambda: reader.ready, "back at its next answer", SLOW_S)
    await eventually(lambda: len(inputs.submitted) == 1, "the card is read")
    assert inputs.cards() == [YOUNGER]
    assert inputs.states == [DeviceState.READY, DeviceState.LOST, DeviceState.READY]
    assert reader.health.reconnects == 1


async def test_bad_checksums_are_counted_and_nothing_broken_is_handed_over(
    sim: IdCardReaderPeer, adapter: tuple[SamIdCardReader, Inputs]
) -> None:
    reader, inputs = adapter
    await eventually(lambda: reader.ready, "the reader answers")
    sim.fault = "bad_checksum"
    sim.place_card(ELDER)
    await eventually(lambda: reader.health.errors >= 3, "broken frames counted")
    assert "bad checksum" in (reader.health.last_error or "")
    assert inputs.submitted == []
    sim.fault = "none"
    await eventually(lambda: len(inputs.submitted) == 1, "read once the line is clean")
    assert inputs.cards() == [ELDER]


async def test_a_card_that_cannot_be_read_is_tried_a_few_times_then_left_alone(
    sim: IdCardReaderPeer, adapter: tuple[SamIdCardReader, Inputs]
) -> None:
    reader, inputs = adapter
    await eventually(lambda: reader.ready, "the reader answers")
    sim.fault = "read_failure"
    sim.place_card(ELDER)
    await eventually(lambda: reader.health.errors == MAX_ATTEMPTS, "every attempt counted")
    assert reader.health.last_error == "read card: reading the card failed (41)"
    finds = sim.finds
    await eventually(lambda: sim.finds >= finds + 5, "five more polls")
    assert reader.health.errors == MAX_ATTEMPTS  # not tried again while it lies there
    sim.fault = "none"
    sim.remove_card()  # the applicant takes it and tries again
    await eventually(lambda: sim.finds >= finds + 8, "the reader saw it gone")
    sim.place_card(ELDER)
    await eventually(lambda: len(inputs.submitted) == 1, "read at the new presentation")
    assert reader.ready


async def test_an_unplugged_reader_is_lost_and_back_when_its_port_returns(
    pty: PtyPair, sim: IdCardReaderPeer, adapter: tuple[SamIdCardReader, Inputs]
) -> None:
    reader, inputs = adapter
    await eventually(lambda: reader.ready, "the reader answers")
    pty.unplug()
    await eventually(lambda: reader.health.state is DeviceState.LOST, "lost", SLOW_S)
    pty.open()  # plugged in again: a new tty behind the same link
    sim.place_card(ELDER)
    await eventually(lambda: len(inputs.submitted) == 1, "read after the replug", SLOW_S)
    assert reader.ready
    assert reader.health.reconnects == 1


class UnreadablePeer(IdCardReaderPeer):
    """A reader whose card's record holds a nation code no card has (a damaged card)."""

    def _answer(self, request: SamRequest) -> SamReply:
        reply = super()._answer(request)
        if request == READ_TEXT_PHOTO and reply.sw3 == 0x90:
            assert self.card is not None
            record = bytearray(text_record(self.card))
            record[32:36] = "99".encode("utf-16-le")
            return text_photo_reply(bytes(record), b"")
        return reply


@pytest.mark.parametrize(("chunk", "delay_s", "drop_every"), [(1, 0.0, None), (7, 0.001, 5)])
async def test_over_lines_that_split_delay_and_drop(
    chunk: int, delay_s: float, drop_every: int | None
) -> None:
    controller_end, device_end = memory_pair(
        chunk=chunk, delay_s=delay_s, drop_every=drop_every, name="idcard"
    )
    peer = IdCardReaderPeer()
    bus = SimulatedBus(device_end, [peer], name="idcard")
    await bus.start()
    inputs = Inputs()
    opened: list[SerialParams] = []

    def open_link(params: SerialParams) -> ByteLink:
        opened.append(params)
        return controller_end

    reader = SamIdCardReader(
        reader_config("sam-idcard-usb", "mem://idcard"), inputs.context(), open_link=open_link
    )
    await reader.start()
    try:
        await eventually(lambda: reader.ready, "the reader answers")
        assert opened[0].baudrate == 115200
        peer.place_card(ELDER)
        await eventually(lambda: len(inputs.submitted) == 1, "the card is handed over", SLOW_S)
        finds = peer.finds
        await eventually(lambda: peer.finds >= finds + 5, "five more polls", SLOW_S)
        assert inputs.cards() == [ELDER]  # once, whatever the line lost
        if drop_every:
            assert controller_end.dropped > 0
    finally:
        await reader.stop()
        await bus.stop()


async def test_an_unreadable_card_is_counted_without_its_data(pty: PtyPair) -> None:
    peer = UnreadablePeer()
    bus = SimulatedBus(pty.link, [peer], name="idcard")
    await bus.start()
    inputs = Inputs()
    reader = SamIdCardReader(
        reader_config("sam-idcard-serial", str(pty.link_path)), inputs.context()
    )
    await reader.start()
    try:
        peer.place_card(ELDER)
        await eventually(lambda: reader.health.errors == MAX_ATTEMPTS, "every attempt counted")
        assert reader.health.last_error == "unreadable card: nation holds an unknown code"
        assert inputs.submitted == []
        no_personal_data(reader, ELDER)
    finally:
        await reader.stop()
        await bus.stop()


# --- where a contact card's number is ------------------------------------------------------------


def settings(**overrides: object) -> PcscCardSettings:
    profile = PROFILES["pcsc-social-security"].codec
    assert isinstance(profile, PcscCardSettings)
    return dataclasses.replace(profile, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "overrides", "number"),
    [
        # tag 07, length 09, "A12345678": a social security card's EF05 record 07
        (bytes.fromhex("07 09 413132333435363738"), {}, "A12345678"),
        # another item first (tag 06, 4 bytes), then the number padded with 00
        (bytes.fromhex("06 04 20301231 07 0A 41313233343536373800"), {}, "A12345678"),
        (bytes.fromhex("06 04 20301231"), {}, None),  # no such tag
        (bytes.fromhex("07 09 4131"), {}, None),  # cut short
        (bytes.fromhex("07 03 41 0A 42"), {}, None),  # not printable
        # at a fixed place: 2 bytes in, 5 BCD bytes with F padding
        (
            bytes.fromhex("0000 1234567890 FF"),
            {"number_tag": None, "number_offset": 2, "number_length": 5, "number_format": "bcd"},
            "1234567890",
        ),
        (
            bytes.fromhex("0000 12345678FF"),
            {"number_tag": None, "number_offset": 2, "number_length": 5, "number_format": "bcd"},
            "12345678",
        ),
        (
            bytes.fromhex("0000 1234"),
            {"number_tag": None, "number_offset": 2, "number_length": 5, "number_format": "bcd"},
            None,
        ),
        (
            b"card:A1234567  ",
            {"number_tag": None, "number_offset": 5, "number_length": None},
            "A1234567",
        ),
    ],
)
def test_the_card_number_where_the_profile_says(
    answer: bytes, overrides: dict[str, object], number: str | None
) -> None:
    assert card_number(answer, settings(**overrides)) == number
