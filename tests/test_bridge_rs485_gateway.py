"""The RS-485 gateway end to end: real Mosquitto and PTYs, bus devices played with the codecs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mqtt_broker import Mosquitto
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
)

from firmware_bridges.rs485_gateway.config import GatewayConfig, load_config
from firmware_bridges.rs485_gateway.gateway import Gateway, Pacing
from hall_controller.profiles import ModbusDisplaySettings
from hall_controller.protocols import callpad, led_board, mqtt_tree, rating_pad
from hall_controller.protocols.callpad import CallPadCodec, PadBeep, PadLed, PadText
from hall_controller.protocols.framed import FrameDecoder
from hall_controller.protocols.led_board import BoardClear, BoardShow, LedBoardCodec
from hall_controller.protocols.message_set import META
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.mqtt import Message, MqttLink
from hall_controller.transports.pty import PtyPair

import waiting

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
HALL = "h1"
WAIT_S = 8.0
# Watched devices ping every 200 ms and are lost after 1 s of silence in these tests.
FAST = Pacing(reconnect_min_s=0.2, reconnect_max_s=1.0, presence_poll_s=0.05, broker_timeout_s=3.0)
PAD, BOARD, RATING, NUMBER = "w3-pad", "w3-board", "w3-rating", "w4-number"
ADDRESS = 3


def topic(device: str, rest: str) -> str:
    return f"hall/{HALL}/device/{device}/{rest}"


def fast_profiles(directory: Path) -> Path:
    """The repository's profiles with watchdogs short enough for a test."""
    directory.mkdir()
    for source in (ROOT / "device_profiles").glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^watchdog = "[1-9]\d*s"', 'watchdog = "1s"', text)
        text = re.sub(r'(?m)^ping_every = "\d+s"', 'ping_every = "200ms"', text)
        (directory / source.name).write_text(text, encoding="utf-8")
    return directory


def write_config(tmp_path: Path, broker: Mosquitto, ports: dict[str, Path]) -> Path:
    """A gateway config: pad and LED board on bus A, rating pad on B, Modbus display on C."""
    profiles = fast_profiles(tmp_path / "profiles")
    devices = [
        (PAD, "callpad-ff68", ports["A"], ADDRESS),
        (BOARD, "led-aa55-sum8", ports["A"], ADDRESS),
        (RATING, "rating-5key-aa", ports["B"], ADDRESS),
        (NUMBER, "modbus-led485-numeric", ports["C"], 4),
    ]
    lines = [
        f'hall_id = "{HALL}"',
        f'profiles = "{profiles}"',
        "[broker]",
        f'host = "{broker.host}"',
        f"port = {broker.port}",
        "keepalive = 5",
    ]
    for device_id, profile, port, address in devices:
        lines += [
            "[[devices]]",
            f'id = "{device_id}"',
            f'profile = "{profile}"',
            f'port = "{port}"',
            f"address = {address}",
        ]
    path = tmp_path / "gateway.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def eventually(test: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
    """Poll until `test()` holds, with this file's longer default wait."""
    await waiting.eventually(test, what, within)


# --- the devices on the buses, played by the test --------------------------------------------

Reply = Callable[[bytes], list[bytes]]


