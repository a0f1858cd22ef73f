"""The hall's MQTT message set as data: topics, states, keys, events, commands and the snapshot.

`MESSAGE_SET` is plain JSON-ready data; firmware_bridges/message_set.json is the same data
written out, so bridges in other languages check messages against the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from .callpad import KEY_ACTIONS
from .rating_pad import SCALE

Json: TypeAlias = str | int | bool | list["Json"] | dict[str, "Json"] | None
Scalar: TypeAlias = str | int | bool

VERSION = 1
# Messages larger than this are refused (the longest valid one is well under 1 KiB).
MAX_PAYLOAD_BYTES = 4096
DEVICE_STATES = ("ready", "alert", "lost")
CONTROLLER_STATES = ("ready", "lost")
RATING_STATES = ("asking", "idle")
# Hall and device ids: one topic level, no wildcards, nothing MQTT treats specially.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
# Event, command and status names.
NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What one payload field may hold: JSON type, whether required, and its bounds."""

    type: str  # "string", "integer", "boolean" or "object" (the fields of command `shape`)
    required: bool = True
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    nullable: bool = False
    shape: str | None = None
    # What a receiver assumes when an optional field is absent (None: no default, "unchanged").
    default: Scalar | None = None

    def as_json(self) -> dict[str, Json]:
        """The rule as JSON data, leaving out what is unset."""
        out: dict[str, Json] = {"type": self.type, "required": self.required}
        if self.enum:
            out["enum"] = list(self.enum)
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("min_length", self.min_length),
            ("max_length", self.max_length),
            ("shape", self.shape),
            ("default", self.default),
        ):
            if value is not None:
                out[key] = value
        if self.nullable:
            out["nullable"] = True
        return out


@dataclass(frozen=True, slots=True)
class TopicRule:
    """One topic of the tree under ``hall/<hall_id>/``: who publishes, retained, QoS, payload."""

    topic: str
    direction: str
    retained: bool
    qos: int
    payload: str


Fields: TypeAlias = Mapping[str, FieldRule]

TICKET = FieldRule("string", max_length=16)
WINDOW = FieldRule("string", min_length=1, max_length=16)

TOPICS: Mapping[str, TopicRule] = {
    "controller_state": TopicRule("controller/$state", "controller->all", True, 1, "state"),
    "device_state": TopicRule("device/{device_id}/$state", "device->all", True, 1, "state"),
    "device_meta": TopicRule("device/{device_id}/$meta", "device->all", True, 1, "meta"),
    "device_status": TopicRule(
        "device/{device_id}/status/{name}", "device->all", True, 1, "status"
    ),
    "device_event": TopicRule(
        "device/{device_id}/event/{name}", "device->controller", False, 1, "event"
    ),
    "device_cmd": TopicRule(
        "device/{device_id}/cmd/{name}", "controller->device", False, 1, "command"
    ),
    "device_snapshot": TopicRule(
        "device/{device_id}/snapshot", "controller->device", True, 1, "snapshot"
    ),
    "events": TopicRule("events", "controller->city", False, 1, "domain_event"),
}

EVENTS: Mapping[str, Fields] = {
    "key": {"key": FieldRule("string", enum=KEY_ACTIONS)},
    "rating": {"score": FieldRule("integer", minimum=1, maximum=5)},
    "code": {"code": FieldRule("string", min_length=1, max_length=512)},
}

COMMANDS: Mapping[str, Fields] = {
    "show": {
        "ticket": TICKET,
        "window": WINDOW,
        "text": FieldRule("string", required=False, max_length=64, default=""),
        "blink": FieldRule("boolean", required=False, default=False),
    },
    "clear": {},
    "ask_rating": {"ticket": TICKET},
    # Thanks the applicant: the rating for `ticket` is recorded.
    "rating_done": {"ticket": TICKET},
    # Absent fields leave the pad's display, LED and beeper as they are.
    "feedback": {
        "text": FieldRule("string", required=False, max_length=64),
        "led": FieldRule("boolean", required=False),
        "beep": FieldRule("integer", required=False, minimum=0, maximum=9),
    },
}

SNAPSHOT: Fields = {
    "window": WINDOW,
    "showing": FieldRule("object", shape="show", nullable=True),
    "status": FieldRule("string", min_length=1, max_length=32),
    "rating": FieldRule("string", enum=RATING_STATES),
}

META: Fields = {
    "kind": FieldRule("string", min_length=1, max_length=32),
    "model": FieldRule("string", required=False, max_length=64),
    "profile": FieldRule("string", required=False, max_length=64),
    "firmware": FieldRule("string", required=False, max_length=64),
}


def _fields_json(fields: Fields) -> dict[str, Json]:
    return {name: rule.as_json() for name, rule in fields.items()}


def _message_set() -> dict[str, Json]:
    topics: dict[str, Json] = {
        name: {
            "topic": rule.topic,
            "direction": rule.direction,
            "retained": rule.retained,
            "qos": rule.qos,
            "payload": rule.payload,
        }
        for name, rule in TOPICS.items()
    }
    return {
        "version": VERSION,
        "root": "hall/{hall_id}",
        "max_payload_bytes": MAX_PAYLOAD_BYTES,
        "id_pattern": ID_PATTERN,
        "name_pattern": NAME_PATTERN,
        "topics": topics,
        "states": list(DEVICE_STATES),
        "controller_states": list(CONTROLLER_STATES),
        "keys": list(KEY_ACTIONS),
        "scale": {str(score): name for score, name in SCALE.items()},
        "events": {name: _fields_json(fields) for name, fields in EVENTS.items()},
        "commands": {name: _fields_json(fields) for name, fields in COMMANDS.items()},
        "snapshot": _fields_json(SNAPSHOT),
        "meta": _fields_json(META),
        "status": 'a JSON object per status name, e.g. paper = {"level": "low"}',
    }


MESSAGE_SET: dict[str, Json] = _message_set()


def message_set_json() -> str:
    """MESSAGE_SET as firmware_bridges/message_set.json holds it: pretty UTF-8 JSON."""
    return json.dumps(MESSAGE_SET, indent=2, ensure_ascii=False) + "\n"
