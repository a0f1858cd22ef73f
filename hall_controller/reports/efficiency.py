"""The efficiency evaluation report (效能评价报告, DB44/T 2138 12.1-12.2): its figures, computed
once by replaying each business day of the period through the core, and the sections that show
them.

Each day starts as `Hall.new_day` and its stored events are applied one by one, as a restart
does; after each event the folds look at the event and the hall as it now is (who was signed in
at the window when it called, the policy in force, a ticket's arrival). A fold is anything with
`begin_day`, `observe`, `end_day` and `sections`: the report's own figures are one, and
`build_report(extra_sections=...)` takes more, so a new part of the report is a new fold.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from hall_controller.core.bookings import BookingStatus
from hall_controller.core.calendar import local_datetime
from hall_controller.core.events import (
    AccessEvent,
    Event,
    ServiceFinished,
    TicketCalled,
    TicketCancelled,
    TicketContinued,
    TicketHeld,
    TicketIssued,
    TicketNoShow,
    TicketRated,
    TicketRecalled,
    TicketTransferred,
    TicketVoided,
    UnknownEventType,
    event_from_data,
)
from hall_controller.core.hall import RATING_SCALE, RATING_SCALE_EN, Hall
from hall_controller.core.model import HallConfig, TicketStatus

from .model import Bar, BarChart, KeyFigure, Metric, Row, Section, Series, Table, Value
from .period import Period

# Who called a ticket when nobody was signed in at the window (a hardware pad, the demo).
NO_CLERK = "(none)"
SCORES = (5, 4, 3, 2, 1)
# The national five-level scale (12.2), best first.
RATING_WORDS: dict[int, tuple[str, str]] = {
    score: (RATING_SCALE[score], RATING_SCALE_EN[score].capitalize()) for score in SCORES
}
# The waiting-time histogram: 5-minute bands up to an hour, then one band for longer waits.
BAND_S = 300
BANDS = 12
# Tickets that still had a part to play when their day ended.
_OPEN = frozenset(
    {TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING, TicketStatus.HELD}
)
_CHANNEL_WORDS: dict[str, tuple[str, str]] = {
    "kiosk": ("自助取号机（纸质号）", "Kiosk, printed"),
    "kiosk-screen": ("自助取号机（屏幕号）", "Kiosk, on screen"),
    "api": ("窗口或接口代取", "Desk or system"),
    "wechat": ("微信", "WeChat"),
    "demo": ("演示", "Demo"),
}


class ReportError(Exception):
    """The report cannot be made (a day's events do not replay); the message says why."""


class StoredEvent(Protocol):
    """A stored hall event as the event log hands it back."""

    @property
    def type(self) -> str:
        """The event's type name."""
        ...

    @property
    def at(self) -> float:
        """When it happened (epoch seconds)."""
        ...

    @property
    def actor(self) -> str:
        """Who or what did it."""
        ...

    @property
    def data(self) -> dict[str, Any]:
        """The event's own fields."""
        ...


class SectionFold(Protocol):
    """Part of a report built while the period's days are replayed."""

    def begin_day(self, hall: Hall) -> None:
        """A business day starts: `hall` is its fresh state, nothing applied yet."""
        ...

    def observe(self, hall: Hall, event: Event) -> None:
        """One event of the day, just applied to `hall`."""
        ...

    def end_day(self, hall: Hall) -> None:
        """Every event of the day has been applied."""
        ...

    def sections(self) -> Sequence[Section]:
        """The sections this part adds to the report, in reading order."""
        ...


# ----------------------------------------------------------------- the figures


@dataclass(frozen=True, slots=True)
class Distribution:
    """Durations: how many, median, 90th percentile (nearest rank), longest and mean."""

    count: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """The distribution of these durations in seconds."""
        if not values:
            return cls()
        ordered = sorted(values)
        count = len(ordered)
        return cls(
            count=count,
            median_s=statistics.median(ordered),
            p90_s=ordered[math.ceil(0.9 * count) - 1],
            max_s=ordered[-1],
            mean_s=sum(ordered) / count,
        )


@dataclass(frozen=True, slots=True)
class Waits:
    """Waits from arrival to first call, and how many first calls came within the ticket's
    maximum wait (the theme's, or the shorter one of a priority ticket)."""

    times: Distribution = field(default_factory=Distribution)
    within_target: int = 0

    @classmethod
    def of(cls, calls: Sequence[tuple[float, float]]) -> Waits:
        """From (waited seconds, maximum wait in seconds) per first call."""
        return cls(
            Distribution.of([wait for wait, _ in calls]),
            sum(1 for wait, limit in calls if wait <= limit),
        )

    @property
    def within_share(self) -> float | None:
        """The share of first calls within target (None when nobody was called)."""
        return self.within_target / self.times.count if self.times.count else None


@dataclass(frozen=True, slots=True)
class Ratings:
    """Ratings on the five-level scale: how many of each, best (5, 非常满意) first."""

    counts: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @classmethod
    def of(cls, scores: Counter[int]) -> Ratings:
        """From a count per score (1..5)."""
        s5, s4, s3, s2, s1 = (scores[s] for s in SCORES)
        return cls((s5, s4, s3, s2, s1))

    @property
    def count(self) -> int:
        """How many ratings."""
        return sum(self.counts)

    @property
    def mean(self) -> float | None:
        """The mean score, 5 best (None without ratings)."""
        total = self.count
        return (
            sum(s * n for s, n in zip(SCORES, self.counts, strict=True)) / total if total else None
        )

    @property
    def satisfied_share(self) -> float | None:
        """The share rated 基本满意 or better (None without ratings)."""
        total = self.count
        return sum(self.counts[:3]) / total if total else None

    def of_score(self, score: int) -> int:
        """How many ratings gave this score."""
        return self.counts[SCORES.index(score)]


@dataclass(frozen=True, slots=True)
class ThemeFigures:
    """A theme's day or period (or the whole hall's, id "all")."""

    id: str
    name_zh: str
    name_en: str
    issued: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    transferred: int = 0  # moved out of this theme
    continued: int = 0  # served, then sent on to the visit's next stage (e.g. pick-up)
    held: int = 0
    unfinished: int = 0  # still waiting, at a window or on hold when its day ended
    waits: Waits = field(default_factory=Waits)
    service: Distribution = field(default_factory=Distribution)


@dataclass(frozen=True, slots=True)
class DeskFigures:
    """A window's or a clerk's work: calls, services, no-shows, service times, ratings."""

    id: str
    name_zh: str
    name_en: str
    calls: int = 0
    served: int = 0
    no_show: int = 0
    service: Distribution = field(default_factory=Distribution)
    ratings: Ratings = field(default_factory=Ratings)


@dataclass(frozen=True, slots=True)
class GroupWaits:
    """How a priority group (or every priority ticket, or the regular ones) waited."""

    id: str
    name_zh: str
    name_en: str
    waits: Waits = field(default_factory=Waits)


@dataclass(frozen=True, slots=True)
class AppointmentFigures:
    """The period's bookings and what became of them by the end of their day."""

    booked: int = 0
    checked_in: int = 0  # on time
    late: int = 0  # checked in after the late window: served as walk-ins
    missed: int = 0  # recorded as missed (nobody came)
    cancelled: int = 0
    not_checked_in: int = 0  # still booked when the day ended, never recorded as missed


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One business day of the period; `skipped` says why its events could not be replayed."""

    day: str
    events: int = 0
    issued: int = 0
    served: int = 0
    no_show: int = 0
    waits: Waits = field(default_factory=Waits)
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class EfficiencyFigures:
    """Everything the report counts, for the whole period."""

    total: ThemeFigures
    themes: tuple[ThemeFigures, ...]
    channels: tuple[tuple[str, int], ...]  # channel -> tickets, most first
    appointment_tickets: int
    windows: tuple[DeskFigures, ...]
    staff: tuple[DeskFigures, ...]
    groups: tuple[GroupWaits, ...]  # each priority group, every priority ticket, regular ones
    ratings: Ratings
    appointments: AppointmentFigures
    automatic_no_shows: int
    voided: int
    recalls: int
    # Waits to a first call by 5-minute band: (from seconds, to seconds or None, tickets).
    wait_bands: tuple[tuple[int, int | None, int], ...]
    days: tuple[DayFigures, ...]


@dataclass(frozen=True, slots=True)
class EfficiencyReport:
    """The report of one hall for one period: its figures and the sections that show them."""

    hall_id: str
    hall_name_zh: str
    hall_name_en: str
    period: Period
    generated_at: str  # hall-local ISO time
    figures: EfficiencyFigures
    sections: tuple[Section, ...]


# ----------------------------------------------------------------- building


def build_report(
    config: HallConfig,
    period: Period,
    days: Iterable[tuple[str, Sequence[StoredEvent]]],
    *,
    generated_at: float,
    staff_names: Mapping[str, tuple[str, str]] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    extra_sections: Sequence[SectionFold] = (),
) -> EfficiencyReport:
    """The report for `period` from each day's stored events (a day not given had none).

    Blocking (it replays every event): run it off the event loop. `staff_names` gives the
    clerks' names by account; `progress(done, total, day)` hears of each day replayed;
    `extra_sections` are further folds whose sections follow the report's own.
    ReportError when a day's events do not replay.
    """
    tz = ZoneInfo(config.timezone)
    wanted = period.days
    left = set(wanted)
    efficiency = _EfficiencyFold(config, staff_names or {})
    folds: list[SectionFold] = [efficiency, *extra_sections]

    def one_day(day: str, records: Sequence[StoredEvent]) -> None:
        left.discard(day)
        events, problem = _decoded(config, records)
        if problem is not None:
            efficiency.skip(day, len(records), problem)
        else:
            _replay(config, day, tz, events, folds)
        if progress is not None:
            progress(len(wanted) - len(left), len(wanted), day)

    # Days are replayed as they are read, so a long period never sits in memory whole.
    for day, records in days:
        if day in left:
            one_day(day, records)
    for day in sorted(left):
        one_day(day, ())  # no events stored: the hall was closed, or nobody ran it
    # The figures sort every wait of the period: computed once, for the sections and the report.
    figures = efficiency.figures()
    sections = (
        *efficiency_sections(figures),
        *(s for fold in extra_sections for s in fold.sections()),
    )
    return EfficiencyReport(
        hall_id=config.id,
        hall_name_zh=config.name_zh,
        hall_name_en=config.name_en,
        period=period,
        generated_at=local_datetime(generated_at, tz).isoformat(timespec="seconds"),
        figures=figures,
        sections=sections,
    )


def _replay(
    config: HallConfig,
    day: str,
    tz: ZoneInfo,
    events: Sequence[Event],
    folds: Sequence[SectionFold],
) -> None:
    hall = Hall.new_day(config, day, tz)
    for fold in folds:
        fold.begin_day(hall)
    for number, event in enumerate(events, start=1):
        try:
            hall.apply(event)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ReportError(
                f"{day}: event {number} ({event.type_name}) does not replay: {exc!r}"
            ) from exc
        for fold in folds:
            fold.observe(hall, event)
    for fold in folds:
        fold.end_day(hall)


def _decoded(config: HallConfig, records: Sequence[StoredEvent]) -> tuple[list[Event], str | None]:
    """The day's events, or why they cannot be replayed with this config and this version."""
    themes = {t.id for t in config.themes}
    windows = {w.id for w in config.windows}
    events: list[Event] = []
    for record in records:
        try:
            event = event_from_data(record.type, record.at, record.actor, record.data)
        except UnknownEventType:
            return [], f"an event this version does not know ({record.type})"
        except TypeError as exc:
            return [], f"a {record.type} event this version cannot read ({exc})"
        for name in ("theme", "to_theme"):
            value = getattr(event, name, None)
            if value is not None and value not in themes:
                return [], f'the events name theme "{value}", which the config no longer has'
        if not isinstance(event, AccessEvent):  # a refused sign-in may name any window
            for name in ("window", "from_window", "to_window"):
                value = getattr(event, name, None)
                if value is not None and value not in windows:
                    return [], f'the events name window "{value}", which the config no longer has'
        events.append(event)
    return events, None


@dataclass(slots=True)
class _Desk:
    calls: int = 0
    served: int = 0
    no_show: int = 0
    service: list[float] = field(default_factory=list)
    ratings: Counter[int] = field(default_factory=Counter)

    def figures(self, desk_id: str, zh: str, en: str) -> DeskFigures:
        return DeskFigures(
            desk_id,
            zh,
            en,
            self.calls,
            self.served,
            self.no_show,
            Distribution.of(self.service),
            Ratings.of(self.ratings),
        )


@dataclass(slots=True)
class _Day:
    """What the fold keeps of the day being replayed."""

    day: str
    events: int = 0
    issued: int = 0
    served: int = 0
    no_show: int = 0
    waits: list[tuple[float, float]] = field(default_factory=list)
    theme_of: dict[str, str] = field(default_factory=dict)  # a ticket's theme before a transfer
    # Each ticket's latest call: the window and the clerk signed in there at that moment.
    caller: dict[str, tuple[str, str]] = field(default_factory=dict)


class _EfficiencyFold:
    """The report's own figures, folded from every day's replay."""

    def __init__(self, config: HallConfig, staff_names: Mapping[str, tuple[str, str]]) -> None:
        self.config = config
        self.staff_names = staff_names
        self.counts: dict[str, Counter[str]] = {t.id: Counter() for t in config.themes}
        self.waits: dict[str, list[tuple[float, float]]] = {t.id: [] for t in config.themes}
        self.service: dict[str, list[float]] = {t.id: [] for t in config.themes}
        self.group_waits: dict[str | None, list[tuple[float, float]]] = {}
        self.windows: dict[str, _Desk] = {w.id: _Desk() for w in config.windows}
        self.staff: dict[str, _Desk] = {}
        self.channels: Counter[str] = Counter()
        self.ratings: Counter[int] = Counter()
        self.bookings: Counter[str] = Counter()
        self.other: Counter[str] = Counter()  # appointment tickets, automatic no-shows, ...
        self.days: list[DayFigures] = []
        self._day = _Day("")

    # ------------------------------------------------------------- the fold

    def skip(self, day: str, events: int, reason: str) -> None:
        """A day whose events cannot be replayed: listed, counted nowhere."""
        self.days.append(DayFigures(day, events=events, skipped=reason))

    def begin_day(self, hall: Hall) -> None:
        self._day = _Day(hall.day)

    def observe(self, hall: Hall, event: Event) -> None:
        today = self._day
        today.events += 1
        if isinstance(event, TicketIssued):
            today.theme_of[event.ticket_id] = event.theme
            self.counts[event.theme]["issued"] += 1
            self.channels[event.channel] += 1
            if event.appointment_at is not None:
                self.other["appointment_tickets"] += 1
            today.issued += 1
        elif isinstance(event, TicketCalled):
            self._called(hall, event)
        elif isinstance(event, ServiceFinished):
            self._served(
                hall, event.ticket_id, event.window, event.at, hall.tickets[event.ticket_id].theme
            )
        elif isinstance(event, TicketContinued):
            # The service at the window is over; the visit goes on in the next stage's theme.
            before = today.theme_of.get(event.ticket_id, event.to_theme)
            self._served(hall, event.ticket_id, event.window, event.at, before)
            self.counts[before]["continued"] += 1
            today.theme_of[event.ticket_id] = event.to_theme
        elif isinstance(event, TicketNoShow):
            self.counts[hall.tickets[event.ticket_id].theme]["no_show"] += 1
            self.other["automatic_no_shows"] += int(event.automatic)
            for desk in self._desks(hall, event.ticket_id, event.window):
                desk.no_show += 1
            today.no_show += 1
        elif isinstance(event, TicketRated):
            window = event.window or hall.tickets[event.ticket_id].window
            self.ratings[event.score] += 1
            if window is not None:
                for desk in self._desks(hall, event.ticket_id, window):
                    desk.ratings[event.score] += 1
        elif isinstance(event, TicketTransferred):
            before = today.theme_of.get(event.ticket_id, event.to_theme)
            self.counts[before]["transferred"] += 1
            today.theme_of[event.ticket_id] = event.to_theme
        elif isinstance(event, TicketHeld):
            self.counts[hall.tickets[event.ticket_id].theme]["held"] += 1
        elif isinstance(event, TicketCancelled):
            self.counts[hall.tickets[event.ticket_id].theme]["cancelled"] += 1
        elif isinstance(event, TicketVoided):
            self.other["voided"] += 1
        elif isinstance(event, TicketRecalled):
            self.other["recalls"] += 1

    def _served(self, hall: Hall, ticket_id: str, window: str, at: float, theme: str) -> None:
        started = hall.tickets[ticket_id].started_at
        if started is None:
            return
        took = at - started
        self.counts[theme]["served"] += 1
        self.service[theme].append(took)
        for desk in self._desks(hall, ticket_id, window):
            desk.served += 1
            desk.service.append(took)
        self._day.served += 1

    def _called(self, hall: Hall, event: TicketCalled) -> None:
        today = self._day
        ticket = hall.tickets[event.ticket_id]
        clerk = hall.windows[event.window].clerk or NO_CLERK
        today.caller[ticket.id] = (event.window, clerk)
        for desk in self._desks(hall, ticket.id, event.window):
            desk.calls += 1
        if ticket.calls > 1:  # observed after the call is applied: this is not its first
            return  # called again (after a hold or a transfer): the wait was its first call's
        limit = hall.policy.max_wait_s(self.config.theme(ticket.theme), ticket.priority is not None)
        wait = (event.at - ticket.arrival_at, limit)
        self.waits[ticket.theme].append(wait)
        self.group_waits.setdefault(ticket.priority, []).append(wait)
        today.waits.append(wait)

    def _desks(self, hall: Hall, ticket_id: str, window: str) -> tuple[_Desk, _Desk]:
        """The window's and the clerk's tallies for this ticket there: the clerk who called it
        at that window (else whoever is signed in there now)."""
        caller = self._day.caller.get(ticket_id)
        if caller is not None and caller[0] == window:
            clerk = caller[1]
        else:
            clerk = hall.windows[window].clerk or NO_CLERK
        return self.windows[window], self.staff.setdefault(clerk, _Desk())

    def end_day(self, hall: Hall) -> None:
        today = self._day
        for ticket in hall.tickets.values():
            if ticket.status in _OPEN:
                self.counts[ticket.theme]["unfinished"] += 1
        for booking in hall.bookings.values():
            self.bookings["total"] += 1
            self.bookings[booking.status.value] += 1
        self.days.append(
            DayFigures(
                today.day,
                events=today.events,
                issued=today.issued,
                served=today.served,
                no_show=today.no_show,
                waits=Waits.of(today.waits),
            )
        )

    # ------------------------------------------------------------- the results

    def figures(self) -> EfficiencyFigures:
        """The period's figures."""
        config = self.config
        themes = tuple(
            self._theme_figures(t.id, t.name_zh, t.name_en, self.counts[t.id], t.id)
            for t in config.themes
        )
        everything: Counter[str] = Counter()
        for counts in self.counts.values():
            everything.update(counts)
        total = self._theme_figures("all", "全部", "All themes", everything, None)
        windows = tuple(
            self.windows[w.id].figures(w.id, w.name_zh, w.name_en) for w in config.windows
        )
        staff = tuple(
            self.staff[clerk].figures(clerk, *self._clerk_names(clerk))
            for clerk in sorted(self.staff, key=lambda c: (c == NO_CLERK, c))
        )
        groups = [
            GroupWaits(g.id, g.name_zh, g.name_en, Waits.of(self.group_waits.get(g.id, [])))
            for g in config.priority_groups
        ]
        # A group the config no longer names still counts among the priority tickets.
        priority = [w for group, waits in self.group_waits.items() if group for w in waits]
        groups.append(
            GroupWaits("priority", "全部优先人群", "All priority groups", Waits.of(priority))
        )
        groups.append(
            GroupWaits(
                "regular", "普通号", "Regular tickets", Waits.of(self.group_waits.get(None, []))
            )
        )
        bookings = self.bookings
        return EfficiencyFigures(
            total=total,
            themes=themes,
            channels=tuple(sorted(self.channels.items(), key=lambda item: (-item[1], item[0]))),
            appointment_tickets=self.other["appointment_tickets"],
            windows=windows,
            staff=staff,
            groups=tuple(groups),
            ratings=Ratings.of(self.ratings),
            appointments=AppointmentFigures(
                booked=bookings["total"],
                checked_in=bookings["checked_in"],
                late=bookings["late"],
                missed=bookings["missed"],
                cancelled=bookings["cancelled"],
                not_checked_in=bookings[BookingStatus.BOOKED.value],
            ),
            automatic_no_shows=self.other["automatic_no_shows"],
            voided=self.other["voided"],
            recalls=self.other["recalls"],
            wait_bands=self._bands(),
            days=tuple(sorted(self.days, key=lambda d: d.day)),
        )

    def _theme_figures(
        self, theme_id: str, zh: str, en: str, counts: Counter[str], key: str | None
    ) -> ThemeFigures:
        waits = self.waits[key] if key else [w for ws in self.waits.values() for w in ws]
        service = self.service[key] if key else [s for ss in self.service.values() for s in ss]
        return ThemeFigures(
            theme_id,
            zh,
            en,
            issued=counts["issued"],
            served=counts["served"],
            no_show=counts["no_show"],
            cancelled=counts["cancelled"],
            transferred=counts["transferred"],
            continued=counts["continued"],
            held=counts["held"],
            unfinished=counts["unfinished"],
            waits=Waits.of(waits),
            service=Distribution.of(service),
        )

    def _clerk_names(self, clerk: str) -> tuple[str, str]:
        if clerk == NO_CLERK:
            return "（无人登录）", "(none signed in)"
        zh, en = self.staff_names.get(clerk, (clerk, clerk))
        return f"{zh}（{clerk}）", f"{en} ({clerk})"

    def _bands(self) -> tuple[tuple[int, int | None, int], ...]:
        counts = [0] * (BANDS + 1)
        for waits in self.waits.values():
            for wait, _ in waits:
                counts[min(int(max(wait, 0.0) // BAND_S), BANDS)] += 1
        return tuple(
            (n * BAND_S, (n + 1) * BAND_S if n < BANDS else None, count)
            for n, count in enumerate(counts)
        )

    def sections(self) -> Sequence[Section]:
        return efficiency_sections(self.figures())


# ----------------------------------------------------------------- the sections


def _m(key: str, zh: str, en: str, unit: Any = "count") -> Metric:
    return Metric(key, zh, en, unit)


ISSUED = _m("issued", "取号", "Issued")
SERVED = _m("served", "办结", "Served")
NO_SHOW = _m("no_show", "过号", "No-shows")
CANCELLED = _m("cancelled", "取消", "Cancelled")
TRANSFERRED = _m("transferred", "转出", "Transferred out")
CONTINUED = _m("continued", "转下一环节", "Sent on to next stage")
HELD = _m("held", "暂挂", "Held")
UNFINISHED = _m("unfinished", "日终未办结", "Open at day end")
CALLED = _m("called", "已叫号", "Called")
MEDIAN_WAIT = _m("median_wait_s", "等候中位数", "Median wait", "seconds")
P90_WAIT = _m("p90_wait_s", "90% 等候", "90th pct. wait", "seconds")
MAX_WAIT = _m("max_wait_s", "最长等候", "Longest wait", "seconds")
MEAN_WAIT = _m("mean_wait_s", "平均等候", "Mean wait", "seconds")
WITHIN = _m("within_target", "目标内叫号", "Called within target")
WITHIN_SHARE = _m("within_target_share", "目标内比例", "Share within target", "share")
SERVICES = _m("services", "办理笔数", "Services")
MEDIAN_SERVICE = _m("median_service_s", "办理时间中位数", "Median service time", "seconds")
P90_SERVICE = _m("p90_service_s", "90% 办理时间", "90th pct. service time", "seconds")
MAX_SERVICE = _m("max_service_s", "最长办理时间", "Longest service time", "seconds")
MEAN_SERVICE = _m("mean_service_s", "平均办理时间", "Mean service time", "seconds")
CALLS = _m("calls", "叫号次数", "Calls")
RATINGS = _m("ratings", "评价数", "Ratings")
MEAN_RATING = _m("mean_rating", "平均评分", "Mean rating (5 best)", "score")
SATISFIED = _m("satisfied_share", "满意率", "Satisfied share", "share")
TICKETS = _m("tickets", "号数", "Tickets")
SHARE = _m("share", "占比", "Share", "share")
RATING_METRICS = tuple(_m(f"rated_{s}", RATING_WORDS[s][0], RATING_WORDS[s][1]) for s in SCORES)


def _wait_values(waits: Waits) -> tuple[Value, ...]:
    t = waits.times
    return (
        t.count,
        t.median_s,
        t.p90_s,
        t.max_s,
        t.mean_s,
        waits.within_target,
        waits.within_share,
    )


def _service_values(service: Distribution) -> tuple[Value, ...]:
    return (service.count, service.median_s, service.p90_s, service.max_s, service.mean_s)


def _desk_values(desk: DeskFigures) -> tuple[Value, ...]:
    r = desk.ratings
    return (
        desk.calls,
        desk.served,
        desk.no_show,
        desk.service.median_s,
        desk.service.mean_s,
        r.count,
        r.mean,
        *(r.of_score(s) for s in SCORES),
    )


def efficiency_sections(f: EfficiencyFigures) -> tuple[Section, ...]:
    """The report's own sections, from its figures."""
    sections = [
        _summary(f),
        _themes(f),
        _channels(f),
        _waits(f),
        _service(f),
        _no_shows(f),
        _desks("windows", "各窗口", "Windows", "window", f.windows),
        _desks("staff", "工作人员", "Staff", "clerk", f.staff),
        _ratings(f),
        _priority(f),
    ]
    if len(f.days) > 1:
        sections.append(_days(f))
    return tuple(sections)


def _summary(f: EfficiencyFigures) -> Section:
    t = f.total
    figures = (
        KeyFigure(ISSUED, t.issued),
        KeyFigure(SERVED, t.served),
        KeyFigure(NO_SHOW, t.no_show),
        KeyFigure(CANCELLED, t.cancelled),
        KeyFigure(_m("transfers", "转移", "Transfers"), t.transferred),
        KeyFigure(HELD, t.held),
        KeyFigure(UNFINISHED, t.unfinished),
        KeyFigure(MEDIAN_WAIT, t.waits.times.median_s),
        KeyFigure(P90_WAIT, t.waits.times.p90_s),
        KeyFigure(MAX_WAIT, t.waits.times.max_s),
        KeyFigure(WITHIN_SHARE, t.waits.within_share),
        KeyFigure(MEDIAN_SERVICE, t.service.median_s),
        KeyFigure(RATINGS, f.ratings.count),
        KeyFigure(MEAN_RATING, f.ratings.mean),
        KeyFigure(SATISFIED, f.ratings.satisfied_share),
        KeyFigure(_m("appointments_booked", "预约", "Appointments booked"), f.appointments.booked),
        KeyFigure(
            _m("appointments_missed", "预约爽约", "Appointments missed"), f.appointments.missed
        ),
    )
    notes: list[tuple[str, str]] = []
    skipped = [d for d in f.days if d.skipped]
    for day in skipped:
        notes.append(
            (f"{day.day} 未计入：{day.skipped}", f"{day.day} is not counted: {day.skipped}")
        )
    quiet = sum(1 for d in f.days if not d.skipped and d.events == 0)
    if quiet:
        notes.append(
            (
                f"期间有 {quiet} 天没有任何记录（闭厅或控制器未运行）。",
                f"{quiet} day{'s' if quiet != 1 else ''} of the period "
                f"{'have' if quiet != 1 else 'has'} no events (hall closed, or no controller).",
            )
        )
    return Section("summary", "概况", "Summary", figures=figures, notes=tuple(notes))


def _themes(f: EfficiencyFigures) -> Section:
    columns = (ISSUED, SERVED, CONTINUED, NO_SHOW, CANCELLED, TRANSFERRED, HELD, UNFINISHED)

    def values(t: ThemeFigures) -> tuple[Value, ...]:
        return (
            t.issued,
            t.served,
            t.continued,
            t.no_show,
            t.cancelled,
            t.transferred,
            t.held,
            t.unfinished,
        )

    rows = [Row(f"theme:{t.id}", t.name_zh, t.name_en, values(t)) for t in f.themes]
    rows.append(Row("all", "合计", "Total", values(f.total), total=True))
    chart = BarChart(
        "themes-volume",
        "各主题取号与办结",
        "Tickets issued and served per theme",
        "count",
        (Series("取号", "Issued"), Series("办结", "Served")),
        tuple(Bar(f"theme:{t.id}", t.name_zh, t.name_en, (t.issued, t.served)) for t in f.themes),
    )
    table = Table("themes", "各主题办件量", "Tickets per theme", columns, tuple(rows))
    notes = (
        (
            "取号按取号时的主题计；办结、过号、取消按当时所在主题计；办结含转下一环节（如受理后转发证）；"
            "转出为转往其他主题的次数。",
            "Issued counts by the theme chosen at issue; served, no-shows and cancellations by "
            "the theme the ticket was in then; served includes services that sent the visit on "
            "to its next stage (such as intake to pick-up); transferred out counts moves to "
            "another theme.",
        ),
    )
    return Section("themes", "各主题", "Themes", charts=(chart,), tables=(table,), notes=notes)


def _channels(f: EfficiencyFigures) -> Section:
    total = sum(n for _, n in f.channels)
    rows = []
    for channel, count in f.channels:
        zh, en = _CHANNEL_WORDS.get(channel, (channel, channel))
        rows.append(Row(f"channel:{channel}", zh, en, (count, count / total if total else None)))
    rows.append(Row("all", "合计", "Total", (total, 1.0 if total else None), total=True))
    table = Table("channels", "各渠道取号", "Tickets per channel", (TICKETS, SHARE), tuple(rows))
    figures = (
        KeyFigure(
            _m("appointment_tickets", "其中预约号", "Of which appointment tickets"),
            f.appointment_tickets,
        ),
    )
    return Section("channels", "取号渠道", "Channels", figures=figures, tables=(table,))


def _waits(f: EfficiencyFigures) -> Section:
    columns = (CALLED, MEDIAN_WAIT, P90_WAIT, MAX_WAIT, MEAN_WAIT, WITHIN, WITHIN_SHARE)
    rows = [Row(f"theme:{t.id}", t.name_zh, t.name_en, _wait_values(t.waits)) for t in f.themes]
    rows.append(Row("all", "全部", "All themes", _wait_values(f.total.waits), total=True))
    histogram = BarChart(
        "wait-bands",
        "等候时间分布（取号至首次叫号）",
        "Waiting time to the first call",
        "count",
        (Series("号数", "Tickets"),),
        tuple(
            Bar(
                f"band:{low // 60}-{high // 60 if high else ''}",
                f"{low // 60}–{high // 60}分" if high else f"{low // 60}分以上",
                f"{low // 60}–{high // 60} min" if high else f"{low // 60}+ min",
                (count,),
            )
            for low, high, count in f.wait_bands
        ),
        vertical=True,
        export=True,
    )
    per_theme = BarChart(
        "waits-per-theme",
        "各主题等候时间",
        "Waiting time per theme",
        "seconds",
        (Series("中位数", "Median"), Series("90% 分位", "90th percentile")),
        tuple(
            Bar(
                f"theme:{t.id}", t.name_zh, t.name_en, (t.waits.times.median_s, t.waits.times.p90_s)
            )
            for t in f.themes
        ),
    )
    table = Table("waits", "各主题等候时间", "Waiting time per theme", columns, tuple(rows))
    notes = (
        (
            "等候时间为取号至首次叫号；目标为该号的最长等候（优先号按规则缩短），以叫号时的规则为准；"
            "90% 分位按最近秩计；从未叫到的号不计；一次来访的后续环节（如受理后发证）不另计等候。",
            "Waiting time runs from issue to the first call; the target is the ticket's maximum "
            "wait (shorter for priority tickets) under the policy in force at the call; the 90th "
            "percentile is by nearest rank; tickets never called are not counted, nor are the "
            "later stages of a visit (such as pick-up after intake).",
        ),
    )
    return Section(
        "waits",
        "等候时间",
        "Waiting time",
        charts=(histogram, per_theme),
        tables=(table,),
        notes=notes,
    )


def _service(f: EfficiencyFigures) -> Section:
    columns = (SERVICES, MEDIAN_SERVICE, P90_SERVICE, MAX_SERVICE, MEAN_SERVICE)
    rows = [
        Row(f"theme:{t.id}", t.name_zh, t.name_en, _service_values(t.service)) for t in f.themes
    ]
    rows.append(Row("all", "全部", "All themes", _service_values(f.total.service), total=True))
    table = Table("service", "各主题办理时间", "Service time per theme", columns, tuple(rows))
    notes = (
        ("办理时间为开始办理至办结。", "Service time runs from the start of service to its end."),
    )
    return Section("service", "办理时间", "Service time", tables=(table,), notes=notes)


def _no_shows(f: EfficiencyFigures) -> Section:
    a = f.appointments
    figures = (
        KeyFigure(NO_SHOW, f.total.no_show),
        KeyFigure(
            _m("automatic_no_shows", "其中重呼后自动过号", "Of which after the last recall"),
            f.automatic_no_shows,
        ),
        KeyFigure(_m("recalls", "重呼次数", "Recalls"), f.recalls),
        KeyFigure(_m("voided", "作废号（打印失败）", "Numbers voided (print failed)"), f.voided),
        KeyFigure(_m("appointments_booked", "预约", "Appointments booked"), a.booked),
        KeyFigure(_m("appointments_checked_in", "按时签到", "Checked in on time"), a.checked_in),
        KeyFigure(_m("appointments_late", "迟到签到", "Checked in late"), a.late),
        KeyFigure(_m("appointments_missed", "爽约", "Missed"), a.missed),
        KeyFigure(_m("appointments_cancelled", "取消预约", "Cancelled"), a.cancelled),
        KeyFigure(
            _m("appointments_not_checked_in", "日终未签到", "Not checked in by day end"),
            a.not_checked_in,
        ),
    )
    table = Table(
        "no-shows",
        "各主题过号",
        "No-shows per theme",
        (CALLED, NO_SHOW, _m("no_show_share", "过号率", "No-show share", "share")),
        tuple(
            Row(
                f"theme:{t.id}" if t is not f.total else "all",
                t.name_zh,
                t.name_en,
                (
                    t.waits.times.count,
                    t.no_show,
                    t.no_show / t.waits.times.count if t.waits.times.count else None,
                ),
                total=t is f.total,
            )
            for t in (*f.themes, f.total)
        ),
    )
    return Section(
        "no-shows", "过号与预约", "No-shows and appointments", figures=figures, tables=(table,)
    )


def _desks(section: str, zh: str, en: str, kind: str, desks: Sequence[DeskFigures]) -> Section:
    columns = (
        CALLS,
        SERVED,
        NO_SHOW,
        MEDIAN_SERVICE,
        MEAN_SERVICE,
        RATINGS,
        MEAN_RATING,
        *RATING_METRICS,
    )
    rows = tuple(Row(f"{kind}:{d.id}", d.name_zh, d.name_en, _desk_values(d)) for d in desks)
    chart = BarChart(
        f"{section}-served",
        f"{zh}办结量",
        f"Services per {kind}",
        "count",
        (Series("办结", "Served"),),
        tuple(Bar(f"{kind}:{d.id}", d.name_zh, d.name_en, (d.served,)) for d in desks if d.calls),
    )
    notes = (
        (
            "工作人员按叫号时在该窗口登录的账号计；“无人登录”为未登录时的叫号（如硬件呼叫器）。",
            "A clerk is the account signed in at the window when it called the ticket; "
            '"none signed in" covers calls made without a sign-in (such as hardware pads).',
        ),
    )
    return Section(
        section,
        zh,
        en,
        charts=(chart,) if chart.bars else (),
        tables=(
            Table(section, f"{zh}工作量与评价", f"Work and ratings per {kind}", columns, rows),
        ),
        notes=notes if kind == "clerk" else (),
    )


def _ratings(f: EfficiencyFigures) -> Section:
    r = f.ratings
    chart = BarChart(
        "ratings",
        "评价分布",
        "Ratings",
        "count",
        (Series("评价数", "Ratings"),),
        tuple(Bar(f"score:{s}", *RATING_WORDS[s], (r.of_score(s),)) for s in SCORES),
    )
    rows = tuple(
        Row(
            f"score:{s}",
            RATING_WORDS[s][0],
            RATING_WORDS[s][1],
            (r.of_score(s), r.of_score(s) / r.count if r.count else None),
        )
        for s in SCORES
    )
    table = Table(
        "ratings",
        "评价分布",
        "Ratings by level",
        (RATINGS, SHARE),
        (*rows, Row("all", "合计", "Total", (r.count, 1.0 if r.count else None), total=True)),
    )
    figures = (
        KeyFigure(RATINGS, r.count),
        KeyFigure(MEAN_RATING, r.mean),
        KeyFigure(SATISFIED, r.satisfied_share),
    )
    notes = (
        (
            "满意率为“基本满意”及以上的占比。",
            "The satisfied share counts 基本满意 (fairly satisfied) and better.",
        ),
    )
    return Section(
        "ratings", "评价", "Ratings", figures=figures, charts=(chart,), tables=(table,), notes=notes
    )


def _priority(f: EfficiencyFigures) -> Section:
    columns = (CALLED, MEDIAN_WAIT, P90_WAIT, MAX_WAIT, MEAN_WAIT, WITHIN, WITHIN_SHARE)
    rows = tuple(
        Row(
            f"group:{g.id}",
            g.name_zh,
            g.name_en,
            _wait_values(g.waits),
            total=g.id in ("priority", "regular"),
        )
        for g in f.groups
    )
    chart = BarChart(
        "priority-waits",
        "优先人群与普通号的等候",
        "How priority groups waited compared with everyone else",
        "seconds",
        (Series("中位数", "Median"), Series("90% 分位", "90th percentile")),
        tuple(
            Bar(
                f"group:{g.id}", g.name_zh, g.name_en, (g.waits.times.median_s, g.waits.times.p90_s)
            )
            for g in f.groups
        ),
    )
    table = Table("priority", "优先人群等候时间", "Waits of the priority groups", columns, rows)
    notes = (
        (
            "按首次叫号时该号所属人群计；优先号的目标为主题最长等候乘以优先比例。",
            "Grouped by the ticket's group at its first call; a priority ticket's target is its "
            "theme's maximum wait times the priority factor.",
        ),
    )
    return Section(
        "priority", "优先人群", "Priority groups", charts=(chart,), tables=(table,), notes=notes
    )


def _days(f: EfficiencyFigures) -> Section:
    columns = (
        _m("events", "记录数", "Events"),
        ISSUED,
        SERVED,
        NO_SHOW,
        MEDIAN_WAIT,
        P90_WAIT,
        WITHIN_SHARE,
    )
    rows = tuple(
        Row(
            f"day:{d.day}",
            d.day + ("（未计入）" if d.skipped else ""),
            d.day + (" (not counted)" if d.skipped else ""),
            (
                d.events,
                d.issued,
                d.served,
                d.no_show,
                d.waits.times.median_s,
                d.waits.times.p90_s,
                d.waits.within_share,
            ),
        )
        for d in f.days
    )
    chart = BarChart(
        "days-volume",
        "每日取号与办结",
        "Tickets issued and served per day",
        "count",
        (Series("取号", "Issued"), Series("办结", "Served")),
        tuple(Bar(f"day:{d.day}", d.day[5:], d.day[5:], (d.issued, d.served)) for d in f.days),
        vertical=True,
    )
    return Section(
        "days",
        "每日",
        "Day by day",
        charts=(chart,),
        tables=(Table("days", "每日数据", "Figures per day", columns, rows),),
    )
