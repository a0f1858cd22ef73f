"""The hall's MQTT topic tree (``hall/<hall_id>/...``) and its JSON payloads, checked against
the message set: topic names, and events, commands, snapshots and states in and out.

Device input (`decode_*`) is never trusted: anything that does not match the message set gives
None. Output (`encode_*`) that does not match is a programming error: ValueError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import message_set
from .message_set import (
    COMMANDS,
    CONTROLLER_STATES,
    DEVICE_STATES,
    EVENTS,
    MAX_PAYLOAD_BYTES,
    META,
    SNAPSHOT,
    FieldRule,
    Fields,
    Scalar,
)

ID_PATTERN = re.compile(message_set.ID_PATTERN)
NAME_PATTERN = re.compile(message_set.NAME_PATTERN)
# Parts of a device's subtree; the first three take a name.
NAMED_PARTS = ("status", "event", "cmd")
PLAIN_PARTS = ("$state", "$meta", "snapshot")


def _checked_id(kind: str, value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{kind} {value!r} is not a valid topic level ({ID_PATTERN.pattern})")
    return value


def _checked_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"name {value!r} is not a valid topic name ({NAME_PATTERN.pattern})")
    return value


class Topics:
    """The topic names of one hall; ValueError for ids or names that cannot be topic levels."""

    def __init__(self, hall_id: str) -> None:
        self.hall_id = _checked_id("hall id", hall_id)
        self.root = f"hall/{hall_id}"

    def _device(self, device_id: str) -> str:
        return f"{self.root}/device/{_checked_id('device id', device_id)}"

    def controller_state(self) -> str:
        """The controller's presence: retained "ready", or "lost" as its last will."""
        return f"{self.root}/controller/$state"

    def device_state(self, device_id: str) -> str:
        """A device's presence: retained "ready", "alert" or "lost"."""
        return f"{self._device(device_id)}/$state"

    def device_meta(self, device_id: str) -> str:
        """A device's kind, model, profile and firmware (retained JSON)."""
        return f"{self._device(device_id)}/$meta"

    def device_status(self, device_id: str, name: str) -> str:
        """One retained status of a device, e.g. paper."""
        return f"{self._device(device_id)}/status/{_checked_name(name)}"

    def device_event(self, device_id: str, name: str) -> str:
        """What a device reports to the controller, e.g. key, rating, code."""
        return f"{self._device(device_id)}/event/{_checked_name(name)}"

    def device_cmd(self, device_id: str, name: str) -> str:
        """What the controller tells a device, e.g. show, clear, ask_rating."""
        return f"{self._device(device_id)}/cmd/{_checked_name(name)}"

    def device_snapshot(self, device_id: str) -> str:
        """Everything a device should show now (retained)."""
        return f"{self._device(device_id)}/snapshot"

    def events(self) -> str:
        """The hall's domain event stream for central collection."""
        return f"{self.root}/events"

    def device_events_filter(self) -> str:
        """Subscription filter for every device's events."""
        return f"{self.root}/device/+/event/#"

    def device_states_filter(self) -> str:
        """Subscription filter for every device's presence."""
        return f"{self.root}/device/+/$state"

    def device_cmd_filter(self, device_id: str) -> str:
        """Subscription filter for the commands to one device (the device's side)."""
        return f"{self._device(device_id)}/cmd/+"


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A topic in a device's subtree: which device, which part, and the name for named parts."""

    device_id: str
    part: str  # "$state", "$meta", "snapshot", "status", "event" or "cmd"
    name: str | None


