"""Kiosks: tickets printed only when the print is confirmed, cards and codes sent to the screen."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from .core.capacity import ThemeFull
from .core.errors import Conflict, DomainError, InvalidCommand, NotFound
from .core.hall import Ticket
from .core.identity import mask_id_number, mask_name
from .core.model import Kiosk, TicketPrint, TicketStatus
from .services import Applicant, HallService, ServiceError, ServiceUnavailable

log = structlog.get_logger("hall_controller.kiosks")

CARD_TTL_S = 120.0  # a card's details stay usable this long after it was read
SUBSCRIBER_BACKLOG = 100  # kiosk events a slow screen may fall behind before it is cut off
# The whole print, from the first status query to the confirmation; printers time out sooner.
PRINT_DEADLINE_S = 30.0


class PrintRefused(Exception):
    """The printer did not confirm the ticket; the message says why, in words staff act on."""


@dataclass(frozen=True, slots=True)
class PrinterView:
    """A kiosk printer as the kiosks see it."""

    device_id: str
    kiosk: str
    can_print: bool
    paper: str  # ok / low / out / unknown
    state: str  # the device's health state


class KioskDevices(Protocol):
    """The kiosks' printers (implemented over the device hub)."""

    def printers(self) -> list[PrinterView]:
        """Every kiosk printer and whether it can print now."""
        ...

    async def print_ticket(self, printer: str, ticket: TicketPrint) -> None:
        """Print and confirm one ticket; PrintRefused when the printer does not confirm it."""
        ...


@dataclass(frozen=True, slots=True)
class _CardSession:
    kiosk: str
    applicant: Applicant
    expires_at: float


