"""Ticket printers: EscposPrinter against the simulated ESC/POS printer over memory links that
split, delay and drop bytes, a real PTY (serial, and standing in for /dev/usb/lp0), TCP 9100 and
a fake pyusb printer. What reached the printer is decoded by tests/escpos_decoder.py, not by our
code.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import errno
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
import usb.backend
import usb.core

from hall_controller.config_reader import ConfigError
from hall_controller.devices.base import DeviceContext
from hall_controller.devices.errors import DeviceError
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import TicketPrint
from hall_controller.devices.printer import EscposPrinter, PrintFailed, _load_escpos
from hall_controller.profiles import (
    DeviceConfig,
    DeviceProfile,
    EscposSettings,
    load_profiles,
    validate_profile_text,
)
from hall_controller.protocols.escpos import PAPER_COLUMNS, text_columns
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.escpos_printer import (
    EscposPrinterServer,
    SimulatedEscposPrinter,
    on_link,
)
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.errors import LinkDown
from hall_controller.transports.keys import set_default_usb_backend
from hall_controller.transports.memory import MemoryLink, memory_pair
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.usb_printer import UsbPrinterLink

from escpos_decoder import Decoded, decode
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
PRINTER_PROFILES = ["escpos-80mm-gb18030", "escpos-58mm-gbk", "escpos-net-80mm"]
URL = "https://hall.example.gov.cn/t/20261128-A012"


def ticket(number: str = "A012", **changes: Any) -> TicketPrint:
    """A ticket of the synthetic demo hall."""
    base = TicketPrint(
        hall_name="天河区政务服务中心",
        theme_name="社保医保 综合业务",
        number=number,
        priority_mark="优先 长者",
        people_ahead=5,
        wait_minutes=15,
        issued_at="2026-11-28 09:41",
        qr_url=URL.replace("A012", number),
        footer="请留意叫号【过号请重新取号】\n服务热线 12345",
    )
    return dataclasses.replace(base, **changes)


def fast(
    profile_id: str, *, ping_every_s: float = 0.0, print_timeout_s: float = 5.0
) -> DeviceProfile:
    """A shipped profile polled as asked; a short print_timeout where a test waits it out."""
    profile = PROFILES[profile_id]
    codec = profile.codec
    assert isinstance(codec, EscposSettings)
    return dataclasses.replace(
        profile,
        codec=dataclasses.replace(codec, print_timeout_s=print_timeout_s),
        timeouts=dataclasses.replace(profile.timeouts, ping_every_s=ping_every_s, open_s=1.0),
    )


def config(profile: DeviceProfile, port: str | None = None) -> DeviceConfig:
    return DeviceConfig(
        id="kiosk-1-printer",
        profile=profile,
        window=None,
        port=port,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        kiosk="kiosk-1",
    )


@dataclasses.dataclass
class Told:
    """What the printer told the hub: its health state at each change."""

    states: list[tuple[DeviceState, str | None]] = dataclasses.field(default_factory=list)

    def context(self) -> DeviceContext:
        return DeviceContext(
            clock=time.time,
            submit=lambda _item, _device: None,
            state_changed=lambda d: self.states.append((d.health.state, d.health.last_error)),
        )


def make_printer(
    cfg: DeviceConfig, told: Told, open_link: Callable[[], MemoryLink] | None = None
) -> EscposPrinter:
    printer = EscposPrinter(cfg, told.context(), open_link=open_link)
    printer.supervisor.backoff = Backoff(initial_s=0.05, cap_s=0.2)
    return printer


def can_print(printer: EscposPrinter) -> bool:
    """The kiosk's question, asked afresh each time."""
    return printer.can_print


def state(printer: EscposPrinter) -> DeviceState:
    """The printer's health state, read afresh each time."""
    return printer.health.state


def decoded(sim: SimulatedEscposPrinter, job: int = -1) -> Decoded:
    return decode(sim.jobs[job].data, sim.encoding, chinese_at_start=sim.chinese_at_start)


