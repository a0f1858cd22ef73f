"""A scripted hall day through the API: arrivals, appointments, pauses, transfers, a visit that
goes on to pick-up, a substitution and a window taken over, an emergency drill, a theme that
fills up and offers a slot, ratings good and poor with their follow-ups; then what was called
when, what the hall display was told, what the efficiency report says, and that nothing
personal survives the end of the day."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_access import Browser, signed_in
from test_api import SHANGHAI, T0, Api, Clock, resident_id, running_api
from test_sse import EventStream, Message

from hall_controller.app import EVENT_LOG_FILE
from hall_controller.settings import load_settings

from conftest import demo_config_text
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

DAY = "2026-11-28"
# Synthetic applicants: a 74-year-old (elderly priority from the card) and a booking by ID.
ELDER_ID = resident_id(date(1952, 3, 1), serial="613")
BOOKED_ID = resident_id(date(1990, 6, 1), serial="421")
BOOKING_CODE = "REG1030"
DRILL = "消防演练，请听从工作人员指引疏散"


@dataclass(frozen=True)
class Call:
    """One call of the day as the window panel saw it."""

    at: str  # hall-local "HH:MM:SS"
    window: str
    number: str
    rule: str


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    # The demo hall, with construction's day down to two numbers so that the day fills it.
    text = demo_config_text().replace("daily_cap = 80\n", "daily_cap = 2\n", 1)
    assert "daily_cap = 2\n" in text
    config = tmp_path / "hall.toml"
    config.write_text(text, encoding="utf-8")
    async with running_api(load_settings(config), tmp_path / "data", Clock(T0)) as api:
        yield api


@contextlib.asynccontextmanager
async def hall_display(api: Api) -> AsyncIterator[list[Message]]:
    """What a hall display hears all day: the public event stream, without a sign-in."""
    heard: list[Message] = []
    async with (
        aiohttp.ClientSession() as session,
        session.get(api.url + "/api/v1/events") as response,
    ):
        assert response.status == 200
        stream = EventStream(response)

        async def listen() -> None:
            while (message := await stream.next()) is not None:
                if message.event != "state":
                    heard.append(message)

        task = asyncio.create_task(listen(), name="hall-day-display")
        try:
            yield heard
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await task


def set_clock(api: Api, hour: int, minute: int) -> None:
    """Move the hall's clock forward to this local time today."""
    target = datetime(2026, 11, 28, hour, minute, tzinfo=SHANGHAI).timestamp()
    assert target > api.clock.now
    api.clock.advance(target - api.clock.now)


