"""The RS-485 gateway: each bus device becomes an MQTT device of the hall's topic tree.

One task per serial port (an RS-485 line) writes queued frames, reads the bus and pings the
devices on it; each device has its own broker connection with its own retained last will, so
the hall sees every device's presence even though they share a board.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from hall_controller.profiles import SerialSettings
from hall_controller.protocols import mqtt_tree
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.mqtt import Message, MqttLink, Will
from hall_controller.transports.serial import SerialLink, SerialParams, port_present

from .bridges import DeviceBridge, make_bridge
from .config import BridgedDevice, BrokerSettings, GatewayConfig

log = logging.getLogger("hall_gateway")

READY = "ready"
LOST = "lost"
# Frames waiting for a slow bus; beyond this the oldest are dropped (a snapshot follows anyway).
OUTBOX_LIMIT = 64
# How often run() looks up from waiting for a stop or a failed task.
_WATCH_S = 60.0


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the gateway waits: reconnects, port polling, broker and bus timeouts."""

    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    # How often a vanished port is looked for while waiting to reconnect.
    presence_poll_s: float = 0.25
    broker_timeout_s: float = 5.0
    # Quiet time after each frame on a shared line, so every device sees where a frame ends.
    frame_gap_s: float = 0.02
    # The longest a read waits before queued frames and pings get their turn.
    read_slice_s: float = 0.05
    close_timeout_s: float = 5.0


