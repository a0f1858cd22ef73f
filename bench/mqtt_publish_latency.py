"""Reply latency through MqttLink: does receiving at QoS 1 delay our own publishes?

Device A (a plain paho client) publishes an event at QoS 1; the controller-side MqttLink,
subscribed at QoS 1, publishes a reply from its handler; device A receives it. An aiomqtt client
that receives at QoS 1 holds such a reply until the next message comes in (FIELD-NOTES, "MQTT"):
in this closed loop that next message never comes, so a trapped reply times out.

The floor is the same round trip with a plain paho client answering in its own network thread
(no asyncio hop). Everything runs against a Mosquitto started here on a free 127.0.0.1 port,
with set_tcp_nodelay true, and every client sets TCP_NODELAY: with Nagle's algorithm a small
packet written while the previous one is unacknowledged waits for the peer's delayed ACK, about
40 ms (--broker-nagle shows Mosquitto's default).

    .venv/bin/python bench/mqtt_publish_latency.py --count 500

Exits 1 if a reply times out or MqttLink's median is more than TRAP_MS above the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from hall_controller.local_broker import mosquitto_config
from hall_controller.transports.mqtt import Message, MqttLink

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"
EVENT = "hall/bench/device/pad-a/event/key"
REPLY = "hall/bench/device/pad-a/cmd/beep"
TRAP_MS = 10.0


class Broker:
    """A throwaway Mosquitto: no persistence, log in a temporary directory."""

    def __init__(self, workdir: Path, *, nagle: bool) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port: int = probe.getsockname()[1]
        self.log = workdir / "mosquitto.log"
        conf = workdir / "mosquitto.conf"
        text = mosquitto_config(HOST, self.port, self.log, tcp_nodelay=not nagle)
        conf.write_text(text, encoding="utf-8")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 5.0
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    log = self.log.read_text(errors="replace") if self.log.exists() else ""
                    raise SystemExit(
                        f"mosquitto did not start on port {self.port}:\n{log}"
                    ) from None
                time.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Samples:
    """Latencies of one path, in milliseconds."""

    round_trip: list[float] = field(default_factory=list)
    to_handler: list[float] = field(default_factory=list)
    from_handler: list[float] = field(default_factory=list)
    timeouts: int = 0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def paho_client(client_id: str) -> paho.Client:
    """A device-side client that, like MqttLink, sends each packet at once (TCP_NODELAY)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.on_socket_open = no_nagle
    return client


def no_nagle(client: paho.Client, userdata: Any, sock: paho.SocketLike) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(client: paho.Client, port: int, name: str) -> None:
    client.connect(HOST, port, keepalive=15)
    client.loop_start()
    deadline = time.monotonic() + 5.0
    while not client.is_connected():
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not connect to port {port}")
        time.sleep(0.001)


