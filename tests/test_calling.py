"""The emergency, a window's next tickets and its rating requests, and the display's extras."""

from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from test_api import T0 as API_T0
from test_api import Api, Clock

from hall_controller.core.events import (
    EmergencyEnded,
    EmergencyStarted,
    Event,
    RatingRequested,
    event_data,
)
from hall_controller.core.hall import EmergencyInProgress
from hall_controller.core.snapshot import from_snapshot, to_snapshot
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.hub import DeviceHub
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols import rating_pad
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.settings import ConfigError, load_settings, validate_settings_text
from hall_controller.simulators.peers import RatingPadPeer
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.memory import MemoryLink, memory_pair
from hall_controller.transports.serial import SerialParams

from accounts import AUTH
from conftest import ROOT, demo_config_text
from core_fixtures import ACTOR, T0, issue, new_hall, open_windows, replay, round_trip
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

MANAGER = {"X-Actor": "manager:chen"}
CLERK_3 = {"X-Actor": "window:3"}


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(demo_config_path)  # with the tests' token account (conftest)
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(settings, tmp_path / "data", Clock(API_T0), session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


async def audit(api: Api, *types: str) -> list[tuple[str, str, dict[str, Any]]]:
    trail = await api.get("/api/v1/audit")
    return [(e["type"], e["actor"], e["data"]) for e in trail["events"] if e["type"] in types]


# ----------------------------------------------------------------- the emergency


async def test_an_emergency_stops_new_tickets_everywhere_until_it_ends(api: Api) -> None:
    quiet = await api.get("/api/v1/emergency")
    assert quiet == {"active": False, "message": None, "drill": False, "since": None, "by": None}
    waiting = await api.issue("social")

    declared = await api.post(
        "/api/v1/emergency", {"message": "请沿绿色通道有序离开大厅"}, headers=MANAGER
    )
    assert declared == {
        "active": True,
        "message": "请沿绿色通道有序离开大厅",
        "drill": False,
        "since": "2026-11-28T10:00:02+08:00",
        "by": "manager:chen",
    }
    assert await api.get("/api/v1/emergency") == declared
    # The public see what is happening, not which account declared it.
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(api.url + "/api/v1/emergency") as reply,
    ):
        assert await reply.json() == {**declared, "by": None}
    state = (await api.get("/api/v1/hall"))["state"]
    assert state["emergency"] == {
        "message": "请沿绿色通道有序离开大厅",
        "drill": False,
        "since": "2026-11-28T10:00:02+08:00",
    }

    # No new number from the API or from a kiosk, and each says why.
    refused = await api.error("POST", "/api/v1/tickets", 409, {"theme": "social"})
    assert refused["code"] == "emergency"
    assert "紧急状态" in refused["message"]
    assert "请沿绿色通道有序离开大厅" in refused["message"]
    assert "An emergency is in progress: no new tickets" in refused["message"]
    at_kiosk = await api.error("POST", "/api/v1/kiosks/k1/tickets", 409, {"theme": "police"})
    assert at_kiosk["code"] == "emergency"
    assert at_kiosk["message"] == refused["message"]
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == [waiting["number"]]

    # A second declaration is refused; the first one stands.
    again = await api.error("POST", "/api/v1/emergency", 409, {"message": "另一条"})
    assert again["code"] == "conflict"
    assert (await api.get("/api/v1/emergency"))["message"] == "请沿绿色通道有序离开大厅"

    ended = await api.request("DELETE", "/api/v1/emergency", headers=MANAGER)
    assert ended.status == 200
    assert ended.body == quiet
    assert (await api.get("/api/v1/hall"))["state"]["emergency"] is None
    assert (await api.issue("social"))["number"] == "A002"
    assert (await api.error("DELETE", "/api/v1/emergency", 409))["code"] == "conflict"

    assert await audit(api, "EmergencyStarted", "EmergencyEnded") == [
        (
            "EmergencyStarted",
            "manager:chen",
            {"message": "请沿绿色通道有序离开大厅", "drill": False},
        ),
        ("EmergencyEnded", "manager:chen", {}),
    ]


