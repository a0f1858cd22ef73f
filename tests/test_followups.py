"""Ratings' after-care through the API: poor ratings' follow-ups worked through by a manager,
across business days and restarts; case numbers from the window; "ask for the rating before
the next call" with its override, from the API and from a wired call pad; and what the public
event stream never carries."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from test_access import signed_in
from test_api import DAY, SHANGHAI, T0, Api, Clock, running_api
from test_sse import EventStream

from hall_controller.core.followups import FOLLOWUP_EVENT_NAMES
from hall_controller.core.model import RatingRules
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.hub import DeviceHub
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.settings import ConfigError, load_settings, validate_settings_text
from hall_controller.simulators.peers import CallPadPeer
from hall_controller.store import EventLog, NewEvent
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.memory import MemoryLink, memory_pair
from hall_controller.transports.serial import SerialParams

from conftest import ROOT, demo_config_text
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

MANAGER = {"X-Actor": "manager:wang.li"}
CLERK_1 = {"X-Actor": "staff:zhang.min"}
CASE = "44030020261128000123"
DAY_S = 24 * 3600


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(_settings(tmp_path, strict=False), tmp_path / "data", Clock(T0)) as a:
        yield a


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall with [ratings] require_before_next = true."""
    async with running_api(_settings(tmp_path, strict=True), tmp_path / "data", Clock(T0)) as a:
        yield a


def _settings(tmp_path: Path, *, strict: bool) -> Any:
    text = demo_config_text()
    text, found = re.subn(
        r"(?m)^require_before_next = false$",
        f"require_before_next = {'true' if strict else 'false'}",
        text,
    )
    assert found == 1, "the demo config lost its [ratings] require_before_next line"
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


async def served(api: Api, window: str = "1", theme: str = "social") -> dict[str, Any]:
    """A ticket issued, called at `window`, served and finished there."""
    ticket = await api.issue(theme)
    if (await api.get(f"/api/v1/windows/{window}"))["status"] == "closed":
        await api.post(f"/api/v1/windows/{window}/open")
    await api.post(f"/api/v1/windows/{window}/call", {"ticket": ticket["id"]})
    await api.post(f"/api/v1/windows/{window}/start")
    await api.post(f"/api/v1/windows/{window}/finish")
    return ticket


async def audit(api: Api, day: str = DAY) -> list[tuple[str, str, dict[str, Any]]]:
    trail = await api.get(f"/api/v1/audit?day={day}&limit=1000")
    return [(e["type"], e["actor"], e["data"]) for e in trail["events"]]


# ----------------------------------------------------------------- a follow-up's life


