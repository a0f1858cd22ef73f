"""Simulated serial peers against the codecs: what the controller sends, they read; what they
send, the controller's parsers read; the Modbus display answers like a slave."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
)

from hall_controller.profiles import (
    DeviceProfile,
    ModbusDisplaySettings,
    Rf433Settings,
    load_profiles,
)
from hall_controller.protocols import callpad, led_board, numeric_display, rating_pad
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder, encode
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.protocols.rf433 import Rf433Decoder
from hall_controller.simulators.peers import (
    DEFAULT_REMOTE,
    CallPadPeer,
    LedBoardPeer,
    ModbusDisplayPeer,
    RatingPadPeer,
    Rf433ReceiverPeer,
)

ROOT = Path(__file__).resolve().parent.parent
PROFILES: dict[str, DeviceProfile] = load_profiles(ROOT / "device_profiles")


def led_codec(name: str) -> LedBoardCodec:
    codec = PROFILES[name].codec
    assert isinstance(codec, LedBoardCodec)
    return codec


def pad_codec() -> CallPadCodec:
    codec = PROFILES["callpad-ff68"].codec
    assert isinstance(codec, CallPadCodec)
    return codec


def rating_codec(name: str) -> RatingPadCodec:
    codec = PROFILES[name].codec
    assert isinstance(codec, RatingPadCodec)
    return codec


def rf433_settings() -> Rf433Settings:
    codec = PROFILES["rf433-receiver"].codec
    assert isinstance(codec, Rf433Settings)
    return codec


def modbus_map() -> numeric_display.NumericDisplayMap:
    codec = PROFILES["modbus-led485-numeric"].codec
    assert isinstance(codec, ModbusDisplaySettings)
    return codec.registers


def feed_bytewise(peer: LedBoardPeer | CallPadPeer | RatingPadPeer, data: bytes) -> bytes:
    """Feed one byte at a time, as a slow line delivers it; the peer's answers joined."""
    return b"".join(peer.feed(data[i : i + 1], float(i)) for i in range(len(data)))


# --- LED boards ---------------------------------------------------------------------------------


def test_led_board_reads_a_recorded_show_frame() -> None:
    peer = LedBoardPeer(led_codec("led-aa55-sum8"), 2)
    frame = bytes.fromhex(
        "AA 55"  # header
        "02"  # address 2
        "02"  # blink command
        "08"  # 8 payload bytes
        "C7EB 41 30 31 32 BAC5"  # 请A012号 in GB2312
        "11"  # sum8 over address..text
        "0D"  # tail
    )
    assert peer.feed(frame, 1.0) == b""  # boards answer nothing
    assert (peer.text, peer.blink) == ("请A012号", True)
    assert peer.view() == {"type": "led_board", "text": "请A012号", "blink": True}


@pytest.mark.parametrize("profile", ["led-aa55-sum8", "led-7e-crc16"])
def test_led_board_follows_the_controllers_show_blink_and_clear(profile: str) -> None:
    codec = led_codec(profile)
    peer = LedBoardPeer(codec, 3)
    feed_bytewise(peer, led_board.show(codec, 3, "请A012号", blink=True))
    assert (peer.text, peer.blink) == ("请A012号", True)
    feed_bytewise(peer, led_board.show(codec, 3, "请A012号"))
    assert (peer.text, peer.blink) == ("请A012号", False)
    feed_bytewise(peer, led_board.clear(codec, 3))
    assert (peer.text, peer.blink) == ("", False)
    assert [(s.text, s.blink) for s in peer.history] == [
        ("请A012号", True),
        ("请A012号", False),
        ("", False),
    ]
    assert peer.errors == 0


def test_led_board_ignores_other_addresses_and_survives_garbage() -> None:
    codec = led_codec("led-7e-crc16")
    peer = LedBoardPeer(codec, 1)
    peer.feed(led_board.show(codec, 2, "B001"), 0.0)
    assert peer.text == ""
    peer.feed(b"\x00\x7e\x01junk", 0.1)
    peer.line_quiet(0.2)
    peer.feed(led_board.show(codec, 1, "A001"), 0.3)
    assert peer.text == "A001"
    assert peer.errors >= 1


