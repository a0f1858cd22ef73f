"""SimulatedHall: PTYs where the hall config puts its ports, the controller's real device hub on
them, a window's whole flow through real bytes, plugs pulled, clerks that work by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pytest
from mqtt_broker import Mosquitto

from hall_controller.app import open_hall
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.health import DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.services import HallService
from hall_controller.settings import load_settings
from hall_controller.simulators.hall import (
    BadArgument,
    SimulatedHall,
    SimulatorError,
    UnknownDevice,
    Unsupported,
)
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.mqtt import Message, MqttLink

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
HALL_ID = "gz-tianhe-demo"
T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou
WAIT_S = 5.0
REMOTE = 0x00042  # the wireless pad of window 2


def device(
    device_id: str,
    profile: str,
    window: str | None,
    port: str | None = None,
    address: int = 0,
    remotes: Mapping[int, str] | None = None,
) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=PROFILES[profile],
        window=window,
        port=port,
        address=address,
        pins=MappingProxyType({}),
        remotes=MappingProxyType(dict(remotes or {})),
    )


SERIAL_HALL = [
    device("pad-1", "callpad-ff68", "1", "ports/pads", 1),
    device("board-1", "led-aa55-sum8", "1", "ports/boards", 11),
    device("rate-1", "rating-4key-aa", "1", "ports/pads", 21),
    device("num-2", "modbus-led485-numeric", "2", "ports/numeric", 5),
    device("rf", "rf433-receiver", None, "ports/rf", remotes={REMOTE: "2"}),
    device("buttons-3", "gpio-call-buttons", "3"),
]


def shows(hall: SimulatedHall, device_id: str) -> dict[str, object]:
    devices = hall.state()["devices"]
    assert isinstance(devices, dict)
    entry = devices[device_id]
    assert isinstance(entry, dict)
    view = entry["shows"]
    assert isinstance(view, dict)
    return view


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[SimulatedHall]:
    """The serial devices of a small hall, simulated on PTYs under tmp_path/ports."""
    simulated = SimulatedHall(
        SERIAL_HALL, hall_id=HALL_ID, data_dir=tmp_path, mqtt_host=None, mqtt_port=None, seed=7
    )
    await simulated.start()
    yield simulated
    await simulated.stop()


@dataclass
class Controller:
    service: HallService
    hub: DeviceHub

    async def issue(self) -> str:
        reply = await self.service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="kiosk", actor="test"
        )
        assert reply.status == 201
        return str(reply.body["number"])

    def ticket(self, number: str) -> object:
        hall = self.service.current()
        return next(t for t in hall.tickets.values() if t.number == number)


@contextlib.asynccontextmanager
async def controller(
    demo_config_path: Path, data_dir: Path, configs: list[DeviceConfig]
) -> AsyncIterator[Controller]:
    """The real controller's services and device hub, opening the simulated ports."""
    service, event_log = open_hall(load_settings(demo_config_path), data_dir / "data", lambda: T0)
    event_log.start(asyncio.get_running_loop())
    hub = DeviceHub(
        configs,
        ServiceHallPort(service),
        data_dir=data_dir,
        hall_id=HALL_ID,
        backoff=lambda: Backoff(initial_s=0.05, cap_s=0.2),
    )
    service.watchers.append(hub.hall_changed)
    await hub.start()
    try:
        yield Controller(service, hub)
    finally:
        await hub.close()
        await event_log.close()


@pytest.fixture
async def running(
    hall: SimulatedHall, demo_config_path: Path, tmp_path: Path
) -> AsyncIterator[Controller]:
    serial = [c for c in SERIAL_HALL if c.profile.transport == "serial"]
    async with controller(demo_config_path, tmp_path, serial) as value:
        await eventually(
            lambda: all(d.ready for d in value.hub.devices.values()), "every device ready"
        )
        yield value


# --- ports ---------------------------------------------------------------------------------------


async def test_ptys_stand_where_the_controller_opens_the_ports(
    hall: SimulatedHall, tmp_path: Path
) -> None:
    for name in ("pads", "boards", "numeric", "rf"):
        port = tmp_path / "ports" / name
        assert port.is_symlink()
        assert os.readlink(port).startswith("/dev/pts/")
    assert len(hall.ports) == 4  # the pad and the rating pad share one RS-485 line
    state = hall.state()
    devices = state["devices"]
    assert isinstance(devices, dict)
    assert devices["buttons-3"]["link"] == "not simulated"
    assert "gpio" in devices["buttons-3"]["why"]
    assert devices["rate-1"]["where"] == f"{tmp_path / 'ports' / 'pads'} @21"
    assert devices["pad-1"]["link"] == "plugged"
    assert shows(hall, "rate-1") == {"type": "rating_pad", "prompt": "idle", "scores": [5, 4, 3, 2]}
    assert state["auto"] == {"on": False, "speed": 10.0, "windows": ["1", "2"]}
    assert json.loads(json.dumps(state, ensure_ascii=False)) == state


