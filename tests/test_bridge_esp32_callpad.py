"""The ESP32 call pad firmware on CPython: its logic over fake pins, clock and umqtt client."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes_micropython import FakeBroker, FakeClock, FakeDisplay, FakeMQTTClient, FakePin
from fakes_micropython.firmware import CLOCK, PINS, Oled, callpad, main, messages

from hall_controller.protocols import mqtt_tree
from hall_controller.protocols.message_set import MESSAGE_SET

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "firmware_bridges" / "esp32_callpad" / "config.example.json"
HALL, PAD = "h1", "w5-pad"
BASE = f"hall/{HALL}/device/{PAD}"
STATE, META, KEY = f"{BASE}/$state", f"{BASE}/$meta", f"{BASE}/event/key"
SNAPSHOT = f"{BASE}/snapshot"
POLL_MS = 5

# One valid payload per command of the message set, as the controller would send it.
COMMAND_SAMPLES: dict[str, dict[str, object]] = {
    "show": {"ticket": "A012", "window": "5", "text": "A012", "blink": True},
    "clear": {},
    "ask_rating": {"ticket": "A012"},
    "rating_done": {"ticket": "A012"},
    "feedback": {"text": "A013", "led": True, "beep": 1},
}


class Rig:
    """A pad with its keys, lamp, beeper and display on a fake broker and clock."""

    def __init__(self, clock: FakeClock, broker: FakeBroker) -> None:
        self.clock = clock
        self.broker = broker
        broker.clock = clock
        self.keys = {name: FakePin(i, FakePin.IN, FakePin.PULL_UP) for i, name in enumerate(KEYS)}
        self.lamp = FakePin(20, FakePin.OUT)
        self.beeper = FakePin(21, FakePin.OUT)
        self.display = FakeDisplay()
        self.client = FakeMQTTClient(PAD, "broker", keepalive=30, broker=broker)
        self.pad = callpad.CallPad(
            HALL,
            PAD,
            self.client,
            clock,
            dict(self.keys),
            self.display,
            self.lamp,
            self.beeper,
        )

    def run(self, ms: int) -> None:
        """Let `ms` pass, stepping every POLL_MS as the firmware's loop does."""
        for _ in range(ms // POLL_MS):
            self.pad.step()
            self.clock.sleep_ms(POLL_MS)

    def press(self, key: str, hold_ms: int = 80) -> None:
        """A clean press and release."""
        self.keys[key].level = 0
        self.run(hold_ms)
        self.keys[key].level = 1
        self.run(60)

    def command(self, name: str, data: dict[str, object]) -> None:
        """The controller sends a command; the pad takes it on its next steps."""
        self.broker.controller_publishes(f"{BASE}/cmd/{name}", mqtt_tree.encode_cmd(name, data))
        self.run(20)

    def keys_sent(self) -> list[bytes]:
        return self.broker.payloads(KEY)


KEYS = ("call", "recall", "no_show", "pause", "transfer", "finish")


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def rig(broker: FakeBroker) -> Rig:
    # Start close to the tick wrap: every interval must survive it.
    rig = Rig(FakeClock(start_ms=(1 << 30) - 2_000), broker)
    rig.run(50)
    return rig


def snapshot(ticket: str | None, *, status: str = "serving") -> bytes:
    showing = None if ticket is None else {"ticket": ticket, "window": "5", "text": f"请{ticket}号"}
    body = {"window": "5", "showing": showing, "status": status, "rating": "idle"}
    return mqtt_tree.encode_snapshot(body)


# --- the message set ------------------------------------------------------------------------


def test_messages_py_uses_only_names_of_the_message_set() -> None:
    topics = MESSAGE_SET["topics"]
    assert isinstance(topics, dict)
    patterns = {rule["topic"] for rule in topics.values() if isinstance(rule, dict)}
    commands, events = MESSAGE_SET["commands"], MESSAGE_SET["events"]
    assert isinstance(commands, dict)
    assert isinstance(events, dict)
    assert isinstance(MESSAGE_SET["keys"], list)
    assert isinstance(MESSAGE_SET["states"], list)

    assert MESSAGE_SET["version"] == messages.VERSION
    assert MESSAGE_SET["root"] == messages.ROOT
    assert set(messages.TOPICS) <= patterns
    assert {messages.TOPIC_STATE, messages.TOPIC_EVENT, messages.TOPIC_CMD} <= set(messages.TOPICS)
    assert set(messages.KEYS) <= set(MESSAGE_SET["keys"])
    assert set(messages.STATES) <= set(MESSAGE_SET["states"])
    assert messages.LOST in MESSAGE_SET["states"]
    assert messages.EVENT_KEY in events
    assert set(messages.COMMANDS) <= set(commands)
    feedback = commands["feedback"]
    assert isinstance(feedback, dict)
    assert feedback["beep"] == {"type": "integer", "required": False, "minimum": 0, "maximum": 9}
    assert messages.BEEP_MAX == callpad.BEEP_MAX == 9
    assert messages.topic(HALL, PAD, messages.TOPIC_CMD, "show") == f"{BASE}/cmd/show"


def test_every_command_of_the_message_set_is_known_to_the_firmware() -> None:
    commands = MESSAGE_SET["commands"]
    assert isinstance(commands, dict)
    assert set(COMMAND_SAMPLES) == set(commands) == set(messages.COMMANDS)
    for name, fields in commands.items():
        assert isinstance(fields, dict)
        known = {field[0] for field in callpad.COMMAND_FIELDS[name]}
        assert known == set(fields), name


def test_every_command_the_controller_sends_is_followed(rig: Rig) -> None:
    for name, data in COMMAND_SAMPLES.items():
        before = rig.pad.handled
        rig.command(name, data)
        assert rig.pad.handled == before + 1, name
    rig.broker.controller_publishes(SNAPSHOT, snapshot("A014"), retain=True)
    rig.run(20)
    assert rig.pad.handled == len(COMMAND_SAMPLES) + 1
    assert rig.pad.rejected == 0


def test_what_each_command_does_on_the_pad(rig: Rig) -> None:
    rig.command("show", {"ticket": "A012", "window": "5", "blink": True})
    assert (rig.display.top, rig.pad.lamp_on, rig.lamp.level) == ("A012", True, 1)
    rig.command("clear", {})
    assert (rig.display.top, rig.lamp.level) == ("", 0)
    rig.command("ask_rating", {"ticket": "A012"})
    assert rig.display.top == "rating A012"
    rig.command("rating_done", {"ticket": "A012"})
    assert rig.display.top == "rated"
    rig.command("feedback", {"led": True})
    assert (rig.display.top, rig.lamp.level) == ("rated", 1)  # absent fields leave things be
    rig.command("feedback", {"text": "无人等候"})
    assert (rig.display.top, rig.lamp.level) == ("无人等候", 1)


def test_feedback_beeps_as_often_as_asked(rig: Rig) -> None:
    rig.command("feedback", {"text": "A013", "led": False, "beep": 3})
    rig.run(1_000)
    assert rig.pad.beeps == rig.beeper.switches == 3
    assert rig.beeper.level == 0
    assert (rig.display.top, rig.lamp.level) == ("A013", 0)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("feedback", b'{"beep": 12}'),
        ("feedback", b'{"led": "on"}'),
        ("feedback", b'{"text": "A012", "colour": "red"}'),
        ("show", b'{"ticket": "A012"}'),
        ("show", b"not json"),
        ("show", b"\xff\xfe"),
        ("reboot", b"{}"),
    ],
)
def test_commands_outside_the_message_set_change_nothing(
    rig: Rig, name: str, payload: bytes
) -> None:
    rig.command("feedback", {"text": "A013", "led": True})
    rig.broker.controller_publishes(f"{BASE}/cmd/{name}", payload)
    rig.run(1_000)
    assert rig.pad.rejected == 1
    assert (rig.display.top, rig.lamp.level, rig.pad.beeps) == ("A013", 1, 0)


