"""Call-pad key to window-display command over MQTT: the controller vs. a hand-built minimum.

Both paths run in one run of this script, against one Mosquitto started here on a free
127.0.0.1 port (no persistence, set_tcp_nodelay true), one after the other:

* **controller** (path A): the whole controller, started in this process with
  ``start_controller`` (on uvloop, as ``hall-controller run`` runs it, with its JSON log lines
  going to a file) on a generated hall of ``--windows`` windows, each with an MQTT call pad
  (profile mqtt-callpad) and an MQTT window display (mqtt-window-display), on a fresh data
  directory with ``synchronous = "full"``. Before the load starts every window is opened and
  twice the tickets the run will call are issued, so every window always has someone to call.
* **minimum** (path B): one paho client (its own network thread, TCP_NODELAY like MqttLink)
  subscribed to the pads' ``event/key``; in paho's thread, for each key: ``json.loads``, one
  INSERT and COMMIT in an SQLite WAL database with ``synchronous=FULL``, then the display's
  ``cmd/show`` published at QoS 1. Nothing else.

The load comes from a separate process (``_generator``, this same file), so that it shares
neither the event loop nor the GIL with the path it measures. It publishes the retained
``$state`` "ready" of every device, then presses ``call`` (``event/key``, QoS 1) on random idle
windows with Poisson arrivals at ``--rate`` per second in total. A call press is timed from just
before its publish to the arrival, in the generator's paho thread, of that window's next
``cmd/show``. As a clerk would, the generator then presses ``start`` on the same window as soon
as the call is shown (the applicant has come), and the window is idle again once the start's
display command (``cmd/show`` without blink) has arrived: the next call at that window finishes
the service and calls the next ticket. So each window has one key outstanding at a time, every
timed call produces exactly one ``cmd/show`` (with blink, the only one a call produces once the
window is open), and matching a display command to its press needs only the window and the
blink flag. Starts are not timed; they double the key events the path handles.

A call counts as lost when its ``cmd/show`` has not come within 2 s. The verdict is the issue's
target: p99(controller) <= 1.5 x p99(minimum).

    .venv/bin/python bench/mqtt_call_latency.py [--windows 200] [--rate 200] [--seconds 20]

Exit status 1 when the target fails or a call is lost; 2 when Mosquitto is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from hall_controller.app import run_event_loop, start_controller
from hall_controller.core.model import TicketStatus
from hall_controller.local_broker import mosquitto_config
from hall_controller.logs import configure_logging
from hall_controller.protocols.mqtt_tree import Topics, decode_cmd, encode_event, encode_state
from hall_controller.services import HallService
from hall_controller.settings import validate_settings_text
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import TransportError

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
DEMO_CONFIG = ROOT / "config" / "demo-hall.toml"
PROFILES_DIR = ROOT / "device_profiles"
MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"
# Unacknowledged QoS 1 messages per connection, the same on the broker and in the controller.
MAX_INFLIGHT = 100

LOST_AFTER_S = 2.0  # a call without its display command within this long is lost
P99_TARGET = 1.5  # p99(controller) <= this x p99(minimum)
CONTROLLER = "controller"
MINIMUM = "minimum"

# Timeouts of the set-up and tear-down steps (the measured waits have their own).
BROKER_START_S = 5.0
CONNECT_S = 10.0
READY_S = 20.0
PREPARE_S = 300.0
CLOSE_S = 30.0


# ----------------------------------------------------------------- the broker


class Broker:
    """A throwaway Mosquitto on a free 127.0.0.1 port: no persistence, no Nagle, log to a file."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            self.port: int = probe.getsockname()[1]
        self.log_path = workdir / "mosquitto.log"
        conf = workdir / "mosquitto.conf"
        # max_inflight as the controller's [mqtt] max_inflight below.
        text = mosquitto_config(HOST, self.port, self.log_path, max_inflight=MAX_INFLIGHT)
        conf.write_text(text, encoding="utf-8")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + BROKER_START_S
        while not _accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise SystemExit(f"mosquitto did not start on {HOST}:{self.port}:\n{log}")
            time.sleep(0.01)

    def close(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def mosquitto_version() -> str:
    """'2.0.11' or '?'."""
    try:
        out = subprocess.run(
            [MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5.0, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    first = out.splitlines()[0] if out else ""
    return first.rsplit(" ", 1)[-1] if "version" in first else "?"


# ----------------------------------------------------------------- names and MQTT helpers


def window_ids(count: int) -> list[str]:
    """The generated hall's window ids: "1" .. "count"."""
    return [str(i) for i in range(1, count + 1)]


def pad_id(window: str) -> str:
    """The call pad of a window."""
    return f"w{window}-pad"


def display_id(window: str) -> str:
    """The window display of a window."""
    return f"w{window}-display"


def device_root(hall_id: str) -> str:
    """The prefix of every device topic of a hall (Topics builds the same)."""
    return f"hall/{hall_id}/device"


def paho_client(client_id: str) -> paho.Client:
    """A paho client (MQTT 3.1.1, like the pads) that sends every packet at once (TCP_NODELAY)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.on_socket_open = _no_nagle
    return client


def _no_nagle(client: paho.Client, userdata: Any, sock: paho.SocketLike) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# ----------------------------------------------------------------- the hall config (path A)


def _toml(value: object) -> str:
    """A TOML value for the few types the generated config uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def hall_config_text(hall_id: str, windows: int, mqtt_port: int) -> str:
    """The demo hall's themes, policy and store settings, with `windows` windows (their themes
    repeating the demo's windows in turn), each with an MQTT call pad and an MQTT display;
    opening hours not enforced, no daily caps or quotas, synchronous = "full"."""
    demo = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    hall = demo["hall"]
    lines = [
        "[hall]",
        f"id = {_toml(hall_id)}",
        f"name_zh = {_toml(hall['name_zh'])}",
        f"name_en = {_toml('MQTT call latency bench')}",
        f"timezone = {_toml(hall['timezone'])}",
        f"day_rollover = {_toml(hall['day_rollover'])}",
        "enforce_opening_hours = false",
        "one_active_ticket_per_person = false",
        "",
        "[store]",
        'synchronous = "full"',
        f"snapshot_every = {_toml(demo['store']['snapshot_every'])}",
        "",
        "[policy]",
        *(f"{key} = {_toml(value)}" for key, value in demo["policy"].items()),
    ]
    for theme in demo["themes"]:
        lines += ["", "[[themes]]"]
        kept = {key: value for key, value in theme.items() if key not in ("daily_cap", "quotas")}
        lines += [f"{key} = {_toml(value)}" for key, value in kept.items()]
    patterns = [list(w["themes"]) for w in demo["windows"]]
    for i, window in enumerate(window_ids(windows)):
        lines += [
            "",
            "[[windows]]",
            f"id = {_toml(window)}",
            f"name_zh = {_toml(window + '号窗口')}",
            f"name_en = {_toml('Window ' + window)}",
            f"themes = {_toml(patterns[i % len(patterns)])}",
        ]
    lines += [
        "",
        "[mqtt]",
        f"host = {_toml(HOST)}",
        f"port = {mqtt_port}",
        f"max_inflight = {MAX_INFLIGHT}",
        "",
        "[profiles]",
        f"dir = {_toml(str(PROFILES_DIR))}",
    ]
    for window in window_ids(windows):
        lines += [
            "",
            "[[devices]]",
            f"id = {_toml(pad_id(window))}",
            'profile = "mqtt-callpad"',
            f"window = {_toml(window)}",
            "",
            "[[devices]]",
            f"id = {_toml(display_id(window))}",
            'profile = "mqtt-window-display"',
            f"window = {_toml(window)}",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- the load generator process


@dataclass(slots=True)
class Press:
    """The one key a window has outstanding."""

    kind: str  # "call" or "start"
    sent_ns: int
    measured: bool


@dataclass(slots=True)
class GenResult:
    """What the generator measured (sent to the orchestrator as one JSON line)."""

    latencies_ms: list[float] = field(default_factory=list)
    calls: int = 0  # timed call presses
    starts: int = 0  # start presses in the measured period
    lost: int = 0  # calls without their display command within LOST_AFTER_S
    late: int = 0  # of those, the ones whose display command came after all
    starts_lost: int = 0  # starts without their display command by the end
    unexpected: int = 0  # display commands that matched no outstanding key
    all_busy: int = 0  # Poisson arrivals that found every window busy (skipped)
    seconds: float = 0.0  # the measured period
    cpu_s: float = 0.0  # the generator's CPU over the measured period


class LoadGenerator:
    """One paho connection: presses keys as the pads, receives cmd/show as the displays."""

    def __init__(self, port: int, hall_id: str, windows: int, seed: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.topics = Topics(hall_id)
        self.hall_id = hall_id
        self.windows = window_ids(windows)
        self.rng = random.Random(seed)
        self.key_topic = {w: self.topics.device_event(pad_id(w), "key") for w in self.windows}
        self.window_of_display = {display_id(w): w for w in self.windows}
        self.payload = {k: encode_event("key", {"key": k}) for k in ("call", "start")}
        self.pending: dict[str, Press] = {}
        self.idle: list[str] = list(self.windows)  # windows with no key outstanding
        self.measuring = False
        self.pressing = False
        self.open_calls = 0  # measured calls not shown yet
        self.drained = asyncio.Event()  # set when the last measured call has been shown
        self.result = GenResult()
        self._subscribed: asyncio.Future[None] = self.loop.create_future()
        self._acks: dict[int, asyncio.Future[None]] = {}
        self.client = paho_client(f"bench-load-{hall_id}-{os.getpid()}")
        # No in-flight limit of its own (paho's default is 20): a key press is published at
        # once, whatever the path does with its own publishes.
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._paho_connect
        self.client.on_subscribe = self._paho_subscribe
        self.client.on_publish = self._paho_publish
        self.client.on_message = self._paho_message

    # --- paho's thread: stamp and hand over -----------------------------------------------

    def _paho_connect(self, client: paho.Client, *rest: Any) -> None:
        client.subscribe(f"{device_root(self.hall_id)}/+/cmd/show", qos=1)

    def _paho_subscribe(self, client: paho.Client, *rest: Any) -> None:
        self.loop.call_soon_threadsafe(_settle, self._subscribed)

    def _paho_publish(self, client: paho.Client, userdata: Any, mid: int, *rest: Any) -> None:
        self.loop.call_soon_threadsafe(self._acked, mid)

    def _paho_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        arrived = time.perf_counter_ns()
        self.loop.call_soon_threadsafe(self._shown, message.topic, bytes(message.payload), arrived)

    # --- the loop ---------------------------------------------------------------------------

    def _acked(self, mid: int) -> None:
        ack = self._acks.pop(mid, None)
        if ack is not None:
            _settle(ack)

    async def connect(self) -> None:
        """Connect, subscribe to every display's cmd/show, wait for the SUBACK."""
        self.client.connect_timeout = CONNECT_S
        await asyncio.wait_for(
            asyncio.to_thread(self.client.connect, HOST, self.port, 30), CONNECT_S
        )
        self.client.loop_start()
        await asyncio.wait_for(self._subscribed, CONNECT_S)

    async def announce(self) -> None:
        """Publish every device's retained $state "ready" (QoS 1) and wait for the PUBACKs."""
        ready = encode_state("ready")
        acks: list[asyncio.Future[None]] = []
        for window in self.windows:
            for device in (pad_id(window), display_id(window)):
                info = self.client.publish(
                    self.topics.device_state(device), ready, qos=1, retain=True
                )
                ack = self.loop.create_future()
                self._acks[info.mid] = ack
                acks.append(ack)
        # The PUBACK handler runs on this loop: no mid can be acked before it is registered.
        await asyncio.wait_for(asyncio.gather(*acks), CONNECT_S)

    async def close(self) -> None:
        """Disconnect and end paho's thread."""
        self.client.disconnect()
        await asyncio.wait_for(asyncio.to_thread(self.client.loop_stop), CLOSE_S)

    def _take_idle(self) -> str | None:
        if not self.idle:
            return None
        i = self.rng.randrange(len(self.idle))
        window = self.idle[i]
        last = self.idle.pop()
        if last != window:
            self.idle[i] = last
        return window

    def _press(self, window: str, kind: str) -> None:
        measured = self.measuring
        if measured:
            if kind == "call":
                self.result.calls += 1
                self.open_calls += 1
            else:
                self.result.starts += 1
        topic, payload = self.key_topic[window], self.payload[kind]
        sent = time.perf_counter_ns()
        self.pending[window] = Press(kind, sent, measured)
        self.client.publish(topic, payload, qos=1)

    def _shown(self, topic: str, payload: bytes, arrived: int) -> None:
        parts = topic.split("/")
        window = self.window_of_display.get(parts[3]) if len(parts) == 6 else None
        command = decode_cmd("show", payload)
        press = self.pending.get(window) if window is not None else None
        if window is None or command is None or press is None:
            self.result.unexpected += 1
            return
        if command.data.get("blink") is not (press.kind == "call"):
            self.result.unexpected += 1
            return
        del self.pending[window]
        if press.kind == "call":
            if press.measured:
                self.open_calls -= 1
                if self.open_calls == 0 and not self.measuring:
                    self.drained.set()
                latency_ms = (arrived - press.sent_ns) / 1e6
                if latency_ms <= LOST_AFTER_S * 1e3:
                    self.result.latencies_ms.append(latency_ms)
                else:
                    self.result.late += 1
            if self.pressing:
                self._press(window, "start")  # the applicant has come to the window
        else:
            self.idle.append(window)

    async def poisson_calls(self, rate: float, until: float) -> None:
        """Call presses on random idle windows, exponential gaps of mean 1/rate, until `until`."""
        loop = self.loop
        at = loop.time()
        while True:
            at += self.rng.expovariate(rate)
            if at >= until:
                return
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            window = self._take_idle()
            if window is None:
                self.result.all_busy += 1
                continue
            self._press(window, "call")

    async def run(
        self, rate: float, warmup: float, seconds: float, emit: Callable[..., None]
    ) -> None:
        """Warm-up, then the measured period, then wait for the outstanding calls."""
        loop = self.loop
        self.pressing = True
        start = loop.time()
        if warmup > 0:
            await asyncio.wait_for(
                asyncio.create_task(self.poisson_calls(rate, start + warmup), name="warm-up calls"),
                warmup + 5.0,
            )
        self.measuring = True
        emit("measure-start")
        cpu_before = time.process_time()
        begun = loop.time()
        await asyncio.wait_for(
            asyncio.create_task(self.poisson_calls(rate, begun + seconds), name="timed calls"),
            seconds + 5.0,
        )
        self.result.seconds = loop.time() - begun
        self.measuring = False
        self.pressing = False
        # Every call still outstanding has LOST_AFTER_S from its press to be shown.
        if self.open_calls:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), LOST_AFTER_S + 0.2)
        self.result.cpu_s = time.process_time() - cpu_before
        for press in self.pending.values():
            if press.measured and press.kind == "start":
                self.result.starts_lost += 1
        never = sum(1 for p in self.pending.values() if p.kind == "call" and p.measured)
        self.result.lost = never + self.result.late


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _read_stdin_line(within: float) -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        return await asyncio.wait_for(reader.readline(), within)
    finally:
        transport.close()


async def generator_main(args: argparse.Namespace) -> int:
    """The load generator process: announce, wait for "go", press, report one JSON line."""

    def emit(event: str, **data: object) -> None:
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()

    gen = LoadGenerator(args.port, args.hall, args.windows, args.seed)
    try:
        await gen.connect()
        await gen.announce()
        emit("announced")
        go = await _read_stdin_line(READY_S + PREPARE_S)
        if go.strip() != b"go":
            return 1
        await gen.run(args.rate, args.warmup, args.seconds, emit)
    finally:
        await gen.close()
    r = gen.result
    emit(
        "result",
        latencies_ms=[round(v, 4) for v in r.latencies_ms],
        calls=r.calls,
        starts=r.starts,
        lost=r.lost,
        late=r.late,
        starts_lost=r.starts_lost,
        unexpected=r.unexpected,
        all_busy=r.all_busy,
        seconds=r.seconds,
        cpu_s=r.cpu_s,
    )
    return 0


# ----------------------------------------------------------------- path B: the minimum


class Minimum:
    """paho's network thread: json.loads, one INSERT + COMMIT (WAL, FULL), publish cmd/show."""

    def __init__(self, port: int, hall_id: str, db: Path) -> None:
        self.port = port
        self.root = device_root(hall_id)
        self.conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SystemExit(f"{db}: WAL mode unavailable (got {mode!r})")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE keys(id INTEGER PRIMARY KEY, device TEXT NOT NULL, "
            "key TEXT NOT NULL, at REAL NOT NULL)"
        )
        self.numbers: dict[str, int] = {}
        self.errors = 0
        self.loop = asyncio.get_running_loop()
        self._subscribed: asyncio.Future[None] = self.loop.create_future()
        self.client = paho_client(f"bench-minimum-{hall_id}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: paho.Client, *rest: Any) -> None:
        client.subscribe(f"{self.root}/+/event/key", qos=1)

    def _on_subscribe(self, client: paho.Client, *rest: Any) -> None:
        self.loop.call_soon_threadsafe(_settle, self._subscribed)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            pad = message.topic.split("/")[3]
            key = json.loads(message.payload)["key"]
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO keys(device, key, at) VALUES (?, ?, ?)", (pad, key, time.time())
            )
            self.conn.execute("COMMIT")
            window = pad.removeprefix("w").removesuffix("-pad")
            if key == "call":
                self.numbers[window] = self.numbers.get(window, 0) + 1
            ticket = f"A{self.numbers.get(window, 0):03d}"
            body = {"blink": key == "call", "text": f"请{ticket}号", "ticket": ticket}
            body["window"] = window
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            client.publish(f"{self.root}/{display_id(window)}/cmd/show", payload.encode(), qos=1)
        except (ValueError, KeyError, IndexError, TypeError, sqlite3.Error):
            self.errors += 1

    async def start(self) -> None:
        """Connect and subscribe; wait for the SUBACK."""
        self.client.connect_timeout = CONNECT_S
        await asyncio.wait_for(
            asyncio.to_thread(self.client.connect, HOST, self.port, 30), CONNECT_S
        )
        self.client.loop_start()
        await asyncio.wait_for(self._subscribed, CONNECT_S)

    async def stop(self) -> None:
        """Disconnect, end paho's thread, close the database."""
        self.client.disconnect()
        await asyncio.wait_for(asyncio.to_thread(self.client.loop_stop), CLOSE_S)
        self.conn.close()


# ----------------------------------------------------------------- the orchestrator


@dataclass(frozen=True, slots=True)
class Options:
    """What to run."""

    windows: int
    rate: float
    seconds: float
    warmup: float
    rounds: int
    paths: tuple[str, ...]
    seed: int
    keep: bool
    workdir: Path | None


@dataclass(slots=True)
class SideResult:
    """One path, one round."""

    side: str
    round: int
    latencies_ms: list[float]
    calls: int
    starts: int
    lost: int
    late: int
    starts_lost: int
    unexpected: int
    all_busy: int
    seconds: float
    generator_cpu_s: float
    server_cpu_s: float
    notes: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        """Latency percentile q (0-100) in ms."""
        return percentile(self.latencies_ms, q)

    @property
    def calls_per_s(self) -> float:
        """Timed call presses per second."""
        return self.calls / self.seconds if self.seconds else math.nan

    @property
    def keys_per_s(self) -> float:
        """Key events (calls and starts) per second."""
        return (self.calls + self.starts) / self.seconds if self.seconds else math.nan

    @property
    def server_us_per_key(self) -> float:
        """CPU of the path's process (all threads) per key event."""
        keys = self.calls + self.starts
        return self.server_cpu_s / keys * 1e6 if keys else math.nan


async def _read_event(
    proc: asyncio.subprocess.Process, expected: str, within: float
) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), within)
    if not line:
        code = await asyncio.wait_for(proc.wait(), CLOSE_S)
        raise SystemExit(f"the load generator exited ({code}) before {expected!r}")
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("event") != expected:
        raise SystemExit(f"the load generator said {line[:200]!r}, expected {expected!r}")
    return data


async def drive(
    opts: Options,
    side: str,
    round_no: int,
    broker_port: int,
    hall_id: str,
    workdir: Path,
    ready: Callable[[], bool],
) -> SideResult:
    """Run the load generator against the path that serves `hall_id`; its figures."""
    log = (workdir / f"generator-{side}-{round_no}.log").open("wb")
    args = [
        sys.executable,
        str(SCRIPT),
        "_generator",
        f"--port={broker_port}",
        f"--hall={hall_id}",
        f"--windows={opts.windows}",
        f"--rate={opts.rate}",
        f"--seconds={opts.seconds}",
        f"--warmup={opts.warmup}",
        f"--seed={opts.seed + round_no}",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        limit=1 << 26,
        cwd=ROOT,
    )
    try:
        await _read_event(proc, "announced", CONNECT_S * 3)
        async with asyncio.timeout(READY_S):
            while not ready():  # noqa: ASYNC110 - the devices' states arrive over MQTT
                await asyncio.sleep(0.02)
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await asyncio.wait_for(proc.stdin.drain(), CONNECT_S)
        await _read_event(proc, "measure-start", opts.warmup + 30.0)
        cpu_before = time.process_time()
        result = await _read_event(proc, "result", opts.seconds + LOST_AFTER_S + 30.0)
        cpu = time.process_time() - cpu_before
        code = await asyncio.wait_for(proc.wait(), CLOSE_S)
        if code != 0:
            raise SystemExit(f"the load generator exited with {code}")
    finally:
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), CLOSE_S)
        log.close()
    return SideResult(
        side=side,
        round=round_no,
        latencies_ms=[float(v) for v in result["latencies_ms"]],
        calls=int(result["calls"]),
        starts=int(result["starts"]),
        lost=int(result["lost"]),
        late=int(result["late"]),
        starts_lost=int(result["starts_lost"]),
        unexpected=int(result["unexpected"]),
        all_busy=int(result["all_busy"]),
        seconds=float(result["seconds"]),
        generator_cpu_s=float(result["cpu_s"]),
        server_cpu_s=cpu,
    )


