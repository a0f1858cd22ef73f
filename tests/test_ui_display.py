"""The hall display (综合屏) in a real browser: people waiting, calls, a restarting controller."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect

if TYPE_CHECKING:
    from test_api import Api

    from browser import RestartingHall, Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

HALL_ZH = "广州市天河区政务服务中心（演示）"
HALL_EN = "Guangzhou Tianhe District Government Service Centre (demo)"

# Notes every element that starts flashing, with the text it shows at that moment: a flash
# lasts seconds, and a busy machine must not turn "it flashed" into a race.
RECORD_FLASHES = """() => {
    window.flashes = [];
    new MutationObserver((records) => {
        const seen = new Set();  // one flash per element per batch of changes
        for (const record of records) {
            const element = record.target;
            const before = (record.oldValue || "").split(/\\s+/);
            if (element.classList.contains("flash") && !before.includes("flash")
                && !seen.has(element)) {
                seen.add(element);
                const what = element.id || `window ${element.dataset.window}`;
                window.flashes.push([what, element.innerText.replace(/\\s+/g, " ").trim()]);
            }
        }
    }).observe(document.body, {
        subtree: true, attributes: true, attributeFilter: ["class"], attributeOldValue: true,
    });
}"""


def waiting(page: Page, theme: str) -> Locator:
    return page.locator(f'tr[data-theme="{theme}"] .count')


def window_card(page: Page, window: str) -> Locator:
    return page.locator(f'.window[data-window="{window}"]')


async def flashes(page: Page) -> list[tuple[str, str]]:
    recorded: list[list[str]] = await page.evaluate("window.flashes")
    return [(what, text) for what, text in recorded]


async def test_the_display_shows_people_waiting_and_flashes_each_call(
    served_hall: Api, screens: Screens
) -> None:
    page = await screens.open(served_hall.url + "/display")
    await expect(page.locator("#hall-zh")).to_have_text(HALL_ZH)
    await expect(page.locator("#hall-en")).to_have_text(HALL_EN)
    # The hall's own time (10:00 in Guangzhou), though the TV's browser runs in UTC (02:00).
    await expect(page.locator("#clock-time")).to_have_text(re.compile(r"^10:0\d$"))
    await expect(page.locator("#clock-date")).to_have_text("2026年11月28日星期六")
    await expect(waiting(page, "social")).to_have_text("0")
    await expect(page.locator("#current-call")).to_contain_text("暂无呼叫")

    for theme in ("social", "social", "police"):
        await served_hall.issue(theme)
    await expect(waiting(page, "social")).to_have_text("2")
    await expect(waiting(page, "police")).to_have_text("1")
    await expect(page.locator("#waiting-total")).to_have_text("3")

    await page.evaluate(RECORD_FLASHES)
    await served_hall.post("/api/v1/windows/3/open")
    call = await served_hall.post("/api/v1/windows/3/call")
    assert call["ticket"]["number"] == "B001"  # window 3 serves public security first
    current = page.locator("#current-call")
    await expect(current.locator(".call-zh")).to_have_text("请 B001 号 到 3号窗口 办理")
    await expect(current.locator(".call-en")).to_have_text("B001 → Window 3")
    await expect(window_card(page, "3").locator(".number")).to_have_text("B001")
    await expect(window_card(page, "3").locator(".status")).to_have_text("呼叫中 Calling")
    await expect(waiting(page, "police")).to_have_text("0")
    assert await flashes(page) == [
        ("current-call", "请 B001 号 到 3号窗口 办理 B001 → Window 3"),
        ("window 3", "3号窗口 Window 3 B001 呼叫中 Calling"),
    ]

    # A second window calls: it takes the big line, the first call moves to the earlier ones.
    await served_hall.post("/api/v1/windows/1/open")
    await served_hall.post("/api/v1/windows/1/call")
    await expect(current.locator(".call-zh")).to_have_text("请 A001 号 到 1号窗口 办理")
    await expect(page.locator("#earlier-calls li")).to_have_text(["B001 → 3号窗口 Window 3"])
    await expect(waiting(page, "social")).to_have_text("1")

    # A recall flashes again and says so.
    await served_hall.post("/api/v1/windows/3/recall")
    await expect(current.locator(".call-en")).to_have_text(
        "B001 → Window 3 再次呼叫 · Called again"
    )
    await expect(page.locator("#earlier-calls li")).to_have_text(["A001 → 1号窗口 Window 1"])
    heroes = [text for what, text in await flashes(page) if what == "current-call"]
    assert heroes == [
        "请 B001 号 到 3号窗口 办理 B001 → Window 3",
        "请 A001 号 到 1号窗口 办理 A001 → Window 1",
        "请 B001 号 到 3号窗口 办理 B001 → Window 3 再次呼叫 · Called again",
    ]
    await screens.screenshot(page, "display-calls")

    # Served and finished: the window is free again and keeps its last call on show.
    await served_hall.post("/api/v1/windows/3/start")
    await expect(window_card(page, "3").locator(".status")).to_have_text("办理中 Serving")
    await served_hall.post("/api/v1/windows/3/finish")
    await expect(window_card(page, "3").locator(".status")).to_have_text("空闲 Open")
    await expect(window_card(page, "3").locator(".number")).to_have_text("—")
    await expect(window_card(page, "3").locator(".recent")).to_have_text("已呼叫 Called: B001")
    await expect(window_card(page, "2").locator(".status")).to_have_text("未开放 Closed")


async def test_the_display_passes_the_accessibility_audit(
    served_hall: Api, screens: Screens
) -> None:
    for theme in ("social", "registration", "police"):
        await served_hall.issue(theme)
    for window in ("3", "5"):
        await served_hall.post(f"/api/v1/windows/{window}/open")
        await served_hall.post(f"/api/v1/windows/{window}/call")
    await served_hall.post("/api/v1/windows/5/start")
    await served_hall.post("/api/v1/windows/1/open")
    await served_hall.post("/api/v1/windows/1/pause", {"reason": "break"})

    # A display switched on while a window is calling shows that call at once.
    page = await screens.open(served_hall.url + "/display")
    await expect(page.locator("#current-call .call-zh")).to_have_text("请 B001 号 到 3号窗口 办理")
    await expect(window_card(page, "5").locator(".status")).to_have_text("办理中 Serving")
    await expect(window_card(page, "1").locator(".status")).to_have_text("暂停服务 Paused")
    await expect(waiting(page, "social")).to_have_text("1")

    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display")


@pytest.mark.slow
async def test_the_display_shows_reconnecting_and_recovers_after_a_restart(
    restarting_hall: RestartingHall, screens: Screens
) -> None:
    await asyncio.to_thread(restarting_hall.start)
    async with aiohttp.ClientSession(restarting_hall.url) as client:

        async def post(path: str, body: dict[str, Any] | None = None) -> Any:
            async with client.post(path, json=body or {}) as reply:
                assert reply.status in (200, 201), await reply.text()
                return await reply.json()

        for theme in ("social", "social", "police"):
            await post("/api/v1/tickets", {"theme": theme})
        await post("/api/v1/windows/3/open")
        await post("/api/v1/windows/3/call")

        page = await screens.open(restarting_hall.url + "/display")
        banner = page.locator("#connection")
        await expect(window_card(page, "3").locator(".number")).to_have_text("B001")
        await expect(waiting(page, "social")).to_have_text("2")
        await expect(banner).to_be_hidden()

        await asyncio.to_thread(restarting_hall.kill)
        await expect(banner).to_be_visible()
        await expect(banner).to_have_text("重新连接中… Reconnecting…")
        assert await screens.accessibility_problems(page) == []
        await screens.screenshot(page, "display-reconnecting")

        # While the display cannot reach it, the controller comes back and the hall moves on:
        # what the display shows next it can only have read again after reconnecting.
        await page.context.set_offline(True)
        await asyncio.to_thread(restarting_hall.start)
        await post("/api/v1/windows/3/start")
        await post("/api/v1/windows/3/finish")
        await post("/api/v1/windows/3/call")
        await post("/api/v1/tickets", {"theme": "pickup"})
        await page.context.set_offline(False)

        await expect(banner).to_be_hidden()
        await expect(window_card(page, "3").locator(".number")).to_have_text("A001")
        await expect(window_card(page, "3").locator(".status")).to_have_text("呼叫中 Calling")
        await expect(waiting(page, "social")).to_have_text("1")
        await expect(waiting(page, "pickup")).to_have_text("1")
        await expect(page.locator("#current-call .call-zh")).to_have_text(
            "请 A001 号 到 3号窗口 办理"
        )
        # ... and it is live again: a new ticket shows without another reconnection.
        await post("/api/v1/tickets", {"theme": "pickup"})
        await expect(waiting(page, "pickup")).to_have_text("2")