@dataclasses.dataclass
class Rig:
    """A printer adapter wired to a simulated printer over a memory pair."""

    printer: EscposPrinter
    sim: SimulatedEscposPrinter
    bus: SimulatedBus
    told: Told


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """Parametrised with (profile id, memory_pair options, ping_every_s); print_timeout 1 s."""
    profile_id, wire, ping = getattr(request, "param", ("escpos-80mm-gb18030", {}, 0.0))
    profile = fast(profile_id, ping_every_s=ping, print_timeout_s=1.0)
    controller_end, printer_end = memory_pair(**wire)
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    bus = on_link(sim, printer_end)
    await bus.start()
    told = Told()
    printer = make_printer(config(profile), told, lambda: controller_end)
    await printer.start()
    await eventually(lambda: printer.health.state is DeviceState.READY, "printer ready")
    yield Rig(printer, sim, bus, told)
    await printer.stop()
    await bus.stop()


# --- what is printed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rig", [(p, {}, 0.0) for p in PRINTER_PROFILES], indirect=True, ids=PRINTER_PROFILES
)
async def test_the_ticket_the_printer_received_reads_as_the_ticket(rig: Rig) -> None:
    await rig.printer.print_ticket(ticket())
    settings = rig.printer.settings
    columns = PAPER_COLUMNS[settings.paper_width]
    out = decoded(rig.sim)
    texts = out.texts
    assert "".join(texts).startswith("天河区政务服务中心")
    assert out.line("天河区").align == "center"
    assert out.line("社保医保 综合业务").align == "center"
    number = out.line("A012")
    assert number.text == "A012"
    assert number.align == "center"
    assert number.width >= 4
    assert number.height >= 4  # very large
    mark = out.line("优先 长者")
    assert mark.bold
    assert mark.width >= 1
    assert out.line("前面等候：5 人").align == "left"
    assert "预计等候：约 15 分钟" in texts
    assert "取号时间：2026-11-28 09:41" in texts
    assert [qr.payload for qr in out.qr_codes] == [URL]
    assert out.qr_codes[0].align == "center"
    assert out.qr_codes[0].module_size == settings.qr_module_size
    assert texts.index("扫码查看排队进度") > texts.index("取号时间：2026-11-28 09:41")
    assert "请留意叫号【过号请重新取号】" in texts
    assert texts[-1] == "服务热线 12345"
    assert "补打" not in "".join(texts)
    assert out.cut is settings.cutter
    if not settings.cutter:
        assert out.feed_lines >= 3  # fed out past the tear bar
    assert out.status_queries == []
    for line in out.lines:
        assert text_columns(line.text) * line.width <= columns, line
    if not settings.chinese_mode:
        assert b"\x1c&" not in rig.sim.jobs[-1].data  # the printer is in Chinese mode anyway


async def test_a_reprint_says_so_at_the_top(rig: Rig) -> None:
    await rig.printer.print_ticket(ticket(reprint=True))
    out = decoded(rig.sim)
    assert out.texts[0] == "【补打】"
    assert out.lines[0].align == "center"


@pytest.mark.parametrize(
    ("profile_id", "printed"), [("escpos-80mm-gb18030", "张㐀"), ("escpos-58mm-gbk", "张□")]
)
def test_a_rare_character_prints_on_gb18030_and_shows_as_a_box_on_gbk(
    profile_id: str, printed: str
) -> None:
    printer = EscposPrinter(config(PROFILES[profile_id]), Told().context())
    data = printer.render_bytes(ticket(footer="经办人 张㐀"))
    settings = printer.settings
    out = decode(data, settings.encoding, chinese_at_start=not settings.chinese_mode)
    assert f"经办人 {printed}" in out.texts
    assert b"?" not in data.replace(URL.encode(), b"")


