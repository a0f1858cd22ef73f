"""The SAM protocol of resident ID card readers (GA 467-2013): frames, the stream, the text.

Frames are written out as annotated hex from the published protocol; the text records are
built here field by field (UTF-16LE, space padded) for made-up people, never real ones.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols.sam_idcard import (
    FIND_CARD,
    MAX_LENGTH,
    NATIONS,
    READ_TEXT_PHOTO,
    SELECT_CARD,
    IdCardText,
    ReplyDecoder,
    RequestDecoder,
    SamFrameError,
    SamReply,
    SamRequest,
    Status,
    TextRecordError,
    parse_text_record,
    split_text_photo,
    status_text,
    text_photo_reply,
    text_record,
)

PREAMBLE = "AA AA AA 96 69"
# Requests: preamble | length (counts command..checksum) | command parameter | XOR of length..
FIND = bytes.fromhex(f"{PREAMBLE} 0003 20 01 22")
SELECT = bytes.fromhex(f"{PREAMBLE} 0003 20 02 21")
READ = bytes.fromhex(f"{PREAMBLE} 0003 30 01 32")
# Replies: preamble | length (counts SW1..checksum) | SW1 SW2 SW3 | data | XOR of length..data
CARD_FOUND = bytes.fromhex(f"{PREAMBLE} 0008 00 00 9F 00000000 97")
NO_CARD = bytes.fromhex(f"{PREAMBLE} 0004 00 00 80 84")
READ_FAILED = bytes.fromhex(f"{PREAMBLE} 0004 00 00 41 45")
SELECTED = bytes.fromhex(f"{PREAMBLE} 000C 00 00 90 0000000000000000 9C")
# A text and photo reply begins: length 0x0508 = SW (3) + lengths (4) + 256 + 1024 + checksum,
# SW 90, then text length 0x0100 and photo length 0x0400.
READ_REPLY_HEAD = bytes.fromhex(f"{PREAMBLE} 0508 00 00 90 0100 0400")


def field(text: str, size: int) -> bytes:
    """One text field as the card stores it: UTF-16LE, padded with spaces to `size` bytes."""
    data = text.encode("utf-16-le")
    assert len(data) <= size
    return data + b"\x20\x00" * ((size - len(data)) // 2)


def record(
    *,
    name: str = "陈测试",
    sex: str = "1",
    nation: str = "01",
    birth: str = "19500304",
    address: str = "广东省广州市天河区示例路1号",
    number: str = "44010619500304001X",
    authority: str = "广州市公安局天河分局",
    valid_from: str = "20160304",
    valid_to: str = "长期",
) -> bytes:
    """A 256-byte text record: name 30, sex 2, nation 4, birth 16, address 70, number 36,
    authority 30, valid from 16, valid to 16, reserved 36."""
    return (
        field(name, 30)
        + field(sex, 2)
        + field(nation, 4)
        + field(birth, 16)
        + field(address, 70)
        + field(number, 36)
        + field(authority, 30)
        + field(valid_from, 16)
        + field(valid_to, 16)
        + field("", 36)
    )


ELDER = IdCardText(
    name="陈测试",
    sex="男",
    nation="汉",
    birth_date="19500304",
    address="广东省广州市天河区示例路1号",
    id_number="44010619500304001X",
    authority="广州市公安局天河分局",
    valid_from="20160304",
    valid_to="长期",
)


def test_requests_are_the_published_bytes() -> None:
    assert FIND_CARD.to_bytes() == FIND
    assert SELECT_CARD.to_bytes() == SELECT
    assert READ_TEXT_PHOTO.to_bytes() == READ
    assert SamRequest.from_bytes(READ) == READ_TEXT_PHOTO
    assert str(FIND_CARD) == "20 01"


def test_replies_from_recorded_frames() -> None:
    found = SamReply.from_bytes(CARD_FOUND)
    assert found.status is Status.CARD_FOUND
    assert found.data == bytes(4)
    assert SamReply.from_bytes(NO_CARD) == SamReply(Status.NO_CARD)
    assert SamReply.from_bytes(READ_FAILED).status is Status.READ_FAILED
    assert SamReply.from_bytes(SELECTED) == SamReply(Status.OK, bytes(8))
    for frame in (CARD_FOUND, NO_CARD, READ_FAILED, SELECTED):
        assert SamReply.from_bytes(frame).to_bytes() == frame


def test_status_words_in_words() -> None:
    assert status_text(0x80) == "no card (80)"
    assert status_text(0x41) == "reading the card failed (41)"
    assert status_text(0x77) == "unknown status (77)"
    assert SamReply(0x77).status is None


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (bytes.fromhex(f"{PREAMBLE} 0004 00 00 80 85"), "bad checksum"),
        (bytes.fromhex(f"{PREAMBLE} 0003 00 00 83"), "short frame"),
        (bytes.fromhex(f"{PREAMBLE} 0005 00 00 80 84"), "does not match"),
        (bytes.fromhex("AA AA 96 69 0004 00 00 80 84"), "no preamble"),
        (bytes.fromhex(f"{PREAMBLE} 00"), "short frame"),
    ],
)
def test_a_broken_frame_is_refused_with_the_reason(frame: bytes, why: str) -> None:
    with pytest.raises(SamFrameError, match=why):
        SamReply.from_bytes(frame)


def test_the_text_record_of_a_card() -> None:
    card = parse_text_record(record())
    assert card == ELDER
    assert parse_text_record(record(sex="2", nation="56", valid_to="20360304")) == IdCardText(
        **{**_fields(ELDER), "sex": "女", "nation": "基诺", "valid_to": "20360304"}
    )


def _fields(card: IdCardText) -> dict[str, str]:
    return {name: getattr(card, name) for name in IdCardText.__slots__}


def test_nations_follow_gb_3304() -> None:
    assert len(NATIONS) == 58  # 56 nations, 97 other, 98 foreign origin
    assert (NATIONS["01"], NATIONS["08"], NATIONS["11"], NATIONS["56"]) == (
        "汉",
        "壮",
        "满",
        "基诺",
    )
    assert NATIONS["97"] == "其他"


def test_a_card_becomes_the_record_it_was_read_from() -> None:
    assert text_record(ELDER) == record()
    with pytest.raises(ValueError, match="name takes 32 bytes"):
        text_record(IdCardText(**{**_fields(ELDER), "name": "测" * 16}))


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (record()[:255], "256 bytes"),
        (record(sex="3"), "sex"),
        (record(nation="57"), "nation"),
        (record(birth="1950034"), "birth_date"),
        (record(valid_from="2016-03-"), "valid_from"),
        (record(valid_to="永久"), "valid_to"),
        (record(number=""), "id_number is empty"),
        (record()[:30] + b"\x00\xd8" + record()[32:], "sex is not UTF-16"),  # a lone surrogate
    ],
)
def test_a_broken_record_names_the_field_but_not_its_value(broken: bytes, why: str) -> None:
    with pytest.raises(TextRecordError, match=why) as caught:
        parse_text_record(broken)
    assert "44010619500304001X" not in str(caught.value)


def test_a_text_and_photo_reply_as_readers_send_it() -> None:
    photo = bytes(range(256)) * 4
    frame = text_photo_reply(record(), photo).to_bytes()
    assert frame[: len(READ_REPLY_HEAD)] == READ_REPLY_HEAD
    assert len(frame) == 7 + 0x0508
    reply = SamReply.from_bytes(frame)
    assert split_text_photo(reply) == (record(), photo)
    # What a technician may see: no byte of the record.
    assert reply.header() == "AA AA AA 96 69 05 08 00 00 90 + 1284 data bytes"


def test_lengths_that_lie_are_refused() -> None:
    lying = SamReply(Status.OK, bytes.fromhex("0100 0400") + record())  # no photo bytes
    with pytest.raises(SamFrameError, match="do not match"):
        split_text_photo(lying)
    with pytest.raises(SamFrameError, match="4 bytes of lengths"):
        split_text_photo(SamReply(Status.OK, b"\x01"))


# --- the stream ------------------------------------------------------------------------------


def test_frames_cut_at_every_byte_are_found_in_order() -> None:
    stream = CARD_FOUND + SELECTED + text_photo_reply(record(), b"\x00" * 1024).to_bytes()
    decoder = ReplyDecoder()
    replies: list[SamReply] = []
    for byte in stream:
        replies += decoder.feed(bytes((byte,)))
    assert [r.sw3 for r in replies] == [0x9F, 0x90, 0x90]
    assert split_text_photo(replies[2])[0] == record()
    assert decoder.errors == 0
    assert decoder.pending == 0


def test_garbage_is_skipped_and_counted_once_per_run() -> None:
    decoder = ReplyDecoder()
    stream = b"\x00\x13\x37" + NO_CARD + b"\xaa\xaa\x55" + CARD_FOUND
    assert decoder.feed(stream) == [SamReply(Status.NO_CARD), SamReply(Status.CARD_FOUND, bytes(4))]
    assert decoder.errors == 2
    assert decoder.last_error == "garbage skipped"


def test_a_bad_checksum_is_counted_and_the_next_frame_still_found() -> None:
    decoder = ReplyDecoder()
    broken = NO_CARD[:-1] + b"\x00"
    assert decoder.feed(broken + READ_FAILED) == [SamReply(Status.READ_FAILED)]
    assert decoder.errors == 1
    assert decoder.last_error == "bad checksum"


def test_short_and_oversized_frames_are_counted() -> None:
    decoder = ReplyDecoder()
    short = bytes.fromhex(f"{PREAMBLE} 0002 00 02")  # shorter than SW1 SW2 SW3 checksum
    assert decoder.feed(short + NO_CARD) == [SamReply(Status.NO_CARD)]
    assert decoder.last_error == "short frame: length 2"
    oversized = bytes.fromhex(PREAMBLE) + (MAX_LENGTH + 1).to_bytes(2, "big")
    assert decoder.feed(oversized + NO_CARD) == [SamReply(Status.NO_CARD)]
    assert decoder.last_error == f"oversized frame: length {MAX_LENGTH + 1}"
    assert decoder.errors == 2


def test_a_truncated_frame_is_given_up_when_the_line_goes_quiet() -> None:
    decoder = ReplyDecoder()
    assert decoder.feed(SELECTED[:9]) == []
    assert decoder.pending == 9
    assert decoder.errors == 0  # it may still complete
    assert decoder.flush() == []
    assert decoder.errors == 1
    assert decoder.last_error == "truncated frame"
    assert decoder.pending == 0
    assert decoder.feed(NO_CARD) == [SamReply(Status.NO_CARD)]


def test_a_photo_holding_the_preamble_does_not_cut_the_frame() -> None:
    photo = (bytes.fromhex(PREAMBLE) + bytes.fromhex("0004 00 00 80 84")) * 102 + bytes(4)
    frame = text_photo_reply(record(), photo).to_bytes()
    decoder = ReplyDecoder()
    (reply,) = decoder.feed(frame[:700]) + decoder.feed(frame[700:])
    assert split_text_photo(reply) == (record(), photo)
    assert decoder.errors == 0


def test_the_reader_side_decodes_requests() -> None:
    decoder = RequestDecoder()
    assert decoder.feed(b"\xff" + FIND + SELECT[:4]) == [FIND_CARD]
    assert decoder.feed(SELECT[4:] + READ) == [SELECT_CARD, READ_TEXT_PHOTO]
    assert decoder.errors == 1  # the stray FF


replies = st.builds(
    SamReply,
    sw3=st.sampled_from(list(Status)),
    data=st.binary(max_size=300),
    sw1=st.integers(0, 255),
    sw2=st.integers(0, 255),
)


@given(st.lists(replies, max_size=6), st.data())
def test_replies_survive_any_split(frames: list[SamReply], data: st.DataObject) -> None:
    stream = b"".join(reply.to_bytes() for reply in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = ReplyDecoder()
    found: list[SamReply] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        found += decoder.feed(stream[start:end])
    assert found == frames
    assert decoder.errors == 0


@given(st.binary(max_size=3000))
def test_any_bytes_are_taken_without_raising_and_the_line_recovers(noise: bytes) -> None:
    decoder = ReplyDecoder()
    decoder.feed(noise)
    assert decoder.pending <= len(PREAMBLE) + 2 + MAX_LENGTH
    decoder.flush()
    assert decoder.pending == 0
    assert decoder.feed(CARD_FOUND) == [SamReply(Status.CARD_FOUND, bytes(4))]
