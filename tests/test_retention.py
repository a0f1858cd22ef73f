"""Personal data retention: once a business day is over (or its retention has passed), its keyed
ID hashes, booking codes and request fingerprints are gone from every file of the event log,
while the audit trail still says who did what and the day still loads with its tickets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import structlog
from test_kiosks import resident_id

from hall_controller.app import EVENT_LOG_FILE, CityStream, open_hall, start_controller
from hall_controller.core.bookings import BookingRequest
from hall_controller.core.errors import InvalidCommand
from hall_controller.core.events import (
    PERSONAL_FIELDS,
    AppointmentBooked,
    CaseNumberRecorded,
    FollowUpCalledBack,
    PersonalDataPurged,
)
from hall_controller.notifications import Notice, NoticeDispatcher
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.retention import RetentionKeeper
from hall_controller.services import HallService
from hall_controller.settings import ConfigError, load_settings, validate_settings_text
from hall_controller.store import EventLog, NewEvent
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.mqtt import MqttLink

from conftest import demo_config_text
from core_fixtures import new_hall
from waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY1, DAY2, LATER = "2026-11-28", "2026-11-29", "2026-11-30"
LONG_AGO = "2025-06-02"  # a day over by the real clock too
FIELDS = {"TicketIssued": ["person_hash"], "TicketReserved": ["person_hash"]}
FIELDS["AppointmentBooked"] = ["code", "person_hash"]


def moment(day: str, hour: int, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a wall-clock time in the hall (Guangzhou)."""
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=SHANGHAI).timestamp()


class Clock:
    """The hall's clock, set by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stored_bytes(data_dir: Path) -> bytes:
    """Everything the event log has on disk: the database, its WAL and its shared memory."""
    db = data_dir / EVENT_LOG_FILE
    parts = [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def config(tmp_path: Path, *, personal_data: str = "end_of_day") -> Path:
    path = tmp_path / "hall.toml"
    path.write_text(demo_config_text(personal_data=personal_data), encoding="utf-8")
    return path


@dataclass
class Hall1:
    """A running hall (no web server) on a clock the test moves."""

    service: HallService
    log: EventLog
    clock: Clock
    data_dir: Path


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall1]:
    clock = Clock(moment(DAY1, 9))
    data_dir = tmp_path / "data"
    service, log = open_hall(load_settings(config(tmp_path)), data_dir, clock)
    log.start(asyncio.get_running_loop())
    try:
        yield Hall1(service, log, clock, data_dir)
    finally:
        await log.close()


@dataclass
class Day:
    """What a busy morning left that names people, and what must outlive the purge."""

    hashes: list[str]  # keyed hashes of today's applicants (walk-ins and a booking)
    later_hash: str  # the applicant booked for a later day
    fingerprint: str  # a keyed request's stored fingerprint


ID_NUMBERS = [resident_id(date(1950 + i, 3, 1 + i), serial=f"7{i}1") for i in range(5)]


async def busy_morning(hall: Hall1) -> Day:
    """Tickets by ID card at kiosks and through the API (one with an Idempotency-Key), a
    booking for today and one for a later day, a call and a service, and a snapshot."""
    service, clock = hall.service, hall.clock
    walk_in, printed, keyed, booked, later = ID_NUMBERS
    await service.window_action("1", "open", actor="staff:li")
    await service.issue_ticket(
        theme="social", priority=None, id_number=walk_in, channel="kiosk", actor="kiosk:k1"
    )
    clock.now += 60
    ticket = await service.reserve_ticket(
        theme="social",
        priority=None,
        applicant=service.applicant(printed),
        channel="kiosk",
        printer="k1-printer",
        actor="kiosk:k1",
    )
    await service.confirm_printed(ticket.id, actor="kiosk:k1")
    clock.now += 60
    await service.issue_ticket(
        theme="police",
        priority=None,
        id_number=keyed,
        channel="api",
        actor="system:wechat",
        key="wechat-0001",
    )
    requests = [
        BookingRequest(
            "social",
            moment(DAY1, 11),
            code="TODAY01",
            person_hash=service.person_hash_of(booked),
        ),
        BookingRequest(
            "social",
            moment(LATER, 10),
            code="LATER01",
            person_hash=service.person_hash_of(later),
        ),
    ]
    await service.book_appointments(requests, actor="booking-system")
    clock.now += 60
    await service.call("1", ticket=None, actor="staff:li")
    clock.now += 300
    await service.window_action("1", "finish", actor="staff:li")
    await service.issue_ticket(
        theme="pickup", priority=None, id_number=None, channel="kiosk", actor="kiosk:k2"
    )
    service.snapshot()
    await hall.log.flush()
    fingerprint = hall.log.replies_for_day(DAY1)["wechat-0001"].fingerprint
    return Day(
        hashes=[service.person_hash_of(n) for n in (walk_in, printed, keyed, booked)],
        later_hash=service.person_hash_of(later),
        fingerprint=fingerprint,
    )


def tickets_of(service: HallService) -> list[tuple[Any, ...]]:
    """Each ticket as the day's figures count it: number, theme, group, band, times, status."""
    keys = ("number", "theme", "priority", "age_band", "status", "issued_at", "finished_at")
    return [tuple(t[k] for k in keys) for t in service.tickets_view()]