@dataclass
class BusPeer:
    """Every device on one PTY: hears the gateway's frames, records them, answers pings."""

    pty: PtyPair
    answering: bool = True
    heard: list[object] = field(default_factory=list)
    roles: list[Reply] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def call_pad(self, codec: CallPadCodec, address: int) -> None:
        decoder = FrameDecoder(codec.framing)

        def reply(data: bytes) -> list[bytes]:
            out = []
            for frame in decoder.feed(data):
                item = callpad.parse_feedback(codec, frame) if frame.address == address else None
                if isinstance(item, callpad.PadPing):
                    out += [callpad.pong_frame(codec, address)] if self.answering else []
                elif item is not None:
                    self.heard.append(item)
            return out

        self.roles.append(reply)

    def led_board(self, codec: LedBoardCodec, address: int) -> None:
        decoder = FrameDecoder(codec.framing)

        def reply(data: bytes) -> list[bytes]:
            for frame in decoder.feed(data):
                item = led_board.parse(codec, frame) if frame.address == address else None
                if item is not None:
                    self.heard.append(item)
            return []

        self.roles.append(reply)

    def rating_pad(self, codec: RatingPadCodec, address: int) -> None:
        decoder = FrameDecoder(codec.framing)

        def reply(data: bytes) -> list[bytes]:
            out = []
            for frame in decoder.feed(data):
                prompt = rating_pad.parse_prompt(codec, frame) if frame.address == address else None
                if prompt == "ping":
                    out += [rating_pad.pong_frame(codec, address)] if self.answering else []
                elif prompt is not None:
                    self.heard.append(prompt)
            return out

        self.roles.append(reply)

    def modbus_display(self, address: int) -> None:
        framer = FramerRTU(DecodePDU(True))
        buffer = bytearray()
        registers: dict[int, int] = {}

        def reply(data: bytes) -> list[bytes]:
            buffer.extend(data)
            out = []
            while buffer:
                used, pdu = framer.handleFrame(bytes(buffer), 0, 0)
                if used == 0:
                    break
                del buffer[:used]
                if pdu is None or pdu.dev_id != address:
                    continue
                if isinstance(pdu, WriteMultipleRegistersRequest):
                    self.heard.append(("write", pdu.address, list(pdu.registers)))
                    for i, value in enumerate(pdu.registers):
                        registers[pdu.address + i] = value
                    answer = WriteMultipleRegistersResponse(
                        address=pdu.address, count=len(pdu.registers), dev_id=address
                    )
                    out.append(framer.buildFrame(answer))
                elif isinstance(pdu, ReadHoldingRegistersRequest) and self.answering:
                    values = [registers.get(pdu.address + i, 0) for i in range(pdu.count)]
                    answer_read = ReadHoldingRegistersResponse(registers=values, dev_id=address)
                    out.append(framer.buildFrame(answer_read))
            return out

        self.roles.append(reply)

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"bus-peer:{self.pty.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def send(self, data: bytes) -> None:
        await self.pty.link.write(data, 1.0)

    async def _serve(self) -> None:
        link = self.pty.link
        while True:
            try:
                data = await link.read(0.5)
            except LinkTimeout:
                continue
            except LinkDown:  # unplugged: wait for the replug
                await asyncio.sleep(0.02)
                continue
            replies = [frame for role in self.roles for frame in role(data)]
            for frame in replies:
                with contextlib.suppress(LinkDown, LinkTimeout):
                    await link.write(frame, 1.0)
            self._changed.set()

    async def wait_for(self, item: object, *, within: float = WAIT_S) -> None:
        """Until the gateway has written `item` to this bus; it and all before it are used up."""
        try:
            async with asyncio.timeout(within):
                while item not in self.heard:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"{item!r} never reached the bus; heard {self.heard}")
        del self.heard[: self.heard.index(item) + 1]


class Watcher:
    """A client on the broker (the controller's seat): keeps every message of the devices."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.link = MqttLink(broker.host, broker.port, client_id, persistent_session=False)
        self.messages: list[Message] = []
        self._arrived = asyncio.Event()
        self.link.subscribe(f"hall/{HALL}/device/#", 1, self._deliver)

    def _deliver(self, message: Message) -> None:
        self.messages.append(message)
        self._arrived.set()

    def latest(self, topic: str) -> Message | None:
        found = [m for m in self.messages if m.topic == topic]
        return found[-1] if found else None

    async def until(self, test: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
        try:
            async with asyncio.timeout(within):
                while not test():
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            seen = [(m.topic, m.payload) for m in self.messages[-12:]]
            pytest.fail(f"no {what} within {within} s; last messages {seen}")

    async def state(self, device: str, state: str, within: float = WAIT_S) -> None:
        """Until the device's latest $state is `state`."""

        def reached() -> bool:
            latest = self.latest(topic(device, "$state"))
            return latest is not None and latest.payload == state.encode()

        await self.until(reached, f"{device} {state}", within)

    async def first(self, at: str) -> Message:
        """The first message on this topic."""
        await self.until(lambda: self.latest(at) is not None, at)
        return next(m for m in self.messages if m.topic == at)

    async def message(self, at: str, payload: bytes) -> Message:
        """The first message with this topic and payload."""

        def found() -> Message | None:
            return next((m for m in self.messages if (m.topic, m.payload) == (at, payload)), None)

        await self.until(lambda: found() is not None, f"{at} {payload!r}")
        message = found()
        assert message is not None
        return message

    async def command(self, device: str, name: str, data: dict[str, object]) -> None:
        """Send a command as the controller does."""
        payload = mqtt_tree.encode_cmd(name, data)
        await self.link.publish_wait(topic(device, f"cmd/{name}"), payload, timeout=WAIT_S)


