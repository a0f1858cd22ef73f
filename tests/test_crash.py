"""Crash tests of the real controller process: SIGKILL under load, SIGKILL idle, SIGTERM.

The controller answers a write only once its events are durable, and keeps the answer under
the request's Idempotency-Key. So after a SIGKILL at any moment and a restart on the same data
directory: every answered write is in the state, nothing is half applied, ticket numbers go on
without a gap or a repeat, and a write whose answer was lost takes effect exactly once however
often it is retried.

Reproduce a run of the load test with HALL_CRASH_SEED=<seed> (printed on every run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from server_process import ServerProcess

from hall_controller.services import SNAPSHOT_DEFERRED_UP_TO

from accounts import AUTH
from conftest import demo_config_text

pytestmark = pytest.mark.slow

PREFIX = {
    "social": "A",
    "police": "B",
    "registration": "C",
    "licensing": "D",
    "construction": "E",
    "pickup": "F",
}
THEME_OF_PREFIX = {prefix: theme for theme, prefix in PREFIX.items()}
# Tickets tried per theme and round, kept under the daily caps of the demo hall (400, 300, 200,
# 200, 80) over all rounds, their retries and the tickets issued after each restart. Pick-up
# has no cap and takes whatever the burst still asks for.
ROUND_BUDGET = {"social": 80, "police": 60, "registration": 40, "licensing": 40, "construction": 15}
THEME_WEIGHTS = {
    "social": 4,
    "police": 3,
    "registration": 2,
    "licensing": 2,
    "construction": 1,
    "pickup": 3,
}
PRIORITY_GROUPS = ("elderly", "disabled", "pregnant", "veteran")
CHANNELS = ("kiosk", "wechat", "api")
# One clerk per window, and two at windows 1 and 12 so that they also race on one window.
CLERKS = ("1", "1", "3", "5", "7", "9", "11", "12", "12")
OPEN_WINDOWS = tuple(sorted(set(CLERKS), key=int))
APPLICANTS = 23
ROUNDS = 4
KILL_DELAY_S = (0.2, 1.5)
# A clerk or applicant waits this long between two requests: 32 clients then keep the event
# log's writer busy, so a kill often finds commits in flight, whose answers are lost.
PAUSE_S = (0.0, 0.03)
ACTIVE = ("called", "serving")
CALLED_OR_LATER = ("called", "serving", "finished", "no_show")
# Depends on the clock, not on the state: the wait left shrinks as time passes.
VOLATILE_TICKET_FIELDS = ("estimated_wait_s",)
TIMEOUT = aiohttp.ClientTimeout(total=15)


# ----------------------------------------------------------------- requests and their outcomes


@dataclass(frozen=True, slots=True)
class Request:
    """One write as the client sent it: the same key and body are sent on every retry."""

    key: str
    method: str
    path: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        if self.path == "/api/v1/tickets":
            return "issue"
        return self.path.rsplit("/", 1)[-1]

    @property
    def window(self) -> str:
        assert self.path.startswith("/api/v1/windows/"), self.path
        return self.path.split("/")[4]


@dataclass(frozen=True, slots=True)
class Answered:
    """A write that got a 2xx: what was asked and exactly what came back."""

    request: Request
    status: int
    body: Any


@dataclass(slots=True)
class Ledger:
    """Everything the clients saw, over all rounds."""

    answered: list[Answered] = field(default_factory=list)
    lost: list[Request] = field(default_factory=list)  # no answer: the process died
    unexpected: list[str] = field(default_factory=list)
    numbers_seen: dict[str, str] = field(default_factory=dict)  # answered number -> its key
    refused: Counter[str] = field(default_factory=Counter)

    def record(self, request: Request, status: int, body: Any) -> None:
        if 200 <= status < 300:
            self.answered.append(Answered(request, status, body))
            if request.kind == "issue":
                first = self.numbers_seen.setdefault(body["number"], request.key)
                if first != request.key:
                    self.unexpected.append(f"{body['number']} answered to {first} and {request}")
        elif status == 409 and request.kind != "issue":
            self.refused[request.kind] += 1  # a clerk pressing the wrong key: changes nothing
        else:
            self.unexpected.append(f"{request}: {status} {body}")


class Client:
    """Sends writes with their Idempotency-Key and reads JSON, on one session."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(self, request: Request, actor: str = "test:crash") -> tuple[int, Any]:
        headers = {"Idempotency-Key": request.key, "X-Actor": actor}
        async with self.session.request(
            request.method, request.path, json=request.body, headers=headers
        ) as response:
            if response.status == 204:
                await response.read()
                return 204, None
            return response.status, await response.json()

    async def get(self, path: str) -> Any:
        async with self.session.get(path) as response:
            body = await response.json()
            assert response.status == 200, f"GET {path}: {response.status} {body}"
            return body


