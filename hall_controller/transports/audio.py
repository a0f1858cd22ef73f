"""The edge box's own sound: speech rendered in one thread per announcer, WAVs played by a player.

An `AudioThread` runs an announcer's blocking work in order, off the event loop: espeak-ng
renders (through pyttsx3), the render cache on disk, reading clips and writing WAVs with the
`wave` module. `assemble()` carries out a `SpeechPlan` there: chime, each language's part,
repeats, the volume, into one WAV. A `CommandPlayer` plays it with an asyncio subprocess (aplay,
paplay, pw-play) bounded by a timeout from the audio's duration; `FileOutput` stands in for a
speaker on a machine without one (the WAV is written into a directory and takes its duration).

Every OS or library failure leaves this module as LinkDown (RenderFailed, PlayerFailed) or
LinkTimeout.
"""

from __future__ import annotations

import array
import asyncio
import atexit
import contextlib
import functools
import hashlib
import math
import os
import queue
import shutil
import signal
import sys
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from .errors import LinkDown, LinkTimeout
from .threads import post

T = TypeVar("T")

GAP_S = 0.5  # silence between the chime, the languages and the repeats
# A player is given the audio's duration plus this (and a share of it) before it is killed.
PLAYER_GRACE_S = 3.0
PLAYER_SLACK = 0.5
# How long a killed player is waited for: one stuck in the kernel (a sound device gone in the
# middle of a write) ends when it can, and the queue goes on without it.
KILL_WAIT_S = 2.0
# pyttsx3 reports the end of a render from espeak-ng's own thread; past this it never will.
RENDER_TIMEOUT_S = 15.0
_JOIN_S = 2.0
_STDERR_SHOWN = 300


class RenderFailed(LinkDown):
    """A WAV could not be made: a clip missing or in another format, espeak-ng failing, disk."""


class PlayerFailed(LinkDown):
    """The player could not be started or ended with an error."""


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechPart:
    """Text for espeak-ng in one voice (one language of the announcement)."""

    language: str
    text: str
    voice: str
    rate: int  # words per minute


@dataclass(frozen=True, slots=True)
class ClipsPart:
    """Recorded clips spliced in order (one language of the announcement): (name, file)."""

    language: str
    clips: tuple[tuple[str, Path], ...]


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    """One announcement as audio: chime, the parts, `repeat` times, at `gain` (1.0: as is)."""

    parts: tuple[SpeechPart | ClipsPart, ...]
    repeat: int = 1
    chime: Path | Literal["tone"] | None = "tone"
    gain: float = 1.0
    gap_s: float = GAP_S


@dataclass(frozen=True, slots=True)
class Assembled:
    """A WAV ready for the player."""

    path: Path
    duration_s: float
    rendered: int  # texts espeak-ng rendered for it (0: every text came from the cache)
    cached: int  # texts taken from the cache


@dataclass(frozen=True, slots=True)
class WavFormat:
    """A WAV's sample format; clips spliced together must share one."""

    channels: int
    sample_width: int  # bytes per sample
    rate: int

    def __str__(self) -> str:
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return f"{self.rate} Hz {layout} {8 * self.sample_width}-bit"


# --- the speech engine ----------------------------------------------------------------------


class SpeechEngine(Protocol):
    """Renders text to a WAV file (blocking; called from an AudioThread only)."""

    @property
    def version(self) -> str:
        """What a render depends on besides text, voice and rate (part of the cache key)."""
        ...

    def render(self, text: str, voice: str, rate: int, path: Path) -> None:
        """Write `text` spoken in `voice` at `rate` to `path`; RenderFailed if it cannot."""
        ...


# espeak-ng is one engine per process (pyttsx3 keeps one per driver, and espeak-ng's output
# callback is global): the render threads of several announcers take turns.
_ESPEAK_LOCK = threading.Lock()
_espeak: Any = None


def _discard(*args: object, **kwargs: object) -> None:
    """Swallows what pyttsx3's espeak driver prints."""


