"""SerialLink against real PTYs, a local TCP server (socket://) and an RFC 2217 server."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import serial
import serial.rfc2217

from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink, SerialParams, port_present

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

# Every byte value, repeated: raw mode must pass XON/XOFF, CR, LF, ^C and NUL untouched.
TEN_KB = bytes(range(256)) * 40


async def read_exactly(link: ByteLink, size: int, within: float = 5.0) -> bytes:
    """Read until size bytes have come (a link returns whatever has arrived)."""
    data = bytearray()
    while len(data) < size:
        data += await link.read(within)
    return bytes(data)


def current(link: ByteLink) -> LinkState:
    """The link's state now (a call: the type checker keeps no earlier narrowing)."""
    return link.state


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    """A plugged-in PTY pair with a by-id style symlink, closed after the test."""
    pair = PtyPair(tmp_path / "usb-hall-pad-if00", name="pad").open()
    yield pair
    pair.close()


@pytest.fixture
async def controller(pty: PtyPair) -> AsyncIterator[SerialLink]:
    """The controller's SerialLink opened on the PTY's symlink."""
    assert pty.link_path is not None
    link = SerialLink(SerialParams(str(pty.link_path), baudrate=9600))
    await link.open(timeout=1.0)
    yield link
    await link.close()


async def test_ten_kilobytes_cross_a_pty_both_ways_byte_exact(
    pty: PtyPair, controller: SerialLink
) -> None:
    device = pty.link
    async with asyncio.TaskGroup() as group:
        to_device = group.create_task(read_exactly(device, len(TEN_KB)), name="device reads")
        to_controller = group.create_task(
            read_exactly(controller, len(TEN_KB)), name="controller reads"
        )
        group.create_task(controller.write(TEN_KB, timeout=5.0), name="controller writes")
        group.create_task(device.write(TEN_KB[::-1], timeout=5.0), name="device writes")
    assert to_device.result() == TEN_KB
    assert to_controller.result() == TEN_KB[::-1]


async def test_the_controller_opens_the_tty_path_itself(pty: PtyPair) -> None:
    link = SerialLink(pty.device_path)
    await link.open(timeout=1.0)
    try:
        assert link.state is LinkState.UP
        assert pty.device_path.startswith("/dev/pts/")
        await pty.link.write(bytes.fromhex("FF 68 01 01 01 01 6C 16"), timeout=1.0)
        assert await read_exactly(link, 8) == bytes.fromhex("FF 68 01 01 01 01 6C 16")
    finally:
        await link.close()


