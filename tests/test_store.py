"""The durable event log: durability, group commit, fail-stop, snapshots, replies, crash safety."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hall_controller.store import (
    EventLog,
    EventRecord,
    NewEvent,
    Snapshot,
    StoreClosedError,
    StoreCorruptError,
    StoredReply,
    StoreFailedError,
    StoreOpenError,
    StoreWriteError,
)

ROOT = Path(__file__).resolve().parents[1]
DAY = "2024-05-06"
OTHER_DAY = "2024-05-07"


def event(n: int, *, actor: str = "自助机-1", type_: str = "ticket.issued") -> NewEvent:
    return NewEvent(
        type=type_,
        at=1_714_960_800.0 + n,
        actor=actor,
        data={"ticket": f"A{n:03d}", "申请人": "张三", "事项": "社保卡补办", "n": n},
    )


def raw_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def raw_execute(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, params)


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "event-log-writer"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hall" / "events.sqlite3"


@pytest.fixture
async def log(db_path: Path) -> AsyncIterator[EventLog]:
    opened = EventLog.open(db_path)
    opened.start(asyncio.get_running_loop())
    yield opened
    await opened.close()


async def reopen(log: EventLog) -> EventLog:
    await log.close()
    again = EventLog.open(log.path)
    again.start(asyncio.get_running_loop())
    return again


async def test_appended_events_survive_close_and_reopen(log: EventLog) -> None:
    first = log.append(DAY, [event(1), event(2, actor="窗口-3")])
    second = log.append(OTHER_DAY, [event(3, type_="ticket.called")])
    assert first.seqs == (1, 2)
    assert second.seqs == (3,)
    await asyncio.gather(first.durable, second.durable)

    log = await reopen(log)
    try:
        assert log.events() == [
            EventRecord(1, DAY, 1_714_960_801.0, "ticket.issued", "自助机-1", dict(event(1).data)),
            EventRecord(2, DAY, 1_714_960_802.0, "ticket.issued", "窗口-3", dict(event(2).data)),
            EventRecord(
                3, OTHER_DAY, 1_714_960_803.0, "ticket.called", "自助机-1", dict(event(3).data)
            ),
        ]
        stored = raw_rows(log.path, "SELECT data FROM events WHERE seq = 1")[0][0]
        assert stored == '{"ticket":"A001","申请人":"张三","事项":"社保卡补办","n":1}'
        assert [e.seq for e in log.events(day=DAY)] == [1, 2]
        assert [e.seq for e in log.events(after_seq=1, limit=1)] == [2]
    finally:
        await log.close()


async def test_seqs_continue_after_reopen(log: EventLog) -> None:
    await log.append(DAY, [event(1), event(2), event(3)]).durable
    log = await reopen(log)
    try:
        assert log.last_seq == 3
        commit = log.append(DAY, [event(4)])
        assert commit.seqs == (4,)
        await commit.durable
        assert [e.seq for e in log.events()] == [1, 2, 3, 4]
    finally:
        await log.close()


async def test_concurrent_appends_share_one_commit(db_path: Path) -> None:
    batch_sizes: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def before_commit(size: int) -> None:
        batch_sizes.append(size)
        if len(batch_sizes) == 1:
            entered.set()
            release.wait(10)

    log = EventLog.open(db_path, _before_commit=before_commit)
    log.start(asyncio.get_running_loop())
    try:
        first = log.append(DAY, [event(0)])
        assert await asyncio.to_thread(entered.wait, 10)

        async def append_one(n: int) -> int:
            commit = log.append(DAY, [event(n)])
            await commit.durable
            return commit.seqs[0]

        tasks = [asyncio.create_task(append_one(n)) for n in range(1, 201)]
        await asyncio.sleep(0)  # every task has appended and now awaits its future
        release.set()
        seqs = await asyncio.gather(*tasks)
        await first.durable

        assert sorted(seqs) == list(range(2, 202))
        assert batch_sizes == [1, 200]
        assert log.stats.batches == 2
        assert log.stats.appends == 201
        assert log.stats.largest_batch == 200
        assert log.stats.durable_seq == 201
    finally:
        await log.close()


async def test_burst_without_seam_is_grouped(log: EventLog) -> None:
    commits = [log.append(DAY, [event(n)]) for n in range(500)]
    await asyncio.gather(*(c.durable for c in commits))
    assert log.stats.appends == 500
    assert log.stats.batches < 500


async def test_durable_future_resolves_only_after_commit(log: EventLog) -> None:
    visible: list[bool] = []

    def check(seq: int) -> Callable[[asyncio.Future[None]], None]:
        def on_done(_: asyncio.Future[None]) -> None:
            # A separate connection sees only committed data.
            rows = raw_rows(log.path, "SELECT seq FROM events WHERE seq = ?", (seq,))
            visible.append(rows == [(seq,)])

        return on_done

    commits = [log.append(DAY, [event(n)]) for n in range(50)]
    for commit in commits:
        commit.durable.add_done_callback(check(commit.seqs[0]))
    await log.flush()
    await asyncio.sleep(0)  # let the done callbacks run
    assert visible == [True] * 50


async def test_cancelled_awaiter_does_not_undo_the_write(log: EventLog) -> None:
    commit = log.append(DAY, [event(1)])
    waiter = asyncio.create_task(asyncio.wait_for(commit.durable, timeout=0))
    with pytest.raises(TimeoutError):
        await waiter
    await log.flush()
    assert [e.seq for e in log.events()] == [1]


async def test_reply_is_committed_with_its_events(log: EventLog) -> None:
    reply = StoredReply("idem-1", DAY, "sha256:abc", 201, {"ticket": "A001", "提示": "请等候叫号"})
    commit = log.append(DAY, [event(1), event(2)], reply=reply)
    rows_at_resolution: list[list[tuple[Any, ...]]] = []
    commit.durable.add_done_callback(
        lambda _: rows_at_resolution.append(
            raw_rows(
                log.path,
                "SELECT r.key, r.seq, (SELECT COUNT(*) FROM events) FROM replies r",
            )
        )
    )
    await commit.durable
    await asyncio.sleep(0)
    assert rows_at_resolution == [[("idem-1", 2, 2)]]
    assert log.replies_for_day(DAY) == {"idem-1": reply}
    assert log.replies_for_day(OTHER_DAY) == {}

    refusal = StoredReply("idem-2", DAY, "sha256:def", 409, None)
    await log.append(DAY, [], reply=refusal).durable
    assert log.replies_for_day(DAY)["idem-2"] == refusal


async def test_reply_day_must_match(log: EventLog) -> None:
    with pytest.raises(ValueError, match="reply day"):
        log.append(DAY, [event(1)], reply=StoredReply("k", OTHER_DAY, "f", 200, None))
    assert log.last_seq == 0


async def test_load_day_returns_latest_snapshot_and_later_events(log: EventLog) -> None:
    log.append(DAY, [event(1), event(2)])
    log.append(OTHER_DAY, [event(3)])
    log.append(DAY, [event(4)])
    log.append_snapshot(Snapshot(DAY, 1, 10.0, {"waiting": ["A001"]}))
    log.append_snapshot(Snapshot(DAY, 2, 11.0, {"waiting": ["A001", "A002"]}))
    log.append_snapshot(Snapshot(DAY, 4, 12.0, {"waiting": ["A001", "A002", "A004"], "名": "一窗"}))
    log.append(DAY, [event(5)])
    log.append(OTHER_DAY, [event(6)])
    log.append_snapshot(Snapshot(OTHER_DAY, 3, 13.0, {"waiting": ["A003"]}))
    await log.flush()

    snapshot, events = log.load_day(DAY)
    assert snapshot == Snapshot(DAY, 4, 12.0, {"waiting": ["A001", "A002", "A004"], "名": "一窗"})
    assert [e.seq for e in events] == [5]
    snapshot, events = log.load_day(OTHER_DAY)
    assert snapshot is not None
    assert snapshot.seq == 3
    assert [e.seq for e in events] == [6]
    assert raw_rows(log.path, "SELECT day, seq FROM snapshots ORDER BY day, seq") == [
        (DAY, 2),
        (DAY, 4),
        (OTHER_DAY, 3),
    ]
    assert log.load_day("2024-05-08") == (None, [])


async def test_a_large_snapshot_round_trips_through_sliced_encoding(log: EventLog) -> None:
    rows = [[n, f"A{n:03d}", "等候", None, [[1.5, "x"]]] for n in range(2_345)]
    state = {"tickets": rows, "serials": {"social": 2_345}, "empty": [], "名": "一窗"}
    log.append(DAY, [event(1)])
    pending = log.append_snapshot(Snapshot(DAY, 1, 5.0, state))
    await log.flush()  # flush waits for snapshots still being encoded, too
    assert pending.done()
    snapshot, events = log.load_day(DAY)
    assert snapshot is not None
    assert snapshot.state == state
    assert events == []


async def test_snapshots_handed_over_before_close_are_committed(db_path: Path) -> None:
    log = EventLog.open(db_path)
    log.start(asyncio.get_running_loop())
    log.append(DAY, [event(1)])
    pending = log.append_snapshot(Snapshot(DAY, 1, 5.0, {"rows": list(range(5_000))}))
    await log.close()
    assert pending.done()
    assert pending.exception() is None
    reopened = EventLog.open(db_path)
    try:
        snapshot, _ = reopened.load_day(DAY)
        assert snapshot is not None
        assert snapshot.state == {"rows": list(range(5_000))}
    finally:
        await reopened.close()


async def test_load_day_without_snapshot_returns_all_its_events(log: EventLog) -> None:
    log.append(DAY, [event(1)])
    log.append(OTHER_DAY, [event(2)])
    await log.append(DAY, [event(3)]).durable
    snapshot, events = log.load_day(DAY)
    assert snapshot is None
    assert [(e.seq, e.day) for e in events] == [(1, DAY), (3, DAY)]


async def test_snapshot_cannot_be_ahead_of_the_log(log: EventLog) -> None:
    log.append(DAY, [event(1)])
    with pytest.raises(ValueError, match="snapshot seq"):
        log.append_snapshot(Snapshot(DAY, 2, 1.0, {}))


async def test_commit_failure_fails_everything_after_it(db_path: Path) -> None:
    fail, entered, release = threading.Event(), threading.Event(), threading.Event()

    def before_commit(size: int) -> None:
        if fail.is_set():
            fail.clear()  # one transient error: a log that kept going would commit what follows
            entered.set()
            release.wait(10)
            raise sqlite3.OperationalError("disk I/O error")

    log = EventLog.open(db_path, _before_commit=before_commit)
    log.start(asyncio.get_running_loop())
    try:
        await log.append(DAY, [event(1)]).durable
        fail.set()
        failing = log.append(
            DAY, [event(2)], reply=StoredReply("idem-2", DAY, "fp", 201, {"ticket": "A002"})
        )
        assert await asyncio.to_thread(entered.wait, 10)
        queued = [log.append(DAY, [event(3)]), log.append(DAY, [event(4)])]
        queued_snapshot = log.append_snapshot(Snapshot(DAY, 1, 1.0, {}))
        release.set()

        for future in [failing.durable, *(c.durable for c in queued), queued_snapshot]:
            with pytest.raises(StoreWriteError, match=str(db_path)):
                await future
        assert isinstance(log.failed, StoreWriteError)
        assert isinstance(log.failed.__cause__, sqlite3.OperationalError)
        with pytest.raises(StoreFailedError):
            log.append(DAY, [event(5)])
        with pytest.raises(StoreFailedError):
            log.append_snapshot(Snapshot(DAY, 1, 1.0, {}))
        with pytest.raises(StoreFailedError):
            await log.flush()
        assert log.stats.durable_seq == 1
    finally:
        await log.close()

    reopened = EventLog.open(db_path)
    try:
        assert [e.seq for e in reopened.events()] == [1]
        assert reopened.replies_for_day(DAY) == {}
        assert reopened.load_day(DAY)[0] is None
        assert reopened.failed is None
    finally:
        await reopened.close()


async def test_close_commits_pending_appends(db_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def before_commit(size: int) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)

    log = EventLog.open(db_path, _before_commit=before_commit)
    log.start(asyncio.get_running_loop())
    commits = [log.append(DAY, [event(0)])]
    assert await asyncio.to_thread(entered.wait, 10)
    commits += [log.append(DAY, [event(n)]) for n in range(1, 300)]
    closing = asyncio.create_task(log.close())
    for _ in range(10):
        await asyncio.sleep(0)  # close() is under way while 299 appends still wait in the queue
    with pytest.raises(StoreClosedError):
        log.append(DAY, [event(300)])
    assert not any(c.durable.done() for c in commits)
    release.set()
    await asyncio.wait_for(closing, 10)
    assert all(c.durable.done() and c.durable.exception() is None for c in commits)

    reopened = EventLog.open(db_path)
    try:
        assert [e.seq for e in reopened.events()] == list(range(1, 301))
    finally:
        await reopened.close()


async def test_close_stops_the_writer_and_checkpoints(db_path: Path) -> None:
    log = EventLog.open(db_path)
    log.start(asyncio.get_running_loop())
    assert len(writer_threads()) == 1
    assert not writer_threads()[0].daemon
    await log.append(DAY, [event(1)]).durable
    await asyncio.gather(log.close(), log.close())
    await log.close()
    assert writer_threads() == []
    assert file_size(Path(f"{db_path}-wal")) == 0
    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    with pytest.raises(StoreClosedError):
        log.events()


async def test_corrupt_json_row_raises_on_load(db_path: Path) -> None:
    log = EventLog.open(db_path)
    log.start(asyncio.get_running_loop())
    await log.append(DAY, [event(1), event(2)]).durable
    await log.close()
    raw_execute(db_path, "UPDATE events SET data = ? WHERE seq = 2", ('{"ticket": "A0',))

    reopened = EventLog.open(db_path)
    try:
        with pytest.raises(StoreCorruptError, match=r"event 2 .*undecodable"):
            reopened.load_day(DAY)
        with pytest.raises(StoreCorruptError, match=str(db_path)):
            reopened.events()
        assert [e.seq for e in reopened.events(limit=1)] == [1]
    finally:
        await reopened.close()

    raw_execute(db_path, "UPDATE events SET data = ? WHERE seq = 2", ("[1, 2]",))
    reopened = EventLog.open(db_path)
    try:
        with pytest.raises(StoreCorruptError, match="not a JSON object"):
            reopened.events()
    finally:
        await reopened.close()


async def test_invalid_event_is_refused_without_spending_a_seq(log: EventLog) -> None:
    with pytest.raises(TypeError):
        log.append(DAY, [event(1), NewEvent("x", 1.0, "a", {"bad": {1, 2}})])
    with pytest.raises(ValueError, match="finite"):
        log.append(DAY, [NewEvent("x", float("nan"), "a", {})])
    with pytest.raises(ValueError, match="surrogate"):
        log.append(DAY, [NewEvent("x", 1.0, "a", {"reason": "\udfff"})])
    with pytest.raises(ValueError, match="surrogate"):
        log.append(DAY, [NewEvent("x", 1.0, "api:\ud800", {})])
    with pytest.raises(ValueError, match="non-finite"):
        log.append(DAY, [NewEvent("x", 1.0, "a", {"score": [1.0, float("inf")]})])
    non_str_key: dict[Any, Any] = {1: "non-str key"}
    with pytest.raises(TypeError):
        log.append(DAY, [NewEvent("x", 1.0, "a", non_str_key)])
    assert log.last_seq == 0
    commit = log.append(DAY, [event(1)])
    assert commit.seqs == (1,)
    await commit.durable
    assert log.failed is None


async def test_second_open_of_the_same_file_is_refused(log: EventLog) -> None:
    with pytest.raises(StoreOpenError, match="already open"):
        EventLog.open(log.path)


async def test_meta_survives_reopen(db_path: Path) -> None:
    log = EventLog.open(db_path)
    assert log.get_meta("schema_version") == "1"
    assert log.get_meta("hall_id") is None
    log.set_meta("hall_id", "佛山市南海区政务服务中心")
    await log.close()

    reopened = EventLog.open(db_path)
    try:
        assert reopened.get_meta("hall_id") == "佛山市南海区政务服务中心"
        reopened.start(asyncio.get_running_loop())
        with pytest.raises(RuntimeError):
            reopened.set_meta("hall_id", "x")
    finally:
        await reopened.close()


def test_unopenable_paths_raise_store_open_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "garbage.sqlite3"
    not_a_db.write_bytes(b"this is not a database file at all, just bytes" * 100)
    with pytest.raises(StoreOpenError, match=str(not_a_db)):
        EventLog.open(not_a_db)
    with pytest.raises(StoreOpenError, match=str(tmp_path)):
        EventLog.open(tmp_path)
    with pytest.raises(ValueError, match="synchronous"):
        EventLog.open(tmp_path / "x.sqlite3", synchronous="off")


async def test_normal_synchronous_is_selectable(tmp_path: Path) -> None:
    log = EventLog.open(tmp_path / "normal.sqlite3", synchronous="NORMAL")
    log.start(asyncio.get_running_loop())
    try:
        await log.append(DAY, [event(1)]).durable
        assert [e.seq for e in log.events()] == [1]
    finally:
        await log.close()


_CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from hall_controller.store import EventLog, NewEvent

    async def main() -> None:
        # A slow disk: the transaction sits written but uncommitted for 2 ms, so a kill often
        # lands there, where an acknowledgement sent too early would be caught.
        log = EventLog.open(sys.argv[1], _before_commit=lambda size: time.sleep(0.002))
        log.start(asyncio.get_running_loop())

        async def kiosk(n: int) -> None:
            i = 0
            while True:
                i += 1
                events = [
                    NewEvent("ticket.issued", time.time(), f"自助机-{n}", {"号": i, "名": "李四"})
                    for _ in range(1 + i % 3)
                ]
                commit = log.append("2024-05-06", events)
                await commit.durable
                sys.stdout.write("ack " + " ".join(map(str, commit.seqs)) + "\\n")
                sys.stdout.flush()

        await asyncio.gather(*(kiosk(n) for n in range(8)))

    asyncio.run(main())
    """
)


