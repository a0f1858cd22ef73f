"""The durable event log: generic records in SQLite, group-committed off the event loop."""

from .errors import (
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFailedError,
    StoreLockedError,
    StoreOpenError,
    StoreWriteError,
)
from .eventlog import (
    Commit,
    DayPurge,
    EventLog,
    EventRecord,
    LogStats,
    NewEvent,
    PurgeOutcome,
    PurgeRecord,
    Snapshot,
    StoredReply,
)
from .reader import read_days, read_events_of_types

__all__ = [
    "Commit",
    "DayPurge",
    "EventLog",
    "EventRecord",
    "LogStats",
    "NewEvent",
    "PurgeOutcome",
    "PurgeRecord",
    "Snapshot",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreFailedError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreWriteError",
    "StoredReply",
    "read_days",
    "read_events_of_types",
]