@contextlib.asynccontextmanager
async def connect(server: ServerProcess) -> AsyncIterator[Client]:
    """A client session on the running server (a new one after every restart)."""
    async with aiohttp.ClientSession(server.url, timeout=TIMEOUT, headers=AUTH) as session:
        yield Client(session)


async def attempt(client: Client, ledger: Ledger, request: Request, actor: str) -> bool:
    """Send one write and file the outcome; False once the server is gone."""
    try:
        status, body = await client.send(request, actor)
    except (aiohttp.ClientError, TimeoutError):
        ledger.lost.append(request)
        return False
    ledger.record(request, status, body)
    return True


# ----------------------------------------------------------------- processes


Spawn = Callable[[Path, Path, str], ServerProcess]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Makes server processes; every one of them is dead when the test ends, pass or fail."""
    made: list[ServerProcess] = []

    def make(config: Path, data_dir: Path, name: str) -> ServerProcess:
        server = ServerProcess(config, data_dir, name=name)
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop()


async def start(spawn: Spawn, config: Path, data_dir: Path, name: str) -> ServerProcess:
    server = spawn(config, data_dir, name)
    await asyncio.to_thread(server.start)
    return server


async def clear_of_day_rollover(margin_s: float = 90.0) -> None:
    """Wait out the demo hall's day rollover (03:00 Asia/Shanghai) if it is about to happen.

    Ticket numbers and idempotent replies are per business day, so a test that straddled the
    rollover would see numbering start again at 001.
    """
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    rollover = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if rollover <= now:
        rollover += timedelta(days=1)
    left = (rollover - now).total_seconds()
    if left < margin_s:
        await asyncio.sleep(left + 2.0)


def write_config(tmp_path: Path, *, snapshot_every: int) -> Path:
    path = tmp_path / "hall.toml"
    path.write_text(demo_config_text(snapshot_every=snapshot_every), encoding="utf-8")
    return path


# ----------------------------------------------------------------- the load


async def applicant(
    client: Client, ledger: Ledger, rng: random.Random, budget: dict[str, int], tag: str
) -> None:
    """Takes tickets across the themes, some with a priority group, until the server dies."""
    themes = list(THEME_WEIGHTS)
    weights = list(THEME_WEIGHTS.values())
    deadline = time.monotonic() + 10.0
    n = 0
    while time.monotonic() < deadline:
        theme = rng.choices(themes, weights)[0]
        if theme in budget:
            if budget[theme] <= 0:
                theme = "pickup"
            else:
                budget[theme] -= 1
        body: dict[str, Any] = {"theme": theme, "channel": rng.choice(CHANNELS)}
        if rng.random() < 0.25:
            body["priority"] = rng.choice(PRIORITY_GROUPS)
        n += 1
        request = Request(f"{tag}-{n}", "POST", "/api/v1/tickets", body)
        if not await attempt(client, ledger, request, f"kiosk:{tag}"):
            return
        await asyncio.sleep(rng.uniform(*PAUSE_S))


async def clerk(client: Client, ledger: Ledger, rng: random.Random, window: str, tag: str) -> None:
    """Presses call / start / finish at one window until the server dies."""
    deadline = time.monotonic() + 10.0
    n = 0
    while time.monotonic() < deadline:
        action = rng.choices(("call", "start", "finish"), (5, 3, 3))[0]
        n += 1
        request = Request(f"{tag}-{n}", "POST", f"/api/v1/windows/{window}/{action}", {})
        if not await attempt(client, ledger, request, f"pad:{tag}"):
            return
        await asyncio.sleep(rng.uniform(*PAUSE_S))


async def burst_and_kill(
    server: ServerProcess, ledger: Ledger, seed: int, rnd: int, delay: float
) -> None:
    """32 clients write concurrently; the server is SIGKILLed `delay` seconds into the burst."""
    budget = dict(ROUND_BUDGET)
    async with connect(server) as client:
        workers = [
            applicant(client, ledger, random.Random(f"{seed}/{rnd}/a{i}"), budget, f"r{rnd}a{i}")
            for i in range(APPLICANTS)
        ]
        workers += [
            clerk(client, ledger, random.Random(f"{seed}/{rnd}/c{i}"), window, f"r{rnd}c{i}")
            for i, window in enumerate(CLERKS)
        ]
        tasks = [asyncio.create_task(w) for w in workers]
        try:
            await asyncio.sleep(delay)
            server.kill()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# ----------------------------------------------------------------- the checks


def by_id(tickets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in tickets}


def durable_state(ticket: dict[str, Any]) -> tuple[Any, ...]:
    """What a write can change on a ticket."""
    return (
        ticket["status"],
        ticket["window"],
        ticket["called_at"],
        ticket["started_at"],
        ticket["finished_at"],
        ticket["recalls"],
    )


def stable(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tickets without the fields that follow the clock rather than the state."""
    return [{k: v for k, v in t.items() if k not in VOLATILE_TICKET_FIELDS} for t in tickets]


