"""Devices that speak the hall's MQTT topic tree: call pads, window displays, rating pads."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import structlog

from hall_controller.devices.base import Device, DeviceContext, TestFired
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import (
    EmergencyNotice,
    InputResult,
    KeyPressed,
    MessagePages,
    RatingGiven,
    WindowShowing,
)
from hall_controller.profiles import DeviceConfig, MqttDeviceSettings
from hall_controller.protocols import mqtt_tree
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.transports.base import LinkState
from hall_controller.transports.mqtt import Message, MqttLink

log = structlog.get_logger("hall_controller.devices")

_STATES = {"ready": DeviceState.READY, "alert": DeviceState.ALERT, "lost": DeviceState.LOST}


class MqttDevice(Device):
    """A device on the broker: its `$state` says whether it is there; commands go to `cmd/`."""

    def __init__(
        self, config: DeviceConfig, context: DeviceContext, link: MqttLink, topics: Topics
    ) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, MqttDeviceSettings)
        self.settings = config.profile.codec
        self.link = link
        self.topics = topics
        # Until its retained $state arrives: connecting (it may simply not be powered yet).
        self.health.state = DeviceState.CONNECTING
        self._snapshot: bytes | None = None

    def announced(self, payload: bytes) -> None:
        """The device's retained `$state` (ready / alert / lost, its last will)."""
        name = mqtt_tree.decode_state(payload)
        state = _STATES.get(name) if name is not None else None
        if state is None:
            self.health.error(f"unknown $state {payload[:32]!r}")
            return
        self.health.seen(self.context.clock(), f"$state {state.value}")
        came_back = state is not DeviceState.LOST and not self.ready
        if came_back and self.health.frames_in > 1:
            self.health.reconnects += 1
        self.set_state(
            state, "its last will: connection lost" if state is DeviceState.LOST else None
        )
        if came_back:
            # Everything it should show now: the retained snapshot and the commands that draw it
            # (a fresh call is not repeated as a blink).
            self.send_snapshot()
            self.forget()
            if self.showing is not None:
                self.draw(replace(self.showing, blink=False))

    def forget(self) -> None:
        """Drop what the device was last told: it has (re)started and must be told again."""

    def event(self, name: str, data: Mapping[str, Any]) -> None:
        """A validated `event/<name>` from the device."""

    def broker(self, state: LinkState) -> None:
        """The controller's own broker link changed: without it, no MQTT device is reachable."""
        if state is LinkState.DOWN and self.ready:
            self.set_state(DeviceState.LOST, "the controller lost the MQTT broker")

    def command(self, name: str, data: Mapping[str, object]) -> None:
        """Publish `cmd/<name>` (QoS 0: the controller sends state, not a history)."""
        payload = mqtt_tree.encode_cmd(name, data)
        # A command lost with the connection is not replayed later (QoS 1 would replay a stale
        # "show" after a reconnect); instead every return of the device or of our link brings
        # the snapshot and the commands of now. Keys and ratings from devices stay QoS 1.
        self.link.publish(self.topics.device_cmd(self.id, name), payload, qos=0)
        self.health.sent(f"cmd/{name} {payload.decode()}")

    def send_snapshot(self, *, force: bool = True) -> None:
        """Publish the retained snapshot of everything the device should show (if it changed,
        unless `force`)."""
        showing = self.showing
        body = {
            "window": self.config.window or "",
            "status": showing.status if showing else "closed",
            "showing": self._show_payload(showing, blink=False) if showing else None,
            "rating": showing.rating if showing else "idle",
        }
        payload = mqtt_tree.encode_snapshot(body)
        if payload == self._snapshot and not force:
            return
        self._snapshot = payload
        # QoS 0, as commands: sent again when the device (or the controller's link) comes back.
        self.link.publish(self.topics.device_snapshot(self.id), payload, qos=0, retain=True)
        self.health.sent(f"snapshot {payload.decode()}")

    def render(self, showing: WindowShowing) -> None:
        """Keep the retained snapshot current, then send the kind's own commands."""
        super().render(showing)
        # In this order: a device draws what a snapshot says, so a command sent before it
        # (a call's blink) would be drawn over.
        self.send_snapshot(force=False)
        if self.ready:
            self.draw(showing)

    def draw(self, showing: WindowShowing) -> None:
        """Send the commands that make the device show `showing`."""

    def restore_after(self, seconds: float) -> None:
        """Show the window's state again `seconds` after a technician's test."""
        self.spawn(self._restore_later(seconds), "test-restore")

    async def _restore_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.ready:
            self.restore()

    def restore(self) -> None:
        """Send what the device should show now, after a test (no blink)."""
        if self.showing is not None:
            self.draw(replace(self.showing, blink=False))

    def _show_payload(self, showing: WindowShowing, *, blink: bool) -> dict[str, object] | None:
        if showing.ticket is None:
            if showing.status == "paused":
                text = self.config.profile.paused_text
                return {"ticket": "", "window": showing.window, "text": text, "blink": False}
            return None
        text = self.config.profile.show_text.format(ticket=showing.ticket, window=showing.window)
        return {
            "ticket": showing.ticket,
            "window": showing.window,
            "text": text[: self.settings.text_width],
            "blink": blink,
        }