class Backoff:
    """Capped doubling delays between reconnect attempts; `reset()` after one that worked."""

    def __init__(self, first_s: float, cap_s: float) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self.attempts = 0

    def next_delay(self) -> float:
        """The wait before the next attempt."""
        delay: float = min(self.cap_s, self.first_s * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from the first delay."""
        self.attempts = 0


class BridgedEndpoint:
    """One bus device on the broker: its connection, its presence and what its frames mean."""

    def __init__(
        self,
        device: BridgedDevice,
        bridge: DeviceBridge,
        topics: Topics,
        broker: BrokerSettings,
        bus: PortBus,
    ) -> None:
        self.device = device
        self.bridge = bridge
        self.topics = topics
        self.bus = bus
        self.state_topic = topics.device_state(device.id)
        self.link = MqttLink(
            broker.host,
            broker.port,
            device.id,
            will=Will(self.state_topic, LOST.encode()),
            keepalive=broker.keepalive_s,
            username=device.username or broker.username,
            password=device.password or broker.password,
        )
        self.link.on_state = self._broker_changed
        self.link.subscribe(topics.device_cmd_filter(device.id), 1, self._on_command)
        self.link.subscribe(topics.device_snapshot(device.id), 1, self._on_snapshot)
        timeouts = device.profile.timeouts
        self.watchdog_s = timeouts.watchdog_s
        self.ping_every_s = timeouts.ping_every_s
        # Watched devices are ready only while they answer pings; the others while the port is.
        self.watched = bridge.ping() is not None and self.watchdog_s > 0 and self.ping_every_s > 0
        self.state = LOST
        self.port_up = False
        self.last_answer: float | None = None
        self.next_ping = 0.0
        self.events_sent = 0
        self.events_dropped = 0  # inputs that came while the broker was away

    @property
    def id(self) -> str:
        """The device id in the topic tree."""
        return self.device.id

    # --- the bus's calls ---------------------------------------------------------------

    def port_opened(self, now: float) -> None:
        """The port is open: ping at once and show the last snapshot again."""
        self.port_up = True
        self.last_answer = None
        self.next_ping = now
        self.bus.send(self.bridge.current())
        self._update(now)

    def port_closed(self, now: float) -> None:
        """The port is gone."""
        self.port_up = False
        self._update(now)

    def heard(self, data: bytes, now: float) -> None:
        """Bus bytes: answers keep the device ready; its events go to the broker."""
        heard = self.bridge.heard(data)
        if heard.answered:
            self.last_answer = now
        for name, payload in heard.events:
            if self.link.state is LinkState.UP:
                self.link.publish(self.topics.device_event(self.id, name), payload, qos=1)
                self.events_sent += 1
                log.info("%s: event/%s %s", self.id, name, payload.decode())
            else:
                self.events_dropped += 1
                self.bus.send(self.bridge.offline())
                log.warning("%s: event/%s dropped, the broker is away", self.id, name)
        self._update(now)

    def tick(self, now: float) -> None:
        """Ping when due and notice a device that stopped answering."""
        if self.watched and self.port_up and now >= self.next_ping:
            self.next_ping = now + self.ping_every_s
            ping = self.bridge.ping()
            if ping is not None:
                self.bus.send([ping])
        self._update(now)

    # --- presence ------------------------------------------------------------------------

    def _present(self, now: float) -> bool:
        if not self.port_up:
            return False
        if not self.watched:
            return True
        return self.last_answer is not None and now - self.last_answer <= self.watchdog_s

    def _update(self, now: float) -> None:
        state = READY if self._present(now) else LOST
        if state != self.state:
            self.state = state
            log.info("%s: %s", self.id, state)
            self._publish_state()

    def _publish_state(self) -> None:
        if self.link.state is LinkState.UP:
            payload = mqtt_tree.encode_state(self.state)
            self.link.publish(self.state_topic, payload, qos=1, retain=True)

    # --- the broker's calls ----------------------------------------------------------------

    def _broker_changed(self, state: LinkState) -> None:
        log.info("%s: broker link %s", self.id, state.value)
        if state is LinkState.UP:
            meta_topic = self.topics.device_meta(self.id)
            self.link.publish(meta_topic, self.bridge.meta(), qos=1, retain=True)
            self._publish_state()

    def _on_command(self, message: Message) -> None:
        parsed = mqtt_tree.parse_topic(self.topics.hall_id, message.topic)
        if parsed is None or parsed.part != "cmd" or parsed.name is None:
            return
        self.bus.send(self.bridge.command(parsed.name, message.payload))

    def _on_snapshot(self, message: Message) -> None:
        """Kept always; drawn when it comes retained (on (re)subscribing): the commands that
        follow every live snapshot draw those."""
        frames = self.bridge.snapshot(message.payload)
        if message.retain:
            self.bus.send(frames)

    # --- lifecycle ------------------------------------------------------------------------

    async def connect(self, pacing: Pacing) -> None:
        """Connect to the broker, retrying with backoff until it answers; paho keeps it up."""
        backoff = Backoff(pacing.reconnect_min_s, pacing.reconnect_max_s)
        while True:
            try:
                await self.link.start(pacing.broker_timeout_s)
            except TransportError as exc:
                delay = backoff.next_delay()
                log.warning("%s: %s; retrying in %.1f s", self.id, exc, delay)
                await asyncio.sleep(delay)
            else:
                return

    async def close(self, within_s: float) -> None:
        """Say `lost` and leave the broker."""
        with contextlib.suppress(TransportError):
            await self.link.stop(within_s)


class PortBus:
    """One serial port (an RS-485 line) and the devices on it, served by a single task."""

    def __init__(
        self,
        url: str,
        serial: SerialSettings,
        pacing: Pacing,
        *,
        open_timeout_s: float,
        write_timeout_s: float,
    ) -> None:
        self.url = url
        self.params = SerialParams(
            url, serial.baudrate, serial.bytesize, serial.parity, serial.stopbits
        )
        self.pacing = pacing
        self.open_timeout_s = open_timeout_s
        self.write_timeout_s = write_timeout_s
        self.endpoints: list[BridgedEndpoint] = []
        self.up = False
        self.opens = 0
        self.dropped = 0  # frames that never reached the line
        self._outbox: collections.deque[bytes] = collections.deque()

    def send(self, frames: Iterable[bytes]) -> None:
        """Queue frames for the line; never waits. Dropped (counted) while the port is down."""
        for frame in frames:
            if not self.up:
                self.dropped += 1
                continue
            if len(self._outbox) >= OUTBOX_LIMIT:
                self._outbox.popleft()
                self.dropped += 1
            self._outbox.append(frame)

    async def run(self) -> None:
        """Open the port, serve it until it fails, wait (backoff; at once if it reappears)."""
        backoff = Backoff(self.pacing.reconnect_min_s, self.pacing.reconnect_max_s)
        loop = asyncio.get_running_loop()
        while True:
            link = SerialLink(self.params, name=self.url)
            try:
                await link.open(self.open_timeout_s)
            except TransportError as exc:
                await self._close(link)
                delay = backoff.next_delay()
                log.warning("%s: %s; retrying in %.1f s", self.url, exc, delay)
                await self._wait_for_port(delay)
                continue
            backoff.reset()
            self.opens += 1
            self._outbox.clear()
            self.up = True
            log.info("%s: open", self.url)
            for endpoint in self.endpoints:
                endpoint.port_opened(loop.time())
            reason = "closed"
            try:
                await self._serve(link)
            except TransportError as exc:
                reason = str(exc)
            finally:
                self.up = False
                self.dropped += len(self._outbox)
                self._outbox.clear()
                for endpoint in self.endpoints:
                    endpoint.port_closed(loop.time())
                await self._close(link)
            delay = backoff.next_delay()
            log.warning("%s: lost (%s); retrying in %.1f s", self.url, reason, delay)
            await self._wait_for_port(delay)

    async def _serve(self, link: SerialLink) -> None:
        """Write what is queued, read a slice, let each device ping or notice silence."""
        loop = asyncio.get_running_loop()
        pacing = self.pacing
        while True:
            while self._outbox:
                frame = self._outbox.popleft()
                try:
                    await link.write(frame, self.write_timeout_s)
                except LinkTimeout:
                    self.dropped += 1
                    continue
                if pacing.frame_gap_s:
                    await asyncio.sleep(pacing.frame_gap_s)
            try:
                data = await link.read(pacing.read_slice_s)
            except LinkTimeout:
                data = b""
            now = loop.time()
            for endpoint in self.endpoints:
                if data:
                    endpoint.heard(data, now)
                endpoint.tick(now)

    async def _close(self, link: SerialLink) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.pacing.close_timeout_s):
                await link.close()

    async def _wait_for_port(self, delay: float) -> None:
        """Sleep `delay`, cut short when the port comes back after it was gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        was_absent = not port_present(self.url)
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, self.pacing.presence_poll_s))
            present = port_present(self.url)
            if was_absent and present:
                return
            was_absent = was_absent or not present


