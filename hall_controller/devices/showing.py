"""Derives what each window's devices should show from the hall's state and its new events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from hall_controller.core.events import (
    Event,
    RatingRequested,
    ServiceFinished,
    TicketCalled,
    TicketRated,
    TicketRecalled,
)
from hall_controller.core.hall import Hall
from hall_controller.devices.model import WindowShowing


class ShowingTracker:
    """The current WindowShowing of every window that has devices; tells which ones changed."""

    def __init__(self, windows: Iterable[str]) -> None:
        self.showing: dict[str, WindowShowing] = {
            w: WindowShowing(w, "closed", None, None, False, 0, "idle", None, None) for w in windows
        }
        # Ticket id -> the windows showing it (called, served or being rated): an event about
        # a ticket finds its boards without a scan of every window.
        self._windows_of: dict[str, set[str]] = {}

    def _set(self, showing: WindowShowing) -> None:
        before = self.showing[showing.window]
        for ticket_id in {before.ticket_id, before.rating_ticket} - {None}:
            assert ticket_id is not None
            windows = self._windows_of.get(ticket_id)
            if windows is not None:
                windows.discard(showing.window)
                if not windows:
                    del self._windows_of[ticket_id]
        self.showing[showing.window] = showing
        for ticket_id in {showing.ticket_id, showing.rating_ticket} - {None}:
            assert ticket_id is not None
            self._windows_of.setdefault(ticket_id, set()).add(showing.window)

    def reset(self, hall: Hall) -> list[WindowShowing]:
        """Recompute every window from the hall (start of day, restart); returns them all.

        A rating a clerk asked for and not yet given is asked again."""
        for window in list(self.showing):
            showing = self._from_hall(hall, self.showing[window], blink=False)
            requested = hall.tickets.get(hall.rating_requests.get(window, ""))
            if requested is not None and requested.rating is None:
                showing = replace(
                    showing,
                    rating="asking",
                    rating_ticket=requested.id,
                    rating_number=requested.number,
                )
            self._set(showing)
        return list(self.showing.values())

    def apply(self, hall: Hall, events: Sequence[Event]) -> list[WindowShowing]:
        """Fold committed `events` (already applied to `hall`); the showings that changed."""
        touched: dict[str, bool] = {}  # window -> blink
        rated: set[str] = set()
        # Window -> the ticket whose rating it asks for now: after a finish, or on request.
        finished: dict[str, str] = {}
        for event in events:
            window = getattr(event, "window", None)
            if isinstance(event, TicketCalled | TicketRecalled):
                touched[event.window] = True
            elif isinstance(event, ServiceFinished | RatingRequested):
                finished[event.window] = event.ticket_id
            elif isinstance(event, TicketRated):
                rated.add(event.ticket_id)
            if isinstance(window, str) and window in self.showing:
                touched.setdefault(window, False)
            ticket_id = getattr(event, "ticket_id", None)
            if ticket_id is not None:
                # Events without a window (no-show, transfer, cancel) still clear a board.
                for w in self._windows_of.get(ticket_id, ()):
                    touched.setdefault(w, False)
        changed: list[WindowShowing] = []
        for window, blink in touched.items():
            before = self.showing.get(window)
            if before is None:
                continue
            after = self._from_hall(hall, before, blink=blink)
            if window in finished:
                ticket = hall.tickets.get(finished[window])
                after = replace(
                    after,
                    rating="asking",
                    rating_ticket=finished[window],
                    rating_number=ticket.number if ticket is not None else None,
                )
            elif blink and after.rating == "asking":
                after = replace(after, rating="idle", rating_ticket=None, rating_number=None)
            if after.rating_ticket is not None and after.rating_ticket in rated:
                after = replace(after, rating="idle", rating_ticket=None, rating_number=None)
            if after != before:
                self._set(after)
                changed.append(after)
        return changed

    def stop_asking(self, window: str) -> WindowShowing | None:
        """The rating pad goes idle (rated, or asked too long ago)."""
        before = self.showing.get(window)
        if before is None or before.rating == "idle":
            return None
        after = replace(before, rating="idle", rating_ticket=None, rating_number=None)
        self._set(after)
        return after

    @staticmethod
    def _from_hall(hall: Hall, before: WindowShowing, *, blink: bool) -> WindowShowing:
        state = hall.windows.get(before.window)
        ticket = hall.current_ticket(before.window) if state is not None else None
        return replace(
            before,
            status=state.status.value if state is not None else "closed",
            ticket=ticket.number if ticket is not None else None,
            ticket_id=ticket.id if ticket is not None else None,
            blink=blink,
            call_count=before.call_count + (1 if blink else 0),
        )
