"""The sign-in page in a real browser: clerks and kiosks sign in and reach their screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect

from accounts import DEMO_KIOSK_TOKENS

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def test_a_clerk_is_sent_to_sign_in_and_comes_back_to_the_window_panel(
    served_hall: Api, screens: Screens
) -> None:
    page = await screens.open(f"{served_hall.url}/window/3")
    assert page.url == f"{served_hall.url}/login?next=/window/3"
    await expect(page.locator("#place")).to_have_text("3 号窗口 Window 3")
    assert await page.locator("#window").input_value() == "3"
    # The demo hall's hint tells a new user the demo's accounts.
    await expect(page.locator("#hint-zh")).to_contain_text("zhang.min")
    assert not await screens.accessibility_problems(page)
    await screens.screenshot(page, "signin-window")

    await page.locator("#account").fill("zhang.min")
    await page.locator("#secret").fill("0000")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_contain_text("不正确")
    await expect(page.locator("#secret")).to_have_value("")
    await screens.screenshot(page, "signin-window-refused")

    await page.locator("#secret").fill("1111")
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(f"{served_hall.url}/window/3")
    trail = await served_hall.get("/api/v1/audit")
    kinds = [(e["type"], e["actor"], e["data"].get("window")) for e in trail["events"]]
    assert ("SignInRefused", "address:127.0.0.1", "3") in kinds
    assert ("SignedIn", "staff:zhang.min", "3") in kinds
    assert (await served_hall.get("/api/v1/windows/3"))["clerk"] == "zhang.min"

    # The panel says who is signed in there, and signing out returns to the sign-in page.
    await expect(page.locator("#signed-in .signed-in-as")).to_contain_text("张敏")
    await page.get_by_role("button", name="退出 Sign out").click()
    await page.wait_for_url(f"{served_hall.url}/login?next=%2Fwindow%2F3")
    assert (await served_hall.get("/api/v1/windows/3"))["clerk"] is None


async def test_a_kiosk_is_signed_in_once_with_its_token(served_hall: Api, screens: Screens) -> None:
    page = await screens.open(f"{served_hall.url}/kiosk/k2")
    await expect(page.locator("#place")).to_have_text("自助取号机 k2 Kiosk k2")
    await expect(page.locator("#account-row")).to_be_hidden()
    await page.locator("#secret").fill(DEMO_KIOSK_TOKENS["k1"])  # another kiosk's token
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await page.locator("#secret").fill(DEMO_KIOSK_TOKENS["k2"])
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(f"{served_hall.url}/kiosk/k2")
    await expect(page.locator('button[data-theme="social"]')).to_be_enabled()
    # The kiosk's cookie outlives the browser: a kiosk stays signed in across reboots.
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["hc_session"]["expires"] > 0
    assert cookies["hc_session"]["httpOnly"]
    assert cookies["hc_session"]["sameSite"] == "Strict"
    assert cookies["hc_session"]["secure"]


async def test_a_signed_in_user_sees_who_they_are_and_can_sign_out(
    served_hall: Api, screens: Screens
) -> None:
    page = await screens.open(f"{served_hall.url}/login?next=/manager", role="manager")
    await expect(page.locator("#signed-in-text")).to_contain_text("王丽")
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.locator("#signed-in")).to_be_hidden()
    trail = await served_hall.get("/api/v1/audit")
    assert ("SignedOut", "manager:wang.li") in [(e["type"], e["actor"]) for e in trail["events"]]


async def test_someone_signed_in_can_sign_in_again_as_someone_else(
    served_hall: Api, screens: Screens
) -> None:
    # A technician handed the manager's tablet: the page for it sends them to sign in.
    page = await screens.open(f"{served_hall.url}/login?next=/manager", role="technician")
    await expect(page.locator("#signed-in-text")).to_contain_text("陈刚")
    await page.locator("#account").fill("wang.li")
    await page.locator("#secret").fill("manager-demo")
    await page.locator("#submit").click()
    await page.wait_for_url(f"{served_hall.url}/manager")
    trail = await served_hall.get("/api/v1/audit")
    assert ("SignedIn", "manager:wang.li") in [(e["type"], e["actor"]) for e in trail["events"]]


@pytest.mark.parametrize(
    "next_",
    ["https://evil.example/", "//evil.example/", "/%5Cevil.example/", "/%09/evil.example/"],
)
async def test_the_sign_in_page_returns_only_to_this_controller(
    served_hall: Api, screens: Screens, next_: str
) -> None:
    page = await screens.open(f"{served_hall.url}/login?next={next_}", role="manager")
    await expect(page.locator("#signed-in")).to_be_visible()
    assert await page.locator("#continue").get_attribute("href") == "/"


async def test_the_sign_in_page_keeps_a_page_of_this_controller_to_return_to(
    served_hall: Api, screens: Screens
) -> None:
    page = await screens.open(f"{served_hall.url}/login?next=/%5C127.0.0.1:9/")
    await page.locator("#account").fill("wang.li")
    await page.locator("#secret").fill("manager-demo")
    await page.locator("#submit").click()
    await page.wait_for_url(f"{served_hall.url}/")
    page = await screens.open(
        f"{served_hall.url}/login?next=%2Fwindow%2F3%3Fview%3Dqueue", role="staff", window="3"
    )
    await expect(page.locator("#signed-in")).to_be_visible()
    assert await page.locator("#continue").get_attribute("href") == "/window/3?view=queue"
