"""The manager tablet's API: the live hall, prioritising, the policy, figures, alerts, help pages.

Every reply is checked against the OpenAPI document (the `Api` client of test_api.py).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_api import T0 as API_T0
from test_api import Api, Clock
from test_sse import EventStream

from hall_controller.core.errors import Conflict, InvalidCommand
from hall_controller.core.events import (
    AlertAcknowledged,
    Event,
    HelpRequested,
    PolicyChanged,
    TicketCalled,
    TicketPrioritised,
)
from hall_controller.core.hall import Hall
from hall_controller.core.model import Kiosk
from hall_controller.core.snapshot import from_snapshot, to_snapshot
from hall_controller.settings import load_settings

from accounts import AUTH, with_test_access
from core_fixtures import ACTOR, T0, make_config, new_hall, replay, round_trip, state

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

MANAGER = {"X-Actor": "manager:wang.li"}


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = with_test_access(load_settings(demo_config_path))
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(settings, tmp_path / "data", Clock(API_T0), session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


async def put_policy(api: Api, body: dict[str, Any], status: int = 200) -> Any:
    reply = await api.request("PUT", "/api/v1/policy", json=body, headers=MANAGER)
    assert reply.status == status, reply.text
    return reply.body


async def audit(api: Api, kind: str) -> list[dict[str, Any]]:
    trail = await api.get("/api/v1/audit")
    return [e for e in trail["events"] if e["type"] == kind]


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


# ----------------------------------------------------------------- prioritise


async def test_prioritising_a_waiting_ticket_moves_it_ahead_and_is_audited(api: Api) -> None:
    await api.post("/api/v1/windows/1/open")
    for _ in range(3):
        await api.issue("social")
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A001", "A002", "A003"]

    body = {"priority": "disabled", "reason": "wheelchair user, seen at the door"}
    moved = await api.post("/api/v1/tickets/A003/prioritise", body, headers=MANAGER)
    assert (moved["number"], moved["priority"], moved["status"]) == ("A003", "disabled", "waiting")
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A003", "A001", "A002"]
    called = await api.post("/api/v1/windows/1/call")
    assert (called["ticket"]["number"], called["reason"]["rule"]) == ("A003", "priority")

    [record] = await audit(api, "TicketPrioritised")
    assert record["actor"] == "manager:wang.li"
    assert record["data"] == {
        "ticket_id": moved["id"],
        "priority": "disabled",
        "previous": None,
        "reason": "wheelchair user, seen at the door",
    }

    # Back to regular: allowed, with a reason too.
    back = await api.post(
        "/api/v1/tickets/A002/prioritise", {"priority": "elderly", "reason": "age checked"}
    )
    assert back["priority"] == "elderly"
    again = await api.post(
        "/api/v1/tickets/A002/prioritise", {"priority": None, "reason": "declared by mistake"}
    )
    assert again["priority"] is None


async def test_prioritise_needs_a_reason_a_known_group_and_a_waiting_ticket(api: Api) -> None:
    await api.issue("social")
    await api.issue("social")
    path = "/api/v1/tickets/A001/prioritise"
    error = await api.error("POST", path, 422, {"priority": "elderly"})
    assert error["details"] == {"field": "reason"}
    assert "reason is required" in error["message"]
    error = await api.error("POST", path, 422, {"priority": "elderly", "reason": "  "})
    assert error["details"] == {"field": "reason"}
    error = await api.error("POST", path, 422, {"reason": "r"})
    assert error["details"] == {"field": "priority"}
    error = await api.error("POST", path, 422, {"priority": "elderlly", "reason": "r"})
    assert 'did you mean "elderly"' in error["message"]
    error = await api.error("POST", path, 409, {"priority": None, "reason": "r"})
    assert "already a regular ticket" in error["message"]
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/1/call")
    error = await api.error("POST", path, 409, {"priority": "elderly", "reason": "r"})
    assert "only a waiting ticket" in error["message"]
    await api.error(
        "POST", "/api/v1/tickets/A099/prioritise", 404, {"priority": None, "reason": "r"}
    )
    assert await audit(api, "TicketPrioritised") == []


# ----------------------------------------------------------------- the policy


async def test_the_policy_shows_its_values_ranges_and_units(api: Api) -> None:
    policy = await api.get("/api/v1/policy")
    assert policy["priority_streak_limit"] == 2
    assert policy["priority_head_start_s"] == 900
    assert policy["aging_rate"] == 1.0
    assert policy["priority_max_wait_factor"] == 0.25
    assert policy["preference_bonus_s"] == 300
    assert policy["recall_limit"] == 2
    assert policy["max_wait_s"]["social"] == 1500
    assert policy["max_wait_s"]["pickup"] == 900
    assert policy["ranges"]["recall_limit"] == {
        "min": 0,
        "max": 10,
        "integer": True,
        "unit": "recalls",
    }
    assert policy["ranges"]["max_wait_s"]["unit"] == "s"
    assert (policy["changed_at"], policy["changed_by"]) == (None, None)


async def test_a_policy_change_decides_the_next_call_and_survives_a_restart(api: Api) -> None:
    await api.post("/api/v1/windows/1/open")
    await api.issue("social")  # A001, regular, first
    await api.issue("social", priority="elderly")  # A002, priority, a second later
    # The head start puts the elderly applicant first ...
    decided = await api.get("/api/v1/tickets?status=waiting")
    assert decided[0]["number"] == "A002"

    # ... until a manager sets it to nothing: then the longest wait goes first.
    body = {"priority_head_start_s": 0, "max_wait_s": {"pickup": 600}, "reason": "trial"}
    policy = await put_policy(api, body)
    assert policy["priority_head_start_s"] == 0
    assert policy["max_wait_s"]["pickup"] == 600
    assert policy["changed_by"] == "manager:wang.li"
    themes = {t["id"]: t for t in await api.get("/api/v1/themes")}
    assert themes["pickup"]["max_wait_s"] == 600
    [record] = await audit(api, "PolicyChanged")
    assert record["actor"] == "manager:wang.li"
    assert record["data"]["changes"] == {"priority_head_start_s": 0, "max_wait_s": {"pickup": 600}}
    assert record["data"]["previous"] == {
        "priority_head_start_s": 900,
        "max_wait_s": {"pickup": 900},
    }
    assert record["data"]["reason"] == "trial"

    # The same values again change nothing and record nothing.
    await put_policy(api, {"priority_head_start_s": 0, "reason": "again"})
    assert len(await audit(api, "PolicyChanged")) == 1

    await api.restart()
    policy = await api.get("/api/v1/policy")
    assert (policy["priority_head_start_s"], policy["max_wait_s"]["pickup"]) == (0, 600)
    assert policy["changed_by"] == "manager:wang.li"
    called = await api.post("/api/v1/windows/1/call")
    assert (called["ticket"]["number"], called["reason"]["rule"]) == ("A001", "longest_wait")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"aging_rate": 0}, "aging_rate", "aging_rate must be a number from 0.1 to 10 (points/s)"),
        ({"recall_limit": 1.5}, "recall_limit", "recall_limit must be an integer from 0 to 10"),
        ({"recall_limit": True}, "recall_limit", "must be an integer"),
        ({"priority_streak_limit": 0}, "priority_streak_limit", "from 1 to 20 (calls)"),
        ({"priority_max_wait_factor": 2}, "priority_max_wait_factor", "from 0.05 to 1"),
        ({"appointment_late_s": "15m"}, "appointment_late_s", "an integer from 60 to 7200 (s)"),
        ({"max_wait_s": {"social": 30}}, "max_wait_s.social", "from 60 to 14400 (s)"),
        ({"max_wait_s": {"sociall": 600}}, "max_wait_s", 'did you mean "social"'),
        ({"max_wait_s": 600}, "max_wait_s", "must map theme ids to seconds"),
        ({"aging_rat": 2}, "aging_rat", 'did you mean "aging_rate"'),
    ],
)
async def test_a_policy_value_out_of_range_is_refused_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    before = await api.get("/api/v1/policy")
    reply = await api.request(
        "PUT", "/api/v1/policy", json={**body, "reason": "r"}, headers=MANAGER
    )
    assert reply.status == 422, reply.text
    assert words in reply.body["error"]["message"]
    assert reply.body["error"]["details"]["field"] == field
    assert await api.get("/api/v1/policy") == before


async def test_a_policy_change_needs_a_reason(api: Api) -> None:
    reply = await api.request("PUT", "/api/v1/policy", json={"recall_limit": 3})
    assert reply.status == 422
    assert reply.body["error"]["details"] == {"field": "reason"}
    assert (await api.get("/api/v1/policy"))["recall_limit"] == 2


# ----------------------------------------------------------------- windows with reasons


async def test_window_actions_by_a_manager_carry_their_reason_into_the_audit_trail(
    api: Api,
) -> None:
    await api.post("/api/v1/windows/5/open", {"reason": "queue building up"}, headers=MANAGER)
    await api.post("/api/v1/windows/5/pause", {"reason": "staff meeting"}, headers=MANAGER)
    await api.post("/api/v1/windows/5/resume", {"reason": "meeting over"}, headers=MANAGER)
    await api.post("/api/v1/windows/5/close", {"reason": "quiet afternoon"}, headers=MANAGER)
    await api.post("/api/v1/windows/6/open")  # a clerk's panel gives none
    trail = await api.get("/api/v1/audit")
    seen = [(e["type"], e["actor"], e["data"]["reason"]) for e in trail["events"]]
    assert seen == [
        ("WindowOpened", "manager:wang.li", "queue building up"),
        ("WindowPaused", "manager:wang.li", "staff meeting"),
        ("WindowResumed", "manager:wang.li", "meeting over"),
        ("WindowClosed", "manager:wang.li", "quiet afternoon"),
        ("WindowOpened", "token:tests", ""),
    ]


# ----------------------------------------------------------------- the live hall


async def test_the_overview_shows_windows_their_tickets_and_each_themes_oldest_wait(
    api: Api,
) -> None:
    await api.post("/api/v1/windows/1/open")
    await api.issue("social")
    await api.issue("social", priority="elderly")
    await api.issue("pickup")
    await api.post("/api/v1/windows/1/call")  # A002, the elderly applicant
    api.clock.advance(120)
    overview = await api.get("/api/v1/overview")
    windows = {w["window"]["id"]: w for w in overview["windows"]}
    one = windows["1"]
    assert one["window"]["status"] == "calling"
    assert one["ticket"]["number"] == "A002"
    assert one["ticket"]["priority"] == "elderly"
    assert one["ticket"]["status"] == "called"
    assert one["ticket"]["for_s"] == 120
    assert windows["2"]["ticket"] is None
    themes = {t["id"]: t for t in overview["themes"]}
    assert themes["social"]["waiting"] == 1
    assert themes["social"]["oldest"]["number"] == "A001"
    assert themes["social"]["max_wait_s"] == 1500
    assert themes["pickup"]["oldest"]["number"] == "F001"
    assert themes["police"]["oldest"] is None

    api.clock.advance(900)  # the pick-up ticket is past its 15 minutes
    overview = await api.get("/api/v1/overview")
    themes = {t["id"]: t for t in overview["themes"]}
    assert (themes["pickup"]["over_target"], themes["social"]["over_target"]) == (1, 0)
    assert overview["alerts"] == 1


# ----------------------------------------------------------------- figures


async def test_figures_of_a_small_day_add_up(api: Api) -> None:
    clock = api.clock
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/2/open")
    for theme in ("social", "social", "police", "pickup"):  # A001 A002 B001 F001, 10:00
        await api.issue(theme)
    clock.advance(600)
    await api.post("/api/v1/windows/1/call", {"ticket": "A001"})
    await api.post("/api/v1/windows/1/start")
    clock.advance(300)
    await api.post("/api/v1/windows/1/finish")
    await api.post("/api/v1/tickets/A001/rating", {"score": 5})
    clock.advance(1200)  # B001 has waited past its 25 minutes when it is called
    await api.post("/api/v1/windows/2/call", {"ticket": "B001"})
    await api.post("/api/v1/windows/2/no-show")
    clock.advance(3600)  # 11:35
    await api.issue("social", priority="elderly")  # A003
    await api.issue("police")  # B002
    await api.post("/api/v1/tickets/A002/cancel", {"reason": "left the hall"})
    await api.post("/api/v1/tickets/B002/transfer", {"theme": "social", "reason": "wrong theme"})
    await api.post("/api/v1/windows/1/call", {"ticket": "A003"})
    await api.post("/api/v1/windows/1/finish")
    await api.post("/api/v1/tickets/A003/rating", {"score": 2})

    figures = await api.get("/api/v1/figures")
    themes = {t["id"]: t for t in figures["themes"]}
    social, police, pickup = themes["social"], themes["police"], themes["pickup"]
    # Each ticket counts once, in the theme it is in now (B002 was moved to social).
    assert (social["issued"], social["served"], social["cancelled"], social["waiting"]) == (
        4,
        2,
        1,
        1,
    )
    assert (police["issued"], police["no_show"], police["served"]) == (1, 1, 0)
    assert (pickup["issued"], pickup["waiting"]) == (1, 1)
    counted = ("waiting", "at_window", "held", "served", "no_show", "cancelled")
    for theme in figures["themes"]:
        assert theme["issued"] == sum(theme[k] for k in counted), theme["id"]
    total = figures["total"]
    for key in ("issued", *counted, "called", "within_target"):
        assert total[key] == sum(t[key] for t in figures["themes"]), key
    assert total["issued"] == 6

    # Waits to the first call, against what the tickets themselves say.
    tickets = {t["number"]: t for t in await api.get("/api/v1/tickets")}

    def wait(number: str) -> float:
        return seconds_between(tickets[number]["issued_at"], tickets[number]["called_at"])

    social_waits = sorted([wait("A001"), wait("A003")])
    assert social["called"] == 2
    assert social["median_s"] == round(statistics.median(social_waits))
    assert social["max_s"] == round(social_waits[-1])
    assert social["p90_s"] == round(social_waits[-1])  # nearest rank of two
    assert (social["within_target"], social["within_share"]) == (2, 1.0)
    assert (police["called"], police["max_s"]) == (1, round(wait("B001")))
    assert wait("B001") > 1500
    assert (police["within_target"], police["within_share"]) == (0, 0.0)
    assert (pickup["called"], pickup["median_s"], pickup["within_share"]) == (0, None, None)
    assert total["within_target"] == 2
    assert total["within_share"] == round(2 / 3, 4)

    hours = {h["hour"]: h for h in figures["hours"]}
    assert min(hours) == 9
    assert max(hours) == 17
    assert (hours[10]["arrivals"], hours[11]["arrivals"]) == (4, 2)
    assert (hours[10]["calls"], hours[11]["calls"]) == (2, 1)
    assert sum(h["arrivals"] for h in figures["hours"]) == total["issued"]
    assert sum(h["calls"] for h in figures["hours"]) == len(await audit(api, "TicketCalled"))

    ratings = figures["ratings"]
    assert ratings["count"] == 2
    assert ratings["mean"] == 3.5
    assert {s["score"]: s["count"] for s in ratings["scores"]} == {5: 1, 4: 0, 3: 0, 2: 1, 1: 0}

    # Read again after more events: only the new ones are folded in, and nothing twice.
    await api.issue("pickup")
    again = await api.get("/api/v1/figures")
    assert again["total"]["issued"] == 7
    assert {h["hour"]: h["arrivals"] for h in again["hours"]}[11] == 3
    assert again["total"]["called"] == 3


# ----------------------------------------------------------------- alerts


class LostPad:
    """The hall's devices as the hub reports them: one call pad lost since T0 + 5."""

    def health(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "w1-pad",
                "kind": "call_pad",
                "profile": "callpad-ff68",
                "driver": "callpad",
                "window": "1",
                "where": "sim-dev/rs485-row-a #1",
                "state": "lost",
                "since": API_T0 + 5,
                "last_seen": API_T0,
                "frames_in": 3,
                "frames_out": 4,
                "errors": 0,
                "reconnects": 1,
                "last_error": "no answer to 3 pings",
                "last_frame_in": None,
                "last_frame_out": None,
            },
            {"id": "w2-pad", "state": "ready", "since": API_T0, "window": "2"},
        ]

    def learn_remote(self, device_id: str, window: str | None) -> None:
        raise KeyError(device_id)


