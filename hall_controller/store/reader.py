"""Reading a hall's event log from another process while the controller writes it.

`EventLog.open` takes the log's exclusive lock: one writer hands out the sequence numbers. A
reader needs no lock: it opens the database read-only (a `mode=ro` URI) and reads each day in
one read transaction; SQLite's WAL lets it read beside the writer and see only what is
committed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Generator, Iterable
from pathlib import Path
from typing import TypeAlias
from urllib.parse import quote

from .errors import StoreCorruptError, StoreError, StoreOpenError
from .eventlog import SCHEMA_VERSION, EventRecord

_Day: TypeAlias = tuple[str, list[EventRecord]]
_SELECT = "SELECT seq, day, at, type, actor, data FROM events"
_SELECT_DAY = f"{_SELECT} WHERE day = ? ORDER BY seq"


def read_days(db_path: str | Path, days: Iterable[str]) -> Generator[_Day, None, None]:
    """Each day's events in log order, one day at a time, read without the writer's lock.

    Blocking: call and iterate off the event loop; close() it to stop early. StoreOpenError
    at once when there is no readable log at `db_path`; while iterating, StoreCorruptError
    for undecodable rows and StoreError for other read failures.
    """
    path = Path(db_path)
    conn = _open_read_only(path)
    return _each_day(conn, path, list(days))


def read_events_of_types(db_path: str | Path, types: Collection[str]) -> list[EventRecord]:
    """Every day's events of these types in log order, read without the writer's lock (the
    follow-ups of poor ratings outlive their day: a report needs their later events too).

    Blocking: call it off the event loop. StoreOpenError when there is no readable log at
    `db_path`, StoreCorruptError for undecodable rows, StoreError for other read failures.
    """
    path = Path(db_path)
    wanted = sorted(types)
    conn = _open_read_only(path)
    try:
        if not wanted:
            return []
        sql = f"{_SELECT} WHERE type IN ({', '.join('?' * len(wanted))}) ORDER BY seq"
        return _records(conn, path, sql, wanted)
    finally:
        conn.close()


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the log at `path`, its schema checked."""
    if not path.is_file():
        raise StoreOpenError(f"no event log at {path}")
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}?mode=ro",
            uri=True,
            timeout=5.0,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise StoreOpenError(f"cannot open event log {path} to read: {exc}") from exc
    try:
        _check_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _each_day(conn: sqlite3.Connection, path: Path, days: list[str]) -> Generator[_Day, None, None]:
    try:
        for day in days:
            yield day, _read_day(conn, path, day)
    finally:
        conn.close()


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as exc:
        raise StoreOpenError(f"{path} is not a hall event log: {exc}") from exc
    if row is None or row[0] != SCHEMA_VERSION:
        found = None if row is None else row[0]
        raise StoreOpenError(
            f"event log {path}: schema version {found!r}, expected {SCHEMA_VERSION!r}"
        )


def _read_day(conn: sqlite3.Connection, path: Path, day: str) -> list[EventRecord]:
    return _records(conn, path, _SELECT_DAY, [day])


def _records(
    conn: sqlite3.Connection, path: Path, sql: str, params: list[str]
) -> list[EventRecord]:
    try:
        conn.execute("BEGIN")  # one consistent view, whatever commits meanwhile
        try:
            rows = conn.execute(sql, params).fetchall()
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        cls = (
            StoreCorruptError
            if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
            else StoreError
        )
        raise cls(f"cannot read event log {path}: {exc}") from exc
    records = []
    for seq, row_day, at, type_, actor, data in rows:
        try:
            decoded = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise StoreCorruptError(
                f"event log {path}: event {seq} holds undecodable JSON"
            ) from exc
        if not isinstance(decoded, dict):
            raise StoreCorruptError(f"event log {path}: event {seq} is not a JSON object")
        records.append(EventRecord(seq, row_day, at, type_, actor, decoded))
    return records
