"""ESC/POS for ticket printers: real-time status, the processed-up-to-here marker, Chinese text.

Status: `DLE EOT n` (10 04 n) is answered at once, even while the printer is offline or busy,
with one byte whose fixed bits are 0xx1xx10 (bit 0 clear, bit 1 set, bit 4 set, bit 7 clear).
`GS r 1` (1D 72 01) is answered only when the printer has processed everything sent before it,
with a byte whose bits 4 and 7 are clear: sent after a ticket, its answer says the ticket went
through the print mechanism. The two kinds of answer cannot be mistaken for each other.

Text: Chinese printers print two-byte GBK (or GB18030, which adds 4-byte sequences for rare
characters) while in Chinese mode, switched on with `FS &` (1C 26) and off with `FS .` (1C 2E).
`encode_text` encodes per profile and never lets a character vanish into "?": a character the
printer's encoding lacks, and a control character that would smuggle a command into the
stream, become a visible "□".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Literal

DLE = 0x10
EOT = 0x04
ESC = 0x1B
FS = 0x1C
GS = 0x1D

CHINESE_ON = bytes((FS, 0x26))  # FS &: two-byte (Chinese) characters from here on
CHINESE_OFF = bytes((FS, 0x2E))  # FS .: back to one-byte characters
PROCESSED_MARKER = bytes((GS, 0x72, 0x01))  # GS r 1: answered after everything before it

Encoding = Literal["gb18030", "gbk"]
ENCODINGS: tuple[Encoding, ...] = ("gb18030", "gbk")
SUBSTITUTE = "□"  # U+25A1, in GBK and GB18030 as A1 F5
PaperLevel = Literal["ok", "low", "out"]

# Characters per line in the printer's 12 x 24 dot font, and dots per line, by paper width (mm).
PAPER_COLUMNS = MappingProxyType({58: 32, 80: 48})
PAPER_DOTS = MappingProxyType({58: 384, 80: 576})

_STATUS_FIXED_MASK = 0x93  # bits 0, 1, 4 and 7
_STATUS_FIXED = 0x12  # bit 1 and bit 4 set
_MARKER_FIXED_MASK = 0x90  # bits 4 and 7, both clear in a GS r answer


class StatusQuery(IntEnum):
    """The `n` of `DLE EOT n`: which status byte the printer sends at once."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    ROLL_PAPER = 4


class NotAStatusReply(ValueError):
    """A byte that cannot be the answer asked for (wrong fixed bits)."""


def status_query(which: StatusQuery) -> bytes:
    """The real-time status request `DLE EOT n`."""
    return bytes((DLE, EOT, int(which)))


def is_status_reply(byte: int) -> bool:
    """Whether `byte` has the fixed bits of a `DLE EOT` answer (0xx1xx10)."""
    return 0 <= byte <= 0xFF and byte & _STATUS_FIXED_MASK == _STATUS_FIXED


def is_marker_reply(byte: int) -> bool:
    """Whether `byte` has the fixed bits of a `GS r 1` answer (bits 4 and 7 clear)."""
    return 0 <= byte <= 0xFF and byte & _MARKER_FIXED_MASK == 0


def _bit(byte: int, n: int) -> bool:
    return bool(byte >> n & 1)


def _status_byte(byte: int, what: str) -> int:
    if not is_status_reply(byte):
        raise NotAStatusReply(f"0x{byte:02X} is not a {what} status byte (expected 0xx1xx10)")
    return byte


def _with_bits(*bits: tuple[int, bool]) -> int:
    value = _STATUS_FIXED
    for n, on in bits:
        if on:
            value |= 1 << n
    return value


@dataclass(frozen=True, slots=True)
class PrinterReply:
    """`DLE EOT 1`: the printer's own state."""

    offline: bool = False  # bit 3
    drawer_pin_high: bool = False  # bit 2: the drawer kick connector's pin 3
    waiting_recovery: bool = False  # bit 5: waiting to go online again
    feed_button: bool = False  # bit 6: the paper feed button is held

    @classmethod
    def from_byte(cls, byte: int) -> PrinterReply:
        """Decode the answer; NotAStatusReply if its fixed bits are wrong."""
        b = _status_byte(byte, "printer")
        return cls(_bit(b, 3), _bit(b, 2), _bit(b, 5), _bit(b, 6))

    def to_byte(self) -> int:
        """The byte a printer in this state answers."""
        return _with_bits(
            (2, self.drawer_pin_high),
            (3, self.offline),
            (5, self.waiting_recovery),
            (6, self.feed_button),
        )