def check_consistent(
    tickets: list[dict[str, Any]], windows: list[dict[str, Any]]
) -> dict[str, int]:
    """Nothing half applied; returns the highest number issued per prefix."""
    assert len(by_id(tickets)) == len(tickets), "a ticket id is listed twice"
    serials: dict[str, list[int]] = {p: [] for p in THEME_OF_PREFIX}
    for t in tickets:
        number = t["number"]
        prefix = number[0]
        assert THEME_OF_PREFIX.get(prefix) == t["theme"], f"{number} is in theme {t['theme']}"
        assert t["id"].endswith(f"-{number}"), f"ticket {t['id']} has number {number}"
        serials[prefix].append(int(number[1:]))
    for prefix, got in serials.items():
        got.sort()
        assert got == list(range(1, len(got) + 1)), (
            f"numbers of {prefix} are not exactly 001..{len(got):03d}: "
            f"missing {sorted(set(range(1, len(got) + 1)) - set(got))}, "
            f"repeated {sorted(n for n, c in Counter(got).items() if c > 1)}"
        )
    tickets_by_id = by_id(tickets)
    holders: Counter[str] = Counter()
    for w in windows:
        held = w["ticket"]
        if held is None:
            assert w["status"] not in ("calling", "serving"), f"window {w['id']}: {w}"
            continue
        holders[held["id"]] += 1
        ticket = tickets_by_id[held["id"]]
        want = {"calling": "called", "serving": "serving"}.get(w["status"])
        assert ticket["status"] == want, f"window {w['id']} is {w['status']} {ticket}"
        assert ticket["window"] == w["id"], f"window {w['id']} holds {ticket}"
        assert held["number"] == ticket["number"]
    for t in tickets:
        if t["status"] in ACTIVE:
            assert holders[t["id"]] == 1, (
                f"{t['number']} is {t['status']} at window {t['window']} but held by "
                f"{holders[t['id']]} windows"
            )
    return {prefix: len(got) for prefix, got in serials.items()}


async def check_answered(client: Client, ledger: Ledger, tickets: list[dict[str, Any]]) -> None:
    """Every answered write is in the state, and its key still gives the very same answer."""
    listed = by_id(tickets)
    for done in ledger.answered:
        request, body = done.request, done.body
        kind = request.kind
        if kind == "issue":
            ticket = listed.get(body["id"])
            assert ticket is not None, f"issued {body['number']} is gone: {done}"
            assert (ticket["number"], ticket["theme"]) == (body["number"], body["theme"])
        elif kind == "call" and done.status == 200:
            ticket = listed[body["ticket"]["id"]]
            assert ticket["status"] in CALLED_OR_LATER, f"{done} but now {ticket}"
            assert ticket["call"]["window"] == request.window, f"{done} but now {ticket}"
            assert ticket["called_at"] == body["ticket"]["called_at"], f"{done} but now {ticket}"
        elif kind == "start":
            ticket = listed[body["ticket"]["id"]]
            assert ticket["status"] in ("serving", "finished"), f"{done} but now {ticket}"
            assert ticket["started_at"] == body["ticket"]["started_at"]
        elif kind == "finish":
            ticket = listed[body["ticket"]["id"]]
            assert ticket["status"] == "finished", f"{done} but now {ticket}"
            assert ticket["finished_at"] == body["ticket"]["finished_at"]
        elif kind == "open":
            assert body["window"]["status"] == "open"

    semaphore = asyncio.Semaphore(16)
    problems: list[str] = []

    async def again(done: Answered) -> None:
        async with semaphore:
            status, body = await client.send(done.request)
            if (status, body) != (done.status, done.body):
                problems.append(
                    f"{done.request}: first {done.status} {done.body}, now {status} {body}"
                )
            if done.request.kind == "issue":
                ticket = await client.get(f"/api/v1/tickets/{done.body['id']}")
                if ticket["number"] != done.body["number"]:
                    problems.append(f"GET {done.body['id']} is {ticket['number']}")

    # A 204 (nobody waiting) changed nothing and is not kept: a retry is a new attempt.
    await asyncio.gather(*(again(d) for d in ledger.answered if d.status != 204))
    assert not problems, f"{len(problems)} answers changed, e.g.:\n" + "\n".join(problems[:5])
    after = await client.get("/api/v1/tickets")
    assert stable(after) == stable(tickets), "sending answered writes again changed the state"


