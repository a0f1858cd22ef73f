"""Appointments through the API and at the kiosk: booking by code and by ID number (which is
never seen again), the CSV import, the roles, and the check-in printed at the kiosk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_access import signed_in
from test_api import T0, Api, Clock, resident_id, running_api
from test_kiosks import Printers

from hall_controller.app import open_hall
from hall_controller.core.bookings import AppointmentTooEarly
from hall_controller.core.errors import Conflict
from hall_controller.kiosks import KioskService
from hall_controller.settings import load_settings
from hall_controller.store import EventLog

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

SLOT = "2026-11-28T10:30"
SLOT_AT = T0 + 1800
ID_NUMBER = resident_id(date(1950, 5, 17))


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(load_settings(demo_config_path), tmp_path / "data", Clock(T0)) as api:
        yield api


async def csv_import(api: Api, text: str) -> tuple[int, Any]:
    reply = await api.request(
        "POST",
        "/api/v1/appointments/import",
        data=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    return reply.status, reply.body


# ----------------------------------------------------------------- booking


async def test_a_booking_by_code_is_listed_and_checked_in_at_the_kiosk(api: Api) -> None:
    booking = await api.post(
        "/api/v1/appointments", {"theme": "social", "slot": SLOT, "code": "ab12cd"}, expect=201
    )
    assert (booking["code"], booking["status"], booking["by_id_number"]) == (
        "AB12CD",
        "booked",
        False,
    )
    assert booking["slot_at"] == "2026-11-28T10:30:00+08:00"
    listed = await api.get("/api/v1/appointments")
    assert listed["day"] == "2026-11-28"
    assert [b["id"] for b in listed["appointments"]] == [booking["id"]]

    too_early = await api.error("POST", "/api/v1/kiosks/k1/check-in", 409, {"code": "AB12CD"})
    assert too_early["code"] == "too_early"
    assert too_early["details"]["come_back_at"] == "10:20"
    api.clock.advance(20 * 60)
    result = await api.post("/api/v1/kiosks/k1/check-in", {"code": "ab12cd"}, expect=201)
    assert result["printed"] is False  # the test hall's kiosks have no printer
    assert result["ticket"]["number"] == "A001"
    assert result["appointment"]["state"] == "done"
    assert result["appointment"]["ticket"] == "A001"
    again = await api.error("POST", "/api/v1/kiosks/k1/check-in", 409, {"code": "AB12CD"})
    assert "A001" in again["message"]
    listed = await api.get("/api/v1/appointments")
    assert listed["appointments"][0]["status"] == "checked_in"
    assert listed["appointments"][0]["ticket"] == "A001"
    await api.error("POST", "/api/v1/kiosks/k1/check-in", 404, {"code": "NOSUCH"})


async def test_refusals_name_the_problem(api: Api) -> None:
    await api.post(
        "/api/v1/appointments", {"theme": "social", "slot": SLOT, "code": "X1234"}, expect=201
    )
    dup = await api.error(
        "POST", "/api/v1/appointments", 409, {"theme": "police", "slot": SLOT, "code": "x1234"}
    )
    assert dup["details"]["field"] == "code"
    past = await api.error(
        "POST",
        "/api/v1/appointments",
        422,
        {"theme": "social", "slot": "2026-11-28T09:30", "code": "Y1234"},
    )
    assert "has passed" in past["message"]
    typo = await api.error(
        "POST", "/api/v1/appointments", 422, {"theme": "socail", "slot": SLOT, "code": "Z1234"}
    )
    assert 'did you mean "social"' in typo["message"]
    await api.error("POST", "/api/v1/appointments", 422, {"theme": "social", "slot": SLOT})
    await api.error(
        "POST", "/api/v1/appointments", 422, {"theme": "social", "slot": "soon", "code": "Q1234"}
    )


async def test_a_booking_for_a_later_day_waits_for_its_day(api: Api) -> None:
    later = await api.post(
        "/api/v1/appointments",
        {"theme": "pickup", "slot": "2026-11-30T09:15", "code": "NEXT01"},
        expect=201,
    )
    assert later["id"] == "20261130-bk001"
    assert (await api.get("/api/v1/appointments"))["appointments"] == []
    assert len((await api.get("/api/v1/appointments?day=2026-11-30"))["appointments"]) == 1
    await api.restart()  # read back from the log, not from memory
    api.clock.advance(2 * 86400 - 1800)  # 2026-11-30 09:30: the day has come
    day = await api.get("/api/v1/appointments")
    assert day["day"] == "2026-11-30"
    assert [b["code"] for b in day["appointments"]] == ["NEXT01"]
    result = await api.post("/api/v1/kiosks/k1/check-in", {"code": "NEXT01"}, expect=201)
    assert result["ticket"]["number"] == "F001"


async def test_an_id_number_is_never_stored_or_echoed(api: Api) -> None:
    booking = await api.post(
        "/api/v1/appointments",
        {"theme": "social", "slot": SLOT, "id_number": ID_NUMBER, "priority": "disabled"},
        expect=201,
    )
    assert booking["by_id_number"] is True
    assert booking["code"] is None
    await api.error(
        "POST",
        "/api/v1/appointments",
        409,
        {"theme": "social", "slot": SLOT, "id_number": ID_NUMBER},
    )
    bad = await api.error(
        "POST",
        "/api/v1/appointments",
        422,
        {"theme": "social", "slot": SLOT, "id_number": ID_NUMBER[:-1] + "0"},
    )
    assert ID_NUMBER[:10] not in bad["message"]
    await api.get("/api/v1/appointments")
    audit = await api.get("/api/v1/audit?limit=1000")
    booked = [e for e in audit["events"] if e["type"] == "AppointmentBooked"]
    assert booked[0]["actor"] != ""
    assert "person_hash" not in booked[0]["data"]
    assert api.controller is not None
    await api.controller.service._log.flush()
    stored = api.controller.service._log.events()
    assert any(r.type == "AppointmentBooked" and r.data["person_hash"] for r in stored)
    everything = "".join(r.text for r in api.replies) + repr([r.data for r in stored])
    assert ID_NUMBER not in everything
    assert ID_NUMBER[6:14] not in everything  # not even the birth date in it


async def test_a_late_arrival_gets_a_walk_in_ticket_and_a_no_show_is_recorded(api: Api) -> None:
    for code, slot in (("LATE01", SLOT), ("MISS01", SLOT)):
        await api.post(
            "/api/v1/appointments",
            {"theme": "social", "slot": slot, "code": code, "priority": "pregnant"},
            expect=201,
        )
    api.clock.advance(1800 + 15 * 60 + 5)
    result = await api.post("/api/v1/kiosks/k1/check-in", {"code": "LATE01"}, expect=201)
    assert result["appointment"]["status"] == "late"
    assert result["ticket"]["priority"] == "pregnant"
    assert api.controller is not None
    assert await api.controller.service.record_missed_appointments() == 1
    assert await api.controller.service.record_missed_appointments() == 0
    statuses = [b["status"] for b in (await api.get("/api/v1/appointments"))["appointments"]]
    assert statuses == ["late", "missed"]
    audit = await api.get("/api/v1/audit?limit=1000")
    assert [
        (e["type"], e["actor"]) for e in audit["events"] if e["type"] == "AppointmentMissed"
    ] == [("AppointmentMissed", "system")]


async def test_a_booking_is_cancelled_once(api: Api) -> None:
    booking = await api.post(
        "/api/v1/appointments", {"theme": "social", "slot": SLOT, "code": "GONE01"}, expect=201
    )
    reply = await api.request(
        "DELETE", f"/api/v1/appointments/{booking['id']}", json={"reason": "rebooked"}
    )
    assert reply.status == 200
    assert reply.body["status"] == "cancelled"
    reply = await api.request("DELETE", f"/api/v1/appointments/{booking['id']}")
    assert reply.status == 409
    reply = await api.request("DELETE", "/api/v1/appointments/nonsense")
    assert reply.status == 404
    await api.error("POST", "/api/v1/kiosks/k1/check-in", 404, {"code": "GONE01"})


# ----------------------------------------------------------------- the CSV import


async def test_a_csv_import_is_all_or_nothing_with_every_bad_row_by_line(api: Api) -> None:
    bad = (
        "theme,slot,code,id_number,priority\n"
        f"social,{SLOT},CSV001,,\n"
        f"socail,{SLOT},CSV002,,\n"
        "social,yesterday,CSV003,,\n"
        f"social,{SLOT},CSV001,,\n"
        f"police,{SLOT},,{ID_NUMBER[:-1]}0,\n"
        f"police,{SLOT},CSV006,,vip\n"
    )
    status, body = await csv_import(api, bad)
    assert status == 422
    problems = body["error"]["details"]["problems"]
    assert body["error"]["details"]["count"] == len(problems) == 5
    assert problems[0] == 'line 3: theme: unknown theme "socail"; did you mean "social"?'
    assert [p.split(":")[0:2] for p in problems] == [
        ["line 3", " theme"],
        ["line 4", " slot"],
        ["line 5", " code"],
        ["line 6", " id_number"],
        ["line 7", " priority"],
    ]
    assert ID_NUMBER[:10] not in repr(body)
    assert (await api.get("/api/v1/appointments"))["appointments"] == []

    good = (
        "theme,slot,code,id_number,priority\n"
        f"social,{SLOT},CSV001,,\n"
        f"police,2026-11-28T14:00,,{ID_NUMBER},elderly\n"
        "\n"
    )
    status, body = await csv_import(api, good)
    assert status == 201
    assert body["imported"] == 2
    assert [b["code"] for b in body["appointments"]] == ["CSV001", None]
    status, body = await csv_import(api, "theme,when\nsocial,10:30\n")
    assert status == 422
    assert body["error"]["details"]["problems"] == ["line 1: when: unknown column"]


# ----------------------------------------------------------------- roles


async def test_a_booking_system_is_a_manager_and_staff_only_read(api: Api) -> None:
    staff = await signed_in(api, "staff", window="1")
    kiosk = await signed_in(api, "kiosk", kiosk="k1")
    body = {"theme": "social", "slot": SLOT, "code": "ROLE01"}
    assert (await staff.send("POST", "/api/v1/appointments", body))[0] == 403
    assert (await kiosk.send("POST", "/api/v1/appointments", body))[0] == 403
    assert (await staff.send("GET", "/api/v1/appointments"))[0] == 200
    assert (await kiosk.send("GET", "/api/v1/appointments"))[0] == 403
    assert (await kiosk.send("POST", "/api/v1/kiosks/k2/check-in", {"code": "ROLE01"}))[0] == 403
    assert (await staff.send("DELETE", "/api/v1/appointments/20261128-bk001"))[0] == 403


# ----------------------------------------------------------------- the kiosk, with printers


@pytest.fixture
async def kiosk(
    demo_config_path: Path, tmp_path: Path
) -> AsyncIterator[tuple[KioskService, Clock, Printers, EventLog]]:
    clock = Clock(T0)
    service, log = open_hall(load_settings(demo_config_path), tmp_path / "data", lambda: clock.now)
    log.start(asyncio.get_running_loop())
    printers = Printers()
    kiosks = KioskService(service, printers)
    try:
        yield kiosks, clock, printers, log
    finally:
        await kiosks.close()
        await log.close()


async def test_a_scanned_booking_code_offers_the_check_in_and_prints_its_ticket(
    kiosk: tuple[KioskService, Clock, Printers, EventLog],
) -> None:
    kiosks, clock, printers, log = kiosk
    service = kiosks.service
    await service.book_appointments([_request(service, "ABC123")], actor="booking-system")
    async with kiosks.subscribe("k1") as events:
        kiosks.code_scanned("k1", "abc123")
        scan = await events.get()
    assert scan is not None
    assert (scan["event"], scan["kind"], scan["code"]) == ("scan", "appointment", "ABC123")
    assert scan["appointment"]["slot"] == "10:30"
    assert scan["appointment"]["state"] == "early"
    assert scan["appointment"]["come_back_at"] == "10:20"
    with pytest.raises(AppointmentTooEarly):
        await kiosks.check_in("k1", code="ABC123", card=None, actor="kiosk:k1")
    clock.advance(25 * 60)
    result = await kiosks.check_in("k1", code="ABC123", card=None, actor="kiosk:k1")
    assert result["printed"] is True
    printer, paper = printers.printed[-1]
    assert (printer, paper.number) == ("k1-printer", result["ticket"]["number"])
    with pytest.raises(Conflict):
        await kiosks.check_in("k1", code="ABC123", card=None, actor="kiosk:k1")
    await log.flush()
    types = [r.type for r in log.events()]
    assert types[-3:] == ["TicketReserved", "AppointmentCheckedIn", "TicketIssued"]
    ticket = service.current().ticket(result["ticket"]["id"])
    assert ticket.appointment_at == SLOT_AT


async def test_a_card_of_a_booked_person_offers_the_check_in_and_a_failed_print_moves_it(
    kiosk: tuple[KioskService, Clock, Printers, EventLog],
) -> None:
    kiosks, clock, printers, _ = kiosk
    service = kiosks.service
    await service.book_appointments([_request(service, None)], actor="booking-system")
    clock.advance(25 * 60)
    async with kiosks.subscribe("k1") as events:
        kiosks.resident_card("k1", id_number=ID_NUMBER, name="欧阳娜娜", valid_to="长期")
        card = await events.get()
    assert card is not None
    assert card["appointment"]["theme"] == "social"
    assert card["appointment"]["state"] == "ready"
    printers.fail_with = "paper out"
    result = await kiosks.check_in("k1", code=None, card=card["card"], actor="kiosk:k1")
    assert result["printed"] is False
    assert result["voided"] == "A001"
    assert result["ticket"]["number"] == "A002"
    assert result["ticket"]["priority"] == "elderly"  # the card's age: 76
    assert result["appointment"]["ticket"] == "A002"


def _request(service: Any, code: str | None) -> Any:
    from hall_controller.core.bookings import BookingRequest

    person = service.person_hash_of(ID_NUMBER) if code is None else None
    return BookingRequest("social", SLOT_AT, code=code, person_hash=person)
