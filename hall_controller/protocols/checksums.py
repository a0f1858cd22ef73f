"""Checksums that serial device frames end with, by the names device profiles use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


def sum8(data: bytes) -> int:
    """The sum of the bytes, modulo 256."""
    return sum(data) & 0xFF


def xor8(data: bytes) -> int:
    """All bytes XORed together."""
    result = 0
    for byte in data:
        result ^= byte
    return result


def _crc16_modbus_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC16_MODBUS_TABLE = _crc16_modbus_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/Modbus: reflected polynomial 0xA001, initial value 0xFFFF (sent little-endian)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC16_MODBUS_TABLE[(crc ^ byte) & 0xFF]
    return crc


def _no_checksum(data: bytes) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class Checksum:
    """A named checksum: how many bytes it takes in a frame and in which byte order."""

    name: str
    size: int
    compute: Callable[[bytes], int]
    little_endian: bool

    def to_bytes(self, data: bytes) -> bytes:
        """The checksum of `data` as it is written into a frame."""
        return self.compute(data).to_bytes(self.size, "little" if self.little_endian else "big")


CHECKSUMS: Mapping[str, Checksum] = MappingProxyType(
    {
        "none": Checksum("none", 0, _no_checksum, little_endian=False),
        "sum8": Checksum("sum8", 1, sum8, little_endian=False),
        "xor8": Checksum("xor8", 1, xor8, little_endian=False),
        "crc16_modbus": Checksum("crc16_modbus", 2, crc16_modbus, little_endian=True),
    }
)
