"""A call's fan-out to 500 hall displays over server-sent events: the controller beside a minimum.

Starts two servers as subprocesses:

* the controller, as ``issue_throughput.py`` starts it (``python -m hall_controller --log-json
  run --config CFG --data-dir DIR --host 127.0.0.1 --port 0``, CFG the demo hall with opening
  hours and daily caps off); before the load every window is opened and enough tickets are
  issued that every call finds one;
* the minimum: ``bench/minimum_sse_server.py``: aiohttp, ``GET /events`` (a queue per
  subscriber) and ``POST /call`` (one TicketCalled-sized event put to every queue), nothing else.

Each round connects ``--clients`` screens (keep-alive TCP connections in this process, a bare
``asyncio.Protocol`` that only looks for the event type and the ticket id) to one server's
event stream, then makes ``--calls`` calls, one at a time, spaced ``--interval`` apart:

* controller: ``POST /api/v1/windows/{id}/call`` (round-robin over the windows); the marker is
  the ``TicketCalled`` event of the ticket the reply names. Once every screen has it, the window
  finishes that ticket (``POST .../finish``, untimed, waited for until every screen has its
  ``ServiceFinished``), so the next call at that window again yields exactly one event;
* minimum: ``POST /call {"ticket_id", "window"}``; the marker is the ``TicketCalled`` event
  with that ticket id.

A call's latency is from just before its POST is written until the last screen has received
its event (and, for reference, until the first has). The screens then disconnect, and one more
(untimed) event goes out so that both servers notice the dead subscribers before the next round.
The sides alternate round by round (minimum, controller, minimum, ...), after a warm-up round
each; each figure is the median over a side's rounds of the per-round figure.

The table also shows each server's CPU per event delivered to one screen, and this process's
own CPU (in % of a core and per delivery): the screens must stay cheap enough not to set the
pace on a 2-core machine.

Target: the controller's p99 (last screen) at most 1.5 x the minimum's, and under 50 ms. The
verdict is printed; the exit status is 1 only when something broke (an event that did not reach
every screen in time, a refused request, a server that died, a screen cut off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
from bench_config import BENCH_AUTH, ROOT, bench_config_text
from issue_throughput import Server, _first_line_port, _wait_for_port, percentile, start_controller

MINIMUM_SSE_SERVER = Path(__file__).resolve().parent / "minimum_sse_server.py"

P99_RATIO_TARGET = 1.5  # controller p99 <= this x the minimum's
P99_LIMIT_MS = 50.0  # and under this

MINIMUM = "minimum"
CONTROLLER = "controller"
SIDES = (MINIMUM, CONTROLLER)
EVENTS_PATH = {MINIMUM: "/events", CONTROLLER: "/api/v1/events"}
CONNECT_BATCH = 100  # screens connecting at once, below the servers' listen backlog (128)
SETTLE_S = 0.5  # after the screens are connected, before the first call


# ----------------------------------------------------------------- servers


async def start_minimum(workdir: Path, tag: str) -> Server:
    """The hand-built minimum, listening on a free port."""
    out_path = workdir / f"minimum-{tag}.out"
    with out_path.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(MINIMUM_SSE_SERVER),
            "--port",
            "0",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
    port = await _wait_for_port(out_path, process, _first_line_port)
    return Server(MINIMUM, port, process, workdir, out_path)


# ----------------------------------------------------------------- the screens


@dataclass(slots=True)
class Seen:
    """How many screens received one marker, and when the first and the last did."""

    count: int
    first: float
    last: float


@dataclass(slots=True)
class Arrivals:
    """The markers the screens have received; a waiter per marker for the last screen."""

    clients: int
    seen: dict[bytes, Seen] = field(default_factory=dict)
    waiters: dict[bytes, asyncio.Future[None]] = field(default_factory=dict)
    events: int = 0  # every event received by any screen (a delivery)
    cut_off: int = 0  # screens the server closed

    def record(self, key: bytes, now: float) -> None:
        """One screen received the marker `key` at `now`."""
        seen = self.seen.get(key)
        if seen is None:
            seen = self.seen[key] = Seen(1, now, now)
        else:
            seen.count += 1
            seen.last = now
        if seen.count >= self.clients:
            waiter = self.waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def wait(self, key: bytes, limit_s: float) -> Seen | None:
        """The marker once every screen has it (or as far as it got within `limit_s`)."""
        seen = self.seen.get(key)
        if seen is None or seen.count < self.clients:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters[key] = waiter
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, limit_s)
            self.waiters.pop(key, None)
        return self.seen.pop(key, None)


# The event types a screen reports, and the prefix of their key (the rest is the ticket id).
_MARKERS = {b"TicketCalled": b"", b"ServiceFinished": b"F"}
_EVENT = b"event: "
_TICKET = b'"ticket_id":"'


class Screen(asyncio.Protocol):
    """One display on the event stream: notes the markers, as cheaply as it can."""

    def __init__(self, request: bytes, arrivals: Arrivals, ready: asyncio.Future[None]) -> None:
        self.request = request
        self.arrivals = arrivals
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.tail:
            data = self.tail + data
        pos = 0
        if not self.ready.done():
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0 or data.find(b"\n\n", head_end + 4) < 0:
                self.tail = data  # wait for the head and the first event (or comment)
                return
            if not data.startswith(b"HTTP/1.1 200"):
                self.ready.set_exception(ConnectionError(data[: data.find(b"\r\n")].decode()))
                return
            self.ready.set_result(None)
            pos = head_end + 4
        arrivals = self.arrivals
        # One event per `\n\n`; between events only chunked framing or comments.
        while True:
            end = data.find(b"\n\n", pos)
            if end < 0:
                break
            at = data.find(_EVENT, pos, end)
            if at >= 0:
                arrivals.events += 1
                line_end = data.find(b"\n", at, end)
                prefix = _MARKERS.get(data[at + 7 : line_end])
                if prefix is not None:
                    start = data.find(_TICKET, line_end, end)
                    if start >= 0:
                        start += len(_TICKET)
                        arrivals.record(prefix + data[start : data.find(b'"', start, end)], now)
            pos = end + 2
        self.tail = data[pos:] if pos < len(data) else b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the first event"))
        elif not self.closing:
            self.arrivals.cut_off += 1

    def close(self) -> None:
        """Hang up."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()


