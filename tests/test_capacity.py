"""Capacity-aware issuing as applicants and managers meet it (10.3.4): a full theme's 409 and
its offer through the API, the themes view and the manager's live hall, booking the offered
slot at a kiosk (by booking code or by ID card), the appointment slip on a simulated printer's
paper, its code scanned and checked in, and the offer after a restart.

The demo hall keeps its hours here; at 10:00 on Saturday 28 November 2026 social welfare may
give 2 tickets in its morning window and construction 1 a day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_api import T0, Api, Clock, resident_id, running_api
from test_kiosk_flow import KIOSK_KINDS, quick
from test_kiosks import Printers

from hall_controller.app import open_hall
from hall_controller.core.capacity import ThemeFull
from hall_controller.core.errors import InvalidCommand
from hall_controller.device_port import HubKioskDevices, ServiceHallPort
from hall_controller.devices.health import DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.kiosks import KioskService
from hall_controller.services import HallService
from hall_controller.settings import load_settings, validate_settings_text
from hall_controller.simulators.hall import SimulatedHall
from hall_controller.store import EventLog

from conftest import demo_config_text
from escpos_decoder import decode
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

CODE = re.compile(r"^[A-HJ-NP-Z2-9]{8}$")  # no 0/O or 1/I to misread
TOMORROW_NINE = "2026-11-29T09:00"
YOUNGER = resident_id(date(1990, 7, 15), serial="512")


def limited_text(*, devices: bool = False) -> str:
    """The demo hall keeping its hours, with social's morning quota at 2 and construction's
    daily cap at 1."""
    text = demo_config_text(enforce_opening_hours=True, devices=devices)
    quotas = 'quotas = ["09:00-12:00=180", "13:30-17:30=220"]'
    assert text.count(quotas) == 1
    assert text.count("daily_cap = 80") == 1
    text = text.replace(quotas, 'quotas = ["09:00-12:00=2", "13:30-17:30=220"]')
    return text.replace("daily_cap = 80", "daily_cap = 1")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    path = tmp_path / "hall.toml"
    path.write_text(limited_text(), encoding="utf-8")
    async with running_api(load_settings(path), tmp_path / "data", Clock(T0)) as server:
        yield server


def capacity_of(themes: list[dict[str, Any]], theme: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in themes if t["id"] == theme)["capacity"]
    return found


# ----------------------------------------------------------------- through the API


async def test_a_theme_past_its_quota_answers_409_with_a_return_time_and_today_s_slot(
    api: Api,
) -> None:
    await api.issue("social")
    await api.issue("social")
    error = await api.error("POST", "/api/v1/tickets", 409, {"theme": "social"})
    assert error["code"] == "theme_full"
    zh = "社会民生 09:00-12:00 时段的 2 个号已取完，请于 13:30 后再来取号"
    en = "Social welfare: all 2 tickets for 09:00-12:00 have been issued; tickets again from 13:30"
    assert error["message"] == f"{zh} — {en}"
    # 10:00 has begun: the next slot with room is 10:30 today (4 bookings a slot).
    slot = {"theme": "social", "day": "2026-11-28", "at": "2026-11-28T10:30+08:00"}
    assert error["details"] == {
        "theme": "social",
        "reason": "quota",
        "message_zh": zh,
        "message_en": en,
        "return_at": "13:30",
        "next_slot": {**slot, "time": "10:30", "free": 4},
    }
    # A priority applicant is served anyway.
    assert (await api.issue("social", priority="elderly"))["number"] == "A003"

    themes = await api.get("/api/v1/themes")
    social = capacity_of(themes, "social")
    assert social == {
        "full": True,
        "reason": "quota",
        "return_at": "13:30",
        "cap_left": 397,
        "quota": {"window": "09:00-12:00", "tickets": 2, "given": 3, "left": 0},
        # 3 waiting x 8 min over windows 1-4 and 12 (all closed, so all count): 4.8 min;
        # 17:30 is 450 minutes away.
        "workload": {
            "waiting": 3,
            "windows": 5,
            "work_min": 5,
            "left_min": 450,
            "margin_min": 30,
        },
        "next_slot": {**slot, "time": "10:30", "free": 4},
    }
    police = capacity_of(themes, "police")
    assert (police["full"], police["quota"], police["next_slot"]) == (False, None, None)
    assert police["cap_left"] == 300
    # Pick-up weighs no workload and offers no slots (the demo's workload_check = false).
    assert capacity_of(themes, "pickup")["workload"] is None

    # The manager's live hall shows the same figures.
    overview = await api.get("/api/v1/overview")
    lines = {t["id"]: t["capacity"] for t in overview["themes"]}
    assert lines["social"]["quota"] == {
        "window": "09:00-12:00",
        "tickets": 2,
        "given": 3,
        "left": 0,
    }
    assert (lines["social"]["full"], lines["social"]["reason"]) == (True, "quota")
    assert lines["construction"]["cap_left"] == 1


async def test_a_theme_out_of_numbers_offers_tomorrow_and_a_kiosk_books_the_slot(api: Api) -> None:
    await api.issue("construction")
    error = await api.error("POST", "/api/v1/tickets", 409, {"theme": "construction"})
    details = error["details"]
    assert (details["reason"], details["return_at"]) == ("daily_cap", None)
    assert details["message_zh"] == "投资建设今日 1 个号已全部取完"
    assert details["next_slot"]["at"] == "2026-11-29T09:00+08:00"
    # Also at a kiosk (this test hall's kiosks have no printer).
    at_kiosk = await api.error("POST", "/api/v1/kiosks/k1/tickets", 409, {"theme": "construction"})
    assert at_kiosk["details"]["next_slot"] == details["next_slot"]

    booked = await api.post(
        "/api/v1/kiosks/k1/appointments",
        {"theme": "construction", "slot": TOMORROW_NINE},
        expect=201,
    )
    booking = booked["appointment"]
    assert CODE.match(booking["code"])
    assert (booking["day"], booking["slot_at"]) == ("2026-11-29", "2026-11-29T09:00:00+08:00")
    assert (booking["channel"], booking["by_id_number"], booking["status"]) == (
        "kiosk",
        False,
        "booked",
    )
    # Ten minutes before the slot, but not before the hall opens at 09:00.
    assert booked["check_in_from"] == "09:00"
    assert (booked["printed"], booked["reason"]) == (False, "this kiosk has no printer")
    listed = await api.get("/api/v1/appointments?day=2026-11-29")
    assert [b["code"] for b in listed["appointments"]] == [booking["code"]]

    for _ in range(3):
        await api.post(
            "/api/v1/kiosks/k1/appointments",
            {"theme": "construction", "slot": TOMORROW_NINE},
            expect=201,
        )
    taken = await api.error(
        "POST",
        "/api/v1/kiosks/k1/appointments",
        409,
        {"theme": "construction", "slot": TOMORROW_NINE},
    )
    assert taken["code"] == "slot_full"
    themes = await api.get("/api/v1/themes")
    assert capacity_of(themes, "construction")["next_slot"]["time"] == "09:30"

    for slot, field in (
        ("2026-11-29T09:10", "slot"),  # not on the grid
        ("2026-11-28T09:00", "slot"),  # passed
        ("2026-12-06T09:00", "slot"),  # beyond the 7 days looked at
    ):
        refused = await api.error(
            "POST", "/api/v1/kiosks/k1/appointments", 422, {"theme": "construction", "slot": slot}
        )
        assert refused["details"]["field"] == field, refused
    refused = await api.error(
        "POST", "/api/v1/kiosks/k1/appointments", 422, {"theme": "pickup", "slot": TOMORROW_NINE}
    )
    assert "offers no appointment slots" in refused["message"]

    # Tomorrow's bookings are read back from the log after a restart: 09:00 stays full.
    await api.restart()
    themes = await api.get("/api/v1/themes")
    assert capacity_of(themes, "construction")["next_slot"]["time"] == "09:30"


# ----------------------------------------------------------------- at the kiosk, with a card


@dataclasses.dataclass
class Rig:
    clock: Clock
    service: HallService
    log: EventLog
    kiosks: KioskService
    printers: Printers

    async def card(self, id_number: str) -> dict[str, Any]:
        async with self.kiosks.subscribe("k1") as queue:
            self.kiosks.resident_card("k1", id_number=id_number, name="李四", valid_to="长期")
            card = await asyncio.wait_for(queue.get(), 2)
        assert card is not None
        return card


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    settings = validate_settings_text(limited_text(), str(tmp_path / "hall.toml"))
    clock = Clock(T0)
    service, event_log = open_hall(settings, tmp_path / "data", lambda: clock.now)
    event_log.start(asyncio.get_running_loop())
    printers = Printers()
    kiosks = KioskService(service, printers)
    try:
        yield Rig(clock, service, event_log, kiosks, printers)
    finally:
        await kiosks.close()
        await event_log.close()


async def test_a_card_read_at_a_full_theme_books_the_slot_by_its_hash_and_checks_in_with_it(
    rig: Rig,
) -> None:
    await rig.service.issue_ticket(
        theme="construction", priority=None, id_number=None, channel="api", actor="t"
    )
    card = await rig.card(YOUNGER)
    with pytest.raises(ThemeFull) as refused:
        await rig.kiosks.issue(
            "k1", theme="construction", priority=None, card=card["card"], actor="k"
        )
    slot = refused.value.next_slot
    assert slot is not None
    assert (slot.day, slot.start) == ("2026-11-29", "09:00")

    # The card reading was not spent by the refusal: it books the slot offered.
    result = await rig.kiosks.book_slot(
        "k1", theme="construction", slot_at=slot.at, card=card["card"], actor="k"
    )
    booking = result["appointment"]
    assert (booking["by_id_number"], booking["code"]) == (True, None)
    assert (result["printed"], result["printer"]) == (True, "k1-printer")
    printer, paper = rig.printers.printed[-1]
    assert printer == "k1-printer"
    assert paper.theme_name == "投资建设 · 预约凭条"
    assert paper.number == "11月29日 09:00"
    assert (paper.time_label, paper.issued_at) == ("预约时段", "2026-11-29 09:00-09:30")
    assert paper.qr_url is None  # the ID card is the key: no code to scan
    assert paper.footer.splitlines() == [
        "请于 09:00 起到自助机刷身份证签到",
        "超过预约时间 15 分钟，按现场取号办理",
    ]
    await rig.log.flush()
    assert YOUNGER not in str([e.data for e in rig.log.events(day="2026-11-29")])
    # Now the reading is spent.
    with pytest.raises(InvalidCommand, match="read it again"):
        await rig.kiosks.book_slot(
            "k1", theme="construction", slot_at=slot.at + 1800, card=card["card"], actor="k"
        )

    # Tomorrow at 09:01 the same card finds the booking and checks it in.
    rig.clock.now = T0 + 86400 - 3540
    again = await rig.card(YOUNGER)
    assert again["appointment"]["state"] == "ready"
    checked = await rig.kiosks.check_in("k1", code=None, card=again["card"], actor="k")
    assert checked["ticket"]["number"] == "E001"
    assert checked["appointment"]["state"] == "done"


async def test_an_elderly_card_is_served_past_a_quota_and_a_slip_carries_its_code(rig: Rig) -> None:
    for _ in range(2):
        await rig.service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="api", actor="t"
        )
    elder = await rig.card(resident_id(date(1950, 3, 1)))
    issued = await rig.kiosks.issue(
        "k1", theme="social", priority=None, card=elder["card"], actor="k"
    )
    assert (issued["ticket"]["number"], issued["ticket"]["priority"]) == ("A003", "elderly")

    with pytest.raises(ThemeFull) as refused:
        await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    slot = refused.value.next_slot
    assert slot is not None
    result = await rig.kiosks.book_slot("k1", theme="social", slot_at=slot.at, card=None, actor="k")
    code = result["appointment"]["code"]
    assert CODE.match(code)
    paper = rig.printers.printed[-1][1]
    assert (paper.qr_url, paper.qr_caption) == (code, "签到时请在自助机扫描此码")
    assert paper.footer.splitlines()[:2] == [f"预约码：{code}", "请于 10:20 起到自助机扫描此码签到"]


# ----------------------------------------------------------------- on paper, over PTYs


@pytest.fixture
async def paper_rig(
    tmp_path: Path,
) -> AsyncIterator[tuple[Clock, HallService, KioskService, SimulatedHall]]:
    """The kiosk devices of the demo hall on PTYs (as in test_kiosk_flow), its clock at T0."""
    settings = validate_settings_text(limited_text(devices=True), str(tmp_path / "hall.toml"))
    devices = tuple(quick(d) for d in settings.devices if d.profile.kind in KIOSK_KINDS)
    settings = dataclasses.replace(settings, devices=devices, mqtt=None)
    data_dir = tmp_path / "data"
    clock = Clock(T0)
    service, event_log = open_hall(settings, data_dir, lambda: clock.now)
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
        yield clock, service, kiosks, sim
    finally:
        await hub.close()
        await sim.stop()
        await kiosks.close()
        await event_log.close()


async def test_a_full_theme_s_slot_is_booked_its_slip_printed_scanned_and_checked_in(
    paper_rig: tuple[Clock, HallService, KioskService, SimulatedHall],
) -> None:
    clock, service, kiosks, sim = paper_rig
    for _ in range(2):
        await service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="api", actor="t"
        )
    with pytest.raises(ThemeFull) as refused:
        await kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    slot = refused.value.next_slot
    assert slot is not None
    assert slot.start == "10:30"

    result = await kiosks.book_slot("k1", theme="social", slot_at=slot.at, card=None, actor="k")
    assert result["printed"] is True
    code = result["appointment"]["code"]
    printer = sim.printer("k1-printer")
    paper = decode(
        printer.jobs[-1].data, printer.encoding, chinese_at_start=printer.chinese_at_start
    )
    texts = paper.texts
    assert "社会民生 · 预约凭条" in texts
    assert paper.line("11月28日 10:30").width >= 3  # the slot, large
    assert "预约时段：2026-11-28 10:30-11:00" in texts
    assert f"预约码：{code}" in texts
    assert "签到时请在自助机扫描此码" in texts
    assert [qr.payload for qr in paper.qr_codes] == [code]
    assert paper.cut

    # The slip's QR code scanned at the kiosk shows the booking; from 10:20 it checks in,
    # and its ticket is printed though the morning's quota is used up.
    async with kiosks.subscribe("k1") as events:
        await sim.scan("k1-scanner", paper.qr_codes[0].payload)
        async with asyncio.timeout(10):
            event = await events.get()
    assert event is not None
    assert (event["event"], event["kind"]) == ("scan", "appointment")
    assert event["appointment"]["state"] == "early"
    clock.now = T0 + 21 * 60
    checked = await kiosks.check_in("k1", code=code, card=None, actor="k")
    assert (checked["printed"], checked["ticket"]["number"]) == (True, "A003")
    ticket = decode(
        printer.jobs[-1].data, printer.encoding, chinese_at_start=printer.chinese_at_start
    )
    assert ticket.line("A003").width >= 4


async def test_during_an_emergency_a_kiosk_gives_no_number_but_still_books_a_later_slot(
    api: Api,
) -> None:
    await api.post("/api/v1/emergency", {"message": "消防演练", "drill": True})

    refused = await api.error("POST", "/api/v1/kiosks/k1/tickets", 409, {"theme": "construction"})
    assert refused["code"] == "emergency"
    booked = await api.post(
        "/api/v1/kiosks/k1/appointments",
        {"theme": "construction", "slot": TOMORROW_NINE},
        expect=201,
    )
    assert booked["appointment"]["status"] == "booked"  # as POST /api/v1/appointments would
