"""What each bus device kind means on the topic tree: bus frames <-> events, commands, snapshot.

A bridge does no I/O: it turns bus bytes into events to publish and commands or the snapshot
into frames to write, and says whether the device answered. The gateway moves the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    WriteMultipleRegistersRequest,
)

from hall_controller.profiles import DeviceKind, ModbusDisplaySettings
from hall_controller.protocols import callpad, led_board, mqtt_tree, numeric_display, rating_pad
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.rating_pad import RatingPadCodec

from .config import META_TEXT_MAX, BridgedDevice

FIRMWARE = "hall rs485-gateway 1.0"
# What a call pad shows when its key could not reach the hall (the broker is away).
OFFLINE_TEXT = "离线"
OFFLINE_BEEPS = 3
# Modbus answers kept while waiting for the rest of a frame.
_MODBUS_BUFFER = 512


@dataclass(slots=True)
class Heard:
    """What bus bytes meant for one device: did it answer, and which events it sent."""

    answered: bool = False
    events: list[tuple[str, bytes]] = field(default_factory=list)  # (event name, JSON payload)


class DeviceBridge:
    """One bus device as a device of the topic tree; subclasses know one device kind."""

    kind: DeviceKind
    # Commands this kind follows; others are counted in `ignored`.
    commands: tuple[str, ...] = ()

    def __init__(self, device: BridgedDevice) -> None:
        self.device = device
        self.address = device.address
        self.rejected = 0  # commands or snapshots that do not match the message set
        self.ignored = 0  # valid commands this kind does not follow
        self._snapshot: Mapping[str, object] | None = None

    @property
    def bad_frames(self) -> int:
        """Broken frames seen on the bus (all addresses)."""
        return 0

    def meta(self) -> bytes:
        """The retained `$meta`: kind, model, profile and firmware."""
        profile = self.device.profile
        body = {
            "kind": self.kind,
            "model": profile.model[:META_TEXT_MAX],
            "profile": profile.id[:META_TEXT_MAX],
            "firmware": FIRMWARE,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def ping(self) -> bytes | None:
        """The watchdog frame the device answers, or None if it answers nothing."""
        return None

    def heard(self, data: bytes) -> Heard:
        """Bus bytes (of every device on the bus): what this device said in them."""
        return Heard()

    def command(self, name: str, payload: bytes) -> list[bytes]:
        """The frames that carry out `cmd/<name>`; none for invalid or foreign commands."""
        if name not in self.commands:
            if mqtt_tree.decode_cmd(name, payload) is None:
                self.rejected += 1
            else:
                self.ignored += 1
            return []
        decoded = mqtt_tree.decode_cmd(name, payload)
        if decoded is None:
            self.rejected += 1
            return []
        return self._command(name, decoded.data)

    def snapshot(self, payload: bytes) -> list[bytes]:
        """Remember the retained snapshot; the frames that make the device show it."""
        data = mqtt_tree.decode_snapshot(payload)
        if data is None:
            self.rejected += 1
            return []
        self._snapshot = data
        return self.current()

    def current(self) -> list[bytes]:
        """The frames for the last snapshot (sent again when the port comes back)."""
        if self._snapshot is None:
            return []
        return self._draw(self._snapshot)

    def offline(self) -> list[bytes]:
        """Frames that tell the person at the device that its input did not reach the hall."""
        return []

    def _command(self, name: str, data: Mapping[str, object]) -> list[bytes]:
        return []

    def _draw(self, snapshot: Mapping[str, object]) -> list[bytes]:
        return []


def _showing(snapshot: Mapping[str, object]) -> Mapping[str, object] | None:
    showing = snapshot.get("showing")
    return showing if isinstance(showing, Mapping) else None


def _text(data: Mapping[str, object], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


class _FramedPadBridge(DeviceBridge):
    """A pad that speaks a framing on the bus: frames decoded, this pad's handed to _frame."""

    def __init__(self, device: BridgedDevice, framing: Framing) -> None:
        super().__init__(device)
        self._decoder = FrameDecoder(framing)

    @property
    def bad_frames(self) -> int:
        """Broken frames seen on the bus (all addresses)."""
        return self._decoder.errors

    def heard(self, data: bytes) -> Heard:
        """What this pad said: pongs and its key or score events."""
        heard = Heard()
        for frame in self._decoder.feed(data):
            if frame.address == self.address:
                self._frame(frame, heard)
        return heard

    def _frame(self, frame: Frame, heard: Heard) -> None:
        """Add what one of this pad's frames means to `heard` (each pad kind decodes its own)."""
        raise NotImplementedError


