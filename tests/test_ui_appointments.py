"""Appointments (预约) in Chromium. At the kiosk: the scanned code, one tap, the paper. On the
manager tablet: a day's bookings with their states and counts, followed live through a check-in
at a kiosk, a late one and a missed one; cancelling with a reason, booking by hand, another day,
the CSV import (all or nothing), both languages."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import FilePayload, Locator, Page, expect
from test_api import Api, resident_id
from test_kiosks import Printers
from test_ui_kiosk import kiosks_of, open_kiosk
from test_ui_manager import MIN_TARGET_PX, choose_reason, open_tablet

from hall_controller.web import api as web_api

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

MINUTE = 60.0
ID_NUMBER = resident_id(date(1950, 5, 17))  # synthetic
CSV_HEADER = "theme,slot,code,id_number,priority\n"


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


# ----------------------------------------------------------------- the manager tablet


async def book(hall: Api, theme: str, slot: str, **more: str) -> dict[str, Any]:
    """A booking made through the API, as a booking system makes it."""
    booking: dict[str, Any] = await hall.post(
        "/api/v1/appointments", {"theme": theme, "slot": slot, **more}, expect=201
    )
    return booking


async def open_appointments(hall: Api, screens: Screens) -> Page:
    page = await open_tablet(hall, screens)
    await page.locator("#tab-appointments").click()
    await expect(page.locator("#panel-appointments")).to_be_visible()
    return page


def row(page: Page, code: str) -> Locator:
    return page.locator("#booking-rows tr", has=page.locator(".booking-code", has_text=code))


def count(page: Page, state: str) -> Locator:
    return page.locator(f'#booking-counts [data-count="{state}"] dd')


async def expect_counts(page: Page, **counts: int) -> None:
    for state, value in counts.items():
        await expect(count(page, state)).to_have_text(str(value))


async def small_targets(page: Page) -> list[str]:
    """Every visible control of the tab under MIN_TARGET_PX either way (date, time and file
    fields included), with its size."""
    found: list[str] = await page.evaluate(
        """(minimum) => {
            const controls = document.querySelectorAll(
                "button, select, input:not([type=radio]):not([type=checkbox]), label.preset");
            return [...controls]
                .filter((c) => c.checkVisibility())
                .map((c) => [c.id || c.textContent.trim(), c.getBoundingClientRect()])
                .filter(([, r]) => r.width < minimum || r.height < minimum)
                .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`);
        }""",
        MIN_TARGET_PX,
    )
    return found


async def choose_file(page: Page, text: str) -> None:
    chosen: FilePayload = {"name": "bookings.csv", "mimeType": "text/csv", "buffer": text.encode()}
    await page.locator("#import-file").set_input_files(files=[chosen])


async def test_the_days_bookings_follow_check_ins_live_and_a_booking_is_cancelled_with_a_reason(
    served_hall: Api, screens: Screens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state repeated every 10 s re-reads the open tab too: without it, only the events
    # themselves can bring the changes below to the tablet.
    monkeypatch.setattr(web_api, "STATE_INTERVAL_S", 3600.0)
    await book(served_hall, "social", "2026-11-28T10:30", code="ab12cd")
    await book(served_hall, "police", "2026-11-28T11:00", id_number=ID_NUMBER, priority="elderly")
    await book(served_hall, "social", "2026-11-28T10:30", code="LATE01", priority="pregnant")
    await book(served_hall, "pickup", "2026-11-28T10:45", code="GONE01")
    await book(served_hall, "registration", "2026-11-28T10:15", code="MISS01")
    await book(served_hall, "pickup", "2026-11-30T09:15", code="NEXT01")

    page = await open_appointments(served_hall, screens)
    rows = page.locator("#booking-rows tr")
    await expect(rows.locator("th")).to_have_text(["10:15", "10:30", "10:30", "10:45", "11:00"])
    await expect(rows.locator(".booking-code")).to_have_text(
        ["MISS01", "AB12CD", "LATE01", "GONE01", "身份证预约 by ID card"]
    )
    card = rows.nth(4)
    await expect(card.locator("td").nth(0)).to_have_text("公安专项 Public security")
    await expect(card.locator(".tag.priority")).to_have_text("老年人 Elderly")
    await expect(card.locator("td").nth(3)).to_have_text("预约接口 Booking API")
    await expect(card.locator(".booking-state")).to_have_text("○ 已预约 Booked")
    assert ID_NUMBER[6:14] not in await page.content()  # not even the birth date
    await expect_counts(page, all=5, booked=5, checked_in=0, late=0, missed=0, cancelled=0)

    # Live: the applicant checks in at kiosk k1 ten minutes before the slot.
    served_hall.clock.advance(20 * MINUTE)
    checked = await served_hall.post("/api/v1/kiosks/k1/check-in", {"code": "AB12CD"}, expect=201)
    assert checked["ticket"]["number"] == "A001"
    await expect(row(page, "AB12CD").locator(".booking-state .words")).to_have_text(
        "已签到 · A001 Checked in · A001"
    )
    await expect(row(page, "AB12CD")).to_have_attribute("data-status", "checked_in")
    await expect(row(page, "AB12CD").locator("button")).to_have_count(0)
    await expect_counts(page, booked=4, checked_in=1)

    # Past the late window: one comes late (a walk-in ticket), one never comes.
    served_hall.clock.advance(25 * MINUTE + 5)
    await served_hall.post("/api/v1/kiosks/k1/check-in", {"code": "LATE01"}, expect=201)
    await expect(row(page, "LATE01").locator(".booking-state .words")).to_have_text(
        "迟到签到 · A002（按普通号） Late · A002 (as a walk-in)"
    )
    await expect(row(page, "MISS01").locator(".booking-state .words")).to_have_text("已预约 Booked")
    assert served_hall.controller is not None
    assert await served_hall.controller.service.record_missed_appointments() == 1
    await expect(row(page, "MISS01").locator(".booking-state .words")).to_have_text("未到 Missed")
    await expect_counts(page, booked=2, checked_in=1, late=1, missed=1)

    # Cancelled with a reason from the tablet's reason dialog.
    await row(page, "GONE01").locator('button[data-booking-action="cancel"]').click()
    await expect(page.locator("#action-title")).to_contain_text("取消预约 10:45 GONE01")
    await choose_reason(page, "申请人改约", "取消预约 Cancel the booking")
    await expect(row(page, "GONE01").locator(".booking-state .words")).to_have_text(
        "已取消 Cancelled"
    )
    await expect(page.locator("#message")).to_have_text(
        "已取消预约 10:45 GONE01 Booking 10:45 GONE01 cancelled"
    )
    await expect_counts(page, all=5, booked=1, checked_in=1, late=1, missed=1, cancelled=1)
    listed = await served_hall.get("/api/v1/appointments")
    assert [b["status"] for b in listed["appointments"]] == [
        "missed",
        "checked_in",
        "late",
        "cancelled",
        "booked",
    ]
    audit = await served_hall.get("/api/v1/audit?limit=1000")
    [cancelled] = [e for e in audit["events"] if e["type"] == "AppointmentCancelled"]
    assert (cancelled["actor"], cancelled["data"]["reason"]) == (
        "manager:wang.li",
        "申请人改约 Applicant rebooked",
    )
    assert await small_targets(page) == []
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-appointments")

    # Booked by hand: a code already booked today is refused in the controller's words.
    submit = page.locator("#book-submit")
    await expect(submit).to_be_disabled()
    await page.locator("#book-theme").select_option("police")
    await page.locator("#book-time").fill("14:30")
    await page.locator("#book-code").fill("ab1")
    await expect(page.locator("#book-problem")).to_contain_text("预约码为 4–32 位字母或数字")
    await expect(submit).to_be_disabled()
    await page.locator("#book-code").fill("ab12cd")
    await submit.click()
    await expect(page.locator("#message")).to_have_text(
        "未执行：this booking code is already booked today "
        "Not done: this booking code is already booked today"
    )
    await page.locator("#book-code").fill("hand01")
    await page.locator("#book-priority").select_option("pregnant")
    await submit.click()
    await expect(page.locator("#message")).to_have_text(
        "已预约 11-28 14:30 HAND01 Booked 11-28 14:30 HAND01"
    )
    await expect(rows.locator("th")).to_have_text(
        ["10:15", "10:30", "10:30", "10:45", "11:00", "14:30"]
    )
    await expect(row(page, "HAND01").locator(".tag.priority")).to_have_text("孕妇 Pregnant")
    await expect(page.locator("#book-code")).to_have_value("")
    listed = await served_hall.get("/api/v1/appointments")
    assert [b["code"] for b in listed["appointments"]][-1] == "HAND01"

    # Another day: the day after tomorrow has its own bookings.
    await page.locator("#booking-days label.preset", has_text="11-30").click()
    await expect(page.locator("#booking-day-title")).to_have_text(
        "2026-11-30 的预约 Bookings on 2026-11-30"
    )
    await expect(rows.locator(".booking-code")).to_have_text(["NEXT01"])
    await expect_counts(page, all=1, booked=1)
    await page.locator("#booking-days label.preset", has_text="今天").click()
    await expect(rows).to_have_count(6)

    await page.locator("#lang").click()
    await expect(page.locator("#tab-appointments")).to_have_text("Appointments 预约")
    await expect(row(page, "AB12CD").locator(".booking-state .words")).to_have_text(
        "Checked in · A001 已签到 · A001"
    )
    await expect(page.locator("#booking-counts [data-count='missed'] dt")).to_have_text(
        "✖ Missed 未到"
    )
    assert await small_targets(page) == []
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-appointments-en")


async def test_a_csv_import_names_every_refused_line_and_books_nothing_until_all_pass(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_appointments(served_hall, screens)
    await expect(page.locator("#bookings-none")).to_be_visible()
    submit = page.locator("#import-submit")
    await expect(submit).to_be_disabled()  # no file chosen yet

    await choose_file(
        page,
        CSV_HEADER
        + "social,2026-11-28T10:30,CSV001,,\n"
        + "socail,2026-11-28T10:30,CSV002,,\n"
        + "police,2026-11-28T11:00,CSV003,,vip\n",
    )
    await submit.click()
    problems = page.locator("#import-problems li")
    await expect(problems).to_have_count(2)
    await expect(page.locator('#import-problems li[data-line="3"]')).to_have_text(
        'line 3: theme: unknown theme "socail"; did you mean "social"?'
    )
    await expect(page.locator('#import-problems li[data-line="4"]')).to_contain_text(
        'line 4: priority: unknown priority group "vip"'
    )
    await expect(page.locator("#import-summary")).to_have_text(
        "✖ 2 行未通过，未导入任何预约： 2 row(s) refused; nothing was imported:"
    )
    await expect(page.locator("#import-result")).to_have_attribute("data-outcome", "refused")
    assert (await served_hall.get("/api/v1/appointments"))["appointments"] == []
    await expect(page.locator("#booking-rows tr")).to_have_count(0)
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-appointments-import-refused")

    await choose_file(
        page,
        CSV_HEADER
        + "social,2026-11-28T10:30,CSV001,,\n"
        + f"police,2026-11-28T11:00,,{ID_NUMBER},elderly\n",
    )
    await submit.click()
    await expect(page.locator("#import-summary")).to_have_text(
        "✔ 已导入 2 个预约 2 booking(s) imported"
    )
    await expect(problems).to_have_count(0)
    await expect(page.locator("#message")).to_have_text("已导入 2 个预约 2 booking(s) imported")
    await expect(page.locator("#booking-rows tr .booking-code")).to_have_text(
        ["CSV001", "身份证预约 by ID card"]
    )
    await expect_counts(page, all=2, booked=2)
    listed = await served_hall.get("/api/v1/appointments")
    assert [b["code"] for b in listed["appointments"]] == ["CSV001", None]
    assert ID_NUMBER[6:14] not in await page.content()
    await expect(submit).to_be_disabled()  # the file was sent: choose another one to import
    assert await small_targets(page) == []
    await screens.screenshot(page, "manager-appointments-import")
