"""A ticket's status page in a real browser, on a phone: its place, its call, a wrong link."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

INVALID_ZH = "链接无效或已过期"
INVALID_EN = "This link is invalid or has expired."


def link_of(served_hall: Api, ticket_id: str) -> str:
    assert served_hall.controller is not None
    return served_hall.controller.service.ticket_link(ticket_id)


async def open_status(served_hall: Api, screens: Screens, link: str) -> Page:
    return await screens.open(f"{served_hall.url}/t/{link}", phone=True)


async def test_the_status_page_shows_the_place_in_line_then_the_window_calling(
    served_hall: Api, screens: Screens
) -> None:
    first = await served_hall.issue("social")
    mine = await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/1/open")
    link = link_of(served_hall, mine["id"])
    page = await open_status(served_hall, screens, link)

    await expect(page.locator("#number")).to_have_text("A002")
    await expect(page.locator("#theme-zh")).to_have_text("社会民生")
    await expect(page.locator("#theme-en")).to_have_text("Social welfare")
    await expect(page.locator("#now")).to_have_text("请耐心等候叫号 Please wait to be called")
    await expect(page.locator("#ahead")).to_have_text("1")
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#wait")).to_have_text("约 8 分钟 about 8 min")
    await screens.screenshot(page, "status-waiting")

    # Someone else is called: this page only learns that one person fewer is ahead.
    await served_hall.post("/api/v1/windows/1/call")
    await expect(page.locator("#ahead")).to_have_text("0")
    await expect(page.locator("#position")).to_have_text("1")
    await expect(page.locator("#now-detail")).to_have_text("下一位就是您 You are next")

    await served_hall.post("/api/v1/windows/3/open")
    call = await served_hall.post("/api/v1/windows/3/call")
    assert call["ticket"]["id"] == mine["id"]
    now = page.locator("#now")
    await expect(now.locator("#now-zh")).to_have_text("请到 3号窗口 办理")
    await expect(now.locator("#now-en")).to_have_text("Please go to Window 3")
    await expect(page.locator("#queue")).to_be_hidden()
    await screens.screenshot(page, "status-called")

    await served_hall.post("/api/v1/windows/3/recall")
    await expect(page.locator("#now-detail")).to_have_text("已呼叫 2 次 Called 2 times")
    await served_hall.post("/api/v1/windows/3/start")
    await expect(now).to_have_text("正在 3号窗口 办理 Being served at Window 3")
    await served_hall.post("/api/v1/windows/3/finish")
    await expect(now).to_have_text("办理完毕，感谢您的耐心 Finished. Thank you for waiting.")

    # Nothing on the page, nor anything it asked for, concerns another applicant.
    assert first["number"] not in await page.locator("body").inner_text()
    asked = {urlsplit(url).path for url in screens.requested}
    mine_only = {f"/t/{link}", f"/api/v1/status/{link}", f"/api/v1/status/{link}/events"}
    assert asked - mine_only <= {
        "/ui/css/screens.css",
        "/ui/css/status.css",
        "/ui/js/status.js",
        "/ui/js/live.js",
        "/favicon.ico",
    }, asked
    assert f"/api/v1/status/{link}/events" in asked


async def test_a_wrong_or_forged_link_says_so_and_shows_no_ticket(
    served_hall: Api, screens: Screens
) -> None:
    issued = await served_hall.issue("police")
    real = link_of(served_hall, issued["id"])
    forged = real[:-1] + ("0" if real[-1] != "0" else "1")
    for link in (forged, issued["id"], "nonsense"):
        page = await open_status(served_hall, screens, link)
        invalid = page.locator("#invalid")
        await expect(invalid).to_be_visible()
        await expect(invalid.locator("h1")).to_have_text(INVALID_ZH)
        await expect(invalid).to_contain_text(INVALID_EN)
        await expect(page.locator("#ticket")).to_be_hidden()
        await expect(page.locator("#connection")).to_be_hidden()
        assert issued["number"] not in await page.locator("body").inner_text()
    await screens.screenshot(page, "status-invalid")


async def test_the_status_page_passes_the_accessibility_audit(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("social")
    mine = await served_hall.issue("social", priority="disabled")
    await served_hall.post("/api/v1/windows/2/open")
    page = await open_status(served_hall, screens, link_of(served_hall, mine["id"]))
    await expect(page.locator("#priority")).to_have_text("优先 Priority")
    await expect(page.locator("#queue")).to_be_visible()
    assert await screens.accessibility_problems(page) == []

    await served_hall.post("/api/v1/windows/2/call")
    await expect(page.locator("#now-zh")).to_have_text("请到 2号窗口 办理")
    assert await screens.accessibility_problems(page) == []

    wrong = await open_status(served_hall, screens, "20261128-A001.0000000000000000")
    await expect(wrong.locator("#invalid")).to_be_visible()
    assert await screens.accessibility_problems(wrong) == []
