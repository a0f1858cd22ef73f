"""Key readers: evdev keyboards under an exclusive grab, and HID pads through pyusb.

This machine has no uinput (no /dev/uinput, and the kernel has no uinput device), so no
virtual keyboard can be made: EvdevKeys meets a real missing device and a real non-input file,
and otherwise a stand-in for evdev.InputDevice whose descriptor is a pipe the loop watches.
pyusb cannot reach hardware here (no USB bus, no libusb): HidKeys runs the real pyusb code
against a backend that plays one HID pad.
"""

from __future__ import annotations

import array
import asyncio
import errno
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import usb.backend
import usb.core
from evdev import InputEvent, ecodes

from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.keys import EvdevKeys, HidKeys, key_name

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


def test_key_names_are_the_kernel_names() -> None:
    assert key_name(ecodes.KEY_F1) == "KEY_F1"
    assert key_name(ecodes.KEY_KP5) == "KEY_KP5"
    assert key_name(ecodes.KEY_MUTE) == "KEY_MUTE"  # code 113 also marks a range start
    assert key_name(0x21F) == "KEY_543"  # no name in the kernel headers


# EvdevKeys


async def test_a_missing_input_device_is_link_down_naming_it(tmp_path: Path) -> None:
    keys_seen: list[str] = []
    pad = EvdevKeys(tmp_path / "event9", on_key=keys_seen.append)
    with pytest.raises(LinkDown, match="event9"):
        await pad.open(timeout=1.0)
    assert pad.state is LinkState.DOWN


async def test_a_file_that_is_not_an_input_device_is_link_down(tmp_path: Path) -> None:
    not_a_keyboard = tmp_path / "event3"
    not_a_keyboard.write_bytes(b"")
    pad = EvdevKeys(not_a_keyboard, on_key=lambda key: None)
    with pytest.raises(LinkDown, match="event3"):
        await pad.open(timeout=1.0)


class FakeInputDevice:
    """Stands in for evdev.InputDevice: events are queued and signalled through a pipe."""

    made: ClassVar[list[FakeInputDevice]] = []
    grab_error: ClassVar[OSError | None] = None

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd, self._signal = os.pipe()
        os.set_blocking(self.fd, False)
        self.grabbed = False
        self.closed = False
        self._events: list[InputEvent] = []
        self._read_error: OSError | None = None
        FakeInputDevice.made.append(self)

    def grab(self) -> None:
        if FakeInputDevice.grab_error is not None:
            raise FakeInputDevice.grab_error
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def read(self) -> Iterator[InputEvent]:
        os.read(self.fd, 4096)  # BlockingIOError when nothing came, as evdev's read
        if self._read_error is not None:
            raise self._read_error
        events, self._events = self._events, []
        return iter(events)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
            os.close(self._signal)

    # what the test does to the "keyboard"

    def type(self, *events: tuple[int, int, int]) -> None:
        self._events.extend(InputEvent(0, 0, *event) for event in events)
        os.write(self._signal, b"!")

    def unplug(self) -> None:
        self._read_error = OSError(errno.ENODEV, "No such device")
        os.write(self._signal, b"!")


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeInputDevice]]:
    FakeInputDevice.made = []
    FakeInputDevice.grab_error = None
    monkeypatch.setattr("evdev.InputDevice", FakeInputDevice)
    yield FakeInputDevice
    for device in FakeInputDevice.made:
        device.close()


def down(code: int) -> tuple[int, int, int]:
    return (ecodes.EV_KEY, code, 1)


def up(code: int) -> tuple[int, int, int]:
    return (ecodes.EV_KEY, code, 0)


def repeat(code: int) -> tuple[int, int, int]:
    return (ecodes.EV_KEY, code, 2)


SYN = (ecodes.EV_SYN, ecodes.SYN_REPORT, 0)
SCAN = (ecodes.EV_MSC, ecodes.MSC_SCAN, 0x7003A)