async def test_a_drill_says_so_and_a_retry_with_its_key_declares_it_once(api: Api) -> None:
    body = {"message": "消防演练，请听从工作人员指引", "drill": True}
    key = {**MANAGER, "Idempotency-Key": "drill-2026-11-28"}
    first = await api.post("/api/v1/emergency", body, headers=key)
    retry = await api.post("/api/v1/emergency", body, headers=key)
    assert retry == first
    assert first["drill"] is True
    refused = await api.error("POST", "/api/v1/tickets", 409, {"theme": "pickup"})
    assert refused["message"].startswith("紧急演练，暂停取号：消防演练")
    assert "An emergency drill is in progress" in refused["message"]
    assert len(await audit(api, "EmergencyStarted")) == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "message", "message is required"),
        ({"message": "   "}, "message", "message is required"),
        ({"message": "走" * 201}, "message", "message is longer than 200 characters"),
        ({"message": "疏散", "drill": "yes"}, "drill", "drill must be true or false"),
        ({"message": "疏散", "level": 3}, "level", 'unknown field "level"'),
    ],
)
async def test_an_emergency_needs_a_short_message(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    error = await api.error("POST", "/api/v1/emergency", 422, body)
    assert error["details"] == {"field": field}
    assert error["message"].startswith(message)
    assert (await api.get("/api/v1/emergency"))["active"] is False


async def test_an_emergency_and_a_rating_request_survive_a_restart(api: Api) -> None:
    await api.issue("police")
    for action in ("open", "call", "start"):
        await api.post(f"/api/v1/windows/3/{action}")
    await api.post("/api/v1/windows/3/rating-request", headers=CLERK_3)
    declared = await api.post("/api/v1/emergency", {"message": "暂停服务", "drill": True})

    await api.restart()

    assert await api.get("/api/v1/emergency") == declared
    assert (await api.error("POST", "/api/v1/tickets", 409, {"theme": "social"}))["code"] == (
        "emergency"
    )
    asked = await api.get("/api/v1/windows/3/rating-request")
    assert asked["ticket"]["number"] == "B001"
    await api.request("DELETE", "/api/v1/emergency")
    await api.restart()
    assert (await api.get("/api/v1/emergency"))["active"] is False
    assert (await api.issue("social"))["number"] == "A001"


def test_the_new_events_survive_the_log_and_a_replay_rebuilds_their_state() -> None:
    hall = new_hall()
    log: list[Event] = []
    log.extend(hall.open_window("g1", at=T0 - 600, actor=ACTOR))
    log.extend(hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor=ACTOR))
    log.extend(hall.call_next("g1", at=T0 + 10, actor=ACTOR))
    log.extend(hall.start("g1", at=T0 + 20, actor=ACTOR))
    log.extend(hall.request_rating("g1", at=T0 + 30, actor="clerk-1"))
    log.extend(hall.start_emergency("疏散", True, at=T0 + 40, actor="manager-1"))
    ours = [e for e in log if isinstance(e, EmergencyStarted | RatingRequested)]
    assert len(ours) == 2
    for event in ours:
        assert round_trip(event) == event
        assert round_trip(event, through_json=False) == event
    assert event_data(ours[0]) == {"window": "g1", "ticket_id": "20240304-A001"}
    assert event_data(ours[1]) == {"message": "疏散", "drill": True}

    rebuilt = replay(hall.config, log)
    declared = rebuilt.emergency
    assert declared == hall.emergency
    assert declared is not None
    assert (declared.message, declared.drill, declared.since) == ("疏散", True, T0 + 40)
    assert declared.by == "manager-1"
    assert rebuilt.rating_requests == {"g1": "20240304-A001"}
    with pytest.raises(EmergencyInProgress):
        issue(rebuilt, "A", T0 + 45)

    ended = hall.end_emergency(at=T0 + 50, actor="manager-1")
    assert isinstance(ended[0], EmergencyEnded)
    assert round_trip(ended[0]) == ended[0]
    rebuilt.apply(round_trip(ended[0]))
    assert rebuilt.emergency is None
    issue(rebuilt, "A", T0 + 60)  # tickets again


