"""The demo hall's devices end to end: real PTYs, a real Mosquitto, the controller and its SSE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from mqtt_broker import Mosquitto
from test_api import T0, Api, Clock
from test_sse import EventStream

from hall_controller.protocols.mqtt_tree import decode_meta
from hall_controller.settings import validate_settings_text
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.transports.mqtt import MqttLink

from accounts import AUTH
from conftest import demo_config_text

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """GPIO buttons on gpiozero's mock pins, released after the test."""
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = previous


@dataclass
class Hall:
    api: Api
    devices: SimulatedHall
    mock_pins: MockFactory

    def shows(self, device_id: str) -> dict[str, Any]:
        state = self.devices.state()["devices"]
        assert isinstance(state, dict)
        shown = state[device_id]["shows"]
        assert isinstance(shown, dict)
        return shown

    def health(self, device_id: str) -> dict[str, Any]:
        assert self.api.controller is not None
        views = self.api.controller.service.devices_view()
        return next(view for view in views if view["id"] == device_id)

    async def settle(self, condition: Callable[[], bool], within_s: float = 5.0) -> None:
        """Poll until condition() holds; fail after within_s."""
        async with asyncio.timeout(within_s):
            while not condition():  # noqa: ASYNC110 - the state lives in other processes' bytes
                await asyncio.sleep(0.02)


@pytest.fixture
async def hall(tmp_path: Path, mosquitto: Mosquitto, mock_pins: MockFactory) -> AsyncIterator[Hall]:
    text = demo_config_text(devices=True).replace("port = 1883", f"port = {mosquitto.port}")
    settings = validate_settings_text(text, str(tmp_path / "hall.toml"))
    data_dir = tmp_path / "data"
    devices = SimulatedHall(
        settings.devices,
        hall_id=settings.hall.id,
        data_dir=data_dir,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
    )
    await devices.start()
    async with aiohttp.ClientSession(headers=AUTH) as session:
        api = Api(settings, data_dir, Clock(T0), session)
        await api.start()
        try:
            result = Hall(api, devices, mock_pins)
            await result.settle(
                lambda: all(
                    result.health(d)["state"] == "ready"
                    for d in ("w1-pad", "w1-board", "w6-pad", "w6-display", "w6-rating")
                )
            )
            yield result
        finally:
            with contextlib.suppress(Exception):
                await api.stop()
            await devices.stop()


async def test_a_clerk_calls_on_a_serial_pad_and_the_board_and_the_hall_display_follow(
    hall: Hall,
) -> None:
    api = hall.api
    async with api.session.get(api.url + "/api/v1/events") as response:
        stream = EventStream(response)
        ticket = await api.issue("social")
        await hall.devices.press("w1-pad", "call")
        messages = await stream.until("TicketCalled")
        called = messages[-1]
        assert called.data["number"] == ticket["number"]
        assert called.data["window"] == "1"
        assert called.data["actor"] == "device:w1-pad"

    await hall.settle(lambda: hall.shows("w1-board")["text"] == f"请{ticket['number']}号")
    assert hall.shows("w1-board")["blink"] is True
    await hall.settle(lambda: hall.shows("w1-pad")["text"] == ticket["number"])
    assert hall.shows("w1-pad")["lamp"] is True


async def test_after_service_the_rating_lands_once_on_that_ticket(hall: Hall) -> None:
    ticket = await hall.api.issue("social")
    for key in ("call", "start", "finish"):
        await hall.devices.press("w1-pad", key)
    await hall.settle(lambda: hall.shows("w1-rating")["prompt"] == "asking")
    await hall.devices.rate("w1-rating", 4)
    await hall.settle(lambda: hall.shows("w1-rating")["prompt"] == "thanks")
    await hall.devices.rate("w1-rating", 2)  # pressed again: not a second rating
    await asyncio.sleep(0.3)

    stored = await hall.api.get(f"/api/v1/tickets/{ticket['id']}")
    assert stored["rating"] == 4
    audit = await hall.api.get("/api/v1/audit")
    ratings = [event for event in audit["events"] if event["type"] == "TicketRated"]
    assert [event["actor"] for event in ratings] == ["device:w1-rating"]


async def test_mqtt_pad_display_and_rating_pad_serve_window_6(hall: Hall) -> None:
    ticket = await hall.api.issue("registration")  # windows 5-8 serve registration
    await hall.devices.press("w6-pad", "call")
    await hall.settle(lambda: hall.shows("w6-display")["ticket"] == ticket["number"])
    assert hall.shows("w6-display")["blink"] is True
    await hall.settle(lambda: hall.shows("w6-pad")["text"] == ticket["number"])
    await hall.devices.press("w6-pad", "start")
    await hall.devices.press("w6-pad", "finish")
    await hall.settle(lambda: hall.shows("w6-rating")["prompt"] == "asking")
    await hall.devices.rate("w6-rating", 5)
    await hall.settle(lambda: hall.shows("w6-rating")["prompt"] != "asking")
    stored = await hall.api.get(f"/api/v1/tickets/{ticket['id']}")
    assert stored["rating"] == 5


async def test_wireless_pads_gpio_buttons_and_the_numeric_display(hall: Hall) -> None:
    first = await hall.api.issue("registration")  # windows 5-8 serve registration
    await hall.devices.hold("rf-receiver", "call", 0.5, remote=0x12350)  # window 5's key fob
    await hall.settle(lambda: hall.shows("w5-display")["number"] == int(first["number"][1:]))
    window_5 = await hall.api.get("/api/v1/windows/5")
    assert window_5["ticket"]["number"] == first["number"]  # held, yet called once

    second = await hall.api.issue("registration")
    pin = hall.mock_pins.pin(17)  # window 8's call button
    pin.drive_low()
    pin.drive_high()
    await hall.settle(lambda: hall.health("w8-buttons")["frames_in"] >= 1)
    window_8 = await hall.api.get("/api/v1/windows/8")
    assert window_8["ticket"]["number"] == second["number"]


