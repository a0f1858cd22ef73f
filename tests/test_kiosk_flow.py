"""A kiosk end to end: card on the reader, ticket on paper, QR scanned, paper out, over PTYs.

The controller's real adapters (ESC/POS printer, SAM ID card reader, serial scanner) talk to
the simulated devices over PTY pairs; what the printer received is read back with the tests'
own ESC/POS decoder.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hall_controller.app import open_hall
from hall_controller.device_port import HubKioskDevices, ServiceHallPort
from hall_controller.devices.health import DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.kiosks import KioskService
from hall_controller.profiles import DeviceConfig, EscposSettings
from hall_controller.services import HallService
from hall_controller.settings import validate_settings_text
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.simulators.idcard_reader import synthetic_card
from hall_controller.store import EventLog

from conftest import demo_config_text
from escpos_decoder import decode
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

KIOSK_KINDS = {"ticket_printer", "card_reader", "code_scanner"}


@dataclasses.dataclass
class Kiosks:
    service: HallService
    log: EventLog
    hub: DeviceHub
    kiosks: KioskService
    sim: SimulatedHall

    async def card_token(self, kiosk: str, reader: str, birth: date) -> dict[str, Any]:
        async with self.kiosks.subscribe(kiosk) as events:
            await self.sim.place_card(reader, synthetic_card(7, birth=birth, name="欧阳娜娜"))
            try:
                async with asyncio.timeout(10):
                    while True:
                        event = await events.get()
                        assert event is not None
                        if event["event"] == "card":
                            return event
            finally:
                await self.sim.remove_card(reader)

    def printed(self, printer: str) -> Any:
        sim = self.sim.printer(printer)
        job = sim.jobs[-1]
        return decode(job.data, sim.encoding, chinese_at_start=sim.chinese_at_start)


def quick(config: DeviceConfig) -> DeviceConfig:
    """The device with a printer's status poll and print deadline cut short for the tests."""
    profile = config.profile
    if not isinstance(profile.codec, EscposSettings):
        return config
    codec = dataclasses.replace(profile.codec, print_timeout_s=1.5)
    timeouts = dataclasses.replace(profile.timeouts, ping_every_s=0.3)
    return dataclasses.replace(
        config, profile=dataclasses.replace(profile, codec=codec, timeouts=timeouts)
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Kiosks]:
    settings = validate_settings_text(demo_config_text(devices=True), str(tmp_path / "hall.toml"))
    devices = tuple(quick(d) for d in settings.devices if d.profile.kind in KIOSK_KINDS)
    settings = dataclasses.replace(settings, devices=devices, mqtt=None)
    data_dir = tmp_path / "data"
    service, event_log = open_hall(settings, data_dir)
    event_log.start(asyncio.get_running_loop())
    kiosks = KioskService(service)
    sim = SimulatedHall(
        devices, hall_id=settings.hall.id, data_dir=data_dir, mqtt_host=None, mqtt_port=None
    )
    await sim.start()
    hub = DeviceHub(
        devices, ServiceHallPort(service, kiosks=kiosks), data_dir=data_dir, hall_id="t"
    )
    kiosks.devices = HubKioskDevices(hub)
    service.watchers.append(hub.hall_changed)
    await hub.start()
    try:
        await eventually(
            lambda: all(d.health.state is DeviceState.READY for d in hub.devices.values()),
            "every kiosk device ready",
            within=15,
        )
        yield Kiosks(service, event_log, hub, kiosks, sim)
    finally:
        await hub.close()
        await sim.stop()
        await kiosks.close()
        await event_log.close()


async def test_an_elderly_applicant_s_card_gives_a_printed_priority_ticket(rig: Kiosks) -> None:
    card = await rig.card_token("k1", "k1-idcard", date(1948, 6, 1))
    assert card["ok"] is True
    assert card["name"] == "欧**娜"
    assert card["priority"] == "elderly"

    result = await rig.kiosks.issue(
        "k1", theme="social", priority=None, card=card["card"], actor="kiosk:k1"
    )
    assert result["printed"] is True
    ticket = result["ticket"]
    assert (ticket["number"], ticket["priority"], ticket["status"]) == (
        "A001",
        "elderly",
        "waiting",
    )

    paper = rig.printed("k1-printer")
    assert paper.line("A001").width >= 4  # the number, very large
    assert any("广州市天河区政务服务中心" in text for text in paper.texts)
    assert any("社会民生" in text for text in paper.texts)
    assert any("老年人" in text for text in paper.texts)
    link = rig.service.ticket_link(ticket["id"])
    assert [qr.payload for qr in paper.qr_codes] == [f"http://127.0.0.1:8080/t/{link}"]
    assert paper.cut
    # The device's health shows frames, never the card's personal data.
    health = str(rig.hub.health())
    assert "欧阳" not in health
    assert rig.sim.serial["k1-idcard"].peer.view()["reads"] == 1


async def test_a_printer_out_of_paper_voids_nothing_and_sends_applicants_to_kiosk_two(
    rig: Kiosks,
) -> None:
    rig.sim.set_paper("k1-printer", "out")
    printer = rig.hub.printers["k1-printer"]
    await eventually(lambda: printer.paper == "out", "the status poll sees no paper", within=10)
    view = rig.kiosks.view("k1")
    assert view["printer"]["can_print"] is False
    assert [p["kiosk"] for p in view["other_printers"]] == ["k2"]
    result = await rig.kiosks.issue("k1", theme="police", priority=None, card=None, actor="k")
    assert result["printed"] is False
    assert result["other_printers"][0]["kiosk"] == "k2"
    # At kiosk 2 (58 mm, GBK) the next applicant gets paper.
    at_two = await rig.kiosks.issue("k2", theme="police", priority=None, card=None, actor="k")
    assert at_two["printed"] is True
    assert rig.printed("k2-printer").line(at_two["ticket"]["number"]).width >= 2


async def test_paper_running_out_during_a_print_voids_that_number_for_good(
    rig: Kiosks,
) -> None:
    sim = rig.sim.printer("k1-printer")
    sim.set_jammed(True)  # the status still says fine, but nothing is confirmed
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    assert result["printed"] is False
    assert result["voided"] == "A001"
    assert result["ticket"]["number"] == "A002"
    hall = rig.service.current()
    assert hall.ticket("A001").status.value == "voided"
    await rig.log.flush()
    types = [e.type for e in rig.log.events()]
    assert types == ["TicketReserved", "TicketVoided", "TicketIssued"]


async def test_a_scanned_ticket_qr_reaches_the_kiosk_screen(rig: Kiosks) -> None:
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    url = rig.service.status_url(result["ticket"]["id"])
    assert url.startswith(f"http://127.0.0.1:8080/t/{result['ticket']['id']}.")
    async with rig.kiosks.subscribe("k1") as events:
        await rig.sim.scan("k1-scanner", url)
        async with asyncio.timeout(10):
            event = await events.get()
    assert event is not None
    assert event["event"] == "scan"
    assert event["kind"] == "ticket"
    assert event["ticket"]["number"] == "A001"
