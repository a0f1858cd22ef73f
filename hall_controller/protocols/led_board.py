"""LED window boards (窗口屏) on RS-485: show the called ticket's text, blink it, clear it."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from .framed import Frame, Framing, encode


def fit_text(text: str, encoding: str, width: int, max_bytes: int) -> bytes:
    """`text` cut to `width` characters and `max_bytes`; characters the encoding lacks -> "?"."""
    out = bytearray()
    for char in text[: max(width, 0)]:
        encoded = char.encode(encoding, errors="replace")
        if len(out) + len(encoded) > max_bytes:
            break
        out += encoded
    return bytes(out)


def text_encoding_problems(encoding: str) -> list[str]:
    """Why `encoding` cannot carry board text (it must be a known, ASCII-compatible codec)."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        return [f"encoding {encoding!r} is unknown (boards use 'gb2312' or 'gbk')"]
    if "?".encode(encoding) != b"?":
        return [f"encoding {encoding!r} is not ASCII-compatible (boards use 'gb2312' or 'gbk')"]
    return []


def command_problems(framing: Framing, commands: dict[str, int]) -> list[str]:
    """Commands that clash with each other or do not fit the framing's command field."""
    problems = []
    limit = 256**framing.command_size if framing.command_size in (0, 1) else 256
    for name, value in commands.items():
        if not 0 <= value < limit:
            size = framing.command_size
            problems.append(f"{name} 0x{value:X} does not fit a {size}-byte command field")
    seen: dict[int, str] = {}
    for name, value in commands.items():
        if value in seen:
            problems.append(f"{name} and {seen[value]} are the same command 0x{value:02X}")
        seen.setdefault(value, name)
    return problems


@dataclass(frozen=True, slots=True)
class LedBoardCodec:
    """One board model's frames: its framing, text encoding, commands and width in characters.

    A board that cannot blink has `blink_command == show_command` (it is then shown steady); a
    board without a clear command has `clear_command == show_command` (clearing shows no text).
    """

    framing: Framing
    encoding: str
    show_command: int
    blink_command: int
    clear_command: int
    width: int

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the codec is usable."""
        problems = self.framing.validate() + text_encoding_problems(self.encoding)
        commands = {"show_command": self.show_command}
        if self.blink_command != self.show_command:
            commands["blink_command"] = self.blink_command
        if self.clear_command != self.show_command:
            commands["clear_command"] = self.clear_command
        problems += command_problems(self.framing, commands)
        if self.width < 1:
            problems.append(f"width is {self.width}: a board shows at least one character")
        elif 2 * self.width > self.framing.max_payload:
            problems.append(
                f"{self.width} Chinese characters take {2 * self.width} bytes, more than "
                f"max_payload {self.framing.max_payload}"
            )
        return problems


@dataclass(frozen=True, slots=True)
class BoardShow:
    """A board was told to show `text`, blinking or steady."""

    text: str
    blink: bool


@dataclass(frozen=True, slots=True)
class BoardClear:
    """A board was told to go blank."""


def show(codec: LedBoardCodec, address: int, text: str, *, blink: bool = False) -> bytes:
    """The frame that shows `text` (cut to the board's width; unencodable characters -> "?")."""
    payload = fit_text(text, codec.encoding, codec.width, codec.framing.max_payload)
    command = codec.blink_command if blink else codec.show_command
    return encode(codec.framing, Frame(address, command, payload))


def fits(codec: LedBoardCodec, text: str) -> bool:
    """Whether the board shows all of `text` (its width in characters, its payload in bytes)."""
    return (
        len(text) <= codec.width
        and len(text.encode(codec.encoding, errors="replace")) <= codec.framing.max_payload
    )


def clear(codec: LedBoardCodec, address: int) -> bytes:
    """The frame that blanks the board (no payload)."""
    return encode(codec.framing, Frame(address, codec.clear_command, b""))


def parse(codec: LedBoardCodec, frame: Frame) -> BoardShow | BoardClear | None:
    """What a board was told (the board's side); None for other commands or undecodable text."""
    shows_text = frame.command in (codec.show_command, codec.blink_command)
    if frame.command == codec.clear_command and not (shows_text and frame.payload):
        return BoardClear()
    if not shows_text:
        return None
    try:
        text = frame.payload.decode(codec.encoding)
    except UnicodeDecodeError:
        return None
    blink = frame.command == codec.blink_command != codec.show_command
    return BoardShow(text, blink=blink)
