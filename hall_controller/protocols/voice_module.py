"""Serial speech modules (SYN6288, XFS5152 and their kin): "FD" frames in, one-byte answers out.

    FD | length (2 bytes, big-endian) | command | [parameter] | data | [checksum]

The length counts everything after it: command, parameter, data and, on a SYN6288, the
checksum, an XOR of every byte before it (from FD on). XFS5152-style modules carry no checksum
(a profile key). Synthesize (01) has a parameter byte: background music (0 = none, 1..15) in
its high five bits, the text encoding in its low three (0 GB2312, 1 GBK, 2 BIG5, 3 UTF-16BE).
Stop (02), pause (03), resume (04) and status (21) have neither parameter nor data.

The module answers a frame with one byte: 41 received, 45 bad frame; a status query with 4E
busy or 4F idle, and it sends 4F by itself when it has finished speaking (XFS5152: 4A once
it is ready after power-up). A new text sent while it speaks cuts the current one off, so the
controller waits for idle before each text.

    FD 00 02 21 DE          status query (SYN6288: DE = FD ^ 00 ^ 02 ^ 21)
    FD 00 02 02 FD          stop
    FD 00 05 01 00 B0 A1 E8 synthesize "啊" (B0 A1 in GB2312), no background music
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

HEADER = 0xFD
SYNTHESIZE = 0x01
STOP = 0x02
PAUSE = 0x03
RESUME = 0x04
STATUS = 0x21
COMMANDS = frozenset({SYNTHESIZE, STOP, PAUSE, RESUME, STATUS})
# The parameter's low three bits: how the text is encoded.
ENCODINGS: dict[str, int] = {"gb2312": 0, "gbk": 1, "big5": 2, "unicode": 3}
_CODECS = {0: "gb2312", 1: "gbk", 2: "big5", 3: "utf-16-be"}
MUSIC_MAX = 15
# Longest length field a decoder accepts (XFS5152 texts go up to 4 KiB).
MAX_LENGTH = 4096 + 3


class Answer(enum.IntEnum):
    """The module's one-byte answers."""

    READY = 0x4A  # XFS5152: initialised after power-up
    RECEIVED = 0x41
    BAD_FRAME = 0x45
    BUSY = 0x4E
    IDLE = 0x4F


class VoiceTextError(ValueError):
    """A text the module cannot take: not encodable, or longer than the module reads."""


@dataclass(frozen=True, slots=True)
class VoiceModuleCodec:
    """One module model's frame settings (from its profile)."""

    checksum: bool = True  # SYN6288: XOR checksum; XFS5152: none
    encoding: str = "gb2312"  # gb2312, gbk, big5 or unicode
    gbk_fallback: bool = True  # a GB2312 text with a character outside it goes as GBK
    music: int = 0  # background music 0 (none) .. 15
    max_text: int = 200  # bytes of encoded text one frame may carry

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the codec is usable."""
        problems = []
        if self.encoding not in ENCODINGS:
            problems.append(f"unknown encoding {self.encoding!r}")
        if not 0 <= self.music <= MUSIC_MAX:
            problems.append(f"background music is 0 (none) to {MUSIC_MAX}")
        if not 1 <= self.max_text <= MAX_LENGTH - 3:
            problems.append(f"max_text is 1 to {MAX_LENGTH - 3} bytes")
        return problems


@dataclass(frozen=True, slots=True)
class Synthesize:
    """Speak `text` (decoded from `encoding`) over background music `music`."""

    text: str
    encoding: str
    music: int


@dataclass(frozen=True, slots=True)
class Control:
    """A command without data: stop, pause, resume or status."""

    command: int


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame the module refuses (answers 45): checksum, length or command wrong."""

    reason: str
    raw: bytes


Command = Synthesize | Control


def xor8(data: bytes) -> int:
    """XOR of every byte."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def _frame(codec: VoiceModuleCodec, body: bytes) -> bytes:
    size = len(body) + (1 if codec.checksum else 0)
    head = bytes([HEADER]) + size.to_bytes(2, "big") + body
    return head + bytes([xor8(head)]) if codec.checksum else head


def encode_text(codec: VoiceModuleCodec, text: str) -> tuple[str, bytes]:
    """The encoding used and the text's bytes; VoiceTextError if it cannot be sent as is."""
    encoding = codec.encoding
    try:
        data = text.encode(_CODECS[ENCODINGS[encoding]])
    except UnicodeEncodeError as exc:
        if not (encoding == "gb2312" and codec.gbk_fallback):
            raise VoiceTextError(
                f"{text!r} has {exc.object[exc.start]!r}: not in {encoding}"
            ) from exc
        encoding = "gbk"
        try:
            data = text.encode("gbk")
        except UnicodeEncodeError as again:
            bad = again.object[again.start]
            raise VoiceTextError(f"{text!r} has {bad!r}: not in GB2312 or GBK") from again
    if not data:
        raise VoiceTextError("an empty text")
    if len(data) > codec.max_text:
        raise VoiceTextError(
            f"{len(data)} bytes of text; the module reads at most {codec.max_text}"
        )
    return encoding, data


