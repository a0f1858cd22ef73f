"""The hall display (综合屏) in a real browser: people waiting, calls, a restarting controller,
missed numbers, the notice line, an emergency over everything and the calls spoken aloud."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, async_playwright, expect
from test_api import T0, Api, Clock

from hall_controller.settings import load_settings
from hall_controller.web.api import SCREENS_KEY

from accounts import AUTH
from waiting import eventually

if TYPE_CHECKING:
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
    async with aiohttp.ClientSession(restarting_hall.url, headers=AUTH) as client:

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


# ----------------------------------------------------------------- the emergency


async def test_an_emergency_covers_the_display_live_and_leaves_when_it_ends(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("police")
    await served_hall.post("/api/v1/windows/3/open")
    await served_hall.post("/api/v1/windows/3/call")
    page = await screens.open(served_hall.url + "/display")
    banner = page.locator("#emergency")
    await expect(page.locator("#current-call .call-zh")).to_have_text("请 B001 号 到 3号窗口 办理")
    await expect(banner).to_be_hidden()

    await served_hall.post("/api/v1/emergency", {"message": "请沿绿色通道有序离开大厅"})
    await expect(banner).to_be_visible()
    await expect(page.locator("#emergency-title")).to_have_text("紧急通知 Emergency")
    await expect(page.locator("#emergency-message")).to_have_text("请沿绿色通道有序离开大厅")
    await expect(page.locator("#emergency-drill")).to_be_hidden()
    await expect(page.locator("#emergency-since")).to_have_text("10:00 起 since 10:00")
    # It covers the whole screen, and what is under it is out of reach.
    box = await banner.bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 1920, 1080)
    assert await page.locator("main.board").evaluate("(board) => board.inert") is True
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display-emergency")

    await served_hall.request("DELETE", "/api/v1/emergency")
    await expect(banner).to_be_hidden()
    assert await page.locator("main.board").evaluate("(board) => board.inert") is False
    await expect(page.locator("#current-call .call-zh")).to_have_text("请 B001 号 到 3号窗口 办理")


async def test_a_drill_is_marked_as_a_drill_in_words_and_a_new_display_shows_it_at_once(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.post(
        "/api/v1/emergency", {"message": "消防演练：请跟随工作人员到集合点", "drill": True}
    )
    # A display switched on during the drill shows it from the state it reads first.
    page = await screens.open(served_hall.url + "/display")
    await expect(page.locator("#emergency")).to_be_visible()
    await expect(page.locator("#emergency-drill")).to_have_text("演练 DRILL")
    await expect(page.locator("#emergency-title")).to_have_text("紧急演练 Emergency drill")
    await expect(page.locator("#emergency-message")).to_have_text(
        "消防演练：请跟随工作人员到集合点"
    )
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display-emergency-drill")
    await served_hall.request("DELETE", "/api/v1/emergency")
    await expect(page.locator("#emergency")).to_be_hidden()


# ----------------------------------------------------------------- missed numbers, notice line


async def test_missed_numbers_are_listed_newest_first_and_the_notice_line_is_the_halls(
    served_hall: Api, screens: Screens
) -> None:
    for _ in range(3):
        await served_hall.issue("pickup")
    await served_hall.post("/api/v1/windows/11/open")
    page = await screens.open(served_hall.url + "/display")
    missed = page.locator("#missed li")
    await expect(page.locator("#missed-none")).to_have_text("暂无过号 None")
    await expect(page.locator("#notice-zh")).to_have_text(
        "请留意叫号，过号请到导服台咨询。办事请携带身份证原件。"
    )
    await expect(page.locator("#notice-en")).to_have_text(
        "Please watch for your number. Missed your call? Ask at the information desk. "
        "Bring your ID card."
    )

    await served_hall.post("/api/v1/windows/11/call")
    await served_hall.post("/api/v1/windows/11/no-show")
    await expect(missed).to_have_text(["F001"])
    await expect(page.locator("#missed-none")).to_be_hidden()
    await served_hall.post("/api/v1/windows/11/call")
    for _ in range(3):  # recalled past the limit: an automatic no-show
        await served_hall.post("/api/v1/windows/11/recall")
    await expect(missed).to_have_text(["F002", "F001"])
    await served_hall.post("/api/v1/windows/11/call")
    await served_hall.post("/api/v1/windows/11/finish")  # served: never missed
    await expect(page.locator("#missed-title")).to_have_text("过号 Missed calls")
    await expect(missed).to_have_text(["F002", "F001"])
    numbers = await page.evaluate(
        "getComputedStyle(document.querySelector('#missed li')).fontVariantNumeric"
    )
    assert "tabular-nums" in numbers
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display-missed")


LONG_NOTICE = ("今日下午三点至四点系统维护，期间部分业务暂停办理，敬请谅解。" * 3)[:190]


@pytest.fixture
def long_notice_config(demo_config_path: Path) -> Path:
    """The demo hall with a notice line far wider than the screen."""
    text = demo_config_path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^notice_zh = .*$", f'notice_zh = "{LONG_NOTICE}"', text)
    demo_config_path.write_text(text, encoding="utf-8")
    return demo_config_path


async def test_a_notice_longer_than_the_screen_scrolls_and_stands_still_for_reduced_motion(
    long_notice_config: Path, tmp_path: Path, screens: Screens
) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        hall = Api(load_settings(long_notice_config), tmp_path / "data", Clock(T0), session)
        await hall.start()
        try:
            page = await screens.open(hall.url + "/display")
            line = page.locator("#notice")
            await expect(page.locator("#notice-zh")).to_have_text(LONG_NOTICE)
            await expect(line).to_have_class(re.compile(r"\bscrolling\b"))
            moving = await line.evaluate("(line) => getComputedStyle(line).animationName")
            assert moving == "notice-scroll"
            await page.emulate_media(reduced_motion="reduce")
            still = await line.evaluate("(line) => getComputedStyle(line).animationName")
            assert still == "none"
        finally:
            await hall.stop()


# ----------------------------------------------------------------- the calls spoken aloud


class EdgeVoice:
    """The controller's own voice as the composition root hands it to the service."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def emergency_wav(self, message: str, drill: bool) -> bytes | None:
        return await self.call_wav(message, "drill" if drill else "emergency")

    async def call_wav(self, number: str, window: str) -> bytes | None:
        self.asked.append((number, window))
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(22050)
            wav.writeframes(b"\x00\x00" * 6615)  # 0.3 s
        return out.getvalue()


