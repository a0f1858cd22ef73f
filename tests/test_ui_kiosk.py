"""The kiosk (自助取号机) in Chromium: themes, ID cards, paper and screen tickets, elderly mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Locator, Page, Route, ViewportSize, expect
from test_api import T0, Api, Clock, running_api
from test_kiosks import Printers, resident_id

from hall_controller.core.model import TicketPrint
from hall_controller.kiosks import KioskService
from hall_controller.settings import load_settings

from conftest import demo_config_text

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

PORTRAIT: ViewportSize = {"width": 1080, "height": 1920}
LANDSCAPE: ViewportSize = {"width": 1920, "height": 1080}

HALL_ZH = "广州市天河区政务服务中心（演示）"
HALL_EN = "Guangzhou Tianhe District Government Service Centre (demo)"
ELDER = resident_id(date(1950, 3, 1))  # 76 at T0: elderly priority
YOUNGER = resident_id(date(1990, 7, 15), serial="512")

# The smallest font size of any text the page shows (a visually hidden line is not shown).
SMALLEST_TEXT_PX = """() => {
    let smallest = Infinity;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const element = node.parentElement;
        const box = element.getBoundingClientRect();
        if (!node.textContent.trim() || box.width <= 1 || !element.checkVisibility()) {
            continue;
        }
        smallest = Math.min(smallest, parseFloat(getComputedStyle(element).fontSize));
    }
    return smallest;
}"""

# The smallest side of any control the page shows.
SMALLEST_TARGET_PX = """() => Math.min(...[...document.querySelectorAll("button, a")]
    .filter((element) => element.checkVisibility())
    .map((element) => {
        const box = element.getBoundingClientRect();
        return Math.min(box.width, box.height);
    }))"""

# Notes the page's language and mode each time they change: an idle reset takes seconds, and
# a busy machine must not turn "it was in English, then it was reset" into a race.
RECORD_MODES = """() => {
    const root = document.documentElement;
    window.modes = [`${root.lang} ${root.dataset.mode}`];
    new MutationObserver(() => {
        const now = `${root.lang} ${root.dataset.mode}`;
        if (window.modes[window.modes.length - 1] !== now) {
            window.modes.push(now);
        }
    }).observe(root, { attributes: true, attributeFilter: ["lang", "data-mode"] });
}"""

QR_LOADED = """() => {
    const image = document.getElementById("ticket-qr");
    return image !== null && image.complete && image.naturalWidth > 0;
}"""


class HeldPrinters(Printers):
    """Kiosk printers that confirm each ticket only once the test lets them."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def print_ticket(self, printer: str, ticket: TicketPrint) -> None:
        await self.release.wait()
        await super().print_ticket(printer, ticket)


def kiosks_of(hall: Api) -> KioskService:
    assert hall.controller is not None
    return hall.controller.kiosks


async def open_kiosk(
    screens: Screens, hall: Api, query: str = "", *, viewport: ViewportSize = PORTRAIT
) -> Page:
    """Kiosk k1's screen on an upright (or wide) touch screen, once its stream is live."""
    url = f"{hall.url}/kiosk/k1{query}"
    context = await screens.browser.new_context(
        viewport=viewport, has_touch=True, locale="zh-CN", timezone_id="UTC"
    )
    page = await context.new_page()
    page.on("pageerror", lambda error: screens.script_errors.append(f"{url}: {error}"))
    # The kiosk was signed in with its device token when it was set up.
    await screens.sign_in(page, hall.url, "kiosk", kiosk="k1")
    await page.goto(url)
    # Live: a card swiped from now on reaches this screen.
    await expect(page.locator("body")).to_have_attribute("data-link", "live")
    return page


def theme(page: Page, theme_id: str) -> Locator:
    return page.locator(f'[data-theme="{theme_id}"]')


async def the_qr_code_shows(page: Page) -> int:
    """The screen ticket's QR code image has loaded; its natural width."""
    await page.wait_for_function(QR_LOADED)
    width: int = await page.locator("#ticket-qr").evaluate("(image) => image.naturalWidth")
    return width


