"""The simulated ESC/POS printer: status answered at once, GS r 1 in order, jobs kept, faults,
and its two ports (a real PTY and TCP 9100)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hall_controller.profiles import EscposSettings, load_profiles
from hall_controller.simulators.escpos_printer import (
    EscposPrinterServer,
    PrintedJob,
    SimulatedEscposPrinter,
    on_link,
)
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink, SerialParams
from hall_controller.transports.tcp import TcpLink

from escpos_decoder import decode

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
WAIT_S = 5.0

STATUS_ALL = bytes.fromhex("10 04 01 10 04 02 10 04 03 10 04 04")
MARKER = bytes.fromhex("1D 72 01")
# ESC @, FS & 中文 FS . LF, GS V 0: a tiny ticket that is cut.
TICKET = bytes.fromhex("1B 40 1C 26 D6D0 CEC4 1C 2E 0A 1D 56 00")


def qr_store(payload: bytes) -> bytes:
    """GS ( k pL pH 31 50 30 payload: store QR data."""
    size = len(payload) + 3
    return b"\x1d(k" + bytes((size & 0xFF, size >> 8)) + b"\x31\x50\x30" + payload


QR_PRINT = bytes.fromhex("1D 28 6B 03 00 31 51 30")


def settings(profile: str) -> EscposSettings:
    codec = PROFILES[profile].codec
    assert isinstance(codec, EscposSettings)
    return codec


def printer(profile: str = "escpos-80mm-gb18030") -> SimulatedEscposPrinter:
    return SimulatedEscposPrinter.for_settings(settings(profile))


@pytest.mark.parametrize(
    ("setup", "answers"),
    [
        ("ok", "12 12 12 12"),
        ("low", "12 12 12 1E"),
        ("out", "1A 32 12 7E"),  # offline, stopped at the roll's end, both sensors
        ("cover", "1A 16 12 12"),  # offline, cover open
    ],
)
def test_status_answers_per_condition(setup: str, answers: str) -> None:
    p = printer()
    if setup == "cover":
        p.set_cover(open_=True)
    else:
        p.set_paper(setup)  # type: ignore[arg-type]
    assert p.feed(STATUS_ALL, 0.0) == bytes.fromhex(answers)


def test_gs_r_is_answered_after_the_ticket_and_the_job_is_kept() -> None:
    p = printer()
    jobs: list[PrintedJob] = []
    p.on_job = jobs.append
    answer = p.feed(TICKET + MARKER, 1.5)
    assert answer == bytes.fromhex("00")  # paper fine: no sensor bit
    assert len(p.jobs) == 1
    assert jobs == list(p.jobs)
    job = p.jobs[0]
    assert job.lines == ("中文",)
    assert job.cut
    assert job.data == TICKET
    assert job.at == 1.5


def test_a_low_roll_shows_in_the_gs_r_answer() -> None:
    p = printer()
    p.set_paper("low")
    assert p.feed(TICKET + MARKER, 0.0) == bytes.fromhex("03")  # near-end bits 0-1


def test_bytes_inside_qr_data_and_images_are_never_taken_for_dle_eot() -> None:
    p = printer()
    trap = b"\x10\x04\x01\x10\x04\x04"  # DLE EOT 1, DLE EOT 4 inside data
    image = bytes.fromhex("1D 76 30 00 06 00 01 00") + trap  # 6 x 1 bytes of raster
    data = bytes.fromhex("1B 40") + qr_store(b"T" + trap) + QR_PRINT + image + b"\x1dV\x00"
    assert p.feed(data, 0.0) == b""
    assert p.status_queries == 0
    assert p.jobs[0].qr_codes == ("T\x10\x04\x01\x10\x04\x04",)
    assert "[image]" in p.jobs[0].lines


def test_one_byte_at_a_time_gives_the_same_answers_and_job() -> None:
    whole = printer()
    expected = whole.feed(STATUS_ALL + TICKET + MARKER, 0.0)
    split = printer()
    answers = b"".join(split.feed(bytes((b,)), 0.0) for b in STATUS_ALL + TICKET + MARKER)
    assert answers == expected == bytes.fromhex("12 12 12 12 00")
    assert split.jobs[0].lines == whole.jobs[0].lines == ("中文",)


def test_jammed_it_takes_bytes_answers_status_but_never_confirms_until_cleared() -> None:
    p = printer()
    late: list[bytes] = []
    p.send = late.append
    p.set_jammed(True)
    assert p.feed(TICKET + MARKER + STATUS_ALL[:3], 0.0) == bytes.fromhex("12")
    assert list(p.jobs) == []
    p.set_jammed(False)
    assert late == [bytes.fromhex("00")]  # the late confirmation
    assert len(p.jobs) == 1


def test_paper_out_keeps_the_job_until_paper_is_loaded() -> None:
    p = printer()
    late: list[bytes] = []
    p.send = late.append
    p.set_paper("out")
    assert p.feed(TICKET + MARKER + bytes.fromhex("10 04 04"), 0.0) == bytes.fromhex("7E")
    assert list(p.jobs) == []
    p.set_paper("ok")
    assert late == [bytes.fromhex("00")]
    assert p.jobs[0].lines == ("中文",)


def test_silent_it_answers_nothing_and_prints_nothing() -> None:
    p = printer()
    p.silent = True
    assert p.feed(STATUS_ALL + TICKET + MARKER, 0.0) == b""
    assert list(p.jobs) == []


def test_a_printer_without_cutter_ends_a_job_at_the_marker_or_the_next_init() -> None:
    p = printer("escpos-58mm-gbk")
    feed_out = bytes.fromhex("1B 40 1C 26 D6D0 1C 2E 0A 1B 64 04")
    assert p.feed(feed_out + MARKER, 0.0) == bytes.fromhex("00")
    assert not p.jobs[0].cut
    p.feed(feed_out + bytes.fromhex("1B 40"), 0.0)
    assert [job.lines for job in p.jobs] == [("中",), ("中",)]


def test_a_printer_that_needs_fs_ampersand_misprints_chinese_sent_without_it() -> None:
    p = printer("escpos-80mm-gb18030")  # chinese_mode = true: starts in one-byte mode
    p.feed(bytes.fromhex("1B 40 D6D0 0A 1D 56 00"), 0.0)
    assert p.jobs[0].lines[0] != "中"
    always = printer("escpos-net-80mm")  # starts in Chinese mode: no FS & needed
    always.feed(bytes.fromhex("1B 40 D6D0 0A 1D 56 00"), 0.0)
    assert always.jobs[0].lines == ("中",)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    pair = PtyPair(tmp_path / "printer", name="printer")
    pair.open()
    yield pair
    pair.close()


async def read_exactly(link: SerialLink | TcpLink, size: int) -> bytes:
    data = b""
    async with asyncio.timeout(WAIT_S):
        while len(data) < size:
            data += await link.read(WAIT_S)
    return data


async def test_on_a_real_pty_it_answers_status_and_confirms_tickets(pty: PtyPair) -> None:
    p = printer()
    bus = on_link(p, pty.link)
    await bus.start()
    controller = SerialLink(SerialParams(str(pty.link_path)), name="printer")
    await controller.open(WAIT_S)
    try:
        await controller.write(STATUS_ALL, WAIT_S)
        assert await read_exactly(controller, 4) == bytes.fromhex("12 12 12 12")
        p.set_jammed(True)
        await controller.write(TICKET + MARKER, WAIT_S)
        with pytest.raises(LinkTimeout):
            await controller.read(0.3)
        p.set_jammed(False)  # the kept ticket is printed; its answer goes out late, by itself
        assert await read_exactly(controller, 1) == bytes.fromhex("00")
        assert decode(p.jobs[0].data, "gb18030").texts == ["中文"]
    finally:
        await controller.close()
        await bus.stop()


async def test_as_a_network_printer_it_serves_one_connection_at_a_time() -> None:
    p = printer("escpos-net-80mm")
    server = EscposPrinterServer(p)
    await server.start()
    first = TcpLink(server.url, name="first")
    second = TcpLink(server.url, name="second")
    try:
        await first.open(WAIT_S)
        await second.open(WAIT_S)  # the kernel accepts; the printer does not serve it yet
        await second.write(bytes.fromhex("10 04 04"), WAIT_S)
        await first.write(TICKET + MARKER, WAIT_S)
        assert await read_exactly(first, 1) == bytes.fromhex("00")
        with pytest.raises(LinkTimeout):
            await second.read(0.3)
        await first.close()
        assert await read_exactly(second, 1) == bytes.fromhex("12")
        assert server.connections == 2
        assert len(p.jobs) == 1
    finally:
        await first.close()
        await second.close()
        await server.stop()