def test_a_snapshot_keeps_the_emergency_and_one_without_those_keys_still_loads() -> None:
    hall = new_hall()
    open_windows(hall, "g1")
    issue(hall, "A", T0)
    issue(hall, "B", T0)
    hall.call_next("g1", at=T0 + 1, actor=ACTOR)  # A001
    hall.no_show("g1", at=T0 + 2, actor=ACTOR)
    hall.call_next("g1", at=T0 + 3, actor=ACTOR)  # B001
    hall.finish("g1", at=T0 + 4, actor=ACTOR)
    hall.start_emergency("停电，请稍候", False, at=T0 + 5, actor="manager-1")
    finished = hall.rateable("g1")
    assert finished is not None
    assert finished.number == "B001"
    data = to_snapshot(hall)
    restored = from_snapshot(hall.config, hall.tz, data)
    assert restored.emergency == hall.emergency
    assert restored.missed == ["20240304-A001"]
    assert restored.rateable("g1") == finished
    with pytest.raises(EmergencyInProgress):
        issue(restored, "B", T0 + 6)

    added = ("emergency", "rating_requests", "last_called")
    older = {k: v for k, v in data.items() if k not in added}
    loaded = from_snapshot(hall.config, hall.tz, older)
    assert loaded.emergency is None
    assert loaded.rating_requests == {}
    assert loaded.missed == ["20240304-A001"]
    assert loaded.rateable("g1") == finished


# ----------------------------------------------------------------- the display's state


async def test_the_state_lists_the_latest_no_shows_newest_first_and_bounded(api: Api) -> None:
    assert (await api.get("/api/v1/hall"))["state"]["missed"] == []
    for _ in range(14):
        await api.issue("pickup")
    await api.post("/api/v1/windows/11/open")
    for _ in range(14):
        await api.post("/api/v1/windows/11/call")
        await api.post("/api/v1/windows/11/no-show")
    missed = (await api.get("/api/v1/hall"))["state"]["missed"]
    assert missed == [f"F{n:03d}" for n in range(14, 2, -1)]  # the latest twelve
    await api.restart()
    assert (await api.get("/api/v1/hall"))["state"]["missed"] == missed


async def test_the_display_settings_come_from_the_hall_config(api: Api) -> None:
    assert await api.get("/api/v1/display") == {
        "notice_zh": "请留意叫号，过号请到导服台咨询。办事请携带身份证原件。",
        "notice_en": "Please watch for your number. Missed your call? Ask at the information "
        "desk. Bring your ID card.",
        "voice": False,
        "voice_audio": True,  # the controller renders calls for screens
        "emergency_repeat_s": 60.0,  # [announcer] emergency_repeat, for displays that speak
    }


def test_the_display_section_is_checked(tmp_path: Path) -> None:
    text = (
        demo_config_text()
        .replace("voice = false", 'voice = "yes"\nnotice_colour = "red"')
        .replace('notice_zh = "请留意', 'notice_zh = "' + "很长" * 101 + "请留意")
    )
    with pytest.raises(ConfigError) as raised:
        validate_settings_text(text, "hall.toml")
    problems = str(raised.value)
    assert "display.voice" in problems
    assert "display.notice_zh" in problems
    assert "at most 200 characters" in problems
    assert "notice_colour" in problems
    without = "\n".join(
        line
        for line in demo_config_text().splitlines()
        if not line.startswith(("notice_", "voice ="))
    )
    plain = validate_settings_text(without, "hall.toml").hall.display
    assert (plain.notice_zh, plain.notice_en, plain.voice) == (None, None, False)


