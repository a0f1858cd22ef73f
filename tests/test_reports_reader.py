"""Reading the event log for a report while the controller's EventLog holds its lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hall_controller.store import (
    EventLog,
    NewEvent,
    StoreCorruptError,
    StoreOpenError,
    read_days,
    read_events_of_types,
)

DAY = "2026-11-28"
NEXT = "2026-11-29"


def event(n: int) -> NewEvent:
    return NewEvent(type="TicketIssued", at=1_795_831_200.0 + n, actor="kiosk:k1", data={"n": n})


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    opened = EventLog.open(tmp_path / "events.sqlite3")
    opened.start(asyncio.get_running_loop())
    yield opened
    await opened.close()


async def test_days_are_read_while_the_writer_holds_the_lock(log: EventLog) -> None:
    await log.append(DAY, [event(1), event(2)]).durable
    await log.append(NEXT, [event(3)]).durable
    await log.append(DAY, [event(4)]).durable
    with pytest.raises(StoreOpenError, match="already open elsewhere"):
        EventLog.open(log.path)  # the lock is held: a second writer is refused...

    # ... and a reader is not.
    days = await asyncio.to_thread(lambda: list(read_days(log.path, [DAY, NEXT, "2026-11-30"])))
    assert [(day, [r.data["n"] for r in records]) for day, records in days] == [
        (DAY, [1, 2, 4]),
        (NEXT, [3]),
        ("2026-11-30", []),
    ]
    assert days[0][1][0].type == "TicketIssued"
    assert days[0][1][0].actor == "kiosk:k1"

    # What is committed after the reader opened is seen by the days it reads later.
    def read_while_writing() -> list[int]:
        reading = read_days(log.path, [DAY, NEXT])
        first = next(reading)
        future = asyncio.run_coroutine_threadsafe(append_next(), loop)
        future.result(timeout=10)
        second = next(reading)
        reading.close()
        return [len(first[1]), len(second[1])]

    async def append_next() -> None:
        await log.append(NEXT, [event(5)]).durable

    loop = asyncio.get_running_loop()
    assert await asyncio.to_thread(read_while_writing) == [3, 2]


def test_a_missing_log_is_refused_at_once_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "none" / "events.sqlite3"
    with pytest.raises(StoreOpenError, match="no event log at"):
        read_days(path, [DAY])
    assert not path.parent.exists()


def test_a_file_that_is_not_an_event_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things(x)")
    conn.close()
    with pytest.raises(StoreOpenError, match="is not a hall event log"):
        read_days(path, [DAY])


async def test_an_undecodable_row_is_reported_as_corrupt(log: EventLog) -> None:
    await log.append(DAY, [event(1)]).durable
    with sqlite3.connect(log.path) as conn:
        conn.execute("UPDATE events SET data = '{broken' WHERE day = ?", (DAY,))
    conn.close()
    with pytest.raises(StoreCorruptError, match="undecodable JSON"):
        await asyncio.to_thread(lambda: list(read_days(log.path, [DAY])))


async def test_events_of_some_types_are_read_from_every_day_beside_the_writer(
    log: EventLog,
) -> None:
    def kind(type_: str, n: int) -> NewEvent:
        return NewEvent(type=type_, at=1_795_831_200.0 + n, actor="manager:wang", data={"n": n})

    await log.append(DAY, [event(1), kind("FollowUpOpened", 2)]).durable
    await log.append(NEXT, [kind("FollowUpCalledBack", 3), event(4)]).durable
    await log.append("2026-12-10", [kind("FollowUpRectified", 5)]).durable
    wanted = {"FollowUpOpened", "FollowUpCalledBack", "FollowUpRectified"}
    found = await asyncio.to_thread(read_events_of_types, log.path, wanted)
    assert [(r.day, r.type, r.data["n"]) for r in found] == [
        (DAY, "FollowUpOpened", 2),
        (NEXT, "FollowUpCalledBack", 3),
        ("2026-12-10", "FollowUpRectified", 5),
    ]
    assert found[0].actor == "manager:wang"
    assert await asyncio.to_thread(read_events_of_types, log.path, ()) == []


def test_reading_events_by_type_from_a_missing_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "none" / "events.sqlite3"
    with pytest.raises(StoreOpenError, match="no event log at"):
        read_events_of_types(path, {"FollowUpOpened"})
    assert not path.parent.exists()
