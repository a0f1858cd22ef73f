"""Simulated devices on the hall's MQTT topic tree: call pad, window display, rating pad.

Each has its own broker connection with its own last will, as a real device has: a retained
`$state` "ready" on every connect and "lost" as its will, a retained `$meta`, its `cmd/+` and
retained `snapshot` subscribed, and its keys and ratings published at QoS 1.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import structlog

from hall_controller import __version__
from hall_controller.protocols import mqtt_tree
from hall_controller.protocols.callpad import KEY_ACTIONS
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.protocols.rating_pad import SCALE
from hall_controller.transports.base import LinkState
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.mqtt import Message, MqttLink, Will

log = structlog.get_logger("hall_controller.simulators")

HISTORY = 200
Prompt = Literal["idle", "asking", "thanks"]
View = dict[str, object]


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the hall's broker is, and the hall whose topic tree the devices speak."""

    hall_id: str
    host: str
    port: int
    keepalive: int = 15


@dataclass(frozen=True, slots=True)
class PeerModel:
    """What the device is: model and profile (for `$meta`), display width, keys (call pads)."""

    model: str = "simulated device"
    profile: str = ""
    text_width: int = 16
    keys: tuple[str, ...] = KEY_ACTIONS


class MqttPeer:
    """What every simulated MQTT device shares: presence, meta, commands and the snapshot."""

    kind: ClassVar[str] = "device"

    def __init__(self, device_id: str, broker: Broker, model: PeerModel | None = None) -> None:
        self.device_id = device_id
        self.topics = Topics(broker.hall_id)
        self.model = model or PeerModel()
        self.text_width = self.model.text_width
        state_topic = self.topics.device_state(device_id)
        self.link = MqttLink(
            broker.host,
            broker.port,
            f"sim-{broker.hall_id}-{device_id}",
            will=Will(state_topic, mqtt_tree.encode_state("lost")),
            birth=Will(state_topic, mqtt_tree.encode_state("ready")),
            keepalive=broker.keepalive,
            # A device that comes back has rebooted: it starts afresh and reads its snapshot.
            persistent_session=False,
        )
        self.link.on_state = self._link_state
        self.link.subscribe(self.topics.device_cmd_filter(device_id), 1, self._on_command)
        self.link.subscribe(self.topics.device_snapshot(device_id), 1, self._on_snapshot)
        # Its own `$meta` coming back proves the broker has taken the subscriptions above.
        self.link.subscribe(self.topics.device_meta(device_id), 1, self._on_own_meta)
        self._subscribed = asyncio.Event()
        self.rejected = 0  # commands and snapshots that do not match the message set
        self.commands: deque[tuple[str, Mapping[str, object]]] = deque(maxlen=HISTORY)
        self.snapshots = 0
        self._offline = False

    @property
    def online(self) -> bool:
        """Connected to the broker (and not crashed on purpose)."""
        return not self._offline and self.link.state is LinkState.UP

    async def start(self, timeout: float) -> None:
        """Connect and subscribe (LinkDown/LinkTimeout if the broker is not there); paho
        reconnects by itself afterwards."""
        self._offline = False
        await self._connect(timeout)

    async def stop(self, timeout: float) -> None:
        """Switch the device off: it says "lost" itself and disconnects."""
        await self.link.stop(timeout)

    async def go_offline(self, timeout: float) -> None:
        """A crash or a pulled power plug: the connection drops, the broker publishes the will."""
        if self._offline:
            return
        self._offline = True
        await self.link.abort(timeout)

    async def come_back(self, timeout: float) -> None:
        """Power back on: connect again, announce "ready" and read the retained snapshot."""
        if not self._offline:
            return
        await self._connect(timeout)
        self._offline = False

    async def _connect(self, timeout: float) -> None:
        """Start the link and wait until the broker has taken the subscriptions."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._subscribed.clear()
        await self.link.start(timeout)
        try:
            async with asyncio.timeout_at(deadline):
                await self._subscribed.wait()
        except TimeoutError:
            raise LinkTimeout(
                f"{self.device_id}: the broker did not confirm the subscriptions in {timeout:g} s"
            ) from None

    # --- what the controller sends ---------------------------------------------------------

    def _link_state(self, state: LinkState) -> None:
        """On every (re)connect the retained `$meta` again (the broker may have restarted)."""
        if state is not LinkState.UP:
            self._subscribed.clear()
            return
        meta = {
            "kind": self.kind,
            "model": self.model.model,
            "profile": self.model.profile,
            "firmware": f"hall-controller simulator {__version__}",
        }
        self.link.publish(
            self.topics.device_meta(self.device_id), mqtt_tree.encode_meta(meta), qos=1, retain=True
        )

    def _on_own_meta(self, message: Message) -> None:
        self._subscribed.set()

    def _on_command(self, message: Message) -> None:
        parsed = mqtt_tree.parse_topic(self.topics.hall_id, message.topic)
        if parsed is None or parsed.part != "cmd" or parsed.name is None:
            self.rejected += 1
            return
        command = mqtt_tree.decode_cmd(parsed.name, message.payload)
        if command is None:
            self.rejected += 1
            log.info("simulated_command_rejected", device=self.device_id, topic=message.topic)
            return
        self.commands.append((command.name, command.data))
        self.command(command.name, command.data)

    def _on_snapshot(self, message: Message) -> None:
        if not message.payload:
            return  # the retained snapshot was deleted
        snapshot = mqtt_tree.decode_snapshot(message.payload)
        if snapshot is None:
            self.rejected += 1
            log.info("simulated_snapshot_rejected", device=self.device_id)
            return
        self.snapshots += 1
        showing = snapshot.get("showing")
        self.snapshot(snapshot, showing if isinstance(showing, Mapping) else None)

    def command(self, name: str, data: Mapping[str, object]) -> None:
        """A valid `cmd/<name>` (defaults filled in)."""

    def snapshot(
        self, snapshot: Mapping[str, object], showing: Mapping[str, object] | None
    ) -> None:
        """A valid snapshot: everything the device should show now."""

    async def _publish_event(self, name: str, data: Mapping[str, object], timeout: float) -> None:
        """Publish `event/<name>` at QoS 1 and wait for the broker's PUBACK."""
        if self._offline:
            raise LinkDown(f"{self.device_id} is offline")
        payload = mqtt_tree.encode_event(name, data)
        topic = self.topics.device_event(self.device_id, name)
        await self.link.publish_wait(topic, payload, qos=1, timeout=timeout)

    def view(self) -> View:
        """What the device shows now, JSON-ready."""
        return {"type": self.kind, "online": self.online}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class MqttCallPadPeer(MqttPeer):
    """A call pad on MQTT: keys out as `event/key`; `cmd/feedback` text, lamp and beeps in."""

    kind = "call_pad"

    def __init__(self, device_id: str, broker: Broker, model: PeerModel | None = None) -> None:
        super().__init__(device_id, broker, model)
        self.keys = self.model.keys
        self.text = ""
        self.lamp = False
        self.beeps = 0
        self.presses = 0

    async def press(self, action: str, timeout: float) -> None:
        """Send the key for `action`; ValueError if the pad has none, LinkDown if offline."""
        if action not in self.keys:
            raise ValueError(f"this pad has no {action!r} key (its keys: {', '.join(self.keys)})")
        self.presses += 1
        await self._publish_event("key", {"key": action}, timeout)

    def command(self, name: str, data: Mapping[str, object]) -> None:
        """Feedback: absent fields leave the display, lamp and beeper as they are."""
        if name != "feedback":
            return
        if "text" in data:
            self.text = _text(data["text"])[: self.text_width]
        if isinstance(data.get("led"), bool):
            self.lamp = bool(data["led"])
        beep = data.get("beep")
        if isinstance(beep, int) and not isinstance(beep, bool):
            self.beeps += beep

    def snapshot(
        self, snapshot: Mapping[str, object], showing: Mapping[str, object] | None
    ) -> None:
        """The window's ticket on the display, the lamp lit while one is called or served."""
        ticket = _text(showing.get("ticket")) if showing else ""
        self.text = (ticket or (_text(showing.get("text")) if showing else ""))[: self.text_width]
        self.lamp = bool(ticket)

    def view(self) -> View:
        """The pad's display, lamp and beeps."""
        return {
            **super().view(),
            "text": self.text,
            "lamp": self.lamp,
            "beeps": self.beeps,
            "keys": list(self.keys),
        }