async def test_unplugging_the_pty_ends_a_pending_read_with_link_down_within_a_second(
    pty: PtyPair, controller: SerialLink
) -> None:
    pending = asyncio.create_task(controller.read(timeout=5.0), name="pending read")
    await asyncio.sleep(0.05)
    started = time.monotonic()
    pty.unplug()
    with pytest.raises(LinkDown, match="usb-hall-pad-if00"):
        await asyncio.wait_for(pending, timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert controller.state is LinkState.DOWN
    with pytest.raises(LinkDown):
        await controller.read(timeout=0.1)
    with pytest.raises(LinkDown):
        await controller.write(b"\x01", timeout=0.1)


async def test_bytes_that_came_before_the_unplug_are_read_before_link_down(
    pty: PtyPair, controller: SerialLink
) -> None:
    await pty.link.write(b"\xfd\x12\x34\x56\xdf", timeout=1.0)  # one 433 MHz frame
    await asyncio.sleep(0.1)
    pty.unplug()
    await asyncio.sleep(0.1)
    assert await read_exactly(controller, 5, within=1.0) == b"\xfd\x12\x34\x56\xdf"
    with pytest.raises(LinkDown):
        await controller.read(timeout=1.0)


async def test_after_replug_the_same_link_opens_the_new_tty_behind_the_symlink(
    pty: PtyPair, controller: SerialLink
) -> None:
    assert pty.link_path is not None
    pty.unplug()
    assert not port_present(str(pty.link_path))
    with pytest.raises(LinkDown):
        await controller.read(timeout=1.0)
    with pytest.raises(LinkDown, match="usb-hall-pad-if00"):
        await controller.open(timeout=1.0)

    pty.replug()
    assert port_present(str(pty.link_path))
    assert str(pty.link_path.resolve()) == pty.device_path
    await controller.open(timeout=1.0)
    assert controller.state is LinkState.UP
    await controller.write(b"ping", timeout=1.0)
    assert await read_exactly(pty.link, 4) == b"ping"


async def test_opening_a_missing_path_is_link_down_naming_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    link = SerialLink(missing)
    started = time.monotonic()
    with pytest.raises(LinkDown, match="ttyUSB9"):
        await link.open(timeout=2.0)
    assert time.monotonic() - started < 0.5
    assert link.state is LinkState.DOWN


async def test_a_quiet_port_times_out_and_stays_usable(
    pty: PtyPair, controller: SerialLink
) -> None:
    started = time.monotonic()
    with pytest.raises(LinkTimeout, match="usb-hall-pad-if00"):
        await controller.read(timeout=0.1)
    assert 0.09 <= time.monotonic() - started < 0.5
    assert controller.state is LinkState.UP
    await pty.link.write(b"\x06", timeout=1.0)
    assert await controller.read(timeout=1.0) == b"\x06"


async def test_close_is_idempotent_and_reads_after_it_are_link_down(
    controller: SerialLink,
) -> None:
    await controller.close()
    await controller.close()
    assert controller.state is LinkState.DOWN
    with pytest.raises(LinkDown):
        await controller.read(timeout=0.1)


async def test_close_ends_a_pending_read(controller: SerialLink) -> None:
    pending = asyncio.create_task(controller.read(timeout=5.0), name="pending read")
    await asyncio.sleep(0.05)
    await controller.close()
    with pytest.raises(LinkDown):
        await asyncio.wait_for(pending, timeout=1.0)


async def test_device_side_read_ends_with_link_down_when_unplugged(pty: PtyPair) -> None:
    pending = asyncio.create_task(pty.link.read(timeout=5.0), name="device read")
    await asyncio.sleep(0.05)
    pty.unplug()
    with pytest.raises(LinkDown):
        await asyncio.wait_for(pending, timeout=1.0)
    assert current(pty.link) is LinkState.DOWN
    pty.replug()
    assert current(pty.link) is LinkState.UP


async def test_device_side_write_times_out_when_nobody_reads(pty: PtyPair) -> None:
    with pytest.raises(LinkTimeout):
        await pty.link.write(bytes(1024 * 1024), timeout=0.2)


def test_port_present_follows_symlinks_and_trusts_urls(tmp_path: Path) -> None:
    dangling = tmp_path / "usb-gone-if00"
    dangling.symlink_to(tmp_path / "ttyUSB7")
    assert not port_present(str(dangling))
    assert not port_present(str(tmp_path / "ttyUSB8"))
    with PtyPair(tmp_path / "usb-here-if00") as pair:
        assert port_present(pair.device_path)
        assert port_present(str(tmp_path / "usb-here-if00"))
    assert port_present("socket://192.0.2.1:4001")
    assert port_present("rfc2217://192.0.2.1:2217")


def test_unknown_url_schemes_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="loop://"):
        SerialLink("loop://")


# socket:// (serial device servers, e.g. an RS-485 to Ethernet converter in TCP server mode)