async def test_a_poor_rating_opens_a_follow_up_that_a_manager_works_through(api: Api) -> None:
    ticket = await served(api)
    service = await api.post(
        "/api/v1/windows/1/case-number", {"case_number": CASE}, headers=CLERK_1
    )
    assert service["ticket"]["case_number"] == CASE
    assert await api.get("/api/v1/followups") == []

    rated = await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 1})
    assert rated["rating"] == 1
    (opened,) = await api.get("/api/v1/followups")
    followup = opened["id"]
    assert followup == f"fu-{ticket['id']}"
    assert (opened["number"], opened["day"], opened["window"]) == ("A001", DAY, "1")
    assert (opened["score"], opened["score_zh"], opened["score_en"]) == (
        1,
        "非常不满意",
        "very dissatisfied",
    )
    assert opened["case_number"] == CASE
    assert opened["status"] == "open"
    rated_at = api.clock.now
    assert opened["callback"]["due"] == _iso(rated_at + DAY_S)
    assert opened["rectification"]["due"] == _iso(rated_at + 15 * DAY_S)
    assert opened["callback"]["left_s"] == DAY_S
    assert (opened["callback"]["state"], opened["overdue"]) == ("pending", False)
    # The window's panel shows it with its ticket and rating.
    panel = await api.get("/api/v1/windows/1/service")
    assert panel["ticket"]["rating"] == 1
    assert panel["ticket"]["rating_zh"] == "非常不满意"
    assert panel["ticket"]["followup"] == followup

    called = await api.post(
        f"/api/v1/followups/{followup}/callback",
        {"note": "已致电致歉，申请人说明了等候过长"},
        headers=MANAGER,
    )
    assert called["status"] == "called_back"
    assert called["callback"]["by"] == "manager:wang.li"
    assert called["callback"]["state"] == "met"
    asked = await api.post(
        f"/api/v1/followups/{followup}/close",
        {"note": "已调整午间排班", "ask_rating": True},
        headers=MANAGER,
    )
    assert (asked["status"], asked["rating_asked"]) == ("awaiting_rating", True)
    again = await api.post(
        f"/api/v1/followups/{followup}/rating", {"score": 2, "note": "仍不满意"}, headers=MANAGER
    )
    assert (again["status"], again["reopened"], again["latest_score"]) == ("called_back", 1, 2)
    passed = await api.post(
        f"/api/v1/followups/{followup}/rating", {"score": 4, "note": "满意了"}, headers=MANAGER
    )
    assert passed["status"] == "closed"
    assert passed["rectification"]["state"] == "met"
    assert passed["rectification"]["note"] == "满意了"
    assert [step["kind"] for step in passed["history"]] == [
        "opened",
        "called_back",
        "rectified",
        "rerated",
        "rerated",
    ]
    assert await api.get("/api/v1/followups?status=open") == []
    assert [f["id"] for f in await api.get("/api/v1/followups?status=closed")] == [followup]
    assert await api.get(f"/api/v1/followups/{followup}") == passed

    closed = await api.error("POST", f"/api/v1/followups/{followup}/callback", 409, {"note": "x"})
    assert "closed" in closed["message"]

    trail = [(kind, actor) for kind, actor, _ in await audit(api) if kind in FOLLOWUP_EVENT_NAMES]
    assert trail == [
        ("CaseNumberRecorded", "staff:zhang.min"),
        ("FollowUpOpened", "token:tests"),
        ("FollowUpCalledBack", "manager:wang.li"),
        ("FollowUpRectified", "manager:wang.li"),
        ("FollowUpRerated", "manager:wang.li"),
        ("FollowUpRerated", "manager:wang.li"),
    ]


async def test_a_follow_up_opened_yesterday_is_open_today_and_after_a_restart(api: Api) -> None:
    ticket = await served(api)
    await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 2})
    followup = f"fu-{ticket['id']}"

    # The next business day, after 03:00: the day's hall is new, the follow-up is not.
    api.clock.now = datetime(2026, 11, 29, 9, 30, tzinfo=SHANGHAI).timestamp()
    assert (await api.get("/healthz"))["day"] == "2026-11-29"
    assert await api.get("/api/v1/tickets") == []
    (still,) = await api.get("/api/v1/followups?status=open")
    assert still["id"] == followup
    assert still["day"] == DAY
    # Rated 10:00 yesterday, not called back by 10:00 today: not overdue yet at 09:30.
    assert still["overdue"] is False
    assert still["callback"]["left_s"] > 0
    api.clock.now = datetime(2026, 11, 29, 10, 30, tzinfo=SHANGHAI).timestamp()
    late = await api.get(f"/api/v1/followups/{followup}")
    assert (late["overdue"], late["callback"]["overdue"], late["callback"]["state"]) == (
        True,
        True,
        "missed",
    )
    alerts = [a for a in await api.get("/api/v1/alerts") if a["kind"] == "followup"]
    assert [(a["level"], a["subject"]) for a in alerts] == [("warning", followup)]
    assert "回访超期" in alerts[0]["text_zh"]
    assert "callback overdue" in alerts[0]["text_en"]

    await api.restart()  # loaded again from the log of every day
    (after,) = await api.get("/api/v1/followups")
    assert after["id"] == followup
    closed = await api.post(
        f"/api/v1/followups/{followup}/close", {"note": "窗口已整改"}, headers=MANAGER
    )
    assert closed["status"] == "closed"
    assert closed["callback"]["state"] == "missed"
    assert [a for a in await api.get("/api/v1/alerts") if a["kind"] == "followup"] == []
    # Each follow-up event is in the log of the day it happened on.
    today = [k for k, _, _ in await audit(api, "2026-11-29") if k in FOLLOWUP_EVENT_NAMES]
    assert today == ["FollowUpRectified"]
    assert [k for k, _, _ in await audit(api, DAY) if k in FOLLOWUP_EVENT_NAMES] == [
        "FollowUpOpened"
    ]
    await api.restart()
    assert (await api.get(f"/api/v1/followups/{followup}"))["status"] == "closed"

    assert api.controller is not None
    (outcome,) = api.controller.service.followup_outcomes("2026-11-01", "2026-11-30")
    assert (outcome.callback.value, outcome.rectification.value) == ("missed", "met")