def synthesize(codec: VoiceModuleCodec, text: str) -> bytes:
    """The frame that makes the module speak `text`; VoiceTextError if it cannot."""
    encoding, data = encode_text(codec, text)
    parameter = (codec.music & 0x1F) << 3 | ENCODINGS[encoding]
    return _frame(codec, bytes([SYNTHESIZE, parameter]) + data)


def control(codec: VoiceModuleCodec, command: int) -> bytes:
    """A stop, pause, resume or status frame."""
    if command not in COMMANDS or command == SYNTHESIZE:
        raise ValueError(f"0x{command:02X} is not a control command")
    return _frame(codec, bytes([command]))


def status_query(codec: VoiceModuleCodec) -> bytes:
    """Ask whether the module is busy (4E) or idle (4F)."""
    return control(codec, STATUS)


def stop(codec: VoiceModuleCodec) -> bytes:
    """Stop speaking at once."""
    return control(codec, STOP)


def volume_tag(percent: int, steps: int) -> str:
    """The in-text volume mark of a module with volume levels 0..steps: 50 % of 16 -> "[v8]"."""
    level = max(0, min(steps, round(percent * steps / 100)))
    return f"[v{level}]"


def answers(data: bytes) -> tuple[list[Answer], int]:
    """The module's answers in `data` and how many bytes were not answers (line noise)."""
    found: list[Answer] = []
    noise = 0
    for byte in data:
        try:
            found.append(Answer(byte))
        except ValueError:
            noise += 1
    return found, noise


class CommandDecoder:
    """The module's side: frames out of the controller's bytes, however they are split."""

    def __init__(self, codec: VoiceModuleCodec) -> None:
        self.codec = codec
        self._buffer = bytearray()
        self.skipped = 0  # bytes before a header, thrown away

    def feed(self, data: bytes) -> list[Command | BadFrame]:
        """Every complete frame in the bytes so far."""
        self._buffer += data
        out: list[Command | BadFrame] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def flush(self) -> list[Command | BadFrame]:
        """The line went quiet: a partial frame will never complete."""
        if not self._buffer:
            return []
        raw = bytes(self._buffer)
        self._buffer.clear()
        if raw[0] != HEADER:
            self.skipped += len(raw)
            return []
        return [BadFrame("the frame stopped short", raw)]

    def _next(self) -> Command | BadFrame | None:
        buf = self._buffer
        start = buf.find(HEADER)
        if start < 0:
            self.skipped += len(buf)
            buf.clear()
            return None
        if start:
            self.skipped += start
            del buf[:start]
        if len(buf) < 3:
            return None
        size = int.from_bytes(buf[1:3], "big")
        least = 2 if self.codec.checksum else 1
        if not least <= size <= MAX_LENGTH:
            raw = bytes(buf[:3])
            del buf[:1]
            return BadFrame(f"length {size} out of range", raw)
        if len(buf) < 3 + size:
            return None
        raw = bytes(buf[: 3 + size])
        del buf[: 3 + size]
        return parse(self.codec, raw)


def parse(codec: VoiceModuleCodec, raw: bytes) -> Command | BadFrame:
    """One whole frame (header to checksum) as the module understands it."""
    if len(raw) < 4 or raw[0] != HEADER or int.from_bytes(raw[1:3], "big") != len(raw) - 3:
        return BadFrame("not a whole frame", raw)
    body = raw[3:]
    if codec.checksum:
        if xor8(raw[:-1]) != raw[-1]:
            return BadFrame(f"checksum {raw[-1]:02X}, expected {xor8(raw[:-1]):02X}", raw)
        body = body[:-1]
    if not body:
        return BadFrame("no command", raw)
    command = body[0]
    if command not in COMMANDS:
        return BadFrame(f"unknown command 0x{command:02X}", raw)
    if command != SYNTHESIZE:
        return Control(command) if len(body) == 1 else BadFrame("unexpected data", raw)
    if len(body) < 3:
        return BadFrame("no text", raw)
    parameter = body[1]
    code = parameter & 0x07
    if code not in _CODECS:
        return BadFrame(f"unknown text encoding {code}", raw)
    try:
        text = bytes(body[2:]).decode(_CODECS[code])
    except UnicodeDecodeError:
        return BadFrame(f"text not in {_CODECS[code]}", raw)
    encoding = next(name for name, value in ENCODINGS.items() if value == code)
    return Synthesize(text, encoding, parameter >> 3)
