"""One generic byte framing, described as data, for LED boards, serial call pads and rating pads.

A frame is laid out as

    header | address | command | length | payload | checksum | tail

where address, command, length and checksum may be absent (size 0). Between header and tail,
bytes that the framing escapes are written as ``[escape_byte, byte ^ escape_xor]``; the length
field counts unescaped bytes and the checksum is computed over unescaped bytes. A framing without
a length field must escape its first tail byte inside frames: the first raw copy ends the frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from .checksums import CHECKSUMS, Checksum

LENGTH_COUNTS = ("payload", "frame")
CHECKSUM_FROM = ("address", "header")


@dataclass(frozen=True, slots=True)
class Framing:
    """The byte layout of one vendor's frames; see the module docstring for the field order."""

    header: bytes
    tail: bytes = b""
    address_size: int = 1
    command_size: int = 1
    length_size: int = 1
    length_big_endian: bool = True
    # "payload": the length field counts payload bytes; "frame": header..tail inclusive, unescaped.
    length_counts: str = "payload"
    checksum: str = "sum8"
    # Where the checksummed bytes start ("address": right after the header); they always end
    # right before the checksum.
    checksum_from: str = "address"
    escape_byte: int | None = None
    escape_xor: int = 0x00
    escaped: bytes = b""
    max_payload: int = 255

    def validate(self) -> list[str]:
        """Human messages for every inconsistent setting; empty when the framing is usable."""
        problems: list[str] = []
        if not self.header:
            problems.append("header is empty: frames could not be found in the byte stream")
        for name, size, allowed in (
            ("address_size", self.address_size, (0, 1, 2)),
            ("command_size", self.command_size, (0, 1)),
            ("length_size", self.length_size, (0, 1, 2)),
        ):
            if size not in allowed:
                choices = ", ".join(str(a) for a in allowed[:-1]) + f" or {allowed[-1]}"
                problems.append(f"{name} is {size!r}: it must be {choices} bytes")
        if self.length_counts not in LENGTH_COUNTS:
            problems.append(
                f"length_counts is {self.length_counts!r}: it must be 'payload' or 'frame'"
            )
        if self.checksum not in CHECKSUMS:
            known = ", ".join(sorted(CHECKSUMS))
            problems.append(f"checksum {self.checksum!r} is unknown (known: {known})")
        if self.checksum_from not in CHECKSUM_FROM:
            problems.append(
                f"checksum_from is {self.checksum_from!r}: it must be 'address' or 'header'"
            )
        problems.extend(self._payload_problems())
        problems.extend(self._escape_problems())
        problems.extend(self._end_problems())
        return problems

    @property
    def max_frame_size(self) -> int:
        """The most bytes one frame can take on the line (every escapable byte escaped)."""
        inner = self._fields_size + max(self.max_payload, 0) + self._checksum_size
        if self.escape_byte is not None:
            inner *= 2
        return len(self.header) + inner + len(self.tail)

    @property
    def _checksum_size(self) -> int:
        checksum = CHECKSUMS.get(self.checksum)
        return checksum.size if checksum else 0

    @property
    def _fields_size(self) -> int:
        return self.address_size + self.command_size + self.length_size

    @property
    def _overhead(self) -> int:
        """Unescaped bytes of a frame besides its payload."""
        return len(self.header) + self._fields_size + self._checksum_size + len(self.tail)

    def _payload_problems(self) -> list[str]:
        if not 0 <= self.max_payload <= 0xFFFF:
            return [f"max_payload is {self.max_payload}: it must be 0..65535"]
        if self.length_size not in (1, 2):
            return []
        limit = 256**self.length_size - 1
        if self.length_counts == "frame":
            if self.max_payload + self._overhead > limit:
                return [
                    f"max_payload {self.max_payload} plus {self._overhead} bytes of framing "
                    f"does not fit a {self.length_size}-byte length field (at most {limit})"
                ]
        elif self.max_payload > limit:
            return [
                f"max_payload {self.max_payload} does not fit a {self.length_size}-byte "
                f"length field (at most {limit})"
            ]
        return []

    def _escape_problems(self) -> list[str]:
        if self.escape_byte is None:
            if self.escaped:
                return ["escaped bytes are listed but no escape_byte is set"]
            return []
        if not 0 <= self.escape_byte <= 0xFF or not 0 <= self.escape_xor <= 0xFF:
            return ["escape_byte and escape_xor must be single byte values 0..255"]
        problems = []
        specials = set(self.escaped) | {self.escape_byte}
        for byte in sorted(specials):
            if byte ^ self.escape_xor in specials:
                problems.append(
                    f"escaping 0x{byte:02X} writes 0x{byte ^ self.escape_xor:02X}, which must "
                    "itself be escaped: choose another escape_xor"
                )
        for name, edge in (("header", self.header[:1]), ("tail", self.tail[:1])):
            if edge and edge[0] == self.escape_byte:
                problems.append(
                    f"escape byte 0x{self.escape_byte:02X} is also the first {name} byte"
                )
        return problems

    def _end_problems(self) -> list[str]:
        if self.length_size != 0:
            return []
        if not self.tail:
            return ["no length field and no tail: nothing marks where a frame ends"]
        problems = []
        for name, edge in (("tail", self.tail[:1]), ("header", self.header[:1])):
            if edge and (self.escape_byte is None or edge[0] not in self.escaped):
                problems.append(
                    f"{name} byte 0x{edge[0]:02X} is not escaped, so it can appear inside a "
                    "frame that only its tail ends: list it in escaped (with an escape_byte)"
                )
        return problems


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: address and command are 0 when the framing has no such field."""

    address: int
    command: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Rules:
    """A validated framing with what encoding and decoding look up on every frame."""

    framing: Framing
    checksum: Checksum
    specials: frozenset[int]
    fields_size: int
    overhead: int


@functools.lru_cache(maxsize=64)
def _rules(framing: Framing) -> _Rules:
    problems = framing.validate()
    if problems:
        raise ValueError("inconsistent framing: " + "; ".join(problems))
    specials = frozenset(framing.escaped) | (
        frozenset() if framing.escape_byte is None else {framing.escape_byte}
    )
    return _Rules(
        framing=framing,
        checksum=CHECKSUMS[framing.checksum],
        specials=specials,
        fields_size=framing._fields_size,
        overhead=framing._overhead,
    )


def _escape(rules: _Rules, data: bytes) -> bytes:
    escape_byte = rules.framing.escape_byte
    if escape_byte is None or not rules.specials.intersection(data):
        return data
    out = bytearray()
    for byte in data:
        if byte in rules.specials:
            out += bytes((escape_byte, byte ^ rules.framing.escape_xor))
        else:
            out.append(byte)
    return bytes(out)


def encode(framing: Framing, frame: Frame) -> bytes:
    """The bytes of `frame` on the line; ValueError for a framing or frame that cannot be sent."""
    rules = _rules(framing)
    payload = bytes(frame.payload)
    if len(payload) > framing.max_payload:
        raise ValueError(f"{len(payload)} payload bytes exceed max_payload {framing.max_payload}")
    for name, value, size in (
        ("address", frame.address, framing.address_size),
        ("command", frame.command, framing.command_size),
    ):
        if not 0 <= value < 256**size:
            raise ValueError(f"{name} {value} does not fit {size} byte(s)")
    length = len(payload) + (rules.overhead if framing.length_counts == "frame" else 0)
    order: Literal["big", "little"] = "big" if framing.length_big_endian else "little"
    body = (
        frame.address.to_bytes(framing.address_size, "big")
        + frame.command.to_bytes(framing.command_size, "big")
        + (length.to_bytes(framing.length_size, order) if framing.length_size else b"")
        + payload
    )
    covered = framing.header + body if framing.checksum_from == "header" else body
    return framing.header + _escape(rules, body + rules.checksum.to_bytes(covered)) + framing.tail


class _BadFrame(Exception):
    """A frame that started with a header but is broken: why, for `last_error`."""


class FrameDecoder:
    """Finds the frames in a byte stream cut anywhere; skips, counts and resyncs past the rest.

    `errors` counts bad checksums, bad tails, oversized or malformed frames, and each run of
    skipped garbage once. `feed` never raises and never holds more than one frame's bytes.
    """

    def __init__(self, framing: Framing) -> None:
        self._rules = _rules(framing)
        self._buffer = bytearray()
        # Buffered bytes needed before the pending partial frame is worth parsing again.
        self._need = 0
        # True from an error until the next good frame: a resync counts as one error.
        self._resyncing = False
        self.errors = 0
        # Of those, runs of bytes that were no frame of ours: on a bus shared by devices of
        # other framings this is other devices' traffic, not a fault.
        self.garbage_runs = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Bytes held back: a partial frame, or the start of a header."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`, in stream order."""
        self._buffer += data
        if len(self._buffer) < self._need:
            return []
        return self._drain()

    def flush(self) -> list[Frame]:
        """Gives up on a partial frame (call when the line has gone quiet); frames behind it."""
        if not self._buffer:
            return []
        if self._buffer.startswith(self._rules.framing.header):
            self._fail("truncated frame")
        else:
            self._skipped()
        frames: list[Frame] = []
        while self._buffer:
            del self._buffer[:1]
            frames += self._drain()
        self._need = 0
        return frames

    def _skipped(self) -> None:
        if not self._resyncing:
            self.errors += 1
            self.garbage_runs += 1
            self.last_error = "garbage skipped"
        self._resyncing = True

    def _fail(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        self._resyncing = True

    def _drain(self) -> list[Frame]:
        buf = self._buffer
        header = self._rules.framing.header
        frames: list[Frame] = []
        pos = 0
        self._need = 0
        while True:
            start = buf.find(header, pos)
            if start < 0:
                keep = _header_prefix_at_end(buf, header, pos)
                if len(buf) - keep > pos:
                    self._skipped()
                pos = len(buf) - keep
                break
            if start > pos:
                self._skipped()
            try:
                result = self._parse(buf, start)
            except _BadFrame as bad:
                self._fail(str(bad))
                pos = start + 1
                continue
            if isinstance(result, int):
                pos = start
                self._need = result - start
                break
            frame, pos = result
            frames.append(frame)
            self._resyncing = False
        del buf[:pos]
        return frames

    def _parse(self, buf: bytearray, start: int) -> tuple[Frame, int] | int:
        """A frame and where it ends, or the buffer length needed to know; _BadFrame if broken."""
        framing = self._rules.framing
        if framing.length_size == 0:
            return self._parse_tail_delimited(buf, start)
        pos = start + len(framing.header)
        fields, pos, missing = self._unescape(buf, pos, self._rules.fields_size)
        if missing:
            return len(buf) + missing
        address, command, length = self._split_fields(fields)
        payload_size = length
        if framing.length_counts == "frame":
            payload_size = length - self._rules.overhead
            if payload_size < 0:
                raise _BadFrame(f"length {length} is shorter than the framing itself")
        if payload_size > framing.max_payload:
            raise _BadFrame(f"oversized: length {length} exceeds max_payload")
        rest, pos, missing = self._unescape(buf, pos, payload_size + self._rules.checksum.size)
        tail = framing.tail
        if missing:
            return len(buf) + missing + len(tail)
        if len(buf) < pos + len(tail):
            return pos + len(tail)
        if buf[pos : pos + len(tail)] != tail:
            raise _BadFrame("bad tail")
        payload = rest[:payload_size]
        self._check(fields + payload, rest[payload_size:])
        return Frame(address, command, payload), pos + len(tail)

    def _parse_tail_delimited(self, buf: bytearray, start: int) -> tuple[Frame, int] | int:
        rules = self._rules
        framing = rules.framing
        tail = framing.tail
        body_start = start + len(framing.header)
        # The first tail byte is always escaped inside a frame: its first raw copy ends the body.
        end = buf.find(tail[:1], body_start)
        largest_body = rules.fields_size + framing.max_payload + rules.checksum.size
        if end < 0:
            raw = len(buf) - body_start
            unescaped = raw
            if framing.escape_byte is not None:
                unescaped -= buf.count(framing.escape_byte, body_start)
            if unescaped > largest_body or raw > 2 * largest_body:
                raise _BadFrame("oversized: no tail within max_payload")
            return len(buf) + 1
        if len(buf) < end + len(tail):
            return end + len(tail)
        if buf[end : end + len(tail)] != tail:
            raise _BadFrame("bad tail")
        body, stopped_at, _ = self._unescape(buf, body_start, end - body_start, stop=end)
        if stopped_at != end:
            raise _BadFrame("escape byte right before the tail")
        body_size = len(body) - rules.checksum.size
        fields = body[: rules.fields_size]
        if body_size < rules.fields_size:
            raise _BadFrame("frame too short")
        if body_size - rules.fields_size > framing.max_payload:
            raise _BadFrame("oversized: payload exceeds max_payload")
        address, command, _ = self._split_fields(fields)
        self._check(body[:body_size], body[body_size:])
        return Frame(address, command, body[rules.fields_size : body_size]), end + len(tail)

    def _split_fields(self, fields: bytes) -> tuple[int, int, int]:
        framing = self._rules.framing
        a = framing.address_size
        c = a + framing.command_size
        order: Literal["big", "little"] = "big" if framing.length_big_endian else "little"
        return (
            int.from_bytes(fields[:a], "big"),
            int.from_bytes(fields[a:c], "big"),
            int.from_bytes(fields[c:], order),
        )

    def _check(self, body: bytes, checksum: bytes) -> None:
        framing = self._rules.framing
        covered = framing.header + body if framing.checksum_from == "header" else body
        if self._rules.checksum.to_bytes(covered) != checksum:
            raise _BadFrame("bad checksum")

    def _unescape(
        self, buf: bytearray, pos: int, count: int, stop: int | None = None
    ) -> tuple[bytes, int, int]:
        """Up to `count` unescaped bytes from `pos` (before `stop`): bytes, next pos, missing."""
        framing = self._rules.framing
        end = len(buf) if stop is None else stop
        escape_byte = framing.escape_byte
        if escape_byte is None:
            chunk = bytes(buf[pos : min(pos + count, end)])
            return chunk, pos + len(chunk), count - len(chunk)
        specials = self._rules.specials
        out = bytearray()
        while len(out) < count and pos < end:
            byte = buf[pos]
            if byte == escape_byte:
                if pos + 1 >= end:
                    break
                value = buf[pos + 1] ^ framing.escape_xor
                if value not in specials:
                    raise _BadFrame(f"escape byte followed by 0x{buf[pos + 1]:02X}")
                out.append(value)
                pos += 2
            elif byte in specials:
                raise _BadFrame(f"unescaped 0x{byte:02X} inside a frame")
            else:
                out.append(byte)
                pos += 1
        return bytes(out), pos, count - len(out)


def _header_prefix_at_end(buf: bytearray, header: bytes, pos: int) -> int:
    """How many bytes at the end of `buf` (after `pos`) could be the start of a header."""
    for size in range(min(len(header) - 1, len(buf) - pos), 0, -1):
        if buf.endswith(header[:size]):
            return size
    return 0
