"""ESC/POS: status queries and recorded answers, the GS r 1 marker, Chinese text written as hex."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols import escpos
from hall_controller.protocols.escpos import (
    ErrorCause,
    MarkerReply,
    NotAStatusReply,
    OfflineCause,
    PrinterReply,
    PrinterStatus,
    RollPaper,
    StatusQuery,
    encode_text,
    substitutions,
    text_columns,
    wrap_text,
)


def test_the_queries_are_the_real_bytes() -> None:
    assert escpos.status_query(StatusQuery.PRINTER) == bytes.fromhex("10 04 01")
    assert escpos.status_query(StatusQuery.OFFLINE_CAUSE) == bytes.fromhex("10 04 02")
    assert escpos.status_query(StatusQuery.ERROR_CAUSE) == bytes.fromhex("10 04 03")
    assert escpos.status_query(StatusQuery.ROLL_PAPER) == bytes.fromhex("10 04 04")
    assert bytes.fromhex("1D 72 01") == escpos.PROCESSED_MARKER  # GS r 1
    assert bytes.fromhex("1C 26") == escpos.CHINESE_ON  # FS &
    assert bytes.fromhex("1C 2E") == escpos.CHINESE_OFF  # FS .


@pytest.mark.parametrize(
    ("reply", "level"),
    [
        (0x12, "ok"),  # 0001 0010: both sensors see paper
        (0x1E, "low"),  # bits 2-3: near-end sensor
        (0x16, "low"),  # bit 2 only (models with one near-end sensor)
        (0x72, "out"),  # bits 5-6: roll end sensor
        (0x7E, "out"),  # near end and end
        (0x32, "out"),  # bit 5 only
    ],
)
def test_roll_paper_answers(reply: int, level: str) -> None:
    assert RollPaper.from_byte(reply).level == level


def test_printer_offline_cause_and_error_answers_bit_by_bit() -> None:
    assert PrinterReply.from_byte(0x12) == PrinterReply()
    assert PrinterReply.from_byte(0x1A) == PrinterReply(offline=True)  # bit 3
    assert PrinterReply.from_byte(0x16) == PrinterReply(drawer_pin_high=True)  # bit 2
    assert PrinterReply.from_byte(0x32) == PrinterReply(waiting_recovery=True)  # bit 5
    assert PrinterReply.from_byte(0x52) == PrinterReply(feed_button=True)  # bit 6
    assert OfflineCause.from_byte(0x16) == OfflineCause(cover_open=True)  # bit 2
    assert OfflineCause.from_byte(0x1A) == OfflineCause(feeding=True)  # bit 3
    assert OfflineCause.from_byte(0x32) == OfflineCause(paper_end_stop=True)  # bit 5
    assert OfflineCause.from_byte(0x52) == OfflineCause(error=True)  # bit 6
    assert ErrorCause.from_byte(0x1A) == ErrorCause(autocutter=True)  # bit 3
    assert ErrorCause.from_byte(0x32) == ErrorCause(unrecoverable=True)  # bit 5
    assert ErrorCause.from_byte(0x52) == ErrorCause(auto_recoverable=True)  # bit 6
    assert ErrorCause.from_byte(0x16).describe() == "mechanical error"  # bit 2


@pytest.mark.parametrize(
    ("replies", "problem", "can_print", "paper"),
    [
        ((0x12, 0x12, 0x12, None), None, True, "ok"),
        ((0x12, 0x12, 0x1E, None), "paper low", True, "low"),
        # Out of paper: offline (1A), stopped at the roll's end (32), both sensors (7E).
        ((0x1A, 0x32, 0x7E, None), "paper out", False, "out"),
        ((0x1A, 0x16, 0x12, None), "cover open", False, "ok"),
        ((0x1A, 0x52, 0x12, 0x1A), "printer error (cutter error)", False, "ok"),
        ((0x1A, 0x52, 0x12, 0x52), "printer error (head overheated)", False, "ok"),
        ((0x1A, 0x12, 0x12, None), "offline", False, "ok"),
    ],
)
def test_a_status_poll_says_what_a_technician_needs(
    replies: tuple[int, int, int, int | None], problem: str | None, can_print: bool, paper: str
) -> None:
    status = PrinterStatus.from_replies(*replies)
    assert status.problem == problem
    assert status.can_print is can_print
    assert status.paper_level == paper


@pytest.mark.parametrize(
    "byte",
    [
        0x00,  # what a GS r 1 answer looks like
        0x03,
        0x10,  # DLE echoed back
        0x11,  # XON
        0x13,  # XOFF
        0x02,  # bit 4 clear
        0x92,  # bit 7 set
        0x33,  # bit 0 set
        0x10 | 0x80,
    ],
)
def test_a_byte_without_the_fixed_bits_is_no_status(byte: int) -> None:
    assert not escpos.is_status_reply(byte)
    for decoder in (PrinterReply, OfflineCause, ErrorCause, RollPaper):
        with pytest.raises(NotAStatusReply):
            decoder.from_byte(byte)


def test_the_marker_answer_is_told_apart_from_a_status_answer() -> None:
    assert MarkerReply.from_byte(0x00) == MarkerReply()
    assert MarkerReply.from_byte(0x03) == MarkerReply(near_end=True)  # bits 0-1
    assert MarkerReply.from_byte(0x0C) == MarkerReply(end=True)  # bits 2-3
    assert escpos.is_marker_reply(0x00)
    assert not escpos.is_marker_reply(0x12)  # a DLE EOT answer has bit 4 set
    with pytest.raises(NotAStatusReply):
        MarkerReply.from_byte(0x12)


@given(st.integers(0, 255))
def test_any_byte_is_a_status_a_marker_or_neither_never_both(byte: int) -> None:
    status, marker = escpos.is_status_reply(byte), escpos.is_marker_reply(byte)
    assert not (status and marker)
    assert status == (byte & 0x93 == 0x12)
    for decoder in (PrinterReply, OfflineCause, ErrorCause):
        if status:
            assert decoder.from_byte(byte).to_byte() == byte  # every other bit has a meaning
        else:
            with pytest.raises(NotAStatusReply):
                decoder.from_byte(byte)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_garbage_never_decodes_into_a_printer_that_can_print_with_a_problem(
    a: int, b: int, c: int, d: int
) -> None:
    try:
        status = PrinterStatus.from_replies(a, b, c, d)
    except NotAStatusReply:
        assert not all(escpos.is_status_reply(x) for x in (a, b, c, d))
        return
    if status.can_print:
        assert status.problem in (None, "paper low")
    else:
        assert status.problem is not None


# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_chinese_punctuation_alone_is_real_gbk_not_question_marks(
    encoding: escpos.Encoding,
) -> None:
    # 【 A1BE, 】 A1BF, （ A3A8, ） A3A9, ： A3BA, inside FS & ... FS .
    assert encode_text("【】（）：", encoding) == bytes.fromhex(
        "1C 26 A1BE A1BF A3A8 A3A9 A3BA 1C 2E"
    )
    assert encode_text("【】（）：", encoding, chinese_mode=False) == bytes.fromhex(
        "A1BE A1BF A3A8 A3A9 A3BA"
    )
    assert substitutions("【】（）：", encoding) == ()


def test_a_rare_character_is_four_byte_gb18030_only_on_a_gb18030_printer() -> None:
    # U+3400 (CJK Extension A) is outside GBK: GB18030 writes it as 81 39 EE 39.
    assert encode_text("㐀", "gb18030") == bytes.fromhex("1C 26 8139EE39 1C 2E")
    assert substitutions("㐀", "gb18030") == ()
    # A GBK printer would misprint those four bytes: it gets a visible "□" (A1 F5) instead.
    assert encode_text("㐀", "gbk") == bytes.fromhex("1C 26 A1F5 1C 2E")
    assert substitutions("张㐀", "gbk") == ("㐀",)
    assert b"?" not in encode_text("㐀", "gbk")


def test_only_runs_of_chinese_are_wrapped_in_chinese_mode() -> None:
    # "A012" ASCII, 号 BA C5, "3" ASCII, 窗口 B4B0 BFDA, then LF.
    assert encode_text("A012号 3窗口\n", "gbk") == bytes.fromhex(
        "41 30 31 32 1C 26 BAC5 1C 2E 20 33 1C 26 B4B0 BFDA 1C 2E 0A"
    )
    assert encode_text("中文", "gb18030", chinese_mode=False) == bytes.fromhex("D6D0 CEC4")


def test_control_characters_never_reach_the_printer_as_commands() -> None:
    # ESC @ inside a hall text would reset the printer mid-ticket; DLE EOT would ask for status.
    data = encode_text("A\x1b@B\x10\x04\x01", "gbk")
    assert data == bytes.fromhex("41 1C 26 A1F5 1C 2E 40 42 1C 26 A1F5 A1F5 A1F5 1C 2E")
    assert substitutions("A\x1b@B\x10\x04\x01", "gbk") == ("\x1b", "\x10", "\x04", "\x01")


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="gb2312"):
        encode_text("中", "gb2312")  # type: ignore[arg-type]


def _plain(data: bytes, encoding: str) -> str:
    return data.replace(escpos.CHINESE_ON, b"").replace(escpos.CHINESE_OFF, b"").decode(encoding)


@given(st.text(max_size=40), st.sampled_from(escpos.ENCODINGS), st.booleans())
def test_encoded_text_decodes_back_with_only_visible_substitutes(
    text: str, encoding: escpos.Encoding, chinese_mode: bool
) -> None:
    data = encode_text(text, encoding, chinese_mode=chinese_mode)
    lost = substitutions(text, encoding)
    expected = "".join(escpos.SUBSTITUTE if c in lost else c for c in text)
    assert _plain(data, encoding) == expected
    assert data.count(b"?") == text.count("?")  # never a silent "?"
    if chinese_mode:
        # Every byte >= 0x80 sits between FS & and FS .; the modes alternate, ending off.
        inside = False
        i = 0
        while i < len(data):
            if data[i : i + 2] in (escpos.CHINESE_ON, escpos.CHINESE_OFF):
                assert (data[i : i + 2] == escpos.CHINESE_ON) != inside
                inside = not inside
                i += 2
                continue
            assert data[i] < 0x80 or inside
            i += 1
        assert not inside


def test_columns_and_wrapping_count_chinese_characters_as_two() -> None:
    assert text_columns("A012") == 4
    assert text_columns("政务服务") == 8
    assert text_columns("【补打】") == 8
    assert wrap_text("政务服务中心", 4) == ["政务", "服务", "中心"]
    assert wrap_text("请到 3 号窗口\n谢谢", 8) == ["请到 3", "号窗口", "谢谢"]
    assert wrap_text("", 32) == []
    assert all(text_columns(line) <= 5 for line in wrap_text("A中B文C字D", 5))


def test_symbols_sent_as_two_byte_codes_take_two_columns_like_chinese() -> None:
    # · A1A4, — A1AA, “ ” A1B0 A1B1, … A1AD, □ A1F5: printed 24 dots wide, as 中 is.
    assert text_columns("·—“”…□") == 12
    assert text_columns("A\x1b") == 3  # ESC goes out as "□"
    for line in wrap_text("请留意叫号——过号请重新取号——谢谢合作", 32):
        assert sum(1 if char < "\x80" else 2 for char in line) <= 32, line  # never wraps on paper


@given(st.text(max_size=40), st.sampled_from(escpos.ENCODINGS))
def test_columns_are_those_the_encoded_text_takes_on_paper(
    text: str, encoding: escpos.Encoding
) -> None:
    # On paper: one column per byte outside FS & ... FS ., two per character inside.
    data = encode_text(text.replace("\n", ""), encoding)
    columns = 0
    for i, part in enumerate(
        data.replace(escpos.CHINESE_OFF, escpos.CHINESE_ON).split(escpos.CHINESE_ON)
    ):
        columns += 2 * len(part.decode(encoding)) if i % 2 else len(part)
    assert text_columns(text.replace("\n", "")) == columns