# --- presence and keys -------------------------------------------------------------------------


def test_the_pad_announces_itself_ready_with_lost_as_its_will(rig: Rig) -> None:
    assert rig.client.will is not None
    assert (rig.client.will.topic, rig.client.will.payload) == (STATE, b"lost")
    assert (rig.client.will.qos, rig.client.will.retain) == (1, True)
    assert rig.broker.retained[STATE] == b"ready"
    assert set(rig.client.filters) == {f"{BASE}/cmd/+", SNAPSHOT}

    assert rig.client.sock is not None
    rig.client.sock.close()  # the pad's Wi-Fi drops: no DISCONNECT
    assert rig.broker.retained[STATE] == b"lost"


def test_everything_the_pad_publishes_matches_the_message_set(rig: Rig) -> None:
    for key in KEYS:
        rig.press(key)
    published = [m for m in rig.broker.published if m.client_id == PAD]
    assert {m.topic for m in published} == {STATE, META, KEY}
    meta_rules = MESSAGE_SET["meta"]
    assert isinstance(meta_rules, dict)
    for message in published:
        part = message.topic.rsplit("/", 2)
        if message.topic == KEY:
            event = mqtt_tree.decode_event(part[-1], message.payload)
            assert event is not None, message
            assert message.qos == 1
            assert not message.retain
        elif message.topic == STATE:
            assert mqtt_tree.decode_state(message.payload) == "ready"
            assert (message.qos, message.retain) == (1, True)
        else:
            meta = json.loads(message.payload)
            assert set(meta) <= set(meta_rules)
            assert meta["kind"] == "call_pad"
            assert all(isinstance(value, str) and len(value) <= 64 for value in meta.values())
            assert message.retain
    keys = [mqtt_tree.decode_event("key", p) for p in rig.keys_sent()]
    assert [k.data["key"] for k in keys if k is not None] == list(KEYS)


