"""In a real browser: the hall display says where a theme is served while its own windows are
away (同岗替代), and a window panel sends an applicant on to the next stage of the visit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect
from test_ui_window import button, open_panel

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def test_the_display_says_which_windows_stand_in_for_an_unattended_theme(
    served_hall: Api, screens: Screens
) -> None:
    page = await screens.open(served_hall.url + "/display")
    note = page.locator('tr[data-theme="construction"] .stood-in')
    await expect(page.locator('tr[data-theme="construction"] .count')).to_have_text("0")
    await expect(note).to_be_hidden()

    await served_hall.issue("construction")
    await served_hall.post("/api/v1/windows/5/open")
    await served_hall.post("/api/v1/windows/6/open")

    await expect(note).to_have_text("暂由 5、6 号窗口办理now at window 5, 6")
    await expect(note).to_be_visible()
    await screens.screenshot(page, "display-substitution")
    await served_hall.post("/api/v1/windows/9/open")
    await expect(note).to_be_hidden()


async def test_the_panel_sends_a_served_applicant_on_to_pick_up(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("police", priority="pregnant")
    await served_hall.post("/api/v1/windows/3/open")
    page = await open_panel(served_hall, screens)
    await expect(button(page, "continue")).to_be_disabled()
    await button(page, "call").click()
    await expect(page.locator("#ticket-number")).to_have_text("B001")
    await expect(button(page, "continue")).to_be_enabled()

    await button(page, "continue").click()
    await expect(page.locator("#continue-title")).to_have_text("B001 转下一环节 Next stage")
    # Pick-up comes first: it is where an intake usually goes on to.
    await expect(page.locator("#continue-theme option").first).to_have_text(
        "查询发证 Results and certificate pick-up"
    )
    await screens.screenshot(page, "window-next-stage")
    assert await screens.accessibility_problems(page) == []
    await page.locator("#continue-submit").click()

    await expect(page.locator("#message")).to_have_text(
        "B001 已转到下一环节：查询发证 B001 goes on to Results and certificate pick-up"
    )
    await expect(page.locator("#ticket-number")).to_have_text("—")
    moved = await served_hall.get("/api/v1/tickets/B001")
    assert (moved["status"], moved["theme"], moved["stage"]) == ("waiting", "pickup", 2)
    assert moved["priority"] == "pregnant"
    assert await screens.accessibility_problems(page) == []