async def audit_of(service: HallService, day: str) -> list[dict[str, Any]]:
    trail = await service.audit_view(day=day, ticket=None, after=0, limit=1000)
    events: list[dict[str, Any]] = trail["events"]
    return events


# ----------------------------------------------------------------- the day's end


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_at_the_end_of_the_day_no_hash_code_or_fingerprint_of_it_is_left_on_disk(
    hall: Hall1,
) -> None:
    keeper = RetentionKeeper(hall.service)
    await keeper.start()
    try:
        day = await busy_morning(hall)
        before = stored_bytes(hall.data_dir)
        # The test sees them while the day runs (else it could not tell they went).
        for secret in [*day.hashes, day.later_hash, day.fingerprint, "TODAY01", "LATER01"]:
            assert secret.encode() in before, secret
        trail = [(e["seq"], e["type"], e["actor"]) for e in await audit_of(hall.service, DAY1)]

        hall.clock.now = moment(DAY2, 3, 0, 5)  # just past the rollover at 03:00
        assert hall.service.current().day == DAY2  # the rollover wakes the keeper
        await eventually(
            lambda: not hall.log.days_to_purge(DAY2), "the day's personal data is purged"
        )
        await hall.log.flush()
        after = stored_bytes(hall.data_dir)
    finally:
        await keeper.close()

    for secret in [*day.hashes, day.fingerprint, "TODAY01"]:
        assert secret.encode() not in after, secret
    # A booking for a later day keeps who booked it until its own day is over.
    assert day.later_hash.encode() in after
    assert b"LATER01" in after
    assert [b["code"] for b in (await hall.service.appointments_view(LATER))["appointments"]] == [
        "LATER01"
    ]

    # The audit trail still has every action with its actor, and no identity.
    entries = await audit_of(hall.service, DAY1)
    assert [(e["seq"], e["type"], e["actor"]) for e in entries] == trail
    assert all(e["actor"] for e in entries)
    for entry in entries:
        assert entry["data"].get("person_hash") is None
        assert entry["data"].get("code") is None
    # ... and says what was purged, when and by whom, as an event of the new day.
    [record] = [e for e in await audit_of(hall.service, DAY2) if e["type"] == "PersonalDataPurged"]
    assert record["actor"] == "system:retention"
    assert record["data"]["fields"] == FIELDS
    # A walk-in and an API ticket, a kiosk reservation and its issue, today's booking.
    assert record["data"]["days"] == {DAY1: {"events": 5, "snapshots": 1, "replies": 1}}
    assert not any(h in str(record) for h in day.hashes)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_purged_day_loads_again_from_its_events_with_every_ticket(
    tmp_path: Path, hall: Hall1
) -> None:
    await busy_morning(hall)
    hall.clock.now = moment(DAY1, 16)
    tickets = tickets_of(hall.service)
    themes = [(t["id"], t["issued"]) for t in hall.service.themes_view()]
    served = [(w["id"], w["served"]) for w in hall.service.windows_view()]
    assert await hall.service.purge_personal_data(DAY2) == {}  # today is never purged
    hall.clock.now = moment(DAY2, 9)
    assert DAY1 in await hall.service.purge_personal_data(DAY2)
    await hall.log.close()

    # A clock stepped back to that day: it is rebuilt from its events (its snapshot is gone).
    settings = load_settings(tmp_path / "hall.toml")
    service, log = open_hall(settings, hall.data_dir, Clock(moment(DAY1, 16)))
    try:
        assert service.current().day == DAY1
        assert tickets_of(service) == tickets
        assert [(t["id"], t["issued"]) for t in service.themes_view()] == themes
        assert [(w["id"], w["served"]) for w in service.windows_view()] == served
        booking = (await service.appointments_view(DAY1))["appointments"][0]
        assert (booking["code"], booking["by_id_number"]) == (None, False)
    finally:
        await log.close()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_second_purge_finds_nothing_and_touches_nothing(hall: Hall1) -> None:
    await busy_morning(hall)
    hall.clock.now = moment(DAY2, 9)
    keeper = RetentionKeeper(hall.service)
    first = await keeper.check()
    assert first is not None
    assert list(first) == [DAY1]
    events = hall.log.events()
    assert await keeper.check() is None  # nothing newly due
    assert await hall.service.purge_personal_data(DAY2) == {}  # and nothing left to purge
    assert hall.log.events() == events
    assert [e.type for e in events].count("PersonalDataPurged") == 1


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_the_purge_log_line_names_days_and_counts_and_no_line_names_anyone(
    hall: Hall1,
) -> None:
    with structlog.testing.capture_logs() as captured:
        day = await busy_morning(hall)
        hall.clock.now = moment(DAY2, 9)
        await RetentionKeeper(hall.service).check()
    lines = [str(entry) for entry in captured]
    for secret in [*day.hashes, day.later_hash, day.fingerprint, *ID_NUMBERS]:
        assert not any(secret in line for line in lines), secret
    [purged] = [e for e in captured if e["event"] == "personal_data_purged"]
    assert purged["days"] == [DAY1]
    assert (purged["events"], purged["snapshots"], purged["replies"]) == (5, 1, 1)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_failed_purge_is_logged_loudly_the_hall_goes_on_and_the_next_check_retries(
    hall: Hall1,
) -> None:
    day = await busy_morning(hall)
    db = hall.data_dir / EVENT_LOG_FILE
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        seq, text = conn.execute(
            "SELECT seq, data FROM events WHERE type = 'TicketIssued' ORDER BY seq LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE events SET data = '{broken' WHERE seq = ?", (seq,))
    hall.clock.now = moment(DAY2, 9)
    keeper = RetentionKeeper(hall.service)
    with structlog.testing.capture_logs() as captured:
        assert await keeper.check() is None
    [failed] = [e for e in captured if e["event"] == "personal_data_purge_failed"]
    assert failed["log_level"] == "error"
    assert f"event {seq}" in failed["error"]
    # Nothing of it happened, and the hall works as before.
    assert day.hashes[1].encode() in stored_bytes(hall.data_dir)
    assert hall.service.failure is None
    reply = await hall.service.issue_ticket(
        theme="social", priority=None, id_number=None, channel="kiosk", actor="kiosk:k1"
    )
    assert reply.status == 201

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE events SET data = ? WHERE seq = ?", (text, seq))
    assert list(await keeper.check() or {}) == [DAY1]  # the next check does it
    await hall.log.flush()
    assert not any(h.encode() in stored_bytes(hall.data_dir) for h in day.hashes)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_data_that_reaches_a_purged_day_later_is_purged_at_the_next_check(
    hall: Hall1,
) -> None:
    await busy_morning(hall)
    hall.clock.now = moment(DAY2, 9)
    assert list(await hall.service.purge_personal_data(DAY2)) == [DAY1]
    # A clock stepped back over the rollover: a ticket by ID card lands on the purged day.
    hall.clock.now = moment(DAY1, 17)
    late = resident_id(date(1961, 6, 6), serial="555")
    await hall.service.issue_ticket(
        theme="police", priority=None, id_number=late, channel="kiosk", actor="kiosk:k1"
    )
    hall.clock.now = moment(DAY2, 9, 30)
    assert hall.log.days_to_purge(DAY2) == [DAY1]
    assert await hall.service.purge_personal_data(DAY2) == {
        DAY1: {"events": 1, "snapshots": 0, "replies": 0}
    }
    await hall.log.flush()
    assert hall.service.person_hash_of(late).encode() not in stored_bytes(hall.data_dir)


