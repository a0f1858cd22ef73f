"""TcpLink: a network printer's port 9100 as a byte link, and every failure as LinkDown/Timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from hall_controller.simulators.escpos_printer import EscposPrinterServer, SimulatedEscposPrinter
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.tcp import TcpLink, parse_tcp_url

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

WAIT_S = 5.0
PAPER_QUERY = bytes.fromhex("10 04 04")  # DLE EOT 4


def state(link: TcpLink) -> LinkState:
    """The link's state, read afresh each time."""
    return link.state


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://192.168.10.31:9100", ("192.168.10.31", 9100)),
        ("tcp://printer-3.hall.local", ("printer-3.hall.local", 9100)),
        ("tcp://[fe80::1]:9101", ("fe80::1", 9101)),
    ],
)
def test_urls_name_host_and_port(url: str, expected: tuple[str, int]) -> None:
    assert parse_tcp_url(url) == expected


@pytest.mark.parametrize(
    "url", ["192.168.10.31:9100", "socket://host:9100", "tcp://", "tcp://h:99999", "tcp://h/x"]
)
def test_other_urls_are_refused_with_the_expected_form(url: str) -> None:
    with pytest.raises(ValueError, match="tcp://"):
        parse_tcp_url(url)


@pytest.fixture
async def printer_server() -> AsyncIterator[EscposPrinterServer]:
    server = EscposPrinterServer(SimulatedEscposPrinter())
    await server.start()
    yield server
    await server.stop()


async def test_a_query_goes_out_and_the_answer_comes_back(
    printer_server: EscposPrinterServer,
) -> None:
    link = TcpLink(printer_server.url, name="kiosk-1 printer")
    assert state(link) is LinkState.DOWN
    await link.open(WAIT_S)
    try:
        assert state(link) is LinkState.UP
        await link.write(PAPER_QUERY, WAIT_S)
        assert await link.read(WAIT_S) == bytes.fromhex("12")
        with pytest.raises(LinkTimeout):
            await link.read(0.1)  # nothing more: a timeout, the link stays up
        assert state(link) is LinkState.UP
    finally:
        await link.close()
    assert state(link) is LinkState.DOWN
    await link.close()  # twice: nothing happens


async def test_a_printer_that_hangs_up_is_link_down_and_a_new_open_connects_again(
    printer_server: EscposPrinterServer,
) -> None:
    link = TcpLink(printer_server.url)
    await link.open(WAIT_S)
    try:
        await printer_server.disconnect()
        with pytest.raises(LinkDown, match="closed by the other end"):
            await link.read(WAIT_S)
        assert state(link) is LinkState.DOWN
        with pytest.raises(LinkDown):
            await link.write(PAPER_QUERY, WAIT_S)
        await link.open(WAIT_S)
        await link.write(PAPER_QUERY, WAIT_S)
        assert await link.read(WAIT_S) == bytes.fromhex("12")
        assert printer_server.connections == 2
    finally:
        await link.close()


async def test_nobody_listening_is_link_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = TcpLink(f"tcp://127.0.0.1:{port}")
    with pytest.raises(LinkDown, match="cannot connect"):
        await link.open(WAIT_S)
    assert state(link) is LinkState.DOWN
    with pytest.raises(LinkDown):
        await link.read(0.1)


async def test_a_printer_that_stops_taking_bytes_times_the_write_out() -> None:
    accepted: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append((reader, writer))  # holds the connection open and reads nothing

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = TcpLink(f"tcp://127.0.0.1:{port}")
    await link.open(WAIT_S)
    size = 64 * 1024 * 1024  # far more than both kernels buffer: the write can only wait
    try:
        with pytest.raises(LinkTimeout, match="write did not finish"):
            await link.write(bytes(size), 0.5)
        await link.close()
        # The printer reads again: what the kernels held comes, then the end of the connection,
        # not the rest of the abandoned write (nor a socket kept open to send it).
        reader = accepted[0][0]
        received = 0
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(WAIT_S):
                while chunk := await reader.read(1024 * 1024):
                    received += len(chunk)
        assert received < size
    finally:
        await link.close()
        for _reader, writer in accepted:
            writer.close()
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_S):
                await server.wait_closed()