def test_a_ticket_without_qr_or_wait_prints_neither() -> None:
    printer = EscposPrinter(config(PROFILES["escpos-58mm-gbk"]), Told().context())
    data = printer.render_bytes(
        ticket(qr_url=None, people_ahead=None, wait_minutes=None, priority_mark=None)
    )
    out = decode(data, "gbk")
    assert out.qr_codes == []
    assert not any("等候" in text for text in out.texts)
    assert not any("优先" in text for text in out.texts)


def test_printer_profiles_are_checked_when_loaded() -> None:
    text = (ROOT / "device_profiles" / "escpos-80mm-gb18030.toml").read_text(encoding="utf-8")
    broken = (
        text.replace("paper_width = 80", "paper_width = 57")
        .replace('encoding = "gb18030"', 'encoding = "gb2312"')
        .replace("product_id = 0x5011\n", "")
        .replace('type = "usb"', 'type = "mqtt"')
    )
    with pytest.raises(ConfigError) as caught:
        validate_profile_text(broken, "printer.toml")
    found = "\n".join(str(issue) for issue in caught.value.issues)
    assert "printer.toml: codec.paper_width: expected 58 or 80 (mm), got 57" in found
    assert 'codec.encoding: expected "gb18030" or "gbk"' in found
    assert "codec: give both vendor_id and product_id, or neither" in found
    assert 'transport.type: the driver "escpos" works over "serial" or "usb" or "tcp"' in found


@pytest.mark.parametrize("profile_id", PRINTER_PROFILES)
def test_shipped_printer_profiles_name_a_python_escpos_model_that_fits(profile_id: str) -> None:
    settings = PROFILES[profile_id].codec
    assert isinstance(settings, EscposSettings)
    capabilities = _load_escpos().printer.Dummy(profile=settings.escpos_profile).profile
    assert capabilities.profile_data["name"]  # a known model, not python-escpos's fallback
    can_cut = capabilities.supports("paperFullCut") or capabilities.supports("paperPartCut")
    assert can_cut is settings.cutter  # python-escpos cuts only where the model can


# --- honest about success ----------------------------------------------------------------------


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    pair = PtyPair(tmp_path / "ttyPRINTER", name="printer")
    pair.open()
    yield pair
    pair.close()


async def test_on_a_real_pty_only_a_confirmed_ticket_is_printed(pty: PtyPair) -> None:
    profile = fast("escpos-58mm-gbk")
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    bus = on_link(sim, pty.link)
    await bus.start()
    told = Told()
    # The table's serial link on the port path, as the hub configures it.
    printer = make_printer(config(profile, str(pty.link_path)), told)
    await printer.start()
    try:
        await eventually(lambda: printer.can_print, "printer ready")
        await printer.print_ticket(ticket("A001"))
        assert decoded(sim).line("A001").width >= 4

        sim.set_paper("low")
        await printer.print_ticket(ticket("A002"))
        assert decoded(sim).line("A002")
        assert state(printer) is DeviceState.ALERT
        assert printer.health.last_error == "paper low"
        assert printer.paper == "low"
        assert can_print(printer) is True

        sim.set_paper("out")
        received, jobs = sim.received, len(sim.jobs)
        with pytest.raises(PrintFailed, match="paper out"):
            await printer.print_ticket(ticket("A003"))
        # Status queries only (DLE EOT 1, 2, 4, and maybe the paper check after A002, which
        # runs once A002's print has returned): no byte of the ticket.
        assert sim.received - received in (9, 12)
        assert len(sim.jobs) == jobs
        assert printer.paper == "out"
        assert can_print(printer) is False

        sim.set_paper("ok")
        sim.set_cover(open_=True)
        with pytest.raises(PrintFailed, match="cover open"):
            await printer.print_ticket(ticket("A003"))

        sim.set_cover(open_=False)
        sim.silent = True
        with pytest.raises(PrintFailed, match="no answer to status query"):
            await printer.print_ticket(ticket("A003"))
        assert state(printer) is DeviceState.LOST
        assert printer.paper == "unknown"

        sim.silent = False
        await printer.print_ticket(ticket("A003"))
        assert [decoded(sim, i).line("A0").text for i in range(3)] == ["A001", "A002", "A003"]
        assert printer.printed == 3
        assert printer.health.errors == 3  # each refusal counted
        assert printer.health.frames_out > 0
        assert printer.health.frames_in > 0
    finally:
        await printer.stop()
        await bus.stop()