class KioskService:
    """The kiosks' use cases over the hall service and the kiosk printers."""

    def __init__(
        self,
        service: HallService,
        devices: KioskDevices | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.devices = devices
        self._clock = clock
        self.kiosks: dict[str, Kiosk] = {k.id: k for k in service.config.kiosks}
        self._cards: dict[str, _CardSession] = {}
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        # Retries of one kiosk issue (a double tap, a browser retry) get the first one's answer.
        self._issues: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._jobs: set[asyncio.Task[dict[str, Any]]] = set()
        self._closing = False

    # ----------------------------------------------------------------- reads

    def kiosk(self, kiosk_id: str) -> Kiosk:
        """The kiosk with this id; NotFound otherwise."""
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            raise NotFound(f'no kiosk "{kiosk_id}"', kiosk=kiosk_id)
        return kiosk

    def view(self, kiosk_id: str) -> dict[str, Any]:
        """The kiosk, its printer, and the kiosks to send applicants to when it cannot print."""
        kiosk = self.kiosk(kiosk_id)
        printers = self.devices.printers() if self.devices is not None else []
        own = next((p for p in printers if p.kiosk == kiosk.id), None)
        return {
            "id": kiosk.id,
            "name_zh": kiosk.name_zh,
            "name_en": kiosk.name_en,
            "printer": (
                {
                    "device": own.device_id,
                    "can_print": own.can_print,
                    "paper": own.paper,
                    "state": own.state,
                }
                if own is not None
                else None
            ),
            "other_printers": [
                {"kiosk": p.kiosk, "name_zh": self.kiosks[p.kiosk].name_zh, "device": p.device_id}
                for p in printers
                if p.kiosk != kiosk.id and p.can_print and p.kiosk in self.kiosks
            ],
        }

    def views(self) -> list[dict[str, Any]]:
        """Every kiosk's view."""
        return [self.view(kiosk_id) for kiosk_id in self.kiosks]

    # ----------------------------------------------------------------- tickets

    async def issue(
        self,
        kiosk_id: str,
        *,
        theme: str,
        priority: str | None,
        card: str | None,
        printed: bool = True,
        actor: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Issue a ticket at a kiosk: printed and confirmed, or else shown on the screen.

        The work runs in a task of its own: a kiosk that hangs up mid-print (its browser
        reloads) does not cut the print short, and a retry with the same key gets its outcome.
        """
        kiosk = self.kiosk(kiosk_id)
        return await self._run_job(
            kiosk, key, lambda: self._issue_or_full(kiosk, theme, priority, card, printed, actor)
        )

    async def _issue_or_full(
        self,
        kiosk: Kiosk,
        theme: str,
        priority: str | None,
        card: str | None,
        printed: bool,
        actor: str,
    ) -> dict[str, Any]:
        """_issue; when the theme is full, the ID card read stays usable for booking the slot
        it offers instead."""
        session = self._cards.get(card) if card else None
        try:
            return await self._issue(kiosk, theme, priority, card, printed, actor)
        except ThemeFull:
            if card and session is not None:
                self._cards.setdefault(card, session)
            raise

    async def _run_job(
        self,
        kiosk: Kiosk,
        key: str | None,
        work: Callable[[], Awaitable[dict[str, Any]]],
        *,
        gives_number: bool = True,
    ) -> dict[str, Any]:
        """Run one kiosk request in a task of its own, shared by retries with its key; one that
        `gives_number` is refused during an emergency."""
        if key is not None:
            earlier = self._issues.get(key)
            if earlier is not None:
                return await asyncio.shield(earlier)
        if self._closing:
            raise ServiceUnavailable("the controller is stopping: take the ticket in a moment")
        if gives_number:
            # Refused before a card token is spent or a printer asked (the hall refuses it
            # anyway); a booking for later gives no number now and goes on.
            self.service.current().check_issuing()

        async def run() -> dict[str, Any]:
            return await work()

        job = asyncio.create_task(run(), name=f"kiosk-issue:{kiosk.id}")
        self._jobs.add(job)
        job.add_done_callback(self._job_done)
        if key is not None:
            self._issues[key] = job
            job.add_done_callback(lambda done: self._forget_failed(key, done))
            if len(self._issues) > 4096:  # keep the newest; a retry comes within seconds
                for old in list(self._issues)[:1024]:
                    if self._issues[old].done():
                        del self._issues[old]
        return await asyncio.shield(job)

    def _job_done(self, job: asyncio.Task[dict[str, Any]]) -> None:
        """Forget a finished kiosk request; a failure nobody waited for is logged, not lost."""
        self._jobs.discard(job)
        if job.cancelled():
            return
        error = job.exception()  # retrieved, so asyncio does not warn about it at exit
        if error is not None and not isinstance(error, DomainError | ServiceError):
            log.error("kiosk_request_failed", task=job.get_name(), error=repr(error))

    def _forget_failed(self, key: str, job: asyncio.Task[dict[str, Any]]) -> None:
        """A refused or failed request is not remembered: its retry is tried afresh."""
        failed = job.cancelled() or job.exception() is not None
        if failed and self._issues.get(key) is job:
            del self._issues[key]

    async def _issue(
        self,
        kiosk: Kiosk,
        theme: str,
        priority: str | None,
        card: str | None,
        printed: bool,
        actor: str,
    ) -> dict[str, Any]:
        applicant = self._take_card(card, kiosk.id) if card else None
        printer = self._printer(kiosk.id) if printed else None
        if printer is None or not printer.can_print:
            reason = _unavailable(printer) if printed else "a screen ticket was asked for"
            return await self._screen_ticket(kiosk, theme, priority, applicant, actor, reason)
        ticket = await self.service.reserve_ticket(
            theme=theme,
            priority=priority,
            applicant=applicant,
            channel="kiosk",
            printer=printer.device_id,
            actor=actor,
        )
        return await self._print(
            kiosk,
            printer,
            ticket,
            actor,
            lambda reason: self._screen_ticket(kiosk, theme, priority, applicant, actor, reason),
        )

    async def _print(
        self,
        kiosk: Kiosk,
        printer: PrinterView,
        ticket: Ticket,
        actor: str,
        on_screen: Callable[[str], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Print a reserved ticket and issue it once confirmed; when the print fails, void it
        and give the applicant `on_screen(reason)` instead."""
        paper = self.service.ticket_print(ticket.id)
        assert self.devices is not None
        try:
            async with asyncio.timeout(PRINT_DEADLINE_S):
                await self.devices.print_ticket(printer.device_id, paper)
        except (PrintRefused, TimeoutError) as exc:
            reason = str(exc) or "the printer did not confirm the ticket in time"
            await self.service.void_ticket(ticket.id, f"{printer.device_id}: {reason}", actor=actor)
            self._publish(kiosk.id, "print_failed", {"number": ticket.number, "reason": reason})
            result = await on_screen(reason)
            result["voided"] = ticket.number
            return result
        except BaseException:
            # Cancelled or a bug mid-print: the paper may be out, the ticket is not issued.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.service.void_ticket(
                        ticket.id, f"{printer.device_id}: print interrupted", actor=actor
                    )
                )
            raise
        reply = await self.service.confirm_printed(ticket.id, actor=actor)
        log.info("ticket_printed", ticket=ticket.number, kiosk=kiosk.id, printer=printer.device_id)
        return {"ticket": reply.body, "printed": True, "printer": printer.device_id}

    async def _screen_ticket(
        self,
        kiosk: Kiosk,
        theme: str,
        priority: str | None,
        applicant: Applicant | None,
        actor: str,
        reason: str,
    ) -> dict[str, Any]:
        """A ticket shown on the kiosk's screen with its QR code, for when paper is not possible."""
        reply = await self.service.issue_applicant(
            theme=theme, priority=priority, applicant=applicant, channel="kiosk-screen", actor=actor
        )
        return self._screen_result(kiosk, reply.body, reason)

    def _screen_result(self, kiosk: Kiosk, ticket: dict[str, Any], reason: str) -> dict[str, Any]:
        view = self.view(kiosk.id)
        return {
            "ticket": ticket,
            "printed": False,
            "reason": reason,
            "qr_url": self.service.status_url(ticket["id"]),
            "other_printers": view["other_printers"],
        }

    # ----------------------------------------------------------------- appointments

    async def check_in(
        self,
        kiosk_id: str,
        *,
        code: str | None,
        card: str | None,
        actor: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Check an appointment of today in at a kiosk, by its booking code or by the ID card
        read there: its ticket printed like any kiosk ticket (or shown on the screen)."""
        kiosk = self.kiosk(kiosk_id)
        if (code is None) == (card is None):
            raise InvalidCommand("a check-in names either a booking code or an ID card read")
        return await self._run_job(kiosk, key, lambda: self._check_in(kiosk, code, card, actor))

    async def _check_in(
        self, kiosk: Kiosk, code: str | None, card: str | None, actor: str
    ) -> dict[str, Any]:
        applicant = None
        if code is not None:
            booking = self.service.booking_for_code(code)
            if booking is None:
                raise NotFound("no booking with this code today")
        else:
            applicant = self._take_card(card or "", kiosk.id)
            booking = self.service.booking_for_person(applicant.person_hash)
            if booking is None:
                raise NotFound("no booking to check in today for this ID card")

        async def on_screen(reason: str) -> dict[str, Any]:
            ticket = await self.service.check_in(
                booking, applicant=applicant, channel="kiosk-screen", printer=None, actor=actor
            )
            result = self._screen_result(kiosk, self.service.ticket_view(ticket.id), reason)
            result["appointment"] = self.service.check_in_view(booking)
            return result

        printer = self._printer(kiosk.id)
        if printer is None or not printer.can_print:
            return await on_screen(_unavailable(printer))
        ticket = await self.service.check_in(
            booking, applicant=applicant, channel="kiosk", printer=printer.device_id, actor=actor
        )
        result = await self._print(kiosk, printer, ticket, actor, on_screen)
        result.setdefault("appointment", self.service.check_in_view(booking))
        log.info("appointment_checked_in", booking=booking, kiosk=kiosk.id)
        return result

    async def book_slot(
        self,
        kiosk_id: str,
        *,
        theme: str,
        slot_at: float,
        card: str | None,
        actor: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Book the appointment slot a full theme offered (预约), at a kiosk: by the ID card read
        there (its keyed hash) or else by a booking code made for it; the appointment slip is
        printed, or the code shown on the screen when it cannot be (the booking stands)."""
        kiosk = self.kiosk(kiosk_id)
        return await self._run_job(
            kiosk,
            key,
            lambda: self._book_slot(kiosk, theme, slot_at, card, actor),
            gives_number=False,
        )

    async def _book_slot(
        self, kiosk: Kiosk, theme: str, slot_at: float, card: str | None, actor: str
    ) -> dict[str, Any]:
        session = self._cards.get(card) if card else None
        applicant = self._take_card(card, kiosk.id) if card else None
        try:
            reply = await self.service.book_slot(
                theme,
                slot_at,
                person_hash=applicant.person_hash if applicant is not None else None,
                channel="kiosk",
                actor=actor,
            )
        except DomainError:
            if card and session is not None:
                self._cards.setdefault(card, session)  # refused: the card reading stays usable
            raise
        booking: dict[str, Any] = reply.body
        result: dict[str, Any] = {
            "appointment": booking,
            "check_in_from": self.service.check_in_from(booking["day"], booking["id"]),
            "printed": False,
            "printer": None,
            "reason": None,
        }
        printer = self._printer(kiosk.id)
        if printer is None or not printer.can_print:
            result["reason"] = _unavailable(printer)
            return result
        paper = self.service.appointment_slip(booking["day"], booking["id"])
        assert self.devices is not None
        try:
            async with asyncio.timeout(PRINT_DEADLINE_S):
                await self.devices.print_ticket(printer.device_id, paper)
        except (PrintRefused, TimeoutError) as exc:
            result["reason"] = str(exc) or "the printer did not confirm the slip in time"
            log.warning("appointment_slip_not_printed", booking=booking["id"], kiosk=kiosk.id)
            return result
        result.update(printed=True, printer=printer.device_id)
        log.info("appointment_slip_printed", booking=booking["id"], kiosk=kiosk.id)
        return result

    async def reprint(
        self, ticket_id: str, *, kiosk_id: str, reason: str, actor: str
    ) -> dict[str, Any]:
        """Print a waiting ticket again (补打) at a kiosk; recorded once the print is confirmed."""
        kiosk = self.kiosk(kiosk_id)
        ticket = self.service.current().ticket(ticket_id)
        if ticket.status is not TicketStatus.WAITING:
            raise Conflict(
                f"only a waiting ticket is reprinted; {ticket.number} is {ticket.status.value}",
                ticket=ticket.id,
            )
        printer = self._printer(kiosk.id)
        if printer is None or not printer.can_print:
            raise Conflict(f"{kiosk.name_en} cannot print: {_unavailable(printer)}", kiosk=kiosk.id)
        paper = self.service.ticket_print(ticket.id, reprint=True)
        assert self.devices is not None
        try:
            async with asyncio.timeout(PRINT_DEADLINE_S):
                await self.devices.print_ticket(printer.device_id, paper)
        except (PrintRefused, TimeoutError) as exc:
            raise ServiceUnavailable(
                f"the reprint of {ticket.number} was not confirmed: {exc or 'timed out'}"
            ) from exc
        reply = await self.service.record_reprint(ticket.id, printer.device_id, reason, actor=actor)
        return {"ticket": reply.body, "printed": True, "printer": printer.device_id}

    def _printer(self, kiosk_id: str) -> PrinterView | None:
        if self.devices is None:
            return None
        return next((p for p in self.devices.printers() if p.kiosk == kiosk_id), None)

    # ----------------------------------------------------------------- need help

    async def ask_for_help(
        self, kiosk_id: str, *, actor: str, key: str | None = None
    ) -> dict[str, Any]:
        """Page the floor staff from a kiosk (需要帮助): durable, audited, on every manager tablet.

        A second press while the kiosk's page is unanswered gets the same page back.
        """
        kiosk = self.kiosk(kiosk_id)
        reply = await self.service.request_help(kiosk.id, actor=actor, key=key)
        log.info("help_requested", kiosk=kiosk.id, alert=reply.body["alert"])
        body: dict[str, Any] = reply.body
        return body

    # ----------------------------------------------------------------- cards and codes

    def resident_card(self, kiosk_id: str, *, id_number: str, name: str, valid_to: str) -> None:
        """An ID card read at a kiosk: its screen learns the age band, never the number."""
        if kiosk_id not in self.kiosks:
            log.warning("card_at_unknown_kiosk", kiosk=kiosk_id)
            return
        try:
            applicant = self.service.applicant(id_number)
        except DomainError as exc:
            self._publish(kiosk_id, "card", {"kind": "resident", "ok": False, "error": str(exc)})
            return
        now = self._clock()
        self._expire(now)
        token = secrets.token_urlsafe(16)
        self._cards[token] = _CardSession(kiosk_id, applicant, now + CARD_TTL_S)
        group, band = self.service.applicant_group(applicant)
        today = self.service.current().day.replace("-", "")
        booking = self.service.booking_for_person(applicant.person_hash)
        self._publish(
            kiosk_id,
            "card",
            {
                "kind": "resident",
                "ok": True,
                "card": token,
                "name": mask_name(name),
                "id_number": mask_id_number(id_number),
                "age_band": band,
                "priority": group,
                "expired": valid_to != "长期" and valid_to < today,
                "usable_for_s": CARD_TTL_S,
                # The person's booking of today, offered for check-in with this card.
                "appointment": self.service.check_in_view(booking) if booking else None,
            },
        )

    def contact_card(self, kiosk_id: str, *, atr: str, card_number: str | None) -> None:
        """A contact card (social security card) read at a kiosk: shown masked."""
        if kiosk_id not in self.kiosks:
            log.warning("card_at_unknown_kiosk", kiosk=kiosk_id)
            return
        self._publish(
            kiosk_id,
            "card",
            {
                "kind": "contact",
                "ok": True,
                "card_number": mask_id_number(card_number) if card_number else None,
                "atr": atr,
            },
        )

    def code_scanned(self, kiosk_id: str, code: str) -> None:
        """A scanned code: a ticket of today shows its status; anything else is reported."""
        if kiosk_id not in self.kiosks:
            log.warning("code_at_unknown_kiosk", kiosk=kiosk_id)
            return
        booking = self.service.booking_for_code(code)
        if booking is not None:
            # The code goes back to this kiosk's own screen only: it was scanned right there.
            appointment = self.service.check_in_view(booking)
            self._publish(
                kiosk_id,
                "scan",
                {"kind": "appointment", "code": code.strip().upper(), "appointment": appointment},
            )
            return
        ticket_id = self._ticket_in(code)
        if ticket_id is None:
            # Not echoed: a code may carry personal data (a health code, an ID number).
            self._publish(kiosk_id, "scan", {"kind": "unknown", "length": len(code)})
            return
        # The ticket's own view, as its status page has it (never the call's candidates: the
        # kiosk's stream is a public screen's), with its priority group for the badge.
        view = self.service.status_view(self.service.ticket_link(ticket_id))
        ticket = self.service.current().ticket(ticket_id)
        view.update(id=ticket_id, priority=ticket.priority)
        self._publish(kiosk_id, "scan", {"kind": "ticket", "ticket": view})

    def _ticket_in(self, code: str) -> str | None:
        """The id of today's ticket a scanned code names (its QR URL, id or number), if any."""
        text = code.strip()
        template = self.service.config.ticket.status_url
        prefix, _, suffix = template.partition("{link}")
        if prefix and text.startswith(prefix) and text.endswith(suffix):
            text = text[len(prefix) : len(text) - len(suffix)]
        try:
            if "." in text:  # a signed status link
                return self.service.ticket_for_link(text)
            return self.service.current().ticket(text).id
        except NotFound:
            return None

    def _take_card(self, token: str, kiosk_id: str) -> Applicant:
        self._expire(self._clock())
        session = self._cards.pop(token, None)
        if session is None or session.kiosk != kiosk_id:
            raise InvalidCommand("the ID card read has expired or is unknown: read it again")
        return session.applicant

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._cards.items() if s.expires_at <= now]:
            del self._cards[token]

    # ----------------------------------------------------------------- the kiosk's stream

    def _publish(self, kiosk_id: str, kind: str, data: dict[str, Any]) -> None:
        message = {"event": kind, **data}
        for queue in list(self._subscribers.get(kiosk_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # A screen this far behind reconnects and starts afresh.
                self._subscribers[kiosk_id].discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self, kiosk_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of this kiosk's events (None: fell behind, reconnect)."""
        self.kiosk(kiosk_id)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.setdefault(kiosk_id, set()).add(queue)
        try:
            yield queue
        finally:
            # close() may have let go of every stream already.
            self._subscribers.get(kiosk_id, set()).discard(queue)

    async def close(self) -> None:
        """Let tickets being printed finish (up to their deadline), then end every kiosk stream."""
        self._closing = True
        jobs = list(self._jobs)
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=PRINT_DEADLINE_S + 5.0)
            for job in late:
                job.cancel()  # its number is voided on the way out
            if late:
                await asyncio.wait(late)
        for queues in self._subscribers.values():
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
        self._subscribers.clear()


def _unavailable(printer: PrinterView | None) -> str:
    if printer is None:
        return "this kiosk has no printer"
    if printer.paper == "out":
        return "the printer is out of paper"
    if printer.state == "lost":
        return "the printer does not answer"
    return f"the printer cannot print ({printer.state}, paper {printer.paper})"
