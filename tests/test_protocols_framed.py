"""The generic framing: recorded vendor frames, settings checks, and stream decoding properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hall_controller.protocols.checksums import CHECKSUMS
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing, encode

# LED board: AA 55 | addr | cmd | len | payload | sum8 (address..payload) | 0D
AA55_BOARD = Framing(header=b"\xaa\x55", tail=b"\x0d")
# LED board: 7E | addr (2) | cmd | len (2, little-endian) | payload | CRC-16/Modbus | 7E,
# with 7E and 7D escaped as 7D, b ^ 20 between the flags (as in HDLC).
HDLC_BOARD = Framing(
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
)
# Call pad: FF 68 | addr | cmd | len | data | sum8 | 16
CALL_PAD = Framing(header=b"\xff\x68", tail=b"\x16")
# No length field: STX 02 | addr | cmd | data | xor8 | ETX 03, with 02, 03 and 10 escaped.
STX_ETX = Framing(
    header=b"\x02",
    tail=b"\x03",
    length_size=0,
    checksum="xor8",
    escape_byte=0x10,
    escape_xor=0x20,
    escaped=b"\x02\x03",
)
# The length counts the whole frame; the xor covers the header too; no address, no tail.
WHOLE_LENGTH = Framing(
    header=b"\x5a",
    address_size=0,
    length_counts="frame",
    checksum="xor8",
    checksum_from="header",
    max_payload=64,
)
VENDOR_FRAMINGS = [AA55_BOARD, HDLC_BOARD, CALL_PAD, STX_ETX, WHOLE_LENGTH]


def _decode_all(framing: Framing, data: bytes) -> tuple[list[Frame], FrameDecoder]:
    decoder = FrameDecoder(framing)
    return decoder.feed(data), decoder


# --- recorded frames -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framing", "frame", "wire"),
    [
        (
            AA55_BOARD,
            Frame(1, 0x01, b"A012"),
            bytes.fromhex("AA 5501010441 30 31 32DA0D"),
            # header, address 1, show, length 4, "A012", sum8 of 01..32, tail
        ),
        (
            HDLC_BOARD,
            Frame(3, 0x10, b"A012"),
            bytes.fromhex("7E00 031004 0041 30 31 32DA D67E"),
            # flag, address 3 (big-endian), show, length 4 (little-endian), "A012",
            # CRC-16/Modbus 0xD6DA low byte first, flag
        ),
        (
            HDLC_BOARD,
            Frame(0x7E, 0x12, b""),
            bytes.fromhex("7E00 7D 5E1200 009C 2D7E"),
            # flag, address 0x007E with 7E escaped as 7D 5E, clear, length 0, CRC 0x2D9C, flag
        ),
        (
            HDLC_BOARD,
            Frame(18, 0x12, b""),
            bytes.fromhex("7E00 121200 0081 7D 5D7E"),
            # flag, address 18, clear, length 0, CRC 0x7D81 whose 7D is escaped as 7D 5D, flag
        ),
        (
            CALL_PAD,
            Frame(1, 0x01, b"\x01"),
            bytes.fromhex("FF 68010101010416"),
            # header, address 1, key command, length 1, key 01, sum8 of 01 01 01 01, tail
        ),
        (
            STX_ETX,
            Frame(2, 0x03, b"\x10\x41"),
            bytes.fromhex("0210 2210 2310 30 415003"),
            # STX, address 02 escaped as 10 22, command 03 escaped as 10 23, data 10 41 with 10
            # escaped as 10 30, xor8 of 02 03 10 41, ETX
        ),
        (
            WHOLE_LENGTH,
            Frame(0, 0x21, b"\x01\x02"),
            bytes.fromhex("5A210601 027E"),
            # header, command 21, length 6 = whole frame, payload, xor8 of 5A 21 06 01 02
        ),
    ],
)
def test_recorded_frames(framing: Framing, frame: Frame, wire: bytes) -> None:
    assert encode(framing, frame) == wire
    frames, decoder = _decode_all(framing, wire)
    assert frames == [frame]
    assert decoder.errors == 0
    assert decoder.pending == 0


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", VENDOR_FRAMINGS)
def test_vendor_framings_are_consistent(framing: Framing) -> None:
    assert framing.validate() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"header": b""}, "header is empty"),
        ({"address_size": 3}, "address_size is 3: it must be 0, 1 or 2 bytes"),
        ({"command_size": 2}, "command_size is 2"),
        ({"length_size": 4}, "length_size is 4"),
        ({"length_counts": "bytes"}, "length_counts is 'bytes'"),
        (
            {"checksum": "crc32"},
            "checksum 'crc32' is unknown (known: crc16_modbus, none, sum8, xor8)",
        ),
        ({"checksum_from": "payload"}, "checksum_from is 'payload'"),
        ({"length_size": 0, "tail": b""}, "no length field and no tail"),
        ({"length_size": 0}, "tail byte 0x0D is not escaped"),
        ({"length_size": 0}, "header byte 0xAA is not escaped"),
        ({"max_payload": 256}, "max_payload 256 does not fit a 1-byte length field"),
        ({"max_payload": 70000, "length_size": 2}, "max_payload is 70000"),
        ({"length_counts": "frame"}, "max_payload 255 plus 7 bytes of framing does not fit"),
        ({"escaped": b"\x0d"}, "escaped bytes are listed but no escape_byte is set"),
        ({"escape_byte": 0x7D, "escaped": b"\x7e"}, "escaping 0x7D writes 0x7D"),
        (
            {"escape_byte": 0x10, "escape_xor": 0x6E, "escaped": b"\x7e"},
            "escaping 0x10 writes 0x7E",
        ),
        ({"escape_byte": 0xAA, "escape_xor": 0x20}, "escape byte 0xAA is also the first header"),
        ({"escape_byte": 0x0D, "escape_xor": 0x20}, "escape byte 0x0D is also the first tail"),
        ({"escape_byte": 300}, "escape_byte and escape_xor must be single byte values"),
    ],
)
def test_inconsistent_settings_are_explained(changes: dict[str, object], message: str) -> None:
    framing = dataclasses.replace(AA55_BOARD, **changes)  # type: ignore[arg-type]
    problems = framing.validate()
    assert any(message in p for p in problems), problems
    with pytest.raises(ValueError, match="inconsistent framing"):
        FrameDecoder(framing)
    with pytest.raises(ValueError, match="inconsistent framing"):
        encode(framing, Frame(1, 1, b""))


def test_a_tail_delimited_framing_escaping_its_edges_is_consistent() -> None:
    framing = dataclasses.replace(
        AA55_BOARD, length_size=0, escape_byte=0x1B, escape_xor=0x80, escaped=b"\xaa\x0d"
    )
    assert framing.validate() == []


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame(256, 1, b""), "address 256 does not fit 1 byte"),
        (Frame(-1, 1, b""), "address -1 does not fit"),
        (Frame(1, 256, b""), "command 256 does not fit"),
        (Frame(1, 1, bytes(256)), "256 payload bytes exceed max_payload 255"),
    ],
)
def test_encode_refuses_frames_the_framing_cannot_carry(frame: Frame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode(AA55_BOARD, frame)


def test_a_framing_without_an_address_field_takes_address_0_only() -> None:
    assert encode(WHOLE_LENGTH, Frame(0, 1, b"")).startswith(b"\x5a\x01")
    with pytest.raises(ValueError, match="address 1 does not fit 0 byte"):
        encode(WHOLE_LENGTH, Frame(1, 1, b""))


def test_max_frame_size_counts_every_byte_escaped() -> None:
    assert AA55_BOARD.max_frame_size == 2 + 3 + 255 + 1 + 1
    assert HDLC_BOARD.max_frame_size == 1 + 2 * (2 + 1 + 2 + 512 + 2) + 1


# --- decoding: errors and resync -----------------------------------------------------------

SHOW_A012 = bytes.fromhex("AA 5501010441 30 31 32DA0D")  # see above
CALL_KEY = bytes.fromhex("FF 68010101010416")  # address 1, key 01


def test_garbage_before_a_frame_is_skipped_and_counted_once() -> None:
    decoder = FrameDecoder(AA55_BOARD)
    assert decoder.feed(bytes.fromhex("00 13 37 0D 55") + SHOW_A012) == [Frame(1, 1, b"A012")]
    assert decoder.errors == 1
    assert decoder.last_error == "garbage skipped"


def test_garbage_fed_in_pieces_is_one_resync() -> None:
    decoder = FrameDecoder(AA55_BOARD)
    for piece in (b"\x00\x01", b"\x02", b"\x03\x04"):
        assert decoder.feed(piece) == []
    assert decoder.errors == 1
    assert decoder.feed(SHOW_A012) == [Frame(1, 1, b"A012")]
    decoder.feed(b"\x00")
    assert decoder.errors == 2  # garbage after a good frame is a new resync


def test_bad_checksum_is_counted_and_the_next_frame_still_decodes() -> None:
    bad = bytes.fromhex("AA 5501010441 30 31 32DB0D")  # sum8 should be DA
    frames, decoder = _decode_all(AA55_BOARD, bad + SHOW_A012)
    assert frames == [Frame(1, 1, b"A012")]
    assert decoder.errors == 1
    assert decoder.last_error == "bad checksum"


def test_bad_tail_is_counted() -> None:
    bad = bytes.fromhex("FF 68010101010417")  # tail should be 16
    frames, decoder = _decode_all(CALL_PAD, bad + CALL_KEY)
    assert frames == [Frame(1, 1, b"\x01")]
    assert decoder.errors == 1
    assert decoder.last_error == "bad tail"


def test_oversized_length_is_an_error_at_once() -> None:
    framing = dataclasses.replace(AA55_BOARD, max_payload=8)
    decoder = FrameDecoder(framing)
    assert decoder.feed(bytes.fromhex("AA 55010109")) == []  # length 9 > 8
    assert decoder.errors == 1
    assert decoder.last_error is not None
    assert decoder.last_error.startswith("oversized")
    assert decoder.pending == 0


def test_a_whole_length_shorter_than_the_framing_is_an_error() -> None:
    frames, decoder = _decode_all(WHOLE_LENGTH, bytes.fromhex("5A210300"))
    assert frames == []
    assert decoder.errors == 1


def test_tail_delimited_frame_without_tail_is_oversized_when_too_long() -> None:
    framing = dataclasses.replace(STX_ETX, max_payload=4)
    decoder = FrameDecoder(framing)
    decoder.feed(bytes.fromhex("020101") + bytes(5))  # 4 payload bytes and a checksum
    assert decoder.errors == 0
    decoder.feed(bytes(1))  # one more: no longer a frame
    assert decoder.errors == 1
    assert decoder.pending == 0


def test_tail_delimited_run_of_escape_bytes_does_not_grow_the_buffer() -> None:
    decoder = FrameDecoder(STX_ETX)
    for _ in range(2000):
        decoder.feed(b"\x02" + b"\x10" * 7)
        assert decoder.pending <= STX_ETX.max_frame_size
    assert decoder.errors >= 1


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (bytes.fromhex("7E00 031001 007E00 007E"), "unescaped 0x7E"),
        (bytes.fromhex("7E00 031001 007D 4100 007E"), "escape byte followed"),
    ],
)
def test_broken_escaping_is_an_error(wire: bytes, reason: str) -> None:
    frames, decoder = _decode_all(HDLC_BOARD, wire)
    assert frames == []
    assert decoder.errors >= 1
    assert decoder.last_error is not None
    assert decoder.last_error.startswith(reason)


def test_escape_right_before_the_tail_is_an_error() -> None:
    frames, decoder = _decode_all(STX_ETX, bytes.fromhex("020101001003"))
    assert frames == []
    assert decoder.errors == 1


def test_truncated_frame_yields_nothing_until_flushed() -> None:
    decoder = FrameDecoder(AA55_BOARD)
    assert decoder.feed(SHOW_A012[:-3]) == []
    assert decoder.errors == 0
    assert decoder.flush() == []
    assert decoder.errors == 1
    assert decoder.last_error == "truncated frame"
    assert decoder.pending == 0


def test_flush_finds_a_frame_behind_a_truncated_one() -> None:
    decoder = FrameDecoder(AA55_BOARD)
    truncated = bytes.fromhex("AA 5501012041")  # claims 32 bytes, sends 1
    assert decoder.feed(truncated + SHOW_A012) == []  # still inside the claimed 32 bytes
    assert decoder.flush() == [Frame(1, 1, b"A012")]
    assert decoder.errors == 1


def test_a_header_split_across_feeds_is_kept() -> None:
    decoder = FrameDecoder(AA55_BOARD)
    assert decoder.feed(b"\x00\x00\xaa") == []
    assert decoder.pending == 1
    assert decoder.feed(SHOW_A012[1:]) == [Frame(1, 1, b"A012")]


def test_payload_may_contain_the_header_when_there_is_a_length() -> None:
    frame = Frame(1, 1, b"\xaa\x55\x0d")
    frames, decoder = _decode_all(AA55_BOARD, encode(AA55_BOARD, frame) * 2)
    assert frames == [frame, frame]
    assert decoder.errors == 0


def test_every_escaped_byte_between_the_flags_is_escaped() -> None:
    frame = Frame(0x7E7D, 0x7E, bytes(range(256)) * 2)
    wire = encode(HDLC_BOARD, frame)
    inner = wire[1:-1]
    assert 0x7E not in inner
    for i, byte in enumerate(inner):
        if byte == 0x7D:
            assert inner[i + 1] in (0x5E, 0x5D)
    assert FrameDecoder(HDLC_BOARD).feed(wire) == [frame]


# --- properties over any consistent framing ------------------------------------------------


@st.composite
def framings(draw: st.DrawFn) -> Framing:
    """Any consistent framing, with small payloads so that many frames are tried."""
    header = draw(st.binary(min_size=1, max_size=3))
    length_size = draw(st.sampled_from((0, 1, 2)))
    tail = draw(st.binary(min_size=1 if length_size == 0 else 0, max_size=2))
    escape_byte: int | None = None
    escape_xor = 0
    escaped = b""
    if length_size == 0 or draw(st.booleans()):
        escape_byte = draw(st.integers(0, 255))
        escape_xor = draw(st.integers(1, 255))
        chosen = set(draw(st.binary(max_size=3)))
        if length_size == 0:
            chosen |= {header[0], tail[0]}
        escaped = bytes(sorted(chosen - {escape_byte}))
    framing = Framing(
        header=header,
        tail=tail,
        address_size=draw(st.sampled_from((0, 1, 2))),
        command_size=draw(st.sampled_from((0, 1))),
        length_size=length_size,
        length_big_endian=draw(st.booleans()),
        length_counts=draw(st.sampled_from(("payload", "frame"))),
        checksum=draw(st.sampled_from(sorted(CHECKSUMS))),
        checksum_from=draw(st.sampled_from(("address", "header"))),
        escape_byte=escape_byte,
        escape_xor=escape_xor,
        escaped=escaped,
        max_payload=draw(st.integers(0, 40)),
    )
    assume(not framing.validate())
    return framing


def frames_of(framing: Framing) -> st.SearchStrategy[Frame]:
    return st.builds(
        Frame,
        st.integers(0, 256**framing.address_size - 1),
        st.integers(0, 256**framing.command_size - 1),
        st.binary(max_size=framing.max_payload),
    )


def garbage_for(framing: Framing, max_size: int = 12) -> st.SearchStrategy[bytes]:
    """Noise that cannot start a header (a header in noise may legally swallow a frame)."""
    first = framing.header[0]
    return st.binary(max_size=max_size).map(lambda g: bytes(b for b in g if b != first))


@given(st.data())
def test_any_framing_round_trips_whole(data: st.DataObject) -> None:
    framing = data.draw(framings())
    frames = data.draw(st.lists(frames_of(framing), max_size=5))
    decoder = FrameDecoder(framing)
    assert decoder.feed(b"".join(encode(framing, f) for f in frames)) == frames
    assert decoder.errors == 0
    assert decoder.pending == 0


@given(st.data())
def test_any_framing_round_trips_one_byte_at_a_time(data: st.DataObject) -> None:
    framing = data.draw(framings())
    frames = data.draw(st.lists(frames_of(framing), max_size=4))
    stream = b"".join(encode(framing, f) for f in frames)
    decoder = FrameDecoder(framing)
    decoded = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert decoded == frames
    assert decoder.errors == 0


@given(st.data())
def test_any_framing_round_trips_through_random_splits(data: st.DataObject) -> None:
    framing = data.draw(framings())
    frames = data.draw(st.lists(frames_of(framing), max_size=5))
    stream = b"".join(encode(framing, f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder(framing)
    decoded: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        decoded += decoder.feed(stream[start:end])
    assert decoded == frames
    assert decoder.errors == 0


@given(st.data())
def test_garbage_before_and_between_frames_still_yields_the_frames(data: st.DataObject) -> None:
    framing = data.draw(framings())
    frames = data.draw(st.lists(frames_of(framing), min_size=1, max_size=4))
    noise = [data.draw(garbage_for(framing)) for _ in range(len(frames) + 1)]
    stream = noise[0] + b"".join(
        encode(framing, f) + n for f, n in zip(frames, noise[1:], strict=True)
    )
    chunk = data.draw(st.integers(1, 8))
    decoder = FrameDecoder(framing)
    decoded = [f for i in range(0, len(stream), chunk) for f in decoder.feed(stream[i : i + chunk])]
    decoded += decoder.flush()
    assert decoded == frames
    runs = sum(1 for n in noise if n)
    assert decoder.errors == runs


@given(st.data())
def test_arbitrary_bytes_never_raise_and_stay_bounded(data: st.DataObject) -> None:
    framing = data.draw(framings())
    decoder = FrameDecoder(framing)
    errors = 0
    for chunk in data.draw(st.lists(st.binary(max_size=64), max_size=10)):
        for frame in decoder.feed(chunk):
            assert len(frame.payload) <= framing.max_payload
        assert decoder.pending <= framing.max_frame_size
        assert decoder.errors >= errors
        errors = decoder.errors
    decoder.flush()
    assert decoder.pending == 0


@given(st.data())
def test_noise_without_a_header_counts_an_error(data: st.DataObject) -> None:
    framing = data.draw(framings())
    noise = data.draw(garbage_for(framing, max_size=64).filter(bool))
    frames, decoder = _decode_all(framing, noise)
    assert frames == []
    assert decoder.errors == 1


@given(st.data())
def test_truncated_frames_yield_nothing(data: st.DataObject) -> None:
    framing = data.draw(framings())
    wire = encode(framing, data.draw(frames_of(framing)))
    cut = data.draw(st.integers(1, len(wire) - 1))
    frames, decoder = _decode_all(framing, wire[:cut])
    assert frames == []
    assert decoder.errors == 0
    decoder.flush()  # may find frames inside the cut one's bytes: they are not this frame
    assert decoder.errors >= 1
    assert decoder.pending == 0


@given(st.data())
def test_frames_over_max_payload_are_errors(data: st.DataObject) -> None:
    framing = data.draw(framings())
    roomier = dataclasses.replace(framing, max_payload=framing.max_payload + 20)
    assume(not roomier.validate())
    size = data.draw(st.integers(framing.max_payload + 1, roomier.max_payload))
    wire = encode(roomier, Frame(0, 0, data.draw(st.binary(min_size=size, max_size=size))))
    frames, decoder = _decode_all(framing, wire)
    frames += decoder.flush()
    assert all(len(f.payload) <= framing.max_payload for f in frames)
    assert decoder.errors >= 1


@given(st.binary(max_size=600))
def test_vendor_decoders_survive_arbitrary_bytes(noise: bytes) -> None:
    for framing in VENDOR_FRAMINGS:
        decoder = FrameDecoder(framing)
        decoder.feed(noise)
        assert decoder.pending <= framing.max_frame_size
        decoder.flush()
