"""Announcers: each call spoken in the hall's languages, one after the other, never cut off.

An announcer is one speaker zone. `announce()` only queues: one task per announcer speaks the
queue in order and waits for each announcement to end before the next begins. A call already
waiting for the same ticket and window (a recall pressed twice, or a recall of a call not yet
spoken) is one announcement, not two, waiting from the latest. Calls in the hall's quiet hours
are not spoken; a call that waited longer than `stale_after_s` (the speaker failed for
minutes) is dropped. Both are counted, as are failures: a failed render, player or module is
an error in the device's health and the queue goes on.

While the hall's emergency (or drill) lasts, every announcer speaks its message as soon as the
announcement being said has ended, and again every `emergency_repeat_s`; calls waiting are
dropped and calls given meanwhile are not spoken (both counted as held): the message has the
speakers. It is said at full volume, in quiet hours too. Its end stops the repeats at once (a
message being said is said to its end). Each saying is bounded in time; a speaker that fails is
counted and the others go on.

`TtsAnnouncer` renders with espeak-ng (or splices the hall's recorded clips) in one thread and
plays the WAV with the profile's player; `VoiceModuleAnnouncer` sends the text to a serial
speech module (SYN6288 and kin) and polls it until it has spoken.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import structlog

from hall_controller.devices.base import Device, DeviceContext, TestFired
from hall_controller.devices.errors import DeviceError, DeviceLost, DeviceRefused
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import Announcement, EmergencyNotice
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import (
    AnnouncerSettings,
    DeviceConfig,
    TtsSpeakerSettings,
    VoiceModuleSettings,
)
from hall_controller.protocols import announcement as wording
from hall_controller.protocols import emergency, voice_module
from hall_controller.protocols.voice_module import Answer, VoiceTextError
from hall_controller.transports.audio import (
    Assembled,
    AudioThread,
    ClipsPart,
    CommandPlayer,
    EspeakEngine,
    FileOutput,
    Player,
    SpeechCache,
    SpeechEngine,
    SpeechPart,
    SpeechPlan,
    assemble,
    prune,
    which,
)
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.serial import SerialLink, SerialParams

log = structlog.get_logger("hall_controller.devices")

# A call still waiting after this long is not spoken any more: the window display showed it.
STALE_AFTER_S = 120.0
# Rendering one announcement (espeak-ng runs ~100x faster than real time; a cold start and a
# busy disk take longer).
RENDER_TIMEOUT_S = 20.0
# File output keeps this many announcement WAVs.
KEEP_FILES = 200
# After its "received", a module may still say "idle" for a moment before it starts speaking.
MODULE_START_S = 0.3
# The longest one saying of an emergency's message may take (a long message on a slow module),
# beyond the render, player and module timeouts that bound it already.
EMERGENCY_SAY_TIMEOUT_S = 180.0
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]+")
# The module's answers to a status query, and to a frame.
_STATES = frozenset({Answer.BUSY, Answer.IDLE})
_ACKS = frozenset({Answer.RECEIVED, Answer.BAD_FRAME})
# A technician's test sentence per language (a hall language not listed here says the English).
TEST_SENTENCES = MappingProxyType(
    {
        "zh": "广播测试，这是一条测试语音。",
        "yue": "广播测试，呢个系测试。",
        "en": "This is a speaker test.",
    }
)


@dataclass(frozen=True, slots=True)
class SpeakerTest:
    """A technician's test sentence: queued and spoken in its turn, like a call."""

    texts: tuple[wording.Spoken, ...]
    ticket: str = "TEST"  # in the places a call names its ticket and window (logs, files)
    window: str = "-"


@dataclass(frozen=True, slots=True)
class EmergencySpeech:
    """The hall's emergency (or drill) message, marked, in the language it is spoken in."""

    spoken: wording.Spoken
    drill: bool

    @property
    def ticket(self) -> str:
        """What logs and file names say in place of a call's ticket."""
        return "DRILL" if self.drill else "EMERGENCY"

    @property
    def window(self) -> str:
        """What logs say in place of a call's window."""
        return "-"