async def issue_one_per_theme(
    client: Client, ledger: Ledger, highest: dict[str, int], tag: str
) -> None:
    """Numbering goes on at N+1 after a restart, and never repeats a number ever answered."""
    for theme, prefix in PREFIX.items():
        request = Request(f"{tag}-{theme}", "POST", "/api/v1/tickets", {"theme": theme})
        status, body = await client.send(request)
        assert status == 201, f"{request}: {status} {body}"
        expected = f"{prefix}{highest[prefix] + 1:03d}"
        assert body["number"] == expected, f"after a restart {theme} issued {body['number']}"
        assert body["number"] not in ledger.numbers_seen, f"{body['number']} issued twice"
        highest[prefix] += 1
        ledger.record(request, status, body)


@dataclass(slots=True)
class RetryStats:
    had_happened: int = 0
    happened_now: int = 0
    no_effect: int = 0


async def retry_lost(
    client: Client, ledger: Ledger, highest: dict[str, int], lost: list[Request]
) -> RetryStats:
    """Each write whose answer was lost takes effect exactly once, however often it is sent."""
    stats = RetryStats()
    before = by_id(await client.get("/api/v1/tickets"))
    for request in lost:
        status, body = await client.send(request)
        after = by_id(await client.get("/api/v1/tickets"))
        assert set(before) <= set(after), f"retry of {request} removed tickets"
        changed = {
            tid
            for tid, t in after.items()
            if tid not in before or durable_state(before[tid]) != durable_state(t)
        }
        what = f"retry of {request} -> {status} {body}; changed {sorted(changed)}"
        if 200 <= status < 300 and status != 204:
            assert await client.send(request) == (status, body), f"second {what}"
        kind = request.kind
        if kind == "issue":
            assert status == 201, what
            tid = body["id"]
            assert body["number"] not in ledger.numbers_seen, what
            if tid in before:
                assert not changed, what
                stats.had_happened += 1
            else:
                assert changed == {tid}, what
                prefix = body["number"][0]
                assert body["number"] == f"{prefix}{highest[prefix] + 1:03d}", what
                highest[prefix] += 1
                stats.happened_now += 1
        elif status == 200:
            window = request.window
            tid = body["ticket"]["id"]
            was = before[tid]["status"]
            if kind == "call":
                fresh = was == "waiting"
                if fresh:
                    finished = {
                        x
                        for x, t in before.items()
                        if t["status"] == "serving" and t["window"] == window
                    }
                    assert changed == {tid} | finished, what
                    assert after[tid]["status"] == "called", what
                    assert after[tid]["window"] == window, what
            elif kind == "start":
                fresh = was == "called"
                if fresh:
                    assert changed == {tid}, what
                    assert after[tid]["status"] == "serving", what
            else:
                assert kind == "finish", what
                fresh = was in ACTIVE
                if fresh:
                    assert changed == {tid}, what
                    assert after[tid]["status"] == "finished", what
            if fresh:
                stats.happened_now += 1
            else:
                assert not changed, what
                stats.had_happened += 1
        else:
            # Not done before the kill and not possible now (409), or nobody waits (204).
            assert status in (204, 409), what
            assert not changed, what
            stats.no_effect += 1
        ledger.record(request, status, body)
        assert not ledger.unexpected, ledger.unexpected
        before = after
    return stats


# ----------------------------------------------------------------- the tests


