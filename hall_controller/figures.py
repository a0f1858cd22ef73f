"""What the hall manager watches: the live hall, today's figures and the alerts.

The live hall and the alerts are read from the day's state (and the devices' health) at each
request. The figures need what the state forgets (when each ticket was first called, every call
of the day), so they fold the day's durable events, reading only those after the last one folded.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .core.calendar import local_datetime
from .core.capacity import capacity_of
from .core.errors import Conflict, NotFound
from .core.hall import Hall, Ticket, policy_after
from .core.model import HallConfig, Policy, TicketStatus
from .services import HallService, PublishedEvent

# A waiting ticket past this share of its maximum wait is a warning; past all of it, an alert.
WAIT_WARNING_SHARE = 0.8
# Device states that raise an alert, and how serious each is.
DEVICE_ALERT_LEVELS = {"lost": "critical", "alert": "warning"}
_LEVEL_ORDER = {"critical": 0, "warning": 1}
PRINTER_KIND = "ticket_printer"
# Tickets that were never issued (a print not confirmed, or that failed) count nowhere.
_NOT_ISSUED = frozenset({TicketStatus.PRINTING, TicketStatus.VOIDED})


@dataclass(slots=True)
class _Seen:
    """One ticket as the figures follow it through the day's events."""

    theme: str
    priority: str | None
    arrival_at: float
    issued: bool = False
    called: bool = False


@dataclass(slots=True)
class _DayFold:
    """The day's events folded into what the figures need and the state does not keep."""

    day: str
    policy: Policy
    last_seq: int = 0
    tickets: dict[str, _Seen] = field(default_factory=dict)
    # Per theme, each ticket's first call: (waited seconds, its maximum wait at that moment).
    first_calls: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # Hall-local hour -> calls (recalls not counted) and issued tickets (by arrival).
    calls: Counter[int] = field(default_factory=Counter)
    arrivals: Counter[int] = field(default_factory=Counter)

    def add(
        self, config: HallConfig, hour_of: Callable[[float], int], event: PublishedEvent
    ) -> None:
        """Fold one durable event."""
        self.last_seq = max(self.last_seq, event.seq)
        data = event.data
        kind = event.type
        if kind in ("TicketReserved", "TicketIssued"):
            seen = self.tickets.get(data["ticket_id"])
            if seen is None:
                seen = _Seen(data["theme"], data.get("priority"), event.at)
                self.tickets[data["ticket_id"]] = seen
            if kind == "TicketIssued" and not seen.issued:
                seen.issued = True
                self.arrivals[hour_of(seen.arrival_at)] += 1
        elif kind == "TicketVoided":
            self.tickets.pop(data["ticket_id"], None)
        elif kind == "TicketTransferred" and data["ticket_id"] in self.tickets:
            self.tickets[data["ticket_id"]].theme = data["to_theme"]
        elif kind == "TicketPrioritised" and data["ticket_id"] in self.tickets:
            self.tickets[data["ticket_id"]].priority = data["priority"]
        elif kind == "PolicyChanged":
            self.policy = policy_after(self.policy, data["changes"])
        elif kind == "TicketCalled":
            self.calls[hour_of(event.at)] += 1
            seen = self.tickets.get(data["ticket_id"])
            if seen is not None and not seen.called:
                seen.called = True
                limit = self.policy.max_wait_s(config.theme(seen.theme), seen.priority is not None)
                waits = self.first_calls.setdefault(seen.theme, [])
                waits.append((event.at - seen.arrival_at, limit))


def _wait_figures(calls: list[tuple[float, float]]) -> dict[str, Any]:
    """Median, 90th percentile (nearest rank) and longest wait to a first call, and the share
    of first calls within the ticket's maximum wait."""
    waits = sorted(wait for wait, _ in calls)
    within = sum(1 for wait, limit in calls if wait <= limit)
    if not waits:
        return {
            "called": 0,
            "median_s": None,
            "p90_s": None,
            "max_s": None,
            "within_target": 0,
            "within_share": None,
        }
    return {
        "called": len(waits),
        "median_s": round(statistics.median(waits)),
        "p90_s": round(waits[math.ceil(0.9 * len(waits)) - 1]),
        "max_s": round(waits[-1]),
        "within_target": within,
        "within_share": round(within / len(waits), 4),
    }


def _counts(tickets: list[Ticket]) -> dict[str, int]:
    status = Counter(t.status for t in tickets)
    return {
        "issued": len(tickets),
        "waiting": status[TicketStatus.WAITING],
        "at_window": status[TicketStatus.CALLED] + status[TicketStatus.SERVING],
        "held": status[TicketStatus.HELD],
        "served": status[TicketStatus.FINISHED],
        "no_show": status[TicketStatus.NO_SHOW],
        "cancelled": status[TicketStatus.CANCELLED],
    }


