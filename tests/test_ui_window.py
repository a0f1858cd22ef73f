"""The window panel in a real browser: a window's staff call, serve, pause, hold, move tickets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Locator, Page, Request, Route, ViewportSize, expect

if TYPE_CHECKING:
    from test_api import Api

    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

# A counter tablet held landscape.
TABLET: ViewportSize = {"width": 1280, "height": 800}
ACTIONS = (
    "call",
    "recall",
    "start",
    "finish",
    "no-show",
    "hold",
    "transfer",
    "rating",
    "call-number",
    "open",
    "pause",
    "resume",
    "close",
)
# The smallest touch target the panel may have, in CSS pixels.
MIN_TARGET_PX = 48


async def open_panel(served_hall: Api, screens: Screens, window: str = "3") -> Page:
    page = await screens.open(f"{served_hall.url}/window/{window}", role="staff", window=window)
    await page.set_viewport_size(TABLET)
    await expect(page.locator("#status")).not_to_have_attribute("data-status", "loading")
    return page


def button(page: Page, action: str) -> Locator:
    return page.locator(f'button[data-action="{action}"]')


async def expect_enabled(page: Page, allowed: Iterable[str]) -> None:
    """Exactly these buttons can be pressed; every other one is disabled."""
    wanted = set(allowed)
    for action in ACTIONS:
        if action in wanted:
            await expect(button(page, action)).to_be_enabled()
        else:
            await expect(button(page, action)).to_be_disabled()


def presses(page: Page) -> list[Request]:
    """Every write the page sends from now on."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if request.method == "POST" else None)
    return sent


def urlpath(url: str) -> str:
    """The path and query of an address."""
    return "/" + url.split("/", 3)[3]


async def small_targets(page: Page) -> list[Any]:
    """Every visible control smaller than MIN_TARGET_PX in either direction, with its size."""
    found: list[Any] = await page.evaluate(
        """(minimum) => {
            const controls = document.querySelectorAll(
                "button, select, input[type=text], label.preset, a[href]");
            return [...controls]
                .filter((c) => c.checkVisibility())
                .map((c) => [c.id || c.textContent.trim(), c.getBoundingClientRect()])
                .filter(([, r]) => r.width < minimum || r.height < minimum)
                .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`);
        }""",
        MIN_TARGET_PX,
    )
    return found


async def audit_of(served_hall: Api, number: str) -> list[tuple[str, str]]:
    trail = await served_hall.get(f"/api/v1/audit?ticket={number}")
    return [(e["type"], e["actor"]) for e in trail["events"]]


