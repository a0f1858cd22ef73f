"""Small stand-ins for MicroPython's `machine`, `network`, `time` and `umqtt.simple` on CPython.

They behave like the real ones where the call pad firmware relies on it: pins read and drive
levels, the clock's ticks wrap like MicroPython's, and the MQTT client talks to an in-memory
broker that keeps retained messages, delivers to subscribers and publishes last wills.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# MicroPython's ticks wrap at 2**30 on the ESP32.
TICKS_PERIOD = 1 << 30


class FakeClock:
    """MicroPython's time module: ticks in ms that wrap; sleep_ms moves time on."""

    def __init__(self, start_ms: int = 0) -> None:
        self.now_ms = start_ms % TICKS_PERIOD

    def ticks_ms(self) -> int:
        """The current tick (ms)."""
        return self.now_ms

    def ticks_add(self, ticks: int, delta: int) -> int:
        """`ticks` moved by `delta` ms, wrapped."""
        return (ticks + delta) % TICKS_PERIOD

    def ticks_diff(self, later: int, earlier: int) -> int:
        """Signed ms from `earlier` to `later`, across a wrap."""
        half = TICKS_PERIOD // 2
        return ((later - earlier + half) % TICKS_PERIOD) - half

    def sleep_ms(self, ms: int) -> None:
        """Time passes (nothing waits)."""
        self.now_ms = (self.now_ms + ms) % TICKS_PERIOD


class FakePin:
    """A GPIO pin: inputs read `level` (pulled up: 1 until pressed), outputs record on/off."""

    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, number: int, mode: int = -1, pull: int | None = None) -> None:
        self.number = number
        self.mode = mode
        self.level = 0 if pull == self.PULL_DOWN else 1 if pull == self.PULL_UP else 0
        self.switches = 0  # how often an output was turned on

    def value(self) -> int:
        """The level on the pin."""
        return self.level

    def on(self) -> None:
        """Drive the pin high."""
        if not self.level:
            self.switches += 1
        self.level = 1

    def off(self) -> None:
        """Drive the pin low."""
        self.level = 0


class FakeDisplay:
    """The pad's display: what it shows now and every frame it drew."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, str]] = []

    def show(self, top: str, bottom: str) -> None:
        """Draw two texts."""
        self.frames.append((top, bottom))

    @property
    def top(self) -> str:
        """The text on the upper lines now."""
        return self.frames[-1][0] if self.frames else ""

    @property
    def bottom(self) -> str:
        """The status line now."""
        return self.frames[-1][1] if self.frames else ""


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching with + and #."""
    wanted, levels = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(wanted):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(wanted) == len(levels)


@dataclass(frozen=True, slots=True)
class Published:
    """One PUBLISH the broker took."""

    client_id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(slots=True)
