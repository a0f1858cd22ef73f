"""The window flow in device bytes: pad key -> call -> LED board -> rating pad -> one rating."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import pytest

from hall_controller.app import open_hall
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.hub import DeviceHub
from hall_controller.profiles import (
    DeviceConfig,
    DeviceProfile,
    load_profiles,
    validate_profile_text,
)
from hall_controller.protocols import callpad, led_board, rating_pad
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder
from hall_controller.protocols.led_board import BoardClear, BoardShow, LedBoardCodec
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.services import HallService
from hall_controller.settings import load_settings
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.memory import MemoryLink, memory_pair
from hall_controller.transports.serial import SerialParams

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
C = TypeVar("C")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
BUS = "socket://bus-a.invalid:4001"  # never dialled: the test hands out memory links


def device(
    device_id: str, profile: str, window: str | None, address: int, port: str = BUS
) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=PROFILES[profile],
        window=window,
        port=port,
        address=address,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        transfer_to="12",
    )


@dataclass
class Wires:
    """Memory cables the hub's serial buses plug into; the test holds the device ends."""

    chunk: int | None = 1
    delay_s: float = 0.0
    drop_every: int | None = None
    device_ends: dict[str, MemoryLink] = field(default_factory=dict)
    cables: dict[str, MemoryLink] = field(default_factory=dict)
    plugged: dict[str, bool] = field(default_factory=dict)

    def open_link(self, params: SerialParams) -> ByteLink:
        if not self.plugged.get(params.url, True):
            controller, device_end = memory_pair(name=params.url)
            controller.unplug()
            return controller
        controller, device_end = memory_pair(
            chunk=self.chunk, delay_s=self.delay_s, drop_every=self.drop_every, name=params.url
        )
        self.device_ends[params.url] = device_end
        self.cables[params.url] = controller
        return controller

    def unplug(self, url: str) -> None:
        self.plugged[url] = False
        self.cables[url].unplug()

    def replug(self, url: str) -> None:
        self.plugged[url] = True


class BusPeer:
    """The devices' side of one bus: decodes what the controller sent, per framing."""

    def __init__(self, link: MemoryLink) -> None:
        self.link = link
        self.frames: list[bytes] = []

    async def send(self, data: bytes) -> None:
        await self.link.open(1.0)
        await self.link.write(data, 1.0)

    async def drain(self, settle_s: float = 0.15, at_most_s: float = 2.0) -> bytes:
        """What the controller wrote until the line was quiet for settle_s (or at_most_s)."""
        await self.link.open(1.0)
        loop = asyncio.get_running_loop()
        end = loop.time() + at_most_s
        data = bytearray()
        while (left := end - loop.time()) > 0:
            try:
                data += await self.link.read(min(settle_s, left))
            except LinkTimeout:
                break
        return bytes(data)


def frames(framing_of: LedBoardCodec | CallPadCodec | RatingPadCodec, data: bytes) -> list[Frame]:
    return FrameDecoder(framing_of.framing).feed(data)


def led_shows(codec: LedBoardCodec, data: bytes, address: int) -> list[BoardShow | BoardClear]:
    out = []
    for frame in frames(codec, data):
        if frame.address == address:
            parsed = led_board.parse(codec, frame)
            if parsed is not None:
                out.append(parsed)
    return out


def codec_of(profile: DeviceProfile, kind: type[C]) -> C:
    codec = profile.codec
    assert isinstance(codec, kind)
    return codec


LED = codec_of(PROFILES["led-aa55-sum8"], LedBoardCodec)
PAD = codec_of(PROFILES["callpad-ff68"], CallPadCodec)
RATING = codec_of(PROFILES["rating-4key-aa"], RatingPadCodec)


@dataclass
class Rig:
    service: HallService
    hub: DeviceHub
    wires: Wires

    def peer(self, url: str = BUS) -> BusPeer:
        return BusPeer(self.wires.device_ends[url])

    async def settle(self, condition: Callable[[], bool], within_s: float = 3.0) -> None:
        """Wait (polling) until condition() holds; fail after within_s."""
        async with asyncio.timeout(within_s):
            while not condition():  # noqa: ASYNC110 - nothing to wait on but the state
                await asyncio.sleep(0.01)


T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou


@contextlib.asynccontextmanager
async def _rig(
    demo_config_path: Path, tmp_path: Path, wires: Wires, configs: list[DeviceConfig]
) -> AsyncIterator[Rig]:
    service, event_log = open_hall(load_settings(demo_config_path), tmp_path / "data", lambda: T0)
    event_log.start(asyncio.get_running_loop())
    hub = DeviceHub(
        configs,
        ServiceHallPort(service),
        data_dir=tmp_path,
        hall_id="gz-tianhe-demo",
        open_link=wires.open_link,
        backoff=lambda: Backoff(initial_s=0.05, cap_s=0.2),
    )
    service.watchers.append(hub.hall_changed)
    await hub.start()
    try:
        yield Rig(service, hub, wires)
    finally:
        await hub.close()
        await event_log.close()


