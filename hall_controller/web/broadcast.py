"""The hall's live screens: one subscription, each event encoded once, one state ticker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import structlog

from hall_controller.core.events import STAFF_ONLY_FIELDS
from hall_controller.services import HallService, PublishedEvent

log = structlog.get_logger("hall_controller.web")

# A screen this many messages behind is cut off (it reconnects and starts afresh).
SCREEN_BACKLOG = 2000
# Who signs in, from where, and why a sign-in was refused (which tells whether an account
# exists): the audit trail's, on no screen's stream.
AUDIT_ONLY_EVENTS = frozenset({"SignedIn", "SignedOut", "SignInRefused"})
# What a public screen (the hall display, anyone on the hall network) never gets: managers'
# alerts and settings, and in every other event the actor and the free text people typed
# (reasons and notes may say things about an applicant).
# Poor ratings' follow-ups, case numbers and rating overrides are the staff's business too.
STAFF_ONLY_EVENTS = frozenset(
    {
        "HelpRequested",
        "AlertAcknowledged",
        "PolicyChanged",
        "CaseNumberRecorded",
        "RatingWaived",
        "FollowUpOpened",
        "FollowUpCalledBack",
        "FollowUpRectified",
        "FollowUpRerated",
        # The retention purge's record: the audit trail's and the manager's, not a screen's.
        "PersonalDataPurged",
    }
)
PRIVATE_FIELDS = frozenset({"reason", "previous", "changes", "account", *STAFF_ONLY_FIELDS})


def dumps(value: Any) -> bytes:
    """JSON as UTF-8 bytes (orjson, which also parses the requests); named tuples as arrays."""
    return orjson.dumps(value, default=_named_tuple_as_list)


def _named_tuple_as_list(value: Any) -> Any:
    # orjson writes plain tuples but not their subclasses (the policy's Candidate rows).
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def sse_frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One server-sent event: `event:`, optional `id:`, and `data:` as one line of JSON."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    # orjson never writes a raw newline, so the data stays on one line as SSE requires.
    return head.encode() + b"data: " + dumps(data) + b"\n\n"


def event_frame(item: PublishedEvent) -> bytes:
    """A durable hall event as the staff's screens get it (whole, with its actor)."""
    payload = {"seq": item.seq, "type": item.type, "at": item.at, "actor": item.actor, **item.data}
    return sse_frame(item.type, payload, event_id=item.seq)


def public_event_frame(item: PublishedEvent) -> bytes | None:
    """A durable hall event as a public screen gets it; None for an event it never sees."""
    if item.type in STAFF_ONLY_EVENTS:
        return None
    data = {k: v for k, v in item.data.items() if k not in PRIVATE_FIELDS}
    payload = {"seq": item.seq, "type": item.type, "at": item.at, **data}
    return sse_frame(item.type, payload, event_id=item.seq)


class ScreenBroadcast:
    """Fans the hall's events out to every hall screen, already encoded.

    Each screen used to hold its own subscription, encode every event itself and wait with a
    timer of its own: with hundreds of displays the timers alone cost more than the writes.
    Here one task reads the hall's event bus and encodes each event once, one ticker sends the
    state (computed once) to every screen, and each screen's stream only waits for bytes.
    """

    def __init__(self, service: HallService, state_every_s: Callable[[], float]) -> None:
        self.service = service
        self._state_every_s = state_every_s
        # Each screen's queue, and whether it is a staff screen (True) or a public one.
        self._screens: dict[asyncio.Queue[bytes | None], bool] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._screens)

    async def start(self) -> None:
        """Start reading the hall's events and the state ticker."""
        self._tasks = [
            asyncio.create_task(self._relay(), name="screens-events"),
            asyncio.create_task(self._tick(), name="screens-state"),
        ]

    async def stop(self) -> None:
        """Stop both tasks and end every screen's stream."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._end_all()

    @contextlib.asynccontextmanager
    async def screen(self, *, staff: bool = False) -> AsyncIterator[asyncio.Queue[bytes | None]]:
        """A queue of encoded messages for one screen (a staff screen gets events whole);
        None: the stream has ended."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(SCREEN_BACKLOG)
        self._screens[queue] = staff
        try:
            yield queue
        finally:
            self._screens.pop(queue, None)

    def send(self, frame: bytes, public_frame: bytes | None = None, *, same: bool = True) -> None:
        """Hand one encoded message to every screen without ever waiting for one.

        With `same`, every screen gets `frame`; otherwise staff screens get `frame` and
        public ones `public_frame` (nothing when it is None).
        """
        for queue, staff in list(self._screens.items()):
            message = frame if same or staff else public_frame
            if message is None:
                continue
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # A stalled screen must not hold up the hall: cut it off; it reconnects.
                self._screens.pop(queue, None)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def _relay(self) -> None:
        while True:
            async with self.service.bus.subscribe() as events:
                while (item := await events.get()) is not None:
                    if self._screens and item.type not in AUDIT_ONLY_EVENTS:
                        # Each encoded once, and only if some screen will get it.
                        audiences = set(self._screens.values())
                        whole = event_frame(item) if True in audiences else b""
                        public = public_event_frame(item) if False in audiences else None
                        self.send(whole, public, same=False)
            # The bus ended (the controller is stopping) or this relay fell behind: either
            # way the screens missed events, so they reconnect and read the state afresh.
            self._end_all()
            if self.service.bus.closed:
                return

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        while True:
            # Short naps: a changed interval (a setting, a test) takes effect within a second.
            every = self._state_every_s()
            await asyncio.sleep(max(0.0, min(1.0, sent_at + every - loop.time())))
            if loop.time() - sent_at < every:
                continue
            sent_at = loop.time()
            if self._screens:
                self.send(sse_frame("state", self.service.state_view()))

    def _end_all(self) -> None:
        screens, self._screens = self._screens, {}
        for queue in screens:
            with contextlib.suppress(asyncio.QueueEmpty):
                while queue.full():
                    queue.get_nowait()
            queue.put_nowait(None)