async def test_alerts_for_a_wait_over_target_and_a_lost_device(api: Api) -> None:
    await api.issue("social")  # A001, 25 minutes to wait at most
    assert await api.get("/api/v1/alerts") == []

    api.clock.advance(21 * 60)  # past 80% of its maximum wait: a warning
    [near] = await api.get("/api/v1/alerts")
    assert (near["kind"], near["level"], near["subject"]) == ("wait", "warning", "social")
    assert near["text_en"] == (
        "Social welfare: 1 close to the wait target; A001 has waited 21 min (target 25 min)"
    )

    api.clock.advance(5 * 60)  # past it: an alert
    [over] = await api.get("/api/v1/alerts")
    assert (over["kind"], over["level"]) == ("wait", "critical")
    assert over["text_zh"] == "社会民生：1 人等候超过目标，A001 已等 26 分钟（目标 25 分钟）"
    assert over["id"] != near["id"]

    assert api.controller is not None
    api.controller.service.devices = LostPad()
    alerts = await api.get("/api/v1/alerts")
    assert [(a["kind"], a["subject"]) for a in alerts] == [("device", "w1-pad"), ("wait", "social")]
    assert alerts[0]["text_en"] == "Device w1-pad (window 1) is lost"
    assert alerts[0]["since"] == "2026-11-28T10:00:05+08:00"

    # Acknowledged: it stays on the list while its cause lasts, after the others, marked.
    done = await api.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", {"note": "technician called"})
    assert done["acknowledged"]["note"] == "technician called"
    alerts = await api.get("/api/v1/alerts")
    assert [a["kind"] for a in alerts] == ["wait", "device"]
    assert alerts[1]["acknowledged"]["by"] == "token:tests"
    await api.error("POST", f"/api/v1/alerts/{alerts[1]['id']}/ack", 409, {})
    await api.error("POST", "/api/v1/alerts/wait:social:over:nothing/ack", 404, {})

    # Once the ticket is called, its alert is gone.
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/1/call")
    assert [a["kind"] for a in await api.get("/api/v1/alerts")] == ["device"]


