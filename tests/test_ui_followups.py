"""Ratings' after-care in a real browser: the manager tablet's follow-ups of poor ratings (差评
整改) in both languages, and the window panel's case number and "ask for the rating first"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect
from test_api import T0, Api, Clock
from test_ui_manager import open_tablet, small_targets
from test_ui_window import open_panel

from hall_controller.settings import load_settings

from accounts import AUTH
from conftest import demo_config_text

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

CASE = "44030020261128000123"
HOUR = 3600.0


@pytest.fixture
async def strict_hall(tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall with [ratings] require_before_next = true, serving the screens."""
    text, found = re.subn(
        r"(?m)^require_before_next = false$", "require_before_next = true", demo_config_text()
    )
    assert found == 1
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(load_settings(path), tmp_path / "data", Clock(T0), session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


async def rated(hall: Api, score: int, *, case_number: str | None = None) -> dict[str, Any]:
    """A social ticket served at window 1 and rated `score`."""
    ticket = await hall.issue("social")
    if (await hall.get("/api/v1/windows/1"))["status"] == "closed":
        await hall.post("/api/v1/windows/1/open")
    await hall.post("/api/v1/windows/1/call", {"ticket": ticket["id"]})
    await hall.post("/api/v1/windows/1/finish")
    if case_number is not None:
        await hall.post("/api/v1/windows/1/case-number", {"case_number": case_number})
    await hall.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": score})
    return ticket


def followup(page: Page, ticket: dict[str, Any]) -> Locator:
    return page.locator(f'#followup-list li[data-followup="fu-{ticket["id"]}"]')


async def act(page: Page, item: Locator, action: str, note: str) -> None:
    """Press one of a follow-up's buttons, write the note and submit the dialog."""
    await item.locator(f'button[data-followup-action="{action}"]').click()
    dialog = page.locator("#followup-dialog")
    await expect(dialog).to_be_visible()
    await page.locator("#followup-note").fill(note)


async def test_the_manager_works_through_poor_ratings_on_the_tablet(
    served_hall: Api, screens: Screens
) -> None:
    first = await rated(served_hall, 1, case_number=CASE)
    # The next day, an hour past the first one's callback deadline: a second poor rating.
    served_hall.clock.advance(25 * HOUR)
    second = await rated(served_hall, 2)
    await rated(served_hall, 5)  # a good rating opens nothing

    page = await open_tablet(served_hall, screens)
    await expect(page.locator("#followup-count")).to_have_text("2")
    alert = page.locator('#alert-list li[data-kind="followup"]')
    await expect(alert.locator(".text")).to_contain_text("回访超期")
    await expect(alert.locator("svg.icon-followup")).to_have_count(1)
    await page.locator("#tab-followups").click()

    items = page.locator("#followup-list li")
    await expect(items).to_have_count(2)
    # The overdue one first: its deadline is the nearest.
    await expect(items.first).to_have_attribute("data-followup", f"fu-{first['id']}")
    late = followup(page, first)
    await expect(late).to_have_attribute("data-overdue", "true")
    await expect(late.locator(".number")).to_have_text("A001")
    await expect(late.locator(".score")).to_have_text("评价：非常不满意 Rated: very dissatisfied")
    await expect(late.locator(".case")).to_have_text(f"办件编号：{CASE}")
    await expect(late.locator(".facts")).to_contain_text("2026-11-28 · 1号窗口")
    callback = late.locator('[data-deadline="callback"]')
    await expect(callback).to_have_attribute("data-state", "overdue")
    await expect(callback.locator(".left")).to_contain_text("已超期 1 小时")
    await expect(callback.locator(".left")).to_contain_text("Overdue by 1 h")
    rectify = late.locator('[data-deadline="rectification"]')
    await expect(rectify).to_have_attribute("data-state", "due")
    await expect(rectify.locator(".left")).to_contain_text("还剩 13 天")
    fresh = followup(page, second)
    await expect(fresh).to_have_attribute("data-overdue", "false")
    await expect(fresh.locator(".score")).to_have_text("评价：不满意 Rated: dissatisfied")
    await expect(fresh.locator(".case")).to_have_text("办件编号：未记录")
    await expect(fresh.locator('[data-deadline="callback"] .left')).to_contain_text("还剩 23 小时")
    assert await small_targets(page) == []
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-followups")

    # The callback: a note is required before it can be sent.
    await act(page, late, "callback", "")
    await expect(page.locator("#followup-submit")).to_be_disabled()
    await page.locator("#followup-note").fill("已致电申请人致歉，说明午间窗口少")
    await page.locator("#followup-submit").click()
    await expect(late.locator(".followup-status")).to_have_text(
        "已回访，待整改 Called back, to put right"
    )
    await expect(late.locator('[data-deadline="callback"]')).to_have_attribute("data-state", "late")
    await expect(page.locator("#message")).to_have_text("A001 已记录回访 A001: Callback recorded")

    # Put right, asking for a new rating; the applicant's new rating closes it.
    await act(page, late, "close", "午间增开一个窗口")
    await page.locator("#followup-ask-rating").check()
    await page.locator("#followup-submit").click()
    await expect(late.locator(".followup-status")).to_have_text(
        "已整改，待重新评价 Put right, awaiting a new rating"
    )
    await late.locator('button[data-followup-action="rating"]').click()
    await expect(page.locator("#followup-submit")).to_be_disabled()  # no score chosen yet
    await page.locator("#followup-scores label.preset", has_text="满意 Satisfied").first.click()
    await page.locator("#followup-submit").click()
    await expect(late.locator(".followup-status")).to_have_text("已结案 Closed")
    await expect(late.locator("button")).to_have_count(0)
    await expect(items.first).to_have_attribute("data-followup", f"fu-{second['id']}")
    await expect(page.locator("#followup-count")).to_have_text("1")
    await expect(page.locator('#alert-list li[data-kind="followup"]')).to_have_count(0)
    view = await served_hall.get(f"/api/v1/followups/fu-{first['id']}")
    assert (view["status"], view["latest_score"]) == ("closed", 4)
    assert [step["by"] for step in view["history"][1:]] == ["manager:wang.li"] * 3

    # Live: a poor rating at a window appears without a reload.
    third = await rated(served_hall, 1)
    await expect(followup(page, third)).to_be_visible()
    await expect(page.locator("#followup-count")).to_have_text("2")

    await page.locator("#lang").click()
    await expect(page.locator("#tab-followups")).to_contain_text("Follow-ups 差评整改")
    await expect(fresh.locator(".score")).to_have_text("Rated: dissatisfied 评价：不满意")
    await expect(fresh.locator('[data-deadline="callback"] .left')).to_contain_text("left")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-followups-en")


async def test_the_window_panel_records_a_case_number_and_asks_for_the_rating_first(
    strict_hall: Api, screens: Screens
) -> None:
    await strict_hall.issue("social")
    await strict_hall.issue("social")
    page = await open_panel(strict_hall, screens, window="1")
    await page.locator('button[data-action="open"]').click()
    await page.locator('button[data-action="call"]').click()
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    service = page.locator("#service")
    await expect(service).to_be_visible()
    await expect(page.locator("#service-facts")).to_contain_text("未记录办件编号")

    await page.locator("#case-input").fill("4403 00")
    await page.locator("#do-case-number").click()
    await expect(page.locator("#message")).to_have_attribute("data-tone", "refused")
    await page.locator("#case-input").fill(CASE)
    await page.locator("#do-case-number").click()
    await expect(page.locator("#service-facts")).to_contain_text(f"办件编号 {CASE}")
    await expect(page.locator("#case-input")).to_have_value("")

    await page.locator('button[data-action="finish"]').click()
    await expect(page.locator("#rating-required")).to_be_visible()
    await expect(page.locator("#rating-required")).to_contain_text("请先为 A001 请求评价")
    await page.locator('button[data-action="call"]').click()
    await expect(page.locator("#message")).to_contain_text("未执行：请先按“请求评价”，再叫号")
    await expect(page.locator("#do-rating")).to_have_attribute("data-attention", "true")
    await expect(page.locator("#ticket-number")).to_have_text("—")  # nothing was called
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "window-rating-required")

    await page.locator("#do-rating").click()
    await expect(page.locator("#rating-required")).to_be_hidden()
    await page.locator('button[data-action="call"]').click()
    await expect(page.locator("#ticket-number")).to_have_text("A002")
    trail = await strict_hall.get("/api/v1/audit")
    kinds = [e["type"] for e in trail["events"]]
    assert "CaseNumberRecorded" in kinds
    asked_then_called = [k for k in kinds if k in ("RatingRequested", "TicketCalled")]
    assert asked_then_called == ["TicketCalled", "RatingRequested", "TicketCalled"]
