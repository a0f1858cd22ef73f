"""Code scanners: keystrokes of a scanner that types as a keyboard, or lines on a serial port."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CODE = 1024  # characters; longer input is not a code (a stuck key, a runaway line)

# US keyboard layout, which scanners emulate: key name -> (plain, shifted).
_KEYS: dict[str, tuple[str, str]] = {
    **{f"KEY_{c}": (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{f"KEY_{d}": (d, s) for d, s in zip("1234567890", "!@#$%^&*()", strict=True)},
    **{f"KEY_KP{d}": (d, d) for d in "0123456789"},
    "KEY_MINUS": ("-", "_"),
    "KEY_EQUAL": ("=", "+"),
    "KEY_LEFTBRACE": ("[", "{"),
    "KEY_RIGHTBRACE": ("]", "}"),
    "KEY_BACKSLASH": ("\\", "|"),
    "KEY_SEMICOLON": (";", ":"),
    "KEY_APOSTROPHE": ("'", '"'),
    "KEY_GRAVE": ("`", "~"),
    "KEY_COMMA": (",", "<"),
    "KEY_DOT": (".", ">"),
    "KEY_SLASH": ("/", "?"),
    "KEY_SPACE": (" ", " "),
    "KEY_KPMINUS": ("-", "-"),
    "KEY_KPPLUS": ("+", "+"),
    "KEY_KPDOT": (".", "."),
    "KEY_KPSLASH": ("/", "/"),
    "KEY_KPASTERISK": ("*", "*"),
}
_SHIFTS = frozenset({"KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"})
_ENDS = frozenset({"KEY_ENTER", "KEY_KPENTER"})


@dataclass(slots=True)
class KeystrokeDecoder:
    """Turns a keyboard scanner's key presses into codes, one per Enter (US layout)."""

    end_on_tab: bool = False
    _shift: int = 0
    _chars: list[str] = field(default_factory=list)
    unknown_keys: int = 0

    def press(self, key: str) -> str | None:
        """A key went down; the finished code when it ends one, else None."""
        if key in _SHIFTS:
            self._shift += 1
            return None
        if key in _ENDS or (self.end_on_tab and key == "KEY_TAB"):
            code, self._chars = "".join(self._chars), []
            return code or None
        chars = _KEYS.get(key)
        if chars is None:
            self.unknown_keys += 1
            return None
        if len(self._chars) >= MAX_CODE:
            self._chars.clear()
        self._chars.append(chars[1] if self._shift else chars[0])
        return None

    def release(self, key: str) -> None:
        """A key came up (only shifts matter)."""
        if key in _SHIFTS and self._shift:
            self._shift -= 1


@dataclass(slots=True)
class LineDecoder:
    """Turns a serial scanner's bytes into codes: one per line (CR, LF or CR LF)."""

    encoding: str = "utf-8"
    _buffer: bytearray = field(default_factory=bytearray)
    _discarding: bool = False
    overlong: int = 0  # lines dropped for being longer than MAX_CODE bytes

    def feed(self, data: bytes) -> list[str]:
        """Every code completed by `data`, in order; empty lines are no code."""
        codes: list[str] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._buffer and not self._discarding:
                    text = self._buffer.decode(self.encoding, errors="replace").strip()
                    if text:
                        codes.append(text)
                self._buffer.clear()
                self._discarding = False
                continue
            if self._discarding:
                continue
            if len(self._buffer) >= MAX_CODE:
                # A line this long is noise or a stuck scanner: drop it up to its end.
                self._buffer.clear()
                self._discarding = True
                self.overlong += 1
                continue
            self._buffer.append(byte)
        return codes