async def test_an_unplugged_row_is_reported_the_others_keep_calling_and_it_resyncs(
    hall: Hall,
) -> None:
    first = await hall.api.issue("registration")  # for window 6
    second = await hall.api.issue("social")  # for window 1
    hall.devices.unplug("w1-board")  # the whole row A line: windows 1-3
    await hall.settle(lambda: hall.health("w1-board")["state"] == "lost")
    metrics = await hall.api.session.get(hall.api.url + "/metrics")
    text = await metrics.text()
    assert 'hall_device_up{device="w1-board",kind="window_display",window="1"} 0' in text

    await hall.devices.press("w6-pad", "call")  # window 6 still calls
    await hall.settle(lambda: hall.shows("w6-display")["ticket"] == first["number"])
    await hall.api.post("/api/v1/windows/1/open")
    await hall.api.post("/api/v1/windows/1/call")  # window 1 from the window panel

    hall.devices.replug("w1-board")
    # Back at once (the port reappeared), not after the next backoff step, with a snapshot.
    await hall.settle(lambda: hall.health("w1-board")["state"] == "ready", within_s=2.0)
    await hall.settle(
        lambda: hall.shows("w1-board")["text"] == f"请{second['number']}号", within_s=1.0
    )
    assert hall.health("w1-board")["reconnects"] == 1


async def test_after_a_broker_restart_mqtt_devices_come_back_and_keys_flow_again(
    hall: Hall, mosquitto: Mosquitto
) -> None:
    first = await hall.api.issue("registration")
    second = await hall.api.issue("registration")
    await hall.devices.press("w6-pad", "call")
    await hall.settle(lambda: hall.shows("w6-display")["ticket"] == first["number"])

    await asyncio.to_thread(mosquitto.restart)  # nothing retained survives: persistence off
    # Reported lost while the broker was away, then back.
    await hall.settle(lambda: hall.health("w6-display")["reconnects"] >= 1, within_s=10.0)
    assert hall.health("w6-display")["state"] == "ready"
    assert hall.health("w6-display")["last_error"] is not None
    # The display is sent its snapshot again (the broker forgot the retained one).
    await hall.settle(lambda: hall.shows("w6-display")["ticket"] == first["number"])
    await hall.devices.press("w6-pad", "start")
    await hall.devices.press("w6-pad", "call")  # finishes the first, calls the second
    await hall.settle(lambda: hall.shows("w6-display")["ticket"] == second["number"])


async def test_learn_mode_binds_a_new_wireless_pad_and_the_binding_survives_a_restart(
    hall: Hall,
) -> None:
    new_remote = 0x0ABCD
    learning = await hall.api.post("/api/v1/devices/rf-receiver/learn", {"window": "5"})
    assert learning["learning"] == "5"
    ticket = await hall.api.issue("registration")
    await hall.devices.press("rf-receiver", "call", remote=new_remote)  # teaches the binding
    await hall.settle(lambda: hall.health("rf-receiver")["learning"] is None)
    window_5 = await hall.api.get("/api/v1/windows/5")
    assert window_5["ticket"] is None  # the teaching press is not a call

    assert hall.api.controller is not None
    await hall.api.restart()
    await hall.settle(lambda: hall.health("rf-receiver")["state"] == "ready")
    await hall.devices.press("rf-receiver", "call", remote=new_remote)
    await hall.settle(lambda: hall.shows("w5-display")["number"] == int(ticket["number"][1:]))


async def test_learn_mode_is_refused_for_devices_that_have_none(hall: Hall) -> None:
    path = "/api/v1/devices/{}/learn"
    refused = await hall.api.request("POST", path.format("w1-pad"), json={"window": "1"})
    assert refused.status == 422
    unknown = await hall.api.request("POST", path.format("nobody"), json={"window": "1"})
    assert unknown.status == 404
    no_window = await hall.api.request("POST", path.format("rf-receiver"), json={"window": "99"})
    assert no_window.status == 404


async def test_the_controller_speaks_for_its_serial_devices_on_the_broker(
    hall: Hall, mosquitto: Mosquitto
) -> None:
    seen: dict[str, bytes] = {}
    watcher = MqttLink(mosquitto.host, mosquitto.port, "watcher", persistent_session=False)
    root = "hall/gz-tianhe-demo"
    watcher.subscribe(f"{root}/device/w1-board/#", 1, lambda m: seen.update({m.topic: m.payload}))
    watcher.subscribe(f"{root}/controller/$state", 1, lambda m: seen.update({m.topic: m.payload}))
    await watcher.start(5.0)
    try:
        await hall.settle(lambda: len(seen) >= 3)
        assert seen[f"{root}/controller/$state"] == b"ready"
        assert seen[f"{root}/device/w1-board/$state"] == b"ready"
        meta = decode_meta(seen[f"{root}/device/w1-board/$meta"])
        assert meta is not None
        assert meta["kind"] == "window_display"
        assert meta["profile"] == "led-aa55-sum8"

        hall.devices.unplug("w1-board")
        await hall.settle(lambda: seen[f"{root}/device/w1-board/$state"] == b"lost")
    finally:
        await watcher.stop(2.0)