# ----------------------------------------------------------------- how long it is kept


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_by_default_a_day_s_data_goes_when_the_business_day_ends(hall: Hall1) -> None:
    day = await busy_morning(hall)
    keeper = RetentionKeeper(hall.service)
    hall.clock.now = moment(DAY2, 2, 59)  # after midnight, still the business day of DAY1
    assert keeper.due_before() == DAY1
    assert not await keeper.check()
    hall.clock.now = moment(DAY2, 3, 0, 1)
    assert keeper.due_before() == DAY2
    assert list(await keeper.check() or {}) == [DAY1]
    await hall.log.flush()
    assert day.hashes[0].encode() not in stored_bytes(hall.data_dir)


def test_retention_defaults_to_the_end_of_the_day_and_takes_a_time_after_it() -> None:
    base = demo_config_text()
    without = base.replace('[retention]\npersonal_data = "end_of_day"\n', "")
    assert without != base
    assert validate_settings_text(without, "hall.toml").retention.personal_data_s == 0
    for value, seconds in (("end_of_day", 0), ("7d", 7 * 86400), ("36h", 36 * 3600)):
        text = demo_config_text(personal_data=value)
        assert validate_settings_text(text, "hall.toml").retention.personal_data_s == seconds


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'personal_data = "end-of-day"',
            'retention.personal_data: expected "end_of_day" or a time after the day\'s end '
            'such as "7d" or "36h", got "end-of-day"; did you mean "end_of_day"?',
        ),
        ('personal_data = "7 days"', 'retention.personal_data: expected "end_of_day" or'),
        ('personal_data = "4000d"', "retention.personal_data: expected at most 3650 days"),
        ('personal = "7d"', 'retention.personal: unknown key; did you mean "personal_data"?'),
    ],
)
def test_a_wrong_retention_names_the_key_and_what_was_expected(line: str, message: str) -> None:
    text = demo_config_text().replace('personal_data = "end_of_day"', line)
    with pytest.raises(ConfigError) as raised:
        validate_settings_text(text, "hall.toml")
    assert f"hall.toml: {message}" in str(raised.value)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_kept_seven_days_a_day_s_data_goes_seven_days_after_the_day_ends(
    tmp_path: Path,
) -> None:
    settings = load_settings(config(tmp_path, personal_data="7d"))
    clock = Clock(moment(DAY1, 9))
    service, log = open_hall(settings, tmp_path / "data", clock)
    log.start(asyncio.get_running_loop())
    try:
        await service.issue_ticket(
            theme="social",
            priority=None,
            id_number=ID_NUMBERS[0],
            channel="kiosk",
            actor="kiosk:k1",
        )
        person = service.person_hash_of(ID_NUMBERS[0])
        keeper = RetentionKeeper(service, keep_s=settings.retention.personal_data_s)
        for now in (moment(DAY2, 9), moment("2026-12-06", 2, 59)):  # DAY1 ended 11-29 03:00
            clock.now = now
            assert await keeper.check() in (None, {})
            await log.flush()
            assert person.encode() in stored_bytes(tmp_path / "data")
        clock.now = moment("2026-12-06", 3, 0, 1)
        assert list(await keeper.check() or {}) == [DAY1]
        await log.flush()
        assert person.encode() not in stored_bytes(tmp_path / "data")
    finally:
        await log.close()


