"""SimulatedBus: the device side of a real PTY (opened by the controller's SerialLink) and of
in-memory lines that deliver one byte at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hall_controller.profiles import DeviceProfile, ModbusDisplaySettings, Rf433Settings
from hall_controller.profiles import load_profiles as _load_profiles
from hall_controller.protocols import callpad, led_board
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.rf433 import HeldKeyFilter, Rf433Decoder
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.peers import (
    CallPadPeer,
    LedBoardPeer,
    ModbusDisplayPeer,
    Rf433ReceiverPeer,
)
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.memory import memory_pair
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink, SerialParams

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES: dict[str, DeviceProfile] = _load_profiles(ROOT / "device_profiles")
WAIT_S = 5.0


def pad_codec() -> CallPadCodec:
    codec = PROFILES["callpad-ff68"].codec
    assert isinstance(codec, CallPadCodec)
    return codec


async def read_frames(link: ByteLink, decoder: FrameDecoder, count: int) -> list[Frame]:
    """Read until `count` frames have come; fails the test if they do not in time."""
    frames: list[Frame] = []
    async with asyncio.timeout(WAIT_S):
        while len(frames) < count:
            frames += decoder.feed(await link.read(WAIT_S))
    return frames


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    """A plugged-in PTY whose symlink stands where the hall config puts the port."""
    pair = PtyPair(tmp_path / "ports" / "pads", name="pads")
    pair.link_path.parent.mkdir()  # type: ignore[union-attr]
    pair.open()
    yield pair
    pair.close()


@pytest.fixture
async def controller(pty: PtyPair) -> AsyncIterator[SerialLink]:
    """The controller's end: SerialLink opened on the port path."""
    link = SerialLink(SerialParams(str(pty.link_path), baudrate=9600))
    await link.open(WAIT_S)
    yield link
    await link.close()


async def test_pad_answers_the_controllers_ping_and_its_key_reaches_the_controller(
    pty: PtyPair, controller: SerialLink
) -> None:
    codec = pad_codec()
    pad = CallPadPeer(codec, 1)
    bus = SimulatedBus(pty.link, [pad], name="pads")
    await bus.start()
    try:
        decoder = FrameDecoder(codec.framing)
        await controller.write(callpad.ping(codec, 1), WAIT_S)
        (pong,) = await read_frames(controller, decoder, 1)
        assert callpad.parse(codec, pong) == callpad.PadPong(1)

        bus.send(pad.press("call"))
        await bus.drain(WAIT_S)
        (key,) = await read_frames(controller, decoder, 1)
        assert callpad.parse(codec, key) == callpad.PadKey(1, "call")

        await controller.write(callpad.text(codec, 1, "A012"), WAIT_S)
        await eventually(lambda: pad.text == "A012", "the pad shows A012")
        assert bus.received > 0
        assert bus.written == len(callpad.pong_frame(codec, 1)) + 8
    finally:
        await bus.stop()


async def test_addressed_pads_share_one_port(pty: PtyPair, controller: SerialLink) -> None:
    codec = pad_codec()
    pads = [CallPadPeer(codec, 1), CallPadPeer(codec, 2)]
    bus = SimulatedBus(pty.link, pads, name="pads")
    await bus.start()
    try:
        decoder = FrameDecoder(codec.framing)
        await controller.write(callpad.ping(codec, 2) + callpad.ping(codec, 1), WAIT_S)
        frames = await read_frames(controller, decoder, 2)
        assert {callpad.parse(codec, f) for f in frames} == {
            callpad.PadPong(1),
            callpad.PadPong(2),
        }
        await controller.write(callpad.led(codec, 2, True), WAIT_S)
        await eventually(lambda: pads[1].lamp, "pad 2's lamp is on")
        assert pads[0].lamp is False
        bus.send(pads[1].press("finish"))
        (key,) = await read_frames(controller, decoder, 1)
        assert callpad.parse(codec, key) == callpad.PadKey(2, "finish")
    finally:
        await bus.stop()


async def test_unplugged_port_loses_keys_and_works_again_after_replug(
    pty: PtyPair, tmp_path: Path
) -> None:
    codec = pad_codec()
    pad = CallPadPeer(codec, 1)
    bus = SimulatedBus(pty.link, [pad], name="pads")
    await bus.start()
    controller = SerialLink(SerialParams(str(pty.link_path)))
    try:
        await controller.open(WAIT_S)
        pty.unplug()
        with pytest.raises(LinkDown):
            await controller.read(WAIT_S)
        await controller.close()
        bus.send(pad.press("call"))
        await bus.drain(WAIT_S)
        assert bus.dropped == 1

        pty.replug()
        controller = SerialLink(SerialParams(str(pty.link_path)))
        await controller.open(WAIT_S)
        await controller.write(callpad.ping(codec, 1), WAIT_S)
        (pong,) = await read_frames(controller, FrameDecoder(codec.framing), 1)
        assert callpad.parse(codec, pong) == callpad.PadPong(1)
    finally:
        await controller.close()
        await bus.stop()


