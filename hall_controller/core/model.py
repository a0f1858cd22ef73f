"""The hall's configuration as frozen, validated values: themes, windows, groups, policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum


class TicketStatus(StrEnum):
    """Where a ticket is in its life: waiting -> called -> serving -> finished, or set aside."""

    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    FINISHED = "finished"
    NO_SHOW = "no_show"
    HELD = "held"
    CANCELLED = "cancelled"
    # A kiosk ticket whose number is taken but whose print is not confirmed yet: not queued.
    PRINTING = "printing"
    # The print failed: the number is spent (never issued again today), the ticket never was.
    VOIDED = "voided"


ACTIVE_TICKET_STATUSES = frozenset(
    {
        TicketStatus.WAITING,
        TicketStatus.CALLED,
        TicketStatus.SERVING,
        TicketStatus.HELD,
        TicketStatus.PRINTING,
    }
)


class WindowStatus(StrEnum):
    """What a window is doing: closed, open and idle, paused, calling a ticket, serving one."""

    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"
    CALLING = "calling"
    SERVING = "serving"


@dataclass(frozen=True, slots=True)
class OpeningPeriod:
    """One stretch of opening hours in hall-local time, start inclusive, end exclusive."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        """True when the local wall-clock time falls inside this period."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class Quota:
    """At most `tickets` numbers of a theme given out from `start` to `end` (hall-local, end
    exclusive), a time window inside the theme's opening hours (10.3.4)."""

    start: time
    end: time
    tickets: int

    def contains(self, moment: time) -> bool:
        """True when the local wall-clock time falls inside this window."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class Capacity:
    """How much a theme takes on besides its daily cap (10.3.4): quotas per time window, and the
    check of the work already waiting against the time left before the theme stops issuing."""

    quotas: tuple[Quota, ...] = ()
    workload_check: bool = True
    # A walk-in is refused when it would be called only this long after the theme's last
    # opening period ends (windows serve on a little past it).
    workload_margin_s: int = 1800
    # Bookings per appointment slot offered when the theme is full; None: the hall's.
    per_slot: int | None = None


@dataclass(frozen=True, slots=True)
class SlotGrid:
    """The appointment slots a full theme offers (the hall config's [appointments])."""

    slot_s: int = 1800  # a slot every this long from the start of each opening period
    per_slot: int = 4  # bookings per slot
    days_ahead: int = 7  # how far ahead the next free slot is looked for
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # the days that take bookings; Monday 0


@dataclass(frozen=True, slots=True)
class Theme:
    """A theme (主题): what applicants come for, with its own ticket prefix and queue."""

    id: str
    name_zh: str
    name_en: str
    prefix: str
    hours: tuple[OpeningPeriod, ...]
    daily_cap: int | None
    max_wait_s: int
    default_service_s: int
    # Similar themes (同岗替代, 10.3.5): when none of this theme's own windows is open, the
    # windows of these themes serve its tickets too.
    similar: tuple[str, ...] = ()
    capacity: Capacity = Capacity()

    def is_open_at(self, moment: time) -> bool:
        """True when tickets may be issued for this theme at this local time."""
        return any(period.contains(moment) for period in self.hours)


@dataclass(frozen=True, slots=True)
class Window:
    """A service window (窗口) and the themes it serves, most preferred first."""

    id: str
    name_zh: str
    name_en: str
    themes: tuple[str, ...]
    zone: str | None = None  # the speaker zone its calls are announced in (None: every zone)
    # The personalised-service post (个性化服务岗, 7.1): it calls the priority groups of every
    # theme, and the cases sent to it, before anyone else.
    personalised: bool = False


@dataclass(frozen=True, slots=True)
class PriorityGroup:
    """A priority group (优先人群); `min_age` makes it the group an ID card's age selects."""

    id: str
    name_zh: str
    name_en: str
    min_age: int | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The next-ticket policy's parameters, each one a rule a manager can read."""

    # (a) At most this many priority calls in a row per window while regular tickets wait.
    priority_streak_limit: int = 2
    # Priority tickets count as if they had arrived this much earlier.
    priority_head_start_s: int = 900
    # (b) Score points per second waited.
    aging_rate: float = 1.0
    # (c) A priority ticket's hard maximum wait is the theme's maximum times this factor.
    priority_max_wait_factor: float = 0.25
    # (d) Bonus for a window's most preferred theme, falling linearly to 0 for its last one.
    preference_bonus_s: int = 300
    # (e) An appointment is due this long before its slot, and stays due until this long after.
    appointment_early_s: int = 600
    appointment_late_s: int = 900
    # A recall beyond this many turns into an automatic no-show.
    recall_limit: int = 2
    # Themes whose maximum wait a manager changed today: (theme id, seconds), by theme id.
    theme_max_wait_s: tuple[tuple[str, int], ...] = ()

    def theme_limit_s(self, theme: Theme) -> int:
        """A regular ticket's hard maximum wait in this theme (a manager's, or the config's)."""
        for theme_id, seconds in self.theme_max_wait_s:
            if theme_id == theme.id:
                return seconds
        return theme.max_wait_s

    def max_wait_s(self, theme: Theme, priority: bool) -> float:
        """The hard maximum wait for a ticket of this theme and class."""
        if priority:
            return self.theme_limit_s(theme) * self.priority_max_wait_factor
        return float(self.theme_limit_s(theme))


@dataclass(frozen=True, slots=True)
class SettingRange:
    """The values a manager may give one policy setting on the tablet, and its unit."""

    low: float
    high: float
    integer: bool
    unit: str  # "s", "calls", "recalls", "points/s", "x"

    def message(self, name: str) -> str:
        """What a refused value is told, e.g. "recall_limit must be an integer from 0 to 10"."""
        kind = "an integer" if self.integer else "a number"
        low = f"{self.low:g}" if not self.integer else str(int(self.low))
        high = f"{self.high:g}" if not self.integer else str(int(self.high))
        return f"{name} must be {kind} from {low} to {high} ({self.unit})"


# The policy settings a manager may change live, with their ranges; the rest is the config's.
POLICY_RANGES: dict[str, SettingRange] = {
    "priority_streak_limit": SettingRange(1, 20, True, "calls"),
    "priority_head_start_s": SettingRange(0, 7200, True, "s"),
    "aging_rate": SettingRange(0.1, 10, False, "points/s"),
    "priority_max_wait_factor": SettingRange(0.05, 1, False, "x"),
    "preference_bonus_s": SettingRange(0, 3600, True, "s"),
    "appointment_early_s": SettingRange(0, 7200, True, "s"),
    "appointment_late_s": SettingRange(60, 7200, True, "s"),
    "recall_limit": SettingRange(0, 10, True, "recalls"),
}
# A theme's maximum wait as a manager may set it: one minute to four hours.
THEME_MAX_WAIT_RANGE = SettingRange(60, 14400, True, "s")


@dataclass(frozen=True, slots=True)
class Kiosk:
    """A self-service kiosk (自助取号机): a screen with its printer, card reader and scanner."""

    id: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class TicketLayout:
    """What a printed ticket says besides its number (the hall config's [ticket] table)."""

    header: str | None = None  # None: the hall's Chinese name
    footer: str = "请留意叫号 过号请重新取号"  # lines separated by "\n"
    show_people_ahead: bool = True
    show_wait: bool = True
    qr: bool = True
    # The ticket's live status page, for its QR code; "{link}" is filled in with the ticket's
    # signed link (valid for that ticket and that day only).
    status_url: str = "http://127.0.0.1:8080/t/{link}"


@dataclass(frozen=True, slots=True)
class HallDisplay:
    """What the hall display (综合屏) shows besides the calls (the hall config's [display])."""

    notice_zh: str | None = None  # the notice line at the foot of the screen; None: none
    notice_en: str | None = None
    # Speak each call in the display's browser, for halls without speakers on the edge box
    # (a display's address can also turn it on or off: /display?voice=1 or ?voice=0).
    voice: bool = False


@dataclass(frozen=True, slots=True)
class RatingRules:
    """What a poor rating sets off, and what a window owes before its next call ([ratings])."""

    # A poor rating (不满意, 非常不满意) opens a follow-up (整改, 12.2): the applicant is called
    # back within `callback_within_s` and the cause is put right within `rectify_within_s`,
    # both counted from the rating.
    callback_within_s: int = 24 * 3600
    rectify_within_s: int = 15 * 24 * 3600
    # A window that finished a service must ask for its rating before it calls again.
    require_before_next: bool = False


@dataclass(frozen=True, slots=True)
class TicketPrint:
    """One ticket as a printer puts it on paper: every text already chosen by the hall's layout."""

    hall_name: str
    theme_name: str
    number: str  # "A012", printed very large
    priority_mark: str | None  # e.g. "优先 长者"; None for a regular ticket
    people_ahead: int | None  # None: not shown
    wait_minutes: int | None  # the estimated wait; None: not shown
    issued_at: str  # hall-local, "2026-11-28 09:41"
    qr_url: str | None  # the ticket's live status page; None: no QR code
    footer: str  # may hold several lines ("\n")
    reprint: bool = False  # a reprint (补打) is marked as such
    # The words before `issued_at` and under the QR code (an appointment slip has its own).
    time_label: str = "取号时间"
    qr_caption: str = "扫码查看排队进度"


@dataclass(frozen=True, slots=True)
class HallConfig:
    """One hall: its identity, clock, themes, windows, priority groups and policy."""

    id: str
    name_zh: str
    name_en: str
    timezone: str
    day_rollover: time
    themes: tuple[Theme, ...]
    windows: tuple[Window, ...]
    priority_groups: tuple[PriorityGroup, ...]
    policy: Policy = field(default_factory=Policy)
    enforce_opening_hours: bool = True
    # Issue at most one active ticket per person (by keyed ID hash) per theme.
    one_active_ticket_per_person: bool = True
    kiosks: tuple[Kiosk, ...] = ()
    ticket: TicketLayout = field(default_factory=TicketLayout)
    display: HallDisplay = field(default_factory=HallDisplay)
    ratings: RatingRules = field(default_factory=RatingRules)
    appointment_slots: SlotGrid = field(default_factory=SlotGrid)
    _themes: dict[str, Theme] = field(init=False, repr=False, compare=False)
    _windows: dict[str, Window] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Look-ups sit on every command's path: index once, the config never changes.
        object.__setattr__(self, "_themes", {t.id: t for t in self.themes})
        object.__setattr__(self, "_windows", {w.id: w for w in self.windows})

    def theme(self, theme_id: str) -> Theme:
        """The theme with this id; KeyError when there is none."""
        return self._themes[theme_id]

    def window(self, window_id: str) -> Window:
        """The window with this id; KeyError when there is none."""
        return self._windows[window_id]

    def group(self, group_id: str) -> PriorityGroup:
        """The priority group with this id; KeyError when there is none."""
        for group in self.priority_groups:
            if group.id == group_id:
                return group
        raise KeyError(group_id)

    def elderly_group(self) -> PriorityGroup | None:
        """The group an ID card's age selects (the one with the lowest age threshold)."""
        aged = [g for g in self.priority_groups if g.min_age is not None]
        return min(aged, key=lambda g: g.min_age or 0) if aged else None

    def windows_serving(self, theme_id: str) -> tuple[Window, ...]:
        """The windows that list this theme among the themes they serve."""
        return tuple(w for w in self.windows if theme_id in w.themes)