async def test_a_jammed_printer_is_never_taken_at_its_word(rig: Rig) -> None:
    rig.sim.set_jammed(True)  # says it is fine, takes the bytes, prints nothing
    with pytest.raises(PrintFailed, match="no confirmation from the printer within 1 s"):
        await rig.printer.print_ticket(ticket("A001"))
    assert rig.printer.printed == 0
    assert list(rig.sim.jobs) == []
    # Still jammed: the next ticket is not even sent, its confirmation could not be told apart.
    with pytest.raises(PrintFailed, match="has not finished the last unconfirmed ticket"):
        await rig.printer.print_ticket(ticket("A002"))
    assert list(rig.sim.jobs) == []

    rig.sim.set_jammed(False)  # A001 comes out now, and its late answer reaches the adapter
    await rig.printer.print_ticket(ticket("A003"))
    assert [decoded(rig.sim, i).line("A0").text for i in range(2)] == ["A001", "A003"]
    assert rig.printer.printed == 1


async def test_two_kiosk_requests_at_once_print_one_after_the_other(rig: Rig) -> None:
    await asyncio.gather(
        rig.printer.print_ticket(ticket("B001")), rig.printer.print_ticket(ticket("B002"))
    )
    numbers = sorted(decoded(rig.sim, i).line("B00").text for i in range(2))
    assert numbers == ["B001", "B002"]
    assert len(rig.sim.jobs) == 2


async def test_a_cancelled_print_leaves_the_next_one_honest(rig: Rig) -> None:
    rig.sim.set_jammed(True)
    task = asyncio.create_task(rig.printer.print_ticket(ticket("A001")), name="print-A001")
    await eventually(lambda: rig.sim.view()["held_commands"], "ticket sent")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rig.sim.set_jammed(False)
    await rig.printer.print_ticket(ticket("A002"))
    assert [decoded(rig.sim, i).line("A0").text for i in range(2)] == ["A001", "A002"]


@pytest.mark.parametrize(
    "rig",
    [("escpos-80mm-gb18030", {"chunk": 3, "delay_s": 0.001}, 0.0)],
    indirect=True,
    ids=["3-byte pieces, delayed"],
)
async def test_a_line_that_splits_and_delays_bytes_prints_every_ticket(rig: Rig) -> None:
    for n in range(1, 4):
        await rig.printer.print_ticket(ticket(f"C00{n}"))
    assert [decoded(rig.sim, i).line("C00").text for i in range(3)] == ["C001", "C002", "C003"]
    assert [job.qr_codes for job in rig.sim.jobs] == [
        (URL.replace("A012", f"C00{n}"),) for n in range(1, 4)
    ]


@pytest.mark.parametrize("lost", ["controller's writes", "printer's answers"])
async def test_a_line_that_loses_bytes_never_reports_a_ticket_it_did_not_get(lost: str) -> None:
    profile = fast("escpos-80mm-gb18030", print_timeout_s=1.0)
    lossy, steady = memory_pair(drop_every=7)
    controller_end, printer_end = (
        (lossy, steady) if lost == "controller's writes" else (steady, lossy)
    )
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    bus = on_link(sim, printer_end)
    await bus.start()
    printer = make_printer(config(profile), Told(), lambda: controller_end)
    await printer.start()
    confirmed: list[str] = []
    refused: list[str] = []
    try:
        for n in range(1, 13):
            number = f"D{n:03d}"
            try:
                await printer.print_ticket(ticket(number))
            except PrintFailed:
                refused.append(number)
            else:
                confirmed.append(number)
        await eventually(lambda: not sim.view()["held_commands"], "printer idle")
    finally:
        await printer.stop()
        await bus.stop()
    printed = [decode(job.data, "gb18030").line("D0").text for job in sim.jobs]
    assert confirmed
    assert refused
    assert set(confirmed) <= set(printed)  # no success without a ticket on paper
    assert len(printed) == len(set(printed))  # and nothing printed twice
    if lost == "controller's writes":
        assert printed == confirmed  # a lost write is a ticket that was never sent
    else:
        assert set(printed) > set(confirmed)  # printed, its answer lost: reported as failed


