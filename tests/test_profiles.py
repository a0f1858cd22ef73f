"""Device profiles and the hall's device list: validated once, problems named by file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hall_controller.config_reader import ConfigError
from hall_controller.profiles import DRIVERS, KINDS, load_profiles, validate_profile_text
from hall_controller.settings import validate_settings_text

from conftest import ROOT, demo_config_text

PROFILE_DIR = ROOT / "device_profiles"
CALLPAD = (PROFILE_DIR / "callpad-ff68.toml").read_text(encoding="utf-8")


def problems(text: str, file: str = "pad.toml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_profile_text(text, file)
    return [str(issue) for issue in caught.value.issues]


def test_every_shipped_profile_loads_and_opens_with_a_comment_on_the_device() -> None:
    profiles = load_profiles(PROFILE_DIR)
    assert len(profiles) >= 10
    used = {p.driver for p in profiles.values()}
    assert used == set(DRIVERS), "every driver has at least one shipped profile"
    assert {p.kind for p in profiles.values()} == set(KINDS)
    for path in PROFILE_DIR.glob("*.toml"):
        head = path.read_text(encoding="utf-8").splitlines()[:3]
        assert head[0].startswith("# "), f"{path.name}: open with what the device is"
        text = path.read_text(encoding="utf-8")
        assert re.search(r"(?im)^# wiring:", text), f"{path.name}: say how to wire it"


def test_the_issue_s_required_models_are_shipped() -> None:
    by_driver: dict[str, int] = {}
    for profile in load_profiles(PROFILE_DIR).values():
        by_driver[profile.driver] = by_driver.get(profile.driver, 0) + 1
    assert by_driver["framed_led"] >= 2  # two LED board framings
    for driver in (
        "modbus_numeric",
        "framed_callpad",
        "rf433_receiver",
        "framed_rating",
        "gpio_buttons",
        "keyboard_keys",
        "mqtt_callpad",
        "mqtt_display",
        "mqtt_rating",
    ):
        assert by_driver.get(driver), driver


def test_a_misspelt_key_gets_a_did_you_mean_with_file_and_key() -> None:
    text = CALLPAD.replace("key_command = 0x01", "key_comand = 0x01")
    found = problems(text)
    assert 'pad.toml: codec.key_comand: unknown key; did you mean "key_command"?' in found
    assert any(line.startswith("pad.toml: codec.key_command: missing") for line in found)


def test_bad_values_are_named_with_what_was_expected() -> None:
    text = (
        CALLPAD.replace('header = "FF 68"', 'header = "FF 6"')
        .replace('checksum = "sum8"', 'checksum = "crc32"')
        .replace('"0x02" = "recall"', '"0x02" = "recal"')
        .replace("baudrate = 9600", "baudrate = 96")
        .replace('watchdog = "10s"', 'watchdog = "ten seconds"')
    )
    found = "\n".join(problems(text))
    assert "codec.framing.header: expected bytes written in hex" in found
    assert 'codec.framing.checksum: expected "none" or "sum8"' in found
    assert "codec.keys.0x02: expected" in found
    assert '"recall"' in found
    assert "transport.baudrate: expected a baud rate" in found
    assert 'timeouts.watchdog: expected a duration such as "300ms"' in found


def test_a_driver_over_the_wrong_transport_or_of_another_kind_is_refused() -> None:
    text = CALLPAD.replace('type = "serial"', 'type = "mqtt"').replace(
        'kind = "call_pad"', 'kind = "rating_pad"'
    )
    found = "\n".join(problems(text))
    assert 'device.kind: the driver "framed_callpad" drives a call_pad' in found
    assert 'transport.type: the driver "framed_callpad" works over "serial"' in found


def test_an_inconsistent_framing_is_explained() -> None:
    text = CALLPAD.replace('tail = "16"', 'tail = ""').replace("length_size = 1", "length_size = 0")
    found = "\n".join(problems(text))
    assert "codec.framing" in found


def devices_config(extra: str) -> str:
    return demo_config_text(devices=True) + extra


def config_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(text, "hall.toml")
    return [str(issue) for issue in caught.value.issues]


def test_the_demo_hall_lists_a_device_of_every_shipped_kind() -> None:
    settings = validate_settings_text(demo_config_text(devices=True), "hall.toml")
    drivers = {d.profile.driver for d in settings.devices}
    assert drivers >= {
        "framed_led",
        "modbus_numeric",
        "framed_callpad",
        "rf433_receiver",
        "framed_rating",
        "gpio_buttons",
        "mqtt_callpad",
        "mqtt_display",
        "mqtt_rating",
        "hid_keys",
    }
    assert settings.mqtt is not None


def test_device_entries_are_checked_against_profiles_windows_and_buses() -> None:
    text = devices_config(
        """
