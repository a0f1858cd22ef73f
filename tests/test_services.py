"""The service layer's write path: durability before the reply, even for callers that left."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hall_controller import services
from hall_controller.app import open_hall
from hall_controller.services import HallService
from hall_controller.settings import load_settings
from hall_controller.store import EventLog

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou


@pytest.fixture
async def hall(
    demo_config_path: Path, tmp_path: Path
) -> AsyncIterator[tuple[HallService, EventLog]]:
    service, event_log = open_hall(load_settings(demo_config_path), tmp_path / "data", lambda: T0)
    event_log.start(asyncio.get_running_loop())
    try:
        yield service, event_log
    finally:
        await event_log.close()


async def test_a_cancelled_request_still_answers_its_retry(
    hall: tuple[HallService, EventLog],
) -> None:
    """A client that hung up mid-write: its retry with the same key gets the one ticket."""
    service, event_log = hall
    first = asyncio.create_task(
        service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="kiosk", actor="t", key="k1"
        )
    )
    await asyncio.sleep(0)  # appended, not yet durable
    assert not first.done()
    retry = asyncio.create_task(
        service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="kiosk", actor="t", key="k1"
        )
    )
    first.cancel()
    reply = await asyncio.wait_for(retry, 5)  # before, the retry waited forever
    assert reply.status == 201
    assert reply.body["number"] == "A001"
    with pytest.raises(asyncio.CancelledError):
        await first
    again = await service.issue_ticket(
        theme="social", priority=None, id_number=None, channel="kiosk", actor="t", key="k1"
    )
    assert again == reply
    assert [t.number for t in service.current().tickets.values()] == ["A001"]
    await event_log.flush()
    assert [e.type for e in event_log.events()] == ["TicketIssued"]
    assert event_log.replies_for_day("2026-11-28")["k1"].body == reply.body


async def test_a_reply_comes_only_once_the_events_are_on_disk(
    hall: tuple[HallService, EventLog],
) -> None:
    service, event_log = hall
    reply = await service.issue_ticket(
        theme="police", priority="elderly", id_number=None, channel="kiosk", actor="t"
    )
    # Read through the log's own reader: the committed rows, not the in-memory state.
    stored = event_log.events()
    assert [(e.type, e.data["number"]) for e in stored] == [("TicketIssued", reply.body["number"])]


class Cycle:
    """An object that refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


async def test_the_day_s_objects_are_frozen_as_it_goes_and_thawed_at_rollover(
    demo_config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full collections must not rescan the day's tickets (long loop pauses on a busy day);
    the next day lets yesterday's go."""
    monkeypatch.setattr(services, "FREEZE_EVERY", 5)
    now = [T0]
    service, event_log = open_hall(
        load_settings(demo_config_path), tmp_path / "data", lambda: now[0]
    )
    event_log.start(asyncio.get_running_loop())
    gc.unfreeze()
    try:
        cycle = Cycle()  # something of the day's that will die inside a reference cycle
        gone = weakref.ref(cycle)
        for _ in range(4):
            await service.issue_ticket(
                theme="social", priority=None, id_number=None, channel="kiosk", actor="t"
            )
        assert gc.get_freeze_count() == 0
        await service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="kiosk", actor="t"
        )
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert gone() is not None  # frozen: not even a full collection looks at it

        now[0] = T0 + 86_400
        assert service.current().day == "2026-11-29"
        assert gc.get_freeze_count() == 0
        assert gone() is None  # yesterday's garbage was collected at the rollover
    finally:
        gc.unfreeze()
        await event_log.close()


async def test_a_due_snapshot_waits_for_a_lull_and_is_taken_in_it(
    demo_config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot stops the hall for milliseconds: not in a rush of commands, but right after."""
    monkeypatch.setattr(services, "SNAPSHOT_QUIET_S", 0.3)
    settings = load_settings(demo_config_path)
    settings = dataclasses.replace(
        settings, store=dataclasses.replace(settings.store, snapshot_every=5)
    )
    service, event_log = open_hall(settings, tmp_path / "data", lambda: T0)
    event_log.start(asyncio.get_running_loop())
    try:
        for _ in range(6):  # back to back: due after the fifth, but no quiet gap yet
            await service.issue_ticket(
                theme="social", priority=None, id_number=None, channel="kiosk", actor="t"
            )
        await event_log.flush()
        snapshot, _ = await asyncio.to_thread(event_log.load_day, "2026-11-28")
        assert snapshot is None

        await asyncio.sleep(0.6)  # the lull
        await event_log.flush()
        snapshot, replay = await asyncio.to_thread(event_log.load_day, "2026-11-28")
        assert snapshot is not None
        assert snapshot.seq == event_log.last_seq == 6
        assert replay == []
    finally:
        await event_log.close()