class FakeVoice:
    """The edge box's voice as the composition root would hand it over: a WAV per call."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def call_wav(self, number: str, window: str) -> bytes | None:
        self.asked.append((number, window))
        return silent_wav()

    async def emergency_wav(self, message: str, drill: bool) -> bytes | None:
        self.asked.append((message, "drill" if drill else "emergency"))
        return silent_wav()


def silent_wav(seconds: float = 0.3) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(b"\x00\x00" * int(22050 * seconds))
    return out.getvalue()


async def test_a_call_is_served_as_audio_only_for_a_call_that_was_made(api: Api) -> None:
    assert api.controller is not None
    await api.issue("police")
    await api.post("/api/v1/windows/3/open")
    await api.post("/api/v1/windows/3/call")
    url = api.url + "/api/v1/voice/call.wav?ticket=B001&window=3"
    async with api.session.get(url) as reply:
        assert reply.status == 200  # the controller's own voice: espeak-ng, as the speakers
        assert reply.content_type == "audio/wav"
        audio = await reply.read()
        assert audio[:4] == b"RIFF"
        assert audio[8:12] == b"WAVE"
    api.controller.service.voice = None
    async with api.session.get(url) as reply:
        assert reply.status == 404  # no voice for screens: the browser speaks
        assert (await reply.json())["error"]["code"] == "not_found"

    voice = FakeVoice()
    api.controller.service.voice = voice
    assert (await api.get("/api/v1/display"))["voice_audio"] is True
    async with api.session.get(url) as reply:
        assert reply.status == 200
        assert reply.content_type == "audio/wav"
        assert await reply.read() == silent_wav()
    assert voice.asked == [("B001", "3")]

    # Only the calls that were made: not another window, not a waiting ticket.
    await api.issue("social")
    for query in ("ticket=B001&window=4", "ticket=A001&window=3", "ticket=Z999&window=3"):
        async with api.session.get(api.url + "/api/v1/voice/call.wav?" + query) as reply:
            assert reply.status == 404, query
    async with api.session.get(api.url + "/api/v1/voice/call.wav?ticket=B001") as reply:
        assert reply.status == 422
    assert voice.asked == [("B001", "3")]


async def test_only_a_recent_call_or_the_windows_latest_is_rendered(api: Api) -> None:
    """The address is public: walking it through the day's calls must not keep espeak-ng (and
    the lock the hall's speakers share) busy all day, so an old call is not rendered again."""
    assert api.controller is not None
    voice = FakeVoice()
    api.controller.service.voice = voice
    await api.issue("police")
    await api.issue("police")
    await api.post("/api/v1/windows/3/open")
    await api.post("/api/v1/windows/3/call")  # B001
    await api.post("/api/v1/windows/3/finish")
    await api.post("/api/v1/windows/3/call")  # B002

    def url(number: str) -> str:
        return f"{api.url}/api/v1/voice/call.wav?ticket={number}&window=3"

    async with api.session.get(url("B001")) as reply:
        assert reply.status == 200  # a call of a moment ago, still in a display's backlog
    api.clock.advance(11 * 60)
    async with api.session.get(url("B001")) as reply:
        assert reply.status == 404
    async with api.session.get(url("B002")) as reply:
        assert reply.status == 200  # the window's latest call: a recall says it again
    assert voice.asked == [("B001", "3"), ("B002", "3")]


# ----------------------------------------------------------------- a window's next tickets


async def test_the_next_tickets_are_the_ones_the_window_then_calls_in_order(api: Api) -> None:
    # Window 1 serves social welfare first, then public security; three priority tickets in
    # a row meet the limit of two priority calls in a row.
    for theme, priority in [
        ("social", None),
        ("social", "elderly"),
        ("police", None),
        ("social", "disabled"),
        ("social", "pregnant"),
        ("social", None),
        ("police", "elderly"),
    ]:
        await api.issue(theme, **({"priority": priority} if priority else {}))
    await api.post("/api/v1/windows/1/open")
    before = (await api.get("/healthz"))["version"]
    forecast = await api.get("/api/v1/windows/1/next?count=7")
    assert (await api.get("/healthz"))["version"] == before  # a forecast changes nothing
    assert forecast["window"] == "1"
    assert forecast["status"] == "open"
    predicted = [(t["number"], t["rule"]) for t in forecast["tickets"]]
    assert predicted == [
        ("A002", "priority"),
        ("A003", "priority"),
        ("A001", "priority_limit"),  # two priority calls in a row: a regular ticket's turn
        ("A004", "longest_wait"),  # 15 min head start + 5 min preference beat A005's wait
        ("B002", "priority"),
        ("A005", "preference"),  # the window's own theme before B001, who came earlier
        ("B001", "longest_wait"),
    ]
    first = forecast["tickets"][0]
    assert first["theme_name_zh"] == "社会民生"
    assert first["priority"] == "elderly"
    assert first["explanation"] == "priority group goes first"
    assert (await api.get("/api/v1/windows/1/next"))["tickets"] == forecast["tickets"][:5]

    called = []
    for _ in predicted:
        call = await api.post("/api/v1/windows/1/call")
        called.append((call["ticket"]["number"], call["reason"]["rule"]))
        await api.post("/api/v1/windows/1/finish")
    assert called == predicted
    assert (await api.get("/api/v1/windows/1/next"))["tickets"] == []


