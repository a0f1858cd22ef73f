"""Follow-ups of poor ratings (差评整改, DB44/T 2138 12.2), folded from their events.

A rating of 不满意 (2) or 非常不满意 (1) opens a follow-up with two deadlines: call the applicant
back, and put the cause right. A follow-up outlives the business day it was opened on, so it is
no part of the day's `Hall`: `FollowUps` is the fold of the follow-up events of every day.

Commands check against the current state and return the events they would leave; nothing
changes until the events are applied (`apply`), which the caller does once for every event it
commits (the service folds each batch of the hall's events, whatever command made it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import Conflict, InvalidCommand, NotFound
from .events import (
    CaseNumberRecorded,
    Event,
    FollowUpCalledBack,
    FollowUpOpened,
    FollowUpRectified,
    FollowUpRerated,
)

# The ratings that open a follow-up, and that keep one open when given again.
POOR_SCORES = frozenset({1, 2})
NOTE_MAX = 500
# The events the fold reads (a service loads these from the log of every day at start).
FOLLOWUP_EVENTS: tuple[type[Event], ...] = (
    FollowUpOpened,
    FollowUpCalledBack,
    FollowUpRectified,
    FollowUpRerated,
    CaseNumberRecorded,
)
FOLLOWUP_EVENT_NAMES = frozenset(cls.type_name for cls in FOLLOWUP_EVENTS)


def followup_id_of(ticket_id: str) -> str:
    """The follow-up of a ticket's poor rating (one rating per ticket, so one follow-up)."""
    return f"fu-{ticket_id}"


class FollowUpStatus(StrEnum):
    """Where a follow-up is: nobody called back yet, called back, put right and waiting for the
    applicant's new rating, or closed."""

    OPEN = "open"
    CALLED_BACK = "called_back"
    AWAITING_RATING = "awaiting_rating"
    CLOSED = "closed"


class Deadline(StrEnum):
    """How a follow-up stands against one of its deadlines."""

    MET = "met"
    MISSED = "missed"
    PENDING = "pending"  # not done yet, and not due yet


@dataclass(frozen=True, slots=True)
class Step:
    """One thing done on a follow-up: when, by whom, the note, and a score where one was given."""

    kind: str  # opened, called_back, rectified, rerated, case_number
    at: float
    by: str
    note: str = ""
    score: int | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """When a deadline's work was done, by whom, with what note."""

    at: float
    by: str
    note: str


@dataclass(slots=True)
class FollowUp:
    """One poor rating's follow-up and everything done on it."""

    id: str
    ticket_id: str
    number: str
    day: str
    theme: str
    window: str | None
    clerk: str | None
    score: int
    case_number: str | None
    opened_at: float
    opened_by: str
    callback_due: float
    rectify_due: float
    callback: Done | None = None  # the first callback: the one the deadline counts
    rectified: Done | None = None  # the latest rectification since the last poor new rating
    rating_asked: bool = False
    latest_score: int | None = None  # the applicant's latest new rating
    reopened: int = 0  # poor new ratings that kept it open
    closed: Done | None = None
    history: list[Step] = field(default_factory=list)

    @property
    def status(self) -> FollowUpStatus:
        """Where the follow-up is now."""
        if self.closed is not None:
            return FollowUpStatus.CLOSED
        if self.rectified is not None and self.rating_asked:
            return FollowUpStatus.AWAITING_RATING
        if self.callback is not None:
            return FollowUpStatus.CALLED_BACK
        return FollowUpStatus.OPEN

    def callback_overdue(self, at: float) -> bool:
        """The applicant is still to be called back, and the callback deadline has passed."""
        return self.closed is None and self.callback is None and at > self.callback_due

    def rectify_overdue(self, at: float) -> bool:
        """The follow-up is still open, and the rectification deadline has passed."""
        return self.closed is None and at > self.rectify_due

    def overdue(self, at: float) -> bool:
        """Either deadline has passed with its work not done."""
        return self.callback_overdue(at) or self.rectify_overdue(at)

    def next_due(self) -> float:
        """The deadline that comes next for an open follow-up."""
        return self.callback_due if self.callback is None else self.rectify_due

    def callback_outcome(self, at: float) -> Deadline:
        """Whether the applicant was called back in time (as known at `at`)."""
        if self.callback is not None:
            return Deadline.MET if self.callback.at <= self.callback_due else Deadline.MISSED
        if self.closed is not None or at > self.callback_due:
            return Deadline.MISSED  # closed without a callback, or not called back in time
        return Deadline.PENDING

    def rectify_outcome(self, at: float) -> Deadline:
        """Whether the follow-up was closed (put right, and passed) in time (as known at `at`)."""
        if self.closed is not None:
            return Deadline.MET if self.closed.at <= self.rectify_due else Deadline.MISSED
        return Deadline.MISSED if at > self.rectify_due else Deadline.PENDING


