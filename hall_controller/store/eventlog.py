"""A durable SQLite event log: appends from the loop, group-committed by one writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeVar

import orjson
import structlog

from .errors import (
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFailedError,
    StoreLockedError,
    StoreOpenError,
    StoreWriteError,
)

_log = structlog.get_logger(__name__)

SCHEMA_VERSION: Final = "1"
WRITER_THREAD_NAME: Final = "event-log-writer"
ENCODER_THREAD_NAME: Final = "event-log-snapshot"
DEFAULT_MAX_BATCH: Final = 1000
SNAPSHOTS_KEPT_PER_DAY: Final = 2

# FULL fsyncs the WAL at every commit; NORMAL does not, so an acknowledged append survives a
# process crash but may be lost with the last commits on power loss.
_SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL"}
# How often an idle writer checks whether the interpreter is exiting without close() having been
# called; the thread is non-daemon, so without this a forgotten close() would hang the exit.
_IDLE_POLL_S: Final = 0.5

_SCHEMA: Final = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_day_seq ON events(day, seq);
-- A few kinds read across every day (poor ratings' follow-ups, at start): no full scan.
CREATE INDEX IF NOT EXISTS events_type_seq ON events(type, seq);
CREATE TABLE IF NOT EXISTS replies(
    key TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS replies_day ON replies(day);
CREATE TABLE IF NOT EXISTS snapshots(
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY(day, seq)
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
COMMIT;
"""

_INSERT_EVENT: Final = (
    "INSERT INTO events(seq, day, at, type, actor, data) VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_REPLY: Final = (
    "INSERT OR REPLACE INTO replies(key, day, fingerprint, status, body, seq)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_SNAPSHOT: Final = (
    "INSERT OR REPLACE INTO snapshots(day, seq, at, state) VALUES (?, ?, ?, ?)"
)
_PRUNE_SNAPSHOTS: Final = (
    "DELETE FROM snapshots WHERE day = ? AND seq NOT IN"
    f" (SELECT seq FROM snapshots WHERE day = ? ORDER BY seq DESC LIMIT {SNAPSHOTS_KEPT_PER_DAY})"
)
_EVENT_COLUMNS: Final = "seq, day, at, type, actor, data"
# A purged day's mark in meta: "purged:2026-11-28" -> {"through_seq": ...}.
PURGED_MARK: Final = "purged:"
# The next day after ?1 and before ?2 that holds anything: three index seeks, never a scan.
_NEXT_DAY: Final = (
    "SELECT MIN(d) FROM ("
    "SELECT MIN(day) AS d FROM events WHERE day > ?1 AND day < ?2"
    " UNION ALL SELECT MIN(day) FROM snapshots WHERE day > ?1 AND day < ?2"
    " UNION ALL SELECT MIN(day) FROM replies WHERE day > ?1 AND day < ?2)"
)

_EventRow: TypeAlias = tuple[int, str, float, str, str, str]
_ReplyRow: TypeAlias = tuple[str, str, str, int, str | None, int | None]
_SnapshotRow: TypeAlias = tuple[str, int, float, str]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type, when it happened (epoch seconds), who caused it, its data."""

    type: str
    at: float
    actor: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event with its log-wide sequence number and the hall day it belongs to."""

    seq: int
    day: str
    at: float
    type: str
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredReply:
    """An idempotent reply kept under its key; `body` is a JSON value or None."""

    key: str
    day: str
    fingerprint: str
    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A day's state as it stood right after event `seq`."""

    day: str
    seq: int
    at: float
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Commit:
    """The seqs an append was given; `durable` resolves once on disk, else fails StoreWriteError."""

    seqs: tuple[int, ...]
    durable: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class LogStats:
    """What the loop has been told is committed: transactions, appends, events, largest batch."""

    batches: int
    appends: int
    events: int
    largest_batch: int
    durable_seq: int


@dataclass(frozen=True, slots=True)
class DayPurge:
    """What a purge took from one day: events that lost fields, snapshots and replies deleted."""

    day: str
    events: int
    snapshots: int
    replies: int


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    """The days a purge went through, oldest first (none: nothing was due), and the event that
    records it, if one was written."""

    days: tuple[DayPurge, ...]
    record: EventRecord | None