async def test_rectification_past_its_deadline_is_a_critical_alert(api: Api) -> None:
    ticket = await served(api)
    await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 1})
    followup = f"fu-{ticket['id']}"
    await api.post(f"/api/v1/followups/{followup}/callback", {"note": "rang"}, headers=MANAGER)
    api.clock.advance(15 * DAY_S + 60)
    (alert,) = [a for a in await api.get("/api/v1/alerts") if a["kind"] == "followup"]
    assert (alert["level"], alert["id"]) == ("critical", f"followup:{followup}:rectify")
    assert "整改超期" in alert["text_zh"]
    acknowledged = await api.post(f"/api/v1/alerts/{alert['id']}/ack", {"note": "in hand"})
    assert acknowledged["acknowledged"]["note"] == "in hand"
    view = await api.get(f"/api/v1/followups/{followup}")
    assert view["rectification"]["left_s"] < 0
    assert view["rectification"]["overdue"] is True


async def test_follow_up_requests_are_checked(api: Api) -> None:
    ticket = await served(api)
    await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 2})
    followup = f"fu-{ticket['id']}"
    base = f"/api/v1/followups/{followup}"
    assert (await api.error("POST", f"{base}/callback", 422, {}))["details"] == {"field": "note"}
    assert (await api.error("POST", f"{base}/callback", 422, {"note": "  "}))["details"] == {
        "field": "note"
    }
    too_long = await api.error("POST", f"{base}/callback", 422, {"note": "长" * 501})
    assert too_long["details"] == {"field": "note"}
    unknown = await api.error("POST", f"{base}/close", 422, {"note": "x", "ask_ratings": True})
    assert 'did you mean "ask_rating"' in unknown["message"]
    assert (await api.error("POST", f"{base}/close", 422, {"note": "x", "ask_rating": 1}))[
        "details"
    ] == {"field": "ask_rating"}
    for score in (0, 6, "5", True, None):
        refused = await api.error("POST", f"{base}/rating", 422, {"score": score})
        assert refused["details"] == {"field": "score"}
    assert (await api.error("GET", "/api/v1/followups/fu-20261128-Z999", 404))["code"] == (
        "not_found"
    )
    await api.error("POST", "/api/v1/followups/fu-20261128-Z999/callback", 404, {"note": "x"})
    bad = await api.error("GET", "/api/v1/followups?status=opened", 422)
    assert 'did you mean "open"' in bad["message"]
    await api.error("GET", "/api/v1/followups?limit=0", 422)
    await api.error("GET", "/api/v1/followups?sort=due", 422)
    assert len(await api.get("/api/v1/followups?limit=1")) == 1
    # A retry with the same key records one callback.
    key = {**MANAGER, "Idempotency-Key": "callback-1"}
    first = await api.post(f"{base}/callback", {"note": "rang"}, headers=key)
    assert await api.post(f"{base}/callback", {"note": "rang"}, headers=key) == first
    kinds = [k for k, _, _ in await audit(api)]
    assert kinds.count("FollowUpCalledBack") == 1


async def test_case_numbers_are_checked_and_kept_with_the_ticket(api: Api) -> None:
    refused = await api.error("POST", "/api/v1/windows/1/case-number", 409, {"case_number": CASE})
    assert "no service" in refused["message"]
    await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/1/call")
    for bad in ("", "4403 0020", "办件123", "A" * 41, 44030020261128000123, None):
        error = await api.error("POST", "/api/v1/windows/1/case-number", 422, {"case_number": bad})
        assert error["details"] == {"field": "case_number"}
    await api.error("POST", "/api/v1/windows/99/case-number", 404, {"case_number": CASE})
    view = await api.post("/api/v1/windows/1/case-number", {"case_number": "GD-2026-0001"})
    assert (view["ticket"]["number"], view["ticket"]["case_number"]) == ("A001", "GD-2026-0001")
    await api.post("/api/v1/windows/1/finish")
    corrected = await api.post("/api/v1/windows/1/case-number", {"case_number": CASE})
    assert corrected["ticket"]["case_number"] == CASE
    assert corrected["ticket"]["status"] == "finished"
    recorded = [d for k, _, d in await audit(api) if k == "CaseNumberRecorded"]
    assert [d["case_number"] for d in recorded] == ["GD-2026-0001", CASE]
    await api.restart()
    assert (await api.get("/api/v1/windows/1/service"))["ticket"]["case_number"] == CASE