# Notes each call the display's audio element starts playing (from the page's first moment:
# an evaluate() from the test would count as a user's touch, and lift Chromium's autoplay rule).
RECORD_PLAYING = """
window.played = [];
document.addEventListener(
    "playing", (event) => window.played.push(event.target.dataset.call), true);
"""


async def played(page: Page) -> list[str]:
    calls: list[str] = await page.evaluate("window.played")
    return calls


async def untouched_display(
    served_hall: Api, screens: Screens, query: str, script: str = ""
) -> Page:
    """The display opened as a TV is switched on: nobody touches it, not even the test."""
    from browser import TV  # the plugin's module, loaded by pytest_plugins by now

    assert served_hall.controller is not None
    following = served_hall.controller.runner.app[SCREENS_KEY]
    before = len(following)
    context = await screens.browser.new_context(viewport=TV, locale="zh-CN", timezone_id="UTC")
    page = await context.new_page()
    page.on("pageerror", lambda error: screens.script_errors.append(f"display: {error}"))
    await page.add_init_script(RECORD_PLAYING + script)
    await page.goto(served_hall.url + "/display" + query)
    # Live once its event stream is open: seen from the controller, not by asking the page.
    await eventually(lambda: len(following) > before, "the display follows the hall's events")
    return page


async def test_under_chromiums_autoplay_rule_the_display_asks_for_one_tap_then_speaks(
    served_hall: Api, screens: Screens
) -> None:
    assert served_hall.controller is not None
    voice = EdgeVoice()
    served_hall.controller.service.voice = voice
    for theme in ("police", "police"):
        await served_hall.issue(theme)
    for window in ("3", "4"):
        await served_hall.post(f"/api/v1/windows/{window}/open")
    page = await untouched_display(served_hall, screens, "?voice=1")
    sound = page.locator("#sound-enable")

    await served_hall.post("/api/v1/windows/3/call")
    # Chromium refuses to play before anyone touched the page: the display asks, once.
    await expect(sound).to_be_visible()
    await expect(sound).to_have_text(re.compile(r"点击开启声音\s+Tap to enable sound"))
    await expect(page.locator("body")).to_have_attribute("data-voice", "audio")
    assert await played(page) == []
    box = await sound.bounding_box()
    assert box is not None
    assert min(box["width"], box["height"]) >= 48
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display-sound-off")

    await sound.click()
    await expect(sound).to_be_hidden()
    await page.wait_for_function("window.played.includes('B001 3')")
    # From now on each call is spoken as it comes, without another tap.
    await served_hall.post("/api/v1/windows/4/call")
    await page.wait_for_function("window.played.includes('B002 4')")
    await served_hall.post("/api/v1/windows/3/recall")
    await page.wait_for_function("window.played.length === 3")
    assert await played(page) == ["B001 3", "B002 4", "B001 3"]
    await expect(sound).to_be_hidden()
    assert {("B001", "3"), ("B002", "4")} <= set(voice.asked)


