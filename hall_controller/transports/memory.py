"""In-process byte links for tests and simulators: a wire with optional chunking, delay and loss."""

from __future__ import annotations

import asyncio
from collections import deque

from .base import ByteLink, LinkState
from .errors import LinkDown, LinkTimeout


class _Wire:
    """One direction of a pair: pieces in write order, each with the loop time it arrives."""

    def __init__(self) -> None:
        self.pieces: deque[tuple[float, bytes]] = deque()
        self.last_arrival = 0.0
        self.changed = asyncio.Event()

    def clear(self) -> None:
        self.pieces.clear()
        self.changed.set()


class _Pair:
    """What both ends share: how the wire behaves and whether it is plugged in."""

    def __init__(self, chunk: int | None, delay_s: float, drop_every: int | None) -> None:
        if chunk is not None and chunk < 1:
            raise ValueError("chunk must be at least 1 byte")
        if delay_s < 0:
            raise ValueError("delay_s must not be negative")
        if drop_every is not None and drop_every < 1:
            raise ValueError("drop_every must be at least 1")
        self.chunk = chunk
        self.delay_s = delay_s
        self.drop_every = drop_every
        self.unplugged = False
        self.links: list[MemoryLink] = []


class MemoryLink(ByteLink):
    """One end of a memory pair; bytes written here are read at the other end, in order."""

    def __init__(
        self, name: str, pair: _Pair, inbound: _Wire, outbound: _Wire, *, lossy: bool
    ) -> None:
        self.name = name
        self._pair = pair
        self._inbound = inbound
        self._outbound = outbound
        self._lossy = lossy
        self._open = False
        self._writes = 0
        self.dropped = 0  # writes this end lost on purpose (drop_every)

    @property
    def state(self) -> LinkState:
        """UP once opened, until closed or unplugged."""
        return LinkState.UP if self._open and not self._pair.unplugged else LinkState.DOWN

    async def open(self, timeout: float) -> None:
        """Open this end; LinkDown while the pair is unplugged."""
        if self._pair.unplugged:
            raise LinkDown(f"{self.name}: unplugged")
        self._open = True

    def _check(self) -> None:
        if self._pair.unplugged:
            raise LinkDown(f"{self.name}: unplugged")
        if not self._open:
            raise LinkDown(f"{self.name}: not open")

    async def read(self, timeout: float) -> bytes:
        """What has arrived (one chunk when the pair chunks); LinkTimeout if nothing in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wire = self._inbound
        while True:
            self._check()
            now = loop.time()
            if wire.pieces and wire.pieces[0][0] <= now:
                return self._take(now)
            if now >= deadline:
                raise LinkTimeout(f"{self.name}: nothing received in {timeout:g} s")
            wake = min(deadline, wire.pieces[0][0]) if wire.pieces else deadline
            wire.changed.clear()
            try:
                async with asyncio.timeout_at(wake):
                    await wire.changed.wait()
            except TimeoutError:
                pass

    def _take(self, now: float) -> bytes:
        pieces = self._inbound.pieces
        if self._pair.chunk is not None:
            return pieces.popleft()[1]
        data = bytearray()
        while pieces and pieces[0][0] <= now:
            data += pieces.popleft()[1]
        return bytes(data)

    async def write(self, data: bytes, timeout: float) -> None:
        """Put data on the wire (never blocks); the first end drops every drop_every-th write."""
        self._check()
        if not data:
            return
        pair = self._pair
        self._writes += 1
        if self._lossy and pair.drop_every is not None and self._writes % pair.drop_every == 0:
            self.dropped += 1
            return
        wire = self._outbound
        now = asyncio.get_running_loop().time()
        size = pair.chunk or len(data)
        for start in range(0, len(data), size):
            # Each piece arrives delay_s after the previous one (or after the write, if later):
            # a slow line, never a reordering one.
            arrival = max(now, wire.last_arrival) + pair.delay_s if pair.delay_s else now
            wire.last_arrival = arrival
            wire.pieces.append((arrival, data[start : start + size]))
        wire.changed.set()

    async def close(self) -> None:
        """Close this end; calling it again does nothing. Bytes already on the wire stay there."""
        self._open = False
        self._inbound.changed.set()

    def unplug(self) -> None:
        """Pull the cable: both ends raise LinkDown and what was on the wire is lost."""
        pair = self._pair
        pair.unplugged = True
        for link in pair.links:
            link._open = False
            link._inbound.clear()

    def replug(self) -> None:
        """Plug the cable back in; each end must be opened again."""
        self._pair.unplugged = False


def memory_pair(
    *,
    chunk: int | None = None,
    delay_s: float = 0.0,
    drop_every: int | None = None,
    name: str = "memory",
) -> tuple[MemoryLink, MemoryLink]:
    """Two connected ends: chunk=n splits every write into reads of at most n bytes; each piece
    arrives delay_s after the previous one; drop_every=n loses every n-th write of the first end.
    """
    pair = _Pair(chunk, delay_s, drop_every)
    a_to_b, b_to_a = _Wire(), _Wire()
    first = MemoryLink(f"{name}-a", pair, b_to_a, a_to_b, lossy=True)
    second = MemoryLink(f"{name}-b", pair, a_to_b, b_to_a, lossy=False)
    pair.links = [first, second]
    return first, second