class KioskPrinter:
    """A kiosk printer in alert since T0 + 5 for `problem` (a printer stays in its alert
    state, with the same `since`, when "paper low" becomes "paper out")."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def health(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "k1-printer",
                "kind": "ticket_printer",
                "state": "alert",
                "since": API_T0 + 5,
                "window": None,
                "last_error": self.problem,
            }
        ]

    def learn_remote(self, device_id: str, window: str | None) -> None:
        raise KeyError(device_id)


async def test_a_device_problem_that_changes_is_a_new_alert_after_an_acknowledgement(
    api: Api,
) -> None:
    assert api.controller is not None
    printer = KioskPrinter("paper low")
    api.controller.service.devices = printer
    [low] = await api.get("/api/v1/alerts")
    assert low["text_en"] == "Device k1-printer reports a problem: paper low"
    await api.post(f"/api/v1/alerts/{low['id']}/ack", {"note": "a roll is on its way"})
    assert (await api.get("/api/v1/overview"))["alerts"] == 0

    # The paper runs out: the kiosk prints no more, and the tablet must say so again.
    printer.problem = "paper out"
    [out] = await api.get("/api/v1/alerts")
    assert out["text_en"] == "Device k1-printer reports a problem: paper out"
    assert out["acknowledged"] is None
    assert out["id"] != low["id"]
    assert (await api.get("/api/v1/overview"))["alerts"] == 1

    # The same problem read again is the alert already acknowledged, not a new one.
    printer.problem = "paper low"
    [again] = await api.get("/api/v1/alerts")
    assert again["id"] == low["id"]
    assert again["acknowledged"] is not None


async def test_a_kiosks_help_page_reaches_the_tablets_live_and_is_acknowledged_once(
    api: Api,
) -> None:
    async with api.session.get(api.url + "/api/v1/events") as response:
        stream = EventStream(response)
        paged = await api.post("/api/v1/kiosks/k1/help", expect=202)
        assert paged["kiosk"] == "k1"
        assert paged["paged"] is True
        [message] = await stream.until("HelpRequested")
        assert message.data["kiosk"] == "k1"
        assert message.data["alert"] == paged["alert"]

        # A second press while nobody has answered is the same page, not a second one.
        again = await api.post("/api/v1/kiosks/k1/help", expect=202)
        assert again["alert"] == paged["alert"]
        other = await api.post("/api/v1/kiosks/k2/help", expect=202)
        assert other["alert"] != paged["alert"]

        alerts = await api.get("/api/v1/alerts")
        help_alerts = [a for a in alerts if a["kind"] == "help"]
        assert [a["subject"] for a in help_alerts] == ["k1", "k2"]
        assert help_alerts[0]["text_zh"] == "1号自助取号机：申请人需要帮助"
        assert help_alerts[0]["level"] == "critical"

        done = await api.post(
            f"/api/v1/alerts/{paged['alert']}/ack", {"note": "on my way"}, headers=MANAGER
        )
        assert done["acknowledged"]["by"] == "manager:wang.li"
        later = await stream.until("AlertAcknowledged")
        assert [m.event for m in later] == ["HelpRequested", "AlertAcknowledged"]  # k2, then
        assert later[-1].data["alert"] == paged["alert"]
    assert [a["subject"] for a in await api.get("/api/v1/alerts")] == ["k2"]
    error = await api.error("POST", f"/api/v1/alerts/{paged['alert']}/ack", 409, {})
    assert "already acknowledged" in error["message"]
    await api.error("POST", "/api/v1/alerts/help-99/ack", 404, {})
    await api.error("POST", "/api/v1/kiosks/k9/help", 404)

    # Answered, the kiosk can page again; the audit trail has every step and who took it.
    third = await api.post("/api/v1/kiosks/k1/help", expect=202)
    assert third["alert"] not in (paged["alert"], other["alert"])
    trail = await api.get("/api/v1/audit")
    steps = [(e["type"], e["actor"], e["data"].get("alert")) for e in trail["events"]]
    assert steps == [
        ("HelpRequested", "token:tests", paged["alert"]),
        ("HelpRequested", "token:tests", other["alert"]),
        ("AlertAcknowledged", "manager:wang.li", paged["alert"]),
        ("HelpRequested", "token:tests", third["alert"]),
    ]


async def test_help_pages_and_acknowledgements_survive_a_restart(api: Api) -> None:
    first = await api.post("/api/v1/kiosks/k1/help", expect=202)
    await api.post("/api/v1/kiosks/k2/help", expect=202)
    await api.post(f"/api/v1/alerts/{first['alert']}/ack", {})
    await api.restart()
    assert [a["subject"] for a in await api.get("/api/v1/alerts")] == ["k2"]
    await api.error("POST", f"/api/v1/alerts/{first['alert']}/ack", 409, {})
    again = await api.post("/api/v1/kiosks/k1/help", expect=202)
    assert again["alert"] == "help-3"


# ----------------------------------------------------------------- the core's record


def manager_morning() -> tuple[list[Event], Hall]:
    """A day with every event a manager's tablet adds, as the core folds them."""
    config = dataclasses.replace(make_config(), kiosks=(Kiosk("k1", "1号机", "Kiosk 1"),))
    hall = new_hall(config)
    log: list[Event] = []
    log += hall.open_window("g1", at=T0, actor=ACTOR, reason="busy")
    for offset in (1, 2, 3):
        log += hall.issue(theme="A", priority=None, channel="kiosk", at=T0 + offset, actor=ACTOR)
    log += hall.prioritise("A003", "elderly", "age checked", at=T0 + 10, actor="manager")
    log += hall.change_policy(
        {"aging_rate": 2, "max_wait_s": {"B": 600}}, "rush hour", at=T0 + 20, actor="manager"
    )
    log += hall.request_help("k1", at=T0 + 30, actor="kiosk:k1")
    log += hall.acknowledge("help-1", "coming", at=T0 + 40, actor="manager")
    log += hall.acknowledge("wait:A:over:x", "", at=T0 + 41, actor="manager")
    return log, hall


