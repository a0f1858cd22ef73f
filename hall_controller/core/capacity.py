"""Capacity-aware issuing (DB44/T 2138 10.3.4): a theme gives out a number only while it can
still serve the applicant today, and otherwise offers a time to come back or an appointment.

Before a number is given, three checks run in this order; the first that fails refuses it with
`ThemeFull`:

1. the daily cap: numbers given today (voided ones too: a number is never given twice);
2. the quota of the time window the moment falls in: numbers of the theme given in that window
   so far (reserved, issued, cancelled, served; not voided);
3. the workload: the minutes of work already waiting in the theme (waiting tickets x the
   theme's expected service time, over the windows that serve it and are not closed, or all of
   its windows when none is open) against the time left until its last opening period of the
   day ends plus the theme's margin. A ticket that would only be called after that is refused.
   A hall that does not enforce opening hours has no closing time, so it makes no such check.

Priority applicants and appointment check-ins are refused by the daily cap only: the hall
serves them whatever the quota or the queue (the standard's priority groups; an appointment was
given its place when it was booked). They still count towards the quota, as the windows serve
them too.

A full theme offers, today, the start of the next quota window with room (`return_at`); and the
next appointment slot with room (`next_slot`, found by `next_slot` over the days the caller has
read: bookings of other days live in other days' logs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .bookings import BookingStatus
from .calendar import local_datetime
from .errors import Conflict, InvalidCommand, ThemeUnavailable
from .model import HallConfig, Quota, Theme, TicketStatus, WindowStatus

if TYPE_CHECKING:
    from .hall import Hall

# Tickets are kept in the order their numbers were given, so counting a quota window walks back
# from the newest and stops before the window; a wall clock stepped back by less than this is
# still counted right.
_CLOCK_SLACK_S = 600.0
_DIGITS = "0123456789"


class FullReason(StrEnum):
    """Why a theme gives no number now: its daily cap, its quota, or the work already waiting."""

    DAILY_CAP = "daily_cap"
    QUOTA = "quota"
    WORKLOAD = "workload"


@dataclass(frozen=True, slots=True)
class Slot:
    """An appointment slot of a theme with room left."""

    theme: str
    day: str  # the business day
    at: float  # its start
    start: str  # hall-local "HH:MM"
    iso: str  # hall-local ISO date and time
    free: int  # bookings it still takes

    def view(self) -> dict[str, Any]:
        """JSON-ready: theme, business day, start (ISO and HH:MM), places left."""
        return {
            "theme": self.theme,
            "day": self.day,
            "at": self.iso,
            "time": self.start,
            "free": self.free,
        }


class ThemeFull(ThemeUnavailable):
    """The theme gives no number now: why (`reason`), in Chinese and English, and the offer: a
    time to come back today (`return_at`, "HH:MM") and/or the next appointment slot."""

    code = "theme_full"

    def __init__(
        self,
        *,
        theme: str,
        reason: FullReason,
        message_zh: str,
        message_en: str,
        return_at: str | None = None,
        next_slot: Slot | None = None,
    ) -> None:
        super().__init__(
            f"{message_zh} — {message_en}",
            theme=theme,
            reason=reason.value,
            message_zh=message_zh,
            message_en=message_en,
            return_at=return_at,
            next_slot=next_slot.view() if next_slot is not None else None,
        )
        self.theme = theme
        self.reason = reason
        self.message_zh = message_zh
        self.message_en = message_en
        self.return_at = return_at
        self.next_slot = next_slot

    def offering(self, next_slot: Slot | None) -> ThemeFull:
        """The same refusal offering this appointment slot."""
        return ThemeFull(
            theme=self.theme,
            reason=self.reason,
            message_zh=self.message_zh,
            message_en=self.message_en,
            return_at=self.return_at,
            next_slot=next_slot,
        )


class SlotFull(Conflict):
    """The appointment slot asked for has no room left (taken meanwhile)."""

    code = "slot_full"


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """A quota window and the numbers of the theme given in it so far."""

    quota: Quota
    given: int

    @property
    def left(self) -> int:
        """Numbers the window still gives."""
        return max(0, self.quota.tickets - self.given)


@dataclass(frozen=True, slots=True)
class Workload:
    """The work waiting in a theme against the time left before it stops issuing today."""

    waiting: int
    service_s: float  # the theme's expected service time
    windows: int  # windows that serve it now (or all of its windows when none is open)
    left_s: float  # until the end of its last opening period today
    margin_s: int

    @property
    def work_s(self) -> float:
        """The waiting work shared over the windows: when a new ticket would be called."""
        return self.waiting * self.service_s / self.windows

    @property
    def too_much(self) -> bool:
        """A new walk-in would be called only after closing plus the margin."""
        return self.work_s > self.left_s + self.margin_s


@dataclass(frozen=True, slots=True)
class CapacityState:
    """What a theme can still take today, as of one moment, and whether a walk-in is refused."""

    theme: str
    daily_cap: int | None
    given: int  # numbers given today
    quota: QuotaUse | None  # the quota window the moment falls in
    workload: Workload | None  # None: not checked (off, no closing time, no window)
    full: FullReason | None  # why a regular walk-in is refused now; None: it is not
    return_at: time | None  # today, the next quota window with room (a quota refusal only)

    def view(self) -> dict[str, Any]:
        """JSON-ready figures: full and why, the come-back time, cap, quota and workload."""
        quota = self.quota
        load = self.workload
        return {
            "full": self.full is not None,
            "reason": self.full.value if self.full is not None else None,
            "return_at": f"{self.return_at:%H:%M}" if self.return_at is not None else None,
            "cap_left": (
                max(0, self.daily_cap - self.given) if self.daily_cap is not None else None
            ),
            "quota": (
                {
                    "window": f"{quota.quota.start:%H:%M}-{quota.quota.end:%H:%M}",
                    "tickets": quota.quota.tickets,
                    "given": quota.given,
                    "left": quota.left,
                }
                if quota is not None
                else None
            ),
            "workload": (
                {
                    "waiting": load.waiting,
                    "windows": load.windows,
                    "work_min": round(load.work_s / 60),
                    "left_min": round(max(0.0, load.left_s) / 60),
                    "margin_min": round(load.margin_s / 60),
                }
                if load is not None
                else None
            ),
        }


# ----------------------------------------------------------------- the checks


def capacity_of(hall: Hall, theme_id: str, at: float) -> CapacityState:
    """The theme's capacity as of `at`: the three checks, in order, for a regular walk-in."""
    spec = hall.config.theme(theme_id)
    local = local_datetime(at, hall.tz)
    given = hall.serials[theme_id]
    quota = _quota_now(hall, spec, local)
    workload = _workload(hall, spec, local, at)
    full: FullReason | None = None
    return_at = None
    if spec.daily_cap is not None and given >= spec.daily_cap:
        full = FullReason.DAILY_CAP
    elif quota is not None and quota.left == 0:
        full = FullReason.QUOTA
        return_at = _return_at(hall, spec, local, quota.quota)
    elif workload is not None and workload.too_much:
        full = FullReason.WORKLOAD
    return CapacityState(theme_id, spec.daily_cap, given, quota, workload, full, return_at)


