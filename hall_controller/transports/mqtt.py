"""MQTT link with paho-mqtt driven by the asyncio loop itself: no network thread, no hops.

paho runs in its external-loop mode: the loop watches the socket and calls `loop_read` and
`loop_write`; a task calls `loop_misc` (keepalive) every second; this link reconnects with its
own backoff. Every paho callback therefore runs on the loop thread. A publish is written within
FLUSH_DELAY_S, in one TCP segment with whatever else was published meanwhile, or at once by
flush(). Only the TCP connect of an attempt runs in a worker thread (paho's connect blocks).

Not aiomqtt: an aiomqtt 2.x client that receives at QoS 1 sends its own publishes only when the
next message comes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .backoff import Backoff
from .base import LinkState
from .errors import LinkDown, LinkTimeout, TransportError

# The broker is on the edge box itself: come back quickly once it is there again.
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
# Longest TCP connect of an attempt (shorter if start() is given less).
CONNECT_TIMEOUT_S = 5.0
# How often paho's keepalive bookkeeping runs (PINGREQ when idle, a dead broker detected).
HOUSEKEEPING_S = 1.0
# How long the broker keeps our session (subscriptions, QoS 1 messages for us) while we are
# away: long enough for a controller restart, short enough that key presses from a long outage
# are not replayed. Mosquitto also caps what it queues per client (1000 messages).
SESSION_EXPIRY_S = 300
# QoS 1 publishes kept while the broker is away; beyond this they are dropped and counted.
MAX_QUEUED = 1000
# Topics whose matching subscriptions are remembered (a hall has a few per device).
MAX_ROUTES = 4096
# How long a publish may wait to share a TCP segment with others (PUBACKs, a pad's beep and
# the next display command): each segment costs a wake-up of the broker. What must go at
# once is sent with flush().
FLUSH_DELAY_S = 0.002


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


@dataclass(frozen=True, slots=True)
class _Held:
    """A QoS 1 publish made while a connect attempt was under way in its worker thread."""

    topic: str
    payload: bytes | str
    qos: int
    retain: bool


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
        self.on_state: Callable[[LinkState], None] | None = None
        self.dropped = 0  # publishes lost: QoS 0 while down, queue full, or after stop()
        self.handler_errors = 0  # subscription handlers that raised
        self.refused_subscriptions = 0  # topic filters the broker refused (SUBACK failure)
        self._state = LinkState.DOWN
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._routes: dict[str, tuple[_Subscription, ...]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._client = self._new_client()
        self._ever_connected = False  # paho's connect() stores the address; reconnect() reuses it
        self._started = False  # from start() until it fails or stop() is called
        self._running = False  # from a successful start() until stop(): reconnects by itself
        self._closed = False  # from stop() until the next start()
        self._connecting = False  # a TCP connect runs in its worker thread
        self._attempt_done = asyncio.Event()
        self._attempt_done.set()
        self._held: deque[_Held] = deque()
        self._sock: paho.SocketLike | None = None  # the socket the loop watches
        self._sock_closed: asyncio.Future[None] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None  # the next batched loop_write
        self._writer_on = False  # the loop waits for the socket to drain
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}
        self._backoff = Backoff(initial_s=RECONNECT_MIN_S, cap_s=RECONNECT_MAX_S)
        self._housekeeping: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None

    @property
    def state(self) -> LinkState:
        """UP while connected to the broker; CONNECTING while (re)connecting; DOWN otherwise."""
        return self._state

    # ------------------------------------------------------------------ lifecycle

    async def start(self, timeout: float) -> None:
        """Connect or raise LinkDown (refused, unreachable) or LinkTimeout; then reconnect alone."""
        if self._started:
            raise TransportError(f"{self.name}: already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._started = True
        self._closed = False
        deadline = loop.time() + timeout
        self._connack = loop.create_future()
        self._set_state(LinkState.CONNECTING)
        try:
            await self._open(timeout)
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
            await self._close_socket(max(deadline - loop.time(), 1.0))
            self._started = False
            self._set_state(LinkState.DOWN)
            raise
        finally:
            self._connack = None
        self._running = True
        self._housekeeping = loop.create_task(
            self._keep_alive(), name=f"mqtt keepalive {self.client_id}"
        )

    async def stop(self, timeout: float) -> None:
        """Say goodbye (the will's payload), disconnect, close the socket in time; idempotent."""
        if self._closed:
            return
        await self._finish(timeout, goodbye=True)

    async def abort(self, timeout: float) -> None:
        """Drop the connection without DISCONNECT or goodbye, as a crash does; the broker then
        publishes the will. The link ends stopped."""
        if self._closed:
            return
        await self._finish(timeout, goodbye=False)

    async def _finish(self, timeout: float, *, goodbye: bool) -> None:
        self._closed = True
        if not self._started:
            return
        self._started = False
        self._running = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await self._cancel(self._reconnecting)
            if goodbye and self.will is not None and self._state is LinkState.UP:
                # A clean DISCONNECT suppresses the will: say it ourselves, or a watcher would
                # keep seeing the birth of a controller that has gone.
                with contextlib.suppress(TransportError):
                    await self._publish_wait(
                        self.will.topic,
                        self.will.payload,
                        qos=self.will.qos,
                        retain=self.will.retain,
                        timeout=timeout / 2,
                    )
            if goodbye:
                await self._close_socket(deadline - loop.time())
            else:
                self._drop_socket()
        finally:
            await self._cancel(self._housekeeping)
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            for ack in self._acks.values():
                if not ack.done():
                    ack.set_exception(LinkDown(f"{self.name}: stopped"))
            self._set_state(LinkState.DOWN)

    async def _cancel(self, task: asyncio.Task[None] | None) -> None:
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ------------------------------------------------------------------ connecting

    async def _open(self, timeout: float) -> None:
        """TCP connect and CONNECT queued (the connect in a worker thread), errors mapped; the
        loop then watches the socket. CONNACK comes through loop_read."""
        client = self._client
        # paho refuses a new value while it thinks the connection is only lost, not closed:
        # the value of the last attempt it took stays for the reconnects then.
        with contextlib.suppress(RuntimeError):
            client.connect_timeout = min(timeout, CONNECT_TIMEOUT_S)
        if self._ever_connected:
            connect: Callable[[], object] = client.reconnect
        else:
            properties = None
            if self.persistent_session:
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = SESSION_EXPIRY_S

            def connect() -> object:
                return client.connect(
                    self.host,
                    self.port,
                    self.keepalive,
                    clean_start=not self.persistent_session,
                    properties=properties,
                )

        self._connecting = True
        self._attempt_done.clear()
        attempt = asyncio.ensure_future(asyncio.to_thread(connect))
        try:
            try:
                await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # The worker thread cannot be interrupted: let it end (connect_timeout bounds
                # it) and close what it opened.
                with contextlib.suppress(Exception):
                    await attempt
                self._connecting = False
                self._drop_socket()
                raise
            self._ever_connected = True
        except TimeoutError:
            raise LinkTimeout(f"{self.name}: no TCP connection within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise LinkDown(f"{self.name}: connection refused (no broker listening)") from None
        except OSError as exc:
            raise LinkDown(f"{self.name}: unreachable ({exc})") from None
        finally:
            self._connecting = False
            self._attempt_done.set()
            # In order, before anything published after them; kept by paho if not connected.
            self._release_held()
        sock = client.socket()
        if sock is not None:
            self._watch(sock)

    def _watch(self, sock: paho.SocketLike) -> None:
        loop = self._running_loop()
        self._sock = sock
        self._sock_closed = loop.create_future()
        loop.add_reader(sock, self._readable)
        # CONNECT is queued: paho asked for a write from the worker thread, where it could not
        # be granted.
        self.flush()

    def _release_held(self) -> None:
        """Hand paho what was published during the connect: it sends or keeps it now."""
        while self._held:
            held = self._held.popleft()
            self._publish_now(held.topic, held.payload, held.qos, held.retain)

    async def _reconnect(self) -> None:
        """Attempts after a lost connection, apart by the backoff, until one gets to CONNECT."""
        while self._running:
            await asyncio.sleep(self._backoff.next_delay())
            self._set_state(LinkState.CONNECTING)
            try:
                await self._open(CONNECT_TIMEOUT_S)
            except TransportError:
                self._set_state(LinkState.DOWN)
                continue
            except Exception as exc:  # a paho bug must not end the reconnecting for good
                self._report(f"{self.name}: reconnect attempt failed", exc)
                self._set_state(LinkState.DOWN)
                continue
            # CONNACK (or the broker closing on us) comes through loop_read from here on.
            return

    async def _keep_alive(self) -> None:
        """paho's keepalive: PINGREQ when quiet, the connection closed when the broker is mute."""
        client = self._client
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            if self._sock is not None and not self._connecting:
                try:
                    client.loop_misc()
                except Exception as exc:
                    self._report(f"{self.name}: keepalive failed", exc)

    async def _close_socket(self, timeout: float) -> None:
        """DISCONNECT and wait for paho to close the socket; closed anyway after timeout."""
        if self._connecting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(timeout, 0.0)):
                    await self._attempt_done.wait()
        self._client.disconnect()
        self.flush()  # the DISCONNECT (and what waits before it) now, not with the next batch
        closed = self._sock_closed
        if self._sock is not None and closed is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(closed), max(timeout, 0.0))
        self._drop_socket()

    def _drop_socket(self) -> None:
        """Close the socket at once, without DISCONNECT (the broker publishes the will)."""
        # paho has no public call to close its socket without a DISCONNECT; it calls
        # on_socket_close, which takes the socket off the loop.
        reset_sockets = getattr(self._client, "_reset_sockets", None)
        if reset_sockets is not None:
            reset_sockets()
        self._unwatch()

    def _unwatch(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        loop = self._running_loop()
        loop.remove_reader(sock)
        if self._writer_on:
            self._writer_on = False
            loop.remove_writer(sock)
        if self._sock_closed is not None and not self._sock_closed.done():
            self._sock_closed.set_result(None)

    # ------------------------------------------------------------------ messages

    def subscribe(self, topic_filter: str, qos: int, handler: Callable[[Message], None]) -> None:
        """Call handler on the loop thread for each matching message; renewed on every reconnect."""
        # Renewed even when the broker kept the session, so retained messages come again then.
        self._subscriptions = (*self._subscriptions, _Subscription(topic_filter, qos, handler))
        self._routes.clear()
        if self._state is LinkState.UP:
            # Otherwise on_connect subscribes everything on the next connect.
            self._client.subscribe(topic_filter, qos)

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Queue without blocking; while down QoS 1 and 2 are kept, lost ones count in dropped."""
        if self._closed:
            self.dropped += 1
            return
        if self._connecting:
            # paho's socket is being set up in another thread: hold on until it is.
            if qos == 0 or len(self._held) >= MAX_QUEUED:
                self.dropped += 1
            else:
                self._held.append(_Held(topic, payload, qos, retain))
            return
        self._publish_now(topic, payload, qos, retain)

    def _publish_now(
        self, topic: str, payload: bytes | str, qos: int, retain: bool
    ) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE or (
            qos == 0 and info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS
        ):
            self.dropped += 1
        return info

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
        await self._publish_wait(topic, payload, qos=qos, retain=retain, timeout=timeout)

    async def _publish_wait(
        self, topic: str, payload: bytes | str, *, qos: int, retain: bool, timeout: float
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._attempt_done.wait()
                dropped = self.dropped
                info = self._publish_now(topic, payload, qos, retain)
                if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    raise TransportError(
                        f"{self.name}: {MAX_QUEUED} messages queued already, dropped"
                    )
                if self.dropped != dropped:
                    raise LinkDown(f"{self.name}: not connected, QoS 0 publish to {topic} dropped")
                self.flush()  # someone waits for its acknowledgement: no batching delay
                # on_publish runs on this thread, after this returns: the mid is known first.
                ack: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
                self._acks[info.mid] = ack
                # Only while someone waits: paho builds a ReasonCode and a Properties object for
                # every on_publish call, QoS 0 messages included.
                self._client.on_publish = self._paho_publish
                try:
                    reason = await ack
                finally:
                    self._acks.pop(info.mid, None)
                    if not self._acks:
                        self._client.on_publish = None
        except TimeoutError:
            raise LinkTimeout(f"{self.name}: no PUBACK for {topic} within {timeout:g} s") from None
        if reason.is_failure:
            raise TransportError(
                f"{self.name}: the broker refused the publish to {topic} ({reason})"
            )

    # ------------------------------------------------------------------ paho's callbacks

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
        client.max_queued_messages_set(MAX_QUEUED)
        client.max_inflight_messages_set(self._max_inflight)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.on_socket_open = _no_nagle
        client.on_socket_close = self._paho_socket_close
        client.on_socket_register_write = self._paho_register_write
        client.on_socket_unregister_write = self._paho_unregister_write
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribe
        return client

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "used before start()"
        return self._loop

    def _readable(self) -> None:
        try:
            self._client.loop_read()
        except Exception as exc:
            self._broken(f"{self.name}: reading from the broker failed", exc)

    def flush(self) -> None:
        """Write what is queued now rather than with the next batch (within FLUSH_DELAY_S)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._sock is not None and self._client.want_write():
            self._writable()

    def _flush_soon(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = self._running_loop().call_later(FLUSH_DELAY_S, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        self._writable()

    def _writable(self) -> None:
        """Write what paho has queued; if the socket's buffer is full, again when it drains."""
        client = self._client
        sock = self._sock
        corked = _cork(sock, True)
        try:
            client.loop_write()
        except Exception as exc:
            self._broken(f"{self.name}: writing to the broker failed", exc)
        finally:
            if corked and sock is self._sock:
                _cork(sock, False)
        sock = self._sock
        if sock is not None and client.want_write() and not self._writer_on:
            self._writer_on = True
            self._running_loop().add_writer(sock, self._writable)

    def _broken(self, message: str, exc: Exception) -> None:
        """paho failed on the socket: report it, drop the connection and start over, rather
        than have the loop call it again on a socket that stays ready."""
        self._report(message, exc)
        self._drop_socket()
        self._connection_lost(f"{message}: {exc!r}")

    def _paho_socket_close(self, client: paho.Client, userdata: Any, sock: paho.SocketLike) -> None:
        # paho closes the socket right after this: it must be off the loop by then.
        if sock is self._sock and self._on_loop_thread():
            self._unwatch()

    def _paho_register_write(
        self, client: paho.Client, userdata: Any, sock: paho.SocketLike
    ) -> None:
        # What is published within FLUSH_DELAY_S goes out in one loop_write, without asking the
        # selector whether the socket is writable (it nearly always is).
        # From the connect's worker thread it is refused here and granted by _watch().
        if sock is self._sock and self._on_loop_thread():
            self._flush_soon()

    def _paho_unregister_write(
        self, client: paho.Client, userdata: Any, sock: paho.SocketLike
    ) -> None:
        if sock is self._sock and self._writer_on and self._on_loop_thread():
            self._writer_on = False
            self._running_loop().remove_writer(sock)

    def _paho_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason.is_failure:
            self._backoff.reset()
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
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)
        if not self._closed:
            self._set_state(LinkState.DOWN if reason.is_failure else LinkState.UP)

    def _paho_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connection_lost(f"{self.name}: the broker closed the connection ({reason})")

    def _connection_lost(self, why: str) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(LinkDown(why))
        if self._closed:
            return
        self._set_state(LinkState.DOWN)
        if self._running and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = self._running_loop().create_task(
                self._reconnect(), name=f"mqtt reconnect {self.client_id}"
            )

    def _paho_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._closed:
            return
        try:
            topic = message.topic
        except UnicodeDecodeError:
            return
        delivered = Message(topic, bytes(message.payload), message.retain)
        for sub in self._routes_for(topic):
            try:
                sub.handler(delivered)
            except Exception as exc:
                self.handler_errors += 1
                self._report(f"{self.name}: handler for {sub.topic_filter} failed", exc)

    def _routes_for(self, topic: str) -> tuple[_Subscription, ...]:
        """The subscriptions a topic matches, remembered (paho's matcher is slow to build)."""
        routes = self._routes.get(topic)
        if routes is None:
            routes = tuple(
                sub
                for sub in self._subscriptions
                if paho.topic_matches_sub(sub.topic_filter, topic)
            )
            if len(self._routes) >= MAX_ROUTES:  # a device publishing to ever new topics
                self._routes.clear()
            self._routes[topic] = routes
        return routes

    def _paho_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        ack = self._acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result(reason)

    def _paho_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.refused_subscriptions += sum(1 for reason in reasons if reason.is_failure)

    # ------------------------------------------------------------------ state

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


def _cork(sock: paho.SocketLike | None, on: bool) -> bool:
    """Hold back (on) and then send in one segment (off) the packets of one write: on loopback
    each segment costs a wake-up of the broker. False where TCP_CORK is not available."""
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or not isinstance(sock, socket.socket):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1 if on else 0)
    except OSError:
        return False
    return True
