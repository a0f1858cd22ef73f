"""The demo hall's devices: simulated serial and MQTT devices, mock GPIO buttons, simulated USB
HID pads, and their clerks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import structlog

from hall_controller.local_broker import BrokerError, LocalBroker, listening
from hall_controller.settings import Settings
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.simulators.usb_hid import SimulatedUsbBus, bus_for_devices

log = structlog.get_logger(__name__)


def simulated_hall(settings: Settings, data_dir: Path, *, speed: float) -> SimulatedHall:
    """Simulators for every serial and MQTT device of the config."""
    mqtt = settings.mqtt
    return SimulatedHall(
        settings.devices,
        hall_id=settings.hall.id,
        data_dir=data_dir,
        mqtt_host=mqtt.host if mqtt is not None else None,
        mqtt_port=mqtt.port if mqtt is not None else None,
        speed=speed,
    )


def simulated_usb_bus(settings: Settings) -> SimulatedUsbBus | None:
    """A simulated USB bus with one pad per USB HID call pad of the config; None if it has none.

    The demo attaches it (`bus.attached()`) before the controller starts, so the controller's
    HidKeys find the pads through pyusb as they would real ones.
    """
    return bus_for_devices(settings.devices)


def windows_with_pads(settings: Settings) -> set[str]:
    """Windows whose clerks work through a call pad (the demo's API clerks leave them alone)."""
    windows = {d.window for d in settings.devices if d.profile.kind == "call_pad" and d.window}
    for device in settings.devices:
        windows.update(device.remotes.values())
    return windows


async def ensure_broker(settings: Settings, data_dir: Path) -> LocalBroker | None:
    """Start a private Mosquitto when the config has MQTT devices and nothing listens there."""
    mqtt = settings.mqtt
    if mqtt is None or await asyncio.to_thread(listening, mqtt.host, mqtt.port):
        return None
    broker = LocalBroker(
        mqtt.host, mqtt.port, data_dir / "mosquitto", max_inflight=mqtt.max_inflight
    )
    try:
        await broker.start()
    except BrokerError as exc:
        log.warning("demo_without_broker", reason=str(exc))
        return None
    return broker


async def run_device_clerks(
    hall: SimulatedHall, settings: Settings, usb: SimulatedUsbBus | None = None
) -> None:
    """Clerks pressing the keys of the simulated pads, the mock GPIO buttons and the simulated
    USB pads, until cancelled."""
    hall.start_auto()
    tasks = [asyncio.create_task(_gpio_clerks(settings, hall.speed), name="demo-gpio-clerks")]
    if usb is not None:
        tasks.append(asyncio.create_task(_usb_clerks(usb, hall.speed), name="demo-usb-clerks"))
    try:
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hall.stop_auto()


async def _gpio_clerks(settings: Settings, speed: float) -> None:
    """Press the demo's mock GPIO buttons: call, then start, at a clerk's pace."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    factory = Device.pin_factory
    if not isinstance(factory, MockFactory):
        return  # real pins: only real hands press them
    pads = [d for d in settings.devices if d.profile.driver == "gpio_buttons"]
    rng = random.Random()
    while True:
        await asyncio.sleep(rng.uniform(10, 40) / speed)
        for pad in pads:
            for button in ("call", "start"):
                pin_number = pad.pins.get(button)
                if pin_number is None:
                    continue
                pin = factory.pin(pin_number)
                pin.drive_low()
                await asyncio.sleep(0.1)
                pin.drive_high()
                await asyncio.sleep(rng.uniform(5, 20) / speed)


async def _usb_clerks(bus: SimulatedUsbBus, speed: float) -> None:
    """Press the simulated USB pads' keys: call, then finish, at a clerk's pace.

    A press while the controller does not hold the pad (not open yet, or reconnecting) is lost,
    as on a real pad.
    """
    rng = random.Random()
    while True:
        await asyncio.sleep(rng.uniform(10, 40) / speed)
        for pad in bus.pads:
            for key in ("call", "finish"):
                if key not in pad.keys:
                    continue
                if not pad.press_key(key):
                    log.debug("demo_usb_press_lost", pad=pad.label, key=key)
                await asyncio.sleep(rng.uniform(5, 20) / speed)