async def test_the_next_tickets_follow_what_other_windows_take(api: Api) -> None:
    for _ in range(3):
        await api.issue("police")
    await api.issue("social")
    three = await api.get("/api/v1/windows/3/next?count=3")
    assert [t["number"] for t in three["tickets"]] == ["B001", "B002", "B003"]
    await api.post("/api/v1/windows/4/open")
    await api.post("/api/v1/windows/4/call")  # window 4 takes B001
    three = await api.get("/api/v1/windows/3/next?count=3")
    assert [t["number"] for t in three["tickets"]] == ["B002", "B003", "A001"]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("count=0", 422, "count"),
        ("count=21", 422, "count"),
        ("count=two", 422, "count"),
        ("cuont=2", 422, "cuont"),
    ],
)
async def test_next_tickets_are_asked_for_plainly(
    api: Api, query: str, status: int, field: str
) -> None:
    error = await api.error("GET", f"/api/v1/windows/1/next?{query}", status)
    assert error["details"] == {"field": field}


async def test_next_tickets_of_an_unknown_window(api: Api) -> None:
    error = await api.error("GET", "/api/v1/windows/13/next", 404)
    assert error["message"].startswith('no window "13"')


# ----------------------------------------------------------------- rating requests


async def test_a_rating_is_requested_for_the_ticket_served_or_just_finished(api: Api) -> None:
    nothing = await api.error("POST", "/api/v1/windows/3/rating-request", 409)
    assert "has no service to rate" in nothing["message"]
    assert await api.get("/api/v1/windows/3/rating-request") == {
        "window": "3",
        "ticket": None,
        "rateable": None,
    }

    await api.issue("police")
    await api.issue("police")
    await api.post("/api/v1/windows/3/open")
    await api.post("/api/v1/windows/3/call")
    called = await api.error("POST", "/api/v1/windows/3/rating-request", 409)
    assert called["message"].startswith("ticket B001 is called, not served yet")
    assert (await api.get("/api/v1/windows/3/rating-request"))["rateable"] is None

    await api.post("/api/v1/windows/3/start")
    b001 = (await api.get("/api/v1/tickets/B001"))["id"]
    serving = {"id": b001, "number": "B001", "status": "serving"}
    assert (await api.get("/api/v1/windows/3/rating-request"))["rateable"] == serving
    asked = await api.post("/api/v1/windows/3/rating-request", headers=CLERK_3)
    assert asked == {"window": "3", "ticket": serving, "rateable": serving}
    assert await api.get("/api/v1/windows/3/rating-request") == asked
    await api.post(f"/api/v1/tickets/{b001}/rating", {"score": 5})
    rated_view = await api.get("/api/v1/windows/3/rating-request")
    assert (rated_view["ticket"], rated_view["rateable"]) == (None, None)
    rated = await api.error("POST", "/api/v1/windows/3/rating-request", 409)
    assert rated["message"] == "ticket B001 was already rated"

    # Finished without a rating: asked for afterwards; the next call ends the request.
    await api.post("/api/v1/windows/3/call")
    await api.post("/api/v1/windows/3/finish")
    finished = (await api.get("/api/v1/windows/3/rating-request"))["rateable"]
    assert (finished["number"], finished["status"]) == ("B002", "finished")
    after = await api.post("/api/v1/windows/3/rating-request", headers=CLERK_3)
    assert after["ticket"]["number"] == "B002"
    assert after["ticket"]["status"] == "finished"
    await api.issue("police")
    await api.post("/api/v1/windows/3/call")
    assert (await api.get("/api/v1/windows/3/rating-request"))["ticket"] is None
    # A no-show after that leaves nothing to rate, not the ticket finished before it.
    await api.post("/api/v1/windows/3/no-show")
    gone = await api.error("POST", "/api/v1/windows/3/rating-request", 409)
    assert "has no service to rate" in gone["message"]
    assert (await api.get("/api/v1/windows/3/rating-request"))["rateable"] is None

    assert await audit(api, "RatingRequested") == [
        ("RatingRequested", "window:3", {"window": "3", "ticket_id": b001}),
        (
            "RatingRequested",
            "window:3",
            {"window": "3", "ticket_id": (await api.get("/api/v1/tickets/B002"))["id"]},
        ),
    ]
    assert (await api.error("POST", "/api/v1/windows/99/rating-request", 404))["code"] == (
        "not_found"
    )


