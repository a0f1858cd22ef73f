"""MQTT link on paho-mqtt's own network thread; every paho callback is posted into the asyncio loop.

paho's thread, not aiomqtt: an aiomqtt client that receives at QoS 1 sends its own publishes only
when the next message comes in (a reply to a key press waits for the next key press), while
paho's thread writes a publish as soon as it is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVarTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .base import LinkState
from .errors import LinkDown, LinkTimeout, TransportError

# The broker is on the edge box itself: come back quickly once it is there again.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# Longest TCP connect of an attempt (shorter if start() is given less).
CONNECT_TIMEOUT_S = 5.0
# How long the broker keeps our session (subscriptions, QoS 1 messages for us) while we are
# away: long enough for a controller restart, short enough that key presses from a long outage
# are not replayed. Mosquitto also caps what it queues per client (1000 messages).
SESSION_EXPIRY_S = 300
# QoS 1 publishes paho holds while the broker is away; beyond this they are dropped and counted.
MAX_QUEUED = 1000

_Ts = TypeVarTuple("_Ts")


@dataclass(frozen=True, slots=True)
class Will:
    """A presence message: the last will the broker publishes for us, or the birth we publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Message:
    """One message received on a subscription."""

    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class _Subscription:
    topic_filter: str
    qos: int
    handler: Callable[[Message], None]