def parse_topic(hall_id: str, topic: str) -> DeviceTopic | None:
    """The device topic `topic` is, or None for anything else in or outside this hall's tree."""
    levels = topic.split("/")
    if len(levels) not in (5, 6) or levels[:3] != ["hall", hall_id, "device"]:
        return None
    device_id, part = levels[3], levels[4]
    if not ID_PATTERN.fullmatch(device_id):
        return None
    if len(levels) == 5:
        return DeviceTopic(device_id, part, None) if part in PLAIN_PARTS else None
    name = levels[5]
    if part not in NAMED_PARTS or not NAME_PATTERN.fullmatch(name):
        return None
    return DeviceTopic(device_id, part, name)


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A validated event from a device, e.g. key {"key": "call"}."""

    name: str
    data: Mapping[str, Scalar]


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """A validated command to a device with defaults filled in, e.g. show (the device's side)."""

    name: str
    data: Mapping[str, Scalar]


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _load(payload: bytes) -> object:
    """The JSON in `payload` (strict UTF-8, no NaN, no duplicate keys); ValueError if none."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(
            payload.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _problem(fields: Fields, data: object) -> str | None:
    """Why `data` does not match `fields`, or None when it does."""
    if not isinstance(data, Mapping):
        return "not a JSON object"
    for key in data:
        if key not in fields:
            return f"unknown field {key!r}"
    for name, rule in fields.items():
        if name not in data:
            if rule.required:
                return f"{name} is missing"
            continue
        problem = _value_problem(rule, data[name])
        if problem:
            return f"{name}: {problem}"
    return None


def _value_problem(rule: FieldRule, value: object) -> str | None:
    if value is None:
        return None if rule.nullable else "is null"
    if rule.type == "string":
        return _string_problem(rule, value)
    if rule.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return "not an integer"
        if rule.minimum is not None and value < rule.minimum:
            return f"{value} is below {rule.minimum}"
        if rule.maximum is not None and value > rule.maximum:
            return f"{value} is above {rule.maximum}"
        return None
    if rule.type == "boolean":
        return None if isinstance(value, bool) else "not a boolean"
    if rule.type == "object" and rule.shape is not None:
        return _problem(COMMANDS[rule.shape], value)
    return f"unknown field type {rule.type!r}"


def _string_problem(rule: FieldRule, value: object) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode"
    if rule.min_length is not None and len(value) < rule.min_length:
        return f"shorter than {rule.min_length}"
    if rule.max_length is not None and len(value) > rule.max_length:
        return f"longer than {rule.max_length}"
    if rule.enum and value not in rule.enum:
        return f"{value!r} is not one of {rule.enum}"
    return None


def _with_defaults(fields: Fields, data: Mapping[str, object]) -> dict[str, object]:
    out = dict(data)
    for name, rule in fields.items():
        value = out.get(name)
        if name not in out and rule.default is not None:
            out[name] = rule.default
        elif rule.shape is not None and isinstance(value, Mapping):
            out[name] = _with_defaults(COMMANDS[rule.shape], value)
    return out


def _scalars(data: Mapping[str, object]) -> dict[str, Scalar]:
    return {k: v for k, v in data.items() if isinstance(v, str | int | bool)}


def _plain(value: object) -> object:
    """`value` with every Mapping turned into a dict, as json.dumps needs."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# Built once: json.dumps with any option builds a new encoder per call, twice the cost.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _dump(data: Mapping[str, object]) -> bytes:
    return _ENCODER.encode(_plain(data)).encode("utf-8")


def _decode(fields: Fields, payload: bytes) -> dict[str, object] | None:
    try:
        data = _load(payload)
    except ValueError:
        return None
    if not isinstance(data, Mapping) or _problem(fields, data) is not None:
        return None
    return _with_defaults(fields, data)


def _encode(kind: str, fields: Fields, name: str, data: Mapping[str, object]) -> bytes:
    problem = _problem(fields, data)
    if problem is not None:
        raise ValueError(f"{kind} {name}: {problem}")
    return _dump(data)


def decode_event(name: str, payload: bytes) -> DeviceEvent | None:
    """The event `name` carried by `payload`, or None for an unknown name or invalid payload."""
    fields = EVENTS.get(name)
    data = None if fields is None else _decode(fields, payload)
    return None if data is None else DeviceEvent(name, _scalars(data))


def encode_event(name: str, data: Mapping[str, object]) -> bytes:
    """The compact UTF-8 JSON of event `name` (the device's side); ValueError if invalid."""
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r} (known: {', '.join(EVENTS)})")
    return _encode("event", EVENTS[name], name, data)


def encode_cmd(name: str, data: Mapping[str, object]) -> bytes:
    """The compact UTF-8 JSON of command `name`; ValueError for an unknown or invalid command."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    return _encode("command", COMMANDS[name], name, data)


def decode_cmd(name: str, payload: bytes) -> DeviceCommand | None:
    """The command `name` carried by `payload` (the device's side), or None if invalid."""
    fields = COMMANDS.get(name)
    data = None if fields is None else _decode(fields, payload)
    return None if data is None else DeviceCommand(name, _scalars(data))


def encode_meta(data: Mapping[str, object]) -> bytes:
    """The compact UTF-8 JSON of a device's `$meta` (kind, model, profile, firmware)."""
    return _encode("meta", META, "payload", data)


def decode_meta(payload: bytes) -> dict[str, object] | None:
    """A device's `$meta`, or None if invalid."""
    return _decode(META, payload)


def encode_snapshot(data: Mapping[str, object]) -> bytes:
    """The compact UTF-8 JSON of a device snapshot; ValueError if it does not match."""
    return _encode("snapshot", SNAPSHOT, "payload", data)


def decode_snapshot(payload: bytes) -> dict[str, object] | None:
    """A device snapshot with defaults filled in (the device's side), or None if invalid."""
    return _decode(SNAPSHOT, payload)


def encode_state(state: str, *, controller: bool = False) -> bytes:
    """A $state payload (plain text, not JSON); ValueError for a state the topic does not have."""
    allowed = CONTROLLER_STATES if controller else DEVICE_STATES
    if state not in allowed:
        raise ValueError(f"state {state!r} is not one of {allowed}")
    return state.encode("ascii")


def decode_state(payload: bytes, *, controller: bool = False) -> str | None:
    """The state in a $state payload, or None for anything else."""
    allowed = CONTROLLER_STATES if controller else DEVICE_STATES
    for state in allowed:
        if payload == state.encode("ascii"):
            return state
    return None