async def test_a_clerk_records_case_numbers_at_her_own_window_only(api: Api) -> None:
    await served(api, window="1")
    clerk = await signed_in(api, "staff", window="1")
    status, body, _ = await clerk.send(
        "POST", "/api/v1/windows/1/case-number", {"case_number": CASE}
    )
    assert status == 200, body
    assert (await clerk.send("POST", "/api/v1/windows/2/case-number", {"case_number": CASE}))[
        0
    ] == 403
    assert (await clerk.send("GET", "/api/v1/followups"))[0] == 403
    assert (await clerk.send("POST", "/api/v1/windows/1/rating-override", {"reason": "x"}))[
        0
    ] == 403
    manager = await signed_in(api, "manager")
    assert (await manager.send("GET", "/api/v1/followups"))[0] == 200
    assert (await manager.send("GET", "/api/v1/windows/1/service"))[1]["ticket"][
        "case_number"
    ] == CASE
    actors = [a for k, a, _ in await audit(api) if k == "CaseNumberRecorded"]
    assert actors == ["staff:zhang.min"]


# ----------------------------------------------------------------- what screens are told


async def test_the_public_stream_carries_no_notes_case_numbers_or_follow_ups(api: Api) -> None:
    ticket = await served(api)
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(api.url + "/api/v1/events") as public_response,
        api.session.get(api.url + "/api/v1/events") as staff_response,
    ):
        public, staff = EventStream(public_response), EventStream(staff_response)
        for stream in (public, staff):
            assert (await stream.next()) is not None  # the state
        await api.post("/api/v1/windows/1/case-number", {"case_number": CASE})
        await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": 1})
        followup = f"fu-{ticket['id']}"
        await api.post(f"/api/v1/followups/{followup}/callback", {"note": "申请人电话已回访"})
        await api.post("/api/v1/windows/1/pause", {"reason": "break"})
        seen_public = await public.until("WindowPaused")
        seen_staff = await staff.until("WindowPaused")
    assert [m.event for m in seen_public] == ["TicketRated", "WindowPaused"]
    assert [m.event for m in seen_staff] == [
        "CaseNumberRecorded",
        "TicketRated",
        "FollowUpOpened",
        "FollowUpCalledBack",
        "WindowPaused",
    ]
    for message in seen_public:
        assert CASE not in message.raw
        assert "申请人电话已回访" not in message.raw
    assert seen_staff[0].data["case_number"] == CASE
    assert seen_staff[3].data["note"] == "申请人电话已回访"


# ----------------------------------------------------------------- ask for the rating first


async def test_a_window_must_ask_for_the_rating_before_it_calls_again(strict: Api) -> None:
    api = strict
    first = await served(api)
    await api.issue("social")
    assert (await api.get("/api/v1/windows/1/service"))["rating_required"] is True

    refused = await api.error("POST", "/api/v1/windows/1/call", 409)
    assert refused["code"] == "rating_required"
    assert "请求评价" in refused["message"]
    assert "Request a rating" in refused["message"]
    assert refused["details"] == {"window": "1", "ticket": first["id"]}
    by_number = await api.error("POST", "/api/v1/windows/1/call", 409, {"ticket": "A002"})
    assert by_number["code"] == "rating_required"

    await api.post("/api/v1/windows/1/rating-request", headers=CLERK_1)
    assert (await api.get("/api/v1/windows/1/service"))["rating_required"] is False
    called = await api.post("/api/v1/windows/1/call", headers=CLERK_1)
    assert called["ticket"]["number"] == "A002"