@pytest.fixture
async def tcp_device() -> AsyncIterator[
    tuple[str, asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
]:
    """A local TCP server standing in for a serial device server; yields (url, accepted)."""
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait((reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"socket://127.0.0.1:{port}", accepted
    server.close()
    while not accepted.empty():
        _, writer = accepted.get_nowait()
        writer.close()
    await server.wait_closed()


async def test_socket_url_carries_bytes_both_ways(
    tcp_device: tuple[str, asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
) -> None:
    url, accepted = tcp_device
    link = SerialLink(url, name="window 3 board")
    await link.open(timeout=1.0)
    try:
        reader, writer = await asyncio.wait_for(accepted.get(), timeout=1.0)
        await link.write(TEN_KB, timeout=2.0)
        assert await asyncio.wait_for(reader.readexactly(len(TEN_KB)), timeout=2.0) == TEN_KB
        writer.write(TEN_KB[::-1])
        await writer.drain()
        assert await read_exactly(link, len(TEN_KB)) == TEN_KB[::-1]

        writer.close()
        await writer.wait_closed()
        with pytest.raises(LinkDown, match="window 3 board"):
            await read_exactly(link, 1, within=1.0)
        assert link.state is LinkState.DOWN
    finally:
        await link.close()


async def test_socket_url_refused_is_link_down_naming_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = SerialLink(f"socket://127.0.0.1:{port}")
    with pytest.raises(LinkDown, match=re.escape(f"127.0.0.1:{port}")):
        await link.open(timeout=1.0)
    assert link.state is LinkState.DOWN


async def test_open_that_takes_too_long_is_link_timeout() -> None:
    # A listener whose backlog is full leaves new connections unanswered.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            link = SerialLink(f"socket://127.0.0.1:{port}")
            with pytest.raises(LinkTimeout, match=re.escape(f"127.0.0.1:{port}")):
                await link.open(timeout=0.2)
            assert link.state is LinkState.DOWN
        finally:
            for filler in fillers:
                filler.close()


# rfc2217:// (network serial servers that speak RFC 2217, e.g. ser2net)


class Rfc2217Server:
    """A one-client RFC 2217 server in front of pyserial's loop:// port, so it echoes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"rfc2217://127.0.0.1:{self.listener.getsockname()[1]}"
        self.alive = True
        self._client: socket.socket | None = None
        self._threads = [threading.Thread(target=self._serve, name="rfc2217 server")]
        self._threads[0].start()

    def write(self, data: bytes) -> None:
        """Called by the PortManager: send to the client."""
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.sendall(data)

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        self._client = client
        port = serial.serial_for_url("loop://", timeout=0.05)
        manager = serial.rfc2217.PortManager(port, self)
        pump = threading.Thread(target=self._pump, args=(port, manager), name="rfc2217 pump")
        self._threads.append(pump)
        pump.start()
        while self.alive:
            try:
                data = client.recv(1024)
            except OSError:
                break
            if not data:
                break
            port.write(b"".join(manager.filter(data)))
        self.alive = False

    def _pump(self, port: serial.Serial, manager: serial.rfc2217.PortManager) -> None:
        while self.alive:
            data = port.read(port.in_waiting or 1)
            if data:
                self.write(b"".join(manager.escape(data)))

    def close(self) -> None:
        self.alive = False
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.shutdown(socket.SHUT_RDWR)
            self._client.close()
        self.listener.close()
        for thread in self._threads:
            thread.join(2.0)


# pyserial's own rfc2217 client still calls Thread.setDaemon/setName.
PYSERIAL_THREAD_WARNINGS = pytest.mark.filterwarnings(
    "ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning"
)


@PYSERIAL_THREAD_WARNINGS
async def test_rfc2217_url_runs_on_a_thread_and_stops_it_on_close() -> None:
    server = Rfc2217Server()
    link = SerialLink(SerialParams(server.url, baudrate=19200))
    try:
        await link.open(timeout=5.0)
        assert current(link) is LinkState.UP
        payload = bytes(range(256)) * 4  # includes 0xFF, which telnet must escape
        await link.write(payload, timeout=2.0)
        assert await read_exactly(link, len(payload)) == payload
    finally:
        await link.close()
        server.close()
    assert link.state is LinkState.DOWN
    assert not [t for t in threading.enumerate() if t.name == f"serial {server.url}"]


@PYSERIAL_THREAD_WARNINGS
async def test_rfc2217_server_going_away_is_link_down() -> None:
    server = Rfc2217Server()
    link = SerialLink(server.url)
    try:
        await link.open(timeout=5.0)
        server.close()
        with pytest.raises(LinkDown, match=re.escape("127.0.0.1:")):
            await read_exactly(link, 1, within=2.0)
    finally:
        await link.close()
        server.close()