@contextlib.asynccontextmanager
async def tv_with_autoplay(policy: str) -> AsyncIterator[Screens]:
    """Chromium started as an unattended hall TV is: --autoplay-policy=<policy>."""
    from browser import CHROMIUM, CHROMIUM_ARGS, Screens

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--autoplay-policy={policy}"]
        )
        tv = Screens(browser)
        try:
            yield tv
        finally:
            await browser.close()
    assert not tv.script_errors, "script errors on the display:\n" + "\n".join(tv.script_errors)


async def test_a_tv_started_with_autoplay_allowed_speaks_at_once_and_not_over_an_emergency(
    served_hall: Api,
) -> None:
    assert served_hall.controller is not None
    served_hall.controller.service.voice = EdgeVoice()
    for _ in range(3):
        await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/1/open")
    async with tv_with_autoplay("no-user-gesture-required") as tv:
        page = await untouched_display(served_hall, tv, "?voice=1")
        await served_hall.post("/api/v1/windows/1/call")
        await page.wait_for_function("window.played.includes('A001 1')")
        await expect(page.locator("#sound-enable")).to_be_hidden()

        await served_hall.post("/api/v1/emergency", {"message": "暂停服务"})
        await expect(page.locator("#emergency")).to_be_visible()
        await page.wait_for_function("window.played.includes('emergency')")  # its message
        await served_hall.post("/api/v1/windows/1/start")
        await served_hall.post("/api/v1/windows/1/call")
        await expect(page.locator("#current-call .call-zh .number")).to_have_text("A002")
        await served_hall.request("DELETE", "/api/v1/emergency")
        await expect(page.locator("#emergency")).to_be_hidden()
        await served_hall.post("/api/v1/windows/1/start")
        await served_hall.post("/api/v1/windows/1/call")
        await page.wait_for_function("window.played.includes('A003 1')")
        # A002 came during the emergency: the message has the voice, said once in a minute.
        assert await played(page) == ["A001 1", "emergency", "A003 1"]

        # Without ?voice=1 the demo hall's display stays silent (its [display] voice = false).
        quiet = await tv.open(served_hall.url + "/display")
        await expect(quiet.locator("body")).to_have_attribute("data-voice", "off")


# The browser's own voice, as Chromium treats it: refused until the page was touched once.
FAKE_SPEECH = """
window.spoken = [];
const chinese = { name: "Chinese (Mandarin)", lang: "zh-CN", localService: true };
window.SpeechSynthesisUtterance = class {
    constructor(text) { this.text = text; this.lang = ""; this.voice = null; }
};
Object.defineProperty(window, "speechSynthesis", { value: {
    getVoices: () => [{ name: "English", lang: "en-GB" }, chinese],
    cancel() {},
    speak(utterance) {
        if (!navigator.userActivation.hasBeenActive) {
            setTimeout(() => utterance.onerror({ error: "not-allowed" }), 0);
            return;
        }
        window.spoken.push([utterance.text, utterance.lang, utterance.voice?.lang ?? null]);
        setTimeout(() => utterance.onend({}), 50);
    },
} });
"""


async def test_without_the_controllers_voice_the_browser_speaks_the_call_in_chinese(
    served_hall: Api, screens: Screens
) -> None:
    assert served_hall.controller is not None
    served_hall.controller.service.voice = None  # a box without espeak-ng for its screens
    for theme in ("police", "social"):
        await served_hall.issue(theme)
    await served_hall.post("/api/v1/windows/3/open")
    page = await untouched_display(served_hall, screens, "?voice=on", FAKE_SPEECH)
    await served_hall.post("/api/v1/windows/3/call")
    sound = page.locator("#sound-enable")
    await expect(sound).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-voice", "speech")
    assert await page.evaluate("window.spoken") == []
    await sound.click()
    await page.wait_for_function("window.spoken.length === 1")
    await served_hall.post("/api/v1/windows/3/start")
    await served_hall.post("/api/v1/windows/3/call")  # window 3 moves on to A001
    await page.wait_for_function("window.spoken.length === 2")
    assert await page.evaluate("window.spoken") == [
        ["请 B 0 0 1 号 到 3 号窗口", "zh-CN", "zh-CN"],
        ["请 A 0 0 1 号 到 3 号窗口", "zh-CN", "zh-CN"],
    ]