async def connect_screens(port: int, path: str, arrivals: Arrivals) -> list[Screen]:
    """`arrivals.clients` screens on the event stream, each past its first event."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    screens: list[Screen] = []

    def screen() -> Screen:
        return Screen(request, arrivals, loop.create_future())

    try:
        # A batch at a time, each through its first event: a burst beyond the listen backlog
        # (128 for aiohttp) has its SYNs dropped and retried a second later.
        for first in range(0, arrivals.clients, CONNECT_BATCH):
            count = min(CONNECT_BATCH, arrivals.clients - first)
            connected = await asyncio.gather(
                *(loop.create_connection(screen, "127.0.0.1", port) for _ in range(count)),
                return_exceptions=True,
            )
            screens += [o[1] for o in connected if not isinstance(o, BaseException)]
            for outcome in connected:
                if isinstance(outcome, BaseException):
                    raise outcome
            batch = screens[first:]
            try:
                await asyncio.wait_for(asyncio.gather(*(s.ready for s in batch)), 60.0)
            except TimeoutError:
                ready = sum(s.ready.done() for s in batch)
                raise ConnectionError(f"{ready} of {count} screens ready in 60 s") from None
    except BaseException:
        for s in screens:
            s.close()
        raise
    return screens


# ----------------------------------------------------------------- the caller


class Exchange(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection for the calls: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        elif status not in (204, 304):
            waiter.set_exception(ConnectionError("response without Content-Length"))
            return
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        self.waiter = None
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionError("server closed the connection"))

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Write one request; the future is its status and body."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("connection closed")
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        transport.write(request)
        return waiter


def post(port: int, path: str, body: bytes = b"") -> bytes:
    """A pre-encoded POST request."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {BENCH_AUTH['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class RequestFailed(Exception):
    """A server refused a request the benchmark needs."""