async def test_held_remote_key_repeats_and_counts_as_one_press(
    pty: PtyPair, controller: SerialLink
) -> None:
    settings = PROFILES["rf433-receiver"].codec
    assert isinstance(settings, Rf433Settings)
    receiver = Rf433ReceiverPeer(settings.layout, default_remote=0x00042)
    bus = SimulatedBus(pty.link, [receiver], name="rf")
    await bus.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        hold = bus.send_repeated(receiver.hold("call", 0.5), 0.1)
        decoder, held = Rf433Decoder(), HeldKeyFilter(settings.release_after_s)
        arrivals: list[float] = []
        presses = 0
        async with asyncio.timeout(WAIT_S):
            while len(arrivals) < 6:
                for code in decoder.feed(await controller.read(WAIT_S)):
                    assert settings.layout.split(code.code) == (0x42, "call")
                    arrivals.append(loop.time() - started)
                    presses += held.accept(code.code, loop.time())
        await hold
        assert presses == 1
        assert 0.4 <= arrivals[-1] - arrivals[0] < 1.5
    finally:
        await bus.stop()


async def test_board_on_a_line_that_delivers_one_byte_at_a_time() -> None:
    codec = PROFILES["led-7e-crc16"].codec
    assert isinstance(codec, LedBoardCodec)
    controller, device = memory_pair(chunk=1, name="boards")
    boards = [LedBoardPeer(codec, 1), LedBoardPeer(codec, 2)]
    bus = SimulatedBus(device, boards, name="boards")
    await controller.open(WAIT_S)
    await bus.start()
    try:
        await controller.write(led_board.show(codec, 2, "请A012号", blink=True), WAIT_S)
        await controller.write(led_board.show(codec, 1, "B003"), WAIT_S)
        await eventually(lambda: boards[1].text == "请A012号", "board 2 shows A012")
        await eventually(lambda: boards[0].text == "B003", "board 1 shows B003")
        assert boards[1].blink
        assert not boards[0].blink
        with pytest.raises(LinkTimeout):
            await controller.read(0.1)  # boards never answer
    finally:
        await bus.stop()
        await controller.close()


async def test_modbus_display_answers_over_a_slow_line() -> None:
    from pymodbus.framer import FramerRTU
    from pymodbus.pdu import DecodePDU
    from pymodbus.pdu.register_message import (
        ReadHoldingRegistersRequest,
        ReadHoldingRegistersResponse,
    )

    codec = PROFILES["modbus-led485-numeric"].codec
    assert isinstance(codec, ModbusDisplaySettings)
    controller, device = memory_pair(chunk=1, delay_s=0.001, name="numeric")
    display = ModbusDisplayPeer(codec.registers, 9)
    display.registers[codec.registers.number_register] = 321
    bus = SimulatedBus(device, [display], name="numeric")
    await controller.open(WAIT_S)
    await bus.start()
    framer = FramerRTU(DecodePDU(False))
    try:
        request = ReadHoldingRegistersRequest(address=0, count=1, dev_id=9)
        await controller.write(framer.buildFrame(request), WAIT_S)
        reply = b""
        async with asyncio.timeout(WAIT_S):
            while len(reply) < 7:  # address, function, byte count, 2 bytes, CRC
                reply += await controller.read(WAIT_S)
        _, pdu = framer.handleFrame(reply, 9, 0)
        assert isinstance(pdu, ReadHoldingRegistersResponse)
        assert list(pdu.registers) == [321]
    finally:
        await bus.stop()
        await controller.close()


async def test_a_failing_peer_does_not_stop_the_line() -> None:
    codec = pad_codec()

    class Broken(CallPadPeer):
        def feed(self, data: bytes, at: float) -> bytes:
            raise RuntimeError("a bug in a peer")

    controller, device = memory_pair(name="pads")
    pads = [Broken(codec, 1), CallPadPeer(codec, 2)]
    bus = SimulatedBus(device, pads, name="pads")
    await controller.open(WAIT_S)
    await bus.start()
    try:
        await controller.write(callpad.ping(codec, 2), WAIT_S)
        (pong,) = await read_frames(controller, FrameDecoder(codec.framing), 1)
        assert callpad.parse(codec, pong) == callpad.PadPong(2)
    finally:
        await bus.stop()
        await controller.close()
    assert not bus.running
    bus.send(b"\x01")
    assert bus.dropped == 1
