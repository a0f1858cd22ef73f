"""MqttLink against a real Mosquitto: round trips, presence (birth, will, goodbye), restarts."""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from mqtt_broker import Mosquitto, free_port
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.mqtt import Message, MqttLink, Will

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
HALL = "hall/h1"
CONTROLLER_STATE = f"{HALL}/controller/$state"
EVENTS = f"{HALL}/device/+/event/#"
WAIT_S = 5.0
# The link waits RECONNECT_MIN_S (±20%) after a lost connection, doubling while the broker is away.
RECONNECT_WAIT_S = 15.0

MakeLink = Callable[..., MqttLink]


class Inbox:
    """A subscription handler that keeps what arrives and lets a test wait for it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.threads: set[int] = set()
        self._arrived = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self.threads.add(threading.get_ident())
        self._arrived.set()

    async def wait_for(
        self, topic: str, payload: bytes | None = None, *, within: float = WAIT_S
    ) -> Message:
        """The first message on topic (with payload, if given); fails the test if none comes."""
        try:
            async with asyncio.timeout(within):
                while True:
                    for message in self.messages:
                        if message.topic == topic and payload in (None, message.payload):
                            return message
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            pytest.fail(f"nothing on {topic} {payload!r} within {within} s; got {self.messages}")


class StateLog:
    """An on_state callback that records every change."""

    def __init__(self) -> None:
        self.states: list[LinkState] = []
        self._changed = asyncio.Event()

    def __call__(self, state: LinkState) -> None:
        self.states.append(state)
        self._changed.set()

    async def wait_for(self, state: LinkState, *, after: int = 0, within: float = WAIT_S) -> int:
        """Index of the first `state` at or after index `after`; fails the test if none comes."""
        try:
            async with asyncio.timeout(within):
                while True:
                    if state in self.states[after:]:
                        return self.states.index(state, after)
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"no {state} within {within} s; states: {self.states}")


@pytest.fixture
async def make_link(mosquitto: Mosquitto) -> AsyncIterator[MakeLink]:
    """Builds MqttLinks to the test broker; stops them all after the test."""
    links: list[MqttLink] = []

    def make(
        client_id: str,
        *,
        will: Will | None = None,
        birth: Will | None = None,
        persistent_session: bool = True,
    ) -> MqttLink:
        link = MqttLink(
            mosquitto.host,
            mosquitto.port,
            client_id,
            will=will,
            birth=birth,
            persistent_session=persistent_session,
        )
        links.append(link)
        return link

    yield make
    for link in links:
        await link.stop(WAIT_S)


async def confirm_subscribed(link: MqttLink, inbox: Inbox, probe_topic: str) -> None:
    """Wait until the link's own probe comes back: its SUBSCRIBE (and any birth) went first on
    the same connection, so the broker has them."""
    payload = f"probe {time.monotonic_ns()}".encode()
    link.publish(probe_topic, payload, qos=1)
    await inbox.wait_for(probe_topic, payload)


async def watch(
    make_link: MakeLink, client_id: str, topic_filter: str, *, probe: str | None = None
) -> Inbox:
    """A started link subscribed to topic_filter; confirmed with a probe topic under the filter
    (without one, only retained messages are sure to be seen)."""
    inbox = Inbox()
    link = make_link(client_id)
    link.subscribe(topic_filter, 1, inbox)
    await link.start(WAIT_S)
    if probe is not None:
        await confirm_subscribed(link, inbox, probe)
    return inbox


def threads_now() -> set[threading.Thread]:
    """Running threads, but for the loop's executor (a connect's TCP handshake runs there)."""
    return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}


async def test_qos1_round_trip_delivers_on_the_loop_thread(make_link: MakeLink) -> None:
    controller = make_link("controller")
    inbox = Inbox()
    controller.subscribe(EVENTS, 1, inbox)
    await controller.start(WAIT_S)
    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe")
    pad = make_link("pad-3")
    await pad.start(WAIT_S)

    await pad.publish_wait(f"{HALL}/device/pad-3/event/key", b'{"key":"call"}', timeout=WAIT_S)

    message = await inbox.wait_for(f"{HALL}/device/pad-3/event/key")
    assert message == Message(f"{HALL}/device/pad-3/event/key", b'{"key":"call"}', retain=False)
    assert inbox.threads == {threading.get_ident()}
    assert controller.state is LinkState.UP
    assert pad.state is LinkState.UP


async def test_a_reply_from_a_handler_goes_out_at_once(make_link: MakeLink) -> None:
    """Receiving at QoS 1 and publishing from the handler does not wait for the next message."""
    controller = make_link("controller")
    controller.subscribe(
        EVENTS,
        1,
        lambda m: controller.publish(f"{HALL}/device/pad-3/cmd/beep", m.payload, qos=1),
    )
    await controller.start(WAIT_S)
    pad = make_link("pad-3")
    pad_inbox = Inbox()
    pad.subscribe(f"{HALL}/device/pad-3/#", 1, pad_inbox)
    await pad.start(WAIT_S)
    # The controller's subscription is confirmed by its answer to the pad's probe event.
    await confirm_subscribed(pad, pad_inbox, f"{HALL}/device/pad-3/event/probe")
    await pad_inbox.wait_for(f"{HALL}/device/pad-3/cmd/beep")

    round_trips: list[float] = []
    for n in range(20):
        payload = f'{{"key":"call","n":{n}}}'.encode()
        sent = time.monotonic()
        pad.publish(f"{HALL}/device/pad-3/event/key", payload, qos=1)
        await pad_inbox.wait_for(f"{HALL}/device/pad-3/cmd/beep", payload)
        round_trips.append(time.monotonic() - sent)

    # Held back until the next message, a reply would time out here; held by Nagle until the
    # broker's delayed ACK of our PUBACK, it would take 40 ms or more.
    assert statistics.median(round_trips) < 0.02, round_trips


async def test_retained_birth_is_seen_by_a_client_connecting_later(make_link: MakeLink) -> None:
    controller = make_link("controller", birth=Will(CONTROLLER_STATE, b"ready"))
    await controller.start(WAIT_S)
    # The birth is a QoS 1 publish: once a later QoS 1 publish is acknowledged, it is stored.
    await controller.publish_wait(f"{HALL}/events", b"{}", timeout=WAIT_S)

    inbox = await watch(make_link, "console", f"{HALL}/controller/#")

    message = await inbox.wait_for(CONTROLLER_STATE)
    assert message == Message(CONTROLLER_STATE, b"ready", retain=True)


WILL_CLIENT = """
import asyncio, sys
from hall_controller.transports.mqtt import MqttLink, Will

