"""Ticket issue to printer bytes: a kiosk's printed ticket beside the core's durable issue.

One process, one event loop, one data directory (synchronous=FULL): the controller's real
EscposPrinter talks to a simulated ESC/POS printer over a PTY pair at the profile's speed
(device_profiles/escpos-80mm-gb18030.toml, whose USB lp device a PTY stands in for). Calls
alternate between

* core: `HallService.issue_ticket`, one durable TicketIssued (what every ticket costs);
* kiosk: `KioskService.issue` at the kiosk: the number reserved (durable), the ticket rendered
  with python-escpos, a fresh DLE EOT status, the bytes written, GS r 1 answered, and the
  ticket issued (durable). Two figures: until the simulated printer has received the whole
  ticket ("bytes at the printer", its cut parsed) and until the kiosk has its answer
  ("confirmed").

    .venv/bin/python bench/ticket_print_latency.py --tickets 200

Prints figures; asserts nothing (exit 1 only when a ticket fails to print).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_config import ROOT, bench_config_text

from hall_controller.app import open_hall
from hall_controller.device_port import HubKioskDevices, ServiceHallPort
from hall_controller.devices.health import DeviceHealth, DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.kiosks import KioskService
from hall_controller.logs import configure_logging
from hall_controller.settings import validate_settings_text
from hall_controller.simulators.escpos_printer import PrintedJob
from hall_controller.simulators.hall import SimulatedHall

PRINTER = """
[[devices]]
id = "k1-printer"
profile = "escpos-80mm-gb18030"
kiosk = "k1"
port = "sim-dev/kiosk1-printer"
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<28} {len(ms):>6} {percentile(ms, 0.5):>8.2f} {percentile(ms, 0.99):>8.2f}"
        f" {max(ms):>8.2f} {statistics.fmean(ms):>8.2f}"
    )


async def _ready(health: DeviceHealth, within_s: float) -> None:
    """Wait (polling the health the hub keeps) until the printer is ready."""
    deadline = time.monotonic() + within_s
    while health.state is not DeviceState.READY:
        if time.monotonic() > deadline:
            raise SystemExit(f"the printer is not ready after {within_s:g} s: {health.last_error}")
        await asyncio.sleep(0.05)


async def run(tickets: int, workdir: Path) -> int:
    profiles = (ROOT / "device_profiles").as_posix()
    text = bench_config_text() + f'\n[profiles]\ndir = "{profiles}"\n' + PRINTER
    settings = validate_settings_text(text, str(workdir / "hall.toml"))
    data_dir = workdir / "data"
    service, event_log = open_hall(settings, data_dir)
    event_log.start(asyncio.get_running_loop())
    kiosks = KioskService(service)
    sim = SimulatedHall(
        settings.devices,
        hall_id=settings.hall.id,
        data_dir=data_dir,
        mqtt_host=None,
        mqtt_port=None,
    )
    await sim.start()
    printer = sim.printer("k1-printer")
    printed: asyncio.Queue[float] = asyncio.Queue()

    def on_job(job: PrintedJob) -> None:
        printed.put_nowait(time.perf_counter())

    printer.on_job = on_job
    hub = DeviceHub(
        settings.devices,
        ServiceHallPort(service, kiosks=kiosks),
        data_dir=data_dir,
        hall_id=settings.hall.id,
    )
    kiosks.devices = HubKioskDevices(hub)
    await hub.start()
    core: list[float] = []
    at_printer: list[float] = []
    confirmed: list[float] = []
    failed = 0
    try:
        await _ready(hub.devices["k1-printer"].health, 15.0)
        themes = [t.id for t in settings.hall.themes]
        for n in range(tickets + 10):  # the first 10 of each side warm up
            theme = themes[n % len(themes)]
            started = time.perf_counter()
            await service.issue_ticket(
                theme=theme, priority=None, id_number=None, channel="api", actor="bench"
            )
            core_s = time.perf_counter() - started
            started = time.perf_counter()
            result = await kiosks.issue("k1", theme=theme, priority=None, card=None, actor="bench")
            done = time.perf_counter()
            if not result["printed"]:
                failed += 1
                print(f"ticket {n}: not printed: {result['reason']}", file=sys.stderr)
                continue
            bytes_at = await asyncio.wait_for(printed.get(), 5)
            if n >= 10:
                core.append(core_s)
                at_printer.append(bytes_at - started)
                confirmed.append(done - started)
        jobs = len(printer.jobs)
    finally:
        await hub.close()
        await sim.stop()
        await kiosks.close()
        await event_log.close()
    print(f"{tickets} tickets each side (after 10 of warm-up), synchronous=FULL, PTY at 115200")
    print(f"{'ms':<28} {'calls':>6} {'p50':>8} {'p99':>8} {'max':>8} {'mean':>8}")
    print(row("core: durable issue", core))
    print(row("kiosk: bytes at the printer", at_printer))
    print(row("kiosk: print confirmed", confirmed))
    ratio = percentile(at_printer, 0.5) / percentile(core, 0.5)
    print(f"bytes at the printer p50 / durable issue p50: {ratio:.1f}x; printer jobs: {jobs}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    args = parser.parse_args()
    configure_logging(level="warning")
    with tempfile.TemporaryDirectory(prefix="hall-print-bench-") as workdir:
        return asyncio.run(run(args.tickets, Path(workdir)))


if __name__ == "__main__":
    raise SystemExit(main())