# Builds the event that records a purge from what it did (called in the writer thread).
PurgeRecord: TypeAlias = Callable[[Sequence[DayPurge]], NewEvent]


@dataclass(slots=True)
class _Purge:
    before_day: str
    fields: dict[str, tuple[str, ...]]
    record: PurgeRecord | None
    record_day: str
    seq: int  # reserved for the record on the loop, where seqs are handed out
    dry_run: bool
    outcome: asyncio.Future[PurgeOutcome] | None = None


@dataclass(slots=True)
class _Item:
    future: asyncio.Future[None]
    events: list[_EventRow]
    reply: _ReplyRow | None
    snapshot: _SnapshotRow | None
    purge: _Purge | None = None


class EventLog:
    """The hall's durable event log; create with EventLog.open(), then start() on the loop."""

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        lock_fd: int,
        last_seq: int,
        max_batch: int,
        before_commit: Callable[[int], None] | None,
    ) -> None:
        """Wrap already opened connections; use EventLog.open() instead."""
        self._path = path
        self._writer: sqlite3.Connection | None = writer
        self._reader: sqlite3.Connection | None = reader
        self._lock_fd = lock_fd
        self._max_batch = max_batch
        self._before_commit = before_commit
        self._read_lock = threading.Lock()
        # Guards _queue, _stopping and _failed, which the loop and the writer thread share.
        self._cond = threading.Condition(threading.Lock())
        self._writer_waiting = False
        self._queue: deque[_Item] = deque()
        self._stopping = False
        self._failed: StoreWriteError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Snapshots are encoded here, off the loop and off the writer, one at a time.
        self._encoder: ThreadPoolExecutor | None = None
        self._close_task: asyncio.Task[None] | None = None
        # Loop-thread only from here on.
        self._closing = False
        self._next_seq = last_seq
        self._enqueued = 0
        self._acknowledged = 0
        self._waiters: list[tuple[int, asyncio.Future[bool]]] = []
        self._batches = 0
        self._appends = 0
        self._events = 0
        self._largest_batch = 0
        self._durable_seq = last_seq

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        synchronous: str = "full",
        max_batch: int = DEFAULT_MAX_BATCH,
        _before_commit: Callable[[int], None] | None = None,
    ) -> EventLog:
        """Open or create the log at `path` (blocking, call outside the loop); StoreOpenError."""
        mode = _SYNCHRONOUS.get(synchronous.lower())
        if mode is None:
            raise ValueError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, not {synchronous!r}"
            )
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        db = Path(path)
        lock_fd = -1
        writer: sqlite3.Connection | None = None
        reader: sqlite3.Connection | None = None
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            lock_fd = _lock(db)
            writer = _connect(db)
            journal = writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(journal).lower() != "wal":
                raise StoreOpenError(f"event log {db}: WAL mode unavailable (got {journal!r})")
            writer.execute(f"PRAGMA synchronous={mode}")
            # Freed bytes (a pruned snapshot, a purged field) are overwritten with zeros, so no
            # personal data lingers in free pages once purged. Costs a write of each freed page.
            writer.execute("PRAGMA secure_delete=ON")
            writer.executescript(_SCHEMA)
            version = writer.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StoreOpenError(
                    f"event log {db}: schema version {version!r}, expected {SCHEMA_VERSION!r}"
                )
            last_seq = int(writer.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
            reader = _connect(db)
            reader.execute("PRAGMA query_only=ON")
        except BaseException as exc:
            _close_quietly(reader)
            _close_quietly(writer)
            if lock_fd >= 0:
                os.close(lock_fd)
            if isinstance(exc, sqlite3.Error | OSError):
                raise StoreOpenError(f"cannot open event log {db}: {exc}") from exc
            raise
        _log.info("event_log.opened", path=str(db), last_seq=last_seq, synchronous=mode)
        return cls(db, writer, reader, lock_fd, last_seq, max_batch, _before_commit)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def failed(self) -> StoreError | None:
        """The write failure that stopped the log, or None while it is healthy."""
        return self._failed

    @property
    def last_seq(self) -> int:
        """The highest seq handed out so far, durable or still pending."""
        return self._next_seq

    @property
    def closing(self) -> bool:
        """True from the call to close() on: appends are refused."""
        return self._closing

    @property
    def stats(self) -> LogStats:
        """Counters of committed work as acknowledged on the loop."""
        return LogStats(
            batches=self._batches,
            appends=self._appends,
            events=self._events,
            largest_batch=self._largest_batch,
            durable_seq=self._durable_seq,
        )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer thread; durable futures are created and resolved on `loop`."""
        if self._writer is None or self._stopping:
            raise StoreClosedError(f"event log {self._path} is closed")
        if self._thread is not None:
            raise RuntimeError("EventLog.start() called twice")
        self._loop = loop
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix=ENCODER_THREAD_NAME)
        self._thread = threading.Thread(
            target=self._run, args=(self._writer, loop), name=WRITER_THREAD_NAME, daemon=False
        )
        self._thread.start()

    def append(
        self, day: str, events: Sequence[NewEvent], *, reply: StoredReply | None = None
    ) -> Commit:
        """Queue events (and their reply) for one transaction; loop thread only, never blocks."""
        loop = self._running_loop()
        self._refuse_if_closing()
        _text("day", day)
        seq = self._next_seq
        rows: list[_EventRow] = []
        for event in events:
            seq += 1
            rows.append(
                (
                    seq,
                    day,
                    _finite("at", event.at),
                    _text("type", event.type),
                    _text("actor", event.actor),
                    _dumps(dict(event.data)),
                )
            )
        reply_row: _ReplyRow | None = None
        if reply is not None:
            if reply.day != day:
                raise ValueError(f"reply day {reply.day!r} differs from append day {day!r}")
            if isinstance(reply.status, bool) or not isinstance(reply.status, int):
                raise TypeError("reply status must be an int")
            reply_row = (
                _text("reply key", reply.key),
                day,
                _text("reply fingerprint", reply.fingerprint),
                reply.status,
                None if reply.body is None else _dumps(reply.body),
                seq if rows else None,
            )
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(_Item(future, rows, reply_row, None))
        first = self._next_seq + 1
        self._next_seq = seq
        return Commit(tuple(range(first, seq + 1)), future)

    def append_snapshot(self, snapshot: Snapshot) -> asyncio.Future[None]:
        """Queue a snapshot (encoded in its own thread); loop thread only; keeps 2 per day.

        The state is JSON-encoded off the loop, in slices, so a day of tens of thousands of
        tickets never stalls the hall; it must not be mutated after this call. It is committed
        after the events it covers, since its seq is already appended.
        """
        loop = self._running_loop()
        self._refuse_if_closing()
        if isinstance(snapshot.seq, bool) or not isinstance(snapshot.seq, int):
            raise TypeError("snapshot seq must be an int")
        if not 0 <= snapshot.seq <= self._next_seq:
            raise ValueError(f"snapshot seq {snapshot.seq} is not in 0..{self._next_seq}")
        day = _text("day", snapshot.day)
        at = _finite("at", snapshot.at)
        self._raise_if_failed()
        if self._encoder is None or self._stopping:
            raise StoreClosedError(f"event log {self._path} is closed")
        future: asyncio.Future[None] = loop.create_future()
        state = snapshot.state

        def encode_and_queue() -> None:
            try:
                row: _SnapshotRow = (day, snapshot.seq, at, _encode_in_slices(state))
                self._enqueue(_Item(future, [], None, row))
            except Exception as exc:  # handed to the caller, never lost in this thread
                loop.call_soon_threadsafe(_fail_future, future, exc)

        self._encoder.submit(encode_and_queue)
        return future

    async def flush(self) -> None:
        """Wait until everything appended so far is durable; StoreWriteError/StoreFailedError."""
        self._raise_if_failed()
        if self._encoder is not None:
            # Snapshots handed over earlier are queued once the encoder has run past them.
            await asyncio.wrap_future(self._encoder.submit(lambda: None))
        if not await self._acknowledged_upto(self._enqueued):
            raise StoreWriteError(f"event log {self._path}: pending appends were not committed")

    async def close(self) -> None:
        """Commit what is pending, join the writer, checkpoint and close; idempotent."""
        if self._close_task is None:
            self._closing = True  # refuse new appends from now on, before anything awaits
            self._close_task = asyncio.get_running_loop().create_task(self._shutdown())
        # Shielded so that a cancelled caller cannot leave the writer half stopped.
        await asyncio.shield(self._close_task)

    def load_day(self, day: str) -> tuple[Snapshot | None, list[EventRecord]]:
        """The day's latest snapshot and the day's events after it; blocking, off-loop."""

        def read(conn: sqlite3.Connection) -> tuple[Snapshot | None, list[EventRecord]]:
            row = conn.execute(
                "SELECT day, seq, at, state FROM snapshots WHERE day = ? ORDER BY seq DESC LIMIT 1",
                (day,),
            ).fetchone()
            snapshot = None if row is None else self._snapshot(row)
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE day = ? AND seq > ? ORDER BY seq",
                (day, 0 if snapshot is None else snapshot.seq),
            ).fetchall()
            return snapshot, [self._record(r) for r in rows]

        return self._read(read)

    def replies_for_day(self, day: str) -> dict[str, StoredReply]:
        """Every stored reply of the day by key; blocking, so before start() or off-loop."""

        def read(conn: sqlite3.Connection) -> dict[str, StoredReply]:
            rows = conn.execute(
                "SELECT key, day, fingerprint, status, body FROM replies WHERE day = ?", (day,)
            ).fetchall()
            return {
                key: StoredReply(
                    key,
                    row_day,
                    fingerprint,
                    status,
                    None if body is None else self._decode(body, f"reply {key!r}"),
                )
                for key, row_day, fingerprint, status, body in rows
            }

        return self._read(read)

    def events(
        self,
        *,
        day: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        types: Collection[str] | None = None,
    ) -> list[EventRecord]:
        """Events with seq > after_seq in seq order, optionally of one day and only of some
        types (every day's, without `day`); blocking, off-loop."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ?"
        params: list[object] = [after_seq]
        if day is not None:
            sql += " AND day = ?"
            params.append(day)
        if types is not None:
            wanted = sorted(types)
            if not wanted:
                return []
            sql += f" AND type IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY seq"
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += " LIMIT ?"
            params.append(limit)
        return self._read(lambda conn: [self._record(r) for r in conn.execute(sql, params)])

    def get_meta(self, key: str) -> str | None:
        """The meta value under `key`, or None; blocking, off-loop."""
        row = self._read(
            lambda conn: conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a meta value durably (blocking); only before start()."""
        if key == "schema_version":
            raise ValueError("schema_version is managed by the event log")
        if self._thread is not None:
            raise RuntimeError("EventLog.set_meta() is only allowed before start()")
        conn = self._writer
        if conn is None:
            raise StoreClosedError(f"event log {self._path} is closed")
        try:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_text("key", key), _text("value", value)),
            )
        except sqlite3.Error as exc:
            raise StoreWriteError(
                f"event log {self._path}: cannot set meta {key!r}: {exc}"
            ) from exc

    # --- purging personal data ---------------------------------------------------------------

    def purge(
        self,
        before_day: str,
        fields: Mapping[str, Collection[str]],
        *,
        record: PurgeRecord | None = None,
        record_day: str = "",
    ) -> asyncio.Future[PurgeOutcome]:
        """Queue a purge of every day before `before_day`; loop thread only, after start().

        Each such day not purged yet loses `fields` (event type -> field names) from its
        events' data, and all its snapshots and stored replies. It runs in the writer thread
        after everything appended before it, in a transaction of its own together with the
        `record` event (appended to `record_day`, if anything was purged), and is then
        checkpointed out of the WAL. A failure fails the returned future only, never the log.
        """
        loop = self._running_loop()
        self._refuse_if_closing()
        self._raise_if_failed()
        job = self._purge_job(before_day, fields, record, record_day, dry_run=False)
        job.outcome = loop.create_future()
        self._enqueue(_Item(loop.create_future(), [], None, None, job))
        if record is not None:
            self._next_seq = job.seq  # reserved: a purge that takes nothing leaves a gap
        return job.outcome

    def purge_now(
        self,
        before_day: str,
        fields: Mapping[str, Collection[str]],
        *,
        record: PurgeRecord | None = None,
        record_day: str = "",
        dry_run: bool = False,
    ) -> PurgeOutcome:
        """The same purge, at once and blocking, only before start() (a stopped hall's log);
        `dry_run` reports what it would take and changes nothing."""
        if self._thread is not None:
            raise RuntimeError("EventLog.purge_now() is only allowed before start()")
        conn = self._writer
        if conn is None:
            raise StoreClosedError(f"event log {self._path} is closed")
        job = self._purge_job(before_day, fields, record, record_day, dry_run=dry_run)
        outcome = self._purge(conn, job)
        if outcome.record is not None:
            self._next_seq = self._durable_seq = outcome.record.seq
        return outcome

    def days_to_purge(self, before_day: str) -> list[str]:
        """The days before `before_day` that a purge would go through; blocking, off-loop."""
        day = _text("before_day", before_day)
        return self._read(lambda conn: self._days_to_purge(conn, day))

    def _purge_job(
        self,
        before_day: str,
        fields: Mapping[str, Collection[str]],
        record: PurgeRecord | None,
        record_day: str,
        *,
        dry_run: bool,
    ) -> _Purge:
        checked: dict[str, tuple[str, ...]] = {}
        for type_, names in fields.items():
            if isinstance(names, str):
                raise TypeError(f"the fields of {type_!r} must be a collection of names")
            checked[_text("event type", type_)] = tuple(_text("field", name) for name in names)
        if record is not None:
            _text("record_day", record_day)
            if not record_day:
                raise ValueError("a purge's record needs the day to record it in")
        return _Purge(
            _text("before_day", before_day),
            checked,
            record,
            record_day,
            self._next_seq + 1,
            dry_run,
        )

    # --- loop thread -------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise RuntimeError("EventLog.start() has not been called")
        if asyncio.get_running_loop() is not loop:
            raise RuntimeError("EventLog appends must come from the loop given to start()")
        return loop

    def _refuse_if_closing(self) -> None:
        # Loop thread: once close() is called, nothing new is accepted, even while the
        # snapshot encoder still drains into the writer's queue.
        if self._closing:
            raise StoreClosedError(f"event log {self._path} is closed")

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise StoreFailedError(
                f"event log {self._path} has failed and must be reopened: {self._failed}"
            ) from self._failed

    def _enqueue(self, item: _Item) -> None:
        with self._cond:
            self._raise_if_failed()
            if self._stopping:
                raise StoreClosedError(f"event log {self._path} is closed")
            self._queue.append(item)
            # Counted under the lock: the snapshot encoder thread enqueues too.
            self._enqueued += 1
            # A busy writer picks this up after its commit; waking it costs the loop a syscall.
            if self._writer_waiting:
                self._cond.notify()

    async def _acknowledged_upto(self, target: int) -> bool:
        """Wait until the first `target` items are acknowledged; False if any of them failed."""
        if self._acknowledged >= target:
            # A failure among them would have set _failed before they were acknowledged.
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        return await waiter

    def _acknowledge(self, batch: list[_Item], error: StoreWriteError | None) -> None:
        for item in batch:
            future = item.future
            if future.done():
                continue  # cancelled by whoever awaited it; that never undoes the write
            if error is None:
                future.set_result(None)
            else:
                exc = StoreWriteError(str(error))
                exc.__cause__ = error.__cause__
                future.set_exception(exc)
                # Marked retrieved: the failure is logged once by the writer, not per future.
                future.exception()
        for item in batch:
            # A purge still queued when the log failed (`_fail` hands it over with the rest).
            outcome = item.purge.outcome if item.purge is not None else None
            if outcome is not None and not outcome.done():
                outcome.set_exception(StoreWriteError(str(error or "purge not run")))
        self._acknowledged += len(batch)
        if error is None:
            self._batches += 1
            self._appends += len(batch)
            self._largest_batch = max(self._largest_batch, len(batch))
            for item in batch:
                if item.events:
                    self._events += len(item.events)
                    self._durable_seq = item.events[-1][0]
        self._wake_waiters(error is None)

    def _purged(self, item: _Item, outcome: PurgeOutcome | None, error: Exception | None) -> None:
        job = item.purge
        assert job is not None
        assert job.outcome is not None
        if not job.outcome.done():  # else cancelled by its caller: the purge stands anyway
            if outcome is not None:
                job.outcome.set_result(outcome)
            else:
                job.outcome.set_exception(error or StoreWriteError("purge failed"))
        if outcome is not None and outcome.record is not None:
            self._events += 1
            self._durable_seq = outcome.record.seq
        self._acknowledged += 1
        # A failed purge is its own failure: a flush waiting behind it still succeeds.
        self._wake_waiters(True)

    def _wake_waiters(self, ok: bool) -> None:
        waiting: list[tuple[int, asyncio.Future[bool]]] = []
        for target, waiter in self._waiters:
            if waiter.done():
                continue
            if target <= self._acknowledged:
                waiter.set_result(ok)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    async def _shutdown(self) -> None:
        encoder = self._encoder
        if encoder is not None:
            # Snapshots still being encoded are queued before the writer is told to stop.
            await asyncio.to_thread(encoder.shutdown, True)
        with self._cond:
            self._stopping = True
            self._cond.notify()
        thread = self._thread
        if thread is not None:
            await self._acknowledged_upto(self._enqueued)
            await asyncio.to_thread(thread.join)
        await asyncio.to_thread(self._release)

    # --- writer thread -----------------------------------------------------------------------

    def _run(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if self._stopping or not threading.main_thread().is_alive():
                        return
                    self._writer_waiting = True
                    self._cond.wait(_IDLE_POLL_S)
                    self._writer_waiting = False
                # A purge is a transaction of its own: a batch of appends stops before one.
                batch = [self._queue.popleft()]
                while (
                    batch[0].purge is None
                    and self._queue
                    and len(batch) < self._max_batch
                    and self._queue[0].purge is None
                ):
                    batch.append(self._queue.popleft())
            if batch[0].purge is not None:
                self._run_purge(conn, loop, batch[0], batch[0].purge)
                continue
            error: StoreWriteError | None = None
            try:
                self._write(conn, batch)
            except Exception as exc:
                error = self._fail(exc, batch)
            try:
                loop.call_soon_threadsafe(self._acknowledge, batch, error)
            except RuntimeError:
                _log.warning(
                    "event_log.loop_closed", path=str(self._path), unacknowledged=len(batch)
                )

    def _run_purge(
        self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, item: _Item, job: _Purge
    ) -> None:
        outcome: PurgeOutcome | None = None
        error: Exception | None = None
        try:
            outcome = self._purge(conn, job)
        except Exception as exc:
            # Rolled back: nothing of it happened. The hall goes on; the caller tries again.
            cls = StoreCorruptError if isinstance(exc, StoreCorruptError) else StoreWriteError
            error = cls(f"event log {self._path}: purge before {job.before_day} failed: {exc}")
            error.__cause__ = exc
            _log.error("event_log.purge_failed", path=str(self._path), error=repr(exc))
        try:
            loop.call_soon_threadsafe(self._purged, item, outcome, error)
        except RuntimeError:
            _log.warning("event_log.loop_closed", path=str(self._path), unacknowledged=1)

    def _purge(self, conn: sqlite3.Connection, job: _Purge) -> PurgeOutcome:
        """Writer thread (or before start): the purge's one transaction, then a checkpoint."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            days = tuple(
                self._purge_day(conn, day, job.fields)
                for day in self._days_to_purge(conn, job.before_day)
            )
            record = None
            if days and job.record is not None and not job.dry_run:
                new = job.record(days)
                row: _EventRow = (
                    job.seq,
                    job.record_day,
                    _finite("at", new.at),
                    _text("type", new.type),
                    _text("actor", new.actor),
                    _dumps(dict(new.data)),
                )
                conn.execute(_INSERT_EVENT, row)
                record = self._record(row)
            if job.dry_run:
                conn.execute("ROLLBACK")
                return PurgeOutcome(days, None)
            if self._before_commit is not None:
                self._before_commit(0)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        if days:
            self._checkpoint_purged(conn)
        return PurgeOutcome(days, record)

    def _days_to_purge(self, conn: sqlite3.Connection, before_day: str) -> list[str]:
        """Days before `before_day` with data and no clean purge mark, oldest first."""
        days: list[str] = []
        after = ""
        while (day := conn.execute(_NEXT_DAY, (after, before_day)).fetchone()[0]) is not None:
            if not self._purged_clean(conn, day):
                days.append(day)
            after = day
        return days

    def _purged_clean(self, conn: sqlite3.Connection, day: str) -> bool:
        # A purged day keeps no snapshot and no reply, and no event after its mark: anything
        # else came later (a clock stepped back, a snapshot landing late) and is purged again.
        through = self._purge_mark(conn, day)
        if through is None:
            return False
        for table in ("snapshots", "replies"):
            if conn.execute(f"SELECT 1 FROM {table} WHERE day = ? LIMIT 1", (day,)).fetchone():
                return False
        last = conn.execute("SELECT MAX(seq) FROM events WHERE day = ?", (day,)).fetchone()[0]
        return last is None or int(last) <= through

    def _purge_mark(self, conn: sqlite3.Connection, day: str) -> int | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PURGED_MARK + day,)).fetchone()
        if row is None:
            return None
        through = self._decode_object(row[0], f"purge mark of {day}").get("through_seq")
        return through if isinstance(through, int) else 0

    def _purge_day(
        self, conn: sqlite3.Connection, day: str, fields: Mapping[str, tuple[str, ...]]
    ) -> DayPurge:
        after = self._purge_mark(conn, day) or 0
        types = sorted(t for t, names in fields.items() if names)
        rows = []
        if types:
            # `+type`: the day's index, never the one by type (which spans every day).
            rows = conn.execute(
                "SELECT seq, type, data FROM events WHERE day = ? AND seq > ?"
                f" AND +type IN ({', '.join('?' * len(types))})",
                (day, after, *types),
            ).fetchall()
        changed: list[tuple[str, int]] = []
        for seq, type_, text in rows:
            data = self._decode_object(text, f"event {seq}")
            cut = [name for name in fields[type_] if data.get(name) is not None]
            if cut:
                for name in cut:
                    del data[name]
                changed.append((_json(data), seq))
        conn.executemany("UPDATE events SET data = ? WHERE seq = ?", changed)
        snapshots = conn.execute("DELETE FROM snapshots WHERE day = ?", (day,)).rowcount
        replies = conn.execute("DELETE FROM replies WHERE day = ?", (day,)).rowcount
        last = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE day = ?", (day,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (PURGED_MARK + day, _json({"through_seq": int(last)})),
        )
        return DayPurge(day, len(changed), snapshots, replies)

    def _checkpoint_purged(self, conn: sqlite3.Connection) -> None:
        # The WAL still holds the pages as they were before the purge: copy everything into
        # the database and empty the WAL. Our own reader waits meanwhile (it would pin them).
        try:
            with self._read_lock:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error as exc:
            busy, reason = 1, repr(exc)
        else:
            reason = "another process is reading the log"
        if busy:
            # The purge is committed; the old pages leave the WAL at the next checkpoint
            # (at the latest when the log is closed).
            _log.warning(
                "event_log.purge_checkpoint_incomplete", path=str(self._path), reason=reason
            )

    def _write(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        events = [row for item in batch for row in item.events]
        replies = [item.reply for item in batch if item.reply is not None]
        snapshots = [item.snapshot for item in batch if item.snapshot is not None]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if events:
                conn.executemany(_INSERT_EVENT, events)
            if replies:
                conn.executemany(_UPSERT_REPLY, replies)
            if snapshots:
                conn.executemany(_UPSERT_SNAPSHOT, snapshots)
                conn.executemany(_PRUNE_SNAPSHOTS, [(d, d) for d in {s[0] for s in snapshots}])
            if self._before_commit is not None:
                self._before_commit(len(batch))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _fail(self, exc: Exception, batch: list[_Item]) -> StoreWriteError:
        size = len(batch)
        error = StoreWriteError(f"event log {self._path}: commit of {size} appends failed: {exc}")
        error.__cause__ = exc
        with self._cond:
            self._failed = error
            batch.extend(self._queue)
            self._queue.clear()
        _log.error(
            "event_log.commit_failed",
            path=str(self._path),
            error=repr(exc),
            batch=size,
            also_failed=len(batch) - size,
            exc_info=not isinstance(exc, sqlite3.Error | OSError),
        )
        return error

    # --- shared helpers ----------------------------------------------------------------------

    def _release(self) -> None:
        with self._read_lock:
            reader, self._reader = self._reader, None
        _close_quietly(reader)
        writer, self._writer = self._writer, None
        if writer is not None and self._failed is None:
            try:
                busy = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy:
                    _log.warning("event_log.checkpoint_busy", path=str(self._path))
            except sqlite3.Error as exc:
                # Everything is already durable in the WAL; the next open checkpoints it.
                _log.warning("event_log.checkpoint_failed", path=str(self._path), error=repr(exc))
        _close_quietly(writer)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _read(self, read: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._read_lock:
            conn = self._reader
            if conn is None:
                raise StoreClosedError(f"event log {self._path} is closed")
            try:
                # One read transaction so that a multi-query read sees one consistent state.
                conn.execute("BEGIN")
                try:
                    return read(conn)
                finally:
                    conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                cls = StoreCorruptError if _is_corruption(exc) else StoreError
                raise cls(f"cannot read event log {self._path}: {exc}") from exc

    def _decode(self, text: Any, where: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StoreCorruptError(
                f"event log {self._path}: {where} holds undecodable JSON: {exc}"
            ) from exc

    def _decode_object(self, text: object, where: str) -> dict[str, Any]:
        value = self._decode(text, where)
        if not isinstance(value, dict):
            raise StoreCorruptError(f"event log {self._path}: {where} is not a JSON object")
        return value

    def _record(self, row: tuple[Any, ...]) -> EventRecord:
        seq, day, at, type_, actor, data = row
        return EventRecord(seq, day, at, type_, actor, self._decode_object(data, f"event {seq}"))

    def _snapshot(self, row: tuple[Any, ...]) -> Snapshot:
        day, seq, at, state = row
        return Snapshot(day, seq, at, self._decode_object(state, f"snapshot {day}/{seq}"))


def _lock(db: Path) -> int:
    """Take an exclusive lock beside the database: seqs are handed out in memory by one owner."""
    lock_path = f"{db}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLockedError(f"event log {db} is already open elsewhere ({lock_path})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, timeout=5.0, isolation_level=None, check_same_thread=False)


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except sqlite3.Error as exc:
            _log.warning("event_log.close_failed", error=repr(exc))


def _is_corruption(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


# Rows per slice when encoding a snapshot's long lists: each slice is one C call that holds
# the GIL; between slices the loop thread gets its turn.
_SLICE = 500


def _json(value: object) -> str:
    # orjson, about ten times faster than the standard library. It writes non-finite floats
    # as null: event data is checked first (_dumps), and a snapshot never holds one (every
    # time in it is an event's, checked on append).
    return orjson.dumps(value, default=_tuple_subclass).decode()


def _tuple_subclass(value: object) -> object:
    # orjson writes plain tuples but not their subclasses (named tuples).
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode_in_slices(state: Mapping[str, Any]) -> str:
    parts = []
    for key, value in dict(state).items():
        if isinstance(value, list | tuple) and len(value) > _SLICE:
            slices = (_json(value[i : i + _SLICE]) for i in range(0, len(value), _SLICE))
            encoded = "[" + ",".join(text[1:-1] for text in slices) + "]"
        else:
            encoded = _json(value)
        parts.append(f"{_json(_text('snapshot key', key))}:{encoded}")
    return "{" + ",".join(parts) + "}"


def _fail_future(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _dumps(value: object) -> str:
    # Every append. orjson would write NaN and infinities as null and report lone surrogates
    # as a TypeError, so values are checked here first; what it still refuses (sets, objects,
    # non-str keys) is a TypeError, as with json.dumps.
    _check_values(value)
    return _json(value)


def _check_values(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _utf8("data", item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"data holds a non-finite number: {item!r}")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return _utf8(name, value)


def _utf8(name: str, text: str) -> str:
    # SQLite stores UTF-8: a lone surrogate would fail in the writer and fail the whole log,
    # so refuse it here, at append time, where only this one caller hears about it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text (lone surrogate)") from None
    return text


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)
