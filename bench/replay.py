"""Restart time: restore a business day of 10,000 tickets and their calls from the event log.

First builds a data directory holding one busy business day, by driving the controller's own
use cases (``hall_controller.services.HallService``, opened with ``open_hall`` exactly as the
controller opens it) with a fake clock: 12 windows open at 08:55; 10,000 applicants arrive
between 09:00 and 17:00; each ticket is called, started and finished (half of them rated), a
few are recalled, marked no-show or transferred to another theme and called again, and windows
pause now and then. Snapshots are written as the controller writes them: every
``max(snapshot_every, tickets)`` events (``snapshot_every`` is 2000 in the demo hall) and
once more at the clean close (``Controller.close``).

Then it times ``open_hall(settings, data_dir, clock)``, which opens the event log and calls
``HallService.load()`` (the day's latest snapshot plus a replay of the events after it), on
copies of that directory:

* ``clean close``: as the controller leaves it after SIGTERM: the snapshot covers every event;
* ``crash``: the snapshot written at close removed, so the last periodic snapshot and the
  events after it are replayed (a kill -9 or power loss somewhere in the day);
* ``no snapshot``: every snapshot removed: a full replay of the day's events.

Each restored state is checked against the state the build ended with. With ``--process`` it
also times a whole controller process, ``python -m hall_controller run``, from spawn to its
"listening" log line (interpreter start and imports included) on the clean-close copy.

Target: a restart under 0.5 s (judged on the median ``open_hall``; the max is shown too).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import heapq
import io
import json
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench_config import ROOT, bench_config_text

from hall_controller.app import EVENT_LOG_FILE, open_hall
from hall_controller.core.calendar import business_day
from hall_controller.core.snapshot import to_snapshot
from hall_controller.logs import configure_logging
from hall_controller.services import HallService, Reply
from hall_controller.settings import Settings, validate_settings_text
from hall_controller.store import EventLog

TARGET_S = 0.5
ACTOR = "bench:replay"

CLEAN = "clean close"
CRASH = "crash"
NO_SNAPSHOT = "no snapshot"
VARIANTS = (CLEAN, CRASH, NO_SNAPSHOT)


class FakeClock:
    """A settable clock to hand to the service."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------- building the day


@dataclass(slots=True)
class BuildStats:
    """What the build produced."""

    day: str
    tickets: int
    events: int
    counts: dict[str, int]
    seconds: float
    end_at: float
    state: dict[str, Any]


# Arrival weights of the demo hall's themes, as the demo simulation uses them.
_WEIGHTS = (5, 3, 3, 2, 1, 3)


@dataclass(slots=True)
class _Sim:
    service: HallService
    clock: FakeClock
    rng: random.Random
    themes: list[str]
    groups: list[str]
    queue: list[tuple[float, int, str, str]] = field(default_factory=list)
    current: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    arrivals_left: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def at(self, when: float, window: str, action: str) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, window, action))

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def window(self, action: str, window: str, **kwargs: Any) -> Reply:
        self.count(action)
        return await self.service.window_action(window, action, actor=ACTOR, **kwargs)

    async def step(self, when: float, window: str, action: str) -> None:
        service, rng = self.service, self.rng
        if action == "arrive":
            self.arrivals_left -= 1
            theme = rng.choices(self.themes, weights=_WEIGHTS[: len(self.themes)])[0]
            priority = rng.choice(self.groups) if rng.random() < 0.1 else None
            channel = "kiosk" if rng.random() < 0.8 else "wechat"
            self.count("issue")
            await service.issue_ticket(
                theme=theme, priority=priority, id_number=None, channel=channel, actor=ACTOR
            )
        elif action == "open":
            await self.window("open", window)
            self.at(when + 1, window, "call")
        elif action == "call":
            reply = await service.call(window, ticket=None, actor=ACTOR)
            if reply.status == 204:
                if self.arrivals_left or len(service.hall.book):
                    self.at(when + 10, window, "call")  # nobody waits: look again soon
                else:
                    self.at(when + 1, window, "close")
                return
            self.count("call")
            self.current[window] = reply.body["ticket"]["id"]
            roll = rng.random()
            if roll < 0.04:
                self.at(when + 30, window, "recall-then-no-show")
            elif roll < 0.07:
                self.at(when + 30, window, "recall-then-start")
            else:
                self.at(when + rng.uniform(3, 10), window, "start")
        elif action.startswith("recall-then-"):
            await self.window("recall", window)
            self.at(when + 30, window, action.removeprefix("recall-then-"))
        elif action == "no-show":
            await self.window("no-show", window)
            self.at(when + 2, window, "call")
        elif action == "start":
            await self.window("start", window)
            ticket = service.hall.tickets[self.current[window]]
            quick = ticket.theme == "pickup"
            service_s = rng.uniform(4, 12) if quick else rng.uniform(8, 26)
            follow = "transfer" if rng.random() < 0.01 else "finish"
            self.at(when + service_s, window, follow)
        elif action == "transfer":
            ticket_id = self.current.pop(window)
            ticket = service.hall.tickets[ticket_id]
            other = rng.choice([t for t in self.themes if t != ticket.theme])
            self.count("transfer")
            await service.ticket_action(
                ticket_id, "transfer", actor=ACTOR, to_theme=other, reason="wrong theme"
            )
            self.at(when + 2, window, "call")
        elif action == "finish":
            await self.window("finish", window)
            ticket_id = self.current.pop(window)
            if rng.random() < 0.5:
                self.count("rate")
                score = rng.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
                await service.ticket_action(ticket_id, "rate", actor=ACTOR, score=score)
            if rng.random() < 0.004:
                await self.window("pause", window, reason="休息 break")
                self.at(when + rng.uniform(300, 900), window, "resume")
            else:
                self.at(when + 2, window, "call")
        elif action == "resume":
            await self.window("resume", window)
            self.at(when + 1, window, "call")
        elif action == "close":
            await self.window("close", window)
        else:
            raise AssertionError(action)