@dataclass(frozen=True, slots=True)
class OfflineCause:
    """`DLE EOT 2`: why the printer is offline."""

    cover_open: bool = False  # bit 2
    feeding: bool = False  # bit 3: paper fed with the feed button
    paper_end_stop: bool = False  # bit 5: printing stopped at the end of the roll
    error: bool = False  # bit 6: an error occurred (DLE EOT 3 says which)

    @classmethod
    def from_byte(cls, byte: int) -> OfflineCause:
        """Decode the answer; NotAStatusReply if its fixed bits are wrong."""
        b = _status_byte(byte, "offline cause")
        return cls(_bit(b, 2), _bit(b, 3), _bit(b, 5), _bit(b, 6))

    def to_byte(self) -> int:
        """The byte a printer in this state answers."""
        return _with_bits(
            (2, self.cover_open), (3, self.feeding), (5, self.paper_end_stop), (6, self.error)
        )


@dataclass(frozen=True, slots=True)
class ErrorCause:
    """`DLE EOT 3`: which error stopped the printer."""

    mechanical: bool = False  # bit 2 (undefined on some models: read as "mechanical")
    autocutter: bool = False  # bit 3: e.g. a paper jam at the cutter
    unrecoverable: bool = False  # bit 5: needs service
    auto_recoverable: bool = False  # bit 6: e.g. the head overheated; clears by itself

    @classmethod
    def from_byte(cls, byte: int) -> ErrorCause:
        """Decode the answer; NotAStatusReply if its fixed bits are wrong."""
        b = _status_byte(byte, "error cause")
        return cls(_bit(b, 2), _bit(b, 3), _bit(b, 5), _bit(b, 6))

    def to_byte(self) -> int:
        """The byte a printer with these errors answers."""
        return _with_bits(
            (2, self.mechanical),
            (3, self.autocutter),
            (5, self.unrecoverable),
            (6, self.auto_recoverable),
        )

    def describe(self) -> str:
        """The errors in a technician's words, e.g. "cutter error"; "" when there is none."""
        names = (
            ("mechanical error", self.mechanical),
            ("cutter error", self.autocutter),
            ("unrecoverable error", self.unrecoverable),
            ("head overheated", self.auto_recoverable),
        )
        return ", ".join(name for name, on in names if on)


@dataclass(frozen=True, slots=True)
class RollPaper:
    """`DLE EOT 4`: the roll paper sensors (either bit of a pair counts: models set one or both)."""

    near_end: bool = False  # bits 2-3
    end: bool = False  # bits 5-6

    @classmethod
    def from_byte(cls, byte: int) -> RollPaper:
        """Decode the answer (0x12 ok, 0x1E near end, 0x72 out); NotAStatusReply if not one."""
        b = _status_byte(byte, "roll paper")
        return cls(near_end=bool(b & 0x0C), end=bool(b & 0x60))

    def to_byte(self) -> int:
        """The byte a printer with this roll answers."""
        return _STATUS_FIXED | (0x0C if self.near_end else 0) | (0x60 if self.end else 0)

    @property
    def level(self) -> PaperLevel:
        """The roll: "out" at its end, "low" near it, else "ok"."""
        if self.end:
            return "out"
        return "low" if self.near_end else "ok"


