"""Simulated serial devices: bytes from the controller in, their answers and what they show out.

Peers do no I/O and read no clock: the time bytes arrive is passed in. A SimulatedBus
(buses.py) carries their bytes over a real port; several addressed peers may share one RS-485
line, each keeping only the frames for its address.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from hall_controller.protocols import callpad, led_board, rating_pad, rf433
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.numeric_display import NumericDisplayMap
from hall_controller.protocols.rating_pad import SCALE, RatingPadCodec
from hall_controller.protocols.rf433 import Rf433Layout

# What a peer remembers of what it was told.
HISTORY = 200
# A 433 MHz receiver repeats the code of a held key about this often.
REPEAT_S = 0.1
# Remote id of simulated wireless pads that the hall config does not name.
DEFAULT_REMOTE = 0x5A5A5
# The longest Modbus RTU frame (address, PDU of up to 253 bytes, CRC).
_RTU_MAX = 256

View = dict[str, object]
Prompt = Literal["idle", "asking", "thanks"]


class BusPeer(Protocol):
    """A device on a simulated port: it hears every byte the controller writes."""

    address: int

    def feed(self, data: bytes, at: float) -> bytes:
        """Bytes from the controller at time `at`; what the device answers (often nothing)."""
        ...

    def line_quiet(self, at: float) -> bytes:
        """The line went quiet: give up on a partial frame; answers to frames behind it."""
        ...

    def view(self) -> View:
        """What the device shows now, JSON-ready."""
        ...


@dataclass(frozen=True, slots=True)
class Shown:
    """What a display showed from time `at` on ("" when blank)."""

    at: float
    text: str
    blink: bool


class _FramedPeer:
    """A peer on a data-described framing: keeps the frames for its own address."""

    def __init__(self, decoder: FrameDecoder, address: int) -> None:
        self.address = address
        self._decoder = decoder
        self.frames = 0  # frames for this address that the peer understood
        self.unknown = 0  # frames for this address it did not understand

    @property
    def errors(self) -> int:
        """Broken frames and garbage on the line (for any address)."""
        return self._decoder.errors

    def feed(self, data: bytes, at: float) -> bytes:
        """Bytes from the controller; the peer's answers."""
        return self._handle(self._decoder.feed(data), at)

    def line_quiet(self, at: float) -> bytes:
        """Drop a partial frame; answers to frames found behind it."""
        return self._handle(self._decoder.flush(), at)

    def _handle(self, frames: list[Frame], at: float) -> bytes:
        out = bytearray()
        for frame in frames:
            if frame.address == self.address:
                out += self._frame(frame, at)
        return bytes(out)

    def _frame(self, frame: Frame, at: float) -> bytes:
        """Act on one frame addressed to this device; its answer (each device kind its own)."""
        raise NotImplementedError


class LedBoardPeer(_FramedPeer):
    """An LED window board: shows text (cut to its width), blinks, clears; answers nothing."""

    def __init__(self, codec: LedBoardCodec, address: int) -> None:
        super().__init__(FrameDecoder(codec.framing), address)
        self.codec = codec
        self.text = ""
        self.blink = False
        self.history: deque[Shown] = deque(maxlen=HISTORY)

    def _frame(self, frame: Frame, at: float) -> bytes:
        told = led_board.parse(self.codec, frame)
        if told is None:
            self.unknown += 1
            return b""
        self.frames += 1
        if isinstance(told, led_board.BoardClear):
            self.text, self.blink = "", False
        else:
            self.text, self.blink = told.text[: self.codec.width], told.blink
        self.history.append(Shown(at, self.text, self.blink))
        return b""

    def view(self) -> View:
        """The board's text and whether it blinks."""
        return {"type": "led_board", "text": self.text, "blink": self.blink}