# ----------------------------------------------------------------- start, crash, by hand


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_day_that_ended_while_the_controller_was_down_is_purged_at_start(
    tmp_path: Path, hall: Hall1
) -> None:
    day = await busy_morning(hall)
    await hall.log.close()
    settings = load_settings(tmp_path / "hall.toml")
    clock = Clock(moment("2026-12-01", 8))  # days later
    controller = await start_controller(
        settings, hall.data_dir, host="127.0.0.1", port=0, clock=clock
    )
    try:
        await eventually(
            lambda: not controller.event_log.days_to_purge("2026-12-01"), "the start's purge"
        )
        trail = await audit_of(controller.service, "2026-12-01")
        [record] = [e for e in trail if e["type"] == "PersonalDataPurged"]
        # The booking made on DAY1 for LATER is an event of LATER, which is over too.
        assert list(record["data"]["days"]) == [DAY1, LATER]
    finally:
        await controller.close()
    blob = stored_bytes(hall.data_dir)
    assert not any(h.encode() in blob for h in [*day.hashes, day.later_hash])


_KILLED_MID_PURGE = textwrap.dedent(
    """
    import sys, time
    from hall_controller.store import EventLog

    def before_commit(size: int) -> None:
        if size == 0:  # the purge's transaction, written and not committed
            print("purging", flush=True)
            time.sleep(60)

    log = EventLog.open(sys.argv[1], _before_commit=before_commit)
    log.purge_now(sys.argv[2], {"TicketIssued": ["person_hash"]})
    """
)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_kill_in_the_middle_of_a_purge_leaves_the_day_whole_and_a_rerun_completes_it(
    hall: Hall1,
) -> None:
    day = await busy_morning(hall)
    await hall.log.close()
    db = hall.data_dir / EVENT_LOG_FILE
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_MID_PURGE,
        str(db),
        DAY2,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        assert child.stdout is not None
        lines: list[bytes] = []  # its log lines, then the word that its transaction is written
        while not lines or lines[-1] not in (b"purging\n", b""):
            lines.append(await asyncio.wait_for(child.stdout.readline(), 30))
        assert lines[-1] == b"purging\n", lines
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT data FROM events WHERE type = 'TicketIssued'").fetchall()
        marks = conn.execute("SELECT key FROM meta WHERE key LIKE 'purged:%'").fetchall()
    # Nothing of the purge happened: every hash is where it was, no day is marked purged.
    assert sum(day.hashes[0] in text or day.hashes[2] in text for (text,) in rows) == 2
    assert marks == []

    log = EventLog.open(db)
    try:
        assert log.days_to_purge(DAY2) == [DAY1]
        outcome = log.purge_now(DAY2, PERSONAL_FIELDS)
        assert [d.day for d in outcome.days] == [DAY1]
        assert log.days_to_purge(DAY2) == []
    finally:
        await log.close()
    assert not any(h.encode() in stored_bytes(hall.data_dir) for h in day.hashes)


