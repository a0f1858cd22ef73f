"""433 MHz receivers (FD xx xx xx DF at 9600 baud), held keys, and binding remotes to windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols.rf433 import (
    HeldKeyFilter,
    RemoteBindings,
    RemoteCode,
    Rf433Decoder,
    Rf433Layout,
    code_frame,
)

# EV1527-style remotes: 20-bit remote id, 4 key bits (one per key), as a profile would set it.
LAYOUT = Rf433Layout(key_bits=4, keys={0x1: "call", 0x2: "recall", 0x4: "no_show", 0x8: "pause"})


def test_recorded_code() -> None:
    wire = bytes.fromhex("FD12 34 51DF")  # header, remote 0x12345 with key bit 1, tail
    decoder = Rf433Decoder()
    assert decoder.feed(wire) == [RemoteCode(0x123451)]
    assert decoder.errors == 0
    assert code_frame(0x123451) == wire
    assert LAYOUT.split(0x123451) == (0x12345, "call")
    assert LAYOUT.split(0x123458) == (0x12345, "pause")
    assert LAYOUT.split(0x123453) == (0x12345, None)  # two keys at once: not mapped


def test_code_bytes_may_look_like_header_and_tail() -> None:
    wire = bytes.fromhex("FDFD DF FDDF") + bytes.fromhex("FDDF DF DFDF")
    assert Rf433Decoder().feed(wire) == [RemoteCode(0xFDDFFD), RemoteCode(0xDFDFDF)]


def test_a_held_key_repeats_its_frame() -> None:
    wire = bytes.fromhex("FD 12 34 51 DF") * 3
    decoder = Rf433Decoder()
    assert decoder.feed(wire) == [RemoteCode(0x123451)] * 3


def test_noise_between_codes_is_skipped_and_counted_once_per_run() -> None:
    decoder = Rf433Decoder()
    wire = b"\x00\x17" + code_frame(1) + b"\xaa\xbb\xcc" + code_frame(2)
    assert decoder.feed(wire) == [RemoteCode(1), RemoteCode(2)]
    assert decoder.errors == 2


def test_bad_tail_resyncs_on_the_next_header() -> None:
    decoder = Rf433Decoder()
    broken = bytes.fromhex("FD 12 34 51 00")  # tail should be DF
    assert decoder.feed(broken + code_frame(7)) == [RemoteCode(7)]
    assert decoder.errors == 1


def test_truncated_code_yields_nothing() -> None:
    decoder = Rf433Decoder()
    assert decoder.feed(code_frame(5)[:4]) == []
    assert decoder.pending == 4
    assert decoder.errors == 0


def test_code_frame_refuses_more_than_24_bits() -> None:
    with pytest.raises(ValueError, match="does not fit 24 bits"):
        code_frame(1 << 24)


def test_layout_settings() -> None:
    assert LAYOUT.validate() == []
    assert Rf433Layout(key_bits=0, keys={}).validate() == [
        "key_bits is 0: it must be 1..23 of the 24-bit code"
    ]
    assert Rf433Layout(key_bits=2, keys={4: "call"}).validate() == [
        "key code 4 does not fit 2 bits"
    ]


@given(st.lists(st.integers(0, 0xFFFFFF), max_size=8), st.data())
def test_codes_round_trip_through_any_split(codes: list[int], data: st.DataObject) -> None:
    wire = b"".join(code_frame(c) for c in codes)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder = Rf433Decoder()
    found = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        found += decoder.feed(wire[start:end])
    assert found == [RemoteCode(c) for c in codes]
    assert decoder.errors == 0


@given(st.lists(st.integers(0, 0xFFFFFF), min_size=1, max_size=5), st.data())
def test_noise_without_a_header_byte_never_hides_a_code(
    codes: list[int], data: st.DataObject
) -> None:
    noise = st.binary(max_size=10).map(lambda b: b.replace(b"\xfd", b""))
    wire = data.draw(noise) + b"".join(code_frame(c) + data.draw(noise) for c in codes)
    decoder = Rf433Decoder()
    found = [f for i in range(len(wire)) for f in decoder.feed(wire[i : i + 1])]
    assert found == [RemoteCode(c) for c in codes]


@given(st.lists(st.binary(max_size=40), max_size=10))
def test_arbitrary_bytes_never_raise_and_hold_at_most_a_frame(chunks: list[bytes]) -> None:
    decoder = Rf433Decoder()
    errors = 0
    for chunk in chunks:
        for code in decoder.feed(chunk):
            assert 0 <= code.code <= 0xFFFFFF
        assert decoder.pending < 5
        assert decoder.errors >= errors
        errors = decoder.errors


# --- held keys -----------------------------------------------------------------------------


def test_a_key_held_for_two_seconds_is_one_press() -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    held = [keys.accept(0x123451, at=10.0 + 0.1 * i) for i in range(21)]  # 2 s of repeats
    assert held == [True] + [False] * 20


def test_pressed_again_after_release_is_another_press() -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    assert keys.accept(0x123451, at=10.0)
    assert not keys.accept(0x123451, at=10.1)
    assert keys.accept(0x123451, at=10.6)  # released for 0.5 s


def test_two_codes_interleaved_are_independent() -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    accepted = []
    for i in range(20):
        at = 10.0 + 0.05 * i
        accepted.append(
            (0xAAAAA1 if i % 2 else 0xBBBBB1, keys.accept(0xAAAAA1 if i % 2 else 0xBBBBB1, at))
        )
    assert [code for code, new in accepted if new] == [0xBBBBB1, 0xAAAAA1]


def test_a_clock_step_back_is_a_repeat_not_a_press() -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    assert keys.accept(1, at=100.0)
    assert not keys.accept(1, at=50.0)
    assert keys.accept(1, at=50.5)


def test_many_codes_do_not_grow_the_filter_without_bound() -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    for i in range(10_000):
        assert keys.accept(i, at=float(i))
    assert len(keys._last_seen) <= 65


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0.0, 1.0)), max_size=40))
def test_presses_are_frames_at_least_release_after_the_previous_one(
    frames: list[tuple[int, float]],
) -> None:
    keys = HeldKeyFilter(release_after_s=0.3)
    now = 0.0
    last: dict[int, float] = {}
    for code, gap in frames:
        now += gap
        expected = code not in last or now - last[code] >= 0.3
        assert keys.accept(code, at=now) == expected
        last[code] = now


# --- binding remotes to windows ------------------------------------------------------------


def test_learning_binds_the_next_unknown_remote() -> None:
    bindings = RemoteBindings({0x12345: "1"})
    assert bindings.window_for(0x54321) is None  # unknown and not learning: ignored
    bindings.learn("3")
    assert bindings.window_for(0x54321) == "3"
    assert bindings.learning is None  # learning ends with the first binding
    assert bindings.window_for(0x54321) == "3"
    assert bindings.as_dict() == {0x12345: "1", 0x54321: "3"}


def test_a_known_remote_pressed_while_learning_keeps_its_window() -> None:
    bindings = RemoteBindings({0x12345: "1"})
    bindings.learn("3")
    assert bindings.window_for(0x12345) == "1"
    assert bindings.learning == "3"  # still waiting for an unknown remote
    assert bindings.window_for(0x99999) == "3"


def test_learning_can_be_cancelled_and_remotes_forgotten() -> None:
    bindings = RemoteBindings()
    bindings.learn("2")
    bindings.cancel_learning()
    assert bindings.window_for(0x11111) is None
    assert bindings.as_dict() == {}
    bindings = RemoteBindings({0x11111: "2"})
    bindings.forget(0x11111)
    bindings.forget(0x22222)
    assert bindings.window_for(0x11111) is None


def test_bindings_are_copied_in_and_out() -> None:
    given_bindings = {1: "1"}
    bindings = RemoteBindings(given_bindings)
    bindings.learn("2")
    bindings.window_for(2)
    assert given_bindings == {1: "1"}
    snapshot = bindings.as_dict()
    snapshot[3] = "9"
    assert bindings.window_for(3) is None