async def run_minimum(opts: Options, round_no: int, broker: Broker, workdir: Path) -> SideResult:
    """Path B."""
    hall_id = f"min-{round_no}"
    minimum = Minimum(broker.port, hall_id, workdir / f"minimum-{round_no}.sqlite3")
    try:
        await minimum.start()
        result = await drive(opts, MINIMUM, round_no, broker.port, hall_id, workdir, lambda: True)
    finally:
        await minimum.stop()
    if minimum.errors:
        result.notes.append(f"minimum: {minimum.errors} key events failed")
    return result


async def prepare_hall(
    service: HallService, windows: Sequence[str], tickets: dict[str, int]
) -> None:
    """Open every window, then issue the tickets, in concurrent batches (group commit)."""
    await asyncio.gather(*(service.window_action(w, "open", actor="bench") for w in windows))
    themes = [theme for theme, count in tickets.items() for _ in range(count)]
    random.Random(0).shuffle(themes)
    batch = 256
    for i in range(0, len(themes), batch):
        await asyncio.gather(
            *(
                service.issue_ticket(
                    theme=t, priority=None, id_number=None, channel="api", actor="bench"
                )
                for t in themes[i : i + batch]
            )
        )


def tickets_needed(opts: Options, window_themes: Sequence[Sequence[str]]) -> dict[str, int]:
    """Per theme: twice each window's expected calls (plus 10) on the window's first theme."""
    per_window = opts.rate * (opts.warmup + opts.seconds) / len(window_themes)
    need = math.ceil(2 * per_window) + 10
    counts: dict[str, int] = {}
    for themes in window_themes:
        counts[themes[0]] = counts.get(themes[0], 0) + need
    return counts


