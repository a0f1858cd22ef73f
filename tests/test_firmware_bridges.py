"""The firmware bridges against the message set: the shared JSON, the gateway's config, its
translations of bus frames to topics and back, and its command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from firmware_bridges.rs485_gateway import __main__ as cli
from firmware_bridges.rs485_gateway.bridges import (
    CallPadBridge,
    LedBoardBridge,
    ModbusDisplayBridge,
    RatingPadBridge,
    make_bridge,
)
from firmware_bridges.rs485_gateway.config import BridgedDevice, parse_config_text
from hall_controller.config_reader import ConfigError
from hall_controller.profiles import DeviceProfile, load_profiles
from hall_controller.protocols import callpad, led_board, mqtt_tree, rating_pad
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import FrameDecoder
from hall_controller.protocols.led_board import BoardClear, BoardShow, LedBoardCodec
from hall_controller.protocols.message_set import MESSAGE_SET, META
from hall_controller.protocols.rating_pad import RatingPadCodec

ROOT = Path(__file__).resolve().parent.parent
BRIDGES = ROOT / "firmware_bridges"
EXAMPLE = BRIDGES / "rs485_gateway" / "gateway.example.toml"
PROFILES = load_profiles(ROOT / "device_profiles")


def device(profile: str, address: int = 3, device_id: str = "w3-dev") -> BridgedDevice:
    return BridgedDevice(device_id, PROFILES[profile], "/dev/ttyUSB0", address)


def pad_codec() -> CallPadCodec:
    codec = PROFILES["callpad-ff68"].codec
    assert isinstance(codec, CallPadCodec)
    return codec


def board_codec() -> LedBoardCodec:
    codec = PROFILES["led-aa55-sum8"].codec
    assert isinstance(codec, LedBoardCodec)
    return codec


def cmd(name: str, **data: object) -> bytes:
    return mqtt_tree.encode_cmd(name, data)


def snapshot(showing: dict[str, object] | None, rating: str = "idle") -> bytes:
    body = {"window": "3", "showing": showing, "status": "serving", "rating": rating}
    return mqtt_tree.encode_snapshot(body)


# --- the message set ----------------------------------------------------------------------------


def test_message_set_json_is_the_message_set() -> None:
    text = (BRIDGES / "message_set.json").read_text(encoding="utf-8")
    assert json.loads(text) == MESSAGE_SET


def test_meta_of_every_bridged_kind_matches_the_message_set() -> None:
    for profile in ("callpad-ff68", "led-7e-crc16", "modbus-led485-numeric", "rating-4key-aa"):
        meta = json.loads(make_bridge(device(profile)).meta())
        assert set(meta) <= set(META)
        assert meta["kind"] == PROFILES[profile].kind
        for name, value in meta.items():
            limit = META[name].max_length
            assert isinstance(value, str)
            assert limit is None or len(value) <= limit


# --- call pads ----------------------------------------------------------------------------------


def test_a_recorded_key_frame_becomes_event_key() -> None:
    bridge = CallPadBridge(device("callpad-ff68"))
    wire = bytes.fromhex("FF 68030101020716")  # address 3, key, len 1, recall
    heard = bridge.heard(wire[:4])
    assert (heard.answered, heard.events) == (False, [])
    heard = bridge.heard(wire[4:])
    assert heard.answered
    assert heard.events == [("key", b'{"key":"recall"}')]
    event = mqtt_tree.decode_event(*heard.events[0])
    assert event is not None
    assert event.data == {"key": "recall"}


def test_every_key_of_the_pad_is_a_key_of_the_message_set() -> None:
    codec = pad_codec()
    bridge = CallPadBridge(device("callpad-ff68"))
    keys = MESSAGE_SET["keys"]
    assert isinstance(keys, list)
    for action in codec.keys.values():
        heard = bridge.heard(callpad.key_frame(codec, 3, action))
        (name, payload) = heard.events[0]
        assert mqtt_tree.decode_event(name, payload) is not None
        assert action in keys


def test_other_addresses_and_pongs_are_not_events() -> None:
    codec = pad_codec()
    bridge = CallPadBridge(device("callpad-ff68"))
    assert bridge.heard(callpad.key_frame(codec, 4, "call")).events == []
    heard = bridge.heard(callpad.pong_frame(codec, 3))
    assert (heard.answered, heard.events) == (True, [])
    assert bridge.ping() == bytes.fromhex("FF 680310001316")  # ping, no data


def test_feedback_becomes_text_lamp_and_beep_frames() -> None:
    codec = pad_codec()
    bridge = CallPadBridge(device("callpad-ff68"))
    frames = bridge.command("feedback", cmd("feedback", text="A012", led=True, beep=2))
    assert frames == [
        callpad.text(codec, 3, "A012"),
        callpad.led(codec, 3, True),
        callpad.beep(codec, 3, 2),
    ]
    assert frames[1] == bytes.fromhex("FF 68038201018716")  # lamp on
    assert bridge.command("feedback", cmd("feedback", led=False)) == [callpad.led(codec, 3, False)]
    assert bridge.command("feedback", cmd("feedback", beep=0)) == []


def test_commands_a_pad_cannot_follow_or_that_break_the_message_set_send_nothing() -> None:
    bridge = CallPadBridge(device("callpad-ff68"))
    assert bridge.command("show", cmd("show", ticket="A012", window="3")) == []
    assert bridge.ignored == 1
    assert bridge.command("feedback", b'{"beep": 10}') == []
    assert bridge.command("feedback", b"{") == []
    assert bridge.command("reboot", b"{}") == []
    assert bridge.rejected == 3


def test_the_pad_shows_the_snapshots_ticket_and_lights_while_one_is_called() -> None:
    codec = pad_codec()
    bridge = CallPadBridge(device("callpad-ff68"))
    assert bridge.current() == []
    showing = {"ticket": "A012", "window": "3", "text": "请A012号", "blink": False}
    frames = bridge.snapshot(snapshot(showing))
    assert frames == [callpad.text(codec, 3, "A012"), callpad.led(codec, 3, True)]
    assert bridge.current() == frames
    assert bridge.snapshot(snapshot(None)) == [
        callpad.text(codec, 3, ""),
        callpad.led(codec, 3, False),
    ]
    assert bridge.snapshot(b'{"window": 3}') == []
    assert bridge.rejected == 1


def test_a_pad_whose_key_did_not_reach_the_hall_says_so() -> None:
    codec = pad_codec()
    assert CallPadBridge(device("callpad-ff68")).offline() == [
        callpad.text(codec, 3, "离线"),
        callpad.beep(codec, 3, 3),
    ]


# --- window displays ----------------------------------------------------------------------------


def board_items(frames: list[bytes]) -> list[BoardShow | BoardClear | None]:
    codec = board_codec()
    decoder = FrameDecoder(codec.framing)
    return [led_board.parse(codec, f) for frame in frames for f in decoder.feed(frame)]


def test_show_uses_the_controllers_text_or_the_boards_own_display_text() -> None:
    bridge = LedBoardBridge(device("led-aa55-sum8"))
    called = bridge.command("show", cmd("show", ticket="A012", window="3", blink=True))
    assert board_items(called) == [BoardShow("请A012号", blink=True)]
    paused = bridge.command("show", cmd("show", ticket="", window="3", text="暂停服务"))
    assert board_items(paused) == [BoardShow("暂停服务", blink=False)]
    empty = bridge.command("show", cmd("show", ticket="", window="3"))
    assert board_items(empty) == [BoardClear()]
    assert board_items(bridge.command("clear", cmd("clear"))) == [BoardClear()]


def test_the_board_shows_the_snapshot_steady() -> None:
    bridge = LedBoardBridge(device("led-aa55-sum8"))
    showing = {"ticket": "A012", "window": "3", "text": "", "blink": True}
    assert board_items(bridge.snapshot(snapshot(showing))) == [BoardShow("请A012号", blink=False)]
    assert board_items(bridge.snapshot(snapshot(None))) == [BoardClear()]


def test_a_two_line_board_fills_in_the_window_too() -> None:
    bridge = LedBoardBridge(device("led-7e-crc16"))
    codec = PROFILES["led-7e-crc16"].codec
    assert isinstance(codec, LedBoardCodec)
    frames = bridge.command("show", cmd("show", ticket="A012", window="3"))
    shown = [led_board.parse(codec, f) for f in FrameDecoder(codec.framing).feed(frames[0])]
    assert shown == [BoardShow("请A012号到3号窗口", blink=False)]


def test_the_modbus_display_writes_number_window_and_blink_in_one_frame() -> None:
    bridge = ModbusDisplayBridge(device("modbus-led485-numeric", address=4))
    frames = bridge.command("show", cmd("show", ticket="A012", window="3", blink=True))
    # slave 4, write multiple registers from 0, 3 registers, 6 bytes: 12, 3, 1; CRC
    assert frames == [bytes.fromhex("04 10 0000 0003 06 000C 0003 0001") + frames[0][-2:]]
    assert bridge.command("clear", cmd("clear"))[0][:13] == bytes.fromhex(
        "04 10 0000 0003 06 0000 0000 0000"
    )
    ping = bridge.ping()
    assert ping is not None
    assert ping[:6] == bytes.fromhex("04 03 0000 0001")  # read register 0


# --- rating pads ----------------------------------------------------------------------------------


def test_a_four_key_pad_scores_through_its_profile() -> None:
    codec = PROFILES["rating-4key-aa"].codec
    assert isinstance(codec, RatingPadCodec)
    bridge = RatingPadBridge(device("rating-4key-aa"))
    heard = bridge.heard(
        rating_pad.key_frame(codec, 3, 0x01) + rating_pad.key_frame(codec, 3, 0x04)
    )
    assert heard.events == [("rating", b'{"score":5}'), ("rating", b'{"score":2}')]
    assert all(mqtt_tree.decode_event(n, p) is not None for n, p in heard.events)
    assert bridge.heard(rating_pad.key_frame(codec, 3, 0x09)).events == []  # no such key


def test_the_rating_pad_asks_thanks_and_idles() -> None:
    codec = PROFILES["rating-5key-aa"].codec
    assert isinstance(codec, RatingPadCodec)
    bridge = RatingPadBridge(device("rating-5key-aa"))
    assert bridge.command("ask_rating", cmd("ask_rating", ticket="A012")) == [
        rating_pad.ask(codec, 3)
    ]
    assert bridge.command("rating_done", cmd("rating_done", ticket="A012")) == [
        rating_pad.thanks(codec, 3)
    ]
    assert bridge.snapshot(snapshot(None, rating="asking")) == [rating_pad.ask(codec, 3)]
    assert bridge.snapshot(snapshot(None, rating="idle")) == [rating_pad.idle(codec, 3)]


def test_every_command_of_the_message_set_is_followed_by_some_bridged_kind() -> None:
    commands = MESSAGE_SET["commands"]
    assert isinstance(commands, dict)
    followed = {
        name
        for bridge in (CallPadBridge, LedBoardBridge, ModbusDisplayBridge, RatingPadBridge)
        for name in bridge.commands
    }
    assert followed == set(commands)


# --- config ---------------------------------------------------------------------------------------


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def test_the_example_config_is_valid() -> None:
    config = parse_config_text(example_text(), str(EXAMPLE), profiles=PROFILES)
    assert config.hall_id == "gz-tianhe-01"
    assert len(config.devices) == 6
    ports = config.ports()
    assert len(ports) == 4
    assert [d.id for d in next(iter(ports.values()))] == ["w1-pad", "w2-pad"]
    for d in config.devices:
        make_bridge(d)


def test_a_relative_profiles_dir_is_found_next_to_the_config(tmp_path: Path) -> None:
    text = example_text().replace('"/opt/hall-controller/device_profiles"', '"profiles"')
    (tmp_path / "profiles").mkdir()
    for name in ("callpad-ff68", "led-aa55-sum8", "rating-4key-aa", "modbus-led485-numeric"):
        source = ROOT / "device_profiles" / f"{name}.toml"
        (tmp_path / "profiles" / source.name).write_text(source.read_text(encoding="utf-8"))
    config = parse_config_text(text, str(tmp_path / "gateway.toml"))
    assert len(config.devices) == 6


BAD_DEVICES = """
hall_id = "h1"
profiles = "unused"
[broker]
port = 70000
[[devices]]
id = "w1-pad"
profile = "callpad-ff68"
port = "/dev/ttyUSB0"
address = 1
[[devices]]
id = "w1-pad"
profile = "callpad-ff68"
port = "/dev/ttyUSB0"
address = 1
[[devices]]
id = "w1-board"
profile = "led-7e-crc16"
port = "/dev/ttyUSB0"
address = 1
[[devices]]
id = "remotes"
profile = "rf433-receiver"
port = "/dev/ttyUSB1"
address = 0
[[devices]]
id = "w2/number"
profile = "modbus-led485-numeric"
port = "/dev/ttyUSB2"
address = 0
[[devices]]
id = "w3-pad"
profile = "callpad-ff86"
port = "/dev/ttyUSB0"
address = 300
adress = 3
"""


def test_every_problem_of_a_config_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config_text(BAD_DEVICES, "gateway.toml", profiles=PROFILES)
    found = "\n".join(str(issue) for issue in raised.value.issues)
    for expected in (
        r"broker\.host: missing",
        r"broker\.port: expected a TCP port",
        r"devices\[1\]\.id: \"w1-pad\" is used by another device",
        r"devices\[1\]\.address: another callpad-ff68 on /dev/ttyUSB0 has address 1",
        r"devices\[2\]\.profile: its line settings differ from w1-pad's",
        r"devices\[3\]\.profile: .*rf433_receiver driver; the gateway bridges",
        r"devices\[4\]\.id: expected an id",
        r"devices\[5\]\.profile: no profile \"callpad-ff86\"",
        r"devices\[5\]\.adress: unknown key; did you mean \"address\"",
    ):
        assert re.search(expected, found), f"{expected} not in\n{found}"


def test_a_modbus_address_must_be_a_slave_address() -> None:
    text = """