def _acked(lines: list[bytes]) -> list[int]:
    # A line cut short by the kill has no newline and counts as never printed.
    return [
        int(seq)
        for line in lines
        if line.startswith(b"ack ") and line.endswith(b"\n")
        for seq in line.split()[1:]
    ]


def _crash_round(db: Path, wanted: int, errors_path: Path) -> list[int]:
    """Run the child until it has acknowledged `wanted` seqs, SIGKILL it, return all it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines: list[bytes] = []
    with (
        errors_path.open("wb") as errors,
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(db)], stdout=subprocess.PIPE, stderr=errors, env=env
        ) as child,
    ):
        assert child.stdout is not None
        watchdog = threading.Timer(60, child.kill)
        watchdog.start()
        try:
            acked = 0
            while acked < wanted and (line := child.stdout.readline()):
                lines.append(line)
                acked += len(_acked([line]))
            child.send_signal(signal.SIGKILL)
            lines.extend(child.stdout.read().splitlines(keepends=True))
            child.wait()
        finally:
            watchdog.cancel()
    assert child.returncode == -signal.SIGKILL, errors_path.read_text()
    assert acked >= wanted, errors_path.read_text()
    return _acked(lines)


@pytest.mark.slow
def test_sigkilled_writer_keeps_every_acknowledged_seq(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    rng = random.Random(2138)
    stored_before = 0
    for round_no in range(3):
        acked = _crash_round(db, rng.randint(100, 400), tmp_path / f"child-{round_no}.err")
        log = EventLog.open(db)
        try:
            stored = [e.seq for e in log.events()]
        finally:
            asyncio.run(log.close())
        assert set(acked) <= set(stored)
        assert stored == list(range(1, len(stored) + 1))  # commits land in order, no holes
        assert min(acked) > stored_before  # this round continued after the last one's seqs
        stored_before = len(stored)