@dataclass
class Rig:
    config: GatewayConfig
    gateway: Gateway
    watcher: Watcher
    ptys: dict[str, PtyPair]
    buses: dict[str, BusPeer]


def codecs(config: GatewayConfig) -> dict[str, object]:
    return {device.id: device.profile.codec for device in config.devices}


async def start_peers(config: GatewayConfig, ptys: dict[str, PtyPair]) -> dict[str, BusPeer]:
    found = codecs(config)
    pad, board, rating, number = found[PAD], found[BOARD], found[RATING], found[NUMBER]
    assert isinstance(pad, CallPadCodec)
    assert isinstance(board, LedBoardCodec)
    assert isinstance(rating, RatingPadCodec)
    assert isinstance(number, ModbusDisplaySettings)
    buses = {name: BusPeer(pty) for name, pty in ptys.items()}
    buses["A"].call_pad(pad, ADDRESS)
    buses["A"].led_board(board, ADDRESS)
    buses["B"].rating_pad(rating, ADDRESS)
    buses["C"].modbus_display(4)
    for bus in buses.values():
        bus.start()
    return buses


@pytest.fixture
async def ptys(tmp_path: Path) -> AsyncIterator[dict[str, PtyPair]]:
    pairs = {
        name: PtyPair(tmp_path / f"ttyRS485-{name}", name=f"bus {name}").open() for name in "ABC"
    }
    yield pairs
    for pair in pairs.values():
        pair.close()


@pytest.fixture
async def watcher(mosquitto: Mosquitto) -> AsyncIterator[Watcher]:
    watcher = Watcher(mosquitto, "controller-seat")
    await watcher.link.start(WAIT_S)
    yield watcher
    await watcher.link.stop(WAIT_S)


@pytest.fixture
async def rig(
    tmp_path: Path, mosquitto: Mosquitto, ptys: dict[str, PtyPair], watcher: Watcher
) -> AsyncIterator[Rig]:
    ports = {name: pair.link_path for name, pair in ptys.items() if pair.link_path is not None}
    config = load_config(write_config(tmp_path, mosquitto, ports))
    buses = await start_peers(config, ptys)
    gateway = Gateway(config, pacing=FAST)
    gateway.start()
    try:
        for device in (PAD, BOARD, RATING, NUMBER):
            await watcher.state(device, "ready")
        yield Rig(config, gateway, watcher, ptys, buses)
    finally:
        await gateway.stop()
        for bus in buses.values():
            await bus.stop()


# --- presence ---------------------------------------------------------------------------------


async def test_every_device_is_announced_ready_and_described_retained(
    rig: Rig, mosquitto: Mosquitto
) -> None:
    late = Watcher(mosquitto, "late-seat")
    await late.link.start(WAIT_S)
    try:
        for device in (PAD, BOARD, RATING, NUMBER):
            await late.state(device, "ready")
            state = late.latest(topic(device, "$state"))
            assert state is not None
            assert state.retain
            meta_message = await late.first(topic(device, "$meta"))
            assert meta_message.retain
            meta = json.loads(meta_message.payload)
            assert set(meta) <= set(META)
            assert all(isinstance(v, str) and len(v) <= 64 for v in meta.values())
        pad_meta = late.latest(topic(PAD, "$meta"))
        assert pad_meta is not None
        assert json.loads(pad_meta.payload)["kind"] == "call_pad"
        assert json.loads(pad_meta.payload)["profile"] == "callpad-ff68"
    finally:
        await late.link.stop(WAIT_S)


async def test_devices_on_one_port_share_one_bus(rig: Rig) -> None:
    bus_a = rig.gateway.buses[str(rig.ptys["A"].link_path)]
    assert [e.id for e in bus_a.endpoints] == [PAD, BOARD]
    assert len(rig.gateway.buses) == 3
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert sum(name.startswith("bus:") for name in names) == 3