def _espeak_engine() -> Any:
    """The process's pyttsx3 espeak engine (call with _ESPEAK_LOCK held)."""
    global _espeak
    if _espeak is None:
        import pyttsx3
        from pyttsx3.drivers import espeak as espeak_driver

        # save_to_file prints "Audio saved to ..." from espeak-ng's thread on every render.
        # Silencing the driver module's own print keeps it out of our output without
        # swapping sys.stdout under every other thread (contextlib.redirect_stdout would).
        espeak_driver.print = _discard
        _espeak = pyttsx3.init("espeak")
        atexit.register(_release_espeak)
    return _espeak


def _release_espeak() -> None:
    """Let the engine go before the interpreter tears its modules down (pyttsx3's __del__
    needs them)."""
    global _espeak
    # A render still running in a daemon thread keeps it: exit must not wait for it.
    if _ESPEAK_LOCK.acquire(timeout=1.0):
        _espeak = None
        _ESPEAK_LOCK.release()


class EspeakEngine:
    """espeak-ng through pyttsx3: save_to_file, one utterance per runAndWait.

    pyttsx3's espeak driver renders in espeak-ng's own thread and runAndWait may return before
    the file is written (always on the first render), so the render waits for the driver's
    "finished-utterance" notice. A voice espeak-ng does not know is reported through the
    driver's "error" notice (the render would go on in the previous voice): it fails the render.
    """

    def __init__(self, *, timeout_s: float = RENDER_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._version: str | None = None

    @property
    def version(self) -> str:
        """pyttsx3's and espeak-ng's versions."""
        if self._version is None:
            with _ESPEAK_LOCK:
                try:
                    _espeak_engine()
                    from pyttsx3.drivers import _espeak as library

                    espeak = library.Info().decode("ascii", "replace")
                except (OSError, RuntimeError, AttributeError) as exc:
                    raise RenderFailed(f"espeak-ng is not usable ({exc})") from exc
                self._version = f"pyttsx3 {metadata.version('pyttsx3')}, espeak-ng {espeak}"
        return self._version

    def render(self, text: str, voice: str, rate: int, path: Path) -> None:
        """Render into `path` (a WAV of 22.05 kHz mono 16-bit); RenderFailed if it cannot."""
        with _ESPEAK_LOCK:
            done = threading.Event()
            errors: list[str] = []

            def finished(**_: object) -> None:
                done.set()

            def failed(exception: object = None, **_: object) -> None:
                errors.append(str(exception))

            try:
                engine = _espeak_engine()
                tokens = [
                    engine.connect("finished-utterance", finished),
                    engine.connect("error", failed),
                ]
                try:
                    engine.setProperty("voice", voice)
                    engine.setProperty("rate", rate)
                    engine.save_to_file(text, os.fspath(path))
                    engine.runAndWait()
                    ended = done.wait(self.timeout_s)
                finally:
                    for token in tokens:
                        engine.disconnect(token)
            except (OSError, RuntimeError, ValueError) as exc:
                raise RenderFailed(f"espeak-ng failed on {text!r} ({exc})") from exc
            if errors:
                raise RenderFailed(f"espeak-ng, voice {voice!r}: {errors[0]}")
            if not ended:
                raise RenderFailed(f"espeak-ng did not finish {text!r} in {self.timeout_s:g} s")


class SpeechCache:
    """Renders kept on disk, keyed by text, voice, rate and engine version; oldest-used pruned.

    Each render is written under a temporary name and renamed into place, so a crash never
    leaves half a file under a key; a file a power cut left empty or short there anyway (the
    rename reached the disk before the data) is rendered again. Pruned at each run's first
    render and every 50 renders after. Only the AudioThread that owns it uses it.
    """

    def __init__(self, directory: Path, engine: SpeechEngine, *, limit: int = 500) -> None:
        self.directory = directory
        self.engine = engine
        self.limit = limit
        self.rendered = 0
        self.hits = 0

    def path_for(self, part: SpeechPart) -> Path:
        """Where the render of `part` is kept."""
        key = "\n".join((self.engine.version, part.voice, str(part.rate), part.text))
        return self.directory / f"tts-{hashlib.sha256(key.encode()).hexdigest()[:32]}.wav"

    def get(self, part: SpeechPart) -> tuple[Path, bool]:
        """The render of `part` and whether it was rendered just now (False: from the cache)."""
        path = self.path_for(part)
        try:
            os.utime(path)  # the cache forgets the least recently used renders first
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise RenderFailed(f"render cache {path}: {exc}") from exc
        else:
            if _whole_wav(path):
                self.hits += 1
                return path, False
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.wav")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.engine.render(part.text, part.voice, part.rate, temporary)
            read_wav(temporary, f"the render of {part.text!r}")
            os.replace(temporary, path)
        except OSError as exc:
            raise RenderFailed(f"render cache {path}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self.rendered += 1
        if self.rendered % 50 == 1:
            prune(self.directory, self.limit, prefix="tts-")
        return path, True


def _whole_wav(path: Path) -> bool:
    """Whether `path` is a WAV holding every frame its header counts (blocking)."""
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            size = wav.getnframes() * wav.getnchannels() * wav.getsampwidth()
            return len(wav.readframes(wav.getnframes())) == size
    except (OSError, EOFError, wave.Error):
        return False


# --- WAV work (blocking: in an AudioThread) -------------------------------------------------


def read_wav(path: Path, what: str) -> tuple[WavFormat, bytes]:
    """A WAV's format and PCM frames; RenderFailed naming `what` if it is missing or broken."""
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            form = WavFormat(wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            return form, wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise RenderFailed(f"{what} is missing: {path}") from None
    except (OSError, EOFError, wave.Error) as exc:
        raise RenderFailed(f"{what} is not a PCM WAV ({path}: {exc})") from exc


def write_wav(path: Path, form: WavFormat, frames: bytes) -> None:
    """Write a WAV atomically: a reader (a player) never sees half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(os.fspath(temporary), "wb") as wav:
            wav.setnchannels(form.channels)
            wav.setsampwidth(form.sample_width)
            wav.setframerate(form.rate)
            wav.writeframes(frames)
        os.replace(temporary, path)
    except (OSError, wave.Error) as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise RenderFailed(f"cannot write {path}: {exc}") from exc


def silence(form: WavFormat, seconds: float) -> bytes:
    """`seconds` of silence in `form` (16-bit and wider: zero; 8-bit: the midpoint 128)."""
    frames = round(form.rate * seconds)
    fill = b"\x80" if form.sample_width == 1 else b"\x00"
    return fill * (frames * form.channels * form.sample_width)


def _samples(frames: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":  # WAV samples are little-endian
        samples.byteswap()
    return samples


def _frames(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@functools.lru_cache(maxsize=4)
def _gain_table(gain: float) -> tuple[int, ...]:
    """Every 16-bit sample value at `gain`, clipped; indexed by the sample itself (a negative
    sample indexes from the end, where its scaled value is)."""
    values = range(65536)
    signed = (v - 65536 if v >= 32768 else v for v in values)
    return tuple(max(-32768, min(32767, int(s * gain))) for s in signed)


def scale(frames: bytes, form: WavFormat, gain: float) -> bytes:
    """16-bit PCM frames at `gain` (0.5: half the amplitude), clipped to the 16-bit range."""
    if gain == 1.0:
        return frames
    if form.sample_width != 2:
        raise RenderFailed(f"the volume can only be set on 16-bit audio, not {form}")
    # A table lookup per sample costs about two thirds of computing it.
    table = _gain_table(gain)
    return _frames(array.array("h", map(table.__getitem__, _samples(frames))))


@functools.lru_cache(maxsize=8)
def chime_tone(form: WavFormat) -> bytes:
    """A two-note chime (E5 then C5, each fading out) in `form`, which must be 16-bit."""
    if form.sample_width != 2:
        raise RenderFailed(f"the chime can only be made for 16-bit audio, not {form}")
    samples = array.array("h")
    for frequency, seconds in ((659.25, 0.35), (523.25, 0.6)):
        count = round(form.rate * seconds)
        for i in range(count):
            t = i / form.rate
            envelope = math.exp(-4.0 * t / seconds) * min(1.0, i / (0.005 * form.rate))
            value = math.sin(2 * math.pi * frequency * t) + 0.3 * math.sin(
                4 * math.pi * frequency * t
            )
            sample = int(12000 * envelope * value)
            samples.extend([sample] * form.channels)
    return _frames(samples)


def _part_audio(part: SpeechPart | ClipsPart, cache: SpeechCache) -> tuple[WavFormat, bytes, bool]:
    """The part's format, frames, and whether it was rendered now."""
    if isinstance(part, SpeechPart):
        path, rendered = cache.get(part)
        form, frames = read_wav(path, f"the render of {part.text!r}")
        return form, frames, rendered
    if not part.clips:
        raise RenderFailed(f"the {part.language} template names no clip")
    first_name, first_path = part.clips[0]
    form, frames = read_wav(first_path, f"clip {first_name!r}")
    pieces = [frames]
    for name, path in part.clips[1:]:
        clip_form, clip = read_wav(path, f"clip {name!r}")
        if clip_form != form:
            raise RenderFailed(
                f"clip {name!r} ({path.name}) is {clip_form}; clip {first_name!r} "
                f"({first_path.name}) is {form}: every clip must share one format"
            )
        pieces.append(clip)
    return form, b"".join(pieces), False


def assemble(plan: SpeechPlan, target: Path, cache: SpeechCache) -> Assembled:
    """Carry out `plan` into the WAV `target` (blocking); RenderFailed naming what is wrong."""
    if not plan.parts:
        raise RenderFailed("nothing to say")
    parts = [(part, *_part_audio(part, cache)) for part in plan.parts]
    form = parts[0][1]
    for part, part_form, _, _ in parts[1:]:
        if part_form != form:
            raise RenderFailed(
                f"the {part.language} part is {part_form}, the {parts[0][0].language} part "
                f"{form}: every part must share one format"
            )
    gap = silence(form, plan.gap_s)
    # Silence needs no scaling, and a repeat is the same samples: each is scaled once.
    body = scale(gap.join(frames for _, _, frames, _ in parts), form, plan.gain)
    audio = gap.join([body] * max(1, plan.repeat))
    if plan.chime == "tone":
        audio = scale(chime_tone(form), form, plan.gain) + gap + audio
    elif plan.chime is not None:
        chime_form, chime = read_wav(plan.chime, "the chime")
        if chime_form != form:
            raise RenderFailed(f"the chime {plan.chime.name} is {chime_form}, the speech {form}")
        audio = scale(chime, form, plan.gain) + gap + audio
    write_wav(target, form, audio)
    frame_bytes = form.channels * form.sample_width
    rendered = sum(1 for _, _, _, new in parts if new)
    spoken = sum(1 for part in plan.parts if isinstance(part, SpeechPart))
    return Assembled(target, len(audio) / frame_bytes / form.rate, rendered, spoken - rendered)


def prune(directory: Path, keep: int, *, prefix: str = "", suffix: str = ".wav") -> int:
    """Delete all but the `keep` most recently modified matching files; how many went."""
    try:
        entries = [
            (entry.stat().st_mtime, entry.path)
            for entry in os.scandir(directory)
            if entry.name.startswith(prefix) and entry.name.endswith(suffix)
        ]
    except OSError:
        return 0
    entries.sort(reverse=True)
    removed = 0
    for _, path in entries[keep:]:
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
    return removed


def which(program: str) -> str | None:
    """The program's path if it can be run (a path, or a name on PATH); blocking."""
    return shutil.which(program)


# --- the thread -----------------------------------------------------------------------------


_Job = tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller stopped waiting (timeout or cancel)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class AudioThread:
    """One thread doing an announcer's blocking audio work in order; results posted to the loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between start() and close()."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (does nothing if it runs)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    async def call(self, work: Callable[[], T], timeout: float) -> T:
        """`work()` run in the thread after the work queued before it; LinkTimeout past
        `timeout` (the work still finishes in the thread, its result is dropped)."""
        if self._thread is None:
            raise LinkDown(f"{self.name}: not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((work, future, loop))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise LinkTimeout(f"{self.name}: audio work did not finish in {timeout:g} s") from None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, future, loop = job
            try:
                result = work()
            except Exception as exc:
                post(loop, _settle, future, None, exc)
            else:
                post(loop, _settle, future, result, None)

    async def close(self) -> None:
        """Finish the work in hand, then end the thread (waiting up to 2 s); idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, _JOIN_S)


# --- players --------------------------------------------------------------------------------


OnStart = Callable[[], None]


class Player(Protocol):
    """Plays a WAV to the end; one at a time."""

    name: str

    async def play(self, path: Path, duration_s: float, on_start: OnStart | None = None) -> None:
        """Play `path`; on_start() once its first sample is the player's. PlayerFailed or
        LinkTimeout (the player was killed) if it does not end well."""
        ...

    async def stop(self) -> None:
        """Cut off what is playing now (a shutdown)."""
        ...


def player_timeout(duration_s: float, grace_s: float = PLAYER_GRACE_S) -> float:
    """How long a player may take for audio of `duration_s` before it is taken to hang."""
    return duration_s * (1 + PLAYER_SLACK) + grace_s


class CommandPlayer:
    """A player program (aplay -q {file}, paplay {file}, pw-play {file}) per announcement.

    The player runs in a session of its own, so killing it at its timeout also kills anything
    it started.
    """

    def __init__(
        self, command: Sequence[str], *, name: str = "player", grace_s: float = PLAYER_GRACE_S
    ) -> None:
        if not command or not any("{file}" in part for part in command):
            raise ValueError('a player command is a list of strings with "{file}" in one of them')
        self.command = tuple(command)
        self.name = name
        self.grace_s = grace_s  # beyond the audio's duration and half of it again
        self._process: asyncio.subprocess.Process | None = None

    def argv(self, path: Path) -> list[str]:
        """The command line that plays `path`."""
        return [part.replace("{file}", os.fspath(path)) for part in self.command]

    async def play(self, path: Path, duration_s: float, on_start: OnStart | None = None) -> None:
        """Run the player on `path` until it ends; killed after player_timeout()."""
        argv = self.argv(path)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise PlayerFailed(f"{self.name}: cannot start {argv[0]} ({exc})") from exc
        self._process = process
        if on_start is not None:
            on_start()
        timeout = player_timeout(duration_s, self.grace_s)
        try:
            async with asyncio.timeout(timeout):
                _, err = await process.communicate()
        except TimeoutError:
            await self._kill(process)
            raise LinkTimeout(
                f"{self.name}: {argv[0]} still playing {duration_s:.1f} s of audio after "
                f"{timeout:.1f} s: killed"
            ) from None
        except asyncio.CancelledError:
            await self._kill(process)
            raise
        finally:
            if self._process is process:
                self._process = None
        if process.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[-_STDERR_SHOWN:]
            raise PlayerFailed(
                f"{self.name}: {argv[0]} ended with status {process.returncode}"
                + (f": {detail}" if detail else "")
            )

    async def _kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            async with asyncio.timeout(KILL_WAIT_S):
                await process.wait()

    async def stop(self) -> None:
        """Kill the player that is playing, if one is."""
        process = self._process
        if process is not None:
            await self._kill(process)


class FileOutput:
    """A speaker that is not there: the WAV is already in the output directory; playing it
    takes its duration, so announcements follow each other as on a real speaker."""

    def __init__(self, directory: Path, *, name: str = "file output") -> None:
        self.directory = directory
        self.name = name
        self._playing: asyncio.Event | None = None

    async def play(self, path: Path, duration_s: float, on_start: OnStart | None = None) -> None:
        """Take `duration_s`, as a speaker would (stop() ends it at once)."""
        if on_start is not None:
            on_start()
        stopped = asyncio.Event()
        self._playing = stopped
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration_s):
                    await stopped.wait()
        finally:
            self._playing = None

    async def stop(self) -> None:
        """End the current announcement's time."""
        if self._playing is not None:
            self._playing.set()
