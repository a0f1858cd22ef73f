"""The hall's use cases: what the web surface and the devices ask of the controller.

Each write runs the core command, appends its events to the log and answers only once they are
durable. A write may carry an idempotency key: a retry with the same key gets the first answer
back instead of a second ticket or a second call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from typing import Any, Protocol

import structlog

from .core.bookings import Booking, BookingProblem, BookingRequest, BookingsRefused
from .core.calendar import business_day, day_start, local_datetime
from .core.capacity import (
    FullReason,
    Slot,
    ThemeFull,
    capacity_of,
    check_in_opens,
    next_slot,
    slot_to_book,
)
from .core.errors import Conflict, InvalidCommand, NotFound
from .core.events import (
    PERSONAL_FIELDS,
    AccessEvent,
    AppointmentBooked,
    AppointmentCheckedIn,
    Event,
    PersonalDataPurged,
    TicketCalled,
    TicketIssued,
    TicketReserved,
    event_data,
    event_from_data,
)
from .core.followups import (
    FOLLOWUP_EVENT_NAMES,
    Deadline,
    Done,
    FollowUp,
    FollowUpOutcome,
    FollowUps,
    followup_id_of,
)
from .core.forecast import Estimate, Forecast, forecast
from .core.hall import RATING_SCALE, RATING_SCALE_EN, Hall, Ticket, WindowState, ticket_id_of
from .core.identity import age_band, age_on, parse_resident_id
from .core.model import (
    POLICY_RANGES,
    THEME_MAX_WAIT_RANGE,
    HallConfig,
    Theme,
    TicketPrint,
    TicketStatus,
)
from .core.policy import RULE_TEXT, Rule
from .core.snapshot import SnapshotMismatch, from_snapshot, to_snapshot
from .store import DayPurge, EventLog, EventRecord, NewEvent, PurgeRecord, Snapshot, StoredReply
from .store.errors import StoreError

log = structlog.get_logger(__name__)
# Committed events between two freezes of the long-lived objects (see _freeze_long_lived).
FREEZE_EVERY = 1000
# Who the audit trail names for the purges of personal data the controller does by itself.
RETENTION_ACTOR = "system:retention"
# A due snapshot waits for a command that comes after this quiet gap (see _snapshot_due),
# but no longer than this many times its usual spacing.
SNAPSHOT_QUIET_S = 1.0
SNAPSHOT_DEFERRED_UP_TO = 4
# How long the hall display waits for a call's audio to be rendered.
CALL_AUDIO_TIMEOUT_S = 20.0
# A display asks for a call's audio as the call is made (or soon after, from its backlog):
# calls older than this, other than a window's latest, are not rendered for screens.
CALL_AUDIO_RECENT_S = 600.0
# Booking codes made for slots booked at a kiosk.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

Clock = Callable[[], float]


class ServiceError(Exception):
    """A request the service layer cannot carry out; nothing changed."""

    code = "service_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceUnavailable(ServiceError):
    """The event log cannot be written: the controller must restart and replay."""

    code = "unavailable"


class IdempotencyKeyReused(ServiceError):
    """An idempotency key came back with a different request."""

    code = "idempotency_key_reused"


class DeviceControl(Protocol):
    """What the services may ask of the hall's devices (the device hub implements it)."""

    def health(self) -> list[dict[str, Any]]:
        """Every device's health (state, last seen, counters), JSON-ready."""
        ...

    def learn_remote(self, device_id: str, window: str | None) -> None:
        """Bind the next unknown wireless pad at a receiver to `window` (None: stop learning);
        KeyError for an unknown device, ValueError for a device that cannot learn."""
        ...


class CallVoice(Protocol):
    """The edge box's own voice for the hall display's browser (set by the composition root)."""

    async def call_wav(self, number: str, window: str) -> bytes | None:
        """The spoken call "请 A012 号 到 3 号窗口" as a WAV; None when it cannot be rendered."""
        ...

    async def emergency_wav(self, message: str, drill: bool) -> bytes | None:
        """The emergency's message as the speakers say it ("紧急通知：..." / "演练：...") as a
        WAV; None when it cannot be rendered."""
        ...


@dataclass(frozen=True, slots=True)
class Applicant:
    """What the hall keeps of an ID card while issuing: a keyed hash and the birth date."""

    person_hash: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class Reply:
    """What a use case answers: an HTTP-like status and a JSON-ready body."""

    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """A durable hall event as subscribers receive it."""

    seq: int
    type: str
    at: float
    actor: str
    data: dict[str, Any]


@dataclass(slots=True)
class _Subscriber:
    queue: asyncio.Queue[PublishedEvent | None]
    dropped: bool = False


@dataclass(slots=True)
class EventBus:
    """Fans durable events out to live subscribers; a subscriber that falls behind is dropped."""

    capacity: int = 2000
    _subscribers: list[_Subscriber] = field(default_factory=list)
    closed: bool = False  # close() was called: no more events will come

    def publish(self, event: PublishedEvent) -> None:
        """Hand an event to every subscriber without ever waiting for one."""
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A stalled screen must not hold up the hall: cut it off; it reconnects.
                sub.dropped = True
                self._subscribers.remove(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[PublishedEvent | None]]:
        """A queue of events from now on; None in it means the subscriber fell behind."""
        sub = _Subscriber(asyncio.Queue(self.capacity))
        self._subscribers.append(sub)
        try:
            yield sub.queue
        finally:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def close(self) -> None:
        """Tell every subscriber the stream has ended."""
        self.closed = True
        for sub in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
        self._subscribers.clear()

    def __len__(self) -> int:
        return len(self._subscribers)