async def main() -> None:
    host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    link = MqttLink(host, port, "pad-7", will=Will(topic, b"lost"), birth=Will(topic, b"ready"))
    await link.start(5.0)
    await link.publish_wait(topic + "/up", b"1", timeout=5.0)
    print("up", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_last_will_is_published_when_a_client_dies(
    mosquitto: Mosquitto, make_link: MakeLink
) -> None:
    state_topic = f"{HALL}/device/pad-7/$state"
    inbox = await watch(
        make_link, "console", f"{HALL}/device/pad-7/#", probe=f"{HALL}/device/pad-7/probe"
    )
    device = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WILL_CLIENT,
        mosquitto.host,
        str(mosquitto.port),
        state_topic,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert device.stdout is not None
        line = await asyncio.wait_for(device.stdout.readline(), 20.0)
        assert line == b"up\n"
        await inbox.wait_for(state_topic, b"ready")

        device.kill()  # no DISCONNECT: the broker sees the connection drop
        await asyncio.wait_for(device.wait(), WAIT_S)
    finally:
        if device.returncode is None:
            device.kill()
            await device.wait()

    await inbox.wait_for(state_topic, b"lost")
    later = await watch(make_link, "console-2", f"{HALL}/device/pad-7/$state")
    assert await later.wait_for(state_topic) == Message(state_topic, b"lost", retain=True)


async def test_stop_publishes_the_goodbye_and_leaves_no_thread(make_link: MakeLink) -> None:
    inbox = await watch(make_link, "console", f"{HALL}/controller/#", probe=f"{HALL}/controller/p")
    controller = make_link(
        "controller", will=Will(CONTROLLER_STATE, b"lost"), birth=Will(CONTROLLER_STATE, b"ready")
    )
    states = StateLog()
    controller.on_state = states
    before = threads_now()
    await controller.start(WAIT_S)
    await inbox.wait_for(CONTROLLER_STATE, b"ready")
    # The link runs on the event loop: once connected, no thread of its own is left running.
    assert threads_now() - before == set()

    await controller.stop(WAIT_S)

    await inbox.wait_for(CONTROLLER_STATE, b"lost")
    assert controller.state is LinkState.DOWN
    assert states.states == [LinkState.CONNECTING, LinkState.UP, LinkState.DOWN]
    assert threads_now() - before == set()
    await controller.stop(WAIT_S)  # again: nothing happens
    controller.publish(f"{HALL}/events", b"{}", qos=1)
    assert controller.dropped == 1
    later = await watch(make_link, "console-2", CONTROLLER_STATE)
    assert await later.wait_for(CONTROLLER_STATE) == Message(CONTROLLER_STATE, b"lost", True)


@pytest.mark.parametrize("persistent", [True, False])
async def test_a_persistent_session_keeps_events_sent_while_the_controller_was_away(
    make_link: MakeLink, persistent: bool
) -> None:
    probe = f"{HALL}/device/probe/event/probe"
    key = f"{HALL}/device/pad-3/event/key"
    controller = make_link("controller", persistent_session=persistent)
    first = Inbox()
    controller.subscribe(EVENTS, 1, first)
    await controller.start(WAIT_S)
    await confirm_subscribed(controller, first, probe)
    await controller.stop(WAIT_S)
    pad = make_link("pad-3")
    await pad.start(WAIT_S)
    await pad.publish_wait(key, b'{"key":"call"}', timeout=WAIT_S)

    back = make_link("controller", persistent_session=persistent)
    inbox = Inbox()
    back.subscribe(EVENTS, 1, inbox)
    await back.start(WAIT_S)
    # What the broker kept for the session comes right after CONNACK, before the probe.
    await confirm_subscribed(back, inbox, probe)

    kept = [m for m in inbox.messages if m.topic == key]
    assert kept == ([Message(key, b'{"key":"call"}', retain=False)] if persistent else [])


async def test_after_a_broker_restart_the_link_comes_back_by_itself(
    mosquitto: Mosquitto, make_link: MakeLink
) -> None:
    controller = make_link(
        "controller", will=Will(CONTROLLER_STATE, b"lost"), birth=Will(CONTROLLER_STATE, b"ready")
    )
    states = StateLog()
    controller.on_state = states
    inbox = Inbox()
    controller.subscribe(EVENTS, 1, inbox)
    await controller.start(WAIT_S)
    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe")
    up_before = await states.wait_for(LinkState.UP)

    await asyncio.to_thread(mosquitto.restart)  # the broker forgets retained messages, sessions

    down = await states.wait_for(LinkState.DOWN, after=up_before)
    up_again = await states.wait_for(LinkState.UP, after=down, within=RECONNECT_WAIT_S)
    assert LinkState.CONNECTING in states.states[down:up_again]
    # The subscription was renewed: the probe proves the broker has it (and the birth).
    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe-2")
    # The birth is back although the broker lost it with the restart.
    console = await watch(
        make_link, "console", f"{HALL}/controller/#", probe=f"{HALL}/controller/p"
    )
    await console.wait_for(CONTROLLER_STATE, b"ready")
    pad = make_link("pad-3")
    await pad.start(WAIT_S)
    await pad.publish_wait(f"{HALL}/device/pad-3/event/key", b'{"key":"next"}', timeout=WAIT_S)
    await inbox.wait_for(f"{HALL}/device/pad-3/event/key", b'{"key":"next"}')
    # A QoS 1 publish made after the restart reaches a subscriber.
    controller.publish(f"{HALL}/controller/notice", b"back", qos=1)
    await console.wait_for(f"{HALL}/controller/notice", b"back")
    assert controller.state is LinkState.UP


async def test_while_the_broker_is_away_qos1_waits_and_qos0_is_counted_lost(
    mosquitto: Mosquitto, make_link: MakeLink
) -> None:
    controller = make_link("controller")
    states = StateLog()
    controller.on_state = states
    await controller.start(WAIT_S)

    await asyncio.to_thread(mosquitto.stop)
    await states.wait_for(LinkState.DOWN)
    controller.publish(f"{HALL}/events", b"{}", qos=0)
    assert controller.dropped == 1
    with pytest.raises(LinkTimeout, match="no PUBACK"):
        await controller.publish_wait(f"{HALL}/events", b"{}", timeout=0.2)
    snapshot = f"{HALL}/device/board-3/snapshot"
    queued = asyncio.create_task(
        controller.publish_wait(snapshot, b'{"ticket":"A012"}', retain=True, timeout=30.0),
        name="queued-snapshot",
    )
    await asyncio.to_thread(mosquitto.start)

    await asyncio.wait_for(queued, RECONNECT_WAIT_S)
    later = await watch(make_link, "board-3", snapshot)
    assert await later.wait_for(snapshot) == Message(snapshot, b'{"ticket":"A012"}', True)
    assert controller.dropped == 1


async def test_start_without_a_broker_raises_link_down_quickly() -> None:
    port = free_port()
    link = MqttLink("127.0.0.1", port, "controller")
    states = StateLog()
    link.on_state = states
    started = time.monotonic()

    with pytest.raises(LinkDown, match=f"127.0.0.1:{port}.*refused"):
        await link.start(WAIT_S)

    assert time.monotonic() - started < 1.0
    assert link.state is LinkState.DOWN
    assert states.states == [LinkState.CONNECTING, LinkState.DOWN]
    await link.stop(WAIT_S)


async def test_start_can_be_tried_again_and_keeps_what_was_queued(
    mosquitto: Mosquitto, make_link: MakeLink
) -> None:
    snapshot = f"{HALL}/device/board-3/snapshot"
    await asyncio.to_thread(mosquitto.stop)
    controller = make_link("controller")
    controller.publish(snapshot, b'{"ticket":"A012"}', qos=1, retain=True)
    with pytest.raises(LinkDown):
        await controller.start(WAIT_S)
    controller.publish(f"{HALL}/events", b"{}", qos=0)
    assert controller.dropped == 1

    await asyncio.to_thread(mosquitto.start)
    await controller.start(WAIT_S)

    assert controller.state is LinkState.UP
    await controller.publish_wait(f"{HALL}/events", b"{}", timeout=WAIT_S)  # after the snapshot
    later = await watch(make_link, "board-3", snapshot)
    assert await later.wait_for(snapshot) == Message(snapshot, b'{"ticket":"A012"}', True)


async def test_a_stopped_link_can_start_again(make_link: MakeLink) -> None:
    pad = make_link("pad-3", birth=Will(f"{HALL}/device/pad-3/$state", b"ready"))
    inbox = Inbox()
    pad.subscribe(f"{HALL}/device/pad-3/#", 1, inbox)
    await pad.start(WAIT_S)
    await pad.stop(WAIT_S)
    inbox.messages.clear()

    await pad.start(WAIT_S)

    assert pad.state is LinkState.UP
    await confirm_subscribed(pad, inbox, f"{HALL}/device/pad-3/cmd/probe")
    await inbox.wait_for(f"{HALL}/device/pad-3/$state", b"ready")


async def test_start_against_a_silent_port_raises_link_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP (in its backlog) but never answers CONNECT
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        link = MqttLink("127.0.0.1", port, "controller")

        with pytest.raises(LinkTimeout, match=f"127.0.0.1:{port}"):
            await link.start(0.3)

    assert link.state is LinkState.DOWN


async def test_a_failing_handler_does_not_stop_the_others(make_link: MakeLink) -> None:
    def broken(message: Message) -> None:
        raise ValueError("bad payload")

    controller = make_link("controller")
    inbox = Inbox()
    controller.subscribe(EVENTS, 1, broken)
    controller.subscribe(EVENTS, 1, inbox)
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
    await controller.start(WAIT_S)

    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe")

    assert controller.handler_errors == 1
    assert [c["message"] for c in reported] == [f"{controller.name}: handler for {EVENTS} failed"]
    assert isinstance(reported[0]["exception"], ValueError)


async def test_abort_drops_the_connection_so_the_broker_publishes_the_will(
    make_link: MakeLink,
) -> None:
    state_topic = f"{HALL}/device/pad-7/$state"
    inbox = await watch(
        make_link, "console", f"{HALL}/device/pad-7/#", probe=f"{HALL}/device/pad-7/probe"
    )
    pad = make_link("pad-7", will=Will(state_topic, b"lost"), birth=Will(state_topic, b"ready"))
    states = StateLog()
    pad.on_state = states
    await pad.start(WAIT_S)
    await inbox.wait_for(state_topic, b"ready")

    await pad.abort(WAIT_S)

    # The will, not a goodbye: the broker saw the connection drop without a DISCONNECT.
    await inbox.wait_for(state_topic, b"lost")
    assert pad.state is LinkState.DOWN
    await asyncio.sleep(1.5)  # past the first reconnect delay: an aborted link stays down
    assert states.states == [LinkState.CONNECTING, LinkState.UP, LinkState.DOWN]
    pad.publish(f"{HALL}/device/pad-7/event/key", b'{"key":"call"}', qos=1)
    assert pad.dropped == 1


def _mqtt_packets(data: bytes) -> list[tuple[int, bytes]]:
    """(packet type, body) of each complete MQTT packet in data."""
    packets: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        kind = data[pos] >> 4
        length, shift, pos = 0, 0, pos + 1
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        packets.append((kind, data[pos : pos + length]))
        pos += length
    return packets


async def test_a_broker_that_stops_reading_gets_everything_once_it_reads_again() -> None:
    """Publishes beyond what the socket buffers hold wait for the broker, in order, none lost."""
    connected = asyncio.Event()
    reading = asyncio.Event()
    received = bytearray()
    done = asyncio.Event()
    count, size = 200, 64 * 1024  # 12.5 MiB: far more than loopback socket buffers hold

    async def slow_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1024)
        assert first[0] >> 4 == 1  # CONNECT
        writer.write(bytes.fromhex("20 03 00 00 00"))  # CONNACK: success, no properties
        await writer.drain()
        connected.set()
        await reading.wait()
        while len([k for k, _ in _mqtt_packets(bytes(received)) if k == 3]) < count:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            received.extend(chunk)
        done.set()
        writer.close()

    server = await asyncio.start_server(slow_broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = MqttLink("127.0.0.1", port, "controller", persistent_session=False)
    try:
        await link.start(WAIT_S)
        await connected.wait()
        for n in range(count):
            link.publish(f"{HALL}/bulk", n.to_bytes(4, "big") * (size // 4), qos=0)
        await asyncio.sleep(0.2)  # the socket's buffers fill up; the rest waits in paho
        reading.set()
        await asyncio.wait_for(done.wait(), 30.0)
    finally:
        await link.abort(WAIT_S)
        server.close()
        await server.wait_closed()

    publishes = [body for kind, body in _mqtt_packets(bytes(received)) if kind == 3]
    # Body: topic (2-byte length + name), MQTT 5 properties length 0, then the payload.
    topic_end = 2 + len(f"{HALL}/bulk") + 1
    numbers = [int.from_bytes(body[topic_end : topic_end + 4], "big") for body in publishes]
    assert numbers == list(range(count))
    assert link.dropped == 0


async def test_flush_sends_what_is_queued_before_the_loop_moves_on(
    mosquitto: Mosquitto, make_link: MakeLink
) -> None:
    """A display command goes out when flush() is called, even if the loop stays busy."""
    topic = f"{HALL}/device/board-3/cmd/show"
    arrived = threading.Event()
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *args: subscribed.set()
    watcher.on_message = lambda client, userdata, message: arrived.set()
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(topic, 0)
    watcher.loop_start()  # its own thread: it receives while this loop is blocked
    try:
        assert await asyncio.to_thread(subscribed.wait, WAIT_S)
        controller = make_link("controller")
        await controller.start(WAIT_S)

        controller.publish(topic, b'{"ticket":"A012"}', qos=0)
        controller.flush()
        # The loop is blocked (as by a long callback): only a flushed message is on its way.
        seen = arrived.wait(2.0)

        assert seen
        arrived.clear()
        controller.publish(topic, b'{"ticket":"A013"}', qos=0)
        assert not arrived.wait(0.5)  # not flushed: it waits for the loop
        assert await asyncio.to_thread(arrived.wait, WAIT_S)
    finally:
        watcher.disconnect()
        watcher.loop_stop()


async def test_a_paho_failure_on_the_socket_reconnects_instead_of_spinning(
    make_link: MakeLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = make_link("controller")
    inbox = Inbox()
    controller.subscribe(EVENTS, 1, inbox)
    states = StateLog()
    controller.on_state = states
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
    await controller.start(WAIT_S)
    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe")
    client = controller._client
    real_loop_read = client.loop_read
    calls = 0

    def failing_once(max_packets: int = 1) -> MQTTErrorCode:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the packet reader")
        return real_loop_read(max_packets)

    monkeypatch.setattr(client, "loop_read", failing_once)

    controller.publish(f"{HALL}/device/probe/event/probe", b"trigger", qos=1)
    down = await states.wait_for(LinkState.DOWN)
    await states.wait_for(LinkState.UP, after=down, within=RECONNECT_WAIT_S)

    await confirm_subscribed(controller, inbox, f"{HALL}/device/probe/event/probe-2")
    assert [c["message"] for c in reported] == [
        f"{controller.name}: reading from the broker failed"
    ]
    assert calls < 100  # it did not spin on the readable socket