class FakeBroker:
    """An in-memory broker: retained messages, subscriptions, last wills; can vanish."""

    up: bool = True
    retained: dict[str, bytes] = field(default_factory=dict)
    published: list[Published] = field(default_factory=list)
    clients: list[FakeMQTTClient] = field(default_factory=list)
    connect_attempts: list[int] = field(default_factory=list)  # clock ticks of each CONNECT
    clock: FakeClock | None = None

    def route(self, message: Published) -> None:
        """Take a publish: keep it if retained, deliver it to matching subscribers."""
        self.published.append(message)
        if message.retain:
            self.retained[message.topic] = message.payload
        for client in self.clients:
            if client.connected and any(topic_matches(f, message.topic) for f in client.filters):
                client.inbox.append((message.topic.encode(), message.payload))

    def controller_publishes(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """What the controller sends a device."""
        self.route(Published("controller", topic, payload, 1, retain))

    def vanish(self, *, forget: bool = True) -> None:
        """The broker stops: every connection breaks (no wills: nobody is left to hear them)."""
        self.up = False
        for client in self.clients:
            client.connected = False
        self.clients.clear()
        if forget:
            self.retained.clear()

    def come_back(self) -> None:
        """The broker runs again."""
        self.up = True

    def lose(self, client: FakeMQTTClient) -> None:
        """A connection dropped without DISCONNECT: publish the client's last will."""
        if client in self.clients:
            self.clients.remove(client)
            if client.will is not None:
                self.route(client.will)

    def payloads(self, topic: str) -> list[bytes]:
        """Every payload published on `topic`, in order."""
        return [m.payload for m in self.published if m.topic == topic]


class FakeSocket:
    """The client's socket: closing it breaks the connection without DISCONNECT."""

    def __init__(self, client: FakeMQTTClient) -> None:
        self.client = client

    def close(self) -> None:
        """Close the TCP connection."""
        self.client.dropped()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _data(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


class FakeMQTTClient:
    """umqtt.simple's MQTTClient against a FakeBroker: same calls, OSError when it is gone."""

    default_broker = FakeBroker()

    def __init__(
        self,
        client_id: str | bytes,
        server: str,
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        keepalive: int = 0,
        ssl: object = None,
        *,
        broker: FakeBroker | None = None,
    ) -> None:
        self.client_id = _text(client_id)
        self.server = server
        self.port = port
        self.user = user
        self.keepalive = keepalive
        self.broker = broker or FakeMQTTClient.default_broker
        self.callback: Callable[[bytes, bytes], None] | None = None
        self.will: Published | None = None
        self.connected = False
        self.filters: list[str] = []
        self.inbox: list[tuple[bytes, bytes]] = []
        self.pings = 0
        self.sock: FakeSocket | None = None
        self.fail_next_publish = False

    def set_callback(self, f: Callable[[bytes, bytes], None]) -> None:
        """Where subscribed messages go."""
        self.callback = f

    def set_last_will(
        self, topic: str | bytes, msg: str | bytes, retain: bool = False, qos: int = 0
    ) -> None:
        """The will sent with the next CONNECT."""
        self.will = Published(self.client_id, _text(topic), _data(msg), qos, retain)

    def connect(self, clean_session: bool = True) -> int:
        """CONNECT; OSError if the broker is not there."""
        broker = self.broker
        if broker.clock is not None:
            broker.connect_attempts.append(broker.clock.ticks_ms())
        if not broker.up:
            raise OSError(113, "ECONNABORTED")
        self.connected = True
        self.filters = []
        self.inbox = []
        self.sock = FakeSocket(self)
        broker.clients.append(self)
        return 0

    def _check(self) -> None:
        if not self.connected or not self.broker.up:
            self.connected = False
            raise OSError(-1)

    def disconnect(self) -> None:
        """DISCONNECT: the broker forgets the will."""
        self._check()
        self.connected = False
        if self in self.broker.clients:
            self.broker.clients.remove(self)

    def dropped(self) -> None:
        """The connection broke under the client."""
        if self.connected:
            self.connected = False
            self.broker.lose(self)

    def ping(self) -> None:
        """PINGREQ."""
        self._check()
        self.pings += 1

    def publish(
        self, topic: str | bytes, msg: str | bytes, retain: bool = False, qos: int = 0
    ) -> None:
        """PUBLISH (waits for PUBACK at QoS 1, as umqtt.simple does)."""
        self._check()
        if self.fail_next_publish:
            self.fail_next_publish = False
            self.dropped()
            raise OSError(104, "ECONNRESET")
        self.broker.route(Published(self.client_id, _text(topic), _data(msg), qos, retain))

    def subscribe(self, topic: str | bytes, qos: int = 0) -> None:
        """SUBSCRIBE; retained matches arrive while it waits for SUBACK, as with umqtt.simple."""
        self._check()
        assert self.callback is not None, "Subscribe callback is not set"
        topic_filter = _text(topic)
        self.filters.append(topic_filter)
        for retained_topic, payload in list(self.broker.retained.items()):
            if topic_matches(topic_filter, retained_topic):
                self.callback(retained_topic.encode(), payload)

    def check_msg(self) -> int | None:
        """One waiting message to the callback (its packet type), or None if there is none."""
        self._check()
        if not self.inbox:
            return None
        topic, payload = self.inbox.pop(0)
        assert self.callback is not None
        self.callback(topic, payload)
        return 0x30
