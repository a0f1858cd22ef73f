"""USB printers as byte links, owned by one thread each: pyusb bulk endpoints, or /dev/usb/lp*.

Two ways to reach the same printer:

- by vendor and product id with pyusb: the thread takes the printer interface from the kernel's
  usblp driver, claims it, writes to its bulk OUT endpoint and polls its bulk IN endpoint;
- through the kernel's printer device (`/dev/usb/lp0`, or a udev symlink to it): the thread
  writes to it and reads the printer's answers from it (usblp passes both ways).

Either way every blocking call runs in the link's own thread; the loop hands it writes and
gets back what the printer sent, as SerialLink does for rfc2217.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import queue
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core
import usb.util

from .base import ByteLink, LinkState
from .errors import LinkDown, LinkTimeout
from .keys import default_usb_backend
from .threads import post, settle

PRINTER_CLASS = 7  # USB interface class of printers
# The thread looks for writes and close() this often while it waits for the printer.
_POLL_S = 0.05
_USB_READ_S = 0.01  # one bulk IN read at most: writes wait for it to end
_READ_SIZE = 4096
_JOIN_S = 1.0


@dataclass(eq=False, slots=True)
class _Write:
    """One write handed to the thread: its bytes, deadline (monotonic) and the caller's future."""

    data: bytes
    timeout_s: float
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(eq=False, slots=True)
class _Inbox:
    """What the thread delivered (loop thread only)."""

    buffer: bytearray = field(default_factory=bytearray)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    lost: str | None = None

    def data(self, chunk: bytes) -> None:
        self.buffer += chunk
        self.changed.set()

    def gone(self, reason: str) -> None:
        self.lost = self.lost or reason
        self.changed.set()


class _Port:
    """The thread's view of the printer: open, write, read a little, close. Blocking."""

    def open(self) -> None:
        """Open the printer (each kind of port its own way); OSError or USBError if it cannot."""
        raise NotImplementedError

    def write(self, data: bytes, timeout_s: float) -> None:
        """Write all of data within timeout_s (each kind of port its own way)."""
        raise NotImplementedError

    def read(self, wait_s: float) -> bytes:
        """Bytes from the printer, or b"" if none came within wait_s (or wake() was called)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Cut a read short (from any thread): a write is waiting."""

    def close(self) -> None:
        """Let the printer go (each kind of port its own way); calling it again does nothing."""
        raise NotImplementedError