class MqttWindowDisplay(MqttDevice):
    """A window display on MQTT: `cmd/show` with the ticket (blink on call), `cmd/clear`.

    During an emergency it is shown the message in pages of its text width (`cmd/show` without a
    ticket, turned by the hub; the retained snapshot holds the current page), and the window's
    state again when the emergency ends.
    """

    def __init__(
        self, config: DeviceConfig, context: DeviceContext, link: MqttLink, topics: Topics
    ) -> None:
        super().__init__(config, context, link, topics)
        self.pages = MessagePages()  # the emergency's message, page by page

    def set_emergency(self, notice: EmergencyNotice | None) -> None:
        """Show the emergency's message from its first page, or the window's state again."""
        width = self.settings.text_width
        if not self.pages.show(notice, lambda page: len(page) <= width):
            return
        self.send_snapshot(force=False)
        if self.ready:
            self.restore()

    def turn_page(self) -> None:
        """The emergency's next page (the first after the last)."""
        if self.pages.turn() and self.ready:
            self.restore()

    def _show_payload(self, showing: WindowShowing, *, blink: bool) -> dict[str, object] | None:
        text = self.pages.current
        if text is not None:
            return {"ticket": "", "window": showing.window, "text": text, "blink": False}
        return super()._show_payload(showing, blink=blink)

    def draw(self, showing: WindowShowing) -> None:
        """Show or clear."""
        payload = self._show_payload(showing, blink=showing.blink)
        if payload is None:
            self.command("clear", {})
        else:
            self.command("show", payload)

    def flash(self, text: str, seconds: float) -> TestFired:
        """A technician's test: `text` blinking for `seconds`, then the window's state again."""
        shown = text[: self.settings.text_width]
        window = self.config.window or ""
        self.command("show", {"ticket": "", "window": window, "text": shown, "blink": True})
        self.restore_after(seconds)
        return TestFired("flash", f'shows "{shown}" for {seconds:g} s, then what it showed before')

    def restore(self) -> None:
        """What the window shows now (or the emergency's page), else a blank display."""
        text = self.pages.current
        if text is not None:
            window = self.config.window or "-"
            self.command("show", {"ticket": "", "window": window, "text": text, "blink": False})
        elif self.showing is None:
            self.command("clear", {})
        else:
            super().restore()


