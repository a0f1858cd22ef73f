"""Announcers: real espeak-ng renders, the cache, a queue that never overlaps, quiet hours,
repeat, volume, recorded clips, players that fail or hang, and serial voice modules over PTYs
and faulty pipes."""

from __future__ import annotations

import array
import asyncio
import functools
import itertools
import json
import math
import os
import sys
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hall_controller.devices.announcer import (
    Announcer,
    Playing,
    TtsAnnouncer,
    VoiceModuleAnnouncer,
    Waiting,
)
from hall_controller.devices.base import DeviceContext
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import Announcement
from hall_controller.profiles import (
    AnnouncerSettings,
    DeviceConfig,
    DeviceProfile,
    TtsSpeakerSettings,
    VoiceModuleSettings,
    validate_profile_text,
)
from hall_controller.simulators.voice_module import SimulatedVoiceModule
from hall_controller.transports import audio
from hall_controller.transports.audio import (
    GAP_S,
    CommandPlayer,
    EspeakEngine,
    SpeechCache,
    SpeechPart,
    WavFormat,
    silence,
)
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.memory import memory_pair
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialParams

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
HALL = ZoneInfo("Asia/Shanghai")
CALL = Announcement("A012", "3", "3号窗口", "Window 3", recall=False)
CALL_TEXT = "请 A 0 1 2 号 到 3 号窗口 办理"


def profile(name: str) -> DeviceProfile:
    path = ROOT / "device_profiles" / f"{name}.toml"
    return validate_profile_text(path.read_text(encoding="utf-8"), str(path))


def hall_clock(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 30, hour, minute, tzinfo=HALL).timestamp()


@dataclass
class Clock:
    """The wall clock the announcer reads for quiet hours and volume; tests move it."""

    now: float = hall_clock(9)

    def set(self, hour: int, minute: int = 0) -> None:
        self.now = hall_clock(hour, minute)


def context(clock: Clock) -> DeviceContext:
    return DeviceContext(
        clock=lambda: clock.now,
        submit=lambda item, device: None,
        state_changed=lambda device: None,
    )


def device(profile: DeviceProfile, *, port: str | None = None) -> DeviceConfig:
    return DeviceConfig(
        id="speaker-hall",
        profile=profile,
        window=None,
        port=port,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        zone="hall",
    )


# --- reading and making WAVs ----------------------------------------------------------------------


