"""Key input devices: keyboards read with evdev under an exclusive grab, and HID pads via pyusb."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
from collections.abc import Callable
from typing import Any

import evdev
import usb.backend
import usb.core
import usb.util
from evdev import ecodes

from .base import LinkState
from .errors import LinkDown, LinkTimeout
from .threads import post, settle

_KEY_UP, _KEY_DOWN = 0, 1  # evdev key values: 0 up, 1 down, 2 auto-repeat
# The HID reader thread wakes this often to notice close().
_HID_READ_TIMEOUT_MS = 100
_HID_JOIN_S = 1.0
# What HidKeys opens pads through when given no backend; None: pyusb's own choice (libusb).
_default_usb_backend: usb.backend.IBackend | None = None


def set_default_usb_backend(backend: usb.backend.IBackend | None) -> None:
    """Make `backend` the USB of every HidKeys opened from now on without one; None: libusb."""
    global _default_usb_backend
    _default_usb_backend = backend


def default_usb_backend() -> usb.backend.IBackend | None:
    """The backend set by set_default_usb_backend(), or None (pyusb picks libusb)."""
    return _default_usb_backend


def key_name(code: int) -> str:
    """The kernel's name for a key code, e.g. 59 -> "KEY_F1"; unknown codes -> "KEY_<code>"."""
    names = ecodes.KEY.get(code) or ecodes.BTN.get(code)
    if names is None:
        return f"KEY_{code}"
    if isinstance(names, str):
        return names
    # Codes with aliases: prefer a real key name over a range marker.
    return next((n for n in names if n != "KEY_MIN_INTERESTING"), names[0])


class _Presence:
    """State, the on_state callback and wait_down(), shared by both key readers."""

    def __init__(self, name: str, on_state: Callable[[LinkState], None] | None) -> None:
        self.name = name
        self._on_state = on_state
        self._state = LinkState.DOWN
        self._down_reason = f"{name}: not open"
        self._down: asyncio.Event | None = None

    @property
    def state(self) -> LinkState:
        """UP from a successful open() until the device goes away or close()."""
        return self._state

    def _set_state(self, state: LinkState, reason: str = "") -> None:
        if state is LinkState.DOWN:
            self._down_reason = reason or self._down_reason
            if self._down is not None:
                self._down.set()
        elif state is LinkState.UP:
            self._down = asyncio.Event()
        if state is not self._state:
            self._state = state
            if self._on_state is not None:
                self._on_state(state)

    async def wait_down(self, timeout: float) -> None:
        """Raise the LinkDown that ends the link once it ends; LinkTimeout if still up by then."""
        down = self._down
        if self._state is LinkState.UP and down is not None:
            try:
                async with asyncio.timeout(timeout):
                    await down.wait()
            except TimeoutError:
                raise LinkTimeout(f"{self.name}: still up after {timeout:g} s") from None
        raise LinkDown(self._down_reason)


