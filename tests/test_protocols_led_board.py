"""LED window boards: recorded frames of two vendor framings, text rules, and the board's side."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols import led_board
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing
from hall_controller.protocols.led_board import BoardClear, BoardShow, LedBoardCodec, fit_text

# AA 55 | addr | cmd | len | GB2312 text | sum8 (address..text) | 0D; 16 characters wide.
AA55_BOARD = LedBoardCodec(
    framing=Framing(header=b"\xaa\x55", tail=b"\x0d"),
    encoding="gb2312",
    show_command=0x01,
    blink_command=0x02,
    clear_command=0x03,
    width=16,
)
# 7E | addr (2, big-endian) | cmd | len (2, little-endian) | GBK text | CRC-16/Modbus | 7E,
# 7E and 7D escaped as 7D, b ^ 20 between the flags; 16 characters wide.
HDLC_BOARD = LedBoardCodec(
    framing=Framing(
        header=b"\x7e",
        tail=b"\x7e",
        address_size=2,
        length_size=2,
        length_big_endian=False,
        checksum="crc16_modbus",
        escape_byte=0x7D,
        escape_xor=0x20,
        escaped=b"\x7e\x7d",
        max_payload=512,
    ),
    encoding="gbk",
    show_command=0x10,
    blink_command=0x11,
    clear_command=0x12,
    width=16,
)
BOARDS = [AA55_BOARD, HDLC_BOARD]


def _board_side(codec: LedBoardCodec, wire: bytes) -> list[BoardShow | BoardClear | None]:
    return [led_board.parse(codec, f) for f in FrameDecoder(codec.framing).feed(wire)]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (
            led_board.show(AA55_BOARD, 1, "A012"),
            bytes.fromhex("AA 5501010441 30 31 32DA0D"),
            # header, address 1, show, length 4, "A012", sum8, tail
        ),
        (
            led_board.show(AA55_BOARD, 2, "请A012到3号窗口", blink=True),
            bytes.fromhex(
                "AA 55"
                "02"
                "02"
                "0F"  # header, address 2, blink, length 15
                "C7EB 41 30 31 32 B5BD 33 BAC5 B4B0 BFDA"  # 请 A012 到 3 号 窗 口 in GB2312
                "BA"
                "0D"  # sum8 of 02..DA, tail
            ),
        ),
        (
            led_board.clear(AA55_BOARD, 1),
            bytes.fromhex("AA 55010300040D"),
            # header, address 1, clear, length 0, sum8, tail
        ),
        (
            led_board.show(HDLC_BOARD, 3, "A012"),
            bytes.fromhex("7E00 031004 0041 30 31 32DA D67E"),
            # flag, address 3, show, length 4 (low byte first), "A012", CRC 0xD6DA low first, flag
        ),
        (
            led_board.clear(HDLC_BOARD, 18),
            bytes.fromhex("7E00 121200 0081 7D 5D7E"),
            # flag, address 18, clear, length 0, CRC 0x7D81 with 7D escaped as 7D 5D, flag
        ),
        (
            led_board.clear(HDLC_BOARD, 0x7E),
            bytes.fromhex("7E00 7D 5E1200 009C 2D7E"),
            # flag, address 0x007E with 7E escaped as 7D 5E, clear, length 0, CRC 0x2D9C, flag
        ),
    ],
)
def test_recorded_board_frames(wire: bytes, expected: bytes) -> None:
    assert wire == expected


def test_the_board_reads_what_it_was_told() -> None:
    wire = (
        led_board.show(HDLC_BOARD, 3, "A012 请到3号窗口", blink=True)
        + led_board.show(HDLC_BOARD, 3, "A012")
        + led_board.clear(HDLC_BOARD, 3)
    )
    assert _board_side(HDLC_BOARD, wire) == [
        BoardShow("A012 请到3号窗口", blink=True),
        BoardShow("A012", blink=False),
        BoardClear(),
    ]


@pytest.mark.parametrize("codec", BOARDS)
def test_empty_text_is_a_blank_board(codec: LedBoardCodec) -> None:
    assert _board_side(codec, led_board.show(codec, 1, "")) == [BoardShow("", blink=False)]


def test_characters_outside_gb2312_become_question_marks() -> None:
    # 喆 is in GBK but not GB2312; € and 𠀀 (CJK Ext-B) are in neither.
    assert fit_text("A喆€𠀀", "gb2312", 16, 255) == b"A???"
    assert fit_text("A喆€𠀀", "gbk", 16, 255) == bytes.fromhex("41 86B4 3F 3F")
    assert _board_side(AA55_BOARD, led_board.show(AA55_BOARD, 1, "喆A012")) == [
        BoardShow("?A012", blink=False)
    ]


def test_lone_surrogates_become_question_marks() -> None:
    assert fit_text("A\ud800B", "gbk", 16, 255) == b"A?B"


def test_text_is_cut_to_the_board_width_in_characters() -> None:
    narrow = dataclasses.replace(AA55_BOARD, width=4)
    assert _board_side(narrow, led_board.show(narrow, 1, "请A012到3号窗口")) == [
        BoardShow("请A01", blink=False)
    ]


def test_text_is_cut_to_whole_characters_that_fit_the_payload() -> None:
    assert fit_text("窗口窗口", "gbk", 10, 5) == bytes.fromhex("B4B0 BFDA")  # 2 chars, 4 bytes
    assert fit_text("窗口", "gbk", 0, 255) == b""


def test_other_commands_and_undecodable_text_are_not_board_commands() -> None:
    assert led_board.parse(AA55_BOARD, Frame(1, 0x09, b"A012")) is None
    assert led_board.parse(AA55_BOARD, Frame(1, 0x01, b"\xff\xff")) is None


def test_a_board_that_cannot_blink_shows_steady() -> None:
    steady = dataclasses.replace(AA55_BOARD, blink_command=0x01)
    assert steady.validate() == []
    wire = led_board.show(steady, 1, "A012", blink=True)
    assert wire == led_board.show(steady, 1, "A012")
    assert _board_side(steady, wire) == [BoardShow("A012", blink=False)]


def test_a_board_without_a_clear_command_is_cleared_with_no_text() -> None:
    plain = dataclasses.replace(AA55_BOARD, clear_command=0x01)
    assert plain.validate() == []
    assert led_board.clear(plain, 1) == led_board.show(plain, 1, "")
    assert _board_side(plain, led_board.clear(plain, 1)) == [BoardClear()]
    assert _board_side(plain, led_board.show(plain, 1, "A")) == [BoardShow("A", blink=False)]


@pytest.mark.parametrize("codec", BOARDS)
def test_vendor_boards_are_consistent(codec: LedBoardCodec) -> None:
    assert codec.validate() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encoding": "big5x"}, "encoding 'big5x' is unknown"),
        ({"encoding": "utf-16"}, "not ASCII-compatible"),
        ({"width": 0}, "width is 0"),
        ({"width": 200}, "200 Chinese characters take 400 bytes, more than max_payload 255"),
        ({"clear_command": 0x02}, "clear_command and blink_command are the same command 0x02"),
        ({"clear_command": 0x100}, "clear_command 0x100 does not fit a 1-byte command field"),
        ({"framing": Framing(header=b"", tail=b"\x0d")}, "header is empty"),
    ],
)
def test_inconsistent_board_settings_are_explained(
    changes: dict[str, object], message: str
) -> None:
    codec = dataclasses.replace(AA55_BOARD, **changes)  # type: ignore[arg-type]
    problems = codec.validate()
    assert any(message in p for p in problems), problems


@given(st.sampled_from(BOARDS), st.integers(0, 255), st.text(max_size=40), st.booleans())
def test_any_text_is_shown_cut_and_readable(
    codec: LedBoardCodec, address: int, text: str, blink: bool
) -> None:
    wire = led_board.show(codec, address, text, blink=blink)
    shown = _board_side(codec, wire)
    assert len(shown) == 1
    board = shown[0]
    assert isinstance(board, BoardShow)
    assert board.blink == blink
    assert len(board.text) == min(len(text), codec.width)
    for sent, seen in zip(text, board.text, strict=False):
        assert seen in (sent, "?")


@given(st.sampled_from(BOARDS), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64))
def test_board_side_never_raises_on_any_frame(
    codec: LedBoardCodec, address: int, command: int, payload: bytes
) -> None:
    result = led_board.parse(codec, Frame(address, command, payload))
    assert result is None or isinstance(result, BoardShow | BoardClear)