async def test_a_pad_that_stops_answering_pings_is_lost_until_it_answers_again(rig: Rig) -> None:
    rig.buses["A"].answering = False
    await rig.watcher.state(PAD, "lost", within=3.0)
    assert rig.gateway.endpoints[BOARD].state == "ready"  # the board shares the port, no pings
    rig.buses["A"].answering = True
    await rig.watcher.state(PAD, "ready", within=3.0)


async def test_unplugging_a_port_makes_its_devices_lost_and_replugging_ready(rig: Rig) -> None:
    await rig.watcher.command(BOARD, "show", {"ticket": "A007", "window": "3"})
    await rig.buses["A"].wait_for(BoardShow("请A007号", blink=False))
    snapshot = {"window": "3", "showing": None, "status": "open", "rating": "idle"}
    rig.watcher.link.publish(
        topic(BOARD, "snapshot"), mqtt_tree.encode_snapshot(snapshot), qos=1, retain=True
    )

    rig.ptys["A"].unplug()
    await rig.watcher.state(PAD, "lost", within=3.0)
    await rig.watcher.state(BOARD, "lost", within=3.0)
    assert rig.gateway.endpoints[RATING].state == "ready"

    rig.buses["A"].heard.clear()
    rig.ptys["A"].replug()
    await rig.watcher.state(BOARD, "ready", within=3.0)
    await rig.watcher.state(PAD, "ready", within=3.0)
    # A board that was off the line is given what it should show now.
    await rig.buses["A"].wait_for(BoardClear())


async def test_a_killed_gateway_leaves_every_device_lost(
    tmp_path: Path, mosquitto: Mosquitto, ptys: dict[str, PtyPair], watcher: Watcher
) -> None:
    ports = {name: pair.link_path for name, pair in ptys.items() if pair.link_path is not None}
    path = write_config(tmp_path, mosquitto, ports)
    buses = await start_peers(load_config(path), ptys)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "firmware_bridges.rs485_gateway",
        "--config",
        str(path),
        cwd=ROOT,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for device in (PAD, BOARD, RATING, NUMBER):
            await watcher.state(device, "ready", within=20.0)
        assert process.returncode is None
        process.kill()  # no DISCONNECT: the broker publishes each device's last will
        await asyncio.wait_for(process.wait(), WAIT_S)
        for device in (PAD, BOARD, RATING, NUMBER):
            await watcher.state(device, "lost")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for bus in buses.values():
            await bus.stop()


async def test_a_stopped_gateway_says_lost_for_every_device(rig: Rig) -> None:
    await rig.gateway.stop()
    for device in (PAD, BOARD, RATING, NUMBER):
        await rig.watcher.state(device, "lost")
        latest = rig.watcher.latest(topic(device, "$state"))
        assert latest is not None


# --- call pad ---------------------------------------------------------------------------------


async def test_a_key_pressed_on_the_bus_arrives_as_event_key(rig: Rig) -> None:
    codec = codecs(rig.config)[PAD]
    assert isinstance(codec, CallPadCodec)
    await rig.buses["A"].send(callpad.key_frame(codec, ADDRESS, "call"))
    message = await rig.watcher.message(topic(PAD, "event/key"), b'{"key":"call"}')
    event = mqtt_tree.decode_event("key", message.payload)
    assert event is not None
    assert event.data == {"key": "call"}
    assert not message.retain


async def test_a_recorded_key_frame_between_other_traffic_is_one_event(rig: Rig) -> None:
    wire = (
        bytes.fromhex("FF 68050101010816")  # another pad (address 5): call
        + bytes.fromhex("FF 68030101030816")  # address 3, key, len 1, no-show
        + bytes.fromhex("FF 68030101030916")  # same, bad sum8: dropped
    )
    await rig.buses["A"].send(wire)
    await rig.watcher.message(topic(PAD, "event/key"), b'{"key":"no_show"}')
    await asyncio.sleep(0.3)
    events = [m for m in rig.watcher.messages if m.topic.endswith("/event/key")]
    assert [m.payload for m in events] == [b'{"key":"no_show"}']


async def test_feedback_reaches_the_pad_as_text_lamp_and_beep_frames(rig: Rig) -> None:
    await rig.watcher.command(PAD, "feedback", {"text": "A012", "led": True, "beep": 1})
    bus = rig.buses["A"]
    await bus.wait_for(PadText(ADDRESS, "A012"))
    await bus.wait_for(PadLed(ADDRESS, on=True))
    await bus.wait_for(PadBeep(ADDRESS, 1))


