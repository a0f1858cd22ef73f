"""Telling applicants their turn is near or has come, through an SMS or WeChat gateway.

Who to tell is an opaque contact (such as a WeChat openid) that the applicant's channel gave
when the ticket was issued. It is personal data, so it lives in this process's memory only:
never in the event log, and lost on restart by design (those applicants simply get no notice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
import structlog

from hall_controller.core.errors import NotFound
from hall_controller.services import HallService, PublishedEvent
from hall_controller.settings import NotificationSettings

log = structlog.get_logger(__name__)

# Notices waiting to be sent; beyond this the oldest goes (a stale "near" helps nobody).
NOTICE_BACKLOG = 1000
NoticeKind = Literal["near", "called", "recalled"]
# A ticket in one of these may still be called (again): its contact is kept until it leaves.
_STILL_COMING = frozenset({"waiting", "called", "held"})
_CALLS: dict[str, NoticeKind] = {"TicketCalled": "called", "TicketRecalled": "recalled"}


class NoticeFailed(Exception):
    """The gateway did not take the notice (unreachable, timed out, or refused it)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for one applicant; the JSON body the gateway receives."""

    kind: NoticeKind
    contact: str
    ticket: str
    number: str
    theme: str
    window: str | None = None
    ahead: int | None = None

    def body(self) -> dict[str, Any]:
        """The notice as JSON-ready data."""
        return asdict(self)


class RetryDelays(Protocol):
    """The waits between one notice's attempts (the composition root gives capped
    exponential backoff with jitter)."""

    def next_delay(self) -> float:
        """The wait before the next attempt."""
        ...


class Notifier(Protocol):
    """Delivers one notice to the applicant's channel."""

    async def send(self, message: Notice) -> None:
        """Deliver `message` once; NoticeFailed when it was not taken."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class WebhookNotifier:
    """POSTs each notice as JSON to a gateway URL, with an optional bearer token."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> WebhookNotifier:
        """A notifier for [notifications]; reads the token file (blocking; OSError)."""
        token = _read_token(settings.token_file) if settings.token_file else None
        return cls(settings.webhook_url, token=token, timeout_s=settings.timeout_s)

    async def send(self, message: Notice) -> None:
        """POST the notice; NoticeFailed on any failure, a timeout or a non-2xx answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        try:
            async with self._session.post(self.url, json=message.body()) as resp:
                if not 200 <= resp.status < 300:
                    raise NoticeFailed(f"gateway answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NoticeFailed(f"gateway unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _read_token(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


class NoticeDispatcher:
    """Follows the hall's events and sends each contact's notices, never holding up the hall.

    One task reads the event bus and decides; another sends, retrying each notice with
    capped backoff. The hall's commands only ever touch `register` (a dict insert).
    """

    def __init__(
        self,
        service: HallService,
        notifier: Notifier,
        *,
        near: int = 3,
        retries: int = 5,
        backlog: int = NOTICE_BACKLOG,
        backoff: Callable[[], RetryDelays],
    ) -> None:
        self.service = service
        self.notifier = notifier
        self.near = near
        self.retries = retries
        self._backoff = backoff
        self._contacts: dict[str, str] = {}  # ticket id -> contact, in memory only
        self._near_sent: set[str] = set()
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(backlog)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start following the hall and sending."""
        self.service.day_started.append(self._day_started)
        self._tasks = [
            asyncio.create_task(self._follow(), name="notices-events"),
            asyncio.create_task(self._send_all(), name="notices-send"),
        ]

    async def close(self) -> None:
        """Stop both tasks (notices not sent yet are dropped) and close the notifier."""
        with contextlib.suppress(ValueError):
            self.service.day_started.remove(self._day_started)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.notifier.close()

    def register(self, ticket_id: str, contact: str) -> None:
        """Notify `contact` about `ticket_id` from now on (checked at once for "near")."""
        self._contacts[ticket_id] = contact
        self._check_near(ticket_id)

    def _day_started(self, _day: str) -> None:
        # Every ticket followed belonged to the day that ended: its contact goes with it now,
        # not at the next event of the new day (which may come hours later).
        self._contacts.clear()
        self._near_sent.clear()

    def following(self) -> int:
        """Tickets whose applicant's contact is held (in memory only)."""
        return len(self._contacts)

    def pending(self) -> int:
        """Notices queued and not yet sent."""
        return self._queue.qsize()

    async def _follow(self) -> None:
        while True:
            async with self.service.bus.subscribe() as events:
                while (item := await events.get()) is not None:
                    batch = [item]
                    with contextlib.suppress(asyncio.QueueEmpty):
                        while (more := events.get_nowait()) is not None:
                            batch.append(more)
                    self._on_batch(batch)
            if self.service.bus.closed:
                return
            # Fell behind: calls in between are missed, "near" is caught up at the next batch.
            log.warning("notices_fell_behind")

    def _on_batch(self, batch: list[PublishedEvent]) -> None:
        for item in batch:
            kind = _CALLS.get(item.type)
            ticket_id = item.data.get("ticket_id")
            if kind is None or not isinstance(ticket_id, str) or ticket_id not in self._contacts:
                continue
            window = item.data.get("window")
            self._queue_notice(ticket_id, kind, window=window if isinstance(window, str) else None)
        # Positions move with any event (calls, cancellations, transfers): checked once a batch.
        for ticket_id in list(self._contacts):
            self._check_near(ticket_id)

    def _check_near(self, ticket_id: str) -> None:
        try:
            view = self.service.ticket_view(ticket_id)
        except NotFound:
            self._forget(ticket_id)  # another day's ticket
            return
        if view["status"] not in _STILL_COMING:
            self._forget(ticket_id)
            return
        ahead = view["ahead"]
        if ticket_id in self._near_sent or ahead is None or ahead > self.near:
            return
        self._near_sent.add(ticket_id)
        self._queue_notice(ticket_id, "near", view=view)

    def _forget(self, ticket_id: str) -> None:
        self._contacts.pop(ticket_id, None)
        self._near_sent.discard(ticket_id)

    def _queue_notice(
        self,
        ticket_id: str,
        kind: NoticeKind,
        *,
        window: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> None:
        if view is None:
            try:
                view = self.service.ticket_view(ticket_id)
            except NotFound:
                self._forget(ticket_id)
                return
        notice = Notice(
            kind=kind,
            contact=self._contacts[ticket_id],
            ticket=ticket_id,
            number=view["number"],
            theme=view["theme"],
            window=window,
            ahead=view["ahead"] if kind == "near" else None,
        )
        if self._queue.full():
            dropped = self._queue.get_nowait()
            log.warning("notice_dropped_backlog_full", ticket=dropped.ticket, kind=dropped.kind)
        self._queue.put_nowait(notice)

    async def _send_all(self) -> None:
        while True:
            notice = await self._queue.get()
            await self._deliver(notice)

    async def _deliver(self, notice: Notice) -> None:
        backoff = self._backoff()
        for attempt in range(self.retries + 1):
            try:
                await self.notifier.send(notice)
            except NoticeFailed as exc:
                if attempt == self.retries:
                    log.warning(
                        "notice_given_up", ticket=notice.ticket, kind=notice.kind, reason=str(exc)
                    )
                    return
                await asyncio.sleep(backoff.next_delay())
            else:
                log.info("notice_sent", ticket=notice.ticket, kind=notice.kind)
                return