class CallPadBridge(_FramedPadBridge):
    """A framed clerk keypad: keys -> `event/key`, `cmd/feedback` -> text, lamp and beeps."""

    kind: DeviceKind = "call_pad"
    commands = ("feedback",)

    def __init__(self, device: BridgedDevice) -> None:
        assert isinstance(device.profile.codec, CallPadCodec)
        self.codec = device.profile.codec
        super().__init__(device, self.codec.framing)

    def ping(self) -> bytes | None:
        """The pad answers a ping with a pong."""
        return callpad.ping(self.codec, self.address)

    def _frame(self, frame: Frame, heard: Heard) -> None:
        item = callpad.parse(self.codec, frame)
        if item is None:
            return
        heard.answered = True
        if isinstance(item, callpad.PadKey):
            heard.events.append(("key", mqtt_tree.encode_event("key", {"key": item.action})))

    def _command(self, name: str, data: Mapping[str, object]) -> list[bytes]:
        frames = []
        text, led, beep = data.get("text"), data.get("led"), data.get("beep")
        if isinstance(text, str):
            frames.append(callpad.text(self.codec, self.address, text))
        if isinstance(led, bool):
            frames.append(callpad.led(self.codec, self.address, led))
        if isinstance(beep, int) and not isinstance(beep, bool) and beep > 0:
            frames.append(callpad.beep(self.codec, self.address, beep))
        return frames

    def _draw(self, snapshot: Mapping[str, object]) -> list[bytes]:
        showing = _showing(snapshot)
        ticket = _text(showing, "ticket") if showing is not None else ""
        return [
            callpad.text(self.codec, self.address, ticket),
            callpad.led(self.codec, self.address, bool(ticket)),
        ]

    def offline(self) -> list[bytes]:
        """Say so on the pad's display and beep three times."""
        return [
            callpad.text(self.codec, self.address, OFFLINE_TEXT),
            callpad.beep(self.codec, self.address, OFFLINE_BEEPS),
        ]


class WindowDisplayBridge(DeviceBridge):
    """A window display: `cmd/show`, `cmd/clear` and the snapshot -> what it shows."""

    kind: DeviceKind = "window_display"
    commands = ("show", "clear")

    def _command(self, name: str, data: Mapping[str, object]) -> list[bytes]:
        if name == "clear":
            return self._clear()
        return self._show(data, blink=data.get("blink") is True)

    def _draw(self, snapshot: Mapping[str, object]) -> list[bytes]:
        showing = _showing(snapshot)
        return self._clear() if showing is None else self._show(showing, blink=False)

    def _show(self, showing: Mapping[str, object], *, blink: bool) -> list[bytes]:
        """The frames that show `showing` (each display model builds its own)."""
        raise NotImplementedError

    def _clear(self) -> list[bytes]:
        """The frames that blank the display (each display model builds its own)."""
        raise NotImplementedError

    def board_text(self, showing: Mapping[str, object]) -> str:
        """The controller's text if it sent one, else the ticket in the profile's display text."""
        text, ticket = _text(showing, "text"), _text(showing, "ticket")
        if text or not ticket:
            return text
        template = self.device.profile.show_text
        try:
            return template.format(ticket=ticket, window=_text(showing, "window"))
        except (KeyError, IndexError, ValueError):
            return ticket


class LedBoardBridge(WindowDisplayBridge):
    """An LED window board with a data-described framing (GB2312/GBK text, blink, clear)."""

    def __init__(self, device: BridgedDevice) -> None:
        super().__init__(device)
        assert isinstance(device.profile.codec, LedBoardCodec)
        self.codec = device.profile.codec

    def _show(self, showing: Mapping[str, object], *, blink: bool) -> list[bytes]:
        text = self.board_text(showing)
        if not text:
            return self._clear()
        return [led_board.show(self.codec, self.address, text, blink=blink)]

    def _clear(self) -> list[bytes]:
        return [led_board.clear(self.codec, self.address)]


