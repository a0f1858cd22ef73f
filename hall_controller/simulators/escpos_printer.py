"""A simulated ESC/POS ticket printer: the real bytes in, status answers out, jobs kept.

The printer walks the byte stream command by command, skipping the arguments of the commands
it knows (a QR code's `GS ( k` data, raster images, barcodes), so that a 0x10 inside data is
never taken for `DLE`. As a real printer does, it answers `DLE EOT n` at once, even while it is
offline, and `GS r 1` only once everything before it has been processed: while the paper is
out, the cover open or the mechanism jammed, it keeps what it receives and carries it out when
it can print again. A silent printer (switched off) takes nothing and answers nothing.

It sits on a PTY or memory link through a SimulatedBus (`on_link`) or listens on a TCP port as
a network printer (`EscposPrinterServer`). Each ticket printed is kept as a `PrintedJob` (up to
a cut, or, on a printer that feeds its tickets out, up to `GS r` or the next `ESC @`) with a
rough text of it; `on_job` hears of each one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from hall_controller.profiles import EscposSettings
from hall_controller.protocols.escpos import (
    ErrorCause,
    MarkerReply,
    OfflineCause,
    PrinterReply,
    RollPaper,
    StatusQuery,
)
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.transports.base import ByteLink

log = structlog.get_logger("hall_controller.simulators")

PaperState = Literal["ok", "low", "out"]
HISTORY = 200  # jobs kept
_DLE, _ESC, _FS, _GS = 0x10, 0x1B, 0x1C, 0x1D
_LF = 0x0A

# Commands by their first two bytes and how many bytes follow them (fixed-size arguments).
_FIXED: dict[tuple[int, int], int] = {
    **{(_ESC, ord(c)): 0 for c in "@2<imSL\x0c"},
    **{(_ESC, ord(c)): 1 for c in "!-3EGJMRUVade{tr% T"},
    **{(_ESC, ord(c)): 2 for c in "$\\Bc"},
    (_ESC, ord("p")): 3,
    **{(_FS, ord(c)): 0 for c in "&."},
    **{(_FS, ord(c)): 1 for c in "!-CW"},
    **{(_FS, ord(c)): 2 for c in "Sp"},
    **{(_GS, ord(c)): 1 for c in "!rBHhwfaIb/"},
    **{(_GS, ord(c)): 2 for c in "LWP$"},
    (_GS, ord("^")): 3,
    (_DLE, 0x04): 1,  # DLE EOT n: real-time status
    (_DLE, 0x05): 1,  # DLE ENQ n: real-time request
    (_DLE, 0x14): 3,  # DLE DC4 fn a b: real-time pulse, power off, clear buffer
}


def _command_size(buf: bytearray) -> int | None:
    """Bytes in the command at the start of `buf` (>= 1), or None until more bytes come."""
    first = buf[0]
    if first not in (_DLE, _ESC, _FS, _GS):
        if first < 0x20:
            return 1  # LF, CR, HT, FF, or a stray control byte
        end = 1
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        return end  # a run of text (multibyte characters never hold a byte below 0x20)
    if len(buf) < 2:
        return None
    second = buf[1]
    fixed = _FIXED.get((first, second))
    if fixed is not None:
        return 2 + fixed if len(buf) >= 2 + fixed else None
    if first == _DLE:
        return 1  # DLE that starts no real-time command
    if (first, second) == (_GS, ord("(")):  # GS ( fn pL pH [p bytes]: QR codes, graphics
        return _sized(buf, 5, lambda b: b[3] | b[4] << 8)
    if (first, second) == (_GS, ord("v")):  # GS v 0 m xL xH yL yH [x * y bytes]: raster
        return _sized(buf, 8, lambda b: (b[4] | b[5] << 8) * (b[6] | b[7] << 8))
    if (first, second) == (_GS, ord("8")):  # GS 8 L p1..p4 [p bytes]: large graphics
        return _sized(buf, 7, lambda b: b[3] | b[4] << 8 | b[5] << 16 | b[6] << 24)
    if (first, second) == (_ESC, ord("*")):  # ESC * m nL nH [n or 3n bytes]: bit image
        return _sized(buf, 5, lambda b: (b[3] | b[4] << 8) * (1 if b[2] in (0, 1) else 3))
    if (first, second) == (_GS, ord("V")):  # GS V m [n]: cut (m 65/66 take a feed amount)
        if len(buf) < 3:
            return None
        size = 4 if buf[2] in (65, 66, 97, 98, 103, 104) else 3
        return size if len(buf) >= size else None
    if (first, second) == (_GS, ord("k")):  # GS k m: barcode, NUL-ended or counted data
        if len(buf) < 3:
            return None
        if buf[2] <= 6:
            end = buf.find(b"\x00", 3)
            return end + 1 if end >= 0 else None
        return _sized(buf, 4, lambda b: b[3])
    return 2  # a command this printer does not know: skip its two bytes


def _sized(buf: bytearray, head: int, body: Callable[[bytearray], int]) -> int | None:
    if len(buf) < head:
        return None
    size = head + body(buf)
    return size if len(buf) >= size else None


@dataclass(frozen=True, slots=True)
class PrintedJob:
    """One ticket as it came out: its bytes, a rough text, the QR codes and whether it was cut."""

    data: bytes
    lines: tuple[str, ...]
    qr_codes: tuple[str, ...]
    cut: bool
    at: float

    @property
    def text(self) -> str:
        """The rough text, one printed line a line, with [QR ...] where a code was printed."""
        return "\n".join(self.lines)


@dataclass(slots=True)
class _Page:
    """What is being printed since the last job ended."""

    data: bytearray = field(default_factory=bytearray)
    lines: list[str] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    line: list[tuple[bool, bytes]] = field(default_factory=list)  # (Chinese mode, bytes) runs

    @property
    def printed(self) -> bool:
        return bool(self.lines or self.line or self.qr_codes)


class SimulatedEscposPrinter:
    """An ESC/POS printer on a simulated port (a BusPeer): set its paper, cover and faults."""

    address = 0  # a printer has a port of its own: it hears everything

    def __init__(
        self,
        *,
        encoding: str = "gb18030",
        chinese_at_start: bool = False,
        on_job: Callable[[PrintedJob], None] | None = None,
        name: str = "printer",
    ) -> None:
        self.name = name
        self.encoding = encoding
        self.chinese_at_start = chinese_at_start  # firmware that starts in Chinese mode
        self.on_job = on_job
        self.send: Callable[[bytes], None] | None = None  # late answers (after a resume)
        self.jobs: deque[PrintedJob] = deque(maxlen=HISTORY)
        self.paper: PaperState = "ok"
        self.cover_open = False
        self.jammed = False  # takes bytes but prints nothing and confirms nothing, until cleared
        self.silent = False  # switched off: takes nothing, answers nothing
        self.received = 0
        self.status_queries = 0
        self.markers_answered = 0
        self._buffer = bytearray()
        self._held: deque[bytes] = deque()
        self._page = _Page()
        self._chinese = chinese_at_start
        self._at = 0.0

    @classmethod
    def for_settings(
        cls,
        settings: EscposSettings,
        *,
        on_job: Callable[[PrintedJob], None] | None = None,
        name: str = "printer",
    ) -> SimulatedEscposPrinter:
        """A printer of a profile's model: its encoding, and in Chinese mode from the start when
        the profile sends no FS &."""
        return cls(
            encoding=settings.encoding,
            chinese_at_start=not settings.chinese_mode,
            on_job=on_job,
            name=name,
        )

    # --- the simulation's side ------------------------------------------------------------

    @property
    def offline(self) -> bool:
        """Paper out or cover open: the printer keeps what it receives until it can print."""
        return self.paper == "out" or self.cover_open

    def set_paper(self, paper: PaperState) -> None:
        """Load paper, or let it run low or out; loading it carries out what was kept."""
        self.paper = paper
        self._resume()

    def set_cover(self, *, open_: bool) -> None:
        """Open or close the paper cover; closing it carries out what was kept."""
        self.cover_open = open_
        self._resume()

    def set_jammed(self, jammed: bool) -> None:
        """Jam the mechanism (status still says fine) or clear it (what was kept is printed)."""
        self.jammed = jammed
        self._resume()

    def _resume(self) -> None:
        if self.offline or self.jammed or self.silent:
            return
        out = bytearray()
        while self._held and not (self.offline or self.jammed):
            out += self._execute(self._held.popleft())
        if out and self.send is not None:
            self.send(bytes(out))

    def status_byte(self, which: StatusQuery) -> int:
        """What the printer answers to DLE EOT `which` now."""
        if which is StatusQuery.PRINTER:
            return PrinterReply(offline=self.offline).to_byte()
        if which is StatusQuery.OFFLINE_CAUSE:
            return OfflineCause(
                cover_open=self.cover_open, paper_end_stop=self.paper == "out"
            ).to_byte()
        if which is StatusQuery.ERROR_CAUSE:
            return ErrorCause().to_byte()
        return RollPaper(near_end=self.paper != "ok", end=self.paper == "out").to_byte()

    def view(self) -> dict[str, object]:
        """The printer's state, JSON-ready."""
        return {
            "paper": self.paper,
            "cover_open": self.cover_open,
            "jammed": self.jammed,
            "silent": self.silent,
            "jobs": len(self.jobs),
            "held_commands": len(self._held),
            "last_job": self.jobs[-1].text if self.jobs else None,
        }

    # --- the port's side (BusPeer) ----------------------------------------------------------

    def feed(self, data: bytes, at: float) -> bytes:
        """Bytes from the controller at time `at`; the printer's answers."""
        self._at = at
        if self.silent:
            self._buffer.clear()
            return b""
        self.received += len(data)
        self._buffer += data
        out = bytearray()
        while self._buffer:
            size = _command_size(self._buffer)
            if size is None:
                break
            command = bytes(self._buffer[:size])
            del self._buffer[:size]
            if command[0] == _DLE and size == 3 and command[1] == 0x04:
                out += self._status(command[2])
            elif self._held or self.offline or self.jammed:
                self._held.append(command)
            else:
                out += self._execute(command)
        return bytes(out)

    def line_quiet(self, at: float) -> bytes:
        """Nothing to do: commands wait for their arguments however long the line is quiet."""
        return b""

    def _status(self, n: int) -> bytes:
        if not 1 <= n <= 4:
            return b""
        self.status_queries += 1
        return bytes((self.status_byte(StatusQuery(n)),))

    def _execute(self, command: bytes) -> bytes:
        """Carry out one command; its answer (only GS r has one here)."""
        page = self._page
        page.data += command
        first = command[0]
        if first >= 0x20:
            page.line.append((self._chinese, command))
        elif first == _LF:
            self._end_line()
        elif command == b"\x1b@":
            if page.printed:
                self._end_job(cut=False, init=command)
            self._chinese = self.chinese_at_start
        elif command[:2] == b"\x1c&":
            self._chinese = True
        elif command[:2] == b"\x1c.":
            self._chinese = False
        elif command[:2] == b"\x1bd" and page.line:
            self._end_line()
        elif command[:2] == b"\x1dV":
            self._end_job(cut=True)
        elif command[:3] == b"\x1d(k" and len(command) >= 8:
            self._qr(command)
        elif command[:2] == b"\x1dv":
            self._end_line()
            page.lines.append("[image]")
        elif command[:2] == b"\x1dr":
            if command[2] in (1, 49) and page.printed:
                self._end_job(cut=False)
            self.markers_answered += 1
            paper = self.paper
            return bytes((MarkerReply(near_end=paper != "ok", end=paper == "out").to_byte(),))
        return b""

    def _qr(self, command: bytes) -> None:
        function = command[6]  # GS ( k pL pH cn fn
        if function == 0x50:  # store the data (after the m byte "0")
            self._page.qr_codes.append(command[8:].decode("utf-8", errors="replace"))
        elif function == 0x51 and self._page.qr_codes:  # print what was stored
            self._end_line()
            self._page.lines.append(f"[QR {self._page.qr_codes[-1]}]")

    def _end_line(self) -> None:
        page = self._page
        text = "".join(self._decode(chinese, run) for chinese, run in _merge(page.line))
        page.line.clear()
        page.lines.append(text)

    def _decode(self, chinese: bool, run: bytes) -> str:
        if chinese:
            return run.decode(self.encoding, errors="replace")
        # One-byte mode prints the code page's characters: what a GBK byte looks like then.
        return run.decode("cp437", errors="replace")

    def _end_job(self, *, cut: bool, init: bytes = b"") -> None:
        page = self._page
        if page.line:
            self._end_line()
        data = bytes(page.data[: len(page.data) - len(init)])
        job = PrintedJob(data, tuple(page.lines), tuple(page.qr_codes), cut, self._at)
        self._page = _Page(data=bytearray(init))
        self.jobs.append(job)
        if self.on_job is not None:
            try:
                self.on_job(job)
            except Exception:
                log.exception("printer_on_job_failed", printer=self.name)


