"""The `hall-controller` command as an operator uses it."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import structlog
from mqtt_broker import Mosquitto
from server_process import ServerProcess

from hall_controller.app import open_hall
from hall_controller.logs import configure_logging, redact
from hall_controller.settings import load_settings

from accounts import AUTH
from conftest import DEMO_CONFIG, demo_config_text


def hall_controller(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_config_accepts_the_demo_hall() -> None:
    result = hall_controller("check-config", str(DEMO_CONFIG))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "6 themes, 12 windows" in result.stdout


def test_check_config_names_file_key_and_a_did_you_mean(tmp_path: Path) -> None:
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    bad = text.replace('prefix = "B"', 'prefx = "B"', 1).replace(
        'themes = ["social", "police"]', 'themes = ["socail", "police"]', 1
    )
    assert bad != text
    path = tmp_path / "hall.toml"
    path.write_text(bad, encoding="utf-8")
    result = hall_controller("check-config", str(path))
    assert result.returncode == 1
    assert f'{path}: themes[1].prefx: unknown key; did you mean "prefix"?' in result.stderr
    assert 'unknown theme "socail"; did you mean "social"?' in result.stderr
    assert "2 problems" in result.stderr or "3 problems" in result.stderr


def test_check_config_of_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = hall_controller("check-config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert "nope.toml" in result.stderr


def test_run_with_a_bad_config_exits_1_without_starting(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text("[hall]\nid = 'x'\n", encoding="utf-8")
    result = hall_controller("run", "--config", str(path), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "themes" in result.stderr


def test_run_on_a_busy_port_exits_1_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = hall_controller(
            "--log-json",
            "run",
            "--config",
            str(DEMO_CONFIG),
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            str(port),
        )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failure = [entry for entry in lines if entry.get("event") == "cannot_start"]
    assert failure, result.stderr
    assert f"127.0.0.1:{port}" in failure[0]["reason"]


def test_log_lines_never_carry_an_id_number(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json_lines=True)
    structlog.get_logger("test").info("scanned", note="card 11010519491231002X read", n=1)
    err = capsys.readouterr().err
    assert "11010519491231002X" not in err
    entry = json.loads(err.strip().splitlines()[-1])
    assert entry["note"] == "card 110105********002X read"


def test_redact_masks_both_id_generations_and_keeps_other_numbers() -> None:
    assert redact("11010519491231002x") == "110105********002x"
    assert redact("110105491231002") == "***************"
    assert redact("ticket 20261128-A012 seq 123456") == "ticket 20261128-A012 seq 123456"


def test_a_log_the_config_no_longer_fits_is_a_clear_start_up_error(tmp_path: Path) -> None:
    """Replaying a window the config has since lost names the event and the way out."""
    data = tmp_path / "d"
    full = tmp_path / "full.toml"
    full.write_text(demo_config_text(), encoding="utf-8")

    async def open_window_12() -> None:
        service, event_log = open_hall(load_settings(full), data)
        event_log.start(asyncio.get_running_loop())
        try:
            await service.window_action("12", "open", actor="staff:test")
        finally:
            await event_log.close()

    asyncio.run(open_window_12())
    text = demo_config_text()
    cut = tmp_path / "cut.toml"
    cut.write_text(text[: text.rindex("[[windows]]")], encoding="utf-8")  # window 12 is gone
    result = hall_controller("--log-json", "run", "--config", str(cut), "--data-dir", str(data))
    assert result.returncode == 1
    failure = [json.loads(x) for x in result.stderr.splitlines() if '"cannot_start"' in x]
    assert failure, result.stderr
    assert "WindowOpened" in failure[0]["reason"]
    assert "does not fit this hall's config" in failure[0]["reason"]


def test_check_config_counts_the_demo_hall_s_devices() -> None:
    result = hall_controller("check-config", str(DEMO_CONFIG))
    assert result.returncode == 0, result.stderr
    assert "24 devices" in result.stdout


def test_simulate_plays_the_devices_from_a_console(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "hall.toml"
    text = demo_config_text(devices=True).replace("port = 1883", f"port = {mosquitto.port}")
    config.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    command = [sys.executable, "-m", "hall_controller", "simulate"]
    result = subprocess.run(
        [*command, "--config", str(config), "--data-dir", str(data)],
        input="devices\npress w1-pad cal\npress w1-pad call\nshow w6-display\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "w1-board" in result.stdout
    assert "did you mean" in result.stdout  # "cal"
    assert not (data / "sim-dev" / "rs485-row-a").is_symlink()  # removed on quit
    assert "bye" in result.stdout


def test_simulate_without_devices_in_the_config_says_so(demo_config_path: Path) -> None:
    result = hall_controller("simulate", "--config", str(demo_config_path))
    assert result.returncode == 1
    assert "lists no [[devices]]" in result.stderr


def get_json(url: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=5) as response:
        return json.load(response)


def audit_trail(base_url: str) -> list[dict[str, Any]]:
    """Every audit entry of the day, all pages."""
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        page = get_json(f"{base_url}/api/v1/audit?limit=1000&after={after}")
        entries.extend(page["events"])
        if page["next_after"] is None:
            return entries
        after = page["next_after"]


def test_the_demo_puts_its_usb_hid_pad_on_a_simulated_bus_and_a_clerk_presses_it(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = tmp_path / "hall.toml"
    text = demo_config_text(devices=True).replace("port = 1883", f"port = {mosquitto.port}")
    assert 'profile = "usb-hid-callpad"' in text
    config.write_text(text, encoding="utf-8")
    demo = ServerProcess(config, tmp_path / "data", name="demo", command=("demo", "--speed", "200"))
    demo.start()
    try:
        (installed,) = demo.events("demo_usb")
        assert installed["pads"] == ["w12-hid 1a86:e010"]
        pad: dict[str, Any] = {}
        calls: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            devices = get_json(demo.url + "/api/v1/devices")
            pad = next(d for d in devices if d["id"] == "w12-hid")
            calls = [
                e
                for e in audit_trail(demo.url)
                if e["type"] == "TicketCalled" and e["actor"] == "device:w12-hid"
            ]
            if pad["state"] == "ready" and pad["frames_in"] >= 2 and calls:
                break
            time.sleep(0.2)
        assert pad["state"] == "ready", pad  # found through pyusb: no USB library needed here
        assert pad["driver"] == "hid_keys"
        assert pad["frames_in"] >= 2, pad  # the clerk's key-downs arrived as HID reports
        assert pad["last_frame_in"] in ("00 00 01 00 00 00 00 00", "00 00 05 00 00 00 00 00")
        assert calls, "the USB pad's clerk never called a ticket"
        assert {call["data"]["window"] for call in calls} == {"12"}
        assert demo.terminate(timeout=20) == 0
    finally:
        demo.stop()


def test_the_demo_kiosks_print_read_cards_scan_and_the_announcer_speaks(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = tmp_path / "hall.toml"
    text = demo_config_text(devices=True).replace("port = 1883", f"port = {mosquitto.port}")
    config.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    demo = ServerProcess(config, data, name="demo", command=("demo", "--speed", "300"))
    demo.start()
    try:
        wanted = {"TicketReserved", "CardRead", "Printed", "Scan", "Spoken"}
        seen: set[str] = set()
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and seen != wanted:
            trail = audit_trail(demo.url)
            reserved = {e["data"]["ticket_id"] for e in trail if e["type"] == "TicketReserved"}
            if reserved:
                seen.add("TicketReserved")
            issued_after_print = [
                e
                for e in trail
                if e["type"] == "TicketIssued" and e["data"]["ticket_id"] in reserved
            ]
            if any(e["data"]["age_band"] for e in issued_after_print):
                seen.add("CardRead")  # a kiosk ticket that knows its holder's age band
            paper = data / "printed" / "k1-printer.txt"
            if paper.exists() and "[QR http://127.0.0.1:8080/t/" in paper.read_text("utf-8"):
                seen.add("Printed")
            devices = {d["id"]: d for d in get_json(demo.url + "/api/v1/devices")}
            if devices["k1-scanner"]["frames_in"] >= 1:
                seen.add("Scan")
            if list((data / "announcements").glob("*.wav")):
                seen.add("Spoken")
            time.sleep(0.5)
        assert seen == wanted, f"missing: {sorted(wanted - seen)}"
        for device in ("k1-printer", "k1-idcard", "k1-scanner", "k2-printer", "hall-speaker"):
            assert devices[device]["state"] == "ready", devices[device]
        assert demo.terminate(timeout=20) == 0
    finally:
        demo.stop()
