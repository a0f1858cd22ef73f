"""An ESC/POS decoder for the tests only, written from the command reference (not shared with the
simulator or the printer): what a ticket's bytes print, line by line, and what else they do.

It is strict: a command it does not know, a truncated command, or a byte >= 0x80 outside
Chinese mode on a printer that needs FS & raises DecodeError, so a test sees any byte the
printer would misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGNS = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}


class DecodeError(ValueError):
    """The bytes are not what a printer would print cleanly."""


@dataclass(frozen=True)
class PrintedLine:
    """One printed line and the style it was printed in."""

    text: str
    align: str
    width: int  # GS ! horizontal multiplier (1-8)
    height: int  # GS ! vertical multiplier (1-8)
    bold: bool


@dataclass(frozen=True)
class QrCode:
    """A native QR code: its settings when printed and its payload."""

    payload: str
    model: int
    module_size: int
    error_level: str
    align: str


@dataclass
class Decoded:
    """Everything a ticket's bytes do."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[QrCode] = field(default_factory=list)
    images: int = 0  # GS v 0 raster images printed
    cut: bool = False
    feed_lines: int = 0  # ESC d n fed after the last printed line
    initialised: int = 0  # ESC @ seen
    status_queries: list[int] = field(default_factory=list)  # the n of each DLE EOT n
    markers: int = 0  # GS r 1 seen
    code_tables: list[int] = field(default_factory=list)  # ESC t n
    charsets: list[int] = field(default_factory=list)  # ESC R n

    @property
    def texts(self) -> list[str]:
        """The printed lines' texts, in order."""
        return [line.text for line in self.lines]

    def line(self, text: str) -> PrintedLine:
        """The first line whose text contains `text`."""
        for line in self.lines:
            if text in line.text:
                return line
        raise AssertionError(f"no printed line contains {text!r}; lines: {self.texts}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError(f"{what} at offset {self.pos} is cut short")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]


def decode(data: bytes, encoding: str, *, chinese_at_start: bool = False) -> Decoded:
    """Walk `data` as a printer would (in Chinese mode from the start if `chinese_at_start`)."""
    out = Decoded()
    r = _Reader(data)
    chinese = chinese_at_start
    align, width, height, bold = "left", 1, 1, False
    pending = bytearray()  # bytes of the line being built
    line_style: tuple[str, int, int, bool] | None = None
    qr_model, qr_size, qr_level = 2, 3, "L"
    qr_data: str | None = None

    def flush() -> None:
        nonlocal line_style
        style = line_style or (align, width, height, bold)
        text = bytes(pending).decode(encoding) if pending else ""
        out.lines.append(PrintedLine(text, *style))
        pending.clear()
        line_style = None
        out.feed_lines = 0

    while r.more():
        start = r.pos
        b = r.byte("byte")
        if b == 0x0A:
            flush()
        elif b >= 0x20:
            if b >= 0x80 and not chinese:
                raise DecodeError(f"byte 0x{b:02X} at offset {start} outside Chinese mode")
            if line_style is None:
                line_style = (align, width, height, bold)
            pending.append(b)
        elif b == 0x1B:  # ESC
            c = r.byte("ESC command")
            if c == 0x40:  # @: initialise
                out.initialised += 1
                chinese = chinese_at_start
                align, width, height, bold = "left", 1, 1, False
            elif c == 0x61:  # a n: justification
                n = r.byte("ESC a")
                if n not in ALIGNS:
                    raise DecodeError(f"ESC a {n}")
                align = ALIGNS[n]
            elif c == 0x45:  # E n: emphasis
                bold = bool(r.byte("ESC E") & 1)
            elif c == 0x21:  # ! n: print mode (one-byte characters only)
                mode = r.byte("ESC !")
                bold = bool(mode & 0x08)
            elif c == 0x74:  # t n: code table
                out.code_tables.append(r.byte("ESC t"))
            elif c == 0x52:  # R n: international character set
                out.charsets.append(r.byte("ESC R"))
            elif c == 0x64:  # d n: print and feed n lines
                n = r.byte("ESC d")
                if pending:
                    flush()
                out.feed_lines += n
            else:
                raise DecodeError(f"unknown command ESC 0x{c:02X} at offset {start}")
        elif b == 0x1D:  # GS
            c = r.byte("GS command")
            if c == 0x21:  # ! n: character size
                n = r.byte("GS !")
                width, height = (n >> 4) + 1, (n & 0x0F) + 1
            elif c == 0x56:  # V m [n]: cut
                m = r.byte("GS V")
                if m in (65, 66):
                    r.byte("GS V feed")
                elif m not in (0, 1, 48, 49):
                    raise DecodeError(f"GS V {m}")
                out.cut = True
            elif c == 0x72:  # r n: transmit status (after what came before)
                n = r.byte("GS r")
                if n not in (1, 49):
                    raise DecodeError(f"GS r {n}")
                out.markers += 1
            elif c == 0x28:  # ( k pL pH cn fn [m] data: 2D codes
                if r.byte("GS (") != 0x6B:
                    raise DecodeError(f"GS ( other than k at offset {start}")
                size = int.from_bytes(r.take(2, "GS ( k length"), "little")
                body = r.take(size, "GS ( k body")
                cn, fn, rest = body[0], body[1], body[2:]
                if cn != 0x31:
                    raise DecodeError(f"GS ( k for code type 0x{cn:02X}, not QR")
                if fn == 0x41:  # model
                    qr_model = rest[0] - 48
                elif fn == 0x43:  # module size
                    qr_size = rest[0]
                elif fn == 0x45:  # error correction level
                    qr_level = "LMQH"[rest[0] - 48]
                elif fn == 0x50:  # store data (m = "0")
                    qr_data = rest[1:].decode("utf-8")
                elif fn == 0x51:  # print the stored symbol
                    if qr_data is None:
                        raise DecodeError("QR printed with no data stored")
                    out.qr_codes.append(QrCode(qr_data, qr_model, qr_size, qr_level, align))
                else:
                    raise DecodeError(f"GS ( k function 0x{fn:02X}")
            elif c == 0x76:  # v 0 m xL xH yL yH data: raster image
                if r.byte("GS v") != 0x30:
                    raise DecodeError("GS v other than 0")
                r.byte("GS v 0 mode")
                x = int.from_bytes(r.take(2, "GS v 0 width"), "little")
                y = int.from_bytes(r.take(2, "GS v 0 height"), "little")
                r.take(x * y, "GS v 0 image")
                out.images += 1
            else:
                raise DecodeError(f"unknown command GS 0x{c:02X} at offset {start}")
        elif b == 0x1C:  # FS
            c = r.byte("FS command")
            if c == 0x26:
                chinese = True
            elif c == 0x2E:
                chinese = False
            else:
                raise DecodeError(f"unknown command FS 0x{c:02X} at offset {start}")
        elif b == 0x10:  # DLE
            if r.byte("DLE command") != 0x04:
                raise DecodeError(f"DLE other than EOT at offset {start}")
            out.status_queries.append(r.byte("DLE EOT n"))
        else:
            raise DecodeError(f"control byte 0x{b:02X} at offset {start}")
    if pending:
        raise DecodeError(f"text left unprinted (no LF): {bytes(pending)!r}")
    return out