class ModbusDisplayPeer:
    """A Modbus RTU numeric display: a slave with the holding registers of its map.

    It answers function 3 (read), 6 (write one) and 16 (write several) like a slave; other
    functions get exception 1, registers outside the map exception 2. Broadcasts (address 0)
    are carried out without an answer. Frames are cut out of the line one by one (pymodbus's
    framer alone would take a read that arrives glued to a write as part of the write).
    """

    def __init__(self, registers: NumericDisplayMap, address: int) -> None:
        self.map = registers
        self.address = address
        used = (registers.number_register, registers.window_register, registers.blink_register)
        self.registers: dict[int, int] = {r: 0 for r in used if r is not None}
        self._framer = FramerRTU(DecodePDU(True))
        self._buffer = bytearray()
        self._resyncing = False
        self.errors = 0  # bad CRCs and garbage runs
        self.requests = 0  # requests for this address
        self.history: deque[Shown] = deque(maxlen=HISTORY)

    @property
    def number(self) -> int:
        """The number shown."""
        return self.registers[self.map.number_register]

    @property
    def window(self) -> int | None:
        """The window number shown, if the display has one."""
        register = self.map.window_register
        return None if register is None else self.registers[register]

    @property
    def blink(self) -> bool:
        """Whether the display blinks."""
        register = self.map.blink_register
        return register is not None and self.registers[register] != 0

    @property
    def shown(self) -> str:
        """The digits as the display shows them (it has no blank: 0 is all zeros)."""
        return f"{self.number % 10**self.map.digits:0{self.map.digits}d}"

    def feed(self, data: bytes, at: float) -> bytes:
        """Requests from the master; the answers to those for this address."""
        self._buffer += data
        return self._answer_all(at)

    def line_quiet(self, at: float) -> bytes:
        """A silence ends any frame: drop one byte of a partial frame and hunt again."""
        out = bytearray()
        while self._buffer:
            self._skip()
            out += self._answer_all(at)
        return bytes(out)

    def _answer_all(self, at: float) -> bytes:
        out = bytearray()
        while (frame := self._next_frame()) is not None:
            out += self._answer(frame, at)
        return bytes(out)

    def _skip(self) -> None:
        del self._buffer[:1]
        if not self._resyncing:
            self.errors += 1
        self._resyncing = True

    def _next_frame(self) -> bytes | None:
        buf = self._buffer
        while len(buf) >= FramerRTU.MIN_SIZE:
            data = bytes(buf)
            try:
                pdu_class = self._framer.decoder.lookupPduClass(data)
                size = pdu_class.calculateRtuFrameSize(data) if pdu_class is not None else -1
            except (ModbusException, KeyError, IndexError):
                size = -1
            if size < 0 or size > _RTU_MAX or (size and size < FramerRTU.MIN_SIZE):
                self._skip()
                continue
            if size == 0 or len(buf) < size:
                if len(buf) >= _RTU_MAX:
                    self._skip()
                    continue
                return None
            crc = int.from_bytes(data[size - 2 : size], "big")
            if not FramerRTU.check_CRC(data[: size - 2], crc):
                self._skip()
                continue
            del buf[:size]
            self._resyncing = False
            return data[:size]
        return None

    def _answer(self, frame: bytes, at: float) -> bytes:
        try:
            _, pdu = self._framer.handleFrame(frame, 0, 0)
        except ModbusException:
            pdu = None
        if pdu is None:
            self.errors += 1
            return b""
        if pdu.dev_id not in (self.address, 0):
            return b""
        self.requests += 1
        before = (self.shown, self.blink)
        reply = self._execute(pdu)
        if (self.shown, self.blink) != before or not self.history:
            self.history.append(Shown(at, self.shown, self.blink))
        if pdu.dev_id == 0:
            return b""
        reply.dev_id = self.address
        return self._framer.buildFrame(reply)

    def _execute(self, pdu: ModbusPDU) -> ModbusPDU:
        code = pdu.function_code
        if isinstance(pdu, WriteMultipleRegistersRequest):
            values = list(pdu.registers)
            counts_agree = len(values) == pdu.count and pdu.byte_count == 2 * pdu.count
            if not 1 <= pdu.count <= 123 or not counts_agree:
                return ExceptionResponse(code, ExcCodes.ILLEGAL_VALUE)
            if not self._covers(pdu.address, len(values)):
                return ExceptionResponse(code, ExcCodes.ILLEGAL_ADDRESS)
            for offset, value in enumerate(values):
                self.registers[pdu.address + offset] = value
            return WriteMultipleRegistersResponse(address=pdu.address, count=len(values))
        if isinstance(pdu, WriteSingleRegisterRequest):
            if not self._covers(pdu.address, 1):
                return ExceptionResponse(code, ExcCodes.ILLEGAL_ADDRESS)
            self.registers[pdu.address] = pdu.registers[0]
            return WriteSingleRegisterResponse(address=pdu.address, registers=[pdu.registers[0]])
        if isinstance(pdu, ReadHoldingRegistersRequest) and code == 3:
            if not 1 <= pdu.count <= 125:
                return ExceptionResponse(code, ExcCodes.ILLEGAL_VALUE)
            if not self._covers(pdu.address, pdu.count):
                return ExceptionResponse(code, ExcCodes.ILLEGAL_ADDRESS)
            values = [self.registers[pdu.address + i] for i in range(pdu.count)]
            return ReadHoldingRegistersResponse(registers=values)
        return ExceptionResponse(code, ExcCodes.ILLEGAL_FUNCTION)

    def _covers(self, start: int, count: int) -> bool:
        return all(start + i in self.registers for i in range(count))

    def view(self) -> View:
        """The digits, window number and blink flag."""
        return {
            "type": "numeric_display",
            "shows": self.shown,
            "number": self.number,
            "window": self.window,
            "blink": self.blink,
        }