async def test_sigkill_during_a_burst_loses_no_answered_write_and_applies_no_write_twice(
    tmp_path: Path, spawn: Spawn
) -> None:
    seed = int(os.environ.get("HALL_CRASH_SEED") or random.SystemRandom().randrange(1, 10**9))
    print(f"crash test seed: HALL_CRASH_SEED={seed}")
    await clear_of_day_rollover()
    rng = random.Random(seed)
    config = write_config(tmp_path, snapshot_every=200)
    data_dir = tmp_path / "data"
    ledger = Ledger()
    began = time.monotonic()
    try:
        server = await start(spawn, config, data_dir, "server-0")
        async with connect(server) as client:
            for window in OPEN_WINDOWS:
                request = Request(f"open-{window}", "POST", f"/api/v1/windows/{window}/open", {})
                status, body = await client.send(request)
                assert status == 200, f"{request}: {status} {body}"
                ledger.record(request, status, body)
        for rnd in range(1, ROUNDS + 1):
            delay = rng.uniform(*KILL_DELAY_S)
            answered_before = len(ledger.answered)
            await burst_and_kill(server, ledger, seed, rnd, delay)
            print(f"round {rnd}: SIGKILL {delay:.3f} s into the burst")
            lost, ledger.lost = ledger.lost, []
            assert not ledger.unexpected, "unexpected answers:\n" + "\n".join(ledger.unexpected)
            answered = len(ledger.answered) - answered_before
            assert answered > 0, f"round {rnd}: no write was answered in {delay:.2f} s"

            server = await start(spawn, config, data_dir, f"server-{rnd}")
            restored = server.events("day_restored")[-1]
            async with connect(server) as client:
                tickets = await client.get("/api/v1/tickets")
                windows = await client.get("/api/v1/windows")
                highest = check_consistent(tickets, windows)
                await check_answered(client, ledger, tickets)
                await issue_one_per_theme(client, ledger, highest, f"r{rnd}-after")
                stats = await retry_lost(client, ledger, highest, lost)
                check_consistent(
                    await client.get("/api/v1/tickets"), await client.get("/api/v1/windows")
                )
            print(
                f"round {rnd}: {answered} answered, "
                f"{len(lost)} lost, of which {stats.had_happened} had happened, "
                f"{stats.happened_now} happened on retry, {stats.no_effect} had no effect; "
                f"restart {server.listening_after_s:.2f} s, replayed "
                f"{restored['events_replayed']} events after snapshot {restored['snapshot_seq']}; "
                f"{sum(highest.values())} tickets"
            )
        assert await asyncio.to_thread(server.terminate, 10.0) == 0, server.tail()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n(reproduce with HALL_CRASH_SEED={seed})") from exc
    print(f"{ROUNDS} rounds in {time.monotonic() - began:.1f} s; refused: {dict(ledger.refused)}")


async def populate(
    client: Client, ledger: Ledger, *, per_theme: dict[str, int], cycles: int
) -> None:
    """Open windows, issue tickets concurrently, and serve some; every write must succeed."""
    for window in OPEN_WINDOWS:
        request = Request(f"open-{window}", "POST", f"/api/v1/windows/{window}/open", {})
        ledger.record(request, *await client.send(request))
    semaphore = asyncio.Semaphore(16)

    async def issue(n: int, theme: str) -> None:
        body: dict[str, Any] = {"theme": theme}
        if n % 5 == 0:
            body["priority"] = PRIORITY_GROUPS[n % len(PRIORITY_GROUPS)]
        request = Request(f"issue-{theme}-{n}", "POST", "/api/v1/tickets", body)
        async with semaphore:
            ledger.record(request, *await client.send(request))

    await asyncio.gather(
        *(issue(n, theme) for theme, count in per_theme.items() for n in range(count))
    )

    async def serve(window: str) -> None:
        # Finish most; leave the last ticket called at some windows and served at others.
        actions = ["call", "start", "finish"] * cycles + ["call", "start"][: 1 + int(window) % 2]
        for n, action in enumerate(actions):
            path = f"/api/v1/windows/{window}/{action}"
            request = Request(f"serve-{window}-{n}", "POST", path, {})
            status, body = await client.send(request)
            if status == 204:
                return  # nobody waits for this window any more
            ledger.record(request, status, body)

    await asyncio.gather(*(serve(window) for window in OPEN_WINDOWS))
    assert not ledger.unexpected, "\n".join(ledger.unexpected)
    assert not ledger.refused, ledger.refused


