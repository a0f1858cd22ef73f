"""Ticket printers (ESC/POS): a ticket counts as printed only when the printer confirms it.

`EscposPrinter` owns its link (serial, TCP 9100 or USB, from a table keyed by the profile's
transport), kept up by a Supervisor. One reader takes everything the printer sends and sorts
it by its fixed bits: answers to `DLE EOT n` (status, answered at once) and answers to `GS r 1`
(answered once everything sent before it is processed: the confirmation of a ticket).

Between tickets a status poll (DLE EOT 1, 2, 4 every `ping_every`) keeps health current:
no answer within the profile's `status_timeout` is LOST, paper low, paper out, an open cover
or an error is ALERT. `print_ticket` asks for a fresh status, sends the ticket with `GS r 1`
behind it in one write, and returns only when that marker is answered within `print_timeout`;
every other outcome raises PrintFailed. After a ticket that was not confirmed, the printer may
still answer it late, so before the next ticket a lone `GS r 1` is sent and everything it
flushes out is awaited: a late answer is never taken for the next ticket's confirmation.

python-escpos builds the bytes (its Dummy printer: layout, native QR code, cut) in the
printer's own worker thread; the Chinese text in them is encoded by protocols.escpos.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog

from hall_controller.devices.base import TEST_TEXT, DeviceContext, SupervisedDevice, TestFired
from hall_controller.devices.errors import DeviceError, DeviceLost
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import TicketPrint
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import DeviceConfig, EscposSettings, SerialSettings
from hall_controller.protocols.escpos import (
    PAPER_COLUMNS,
    PROCESSED_MARKER,
    OfflineCause,
    PrinterStatus,
    RollPaper,
    StatusQuery,
    encode_text,
    is_marker_reply,
    is_status_reply,
    status_query,
    substitutions,
    text_columns,
    wrap_text,
)
from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.serial import SerialLink, SerialParams, port_present
from hall_controller.transports.tcp import TcpLink
from hall_controller.transports.usb_printer import UsbPrinterLink

log = structlog.get_logger("hall_controller.devices")

# The reader's wait for bytes; a quiet printer is normal, so a timeout only loops.
_READ_WAIT_S = 60.0
# Rendering runs in the printer's thread; the first one also imports python-escpos.
_RENDER_TIMEOUT_S = 10.0
# The largest number size (GS ! multiplier) by paper width: about 18 mm tall on 80 mm paper.
_NUMBER_SIZE = MappingProxyType({58: 4, 80: 6})
_FEED_LINES = 4  # fed out past the tear bar on printers without a cutter


class PrintFailed(DeviceError):
    """The ticket was not printed, or not confirmed: the message says why."""


# --- python-escpos, loaded once in a printer's thread -----------------------------------------

_escpos_lock = threading.Lock()
_escpos: Any = None


def _load_escpos() -> Any:
    """The python-escpos package (.printer, .constants), imported without its side effects.

    Its import calls logging.basicConfig() (a handler on the root logger that would print
    every record twice) and makes a temp dir (even when told where its capability cache
    goes): both the cache and that dir are made inside a dir of ours, removed at exit, and
    any handler it added to the root logger is taken back.
    """
    global _escpos
    with _escpos_lock:
        if _escpos is None:
            cache = tempfile.mkdtemp(prefix="hall-controller-escpos-")
            atexit.register(shutil.rmtree, cache, True)
            os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", cache)
            root = logging.getLogger()
            handlers = list(root.handlers)
            previous_tempdir = tempfile.tempdir
            tempfile.tempdir = cache
            try:
                import escpos.constants
                import escpos.printer
            finally:
                tempfile.tempdir = previous_tempdir
                for handler in list(root.handlers):
                    if handler not in handlers:
                        root.removeHandler(handler)
            _escpos = escpos
        return _escpos


def render_ticket(ticket: TicketPrint, settings: EscposSettings) -> bytes:
    """The ESC/POS bytes of one ticket for a printer of these settings (blocking: python-escpos).

    Layout, centred unless said: [补打], the hall's name (double size when it fits), the theme,
    the number very large, the priority mark, people ahead and the wait (left), the time
    issued (left), the QR code of the ticket's status page with a caption, the footer lines;
    then a cut, or a feed past the tear bar.
    """
    module = _load_escpos()
    printer = module.printer.Dummy(profile=settings.escpos_profile)
    columns = PAPER_COLUMNS[settings.paper_width]

    def lines(text: str, size: int = 1) -> None:
        for line in wrap_text(text, columns // size):
            data = encode_text(line + "\n", settings.encoding, chinese_mode=settings.chinese_mode)
            printer._raw(data)

    def style(align: str, size: int, *, bold: bool) -> None:
        printer.set(align=align, bold=bold, custom_size=True, width=size, height=size)

    def fitting(text: str, size: int) -> int:
        return size if text_columns(text) * size <= columns else 1

    printer.hw("INIT")
    if ticket.reprint:
        style("center", 1, bold=True)
        lines("【补打】")
    size = fitting(ticket.hall_name, 2)
    style("center", size, bold=True)
    lines(ticket.hall_name, size)
    style("center", 1, bold=False)
    lines(ticket.theme_name)
    size = max(1, min(_NUMBER_SIZE[settings.paper_width], columns // text_columns(ticket.number)))
    style("center", size, bold=True)
    lines(ticket.number, size)
    if ticket.priority_mark:
        size = fitting(ticket.priority_mark, 2)
        style("center", size, bold=True)
        lines(ticket.priority_mark, size)
    style("left", 1, bold=False)
    if ticket.people_ahead is not None:
        lines(f"前面等候：{ticket.people_ahead} 人")
    if ticket.wait_minutes is not None:
        lines(f"预计等候：约 {ticket.wait_minutes} 分钟")
    lines(f"{ticket.time_label}：{ticket.issued_at}")
    if ticket.qr_url:
        printer.set(align="center")
        printer.qr(
            ticket.qr_url,
            ec=module.constants.QR_ECLEVEL_M,
            size=settings.qr_module_size,
            native=True,
        )
        lines(ticket.qr_caption)
    if ticket.footer:
        style("center", 1, bold=False)
        lines(ticket.footer)
    if settings.cutter:
        printer.cut()
    else:
        printer.print_and_feed(_FEED_LINES)
    return bytes(printer.output)


# --- links, by the profile's transport --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Transport:
    """How a printer on one kind of transport is reached, and how its return is noticed."""

    make: Callable[[DeviceConfig, EscposSettings], ByteLink]
    present: Callable[[ByteLink], bool]


def _require_port(config: DeviceConfig) -> str:
    if not config.port:
        raise DeviceLost(f"{config.id}: no port in the hall config")
    return config.port


def _serial_link(config: DeviceConfig, settings: EscposSettings) -> ByteLink:
    line = config.profile.serial or SerialSettings()
    params = SerialParams(
        _require_port(config), line.baudrate, line.bytesize, line.parity, line.stopbits
    )
    return SerialLink(params, name=config.id)


def _tcp_link(config: DeviceConfig, settings: EscposSettings) -> ByteLink:
    try:
        return TcpLink(_require_port(config), name=config.id)
    except ValueError as exc:
        raise DeviceLost(str(exc)) from exc


def _usb_link(config: DeviceConfig, settings: EscposSettings) -> ByteLink:
    try:
        return UsbPrinterLink(
            path=config.port or None,
            vendor_id=settings.vendor_id,
            product_id=settings.product_id,
            name=config.id,
        )
    except ValueError as exc:
        raise DeviceLost(f"{config.id}: {exc}") from exc


def _serial_present(link: ByteLink) -> bool:
    return port_present(link.params.url) if isinstance(link, SerialLink) else True


def _usb_present(link: ByteLink) -> bool:
    return link.present() if isinstance(link, UsbPrinterLink) else True


_TRANSPORTS: Mapping[str, _Transport] = MappingProxyType(
    {
        "serial": _Transport(_serial_link, _serial_present),
        "tcp": _Transport(_tcp_link, lambda _link: True),
        "usb": _Transport(_usb_link, _usb_present),
    }
)


class _PrinterPort:
    """The supervised side of the printer: open its link, read everything it says, close."""

    def __init__(
        self,
        printer: EscposPrinter,
        open_link: Callable[[], ByteLink],
        present: Callable[[ByteLink], bool],
    ) -> None:
        self.name = printer.id
        self._printer = printer
        self._open_link = open_link
        self._present = present
        self._link: ByteLink | None = None

    async def connect(self) -> None:
        printer = self._printer
        if self._link is None:
            self._link = self._open_link()
        try:
            await self._link.open(printer.config.profile.timeouts.open_s)
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc
        printer._link_up(self._link)

    async def serve(self) -> None:
        link = self._link
        assert link is not None  # serve() follows a successful connect()
        printer = self._printer
        poll = asyncio.create_task(printer._poll(), name=f"printer-status:{printer.id}")
        try:
            while True:
                try:
                    data = await link.read(_READ_WAIT_S)
                except LinkTimeout:
                    continue
                except TransportError as exc:
                    raise DeviceLost(str(exc)) from exc
                printer._received(data)
        finally:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll

    async def disconnect(self) -> None:
        self._printer._link_down()
        if self._link is not None:
            await self._link.close()

    def present(self) -> bool:
        return self._link is None or self._present(self._link)


class EscposPrinter(SupervisedDevice):
    """A ticket printer speaking ESC/POS over its own serial, TCP or USB link."""

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        open_link: Callable[[], ByteLink] | None = None,
    ) -> None:
        super().__init__(config, context)
        settings = config.profile.codec
        assert isinstance(settings, EscposSettings)
        self.settings = settings
        self.status: PrinterStatus | None = None  # the last status the printer gave
        self.printed = 0  # tickets confirmed since start
        self.unexpected_bytes = 0  # bytes that answer nothing we asked (line noise, ASB)
        self._link: ByteLink | None = None
        self._lock = asyncio.Lock()  # one job or status poll at a time
        self._status_replies: deque[int] = deque()
        self._markers_answered = 0
        self._arrived = asyncio.Event()
        # A ticket was sent but not confirmed: the printer may still answer it.
        self._unsure = False
        self._ever_answered = False
        self._executor: ThreadPoolExecutor | None = None
        if open_link is None:
            transport = _TRANSPORTS[config.profile.transport]
            port = _PrinterPort(self, self._transport_link, transport.present)
        else:
            port = _PrinterPort(self, open_link, lambda _link: True)
        self.supervisor = Supervisor(port, self._on_link)

    def _transport_link(self) -> ByteLink:
        return _TRANSPORTS[self.config.profile.transport].make(self.config, self.settings)

    # --- what the kiosk and the hub read ---------------------------------------------------

    @property
    def paper(self) -> str:
        """ "ok", "low" or "out" as the printer last said; "unknown" while it does not answer."""
        if self.status is None or self.health.state is DeviceState.LOST:
            return "unknown"
        return self.status.paper_level

    @property
    def can_print(self) -> bool:
        """Reachable, paper in, cover closed and no error: worth sending a ticket to."""
        return self.ready and self.status is not None and self.status.can_print

    def render_bytes(self, ticket: TicketPrint) -> bytes:
        """The bytes this printer is sent for `ticket` (blocking: python-escpos)."""
        return render_ticket(ticket, self.settings)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start keeping the link up; load python-escpos in the printer's thread meanwhile."""
        self._worker().submit(self._warm_up)
        self.supervisor.start()

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"escpos {self.id}")
        return self._executor

    def _warm_up(self) -> None:
        """(Printer's thread) Import python-escpos and check the profile's capability name, so
        the first ticket is not slowed by the import and a wrong name is logged at start."""
        try:
            _load_escpos().printer.Dummy(profile=self.settings.escpos_profile)
        except Exception:
            log.exception(
                "printer_layout_unusable", device=self.id, profile=self.settings.escpos_profile
            )

    async def stop(self) -> None:
        """Stop the supervisor (closing the link) and the printer's thread."""
        await super().stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _on_link(self, state: DeviceState, reason: str | None) -> None:
        if state is DeviceState.READY:
            # The link is open; the printer is ready once it answers the first status poll.
            return
        if state is DeviceState.LOST:
            self.status = None
        self.set_state(state, reason)

    def _link_up(self, link: ByteLink) -> None:
        self._link = link
        self._status_replies.clear()

    def _link_down(self) -> None:
        self._link = None
        self._arrived.set()  # a print waiting for its confirmation gives up now

    # --- bytes from the printer ------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        at = self.context.clock()
        for byte in data:
            if is_status_reply(byte):
                self._status_replies.append(byte)
            elif is_marker_reply(byte):
                self._markers_answered += 1
            else:
                self.unexpected_bytes += 1
                continue
            self.health.seen(at, bytes((byte,)))
        self._arrived.set()

    def _answered_beyond(self, count: int) -> bool:
        """More than `count` GS r 1 answers have come since the printer was created."""
        return self._markers_answered > count

    async def _until(self, done: Callable[[], bool], link: ByteLink, deadline: float) -> bool:
        """Wait until done() (True), the deadline passes or the link goes (False)."""
        while not done():
            if self._link is not link or link.state is not LinkState.UP:
                return False
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                return done()
        return True

    async def _ask(self, which: StatusQuery, link: ByteLink) -> int | None:
        """One status byte (DLE EOT `which`), or None if none came in time."""
        timeout = self.settings.status_timeout_s
        self._status_replies.clear()
        query = status_query(which)
        await link.write(query, timeout)
        self.health.sent(query)
        deadline = asyncio.get_running_loop().time() + timeout
        if await self._until(lambda: bool(self._status_replies), link, deadline):
            return self._status_replies.popleft()
        return None

    async def _read_status(self, link: ByteLink) -> PrinterStatus | None:
        """Ask DLE EOT 1, 2 and 4 (and 3 after an error) and take the answers into health;
        None (and LOST) if the printer does not answer."""
        replies: list[int] = []
        for which in (StatusQuery.PRINTER, StatusQuery.OFFLINE_CAUSE, StatusQuery.ROLL_PAPER):
            reply = await self._ask(which, link)
            if reply is None:
                self._silent()
                return None
            replies.append(reply)
        errors = None
        if OfflineCause.from_byte(replies[1]).error:
            errors = await self._ask(StatusQuery.ERROR_CAUSE, link)
        status = PrinterStatus.from_replies(replies[0], replies[1], replies[2], errors)
        self._take(status)
        return status

    def _silent(self) -> None:
        self.status = None
        self.set_state(DeviceState.LOST, "no answer to status query")

    def _take(self, status: PrinterStatus) -> None:
        """Health from a status: READY, or ALERT with the problem ("paper low", "paper out")."""
        before = self.status.problem if self.status is not None else None
        # Silent, or its link gone and open again (CONNECTING): an answer now is a return.
        was_away = not self.ready
        self.status = status
        problem = status.problem
        if was_away and self._ever_answered:
            self.health.reconnects += 1
        self._ever_answered = True
        state = DeviceState.READY if problem is None else DeviceState.ALERT
        unchanged = self.health.state is state
        self.set_state(state, problem)
        if unchanged and problem != before:
            # Same state, new reason ("paper low" became "paper out"): the hub hears of it.
            log.info("printer_status", device=self.id, problem=problem)
            self.context.state_changed(self)

    async def _poll(self) -> None:
        """Status at once after the link opens, then every `ping_every` between tickets."""
        every = self.config.profile.timeouts.ping_every_s
        while True:
            link = self._link
            # While a ticket is printing it asks for the status itself.
            if link is not None and not self._lock.locked():
                async with self._lock:
                    with contextlib.suppress(TransportError):
                        # On a transport error the reader sees the link go; the supervisor acts.
                        await self._read_status(link)
            if not every:
                return
            await asyncio.sleep(every)

    # --- printing --------------------------------------------------------------------------

    async def print_ticket(self, ticket: TicketPrint) -> None:
        """Print `ticket`; returns only when the printer confirmed it (GS r 1 answered).

        Raises PrintFailed, without sending anything, when the printer is not connected,
        does not answer, or says it cannot print ("paper out", "cover open", ...); and after
        sending, when the ticket could not be sent in time or was not confirmed within the
        profile's print_timeout.
        """
        try:
            await self._print(ticket)
        except PrintFailed as exc:
            self.health.error(str(exc))
            log.warning("ticket_not_printed", device=self.id, number=ticket.number, reason=str(exc))
            raise

    async def print_test(self) -> TestFired:
        """A technician's test ticket ("测试 TEST"), printed and confirmed like an applicant's;
        PrintFailed as print_ticket."""
        # The box's own clock and zone, said outright: a test ticket checks the printer, and
        # the printer does not know the hall's time zone (an applicant's ticket gets hall time).
        issued = time.strftime("%Y-%m-%d %H:%M %z", time.localtime(self.context.clock()))
        profile = self.config.profile
        ticket = TicketPrint(
            hall_name=TEST_TEXT,
            theme_name="打印测试 Print test",
            number="TEST",
            priority_mark=None,
            people_ahead=None,
            wait_minutes=None,
            issued_at=issued,
            qr_url=None,
            footer=f"{self.id} · {profile.id}\n中文打印正常 Chinese text OK",
        )
        await self.print_ticket(ticket)
        return TestFired("print", "printed a test ticket; the printer confirmed it")

    async def _print(self, ticket: TicketPrint) -> None:
        settings = self.settings
        data = await self._render(ticket)
        try:
            async with asyncio.timeout(settings.print_timeout_s):
                await self._lock.acquire()
        except TimeoutError:
            raise PrintFailed("printer busy with another ticket") from None
        try:
            link = self._link
            if link is None or link.state is not LinkState.UP:
                reason = self.health.last_error or "no link"
                raise PrintFailed(f"printer not connected ({reason})")
            try:
                await self._send(data, link)
            except TransportError as exc:
                raise PrintFailed(f"printer link failed ({exc})") from exc
        finally:
            self._lock.release()
        self.printed += 1
        log.info("ticket_printed", device=self.id, number=ticket.number, bytes=len(data))

    async def _send(self, data: bytes, link: ByteLink) -> None:
        """Under the lock: status, resync if needed, the ticket and its confirmation."""
        settings = self.settings
        status = await self._read_status(link)
        if status is None:
            raise PrintFailed("no answer to status query")
        if not status.can_print:
            raise PrintFailed(status.problem or "printer cannot print")
        loop = asyncio.get_running_loop()
        if self._unsure:
            await self._resync(link, loop.time() + settings.print_timeout_s)
        deadline = loop.time() + settings.print_timeout_s
        start = self._markers_answered
        self._unsure = True  # from the first byte on, a late answer may come
        job = data + PROCESSED_MARKER
        try:
            await link.write(job, max(0.0, deadline - loop.time()))
        except LinkTimeout as exc:
            raise PrintFailed(f"ticket not sent in time ({exc})") from exc
        self.health.sent(job)
        if not await self._until(functools.partial(self._answered_beyond, start), link, deadline):
            if self._link is not link or link.state is not LinkState.UP:
                raise PrintFailed("printer link lost before the ticket was confirmed")
            waited = settings.print_timeout_s
            raise PrintFailed(f"no confirmation from the printer within {waited:g} s")
        self._unsure = False
        # Printed. The paper after it ("paper low", or out) is asked once the kiosk has its
        # answer: a printed ticket must not wait for (or be timed out by) one more round trip.
        self.spawn(self._paper_after_print(link), "printer-paper")

    async def _paper_after_print(self, link: ByteLink) -> None:
        """Ask the roll paper sensor after a ticket, so health shows paper low or out at once."""
        async with self._lock:
            if self._link is not link:
                return
            try:
                paper = await self._ask(StatusQuery.ROLL_PAPER, link)
            except TransportError:
                return  # the reader sees the link go
            if paper is None:
                self._silent()
            elif self.status is not None:
                self._take(dataclasses.replace(self.status, paper=RollPaper.from_byte(paper)))

    async def _resync(self, link: ByteLink, deadline: float) -> None:
        """Flush out late answers to an unconfirmed ticket: a lone GS r 1, then quiet."""
        start = self._markers_answered
        await link.write(PROCESSED_MARKER, self.settings.status_timeout_s)
        self.health.sent(PROCESSED_MARKER)
        if not await self._until(functools.partial(self._answered_beyond, start), link, deadline):
            raise PrintFailed("the printer has not finished the last unconfirmed ticket")
        settle = self.settings.status_timeout_s
        loop = asyncio.get_running_loop()
        while True:
            answered = functools.partial(self._answered_beyond, self._markers_answered)
            if not await self._until(answered, link, loop.time() + settle):
                break
        self._unsure = False

    async def _render(self, ticket: TicketPrint) -> bytes:
        """render_bytes in the printer's own thread."""
        lost = substitutions(_ticket_text(ticket), self.settings.encoding)
        if lost:
            log.warning("ticket_characters_substituted", device=self.id, characters="".join(lost))
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_RENDER_TIMEOUT_S):
                return await loop.run_in_executor(self._worker(), self.render_bytes, ticket)
        except TimeoutError:
            raise PrintFailed("ticket layout took too long") from None
        except Exception as exc:
            # python-escpos raises its own errors too: whatever it is, nothing was printed.
            raise PrintFailed(f"ticket layout failed ({type(exc).__name__}: {exc})") from exc


def _ticket_text(ticket: TicketPrint) -> str:
    parts = (ticket.hall_name, ticket.theme_name, ticket.number, ticket.priority_mark or "")
    return "".join((*parts, ticket.footer))