def check_capacity(hall: Hall, theme_id: str, at: float, *, exempt: bool) -> None:
    """ThemeFull when the theme may not give this applicant a number now; `exempt` (priority
    groups, appointments) is refused by the daily cap only."""
    state = capacity_of(hall, theme_id, at)
    if state.full is None or (exempt and state.full is not FullReason.DAILY_CAP):
        return
    raise refusal(hall, state)


def refusal(hall: Hall, state: CapacityState) -> ThemeFull:
    """The ThemeFull a full state refuses with, in the hall's words."""
    spec = hall.config.theme(state.theme)
    back = f"{state.return_at:%H:%M}" if state.return_at is not None else None
    if state.full is FullReason.DAILY_CAP:
        zh = f"{spec.name_zh}今日 {state.daily_cap} 个号已全部取完"
        en = f"{spec.name_en} ({spec.name_zh}) has issued all {state.daily_cap} tickets of today"
    elif state.full is FullReason.QUOTA:
        assert state.quota is not None
        quota = state.quota.quota
        window = f"{quota.start:%H:%M}-{quota.end:%H:%M}"
        zh = f"{spec.name_zh} {window} 时段的 {quota.tickets} 个号已取完"
        en = f"{spec.name_en}: all {quota.tickets} tickets for {window} have been issued"
        if back is not None:
            zh += f"，请于 {back} 后再来取号"
            en += f"; tickets again from {back}"
    else:
        assert state.workload is not None
        minutes = round(state.workload.work_s / 60)
        zh = f"{spec.name_zh}已有约 {minutes} 分钟的业务在等候，今日停止取号前无法办理"
        en = (
            f"{spec.name_en}: the {minutes} minutes of work already waiting leave no time "
            "to serve another applicant today"
        )
    assert state.full is not None
    return ThemeFull(
        theme=state.theme, reason=state.full, message_zh=zh, message_en=en, return_at=back
    )