async def snapshot_of_state(client: Client) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # Past the forecast's cache budget (at most 1 s), so that positions are computed afresh.
    await asyncio.sleep(1.2)
    tickets = await client.get("/api/v1/tickets")
    windows = await client.get("/api/v1/windows")
    return stable(tickets), windows


async def test_sigkill_while_idle_restarts_fast_to_the_same_state(
    tmp_path: Path, spawn: Spawn
) -> None:
    await clear_of_day_rollover()
    config = write_config(tmp_path, snapshot_every=200)
    data_dir = tmp_path / "data"
    ledger = Ledger()
    server = await start(spawn, config, data_dir, "server-0")
    per_theme = {
        "social": 120,
        "police": 90,
        "registration": 60,
        "licensing": 60,
        "construction": 30,
        "pickup": 90,
    }
    async with connect(server) as client:
        await populate(client, ledger, per_theme=per_theme, cycles=8)
        tickets, windows = await snapshot_of_state(client)
    assert len(tickets) == sum(per_theme.values())
    events = server.events("day_restored")[-1]
    server.kill()

    restarted = await start(spawn, config, data_dir, "server-1")
    restored = restarted.events("day_restored")[-1]
    print(f"first start {server.listening_after_s:.2f} s: {events}")
    print(f"after SIGKILL {restarted.listening_after_s:.2f} s: {restored}")
    assert restored["tickets"] == len(tickets)
    # A snapshot is due every max(snapshot_every, tickets of the day) events and taken in the
    # next lull, or at SNAPSHOT_DEFERRED_UP_TO times that in a rush without one (as here), so
    # only the tail after the last one is replayed.
    assert restored["snapshot_seq"] is not None, restored
    bound = SNAPSHOT_DEFERRED_UP_TO * max(200, len(tickets))
    assert restored["events_replayed"] < bound, restored
    assert restored["seconds"] < 1.0, restored
    assert restarted.listening_after_s is not None
    assert restarted.listening_after_s < 10.0
    async with connect(restarted) as client:
        after_tickets, after_windows = await snapshot_of_state(client)
        assert after_tickets == tickets
        assert after_windows == windows
        highest = check_consistent(await client.get("/api/v1/tickets"), after_windows)
        await check_answered(client, ledger, await client.get("/api/v1/tickets"))
        await issue_one_per_theme(client, ledger, highest, "after-kill")


async def test_sigterm_exits_0_promptly_and_restarts_to_the_same_state(
    tmp_path: Path, spawn: Spawn
) -> None:
    await clear_of_day_rollover()
    config = write_config(tmp_path, snapshot_every=200)
    data_dir = tmp_path / "data"
    ledger = Ledger()
    server = await start(spawn, config, data_dir, "server-0")
    async with connect(server) as client:
        await populate(client, ledger, per_theme=dict.fromkeys(PREFIX, 25), cycles=4)
        tickets, windows = await snapshot_of_state(client)
        # A hall screen stays subscribed to the live events while the controller stops.
        async with client.session.get("/api/v1/events") as stream:
            assert stream.status == 200
            first = await asyncio.wait_for(stream.content.readline(), 5)
            assert first.startswith(b"event: state"), first

            async def drain() -> None:
                with contextlib.suppress(aiohttp.ClientError):
                    async for _ in stream.content:
                        pass

            reader = asyncio.create_task(drain())
            began = time.monotonic()
            code = await asyncio.to_thread(server.terminate, 5.0)
            took = time.monotonic() - began
            await asyncio.wait_for(reader, 5)
    print(f"SIGTERM: exit {code} after {took:.2f} s")
    assert code == 0, server.tail()
    assert took < 5.0
    assert server.events("stopped"), server.tail()

    restarted = await start(spawn, config, data_dir, "server-1")
    restored = restarted.events("day_restored")[-1]
    print(f"after SIGTERM {restarted.listening_after_s:.2f} s: {restored}")
    # The clean stop wrote a snapshot of the final state: nothing is left to replay.
    assert restored["events_replayed"] == 0, restored
    assert restored["tickets"] == len(tickets)
    async with connect(restarted) as client:
        after_tickets, after_windows = await snapshot_of_state(client)
        assert after_tickets == tickets
        assert after_windows == windows
        highest = check_consistent(await client.get("/api/v1/tickets"), after_windows)
        await check_answered(client, ledger, await client.get("/api/v1/tickets"))
        await issue_one_per_theme(client, ledger, highest, "after-term")
