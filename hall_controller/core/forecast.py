"""Position, people ahead and estimated wait of every waiting ticket, from the policy itself.

The forecast plays the real policy forward: each open window calls what `choose_next` would
give it whenever it becomes free, and each service lasts the theme's expected time (today's
observations, else the configured default). No new arrivals are assumed. Past `horizon`
simulated calls the rest of each queue is extrapolated at the rate the simulation reached.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from dataclasses import dataclass, field

from .hall import Hall
from .model import TicketStatus, WindowStatus
from .policy import choose_next
from .queues import QueueEntry

DEFAULT_HORIZON = 300


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a waiting ticket stands: its place in its theme's queue and the expected wait."""

    position: int
    ahead: int
    # None when no open window serves the ticket.
    wait_s: float | None


@dataclass(frozen=True, slots=True)
class Forecast:
    """Estimates for every ticket waiting at `version` of the hall's state."""

    version: int
    at: float
    estimates: dict[str, Estimate]
    # Seconds between calls of each theme the simulation reached (None: no window serves it).
    intervals: dict[str, float | None] = field(default_factory=dict)

    def estimate(self, hall: Hall, ticket_id: str, now: float) -> Estimate | None:
        """This ticket's estimate; tickets newer than the forecast are placed by queue order."""
        known = self.estimates.get(ticket_id)
        if known is not None:
            if known.wait_s is None:
                return known
            return Estimate(known.position, known.ahead, max(0.0, known.wait_s - (now - self.at)))
        ticket = hall.tickets.get(ticket_id)
        if ticket is None or ticket.status is not TicketStatus.WAITING:
            return None
        ahead = queue_rank(hall, ticket.queue_entry())
        interval = self.intervals.get(ticket.theme)
        if interval is None:
            interval = _interval(hall, ticket.theme, _serving_windows(hall))
        wait = None if interval is None else ahead * interval
        return Estimate(ahead + 1, ahead, wait)


def queue_rank(hall: Hall, entry: QueueEntry) -> int:
    """How many tickets of the same theme line the policy's score order puts before this one."""
    line = hall.book.theme_line(entry.theme)
    policy = hall.policy
    head_start = policy.priority_head_start_s / policy.aging_rate
    key = entry.arrival_at - (head_start if entry.priority is not None else 0.0)
    # A bare (key,) sorts before any entry with that arrival time, so the ticket itself and
    # later arrivals with equal keys are not counted.
    return bisect_left(line.regular, (key,)) + bisect_left(line.priority, (key + head_start,))


def _serving_windows(hall: Hall) -> list[str]:
    return [
        w.id
        for w in hall.windows.values()
        if w.status in (WindowStatus.OPEN, WindowStatus.CALLING, WindowStatus.SERVING)
    ]


def _interval(hall: Hall, theme: str, windows: list[str]) -> float | None:
    serving = [w for w in windows if theme in hall.config.window(w).themes]
    if not serving:
        return None
    return hall.service_time_s(theme) / len(serving)


def forecast(hall: Hall, now: float, horizon: int = DEFAULT_HORIZON) -> Forecast:
    """Simulate the policy over the open windows and estimate every waiting ticket."""
    windows = _serving_windows(hall)
    free: list[tuple[float, str]] = []
    streak: dict[str, int] = {}
    for window_id in windows:
        window = hall.windows[window_id]
        streak[window_id] = window.priority_streak
        at = now
        if window.ticket_id is not None:
            ticket = hall.tickets[window.ticket_id]
            expected = hall.service_time_s(ticket.theme)
            if ticket.started_at is not None:
                at = max(now, ticket.started_at + expected)
            else:
                at = now + expected
        free.append((at, window_id))
    heapq.heapify(free)

    book = hall.book.copy()
    estimates: dict[str, Estimate] = {}
    called: dict[str, int] = {}
    last_call: dict[str, float] = {}
    calls = 0
    while free and calls < horizon and len(book):
        at, window_id = heapq.heappop(free)
        decision = choose_next(hall.config, hall.policy, book, window_id, streak[window_id], at)
        if decision is None:
            continue  # nothing this window can serve will ever arrive in the simulation
        entry = book.remove(decision.ticket_id)
        ahead = called.get(entry.theme, 0)
        called[entry.theme] = ahead + 1
        last_call[entry.theme] = at
        estimates[entry.ticket_id] = Estimate(ahead + 1, ahead, at - now)
        streak[window_id] = streak[window_id] + 1 if entry.priority is not None else 0
        heapq.heappush(free, (at + hall.service_time_s(entry.theme), window_id))
        calls += 1

    intervals = {t.id: _interval(hall, t.id, windows) for t in hall.config.themes}
    if len(book):
        # Beyond the horizon (or where no window serves): extrapolate in queue order.
        rest = sorted(
            (book.where[tid][0] for tid in book.where),
            key=lambda e: (
                e.arrival_at
                - (hall.policy.priority_head_start_s / hall.policy.aging_rate if e.priority else 0)
            ),
        )
        for entry in rest:
            ahead = called.get(entry.theme, 0)
            called[entry.theme] = ahead + 1
            interval = intervals.get(entry.theme)
            wait = None
            if interval is not None:
                base = last_call.get(entry.theme, now)
                last_call[entry.theme] = base + interval
                wait = base + interval - now
            estimates[entry.ticket_id] = Estimate(ahead + 1, ahead, wait)
    return Forecast(version=hall.version, at=now, estimates=estimates, intervals=intervals)
