"""memory_pair: in-process wires with chunking, delay, loss and unplugging."""

from __future__ import annotations

import asyncio

import pytest

from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.memory import MemoryLink, memory_pair

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

# header, address 1, key cmd, len 1, key 01 (call), sum8, tail
KEY_CALL = bytes.fromhex("FF 68 01 01 01 01 6C 16")


def current(link: ByteLink) -> LinkState:
    """The link's state now (a call: the type checker keeps no earlier narrowing)."""
    return link.state


async def opened(*links: MemoryLink) -> None:
    for link in links:
        await link.open(timeout=1.0)


async def read_all(link: ByteLink, size: int) -> list[bytes]:
    """Reads until size bytes came, keeping each read's bytes apart."""
    reads: list[bytes] = []
    while sum(map(len, reads)) < size:
        reads.append(await link.read(timeout=2.0))
    return reads


async def test_bytes_cross_both_ways_in_order() -> None:
    controller, pad = memory_pair()
    await opened(controller, pad)
    await controller.write(b"ping", timeout=1.0)
    await controller.write(b"more", timeout=1.0)
    await pad.write(KEY_CALL, timeout=1.0)
    assert await pad.read(timeout=1.0) == b"pingmore"  # a stream: writes run together
    assert await controller.read(timeout=1.0) == KEY_CALL


async def test_chunk_one_delivers_a_byte_per_read() -> None:
    controller, pad = memory_pair(chunk=1)
    await opened(controller, pad)
    await pad.write(KEY_CALL, timeout=1.0)
    await pad.write(KEY_CALL, timeout=1.0)
    reads = await read_all(controller, 2 * len(KEY_CALL))
    assert reads == [bytes([b]) for b in KEY_CALL + KEY_CALL]


async def test_chunk_splits_writes_into_pieces_of_at_most_that_size() -> None:
    controller, pad = memory_pair(chunk=3)
    await opened(controller, pad)
    await pad.write(KEY_CALL, timeout=1.0)
    assert await read_all(controller, len(KEY_CALL)) == [
        b"\xff\x68\x01",
        b"\x01\x01\x01",
        b"\x6c\x16",
    ]


async def test_delay_spaces_pieces_out_without_reordering() -> None:
    controller, pad = memory_pair(chunk=2, delay_s=0.03)
    await opened(controller, pad)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pad.write(KEY_CALL, timeout=1.0)  # 4 pieces
    await pad.write(b"\xaa", timeout=1.0)  # a 5th, behind them
    assert loop.time() - started < 0.02  # writing does not wait for the wire
    arrivals: list[float] = []
    data = bytearray()
    while len(data) < len(KEY_CALL) + 1:
        data += await controller.read(timeout=1.0)
        arrivals.append(loop.time() - started)
    assert bytes(data) == KEY_CALL + b"\xaa"
    assert len(arrivals) == 5
    for index, arrived in enumerate(arrivals, start=1):
        assert arrived >= 0.03 * index - 0.005  # the loop's clock has ~1 ms resolution
    assert arrivals[-1] < 0.5


async def test_a_read_shorter_than_the_delay_times_out_and_the_bytes_still_come() -> None:
    controller, pad = memory_pair(delay_s=0.2)
    await opened(controller, pad)
    await pad.write(b"late", timeout=1.0)
    with pytest.raises(LinkTimeout, match="memory-a"):
        await controller.read(timeout=0.05)
    assert await controller.read(timeout=1.0) == b"late"


async def test_drop_every_loses_every_nth_write_of_the_first_link_only() -> None:
    controller, pad = memory_pair(drop_every=3)
    await opened(controller, pad)
    for n in range(1, 8):
        await controller.write(bytes([n]), timeout=1.0)
        await pad.write(bytes([n]), timeout=1.0)
    assert await pad.read(timeout=1.0) == bytes([1, 2, 4, 5, 7])
    assert await controller.read(timeout=1.0) == bytes(range(1, 8))
    assert controller.dropped == 2
    assert pad.dropped == 0


async def test_unplug_makes_both_ends_link_down_and_wakes_a_pending_read() -> None:
    controller, pad = memory_pair(delay_s=0.2)
    await opened(controller, pad)
    await pad.write(b"in flight", timeout=1.0)
    pending = asyncio.create_task(controller.read(timeout=5.0), name="pending read")
    await asyncio.sleep(0.01)
    pad.unplug()
    with pytest.raises(LinkDown, match="unplugged"):
        await asyncio.wait_for(pending, timeout=1.0)
    for link in (controller, pad):
        assert current(link) is LinkState.DOWN
        with pytest.raises(LinkDown):
            await link.read(timeout=0.1)
        with pytest.raises(LinkDown):
            await link.write(b"x", timeout=0.1)
        with pytest.raises(LinkDown):
            await link.open(timeout=0.1)

    controller.replug()
    await opened(controller, pad)
    assert current(controller) is LinkState.UP
    await controller.write(b"after", timeout=1.0)
    assert await pad.read(timeout=1.0) == b"after"  # what was in flight is gone


async def test_reads_need_an_open_end_and_close_is_idempotent() -> None:
    controller, pad = memory_pair(name="pad-7")
    assert controller.name == "pad-7-a"
    with pytest.raises(LinkDown, match="pad-7-a: not open"):
        await controller.read(timeout=0.1)
    await opened(controller, pad)
    pending = asyncio.create_task(controller.read(timeout=5.0), name="pending read")
    await asyncio.sleep(0.01)
    await controller.close()
    await controller.close()
    with pytest.raises(LinkDown, match="not open"):
        await asyncio.wait_for(pending, timeout=1.0)
    assert current(controller) is LinkState.DOWN
    assert current(pad) is LinkState.UP


async def test_bytes_written_before_the_peer_opens_are_kept() -> None:
    controller, pad = memory_pair()
    await controller.open(timeout=1.0)
    await controller.write(b"early", timeout=1.0)
    await pad.open(timeout=1.0)
    assert await pad.read(timeout=1.0) == b"early"


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="chunk"):
        memory_pair(chunk=0)
    with pytest.raises(ValueError, match="drop_every"):
        memory_pair(drop_every=0)
    with pytest.raises(ValueError, match="delay_s"):
        memory_pair(delay_s=-1.0)