@dataclass(frozen=True, slots=True)
class FollowUpOutcome:
    """One follow-up as the efficiency report (效能评价报告) counts it: when it was opened,
    called back and closed, and whether each deadline was met."""

    followup: str
    ticket_id: str
    number: str
    day: str
    theme: str
    window: str | None
    clerk: str | None
    score: int
    case_number: str | None
    opened_at: float
    callback_due: float
    rectify_due: float
    called_back_at: float | None
    closed_at: float | None
    callback: Deadline
    rectification: Deadline
    latest_score: int | None
    status: FollowUpStatus


@dataclass(slots=True)
class FollowUps:
    """Every follow-up of the hall, open and closed, by id."""

    items: dict[str, FollowUp] = field(default_factory=dict)
    # Ticket id -> its follow-up's id (a case number recorded later reaches the follow-up).
    by_ticket: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def replay(cls, events: Iterable[Event]) -> FollowUps:
        """The follow-ups as `events` leave them (other events are ignored)."""
        fold = cls()
        for event in events:
            fold.apply(event)
        return fold

    # ----------------------------------------------------------------- reads

    def get(self, followup_id: str) -> FollowUp:
        """The follow-up with this id; NotFound otherwise."""
        found = self.items.get(followup_id)
        if found is None:
            raise NotFound(f'no follow-up "{followup_id[:64]}"', followup=followup_id[:64])
        return found

    def listed(self, status: str | None = None) -> list[FollowUp]:
        """Follow-ups, the open ones first (soonest deadline first), then the closed ones
        (latest closed first); `status` "open" or "closed" keeps only those."""
        open_ = sorted(
            (f for f in self.items.values() if f.closed is None),
            key=lambda f: (f.next_due(), f.opened_at, f.id),
        )
        closed = sorted(
            (f for f in self.items.values() if f.closed is not None),
            key=lambda f: (-(f.closed.at if f.closed else 0.0), f.id),
        )
        if status == "open":
            return open_
        if status == "closed":
            return closed
        return [*open_, *closed]

    def overdue(self, at: float) -> list[FollowUp]:
        """The open follow-ups past a deadline at `at`, the longest overdue first."""
        late = [f for f in self.items.values() if f.overdue(at)]
        return sorted(late, key=lambda f: (f.next_due(), f.id))

    def outcomes(self, first_day: str, last_day: str, *, at: float) -> list[FollowUpOutcome]:
        """The follow-ups opened on the business days `first_day`..`last_day` (YYYY-MM-DD,
        both included), oldest first, with whether each met its deadlines as known at `at`."""
        chosen = [f for f in self.items.values() if first_day <= f.day <= last_day]
        chosen.sort(key=lambda f: (f.opened_at, f.id))
        return [
            FollowUpOutcome(
                followup=f.id,
                ticket_id=f.ticket_id,
                number=f.number,
                day=f.day,
                theme=f.theme,
                window=f.window,
                clerk=f.clerk,
                score=f.score,
                case_number=f.case_number,
                opened_at=f.opened_at,
                callback_due=f.callback_due,
                rectify_due=f.rectify_due,
                called_back_at=f.callback.at if f.callback else None,
                closed_at=f.closed.at if f.closed else None,
                callback=f.callback_outcome(at),
                rectification=f.rectify_outcome(at),
                latest_score=f.latest_score,
                status=f.status,
            )
            for f in chosen
        ]

    # ----------------------------------------------------------------- commands

    def call_back(self, followup_id: str, note: str, *, at: float, actor: str) -> list[Event]:
        """Record that the applicant was called back (回访), with what was said."""
        found = self._open(followup_id, "record a callback for")
        note = _note(note, "a callback needs a note of what was said")
        return [FollowUpCalledBack(at=at, actor=actor, followup=found.id, note=note)]

    def rectify(
        self, followup_id: str, note: str, ask_rating: bool, *, at: float, actor: str
    ) -> list[Event]:
        """Record the cause put right (整改完成): closed, or, with `ask_rating`, waiting for
        the applicant's new rating."""
        found = self._open(followup_id, "close")
        note = _note(note, "closing needs a note of what was put right")
        return [
            FollowUpRectified(
                at=at, actor=actor, followup=found.id, note=note, ask_rating=ask_rating
            )
        ]

    def rerate(
        self, followup_id: str, score: int, note: str, *, at: float, actor: str
    ) -> list[Event]:
        """Record the applicant's new rating (1..5): a poor one keeps the follow-up open
        ("rated again until it passes"), any other closes it."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidCommand(
                "score must be an integer from 1 (非常不满意) to 5 (非常满意)", field="score"
            )
        found = self._open(followup_id, "rate again")
        note = note.strip()
        if len(note) > NOTE_MAX:
            raise InvalidCommand(f"the note is longer than {NOTE_MAX} characters", field="note")
        return [FollowUpRerated(at=at, actor=actor, followup=found.id, score=score, note=note)]

    def _open(self, followup_id: str, action: str) -> FollowUp:
        found = self.get(followup_id)
        if found.closed is not None:
            raise Conflict(
                f"follow-up of {found.number} ({found.day}) is closed: nothing to {action}",
                followup=found.id,
            )
        return found

    # ----------------------------------------------------------------- the fold

    def apply(self, event: Event) -> None:
        """Fold one event; events that are not about follow-ups are ignored."""
        handler = _APPLY.get(type(event))
        if handler is not None:
            handler(self, event)
            self.version += 1

    def _on_opened(self, e: Any) -> None:
        self.items[e.followup] = FollowUp(
            id=e.followup,
            ticket_id=e.ticket_id,
            number=e.number,
            day=e.day,
            theme=e.theme,
            window=e.window,
            clerk=e.clerk,
            score=e.score,
            case_number=e.case_number,
            opened_at=e.at,
            opened_by=e.actor,
            callback_due=e.callback_due,
            rectify_due=e.rectify_due,
            history=[Step("opened", e.at, e.actor, score=e.score)],
        )
        self.by_ticket[e.ticket_id] = e.followup

    def _on_called_back(self, e: Any) -> None:
        found = self.items[e.followup]
        if found.callback is None:
            found.callback = Done(e.at, e.actor, e.note)
        found.history.append(Step("called_back", e.at, e.actor, e.note))

    def _on_rectified(self, e: Any) -> None:
        found = self.items[e.followup]
        found.rectified = Done(e.at, e.actor, e.note)
        found.rating_asked = e.ask_rating
        if not e.ask_rating:
            found.closed = Done(e.at, e.actor, e.note)
        found.history.append(Step("rectified", e.at, e.actor, e.note))

    def _on_rerated(self, e: Any) -> None:
        found = self.items[e.followup]
        found.latest_score = e.score
        # The applicant was reached: a callback, if none was recorded before.
        if found.callback is None:
            found.callback = Done(e.at, e.actor, e.note)
        if e.score in POOR_SCORES:
            # Not passed: it is to be put right again (and rated again).
            found.rectified = None
            found.rating_asked = False
            found.reopened += 1
        else:
            found.closed = Done(e.at, e.actor, e.note)
        found.history.append(Step("rerated", e.at, e.actor, e.note, e.score))

    def _on_case_number(self, e: Any) -> None:
        followup_id = self.by_ticket.get(e.ticket_id)
        if followup_id is not None:
            found = self.items[followup_id]
            found.case_number = e.case_number
            found.history.append(Step("case_number", e.at, e.actor, e.case_number))


def _note(note: str, missing: str) -> str:
    text = note.strip()
    if not text:
        raise InvalidCommand(missing, field="note")
    if len(text) > NOTE_MAX:
        raise InvalidCommand(f"the note is longer than {NOTE_MAX} characters", field="note")
    return text


_APPLY: dict[type[Event], Any] = {
    FollowUpOpened: FollowUps._on_opened,
    FollowUpCalledBack: FollowUps._on_called_back,
    FollowUpRectified: FollowUps._on_rectified,
    FollowUpRerated: FollowUps._on_rerated,
    CaseNumberRecorded: FollowUps._on_case_number,
}
