"""Emergency mode on the hall's devices, in their real bytes: every speaker says the message at
once and again, calls are held back meanwhile, window boards show the message page by page and
then what they showed before, a dead speaker stops no other, and a restart resumes it all."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from types import MappingProxyType

import pytest
from mqtt_broker import Mosquitto

from hall_controller.app import open_hall
from hall_controller.device_port import ServiceHallPort
from hall_controller.devices.announcer import (
    Announcer,
    EmergencySpeech,
    TtsAnnouncer,
    VoiceModuleAnnouncer,
    Waiting,
)
from hall_controller.devices.base import DeviceContext
from hall_controller.devices.health import DeviceState
from hall_controller.devices.hub import DeviceHub
from hall_controller.devices.model import Announcement, EmergencyNotice
from hall_controller.devices.serial_devices import FramedLedDisplay
from hall_controller.profiles import (
    AnnouncerSettings,
    DeviceConfig,
    DeviceProfile,
    VoiceModuleSettings,
    load_profiles,
)
from hall_controller.protocols import emergency, led_board, voice_module
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.numeric_display import NumericDisplayMap
from hall_controller.services import HallService
from hall_controller.settings import ConfigError, load_settings, validate_settings_text
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.mqtt_peers import Broker, MqttWindowDisplayPeer, PeerModel
from hall_controller.simulators.peers import LedBoardPeer, ModbusDisplayPeer
from hall_controller.simulators.voice_module import SimulatedVoiceModule
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.memory import MemoryLink, memory_pair
from hall_controller.transports.mqtt import MqttLink
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink, SerialParams

from conftest import demo_config_text
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou
HALL_ID = "gz-tianhe-demo"
MANAGER = "manager:wang.li"
CLERK = "window:1"
MESSAGE = "消防演练开始，请听从工作人员指挥，从最近的安全出口有序离开大厅。"
REPEAT_S = 0.4
SPEAKERS = ("speaker-a", "speaker-b")
SETTINGS = AnnouncerSettings(languages=("zh", "en"), chime=False, emergency_repeat_s=REPEAT_S)


def codec_of(profile: str) -> LedBoardCodec:
    codec = PROFILES[profile].codec
    assert isinstance(codec, LedBoardCodec)
    return codec


LED_8 = codec_of("led-aa55-sum8")  # 8 characters, GB2312
LED_16 = codec_of("led-7e-crc16")  # 16 characters, GBK


def numeric_map() -> NumericDisplayMap:
    codec = PROFILES["modbus-led485-numeric"].codec
    registers = getattr(codec, "registers", None)
    assert isinstance(registers, NumericDisplayMap)
    return registers


def module_profile() -> DeviceProfile:
    """The SYN6288 profile with answers expected quickly (the simulated module is fast)."""
    base = PROFILES["syn6288-voice-module"]
    assert isinstance(base.codec, VoiceModuleSettings)
    codec = replace(base.codec, poll_every_s=0.05, answer_timeout_s=0.3, busy_timeout_s=5.0)
    return replace(base, codec=codec, timeouts=replace(base.timeouts, ping_every_s=0.0))


def device(
    device_id: str, profile: DeviceProfile, window: str | None, port: str, address: int = 0
) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        profile=profile,
        window=window,
        port=port,
        address=address,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
    )


@dataclass
class Line:
    """One RS-485 line in memory: the controller's end and the boards' simulated bus."""

    controller: MemoryLink
    bus: SimulatedBus


@dataclass
class Floor:
    """The hall's simulated devices; they outlive a controller restart, as real ones do."""

    tmp: Path
    lines: dict[str, Line] = field(default_factory=dict)
    modules: dict[str, SimulatedVoiceModule] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)  # module -> its PTY's path
    ptys: list[PtyPair] = field(default_factory=list)

    async def line(self, url: str, peers: list[LedBoardPeer | ModbusDisplayPeer]) -> None:
        controller, device_end = memory_pair(chunk=7, name=url)
        bus = SimulatedBus(device_end, peers, name=url)
        await bus.start()
        self.lines[url] = Line(controller, bus)

    async def module(self, name: str) -> SimulatedVoiceModule:
        pair = PtyPair(self.tmp / f"voice-{name}", name=name).open()
        self.ptys.append(pair)
        codec = module_profile().codec
        assert isinstance(codec, VoiceModuleSettings)
        simulated = SimulatedVoiceModule(pair.link, codec.codec, seconds_per_character=0.004)
        await simulated.start()
        self.modules[name] = simulated
        self.ports[name] = str(pair.link_path)
        return simulated

    def open_link(self, params: SerialParams) -> ByteLink:
        line = self.lines.get(params.url)
        return line.controller if line is not None else SerialLink(params)

    async def close(self) -> None:
        for line in self.lines.values():
            await line.bus.stop()
        for module in self.modules.values():
            await module.stop()
        for pair in self.ptys:
            pair.close()


