"""A USB HID call pad in the hall: HidCallPad -> HidKeys -> pyusb -> the simulated USB bus.

Nothing here passes a backend: the bus is attached as the default USB backend, as the demo
does, so the adapters are built exactly as the hub builds them for real pads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pytest

from hall_controller.app import open_hall
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.base import Device, DeviceContext
from hall_controller.devices.health import DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.devices.local_pads import HidCallPad
from hall_controller.devices.model import DeviceInput, KeyPressed
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.services import HallService
from hall_controller.settings import load_settings
from hall_controller.simulators.usb_hid import SimulatedHidPad, SimulatedUsbBus
from hall_controller.transports.backoff import Backoff

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou
VENDOR, PRODUCT = 0x1A86, 0xE010  # device_profiles/usb-hid-callpad.toml


def hid_pad(device_id: str, window: str) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=PROFILES["usb-hid-callpad"],
        window=window,
        port=None,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
    )


def hid_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("usb ")]


@pytest.fixture
def usb_bus() -> Iterator[SimulatedUsbBus]:
    """A simulated USB bus with one call pad of the profiled model, attached as the default."""
    bus = SimulatedUsbBus()
    bus.add_hid_pad(VENDOR, PRODUCT, keys={"call": 0x01, "finish": 0x05}, label="pad")
    with bus.attached():
        yield bus
    assert hid_threads() == []  # every reader thread ended with its pad's stop


@dataclass
class Inputs:
    """A DeviceContext that keeps what the adapter submits and its state changes."""

    submitted: list[DeviceInput]
    states: list[DeviceState]

    def context(self) -> DeviceContext:
        return DeviceContext(
            clock=time.time,
            submit=lambda item, _device: self.submitted.append(item),
            state_changed=lambda device: self.states.append(device.health.state),
        )


async def test_key_presses_become_keys_of_the_pad_s_window(usb_bus: SimulatedUsbBus) -> None:
    inputs = Inputs([], [])
    window_9 = hid_pad("w9-hid", "9")
    window_10 = hid_pad("w10-hid", "10")
    usb_bus.add_hid_pad(VENDOR, PRODUCT, label="second")  # a second pad of the same model
    first, second = usb_bus.pads
    pad = HidCallPad(window_9, inputs.context())
    await pad.start()
    try:
        await eventually(lambda: pad.ready, "the pad is ready")
        assert first.claimed  # it took the first pad found
        assert not second.claimed
        for code in (0x01, 0x04, 0x09, 0x05):  # call, pause, a code the profile has not, finish
            assert first.press(code)
        await eventually(lambda: pad.health.frames_in == 4, "four key-downs counted")
        assert inputs.submitted == [
            KeyPressed("w9-hid", "9", "call"),
            KeyPressed("w9-hid", "9", "pause"),
            KeyPressed("w9-hid", "9", "finish"),
        ]
        assert pad.health.last_frame_in == "00 00 05 00 00 00 00 00"
        # The same model at another window: its adapter finds the first pad, already taken.
        other_inputs = Inputs([], [])
        other = HidCallPad(window_10, other_inputs.context())
        other.supervisor.backoff = Backoff(initial_s=30.0)
        await other.start()
        try:
            await eventually(lambda: other.health.state is DeviceState.LOST, "second is lost")
            assert "Resource busy" in (other.health.last_error or "")
        finally:
            await other.stop()
        assert other_inputs.submitted == []
        assert inputs.states == [DeviceState.READY]  # the first pad stayed up throughout
    finally:
        await pad.stop()
    assert not first.claimed


@dataclass
class Hall:
    service: HallService
    hub: DeviceHub
    usb: SimulatedHidPad

    async def issue(self, theme: str) -> str:
        reply = await self.service.issue_ticket(
            theme=theme, priority=None, id_number=None, channel="kiosk", actor="test"
        )
        assert reply.status == 201
        return str(reply.body["id"])

    def status(self, ticket_id: str) -> str:
        return self.service.current().tickets[ticket_id].status.value

    def health(self) -> dict[str, object]:
        (entry,) = [h for h in self.service.device_health() if h["id"] == "w12-hid"]
        return entry

    @property
    def device(self) -> Device:
        return self.hub.devices["w12-hid"]


@contextlib.asynccontextmanager
async def hall_with_hid_pad(
    demo_config_path: Path, data_dir: Path, bus: SimulatedUsbBus
) -> AsyncIterator[Hall]:
    service, event_log = open_hall(load_settings(demo_config_path), data_dir, lambda: T0)
    event_log.start(asyncio.get_running_loop())
    hub = DeviceHub(
        [hid_pad("w12-hid", "12")], ServiceHallPort(service), data_dir=data_dir, hall_id="demo"
    )
    service.watchers.append(hub.hall_changed)
    service.devices = hub
    device = hub.devices["w12-hid"]
    assert isinstance(device, HidCallPad)
    # Long waits between attempts: a replug must be noticed by its presence on the bus.
    device.supervisor.backoff = Backoff(initial_s=30.0, cap_s=30.0)
    await hub.start()
    try:
        yield Hall(service, hub, bus.pads[0])
    finally:
        await hub.close()
        await event_log.close()


async def test_the_pad_calls_and_finishes_at_its_window_and_survives_a_replug(
    demo_config_path: Path, tmp_path: Path, usb_bus: SimulatedUsbBus
) -> None:
    async with hall_with_hid_pad(demo_config_path, tmp_path / "data", usb_bus) as hall:
        await eventually(lambda: hall.device.ready, "the pad is ready")
        first = await hall.issue("social")
        assert hall.usb.press_key("call")
        await eventually(lambda: hall.status(first) == "called", "the first ticket is called")
        ticket = hall.service.current().tickets[first]
        assert ticket.window == "12"
        assert hall.usb.press_key("finish")
        await eventually(lambda: hall.status(first) == "finished", "the first is finished")

        hall.usb.unplug()
        await eventually(lambda: hall.health()["state"] == "lost", "the pad is lost")
        assert "device gone" in str(hall.health()["last_error"])
        await eventually(lambda: not hid_threads(), "its reader thread ended")
        second = await hall.issue("police")
        assert not hall.usb.press_key("call")  # pressed while unplugged: nothing happens
        await asyncio.sleep(0.3)
        assert hall.status(second) == "waiting"

        hall.usb.replug()
        # At once, not after the 30 s backoff: the supervisor sees the pad back on the bus.
        await eventually(lambda: hall.health()["state"] == "ready", "the pad is back", within=3.0)
        assert hall.health()["reconnects"] == 1
        assert hall.usb.press_key("call")
        await eventually(lambda: hall.status(second) == "called", "the second is called")

        audit = await hall.service.audit_view(day=None, ticket=None, after=0, limit=1000)
        calls = [e for e in audit["events"] if e["type"] == "TicketCalled"]
        assert [(e["actor"], e["data"]["window"]) for e in calls] == [
            ("device:w12-hid", "12"),
            ("device:w12-hid", "12"),
        ]
        assert hall.health()["frames_in"] == 3  # three key-downs; key-ups are not keys