async def run_controller_side(
    opts: Options, round_no: int, broker: Broker, workdir: Path
) -> SideResult:
    """Path A: the whole controller, in this process."""
    hall_id = f"ctl-{round_no}"
    barrier = f"hall/{hall_id}/bench/barrier"
    config = workdir / f"hall-{round_no}.toml"
    text = hall_config_text(hall_id, opts.windows, broker.port)
    config.write_text(text, encoding="utf-8")
    settings = validate_settings_text(text, str(config))
    windows = [w.id for w in settings.hall.windows]
    tickets = tickets_needed(opts, [w.themes for w in settings.hall.windows])
    controller = await asyncio.wait_for(
        start_controller(settings, workdir / f"data-{round_no}", host=HOST, port=0), PREPARE_S
    )
    try:
        stack = controller.devices
        assert stack is not None
        assert stack.mqtt is not None
        link, hub = stack.mqtt, stack.hub
        async with asyncio.timeout(CONNECT_S):
            while link.state is not LinkState.UP:  # noqa: ASYNC110 - the hub holds on_state
                await asyncio.sleep(0.02)
        began = time.perf_counter()
        await asyncio.wait_for(prepare_hall(controller.service, windows, tickets), PREPARE_S)
        # Issuing the tickets queued their city-stream events (QoS 1) in paho, up to its limit
        # (the rest were dropped): once this publish is acknowledged, the queue has gone out.
        async with asyncio.timeout(PREPARE_S):
            while True:
                try:
                    await link.publish_wait(barrier, b"", qos=1, timeout=PREPARE_S)
                    break
                except TransportError:  # the queue is still full
                    await asyncio.sleep(0.05)
        prepared = time.perf_counter() - began
        version_before = controller.service.current().version
        dropped_before = link.dropped
        result = await drive(
            opts,
            CONTROLLER,
            round_no,
            broker.port,
            hall_id,
            workdir,
            lambda: all(d.ready for d in hub.devices.values()),
        )
        hall = controller.service.current()
        waiting = sum(1 for t in hall.tickets.values() if t.status is TicketStatus.WAITING)
        result.notes.append(
            f"controller: {sum(tickets.values())} tickets issued and {len(windows)} windows "
            f"opened in {prepared:.1f} s before the load; {hall.version - version_before} events "
            f"during the load; {waiting} tickets still waiting; MQTT publishes dropped "
            f"{dropped_before} before the load (issuing) and {link.dropped - dropped_before} "
            f"during it, handler errors {link.handler_errors}"
        )
    finally:
        await asyncio.wait_for(controller.close(), CLOSE_S)
    return result


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