BOARDS = "socket://row-a.invalid:4001"  # never dialled: a memory line
NUMERIC = "socket://row-b.invalid:4001"


@dataclass
class Hall:
    """A running controller's service and devices over the floor's simulated devices."""

    service: HallService
    hub: DeviceHub
    floor: Floor

    def announcer(self, name: str) -> Announcer:
        found = self.hub.devices[name]
        assert isinstance(found, Announcer)
        return found


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def controller(
    floor: Floor,
    config: Path,
    data: Path,
    configs: list[DeviceConfig],
    *,
    clock: Callable[[], float] = lambda: T0,
    mqtt: MqttLink | None = None,
) -> AsyncIterator[Hall]:
    service, event_log = open_hall(load_settings(config), data, clock)
    event_log.start(asyncio.get_running_loop())
    hub = DeviceHub(
        configs,
        ServiceHallPort(service),
        data_dir=data,
        hall_id=HALL_ID,
        mqtt=mqtt,
        announcer=SETTINGS,
        clock=clock,
        open_link=floor.open_link,
        backoff=lambda: Backoff(initial_s=0.05, cap_s=0.2, jitter=0.0),
        page_every_s=0.1,
    )
    service.watchers.append(hub.hall_changed)
    await hub.start()
    try:
        yield Hall(service, hub, floor)
    finally:
        await hub.close()
        await event_log.close()


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    made = Floor(tmp_path)
    try:
        yield made
    finally:
        await made.close()


async def speaking_floor(floor: Floor) -> list[DeviceConfig]:
    """Two speaker zones (voice modules on PTYs) and two boards of different widths."""
    board_8, board_16 = LedBoardPeer(LED_8, 11), LedBoardPeer(LED_16, 12)
    await floor.line(BOARDS, [board_8, board_16])
    for name in ("speaker-a", "speaker-b"):
        await floor.module(name)
    return [
        device("w1-board", PROFILES["led-aa55-sum8"], "1", BOARDS, 11),
        device("w2-board", PROFILES["led-7e-crc16"], "2", BOARDS, 12),
        device("speaker-a", module_profile(), None, floor.ports["speaker-a"]),
        device("speaker-b", module_profile(), None, floor.ports["speaker-b"]),
    ]


def boards(floor: Floor) -> tuple[LedBoardPeer, LedBoardPeer]:
    peers = floor.lines[BOARDS].bus.peers
    first, second = peers[0], peers[1]
    assert isinstance(first, LedBoardPeer)
    assert isinstance(second, LedBoardPeer)
    return first, second


def heard(floor: Floor, name: str) -> list[str]:
    return floor.modules[name].peer.texts


def times_said(floor: Floor, name: str, text: str) -> int:
    return sum(1 for said in heard(floor, name) if said == text)


async def issue(service: HallService, theme: str = "social") -> str:
    reply = await service.issue_ticket(
        theme=theme, priority=None, id_number=None, channel="kiosk", actor="kiosk:k1"
    )
    assert reply.status == 201
    return str(reply.body["number"])