async def test_key_downs_are_reported_by_name_and_repeats_and_ups_are_not(
    fake_evdev: type[FakeInputDevice],
) -> None:
    pressed: asyncio.Queue[str] = asyncio.Queue()
    pad = EvdevKeys("/dev/input/by-id/usb-pad-event-kbd", on_key=pressed.put_nowait)
    await pad.open(timeout=1.0)
    try:
        device = fake_evdev.made[0]
        assert device.grabbed  # the kiosk browser never sees these keys
        device.type(SCAN, down(ecodes.KEY_F1), SYN, repeat(ecodes.KEY_F1), repeat(ecodes.KEY_F1))
        device.type(up(ecodes.KEY_F1), SYN, down(ecodes.KEY_F2), up(ecodes.KEY_F2), SYN)
        device.type(down(ecodes.KEY_KPENTER), SYN)
        got = [await asyncio.wait_for(pressed.get(), timeout=1.0) for _ in range(3)]
        assert got == ["KEY_F1", "KEY_F2", "KEY_KPENTER"]
        await asyncio.sleep(0.02)
        assert pressed.empty()
    finally:
        await pad.close()
    assert (device.grabbed, device.closed) == (False, True)


async def test_an_unplugged_keyboard_is_link_down(fake_evdev: type[FakeInputDevice]) -> None:
    states: list[LinkState] = []
    pad = EvdevKeys("/dev/input/event5", on_key=lambda key: None, on_state=states.append)
    await pad.open(timeout=1.0)
    with pytest.raises(LinkTimeout):
        await pad.wait_down(timeout=0.05)
    fake_evdev.made[0].unplug()
    with pytest.raises(LinkDown, match="/dev/input/event5: input device gone"):
        await pad.wait_down(timeout=1.0)
    assert states == [LinkState.UP, LinkState.DOWN]
    assert fake_evdev.made[0].closed
    await pad.close()

    await pad.open(timeout=1.0)  # plugged back in: a new open grabs again
    assert fake_evdev.made[1].grabbed
    await pad.close()
    await pad.close()
    assert states == [LinkState.UP, LinkState.DOWN, LinkState.UP, LinkState.DOWN]


async def test_a_keyboard_grabbed_elsewhere_is_link_down(
    fake_evdev: type[FakeInputDevice],
) -> None:
    fake_evdev.grab_error = OSError(errno.EBUSY, "Device or resource busy")
    pad = EvdevKeys("/dev/input/event6", on_key=lambda key: None)
    with pytest.raises(LinkDown, match="grabbed by another program"):
        await pad.open(timeout=1.0)
    assert fake_evdev.made[0].closed
    assert pad.state is LinkState.DOWN


# HidKeys


class Descriptor:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class OneHidPad(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend with one HID pad: one interface, one interrupt IN endpoint 0x81."""

    def __init__(self, vendor_id: int, product_id: int) -> None:
        super().__init__()
        self.vendor_id, self.product_id = vendor_id, product_id
        self.reports: queue.Queue[bytes | None] = queue.Queue()  # None: unplugged
        self.log: list[str] = []
        self.read_threads: set[str] = set()
        self.gone = False

    def enumerate_devices(self) -> Iterator[str]:
        yield "pad"

    def get_device_descriptor(self, dev: str) -> Descriptor:
        return Descriptor(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=8, idVendor=self.vendor_id,
            idProduct=self.product_id, bcdDevice=0x0100, iManufacturer=0, iProduct=0,
            iSerialNumber=0, bNumConfigurations=1, address=4, bus=1, port_number=2,
            port_numbers=(2,), speed=1,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: str, config: int) -> Descriptor:
        if config != 0:
            raise IndexError(config)
        return Descriptor(
            bLength=9, bDescriptorType=2, wTotalLength=34, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xA0, bMaxPower=50,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(self, dev: str, intf: int, alt: int, config: int) -> Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return Descriptor(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=1, bInterfaceClass=3, bInterfaceSubClass=0, bInterfaceProtocol=0,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(
        self, dev: str, ep: int, intf: int, alt: int, config: int
    ) -> Descriptor:
        if ep != 0:
            raise IndexError(ep)
        return Descriptor(
            bLength=7, bDescriptorType=5, bEndpointAddress=0x81, bmAttributes=0x03,
            wMaxPacketSize=8, bInterval=10, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    def open_device(self, dev: str) -> str:
        self.log.append("open")
        return "handle"

    def close_device(self, handle: str) -> None:
        self.log.append("close")

    def get_configuration(self, handle: str) -> int:
        return 1

    def set_configuration(self, handle: str, value: int) -> None:
        self.log.append(f"set configuration {value}")

    def set_interface_altsetting(self, handle: str, intf: int, alt: int) -> None:
        pass

    def claim_interface(self, handle: str, intf: int) -> None:
        self.log.append(f"claim {intf}")

    def release_interface(self, handle: str, intf: int) -> None:
        self.log.append(f"release {intf}")

    def is_kernel_driver_active(self, handle: str, intf: int) -> bool:
        return True

    def detach_kernel_driver(self, handle: str, intf: int) -> None:
        self.log.append(f"detach driver {intf}")

    def attach_kernel_driver(self, handle: str, intf: int) -> None:
        self.log.append(f"attach driver {intf}")

    def intr_read(
        self, handle: str, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        self.read_threads.add(threading.current_thread().name)
        if not self.gone:
            try:
                report = self.reports.get(timeout=timeout / 1000)
            except queue.Empty:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT) from None
            if report is not None:
                buff[: len(report)] = array.array("B", report)
                return len(report)
            self.gone = True
        raise usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


def current(pad: HidKeys) -> LinkState:
    """The pad's state now (a call: the type checker keeps no earlier narrowing)."""
    return pad.state


def hid_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("usb ")]


