"""Rating pads (评价器) over serial: 4- or 5-key pads whose keys map onto the national 5 levels.

The controller asks the pad to prompt for a rating, thanks the applicant afterwards, sets it idle
and pings it; the pad sends one key frame (one byte: the key code) per press and answers pings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .callpad import PadPong, key_problems
from .framed import Frame, Framing, encode
from .led_board import command_problems

# The national 5-level satisfaction scale, best first.
SCALE: Mapping[int, str] = {
    5: "非常满意",
    4: "满意",
    3: "基本满意",
    2: "不满意",
    1: "非常不满意",
}

Prompt = Literal["ask", "thanks", "idle", "ping"]


@dataclass(frozen=True, slots=True)
class RatingPadCodec:
    """One rating pad model: framing, key code -> score (from the profile) and its commands."""

    framing: Framing
    key_command: int
    scores: Mapping[int, int]
    ask_command: int
    thanks_command: int
    idle_command: int
    ping_command: int
    pong_command: int

    def validate(self) -> list[str]:
        """Human messages for inconsistent settings; empty when the codec is usable."""
        problems = self.framing.validate()
        problems += command_problems(
            self.framing,
            {
                "key_command": self.key_command,
                "ask_command": self.ask_command,
                "thanks_command": self.thanks_command,
                "idle_command": self.idle_command,
                "ping_command": self.ping_command,
                "pong_command": self.pong_command,
            },
        )
        problems += key_problems(self.scores, tuple(SCALE))
        if not self.scores:
            problems.append("no key gives a score")
        return problems


@dataclass(frozen=True, slots=True)
class RatingKey:
    """An applicant pressed a key worth `score` (1..5) on the pad at `address`."""

    address: int
    score: int


def parse(codec: RatingPadCodec, frame: Frame) -> RatingKey | PadPong | None:
    """What the pad said (the controller's side); None for unknown commands or keys."""
    if frame.command == codec.key_command:
        if len(frame.payload) != 1:
            return None
        score = codec.scores.get(frame.payload[0])
        return RatingKey(frame.address, score) if score is not None and score in SCALE else None
    if frame.command == codec.pong_command:
        return PadPong(frame.address)
    return None


def _prompt(codec: RatingPadCodec, address: int, command: int) -> bytes:
    return encode(codec.framing, Frame(address, command, b""))


def ask(codec: RatingPadCodec, address: int) -> bytes:
    """The frame that asks the applicant to rate the service."""
    return _prompt(codec, address, codec.ask_command)


def thanks(codec: RatingPadCodec, address: int) -> bytes:
    """The frame that thanks the applicant for the rating."""
    return _prompt(codec, address, codec.thanks_command)


def idle(codec: RatingPadCodec, address: int) -> bytes:
    """The frame that returns the pad to idle (no rating asked)."""
    return _prompt(codec, address, codec.idle_command)


def ping(codec: RatingPadCodec, address: int) -> bytes:
    """The watchdog frame the pad must answer with a pong."""
    return _prompt(codec, address, codec.ping_command)


def key_frame(codec: RatingPadCodec, address: int, key_code: int) -> bytes:
    """The frame a pad sends when key `key_code` is pressed (the pad's side)."""
    return encode(codec.framing, Frame(address, codec.key_command, bytes((key_code,))))


def pong_frame(codec: RatingPadCodec, address: int) -> bytes:
    """The frame a pad answers a ping with (the pad's side)."""
    return encode(codec.framing, Frame(address, codec.pong_command, b""))


def parse_prompt(codec: RatingPadCodec, frame: Frame) -> Prompt | None:
    """What the pad was told (the pad's side); None for other commands."""
    prompts: dict[int, Prompt] = {
        codec.ask_command: "ask",
        codec.thanks_command: "thanks",
        codec.idle_command: "idle",
        codec.ping_command: "ping",
    }
    return prompts.get(frame.command)