class MqttLink:
    """One connection to the hall's broker; reconnects, re-subscribes and re-births by itself."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        will: Will | None = None,
        birth: Will | None = None,
        keepalive: int = 15,
        persistent_session: bool = True,
        username: str | None = None,
        password: str | None = None,
        max_inflight: int = 20,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.name = f"mqtt broker {host}:{port} (client {client_id})"
        self.will = will
        self.birth = birth
        self.keepalive = keepalive
        self.persistent_session = persistent_session
        self._username = username
        self._password = password
        # QoS 1 messages on their way before paho waits for PUBACKs; the broker must accept as
        # many (Mosquitto: max_inflight_messages, 20 by default), or an MQTT 5 broker may drop us.
        self._max_inflight = max_inflight
        # publish_wait() calls waiting now: PUBACKs are posted to the loop only while one waits.
        self._ack_waiters = 0
        self.on_state: Callable[[LinkState], None] | None = None
        self.dropped = 0  # publishes lost: QoS 0 while down, queue full, or after stop()
        self.handler_errors = 0  # subscription handlers that raised
        self.refused_subscriptions = 0  # topic filters the broker refused (SUBACK failure)
        self._state = LinkState.DOWN
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = self._new_client()
        self._started = False  # from start() until it fails or stop() is called
        self._closed = False  # from stop() until the next start()
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}

    @property
    def state(self) -> LinkState:
        """UP while connected to the broker; CONNECTING while (re)connecting; DOWN otherwise."""
        return self._state

    # ------------------------------------------------------------------ lifecycle

    async def start(self, timeout: float) -> None:
        """Connect or raise LinkDown (refused, unreachable) / LinkTimeout; then paho reconnects."""
        if self._started:
            raise TransportError(f"{self.name}: already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._started = True
        self._closed = False
        client = self._client
        deadline = loop.time() + timeout
        self._connack = loop.create_future()
        self._set_state(LinkState.CONNECTING)
        try:
            await self._connect(client, timeout)
            client.loop_start()
            try:
                async with asyncio.timeout_at(deadline):
                    reason = await self._connack
            except TimeoutError:
                raise LinkTimeout(
                    f"{self.name}: no answer to CONNECT within {timeout:g} s"
                ) from None
            if reason.is_failure:
                raise LinkDown(f"{self.name}: the broker refused the connection ({reason})")
        except BaseException:
            # The same client is used again by the next start(): what it has queued is kept.
            await self._halt(client, max(deadline - loop.time(), 1.0))
            self._started = False
            self._set_state(LinkState.DOWN)
            raise
        finally:
            self._connack = None

    async def _connect(self, client: paho.Client, timeout: float) -> None:
        """TCP connect and CONNECT in a worker thread (paho's connect blocks), errors mapped."""
        # paho keeps this for its reconnects too, and cannot change it once connected.
        client.connect_timeout = min(timeout, CONNECT_TIMEOUT_S)
        properties = None
        if self.persistent_session:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            await asyncio.to_thread(
                client.connect,
                self.host,
                self.port,
                self.keepalive,
                clean_start=not self.persistent_session,
                properties=properties,
            )
        except TimeoutError:
            raise LinkTimeout(f"{self.name}: no TCP connection within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise LinkDown(f"{self.name}: connection refused (no broker listening)") from None
        except OSError as exc:
            raise LinkDown(f"{self.name}: unreachable ({exc})") from None

    async def stop(self, timeout: float) -> None:
        """Say goodbye (the will's payload), disconnect, end paho's thread in time; idempotent."""
        if self._closed:
            return
        self._closed = True
        client = self._client
        if not self._started:
            return
        self._started = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            if self.will is not None and self._state is LinkState.UP:
                # A clean DISCONNECT suppresses the will: say it ourselves, or a watcher would
                # keep seeing the birth of a controller that has gone.
                with contextlib.suppress(TransportError):
                    await self._publish_wait(
                        client,
                        self.will.topic,
                        self.will.payload,
                        qos=self.will.qos,
                        retain=self.will.retain,
                        timeout=timeout / 2,
                    )
            if not await self._halt(client, deadline - loop.time()):
                raise LinkTimeout(f"{self.name}: paho's thread did not end within {timeout:g} s")
        finally:
            for ack in self._acks.values():
                if not ack.done():
                    ack.set_exception(LinkDown(f"{self.name}: stopped"))
            self._set_state(LinkState.DOWN)

    async def _halt(self, client: paho.Client, timeout: float) -> bool:
        """Disconnect and join paho's thread; False if it is still running after timeout."""
        client.disconnect()
        try:
            await asyncio.wait_for(asyncio.to_thread(client.loop_stop), max(timeout, 0.0))
        except TimeoutError:
            return False
        # Close what paho leaves open: the socket if start() failed before the thread ran, and
        # the thread's wake-up socket pair, which the next loop_start() would drop unclosed.
        # paho has no public call for this.
        reset_sockets = getattr(client, "_reset_sockets", None)
        if reset_sockets is not None:
            reset_sockets()
        return True

    # ------------------------------------------------------------------ messages

    def subscribe(self, topic_filter: str, qos: int, handler: Callable[[Message], None]) -> None:
        """Call handler on the loop thread for each matching message; renewed on every reconnect."""
        # Renewed even when the broker kept the session, so retained messages come again then.
        self._subscriptions = (*self._subscriptions, _Subscription(topic_filter, qos, handler))
        if self._started:
            # Not connected: paho refuses; on_connect subscribes everything on the next connect.
            self._client.subscribe(topic_filter, qos)

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Queue without blocking; while down paho keeps QoS 1 and 2, lost ones count in dropped."""
        if self._closed:
            self.dropped += 1
            return
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE or (
            qos == 0 and info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS
        ):
            self.dropped += 1

    async def publish_wait(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float,
    ) -> None:
        """Publish, await the PUBACK; LinkTimeout (it stays queued) or TransportError if refused."""
        if self._closed:
            raise LinkDown(f"{self.name}: stopped")
        await self._publish_wait(
            self._client, topic, payload, qos=qos, retain=retain, timeout=timeout
        )

    async def _publish_wait(
        self,
        client: paho.Client,
        topic: str,
        payload: bytes | str,
        *,
        qos: int,
        retain: bool,
        timeout: float,
    ) -> None:
        # Counted before publishing, so paho's thread posts this message's PUBACK to the loop.
        self._ack_waiters += 1
        try:
            info = client.publish(topic, payload, qos, retain)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                self.dropped += 1
                raise TransportError(f"{self.name}: {MAX_QUEUED} messages queued already, dropped")
            if qos == 0 and info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.dropped += 1
                raise LinkDown(f"{self.name}: not connected, QoS 0 publish to {topic} dropped")
            # on_publish is posted to this loop: it cannot resolve the mid before it is registered.
            ack: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
            self._acks[info.mid] = ack
            try:
                async with asyncio.timeout(timeout):
                    reason = await ack
            except TimeoutError:
                raise LinkTimeout(
                    f"{self.name}: no PUBACK for {topic} within {timeout:g} s"
                ) from None
            finally:
                self._acks.pop(info.mid, None)
        finally:
            self._ack_waiters -= 1
        if reason.is_failure:
            raise TransportError(
                f"{self.name}: the broker refused the publish to {topic} ({reason})"
            )

    # ------------------------------------------------------------------ paho's thread

    def _new_client(self) -> paho.Client:
        # MQTT 5, clean_start False and a session expiry make the persistent session: unlike a
        # 3.1.1 clean_session=False session, which Mosquitto keeps forever by default, it ends by
        # itself; PUBACK reason codes say when the broker refuses a publish (an ACL drops a 3.1.1
        # client's publish silently); and device commands carry response topic and correlation.
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        # paho's logger stays off (no enable_logger): link state and counters say what matters.
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.max_inflight_messages_set(self._max_inflight)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.on_socket_open = _no_nagle
        client.on_pre_connect = self._paho_pre_connect
        client.on_connect = self._paho_connect
        client.on_connect_fail = self._paho_connect_fail
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        client.on_subscribe = self._paho_subscribe
        return client

    def _post(self, callback: Callable[[*_Ts], object], *args: *_Ts) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(callback, *args)

    def _paho_pre_connect(self, client: paho.Client, userdata: Any) -> None:
        self._post(self._on_link, LinkState.CONNECTING)

    def _paho_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason.is_failure:
            # Before anything paho resends: presence first, then the subscriptions, which the
            # broker may have lost (Mosquitto keeps nothing on disk by default).
            if self.birth is not None:
                birth = self.birth
                client.publish(birth.topic, birth.payload, birth.qos, birth.retain)
            wanted: dict[str, int] = {}
            for sub in self._subscriptions:
                wanted[sub.topic_filter] = max(sub.qos, wanted.get(sub.topic_filter, 0))
            if wanted:
                client.subscribe(list(wanted.items()))
        self._post(self._on_connack, reason)

    def _paho_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._post(self._on_link, LinkState.DOWN)

    def _paho_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._post(self._on_disconnect, reason)

    def _paho_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            return
        self._post(self._deliver, Message(topic, bytes(message.payload), message.retain))

    def _paho_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # Most publishes are fire-and-forget: waking the loop for each of their PUBACKs would
        # cost a thread hop per message for nothing.
        if self._ack_waiters:
            self._post(self._on_ack, mid, reason)

    def _paho_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = sum(1 for reason in reasons if reason.is_failure)
        if refused:
            self._post(self._on_refused_subscriptions, refused)

    # ------------------------------------------------------------------ the loop thread

    # After stop() nothing is delivered and the state stays DOWN; posts that were on their way
    # when paho's thread ended have all run by the time stop() returns.

    def _on_link(self, state: LinkState) -> None:
        if not self._closed:
            self._set_state(state)

    def _on_connack(self, reason: ReasonCode) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)
        if not self._closed:
            self._set_state(LinkState.DOWN if reason.is_failure else LinkState.UP)

    def _on_disconnect(self, reason: ReasonCode) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(
                LinkDown(f"{self.name}: the broker closed the connection ({reason})")
            )
        if not self._closed:
            self._set_state(LinkState.DOWN)

    def _on_ack(self, mid: int, reason: ReasonCode) -> None:
        ack = self._acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result(reason)

    def _on_refused_subscriptions(self, refused: int) -> None:
        self.refused_subscriptions += refused

    def _deliver(self, message: Message) -> None:
        if self._closed:
            return
        for sub in self._subscriptions:
            if paho.topic_matches_sub(sub.topic_filter, message.topic):
                try:
                    sub.handler(message)
                except Exception as exc:
                    self.handler_errors += 1
                    self._report(f"{self.name}: handler for {sub.topic_filter} failed", exc)

    def _set_state(self, state: LinkState) -> None:
        if state is self._state:
            return
        self._state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception as exc:
                self._report(f"{self.name}: on_state failed", exc)

    def _report(self, message: str, exc: Exception) -> None:
        loop = self._loop or asyncio.get_running_loop()
        loop.call_exception_handler({"message": message, "exception": exc})


def _no_nagle(client: paho.Client, userdata: Any, sock: paho.SocketLike) -> None:
    """Send each packet at once: a reply written right after our PUBACK would otherwise wait
    for the broker's delayed ACK of that PUBACK (about 40 ms)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