@pytest.mark.parametrize(
    "rig", [("escpos-80mm-gb18030", {}, 0.05)], indirect=True, ids=["polled every 50 ms"]
)
async def test_the_status_poll_keeps_health_current(rig: Rig) -> None:
    printer, sim = rig.printer, rig.sim

    def shows(state: DeviceState, reason: str | None) -> Callable[[], bool]:
        return lambda: printer.health.state is state and printer.health.last_error == reason

    sim.set_paper("low")
    await eventually(shows(DeviceState.ALERT, "paper low"), "paper low")
    assert can_print(printer) is True
    sim.set_paper("out")
    await eventually(shows(DeviceState.ALERT, "paper out"), "paper out")
    assert can_print(printer) is False
    assert (DeviceState.ALERT, "paper out") in rig.told.states  # the hub heard of the change
    sim.set_paper("ok")
    sim.set_cover(open_=True)
    await eventually(shows(DeviceState.ALERT, "cover open"), "cover open")
    sim.set_cover(open_=False)
    await eventually(lambda: printer.health.state is DeviceState.READY, "ready again")
    assert can_print(printer) is True
    sim.silent = True
    await eventually(shows(DeviceState.LOST, "no answer to status query"), "lost")
    assert printer.paper == "unknown"
    assert can_print(printer) is False
    sim.silent = False
    await eventually(lambda: printer.health.state is DeviceState.READY, "back")
    assert printer.health.reconnects == 1


async def test_a_printer_without_a_port_is_lost_with_the_reason() -> None:
    printer = make_printer(config(fast("escpos-58mm-gbk"), None), Told())
    await printer.start()
    try:
        await eventually(lambda: printer.health.state is DeviceState.LOST, "lost")
        assert printer.health.last_error == "kiosk-1-printer: no port in the hall config"
        with pytest.raises(PrintFailed, match="printer not connected"):
            await printer.print_ticket(ticket())
        assert isinstance(PrintFailed("x"), DeviceError)
    finally:
        await printer.stop()


# --- the other transports ----------------------------------------------------------------------


async def test_a_network_printer_on_port_9100_prints_and_comes_back_after_a_reboot() -> None:
    profile = fast("escpos-net-80mm")
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    server = EscposPrinterServer(sim)
    await server.start()
    printer = make_printer(config(profile, server.url), Told())
    await printer.start()
    try:
        await eventually(lambda: printer.can_print, "printer ready")
        await printer.print_ticket(ticket("E001"))
        await server.disconnect()  # the printer reboots
        await eventually(lambda: printer.health.state is DeviceState.LOST, "connection lost")
        await eventually(lambda: printer.can_print, "reconnected")
        await printer.print_ticket(ticket("E002"))
        assert [decoded(sim, i).line("E00").text for i in range(2)] == ["E001", "E002"]
        assert server.connections == 2
    finally:
        await printer.stop()
        await server.stop()


