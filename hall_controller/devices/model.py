"""What devices show and send, in the hall's words: a window's showing and a device's input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hall_controller.core.model import TicketPrint
from hall_controller.protocols import emergency
from hall_controller.protocols.sam_idcard import IdCardText

__all__ = [
    "Announcement",
    "CardPresented",
    "CodeScanned",
    "ContactCard",
    "DeviceInput",
    "EmergencyNotice",
    "InputResult",
    "KeyPressed",
    "KioskInput",
    "RatingGiven",
    "TicketPrint",
    "WindowShowing",
]

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


@dataclass(frozen=True, slots=True)
class ContactCard:
    """A contact card in a PC/SC reader (social security card and the like)."""

    atr: str  # the answer to reset, hex
    card_number: str | None  # what the card says its number is, when it says


@dataclass(frozen=True, slots=True)
class CardPresented:
    """A card read at a kiosk's reader; the ID card's text is personal data, kept only in memory."""

    device_id: str
    kiosk: str | None
    card: IdCardText | ContactCard


@dataclass(frozen=True, slots=True)
class CodeScanned:
    """A code scanned at a kiosk: an appointment code, a ticket's QR code, anything."""

    device_id: str
    kiosk: str | None
    code: str


KioskInput = CardPresented | CodeScanned
DeviceInput = KeyPressed | RatingGiven | CardPresented | CodeScanned


@dataclass(frozen=True, slots=True)
class Announcement:
    """A call to be spoken: which ticket goes to which window, and whether it is a recall."""

    ticket: str  # "A012"
    window: str  # the window's id, e.g. "3"
    window_name_zh: str
    window_name_en: str
    recall: bool


@dataclass(frozen=True, slots=True)
class EmergencyNotice:
    """The hall's declared emergency (or drill): displays show its message, speakers repeat it."""

    message: str
    drill: bool


@dataclass(slots=True)
class MessagePages:
    """An emergency's message cut into the pages a window display can show, and the one shown."""

    pages: tuple[str, ...] = ()
    index: int = 0

    def show(self, notice: EmergencyNotice | None, fits: Callable[[str], bool]) -> bool:
        """Page the notice's message from its first page (None: the emergency is over); False
        when there was no emergency before and is none now (nothing to redraw)."""
        if notice is None and not self.pages:
            return False
        if notice is None:
            self.pages = ()
        else:
            self.pages = emergency.split(emergency.board_text(notice.message, notice.drill), fits)
        self.index = 0
        return True

    def turn(self) -> bool:
        """The next page (the first after the last); False when there is only one or none."""
        if len(self.pages) < 2:
            return False
        self.index = (self.index + 1) % len(self.pages)
        return True

    def __bool__(self) -> bool:
        """True while an emergency has the display."""
        return bool(self.pages)

    @property
    def current(self) -> str | None:
        """The page shown now; None when no emergency has the display."""
        return self.pages[self.index] if self.pages else None

    def label(self) -> str:
        """How the page is named in the device's recent frames, e.g. "emergency 2/5: ..."."""
        return f"emergency {self.index + 1}/{len(self.pages)}: {self.current}"


@dataclass(frozen=True, slots=True)
class InputResult:
    """What became of a device input, for the pad's feedback (text, lamp, beep)."""

    ok: bool
    text: str  # short text for the pad's display, e.g. "A012" or "无人等候"
    serving: bool = False  # the window has a ticket called or in service (pad lamp on)