HEADER = (
    f"{'round':>5}  {'path':<10} {'calls':>6} {'lost':>4} {'calls/s':>7} {'keys/s':>6} "
    f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv CPU us/key':>14} "
    f"{'gen CPU':>7}"
)


def row(r: SideResult) -> str:
    """One line of the per-round table."""
    gen = r.generator_cpu_s / r.seconds * 100 if r.seconds else math.nan
    return (
        f"{r.round:>5}  {r.side:<10} {len(r.latencies_ms):>6} {r.lost:>4} "
        f"{_fmt(r.calls_per_s, '.0f'):>7} {_fmt(r.keys_per_s, '.0f'):>6} "
        f"{_fmt(r.p(50), '.2f'):>7} {_fmt(r.p(90), '.2f'):>7} {_fmt(r.p(99), '.2f'):>7} "
        f"{_fmt(max(r.latencies_ms, default=math.nan), '.2f'):>7} "
        f"{_fmt(r.server_us_per_key, '.0f'):>14} {_fmt(gen, '.0f'):>6}%"
    )


def _median(values: Sequence[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else math.nan


def summary(results: Sequence[SideResult]) -> bool | None:
    """Print the medians over rounds, the ratios and the verdict; None if a path is missing."""
    by_side = {s: [r for r in results if r.side == s] for s in (MINIMUM, CONTROLLER)}
    rounds = max(len(v) for v in by_side.values())
    print(f"\nsummary ({'median over rounds; ' if rounds > 1 else ''}ratio = controller / minimum)")
    print(f"{'':<24} {'minimum':>9} {'controller':>10} {'ratio':>6} {'target':>8}  result")
    verdict: bool | None = None
    # (label, figure of one round, format, whether a ratio means anything)
    lines: list[tuple[str, Callable[[SideResult], float], str, bool]] = [
        ("calls timed", lambda r: float(len(r.latencies_ms)), ".0f", False),
        ("calls lost (> 2 s)", lambda r: float(r.lost), ".0f", False),
        ("calls/s achieved", lambda r: r.calls_per_s, ".1f", False),
        ("key events/s achieved", lambda r: r.keys_per_s, ".1f", False),
        ("latency p50, ms", lambda r: r.p(50), ".2f", True),
        ("latency p90, ms", lambda r: r.p(90), ".2f", True),
        ("latency p99, ms", lambda r: r.p(99), ".2f", True),
        ("latency max, ms", lambda r: max(r.latencies_ms, default=math.nan), ".2f", True),
        ("server CPU us/key event", lambda r: r.server_us_per_key, ".0f", True),
    ]
    for label, f, spec, with_ratio in lines:
        b = _median([f(r) for r in by_side[MINIMUM]])
        a = _median([f(r) for r in by_side[CONTROLLER]])
        ratio = a / b if with_ratio and b else math.nan
        target, result = "", ""
        if label == "latency p99, ms":
            target = f"<= {P99_TARGET:.2f}"
            if not math.isnan(ratio):
                verdict = ratio <= P99_TARGET
                result = "PASS" if verdict else "FAIL"
        shown = _fmt(ratio, ".2f") if with_ratio else ""
        line = (
            f"{label:<24} {_fmt(b, spec):>9} {_fmt(a, spec):>10} {shown:>6} {target:>8}  {result}"
        )
        print(line.rstrip())
    return verdict


async def orchestrate(opts: Options, broker: Broker, workdir: Path) -> int:
    """Every round: the minimum, then the controller; the tables; the exit status."""
    results: list[SideResult] = []
    print(HEADER, flush=True)
    for round_no in range(1, opts.rounds + 1):
        for side in opts.paths:
            if side == MINIMUM:
                result = await run_minimum(opts, round_no, broker, workdir)
            else:
                result = await run_controller_side(opts, round_no, broker, workdir)
            results.append(result)
            print(row(result), flush=True)
    for r in results:
        extra = []
        if r.late:
            extra.append(f"{r.late} of the lost calls were shown after 2 s")
        if r.starts_lost:
            extra.append(f"{r.starts_lost} start presses never shown")
        if r.unexpected:
            extra.append(f"{r.unexpected} display commands matched no key")
        if r.all_busy:
            extra.append(f"{r.all_busy} arrivals found every window busy (skipped)")
        for note in [*r.notes, *extra]:
            print(f"  round {r.round} {r.side}: {note}")
    verdict = summary(results) if len(set(opts.paths)) == 2 else None
    lost = sum(r.lost for r in results)
    if lost:
        print(f"\n{lost} calls lost (no display command within {LOST_AFTER_S:g} s)")
    return 1 if lost or verdict is False else 0


async def main_async(opts: Options, broker: Broker, workdir: Path) -> int:
    """Configure the controller's logging (to a file, as JSON lines) and run."""
    # SIGTERM stops the run like Ctrl-C does: the finally blocks stop the paths and the broker.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    configure_logging("info", json_lines=True)
    handler = logging.getLogger().handlers[0]
    log_file: IO[str] = (workdir / "controller.log").open("a", encoding="utf-8")
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(log_file)
    try:
        return await orchestrate(opts, broker, workdir)
    finally:
        log_file.close()


def parse_args(argv: Sequence[str]) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Call-pad key to window-display command over MQTT: controller vs. minimum."
    )
    parser.add_argument("--windows", type=int, default=200, help="windows, each a pad + display")
    parser.add_argument("--rate", type=float, default=200.0, help="call presses per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per path")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (minimum, controller)")
    parser.add_argument(
        "--paths",
        choices=["both", CONTROLLER, MINIMUM],
        default="both",
        help="run only one path (e.g. to profile the controller)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the Poisson arrivals")
    parser.add_argument("--keep", action="store_true", help="keep the data, configs and logs")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary directory")
    args = parser.parse_args(argv)
    if args.windows < 1 or args.rate <= 0 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--windows >= 1, --rate > 0, --seconds > 0 and --warmup >= 0")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    paths = (MINIMUM, CONTROLLER) if args.paths == "both" else (args.paths,)
    return Options(
        windows=args.windows,
        rate=args.rate,
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        paths=paths,
        seed=args.seed,
        keep=args.keep,
        workdir=args.workdir,
    )


def generator_args(argv: Sequence[str]) -> argparse.Namespace:
    """The load generator's command line (given by the orchestrator)."""
    parser = argparse.ArgumentParser(prog="mqtt_call_latency.py _generator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hall", required=True)
    parser.add_argument("--windows", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the benchmark, or (`_generator ...`) its load generator process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_generator"]:
        try:
            return asyncio.run(generator_main(generator_args(argv[1:])))
        except KeyboardInterrupt:
            return 130
    opts = parse_args(argv)
    if shutil.which(MOSQUITTO) is None:
        print(f"{MOSQUITTO} is not installed", file=sys.stderr)
        return 2
    base = opts.workdir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hall-mqtt-bench-", dir=base))
    broker: Broker | None = None
    try:
        broker = Broker(workdir)
        print(
            f"mqtt_call_latency: python {sys.version.split()[0]}, paho-mqtt {paho_version}, "
            f"mosquitto {mosquitto_version()} on {HOST}:{broker.port}, {os.cpu_count()} CPUs, "
            f"data in {workdir}"
        )
        print(
            f"{opts.windows} windows (a call pad and a display each, {2 * opts.windows} MQTT "
            f"devices); call presses at {opts.rate:g}/s (Poisson) on idle windows, each followed "
            f"by a start once shown; {opts.warmup:g} s warm-up + {opts.seconds:g} s measured per "
            "path; a call is timed from its publish to its window's cmd/show",
            flush=True,
        )
        return run_event_loop(main_async(opts, broker, workdir))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        if broker is not None:
            broker.close()
        if opts.keep:
            print(f"data, configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
