"""Every change to the hall is one of these events; the day's state is their fold."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple


class Candidate(NamedTuple):
    """One ticket the policy weighed for a call, with the parts of its score.

    A named tuple, not a dataclass: calls record several, and a tuple goes to JSON and back
    (event log, snapshots) without a per-field copy.
    """

    ticket_id: str
    number: str
    theme: str
    priority: str | None
    waited_s: float
    aging: float
    head_start: float
    preference: float
    score: float
    # Seconds past the hard maximum wait (negative: still within it).
    overdue_s: float
    appointment_due: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened in the hall: when, and who or what did it."""

    type_name: ClassVar[str] = "Event"
    at: float
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _NumberGiven(Event):
    """A theme's next number given out: what an issued and a reserved ticket both record."""

    ticket_id: str
    number: str
    serial: int
    theme: str
    priority: str | None
    channel: str
    appointment_at: float | None = None
    age_band: str | None = None
    person_hash: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketIssued(_NumberGiven):
    """A ticket was issued (取号)."""

    type_name: ClassVar[str] = "TicketIssued"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketReserved(_NumberGiven):
    """A kiosk took a number to print; the ticket is issued only once the print is confirmed."""

    type_name: ClassVar[str] = "TicketReserved"
    printer: str | None = None  # the device printing it


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketVoided(Event):
    """A reserved number was given up (its print failed): never issued, never reused."""

    type_name: ClassVar[str] = "TicketVoided"
    ticket_id: str
    number: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketReprinted(Event):
    """A waiting ticket was printed again (补打), by whom and on which printer."""

    type_name: ClassVar[str] = "TicketReprinted"
    ticket_id: str
    printer: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCalled(Event):
    """A window called a ticket (叫号), with the rule that chose it and what it weighed."""

    type_name: ClassVar[str] = "TicketCalled"
    ticket_id: str
    window: str
    rule: str
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRecalled(Event):
    """A window announced its called ticket again (重呼)."""

    type_name: ClassVar[str] = "TicketRecalled"
    ticket_id: str
    window: str
    recalls: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted(Event):
    """The called applicant arrived and service began."""

    type_name: ClassVar[str] = "ServiceStarted"
    ticket_id: str
    window: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFinished(Event):
    """Service of a ticket ended."""

    type_name: ClassVar[str] = "ServiceFinished"
    ticket_id: str
    window: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketNoShow(Event):
    """The called applicant did not come (过号); `automatic` when the recall limit ran out."""

    type_name: ClassVar[str] = "TicketNoShow"
    ticket_id: str
    window: str
    automatic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketHeld(Event):
    """A window set its ticket aside (e.g. a missing document); the window is free again."""

    type_name: ClassVar[str] = "TicketHeld"
    ticket_id: str
    window: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketReturned(Event):
    """A held ticket came back to wait, for the window that held it."""

    type_name: ClassVar[str] = "TicketReturned"
    ticket_id: str
    window: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTransferred(Event):
    """A ticket moved to another theme or window, keeping its arrival time and priority."""

    type_name: ClassVar[str] = "TicketTransferred"
    ticket_id: str
    from_window: str | None
    to_theme: str
    to_window: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketContinued(Event):
    """A served ticket went on to its visit's next stage (intake -> pick-up, reception ->
    window): the service at `window` is over, and the ticket waits again in `to_theme` (for
    `to_window` if given), keeping its arrival time and priority (受审分离, 9.3)."""

    type_name: ClassVar[str] = "TicketContinued"
    ticket_id: str
    window: str
    to_theme: str
    to_window: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCancelled(Event):
    """A ticket was withdrawn."""

    type_name: ClassVar[str] = "TicketCancelled"
    ticket_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRated(Event):
    """The applicant rated the service on the national five-level scale (5 = 非常满意)."""

    type_name: ClassVar[str] = "TicketRated"
    ticket_id: str
    window: str | None
    score: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowOpened(Event):
    """A window opened for calls."""

    type_name: ClassVar[str] = "WindowOpened"
    window: str
    reason: str = ""  # why, when a manager did it (a clerk need not say)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowClosed(Event):
    """A window closed."""

    type_name: ClassVar[str] = "WindowClosed"
    window: str
    reason: str = ""  # why, when a manager did it (a clerk need not say)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowPaused(Event):
    """A window stopped calling for a while (暂停), with the reason."""

    type_name: ClassVar[str] = "WindowPaused"
    window: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowResumed(Event):
    """A paused window resumed calling."""

    type_name: ClassVar[str] = "WindowResumed"
    window: str
    reason: str = ""  # why, when a manager did it (a clerk need not say)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentBooked(Event):
    """A booking (预约) of a theme and a time slot of this business day; the applicant is
    named by a booking code and/or the keyed hash of an ID number (never the number)."""

    type_name: ClassVar[str] = "AppointmentBooked"
    booking_id: str
    theme: str
    slot_at: float
    code: str | None = None
    person_hash: str | None = None
    priority: str | None = None
    channel: str = "api"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentCancelled(Event):
    """A booking was withdrawn before its check-in."""

    type_name: ClassVar[str] = "AppointmentCancelled"
    booking_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentCheckedIn(Event):
    """The booked applicant checked in and got `ticket_id`; `late`: after the late window, so
    the ticket is a walk-in one."""

    type_name: ClassVar[str] = "AppointmentCheckedIn"
    booking_id: str
    ticket_id: str
    late: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentMissed(Event):
    """Nobody checked in for a booking by its slot plus the late window (noticed at `at`)."""

    type_name: ClassVar[str] = "AppointmentMissed"
    booking_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EmergencyStarted(Event):
    """A manager declared an emergency (or a drill): the hall display shows `message` over
    everything and no new tickets are issued until it ends."""

    type_name: ClassVar[str] = "EmergencyStarted"
    message: str
    drill: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EmergencyEnded(Event):
    """The emergency (or drill) is over: the hall works as before."""

    type_name: ClassVar[str] = "EmergencyEnded"


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingRequested(Event):
    """A window asked its applicant to rate the service of `ticket_id` (served or just
    finished there): the window's rating pad shows its prompt."""

    type_name: ClassVar[str] = "RatingRequested"
    window: str
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn(Event):
    """Someone signed in: a clerk at a window, a kiosk, a manager or a technician."""

    type_name: ClassVar[str] = "SignedIn"
    account: str
    role: str
    window: str | None = None
    kiosk: str | None = None
    # The clerk signed in at the window until now, whose window and call pad this one takes
    # over (同岗替代, 10.3.5); None when the window had no clerk.
    took_over_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedOut(Event):
    """A session ended: signed out, expired, or replaced by another clerk at the window."""

    type_name: ClassVar[str] = "SignedOut"
    account: str
    role: str
    window: str | None = None
    kiosk: str | None = None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInRefused(Event):
    """A sign-in was refused (wrong secret, no such account, not allowed there, locked)."""

    type_name: ClassVar[str] = "SignInRefused"
    account: str
    role: str | None = None
    window: str | None = None
    kiosk: str | None = None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketPrioritised(Event):
    """A manager moved a waiting ticket into a priority group (None: back to regular)."""

    type_name: ClassVar[str] = "TicketPrioritised"
    ticket_id: str
    priority: str | None
    previous: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyChanged(Event):
    """A manager changed the calling policy: the changed settings' new and previous values.

    Keys are the names of `Policy`'s fields, and "max_wait_s" maps theme ids to seconds.
    """

    type_name: ClassVar[str] = "PolicyChanged"
    changes: dict[str, Any]
    previous: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpRequested(Event):
    """A kiosk paged the floor staff (需要帮助); the page is open until acknowledged."""

    type_name: ClassVar[str] = "HelpRequested"
    alert: str  # "help-1", "help-2" ... in the day's order
    kiosk: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged(Event):
    """A manager acknowledged an alert: a help page, a wait over target, a device down."""

    type_name: ClassVar[str] = "AlertAcknowledged"
    alert: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseNumberRecorded(Event):
    """Staff recorded the case number (办件编号) of a service: the window's current ticket or
    the one it has just finished (a later one for the same ticket corrects it)."""

    type_name: ClassVar[str] = "CaseNumberRecorded"
    ticket_id: str
    window: str
    case_number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingWaived(Event):
    """A manager let a window call again without asking for the rating of the service it
    finished (`ticket_id`), where the hall requires that rating first; with the reason."""

    type_name: ClassVar[str] = "RatingWaived"
    window: str
    ticket_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpOpened(Event):
    """A poor rating (不满意 or 非常不满意) opened a follow-up (整改, 12.2): the applicant is to be
    called back by `callback_due` and the cause put right by `rectify_due` (epoch seconds)."""

    type_name: ClassVar[str] = "FollowUpOpened"
    followup: str
    ticket_id: str
    number: str
    day: str  # the business day of the ticket and its rating
    theme: str
    window: str | None
    clerk: str | None  # the account signed in at the window when it was rated
    score: int
    case_number: str | None
    callback_due: float
    rectify_due: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpCalledBack(Event):
    """The applicant of a follow-up was called back (回访), with what was said."""

    type_name: ClassVar[str] = "FollowUpCalledBack"
    followup: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpRectified(Event):
    """The cause of a follow-up was put right (整改完成), with a note: the follow-up is closed,
    or, with `ask_rating`, waits for the applicant's new rating."""

    type_name: ClassVar[str] = "FollowUpRectified"
    followup: str
    note: str
    ask_rating: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpRerated(Event):
    """The applicant rated the service again for a follow-up (1..5, told on a callback): a
    poor score keeps it open, any other closes it."""

    type_name: ClassVar[str] = "FollowUpRerated"
    followup: str
    score: int
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalDataPurged(Event):
    """The personal fields of ended business days left the event log (retention): per day,
    how many events lost them and how many snapshots and stored replies went; never whose."""

    type_name: ClassVar[str] = "PersonalDataPurged"
    days: dict[str, dict[str, int]]  # day -> {"events": n, "snapshots": n, "replies": n}
    fields: dict[str, list[str]]  # event type -> the fields removed


