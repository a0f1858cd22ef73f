"""What devices show and send, in the hall's words: a window's showing and a device's input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RatingPrompt = Literal["asking", "idle"]


@dataclass(frozen=True, slots=True)
class WindowShowing:
    """Everything the devices of one window should show now (a full snapshot)."""

    window: str
    status: str  # closed / open / paused / calling / serving
    ticket: str | None  # the number called or served here, e.g. "A012"
    ticket_id: str | None
    # A fresh call or recall: boards blink and pads beep; a snapshot repeats it without blink.
    blink: bool
    call_count: int  # grows with every call and recall here, so a repeat blinks again
    rating: RatingPrompt
    rating_ticket: str | None  # the ticket id being rated while `rating` is "asking"
    rating_number: str | None


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """A key on a call pad: an action for the pad's window."""

    device_id: str
    window: str
    action: str  # one of protocols.callpad.KEY_ACTIONS


@dataclass(frozen=True, slots=True)
class RatingGiven:
    """A key on a rating pad: a score 1 (非常不满意) .. 5 (非常满意) for the window's service."""

    device_id: str
    window: str
    score: int


DeviceInput = KeyPressed | RatingGiven


@dataclass(frozen=True, slots=True)
class InputResult:
    """What became of a device input, for the pad's feedback (text, lamp, beep)."""

    ok: bool
    text: str  # short text for the pad's display, e.g. "A012" or "无人等候"
    serving: bool = False  # the window has a ticket called or in service (pad lamp on)