def test_led_board_cuts_text_to_its_width() -> None:
    codec = led_codec("led-aa55-sum8")  # 8 characters
    peer = LedBoardPeer(codec, 1)
    raw = encode(codec.framing, Frame(1, codec.show_command, "请A0123号到窗口".encode("gb2312")))
    peer.feed(raw, 0.0)
    assert peer.text == "请A0123号到"


# --- call pads ----------------------------------------------------------------------------------


def test_call_pad_key_frame_is_read_by_the_controllers_parser() -> None:
    codec = pad_codec()
    peer = CallPadPeer(codec, 1)
    frame = peer.press("call")
    assert frame == bytes.fromhex(
        "FF 68"  # header
        "01"  # address 1
        "01"  # key command
        "01"  # length 1
        "01"  # key 01 (call)
        "04"  # sum8 over address..key
        "16"  # tail
    )
    decoder = FrameDecoder(codec.framing)
    for action in peer.actions:
        (decoded,) = decoder.feed(peer.press(action))
        assert callpad.parse(codec, decoded) == callpad.PadKey(1, action)
    assert peer.presses == len(peer.actions) + 1


def test_call_pad_answers_a_ping_with_a_pong_the_controller_reads() -> None:
    codec = pad_codec()
    peer = CallPadPeer(codec, 7)
    reply = feed_bytewise(peer, callpad.ping(codec, 7))
    (frame,) = FrameDecoder(codec.framing).feed(reply)
    assert callpad.parse(codec, frame) == callpad.PadPong(7)
    assert peer.feed(callpad.ping(codec, 8), 0.0) == b""  # another pad's ping
    assert peer.pings == 1


def test_call_pad_shows_text_lamp_and_beeps() -> None:
    codec = pad_codec()
    peer = CallPadPeer(codec, 1)
    stream = (
        callpad.text(codec, 1, "A012")
        + callpad.led(codec, 1, True)
        + callpad.beep(codec, 1, 3)
        + callpad.ping(codec, 1)
    )
    reply = peer.feed(stream, 5.0)
    assert reply == callpad.pong_frame(codec, 1)
    assert peer.view() == {
        "type": "call_pad",
        "text": "A012",
        "lamp": True,
        "beeps": 3,
        "keys": list(peer.actions),
    }
    peer.feed(callpad.led(codec, 1, False), 6.0)
    assert peer.lamp is False
    assert len(peer.history) == 4


def test_call_pad_refuses_a_key_it_does_not_have() -> None:
    peer = CallPadPeer(pad_codec(), 1)
    assert "resume" not in peer.actions  # the FF68 pad's pause key also resumes
    with pytest.raises(ValueError, match="no 'resume' key"):
        peer.press("resume")


# --- rating pads --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["rating-4key-aa", "rating-5key-aa"])
def test_rating_pad_keys_decode_to_their_scores(profile: str) -> None:
    codec = rating_codec(profile)
    peer = RatingPadPeer(codec, 4)
    decoder = FrameDecoder(codec.framing)
    for score in peer.scores:
        (frame,) = decoder.feed(peer.rate(score))
        assert rating_pad.parse(codec, frame) == rating_pad.RatingKey(4, score)


def test_rating_pad_sends_keys_whether_asked_or_not_and_follows_prompts() -> None:
    codec = rating_codec("rating-4key-aa")
    peer = RatingPadPeer(codec, 4)
    assert peer.rate(5) == bytes.fromhex(
        "AA"  # header
        "04"  # address 4
        "21"  # key command
        "01"  # length 1
        "01"  # key 01 (非常满意, 5)
        "25"  # xor8 over address..key
        "55"  # tail
    )
    assert peer.view()["prompt"] == "idle"
    peer.feed(rating_pad.ask(codec, 4), 1.0)
    assert peer.view()["prompt"] == "asking"
    peer.rate(4)
    peer.feed(rating_pad.thanks(codec, 4), 2.0)
    assert peer.view()["prompt"] == "thanks"
    peer.feed(rating_pad.idle(codec, 4), 3.0)
    assert peer.view()["prompt"] == "idle"
    assert peer.presses == [(5, "idle"), (4, "asking")]
    assert [p for _, p in peer.history] == ["asking", "thanks", "idle"]


