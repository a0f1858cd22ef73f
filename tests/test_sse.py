"""The live event stream (/api/v1/events) as a hall display reads it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog.testing
from test_api import T0, Api, Clock, resident_id

from hall_controller.settings import load_settings
from hall_controller.web import api as web_api

from accounts import AUTH

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

READ_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Message:
    event: str
    id: int | None
    data: Any
    raw: str


class EventStream:
    """Reads server-sent events off an open response, one message at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> Message | None:
        """The next message, or None at the end of the stream."""
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), READ_TIMEOUT_S)
            if not raw:
                assert not lines, f"stream ended inside a message: {lines}"
                return None
            line = raw.decode("utf-8").rstrip("\n")
            if line:
                lines.append(line)
            elif lines:
                return _parse(lines)

    async def until(self, event: str) -> list[Message]:
        """Messages up to and including the next `event` one, skipping periodic `state`."""
        seen: list[Message] = []
        while True:
            message = await self.next()
            assert message is not None, f"stream ended before {event}; saw {seen}"
            if message.event == "state" and event != "state":
                continue
            seen.append(message)
            if message.event == event:
                return seen


def _parse(lines: list[str]) -> Message:
    fields: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(": ")
        assert name in ("event", "id", "data"), line
        assert name not in fields, f"repeated {name} in {lines}"
        fields[name] = value
    return Message(
        event=fields["event"],
        id=int(fields["id"]) if "id" in fields else None,
        data=json.loads(fields["data"]),
        raw="\n".join(lines),
    )


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(load_settings(demo_config_path), tmp_path / "data", Clock(T0), session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


async def test_events_arrive_in_order_and_end_when_the_controller_stops(api: Api) -> None:
    number = resident_id(date(1950, 5, 17), serial="613")
    assert api.controller is not None
    async with api.session.get(api.url + "/api/v1/events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        stream = EventStream(response)

        first = await stream.next()
        assert first is not None
        assert first.event == "state"
        assert first.id is None
        assert first.data["day"] == "2026-11-28"
        assert first.data["waiting"]["social"] == 0
        assert first.data["windows"]["1"] == {"status": "closed", "ticket": None}

        issued = await api.issue("social", id_number=number)
        await api.post("/api/v1/windows/1/open")
        call = await api.post("/api/v1/windows/1/call")

        messages = await stream.until("TicketCalled")
        assert [m.event for m in messages] == ["TicketIssued", "WindowOpened", "TicketCalled"]
        ids = [m.id for m in messages]
        assert ids == [1, 2, 3]
        for message in messages:
            assert message.data["seq"] == message.id
            assert message.data["type"] == message.event
            assert "person_hash" not in message.data
            assert number not in message.raw
            assert number[:17] not in message.raw

        ticket_issued, window_opened, ticket_called = (m.data for m in messages)
        assert ticket_issued["number"] == "A001"
        assert ticket_issued["ticket_id"] == issued["id"]
        assert ticket_issued["theme"] == "social"
        assert ticket_issued["priority"] == "elderly"
        assert ticket_issued["age_band"] == "70-79"
        assert ticket_issued["at"] == T0 + 1
        assert window_opened["window"] == "1"
        assert ticket_called["ticket_id"] == issued["id"]
        assert ticket_called["window"] == "1"
        assert ticket_called["number"] == "A001"  # screens show the number without a look-up
        assert ticket_called["rule"] == call["reason"]["rule"]
        assert ticket_called["at"] == T0 + 3

        # A refused command publishes nothing; the next real one continues the sequence.
        refused = await api.request("POST", "/api/v1/windows/1/open")
        assert refused.status == 409
        await api.post("/api/v1/windows/1/start")
        (started,) = await stream.until("ServiceStarted")
        assert started.id == 4
        assert started.data["ticket_id"] == issued["id"]
        assert started.data["number"] == "A001"

        screens = api.controller.runner.app[web_api.SCREENS_KEY]
        assert len(screens) == 1
        began = time.monotonic()
        await api.stop()
        assert time.monotonic() - began < 3.0
        # The stream ends: the display sees EOF and reconnects elsewhere.
        assert await stream.next() is None
        assert response.content.at_eof()
    assert len(screens) == 0


async def test_every_subscriber_gets_every_event(api: Api) -> None:
    async with (
        api.session.get(api.url + "/api/v1/events") as one,
        api.session.get(api.url + "/api/v1/events") as two,
    ):
        streams = [EventStream(one), EventStream(two)]
        for stream in streams:
            first = await stream.next()
            assert first is not None
            assert first.event == "state"
        await api.issue("pickup")
        await api.issue("police")
        for stream in streams:
            got = await stream.until("TicketIssued") + await stream.until("TicketIssued")
            assert [(m.id, m.data["number"]) for m in got] == [(1, "F001"), (2, "B001")]
        await api.stop()
        for stream in streams:
            assert await stream.next() is None


async def test_the_state_repeats_while_nothing_happens(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_api, "STATE_INTERVAL_S", 0.05)
    await api.issue("social")
    async with api.session.get(api.url + "/api/v1/events") as response:
        stream = EventStream(response)
        states = [await stream.next() for _ in range(3)]
        assert all(m is not None and m.event == "state" for m in states)
        assert all(m is not None and m.data["waiting"]["social"] == 1 for m in states)
        await api.stop()
        while (message := await stream.next()) is not None:
            assert message.event == "state"


async def test_a_display_that_goes_away_is_forgotten_quietly(api: Api) -> None:
    assert api.controller is not None
    screens = api.controller.runner.app[web_api.SCREENS_KEY]
    with structlog.testing.capture_logs() as captured:
        async with api.session.get(api.url + "/api/v1/events") as response:
            stream = EventStream(response)
            assert (await stream.next()) is not None
            assert len(screens) == 1
            response.close()  # the display is switched off mid-stream
        # The next events find the connection gone and drop the subscriber; the hall carries on.
        for _ in range(3):
            await api.issue("social")
            await asyncio.sleep(0.05)
            if len(screens) == 0:
                break
        assert len(screens) == 0
    # A screen switched off is routine, not an error with a traceback.
    assert [e for e in captured if e["log_level"] in ("error", "critical")] == []
    assert (await api.get("/healthz"))["status"] == "ok"
    assert len(await api.get("/api/v1/tickets")) >= 1


async def test_a_kiosk_s_stream_carries_its_card_reads_and_scans_and_no_id_number(
    api: Api,
) -> None:
    number = resident_id(date(1952, 2, 29), serial="128")
    assert api.controller is not None
    kiosks = api.controller.kiosks
    issued = await api.issue("pickup")
    async with api.session.get(api.url + "/api/v1/kiosks/k2/events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = EventStream(response)
        first = await stream.next()
        assert first is not None
        assert first.event == "kiosk"
        assert first.data["id"] == "k2"

        kiosks.resident_card("k2", id_number=number, name="陈大文", valid_to="20320101")
        kiosks.resident_card("k1", id_number=number, name="陈大文", valid_to="20320101")
        kiosks.code_scanned("k2", issued["number"])
        card = await stream.next()
        scan = await stream.next()
        assert card is not None
        assert scan is not None
        assert (card.event, card.data["name"], card.data["age_band"]) == ("card", "陈*文", "70-79")
        assert number not in card.raw
        assert (scan.event, scan.data["ticket"]["id"]) == ("scan", issued["id"])

        # The token works with the kiosk's ticket request, at this kiosk.
        result = await api.post(
            "/api/v1/kiosks/k2/tickets",
            {"theme": "social", "card": card.data["card"], "print": False},
            expect=201,
        )
        assert result["ticket"]["priority"] == "elderly"
        assert result["reason"] == "a screen ticket was asked for"
    missing = await api.request("GET", "/api/v1/kiosks/k9/events")
    assert missing.status == 404


async def test_a_ticket_s_status_stream_follows_that_ticket_and_no_other(api: Api) -> None:
    assert api.controller is not None
    service = api.controller.service
    mine = await api.issue("social")
    other = await api.issue("social")
    link = service.ticket_link(mine["id"])
    async with api.session.get(api.url + f"/api/v1/status/{link}/events") as response:
        assert response.status == 200
        stream = EventStream(response)
        first = await stream.next()
        assert first is not None
        assert first.event == "status"
        assert (first.data["number"], first.data["status"], first.data["ahead"]) == (
            mine["number"],
            "waiting",
            0,
        )
        await api.post("/api/v1/windows/3/open")
        await api.post("/api/v1/windows/3/call")
        called = await stream.until("status")
        assert called[-1].data["status"] == "called"
        assert called[-1].data["window_name_zh"] == "3号窗口"
        # Every message is about this ticket alone: the other one is never named.
        assert all(other["number"] not in m.raw for m in [first, *called])
    wrong = await api.request("GET", f"/api/v1/status/{mine['id']}.0000000000000000")
    assert wrong.status == 404
    forged = await api.request("GET", f"/api/v1/status/{other['id']}.{link.rsplit('.', 1)[1]}")
    assert forged.status == 404
    assert forged.body["error"]["message"] == wrong.body["error"]["message"]