def _merge(runs: list[tuple[bool, bytes]]) -> list[tuple[bool, bytes]]:
    """Neighbouring runs in the same mode joined (a character may be split across reads)."""
    merged: list[tuple[bool, bytes]] = []
    for chinese, data in runs:
        if merged and merged[-1][0] == chinese:
            merged[-1] = (chinese, merged[-1][1] + data)
        else:
            merged.append((chinese, data))
    return merged


def on_link(printer: SimulatedEscposPrinter, link: ByteLink) -> SimulatedBus:
    """A bus carrying the printer's bytes over `link` (a PTY master, a memory link); start() it."""
    bus = SimulatedBus(link, [printer], name=printer.name)
    printer.send = bus.send
    return bus


class EscposPrinterServer:
    """The printer as a network printer: raw TCP on `port`, one connection at a time."""

    def __init__(
        self, printer: SimulatedEscposPrinter, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.printer = printer
        self.host = host
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._one_at_a_time = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        printer.send = self._send

    @property
    def url(self) -> str:
        """Where the controller connects: tcp://host:port."""
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (on a free port if `port` was 0)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop the connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.disconnect()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    async def disconnect(self) -> None:
        """Drop the current connection (a printer rebooting); the server keeps listening."""
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer), name=f"sim-printer-tcp:{self.port}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, data: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # A second client waits, as at a real printer, until the first one hangs up.
            async with self._one_at_a_time:
                self.connections += 1
                self._writer = writer
                loop = asyncio.get_running_loop()
                while data := await reader.read(4096):
                    answer = self.printer.feed(data, loop.time())
                    if answer:
                        writer.write(answer)
                        await writer.drain()
        except OSError:
            pass  # the controller went away
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
