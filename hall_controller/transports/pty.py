"""Real PTY pairs for tests and simulators: the controller opens the tty, the device the master."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from types import TracebackType

from .base import ByteLink, LinkState
from .errors import LinkDown, LinkTimeout

_READ_SIZE = 4096


class PtyLink(ByteLink):
    """The simulated device's end of a PtyPair (the master side), read and written on the loop."""

    def __init__(self, pair: PtyPair) -> None:
        self._pair = pair
        self.name = f"{pair.name} (device side)"
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None

    @property
    def state(self) -> LinkState:
        """UP while the pair is plugged in and this end is not closed."""
        return LinkState.UP if self._pair.plugged and not self._closed else LinkState.DOWN

    async def open(self, timeout: float) -> None:
        """Use this end again after close(); LinkDown if the pair is unplugged."""
        if not self._pair.plugged:
            raise LinkDown(f"{self.name}: unplugged")
        self._closed = False

    def _fd(self) -> int:
        fd = self._pair._master
        if fd is None:
            raise LinkDown(f"{self.name}: unplugged")
        if self._closed:
            raise LinkDown(f"{self.name}: closed")
        return fd

    async def read(self, timeout: float) -> bytes:
        """What the controller has written (>= 1 byte); LinkTimeout if nothing came in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            fd = self._fd()
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise LinkDown(f"{self.name}: read failed ({exc})") from exc
            else:
                if not data:
                    raise LinkDown(f"{self.name}: end of file")
                return data
            if loop.time() >= deadline:
                raise LinkTimeout(f"{self.name}: nothing received in {timeout:g} s")
            await self._wait(fd, deadline, for_write=False)

    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of data; LinkTimeout if the controller side does not take it in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rest = memoryview(data)
        while rest:
            fd = self._fd()
            try:
                rest = rest[os.write(fd, rest) :]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise LinkDown(f"{self.name}: write failed ({exc})") from exc
            if loop.time() >= deadline:
                raise LinkTimeout(f"{self.name}: write did not finish in {timeout:g} s")
            await self._wait(fd, deadline, for_write=True)

    async def _wait(self, fd: int, deadline: float, *, for_write: bool) -> None:
        """Until fd is ready, the pair is unplugged, or the deadline passes."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiter: asyncio.Future[None] = loop.create_future()
        if for_write:
            self._write_waiter = waiter
            loop.add_writer(fd, _wake, waiter)
        else:
            self._read_waiter = waiter
            loop.add_reader(fd, _wake, waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except TimeoutError:
            pass  # the caller tries once more, then reports the timeout
        finally:
            self._forget(fd, for_write=for_write)

    def _forget(self, fd: int, *, for_write: bool) -> None:
        loop = self._loop
        if for_write and self._write_waiter is not None:
            self._write_waiter = None
            if loop is not None:
                loop.remove_writer(fd)
        if not for_write and self._read_waiter is not None:
            self._read_waiter = None
            if loop is not None:
                loop.remove_reader(fd)

    def _detach(self, fd: int) -> None:
        """Before fd closes: drop its loop watchers and wake whoever waits on it."""
        for waiter in (self._read_waiter, self._write_waiter):
            if waiter is not None:
                _wake(waiter)
        self._forget(fd, for_write=False)
        self._forget(fd, for_write=True)

    async def close(self) -> None:
        """Stop using this end; the pair stays plugged in (PtyPair.unplug pulls it)."""
        self._closed = True
        fd = self._pair._master
        if fd is not None:
            self._detach(fd)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class PtyPair:
    """A pseudo-terminal standing in for a serial device: open(), unplug(), replug()."""

    def __init__(
        self, link_path: str | os.PathLike[str] | None = None, *, name: str = "pty"
    ) -> None:
        self.name = name
        self.link_path = Path(link_path) if link_path is not None else None
        self.device_path = ""  # the tty the controller opens, e.g. /dev/pts/5
        self._master: int | None = None
        self._slave: int | None = None
        self.link = PtyLink(self)

    @property
    def plugged(self) -> bool:
        """True between open() and unplug()."""
        return self._master is not None

    def open(self) -> PtyPair:
        """Create the pair (both ends raw) and point link_path at it; does nothing if open."""
        if self._master is not None:
            return self
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            device_path = os.ttyname(slave)
            if self.link_path is not None:
                staging = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}")
                with contextlib.suppress(FileNotFoundError):
                    staging.unlink()
                staging.symlink_to(device_path)
                staging.replace(self.link_path)
        except OSError:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        self.device_path = device_path
        return self

    def unplug(self) -> None:
        """Close the pair and remove link_path: the controller's open port sees EIO or EOF."""
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is not None:
            self.link._detach(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        if self.link_path is not None and self.link_path.is_symlink():
            self.link_path.unlink()

    def replug(self) -> PtyPair:
        """A fresh pair (a new tty path) with link_path moved to it."""
        self.unplug()
        return self.open()

    def close(self) -> None:
        """Same as unplug(); calling it again does nothing."""
        self.unplug()

    def __enter__(self) -> PtyPair:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