def day_times(day: str, tz: ZoneInfo) -> tuple[float, float, float]:
    """Epoch instants of 08:55 (windows open), 09:00 and 17:00 of `day`, hall-local."""
    base = datetime.fromisoformat(day).replace(tzinfo=tz)

    def local(hours: int, minutes: int) -> float:
        return (base + timedelta(hours=hours, minutes=minutes)).timestamp()

    return local(8, 55), local(9, 0), local(17, 0)


async def _build(
    settings: Settings, data_dir: Path, day: str, tickets: int, seed: int
) -> BuildStats:
    hall = settings.hall
    tz = ZoneInfo(hall.timezone)
    opening, first, last = day_times(day, tz)
    clock = FakeClock(opening - 60)
    service, event_log = open_hall(settings, data_dir, clock)
    if service.hall.day != day or service.hall.tickets:
        await event_log.close()
        raise SystemExit(f"{data_dir} already holds a day; give an empty directory")
    event_log.start(asyncio.get_running_loop())
    sim = _Sim(
        service,
        clock,
        random.Random(seed),
        [t.id for t in hall.themes],
        [g.id for g in hall.priority_groups],
        arrivals_left=tickets,
    )
    for when in sorted(sim.rng.uniform(first, last) for _ in range(tickets)):
        sim.at(when, "", "arrive")
    for spec in hall.windows:
        sim.at(opening, spec.id, "open")
    started = time.perf_counter()
    try:
        while sim.queue:
            when, _, window, action = heapq.heappop(sim.queue)
            clock.now = max(clock.now, when)
            await sim.step(clock.now, window, action)
        # What Controller.close() does after the web server has stopped.
        service.snapshot()
        await event_log.flush()
    finally:
        await event_log.close()
    elapsed = time.perf_counter() - started
    final = service.hall
    return BuildStats(
        day=day,
        tickets=len(final.tickets),
        events=final.version,
        counts=dict(sorted(sim.counts.items())),
        seconds=elapsed,
        end_at=clock.now,
        state=_normalized(to_snapshot(final)),
    )


def build_day(settings: Settings, data_dir: Path, day: str, tickets: int, seed: int) -> BuildStats:
    """Fill `data_dir` with one business day driven through HallService (fake clock)."""
    return asyncio.run(_build(settings, data_dir, day, tickets, seed))


def _normalized(state: dict[str, Any]) -> dict[str, Any]:
    # Snapshots go through JSON; compare states the way they are stored.
    normalized: dict[str, Any] = json.loads(json.dumps(state, ensure_ascii=False))
    return normalized


# ----------------------------------------------------------------- variants and timing