class MqttWindowDisplayPeer(MqttPeer):
    """A window display on MQTT: follows `cmd/show`, `cmd/clear` and the retained snapshot."""

    kind = "window_display"

    def __init__(self, device_id: str, broker: Broker, model: PeerModel | None = None) -> None:
        super().__init__(device_id, broker, model)
        self.ticket = ""
        self.window = ""
        self.text = ""
        self.blink = False
        self.status = ""

    def command(self, name: str, data: Mapping[str, object]) -> None:
        """Show a ticket (its text, else its number) or go blank."""
        if name == "show":
            self._show(data, blink=data.get("blink") is True)
        elif name == "clear":
            self._show(None, blink=False)

    def snapshot(
        self, snapshot: Mapping[str, object], showing: Mapping[str, object] | None
    ) -> None:
        """What the window shows now (never blinking: a snapshot is no fresh call)."""
        self.status = _text(snapshot.get("status"))
        self._show(showing, blink=False)

    def _show(self, showing: Mapping[str, object] | None, *, blink: bool) -> None:
        if showing is None:
            self.ticket = self.window = self.text = ""
            self.blink = False
            return
        self.ticket = _text(showing.get("ticket"))
        self.window = _text(showing.get("window"))
        self.text = (_text(showing.get("text")) or self.ticket)[: self.text_width]
        self.blink = blink

    def view(self) -> View:
        """The display's text, ticket and blink."""
        return {
            **super().view(),
            "text": self.text,
            "ticket": self.ticket,
            "window": self.window,
            "blink": self.blink,
            "status": self.status,
        }