@dataclass(slots=True)
class _WaitState:
    """A theme's tickets near or past their maximum wait, and the one furthest along."""

    share: float  # its wait as a share of its maximum
    ticket: Ticket
    limit: float
    near: int = 0
    over: int = 0


class HallWatch:
    """The manager tablet's reads: the live hall, today's figures and the alerts."""

    def __init__(self, service: HallService) -> None:
        self.service = service
        self._fold: _DayFold | None = None
        self._folding = asyncio.Lock()

    # ----------------------------------------------------------------- the live hall

    def overview(self) -> dict[str, Any]:
        """Every window with its current ticket, every theme's line and its oldest wait."""
        service = self.service
        hall = service.current()
        now = service.now()
        windows = []
        for view in service.windows_view():
            state = hall.windows[view["id"]]
            ticket = hall.tickets[state.ticket_id] if state.ticket_id else None
            windows.append({"window": view, "ticket": self._current(ticket, now)})
        return {
            "day": hall.day,
            "at": self._iso(now),
            "windows": windows,
            "themes": self._lines(hall, now),
            "alerts": sum(1 for a in self.alerts() if a["acknowledged"] is None),
        }

    def _current(self, ticket: Ticket | None, now: float) -> dict[str, Any] | None:
        if ticket is None:
            return None
        theme = self.service.config.theme(ticket.theme)
        since = ticket.started_at if ticket.status is TicketStatus.SERVING else ticket.called_at
        return {
            "id": ticket.id,
            "number": ticket.number,
            "theme": ticket.theme,
            "theme_name_zh": theme.name_zh,
            "theme_name_en": theme.name_en,
            "priority": ticket.priority,
            "status": ticket.status.value,
            "since": self._iso(since),
            "for_s": round(now - since) if since is not None else None,
        }

    def _lines(self, hall: Hall, now: float) -> list[dict[str, Any]]:
        """Each theme's waiting tickets: how many, the oldest, and how many near or past target."""
        policy = hall.policy
        out = []
        waiting: dict[str, list[Ticket]] = {t.id: [] for t in self.service.config.themes}
        for ticket_id in hall.book.where:
            ticket = hall.tickets[ticket_id]
            waiting.setdefault(ticket.theme, []).append(ticket)
        states = self._wait_states(hall, now)
        for theme in self.service.config.themes:
            tickets = waiting[theme.id]
            oldest = min(tickets, key=lambda t: (t.arrival_at, t.id)) if tickets else None
            state = states.get(theme.id)
            near, over = (state.near, state.over) if state is not None else (0, 0)
            out.append(
                {
                    "id": theme.id,
                    "name_zh": theme.name_zh,
                    "name_en": theme.name_en,
                    "prefix": theme.prefix,
                    "waiting": len(tickets),
                    "waiting_priority": sum(1 for t in tickets if t.priority is not None),
                    "max_wait_s": policy.theme_limit_s(theme),
                    "oldest": (
                        {
                            "id": oldest.id,
                            "number": oldest.number,
                            "priority": oldest.priority,
                            "waited_s": round(now - oldest.arrival_at),
                        }
                        if oldest is not None
                        else None
                    ),
                    "near_target": near,
                    "over_target": over,
                    # What it can still take today (10.3.4): cap, quota window, workload.
                    "capacity": capacity_of(hall, theme.id, now).view(),
                }
            )
        return out

    # ----------------------------------------------------------------- today's figures

    async def figures(self) -> dict[str, Any]:
        """Today's figures: per theme counts and waits, calls and arrivals per hour, ratings."""
        service = self.service
        config = service.config

        def hour_of(at: float) -> int:
            return local_datetime(at, service.tz).hour

        async with self._folding:
            hall = service.current()
            fold = self._fold
            if fold is None or fold.day != hall.day:
                fold = self._fold = _DayFold(hall.day, config.policy)
            for event in await service.day_events(hall.day, fold.last_seq):
                fold.add(config, hour_of, event)
        hall = service.current()
        if hall.day != fold.day:  # the day rolled over while the log was read
            return await self.figures()
        issued = [t for t in hall.tickets.values() if t.status not in _NOT_ISSUED]
        by_theme: dict[str, list[Ticket]] = {t.id: [] for t in config.themes}
        for ticket in issued:
            by_theme.setdefault(ticket.theme, []).append(ticket)
        themes = []
        for theme in config.themes:
            themes.append(
                {
                    "id": theme.id,
                    "name_zh": theme.name_zh,
                    "name_en": theme.name_en,
                    "max_wait_s": hall.policy.theme_limit_s(theme),
                    **_counts(by_theme[theme.id]),
                    **_wait_figures(fold.first_calls.get(theme.id, [])),
                }
            )
        every_call = [c for calls in fold.first_calls.values() for c in calls]
        ratings = Counter(t.rating for t in issued if t.rating is not None)
        rated = sum(ratings.values())
        return {
            "day": hall.day,
            "at": self._iso(service.now()),
            "themes": themes,
            "total": {**_counts(issued), **_wait_figures(every_call)},
            "hours": [
                {"hour": hour, "arrivals": fold.arrivals[hour], "calls": fold.calls[hour]}
                for hour in self._hours(fold)
            ],
            "ratings": {
                "count": rated,
                "mean": round(sum(s * n for s, n in ratings.items()) / rated, 2) if rated else None,
                "scores": [{"score": s, "count": ratings[s]} for s in (5, 4, 3, 2, 1)],
            },
        }

    def _hours(self, fold: _DayFold) -> list[int]:
        """The opening hours of the day's themes, widened to any hour that saw tickets."""
        starts = [p.start.hour for t in self.service.config.themes for p in t.hours]
        ends = [
            p.end.hour - (1 if p.end.minute == 0 and p.end.second == 0 else 0)
            for t in self.service.config.themes
            for p in t.hours
        ]
        busy = [h for h, n in (fold.arrivals + fold.calls).items() if n]
        first = min([*starts, *busy], default=9)
        last = max([*ends, *busy], default=17)
        return list(range(first, max(first, last) + 1))

    # ----------------------------------------------------------------- alerts

    def alerts(self) -> list[dict[str, Any]]:
        """Help pages not yet answered, waits near or past target, devices lost or alerting,
        poor ratings' follow-ups past a deadline.

        Unacknowledged first, critical before warning, oldest first. An acknowledged help page
        leaves the list; other alerts stay, marked, for as long as their cause lasts.
        """
        service = self.service
        hall = service.current()
        now = service.now()
        found = [
            *self._help_alerts(hall),
            *self._wait_alerts(hall, now),
            *self._device_alerts(),
            *self._followup_alerts(now),
        ]
        for alert in found:
            done = hall.acknowledged.get(alert["id"])
            alert["acknowledged"] = (
                {"at": self._iso(done.at), "by": done.actor, "note": done.note} if done else None
            )
        found.sort(
            key=lambda a: (a["acknowledged"] is not None, _LEVEL_ORDER[a["level"]], a["_at"])
        )
        for alert in found:
            del alert["_at"]
        return found

    def _alert(
        self, alert_id: str, kind: str, level: str, at: float, subject: str, zh: str, en: str
    ) -> dict[str, Any]:
        return {
            "id": alert_id,
            "kind": kind,
            "level": level,
            "since": self._iso(at),
            "subject": subject,
            "text_zh": zh,
            "text_en": en,
            "_at": at,
        }

    def _help_alerts(self, hall: Hall) -> list[dict[str, Any]]:
        kiosks = {k.id: k for k in self.service.config.kiosks}
        out = []
        for page in hall.help_pages.values():
            if page.alert in hall.acknowledged:
                continue
            kiosk = kiosks.get(page.kiosk)
            zh = kiosk.name_zh if kiosk else page.kiosk
            en = kiosk.name_en if kiosk else page.kiosk
            out.append(
                self._alert(
                    page.alert,
                    "help",
                    "critical",
                    page.at,
                    page.kiosk,
                    f"{zh}：申请人需要帮助",
                    f"{en}: an applicant needs help",
                )
            )
        return out

    def _wait_states(self, hall: Hall, now: float) -> dict[str, _WaitState]:
        """Per theme with a ticket at WAIT_WARNING_SHARE of its maximum wait or more: how many
        are near it and past it, and the one furthest along."""
        states: dict[str, _WaitState] = {}
        for ticket_id in hall.book.where:
            ticket = hall.tickets[ticket_id]
            theme = self.service.config.theme(ticket.theme)
            limit = hall.policy.max_wait_s(theme, ticket.priority is not None)
            share = (now - ticket.arrival_at) / limit if limit > 0 else math.inf
            if share < WAIT_WARNING_SHARE:
                continue
            state = states.get(ticket.theme)
            if state is None:
                state = states[ticket.theme] = _WaitState(share, ticket, limit)
            elif share > state.share:
                state.share, state.ticket, state.limit = share, ticket, limit
            if share >= 1:
                state.over += 1
            else:
                state.near += 1
        return states

    def _wait_alerts(self, hall: Hall, now: float) -> list[dict[str, Any]]:
        """One alert per theme: its ticket furthest past (or nearest to) its maximum wait."""
        out = []
        for theme_id, worst in self._wait_states(hall, now).items():
            share, ticket, limit = worst.share, worst.ticket, worst.limit
            theme = self.service.config.theme(theme_id)
            waited = round((now - ticket.arrival_at) / 60)
            target = round(limit / 60)
            if share >= 1:
                n = worst.over
                level, state = "critical", "over"
                zh = (
                    f"{theme.name_zh}：{n} 人等候超过目标，{ticket.number} 已等 {waited} 分钟"
                    f"（目标 {target} 分钟）"
                )
                en = (
                    f"{theme.name_en}: {n} waiting past target; {ticket.number} has waited "
                    f"{waited} min (target {target} min)"
                )
            else:
                n = worst.near
                level, state = "warning", "near"
                zh = (
                    f"{theme.name_zh}：{n} 人接近等候目标，{ticket.number} 已等 {waited} 分钟"
                    f"（目标 {target} 分钟）"
                )
                en = (
                    f"{theme.name_en}: {n} close to the wait target; {ticket.number} has waited "
                    f"{waited} min (target {target} min)"
                )
            out.append(
                self._alert(
                    f"wait:{theme_id}:{state}:{ticket.id}",
                    "wait",
                    level,
                    ticket.arrival_at + limit * (1 if share >= 1 else WAIT_WARNING_SHARE),
                    theme_id,
                    zh,
                    en,
                )
            )
        return out

    def _device_alerts(self) -> list[dict[str, Any]]:
        out = []
        for health in self.service.device_health():
            level = DEVICE_ALERT_LEVELS.get(str(health["state"]))
            if level is None:
                continue
            device = str(health["id"])
            since = float(health["since"] or 0.0)
            where = health.get("window")
            at_zh = f"（{where}号窗口）" if where else ""
            at_en = f" (window {where})" if where else ""
            problem = f"：{health['last_error']}" if health.get("last_error") else ""
            if health["state"] == "lost":
                zh, en = f"设备 {device}{at_zh} 失去联系", f"Device {device}{at_en} is lost"
            else:
                zh = f"设备 {device}{at_zh} 报警{problem}"
                en = f"Device {device}{at_en} reports a problem{problem.replace('：', ': ')}"
            cause = f"{health['state']}:{int(since)}"
            if health["state"] == "alert" and health.get("kind") == PRINTER_KIND:
                # A printer stays in alert, since the same moment, when "paper low" becomes
                # "paper out": a new paper or cover status is a new alert to acknowledge. (Other
                # devices keep each failure's own words there: keyed by them, alerts would pile.)
                status = str(health.get("last_error")).encode()
                cause += ":" + hashlib.sha256(status).hexdigest()[:8]
            out.append(
                self._alert(
                    f"device:{device}:{cause}",
                    "device",
                    level,
                    since,
                    device,
                    zh,
                    en,
                )
            )
        return out

    def _followup_alerts(self, now: float) -> list[dict[str, Any]]:
        """One alert per poor rating's follow-up past a deadline: the rectification's
        (critical) once it has passed, else the callback's (a warning)."""
        out = []
        for f in self.service.followups.overdue(now):
            late_fix = f.rectify_overdue(now)
            due = f.rectify_due if late_fix else f.callback_due
            when = local_datetime(due, self.service.tz).strftime("%m-%d %H:%M")
            where_zh = f"，{f.window}号窗口" if f.window else ""
            where_en = f", window {f.window}" if f.window else ""
            if late_fix:
                zh = f"差评整改 {f.number}（{f.day}{where_zh}）：整改超期，应于 {when} 前完成"
                en = (
                    f"Follow-up of {f.number} ({f.day}{where_en}): rectification overdue "
                    f"since {when}"
                )
            else:
                zh = f"差评整改 {f.number}（{f.day}{where_zh}）：回访超期，应于 {when} 前回访"
                en = f"Follow-up of {f.number} ({f.day}{where_en}): callback overdue since {when}"
            out.append(
                self._alert(
                    f"followup:{f.id}:{'rectify' if late_fix else 'callback'}",
                    "followup",
                    "critical" if late_fix else "warning",
                    due,
                    f.id,
                    zh,
                    en,
                )
            )
        return out

    async def acknowledge(self, alert_id: str, note: str, *, actor: str) -> dict[str, Any]:
        """Acknowledge an alert that is on now (a help page: once); the alert afterwards."""
        alert = next((a for a in self.alerts() if a["id"] == alert_id), None)
        if alert is None:
            if alert_id in self.service.current().help_pages:
                raise Conflict(f"alert {alert_id} was already acknowledged", alert=alert_id)
            raise NotFound(f'no alert "{alert_id}" now: its cause may have ended', alert=alert_id)
        if alert["acknowledged"] is not None:
            raise Conflict(f"alert {alert_id} was already acknowledged", alert=alert_id)
        reply = await self.service.acknowledge_alert(alert_id, note, actor=actor)
        return {**alert, "acknowledged": reply.body}

    def _iso(self, at: float | None) -> str | None:
        if at is None:
            return None
        return local_datetime(at, self.service.tz).isoformat(timespec="seconds")
