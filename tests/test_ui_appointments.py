"""An appointment checked in at the kiosk in Chromium: the scanned code, one tap, the paper."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect
from test_api import Api
from test_kiosks import Printers
from test_ui_kiosk import kiosks_of, open_kiosk

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def test_a_scanned_booking_code_offers_the_check_in_and_prints_its_ticket(
    served_hall: Api, screens: Screens
) -> None:
    printers = Printers()
    kiosks_of(served_hall).devices = printers
    await served_hall.post(
        "/api/v1/appointments",
        {"theme": "social", "slot": "2026-11-28T10:05", "code": "KIOSK1"},
        expect=201,
    )
    later = {"theme": "police", "slot": "2026-11-28T11:30", "code": "LATER1"}
    await served_hall.post("/api/v1/appointments", later, expect=201)
    page = await open_kiosk(screens, served_hall)

    kiosks_of(served_hall).code_scanned("k1", "later1")
    await expect(page.locator("#booking")).to_have_text(
        "预约 11:30 公安专项 Appointment 11:30 Public security"
    )
    await expect(page.locator("#booking-state")).to_have_text(
        "请于 11:20 后签到 Please check in from 11:20"
    )
    await expect(page.locator('[data-key="check-in"]')).to_have_count(0)
    await page.locator('[data-key="back"]').click()

    kiosks_of(served_hall).code_scanned("k1", "kiosk1")
    await expect(page.locator("#title")).to_have_text("预约签到 Appointment check-in")
    await expect(page.locator("#booking")).to_have_text(
        "预约 10:05 社会民生 Appointment 10:05 Social welfare"
    )
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-appointment")
    await page.locator('[data-key="lang-en"]').click()
    await expect(page.locator("#booking")).to_have_text(
        "Appointment 10:05 Social welfare 预约 10:05 社会民生"
    )
    await screens.screenshot(page, "kiosk-appointment-en")
    await page.locator('[data-key="elderly"]').click()
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-appointment-elderly")

    await page.locator('[data-key="check-in"]').click()
    await expect(page.locator("#title")).to_have_text("Please take your ticket 请取走号票")
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    assert [paper.number for _, paper in printers.printed] == ["A001"]
    listed = await served_hall.get("/api/v1/appointments")
    assert [(b["code"], b["status"], b["ticket"]) for b in listed["appointments"]] == [
        ("KIOSK1", "checked_in", "A001"),
        ("LATER1", "booked", None),
    ]