def test_a_bouncing_key_is_one_press_and_a_held_key_is_not_repeated(rig: Rig) -> None:
    key = rig.keys["call"]
    for level, ms in ((0, 10), (1, 5), (0, 5), (1, 10), (0, 2_000)):  # contact bounce, then held
        key.level = level
        rig.run(ms)
    assert len(rig.keys_sent()) == 1
    key.level = 1
    rig.run(15)  # released shorter than the debounce time: still the same press
    key.level = 0
    rig.run(100)
    assert len(rig.keys_sent()) == 1
    rig.press("call")
    assert len(rig.keys_sent()) == 1
    key.level = 1
    rig.run(100)
    rig.press("call")
    assert len(rig.keys_sent()) == 2


def test_a_glitch_shorter_than_the_debounce_time_is_no_press(rig: Rig) -> None:
    rig.keys["recall"].level = 0
    rig.run(20)
    rig.keys["recall"].level = 1
    rig.run(200)
    assert rig.keys_sent() == []


def test_a_key_held_at_boot_is_not_a_press(broker: FakeBroker) -> None:
    clock = FakeClock()
    held = FakePin(1, FakePin.IN, FakePin.PULL_UP)
    held.level = 0
    client = FakeMQTTClient(PAD, "broker", broker=broker)
    pad = callpad.CallPad(HALL, PAD, client, clock, {"call": held})
    for _ in range(100):
        pad.step()
        clock.sleep_ms(POLL_MS)
    assert broker.payloads(KEY) == []


def test_unknown_key_names_are_refused_at_boot(broker: FakeBroker) -> None:
    client = FakeMQTTClient(PAD, "broker", broker=broker)
    with pytest.raises(ValueError, match="unknown key 'next'"):
        callpad.CallPad(HALL, PAD, client, FakeClock(), {"next": FakePin(1)})


def test_the_pad_pings_the_broker_within_its_keepalive(rig: Rig) -> None:
    rig.run(31_000)
    assert rig.client.pings >= 2


# --- the broker going away ------------------------------------------------------------------