[[devices]]
id = "w9-pad"
profile = "callpad-ff86"
window = "9"
port = "sim-dev/x"

[[devices]]
id = "w9-board"
profile = "led-aa55-sum8"
window = "99"
port = "sim-dev/rs485-row-a"
address = 1

[[devices]]
id = "w9-fast-board"
profile = "led-7e-crc16"
window = "9"
port = "sim-dev/rs485-row-a"
address = 77

[[devices]]
id = "w9-buttons"
profile = "gpio-call-buttons"
window = "9"
pins = { call = 5, strat = 6 }

[[devices]]
id = "w1-pad"
profile = "mqtt-callpad"
window = "9"
"""
    )
    found = "\n".join(config_problems(text))
    # The entries above come after the demo hall's own devices.
    n = len(validate_settings_text(demo_config_text(devices=True), "hall.toml").devices)
    assert (
        f'devices[{n}].profile: no device profile "callpad-ff86"; did you mean "callpad-ff68"?'
        in (found)
    )
    assert f'devices[{n + 1}].window: no window "99"' in found
    assert f"devices[{n + 1}].address: devices[0] has address 1 on this port" in found
    assert (
        f"devices[{n + 2}].profile: devices[0].port uses the same port with other line settings"
        in found
    )
    assert f'devices[{n + 3}].pins.strat: unknown pin name; did you mean "start"?' in found
    assert f'devices[{n + 3}].pins: missing pin "start"' in found
    assert f'devices[{n + 4}].id: duplicate device id "w1-pad"' in found


def test_a_config_without_devices_needs_no_profiles(tmp_path: Path) -> None:
    settings = validate_settings_text(demo_config_text(), str(tmp_path / "hall.toml"))
    assert settings.devices == ()
    assert settings.mqtt is None


def test_kiosk_devices_and_announcers_are_checked_against_kiosks_and_zones() -> None:
    text = devices_config(
        """
[[devices]]
id = "k9-printer"
profile = "escpos-80mm-gb18030"
kiosk = "k9"
port = "sim-dev/k9-printer"

[[devices]]
id = "k1-reader"
profile = "sam-idcard-serial"
window = "1"
port = "sim-dev/k1-reader"

[[devices]]
id = "w1-extra-pad"
profile = "mqtt-callpad"
window = "1"
kiosk = "k1"

[[devices]]
id = "lobby-speaker"
profile = "espeak-speaker"
port = "/dev/snd/pcmC0D0p"

[[devices]]
id = "k1-scanner-2"
profile = "scanner-serial"
kiosk = "k1"
port = "sim-dev/k1-scanner-2"
zone = "lobby"
"""
    )
    found = "\n".join(config_problems(text))
    n = len(validate_settings_text(demo_config_text(devices=True), "hall.toml").devices)
    assert f'devices[{n}].kiosk: no kiosk "k9"; add it as a [[kiosks]] entry' in found
    assert f"devices[{n + 1}].kiosk: missing; a card_reader belongs to a kiosk" in found
    assert f"devices[{n + 1}].window: a card_reader belongs to a kiosk, not a window" in found
    assert f"devices[{n + 2}].kiosk: only kiosk devices belong to a kiosk, not a call_pad" in found
    assert f"devices[{n + 3}].port: a audio device has no port" in found
    assert f"devices[{n + 4}].zone: only announcers have a speaker zone" in found


def test_the_demo_kiosks_have_a_printer_each_and_kiosk_one_a_reader_and_scanner() -> None:
    settings = validate_settings_text(demo_config_text(devices=True), "hall.toml")
    by_kiosk: dict[str, set[str]] = {}
    for device in settings.devices:
        if device.kiosk is not None:
            by_kiosk.setdefault(device.kiosk, set()).add(device.profile.kind)
    assert by_kiosk == {
        "k1": {"ticket_printer", "card_reader", "code_scanner"},
        "k2": {"ticket_printer"},
    }
    assert [k.id for k in settings.hall.kiosks] == ["k1", "k2"]
    assert any(d.profile.kind == "announcer" for d in settings.devices)