# The fields that name a person, by event type: kept while their business day needs them,
# then removed by the retention purge. A booking's day is its slot's, so a booking for a
# later day keeps them until that day has ended.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "TicketIssued": ("person_hash",),
    "TicketReserved": ("person_hash",),
    "AppointmentBooked": ("code", "person_hash"),
}
# Staff's free text about an applicant (a follow-up's notes) and the case number that leads to
# the applicant's file: in the audit trail, never on public screens or beyond the hall.
STAFF_ONLY_FIELDS = ("note", "case_number")


# What the audit trail records of who signs in (HallService.record_access).
AccessEvent = SignedIn | SignedOut | SignInRefused

_ENVELOPE = frozenset({"at", "actor"})

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        TicketIssued,
        TicketReserved,
        TicketVoided,
        TicketReprinted,
        TicketCalled,
        TicketRecalled,
        ServiceStarted,
        ServiceFinished,
        TicketNoShow,
        TicketHeld,
        TicketReturned,
        TicketTransferred,
        TicketContinued,
        TicketCancelled,
        TicketRated,
        WindowOpened,
        WindowClosed,
        WindowPaused,
        WindowResumed,
        AppointmentBooked,
        AppointmentCancelled,
        AppointmentCheckedIn,
        AppointmentMissed,
        TicketPrioritised,
        PolicyChanged,
        HelpRequested,
        AlertAcknowledged,
        EmergencyStarted,
        EmergencyEnded,
        RatingRequested,
        SignedIn,
        SignedOut,
        SignInRefused,
        CaseNumberRecorded,
        RatingWaived,
        FollowUpOpened,
        FollowUpCalledBack,
        FollowUpRectified,
        FollowUpRerated,
        PersonalDataPurged,
    )
}


class UnknownEventType(ValueError):
    """A stored record names an event type this version does not know."""


# Each event type's own field names, looked up once: dataclasses.fields() is slow per call.
_DATA_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls) if f.name not in _ENVELOPE)
    for cls in EVENT_TYPES.values()
}


def event_data(event: Event) -> dict[str, Any]:
    """The event's own fields as a JSON-ready dict (without `at` and `actor`)."""
    # Candidates are named tuples: JSON writes them as arrays as they are.
    return {name: getattr(event, name) for name in _DATA_FIELDS[type(event)]}


def event_from_data(type_name: str, at: float, actor: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored type name, envelope and data."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventType(type_name)
    fields = dict(data)
    if "candidates" in fields:
        fields["candidates"] = tuple(Candidate(*row) for row in fields["candidates"])
    return cls(at=at, actor=actor, **fields)