@dataclass(slots=True)
class Caller:
    """Makes one side's calls, and what each side needs around them."""

    server: Server
    exchange: Exchange
    windows: list[str]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    async def connect(cls, server: Server, windows: list[str]) -> Caller:
        """Open the caller's connection."""
        loop = asyncio.get_running_loop()
        _, exchange = await loop.create_connection(Exchange, "127.0.0.1", server.port)
        return cls(server, exchange, windows)

    async def _request(self, request: bytes, what: str) -> bytes:
        status, body = await self.exchange.send(request)
        if status != 200:
            raise RequestFailed(f"{self.server.name}: {what}: HTTP {status} {body[:300]!r}")
        return body

    async def call(self) -> tuple[bytes, str, float]:
        """Make the next call: its marker, its window, and when the request was written."""
        index = next(self.counter)
        window = self.windows[index % len(self.windows)]
        port = self.server.port
        if self.server.name == CONTROLLER:
            request = post(port, f"/api/v1/windows/{window}/call")
            started = time.perf_counter()
            body = await self._request(request, f"call at window {window}")
            ticket = json.loads(body)["ticket"]["id"]
            return str(ticket).encode(), window, started
        ticket = f"20261128-M{index:04d}"
        payload = json.dumps({"ticket_id": ticket, "window": window}).encode()
        request = post(port, "/call", payload)
        started = time.perf_counter()
        await self._request(request, "call")
        return ticket.encode(), window, started

    async def after_call(self, marker: bytes, window: str) -> bytes | None:
        """Make the window ready for its next call; the marker of that (untimed) event."""
        if self.server.name != CONTROLLER:
            return None
        await self._request(post(self.server.port, f"/api/v1/windows/{window}/finish"), "finish")
        return b"F" + marker

    async def flush(self, marker: bytes, window: str) -> None:
        """One more event, so the server finds the screens that hung up gone."""
        if self.server.name == CONTROLLER:
            await self.after_call(marker, window)
        else:
            await self.call()

    def close(self) -> None:
        """Close the caller's connection."""
        if self.exchange.transport is not None:
            self.exchange.transport.close()


# ----------------------------------------------------------------- a round


@dataclass(slots=True)
class RoundResult:
    """One side's figures for one round."""

    side: str
    round: int
    calls: int
    clients: int
    last: list[float]  # seconds, call -> the last screen has the event
    first: list[float]  # seconds, call -> the first screen has it
    lost: int  # events waited for (timed or not) that did not reach every screen in time
    connect_s: float
    seconds: float
    deliveries: int  # events received, summed over the screens
    server_cpu_s: float | None
    client_cpu_s: float
    cut_off: int

    def last_ms(self, q: float) -> float:
        """The q-quantile of call -> last screen, in ms."""
        return percentile(self.last, q) * 1e3

    @property
    def server_cpu_us_per_delivery(self) -> float | None:
        """The server's CPU per event delivered to one screen, in us."""
        if self.server_cpu_s is None or not self.deliveries:
            return None
        return self.server_cpu_s / self.deliveries * 1e6

    @property
    def client_cpu_us_per_delivery(self) -> float:
        """This process's CPU per event a screen received, in us (calls included)."""
        return self.client_cpu_s / self.deliveries * 1e6 if self.deliveries else math.nan

    @property
    def client_cpu_percent(self) -> float:
        """This process's CPU during the calls, in % of one core."""
        return self.client_cpu_s / self.seconds * 100 if self.seconds > 0 else math.nan


@dataclass(slots=True)
class Options:
    """What to run."""

    clients: int
    calls: int
    rounds: int
    warmup: int
    interval: float
    timeout: float
    client_loop: str
    quick: bool
    keep: bool
    workdir: Path | None