async def test_stop_removes_the_port_links(tmp_path: Path) -> None:
    hall = SimulatedHall(
        SERIAL_HALL, hall_id=HALL_ID, data_dir=tmp_path, mqtt_host=None, mqtt_port=None
    )
    await hall.start()
    await hall.stop()
    assert not (tmp_path / "ports" / "pads").exists()
    assert not (tmp_path / "ports" / "pads").is_symlink()


async def test_a_real_device_at_the_port_path_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "ports").mkdir()
    (tmp_path / "ports" / "rf").write_text("not a pty")
    hall = SimulatedHall(
        SERIAL_HALL, hall_id=HALL_ID, data_dir=tmp_path, mqtt_host=None, mqtt_port=None
    )
    with pytest.raises(SimulatorError, match="no simulated port"):
        await hall.start()
    assert (tmp_path / "ports" / "rf").read_text() == "not a pty"
    assert not (tmp_path / "ports" / "pads").exists()  # what had started was stopped


async def test_a_link_to_a_real_port_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "ports").mkdir()
    (tmp_path / "ports" / "pads").symlink_to("/dev/ttyUSB7")  # as udev's by-id links are
    hall = SimulatedHall(
        SERIAL_HALL, hall_id=HALL_ID, data_dir=tmp_path, mqtt_host=None, mqtt_port=None
    )
    with pytest.raises(SimulatorError, match="a real port is not replaced"):
        await hall.start()
    assert os.readlink(tmp_path / "ports" / "pads") == "/dev/ttyUSB7"
    await hall.stop()
    assert os.readlink(tmp_path / "ports" / "pads") == "/dev/ttyUSB7"


def test_mqtt_devices_need_the_broker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give the broker"):
        SimulatedHall(
            [device("board-9", "mqtt-window-display", "9")],
            hall_id=HALL_ID,
            data_dir=tmp_path,
            mqtt_host=None,
            mqtt_port=None,
        )


# --- a window's flow through the controller ------------------------------------------------------


async def test_a_window_calls_serves_and_is_rated_through_real_bytes(
    hall: SimulatedHall, running: Controller
) -> None:
    number = await running.issue()
    await hall.press("pad-1", "call")
    await eventually(lambda: shows(hall, "board-1")["text"] == f"请{number}号", "board shows")
    assert shows(hall, "board-1")["blink"] is True
    await eventually(lambda: shows(hall, "pad-1")["text"] == number, "pad shows the number")
    assert shows(hall, "pad-1")["lamp"] is True

    await hall.press("pad-1", "start")
    await hall.press("pad-1", "finish")
    await eventually(lambda: shows(hall, "rate-1")["prompt"] == "asking", "rating pad asks")
    await hall.rate("rate-1", 4)
    await eventually(lambda: shows(hall, "rate-1")["prompt"] == "thanks", "rating pad thanks")
    assert getattr(running.ticket(number), "rating", None) == 4


async def test_a_wireless_pad_calls_to_the_numeric_display(
    hall: SimulatedHall, running: Controller
) -> None:
    numbers = [await running.issue(), await running.issue()]
    await hall.hold("rf", "call", 0.5)  # held: six frames, one press
    await eventually(lambda: running.service.current().current_ticket("2"), "window 2 calls")
    called = running.service.current().current_ticket("2")
    assert called is not None
    assert called.number in numbers
    digits = "".join(c for c in called.number if c.isdigit()).zfill(4)[-4:]
    await eventually(lambda: shows(hall, "num-2")["shows"] == digits, "numeric display")
    assert shows(hall, "num-2")["window"] == 2
    assert shows(hall, "num-2")["blink"] is True
    assert shows(hall, "rf")["last"] == {"remote": "0x42", "action": "call", "frames": 6}
    await asyncio.sleep(0.5)  # a second press would call the other ticket
    assert [t.number for t in running.service.current().tickets.values() if t.window] == [
        called.number
    ]


async def test_an_unplugged_board_is_lost_and_redrawn_after_replug(
    hall: SimulatedHall, running: Controller
) -> None:
    number = await running.issue()
    await hall.press("pad-1", "call")
    await eventually(lambda: shows(hall, "board-1")["blink"] is True, "board blinks")
    assert hall.unplug("board-1") == ["board-1"]
    board = running.hub.devices["board-1"]
    await eventually(lambda: board.health.state is DeviceState.LOST, "the controller sees lost")
    assert hall.state()["devices"]["board-1"]["link"] == "unplugged"  # type: ignore[index]
    assert "[unplugged]" not in str(shows(hall, "board-1"))

    hall.replug("board-1")
    await eventually(lambda: board.ready, "the controller reconnects")
    steady = {"type": "led_board", "text": f"请{number}号", "blink": False}
    await eventually(
        lambda: shows(hall, "board-1") == steady,
        "the snapshot redraws the board (steady: no fresh call)",
    )


