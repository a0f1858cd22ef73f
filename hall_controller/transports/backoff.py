"""Capped exponential backoff with jitter, spread out so links that fail together retry apart."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays before each reconnect attempt; `reset()` after a connection that worked."""

    initial_s: float = 5.0
    cap_s: float = 80.0
    factor: float = 2.0
    # Each delay is drawn from [d * (1 - jitter), d * (1 + jitter)], never above the cap.
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; grows with each call until reset."""
        base = min(self.cap_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        spread = base * self.jitter
        return min(self.cap_s, max(0.0, base + self.rng.uniform(-spread, spread)))

    def reset(self) -> None:
        """Start again from the initial delay."""
        self.attempts = 0
