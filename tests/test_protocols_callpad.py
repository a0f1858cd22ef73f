"""Clerk call pads framed FF 68 addr cmd len data sum8 16 (9600 baud 8N1 on RS-485)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols import callpad
from hall_controller.protocols.callpad import (
    KEY_ACTIONS,
    CallPadCodec,
    PadBeep,
    PadKey,
    PadLed,
    PadPing,
    PadPong,
    PadText,
)
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing

# A nine-key pad with a 4-character GB2312 display, as a device profile would describe it.
PAD = CallPadCodec(
    framing=Framing(header=b"\xff\x68", tail=b"\x16"),
    encoding="gb2312",
    key_command=0x01,
    keys={
        0x01: "call",  # 呼叫
        0x02: "recall",  # 重呼
        0x03: "no_show",  # 弃号
        0x04: "start",  # 开始办理
        0x05: "finish",  # 结束
        0x06: "pause",  # 暂停
        0x07: "resume",  # 恢复
        0x08: "transfer",  # 转移
        0x09: "rate",  # 请评价
    },
    text_command=0x02,
    led_command=0x03,
    beep_command=0x04,
    ping_command=0x05,
    pong_command=0x06,
    text_width=4,
)


def _controller_side(wire: bytes) -> list[PadKey | PadPong | None]:
    return [callpad.parse(PAD, f) for f in FrameDecoder(PAD.framing).feed(wire)]


def _pad_side(wire: bytes) -> list[PadText | PadLed | PadBeep | PadPing | None]:
    return [callpad.parse_feedback(PAD, f) for f in FrameDecoder(PAD.framing).feed(wire)]


def test_recorded_key_frames_from_the_pad() -> None:
    wire = (
        bytes.fromhex("FF 68010101010416")  # address 1, key, len 1, 01 call
        + bytes.fromhex("FF 680C0101031116")  # address 12, key, 03 no-show
        + bytes.fromhex("FF 680106000716")  # address 1, pong, len 0
    )
    assert _controller_side(wire) == [PadKey(1, "call"), PadKey(12, "no_show"), PadPong(1)]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (
            callpad.text(PAD, 3, "A012"),
            bytes.fromhex("FF 6803020441 30 31 32DD16"),
            # header, address 3, text, len 4, "A012", sum8 of 03..32, tail
        ),
        (
            callpad.text(PAD, 3, "请稍候片刻"),
            bytes.fromhex("FF 68030208C7EB C9D4 BAF2 C6AC7A16"),
            # header, address 3, text, len 8, 请稍候片 (cut to 4 characters), sum8, tail
        ),
        (
            callpad.led(PAD, 3, on=True),
            bytes.fromhex("FF 68030301010816"),
            # header, address 3, LED, len 1, on, sum8, tail
        ),
        (
            callpad.beep(PAD, 3, 2),
            bytes.fromhex("FF 68030401020A16"),
            # header, address 3, beep, len 1, twice, sum8, tail
        ),
        (
            callpad.ping(PAD, 3),
            bytes.fromhex("FF 680305000816"),
            # header, address 3, ping, len 0, sum8, tail
        ),
        (
            callpad.key_frame(PAD, 1, "call"),
            bytes.fromhex("FF 68010101010416"),
            # header, address 1, key, len 1, key 01 (call), sum8, tail
        ),
        (
            callpad.pong_frame(PAD, 3),
            bytes.fromhex("FF 680306000916"),
            # header, address 3, pong, len 0, sum8, tail
        ),
    ],
)
def test_recorded_frames_to_and_from_the_pad(wire: bytes, expected: bytes) -> None:
    assert wire == expected


def test_the_pad_reads_what_it_was_told() -> None:
    wire = (
        callpad.text(PAD, 3, "A012")
        + callpad.led(PAD, 3, on=False)
        + callpad.beep(PAD, 3, 3)
        + callpad.ping(PAD, 3)
    )
    assert _pad_side(wire) == [PadText(3, "A012"), PadLed(3, on=False), PadBeep(3, 3), PadPing(3)]


def test_every_action_round_trips() -> None:
    wire = b"".join(callpad.key_frame(PAD, 7, action) for action in KEY_ACTIONS)
    assert _controller_side(wire) == [PadKey(7, action) for action in KEY_ACTIONS]


def test_unknown_keys_and_commands_are_ignored() -> None:
    assert callpad.parse(PAD, Frame(1, 0x01, b"\x0a")) is None  # no key 0A
    assert callpad.parse(PAD, Frame(1, 0x01, b"\x01\x01")) is None  # two bytes
    assert callpad.parse(PAD, Frame(1, 0x01, b"")) is None
    assert callpad.parse(PAD, Frame(1, 0x7F, b"\x01")) is None
    assert callpad.parse_feedback(PAD, Frame(1, 0x03, b"\x02")) is None  # LED 02?
    assert callpad.parse_feedback(PAD, Frame(1, 0x04, b"")) is None
    assert callpad.parse_feedback(PAD, Frame(1, 0x02, b"\xff")) is None  # not GB2312
    assert callpad.parse_feedback(PAD, Frame(1, 0x01, b"\x01")) is None  # a key is not feedback


def test_pad_text_lacking_characters_become_question_marks() -> None:
    assert _pad_side(callpad.text(PAD, 1, "喆€")) == [PadText(1, "??")]


def test_callers_mistakes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no key for 'dance'"):
        callpad.key_frame(PAD, 1, "dance")
    with pytest.raises(ValueError, match="beep times 256"):
        callpad.beep(PAD, 1, 256)


def test_pad_settings() -> None:
    assert PAD.validate() == []
    bad = dataclasses.replace(PAD, keys={0x100: "call", 0x02: "dance"}, pong_command=0x05)
    problems = bad.validate()
    assert "key code 256 is not a single byte" in problems
    assert any("means 'dance'" in p for p in problems)
    assert "pong_command and ping_command are the same command 0x05" in problems


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40))
def test_both_sides_never_raise_on_any_frame(address: int, command: int, payload: bytes) -> None:
    frame = Frame(address, command, payload)
    key = callpad.parse(PAD, frame)
    assert key is None or isinstance(key, PadKey | PadPong)
    said = callpad.parse_feedback(PAD, frame)
    assert said is None or isinstance(said, PadText | PadLed | PadBeep | PadPing)


@given(st.lists(st.tuples(st.integers(0, 255), st.sampled_from(KEY_ACTIONS))), st.data())
def test_key_presses_survive_any_split(presses: list[tuple[int, str]], data: st.DataObject) -> None:
    wire = b"".join(callpad.key_frame(PAD, a, k) for a, k in presses)
    decoder = FrameDecoder(PAD.framing)
    chunk = data.draw(st.integers(1, 9))
    frames = [f for i in range(0, len(wire), chunk) for f in decoder.feed(wire[i : i + chunk])]
    assert [callpad.parse(PAD, f) for f in frames] == [PadKey(a, k) for a, k in presses]
