"""The technician's console: every command, and bad input that must never end the session."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType

import pytest

from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols import callpad, led_board
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import FrameDecoder
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.simulators.console import describe, run_console, stdin_lines
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.transports.serial import SerialLink, SerialParams

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
WAIT_S = 5.0


def device(
    device_id: str, profile: str, window: str | None, port: str | None, address: int
) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=PROFILES[profile],
        window=window,
        port=port,
        address=address,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({0x42: "2"} if profile == "rf433-receiver" else {}),
    )


DEVICES = [
    device("pad-1", "callpad-ff68", "1", "ports/pads", 1),
    device("board-1", "led-aa55-sum8", "1", "ports/boards", 11),
    device("rate-1", "rating-5key-aa", "1", "ports/pads", 21),
    device("rf", "rf433-receiver", None, "ports/rf", 0),
    device("buttons-3", "gpio-call-buttons", "3", None, 0),
    device("reader-k", "sam-idcard-serial", None, "ports/idcard", 0),
    device("scanner-k", "scanner-serial", None, "ports/scanner", 0),
    device("printer-k", "escpos-58mm-gbk", None, "ports/printer", 0),
]


async def feed(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[SimulatedHall]:
    simulated = SimulatedHall(
        DEVICES, hall_id="h1", data_dir=tmp_path, mqtt_host=None, mqtt_port=None, seed=1
    )
    await simulated.start()
    yield simulated
    await simulated.stop()


async def run(hall: SimulatedHall, *lines: str) -> list[str]:
    out: list[str] = []
    async with asyncio.timeout(WAIT_S):
        await run_console(hall, feed(*lines), out.append)
    return out


async def test_help_lists_every_command(hall: SimulatedHall) -> None:
    out = await run(hall, "help")
    text = "\n".join(out)
    for name in ("devices", "show", "press", "hold", "rate", "unplug", "replug", "offline"):
        assert f"  {name}" in text
    assert "auto [on [speed] | off]" in text


async def test_devices_lists_ports_and_what_is_not_simulated(
    hall: SimulatedHall, tmp_path: Path
) -> None:
    out = await run(hall, "devices")
    assert out[1].split() == ["device", "kind", "driver", "window", "link", "where"]
    rows = {line.split()[0]: line for line in out[2:]}
    assert f"{tmp_path / 'ports' / 'pads'} @21" in rows["rate-1"]
    assert "plugged" in rows["pad-1"]
    assert "not simulated" in rows["buttons-3"]


async def test_press_hold_and_rate_send_real_frames(hall: SimulatedHall, tmp_path: Path) -> None:
    codec = PROFILES["callpad-ff68"].codec
    assert isinstance(codec, CallPadCodec)
    controller = SerialLink(SerialParams(str(tmp_path / "ports" / "pads")))
    await controller.open(WAIT_S)
    try:
        out = await run(hall, "press pad-1 call", "rate rate-1 3", "hold rf call 0.3")
        assert out[1:] == ["pad-1: pressed call", "rate-1: rated 3", "rf: held call for 0.3 s"]
        decoder = FrameDecoder(codec.framing)
        frames = decoder.feed(await controller.read(WAIT_S))
        assert callpad.parse(codec, frames[0]) == callpad.PadKey(1, "call")
    finally:
        await controller.close()
    assert "frames" in describe(hall.state()["devices"]["rf"])  # type: ignore[index]


async def test_show_reads_every_display_and_pad(hall: SimulatedHall, tmp_path: Path) -> None:
    led = PROFILES["led-aa55-sum8"].codec
    assert isinstance(led, LedBoardCodec)
    controller = SerialLink(SerialParams(str(tmp_path / "ports" / "boards")))
    await controller.open(WAIT_S)
    try:
        await controller.write(led_board.show(led, 11, "请A012号", blink=True), WAIT_S)
        await asyncio.sleep(0.2)
    finally:
        await controller.close()
    out = await run(hall, "show", "show board-1", "show bored-1")
    table = {line.split()[0]: line for line in out[2:7]}
    assert '"请A012号" blinking' in table["board-1"]
    assert "(blank) lamp off, 0 beeps" in table["pad-1"]
    assert "idle" in table["rate-1"]
    assert "no press heard yet" in table["rf"]
    assert "not simulated" in table["buttons-3"]
    assert out[-2].startswith("board-1")
    assert out[-1].startswith("error: no device 'bored-1'; did you mean 'board-1'")


async def test_unplug_and_replug_the_whole_port(hall: SimulatedHall) -> None:
    out = await run(hall, "unplug rate-1", "show pad-1", "press pad-1 call", "replug pad-1")
    assert out[1] == "unplugged the port of rate-1: pad-1, rate-1 gone"
    assert out[3].endswith("[unplugged]")
    assert "is unplugged (replug it first)" in out[4]
    assert out[5] == "plugged the port of pad-1 back in: pad-1, rate-1 back"


async def test_automatic_clerks_switch_on_and_off(hall: SimulatedHall) -> None:
    out = await run(hall, "auto", "auto on 50", "auto", "auto off", "auto sideways", "auto off 3")
    assert out[1] == "automatic clerks are off (speed 10)"
    assert out[2] == "automatic clerks on at windows 1, 2 (speed 50)"
    assert out[3] == "automatic clerks are on (speed 50)"
    assert out[4] == "automatic clerks off"
    assert out[5] == "say 'on' or 'off', not 'sideways'; usage: auto [on [speed] | off]"
    assert out[6].startswith("'auto off' takes nothing more")
    assert not hall.auto


async def test_bad_input_gets_a_message_and_the_console_goes_on(hall: SimulatedHall) -> None:
    out = await run(
        hall,
        "",
        "   ",
        "pres pad-1 call",
        "press pad-1",
        "press pad1 call",
        "press pad-1 cal",
        "press board-1 call",
        "press buttons-3 call",
        "rate rate-1 five",
        "rate rate-1 9",
        "hold rf call soon",
        "hold rf call nan",
        "hold rf call 1 0xZZ",
        "hold pad-1 call 1",
        "offline pad-1",
        "online rf",
        "auto on -3",
        "frobnicate",
        "help me",
        "devices",
    )
    replies = out[1:]
    assert replies[0] == "unknown command 'pres'; did you mean 'press'?; type 'help'"
    assert replies[1] == "usage: press <device> <action> [remote]"
    assert "no device 'pad1'; did you mean 'pad-1'?" in replies[2]
    assert "no 'cal' key; did you mean 'call'" in replies[3]
    assert "no keys to press" in replies[4]
    assert "not simulated" in replies[5]
    assert replies[6].startswith("score 'five' is not a whole number")
    assert "no key for score 9" in replies[7]
    assert replies[8].startswith("seconds 'soon' is not a number")
    assert replies[9].startswith("seconds 'nan' is not a number")
    assert replies[10].startswith("remote '0xZZ' is not a number")
    assert "only 433 MHz receivers" in replies[11]
    assert "use unplug/replug" in replies[12]
    assert "not on MQTT" in replies[13]
    assert "speed must be above 0" in replies[14]
    assert replies[15] == "unknown command 'frobnicate'; type 'help'"
    assert replies[16] == "usage: help"
    assert replies[17].split()[0] == "device"  # still working


async def test_quit_ends_the_console_and_later_lines_are_not_run(hall: SimulatedHall) -> None:
    out = await run(hall, "QUIT", "press pad-1 call")
    assert out[1:] == ["bye"]
    assert hall.serial["pad-1"].peer.view()["type"] == "call_pad"


async def test_a_slip_inside_a_command_is_reported_not_raised(
    hall: SimulatedHall, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(device_id: str) -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hall, "unplug", broken)
    out = await run(hall, "unplug pad-1", "quit")
    assert out[1:] == ["error: RuntimeError: a bug", "bye"]


async def test_stdin_lines_reads_typed_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("help\r\nshow pad-1\n"))
    lines = []
    async with asyncio.timeout(WAIT_S):
        async for line in stdin_lines():
            lines.append(line)
    assert lines == ["help", "show pad-1"]


async def test_kiosk_commands_place_cards_scan_codes_and_set_paper(
    hall: SimulatedHall, tmp_path: Path
) -> None:
    scanner = SerialLink(SerialParams(str(tmp_path / "ports" / "scanner")))
    await scanner.open(WAIT_S)
    try:
        out = await run(
            hall,
            "card reader-k elderly",
            "scan scanner-k http://hall.example/t/20261128-A001",
            "paper printer-k out",
            "card reader-k off",
            "card scanner-k adult",
            "paper printer-k wet",
        )
        assert out[1].startswith("reader-k: a synthetic elderly applicant's card is on the reader")
        assert out[2:5] == [
            "scanner-k: scanned 35 characters",
            "printer-k: paper out",
            "reader-k: card taken away",
        ]
        assert out[5].startswith("error: scanner-k is a ")
        assert out[6].startswith("'wet' is not ok, low or out; usage: paper <printer>")
        received = b""
        async with asyncio.timeout(WAIT_S):
            while not received.endswith(b"\r\n"):
                received += await scanner.read(WAIT_S)
        assert received == b"http://hall.example/t/20261128-A001\r\n"
        assert hall.printer("printer-k").paper == "out"
    finally:
        await scanner.close()
