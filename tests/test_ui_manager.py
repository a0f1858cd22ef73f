"""The manager tablet in a real browser: the live hall, actions with reasons, the policy, the
figures and their charts, alerts paged from a kiosk, the emergency control, both languages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Locator, Page, ViewportSize, expect

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

LANDSCAPE: ViewportSize = {"width": 1280, "height": 800}
PORTRAIT: ViewportSize = {"width": 800, "height": 1280}
MIN_TARGET_PX = 48


async def open_tablet(served_hall: Api, screens: Screens, query: str = "") -> Page:
    """The tablet, signed in as the demo hall's manager, once its stream is live."""
    page = await screens.open(f"{served_hall.url}/manager{query}", role="manager")
    await page.set_viewport_size(LANDSCAPE)
    await expect(page.locator("body")).to_have_attribute("data-link", "live")
    await expect(page.locator("#window-list li").first).to_be_visible()
    return page


def window_card(page: Page, window: str) -> Locator:
    return page.locator(f'#window-list li[data-window="{window}"]')


async def choose_reason(page: Page, preset: str, submit: str) -> None:
    """In the open action dialog: pick a ready-made reason and submit."""
    dialog = page.locator("#action-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#action-submit")).to_be_disabled()  # no reason yet
    await dialog.locator("label.preset", has_text=preset).click()
    await expect(page.locator("#action-submit")).to_have_text(submit)
    await page.locator("#action-submit").click()
    await expect(dialog).to_be_hidden()


async def small_targets(page: Page) -> list[Any]:
    """Every visible control smaller than MIN_TARGET_PX in either direction, with its size."""
    found: list[Any] = await page.evaluate(
        """(minimum) => {
            const controls = document.querySelectorAll(
                "button, select, input[type=text], input[type=number], label.preset");
            return [...controls]
                .filter((c) => c.checkVisibility())
                .map((c) => [c.id || c.textContent.trim(), c.getBoundingClientRect()])
                .filter(([, r]) => r.width < minimum || r.height < minimum)
                .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`);
        }""",
        MIN_TARGET_PX,
    )
    return found