async def test_a_usb_printer_through_its_lp_device_prints_and_is_lost_when_unplugged(
    pty: PtyPair,
) -> None:
    """The PTY's tty stands in for /dev/usb/lp0: the usb transport with a port path."""
    profile = fast("escpos-80mm-gb18030")
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    bus = on_link(sim, pty.link)
    await bus.start()
    printer = make_printer(config(profile, pty.device_path), Told())
    await printer.start()
    try:
        await eventually(lambda: printer.can_print, "printer ready")
        await printer.print_ticket(ticket("F001"))
        assert decoded(sim).line("F001").width >= 4
        assert any(t.name == "kiosk-1-printer" for t in threading.enumerate())  # its thread
        sim.set_jammed(True)
        printing = asyncio.create_task(printer.print_ticket(ticket("F002")), name="print-F002")
        await eventually(lambda: sim.view()["held_commands"], "ticket sent")
        pty.unplug()
        with pytest.raises(PrintFailed, match="printer link lost before the ticket was confirmed"):
            await printing  # at once, and not blamed on a slow printer
        await eventually(lambda: printer.health.state is DeviceState.LOST, "unplugged")
        with pytest.raises(PrintFailed, match="printer not connected"):
            await printer.print_ticket(ticket("F003"))
    finally:
        await printer.stop()
        await bus.stop()
    await eventually(
        lambda: not any(t.name == "kiosk-1-printer" for t in threading.enumerate()),
        "the printer's thread ended",
    )


async def test_a_usb_printer_plugged_back_prints_again_and_counts_the_return(
    pty: PtyPair,
) -> None:
    """Through its stable path (a udev symlink to /dev/usb/lp0), as the hall config names it."""
    profile = fast("escpos-80mm-gb18030")
    sim = SimulatedEscposPrinter.for_settings(profile.codec)  # type: ignore[arg-type]
    bus = on_link(sim, pty.link)
    await bus.start()
    printer = make_printer(config(profile, str(pty.link_path)), Told())
    await printer.start()
    try:
        await eventually(lambda: printer.can_print, "printer ready")
        await printer.print_ticket(ticket("F001"))
        await bus.stop()
        pty.unplug()
        await eventually(lambda: printer.health.state is DeviceState.LOST, "unplugged")
        pty.open()  # plugged back: a new device behind the same path
        bus = on_link(sim, pty.link)
        await bus.start()
        await eventually(lambda: printer.can_print, "back")
        await printer.print_ticket(ticket("F002"))
        assert [decoded(sim, i).line("F00").text for i in range(2)] == ["F001", "F002"]
        assert printer.health.reconnects == 1
    finally:
        await printer.stop()
        await bus.stop()


async def test_a_usb_printer_that_cannot_be_opened_never_writes_into_another_file(
    tmp_path: Path,
) -> None:
    """Each attempt's thread closes its wake pipe; the next attempt must not write to those fds."""
    link = UsbPrinterLink(path=str(tmp_path / "lp0"), name="lp0-missing")
    with pytest.raises(LinkDown, match="cannot open"):
        await link.open(1.0)
    await eventually(
        lambda: not any(t.name == "lp0-missing" for t in threading.enumerate()), "thread ended"
    )
    # Files opened now (a database, a log) take the numbers the attempt freed.
    others = [tmp_path / f"other-{n}" for n in range(16)]
    files = [path.open("wb", buffering=0) for path in others]
    try:
        with pytest.raises(LinkDown, match="cannot open"):
            await link.open(1.0)  # the supervisor's next attempt
        await link.close()
    finally:
        for file in files:
            file.close()
    assert [path.read_bytes() for path in others] == [b""] * len(others)