async def run_round(caller: Caller, options: Options, calls: int, round_no: int) -> RoundResult:
    """Connect the screens, make `calls` calls one at a time, hang up."""
    server = caller.server
    if server.process.returncode is not None:
        raise SystemExit(f"{server.name} died (see {server.log_path})")
    arrivals = Arrivals(options.clients)
    connect_started = time.perf_counter()
    screens = await connect_screens(server.port, EVENTS_PATH[server.name], arrivals)
    connect_s = time.perf_counter() - connect_started
    await asyncio.sleep(SETTLE_S)
    last: list[float] = []
    first: list[float] = []
    lost = 0
    marker, window = b"", ""
    loop = asyncio.get_running_loop()
    arrivals.events = 0
    cpu_before = server.cpu_seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    next_at = loop.time()
    try:
        for index in range(calls):
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + options.interval, loop.time())
            marker, window, reached = await _one_call(caller, arrivals, options, last, first)
            if not reached:
                lost += 1
            if index < calls - 1:
                follow = await caller.after_call(marker, window)
                if follow is not None:
                    seen = await arrivals.wait(follow, options.timeout)
                    if seen is None or seen.count < options.clients:
                        lost += 1
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        cpu_after = server.cpu_seconds()
    finally:
        for screen in screens:
            screen.close()
    await asyncio.sleep(0.2)
    if window:
        await caller.flush(marker, window)
    await asyncio.sleep(0.1)
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return RoundResult(
        side=server.name,
        round=round_no,
        calls=calls,
        clients=options.clients,
        last=last,
        first=first,
        lost=lost,
        connect_s=connect_s,
        seconds=elapsed,
        deliveries=arrivals.events,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
        cut_off=arrivals.cut_off,
    )


async def _one_call(
    caller: Caller, arrivals: Arrivals, options: Options, last: list[float], first: list[float]
) -> tuple[bytes, str, bool]:
    """One timed call: its marker, its window, and whether every screen got it in time."""
    marker, window, started = await caller.call()
    seen = await arrivals.wait(marker, options.timeout)
    if seen is None or seen.count < options.clients:
        got = 0 if seen is None else seen.count
        print(
            f"  {caller.server.name}: call {marker.decode()} reached {got} of "
            f"{options.clients} screens in {options.timeout:g} s",
            file=sys.stderr,
        )
        return marker, window, False
    last.append(seen.last - started)
    first.append(seen.first - started)
    return marker, window, True


# ----------------------------------------------------------------- set-up


async def prepare_controller(port: int, config_text: str, calls: int) -> int:
    """Open every window and issue enough tickets for `calls` round-robin calls; the count."""
    data = tomllib.loads(config_text)
    windows = {str(w["id"]): [str(t) for t in w["themes"]] for w in data["windows"]}
    per_window = math.ceil(calls / len(windows)) + 1
    # Each window may take all its calls from any one of its themes: enough for that.
    per_theme: dict[str, int] = {}
    for themes in windows.values():
        for theme in themes:
            per_theme[theme] = per_theme.get(theme, 0) + per_window
    bodies = [
        json.dumps({"theme": theme}).encode()
        for theme, count in per_theme.items()
        for _ in range(count)
    ]
    base = f"http://127.0.0.1:{port}/api/v1"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def send(path: str, body: bytes) -> None:
            headers = {"Content-Type": "application/json", **BENCH_AUTH}
            async with session.post(base + path, data=body, headers=headers) as response:
                if response.status not in (200, 201):
                    text = await response.text()
                    raise RequestFailed(f"controller: {path}: HTTP {response.status} {text}")

        for window in windows:
            await send(f"/windows/{window}/open", b"")
        slots = asyncio.Semaphore(8)

        async def issue(body: bytes) -> None:
            async with slots:
                await send("/tickets", body)

        await asyncio.gather(*(issue(body) for body in bodies))
    return len(bodies)


def window_ids(config_text: str) -> list[str]:
    """The window ids of a hall config, in file order."""
    return [str(w["id"]) for w in tomllib.loads(config_text)["windows"]]