async def all_ready(hall: Hall, *names: str) -> None:
    await eventually(lambda: all(hall.hub.devices[n].ready for n in names), f"{names} are ready")


def call_text(number: str, window: str) -> str:
    return f"请 {' '.join(number)} 号 到 {window} 号窗口 办理"


# --- speakers -------------------------------------------------------------------------------


async def test_every_speaker_says_a_drill_at_once_and_again_and_no_call_until_it_ends(
    floor: Floor, demo_config_path: Path, tmp_path: Path
) -> None:
    configs = await speaking_floor(floor)
    async with controller(floor, demo_config_path, tmp_path / "data", configs) as hall:
        await all_ready(hall, "speaker-a", "speaker-b")
        first = await issue(hall.service)
        await issue(hall.service)
        await hall.service.window_action("1", "open", actor=CLERK)

        await hall.service.start_emergency(MESSAGE, True, actor=MANAGER)
        drill = f"演练：{MESSAGE}"  # in Chinese only: the message's own language
        await eventually(
            lambda: all(times_said(floor, n, drill) >= 2 for n in SPEAKERS), "every speaker repeats"
        )

        # A call meanwhile is not spoken: the message has the speakers.
        await hall.service.call("1", ticket=None, actor=CLERK)
        await eventually(
            lambda: all(hall.announcer(n).counts.held == 1 for n in ("speaker-a", "speaker-b")),
            "the call is held back by every speaker",
        )
        said_before = times_said(floor, "speaker-a", drill)
        await eventually(lambda: times_said(floor, "speaker-a", drill) > said_before, "again")
        for name in ("speaker-a", "speaker-b"):
            assert set(heard(floor, name)) == {drill}, "nothing but the message is spoken"

        await hall.service.end_emergency(actor=MANAGER)
        await hall.service.window_action("1", "recall", actor=CLERK)
        recall = call_text(first, "1")
        await eventually(lambda: all(recall in heard(floor, n) for n in SPEAKERS), "calls again")
        said = {name: times_said(floor, name, drill) for name in ("speaker-a", "speaker-b")}
        await asyncio.sleep(3 * REPEAT_S)
        assert {name: times_said(floor, name, drill) for name in said} == said, "no repeat"
        for name in ("speaker-a", "speaker-b"):
            assert floor.modules[name].peer.cut_off == 0
            assert hall.announcer(name).emergency is None


async def test_a_dead_speaker_is_counted_and_the_other_zones_hear_the_message(
    floor: Floor, demo_config_path: Path, tmp_path: Path
) -> None:
    configs = await speaking_floor(floor)
    async with controller(floor, demo_config_path, tmp_path / "data", configs) as hall:
        await all_ready(hall, "speaker-a", "speaker-b")
        floor.modules["speaker-b"].silent = True  # its amplifier's fuse blew
        await hall.service.start_emergency("请立即离开大厅", False, actor=MANAGER)
        said = "紧急通知：请立即离开大厅"
        dead = hall.announcer("speaker-b")
        await eventually(lambda: dead.health.state is DeviceState.LOST, "speaker-b is lost")
        await eventually(lambda: times_said(floor, "speaker-a", said) >= 3, "speaker-a repeats")
        await eventually(lambda: dead.counts.failed >= 2, "each repeat at speaker-b fails")
        assert dead.health.errors >= 2
        assert said not in heard(floor, "speaker-b")

        floor.modules["speaker-b"].silent = False  # repaired: the next repeat is heard there
        await eventually(lambda: said in heard(floor, "speaker-b"), "speaker-b says it again")


