"""Position, people ahead and estimated wait of every waiting ticket, from the policy itself.

The forecast plays the real policy forward: each open window calls what `choose_next` would
give it whenever it becomes free, and each service lasts the theme's expected time (today's
observations, else the configured default). No new arrivals are assumed.

It simulates at most `horizon` calls. Those calls can only take tickets from the first
`horizon` places of each line, so the simulation copies just those: its cost does not grow
with the length of the queues. Tickets beyond the horizon, and tickets newer than the
forecast, are placed by their rank in their line and extrapolated at the rate the simulation
reached for their theme.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from dataclasses import dataclass, field

from .hall import Hall
from .model import TicketStatus, WindowStatus
from .policy import choose_next, reach
from .queues import Line, QueueBook, QueueEntry

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
    """The simulated calls at `version` of the hall's state, and the rates to extrapolate by."""

    version: int
    at: float
    # Tickets the simulation called: their place and wait as of `at`.
    estimates: dict[str, Estimate]
    # Seconds between calls of each theme over its open windows (None: no window serves it).
    intervals: dict[str, float | None] = field(default_factory=dict)
    # Per theme: how many tickets the simulation called, and when it called the last one.
    simulated: dict[str, int] = field(default_factory=dict)
    last_call: dict[str, float] = field(default_factory=dict)

    def estimate(self, hall: Hall, ticket_id: str, now: float) -> Estimate | None:
        """A waiting ticket's estimate as of `now`; None when the ticket is not waiting."""
        known = self.estimates.get(ticket_id)
        if known is not None:
            if known.wait_s is None:
                return known
            return Estimate(known.position, known.ahead, max(0.0, known.wait_s - (now - self.at)))
        ticket = hall.tickets.get(ticket_id)
        if ticket is None or ticket.status is not TicketStatus.WAITING:
            return None
        entry, window = hall.book.entry(ticket_id)
        if window is not None:
            line = hall.book.window_line(window)
            ahead = bisect_left(line.regular, entry) + bisect_left(line.priority, entry)
            expected = hall.service_time_s(entry.theme)
            return Estimate(ahead + 1, ahead, ahead * expected)
        return self.estimate_entry(hall, entry, now)

    def estimate_entry(self, hall: Hall, entry: QueueEntry, now: float) -> Estimate:
        """Where a ticket with this entry stands (or would, if it is still being printed)."""
        ahead = queue_rank(hall, entry)
        if entry.theme in self.intervals:
            interval = self.intervals[entry.theme]
        else:
            interval = _interval(hall, entry.theme, _reaches(hall, _serving_windows(hall)))
        if interval is None:
            return Estimate(ahead + 1, ahead, None)
        simulated = self.simulated.get(entry.theme, 0)
        if simulated == 0:
            wait = ahead * interval
        else:
            # After the last simulated call of this theme, one call per interval.
            behind_last = max(1, ahead - simulated + 1)
            wait = self.last_call[entry.theme] + behind_last * interval - now
        return Estimate(ahead + 1, ahead, max(0.0, wait))


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


def _reaches(
    hall: Hall, windows: list[str], standing_in: dict[str, tuple[str, ...]] | None = None
) -> dict[str, dict[str, bool]]:
    """What each of these windows calls from (see `policy.reach`)."""
    if standing_in is None:
        standing_in = {w: hall.standing_in(w) for w in windows}
    return {w: reach(hall.config, w, standing_in[w]) for w in windows}


def _interval(hall: Hall, theme: str, reaches: dict[str, dict[str, bool]]) -> float | None:
    serving = [w for w, themes in reaches.items() if themes.get(theme)]
    if not serving:
        return None
    return hall.service_time_s(theme) / len(serving)


def _head_copy(book: QueueBook, places: int, themes: set[str], windows: set[str]) -> QueueBook:
    """The first `places` entries of the lines these windows serve: all a simulation reaches."""
    copy = QueueBook()
    for theme in themes:
        line = book.themes.get(theme)
        if line is not None:
            copy.themes[theme] = Line(line.regular[:places], line.priority[:places])
    for window in windows:
        line = book.windows.get(window)
        if line is not None:
            copy.windows[window] = Line(line.regular[:places], line.priority[:places])
    for line in copy.themes.values():
        for entry in (*line.regular, *line.priority):
            copy.where[entry.ticket_id] = (entry, None)
    for window, line in copy.windows.items():
        for entry in (*line.regular, *line.priority):
            copy.where[entry.ticket_id] = (entry, window)
    for theme, slots in book.appointments.items():
        if theme not in themes:
            continue
        # Late appointments can sit in front of the due ones: keep a margin of them.
        kept = slots[: 2 * places]
        copy.appointments[theme] = list(kept)
        line = copy.themes.setdefault(theme, Line())
        for _slot, entry in kept:
            if entry.ticket_id not in copy.where:
                insort(line.side(entry), entry)
                copy.where[entry.ticket_id] = (entry, None)
    return copy


def forecast(hall: Hall, now: float, horizon: int = DEFAULT_HORIZON) -> Forecast:
    """Simulate the policy over the open windows for up to `horizon` calls."""
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

    # What each open window calls from: its themes, the themes it stands in for (同岗替代),
    # and for the personalised-service post every theme's priority line.
    standing_in = {w: hall.standing_in(w) for w in windows}
    reaches = _reaches(hall, windows, standing_in)
    served = {t for themes in reaches.values() for t in themes}
    book = _head_copy(hall.book, horizon, served, set(windows))
    estimates: dict[str, Estimate] = {}
    called: dict[str, int] = {}
    last_call: dict[str, float] = {}
    calls = 0
    while free and calls < horizon and len(book):
        at, window_id = heapq.heappop(free)
        decision = choose_next(
            hall.config, hall.policy, book, window_id, streak[window_id], at, standing_in[window_id]
        )
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

    intervals = {t.id: _interval(hall, t.id, reaches) for t in hall.config.themes}
    return Forecast(
        version=hall.version,
        at=now,
        estimates=estimates,
        intervals=intervals,
        simulated=called,
        last_call=last_call,
    )