class CallPadPeer(_FramedPeer):
    """A framed clerk call pad: keys out; text, lamp and beeps in; answers pings with pongs."""

    def __init__(self, codec: CallPadCodec, address: int) -> None:
        super().__init__(FrameDecoder(codec.framing), address)
        self.codec = codec
        self.text = ""
        self.lamp = False
        self.beeps = 0  # beeps since the pad was switched on
        self.pings = 0
        self.presses = 0
        self.history: deque[tuple[float, callpad.PadText | callpad.PadLed | callpad.PadBeep]] = (
            deque(maxlen=HISTORY)
        )

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions this pad has keys for, in key-code order."""
        return tuple(dict.fromkeys(self.codec.keys[code] for code in sorted(self.codec.keys)))

    def press(self, action: str) -> bytes:
        """The bytes the pad sends when the key for `action` is pressed; ValueError if none."""
        if action not in self.actions:
            raise ValueError(
                f"this pad has no {action!r} key (its keys: {', '.join(self.actions)})"
            )
        self.presses += 1
        return callpad.key_frame(self.codec, self.address, action)

    def _frame(self, frame: Frame, at: float) -> bytes:
        told = callpad.parse_feedback(self.codec, frame)
        if told is None:
            self.unknown += 1
            return b""
        self.frames += 1
        if isinstance(told, callpad.PadPing):
            self.pings += 1
            return callpad.pong_frame(self.codec, self.address)
        if isinstance(told, callpad.PadText):
            self.text = told.text[: self.codec.text_width]
        elif isinstance(told, callpad.PadLed):
            self.lamp = told.on
        else:
            self.beeps += told.times
        self.history.append((at, told))
        return b""

    def view(self) -> View:
        """The pad's small display, its lamp and how often it beeped."""
        return {
            "type": "call_pad",
            "text": self.text,
            "lamp": self.lamp,
            "beeps": self.beeps,
            "keys": list(self.actions),
        }