async def test_reports_reach_the_loop_in_order_and_close_gives_the_pad_back() -> None:
    backend = OneHidPad(0x1A2B, 0x3C4D)
    loop_thread = threading.get_ident()
    reports: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
    pad = HidKeys(
        0x1A2B,
        0x3C4D,
        on_report=lambda report: reports.put_nowait((report, threading.get_ident())),
        backend=backend,
    )
    await pad.open(timeout=2.0)
    try:
        assert pad.state is LinkState.UP
        # rating pad: key 4 down, up, key 5 down (8-byte keyboard-style reports)
        sent = [
            bytes.fromhex("00 00 21 00 00 00 00 00"),
            bytes(8),
            bytes.fromhex("0000220000000000"),
        ]
        for report in sent:
            backend.reports.put(report)
        got = [await asyncio.wait_for(reports.get(), timeout=2.0) for _ in sent]
        assert [report for report, _ in got] == sent
        assert {thread for _, thread in got} == {loop_thread}
        assert backend.read_threads == {"usb 1a2b:3c4d"}  # the blocking reads ran elsewhere
    finally:
        await pad.close()
    assert current(pad) is LinkState.DOWN
    assert hid_threads() == []
    assert backend.log[:2] == ["open", "detach driver 0"]
    assert "claim 0" in backend.log
    assert backend.log[-3:] == ["release 0", "attach driver 0", "close"]
    await pad.close()


async def test_an_unplugged_pad_is_link_down_and_its_thread_ends() -> None:
    backend = OneHidPad(0x1A2B, 0x3C4D)
    states: list[LinkState] = []
    pad = HidKeys(
        0x1A2B, 0x3C4D, on_report=lambda report: None, on_state=states.append, backend=backend
    )
    await pad.open(timeout=2.0)
    backend.reports.put(None)
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d: device gone"):
        await pad.wait_down(timeout=2.0)
    assert states == [LinkState.CONNECTING, LinkState.UP, LinkState.DOWN]
    await pad.close()
    assert hid_threads() == []


async def test_a_pad_that_is_not_there_is_link_down_naming_it() -> None:
    class NoDevices(OneHidPad):
        def enumerate_devices(self) -> Iterator[str]:
            yield from ()

    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=NoDevices(0, 0))
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d: not found"):
        await pad.open(timeout=2.0)
    assert pad.state is LinkState.DOWN
    await pad.close()
    assert hid_threads() == []


async def test_with_the_system_usb_library_a_missing_pad_is_link_down() -> None:
    # Here pyusb finds no libusb; on a box with libusb it finds no such pad: LinkDown either way.
    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None)
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d"):
        await pad.open(timeout=5.0)
    await pad.close()