async def test_the_panel_opens_calls_recalls_starts_and_finishes(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("social")
    await served_hall.issue("police")
    page = await open_panel(served_hall, screens)
    sent = presses(page)
    await expect(page.locator("#window-zh")).to_have_text("3号窗口")
    await expect(page.locator("#window-en")).to_have_text("Window 3")
    await expect(page.locator("#status")).to_have_text("未开放 Closed")
    await expect(page.locator("#window-themes")).to_have_text(
        "业务：公安专项、社会民生 Public security, Social welfare"
    )
    await expect(page.locator("#waiting-count")).to_have_text("2")
    await expect_enabled(page, {"open"})
    await screens.screenshot(page, "window-closed")

    await button(page, "open").click()
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await expect(page.locator("#message")).to_have_text("窗口已开放 The window is open")
    await expect_enabled(page, {"call", "call-number", "pause", "close"})

    await button(page, "call").click()
    await expect(page.locator("#ticket-number")).to_have_text("B001")
    await expect(page.locator("#ticket-theme")).to_have_text("公安专项 Public security")
    await expect(page.locator("#ticket-progress")).to_have_text(
        "呼叫中 · 已呼叫 1 次 Calling · called once"
    )
    # The policy's reason: window 3 prefers public security, though A001 came first.
    await expect(page.locator("#reason-zh")).to_have_text("本窗口的首选业务")
    await expect(page.locator("#reason-en")).to_have_text("the window's preferred theme")
    await expect(page.locator("#reason-weighed")).to_have_text(
        "比较了 2 个等候的号 2 waiting tickets weighed"
    )
    await expect(page.locator("#status")).to_have_text("呼叫中 Calling")
    await expect(page.locator("#waiting-list li .number")).to_have_text(["A001"])
    await expect_enabled(page, {"recall", "start", "finish", "no-show", "hold", "transfer"})
    await expect(page.locator("#number-input")).to_be_disabled()
    await screens.screenshot(page, "window-calling")
    called = await served_hall.get("/api/v1/tickets/B001")
    assert (called["status"], called["window"]) == ("called", "3")

    await button(page, "recall").click()
    await expect(page.locator("#ticket-progress")).to_have_text(
        "呼叫中 · 已呼叫 2 次 Calling · called 2 times"
    )
    await expect(page.locator("#message")).to_have_text("已重呼 B001 Called B001 again")

    await button(page, "start").click()
    await expect(page.locator("#status")).to_have_text("办理中 Serving")
    await expect(page.locator("#ticket-progress")).to_have_text("办理中 Being served")
    # In service, a rating can be asked for.
    await expect_enabled(page, {"call", "call-number", "finish", "hold", "transfer", "rating"})

    await button(page, "finish").click()
    await expect(page.locator("#message")).to_have_text("B001 已办结 B001 finished")
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await expect(page.locator("#ticket-number")).to_have_text("—")
    await expect(page.locator("#ticket-reason")).to_be_hidden()
    await expect(page.locator("#served")).to_have_text("1")
    assert (await served_hall.get("/api/v1/tickets/B001"))["status"] == "finished"

    # Each press went once, under a key of its own ...
    assert [urlpath(r.url) for r in sent] == [
        f"/api/v1/windows/3/{action}" for action in ("open", "call", "recall", "start", "finish")
    ]
    keys = [await r.header_value("idempotency-key") for r in sent]
    assert all(keys), keys
    assert len(set(keys)) == len(keys), keys
    # ... in the name of the clerk signed in at the window.
    assert await audit_of(served_hall, "B001") == [
        ("TicketIssued", "token:tests"),
        ("TicketCalled", "staff:zhang.min"),
        ("TicketRecalled", "staff:zhang.min"),
        ("ServiceStarted", "staff:zhang.min"),
        ("ServiceFinished", "staff:zhang.min"),
    ]


async def test_a_double_press_acts_once_and_every_button_waits_for_the_answer(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("police")
    await served_hall.post("/api/v1/windows/3/open")
    await served_hall.post("/api/v1/windows/3/call")
    page = await open_panel(served_hall, screens)
    await expect(page.locator("#ticket-number")).to_have_text("B001")

    # The controller's answer is held back until the test lets it through.
    arrived: list[Request] = []
    answer = asyncio.Event()

    async def hold_back(route: Route) -> None:
        arrived.append(route.request)
        await answer.wait()
        await route.continue_()

    await page.route("**/api/v1/windows/3/recall", hold_back)
    try:
        await button(page, "recall").dblclick()
        await expect_enabled(page, set())  # while the press is on its way, nothing else can go
        await expect(button(page, "recall")).to_have_attribute("aria-busy", "true")
    finally:
        answer.set()
    await expect(page.locator("#ticket-progress")).to_have_text(
        "呼叫中 · 已呼叫 2 次 Calling · called 2 times"
    )
    await expect_enabled(page, {"recall", "start", "finish", "no-show", "hold", "transfer"})
    assert len(arrived) == 1
    trail = await audit_of(served_hall, "B001")
    assert [kind for kind, _ in trail].count("TicketRecalled") == 1


async def test_a_pause_asks_for_a_reason_and_resume_opens_the_window_again(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.post("/api/v1/windows/3/open")
    page = await open_panel(served_hall, screens)
    sent = presses(page)
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    dialog = page.locator("#reason-dialog")
    submit = page.locator("#reason-submit")

    # Changing one's mind sends nothing.
    await button(page, "pause").click()
    await expect(dialog).to_be_visible()
    await page.locator("#reason-cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#status")).to_have_text("空闲 Open")

    await button(page, "pause").click()
    await expect(page.locator("#reason-title")).to_have_text("暂停服务 Pause the window")
    await expect(submit).to_be_disabled()  # no reason, no pause
    await dialog.get_by_label("休息 Break").check()
    await expect(submit).to_be_enabled()
    await screens.screenshot(page, "window-pause-reason")
    await submit.click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#status")).to_have_text("暂停服务 Paused")
    await expect(page.locator("#pause-reason")).to_have_text("原因 Reason：休息 Break")
    await expect_enabled(page, {"resume", "close"})
    window = await served_hall.get("/api/v1/windows/3")
    assert (window["status"], window["pause_reason"]) == ("paused", "休息 Break")
    await screens.screenshot(page, "window-paused")

    await button(page, "resume").click()
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await expect(page.locator("#pause-reason")).to_be_hidden()
    await expect(page.locator("#message")).to_have_text("窗口已恢复服务 The window is open again")
    assert [urlpath(r.url) for r in sent] == ["/api/v1/windows/3/pause", "/api/v1/windows/3/resume"]


async def test_a_number_typed_at_the_window_is_called_and_a_refusal_is_shown_in_words(
    served_hall: Api, screens: Screens
) -> None:
    for theme in ("social", "social", "police"):
        await served_hall.issue(theme)
    for window in ("1", "3"):
        await served_hall.post(f"/api/v1/windows/{window}/open")
    await served_hall.post("/api/v1/windows/1/call", {"ticket": "A001"})
    page = await open_panel(served_hall, screens)
    number = page.locator("#number-input")
    await expect(page.locator("#waiting-list li .number")).to_have_text(["B001", "A002"])

    await number.fill("a2")  # as typed in a hurry: A002
    await page.locator("#do-call-number").click()
    await expect(page.locator("#ticket-number")).to_have_text("A002")
    await expect(page.locator("#reason-zh")).to_have_text("窗口按号呼叫")
    await expect(page.locator("#reason-en")).to_have_text("called by number at the window")
    await expect(number).to_have_value("")
    await expect(page.locator("#waiting-list li .number")).to_have_text(["B001"])

    await button(page, "no-show").click()
    await expect(page.locator("#message")).to_have_text("A002 已记为过号 A002 marked as a no-show")
    assert (await served_hall.get("/api/v1/tickets/A002"))["status"] == "no_show"

    # A001 is at window 1 already: the controller refuses, and the panel says why.
    await number.fill("A001")
    await number.press("Enter")
    message = page.locator("#message")
    await expect(message).to_have_attribute("data-tone", "refused")
    await expect(message).to_have_text(
        "未执行：当前状态不允许此操作 "
        "Not done: Not possible in the current state. ticket A001 is called, not waiting"
    )
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await expect(number).to_have_value("A001")  # kept, to correct and try again
    await screens.screenshot(page, "window-refused")

    await number.fill("Z999")
    await page.locator("#do-call-number").click()
    await expect(message).to_have_text(
        '未执行：没有找到 Not done: Not found. no ticket "Z999" today'
    )


async def test_a_ticket_is_transferred_held_and_sent_back_to_the_queue(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("police")
    await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/3/open")
    page = await open_panel(served_hall, screens)
    await button(page, "call").click()
    await expect(page.locator("#ticket-number")).to_have_text("B001")

    # Transfer: nowhere new, or no reason, cannot be sent.
    await button(page, "transfer").click()
    dialog = page.locator("#transfer-dialog")
    submit = page.locator("#transfer-submit")
    await expect(page.locator("#transfer-title")).to_have_text("转移 B001 Transfer")
    await expect(submit).to_be_disabled()
    await expect(page.locator("#transfer-hint")).to_have_text(
        "请选择另一项业务或一个窗口。Choose another theme or a window."
    )
    await page.locator("#transfer-theme").select_option("pickup")
    await expect(page.locator("#transfer-window option")).to_have_text(
        ["该业务的任一窗口 Any window of the theme", "11号窗口（查询发证） Window 11 (pick-up)"]
    )
    await page.locator("#transfer-window").select_option("11")
    await expect(page.locator("#transfer-hint")).to_have_text("请说明原因。Give a reason.")
    await dialog.get_by_label("需其他业务办理 Needs another service").check()
    await screens.screenshot(page, "window-transfer")
    await submit.click()
    await expect(page.locator("#message")).to_have_text(
        "B001 已转到 查询发证 · 11号窗口（查询发证） "
        "B001 moved to Results and certificate pick-up · Window 11 (pick-up)"
    )
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await expect(page.locator("#ticket-number")).to_have_text("—")
    moved = await served_hall.get("/api/v1/tickets/B001")
    assert (moved["status"], moved["theme"], moved["target_window"]) == ("waiting", "pickup", "11")
    await expect(page.locator("#waiting-list li .number")).to_have_text(["A001"])

    # Hold with a reason of the clerk's own words; the held ticket waits for a return.
    await button(page, "call").click()
    await expect(page.locator("#ticket-number")).to_have_text("A001")
    await button(page, "hold").click()
    await expect(page.locator("#reason-title")).to_have_text("暂挂 A001 Hold A001")
    await page.locator("#reason-other").fill("等候补充材料")
    await page.locator("#reason-submit").click()
    await expect(page.locator("#message")).to_have_text("A001 已暂挂 A001 is on hold")
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    held = page.locator("#held-list li")
    await expect(held.locator(".number")).to_have_text(["A001"])
    await expect(page.locator("#held-none")).to_be_hidden()
    assert (await served_hall.get("/api/v1/tickets/A001"))["status"] == "held"
    trail = await served_hall.get("/api/v1/audit?ticket=A001")
    assert trail["events"][-1]["data"]["reason"] == "等候补充材料"

    await held.get_by_role("button", name="恢复排队 Back to queue A001").click()
    await expect(page.locator("#message")).to_have_text("A001 已重新排队 A001 waits again")
    await expect(page.locator("#held-none")).to_be_visible()
    waiting = page.locator("#waiting-list li")
    await expect(waiting.locator(".number")).to_have_text(["A001"])
    await expect(waiting.locator(".tag")).to_have_text(["指定本窗口 Sent here"])
    back = await served_hall.get("/api/v1/tickets/A001")
    assert (back["status"], back["target_window"]) == ("waiting", "3")


async def test_the_panel_follows_what_others_do_to_its_window(
    served_hall: Api, screens: Screens
) -> None:
    page = await open_panel(served_hall, screens)
    await expect(page.locator("#status")).to_have_text("未开放 Closed")
    # A hardware call pad, or the manager, acts on the same window: the panel keeps up.
    await served_hall.post("/api/v1/windows/3/open")
    await expect(page.locator("#status")).to_have_text("空闲 Open")
    await served_hall.issue("police", priority="disabled")
    await expect(page.locator("#waiting-list li .number")).to_have_text(["B001"])
    await expect(page.locator("#waiting-list li .tag")).to_have_text(["优先 残疾人 Disabled"])
    await served_hall.post("/api/v1/windows/3/call")
    await expect(page.locator("#ticket-number")).to_have_text("B001")
    await expect(page.locator("#ticket-priority")).to_have_text("优先 · 残疾人 Priority: Disabled")
    await expect_enabled(page, {"recall", "start", "finish", "no-show", "hold", "transfer"})
    await served_hall.post("/api/v1/windows/3/finish")
    await expect(page.locator("#ticket-number")).to_have_text("—")
    # Just finished and not rated: a rating can still be asked for.
    await expect_enabled(page, {"call", "call-number", "pause", "close", "rating"})


async def test_the_panel_passes_the_accessibility_audit_with_large_targets(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("social", priority="disabled")
    await served_hall.issue("police")
    await served_hall.post("/api/v1/windows/3/open")
    await served_hall.post("/api/v1/windows/3/call")
    page = await open_panel(served_hall, screens)
    await expect(page.locator("#ticket-priority")).to_have_text("优先 · 残疾人 Priority: Disabled")
    assert await screens.accessibility_problems(page) == []
    assert await small_targets(page) == []
    await screens.screenshot(page, "window-priority")

    await button(page, "hold").click()
    await expect(page.locator("#reason-dialog")).to_be_visible()
    assert await screens.accessibility_problems(page) == []
    assert await small_targets(page) == []
    await page.keyboard.press("Escape")
    await expect(page.locator("#reason-dialog")).to_be_hidden()

    await button(page, "transfer").click()
    await expect(page.locator("#transfer-dialog")).to_be_visible()
    assert await screens.accessibility_problems(page) == []
    assert await small_targets(page) == []
    await page.keyboard.press("Escape")

    # The same panel on a phone-sized screen keeps its targets large.
    phone = await screens.open(f"{served_hall.url}/window/3", phone=True, role="staff", window="3")
    await expect(phone.locator("#ticket-number")).to_have_text("A001")
    assert await screens.accessibility_problems(phone) == []
    assert await small_targets(phone) == []
    await screens.screenshot(phone, "window-phone")


async def test_an_unknown_window_says_so(served_hall: Api, screens: Screens) -> None:
    page = await screens.open(f"{served_hall.url}/window/99", role="manager")
    await expect(page.locator("#unknown h1")).to_have_text("没有这个窗口")
    await expect(page.locator("#panel")).to_be_hidden()
    assert await screens.accessibility_problems(page) == []


async def test_the_next_tickets_are_listed_with_their_rules_and_follow_the_hall(
    served_hall: Api, screens: Screens
) -> None:
    # Window 3 serves public security first, then social welfare.
    await served_hall.issue("social")
    await served_hall.issue("police")
    await served_hall.issue("social", priority="elderly")
    await served_hall.post("/api/v1/windows/3/open")
    page = await open_panel(served_hall, screens)
    upcoming = page.locator("#next-list li")
    await expect(upcoming.locator(".number")).to_have_text(["A002", "B001", "A001"])
    await expect(upcoming.locator(".rule")).to_have_text(
        [
            "优先人群先办 priority group goes first",
            "本窗口的首选业务 the window's preferred theme",
            "等候时间最长 waited longest",
        ]
    )
    await expect(upcoming.first.locator(".tag")).to_have_text("优先 老年人 Elderly")
    forecast = await served_hall.get("/api/v1/windows/3/next")
    assert [t["number"] for t in forecast["tickets"]] == ["A002", "B001", "A001"]

    # The list follows every hall event: a new ticket, another window's call.
    await served_hall.issue("police", priority="disabled")  # priority in the preferred theme
    await expect(upcoming.locator(".number")).to_have_text(["B002", "A002", "B001", "A001"])
    await served_hall.post("/api/v1/windows/4/open")
    await served_hall.post("/api/v1/windows/4/call")  # window 4 takes the disabled B002
    await expect(upcoming.locator(".number")).to_have_text(["A002", "B001", "A001"])

    # The window calls: it gets the first of the list, and the rest move up.
    await button(page, "call").click()
    await expect(page.locator("#ticket-number")).to_have_text("A002")
    await expect(upcoming.locator(".number")).to_have_text(["B001", "A001"])
    await expect(page.locator("#next-none")).to_be_hidden()
    await screens.screenshot(page, "window-next")


async def test_a_rating_is_asked_for_from_the_panel_which_waits_until_it_comes(
    served_hall: Api, screens: Screens
) -> None:
    await served_hall.issue("police")
    for action in ("open", "call"):
        await served_hall.post(f"/api/v1/windows/3/{action}")
    page = await open_panel(served_hall, screens)
    sent = presses(page)
    rating = button(page, "rating")
    state = page.locator("#rating-state")
    await expect(page.locator("#ticket-number")).to_have_text("B001")
    await expect(rating).to_be_disabled()  # called, not served yet

    await button(page, "start").click()
    await expect(rating).to_be_enabled()
    await rating.click()
    await expect(page.locator("#message")).to_have_text(
        "已请申请人为 B001 评价 The applicant is asked to rate B001"
    )
    await expect(state).to_have_text("等待评价 · B001 Waiting for a rating of B001")
    await expect(rating).to_be_disabled()  # asked once: the pad is asking
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "window-rating-asked")

    # The applicant rates (on the pad; here through the API): the panel says so.
    ticket = await served_hall.get("/api/v1/tickets/B001")
    await served_hall.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 4})
    await expect(state).to_be_hidden()
    await expect(page.locator("#message")).to_have_text("B001 已收到评价 B001 has been rated")
    await expect(rating).to_be_disabled()  # rated: nothing left to ask
    assert [urlpath(r.url) for r in sent] == [
        "/api/v1/windows/3/start",
        "/api/v1/windows/3/rating-request",
    ]
    assert await audit_of(served_hall, "B001") == [
        ("TicketIssued", "token:tests"),
        ("TicketCalled", "token:tests"),
        ("ServiceStarted", "staff:zhang.min"),
        ("RatingRequested", "staff:zhang.min"),
        ("TicketRated", "token:tests"),
    ]