Said = Announcement | SpeakerTest | EmergencySpeech


@dataclass(slots=True)
class AnnouncerCounts:
    """What became of the announcements given to one announcer."""

    spoken: int = 0
    merged: int = 0  # the same call was already waiting: one announcement for both
    quiet: int = 0  # given in quiet hours: not spoken
    stale: int = 0  # waited longer than stale_after_s: not spoken
    failed: int = 0  # the render, the player or the module failed
    held: int = 0  # calls given or waiting during an emergency: the message has the speakers
    emergency: int = 0  # times the emergency's message was spoken to its end


@dataclass(frozen=True, slots=True)
class Waiting:
    """An announcement in the queue and when it was given (time.monotonic())."""

    announcement: Said
    since: float


@dataclass(frozen=True, slots=True)
class Playing:
    """An announcement's first sound was handed over (to the player, or to the module)."""

    announcement: Said
    at: float  # time.monotonic()
    waited_s: float  # since announce()
    audio_s: float | None  # its length, where known
    rendered: int  # texts rendered for it; 0: every text came from the cache
    file: Path | None


class Announcer(Device):
    """One speaker zone: the queue, quiet hours, the volume of the hour; subclasses speak."""

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        settings: AnnouncerSettings,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        super().__init__(config, context)
        problems = wording.wording_problems(settings)
        if settings.repeat < 1:
            problems.append("repeat: expected at least 1")
        if problems:
            raise ValueError(f"announcer {config.id}: " + "; ".join(problems))
        self.settings = settings
        self.stale_after_s = stale_after_s
        self.counts = AnnouncerCounts()
        self.speaking: Said | None = None
        # Told when each announcement starts to sound (the benchmark's measuring point).
        self.on_playing: Callable[[Playing], None] | None = None
        self._zone = ZoneInfo(settings.timezone)
        self._queue: deque[Waiting] = deque()
        self._more = asyncio.Event()
        self._speaker: asyncio.Task[None] | None = None
        # While an emergency lasts: its message and the task that queues it again.
        self.emergency: EmergencySpeech | None = None
        self._repeats: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> tuple[Said, ...]:
        """The announcements waiting, in the order they will be spoken."""
        return tuple(item.announcement for item in self._queue)

    def hall_time(self) -> datetime:
        """The hall's local time now."""
        return datetime.fromtimestamp(self.context.clock(), self._zone)

    def volume_now(self, announcement: Said | None = None) -> int:
        """The volume in percent for this time of day (an emergency's message: full volume)."""
        if isinstance(announcement, EmergencySpeech):
            return 100
        return wording.volume_at(self.hall_time().time(), self.settings.volume)

    def announce(self, announcement: Announcement) -> None:
        """Queue a call to be spoken; never waits. Merged with the same call already waiting;
        not spoken in quiet hours."""
        if self.emergency is not None:
            self.counts.held += 1
            self._not_spoken(announcement, "emergency")
            return
        now: clock_time = self.hall_time().time()
        if wording.in_quiet_hours(now, self.settings.quiet_hours):
            self.counts.quiet += 1
            self._not_spoken(announcement, "quiet hours")
            return
        for index, item in enumerate(self._queue):
            waiting = item.announcement
            if waiting.ticket == announcement.ticket and waiting.window == announcement.window:
                # It waits from now: a recall merged into an old call is not dropped as stale.
                self._queue[index] = Waiting(waiting, time.monotonic())
                self.counts.merged += 1
                log.info(
                    "announcement_merged",
                    device=self.id,
                    ticket=announcement.ticket,
                    window=announcement.window,
                )
                return
        self._queue.append(Waiting(announcement, time.monotonic()))
        self._more.set()

    def set_emergency(self, notice: EmergencyNotice | None) -> None:
        """Speak `notice`'s message next (even in quiet hours) and again every
        emergency_repeat_s until it ends (None); calls waiting now are dropped."""
        if notice is None:
            self._end_emergency()
            return
        speech = EmergencySpeech(
            emergency.spoken(notice.message, notice.drill, self.settings.languages), notice.drill
        )
        if speech == self.emergency:
            return  # the same emergency told again (a restart of the hub's view of it)
        self._end_emergency()
        self.emergency = speech
        calls = [item for item in self._queue if isinstance(item.announcement, Announcement)]
        for item in calls:
            self._not_spoken(item.announcement, "emergency")
        self.counts.held += len(calls)
        self._queue = deque(
            item for item in self._queue if not isinstance(item.announcement, Announcement)
        )
        every = self.settings.emergency_repeat_s
        log.warning("emergency_spoken", device=self.id, drill=notice.drill, every_s=every)
        self._say_emergency(speech)
        self._repeats = self.spawn(self._repeat_emergency(speech), "emergency-repeat")

    def _end_emergency(self) -> None:
        task, self._repeats = self._repeats, None
        if task is not None:
            task.cancel()  # stop() awaits it with the device's other tasks
        if self.emergency is None:
            return
        self.emergency = None
        self._queue = deque(
            item for item in self._queue if not isinstance(item.announcement, EmergencySpeech)
        )
        log.info("emergency_not_spoken_any_more", device=self.id)

    def _say_emergency(self, speech: EmergencySpeech) -> None:
        """Queue the message first, unless it is waiting already (a slow speaker: no pile-up)."""
        if any(item.announcement == speech for item in self._queue):
            return
        self._queue.appendleft(Waiting(speech, time.monotonic()))
        self._more.set()

    async def _repeat_emergency(self, speech: EmergencySpeech) -> None:
        while True:
            await asyncio.sleep(self.settings.emergency_repeat_s)
            self._say_emergency(speech)

    async def _say_within(self, item: Waiting, seconds: float) -> None:
        """speak(), cut short after `seconds` (DeviceRefused)."""
        try:
            async with asyncio.timeout(seconds):
                await self.speak(item)
        except TimeoutError as exc:
            raise DeviceRefused(f"{self.id}: not said within {seconds:g} s") from exc

    def _not_spoken(self, announcement: Said, reason: str) -> None:
        log.info(
            "announcement_not_spoken",
            device=self.id,
            ticket=announcement.ticket,
            window=announcement.window,
            reason=reason,
        )

    async def start(self) -> None:
        """Start speaking the queue."""
        if self._speaker is None:
            # Kept here rather than with Device.spawn: Device.stop() iterates the set of tasks
            # that their done callbacks shrink while it awaits them.
            self._speaker = asyncio.create_task(self._speak_queue(), name=f"announce:{self.id}")

    async def stop(self) -> None:
        """Stop speaking: the announcement being said is cut off (a shutdown)."""
        self._repeats = None  # with the device's other tasks, in super().stop()
        task, self._speaker = self._speaker, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    async def _speak_queue(self) -> None:
        while True:
            while not self._queue:
                self._more.clear()
                await self._more.wait()
            item = self._queue.popleft()
            said = item.announcement
            waited = time.monotonic() - item.since
            if waited > self.stale_after_s and not isinstance(said, EmergencySpeech):
                self.counts.stale += 1
                self._not_spoken(said, f"waited {waited:.0f} s")
                continue
            self.speaking = said
            try:
                if isinstance(said, EmergencySpeech):
                    await self._say_within(item, EMERGENCY_SAY_TIMEOUT_S)
                else:
                    await self.speak(item)
            except DeviceError as exc:
                self._failed(said, str(exc))
            except Exception as exc:
                # A bug must not silence the hall: the next call is spoken all the same.
                log.exception("announcement_failed", device=self.id)
                self._failed(said, f"{type(exc).__name__}: {exc}")
            else:
                if isinstance(said, EmergencySpeech):
                    self.counts.emergency += 1
                else:
                    self.counts.spoken += 1
            finally:
                self.speaking = None

    def say_test(self) -> TestFired:
        """Queue a technician's test sentence in the hall's languages (spoken in its turn, after
        the calls already waiting, even in quiet hours)."""
        texts = tuple(
            wording.Spoken(language, TEST_SENTENCES.get(language, TEST_SENTENCES["en"]))
            for language in self.settings.languages
        )
        ahead = len(self._queue) + (self.speaking is not None)
        self._queue.append(Waiting(SpeakerTest(texts), time.monotonic()))
        self._more.set()
        log.info("speaker_test_queued", device=self.id, ahead=ahead)
        after = f", after {ahead} call(s) already waiting" if ahead else ""
        return TestFired("speak", f'speaks "{texts[0].text}"{after}')

    def _failed(self, announcement: Said, reason: str) -> None:
        self.counts.failed += 1
        self.health.error(reason)
        log.warning(
            "announcement_failed",
            device=self.id,
            ticket=announcement.ticket,
            window=announcement.window,
            reason=reason,
        )

    def _playing(
        self, item: Waiting, audio_s: float | None, rendered: int, file: Path | None
    ) -> None:
        """Record that `item` started to sound and tell on_playing."""
        at = time.monotonic()
        said = item.announcement
        if isinstance(said, SpeakerTest):
            self.health.sent(" / ".join(spoken.text for spoken in said.texts), "test")
        elif isinstance(said, EmergencySpeech):
            self.health.sent(said.spoken.text, "drill" if said.drill else "emergency")
        else:
            self.health.sent(f"{said.ticket} -> window {said.window}")
        if self.on_playing is not None:
            self.on_playing(
                Playing(item.announcement, at, at - item.since, audio_s, rendered, file)
            )

    async def speak(self, item: Waiting) -> None:
        """Say one announcement to its end; DeviceError if it could not be said."""
        raise NotImplementedError