class MqttCallPad(MqttDevice):
    """A call pad on MQTT: `event/key` in, `cmd/feedback` out."""

    def event(self, name: str, data: Mapping[str, Any]) -> None:
        """A key from the pad, when the profile says the pad has it."""
        if name != "key" or self.config.window is None:
            return
        action = str(data["key"])
        if action not in self.settings.keys:
            self.health.error(f"key {action!r} is not on this pad's profile")
            return
        self.submit(KeyPressed(self.id, self.config.window, action))

    def feedback(self, result: InputResult) -> None:
        """Text, lamp and beep on the pad."""
        if self.config.profile.feedback and self.ready:
            text = result.text[: self.settings.text_width]
            self.command(
                "feedback", {"text": text, "led": result.serving, "beep": 1 if result.ok else 3}
            )

    def light(self, text: str, seconds: float) -> TestFired:
        """A technician's test: lamp on, `text` and one beep for `seconds`; then the window's
        ticket and lamp again."""
        shown = text[: self.settings.text_width]
        self.command("feedback", {"text": shown, "led": True, "beep": 1})
        self.restore_after(seconds)
        return TestFired(
            "light",
            f'lamp on, "{shown}" and one beep for {seconds:g} s, then what it showed before',
        )

    def restore(self) -> None:
        """The window's ticket on the pad's display and its lamp, as before the test."""
        ticket = self.showing.ticket if self.showing is not None else None
        text = (ticket or "")[: self.settings.text_width]
        self.command("feedback", {"text": text, "led": ticket is not None, "beep": 0})


class MqttRatingPad(MqttDevice):
    """A rating pad on MQTT: `cmd/ask_rating`, one `event/rating`, `cmd/rating_done`."""

    def __init__(
        self, config: DeviceConfig, context: DeviceContext, link: MqttLink, topics: Topics
    ) -> None:
        super().__init__(config, context, link, topics)
        self._asked: str | None = None
        self._taken: str | None = None

    def event(self, name: str, data: Mapping[str, Any]) -> None:
        """A score while asking becomes the rating; a second one is ignored."""
        if name != "rating" or self.config.window is None:
            return
        if self._asked is None or self._taken == self._asked:
            log.info("rating_key_ignored", device=self.id, score=data.get("score"))
            return
        self._taken = self._asked
        self.submit(RatingGiven(self.id, self.config.window, int(data["score"])))

    def forget(self) -> None:
        """Ask again after a restart of the pad."""
        self._asked = None

    def draw(self, showing: WindowShowing) -> None:
        """Ask for a rating after service; say thanks (or go idle) after."""
        asking = showing.rating_ticket if showing.rating == "asking" else None
        if asking is not None and asking != self._asked:
            self.command("ask_rating", {"ticket": showing.rating_number or ""})
        elif asking is None and self._asked is not None:
            self.command("rating_done", {"ticket": ""})
        self._asked = asking


class MqttGateway:
    """The controller's end of the topic tree: routes device events and states to adapters."""

    def __init__(self, link: MqttLink, topics: Topics, devices: Mapping[str, MqttDevice]) -> None:
        self.link = link
        self.topics = topics
        self.devices = dict(devices)
        self.rejected = 0

    def start(self) -> None:
        """Subscribe to every device's events and states (renewed by the link on reconnect)."""
        self.link.subscribe(self.topics.device_events_filter(), 1, self._on_event)
        self.link.subscribe(self.topics.device_states_filter(), 1, self._on_state)

    def broker(self, state: LinkState) -> None:
        """Tell every MQTT device about the controller's broker link."""
        for device in self.devices.values():
            device.broker(state)

    def _device(self, message: Message, part: str) -> tuple[MqttDevice, str] | None:
        parsed = mqtt_tree.parse_topic(self.topics.hall_id, message.topic)
        if parsed is None or parsed.part != part or (part == "event" and parsed.name is None):
            self.rejected += 1
            return None
        device = self.devices.get(parsed.device_id)
        if device is None:
            return None  # another device's traffic (a serial device's $state published by us)
        return device, parsed.name or ""

    def _on_state(self, message: Message) -> None:
        found = self._device(message, "$state")
        if found is not None:
            found[0].announced(message.payload)

    def _on_event(self, message: Message) -> None:
        found = self._device(message, "event")
        if found is None:
            return
        device, name = found
        decoded = mqtt_tree.decode_event(name, message.payload)
        if decoded is None:
            device.health.error(f"bad event/{name}: {message.payload[:64]!r}")
            return
        device.health.seen(device.context.clock(), f"event/{name} {message.payload[:120]!r}")
        device.event(decoded.name, decoded.data)
