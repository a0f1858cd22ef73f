"""The poor ratings' follow-ups (差评整改, DB44/T 2138 12.2) of a report's period: how many were
opened, and whether each was called back within its callback deadline and put right within
its rectification deadline.

A follow-up outlives the day it was opened on: its callback and its close are events of the
days they happen, often after the period. So this part is not folded from the period's replay:
it is worked out beforehand from the follow-up events of every day (the report command reads
them from the log, the controller holds them in memory) and handed to
`build_report(extra_sections=...)`. The notes written on a follow-up (what the applicant said)
are free text about a complaint and stay out of the report; case numbers are in it (the report
is for managers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from hall_controller.core.calendar import local_datetime
from hall_controller.core.events import Event, UnknownEventType, event_from_data
from hall_controller.core.followups import (
    FOLLOWUP_EVENT_NAMES,
    Deadline,
    FollowUpOutcome,
    FollowUps,
    FollowUpStatus,
)
from hall_controller.core.hall import Hall
from hall_controller.core.model import HallConfig

from .efficiency import RATING_WORDS, ReportError, StoredEvent
from .model import Bar, BarChart, KeyFigure, Metric, Row, Section, Series, Table, Value
from .period import Period

SECTION_ID = "followups"
# How a follow-up stands against a deadline, in words; the order of the chart's bars.
DEADLINE_WORDS: dict[Deadline, tuple[str, str]] = {
    Deadline.MET: ("按时", "Met"),
    Deadline.MISSED: ("超期", "Missed"),
    Deadline.PENDING: ("未到期", "Pending"),
}
_DAY_S = 24 * 3600


class FollowUpSection:
    """The follow-ups part of the report, worked out before the replay: a fold that needs
    nothing from the period's days, so `begin_day`, `observe` and `end_day` do nothing."""

    def __init__(
        self,
        config: HallConfig,
        outcomes: Sequence[FollowUpOutcome],
        *,
        staff_names: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.outcomes = tuple(outcomes)
        self.staff_names = staff_names or {}
        self.tz = ZoneInfo(config.timezone)

    def begin_day(self, hall: Hall) -> None:
        """Nothing to do: the follow-ups were worked out before the replay."""

    def observe(self, hall: Hall, event: Event) -> None:
        """Nothing to do: the follow-ups were worked out before the replay."""

    def end_day(self, hall: Hall) -> None:
        """Nothing to do: the follow-ups were worked out before the replay."""

    def sections(self) -> Sequence[Section]:
        """One section: key figures, met / missed / pending per deadline, one row each."""
        outcomes = self.outcomes
        callbacks = Counter(o.callback for o in outcomes)
        rectifications = Counter(o.rectification for o in outcomes)
        callback_zh, callback_en = _within(self.config.ratings.callback_within_s)
        rectify_zh, rectify_en = _within(self.config.ratings.rectify_within_s)
        figures = (
            KeyFigure(
                Metric("poor_ratings", "差评（整改件数）", "Poor ratings (follow-ups)"),
                len(outcomes),
            ),
            *(
                KeyFigure(
                    Metric(f"callbacks_{state.value}", f"回访{zh}", f"Callbacks {en.lower()}"),
                    callbacks[state],
                )
                for state, (zh, en) in DEADLINE_WORDS.items()
            ),
            *(
                KeyFigure(
                    Metric(
                        f"rectifications_{state.value}", f"整改{zh}", f"Rectifications {en.lower()}"
                    ),
                    rectifications[state],
                )
                for state, (zh, en) in DEADLINE_WORDS.items()
            ),
            KeyFigure(
                Metric("still_open", "尚未结案", "Still open"),
                sum(1 for o in outcomes if o.status is not FollowUpStatus.CLOSED),
            ),
        )
        charts: tuple[BarChart, ...] = ()
        tables: tuple[Table, ...] = ()
        if outcomes:
            charts = (
                BarChart(
                    "followup-deadlines",
                    "整改时限完成情况",
                    "Follow-ups against their deadlines",
                    "count",
                    (
                        Series(f"回访（{callback_zh}内）", f"Callback (within {callback_en})"),
                        Series(f"整改（{rectify_zh}内）", f"Rectification (within {rectify_en})"),
                    ),
                    tuple(
                        Bar(
                            f"deadline:{state.value}",
                            zh,
                            en,
                            (callbacks[state], rectifications[state]),
                        )
                        for state, (zh, en) in DEADLINE_WORDS.items()
                    ),
                ),
            )
            tables = (
                Table(
                    SECTION_ID,
                    "差评整改明细",
                    "Each poor rating's follow-up",
                    COLUMNS,
                    tuple(self._row(o) for o in outcomes),
                ),
            )
        notes = [
            (
                f"按评价所在营业日计入期间；回访时限为评价后{callback_zh}，整改时限为{rectify_zh}；"
                "回访以首次回访（或申请人重新评价）计，整改以结案计，期间之后完成的也计入；"
                "“未到期”为报告生成时尚未完成、也未到时限。",
                "A follow-up belongs to the business day of its rating; the applicant is to be "
                f"called back within {callback_en} and the cause put right within {rectify_en}; "
                "the callback counts from the first callback (or new rating), the rectification "
                "from the close, including those done after the period; pending means not done "
                "and not yet due when the report was made.",
            ),
            (
                "整改记录中的说明文字不列入报告。",
                "The notes written on follow-ups are not part of the report.",
            ),
        ]
        if not outcomes:
            notes.insert(0, ("期间没有差评。", "No poor ratings in the period."))
        return (
            Section(
                SECTION_ID,
                "差评整改",
                "Follow-ups",
                figures=figures,
                charts=charts,
                tables=tables,
                notes=tuple(notes),
            ),
        )

    def _row(self, o: FollowUpOutcome) -> Row:
        theme = next((t for t in self.config.themes if t.id == o.theme), None)
        window = next((w for w in self.config.windows if w.id == o.window), None)
        score_zh, score_en = RATING_WORDS.get(o.score, (str(o.score), str(o.score)))
        values: tuple[Value, ...] = (
            o.day,
            window.name_zh if window is not None else o.window,
            self._clerk(o.clerk),
            f"{score_zh} {score_en}",
            o.case_number,
            self._time(o.callback_due),
            self._time(o.called_back_at),
            _state(o.callback),
            self._time(o.rectify_due),
            self._time(o.closed_at),
            _state(o.rectification),
        )
        return Row(
            f"ticket:{o.ticket_id}",
            f"{o.number} {theme.name_zh if theme is not None else o.theme}",
            theme.name_en if theme is not None else o.theme,
            values,
        )

    def _clerk(self, account: str | None) -> str | None:
        if account is None:
            return None
        zh, _ = self.staff_names.get(account, (account, account))
        return zh if zh == account else f"{zh}（{account}）"

    def _time(self, at: float | None) -> str | None:
        return None if at is None else local_datetime(at, self.tz).strftime("%Y-%m-%d %H:%M")


def _text(key: str, zh: str, en: str) -> Metric:
    return Metric(key, zh, en, "text")


COLUMNS = (
    _text("day", "评价日", "Day rated"),
    _text("window", "窗口", "Window"),
    _text("clerk", "工作人员", "Clerk"),
    _text("score", "评价", "Rating"),
    _text("case_number", "办件编号", "Case number"),
    _text("callback_due", "回访时限", "Callback due"),
    _text("called_back_at", "回访时间", "Called back"),
    _text("callback_state", "回访", "Callback"),
    _text("rectify_due", "整改时限", "Rectify due"),
    _text("closed_at", "结案时间", "Closed"),
    _text("rectification_state", "整改", "Rectified"),
)


def _state(state: Deadline) -> str:
    zh, en = DEADLINE_WORDS[state]
    return f"{zh} {en}"


def _within(seconds: int) -> tuple[str, str]:
    """A deadline's length in words: whole days, else whole hours, else minutes."""
    if seconds % _DAY_S == 0:
        days = seconds // _DAY_S
        return f"{days}天", f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours}小时", f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes}分钟", f"{minutes} minute{'s' if minutes != 1 else ''}"


def followup_section(
    config: HallConfig,
    period: Period,
    records: Iterable[StoredEvent],
    *,
    at: float,
    staff_names: Mapping[str, tuple[str, str]] | None = None,
) -> FollowUpSection:
    """The follow-ups opened in `period`, as known at `at`, from the stored follow-up events
    of every day (events of other types are passed over). ReportError when they do not fold."""
    events: list[Event] = []
    for record in records:
        if record.type not in FOLLOWUP_EVENT_NAMES:
            continue
        try:
            events.append(event_from_data(record.type, record.at, record.actor, record.data))
        except (UnknownEventType, TypeError) as exc:
            raise ReportError(f"a {record.type} event this version cannot read ({exc})") from exc
    try:
        folded = FollowUps.replay(events)
    except KeyError as exc:
        raise ReportError(f"the follow-up events do not fold: no follow-up {exc}") from exc
    outcomes = folded.outcomes(period.first.isoformat(), period.last.isoformat(), at=at)
    return FollowUpSection(config, outcomes, staff_names=staff_names)
