"""The technician console in a real browser: devices live and troubled first, a test-fire that
reaches a simulated board, a profile edited with a typo, the log; in Chinese and English."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Page, ViewportSize, expect
from test_technician import DeviceHall, recent_log, start_device_hall, stop_device_hall

from waiting import eventually

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
__all__ = ["recent_log"]  # a fixture of test_technician, used here too

LAPTOP: ViewportSize = {"width": 1366, "height": 900}
DEVICES = ("w1-pad", "w1-board", "w1-rating", "k1-printer", "k1-idcard")
MIN_TARGET_PX = 48


@pytest.fixture
async def device_hall(tmp_path: Path) -> AsyncIterator[DeviceHall]:
    hall = await start_device_hall(tmp_path, DEVICES)
    try:
        yield hall
    finally:
        await stop_device_hall(hall)


async def open_console(device_hall: DeviceHall, screens: Screens) -> Page:
    page = await screens.open(f"{device_hall.api.url}/technician", role="technician")
    await page.set_viewport_size(LAPTOP)
    await expect(page.locator("#devices > li")).to_have_count(len(DEVICES))
    return page


async def small_targets(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(
        """(minimum) => [...document.querySelectorAll("button, select, input, summary")]
            .filter((e) => e.offsetParent !== null)
            .filter((e) => { const r = e.getBoundingClientRect();
                             return r.width < minimum || r.height < minimum; })
            .map((e) => e.id || e.textContent.trim())""",
        MIN_TARGET_PX,
    )
    return found


async def test_devices_are_listed_live_lost_ones_first_and_a_board_test_fires(
    device_hall: DeviceHall, screens: Screens
) -> None:
    page = await open_console(device_hall, screens)
    cards = page.locator("#devices > li")
    board = page.locator("#device-w1-board")
    await expect(board.locator(".state")).to_contain_text("正常")
    await expect(board.locator("button.test")).to_contain_text("屏幕测试")
    await expect(page.locator("#device-k1-idcard button.test")).to_be_disabled()
    await expect(page.locator("#device-summary")).to_contain_text("5 台设备")

    # A printer whose cable is pulled goes to the top within a poll, said in words and a sign.
    device_hall.sim.unplug("k1-printer")
    await expect(cards.first).to_have_attribute("id", "device-k1-printer", timeout=10_000)
    lost = cards.first.locator(".state")
    await expect(lost).to_contain_text("离线")
    await expect(lost).to_contain_text("Lost")
    await expect(lost.locator(".icon")).to_have_text("✖")
    await expect(page.locator("#device-summary")).to_contain_text("1 台需要处理")
    assert await small_targets(page) == []
    assert await screens.accessibility_problems(page) == []

    await board.locator("button.test").click()
    await expect(board.locator(".result")).to_contain_text("测试 TEST")
    peer = device_hall.peer("w1-board")
    await eventually(lambda: peer.text == "测试 TEST", "the simulated board shows the test")
    await board.locator("details.frames summary").click()
    await expect(board.locator("details.frames")).to_contain_text("test: 测试 TEST")
    await screens.screenshot(page, "technician-devices")

    # A refused test says why, next to its button.
    pad = page.locator("#device-k1-printer")
    await expect(pad.locator("button.test")).to_be_enabled()
    await pad.locator("button.test").click()
    await expect(pad.locator(".result")).to_contain_text("lost")
    await expect(pad.locator(".result")).to_contain_text("设备现在无法测试")

    await page.locator("#language").click()
    await expect(page.locator("h1 span").first).to_have_text("Technician console")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(lost.locator("span").nth(1)).to_have_text("Lost")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "technician-devices-en")


async def test_a_profile_with_a_typo_shows_the_problem_and_is_saved_once_fixed(
    device_hall: DeviceHall, screens: Screens
) -> None:
    page = await open_console(device_hall, screens)
    await page.locator("#tab-profiles").click()
    await expect(page.locator("#profiles-panel")).to_be_visible()
    await expect(page.locator("#profiles-panel .effect")).to_contain_text("下次启动时生效")
    profile = page.locator('button[data-profile="led-aa55-sum8"]')
    await expect(profile).to_contain_text("w1-board")
    await profile.click()
    editor = page.locator("#profile-text")
    await expect(editor).to_have_value(profile_text(device_hall))

    file = device_hall.profiles / "led-aa55-sum8.toml"
    text = file.read_text("utf-8")
    await editor.fill(text.replace("baudrate = 9600", "baudrat = 9600"))
    await page.locator("#validate").click()
    problems = page.locator("#problems li")
    await expect(problems).to_have_count(1)
    await expect(problems.first).to_contain_text(
        'led-aa55-sum8.toml: transport.baudrat: unknown key; did you mean "baudrate"?'
    )
    await page.locator("#save").click()
    await expect(page.locator("#check-result")).to_contain_text("未保存")
    assert file.read_text("utf-8") == text
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "technician-profile-problem")

    await editor.fill(text.replace('refresh_every = "15s"', 'refresh_every = "10s"'))
    await page.locator("#save").click()
    await expect(page.locator("#check-result")).to_contain_text("下次启动时生效")
    await expect(problems).to_have_count(0)
    await eventually(lambda: '"10s"' in file.read_text("utf-8"), "the profile saved")
    await expect(profile).to_contain_text("已保存")

    await page.locator("#language").click()
    await expect(page.locator("#profiles-panel .effect span").first).to_have_text(
        "A saved profile takes effect at the controller's next start."
    )
    await screens.screenshot(page, "technician-profile-en")


@pytest.mark.usefixtures("recent_log")
async def test_the_log_tab_shows_who_test_fired_what_and_filters_by_level(
    device_hall: DeviceHall, screens: Screens
) -> None:
    page = await open_console(device_hall, screens)
    await page.locator("#device-w1-board button.test").click()
    await expect(page.locator("#device-w1-board .result")).to_contain_text("测试 TEST")
    await page.locator("#tab-log").click()
    await expect(page.locator("#log-panel")).to_be_visible()
    fired = page.locator('#log li:has-text("device_test_fired")')
    await expect(fired).to_have_count(1)
    await expect(fired).to_contain_text("device=w1-board")
    await expect(fired).to_contain_text("actor=technician:chen.gang")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "technician-log")
    await page.locator("#log-level").select_option("warning")
    await expect(fired).to_have_count(0)


def profile_text(device_hall: DeviceHall) -> str:
    """The profile's text as the file holds it (what the editor must show unchanged)."""
    return (device_hall.profiles / "led-aa55-sum8.toml").read_text("utf-8")