class EvdevKeys(_Presence):
    """A keyboard-like pad or scanner, grabbed so its keys never reach the kiosk browser."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        on_key: Callable[[str], None],
        on_release: Callable[[str], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
    ) -> None:
        super().__init__(os.fspath(path), on_state)
        self.path = os.fspath(path)
        self._on_key = on_key
        # Scanners need releases too: a shift held over several characters.
        self._on_release = on_release
        self._device: evdev.InputDevice[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self, timeout: float) -> None:
        """Open and grab the device (no-op if up); LinkDown if it is missing, not an input device
        or grabbed by another program."""
        if self._device is not None:
            return
        try:
            device = evdev.InputDevice(self.path)
        except OSError as exc:
            raise LinkDown(f"{self.name}: cannot open input device ({exc})") from exc
        try:
            device.grab()
        except OSError as exc:
            device.close()
            busy = " (grabbed by another program)" if exc.errno == errno.EBUSY else ""
            raise LinkDown(f"{self.name}: cannot grab{busy} ({exc})") from exc
        loop = asyncio.get_running_loop()
        loop.add_reader(device.fd, self._readable)
        self._device, self._loop = device, loop
        self._set_state(LinkState.UP)

    def _readable(self) -> None:
        device = self._device
        if device is None:
            return
        try:
            events = list(device.read())
        except BlockingIOError:
            return
        except OSError as exc:  # ENODEV: unplugged
            self._release(ungrab=False)
            self._set_state(LinkState.DOWN, f"{self.name}: input device gone ({exc})")
            return
        for event in events:
            if event.type != ecodes.EV_KEY:
                continue
            if event.value == _KEY_DOWN:
                self._on_key(key_name(event.code))
            elif event.value == _KEY_UP and self._on_release is not None:
                self._on_release(key_name(event.code))

    def _release(self, *, ungrab: bool) -> None:
        device, loop = self._device, self._loop
        self._device = self._loop = None
        if device is None:
            return
        if loop is not None:
            loop.remove_reader(device.fd)
        if ungrab:
            with contextlib.suppress(OSError):
                device.ungrab()
        with contextlib.suppress(OSError):
            device.close()

    async def close(self) -> None:
        """Ungrab and close (the keys go back to the desktop); calling it again does nothing."""
        if self._device is not None:
            self._release(ungrab=True)
            self._set_state(LinkState.DOWN, f"{self.name}: closed")


class HidKeys(_Presence):
    """A USB HID pad read with pyusb on its own thread; each input report goes to on_report.

    `backend` is the pyusb backend to find the pad with; None: the default backend at each
    open (see set_default_usb_backend), and pyusb's choice (libusb) when none is set.
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        *,
        on_report: Callable[[bytes], None],
        on_state: Callable[[LinkState], None] | None = None,
        interface: int = 0,
        backend: usb.backend.IBackend | None = None,
    ) -> None:
        super().__init__(f"usb {vendor_id:04x}:{product_id:04x}", on_state)
        self.vendor_id = vendor_id
        self.product_id = product_id
        self._on_report = on_report
        self._interface = interface
        self._backend = backend  # None: the default backend at each open
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def present(self) -> bool:
        """Whether a device with the pad's vendor and product id is on the bus (claimed or not).

        Blocking but brief (pyusb lists the bus; libusb keeps that list from hot-plug events):
        meant for polling while the pad is lost, so that a replug is noticed at once.
        """
        backend = self._backend if self._backend is not None else _default_usb_backend
        try:
            found = usb.core.find(
                idVendor=self.vendor_id, idProduct=self.product_id, backend=backend
            )
        except (usb.core.USBError, usb.core.NoBackendError):
            return False
        return found is not None

    async def open(self, timeout: float) -> None:
        """Find and claim the pad, then start reading (no-op if up); LinkDown if it is not there."""
        if self._state is LinkState.UP:
            return
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        stop = threading.Event()
        backend = self._backend if self._backend is not None else _default_usb_backend
        thread = threading.Thread(
            target=self._run, args=(loop, opened, stop, backend), name=self.name, daemon=True
        )
        self._stop, self._thread = stop, thread
        self._set_state(LinkState.CONNECTING)
        thread.start()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(opened)
        except TimeoutError:
            stop.set()
            opened.cancel()  # the thread finds it settled and lets the pad go
            self._set_state(LinkState.DOWN, f"{self.name}: open timed out")
            raise LinkTimeout(f"{self.name}: open did not finish in {timeout:g} s") from None
        except LinkDown as exc:
            self._set_state(LinkState.DOWN, str(exc))
            raise
        except asyncio.CancelledError:
            stop.set()  # the thread lets the pad go (within a read timeout) and ends
            opened.cancel()
            self._set_state(LinkState.DOWN, f"{self.name}: open cancelled")
            raise
        self._set_state(LinkState.UP)

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        opened: asyncio.Future[None],
        stop: threading.Event,
        backend: usb.backend.IBackend | None,
    ) -> None:
        try:
            device, endpoint, detached = self._claim(backend)
        except LinkDown as exc:
            post(loop, settle, opened, exc)
            return
        post(loop, settle, opened, None)
        reason = f"{self.name}: closed"
        try:
            while not stop.is_set():
                try:
                    report = endpoint.read(endpoint.wMaxPacketSize, _HID_READ_TIMEOUT_MS)
                except usb.core.USBTimeoutError:
                    continue
                if not stop.is_set():
                    post(loop, self._on_report, bytes(report))
        except usb.core.USBError as exc:
            reason = f"{self.name}: {_usb_problem(exc)}"
        finally:
            self._unclaim(device, detached)
        if not stop.is_set():
            post(loop, self._lost, stop, reason)

    def _claim(self, backend: usb.backend.IBackend | None) -> tuple[Any, Any, bool]:
        """Find the pad, take it from the kernel's HID driver and find its IN endpoint."""
        try:
            device = usb.core.find(
                idVendor=self.vendor_id, idProduct=self.product_id, backend=backend
            )
        except usb.core.NoBackendError as exc:
            raise LinkDown(f"{self.name}: no USB library available ({exc})") from exc
        if device is None:
            raise LinkDown(f"{self.name}: not found")
        detached = False
        try:
            with contextlib.suppress(NotImplementedError):
                if device.is_kernel_driver_active(self._interface):
                    device.detach_kernel_driver(self._interface)
                    detached = True
            try:
                config = device.get_active_configuration()
            except usb.core.USBError:
                device.set_configuration()
                config = device.get_active_configuration()
            endpoint = usb.util.find_descriptor(
                config[(self._interface, 0)],
                custom_match=lambda e: (
                    usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
                ),
            )
            if endpoint is None:
                raise LinkDown(f"{self.name}: interface {self._interface} has no IN endpoint")
            usb.util.claim_interface(device, self._interface)
        except (usb.core.USBError, KeyError, IndexError) as exc:
            self._unclaim(device, detached)
            raise LinkDown(f"{self.name}: cannot claim ({_usb_problem(exc)})") from exc
        except LinkDown:
            self._unclaim(device, detached)
            raise
        return device, endpoint, detached

    def _unclaim(self, device: Any, detached: bool) -> None:
        with contextlib.suppress(usb.core.USBError):
            usb.util.release_interface(device, self._interface)
        if detached:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                device.attach_kernel_driver(self._interface)
        with contextlib.suppress(usb.core.USBError):
            usb.util.dispose_resources(device)

    def _lost(self, stop: threading.Event, reason: str) -> None:
        if stop is self._stop and not stop.is_set():
            self._set_state(LinkState.DOWN, reason)

    async def close(self) -> None:
        """Stop the reader thread (within about 0.1 s) and release the pad; idempotent."""
        thread = self._thread
        self._stop.set()
        self._thread = None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, _HID_JOIN_S)
            self._set_state(LinkState.DOWN, f"{self.name}: closed")


def _usb_problem(exc: Exception) -> str:
    if isinstance(exc, usb.core.USBError) and exc.errno == errno.ENODEV:
        return f"device gone ({exc})"
    return str(exc)
