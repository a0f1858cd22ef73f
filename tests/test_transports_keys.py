"""Key readers: evdev keyboards under an exclusive grab, and HID pads through pyusb.

This machine has no uinput (no /dev/uinput, and the kernel has no uinput device), so no
virtual keyboard can be made: EvdevKeys meets a real missing device and a real non-input file,
and otherwise a stand-in for evdev.InputDevice whose descriptor is a pipe the loop watches.
pyusb cannot reach hardware here (no USB bus, no libusb): HidKeys runs the real pyusb code
against the package's simulated USB bus (a pyusb backend playing HID pads).
"""

from __future__ import annotations

import asyncio
import errno
import threading
from pathlib import Path
from typing import Any

import pytest
from evdev import ecodes

from hall_controller.simulators.usb_hid import SimulatedUsbBus
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.keys import (
    EvdevKeys,
    HidKeys,
    default_usb_backend,
    key_name,
    set_default_usb_backend,
)

from fake_evdev import FakeInputDevice

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


def current(pad: HidKeys) -> LinkState:
    """The pad's state now (a call: the type checker keeps no earlier narrowing)."""
    return pad.state


def hid_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("usb ")]


async def no_hid_threads_within(seconds: float) -> list[str]:
    """The HID reader threads still running after up to `seconds` (they end within a read)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while hid_threads() and loop.time() < deadline:  # noqa: ASYNC110 - threads, no event
        await asyncio.sleep(0.01)
    return hid_threads()


async def test_reports_reach_the_loop_in_order_and_close_gives_the_pad_back() -> None:
    bus = SimulatedUsbBus()
    usb_pad = bus.add_hid_pad(0x1A2B, 0x3C4D)
    loop_thread = threading.get_ident()
    reports: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
    pad = HidKeys(
        0x1A2B,
        0x3C4D,
        on_report=lambda report: reports.put_nowait((report, threading.get_ident())),
        backend=bus,
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
        assert usb_pad.send(*sent)
        got = [await asyncio.wait_for(reports.get(), timeout=2.0) for _ in sent]
        assert [report for report, _ in got] == sent
        assert {thread for _, thread in got} == {loop_thread}
        assert usb_pad.read_threads == {"usb 1a2b:3c4d"}  # the blocking reads ran elsewhere
    finally:
        await pad.close()
    assert current(pad) is LinkState.DOWN
    assert hid_threads() == []
    assert usb_pad.log[:2] == ["open", "detach driver 0"]
    assert "claim 0" in usb_pad.log
    assert usb_pad.log[-3:] == ["release 0", "attach driver 0", "close"]
    assert not usb_pad.claimed  # the kernel's driver has it again
    await pad.close()


async def test_an_unplugged_pad_is_link_down_and_its_thread_ends() -> None:
    bus = SimulatedUsbBus()
    usb_pad = bus.add_hid_pad(0x1A2B, 0x3C4D)
    states: list[LinkState] = []
    pad = HidKeys(
        0x1A2B, 0x3C4D, on_report=lambda report: None, on_state=states.append, backend=bus
    )
    await pad.open(timeout=2.0)
    usb_pad.unplug()
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d: device gone"):
        await pad.wait_down(timeout=2.0)
    assert states == [LinkState.CONNECTING, LinkState.UP, LinkState.DOWN]
    assert await no_hid_threads_within(1.0) == []  # ended by itself, before any close()
    await pad.close()


async def test_a_pad_that_is_not_there_is_link_down_naming_it() -> None:
    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=SimulatedUsbBus())
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d: not found"):
        await pad.open(timeout=2.0)
    assert pad.state is LinkState.DOWN
    await pad.close()
    assert hid_threads() == []


async def test_a_pad_another_program_holds_is_link_down_busy() -> None:
    bus = SimulatedUsbBus()
    bus.add_hid_pad(0x1A2B, 0x3C4D)
    first = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=bus)
    second = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=bus)
    await first.open(timeout=2.0)
    try:
        with pytest.raises(LinkDown, match=r"usb 1a2b:3c4d: cannot claim .*Resource busy"):
            await second.open(timeout=2.0)
        assert first.state is LinkState.UP
    finally:
        await first.close()
        await second.close()
    assert hid_threads() == []


async def test_without_a_backend_hid_keys_uses_the_default_one_set_at_open() -> None:
    bus = SimulatedUsbBus()
    usb_pad = bus.add_hid_pad(0x1A86, 0xE010)
    reports: asyncio.Queue[bytes] = asyncio.Queue()
    pad = HidKeys(0x1A86, 0xE010, on_report=reports.put_nowait)  # made before the bus is set
    assert default_usb_backend() is None
    set_default_usb_backend(bus)
    try:
        await pad.open(timeout=2.0)
        assert usb_pad.press(0x05)
        assert await asyncio.wait_for(reports.get(), 2.0) == bytes.fromhex("0000050000000000")
        assert await asyncio.wait_for(reports.get(), 2.0) == bytes(8)
        await pad.close()
    finally:
        set_default_usb_backend(None)
    # Back to pyusb's choice: here no libusb (elsewhere no such pad), so the pad is not found.
    with pytest.raises(LinkDown, match="usb 1a86:e010"):
        await pad.open(timeout=5.0)
    assert usb_pad.log.count("open") == 1  # the simulated bus was not asked again
    await pad.close()


async def test_a_cancelled_open_leaves_no_reader_thread() -> None:
    release = threading.Event()

    class SlowBus(SimulatedUsbBus):
        def claim_interface(self, dev_handle: Any, intf: int) -> None:
            release.wait(2.0)
            super().claim_interface(dev_handle, intf)

    bus = SlowBus()
    usb_pad = bus.add_hid_pad(0x1A2B, 0x3C4D)
    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=bus)
    opening = asyncio.create_task(pad.open(timeout=5.0))
    await asyncio.sleep(0.05)
    assert hid_threads() == ["usb 1a2b:3c4d"]
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    release.set()  # the claim goes through, then the thread sees it is not wanted
    assert await no_hid_threads_within(1.0) == []
    assert current(pad) is LinkState.DOWN
    assert not usb_pad.claimed
    assert usb_pad.log[-1] == "close"


async def test_with_the_system_usb_library_a_missing_pad_is_link_down() -> None:
    # Here pyusb finds no libusb; on a box with libusb it finds no such pad: LinkDown either way.
    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None)
    with pytest.raises(LinkDown, match="usb 1a2b:3c4d"):
        await pad.open(timeout=5.0)
    await pad.close()


async def test_a_pad_is_present_while_it_is_on_the_bus_claimed_or_not() -> None:
    bus = SimulatedUsbBus()
    usb_pad = bus.add_hid_pad(0x1A2B, 0x3C4D)
    pad = HidKeys(0x1A2B, 0x3C4D, on_report=lambda report: None, backend=bus)
    other = HidKeys(0x1A2B, 0x9999, on_report=lambda report: None, backend=bus)
    assert pad.present()
    assert not other.present()
    await pad.open(timeout=2.0)
    assert pad.present()

    usb_pad.unplug()
    assert not pad.present()
    usb_pad.replug()
    assert pad.present()
    await pad.close()
