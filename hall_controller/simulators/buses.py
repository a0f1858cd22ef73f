"""The device side of one simulated port: peers hear the controller's bytes and answer over it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog

from hall_controller.simulators.peers import BusPeer
from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout, TransportError

log = structlog.get_logger("hall_controller.simulators")

# A line quiet this long ends any partial frame (Modbus RTU's 3.5 characters, generously).
QUIET_S = 0.05
# While the port is unplugged, look for it again this often.
REPLUG_POLL_S = 0.1
# Bytes waiting for a stuck port; beyond this the oldest are dropped (and counted).
_QUEUE_LIMIT = 256


class SimulatedBus:
    """Owns the device side of one port (a PTY master or a memory link) and its peers.

    Every peer hears every byte the controller writes (several addressed peers may share one
    RS-485 line); their answers and key presses are written back in order by one writer. While
    the port is unplugged the bus waits for it to come back; what it could not write is counted.
    """

    def __init__(
        self,
        link: ByteLink,
        peers: Sequence[BusPeer],
        *,
        name: str | None = None,
        open_timeout_s: float = 1.0,
        write_timeout_s: float = 1.0,
        quiet_s: float = QUIET_S,
    ) -> None:
        self.link = link
        self.peers = list(peers)
        self.name = name or link.name
        self.open_timeout_s = open_timeout_s
        self.write_timeout_s = write_timeout_s
        self.quiet_s = quiet_s
        self.received = 0  # bytes from the controller
        self.written = 0  # bytes to the controller
        self.dropped = 0  # writes lost: port unplugged, stuck, or queue full
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._running

    async def start(self) -> None:
        """Open the device side and start reading and writing; LinkDown/LinkTimeout if it fails."""
        if self._running:
            return
        await self.link.open(self.open_timeout_s)
        self._running = True
        self._spawn(self._read(), f"sim-bus-read:{self.name}")
        self._spawn(self._write(), f"sim-bus-write:{self.name}")

    async def stop(self) -> None:
        """Cancel and await every task of the bus, then close the device side."""
        self._running = False
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        await self.link.close()

    def send(self, data: bytes) -> None:
        """Queue bytes for the controller (a key frame, an answer); never waits."""
        if not data:
            return
        if not self._running:
            self.dropped += 1
            return
        if self._queue.qsize() >= _QUEUE_LIMIT:
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
        self._queue.put_nowait(data)

    def send_repeated(self, frames: Sequence[bytes], every_s: float) -> asyncio.Task[None]:
        """Send `frames` one every `every_s` (a held key); the task is the bus's, cut by stop()."""
        return self._spawn(self._repeat(list(frames), every_s), f"sim-bus-hold:{self.name}")

    async def drain(self, timeout: float) -> None:
        """Wait until everything queued so far has been written (or dropped); TimeoutError."""
        async with asyncio.timeout(timeout):
            await self._queue.join()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)

    async def _repeat(self, frames: list[bytes], every_s: float) -> None:
        for i, frame in enumerate(frames):
            if i:
                await asyncio.sleep(every_s)
            self.send(frame)
        await self.drain(self.write_timeout_s * (1 + len(frames)))

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        pending = False  # bytes came since the line was last quiet
        while True:
            try:
                data = await self.link.read(self.quiet_s)
            except LinkTimeout:
                if pending:
                    pending = False
                    self._answer(None, loop.time())
                continue
            except TransportError:
                pending = False
                await self._wait_for_port()
                continue
            pending = True
            self.received += len(data)
            self._answer(data, loop.time())

    def _answer(self, data: bytes | None, at: float) -> None:
        """Every peer hears `data` (None: the line went quiet) and its answer is queued."""
        for peer in self.peers:
            try:
                reply = peer.line_quiet(at) if data is None else peer.feed(data, at)
            except Exception:
                # A peer must never stop the whole line; its bug is logged.
                log.exception("simulated_peer_failed", bus=self.name, address=peer.address)
                continue
            self.send(reply)

    async def _wait_for_port(self) -> None:
        """The port is unplugged: wait until it can be opened again."""
        while True:
            await asyncio.sleep(REPLUG_POLL_S)
            if self.link.state is LinkState.UP:
                return
            with contextlib.suppress(TransportError):
                await self.link.open(self.open_timeout_s)
                return

    async def _write(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self.link.write(data, self.write_timeout_s)
                self.written += len(data)
            except (LinkDown, LinkTimeout, TransportError):
                self.dropped += 1
            finally:
                self._queue.task_done()
