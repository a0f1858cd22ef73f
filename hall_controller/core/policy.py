"""The next-ticket policy: priority first, within bounds a manager can read, and explained.

For a window, the rules are tried in this order; the first that applies chooses:

1. ``max_wait``: a ticket past its theme's hard maximum wait (a quarter of it for priority
   tickets, by default) is called first; among several, the one whose deadline passed first.
2. ``appointment``: an appointment due now (from ``appointment_early`` before its slot until
   ``appointment_late`` after it) is called first; the earliest slot first.
3. ``priority_limit``: after ``priority_streak_limit`` priority calls in a row at this window,
   while regular tickets wait, the best regular ticket is called.
4. ``personalised``: at the personalised-service window (个性化服务岗), the best of the priority
   tickets of every theme and the tickets sent to that window.
5. The highest score, where score = waited seconds x ``aging_rate`` + the priority head start
   (priority groups) + the window's preference bonus for the ticket's theme (full for its first
   theme and for tickets sent to the window, falling linearly to 0 for its last theme). The
   rule names what decided: ``priority`` when the head start did, ``preference`` when the
   window's theme preference did, else ``longest_wait``.

A window standing in for a theme whose own windows are all paused or closed (同岗替代, see
`Theme.similar`) weighs that theme's tickets too, without a preference bonus.

Within one class of one line the score order is the arrival order, so only the head of each
line can win: the candidates weighed are those heads (plus tickets sent to the window), which
keeps a call O(themes x log n) however long the queues grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .events import Candidate
from .model import HallConfig, Policy
from .queues import QueueBook, QueueEntry


class Rule(StrEnum):
    """Why a ticket was called."""

    SPECIFIC = "specific"
    MAX_WAIT = "max_wait"
    APPOINTMENT = "appointment"
    PRIORITY_LIMIT = "priority_limit"
    PERSONALISED = "personalised"
    PRIORITY = "priority"
    PREFERENCE = "preference"
    LONGEST_WAIT = "longest_wait"


RULE_TEXT: dict[Rule, str] = {
    Rule.SPECIFIC: "called by number at the window",
    Rule.MAX_WAIT: "waited past the theme's maximum wait",
    Rule.APPOINTMENT: "appointment due now",
    Rule.PRIORITY_LIMIT: "regular ticket after the limit of priority calls in a row",
    Rule.PERSONALISED: "the personalised-service window serves priority groups and cases sent "
    "to it first",
    Rule.PRIORITY: "priority group goes first",
    Rule.PREFERENCE: "the window's preferred theme",
    Rule.LONGEST_WAIT: "waited longest",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The ticket a window should call, the rule that chose it and the candidates weighed."""

    ticket_id: str
    rule: Rule
    candidates: tuple[Candidate, ...]


# A window line can hold a handful of tickets sent to it; past this many, record only the best.
_RECORDED_CANDIDATES = 12


def preference_bonuses(config: HallConfig, policy: Policy, window_id: str) -> dict[str, float]:
    """The window's bonus per theme: full for its first theme, linearly down to 0 for its last."""
    themes = config.window(window_id).themes
    if len(themes) == 1:
        return {themes[0]: float(policy.preference_bonus_s)}
    last = len(themes) - 1
    return {t: policy.preference_bonus_s * (last - rank) / last for rank, t in enumerate(themes)}


def assess(
    config: HallConfig,
    policy: Policy,
    entry: QueueEntry,
    preference: float,
    now: float,
) -> Candidate:
    """Score one waiting ticket for one window at `now`, keeping every part of the score."""
    waited = now - entry.arrival_at
    is_priority = entry.priority is not None
    aging = waited * policy.aging_rate
    head_start = float(policy.priority_head_start_s) if is_priority else 0.0
    limit = policy.max_wait_s(config.theme(entry.theme), is_priority)
    due = False
    if entry.appointment_at is not None:
        due = (
            entry.appointment_at - policy.appointment_early_s
            <= now
            <= entry.appointment_at + policy.appointment_late_s
        )
    return Candidate(
        ticket_id=entry.ticket_id,
        number=entry.number,
        theme=entry.theme,
        priority=entry.priority,
        waited_s=round(waited, 3),
        aging=round(aging, 3),
        head_start=head_start,
        preference=round(preference, 3),
        score=round(aging + head_start + preference, 3),
        overdue_s=round(waited - limit, 3),
        appointment_due=due,
    )


def _due_appointment(book: QueueBook, theme: str, policy: Policy, now: float) -> QueueEntry | None:
    for slot, entry in book.appointments.get(theme, ()):
        if slot - policy.appointment_early_s > now:
            return None
        if now <= slot + policy.appointment_late_s:
            return entry
    return None


def reach(config: HallConfig, window_id: str, standing_in: tuple[str, ...] = ()) -> dict[str, bool]:
    """The themes whose lines this window calls from: theme -> all of its tickets (False: only
    its priority tickets, which the personalised-service window takes from every theme)."""
    themes = dict.fromkeys(config.window(window_id).themes, True)
    themes.update(dict.fromkeys(standing_in, True))
    if config.window(window_id).personalised:
        for theme in config.themes:
            themes.setdefault(theme.id, False)
    return themes


