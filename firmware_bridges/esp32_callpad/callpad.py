"""Call pad logic: debounced keys -> event/key, commands and the snapshot -> display, lamp, beeps.

Runs on MicroPython and, for the tests, on CPython: the key pins, the lamp and beeper pins, the
display, the MQTT client (umqtt.simple's MQTTClient) and the clock (MicroPython's time module)
are passed in. Nothing here blocks except the client's own socket calls.
"""

import json

from messages import (
    CMD_ASK_RATING,
    CMD_CLEAR,
    CMD_FEEDBACK,
    CMD_RATING_DONE,
    CMD_SHOW,
    EVENT_KEY,
    KEYS,
    KIND,
    LOST,
    QOS_CMD,
    QOS_EVENT,
    QOS_STATE,
    READY,
    TOPIC_CMD,
    TOPIC_EVENT,
    TOPIC_META,
    TOPIC_SNAPSHOT,
    TOPIC_STATE,
    topic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class InputPin(Protocol):
        def value(self) -> int: ...

    class OutputPin(Protocol):
        def on(self) -> None: ...

        def off(self) -> None: ...

    class Display(Protocol):
        def show(self, top: str, bottom: str) -> None: ...

    class Clock(Protocol):
        def ticks_ms(self) -> int: ...

        def ticks_add(self, ticks: int, delta: int) -> int: ...

        def ticks_diff(self, later: int, earlier: int) -> int: ...

        def sleep_ms(self, ms: int) -> None: ...

    class MqttClient(Protocol):
        def set_callback(self, f: Callable[[bytes, bytes], None]) -> None: ...

        def set_last_will(
            self, topic: bytes, msg: bytes, retain: bool = False, qos: int = 0
        ) -> None: ...

        def connect(self, clean_session: bool = True) -> object: ...

        def disconnect(self) -> None: ...

        def ping(self) -> None: ...

        def publish(self, topic: bytes, msg: bytes, retain: bool = False, qos: int = 0) -> None: ...

        def subscribe(self, topic: bytes, qos: int = 0) -> None: ...

        def check_msg(self) -> object: ...


FIRMWARE = "hall esp32-callpad 1.0"
MODEL = "ESP32 call pad with display"

# What the pad shows on its own (the display font may lack Chinese characters).
TEXT_OFFLINE = "offline"
TEXT_CONNECTING = "connecting"
TEXT_RATING = "rating "
TEXT_RATED = "rated"
OFFLINE_BEEPS = 3

BEEP_ON_MS = 80
BEEP_OFF_MS = 120
# Messages taken from the broker per step, so keys stay responsive under a burst.
MESSAGES_PER_STEP = 8

# Payload fields per command: (name, JSON type, required). Bounds are checked where they matter.
_STRING, _BOOLEAN, _INTEGER = "string", "boolean", "integer"
COMMAND_FIELDS = {
    CMD_SHOW: (
        ("ticket", _STRING, True),
        ("window", _STRING, True),
        ("text", _STRING, False),
        ("blink", _BOOLEAN, False),
    ),
    CMD_CLEAR: (),
    CMD_ASK_RATING: (("ticket", _STRING, True),),
    CMD_RATING_DONE: (("ticket", _STRING, True),),
    CMD_FEEDBACK: (("text", _STRING, False), ("led", _BOOLEAN, False), ("beep", _INTEGER, False)),
}
BEEP_MAX = 9


def _fits(value: object, kind: str) -> bool:
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


def valid_command(name: str, data: object) -> bool:
    """True if `data` is a payload the message set allows for command `name`."""
    fields = COMMAND_FIELDS.get(name)
    if fields is None or not isinstance(data, dict):
        return False
    known = [field[0] for field in fields]
    for key in data:
        if key not in known:
            return False
    for field_name, kind, required in fields:
        if field_name not in data:
            if required:
                return False
        elif not _fits(data[field_name], kind):
            return False
    beep = data.get("beep", 0)
    return not isinstance(beep, int) or 0 <= beep <= BEEP_MAX


def _text(data: "dict[str, object]", name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


class Key:
    """One key on a pin: a press counts once the pin has been steady for the debounce time."""

    def __init__(self, name: str, pin: "InputPin", active: int, debounce_ms: int, now: int) -> None:
        self.name = name
        self.pin = pin
        self.active = active
        self.debounce_ms = debounce_ms
        self._raw = self._down()
        # A key held at boot is not a press: it must be released first.
        self._stable = self._raw
        self._since = now

    def _down(self) -> bool:
        return self.pin.value() == self.active

    def pressed(self, now: int, clock: "Clock") -> bool:
        """True once per press, when the key has been down for the debounce time."""
        raw = self._down()
        if raw != self._raw:
            self._raw = raw
            self._since = now
            return False
        if raw != self._stable and clock.ticks_diff(now, self._since) >= self.debounce_ms:
            self._stable = raw
            return raw
        return False


class CallPad:
    """A clerk's call pad on the hall's broker: keys out, feedback in, presence as $state."""

    def __init__(
        self,
        hall_id: str,
        device_id: str,
        client: "MqttClient",
        clock: "Clock",
        keys: "dict[str, InputPin]",
        display: "Display | None" = None,
        lamp: "OutputPin | None" = None,
        beeper: "OutputPin | None" = None,
        *,
        model: str = MODEL,
        active_low: bool = True,
        debounce_ms: int = 30,
        keepalive_s: int = 30,
        retry_min_ms: int = 1000,
        retry_max_ms: int = 30000,
        before_connect: "Callable[[], bool] | None" = None,
    ) -> None:
        for name in keys:
            if name not in KEYS:
                raise ValueError("unknown key " + repr(name) + "; keys are " + ", ".join(KEYS))
        self.client = client
        self.clock = clock
        self.display = display
        self.lamp = lamp
        self.beeper = beeper
        self.keepalive_s = keepalive_s
        self.retry_min_ms = retry_min_ms
        self.retry_max_ms = retry_max_ms
        self.before_connect = before_connect
        now = clock.ticks_ms()
        active = 0 if active_low else 1
        self.keys = [Key(name, pin, active, debounce_ms, now) for name, pin in keys.items()]

        self.state_topic = topic(hall_id, device_id, TOPIC_STATE).encode()
        self.meta_topic = topic(hall_id, device_id, TOPIC_META).encode()
        self.key_topic = topic(hall_id, device_id, TOPIC_EVENT, EVENT_KEY).encode()
        self.cmd_filter = topic(hall_id, device_id, TOPIC_CMD, "+").encode()
        self.cmd_prefix = topic(hall_id, device_id, TOPIC_CMD, "").encode()
        self.snapshot_topic = topic(hall_id, device_id, TOPIC_SNAPSHOT).encode()
        meta = {"kind": KIND, "model": model, "firmware": FIRMWARE}
        self.meta = json.dumps(meta).encode()

        self.connected = False
        self.connects = 0
        self.keys_sent = 0
        self.keys_refused = 0  # pressed while the broker was away
        self.handled = 0  # commands and snapshots followed
        self.rejected = 0  # messages that do not match the message set
        self.beeps = 0
        self.snapshot = None  # type: dict[str, object] | None
        self.text = ""
        self.status = TEXT_CONNECTING
        self.lamp_on = False
        self._retry_ms = retry_min_ms
        self._retry_at = now
        self._ping_at = now
        self._fresh = False  # the next snapshot is the retained one sent on subscribing
        self._beeps_left = 0
        self._beep_on = False
        self._beep_at = now

        client.set_callback(self._on_message)
        client.set_last_will(self.state_topic, LOST.encode(), retain=True, qos=QOS_STATE)
        self._light(False)
        self._draw()

    # --- the loop -----------------------------------------------------------------------

    def step(self) -> None:
        """One pass: keys, the broker (or a due reconnect), the beeper. Never raises for I/O."""
        now = self.clock.ticks_ms()
        for key in self.keys:
            if key.pressed(now, self.clock):
                self._key(key.name)
        if self.connected:
            self._service(now)
        elif self.clock.ticks_diff(now, self._retry_at) >= 0:
            self.connect()
        self._beep(self.clock.ticks_ms())

    def run_forever(self, poll_ms: int = 10, feed: "Callable[[], None] | None" = None) -> None:
        """Step every `poll_ms`; `feed` (a hardware watchdog's) is called after each step."""
        while True:
            self.step()
            if feed is not None:
                feed()
            self.clock.sleep_ms(poll_ms)

    # --- the broker ---------------------------------------------------------------------

    def connect(self) -> bool:
        """Connect, announce `ready`, subscribe; False and a later retry if that fails."""
        if self.before_connect is not None and not self.before_connect():
            self._retry_later()
            return False
        self._fresh = True
        try:
            self.client.connect(clean_session=True)
            self.status = ""  # the retained snapshot, if any, fills it in while subscribing
            self.client.publish(self.meta_topic, self.meta, retain=True, qos=QOS_STATE)
            self.client.publish(self.state_topic, READY.encode(), retain=True, qos=QOS_STATE)
            self.client.subscribe(self.cmd_filter, QOS_CMD)
            self.client.subscribe(self.snapshot_topic, QOS_CMD)
        except Exception:  # umqtt raises OSError, MQTTException and AssertionError
            self._lost()
            return False
        now = self.clock.ticks_ms()
        self.connected = True
        self.connects += 1
        self._retry_ms = self.retry_min_ms
        self._ping_at = self.clock.ticks_add(now, self.keepalive_s * 500)
        self._draw()
        return True

    def stop(self) -> None:
        """Say `lost` and disconnect (the broker keeps the retained `lost`)."""
        if not self.connected:
            return
        self.connected = False
        try:
            self.client.publish(self.state_topic, LOST.encode(), retain=True, qos=QOS_STATE)
            self.client.disconnect()
        except Exception:
            self._drop_socket()

    def _service(self, now: int) -> None:
        try:
            for _ in range(MESSAGES_PER_STEP):
                if self.client.check_msg() is None:
                    break
            if self.connected and self.clock.ticks_diff(now, self._ping_at) >= 0:
                self.client.ping()
                self._ping_at = self.clock.ticks_add(now, self.keepalive_s * 500)
        except Exception:
            self._lost()

    def _lost(self) -> None:
        self.connected = False
        self._drop_socket()
        self.status = TEXT_OFFLINE
        self._draw()
        self._retry_later()

    def _drop_socket(self) -> None:
        sock = getattr(self.client, "sock", None)
        if sock is not None:
            try:  # noqa: SIM105 (MicroPython has no contextlib)
                sock.close()
            except Exception:
                pass

    def _retry_later(self) -> None:
        """The next attempt after the current delay, which doubles up to the cap."""
        self._retry_at = self.clock.ticks_add(self.clock.ticks_ms(), self._retry_ms)
        self._retry_ms = min(self._retry_ms * 2, self.retry_max_ms)

    # --- keys ---------------------------------------------------------------------------

    def _key(self, name: str) -> None:
        if self.connected:
            payload = json.dumps({"key": name}).encode()
            try:
                self.client.publish(self.key_topic, payload, qos=QOS_EVENT)
            except Exception:
                self._lost()
            else:
                self.keys_sent += 1
                return
        # The hall never heard it: say so rather than send a stale call later.
        self.keys_refused += 1
        self.text = TEXT_OFFLINE
        self._draw()
        self._start_beeps(OFFLINE_BEEPS)

    # --- messages from the broker ---------------------------------------------------------

    def _on_message(self, topic: bytes, msg: bytes) -> None:
        topic = bytes(topic)
        try:
            data = json.loads(bytes(msg).decode())
        except ValueError:  # bad UTF-8 or bad JSON
            self.rejected += 1
            return
        if topic == self.snapshot_topic:
            ok = self._on_snapshot(data)
        elif topic.startswith(self.cmd_prefix):
            name = topic[len(self.cmd_prefix) :].decode()
            ok = valid_command(name, data) and self._on_command(name, data)
        else:
            ok = False
        if ok:
            self.handled += 1
        else:
            self.rejected += 1

    def _on_command(self, name: str, data: "dict[str, object]") -> bool:
        if name == CMD_FEEDBACK:
            text, led, beep = data.get("text"), data.get("led"), data.get("beep")
            if isinstance(text, str):
                self.text = text
            if isinstance(led, bool):
                self._light(led)
            if isinstance(beep, int):
                self._start_beeps(beep)
        elif name == CMD_SHOW:
            ticket = _text(data, "ticket")
            self.text = _text(data, "text") or ticket
            self._light(bool(ticket))
            if data.get("blink") is True:
                self._start_beeps(1)
        elif name == CMD_CLEAR:
            self.text = ""
            self._light(False)
        elif name == CMD_ASK_RATING:
            self.text = TEXT_RATING + _text(data, "ticket")
        elif name == CMD_RATING_DONE:
            self.text = TEXT_RATED
        else:
            return False
        self._draw()
        return True

    def _on_snapshot(self, data: object) -> bool:
        """Kept always; shown when it is the retained one that follows a (re)connect."""
        if not isinstance(data, dict) or not isinstance(data.get("window"), str):
            return False
        showing = data.get("showing")
        if showing is not None and not isinstance(showing, dict):
            return False
        self.snapshot = data
        if not self._fresh:
            return True
        self._fresh = False
        ticket = "" if showing is None else _text(showing, "ticket")
        self.text = ticket or ("" if showing is None else _text(showing, "text"))
        self._light(bool(ticket))
        self.status = (_text(data, "window") + " " + _text(data, "status")).strip()
        self._draw()
        return True

    # --- display, lamp, beeper ----------------------------------------------------------------

    def _draw(self) -> None:
        if self.display is not None:
            self.display.show(self.text, self.status)

    def _light(self, on: bool) -> None:
        self.lamp_on = on
        if self.lamp is not None:
            if on:
                self.lamp.on()
            else:
                self.lamp.off()

    def _start_beeps(self, times: int) -> None:
        self._beeps_left = times if self.beeper is not None else 0

    def _beep(self, now: int) -> None:
        beeper = self.beeper
        if beeper is None or (self._beeps_left == 0 and not self._beep_on):
            return
        if self.clock.ticks_diff(now, self._beep_at) < 0:
            return
        if self._beep_on:
            beeper.off()
            self._beep_on = False
            self._beep_at = self.clock.ticks_add(now, BEEP_OFF_MS)
        else:
            beeper.on()
            self.beeps += 1
            self._beep_on = True
            self._beeps_left -= 1
            self._beep_at = self.clock.ticks_add(now, BEEP_ON_MS)
