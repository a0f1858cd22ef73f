"""The event log's failures; sqlite3 and OS errors never cross this package's boundary raw."""

from __future__ import annotations


class StoreError(Exception):
    """Any failure of the event log; the message names the database path."""


class StoreOpenError(StoreError):
    """The database could not be opened, created, locked or migrated."""


class StoreLockedError(StoreOpenError):
    """Another process (a running controller) holds the event log."""


class StoreWriteError(StoreError):
    """A write was not committed; after a restart its events may or may not be on disk."""


class StoreFailedError(StoreError):
    """The log has failed earlier and refuses writes; the process must restart and replay."""


class StoreClosedError(StoreError):
    """The log is closed or closing and accepts no more work."""


class StoreCorruptError(StoreError):
    """A stored row or the database file itself cannot be decoded."""
