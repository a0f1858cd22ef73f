"""Rating pads: a 4-key pad mapped onto the national 5-level scale, and a 5-key pad."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols import rating_pad
from hall_controller.protocols.callpad import PadPong
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing
from hall_controller.protocols.rating_pad import SCALE, RatingKey, RatingPadCodec

# 4 keys: 55 AA | addr | cmd | len | data | xor8 (address..data), no tail. The profile maps
# 非常满意 / 满意 / 基本满意 / 不满意 onto 5, 4, 3 and 1 (the pad has no "2" key).
FOUR_KEYS = RatingPadCodec(
    framing=Framing(header=b"\x55\xaa", checksum="xor8"),
    key_command=0x10,
    scores={0x01: 5, 0x02: 4, 0x03: 3, 0x04: 1},
    ask_command=0x20,
    thanks_command=0x21,
    idle_command=0x22,
    ping_command=0x30,
    pong_command=0x31,
)
# 5 keys, one per level: FF 68 | addr | cmd | len | data | sum8 | 16.
FIVE_KEYS = RatingPadCodec(
    framing=Framing(header=b"\xff\x68", tail=b"\x16"),
    key_command=0x0A,
    scores={0x01: 5, 0x02: 4, 0x03: 3, 0x04: 2, 0x05: 1},
    ask_command=0x0B,
    thanks_command=0x0C,
    idle_command=0x0D,
    ping_command=0x05,
    pong_command=0x06,
)
PADS = [FOUR_KEYS, FIVE_KEYS]


def _controller_side(codec: RatingPadCodec, wire: bytes) -> list[RatingKey | PadPong | None]:
    return [rating_pad.parse(codec, f) for f in FrameDecoder(codec.framing).feed(wire)]


def _pad_side(codec: RatingPadCodec, wire: bytes) -> list[str | None]:
    return [rating_pad.parse_prompt(codec, f) for f in FrameDecoder(codec.framing).feed(wire)]


def test_the_scale_is_the_national_five_levels() -> None:
    assert sorted(SCALE) == [1, 2, 3, 4, 5]
    assert SCALE[5] == "非常满意"
    assert SCALE[1] == "非常不满意"


def test_recorded_four_key_presses() -> None:
    wire = (
        bytes.fromhex("55 AA0510010216")  # address 5, key, len 1, key 02, xor8
        + bytes.fromhex("55 AA0510010410")  # address 5, key 04 (不满意), xor8
        + bytes.fromhex("55 AA05310034")  # address 5, pong, len 0, xor8
    )
    assert _controller_side(FOUR_KEYS, wire) == [RatingKey(5, 4), RatingKey(5, 1), PadPong(5)]


def test_recorded_five_key_press() -> None:
    wire = bytes.fromhex("FF 68020A01051216")
    # header, address 2, key, len 1, key 05, sum8, tail
    assert _controller_side(FIVE_KEYS, wire) == [RatingKey(2, 1)]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (rating_pad.ask(FOUR_KEYS, 5), bytes.fromhex("55 AA05200025")),
        # header, address 5, ask, len 0, xor8
        (rating_pad.thanks(FOUR_KEYS, 5), bytes.fromhex("55 AA05210024")),
        # header, address 5, thanks, len 0, xor8
        (rating_pad.idle(FOUR_KEYS, 5), bytes.fromhex("55 AA05220027")),
        # header, address 5, idle, len 0, xor8
        (rating_pad.ping(FOUR_KEYS, 5), bytes.fromhex("55 AA05300035")),
        # header, address 5, ping, len 0, xor8
        (rating_pad.ask(FIVE_KEYS, 2), bytes.fromhex("FF 68020B000D16")),
        # header, address 2, ask, len 0, sum8, tail
        (rating_pad.key_frame(FIVE_KEYS, 2, 0x05), bytes.fromhex("FF 68 02 0A 01 05 12 16")),
        # header, address 2, key, len 1, key 05, sum8, tail
        (rating_pad.pong_frame(FOUR_KEYS, 5), bytes.fromhex("55 AA05310034")),
        # header, address 5, pong, len 0, xor8
    ],
)
def test_recorded_frames_to_and_from_the_pad(wire: bytes, expected: bytes) -> None:
    assert wire == expected


@pytest.mark.parametrize("codec", PADS)
def test_the_pad_reads_its_prompts(codec: RatingPadCodec) -> None:
    wire = (
        rating_pad.ask(codec, 1)
        + rating_pad.thanks(codec, 1)
        + rating_pad.idle(codec, 1)
        + rating_pad.ping(codec, 1)
        + rating_pad.key_frame(codec, 1, 0x01)
    )
    assert _pad_side(codec, wire) == ["ask", "thanks", "idle", "ping", None]


@pytest.mark.parametrize("codec", PADS)
def test_every_key_gives_its_profile_score(codec: RatingPadCodec) -> None:
    wire = b"".join(rating_pad.key_frame(codec, 9, code) for code in codec.scores)
    assert _controller_side(codec, wire) == [RatingKey(9, s) for s in codec.scores.values()]


def test_unknown_keys_and_commands_are_ignored() -> None:
    assert rating_pad.parse(FOUR_KEYS, Frame(1, 0x10, b"\x05")) is None  # no 5th key
    assert rating_pad.parse(FOUR_KEYS, Frame(1, 0x10, b"")) is None
    assert rating_pad.parse(FOUR_KEYS, Frame(1, 0x10, b"\x01\x02")) is None
    assert rating_pad.parse(FOUR_KEYS, Frame(1, 0x77, b"\x01")) is None


def test_a_profile_score_outside_the_scale_is_never_reported() -> None:
    odd = dataclasses.replace(FOUR_KEYS, scores={0x01: 7})
    assert rating_pad.parse(odd, Frame(1, 0x10, b"\x01")) is None
    assert any("means 7" in p for p in odd.validate())


def test_pad_settings() -> None:
    assert FOUR_KEYS.validate() == []
    assert FIVE_KEYS.validate() == []
    problems = dataclasses.replace(FIVE_KEYS, scores={}, idle_command=0x0B).validate()
    assert "no key gives a score" in problems
    assert "idle_command and ask_command are the same command 0x0B" in problems


@given(st.sampled_from(PADS), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=8))
def test_both_sides_never_raise_on_any_frame(
    codec: RatingPadCodec, address: int, command: int, payload: bytes
) -> None:
    frame = Frame(address, command, payload)
    said = rating_pad.parse(codec, frame)
    assert said is None or isinstance(said, RatingKey | PadPong)
    if isinstance(said, RatingKey):
        assert said.score in SCALE
    assert rating_pad.parse_prompt(codec, frame) in (None, "ask", "thanks", "idle", "ping")
