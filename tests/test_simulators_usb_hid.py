"""The simulated USB bus as pyusb sees it: enumeration, HID reports, timeouts, unplug, replug.

These drive pyusb's own API (find, claim, interrupt reads) against the bus, so what they check
is what HidKeys meets; the pad's keys in a hall are in test_devices_hid_pad.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import usb.core
import usb.util

from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.simulators.usb_hid import SimulatedUsbBus, bus_for_devices
from hall_controller.transports.keys import HidKeys, default_usb_backend

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
VENDOR, PRODUCT = 0x1A86, 0xE010  # device_profiles/usb-hid-callpad.toml


def device(device_id: str, profile: str, window: str | None) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=PROFILES[profile],
        window=window,
        port=None,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
    )


class Host:
    """A program holding one pad the way HidKeys does: kernel driver off, interface 0 claimed."""

    def __init__(self, device: Any) -> None:
        self.device = device
        if device.is_kernel_driver_active(0):
            device.detach_kernel_driver(0)
        usb.util.claim_interface(device, 0)
        self.endpoint = device.get_active_configuration()[(0, 0)][0]

    def read(self, timeout_ms: int = 1000) -> bytes:
        return bytes(self.endpoint.read(self.endpoint.wMaxPacketSize, timeout_ms))

    def close(self) -> None:
        with contextlib.suppress(usb.core.USBError):  # ENODEV once unplugged
            usb.util.release_interface(self.device, 0)
        with contextlib.suppress(usb.core.USBError):
            self.device.attach_kernel_driver(0)
        usb.util.dispose_resources(self.device)


@pytest.fixture
def host_of() -> Iterator[Any]:
    hosts: list[Host] = []

    def take(device: Any) -> Host:
        hosts.append(Host(device))
        return hosts[-1]

    yield take
    for host in hosts:
        host.close()


def test_pyusb_finds_two_pads_of_one_model_at_their_own_addresses() -> None:
    bus = SimulatedUsbBus()
    first, second = bus.add_hid_pad(VENDOR, PRODUCT), bus.add_hid_pad(VENDOR, PRODUCT)
    bus.add_hid_pad(0x1234, 0x0001)
    found = list(usb.core.find(find_all=True, idVendor=VENDOR, idProduct=PRODUCT, backend=bus))
    assert [(d.bus, d.address, d.port_number) for d in found] == [
        (1, first.address, 1),
        (1, second.address, 2),
    ]
    assert first.address != second.address
    assert bus.pads_of(VENDOR, PRODUCT) == [first, second]
    interface = found[0].get_active_configuration()[(0, 0)]
    assert interface.bInterfaceClass == 3  # HID
    (endpoint,) = list(interface)
    assert endpoint.bEndpointAddress == 0x81
    assert usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
    assert endpoint.wMaxPacketSize == 8
    for d in found:
        usb.util.dispose_resources(d)


def test_a_press_is_a_key_down_report_then_a_key_up_report(host_of: Any) -> None:
    bus = SimulatedUsbBus()
    pad = bus.add_hid_pad(VENDOR, PRODUCT, keys={"call": 0x01, "finish": 0x05})
    host = host_of(usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus))
    assert pad.press_key("call")
    assert pad.press(0x05)
    got = [host.read() for _ in range(4)]
    assert got == [
        bytes.fromhex("00 00 01 00 00 00 00 00"),
        bytes(8),
        bytes.fromhex("00 00 05 00 00 00 00 00"),
        bytes(8),
    ]
    with pytest.raises(KeyError, match="no 'transfer' key"):
        pad.press_key("transfer")
    with pytest.raises(ValueError, match="1 to 255"):
        pad.press(0)


def test_a_read_with_nothing_sent_times_out_as_libusb_does(host_of: Any) -> None:
    bus = SimulatedUsbBus()
    bus.add_hid_pad(VENDOR, PRODUCT)
    host = host_of(usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus))
    started = time.monotonic()
    with pytest.raises(usb.core.USBTimeoutError) as caught:
        host.read(timeout_ms=100)
    waited = time.monotonic() - started
    assert caught.value.errno == errno.ETIMEDOUT
    assert caught.value.backend_error_code == -7  # LIBUSB_ERROR_TIMEOUT
    assert 0.09 <= waited < 1.0


def test_presses_reach_only_a_program_holding_the_pad(host_of: Any) -> None:
    bus = SimulatedUsbBus()
    pad = bus.add_hid_pad(VENDOR, PRODUCT)
    assert not pad.press(0x01)  # the kernel's HID driver has it: nothing for pyusb later
    device = usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(device, 0)  # without detaching the kernel's driver first
    assert busy.value.errno == errno.EBUSY
    host = host_of(device)
    assert pad.claimed
    assert pad.press(0x02)
    assert host.read() == bytes.fromhex("0000020000000000")  # not the 0x01 pressed before


def test_unplug_fails_a_blocked_read_at_once_and_replug_is_a_new_device(host_of: Any) -> None:
    bus = SimulatedUsbBus()
    pad = bus.add_hid_pad(VENDOR, PRODUCT)
    device = usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus)
    first_address = device.address
    host = host_of(device)
    failures: list[BaseException] = []
    failed_at: list[float] = []

    def read_for_ever() -> None:
        try:
            host.read(timeout_ms=0)  # 0: no timeout
        except usb.core.USBError as exc:
            failures.append(exc)
            failed_at.append(time.monotonic())

    reader = threading.Thread(target=read_for_ever, name="usb-test-reader")
    reader.start()
    time.sleep(0.05)
    assert reader.is_alive()  # blocked in the read
    unplugged_at = time.monotonic()
    pad.unplug()
    reader.join(2.0)
    assert not reader.is_alive()
    (failure,) = failures
    assert isinstance(failure, usb.core.USBError)
    assert failure.errno == errno.ENODEV
    assert failed_at[0] - unplugged_at < 0.5
    assert usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus) is None
    assert not pad.press(0x01)

    pad.replug()
    again = usb.core.find(idVendor=VENDOR, idProduct=PRODUCT, backend=bus)
    assert again is not None
    assert again.address != first_address
    with pytest.raises(usb.core.USBError) as stale:
        host.read(timeout_ms=100)  # the handle of the device before the unplug
    assert stale.value.errno == errno.ENODEV
    fresh = host_of(again)
    assert pad.press(0x03)
    assert fresh.read() == bytes.fromhex("0000030000000000")


async def test_presses_from_the_loop_and_reads_on_the_reader_thread_keep_every_report() -> None:
    bus = SimulatedUsbBus()
    pad = bus.add_hid_pad(VENDOR, PRODUCT)
    reports: asyncio.Queue[bytes] = asyncio.Queue()
    keys = HidKeys(VENDOR, PRODUCT, on_report=reports.put_nowait, backend=bus)
    await keys.open(timeout=2.0)
    try:
        codes = list(range(1, 31))
        for code in codes:
            assert pad.press(code)
            if code % 3 == 0:
                await asyncio.sleep(0)  # let the reader catch up now and then
        got = [await asyncio.wait_for(reports.get(), 2.0) for _ in range(2 * len(codes))]
    finally:
        await keys.close()
    assert [r[2] for r in got[0::2]] == codes
    assert set(got[1::2]) == {bytes(8)}
    assert pad.read_threads == {"usb 1a86:e010"}


def test_a_hall_config_gets_one_simulated_pad_per_hid_call_pad() -> None:
    configs = [
        device("w1-pad", "callpad-ff68", "1"),
        device("w9-hid", "usb-hid-callpad", "9"),
        device("w12-hid", "usb-hid-callpad", "12"),
    ]
    bus = bus_for_devices(configs)
    assert bus is not None
    assert [(p.label, p.vendor_id, p.product_id, p.key_byte) for p in bus.pads] == [
        ("w9-hid", VENDOR, PRODUCT, 2),
        ("w12-hid", VENDOR, PRODUCT, 2),
    ]
    assert dict(bus.pads[0].keys) == {
        "call": 0x01,
        "recall": 0x02,
        "no_show": 0x03,
        "pause": 0x04,
        "finish": 0x05,
    }
    assert bus_for_devices(configs[:1]) is None


def test_attached_makes_the_bus_the_default_backend_for_the_block_only() -> None:
    bus = SimulatedUsbBus()
    assert default_usb_backend() is None
    with bus.attached():
        assert default_usb_backend() is bus
        inner = SimulatedUsbBus()
        with inner.attached():
            assert default_usb_backend() is inner
        assert default_usb_backend() is bus
    assert default_usb_backend() is None
