"""The technician console's API against the real controller and simulated devices over PTYs.

The controller runs with a few of the demo hall's devices (a call pad, an LED board and a rating
pad on one RS-485 line, a Modbus numeric display, a kiosk printer and ID card reader, the WAV
file speaker); the simulated peers on the other ends of the PTYs show what a test-fire did.
Its profile folder is a copy, so saved profiles never touch the shipped ones.
"""

from __future__ import annotations

import dataclasses
import shutil
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from test_api import T0, Api, Clock

from hall_controller.config_reader import ConfigError
from hall_controller.devices.hub import DEVICE_TESTS
from hall_controller.logs import RECENT, RecentLog, configure_logging
from hall_controller.profiles import DRIVERS, EscposSettings, load_profiles
from hall_controller.settings import load_settings
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.simulators.peers import CallPadPeer, LedBoardPeer, ModbusDisplayPeer

from accounts import AUTH, with_test_access
from conftest import ROOT, demo_config_text
from escpos_decoder import decode
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

DEVICES = ("w1-pad", "w1-board", "w1-rating", "w5-display", "k1-printer", "k1-idcard")
SPEAKER = "hall-speaker"
ACTOR = "token:tests"  # the tests' token account (tests/accounts.py)
LED_PROFILE = "led-aa55-sum8"


@dataclasses.dataclass
class DeviceHall:
    """A running controller, its simulated devices, its config file and profile folder."""

    api: Api
    sim: SimulatedHall
    config: Path
    profiles: Path
    data_dir: Path

    def peer(self, device: str) -> Any:
        return self.sim.serial[device].peer

    async def device(self, device: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.api.get(f"/api/v1/devices/{device}")
        return body

    async def test_fire(self, device: str, expect: int = 200) -> dict[str, Any]:
        reply = await self.api.request("POST", f"/api/v1/devices/{device}/test")
        assert reply.status == expect, reply.text
        body: dict[str, Any] = reply.body
        return body


def quick(config: Any) -> Any:
    """A printer's status poll and print deadline cut short for the tests."""
    profile = config.profile
    if not isinstance(profile.codec, EscposSettings):
        return config
    codec = dataclasses.replace(profile.codec, print_timeout_s=3.0)
    timeouts = dataclasses.replace(profile.timeouts, ping_every_s=0.3)
    return dataclasses.replace(
        config, profile=dataclasses.replace(profile, codec=codec, timeouts=timeouts)
    )


async def start_device_hall(tmp_path: Path, devices: tuple[str, ...]) -> DeviceHall:
    """The demo hall with `devices` only (simulated), a profile folder of its own, started."""
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "device_profiles", profiles)
    shipped = (ROOT / "device_profiles").as_posix()
    text = demo_config_text(devices=True).replace(f'"{shipped}"', f'"{profiles.as_posix()}"')
    config = tmp_path / "hall.toml"
    config.write_text(text, encoding="utf-8")
    settings = with_test_access(load_settings(config))
    chosen = tuple(quick(d) for d in settings.devices if d.id in devices)
    settings = dataclasses.replace(settings, devices=chosen, mqtt=None)
    data_dir = tmp_path / "data"
    sim = SimulatedHall(
        chosen, hall_id=settings.hall.id, data_dir=data_dir, mqtt_host=None, mqtt_port=None
    )
    await sim.start()
    session = aiohttp.ClientSession(headers=AUTH)
    api = Api(settings, data_dir, Clock(T0), session)
    hall = DeviceHall(api, sim, config, profiles, data_dir)
    try:
        await api.start()
        assert api.controller is not None
        assert api.controller.devices is not None
        hub = api.controller.devices.hub
        await eventually(
            lambda: all(d.ready for d in hub.devices.values()), "every device ready", within=20
        )
    except BaseException:
        await stop_device_hall(hall)
        raise
    return hall


async def stop_device_hall(hall: DeviceHall) -> None:
    await hall.api.stop()
    await hall.api.session.close()
    await hall.sim.stop()


@pytest.fixture
async def device_hall(tmp_path: Path) -> AsyncIterator[DeviceHall]:
    hall = await start_device_hall(tmp_path, DEVICES)
    try:
        yield hall
    finally:
        await stop_device_hall(hall)