def test_rating_pad_answers_pings_for_its_address_only() -> None:
    codec = rating_codec("rating-5key-aa")
    peer = RatingPadPeer(codec, 4)
    assert peer.feed(rating_pad.ping(codec, 5), 0.0) == b""
    reply = feed_bytewise(peer, rating_pad.ping(codec, 4))
    (frame,) = FrameDecoder(codec.framing).feed(reply)
    assert rating_pad.parse(codec, frame) == callpad.PadPong(4)


def test_four_key_pad_has_no_key_for_the_lowest_score() -> None:
    peer = RatingPadPeer(rating_codec("rating-4key-aa"), 4)
    assert peer.scores == (5, 4, 3, 2)
    with pytest.raises(ValueError, match="no key for score 1"):
        peer.rate(1)
    with pytest.raises(ValueError, match="no key 0x09"):
        peer.press_key(0x09)


# --- 433 MHz receivers --------------------------------------------------------------------------


def test_rf433_press_is_one_frame_the_controllers_decoder_splits_right() -> None:
    settings = rf433_settings()
    peer = Rf433ReceiverPeer(settings.layout, default_remote=0x12345)
    frame = peer.press("call")
    assert frame == bytes.fromhex(
        "FD"  # header
        "12 34 51"  # remote 0x12345 (20 bits), key 0x1 (call, 4 bits)
        "DF"  # tail
    )
    (code,) = Rf433Decoder().feed(frame)
    assert settings.layout.split(code.code) == (0x12345, "call")


def test_rf433_hold_repeats_the_code_every_100_ms() -> None:
    settings = rf433_settings()
    peer = Rf433ReceiverPeer(settings.layout)
    frames = peer.hold("finish", 1.0, remote=0xABCDE)
    assert len(frames) == 11  # at 0, 0.1, ... 1.0 s
    assert len(set(frames)) == 1
    codes = Rf433Decoder().feed(b"".join(frames))
    assert {settings.layout.split(c.code) for c in codes} == {(0xABCDE, "finish")}
    assert peer.view()["last"] == {"remote": "0xABCDE", "action": "finish", "frames": 11}


def test_rf433_refuses_unknown_keys_and_oversized_remotes() -> None:
    peer = Rf433ReceiverPeer(rf433_settings().layout)
    assert peer.code("call") >> 4 == DEFAULT_REMOTE
    with pytest.raises(ValueError, match="no 'no_show' key"):
        peer.press("no_show")
    with pytest.raises(ValueError, match="does not fit"):
        peer.press("call", remote=1 << 20)
    assert peer.feed(b"\x01\x02", 0.0) == b""
    assert peer.ignored == 2


# --- Modbus numeric displays --------------------------------------------------------------------

CLIENT = FramerRTU(DecodePDU(False))


def answer(peer: ModbusDisplayPeer, request: bytes) -> object:
    """The peer's answer to `request`, decoded as the controller decodes it."""
    reply = peer.feed(request, 0.0)
    used, pdu = CLIENT.handleFrame(reply, 0, 0)
    assert used == len(reply)
    return pdu


def test_modbus_display_answers_a_recorded_write_with_the_function_16_echo() -> None:
    peer = ModbusDisplayPeer(modbus_map(), 5)
    request = bytes.fromhex(
        "05"  # slave 5
        "10"  # function 16: write multiple registers
        "0000 0003"  # from register 0, 3 registers
        "06"  # 6 bytes
        "000C 0003 0001"  # number 12, window 3, blink 1
        "C9C5"  # CRC-16/Modbus, low byte first
    )
    reply = peer.feed(request, 1.0)
    assert reply == bytes.fromhex(
        "05"  # slave 5
        "10"  # function 16
        "0000 0003"  # register 0, 3 registers written
        "818C"  # CRC-16/Modbus, low byte first
    )
    assert peer.view() == {
        "type": "numeric_display",
        "shows": "0012",
        "number": 12,
        "window": 3,
        "blink": True,
    }