class Gateway:
    """Every configured bus device as an MQTT device: `start()`, then `stop()` (or `run()`)."""

    def __init__(self, config: GatewayConfig, *, pacing: Pacing | None = None) -> None:
        self.config = config
        self.pacing = pacing or Pacing()
        self.topics = Topics(config.hall_id)
        self.buses: dict[str, PortBus] = {}
        self.endpoints: dict[str, BridgedEndpoint] = {}
        for url, devices in config.ports().items():
            bus = PortBus(
                url,
                devices[0].serial,
                self.pacing,
                open_timeout_s=max(d.profile.timeouts.open_s for d in devices),
                write_timeout_s=max(d.profile.timeouts.write_s for d in devices),
            )
            self.buses[url] = bus
            for device in devices:
                endpoint = BridgedEndpoint(
                    device, make_bridge(device), self.topics, config.broker, bus
                )
                bus.endpoints.append(endpoint)
                self.endpoints[device.id] = endpoint
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Connect every device to the broker and open every port, each in its own task."""
        if self._tasks:
            return
        for endpoint in self.endpoints.values():
            task = asyncio.create_task(endpoint.connect(self.pacing), name=f"broker:{endpoint.id}")
            self._tasks.append(task)
        for bus in self.buses.values():
            self._tasks.append(asyncio.create_task(bus.run(), name=f"bus:{bus.url}"))

    async def stop(self) -> None:
        """Close the ports, say `lost` for every device and leave the broker."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.pacing.close_timeout_s * 2):
                    await asyncio.gather(*tasks, return_exceptions=True)
        timeout = self.pacing.close_timeout_s
        await asyncio.gather(*(e.close(timeout) for e in self.endpoints.values()))

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve until `stopping` is set, then stop; a task that fails stops the gateway."""
        self.start()
        waiter = asyncio.create_task(stopping.wait(), name="gateway:stopping")
        watched: set[asyncio.Task[None] | asyncio.Task[bool]] = {waiter, *self._tasks}
        try:
            while not waiter.done():
                done, watched = await asyncio.wait(
                    watched, timeout=_WATCH_S, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        log.error("%s failed", task.get_name(), exc_info=error)
                        raise RuntimeError(f"{task.get_name()} failed") from error
        finally:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            await self.stop()