@pytest.fixture
def recent_log() -> Iterator[RecentLog]:
    """The log ring behind every logger of this process, as configure_logging puts it.

    Added in place to the processor list that loggers already in use hold (as structlog's own
    capture_logs does), before the renderer; taken out again afterwards.
    """
    processors = structlog.get_config()["processors"]
    added = RECENT not in processors
    if added:
        processors.insert(max(len(processors) - 1, 0), RECENT)
    RECENT.clear()
    try:
        yield RECENT
    finally:
        if added:
            processors.remove(RECENT)
        RECENT.clear()


# ----------------------------------------------------------------- devices and their health


async def test_every_device_shows_its_health_and_its_last_frames_each_way(
    device_hall: DeviceHall,
) -> None:
    devices = {d["id"]: d for d in await device_hall.api.get("/api/v1/devices")}
    assert set(devices) == set(DEVICES)
    assert {d["state"] for d in devices.values()} == {"ready"}
    # The pad is pinged every 3 s and answers: frames both ways, as annotated hex with times.
    await eventually(lambda: device_hall.peer("w1-pad").pings >= 1, "the pad was pinged", 10)
    pad = await device_hall.device("w1-pad")
    assert pad["test"] == "light"
    ping = pad["recent_out"][-1]
    assert ping["frame"].startswith("FF 68 01 10")  # header, address 1, ping
    assert ping["note"].endswith("bytes")
    assert isinstance(ping["at"], float)
    board = await device_hall.device("w1-board")
    assert board["recent_out"][0]["note"] == "clear"  # the closed window's board at start
    assert board["recent_in"] == []  # the board never answers
    assert board["test"] == "flash"
    assert devices["k1-idcard"]["test"] is None
    assert devices["w1-rating"]["test"] is None

    missing = await device_hall.api.error("GET", "/api/v1/devices/w9-board", 404)
    assert "w9-board" in missing["message"]


async def test_an_led_board_shows_the_test_text_then_what_it_showed_before(
    device_hall: DeviceHall,
) -> None:
    api = device_hall.api
    await api.post("/api/v1/windows/1/open")
    await api.issue("social")
    await api.post("/api/v1/windows/1/call")
    board: LedBoardPeer = device_hall.peer("w1-board")
    await eventually(lambda: board.text == "请A001号", "the call on the board")

    fired = await device_hall.test_fire("w1-board")
    assert fired["action"] == "flash"
    assert fired["actor"] == ACTOR
    assert "测试 TEST" in fired["done"]
    await eventually(lambda: board.text == "测试 TEST" and board.blink, "the test on the board")
    await eventually(lambda: board.text == "请A001号", "the call back on the board", within=10)

    sent = (await device_hall.device("w1-board"))["recent_out"]
    test_frame = next(f for f in sent if f["note"] == "test: 测试 TEST")
    assert test_frame["frame"].startswith("AA 55 0B 02")  # board 11, blink command
    assert sent[-1]["note"] == "show 请A001号"  # the snapshot that put the call back


async def test_a_printer_prints_a_test_ticket_and_confirms_it(device_hall: DeviceHall) -> None:
    printer = device_hall.sim.printer("k1-printer")
    before = len(printer.jobs)
    fired = await device_hall.test_fire("k1-printer")
    assert fired["action"] == "print"
    assert "confirmed" in fired["done"]
    assert len(printer.jobs) == before + 1
    paper = decode(
        printer.jobs[-1].data, printer.encoding, chinese_at_start=printer.chinese_at_start
    )
    assert "测试 TEST" in paper.texts
    assert paper.line("TEST").width >= 2  # the number's place, printed large
    assert any("k1-printer" in text for text in paper.texts)
    assert any("中文打印正常" in text for text in paper.texts)


async def test_a_call_pad_lights_up_then_shows_its_window_again(device_hall: DeviceHall) -> None:
    pad: CallPadPeer = device_hall.peer("w1-pad")
    assert (pad.lamp, pad.text) == (False, "")  # window 1 is closed
    beeps = pad.beeps
    fired = await device_hall.test_fire("w1-pad")
    assert fired["action"] == "light"
    await eventually(lambda: pad.lamp and pad.text == "测试", "the pad lit with the test text")
    assert pad.beeps == beeps + 1
    await eventually(lambda: not pad.lamp and pad.text == "", "the pad dark again", within=10)