@pytest.fixture
async def hall_at_its_limits(tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall keeping its hours: pick-up opens at 13:30, one construction ticket a day."""
    text = demo_config_text(enforce_opening_hours=True)
    assert text.count("daily_cap = 80") == 1
    assert text.count('hours = ["09:00-17:30"]') == 1
    text = text.replace("daily_cap = 80", "daily_cap = 1")
    text = text.replace('hours = ["09:00-17:30"]', 'hours = ["13:30-17:30"]')
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    async with running_api(load_settings(path), tmp_path / "data", Clock(T0)) as server:
        yield server


async def test_the_start_screen_shows_every_theme_with_its_queue_and_why_one_is_closed(
    hall_at_its_limits: Api, screens: Screens
) -> None:
    hall = hall_at_its_limits
    for theme_id in ("social", "social", "construction"):
        await hall.issue(theme_id)
    page = await open_kiosk(screens, hall)

    await expect(page.locator("#hall-name")).to_have_text(f"{HALL_ZH} {HALL_EN}")
    await expect(page.locator(".theme")).to_have_count(6)
    social = theme(page, "social")
    await expect(social.locator(".theme-name")).to_have_text("社会民生 Social welfare")
    await expect(social.locator(".theme-facts")).to_have_text(
        "等候 2 人 · 暂无预计 2 waiting · no estimate"
    )
    # Full and closed themes are shown, and say why in words (not only in grey or a border).
    full = theme(page, "construction")
    await expect(full).to_have_attribute("data-full", "daily_cap")
    await expect(full.locator(".theme-why")).to_have_text(
        "今日已满 · 可预约 Full today · appointments open"
    )
    closed = theme(page, "pickup")
    await expect(closed).to_have_attribute("aria-disabled", "true")
    await expect(closed.locator(".theme-why")).to_have_text(
        "现在不取号 · 取号时间 13:30-17:30 Not issuing now · hours 13:30-17:30"
    )
    await expect(social).not_to_have_attribute("aria-disabled", "true")
    await expect(page.locator("#printer")).to_have_text(
        "本机暂不能打印，号码将显示在屏幕上 Cannot print now: your number will show on screen"
    )

    # A tap on a full theme shows what it offers instead (test_ui_capacity.py), and takes no
    # ticket; a tap on a closed one explains (Playwright would wait for the button to be
    # enabled; a finger does not).
    await full.click()
    await expect(page.locator("#title")).to_have_text("今日已满 Full today")
    assert len(await hall.get("/api/v1/tickets")) == 3
    await page.locator('[data-key="back"]').click()
    await closed.click(force=True)
    await expect(page.locator("#notice")).to_have_text(
        "现在不取号 · 取号时间 13:30-17:30 Not issuing now · hours 13:30-17:30"
    )
    await expect(page.locator("body")).to_have_attribute("data-screen", "start")

    assert await page.evaluate(SMALLEST_TARGET_PX) >= 48
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-start")

    wide = await open_kiosk(screens, hall, viewport=LANDSCAPE)
    await expect(theme(wide, "social").locator(".theme-facts")).to_contain_text("等候 2 人")
    assert await wide.evaluate(SMALLEST_TARGET_PX) >= 48
    assert await screens.accessibility_problems(wide) == []
    await screens.screenshot(wide, "kiosk-start-landscape")


async def test_an_elderly_applicant_s_card_gives_a_screen_ticket_with_elderly_priority(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_kiosk(screens, served_hall)
    card = page.locator("#card")
    await expect(card).to_contain_text("刷身份证 Swipe your ID card")

    kiosks_of(served_hall).resident_card("k1", id_number=ELDER, name="张三丰", valid_to="长期")
    await expect(card.locator(".card-who")).to_have_text(f"张*丰 {ELDER[:4]}**********{ELDER[-4:]}")
    await expect(page.locator("#card-priority")).to_contain_text("长者优先 Elderly priority")
    assert ELDER not in await page.locator("body").inner_text()
    await screens.screenshot(page, "kiosk-card")

    await theme(page, "social").click()
    # This test hall has no printers: the ticket is shown on the screen with its QR code.
    await expect(page.locator("#title")).to_have_text(
        "本机不能打印，请拍下二维码 This kiosk cannot print: take a photo of the QR code"
    )
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await expect(page.locator("#ticket-priority")).to_contain_text("长者优先 Elderly priority")
    await expect(page.locator("#ahead")).to_have_text("0")
    assert await the_qr_code_shows(page) > 0
    await expect(page.locator("#ticket-qr")).to_have_attribute(
        "alt", "A001 号的排队状态二维码 QR code of ticket A001's queue status"
    )
    ticket = await served_hall.get("/api/v1/tickets/20261128-A001")
    assert (ticket["priority"], ticket["channel"], ticket["age_band"]) == (
        "elderly",
        "kiosk-screen",
        "70-79",
    )
    # The QR code is the ticket's own status link.
    source = await page.locator("#ticket-qr").get_attribute("src")
    assert source is not None
    link = source.removeprefix("/api/v1/status/").removesuffix("/qr.svg")
    assert (await served_hall.get(f"/api/v1/status/{link}"))["number"] == "A001"
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-ticket-screen")

    # Done: the card was good for that one ticket; the same person again is told plainly.
    await page.locator('[data-key="done"]').click()
    await expect(card).to_contain_text("刷身份证 Swipe your ID card")
    kiosks_of(served_hall).resident_card("k1", id_number=ELDER, name="张三丰", valid_to="长期")
    await expect(page.locator("#card-priority")).to_be_visible()
    await theme(page, "social").click()
    await expect(page.locator("#title")).to_have_text(
        "您已取过此业务的号（A001），请等候叫号 "
        "You already hold ticket A001 for this service. Please wait to be called."
    )
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-problem")
    await page.locator('[data-key="back"]').click()
    await expect(page.locator("body")).to_have_attribute("data-screen", "start")


async def test_a_confirmed_print_says_take_your_ticket_and_a_double_tap_prints_once(
    served_hall: Api, screens: Screens
) -> None:
    printers = HeldPrinters()
    kiosks_of(served_hall).devices = printers
    page = await open_kiosk(screens, served_hall)
    await expect(page.locator("#printer")).to_have_text("打印机正常 Printer ready")

    # Two taps before the screen can change: both reach the button's handler.
    await theme(page, "social").evaluate("(button) => { button.click(); button.click(); }")
    await expect(page.locator("#title")).to_have_text("正在打印… Printing…")
    await screens.screenshot(page, "kiosk-printing")
    printers.release.set()

    await expect(page.locator("#title")).to_have_text("请取走号票 Please take your ticket")
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await expect(page.locator("#ticket-qr")).to_have_count(0)  # the QR code is on the paper
    assert [paper.number for _, paper in printers.printed] == ["A001"]
    assert [t["number"] for t in await served_hall.get("/api/v1/tickets")] == ["A001"]
    await screens.screenshot(page, "kiosk-ticket-printed")

    await page.locator('[data-key="lang-en"]').click()
    await expect(page.locator("#title")).to_have_text("Please take your ticket 请取走号票")
    await screens.screenshot(page, "kiosk-ticket-printed-en")


async def test_a_failed_print_shows_the_number_its_qr_code_and_where_to_print(
    served_hall: Api, screens: Screens
) -> None:
    printers = Printers()
    printers.fail_with = "paper jam"
    kiosks_of(served_hall).devices = printers
    page = await open_kiosk(screens, served_hall)

    await theme(page, "police").click()
    await expect(page.locator("#title")).to_have_text(
        "打印机故障，请拍下二维码 Printer unavailable: take a photo of the QR code"
    )
    await expect(page.locator("#ticket-number")).to_have_text("B002")
    await expect(page.locator("#voided")).to_have_text(
        "B001 号未能打印，已作废；您的号码是 B002 "
        "Ticket B001 could not be printed and was voided; your number is B002"
    )
    await expect(page.locator("#other-printers li")).to_have_text(["2号自助取号机 Kiosk 2"])
    assert await the_qr_code_shows(page) > 0
    await screens.screenshot(page, "kiosk-print-failed")

    await page.locator('[data-key="lang-en"]').click()
    await expect(page.locator("#title")).to_have_text(
        "Printer unavailable: take a photo of the QR code 打印机故障，请拍下二维码"
    )
    await expect(page.locator("#other-printers li")).to_have_text(["Kiosk 2 2号自助取号机"])
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-print-failed-en")


async def test_english_first_at_a_tap(served_hall: Api, screens: Screens) -> None:
    page = await open_kiosk(screens, served_hall)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.locator('[data-key="lang-en"]').click()

    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator('[data-key="lang-en"]')).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#hall-name")).to_have_text(f"{HALL_EN} {HALL_ZH}")
    await expect(page.locator("#title")).to_have_text("Please choose a service 请选择业务")
    await expect(theme(page, "social").locator(".theme-name")).to_have_text(
        "Social welfare 社会民生"
    )
    await expect(page.locator(".theme-name .first").first).to_have_attribute("lang", "en")
    assert await page.title() == f"{HALL_EN} · Take a ticket"
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-start-en")

    await page.locator('[data-key="lang-zh"]').click()
    await expect(page.locator("#title")).to_have_text("请选择业务 Please choose a service")


async def test_elderly_mode_is_large_starker_fewer_at_a_time_and_passes_the_audit(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_kiosk(screens, served_hall)
    assert await page.evaluate(SMALLEST_TEXT_PX) < 32  # standard mode is not elderly mode

    await page.locator('[data-key="elderly"]').click()
    await expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    await expect(page.locator('[data-key="elderly"]')).to_have_attribute("aria-pressed", "true")
    body = await page.locator("body").evaluate(
        "(body) => [parseFloat(getComputedStyle(body).fontSize), getComputedStyle(body).color,"
        " getComputedStyle(document.documentElement).backgroundColor]"
    )
    assert body[0] >= 32
    assert body[1:] == ["rgb(0, 0, 0)", "rgb(255, 255, 255)"]
    assert await page.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await page.evaluate(SMALLEST_TARGET_PX) > 64
    # Four themes at a time, and a page turn for the other two.
    await expect(page.locator(".theme")).to_have_count(4)
    await expect(page.locator(".page-of")).to_have_text("第 1 / 2 页 Page 1 of 2")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-elderly")
    await page.locator('[data-key="page-next"]').click()
    await expect(page.locator(".theme")).to_have_count(2)
    await expect(theme(page, "pickup")).to_be_visible()
    await page.locator('[data-key="page-back"]').click()

    # Priority is asked on a screen of its own.
    await theme(page, "social").click()
    await expect(page.locator("#title")).to_have_text(
        "是否需要优先办理？ Do you need priority service?"
    )
    await expect(page.locator(".answers button")).to_have_text(
        [
            "不需要，直接取号 No, take my ticket",
            "残疾人 Disabled",
            "孕妇 Pregnant",
            "退役军人 Veteran",
        ]
    )
    assert await page.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-elderly-asking")
    await page.locator('[data-key="ask-disabled"]').click()
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await expect(page.locator("#ticket-priority")).to_contain_text(
        "优先 · 残疾人 Priority · Disabled"
    )
    assert (await served_hall.get("/api/v1/tickets/20261128-A001"))["priority"] == "disabled"
    assert await the_qr_code_shows(page) > 0
    assert await page.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-elderly-ticket")

    wide = await open_kiosk(screens, served_hall, viewport=LANDSCAPE)
    await wide.locator('[data-key="elderly"]').click()
    await expect(wide.locator(".theme")).to_have_count(4)
    assert await wide.evaluate(SMALLEST_TEXT_PX) >= 32
    assert await screens.accessibility_problems(wide) == []
    await screens.screenshot(wide, "kiosk-elderly-landscape")


async def test_after_a_minute_untouched_the_kiosk_starts_over(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_kiosk(screens, served_hall, "?idle=3")
    await page.evaluate(RECORD_MODES)
    kiosks_of(served_hall).resident_card("k1", id_number=YOUNGER, name="李四", valid_to="20300101")
    await expect(page.locator(".card-who")).to_contain_text("李*")
    await page.locator('[data-key="lang-en"]').click()
    await page.locator('[data-key="elderly"]').click()
    await page.locator('[data-key="page-next"]').click()

    await expect(page.locator("html")).to_have_attribute("data-mode", "standard", timeout=15000)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("#title")).to_have_text("请选择业务 Please choose a service")
    await expect(page.locator(".theme")).to_have_count(6)
    await expect(page.locator("#card")).to_contain_text("刷身份证 Swipe your ID card")
    assert await page.evaluate("window.modes") == [
        "zh-CN standard",
        "en standard",
        "en elderly",
        "zh-CN standard",
    ]

    # A ticket on the screen goes too, for the next applicant.
    await theme(page, "police").click()
    await expect(page.locator("#ticket-number")).to_have_text("B001")
    await expect(page.locator("body")).to_have_attribute("data-screen", "start", timeout=15000)
    await expect(page.locator("#title")).to_have_text("请选择业务 Please choose a service")


async def test_a_scanned_ticket_shows_its_status_for_a_moment(
    served_hall: Api, screens: Screens
) -> None:
    issued = await served_hall.issue("social")
    await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/1/open")
    await served_hall.post("/api/v1/windows/1/call")
    page = await open_kiosk(screens, served_hall, "?idle=4")

    kiosks_of(served_hall).code_scanned("k1", issued["number"])
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await expect(page.locator("#scan-now")).to_have_text("请到 1号窗口 办理 Please go to Window 1")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-scan")
    await expect(page.locator("body")).to_have_attribute("data-screen", "start", timeout=15000)

    kiosks_of(served_hall).code_scanned("k1", "A002")
    await expect(page.locator("#scan-now")).to_have_text("请耐心等候叫号 Please wait to be called")
    await expect(page.locator("#ahead")).to_have_text("0")

    kiosks_of(served_hall).code_scanned("k1", "https://example.org/appointment/7")
    await expect(page.locator("#notice")).to_have_text(
        "无法识别此码；预约签到请到咨询台 "
        "This code is not recognised. For an appointment, please ask at the information desk."
    )


async def test_need_help_pages_the_staff_and_claims_a_page_only_when_one_was_made(
    served_hall: Api, screens: Screens
) -> None:
    # Signed in with the kiosk's device token: the page may page the staff.
    page = await screens.open(f"{served_hall.url}/kiosk/k1", role="kiosk", kiosk="k1")
    await page.set_viewport_size(PORTRAIT)
    await expect(page.locator("body")).to_have_attribute("data-link", "live")
    await page.locator('[data-key="help"]').click()
    help_screen = page.locator(".help-screen")
    # The controller pages every manager tablet, and says so: staff are coming.
    await expect(help_screen).to_have_attribute("data-help", "paged")
    await expect(page.locator("#title")).to_have_text("工作人员马上就来 Staff are on their way")
    await expect(help_screen).to_contain_text("请在本机旁稍候 Please wait by this kiosk")
    alerts = await served_hall.get("/api/v1/alerts")
    assert [(a["kind"], a["subject"]) for a in alerts] == [("help", "k1")]
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "kiosk-help")

    # A page that does not get through: the applicant is sent to the desk, never told that
    # staff are coming.
    async def refused(route: Route) -> None:
        await route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "x"}})

    await page.route("**/api/v1/kiosks/k1/help", refused)
    await page.locator('[data-key="back"]').click()
    await page.locator('[data-key="help"]').click()
    await expect(help_screen).to_have_attribute("data-help", "desk")
    await expect(page.locator("#title")).to_have_text(
        "请到咨询台 Please ask at the information desk"
    )
    await expect(help_screen).to_contain_text(
        "呼叫未能送达工作人员 The call did not reach the staff"
    )
    assert "工作人员马上就来" not in await page.locator("body").inner_text()