def test_modbus_display_shows_what_the_controller_writes_and_reads_it_back() -> None:
    dmap = modbus_map()
    peer = ModbusDisplayPeer(dmap, 5)
    values = numeric_display.registers(dmap, "B1234", 7, blink=False)
    registers = [values[r] for r in sorted(values)]
    write = WriteMultipleRegistersRequest(address=0, registers=registers, dev_id=5)
    reply = answer(peer, CLIENT.buildFrame(write))
    assert isinstance(reply, WriteMultipleRegistersResponse)
    assert (reply.dev_id, reply.address, reply.count) == (5, 0, 3)
    assert (peer.number, peer.window, peer.blink, peer.shown) == (1234, 7, False, "1234")
    read = ReadHoldingRegistersRequest(address=dmap.number_register, count=3, dev_id=5)
    reply = answer(peer, CLIENT.buildFrame(read))
    assert isinstance(reply, ReadHoldingRegistersResponse)
    assert list(reply.registers) == [1234, 7, 0]


def test_modbus_display_splits_requests_that_arrive_together() -> None:
    peer = ModbusDisplayPeer(modbus_map(), 5)
    write = CLIENT.buildFrame(WriteMultipleRegistersRequest(address=0, registers=[9], dev_id=5))
    read = CLIENT.buildFrame(ReadHoldingRegistersRequest(address=0, count=1, dev_id=5))
    reply = peer.feed(b"\x00\x13" + write + read, 0.0)  # line noise, then both requests
    assert peer.requests == 2
    first_size = 8  # function 16 echo
    _, pdu = CLIENT.handleFrame(reply[:first_size], 5, 0)
    assert isinstance(pdu, WriteMultipleRegistersResponse)
    _, pdu = CLIENT.handleFrame(reply[first_size:], 5, 0)
    assert isinstance(pdu, ReadHoldingRegistersResponse)
    assert list(pdu.registers) == [9]


def test_modbus_display_takes_a_request_cut_into_single_bytes() -> None:
    peer = ModbusDisplayPeer(modbus_map(), 5)
    write = CLIENT.buildFrame(
        WriteMultipleRegistersRequest(address=0, registers=[42, 1, 0], dev_id=5)
    )
    replies = b"".join(peer.feed(write[i : i + 1], float(i)) for i in range(len(write)))
    assert len(replies) == 8
    assert peer.number == 42


def test_modbus_display_ignores_other_slaves_and_bad_crcs_and_answers_errors() -> None:
    peer = ModbusDisplayPeer(modbus_map(), 5)
    other = CLIENT.buildFrame(WriteMultipleRegistersRequest(address=0, registers=[1], dev_id=6))
    assert peer.feed(other, 0.0) == b""
    good = CLIENT.buildFrame(WriteSingleRegisterRequest(address=0, registers=[77], dev_id=5))
    broken = good[:-1] + bytes([good[-1] ^ 0xFF])
    assert peer.feed(broken, 0.1) == b""
    peer.line_quiet(0.2)
    assert peer.errors >= 1
    assert peer.number == 0
    assert peer.feed(good, 0.3) == good  # function 6 answers with an echo
    assert peer.number == 77
    outside = CLIENT.buildFrame(ReadHoldingRegistersRequest(address=40, count=1, dev_id=5))
    reply = answer(peer, outside)
    assert isinstance(reply, ExceptionResponse)
    assert (reply.function_code, reply.exception_code) == (0x83, 2)  # illegal data address


def test_modbus_display_carries_out_broadcasts_silently() -> None:
    peer = ModbusDisplayPeer(modbus_map(), 5)
    broadcast = CLIENT.buildFrame(
        WriteMultipleRegistersRequest(address=0, registers=[0, 0, 1], dev_id=0)
    )
    assert peer.feed(broadcast, 0.0) == b""
    assert peer.blink is True
