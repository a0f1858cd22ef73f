"""Substitution, the personalised-service window, a visit's next stage and a window taken over,
through the API of a running demo hall."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_access import Browser, audit, signed_in
from test_api import T0, Api, Clock, running_api

from hall_controller.device_port import ServiceHallPort
from hall_controller.settings import load_settings

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(load_settings(demo_config_path), tmp_path / "data", Clock(T0)) as api:
        yield api


async def call_number(api: Api, window: str) -> str | None:
    reply = await api.request("POST", f"/api/v1/windows/{window}/call")
    if reply.status == 204:
        return None
    assert reply.status == 200, reply.text
    number: str = reply.body["ticket"]["number"]
    return number


async def hall_state(api: Api) -> dict[str, Any]:
    hall: dict[str, Any] = await api.get("/api/v1/hall")
    state: dict[str, Any] = hall["state"]
    return state


async def test_construction_is_served_at_window_5_while_its_own_windows_are_away(
    api: Api,
) -> None:
    await api.issue("construction")
    await api.post("/api/v1/windows/5/open")

    state = await hall_state(api)
    assert state["stood_in"] == {"construction": ["5"]}
    themes = {t["id"]: t for t in await api.get("/api/v1/themes")}
    assert themes["construction"]["stood_in_by"] == ["5"]
    assert themes["social"]["stood_in_by"] == []
    window = await api.get("/api/v1/windows/5")
    assert window["standing_in"] == ["construction"]
    assert await call_number(api, "5") == "E001"


async def test_substitution_ends_when_a_construction_window_opens(api: Api) -> None:
    await api.post("/api/v1/windows/5/open")
    await api.post("/api/v1/windows/9/open")
    await api.issue("construction")

    assert (await hall_state(api))["stood_in"] == {}
    assert await call_number(api, "5") is None
    assert await call_number(api, "9") == "E001"


async def test_the_personalised_window_takes_a_priority_pick_up_before_older_tickets(
    api: Api,
) -> None:
    await api.issue("social")
    await api.issue("pickup", priority="disabled")
    await api.post("/api/v1/windows/12/open")

    call = await api.post("/api/v1/windows/12/call")

    assert call["ticket"]["number"] == "F001"
    assert call["reason"]["rule"] == "personalised"
    assert (await api.get("/api/v1/windows/12"))["personalised"] is True
    assert (await api.get("/api/v1/windows/1"))["personalised"] is False


async def test_an_intake_ticket_goes_on_to_pick_up_as_one_visit(api: Api) -> None:
    intake = await api.issue("social", priority="elderly")
    for action in ("open", "call", "start"):
        await api.post(f"/api/v1/windows/1/{action}")
    api.clock.advance(300)
    await api.issue("pickup")  # arrives during the intake

    moved = await api.post("/api/v1/windows/1/continue", {"theme": "pickup", "reason": "当场出证"})

    assert moved["window"]["status"] == "open"
    assert moved["window"]["ticket"] is None
    ticket = moved["ticket"]
    assert (ticket["number"], ticket["theme"], ticket["status"]) == ("A001", "pickup", "waiting")
    assert (ticket["priority"], ticket["stage"]) == ("elderly", 2)
    assert ticket["issued_at"] == intake["issued_at"]
    await api.post("/api/v1/windows/11/open")
    assert await call_number(api, "11") == "A001"  # its arrival time came first
    trail = await audit(api)
    continued = [d for kind, _, d in trail if kind == "TicketContinued"]
    assert continued == [
        {
            "ticket_id": "20261128-A001",
            "window": "1",
            "to_theme": "pickup",
            "to_window": None,
            "reason": "当场出证",
        }
    ]


async def test_sending_on_is_refused_clearly(api: Api) -> None:
    await api.post("/api/v1/windows/1/open")
    idle = await api.error("POST", "/api/v1/windows/1/continue", 409, {"theme": "pickup"})
    assert "no ticket" in idle["message"]

    await api.issue("social")
    await api.post("/api/v1/windows/1/call")
    typo = await api.error("POST", "/api/v1/windows/1/continue", 422, {"theme": "pikcup"})
    assert 'did you mean "pickup"' in typo["message"]
    wrong = await api.error(
        "POST", "/api/v1/windows/1/continue", 409, {"theme": "pickup", "window": "2"}
    )
    assert "does not serve" in wrong["message"]
    extra = await api.error(
        "POST", "/api/v1/windows/1/continue", 422, {"theme": "pickup", "to": "11"}
    )
    assert extra["details"] == {"field": "to"}


async def test_a_clerk_taking_over_a_window_is_recorded_and_its_pad_acts_for_her(
    api: Api,
) -> None:
    await signed_in(api, "staff", window="5")  # zhang.min, any window
    colleague = Browser(api)
    await colleague.sign_in({"role": "staff", "account": "li.na", "secret": "2222", "window": "5"})
    assert (await api.get("/api/v1/windows/5"))["clerk"] == "li.na"

    trail = await audit(api)
    took_over = [d for kind, _, d in trail if kind == "SignedIn" and d.get("window") == "5"]
    assert took_over[-1]["account"] == "li.na"
    assert took_over[-1]["took_over_from"] == "zhang.min"

    await api.issue("registration")
    assert api.controller is not None
    port = ServiceHallPort(api.controller.service)
    result = await port.pad_action("5", "call", "device:w5-pad", transfer_to=None)
    assert result.ok
    trail = await audit(api)
    pad_calls = [actor for kind, actor, d in trail if kind == "TicketCalled"]
    assert pad_calls == ["li.na via device:w5-pad"]
