"""433 MHz receiver modules: ``FD xx xx xx DF`` at 9600 baud per received code, repeated while held.

The 24-bit code is the remote's id and the key pressed (the low `key_bits`). Remotes are bound to
windows by the hall (learn mode); a held key repeats about every 100 ms and counts as one press.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HEADER = 0xFD
TAIL = 0xDF
FRAME_SIZE = 5
MAX_CODE = 0xFFFFFF


@dataclass(frozen=True, slots=True)
class RemoteCode:
    """One received 24-bit code."""

    code: int


def code_frame(code: int) -> bytes:
    """The frame a receiver sends for `code` (the receiver's side); ValueError beyond 24 bits."""
    if not 0 <= code <= MAX_CODE:
        raise ValueError(f"code {code} does not fit 24 bits")
    return bytes((HEADER,)) + code.to_bytes(3, "big") + bytes((TAIL,))


class Rf433Decoder:
    """Finds the codes in a receiver's byte stream cut anywhere; skips and counts the rest.

    `errors` counts frames with a bad tail and each run of skipped garbage once. `feed` never
    raises and holds at most one partial frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        # True from an error until the next good frame: a resync counts as one error.
        self._resyncing = False
        self.errors = 0

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RemoteCode]:
        """The codes completed by `data`, in stream order."""
        buf = self._buffer
        buf += data
        codes: list[RemoteCode] = []
        pos = 0
        while True:
            start = buf.find(HEADER, pos)
            if start < 0:
                if pos < len(buf):
                    self._skipped()
                pos = len(buf)
                break
            if start > pos:
                self._skipped()
            if len(buf) - start < FRAME_SIZE:
                pos = start
                break
            if buf[start + FRAME_SIZE - 1] != TAIL:
                self.errors += 1
                self._resyncing = True
                pos = start + 1
                continue
            codes.append(RemoteCode(int.from_bytes(buf[start + 1 : start + 4], "big")))
            self._resyncing = False
            pos = start + FRAME_SIZE
        del buf[:pos]
        return codes

    def _skipped(self) -> None:
        if not self._resyncing:
            self.errors += 1
        self._resyncing = True


@dataclass(frozen=True, slots=True)
class Rf433Layout:
    """How a remote model splits its code: the low `key_bits` are the key, the rest the remote."""

    key_bits: int
    keys: Mapping[int, str]

    def split(self, code: int) -> tuple[int, str | None]:
        """(remote id, action of the key or None when the key is not mapped)."""
        return code >> self.key_bits, self.keys.get(code & ((1 << self.key_bits) - 1))

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the layout is usable."""
        problems = []
        if not 1 <= self.key_bits <= 23:
            problems.append(f"key_bits is {self.key_bits}: it must be 1..23 of the 24-bit code")
        else:
            for key in self.keys:
                if not 0 <= key < 1 << self.key_bits:
                    problems.append(f"key code {key} does not fit {self.key_bits} bits")
        return problems


class HeldKeyFilter:
    """One press per key press: repeats of a held key (about every 100 ms) are not new presses."""

    # Codes remembered before the ones released long ago are forgotten.
    _REMEMBERED = 64

    def __init__(self, release_after_s: float) -> None:
        self.release_after_s = release_after_s
        self._last_seen: dict[int, float] = {}

    def accept(self, code: int, at: float) -> bool:
        """True for a new press of `code` at time `at` (seconds); False for a repeat.

        A repeat is a frame closer than `release_after_s` to the last frame of the same code.
        A time earlier than that last frame (a clock step back) counts as a repeat too: a missed
        press is pressed again, a doubled "call" would skip an applicant.
        """
        last = self._last_seen.get(code)
        self._last_seen[code] = at
        if len(self._last_seen) > self._REMEMBERED:
            self._forget_released(at)
        return last is None or at - last >= self.release_after_s

    def _forget_released(self, now: float) -> None:
        for code, seen in list(self._last_seen.items()):
            if not 0 <= now - seen < self.release_after_s:
                del self._last_seen[code]


class RemoteBindings:
    """Which window each remote belongs to; learn mode binds the next unknown remote.

    While learning, a remote that is already bound keeps its window (its press is for that
    window as usual) and learning goes on until an unknown remote is pressed or it is
    cancelled. A window may have several remotes.
    """

    def __init__(self, bindings: Mapping[int, str] = {}) -> None:
        self._bindings = dict(bindings)
        self.learning: str | None = None

    def learn(self, window_id: str) -> None:
        """Bind the next unknown remote that is pressed to `window_id`."""
        self.learning = window_id

    def cancel_learning(self) -> None:
        """Stop learning without binding anything."""
        self.learning = None

    def forget(self, remote_id: int) -> None:
        """Unbind a remote (lost or moved); unknown remotes are ignored."""
        self._bindings.pop(remote_id, None)

    def window_for(self, remote_id: int) -> str | None:
        """The remote's window; while learning, an unknown remote is bound and learning ends."""
        window = self._bindings.get(remote_id)
        if window is None and self.learning is not None:
            window = self._bindings[remote_id] = self.learning
            self.learning = None
        return window

    def as_dict(self) -> dict[int, str]:
        """A copy of the bindings, remote id -> window id."""
        return dict(self._bindings)
