"""Checksums against published check values and real frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols.checksums import CHECKSUMS, crc16_modbus, sum8, xor8


def test_crc16_modbus_check_value() -> None:
    """The catalogue check value of CRC-16/MODBUS over the ASCII digits 1..9."""
    assert crc16_modbus(b"123456789") == 0x4B37


def test_crc16_modbus_of_a_real_read_holding_registers_request() -> None:
    request = bytes.fromhex("01030000000A")  # slave 1, read holding, start 0, count 10
    assert CHECKSUMS["crc16_modbus"].to_bytes(request) == bytes.fromhex("C5 CD")  # CRC, low first


def test_crc16_modbus_of_a_frame_and_its_crc_is_zero() -> None:
    """Appending the little-endian CRC makes the residue zero, as Modbus receivers check it."""
    frame = bytes.fromhex("01 06 0001 0003")  # slave 1, write register 1 = 3
    assert crc16_modbus(frame + CHECKSUMS["crc16_modbus"].to_bytes(frame)) == 0


def test_sum8_and_xor8() -> None:
    assert sum8(bytes.fromhex("01 01 01 01")) == 0x04
    assert sum8(bytes.fromhex("FF 02")) == 0x01  # carries are dropped
    assert xor8(bytes.fromhex("01 02 04 07")) == 0x00
    assert xor8(bytes.fromhex("A5 0F")) == 0xAA
    assert sum8(b"") == xor8(b"") == 0


@pytest.mark.parametrize(
    ("name", "size", "data", "expected"),
    [
        ("none", 0, b"\x01\x02", b""),
        ("sum8", 1, b"\x01\x02", b"\x03"),
        ("xor8", 1, b"\x01\x02", b"\x03"),
        ("crc16_modbus", 2, b"123456789", b"\x37\x4b"),
    ],
)
def test_each_checksum_writes_its_size_in_its_byte_order(
    name: str, size: int, data: bytes, expected: bytes
) -> None:
    checksum = CHECKSUMS[name]
    assert checksum.name == name
    assert checksum.size == size
    assert checksum.to_bytes(data) == expected


@given(st.binary(max_size=300))
def test_checksums_fit_their_size(data: bytes) -> None:
    for checksum in CHECKSUMS.values():
        assert 0 <= checksum.compute(data) < 256**checksum.size or checksum.size == 0
        assert len(checksum.to_bytes(data)) == checksum.size


@given(st.binary(min_size=1, max_size=64), st.integers(0, 7))
def test_crc16_modbus_sees_every_single_bit_flip(data: bytes, bit: int) -> None:
    flipped = bytes([data[0] ^ (1 << bit)]) + data[1:]
    assert crc16_modbus(flipped) != crc16_modbus(data)