class FakeUsbPrinter(usb.backend.IBackend):  # type: ignore[misc]  # pyusb ships no types
    """A pyusb backend with one USB printer (class 7, bulk OUT 0x01, bulk IN 0x82) whose bytes go
    to a simulated ESC/POS printer. Bulk calls come from the link's thread: one lock for all."""

    def __init__(self, sim: SimulatedEscposPrinter, vendor_id: int, product_id: int) -> None:
        super().__init__()
        self.sim = sim
        self.ids = (vendor_id, product_id)
        self.lock = threading.Condition(threading.RLock())
        self.answers = bytearray()
        self.plugged = True
        self.log: list[str] = []
        sim.send = self._answer

    def _answer(self, data: bytes) -> None:
        with self.lock:
            self.answers += data
            self.lock.notify_all()

    def _alive(self) -> None:
        if not self.plugged:
            raise usb.core.USBError("No such device", -4, errno.ENODEV)

    def enumerate_devices(self) -> list[str]:
        return ["printer"] if self.plugged else []

    def get_device_descriptor(self, dev: str) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=self.ids[0], idProduct=self.ids[1],
            bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=0,
            bNumConfigurations=1, address=5, bus=1, port_number=1, port_numbers=(1,), speed=3,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: str, config: int) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=50,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(
        self, dev: str, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(
        self, dev: str, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0) or ep not in (0, 1):
            raise IndexError((ep, intf, alt, config))
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=(0x01, 0x82)[ep], bmAttributes=0x02,
            wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    def open_device(self, dev: str) -> str:
        self._alive()
        self.log.append("open")
        return "handle"

    def close_device(self, dev_handle: str) -> None:
        self.log.append("close")

    def get_configuration(self, dev_handle: str) -> int:
        return 1

    def set_configuration(self, dev_handle: str, config_value: int) -> None:
        pass

    def claim_interface(self, dev_handle: str, intf: int) -> None:
        self._alive()
        self.log.append(f"claim {intf}")

    def release_interface(self, dev_handle: str, intf: int) -> None:
        self.log.append(f"release {intf}")

    def is_kernel_driver_active(self, dev_handle: str, intf: int) -> bool:
        return "detach 0" not in self.log

    def detach_kernel_driver(self, dev_handle: str, intf: int) -> None:
        self.log.append(f"detach {intf}")

    def attach_kernel_driver(self, dev_handle: str, intf: int) -> None:
        self.log.append(f"attach {intf}")

    def bulk_write(
        self, dev_handle: str, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        with self.lock:
            self._alive()
            assert ep == 0x01
            answer = self.sim.feed(bytes(data), time.monotonic())
            self.answers += answer
            self.lock.notify_all()
            return len(data)

    def bulk_read(
        self, dev_handle: str, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        deadline = time.monotonic() + timeout / 1000
        with self.lock:
            assert ep == 0x82
            while not self.answers:
                self._alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
                self.lock.wait(left)
            size = min(len(buff), len(self.answers))
            buff[:size] = array.array("B", self.answers[:size])
            del self.answers[:size]
            return size

    def unplug(self) -> None:
        with self.lock:
            self.plugged = False
            self.lock.notify_all()


async def test_a_usb_printer_found_by_its_ids_prints_through_pyusb_bulk_endpoints() -> None:
    profile = fast("escpos-80mm-gb18030")
    settings = profile.codec
    assert isinstance(settings, EscposSettings)
    assert settings.vendor_id is not None
    assert settings.product_id is not None
    sim = SimulatedEscposPrinter.for_settings(settings)
    fake = FakeUsbPrinter(sim, settings.vendor_id, settings.product_id)
    set_default_usb_backend(fake)
    printer = make_printer(config(profile), Told())  # no port: found by vendor and product id
    try:
        await printer.start()
        await eventually(lambda: printer.can_print, "printer ready")
        assert fake.log[:3] == ["open", "detach 0", "claim 0"]  # taken from the usblp driver
        await printer.print_ticket(ticket("G001"))
        with fake.lock:
            assert decoded(sim).line("G001").width >= 4
            fake.sim.set_paper("low")
        await printer.print_ticket(ticket("G002"))
        assert printer.paper == "low"
        fake.unplug()
        await eventually(lambda: printer.health.state is DeviceState.LOST, "unplugged")
        assert "attach 0" in fake.log  # given back to the kernel's driver
    finally:
        await printer.stop()
        set_default_usb_backend(None)