def test_the_managers_events_survive_the_log_and_rebuild_the_same_day() -> None:
    log, hall = manager_morning()
    kinds = {type(e) for e in log}
    assert {TicketPrioritised, PolicyChanged, HelpRequested, AlertAcknowledged} <= kinds
    for event in log:
        assert round_trip(event) == event
    rebuilt = replay(hall.config, log)
    assert state(rebuilt) == state(hall)
    assert rebuilt.policy == hall.policy
    assert rebuilt.policy.aging_rate == 2.0
    assert rebuilt.policy.theme_max_wait_s == (("B", 600),)
    assert rebuilt.help_pages == hall.help_pages
    assert rebuilt.acknowledged == hall.acknowledged
    assert rebuilt.policy_changed == (T0 + 20, "manager")
    # The rebuilt day calls as the original does: the prioritised ticket first.
    a = hall.call_next("g1", at=T0 + 100, actor=ACTOR)
    b = rebuilt.call_next("g1", at=T0 + 100, actor=ACTOR)
    assert a == b


def test_the_managers_state_survives_a_snapshot() -> None:
    _, hall = manager_morning()
    data = json.loads(json.dumps(to_snapshot(hall), ensure_ascii=False))
    restored = from_snapshot(hall.config, hall.tz, data)
    assert restored.policy == hall.policy
    assert restored.help_pages == hall.help_pages
    assert restored.acknowledged == hall.acknowledged
    assert restored.policy_changed == hall.policy_changed
    assert [t.number for t in restored.waiting()] == [t.number for t in hall.waiting()]
    a = hall.call_next("g1", at=T0 + 100, actor=ACTOR)
    b = restored.call_next("g1", at=T0 + 100, actor=ACTOR)
    assert a == b
    assert isinstance(a[-1], TicketCalled)
    assert a[-1].ticket_id.endswith("A003")


def test_refused_manager_commands_change_nothing() -> None:
    _, hall = manager_morning()
    before = state(hall)
    with pytest.raises(InvalidCommand):
        hall.change_policy({"recall_limit": 11}, "r", at=T0, actor=ACTOR)
    with pytest.raises(InvalidCommand):
        hall.change_policy({"recall_limit": 3}, "", at=T0, actor=ACTOR)
    with pytest.raises(Conflict):
        hall.acknowledge("help-1", "", at=T0, actor=ACTOR)
    assert hall.change_policy({"aging_rate": 2.0}, "same", at=T0, actor=ACTOR) == []
    assert hall.request_help("k1", at=T0, actor=ACTOR) != []  # help-1 was answered
    assert hall.request_help("k1", at=T0, actor=ACTOR) == []  # help-2 is still open
    assert state(hall)["tickets"] == before["tickets"]
