"""A full theme at the kiosk in Chromium: the theme button says so before the tap, the tap shows
what it offers (a return time, the next appointment slot), and one more tap books the slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect
from test_api import T0, Api, Clock, resident_id, running_api
from test_capacity import CODE, limited_text
from test_kiosks import Printers
from test_ui_kiosk import SMALLEST_TARGET_PX, SMALLEST_TEXT_PX, kiosks_of, open_kiosk, theme

from hall_controller.settings import load_settings

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

YOUNGER = resident_id(date(1990, 7, 15), serial="512")


@pytest.fixture
async def full_hall(tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall keeping its hours at 10:00: social's morning quota 2, construction's cap 1,
    both used up."""
    path = tmp_path / "hall.toml"
    path.write_text(limited_text(), encoding="utf-8")
    async with running_api(load_settings(path), tmp_path / "data", Clock(T0)) as server:
        for theme_id in ("social", "social", "construction"):
            await server.issue(theme_id)
        yield server


async def test_a_full_theme_offers_tomorrow_s_slot_and_books_it_with_the_card(
    full_hall: Api, screens: Screens
) -> None:
    printers = Printers()
    kiosks_of(full_hall).devices = printers
    page = await open_kiosk(screens, full_hall)

    # Before the tap: the button says it is full, and why in words; it still takes a tap.
    construction = theme(page, "construction")
    await expect(construction).to_have_attribute("data-full", "daily_cap")
    await expect(construction).not_to_have_attribute("aria-disabled", "true")
    await expect(construction.locator(".theme-why")).to_have_text(
        "今日已满 · 可预约 Full today · appointments open"
    )
    await expect(theme(page, "social").locator(".theme-why")).to_have_text(
        "本时段已满 · 13:30 后可取号 · 可预约 Full for now · tickets from 13:30 · appointments open"
    )

    kiosks_of(full_hall).resident_card("k1", id_number=YOUNGER, name="李四", valid_to="长期")
    await expect(page.locator("#card")).to_have_attribute("data-card", "read")
    await construction.click()
    await expect(page.locator("#title")).to_have_text("今日已满 Full today")
    await expect(page.locator("#full-why")).to_have_text(
        "投资建设今日 1 个号已全部取完 "
        "Investment and construction (投资建设) has issued all 1 tickets of today"
    )
    await expect(page.locator("#full-return")).to_have_count(0)  # no more tickets today
    await expect(page.locator("#full-slot")).to_have_text(
        "可预约：11月29日 09:00 Next appointment: 29 Nov 09:00"
    )
    await expect(page.locator("#full-card")).to_be_visible()  # the card is still read
    assert len(await full_hall.get("/api/v1/tickets")) == 3
    assert await page.evaluate(SMALLEST_TARGET_PX) >= 48
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-full")

    await page.locator('[data-key="lang-en"]').click()
    await expect(page.locator("#title")).to_have_text("Full today 今日已满")
    await expect(page.locator('[data-key="book"]')).to_have_text("Book this slot 预约")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-full-en")

    # Elderly mode: the same offer in large text.
    await page.locator('[data-key="elderly"]').click()
    await expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    await expect(page.locator("#full-slot")).to_be_visible()
    assert await page.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-full-elderly")

    await page.locator('[data-key="book"]').click()
    await expect(page.locator("#title")).to_have_text(
        "Please take your appointment slip 请取走预约凭条"
    )
    await expect(page.locator("#booked-slot")).to_have_text(
        "29 Nov 09:00 Investment and construction 11月29日 09:00 投资建设"
    )
    await expect(page.locator("#booked-check-in")).to_have_text(
        "Check in at a kiosk on 29 Nov from 09:00: swipe your ID card "
        "请于11月29日 09:00 起到自助机刷身份证签到"
    )
    await expect(page.locator("#booking-code")).to_have_count(0)  # the ID card is the key
    assert await page.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-booked-elderly-en")

    listed = await full_hall.get("/api/v1/appointments?day=2026-11-29")
    [booking] = listed["appointments"]
    assert (booking["theme"], booking["by_id_number"], booking["channel"]) == (
        "construction",
        True,
        "kiosk",
    )
    assert [paper.theme_name for _, paper in printers.printed] == ["投资建设 · 预约凭条"]
    assert YOUNGER not in await page.locator("body").inner_text()


async def test_a_theme_past_its_quota_says_when_to_come_back_and_shows_the_booking_code(
    full_hall: Api, screens: Screens
) -> None:
    page = await open_kiosk(screens, full_hall)
    await theme(page, "social").click()
    await expect(page.locator("#title")).to_have_text("本时段已满 Full for now")
    await expect(page.locator("#full-return")).to_have_text(
        "请于 13:30 后再来取号 Come back for a ticket from 13:30"
    )
    await expect(page.locator("#full-slot")).to_have_text(
        "可预约：今天 10:30 Next appointment: today 10:30"
    )
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-full-quota")

    # This test hall's kiosks have no printer: the booking stands, its code on the screen.
    await page.locator('[data-key="book"]').click()
    await expect(page.locator("#title")).to_have_text("预约成功 Booked")
    await expect(page.locator("#booked-note")).to_have_text(
        "未能打印预约凭条，请记下预约码 "
        "The slip could not be printed: please note your booking code"
    )
    code = await page.locator("#booking-code").inner_text()
    assert CODE.match(code)
    await expect(page.locator("#booked-check-in")).to_have_text(
        "请于今天 10:20 起到自助机扫预约码签到 Check in at a kiosk today from 10:20: scan the code"
    )
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-booked-code")
    booked = await full_hall.get("/api/v1/appointments")
    assert [b["code"] for b in booked["appointments"]] == [code]

    await page.locator('[data-key="done"]').click()
    await expect(page.locator("body")).to_have_attribute("data-screen", "start")