async def test_the_live_hall_follows_every_window_and_a_manager_acts_with_a_reason(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.post("/api/v1/windows/1/open")
    for theme in ("social", "social", "pickup"):
        await served_hall.issue(theme)
    await served_hall.post("/api/v1/windows/1/call")
    page = await open_tablet(served_hall, screens)

    one = window_card(page, "1")
    await expect(one.locator("h3")).to_have_text("1号窗口 Window 1")
    await expect(one.locator(".status")).to_have_text("呼叫中 Calling")
    await expect(one.locator(".current .number")).to_have_text("A001")
    await expect(window_card(page, "2").locator(".status")).to_have_text("未开放 Closed")
    social = page.locator('#theme-rows tr[data-theme="social"]')
    await expect(social.locator("td").first).to_have_text("1")
    await expect(social.locator("td").nth(1)).to_contain_text("A002")
    await expect(social.locator(".state")).to_have_text("正常 Within target")

    # Live: a clerk opens window 2 at the counter; the tablet shows it without a reload.
    await served_hall.post("/api/v1/windows/2/open")
    await expect(window_card(page, "2").locator(".status")).to_have_text("空闲 Open")
    assert await small_targets(page) == []
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-hall")

    # The manager pauses window 2: the reason is asked for, sent, shown and audited.
    await window_card(page, "2").locator('button[data-window-action="pause"]').click()
    await choose_reason(page, "会议", "暂停 Pause")
    await expect(window_card(page, "2").locator(".status")).to_have_text("暂停 Paused")
    await expect(window_card(page, "2").locator(".pause-reason")).to_have_text("原因：会议 Meeting")
    await expect(page.locator("#message")).to_have_text("2号窗口 已暂停 Window 2: paused")

    await page.locator("#tab-audit").click()
    paused = page.locator('#audit-rows tr[data-type="WindowPaused"]')
    await expect(paused.locator(".reason")).to_have_text("会议 Meeting")
    await expect(paused.locator(".who")).to_have_text("manager:wang.li")
    await expect(page.locator("#audit-rows tr").first).to_have_attribute(
        "data-type", "WindowPaused"
    )
    trail = await served_hall.get("/api/v1/audit")
    [entry] = [e for e in trail["events"] if e["type"] == "WindowPaused"]
    assert (entry["actor"], entry["data"]["reason"]) == ("manager:wang.li", "会议 Meeting")
    await screens.screenshot(page, "manager-audit")


async def test_prioritising_and_cancelling_tickets_from_the_queue(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.post("/api/v1/windows/1/open")  # the calling order needs a window
    for _ in range(3):
        await served_hall.issue("social")
    page = await open_tablet(served_hall, screens)
    await page.locator("#tab-tickets").click()
    rows = page.locator("#ticket-rows tr")
    await expect(rows.locator("th")).to_have_text(["A001", "A002", "A003"])

    await page.locator(
        '#ticket-rows tr[data-ticket="A003"] [data-ticket-action="prioritise"]'
    ).click()
    await page.locator("#field-priority").select_option("disabled")
    # The test hall's clock stands still; a real one moves on, and the forecast with it.
    served_hall.clock.advance(5)
    await choose_reason(page, "现场核实属优先人群", "确定 Apply")
    await expect(page.locator("#message")).to_have_text("A003 已调整为 残疾人 A003 is now Disabled")
    await expect(rows.locator("th")).to_have_text(["A003", "A001", "A002"])
    await expect(page.locator('#ticket-rows tr[data-ticket="A003"] .tag')).to_have_text(
        "优先 · 残疾人"
    )
    await screens.screenshot(page, "manager-tickets")

    await page.locator('#ticket-rows tr[data-ticket="A002"] [data-ticket-action="cancel"]').click()
    await page.locator("#action-other").fill("applicant went home")
    await page.locator("#action-submit").click()
    await expect(rows.locator("th")).to_have_text(["A003", "A001"])
    cancelled = await served_hall.get("/api/v1/tickets/A002")
    assert cancelled["status"] == "cancelled"
    trail = await served_hall.get("/api/v1/audit?ticket=A002")
    assert [(e["type"], e["data"].get("reason")) for e in trail["events"]][-1] == (
        "TicketCancelled",
        "applicant went home",
    )
    waiting = await served_hall.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A003", "A001"]


async def test_a_policy_edit_applies_at_once_and_says_who_changed_it(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_tablet(served_hall, screens)
    await page.locator("#tab-policy").click()
    head_start = page.locator("#setting-priority_head_start_s")
    await expect(head_start).to_have_value("15")
    await expect(page.locator("#setting-max_wait_s-pickup")).to_have_value("15")
    await expect(page.locator("#policy-changed")).to_have_text(
        "今日未修改，为配置文件中的规则 Not changed today: the hall config's rules"
    )
    await head_start.fill("5")
    await expect(page.locator("#policy-save")).to_be_disabled()  # no reason yet
    await expect(page.locator("#policy-problem")).to_have_text(
        "请填写修改原因 Give a reason for the change"
    )
    await page.locator("#setting-recall_limit").fill("99")
    await expect(page.locator("#setting-recall_limit")).to_have_attribute("aria-invalid", "true")
    await page.locator("#setting-recall_limit").fill("3")
    await page.locator("#policy-reason").fill("many elderly applicants this morning")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-policy")
    await page.locator("#policy-save").click()
    await expect(page.locator("#message")).to_have_text(
        "叫号规则已更新，下一次叫号起生效 Policy saved: it applies from the next call"
    )
    await expect(page.locator("#policy-changed")).to_contain_text("manager:wang.li")
    policy = await served_hall.get("/api/v1/policy")
    assert (policy["priority_head_start_s"], policy["recall_limit"]) == (300, 3)
    await expect(head_start).to_have_value("5")


async def test_todays_figures_are_drawn_as_charts(served_hall: Api, screens: Screens) -> None:
    await served_hall.post("/api/v1/windows/1/open")
    for theme in ("social", "social", "police"):
        await served_hall.issue(theme)
    served_hall.clock.advance(600)
    await served_hall.post("/api/v1/windows/1/call")
    await served_hall.post("/api/v1/windows/1/finish")
    await served_hall.post("/api/v1/tickets/A001/rating", {"score": 5})
    page = await open_tablet(served_hall, screens)
    await page.locator("#tab-figures").click()
    hours = page.locator('svg[data-chart="hours"]')
    await expect(hours).to_be_visible()
    await expect(hours.locator("g.hour")).to_have_count(9)  # 9:00 to 17:00
    ten = hours.locator('g.hour[data-hour="10"]')
    await expect(ten.locator("text.value")).to_have_text(["3", "1"])  # issued, calls
    await expect(page.locator('[data-total="issued"] dd')).to_have_text("3")
    await expect(page.locator('[data-total="served"] dd')).to_have_text("1")
    await expect(page.locator('#figure-rows tr[data-theme="social"] td').first).to_have_text("2")
    ratings = page.locator('svg[data-chart="ratings"]')
    await expect(ratings.locator('g[data-score="5"] text.value')).to_have_text("1")
    await expect(page.locator("#hours-legend")).to_contain_text("取号（斜纹）")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-figures")


async def test_a_help_page_from_a_kiosk_appears_live_and_is_acknowledged(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_tablet(served_hall, screens)
    await expect(page.locator("#alerts-none")).to_have_text("暂无提醒 No alerts")
    kiosk = await screens.open(f"{served_hall.url}/kiosk/k1", role="kiosk", kiosk="k1")
    await expect(kiosk.locator("body")).to_have_attribute("data-link", "live")
    await kiosk.locator('[data-key="help"]').click()
    await expect(kiosk.locator("#title")).to_have_text("工作人员马上就来 Staff are on their way")

    alert = page.locator('#alert-list li[data-kind="help"]')
    await expect(alert.locator(".text")).to_have_text(
        "1号自助取号机：申请人需要帮助 Kiosk 1: an applicant needs help"
    )
    await expect(alert.locator(".level")).to_have_text("紧急 Urgent")
    await expect(page.locator("#alert-count")).to_have_text("1")
    await expect(page.locator("#alerts")).to_have_attribute("data-state", "critical")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-help-paged")

    await alert.locator("button.ack").click()
    await expect(alert).to_have_count(0)
    await expect(page.locator("#alert-count")).to_have_text("0")
    trail = await served_hall.get("/api/v1/audit")
    steps = [(e["type"], e["actor"]) for e in trail["events"] if e["type"] != "SignedIn"]
    assert steps == [("HelpRequested", "kiosk:k1"), ("AlertAcknowledged", "manager:wang.li")]


async def test_a_wait_over_target_is_an_alert_with_words_and_an_icon(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("pickup")
    served_hall.clock.advance(16 * 60)
    page = await open_tablet(served_hall, screens)
    alert = page.locator('#alert-list li[data-kind="wait"]')
    await expect(alert.locator(".text")).to_have_text(
        "查询发证：1 人等候超过目标，F001 已等 16 分钟（目标 15 分钟） "
        "Results and certificate pick-up: 1 waiting past target; F001 has waited 16 min "
        "(target 15 min)"
    )
    await expect(alert.locator("svg.icon-wait")).to_have_count(1)
    await expect(page.locator('#theme-rows tr[data-theme="pickup"] .state')).to_have_text(
        "1 人超过目标 1 past target"
    )
    await alert.locator("button.ack").click()
    await expect(alert.locator(".done")).to_have_text(
        "已确认 · manager:wang.li Acknowledged · manager:wang.li"
    )


async def test_the_emergency_control_starts_and_ends_a_drill(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_tablet(served_hall, screens)
    await page.locator("#emergency-open").click()
    await expect(page.locator("#emergency-submit")).to_be_disabled()
    await page.locator("#emergency-text").fill("消防演练，请按指示有序离开 Fire drill")
    await page.locator("#emergency-drill").check()
    await page.locator("#emergency-submit").click()
    banner = page.locator("#emergency-banner")
    await expect(banner).to_be_visible()
    await expect(page.locator("#emergency-title")).to_have_text(
        "紧急演练进行中 Emergency drill in progress"
    )
    await expect(page.locator("#emergency-message")).to_have_text(
        "消防演练，请按指示有序离开 Fire drill"
    )
    state = await served_hall.get("/api/v1/emergency")
    assert (state["active"], state["drill"]) == (True, True)
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-emergency")

    await page.locator("#emergency-end").click()
    await choose_reason(page, "演练结束", "结束紧急模式 End the emergency")
    await expect(banner).to_be_hidden()
    assert (await served_hall.get("/api/v1/emergency"))["active"] is False


async def test_english_first_and_an_upright_tablet(served_hall: Api, screens: Screens) -> None:
    await served_hall.post("/api/v1/windows/1/open")
    await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/1/call")
    page = await open_tablet(served_hall, screens)
    await page.locator("#lang").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#tab-hall")).to_have_text("Live hall 大厅实况")
    await expect(window_card(page, "1").locator(".status")).to_have_text("Calling 呼叫中")
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "manager-hall-en")
    await page.locator("#tab-figures").click()
    await expect(page.locator('svg[data-chart="hours"]')).to_be_visible()
    await screens.screenshot(page, "manager-figures-en")

    await page.locator("#lang").click()
    await page.locator("#tab-hall").click()
    await page.set_viewport_size(PORTRAIT)
    await expect(window_card(page, "1").locator(".status")).to_have_text("呼叫中 Calling")
    assert await small_targets(page) == []
    await screens.screenshot(page, "manager-portrait")
