"""A simulated USB bus, as a pyusb backend, with HID call pads that send real input reports.

There is no USB bus in CI (nor, often, on a demo box), and pyusb reaches hardware only through
a backend: `SimulatedUsbBus` is one (`usb.backend.IBackend`). HidKeys runs pyusb's real code
against it: find by vendor and product, detach the kernel's HID driver, claim interface 0, and
blocking interrupt reads of endpoint 0x81 that time out or fail the way libusb's do.

What the host sees follows libusb on Linux:

- A pad sends reports only to a program that has claimed it; reports sent while none has (the
  kernel's HID driver has it) never reach a pyusb reader, and release drops the unread ones.
- `unplug()` takes the pad off the enumeration; a read in progress, and every later call on a
  handle opened before, fails with `USBError` errno ENODEV (libusb's NO_DEVICE).
- `replug()` is a new device for the host: a new address, the kernel's driver bound again.
- A second claim of a claimed pad, or a claim while the kernel's driver holds it, is EBUSY.

Presses come from the event loop and reads from HidKeys's thread: one condition guards it all.
"""

from __future__ import annotations

import array
import collections
import contextlib
import errno
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, SimpleNamespace

import usb.backend
import usb.core

from hall_controller.profiles import DeviceConfig, HidPadSettings
from hall_controller.transports.keys import default_usb_backend, set_default_usb_backend

# libusb's return codes (usb.backend.libusb1), their errno values and messages.
_NO_DEVICE = (-4, errno.ENODEV, "No such device (it may have been disconnected)")
_NOT_FOUND = (-5, errno.ENOENT, "Entity not found")
_BUSY = (-6, errno.EBUSY, "Resource busy")
_TIMEOUT = (-7, errno.ETIMEDOUT, "Operation timed out")
_OVERFLOW = (-8, errno.EOVERFLOW, "Overflow")

IN_ENDPOINT = 0x81  # interface 0's interrupt IN endpoint
REPORT_SIZE = 8  # bytes per input report, as the profiled pads send
# Reports a claimed pad holds for a host that does not read them; older ones are lost.
_HELD_REPORTS = 64


def _usb_error(code: tuple[int, int, str]) -> usb.core.USBError:
    value, number, message = code
    kind = usb.core.USBTimeoutError if code is _TIMEOUT else usb.core.USBError
    error: usb.core.USBError = kind(message, value, number)
    return error


@dataclass(frozen=True, slots=True)
class _Attachment:
    """What enumerate_devices yields: one pad as plugged in once (a replug is a new one)."""

    pad: SimulatedHidPad
    plug: int
    address: int


@dataclass(eq=False, slots=True)
class _Handle:
    """An open device: valid while its pad stays plugged in."""

    pad: SimulatedHidPad
    plug: int
    claimed: set[int] = field(default_factory=set)


class SimulatedHidPad:
    """One HID pad on a simulated bus: press() sends a key-down report and then a key-up one."""

    def __init__(
        self,
        bus: SimulatedUsbBus,
        vendor_id: int,
        product_id: int,
        *,
        port: int,
        key_byte: int = 2,
        report_size: int = REPORT_SIZE,
        keys: Mapping[str, int] | None = None,
        label: str | None = None,
    ) -> None:
        if not 0 <= key_byte < report_size:
            raise ValueError(f"key byte {key_byte} is outside a {report_size}-byte report")
        self.bus = bus
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.port_number = port
        self.key_byte = key_byte
        self.report_size = report_size
        self.keys: Mapping[str, int] = MappingProxyType(dict(keys or {}))  # action -> key code
        self.label = label or f"{vendor_id:04x}:{product_id:04x}"
        self.log: list[str] = []  # what hosts did to it: open, detach driver 0, claim 0, ...
        self.read_threads: set[str] = set()  # names of the threads that read it
        # Guarded by bus.lock:
        self.address = 0
        self.plugged = False
        self._plug = 0
        self._driver_bound = True  # the kernel's HID driver, until a program detaches it
        self._claimed_by: _Handle | None = None
        self._reports: collections.deque[bytes] = collections.deque(maxlen=_HELD_REPORTS)

    def __repr__(self) -> str:
        state = f"bus {self.bus.number} address {self.address}" if self.plugged else "unplugged"
        return f"<SimulatedHidPad {self.label} {state}>"

    @property
    def claimed(self) -> bool:
        """Whether a program holds the pad now (its presses reach that program's reads)."""
        with self.bus.lock:
            return self._claimed_by is not None

    def press(self, key_code: int) -> bool:
        """Send the report of `key_code` held down, then the all-zero report of its release.

        False (nothing sent) when no program holds the pad: unplugged, or left to the kernel.
        """
        if not 1 <= key_code <= 0xFF:
            raise ValueError(f"a HID key code is 1 to 255, not {key_code}")
        down = bytearray(self.report_size)
        down[self.key_byte] = key_code
        return self.send(bytes(down), bytes(self.report_size))

    def press_key(self, action: str) -> bool:
        """Press the key the pad's profile gives this action ("call", "finish" ...); as press()."""
        code = self.keys.get(action)
        if code is None:
            raise KeyError(f"{self.label} has no {action!r} key (its keys: {', '.join(self.keys)})")
        return self.press(code)

    def send(self, *reports: bytes) -> bool:
        """Send raw input reports, each at most report_size bytes; as press()."""
        for report in reports:
            if len(report) > self.report_size:
                raise ValueError(f"a report is at most {self.report_size} bytes: {report.hex()}")
        with self.bus.lock:
            if self._claimed_by is None:
                return False
            self._reports.extend(reports)
            self.bus.lock.notify_all()
        return True

    def unplug(self) -> None:
        """Pull the pad out: gone from enumeration, and its open handles fail with ENODEV."""
        with self.bus.lock:
            if not self.plugged:
                return
            self.plugged = False
            self._claimed_by = None
            self._reports.clear()
            self.bus.lock.notify_all()

    def replug(self) -> None:
        """Plug the pad back in: the host enumerates it as a new device at a new address."""
        with self.bus.lock:
            if self.plugged:
                return
            self._plug += 1
            self.address = self.bus._next_address()
            self.plugged = True
            self._driver_bound = True