# ----------------------------------------------------------------- report


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _round_header() -> str:
    return (
        f"{'round':>5}  {'side':<10} {'calls':>5} {'lost':>4} {'first p50':>9} "
        f"{'last p50':>8} {'p90':>7} {'p99':>7} {'max':>7} {'connect s':>9} "
        f"{'srv CPU us/ev':>13} {'client CPU':>10} {'client us/ev':>12}"
    )


def _round_row(r: RoundResult) -> str:
    cut = f"  {r.cut_off} screens cut off" if r.cut_off else ""
    return (
        f"{r.round:>5}  {r.side:<10} {len(r.last):>5} {r.lost:>4} "
        f"{_fmt(percentile(r.first, 0.5) * 1e3, '.2f'):>9} {_fmt(r.last_ms(0.5), '.2f'):>8} "
        f"{_fmt(r.last_ms(0.9), '.2f'):>7} {_fmt(r.last_ms(0.99), '.2f'):>7} "
        f"{_fmt(max(r.last, default=math.nan) * 1e3, '.2f'):>7} {r.connect_s:>9.2f} "
        f"{_fmt(r.server_cpu_us_per_delivery, '.1f'):>13} {r.client_cpu_percent:>9.0f}% "
        f"{_fmt(r.client_cpu_us_per_delivery, '.1f'):>12}{cut}"
    )


