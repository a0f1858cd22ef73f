"""One applicant's visit on every screen: kiosk, hall display, window panel, status page, rating.

One real controller, one browser with a page per screen. Each step is asserted on what the
screens show; the rating is sent as the rating pad sends it and read back from the audit trail.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Page, ViewportSize, expect
from test_api import resident_id
from test_ui_display import RECORD_FLASHES, flashes, waiting, window_card

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

KIOSK_PORTRAIT: ViewportSize = {"width": 1080, "height": 1920}
TABLET: ViewportSize = {"width": 1280, "height": 800}
# A synthetic applicant born in 1950: 76 on the test's business day, so elderly priority.
ID_NUMBER = resident_id(date(1950, 3, 1))
NAME = "张三丰"


async def shown(page: Page) -> str:
    text: str = await page.locator("body").inner_text()
    return text


async def test_an_elderly_applicant_goes_from_the_kiosk_to_the_window_and_rates_the_service(
    served_hall: Api, screens: Screens
) -> None:
    assert served_hall.controller is not None
    controller = served_hall.controller

    await served_hall.issue("police")  # someone before them, without priority: B001
    display = await screens.open(served_hall.url + "/display")
    total = display.locator("#waiting-total")
    await expect(total).to_have_text("1")

    # The kiosk was signed in with its device token when it was set up.
    kiosk = await screens.open(served_hall.url + "/kiosk/k1", role="kiosk", kiosk="k1")
    await kiosk.set_viewport_size(KIOSK_PORTRAIT)
    social = kiosk.locator('button[data-theme="social"]')
    await expect(social).to_be_enabled()
    # The kiosk hears of a card through its stream: a card read before it listens is missed.
    await expect(kiosk.locator("body")).to_have_attribute("data-link", "live")

    # 1. The applicant lays an ID card on the kiosk's reader: the kiosk offers elderly priority.
    controller.kiosks.resident_card("k1", id_number=ID_NUMBER, name=NAME, valid_to="长期")
    await expect(kiosk.locator("#card-priority")).to_contain_text("长者优先")
    await expect(kiosk.locator("#card")).to_contain_text("张*丰")
    await screens.screenshot(kiosk, "flow-1-kiosk-card")

    # 2. ... and takes a ticket for social welfare: no printer here, so it is on the screen.
    await social.click()
    await expect(kiosk.locator("#ticket-number")).to_have_text("A001")
    await expect(kiosk.locator("#ticket-priority")).to_contain_text("长者优先")
    ticket = await served_hall.get("/api/v1/tickets/A001")
    assert (ticket["priority"], ticket["channel"]) == ("elderly", "kiosk-screen")
    link = controller.service.ticket_link(ticket["id"])
    # The QR code on the kiosk's screen is this ticket's status link.
    await expect(kiosk.locator("#ticket-qr")).to_have_attribute(
        "src", f"/api/v1/status/{link}/qr.svg"
    )
    await screens.screenshot(kiosk, "flow-2-kiosk-ticket")

    # 3. The hall display counts one person waiting for social welfare.
    await expect(waiting(display, "social")).to_have_text("1")
    await expect(total).to_have_text("2")
    await screens.screenshot(display, "flow-3-display-waiting")

    # 4. The applicant's phone, from the QR code: waiting, and next in line.
    status = await screens.open(f"{served_hall.url}/t/{link}", phone=True)
    await expect(status.locator("#number")).to_have_text("A001")
    await expect(status.locator("#priority")).to_be_visible()
    await expect(status.locator("#now-zh")).to_have_text("请耐心等候叫号")
    await expect(status.locator("#now-detail")).to_have_text("下一位就是您 You are next")
    await screens.screenshot(status, "flow-4-status-waiting")

    # 5. Window 3's clerk signs in with her PIN, opens the window and calls: A001 for its
    # priority, though window 3 prefers public security and B001 came first.
    panel = await screens.open(served_hall.url + "/window/3")
    await panel.set_viewport_size(TABLET)
    await expect(panel.locator("#place")).to_have_text("3 号窗口 Window 3")
    await panel.locator("#account").fill("zhang.min")
    await panel.locator("#secret").fill("1111")
    await panel.get_by_role("button", name="登录").click()
    await panel.wait_for_url(served_hall.url + "/window/3")
    await expect(panel.locator("#status")).to_have_text("未开放 Closed")
    await panel.locator('button[data-action="open"]').click()
    await expect(panel.locator("#status")).to_have_text("空闲 Open")
    await expect(panel.locator("#waiting-list li .number")).to_have_text(["A001", "B001"])
    await expect(panel.locator("#waiting-list li .tag")).to_have_text(["优先 老年人 Elderly"])
    await display.evaluate(RECORD_FLASHES)
    await panel.locator('button[data-action="call"]').click()
    await expect(panel.locator("#ticket-number")).to_have_text("A001")
    await expect(panel.locator("#ticket-priority")).to_have_text("优先 · 老年人 Priority: Elderly")
    await expect(panel.locator("#reason-zh")).to_have_text("优先人群先办")
    await expect(panel.locator("#reason-en")).to_have_text("priority group goes first")
    await screens.screenshot(panel, "flow-5-window-called")

    # 6. The hall display flashes the call; the phone says which window.
    await expect(display.locator("#current-call .call-zh")).to_have_text(
        "请 A001 号 到 3号窗口 办理"
    )
    await expect(window_card(display, "3").locator(".number")).to_have_text("A001")
    await expect(waiting(display, "social")).to_have_text("0")
    assert ("current-call", "请 A001 号 到 3号窗口 办理 A001 → Window 3") in await flashes(display)
    await screens.screenshot(display, "flow-6-display-called")
    await expect(status.locator("#now-zh")).to_have_text("请到 3号窗口 办理")
    await expect(status.locator("#now-en")).to_have_text("Please go to Window 3")
    await screens.screenshot(status, "flow-7-status-called")

    # 7. The applicant arrives and is served; the clerk finishes.
    await panel.locator('button[data-action="start"]').click()
    await expect(panel.locator("#status")).to_have_text("办理中 Serving")
    await expect(status.locator("#now")).to_have_text("正在 3号窗口 办理 Being served at Window 3")
    await panel.locator('button[data-action="finish"]').click()
    await expect(panel.locator("#message")).to_have_text("A001 已办结 A001 finished")
    await expect(panel.locator("#status")).to_have_text("空闲 Open")
    await expect(panel.locator("#served")).to_have_text("1")
    await expect(window_card(display, "3").locator(".status")).to_have_text("空闲 Open")
    await expect(status.locator("#now")).to_have_text(
        "办理完毕，感谢您的耐心 Finished. Thank you for waiting."
    )
    await screens.screenshot(panel, "flow-8-window-finished")
    await screens.screenshot(status, "flow-9-status-finished")

    # 8. The clerk asks for a rating: the window's rating pad asks, and the applicant rates.
    await panel.locator('button[data-action="rating"]').click()
    await expect(panel.locator("#rating-state")).to_have_text(
        "等待评价 · A001 Waiting for a rating of A001"
    )
    rated = await served_hall.post(
        f"/api/v1/tickets/{ticket['id']}/rating", {"score": 5}, headers={"X-Actor": "pad:3"}
    )
    assert rated["rating"] == 5
    await expect(panel.locator("#rating-state")).to_be_hidden()

    # 9. The audit trail holds the whole visit, the rating last.
    trail = (await served_hall.get("/api/v1/audit?ticket=A001"))["events"]
    assert [(e["type"], e["actor"]) for e in trail][-5:] == [
        ("TicketCalled", "staff:zhang.min"),
        ("ServiceStarted", "staff:zhang.min"),
        ("ServiceFinished", "staff:zhang.min"),
        ("RatingRequested", "staff:zhang.min"),
        ("TicketRated", "pad:3"),
    ]
    assert trail[-1]["data"]["score"] == 5
    assert trail[0]["type"] == "TicketIssued"
    assert trail[0]["actor"] == "kiosk:k1"

    # Nowhere did a screen show the applicant's ID number or full name.
    for page in (kiosk, display, panel, status):
        text = await shown(page)
        assert ID_NUMBER not in text
        assert NAME not in text
