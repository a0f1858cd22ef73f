"""The MQTT topic tree and message set: topic names, payload checks, and the bridges' copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols.callpad import KEY_ACTIONS
from hall_controller.protocols.message_set import (
    COMMANDS,
    EVENTS,
    MESSAGE_SET,
    SNAPSHOT,
    FieldRule,
    Fields,
    message_set_json,
)
from hall_controller.protocols.mqtt_tree import (
    DeviceCommand,
    DeviceEvent,
    DeviceTopic,
    Topics,
    decode_cmd,
    decode_event,
    decode_snapshot,
    decode_state,
    encode_cmd,
    encode_event,
    encode_snapshot,
    encode_state,
    parse_topic,
)

HALL = "gz-tianhe-demo"
TOPICS = Topics(HALL)
BRIDGES_COPY = Path(__file__).resolve().parent.parent / "firmware_bridges" / "message_set.json"


# --- topics --------------------------------------------------------------------------------


def test_topic_names() -> None:
    root = "hall/gz-tianhe-demo"
    assert TOPICS.controller_state() == f"{root}/controller/$state"
    assert TOPICS.device_state("pad-3") == f"{root}/device/pad-3/$state"
    assert TOPICS.device_meta("pad-3") == f"{root}/device/pad-3/$meta"
    assert TOPICS.device_status("printer-1", "paper") == f"{root}/device/printer-1/status/paper"
    assert TOPICS.device_event("pad-3", "key") == f"{root}/device/pad-3/event/key"
    assert TOPICS.device_cmd("board-3", "show") == f"{root}/device/board-3/cmd/show"
    assert TOPICS.device_snapshot("board-3") == f"{root}/device/board-3/snapshot"
    assert TOPICS.events() == f"{root}/events"
    assert TOPICS.device_events_filter() == f"{root}/device/+/event/#"
    assert TOPICS.device_states_filter() == f"{root}/device/+/$state"
    assert TOPICS.device_cmd_filter("board-3") == f"{root}/device/board-3/cmd/+"


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "-lead", "x" * 65, "空", "a b"])
def test_ids_that_cannot_be_one_topic_level_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid topic level"):
        Topics(bad)
    with pytest.raises(ValueError, match="not a valid topic level"):
        TOPICS.device_state(bad)


@pytest.mark.parametrize("bad", ["", "Key", "+", "a/b", "#"])
def test_names_that_cannot_be_topic_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid topic name"):
        TOPICS.device_event("pad-3", bad)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("hall/gz-tianhe-demo/device/pad-3/event/key", DeviceTopic("pad-3", "event", "key")),
        ("hall/gz-tianhe-demo/device/pad-3/$state", DeviceTopic("pad-3", "$state", None)),
        ("hall/gz-tianhe-demo/device/pad-3/$meta", DeviceTopic("pad-3", "$meta", None)),
        ("hall/gz-tianhe-demo/device/p/status/paper", DeviceTopic("p", "status", "paper")),
        ("hall/gz-tianhe-demo/device/b/cmd/show", DeviceTopic("b", "cmd", "show")),
        ("hall/gz-tianhe-demo/device/b/snapshot", DeviceTopic("b", "snapshot", None)),
        ("hall/other-hall/device/pad-3/event/key", None),
        ("hall/gz-tianhe-demo/controller/$state", None),
        ("hall/gz-tianhe-demo/events", None),
        ("hall/gz-tianhe-demo/device/pad-3/event", None),
        ("hall/gz-tianhe-demo/device/pad-3/event/key/extra", None),
        ("hall/gz-tianhe-demo/device/pad-3/$state/x", None),
        ("hall/gz-tianhe-demo/device/pad-3/snapshot/x", None),
        ("hall/gz-tianhe-demo/device/+/event/key", None),
        ("hall/gz-tianhe-demo/device/pad-3/event/#", None),
        ("hall/gz-tianhe-demo/device/pad-3/gossip/key", None),
        ("hall/gz-tianhe-demo/device//event/key", None),
        ("", None),
    ],
)
def test_parse_topic(topic: str, parsed: DeviceTopic | None) -> None:
    assert parse_topic(HALL, topic) == parsed


@given(st.text(max_size=80))
def test_parse_topic_never_raises_on_any_text(topic: str) -> None:
    parse_topic(HALL, topic)
    parse_topic(HALL, f"hall/{HALL}/device/{topic}")


@given(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True),
    st.sampled_from(["status", "event", "cmd"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
)
def test_every_named_topic_parses_back(device_id: str, part: str, name: str) -> None:
    build = {
        "status": TOPICS.device_status,
        "event": TOPICS.device_event,
        "cmd": TOPICS.device_cmd,
    }[part]
    assert parse_topic(HALL, build(device_id, name)) == DeviceTopic(device_id, part, name)


# --- events from devices -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "payload", "data"),
    [
        ("key", b'{"key":"call"}', {"key": "call"}),
        ("key", b'{ "key" : "no_show" }', {"key": "no_show"}),
        ("rating", b'{"score":4}', {"score": 4}),
        ("rating", b'{"score":1}', {"score": 1}),
        ("code", '{"code":"预约 20240501-0012"}'.encode(), {"code": "预约 20240501-0012"}),
    ],
)
def test_valid_events(name: str, payload: bytes, data: dict[str, object]) -> None:
    assert decode_event(name, payload) == DeviceEvent(name, data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("key", b'{"key":"dance"}'),  # unknown key name
        ("key", b'{"key":"CALL"}'),
        ("key", b"{}"),  # missing field
        ("key", b'{"key":"call","extra":1}'),  # unknown field
        ("key", b'{"key":"call","key":"recall"}'),  # duplicate field
        ("key", b'["call"]'),  # JSON, not an object
        ("key", b'"call"'),
        ("key", b"null"),
        ("key", b"call"),  # not JSON
        ("key", b""),
        ("key", b'{"key":"call"'),
        ("key", b'\xef\xbb\xbf{"key":"call"}'),  # UTF-8 byte order mark
        ("key", '{"key":"call"}'.encode("utf-16")),  # not UTF-8
        ("key", b'{"key":"\\ud800"}'),  # lone surrogate
        ("key", b'{"key":null}'),
        ("rating", b'{"score":7}'),  # out of range
        ("rating", b'{"score":0}'),
        ("rating", b'{"score":"4"}'),  # wrong type
        ("rating", b'{"score":4.0}'),
        ("rating", b'{"score":true}'),
        ("rating", b'{"score":NaN}'),
        ("rating", b'{"score":1e999}'),
        ("rating", b'{"score":' + b"9" * 5000 + b"}"),  # too long a number
        ("code", b'{"code":""}'),
        ("code", b'{"code":"' + b"x" * 513 + b'"}'),
        ("code", b'{"code":' + b"[" * 3000 + b"]" * 3000 + b"}"),  # deep nesting
        ("code", b'{"code":"' + b"x" * 5000 + b'"}'),  # over the size limit
        ("gossip", b'{"text":"hi"}'),  # unknown event
        ("snapshot", b"{}"),
    ],
)
def test_invalid_events_are_none(name: str, payload: bytes) -> None:
    assert decode_event(name, payload) is None


def test_event_encoding_for_device_peers() -> None:
    assert encode_event("rating", {"score": 5}) == b'{"score":5}'
    assert encode_event("key", {"key": "call"}) == b'{"key":"call"}'
    with pytest.raises(ValueError, match="unknown event 'gossip'"):
        encode_event("gossip", {})
    with pytest.raises(ValueError, match="score: 6 is above 5"):
        encode_event("rating", {"score": 6})


@given(st.sampled_from([*sorted(EVENTS), "gossip", ""]), st.binary(max_size=200))
def test_decode_event_never_raises_on_any_bytes(name: str, payload: bytes) -> None:
    event = decode_event(name, payload)
    assert event is None or event.name == name


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(sorted(EVENTS)),
    st.dictionaries(st.sampled_from(["key", "score", "code", "x"]), JSON_VALUES, max_size=3),
)
def test_decode_event_accepts_exactly_what_the_rules_allow(
    name: str, data: dict[str, object]
) -> None:
    payload = json.dumps(data).encode()
    event = decode_event(name, payload)
    if event is not None:
        assert set(event.data) == set(EVENTS[name])
        assert encode_event(name, event.data) == encode_event(name, data)


# --- commands to devices -------------------------------------------------------------------


def test_command_encoding_is_compact_utf8_json_with_sorted_fields() -> None:
    payload = encode_cmd(
        "show", {"window": "3", "ticket": "A012", "text": "请到3号窗口", "blink": True}
    )
    assert payload == '{"blink":true,"text":"请到3号窗口","ticket":"A012","window":"3"}'.encode()
    assert encode_cmd("clear", {}) == b"{}"
    assert encode_cmd("ask_rating", {"ticket": "A012"}) == b'{"ticket":"A012"}'
    assert encode_cmd("rating_done", {"ticket": "A012"}) == b'{"ticket":"A012"}'
    assert encode_cmd("feedback", {"beep": 2}) == b'{"beep":2}'


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("dance", {}, "unknown command 'dance'"),
        ("show", {"window": "3"}, "ticket is missing"),
        ("show", {"ticket": 12, "window": "3"}, "ticket: not a string"),
        ("show", {"ticket": "A012", "window": "3", "colour": "red"}, "unknown field 'colour'"),
        ("show", {"ticket": "A012", "window": "3", "blink": 1}, "blink: not a boolean"),
        ("show", {"ticket": "A012", "window": ""}, "window: shorter than 1"),
        ("show", {"ticket": "A012", "window": "3", "text": "x" * 65}, "text: longer than 64"),
        ("show", {"ticket": "A\ud800", "window": "3"}, "ticket: not valid Unicode"),
        ("feedback", {"beep": 10}, "beep: 10 is above 9"),
        ("feedback", {"beep": True}, "beep: not an integer"),
        ("feedback", {"led": None}, "led: is null"),
        ("clear", {"now": True}, "unknown field 'now'"),
    ],
)
def test_bad_commands_are_value_errors(name: str, data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_cmd(name, data)


def test_a_device_reads_commands_with_defaults_filled_in() -> None:
    payload = encode_cmd("show", {"ticket": "A012", "window": "3"})
    assert decode_cmd("show", payload) == DeviceCommand(
        "show", {"ticket": "A012", "window": "3", "text": "", "blink": False}
    )
    assert decode_cmd("feedback", b"{}") == DeviceCommand("feedback", {})
    assert decode_cmd("show", b'{"ticket":"A012"}') is None
    assert decode_cmd("dance", b"{}") is None


def _values(rule: FieldRule) -> st.SearchStrategy[object]:
    if rule.enum:
        base: st.SearchStrategy[object] = st.sampled_from(rule.enum)
    elif rule.type == "string":
        base = st.text(min_size=rule.min_length or 0, max_size=rule.max_length or 20)
    elif rule.type == "integer":
        base = st.integers(rule.minimum, rule.maximum)
    elif rule.type == "boolean":
        base = st.booleans()
    else:
        assert rule.shape is not None
        base = _payloads(COMMANDS[rule.shape])
    return st.none() | base if rule.nullable else base


def _payloads(fields: Fields) -> st.SearchStrategy[object]:
    return st.fixed_dictionaries(
        {n: _values(r) for n, r in fields.items() if r.required},
        optional={n: _values(r) for n, r in fields.items() if not r.required},
    )


@given(st.data())
def test_every_valid_command_round_trips(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(COMMANDS)))
    command = data.draw(_payloads(COMMANDS[name]))
    assert isinstance(command, dict)
    decoded = decode_cmd(name, encode_cmd(name, command))
    assert decoded is not None
    assert {k: v for k, v in decoded.data.items() if k in command} == command


@given(st.data())
def test_every_valid_event_round_trips(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(EVENTS)))
    event = data.draw(_payloads(EVENTS[name]))
    assert isinstance(event, dict)
    assert decode_event(name, encode_event(name, event)) == DeviceEvent(name, event)


@given(st.sampled_from(sorted(COMMANDS)), st.binary(max_size=200))
def test_decode_cmd_never_raises_on_any_bytes(name: str, payload: bytes) -> None:
    decode_cmd(name, payload)


# --- snapshots and states ------------------------------------------------------------------


def test_snapshot_round_trip() -> None:
    showing = {"ticket": "A012", "window": "3", "text": "请到3号窗口", "blink": True}
    snapshot = {"window": "3", "showing": showing, "status": "calling", "rating": "idle"}
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot
    blank = {"window": "3", "showing": None, "status": "paused", "rating": "asking"}
    assert (
        encode_snapshot(blank)
        == b'{"rating":"asking","showing":null,"status":"paused","window":"3"}'
    )
    assert decode_snapshot(encode_snapshot(blank)) == blank
    sparse = {
        "window": "3",
        "showing": {"ticket": "A012", "window": "3"},
        "status": "calling",
        "rating": "idle",
    }
    decoded = decode_snapshot(encode_snapshot(sparse))
    assert decoded is not None
    assert decoded["showing"] == {"ticket": "A012", "window": "3", "text": "", "blink": False}


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({"window": "3", "showing": None, "status": "open"}, "rating is missing"),
        ({"window": "3", "showing": None, "status": "open", "rating": "maybe"}, "rating: 'maybe'"),
        (
            {"window": "3", "showing": {"ticket": "A1"}, "status": "open", "rating": "idle"},
            "showing: window is missing",
        ),
        (
            {"window": "3", "showing": "A012", "status": "open", "rating": "idle"},
            "showing: not a JSON object",
        ),
    ],
)
def test_bad_snapshots_are_value_errors(snapshot: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_snapshot(snapshot)


@given(st.binary(max_size=200))
def test_decode_snapshot_never_raises_on_any_bytes(payload: bytes) -> None:
    decode_snapshot(payload)


@given(st.data())
def test_every_valid_snapshot_round_trips(data: st.DataObject) -> None:
    snapshot = data.draw(_payloads(SNAPSHOT))
    assert isinstance(snapshot, dict)
    assert decode_snapshot(encode_snapshot(snapshot)) is not None


def test_states_are_plain_text() -> None:
    assert encode_state("ready") == b"ready"
    assert encode_state("lost", controller=True) == b"lost"
    assert decode_state(b"alert") == "alert"
    assert decode_state(b"alert", controller=True) is None
    assert decode_state(b'"ready"') is None
    assert decode_state(b"READY") is None
    with pytest.raises(ValueError, match="state 'alert' is not one of"):
        encode_state("alert", controller=True)


# --- the message set -----------------------------------------------------------------------


def test_the_message_set_declares_the_tree() -> None:
    topics = MESSAGE_SET["topics"]
    assert isinstance(topics, dict)
    assert {t["topic"] for t in topics.values() if isinstance(t, dict)} == {
        "controller/$state",
        "device/{device_id}/$state",
        "device/{device_id}/$meta",
        "device/{device_id}/status/{name}",
        "device/{device_id}/event/{name}",
        "device/{device_id}/cmd/{name}",
        "device/{device_id}/snapshot",
        "events",
    }
    assert topics["device_event"] == {
        "topic": "device/{device_id}/event/{name}",
        "direction": "device->controller",
        "retained": False,
        "qos": 1,
        "payload": "event",
    }
    assert MESSAGE_SET["states"] == ["ready", "alert", "lost"]
    assert MESSAGE_SET["keys"] == list(KEY_ACTIONS)
    assert MESSAGE_SET["events"] == {
        "key": {"key": {"type": "string", "required": True, "enum": list(KEY_ACTIONS)}},
        "rating": {"score": {"type": "integer", "required": True, "minimum": 1, "maximum": 5}},
        "code": {"code": {"type": "string", "required": True, "min_length": 1, "max_length": 512}},
    }
    commands = MESSAGE_SET["commands"]
    assert isinstance(commands, dict)
    assert set(commands) == {"show", "clear", "ask_rating", "rating_done", "feedback"}


def test_the_message_set_is_plain_json() -> None:
    assert json.loads(json.dumps(MESSAGE_SET)) == MESSAGE_SET


def test_the_bridges_copy_equals_the_message_set() -> None:
    """Regenerate with: .venv/bin/python -c "from hall_controller.protocols.message_set import
    message_set_json; print(message_set_json(), end='')" > firmware_bridges/message_set.json
    """
    text = BRIDGES_COPY.read_text(encoding="utf-8")
    assert json.loads(text) == MESSAGE_SET
    assert "非常满意" in text  # written as UTF-8, not \\u escapes
    assert text == message_set_json()