class MqttRatingPadPeer(MqttPeer):
    """A rating pad on MQTT: asked by `cmd/ask_rating`, thanked by `cmd/rating_done`.

    Like a real pad it sends a score whenever one is given; the controller decides whether it
    counts. After `rating_done` (or an idle snapshot) it thanks when a score was given since it
    was asked, else it goes idle.
    """

    kind = "rating_pad"

    def __init__(self, device_id: str, broker: Broker, model: PeerModel | None = None) -> None:
        super().__init__(device_id, broker, model)
        self.prompt: Prompt = "idle"
        self.ticket = ""
        self.rated: int | None = None  # the score given since the pad was last asked
        self.ratings: list[tuple[int, Prompt]] = []  # (score, prompt when given)

    async def rate(self, score: int, timeout: float) -> None:
        """Send `score` (1..5); ValueError for another score, LinkDown if offline."""
        if score not in SCALE:
            raise ValueError(f"score {score!r} is not on the 1..5 scale")
        self.ratings.append((score, self.prompt))
        await self._publish_event("rating", {"score": score}, timeout)
        if self.prompt == "asking":
            self.rated = score

    def command(self, name: str, data: Mapping[str, object]) -> None:
        """Ask, or end the asking."""
        if name == "ask_rating":
            self._ask(_text(data.get("ticket")))
        elif name == "rating_done":
            self._done()

    def snapshot(
        self, snapshot: Mapping[str, object], showing: Mapping[str, object] | None
    ) -> None:
        """Asking or not, as the controller says now."""
        if snapshot.get("rating") == "asking":
            if self.prompt != "asking":
                self._ask(self.ticket)
        elif self.prompt == "asking":
            self._done()

    def _ask(self, ticket: str) -> None:
        if self.prompt != "asking" or ticket != self.ticket:
            self.rated = None
        self.prompt = "asking"
        self.ticket = ticket

    def _done(self) -> None:
        if self.prompt == "asking":
            self.prompt = "thanks" if self.rated is not None else "idle"

    def view(self) -> View:
        """Asking, thanks or idle, and the ticket asked about."""
        return {**super().view(), "prompt": self.prompt, "ticket": self.ticket}