async def test_a_manager_override_lets_the_window_call_and_is_audited(strict: Api) -> None:
    api = strict
    first = await served(api)
    await api.issue("social")
    await api.error("POST", "/api/v1/windows/1/call", 409)
    no_reason = await api.error("POST", "/api/v1/windows/1/rating-override", 422, {})
    assert no_reason["details"] == {"field": "reason"}
    waived = await api.post(
        "/api/v1/windows/1/rating-override", {"reason": "申请人已离开"}, headers=MANAGER
    )
    assert (waived["rating_required"], waived["waived"]) == (False, True)
    again = await api.error("POST", "/api/v1/windows/1/rating-override", 409, {"reason": "x"})
    assert "owes no rating" in again["message"]
    assert (await api.post("/api/v1/windows/1/call"))["ticket"]["number"] == "A002"
    assert [(a, d) for k, a, d in await audit(api) if k == "RatingWaived"] == [
        ("manager:wang.li", {"window": "1", "ticket_id": first["id"], "reason": "申请人已离开"})
    ]


async def test_without_the_rule_a_window_calls_freely_and_nothing_can_be_overridden(
    api: Api,
) -> None:
    await served(api)
    await api.issue("social")
    assert (await api.get("/api/v1/windows/1/service"))["rating_required"] is False
    refused = await api.error("POST", "/api/v1/windows/1/rating-override", 409, {"reason": "x"})
    assert "require_before_next" in refused["message"]
    assert (await api.post("/api/v1/windows/1/call"))["ticket"]["number"] == "A002"


# ----------------------------------------------------------------- a wired call pad

PROFILES = load_profiles(ROOT / "device_profiles")
PAD_ADDRESS = 7


class Cable:
    """The memory cable the hub's bus plugs into, one byte at a time."""

    def __init__(self) -> None:
        self.device_end: MemoryLink | None = None
        self.plugged = asyncio.Event()

    def open_link(self, params: SerialParams) -> ByteLink:
        controller, self.device_end = memory_pair(chunk=1, delay_s=0.001, name=params.url)
        self.plugged.set()
        return controller


class PadOnTheLine:
    """The simulated call pad on the far end: answers pings, sends keys, shows what it is told."""

    def __init__(self, cable: Cable, codec: CallPadCodec) -> None:
        self.cable = cable
        self.peer = CallPadPeer(codec, PAD_ADDRESS)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="call-pad-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def press(self, action: str) -> None:
        link = self.cable.device_end
        assert link is not None
        await link.write(self.peer.press(action), 1.0)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        await self.cable.plugged.wait()
        link = self.cable.device_end
        assert link is not None
        await link.open(1.0)
        while True:
            try:
                data = await link.read(0.05)
            except LinkTimeout:
                answer = self.peer.line_quiet(loop.time())
            else:
                answer = self.peer.feed(data, loop.time())
            if answer:
                await link.write(answer, 1.0)


async def test_a_call_pad_is_told_to_ask_for_the_rating_first_and_then_calls(
    strict: Api,
) -> None:
    api = strict
    assert api.controller is not None
    service = api.controller.service
    profile = PROFILES["callpad-ff68"]
    codec = profile.codec
    assert isinstance(codec, CallPadCodec)
    cable = Cable()
    hub = DeviceHub(
        [
            DeviceConfig(
                id="w1-pad",
                profile=profile,
                window="1",
                port="socket://row-a.invalid:4001",
                address=PAD_ADDRESS,
                pins=MappingProxyType({}),
                remotes=MappingProxyType({}),
            )
        ],
        ServiceHallPort(service),
        data_dir=api.data_dir,
        hall_id="gz-tianhe-demo",
        open_link=cable.open_link,
        backoff=lambda: Backoff(initial_s=0.05, cap_s=0.2),
    )
    pad = PadOnTheLine(cable, codec)
    service.watchers.append(hub.hall_changed)
    pad.start()
    await hub.start()
    try:
        await eventually(lambda: hub.devices["w1-pad"].ready, "the call pad answers its pings")
        await api.issue("social")
        await api.issue("social")
        await pad.press("call")  # opens the closed window and calls A001
        await eventually(lambda: pad.peer.text == "A001", "the pad shows A001")
        await pad.press("start")
        await pad.press("finish")
        await eventually(
            lambda: service.current().tickets["20261128-A001"].status.value == "finished",
            "A001 is finished",
        )
        beeps = pad.peer.beeps
        await pad.press("call")
        await eventually(lambda: pad.peer.text == "请先评价", "the pad says: ask for the rating")
        await eventually(lambda: pad.peer.beeps >= beeps + 3, "three beeps: refused")
        assert (await api.get("/api/v1/windows/1"))["status"] == "open"  # nothing was called

        await pad.press("rate")
        await eventually(
            lambda: "20261128-A001" in service.current().rating_requests.values(), "asked"
        )
        await pad.press("call")
        await eventually(lambda: pad.peer.text == "A002", "the pad calls A002")
    finally:
        service.watchers.remove(hub.hall_changed)
        await hub.close()
        await pad.stop()