class SimulatedUsbBus(usb.backend.IBackend):  # type: ignore[misc]  # pyusb ships no types
    """A pyusb backend holding simulated HID pads; pass it as `backend` or attach() it."""

    def __init__(self, number: int = 1) -> None:
        super().__init__()
        self.number = number
        self.lock = threading.Condition()
        self._pads: list[SimulatedHidPad] = []
        self._last_address = 1  # the root hub's

    def _next_address(self) -> int:
        """The address the host gives the next device plugged in (2-127; 1 is the root hub)."""
        self._last_address = self._last_address + 1 if self._last_address < 127 else 2
        return self._last_address

    # --- the simulation's side -----------------------------------------------------------

    def add_hid_pad(
        self,
        vendor_id: int,
        product_id: int,
        *,
        key_byte: int = 2,
        report_size: int = REPORT_SIZE,
        keys: Mapping[str, int] | None = None,
        label: str | None = None,
    ) -> SimulatedHidPad:
        """Plug a HID pad into the next free port (pads of the same model may share the bus)."""
        with self.lock:
            pad = SimulatedHidPad(
                self,
                vendor_id,
                product_id,
                port=len(self._pads) + 1,
                key_byte=key_byte,
                report_size=report_size,
                keys=keys,
                label=label,
            )
            self._pads.append(pad)
        pad.replug()
        return pad

    @property
    def pads(self) -> tuple[SimulatedHidPad, ...]:
        """Every pad of the bus, plugged in or not, in the order added."""
        with self.lock:
            return tuple(self._pads)

    def pads_of(self, vendor_id: int, product_id: int) -> list[SimulatedHidPad]:
        """The pads of one model, in the order added."""
        return [p for p in self.pads if (p.vendor_id, p.product_id) == (vendor_id, product_id)]

    @contextlib.contextmanager
    def attached(self) -> Iterator[SimulatedUsbBus]:
        """This bus as the USB of every HidKeys opened without a backend, until the block ends."""
        previous = default_usb_backend()
        set_default_usb_backend(self)
        try:
            yield self
        finally:
            set_default_usb_backend(previous)

    # --- pyusb's side (usb.backend.IBackend) -----------------------------------------------

    def enumerate_devices(self) -> list[_Attachment]:
        """The pads plugged in now."""
        with self.lock:
            return [_Attachment(p, p._plug, p.address) for p in self._pads if p.plugged]

    def get_device_descriptor(self, dev: _Attachment) -> SimpleNamespace:
        """A full-speed device with one configuration (libusb answers from its cache)."""
        pad = dev.pad
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=8, idVendor=pad.vendor_id,
            idProduct=pad.product_id, bcdDevice=0x0100, iManufacturer=0, iProduct=0,
            iSerialNumber=0, bNumConfigurations=1, address=dev.address, bus=self.number,
            port_number=pad.port_number, port_numbers=(pad.port_number,), speed=2,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: _Attachment, config: int) -> SimpleNamespace:
        """Configuration 1, bus powered, one interface."""
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=34, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=50,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(
        self, dev: _Attachment, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        """Interface 0: HID class, no boot protocol (vendor-defined reports), one endpoint."""
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=1, bInterfaceClass=3, bInterfaceSubClass=0, bInterfaceProtocol=0,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(
        self, dev: _Attachment, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        """Endpoint 0x81: interrupt IN, one report per packet, polled every 10 ms."""
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError((ep, intf, alt, config))
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=IN_ENDPOINT, bmAttributes=0x03,
            wMaxPacketSize=dev.pad.report_size, bInterval=10, bRefresh=0, bSynchAddress=0,
            extra_descriptors=[],
        )  # fmt: skip

    def _alive(self, handle: _Handle | _Attachment) -> SimulatedHidPad:
        """The handle's pad if it is still the device the handle was opened on; ENODEV if not."""
        pad = handle.pad
        if not pad.plugged or pad._plug != handle.plug:
            raise _usb_error(_NO_DEVICE)
        return pad

    def open_device(self, dev: _Attachment) -> _Handle:
        """Open the pad; ENODEV if it has been unplugged since it was enumerated."""
        with self.lock:
            pad = self._alive(dev)
            pad.log.append("open")
            return _Handle(pad, dev.plug)

    def close_device(self, dev_handle: _Handle) -> None:
        """Close the handle (never fails, as libusb_close), giving up its claim."""
        with self.lock:
            pad = dev_handle.pad
            if pad._claimed_by is dev_handle:
                pad._claimed_by = None
                pad._reports.clear()
            pad.log.append("close")

    def get_configuration(self, dev_handle: _Handle) -> int:
        """The kernel configured the pad when it was plugged in: configuration 1."""
        with self.lock:
            self._alive(dev_handle)
            return 1

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        """Only configuration 1 exists."""
        with self.lock:
            pad = self._alive(dev_handle)
            if config_value != 1:
                raise _usb_error(_NOT_FOUND)
            pad.log.append(f"set configuration {config_value}")

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        """Only setting 0 of interface 0 exists."""
        with self.lock:
            self._alive(dev_handle)
            if (intf, altsetting) != (0, 0):
                raise _usb_error(_NOT_FOUND)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        """Claim interface 0; EBUSY while the kernel's driver or another handle has it."""
        with self.lock:
            pad = self._alive(dev_handle)
            if intf != 0:
                raise _usb_error(_NOT_FOUND)
            if pad._claimed_by is dev_handle:
                return
            if pad._driver_bound or pad._claimed_by is not None:
                raise _usb_error(_BUSY)
            pad._claimed_by = dev_handle
            dev_handle.claimed.add(intf)
            pad.log.append(f"claim {intf}")

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        """Release the claim (unread reports are dropped); ENODEV if the pad is gone."""
        with self.lock:
            pad = dev_handle.pad
            dev_handle.claimed.discard(intf)
            if pad._claimed_by is dev_handle:
                pad._claimed_by = None
                pad._reports.clear()
            self._alive(dev_handle)
            pad.log.append(f"release {intf}")

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        """Whether the kernel's HID driver has interface 0 (it does from each plug-in)."""
        with self.lock:
            return self._alive(dev_handle)._driver_bound

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """Take interface 0 from the kernel's driver; ENOENT if it has not got it."""
        with self.lock:
            pad = self._alive(dev_handle)
            if not pad._driver_bound:
                raise _usb_error(_NOT_FOUND)
            pad._driver_bound = False
            pad.log.append(f"detach driver {intf}")

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """Give interface 0 back to the kernel's driver; EBUSY while it is claimed or bound."""
        with self.lock:
            pad = self._alive(dev_handle)
            if pad._driver_bound or pad._claimed_by is not None:
                raise _usb_error(_BUSY)
            pad._driver_bound = True
            pad.log.append(f"attach driver {intf}")

    def intr_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        """Wait up to `timeout` ms (0: for ever) for the next report; USBTimeoutError if none
        came, ENODEV as soon as the pad is unplugged."""
        pad = dev_handle.pad
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        with self.lock:
            pad.read_threads.add(threading.current_thread().name)
            if ep != IN_ENDPOINT or intf != 0:
                raise _usb_error(_NOT_FOUND)
            while True:
                self._alive(dev_handle)
                if pad._claimed_by is dev_handle and pad._reports:
                    report = pad._reports.popleft()
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise _usb_error(_TIMEOUT)
                self.lock.wait(left)
        if len(report) > len(buff):
            raise _usb_error(_OVERFLOW)
        buff[: len(report)] = array.array("B", report)
        return len(report)


def bus_for_devices(devices: Iterable[DeviceConfig]) -> SimulatedUsbBus | None:
    """A simulated bus with one pad per HID pad of a hall config (its profile's ids, key byte
    and keys; labelled with the device id); None when the config has none."""
    bus = None
    for config in devices:
        settings = config.profile.codec
        if not isinstance(settings, HidPadSettings):
            continue
        if bus is None:
            bus = SimulatedUsbBus()
        keys: dict[str, int] = {}
        for code, action in sorted(settings.keys.items()):
            keys.setdefault(action, code)
        bus.add_hid_pad(
            settings.vendor_id,
            settings.product_id,
            key_byte=settings.key_byte,
            report_size=max(REPORT_SIZE, settings.key_byte + 1),
            keys=keys,
            label=config.id,
        )
    return bus