def test_purge_by_hand_refuses_a_running_controller_and_purges_a_stopped_one(
    tmp_path: Path,
) -> None:
    path = config(tmp_path)
    data_dir = tmp_path / "data"
    clock = Clock(moment(LONG_AGO, 9))  # the command itself runs on the real clock

    async def one_ticket() -> str:
        service, log = open_hall(load_settings(path), data_dir, clock)
        log.start(asyncio.get_running_loop())
        try:
            await service.issue_ticket(
                theme="social",
                priority=None,
                id_number=ID_NUMBERS[0],
                channel="kiosk",
                actor="kiosk:k1",
            )
            return service.person_hash_of(ID_NUMBERS[0])
        finally:
            await log.close()

    person = asyncio.run(one_ticket())
    args = ["purge", "--config", str(path), "--data-dir", str(data_dir)]
    running = EventLog.open(data_dir / EVENT_LOG_FILE)  # a controller holds the log
    try:
        refused = hall_controller(*args)
    finally:
        asyncio.run(running.close())
    assert refused.returncode == 1
    assert "the controller is running" in refused.stderr
    dry = hall_controller(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would purge personal data of 1 day(s)" in dry.stdout
    assert f"{LONG_AGO}: 1 events, 0 snapshots, 0 stored replies" in dry.stdout
    assert person.encode() in stored_bytes(data_dir)
    done = hall_controller(*args)
    assert done.returncode == 0, done.stderr
    assert f"{LONG_AGO}: 1 events" in done.stdout
    assert person.encode() not in stored_bytes(data_dir)
    again = hall_controller(*args)
    assert "nothing to purge" in again.stdout


def hall_controller(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


# ----------------------------------------------------------------- what else holds people


class Silent:
    """A gateway that takes every notice and delivers none."""

    async def send(self, message: Notice) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_notice_contact_is_forgotten_when_its_ticket_ends_and_when_its_day_ends(
    hall: Hall1,
) -> None:
    service = hall.service
    notices = NoticeDispatcher(
        service, Silent(), backoff=lambda: Backoff(initial_s=0.01, cap_s=0.05)
    )
    await notices.start()
    try:
        await service.window_action("1", "open", actor="staff:li")
        served = await service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="wechat", actor="system:wechat"
        )
        waiting = await service.issue_ticket(
            theme="social", priority=None, id_number=None, channel="wechat", actor="system:wechat"
        )
        notices.register(served.body["id"], "oWx-synthetic-openid-0101")
        notices.register(waiting.body["id"], "oWx-synthetic-openid-0102")
        assert notices.following() == 2
        await service.call("1", ticket=None, actor="staff:li")
        await service.window_action("1", "finish", actor="staff:li")
        await eventually(lambda: notices.following() == 1, "the served ticket's contact goes")
        hall.clock.now = moment(DAY2, 3, 0, 1)
        service.current()  # the day is over, with nothing else happening in the hall
        assert notices.following() == 0
    finally:
        await notices.close()


def test_a_purge_record_names_only_days_that_are_over() -> None:
    hall = new_hall()
    record = PersonalDataPurged(
        at=0.0,
        actor="system:retention",
        days={hall.day: {"events": 1, "snapshots": 0, "replies": 0}},
        fields=FIELDS,
    )
    with pytest.raises(InvalidCommand):
        hall.record_purge(record)
    assert hall.version == 0


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_the_store_purges_only_the_named_fields_and_queues_behind_earlier_appends(
    tmp_path: Path,
) -> None:
    log = EventLog.open(tmp_path / "events.sqlite3")
    log.start(asyncio.get_running_loop())
    try:
        old = {"person_hash": "h" * 64, "age_band": "60-69", "ticket_id": "t1"}
        log.append("2026-01-01", [NewEvent("TicketIssued", 1.0, "kiosk:k1", old)])
        log.append("2026-01-01", [NewEvent("Other", 2.0, "x", {"person_hash": "kept"})])
        # Queued before the purge: purged with it, though not durable when it was asked for.
        log.append("2026-01-02", [NewEvent("TicketIssued", 3.0, "kiosk:k1", dict(old))])

        def record(days: Any) -> NewEvent:
            return NewEvent("Purged", 4.0, "system:retention", {"days": [d.day for d in days]})

        outcome = await log.purge(
            "2026-01-03", {"TicketIssued": ["person_hash"]}, record=record, record_day="2026-01-03"
        )
        assert [d.day for d in outcome.days] == ["2026-01-01", "2026-01-02"]
        assert outcome.record is not None
        assert (outcome.record.seq, outcome.record.day) == (4, "2026-01-03")
        stored = [(e.type, e.data) for e in log.events()]
        assert stored == [
            ("TicketIssued", {"age_band": "60-69", "ticket_id": "t1"}),
            ("Other", {"person_hash": "kept"}),
            ("TicketIssued", {"age_band": "60-69", "ticket_id": "t1"}),
            ("Purged", {"days": ["2026-01-01", "2026-01-02"]}),
        ]
        # The next append follows the purge's record.
        assert log.append("2026-01-03", [NewEvent("Other", 5.0, "x", {})]).seqs == (5,)
        await log.flush()
    finally:
        await log.close()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_the_city_stream_carries_no_person_hash_and_no_booking_code() -> None:
    sent: list[dict[str, Any]] = []

    class Link:
        def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
            sent.append(json.loads(payload))

    stream = CityStream(cast(MqttLink, Link()), Topics("demo"), "demo")
    booked = AppointmentBooked(
        at=1.0,
        actor="booking-system",
        booking_id="20261128-bk001",
        theme="social",
        slot_at=2.0,
        code="TODAY01",
        person_hash="5" * 64,
        priority="elderly",
    )
    stream.add(new_hall(), [booked])
    await stream.close()
    [message] = sent
    [event] = message["events"]
    assert event["type"] == "AppointmentBooked"
    assert event["data"]["priority"] == "elderly"
    assert "TODAY01" not in json.dumps(message)
    assert "5" * 64 not in json.dumps(message)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_the_city_stream_carries_no_follow_up_notes_and_no_case_numbers() -> None:
    sent: list[dict[str, Any]] = []

    class Link:
        def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
            sent.append(json.loads(payload))

    stream = CityStream(cast(MqttLink, Link()), Topics("demo"), "demo")
    called_back = FollowUpCalledBack(
        at=1.0, actor="manager:wang.li", followup="20261128-A001", note="王先生说等了很久"
    )
    recorded = CaseNumberRecorded(
        at=2.0,
        actor="staff:zhang.min",
        ticket_id="20261128-A001",
        window="1",
        case_number="44030020261128000123",
    )
    stream.add(new_hall(), [called_back, recorded])
    await stream.close()
    [message] = sent
    assert [e["type"] for e in message["events"]] == ["FollowUpCalledBack", "CaseNumberRecorded"]
    assert message["events"][0]["data"]["followup"] == "20261128-A001"
    assert "王先生" not in json.dumps(message, ensure_ascii=False)
    assert "44030020261128000123" not in json.dumps(message)