class ModbusDisplayBridge(WindowDisplayBridge):
    """A Modbus RTU numeric display: holding registers written with pymodbus framing."""

    def __init__(self, device: BridgedDevice) -> None:
        super().__init__(device)
        assert isinstance(device.profile.codec, ModbusDisplaySettings)
        self.map = device.profile.codec.registers
        self._framer = FramerRTU(DecodePDU(False))
        self._buffer = b""

    def ping(self) -> bytes | None:
        """Read the number register back."""
        request = ReadHoldingRegistersRequest(
            address=self.map.number_register, count=1, dev_id=self.address
        )
        return self._framer.buildFrame(request)

    def heard(self, data: bytes) -> Heard:
        """Answers to writes and pings from this display."""
        heard = Heard()
        self._buffer = (self._buffer + data)[-_MODBUS_BUFFER:]
        while self._buffer:
            used, pdu = self._framer.handleFrame(self._buffer, self.address, 0)
            if used == 0:
                break
            self._buffer = self._buffer[used:]
            if pdu is not None and pdu.dev_id == self.address:
                heard.answered = True
        return heard

    def _show(self, showing: Mapping[str, object], *, blink: bool) -> list[bytes]:
        ticket = _text(showing, "ticket")
        if not ticket:
            return self._clear()
        window_text = _text(showing, "window")
        window = int(window_text) if window_text.isdigit() else None
        try:
            values = numeric_display.registers(self.map, ticket, window, blink)
        except ValueError:
            values = numeric_display.registers(self.map, ticket, None, blink)
        return self._writes(values)

    def _clear(self) -> list[bytes]:
        return self._writes(numeric_display.cleared(self.map))

    def _writes(self, values: dict[int, int]) -> list[bytes]:
        """One write-multiple-registers frame per run of consecutive registers."""
        runs: list[tuple[int, list[int]]] = []
        for register in sorted(values):
            if runs and runs[-1][0] + len(runs[-1][1]) == register:
                runs[-1][1].append(values[register])
            else:
                runs.append((register, [values[register]]))
        return [
            self._framer.buildFrame(
                WriteMultipleRegistersRequest(address=start, registers=run, dev_id=self.address)
            )
            for start, run in runs
        ]


class RatingPadBridge(_FramedPadBridge):
    """A 4- or 5-key rating pad: `cmd/ask_rating`, `cmd/rating_done`, keys -> `event/rating`."""

    kind: DeviceKind = "rating_pad"
    commands = ("ask_rating", "rating_done")

    def __init__(self, device: BridgedDevice) -> None:
        assert isinstance(device.profile.codec, RatingPadCodec)
        self.codec = device.profile.codec
        super().__init__(device, self.codec.framing)

    def ping(self) -> bytes | None:
        """The pad answers a ping with a pong."""
        return rating_pad.ping(self.codec, self.address)

    def _frame(self, frame: Frame, heard: Heard) -> None:
        # Scores: the profile maps key codes onto the 5 levels.
        item = rating_pad.parse(self.codec, frame)
        if item is None:
            return
        heard.answered = True
        if isinstance(item, rating_pad.RatingKey):
            heard.events.append(("rating", mqtt_tree.encode_event("rating", {"score": item.score})))

    def _command(self, name: str, data: Mapping[str, object]) -> list[bytes]:
        if name == "ask_rating":
            return [rating_pad.ask(self.codec, self.address)]
        return [rating_pad.thanks(self.codec, self.address)]

    def _draw(self, snapshot: Mapping[str, object]) -> list[bytes]:
        if snapshot.get("rating") == "asking":
            return [rating_pad.ask(self.codec, self.address)]
        return [rating_pad.idle(self.codec, self.address)]


# The bridge of each profile driver the gateway bridges.
BRIDGES: Mapping[str, type[DeviceBridge]] = {
    "framed_callpad": CallPadBridge,
    "framed_led": LedBoardBridge,
    "modbus_numeric": ModbusDisplayBridge,
    "framed_rating": RatingPadBridge,
}


def make_bridge(device: BridgedDevice) -> DeviceBridge:
    """The bridge for the device's driver; ValueError for drivers the gateway does not bridge."""
    driver = device.profile.driver
    bridge = BRIDGES.get(driver)
    if bridge is None:
        raise ValueError(f"{device.id}: the gateway does not bridge the {driver} driver")
    return bridge(device)
