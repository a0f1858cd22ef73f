"""Announcement latency: from `announce()` to the first audio sample handed to the player.

A TtsAnnouncer built from device_profiles/espeak-speaker.toml (espeak-ng through pyttsx3, a
chime, Mandarin then English) plays each call with `cat {file} > /dev/null` instead of aplay:
the measuring point is the player's start (TtsAnnouncer.on_playing), when the whole WAV is
on disk and the player process exists; the next call is given once the previous one has been
played, so no call waits in the queue. Three phases of --calls calls each:

* uncached: every call a new ticket, so both texts are rendered by espeak-ng (target <= 1 s);
* cached: the same calls again, both texts from the render cache (target <= 200 ms);
* cached at 60 %: the same with the volume of the hour below 100 %, which scales every sample.

Then the render speed of espeak-ng alone: seconds of audio per second of rendering.

    .venv/bin/python bench/announce_latency.py --calls 40

Prints figures; asserts nothing (exit 0 unless something fails to render or play).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import replace
from datetime import time as clock_time
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

from hall_controller.devices.announcer import Playing, TtsAnnouncer
from hall_controller.devices.base import DeviceContext
from hall_controller.devices.model import Announcement
from hall_controller.logs import configure_logging
from hall_controller.profiles import (
    AnnouncerSettings,
    DeviceConfig,
    TtsSpeakerSettings,
    validate_profile_text,
)
from hall_controller.transports.audio import EspeakEngine

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "device_profiles" / "espeak-speaker.toml"
PLAYER = ("sh", "-c", 'cat "$0" > /dev/null', "{file}")
WAIT_S = 30.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def row(name: str, values: list[float], target_ms: float | None) -> str:
    ms = [v * 1000 for v in values]
    p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
    verdict = "" if target_ms is None else ("PASS" if p99 <= target_ms else "MISS")
    goal = "" if target_ms is None else f"<= {target_ms:.0f}"
    return f"{name:<26} {len(ms):>5} {p50:>8.1f} {p99:>8.1f} {max(ms):>8.1f} {goal:>8} {verdict:>6}"


def announcer(workdir: Path, settings: AnnouncerSettings, clock: list[float]) -> TtsAnnouncer:
    profile = validate_profile_text(PROFILE.read_text(encoding="utf-8"), str(PROFILE))
    assert isinstance(profile.codec, TtsSpeakerSettings)
    profile = replace(profile, codec=replace(profile.codec, player=PLAYER))
    config = DeviceConfig(
        id="bench-speaker",
        profile=profile,
        window=None,
        port=None,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        zone="hall",
    )
    context = DeviceContext(lambda: clock[0], lambda item, device: None, lambda device: None)
    return TtsAnnouncer(config, context, settings=settings, cache_dir=workdir / "cache")


async def phase(speaker: TtsAnnouncer, calls: list[Announcement]) -> list[Playing]:
    """Give each call once the previous one has been played; what on_playing saw."""
    seen: list[Playing] = []
    speaker.on_playing = seen.append
    for call in calls:
        done = speaker.counts.spoken + speaker.counts.failed
        speaker.announce(call)
        # on_playing tells when a call starts to sound, not when it has ended: poll the counts.
        async with asyncio.timeout(WAIT_S):
            # Polled: the counts are plain integers, and no event marks their change.
            while speaker.counts.spoken + speaker.counts.failed == done:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
        if speaker.counts.failed:
            raise SystemExit(f"announcement failed: {speaker.health.last_error}")
    return seen


def render_speed(workdir: Path, count: int) -> tuple[float, float]:
    """espeak-ng alone (blocking: run it in a thread): seconds of audio, seconds rendering."""
    engine = EspeakEngine()
    audio = spent = 0.0
    for n in range(count):
        ticket = " ".join(f"B{n:03d}")
        window = n % 12 + 1
        for voice, text in (
            ("cmn-latn-pinyin", f"请 {ticket} 号 到 {window} 号窗口 办理"),
            ("en-us", f"Number {ticket}, please go to window {window}"),
        ):
            path = workdir / f"speed-{n}-{voice}.wav"
            start = time.perf_counter()
            engine.render(text, voice, 150, path)
            spent += time.perf_counter() - start
            with wave.open(str(path), "rb") as wav:
                audio += wav.getnframes() / wav.getframerate()
            os.unlink(path)
    return audio, spent


async def main(args: argparse.Namespace) -> int:
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="announce-bench-") as temp:
        workdir = Path(temp)
        clock = [time.time()]
        base = AnnouncerSettings(languages=("zh", "en"))
        # The volume phase runs at a fixed hour whose setting is 60 %.
        quieter = replace(base, volume=((clock_time(0, 0), 60),))
        calls = [
            Announcement(f"A{n:03d}", str(n % 12 + 1), f"{n % 12 + 1}号窗口", "", False)
            for n in range(1, args.calls + 1)
        ]
        print(
            f"announce_latency: python {sys.version.split()[0]}, pyttsx3 "
            f"{metadata.version('pyttsx3')}, {os.cpu_count()} CPUs, {args.calls} calls per phase"
        )
        print(f"player: {' '.join(PLAYER)}; chime + Mandarin + English per call")
        results: list[tuple[str, list[Playing], float | None]] = []
        for name, settings, target in (
            ("uncached (espeak-ng)", base, 1000.0),
            ("cached", base, 200.0),
            ("cached, volume 60 %", quieter, 200.0),
        ):
            speaker = announcer(workdir, settings, clock)
            await speaker.start()
            try:
                results.append((name, await phase(speaker, calls), target))
            finally:
                await speaker.stop()
        print()
        print(
            f"{'announce() -> player (ms)':<26} {'calls':>5} {'p50':>8} {'p99':>8} {'max':>8} "
            f"{'target':>8} {'result':>6}"
        )
        for label, seen, goal in results:
            print(row(label, [p.waited_s for p in seen], goal))
        audio = statistics.mean(p.audio_s or 0.0 for p in results[0][1])
        rendered = sum(p.rendered for p in results[0][1])
        from_cache = sum(p.rendered for _, seen, _ in results[1:] for p in seen)
        print(
            f"audio per call {audio:.2f} s; texts rendered: {rendered} uncached, "
            f"{from_cache} in the cached phases"
        )
        cold = results[0][1][0]
        print(f"first call of the process (espeak-ng starting): {cold.waited_s * 1000:.0f} ms")
        audio_s, render_s = await asyncio.to_thread(render_speed, workdir, args.speed_calls)
        print(
            f"espeak-ng render speed: {audio_s:.1f} s of audio in {render_s:.2f} s = "
            f"{audio_s / render_s:.0f}x real time ({2 * args.speed_calls} texts)"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per phase (40)")
    parser.add_argument("--speed-calls", type=int, default=40, help="calls for the speed (40)")
    sys.exit(asyncio.run(main(parser.parse_args())))