# ----------------------------------------------------------------- the log's type filter


async def test_the_event_log_reads_some_types_across_every_day(tmp_path: Path) -> None:
    log = EventLog.open(tmp_path / "events.db")
    log.start(asyncio.get_running_loop())
    try:
        for day, kind in (
            ("2026-11-27", "TicketIssued"),
            ("2026-11-27", "FollowUpOpened"),
            ("2026-11-28", "FollowUpCalledBack"),
            ("2026-11-28", "TicketCalled"),
            ("2026-11-29", "FollowUpRectified"),
        ):
            await log.append(day, [NewEvent(kind, T0, "test", {"day": day})]).durable
        wanted = {"FollowUpOpened", "FollowUpCalledBack", "FollowUpRectified"}
        found = [(r.day, r.type) for r in log.events(types=wanted)]
        assert found == [
            ("2026-11-27", "FollowUpOpened"),
            ("2026-11-28", "FollowUpCalledBack"),
            ("2026-11-29", "FollowUpRectified"),
        ]
        assert [r.type for r in log.events(day="2026-11-28", types=wanted)] == [
            "FollowUpCalledBack"
        ]
        assert [r.type for r in log.events(types=wanted, after_seq=2)] == [
            "FollowUpCalledBack",
            "FollowUpRectified",
        ]
        assert log.events(types=()) == []
        assert len(log.events()) == 5
    finally:
        await log.close()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, SHANGHAI).isoformat(timespec="seconds")


# ----------------------------------------------------------------- the [ratings] table


def test_the_ratings_table_is_read_and_every_mistake_is_reported() -> None:
    base = demo_config_text()
    read = validate_settings_text(
        base.replace('callback_within = "1d"', 'callback_within = "36h"').replace(
            "require_before_next = false", "require_before_next = true"
        ),
        "hall.toml",
    )
    assert read.hall.ratings == RatingRules(
        callback_within_s=36 * 3600, rectify_within_s=15 * DAY_S, require_before_next=True
    )
    # Absent, the standard's deadlines and no rule.
    without = re.sub(r"(?ms)^\[ratings\].*?(?=^# ===|\Z)", "", base)
    assert "[ratings]" not in without
    assert validate_settings_text(without, "hall.toml").hall.ratings == RatingRules(
        callback_within_s=DAY_S, rectify_within_s=15 * DAY_S, require_before_next=False
    )

    wrong = (
        base.replace('rectify_within = "15d"', 'rectify_within = "2w"')
        .replace('callback_within = "1d"', 'callback_within = "400d"')
        .replace("require_before_next = false", "require_before_nxt = false")
    )
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(wrong, "hall.toml")
    assert [str(issue) for issue in caught.value.issues] == [
        'hall.toml: ratings.require_before_nxt: unknown key; did you mean "require_before_next"?',
        'hall.toml: ratings.callback_within: expected at most 365 days, got "400d"',
        'hall.toml: ratings.rectify_within: expected a duration such as "1d", "15d" or "36h" '
        '(at most 365 days), got "2w"',
    ]
    backwards = base.replace('rectify_within = "15d"', 'rectify_within = "12h"')
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(backwards, "hall.toml")
    assert [str(issue) for issue in caught.value.issues] == [
        "hall.toml: ratings.rectify_within: must be at least callback_within: the applicant is "
        "called back before the cause is put right"
    ]