class Day:
    """The script's hands: each step through the API, the calls noted as they happen."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.calls: list[Call] = []

    async def call(self, window: str) -> str:
        body = await self.api.post(f"/api/v1/windows/{window}/call")
        ticket = body["ticket"]
        at = datetime.fromisoformat(ticket["called_at"]).astimezone(SHANGHAI)
        self.calls.append(Call(f"{at:%H:%M:%S}", window, ticket["number"], body["reason"]["rule"]))
        number: str = ticket["number"]
        return number

    async def act(self, window: str, *actions: str, **body: Any) -> None:
        for action in actions:
            await self.api.post(f"/api/v1/windows/{window}/{action}", body or None)

    async def rate(self, number: str, score: int) -> None:
        await self.api.post(f"/api/v1/tickets/{number}/rating", {"score": score})


async def test_a_scripted_hall_day(api: Api) -> None:
    day = Day(api)
    async with hall_display(api) as display:
        # 10:00 the morning's windows open; two bookings come in from the online hall.
        for window in ("1", "3", "5", "9", "11", "12"):
            await day.act(window, "open")
        await signed_in(api, "staff", window="5")  # zhang.min works at window 5
        await api.post(
            "/api/v1/appointments",
            {"theme": "registration", "slot": f"{DAY}T10:30", "code": BOOKING_CODE},
            expect=201,
        )
        await api.post(
            "/api/v1/appointments",
            {"theme": "social", "slot": f"{DAY}T10:20", "id_number": BOOKED_ID},
            expect=201,
        )

        # Arrivals: an elderly applicant by ID card, walk-ins, a disabled applicant for pick-up.
        elder = await api.issue("social", id_number=ELDER_ID)
        assert (elder["number"], elder["priority"]) == ("A001", "elderly")
        for theme in ("social", "police", "registration", "construction"):
            await api.issue(theme)
        assert (await api.issue("pickup", priority="disabled"))["number"] == "F001"

        # The elder's intake ends with the certificate ready: on to pick-up, same ticket.
        assert await day.call("1") == "A001"
        # The personalised-service window takes the priority pick-up before the walk-ins.
        assert await day.call("12") == "F001"
        await day.act("1", "start")
        await api.post("/api/v1/windows/1/continue", {"theme": "pickup", "reason": "当场出证"})
        assert await day.call("11") == "A001"
        await day.act("11", "start", "finish")
        await day.rate("A001", 5)
        # A complex police case goes from window 3 to the personalised-service window.
        assert await day.call("3") == "B001"
        await day.act("3", "start")
        await api.post(
            "/api/v1/tickets/B001/transfer", {"window": "12", "reason": "复杂件 complex case"}
        )
        await day.act("12", "start", "finish")
        await day.rate("F001", 4)
        assert await day.call("12") == "B001"
        await day.act("12", "start", "finish")
        await day.rate("B001", 1)

        # Window 9 pauses and window 10 is closed: window 5 stands in for construction.
        await day.act("9", "pause", reason="午休 lunch")
        stood_in = (await api.get("/api/v1/hall"))["state"]["stood_in"]
        assert stood_in == {"construction": ["5"]}
        assert await day.call("5") == "C001"  # its own theme first
        await day.act("5", "start", "finish")
        await day.rate("C001", 2)
        assert await day.call("5") == "E001"
        await day.act("5", "start", "finish")
        await day.act("9", "resume")
        assert (await api.get("/api/v1/hall"))["state"]["stood_in"] == {}

        # 10:25 zhang.min is called away: li.na takes window 5 over, call pad included. The
        # booked applicant checks in at the kiosk and is called while due.
        set_clock(api, 10, 25)
        colleague = Browser(api)
        await colleague.sign_in(
            {"role": "staff", "account": "li.na", "secret": "2222", "window": "5"}
        )
        checked_in = await api.post(
            "/api/v1/kiosks/k1/check-in", {"code": BOOKING_CODE.lower()}, expect=201
        )
        assert checked_in["ticket"]["number"] == "C002"
        assert await day.call("5") == "C002"
        await day.act("5", "start", "finish")
        await day.rate("C002", 5)

        # 10:40 the other booking's late window is over: a no-show, as the 30-second check
        # records it; and a walk-in does not come to window 1.
        set_clock(api, 10, 40)
        assert api.controller is not None
        assert await api.controller.service.record_missed_appointments() == 1
        assert await day.call("1") == "A002"
        await day.act("1", "no-show")

        # 10:45 a fire drill: no tickets meanwhile, every display shows it; then back to normal.
        set_clock(api, 10, 45)
        await api.post("/api/v1/emergency", {"message": DRILL, "drill": True})
        refused = await api.error("POST", "/api/v1/tickets", 409, {"theme": "social"})
        assert refused["code"] == "emergency"
        set_clock(api, 10, 50)
        await api.request("DELETE", "/api/v1/emergency")
        assert (await api.issue("social"))["number"] == "A003"

        # Construction's numbers run out: the kiosk offers tomorrow's first slot and books it.
        assert (await api.issue("construction"))["number"] == "E002"
        full = await api.error("POST", "/api/v1/kiosks/k1/tickets", 409, {"theme": "construction"})
        assert (full["code"], full["details"]["reason"]) == ("theme_full", "daily_cap")
        offered = full["details"]["next_slot"]["at"]
        assert offered == "2026-11-29T09:00+08:00"
        booked = await api.post(
            "/api/v1/kiosks/k1/appointments",
            {"theme": "construction", "slot": offered},
            expect=201,
        )
        tomorrow_code = booked["appointment"]["code"]

        # The manager follows the two poor ratings up.
        followups = {f["number"]: f for f in await api.get("/api/v1/followups")}
        assert sorted(followups) == ["B001", "C001"]
        assert followups["B001"]["window"] == "12"
        assert followups["C001"]["score_zh"] == "不满意"
        b001 = followups["B001"]["id"]
        await api.post(f"/api/v1/followups/{b001}/callback", {"note": "已回访，致歉"})
        closed = await api.post(
            f"/api/v1/followups/{b001}/close", {"note": "复杂件改由专人预审", "ask_rating": False}
        )
        assert closed["status"] == "closed"

        await eventually(
            lambda: any(
                m.event == "TicketCalled" and m.data["ticket_id"].endswith("A002") for m in display
            ),
            "the display heard the last call",
        )

    # Who was called when, and by which rule.
    assert [(c.window, c.number) for c in day.calls] == [
        ("1", "A001"),
        ("12", "F001"),
        ("11", "A001"),
        ("3", "B001"),
        ("12", "B001"),
        ("5", "C001"),
        ("5", "E001"),
        ("5", "C002"),
        ("1", "A002"),
    ]
    rules = {(c.window, c.number): c.rule for c in day.calls}
    assert rules[("12", "F001")] == rules[("12", "B001")] == "personalised"
    assert rules[("5", "C002")] == "appointment"
    times = [c.at for c in day.calls]
    assert times == sorted(times)
    assert "10:20:00" <= next(c.at for c in day.calls if c.number == "C002") <= "10:45:00"

    # What the hall display was told: every call in order, the drill marked as one, and
    # nothing private (no reasons, notes, case numbers, follow-ups or sign-ins).
    told = [
        (m.data["window"], m.data["ticket_id"][-4:]) for m in display if m.event == "TicketCalled"
    ]
    assert told == [(c.window, c.number) for c in day.calls]
    drill = [(m.data["message"], m.data["drill"]) for m in display if m.event == "EmergencyStarted"]
    assert drill == [(DRILL, True)]
    assert [m.event for m in display if m.event.startswith("Emergency")] == [
        "EmergencyStarted",
        "EmergencyEnded",
    ]
    heard = json.dumps([m.data for m in display], ensure_ascii=False)
    for private in ("复杂件", "已回访", "午休", "case_number", "person_hash", BOOKING_CODE):
        assert private not in heard, private
    assert not [m for m in display if m.event.startswith(("FollowUp", "Signed"))]

    # The efficiency report of the day, as the manager downloads it.
    report_url = f"{api.url}/api/v1/reports/efficiency?from={DAY}&to={DAY}&format="
    async with api.session.get(report_url + "csv") as response:
        assert response.status == 200
        text = (await response.read()).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["section", "subject", "metric", "value"]
    figure = {(section, subject, metric): value for section, subject, metric, value in rows}
    assert figure["summary", "hall", "issued"] == "9"
    assert figure["summary", "hall", "served"] == "7"  # A001's intake and its pick-up both count
    assert figure["summary", "hall", "no_show"] == "1"
    assert figure["summary", "hall", "transfers"] == "1"
    assert figure["summary", "hall", "appointments_booked"] == "2"
    assert figure["summary", "hall", "appointments_missed"] == "1"
    assert figure["themes", "theme:social", "continued"] == "1"
    assert figure["ratings", "hall", "ratings"] == "5"
    assert figure["ratings", "hall", "mean_rating"] == "3.40"  # 5, 4, 1, 2, 5
    assert figure["windows", "window:12", "calls"] == "2"
    assert figure["windows", "window:12", "rated_1"] == "1"
    # Per clerk: the account signed in at the window when it called.
    assert figure["staff", "clerk:zhang.min", "calls"] == "2"  # C001, E001 at window 5
    assert figure["staff", "clerk:li.na", "calls"] == "1"  # C002, after she took window 5 over
    assert figure["staff", "clerk:(none)", "calls"] == "6"
    assert figure["priority", "group:priority", "called"] == "2"
    assert figure["priority", "group:regular", "called"] == "5"
    assert float(figure["priority", "group:priority", "median_wait_s"]) < float(
        figure["priority", "group:regular", "median_wait_s"]
    )
    assert figure["followups", "hall", "poor_ratings"] == "2"
    assert figure["followups", "hall", "callbacks_met"] == "1"
    assert figure["followups", "hall", "still_open"] == "1"
    assert figure["followups", "ticket:20261128-B001", "rectification_state"] == "按时 Met"
    # ... and as HTML with its charts, and as a PDF.
    async with api.session.get(report_url + "html") as response:
        assert response.status == 200
        html = await response.text()
    assert html.count("<svg") >= 3
    assert "效能评价报告" in html
    assert "差评整改" in html
    async with api.session.get(report_url + "pdf") as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"%PDF-")

    # The next morning: the day's personal data is purged, its actions stay in the audit trail.
    api.clock.advance(datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI).timestamp() - api.clock.now)
    await day.act("1", "open")

    async def purged() -> bool:
        trail = await api.get("/api/v1/audit?day=2026-11-29&limit=1000")
        return any(e["type"] == "PersonalDataPurged" for e in trail["events"])

    for _ in range(200):
        if await purged():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the day's personal data was not purged the next morning")
    yesterday = await api.get(f"/api/v1/audit?day={DAY}&limit=1000")
    kinds = [e["type"] for e in yesterday["events"]]
    for kind in ("TicketIssued", "TicketContinued", "TicketTransferred", "AppointmentMissed"):
        assert kind in kinds
    assert all(e["actor"] for e in yesterday["events"])
    took_over = [e["data"] for e in yesterday["events"] if e["type"] == "SignedIn"]
    assert [(d["account"], d["window"], d["took_over_from"]) for d in took_over] == [
        ("zhang.min", "5", None),
        ("li.na", "5", "zhang.min"),
    ]
    service = api.controller.service if api.controller is not None else None
    assert service is not None
    secrets = [
        service.person_hash_of(ELDER_ID).encode(),
        service.person_hash_of(BOOKED_ID).encode(),
        BOOKING_CODE.encode(),
        ELDER_ID.encode(),
        BOOKED_ID.encode(),
    ]
    stored = b"".join(
        path.read_bytes() for path in api.data_dir.glob(EVENT_LOG_FILE + "*") if path.is_file()
    )
    for secret in secrets:
        assert secret not in stored, secret
    # Today's booking made at the kiosk yesterday keeps its code until today is over.
    assert tomorrow_code.encode() in stored