def fingerprint(operation: str, payload: Any) -> str:
    """A stable digest of one request, to tell a true retry from a reused key."""
    text = json.dumps([operation, payload], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(slots=True)
class _InFlight:
    fingerprint: str
    done: asyncio.Future[Reply]


class HallService:
    """The controller's use cases over one hall's day, backed by the durable event log."""

    def __init__(
        self,
        config: HallConfig,
        event_log: EventLog,
        *,
        tz: tzinfo,
        person_key: bytes,
        clock: Clock = time.time,
        snapshot_every: int = 2000,
    ) -> None:
        self.config = config
        self.tz = tz
        self.bus = EventBus()
        self._log = event_log
        self._person_key = person_key
        # Status links are signed with a key of their own, derived: a link never helps anyone
        # learn a person hash (and the hall keeps one secret file).
        self._link_key = hmac.new(person_key, b"ticket status links", hashlib.sha256).digest()
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._since_freeze = 0
        self._last_commit_at = 0.0  # monotonic time of the last committed command
        self._lull: asyncio.TimerHandle | None = None  # a due snapshot waiting for a lull
        self._since_snapshot = 0
        self._snapshot_pending: asyncio.Future[None] | None = None
        self._replies: dict[str, StoredReply] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._forecast: Forecast | None = None
        self._forecast_budget_s = 0.0
        self._failure: str | None = None
        # Called once when the event log fails, so the process can stop and be restarted.
        self.on_failure: Callable[[str], None] | None = None
        # Called with the hall and each durable batch of events (devices render from them).
        self.watchers: list[Callable[[Hall, Sequence[Event]], None]] = []
        # Called with the new business day as soon as the hall has rolled over to it.
        self.day_started: list[Callable[[str], None]] = []
        # The hall's devices, when it has any (set by the composition root).
        self.devices: DeviceControl | None = None
        # The call rendered as audio, for hall displays that speak (None: the browser's voice).
        self.voice: CallVoice | None = None
        # How often speakers and speaking displays repeat an emergency's message ([announcer]
        # emergency_repeat, set by the composition root).
        self.emergency_repeat_s = 60.0
        self.hall = Hall.new_day(config, business_day(clock(), tz, config.day_rollover), tz)
        # Days ahead with bookings, as far as this run has read or booked them.
        self._ahead: dict[str, Hall] = {}
        # Poor ratings' follow-ups of every day (they outlive the business day they began on).
        self.followups = FollowUps()
        self._day_span = (0.0, 0.0)
        self._set_hall(self.hall)

    # ----------------------------------------------------------------- start-up

    def load(self) -> None:
        """Rebuild today's state from the latest snapshot and the events after it (blocking)."""
        # Restoring allocates tens of thousands of objects that all live on: collecting
        # meanwhile only rescans them (about a third of the restore time on a busy day).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._restore()
        finally:
            if collecting:
                gc.enable()

    def _restore(self) -> None:
        day = business_day(self._clock(), self.tz, self.config.day_rollover)
        started = time.perf_counter()
        snapshot, records = self._log.load_day(day)
        hall: Hall | None = None
        if snapshot is not None:
            try:
                hall = from_snapshot(self.config, self.tz, snapshot.state)
            except (SnapshotMismatch, KeyError, TypeError, ValueError) as exc:
                log.warning("snapshot_unusable", day=day, error=str(exc))
                records = self._log.events(day=day)
        if hall is None:
            hall = Hall.new_day(self.config, day, self.tz)
        for record in records:
            try:
                hall.apply(_event_of(record))
            except (KeyError, ValueError, TypeError) as exc:
                raise ServiceError(
                    f"event {record.seq} ({record.type}) of {day} does not fit this hall's "
                    f"config ({exc!r}): start with the config that wrote it, or move the data "
                    "directory aside to start the day afresh"
                ) from exc
        self._set_hall(hall)
        self.followups = FollowUps.replay(
            _event_of(r) for r in self._log.events(types=FOLLOWUP_EVENT_NAMES)
        )
        # Yesterday's replies too: a retry may straddle the rollover and a restart.
        self._replies = {
            **self._log.replies_for_day(_previous_day(day)),
            **self._log.replies_for_day(day),
        }
        self._since_snapshot = len(records)
        log.info(
            "day_restored",
            day=day,
            snapshot_seq=snapshot.seq if snapshot is not None else None,
            events_replayed=len(records),
            tickets=len(hall.tickets),
            waiting=len(hall.book),
            seconds=round(time.perf_counter() - started, 3),
        )

    # ----------------------------------------------------------------- reads

    def now(self) -> float:
        """The controller's clock."""
        return self._clock()

    def current(self) -> Hall:
        """Today's state, rolling over to a new business day if the clock has crossed one."""
        self._roll_day(self._clock())
        return self.hall

    @property
    def failure(self) -> str | None:
        """Why the controller stopped accepting writes, if it did."""
        return self._failure

    def themes_view(self) -> list[dict[str, Any]]:
        """Every theme with its hours, how many wait and the wait a new ticket can expect."""
        hall = self.current()
        now = self._clock()
        local = local_datetime(now, self.tz).time()
        fc = self._fresh_forecast(now)
        stood_in = hall.substitutions()
        out = []
        for theme in self.config.themes:
            waiting = hall.book.waiting_in_theme(theme.id)
            interval = fc.intervals.get(theme.id)
            out.append(
                {
                    "id": theme.id,
                    "name_zh": theme.name_zh,
                    "name_en": theme.name_en,
                    "prefix": theme.prefix,
                    "hours": [f"{p.start:%H:%M}-{p.end:%H:%M}" for p in theme.hours],
                    "open_now": theme.is_open_at(local) or not self.config.enforce_opening_hours,
                    "daily_cap": theme.daily_cap,
                    "issued": hall.serials[theme.id],
                    "waiting": waiting,
                    "max_wait_s": hall.policy.theme_limit_s(theme),
                    "expected_service_s": round(hall.service_time_s(theme.id)),
                    "estimated_wait_s": None if interval is None else round(waiting * interval),
                    "stood_in_by": list(stood_in.get(theme.id, ())),
                    "capacity": self._capacity_view(hall, theme.id, now),
                }
            )
        return out

    def windows_view(self) -> list[dict[str, Any]]:
        """Every window, its status and the ticket it holds."""
        hall = self.current()
        return [self._window_view(hall, w) for w in hall.windows.values()]

    def window_view(self, window_id: str) -> dict[str, Any]:
        """One window, its status and the ticket it holds."""
        hall = self.current()
        return self._window_view(hall, hall.window(window_id))

    def tickets_view(self, status: TicketStatus | None = None) -> list[dict[str, Any]]:
        """Today's tickets, optionally of one status; waiting ones in the order they will go."""
        hall = self.current()
        now = self._clock()
        if status is TicketStatus.WAITING:
            tickets = hall.waiting()
            fc = self._fresh_forecast(now)
            views = [self._ticket_view(hall, t, fc.estimate(hall, t.id, now)) for t in tickets]
            views.sort(key=lambda v: (v["estimated_wait_s"] is None, v["estimated_wait_s"] or 0))
            return views
        chosen = [t for t in hall.tickets.values() if status is None or t.status is status]
        chosen.sort(key=lambda t: (t.arrival_at, t.id))
        current = self._fresh_forecast(now)
        return [
            self._ticket_view(
                hall,
                t,
                current.estimate(hall, t.id, now) if t.status is TicketStatus.WAITING else None,
            )
            for t in chosen
        ]

    def ticket_view(self, ticket_id: str) -> dict[str, Any]:
        """One ticket's live status: place in the queue, estimate, or the window calling it."""
        hall = self.current()
        ticket = hall.ticket(ticket_id)
        return self._ticket_view(hall, ticket, self._estimate(hall, ticket))

    async def audit_view(
        self, *, day: str | None, ticket: str | None, after: int, limit: int
    ) -> dict[str, Any]:
        """The audit trail: who did what, when, through which device or user, oldest first."""
        hall = self.current()
        day = day or hall.day
        ticket_id = None
        if ticket is not None:
            # A bare number (A012) means that day's ticket.
            ticket_id = ticket if "-" in ticket else ticket_id_of(day, ticket.upper())

        def read() -> list[EventRecord]:
            records = self._log.events(day=day, after_seq=after)
            if ticket_id is not None:
                records = [r for r in records if r.data.get("ticket_id") == ticket_id]
            return records[:limit]

        try:
            records = await asyncio.to_thread(read)
        except StoreError as exc:
            raise ServiceUnavailable(f"cannot read the event log: {exc}") from exc
        entries = []
        for record in records:
            data = dict(record.data)
            data.pop("person_hash", None)
            data.pop("candidates", None)
            entries.append(
                {
                    "seq": record.seq,
                    "at": self._iso(record.at),
                    "type": record.type,
                    "actor": record.actor,
                    "data": data,
                }
            )
        more = len(records) == limit
        return {
            "day": day,
            "events": entries,
            "next_after": entries[-1]["seq"] if entries and more else None,
        }

    def device_health(self) -> list[dict[str, Any]]:
        """Every device's health as the hub keeps it (times as epoch seconds)."""
        return self.devices.health() if self.devices is not None else []

    def learn_remote(self, device_id: str, window: str | None, *, actor: str) -> dict[str, Any]:
        """Put a 433 MHz receiver in learn mode for a window (or end it); its device view."""
        if window is not None:
            self.current().window(window)  # NotFound for a window the hall does not have
        try:
            if self.devices is None:
                raise KeyError(device_id)
            self.devices.learn_remote(device_id, window)
        except KeyError:
            raise NotFound(f'no device "{device_id}"', device=device_id) from None
        except ValueError as exc:
            raise InvalidCommand(str(exc), device=device_id) from None
        log.info("remote_learning", device=device_id, window=window, actor=actor)
        return next(view for view in self.devices_view() if view["id"] == device_id)

    def devices_view(self) -> list[dict[str, Any]]:
        """Every device's health with its times as ISO strings."""
        views = []
        for health in self.device_health():
            view = dict(health)
            view["since"] = self._iso(health["since"])
            view["last_seen"] = self._iso(health["last_seen"])
            views.append(view)
        return views

    def ticket_link(self, ticket_id: str) -> str:
        """The ticket's signed link: its id and a keyed MAC, for its status page and QR code."""
        return f"{ticket_id}.{self._link_mac(ticket_id)}"

    def status_url(self, ticket_id: str) -> str:
        """The address of the ticket's live status page (the hall's [ticket] status_url)."""
        return self.config.ticket.status_url.format(link=self.ticket_link(ticket_id))

    def ticket_for_link(self, link: str) -> str:
        """The id of today's ticket a signed link names; NotFound for a wrong or old link."""
        ticket_id, _, mac = link.rpartition(".")
        valid = bool(ticket_id) and hmac.compare_digest(mac, self._link_mac(ticket_id))
        hall = self.current()
        if not valid or ticket_id not in hall.tickets:
            # Wrong, forged and yesterday's links all read the same: nothing is revealed.
            raise NotFound("this status link is not valid (any more)")
        return ticket_id

    def status_view(self, link: str) -> dict[str, Any]:
        """What a ticket's own status page shows: that ticket only, nothing of anyone else."""
        hall = self.current()
        ticket = hall.tickets[self.ticket_for_link(link)]
        theme = self.config.theme(ticket.theme)
        estimate = self._estimate(hall, ticket)
        at_window = ticket.status in (TicketStatus.CALLED, TicketStatus.SERVING)
        window = self.config.window(ticket.window) if at_window and ticket.window else None
        return {
            "number": ticket.number,
            "theme": ticket.theme,
            "theme_name_zh": theme.name_zh,
            "theme_name_en": theme.name_en,
            "status": ticket.status.value,
            "priority": ticket.priority is not None,
            "position": estimate.position if estimate else None,
            "ahead": estimate.ahead if estimate else None,
            "estimated_wait_s": (
                round(estimate.wait_s) if estimate and estimate.wait_s is not None else None
            ),
            "window": window.id if window else None,
            "window_name_zh": window.name_zh if window else None,
            "window_name_en": window.name_en if window else None,
            "issued_at": self._iso(ticket.arrival_at),
            "called_at": self._iso(ticket.called_at),
            "recalls": ticket.recalls,
        }

    def _link_mac(self, ticket_id: str) -> str:
        return hmac.new(self._link_key, ticket_id.encode(), hashlib.sha256).hexdigest()[:16]

    def state_view(self) -> dict[str, Any]:
        """A compact picture of the hall for live screens: windows and waiting per theme, the
        latest no-shows (newest first) and the emergency, if one is declared."""
        hall = self.current()
        emergency = hall.emergency
        return {
            "day": hall.day,
            "at": self._iso(self._clock()),
            "waiting": {t.id: hall.book.waiting_in_theme(t.id) for t in self.config.themes},
            "windows": {
                w.id: {
                    "status": w.status.value,
                    "ticket": hall.tickets[w.ticket_id].number if w.ticket_id else None,
                }
                for w in hall.windows.values()
            },
            "missed": [hall.tickets[t].number for t in reversed(hall.missed)],
            "stood_in": {theme: list(windows) for theme, windows in hall.substitutions().items()},
            # A public screen's view: what to show, not who declared it.
            "emergency": (
                {
                    "message": emergency.message,
                    "drill": emergency.drill,
                    "since": self._iso(emergency.since),
                }
                if emergency is not None
                else None
            ),
        }

    def emergency_view(self) -> dict[str, Any]:
        """Whether an emergency (or a drill) is declared, its message, since when and by whom."""
        emergency = self.current().emergency
        if emergency is None:
            return {"active": False, "message": None, "drill": False, "since": None, "by": None}
        return {
            "active": True,
            "message": emergency.message,
            "drill": emergency.drill,
            "since": self._iso(emergency.since),
            "by": emergency.by,
        }

    def display_view(self) -> dict[str, Any]:
        """The hall display's settings: its notice line and whether it speaks, and how."""
        display = self.config.display
        return {
            "notice_zh": display.notice_zh,
            "notice_en": display.notice_en,
            "voice": display.voice,
            "voice_audio": self.voice is not None,
            "emergency_repeat_s": self.emergency_repeat_s,
        }

    def next_view(self, window_id: str, count: int) -> dict[str, Any]:
        """The next `count` tickets this window would get if it called now, one after the
        other, in the policy's order with the rule for each; nothing in the hall changes."""
        hall = self.current()
        now = self._clock()
        window = hall.window(window_id)
        tickets = []
        for decision in hall.upcoming(window_id, now, count):
            ticket = hall.tickets[decision.ticket_id]
            theme = self.config.theme(ticket.theme)
            tickets.append(
                {
                    "id": ticket.id,
                    "number": ticket.number,
                    "theme": ticket.theme,
                    "theme_name_zh": theme.name_zh,
                    "theme_name_en": theme.name_en,
                    "priority": ticket.priority,
                    "target_window": ticket.target_window,
                    "waited_s": round(now - ticket.arrival_at),
                    "rule": decision.rule.value,
                    "explanation": RULE_TEXT[decision.rule],
                }
            )
        return {"window": window.id, "status": window.status.value, "tickets": tickets}

    def rating_request_view(self, window_id: str) -> dict[str, Any]:
        """The ticket whose rating this window asked for and is still waiting for, if any, and
        the one a request would be about now."""
        hall = self.current()
        window = hall.window(window_id)
        ticket_id = hall.rating_requests.get(window.id)
        asked = hall.tickets[ticket_id] if ticket_id is not None else None
        rateable = hall.rateable(window.id)

        def brief(ticket: Ticket | None) -> dict[str, Any] | None:
            if ticket is None:
                return None
            return {"id": ticket.id, "number": ticket.number, "status": ticket.status.value}

        # `rateable`: the ticket a request would be about now (the panel's button follows it).
        return {"window": window.id, "ticket": brief(asked), "rateable": brief(rateable)}

    async def call_audio(self, ticket: str, window_id: str) -> bytes:
        """The WAV of a recent call (that ticket at that window: the window's latest, or made
        in the last 10 minutes), in the edge box's voice; NotFound when there was no such call,
        it is older, or the controller has no voice for screens."""
        hall = self.current()
        called = hall.ticket(ticket)
        window = hall.window(window_id)
        if called.called_at is None or called.window != window.id:
            raise NotFound(f"ticket {called.number} was not called to window {window.id}")
        latest = hall.last_called.get(window.id) == called.id
        if not latest and self._clock() - called.called_at > CALL_AUDIO_RECENT_S:
            # The address is public: an old call is not rendered again, so walking it through
            # the day's calls cannot keep espeak-ng (and the lock the speakers share) busy.
            raise NotFound(f"the call of {called.number} to window {window.id} is over")
        if self.voice is None:
            raise NotFound("this controller renders no call audio: screens use their own voice")
        return await _rendered(
            self.voice.call_wav(called.number, window.id), f"the call of {called.number}"
        )

    async def emergency_audio(self) -> bytes:
        """The declared emergency's message in the edge box's voice, as a WAV; NotFound when
        none is declared or the controller has no voice for screens. Only the declared message
        is rendered: the address is public."""
        emergency = self.current().emergency
        if emergency is None:
            raise NotFound("no emergency is declared")
        if self.voice is None:
            raise NotFound("this controller renders no audio: screens use their own voice")
        return await _rendered(
            self.voice.emergency_wav(emergency.message, emergency.drill), "the emergency's message"
        )

    # ----------------------------------------------------------------- writes

    def applicant(self, id_number: str) -> Applicant:
        """Validate a resident ID number (InvalidCommand) into what the hall may keep of it."""
        resident = parse_resident_id(id_number, date.fromisoformat(self.current().day))
        return Applicant(self._person_hash(resident.number), resident.birth_date)

    async def issue_ticket(
        self,
        *,
        theme: str,
        priority: str | None,
        id_number: str | None,
        channel: str,
        actor: str,
        appointment_at: float | None = None,
        key: str | None = None,
    ) -> Reply:
        """Issue a ticket; an ID number can select the elderly group, then is forgotten."""
        applicant = self.applicant(id_number) if id_number else None
        return await self.issue_applicant(
            theme=theme,
            priority=priority,
            applicant=applicant,
            channel=channel,
            actor=actor,
            appointment_at=appointment_at,
            key=key,
        )

    async def issue_applicant(
        self,
        *,
        theme: str,
        priority: str | None,
        applicant: Applicant | None,
        channel: str,
        actor: str,
        appointment_at: float | None = None,
        key: str | None = None,
    ) -> Reply:
        """Issue a ticket to an applicant known by ID card (or to anyone: None)."""
        person_hash = applicant.person_hash if applicant is not None else None
        # The raw ID number is never part of the stored fingerprint, only its keyed hash.
        payload = {
            "theme": theme,
            "priority": priority,
            "person": person_hash,
            "channel": channel,
            "appointment_at": appointment_at,
        }

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            group, band = self._group_and_band(now, priority, applicant)
            events = hall.issue(
                theme=theme,
                priority=group,
                channel=channel,
                at=now,
                actor=actor,
                appointment_at=appointment_at,
                age_band=band,
                person_hash=person_hash,
            )
            issued = events[0]
            assert isinstance(issued, TicketIssued)
            return events, lambda: Reply(201, self.ticket_view(issued.ticket_id))

        try:
            return await self._execute("issue", payload, key, run)
        except ThemeFull as full:
            raise await self._offered(full) from None

    def applicant_group(self, applicant: Applicant) -> tuple[str | None, str]:
        """The priority group an applicant's age selects (None: regular) and the age band."""
        group, band = self._group_and_band(self._clock(), None, applicant)
        assert band is not None
        return group, band

    async def reserve_ticket(
        self,
        *,
        theme: str,
        priority: str | None,
        applicant: Applicant | None,
        channel: str,
        printer: str,
        actor: str,
    ) -> Ticket:
        """Take the theme's next number for a ticket to print (durable before it returns)."""
        payload = {"theme": theme, "priority": priority, "printer": printer}

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            group, band = self._group_and_band(now, priority, applicant)
            events = hall.reserve(
                theme=theme,
                priority=group,
                channel=channel,
                printer=printer,
                at=now,
                actor=actor,
                age_band=band,
                person_hash=applicant.person_hash if applicant is not None else None,
            )
            reserved = events[0]
            assert isinstance(reserved, TicketReserved)
            return events, lambda: Reply(201, {"id": reserved.ticket_id})

        try:
            reply = await self._execute("reserve", payload, None, run)
        except ThemeFull as full:
            raise await self._offered(full) from None
        return self.current().ticket(reply.body["id"])

    async def confirm_printed(self, ticket_id: str, *, actor: str) -> Reply:
        """The reserved ticket is printed: issue it (durable before it returns)."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.confirm_printed(ticket_id, at=now, actor=actor)
            return events, lambda: Reply(201, self.ticket_view(ticket_id))

        return await self._execute("confirm_printed", {"ticket": ticket_id}, None, run)

    async def void_ticket(self, ticket_id: str, reason: str, *, actor: str) -> None:
        """The reserved ticket's print failed: its number is spent, never issued."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.void(ticket_id, reason, at=now, actor=actor)
            return events, lambda: Reply(200, {"id": ticket_id})

        await self._execute("void", {"ticket": ticket_id, "reason": reason}, None, run)
        log.warning("ticket_voided", ticket=ticket_id, reason=reason, actor=actor)

    async def record_reprint(
        self, ticket_id: str, printer: str, reason: str, *, actor: str
    ) -> Reply:
        """Record a confirmed reprint (补打) of a waiting ticket in the audit trail."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            target = hall.ticket(ticket_id).id
            events = hall.reprint(target, printer, reason, at=now, actor=actor)
            return events, lambda: Reply(200, self.ticket_view(target))

        payload = {"ticket": ticket_id, "printer": printer, "reason": reason}
        return await self._execute("reprint", payload, None, run)

    def ticket_print(self, ticket_id: str, *, reprint: bool = False) -> TicketPrint:
        """What the ticket's paper says, laid out by the hall's [ticket] settings."""
        hall = self.current()
        ticket = hall.ticket(ticket_id)
        layout = self.config.ticket
        now = self._clock()
        estimate = self._estimate(hall, ticket)  # a waiting ticket, in its line or a window's
        if ticket.status is TicketStatus.PRINTING:  # where it will stand once issued
            estimate = self._fresh_forecast(now).estimate_entry(hall, ticket.queue_entry(), now)
        wait = estimate.wait_s if estimate is not None else None
        group = self.config.group(ticket.priority) if ticket.priority is not None else None
        return TicketPrint(
            hall_name=layout.header or self.config.name_zh,
            theme_name=self.config.theme(ticket.theme).name_zh,
            number=ticket.number,
            priority_mark=f"优先 {group.name_zh}" if group is not None else None,
            people_ahead=(
                estimate.ahead if estimate is not None and layout.show_people_ahead else None
            ),
            wait_minutes=(math.ceil(wait / 60) if wait is not None and layout.show_wait else None),
            issued_at=local_datetime(ticket.arrival_at, self.tz).strftime("%Y-%m-%d %H:%M"),
            qr_url=self.status_url(ticket.id) if layout.qr else None,
            footer=layout.footer,
            reprint=reprint,
        )

    async def void_unconfirmed(self) -> list[str]:
        """Void tickets a previous run reserved but never confirmed (it stopped mid-print)."""
        voided = []
        for ticket in self.current().printing():
            # The paper may have come out: staff see the number in this warning and the audit.
            await self.void_ticket(
                ticket.id, "the controller restarted before the print was confirmed", actor="system"
            )
            voided.append(ticket.number)
        return voided

    def _group_and_band(
        self, now: float, priority: str | None, applicant: Applicant | None
    ) -> tuple[str | None, str | None]:
        """The priority group (an ID card's age may select the elderly one) and the age band."""
        if applicant is None:
            return priority, None
        age = age_on(applicant.birth_date, local_datetime(now, self.tz).date())
        elderly = self.config.elderly_group()
        group = priority
        if group is None and elderly is not None and age >= (elderly.min_age or 0):
            group = elderly.id
        return group, age_band(age)

    async def call(
        self,
        window_id: str,
        *,
        ticket: str | None,
        actor: str,
        key: str | None = None,
        view: bool = True,
    ) -> Reply:
        """The window calls its next ticket (or one named ticket); 204 when nobody waits.

        Without `view` the reply has no body (a call pad only needs to know it worked)."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            if ticket is None:
                events = hall.call_next(window_id, at=now, actor=actor)
            else:
                events = hall.call_ticket(window_id, ticket, at=now, actor=actor)
            if not events:
                return [], lambda: Reply(204, None)
            called = events[-1]
            assert isinstance(called, TicketCalled)
            if not view:
                return events, lambda: Reply(200, None)
            return events, lambda: Reply(200, self._call_view(window_id, called.ticket_id))

        return await self._execute("call", {"window": window_id, "ticket": ticket}, key, run)

    async def window_action(
        self,
        window_id: str,
        action: str,
        *,
        actor: str,
        reason: str | None = None,
        key: str | None = None,
        view: bool = True,
    ) -> Reply:
        """recall / start / finish / no-show / hold / pause / resume / open / close a window;
        without `view` the reply has no body."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            command = _WINDOW_ACTIONS.get(action)
            if command is None:
                raise NotFound(f'no window action "{action}"')
            ticket = hall.current_ticket(window_id)
            events = command(hall, window_id, reason or "", now, actor)
            ticket_id = ticket.id if ticket is not None else None
            if not view:
                return events, lambda: Reply(200, None)

            def reply() -> Reply:
                body = {"window": self.window_view(window_id)}
                if ticket_id is not None:
                    body["ticket"] = self.ticket_view(ticket_id)
                return Reply(200, body)

            return events, reply

        return await self._execute(
            f"window.{action}", {"window": window_id, "reason": reason}, key, run
        )

    async def ticket_action(
        self,
        ticket_id: str,
        action: str,
        *,
        actor: str,
        reason: str = "",
        to_theme: str | None = None,
        to_window: str | None = None,
        score: int | None = None,
        key: str | None = None,
    ) -> Reply:
        """cancel / transfer / return / rate a ticket."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            target = hall.ticket(ticket_id).id
            if action == "cancel":
                events = hall.cancel(target, reason, at=now, actor=actor)
            elif action == "transfer":
                events = hall.transfer(
                    target,
                    to_theme=to_theme,
                    to_window=to_window,
                    reason=reason,
                    at=now,
                    actor=actor,
                )
            elif action == "return":
                events = hall.return_ticket(target, at=now, actor=actor)
            elif action == "rate":
                if score is None:
                    raise InvalidCommand("score is required: 1 (非常不满意) to 5 (非常满意)")
                events = hall.rate(target, score, at=now, actor=actor)
            else:
                raise NotFound(f'no ticket action "{action}"')
            return events, lambda: Reply(200, self.ticket_view(target))

        payload = {
            "ticket": ticket_id,
            "reason": reason,
            "to_theme": to_theme,
            "to_window": to_window,
            "score": score,
        }
        return await self._execute(f"ticket.{action}", payload, key, run)

    async def start_emergency(
        self, message: str, drill: bool, *, actor: str, key: str | None = None
    ) -> Reply:
        """Declare an emergency or a drill: the hall display and the window boards show the
        message, the speakers repeat it, and no new ticket is issued until it ends."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.start_emergency(message, drill, at=now, actor=actor)
            log.warning("emergency_started", message=message, drill=drill, actor=actor)
            return events, lambda: Reply(200, self.emergency_view())

        # Once durable, the devices' watcher puts the message on the window boards and has
        # every speaker repeat it (devices/hub.py).
        payload = {"message": message, "drill": drill}
        return await self._execute("emergency.start", payload, key, run)

    async def end_emergency(self, *, actor: str, key: str | None = None) -> Reply:
        """End the declared emergency or drill."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.end_emergency(at=now, actor=actor)
            log.warning("emergency_ended", actor=actor)
            return events, lambda: Reply(200, self.emergency_view())

        return await self._execute("emergency.end", {}, key, run)

    async def continue_visit(
        self,
        window_id: str,
        *,
        to_theme: str,
        to_window: str | None,
        reason: str,
        actor: str,
        key: str | None = None,
    ) -> Reply:
        """End the window's service and send its applicant on to the visit's next stage (e.g.
        intake -> pick-up) with the same ticket, its arrival time and priority kept."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            ticket = hall.current_ticket(window_id)
            events = hall.continue_visit(
                window_id,
                to_theme=to_theme,
                to_window=to_window,
                reason=reason,
                at=now,
                actor=actor,
            )
            ticket_id = ticket.id if ticket is not None else ""

            def reply() -> Reply:
                return Reply(
                    200,
                    {"window": self.window_view(window_id), "ticket": self.ticket_view(ticket_id)},
                )

            return events, reply

        payload = {"window": window_id, "theme": to_theme, "to_window": to_window, "reason": reason}
        return await self._execute("window.continue", payload, key, run)

    async def request_rating(self, window_id: str, *, actor: str, key: str | None = None) -> Reply:
        """Ask for a rating of the window's service (in progress or just finished): its rating
        pad shows its prompt; the request stands until the rating or the window's next call."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.request_rating(window_id, at=now, actor=actor)
            return events, lambda: Reply(200, self.rating_request_view(window_id))

        return await self._execute("window.rating-request", {"window": window_id}, key, run)

    # ----------------------------------------------------------------- case numbers, follow-ups

    def window_service_view(self, window_id: str) -> dict[str, Any]:
        """The window's current or just finished service: its ticket, rating and case number,
        and whether the window must ask for its rating before it may call again."""
        hall = self.current()
        window = hall.window(window_id)
        ticket = hall.case_ticket(window.id)
        owed = hall.rating_owed(window.id)
        required = self.config.ratings.require_before_next
        brief = None
        if ticket is not None:
            followup = self.followups.items.get(followup_id_of(ticket.id))
            brief = {
                "id": ticket.id,
                "number": ticket.number,
                "status": ticket.status.value,
                "rating": ticket.rating,
                "rating_zh": RATING_SCALE.get(ticket.rating or 0),
                "rating_en": RATING_SCALE_EN.get(ticket.rating or 0),
                "case_number": hall.case_numbers.get(ticket.id),
                "followup": followup.id if followup is not None else None,
            }
        return {
            "window": window.id,
            "ticket": brief,
            "require_before_next": required,
            "rating_required": required and owed is not None,
            "waived": ticket is not None and hall.rating_waivers.get(window.id) == ticket.id,
        }

    async def record_case_number(
        self, window_id: str, case_number: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Record the case number (办件编号) of the window's current or just finished service."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.record_case_number(window_id, case_number, at=now, actor=actor)
            return events, lambda: Reply(200, self.window_service_view(window_id))

        payload = {"window": window_id, "case_number": case_number}
        return await self._execute("window.case-number", payload, key, run)

    async def waive_rating(
        self, window_id: str, reason: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """A manager lets the window call again without asking for its service's rating."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.waive_rating(window_id, reason, at=now, actor=actor)
            return events, lambda: Reply(200, self.window_service_view(window_id))

        payload = {"window": window_id, "reason": reason}
        return await self._execute("window.rating-override", payload, key, run)

    def followups_view(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Poor ratings' follow-ups, the open ones first (soonest deadline first)."""
        now = self._clock()
        return [self._followup_view(f, now) for f in self.followups.listed(status)[:limit]]

    def followup_view(self, followup_id: str) -> dict[str, Any]:
        """One follow-up, its deadlines as they stand now and everything done on it."""
        return self._followup_view(self.followups.get(followup_id), self._clock())

    def followup_outcomes(self, first_day: str, last_day: str) -> list[FollowUpOutcome]:
        """The follow-ups opened on these business days (both included) and whether each met
        its deadlines, as known now (for the efficiency report)."""
        return self.followups.outcomes(first_day, last_day, at=self._clock())

    async def followup_call_back(
        self, followup_id: str, note: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Record the callback (回访) of a follow-up, with what was said."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = self.followups.call_back(followup_id, note, at=now, actor=actor)
            return self._followup_events(hall, events, followup_id)

        payload = {"followup": followup_id, "note": note}
        return await self._execute("followup.callback", payload, key, run)

    async def followup_close(
        self,
        followup_id: str,
        note: str,
        ask_rating: bool,
        *,
        actor: str,
        key: str | None = None,
    ) -> Reply:
        """Record a follow-up's cause put right (整改完成): closed, or, with `ask_rating`,
        waiting for the applicant's new rating."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = self.followups.rectify(followup_id, note, ask_rating, at=now, actor=actor)
            return self._followup_events(hall, events, followup_id)

        payload = {"followup": followup_id, "note": note, "ask_rating": ask_rating}
        return await self._execute("followup.close", payload, key, run)

    async def followup_rerate(
        self, followup_id: str, score: int, note: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Record the applicant's new rating for a follow-up: a poor one keeps it open, any
        other closes it."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = self.followups.rerate(followup_id, score, note, at=now, actor=actor)
            return self._followup_events(hall, events, followup_id)

        payload = {"followup": followup_id, "score": score, "note": note}
        return await self._execute("followup.rating", payload, key, run)

    def _followup_events(
        self, hall: Hall, events: list[Event], followup_id: str
    ) -> tuple[list[Event], Callable[[], Reply]]:
        """A follow-up command's events, in today's log (the day they happen) and state."""
        for event in events:
            hall.apply(event)
        return events, lambda: Reply(200, self.followup_view(followup_id))

    def _followup_view(self, f: FollowUp, now: float) -> dict[str, Any]:
        # A follow-up may outlive its theme or window in the config: its ids then stand in.
        theme = next((t for t in self.config.themes if t.id == f.theme), None)
        window = next((w for w in self.config.windows if w.id == f.window), None)
        return {
            "id": f.id,
            "ticket_id": f.ticket_id,
            "number": f.number,
            "day": f.day,
            "theme": f.theme,
            "theme_name_zh": theme.name_zh if theme is not None else f.theme,
            "theme_name_en": theme.name_en if theme is not None else f.theme,
            "window": f.window,
            "window_name_zh": window.name_zh if window is not None else f.window,
            "window_name_en": window.name_en if window is not None else f.window,
            "clerk": f.clerk,
            "score": f.score,
            "score_zh": RATING_SCALE[f.score],
            "score_en": RATING_SCALE_EN[f.score],
            "case_number": f.case_number,
            "status": f.status.value,
            "opened_at": self._iso(f.opened_at),
            "opened_by": f.opened_by,
            "callback": self._deadline_view(
                f.callback_due, f.callback, f.callback_outcome(now), f.callback_overdue(now), now
            ),
            "rectification": self._deadline_view(
                f.rectify_due, f.closed, f.rectify_outcome(now), f.rectify_overdue(now), now
            ),
            "rating_asked": f.rating_asked,
            "latest_score": f.latest_score,
            "reopened": f.reopened,
            "overdue": f.overdue(now),
            "history": [
                {
                    "kind": step.kind,
                    "at": self._iso(step.at),
                    "by": step.by,
                    "note": step.note,
                    "score": step.score,
                }
                for step in f.history
            ],
        }

    def _deadline_view(
        self, due: float, done: Done | None, outcome: Deadline, overdue: bool, now: float
    ) -> dict[str, Any]:
        return {
            "due": self._iso(due),
            # Seconds left (negative: overdue by that much); null once done.
            "left_s": None if done is not None else round(due - now),
            "state": outcome.value,
            "overdue": overdue,
            "done_at": self._iso(done.at) if done is not None else None,
            "by": done.by if done is not None else None,
            "note": done.note if done is not None else None,
        }

    # ----------------------------------------------------------------- the manager

    def policy_view(self) -> dict[str, Any]:
        """The policy settings a manager may change: today's values, their ranges, last change."""
        hall = self.current()
        policy = hall.policy
        ranges = {**POLICY_RANGES, "max_wait_s": THEME_MAX_WAIT_RANGE}
        changed = hall.policy_changed
        return {
            **{name: getattr(policy, name) for name in POLICY_RANGES},
            "max_wait_s": {t.id: policy.theme_limit_s(t) for t in self.config.themes},
            "ranges": {
                name: {"min": r.low, "max": r.high, "integer": r.integer, "unit": r.unit}
                for name, r in ranges.items()
            },
            "changed_at": self._iso(changed[0]) if changed else None,
            "changed_by": changed[1] if changed else None,
        }

    async def change_policy(
        self, changes: Mapping[str, Any], reason: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Change policy settings live (audited with the reason); the next call follows them."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.change_policy(changes, reason, at=now, actor=actor)
            return events, lambda: Reply(200, self.policy_view())

        payload = {"changes": dict(changes), "reason": reason}
        return await self._execute("policy", payload, key, run)

    async def prioritise(
        self,
        ticket_id: str,
        priority: str | None,
        reason: str,
        *,
        actor: str,
        key: str | None = None,
    ) -> Reply:
        """Move a waiting ticket into a priority group (None: regular); its place follows."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            target = hall.ticket(ticket_id).id
            events = hall.prioritise(target, priority, reason, at=now, actor=actor)
            return events, lambda: Reply(200, self.ticket_view(target))

        payload = {"ticket": ticket_id, "priority": priority, "reason": reason}
        return await self._execute("ticket.prioritise", payload, key, run)

    async def request_help(self, kiosk: str, *, actor: str, key: str | None = None) -> Reply:
        """A kiosk pages the floor staff: 202 with its page (the open one while unanswered)."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.request_help(kiosk, at=now, actor=actor)
            page = hall.open_help_page(kiosk)
            assert page is not None
            body = {
                "alert": page.alert,
                "kiosk": page.kiosk,
                "since": self._iso(page.at),
                "paged": True,
            }
            return events, lambda: Reply(202, body)

        return await self._execute("help", {"kiosk": kiosk}, key, run)

    async def acknowledge_alert(
        self, alert: str, note: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Record a manager's acknowledgement of an alert (the caller checks that it is on)."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.acknowledge(alert, note, at=now, actor=actor)
            body = {"at": self._iso(now), "by": actor, "note": note}
            return events, lambda: Reply(200, body)

        return await self._execute("alert.ack", {"alert": alert, "note": note}, key, run)

    async def day_events(self, day: str, after_seq: int) -> list[PublishedEvent]:
        """A business day's durable events after `after_seq`, oldest first (read off the loop)."""
        return await asyncio.to_thread(self.day_events_now, day, after_seq)

    def day_events_now(self, day: str, after_seq: int) -> list[PublishedEvent]:
        """`day_events`, blocking: for a worker thread (the log's reads are thread-safe)."""
        try:
            records = self._log.events(day=day, after_seq=after_seq)
        except StoreError as exc:
            raise ServiceUnavailable(f"cannot read the event log: {exc}") from exc
        return [PublishedEvent(r.seq, r.type, r.at, r.actor, r.data) for r in records]

    # ----------------------------------------------------------------- appointments

    def person_hash_of(self, id_number: str) -> str:
        """The keyed hash the hall keeps of a resident ID number (InvalidCommand if invalid)."""
        resident = parse_resident_id(id_number, date.fromisoformat(self.current().day))
        return self._person_hash(resident.number)

    async def book_appointments(
        self,
        requests: Sequence[BookingRequest],
        *,
        actor: str,
        key: str | None = None,
        check_only: bool = False,
    ) -> Reply:
        """Book appointments, each on the business day of its slot, all or none: 201 with
        their views; BookingsRefused names every booking refused and why. `check_only`: only
        the refusals, nothing is booked."""
        today = self.current().day
        by_day: dict[str, list[int]] = {}
        problems: list[BookingProblem] = []
        for index, request in enumerate(requests):
            day = business_day(request.slot_at, self.tz, self.config.day_rollover)
            if day < today:
                slot = self._iso(request.slot_at)
                problems.append(BookingProblem(index, "slot", f"the slot {slot} has passed"))
            else:
                by_day.setdefault(day, []).append(index)
        halls = {day: await self._day_hall(day) for day in sorted(by_day)}
        # No await from here to the first commit: every day is checked before any is booked.
        now = self._clock()
        for day, indexes in by_day.items():
            for problem in halls[day].booking_problems([requests[i] for i in indexes], at=now):
                problems.append(dataclasses.replace(problem, index=indexes[problem.index]))
        if problems:
            raise BookingsRefused(tuple(sorted(problems, key=lambda p: p.index)))
        if check_only:
            return Reply(200, [])
        views: list[dict[str, Any]] = []
        for day in sorted(by_day):
            batch = [requests[i] for i in by_day[day]]

            def run(
                hall: Hall, now: float, batch: list[BookingRequest] = batch
            ) -> tuple[list[Event], Callable[[], Reply]]:
                events = hall.book_appointments(batch, at=now, actor=actor)
                ids = [e.booking_id for e in events if isinstance(e, AppointmentBooked)]
                body = [self._booking_view(hall, hall.bookings[i]) for i in ids]
                return events, lambda: Reply(201, body)

            payload = {"bookings": [dataclasses.asdict(r) for r in batch]}
            reply = await self._execute("appointments.book", payload, key, run, halls[day])
            views.extend(reply.body)
        return Reply(201, views)

    async def cancel_appointment(
        self, booking_id: str, reason: str, *, actor: str, key: str | None = None
    ) -> Reply:
        """Cancel a booking not yet checked in: 200 with its view."""
        hall = await self._day_hall(_day_of_booking(booking_id), ahead_only=True)

        def run(day: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            target = day.booking(booking_id)
            if target.id != booking_id:
                raise NotFound("no such booking", booking=booking_id)
            events = day.cancel_booking(target.id, reason, at=now, actor=actor)
            return events, lambda: Reply(200, self._booking_view(day, target))

        payload = {"booking": booking_id, "reason": reason}
        return await self._execute("appointments.cancel", payload, key, run, hall)

    async def appointments_view(self, day: str | None = None) -> dict[str, Any]:
        """A business day's bookings (today's by default), earliest slot first."""
        hall = self.current() if day is None else await self._day_hall(day)
        bookings = sorted(hall.bookings.values(), key=lambda b: (b.slot_at, b.id))
        return {"day": hall.day, "appointments": [self._booking_view(hall, b) for b in bookings]}

    def booking_for_code(self, code: str) -> str | None:
        """The id of today's booking with this code (any case), if there is one."""
        return self.current().booking_codes.get(code.strip().upper())

    def booking_for_person(self, person_hash: str) -> str | None:
        """The id of the person's booking of today still to check in, if any."""
        booking = self.current().booking_of_person(person_hash)
        return booking.id if booking is not None else None

    def check_in_view(self, booking_id: str) -> dict[str, Any]:
        """A booking of today as a kiosk shows it: theme, slot, and what a check-in would do
        now (ready / early / late / done / cancelled), never who booked it."""
        hall = self.current()
        booking = hall.booking(booking_id)
        spec = self.config.theme(booking.theme)
        state = hall.check_in_state(booking, self._clock())
        opens = booking.slot_at - hall.policy.appointment_early_s
        ticket = hall.tickets.get(booking.ticket_id or "")
        return {
            "id": booking.id,
            "theme": booking.theme,
            "theme_name_zh": spec.name_zh,
            "theme_name_en": spec.name_en,
            "slot": f"{local_datetime(booking.slot_at, self.tz):%H:%M}",
            "status": booking.status.value,
            "state": state,
            "come_back_at": f"{local_datetime(opens, self.tz):%H:%M}" if state == "early" else None,
            "ticket": ticket.number if ticket is not None and state == "done" else None,
        }

    async def check_in(
        self,
        booking_id: str,
        *,
        applicant: Applicant | None,
        channel: str,
        printer: str | None,
        actor: str,
    ) -> Ticket:
        """Check today's booking in: its ticket (reserved for `printer`, else issued), durable
        before it returns. An ID card's age may put the ticket in the elderly group."""
        payload = {"booking": booking_id, "channel": channel, "printer": printer}

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            booking = hall.booking(booking_id)
            group, band = self._group_and_band(now, booking.priority, applicant)
            events = hall.check_in(
                booking.id,
                channel=channel,
                at=now,
                actor=actor,
                printer=printer,
                priority=group,
                age_band=band,
            )
            checked = events[-1]
            assert isinstance(checked, AppointmentCheckedIn)
            return events, lambda: Reply(201, {"id": checked.ticket_id})

        reply = await self._execute("appointments.check_in", payload, None, run)
        return self.current().ticket(reply.body["id"])

    async def record_missed_appointments(self) -> int:
        """Record today's bookings nobody checked in for by slot + the late window; how many."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            events = hall.record_missed(at=now, actor="system")
            return events, lambda: Reply(200, {"missed": len(events)})

        reply = await self._execute("appointments.missed", {}, None, run)
        missed: int = reply.body["missed"]
        return missed

    # ----------------------------------------------------------------- capacity (10.3.4)

    async def read_days_ahead(self) -> None:
        """Read the days whose appointment slots a full theme may offer (kept once read), so
        that the themes view can offer their slots; a log that cannot be read offers none."""
        try:
            await self._slot_days(today=False)
        except ServiceError as exc:
            log.warning("days_ahead_unread", error=exc.message)

    async def next_slot(self, theme: str, *, today: bool = True) -> Slot | None:
        """The theme's next appointment slot with room: today after now (when `today`), else
        on the following days, at most [appointments] days_ahead ahead."""
        days = await self._slot_days(today=today)
        return next_slot(days, theme, self._clock())

    async def _slot_days(self, *, today: bool) -> list[Hall]:
        start = date.fromisoformat(self.current().day)
        first = 0 if today else 1
        days = range(first, self.config.appointment_slots.days_ahead + 1)
        return [await self._day_hall((start + timedelta(days=n)).isoformat()) for n in days]

    async def _offered(self, full: ThemeFull) -> ThemeFull:
        """The refusal with the appointment slot it offers: today's for a quota (the day goes
        on), the following days' when today is out of numbers or of time."""
        try:
            slot = await self.next_slot(full.theme, today=full.reason is FullReason.QUOTA)
        except ServiceError as exc:
            log.warning("next_slot_unknown", theme=full.theme, error=exc.message)
            slot = None
        return full.offering(slot)

    def _capacity_view(self, hall: Hall, theme: str, now: float) -> dict[str, Any]:
        """A theme's capacity figures, and when it is full the next slot among the days read."""
        state = capacity_of(hall, theme, now)
        view = state.view()
        slot = None
        if state.full is not None:
            start = date.fromisoformat(hall.day)
            ahead = (
                self._ahead.get((start + timedelta(days=n)).isoformat())
                for n in range(1, self.config.appointment_slots.days_ahead + 1)
            )
            days = [d for d in ahead if d is not None]
            slot = next_slot([hall, *days] if state.full is FullReason.QUOTA else days, theme, now)
        view["next_slot"] = slot.view() if slot is not None else None
        return view

    async def book_slot(
        self,
        theme: str,
        slot_at: float,
        *,
        person_hash: str | None,
        channel: str,
        actor: str,
        key: str | None = None,
    ) -> Reply:
        """Book a slot of a full theme's appointment grid: 201 with the booking, named by the
        keyed hash of an ID card, or else by a booking code made here."""
        grid = self.config.appointment_slots
        day = business_day(slot_at, self.tz, self.config.day_rollover)
        today = self.current().day
        last = (date.fromisoformat(today) + timedelta(days=grid.days_ahead)).isoformat()
        if day < today:
            raise InvalidCommand("the slot has passed", field="slot")
        if day > last:
            raise InvalidCommand(
                f"slots are booked at most {grid.days_ahead} days ahead", field="slot"
            )
        hall = await self._day_hall(day)
        payload = {"theme": theme, "slot_at": slot_at, "person": person_hash, "channel": channel}

        def run(day_hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            slot_to_book(day_hall, theme, slot_at, now)
            code = None if person_hash is not None else _new_booking_code(day_hall)
            request = BookingRequest(
                theme=theme, slot_at=slot_at, code=code, person_hash=person_hash, channel=channel
            )
            events = day_hall.book_appointment(request, at=now, actor=actor)
            booked = events[0]
            assert isinstance(booked, AppointmentBooked)
            view = self._booking_view(day_hall, day_hall.bookings[booked.booking_id])
            return events, lambda: Reply(201, view)

        return await self._execute("appointments.slot", payload, key, run, hall)

    def check_in_from(self, day: str, booking_id: str) -> str:
        """When a booking of today or a day read ahead may check in, hall-local "HH:MM"."""
        hall = self.current() if day == self.current().day else self._ahead[day]
        booking = hall.bookings[booking_id]
        opens = check_in_opens(hall, booking.theme, booking.slot_at)
        return f"{local_datetime(opens, self.tz):%H:%M}"

    def appointment_slip(self, day: str, booking_id: str) -> TicketPrint:
        """What an appointment slip says: the theme, the slot, when to check in and how (the
        booking code, also as a QR code, or the ID card)."""
        hall = self.current() if day == self.current().day else self._ahead[day]
        booking = hall.bookings[booking_id]
        spec = self.config.theme(booking.theme)
        slot = local_datetime(booking.slot_at, self.tz)
        end = local_datetime(booking.slot_at + self.config.appointment_slots.slot_s, self.tz)
        opens = local_datetime(check_in_opens(hall, booking.theme, booking.slot_at), self.tz)
        late = math.ceil(hall.policy.appointment_late_s / 60)
        how = "扫描此码" if booking.code is not None else "刷身份证"
        lines = [f"预约码：{booking.code}"] if booking.code is not None else []
        lines += [
            f"请于 {opens:%H:%M} 起到自助机{how}签到",
            f"超过预约时间 {late} 分钟，按现场取号办理",
        ]
        return TicketPrint(
            hall_name=self.config.ticket.header or self.config.name_zh,
            theme_name=f"{spec.name_zh} · 预约凭条",
            number=f"{slot.month}月{slot.day}日 {slot:%H:%M}",
            priority_mark=None,
            people_ahead=None,
            wait_minutes=None,
            issued_at=f"{slot:%Y-%m-%d %H:%M}-{end:%H:%M}",
            qr_url=booking.code,
            footer="\n".join(lines),
            time_label="预约时段",
            qr_caption="签到时请在自助机扫描此码",
        )

    async def _day_hall(self, day: str, *, ahead_only: bool = False) -> Hall:
        """The state of a business day: today's, a day ahead (kept once read), or a past one
        read from the log (refused with `ahead_only`)."""
        today = self.current()
        if day == today.day:
            return today
        if day < today.day and ahead_only:
            raise Conflict(f"{day} is over: its bookings cannot change")
        hall = self._ahead.get(day)
        if hall is not None:
            return hall
        try:
            hall = await asyncio.to_thread(self._replayed_day, day)
        except StoreError as exc:
            raise ServiceUnavailable(f"cannot read the event log: {exc}") from exc
        if day > self.current().day:
            # Another request may have read it meanwhile; the first one kept is the day's.
            hall = self._ahead.setdefault(day, hall)
        return hall

    def _replayed_day(self, day: str) -> Hall:
        """A business day rebuilt from its durable events (blocking: a worker thread)."""
        hall = Hall.new_day(self.config, day, self.tz)
        for record in self._log.events(day=day):
            hall.apply(_event_of(record))
        return hall

    def _day_begun(self, day: str) -> Hall:
        """A new business day, with the bookings made for it earlier (by an earlier run)."""
        try:
            return self._replayed_day(day)
        except StoreError as exc:
            log.error("bookings_unreadable", day=day, error=str(exc))
            return Hall.new_day(self.config, day, self.tz)

    def _booking_view(self, hall: Hall, b: Booking) -> dict[str, Any]:
        spec = self.config.theme(b.theme)
        ticket = hall.tickets.get(b.ticket_id or "")
        return {
            "id": b.id,
            "day": hall.day,
            "theme": b.theme,
            "theme_name_zh": spec.name_zh,
            "theme_name_en": spec.name_en,
            "slot_at": self._iso(b.slot_at),
            "status": b.status.value,
            "code": b.code,
            # The ID number is never kept: only that the booking was made with one.
            "by_id_number": b.person_hash is not None,
            "priority": b.priority,
            "channel": b.channel,
            "booked_at": self._iso(b.booked_at),
            "ticket": ticket.number if ticket is not None else None,
            "checked_in_at": self._iso(b.checked_in_at),
            "closed_at": self._iso(b.closed_at),
        }

    # ----------------------------------------------------------------- retention

    async def purge_personal_data(self, before_day: str) -> dict[str, dict[str, int]]:
        """Remove the personal fields of every business day before `before_day` (today at the
        latest) from the log, off the loop, in one transaction with its audit record (today's
        `PersonalDataPurged` by system:retention); per day purged, what it touched (empty:
        nothing was due). ServiceUnavailable when the log cannot do it now."""
        if self._failure is not None:
            raise ServiceUnavailable(self._failure)
        # Rolled over first: no snapshot of a day that has ended is taken after this.
        before_day = min(before_day, self.current().day)
        pending = self._snapshot_pending
        if pending is not None and not pending.done():
            await asyncio.wait([pending])  # a snapshot of that day on its way lands first
        try:
            # Read first: a purge reserves a seq for its record, which nothing due would waste.
            if not await asyncio.to_thread(self._log.days_to_purge, before_day):
                return {}
            hall = self.current()
            outcome = await self._log.purge(
                before_day,
                PERSONAL_FIELDS,
                record=_purge_record(self._clock(), RETENTION_ACTOR),
                record_day=hall.day,
            )
        except StoreError as exc:
            raise ServiceUnavailable(f"cannot purge personal data: {exc}") from exc
        if outcome.record is not None:
            self._purge_recorded(outcome.record)
        return _purged(outcome.days)

    def purge_personal_data_now(
        self, before_day: str, *, actor: str, dry_run: bool = False
    ) -> dict[str, dict[str, int]]:
        """The same purge on a stopped hall's log, before it is started (blocking); `dry_run`
        only tells what it would take."""
        hall = self.current()
        try:
            outcome = self._log.purge_now(
                min(before_day, hall.day),
                PERSONAL_FIELDS,
                record=_purge_record(self._clock(), actor),
                record_day=hall.day,
                dry_run=dry_run,
            )
        except StoreError as exc:
            raise ServiceUnavailable(f"cannot purge personal data: {exc}") from exc
        if outcome.record is not None:
            event = _event_of(outcome.record)
            assert isinstance(event, PersonalDataPurged)
            hall.record_purge(event)
        return _purged(outcome.days, dry_run=dry_run)

    def _purge_recorded(self, record: EventRecord) -> None:
        """Today's hall takes the purge's durable record, as any committed event."""
        hall = self.hall
        event = _event_of(record)
        if record.day != hall.day or not isinstance(event, PersonalDataPurged):
            return  # recorded on a day that has ended meanwhile: its replay holds it
        hall.record_purge(event)
        self._since_snapshot += 1
        for watcher in self.watchers:
            try:
                watcher(hall, [event])
            except Exception:
                log.exception("watcher_failed", watcher=getattr(watcher, "__qualname__", "?"))
        self.bus.publish(
            PublishedEvent(
                record.seq, record.type, record.at, record.actor, _public_data(hall, record.data)
            )
        )

    # ----------------------------------------------------------------- the write path

    def derive_key(self, purpose: bytes) -> bytes:
        """A secret key for `purpose`, derived from the person key (stable across restarts)."""
        return hmac.new(self._person_key, purpose, hashlib.sha256).digest()

    async def record_access(self, make: Callable[[float], AccessEvent]) -> None:
        """Write a sign-in, the end of a session or a refused sign-in to the audit trail;
        `make` builds the event for the moment it is recorded."""

        def run(hall: Hall, now: float) -> tuple[list[Event], Callable[[], Reply]]:
            return hall.record_access(make(now)), lambda: Reply(204, None)

        await self._execute("access", {}, None, run)

    async def _execute(
        self,
        operation: str,
        payload: dict[str, Any],
        key: str | None,
        run: Callable[[Hall, float], tuple[list[Event], Callable[[], Reply]]],
        day_hall: Hall | None = None,
    ) -> Reply:
        if self._failure is not None:
            raise ServiceUnavailable(self._failure)
        digest = fingerprint(operation, payload) if key else ""
        if key is not None:
            stored = self._replies.get(key)
            if stored is not None:
                self._check_fingerprint(key, stored.fingerprint, digest)
                return Reply(stored.status, stored.body)
            pending = self._in_flight.get(key)
            if pending is not None:
                self._check_fingerprint(key, pending.fingerprint, digest)
                return await asyncio.shield(pending.done)
        now = self._clock()
        hall = self.current()
        if day_hall is not None and day_hall.day != hall.day:
            hall = day_hall  # a day ahead (bookings): its own day in the log
        # Everything up to here and the command itself run without an await in between:
        # the loop is the lock, so two windows calling at once are served one after the other.
        events, build_reply = run(hall, now)
        if not events:
            return build_reply()
        for event in events:
            # Whatever command made them: a rating may open a follow-up, a case number reach one.
            self.followups.apply(event)
        reply = build_reply()
        stored_reply = (
            StoredReply(
                key=key, day=hall.day, fingerprint=digest, status=reply.status, body=reply.body
            )
            if key is not None
            else None
        )
        try:
            new_events = [
                NewEvent(type=e.type_name, at=e.at, actor=e.actor, data=event_data(e))
                for e in events
            ]
            commit = self._log.append(
                hall.day,
                new_events,
                reply=stored_reply,
            )
        except (StoreError, TypeError, ValueError) as exc:
            # The events are already applied in memory: if the log refuses them (a value JSON
            # cannot hold), memory and log differ, so stop like any other failed write.
            self._fail(exc)
            raise ServiceUnavailable(self._failure or str(exc)) from exc
        done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if key is not None:
            self._in_flight[key] = _InFlight(digest, done)
        # What follows durability runs as a callback, not after this coroutine's await: a
        # caller that went away (or a cancelled handler) still gets its reply stored, its
        # events published, and any retry waiting on the same key answered.
        commit.durable.add_done_callback(
            lambda durable: self._committed(
                durable, key, stored_reply, reply, events, new_events, commit.seqs, hall, done
            )
        )
        if key is None:
            return await done  # nobody else waits on it: a cancelled caller may cancel it
        return await asyncio.shield(done)

    def _committed(
        self,
        durable: asyncio.Future[None],
        key: str | None,
        stored_reply: StoredReply | None,
        reply: Reply,
        events: list[Event],
        new_events: list[NewEvent],
        seqs: tuple[int, ...],
        hall: Hall,
        done: asyncio.Future[Reply],
    ) -> None:
        if key is not None:
            self._in_flight.pop(key, None)
        error = None if durable.cancelled() else durable.exception()
        if error is not None:
            self._fail(error)
            if not done.done():
                done.set_exception(ServiceUnavailable(self._failure or str(error)))
                done.exception()  # marked retrieved: the failure is logged once, by _fail
            return
        if stored_reply is not None:
            self._replies[stored_reply.key] = stored_reply
        if not done.done():
            done.set_result(reply)
        if hall is not self.hall:
            return  # a day ahead: nothing to show or count today
        for watcher in self.watchers:
            try:
                watcher(hall, events)
            except Exception:
                # A device bug must not stop the hall: the events are durable already.
                log.exception("watcher_failed", watcher=getattr(watcher, "__qualname__", "?"))
        if len(self.bus):
            for seq, new in zip(seqs, new_events, strict=True):
                self.bus.publish(
                    PublishedEvent(seq, new.type, new.at, new.actor, _public_data(hall, new.data))
                )
        self._since_snapshot += len(new_events)
        now = time.monotonic()
        quiet = now - self._last_commit_at >= SNAPSHOT_QUIET_S
        self._last_commit_at = now
        if self._snapshot_due(quiet=quiet):
            self.snapshot()
        elif self._lull is None and self._snapshot_due(quiet=True):
            # Due, but in a rush: taken once a quiet second has passed with no command.
            self._lull = asyncio.get_running_loop().call_later(
                SNAPSHOT_QUIET_S, self._snapshot_in_lull
            )
        self._since_freeze += len(new_events)
        if self._since_freeze >= FREEZE_EVERY:
            self._freeze_long_lived()

    def _freeze_long_lived(self) -> None:
        """Move what has survived so far out of the cyclic collector's sight."""
        # The day's tickets and events live until the day ends, and every full collection
        # rescans them: 17-29 ms pauses of the whole loop on a day of 9,000 tickets. Young
        # garbage cycles are collected first (a millisecond or two); what is frozen and dies
        # later is still freed by reference counting.
        self._since_freeze = 0
        gc.collect(1)
        gc.freeze()

    def _snapshot_in_lull(self) -> None:
        self._lull = None
        if self._failure is not None or self._log.closing:
            return
        quiet_for = time.monotonic() - self._last_commit_at
        if quiet_for < SNAPSHOT_QUIET_S:  # commands came meanwhile: wait for the next lull
            self._lull = asyncio.get_running_loop().call_later(
                SNAPSHOT_QUIET_S - quiet_for, self._snapshot_in_lull
            )
        elif self._snapshot_due(quiet=True):
            self.snapshot()

    def snapshot(self) -> None:
        """Hand a snapshot of today's state to the event log, which encodes it off the loop."""
        if self._lull is not None:
            self._lull.cancel()
            self._lull = None
        if self._failure is not None:
            return
        hall = self.hall
        self._since_snapshot = 0
        try:
            pending = self._log.append_snapshot(
                Snapshot(
                    day=hall.day, seq=self._log.last_seq, at=self._clock(), state=to_snapshot(hall)
                )
            )
        except StoreError as exc:
            self._fail(exc)
            return
        self._snapshot_pending = pending
        pending.add_done_callback(self._snapshot_written)

    def _snapshot_due(self, *, quiet: bool) -> bool:
        # A snapshot costs one to two microseconds per ticket on the loop (20 ms on a day of
        # 9,000 tickets, with the hall standing still meanwhile) and more in its encoder thread,
        # so a big day snapshots less often: once per day's-ticket-count events, and then in a
        # lull (a quiet second before or after a command), not in a rush. Under a rush that
        # does not end, at SNAPSHOT_DEFERRED_UP_TO times that. Replay after a crash, ~17 us an
        # event, stays under a second on a day of 10,000 tickets.
        if self._snapshot_pending is not None and not self._snapshot_pending.done():
            return False
        due = max(self._snapshot_every, len(self.hall.tickets))
        if quiet:
            return self._since_snapshot >= due
        return self._since_snapshot >= due * SNAPSHOT_DEFERRED_UP_TO

    def _snapshot_written(self, pending: asyncio.Future[None]) -> None:
        if pending.cancelled():
            return
        exc = pending.exception()
        if isinstance(exc, StoreError):
            self._fail(exc)
        elif exc is not None:
            log.error("snapshot_failed", error=repr(exc))

    def _check_fingerprint(self, key: str, stored: str, digest: str) -> None:
        if stored != digest:
            raise IdempotencyKeyReused(
                f'Idempotency-Key "{key}" was already used for a different request'
            )

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = f"event log write failed: {exc}"
            log.critical("event_log_failed", error=str(exc))
            if self.on_failure is not None:
                self.on_failure(self._failure)

    def _roll_day(self, now: float) -> None:
        start, end = self._day_span
        if start <= now < end:
            return  # the common case, on every request: two float comparisons
        day = business_day(now, self.tz, self.config.day_rollover)
        if day != self.hall.day:
            log.info(
                "business_day_rolled_over",
                previous=self.hall.day,
                day=day,
                left_waiting=len(self.hall.book),
            )
            ahead = self._ahead.pop(day, None)
            if ahead is None:
                # A day ahead may hold bookings (made by an earlier run); a clock stepped back
                # starts the day afresh, as before.
                ahead = (
                    self._day_begun(day)
                    if day > self.hall.day
                    else Hall.new_day(self.config, day, self.tz)
                )
            self._set_hall(ahead)
            self._ahead = {d: h for d, h in self._ahead.items() if d > day}
            self._forecast = None
            self._since_snapshot = 0
            # Yesterday's frozen objects become collectable again, and garbage cycles among them
            # are collected now, once, before the next freeze could keep them for good.
            gc.unfreeze()
            gc.collect()
            # Keep yesterday's replies for retries that straddle the rollover; drop older.
            keep = {self.hall.day, _previous_day(day)}
            self._replies = {k: r for k, r in self._replies.items() if r.day in keep}
            for started in list(self.day_started):
                try:
                    started(day)
                except Exception:
                    hook = getattr(started, "__qualname__", "?")
                    log.exception("day_start_hook_failed", hook=hook)

    def _set_hall(self, hall: Hall) -> None:
        self.hall = hall
        rollover = self.config.day_rollover
        following = date.fromisoformat(hall.day).toordinal() + 1
        self._day_span = (
            day_start(hall.day, self.tz, rollover),
            day_start(date.fromordinal(following).isoformat(), self.tz, rollover),
        )

    # ----------------------------------------------------------------- views

    def _person_hash(self, id_number: str) -> str:
        normalised = id_number.strip().upper().encode()
        return hmac.new(self._person_key, normalised, hashlib.sha256).hexdigest()

    def _fresh_forecast(self, now: float) -> Forecast:
        hall = self.hall
        cached = self._forecast
        # 0 <= ...: a wall clock stepped back (NTP) must not keep a stale forecast for as long.
        if cached is not None and (
            cached.version == hall.version or 0 <= now - cached.at < self._forecast_budget_s
        ):
            return cached
        started = time.perf_counter()
        result = forecast(hall, now)
        cost = time.perf_counter() - started
        # Under a burst of writes, recompute at most ~5% of the time and place newer tickets
        # by queue order meanwhile; in an ordinary hall the forecast is always current.
        self._forecast_budget_s = min(1.0, cost * 20)
        self._forecast = result
        return result

    def _estimate(self, hall: Hall, ticket: Ticket) -> Estimate | None:
        if ticket.status is not TicketStatus.WAITING:
            return None
        now = self._clock()
        return self._fresh_forecast(now).estimate(hall, ticket.id, now)

    def _iso(self, at: float | None) -> str | None:
        if at is None:
            return None
        return local_datetime(at, self.tz).isoformat(timespec="seconds")

    def _ticket_view(self, hall: Hall, t: Ticket, estimate: Estimate | None) -> dict[str, Any]:
        theme: Theme = self.config.theme(t.theme)
        view: dict[str, Any] = {
            "id": t.id,
            "number": t.number,
            "theme": t.theme,
            "theme_name_zh": theme.name_zh,
            "theme_name_en": theme.name_en,
            "priority": t.priority,
            "status": t.status.value,
            "channel": t.channel,
            "issued_at": self._iso(t.arrival_at),
            "window": t.window if t.status in (TicketStatus.CALLED, TicketStatus.SERVING) else None,
            "target_window": t.target_window,
            "called_at": self._iso(t.called_at),
            "started_at": self._iso(t.started_at),
            "finished_at": self._iso(t.finished_at),
            "recalls": t.recalls,
            "rating": t.rating,
            "position": estimate.position if estimate else None,
            "ahead": estimate.ahead if estimate else None,
            "estimated_wait_s": (
                round(estimate.wait_s) if estimate and estimate.wait_s is not None else None
            ),
            "age_band": t.age_band,
            "stage": t.stage,
            "call": None,
        }
        if t.rule is not None:
            view["call"] = {
                "window": t.window,
                "rule": t.rule,
                "explanation": RULE_TEXT[Rule(t.rule)],
                "candidates": [
                    {
                        "ticket": c.ticket_id,
                        "number": c.number,
                        "theme": c.theme,
                        "priority": c.priority,
                        "waited_s": round(c.waited_s),
                        "score": c.score,
                        "aging": c.aging,
                        "head_start": c.head_start,
                        "preference": c.preference,
                        "overdue_s": round(c.overdue_s),
                        "appointment_due": c.appointment_due,
                        "chosen": c.ticket_id == t.id,
                    }
                    for c in t.candidates
                ],
            }
        return view

    def _window_view(self, hall: Hall, w: WindowState) -> dict[str, Any]:
        spec = self.config.window(w.id)
        current = hall.tickets[w.ticket_id] if w.ticket_id else None
        return {
            "id": w.id,
            "name_zh": spec.name_zh,
            "name_en": spec.name_en,
            "themes": list(spec.themes),
            "status": w.status.value,
            "pause_reason": w.pause_reason,
            "clerk": w.clerk,
            "personalised": spec.personalised,
            "standing_in": list(hall.standing_in(w.id)),
            "ticket": (
                {"id": current.id, "number": current.number, "status": current.status.value}
                if current
                else None
            ),
            "priority_streak": w.priority_streak,
            "served": w.served,
        }

    def _call_view(self, window_id: str, ticket_id: str) -> dict[str, Any]:
        view = self.ticket_view(ticket_id)
        return {"window": self.window_view(window_id), "ticket": view, "reason": view["call"]}


def _public_data(hall: Hall, stored: Mapping[str, Any]) -> dict[str, Any]:
    # Subscribers see what happened, with the ticket's number for screens to show, and never
    # the keyed person hash.
    data = dict(stored)
    data.pop("person_hash", None)
    data.pop("code", None)  # a booking code checks its booking in: not for screens
    ticket_id = data.get("ticket_id")
    if isinstance(ticket_id, str) and "number" not in data and ticket_id in hall.tickets:
        data["number"] = hall.tickets[ticket_id].number
    return data


async def _rendered(audio: Awaitable[bytes | None], what: str) -> bytes:
    """The screens' voice's WAV, within CALL_AUDIO_TIMEOUT_S; ServiceUnavailable otherwise."""
    try:
        async with asyncio.timeout(CALL_AUDIO_TIMEOUT_S):
            wav = await audio
    except TimeoutError:
        wav = None
    if wav is None:
        raise ServiceUnavailable(f"{what} could not be rendered now")
    return wav


def _purge_record(at: float, actor: str) -> PurgeRecord:
    """How the log records a purge, from what it did (called in the log's writer thread)."""
    fields = {type_: list(names) for type_, names in PERSONAL_FIELDS.items()}

    def record(days: Sequence[DayPurge]) -> NewEvent:
        event = PersonalDataPurged(at=at, actor=actor, days=_day_counts(days), fields=fields)
        return NewEvent(event.type_name, event.at, event.actor, event_data(event))

    return record


def _purged(days: Sequence[DayPurge], *, dry_run: bool = False) -> dict[str, dict[str, int]]:
    """Per day, what a purge touched; logged (no identities, only counts)."""
    counts = _day_counts(days)
    if counts:
        log.info(
            "personal_data_purged" if not dry_run else "personal_data_purge_dry_run",
            days=sorted(counts),
            events=sum(d.events for d in days),
            snapshots=sum(d.snapshots for d in days),
            replies=sum(d.replies for d in days),
            fields={type_: list(names) for type_, names in PERSONAL_FIELDS.items()},
        )
    return counts


def _day_counts(days: Sequence[DayPurge]) -> dict[str, dict[str, int]]:
    return {
        d.day: {"events": d.events, "snapshots": d.snapshots, "replies": d.replies} for d in days
    }


def _event_of(record: EventRecord) -> Event:
    return event_from_data(record.type, record.at, record.actor, record.data)


def _new_booking_code(hall: Hall) -> str:
    """A booking code not yet used on the hall's day: 8 letters and digits that cannot be
    mistaken for one another (no 0/O, 1/I)."""
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        if code not in hall.booking_codes:
            return code


def _day_of_booking(booking_id: str) -> str:
    """The business day a booking id names (20261128-bk001: 2026-11-28); NotFound otherwise."""
    digits = booking_id.partition("-")[0]
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(digits)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).isoformat()
    except ValueError:
        raise NotFound("no such booking", booking=booking_id[:32]) from None


def _previous_day(day: str) -> str:
    return date.fromordinal(date.fromisoformat(day).toordinal() - 1).isoformat()


WindowCommand = Callable[[Hall, str, str, float, str], list[Event]]

# The window's call-pad actions, by the name the API and the pads use.
_WINDOW_ACTIONS: dict[str, WindowCommand] = {
    "recall": lambda h, w, _r, at, who: h.recall(w, at=at, actor=who),
    "start": lambda h, w, _r, at, who: h.start(w, at=at, actor=who),
    "finish": lambda h, w, _r, at, who: h.finish(w, at=at, actor=who),
    "no-show": lambda h, w, _r, at, who: h.no_show(w, at=at, actor=who),
    "hold": lambda h, w, reason, at, who: h.hold(w, reason, at=at, actor=who),
    "pause": lambda h, w, reason, at, who: h.pause_window(w, reason, at=at, actor=who),
    "resume": lambda h, w, reason, at, who: h.resume_window(w, at=at, actor=who, reason=reason),
    "open": lambda h, w, reason, at, who: h.open_window(w, at=at, actor=who, reason=reason),
    "close": lambda h, w, reason, at, who: h.close_window(w, at=at, actor=who, reason=reason),
}
WINDOW_ACTIONS = tuple(_WINDOW_ACTIONS)
