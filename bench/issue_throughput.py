"""Durable ticket issue: the controller against a hand-built minimum, alternating, as ratios.

Starts two servers as subprocesses, each on a fresh data directory:

* the controller: ``python -m hall_controller --log-json run --config CFG --data-dir DIR
  --host 127.0.0.1 --port 0`` with a temporary copy of the demo hall (opening hours not
  enforced, no daily caps, so no request is refused);
* the minimum: ``bench/minimum_server.py``: aiohttp plus one SQLite WAL synchronous=FULL
  commit per request, inline, nothing else.

Then, from this process, a closed-loop load generator POSTs ``{"theme": "<rotating theme>"}``
to ``/api/v1/tickets`` of each in turn: minimum, controller, minimum, controller ... First a
throughput phase with 50 connections, then a latency phase with 4 connections, each after a
warm-up of both servers. Each figure is the median over the rounds, and the targets are ratios
controller / minimum, which survive a noisy machine better than absolute figures:

* throughput with 50 connections: at least 0.8 x the minimum's;
* latency p99 with 4 connections: at most 2 x the minimum's.

Exit status: 0 when every target passes, 1 when one fails or a request errored (with
``--quick`` only errors count: a short run on a shared CI box is a smoke test, not a verdict).

The load generator is a small HTTP/1.1 keep-alive client on asyncio.Protocol (``--client raw``,
the default), several times cheaper per request than aiohttp's client (``--client aiohttp``), so
that on a 2-core machine it leaves the servers as much CPU as possible. The table shows the
client's own CPU use per round: near 100 % means the client, not the server, set the pace.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
from bench_config import BENCH_AUTH, ROOT, bench_config_text

MINIMUM_SERVER = Path(__file__).resolve().parent / "minimum_server.py"
PATH = "/api/v1/tickets"

THROUGHPUT_TARGET = 0.8  # controller req/s >= this x minimum's, with 50 connections
P99_TARGET = 2.0  # controller p99 <= this x minimum's, with 4 connections

MINIMUM = "minimum"
CONTROLLER = "controller"
SIDES = (MINIMUM, CONTROLLER)
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ----------------------------------------------------------------- configuration


def theme_ids(config_text: str) -> list[str]:
    """The theme ids of a hall config, in file order."""
    data = tomllib.loads(config_text)
    return [str(theme["id"]) for theme in data["themes"]]


# ----------------------------------------------------------------- servers


@dataclass(slots=True)
class Server:
    """A server subprocess: its name, port, process and data directory."""

    name: str
    port: int
    process: asyncio.subprocess.Process
    data_dir: Path
    log_path: Path

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the process (all threads) so far; None off Linux."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After the ")" closing comm: state is field 3, utime field 14, stime field 15.
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    async def stop(self, grace_s: float = 60.0) -> None:
        """SIGINT (a clean close: the controller writes its snapshot), then SIGKILL if stuck."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), grace_s)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


async def _wait_for_port(
    log_path: Path, process: asyncio.subprocess.Process, parse: Callable[[str], int | None]
) -> int:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        for line in _read_text(log_path).splitlines():
            port = parse(line)
            if port is not None:
                return port
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    tail = _read_text(log_path)[-2000:]
    raise SystemExit(f"server did not start (see {log_path}):\n{tail}")


def _listening_port(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict) and record.get("event") == "listening":
        return int(record["port"])
    return None


def _first_line_port(line: str) -> int | None:
    return int(line) if line.strip().isdigit() else None


async def start_controller(workdir: Path, config: Path, tag: str) -> Server:
    """The controller on a fresh data directory, listening on a free port."""
    data_dir = workdir / f"controller-{tag}"
    log_path = workdir / f"controller-{tag}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
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
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
    port = await _wait_for_port(log_path, process, _listening_port)
    return Server(CONTROLLER, port, process, data_dir, log_path)