async def test_keys_on_an_unplugged_port_are_refused(hall: SimulatedHall) -> None:
    hall.unplug("rate-1")
    with pytest.raises(SimulatorError, match="unplugged"):
        await hall.press("pad-1", "call")  # the pad shares the rating pad's line
    with pytest.raises(SimulatorError, match="unplugged"):
        await hall.rate("rate-1", 5)
    hall.replug("pad-1")
    await hall.press("pad-1", "call")


async def test_automatic_clerks_move_the_hall(hall: SimulatedHall, running: Controller) -> None:
    numbers = [await running.issue() for _ in range(4)]
    assert hall.start_auto(speed=400.0) == ["1", "2"]
    assert hall.state()["auto"] == {"on": True, "speed": 400.0, "windows": ["1", "2"]}

    def rated() -> bool:
        return any(getattr(running.ticket(n), "rating", None) for n in numbers)

    await eventually(rated, "a ticket served and rated at window 1", within=20.0)
    await hall.stop_auto()
    assert not hall.auto
    called = [n for n in numbers if getattr(running.ticket(n), "window", None) == "2"]
    assert called, "the wireless pad of window 2 called too"


# --- a technician's mistakes ---------------------------------------------------------------------


async def test_mistakes_get_clear_messages(hall: SimulatedHall) -> None:
    with pytest.raises(UnknownDevice, match="did you mean 'pad-1'"):
        await hall.press("pad1", "call")
    with pytest.raises(BadArgument, match="did you mean 'call'") as bad_key:
        await hall.press("pad-1", "cal")
    assert "its keys: call, recall" in str(bad_key.value)
    with pytest.raises(Unsupported, match="no keys to press"):
        await hall.press("board-1", "call")
    with pytest.raises(Unsupported, match="not simulated"):
        await hall.press("buttons-3", "call")
    with pytest.raises(BadArgument, match="no key for score 1"):
        await hall.rate("rate-1", 1)
    with pytest.raises(Unsupported, match="not a rating pad"):
        await hall.rate("pad-1", 5)
    with pytest.raises(Unsupported, match="only 433 MHz receivers"):
        await hall.hold("pad-1", "call", 1.0)
    with pytest.raises(BadArgument, match="0 to 60 seconds"):
        await hall.hold("rf", "call", 120.0)
    with pytest.raises(BadArgument, match="does not fit"):
        await hall.hold("rf", "call", 0.1, remote=1 << 21)
    with pytest.raises(Unsupported, match="use unplug/replug"):
        await hall.offline("pad-1")
    with pytest.raises(BadArgument, match="above 0"):
        hall.start_auto(speed=0)


# --- MQTT devices --------------------------------------------------------------------------------


async def test_mqtt_devices_come_and_go_on_the_broker(mosquitto: Mosquitto, tmp_path: Path) -> None:
    topics = Topics(HALL_ID)
    watcher = MqttLink(mosquitto.host, mosquitto.port, "watcher", persistent_session=False)
    seen: list[Message] = []
    watcher.subscribe(f"hall/{HALL_ID}/device/#", 1, seen.append)
    await watcher.start(WAIT_S)
    configs = [
        device("pad-9", "mqtt-callpad", "9"),
        device("board-9", "mqtt-window-display", "9"),
        device("rate-9", "mqtt-rating-pad", "9"),
    ]
    hall = SimulatedHall(
        configs,
        hall_id=HALL_ID,
        data_dir=tmp_path,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
    )
    await hall.start()
    try:

        def last(topic: str) -> bytes | None:
            payloads = [m.payload for m in seen if m.topic == topic]
            return payloads[-1] if payloads else None

        state = topics.device_state("board-9")
        await eventually(lambda: last(state) == b"ready", "board-9 ready")
        await hall.press("pad-9", "call")
        await eventually(
            lambda: last(topics.device_event("pad-9", "key")) == b'{"key":"call"}', "key event"
        )
        await hall.rate("rate-9", 1)
        await eventually(
            lambda: last(topics.device_event("rate-9", "rating")) == b'{"score":1}', "rating"
        )
        await hall.offline("board-9")
        await eventually(lambda: last(state) == b"lost", "board-9's will")
        assert hall.state()["devices"]["board-9"]["link"] == "offline"  # type: ignore[index]
        with pytest.raises(Unsupported, match="use offline/online"):
            hall.unplug("board-9")
        await hall.online("board-9")
        await eventually(lambda: last(state) == b"ready", "board-9 back")
        assert hall.state()["devices"]["board-9"]["link"] == "online"  # type: ignore[index]
        with pytest.raises(Unsupported, match="only 433 MHz"):
            await hall.hold("pad-9", "call", 1.0)
    finally:
        await hall.stop()
        await watcher.stop(WAIT_S)