WINDOW_ONE = [
    device("w1-pad", "callpad-ff68", "1", 1),
    device("w1-led", "led-aa55-sum8", "1", 11),
    device("w1-rating", "rating-4key-aa", "1", 21),
]


@pytest.fixture
async def rig(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    async with _rig(demo_config_path, tmp_path, Wires(chunk=1), WINDOW_ONE) as value:
        yield value


async def issue(service: HallService, theme: str = "social") -> str:
    reply = await service.issue_ticket(
        theme=theme, priority=None, id_number=None, channel="kiosk", actor="test"
    )
    assert reply.status == 201
    return str(reply.body["number"])


async def test_a_key_on_the_pad_calls_and_the_board_blinks_the_number(rig: Rig) -> None:
    await rig.settle(lambda: BUS in rig.wires.device_ends and rig.hub.devices["w1-led"].ready)
    peer = rig.peer()
    snapshot = await peer.drain()
    assert led_shows(LED, snapshot, 11) == [BoardClear()]  # the board is told it shows nothing
    number = await issue(rig.service)

    await peer.send(callpad.key_frame(PAD, 1, "call"))
    out = await peer.drain()

    assert led_shows(LED, out, 11) == [BoardShow(f"请{number}号", blink=True)]
    feedback = [callpad.parse_feedback(PAD, f) for f in frames(PAD, out) if f.address == 1]
    assert callpad.PadText(1, number) in feedback
    assert callpad.PadLed(1, True) in feedback
    ticket = rig.service.current().tickets[next(iter(rig.service.current().tickets))]
    assert ticket.window == "1"
    assert ticket.status.value == "called"


async def test_after_service_the_rating_pad_asks_and_only_one_key_counts(rig: Rig) -> None:
    await rig.settle(lambda: BUS in rig.wires.device_ends and rig.hub.devices["w1-pad"].ready)
    peer = rig.peer()
    await peer.drain()
    await issue(rig.service)
    for key in ("call", "start", "finish"):
        await peer.send(callpad.key_frame(PAD, 1, key))
        await peer.drain(0.1)
    hall = rig.service.current()
    ticket_id = next(iter(hall.tickets))
    assert hall.tickets[ticket_id].status.value == "finished"
    # The pad was asked after "finish": check by pressing a key now.
    await peer.send(rating_pad.key_frame(RATING, 21, 0x02))  # 满意 -> 4
    await rig.settle(lambda: rig.service.current().tickets[ticket_id].rating is not None)
    await peer.send(rating_pad.key_frame(RATING, 21, 0x04))  # a second press: 不满意
    out = await peer.drain(0.3)

    assert rig.service.current().tickets[ticket_id].rating == 4
    prompts = [rating_pad.parse_prompt(RATING, f) for f in frames(RATING, out) if f.address == 21]
    assert "thanks" in prompts
    audit = await rig.service.audit_view(day=None, ticket=None, after=0, limit=1000)
    ratings = [entry for entry in audit["events"] if entry["type"] == "TicketRated"]
    assert len(ratings) == 1
    assert ratings[0]["actor"] == "device:w1-rating"


BUS_B = "socket://bus-b.invalid:4001"
TWO_WINDOWS = [
    *WINDOW_ONE,
    device("w2-pad", "callpad-ff68", "2", 2, BUS_B),
    device("w2-led", "led-aa55-sum8", "2", 12, BUS_B),
]


@pytest.mark.parametrize(
    "wires",
    [Wires(chunk=1), Wires(chunk=3, delay_s=0.002), Wires(chunk=None)],
    ids=["byte-at-a-time", "slow-line", "whole-writes"],
)
async def test_frames_survive_any_split_of_the_line(
    demo_config_path: Path, tmp_path: Path, wires: Wires
) -> None:
    async with _rig(demo_config_path, tmp_path, wires, WINDOW_ONE) as rig:
        await rig.settle(lambda: rig.hub.devices["w1-pad"].ready)
        peer = rig.peer()
        await peer.drain()
        numbers = [await issue(rig.service) for _ in range(3)]
        shown = []
        for _ in numbers:
            # "call" while serving finishes the current ticket and calls the next one.
            await peer.send(callpad.key_frame(PAD, 1, "call"))
            shown += led_shows(LED, await peer.drain(), 11)
            await peer.send(callpad.key_frame(PAD, 1, "start"))
            shown += led_shows(LED, await peer.drain(), 11)
        assert shown == [
            show
            for n in numbers
            for show in (BoardShow(f"请{n}号", blink=True), BoardShow(f"请{n}号", blink=False))
        ]


async def test_an_unplugged_bus_is_reported_the_hall_goes_on_and_the_board_resyncs(
    demo_config_path: Path, tmp_path: Path
) -> None:
    async with _rig(demo_config_path, tmp_path, Wires(chunk=None), TWO_WINDOWS) as rig:
        await rig.settle(lambda: all(d.ready for d in rig.hub.devices.values()))
        first, second = await issue(rig.service), await issue(rig.service)
        rig.wires.unplug(BUS)
        await rig.settle(lambda: not rig.hub.devices["w1-led"].ready)
        health = {d["id"]: d for d in rig.hub.health()}
        assert health["w1-led"]["state"] == "lost"
        assert "unplugged" in health["w1-led"]["last_error"]

        # Window 2's pad, on the other bus, still calls; window 1 is called from the API.
        peer_b = rig.peer(BUS_B)
        await peer_b.drain()
        await peer_b.send(callpad.key_frame(PAD, 2, "call"))
        assert led_shows(LED, await peer_b.drain(), 12) == [BoardShow(f"请{first}号", True)]
        await rig.service.window_action("1", "open", actor="test")
        reply = await rig.service.call("1", ticket=None, actor="test")
        assert reply.status == 200

        rig.wires.replug(BUS)
        await rig.settle(lambda: rig.hub.devices["w1-led"].ready)
        snapshot = led_shows(LED, await rig.peer(BUS).drain(), 11)
        # The board missed the call while unplugged: the snapshot shows it (without blinking).
        assert snapshot == [BoardShow(f"请{second}号", blink=False)]
        health = {d["id"]: d for d in rig.hub.health()}
        assert health["w1-led"]["reconnects"] == 1


async def test_a_board_that_lost_frames_is_healed_by_its_refresh(
    demo_config_path: Path, tmp_path: Path
) -> None:
    text = (ROOT / "device_profiles" / "led-aa55-sum8.toml").read_text(encoding="utf-8")
    text = text.replace('refresh_every = "15s"', 'refresh_every = "200ms"')
    profile = validate_profile_text(text, "led-fast-refresh.toml")
    led = DeviceConfig("w1-led", profile, "1", BUS, 11, MappingProxyType({}), MappingProxyType({}))
    # Every write from the controller is lost until the line gets better.
    wires = Wires(chunk=None, drop_every=1)
    async with _rig(demo_config_path, tmp_path, wires, [WINDOW_ONE[0], led]) as rig:
        await rig.settle(lambda: rig.hub.devices["w1-led"].ready)
        number = await issue(rig.service)
        await rig.service.window_action("1", "open", actor="test")
        await rig.service.call("1", ticket=None, actor="test")
        peer = rig.peer()
        assert led_shows(LED, await peer.drain(0.3), 11) == []
        rig.wires.cables[BUS]._pair.drop_every = None
        shows = led_shows(LED, await peer.drain(0.5, at_most_s=1.0), 11)
        assert BoardShow(f"请{number}号", blink=False) in shows


async def test_a_silent_pad_is_lost_and_its_return_brings_a_snapshot(
    demo_config_path: Path, tmp_path: Path
) -> None:
    text = (ROOT / "device_profiles" / "callpad-ff68.toml").read_text(encoding="utf-8")
    text = text.replace('watchdog = "10s"', 'watchdog = "500ms"')
    text = text.replace('ping_every = "3s"', 'ping_every = "100ms"')
    pad = DeviceConfig(
        "w1-pad",
        validate_profile_text(text, "pad-fast.toml"),
        "1",
        BUS,
        1,
        MappingProxyType({}),
        MappingProxyType({}),
    )
    async with _rig(demo_config_path, tmp_path, Wires(chunk=None), [pad]) as rig:
        await rig.settle(lambda: rig.hub.devices["w1-pad"].ready)
        await rig.settle(lambda: not rig.hub.devices["w1-pad"].ready)  # no pongs: lost
        health = rig.hub.health()[0]
        assert health["state"] == "lost"
        assert "no answer" in health["last_error"]
        number = await issue(rig.service)
        await rig.service.window_action("1", "open", actor="test")
        await rig.service.call("1", ticket=None, actor="test")
        peer = rig.peer()
        await peer.drain()
        await peer.send(callpad.pong_frame(PAD, 1))
        await rig.settle(lambda: rig.hub.devices["w1-pad"].ready)
        feedback = [callpad.parse_feedback(PAD, f) for f in frames(PAD, await peer.drain())]
        assert callpad.PadText(1, number) in feedback  # the snapshot: the called number
        assert callpad.PadLed(1, True) in feedback
        assert rig.hub.health()[0]["reconnects"] == 1


async def test_the_board_is_told_before_the_pad_on_a_shared_line(rig: Rig) -> None:
    """The pad is configured first, but the applicant watches the board: its frame goes first."""
    await rig.settle(lambda: BUS in rig.wires.device_ends and rig.hub.devices["w1-led"].ready)
    peer = rig.peer()
    await rig.service.window_action("1", "open", actor="test")
    await peer.drain()
    number = await issue(rig.service)

    await peer.send(callpad.key_frame(PAD, 1, "call"))
    out = await peer.drain()

    def first_end(found: Callable[[bytes], bool]) -> int:
        return next(i for i in range(1, len(out) + 1) if found(out[:i]))

    board_end = first_end(lambda data: bool(led_shows(LED, data, 11)))
    pad_end = first_end(lambda data: any(f.address == 1 for f in frames(PAD, data)))
    assert led_shows(LED, out, 11) == [BoardShow(f"请{number}号", blink=True)]
    assert board_end < pad_end
