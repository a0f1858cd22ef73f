"""The hall's day: tickets and windows, the commands that change them and the events they leave.

Every command checks everything first and only then applies its events, so a refused command
changes nothing. `apply` is also how a day is rebuilt from the log.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from .bookings import (
    AppointmentTooEarly,
    Booking,
    BookingProblem,
    BookingRequest,
    BookingsRefused,
    BookingStatus,
    booking_id_of,
    normalise_code,
)
from .calendar import business_day, local_datetime
from .capacity import check_capacity
from .errors import Conflict, InvalidCommand, NotFound, ThemeUnavailable
from .events import (
    AccessEvent,
    AlertAcknowledged,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentMissed,
    Candidate,
    CaseNumberRecorded,
    EmergencyEnded,
    EmergencyStarted,
    Event,
    FollowUpCalledBack,
    FollowUpOpened,
    FollowUpRectified,
    FollowUpRerated,
    HelpRequested,
    PersonalDataPurged,
    PolicyChanged,
    RatingRequested,
    RatingWaived,
    ServiceFinished,
    ServiceStarted,
    SignedIn,
    SignedOut,
    SignInRefused,
    TicketCalled,
    TicketCancelled,
    TicketContinued,
    TicketHeld,
    TicketIssued,
    TicketNoShow,
    TicketPrioritised,
    TicketRated,
    TicketRecalled,
    TicketReprinted,
    TicketReserved,
    TicketReturned,
    TicketTransferred,
    TicketVoided,
    WindowClosed,
    WindowOpened,
    WindowPaused,
    WindowResumed,
)
from .followups import POOR_SCORES, followup_id_of
from .model import (
    ACTIVE_TICKET_STATUSES,
    POLICY_RANGES,
    THEME_MAX_WAIT_RANGE,
    HallConfig,
    Policy,
    SettingRange,
    TicketStatus,
    WindowStatus,
)
from .policy import Decision, Rule, assess, choose_next, preference_bonuses, upcoming
from .queues import QueueBook, QueueEntry

RATING_SCALE = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
# The same five levels in English.
RATING_SCALE_EN = {
    5: "very satisfied",
    4: "satisfied",
    3: "fairly satisfied",
    2: "dissatisfied",
    1: "very dissatisfied",
}
# The hall display lists this many of the day's latest no-shows (过号).
MISSED_KEPT = 12
# A case number (办件编号) as staff type it: letters, digits and "-", e.g. 44030020261128000123.
CASE_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,40}$")


class EmergencyInProgress(Conflict):
    """No new ticket while an emergency (or a drill) is declared."""

    code = "emergency"


class RatingRequired(Conflict):
    """The window finished a service and must ask for its rating before it calls again."""

    code = "rating_required"


@dataclass(frozen=True, slots=True)
class Emergency:
    """A declared emergency or drill: what the hall display says, since when, declared by whom."""

    message: str
    drill: bool
    since: float
    by: str


@dataclass(slots=True)
class Ticket:
    """One ticket of the day and everything that happened to it."""

    id: str
    number: str
    serial: int
    theme: str
    priority: str | None
    channel: str
    arrival_at: float
    appointment_at: float | None = None
    age_band: str | None = None
    person_hash: str | None = None
    status: TicketStatus = TicketStatus.WAITING
    window: str | None = None
    target_window: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    recalls: int = 0
    calls: int = 0
    transfers: int = 0
    stage: int = 1  # the visit's stage: 2 once it went on from intake to pick-up, and so on
    rating: int | None = None
    rule: str | None = None
    candidates: tuple[Candidate, ...] = ()

    def queue_entry(self) -> QueueEntry:
        """This ticket as the waiting lines hold it."""
        return QueueEntry(
            self.arrival_at,
            self.id,
            self.number,
            self.theme,
            self.priority,
            self.appointment_at,
        )


@dataclass(slots=True)
class WindowState:
    """A window's status today, the ticket it holds and its run of priority calls."""

    id: str
    status: WindowStatus = WindowStatus.CLOSED
    pause_reason: str | None = None
    ticket_id: str | None = None
    priority_streak: int = 0
    served: int = 0
    clerk: str | None = None  # the account signed in at the window, if any


@dataclass(slots=True)
class ServiceStats:
    """Observed service durations of one theme today."""

    count: int = 0
    total_s: float = 0.0

    def mean_s(self, default_s: float) -> float:
        """The observed mean, blended with the configured default until a few are seen."""
        # Two or three services say little; lean on the configured default until then.
        weight = min(self.count, 3)
        if self.count == 0:
            return default_s
        observed = self.total_s / self.count
        return (observed * weight + default_s * (3 - weight)) / 3


@dataclass(frozen=True, slots=True)
class HelpPage:
    """A kiosk's call for the floor staff (需要帮助): its alert id, the kiosk, when and who."""

    alert: str
    kiosk: str
    at: float
    actor: str


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A manager's acknowledgement of an alert: when, who, and an optional note."""

    at: float
    actor: str
    note: str


def ticket_id_of(day: str, number: str) -> str:
    """A ticket's id: its business day and number, e.g. 20261128-A012."""
    return f"{day.replace('-', '')}-{number}"


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