@dataclass(frozen=True, slots=True)
class MarkerReply:
    """The answer to `GS r 1`: the paper sensors, sent once everything before it is processed."""

    near_end: bool = False  # bits 0-1
    end: bool = False  # bits 2-3

    @classmethod
    def from_byte(cls, byte: int) -> MarkerReply:
        """Decode the answer; NotAStatusReply if bits 4 or 7 are set."""
        if not is_marker_reply(byte):
            raise NotAStatusReply(f"0x{byte:02X} is not an answer to GS r 1 (bits 4, 7 set)")
        return cls(near_end=bool(byte & 0x03), end=bool(byte & 0x0C))

    def to_byte(self) -> int:
        """The byte a printer with this roll answers."""
        return (0x03 if self.near_end else 0) | (0x0C if self.end else 0)


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a status poll learnt: the answers to DLE EOT 1, 2 and 4 (and 3 after an error)."""

    printer: PrinterReply
    offline: OfflineCause
    paper: RollPaper
    errors: ErrorCause | None = None  # asked only when the offline cause reports an error

    @classmethod
    def from_replies(
        cls, printer: int, offline_cause: int, roll_paper: int, error_cause: int | None = None
    ) -> PrinterStatus:
        """Decode the answer bytes; NotAStatusReply if one of them is not a status byte."""
        return cls(
            PrinterReply.from_byte(printer),
            OfflineCause.from_byte(offline_cause),
            RollPaper.from_byte(roll_paper),
            None if error_cause is None else ErrorCause.from_byte(error_cause),
        )

    @property
    def online(self) -> bool:
        """The printer says it is online."""
        return not self.printer.offline

    @property
    def cover_open(self) -> bool:
        """The paper cover is open."""
        return self.offline.cover_open

    @property
    def paper_level(self) -> PaperLevel:
        """The roll: "ok", "low" or "out"; a stop at the end of the roll counts as out."""
        return "out" if self.offline.paper_end_stop else self.paper.level

    @property
    def error(self) -> bool:
        """An error stopped the printer."""
        return self.offline.error or (self.errors is not None and bool(self.errors.describe()))

    @property
    def can_print(self) -> bool:
        """Online, paper in, cover closed and no error: a ticket sent now will be printed."""
        return self.online and not self.cover_open and self.paper_level != "out" and not self.error

    @property
    def problem(self) -> str | None:
        """The most important thing a technician should know, e.g. "paper out"; None if fine."""
        if self.paper_level == "out":
            return "paper out"
        if self.cover_open:
            return "cover open"
        if self.error:
            detail = self.errors.describe() if self.errors is not None else ""
            return f"printer error ({detail})" if detail else "printer error"
        if not self.online:
            return "offline"
        if self.paper_level == "low":
            return "paper low"
        return None


# --- text -----------------------------------------------------------------------------------


def _printable(char: str) -> bool:
    """False for control characters (they would be commands to the printer), except LF."""
    if char == "\n":
        return True
    return unicodedata.category(char) not in ("Cc", "Cs")


def _encodable(char: str, encoding: Encoding) -> bool:
    if not _printable(char):
        return False
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def substitutions(text: str, encoding: Encoding) -> tuple[str, ...]:
    """The characters of `text` that encode_text prints as "□", in order (empty: none)."""
    return tuple(char for char in text if not _encodable(char, encoding))


def encode_text(text: str, encoding: Encoding = "gb18030", *, chinese_mode: bool = True) -> bytes:
    """`text` as the printer's bytes: GB18030 or GBK, each run of non-ASCII characters inside
    `FS &` ... `FS .` when `chinese_mode`; a character the encoding lacks, and any control
    character but LF, becomes "□" (see substitutions())."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    out = bytearray()
    wide = False  # inside FS & ... FS .
    for char in text:
        if not _encodable(char, encoding):
            char = SUBSTITUTE
        if char < "\x80":
            if wide:
                out += CHINESE_OFF
                wide = False
            out += char.encode("ascii")
            continue
        if chinese_mode and not wide:
            out += CHINESE_ON
            wide = True
        out += char.encode(encoding)
    if wide:
        out += CHINESE_OFF
    return bytes(out)


def text_columns(text: str) -> int:
    """How many columns of the 12-dot font `text` takes as encode_text sends it: printable ASCII
    one, any other character two (multibyte or "□", it prints in the Chinese font: "·", "—" too)."""
    return sum(1 if char < "\x80" and _printable(char) else 2 for char in text)


def wrap_text(text: str, columns: int) -> list[str]:
    """`text` cut into lines of at most `columns` columns (never inside a character); each "\\n"
    starts a new line; an empty text is no line."""
    if columns < 2:
        raise ValueError("a line holds at least one Chinese character (2 columns)")
    lines: list[str] = []
    for paragraph in text.split("\n") if text else []:
        line, used = "", 0
        for char in paragraph:
            width = text_columns(char)
            if used + width > columns:
                lines.append(line.rstrip(" "))
                line, used = "", 0
                if char == " ":
                    continue
            line += char
            used += width
        lines.append(line.rstrip(" "))
    return lines