class _LpPort(_Port):
    """The kernel's printer character device (usblp), non-blocking with select()."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        # A read waits on the device and on this pipe: a write never waits out a poll.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # wake() comes from the loop, close() from the thread: never write to a closed fd (its
        # number may already belong to another file).
        self._pipe_lock = threading.Lock()
        self._closed = False

    def open(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)

    def wake(self) -> None:
        with self._pipe_lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):  # full: already woken
                os.write(self._wake_w, b"!")

    def _fd(self) -> int:
        if self.fd is None:
            raise OSError(errno.EBADF, "not open")
        return self.fd

    def write(self, data: bytes, timeout_s: float) -> None:
        fd = self._fd()
        rest = memoryview(data)
        deadline = time.monotonic() + timeout_s
        while rest:
            try:
                rest = rest[os.write(fd, rest) :]
                continue
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(rest)} of {len(data)} bytes not taken")
            select.select([], [fd], [], min(left, _POLL_S))

    def read(self, wait_s: float) -> bytes:
        fd = self._fd()
        readable, _, _ = select.select([fd, self._wake_r], [], [], wait_s)
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 512)
        if fd not in readable:
            return b""
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return b""
        if not data:
            raise OSError(errno.ENODEV, "end of file: the printer went away")
        return data

    def close(self) -> None:
        fd, self.fd = self.fd, None
        with self._pipe_lock:
            ends = (fd,) if self._closed else (fd, self._wake_r, self._wake_w)
            self._closed = True
            for end in ends:
                if end is not None:
                    with contextlib.suppress(OSError):
                        os.close(end)


class _PyusbPort(_Port):
    """A printer found by its ids: the printer interface claimed, its bulk endpoints used."""

    def __init__(
        self, vendor_id: int, product_id: int, backend: usb.backend.IBackend | None
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.backend = backend
        self.device: Any = None
        self.interface = 0
        self.detached = False
        self.out_ep: Any = None
        self.in_ep: Any = None

    def open(self) -> None:
        device = usb.core.find(
            idVendor=self.vendor_id, idProduct=self.product_id, backend=self.backend
        )
        if device is None:
            raise OSError(errno.ENODEV, "not found")
        self.device = device
        try:
            try:
                config = device.get_active_configuration()
            except usb.core.USBError:
                device.set_configuration()
                config = device.get_active_configuration()
            interface = usb.util.find_descriptor(
                config, custom_match=lambda i: i.bInterfaceClass == PRINTER_CLASS
            )
            if interface is None:
                interface = config[(0, 0)]
            self.interface = interface.bInterfaceNumber
            with contextlib.suppress(NotImplementedError):
                if device.is_kernel_driver_active(self.interface):
                    device.detach_kernel_driver(self.interface)
                    self.detached = True
            self.out_ep = _bulk(interface, usb.util.ENDPOINT_OUT)
            self.in_ep = _bulk(interface, usb.util.ENDPOINT_IN)  # None: a one-way printer
            if self.out_ep is None:
                raise OSError(errno.ENOENT, f"interface {self.interface} has no bulk OUT endpoint")
            usb.util.claim_interface(device, self.interface)
        except BaseException:
            self.close()
            raise

    def write(self, data: bytes, timeout_s: float) -> None:
        # pyusb's timeout 0 means "for ever": never pass 0.
        self.out_ep.write(data, max(1, int(timeout_s * 1000)))

    def read(self, wait_s: float) -> bytes:
        if self.in_ep is None:
            time.sleep(wait_s)
            return b""
        # Short reads: a bulk read cannot be cut short, and a write waits for it to end.
        wait_ms = max(1, int(min(wait_s, _USB_READ_S) * 1000))
        try:
            data = self.in_ep.read(max(self.in_ep.wMaxPacketSize, 64), wait_ms)
        except usb.core.USBTimeoutError:
            return b""
        return bytes(data)

    def close(self) -> None:
        device, self.device = self.device, None
        if device is None:
            return
        with contextlib.suppress(usb.core.USBError):
            usb.util.release_interface(device, self.interface)
        if self.detached:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                device.attach_kernel_driver(self.interface)
        with contextlib.suppress(usb.core.USBError):
            usb.util.dispose_resources(device)


def _bulk(interface: Any, direction: int) -> Any:
    return usb.util.find_descriptor(
        interface,
        custom_match=lambda e: (
            usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            and usb.util.endpoint_direction(e.bEndpointAddress) == direction
        ),
    )


class UsbPrinterLink(ByteLink):
    """A USB printer: by `path` (/dev/usb/lp*) or by `vendor_id`/`product_id` through pyusb.

    `backend` is the pyusb backend (None: the default set with set_default_usb_backend, else
    libusb), read at each open.
    """

    def __init__(
        self,
        *,
        path: str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
        backend: usb.backend.IBackend | None = None,
        name: str | None = None,
    ) -> None:
        if path is None and (vendor_id is None or product_id is None):
            raise ValueError("a USB printer needs a device path or its vendor and product id")
        self.path = path
        self.vendor_id = vendor_id
        self.product_id = product_id
        self._backend = backend
        where = path if path is not None else f"usb {vendor_id:04x}:{product_id:04x}"
        self.name = name or where
        self._label = where if self.name == where else f"{self.name} ({where})"
        self._inbox: _Inbox | None = None
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: _Port | None = None  # the port the thread has open
        self._connecting = False

    @property
    def state(self) -> LinkState:
        """UP from a successful open() until the printer goes away or close()."""
        if self._connecting:
            return LinkState.CONNECTING
        inbox = self._inbox
        return LinkState.UP if inbox is not None and inbox.lost is None else LinkState.DOWN

    def present(self) -> bool:
        """Whether the printer is there now: its device node, or its ids on the USB bus.

        Blocking but brief (pyusb lists the bus): for polling while the printer is lost.
        """
        if self.path is not None:
            return os.path.exists(self.path)
        try:
            found = usb.core.find(
                idVendor=self.vendor_id, idProduct=self.product_id, backend=self._pick_backend()
            )
        except (usb.core.USBError, usb.core.NoBackendError):
            return False
        return found is not None

    def _pick_backend(self) -> usb.backend.IBackend | None:
        return self._backend if self._backend is not None else default_usb_backend()

    def _port(self) -> _Port:
        if self.path is not None:
            return _LpPort(self.path)
        assert self.vendor_id is not None  # __init__ refuses a link with neither
        assert self.product_id is not None
        return _PyusbPort(self.vendor_id, self.product_id, self._pick_backend())

    async def open(self, timeout: float) -> None:
        """Open the printer in a new thread; LinkDown if it is missing or busy, LinkTimeout."""
        if self.state is LinkState.UP:
            return
        await self.close()
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        inbox = _Inbox()
        port = self._port()
        stop = threading.Event()
        writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._run,
            args=(port, loop, opened, inbox, stop, writes),
            name=self.name,
            daemon=True,
        )
        self._stop, self._writes, self._thread = stop, writes, thread
        self._current = port
        self._connecting = True
        thread.start()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(opened)
        except TimeoutError:
            self._abandon()
            raise LinkTimeout(f"{self._label}: open did not finish in {timeout:g} s") from None
        except BaseException:
            self._abandon()
            raise
        finally:
            self._connecting = False
        self._inbox = inbox

    def _wake_thread(self) -> None:
        port = self._current
        if port is not None:
            port.wake()

    def _abandon(self) -> None:
        self._stop.set()
        self._writes.put(None)
        self._wake_thread()
        self._thread = None

    def _run(
        self,
        port: _Port,
        loop: asyncio.AbstractEventLoop,
        opened: asyncio.Future[None],
        inbox: _Inbox,
        stop: threading.Event,
        writes: queue.SimpleQueue[_Write | None],
    ) -> None:
        try:
            port.open()
        except (OSError, usb.core.USBError, usb.core.NoBackendError, ValueError) as exc:
            port.close()  # what open() made before it failed (the lp port's wake pipe)
            post(loop, settle, opened, LinkDown(f"{self._label}: cannot open ({exc})"))
            return
        post(loop, settle, opened, None)
        reason = f"{self._label}: closed"
        try:
            while not stop.is_set():
                self._write_pending(port, writes)
                if stop.is_set():
                    break
                data = port.read(_POLL_S)
                if data:
                    post(loop, inbox.data, data)
        except (OSError, usb.core.USBError) as exc:
            reason = f"{self._label}: printer gone ({exc})"
        finally:
            port.close()
            post(loop, inbox.gone, reason)
            _fail_writes(writes, reason)

    def _write_pending(self, port: _Port, writes: queue.SimpleQueue[_Write | None]) -> None:
        while True:
            try:
                job = writes.get_nowait()
            except queue.Empty:
                return
            if job is None:
                return
            error: BaseException | None = None
            try:
                port.write(job.data, job.timeout_s)
            except (TimeoutError, usb.core.USBTimeoutError) as exc:
                error = LinkTimeout(f"{self._label}: write did not finish ({exc})")
            except (OSError, usb.core.USBError) as exc:
                post(job.loop, settle, job.done, LinkDown(f"{self._label}: write failed ({exc})"))
                raise
            post(job.loop, settle, job.done, error)

    async def read(self, timeout: float) -> bytes:
        """What the printer sent (>= 1 byte); LinkTimeout if nothing came, LinkDown if gone."""
        inbox = self._inbox
        if inbox is None:
            raise LinkDown(f"{self._label}: not open")
        try:
            async with asyncio.timeout(timeout):
                while not inbox.buffer:
                    if inbox.lost is not None:
                        raise LinkDown(inbox.lost)
                    inbox.changed.clear()
                    await inbox.changed.wait()
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: nothing received in {timeout:g} s") from None
        data = bytes(inbox.buffer)
        inbox.buffer.clear()
        return data

    async def write(self, data: bytes, timeout: float) -> None:
        """Hand data to the printer's thread and wait until it is written; LinkTimeout if not."""
        inbox = self._inbox
        if inbox is None:
            raise LinkDown(f"{self._label}: not open")
        if inbox.lost is not None:
            raise LinkDown(inbox.lost)
        if not data:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._writes.put(_Write(data, timeout, done, loop))
        self._wake_thread()
        try:
            # The thread gives up at the same deadline; the margin lets its answer arrive.
            async with asyncio.timeout(timeout + 2 * _POLL_S):
                await asyncio.shield(done)
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: write did not finish in {timeout:g} s") from None

    async def close(self) -> None:
        """Stop the thread (within about 0.05 s) and let the printer go; idempotent."""
        thread, inbox = self._thread, self._inbox
        self._thread = self._inbox = None
        self._stop.set()
        self._writes.put(None)
        self._wake_thread()
        if inbox is not None:
            inbox.gone(f"{self._label}: closed")
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, _JOIN_S)


def _fail_writes(writes: queue.SimpleQueue[_Write | None], reason: str) -> None:
    """Answer every write still queued when the thread ends: the printer is gone."""
    while True:
        try:
            job = writes.get_nowait()
        except queue.Empty:
            return
        if job is not None:
            post(job.loop, settle, job.done, LinkDown(reason))