class RatingPadPeer(_FramedPeer):
    """A framed rating pad: sends whatever key is pressed; follows the controller's prompts.

    Like a real pad it sends a key whether or not it was asked; the controller decides whether
    a key is a rating. `prompt` is what the pad shows: idle, asking, or thanks.
    """

    def __init__(self, codec: RatingPadCodec, address: int) -> None:
        super().__init__(FrameDecoder(codec.framing), address)
        self.codec = codec
        self.prompt: Prompt = "idle"
        self.pings = 0
        self.presses: list[tuple[int, Prompt]] = []  # (score, prompt when pressed)
        self.history: deque[tuple[float, Prompt]] = deque(maxlen=HISTORY)

    @property
    def scores(self) -> tuple[int, ...]:
        """The scores this pad's keys give, best first."""
        return tuple(sorted(set(self.codec.scores.values()), reverse=True))

    def key_for(self, score: int) -> int:
        """The key code that gives `score`; ValueError if the pad has no such key."""
        for code in sorted(self.codec.scores):
            if self.codec.scores[code] == score:
                return code
        name = SCALE.get(score)
        wanted = f"{score} ({name})" if name else repr(score)
        have = ", ".join(str(s) for s in self.scores)
        raise ValueError(f"this pad has no key for score {wanted} (its keys give {have})")

    def press_key(self, key_code: int) -> bytes:
        """The bytes the pad sends when key `key_code` is pressed; ValueError for no such key."""
        if key_code not in self.codec.scores:
            codes = ", ".join(f"0x{c:02X}" for c in sorted(self.codec.scores))
            raise ValueError(f"this pad has no key 0x{key_code:02X} (its keys: {codes})")
        self.presses.append((self.codec.scores[key_code], self.prompt))
        return rating_pad.key_frame(self.codec, self.address, key_code)

    def rate(self, score: int) -> bytes:
        """The bytes the pad sends when the key for `score` is pressed."""
        return self.press_key(self.key_for(score))

    def _frame(self, frame: Frame, at: float) -> bytes:
        told = rating_pad.parse_prompt(self.codec, frame)
        if told is None:
            self.unknown += 1
            return b""
        self.frames += 1
        if told == "ping":
            self.pings += 1
            return rating_pad.pong_frame(self.codec, self.address)
        self.prompt = "asking" if told == "ask" else told
        self.history.append((at, self.prompt))
        return b""

    def view(self) -> View:
        """What the pad shows (idle, asking, thanks) and the scores of its keys."""
        return {"type": "rating_pad", "prompt": self.prompt, "scores": list(self.scores)}


@dataclass(frozen=True, slots=True)
class RemotePress:
    """A wireless pad's key as the receiver heard it."""

    remote: int
    action: str
    code: int
    frames: int


class Rf433ReceiverPeer:
    """A 433 MHz receiver module: turns presses of wireless pads into FD..DF frames.

    It only receives radio: whatever the controller writes to it is ignored (and counted).
    """

    address = 0

    def __init__(self, layout: Rf433Layout, *, default_remote: int = DEFAULT_REMOTE) -> None:
        self.layout = layout
        self.default_remote = default_remote
        self.ignored = 0  # bytes the controller wrote to a receiver that cannot hear them
        self.last: RemotePress | None = None
        self.presses = 0

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions the wireless pads have keys for, in key-code order."""
        keys = self.layout.keys
        return tuple(dict.fromkeys(keys[code] for code in sorted(keys)))

    @property
    def max_remote(self) -> int:
        """The largest remote id the code has room for."""
        return (1 << (24 - self.layout.key_bits)) - 1

    def code(self, action: str, remote: int | None = None) -> int:
        """The 24-bit code of `action` on `remote`; ValueError for no such key or remote id."""
        remote = self.default_remote if remote is None else remote
        if not 0 <= remote <= self.max_remote:
            raise ValueError(f"remote id 0x{remote:X} does not fit (0..0x{self.max_remote:X})")
        for key in sorted(self.layout.keys):
            if self.layout.keys[key] == action:
                return (remote << self.layout.key_bits) | key
        raise ValueError(
            f"the wireless pads have no {action!r} key (their keys: {', '.join(self.actions)})"
        )

    def press(self, action: str, remote: int | None = None) -> bytes:
        """One frame: a key tapped so briefly that the receiver heard it once."""
        return self.hold(action, 0.0, remote)[0]

    def hold(self, action: str, seconds: float, remote: int | None = None) -> list[bytes]:
        """The frames of a key held for `seconds`: one every REPEAT_S, the first at once."""
        code = self.code(action, remote)
        count = 1 + int(max(seconds, 0.0) / REPEAT_S + 1e-9)
        self.presses += 1
        self.last = RemotePress(code >> self.layout.key_bits, action, code, count)
        return [rf433.code_frame(code)] * count

    def feed(self, data: bytes, at: float) -> bytes:
        """A receiver hears no bytes from the controller."""
        self.ignored += len(data)
        return b""

    def line_quiet(self, at: float) -> bytes:
        """Nothing is ever pending."""
        return b""

    def view(self) -> View:
        """The last press the receiver heard."""
        last: object = None
        if self.last is not None:
            last = {
                "remote": f"0x{self.last.remote:X}",
                "action": self.last.action,
                "frames": self.last.frames,
            }
        return {
            "type": "rf433_receiver",
            "last": last,
            "presses": self.presses,
            "keys": list(self.actions),
        }