def disconnect(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


class DeviceA:
    """The device: publishes events, timestamps replies in its network thread."""

    def __init__(self, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: asyncio.Future[int] | None = None
        self.expected = b""
        self.client = paho_client("pad-a")
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        connect(self.client, port, "device A")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe(REPLY, qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        arrived = time.perf_counter_ns()
        self.loop.call_soon_threadsafe(self._arrived, bytes(message.payload), arrived)

    def _arrived(self, payload: bytes, arrived: int) -> None:
        if self.waiting is not None and not self.waiting.done() and payload == self.expected:
            self.waiting.set_result(arrived)

    async def ask(self, payload: bytes, within: float) -> tuple[int, int] | None:
        """(sent, reply arrived) in perf_counter ns, or None if no reply in time."""
        self.expected = payload
        self.waiting = self.loop.create_future()
        sent = time.perf_counter_ns()
        self.client.publish(EVENT, payload, qos=1)
        try:
            async with asyncio.timeout(within):
                arrived = await self.waiting
        except TimeoutError:
            return None
        return sent, arrived


async def run_path(
    device: DeviceA,
    handled: dict[bytes, int],
    args: argparse.Namespace,
    samples: Samples,
) -> None:
    for i in range(args.warmup + args.count):
        payload = f"{i}".encode()
        answer = await device.ask(payload, args.timeout)
        if i < args.warmup:
            continue
        if answer is None:
            samples.timeouts += 1
            continue
        sent, arrived = answer
        samples.round_trip.append((arrived - sent) / 1e6)
        at_handler = handled.pop(payload, None)
        if at_handler is not None:
            samples.to_handler.append((at_handler - sent) / 1e6)
            samples.from_handler.append((arrived - at_handler) / 1e6)
        if args.interval:
            await asyncio.sleep(args.interval)


async def floor_path(port: int, args: argparse.Namespace) -> Samples:
    """Device A against a plain paho client answering in its own network thread."""
    echo = paho_client("echo")

    def on_connect(client: paho.Client, *rest: Any) -> None:
        client.subscribe(EVENT, qos=1)

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        client.publish(REPLY, message.payload, qos=args.reply_qos)

    echo.on_connect = on_connect
    echo.on_message = on_message
    connect(echo, port, "echo")
    device = DeviceA(port, asyncio.get_running_loop())
    samples = Samples()
    try:
        await asyncio.sleep(0.2)  # both subscriptions settle
        await run_path(device, {}, args, samples)
    finally:
        disconnect(device.client)
        disconnect(echo)
    return samples


async def mqtt_link_path(port: int, args: argparse.Namespace) -> Samples:
    """Device A against MqttLink: receive at QoS 1, reply from the handler on the loop thread."""
    link = MqttLink(HOST, port, "controller")
    handled: dict[bytes, int] = {}

    def on_event(message: Message) -> None:
        handled[message.payload] = time.perf_counter_ns()
        link.publish(REPLY, message.payload, qos=args.reply_qos)

    link.subscribe(EVENT, 1, on_event)
    await link.start(5.0)
    device = DeviceA(port, asyncio.get_running_loop())
    samples = Samples()
    try:
        await asyncio.sleep(0.2)
        await run_path(device, handled, args, samples)
    finally:
        disconnect(device.client)
        await link.stop(5.0)
    return samples


def row(name: str, values: Sequence[float]) -> str:
    if not values:
        return f"{name:<34} {'-':>8} {'-':>8} {'-':>8}"
    return (
        f"{name:<34} {statistics.median(values):8.3f} {percentile(values, 99):8.3f}"
        f" {max(values):8.3f}"
    )


async def main_async(args: argparse.Namespace) -> int:
    if shutil.which(MOSQUITTO) is None:
        print(f"{MOSQUITTO} is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp:
        broker = Broker(Path(tmp), nagle=args.broker_nagle)
        try:
            floor = await floor_path(broker.port, args)
            ours = await mqtt_link_path(broker.port, args)
        finally:
            broker.close()
    print(
        f"mqtt reply latency: {args.count} round trips per path (+{args.warmup} warm-up), "
        f"event QoS 1, reply QoS {args.reply_qos}, interval {args.interval:g} s; "
        f"mosquitto on {HOST} (set_tcp_nodelay {'false' if args.broker_nagle else 'true'}), "
        f"paho-mqtt {paho_version}, Python {sys.version.split()[0]}"
    )
    print(f"{'path (ms)':<34} {'p50':>8} {'p99':>8} {'max':>8}")
    print(row("paho echo, network thread (floor)", floor.round_trip))
    print(row("MqttLink round trip", ours.round_trip))
    print(row("  device A -> MqttLink handler", ours.to_handler))
    print(row("  MqttLink reply -> device A", ours.from_handler))
    if importlib.util.find_spec("aiomqtt") is None:
        print("aiomqtt: not installed (not a dependency), no comparison")
    else:
        print("aiomqtt: installed, but not compared here (not a dependency)")
    failed = False
    for name, samples in (("floor", floor), ("MqttLink", ours)):
        if samples.timeouts:
            print(f"{name}: {samples.timeouts} replies did not come within {args.timeout:g} s")
            failed = True
    if ours.round_trip and floor.round_trip:
        extra = statistics.median(ours.round_trip) - statistics.median(floor.round_trip)
        verdict = "DELAY TRAP" if extra > TRAP_MS else "no receive-then-publish delay"
        print(f"MqttLink median - floor median: {extra:+.3f} ms: {verdict}")
        failed = failed or extra > TRAP_MS
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500, help="measured round trips per path")
    parser.add_argument("--warmup", type=int, default=50, help="round trips not measured")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    parser.add_argument(
        "--interval", type=float, default=0.0, help="pause between round trips (a hall's pace)"
    )
    parser.add_argument("--reply-qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument(
        "--broker-nagle",
        action="store_true",
        help="keep Mosquitto's default set_tcp_nodelay false (adds ~40 ms per leg)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