def _median(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(present) if present else math.nan


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the summary: medians over rounds per side."""

    label: str
    minimum: float
    controller: float

    @property
    def ratio(self) -> float:
        """controller / minimum."""
        return self.controller / self.minimum if self.minimum else math.nan


def summarize(results: list[RoundResult]) -> list[Line]:
    """Medians over each side's rounds."""

    def line(label: str, f: Callable[[RoundResult], float | None]) -> Line:
        values = {side: _median([f(r) for r in results if r.side == side]) for side in SIDES}
        return Line(label, values[MINIMUM], values[CONTROLLER])

    return [
        line("first screen p50, ms", lambda r: percentile(r.first, 0.5) * 1e3),
        line("last screen p50, ms", lambda r: r.last_ms(0.5)),
        line("last screen p90, ms", lambda r: r.last_ms(0.9)),
        line("last screen p99, ms", lambda r: r.last_ms(0.99)),
        line("last screen max, ms", lambda r: max(r.last, default=math.nan) * 1e3),
        line("connect all screens, s", lambda r: r.connect_s),
        line("server CPU us/delivery", lambda r: r.server_cpu_us_per_delivery),
        line("client CPU, % of a core", lambda r: r.client_cpu_percent),
        line("client CPU us/delivery", lambda r: r.client_cpu_us_per_delivery),
    ]


def print_summary(lines: list[Line]) -> tuple[bool, str]:
    """The summary table; whether the target holds, and the verdict line."""
    print("\nsummary (median over rounds; ratio = controller / minimum)")
    print(f"{'':<26} {'minimum':>9} {'controller':>10} {'ratio':>6}")
    for v in lines:
        print(
            f"{v.label:<26} {_fmt(v.minimum, '.2f'):>9} {_fmt(v.controller, '.2f'):>10} "
            f"{_fmt(v.ratio, '.2f'):>6}"
        )
    p99 = next(v for v in lines if v.label.startswith("last screen p99"))
    passed = p99.ratio <= P99_RATIO_TARGET and p99.controller < P99_LIMIT_MS
    verdict = (
        f"target: controller p99 <= {P99_RATIO_TARGET:g} x minimum's and < {P99_LIMIT_MS:g} ms: "
        f"{p99.controller:.2f} ms vs {p99.minimum:.2f} ms, ratio {_fmt(p99.ratio, '.2f')}: "
        + ("PASS" if passed else "FAIL")
    )
    return passed, verdict


# ----------------------------------------------------------------- the run


async def run(options: Options) -> int:
    """Start the servers, warm up, alternate the rounds, print the summary; the exit status."""
    base = options.workdir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hall-sse-", dir=base))
    config_text = bench_config_text()
    config = workdir / "hall.toml"
    config.write_text(config_text, encoding="utf-8")
    windows = window_ids(config_text)
    print(
        f"sse_fanout: python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs, client loop {options.client_loop}, data in {workdir}"
    )
    servers: dict[str, Server] = {}
    callers: dict[str, Caller] = {}
    results: list[RoundResult] = []
    broken: list[str] = []
    try:
        minimum, controller = await asyncio.gather(
            start_minimum(workdir, "1"), start_controller(workdir, config, "1")
        )
        servers = {MINIMUM: minimum, CONTROLLER: controller}
        total_calls = options.warmup + options.rounds * options.calls
        issued = await prepare_controller(controller.port, config_text, total_calls)
        print(
            f"controller: {len(windows)} windows open, {issued} tickets issued; "
            f"{options.clients} screens, {options.calls} calls per round "
            f"{options.interval * 1e3:g} ms apart, {options.rounds} rounds per side, alternating"
        )
        for side in SIDES:
            callers[side] = await Caller.connect(servers[side], windows)
        print(_round_header(), flush=True)
        if options.warmup:
            for side in SIDES:
                result = await run_round(callers[side], options, options.warmup, 0)
                print(_round_row(result), flush=True)
        for round_no in range(1, options.rounds + 1):
            for side in SIDES:
                result = await run_round(callers[side], options, options.calls, round_no)
                results.append(result)
                print(_round_row(result), flush=True)
    except (OSError, RequestFailed) as exc:
        broken.append(f"{type(exc).__name__}: {exc}")
    finally:
        for caller in callers.values():
            caller.close()
        await asyncio.gather(*(server.stop() for server in servers.values()))
        for server in servers.values():
            if server.process.returncode not in (0, -signal.SIGINT):
                code = server.process.returncode
                broken.append(f"{server.name} exited with {code} (see {server.log_path})")
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lost = sum(r.lost for r in results)
    cut_off = sum(r.cut_off for r in results)
    if lost:
        broken.append(f"{lost} events did not reach every screen within {options.timeout:g} s")
    if cut_off:
        broken.append(f"{cut_off} screens were cut off by a server")
    if results and {r.side for r in results} == set(SIDES):
        _, verdict = print_summary(summarize(results))
        print(verdict + (" (--quick: a smoke run, not a verdict)" if options.quick else ""))
    if options.keep:
        print(f"\ndata and server logs kept in {workdir}")
    for problem in broken:
        print(f"broken: {problem}", file=sys.stderr)
    return 1 if broken else 0


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="A call's SSE fan-out to N screens: controller vs. a minimum, alternating."
    )
    parser.add_argument("--clients", type=int, default=500, help="screens on the event stream")
    parser.add_argument("--calls", type=int, default=100, help="timed calls per round and side")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per side first")
    parser.add_argument(
        "--interval", type=float, default=0.1, help="seconds from one call to the next"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds an event may take to reach all"
    )
    parser.add_argument(
        "--client-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="this process's event loop (uvloop, the default, costs the screens less CPU)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (2 rounds x 30 calls)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server logs")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary data directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.warmup = 2, 30, 5
    if args.clients < 1 or args.calls < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--clients, --calls and --rounds must be >= 1, --warmup >= 0")
    if args.interval < 0 or args.timeout <= 0:
        parser.error("--interval must be >= 0 and --timeout > 0")
    return Options(
        clients=args.clients,
        calls=args.calls,
        rounds=args.rounds,
        warmup=args.warmup,
        interval=args.interval,
        timeout=args.timeout,
        client_loop=args.client_loop,
        quick=args.quick,
        keep=args.keep,
        workdir=args.workdir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    options = parse_args(argv)
    if options.client_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed: the screens run on asyncio's loop", file=sys.stderr)
            options.client_loop = "asyncio"
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(run(options))
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