async def test_a_restart_during_an_emergency_resumes_the_message_on_speakers_and_boards(
    floor: Floor, demo_config_path: Path, tmp_path: Path
) -> None:
    configs = await speaking_floor(floor)
    data = tmp_path / "data"
    board, _ = boards(floor)
    async with controller(floor, demo_config_path, data, configs) as hall:
        await all_ready(hall, "speaker-a", "w1-board")
        number = await issue(hall.service)
        await hall.service.window_action("1", "open", actor=CLERK)
        await hall.service.call("1", ticket=None, actor=CLERK)
        await eventually(lambda: board.text == f"请{number}号", "the board shows the call")
        await hall.service.start_emergency("请立即离开大厅", False, actor=MANAGER)
        await eventually(lambda: board.text.startswith("紧急通知"), "the board shows it")

    said = "紧急通知：请立即离开大厅"
    before = times_said(floor, "speaker-a", said)
    shown = len(board.history)
    async with controller(floor, demo_config_path, data, configs) as hall:
        assert hall.hub.emergency is not None
        await eventually(lambda: times_said(floor, "speaker-a", said) > before, "said again")
        await eventually(
            lambda: any(s.text == "紧急通知：" for s in list(board.history)[shown:]),
            "the board shows it again",
        )
        await eventually(lambda: hall.announcer("speaker-a").counts.emergency >= 2, "repeated")
        await hall.service.end_emergency(actor=MANAGER)
        await eventually(lambda: board.text == f"请{number}号", "the call is shown again")


async def test_a_new_business_day_ends_the_message_on_the_devices_without_a_hall_event(
    floor: Floor, demo_config_path: Path, tmp_path: Path
) -> None:
    configs = await speaking_floor(floor)
    clock = Clock()
    async with controller(floor, demo_config_path, tmp_path / "data", configs, clock=clock) as hall:
        await all_ready(hall, "speaker-a", "w1-board")
        board, _ = boards(floor)
        await hall.service.start_emergency("请立即离开大厅", False, actor=MANAGER)
        await eventually(lambda: board.text.startswith("紧急通知"), "the board shows it")
        clock.now = T0 + 86400  # the next morning: a new business day, no emergency in it
        await eventually(lambda: hall.hub.emergency is None, "the devices follow the new day")
        await eventually(lambda: board.text == "", "the board is blank: its window is closed")
        assert hall.announcer("speaker-a").emergency is None


# --- window displays ------------------------------------------------------------------------


