"""Raw TCP byte links: a network printer's port 9100 (tcp://host:port), on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse

from .base import ByteLink, LinkState
from .errors import LinkDown, LinkTimeout

RAW_PRINT_PORT = 9100  # the "JetDirect" raw port every network receipt printer listens on
_READ_SIZE = 4096
# close() gives the connection this long to say goodbye; a dead peer must not stall a shutdown.
_CLOSE_GRACE_S = 1.0
# A pulled cable is noticed by keepalive probes: idle 10 s, then 3 probes 5 s apart.
_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))


def parse_tcp_url(url: str, default_port: int = RAW_PRINT_PORT) -> tuple[str, int]:
    """(host, port) of "tcp://host[:port]"; ValueError for anything else."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "tcp" or not parts.hostname:
        raise ValueError(f"{url}: expected tcp://host:port, e.g. tcp://192.168.10.31:9100")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url}: expected only a host and a port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url}: bad port ({exc})") from None
    return parts.hostname, port if port is not None else default_port


class TcpLink(ByteLink):
    """One TCP connection to a device (tcp://host:port); each open() connects afresh."""

    def __init__(self, url: str, *, name: str | None = None) -> None:
        self.host, self.port = parse_tcp_url(url)
        self.url = url
        self.name = name or url
        self._label = url if self.name == url else f"{self.name} ({url})"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lost: str | None = None
        self._connecting = False

    @property
    def state(self) -> LinkState:
        """UP while connected and the other end has not hung up."""
        if self._connecting:
            return LinkState.CONNECTING
        if self._writer is None or self._lost is not None:
            return LinkState.DOWN
        return LinkState.UP

    async def open(self, timeout: float) -> None:
        """Connect; LinkDown if refused or unreachable, LinkTimeout if it takes too long."""
        if self.state is LinkState.UP:
            return
        await self.close()
        self._connecting = True
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: connect did not finish in {timeout:g} s") from None
        except OSError as exc:
            raise LinkDown(f"{self._label}: cannot connect ({exc})") from exc
        finally:
            self._connecting = False
        _tune(writer)
        self._reader, self._writer, self._lost = reader, writer, None

    async def read(self, timeout: float) -> bytes:
        """What has arrived (>= 1 byte); LinkTimeout if nothing came, LinkDown if it hung up."""
        reader = self._reader
        if reader is None or self._lost is not None:
            raise LinkDown(self._lost or f"{self._label}: not connected")
        try:
            async with asyncio.timeout(timeout):
                data = await reader.read(_READ_SIZE)
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: nothing received in {timeout:g} s") from None
        except OSError as exc:
            raise self._down(f"connection lost ({exc})") from exc
        if not data:
            raise self._down("closed by the other end")
        return data

    async def write(self, data: bytes, timeout: float) -> None:
        """Send all of data; LinkTimeout if the other end does not take it in time."""
        writer = self._writer
        if writer is None or self._lost is not None:
            raise LinkDown(self._lost or f"{self._label}: not connected")
        if not data:
            return
        try:
            async with asyncio.timeout(timeout):
                writer.write(data)
                await writer.drain()
        except TimeoutError:
            raise LinkTimeout(f"{self._label}: write did not finish in {timeout:g} s") from None
        except OSError as exc:
            raise self._down(f"connection lost ({exc})") from exc

    def _down(self, reason: str) -> LinkDown:
        self._lost = self._lost or f"{self._label}: {reason}"
        return LinkDown(self._lost)

    async def close(self) -> None:
        """Close the connection; calling it again does nothing."""
        writer = self._writer
        self._reader = self._writer = None
        if writer is None:
            return
        self._lost = self._lost or f"{self._label}: closed"
        writer.close()
        try:
            async with asyncio.timeout(_CLOSE_GRACE_S):
                await writer.wait_closed()
        except TimeoutError:
            # Bytes it never took keep a closing socket open: drop them and the socket now.
            writer.transport.abort()
        except OSError:
            pass


def _tune(writer: asyncio.StreamWriter) -> None:
    """No Nagle delay for small queries; keepalive so a dead printer is noticed."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in _KEEPALIVE:
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