# --- the edge box's own speakers ------------------------------------------------------------


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)[:40] or "_"


class TtsAnnouncer(Announcer):
    """Speakers on the edge box: espeak-ng renders (or the hall's clips), the profile's player.

    Renders are cached in `cache_dir`. With the profile's player "file" each announcement's WAV
    is written into `output_dir` instead of being played (a machine without a sound device).
    """

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        settings: AnnouncerSettings,
        cache_dir: Path,
        output_dir: Path | None = None,
        engine: SpeechEngine | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        super().__init__(config, context, settings=settings, stale_after_s=stale_after_s)
        speaker = config.profile.codec
        assert isinstance(speaker, TtsSpeakerSettings)
        self.speaker = speaker
        if settings.clips_dir is None:
            missing = [lang for lang in settings.languages if lang not in speaker.voices]
            if missing:
                raise ValueError(f"announcer {config.id}: no voice for {', '.join(missing)}")
        self.output_dir = output_dir
        self.player: Player
        if speaker.player is None:
            if output_dir is None:
                raise ValueError(f'announcer {config.id}: player "file" needs an output directory')
            self.player = FileOutput(output_dir, name=f"file output {config.id}")
        else:
            self.player = CommandPlayer(speaker.player, name=f"player {config.id}")
        self.cache = SpeechCache(cache_dir, engine if engine is not None else EspeakEngine())
        self._thread = AudioThread(f"audio {config.id}")
        self._slot = cache_dir / f"playing-{_safe(config.id)}.wav"
        self._sequence = 0

    async def start(self) -> None:
        """Start the audio thread, check the engine and the player, then speak the queue."""
        self._thread.start()
        try:
            problem = await self._thread.call(self._check, RENDER_TIMEOUT_S)
        except TransportError as exc:
            problem = str(exc)
        if problem is None:
            self.set_state(DeviceState.READY)
        else:
            self.set_state(DeviceState.ALERT, problem)
        await super().start()

    def _check(self) -> str | None:
        """What stops this announcer from speaking (runs in the audio thread); None: nothing."""
        if self.settings.clips_dir is None:
            _ = self.cache.engine.version  # loads espeak-ng: RenderFailed if it cannot
        if isinstance(self.player, CommandPlayer) and which(self.player.command[0]) is None:
            return f"{self.id}: the player {self.player.command[0]!r} is not installed"
        return None

    async def stop(self) -> None:
        """Stop the queue (killing a player that is playing) and the audio thread."""
        await super().stop()
        await self.player.stop()
        await self._thread.close()

    def plan(self, announcement: Said) -> SpeechPlan:
        """The audio of one announcement now: chime, parts, repeats, this hour's volume."""
        settings = self.settings
        parts: tuple[SpeechPart | ClipsPart, ...]
        repeat = settings.repeat
        if isinstance(announcement, SpeakerTest):
            # Synthesised even where the hall speaks recorded clips: it has no clips for it.
            voices = self.speaker.voices
            parts = tuple(
                SpeechPart(spoken.language, spoken.text, voices[spoken.language], self.speaker.rate)
                for spoken in announcement.texts
                if spoken.language in voices
            )
            if not parts:
                raise ValueError("no voice for any of the hall's languages")
            repeat = 1
        elif isinstance(announcement, EmergencySpeech):
            # The manager's own words: synthesised even where calls are recorded clips.
            spoken = announcement.spoken
            voices = self.speaker.voices
            voice = voices.get(spoken.language) or voices.get(settings.languages[0])
            if voice is None:
                raise ValueError(f"no voice for {spoken.language!r}")
            parts = (SpeechPart(spoken.language, spoken.text, voice, self.speaker.rate),)
            repeat = 1
        elif settings.clips_dir is not None:
            clips = settings.clips_dir
            parts = tuple(
                ClipsPart(
                    plan.language,
                    tuple((name, clips / plan.language / f"{name}.wav") for name in plan.clips),
                )
                for plan in wording.clip_plan(announcement, settings)
            )
        else:
            parts = tuple(
                SpeechPart(
                    spoken.language,
                    spoken.text,
                    self.speaker.voices[spoken.language],
                    self.speaker.rate,
                )
                for spoken in wording.texts(announcement, settings)
            )
        chime: Path | Literal["tone"] | None = None
        if settings.chime:
            chime = self.speaker.chime if self.speaker.chime is not None else "tone"
        return SpeechPlan(parts, repeat, chime, self.volume_now(announcement) / 100)

    def _target(self, announcement: Said) -> Path:
        if self.output_dir is None or not isinstance(self.player, FileOutput):
            return self._slot
        self._sequence += 1
        stamp = self.hall_time().strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{self._sequence:04d}-{_safe(announcement.ticket)}"
        return self.output_dir / f"{name}-w{_safe(announcement.window)}.wav"

    def _make(self, plan: SpeechPlan, target: Path) -> Assembled:
        """Assemble the WAV (runs in the audio thread); file output keeps the newest ones."""
        made = assemble(plan, target, self.cache)
        if self.output_dir is not None and target.parent == self.output_dir:
            prune(self.output_dir, KEEP_FILES)
        return made

    async def speak(self, item: Waiting) -> None:
        """Render (or take from the cache), then play to the end."""
        announcement = item.announcement
        try:
            plan = self.plan(announcement)
            work = functools.partial(self._make, plan, self._target(announcement))
            made = await self._thread.call(work, RENDER_TIMEOUT_S)
        except (TransportError, ValueError) as exc:
            self.set_state(DeviceState.ALERT, str(exc))
            raise DeviceRefused(f"{self.id}: cannot render {announcement.ticket}: {exc}") from exc
        started = functools.partial(self._playing, item, made.duration_s, made.rendered, made.path)
        try:
            await self.player.play(made.path, made.duration_s, started)
        except TransportError as exc:
            self.set_state(DeviceState.ALERT, str(exc))
            raise DeviceRefused(str(exc)) from exc
        if self.health.state is DeviceState.ALERT:
            self.set_state(DeviceState.READY)