hall_id = "h1"
profiles = "unused"
[broker]
host = "127.0.0.1"
[[devices]]
id = "w2-number"
profile = "modbus-led485-numeric"
port = "/dev/ttyUSB2"
address = 0
"""
    with pytest.raises(ConfigError, match=r"0 is not an address of this model \(1\.\.247\)"):
        parse_config_text(text, "gateway.toml", profiles=PROFILES)


def test_a_missing_profiles_dir_is_a_config_error(tmp_path: Path) -> None:
    text = example_text().replace("/opt/hall-controller/device_profiles", "nowhere")
    with pytest.raises(ConfigError, match="no such profile directory"):
        parse_config_text(text, str(tmp_path / "gateway.toml"))


# --- command line ---------------------------------------------------------------------------------


def test_check_lists_the_devices_by_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        example_text().replace(
            "/opt/hall-controller/device_profiles", str(ROOT / "device_profiles")
        ),
        encoding="utf-8",
    )
    assert cli.main(["--config", str(path), "--check"]) == 0
    out = capsys.readouterr().out
    assert "hall gz-tianhe-01, broker 192.168.10.2:1883" in out
    assert "  w3-number: window_display modbus-led485-numeric at address 3" in out


def test_a_bad_config_exits_2_naming_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('hall_id = "h 1"\n', encoding="utf-8")
    assert cli.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "hall_id: expected an id" in err
    assert "profiles: missing" in err


def test_bridged_profiles_are_the_serial_window_devices() -> None:
    # Window devices on serial lines; kiosk devices and announcers sit beside the edge box.
    window_kinds = {"call_pad", "window_display", "rating_pad"}
    bridged = {
        p.id
        for p in PROFILES.values()
        if p.transport == "serial" and p.driver != "rf433_receiver" and p.kind in window_kinds
    }
    for profile_id in bridged:
        profile: DeviceProfile = PROFILES[profile_id]
        bridge = make_bridge(BridgedDevice("d1", profile, "/dev/ttyUSB0", 1))
        assert bridge.kind == profile.kind
