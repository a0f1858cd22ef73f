"""The waiting lines: every waiting ticket, indexed the way the policy reads them."""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import NamedTuple


class QueueEntry(NamedTuple):
    """A waiting ticket as the policy sees it; sorts by arrival time, then ticket id."""

    arrival_at: float
    ticket_id: str
    number: str
    theme: str
    priority: str | None
    appointment_at: float | None


@dataclass(slots=True)
class Line:
    """One queue (a theme's, or the tickets sent to one window), split by class, oldest first."""

    regular: list[QueueEntry] = field(default_factory=list)
    priority: list[QueueEntry] = field(default_factory=list)

    def side(self, entry: QueueEntry) -> list[QueueEntry]:
        """The list this entry belongs in."""
        return self.priority if entry.priority is not None else self.regular

    def __len__(self) -> int:
        return len(self.regular) + len(self.priority)

    def copy(self) -> Line:
        """An independent copy (the entries themselves are immutable)."""
        return Line(list(self.regular), list(self.priority))


def _remove(items: list[QueueEntry], entry: QueueEntry) -> None:
    index = bisect_left(items, entry)
    if index == len(items) or items[index] != entry:
        raise KeyError(entry.ticket_id)
    del items[index]


@dataclass(slots=True)
class QueueBook:
    """All waiting tickets: per-theme lines, per-window lines, and due-time order of appointments.

    A ticket sent to a particular window waits in that window's line only; any other
    waiting ticket waits in its theme's line. Appointments are also indexed by their slot.
    """

    themes: dict[str, Line] = field(default_factory=dict)
    windows: dict[str, Line] = field(default_factory=dict)
    appointments: dict[str, list[tuple[float, QueueEntry]]] = field(default_factory=dict)
    where: dict[str, tuple[QueueEntry, str | None]] = field(default_factory=dict)

    def add(self, entry: QueueEntry, window: str | None = None) -> None:
        """Put a ticket in line: its window's line when sent to a window, else its theme's."""
        if entry.ticket_id in self.where:
            raise ValueError(f"ticket {entry.ticket_id} is already waiting")
        line = self.window_line(window) if window is not None else self.theme_line(entry.theme)
        insort(line.side(entry), entry)
        if entry.appointment_at is not None and window is None:
            insort(self.appointments.setdefault(entry.theme, []), (entry.appointment_at, entry))
        self.where[entry.ticket_id] = (entry, window)

    def remove(self, ticket_id: str) -> QueueEntry:
        """Take a ticket out of every index; KeyError when it is not waiting."""
        entry, window = self.where.pop(ticket_id)
        line = self.window_line(window) if window is not None else self.theme_line(entry.theme)
        _remove(line.side(entry), entry)
        if entry.appointment_at is not None and window is None:
            slots = self.appointments[entry.theme]
            index = bisect_left(slots, (entry.appointment_at, entry))
            del slots[index]
        return entry

    def theme_line(self, theme: str) -> Line:
        """The theme's line (created empty on first use)."""
        line = self.themes.get(theme)
        if line is None:
            line = self.themes[theme] = Line()
        return line

    def window_line(self, window: str) -> Line:
        """The line of tickets sent to this window (created empty on first use)."""
        line = self.windows.get(window)
        if line is None:
            line = self.windows[window] = Line()
        return line

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self.where

    def __len__(self) -> int:
        return len(self.where)

    def entry(self, ticket_id: str) -> tuple[QueueEntry, str | None]:
        """The ticket's entry and the window it waits for (None: its theme's line)."""
        return self.where[ticket_id]

    def waiting_in_theme(self, theme: str) -> int:
        """Tickets of this theme waiting anywhere (theme line and window lines)."""
        count = len(self.themes[theme]) if theme in self.themes else 0
        for line in self.windows.values():
            count += sum(1 for e in line.regular if e.theme == theme)
            count += sum(1 for e in line.priority if e.theme == theme)
        return count

    def copy(self) -> QueueBook:
        """An independent copy for simulation."""
        return QueueBook(
            themes={k: v.copy() for k, v in self.themes.items()},
            windows={k: v.copy() for k, v in self.windows.items()},
            appointments={k: list(v) for k, v in self.appointments.items()},
            where=dict(self.where),
        )
