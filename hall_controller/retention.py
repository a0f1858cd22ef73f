"""Personal data retention: each ended business day's personal fields leave the event log.

What names a person (the keyed hash of an ID number, a booking code: core.events'
PERSONAL_FIELDS) is kept while its business day needs it, and for `keep_s` after the day ends
([retention] personal_data: "end_of_day" is 0, "7d" a week). Then the service's
`purge_personal_data` takes it out of the events, and the day's snapshots and stored replies
go. The keeper checks at start (for days that ended while the controller was down), at every
rollover, and every `check_every_s`; a purge that fails is logged and tried again at the next
check. It runs in the event log's writer thread: the hall never waits for it, and it never
stops the hall.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from hall_controller.core.calendar import business_day
from hall_controller.services import HallService, ServiceError

log = structlog.get_logger(__name__)

# Between two checks; a check with nothing newly due costs a comparison.
CHECK_EVERY_S = 600.0


def due_before(service: HallService, keep_s: float, now: float | None = None) -> str:
    """The first business day whose personal data is still kept: every day before it ended
    at least `keep_s` ago and is due."""
    at = service.now() if now is None else now
    return business_day(at - keep_s, service.tz, service.config.day_rollover)


class RetentionKeeper:
    """Purges personal data as it falls due, in the background of a running hall."""

    def __init__(
        self, service: HallService, *, keep_s: float = 0, check_every_s: float = CHECK_EVERY_S
    ) -> None:
        if keep_s < 0:
            raise ValueError("keep_s must not be negative")
        self.service = service
        self.keep_s = keep_s
        self.check_every_s = check_every_s
        # Every day before this one is purged (as far as this run knows); "" before the first.
        self._done_before = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def due_before(self, now: float | None = None) -> str:
        """The first business day whose personal data is still kept (see `due_before`)."""
        return due_before(self.service, self.keep_s, now)

    async def start(self) -> None:
        """Check at once, then at every rollover and every `check_every_s`."""
        self.service.day_started.append(self._day_started)
        self._task = asyncio.create_task(self._run(), name="retention")

    async def close(self) -> None:
        """Stop checking. A purge under way is committed or not at all, with its record."""
        with contextlib.suppress(ValueError):
            self.service.day_started.remove(self._day_started)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> dict[str, dict[str, int]] | None:
        """Purge what is due now: per day, what was touched; None when nothing newly fell due
        or the purge failed (logged; it is tried again at the next check)."""
        before = self.due_before()
        if before <= self._done_before:
            return None
        try:
            purged = await self.service.purge_personal_data(before)
        except ServiceError as exc:
            log.error(
                "personal_data_purge_failed",
                before=before,
                error=exc.message,
                retry_in_s=self.check_every_s,
            )
            return None
        self._done_before = before
        return purged

    def _day_started(self, _day: str) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                # A bug must not end retention for good: logged, and tried at the next check.
                log.exception("personal_data_purge_failed", retry_in_s=self.check_every_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_every_s):
                    await self._wake.wait()
