"""Each device's health as technicians and /metrics see it: state, last seen, counters."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DeviceState(StrEnum):
    """A device's state in the words of the MQTT topic tree (`$state`), plus connecting."""

    CONNECTING = "connecting"
    READY = "ready"
    ALERT = "alert"
    LOST = "lost"


_HEX_SHOWN = 64  # bytes of the last frame kept for the technician console
RECENT_FRAMES = 8  # frames kept each way for the technician console


@dataclass(frozen=True, slots=True)
class FrameSeen:
    """One frame in or out as the technician console shows it: when, hex (or text), a note."""

    at: float  # wall-clock seconds
    # The frame as it went (bytes), or the text of a message (MQTT, a lamp): drawn for the
    # console only when it is looked at, not for every frame that passes.
    raw: bytes | str
    said: str | None = None  # what it was, when the adapter says ("test: 测试 TEST")

    @property
    def frame(self) -> str:
        """Annotated hex of the first bytes, or the message's text."""
        return _shown(self.raw)

    @property
    def note(self) -> str | None:
        """What the adapter said it was, else its length and any readable ASCII in it."""
        return self.said or _note(self.raw)

    def view(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"at": self.at, "frame": self.frame, "note": self.note}


@dataclass(slots=True)
class DeviceHealth:
    """Live counters of one device; mutated by its adapter on the loop thread only."""

    device_id: str
    kind: str
    profile: str
    driver: str
    window: str | None
    where: str
    state: DeviceState = DeviceState.CONNECTING
    since: float = 0.0
    last_seen: float | None = None
    frames_in: int = 0
    frames_out: int = 0
    errors: int = 0
    reconnects: int = 0
    last_error: str | None = None
    # Wall-clock seconds for the frames sent (frames in come with their own time).
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    recent_in: deque[FrameSeen] = field(
        default_factory=lambda: deque(maxlen=RECENT_FRAMES), repr=False, compare=False
    )
    recent_out: deque[FrameSeen] = field(
        default_factory=lambda: deque(maxlen=RECENT_FRAMES), repr=False, compare=False
    )

    def seen(self, at: float, frame: bytes | str | None = None, note: str | None = None) -> None:
        """Count one frame (or sign of life) from the device."""
        self.last_seen = at
        self.frames_in += 1
        if frame is not None:
            self.recent_in.append(FrameSeen(at, frame, note))

    def sent(self, frame: bytes | str, note: str | None = None) -> None:
        """Count one frame written to the device."""
        self.frames_out += 1
        self.recent_out.append(FrameSeen(self.clock(), frame, note))

    @property
    def last_frame_in(self) -> str | None:
        """The latest frame from the device, as the console shows it."""
        return self.recent_in[-1].frame if self.recent_in else None

    @property
    def last_frame_out(self) -> str | None:
        """The latest frame written to the device, as the console shows it."""
        return self.recent_out[-1].frame if self.recent_out else None

    def error(self, message: str) -> None:
        """Count one error (bad frame, refused write) and keep its message."""
        self.errors += 1
        self.last_error = message

    def set_state(self, state: DeviceState, at: float, reason: str | None = None) -> bool:
        """Move to `state`; True when that is a change."""
        if reason is not None:
            self.last_error = reason
        if state is self.state:
            return False
        self.state = state
        self.since = at
        return True

    def view(self) -> dict[str, Any]:
        """JSON-ready health for the API."""
        return {
            "id": self.device_id,
            "kind": self.kind,
            "profile": self.profile,
            "driver": self.driver,
            "window": self.window,
            "where": self.where,
            "state": self.state.value,
            "since": self.since,
            "last_seen": self.last_seen,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "last_frame_in": self.last_frame_in,
            "last_frame_out": self.last_frame_out,
            "recent_in": [seen.view() for seen in self.recent_in],
            "recent_out": [seen.view() for seen in self.recent_out],
        }


def _note(frame: bytes | str) -> str | None:
    """The length of a binary frame and any readable ASCII in it ("11 bytes, A012")."""
    if isinstance(frame, str):
        return None
    words = [
        w for w in "".join(chr(b) if 0x20 < b < 0x7F else " " for b in frame).split() if len(w) >= 3
    ]
    text = f"{len(frame)} bytes"
    return text + (", " + " ".join(words)[:40] if words else "")


def _shown(frame: bytes | str) -> str:
    if isinstance(frame, str):
        return frame[:200]
    text = frame[:_HEX_SHOWN].hex(" ").upper()
    return text + (" ..." if len(frame) > _HEX_SHOWN else "")