async def test_a_numeric_display_lights_every_segment_then_clears(
    device_hall: DeviceHall,
) -> None:
    display: ModbusDisplayPeer = device_hall.peer("w5-display")
    every_segment = int("8" * display.map.digits)
    fired = await device_hall.test_fire("w5-display")
    assert fired["action"] == "flash"
    await eventually(lambda: display.number == every_segment, "every digit an 8")
    await eventually(lambda: display.number == 0, "the display blank again", within=10)


async def test_kinds_without_a_test_answer_422_and_a_lost_device_409(
    device_hall: DeviceHall,
) -> None:
    reader = await device_hall.api.error("POST", "/api/v1/devices/k1-idcard/test", 422)
    assert "card reader" in reader["message"]
    assert "no test" in reader["message"]
    await device_hall.api.error("POST", "/api/v1/devices/w1-rating/test", 422)
    await device_hall.api.error("POST", "/api/v1/devices/w9-pad/test", 404)

    device_hall.sim.unplug("k1-printer")
    assert device_hall.api.controller is not None
    assert device_hall.api.controller.devices is not None
    printer = device_hall.api.controller.devices.hub.devices["k1-printer"]
    await eventually(lambda: printer.health.state.value == "lost", "the printer lost", 10)
    assert (await device_hall.device("k1-printer"))["state"] == "lost"
    lost = await device_hall.api.error("POST", "/api/v1/devices/k1-printer/test", 409)
    assert "lost" in lost["message"]


async def test_a_speaker_speaks_the_test_sentence(tmp_path: Path) -> None:
    hall = await start_device_hall(tmp_path, (SPEAKER,))
    try:
        fired = await hall.test_fire(SPEAKER)
        assert fired["action"] == "speak"
        assert "广播测试" in fired["done"]
        folder = hall.data_dir / "announcements"

        def spoken() -> list[Path]:
            return sorted(folder.glob("*TEST*.wav")) if folder.is_dir() else []

        await eventually(lambda: spoken(), "the test sentence's audio", within=30)
        with wave.open(str(spoken()[0])) as audio:
            assert audio.getnframes() / audio.getframerate() > 1.0  # two sentences, spoken
        health = await hall.device(SPEAKER)
        assert health["recent_out"][-1]["note"] == "test"
        assert "广播测试" in health["recent_out"][-1]["frame"]
    finally:
        await stop_device_hall(hall)


def test_every_driver_has_a_test_or_is_a_kind_that_has_none() -> None:
    """A new driver must say what its test is, unless its kind has no test at all."""
    kinds_without_a_test = {"card_reader", "code_scanner", "rating_pad"}
    profiles = load_profiles(ROOT / "device_profiles")
    kind_of = {p.driver: p.kind for p in profiles.values()}
    for driver in DRIVERS:
        assert driver in DEVICE_TESTS or kind_of[driver] in kinds_without_a_test, driver


# ----------------------------------------------------------------- the log


async def test_test_fires_are_logged_with_the_actor_and_read_back_by_level(
    device_hall: DeviceHall, recent_log: RecentLog
) -> None:
    api = device_hall.api
    await device_hall.test_fire("w1-board")
    await api.error("POST", "/api/v1/devices/k1-idcard/test", 422)

    everything = (await api.get("/api/v1/log?limit=500&level=debug"))["lines"]
    fired = [line for line in everything if line["event"] == "device_test_fired"]
    assert [(f["fields"]["device"], f["fields"]["actor"]) for f in fired] == [("w1-board", ACTOR)]
    assert fired[0]["level"] == "info"

    warnings = await api.get("/api/v1/log?level=warning")
    assert warnings["kept"] == 500
    events = [line["event"] for line in warnings["lines"]]
    assert "device_test_refused" in events
    assert "device_test_fired" not in events
    refused = next(line for line in warnings["lines"] if line["event"] == "device_test_refused")
    assert refused["fields"]["actor"] == ACTOR
    assert refused["fields"]["device"] == "k1-idcard"

    newest = (await api.get("/api/v1/log?limit=1&level=debug"))["lines"]
    assert newest == everything[-1:]

    typo = await api.error("GET", "/api/v1/log?levle=warning", 422)
    assert 'did you mean "level"' in typo["message"]
    await api.error("GET", "/api/v1/log?level=loud", 422)
    await api.error("GET", "/api/v1/log?limit=501", 422)