# --- serial speech modules ------------------------------------------------------------------


class _ModuleLink:
    """The supervised side of a voice module: open and probe, read its answers, close."""

    def __init__(self, announcer: VoiceModuleAnnouncer) -> None:
        self.name = announcer.id
        self._announcer = announcer

    async def connect(self) -> None:
        await self._announcer._connect()

    async def serve(self) -> None:
        await self._announcer._serve()

    async def disconnect(self) -> None:
        await self._announcer._disconnect()

    def present(self) -> bool:
        return self._announcer._present()


class VoiceModuleAnnouncer(Announcer):
    """A serial speech module: one text at a time, sent only once the module is idle.

    Each text is sent, acknowledged (41), and the module's status polled until it has been busy
    (4E) and is idle again (4F). A module that does not answer within answer_timeout is lost:
    the port is closed, and the supervisor opens and probes it again (with backoff) until the
    module answers. Calls given while it is lost are counted as failed, not kept for later.
    """

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        settings: AnnouncerSettings,
        open_link: Callable[[SerialParams], ByteLink] | None = None,
        backoff: Backoff | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        super().__init__(config, context, settings=settings, stale_after_s=stale_after_s)
        module = config.profile.codec
        assert isinstance(module, VoiceModuleSettings)
        if config.port is None:
            raise ValueError(f"announcer {config.id}: a voice module needs a port")
        self.module = module
        self.codec = module.codec
        line = config.profile.serial
        params = SerialParams(
            config.port,
            baudrate=line.baudrate if line else 9600,
            bytesize=line.bytesize if line else 8,
            parity=line.parity if line else "N",
            stopbits=line.stopbits if line else 1,
        )
        self.link: ByteLink = (open_link or SerialLink)(params)
        self.supervisor = Supervisor(_ModuleLink(self), self._on_link, backoff=backoff)
        self.noise = 0  # bytes from the module that are no answer
        self._answers: deque[Answer] = deque()
        self._answered = asyncio.Event()
        self._talk = asyncio.Lock()
        self._up = False
        self._ready = asyncio.Event()
        self._lost_reason: str | None = None

    # --- the supervisor's side -------------------------------------------------------------

    def _on_link(self, state: DeviceState, reason: str | None) -> None:
        self._up = state is DeviceState.READY
        if self._up:
            self._ready.set()
        else:
            self._ready.clear()
        self.health.reconnects = self.supervisor.reconnects
        self.set_state(state, reason)

    def _present(self) -> bool:
        return True  # the probe decides

    async def _connect(self) -> None:
        timeouts = self.config.profile.timeouts
        self._lost_reason = None
        self._answers.clear()
        try:
            await self.link.open(timeouts.open_s)
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc
        try:
            await self._probe()
        except BaseException:
            await self.link.close()
            raise

    async def _probe(self) -> None:
        """Ask for the status, reading the answer here (the reader is not running yet)."""
        await self._write(voice_module.status_query(self.codec))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.module.answer_timeout_s
        while (left := deadline - loop.time()) > 0:
            try:
                data = await self.link.read(left)
            except LinkTimeout:
                break
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc
            self._heard(data)
            if any(answer in (Answer.BUSY, Answer.IDLE) for answer in self._answers):
                self._answers.clear()
                return
        raise DeviceLost(f"{self.id}: the module does not answer a status query")

    async def _serve(self) -> None:
        watch = asyncio.create_task(self._watch(), name=f"voice-watch:{self.id}")
        try:
            while True:
                try:
                    data = await self.link.read(60.0)
                except LinkTimeout:
                    continue
                except TransportError as exc:
                    raise DeviceLost(self._lost_reason or str(exc)) from exc
                self._heard(data)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _disconnect(self) -> None:
        self._up = False
        self._ready.clear()
        await self.link.close()

    async def _watch(self) -> None:
        """An idle module is asked for its status now and then: silence means it is lost."""
        every = self.config.profile.timeouts.ping_every_s
        if not every:
            return
        while True:
            await asyncio.sleep(every)
            if self._talk.locked():
                continue  # speaking: the exchanges themselves notice silence
            async with self._talk:
                with contextlib.suppress(DeviceError):
                    await self._status()

    def _heard(self, data: bytes) -> None:
        found, noise = voice_module.answers(data)
        if noise:
            self.noise += noise
            self.health.error(f"{noise} byte(s) from the module that are no answer")
        for answer in found:
            self.health.seen(self.context.clock(), bytes([answer]))
            self._answers.append(answer)
        if found:
            self._answered.set()

    # --- exchanges -------------------------------------------------------------------------

    async def _write(self, frame: bytes) -> None:
        try:
            await self.link.write(frame, self.config.profile.timeouts.write_s)
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc
        self.health.sent(frame)

    async def _ask(self, frame: bytes, wanted: frozenset[Answer], what: str) -> Answer:
        """Send `frame` and wait for one of the `wanted` answers (others are stale: skipped).
        No answer in time: the module is lost (the port is closed for the supervisor)."""
        self._answers.clear()
        await self._write(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.module.answer_timeout_s
        while True:
            while self._answers:
                answer = self._answers.popleft()
                if answer in wanted:
                    return answer
            left = deadline - loop.time()
            if left <= 0:
                reason = f"{self.id}: no answer to {what} in {self.module.answer_timeout_s:g} s"
                await self._drop(reason)
                raise DeviceLost(reason)
            self._answered.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._answered.wait()

    async def _drop(self, reason: str) -> None:
        """The module went silent: close the port, so the reader ends and the supervisor probes."""
        if self._up:
            self._lost_reason = reason
            self._up = False
            self._ready.clear()
            await self.link.close()

    async def _status(self) -> Answer:
        return await self._ask(voice_module.status_query(self.codec), _STATES, "a status query")

    async def _until_idle(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while await self._status() is Answer.BUSY:
            if loop.time() > deadline:
                raise DeviceRefused(f"{self.id}: the module is still busy after {within:g} s")
            await asyncio.sleep(self.module.poll_every_s)

    async def _say(self, frame: bytes, started: Callable[[], None] | None) -> None:
        """One text: wait for idle, send, then wait until the module has spoken it (its own 4F,
        or a status query that finds it idle after it was busy)."""
        module = self.module
        await self._until_idle(module.busy_timeout_s)
        if await self._ask(frame, _ACKS, "a text") is Answer.BAD_FRAME:
            raise DeviceRefused(f"{self.id}: the module refused the text frame (45)")
        if started is not None:
            started()
        loop = asyncio.get_running_loop()
        began = loop.time()
        seen_busy = False
        while not await self._idle_within(module.poll_every_s):
            state = await self._status()
            spent = loop.time() - began
            if state is Answer.BUSY:
                seen_busy = True
            elif seen_busy or spent >= MODULE_START_S:
                return
            if spent > module.busy_timeout_s:
                raise DeviceRefused(f"{self.id}: still speaking after {spent:.0f} s")

    async def _idle_within(self, seconds: float) -> bool:
        """Whether the module says 4F by itself (it has finished) within `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            while self._answers:
                if self._answers.popleft() is Answer.IDLE:
                    return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._answered.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._answered.wait()

    def texts(self, announcement: Said) -> list[str]:
        """What the module is sent for one announcement, frame by frame."""
        settings = self.settings
        steps = self.module.volume_steps
        mark = voice_module.volume_tag(self.volume_now(announcement), steps) if steps else ""
        if isinstance(announcement, SpeakerTest):
            return [mark + spoken.text for spoken in announcement.texts]
        chime = [mark + self.module.chime_text] if settings.chime and self.module.chime_text else []
        if isinstance(announcement, EmergencySpeech):
            # A long message goes in several texts, each as long as the module reads.
            pieces = emergency.split(announcement.spoken.text, lambda text: self._fits(mark + text))
            return chime + [mark + piece for piece in pieces]
        spoken = [mark + part.text for part in wording.texts(announcement, settings)]
        return chime + spoken * settings.repeat

    def _fits(self, text: str) -> bool:
        """Whether the module takes `text` in one frame."""
        try:
            voice_module.encode_text(self.codec, text)
        except VoiceTextError:
            return False
        return True

    async def speak(self, item: Waiting) -> None:
        """Send each text once the module is idle; DeviceLost while the module is lost."""
        if not self._up and self.health.state is not DeviceState.LOST:
            # Starting up, trying again, or just dropped: wait as long as one attempt takes.
            attempt = self.config.profile.timeouts.open_s + self.module.answer_timeout_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(attempt):
                    await self._ready.wait()
        if not self._up:
            raise DeviceLost(f"{self.id}: the module is lost; call not spoken")
        try:
            frames = [voice_module.synthesize(self.codec, t) for t in self.texts(item.announcement)]
        except VoiceTextError as exc:
            raise DeviceRefused(f"{self.id}: {exc}") from exc
        started: Callable[[], None] | None = functools.partial(self._playing, item, None, 0, None)
        async with self._talk:
            for frame in frames:
                await self._say(frame, started)
                started = None

    async def start(self) -> None:
        """Start the supervisor (open, probe, read) and the queue."""
        self.supervisor.start()
        await super().start()

    async def stop(self) -> None:
        """Stop the queue, then close the port."""
        await super().stop()
        await self.supervisor.stop()


class ScreenVoice:
    """Calls and the emergency's message in the edge box's Mandarin voice, for hall displays
    that speak in the browser.

    It fills the services' CallVoice port: the Chinese template of [announcer], rendered by
    espeak-ng in its own audio thread (started at the first call) and cached on disk with the
    announcers' renders.
    """

    def __init__(
        self,
        settings: AnnouncerSettings,
        cache_dir: Path,
        *,
        voice: str = "cmn-latn-pinyin",
        rate: int = 150,
    ) -> None:
        self.settings = dataclasses.replace(settings, languages=("zh",))
        self.cache = SpeechCache(cache_dir, EspeakEngine())
        self.voice = voice
        self.rate = rate
        self._thread = AudioThread("audio screens")

    async def call_wav(self, number: str, window: str) -> bytes | None:
        """The spoken call as WAV bytes; None when espeak-ng cannot render it here."""
        call = Announcement(number, window, "", "", recall=False)
        (spoken,) = wording.texts(call, self.settings)
        part = SpeechPart("zh", spoken.text, self.voice, self.rate)
        return await self._wav(part, ticket=number, window=window)

    async def emergency_wav(self, message: str, drill: bool) -> bytes | None:
        """The emergency's message as the speakers say it ("紧急通知：..."), as WAV bytes; None
        when espeak-ng cannot render it here."""
        spoken = emergency.spoken(message, drill, self.settings.languages)
        part = SpeechPart(spoken.language, spoken.text, self.voice, self.rate)
        return await self._wav(part, emergency=True, drill=drill)

    async def _wav(self, part: SpeechPart, **what: object) -> bytes | None:
        """`part` rendered in the audio thread (or from the cache); None, logged, on failure."""
        self._thread.start()
        try:
            return await self._thread.call(lambda: self.cache.get(part)[0].read_bytes(), 20.0)
        except (TransportError, OSError) as exc:
            log.warning("screen_voice_failed", error=str(exc), **what)
            return None

    async def close(self) -> None:
        """End the audio thread (after the render in hand)."""
        await self._thread.close()
