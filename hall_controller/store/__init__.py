"""The durable event log: generic records in SQLite, group-committed off the event loop."""

from .errors import (
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFailedError,
    StoreOpenError,
    StoreWriteError,
)
from .eventlog import (
    Commit,
    EventLog,
    EventRecord,
    LogStats,
    NewEvent,
    Snapshot,
    StoredReply,
)

__all__ = [
    "Commit",
    "EventLog",
    "EventRecord",
    "LogStats",
    "NewEvent",
    "Snapshot",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreFailedError",
    "StoreOpenError",
    "StoreWriteError",
    "StoredReply",
]