def _quota_now(hall: Hall, spec: Theme, local: datetime) -> QuotaUse | None:
    moment = local.time()
    quota = next((q for q in spec.capacity.quotas if q.contains(moment)), None)
    if quota is None:
        return None
    return QuotaUse(quota, _given_in(hall, spec, local.date(), quota))


def _given_in(hall: Hall, spec: Theme, day: date, quota: Quota) -> int:
    """Numbers of this theme (by prefix: a ticket moved to it later does not count) given in the
    quota window on this local date, voided ones left out."""
    start = datetime.combine(day, quota.start, tzinfo=hall.tz).timestamp()
    end = datetime.combine(day, quota.end, tzinfo=hall.tz).timestamp()
    count = 0
    for ticket in reversed(hall.tickets.values()):
        if ticket.arrival_at < start - _CLOCK_SLACK_S:
            break
        if (
            start <= ticket.arrival_at < end
            and ticket.status is not TicketStatus.VOIDED
            and ticket.number.rstrip(_DIGITS) == spec.prefix
        ):
            count += 1
    return count


def _return_at(hall: Hall, spec: Theme, local: datetime, current: Quota) -> time | None:
    """Today, the first moment after this quota window when a walk-in gets a number again: the
    start of an opening period or quota window (or this window's end) that is open and whose
    quota, if any, has room."""
    now = local.time()
    moments = {current.end}
    moments.update(q.start for q in spec.capacity.quotas)
    moments.update(p.start for p in spec.hours)
    enforced = hall.config.enforce_opening_hours
    for moment in sorted(m for m in moments if m > now):
        if enforced and not spec.is_open_at(moment):
            continue
        quota = next((q for q in spec.capacity.quotas if q.contains(moment)), None)
        if quota is None or _given_in(hall, spec, local.date(), quota) < quota.tickets:
            return moment
    return None


def _workload(hall: Hall, spec: Theme, local: datetime, at: float) -> Workload | None:
    if not spec.capacity.workload_check or not hall.config.enforce_opening_hours:
        return None
    if not spec.is_open_at(local.time()):
        return None  # refused by its hours already
    serving = hall.config.windows_serving(spec.id)
    working = [w for w in serving if hall.windows[w.id].status is not WindowStatus.CLOSED]
    windows = len(working) or len(serving)
    if windows == 0:
        return None
    last_end = max(p.end for p in spec.hours)
    closing = datetime.combine(local.date(), last_end, tzinfo=hall.tz).timestamp()
    return Workload(
        waiting=hall.book.waiting_in_theme(spec.id),
        service_s=hall.service_time_s(spec.id),
        windows=windows,
        left_s=closing - at,
        margin_s=spec.capacity.workload_margin_s,
    )


# ----------------------------------------------------------------- appointment slots


