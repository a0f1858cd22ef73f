"""Serial ports as byte links: device paths and socket:// on the loop, rfc2217:// on a thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import serial
import serial_asyncio_fast

from .base import ByteLink, LinkState
from .errors import LinkDown, LinkTimeout
from .threads import post, settle

# Unread input beyond this pauses the port (the kernel buffers the rest, then flow control).
_READ_HIGH_WATER = 256 * 1024
# close() gives the port this long to let go; a stuck driver must not stall a shutdown.
_CLOSE_GRACE_S = 3.0
# The rfc2217 thread wakes this often to notice close().
_THREAD_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class SerialParams:
    """Where a serial device is and how its line is set."""

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1


def _scheme(url: str) -> str:
    """ "" for a device path, else the URL scheme ("socket", "rfc2217", ...)."""
    return urllib.parse.urlsplit(url).scheme if "://" in url else ""


def port_present(url: str) -> bool:
    """True if a device path exists (symlinks followed); True for URLs (reconnect decides)."""
    if _scheme(url):
        return True
    return os.path.exists(url)


class _Inbox(asyncio.Protocol):
    """Collects what the port delivers and notices when it goes away."""

    def __init__(self, loop: asyncio.AbstractEventLoop, label: str) -> None:
        self.label = label
        self.buffer = bytearray()
        self.changed = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost: str | None = None
        self.gone: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self.attach(transport)

    def attach(self, transport: asyncio.Transport) -> None:
        """Use transport for writes: a write is done once the port has taken every byte."""
        if self.transport is not transport:
            self.transport = transport
            transport.set_write_buffer_limits(high=0)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.changed.set()
        if len(self.buffer) > _READ_HIGH_WATER and self.transport and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # the peer hung up: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            reason = f"{exc}" if exc is not None else "closed by the other end"
            self.lost = f"{self.label}: port lost ({reason})"
        self.changed.set()
        self.writable.set()
        if not self.gone.done():
            self.gone.set_result(None)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def take(self) -> bytes:
        """Everything received so far."""
        data = bytes(self.buffer)
        self.buffer.clear()
        if self.reading_paused and self.transport:
            self.reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()
        return data


class _PortThread:
    """An rfc2217 port owned by one thread: blocking reads, each posted to the loop."""

    def __init__(
        self, params: SerialParams, inbox: _Inbox, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._params = params
        self._inbox = inbox
        self._loop = loop
        self.opened: asyncio.Future[None] = loop.create_future()
        self.port: serial.SerialBase | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"serial {params.url}", daemon=True)

    def _run(self) -> None:
        params = self._params
        try:
            port = serial.serial_for_url(
                params.url,
                baudrate=params.baudrate,
                bytesize=params.bytesize,
                parity=params.parity,
                stopbits=params.stopbits,
                timeout=_THREAD_POLL_S,
            )
        except (OSError, ValueError, serial.SerialException) as exc:
            post(self._loop, settle, self.opened, exc)
            post(self._loop, self._inbox.connection_lost, exc)
            return
        self.port = port
        post(self._loop, settle, self.opened, None)
        error: Exception | None = None
        try:
            while not self.stop.is_set():
                data = port.read(port.in_waiting or 1)
                if data:
                    post(self._loop, self._inbox.data_received, data)
        except (OSError, serial.SerialException) as exc:
            error = exc
        finally:
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()
            post(self._loop, self._inbox.connection_lost, error)


class SerialLink(ByteLink):
    """One serial device: a path (/dev/serial/by-id/... preferred), socket:// or rfc2217://."""

    def __init__(self, params: SerialParams | str, *, name: str | None = None) -> None:
        self.params = params if isinstance(params, SerialParams) else SerialParams(params)
        self.name = name or self.params.url
        self._scheme = _scheme(self.params.url)
        if self._scheme not in ("", "socket", "rfc2217"):
            raise ValueError(f"{self.params.url}: only device paths, socket:// and rfc2217://")
        url = self.params.url
        self._label = url if self.name == url else f"{self.name} ({url})"
        self._inbox: _Inbox | None = None
        self._thread: _PortThread | None = None
        self._connecting = False

    @property
    def state(self) -> LinkState:
        """UP while the port is open and has not gone away."""
        if self._connecting:
            return LinkState.CONNECTING
        inbox = self._inbox
        if inbox is None or inbox.lost is not None:
            return LinkState.DOWN
        return LinkState.UP

    async def open(self, timeout: float) -> None:
        """Open the port; LinkDown if it is missing or refuses, LinkTimeout if it takes too long."""
        if self.state is LinkState.UP:
            return
        await self._release()
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop, self._label)
        self._connecting = True
        try:
            async with asyncio.timeout(timeout):
                if self._scheme == "rfc2217":
                    await self._open_thread(inbox, loop)
                elif self._scheme == "socket":
                    await serial_asyncio_fast.create_serial_connection(
                        loop, lambda: inbox, self.params.url
                    )
                else:
                    await self._open_device(inbox, loop)
                self._inbox = inbox
        except TimeoutError:
            self._abandon(inbox)
            raise LinkTimeout(f"{self._label}: open did not finish in {timeout:g} s") from None
        except (OSError, ValueError, serial.SerialException) as exc:
            self._abandon(inbox)
            raise LinkDown(f"{self._label}: cannot open ({exc})") from exc
        finally:
            self._connecting = False

    async def _open_device(self, inbox: _Inbox, loop: asyncio.AbstractEventLoop) -> None:
        params = self.params
        opening = loop.run_in_executor(
            None,
            functools.partial(
                serial.serial_for_url,
                params.url,
                baudrate=params.baudrate,
                bytesize=params.bytesize,
                parity=params.parity,
                stopbits=params.stopbits,
                exclusive=True,
            ),
        )
        try:
            port = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_late_port)
            raise
        try:
            transport, _ = await serial_asyncio_fast.connection_for_serial(
                loop, lambda: inbox, port
            )
        except BaseException:
            port.close()
            raise
        inbox.attach(transport)  # connection_made comes one loop turn later

    async def _open_thread(self, inbox: _Inbox, loop: asyncio.AbstractEventLoop) -> None:
        worker = _PortThread(self.params, inbox, loop)
        self._thread = worker
        worker.thread.start()
        await asyncio.shield(worker.opened)

    def _abandon(self, inbox: _Inbox) -> None:
        """Let go of a half-made connection after a failed or timed-out open."""
        transport = inbox.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        worker = self._thread
        if worker is not None:
            worker.stop.set()
            if not worker.opened.done():
                worker.opened.cancel()
            self._thread = None
        inbox.lost = inbox.lost or f"{self._label}: open failed"

    async def read(self, timeout: float) -> bytes:
        """What has arrived (>= 1 byte); LinkTimeout if nothing came, LinkDown if the port went."""
        inbox = self._require_inbox()
        try:
            async with asyncio.timeout(timeout):
                while not inbox.buffer:
                    if inbox.lost is not None:
                        raise LinkDown(inbox.lost)
                    inbox.changed.clear()
                    await inbox.changed.wait()
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: nothing received in {timeout:g} s") from None
        return inbox.take()

    async def write(self, data: bytes, timeout: float) -> None:
        """Hand all of data to the port; LinkTimeout if it cannot take it in time."""
        inbox = self._require_inbox()
        if inbox.lost is not None:
            raise LinkDown(inbox.lost)
        if not data:
            return
        try:
            async with asyncio.timeout(timeout):
                if self._thread is not None:
                    await self._write_from_thread(data)
                else:
                    transport = inbox.transport
                    if transport is None:
                        raise LinkDown(f"{self._label}: not open")
                    if transport.is_closing():
                        raise LinkDown(inbox.lost or f"{self._label}: port is closing")
                    transport.write(data)
                    await inbox.writable.wait()
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: write did not finish in {timeout:g} s") from None
        if inbox.lost is not None:
            raise LinkDown(inbox.lost)

    async def _write_from_thread(self, data: bytes) -> None:
        worker = self._thread
        port = worker.port if worker is not None else None
        if port is None:
            raise LinkDown(f"{self._label}: not open")
        try:
            await asyncio.get_running_loop().run_in_executor(None, port.write, data)
        except (OSError, serial.SerialException) as exc:
            raise LinkDown(f"{self._label}: write failed ({exc})") from exc

    def _require_inbox(self) -> _Inbox:
        inbox = self._inbox
        if inbox is None:
            raise LinkDown(f"{self._label}: not open")
        return inbox

    async def close(self) -> None:
        """Close the port and wait (briefly) until it is released; calling it again does nothing."""
        await self._release()

    async def _release(self) -> None:
        inbox, worker = self._inbox, self._thread
        self._inbox = None
        self._thread = None
        if inbox is None:
            return
        if inbox.lost is None:
            inbox.lost = f"{self._label}: closed"
        inbox.changed.set()
        inbox.writable.set()
        if worker is not None:
            worker.stop.set()
        elif inbox.transport is not None and not inbox.transport.is_closing():
            inbox.transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_GRACE_S):
                await asyncio.shield(inbox.gone)
        if worker is not None and inbox.gone.done():
            await asyncio.get_running_loop().run_in_executor(None, worker.thread.join, 1.0)


def _close_late_port(opening: asyncio.Future[Any]) -> None:
    """Close a port whose open finished after the caller stopped waiting."""
    if opening.cancelled() or opening.exception() is not None:
        return
    with contextlib.suppress(OSError, serial.SerialException):
        opening.result().close()