def make_variant(source: Path, target: Path, variant: str) -> None:
    """Copy the built data directory and remove snapshots as the variant requires."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    if variant == CLEAN:
        return
    db = sqlite3.connect(target / EVENT_LOG_FILE, isolation_level=None)
    try:
        if variant == CRASH:
            db.execute(
                "DELETE FROM snapshots WHERE seq = (SELECT MAX(seq) FROM snapshots)"
                " AND seq = (SELECT MAX(seq) FROM events)"
            )
        elif variant == NO_SNAPSHOT:
            db.execute("DELETE FROM snapshots")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def describe(data_dir: Path, day: str) -> tuple[int, int | None, int]:
    """(events of the day, seq of the latest snapshot or None, events after it)."""
    db = sqlite3.connect(f"file:{data_dir / EVENT_LOG_FILE}?mode=ro", uri=True)
    try:
        total = db.execute("SELECT COUNT(*) FROM events WHERE day = ?", (day,)).fetchone()[0]
        row = db.execute("SELECT MAX(seq) FROM snapshots WHERE day = ?", (day,)).fetchone()
        snap = row[0] if row else None
        tail = db.execute(
            "SELECT COUNT(*) FROM events WHERE day = ? AND seq > ?", (day, snap or 0)
        ).fetchone()[0]
    finally:
        db.close()
    return int(total), None if snap is None else int(snap), int(tail)


def _close(event_log: EventLog) -> None:
    asyncio.run(event_log.close())


def time_open_hall(
    settings: Settings, data_dir: Path, clock: Callable[[], float], runs: int
) -> tuple[list[float], dict[str, Any]]:
    """Seconds of each open_hall(); and the restored state (normalized) of the last run."""
    times: list[float] = []
    state: dict[str, Any] = {}
    for _ in range(runs):
        started = time.perf_counter()
        service, event_log = open_hall(settings, data_dir, clock)
        times.append(time.perf_counter() - started)
        state = _normalized(to_snapshot(service.hall))
        _close(event_log)
    return times, state


def profile_open_hall(settings: Settings, data_dir: Path, clock: Callable[[], float]) -> str:
    """The top of a cProfile of one open_hall(), by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    _, event_log = open_hall(settings, data_dir, clock)
    profiler.disable()
    _close(event_log)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    return out.getvalue()