def test_without_a_broker_the_pad_keeps_running_refuses_keys_and_retries_capped(
    rig: Rig,
) -> None:
    start = len(rig.broker.connect_attempts)
    rig.broker.vanish()
    rig.run(POLL_MS)
    lost_at = rig.clock.ticks_ms()
    assert not rig.pad.connected
    assert rig.display.bottom == "offline"

    rig.press("call")
    rig.run(1_000)
    assert rig.keys_sent() == []
    assert rig.pad.keys_refused == 1
    assert (rig.display.top, rig.pad.beeps) == ("offline", 3)

    rig.run(130_000)
    attempts = [lost_at, *rig.broker.connect_attempts[start:]]
    gaps = [rig.clock.ticks_diff(b, a) for a, b in itertools.pairwise(attempts)]
    assert [round(gap / 1000) for gap in gaps[:8]] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_after_the_broker_returns_the_pad_is_ready_and_shows_the_snapshot(rig: Rig) -> None:
    rig.command("feedback", {"text": "A011", "led": False})
    rig.broker.vanish()
    rig.run(20)
    rig.broker.come_back()
    rig.broker.controller_publishes(SNAPSHOT, snapshot("A012"), retain=True)
    rig.run(2_100)

    assert rig.pad.connected
    assert rig.pad.connects == 2
    assert rig.broker.retained[STATE] == b"ready"
    assert (rig.display.top, rig.display.bottom, rig.lamp.level) == ("A012", "5 serving", 1)

    rig.press("call")
    assert len(rig.keys_sent()) == 1

    rig.command("feedback", {"text": "A013"})
    rig.broker.controller_publishes(SNAPSHOT, snapshot("A013"), retain=True)
    rig.run(20)
    assert rig.display.top == "A013"  # a live snapshot is kept, feedback stays on the display
    assert rig.pad.snapshot is not None
    assert rig.pad.snapshot["showing"] == {"ticket": "A013", "window": "5", "text": "请A013号"}


def test_a_paused_window_shows_its_text_and_no_lamp(broker: FakeBroker) -> None:
    broker.retained[SNAPSHOT] = mqtt_tree.encode_snapshot(
        {
            "window": "5",
            "showing": {"ticket": "", "window": "5", "text": "暂停服务", "blink": False},
            "status": "paused",
            "rating": "idle",
        }
    )
    rig = Rig(FakeClock(), broker)
    rig.run(20)
    assert (rig.display.top, rig.display.bottom, rig.lamp.level) == ("暂停服务", "5 paused", 0)


def test_a_publish_that_fails_is_a_lost_connection_not_a_crash(rig: Rig) -> None:
    rig.client.fail_next_publish = True
    rig.press("call")
    assert (rig.pad.connected, rig.pad.keys_refused) == (False, 1)
    assert rig.broker.retained[STATE] == b"lost"  # the broker saw the connection drop
    rig.run(1_100)
    assert rig.pad.connected
    assert rig.broker.retained[STATE] == b"ready"


# --- the boot file ---------------------------------------------------------------------------


@pytest.fixture
def example_board(broker: FakeBroker) -> Iterator[FakeBroker]:
    """The fake `machine` and `umqtt.simple` modules with this test's broker behind them."""
    previous = FakeMQTTClient.default_broker
    FakeMQTTClient.default_broker = broker
    PINS.clear()
    try:
        yield broker
    finally:
        FakeMQTTClient.default_broker = previous


def test_main_wires_the_example_config_into_a_working_pad(example_board: FakeBroker) -> None:
    config = main.load_config(str(EXAMPLE_CONFIG))
    pad = main.build(config)
    hall, device = config["hall_id"], config["device_id"]
    base = f"hall/{hall}/device/{device}"
    for _ in range(10):
        pad.step()
        CLOCK.sleep_ms(POLL_MS)
    assert example_board.retained[f"{base}/$state"] == b"ready"
    assert [k.name for k in pad.keys] == list(config["keys"])
    assert set(config["keys"]) <= set(messages.KEYS)

    call = PINS[config["keys"]["call"]]
    call.level = 0
    for _ in range(20):
        pad.step()
        CLOCK.sleep_ms(POLL_MS)
    assert example_board.payloads(f"{base}/event/key") == [b'{"key": "call"}']

    example_board.controller_publishes(
        f"{base}/cmd/feedback", mqtt_tree.encode_cmd("feedback", {"text": "请A012号", "led": True})
    )
    pad.step()
    assert PINS[config["lamp_pin"]].level == 1
    assert Oled.last is not None
    assert Oled.last.shown[0] == "?A012?"  # the OLED's font is ASCII only
