"""One task owns each serial port or RS-485 bus; every device on it is an addressed endpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

from hall_controller.devices.errors import DeviceLost
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkDown, LinkTimeout, TransportError

# Writes waiting for a slow or stuck bus; beyond this the oldest are dropped (and counted):
# a display only needs the latest state, and a snapshot follows every reconnect.
_QUEUE_LIMIT = 64
_READ_SLICE_S = 1.0


class Endpoint(Protocol):
    """A device on a bus: it hears every byte (its decoder keeps its own frames) and can send."""

    def feed(self, data: bytes) -> None:
        """Bytes that arrived on the bus."""
        ...

    def link_up(self) -> None:
        """The bus is open: send the full snapshot of what the device should show."""
        ...

    def link_down(self, reason: str) -> None:
        """The bus is gone."""
        ...

    def dropped(self, frame: bytes) -> None:
        """A frame for this device was dropped before it reached the bus."""
        ...

    def idle(self) -> None:
        """The line has been quiet for a while: give up on any partial frame."""
        ...

    def failed(self, exc: Exception) -> None:
        """Handling bytes raised: count it; the bus and the other devices go on."""
        ...


class SerialBus:
    """The link of one port and the endpoints on it; a Supervisor drives connect/serve."""

    def __init__(
        self,
        name: str,
        make_link: Callable[[], ByteLink],
        present: Callable[[], bool],
        *,
        open_timeout_s: float,
        write_timeout_s: float,
        gap_s: float = 0.0,
    ) -> None:
        self.name = name
        self._make_link = make_link
        self._present = present
        self._open_timeout_s = open_timeout_s
        self._write_timeout_s = write_timeout_s
        # Quiet time between frames on a shared RS-485 line, so each device sees its frame end.
        self._gap_s = gap_s
        self.endpoints: list[Endpoint] = []
        self._link: ByteLink | None = None
        self._queue: asyncio.Queue[tuple[Endpoint, bytes]] = asyncio.Queue()
        self.is_up = False

    def attach(self, endpoint: Endpoint) -> None:
        """Add a device to this bus."""
        self.endpoints.append(endpoint)

    def send(self, endpoint: Endpoint, frame: bytes) -> None:
        """Queue one frame for the bus; never waits. Dropped (and counted) while the bus is down."""
        if not self.is_up:
            endpoint.dropped(frame)
            return
        if self._queue.qsize() >= _QUEUE_LIMIT:
            old_endpoint, old = self._queue.get_nowait()
            old_endpoint.dropped(old)
        self._queue.put_nowait((endpoint, frame))

    def present(self) -> bool:
        """Whether the port is there (a USB serial adapter plugged in, a PTY open)."""
        return self._present()

    async def connect(self) -> None:
        """Open the port within the profile's open timeout."""
        link = self._make_link()
        try:
            await link.open(self._open_timeout_s)
        except TransportError as exc:
            await link.close()
            raise DeviceLost(str(exc)) from exc
        self._link = link
        self._queue = asyncio.Queue()
        self.is_up = True
        for endpoint in self.endpoints:
            endpoint.link_up()

    async def serve(self) -> None:
        """Read and write until the port fails."""
        link = self._link
        assert link is not None
        reader = asyncio.create_task(self._read(link), name=f"bus-read:{self.name}")
        writer = asyncio.create_task(self._write(link), name=f"bus-write:{self.name}")
        tasks: Sequence[asyncio.Task[None]] = (reader, writer)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises DeviceLost
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, DeviceLost):
                    await task

    async def disconnect(self) -> None:
        """Close the port and tell every endpoint."""
        was_up, self.is_up = self.is_up, False
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        while not self._queue.empty():
            endpoint, frame = self._queue.get_nowait()
            endpoint.dropped(frame)
        if was_up:
            for endpoint in self.endpoints:
                endpoint.link_down(f"{self.name} is gone")

    async def _read(self, link: ByteLink) -> None:
        while True:
            try:
                data = await link.read(_READ_SLICE_S)
            except LinkTimeout:
                for endpoint in self.endpoints:
                    self._guarded(endpoint, endpoint.idle)
                continue
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc
            for endpoint in self.endpoints:
                self._guarded(endpoint, endpoint.feed, data)

    @staticmethod
    def _guarded(endpoint: Endpoint, call: Callable[..., None], *args: bytes) -> None:
        # One device's bad frame or bug must not take the bus (and its neighbours) down.
        try:
            call(*args)
        except Exception as exc:
            endpoint.failed(exc)

    async def _write(self, link: ByteLink) -> None:
        while True:
            endpoint, frame = await self._queue.get()
            try:
                await link.write(frame, self._write_timeout_s)
            except LinkTimeout:
                # A stuck write is dropped; the display gets the next state (or a snapshot).
                endpoint.dropped(frame)
                continue
            except (LinkDown, TransportError) as exc:
                endpoint.dropped(frame)
                raise DeviceLost(str(exc)) from exc
            if self._gap_s:
                await asyncio.sleep(self._gap_s)
