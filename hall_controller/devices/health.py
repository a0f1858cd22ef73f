"""Each device's health as technicians and /metrics see it: state, last seen, counters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DeviceState(StrEnum):
    """A device's state in the words of the MQTT topic tree (`$state`), plus connecting."""

    CONNECTING = "connecting"
    READY = "ready"
    ALERT = "alert"
    LOST = "lost"


_HEX_SHOWN = 64  # bytes of the last frame kept for the technician console


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
    last_frame_in: str | None = None
    last_frame_out: str | None = None

    def seen(self, at: float, frame: bytes | str | None = None) -> None:
        """Count one frame (or sign of life) from the device."""
        self.last_seen = at
        self.frames_in += 1
        if frame is not None:
            self.last_frame_in = _shown(frame)

    def sent(self, frame: bytes | str) -> None:
        """Count one frame written to the device."""
        self.frames_out += 1
        self.last_frame_out = _shown(frame)

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
        }


def _shown(frame: bytes | str) -> str:
    if isinstance(frame, str):
        return frame[:200]
    text = frame[:_HEX_SHOWN].hex(" ").upper()
    return text + (" ..." if len(frame) > _HEX_SHOWN else "")
