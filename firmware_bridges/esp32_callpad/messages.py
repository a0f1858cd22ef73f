"""The part of the hall's MQTT message set the call pad speaks: topics, keys, states, commands.

Runs on MicroPython: plain constants and str methods only (checked against message_set.json).
"""

VERSION = 1
ROOT = "hall/{hall_id}"

# Topic patterns under ROOT, as the message set names them.
TOPIC_STATE = "device/{device_id}/$state"
TOPIC_META = "device/{device_id}/$meta"
TOPIC_EVENT = "device/{device_id}/event/{name}"
TOPIC_CMD = "device/{device_id}/cmd/{name}"
TOPIC_SNAPSHOT = "device/{device_id}/snapshot"
TOPICS = (TOPIC_STATE, TOPIC_META, TOPIC_EVENT, TOPIC_CMD, TOPIC_SNAPSHOT)

# What a clerk can ask for with a key.
KEYS = (
    "call",
    "recall",
    "no_show",
    "start",
    "finish",
    "pause",
    "resume",
    "transfer",
    "rate",
)

# $state payloads: "ready" while connected, "lost" as the last will.
READY = "ready"
LOST = "lost"
STATES = (READY, LOST)

KIND = "call_pad"
EVENT_KEY = "key"

CMD_SHOW = "show"
CMD_CLEAR = "clear"
CMD_ASK_RATING = "ask_rating"
CMD_RATING_DONE = "rating_done"
CMD_FEEDBACK = "feedback"
COMMANDS = (CMD_SHOW, CMD_CLEAR, CMD_ASK_RATING, CMD_RATING_DONE, CMD_FEEDBACK)

# Bounds of cmd/feedback fields.
TEXT_MAX = 64
BEEP_MAX = 9
# Snapshot "rating" values.
RATING_ASKING = "asking"

QOS_EVENT = 1
QOS_STATE = 1
QOS_CMD = 1


def topic(hall_id: str, device_id: str, pattern: str, name: str = "") -> str:
    """The full topic of `pattern` for this hall and device (with `name` for named parts)."""
    full = ROOT + "/" + pattern
    return (
        full.replace("{hall_id}", hall_id).replace("{device_id}", device_id).replace("{name}", name)
    )