def test_the_log_ring_keeps_lines_after_the_id_number_is_masked() -> None:
    """configure_logging puts the ring behind the redaction: the console never shows an ID."""
    saved = structlog.get_config()
    try:
        configure_logging("info", json_lines=True)
        RECENT.clear()
        logger = structlog.get_logger("tests.technician")
        logger.warning("card_read", note="card 11010519491231002X read", n=3)
        logger.debug("too_quiet")
        lines = RECENT.lines(10)
        assert [line["event"] for line in lines] == ["card_read"]
        assert lines[0]["level"] == "warning"
        assert lines[0]["fields"] == {"note": "card 110105********002X read", "n": "3"}
        assert lines[0]["logger"] == "tests.technician"
    finally:
        structlog.configure(**saved)
        RECENT.clear()


def test_the_log_ring_masks_an_id_number_inside_any_value() -> None:
    """The redaction masks text values; the ring keeps every other value as its text too, so
    an ID number in a dict, a list, a number or an exception is masked there as well."""
    saved = structlog.get_config()
    try:
        configure_logging("info", json_lines=True)
        RECENT.clear()
        logger = structlog.get_logger("tests.technician")
        logger.warning(
            "card_failed",
            card={"number": "11010519491231002X"},
            numbers=["440106199001011234"],
            raw=440106199001011234,
            error=ValueError("bad card 11010519491231002X"),
        )
        [line] = RECENT.lines(10)
        shown = " ".join(line["fields"].values())
        for digits in ("1949123100", "1990010112", "11010519491231002X", "440106199001011234"):
            assert digits not in shown, shown
        assert line["fields"]["card"] == "{'number': '110105********002X'}"
        assert line["fields"]["raw"] == "440106********1234"
    finally:
        structlog.configure(**saved)
        RECENT.clear()


def test_the_log_ring_keeps_the_newest_lines_only() -> None:
    ring = RecentLog(size=3)
    for n in range(5):
        ring(None, "info", {"event": f"line{n}", "level": "info", "timestamp": "t"})
    ring(None, "warning", {"event": "trouble", "level": "warning", "timestamp": "t"})
    assert [line["event"] for line in ring.lines(10)] == ["line3", "line4", "trouble"]
    assert [line["event"] for line in ring.lines(10, "warning")] == ["trouble"]
    assert [line["event"] for line in ring.lines(1)] == ["trouble"]


# ----------------------------------------------------------------- profiles


async def test_profiles_are_listed_with_the_devices_that_use_them(device_hall: DeviceHall) -> None:
    listing = await device_hall.api.get("/api/v1/profiles")
    assert listing["folder"] == str(device_hall.profiles)
    assert listing["writable"] is True
    assert listing["takes_effect"] == "next_start"
    by_name = {p["name"]: p for p in listing["profiles"]}
    assert set(by_name) == {p.stem for p in (ROOT / "device_profiles").glob("*.toml")}
    assert all(p["valid"] for p in by_name.values())
    assert by_name[LED_PROFILE]["used_by"] == ["w1-board"]
    assert by_name[LED_PROFILE]["kind"] == "window_display"
    assert by_name["callpad-ff68"]["used_by"] == ["w1-pad"]
    assert by_name["mqtt-callpad"]["used_by"] == []

    profile = await device_hall.api.get(f"/api/v1/profiles/{LED_PROFILE}")
    assert profile["text"] == (device_hall.profiles / f"{LED_PROFILE}.toml").read_text("utf-8")
    await device_hall.api.error("GET", "/api/v1/profiles/no-such-model", 404)
    await device_hall.api.error("GET", "/api/v1/profiles/Upper", 422)


