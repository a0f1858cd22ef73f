"""A small HallConfig builder and state helpers shared by the core tests.

The default hall has three themes and three windows:

- theme ``A`` (社会民生类, prefix A): max wait 25 min, default service 5 min;
- theme ``B`` (注册登记类, prefix B): max wait 25 min, default service 5 min;
- theme ``C`` (查询发证类, result pick-up, prefix C): max wait 15 min, default service 2 min;
- window ``g1`` serves A then B, window ``g2`` serves B then A, window ``pickup`` serves C.

Times are hall-local (Asia/Shanghai) on DAY; `local(9)` is 09:00 in the hall.

Test modules import it as `from core_fixtures import ...`: tests/ has no __init__.py, so pytest
(default "prepend" import mode) puts tests/ itself on sys.path, and mypy names this file
`core_fixtures` too. Should tests/ become a package (an __init__.py), switch the imports to
`from tests.core_fixtures import ...`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hall_controller.core.errors import DomainError
from hall_controller.core.events import (
    Event,
    TicketCalled,
    TicketIssued,
    event_data,
    event_from_data,
)
from hall_controller.core.hall import Hall
from hall_controller.core.model import (
    HallConfig,
    OpeningPeriod,
    Policy,
    PriorityGroup,
    Theme,
    Window,
)
from hall_controller.core.policy import Rule

TZ = ZoneInfo("Asia/Shanghai")
DAY = "2024-03-04"  # a Monday
ACTOR = "test"

PRIORITY_GROUPS: tuple[PriorityGroup, ...] = (
    PriorityGroup("elderly", "老年人", "Elderly", min_age=60),
    PriorityGroup("disabled", "残疾人", "Disabled"),
    PriorityGroup("pregnant", "孕妇", "Pregnant"),
)

ALL_DAY = (OpeningPeriod(time(0, 0), time(23, 59, 59)),)
OFFICE_HOURS = (
    OpeningPeriod(time(8, 30), time(12, 0)),
    OpeningPeriod(time(14, 0), time(17, 30)),
)


def local(hour: int, minute: int = 0, second: float = 0.0) -> float:
    """The epoch instant of this hall-local wall-clock time on DAY."""
    whole = int(second)
    moment = datetime.fromisoformat(DAY).replace(hour=hour, minute=minute, second=whole, tzinfo=TZ)
    return moment.timestamp() + (second - whole)


T0 = local(9)


def theme(
    theme_id: str,
    prefix: str | None = None,
    *,
    max_wait_s: int = 1500,
    default_service_s: int = 300,
    daily_cap: int | None = None,
    hours: tuple[OpeningPeriod, ...] = ALL_DAY,
) -> Theme:
    """A theme with sensible defaults; the prefix defaults to the id."""
    return Theme(
        id=theme_id,
        name_zh=f"主题{theme_id}",
        name_en=f"Theme {theme_id}",
        prefix=prefix if prefix is not None else theme_id,
        hours=hours,
        daily_cap=daily_cap,
        max_wait_s=max_wait_s,
        default_service_s=default_service_s,
    )


def window(window_id: str, *themes: str) -> Window:
    """A window serving these themes, most preferred first."""
    return Window(id=window_id, name_zh=f"{window_id}号窗口", name_en=window_id, themes=themes)


DEFAULT_THEMES: tuple[Theme, ...] = (
    theme("A"),
    theme("B"),
    theme("C", max_wait_s=900, default_service_s=120),
)
DEFAULT_WINDOWS: tuple[Window, ...] = (
    window("g1", "A", "B"),
    window("g2", "B", "A"),
    window("pickup", "C"),
)


def make_config(
    themes: Sequence[Theme] = DEFAULT_THEMES,
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    *,
    policy: Policy | None = None,
    enforce_opening_hours: bool = False,
    one_active_ticket_per_person: bool = True,
) -> HallConfig:
    """A hall config; opening hours are not enforced unless asked."""
    return HallConfig(
        id="test-hall",
        name_zh="测试政务服务中心",
        name_en="Test Service Hall",
        timezone="Asia/Shanghai",
        day_rollover=time(3, 0),
        themes=tuple(themes),
        windows=tuple(windows),
        priority_groups=PRIORITY_GROUPS,
        policy=policy if policy is not None else Policy(),
        enforce_opening_hours=enforce_opening_hours,
        one_active_ticket_per_person=one_active_ticket_per_person,
    )


def new_hall(config: HallConfig | None = None) -> Hall:
    """A fresh day of the hall (every window closed)."""
    return Hall.new_day(config if config is not None else make_config(), DAY, TZ)


def issue(
    hall: Hall,
    theme_id: str,
    at: float,
    priority: str | None = None,
    **extra: Any,
) -> str:
    """Issue a ticket and return its id."""
    events = hall.issue(
        theme=theme_id, priority=priority, channel="kiosk", at=at, actor=ACTOR, **extra
    )
    issued = events[0]
    assert isinstance(issued, TicketIssued)
    return issued.ticket_id


def open_windows(hall: Hall, *window_ids: str, at: float = T0 - 600) -> None:
    """Open these windows (all of the hall's when none are named)."""
    for window_id in window_ids or tuple(hall.windows):
        hall.open_window(window_id, at=at, actor=ACTOR)


def called_id(events: Sequence[Event]) -> str:
    """The ticket id of the (last) TicketCalled event among these."""
    for event in reversed(events):
        if isinstance(event, TicketCalled):
            return event.ticket_id
    raise AssertionError(f"no TicketCalled in {events!r}")


def check_called(call: TicketCalled, hall: Hall | None = None) -> None:
    """A call's explanation holds: a known rule, candidates that include the chosen ticket, and
    score parts that add up (aging + head start + preference = score)."""
    assert call.rule in {r.value for r in Rule}, call.rule
    assert call.candidates, "a call must record what it weighed"
    assert call.ticket_id in {c.ticket_id for c in call.candidates}, (
        f"the chosen ticket {call.ticket_id} is not among the recorded candidates "
        f"{[c.ticket_id for c in call.candidates]} (rule {call.rule})"
    )
    for c in call.candidates:
        assert c.aging + c.head_start + c.preference == pytest.approx(c.score, abs=0.002)
        if c.priority is None:
            assert c.head_start == 0
        if hall is not None:
            if c.priority is not None:
                assert c.head_start == hall.policy.priority_head_start_s
            arrival = hall.tickets[c.ticket_id].arrival_at
            assert c.waited_s == pytest.approx(call.at - arrival, abs=0.001)
            assert c.aging == pytest.approx(c.waited_s * hall.policy.aging_rate, abs=0.002)


def state(hall: Hall) -> dict[str, Any]:
    """Everything the day's state holds, as plain comparable values."""
    return {
        "tickets": {k: dataclasses.asdict(v) for k, v in hall.tickets.items()},
        "windows": {k: dataclasses.asdict(v) for k, v in hall.windows.items()},
        "book": dataclasses.asdict(hall.book),
        "serials": dict(hall.serials),
        "service": {k: dataclasses.asdict(v) for k, v in hall.service.items()},
        "active_people": dict(hall.active_people),
        "version": hall.version,
    }


def assert_refused(
    hall: Hall, error: type[DomainError], command: Callable[[], object]
) -> DomainError:
    """Run a command that must be refused and check that it changed nothing."""
    before = state(hall)
    try:
        command()
    except error as exc:
        assert state(hall) == before, "a refused command changed the hall"
        return exc
    raise AssertionError(f"expected {error.__name__}, the command was carried out")


def round_trip(event: Event, *, through_json: bool = True) -> Event:
    """The event as the log stores it and reads it back."""
    data = event_data(event)
    if through_json:
        data = json.loads(json.dumps(data, ensure_ascii=False))
    return event_from_data(event.type_name, event.at, event.actor, data)


def replay(config: HallConfig, events: Iterable[Event], *, through_json: bool = True) -> Hall:
    """A fresh day rebuilt from these events, each stored and read back first."""
    hall = new_hall(config)
    for event in events:
        hall.apply(round_trip(event, through_json=through_json))
    return hall