# ----------------------------------------------------------------- the rating pad hears it

PROFILES = load_profiles(ROOT / "device_profiles")
BUS = "socket://row-a.invalid:4001"  # never dialled: the test hands the bus a memory cable
PAD_ADDRESS = 21


class Cable:
    """The memory cable the hub's bus plugs into, splitting every write into single bytes."""

    def __init__(self) -> None:
        self.device_end: MemoryLink | None = None
        self.plugged = asyncio.Event()

    def open_link(self, params: SerialParams) -> ByteLink:
        controller, self.device_end = memory_pair(chunk=1, delay_s=0.001, name=params.url)
        self.plugged.set()
        return controller


class PadOnTheLine:
    """The simulated rating pad on the far end: hears the bytes, answers pings, sends keys."""

    def __init__(self, cable: Cable, codec: RatingPadCodec) -> None:
        self.cable = cable
        self.peer = RatingPadPeer(codec, PAD_ADDRESS)
        self.heard = bytearray()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="rating-pad-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def press(self, score: int) -> None:
        link = self.cable.device_end
        assert link is not None
        await link.write(self.peer.rate(score), 1.0)

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
                self.heard += data
                answer = self.peer.feed(data, loop.time())
            if answer:
                await link.write(answer, 1.0)


async def test_a_rating_request_reaches_the_windows_rating_pad_as_its_ask_frame(api: Api) -> None:
    assert api.controller is not None
    service = api.controller.service
    profile = PROFILES["rating-4key-aa"]
    codec = profile.codec
    assert isinstance(codec, RatingPadCodec)
    cable = Cable()
    hub = DeviceHub(
        [
            DeviceConfig(
                id="w3-rating",
                profile=profile,
                window="3",
                port=BUS,
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
        await eventually(lambda: hub.devices["w3-rating"].ready, "the rating pad answers its pings")
        ticket = await api.issue("police")
        for action in ("open", "call", "start"):
            await api.post(f"/api/v1/windows/3/{action}")
        ask = rating_pad.ask(codec, PAD_ADDRESS)
        assert ask not in pad.heard  # serving, nobody asked yet
        assert pad.peer.view()["prompt"] == "idle"

        await api.post("/api/v1/windows/3/rating-request", headers=CLERK_3)
        await eventually(lambda: pad.peer.prompt == "asking", "the pad shows its rating prompt")
        assert ask in pad.heard

        await pad.press(4)
        await eventually(lambda: pad.peer.prompt == "thanks", "the pad thanks the applicant")
        rated = await api.get(f"/api/v1/tickets/{ticket['id']}")
        assert rated["rating"] == 4
        assert (await api.get("/api/v1/windows/3/rating-request"))["ticket"] is None
    finally:
        service.watchers.remove(hub.hall_changed)
        await hub.close()
        await pad.stop()