async def test_a_misspelt_key_is_named_with_a_did_you_mean_and_nothing_is_saved(
    device_hall: DeviceHall,
) -> None:
    api = device_hall.api
    file = device_hall.profiles / f"{LED_PROFILE}.toml"
    text = file.read_text("utf-8")
    broken = text.replace("baudrate = 9600", "baudrat = 9600").replace("width = 8", "width = 99")
    checked = await api.post("/api/v1/profiles/validate", {"name": LED_PROFILE, "text": broken})
    assert checked["ok"] is False
    assert checked["profile"] is None
    assert (
        f'{LED_PROFILE}.toml: transport.baudrat: unknown key; did you mean "baudrate"?'
        in (checked["problems"])
    )
    assert any(p.startswith(f"{LED_PROFILE}.toml: codec.width: ") for p in checked["problems"])

    reply = await api.request("PUT", f"/api/v1/profiles/{LED_PROFILE}", json={"text": broken})
    assert reply.status == 422
    assert reply.body["error"]["details"]["problems"] == checked["problems"]
    assert file.read_text("utf-8") == text

    # A valid profile of another kind would leave w1-board, a window display, without a model.
    pad = (device_hall.profiles / "callpad-ff68.toml").read_text("utf-8")
    other = await api.post("/api/v1/profiles/validate", {"name": LED_PROFILE, "text": pad})
    assert other["ok"] is False
    assert "w1-board use this profile as a window_display" in other["problems"][0]

    fine = await api.post("/api/v1/profiles/validate", {"name": LED_PROFILE, "text": text})
    assert fine == {
        "name": LED_PROFILE,
        "ok": True,
        "problems": [],
        "profile": fine["profile"],
    }
    assert fine["profile"]["driver"] == "framed_led"


async def test_a_valid_profile_is_saved_atomically_and_in_force_at_the_next_start(
    device_hall: DeviceHall,
) -> None:
    api = device_hall.api
    file = device_hall.profiles / f"{LED_PROFILE}.toml"
    edited = file.read_text("utf-8").replace('refresh_every = "15s"', 'refresh_every = "10s"')
    reply = await api.request("PUT", f"/api/v1/profiles/{LED_PROFILE}", json={"text": edited})
    assert reply.status == 200, reply.text
    assert reply.body["takes_effect"] == "next_start"
    assert reply.body["used_by"] == ["w1-board"]
    assert file.read_text("utf-8") == edited
    assert [p.name for p in device_hall.profiles.iterdir() if p.name.startswith(".")] == []

    again = await api.get(f"/api/v1/profiles/{LED_PROFILE}")
    assert again["text"] == edited
    assert again["saved_since_start"] is True
    # The running board keeps its old profile; the next start reads the new one.
    assert api.controller is not None
    assert api.controller.devices is not None
    running = api.controller.devices.hub.devices["w1-board"].config.profile
    assert running.timeouts.refresh_every_s == 15.0
    restarted = load_settings(device_hall.config)
    board = next(d for d in restarted.devices if d.id == "w1-board")
    assert board.profile.timeouts.refresh_every_s == 10.0

    # A new model is a new file.
    copy = await api.request("PUT", "/api/v1/profiles/led-aa55-wide", json={"text": edited})
    assert copy.status == 200, copy.text
    listing = {p["name"]: p for p in (await api.get("/api/v1/profiles"))["profiles"]}
    assert listing["led-aa55-wide"]["saved_since_start"] is True
    assert listing["led-aa55-wide"]["used_by"] == []
    assert (device_hall.profiles / "led-aa55-wide.toml").is_file()

    hidden = await api.request("PUT", "/api/v1/profiles/.hidden", json={"text": edited})
    assert hidden.status in (404, 422)
    assert not (device_hall.profiles / ".hidden.toml").exists()
    # A name is all of the path's last part: a line break after a good name is no name.
    broken = await api.request("PUT", "/api/v1/profiles/led-aa55-tall%0A", json={"text": edited})
    assert broken.status == 422, broken.text
    assert sorted(p.name for p in device_hall.profiles.iterdir() if "\n" in p.name) == []


def test_a_broken_saved_profile_could_never_reach_the_folder(tmp_path: Path) -> None:
    """What the API refuses, the loader would refuse too: the same checks, the same words."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    text = (ROOT / "device_profiles" / f"{LED_PROFILE}.toml").read_text("utf-8")
    (folder / f"{LED_PROFILE}.toml").write_text(text.replace("baudrate", "baudrat"), "utf-8")
    with pytest.raises(ConfigError) as refused:
        load_profiles(folder)
    assert 'transport.baudrat: unknown key; did you mean "baudrate"?' in str(refused.value)