def gather(
    config: HallConfig,
    policy: Policy,
    book: QueueBook,
    window_id: str,
    now: float,
    standing_in: tuple[str, ...] = (),
) -> list[Candidate]:
    """Every ticket that could win this window's next call, scored, best score first."""
    bonuses = preference_bonuses(config, policy, window_id)
    full = float(policy.preference_bonus_s)
    seen: set[str] = set()
    candidates: list[Candidate] = []

    def consider(entry: QueueEntry, bonus: float) -> None:
        if entry.ticket_id not in seen:
            seen.add(entry.ticket_id)
            candidates.append(assess(config, policy, entry, bonus, now))

    own = book.windows.get(window_id)
    if own is not None:
        for entry in own.regular + own.priority:
            consider(entry, full)
    for theme, whole in reach(config, window_id, standing_in).items():
        bonus = bonuses.get(theme, 0.0)
        line = book.themes.get(theme)
        if line is not None:
            if line.regular and whole:
                consider(line.regular[0], bonus)
            if line.priority:
                consider(line.priority[0], bonus)
        appointment = _due_appointment(book, theme, policy, now) if whole else None
        if appointment is not None:
            consider(appointment, bonus)
    candidates.sort(key=lambda c: (-c.score, c.waited_s * -1, c.ticket_id))
    return candidates


def choose_next(
    config: HallConfig,
    policy: Policy,
    book: QueueBook,
    window_id: str,
    priority_streak: int,
    now: float,
    standing_in: tuple[str, ...] = (),
) -> Decision | None:
    """The ticket this window should call next, and why; None when nobody it serves waits."""
    candidates = gather(config, policy, book, window_id, now, standing_in)
    if not candidates:
        return None
    recorded = tuple(candidates[:_RECORDED_CANDIDATES])

    overdue = [c for c in candidates if c.overdue_s >= 0]
    if overdue:
        pick = max(overdue, key=lambda c: (c.overdue_s, c.waited_s))
        return Decision(pick.ticket_id, Rule.MAX_WAIT, _with(recorded, pick))

    due = [c for c in candidates if c.appointment_due]
    if due:
        slots = {c.ticket_id: _slot(book, c.ticket_id) for c in due}
        pick = min(due, key=lambda c: (slots[c.ticket_id], -c.waited_s))
        return Decision(pick.ticket_id, Rule.APPOINTMENT, _with(recorded, pick))

    if config.window(window_id).personalised:
        own = book.windows.get(window_id)
        sent = {e.ticket_id for e in own.regular + own.priority} if own is not None else set()
        first = [c for c in candidates if c.priority is not None or c.ticket_id in sent]
        if first:
            return Decision(first[0].ticket_id, Rule.PERSONALISED, recorded)

    best = candidates[0]
    regulars = [c for c in candidates if c.priority is None]
    if best.priority is not None and regulars:
        if priority_streak >= policy.priority_streak_limit:
            return Decision(
                regulars[0].ticket_id, Rule.PRIORITY_LIMIT, _with(recorded, regulars[0])
            )
        if regulars[0].score > best.score - best.head_start:
            return Decision(best.ticket_id, Rule.PRIORITY, recorded)
    without_preference = max(candidates, key=lambda c: (c.score - c.preference, c.waited_s))
    if without_preference.ticket_id != best.ticket_id and (
        without_preference.score - without_preference.preference > best.score - best.preference
    ):
        return Decision(best.ticket_id, Rule.PREFERENCE, recorded)
    return Decision(best.ticket_id, Rule.LONGEST_WAIT, recorded)


def upcoming(
    config: HallConfig,
    policy: Policy,
    book: QueueBook,
    window_id: str,
    priority_streak: int,
    now: float,
    count: int,
    standing_in: tuple[str, ...] = (),
) -> list[Decision]:
    """The next `count` calls of one window, played forward on a copy: each call takes its
    ticket out of line and counts in the run of priority calls, as a real call would."""
    themes = tuple(reach(config, window_id, standing_in))
    trial = _first_in_line(book, themes, window_id, count)
    decisions: list[Decision] = []
    streak = priority_streak
    while len(decisions) < count:
        decision = choose_next(config, policy, trial, window_id, streak, now, standing_in)
        if decision is None:
            break
        entry = trial.remove(decision.ticket_id)
        streak = streak + 1 if entry.priority is not None else 0
        decisions.append(decision)
    return decisions


def _first_in_line(
    book: QueueBook, themes: tuple[str, ...], window_id: str, count: int
) -> QueueBook:
    """A copy of what `count` calls of this window can reach: the first `count` of each class
    of its lines, and its themes' appointments (a due one may stand anywhere in its line)."""
    # Only a line's head can be called, so `count` calls never reach past its first `count`;
    # an appointment beyond them sorts after them in the copy, where the same holds.
    trial = QueueBook()
    own = book.windows.get(window_id)
    if own is not None:
        for entry in own.regular[:count] + own.priority[:count]:
            trial.add(entry, window_id)
    for theme in themes:
        line = book.themes.get(theme)
        if line is not None:
            for entry in line.regular[:count] + line.priority[:count]:
                trial.add(entry)
        for _, entry in book.appointments.get(theme, ()):
            if entry.ticket_id not in trial:
                trial.add(entry)
    return trial


def _slot(book: QueueBook, ticket_id: str) -> float:
    entry, _ = book.entry(ticket_id)
    return entry.appointment_at if entry.appointment_at is not None else float("inf")


def _with(recorded: tuple[Candidate, ...], pick: Candidate) -> tuple[Candidate, ...]:
    if any(c.ticket_id == pick.ticket_id for c in recorded):
        return recorded
    return (pick, *recorded[: _RECORDED_CANDIDATES - 1])