def per_slot(config: HallConfig, theme_id: str) -> int:
    """Bookings one slot of this theme takes (0: the theme offers no appointment slots)."""
    own = config.theme(theme_id).capacity.per_slot
    return own if own is not None else config.appointment_slots.per_slot


def slot_starts(hall: Hall, theme_id: str) -> list[float]:
    """The starts of the theme's slots on the hall's business day, over its opening hours."""
    config = hall.config
    grid = config.appointment_slots
    day = date.fromisoformat(hall.day)
    if day.weekday() not in grid.weekdays:
        return []
    starts: list[float] = []
    for period in config.theme(theme_id).hours:
        # Hours before the rollover belong to the business day's next calendar date.
        on = day + timedelta(days=1) if period.start < config.day_rollover else day
        moment = datetime.combine(on, period.start, tzinfo=hall.tz)
        end = datetime.combine(on, period.end, tzinfo=hall.tz)
        while moment < end:
            starts.append(moment.timestamp())
            moment += timedelta(seconds=grid.slot_s)
    return starts


def day_slots(hall: Hall, theme_id: str) -> Iterator[Slot]:
    """Every slot of the theme on the hall's business day, with the places it has left."""
    places = per_slot(hall.config, theme_id)
    if places <= 0:
        return
    size = hall.config.appointment_slots.slot_s
    for start in slot_starts(hall, theme_id):
        booked = sum(
            1
            for b in hall.bookings.values()
            if b.theme == theme_id
            and b.status is not BookingStatus.CANCELLED
            and start <= b.slot_at < start + size
        )
        local = local_datetime(start, hall.tz)
        yield Slot(
            theme=theme_id,
            day=hall.day,
            at=start,
            start=f"{local:%H:%M}",
            iso=local.isoformat(timespec="minutes"),
            free=max(0, places - booked),
        )


def next_slot(days: Iterable[Hall], theme_id: str, after: float) -> Slot | None:
    """The first slot of the theme after `after` with room, over these days in order."""
    for hall in days:
        for slot in day_slots(hall, theme_id):
            if slot.at > after and slot.free > 0:
                return slot
    return None


def check_in_opens(hall: Hall, theme_id: str, slot_at: float) -> float:
    """When a booking of this slot may check in: `appointment_early` before it, but not before
    its opening period starts where the hall keeps its hours (no number is given before)."""
    opens = slot_at - hall.policy.appointment_early_s
    if not hall.config.enforce_opening_hours:
        return opens
    slot = local_datetime(slot_at, hall.tz)
    for period in hall.config.theme(theme_id).hours:
        if period.contains(slot.time()):
            start = datetime.combine(slot.date(), period.start, tzinfo=hall.tz).timestamp()
            return max(opens, start)
    return opens


def slot_to_book(hall: Hall, theme_id: str, slot_at: float, at: float) -> Slot:
    """The slot starting at `slot_at` on the hall's day, checked: a slot of the grid, still to
    come, with room (SlotFull), on a day whose daily cap leaves room for its check-in."""
    if theme_id not in hall.serials:
        raise InvalidCommand(f'unknown theme "{theme_id}"', field="theme")
    if per_slot(hall.config, theme_id) <= 0:
        spec = hall.config.theme(theme_id)
        raise InvalidCommand(f"{spec.name_en} offers no appointment slots", field="theme")
    slot = next((s for s in day_slots(hall, theme_id) if s.at == slot_at), None)
    if slot is None:
        raise InvalidCommand("not an appointment slot of this theme", field="slot")
    if slot_at <= at:
        raise InvalidCommand(f"the slot {slot.start} has passed", field="slot")
    if slot.free == 0:
        raise SlotFull(f"the {slot.start} slot of {slot.day} is fully booked", slot=slot.iso)
    cap = hall.config.theme(theme_id).daily_cap
    if cap is not None and hall.serials[theme_id] >= cap:
        # Its check-in would be refused: the day's numbers are all given.
        raise ThemeUnavailable(f"all numbers of {slot.day} are given: book another day")
    return slot