async def start_minimum(workdir: Path, tag: str) -> Server:
    """The hand-built minimum on a fresh database, listening on a free port."""
    data_dir = workdir / f"minimum-{tag}"
    data_dir.mkdir(parents=True)
    out_path = workdir / f"minimum-{tag}.out"
    with out_path.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(MINIMUM_SERVER),
            "--port",
            "0",
            "--db",
            str(data_dir / "minimum.sqlite3"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
    port = await _wait_for_port(out_path, process, _first_line_port)
    return Server(MINIMUM, port, process, data_dir, out_path)


# ----------------------------------------------------------------- load generation


class Client(Protocol):
    """One keep-alive connection (or slot) that sends one request at a time."""

    async def request(self, index: int) -> int:
        """Send request number `index` (it picks the theme) and return the HTTP status."""
        ...

    def close(self) -> None:
        """Drop the connection."""
        ...


class _RawConnection(asyncio.Protocol):
    """HTTP/1.1 keep-alive over a bare transport; responses must carry Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(ConnectionError("response without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        del self.buffer[:total]
        self.waiter = None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionError("server closed the connection"))


class RawClient:
    """A bare HTTP/1.1 client connection with the requests pre-encoded."""

    def __init__(self, protocol: _RawConnection, requests: Sequence[bytes]) -> None:
        self._protocol = protocol
        self._requests = requests

    @classmethod
    async def connect(cls, port: int, bodies: Sequence[bytes]) -> RawClient:
        """Open the connection."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_RawConnection, "127.0.0.1", port)
        requests = [
            (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: {BENCH_AUTH['Authorization']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for body in bodies
        ]
        return cls(protocol, requests)

    async def request(self, index: int) -> int:
        """Send one request and wait for its whole response."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("connection closed")
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        transport.write(self._requests[index % len(self._requests)])
        return await waiter

    def close(self) -> None:
        """Close the transport."""
        if self._protocol.transport is not None:
            self._protocol.transport.close()


class AiohttpClient:
    """aiohttp's client, one slot of a session whose connector is limited to the concurrency."""

    def __init__(self, session: aiohttp.ClientSession, url: str, bodies: Sequence[bytes]) -> None:
        self._session = session
        self._url = url
        self._bodies = bodies

    async def request(self, index: int) -> int:
        """POST one body and read the whole response."""
        body = self._bodies[index % len(self._bodies)]
        async with self._session.post(
            self._url, data=body, headers={"Content-Type": "application/json", **BENCH_AUTH}
        ) as response:
            await response.read()
            return response.status

    def close(self) -> None:
        """The session owns the connections."""


@dataclass(slots=True)
class RoundResult:
    """One side's figures for one round."""

    side: str
    round: int
    concurrency: int
    seconds: float
    ok: int
    errors: int
    latencies: list[float]
    server_cpu_s: float | None
    client_cpu_s: float
    queue: int | None = None
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_us_per_request(self) -> float | None:
        """Server CPU microseconds per successful request."""
        if self.server_cpu_s is None or not self.ok:
            return None
        return self.server_cpu_s / self.ok * 1e6

    @property
    def client_cpu_percent(self) -> float:
        """This process's CPU use during the round, in % of one core."""
        return self.client_cpu_s / self.seconds * 100 if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The q-quantile latency (nearest rank), in seconds; NaN without samples."""
        return percentile(self.latencies, q)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of `samples` (sorted or not); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def run_load(
    server: Server,
    *,
    kind: str,
    concurrency: int,
    seconds: float,
    bodies: Sequence[bytes],
    counter: Iterator[int],
    round_no: int,
) -> RoundResult:
    """Closed loop: `concurrency` connections, each sending its next request on each reply."""
    session: aiohttp.ClientSession | None = None
    clients: list[Client] = []
    if kind == "raw":
        clients = list(
            await asyncio.gather(
                *(RawClient.connect(server.port, bodies) for _ in range(concurrency))
            )
        )
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency), timeout=aiohttp.ClientTimeout(60)
        )
        url = f"http://127.0.0.1:{server.port}{PATH}"
        clients = [AiohttpClient(session, url, bodies) for _ in range(concurrency)]
    latencies: list[float] = []
    ok = 0
    errors = 0
    first_error: str | None = None
    ends: list[float] = []

    async def worker(client: Client, deadline: float) -> None:
        nonlocal ok, errors, first_error
        clock = time.perf_counter
        while clock() < deadline:
            started = clock()
            try:
                status = await client.request(next(counter))
            except (OSError, aiohttp.ClientError) as exc:
                errors += 1
                first_error = first_error or repr(exc)
                break
            if status == 201:
                ok += 1
                latencies.append(clock() - started)
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}"
        ends.append(clock())

    cpu_before = server.cpu_seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    try:
        await asyncio.gather(*(worker(c, deadline) for c in clients))
    finally:
        for client in clients:
            client.close()
        if session is not None:
            await session.close()
    elapsed = max(ends, default=time.perf_counter()) - started
    client_cpu = time.process_time() - client_before
    cpu_after = server.cpu_seconds()
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return RoundResult(
        side=server.name,
        round=round_no,
        concurrency=concurrency,
        seconds=elapsed,
        ok=ok,
        errors=errors,
        latencies=latencies,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
        first_error=first_error,
    )


async def controller_version(port: int) -> int | None:
    """The controller's state version (events applied today), from /healthz."""
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            body = await response.json()
    except (OSError, aiohttp.ClientError, ValueError):
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return version if isinstance(version, int) else None


# ----------------------------------------------------------------- the run


@dataclass(slots=True)
class Options:
    """What to run."""

    rounds: int
    seconds: float
    warmup: float
    throughput_connections: int
    latency_connections: int
    client: str
    fresh_each_round: bool
    quick: bool
    keep: bool
    workdir: Path | None


@dataclass(slots=True)
class Bench:
    """The two servers, the request bodies and the results so far."""

    options: Options
    workdir: Path
    config: Path
    bodies: list[bytes]
    servers: dict[str, Server] = field(default_factory=dict)
    generation: int = 0
    counter: Iterator[int] = field(default_factory=itertools.count)

    async def start(self) -> None:
        """Start both servers, each on a fresh data directory."""
        self.generation += 1
        tag = str(self.generation)
        minimum, controller = await asyncio.gather(
            start_minimum(self.workdir, tag), start_controller(self.workdir, self.config, tag)
        )
        self.servers = {MINIMUM: minimum, CONTROLLER: controller}

    async def stop(self) -> None:
        """Stop both servers."""
        await asyncio.gather(*(server.stop() for server in self.servers.values()))
        failed = [
            f"{s.name} exited with {s.process.returncode} (see {s.log_path})"
            for s in self.servers.values()
            if s.process.returncode not in (0, -signal.SIGINT)
        ]
        self.servers = {}
        if failed:
            print("warning: " + "; ".join(failed), file=sys.stderr)

    async def one(self, side: str, concurrency: int, seconds: float, round_no: int) -> RoundResult:
        """One side, one round."""
        server = self.servers[side]
        if server.process.returncode is not None:
            raise SystemExit(f"{side} died (see {server.log_path})")
        result = await run_load(
            server,
            kind=self.options.client,
            concurrency=concurrency,
            seconds=seconds,
            bodies=self.bodies,
            counter=self.counter,
            round_no=round_no,
        )
        if side == CONTROLLER:
            result.queue = await controller_version(server.port)
        return result

    async def phase(self, title: str, concurrency: int) -> list[RoundResult]:
        """Warm both sides up, then alternate minimum / controller for the rounds."""
        opts = self.options
        print(
            f"\n{title}: {concurrency} connections, {opts.rounds} rounds x {opts.seconds:g} s "
            f"per side, alternating (warm-up {opts.warmup:g} s per side)",
            flush=True,
        )
        print(_round_header(), flush=True)
        results: list[RoundResult] = []
        if not opts.fresh_each_round:
            for side in SIDES:
                await self.one(side, concurrency, opts.warmup, 0)
        for round_no in range(1, opts.rounds + 1):
            if opts.fresh_each_round:
                await self.stop()
                await self.start()
                for side in SIDES:
                    await self.one(side, concurrency, opts.warmup, 0)
            for side in SIDES:
                result = await self.one(side, concurrency, opts.seconds, round_no)
                results.append(result)
                print(_round_row(result), flush=True)
        return results


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _round_header() -> str:
    return (
        f"{'round':>5}  {'side':<10} {'req/s':>8} {'errors':>6} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'srv CPU us/req':>14} {'client CPU':>10} "
        f"{'controller state':>16}"
    )


def _round_row(r: RoundResult) -> str:
    state = "-" if r.queue is None else f"{r.queue} events"
    return (
        f"{r.round:>5}  {r.side:<10} {r.rate:>8.0f} {r.errors:>6} "
        f"{_fmt(r.percentile(0.50) * 1e3, '.2f'):>7} {_fmt(r.percentile(0.90) * 1e3, '.2f'):>7} "
        f"{_fmt(r.percentile(0.99) * 1e3, '.2f'):>7} "
        f"{_fmt(max(r.latencies, default=math.nan) * 1e3, '.1f'):>7} "
        f"{_fmt(r.server_cpu_us_per_request, '.0f'):>14} {r.client_cpu_percent:>9.0f}% "
        f"{state:>16}" + (f"  first error: {r.first_error}" if r.first_error else "")
    )


def _median(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(present) if present else math.nan


@dataclass(frozen=True, slots=True)
class Verdict:
    """One line of the summary."""

    label: str
    minimum: float
    controller: float
    target: str
    passed: bool | None  # None: informational

    @property
    def ratio(self) -> float:
        """controller / minimum."""
        return self.controller / self.minimum if self.minimum else math.nan


def summarize(throughput: list[RoundResult], latency: list[RoundResult]) -> list[Verdict]:
    """Medians over rounds per side, their ratios and the verdicts."""

    def per_side(results: list[RoundResult], f: Callable[[RoundResult], float | None]) -> Verdict:
        values = {side: _median([f(r) for r in results if r.side == side]) for side in SIDES}
        return Verdict("", values[MINIMUM], values[CONTROLLER], "", None)

    tput = per_side(throughput, lambda r: r.rate)
    tput_cpu = per_side(throughput, lambda r: r.server_cpu_us_per_request)
    p50 = per_side(latency, lambda r: r.percentile(0.50) * 1e3)
    p90 = per_side(latency, lambda r: r.percentile(0.90) * 1e3)
    p99 = per_side(latency, lambda r: r.percentile(0.99) * 1e3)
    worst = per_side(latency, lambda r: max(r.latencies, default=math.nan) * 1e3)
    lat_rate = per_side(latency, lambda r: r.rate)
    lat_cpu = per_side(latency, lambda r: r.server_cpu_us_per_request)
    c_t = throughput[0].concurrency if throughput else 0
    c_l = latency[0].concurrency if latency else 0
    return [
        Verdict(
            f"throughput, req/s (c={c_t})",
            tput.minimum,
            tput.controller,
            f">= {THROUGHPUT_TARGET:.2f}",
            tput.ratio >= THROUGHPUT_TARGET,
        ),
        Verdict(f"server CPU us/req (c={c_t})", tput_cpu.minimum, tput_cpu.controller, "", None),
        Verdict(f"latency p50, ms (c={c_l})", p50.minimum, p50.controller, "", None),
        Verdict(f"latency p90, ms (c={c_l})", p90.minimum, p90.controller, "", None),
        Verdict(
            f"latency p99, ms (c={c_l})",
            p99.minimum,
            p99.controller,
            f"<= {P99_TARGET:.2f}",
            p99.ratio <= P99_TARGET,
        ),
        Verdict(f"latency max, ms (c={c_l})", worst.minimum, worst.controller, "", None),
        Verdict(f"req/s (c={c_l})", lat_rate.minimum, lat_rate.controller, "", None),
        Verdict(f"server CPU us/req (c={c_l})", lat_cpu.minimum, lat_cpu.controller, "", None),
    ]


def print_summary(verdicts: list[Verdict]) -> None:
    """The summary table: medians over rounds, ratio, target, result."""
    print("\nsummary (median over rounds; ratio = controller / minimum)")
    print(f"{'':<30} {'minimum':>9} {'controller':>10} {'ratio':>6} {'target':>8}  result")
    for v in verdicts:
        result = "" if v.passed is None else ("PASS" if v.passed else "FAIL")
        line = (
            f"{v.label:<30} {_fmt(v.minimum, _digits(v.minimum)):>9} "
            f"{_fmt(v.controller, _digits(v.controller)):>10} {_fmt(v.ratio, '.2f'):>6} "
            f"{v.target:>8}  {result}"
        )
        print(line.rstrip())


def _digits(value: float) -> str:
    return ".0f" if abs(value) >= 100 else ".2f"


async def run(options: Options) -> int:
    """Start the servers, run both phases, print the summary; the exit status."""
    base = options.workdir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hall-bench-", dir=base))
    config_text = bench_config_text()
    config = workdir / "hall.toml"
    config.write_text(config_text, encoding="utf-8")
    themes = theme_ids(config_text)
    bodies = [json.dumps({"theme": t}, separators=(",", ":")).encode() for t in themes]
    bench = Bench(options, workdir, config, bodies)
    print(
        f"issue_throughput: python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs, client={options.client}, data in {workdir}"
    )
    print(f"themes rotated: {', '.join(themes)}")
    await bench.start()
    try:
        throughput = await bench.phase("throughput", options.throughput_connections)
        latency = await bench.phase("latency", options.latency_connections)
    finally:
        await bench.stop()
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    verdicts = summarize(throughput, latency)
    print_summary(verdicts)
    errors = sum(r.errors for r in throughput + latency)
    failed = [v.label for v in verdicts if v.passed is False]
    if errors:
        print(f"\n{errors} requests failed")
    if options.keep:
        print(f"\ndata and server logs kept in {workdir}")
    if errors:
        return 1
    if failed and not options.quick:
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Durable ticket issue: controller vs. a hand-built minimum, alternating."
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side and phase")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per round and side")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per side")
    parser.add_argument("--connections", type=int, default=50, help="throughput phase")
    parser.add_argument("--latency-connections", type=int, default=4, help="latency phase")
    parser.add_argument(
        "--client",
        choices=["raw", "aiohttp"],
        default="raw",
        help="load generator: bare HTTP/1.1 on asyncio (default, cheaper) or aiohttp's client",
    )
    parser.add_argument(
        "--fresh-each-round",
        action="store_true",
        help="restart both servers on fresh data before every round (the controller's queue "
        "then never holds more than one round's tickets)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run (2 rounds x 1 s); targets are reported but only errors fail",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and server logs")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary data directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 2, 1.0, 0.5
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be >= 1, --seconds > 0 and --warmup >= 0")
    return Options(
        rounds=args.rounds,
        seconds=args.seconds,
        warmup=args.warmup,
        throughput_connections=args.connections,
        latency_connections=args.latency_connections,
        client=args.client,
        fresh_each_round=args.fresh_each_round,
        quick=args.quick,
        keep=args.keep,
        workdir=args.workdir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