async def test_a_key_while_the_broker_is_away_is_refused_on_the_pad(
    rig: Rig, mosquitto: Mosquitto
) -> None:
    codec = codecs(rig.config)[PAD]
    assert isinstance(codec, CallPadCodec)
    await asyncio.to_thread(mosquitto.stop)
    endpoint = rig.gateway.endpoints[PAD]
    await eventually(lambda: endpoint.link.state is LinkState.DOWN, "the broker gone")
    await rig.buses["A"].send(callpad.key_frame(codec, ADDRESS, "call"))
    await rig.buses["A"].wait_for(PadText(ADDRESS, "离线"))
    await rig.buses["A"].wait_for(PadBeep(ADDRESS, 3))
    assert endpoint.events_dropped == 1

    # The broker comes back empty (nothing on disk): every device is announced again.
    await asyncio.to_thread(mosquitto.start)
    for device in (PAD, BOARD, RATING, NUMBER):
        await rig.watcher.state(device, "ready", within=20.0)


# --- window displays ----------------------------------------------------------------------------


async def test_cmd_show_arrives_on_the_bus_as_the_boards_frame(rig: Rig) -> None:
    await rig.watcher.command(BOARD, "show", {"ticket": "A012", "window": "3", "blink": True})
    await rig.buses["A"].wait_for(BoardShow("请A012号", blink=True))
    await rig.watcher.command(
        BOARD, "show", {"ticket": "", "window": "3", "text": "暂停服务", "blink": False}
    )
    await rig.buses["A"].wait_for(BoardShow("暂停服务", blink=False))
    await rig.watcher.command(BOARD, "clear", {})
    await rig.buses["A"].wait_for(BoardClear())


async def test_the_retained_snapshot_is_shown_when_the_gateway_connects(
    tmp_path: Path, mosquitto: Mosquitto, ptys: dict[str, PtyPair], watcher: Watcher
) -> None:
    showing = {"ticket": "B003", "window": "3", "text": "", "blink": False}
    snapshots = {
        BOARD: {"window": "3", "showing": showing, "status": "serving", "rating": "idle"},
        RATING: {"window": "3", "showing": showing, "status": "serving", "rating": "asking"},
    }
    for device, body in snapshots.items():
        payload = mqtt_tree.encode_snapshot(body)
        await watcher.link.publish_wait(
            topic(device, "snapshot"), payload, retain=True, timeout=WAIT_S
        )
    ports = {name: pair.link_path for name, pair in ptys.items() if pair.link_path is not None}
    config = load_config(write_config(tmp_path, mosquitto, ports))
    buses = await start_peers(config, ptys)
    gateway = Gateway(config, pacing=FAST)
    gateway.start()
    try:
        await buses["A"].wait_for(BoardShow("请B003号", blink=False))
        await buses["B"].wait_for("ask")
    finally:
        await gateway.stop()
        for bus in buses.values():
            await bus.stop()


async def test_the_modbus_display_gets_register_writes_and_answers_pings(rig: Rig) -> None:
    await rig.watcher.command(NUMBER, "show", {"ticket": "A012", "window": "4", "blink": True})
    await rig.buses["C"].wait_for(("write", 0, [12, 4, 1]))  # number, window, blink
    await rig.watcher.command(NUMBER, "clear", {})
    await rig.buses["C"].wait_for(("write", 0, [0, 0, 0]))
    rig.buses["C"].answering = False
    await rig.watcher.state(NUMBER, "lost", within=3.0)


# --- rating pad ---------------------------------------------------------------------------------


async def test_the_rating_pad_asks_scores_and_thanks(rig: Rig) -> None:
    codec = codecs(rig.config)[RATING]
    assert isinstance(codec, RatingPadCodec)
    bus = rig.buses["B"]
    await rig.watcher.command(RATING, "ask_rating", {"ticket": "A012"})
    await bus.wait_for("ask")
    await bus.send(rating_pad.key_frame(codec, ADDRESS, 0x02))  # 满意
    message = await rig.watcher.message(topic(RATING, "event/rating"), b'{"score":4}')
    assert mqtt_tree.decode_event("rating", message.payload) is not None
    await rig.watcher.command(RATING, "rating_done", {"ticket": "A012"})
    await bus.wait_for("thanks")