async def test_boards_show_the_message_page_by_page_and_then_what_they_showed_before(
    floor: Floor, demo_config_path: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    board_8, board_16 = LedBoardPeer(LED_8, 11), LedBoardPeer(LED_16, 12)
    await floor.line(BOARDS, [board_8, board_16])
    numeric = ModbusDisplayPeer(numeric_map(), 5)
    await floor.line(NUMERIC, [numeric])
    screen = MqttWindowDisplayPeer(
        "w4-display",
        Broker(HALL_ID, mosquitto.host, mosquitto.port),
        PeerModel(text_width=16),
    )
    configs = [
        device("w1-board", PROFILES["led-aa55-sum8"], "1", BOARDS, 11),
        device("w2-board", PROFILES["led-7e-crc16"], "2", BOARDS, 12),
        device("w3-display", PROFILES["modbus-led485-numeric"], "3", NUMERIC, 5),
        DeviceConfig(
            "w4-display",
            PROFILES["mqtt-window-display"],
            "4",
            None,
            0,
            MappingProxyType({}),
            MappingProxyType({}),
        ),
    ]
    link = MqttLink(
        mosquitto.host, mosquitto.port, "hall-controller-emergency", persistent_session=False
    )
    await link.start(5.0)
    await screen.start(5.0)
    try:
        async with controller(
            floor, demo_config_path, tmp_path / "data", configs, mqtt=link
        ) as hall:
            await all_ready(hall, "w1-board", "w2-board", "w3-display", "w4-display")
            service = hall.service
            first = await issue(service)
            second = await issue(service)
            third = await issue(service)
            for window in ("1", "2", "3", "4"):
                await service.window_action(window, "open", actor=CLERK)
            await service.call("1", ticket=None, actor=CLERK)
            await service.window_action("2", "pause", actor=CLERK, reason="会议")
            await service.call("3", ticket=None, actor=CLERK)
            await eventually(lambda: board_8.text == f"请{first}号", "board 1 shows its call")
            await eventually(lambda: board_16.text == "暂停服务 请稍候", "board 2 is paused")
            await eventually(lambda: numeric.number == int(second[1:]), "display 3's call")
            await eventually(lambda: screen.text == "", "display 4 is blank")

            await service.start_emergency(MESSAGE, False, actor=MANAGER)
            text = f"紧急通知：{MESSAGE}"
            narrow = emergency.split(text, lambda page: led_board.fits(LED_8, page))
            wide = emergency.split(text, lambda page: led_board.fits(LED_16, page))
            screen_pages = emergency.split(text, lambda page: len(page) <= 16)
            assert len(narrow) > len(wide) > 1
            assert "".join(narrow) == "".join(wide) == text.replace(" ", "")
            seen: dict[str, set[str]] = {"8": set(), "16": set(), "mqtt": set()}

            def every_page_shown() -> bool:
                seen["8"].add(board_8.text)
                seen["16"].add(board_16.text)
                seen["mqtt"].add(screen.text)
                return (
                    set(narrow) <= seen["8"]
                    and set(wide) <= seen["16"]
                    and set(screen_pages) <= seen["mqtt"]
                )

            await eventually(every_page_shown, "every board shows every page of the message")
            await eventually(lambda: numeric.number == 0, "the numeric display is blank")
            # A call meanwhile changes nothing on the boards: the message keeps them.
            shown = len(board_8.history)
            await service.call("4", ticket=None, actor=CLERK)
            await service.window_action("1", "recall", actor=CLERK)
            screen_tickets: set[str] = set()

            def pages_turn_on() -> bool:
                screen_tickets.add(screen.ticket)
                return len(board_8.history) > shown + 2

            await eventually(pages_turn_on, "pages turn on")
            assert {s.text for s in list(board_8.history)[shown:]} <= set(narrow)
            assert screen_tickets == {""}
            assert not any(s.blink for s in list(board_8.history)[shown:])

            await service.end_emergency(actor=MANAGER)
            await eventually(lambda: board_8.text == f"请{first}号", "board 1: its call again")
            await eventually(lambda: board_16.text == "暂停服务 请稍候", "board 2: paused again")
            await eventually(lambda: numeric.number == int(second[1:]), "display 3: its call")
            await eventually(lambda: screen.ticket == third, "display 4: the call made meanwhile")
            settled = len(board_8.history)
            await asyncio.sleep(0.5)  # five page turns, had the pages not stopped
            assert {s.text for s in list(board_8.history)[settled:]} <= {f"请{first}号"}
    finally:
        await screen.stop(5.0)
        await link.stop(5.0)


async def test_a_technicians_test_fire_during_an_emergency_returns_to_the_message(
    floor: Floor, demo_config_path: Path, tmp_path: Path
) -> None:
    board = LedBoardPeer(LED_16, 12)
    await floor.line(BOARDS, [board])
    configs = [device("w2-board", PROFILES["led-7e-crc16"], "2", BOARDS, 12)]
    async with controller(floor, demo_config_path, tmp_path / "data", configs) as hall:
        await all_ready(hall, "w2-board")
        await hall.service.start_emergency("请立即离开大厅", False, actor=MANAGER)
        await eventually(lambda: board.text == "紧急通知：请立即离开大厅", "the message")
        shown = hall.hub.devices["w2-board"]
        assert isinstance(shown, FramedLedDisplay)
        shown.flash("测试 TEST", 0.2)
        await eventually(lambda: board.text == "测试 TEST", "the test text")
        await eventually(lambda: board.text == "紧急通知：请立即离开大厅", "the message again")
        recent = hall.hub.health()[0]["recent_out"]
        assert any("emergency 1/1" in (frame["note"] or "") for frame in recent)


# --- one announcer's queue ------------------------------------------------------------------


class GatedAnnouncer(Announcer):
    """An announcer whose announcements each end when the test lets one end."""

    def __init__(self, settings: AnnouncerSettings, clock: Clock) -> None:
        config = device("speaker-hall", PROFILES["espeak-speaker"], None, "")
        context = DeviceContext(
            clock=clock, submit=lambda item, dev: None, state_changed=lambda dev: None
        )
        super().__init__(replace(config, port=None), context, settings=settings)
        self.gate = asyncio.Semaphore(0)
        self.said: list[str] = []

    async def speak(self, item: Waiting) -> None:
        await self.gate.acquire()
        said = item.announcement
        self.said.append(said.spoken.text if isinstance(said, EmergencySpeech) else said.ticket)


CALL = Announcement("A001", "3", "3号窗口", "Window 3", recall=False)


async def test_the_message_follows_the_call_being_spoken_and_waiting_calls_are_dropped() -> None:
    announcer = GatedAnnouncer(SETTINGS, Clock())
    await announcer.start()
    try:
        announcer.announce(CALL)
        await eventually(lambda: announcer.speaking == CALL, "A001 is being spoken")
        announcer.announce(replace(CALL, ticket="A002"))
        announcer.set_emergency(EmergencyNotice("请立即离开大厅", drill=False))
        assert announcer.counts.held == 1  # A002 waited: dropped, not spoken later
        assert [type(w) for w in announcer.waiting] == [EmergencySpeech]
        announcer.announce(replace(CALL, ticket="A003"))
        assert announcer.counts.held == 2
        announcer.gate.release()  # A001 ends as it began: nothing is cut off
        announcer.gate.release()
        await eventually(lambda: announcer.counts.emergency == 1, "the message is said")
        assert announcer.said == ["A001", "紧急通知：请立即离开大厅"]

        announcer.set_emergency(None)
        assert announcer.waiting == ()
        announcer.gate.release()  # nothing is left to say: this is the next call's
        announcer.announce(replace(CALL, ticket="A004"))
        await eventually(lambda: announcer.counts.spoken == 2, "the next call is spoken")
        assert announcer.said[-1] == "A004"
        assert announcer.counts.emergency == 1
    finally:
        await announcer.stop()


async def test_quiet_hours_do_not_silence_an_emergency() -> None:
    clock = Clock()
    settings = replace(SETTINGS, quiet_hours=((time(9, 0), time(11, 0)),))
    announcer = GatedAnnouncer(settings, clock)
    await announcer.start()
    try:
        announcer.announce(CALL)
        assert announcer.counts.quiet == 1
        announcer.set_emergency(EmergencyNotice("Please leave the hall", drill=True))
        announcer.gate.release()
        await eventually(lambda: announcer.counts.emergency == 1, "the drill is said")
        assert announcer.said == ["Drill: Please leave the hall"]  # its own language
        announcer.gate.release()
        await eventually(lambda: announcer.counts.emergency == 2, "and said again")
    finally:
        await announcer.stop()


class ToneEngine:
    """A speech engine writing a short tone per text (no espeak-ng), keeping what it rendered."""

    version = "tone 1"

    def __init__(self) -> None:
        self.renders: list[tuple[str, str]] = []

    def render(self, text: str, voice: str, rate: int, path: Path) -> None:
        self.renders.append((text, voice))
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(b"\x10\x00" * 1600)


async def test_an_edge_box_speaker_renders_the_message_in_its_own_language_even_with_clips(
    tmp_path: Path,
) -> None:
    profile = PROFILES["espeak-wav-files"]
    config = replace(device("hall-speaker", profile, None, ""), port=None)
    engine = ToneEngine()
    clips = tmp_path / "clips"  # calls are spliced clips: no clip says a manager's words
    announcer = TtsAnnouncer(
        config,
        DeviceContext(clock=Clock(), submit=lambda i, d: None, state_changed=lambda d: None),
        settings=replace(SETTINGS, clips_dir=clips),
        cache_dir=tmp_path / "cache",
        output_dir=tmp_path / "announcements",
        engine=engine,
    )
    await announcer.start()
    try:
        announcer.set_emergency(EmergencyNotice("请立即离开大厅", drill=True))
        await eventually(lambda: announcer.counts.emergency >= 2, "said and said again")
        assert ("演练：请立即离开大厅", "cmn-latn-pinyin") in engine.renders
        announcer.set_emergency(None)
        announcer.set_emergency(EmergencyNotice("Leave the hall now", drill=False))
        await eventually(
            lambda: ("Emergency notice: Leave the hall now", "en-us") in engine.renders,
            "an English message in the English voice",
        )
        notes = [frame.note for frame in announcer.health.recent_out]
        assert "drill" in notes
        assert "emergency" in notes
        assert list((tmp_path / "announcements").glob("*-DRILL-*.wav"))
    finally:
        await announcer.stop()


def test_a_long_message_goes_to_a_voice_module_in_full_volume_texts_it_can_take(
    tmp_path: Path,
) -> None:
    profile = module_profile()
    codec = profile.codec
    assert isinstance(codec, VoiceModuleSettings)
    announcer = VoiceModuleAnnouncer(
        device("speaker-a", profile, None, str(tmp_path / "none")),
        DeviceContext(clock=Clock(), submit=lambda i, d: None, state_changed=lambda d: None),
        settings=replace(SETTINGS, volume=((time(8, 0), 50),)),  # calls at half volume
    )
    assert announcer.texts(CALL)[0].startswith("[v8]")
    message = "各位办事群众请注意，" + "大厅即将进行消防安全检查，请带好随身物品有序离开。" * 8
    speech = EmergencySpeech(emergency.spoken(message, False, ("zh",)), drill=False)
    texts = announcer.texts(speech)
    assert len(texts) > 1
    for text in texts:
        assert text.startswith("[v16]")
        voice_module.encode_text(codec.codec, text)  # raises VoiceTextError if too long
    spoken = "".join(text.removeprefix("[v16]") for text in texts)
    assert spoken == f"紧急通知：{message}"


# --- the words ------------------------------------------------------------------------------


def test_the_words_of_an_emergency() -> None:
    assert emergency.spoken("请离开", True, ("zh", "en")).text == "演练：请离开"
    assert emergency.spoken("请离开", False, ("en", "yue")).language == "yue"
    assert emergency.spoken("Leave now", False, ("zh", "en")).text == "Emergency notice: Leave now"
    assert emergency.spoken("Leave now", True, ("zh",)).text == "演练：Leave now"
    assert emergency.board_text("请  立即\n离开", False) == "紧急通知：请 立即 离开"
    pages = emergency.split("紧急通知：请听从工作人员指挥", lambda page: len(page) <= 8)
    assert pages == ("紧急通知：", "请听从工作人员指", "挥")  # cut after the colon
    assert emergency.split("", lambda page: True) == ()
    assert emergency.split("ab", lambda page: False) == ("a", "b")


def test_the_repeat_is_a_setting_of_the_announcer_section(tmp_path: Path) -> None:
    demo = demo_config_text()
    assert validate_settings_text(demo, "hall.toml").announcer.emergency_repeat_s == 60
    text = demo.replace('emergency_repeat = "60s"', 'emergency_repeat = "90s"')
    assert validate_settings_text(text, "hall.toml").announcer.emergency_repeat_s == 90
    plain = demo.replace('emergency_repeat = "60s"\n', "")
    assert validate_settings_text(plain, "hall.toml").announcer.emergency_repeat_s == 60
    for value, expected in (('"2s"', "from 10s to 3600s"), ("60", "a duration")):
        wrong = text.replace('emergency_repeat = "90s"', f"emergency_repeat = {value}")
        with pytest.raises(ConfigError) as raised:
            validate_settings_text(wrong, "hall.toml")
        assert "announcer.emergency_repeat" in str(raised.value)
        assert expected in str(raised.value)
    typo = text.replace("emergency_repeat =", "emergency_repaet =")
    with pytest.raises(ConfigError) as raised:
        validate_settings_text(typo, "hall.toml")
    assert 'emergency_repaet: unknown key; did you mean "emergency_repeat"?' in str(raised.value)
