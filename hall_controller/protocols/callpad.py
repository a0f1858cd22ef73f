"""Clerk call pads (呼叫器) on RS-485, framed like ``FF 68 addr cmd len data sum8 16`` at 9600 baud.

The pad sends a key frame (one byte: the key code) when a key is pressed and answers a ping with
a pong; the controller sends it text for its small display, its LED and its beeper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .framed import Frame, Framing, encode
from .led_board import command_problems, fit_text, text_encoding_problems

# What a clerk can ask for with a key, whatever the pad's key codes are.
KEY_ACTIONS = (
    "call",
    "recall",
    "no_show",
    "start",
    "finish",
    "pause",
    "resume",
    "transfer",
    "rate",
)


@dataclass(frozen=True, slots=True)
class CallPadCodec:
    """One call pad model: framing, text encoding, its key codes and its commands."""

    framing: Framing
    encoding: str
    key_command: int
    keys: Mapping[int, str]
    text_command: int
    led_command: int
    beep_command: int
    ping_command: int
    pong_command: int
    text_width: int

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the codec is usable."""
        problems = self.framing.validate() + text_encoding_problems(self.encoding)
        problems += command_problems(
            self.framing,
            {
                "key_command": self.key_command,
                "text_command": self.text_command,
                "led_command": self.led_command,
                "beep_command": self.beep_command,
                "ping_command": self.ping_command,
                "pong_command": self.pong_command,
            },
        )
        problems += key_problems(self.keys, KEY_ACTIONS)
        if self.text_width < 0:
            problems.append(f"text_width is {self.text_width}: it must be 0 or more")
        return problems


def key_problems(keys: Mapping[int, object], allowed: tuple[object, ...]) -> list[str]:
    """Key codes that are not single bytes, and key meanings outside `allowed`."""
    problems = []
    for code, meaning in keys.items():
        if not 0 <= code <= 0xFF:
            problems.append(f"key code {code} is not a single byte")
        if meaning not in allowed:
            problems.append(f"key 0x{code:02X} means {meaning!r}, not one of {allowed}")
    return problems


@dataclass(frozen=True, slots=True)
class PadKey:
    """A clerk pressed the key for `action` on the pad at `address`."""

    address: int
    action: str


@dataclass(frozen=True, slots=True)
class PadPong:
    """The pad at `address` answered a ping: it is alive."""

    address: int


@dataclass(frozen=True, slots=True)
class PadText:
    """The pad was told to show `text`."""

    address: int
    text: str


@dataclass(frozen=True, slots=True)
class PadLed:
    """The pad was told to switch its LED on or off."""

    address: int
    on: bool


@dataclass(frozen=True, slots=True)
class PadBeep:
    """The pad was told to beep `times` times."""

    address: int
    times: int


@dataclass(frozen=True, slots=True)
class PadPing:
    """The pad was pinged and should answer with a pong."""

    address: int


def parse(codec: CallPadCodec, frame: Frame) -> PadKey | PadPong | None:
    """What the pad said (the controller's side); None for unknown commands or keys."""
    if frame.command == codec.key_command:
        if len(frame.payload) != 1:
            return None
        action = codec.keys.get(frame.payload[0])
        return None if action is None else PadKey(frame.address, action)
    if frame.command == codec.pong_command:
        return PadPong(frame.address)
    return None


def text(codec: CallPadCodec, address: int, text: str) -> bytes:
    """The frame that shows `text` on the pad (cut to its width; unencodable -> "?")."""
    payload = fit_text(text, codec.encoding, codec.text_width, codec.framing.max_payload)
    return encode(codec.framing, Frame(address, codec.text_command, payload))


def led(codec: CallPadCodec, address: int, on: bool) -> bytes:
    """The frame that switches the pad's LED on (01) or off (00)."""
    return encode(codec.framing, Frame(address, codec.led_command, b"\x01" if on else b"\x00"))


def beep(codec: CallPadCodec, address: int, times: int) -> bytes:
    """The frame that beeps `times` times (0..255; ValueError otherwise)."""
    if not 0 <= times <= 0xFF:
        raise ValueError(f"beep times {times} is not 0..255")
    return encode(codec.framing, Frame(address, codec.beep_command, bytes((times,))))


def ping(codec: CallPadCodec, address: int) -> bytes:
    """The watchdog frame the pad must answer with a pong."""
    return encode(codec.framing, Frame(address, codec.ping_command, b""))


def key_frame(codec: CallPadCodec, address: int, action: str) -> bytes:
    """The frame a pad sends when the key for `action` is pressed (the pad's side)."""
    for code, meaning in codec.keys.items():
        if meaning == action:
            return encode(codec.framing, Frame(address, codec.key_command, bytes((code,))))
    raise ValueError(f"this pad has no key for {action!r}")


def pong_frame(codec: CallPadCodec, address: int) -> bytes:
    """The frame a pad answers a ping with (the pad's side)."""
    return encode(codec.framing, Frame(address, codec.pong_command, b""))


def parse_feedback(
    codec: CallPadCodec, frame: Frame
) -> PadText | PadLed | PadBeep | PadPing | None:
    """What the pad was told (the pad's side); None for unknown commands or bad payloads."""
    command, payload = frame.command, frame.payload
    if command == codec.text_command:
        try:
            return PadText(frame.address, payload.decode(codec.encoding))
        except UnicodeDecodeError:
            return None
    if command == codec.led_command and len(payload) == 1 and payload[0] in (0, 1):
        return PadLed(frame.address, on=payload[0] == 1)
    if command == codec.beep_command and len(payload) == 1:
        return PadBeep(frame.address, payload[0])
    if command == codec.ping_command:
        return PadPing(frame.address)
    return None