def time_process(config: Path, data_dir: Path) -> tuple[float, float | None]:
    """Seconds from spawning the controller to its "listening" line; its own load() seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hall_controller",
            "--log-json",
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    assert process.stderr is not None
    listening: float | None = None
    restored: float | None = None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if record.get("event") == "day_restored":
                restored = float(record["seconds"])
            if record.get("event") == "listening":
                listening = time.perf_counter() - started
                break
    finally:
        process.send_signal(2)  # SIGINT: a clean stop
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    if listening is None:
        raise SystemExit("controller did not start:\n" + "".join(lines)[-2000:])
    return listening, restored


# ----------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class VariantResult:
    """The timings of one variant."""

    variant: str
    events: int
    snapshot_seq: int | None
    replayed: int
    times: list[float]
    state_ok: bool

    @property
    def median(self) -> float:
        """Median seconds."""
        return statistics.median(self.times)


def print_results(
    results: list[VariantResult],
    process: list[tuple[float, float | None]],
    snapshot_every: int,
    tickets: int,
) -> None:
    """The table and the verdicts."""
    print(f"\nopen_hall() = open the event log + HallService.load(); target < {TARGET_S} s")
    print(
        f"{'variant':<12} {'events':>7} {'snapshot at':>11} {'replayed':>8} {'runs':>4} "
        f"{'median s':>9} {'min s':>7} {'max s':>7} {'state':>6}  result"
    )
    for r in results:
        verdict = "PASS" if r.median < TARGET_S else "FAIL"
        if r.median < TARGET_S <= max(r.times):
            verdict += " (max over)"
        print(
            f"{r.variant:<12} {r.events:>7} {r.snapshot_seq if r.snapshot_seq else '-':>11} "
            f"{r.replayed:>8} {len(r.times):>4} {r.median:>9.3f} {min(r.times):>7.3f} "
            f"{max(r.times):>7.3f} {'same' if r.state_ok else 'DIFF':>6}  {verdict}"
        )
    crash = next((r for r in results if r.variant == CRASH), None)
    clean = next((r for r in results if r.variant == CLEAN), None)
    if crash is not None and clean is not None and crash.replayed and crash.snapshot_seq:
        # The service snapshots every max(snapshot_every, tickets) events, so the tail after
        # the last periodic snapshot is at most that minus one.
        longest = max(snapshot_every, tickets) - 1
        per_event = max(0.0, crash.median - clean.median) / crash.replayed
        print(
            f"crash replays {crash.replayed} events after the snapshot at {crash.snapshot_seq}, "
            f"about {per_event * 1e6:.0f} us each on top of the snapshot load; the longest "
            f"possible tail, {longest} events, extrapolates to about "
            f"{clean.median + per_event * longest:.3f} s"
        )
    if process:
        spawn = [p[0] for p in process]
        load = [p[1] for p in process if p[1] is not None]
        print(
            f"\nwhole process, spawn to 'listening' (clean close, {len(spawn)} runs): median "
            f"{statistics.median(spawn):.3f} s, max {max(spawn):.3f} s"
            + (
                f"; its own day_restored.seconds: median {statistics.median(load):.3f} s"
                if load
                else ""
            )
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Restart time with a business day of tickets.")
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets in the day")
    parser.add_argument("--runs", type=int, default=7, help="timed open_hall() runs per variant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--build-synchronous",
        choices=["full", "normal"],
        default="normal",
        help="SQLite synchronous mode while building (what is stored is the same; 'normal' "
        "builds faster); the timed restarts use the config's mode",
    )
    parser.add_argument(
        "--process", type=int, default=3, help="whole-process restarts to time (0: none)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one open_hall() each")
    parser.add_argument("--quick", action="store_true", help="1,000 tickets, 3 runs, smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.tickets, args.runs, args.process = 1000, 3, 1
    if args.tickets < 1 or args.runs < 1 or args.process < 0:
        parser.error("--tickets and --runs must be >= 1, --process >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Build the day, time the restarts, print the table; exit 1 when a target fails."""
    args = parse_args(argv)
    configure_logging("warning")
    config_text = bench_config_text()
    settings = validate_settings_text(config_text, "bench-hall.toml")
    tz = ZoneInfo(settings.hall.timezone)
    # Today's business day, so that a whole controller process (on the real clock) finds it.
    day = business_day(time.time(), tz, settings.hall.day_rollover)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hall-replay-", dir=args.workdir))
    results: list[VariantResult] = []
    config = workdir / "hall.toml"
    config.write_text(config_text, encoding="utf-8")
    try:
        built = workdir / "built"
        build_settings = dataclasses.replace(
            settings, store=dataclasses.replace(settings.store, synchronous=args.build_synchronous)
        )
        print(
            f"replay: python {sys.version.split()[0]}, day {day}, {args.tickets} tickets, "
            f"snapshot_every {settings.store.snapshot_every}, synchronous "
            f"{settings.store.synchronous}, data in {workdir}"
        )
        stats = build_day(build_settings, built, day, args.tickets, args.seed)
        counts = ", ".join(f"{k} {v}" for k, v in stats.counts.items())
        print(
            f"built in {stats.seconds:.1f} s: {stats.tickets} tickets, {stats.events} events "
            f"({counts})"
        )
        clock = FakeClock(stats.end_at)
        for variant in VARIANTS:
            target = workdir / variant.replace(" ", "-")
            make_variant(built, target, variant)
            events, snap, tail = describe(target, day)
            times, state = time_open_hall(settings, target, clock, args.runs)
            results.append(VariantResult(variant, events, snap, tail, times, state == stats.state))
            if args.profile:
                print(f"\n--- cProfile of one open_hall(), {variant}")
                print(profile_open_hall(settings, target, clock))
        process: list[tuple[float, float | None]] = []
        if args.process:
            if business_day(time.time(), tz, settings.hall.day_rollover) != day:
                print("the business day rolled over during the run: whole-process timing skipped")
            else:
                for _ in range(args.process):
                    target = workdir / "process"
                    make_variant(built, target, CLEAN)
                    process.append(time_process(config, target))
        print_results(results, process, settings.store.snapshot_every, args.tickets)
    finally:
        if args.keep:
            print(f"\ndata kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = [r for r in results if r.median >= TARGET_S or not r.state_ok]
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