@dataclass(slots=True)
class Hall:
    """The state of one hall for one business day, and the commands that change it."""

    config: HallConfig
    day: str
    tz: tzinfo
    policy: Policy = field(default_factory=Policy)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    windows: dict[str, WindowState] = field(default_factory=dict)
    book: QueueBook = field(default_factory=QueueBook)
    serials: dict[str, int] = field(default_factory=dict)
    service: dict[str, ServiceStats] = field(default_factory=dict)
    # Active tickets per (keyed person hash, theme); a set, as a transfer can bring a second.
    active_people: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # Declared by a manager: the display shows it over everything; no new tickets meanwhile.
    emergency: Emergency | None = None
    # The day's latest no-shows (ticket ids), newest last, at most MISSED_KEPT.
    missed: list[str] = field(default_factory=list)
    # Window -> the ticket whose rating it asked for, until rated or the window calls again.
    rating_requests: dict[str, str] = field(default_factory=dict)
    # Window -> the ticket it called last (a rating may be asked for it once it is finished).
    last_called: dict[str, str] = field(default_factory=dict)
    # The kiosks' help pages of the day by alert id, and the alerts acknowledged (any kind).
    help_pages: dict[str, HelpPage] = field(default_factory=dict)
    acknowledged: dict[str, Acknowledgement] = field(default_factory=dict)
    # When and by whom the policy was last changed today (None: as configured).
    policy_changed: tuple[float, str] | None = None
    # The day's appointments by booking id, and the codes of those not cancelled.
    bookings: dict[str, Booking] = field(default_factory=dict)
    booking_codes: dict[str, str] = field(default_factory=dict)
    # Ticket -> the case number (办件编号) staff recorded for it.
    case_numbers: dict[str, str] = field(default_factory=dict)
    # Window -> the finished service a manager let it leave unrated (require_before_next).
    rating_waivers: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def new_day(cls, config: HallConfig, day: str, tz: tzinfo) -> Hall:
        """A fresh day: no tickets, every window closed."""
        hall = cls(config=config, day=day, tz=tz, policy=config.policy)
        for window in config.windows:
            hall.windows[window.id] = WindowState(window.id)
        for theme in config.themes:
            hall.serials[theme.id] = 0
            hall.service[theme.id] = ServiceStats()
            hall.book.theme_line(theme.id)
        return hall

    # ----------------------------------------------------------------- look-ups

    def ticket(self, ticket_id: str) -> Ticket:
        """Today's ticket with this id or number; NotFound otherwise."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            ticket = self.tickets.get(self._ticket_id(ticket_id.upper()))
        if ticket is None:
            raise NotFound(f'no ticket "{ticket_id}" today', ticket=ticket_id)
        return ticket

    def window(self, window_id: str) -> WindowState:
        """The window with this id; NotFound with a did-you-mean otherwise."""
        window = self.windows.get(window_id)
        if window is None:
            hint = _suggest(window_id, self.windows)
            raise NotFound(f'no window "{window_id}"{hint}', window=window_id)
        return window

    def _check_theme(self, theme_id: str) -> None:
        if theme_id not in self.serials:
            hint = _suggest(theme_id, self.serials)
            raise InvalidCommand(f'unknown theme "{theme_id}"{hint}', theme=theme_id)

    def _ticket_id(self, number: str) -> str:
        return ticket_id_of(self.day, number)

    def current_ticket(self, window_id: str) -> Ticket | None:
        """The ticket the window is calling or serving, if any."""
        window = self.window(window_id)
        return self.tickets[window.ticket_id] if window.ticket_id else None

    def service_time_s(self, theme_id: str) -> float:
        """Expected service time of the theme: today's observations, else the configured default."""
        return self.service[theme_id].mean_s(self.config.theme(theme_id).default_service_s)

    def waiting(self) -> list[Ticket]:
        """Every waiting ticket, oldest arrival first."""
        return sorted(
            (self.tickets[tid] for tid in self.book.where),
            key=lambda t: (t.arrival_at, t.id),
        )

    # ----------------------------------------------------------------- commands

    def issue(
        self,
        *,
        theme: str,
        priority: str | None,
        channel: str,
        at: float,
        actor: str,
        appointment_at: float | None = None,
        age_band: str | None = None,
        person_hash: str | None = None,
    ) -> list[Event]:
        """Issue the theme's next number."""
        given = self._give_number(
            theme, priority, channel, at, actor, appointment_at, age_band, person_hash
        )
        return self._commit([TicketIssued(**given)])

    def reserve(
        self,
        *,
        theme: str,
        priority: str | None,
        channel: str,
        printer: str,
        at: float,
        actor: str,
        appointment_at: float | None = None,
        age_band: str | None = None,
        person_hash: str | None = None,
    ) -> list[Event]:
        """Take the theme's next number for a ticket being printed; it waits only once issued."""
        given = self._give_number(
            theme, priority, channel, at, actor, appointment_at, age_band, person_hash
        )
        return self._commit([TicketReserved(printer=printer, **given)])

    def confirm_printed(self, ticket_id: str, *, at: float, actor: str) -> list[Event]:
        """The reserved ticket's print is confirmed: issue it (it joins its line now)."""
        ticket = self._printing(ticket_id)
        event = TicketIssued(
            at=at,
            actor=actor,
            ticket_id=ticket.id,
            number=ticket.number,
            serial=ticket.serial,
            theme=ticket.theme,
            priority=ticket.priority,
            channel=ticket.channel,
            appointment_at=ticket.appointment_at,
            age_band=ticket.age_band,
            person_hash=ticket.person_hash,
        )
        return self._commit([event])

    def void(self, ticket_id: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """Give up a reserved number whose print failed; the number is never issued today."""
        ticket = self._printing(ticket_id)
        event = TicketVoided(
            at=at, actor=actor, ticket_id=ticket.id, number=ticket.number, reason=reason
        )
        return self._commit([event])

    def reprint(
        self, ticket_id: str, printer: str, reason: str, *, at: float, actor: str
    ) -> list[Event]:
        """Record a waiting ticket printed again (补打)."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.WAITING:
            raise Conflict(
                f"only a waiting ticket is reprinted; {ticket.number} is {ticket.status.value}",
                ticket=ticket.id,
            )
        event = TicketReprinted(
            at=at, actor=actor, ticket_id=ticket.id, printer=printer, reason=reason
        )
        return self._commit([event])

    def printing(self) -> list[Ticket]:
        """Tickets reserved for printing whose print is neither confirmed nor voided."""
        return [t for t in self.tickets.values() if t.status is TicketStatus.PRINTING]

    def _printing(self, ticket_id: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.PRINTING:
            raise Conflict(
                f"ticket {ticket.number} is {ticket.status.value}, not being printed",
                ticket=ticket.id,
            )
        return ticket

    def _give_number(
        self,
        theme: str,
        priority: str | None,
        channel: str,
        at: float,
        actor: str,
        appointment_at: float | None,
        age_band: str | None,
        person_hash: str | None,
        *,
        booked: bool = False,
    ) -> dict[str, Any]:
        """The fields of the theme's next number given to this applicant (checked first);
        `booked`: an appointment's check-in."""
        booked = booked or appointment_at is not None
        serial, number = self._next_number(theme, priority, at, person_hash, booked=booked)
        return {
            "at": at,
            "actor": actor,
            "ticket_id": self._ticket_id(number),
            "number": number,
            "serial": serial,
            "theme": theme,
            "priority": priority,
            "channel": channel,
            "appointment_at": appointment_at,
            "age_band": age_band,
            "person_hash": person_hash,
        }

    def _next_number(
        self,
        theme: str,
        priority: str | None,
        at: float,
        person_hash: str | None,
        *,
        booked: bool = False,
    ) -> tuple[int, str]:
        """Check that the theme may issue to this applicant now; its next serial and number.

        A full theme refuses with ThemeFull (core/capacity.py); priority applicants and
        appointments are refused by its daily cap only."""
        self.check_issuing()
        self._check_theme(theme)
        spec = self.config.theme(theme)
        if priority is not None and priority not in {g.id for g in self.config.priority_groups}:
            hint = _suggest(priority, (g.id for g in self.config.priority_groups))
            raise InvalidCommand(f'unknown priority group "{priority}"{hint}', priority=priority)
        if self.config.enforce_opening_hours:
            moment = local_datetime(at, self.tz).time()
            if not spec.is_open_at(moment):
                hours = ", ".join(f"{p.start:%H:%M}-{p.end:%H:%M}" for p in spec.hours)
                raise ThemeUnavailable(
                    f"{spec.name_en} ({spec.name_zh}) issues tickets only during {hours}",
                    theme=theme,
                )
        serial = self.serials[theme] + 1
        check_capacity(self, theme, at, exempt=priority is not None or booked)
        if (
            person_hash is not None
            and self.config.one_active_ticket_per_person
            and self.active_people.get((person_hash, theme))
        ):
            held = self.tickets[min(self.active_people[(person_hash, theme)])]
            raise Conflict(
                f"this person already holds ticket {held.number} for {spec.name_en}",
                ticket=held.id,
            )
        return serial, f"{spec.prefix}{serial:03d}"

    def call_next(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """The window calls the ticket the policy picks; no events when nobody waits for it."""
        window = self._window_ready_to_call(window_id)
        decision = self.decide_next(window_id, at)
        if decision is None:
            return []
        return self._call(window, decision, at, actor)

    def call_ticket(self, window_id: str, ticket_id: str, *, at: float, actor: str) -> list[Event]:
        """The window calls one particular waiting ticket (e.g. by number at the window)."""
        window = self._window_ready_to_call(window_id)
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.WAITING:
            raise Conflict(
                f"ticket {ticket.number} is {ticket.status.value}, not waiting",
                ticket=ticket.id,
            )
        if not self.serves(window_id, ticket):
            raise Conflict(
                f"window {window_id} does not serve ticket {ticket.number}", ticket=ticket.id
            )
        bonus = preference_bonuses(self.config, self.policy, window_id).get(ticket.theme, 0.0)
        candidate = assess(self.config, self.policy, ticket.queue_entry(), bonus, at)
        return self._call(window, Decision(ticket.id, Rule.SPECIFIC, (candidate,)), at, actor)

    def decide_next(self, window_id: str, at: float) -> Decision | None:
        """What the policy would call at this window now, without calling it."""
        window = self.window(window_id)
        return choose_next(
            self.config,
            self.policy,
            self.book,
            window_id,
            window.priority_streak,
            at,
            self.standing_in(window_id),
        )

    def upcoming(self, window_id: str, at: float, count: int) -> list[Decision]:
        """The next `count` calls of this window if it called one after the other now (and no
        other window called meanwhile), each with its rule; the hall is not changed."""
        window = self.window(window_id)
        return upcoming(
            self.config,
            self.policy,
            self.book,
            window_id,
            window.priority_streak,
            at,
            count,
            self.standing_in(window_id),
        )

    def unattended(self, theme_id: str) -> bool:
        """True when none of the theme's own windows is open (all paused or closed)."""
        own = [w for w in self.config.windows_serving(theme_id) if not w.personalised]
        own = own or list(self.config.windows_serving(theme_id))
        return all(
            self.windows[w.id].status in (WindowStatus.CLOSED, WindowStatus.PAUSED) for w in own
        )

    def standing_in(self, window_id: str) -> tuple[str, ...]:
        """The themes this window serves for now on behalf of their absent windows (同岗替代):
        themes that name one of its themes as similar and whose own windows are all away."""
        served = self.config.window(window_id).themes
        return tuple(
            theme.id
            for theme in self.config.themes
            if theme.id not in served
            and any(other in served for other in theme.similar)
            and self.unattended(theme.id)
        )

    def substitutions(self) -> dict[str, tuple[str, ...]]:
        """Theme -> the windows standing in for it now (open or busy ones only)."""
        standing: dict[str, list[str]] = {}
        for window in self.config.windows:
            if self.windows[window.id].status in (WindowStatus.CLOSED, WindowStatus.PAUSED):
                continue
            for theme in self.standing_in(window.id):
                standing.setdefault(theme, []).append(window.id)
        return {theme: tuple(windows) for theme, windows in standing.items()}

    def serves(self, window_id: str, ticket: Ticket) -> bool:
        """True when this window may call this waiting ticket now."""
        if ticket.target_window is not None:
            return ticket.target_window == window_id
        window = self.config.window(window_id)
        return (
            ticket.theme in window.themes
            or (window.personalised and ticket.priority is not None)
            or ticket.theme in self.standing_in(window_id)
        )

    def check_issuing(self) -> None:
        """EmergencyInProgress while an emergency is declared: no new number is given out."""
        emergency = self.emergency
        if emergency is not None:
            what = "紧急演练" if emergency.drill else "紧急状态"
            kind = "An emergency drill" if emergency.drill else "An emergency"
            raise EmergencyInProgress(
                f"{what}，暂停取号：{emergency.message} — {kind} is in progress: "
                "no new tickets until it ends",
                emergency=emergency.message,
                drill=emergency.drill,
            )

    def recall(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """Announce the called ticket again; past the recall limit it becomes a no-show."""
        ticket = self._held_by(window_id, TicketStatus.CALLED, "recall")
        if ticket.recalls >= self.policy.recall_limit:
            return self._commit(
                [
                    TicketNoShow(
                        at=at, actor=actor, ticket_id=ticket.id, window=window_id, automatic=True
                    )
                ]
            )
        return self._commit(
            [
                TicketRecalled(
                    at=at,
                    actor=actor,
                    ticket_id=ticket.id,
                    window=window_id,
                    recalls=ticket.recalls + 1,
                )
            ]
        )

    def start(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """The called applicant arrived: service begins."""
        ticket = self._held_by(window_id, TicketStatus.CALLED, "start serving")
        return self._commit(
            [ServiceStarted(at=at, actor=actor, ticket_id=ticket.id, window=window_id)]
        )

    def finish(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """Service of the window's ticket is over (a called ticket is started implicitly)."""
        window = self.window(window_id)
        ticket = self._current_or_refuse(window, "finish")
        events: list[Event] = []
        if ticket.status is TicketStatus.CALLED:
            events.append(ServiceStarted(at=at, actor=actor, ticket_id=ticket.id, window=window_id))
        events.append(ServiceFinished(at=at, actor=actor, ticket_id=ticket.id, window=window_id))
        return self._commit(events)

    def no_show(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """The called applicant did not come."""
        ticket = self._held_by(window_id, TicketStatus.CALLED, "mark a no-show")
        return self._commit(
            [TicketNoShow(at=at, actor=actor, ticket_id=ticket.id, window=window_id)]
        )

    def hold(self, window_id: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """Set the window's ticket aside; the window is free to call again."""
        window = self.window(window_id)
        ticket = self._current_or_refuse(window, "hold")
        return self._commit(
            [TicketHeld(at=at, actor=actor, ticket_id=ticket.id, window=window_id, reason=reason)]
        )

    def return_ticket(self, ticket_id: str, *, at: float, actor: str) -> list[Event]:
        """A held ticket waits again, for the window that held it, keeping its arrival time."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.HELD:
            raise Conflict(
                f"ticket {ticket.number} is {ticket.status.value}, not held", ticket=ticket.id
            )
        return self._commit(
            [TicketReturned(at=at, actor=actor, ticket_id=ticket.id, window=ticket.window)]
        )

    def transfer(
        self,
        ticket_id: str,
        *,
        to_theme: str | None,
        to_window: str | None,
        reason: str,
        at: float,
        actor: str,
    ) -> list[Event]:
        """Send a ticket to another theme or window; it keeps its arrival time and priority."""
        ticket = self.ticket(ticket_id)
        if ticket.status not in (
            TicketStatus.WAITING,
            TicketStatus.CALLED,
            TicketStatus.SERVING,
            TicketStatus.HELD,
        ):
            raise Conflict(
                f"ticket {ticket.number} is {ticket.status.value} and cannot move", ticket=ticket.id
            )
        if to_theme is None and to_window is None:
            raise InvalidCommand("a transfer needs a theme, a window or both")
        theme = to_theme if to_theme is not None else ticket.theme
        self._check_theme(theme)
        if to_window is not None:
            self.window(to_window)
            if theme not in self.config.window(to_window).themes and to_theme is not None:
                raise Conflict(f"window {to_window} does not serve theme {theme}", window=to_window)
        if (
            theme == ticket.theme
            and to_window == ticket.target_window
            and (ticket.status is TicketStatus.WAITING)
        ):
            raise Conflict(f"ticket {ticket.number} already waits there", ticket=ticket.id)
        from_window = (
            ticket.window if ticket.status in (TicketStatus.CALLED, TicketStatus.SERVING) else None
        )
        return self._commit(
            [
                TicketTransferred(
                    at=at,
                    actor=actor,
                    ticket_id=ticket.id,
                    from_window=from_window,
                    to_theme=theme,
                    to_window=to_window,
                    reason=reason,
                )
            ]
        )

    def continue_visit(
        self,
        window_id: str,
        *,
        to_theme: str,
        to_window: str | None = None,
        reason: str = "",
        at: float,
        actor: str,
    ) -> list[Event]:
        """The window's service is over and the applicant goes on to the visit's next stage
        (e.g. intake -> pick-up): the same ticket waits in `to_theme`, keeping its arrival time
        and priority (a called ticket is started implicitly, as at finish)."""
        window = self.window(window_id)
        ticket = self._current_or_refuse(window, "send on to a next stage")
        self._check_theme(to_theme)
        if to_window is not None:
            self.window(to_window)
            if to_window == window_id:
                raise Conflict(
                    f"ticket {ticket.number} is at window {window_id} already: a next stage is "
                    "at another window",
                    window=window_id,
                )
            spec = self.config.window(to_window)
            if to_theme not in spec.themes:
                raise Conflict(
                    f"window {to_window} does not serve theme {to_theme}", window=to_window
                )
        events: list[Event] = []
        if ticket.status is TicketStatus.CALLED:
            events.append(ServiceStarted(at=at, actor=actor, ticket_id=ticket.id, window=window_id))
        events.append(
            TicketContinued(
                at=at,
                actor=actor,
                ticket_id=ticket.id,
                window=window_id,
                to_theme=to_theme,
                to_window=to_window,
                reason=reason,
            )
        )
        return self._commit(events)

    def cancel(self, ticket_id: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """Withdraw a ticket that is not finished."""
        ticket = self.ticket(ticket_id)
        if ticket.status is TicketStatus.PRINTING:
            raise Conflict(
                f"ticket {ticket.number} is being printed; its print ends it", ticket=ticket.id
            )
        if ticket.status not in ACTIVE_TICKET_STATUSES:
            raise Conflict(
                f"ticket {ticket.number} is already {ticket.status.value}", ticket=ticket.id
            )
        return self._commit(
            [TicketCancelled(at=at, actor=actor, ticket_id=ticket.id, reason=reason)]
        )

    def rate(self, ticket_id: str, score: int, *, at: float, actor: str) -> list[Event]:
        """Record the applicant's one rating of this service (1..5, 5 = 非常满意)."""
        if isinstance(score, bool) or not isinstance(score, int) or score not in RATING_SCALE:
            raise InvalidCommand("score must be an integer from 1 (非常不满意) to 5 (非常满意)")
        ticket = self.ticket(ticket_id)
        if ticket.status not in (TicketStatus.SERVING, TicketStatus.FINISHED):
            raise Conflict(f"ticket {ticket.number} has not been served yet", ticket=ticket.id)
        if ticket.rating is not None:
            raise Conflict(f"ticket {ticket.number} was already rated", ticket=ticket.id)
        events: list[Event] = [
            TicketRated(at=at, actor=actor, ticket_id=ticket.id, window=ticket.window, score=score)
        ]
        if score in POOR_SCORES:
            events.append(self._follow_up(ticket, score, at, actor))
        return self._commit(events)

    def _follow_up(self, ticket: Ticket, score: int, at: float, actor: str) -> FollowUpOpened:
        """The follow-up (整改) a poor rating of this ticket opens, its deadlines from now."""
        rules = self.config.ratings
        window = self.windows.get(ticket.window) if ticket.window is not None else None
        return FollowUpOpened(
            at=at,
            actor=actor,
            followup=followup_id_of(ticket.id),
            ticket_id=ticket.id,
            number=ticket.number,
            day=self.day,
            theme=ticket.theme,
            window=ticket.window,
            clerk=window.clerk if window is not None else None,
            score=score,
            case_number=self.case_numbers.get(ticket.id),
            callback_due=at + rules.callback_within_s,
            rectify_due=at + rules.rectify_within_s,
        )

    def open_window(
        self, window_id: str, *, at: float, actor: str, reason: str = ""
    ) -> list[Event]:
        """Open a closed window for calls."""
        window = self.window(window_id)
        if window.status is not WindowStatus.CLOSED:
            raise Conflict(f"window {window_id} is already {window.status.value}", window=window_id)
        return self._commit([WindowOpened(at=at, actor=actor, window=window_id, reason=reason)])

    def close_window(
        self, window_id: str, *, at: float, actor: str, reason: str = ""
    ) -> list[Event]:
        """Close an idle or paused window."""
        window = self.window(window_id)
        if window.status is WindowStatus.CLOSED:
            raise Conflict(f"window {window_id} is already closed", window=window_id)
        self._refuse_busy(window, "close")
        return self._commit([WindowClosed(at=at, actor=actor, window=window_id, reason=reason)])

    def pause_window(self, window_id: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """Pause an idle window, with the reason (break, meeting ...)."""
        window = self.window(window_id)
        if window.status in (WindowStatus.CLOSED, WindowStatus.PAUSED):
            raise Conflict(f"window {window_id} is {window.status.value}", window=window_id)
        self._refuse_busy(window, "pause")
        return self._commit([WindowPaused(at=at, actor=actor, window=window_id, reason=reason)])

    def resume_window(
        self, window_id: str, *, at: float, actor: str, reason: str = ""
    ) -> list[Event]:
        """A paused window calls again."""
        window = self.window(window_id)
        if window.status is not WindowStatus.PAUSED:
            raise Conflict(
                f"window {window_id} is {window.status.value}, not paused", window=window_id
            )
        return self._commit([WindowResumed(at=at, actor=actor, window=window_id, reason=reason)])

    # ----------------------------------------------------------------- emergencies, ratings

    def start_emergency(self, message: str, drill: bool, *, at: float, actor: str) -> list[Event]:
        """Declare an emergency (or a drill) with the message the hall display shows."""
        message = message.strip()
        if not message:
            raise InvalidCommand("an emergency needs the message the hall display shows")
        if self.emergency is not None:
            raise Conflict(
                f"an emergency is already declared ({self.emergency.message}): end it first",
                emergency=self.emergency.message,
            )
        return self._commit([EmergencyStarted(at=at, actor=actor, message=message, drill=drill)])

    def end_emergency(self, *, at: float, actor: str) -> list[Event]:
        """End the declared emergency or drill."""
        if self.emergency is None:
            raise Conflict("no emergency is declared")
        return self._commit([EmergencyEnded(at=at, actor=actor)])

    def request_rating(self, window_id: str, *, at: float, actor: str) -> list[Event]:
        """Ask the applicant to rate the service this window is giving or has just finished."""
        window = self.window(window_id)
        ticket = self.tickets[window.ticket_id] if window.ticket_id is not None else None
        if ticket is None:
            ticket = self._just_finished(window_id)
            if ticket is None:
                raise Conflict(
                    f"window {window_id} has no service to rate: it serves nobody and has "
                    "finished nobody since its last call",
                    window=window_id,
                )
        elif ticket.status is not TicketStatus.SERVING:
            raise Conflict(
                f"ticket {ticket.number} is {ticket.status.value}, not served yet: a rating "
                "is asked during or after service",
                window=window_id,
                ticket=ticket.id,
            )
        if ticket.rating is not None:
            raise Conflict(f"ticket {ticket.number} was already rated", ticket=ticket.id)
        return self._commit(
            [RatingRequested(at=at, actor=actor, window=window_id, ticket_id=ticket.id)]
        )

    def rateable(self, window_id: str) -> Ticket | None:
        """The ticket a rating request at this window would be about now, if any."""
        window = self.window(window_id)
        if window.ticket_id is None:
            ticket = self._just_finished(window_id)
        else:
            ticket = self.tickets[window.ticket_id]
            if ticket.status is not TicketStatus.SERVING:
                return None
        return ticket if ticket is not None and ticket.rating is None else None

    def _just_finished(self, window_id: str) -> Ticket | None:
        """The ticket this window called last, if its service there has finished."""
        last = self.tickets.get(self.last_called.get(window_id, ""))
        if last is None or last.window != window_id or last.status is not TicketStatus.FINISHED:
            return None
        return last

    def case_ticket(self, window_id: str) -> Ticket | None:
        """The service a case number recorded at this window now is for: the ticket it is
        calling or serving, else the one it has just finished."""
        window = self.window(window_id)
        if window.ticket_id is not None:
            return self.tickets[window.ticket_id]
        return self._just_finished(window_id)

    def record_case_number(
        self, window_id: str, case_number: str, *, at: float, actor: str
    ) -> list[Event]:
        """Record the case number (办件编号) of the window's current or just finished service;
        no events when it already has this one."""
        number = case_number.strip()
        if not CASE_NUMBER.match(number):
            raise InvalidCommand(
                'a case number is 1-40 letters, digits or "-", such as 44030020261128000123',
                field="case_number",
            )
        ticket = self.case_ticket(window_id)
        if ticket is None:
            raise Conflict(
                f"window {window_id} has no service to record a case number for: it serves "
                "nobody and has finished nobody since its last call",
                window=window_id,
            )
        if self.case_numbers.get(ticket.id) == number:
            return []
        event = CaseNumberRecorded(
            at=at, actor=actor, ticket_id=ticket.id, window=window_id, case_number=number
        )
        return self._commit([event])

    def rating_owed(self, window_id: str) -> Ticket | None:
        """The service whose rating this window has not asked for yet (in service, or just
        finished), unless it was rated or a manager waived it; the next call would end it."""
        ticket = self.rateable(window_id)
        if ticket is None or ticket.id in (
            self.rating_requests.get(window_id),
            self.rating_waivers.get(window_id),
        ):
            return None
        return ticket

    def waive_rating(self, window_id: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """A manager lets the window call again without asking for its service's rating."""
        self.window(window_id)
        _require_reason(reason)
        if not self.config.ratings.require_before_next:
            raise Conflict(
                "this hall does not require a rating before the next call ([ratings] "
                "require_before_next): there is nothing to waive",
                window=window_id,
            )
        ticket = self.rating_owed(window_id)
        if ticket is None:
            raise Conflict(
                f"window {window_id} owes no rating request: it may call", window=window_id
            )
        event = RatingWaived(
            at=at, actor=actor, window=window_id, ticket_id=ticket.id, reason=reason
        )
        return self._commit([event])

    # ----------------------------------------------------------------- who signs in

    def record_access(self, event: AccessEvent) -> list[Event]:
        """Record a sign-in, the end of a session or a refused sign-in (the audit trail's);
        a clerk signed in at a window becomes that window's clerk."""
        if isinstance(event, SignedIn) and event.window is not None:
            self.window(event.window)  # NotFound for a window the hall does not have
        return self._commit([event])

    def record_purge(self, event: PersonalDataPurged) -> list[Event]:
        """Record a retention purge of ended days (written by the log with the purge itself);
        today's state does not change."""
        if any(day >= self.day for day in event.days):
            raise InvalidCommand("only days that are over are purged", days=sorted(event.days))
        return self._commit([event])

    # ----------------------------------------------------------------- the manager

    def prioritise(
        self, ticket_id: str, priority: str | None, reason: str, *, at: float, actor: str
    ) -> list[Event]:
        """Put a waiting ticket in a priority group (None: regular); it keeps its arrival."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.WAITING:
            raise Conflict(
                f"only a waiting ticket is prioritised; {ticket.number} is {ticket.status.value}",
                ticket=ticket.id,
            )
        groups = [g.id for g in self.config.priority_groups]
        if priority is not None and priority not in groups:
            hint = _suggest(priority, groups)
            raise InvalidCommand(f'unknown priority group "{priority}"{hint}', field="priority")
        _require_reason(reason)
        if priority == ticket.priority:
            where = f"in the {priority} group" if priority else "a regular ticket"
            raise Conflict(f"ticket {ticket.number} is already {where}", ticket=ticket.id)
        event = TicketPrioritised(
            at=at,
            actor=actor,
            ticket_id=ticket.id,
            priority=priority,
            previous=ticket.priority,
            reason=reason,
        )
        return self._commit([event])

    def change_policy(
        self, changes: Mapping[str, object], reason: str, *, at: float, actor: str
    ) -> list[Event]:
        """Change policy settings, each within its range; no events when nothing differs.

        Keys are `POLICY_RANGES`' names, and "max_wait_s" maps theme ids to seconds.
        """
        _require_reason(reason)
        new: dict[str, Any] = {}
        previous: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "max_wait_s":
                themes_new, themes_old = self._theme_limits(value)
                if themes_new:
                    new[name], previous[name] = themes_new, themes_old
                continue
            limits = POLICY_RANGES.get(name)
            if limits is None:
                hint = _suggest(name, [*POLICY_RANGES, "max_wait_s"])
                raise InvalidCommand(f'"{name}" is not a policy setting{hint}', field=name)
            checked = _setting(limits, name, value)
            current = getattr(self.policy, name)
            if checked != current:
                new[name], previous[name] = checked, current
        if not new:
            return []
        event = PolicyChanged(at=at, actor=actor, changes=new, previous=previous, reason=reason)
        return self._commit([event])

    def _theme_limits(self, value: object) -> tuple[dict[str, int], dict[str, int]]:
        """The themes' new maximum waits that differ from today's, and today's."""
        if not isinstance(value, Mapping):
            raise InvalidCommand("max_wait_s must map theme ids to seconds", field="max_wait_s")
        themes_new: dict[str, int] = {}
        themes_old: dict[str, int] = {}
        for theme_id, seconds in value.items():
            if theme_id not in self.serials:
                hint = _suggest(str(theme_id), self.serials)
                raise InvalidCommand(f'unknown theme "{theme_id}"{hint}', field="max_wait_s")
            checked = int(_setting(THEME_MAX_WAIT_RANGE, f"max_wait_s.{theme_id}", seconds))
            current = self.policy.theme_limit_s(self.config.theme(theme_id))
            if checked != current:
                themes_new[theme_id], themes_old[theme_id] = checked, current
        return themes_new, themes_old

    def request_help(self, kiosk: str, *, at: float, actor: str) -> list[Event]:
        """A kiosk pages the floor staff; while its page is unanswered, no second one."""
        kiosks = [k.id for k in self.config.kiosks]
        if kiosk not in kiosks:
            raise NotFound(f'no kiosk "{kiosk}"{_suggest(kiosk, kiosks)}', kiosk=kiosk)
        if self.open_help_page(kiosk) is not None:
            return []
        alert = f"help-{len(self.help_pages) + 1}"
        return self._commit([HelpRequested(at=at, actor=actor, alert=alert, kiosk=kiosk)])

    def open_help_page(self, kiosk: str) -> HelpPage | None:
        """The kiosk's help page nobody has acknowledged yet, if any."""
        for page in self.help_pages.values():
            if page.kiosk == kiosk and page.alert not in self.acknowledged:
                return page
        return None

    def acknowledge(self, alert: str, note: str, *, at: float, actor: str) -> list[Event]:
        """Acknowledge an alert once; a help page must exist (other alerts: the caller checks)."""
        if alert in self.acknowledged:
            raise Conflict(f"alert {alert} was already acknowledged", alert=alert)
        if alert.startswith("help-") and alert not in self.help_pages:
            raise NotFound(f'no help page "{alert}" today', alert=alert)
        return self._commit([AlertAcknowledged(at=at, actor=actor, alert=alert, note=note)])

    # ----------------------------------------------------------------- appointments

    def booking(self, ref: str) -> Booking:
        """Today's booking with this id or code; NotFound otherwise."""
        booking = self.bookings.get(ref)
        if booking is None:
            booking = self.bookings.get(self.booking_codes.get(ref.strip().upper(), ""))
        if booking is None:
            raise NotFound("no booking with this id or code today", booking=ref[:32])
        return booking

    def booking_of_person(self, person_hash: str) -> Booking | None:
        """The person's booking of the day still to check in (earliest slot first), if any."""
        open_ = [b for b in self.bookings.values() if b.person_hash == person_hash]
        open_ = [b for b in open_ if self._check_in_refusal(b) is None]
        return min(open_, key=lambda b: (b.slot_at, b.id), default=None)

    def book_appointment(self, request: BookingRequest, *, at: float, actor: str) -> list[Event]:
        """Book one appointment of this day (refusals say why, like any command)."""
        try:
            return self.book_appointments([request], at=at, actor=actor)
        except BookingsRefused as refused:
            problem = refused.problems[0]
            error = Conflict if problem.conflict else InvalidCommand
            raise error(problem.message, field=problem.field) from None

    def book_appointments(
        self, requests: list[BookingRequest], *, at: float, actor: str
    ) -> list[Event]:
        """Book every appointment or none: BookingsRefused names each one refused and why."""
        problems, codes = self._plan_bookings(requests, at)
        if problems:
            raise BookingsRefused(tuple(problems))
        events: list[Event] = []
        for serial, (request, code) in enumerate(
            zip(requests, codes, strict=True), start=len(self.bookings) + 1
        ):
            events.append(
                AppointmentBooked(
                    at=at,
                    actor=actor,
                    booking_id=booking_id_of(self.day, serial),
                    theme=request.theme,
                    slot_at=request.slot_at,
                    code=code,
                    person_hash=request.person_hash,
                    priority=request.priority,
                    channel=request.channel,
                )
            )
        return self._commit(events)

    def booking_problems(
        self, requests: list[BookingRequest], *, at: float
    ) -> list[BookingProblem]:
        """What `book_appointments` would refuse in these bookings (nothing changes)."""
        return self._plan_bookings(requests, at)[0]

    def _plan_bookings(
        self, requests: list[BookingRequest], at: float
    ) -> tuple[list[BookingProblem], list[str | None]]:
        """Each booking's refusal, or its normalised code, checked against the day and the
        bookings before it in the batch."""
        problems: list[BookingProblem] = []
        codes: list[str | None] = []
        seen_codes: set[str] = set()
        people: set[tuple[str, str]] = set()
        for index, request in enumerate(requests):
            checked = self._booking_problem(index, request, at, seen_codes, people)
            if isinstance(checked, BookingProblem):
                problems.append(checked)
            else:
                codes.append(checked)
        return problems, codes

    def _booking_problem(
        self,
        index: int,
        request: BookingRequest,
        at: float,
        codes: set[str],
        people: set[tuple[str, str]],
    ) -> BookingProblem | str | None:
        """Why this booking is refused, or its normalised code (None: booked by ID only)."""

        def refused(name: str, message: str, conflict: bool = False) -> BookingProblem:
            return BookingProblem(index, name, message, conflict)

        if request.theme not in self.serials:
            hint = _suggest(request.theme, self.serials)
            return refused("theme", f'unknown theme "{request.theme}"{hint}')
        spec = self.config.theme(request.theme)
        groups = [g.id for g in self.config.priority_groups]
        if request.priority is not None and request.priority not in groups:
            hint = _suggest(request.priority, groups)
            return refused("priority", f'unknown priority group "{request.priority}"{hint}')
        if not math.isfinite(request.slot_at):
            return refused("slot", "the slot must be a time")
        if business_day(request.slot_at, self.tz, self.config.day_rollover) != self.day:
            return refused("slot", f"the slot is not on the business day {self.day}")
        slot = local_datetime(request.slot_at, self.tz)
        if request.slot_at < at:
            return refused("slot", f"the slot {slot:%H:%M} has passed")
        if self.config.enforce_opening_hours and not spec.is_open_at(slot.time()):
            hours = ", ".join(f"{p.start:%H:%M}-{p.end:%H:%M}" for p in spec.hours)
            return refused(
                "slot", f"{spec.name_en} ({spec.name_zh}) is open {hours}, not at {slot:%H:%M}"
            )
        if request.code is None and request.person_hash is None:
            return refused("code", "a booking needs a booking code or an ID number")
        code = None
        if request.code is not None:
            try:
                code = normalise_code(request.code)
            except InvalidCommand as exc:
                return refused("code", exc.message)
            if code in self.booking_codes or code in codes:
                return refused("code", "this booking code is already booked today", True)
            codes.add(code)
        if request.person_hash is not None:
            person = (request.person_hash, request.theme)
            held = [
                b
                for b in self.bookings.values()
                if (b.person_hash, b.theme) == person and b.status is BookingStatus.BOOKED
            ]
            if held or person in people:
                return refused(
                    "id_number", f"this person already has a booking for {spec.name_en}", True
                )
            people.add(person)
        return code

    def cancel_booking(self, ref: str, reason: str, *, at: float, actor: str) -> list[Event]:
        """Withdraw a booking not yet checked in."""
        booking = self.booking(ref)
        if booking.status is not BookingStatus.BOOKED:
            raise Conflict(
                f"booking {booking.id} is {booking.status.value} and cannot be cancelled",
                booking=booking.id,
            )
        event = AppointmentCancelled(at=at, actor=actor, booking_id=booking.id, reason=reason)
        return self._commit([event])

    def check_in(
        self,
        ref: str,
        *,
        channel: str,
        at: float,
        actor: str,
        printer: str | None = None,
        priority: str | None = None,
        age_band: str | None = None,
    ) -> list[Event]:
        """Check a booking in: a ticket (reserved for `printer`, else issued) and the check-in.

        From `appointment_early` before the slot the ticket is an appointment's (called first
        while due); after `appointment_late` past it, a walk-in ticket with the booking's (or
        the given) priority group, and the booking is marked late.
        """
        booking = self.booking(ref)
        refusal = self._check_in_refusal(booking)
        if refusal is not None:
            raise refusal
        opens = booking.slot_at - self.policy.appointment_early_s
        if at < opens:
            back = local_datetime(opens, self.tz)
            raise AppointmentTooEarly(
                f"请于 {back:%H:%M} 后签到 — too early for the {self._slot_words(booking)} "
                f"appointment: check in from {back:%H:%M}",
                booking=booking.id,
                come_back_at=f"{back:%H:%M}",
            )
        late = at > booking.slot_at + self.policy.appointment_late_s
        given = self._give_number(
            booking.theme,
            priority if priority is not None else booking.priority,
            channel,
            at,
            actor,
            None if late else booking.slot_at,
            age_band,
            booking.person_hash,
            booked=True,
        )
        ticket: Event = (
            TicketReserved(printer=printer, **given) if printer else TicketIssued(**given)
        )
        checked = AppointmentCheckedIn(
            at=at, actor=actor, booking_id=booking.id, ticket_id=given["ticket_id"], late=late
        )
        return self._commit([ticket, checked])

    def check_in_state(self, booking: Booking, at: float) -> str:
        """What a check-in now would do: ready, early, late, or done / cancelled (refused)."""
        if self._check_in_refusal(booking) is not None:
            return "cancelled" if booking.status is BookingStatus.CANCELLED else "done"
        if at < booking.slot_at - self.policy.appointment_early_s:
            return "early"
        if at > booking.slot_at + self.policy.appointment_late_s:
            return "late"
        return "ready"

    def record_missed(self, *, at: float, actor: str) -> list[Event]:
        """Record the bookings nobody checked in for by slot + `appointment_late` (none: [])."""
        late_s = self.policy.appointment_late_s
        missed = sorted(
            (
                b
                for b in self.bookings.values()
                if b.status is BookingStatus.BOOKED and b.slot_at + late_s < at
            ),
            key=lambda b: (b.slot_at, b.id),
        )
        return self._commit(
            [AppointmentMissed(at=at, actor=actor, booking_id=b.id) for b in missed]
        )

    def _check_in_refusal(self, booking: Booking) -> Conflict | None:
        if booking.status is BookingStatus.CANCELLED:
            return Conflict(f"booking {booking.id} was cancelled", booking=booking.id)
        ticket = self.tickets.get(booking.ticket_id or "")
        # A check-in whose ticket was voided (its print failed) may be made again.
        if ticket is not None and ticket.status is not TicketStatus.VOIDED:
            return Conflict(
                f"this booking is already checked in: ticket {ticket.number}",
                booking=booking.id,
                ticket=ticket.id,
            )
        return None

    def _slot_words(self, booking: Booking) -> str:
        spec = self.config.theme(booking.theme)
        return f"{local_datetime(booking.slot_at, self.tz):%H:%M} {spec.name_en}"

    # ----------------------------------------------------------------- checks

    def _window_ready_to_call(self, window_id: str) -> WindowState:
        window = self.window(window_id)
        if window.status in (WindowStatus.CLOSED, WindowStatus.PAUSED):
            raise Conflict(
                f"window {window_id} is {window.status.value}; open or resume it first",
                window=window_id,
            )
        if window.status is WindowStatus.CALLING:
            ticket = self.tickets[window.ticket_id or ""]
            raise Conflict(
                f"window {window_id} is calling {ticket.number}: start, recall or mark a "
                "no-show first",
                window=window_id,
                ticket=ticket.id,
            )
        owed = self.rating_owed(window_id) if self.config.ratings.require_before_next else None
        if owed is not None:
            raise RatingRequired(
                f"请先为 {owed.number} 请求评价，再叫下一位 — window {window_id} must ask for the "
                f"rating of {owed.number} first: press Request a rating (请求评价), then call "
                "(a manager may waive it)",
                window=window_id,
                ticket=owed.id,
            )
        return window

    def _call(self, window: WindowState, decision: Decision, at: float, actor: str) -> list[Event]:
        events: list[Event] = []
        if window.status is WindowStatus.SERVING and window.ticket_id is not None:
            # A call pad's "next" while serving ends the current service, as clerks expect.
            events.append(
                ServiceFinished(at=at, actor=actor, ticket_id=window.ticket_id, window=window.id)
            )
        events.append(
            TicketCalled(
                at=at,
                actor=actor,
                ticket_id=decision.ticket_id,
                window=window.id,
                rule=decision.rule.value,
                candidates=decision.candidates,
            )
        )
        return self._commit(events)

    def _current_or_refuse(self, window: WindowState, action: str) -> Ticket:
        if window.ticket_id is None:
            raise Conflict(f"window {window.id} has no ticket to {action}", window=window.id)
        return self.tickets[window.ticket_id]

    def _held_by(self, window_id: str, status: TicketStatus, action: str) -> Ticket:
        ticket = self._current_or_refuse(self.window(window_id), action)
        if ticket.status is not status:
            raise Conflict(
                f"cannot {action}: ticket {ticket.number} is {ticket.status.value}",
                window=window_id,
                ticket=ticket.id,
            )
        return ticket

    def _refuse_busy(self, window: WindowState, action: str) -> None:
        if window.ticket_id is not None:
            ticket = self.tickets[window.ticket_id]
            raise Conflict(
                f"window {window.id} is {window.status.value} {ticket.number}: finish, hold or "
                f"transfer it before you {action}",
                window=window.id,
                ticket=ticket.id,
            )

    def _commit(self, events: list[Event]) -> list[Event]:
        for event in events:
            self.apply(event)
        return events

    # ----------------------------------------------------------------- the fold

    def apply(self, event: Event) -> None:
        """Fold one event into the day's state (also used to replay the log)."""
        handler = _APPLY[type(event)]
        handler(self, event)
        self.version += 1

    def _on_issued(self, e: Any) -> None:
        reserved = self.tickets.get(e.ticket_id)
        # A printed kiosk ticket keeps its place from when its number was taken.
        printing = reserved is not None and reserved.status is TicketStatus.PRINTING
        arrival = reserved.arrival_at if reserved is not None and printing else e.at
        ticket = self._new_ticket(e, arrival, TicketStatus.WAITING)
        self.book.add(ticket.queue_entry())

    def _on_reserved(self, e: Any) -> None:
        self._new_ticket(e, e.at, TicketStatus.PRINTING)

    def _new_ticket(self, e: Any, arrival_at: float, status: TicketStatus) -> Ticket:
        """The ticket an issue or a reservation makes, its serial spent and its person held."""
        ticket = Ticket(
            id=e.ticket_id,
            number=e.number,
            serial=e.serial,
            theme=e.theme,
            priority=e.priority,
            channel=e.channel,
            arrival_at=arrival_at,
            appointment_at=e.appointment_at,
            age_band=e.age_band,
            person_hash=e.person_hash,
            status=status,
        )
        self.tickets[ticket.id] = ticket
        self.serials[e.theme] = max(self.serials.get(e.theme, 0), e.serial)
        self._hold_person(ticket)
        return ticket

    def _on_voided(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.VOIDED
        ticket.finished_at = e.at
        self._forget_person(ticket)

    def _on_reprinted(self, e: Any) -> None:
        """Nothing changes but the record: the audit trail keeps who reprinted what."""

    def _on_called(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        self.book.remove(ticket.id)
        window = self.windows[e.window]
        ticket.status = TicketStatus.CALLED
        ticket.window = e.window
        ticket.target_window = None
        ticket.called_at = e.at
        ticket.recalls = 0
        ticket.calls += 1
        ticket.rule = e.rule
        ticket.candidates = e.candidates
        window.status = WindowStatus.CALLING
        window.ticket_id = ticket.id
        window.priority_streak = window.priority_streak + 1 if ticket.priority else 0
        # A new applicant at the window: an earlier rating request is over.
        self.rating_requests.pop(e.window, None)
        self.last_called[e.window] = ticket.id

    def _on_recalled(self, e: Any) -> None:
        self.tickets[e.ticket_id].recalls = e.recalls

    def _on_started(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.SERVING
        ticket.started_at = e.at
        self.windows[e.window].status = WindowStatus.SERVING

    def _on_finished(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.FINISHED
        ticket.finished_at = e.at
        self._end_service(ticket, e.window, e.at)
        self._forget_person(ticket)

    def _on_no_show(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.NO_SHOW
        ticket.finished_at = e.at
        self.missed.append(ticket.id)
        del self.missed[:-MISSED_KEPT]
        self._release(self.windows[e.window])
        self._forget_person(ticket)

    def _on_held(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.HELD
        self._release(self.windows[e.window])

    def _on_returned(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        ticket.status = TicketStatus.WAITING
        ticket.target_window = e.window
        self.book.add(ticket.queue_entry(), e.window)

    def _on_transferred(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        if ticket.id in self.book:
            self.book.remove(ticket.id)
        if e.from_window is not None:
            self._release(self.windows[e.from_window])
        ticket.transfers += 1
        self._wait_again(ticket, e.to_theme, e.to_window)

    def _on_continued(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        self._end_service(ticket, e.window, e.at)
        ticket.stage += 1
        self._wait_again(ticket, e.to_theme, e.to_window)

    def _on_cancelled(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        if ticket.id in self.book:
            self.book.remove(ticket.id)
        for window in self.windows.values():
            if window.ticket_id == ticket.id:
                self._release(window)
        ticket.status = TicketStatus.CANCELLED
        ticket.finished_at = e.at
        self._forget_person(ticket)

    def _on_rated(self, e: Any) -> None:
        self.tickets[e.ticket_id].rating = e.score
        for window in [w for w, t in self.rating_requests.items() if t == e.ticket_id]:
            del self.rating_requests[window]

    def _on_emergency_started(self, e: Any) -> None:
        self.emergency = Emergency(e.message, e.drill, e.at, e.actor)

    def _on_emergency_ended(self, e: Any) -> None:
        self.emergency = None

    def _on_rating_requested(self, e: Any) -> None:
        self.rating_requests[e.window] = e.ticket_id

    def _on_case_number(self, e: Any) -> None:
        self.case_numbers[e.ticket_id] = e.case_number

    def _on_rating_waived(self, e: Any) -> None:
        self.rating_waivers[e.window] = e.ticket_id

    def _on_followup(self, e: Any) -> None:
        """Nothing changes in the day: a follow-up outlives it (core.followups folds these)."""

    def _on_window_opened(self, e: Any) -> None:
        window = self.windows[e.window]
        window.status = WindowStatus.OPEN
        window.pause_reason = None

    def _on_window_closed(self, e: Any) -> None:
        window = self.windows[e.window]
        window.status = WindowStatus.CLOSED
        window.pause_reason = None
        window.priority_streak = 0

    def _on_window_paused(self, e: Any) -> None:
        window = self.windows[e.window]
        window.status = WindowStatus.PAUSED
        window.pause_reason = e.reason

    def _on_window_resumed(self, e: Any) -> None:
        window = self.windows[e.window]
        window.status = WindowStatus.OPEN
        window.pause_reason = None

    def _on_signed_in(self, e: Any) -> None:
        if e.window is not None and e.window in self.windows:
            self.windows[e.window].clerk = e.account

    def _on_signed_out(self, e: Any) -> None:
        window = self.windows.get(e.window) if e.window is not None else None
        if window is not None and window.clerk == e.account:
            window.clerk = None

    def _on_personal_data_purged(self, e: Any) -> None:
        pass  # the audit trail's record of a retention purge (of days already over)

    def _on_sign_in_refused(self, e: Any) -> None:
        pass  # the audit trail's record only

    def _on_prioritised(self, e: Any) -> None:
        ticket = self.tickets[e.ticket_id]
        _, window = self.book.entry(ticket.id)
        self.book.remove(ticket.id)
        ticket.priority = e.priority
        self.book.add(ticket.queue_entry(), window)

    def _on_policy_changed(self, e: Any) -> None:
        self.policy = policy_after(self.policy, e.changes)
        self.policy_changed = (e.at, e.actor)

    def _on_help_requested(self, e: Any) -> None:
        self.help_pages[e.alert] = HelpPage(e.alert, e.kiosk, e.at, e.actor)

    def _on_alert_acknowledged(self, e: Any) -> None:
        self.acknowledged[e.alert] = Acknowledgement(e.at, e.actor, e.note)

    def _on_appointment_booked(self, e: Any) -> None:
        self.bookings[e.booking_id] = Booking(
            id=e.booking_id,
            theme=e.theme,
            slot_at=e.slot_at,
            code=e.code,
            person_hash=e.person_hash,
            priority=e.priority,
            channel=e.channel,
            booked_at=e.at,
        )
        if e.code is not None:
            self.booking_codes[e.code] = e.booking_id

    def _on_appointment_cancelled(self, e: Any) -> None:
        booking = self.bookings[e.booking_id]
        booking.status = BookingStatus.CANCELLED
        booking.closed_at = e.at
        if booking.code is not None:
            self.booking_codes.pop(booking.code, None)  # the code may be booked again

    def _on_appointment_checked_in(self, e: Any) -> None:
        booking = self.bookings[e.booking_id]
        booking.status = BookingStatus.LATE if e.late else BookingStatus.CHECKED_IN
        booking.ticket_id = e.ticket_id
        booking.checked_in_at = e.at

    def _on_appointment_missed(self, e: Any) -> None:
        booking = self.bookings[e.booking_id]
        booking.status = BookingStatus.MISSED
        booking.closed_at = e.at

    def _end_service(self, ticket: Ticket, window_id: str, at: float) -> None:
        """A service at this window is over: its time counts for the theme, the window is free."""
        if ticket.started_at is not None:
            stats = self.service[ticket.theme]
            stats.count += 1
            stats.total_s += at - ticket.started_at
        window = self.windows[window_id]
        window.served += 1
        self._release(window)

    def _wait_again(self, ticket: Ticket, theme: str, window_id: str | None) -> None:
        """The ticket waits again in `theme` (for one window if given), keeping its arrival."""
        self._forget_person(ticket)
        ticket.theme = theme
        self._hold_person(ticket)
        ticket.target_window = window_id
        ticket.status = TicketStatus.WAITING
        self.book.add(ticket.queue_entry(), window_id)

    def _release(self, window: WindowState) -> None:
        window.ticket_id = None
        if window.status in (WindowStatus.CALLING, WindowStatus.SERVING):
            window.status = WindowStatus.OPEN

    def _hold_person(self, ticket: Ticket) -> None:
        if ticket.person_hash is not None:
            self.active_people.setdefault((ticket.person_hash, ticket.theme), set()).add(ticket.id)

    def _forget_person(self, ticket: Ticket) -> None:
        if ticket.person_hash is not None:
            key = (ticket.person_hash, ticket.theme)
            held = self.active_people.get(key)
            if held is not None:
                held.discard(ticket.id)
                if not held:
                    del self.active_people[key]


def policy_after(policy: Policy, changes: Mapping[str, Any]) -> Policy:
    """The policy with a PolicyChanged's changes laid over it."""
    fields = {name: value for name, value in changes.items() if name != "max_wait_s"}
    if "max_wait_s" in changes:
        themes = dict(policy.theme_max_wait_s)
        themes.update({t: int(s) for t, s in changes["max_wait_s"].items()})
        fields["theme_max_wait_s"] = tuple(sorted(themes.items()))
    return dataclasses.replace(policy, **fields)


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidCommand("a reason is required: the audit trail records why", field="reason")


def _setting(limits: SettingRange, name: str, value: object) -> int | float:
    """A manager's value for one setting, checked against its range and made int or float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidCommand(limits.message(name), field=name)
    if limits.integer and value != int(value):
        raise InvalidCommand(limits.message(name), field=name)
    number: int | float = int(value) if limits.integer else float(value)
    if not limits.low <= number <= limits.high:
        raise InvalidCommand(limits.message(name), field=name)
    return number


_APPLY: dict[type[Event], Any] = {
    TicketIssued: Hall._on_issued,
    TicketReserved: Hall._on_reserved,
    TicketVoided: Hall._on_voided,
    TicketReprinted: Hall._on_reprinted,
    TicketCalled: Hall._on_called,
    TicketRecalled: Hall._on_recalled,
    ServiceStarted: Hall._on_started,
    ServiceFinished: Hall._on_finished,
    TicketNoShow: Hall._on_no_show,
    TicketHeld: Hall._on_held,
    TicketReturned: Hall._on_returned,
    TicketTransferred: Hall._on_transferred,
    TicketContinued: Hall._on_continued,
    TicketCancelled: Hall._on_cancelled,
    TicketRated: Hall._on_rated,
    WindowOpened: Hall._on_window_opened,
    WindowClosed: Hall._on_window_closed,
    WindowPaused: Hall._on_window_paused,
    WindowResumed: Hall._on_window_resumed,
    TicketPrioritised: Hall._on_prioritised,
    PolicyChanged: Hall._on_policy_changed,
    HelpRequested: Hall._on_help_requested,
    AlertAcknowledged: Hall._on_alert_acknowledged,
    EmergencyStarted: Hall._on_emergency_started,
    EmergencyEnded: Hall._on_emergency_ended,
    RatingRequested: Hall._on_rating_requested,
    CaseNumberRecorded: Hall._on_case_number,
    RatingWaived: Hall._on_rating_waived,
    FollowUpOpened: Hall._on_followup,
    FollowUpCalledBack: Hall._on_followup,
    FollowUpRectified: Hall._on_followup,
    FollowUpRerated: Hall._on_followup,
    AppointmentBooked: Hall._on_appointment_booked,
    AppointmentCancelled: Hall._on_appointment_cancelled,
    AppointmentCheckedIn: Hall._on_appointment_checked_in,
    AppointmentMissed: Hall._on_appointment_missed,
    SignedIn: Hall._on_signed_in,
    SignedOut: Hall._on_signed_out,
    SignInRefused: Hall._on_sign_in_refused,
    PersonalDataPurged: Hall._on_personal_data_purged,
}
