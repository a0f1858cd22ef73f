"""Link state and the byte-link contract shared by serial, PTY and in-memory transports."""

from __future__ import annotations

import enum
from typing import Protocol


class LinkState(enum.Enum):
    """Whether a link can carry data right now."""

    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"


class ByteLink(Protocol):
    """A bidirectional byte pipe to one device."""

    name: str

    @property
    def state(self) -> LinkState:
        """Current link state."""
        ...

    async def open(self, timeout: float) -> None:
        """Open the link; raises LinkDown or LinkTimeout."""
        ...

    async def read(self, timeout: float) -> bytes:
        """Some bytes (never b""); LinkTimeout if none in time, LinkDown if unplugged or at EOF."""
        ...

    async def write(self, data: bytes, timeout: float) -> None:
        """Send all of data; raises LinkDown or LinkTimeout."""
        ...

    async def close(self) -> None:
        """Close the link; calling it again does nothing."""
        ...