def read_wav(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getframerate(), wav.readframes(wav.getnframes())


def rms(frames: bytes) -> float:
    samples = array.array("h")
    samples.frombytes(frames)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def write_tone(path: Path, frequency: float, seconds: float, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = round(rate * seconds)
    samples = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


# A player that records when it ran and keeps a copy of what it was given. Modes: "play"
# (takes SECONDS), "hang-first" (the first call never ends), "fail" (exits 1).
PLAYER_SCRIPT = """
import json, os, shutil, sys, time
wav, log, mode, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with open(log, "a") as out:
    count = sum(1 for line in open(log)) if os.path.exists(log) else 0
copy = f"{log}.{count}.wav"
shutil.copyfile(wav, copy)
with open(log, "a") as out:
    out.write(json.dumps({"start": time.time(), "pid": os.getpid(), "copy": copy}) + "\\n")
if mode == "hang-first" and count == 0:
    time.sleep(600)
if mode == "fail":
    sys.stderr.write("no such sound device\\n")
    sys.exit(1)
time.sleep(seconds)
with open(log, "a") as out:
    out.write(json.dumps({"end": time.time(), "pid": os.getpid()}) + "\\n")
"""


class Recorder:
    """The fake player's command line and what it recorded."""

    def __init__(self, directory: Path, mode: str = "play", seconds: float = 0.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.script = directory / "player.py"
        self.script.write_text(PLAYER_SCRIPT, encoding="utf-8")
        self.log = directory / "player.log"
        self.command = (
            sys.executable,
            str(self.script),
            "{file}",
            str(self.log),
            mode,
            str(seconds),
        )

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def starts(self) -> list[dict[str, Any]]:
        return [entry for entry in self.entries() if "start" in entry]

    def intervals(self) -> list[tuple[float, float]]:
        starts = {e["pid"]: e["start"] for e in self.entries() if "start" in e}
        ends = {e["pid"]: e["end"] for e in self.entries() if "end" in e}
        return sorted((starts[pid], ends[pid]) for pid in ends)

    def copy(self, index: int) -> Path:
        return Path(self.starts()[index]["copy"])


class CountingEngine:
    """espeak-ng, counting what it is asked to render."""

    def __init__(self) -> None:
        self.inner = EspeakEngine()
        self.renders: list[str] = []

    @property
    def version(self) -> str:
        return self.inner.version

    def render(self, text: str, voice: str, rate: int, path: Path) -> None:
        self.renders.append(text)
        self.inner.render(text, voice, rate, path)


@pytest.fixture
async def speakers() -> AsyncIterator[list[TtsAnnouncer | VoiceModuleAnnouncer]]:
    """Announcers made by a test, stopped at its end whatever happened."""
    made: list[TtsAnnouncer | VoiceModuleAnnouncer] = []
    yield made
    for announcer in made:
        await announcer.stop()


def speaker(
    made: list[TtsAnnouncer | VoiceModuleAnnouncer],
    tmp_path: Path,
    clock: Clock,
    settings: AnnouncerSettings,
    *,
    player: tuple[str, ...] | None,
    engine: CountingEngine | None = None,
) -> TtsAnnouncer:
    base = profile("espeak-speaker")
    assert isinstance(base.codec, TtsSpeakerSettings)
    config = device(replace(base, codec=replace(base.codec, player=player)))
    announcer = TtsAnnouncer(
        config,
        context(clock),
        settings=settings,
        cache_dir=tmp_path / "cache",
        output_dir=tmp_path / "announcements",
        engine=engine,
    )
    made.append(announcer)
    return announcer


def heard(announcer: TtsAnnouncer | VoiceModuleAnnouncer) -> list[Playing]:
    seen: list[Playing] = []
    announcer.on_playing = seen.append
    return seen


# --- espeak-ng and the cache ----------------------------------------------------------------


async def test_espeak_ng_renders_a_call_that_is_heard(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    announcer = speaker(speakers, tmp_path, Clock(), AnnouncerSettings(chime=False), player=None)
    seen = heard(announcer)
    await announcer.start()
    assert announcer.health.state is DeviceState.READY
    announcer.announce(CALL)
    await eventually(lambda: seen, "the call is written out")
    path = seen[0].file
    assert path is not None
    assert path.parent == tmp_path / "announcements"
    rate, frames = read_wav(path)
    seconds = len(frames) / 2 / rate
    assert 1.5 <= seconds <= 8.0
    assert rms(frames) > 1000  # speech, not silence (full scale is 32767)
    sox = await asyncio.create_subprocess_exec(
        "sox", str(path), "-n", "stat", stderr=asyncio.subprocess.PIPE
    )
    _, report = await sox.communicate()
    stats = {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in report.decode().splitlines())
    }
    assert float(stats["RMS     amplitude"]) > 0.03
    # What was rendered is exactly the call's Mandarin text in the Mandarin voice.
    part = SpeechPart("zh", CALL_TEXT, "cmn-latn-pinyin", 150)
    assert announcer.cache.path_for(part).is_file()


async def test_the_cache_gives_the_same_audio_the_second_time_without_rendering(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    engine = CountingEngine()
    player = Recorder(tmp_path / "player")
    announcer = speaker(
        speakers, tmp_path, Clock(), AnnouncerSettings(), player=player.command, engine=engine
    )
    seen = heard(announcer)
    await announcer.start()
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.spoken == 1, "the call is spoken")
    announcer.announce(replace(CALL, recall=True))
    await eventually(lambda: announcer.counts.spoken == 2, "the recall is spoken")
    assert engine.renders == [CALL_TEXT]
    assert [p.rendered for p in seen] == [1, 0]
    assert player.copy(0).read_bytes() == player.copy(1).read_bytes()


class ToneEngine:
    """A speech engine writing a short tone per text (no espeak-ng), counting its renders."""

    version = "tone 1"

    def __init__(self) -> None:
        self.renders: list[str] = []

    def render(self, text: str, voice: str, rate: int, path: Path) -> None:
        self.renders.append(text)
        write_tone(path, 440, 0.1)


def test_a_render_a_power_cut_left_broken_in_the_cache_is_rendered_again(tmp_path: Path) -> None:
    engine = ToneEngine()
    cache = SpeechCache(tmp_path / "cache", engine)
    part = SpeechPart("zh", CALL_TEXT, "cmn-latn-pinyin", 150)
    path, _ = cache.get(part)
    whole = path.read_bytes()
    # The rename reached the disk, the data did not (or only part of it).
    for broken in (b"", whole[: len(whole) // 2]):
        path.write_bytes(broken)
        assert cache.get(part) == (path, True)
        assert path.read_bytes() == whole
    assert cache.get(part) == (path, False)
    assert len(engine.renders) == 3


def test_the_cache_is_pruned_in_runs_that_render_only_a_few_texts(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    for run in range(4):  # the controller started four times, one new text each time
        cache = SpeechCache(directory, ToneEngine(), limit=2)
        cache.get(SpeechPart("zh", f"请 A 0 0 {run} 号", "cmn-latn-pinyin", 150))
    assert len(list(directory.glob("tts-*.wav"))) == 2


# --- the queue ------------------------------------------------------------------------------


class GatedAnnouncer(Announcer):
    """An announcer whose announcements each end when the test lets one end."""

    def __init__(self, *, stale_after_s: float) -> None:
        super().__init__(
            device(profile("espeak-speaker")),
            context(Clock()),
            settings=AnnouncerSettings(),
            stale_after_s=stale_after_s,
        )
        self.gate = asyncio.Semaphore(0)
        self.said: list[str] = []

    async def speak(self, item: Waiting) -> None:
        await self.gate.acquire()
        self.said.append(item.announcement.ticket)


async def test_a_recall_merged_into_a_call_that_waited_long_is_still_spoken() -> None:
    announcer = GatedAnnouncer(stale_after_s=0.3)
    await announcer.start()
    try:
        announcer.announce(replace(CALL, ticket="A001"))
        await eventually(lambda: announcer.speaking is not None, "A001 is being spoken")
        announcer.announce(replace(CALL, ticket="A002"))
        await asyncio.sleep(0.4)  # A002 has waited too long by now ...
        announcer.announce(replace(CALL, ticket="A002", recall=True))  # ... its recall not
        assert announcer.counts.merged == 1
        announcer.gate.release()
        announcer.gate.release()
        await eventually(lambda: announcer.counts.spoken == 2, "both calls are spoken")
        assert announcer.said == ["A001", "A002"]
        assert announcer.counts.stale == 0
    finally:
        await announcer.stop()


async def test_announcements_never_overlap_and_a_waiting_recall_merges(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    player = Recorder(tmp_path / "player", seconds=0.3)
    announcer = speaker(speakers, tmp_path, Clock(), AnnouncerSettings(), player=player.command)
    seen = heard(announcer)
    await announcer.start()
    first = replace(CALL, ticket="A001", window="1")
    announcer.announce(first)
    await eventually(lambda: announcer.speaking == first, "A001 is being spoken")
    second = replace(CALL, ticket="A002", window="2")
    announcer.announce(second)
    announcer.announce(replace(CALL, ticket="A003", window="4"))
    announcer.announce(replace(second, recall=True))  # A002 still waits: one announcement
    announcer.announce(replace(first, recall=True))  # A001 is already being said: again
    assert announcer.counts.merged == 1
    await eventually(lambda: announcer.counts.spoken == 4, "every call is spoken")
    assert [p.announcement.ticket for p in seen] == ["A001", "A002", "A003", "A001"]
    intervals = player.intervals()
    assert len(intervals) == 4
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert end <= start, f"overlapping announcements: {intervals}"


async def test_calls_in_quiet_hours_are_not_spoken(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    clock = Clock()
    player = Recorder(tmp_path / "player")
    settings = AnnouncerSettings(quiet_hours=((time(22, 0), time(7, 0)),))
    announcer = speaker(speakers, tmp_path, clock, settings, player=player.command)
    seen = heard(announcer)
    await announcer.start()
    clock.set(23, 30)
    announcer.announce(replace(CALL, ticket="A001"))
    assert announcer.counts.quiet == 1
    assert announcer.waiting == ()
    clock.set(9, 0)
    announcer.announce(replace(CALL, ticket="A002"))
    await eventually(lambda: announcer.counts.spoken == 1, "the daytime call is spoken")
    assert [p.announcement.ticket for p in seen] == ["A002"]
    assert len(player.starts()) == 1


async def test_repeat_says_the_call_twice_with_a_gap(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    player = Recorder(tmp_path / "player")
    once = speaker(
        speakers, tmp_path, Clock(), AnnouncerSettings(chime=False), player=player.command
    )
    twice = speaker(
        speakers, tmp_path, Clock(), AnnouncerSettings(chime=False, repeat=2), player=player.command
    )
    for announcer in (once, twice):
        await announcer.start()
        announcer.announce(CALL)
        spoken = functools.partial(lambda a: a.counts.spoken == 1, announcer)
        await eventually(spoken, "the call is spoken")
    rate, one = read_wav(player.copy(0))
    _, two = read_wav(player.copy(1))
    gap = silence(WavFormat(1, 2, rate), GAP_S)
    assert two == one + gap + one


async def test_the_volume_of_the_time_of_day_scales_the_samples(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    clock = Clock()
    player = Recorder(tmp_path / "player")
    settings = AnnouncerSettings(volume=((time(8, 0), 100), (time(12, 0), 50)))
    announcer = speaker(speakers, tmp_path, clock, settings, player=player.command)
    await announcer.start()
    clock.set(9, 0)
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.spoken == 1, "the morning call is spoken")
    clock.set(13, 0)
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.spoken == 2, "the afternoon call is spoken")
    _, loud = read_wav(player.copy(0))
    _, soft = read_wav(player.copy(1))
    assert len(loud) == len(soft)
    assert rms(soft) / rms(loud) == pytest.approx(0.5, abs=0.005)


# --- recorded clips -------------------------------------------------------------------------


CLIP_NAMES = ("请", "A", "0", "1", "2", "号", "到", "3", "号窗口", "办理")


def make_clips(directory: Path) -> None:
    for i, name in enumerate(CLIP_NAMES):
        write_tone(directory / "zh" / f"{name}.wav", 300 + 50 * i, 0.04 + 0.01 * i)


async def test_recorded_clips_are_spliced_in_the_template_s_order(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    clips = tmp_path / "clips"
    make_clips(clips)
    player = Recorder(tmp_path / "player")
    settings = AnnouncerSettings(clips_dir=clips, chime=False)
    announcer = speaker(speakers, tmp_path, Clock(), settings, player=player.command)
    await announcer.start()
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.spoken == 1, "the call is spoken")
    rate, spliced = read_wav(player.copy(0))
    assert rate == 16000
    assert spliced == b"".join(read_wav(clips / "zh" / f"{name}.wav")[1] for name in CLIP_NAMES)


async def test_a_clip_in_another_format_or_missing_is_named(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    clips = tmp_path / "clips"
    make_clips(clips)
    write_tone(clips / "zh" / "号窗口.wav", 440, 0.1, rate=8000)
    player = Recorder(tmp_path / "player")
    settings = AnnouncerSettings(clips_dir=clips)
    announcer = speaker(speakers, tmp_path, Clock(), settings, player=player.command)
    await announcer.start()
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.failed == 1, "the call fails")
    assert announcer.health.state is DeviceState.ALERT
    error = announcer.health.last_error or ""
    assert "'号窗口'" in error
    assert "8000 Hz" in error
    (clips / "zh" / "号窗口.wav").unlink()
    write_tone(clips / "zh" / "号窗口.wav", 440, 0.1)
    (clips / "zh" / "办理.wav").unlink()
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.failed == 2, "the call fails again")
    error = announcer.health.last_error or ""
    assert "'办理' is missing" in error
    assert player.starts() == []


# --- players that fail ----------------------------------------------------------------------


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_hanging_player_is_killed_at_its_timeout_and_the_queue_goes_on(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    clips = tmp_path / "clips"
    make_clips(clips)
    player = Recorder(tmp_path / "player", mode="hang-first")
    settings = AnnouncerSettings(clips_dir=clips, chime=False)
    announcer = speaker(speakers, tmp_path, Clock(), settings, player=player.command)
    announcer.player = CommandPlayer(player.command, name="player", grace_s=0.5)
    await announcer.start()
    announcer.announce(replace(CALL, ticket="A012"))
    announcer.announce(replace(CALL, ticket="A013"))
    await eventually(lambda: announcer.counts.spoken == 1, "the next call is spoken", within=10)
    assert announcer.counts.failed == 1
    assert announcer.health.errors == 1
    assert "killed" in (announcer.health.last_error or "")
    assert announcer.health.state is DeviceState.READY
    hung = player.starts()[0]["pid"]
    assert gone(hung)


async def test_a_failing_player_is_an_error_and_the_device_an_alert(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    player = Recorder(tmp_path / "player", mode="fail")
    announcer = speaker(speakers, tmp_path, Clock(), AnnouncerSettings(), player=player.command)
    await announcer.start()
    announcer.announce(CALL)
    await eventually(lambda: announcer.counts.failed == 1, "the call fails")
    assert announcer.health.state is DeviceState.ALERT
    assert "status 1: no such sound device" in (announcer.health.last_error or "")


async def test_a_missing_player_program_makes_an_alert_at_start(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    announcer = speaker(
        speakers, tmp_path, Clock(), AnnouncerSettings(), player=("no-such-player", "{file}")
    )
    await announcer.start()
    assert announcer.health.state is DeviceState.ALERT
    assert "'no-such-player' is not installed" in (announcer.health.last_error or "")


async def test_stop_kills_the_player_that_is_playing(
    tmp_path: Path, speakers: list[TtsAnnouncer | VoiceModuleAnnouncer]
) -> None:
    player = Recorder(tmp_path / "player", seconds=600)
    announcer = speaker(speakers, tmp_path, Clock(), AnnouncerSettings(), player=player.command)
    await announcer.start()
    announcer.announce(CALL)
    await eventually(lambda: player.starts(), "the player runs")
    await announcer.stop()
    assert gone(player.starts()[0]["pid"])
    assert announcer.counts.spoken == 0


async def test_a_killed_player_that_does_not_go_does_not_hold_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_ends(self: asyncio.subprocess.Process) -> int:
        await asyncio.Event().wait()  # stuck in the kernel: SIGKILL cannot end it yet
        return -9

    started: list[int] = []
    player = CommandPlayer(
        (sys.executable, "-c", "import time; time.sleep(600)", "{file}"), grace_s=0.2
    )
    monkeypatch.setattr(audio, "KILL_WAIT_S", 0.2)
    monkeypatch.setattr(asyncio.subprocess.Process, "wait", never_ends)
    with pytest.raises(LinkTimeout, match="killed"):
        async with asyncio.timeout(5):
            await player.play(tmp_path / "call.wav", 0.0, lambda: started.append(1))
    monkeypatch.undo()
    assert started == [1]


# --- serial voice modules -------------------------------------------------------------------


def module_profile(ping_every_s: float = 0.0) -> DeviceProfile:
    base = profile("syn6288-voice-module")
    assert isinstance(base.codec, VoiceModuleSettings)
    codec = replace(base.codec, poll_every_s=0.05, answer_timeout_s=0.3, busy_timeout_s=5.0)
    timeouts = replace(base.timeouts, ping_every_s=ping_every_s)
    return replace(base, codec=codec, timeouts=timeouts)


def module_codec() -> Any:
    codec = module_profile().codec
    assert isinstance(codec, VoiceModuleSettings)
    return codec.codec


def voice_module(
    made: list[TtsAnnouncer | VoiceModuleAnnouncer],
    port: str,
    settings: AnnouncerSettings,
    *,
    ping_every_s: float = 0.0,
    open_link: Callable[[SerialParams], ByteLink] | None = None,
) -> VoiceModuleAnnouncer:
    announcer = VoiceModuleAnnouncer(
        device(module_profile(ping_every_s), port=port),
        context(Clock()),
        settings=settings,
        open_link=open_link,
        backoff=Backoff(initial_s=0.05, cap_s=0.2, jitter=0.0),
    )
    made.append(announcer)
    return announcer


@pytest.fixture
async def module_pty(tmp_path: Path) -> AsyncIterator[tuple[SimulatedVoiceModule, str]]:
    pair = PtyPair(tmp_path / "voice", name="voice").open()
    module = SimulatedVoiceModule(pair.link, module_codec(), seconds_per_character=0.01)
    await module.start()
    try:
        yield module, str(pair.link_path)
    finally:
        await module.stop()
        pair.close()


def texts_of(*tickets: str) -> list[str]:
    out = []
    for ticket in tickets:
        spoken = " ".join(ticket)
        out += [f"请 {spoken} 号 到 3 号窗口 办理", f"Number {spoken}, please go to window 3"]
    return out


async def test_a_voice_module_speaks_each_text_to_its_end_one_after_the_other(
    module_pty: tuple[SimulatedVoiceModule, str],
    speakers: list[TtsAnnouncer | VoiceModuleAnnouncer],
) -> None:
    module, port = module_pty
    settings = AnnouncerSettings(languages=("zh", "en"))
    announcer = voice_module(speakers, port, settings)
    await announcer.start()
    await eventually(lambda: announcer.health.state is DeviceState.READY, "the module answers")
    for ticket in ("A001", "A002", "A003"):
        announcer.announce(replace(CALL, ticket=ticket))
    await eventually(lambda: announcer.counts.spoken == 3, "three calls are spoken")
    peer = module.peer
    assert peer.texts == texts_of("A001", "A002", "A003")
    assert peer.cut_off == 0
    assert all(s.text.startswith("[v16]") for s in peer.spoken)  # 100 %: the loudest mark
    for before, after in itertools.pairwise(peer.spoken):
        assert before.until <= after.at


async def test_a_silent_module_is_lost_and_comes_back(
    module_pty: tuple[SimulatedVoiceModule, str],
    speakers: list[TtsAnnouncer | VoiceModuleAnnouncer],
) -> None:
    module, port = module_pty
    announcer = voice_module(speakers, port, AnnouncerSettings(), ping_every_s=0.2)
    await announcer.start()
    await eventually(lambda: announcer.health.state is DeviceState.READY, "the module answers")
    module.silent = True
    await eventually(lambda: announcer.health.state is DeviceState.LOST, "the module is lost")
    announcer.announce(replace(CALL, ticket="A004"))
    await eventually(lambda: announcer.counts.failed == 1, "the call is not spoken")
    module.silent = False
    await eventually(lambda: announcer.health.state is DeviceState.READY, "the module is back")
    assert announcer.health.reconnects == 1
    announcer.announce(replace(CALL, ticket="A005"))
    await eventually(lambda: announcer.counts.spoken == 1, "the next call is spoken")
    assert module.peer.texts == ["请 A 0 0 5 号 到 3 号窗口 办理"]


async def test_a_voice_module_over_a_line_that_splits_and_delays_bytes(
    speakers: list[TtsAnnouncer | VoiceModuleAnnouncer],
) -> None:
    controller_end, module_end = memory_pair(chunk=1, delay_s=0.002, name="voice")
    module = SimulatedVoiceModule(module_end, module_codec(), seconds_per_character=0.01)
    await module.start()
    try:
        announcer = voice_module(
            speakers, "voice", AnnouncerSettings(), open_link=lambda params: controller_end
        )
        await announcer.start()
        for ticket in ("A001", "A002"):
            announcer.announce(replace(CALL, ticket=ticket))
        await eventually(lambda: announcer.counts.spoken == 2, "both calls are spoken")
        assert module.peer.texts == texts_of("A001", "A002")[::2]
        assert module.peer.cut_off == 0
        await announcer.stop()
    finally:
        await module.stop()


class LoseFirstText:
    """A line that loses the first text frame the controller sends (and nothing else)."""

    def __init__(self, link: ByteLink) -> None:
        self.link = link
        self.name = link.name
        self.lost: list[bytes] = []

    @property
    def state(self) -> LinkState:
        return self.link.state

    # A ByteLink takes its timeout per call, as the links it stands in for do.
    async def open(self, timeout: float) -> None:  # noqa: ASYNC109
        await self.link.open(timeout)

    async def read(self, timeout: float) -> bytes:  # noqa: ASYNC109
        return await self.link.read(timeout)

    async def write(self, data: bytes, timeout: float) -> None:  # noqa: ASYNC109
        if not self.lost and data[3:4] == b"\x01":  # FD, length, 01: a text
            self.lost.append(data)
            return
        await self.link.write(data, timeout)

    async def close(self) -> None:
        await self.link.close()


async def test_a_lost_text_frame_costs_that_call_only(
    speakers: list[TtsAnnouncer | VoiceModuleAnnouncer],
) -> None:
    controller_end, module_end = memory_pair(name="voice")
    line = LoseFirstText(controller_end)
    module = SimulatedVoiceModule(module_end, module_codec(), seconds_per_character=0.01)
    await module.start()
    try:
        announcer = voice_module(
            speakers, "voice", AnnouncerSettings(), open_link=lambda params: line
        )
        await announcer.start()
        announcer.announce(replace(CALL, ticket="A001"))
        await eventually(lambda: announcer.counts.failed == 1, "A001 is not acknowledged")
        # Back means reconnected: the failed call is counted just before the link is declared
        # lost, so the state seen at that moment may still be the first connection's READY.
        await eventually(
            lambda: (
                announcer.health.reconnects == 1 and announcer.health.state is DeviceState.READY
            ),
            "the module is back",
        )
        announcer.announce(replace(CALL, ticket="A002"))
        await eventually(lambda: announcer.counts.spoken == 1, "A002 is spoken")
        assert len(line.lost) == 1
        assert module.peer.texts == texts_of("A002")[:1]
        assert announcer.health.reconnects == 1
        await announcer.stop()
    finally:
        await module.stop()


async def test_over_a_line_that_loses_writes_every_call_ends_and_none_is_cut_off(
    speakers: list[TtsAnnouncer | VoiceModuleAnnouncer],
) -> None:
    controller_end, module_end = memory_pair(chunk=3, drop_every=4, name="voice")
    module = SimulatedVoiceModule(module_end, module_codec(), seconds_per_character=0.01)
    await module.start()
    try:
        announcer = voice_module(
            speakers, "voice", AnnouncerSettings(), open_link=lambda params: controller_end
        )
        await announcer.start()
        counts = announcer.counts
        tickets = [f"A{n:03d}" for n in range(1, 7)]
        for done, ticket in enumerate(tickets, start=1):
            await eventually(lambda: announcer.health.state is DeviceState.READY, "module ready")
            announcer.announce(replace(CALL, ticket=ticket))
            finished = functools.partial(lambda n: counts.spoken + counts.failed == n, done)
            await eventually(finished, f"{ticket} is done with")
        assert counts.spoken <= len(module.peer.texts)  # a call counted as spoken was heard
        assert module.peer.cut_off == 0
        assert set(module.peer.texts) <= set(texts_of(*tickets))
        await eventually(lambda: announcer.health.state is DeviceState.READY, "the module is back")
        await announcer.stop()
    finally:
        await module.stop()
